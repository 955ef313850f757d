"""Transactions, trades and contribution: the model's checks, and transaction feeds
against an oracle (Hypothesis) on memory and SQLite. The contract suite
(``finance_crm.testing.transaction_contracts``) covers the stores and services row by
row; the strict xfails at the end show bugs found while writing these tests."""

from __future__ import annotations

import datetime
import itertools
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance_crm.adapters.memory import InMemoryStore
from finance_crm.errors import ValidationError
from finance_crm.ids import AccountId, CustomerId
from finance_crm.model.accounts import Account, AccountKind
from finance_crm.model.customers import Customer
from finance_crm.model.transactions import ContributionFigure, Transaction, TransactionKind
from finance_crm.money import Money
from finance_crm.ports import Store
from finance_crm.security import Actor
from finance_crm.services.customer_import import ImportMode, RowError
from finance_crm.services.transactions import (
    FeedReport,
    load_contributions,
    load_transactions,
)
from finance_crm.testing import make_corporate, make_individual

D = datetime.date
K = TransactionKind
ADMIN = Actor("ho-1", roles={"head_office"})
ALL = ImportMode.ALL_OR_NOTHING
SKIP = ImportMode.SKIP_BAD_ROWS
DAY = D(2025, 9, 1)
ACCOUNT = AccountId(uuid.UUID("00000000-0000-7000-b000-000000000001"))
CUSTOMER = CustomerId(uuid.UUID("00000000-0000-7000-8000-000000000001"))

_BAD_DAY = "must be a date (YYYY-MM-DD)"
_BAD_AMOUNT = "must be a decimal amount (text or Decimal, not float)"
_NOT_POSITIVE = "must be a positive Money amount (the kind says which way it went)"
_TOO_FINE = "has more decimal places than the currency has"
_TOO_LARGE = "is too large to store"
_NO_ACCOUNT = "no account with this number; feed the account first"
_MISMATCH = "differs from the account's currency"
_NO_INSTRUMENT = "a trade names its instrument"
_NOT_A_TRADE = "only a trade (buy, sell) has an instrument, sector or quantity"
_BAD_QUANTITY = "must be a decimal quantity (not a float)"
_QUANTITY = "must be a positive quantity with at most 6 decimal places"
_REFERENCE = (
    "must be the core system's transaction reference: 1-64 letters, digits or "
    "'.', '_', ':', '/', '-'"
)
_KIND = "must be one of " + ", ".join(k.value for k in TransactionKind)
_SECOND_REFERENCE = "a second transaction with this reference on the account"


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


def transaction(**changes: Any) -> Transaction:
    """A valid deposit of 1.00 CNY, with ``changes``."""
    fields: dict[str, Any] = {
        "account_id": ACCOUNT,
        "day": DAY,
        "reference": "R0001",
        "kind": K.DEPOSIT,
        "amount": cny("1.00"),
    }
    return Transaction(**(fields | changes))


def trade(**changes: Any) -> Transaction:
    return transaction(**({"kind": K.BUY, "instrument": "600036.SH"} | changes))


