"""The contract for customer tiers (客户分层): re-tiering a book and reading tiers back.

Subclass :class:`TierStoreContract` and provide a ``store`` fixture returning a fresh,
empty store; finance_crm runs it on the memory adapter, SQLite and PostgreSQL.

Every book is built by hand: customer ``C(n)`` owns the CNY deposit account ``A(n)``
and balances are fed on the first day of a month, so that month's average is that
balance. Every average, tier and count below is worked out in the test.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator, Mapping, Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import attrs
import pendulum
import pytest

from finance_crm.errors import (
    BusinessRuleViolation,
    ConflictError,
    PermissionDenied,
    ValidationError,
)
from finance_crm.ids import AccountId, CustomerId, StaffId
from finance_crm.model.accounts import Account, AccountKind
from finance_crm.model.customers import Customer, LifecycleStatus
from finance_crm.model.organization import OrgUnit, OrgUnitKind, StaffMember, StaffRole
from finance_crm.model.tiers import (
    ELECTRONIC,
    ONE_TO_ONE,
    STANDARDISED,
    RetierReport,
    Tier,
    TierRecord,
)
from finance_crm.money import Money
from finance_crm.ports import Store, UnitOfWork
from finance_crm.rules.tiers import ThresholdTiers, TierRule, broker_tiers
from finance_crm.security import Actor
from finance_crm.testing.factories import make_individual

__all__ = ["TierStoreContract"]

HEAD_OFFICE = Actor("ho-1", roles=frozenset({"head_office"}))
STRANGER = Actor("stranger")  # no staff record, no roles: an empty scope
D = datetime.date
APRIL = (D(2025, 4, 1), D(2025, 4, 30))
MAY = (D(2025, 5, 1), D(2025, 5, 31))
JUNE = (D(2025, 6, 1), D(2025, 6, 30))
MAY_1, JUNE_1, JULY_1 = D(2025, 5, 1), D(2025, 6, 1), D(2025, 7, 1)
ACTIVE, DORMANT = LifecycleStatus.ACTIVE, LifecycleStatus.DORMANT
BIG = 2**53 + 1  # minor units a float could not hold


def C(n: int) -> CustomerId:
    """The customer id numbered ``n`` (ids order as their numbers do)."""
    return CustomerId(uuid.UUID(f"00000000-0000-7000-8000-{n:012x}"))


def A(n: int) -> AccountId:
    """The account id numbered ``n``."""
    return AccountId(uuid.UUID(f"00000000-0000-7000-b000-{n:012x}"))


def units(amount: str, exponent: int = 2) -> int:
    """Minor units of a decimal amount ("499999.99" -> 49999999)."""
    return int(Decimal(amount).scaleb(exponent))


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


def customer(n: int, status: LifecycleStatus = ACTIVE) -> Customer:
    return attrs.evolve(make_individual(n, status=status), id=C(n))


def account(
    n: int, owner: int, *, kind: AccountKind = AccountKind.DEPOSIT, currency: str = "CNY"
) -> Account:
    return Account(
        id=A(n),
        customer_id=C(owner),
        account_number=f"ACC-{n:04d}",
        kind=kind,
        currency=currency,
        opened_on=D(2024, 1, 2),
    )


def open_book(
    store: Store, statuses: Mapping[int, LifecycleStatus], accounts: Sequence[Account] = ()
) -> None:
    """Customers ``C(n)`` with the given statuses, each with its own CNY deposit ``A(n)``,
    plus ``accounts``."""
    with store.unit_of_work(HEAD_OFFICE) as uow:
        for n, status in statuses.items():
            uow.customers.add(customer(n, status))
        uow.accounts.add_many([*(account(n, n) for n in statuses), *accounts])
        uow.commit()


def feed_in(uow: UnitOfWork, day: datetime.date, balances: Mapping[int, int]) -> None:
    """Replace ``day``'s balances by ``balances`` (account number -> minor units)."""
    uow.balances.clear_day(day)
    uow.balances.write([(A(n), day, amount) for n, amount in balances.items()])


def feed(store: Store, day: datetime.date, balances: Mapping[int, int]) -> None:
    with store.unit_of_work(HEAD_OFFICE) as uow:
        feed_in(uow, day, balances)
        uow.commit()


def retier(
    store: Store,
    rule: TierRule | None = None,
    period: tuple[datetime.date, datetime.date] = APRIL,
    effective_on: datetime.date = MAY_1,
    actor: Actor = HEAD_OFFICE,
) -> RetierReport:
    with store.unit_of_work(actor) as uow:
        report = uow.tiers.retier(
            rule or broker_tiers(),
            period_start=period[0],
            period_end=period[1],
            effective_on=effective_on,
        )
        uow.commit()
    return report


def counts(report: RetierReport) -> tuple[Any, ...]:
    """A report as plain data: (evaluated, unchanged, initial, up, down, sideways,
    changed, by_tier)."""
    return (
        report.evaluated,
        report.unchanged,
        report.initial,
        report.up,
        report.down,
        report.sideways,
        report.changed,
        dict(report.by_tier),
    )


Line = tuple[str, datetime.date, datetime.date | None, str]


def line(record: TierRecord) -> Line:
    """A record as (tier code, valid_from, valid_to, average amount)."""
    return (record.tier.code, record.valid_from, record.valid_to, str(record.average_aum.amount))


def current(uow: UnitOfWork, n: int) -> TierRecord:
    """``C(n)``'s current record, which the test expects to exist."""
    record = uow.tiers.current(C(n))
    assert record is not None, f"C({n}) has no current tier"
    return record


