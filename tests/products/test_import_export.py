"""Bulk import and export of a cooperative's products and SKUs: CSV and XLSX, validated row by row,
all or nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from coopmarket.db import Database
from coopmarket.products.models import Sku, StockAdjustment
from coopmarket.products.tabular import XLSX_MEDIA_TYPE
from tests.factories import OTHER_VILLAGE, VILLAGE, Actor, create_product, register_buyer
from tests.products.builders import PRODUCTS, Seller, new_seller, pending_seller, product_count

HEADER = "name,category,unit,origin_village_code,description,sku_code,spec,price_fen,stock"


def import_url(seller: Seller) -> str:
    return f"/api/v1/cooperatives/{seller.coop['id']}/products/import"


def export_url(seller: Seller) -> str:
    return f"/api/v1/cooperatives/{seller.coop['id']}/products/export"


def csv_bytes(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode(encoding)


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def upload(
    client: AsyncTestClient[Any],
    seller: Seller,
    data: bytes,
    *,
    actor: Actor | None = None,
    content_type: str = "text/csv",
) -> Any:
    headers = {**(actor or seller.manager).headers, "Content-Type": content_type}
    return await client.post(import_url(seller), content=data, headers=headers)


async def catalogue(client: AsyncTestClient[Any], seller: Seller) -> list[dict[str, Any]]:
    """The cooperative's products, oldest first, as (name, fields, skus)."""
    response = await client.get(
        f"/api/v1/cooperatives/{seller.coop['id']}/products",
        params={"limit": 100},
        headers=seller.manager.headers,
    )
    assert response.status_code == 200, response.text
    return [
        {
            "name": p["name"],
            "category": p["category"],
            "unit": p["unit"],
            "village": p["origin_village_code"],
            "price_fen": p["price_fen"],
            "skus": [
                (s["code"], s["spec"], s["price_fen"], s["stock"], s["low_stock_threshold"])
                for s in p["skus"]
            ],
        }
        for p in reversed(response.json()["items"])
    ]


async def history_rows(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(StockAdjustment))).scalar_one())


APPLES = csv_bytes(
    f"红富士苹果,fruit,箱,{VILLAGE},山地果园,FJ-5,5斤装,2990,40",
    f"红富士苹果,fruit,箱,{VILLAGE},,FJ-10,10斤装,5590,20",
    f"黄金梨,fruit,箱,{OTHER_VILLAGE},脆甜,LI-6,6枚礼盒,3990,15",
)


async def test_a_csv_creates_products_with_their_skus(client: AsyncTestClient[Any], seller: Seller) -> None:
    response = await upload(client, seller, APPLES)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: v for k, v in body.items() if k != "product_ids"} == {
        "rows": 3,
        "created_products": 2,
        "updated_products": 0,
        "unchanged_products": 0,
        "created_skus": 3,
        "updated_skus": 0,
        "unchanged_skus": 0,
    }
    assert await catalogue(client, seller) == [
        {
            "name": "红富士苹果",
            "category": "fruit",
            "unit": "箱",
            "village": VILLAGE,
            "price_fen": 2990,
            "skus": [("FJ-5", "5斤装", 2990, 40, 0), ("FJ-10", "10斤装", 5590, 20, 0)],
        },
        {
            "name": "黄金梨",
            "category": "fruit",
            "unit": "箱",
            "village": OTHER_VILLAGE,
            "price_fen": 3990,
            "skus": [("LI-6", "6枚礼盒", 3990, 15, 0)],
        },
    ]
    apple = (await client.get(f"{PRODUCTS}/{body['product_ids'][0]}")).json()
    assert apple["description"] == "山地果园"
    # And the new products are on sale and found by search
    assert [p["id"] for p in (await client.get(PRODUCTS, params={"q": "富士"})).json()["items"]] == [
        body["product_ids"][0]
    ]


