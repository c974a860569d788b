"""Bad input answers a clear 4xx problem on both databases, before anything reaches SQL (issue 10).

Each test here failed on the code before the hardening: NUL characters reached asyncpg (500), deep
JSON exhausted the decoder's recursion (500), a body that is not UTF-8 raised a decode error (500),
an integer cursor too large for its column reached the database (500), and the lax conversion let
``"1"``, ``1.0`` and ``1e2`` through as integers.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.db import Database
from tests.factories import Actor, approved_cooperative, create_product, make_staff, register_buyer
from tests.orders.builders import ADDRESS, new_key

JSON = {"Content-Type": "application/json"}


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def _count(db: Database, table: str) -> int:
    async with db.read() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608


# --- NUL and other control characters -------------------------------------------------------


async def test_nul_in_a_json_string_is_refused_before_the_database(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a registration whose display name carries a NUL character
    body = {"phone": "13912340001", "password": "correct horse battery", "display_name": "王\u0000芳"}

    # When it is sent
    response = await client.post("/api/v1/auth/register", json=body)

    # Then it is a 422 naming the field, and no user was created
    problem = _problem(response, 422, "validation_error")
    assert problem["errors"][0]["field"] == "display_name"
    assert await _count(db, "user_account") == 0


async def test_nul_in_an_object_key_is_refused(client: AsyncTestClient[Any]) -> None:
    # Given a body whose unknown key carries a NUL character
    raw = b'{"phone": "13912340001", "password": "correct horse battery", "display_name": "x", "a\\u0000": 1}'

    # When it is sent; Then 422 (the key is refused as any string is)
    response = await client.post("/api/v1/auth/register", content=raw, headers=JSON)
    _problem(response, 422, "validation_error")


@pytest.mark.parametrize("char", ["\u0001", "\u001b", "\u007f", "\u0085", "\t", "\n"])
async def test_control_characters_in_a_single_line_field_are_refused(
    client: AsyncTestClient[Any], char: str
) -> None:
    # Given a display name (one line) with a control character
    body = {"phone": "13912340002", "password": "correct horse battery", "display_name": f"王{char}芳"}

    # When it is sent; Then 422 on that field
    response = await client.post("/api/v1/auth/register", json=body)
    assert _problem(response, 422, "validation_error")["errors"][0]["field"] == "display_name"


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u2066", "\ufeff", "\u00ad", "\u3164"])
async def test_invisible_or_bidi_characters_in_a_name_are_refused(
    client: AsyncTestClient[Any], char: str
) -> None:
    # Given a display name hiding a bidi override or an invisible character
    body = {"phone": "13912340003", "password": "correct horse battery", "display_name": f"王{char}芳"}

    # When it is sent; Then 422 on that field, said in words
    response = await client.post("/api/v1/auth/register", json=body)
    error = _problem(response, 422, "validation_error")["errors"][0]
    assert error == {
        "field": "display_name",
        "message": "must be one line without control, invisible or bidi-override characters",
    }


async def test_strings_are_stored_in_nfc(client: AsyncTestClient[Any]) -> None:
    # Given a display name written with a combining accent (NFD)
    body = {"phone": "13912340004", "password": "correct horse battery", "display_name": "Jose\u0301"}

    # When the buyer registers
    response = await client.post("/api/v1/auth/register", json=body)

    # Then the name is kept composed (NFC)
    assert response.status_code == 201, response.text
    assert response.json()["user"]["display_name"] == "Jos\u00e9"


async def test_a_newline_is_kept_where_it_means_something(client: AsyncTestClient[Any], db: Database) -> None:
    # Given an approved cooperative's manager
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)

    # When a product description has two paragraphs
    product = await create_product(client, manager, coop["id"], description="第一段。\n第二段。")

    # Then the newline is kept
    assert product["description"] == "第一段。\n第二段。"


async def test_nul_in_a_query_value_is_refused(client: AsyncTestClient[Any], db: Database) -> None:
    # Given a district staff member (the ledger balances read a prefix from the query)
    staff = await make_staff(client, db)

    # When a query value carries a NUL (public and signed-in reads alike)
    public = await client.get("/api/v1/products", params={"q": "烟\x00薯"})
    signed_in = await client.get(
        "/api/v1/ledger/balances", params={"account": "cash\x00"}, headers=staff.headers
    )

    # Then both are 422 naming the parameter
    assert _problem(public, 422, "validation_error")["errors"][0]["field"] == "q"
    assert _problem(signed_in, 422, "validation_error")["errors"][0]["field"] == "account"


async def test_nul_in_a_path_id_is_not_found(client: AsyncTestClient[Any]) -> None:
    # When a path id carries a NUL (percent-encoded), on a public and a token-optional read
    for path in ("/api/v1/regions/370704%00", "/api/v1/products/abc%00def", "/api/v1/cooperatives/%00"):
        response = await client.get(path)

        # Then it is simply not found
        _problem(response, 404, "not_found")


async def test_nul_in_a_path_id_is_not_found_for_a_signed_in_write(client: AsyncTestClient[Any]) -> None:
    # Given a buyer
    buyer = await register_buyer(client)

    # When they cancel an order whose id carries a NUL
    response = await client.post("/api/v1/orders/x%00y/cancel", json={}, headers=buyer.headers)

    # Then 404
    _problem(response, 404, "not_found")


async def test_a_query_value_that_is_not_utf8_is_refused(client: AsyncTestClient[Any]) -> None:
    # When a query value's percent-encoding is not UTF-8
    response = await client.get("/api/v1/products?q=%ff%fe")

    # Then 422 naming the parameter
    assert _problem(response, 422, "validation_error")["errors"][0]["field"] == "q"


# --- the body itself ------------------------------------------------------------------------


async def test_deeply_nested_json_is_refused(client: AsyncTestClient[Any]) -> None:
    # Given a body nested a thousand levels deep in an unknown field
    raw = (
        b'{"phone": "13912340005", "password": "x", "display_name": "x", "deep": '
        + b"[" * 1000
        + b"]" * 1000
        + b"}"
    )

    # When it is sent; Then 400 (not a decoder crash)
    response = await client.post("/api/v1/auth/register", content=raw, headers=JSON)
    _problem(response, 400, "json_too_deep")


async def test_a_body_that_is_not_utf8_is_refused(client: AsyncTestClient[Any]) -> None:
    # Given a body encoded in GBK
    raw = json.dumps(
        {"phone": "13912340006", "password": "correct horse battery", "display_name": "王芳"},
        ensure_ascii=False,
    ).encode("gbk")

    # When it is sent as JSON; Then 400 invalid_encoding
    response = await client.post("/api/v1/auth/register", content=raw, headers=JSON)
    _problem(response, 400, "invalid_encoding")


async def test_a_body_declaring_another_charset_is_refused(client: AsyncTestClient[Any]) -> None:
    # Given a valid UTF-8 body whose Content-Type declares another charset
    raw = json.dumps(
        {"phone": "13912340007", "password": "correct horse battery", "display_name": "x"}
    ).encode()

    # When it is sent; Then 415 (only UTF-8 JSON is understood)
    response = await client.post(
        "/api/v1/auth/register", content=raw, headers={"Content-Type": "application/json; charset=gbk"}
    )
    _problem(response, 415, "unsupported_media_type")


async def test_a_body_declaring_utf8_is_accepted(client: AsyncTestClient[Any]) -> None:
    # Given a body whose Content-Type says charset=UTF-8 (any case)
    raw = json.dumps(
        {"phone": "13912340008", "password": "correct horse battery", "display_name": "x"}
    ).encode()

    # When it is sent; Then it is accepted
    response = await client.post(
        "/api/v1/auth/register", content=raw, headers={"Content-Type": "application/json; charset=UTF-8"}
    )
    assert response.status_code == 201, response.text


async def test_a_byte_order_mark_is_refused(client: AsyncTestClient[Any]) -> None:
    raw = (
        b"\xef\xbb\xbf"
        + json.dumps({"phone": "13912340009", "password": "x" * 8, "display_name": "x"}).encode()
    )
    response = await client.post("/api/v1/auth/register", content=raw, headers=JSON)
    _problem(response, 400, "bad_request")


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"[" * 1000 + b"]" * 1000, "application/json"),
        ("{}".encode("utf-16"), "application/json"),
        (b"{}", "application/json; charset=gbk"),
        (b'{"lines": "\\u0000"}', "application/json"),
        (b"{not json", "application/json"),
    ],
)
async def test_the_token_is_checked_before_the_body(
    client: AsyncTestClient[Any], db: Database, raw: bytes, content_type: str
) -> None:
    # When an anonymous caller sends a bad body to an operation that needs a token
    response = await client.post("/api/v1/orders", content=raw, headers={"Content-Type": content_type})

    # Then the answer is 401, whatever is wrong with the body, and nothing was stored
    _problem(response, 401, "not_authenticated")
    assert await _count(db, "orders") == 0


@pytest.mark.parametrize("query", ["limit=1e2", "cursor=%00", "status=%ff", "limit=500"])
async def test_the_token_is_checked_before_the_query(client: AsyncTestClient[Any], query: str) -> None:
    # When an anonymous caller lists orders with a bad query; Then 401, not 422
    response = await client.get(f"/api/v1/orders?{query}")
    _problem(response, 401, "not_authenticated")


async def test_a_bad_token_is_checked_before_the_body(client: AsyncTestClient[Any]) -> None:
    response = await client.post(
        "/api/v1/orders", content=b"[" * 100, headers={**JSON, "Authorization": "Bearer not-a-token"}
    )
    assert response.status_code == 401, response.text


# --- strict typing --------------------------------------------------------------------------


async def _approved_manager(client: AsyncTestClient[Any], db: Database) -> tuple[Actor, dict[str, Any]]:
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    product = await create_product(client, manager, coop["id"])
    return manager, product


@pytest.mark.parametrize("delta", ["1", "1.0", 1.5, True, None, [1]])
async def test_a_body_integer_must_be_an_integer(
    client: AsyncTestClient[Any], db: Database, delta: Any
) -> None:
    # Given a manager and a SKU with stock 100
    manager, product = await _approved_manager(client, db)
    sku_id = product["skus"][0]["id"]

    # When they adjust stock with a string, a fraction, a boolean, null or a list
    response = await client.post(
        f"/api/v1/skus/{sku_id}/stock-adjustments",
        json={"delta": delta, "reason": "盘点"},
        headers=manager.headers,
    )

    # Then 422 on delta, and the stock did not move
    assert _problem(response, 422, "validation_error")["errors"][0]["field"] == "delta"
    detail = await client.get(f"/api/v1/products/{product['id']}")
    assert detail.json()["skus"][0]["stock"] == 100


@pytest.mark.parametrize("limit", ["1e2", "1.0", "2.5", " 5", "+5", "0x10", "true"])
async def test_a_query_integer_must_be_written_as_one(client: AsyncTestClient[Any], limit: str) -> None:
    # When limit is written as a float, with exponent, padding or a sign
    response = await client.get("/api/v1/products", params={"limit": limit})

    # Then 422 naming limit
    assert _problem(response, 422, "validation_error")["errors"][0]["field"] == "limit"


async def test_a_query_boolean_must_be_true_or_false(client: AsyncTestClient[Any]) -> None:
    ok = await client.get("/api/v1/products", params={"branded": "true"})
    refused = await client.get("/api/v1/products", params={"branded": "1"})
    assert ok.status_code == 200, ok.text
    assert _problem(refused, 422, "validation_error")["errors"][0]["field"] == "branded"


@pytest.mark.parametrize("delta", [2.0, 2e0, 0.2e1])
async def test_a_json_number_with_an_integral_value_is_that_integer(
    client: AsyncTestClient[Any], db: Database, delta: float
) -> None:
    # Given a manager and a SKU with stock 100 (JSON Schema 2020-12: 2.0 is the integer 2)
    manager, product = await _approved_manager(client, db)
    sku_id = product["skus"][0]["id"]

    # When they add 2.0 units
    response = await client.post(
        f"/api/v1/skus/{sku_id}/stock-adjustments",
        json={"delta": delta, "reason": "盘点"},
        headers=manager.headers,
    )

    # Then 2 units were added
    assert response.status_code == 200, response.text
    assert response.json()["stock"] == 102


# --- cursors --------------------------------------------------------------------------------


def _forged(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "params", "values"),
    [
        ("/api/v1/products", {"sort": "price_asc"}, ["price_asc", 10**30, "01j"]),
        ("/api/v1/products", {"sort": "price_asc"}, ["price_asc", 2**40, "01j"]),
        ("/api/v1/products", {}, ["newest", "a\u0000b"]),
        ("/api/v1/cooperatives", {}, ["\u0000"]),
        ("/api/v1/cooperatives", {}, [10**30]),
    ],
)
async def test_a_forged_cursor_is_refused(
    client: AsyncTestClient[Any], path: str, params: dict[str, str], values: list[Any]
) -> None:
    # When a list is asked for with a cursor the API did not issue (huge integer, NUL, wrong type)
    response = await client.get(path, params={**params, "cursor": _forged(values)})

    # Then 422 invalid_cursor
    _problem(response, 422, "invalid_cursor")


async def test_a_forged_cursor_is_refused_on_orders(client: AsyncTestClient[Any]) -> None:
    buyer = await register_buyer(client)
    response = await client.get("/api/v1/orders", params={"cursor": _forged([10**30])}, headers=buyer.headers)
    _problem(response, 422, "invalid_cursor")


async def test_an_issued_cursor_still_pages(client: AsyncTestClient[Any], db: Database) -> None:
    # Given three products, listed two at a time by price
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    for price in (100, 200, 300):
        await create_product(
            client,
            manager,
            coop["id"],
            skus=[{"code": f"P{price}", "spec": "1", "price_fen": price, "stock": 1}],
        )
    first = (await client.get("/api/v1/products", params={"sort": "price_asc", "limit": "2"})).json()

    # When the next page is asked for with the cursor the API gave
    second = await client.get(
        "/api/v1/products", params={"sort": "price_asc", "limit": "2", "cursor": first["next_cursor"]}
    )

    # Then it holds the last product
    assert second.status_code == 200, second.text
    assert [item["price_fen"] for item in second.json()["items"]] == [300]


# --- a whole order on the hot path still works with the strict decoder ------------------------


async def test_an_order_with_strict_types_is_placed(client: AsyncTestClient[Any], db: Database) -> None:
    _manager, product = await _approved_manager(client, db)
    buyer = await register_buyer(client)
    body = {"lines": [{"sku_id": product["skus"][0]["id"], "quantity": 2}], "shipping_address": ADDRESS}
    response = await client.post(
        "/api/v1/orders", json=body, headers={**buyer.headers, "Idempotency-Key": new_key()}
    )
    assert response.status_code == 201, response.text
    refused = await client.post(
        "/api/v1/orders",
        json={**body, "lines": [{"sku_id": product["skus"][0]["id"], "quantity": "2"}]},
        headers={**buyer.headers, "Idempotency-Key": new_key()},
    )
    assert _problem(refused, 422, "validation_error")["errors"][0]["field"] == "lines[0].quantity"


async def test_a_cursor_that_is_not_ascii_is_refused(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/api/v1/cooperatives", params={"cursor": "}éĵÞ£.Ĳ"})
    _problem(response, 422, "invalid_cursor")


# --- dates at the ends of the calendar ---------------------------------------------------------
# Valid ISO dates such as 0001-01-01 and 9999-12-31 overflowed the first day arithmetic or time-zone
# shift made with them (OverflowError, ValueError: a 500) before the range check of core/inputs.py.


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/audit", {"from": "0001-01-01"}, "from"),
        ("/api/v1/audit", {"to": "9999-12-31"}, "to"),
        (
            "/api/v1/reports/collective-income",
            {"from": "9998-06-01", "to": "9999-12-31"},
            "from",
        ),
        ("/api/v1/reports/collective-income", {"from": "0001-01-01", "to": "0001-01-31"}, "from"),
    ],
)
async def test_a_date_query_value_at_the_end_of_the_calendar_is_refused(
    client: AsyncTestClient[Any], db: Database, path: str, params: dict[str, str], field: str
) -> None:
    # Given district staff
    staff = await make_staff(client, db)

    # When they ask for a period at the edge of the calendar
    response = await client.get(path, params=params, headers=staff.headers)

    # Then 422 date_out_of_range naming the parameter (not a 500)
    assert _problem(response, 422, "date_out_of_range")["errors"][0]["field"] == field


async def test_a_date_query_value_within_the_years_still_works(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    response = await client.get(
        "/api/v1/audit", params={"from": "1900-01-01", "to": "2999-12-31"}, headers=staff.headers
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("valid_from", "valid_to", "field"),
    [("9999-12-31", "9999-12-31", "valid_from"), ("2026-01-01", "9999-12-31", "valid_to")],
)
async def test_a_date_in_a_body_at_the_end_of_the_calendar_is_refused(
    client: AsyncTestClient[Any], db: Database, valid_from: str, valid_to: str, field: str
) -> None:
    # Given a manager's product
    manager, product = await _approved_manager(client, db)

    # When an organic certificate is added whose term reaches the end of the calendar
    response = await client.post(
        f"/api/v1/products/{product['id']}/certifications",
        json={
            "kind": "organic",
            "number": "227OP2600001",
            "issuer": "潍坊市坊子区农业农村局",
            "valid_from": valid_from,
            "valid_to": valid_to,
        },
        headers=manager.headers,
    )

    # Then 422 date_out_of_range naming the field, and nothing was recorded
    assert _problem(response, 422, "date_out_of_range")["errors"][0]["field"] == field
    assert await _count(db, "product_certification") == 0


async def test_the_document_lists_the_date_rule_where_dates_are_taken(client: AsyncTestClient[Any]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    audit = document["paths"]["/api/v1/audit"]["get"]["responses"]["422"]["description"]
    certificate = document["paths"]["/api/v1/products/{product_id}/certifications"]["post"]["responses"][
        "422"
    ]
    order = document["paths"]["/api/v1/orders"]["post"]["responses"]["422"]["description"]
    assert "`date_out_of_range`" in audit
    assert "`date_out_of_range`" in certificate["description"]
    assert "`date_out_of_range`" not in order  # no date in an order's body or query


async def test_a_checked_query_answers_alike_each_time(client: AsyncTestClient[Any]) -> None:
    # The same query checked again answers the same (core/inputs.py checks every request's query).
    for _ in range(3):
        refused = await client.get("/api/v1/products", params={"limit": "1e2"})
        assert _problem(refused, 422, "validation_error")["errors"][0]["field"] == "limit"
        ok = await client.get("/api/v1/products", params={"limit": "2"})
        assert ok.status_code == 200, ok.text
        assert len(ok.json()["items"]) <= 2
