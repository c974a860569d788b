"""The local store's signatures: upload policies and file URLs (pure rules, property-tested)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coopmarket.storage import signing

KEY = signing.derive_key("a secret of the suite only", signing.UPLOAD_LABEL)
POLICY = signing.UploadPolicy(
    key="products/p/uploads/a.png", content_type="image/png", max_bytes=1000, expires=99
)


def test_a_policy_round_trips_with_its_signature() -> None:
    encoded, signature = signing.encode_policy(KEY, POLICY)
    assert signing.decode_policy(KEY, encoded, signature) == POLICY


def test_a_changed_policy_or_signature_is_refused() -> None:
    encoded, signature = signing.encode_policy(KEY, POLICY)
    bigger, _ = signing.encode_policy(KEY, signing.UploadPolicy(POLICY.key, POLICY.content_type, 10**9, 99))
    assert signing.decode_policy(KEY, bigger, signature) is None
    assert (
        signing.decode_policy(KEY, encoded, signature[:-1] + ("0" if signature[-1] != "0" else "1")) is None
    )
    assert signing.decode_policy(KEY, encoded, "") is None


def test_keys_for_different_purposes_differ() -> None:
    # A file-URL signature can never pass for an upload signature (and neither for a JWT's).
    secret = "a secret of the suite only"
    assert signing.derive_key(secret, signing.UPLOAD_LABEL) != signing.derive_key(secret, signing.URL_LABEL)
    encoded, signature = signing.encode_policy(KEY, POLICY)
    other = signing.derive_key(secret, signing.URL_LABEL)
    assert signing.decode_policy(other, encoded, signature) is None


@given(
    now=st.integers(min_value=0, max_value=4_000_000_000), ttl=st.integers(min_value=300, max_value=604_800)
)
def test_a_url_expiry_leaves_at_least_the_ttl_and_at_most_one_step_more(now: int, ttl: int) -> None:
    expires = signing.url_expiry(now, ttl)
    step = max(1, min(signing.MAX_URL_STEP_SECONDS, ttl // 4))
    assert now + ttl <= expires < now + ttl + step
    assert expires % step == 0


@given(
    now=st.integers(min_value=0, max_value=4_000_000_000), ttl=st.integers(min_value=300, max_value=604_800)
)
def test_urls_signed_within_one_step_are_equal(now: int, ttl: int) -> None:
    # Every second of the step that ``now`` falls in gives the same expiry (so the same URL);
    # the next second starts the next step.
    step = max(1, min(signing.MAX_URL_STEP_SECONDS, ttl // 4))
    expires = signing.url_expiry(now, ttl)
    first, last = expires - ttl - step + 1, expires - ttl
    assert first <= now <= last
    assert signing.url_expiry(first, ttl) == signing.url_expiry(last, ttl) == expires
    assert signing.url_expiry(last + 1, ttl) == expires + step


def test_a_url_signature_is_valid_only_for_its_key_and_before_it_expires() -> None:
    key = signing.derive_key("s", signing.URL_LABEL)
    signature = signing.sign_url(key, "products/p/a.png", 1000)
    assert signing.url_signature_is_valid(key, "products/p/a.png", 1000, signature, now=999)
    assert not signing.url_signature_is_valid(key, "products/p/a.png", 1000, signature, now=1000)
    assert not signing.url_signature_is_valid(key, "products/p/b.png", 1000, signature, now=999)
    assert not signing.url_signature_is_valid(key, "products/p/a.png", 2000, signature, now=999)
