"""``create_app(settings)``: plugins, routers, dependencies and the one error mapping."""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar import Litestar, MediaType, Request, Response, Router, get
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from coopmarket.accounts import routes as accounts_routes
from coopmarket.accounts import service as accounts_service
from coopmarket.accounts.security import configure_password_hashing
from coopmarket.accounts.wechat import HttpxWechatClient, WechatClient
from coopmarket.audit import routes as audit_routes
from coopmarket.brand import routes as brand_routes
from coopmarket.coops import member_accounts
from coopmarket.coops import routes as coops_routes
from coopmarket.coops import service as coops_service
from coopmarket.core import i18n
from coopmarket.core import jobs as core_jobs
from coopmarket.core.deps import (
    PrincipalResolver,
    authenticate_first,
    provide_db,
    provide_optional_principal,
    provide_principal,
    provide_session,
    provide_settings,
    provide_today,
)
from coopmarket.core.errors import DomainError
from coopmarket.core.ids import new_id
from coopmarket.core.inputs import StrictRequest, check_path_and_query
from coopmarket.core.jobs import PeriodicJob
from coopmarket.core.openapi import (
    BEARER_SCHEME,
    NO_TOKEN_NEEDED,
    DocumentJsonPlugin,
    DocumentSwaggerPlugin,
    StrictStructSchemaPlugin,
    problem,
)
from coopmarket.core.pagination import configure_cursor_key
from coopmarket.core.principal import Principal
from coopmarket.core.ratelimit import PhoneAttempts, auth_rate_limit
from coopmarket.core.response_cache import ResponseCache, provide_response_cache
from coopmarket.dashboard import routes as dashboard_routes
from coopmarket.db import Database, DatabaseBusy, DatabaseUnavailable
from coopmarket.events import delivery as event_delivery
from coopmarket.events import routes as events_routes
from coopmarket.flows import profit_sharing as flows_profit_sharing
from coopmarket.flows import provider_queries as flows_provider_queries
from coopmarket.flows import reconciliation as flows_reconciliation
from coopmarket.flows import refunds as flows_refunds
from coopmarket.flows import routes as flows_routes
from coopmarket.idempotency import service as idempotency_service
from coopmarket.ledger import routes as ledger_routes
from coopmarket.ops import metrics
from coopmarket.ops.context import current_request_id
from coopmarket.ops.middleware import EdgeMiddleware
from coopmarket.orders import jobs as order_jobs
from coopmarket.orders import member_volume
from coopmarket.orders import metrics as orders_metrics
from coopmarket.orders import routes as orders_routes
from coopmarket.payments import jobs as payment_jobs
from coopmarket.payments import metrics as payments_metrics
from coopmarket.payments import routes as payments_routes
from coopmarket.payments.registry import PaymentProviders, open_providers
from coopmarket.products import jobs as product_jobs
from coopmarket.products import routes as products_routes
from coopmarket.products.public_cache import provide_public_read
from coopmarket.regions import routes as regions_routes
from coopmarket.reports import disclosures as reports_disclosures
from coopmarket.reports import routes as reports_routes
from coopmarket.settings import Settings, get_settings
from coopmarket.storage import routes as storage_routes
from coopmarket.storage.base import ObjectStorage, StorageConfigurationError
from coopmarket.storage.deps import build_storage, provide_storage
from coopmarket.villages import routes as villages_routes

log = logging.getLogger("coopmarket")
PROBLEM_JSON = "application/problem+json"

_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


@dataclass
class Overrides:
    """Stand-ins for external systems, for tests: the production code keeps its real clients."""

    wechat: WechatClient | None = None
    stripe_http_client: Any = None
    wechat_pay_transport: Any = None  # an httpx transport in front of a fake WeChat Pay


