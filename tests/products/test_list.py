"""``GET /api/v1/products``: the public catalogue, its filters, sort orders and cursors."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.core.pagination import encode_cursor
from tests.factories import DISTRICT, OTHER_VILLAGE, STREET, VILLAGE, Actor, create_product
from tests.products.builders import PRODUCTS, Seller, new_seller


def one_sku(price_fen: int) -> list[dict[str, Any]]:
    return [{"code": "ONLY", "spec": "一份", "price_fen": price_fen, "stock": 10}]


async def listed(client: AsyncTestClient[Any], **params: Any) -> list[str]:
    response = await client.get(PRODUCTS, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def walk(client: AsyncTestClient[Any], **params: Any) -> tuple[list[str], list[int]]:
    """Every id over all pages, and each page's size."""
    ids: list[str] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        response = await client.get(PRODUCTS, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [item["id"] for item in page["items"]]
        sizes.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            return ids, sizes


async def test_list_item_carries_the_lowest_price_and_no_cover_yet(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given a product with two SKUs
    skus = [
        {"code": "BIG", "spec": "10斤", "price_fen": 6990, "stock": 1},
        {"code": "SMALL", "spec": "5斤", "price_fen": 3990, "stock": 1},
    ]
    product = await create_product(client, seller.manager, seller.coop["id"], name="坊子烟薯", skus=skus)
    # When anyone lists the catalogue
    response = await client.get(PRODUCTS)
    # Then the item shows the lowest price
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "id": product["id"],
                "name": "坊子烟薯",
                "category": "vegetables",
                "unit": "box",
                "cooperative_id": seller.coop["id"],
                "origin_village_code": VILLAGE,
                "is_branded": False,
                "price_fen": 3990,
                "cover_image_url": None,
                "created_at": product["created_at"],
            }
        ],
        "next_cursor": None,
    }


async def test_newest_first_by_default(client: AsyncTestClient[Any], seller: Seller) -> None:
    ids = [(await create_product(client, seller.manager, seller.coop["id"]))["id"] for _ in range(3)]
    assert await listed(client) == ids[::-1]
    assert await listed(client, sort="newest") == ids[::-1]


async def test_filter_by_category(client: AsyncTestClient[Any], seller: Seller) -> None:
    fruit = await create_product(client, seller.manager, seller.coop["id"], category="fruit")
    await create_product(client, seller.manager, seller.coop["id"], category="tea")
    assert await listed(client, category="fruit") == [fruit["id"]]


async def test_unknown_category_filter_is_422(client: AsyncTestClient[Any]) -> None:
    response = await client.get(PRODUCTS, params={"category": "electronics"})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_filter_by_region_prefix(client: AsyncTestClient[Any], seller: Seller) -> None:
    # Given one product from 赵家村 (凤凰街道) and one from a village of 坊安街道
    here = await create_product(client, seller.manager, seller.coop["id"], origin_village_code=VILLAGE)
    there = await create_product(client, seller.manager, seller.coop["id"], origin_village_code=OTHER_VILLAGE)
    # Then a village, its street and the district each contain what lies under them
    assert await listed(client, region_code=VILLAGE) == [here["id"]]
    assert await listed(client, region_code=STREET) == [here["id"]]
    assert await listed(client, region_code=OTHER_VILLAGE) == [there["id"]]
    assert await listed(client, region_code=DISTRICT) == [there["id"], here["id"]]


async def test_filter_by_cooperative(client: AsyncTestClient[Any], staff: Actor, seller: Seller) -> None:
    other = await new_seller(client, staff)
    mine = await create_product(client, seller.manager, seller.coop["id"])
    theirs = await create_product(client, other.manager, other.coop["id"])
    assert await listed(client, cooperative_id=seller.coop["id"]) == [mine["id"]]
    assert await listed(client, cooperative_id=other.coop["id"]) == [theirs["id"]]


async def test_branded_filter(client: AsyncTestClient[Any], seller: Seller) -> None:
    # Given a product (no brand licences exist yet)
    product = await create_product(client, seller.manager, seller.coop["id"])
    # Then branded=true finds nothing and branded=false finds it
    assert await listed(client, branded="true") == []
    assert await listed(client, branded="false") == [product["id"]]


