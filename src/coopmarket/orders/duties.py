"""Separation of duties on money, pure: nobody acts on both sides of an order.

A cooperative manager may buy from their own cooperative, but then they are the buyer *and* the
seller: recording that the money arrived, confirming receipt (which settles the sale and credits
the village collective) or deciding a refund would let one person invent sales, collective
income or pay-backs. So:

- an order whose buyer manages a cooperative selling in it is **related-party**, flagged on the
  order and on each such part when it is placed (``related_part_flags``, from the caller's own
  cooperatives: no query);
- for a related-party order or part, those acts are left to **staff covering it** (or, for
  receipt, to the automatic receipt after the hold period);
- whatever the flag says, a caller **on both sides** (the buyer, now managing a cooperative of
  the order) is refused, so a manager appointed after the order was placed is caught too.

Refusals are 403 with a code naming the act: ``related_party_payment``, ``related_party_receipt``,
``related_party_refund``.
"""

from __future__ import annotations

from collections.abc import Iterable

from coopmarket.core.errors import PermissionDenied
from coopmarket.core.principal import Principal

PAYMENT = "related_party_payment"
RECEIPT = "related_party_receipt"
REFUND = "related_party_refund"


class RelatedPartyRefused(PermissionDenied):
    """A related-party order's money or receipt is left to staff."""

    default_code = PAYMENT


def related_part_flags(principal: Principal, cooperative_ids: Iterable[str]) -> dict[str, bool]:
    """At checkout: which of the order's cooperatives the buyer manages (their parts are related-party)."""
    return {c: principal.manages(c) for c in cooperative_ids}


def on_both_sides(principal: Principal, buyer_id: str, cooperative_ids: Iterable[str]) -> bool:
    """The caller bought the order and manages one of its selling cooperatives."""
    return principal.id == buyer_id and any(principal.manages(c) for c in cooperative_ids)


def staff_covers(principal: Principal, village_codes: Iterable[str]) -> bool:
    """Staff whose region holds every one of ``village_codes`` (and there is at least one)."""
    codes = list(village_codes)
    return principal.is_staff and bool(codes) and all(principal.covers_region(v) for v in codes)


def require_staff_for_related_party(
    principal: Principal,
    *,
    is_related_party: bool,
    buyer_id: str,
    cooperative_ids: Iterable[str],
    village_codes: Iterable[str],
    code: str,
    act: str,
) -> None:
    """403 ``code`` when the order (or part) is related-party, or the caller is on both sides,
    and the caller is not staff covering every village concerned."""
    cooperatives = list(cooperative_ids)
    if not (is_related_party or on_both_sides(principal, buyer_id, cooperatives)):
        return
    if staff_covers(principal, village_codes):
        return
    raise RelatedPartyRefused(
        f"The buyer of this order manages a cooperative selling in it: only staff may {act}.", code=code
    )
