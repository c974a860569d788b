"""Sign-up, sign-in, the caller's profile and staff accounts."""

from __future__ import annotations

from typing import TypeAlias

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from coopmarket.accounts import service
from coopmarket.accounts.schemas import (
    AccountOut,
    DeactivateIn,
    LoginIn,
    PasswordChangeIn,
    RegisterIn,
    StaffIn,
    TokenOut,
    UserOut,
    WechatLoginIn,
)
from coopmarket.core.http import AppSettings, Caller, Db, Session
from coopmarket.core.openapi import NO_TOKEN_NEEDED, problem, problems
from coopmarket.core.ratelimit import PhoneAttempts

# ``app.py`` provides it: the coops slice's lookup of the cooperatives a user manages.
ManagedCooperatives: TypeAlias = NamedDependency[service.ManagedCooperatives]
PhoneAttemptsDep: TypeAlias = NamedDependency[PhoneAttempts]


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["accounts"]

    @post(
        "/register",
        status_code=201,
        summary="Register a buyer account",
        security=NO_TOKEN_NEEDED,
        responses=problems(400, 413, 422, 429, codes={409: ["registration_refused"]}),
    )
    async def register(
        self,
        data: JSONBody[RegisterIn],
        session: Session,
        settings: AppSettings,
        phone_attempts: PhoneAttemptsDep,
    ) -> TokenOut:
        """Create a buyer with phone and password and return an access token."""
        return await service.register(session, settings, data, phone_attempts)

    @post(
        "/login",
        status_code=200,
        summary="Sign in with phone and password",
        security=NO_TOKEN_NEEDED,
        responses={
            **problems(400, 413, 422, 429),
            401: problem(401, "invalid_credentials", usual=False),
        },
    )
    async def login(
        self,
        data: JSONBody[LoginIn],
        session: Session,
        settings: AppSettings,
        managed_cooperatives: ManagedCooperatives,
        phone_attempts: PhoneAttemptsDep,
    ) -> TokenOut:
        """Exchange phone and password for an access token (limited per client and per phone)."""
        return await service.login(session, settings, data, managed_cooperatives, phone_attempts)

    @post(
        "/wechat",
        status_code=200,
        summary="Sign in from the WeChat mini-program",
        security=NO_TOKEN_NEEDED,
        responses={
            **problems(
                400,
                413,
                422,
                codes={
                    403: ["wechat_user_blocked"],
                    429: ["wechat_rate_limited"],
                    502: ["wechat_error"],
                    503: ["wechat_not_configured", "wechat_unavailable", "wechat_busy"],
                },
            ),
            401: problem(401, "wechat_code_invalid", "account_disabled", usual=False),
        },
    )
    async def wechat(
        self,
        data: JSONBody[WechatLoginIn],
        session: Session,
        settings: AppSettings,
        state: State,
        managed_cooperatives: ManagedCooperatives,
    ) -> TokenOut:
        """Exchange a ``wx.login`` code (via ``jscode2session``) for an access token."""
        return await service.wechat_login(session, settings, state.wechat, data.code, managed_cooperatives)


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["accounts"]

    @get("/", summary="The signed-in user", responses=problems(401))
    async def me(self, db: Db, principal: Caller) -> UserOut:
        """The caller's id, role, masked phone, cooperatives and region."""
        async with db.read() as conn:
            return await service.me(conn, principal)

    @post(
        "/password",
        status_code=204,
        summary="Change the password (needs the current one); every older token stops working",
        responses=problems(400, 401, 413, codes={401: ["invalid_credentials"]}),
    )
    async def change_password(
        self, data: JSONBody[PasswordChangeIn], session: Session, principal: Caller
    ) -> None:
        """Sign in again afterwards: every token issued before is refused at once."""
        await service.change_password(session, principal, data)

    @post(
        "/sign-out-everywhere",
        status_code=204,
        summary="Sign out on every device: every token issued so far stops working",
        responses=problems(400, 401),
    )
    async def sign_out_everywhere(self, session: Session, principal: Caller) -> None:
        """The token version moves on; old tokens answer 401 ``invalid_token``."""
        await service.sign_out_everywhere(session, principal)


class StaffController(Controller):
    path = "/api/v1/staff"
    tags = ["accounts"]

    @post(
        "/",
        status_code=201,
        summary="Create a staff account (district staff)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role", "region_out_of_scope"],
                409: ["phone_taken"],
                422: ["invalid_region"],
            },
        ),
    )
    async def create_staff(self, data: JSONBody[StaffIn], session: Session, principal: Caller) -> UserOut:
        """District staff create street, village or district staff for a region in their scope."""
        return await service.create_staff(session, principal, data)


ACCOUNT_DECISION_PROBLEMS = problems(
    400,
    401,
    413,
    codes={403: ["forbidden_role"], 404: ["user_not_found"], 409: ["own_account"]},
)


class UserAccountController(Controller):
    path = "/api/v1/users"
    tags = ["accounts"]

    @post(
        "/{user_id:str}/deactivate",
        status_code=200,
        summary="Deactivate an account (district staff); its tokens stop working at once",
        responses=ACCOUNT_DECISION_PROBLEMS,
    )
    async def deactivate(
        self, session: Session, principal: Caller, user_id: FromPath[str], data: JSONBody[DeactivateIn]
    ) -> AccountOut:
        """The user can no longer sign in; every token issued so far is refused. Audited."""
        return await service.set_active(session, principal, user_id, active=False, reason=data.reason)

    @post(
        "/{user_id:str}/reactivate",
        status_code=200,
        summary="Reactivate a deactivated account (district staff)",
        responses=ACCOUNT_DECISION_PROBLEMS,
    )
    async def reactivate(self, session: Session, principal: Caller, user_id: FromPath[str]) -> AccountOut:
        """The user may sign in again (old tokens stay refused). Audited."""
        return await service.set_active(session, principal, user_id, active=True)


routes = [AuthController, MeController, StaffController, UserAccountController]
