"""The in-memory tier repository (see ``memory.py``): re-tiering in plain Python, by
the decisions in ``_tier_runs`` that the SQL adapter compiles to statements."""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Collection
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

import attrs

from finance_crm.adapters._graph_checks import refuse_empty_scope
from finance_crm.adapters._tier_runs import (
    Outcome,
    check_retier,
    decide,
    held_before,
    later_tier_refusal,
    refuse_partial_scope,
    run_audit,
    tier_audit_changes,
    tier_changed,
)
from finance_crm.errors import ValidationError
from finance_crm.ids import AccountId, CustomerId
from finance_crm.model.customers import LifecycleStatus
from finance_crm.model.tiers import RetierReport, Tier, TierDirection, TierRecord
from finance_crm.money import Money

if TYPE_CHECKING:
    from finance_crm.adapters.memory import InMemoryUnitOfWork
    from finance_crm.rules.tiers import TierRule

__all__ = ["MemoryTiers", "balance_days"]

_RETIERED = (LifecycleStatus.ACTIVE, LifecycleStatus.DORMANT)


def balance_days(
    points: list[tuple[datetime.date, int]], start: datetime.date, end: datetime.date
) -> int:
    """One account's end-of-day balance summed over every day of ``[start, end]``, the
    last balance carried over days without one. ``points`` are (day, minor units),
    sorted by day; those before ``start`` only carry in."""
    total = 0
    after_end = end + datetime.timedelta(days=1)
    for i, (day, units) in enumerate(points):
        if day > end:
            break
        following = points[i + 1][0] if i + 1 < len(points) else after_end
        begin, stop = max(day, start), min(following, after_end)
        if stop > begin:
            total += units * (stop - begin).days
    return total