def histories(store: Store, *ns: int) -> dict[int, list[Line]]:
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        return {n: [line(r) for r in uow.tiers.history(C(n))] for n in ns}


def tier_codes(store: Store, *ns: int) -> dict[int, str | None]:
    """Each customer's current tier code (None: no tier)."""
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        found = {n: uow.tiers.current(C(n)) for n in ns}
    return {n: r.tier.code if r is not None else None for n, r in found.items()}


def snapshot(store: Store, *ns: int) -> tuple[Any, ...]:
    """What a refused run must leave unchanged."""
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        return (
            {n: uow.tiers.history(C(n)) for n in ns},
            uow.tiers.count(),
            [(e.action, e.entity_id) for e in uow.audit.entries(limit=100_000)],
            [(m.event_type, m.aggregate_id) for m in uow.outbox.pending(limit=100_000)],
        )


def tier_events(store: Store) -> list[dict[str, Any]]:
    """Pending TierChanged payloads, by customer then sequence, without event_id and
    occurred_at (checked against the message instead)."""
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        messages = [m for m in uow.outbox.pending(limit=100_000) if m.event_type == "TierChanged"]
    found = []
    for m in sorted(messages, key=lambda m: (m.aggregate_id, m.sequence)):
        payload = dict(m.payload)
        assert payload.pop("event_id") == str(m.event_id)
        assert payload.pop("customer_id") == m.aggregate_id
        assert pendulum.parse(payload.pop("occurred_at")) == m.occurred_at
        found.append({"customer": m.aggregate_id, **payload})
    return found


def event(
    n: int, previous: str | None, current: str, direction: str, effective_on: str, amount: str
) -> dict[str, Any]:
    return {
        "customer": str(C(n)),
        "previous": previous,
        "current": current,
        "direction": direction,
        "effective_on": effective_on,
        "average_aum": {"amount": amount, "currency": "CNY"},
    }


def mark_published(store: Store) -> None:
    with store.unit_of_work(HEAD_OFFICE) as uow:
        uow.outbox.mark_published([m.event_id for m in uow.outbox.pending(limit=100_000)])
        uow.commit()


EVEN = Tier("even_yuan", "Even whole yuan", 5)
ODD = Tier("odd_yuan", "Odd whole yuan", 5)


@attrs.frozen
class EvenYuan:
    """A bank's own rule, not a ThresholdTiers: tiers by whether the average is an even
    number of whole yuan (rounded down). Both tiers rank alike, so moves are sideways.
    ``calls`` records what the rule was asked: (average, current tier code)."""

    calls: list[tuple[Money, str | None]] = attrs.field(factory=list, eq=False, repr=False)
    tiers: tuple[Tier, ...] = (EVEN, ODD)

    @property
    def currency(self) -> str:
        return "CNY"

    def tier_for(self, average_aum: Money, current: Tier | None) -> Tier:
        self.calls.append((average_aum, current.code if current is not None else None))
        whole = average_aum.amount.to_integral_value(rounding=ROUND_FLOOR)
        return EVEN if whole % 2 == 0 else ODD


