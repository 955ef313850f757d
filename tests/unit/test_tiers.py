"""Tiers: the model, the threshold rule, the memory adapter's averages and the services.

What every store must do when re-tiering is in ``finance_crm.testing.tier_contracts``.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import pendulum
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from finance_crm.adapters.memory import InMemoryStore
from finance_crm.clock import FixedClock
from finance_crm.errors import NotFoundError, PermissionDenied, ValidationError
from finance_crm.ids import StaffId
from finance_crm.model.accounts import AccountKind
from finance_crm.model.customers import LifecycleStatus
from finance_crm.model.organization import OrgUnit, OrgUnitKind, StaffMember
from finance_crm.model.tiers import (
    ELECTRONIC,
    ONE_TO_ONE,
    STANDARDISED,
    Tier,
    TierChanged,
    TierDirection,
    TierRecord,
)
from finance_crm.money import Money
from finance_crm.ports import Store
from finance_crm.rules.tiers import ThresholdTiers, broker_tiers
from finance_crm.security import Actor
from finance_crm.services.balances import average_daily_aum
from finance_crm.services.managers import assign_managers
from finance_crm.services.tiers import (
    customer_tier,
    last_complete_quarter,
    retier_book,
    tier_history,
)
from finance_crm.testing.tier_contracts import (
    APRIL,
    HEAD_OFFICE,
    MAY,
    MAY_1,
    A,
    C,
    account,
    cny,
    feed,
    open_book,
    units,
)

D = datetime.date
ACTIVE = LifecycleStatus.ACTIVE
ACTIVE_BOOK = {1: "500000.00", 2: "150000.00"}


def paths(error: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [p.path for p in error.value.problems]


def record(**changes: Any) -> TierRecord:
    fields: dict[str, Any] = {
        "customer_id": C(1),
        "tier": ONE_TO_ONE,
        "valid_from": MAY_1,
        "valid_to": None,
        "average_aum": cny("500000.00"),
        "period_start": APRIL[0],
        "period_end": APRIL[1],
    }
    return TierRecord(**{**fields, **changes})


# -- Tier, TierRecord, TierDirection -------------------------------------------------


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (("One", "n", 1), "$.code"),
        (("1tier", "n", 1), "$.code"),
        (("", "n", 1), "$.code"),
        (("a" * 41, "n", 1), "$.code"),
        (("gold-tier", "n", 1), "$.code"),
        ((7, "n", 1), "$.code"),
        (("gold", " ", 1), "$.name"),
        (("gold", "n" * 201, 1), "$.name"),
        (("gold", "n", -1), "$.rank"),
        (("gold", "n", 1001), "$.rank"),
        (("gold", "n", True), "$.rank"),
        (("gold", "n", 1.0), "$.rank"),
        (("gold", "n", "3"), "$.rank"),
    ],
)
def test_a_bad_tier_is_refused_with_a_path(args: tuple[Any, ...], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Tier(*args)
    assert paths(caught) == [path]


def test_tier_codes_and_ranks_at_their_limits() -> None:
    assert Tier("a" * 40, "n", 0).rank == 0
    assert Tier("t9_x", "n", 1000).code == "t9_x"
    assert ONE_TO_ONE.rank > STANDARDISED.rank > ELECTRONIC.rank


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"valid_to": MAY_1}, "$.valid_to"),
        ({"valid_to": D(2025, 4, 30)}, "$.valid_to"),
        ({"period_end": D(2025, 3, 31)}, "$.period_end"),
        ({"valid_from": datetime.datetime(2025, 5, 1)}, "$.valid_from"),
        ({"valid_to": pendulum.datetime(2025, 6, 1)}, "$.valid_to"),
        ({"period_start": "2025-04-01"}, "$.period_start"),
        ({"period_end": None}, "$.period_end"),
        ({"average_aum": Decimal("1")}, "$.average_aum"),
    ],
)
def test_a_bad_tier_record_is_refused_with_a_path(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        record(**changes)
    assert paths(caught) == [path]


def test_a_tier_record_of_something_not_a_tier_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        record(tier="one_to_one")
    assert paths(caught) == ["$.tier"]


def test_a_tier_record_keeps_plain_dates_and_knows_its_days() -> None:
    one = record(valid_from=pendulum.date(2025, 5, 1), valid_to=pendulum.date(2025, 6, 1))
    assert type(one.valid_from) is type(one.valid_to) is datetime.date
    assert one == record(valid_to=D(2025, 6, 1))
    assert [one.active_on(d) for d in (D(2025, 4, 30), MAY_1, D(2025, 5, 31), D(2025, 6, 1))] == [
        False,
        True,
        True,
        False,
    ]
    assert record().active_on(D(2999, 1, 1))
    assert record(period_start=APRIL[1]).period_start == APRIL[1]  # a one-day period


def test_direction_between_tiers() -> None:
    gold_twin = Tier("gold_twin", "Same rank", ONE_TO_ONE.rank)
    assert TierDirection.between(None, ELECTRONIC) is TierDirection.INITIAL
    assert TierDirection.between(STANDARDISED, ONE_TO_ONE) is TierDirection.UP
    assert TierDirection.between(ELECTRONIC, ONE_TO_ONE) is TierDirection.UP
    assert TierDirection.between(ONE_TO_ONE, ELECTRONIC) is TierDirection.DOWN
    assert TierDirection.between(ONE_TO_ONE, gold_twin) is TierDirection.SIDEWAYS
    assert TierDirection.between(ONE_TO_ONE, ONE_TO_ONE) is TierDirection.SIDEWAYS


def test_tier_changed_needs_a_direction() -> None:
    fields: dict[str, Any] = {
        "occurred_at": pendulum.datetime(2025, 5, 1, tz="UTC"),
        "customer_id": C(1),
        "previous": None,
        "current": "one_to_one",
        "effective_on": MAY_1,
        "average_aum": cny("1"),
    }
    assert TierChanged(direction=TierDirection.INITIAL, **fields).aggregate_id == str(C(1))
    with pytest.raises(ValidationError) as caught:
        TierChanged(direction="up", **fields)  # type: ignore[arg-type]
    assert paths(caught) == ["$.direction"]


# -- ThresholdTiers --------------------------------------------------------------------

GOLD = Tier("gold", "Gold", 40)


def bands(*pairs: tuple[str, Tier], currency: str = "CNY") -> tuple[tuple[Money, Tier], ...]:
    return tuple((Money.of(amount, currency), tier) for amount, tier in pairs)


@pytest.mark.parametrize(
    ("make", "path"),
    [
        (lambda: ThresholdTiers(5), "$.bands"),
        (lambda: ThresholdTiers("gold"), "$.bands"),
        (lambda: ThresholdTiers(()), "$.bands"),
        (lambda: ThresholdTiers([(cny("0"), ONE_TO_ONE), "x"]), "$.bands[1]"),
        (lambda: ThresholdTiers([(cny("0"),)]), "$.bands[0]"),
        (lambda: ThresholdTiers([(Decimal(0), ONE_TO_ONE)]), "$.bands[0]"),
        (lambda: ThresholdTiers([(cny("0"), "one_to_one")]), "$.bands[0]"),
        (lambda: ThresholdTiers([[cny("0"), ONE_TO_ONE]]), "$.bands[0]"),
        # thresholds must fall
        (
            lambda: ThresholdTiers(bands(("100", ONE_TO_ONE), ("100", STANDARDISED), ("0", GOLD))),
            "$.bands[1]",
        ),
        (
            lambda: ThresholdTiers(bands(("100", ONE_TO_ONE), ("0", STANDARDISED), ("50", GOLD))),
            "$.bands[2]",
        ),
        # ranks must fall with them
        (lambda: ThresholdTiers(bands(("100", STANDARDISED), ("0", ONE_TO_ONE))), "$.bands[1]"),
        (
            lambda: ThresholdTiers(
                bands(("100", ONE_TO_ONE), ("0", Tier("twin", "Same rank", ONE_TO_ONE.rank)))
            ),
            "$.bands[1]",
        ),
        # the last threshold is zero
        (lambda: ThresholdTiers(bands(("100", ONE_TO_ONE), ("1", ELECTRONIC))), "$.bands[1]"),
        (lambda: ThresholdTiers(bands(("10", ONE_TO_ONE))), "$.bands[0]"),
        (lambda: ThresholdTiers(bands(("0", ONE_TO_ONE), ("-1", ELECTRONIC))), "$.bands[1]"),
        # one currency
        (
            lambda: ThresholdTiers(
                (*bands(("100", ONE_TO_ONE)), *bands(("0", ELECTRONIC), currency="USD"))
            ),
            "$.bands",
        ),
        # each tier once
        (lambda: ThresholdTiers(bands(("100", ONE_TO_ONE), ("0", ONE_TO_ONE))), "$.bands"),
        # hysteresis: an exact fraction in [0, 1)
        (lambda: broker_tiers(hysteresis=0.1), "$.hysteresis"),  # type: ignore[arg-type]
        (lambda: broker_tiers(hysteresis=Decimal("-0.01")), "$.hysteresis"),
        (lambda: broker_tiers(hysteresis=Decimal(1)), "$.hysteresis"),
        (lambda: broker_tiers(hysteresis="1.5"), "$.hysteresis"),
        (lambda: broker_tiers(hysteresis=Decimal("NaN")), "$.hysteresis"),
        (lambda: broker_tiers(hysteresis=Decimal("Infinity")), "$.hysteresis"),
        (lambda: ThresholdTiers(bands(("0", ONE_TO_ONE)), hysteresis=None), "$.hysteresis"),
        (lambda: ThresholdTiers(bands(("0", ONE_TO_ONE)), hysteresis="ten"), "$.hysteresis"),
        (lambda: ThresholdTiers(bands(("0", ONE_TO_ONE)), hysteresis=1), "$.hysteresis"),
    ],
    ids=[
        "not-iterable",
        "text",
        "empty",
        "not-a-pair",
        "one-element",
        "not-money",
        "not-a-tier",
        "a-list",
        "equal-thresholds",
        "rising-threshold",
        "rising-rank",
        "equal-rank",
        "last-not-zero",
        "single-not-zero",
        "negative-last",
        "two-currencies",
        "duplicate-tier",
        "h-float",
        "h-negative",
        "h-one",
        "h-above-one",
        "h-nan",
        "h-infinity",
        "h-none",
        "h-text",
        "h-int-one",
    ],
)
def test_bad_threshold_tiers_are_refused_with_a_path(make: Callable[[], Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make()
    assert paths(caught) == [path]


def test_broker_tiers_refuses_malformed_text_hysteresis() -> None:
    with pytest.raises(ValidationError) as caught:
        broker_tiers(hysteresis="ten percent")
    assert paths(caught) == ["$.hysteresis"]


def test_good_threshold_tiers() -> None:
    rule = broker_tiers("USD", hysteresis="0.10")
    assert (rule.currency, rule.hysteresis) == ("USD", Decimal("0.10"))
    assert rule.tiers == (ONE_TO_ONE, STANDARDISED, ELECTRONIC)
    assert ThresholdTiers(bands(("0", GOLD)), hysteresis=0).hysteresis == 0
    assert ThresholdTiers([(cny("0"), GOLD)]).tiers == (GOLD,)  # any sequence of pairs
    assert broker_tiers() == broker_tiers(hysteresis=Decimal("0"))


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("1000000000.00", "one_to_one"),
        ("500000.00", "one_to_one"),
        ("499999.99", "standardised"),
        ("100000.00", "standardised"),
        ("99999.99", "electronic"),
        ("0.01", "electronic"),
        ("0.00", "electronic"),
        ("-500000.00", "electronic"),
    ],
)
def test_broker_tiers_boundaries(amount: str, code: str) -> None:
    rule = broker_tiers()
    assert rule.tier_for(cny(amount), None).code == code
    # without a buffer the current tier changes nothing
    for current in (ONE_TO_ONE, STANDARDISED, ELECTRONIC):
        assert rule.tier_for(cny(amount), current).code == code


@pytest.mark.parametrize(
    ("amount", "current", "code"),
    [
        ("460000.00", None, "standardised"),  # a first tier has no buffer
        ("460000.00", ONE_TO_ONE, "one_to_one"),
        ("450000.00", ONE_TO_ONE, "one_to_one"),
        ("449999.99", ONE_TO_ONE, "standardised"),
        ("95000.00", ONE_TO_ONE, "electronic"),  # only the current tier is kept
        ("460000.00", STANDARDISED, "standardised"),  # no early rise
        ("500000.00", STANDARDISED, "one_to_one"),  # rises never wait
        ("500000.00", ELECTRONIC, "one_to_one"),
        ("90000.00", STANDARDISED, "standardised"),
        ("89999.99", STANDARDISED, "electronic"),
        ("460000.00", GOLD, "standardised"),  # a tier the rule does not know: no buffer
    ],
)
def test_hysteresis(amount: str, current: Tier | None, code: str) -> None:
    assert broker_tiers(hysteresis="0.1").tier_for(cny(amount), current).code == code


def test_tier_for_refuses_other_currencies() -> None:
    rule = broker_tiers()
    for average in (Money.of("600000", "USD"), Decimal("600000"), 600000):
        with pytest.raises(ValidationError) as caught:
            rule.tier_for(average, None)  # type: ignore[arg-type]
        assert paths(caught) == ["$.average_aum"]


def test_keep_thresholds_are_the_buffered_thresholds_rounded_up() -> None:
    assert dict(broker_tiers().keep_thresholds) == {
        "one_to_one": 50_000_000,
        "standardised": 10_000_000,
        "electronic": 0,
    }
    assert dict(broker_tiers(hysteresis="0.1").keep_thresholds) == {
        "one_to_one": 45_000_000,
        "standardised": 9_000_000,
        "electronic": 0,
    }
    top, base = Tier("top", "Top", 2), Tier("base", "Base", 1)
    odd = ThresholdTiers(bands(("100000.01", top), ("0", base)), hysteresis="0.1")
    assert odd.keep_thresholds["top"] == 9_000_001  # 90,000.009 -> 90,000.01
    assert odd.tier_for(cny("90000.01"), top) == top
    assert odd.tier_for(cny("90000.00"), top) == base
    yen = ThresholdTiers(bands(("333", top), ("0", base), currency="JPY"), hysteresis="0.1")
    assert yen.keep_thresholds["top"] == 300  # 299.7 yen -> 300
    dinar = ThresholdTiers(bands(("1.001", top), ("0", base), currency="BHD"), hysteresis="0.5")
    assert dinar.keep_thresholds["top"] == 501  # 0.5005 -> 0.501
    with pytest.raises(TypeError):
        broker_tiers().keep_thresholds["gold"] = 1  # type: ignore[index]


def _oracle(
    steps: list[tuple[int, Tier]], hysteresis: Decimal, average: int, current: Tier | None
) -> Tier:
    """tier_for written out plainly, in exact fractions of minor units."""
    earned = steps[-1][1]
    for threshold, tier in steps:
        if average >= threshold:
            earned = tier
            break
    for threshold, tier in steps:
        kept = Fraction(threshold) * (1 - Fraction(hysteresis))
        if current == tier and tier.rank > earned.rank and Fraction(average) >= kept:
            return tier
    return earned


@st.composite
def threshold_rules(draw: st.DrawFn) -> tuple[list[tuple[int, Tier]], Decimal]:
    size = draw(st.integers(1, 5))
    upper = draw(
        st.lists(st.integers(1, 10**12), min_size=size - 1, max_size=size - 1, unique=True)
    )
    thresholds = [*sorted(upper, reverse=True), 0]
    ranks = sorted(draw(st.lists(st.integers(0, 1000), min_size=size, max_size=size, unique=True)))
    tiers = [Tier(f"t{i}", f"Tier {i}", rank) for i, rank in enumerate(reversed(ranks))]
    hysteresis = draw(
        st.decimals(min_value=0, max_value=Decimal("0.9999"), places=4, allow_nan=False)
    )
    return list(zip(thresholds, tiers, strict=True)), hysteresis


@settings(max_examples=300, deadline=None)
@given(
    rule=threshold_rules(),
    averages=st.lists(st.integers(-(10**13), 10**13), min_size=1, max_size=10),
    data=st.data(),
)
def test_tier_for_agrees_with_a_plain_oracle(
    rule: tuple[list[tuple[int, Tier]], Decimal], averages: list[int], data: st.DataObject
) -> None:
    steps, hysteresis = rule
    tiers = ThresholdTiers(
        [(Money.from_minor_units(t, "CNY"), tier) for t, tier in steps], hysteresis=hysteresis
    )
    # near every threshold and every buffered threshold, where mistakes hide
    edges = [t + d for t, _ in steps for d in (-1, 0, 1)]
    edges += [int(t * (1 - hysteresis)) + d for t, _ in steps for d in (-1, 0, 1)]
    for average in [*averages, *edges]:
        current = data.draw(st.sampled_from([None, GOLD, *(tier for _, tier in steps)]))
        got = tiers.tier_for(Money.from_minor_units(average, "CNY"), current)
        assert got == _oracle(steps, hysteresis, average, current)


# -- the memory adapter's averages -----------------------------------------------------

WINDOW = D(2025, 1, 1)


@st.composite
def balance_books(draw: st.DrawFn) -> dict[str, Any]:
    accounts = draw(
        st.lists(
            st.tuples(
                st.integers(1, 2),  # owner
                st.sampled_from(list(AccountKind)),
                st.sampled_from(["CNY", "USD"]),
            ),
            max_size=4,
        )
    )
    rows = []
    for n in range(len(accounts)):
        days = draw(st.lists(st.integers(0, 150), unique=True, max_size=12))
        for day in days:
            amount = draw(st.integers(-(10**9), 10**13))
            rows.append((A(11 + n), WINDOW + datetime.timedelta(days=day), amount))
    start = WINDOW + datetime.timedelta(days=draw(st.integers(0, 120)))
    end = start + datetime.timedelta(days=draw(st.integers(0, 100)))
    return {"accounts": accounts, "rows": rows, "period": (start, end)}


def _half_a_unit(last: int) -> dict[str, Any]:
    """A two-day book whose average is exactly half a minor unit from 0 (or -1)."""
    return {
        "accounts": [(1, AccountKind.DEPOSIT, "CNY")],
        "rows": [(A(11), WINDOW, 0), (A(11), WINDOW + datetime.timedelta(days=1), last)],
        "period": (WINDOW, WINDOW + datetime.timedelta(days=1)),
    }


@settings(max_examples=120, deadline=None)
@given(book=balance_books(), currency=st.sampled_from(["CNY", "USD"]))
@example(book=_half_a_unit(1), currency="CNY")
@example(book=_half_a_unit(-1), currency="CNY")
def test_retier_averages_equal_average_daily_aum(book: dict[str, Any], currency: str) -> None:
    """Two separately written computations of the period-average daily AUM agree."""
    store = InMemoryStore()
    open_book(
        store,
        {1: ACTIVE, 2: ACTIVE},
        [
            account(11 + n, owner, kind=kind, currency=code)
            for n, (owner, kind, code) in enumerate(book["accounts"])
        ],
    )
    with store.unit_of_work(HEAD_OFFICE) as uow:
        uow.balances.write(book["rows"])
        uow.commit()
    start, end = book["period"]
    with store.unit_of_work(HEAD_OFFICE) as uow:
        uow.tiers.retier(
            broker_tiers(currency),
            period_start=start,
            period_end=end,
            effective_on=end + datetime.timedelta(days=1),
        )
        for n in (1, 2):
            found = uow.tiers.current(C(n))
            assert found is not None
            expected = average_daily_aum(uow, C(n), start, end).get(
                currency, Money.from_minor_units(0, currency)
            )
            assert found.average_aum == expected


def test_a_closed_account_stops_counting_in_the_tier_average() -> None:
    store = InMemoryStore()
    closing = attrs.evolve(account(2, 1), closed_on=D(2025, 4, 16))  # open 15 of 30 days
    open_book(store, {1: ACTIVE}, [closing])
    feed(store, APRIL[0], {1: units("100000.00"), 2: units("300000.00")})
    with store.unit_of_work(HEAD_OFFICE) as uow:
        assert average_daily_aum(uow, C(1), *APRIL) == {"CNY": cny("250000.00")}
        uow.tiers.retier(
            broker_tiers(), period_start=APRIL[0], period_end=APRIL[1], effective_on=MAY_1
        )
        found = uow.tiers.current(C(1))
        assert found is not None and found.average_aum == cny("250000.00")


# -- services.tiers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "quarter"),
    [
        (D(2025, 7, 10), (D(2025, 4, 1), D(2025, 6, 30))),
        (D(2025, 7, 1), (D(2025, 4, 1), D(2025, 6, 30))),
        (D(2025, 6, 30), (D(2025, 1, 1), D(2025, 3, 31))),
        (D(2025, 1, 1), (D(2024, 10, 1), D(2024, 12, 31))),
        (D(2025, 3, 31), (D(2024, 10, 1), D(2024, 12, 31))),
        (D(2024, 11, 15), (D(2024, 7, 1), D(2024, 9, 30))),
    ],
)
def test_last_complete_quarter(
    day: datetime.date, quarter: tuple[datetime.date, datetime.date]
) -> None:
    assert last_complete_quarter(day) == quarter


def _tiered_store(at: pendulum.DateTime) -> InMemoryStore:
    store = InMemoryStore(clock=FixedClock(at))
    open_book(store, {1: ACTIVE, 2: ACTIVE})
    feed(store, D(2024, 12, 31), {1: units(ACTIVE_BOOK[1]), 2: units(ACTIVE_BOOK[2])})
    return store


def test_retier_book_defaults_to_the_last_complete_quarter_in_the_banks_time_zone() -> None:
    # 17:00 UTC on 30 June is already 1 July in Shanghai: the second quarter is complete.
    store = _tiered_store(pendulum.datetime(2025, 6, 30, 17, tz="UTC"))
    with store.unit_of_work(HEAD_OFFICE) as uow:
        report = retier_book(uow)
        assert (report.period_start, report.period_end, report.effective_on) == (
            D(2025, 4, 1),
            D(2025, 6, 30),
            D(2025, 7, 1),
        )
        assert type(report.effective_on) is datetime.date
        assert dict(report.by_tier) == {"one_to_one": 1, "standardised": 1}  # broker tiers
        one = uow.tiers.current(C(1))
        assert one is not None and (one.tier, one.valid_from) == (ONE_TO_ONE, D(2025, 7, 1))
        uow.commit()
    # An hour earlier it is still 30 June there: the first quarter is the last complete.
    store = _tiered_store(pendulum.datetime(2025, 6, 30, 15, tz="UTC"))
    with store.unit_of_work(HEAD_OFFICE) as uow:
        report = retier_book(uow)
    assert (report.period_start, report.period_end, report.effective_on) == (
        D(2025, 1, 1),
        D(2025, 3, 31),
        D(2025, 4, 1),
    )


def test_retier_book_takes_a_period_rule_and_effective_day() -> None:
    store = _tiered_store(pendulum.datetime(2025, 7, 10, tz="UTC"))
    with store.unit_of_work(HEAD_OFFICE) as uow:
        report = retier_book(uow, period=APRIL)
        assert report.effective_on == MAY_1
        uow.rollback()
        report = retier_book(
            uow, broker_tiers(hysteresis="0.1"), period=MAY, effective_on=D(2025, 7, 1)
        )
        assert (report.period_start, report.period_end, report.effective_on) == (
            *MAY,
            D(2025, 7, 1),
        )
        uow.rollback()
        gold_only = ThresholdTiers(bands(("0", GOLD)))
        report = retier_book(uow, gold_only, period=APRIL)
        assert dict(report.by_tier) == {"gold": 2}


@pytest.mark.parametrize(
    "period",
    [
        (datetime.datetime(2025, 4, 1), datetime.datetime(2025, 4, 30)),
        ("2025-04-01", "2025-04-30"),
        (D(2025, 4, 30), D(2025, 4, 1)),
    ],
)
def test_retier_book_refuses_a_bad_period(period: Any) -> None:
    store = _tiered_store(pendulum.datetime(2025, 7, 10, tz="UTC"))
    with store.unit_of_work(HEAD_OFFICE) as uow, pytest.raises(ValidationError):
        retier_book(uow, period=period)


@pytest.fixture
def managed() -> Store:
    """C1 managed by M1, C2 by M2 (both in team T1, supervisor SV1), tiered from May."""
    store = _tiered_store(pendulum.datetime(2025, 7, 10, tz="UTC"))
    head = OrgUnit.head_office("HO", "总行")
    team = head.child("T1", "财富一组", OrgUnitKind.TEAM)
    with store.unit_of_work(HEAD_OFFICE) as uow:
        uow.organization.add_unit(head)
        uow.organization.add_unit(team)
        for staff in ("M1", "M2", "M3"):
            uow.organization.add_staff(StaffMember(id=StaffId(staff), name="王经理", unit="T1"))
        for n in (1, 2):
            assign_managers(uow, C(n), primary=StaffId(f"M{n}"), reason="new_customer")
        retier_book(uow, period=APRIL)
        uow.commit()
    return store


def test_customer_tier_and_history_answer_for_visible_customers(managed: Store) -> None:
    with managed.unit_of_work(Actor("M1")) as uow:
        now = customer_tier(uow, C(1))
        assert now is not None and now.tier == ONE_TO_ONE
        assert customer_tier(uow, C(1), D(2025, 5, 20)) == now
        assert customer_tier(uow, C(1), D(2025, 4, 30)) is None
        assert tier_history(uow, C(1)) == [now]
    with managed.unit_of_work(Actor("M3")) as uow, pytest.raises(NotFoundError):
        customer_tier(uow, C(1))  # M3 sees nobody


@pytest.mark.parametrize(
    ("actor", "n"),
    [
        (Actor("M1"), 2),  # another manager's customer
        (Actor("M3"), 1),
        (Actor("stranger"), 1),  # an empty scope
        (HEAD_OFFICE, 99),  # no such customer
    ],
)
def test_customer_tier_and_history_refuse_as_reading_the_customer_does(
    managed: Store, actor: Actor, n: int
) -> None:
    with managed.unit_of_work(actor, read_only=True) as uow:
        with pytest.raises((NotFoundError, PermissionDenied)) as refused:
            uow.customers.get(C(n))
        for read in (
            lambda: customer_tier(uow, C(n)),
            lambda: customer_tier(uow, C(n), MAY_1),
            lambda: tier_history(uow, C(n)),
        ):
            with pytest.raises(refused.type):
                read()


def test_tier_reads_need_no_write_access(managed: Store) -> None:
    with managed.unit_of_work(Actor("M2"), read_only=True) as uow:
        (only,) = tier_history(uow, C(2))
    assert (only.tier, only.average_aum) == (STANDARDISED, cny(ACTIVE_BOOK[2]))
    assert only.customer_id == C(2) and isinstance(only.customer_id, uuid.UUID)
