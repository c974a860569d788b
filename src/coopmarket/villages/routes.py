"""HTTP routes of the villages slice: assets, contracts and their entries; ``routes`` also mounts
``collection_routes`` (receipts, write-offs, arrears, the campaign view)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from coopmarket.core.http import AppSettings, Caller, Db, Session
from coopmarket.core.openapi import problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from coopmarket.villages import (
    assets,
    collection,
    collection_routes,
    communities,
    contracts,
    entries,
    history,
    reads,
)
from coopmarket.villages.schemas import (
    AmendmentIn,
    AssetIn,
    AssetKind,
    AssetList,
    AssetOut,
    AssetPatch,
    AssetStatus,
    CollectionHistory,
    CommunityIn,
    ContractIn,
    ContractList,
    ContractOut,
    ContractState,
    FlagResolveIn,
    IdleAssetReport,
    InstalmentList,
    ReminderIn,
    ReminderOut,
    RenewalIn,
    TerminationIn,
)

Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, QueryParameter(name="cursor", max_length=200)]
RegionCode = Annotated[
    str | None,
    QueryParameter(
        name="region_code",
        min_length=6,
        max_length=12,
        description="The district, a street or a village; default: yours",
    ),
]
REGION_PROBLEMS = {403: ["forbidden_role"], 404: ["region_not_found"]}
CONTRACT_ENTRY_PROBLEMS = problems(
    400,
    401,
    413,
    codes={
        403: ["forbidden_role"],
        404: ["contract_not_found"],
        409: ["contract_not_current"],
        422: ["invalid_term"],
    },
)
TAGS = ["village assets and contracts"]


def _download(content: bytes, media_type: str, filename: str) -> Response[Any]:
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


class VillageRegisterController(Controller):
    path = "/api/v1/villages"
    tags = TAGS

    @get(
        "/{code:str}/assets",
        summary="A village's assets and resources (staff in scope)",
        responses=problems(
            400, 401, codes={403: ["forbidden_role"], 404: ["village_not_found"], 422: ["invalid_cursor"]}
        ),
    )
    async def list_assets(
        self,
        db: Db,
        principal: Caller,
        code: FromPath[str],
        status: Annotated[AssetStatus | None, QueryParameter(name="status")] = None,
        kind: Annotated[AssetKind | None, QueryParameter(name="kind")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> AssetList:
        """The village's register in the order assets were added."""
        async with db.read() as conn:
            return await assets.list_assets(
                conn, principal, code, status=status, kind=kind, limit=limit, cursor=cursor
            )

    @post(
        "/{code:str}/assets",
        status_code=201,
        summary="Add an asset to a village's register (its village staff)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["village_not_found"],
                422: ["invalid_size", "invalid_valuation", "date_in_future"],
            },
        ),
    )
    async def register_asset(
        self,
        data: JSONBody[AssetIn],
        session: Session,
        settings: AppSettings,
        principal: Caller,
        code: FromPath[str],
    ) -> AssetOut:
        """201 with the asset; audited."""
        return await assets.register_asset(session, principal, code, data, timezone=settings.report_timezone)

    @get(
        "/{code:str}/contracts",
        summary="A village's contract entries (staff in scope)",
        responses=problems(
            400, 401, codes={403: ["forbidden_role"], 404: ["village_not_found"], 422: ["invalid_cursor"]}
        ),
    )
    async def list_contracts(
        self,
        db: Db,
        settings: AppSettings,
        principal: Caller,
        code: FromPath[str],
        contract_state: Annotated[ContractState | None, QueryParameter(name="state")] = None,
        flagged: Annotated[
            bool | None,
            QueryParameter(
                name="flagged", description="Only those with (true) or without (false) open findings"
            ),
        ] = None,
        asset_id: Annotated[str | None, QueryParameter(name="asset_id", max_length=26)] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> ContractList:
        """Entries in the order they were registered; identity numbers masked but for the village's staff."""
        async with db.read() as conn:
            return await reads.list_contracts(
                conn,
                principal,
                code,
                timezone=settings.report_timezone,
                state=contract_state,
                flagged=flagged,
                asset_id=asset_id,
                limit=limit,
                cursor=cursor,
            )

    @post(
        "/{code:str}/contracts",
        status_code=201,
        summary="Register a contract letting a village asset (its village staff); answers its findings",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["village_not_found"],
                422: [
                    "unknown_asset",
                    "invalid_counterparty",
                    "invalid_identity_number",
                    "invalid_uscc",
                    "unknown_cooperative",
                    "invalid_term",
                ],
            },
        ),
    )
    async def register_contract(
        self,
        data: JSONBody[ContractIn],
        session: Session,
        settings: AppSettings,
        principal: Caller,
        code: FromPath[str],
    ) -> ContractOut:
        """201 with the contract, its instalments' totals and `flags` (irregularities found); audited."""
        return await contracts.register_contract(session, settings, principal, code, data)


