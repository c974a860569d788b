"""Accounts: registration, login (password and WeChat), tokens, staff, the caller's identity.

Which cooperatives a user manages is the coops slice's knowledge, and coops depends on accounts
(registering a cooperative promotes its manager), not the reverse: the functions that put a
user's cooperatives into a token or a principal take that lookup as a parameter
(``ManagedCooperatives``), which ``app.py`` wires to ``coops.service.managed_cooperative_ids``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.accounts import security
from coopmarket.accounts.models import User
from coopmarket.accounts.schemas import (
    AccountOut,
    LoginIn,
    PasswordChangeIn,
    RegisterIn,
    StaffIn,
    TokenOut,
    UserOut,
)
from coopmarket.accounts.wechat import WechatClient
from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    Unauthorized,
    ValidationFailed,
)
from coopmarket.core.phone import mask_phone
from coopmarket.core.principal import BUYER, COOP_MANAGER, DISTRICT_STAFF, Principal
from coopmarket.core.ratelimit import PhoneAttempts
from coopmarket.db import Database, Executor, fetch_all, require_no_transaction
from coopmarket.regions import service as regions_service
from coopmarket.settings import Settings

# The ids of the cooperatives a user manages, sorted (the coops slice answers; see above).
ManagedCooperatives: TypeAlias = Callable[[Executor, str], Awaitable[list[str]]]

STAFF_LEVEL = {"district_staff": "district", "street_staff": "street", "village_staff": "village"}
_INVALID_TOKEN_HEADERS = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def _display_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise ValidationFailed(
            "The display name is empty.", errors=[FieldError("display_name", "must not be blank")]
        )
    return name


async def _hash(password: str) -> str:
    # Argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    return await asyncio.to_thread(security.hash_password, password)


def _user_out(user: User, cooperative_ids: list[str]) -> UserOut:
    return UserOut(
        id=user.id,
        role=user.role,
        display_name=user.display_name,
        phone_masked=mask_phone(user.phone),
        cooperative_ids=cooperative_ids,
        region_code=user.region_code,
    )


def _token_for(settings: Settings, user: User, cooperative_ids: list[str]) -> TokenOut:
    token = security.issue_token(
        user_id=user.id,
        token_version=user.token_version,
        secret=settings.jwt_secret.get_secret_value(),
        issuer=settings.jwt_issuer,
        now=clock.now(),
        ttl=settings.jwt_ttl_seconds,
    )
    return TokenOut(
        access_token=token,
        token_type="Bearer",  # noqa: S106 - the scheme name, not a secret
        expires_in=settings.jwt_ttl_seconds,
        user=_user_out(user, cooperative_ids),
    )


async def register(
    session: AsyncSession, settings: Settings, data: RegisterIn, attempts: PhoneAttempts | None = None
) -> TokenOut:
    """Create a buyer account and sign it in; a phone number registers once. Over HTTP every attempt
    counts against the phone number's budget first (``attempts``; the demo seeding passes none).

    A number that already has an account answers 409 ``registration_refused`` with a sentence that
    does not say why, after the same work as a success (the password is hashed and the insert
    tried in both cases; there is no prior lookup), so neither the text nor the timing says more
    than the status. The status itself still differs from a new number's 201: without a proof
    that the caller holds the phone (an SMS code, not built) that cannot be avoided while a new
    number gets a token at once; the per-phone and per-address limits bound how many numbers can
    be probed (docs/API-NOTES.md)."""
    if attempts is not None:
        require_no_transaction(session, "counting the attempt")
        await attempts.hit(data.phone)
    user = User(
        phone=data.phone,
        password_hash=await _hash(data.password),
        display_name=_display_name(data.display_name),
        role=BUYER,
    )
    session.add(user)
    try:
        await session.flush()  # the unique phone decides a race, not a prior SELECT
    except IntegrityError as exc:
        raise Conflict(
            "Registration with this phone number is not possible. If you have an account, sign in.",
            code="registration_refused",
        ) from exc
    return _token_for(settings, user, [])


async def login(
    session: AsyncSession,
    settings: Settings,
    data: LoginIn,
    managed_cooperatives: ManagedCooperatives,
    attempts: PhoneAttempts,
) -> TokenOut:
    """Sign in with phone and password; one answer for every wrong combination. Every attempt
    counts against the phone number's budget first (429 over it), from whatever address."""
    require_no_transaction(session, "counting the attempt")
    await attempts.hit(data.phone)
    user: User | None = (
        await session.execute(select(User).where(col(User.phone) == data.phone))
    ).scalar_one_or_none()
    hash_ = user.password_hash if user is not None else None
    matches = await asyncio.to_thread(security.verify_password, hash_, data.password)
    if not matches or user is None or not user.is_active:
        raise Unauthorized("Wrong phone number or password.", code="invalid_credentials")
    if user.password_hash and security.needs_rehash(user.password_hash):
        user.password_hash = await _hash(data.password)
    return _token_for(settings, user, await managed_cooperatives(session, user.id))


