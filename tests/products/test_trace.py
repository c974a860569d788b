"""Batches and trace codes: a manager records a batch and gets an unguessable code; anyone reads
what it tells, its QR code (decoded back to the URL here) and its page; a wrong code is one 404."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import zxingcpp
from litestar.testing import AsyncTestClient
from PIL import Image

from coopmarket.core import clock
from coopmarket.db import Database
from tests.factories import OTHER_VILLAGE, VILLAGE, Actor, create_product
from tests.products.builders import NOW, PRODUCTS, Seller, add_certificate, batch_count, new_seller
from tests.products.test_authorisation import REFUSALS, assert_refused, headers_for

TRACE = "/api/v1/trace"
GROUPED = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


@pytest.fixture(autouse=True)
def _frozen_clock() -> None:
    clock.set_now(NOW)  # 2026-03-01 10:00 in Shanghai


async def _member(client: AsyncTestClient[Any], seller: Seller, name: str = "蒋秀芳") -> str:
    response = await client.post(
        f"/api/v1/cooperatives/{seller.coop['id']}/members",
        json={"name": name, "kind": "household", "capital_fen": 100_000},
        headers=seller.manager.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def _batch(
    client: AsyncTestClient[Any], seller: Seller, product_id: str, **overrides: Any
) -> dict[str, Any]:
    payload = {"produced_on": "2026-02-20", "quantity": 1200, "unit": "斤", "member_id": None} | overrides
    response = await client.post(
        f"{PRODUCTS}/{product_id}/batches", json=payload, headers=seller.manager.headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _decode_qr(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


async def test_a_batch_gets_a_trace_code_that_tells_where_it_comes_from(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given a product from 河北郎郡庄村 with three certificates: one valid on the batch date, one
    # that had expired by then, one that began after it
    product = await create_product(
        client, seller.manager, seller.coop["id"], origin_village_code=OTHER_VILLAGE
    )
    valid = await add_certificate(
        client, seller.manager, product["id"], valid_from="2026-01-01", valid_to="2026-12-31"
    )
    await add_certificate(
        client, seller.manager, product["id"], valid_from="2025-01-01", valid_to="2026-02-19"
    )
    await add_certificate(
        client,
        seller.manager,
        product["id"],
        kind="green_food",
        valid_from="2026-02-21",
        valid_to="2029-02-20",
    )
    member_id = await _member(client, seller)

    # When its manager records a batch harvested on 20 February, supplied by a member
    batch = await _batch(client, seller, product["id"], member_id=member_id)

    # Then the answer carries a grouped trace code, its public URL and QR path
    code = batch["trace_code"].replace("-", "")
    assert GROUPED.match(batch["trace_code"])
    assert batch["trace_url"] == f"http://127.0.0.1:8000/trace/{code}"
    assert batch["qr_url"] == f"/api/v1/trace/{code}/qr.png"
    assert (batch["produced_on"], batch["quantity"], batch["unit"], batch["member_id"]) == (
        "2026-02-20",
        1200,
        "斤",
        member_id,
    )

    # And anyone reading the code learns product, cooperative, village names, the batch date and
    # the certificates valid on that date; nothing about the member but that one supplied it
    response = await client.get(f"{TRACE}/{batch['trace_code']}")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "trace_code": batch["trace_code"],
        "trace_url": batch["trace_url"],
        "product": {"id": product["id"], "name": product["name"], "category": "vegetables", "unit": "box"},
        "cooperative": {
            "id": seller.coop["id"],
            "name": seller.coop["name"],
            "village": {"code": VILLAGE, "name": "赵家村委会"},
        },
        "village": {"code": OTHER_VILLAGE, "name": "河北郎郡庄村委会"},
        "batch": {"produced_on": "2026-02-20", "quantity": 1200, "unit": "斤", "supplied_by_member": True},
        "certifications": [
            {k: valid[k] for k in ("id", "kind", "number", "issuer", "valid_from", "valid_to", "is_valid")}
        ],
        "is_branded": False,
        "brand": None,
        "withdrawn": False,
    }


async def test_a_certificate_valid_at_harvest_and_expired_since_is_listed_but_not_valid(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    await add_certificate(
        client, seller.manager, product["id"], valid_from="2026-01-01", valid_to="2026-06-30"
    )
    batch = await _batch(client, seller, product["id"])
    clock.set_now(datetime(2026, 7, 1, 2, 0, tzinfo=UTC))
    certs = (await client.get(f"{TRACE}/{batch['trace_code']}")).json()["certifications"]
    assert [(c["valid_to"], c["is_valid"]) for c in certs] == [("2026-06-30", False)]


async def test_codes_are_read_as_people_type_them(client: AsyncTestClient[Any], seller: Seller) -> None:
    # Given a batch's code
    product = await create_product(client, seller.manager, seller.coop["id"])
    batch = await _batch(client, seller, product["id"])
    code = batch["trace_code"].replace("-", "")
    expected = (await client.get(f"{TRACE}/{code}")).json()
    # Then lower case, grouping and the look-alikes O (for 0) and l (for 1) all find it
    typed = code.lower().replace("0", "o").replace("1", "l")
    for variant in (batch["trace_code"].lower(), f"{typed[:8]}-{typed[8:]}", f"{code[:4]} {code[4:]}"):
        response = await client.get(f"{TRACE}/{variant}")
        assert response.status_code == 200, variant
        assert response.json() == expected


async def test_any_wrong_code_answers_the_same_404(client: AsyncTestClient[Any], seller: Seller) -> None:
    # Given a real code
    product = await create_product(client, seller.manager, seller.coop["id"])
    code = (await _batch(client, seller, product["id"]))["trace_code"].replace("-", "")
    near = code[:-1] + ("A" if code[-1] != "A" else "B")
    # When codes that are not it are asked for: one character off, well-formed unknown, malformed
    answers = []
    for wrong in (
        near,
        "0000000000000000",
        code[:-1],
        code + "X",
        "UUUUUUUUUUUUUUUU",
        "x" * 300,
        "%E4%B8%AD",
    ):
        response = await client.get(f"{TRACE}/{wrong}")
        answers.append((response.status_code, response.json()))
        qr = await client.get(f"{TRACE}/{wrong}/qr.png")
        answers.append((qr.status_code, qr.json()))
    # Then every answer is the same 404, which says nothing about how close the code was
    assert {(status, body["code"], body["detail"]) for status, body in answers} == {
        (404, "trace_code_not_found", "No batch has this trace code.")
    }
    assert all(set(body) == {"type", "title", "status", "detail", "code"} for _, body in answers)


async def test_the_qr_code_holds_the_public_trace_url(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    batch = await _batch(client, seller, product["id"])
    response = await client.get(batch["qr_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert _decode_qr(response.content) == [batch["trace_url"]]
    # A larger scale for big labels is the same code, more pixels
    large = await client.get(batch["qr_url"], params={"scale": 20})
    assert _decode_qr(large.content) == [batch["trace_url"]]
    assert Image.open(io.BytesIO(large.content)).size[0] > Image.open(io.BytesIO(response.content)).size[0]
    bad_scale = await client.get(batch["qr_url"], params={"scale": 0})
    assert (bad_scale.status_code, bad_scale.json()["code"]) == (422, "validation_error")


class TestPublicBaseUrl:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"public_base_url": "https://trace.yanfeng.example/zs/"}

    async def test_the_trace_url_follows_the_setting(
        self, client: AsyncTestClient[Any], seller: Seller
    ) -> None:
        product = await create_product(client, seller.manager, seller.coop["id"])
        batch = await _batch(client, seller, product["id"])
        code = batch["trace_code"].replace("-", "")
        assert batch["trace_url"] == f"https://trace.yanfeng.example/zs/trace/{code}"
        assert _decode_qr((await client.get(batch["qr_url"])).content) == [batch["trace_url"]]


async def test_the_trace_page_shows_the_facts_escaped(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(
        client, seller.manager, seller.coop["id"], name="烟薯<script>alert(1)</script>"
    )
    await add_certificate(client, seller.manager, product["id"], number="HG-2026-77777")
    batch = await _batch(client, seller, product["id"])
    response = await client.get(f"/trace/{batch['trace_code'].lower()}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "烟薯&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    for fact in (
        batch["trace_code"],
        "赵家村委会",
        seller.coop["name"],
        "2026-02-20",
        "1200 斤",
        "HG-2026-77777",
    ):
        assert fact in page
    missing = await client.get("/trace/0000000000000000")
    assert (missing.status_code, missing.json()["code"]) == (404, "trace_code_not_found")


async def test_codes_differ_between_batches(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    codes = {(await _batch(client, seller, product["id"]))["trace_code"] for _ in range(5)}
    assert len(codes) == 5
    listed = await client.get(
        f"{PRODUCTS}/{product['id']}/batches", headers=seller.manager.headers, params={"limit": 3}
    )
    assert listed.status_code == 200
    first = listed.json()
    rest = (
        await client.get(
            f"{PRODUCTS}/{product['id']}/batches",
            headers=seller.manager.headers,
            params={"limit": 3, "cursor": first["next_cursor"]},
        )
    ).json()
    assert rest["next_cursor"] is None
    assert {b["trace_code"] for b in first["items"] + rest["items"]} == codes


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"produced_on": "2026-03-02"}, "invalid_batch_date", "produced_on"),  # tomorrow in Shanghai
        ({"unit": "  "}, "invalid_batch", "unit"),
        ({"member_id": "01aaaaaaaaaaaaaaaaaaaaaaaa"}, "member_not_in_cooperative", "member_id"),
    ],
)
async def test_a_bad_batch_is_refused_and_nothing_is_stored(
    client: AsyncTestClient[Any],
    db: Database,
    seller: Seller,
    changes: dict[str, Any],
    code: str,
    field: str,
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    payload = {"produced_on": "2026-03-01", "quantity": 10, "unit": "kg"} | changes
    response = await client.post(
        f"{PRODUCTS}/{product['id']}/batches", json=payload, headers=seller.manager.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert await batch_count(db) == 0


async def test_a_member_of_another_cooperative_cannot_supply_a_batch(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    other = await new_seller(client, staff)
    stranger_member = await _member(client, other, name="外社社员")
    product = await create_product(client, seller.manager, seller.coop["id"])
    response = await client.post(
        f"{PRODUCTS}/{product['id']}/batches",
        json={"produced_on": "2026-03-01", "quantity": 10, "unit": "kg", "member_id": stranger_member},
        headers=seller.manager.headers,
    )
    assert (response.status_code, response.json()["code"]) == (422, "member_not_in_cooperative")
    assert await batch_count(db) == 0


async def test_quantity_must_be_positive(client: AsyncTestClient[Any], db: Database, seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    response = await client.post(
        f"{PRODUCTS}/{product['id']}/batches",
        json={"produced_on": "2026-03-01", "quantity": 0, "unit": "kg"},
        headers=seller.manager.headers,
    )
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert await batch_count(db) == 0


@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_only_its_manager_records_a_batch(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller, kind: str
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    response = await client.post(
        f"{PRODUCTS}/{product['id']}/batches",
        json={"produced_on": "2026-03-01", "quantity": 10, "unit": "kg"},
        headers=await headers_for(kind, client, staff),
    )
    assert_refused(response, kind)
    assert await batch_count(db) == 0


@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_only_its_manager_lists_batches(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller, kind: str
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    await _batch(client, seller, product["id"])
    response = await client.get(
        f"{PRODUCTS}/{product['id']}/batches", headers=await headers_for(kind, client, staff)
    )
    assert_refused(response, kind)