async def test_a_file_with_one_bad_row_changes_nothing_and_names_it(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    # Given an existing product and a file that would update it and add another, with one bad price
    existing = await create_product(
        client,
        seller.manager,
        seller.coop["id"],
        name="黄金梨",
        skus=[{"code": "LI-6", "spec": "6枚礼盒", "price_fen": 3000, "stock": 5}],
    )
    products_before = await product_count(db)
    history_before = await history_rows(db)
    data = csv_bytes(
        f"红富士苹果,fruit,箱,{VILLAGE},,FJ-5,5斤装,2990,40",
        f"红富士苹果,fruit,箱,{VILLAGE},,FJ-10,10斤装,55.90,20",
        f"黄金梨,fruit,箱,{VILLAGE},,LI-6,6枚礼盒,3990,99",
    )
    # When it is imported
    response = await upload(client, seller, data)
    # Then the answer names row 3 (the header is row 1) and why
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "import_rows_invalid"
    assert problem["errors"] == [
        {
            "field": "rows[3].price_fen",
            "message": "a whole number of fen (分) is expected, not 55.90 (39.90 yuan is 3990)",
        }
    ]
    # And nothing changed
    assert await product_count(db) == products_before
    assert await history_rows(db) == history_before
    detail = (await client.get(f"{PRODUCTS}/{existing['id']}")).json()
    assert [(s["price_fen"], s["stock"]) for s in detail["skus"]] == [(3000, 5)]


async def test_every_bad_row_is_reported_with_its_reason(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    data = csv_bytes(
        f"好梨,fruit,箱,{VILLAGE},,A,一箱,100,1",  # row 2: fine
        f",fruit,箱,{VILLAGE},,B,一箱,100,1",  # row 3: no name
        f"坏梨,electronics,箱,{VILLAGE},,C,一箱,100,-1",  # row 4: category, stock
        "远梨,fruit,箱,370704003,,D,一箱,100,1",  # row 5: not a village code
        "",  # row 6: blank, skipped
        f"好梨,vegetables,箱,{VILLAGE},,A,两箱,100,1",  # row 7: differs from row 2; duplicate SKU
        "外梨,fruit,箱,370704999999,,E,一箱,100,1",  # row 8: no such village
        f"零梨,fruit,箱,{VILLAGE},,F,一箱,0,1",  # row 9: price 0
    )
    response = await upload(client, seller, data)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "rows[3].name", "message": "required"},
        {
            "field": "rows[4].category",
            "message": "not a category; one of fruit, vegetables, grain_oil, tea, livestock_poultry, eggs, aquatic, processed, handicraft",
        },
        {"field": "rows[4].stock", "message": "must not be negative: -1"},
        {
            "field": "rows[5].origin_village_code",
            "message": "a 12-digit village-level region code is expected",
        },
        {"field": "rows[7].category", "message": "differs from row 2, the first row of this product"},
        {"field": "rows[7].sku_code", "message": "this product has SKU A on row 2 already"},
        {
            "field": "rows[8].origin_village_code",
            "message": "370704999999 is not a village-level region of the district",
        },
        {"field": "rows[9].price_fen", "message": "must be at least 1"},
    ]
    assert await product_count(db) == 0


async def test_a_bad_header_is_row_1(client: AsyncTestClient[Any], db: Database, seller: Seller) -> None:
    data = csv_bytes(
        f"梨,fruit,箱,{VILLAGE},A,一箱,100,1",
        header="name,category,unit,origin_village_code,sku_code,spec,prise_fen,stock",
    )
    response = await upload(client, seller, data)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "rows[1]",
            "message": "unknown column 'prise_fen'; the columns are name, category, unit, origin_village_code,"
            " description, sku_code, spec, price_fen, stock, low_stock_threshold",
        },
        {"field": "rows[1]", "message": "missing column(s): price_fen"},
    ]
    assert await product_count(db) == 0


