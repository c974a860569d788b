"""The app's object store as a route dependency (built once in the lifespan, kept on app state)."""

from __future__ import annotations

from typing import TypeAlias

from litestar.datastructures import State
from litestar.di import NamedDependency

from coopmarket.settings import Settings
from coopmarket.storage.base import ObjectStorage
from coopmarket.storage.local import LocalStorage
from coopmarket.storage.s3 import S3Storage


def build_storage(settings: Settings) -> ObjectStorage:
    """The backend ``COOPMARKET_STORAGE`` names (not yet checked: call ``check()``)."""
    if settings.storage == "s3":
        return S3Storage(settings)
    return LocalStorage(settings)


def provide_storage(state: State) -> ObjectStorage:
    storage: ObjectStorage = state.storage
    return storage


Storage: TypeAlias = NamedDependency[ObjectStorage]

__all__ = ["Storage", "build_storage", "provide_storage"]
