"""The administrative tree: district → street → (community) → village-level unit."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Region(SQLModel, table=True):
    __tablename__ = "region"

    code: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=100)
    level: str = Field(max_length=16, index=True)  # district | street | community | village
    parent_code: str | None = Field(default=None, max_length=12, index=True, foreign_key="region.code")
    # For village-level units: residents_committee (居委会, 001–199) or villagers_committee (200–399).
    kind: str | None = Field(default=None, max_length=32)
    # For village-level units: the rural community (农村社区) staff grouped it into, if any.
    community_code: str | None = Field(default=None, max_length=12, index=True)
