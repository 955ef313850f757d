"""What every adapter's re-tiering shares: the argument checks, the decision for one
customer, and the event and audit entry of a change (the SQL adapter makes the same
decisions in set-based statements; these functions are its specification)."""

from __future__ import annotations

import datetime
import enum
from typing import Any

import attrs

from finance_crm.access import AccessScope
from finance_crm.errors import BusinessRuleViolation, PermissionDenied, ValidationError
from finance_crm.ids import CustomerId
from finance_crm.model.tiers import RetierReport, Tier, TierChanged, TierDirection, TierRecord
from finance_crm.money import Money

__all__ = [
    "Decision",
    "Outcome",
    "check_retier",
    "decide",
    "held_before",
    "later_tier_refusal",
    "refuse_partial_scope",
    "run_audit",
    "tier_audit_changes",
    "tier_changed",
]


def _plain_day(value: object, name: str) -> datetime.date:
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise ValidationError("must be a business date (a date, not a datetime)", path=name)
    return datetime.date(value.year, value.month, value.day)


def check_retier(
    rule: object, period_start: object, period_end: object, effective_on: object
) -> tuple[datetime.date, datetime.date, datetime.date]:
    """The three dates as plain dates, or ValidationError."""
    tier_for = getattr(rule, "tier_for", None)
    if not callable(tier_for) or not isinstance(getattr(rule, "currency", None), str):
        raise ValidationError(
            "must be a TierRule (such as finance_crm.rules.tiers.broker_tiers())", path="$.rule"
        )
    tiers = getattr(rule, "tiers", None)
    if not isinstance(tiers, tuple) or not tiers or not all(isinstance(t, Tier) for t in tiers):
        raise ValidationError("the rule's tiers must be a non-empty tuple of Tier", path="$.rule")
    start = _plain_day(period_start, "$.period_start")
    end = _plain_day(period_end, "$.period_end")
    effective = _plain_day(effective_on, "$.effective_on")
    if end < start:
        raise ValidationError("the period ends before it starts", path="$.period_end")
    if effective <= end:
        raise ValidationError(
            "a tier takes effect after the period that sets it has ended: choose an "
            "effective_on after period_end",
            path="$.effective_on",
        )
    return start, end, effective


def later_tier_refusal(latest: datetime.date, effective_on: datetime.date) -> BusinessRuleViolation:
    return BusinessRuleViolation(
        f"a customer already has a tier from {latest.isoformat()}, after "
        f"{effective_on.isoformat()}: re-tier from that day or later; nothing was written"
    )


class Outcome(enum.Enum):
    """What re-tiering does to one customer's records."""

    UNCHANGED = "unchanged"  # nothing written
    NEW = "new"  # first record, from effective_on
    CLOSE_AND_NEW = "close_and_new"  # end the current record at effective_on, add one
    REPLACE = "replace"  # a correction: the record from effective_on gets the new tier
    REOPEN = "reopen"  # a correction back to the earlier tier: drop that record, reopen


@attrs.frozen
class Decision:
    outcome: Outcome
    # The tier the customer is in on effective_on before this run (None: no tier).
    before: Tier | None


def held_before(
    current: TierRecord | None, predecessor: TierRecord | None, effective_on: datetime.date
) -> Tier | None:
    """The tier held the day before ``effective_on``: what the rule is given.

    ``current`` is the open record; ``predecessor`` the record ending at ``effective_on``
    (only looked at when ``current`` starts on it)."""
    if current is None:
        return None
    if current.valid_from < effective_on:
        return current.tier
    return predecessor.tier if predecessor is not None else None


def decide(
    current: TierRecord | None,
    predecessor: TierRecord | None,
    new: Tier,
    effective_on: datetime.date,
) -> Decision:
    """What to write for one customer whose new tier is ``new``."""
    if current is None:
        return Decision(Outcome.NEW, None)
    if current.tier.code == new.code:
        return Decision(Outcome.UNCHANGED, current.tier)
    if current.valid_from < effective_on:
        return Decision(Outcome.CLOSE_AND_NEW, current.tier)
    if predecessor is not None and predecessor.tier.code == new.code:
        return Decision(Outcome.REOPEN, current.tier)
    return Decision(Outcome.REPLACE, current.tier)


def tier_changed(
    customer_id: CustomerId,
    before: Tier | None,
    after: Tier,
    *,
    effective_on: datetime.date,
    average_aum: Money,
    at: datetime.datetime,
) -> TierChanged:
    return TierChanged(
        occurred_at=at,
        customer_id=customer_id,
        previous=before.code if before is not None else None,
        current=after.code,
        direction=TierDirection.between(before, after),
        effective_on=effective_on,
        average_aum=average_aum,
    )


def tier_audit_changes(
    before: Tier | None, after: Tier, effective_on: datetime.date, average_aum: Money
) -> dict[str, Any]:
    return {
        "tier": {"before": before.code if before is not None else None, "after": after.code},
        "effective_on": {"before": None, "after": effective_on.isoformat()},
        "average_aum": {"before": None, "after": str(average_aum.amount)},
    }


def refuse_partial_scope(scope: AccessScope) -> None:
    """Re-tiering rewrites the whole book, so it needs an actor who sees all of it."""
    if not scope.is_everything:
        raise PermissionDenied(
            "re-tiering a whole book needs a head-office or system actor (an access scope "
            "of everything); nothing was written"
        )


def run_audit(report: RetierReport) -> dict[str, Any]:
    """The audit entry of one re-tiering run (one per run, besides one per change)."""
    return {
        "period": {"before": None, "after": f"{report.period_start}/{report.period_end}"},
        "evaluated": {"before": None, "after": report.evaluated},
        "changed": {"before": None, "after": report.changed},
    }
