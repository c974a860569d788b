"""Fixtures of the storage tests."""

from __future__ import annotations

from tests.s3 import moto_endpoint, s3_bucket, s3_settings, store

__all__ = ["moto_endpoint", "s3_bucket", "s3_settings", "store"]