async def wechat_login(
    session: AsyncSession,
    settings: Settings,
    wechat: WechatClient,
    code: str,
    managed_cooperatives: ManagedCooperatives,
) -> TokenOut:
    """Sign in with a mini-program ``wx.login`` code; a new openid becomes a buyer."""
    require_no_transaction(session, "asking WeChat for the session")
    wx = await wechat.code_to_session(code)
    user: User | None = (
        await session.execute(select(User).where(col(User.wechat_openid) == wx.openid))
    ).scalar_one_or_none()
    if user is None:
        user = User(
            display_name="微信用户",
            role=BUYER,
            wechat_openid=wx.openid,
            wechat_unionid=wx.unionid,
            wechat_session_key=wx.session_key,
        )
        try:
            async with session.begin_nested():  # a savepoint: the outer transaction stays usable
                session.add(user)
        except IntegrityError:
            # The same person logged in twice at once: the other request created the account.
            user = (
                await session.execute(select(User).where(col(User.wechat_openid) == wx.openid))
            ).scalar_one()
    else:
        user.wechat_session_key = wx.session_key
        if wx.unionid:
            user.wechat_unionid = wx.unionid
    if not user.is_active:
        raise Unauthorized("This account is disabled.", code="account_disabled")
    return _token_for(settings, user, await managed_cooperatives(session, user.id))


# Built once: authentication runs on every authenticated request.
_CALLER = select(
    col(User.id),
    col(User.role),
    col(User.display_name),
    col(User.region_code),
    col(User.is_active),
    col(User.token_version),
).where(col(User.id) == bindparam("user_id"))


def _invalid_token() -> Unauthorized:
    return Unauthorized(
        "The access token is invalid or expired.", code="invalid_token", headers=_INVALID_TOKEN_HEADERS
    )


def _claims(settings: Settings, token: str) -> security.TokenClaims:
    """The token's claims (signature, issuer, times checked); 401 ``invalid_token`` otherwise."""
    claims = security.decode_token(
        token, secret=settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer, now=clock.now()
    )
    if claims is None:
        raise _invalid_token()
    return claims


def _caller(rows: Sequence[Any], claims: security.TokenClaims) -> tuple[str, str, str, str | None]:
    """The caller's id, role, display name and region from their row (one at most: the key), when
    they exist, are active and the token is of their current version; 401 ``invalid_token`` otherwise."""
    row = rows[0] if rows else None
    if row is None:
        raise _invalid_token()
    user_id, role, display_name, region_code, is_active, token_version = row
    if not is_active or token_version != claims.token_version:
        raise _invalid_token()
    return user_id, role, display_name, region_code


async def authenticate(
    conn: AsyncConnection, settings: Settings, token: str, managed_cooperatives: ManagedCooperatives
) -> Principal:
    """The caller behind a bearer token, with their current role, scope and cooperatives."""
    claims = _claims(settings, token)
    user_id, role, display_name, region_code = _caller(
        await fetch_all(conn, _CALLER, {"user_id": claims.user_id}), claims
    )
    cooperative_ids: frozenset[str] = frozenset()
    if role == COOP_MANAGER:
        cooperative_ids = frozenset(await managed_cooperatives(conn, user_id))
    return Principal(user_id, role, display_name, region_code, cooperative_ids)


