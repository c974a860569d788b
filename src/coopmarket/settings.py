"""Settings read once from ``COOPMARKET_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"  # noqa: S105 - refused outside development


class Settings(BaseSettings):
    """Everything configurable. Defaults give the embedded install (SQLite, local disk, offline)."""

    model_config = SettingsConfigDict(env_prefix="COOPMARKET_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./var/coopmarket.sqlite3"
    # Connections each worker keeps open, plus (PostgreSQL) overflow ones for bursts, which are
    # closed again on return: steady load should fit in pool_size, or every request reconnects.
    database_pool_size: int = Field(default=20, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_recycle_seconds: int = Field(default=3600, ge=60)
    # PostgreSQL: pooled connections the single-statement driver path (db.py ``KeptConnections``)
    # may keep checked out between statements, for the public reads and the idempotency claim.
    # None: half the pool size (the most allowed); 0: none (every statement checks out and back in).
    database_kept_connections: int | None = Field(default=None, ge=0)
    # PostgreSQL: how long opening a connection may take, and the longest a statement may run
    # (server-side statement_timeout), so that no request hangs on a database that is restarting
    # or stuck. Migrations run without the statement limit.
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    database_statement_timeout_ms: int = Field(default=30_000, ge=0)
    database_echo: bool = False
    sqlite_busy_timeout_ms: int = 10_000
    # SQLite: how long a write transaction may wait for its turn behind this process's other
    # writers (they queue; see db.py) before the request answers 503 database_busy.
    sqlite_write_queue_timeout_seconds: float = Field(default=30.0, gt=0)

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_ttl_seconds: int = 7 * 24 * 3600
    jwt_issuer: str = "coopmarket"
    # Argon2id cost (RFC 9106's second recommended option by default: t=3, 64 MiB).
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65_536, ge=8)

    brand_name: str = "Yanfeng Shangpin"
    # Brand licence numbers are "{prefix}-{year}-{sequence:04d}", e.g. YFSP-2026-0001.
    brand_licence_prefix: str = Field(default="YFSP", pattern=r"^[A-Z][A-Z0-9]{1,11}$")
    # Certificate kinds every product of a licence must hold, valid for the licence's term, to be granted.
    brand_licence_required_certifications: list[
        Literal["green_food", "organic", "geographical_indication", "compliance_certificate"]
    ] = ["compliance_certificate"]
    # Base of the public web pages (trace pages behind the QR codes on labels), without a trailing slash.
    public_base_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    platform_fee_bps: int = Field(default=300, ge=0, le=10_000)
    order_payment_timeout_seconds: int = Field(default=30 * 60, ge=60)
    expiry_sweep_interval_seconds: float = Field(default=30.0, gt=0)
    # A shipped part the buyer never confirms is received automatically after this hold period.
    auto_receive_after_days: int = Field(default=10, ge=1)
    idempotency_ttl_hours: int = Field(default=48, ge=24)
    # How long an Idempotency-Key claim is its request's alone: far longer than any request runs.
    # A claim still in progress after it belongs to a process that died, and a retry takes it over.
    idempotency_lease_seconds: int = Field(default=300, ge=1)
    report_timezone: str = "Asia/Shanghai"
    # The language of problem texts and export headers when Accept-Language names neither en nor zh.
    default_language: Literal["en", "zh"] = "en"
    # Collective-income bands in fen: below the first is "shell" (空壳村), then each next band.
    income_band_limits_fen: list[int] = [5_000_000, 10_000_000, 50_000_000]
    request_max_body_bytes: int = 1_048_576
    # Bulk product import (CSV or XLSX): the largest file, and the most data rows in it.
    import_max_bytes: int = Field(default=5 * 1_048_576, ge=1024)
    import_max_rows: int = Field(default=5000, ge=1)
    # Village contracts (issue 9): a contract is flagged irregular when its term is longer than
    # this many years (Civil Code Art. 705 caps a lease at 20), or when its rent per unit of size
    # is below this share (basis points) of the median of at least ``contract_rent_min_peers`` other
    # contracts of the village for the same kind of asset.
    contract_max_term_years: int = Field(default=20, ge=1, le=70)
    contract_rent_floor_bps: int = Field(default=5000, ge=0, le=10_000)
    contract_rent_min_peers: int = Field(default=3, ge=1)

    payment_providers: list[Literal["offline", "stripe", "wechat_pay"]] = ["offline"]
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None  # only for tests against a local stand-in
    # Each call to Stripe gives up after this long and is retried (with the same idempotency key)
    # this many times before the request answers 503.
    stripe_timeout_seconds: float = Field(default=20.0, gt=0)
    stripe_max_network_retries: int = Field(default=2, ge=0, le=5)
    # Reconciliation with each provider that keeps records (flows/reconciliation.py): how often the
    # background run comes (0: never; `coopmarket reconcile` still works) and how far back it looks.
    reconciliation_interval_seconds: float = Field(default=3600.0, ge=0)
    reconciliation_lookback_hours: int = Field(default=48, ge=1, le=24 * 90)

    wechat_appid: str | None = None
    wechat_secret: SecretStr | None = None
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_timeout_seconds: float = 5.0

    # WeChat Pay API v3 (payments/wechat_provider.py), enabled by "wechat_pay" in payment_providers.
    # Merchant number, and the mini-program's appid bound to it (unset: wechat_appid).
    wechat_pay_mchid: str | None = None
    wechat_pay_appid: str | None = None
    wechat_pay_api_v3_key: SecretStr | None = None  # the 32-byte APIv3 key (notification decryption)
    # The merchant API private key (apiclient_key.pem): inline PEM, or a file path.
    wechat_pay_private_key: SecretStr | None = None
    wechat_pay_private_key_path: str | None = None
    wechat_pay_merchant_serial: str | None = None  # serial number of the merchant API certificate
    # The WeChat Pay public key (pub_key.pem; inline PEM or a path) and its id (PUB_KEY_ID_…).
    wechat_pay_public_key: str | None = None
    wechat_pay_public_key_path: str | None = None
    wechat_pay_public_key_id: str | None = None
    wechat_pay_api_base: str = "https://api.mch.weixin.qq.com"  # another base only for tests
    wechat_pay_timeout_seconds: float = Field(default=10.0, gt=0)
    # HTTPS, no query string: where WeChat Pay posts notifications (…/api/v1/payments/wechat/notify).
    wechat_pay_notify_url: str | None = None
    # Partner (服务商) mode: wechat_pay_mchid/appid are the partner's (sp_), each payment goes to a
    # sub-merchant (wechat_pay_sub_mchid, and its own mini-program wechat_pay_sub_appid if any).
    wechat_pay_partner_mode: bool = False
    wechat_pay_sub_mchid: str | None = None
    wechat_pay_sub_appid: str | None = None
    # A WeChat payment still pending this long without a notification is queried at WeChat Pay.
    wechat_pay_query_after_minutes: int = Field(default=5, ge=1)

    # Product photos (products/images.py) through object storage (storage/): local disk or S3.
    storage: Literal["local", "s3"] = "local"
    storage_local_dir: str = "./var/uploads"
    # Local storage only: the app's external base URL (e.g. https://shop.example.cn) that upload and
    # photo URLs start with; unset, they are root-relative (/api/v1/...).
    storage_local_base_url: str | None = None
    # S3 or an S3-compatible store (MinIO, Ceph, OSS or COS in S3 mode). The bucket is the operator's.
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None  # unset: AWS S3 itself
    s3_region: str | None = None
    s3_access_key_id: str | None = None  # unset (with the secret): boto3's own credential chain
    s3_secret_access_key: SecretStr | None = None
    # Where the bucket is readable without signatures (a public bucket or a CDN); unset: presigned GETs.
    s3_public_base_url: str | None = None
    # "path" (MinIO, Ceph) or "virtual" (bucket in the host name: Alibaba OSS, Tencent COS).
    s3_addressing_style: Literal["path", "virtual"] = "path"
    image_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    # Decoded size limit (width × height): larger images (and decompression bombs) are refused.
    # (At most 100 million: above about 179 million Pillow refuses to open an image at all.)
    image_max_pixels: int = Field(default=40_000_000, ge=10_000, le=100_000_000)
    image_thumb_width: int = Field(default=400, ge=64, le=2000)
    image_thumb_format: Literal["webp", "jpeg"] = "webp"
    image_upload_expiry_seconds: int = Field(default=600, ge=60, le=24 * 3600)
    # Lifetime of signed photo URLs (presigned GET, or the local file route's signature). At most
    # six days: a SigV4 presigned URL lives at most seven, and a cached one is served for up to an hour.
    image_url_expiry_seconds: int = Field(default=24 * 3600, ge=300, le=6 * 24 * 3600)

    redis_url: str | None = None
    # The shared response cache of the public catalogue (list, detail, trace) in Redis, used only
    # when redis_url is set. Keys hold the catalogue version (bumped by the database in the writing
    # transaction) and today's date, so a committed change is never answered stale; the TTL only
    # bounds memory (and must stay well below image_url_expiry_seconds, the signed photo URLs).
    catalogue_cache: bool = True
    catalogue_cache_ttl_seconds: int = Field(default=60, ge=1, le=3600)
    catalogue_cache_namespace: str = "coopmarket_catalogue"
    # Requests per minute per client on /api/v1/auth/*; 0 turns the limit off.
    rate_limit_auth_per_minute: int = Field(default=20, ge=0)
    # Sign-in and registration attempts per phone number (from any address) per window; 0: no limit.
    rate_limit_per_phone: int = Field(default=10, ge=0)
    rate_limit_phone_window_seconds: int = Field(default=900, ge=1, le=86_400)
    # Key prefix in Redis, so several deployments (or tests) can share one server.
    rate_limit_namespace: str = "coopmarket_rate_limit"
    # Messages left on a public disclosure: at most this many per client address, and per
    # disclosure, in each window (memory, or Redis when redis_url is set); 0 turns a limit off.
    rate_limit_disclosure_messages_per_client: int = Field(default=5, ge=0)
    rate_limit_disclosure_messages_per_disclosure: int = Field(default=100, ge=0)
    rate_limit_disclosure_message_window_seconds: int = Field(default=3600, ge=1, le=86_400)
    # Reverse proxies (IPs or CIDR networks) whose X-Forwarded-For is believed; empty: none.
    # From the environment as JSON, e.g. COOPMARKET_TRUSTED_PROXIES='["10.0.0.2"]'.
    trusted_proxies: list[str] = []
    run_background_jobs: bool = True
    # Where periodic and background work runs: "inprocess" (each API worker runs it on timers; the
    # embedded default) or "procrastinate" (a PostgreSQL job queue: `coopmarket worker` processes run
    # it, each periodic job once per period across every worker and machine).
    job_queue: Literal["inprocess", "procrastinate"] = "inprocess"

    # Outgoing webhooks (events/): signing secrets are sealed (AES-256-GCM) in the database under a
    # key derived from this (unset: from COOPMARKET_JWT_SECRET, so rotating that one means re-creating
    # the subscriptions). A delivery is retried with exponential backoff and jitter from the base
    # delay up to the longest one, and is a dead letter after the last attempt.
    webhook_secret_key: SecretStr | None = None
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=10, ge=1, le=50)
    webhook_backoff_base_seconds: float = Field(default=30.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    webhook_delivery_interval_seconds: float = Field(default=5.0, gt=0)
    # A worker's claim on a batch of deliveries; another worker takes them over after it runs out.
    webhook_lease_seconds: int = Field(default=120, ge=5)
    # What the sign-in limiter does when Redis cannot be reached: "open" lets requests through
    # uncounted (sign-in keeps working), "closed" refuses them with 503 (no unlimited guessing).
    rate_limit_on_redis_error: Literal["open", "closed"] = "open"

    # Operations. Logs: "json" (one object per line, for a log collector) or "text"; "auto" is text
    # in development and JSON otherwise. Both are scrubbed of tokens, passwords and phone numbers.
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True
    # GET /metrics (Prometheus) answers only with this bearer token; unset: /metrics is off (404).
    metrics_token: SecretStr | None = None
    # Origins of the web shop allowed to call the API from a browser (CORS), e.g. '["https://shop.example.cn"]'.
    cors_allow_origins: list[str] = []
    # Strict-Transport-Security max-age in seconds; set it (e.g. 31536000) once the API is served
    # over HTTPS only. 0 sends no HSTS header.
    hsts_max_age_seconds: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _refuse_dev_secret_outside_development(self) -> Settings:
        if self.environment == "production":
            secret = self.jwt_secret.get_secret_value()
            if secret == DEV_JWT_SECRET:
                raise ValueError("COOPMARKET_JWT_SECRET must be set outside development")
            if len(secret.encode()) < 32:
                raise ValueError("COOPMARKET_JWT_SECRET must be at least 32 bytes in production")
        if "stripe" in self.payment_providers and (
            self.stripe_secret_key is None or self.stripe_webhook_secret is None
        ):
            raise ValueError("stripe needs COOPMARKET_STRIPE_SECRET_KEY and COOPMARKET_STRIPE_WEBHOOK_SECRET")
        if "wechat_pay" in self.payment_providers:
            missing = [
                name
                for name in ("wechat_pay_mchid", "wechat_pay_api_v3_key", "wechat_pay_merchant_serial",
                             "wechat_pay_public_key_id", "wechat_pay_notify_url")
                if not getattr(self, name)
            ]
            if not (self.wechat_pay_appid or self.wechat_appid):
                missing.append("wechat_pay_appid")
            if self.wechat_pay_private_key is None and not self.wechat_pay_private_key_path:
                missing.append("wechat_pay_private_key")
            if self.wechat_pay_public_key is None and not self.wechat_pay_public_key_path:
                missing.append("wechat_pay_public_key")
            if self.wechat_pay_partner_mode and not self.wechat_pay_sub_mchid:
                missing.append("wechat_pay_sub_mchid")
            if missing:
                raise ValueError("wechat_pay needs " + ", ".join(f"COOPMARKET_{m.upper()}" for m in missing))
        if self.job_queue == "procrastinate" and self.is_sqlite:
            raise ValueError("COOPMARKET_JOB_QUEUE=procrastinate needs a PostgreSQL COOPMARKET_DATABASE_URL")
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("COOPMARKET_STORAGE=s3 needs COOPMARKET_S3_BUCKET")
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError("set both COOPMARKET_S3_ACCESS_KEY_ID and COOPMARKET_S3_SECRET_ACCESS_KEY, or neither")
        if (self.database_kept_connections or 0) > self.database_pool_size // 2:
            # Kept connections are out of the pool: units of work keep at least half of it.
            raise ValueError(
                "COOPMARKET_DATABASE_KEPT_CONNECTIONS may be at most half of COOPMARKET_DATABASE_POOL_SIZE"
            )
        return self

    @property
    def kept_connections(self) -> int:
        """Connections the driver path may keep checked out (``database_kept_connections``)."""
        if self.database_kept_connections is None:
            return self.database_pool_size // 2
        return self.database_kept_connections

    @property
    def public_base(self) -> str:
        """``public_base_url`` without a trailing slash."""
        return self.public_base_url.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def logs_as_json(self) -> bool:
        if self.log_format == "auto":
            return self.environment != "development"
        return self.log_format == "json"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