class AssetController(Controller):
    path = "/api/v1/assets"
    tags = TAGS

    @patch(
        "/{asset_id:str}",
        summary="Change an asset (its village staff); a status change is dated today",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["asset_not_found"],
                422: ["invalid_size", "invalid_valuation", "date_in_future"],
            },
        ),
    )
    async def update_asset(
        self,
        data: JSONBody[AssetPatch],
        session: Session,
        settings: AppSettings,
        principal: Caller,
        asset_id: FromPath[str],
    ) -> AssetOut:
        """The asset after the change; audited with before and after."""
        return await assets.update_asset(
            session, principal, asset_id, data, timezone=settings.report_timezone
        )


class IdleAssetController(Controller):
    path = "/api/v1/idle-assets"
    tags = TAGS

    @get(
        "",
        summary="Idle assets by street, longest idle first (staff in scope)",
        responses=problems(400, 401, codes={**REGION_PROBLEMS, 422: ["invalid_region_level"]}),
    )
    async def idle_assets(
        self, db: Db, settings: AppSettings, principal: Caller, region_code: RegionCode = None
    ) -> IdleAssetReport:
        """Idle assets with how long each has been idle, and a count per street."""
        async with db.read() as conn:
            return await assets.idle_assets(conn, principal, region_code, timezone=settings.report_timezone)


