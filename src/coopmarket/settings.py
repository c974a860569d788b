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
    # Collective-income bands in fen: below the first is "shell" (空壳村), then each next band.
    income_band_limits_fen: list[int] = [5_000_000, 10_000_000, 50_000_000]
    request_max_body_bytes: int = 1_048_576

    payment_providers: list[Literal["offline", "stripe"]] = ["offline"]
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None  # only for tests against a local stand-in

    wechat_appid: str | None = None
    wechat_secret: SecretStr | None = None
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_timeout_seconds: float = 5.0

    storage: Literal["local", "s3"] = "local"
    storage_local_dir: str = "./var/uploads"

    redis_url: str | None = None
    # Requests per minute per client on /api/v1/auth/*; 0 turns the limit off.
    rate_limit_auth_per_minute: int = Field(default=20, ge=0)
    # Key prefix in Redis, so several deployments (or tests) can share one server.
    rate_limit_namespace: str = "coopmarket_rate_limit"
    # Reverse proxies (IPs or CIDR networks) whose X-Forwarded-For is believed; empty: none.
    # From the environment as JSON, e.g. COOPMARKET_TRUSTED_PROXIES='["10.0.0.2"]'.
    trusted_proxies: list[str] = []
    run_background_jobs: bool = True

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
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