def paths(caught: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [p.path for p in caught.value.problems]


# -- the model ---------------------------------------------------------------------------


def test_a_valid_transaction_keeps_its_fields() -> None:
    t = trade(
        day=pendulum.date(2025, 9, 1),
        reference="CORE:2025/09/01-000001.a_b",
        amount=cny("120000.00"),
        sector="银行",
        quantity=Decimal("3000.000001"),
    )
    assert type(t.day) is datetime.date and t.day == DAY  # a pendulum Date is normalised
    assert (t.kind, t.instrument, t.sector, t.quantity) == (
        K.BUY,
        "600036.SH",
        "银行",
        Decimal("3000.000001"),
    )
    assert transaction().id != transaction().id  # a new id each time
    assert transaction(reference="R" * 64).reference == "R" * 64
    assert trade(sector="s" * 60, quantity=Decimal("1E+3")).quantity == Decimal(1000)
    assert trade(kind=K.SELL).instrument == "600036.SH"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        t.amount = cny("1.00")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"day": datetime.datetime(2025, 9, 1)}, "$.day"),
        ({"day": pendulum.datetime(2025, 9, 1)}, "$.day"),
        ({"day": "2025-09-01"}, "$.day"),
        ({"day": None}, "$.day"),
        ({"reference": ""}, "$.reference"),
        ({"reference": "R 1"}, "$.reference"),
        ({"reference": "R" * 65}, "$.reference"),
        ({"reference": "参考1"}, "$.reference"),
        ({"reference": 1}, "$.reference"),
        ({"kind": "deposit"}, "$.kind"),
        ({"kind": None}, "$.kind"),
        ({"amount": cny("0.00")}, "$.amount"),
        ({"amount": cny("-0.01")}, "$.amount"),
        ({"amount": Decimal("1.00")}, "$.amount"),
        ({"amount": 1}, "$.amount"),
        ({"instrument": "600036 SH"}, "$.instrument"),
        ({"instrument": ""}, "$.instrument"),
        ({"instrument": "X" * 33}, "$.instrument"),
        ({"instrument": 600036}, "$.instrument"),
        ({"instrument": None}, "$.instrument"),  # a trade names its instrument
        ({"sector": ""}, "$.sector"),
        ({"sector": "   "}, "$.sector"),
        ({"sector": "s" * 61}, "$.sector"),
        ({"sector": 5}, "$.sector"),
        ({"quantity": 1.5}, "$.quantity"),
        ({"quantity": 100}, "$.quantity"),
        ({"quantity": "100"}, "$.quantity"),
        ({"quantity": Decimal(0)}, "$.quantity"),
        ({"quantity": Decimal("-1")}, "$.quantity"),
        ({"quantity": Decimal("0.0000001")}, "$.quantity"),
        ({"quantity": Decimal("NaN")}, "$.quantity"),
        ({"quantity": Decimal("Infinity")}, "$.quantity"),
    ],
)
def test_a_trade_refuses_each_bad_field_at_its_path(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        trade(**changes)
    assert paths(caught) == [path]
    for value in changes.values():
        if isinstance(value, str) and value.strip():
            assert value not in str(caught.value)  # never echoed


@pytest.mark.parametrize("kind", [k for k in TransactionKind if not k.is_trade])
def test_only_a_trade_names_an_instrument(kind: TransactionKind) -> None:
    assert transaction(kind=kind).instrument is None
    with pytest.raises(ValidationError) as caught:
        transaction(kind=kind, instrument="600036.SH")
    assert paths(caught) == ["$.instrument"]
    assert caught.value.problems[0].message == _NOT_A_TRADE
    for details in ({"sector": "银行"}, {"quantity": Decimal(1)}):
        with pytest.raises(ValidationError) as caught:
            transaction(kind=kind, **details)
        assert caught.value.problems[0].message == _NOT_A_TRADE


def test_is_trade_is_buy_and_sell_only() -> None:
    assert [k.value for k in TransactionKind if k.is_trade] == ["buy", "sell"]
    assert [k.value for k in TransactionKind] == [
        "deposit",
        "withdrawal",
        "transfer_in",
        "transfer_out",
        "subscription",
        "redemption",
        "buy",
        "sell",
        "premium",
        "drawdown",
        "repayment",
        "fee",
        "interest",
    ]
    assert K.BUY.is_trade and K.SELL.is_trade
    assert not K.DEPOSIT.is_trade and not K.REDEMPTION.is_trade


@pytest.mark.parametrize(
    ("month", "first"),
    [
        (D(2025, 8, 1), D(2025, 8, 1)),
        (D(2025, 8, 31), D(2025, 8, 1)),
        (D(2024, 2, 29), D(2024, 2, 1)),
        (D(2025, 12, 31), D(2025, 12, 1)),
        (pendulum.date(2025, 1, 15), D(2025, 1, 1)),
    ],
)
def test_a_contribution_figure_is_kept_on_the_first_day_of_its_month(
    month: datetime.date, first: datetime.date
) -> None:
    found = ContributionFigure(customer_id=CUSTOMER, month=month, amount=cny("-12.34"))
    assert found.month == first and type(found.month) is datetime.date
    assert found.amount == cny("-12.34")  # a loss-making month is a negative figure
    assert ContributionFigure(customer_id=CUSTOMER, month=month, amount=cny("0")).month == first


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"month": datetime.datetime(2025, 8, 1)}, "$.month"),
        ({"month": "2025-08"}, "$.month"),
        ({"month": None}, "$.month"),
        ({"amount": Decimal("1.00")}, "$.amount"),
        ({"amount": 1}, "$.amount"),
        ({"amount": None}, "$.amount"),
    ],
)
def test_a_contribution_figure_refuses_bad_fields(changes: dict[str, Any], path: str) -> None:
    fields: dict[str, Any] = {"customer_id": CUSTOMER, "month": D(2025, 8, 1), "amount": cny("1")}
    with pytest.raises(ValidationError) as caught:
        ContributionFigure(**(fields | changes))
    assert paths(caught) == [path]


