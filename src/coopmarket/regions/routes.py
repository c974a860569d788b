"""Public read access to the region tree."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get
from litestar.params import FromPath, QueryParameter

from coopmarket.core.http import Db
from coopmarket.core.openapi import NO_TOKEN_NEEDED, problems
from coopmarket.regions import service
from coopmarket.regions.schemas import RegionDetail, RegionList

Level = Literal["district", "street", "community", "village"]


class RegionController(Controller):
    path = "/api/v1/regions"
    tags = ["regions"]

    @get("/", summary="List regions", security=NO_TOKEN_NEEDED, responses=problems(400, 422))
    async def list_regions(
        self,
        db: Db,
        parent_code: Annotated[str | None, QueryParameter(name="parent_code", max_length=12)] = None,
        level: Annotated[Level | None, QueryParameter(name="level")] = None,
    ) -> RegionList:
        """Regions of Fangzi, filtered by parent and level."""
        async with db.read() as conn:
            return await service.list_regions(conn, parent_code=parent_code, level=level)

    @get(
        "/{code:str}",
        summary="One region with its parent chain",
        security=NO_TOKEN_NEEDED,
        responses=problems(400, codes={404: ["region_not_found"]}),
    )
    async def get_region(self, db: Db, code: FromPath[str]) -> RegionDetail:
        """One region and its parents up to the district."""
        async with db.read() as conn:
            return await service.get_region(conn, code)


routes = [RegionController]
