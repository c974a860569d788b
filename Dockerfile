# coopmarket API image. Build: docker build -t coopmarket .
# Run: docker run -p 8000:8000 -e COOPMARKET_DATABASE_URL=postgresql+asyncpg://… -e COOPMARKET_JWT_SECRET=<32+ random bytes> coopmarket
# The image runs in production mode: it refuses to start without a real JWT secret.
# Apply migrations once per release: docker run --rm -e … coopmarket coopmarket migrate
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COOPMARKET_ENVIRONMENT=production \
    COOPMARKET_DATABASE_URL=sqlite+aiosqlite:////app/var/coopmarket.sqlite3 \
    COOPMARKET_STORAGE_LOCAL_DIR=/app/var/uploads

RUN groupadd --system --gid 10001 coopmarket \
    && useradd --system --uid 10001 --gid coopmarket --home-dir /app --shell /usr/sbin/nologin coopmarket

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN pip install -c constraints.txt . \
    && mkdir -p /app/var \
    && chown -R coopmarket:coopmarket /app/var

USER coopmarket
EXPOSE 8000
VOLUME ["/app/var"]

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

CMD ["coopmarket", "serve", "--host", "0.0.0.0", "--port", "8000"]
