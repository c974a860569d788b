"""HTTP routes of product certificates: add, list with history, correct, withdraw."""

from __future__ import annotations

from litestar import Controller, get, patch, post
from litestar.params import FromPath, JSONBody

from coopmarket.core.http import AppSettings, Caller, Db, Session, Today
from coopmarket.core.openapi import problems
from coopmarket.products import certifications
from coopmarket.products.schemas import (
    CertificationIn,
    CertificationList,
    CertificationPatch,
    CertificationRecordOut,
    WithdrawIn,
)

INVALID_CERTIFICATION = [
    "invalid_certification",
    "invalid_certification_number",
    "invalid_certification_dates",
]


class ProductCertificationsController(Controller):
    path = "/api/v1/products/{product_id:str}/certifications"
    tags = ["catalogue"]

    @post(
        "/",
        status_code=201,
        summary="Add a certificate to a product (its manager)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["product_not_found"],
                409: ["certification_exists"],
                422: INVALID_CERTIFICATION,
            },
        ),
    )
    async def add_certification(
        self,
        product_id: FromPath[str],
        data: JSONBody[CertificationIn],
        session: Session,
        principal: Caller,
        today: Today,
    ) -> CertificationRecordOut:
        """Record a green food, organic, geographical indication or compliance certificate."""
        return await certifications.add_certification(session, principal, product_id, data, today=today)

    @get(
        "/",
        summary="A product's certificates with their history (its managers, staff in scope)",
        responses=problems(400, 401, codes={403: ["forbidden_role"], 404: ["product_not_found"]}),
    )
    async def list_certifications(
        self, product_id: FromPath[str], db: Db, principal: Caller, today: Today
    ) -> CertificationList:
        """Every certificate of the product, withdrawn ones included, each with every version."""
        async with db.read() as conn:
            return await certifications.list_certifications(conn, principal, product_id, today=today)


class CertificationController(Controller):
    path = "/api/v1/certifications/{certification_id:str}"
    tags = ["catalogue"]

    @patch(
        "/",
        summary="Correct a certificate (the product's manager)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["certification_not_found"],
                409: ["certification_exists", "certification_withdrawn"],
                422: INVALID_CERTIFICATION,
            },
        ),
    )
    async def correct_certification(
        self,
        certification_id: FromPath[str],
        data: JSONBody[CertificationPatch],
        session: Session,
        principal: Caller,
        today: Today,
        settings: AppSettings,
    ) -> CertificationRecordOut:
        """Correct number, issuer or dates with a reason; the previous version stays in the history."""
        return await certifications.correct_certification(
            session,
            principal,
            certification_id,
            data,
            today=today,
            required_kinds=settings.brand_licence_required_certifications,
        )

    @post(
        "/withdraw",
        status_code=200,
        summary="Withdraw a certificate (the product's manager)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["certification_not_found"],
                409: ["certification_withdrawn"],
                422: ["invalid_certification"],
            },
        ),
    )
    async def withdraw_certification(
        self,
        certification_id: FromPath[str],
        data: JSONBody[WithdrawIn],
        session: Session,
        principal: Caller,
        today: Today,
        settings: AppSettings,
    ) -> CertificationRecordOut:
        """Withdraw a certificate with a reason; a brand licence it leaves uncovered is suspended."""
        return await certifications.withdraw_certification(
            session,
            principal,
            certification_id,
            data,
            today=today,
            required_kinds=settings.brand_licence_required_certifications,
        )


routes = [ProductCertificationsController, CertificationController]