# -- transaction feeds against an oracle -------------------------------------------------

_CODES = ("CNY", "JPY", "USD")  # the currencies of accounts 0, 1 and 2
_EXPONENTS = {"CNY": 2, "JPY": 0, "USD": 2}
_OWNERS = (0, 0, 1)  # account 0 and 1 are the person's, account 2 the company's
_UNKNOWN = "6222999999999999"

# fault -> (field, problem) of the refusal the row must get
_FAULTS: dict[str, tuple[str, str]] = {
    "day": ("day", _BAD_DAY),
    "kind": ("kind", _KIND),
    "float": ("amount", _BAD_AMOUNT),
    "zero": ("amount", _NOT_POSITIVE),
    "negative": ("amount", _NOT_POSITIVE),
    "fine": ("amount", _TOO_FINE),
    "large": ("amount", _TOO_LARGE),
    "account": ("account_number", _NO_ACCOUNT),
    "currency": ("currency", _MISMATCH),
    "reference": ("reference", _REFERENCE),
    "no-instrument": ("instrument", _NO_INSTRUMENT),
    "not-a-trade": ("instrument", _NOT_A_TRADE),
    "quantity": ("quantity", _QUANTITY),
    "float-quantity": ("quantity", _BAD_QUANTITY),
}


@attrs.frozen
class _Spec:
    """One feed row, drawn: good unless ``fault`` names what is wrong with it."""

    account: int
    day: int
    ref: int
    kind: TransactionKind
    units: int
    sector: str | None
    quantity: Decimal | None
    fault: str | None


@attrs.frozen
class _World:
    """One example's customers, accounts (``ids`` order as their index) and days."""

    customers: tuple[Customer, Customer]
    numbers: tuple[str, str, str]
    ids: tuple[AccountId, AccountId, AccountId]
    days: tuple[datetime.date, datetime.date, datetime.date]


_seeds = itertools.count(10)


def _world() -> _World:
    """A world of its own: new customers, accounts and days, so that examples can share
    one store (a feed replaces a day for every account)."""
    seed = next(_seeds)
    first = D(2025, 9, 1) + datetime.timedelta(days=4 * seed)
    return _World(
        customers=(make_individual(seed), make_corporate(seed)),
        numbers=tuple(f"62{seed:010d}{i:04d}" for i in range(3)),  # type: ignore[arg-type]
        ids=tuple(  # type: ignore[arg-type]
            AccountId(uuid.UUID(f"00000000-0000-7000-b000-{seed:08x}{i:04x}")) for i in range(3)
        ),
        days=tuple(first + datetime.timedelta(days=i) for i in range(3)),  # type: ignore[arg-type]
    )


def _open(store: Store, world: _World) -> None:
    with store.unit_of_work(ADMIN) as uow:
        for customer in world.customers:
            uow.customers.add(customer)
        uow.accounts.add_many(
            [
                Account(
                    id=world.ids[i],
                    customer_id=world.customers[_OWNERS[i]].id,
                    account_number=world.numbers[i],
                    kind=AccountKind.SECURITIES,
                    currency=_CODES[i],
                    opened_on=D(2024, 1, 2),
                )
                for i in range(3)
            ]
        )
        uow.commit()


# (account number, day, reference, kind, amount, instrument, sector, quantity)
_Record = tuple[str, datetime.date, str, str, Money, str | None, str | None, Decimal | None]


