"""``core.mac.HmacSha256`` gives the bytes ``hmac`` gives, for any key and message; cursors and
file URLs signed with it are the ones signed before with ``hmac``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from hypothesis import given
from hypothesis import strategies as st

from coopmarket.core import pagination
from coopmarket.core.mac import HmacSha256
from coopmarket.storage import signing


def test_rfc_4231_test_cases() -> None:
    # Test case 2 (a key shorter than the block) and 6 (a key longer than the block: hashed first)
    assert (
        HmacSha256(b"Jefe").hexdigest(b"what do ya want for nothing?")
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    assert (
        HmacSha256(b"\xaa" * 131).hexdigest(b"Test Using Larger Than Block-Size Key - Hash Key First")
        == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    )


@given(key=st.binary(max_size=200), message=st.binary(max_size=500))
def test_the_same_bytes_as_hmac_for_any_key_and_message(key: bytes, message: bytes) -> None:
    signer = HmacSha256(key)
    expected = hmac.digest(key, message, "sha256")
    assert signer.digest(message) == expected
    assert signer.digest(message) == expected  # the keyed states are copied, never consumed


def test_a_cursor_is_signed_as_before() -> None:
    secret = b"a JWT secret of at least thirty-two bytes"
    configured = pagination._signer
    pagination.configure_cursor_key(secret)
    try:
        cursor = pagination.encode_cursor(["newest", "01jd0000000000000000000000"])
        assert pagination.decode_cursor(cursor, 2) == ["newest", "01jd0000000000000000000000"]
    finally:
        pagination._signer = configured
    payload, _, signature = cursor.rpartition(".")
    key = hmac.new(secret, b"coopmarket pagination cursor v1", hashlib.sha256).digest()
    expected = hmac.digest(key, payload.encode(), "sha256")[:12]
    assert signature == base64.urlsafe_b64encode(expected).decode().rstrip("=")
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == [
        "newest",
        "01jd0000000000000000000000",
    ]


def test_a_file_url_is_signed_as_before() -> None:
    key = signing.derive_key("a JWT secret of at least thirty-two bytes", signing.URL_LABEL)
    expected = hmac.new(key, b"products/p1/a.webp\n1800000000", hashlib.sha256).hexdigest()
    assert signing.sign_url(key, "products/p1/a.webp", 1800000000) == expected
    assert signing.url_signature_is_valid(key, "products/p1/a.webp", 1800000000, expected, now=1700000000)