class MemoryTiers:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def _records(self, customer_id: CustomerId) -> tuple[TierRecord, ...]:
        pending = self._uow._pending.tiers.get(customer_id)
        if pending is not None:
            return pending
        return self._uow._store._state.tiers.get(customer_id, ())

    def current(self, customer_id: CustomerId) -> TierRecord | None:
        records = self._records(customer_id)
        return records[-1] if records and records[-1].valid_to is None else None

    def on(self, customer_id: CustomerId, day: datetime.date) -> TierRecord | None:
        if not isinstance(day, datetime.date) or isinstance(day, datetime.datetime):
            raise ValidationError("must be a business date", path="$.day")
        return next((r for r in self._records(customer_id) if r.active_on(day)), None)

    def history(self, customer_id: CustomerId) -> list[TierRecord]:
        return list(self._records(customer_id))

    def current_many(self, customer_ids: Collection[CustomerId]) -> dict[CustomerId, TierRecord]:
        found = {c: self.current(c) for c in set(customer_ids)}
        return {c: r for c, r in found.items() if r is not None}

    def count(self) -> int:
        ids = set(self._uow._store._state.tiers) | set(self._uow._pending.tiers)
        return sum(1 for c in ids if self.current(c) is not None)

    def _averages(
        self, currency: str, start: datetime.date, end: datetime.date
    ) -> dict[CustomerId, int]:
        uow = self._uow
        state, pending = uow._store._state, uow._pending
        owners: dict[AccountId, CustomerId] = {}
        # Each account counts on the days it is open (as average_daily_aum counts it).
        windows: dict[AccountId, tuple[datetime.date, datetime.date]] = {}
        for account_id in set(state.accounts) | set(pending.accounts):
            account = uow.accounts.get(account_id)
            if account.kind.counts_in_aum and account.currency == currency:
                owners[account_id] = account.customer_id
                last = end
                if account.closed_on is not None:
                    last = min(end, account.closed_on - datetime.timedelta(days=1))
                windows[account_id] = (max(start, account.opened_on), last)
        points: dict[AccountId, list[tuple[datetime.date, int]]] = defaultdict(list)
        for key in set(state.balances) | set(pending.balances):
            if key[0] in owners and key[1] <= end:
                units = uow.balances._visible(key)
                if units is not None:
                    points[key[0]].append((key[1], units))
        sums: dict[CustomerId, int] = defaultdict(int)
        for account_id, line in points.items():
            line.sort()
            first, last = windows[account_id]
            if first <= last:
                sums[owners[account_id]] += balance_days(line, first, last)
        days = Decimal((end - start).days + 1)
        return {
            c: int((Decimal(total) / days).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            for c, total in sums.items()
        }

    def retier(
        self,
        rule: TierRule,
        *,
        period_start: datetime.date,
        period_end: datetime.date,
        effective_on: datetime.date,
    ) -> RetierReport:
        uow = self._uow
        uow._check_writable()
        start, end, effective = check_retier(rule, period_start, period_end, effective_on)
        refuse_empty_scope(uow.scope)
        refuse_partial_scope(uow.scope)
        state, pending = uow._store._state, uow._pending
        known = set(state.tiers) | set(pending.tiers)
        latest = max((r.valid_from for c in known for r in self._records(c)[-1:]), default=None)
        if latest is not None and latest > effective:
            raise later_tier_refusal(latest, effective)
        averages = self._averages(rule.currency, start, end)
        customer_ids = set(state.customers) | set(pending.written)
        counts: Counter[str] = Counter()
        at = uow._now()
        writes: dict[CustomerId, tuple[TierRecord, ...]] = {}
        events = []
        for customer_id in sorted(customer_ids):
            customer = uow.customers._visible(customer_id)
            if customer is None or customer.status not in _RETIERED:
                continue
            counts["evaluated"] += 1
            records = self._records(customer_id)
            current = records[-1] if records and records[-1].valid_to is None else None
            predecessor = next((r for r in records if r.valid_to == effective), None)
            average = Money.from_minor_units(averages.get(customer_id, 0), rule.currency)
            new_tier = rule.tier_for(average, held_before(current, predecessor, effective))
            if not isinstance(new_tier, Tier):
                raise ValidationError("the rule's tier_for must return a Tier", path="$.rule")
            decision = decide(current, predecessor, new_tier, effective)
            if decision.outcome is Outcome.UNCHANGED:
                counts["unchanged"] += 1
                continue
            fresh = TierRecord(
                customer_id=customer_id,
                tier=new_tier,
                valid_from=effective,
                average_aum=average,
                period_start=start,
                period_end=end,
            )
            kept = [r for r in records if r is not current]
            if decision.outcome is Outcome.CLOSE_AND_NEW:
                assert current is not None
                kept += [attrs.evolve(current, valid_to=effective), fresh]
            elif decision.outcome is Outcome.REOPEN:
                assert predecessor is not None
                kept = [attrs.evolve(r, valid_to=None) if r is predecessor else r for r in kept]
            else:  # NEW or REPLACE
                kept.append(fresh)
            writes[customer_id] = tuple(kept)
            event = tier_changed(
                customer_id,
                decision.before,
                new_tier,
                effective_on=effective,
                average_aum=average,
                at=at,
            )
            counts[event.direction.value] += 1
            uow._audit(
                "tier.changed",
                "customer_tier",
                str(customer_id),
                1,
                tier_audit_changes(decision.before, new_tier, effective, average),
            )
            events.append(event)
        if writes:
            if pending.tier_base is None:
                pending.tier_base = state.tier_version
            pending.tiers = {**pending.tiers, **writes}
        uow._emit(events)
        report = RetierReport(
            period_start=start,
            period_end=end,
            effective_on=effective,
            evaluated=counts["evaluated"],
            unchanged=counts["unchanged"],
            initial=counts[TierDirection.INITIAL.value],
            up=counts[TierDirection.UP.value],
            down=counts[TierDirection.DOWN.value],
            sideways=counts[TierDirection.SIDEWAYS.value],
            by_tier=self._by_tier(),
        )
        uow._audit("tiers.retiered", "tier_run", effective.isoformat(), 1, run_audit(report))
        return report

    def _by_tier(self) -> dict[str, int]:
        ids = set(self._uow._store._state.tiers) | set(self._uow._pending.tiers)
        counts = Counter(r.tier.code for r in map(self.current, ids) if r is not None)
        return dict(sorted(counts.items()))