def _row(world: _World, spec: _Spec) -> tuple[dict[str, Any], _Record]:
    """The feed row of ``spec`` and what a good row stores."""
    code = _CODES[spec.account]
    amount = f"{Decimal(spec.units).scaleb(-_EXPONENTS[code]):f}"
    # One reference shape per day: a reference never meets itself on another day here
    # (that case has its own tests).
    reference = f"D{spec.day}R{spec.ref}"
    kind = spec.kind
    trade_details: dict[str, Any] = (
        {"instrument": "600036.SH", "sector": spec.sector, "quantity": spec.quantity}
        if kind.is_trade
        else {}
    )
    row: dict[str, Any] = {
        "account_number": world.numbers[spec.account],
        "day": world.days[spec.day].isoformat(),
        "reference": reference,
        "kind": kind.value,
        "amount": amount,
        "currency": code,
        **{k: None if v is None else str(v) for k, v in trade_details.items()},
    }
    record: _Record = (
        world.numbers[spec.account],
        world.days[spec.day],
        reference,
        kind.value,
        Money.from_minor_units(spec.units, code),
        trade_details.get("instrument"),
        trade_details.get("sector"),
        trade_details.get("quantity"),
    )
    fault = spec.fault
    if fault == "day":
        row["day"] = f"{world.days[spec.day].year}-02-30"
    elif fault == "kind":
        row["kind"] = "transfer"
    elif fault == "float":
        row["amount"] = float(spec.units)
    elif fault == "zero":
        row["amount"] = "0"
    elif fault == "negative":
        row["amount"] = "-" + amount
    elif fault == "fine":
        row["amount"] = amount + ("1" if _EXPONENTS[code] else ".5")
    elif fault == "large":
        row["amount"] = "1" + "0" * 20
    elif fault == "account":
        row["account_number"] = _UNKNOWN
    elif fault == "currency":
        row["currency"] = "HKD"
    elif fault == "reference":
        row["reference"] = f"D{spec.day} R{spec.ref}"
    elif fault == "no-instrument":
        row |= {"kind": "sell", "instrument": None}
    elif fault == "not-a-trade":
        row |= {"kind": "deposit", "instrument": "600036.SH", "sector": None, "quantity": None}
    elif fault == "quantity":
        row |= {"kind": "buy", "instrument": "600036.SH", "quantity": "0.0000001"}
    elif fault == "float-quantity":
        row |= {"kind": "buy", "instrument": "600036.SH", "quantity": 1.5}
    return row, record


@attrs.frozen
class _Feed:
    specs: Sequence[_Spec]
    mode: ImportMode
    batch_size: int


def _oracle(world: _World, feeds: Sequence[_Feed]) -> tuple[list[Any], list[Any]]:
    """Each feed's report and the store after it, and the audit of every feed, worked
    out row by row: a day is replaced whole by the rows of it that the feed loads."""
    stored: dict[tuple[str, str], _Record] = {}
    outcomes: list[Any] = []
    audit: list[Any] = []
    for feed in feeds:
        accepted: dict[tuple[str, str], _Record] = {}
        errors: list[RowError] = []
        for row_number, spec in enumerate(feed.specs, start=1):
            _, record = _row(world, spec)
            if spec.fault is not None:
                errors.append(RowError(row_number, *_FAULTS[spec.fault]))
            elif (record[0], record[2]) in accepted:
                errors.append(RowError(row_number, "reference", _SECOND_REFERENCE))
            else:
                accepted[record[0], record[2]] = record
        if feed.mode is ALL and errors:
            accepted = {}
        days = sorted({r[1] for r in accepted.values()})
        periods = {
            day: (
                sum(1 for r in stored.values() if r[1] == day),
                sum(1 for r in accepted.values() if r[1] == day),
            )
            for day in days
        }
        stored = {k: r for k, r in stored.items() if r[1] not in days} | accepted
        audit += [
            (day.isoformat(), {"transactions": {"before": b, "after": a}})
            for day, (b, a) in periods.items()
        ]
        report = FeedReport(
            mode=feed.mode,
            rows_read=len(feed.specs),
            loaded=len(accepted),
            rejected_rows=len(errors),
            periods=periods,
            errors=tuple(errors),
        )
        order = {n: i for i, n in enumerate(world.numbers)}
        outcomes.append(
            (
                report,
                sorted(
                    stored.values(),
                    key=lambda r: (_OWNERS[order[r[0]]], r[1], order[r[0]], r[2]),
                ),
            )
        )
    return outcomes, audit


def _stored(store: Store, world: _World) -> list[_Record]:
    numbers = dict(zip(world.ids, world.numbers, strict=True))
    with store.unit_of_work(ADMIN, read_only=True) as uow:
        return [
            (
                numbers[t.account_id],
                t.day,
                t.reference,
                t.kind.value,
                t.amount,
                t.instrument,
                t.sector,
                t.quantity,
            )
            for customer in world.customers
            for t in uow.transactions.of_customer(customer.id, D(1900, 1, 1), D(2999, 12, 31))
        ]


