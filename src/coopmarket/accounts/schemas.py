"""Request and response shapes for accounts."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from coopmarket.core.phone import PHONE_PATTERN
from coopmarket.core.text import MultilineText, Name, Text

Phone = Annotated[str, Meta(pattern=PHONE_PATTERN, description="Mainland mobile number, 11 digits")]
Password = Annotated[Text, Meta(min_length=8, max_length=128)]
DisplayName = Annotated[Name, Meta(min_length=1, max_length=64)]
StaffRole = Literal["village_staff", "street_staff", "district_staff"]


class RegisterIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone
    password: Password
    display_name: DisplayName


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[Text, Meta(min_length=1, max_length=20)]
    password: Annotated[Text, Meta(min_length=1, max_length=128)]


class WechatLoginIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[Text, Meta(min_length=1, max_length=128, description="The code from wx.login()")]


class UserOut(msgspec.Struct):
    id: str
    role: str
    display_name: str
    phone_masked: str | None
    cooperative_ids: list[str]
    region_code: str | None


class TokenOut(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    user: UserOut


class StaffIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone
    password: Password
    display_name: DisplayName
    role: StaffRole
    region_code: Annotated[Text, Meta(min_length=6, max_length=12)]


class PasswordChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Annotated[Text, Meta(min_length=1, max_length=128)]
    new_password: Password


class DeactivateIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[MultilineText, Meta(min_length=1, max_length=500)]


class AccountOut(msgspec.Struct):
    """A user account as district staff see it when they deactivate or reactivate it."""

    id: str
    role: str
    display_name: str
    phone_masked: str | None
    region_code: str | None
    is_active: bool