async def authenticate_on(
    db: Database, settings: Settings, token: str, managed_cooperatives: ManagedCooperatives
) -> Principal:
    """``authenticate`` for a request (every authenticated request runs it): the caller's row is
    read with ``Database.read_rows`` (on PostgreSQL a pooled connection's driver, without
    SQLAlchemy's ``Connection``, whose opening and closing cost more than the statement); a
    cooperative manager's cooperatives are then read on a connection of their own. Both reads see
    what was committed when they ran, as on ``read()``'s autocommit connection before. On SQLite
    (where ``read()`` is one transaction) it is ``authenticate`` on one ``read()`` connection."""
    if db.settings.is_sqlite:
        async with db.read() as conn:
            return await authenticate(conn, settings, token, managed_cooperatives)
    claims = _claims(settings, token)
    user_id, role, display_name, region_code = _caller(
        await db.read_rows(_CALLER, {"user_id": claims.user_id}), claims
    )
    cooperative_ids: frozenset[str] = frozenset()
    if role == COOP_MANAGER:
        async with db.read() as conn:
            cooperative_ids = frozenset(await managed_cooperatives(conn, user_id))
    return Principal(user_id, role, display_name, region_code, cooperative_ids)


async def me(conn: AsyncConnection, principal: Principal) -> UserOut:
    """The caller's own profile (a read: no write transaction)."""
    row = (
        await conn.execute(
            select(
                col(User.id), col(User.role), col(User.display_name), col(User.phone), col(User.region_code)
            ).where(col(User.id) == principal.id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No such user.", code="user_not_found")
    return UserOut(
        id=row.id,
        role=row.role,
        display_name=row.display_name,
        phone_masked=mask_phone(row.phone),
        cooperative_ids=sorted(principal.cooperative_ids),
        region_code=row.region_code,
    )


async def wechat_openid(executor: Executor, user_id: str) -> str | None:
    """The mini-program openid of ``user_id`` (None when the user never signed in through WeChat)."""
    return (
        await executor.execute(select(col(User.wechat_openid)).where(col(User.id) == user_id))
    ).scalar_one_or_none()


async def create_staff(session: AsyncSession, actor: Principal, data: StaffIn) -> UserOut:
    """District staff create staff accounts for a region of the matching level in their scope."""
    actor.require_role(DISTRICT_STAFF)
    region = await regions_service.find_region(session, data.region_code)
    expected_level = STAFF_LEVEL[data.role]
    if region is None or region.level != expected_level:
        raise ValidationFailed(
            f"A {data.role} needs a {expected_level} region code.",
            code="invalid_region",
            errors=[FieldError("region_code", f"not a {expected_level} code")],
        )
    if not actor.covers_region(region.code):
        raise PermissionDenied("That region is outside your scope.", code="region_out_of_scope")
    user = User(
        phone=data.phone,
        password_hash=await _hash(data.password),
        display_name=_display_name(data.display_name),
        role=data.role,
        region_code=region.code,
    )
    session.add(user)
    try:
        await session.flush()  # the unique phone decides a race, not a prior SELECT
    except IntegrityError as exc:
        raise Conflict("This phone number is already registered.", code="phone_taken") from exc
    await audit.record(
        session,
        actor=actor,
        action="user.staff_created",
        entity="user",
        entity_id=user.id,
        after={
            "role": user.role,
            "region_code": user.region_code,
            "display_name": user.display_name,
            "phone_masked": mask_phone(user.phone),
        },
        region_code=user.region_code,
    )
    return _user_out(user, [])


async def create_staff_unchecked(
    session: AsyncSession, *, phone: str, password: str, display_name: str, role: str, region_code: str
) -> User:
    """For the CLI bootstrap (no acting user): same rules on role and region as ``create_staff``."""
    region = await regions_service.find_region(session, region_code)
    if role not in STAFF_LEVEL or region is None or region.level != STAFF_LEVEL[role]:
        raise ValidationFailed(
            f"{role} needs a {STAFF_LEVEL.get(role, '?')} region code.", code="invalid_region"
        )
    user = User(
        phone=phone,
        password_hash=await _hash(password),
        display_name=_display_name(display_name),
        role=role,
        region_code=region_code,
    )
    session.add(user)
    try:
        await session.flush()  # the unique phone decides a race, not a prior SELECT
    except IntegrityError as exc:
        raise Conflict("This phone number is already registered.", code="phone_taken") from exc
    return user


async def promote_to_manager(session: AsyncSession, user_id: str) -> None:
    """A buyer who registers a cooperative becomes its manager. Joins the caller's transaction."""
    await session.exec(
        update(User).where(col(User.id) == user_id, col(User.role) == BUYER).values(role=COOP_MANAGER)
    )


async def user_by_phone(executor: Executor, phone: str) -> tuple[str, str, str] | None:
    """``(id, display_name, role)`` of the active user with ``phone``, or ``None``. Joins the
    caller's transaction."""
    row = (
        await executor.execute(
            select(col(User.id), col(User.display_name), col(User.role)).where(
                col(User.phone) == phone, col(User.is_active).is_(True)
            )
        )
    ).one_or_none()
    return (row[0], row[1], row[2]) if row is not None else None


async def user_briefs(executor: Executor, user_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """``{id: (display_name, phone)}`` for the given ids. Joins the caller's transaction."""
    if not user_ids:
        return {}
    rows = (
        await executor.execute(
            select(col(User.id), col(User.display_name), col(User.phone)).where(col(User.id).in_(user_ids))
        )
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


async def _bump_token_version(session: AsyncSession, user_id: str, **values: object) -> None:
    await session.execute(
        update(User).where(col(User.id) == user_id).values(token_version=User.token_version + 1, **values)
    )


async def change_password(session: AsyncSession, principal: Principal, data: PasswordChangeIn) -> None:
    """The caller changes their password with the current one (401 ``invalid_credentials``
    otherwise); every token issued before stops working at once (the token version moves on)."""
    row = (
        await session.execute(select(col(User.password_hash)).where(col(User.id) == principal.id))
    ).one_or_none()
    current = row[0] if row is not None else None
    if not await asyncio.to_thread(security.verify_password, current, data.current_password):
        raise Unauthorized("The current password is wrong.", code="invalid_credentials")
    await _bump_token_version(session, principal.id, password_hash=await _hash(data.new_password))
    await _audit_own_account(session, principal, "user.password_changed")


async def sign_out_everywhere(session: AsyncSession, principal: Principal) -> None:
    """Every token of the caller stops working at once (the token version moves on)."""
    await _bump_token_version(session, principal.id)
    await _audit_own_account(session, principal, "user.signed_out_everywhere")


async def _audit_own_account(session: AsyncSession, principal: Principal, action: str) -> None:
    """A change a staff member makes to their own account is audited (issue 7: every change to
    staff accounts), in its transaction, without the password or the phone."""
    if principal.is_staff:
        await audit.record(
            session,
            actor=principal,
            action=action,
            entity="user",
            entity_id=principal.id,
            after={"role": principal.role},
            region_code=principal.region_code,
        )


def _account_out(user: User) -> AccountOut:
    return AccountOut(
        id=user.id,
        role=user.role,
        display_name=user.display_name,
        phone_masked=mask_phone(user.phone),
        region_code=user.region_code,
        is_active=user.is_active,
    )


async def set_active(
    session: AsyncSession, actor: Principal, user_id: str, *, active: bool, reason: str | None = None
) -> AccountOut:
    """District staff deactivate or reactivate an account. Deactivation moves the token version
    on, so every token of that user is refused at once (``authenticate`` also checks
    ``is_active``); the decision is audited in the same transaction. A staff account outside the
    actor's region answers 404 like an unknown id; nobody deactivates their own account."""
    actor.require_role(DISTRICT_STAFF)
    user: User | None = (
        await session.execute(select(User).where(col(User.id) == user_id).with_for_update())
    ).scalar_one_or_none()
    if user is None or (user.region_code is not None and not actor.covers_region(user.region_code)):
        raise NotFound("No such user.", code="user_not_found")
    if user.id == actor.id:
        raise Conflict("You cannot deactivate or reactivate your own account.", code="own_account")
    before = user.is_active
    if before != active:
        user.is_active = active
        if not active:
            user.token_version += 1
        session.add(user)
        await session.flush()
        await audit.record(
            session,
            actor=actor,
            action="user.deactivate" if not active else "user.reactivate",
            entity="user",
            entity_id=user.id,
            before={"is_active": before, "role": user.role},
            after={"is_active": active, "role": user.role},
            reason=reason,
            region_code=user.region_code,
        )
    return _account_out(user)
