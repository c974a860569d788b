"""Every route is guarded (it needs a signed-in caller) or listed here as public (issue 10).

The list below is the whole public surface of the service, written in the test on purpose: a new
route that does not ask for the caller (``principal: Caller``, directly or through a dependency)
fails this test until someone decides, in review, that it is public and adds it here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from coopmarket.app import create_app
from coopmarket.core.deps import asks_for
from coopmarket.settings import Settings

Route = tuple[str, str]  # (method, path as Litestar writes it)

# Answer anyone and never look at a token.
PUBLIC: set[Route] = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/schema"),
    ("GET", "/schema/openapi.json"),
    ("GET", "/schema/swagger"),
    ("GET", "/schema/oauth2-redirect.html"),
    ("GET", "/schema/{path:str}"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/wechat"),
    ("GET", "/api/v1/regions"),
    ("GET", "/api/v1/regions/{code:str}"),
    ("GET", "/api/v1/products"),
    ("POST", "/api/v1/payments/stripe/webhook"),  # Stripe signs it instead
    ("POST", "/api/v1/payments/wechat/notify"),  # WeChat Pay signs it instead
    ("GET", "/metrics"),  # its own bearer token (COOPMARKET_METRICS_TOKEN), off without one
    # The public trace page of a batch's label, as JSON, QR image and printable page.
    ("GET", "/api/v1/trace/{trace_code:str}"),
    ("GET", "/api/v1/trace/{trace_code:str}/qr.png"),
    ("GET", "/trace/{trace_code:str}"),
    # The staff dashboard's page and its static files (staff sign in on the page; its figures,
    # GET /api/v1/dashboard, need the token).
    ("GET", "/dashboard"),
    ("GET", "/dashboard/static/{name:str}"),
    # The local object store: a signed, expiring upload policy or URL authorises these, as S3's do.
    ("POST", "/api/v1/uploads/local"),
    ("GET", "/api/v1/files/{key:path}"),
    # Published disclosures (JSON, canonical bytes, printable page) and messages on them (rate limited).
    ("GET", "/api/v1/public/villages/{code:str}/disclosures"),
    ("GET", "/api/v1/public/disclosures/{disclosure_id:str}"),
    ("POST", "/api/v1/public/disclosures/{disclosure_id:str}/messages"),
}
# Answer anyone; a signed-in caller (``maybe_principal``) may see more.
TOKEN_OPTIONAL: set[Route] = {
    ("GET", "/api/v1/cooperatives"),
    ("GET", "/api/v1/cooperatives/{cooperative_id:str}"),
    ("GET", "/api/v1/products/{product_id:str}"),
}
GUARD = "principal"
OPTIONAL_GUARD = "maybe_principal"


def _app() -> Litestar:
    return create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", run_background_jobs=False))


def _needs(handler: Any, name: str) -> bool:
    """Whether ``handler`` asks for the dependency ``name``, directly or through its dependencies."""
    return asks_for(handler, name)


def _routes(app: Litestar) -> dict[Route, Any]:
    routes: dict[Route, Any] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                if method != "OPTIONS":  # Litestar's automatic answer, no handler of ours
                    routes[(method, route.path)] = handler
    return routes


def test_every_route_is_guarded_or_listed_as_public() -> None:
    # Given every route of the app
    routes = _routes(_app())

    # When we sort them by whether they need the caller
    unguarded = {route for route, handler in routes.items() if not _needs(handler, GUARD)}
    optional = {route for route in unguarded if _needs(routes[route], OPTIONAL_GUARD)}

    # Then those that do not are exactly the public ones listed here
    assert unguarded - optional == PUBLIC, "a route without a guard must be listed as PUBLIC in this test"
    assert optional == TOKEN_OPTIONAL
    assert len(routes) > len(PUBLIC | TOKEN_OPTIONAL)  # and everything else is guarded


def test_listed_public_routes_all_exist() -> None:
    # The lists stay true: nothing public that is gone, nothing listed twice
    routes = set(_routes(_app()))
    assert (PUBLIC | TOKEN_OPTIONAL) - routes == set()
    assert PUBLIC & TOKEN_OPTIONAL == set()


async def test_every_guarded_route_refuses_an_anonymous_caller(client: AsyncTestClient[Any]) -> None:
    # Given every guarded route, with made-up ids
    routes = _routes(client.app)
    guarded = [route for route, handler in routes.items() if _needs(handler, GUARD)]
    assert guarded

    # When each is called without a token (an empty JSON body where one is taken)
    for method, path in guarded:
        url = re.sub(r"\{[^}]+\}", "no-such-id", path)
        response = await client.request(method, url, json={} if method != "GET" else None)

        # Then it is 401 not_authenticated, before anything else is looked at
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["code"] == "not_authenticated", (method, path)


@pytest.mark.parametrize("route", sorted(PUBLIC - {("GET", "/schema/{path:str}")}))
async def test_public_routes_answer_without_a_token(client: AsyncTestClient[Any], route: Route) -> None:
    # A public route never answers 401 to a caller without a token
    method, path = route
    url = re.sub(r"\{[^}]+\}", "370704", path)
    response = await client.request(method, url, json={} if method != "GET" else None)
    assert response.status_code != 401, (route, response.text)