async def test_importing_again_updates_by_name_and_sku_code(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    # Given the apples imported once, and an order-free stock of 40 on FJ-5
    first = (await upload(client, seller, APPLES)).json()
    # When a file changes a price, sets stock, adds a SKU and a threshold, and repeats the pear as is
    data = csv_bytes(
        f"红富士苹果,fruit,箱,{VILLAGE},山地果园,FJ-5,5斤装,2790,35,3",
        f"红富士苹果,fruit,箱,{VILLAGE},,FJ-2,2斤尝鲜,1290,10,",
        f"黄金梨,fruit,箱,{OTHER_VILLAGE},脆甜,LI-6,6枚礼盒,3990,15,",
        header=HEADER + ",low_stock_threshold",
    )
    response = await upload(client, seller, data)
    # Then the same products are updated: FJ-5 changed, FJ-2 added, FJ-10 (not in the file) kept
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["product_ids"] == first["product_ids"]
    assert {k: v for k, v in body.items() if k not in ("product_ids", "rows")} == {
        "created_products": 0,
        "updated_products": 1,
        "unchanged_products": 1,
        "created_skus": 1,
        "updated_skus": 1,
        "unchanged_skus": 1,
    }
    apples, pear = await catalogue(client, seller)
    assert apples["price_fen"] == 1290
    assert apples["skus"] == [
        ("FJ-5", "5斤装", 2790, 35, 3),
        ("FJ-10", "10斤装", 5590, 20, 0),
        ("FJ-2", "2斤尝鲜", 1290, 10, 0),
    ]
    assert pear["skus"] == [("LI-6", "6枚礼盒", 3990, 15, 0)]
    # And the stock it set is in FJ-5's history, as the manager's import
    sku_id = next(
        s["id"]
        for s in (await client.get(f"{PRODUCTS}/{first['product_ids'][0]}")).json()["skus"]
        if s["code"] == "FJ-5"
    )
    items = (await client.get(f"/api/v1/skus/{sku_id}/stock-history", headers=seller.manager.headers)).json()[
        "items"
    ]
    assert [(i["kind"], i["delta"], i["stock_after"], i["reason"], i["actor_id"]) for i in items] == [
        ("import", -5, 35, "stock set by import", seller.manager.id),
        ("import", 40, 40, "SKU created by import", seller.manager.id),
    ]
    # And importing the same file once more changes nothing
    history_before = await history_rows(db)
    again = (await upload(client, seller, data)).json()
    assert (again["updated_products"], again["unchanged_products"], again["created_skus"]) == (0, 2, 0)
    assert await history_rows(db) == history_before


async def test_two_products_of_the_same_name_make_the_name_ambiguous(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    for _ in range(2):
        await create_product(client, seller.manager, seller.coop["id"], name="黄金梨")
    response = await upload(client, seller, csv_bytes(f"黄金梨,fruit,箱,{VILLAGE},,X,一箱,100,1"))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "rows[2].name",
            "message": "2 products of this cooperative have this name; rename one first",
        }
    ]