def _run(store: Store, world: _World, feeds: Sequence[_Feed]) -> tuple[list[Any], list[Any]]:
    """What the store does with ``feeds``: the same shape as :func:`_oracle`."""
    _open(store, world)
    outcomes: list[Any] = []
    for feed in feeds:
        rows = [_row(world, spec)[0] for spec in feed.specs]
        with store.unit_of_work(ADMIN) as uow:
            report = load_transactions(uow, rows, mode=feed.mode, batch_size=feed.batch_size)
            uow.commit()
        outcomes.append((report, _stored(store, world)))
    days = {day.isoformat() for day in world.days}
    with store.unit_of_work(ADMIN, read_only=True) as uow:
        audit = [
            (e.entity_id, e.changes)
            for e in uow.audit.entries(limit=100_000)
            if e.action == "transactions.loaded" and e.entity_id in days
        ]
    return outcomes, audit


_specs = st.builds(
    _Spec,
    account=st.integers(0, 2),
    day=st.integers(0, 2),
    ref=st.integers(0, 3),
    kind=st.sampled_from(list(TransactionKind)),
    units=st.integers(1, 10**12),
    sector=st.sampled_from([None, "银行", "能源"]),
    quantity=st.sampled_from([None, Decimal(100), Decimal("0.000001")]),
    fault=st.none() | st.none() | st.sampled_from(sorted(_FAULTS)),
)
_feeds = st.lists(
    st.builds(
        _Feed,
        specs=st.lists(_specs, max_size=12),
        mode=st.sampled_from(list(ImportMode)),
        batch_size=st.sampled_from([1, 2, 3, 5000]),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=200, deadline=None)
@given(feeds=_feeds)
def test_transaction_feeds_match_a_row_by_row_oracle_in_memory(feeds: list[_Feed]) -> None:
    world = _world()
    assert _run(InMemoryStore(), world, feeds) == _oracle(world, feeds)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Any]:
    """One SQLite store for every example (each example has a world of its own)."""
    from finance_crm.adapters.sql import SqlStore

    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'transactions.db'}")
    store.upgrade_schema()
    yield store
    store.close()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(feeds=_feeds)
def test_transaction_feeds_on_sqlite_match_memory_and_the_oracle(
    sqlite_store: Any, feeds: list[_Feed]
) -> None:
    world = _world()
    on_sqlite = _run(sqlite_store, world, feeds)
    assert on_sqlite == _run(InMemoryStore(), world, feeds)
    assert on_sqlite == _oracle(world, feeds)


def test_the_oracle_sees_every_fault() -> None:
    """The property's faults each give their refusal (so the oracle is not vacuous)."""
    world = _world()
    store = InMemoryStore()
    _open(store, world)
    specs = [_Spec(0, 0, 0, K.BUY, 12345, "银行", Decimal(100), fault) for fault in sorted(_FAULTS)]
    rows = [_row(world, spec)[0] for spec in specs]
    with store.unit_of_work(ADMIN) as uow:
        report = load_transactions(uow, rows, mode=SKIP)
    assert report.errors == tuple(
        RowError(i, *_FAULTS[spec.fault]) for i, spec in enumerate(specs, start=1) if spec.fault
    )
    assert report.loaded == 0


# -- bugs found (strict xfails) ------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A store with one person, who owns the CNY account ``6222000000000001``."""
    if request.param == "memory":
        found: Any = InMemoryStore()
    else:
        from finance_crm.adapters.sql import SqlStore

        found = SqlStore.from_url(f"sqlite:///{tmp_path / 'bugs.db'}")
        found.upgrade_schema()
    person = make_individual(1)
    with found.unit_of_work(ADMIN) as uow:
        uow.customers.add(person)
        uow.accounts.add(
            Account(
                id=ACCOUNT,
                customer_id=person.id,
                account_number="6222000000000001",
                kind=AccountKind.SECURITIES,
                currency="CNY",
                opened_on=D(2024, 1, 2),
            )
        )
        uow.commit()
    yield found
    if request.param == "sqlite":
        found.close()


def _deposit(day: datetime.date, reference: str, amount: Any = "1.00") -> dict[str, Any]:
    return {
        "account_number": "6222000000000001",
        "day": day,
        "reference": reference,
        "kind": "deposit",
        "amount": amount,
        "currency": "CNY",
    }


def _load(store: Any, rows: Any, **kwargs: Any) -> FeedReport:
    with store.unit_of_work(ADMIN) as uow:
        report = load_transactions(uow, rows, **kwargs)
        uow.commit()
    return report


def _references(store: Any) -> list[tuple[datetime.date, str]]:
    with store.unit_of_work(ADMIN, read_only=True) as uow:
        customer = uow.customers.get_by_number("P000000001")
        found = uow.transactions.of_customer(customer.id, D(1900, 1, 1), D(2999, 12, 31))
    return [(t.day, t.reference) for t in found]


