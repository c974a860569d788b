"""Users: buyers, cooperative managers and staff."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from coopmarket.core.models import id_field, time_field


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: str = id_field()
    phone: str | None = Field(default=None, max_length=20, unique=True)
    password_hash: str | None = Field(default=None, max_length=255)
    display_name: str = Field(max_length=64)
    role: str = Field(max_length=32, index=True)
    region_code: str | None = Field(default=None, max_length=12, foreign_key="region.code")
    wechat_openid: str | None = Field(default=None, max_length=128, unique=True)
    wechat_unionid: str | None = Field(default=None, max_length=128)
    # Kept server-side only (never serialised, never logged): needed to decrypt WeChat data later.
    wechat_session_key: str | None = Field(default=None, max_length=128)
    is_active: bool = Field(default=True)
    token_version: int = Field(default=0)
    created_at: datetime = time_field()