async def test_filter_by_price_range(client: AsyncTestClient[Any], seller: Seller) -> None:
    cheap = await create_product(client, seller.manager, seller.coop["id"], skus=one_sku(1000))
    middle = await create_product(client, seller.manager, seller.coop["id"], skus=one_sku(2000))
    dear = await create_product(client, seller.manager, seller.coop["id"], skus=one_sku(3000))
    assert await listed(client, min_price_fen=2000) == [dear["id"], middle["id"]]
    assert await listed(client, max_price_fen=2000) == [middle["id"], cheap["id"]]
    assert await listed(client, min_price_fen=1500, max_price_fen=2500) == [middle["id"]]


async def test_sort_by_price_ascending_ties_by_id(client: AsyncTestClient[Any], seller: Seller) -> None:
    a = await create_product(client, seller.manager, seller.coop["id"], skus=one_sku(2000))
    b = await create_product(client, seller.manager, seller.coop["id"], skus=one_sku(1000))
    c = await create_product(client, seller.manager, seller.coop["id"], skus=one_sku(2000))
    assert await listed(client, sort="price_asc") == [b["id"], a["id"], c["id"]]


async def test_sort_by_price_descending_ties_by_id(client: AsyncTestClient[Any], seller: Seller) -> None:
    a = await create_product(client, seller.manager, seller.coop["id"], skus=one_sku(2000))
    b = await create_product(client, seller.manager, seller.coop["id"], skus=one_sku(3000))
    c = await create_product(client, seller.manager, seller.coop["id"], skus=one_sku(2000))
    assert await listed(client, sort="price_desc") == [b["id"], c["id"], a["id"]]


async def test_q_finds_a_chinese_word_in_the_name(client: AsyncTestClient[Any], seller: Seller) -> None:
    sweet_potato = await create_product(
        client, seller.manager, seller.coop["id"], name="坊子烟薯", description="沙土地种植"
    )
    await create_product(client, seller.manager, seller.coop["id"], name="潍县萝卜", description="脆甜多汁")
    assert await listed(client, q="烟薯") == [sweet_potato["id"]]