def _problem(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    request: Request[Any, Any, Any] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    # Title and detail in the caller's language (Accept-Language, else the deployment's default);
    # the code never changes (core/i18n.py).
    title, detail = i18n.problem_text(_language(request), code=code, title=title or _title(status), detail=detail)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _language(request: Request[Any, Any, Any] | None) -> str:
    if request is None:
        return i18n.ENGLISH
    settings = getattr(request.app.state, "settings", None)
    default = settings.default_language if settings is not None else i18n.ENGLISH
    return i18n.negotiate(request.headers.get("accept-language"), default)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    errors = [{"field": e.field, "message": e.message} for e in exc.errors] or None
    return _problem(
        exc.status_code,
        exc.code,
        exc.detail,
        title=exc.title,
        headers=exc.headers or None,
        errors=errors,
        request=request,
        **exc.extra,
    )


def _field_name(key: Any) -> str:
    text_key = str(key or "body")
    return text_key.removeprefix("$.") if text_key.startswith("$.") else text_key


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors: list[dict[str, str]] = []
    extra = exc.extra if isinstance(exc.extra, list) else ([exc.extra] if exc.extra else [])
    for item in extra:
        if isinstance(item, dict):
            message = str(item.get("message", "invalid"))
            key = item.get("key")
            if key is None and " - at `" in message:
                message, _sep, where = message.partition(" - at `")
                key = where.rstrip("`")
            errors.append({"field": _field_name(key), "message": message})
    return _problem(422, "validation_error", "The request is not valid.", errors=errors or None, request=request)


def _database_busy(request: Request[Any, Any, Any], exc: DatabaseBusy) -> Response[dict[str, Any]]:
    """A SQLite writer found no turn within ``sqlite_write_queue_timeout_seconds`` (db.WriteQueue)."""
    return _problem(
        503,
        "database_busy",
        "The database is busy; retry shortly.",
        headers={"Retry-After": "1"},
        request=request,
    )


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if status >= 500:
        # Framework errors (e.g. a dependency that fails validation) are our bugs: log them.
        return _internal_error(request, exc)
    code = _STATUS_CODES.get(status, "error")
    headers = dict(exc.headers or {})
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else _title(status)
    return _problem(status, code, detail, headers=headers or None, request=request)


def _database_error(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[dict[str, Any]]:
    """A connection lost or refused, or a statement cut off by the server's timeout: the database is
    (for a moment) unavailable, so 503 with ``Retry-After``. Nothing of the request was committed:
    its unit of work rolled back with the connection. Any other database error is a bug (500)."""
    if not (exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)):
        return _internal_error(request, exc)
    return _unavailable(request, type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__)


def _unavailable(request: Request[Any, Any, Any], cause: str) -> Response[dict[str, Any]]:
    request_id = current_request_id() or new_id()
    log.warning(
        "database unavailable request_id=%s %s %s: %s", request_id, request.method, request.url.path, cause
    )
    return _problem(
        503,
        "database_unavailable",
        "The database is not reachable at the moment; retry shortly.",
        headers={"Retry-After": "1"},
        request_id=request_id,
        request=request,
    )


def _database_unreachable(
    request: Request[Any, Any, Any], exc: DatabaseUnavailable
) -> Response[dict[str, Any]]:
    """No connection could be opened: 503 ``database_unavailable``, as for a connection lost."""
    return _unavailable(request, str(exc))


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    request_id = current_request_id() or new_id()
    log.error(
        "unhandled error request_id=%s %s %s", request_id, request.method, request.url.path, exc_info=exc
    )
    return _problem(
        500, "internal_error", "Something went wrong on our side.", request_id=request_id, request=request
    )


@get("/health", tags=["ops"], summary="Liveness", security=NO_TOKEN_NEEDED)
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get(
    "/ready",
    tags=["ops"],
    summary="Readiness (database reachable)",
    security=NO_TOKEN_NEEDED,
    responses={503: problem(503, "not_ready", usual=False)},
)
async def ready(state: State) -> Response[dict[str, str]]:
    """The database answers; 503 otherwise."""
    try:
        async with state.db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # any failure means not ready
        log.warning("readiness check failed", exc_info=True)
        return _problem(503, "not_ready", "The database is not reachable.")
    return Response({"status": "ready"}, media_type=MediaType.JSON)


@get(
    "/metrics",
    tags=["ops"],
    summary="Prometheus metrics",
    description="Answers only with `Authorization: Bearer <COOPMARKET_METRICS_TOKEN>`; "
    "404 when no metrics token is configured.",
    security=[{BEARER_SCHEME: []}],
    media_type="text/plain; version=0.0.4; charset=utf-8",
    responses={
        401: problem(401, "not_authenticated", usual=False),
        404: problem(404, "not_found", usual=False),
    },
)
async def metrics_endpoint(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """Request, latency, error, pool, job-backlog and payment figures (Prometheus text format)."""
    settings: Settings = state.settings
    if settings.metrics_token is None:
        return _problem(404, "not_found", "Not found.")  # type: ignore[return-value]
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return _problem(  # type: ignore[return-value]
            401, "not_authenticated", "Send the metrics token.", headers={"WWW-Authenticate": "Bearer"}
        )
    body, content_type = await metrics.exposition(state.db, state.metric_sources)
    return Response(content=body, media_type=content_type, headers={"cache-control": "no-store"})


def _route_handlers(sign_in_middleware: Sequence[Any] = ()) -> Sequence[Any]:
    """Every route; the sign-in routes (``/api/v1/auth/*``) behind the sign-in limiter's middleware,
    which no other route pays for."""
    handlers: list[Any] = [health, ready, metrics_endpoint]
    if sign_in_middleware:
        handlers.append(
            Router(
                path="/", route_handlers=[accounts_routes.AuthController], middleware=list(sign_in_middleware)
            )
        )
    else:
        handlers.append(accounts_routes.AuthController)
    handlers.extend(r for r in accounts_routes.routes if r is not accounts_routes.AuthController)
    for module in (
        regions_routes,
        coops_routes,
        products_routes,
        brand_routes,
        orders_routes,
        flows_routes,
        payments_routes,
        ledger_routes,
        reports_routes,
        audit_routes,
        events_routes,
        storage_routes,
        villages_routes,
        dashboard_routes,
    ):
        handlers.extend(module.routes)
    return handlers


def _cors(settings: Settings) -> CORSConfig | None:
    """Browsers may call the API from the web shop's origins only (none by default)."""
    if not settings.cors_allow_origins:
        return None
    return CORSConfig(
        allow_origins=settings.cors_allow_origins,
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-None-Match", "X-Request-ID"],
        expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
        allow_credentials=False,  # bearer tokens, no cookies
        max_age=600,
    )


def principal_resolver(db: Database, settings: Settings) -> PrincipalResolver:
    """Token → caller: the accounts slice checks the token, the coops slice names the caller's cooperatives."""

    async def resolve(token: str) -> Principal:
        return await accounts_service.authenticate_on(
            db, settings, token, coops_service.managed_cooperative_ids
        )

    return resolve


def provide_member_volumes() -> member_accounts.MemberVolumes:
    """The orders slice's volume by supplying member, for the coops slice's member accounts."""
    return member_volume.member_volumes


def provide_managed_cooperatives() -> accounts_service.ManagedCooperatives:
    """The coops slice's lookup, for the accounts routes that put a user's cooperatives in a token."""
    return coops_service.managed_cooperative_ids


def background_jobs(
    db: Database, settings: Settings, providers: PaymentProviders, storage: ObjectStorage
) -> list[PeriodicJob]:
    """Every periodic job of the app; each is safe to run on several workers at once."""
    ttl = timedelta(hours=settings.idempotency_ttl_hours)
    return [
        *order_jobs.periodic_jobs(db, settings),
        *product_jobs.periodic_jobs(db, storage),
        *payment_jobs.periodic_jobs(db, settings, providers, on_failed=flows_refunds.refund_failed),
        *flows_reconciliation.periodic_jobs(db, settings, providers),
        *flows_provider_queries.periodic_jobs(db, settings, providers),
        *flows_profit_sharing.periodic_jobs(db, settings, providers),
        *event_delivery.periodic_jobs(db, settings),
        PeriodicJob("purge idempotency keys", 3600, lambda: idempotency_service.purge_expired(db, ttl)),
    ]


def provide_payment_providers(state: State) -> PaymentProviders:
    return state.payment_providers


def provide_disclosure_message_limits(state: State) -> reports_disclosures.MessageLimits:
    return state.disclosure_message_limits


async def _check_request(request: Request[Any, Any, Any]) -> None:
    """Before every handler: the caller (401), then path ids and query values (core/inputs.py),
    before the query and the body are read.

    A ``before_request`` hook rather than a guard: Litestar hands each guard its own shallow copy
    of the route handler, per request (and a copy defeats any cache keyed on the handler).
    """
    handler = request.route_handler
    await authenticate_first(request, handler)
    await check_path_and_query(request, handler)


def create_app(settings: Settings | None = None, overrides: Overrides | None = None) -> Litestar:
    """Build the application for ``settings`` (from the environment when omitted)."""
    settings = settings or get_settings()
    overrides = overrides or Overrides()
    configure_password_hashing(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )
    configure_cursor_key(settings.jwt_secret.get_secret_value().encode())
    # httpx logs request URLs at INFO; WeChat's carries the app secret in its query string.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # aiosqlite logs every statement's parameters (phones, password hashes) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # What the process connects to comes from the app's state (set below), read at each start.
        settings: Settings = app.state.settings
        overrides: Overrides = app.state.overrides
        # Object storage first: a missing bucket stops the start with a clear message.
        storage = build_storage(settings)
        try:
            await storage.check()
        except StorageConfigurationError as exc:
            log.critical("cannot start: %s", exc)
            raise
        app.state.storage = storage
        app.state.response_cache = response_cache
        db = Database(settings)
        app.state.db = db
        app.state.resolve_principal = principal_resolver(db, settings)
        wechat_client = overrides.wechat or HttpxWechatClient(
            appid=settings.wechat_appid,
            secret=settings.wechat_secret.get_secret_value() if settings.wechat_secret else None,
            base_url=settings.wechat_api_base,
            timeout=settings.wechat_timeout_seconds,
        )
        app.state.wechat = wechat_client
        # Messages on public disclosures: counters of this run (memory or Redis, by settings).
        message_limits = reports_disclosures.message_limits(settings)
        app.state.disclosure_message_limits = message_limits
        async with open_providers(
            settings,
            stripe_http_client=overrides.stripe_http_client,
            wechat_pay_transport=overrides.wechat_pay_transport,
        ) as providers:
            app.state.payment_providers = providers
            app.state.metric_sources = [orders_metrics.job_backlog(settings), payments_metrics.status_counts]
            background = (
                core_jobs.start(background_jobs(db, settings, providers, storage))
                # With the job queue configured, `coopmarket worker` processes run them instead.
                if settings.run_background_jobs and settings.job_queue == "inprocess"
                else []
            )
            try:
                yield
            finally:
                await core_jobs.stop(background)
                if isinstance(wechat_client, HttpxWechatClient):
                    await wechat_client.aclose()
                await db.dispose()
                await message_limits.aclose()
                await storage.aclose()
                metrics.worker_exited(os.getpid())

    openapi = OpenAPIConfig(
        title="coopmarket API",
        version="1.0.0",
        description=f"Marketplace of Fangzi District's party-led cooperatives ({settings.brand_name}).",
        path="/schema",
        render_plugins=[DocumentSwaggerPlugin(path="/swagger"), DocumentJsonPlugin(path="/openapi.json")],
        components=Components(
            security_schemes={
                BEARER_SCHEME: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
        security=[{BEARER_SCHEME: []}],
    )
    # Rate limiting of /api/v1/auth/* (see core/ratelimit.py).
    rate_limit = auth_rate_limit(settings)

    def provide_phone_attempts() -> PhoneAttempts:
        return rate_limit.per_phone

    # The public catalogue's shared response cache (Redis, when configured; see core/response_cache.py).
    response_cache = ResponseCache.from_settings(settings)
    app = Litestar(
        route_handlers=_route_handlers(rate_limit.middleware),
        lifespan=[lifespan],
        state=State({"settings": settings, "overrides": overrides}),
        dependencies={
            "settings": Provide(provide_settings, sync_to_thread=False),
            "db": Provide(provide_db, sync_to_thread=False),
            "session": Provide(provide_session),
            "principal": Provide(provide_principal),
            "maybe_principal": Provide(provide_optional_principal),
            "managed_cooperatives": Provide(provide_managed_cooperatives, sync_to_thread=False),
            "phone_attempts": Provide(provide_phone_attempts, sync_to_thread=False),
            "disclosure_message_limits": Provide(provide_disclosure_message_limits, sync_to_thread=False),
            "member_volumes": Provide(provide_member_volumes, sync_to_thread=False),
            "providers": Provide(provide_payment_providers, sync_to_thread=False),
            "today": Provide(provide_today, sync_to_thread=False),
            "storage": Provide(provide_storage, sync_to_thread=False),
            "cache": Provide(provide_response_cache, sync_to_thread=False),
            "read": Provide(provide_public_read, sync_to_thread=False),
        },
        exception_handlers={
            DomainError: _domain_error,
            DatabaseBusy: _database_busy,
            DBAPIError: _database_error,
            DatabaseUnavailable: _database_unreachable,
            ValidationException: _validation_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        openapi_config=openapi,
        request_max_body_size=settings.request_max_body_bytes,
        # Every body, query value and path id is checked in one place (core/inputs.py).
        request_class=StrictRequest,
        plugins=[StrictStructSchemaPlugin()],
        # No route middleware: what every answer needs (request id, metrics, access log, security
        # headers, Allow) is one ASGI layer around the whole app (below); the sign-in limiter wraps
        # the sign-in routes only (``_route_handlers``).
        # The caller first (401), then path ids and query values, then (while reading) the body.
        before_request=_check_request,
        cors_config=_cors(settings),
        on_shutdown=[*rate_limit.on_shutdown, response_cache.aclose],
        debug=False,
        # Logging is configured once per process by `coopmarket serve` (ops/logging.py), not here.
        logging_config=None,
    )
    # Around Litestar's own handler (router, exception handling, CORS), so that it sees every
    # answer, routed or not (404, 405, preflight), and sets the request id before any of them.
    app.asgi_handler = EdgeMiddleware(app.asgi_handler, settings)
    return app


__all__ = ["Overrides", "create_app"]