class ContractController(Controller):
    path = "/api/v1/contracts"
    tags = TAGS

    @get(
        "/{contract_id:str}",
        summary="One contract entry (staff in scope)",
        responses=problems(400, 401, codes={403: ["forbidden_role"], 404: ["contract_not_found"]}),
    )
    async def get_contract(
        self, db: Db, settings: AppSettings, principal: Caller, contract_id: FromPath[str]
    ) -> ContractOut:
        """The entry with its findings and what is paid and in arrears today."""
        async with db.read() as conn:
            return await reads.get_contract(conn, principal, contract_id, timezone=settings.report_timezone)

    @get(
        "/{contract_id:str}/instalments",
        summary="A contract entry's instalments (staff in scope)",
        responses=problems(400, 401, codes={403: ["forbidden_role"], 404: ["contract_not_found"]}),
    )
    async def list_instalments(
        self, db: Db, settings: AppSettings, principal: Caller, contract_id: FromPath[str]
    ) -> InstalmentList:
        """`{id, due_on, amount_fen, paid_fen, status}` in schedule order; status as of today."""
        async with db.read() as conn:
            return await collection.list_instalments(
                conn, principal, contract_id, timezone=settings.report_timezone
            )

    @post(
        "/{contract_id:str}/amendments",
        status_code=201,
        summary="Amend a contract from a date (its village staff): a new entry referencing it",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["contract_not_found"],
                409: ["contract_not_current", "amendment_overlaps_settled_period"],
                422: ["invalid_term"],
            },
        ),
    )
    async def amend(
        self,
        data: JSONBody[AmendmentIn],
        session: Session,
        settings: AppSettings,
        principal: Caller,
        contract_id: FromPath[str],
    ) -> ContractOut:
        """201 with the amendment; the amended entry ends the day before `effective_on`; audited."""
        return await entries.amend_contract(session, settings, principal, contract_id, data)

    @post(
        "/{contract_id:str}/renewals",
        status_code=201,
        summary="Renew a contract (its village staff): a new entry from the day after it ends",
        responses=CONTRACT_ENTRY_PROBLEMS,
    )
    async def renew(
        self,
        data: JSONBody[RenewalIn],
        session: Session,
        settings: AppSettings,
        principal: Caller,
        contract_id: FromPath[str],
    ) -> ContractOut:
        """201 with the renewal; audited."""
        return await entries.renew_contract(session, settings, principal, contract_id, data)

    @post(
        "/{contract_id:str}/termination",
        status_code=201,
        summary="Terminate a contract early (its village staff)",
        responses=CONTRACT_ENTRY_PROBLEMS,
    )
    async def terminate(
        self,
        data: JSONBody[TerminationIn],
        session: Session,
        settings: AppSettings,
        principal: Caller,
        contract_id: FromPath[str],
    ) -> ContractOut:
        """201 with the terminated entry; rent after its last day is cut pro rata; audited."""
        return await entries.terminate_contract(session, settings, principal, contract_id, data)

    @post(
        "/{contract_id:str}/reminders",
        status_code=201,
        summary="Record a reminder sent to the counterparty (staff in scope)",
        responses=problems(
            400,
            401,
            413,
            codes={403: ["forbidden_role"], 404: ["contract_not_found"], 422: ["date_in_future"]},
        ),
    )
    async def send_reminder(
        self,
        data: JSONBody[ReminderIn],
        session: Session,
        settings: AppSettings,
        principal: Caller,
        contract_id: FromPath[str],
    ) -> ReminderOut:
        """201 with the reminder and what was in arrears when it was recorded; audited."""
        return await history.send_reminder(
            session, principal, contract_id, data, timezone=settings.report_timezone
        )

    @get(
        "/{contract_id:str}/collection",
        summary="A contract entry's collection history (staff in scope)",
        responses=problems(400, 401, codes={403: ["forbidden_role"], 404: ["contract_not_found"]}),
    )
    async def collection_history(
        self, db: Db, settings: AppSettings, principal: Caller, contract_id: FromPath[str]
    ) -> CollectionHistory:
        """Reminders, money recovered, write-offs and amounts cut, oldest first."""
        async with db.read() as conn:
            return await history.collection_history(
                conn, principal, contract_id, timezone=settings.report_timezone
            )

    @post(
        "/{contract_id:str}/flags/{code:str}/resolve",
        status_code=200,
        summary="Close an open finding of a contract (street or district staff)",
        responses=problems(
            400, 401, 413, 422, codes={403: ["forbidden_role"], 404: ["contract_not_found", "flag_not_found"]}
        ),
    )
    async def resolve_flag(
        self,
        data: JSONBody[FlagResolveIn],
        session: Session,
        settings: AppSettings,
        principal: Caller,
        contract_id: FromPath[str],
        code: FromPath[str],
    ) -> ContractOut:
        """The contract with the finding closed and the resolution recorded; audited."""
        return await contracts.resolve_flag(
            session, principal, contract_id, code, data, timezone=settings.report_timezone
        )


class CommunityController(Controller):
    path = "/api/v1/regions/communities"
    tags = ["regions"]

    @post(
        "",
        status_code=201,
        summary="Create a rural community of villages of one street (district staff)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["region_not_found"],
                409: ["village_in_community", "community_codes_exhausted", "concurrent_update"],
                422: ["invalid_region", "duplicate_village"],
            },
        ),
    )
    async def create_community(
        self, data: JSONBody[CommunityIn], session: Session, principal: Caller
    ) -> communities.CommunityOut:
        """`{name, street_code, village_codes}` → 201; a village belongs to at most one community. Audited."""
        return await communities.create_community(session, principal, data)


routes = [
    CommunityController,
    VillageRegisterController,
    AssetController,
    IdleAssetController,
    ContractController,
    *collection_routes.routes,
]