async def test_q_finds_a_two_character_word_only_in_the_description(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    soft = await create_product(
        client, seller.manager, seller.coop["id"], name="红心地瓜", description="蒸熟后香甜软糯"
    )
    await create_product(client, seller.manager, seller.coop["id"], name="潍县萝卜", description="脆甜多汁")
    assert await listed(client, q="软糯") == [soft["id"]]


async def test_q_ignores_letter_case(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(
        client, seller.manager, seller.coop["id"], name="Fangzi Sweet Potato", description=""
    )
    await create_product(client, seller.manager, seller.coop["id"], name="潍县萝卜", description="")
    assert await listed(client, q="sWEET") == [product["id"]]


async def test_q_takes_like_wildcards_literally(client: AsyncTestClient[Any], seller: Seller) -> None:
    pure = await create_product(
        client, seller.manager, seller.coop["id"], name="100%纯花生油", description=""
    )
    graded = await create_product(
        client, seller.manager, seller.coop["id"], name="花生油", description="压榨_一级"
    )
    await create_product(client, seller.manager, seller.coop["id"], name="玉米油", description="一级")
    assert await listed(client, q="%") == [pure["id"]]
    assert await listed(client, q="_") == [graded["id"]]


async def test_relevance_ranks_exact_name_then_prefix_then_name_then_description(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given, oldest first: a description-only match, a name containing q, a name starting with q,
    # the exact name, and a second name containing q
    text_only = await create_product(
        client, seller.manager, seller.coop["id"], name="红心地瓜", description="与烟薯同田种植"
    )
    old_inside = await create_product(client, seller.manager, seller.coop["id"], name="坊子烟薯", description="")
    prefix = await create_product(client, seller.manager, seller.coop["id"], name="烟薯礼盒", description="")
    exact = await create_product(client, seller.manager, seller.coop["id"], name="烟薯", description="")
    new_inside = await create_product(client, seller.manager, seller.coop["id"], name="红心烟薯", description="")
    # Then the exact name comes first, then the prefix, then names containing it (newest first
    # within a group), then the description-only match
    assert await listed(client, q="烟薯", sort="relevance") == [
        exact["id"],
        prefix["id"],
        new_inside["id"],
        old_inside["id"],
        text_only["id"],
    ]


async def test_relevance_without_q_is_newest(client: AsyncTestClient[Any], seller: Seller) -> None:
    ids = [(await create_product(client, seller.manager, seller.coop["id"]))["id"] for _ in range(3)]
    assert await listed(client, sort="relevance") == ids[::-1]


async def test_cursor_walk_returns_every_product_once_newest(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    ids = [(await create_product(client, seller.manager, seller.coop["id"]))["id"] for _ in range(7)]
    walked, sizes = await walk(client, limit=3)
    assert walked == ids[::-1]
    assert sizes == [3, 3, 1]


async def test_cursor_walk_by_price_with_ties(client: AsyncTestClient[Any], seller: Seller) -> None:
    # Given seven products, several at the same price
    prices = [3000, 1000, 2000, 1000, 2000, 1000, 3000]
    ids = [
        (await create_product(client, seller.manager, seller.coop["id"], skus=one_sku(p)))["id"]
        for p in prices
    ]
    expected_asc = [i for _, i in sorted(zip(prices, ids, strict=True))]
    # When walking two at a time in each price order
    asc, asc_sizes = await walk(client, sort="price_asc", limit=2)
    desc, _ = await walk(client, sort="price_desc", limit=2)
    # Then every product comes exactly once, in order
    assert asc == expected_asc
    assert asc_sizes == [2, 2, 2, 1]
    assert desc == expected_asc[::-1]


async def test_cursor_walk_by_relevance(client: AsyncTestClient[Any], seller: Seller) -> None:
    names = ["烟薯A", "地瓜B", "烟薯C", "地瓜D", "烟薯E"]
    ids = [
        (await create_product(client, seller.manager, seller.coop["id"], name=n, description="烟薯同田"))[
            "id"
        ]
        for n in names
    ]
    walked, sizes = await walk(client, q="烟薯", sort="relevance", limit=2)
    assert walked == [ids[4], ids[2], ids[0], ids[3], ids[1]]
    assert sizes == [2, 2, 1]


async def test_cursor_is_stable_under_inserts(client: AsyncTestClient[Any], seller: Seller) -> None:
    # Given four products and the first page of two
    ids = [(await create_product(client, seller.manager, seller.coop["id"]))["id"] for _ in range(4)]
    first = (await client.get(PRODUCTS, params={"limit": 2})).json()
    # When a product is added before the next page is asked for
    await create_product(client, seller.manager, seller.coop["id"])
    second = (await client.get(PRODUCTS, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    # Then the second page continues where the first ended
    assert [i["id"] for i in first["items"]] == [ids[3], ids[2]]
    assert [i["id"] for i in second["items"]] == [ids[1], ids[0]]


async def test_limit_above_100_is_422(client: AsyncTestClient[Any]) -> None:
    response = await client.get(PRODUCTS, params={"limit": 101})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_limit_100_is_accepted(client: AsyncTestClient[Any]) -> None:
    response = await client.get(PRODUCTS, params={"limit": 100})
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


async def test_malformed_cursor_is_422(client: AsyncTestClient[Any]) -> None:
    response = await client.get(PRODUCTS, params={"cursor": "not a cursor!"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"


async def test_cursor_with_wrong_value_types_is_422(client: AsyncTestClient[Any]) -> None:
    cursor = encode_cursor(["price_asc", "cheap", 7])
    response = await client.get(PRODUCTS, params={"cursor": cursor, "sort": "price_asc"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"


async def test_cursor_from_another_sort_is_422(client: AsyncTestClient[Any], seller: Seller) -> None:
    for _ in range(2):
        await create_product(client, seller.manager, seller.coop["id"])
    cursor = (await client.get(PRODUCTS, params={"limit": 1, "sort": "price_asc"})).json()["next_cursor"]
    response = await client.get(PRODUCTS, params={"cursor": cursor, "sort": "price_desc"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"
