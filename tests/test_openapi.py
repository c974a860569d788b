"""The served OpenAPI document describes every endpoint of API.md and every error it answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import Actor, make_staff, register_buyer

DOCUMENT = "/schema/openapi.json"
PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
METHODS = ("get", "post", "put", "patch", "delete")
BAD_TOKEN = {"Authorization": "Bearer not-a-token"}

Operation = tuple[str, str]  # (method, path as the document writes it)

# Every endpoint of API.md that is mounted today: Accounts, Regions (the two reads), Cooperatives
# and brand licences, Catalogue (create, list, detail, edit, archive and unarchive, stock
# adjustments and history, the cooperative's own catalogue, low stock, import and export,
# certifications, batches, trace codes and their QR images, photos), Orders and payments, the ledger
# balances, the collective-income report, the audit log, and village assets and contracts.
EXPECTED: list[Operation] = [
    ("post", "/api/v1/cooperatives/{cooperative_id}/surplus-distributions"),
    ("post", "/api/v1/surplus-distributions/{distribution_id}/confirm"),
    ("get", "/api/v1/surplus-distributions/{distribution_id}"),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/wechat"),
    ("get", "/api/v1/me"),
    ("post", "/api/v1/staff"),
    ("post", "/api/v1/users/{user_id}/deactivate"),
    ("post", "/api/v1/users/{user_id}/reactivate"),
    ("get", "/api/v1/regions"),
    ("get", "/api/v1/regions/{code}"),
    ("post", "/api/v1/cooperatives"),
    ("get", "/api/v1/cooperatives"),
    ("get", "/api/v1/cooperatives/{cooperative_id}"),
    ("patch", "/api/v1/cooperatives/{cooperative_id}"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/approve"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/reject"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/suspend"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/reinstate"),
    ("get", "/api/v1/cooperatives/{cooperative_id}/members"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/members"),
    ("patch", "/api/v1/cooperatives/{cooperative_id}/members/{member_id}"),
    ("get", "/api/v1/cooperatives/{cooperative_id}/members/{member_id}/account"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/members/{member_id}/capital-changes"),
    ("get", "/api/v1/cooperatives/{cooperative_id}/transaction-volumes"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/products"),
    ("get", "/api/v1/cooperatives/{cooperative_id}/products"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/products/import"),
    ("get", "/api/v1/cooperatives/{cooperative_id}/products/export"),
    ("get", "/api/v1/cooperatives/{cooperative_id}/low-stock"),
    ("get", "/api/v1/products"),
    ("get", "/api/v1/products/{product_id}"),
    ("patch", "/api/v1/products/{product_id}"),
    ("post", "/api/v1/products/{product_id}/archive"),
    ("post", "/api/v1/products/{product_id}/unarchive"),
    ("post", "/api/v1/skus/{sku_id}/stock-adjustments"),
    ("post", "/api/v1/products/{product_id}/certifications"),
    ("post", "/api/v1/products/{product_id}/batches"),
    ("get", "/api/v1/trace/{trace_code}"),
    ("get", "/api/v1/trace/{trace_code}/qr.png"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/brand-licences"),
    ("get", "/api/v1/brand-licences"),
    ("post", "/api/v1/brand-licences/{licence_id}/grant"),
    ("post", "/api/v1/brand-licences/{licence_id}/suspend"),
    ("post", "/api/v1/brand-licences/{licence_id}/revoke"),
    ("post", "/api/v1/products/{product_id}/images/uploads"),
    ("post", "/api/v1/products/{product_id}/images"),
    ("patch", "/api/v1/products/{product_id}/images/{image_id}"),
    ("delete", "/api/v1/products/{product_id}/images/{image_id}"),
    ("get", "/api/v1/skus/{sku_id}/stock-history"),
    ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders"),
    ("get", "/api/v1/orders/{order_id}"),
    ("post", "/api/v1/orders/{order_id}/cancel"),
    ("post", "/api/v1/orders/{order_id}/payments"),
    ("post", "/api/v1/orders/{order_id}/offline-payments"),
    ("post", "/api/v1/orders/{order_id}/parts/{part_id}/ship"),
    ("post", "/api/v1/orders/{order_id}/parts/{part_id}/receive"),
    ("post", "/api/v1/orders/{order_id}/parts/{part_id}/reveal-phone"),
    ("post", "/api/v1/orders/{order_id}/refunds"),
    ("get", "/api/v1/orders/{order_id}/refunds"),
    ("post", "/api/v1/refunds/{refund_id}/approve"),
    ("post", "/api/v1/refunds/{refund_id}/reject"),
    ("post", "/api/v1/refunds/{refund_id}/handed-back"),
    ("post", "/api/v1/payments/stripe/webhook"),
    ("post", "/api/v1/payments/wechat/notify"),
    ("get", "/api/v1/ledger/balances"),
    ("get", "/api/v1/reports/collective-income"),
    ("get", "/api/v1/audit"),
    # Village assets and contracts (issue 9)
    ("get", "/api/v1/villages/{code}/assets"),
    ("post", "/api/v1/villages/{code}/assets"),
    ("get", "/api/v1/villages/{code}/contracts"),
    ("post", "/api/v1/villages/{code}/contracts"),
    ("get", "/api/v1/contracts/{contract_id}"),
    ("get", "/api/v1/contracts/{contract_id}/instalments"),
    ("post", "/api/v1/instalments/{instalment_id}/receipts"),
    ("post", "/api/v1/instalments/{instalment_id}/write-off"),
    ("get", "/api/v1/arrears"),
    # ... and what the code adds to them (docs/API-NOTES.md)
    ("patch", "/api/v1/assets/{asset_id}"),
    ("get", "/api/v1/idle-assets"),
    ("post", "/api/v1/contracts/{contract_id}/amendments"),
    ("post", "/api/v1/contracts/{contract_id}/renewals"),
    ("post", "/api/v1/contracts/{contract_id}/termination"),
    ("post", "/api/v1/contracts/{contract_id}/reminders"),
    ("get", "/api/v1/contracts/{contract_id}/collection"),
    ("post", "/api/v1/contracts/{contract_id}/flags/{code}/resolve"),
    ("get", "/api/v1/contract-campaign"),
    ("get", "/api/v1/cooperatives/{cooperative_id}/statement"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/payouts"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/payouts/{payout_id}/reverse"),
    ("post", "/api/v1/villages/{code}/income"),
    ("get", "/api/v1/villages/{code}/income"),
    ("post", "/api/v1/villages/{code}/income/{income_id}/reverse"),
    ("post", "/api/v1/regions/communities"),
    ("get", "/api/v1/cooperatives/{cooperative_id}/managers"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/managers"),
    ("delete", "/api/v1/cooperatives/{cooperative_id}/managers/{user_id}"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/verify-identity"),
    ("post", "/api/v1/me/password"),
    ("post", "/api/v1/me/sign-out-everywhere"),
    # Frozen disclosures (issue 8)
    ("post", "/api/v1/disclosures"),
    ("get", "/api/v1/public/villages/{code}/disclosures"),
    ("get", "/api/v1/public/disclosures/{disclosure_id}"),
    ("post", "/api/v1/public/disclosures/{disclosure_id}/messages"),
    ("post", "/api/v1/disclosure-messages/{message_id}/approve"),
    ("post", "/api/v1/disclosure-messages/{message_id}/reject"),
    ("get", "/api/v1/disclosure-messages"),
    # The staff dashboard: the page (HTML, public; staff sign in on it) and its figures (staff).
    ("get", "/dashboard"),
    ("get", "/api/v1/dashboard"),
]

# Answer anyone and never look at a token.
PUBLIC: set[Operation] = {
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/wechat"),
    ("get", "/api/v1/regions"),
    ("get", "/api/v1/regions/{code}"),
    ("get", "/api/v1/products"),
    ("get", "/api/v1/trace/{trace_code}"),
    ("get", "/api/v1/trace/{trace_code}/qr.png"),
    ("post", "/api/v1/payments/stripe/webhook"),  # Stripe signs it instead
    ("post", "/api/v1/payments/wechat/notify"),  # WeChat Pay signs it instead
    # The local store's upload target and file URLs: their own signatures authorise them.
    ("post", "/api/v1/uploads/local"),
    ("get", "/api/v1/files/{key}"),
    # Published disclosures and the public's messages on them (rate limited).
    ("get", "/api/v1/public/villages/{code}/disclosures"),
    ("get", "/api/v1/public/disclosures/{disclosure_id}"),
    ("post", "/api/v1/public/disclosures/{disclosure_id}/messages"),
}
# Answer anyone, show more to a signed-in caller; a bad token is 401.
TOKEN_OPTIONAL: set[Operation] = {
    ("get", "/api/v1/cooperatives"),
    ("get", "/api/v1/cooperatives/{cooperative_id}"),
    ("get", "/api/v1/products/{product_id}"),
}
# Need an Idempotency-Key.
IDEMPOTENT: list[Operation] = [
    ("post", "/api/v1/orders"),
    ("post", "/api/v1/orders/{order_id}/payments"),
    ("post", "/api/v1/orders/{order_id}/refunds"),
    ("post", "/api/v1/instalments/{instalment_id}/receipts"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/payouts"),
    ("post", "/api/v1/cooperatives/{cooperative_id}/payouts/{payout_id}/reverse"),
    ("post", "/api/v1/villages/{code}/income"),
    ("post", "/api/v1/villages/{code}/income/{income_id}/reverse"),
]


async def _document(client: AsyncTestClient[Any]) -> dict[str, Any]:
    response = await client.get(DOCUMENT)
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _api_operations(document: dict[str, Any]) -> Iterator[tuple[Operation, dict[str, Any]]]:
    for path, item in document["paths"].items():
        if path.startswith("/api/v1/"):
            for method in METHODS:
                if method in item:
                    yield (method, path), item[method]


def _needs_token(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    """OpenAPI: an operation's own ``security`` replaces the document's; ``{}`` means "no token"."""
    requirements = operation.get("security", document.get("security", []))
    return bool(requirements) and {} not in requirements


def _probe_url(path: str, operation: dict[str, Any]) -> str:
    """``path`` with made-up ids and the required query parameters filled in."""
    url = re.sub(r"\{[^}]+\}", "no-such-id", path)
    query = [
        f"{p['name']}=2024-01-01" if p.get("schema", {}).get("format") == "date" else f"{p['name']}=x"
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    ]
    return url + ("?" + "&".join(query) if query else "")


def _documented_problem(operation: dict[str, Any], status: int) -> str:
    """The description of ``status`` in ``operation``; fails when it is not a documented problem."""
    response = operation["responses"].get(str(status))
    assert response is not None, f"{status} is not documented"
    assert PROBLEM_JSON in response["content"]
    description: str = response["description"]
    return description


async def test_every_mounted_api_md_endpoint_is_documented(client: AsyncTestClient[Any]) -> None:
    # Given the served document
    document = await _document(client)

    # Then every endpoint of API.md that is mounted appears with its method
    missing = [(m, p) for m, p in EXPECTED if m not in document["paths"].get(p, {})]
    assert missing == []


async def test_operations_needing_a_token_are_exactly_the_non_public_ones(
    client: AsyncTestClient[Any],
) -> None:
    # Given the served document
    document = await _document(client)

    # When we list the operations that may be called without a token
    anonymous = {op for op, spec in _api_operations(document) if not _needs_token(document, spec)}

    # Then they are the public and token-optional ones, and every other one needs the bearer token
    assert anonymous == PUBLIC | TOKEN_OPTIONAL
    assert document["security"] == [{"BearerToken": []}]
    assert document["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    optional = {
        op for op, spec in _api_operations(document) if {"BearerToken": []} in spec.get("security", [])
    }
    assert optional == TOKEN_OPTIONAL


async def test_operations_that_look_at_a_token_document_401(client: AsyncTestClient[Any]) -> None:
    # Given the served document
    document = await _document(client)

    # Then every operation needing a token, or reading an optional one, documents a 401 problem
    looked_at = [
        op for op, spec in _api_operations(document) if _needs_token(document, spec) or op in TOKEN_OPTIONAL
    ]
    undocumented = [
        op
        for op in looked_at
        if PROBLEM_JSON not in document["paths"][op[1]][op[0]]["responses"].get("401", {}).get("content", {})
    ]
    assert {("get", "/api/v1/me"), ("get", "/api/v1/products/{product_id}")} <= set(looked_at)
    assert undocumented == []


async def test_operations_with_a_body_or_query_parameters_document_422(client: AsyncTestClient[Any]) -> None:
    # Given the served document
    document = await _document(client)

    # Then every operation taking a body or query parameters documents a 422 problem
    takes_input = [
        (op, spec)
        for op, spec in _api_operations(document)
        if "requestBody" in spec or any(p["in"] == "query" for p in spec.get("parameters", []))
    ]
    undocumented = [
        op
        for op, spec in takes_input
        if PROBLEM_JSON not in spec["responses"].get("422", {}).get("content", {})
    ]
    assert ("get", "/api/v1/products") in {op for op, _ in takes_input}
    assert undocumented == []


@pytest.mark.parametrize(("method", "path"), IDEMPOTENT)
async def test_idempotent_operation_documents_its_key_and_refusals(
    client: AsyncTestClient[Any], method: str, path: str
) -> None:
    # Given the served document
    document = await _document(client)
    operation = document["paths"][path][method]

    # Then the Idempotency-Key header is a parameter, and its refusals are documented with their codes
    headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
    assert headers == ["Idempotency-Key"]
    assert "`idempotency_key_required`" in _documented_problem(operation, 400)
    assert "`idempotency_request_in_progress`" in _documented_problem(operation, 409)
    assert "`idempotency_key_reused`" in _documented_problem(operation, 422)


async def test_placing_an_order_documents_its_conflicts(client: AsyncTestClient[Any]) -> None:
    # Given the served document
    document = await _document(client)
    operation = document["paths"]["/api/v1/orders"]["post"]

    # Then POST /orders lists the statuses it answers and its 409 codes
    errors = sorted(int(status) for status in operation["responses"] if int(status) >= 400)
    assert errors == [400, 401, 403, 409, 413, 415, 422]
    conflicts = _documented_problem(operation, 409)
    for code in ("out_of_stock", "idempotency_request_in_progress"):
        assert f"`{code}`" in conflicts


async def test_every_documented_error_is_a_problem(client: AsyncTestClient[Any]) -> None:
    # Given the served document
    document = await _document(client)

    # Then each 4xx/5xx response of every operation is application/problem+json with the Problem body
    not_problems = [
        (path, method, status)
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
        for status, response in item[method]["responses"].items()
        if int(status) >= 400 and response.get("content") != {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
    ]
    assert not_problems == []


async def test_problem_schema_has_the_rfc9457_fields_and_a_code(client: AsyncTestClient[Any]) -> None:
    # Given the served document
    document = await _document(client)
    schemas = document["components"]["schemas"]

    # Then Problem requires type, title, status, detail and code, and describes the field errors
    problem = schemas["Problem"]
    assert sorted(problem["required"]) == ["code", "detail", "status", "title", "type"]
    assert problem["properties"]["status"]["type"] == "integer"
    for name in ("code", "detail", "title", "type"):
        assert problem["properties"][name]["type"] == "string"
    assert {"errors", "request_id"} <= set(problem["properties"])
    assert sorted(schemas["ProblemFieldError"]["required"]) == ["field", "message"]


async def test_what_operations_answer_without_a_token_is_documented(client: AsyncTestClient[Any]) -> None:
    # Given the served document
    document = await _document(client)

    # When every operation is called without a token (made-up ids, an empty JSON body)
    for (method, path), spec in _api_operations(document):
        body = {} if method != "get" else None
        response = await client.request(method.upper(), _probe_url(path, spec), json=body)

        # Then those needing a token answer 401, the others do not; and each error is documented
        assert (response.status_code == 401) == _needs_token(document, spec), (method, path)
        if response.status_code >= 400:
            code = response.json()["code"]
            assert f"`{code}`" in _documented_problem(spec, response.status_code), (method, path, code)


async def test_what_operations_answer_to_a_bad_token_is_documented(client: AsyncTestClient[Any]) -> None:
    # Given the served document
    document = await _document(client)

    # When every operation is called with a token that is not one
    for (method, path), spec in _api_operations(document):
        body = {} if method != "get" else None
        response = await client.request(method.upper(), _probe_url(path, spec), json=body, headers=BAD_TOKEN)

        # Then all but the public ones answer 401 invalid_token; and each error is documented
        assert (response.status_code == 401) == ((method, path) not in PUBLIC), (method, path)
        if response.status_code >= 400:
            code = response.json()["code"]
            assert f"`{code}`" in _documented_problem(spec, response.status_code), (method, path, code)


@pytest.mark.parametrize("role", ["buyer", "district_staff"])
async def test_what_a_signed_in_caller_meets_is_documented(
    client: AsyncTestClient[Any], db: Database, role: str
) -> None:
    # Given the served document and a signed-in buyer or district staff member
    document = await _document(client)
    actor: Actor = await register_buyer(client) if role == "buyer" else await make_staff(client, db)

    # When they call every operation that needs a token (made-up ids, an empty JSON body, a key)
    answered: set[int] = set()
    for (method, path), spec in _api_operations(document):
        if not _needs_token(document, spec) or path == "/api/v1/me/sign-out-everywhere":
            continue  # signing out everywhere would end the probing actor's token
        headers = {**actor.headers, "Idempotency-Key": f"probe-{method}-{path}"}
        body = {} if method != "get" else None
        response = await client.request(method.upper(), _probe_url(path, spec), json=body, headers=headers)

        # Then every error they meet is documented with its code
        if response.status_code >= 400:
            answered.add(response.status_code)
            code = response.json()["code"]
            assert f"`{code}`" in _documented_problem(spec, response.status_code), (method, path, code)
    assert {404, 422} <= answered


# --- the document agrees with the server (issue 10) -----------------------------------------

INPUT_SCHEMAS = [
    "RegisterIn",
    "LoginIn",
    "StaffIn",
    "CooperativeIn",
    "CooperativePatch",
    "Charter",
    "CharterPatch",
    "DecisionIn",
    "MemberIn",
    "MemberPatch",
    "ProductIn",
    "SkuIn",
    "ProductPatch",
    "SkuChangeIn",
    "StockAdjustmentIn",
    "PlaceOrderIn",
    "OrderLineIn",
    "ShippingAddressIn",
    "CancelIn",
    "ShipIn",
    "RefundIn",
    "RejectRefundIn",
    "StartPaymentIn",
    "OfflinePaymentIn",
]


async def test_request_bodies_say_they_refuse_unknown_fields(client: AsyncTestClient[Any]) -> None:
    # Given the served document; Then every request body schema says additionalProperties: false
    schemas = (await _document(client))["components"]["schemas"]
    lax = [name for name in INPUT_SCHEMAS if schemas[name].get("additionalProperties") is not False]
    assert lax == []


@pytest.mark.parametrize(("method", "path"), IDEMPOTENT)
async def test_the_idempotency_key_is_documented_required_and_bounded(
    client: AsyncTestClient[Any], method: str, path: str
) -> None:
    document = await _document(client)
    (header,) = [p for p in document["paths"][path][method]["parameters"] if p["in"] == "header"]
    assert header["required"] is True
    assert header["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}


async def test_a_minimum_of_zero_is_kept_on_optional_fields(client: AsyncTestClient[Any]) -> None:
    # Given the served document
    document = await _document(client)
    schemas = document["components"]["schemas"]

    # Then ge=0 on optional body fields and query parameters is documented as minimum 0
    assert schemas["SkuChangeIn"]["properties"]["stock"]["minimum"] == 0
    assert schemas["CharterPatch"]["properties"]["reserve_rate_bps"]["minimum"] == 0
    listing = {p["name"]: p for p in document["paths"]["/api/v1/products"]["get"]["parameters"]}
    assert listing["min_price_fen"]["schema"]["minimum"] == 0
    assert listing["max_price_fen"]["schema"]["minimum"] == 0


async def test_an_optional_body_is_not_marked_required(client: AsyncTestClient[Any]) -> None:
    document = await _document(client)
    for path in (
        "/api/v1/cooperatives/{cooperative_id}/approve",
        "/api/v1/orders/{order_id}/cancel",
        "/api/v1/orders/{order_id}/payments",
    ):
        assert document["paths"][path]["post"]["requestBody"]["required"] is False, path
    assert document["paths"]["/api/v1/orders"]["post"]["requestBody"]["required"] is True


async def test_the_report_documents_its_csv_and_xlsx_answers(client: AsyncTestClient[Any]) -> None:
    document = await _document(client)
    content = document["paths"]["/api/v1/reports/collective-income"]["get"]["responses"]["200"]["content"]
    assert set(content) == {
        "application/json",
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }


async def test_staff_registering_a_cooperative_is_a_documented_403(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given district staff and the document
    document = await _document(client)
    staff = await make_staff(client, db)

    # When staff try to register a cooperative; Then the 403 they get is documented with its code
    response = await client.post("/api/v1/cooperatives", json={}, headers=staff.headers)
    operation = document["paths"]["/api/v1/cooperatives"]["post"]
    assert response.status_code in (403, 422)
    assert "`forbidden_role`" in _documented_problem(operation, 403)


async def test_text_fields_document_their_refused_characters(client: AsyncTestClient[Any]) -> None:
    # Given the served document
    document = await _document(client)
    schemas = document["components"]["schemas"]

    # Then names refuse bidi overrides, descriptions allow line breaks, queries refuse controls
    name_rule = schemas["RegisterIn"]["properties"]["display_name"]["not"]
    assert name_rule["type"] == "string" and "\\u202a-\\u202e" in name_rule["pattern"]
    description_rule = schemas["ProductIn"]["properties"]["description"]["not"]["pattern"]
    assert "\\x0b" in description_rule and "\\x0a" not in description_rule
    listing = {p["name"]: p for p in document["paths"]["/api/v1/products"]["get"]["parameters"]}
    assert listing["q"]["schema"]["not"]["pattern"].startswith("[\\x00-\\x1f")


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/cooperatives", "GET, OPTIONS, POST"),
        ("/api/v1/products/some-id", "GET, OPTIONS, PATCH"),
        ("/api/v1/orders/some-id/refunds", "GET, OPTIONS, POST"),
        ("/api/v1/cooperatives/some-id/members", "GET, OPTIONS, POST"),
    ],
)
async def test_options_lists_every_method_of_the_path(
    client: AsyncTestClient[Any], path: str, methods: str
) -> None:
    response = await client.options(path)
    assert response.status_code == 204
    assert response.headers["allow"] == methods


async def test_every_operation_with_a_body_documents_the_body_refusals(client: AsyncTestClient[Any]) -> None:
    document = await _document(client)
    for (method, path), spec in _api_operations(document):
        if "requestBody" not in spec:
            continue
        assert "`json_too_deep`" in _documented_problem(spec, 400), (method, path)
        assert "`invalid_encoding`" in _documented_problem(spec, 400), (method, path)
        assert "`unsupported_media_type`" in _documented_problem(spec, 415), (method, path)
        assert "`validation_error`" in _documented_problem(spec, 422), (method, path)
