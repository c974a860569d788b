"""``q``: substrings of one, two, three or more characters of names and descriptions, through the
search index on both databases; relevance; every filter combined with ``q``; cursors."""

from __future__ import annotations

import random
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import event, insert

from coopmarket.core import clock
from coopmarket.core.ids import new_id
from coopmarket.db import Database
from coopmarket.products import search
from coopmarket.products.models import Product
from tests.factories import DISTRICT, OTHER_STREET, OTHER_VILLAGE, STREET, VILLAGE, Actor, create_product
from tests.products.builders import PRODUCTS, Seller, new_seller
from tests.products.test_list import listed, one_sku, walk


async def named(
    seller: Seller, client: AsyncTestClient[Any], name: str, description: str = "", **kw: Any
) -> str:
    product = await create_product(
        client, seller.manager, seller.coop["id"], name=name, description=description, **kw
    )
    return str(product["id"])


async def test_one_two_and_three_characters_find_what_contains_them(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given a pear, a Fuji apple, a red Fuji apple and a Fuji-less apple
    pear = await named(seller, client, "莱阳黄金梨", "脆甜多汁")
    fuji = await named(seller, client, "富士苹果", "坊子区山地果园")
    red_fuji = await named(seller, client, "烟台红富士", "个大色红")
    plain = await named(seller, client, "国光苹果", "酸甜可口")
    # Then one character finds the pear, two find both Fujis, three only the red Fuji
    assert await listed(client, q="梨") == [pear]
    assert await listed(client, q="富士") == [red_fuji, fuji]
    assert await listed(client, q="红富士") == [red_fuji]
    assert await listed(client, q="苹果") == [plain, fuji]
    # And queries whose characters all occur, but not together, find nothing
    assert await listed(client, q="梨果") == []
    assert await listed(client, q="富红") == []
    assert await listed(client, q="红富士苹果") == []
    assert await listed(client, q="桃") == []


async def test_description_matches_count_for_every_length(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    product = await named(seller, client, "礼盒", "精选栖霞红富士，产地直发")
    await named(seller, client, "大葱", "章丘大葱")
    assert await listed(client, q="栖") == [product]
    assert await listed(client, q="直发") == [product]
    assert await listed(client, q="红富士，产地") == [product]


async def test_a_substring_spanning_name_and_description_is_not_a_match(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Name ends with 红, description starts with 富士: no text holds 红富 or 红富士
    await named(seller, client, "大红", "富士")
    assert await listed(client, q="红富") == []
    assert await listed(client, q="红富士") == []


async def test_latin_letters_in_either_case_digits_and_punctuation(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    product = await named(seller, client, "XL号 Fuji苹果（5kg）", "")
    await named(seller, client, "鸭梨", "")
    assert await listed(client, q="x") == [product]
    assert await listed(client, q="fu") == [product]
    assert await listed(client, q="FUJI苹") == [product]
    assert await listed(client, q="5KG）") == [product]
    assert await listed(client, q="（") == [product]
    assert await listed(client, q="l号 f") == [product]


async def test_renaming_moves_the_product_in_the_index(client: AsyncTestClient[Any], seller: Seller) -> None:
    # Given a product found by its name
    product = await named(seller, client, "黄金梨", "脆甜")
    assert await listed(client, q="梨") == [product]
    # When its name and description change
    response = await client.patch(
        f"{PRODUCTS}/{product}",
        json={"name": "红富士", "description": "山地"},
        headers=seller.manager.headers,
    )
    assert response.status_code == 200
    # Then it is found by the new words only
    assert await listed(client, q="梨") == []
    assert await listed(client, q="脆") == []
    assert await listed(client, q="富士") == [product]
    assert await listed(client, q="山地") == [product]


async def test_archived_products_are_not_found(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await named(seller, client, "黄金梨")
    await client.post(f"{PRODUCTS}/{product}/archive", headers=seller.manager.headers)
    assert await listed(client, q="梨") == []


async def test_relevance_puts_xiaomi_above_xiaomi_pepper(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given (oldest first) millet, millet-pepper sauce, a pepper whose description mentions millet,
    # and a newer millet gift box
    xiaomi = await named(seller, client, "小米", "坊子小米")
    pepper = await named(seller, client, "小米椒", "")
    mention = await named(seller, client, "朝天椒", "比小米椒更辣")
    gift = await named(seller, client, "有机小米礼盒", "")
    # Then the exact name ranks first, then the name that starts with it, then the one containing it,
    # then the description-only match, whatever the age
    assert await listed(client, q="小米", sort="relevance") == [xiaomi, pepper, gift, mention]
    # And newest is still the default order
    assert await listed(client, q="小米") == [gift, mention, pepper, xiaomi]


async def test_relevance_walks_every_match_once_with_a_cursor(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    names = ["小米", "小米椒", "黄小米", "小米粥", "玉米", "有机小米", "大米"]
    ids = {name: await named(seller, client, name, "米香") for name in names}
    walked, sizes = await walk(client, q="小米", sort="relevance", limit=2)
    assert walked == [ids["小米"], ids["小米粥"], ids["小米椒"], ids["有机小米"], ids["黄小米"]]
    assert sizes == [2, 2, 1]


async def test_every_filter_combines_with_q(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    # Given pears and apples from two cooperatives, two streets, at several prices
    other = await new_seller(client, staff, village_code=OTHER_VILLAGE)
    cheap_pear = await named(seller, client, "鸭梨", category="fruit", skus=one_sku(1000))
    dear_pear = await named(seller, client, "黄金梨", category="fruit", skus=one_sku(5000))
    pear_jam = await named(seller, client, "梨膏", category="processed", skus=one_sku(3000))
    far_pear = await named(
        other, client, "雪花梨", category="fruit", origin_village_code=OTHER_VILLAGE, skus=one_sku(2000)
    )
    await named(seller, client, "苹果", category="fruit", skus=one_sku(2000))
    # Then q narrows every filter, and every filter narrows q
    assert await listed(client, q="梨", category="fruit") == [far_pear, dear_pear, cheap_pear]
    assert await listed(client, q="梨", category="processed") == [pear_jam]
    assert await listed(client, q="梨", region_code=VILLAGE) == [pear_jam, dear_pear, cheap_pear]
    assert await listed(client, q="梨", region_code=STREET) == [pear_jam, dear_pear, cheap_pear]
    assert await listed(client, q="梨", region_code=OTHER_STREET) == [far_pear]
    assert await listed(client, q="梨", region_code=DISTRICT) == [far_pear, pear_jam, dear_pear, cheap_pear]
    assert await listed(client, q="梨", cooperative_id=other.coop["id"]) == [far_pear]
    assert await listed(client, q="梨", min_price_fen=2000, max_price_fen=3000) == [far_pear, pear_jam]
    assert await listed(client, q="雪花梨", branded="false") == [far_pear]
    assert await listed(client, q="梨", branded="true") == []
    assert await listed(client, q="梨", category="fruit", region_code=VILLAGE, max_price_fen=4000) == [
        cheap_pear
    ]
    assert await listed(client, q="梨", sort="price_asc") == [cheap_pear, far_pear, pear_jam, dear_pear]
    assert await listed(client, q="梨", sort="price_desc", category="fruit") == [
        dear_pear,
        far_pear,
        cheap_pear,
    ]


async def test_cursor_walks_with_q_in_every_sort(client: AsyncTestClient[Any], seller: Seller) -> None:
    prices = [3000, 1000, 2000, 1000, 2000, 1000, 3000]
    ids = [await named(seller, client, f"梨{i}", skus=one_sku(p)) for i, p in enumerate(prices)]
    await named(seller, client, "苹果", skus=one_sku(1500))
    newest, newest_sizes = await walk(client, q="梨", limit=3)
    asc, _ = await walk(client, q="梨", sort="price_asc", limit=2)
    desc, _ = await walk(client, q="梨", sort="price_desc", limit=2)
    assert newest == ids[::-1]
    assert newest_sizes == [3, 3, 1]
    assert asc == [i for _, i in sorted(zip(prices, ids, strict=True))]
    assert desc == asc[::-1]


async def test_a_cursor_stays_stable_when_matches_are_added(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    ids = [await named(seller, client, f"富士{i}") for i in range(4)]
    first = (await client.get(PRODUCTS, params={"q": "富士", "limit": 2})).json()
    await named(seller, client, "新富士")
    second = (
        await client.get(PRODUCTS, params={"q": "富士", "limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [i["id"] for i in first["items"]] == [ids[3], ids[2]]
    assert [i["id"] for i in second["items"]] == [ids[1], ids[0]]
    assert second["next_cursor"] is None


async def test_search_agrees_with_plain_substring_matching(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given products made of a small alphabet, so that queries overlap often
    rng = random.Random(5)
    alphabet = "红富士梨苹果米小椒A b"
    products: dict[str, tuple[str, str]] = {}
    for _ in range(24):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))).strip() or "梨"
        description = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        products[await named(seller, client, name, description)] = (name, description.strip())
    queries = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))).strip() for _ in range(60)}
    # Then for every query the index finds exactly the products whose name or description contains it
    # (Latin letters in either case), newest first
    for q in sorted(queries - {""}):
        expected = [
            pid
            for pid, (name, description) in sorted(products.items(), reverse=True)
            if search.fold(q) in search.fold(name) or search.fold(q) in search.fold(description)
        ]
        assert await listed(client, q=q, limit=100) == expected, q


async def _plan(db: Database, storage: Any, **list_params: Any) -> str:
    """The database's plan for the statement ``list_products`` runs with ``list_params``: the
    statement and parameters are captured as sent, then explained (on PostgreSQL with fresh
    statistics)."""
    from coopmarket.products import service

    sent: list[tuple[str, Any]] = []

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        sent.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await service.list_products(
            db, today=clock.today(db.settings.report_timezone), storage=storage, **list_params
        )
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    statement, parameters = sent[-1]
    async with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("ANALYZE product")
            await conn.exec_driver_sql("ANALYZE cooperative")
            rows = await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        else:
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        plan = "\n".join(str(r[-1]) for r in rows.all())
        await conn.rollback()
    return plan


async def test_the_search_index_serves_short_and_long_queries(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    # Given a catalogue of 3,000 cabbages and a few rarer products
    now = clock.now()
    async with db.session() as session:
        await session.execute(
            insert(Product),
            [
                {
                    "id": new_id(),
                    "cooperative_id": seller.coop["id"],
                    "name": f"大白菜{n}号",
                    "category": "vegetables",
                    "description": "坊子区沙土地种植，新鲜采摘",
                    "unit": "棵",
                    "origin_village_code": VILLAGE,
                    "status": "active",
                    "min_price_fen": 500 + n,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(3000)
            ],
        )
        await session.commit()
    for name in ("黄金梨", "红富士", "小米", "小米椒"):
        await named(seller, client, name, "坊子区")
    # When the database plans q of one, two and three characters, in relevance and newest order
    for q in ("梨", "富士", "红富士"):
        for sort in ("relevance", "newest"):
            plan = await _plan(db, client.app.state.storage, q=q, sort=sort)
            # Then the plan reads the search index
            if db.dialect == "postgresql":
                assert "ix_product_search_grams" in plan, (q, sort, plan)
            else:
                assert "product_search_gram USING PRIMARY KEY (gram=" in plan, (q, sort, plan)
