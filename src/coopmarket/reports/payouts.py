"""Payouts to cooperatives: what the platform owes one (``payable:coop:{id}``) paid by bank transfer.

A payout posts Dr ``payable:coop:{id}`` / Cr ``cash:bank`` (kind ``coop_payout``; the ledger
transaction's id is the payout's id and its memo the transfer reference). It is never edited: a
transfer that did not arrive is reversed by the exact inverse (kind ``coop_payout_reversal``),
once, with a reason. A payout above what is payable is refused; the check and the posting are
serialised per cooperative (an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two
payouts at once cannot overdraw. Staff in scope pay out, except a staff member who manages the
cooperative (separation of duties). Each is audited in the same transaction.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.ids import new_id
from coopmarket.core.principal import Principal
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.reports.errors import (
    OwnCooperative,
    PayoutAlreadyReversed,
    PayoutExceedsPayable,
    PayoutNotFound,
)
from coopmarket.reports.schemas import PayoutIn, PayoutOut, PayoutReversalIn
from coopmarket.reports.statement import visible_cooperative


async def _payer_in_scope(session: AsyncSession, principal: Principal, cooperative_id: str) -> str:
    """The cooperative's village, for staff in scope who do not manage it."""
    principal.require_staff()
    brief = await visible_cooperative(session, principal, cooperative_id)
    if principal.manages(cooperative_id):
        raise OwnCooperative("You may not pay out a cooperative you manage.")
    return brief.village_code


async def payable_fen(session: AsyncSession, cooperative_id: str) -> int:
    """What the platform owes the cooperative now."""
    account = posting.coop_payable(cooperative_id)
    return -sum(
        balance for name, balance in await ledger_service.balances(session, account) if name == account
    )


async def record_payout(
    session: AsyncSession, principal: Principal, cooperative_id: str, data: PayoutIn
) -> PayoutOut:
    """Post a payout (joins the caller's transaction; the idempotency executor commits)."""
    village_code = await _payer_in_scope(session, principal, cooperative_id)
    account = posting.coop_payable(cooperative_id)
    await ledger_service.lock_account(session, account)
    payable = await payable_fen(session, cooperative_id)
    if data.amount_fen > payable:
        raise PayoutExceedsPayable(
            f"At most {payable} fen is payable to this cooperative.", extra={"payable_fen": payable}
        )
    now = clock.now()
    reference = data.reference.strip()
    transaction_id = await ledger_service.post(
        session,
        kind=posting.COOP_PAYOUT,
        dedupe_key=f"coop_payout:{new_id()}",
        entries=posting.payout_entries(cooperative_id, data.amount_fen),
        occurred_at=now,
        cooperative_id=cooperative_id,
        memo=reference,
    )
    assert transaction_id is not None  # a fresh key is never posted before
    out = PayoutOut(
        id=transaction_id,
        cooperative_id=cooperative_id,
        amount_fen=data.amount_fen,
        reference=reference,
        occurred_at=now,
        payable_after_fen=payable - data.amount_fen,
    )
    await audit.record(
        session,
        actor=principal,
        action="cooperative.payout_recorded",
        entity="ledger_transaction",
        entity_id=transaction_id,
        before={"payable_fen": payable},
        after={"amount_fen": data.amount_fen, "reference": reference, "payable_fen": out.payable_after_fen},
        region_code=village_code,
        cooperative_id=cooperative_id,
    )
    return out


async def reverse_payout(
    session: AsyncSession, principal: Principal, cooperative_id: str, payout_id: str, data: PayoutReversalIn
) -> PayoutOut:
    """Post the exact inverse of a payout, once (409 ``payout_already_reversed`` after)."""
    village_code = await _payer_in_scope(session, principal, cooperative_id)
    header = await ledger_service.transaction_header(session, payout_id)
    if header is None or header.kind != posting.COOP_PAYOUT or header.cooperative_id != cooperative_id:
        raise PayoutNotFound("No such payout.")
    await ledger_service.lock_account(session, posting.coop_payable(cooperative_id))
    now = clock.now()
    reason = data.reason.strip()
    reversal_id = await ledger_service.reverse(
        session,
        original_dedupe_key=header.dedupe_key,
        kind=posting.COOP_PAYOUT_REVERSAL,
        dedupe_key=f"coop_payout_reversal:{payout_id}",
        occurred_at=now,
        memo=f"reversal of {payout_id}: {reason}"[:500],
    )
    if reversal_id is None:
        raise PayoutAlreadyReversed("This payout is already reversed.")
    payable = await payable_fen(session, cooperative_id)
    amount = -await _payable_amount(session, reversal_id, cooperative_id)
    out = PayoutOut(
        id=reversal_id,
        cooperative_id=cooperative_id,
        amount_fen=amount,
        reference=header.memo or "",
        occurred_at=now,
        payable_after_fen=payable,
        reversal_of=payout_id,
    )
    await audit.record(
        session,
        actor=principal,
        action="cooperative.payout_reversed",
        entity="ledger_transaction",
        entity_id=payout_id,
        after={"reversal_id": reversal_id, "amount_fen": amount, "payable_fen": payable},
        reason=reason,
        region_code=village_code,
        cooperative_id=cooperative_id,
    )
    return out


async def _payable_amount(session: AsyncSession, transaction_id: str, cooperative_id: str) -> int:
    """The reversal's posting on the payable (a credit: negative)."""
    account = posting.coop_payable(cooperative_id)
    postings = await ledger_service.transaction_postings(session, transaction_id)
    return sum(amount for name, amount in postings if name == account)