async def test_another_cooperatives_product_of_the_same_name_is_not_touched(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    other = await new_seller(client, staff)
    theirs = await create_product(client, other.manager, other.coop["id"], name="黄金梨")
    response = await upload(client, seller, csv_bytes(f"黄金梨,fruit,箱,{VILLAGE},,X,一箱,100,1"))
    assert response.json()["created_products"] == 1
    assert (await client.get(f"{PRODUCTS}/{theirs['id']}")).json()["skus"] == theirs["skus"]


async def test_an_archived_product_is_updated_and_stays_archived(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    product = await create_product(
        client,
        seller.manager,
        seller.coop["id"],
        name="黄金梨",
        skus=[{"code": "X", "spec": "一箱", "price_fen": 100, "stock": 1}],
    )
    await client.post(f"{PRODUCTS}/{product['id']}/archive", headers=seller.manager.headers)
    response = await upload(client, seller, csv_bytes(f"黄金梨,fruit,箱,{VILLAGE},,X,一箱,200,1"))
    assert response.json()["product_ids"] == [product["id"]]
    detail = (await client.get(f"{PRODUCTS}/{product['id']}", headers=seller.manager.headers)).json()
    assert (detail["status"], detail["min_price_fen"]) == ("archived", 200)


async def test_more_than_fifty_skus_for_a_product_is_refused(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    rows = [f"大礼包,processed,件,{VILLAGE},,S{n},规格{n},100,1" for n in range(51)]
    response = await upload(client, seller, csv_bytes(*rows))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "rows[52].sku_code", "message": "a product has at most 50 SKUs"}
    ]
    assert await product_count(db) == 0


# --- encodings and formats ---------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
async def test_csv_in_utf8_with_or_without_bom_or_gb18030(
    client: AsyncTestClient[Any], seller: Seller, encoding: str
) -> None:
    data = csv_bytes(f"潍县萝卜,vegetables,箱,{VILLAGE},脆甜多汁,LB-5,5斤装,1990,30", encoding=encoding)
    response = await upload(client, seller, data)
    assert response.status_code == 200, response.text
    assert [(p["name"], p["unit"], p["skus"][0][1]) for p in await catalogue(client, seller)] == [
        ("潍县萝卜", "箱", "5斤装")
    ]


async def test_a_file_that_is_neither_utf8_nor_gb18030_is_refused(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    response = await upload(client, seller, HEADER.encode() + b"\n\x81\x30\xff\xff,fruit\n")
    assert response.status_code == 422
    assert response.json()["code"] == "import_file_unreadable"


async def test_an_xlsx_with_numbers_as_numbers_imports(client: AsyncTestClient[Any], seller: Seller) -> None:
    data = xlsx_bytes(
        [
            HEADER.split(","),
            ["坊子烟薯", "vegetables", "箱", int(VILLAGE), None, 1001, "5斤装", 3990, 25.0],
            ["坊子烟薯", "vegetables", "箱", VILLAGE, "沙土地", "1002", "10斤装", 6990.0, 12],
        ]
    )
    response = await upload(client, seller, data, content_type=XLSX_MEDIA_TYPE)
    assert response.status_code == 200, response.text
    assert await catalogue(client, seller) == [
        {
            "name": "坊子烟薯",
            "category": "vegetables",
            "unit": "箱",
            "village": VILLAGE,
            "price_fen": 3990,
            "skus": [("1001", "5斤装", 3990, 25, 0), ("1002", "10斤装", 6990, 12, 0)],
        }
    ]


async def test_an_xlsx_date_or_fraction_where_text_or_fen_belong_is_a_bad_row(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    from datetime import datetime

    data = xlsx_bytes(
        [
            HEADER.split(","),
            ["坊子烟薯", "vegetables", "箱", VILLAGE, None, "A", datetime(2024, 5, 10), 3990, 1],
            ["坊子烟薯", "vegetables", "箱", VILLAGE, None, "B", "一箱", 39.9, 1],
        ]
    )
    response = await upload(client, seller, data, content_type=XLSX_MEDIA_TYPE)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "rows[2].spec",
            "message": "the spreadsheet stored this as a date (2024-05-10T00:00:00); format the column as text and type it again",
        },
        {
            "field": "rows[3].price_fen",
            "message": "a whole number of fen (分) is expected, not 39.9 (39.90 yuan is 3990)",
        },
    ]
    assert await product_count(db) == 0


async def test_a_multipart_form_upload_is_read_from_its_file_field(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    response = await client.post(
        import_url(seller),
        files={"file": ("商品.csv", APPLES, "text/csv")},
        headers=seller.manager.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["created_products"] == 2


async def test_a_multipart_form_without_a_file_field_is_refused(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    response = await client.post(
        import_url(seller), files={"upload": ("商品.csv", APPLES, "text/csv")}, headers=seller.manager.headers
    )
    assert (response.status_code, response.json()["code"]) == (422, "import_file_unreadable")


async def test_old_xls_files_and_junk_are_refused(client: AsyncTestClient[Any], seller: Seller) -> None:
    for data in (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, b"PK\x03\x04 not really a zip", b""):
        response = await upload(client, seller, data, content_type="application/octet-stream")
        assert (response.status_code, response.json()["code"]) == (422, "import_file_unreadable"), data[:8]


# --- export ------------------------------------------------------------------------------------


async def test_export_csv_has_a_bom_the_import_columns_and_imports_back(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    await upload(client, seller, APPLES)
    response = await client.get(export_url(seller), headers=seller.manager.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert (
        response.headers["content-disposition"] == f'attachment; filename="products-{seller.coop["id"]}.csv"'
    )
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [
        [*HEADER.split(","), "low_stock_threshold"],
        ["红富士苹果", "fruit", "箱", VILLAGE, "山地果园", "FJ-5", "5斤装", "2990", "40", "0"],
        ["红富士苹果", "fruit", "箱", VILLAGE, "山地果园", "FJ-10", "10斤装", "5590", "20", "0"],
        ["黄金梨", "fruit", "箱", OTHER_VILLAGE, "脆甜", "LI-6", "6枚礼盒", "3990", "15", "0"],
    ]
    history_before = await history_rows(db)
    again = (await upload(client, seller, response.content)).json()
    assert (again["unchanged_products"], again["unchanged_skus"]) == (2, 3)
    assert await history_rows(db) == history_before


async def test_a_chinese_export_has_chinese_headers_and_categories_and_imports_back(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    await upload(client, seller, APPLES)
    headers = {**seller.manager.headers, "Accept-Language": "zh-CN,zh;q=0.9"}
    response = await client.get(export_url(seller), headers=headers)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "商品名称", "类别", "单位", "产地村代码", "描述", "规格编码", "规格", "价格（分）", "库存", "库存预警值"
    ]
    assert rows[1][:2] == ["红富士苹果", "水果"]
    history_before = await history_rows(db)
    again = (await upload(client, seller, response.content)).json()
    assert (again["unchanged_products"], again["unchanged_skus"]) == (2, 3)
    assert await history_rows(db) == history_before


async def test_export_xlsx_keeps_codes_as_text_and_formulas_inert(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    await create_product(
        client,
        seller.manager,
        seller.coop["id"],
        name='=HYPERLINK("http://x")',
        skus=[{"code": "007", "spec": "-1斤", "price_fen": 100, "stock": 3}],
    )
    response = await client.get(export_url(seller), params={"format": "xlsx"}, headers=seller.manager.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    row = [c.value for c in sheet[2]]
    assert row[:1] == ['=HYPERLINK("http://x")'] and sheet["A2"].data_type == "s"
    assert row[3] == VILLAGE and row[5] == "007" and row[6] == "-1斤" and row[7] == 100
    # And the CSV export escapes what a spreadsheet would run, which the import takes off again
    text = (await client.get(export_url(seller), headers=seller.manager.headers)).content.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'-1斤" in text
    back = await upload(client, seller, text.encode())
    assert back.json()["unchanged_products"] == 1


async def test_export_can_leave_archived_products_out(client: AsyncTestClient[Any], seller: Seller) -> None:
    kept = await create_product(client, seller.manager, seller.coop["id"], name="留")
    gone = await create_product(client, seller.manager, seller.coop["id"], name="去")
    await client.post(f"{PRODUCTS}/{gone['id']}/archive", headers=seller.manager.headers)
    names = lambda content: [r[0] for r in list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))[1:]]  # noqa: E731
    everything = await client.get(export_url(seller), headers=seller.manager.headers)
    active = await client.get(export_url(seller), params={"status": "active"}, headers=seller.manager.headers)
    assert names(everything.content) == [kept["name"], gone["name"]]
    assert names(active.content) == [kept["name"]]


# --- authorisation ----------------------------------------------------------------------------


async def test_only_its_managers_import_and_nothing_changes_otherwise(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    other_manager = (await new_seller(client, staff)).manager
    buyer = await register_buyer(client)
    for actor, status, code in (
        (buyer, 403, "forbidden_role"),
        (staff, 403, "forbidden_role"),
        (other_manager, 404, "cooperative_not_found"),
    ):
        response = await upload(client, seller, APPLES, actor=actor)
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert (await client.post(import_url(seller), content=APPLES)).status_code == 401
    assert await product_count(db) == 0
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(Sku))).scalar_one() == 0


async def test_a_cooperative_not_approved_cannot_import(client: AsyncTestClient[Any], db: Database) -> None:
    seller = await pending_seller(client)
    response = await upload(client, seller, APPLES)
    assert (response.status_code, response.json()["code"]) == (409, "cooperative_not_approved")
    assert await product_count(db) == 0


async def test_only_its_managers_export(client: AsyncTestClient[Any], staff: Actor, seller: Seller) -> None:
    await create_product(client, seller.manager, seller.coop["id"])
    other_manager = (await new_seller(client, staff)).manager
    buyer = await register_buyer(client)
    for actor, status, code in (
        (buyer, 403, "forbidden_role"),
        (staff, 403, "forbidden_role"),
        (other_manager, 404, "cooperative_not_found"),
    ):
        response = await client.get(export_url(seller), headers=actor.headers)
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert (await client.get(export_url(seller))).status_code == 401


async def test_imported_text_keeps_the_api_text_rules(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    # Given a file whose cells hide what the JSON API refuses (issue 10: one rule for all input):
    # a bidi override in a name, a control character in a unit, an escape in a description
    data = csv_bytes(
        f"红富士\u202e苹果,fruit,箱,{VILLAGE},,A,5斤装,2990,40",
        f"黄金梨,fruit,箱\u0001,{VILLAGE},,B,6枚礼盒,3990,15",
        f"鸭梨,fruit,箱,{VILLAGE},脆\u001b甜,C,一箱,100,1",
    )

    # When it is imported
    response = await upload(client, seller, data)

    # Then each cell is refused as the API would refuse it, and nothing is created
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {
            "field": "rows[2].name",
            "message": "must be one line without control, invisible or bidi-override characters",
        },
        {"field": "rows[3].unit", "message": "must be one line of text without control characters"},
        {
            "field": "rows[4].description",
            "message": "must be text without control characters other than line breaks and tabs",
        },
    ]
    assert await product_count(db) == 0


async def test_imported_text_is_stored_in_nfc_and_keeps_its_line_breaks(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given a name written with a combining accent and a two-line description
    data = csv_bytes(f'Jose\u0301梨,fruit,箱,{VILLAGE},"第一段。\n第二段。",A,一箱,100,1')

    # When it is imported
    response = await upload(client, seller, data)

    # Then the name is composed (NFC) and the line break kept
    assert response.status_code == 200, response.text
    [product] = await catalogue(client, seller)
    assert product["name"] == "Jos\u00e9梨"
    detail = (await client.get(f"{PRODUCTS}/{response.json()['product_ids'][0]}")).json()
    assert detail["description"] == "第一段。\n第二段。"