class TierStoreContract:
    """The behaviour every store shows for customer tiers."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        raise NotImplementedError("provide a `store` fixture returning a fresh, empty store")

    # -- the first re-tiering ----------------------------------------------------------

    def test_first_retier_sets_initial_tiers_by_the_broker_thresholds(self, store: Store) -> None:
        amounts = {
            1: "500000.00",  # exactly the threshold: one-to-one
            2: "499999.99",
            3: "100000.00",
            4: "99999.99",
            5: "0.00",
            6: "-100.00",  # an overdrawn book still gets the last tier
            7: "1000000000.00",
        }
        open_book(store, dict.fromkeys(amounts, ACTIVE))
        feed(store, APRIL[0], {n: units(a) for n, a in amounts.items()})
        report = retier(store)
        assert (report.period_start, report.period_end, report.effective_on) == (*APRIL, MAY_1)
        assert counts(report) == (
            7,
            0,
            7,
            0,
            0,
            0,
            7,
            {"one_to_one": 2, "standardised": 2, "electronic": 3},
        )
        assert tier_codes(store, *amounts) == {
            1: "one_to_one",
            2: "standardised",
            3: "standardised",
            4: "electronic",
            5: "electronic",
            6: "electronic",
            7: "one_to_one",
        }
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            first = uow.tiers.current(C(1))
            assert uow.tiers.history(C(1)) == [first]
            assert uow.tiers.on(C(1), MAY_1) == first
            assert uow.tiers.on(C(1), D(2030, 1, 1)) == first
            assert uow.tiers.on(C(1), APRIL[1]) is None
            assert uow.tiers.count() == 7
            assert [current(uow, n).average_aum for n in (2, 6)] == [
                cny("499999.99"),
                cny("-100.00"),
            ]
        assert first == TierRecord(
            customer_id=C(1),
            tier=ONE_TO_ONE,
            valid_from=MAY_1,
            valid_to=None,
            average_aum=cny("500000.00"),
            period_start=APRIL[0],
            period_end=APRIL[1],
        )
        assert type(first.valid_from) is datetime.date
        assert type(first.period_start) is type(first.period_end) is datetime.date

    def test_a_customer_without_a_tier_has_no_records(self, store: Store) -> None:
        open_book(store, {1: ACTIVE})
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.tiers.current(C(1)) is None
            assert uow.tiers.on(C(1), MAY_1) is None
            assert uow.tiers.history(C(1)) == []
            assert uow.tiers.current_many([C(1), C(99)]) == {}
            assert uow.tiers.count() == 0
            assert uow.tiers.history(C(99)) == []  # an unknown customer: nothing either

    def test_averages_carry_balances_in_and_count_only_the_rules_assets(self, store: Store) -> None:
        # April has 30 days.
        open_book(
            store,
            {1: ACTIVE, 2: ACTIVE, 3: ACTIVE, 4: ACTIVE, 5: ACTIVE, 6: ACTIVE, 7: ACTIVE},
            [
                account(12, 2, kind=AccountKind.FUND),
                account(13, 2, kind=AccountKind.WEALTH),
                account(14, 2, kind=AccountKind.LOAN),
                account(15, 2, kind=AccountKind.SECURITIES, currency="USD"),
            ],
        )
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.balances.write(
                [
                    # C1: the last balance before April is carried in (300,000 for the
                    # 15 days to 15 April), then 600,000 for 15 days: 450,000.
                    (A(1), D(2025, 3, 1), units("99999999.99")),
                    (A(1), D(2025, 3, 15), units("300000.00")),
                    (A(1), D(2025, 4, 16), units("600000.00")),
                    (A(1), D(2025, 5, 1), units("9999999.00")),  # after the period
                    # C2: its deposit and two more CNY assets sum to 450,000; the loan
                    # and the USD account do not count (either would make it 550,000).
                    (A(2), D(2025, 4, 1), units("0.00")),
                    (A(12), D(2025, 4, 1), units("200000.00")),
                    (A(13), D(2025, 4, 1), units("250000.00")),
                    (A(14), D(2025, 4, 1), units("100000.00")),
                    (A(15), D(2025, 4, 1), units("100000.00")),
                    # C3: no balances at all. C4: a balance only after the period.
                    (A(4), D(2025, 5, 1), units("800000.00")),
                    # C5: nothing before 21 April, then 300,000 for 10 days: 100,000.
                    (A(5), D(2025, 4, 21), units("300000.00")),
                    # C6: an amount a float could not hold, carried in whole.
                    (A(6), D(2025, 3, 31), BIG),
                    # C7: 100,000 for 10 days, then nothing: 33,333.333... -> 33,333.33.
                    (A(7), D(2025, 4, 10), units("100000.00")),
                    (A(7), D(2025, 4, 20), 0),
                ]
            )
            uow.commit()
        # A rule in another currency counts only that currency's assets.
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.tiers.retier(
                broker_tiers("USD"), period_start=APRIL[0], period_end=APRIL[1], effective_on=MAY_1
            )
            assert (current(uow, 2).tier, current(uow, 2).average_aum) == (
                STANDARDISED,
                Money.of("100000.00", "USD"),
            )
            assert (current(uow, 6).tier, current(uow, 6).average_aum) == (
                ELECTRONIC,
                Money.of("0.00", "USD"),
            )
            uow.rollback()
        report = retier(store)
        assert histories(store, 1, 2, 3, 4, 5, 6, 7) == {
            1: [("standardised", MAY_1, None, "450000.00")],
            2: [("standardised", MAY_1, None, "450000.00")],
            3: [("electronic", MAY_1, None, "0.00")],
            4: [("electronic", MAY_1, None, "0.00")],
            5: [("standardised", MAY_1, None, "100000.00")],
            6: [("one_to_one", MAY_1, None, "90071992547409.93")],
            7: [("electronic", MAY_1, None, "33333.33")],
        }
        assert counts(report) == (
            7,
            0,
            7,
            0,
            0,
            0,
            7,
            {"one_to_one": 1, "standardised": 3, "electronic": 3},
        )

    def test_accounts_count_only_on_the_days_they_are_open(self, store: Store) -> None:
        # As average_daily_aum counts them (Account.open_on): C1's second account closes
        # on 16 April (open 15 of April's 30 days); C2's opens on 21 April (10 days).
        open_book(
            store,
            {1: ACTIVE, 2: ACTIVE},
            [
                attrs.evolve(account(11, 1), closed_on=D(2025, 4, 16)),
                attrs.evolve(account(12, 2), opened_on=D(2025, 4, 21)),
            ],
        )
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.balances.write(
                [
                    (A(1), D(2025, 3, 31), units("100000.00")),
                    (A(11), D(2025, 3, 31), units("300000.00")),  # 150,000 over April
                    (A(12), D(2025, 3, 31), units("900000.00")),  # 300,000 over April
                ]
            )
            uow.commit()
        retier(store)
        assert histories(store, 1, 2) == {
            1: [("standardised", MAY_1, None, "250000.00")],
            2: [("standardised", MAY_1, None, "300000.00")],
        }

    def test_averages_round_half_up_to_the_minor_unit(self, store: Store) -> None:
        open_book(store, dict.fromkeys((1, 2, 3, 4), ACTIVE))
        first, second = D(2025, 4, 1), D(2025, 4, 2)
        feed(store, first, {1: 9_999_999, 2: 10_000_000, 3: -1, 4: 49_999_999})
        feed(store, second, {1: 10_000_000, 2: 10_000_001, 3: -2, 4: 50_000_000})
        report = retier(store, period=(first, second), effective_on=D(2025, 4, 3))
        assert histories(store, 1, 2, 3, 4) == {
            # 99,999.995 rounds up to the threshold: standardised, not electronic
            1: [("standardised", D(2025, 4, 3), None, "100000.00")],
            # 100,000.005 rounds up (half-even would give 100,000.00)
            2: [("standardised", D(2025, 4, 3), None, "100000.01")],
            # -0.015 rounds away from zero
            3: [("electronic", D(2025, 4, 3), None, "-0.02")],
            4: [("one_to_one", D(2025, 4, 3), None, "500000.00")],
        }
        assert report.by_tier == {"one_to_one": 1, "standardised": 2, "electronic": 1}

    def test_thresholds_in_a_currency_without_minor_units(self, store: Store) -> None:
        open_book(
            store,
            {1: ACTIVE, 2: ACTIVE},
            [account(11, 1, currency="JPY"), account(12, 2, currency="JPY")],
        )
        feed(store, D(2025, 4, 1), {11: 500_000, 12: 499_999})
        feed(store, D(2025, 4, 16), {11: 500_001, 12: 499_999})  # 500,000.5 -> 500,001
        retier(store, broker_tiers("JPY"))
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            found = uow.tiers.current_many([C(1), C(2)])
        assert {n: (found[C(n)].tier, found[C(n)].average_aum) for n in (1, 2)} == {
            1: (ONE_TO_ONE, Money.of("500001", "JPY")),
            2: (STANDARDISED, Money.of("499999", "JPY")),
        }

    def test_only_active_and_dormant_customers_are_tiered(self, store: Store) -> None:
        statuses = {
            1: LifecycleStatus.PROSPECT,
            2: ACTIVE,
            3: DORMANT,
            4: LifecycleStatus.CLOSED,
        }
        open_book(store, statuses)
        feed(store, APRIL[0], dict.fromkeys(statuses, units("600000.00")))
        report = retier(store)
        assert counts(report) == (2, 0, 2, 0, 0, 0, 2, {"one_to_one": 2})
        assert tier_codes(store, 1, 2, 3, 4) == {
            1: None,
            2: "one_to_one",
            3: "one_to_one",
            4: None,
        }
        # A tiered customer who closes keeps its record; later runs leave it alone.
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.customers.update(
                *uow.customers.get(C(2)).change_status(
                    LifecycleStatus.CLOSED, at=pendulum.datetime(2025, 5, 10, tz="UTC")
                )
            )
            uow.commit()
        feed(store, MAY[0], dict.fromkeys(statuses, 0))
        report = retier(store, period=MAY, effective_on=JUNE_1)
        assert counts(report) == (1, 0, 0, 0, 1, 0, 1, {"one_to_one": 1, "electronic": 1})
        assert histories(store, 1, 2, 4) == {
            1: [],
            2: [("one_to_one", MAY_1, None, "600000.00")],
            4: [],
        }
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.tiers.count() == 2

    # -- later periods -----------------------------------------------------------------

    def test_a_later_period_moves_customers_up_and_down(self, store: Store) -> None:
        open_book(store, dict.fromkeys((1, 2, 3), ACTIVE))
        feed(store, APRIL[0], {1: units("300000.00"), 2: units("600000.00"), 3: units("2e5")})
        feed(store, MAY[0], {1: units("600000.00"), 2: units("50000.00"), 3: units("2e5")})
        retier(store)
        report = retier(store, period=MAY, effective_on=JUNE_1)
        assert (report.period_start, report.period_end, report.effective_on) == (*MAY, JUNE_1)
        assert counts(report) == (
            3,
            1,
            0,
            1,
            1,
            0,
            2,
            {"one_to_one": 1, "standardised": 1, "electronic": 1},
        )
        assert histories(store, 1, 2, 3) == {
            1: [
                ("standardised", MAY_1, JUNE_1, "300000.00"),
                ("one_to_one", JUNE_1, None, "600000.00"),
            ],
            2: [
                ("one_to_one", MAY_1, JUNE_1, "600000.00"),
                ("electronic", JUNE_1, None, "50000.00"),
            ],
            3: [("standardised", MAY_1, None, "200000.00")],
        }
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            old, new = uow.tiers.history(C(1))
            assert (old.period_start, old.period_end) == APRIL
            assert (new.period_start, new.period_end) == MAY
            assert uow.tiers.current(C(1)) == new
            assert uow.tiers.on(C(1), APRIL[1]) is None
            assert uow.tiers.on(C(1), MAY_1) == old
            assert uow.tiers.on(C(1), MAY[1]) == old
            assert uow.tiers.on(C(1), JUNE_1) == new
            assert uow.tiers.on(C(1), D(2026, 1, 1)) == new
            assert uow.tiers.current_many([C(3), C(1), C(99), C(1)]) == {
                C(1): new,
                C(3): uow.tiers.current(C(3)),
            }
            assert uow.tiers.current_many([]) == {}
            assert uow.tiers.count() == 3

    def test_tier_changes_are_audited_and_published(self, store: Store) -> None:
        open_book(store, dict.fromkeys((1, 2, 3), ACTIVE))
        feed(store, APRIL[0], {1: units("300000.00"), 2: units("600000.00"), 3: units("2e5")})
        feed(store, MAY[0], {1: units("600000.00"), 2: units("50000.00"), 3: units("2e5")})
        mark_published(store)  # the customers' own events
        retier(store)
        assert tier_events(store) == [
            event(1, None, "standardised", "initial", "2025-05-01", "300000.00"),
            event(2, None, "one_to_one", "initial", "2025-05-01", "600000.00"),
            event(3, None, "standardised", "initial", "2025-05-01", "200000.00"),
        ]
        mark_published(store)
        retier(store, period=MAY, effective_on=JUNE_1)
        assert tier_events(store) == [
            event(1, "standardised", "one_to_one", "up", "2025-06-01", "600000.00"),
            event(2, "one_to_one", "electronic", "down", "2025-06-01", "50000.00"),
        ]
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            entries = uow.audit.entries(limit=100_000)
        changed = {
            n: [
                (e.entity_type, e.entity_version, e.actor, e.changes)
                for e in entries
                if e.action == "tier.changed" and e.entity_id == str(C(n))
            ]
            for n in (1, 2, 3)
        }

        def changes(before: str | None, after: str, day: str, amount: str) -> Any:
            return (
                "customer_tier",
                1,
                "ho-1",
                {
                    "tier": {"before": before, "after": after},
                    "effective_on": {"before": None, "after": day},
                    "average_aum": {"before": None, "after": amount},
                },
            )

        assert changed == {
            1: [
                changes(None, "standardised", "2025-05-01", "300000.00"),
                changes("standardised", "one_to_one", "2025-06-01", "600000.00"),
            ],
            2: [
                changes(None, "one_to_one", "2025-05-01", "600000.00"),
                changes("one_to_one", "electronic", "2025-06-01", "50000.00"),
            ],
            3: [changes(None, "standardised", "2025-05-01", "200000.00")],
        }
        runs = [
            (e.entity_type, e.entity_id, e.actor, e.changes)
            for e in entries
            if e.action == "tiers.retiered"
        ]
        assert runs == [
            (
                "tier_run",
                "2025-05-01",
                "ho-1",
                {
                    "period": {"before": None, "after": "2025-04-01/2025-04-30"},
                    "evaluated": {"before": None, "after": 3},
                    "changed": {"before": None, "after": 3},
                },
            ),
            (
                "tier_run",
                "2025-06-01",
                "ho-1",
                {
                    "period": {"before": None, "after": "2025-05-01/2025-05-31"},
                    "evaluated": {"before": None, "after": 3},
                    "changed": {"before": None, "after": 2},
                },
            ),
        ]
        # A run that changes nothing is still audited, and publishes nothing.
        mark_published(store)
        report = retier(store, period=MAY, effective_on=JUNE_1)
        assert counts(report)[:7] == (3, 3, 0, 0, 0, 0, 0)
        assert tier_events(store) == []
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            last = uow.audit.entries(limit=100_000)[-1]
        assert (last.action, last.entity_id, last.changes["changed"]) == (
            "tiers.retiered",
            "2025-06-01",
            {"before": None, "after": 0},
        )

    def test_hysteresis_keeps_a_tier_near_its_threshold_but_never_delays_a_rise(
        self, store: Store
    ) -> None:
        rule = broker_tiers(hysteresis=Decimal("0.1"))  # keeps: 450,000 and 90,000
        april = {
            1: "600000.00",
            2: "600000.00",
            3: "200000.00",
            4: "200000.00",
            5: "460000.00",  # a first tier: no buffer to keep
            6: "600000.00",
            7: "200000.00",
            8: "200000.00",
            9: "600000.00",
        }
        may = {
            1: "460000.00",  # one-to-one stays
            2: "449999.99",  # drops
            3: "460000.00",  # standardised does not rise below 500,000
            4: "500000.00",  # rises at once
            5: "460000.00",
            6: "450000.00",  # exactly the buffer's edge: stays
            7: "90000.00",  # stays
            8: "89999.99",  # drops
            9: "95000.00",  # the buffer keeps only the current tier: straight to electronic
        }
        open_book(store, dict.fromkeys(april, ACTIVE))
        feed(store, APRIL[0], {n: units(a) for n, a in april.items()})
        feed(store, MAY[0], {n: units(a) for n, a in may.items()})
        first = retier(store, rule)
        assert counts(first)[7] == {"one_to_one": 4, "standardised": 5}
        assert tier_codes(store, 5)[5] == "standardised"
        second = retier(store, rule, period=MAY, effective_on=JUNE_1)
        assert tier_codes(store, *april) == {
            1: "one_to_one",
            2: "standardised",
            3: "standardised",
            4: "one_to_one",
            5: "standardised",
            6: "one_to_one",
            7: "standardised",
            8: "electronic",
            9: "electronic",
        }
        assert counts(second) == (
            9,
            5,
            0,
            1,
            3,
            0,
            4,
            {"one_to_one": 3, "standardised": 4, "electronic": 2},
        )
        # Kept tiers are not rewritten: the record still shows April's average.
        assert histories(store, 1)[1] == [("one_to_one", MAY_1, None, "600000.00")]

    def test_the_buffers_edge_is_rounded_up_to_the_minor_unit(self, store: Store) -> None:
        top, base = Tier("top", "Top", 2), Tier("base", "Base", 1)
        # 100,000.01 less 10% is 90,000.009: a customer keeps "top" from 90,000.01.
        rule = ThresholdTiers(
            ((cny("100000.01"), top), (cny("0"), base)), hysteresis=Decimal("0.1")
        )
        open_book(store, {1: ACTIVE, 2: ACTIVE})
        feed(store, APRIL[0], {1: units("100000.01"), 2: units("100000.01")})
        feed(store, MAY[0], {1: units("90000.01"), 2: units("90000.00")})
        retier(store, rule)
        retier(store, rule, period=MAY, effective_on=JUNE_1)
        assert tier_codes(store, 1, 2) == {1: "top", 2: "base"}
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert current(uow, 2).tier == base

    # -- corrections -------------------------------------------------------------------

    def test_a_correction_of_a_first_run_replaces_that_days_records(self, store: Store) -> None:
        open_book(store, dict.fromkeys((1, 2, 3), ACTIVE))
        feed(store, APRIL[0], {1: units("2e5"), 2: units("2e5"), 3: units("6e5")})
        retier(store)
        mark_published(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:  # the feed was wrong: reload, re-run
            feed_in(uow, APRIL[0], {1: units("2.1e5"), 2: units("7e5"), 3: units("5e4")})
            report = uow.tiers.retier(
                broker_tiers(), period_start=APRIL[0], period_end=APRIL[1], effective_on=MAY_1
            )
            uow.commit()
        assert counts(report) == (
            3,
            1,
            0,
            1,
            1,
            0,
            2,
            {"one_to_one": 1, "standardised": 1, "electronic": 1},
        )
        assert histories(store, 1, 2, 3) == {
            1: [("standardised", MAY_1, None, "200000.00")],  # unchanged: not rewritten
            2: [("one_to_one", MAY_1, None, "700000.00")],
            3: [("electronic", MAY_1, None, "50000.00")],
        }
        assert tier_events(store) == [
            event(2, "standardised", "one_to_one", "up", "2025-05-01", "700000.00"),
            event(3, "one_to_one", "electronic", "down", "2025-05-01", "50000.00"),
        ]
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.tiers.count() == 3
            audited = [
                e.changes["tier"]
                for e in uow.audit.entries(entity_id=str(C(2)))
                if e.action == "tier.changed"
            ]
        assert audited == [
            {"before": None, "after": "standardised"},
            {"before": "standardised", "after": "one_to_one"},
        ]

    def test_a_correction_back_to_the_earlier_tier_reopens_it(self, store: Store) -> None:
        open_book(store, dict.fromkeys((1, 2, 3, 4), ACTIVE))
        feed(store, APRIL[0], dict.fromkeys((1, 2, 3, 4), units("2e5")))
        feed(store, MAY[0], {1: units("6e5"), 2: units("6e5"), 3: units("6e5"), 4: units("5e4")})
        retier(store)
        retier(store, period=MAY, effective_on=JUNE_1)
        mark_published(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            feed_in(uow, MAY[0], {1: units("3e5"), 2: units("5e4"), 3: units("6.5e5"), 4: 0})
            uow.balances.write([(A(4), D(2025, 5, 2), units("2e5"))])  # 30 of 31 days
            report = uow.tiers.retier(
                broker_tiers(), period_start=MAY[0], period_end=MAY[1], effective_on=JUNE_1
            )
            uow.commit()
        assert counts(report) == (
            4,
            1,
            0,
            1,
            2,
            0,
            3,
            {"one_to_one": 1, "standardised": 2, "electronic": 1},
        )
        assert histories(store, 1, 2, 3, 4) == {
            # back to April's tier: the June record is gone, May's is open again
            1: [("standardised", MAY_1, None, "200000.00")],
            # another tier: June's record is replaced
            2: [
                ("standardised", MAY_1, JUNE_1, "200000.00"),
                ("electronic", JUNE_1, None, "50000.00"),
            ],
            3: [
                ("standardised", MAY_1, JUNE_1, "200000.00"),
                ("one_to_one", JUNE_1, None, "600000.00"),
            ],
            4: [("standardised", MAY_1, None, "200000.00")],
        }
        assert tier_events(store) == [
            event(1, "one_to_one", "standardised", "down", "2025-06-01", "300000.00"),
            event(2, "one_to_one", "electronic", "down", "2025-06-01", "50000.00"),
            event(4, "electronic", "standardised", "up", "2025-06-01", "193548.39"),
        ]
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            reopened = uow.tiers.current(C(1))
            assert reopened is not None and reopened.valid_to is None
            assert uow.tiers.on(C(1), D(2025, 6, 15)) == reopened
            assert uow.tiers.history(C(1)) == [reopened]
            assert uow.tiers.count() == 4
        # The reopened record moves on like any other.
        feed(store, JUNE[0], {1: units("6e5")})
        retier(store, period=JUNE, effective_on=JULY_1)
        assert histories(store, 1)[1] == [
            ("standardised", MAY_1, JULY_1, "200000.00"),
            ("one_to_one", JULY_1, None, "600000.00"),
        ]

    def test_a_correction_asks_the_rule_with_the_tier_held_the_day_before(
        self, store: Store
    ) -> None:
        rule = broker_tiers(hysteresis=Decimal("0.1"))
        open_book(store, {1: ACTIVE, 2: ACTIVE})
        feed(store, APRIL[0], {1: units("6e5"), 2: units("6e5")})
        feed(store, MAY[0], {1: units("4e5"), 2: units("4.6e5")})
        retier(store, rule)
        retier(store, rule, period=MAY, effective_on=JUNE_1)
        assert tier_codes(store, 1, 2) == {1: "standardised", 2: "one_to_one"}
        with store.unit_of_work(HEAD_OFFICE) as uow:
            feed_in(uow, MAY[0], {1: units("4.6e5"), 2: units("4.4e5")})
            report = uow.tiers.retier(
                rule, period_start=MAY[0], period_end=MAY[1], effective_on=JUNE_1
            )
            uow.commit()
        # C1 held one-to-one before June: 460,000 keeps it, so June's drop is undone
        # (a move up from the replaced tier).
        # C2 had no June record: it now drops from June.
        assert counts(report)[:7] == (2, 0, 0, 1, 1, 0, 2)
        assert histories(store, 1, 2) == {
            1: [("one_to_one", MAY_1, None, "600000.00")],
            2: [
                ("one_to_one", MAY_1, JUNE_1, "600000.00"),
                ("standardised", JUNE_1, None, "440000.00"),
            ],
        }

    def test_a_run_before_a_later_tier_is_refused_and_writes_nothing(self, store: Store) -> None:
        open_book(store, {1: ACTIVE, 2: ACTIVE})
        feed(store, APRIL[0], {1: units("6e5")})
        feed(store, MAY[0], {1: units("5e4")})
        retier(store)
        retier(store, period=MAY, effective_on=JUNE_1)  # C1 drops from June
        with store.unit_of_work(HEAD_OFFICE) as uow:  # a customer with no tier yet
            uow.customers.add(customer(3))
            uow.commit()
        before = snapshot(store, 1, 2, 3)
        for period, effective_on in (
            (APRIL, MAY_1),
            ((D(2025, 4, 1), D(2025, 5, 15)), D(2025, 5, 16)),
            ((D(2025, 3, 1), D(2025, 3, 31)), D(2025, 4, 1)),
        ):
            with store.unit_of_work(HEAD_OFFICE) as uow:
                with pytest.raises(BusinessRuleViolation):
                    uow.tiers.retier(
                        broker_tiers(),
                        period_start=period[0],
                        period_end=period[1],
                        effective_on=effective_on,
                    )
                uow.commit()
            assert snapshot(store, 1, 2, 3) == before
        # The same day again, or a later one, is allowed.
        assert retier(store, period=MAY, effective_on=JUNE_1).initial == 1

    # -- refusals ----------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("args", "path"),
        [
            pytest.param({"effective_on": APRIL[1]}, "$.effective_on", id="on-period-end"),
            pytest.param({"effective_on": D(2025, 4, 15)}, "$.effective_on", id="in-period"),
            pytest.param(
                {"period_start": D(2025, 5, 1), "effective_on": D(2025, 5, 2)},
                "$.period_end",
                id="end-before-start",
            ),
            pytest.param(
                {"period_start": datetime.datetime(2025, 4, 1)}, "$.period_start", id="dt-start"
            ),
            pytest.param(
                {"period_end": pendulum.datetime(2025, 4, 30)}, "$.period_end", id="dt-end"
            ),
            pytest.param(
                {"effective_on": datetime.datetime(2025, 5, 1, tzinfo=datetime.UTC)},
                "$.effective_on",
                id="dt-effective",
            ),
            pytest.param({"effective_on": "2025-05-01"}, "$.effective_on", id="text-effective"),
            pytest.param({"rule": object()}, "$.rule", id="not-a-rule"),
            pytest.param({"rule": "broker"}, "$.rule", id="a-name"),
            pytest.param({"rule": EvenYuan(tiers=())}, "$.rule", id="no-tiers"),
        ],
    )
    def test_bad_arguments_are_validation_errors(
        self, store: Store, args: dict[str, Any], path: str
    ) -> None:
        open_book(store, {1: ACTIVE})
        feed(store, APRIL[0], {1: units("6e5")})
        before = snapshot(store, 1)
        call: dict[str, Any] = {
            "rule": broker_tiers(),
            "period_start": APRIL[0],
            "period_end": APRIL[1],
            "effective_on": MAY_1,
            **args,
        }
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(ValidationError) as caught:
                uow.tiers.retier(
                    call.pop("rule"),
                    **call,
                )
            uow.commit()
        assert [p.path for p in caught.value.problems] == [path]
        assert snapshot(store, 1) == before

    @pytest.fixture
    def org(self, store: Store) -> Store:
        """HO 总行 (supervisor SV0) > BJ 北京分行 (branch head BH1) > T1 财富一组
        (supervisor SV1, manager M1, who manages nobody yet)."""
        head = OrgUnit.head_office("HO", "总行")
        bj = head.child("BJ", "北京分行", OrgUnitKind.BRANCH)
        staff = [
            StaffMember(id=StaffId("SV0"), name="赵主管", unit="HO", roles={StaffRole.SUPERVISOR}),
            StaffMember(id=StaffId("BH1"), name="李行长", unit="BJ", roles={StaffRole.BRANCH_HEAD}),
            StaffMember(id=StaffId("SV1"), name="周主管", unit="T1", roles={StaffRole.SUPERVISOR}),
            StaffMember(id=StaffId("M1"), name="王经理", unit="T1"),
        ]
        with store.unit_of_work(HEAD_OFFICE) as uow:
            for unit in (head, bj, bj.child("T1", "财富一组", OrgUnitKind.TEAM)):
                uow.organization.add_unit(unit)
            for member in staff:
                uow.organization.add_staff(member)
            uow.commit()
        return store

    @pytest.mark.parametrize("actor_id", ["stranger", "M1", "SV1", "BH1"])
    def test_only_an_actor_who_sees_the_whole_book_may_retier(
        self, org: Store, actor_id: str
    ) -> None:
        store = org
        open_book(store, {1: ACTIVE})
        feed(store, APRIL[0], {1: units("6e5")})
        before = snapshot(store, 1)
        with store.unit_of_work(Actor(actor_id)) as uow:
            with pytest.raises(PermissionDenied):
                uow.tiers.retier(
                    broker_tiers(), period_start=APRIL[0], period_end=APRIL[1], effective_on=MAY_1
                )
            uow.commit()
        assert snapshot(store, 1) == before

    @pytest.mark.parametrize(
        "actor",
        [Actor("SV0"), Actor.system("retier")],
        ids=["head-office-supervisor", "batch-job"],
    )
    def test_head_office_and_batch_jobs_may_retier(self, org: Store, actor: Actor) -> None:
        store = org
        open_book(store, {1: ACTIVE})
        feed(store, APRIL[0], {1: units("6e5")})
        assert retier(store, actor=actor).initial == 1
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            (run,) = [e for e in uow.audit.entries(limit=1000) if e.action == "tiers.retiered"]
        assert run.actor == actor.id

    def test_a_read_only_unit_of_work_may_not_retier(self, store: Store) -> None:
        open_book(store, {1: ACTIVE})
        feed(store, APRIL[0], {1: units("6e5")})
        before = snapshot(store, 1)
        with (
            store.unit_of_work(HEAD_OFFICE, read_only=True) as uow,
            pytest.raises(ConflictError),
        ):
            uow.tiers.retier(
                broker_tiers(), period_start=APRIL[0], period_end=APRIL[1], effective_on=MAY_1
            )
        assert snapshot(store, 1) == before

    # -- transactions ------------------------------------------------------------------

    def test_a_run_is_seen_by_others_only_on_commit(self, store: Store) -> None:
        open_book(store, {1: ACTIVE})
        feed(store, APRIL[0], {1: units("6e5")})
        with store.unit_of_work(HEAD_OFFICE) as uow:
            # a customer, account and balance of this unit of work are tiered too
            uow.customers.add(customer(2, DORMANT))
            uow.accounts.add(account(2, 2))
            uow.balances.write([(A(2), D(2025, 3, 31), units("1.5e5"))])
            report = uow.tiers.retier(
                broker_tiers(), period_start=APRIL[0], period_end=APRIL[1], effective_on=MAY_1
            )
            assert counts(report)[:3] == (2, 0, 2)
            assert current(uow, 2).tier == STANDARDISED
            assert uow.tiers.count() == 2
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as other:
                assert other.tiers.current(C(1)) is None
                assert other.tiers.history(C(1)) == []
                assert other.tiers.on(C(1), MAY_1) is None
                assert other.tiers.current_many([C(1), C(2)]) == {}
                assert other.tiers.count() == 0
                assert [m for m in other.outbox.pending() if m.event_type == "TierChanged"] == []
            uow.commit()
        assert tier_codes(store, 1, 2) == {1: "one_to_one", 2: "standardised"}

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        open_book(store, {1: ACTIVE, 2: ACTIVE})
        feed(store, APRIL[0], {1: units("6e5"), 2: units("2e5")})
        retier(store)
        feed(store, MAY[0], {1: units("1e5"), 2: units("7e5")})
        before = snapshot(store, 1, 2)

        def run(uow: UnitOfWork) -> RetierReport:
            return uow.tiers.retier(
                broker_tiers(), period_start=MAY[0], period_end=MAY[1], effective_on=JUNE_1
            )

        with store.unit_of_work(HEAD_OFFICE) as uow:
            assert run(uow).changed == 2
            uow.rollback()
            assert [current(uow, n).valid_from for n in (1, 2)] == [MAY_1, MAY_1]
            assert len(uow.tiers.history(C(1))) == 1
            run(uow)  # leaving without commit rolls back too
        assert snapshot(store, 1, 2) == before
        with pytest.raises(RuntimeError), store.unit_of_work(HEAD_OFFICE) as uow:
            run(uow)
            raise RuntimeError("host failure")
        assert snapshot(store, 1, 2) == before
        assert retier(store, period=MAY, effective_on=JUNE_1).changed == 2  # nothing in the way

    # -- a bank's own rule -------------------------------------------------------------

    def test_any_tier_rule_gives_the_same_answers(self, store: Store) -> None:
        open_book(store, dict.fromkeys((1, 2, 3), ACTIVE))
        feed(store, APRIL[0], {1: units("201000"), 2: units("100001"), 3: 0})
        feed(store, MAY[0], {1: units("201001"), 2: units("100001.99"), 3: units("1.00")})
        first_rule, second_rule = EvenYuan(), EvenYuan()
        first = retier(store, first_rule)
        assert counts(first) == (3, 0, 3, 0, 0, 0, 3, {"even_yuan": 2, "odd_yuan": 1})
        assert sorted(first_rule.calls, key=lambda c: c[0].amount) == [
            (cny("0.00"), None),
            (cny("100001.00"), None),
            (cny("201000.00"), None),
        ]
        second = retier(store, second_rule, period=MAY, effective_on=JUNE_1)
        assert counts(second) == (3, 1, 0, 0, 0, 2, 2, {"odd_yuan": 3})
        assert sorted(second_rule.calls, key=lambda c: c[0].amount) == [
            (cny("1.00"), "even_yuan"),
            (cny("100001.99"), "odd_yuan"),
            (cny("201001.00"), "even_yuan"),
        ]
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert [r.tier for r in uow.tiers.history(C(1))] == [EVEN, ODD]  # name, rank kept
        assert histories(store, 1, 2, 3) == {
            1: [
                ("even_yuan", MAY_1, JUNE_1, "201000.00"),
                ("odd_yuan", JUNE_1, None, "201001.00"),
            ],
            2: [("odd_yuan", MAY_1, None, "100001.00")],
            3: [("even_yuan", MAY_1, JUNE_1, "0.00"), ("odd_yuan", JUNE_1, None, "1.00")],
        }
        assert [e for e in tier_events(store) if e["effective_on"] == "2025-06-01"] == [
            event(1, "even_yuan", "odd_yuan", "sideways", "2025-06-01", "201001.00"),
            event(3, "even_yuan", "odd_yuan", "sideways", "2025-06-01", "1.00"),
        ]