@pytest.mark.parametrize("loader", ["transactions", "contributions"])
def test_an_amount_beyond_the_decimal_range_is_a_bad_row(store: Any, loader: str) -> None:
    with store.unit_of_work(ADMIN) as uow:
        if loader == "transactions":
            report = load_transactions(uow, [_deposit(DAY, "R0001", "1E+999999")], mode=SKIP)
        else:
            row = {
                "customer_number": "P000000001",
                "month": "2025-08",
                "amount": "1E+999999",
                "currency": "CNY",
            }
            report = load_contributions(uow, [row], mode=SKIP)
    assert report.errors == (RowError(1, "amount", _TOO_LARGE),)


@pytest.mark.parametrize("loader", ["transactions", "contributions"])
def test_an_amount_finer_than_the_currency_is_never_rounded_to_zero(
    store: Any, loader: str
) -> None:
    with store.unit_of_work(ADMIN) as uow:
        if loader == "transactions":
            report = load_transactions(uow, [_deposit(DAY, "R0001", "1E-999999999")], mode=SKIP)
        else:
            row = {
                "customer_number": "P000000001",
                "month": "2025-08",
                "amount": "1E-999999999",
                "currency": "CNY",
            }
            report = load_contributions(uow, [row], mode=SKIP)
        assert uow.contributions.count() == 0
    assert report.errors == (RowError(1, "amount", _TOO_FINE),)


@pytest.mark.parametrize(
    "batch_size",
    [5000, 1],
)
def test_a_transaction_moved_to_another_day_loads_whatever_the_batch_size(
    store: Any, batch_size: int
) -> None:
    day1, day2 = D(2025, 9, 1), D(2025, 9, 2)
    _load(store, [_deposit(day1, "R0001"), _deposit(day1, "R0002")])
    # the core system re-booked R0001 on 2 September: both days are fed again
    report = _load(store, [_deposit(day2, "R0001"), _deposit(day1, "R0002")], batch_size=batch_size)
    assert report.errors == ()
    assert report.periods == {day1: (2, 1), day2: (0, 1)}
    assert _references(store) == [(day1, "R0002"), (day2, "R0001")]


def test_a_day_fed_with_only_refused_references_is_replaced_by_nothing(store: Any) -> None:
    # The feed says what day2 holds: its only row is refused (R0001 is booked on day1,
    # which this feed does not replace), so with SKIP_BAD_ROWS day2 is left empty, and
    # the report (and the audit) says one row was replaced and none loaded.
    day1, day2 = D(2025, 9, 1), D(2025, 9, 2)
    _load(store, [_deposit(day1, "R0001"), _deposit(day2, "R0002")])
    report = _load(store, [_deposit(day2, "R0001")], mode=SKIP)
    assert report.errors == (RowError(1, "reference", _SECOND_REFERENCE),)
    assert report.periods == {day2: (1, 0)}
    assert _references(store) == [(day1, "R0001")]
    with store.unit_of_work(ADMIN, read_only=True) as uow:
        first, second = uow.audit.entries(entity_id=day2.isoformat())
    assert first.changes == {"transactions": {"before": 0, "after": 1}}
    assert second.changes == {"transactions": {"before": 1, "after": 0}}


@pytest.mark.parametrize("field", ["sector", "quantity"])
def test_a_non_trade_with_a_sector_or_quantity_is_refused_at_that_field(field: str) -> None:
    value = {"sector": "银行", "quantity": Decimal(1)}[field]
    with pytest.raises(ValidationError) as caught:
        transaction(kind=K.DEPOSIT, **{field: value})
    assert paths(caught) == [f"$.{field}"]


def test_a_quantity_too_long_to_store_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        trade(quantity=Decimal("9" * 41))
    assert paths(caught) == ["$.quantity"]


@pytest.mark.parametrize("balance", ["1E+999999", "1E-999999999"])
def test_a_balance_beyond_the_decimal_range_is_a_bad_row(store: Any, balance: str) -> None:
    from finance_crm.services.balances import load_balances

    row = {"account_number": "6222000000000001", "day": DAY, "balance": balance, "currency": "CNY"}
    with store.unit_of_work(ADMIN) as uow:
        report = load_balances(uow, [row], mode=SKIP)
        assert uow.balances.count() == 0
    assert [(e.row_number, e.field) for e in report.errors] == [(1, "balance")]
