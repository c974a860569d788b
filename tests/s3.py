"""moto's S3 server over real HTTP on 127.0.0.1 (a random port), and a fresh bucket per test.

Import the fixtures into a conftest. The app reaches the server through its ordinary boto3
client, and tests send presigned POSTs to it with httpx, as a client would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from coopmarket.settings import Settings
from coopmarket.storage.base import ObjectStorage
from coopmarket.storage.deps import build_storage

REGION = "us-east-1"
ACCESS_KEY = "moto-test-access-key"
SECRET_KEY = "moto-test-secret-key"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_admin(endpoint: str) -> Any:
    """A boto3 client of the test itself (creating buckets is the operator's job, not the app's)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def s3_settings_for(endpoint: str, bucket: str) -> dict[str, Any]:
    return {
        "storage": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": endpoint,
        "s3_region": REGION,
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SECRET_KEY,
    }


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    """A new, empty bucket on the moto server."""
    name = f"coopmarket-test-{uuid.uuid4().hex[:16]}"
    s3_admin(moto_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_settings(moto_endpoint: str, s3_bucket: str) -> dict[str, Any]:
    return s3_settings_for(moto_endpoint, s3_bucket)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[ObjectStorage]:
    """The test's own handle on the app's store, to look at what is (or is not) stored."""
    storage = build_storage(settings)
    yield storage
    await storage.aclose()
