"""Balance feeds and AUM (季日均) on memory and SQLite: idempotent days, row errors, modes,
batches, streaming, carry-over, closed accounts, loans, and a brute-force AUM oracle."""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import attrs
import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance_crm.adapters.memory import InMemoryStore
from finance_crm.clock import FixedClock
from finance_crm.errors import ValidationError
from finance_crm.ids import CustomerId
from finance_crm.model.accounts import Account, AccountKind
from finance_crm.money import Money
from finance_crm.security import Actor
from finance_crm.services.balances import (
    BalanceFeedReport,
    BalanceRow,
    aum_on,
    average_daily_aum,
    load_balances,
    quarter_of,
)
from finance_crm.services.customer_import import ImportMode, RowError
from finance_crm.testing import make_corporate, make_individual

D = datetime.date
ADMIN = Actor("ho-1", roles={"head_office"})
CLOCK = pendulum.datetime(2025, 7, 1, 9, tz="UTC")
SKIP = ImportMode.SKIP_BAD_ROWS
ALL = ImportMode.ALL_OR_NOTHING
DAY1, DAY2, DAY3 = D(2025, 6, 28), D(2025, 6, 29), D(2025, 6, 30)
OPENED = D(2024, 1, 2)
PERSON = make_individual(1)
COMPANY = make_corporate(2)

# Accounts of the person (and one of the company): number -> (kind, currency).
ACCOUNTS: dict[str, tuple[AccountKind, str, CustomerId]] = {
    "6222000000000001": (AccountKind.DEPOSIT, "CNY", PERSON.id),
    "6222000000000002": (AccountKind.WEALTH, "CNY", PERSON.id),
    "6222000000000003": (AccountKind.FUND, "USD", PERSON.id),
    "6222000000000004": (AccountKind.SECURITIES, "JPY", PERSON.id),
    "6222000000000005": (AccountKind.LOAN, "CNY", PERSON.id),
    "6222000000000006": (AccountKind.INSURANCE, "KWD", PERSON.id),
    "6222000000000009": (AccountKind.DEPOSIT, "CNY", COMPANY.id),
}
DEP, WM, FUND, SEC, LOAN, INS, CORP = sorted(ACCOUNTS)


def _sql_store(path: Path, **kwargs: Any) -> Any:
    from finance_crm.adapters.sql import SqlStore

    store = SqlStore.from_url(f"sqlite:///{path / 'balances.db'}", **kwargs)
    store.upgrade_schema()
    return store


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_store(backend: str, tmp_path: Path) -> Iterator[Any]:
    if backend == "memory":
        yield InMemoryStore(clock=FixedClock(CLOCK))
        return
    store = _sql_store(tmp_path, clock=FixedClock(CLOCK))
    yield store
    store.close()


@pytest.fixture
def store(empty_store: Any) -> Any:
    """Two customers and the accounts of :data:`ACCOUNTS`, opened on 2024-01-02."""
    with empty_store.unit_of_work(ADMIN) as uow:
        uow.customers.add(PERSON)
        uow.customers.add(COMPANY)
        uow.accounts.add_many(
            [
                Account(
                    customer_id=owner,
                    account_number=number,
                    kind=kind,
                    currency=code,
                    opened_on=OPENED,
                )
                for number, (kind, code, owner) in ACCOUNTS.items()
            ]
        )
        uow.commit()
    return empty_store


def row(number: str, day: Any, balance: Any, currency: Any = None) -> dict[str, Any]:
    code = ACCOUNTS[number][1] if currency is None and number in ACCOUNTS else currency
    return {"account_number": number, "day": day, "balance": balance, "currency": code}


def load(store: Any, rows: Any, **kwargs: Any) -> BalanceFeedReport:
    with store.unit_of_work(ADMIN) as uow:
        report = load_balances(uow, rows, **kwargs)
        uow.commit()
    return report


def stored(store: Any) -> dict[tuple[str, datetime.date], Money]:
    """Every stored balance, by (account number, day)."""
    with store.unit_of_work(ADMIN, read_only=True) as uow:
        ids = {uow.accounts.find_by_number(n).id: n for n in ACCOUNTS}  # type: ignore[union-attr]
        found = uow.balances.of_accounts(list(ids), D(1900, 1, 1), D(2999, 12, 31))
        assert uow.balances.count() == len(found)
    return {(ids[b.account_id], b.day): b.balance for b in found}


def feed_audit(store: Any) -> list[tuple[str, Any]]:
    with store.unit_of_work(ADMIN, read_only=True) as uow:
        entries = uow.audit.entries(limit=100_000)
    return [(e.entity_id, e.changes) for e in entries if e.action == "balances.loaded"]


def everything(store: Any) -> tuple[Any, ...]:
    with store.unit_of_work(ADMIN, read_only=True) as uow:
        audit = [(e.action, e.entity_id) for e in uow.audit.entries(limit=100_000)]
    return stored(store), audit


def cny(text: str) -> Money:
    return Money(Decimal(text), "CNY")


def assert_no_values(report: BalanceFeedReport, *values: str) -> None:
    text = " ".join(str(e) for e in report.errors)
    for value in values:
        assert value not in text


# -- idempotent days -------------------------------------------------------------------


def test_a_feed_loads_and_audits_each_day_once(store: Any) -> None:
    report = load(
        store,
        [
            row(DEP, "2025-06-28", "1000.00"),
            row(FUND, DAY1, Decimal("12.5")),
            row(SEC, DAY1, 300_000),
            row(DEP, DAY2, " 1001.10 "),
            row(INS, DAY2, "0.125"),
            BalanceRow(WM, DAY2, Decimal("-0.01"), "cny"),
        ],
    )
    assert report == BalanceFeedReport(
        mode=ALL,
        rows_read=6,
        loaded=6,
        rejected_rows=0,
        days={DAY1: (0, 3), DAY2: (0, 3)},
        errors=(),
    )
    assert report.ok
    assert stored(store) == {
        (DEP, DAY1): cny("1000.00"),
        (FUND, DAY1): Money(Decimal("12.50"), "USD"),
        (SEC, DAY1): Money(300_000, "JPY"),
        (DEP, DAY2): cny("1001.10"),
        (INS, DAY2): Money(Decimal("0.125"), "KWD"),
        (WM, DAY2): cny("-0.01"),
    }
    assert feed_audit(store) == [
        ("2025-06-28", {"balances": {"before": 0, "after": 3}}),
        ("2025-06-29", {"balances": {"before": 0, "after": 3}}),
    ]


def test_reloading_a_day_replaces_it_whole(store: Any) -> None:
    load(store, [row(DEP, DAY1, "1"), row(WM, DAY1, "2"), row(FUND, DAY1, "3")])
    load(store, [row(DEP, DAY2, "9")])
    report = load(store, [row(WM, DAY1, "20"), row(DEP, DAY1, "10")])
    assert report.days == {DAY1: (3, 2)} and report.loaded == 2
    assert stored(store) == {
        (DEP, DAY1): cny("10"),
        (WM, DAY1): cny("20"),  # FUND's balance of DAY1 is gone with the old feed
        (DEP, DAY2): cny("9"),  # another day is left alone
    }
    assert feed_audit(store)[-1] == ("2025-06-28", {"balances": {"before": 3, "after": 2}})


def test_reloading_the_same_feed_changes_nothing_but_the_audit(store: Any) -> None:
    feed = [
        row(n, d, f"{i}.{i}0")
        for i, (n, d) in enumerate(itertools.product([DEP, WM], [DAY1, DAY2, DAY3]))
    ]
    first = load(store, feed)
    before = stored(store)
    second = load(store, iter(feed))
    assert stored(store) == before and len(before) == 6
    assert first.days == {DAY1: (0, 2), DAY2: (0, 2), DAY3: (0, 2)}
    assert second.days == {DAY1: (2, 2), DAY2: (2, 2), DAY3: (2, 2)}
    assert len(feed_audit(store)) == 6


def test_days_are_audited_once_however_the_feed_is_batched(store: Any) -> None:
    feed = [row(n, d, "1") for d in (DAY3, DAY1) for n in (DEP, WM, FUND)]
    report = load(store, feed, batch_size=1)
    assert report.days == {DAY1: (0, 3), DAY3: (0, 3)}
    assert list(report.days) == [DAY1, DAY3]  # in day order
    assert [day for day, _ in feed_audit(store)] == ["2025-06-28", "2025-06-30"]


# -- bad rows ----------------------------------------------------------------------------

_NO_ACCOUNT = "no account with this number; feed the account first"
_MISMATCH = "differs from the account's currency"
_TOO_FINE = "has more decimal places than the currency has"
_SECOND = "a second balance for this account and day in the same feed"
_BAD_DAY = "must be a date (YYYY-MM-DD)"
_BAD_AMOUNT = "must be a decimal amount (text or Decimal, not float)"


@pytest.mark.parametrize(
    ("bad", "field", "problem"),
    [
        pytest.param(
            row("6222999999999999", DAY1, "5", "CNY"),
            "account_number",
            _NO_ACCOUNT,
            id="unknown-account",
        ),
        pytest.param(row(DEP, DAY1, "5", "USD"), "currency", _MISMATCH, id="currency-mismatch"),
        pytest.param(row(DEP, DAY1, "5", "ZZZ"), "currency", _MISMATCH, id="unknown-currency"),
        pytest.param(
            row(DEP, DAY1, "5") | {"currency": None},
            "currency",
            "must be an ISO 4217 code",
            id="no-currency",
        ),
        pytest.param(row(DEP, DAY1, "5.001"), "balance", _TOO_FINE, id="fen-and-a-tenth"),
        pytest.param(row(SEC, DAY1, "5.5"), "balance", _TOO_FINE, id="half-a-yen"),
        pytest.param(row(INS, DAY1, "0.0001"), "balance", _TOO_FINE, id="kwd-4-places"),
        pytest.param(row(DEP, DAY1, 5.0), "balance", _BAD_AMOUNT, id="float"),
        pytest.param(row(DEP, DAY1, "5,00"), "balance", _BAD_AMOUNT, id="comma"),
        pytest.param(row(DEP, DAY1, "NaN"), "balance", _BAD_AMOUNT, id="nan"),
        pytest.param(row(DEP, DAY1, "-Infinity"), "balance", _BAD_AMOUNT, id="infinity"),
        pytest.param(row(DEP, DAY1, Decimal("sNaN")), "balance", _BAD_AMOUNT, id="decimal-snan"),
        pytest.param(row(DEP, DAY1, True), "balance", _BAD_AMOUNT, id="bool"),
        pytest.param(row(DEP, DAY1, ""), "balance", _BAD_AMOUNT, id="empty-amount"),
        pytest.param(row(DEP, DAY1, None), "balance", _BAD_AMOUNT, id="no-amount"),
        pytest.param(row(DEP, "2025-06-31", "5"), "day", _BAD_DAY, id="june-31"),
        pytest.param(row(DEP, "2025-02-29", "5"), "day", _BAD_DAY, id="not-a-leap-year"),
        pytest.param(row(DEP, "30/06/2025", "5"), "day", _BAD_DAY, id="dd-mm-yyyy"),
        pytest.param(
            row(DEP, datetime.datetime(2025, 6, 28, 12), "5"), "day", _BAD_DAY, id="datetime"
        ),
        pytest.param(row(DEP, 20250628, "5"), "day", _BAD_DAY, id="number-day"),
        pytest.param(row(DEP, None, "5"), "day", _BAD_DAY, id="no-day"),
        pytest.param(
            row(DEP, DAY1, "5") | {"account_number": ""},
            "account_number",
            "missing",
            id="empty-number",
        ),
        pytest.param(
            {"day": DAY1, "balance": "5", "currency": "CNY"},
            "account_number",
            "missing",
            id="no-number",
        ),
        pytest.param(
            [DEP, DAY1, "5", "CNY"], "row", "expected a BalanceRow or a mapping", id="a-list"
        ),
    ],
)
def test_a_bad_row_is_reported_by_number_and_field(
    store: Any, bad: Any, field: str, problem: str
) -> None:
    good = [row(DEP, DAY2, "1.00"), row(WM, DAY1, "2.00")]
    before = everything(store)
    report = load(store, [good[0], bad, good[1]])
    assert report.errors == (RowError(2, field, problem),)
    assert (report.rows_read, report.loaded, report.rejected_rows) == (3, 0, 1)
    assert report.days == {} and not report.ok
    assert everything(store) == before  # all or nothing: no balances, no audit
    report = load(store, [good[0], bad, good[1]], mode=SKIP)
    assert report.errors == (RowError(2, field, problem),)
    assert (report.rows_read, report.loaded, report.rejected_rows) == (3, 2, 1)
    assert report.days == {DAY1: (0, 1), DAY2: (0, 1)}
    assert stored(store) == {(DEP, DAY2): cny("1.00"), (WM, DAY1): cny("2.00")}
    if isinstance(bad, dict):
        values = [str(v) for k, v in bad.items() if k != "currency" and v not in (None, "")]
        assert_no_values(report, *values)


def test_a_second_balance_for_an_account_and_day_is_refused(store: Any) -> None:
    feed = [
        row(DEP, DAY1, "1.00"),
        row(WM, DAY1, "2.00"),
        row(DEP, DAY2, "3.00"),  # another day: fine
        row(DEP, DAY1, "1.00"),  # the same value again: still a second balance
        row(DEP, DAY1, "4.00"),
    ]
    before = everything(store)
    report = load(store, feed)
    assert [(e.row_number, e.field, e.problem) for e in report.errors] == [
        (4, "day", _SECOND),
        (5, "day", _SECOND),
    ]
    assert everything(store) == before
    report = load(store, feed, mode=SKIP)
    assert (report.loaded, report.rejected_rows) == (3, 2)
    assert report.days == {DAY1: (0, 2), DAY2: (0, 1)}
    assert stored(store)[(DEP, DAY1)] == cny("1.00")  # the first one wins


def test_all_or_nothing_keeps_the_days_it_would_have_replaced(store: Any) -> None:
    load(store, [row(DEP, DAY1, "1"), row(WM, DAY1, "2")])
    before = everything(store)
    report = load(store, [row(DEP, DAY1, "10"), row(DEP, DAY1, "x")])
    assert report.rejected_rows == 1 and report.loaded == 0 and report.days == {}
    assert everything(store) == before


def test_skipping_bad_rows_never_clears_a_day_with_no_good_row(store: Any) -> None:
    load(store, [row(DEP, DAY1, "1"), row(WM, DAY1, "2")])
    report = load(
        store, [row(DEP, DAY1, "x"), row(WM, DAY1, "1", "USD"), row(DEP, DAY2, "3")], mode=SKIP
    )
    assert report.days == {DAY2: (0, 1)}
    assert stored(store) == {(DEP, DAY1): cny("1"), (WM, DAY1): cny("2"), (DEP, DAY2): cny("3")}


def test_errors_are_sorted_by_row_and_never_echo_values(store: Any) -> None:
    feed = [
        row("6222999999999999", DAY1, "123.45", "CNY"),  # found at the flush
        row(DEP, "2025-13-01", "678.90"),  # found while reading
        row(DEP, DAY1, "11.11"),
        row(DEP, DAY1, "22.22"),  # found at the write
        row(FUND, DAY1, 3.25),
        row(SEC, DAY1, "0.5"),
        row(WM, DAY1, "98.765"),
    ]
    report = load(store, feed, mode=SKIP, batch_size=4)
    assert [(e.row_number, e.field) for e in report.errors] == [
        (1, "account_number"),
        (2, "day"),
        (4, "day"),
        (5, "balance"),
        (6, "balance"),
        (7, "balance"),
    ]
    assert_no_values(report, "6222999999999999", "123.45", "2025-13-01", "678.90", "22.22")
    assert_no_values(report, "3.25", "98.765", DEP, FUND, SEC, WM)
    assert str(report.errors[0]) == f"row 1, account_number: {_NO_ACCOUNT}"


def test_errors_past_the_limit_are_counted(store: Any) -> None:
    feed = [row(DEP, f"2025-06-{d:02d}", "1") for d in range(1, 11)]
    feed[2]["balance"] = feed[5]["balance"] = feed[8]["balance"] = "bad"
    report = load(store, feed, mode=SKIP, max_reported_errors=2)
    assert report.rejected_rows == 3 and report.errors_not_listed == 1
    assert [e.row_number for e in report.errors] == [3, 6]
    assert report.loaded == 7


def test_the_listed_errors_are_the_first_rows(store: Any) -> None:
    feed = [row("6222999999999999", DAY1, "1", "CNY"), row(DEP, "bad", "1")]
    report = load(store, feed, mode=SKIP, max_reported_errors=1)
    assert [e.row_number for e in report.errors] == [1]


@pytest.mark.parametrize("batch_size", [1, 2, 7, 5000])
def test_batches_do_not_change_the_outcome(store: Any, batch_size: int) -> None:
    feed: list[Any] = []
    for i, (day, number) in enumerate(itertools.product([DAY1, DAY2, DAY3], [DEP, WM, LOAN])):
        feed.append(row(number, day, f"{i}.01"))
        if i in (1, 4):
            feed.append(row(number, day, "7.00"))  # a duplicate right behind it
    feed.insert(3, row(DEP, DAY3, "8.00"))  # a duplicate long before its twin
    feed.insert(9, row(FUND, DAY2, "0.001"))
    report = load(store, feed, mode=SKIP, batch_size=batch_size)
    assert (report.rows_read, report.loaded, report.rejected_rows) == (13, 9, 4)
    assert [(e.row_number, e.field) for e in report.errors] == [
        (3, "day"),
        (8, "day"),
        (10, "balance"),
        (11, "day"),
    ]
    assert report.days == {DAY1: (0, 3), DAY2: (0, 3), DAY3: (0, 3)}
    assert stored(store)[(DEP, DAY3)] == cny("8.00")
    assert stored(store)[(WM, DAY1)] == cny("1.01")
    assert len(stored(store)) == 9


def test_a_generator_is_streamed_in_batches(store: Any) -> None:
    days = [DAY1 - datetime.timedelta(days=i) for i in range(30)]
    consumed: list[int] = []

    def feed(uow: Any) -> Iterator[dict[str, Any]]:
        for i, day in enumerate(days):
            consumed.append(uow.balances.count())  # what was written before row i+1
            yield row(DEP, day, str(i))

    with store.unit_of_work(ADMIN) as uow:
        report = load_balances(uow, feed(uow), batch_size=7)
        uow.commit()
    assert report.loaded == 30 and len(report.days) == 30
    assert consumed == [7 * (i // 7) for i in range(30)]
    assert len(stored(store)) == 30


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"batch_size": 0}, "$.batch_size"),
        ({"batch_size": -1}, "$.batch_size"),
        ({"batch_size": "10"}, "$.batch_size"),
        ({"mode": "skip_bad_rows"}, "$.mode"),
    ],
)
def test_feed_settings_are_checked(store: Any, kwargs: dict[str, Any], path: str) -> None:
    with store.unit_of_work(ADMIN) as uow, pytest.raises(ValidationError) as caught:
        load_balances(uow, [row(DEP, DAY1, "1")], **kwargs)
    assert [p.path for p in caught.value.problems] == [path]


def test_an_empty_feed_does_nothing(store: Any) -> None:
    before = everything(store)
    assert load(store, []) == BalanceFeedReport(
        mode=ALL, rows_read=0, loaded=0, rejected_rows=0, days={}, errors=()
    )
    assert everything(store) == before


# -- AUM -------------------------------------------------------------------------------


def aum(store: Any, day: datetime.date, customer: Any = PERSON) -> dict[str, Money]:
    with store.unit_of_work(ADMIN, read_only=True) as uow:
        return aum_on(uow, customer.id, day)


def average(
    store: Any, start: datetime.date, end: datetime.date, customer: Any = PERSON
) -> dict[str, Money]:
    with store.unit_of_work(ADMIN, read_only=True) as uow:
        return average_daily_aum(uow, customer.id, start, end)


def close(store: Any, number: str, day: datetime.date) -> None:
    with store.unit_of_work(ADMIN) as uow:
        current = uow.accounts.find_by_number(number)
        uow.accounts.update(attrs.evolve(current, closed_on=day))
        uow.commit()


def test_aum_counts_assets_per_currency_and_never_loans(store: Any) -> None:
    load(
        store,
        [
            row(DEP, DAY1, "100.00"),
            row(WM, DAY1, "50.50"),
            row(LOAN, DAY1, "1000000.00"),
            row(FUND, DAY1, "10.00"),
            row(SEC, DAY1, "7"),
            row(CORP, DAY1, "999.99"),
        ],
    )
    assert aum(store, DAY1) == {
        "CNY": cny("150.50"),
        "JPY": Money(7, "JPY"),
        "KWD": Money(0, "KWD"),
        "USD": Money(Decimal("10.00"), "USD"),
    }
    assert list(aum(store, DAY1)) == ["CNY", "JPY", "KWD", "USD"]
    assert aum(store, DAY1, COMPANY) == {"CNY": cny("999.99")}
    assert aum(store, DAY1, make_individual(77)) == {}
    assert average(store, DAY1, DAY1) == aum(store, DAY1)


def test_the_last_balance_carries_over_days_without_one(store: Any) -> None:
    load(store, [row(DEP, D(2025, 6, 10), "100.00"), row(DEP, D(2025, 6, 20), "200.00")])
    assert aum(store, D(2025, 6, 9))["CNY"] == cny("0")  # before the first snapshot
    assert aum(store, D(2025, 6, 10))["CNY"] == cny("100.00")
    assert aum(store, D(2025, 6, 19))["CNY"] == cny("100.00")
    assert aum(store, D(2025, 6, 20))["CNY"] == cny("200.00")
    assert aum(store, D(2026, 1, 1))["CNY"] == cny("200.00")
    # June: 9 days of 0, 10 of 100, 11 of 200 -> 3200 / 30
    assert average(store, D(2025, 6, 1), D(2025, 6, 30))["CNY"] == cny("106.67")
    # a period after both snapshots carries the last one in
    assert average(store, D(2025, 7, 1), D(2025, 9, 30))["CNY"] == cny("200.00")


def test_a_closed_account_counts_until_the_day_it_closed(store: Any) -> None:
    load(store, [row(DEP, D(2025, 6, 1), "300.00"), row(WM, D(2025, 6, 1), "30.00")])
    close(store, DEP, D(2025, 6, 11))
    assert aum(store, D(2025, 6, 10))["CNY"] == cny("330.00")
    assert aum(store, D(2025, 6, 11))["CNY"] == cny("30.00")
    # 10 days of 330 and 20 of 30 -> 3900 / 30
    assert average(store, D(2025, 6, 1), D(2025, 6, 30))["CNY"] == cny("130.00")
    assert average(store, D(2025, 7, 1), D(2025, 7, 31))["CNY"] == cny("30.00")


def test_the_average_rounds_half_up_to_the_minor_unit(store: Any) -> None:
    load(store, [row(DEP, DAY2, "0.01"), row(SEC, DAY2, "1"), row(FUND, DAY1, "0.02")])
    # CNY: 0 then 0.01 -> 0.005 -> 0.01 (half-even would give 0.00)
    assert average(store, DAY1, DAY2) == {
        "CNY": cny("0.01"),
        "JPY": Money(1, "JPY"),  # 0 then 1 -> 0.5 -> 1
        "KWD": Money(0, "KWD"),
        "USD": Money(Decimal("0.02"), "USD"),
    }
    # CNY: 0, 0.01, 0.01 -> 0.00666 -> 0.01; JPY: 0, 1, 1 -> 0.67 -> 1
    assert average(store, DAY1, DAY3)["CNY"] == cny("0.01")
    # carried over: every day holds 0.01
    assert average(store, DAY2, D(2025, 7, 1))["CNY"] == cny("0.01")
    load(store, [row(DEP, DAY3, "0")])
    assert average(store, DAY1, DAY3)["CNY"] == cny("0.00")


@pytest.mark.parametrize(
    ("start", "end", "path"),
    [
        (datetime.datetime(2025, 6, 1), D(2025, 6, 30), "$.start"),
        (D(2025, 6, 1), "2025-06-30", "$.end"),
        (D(2025, 6, 30), D(2025, 6, 1), "$.end"),
    ],
)
def test_a_period_must_be_dates_in_order(store: Any, start: Any, end: Any, path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        average(store, start, end)
    assert [p.path for p in caught.value.problems] == [path]


@pytest.mark.parametrize(
    ("day", "quarter", "days"),
    [
        (D(2025, 1, 1), (D(2025, 1, 1), D(2025, 3, 31)), 90),
        (D(2025, 2, 28), (D(2025, 1, 1), D(2025, 3, 31)), 90),
        (D(2024, 2, 29), (D(2024, 1, 1), D(2024, 3, 31)), 91),
        (D(2024, 3, 31), (D(2024, 1, 1), D(2024, 3, 31)), 91),
        (D(2025, 4, 1), (D(2025, 4, 1), D(2025, 6, 30)), 91),
        (D(2025, 6, 30), (D(2025, 4, 1), D(2025, 6, 30)), 91),
        (D(2025, 7, 1), (D(2025, 7, 1), D(2025, 9, 30)), 92),
        (D(2025, 9, 30), (D(2025, 7, 1), D(2025, 9, 30)), 92),
        (D(2025, 10, 1), (D(2025, 10, 1), D(2025, 12, 31)), 92),
        (D(2024, 12, 31), (D(2024, 10, 1), D(2024, 12, 31)), 92),
        (D(2000, 2, 29), (D(2000, 1, 1), D(2000, 3, 31)), 91),  # divisible by 400
        (D(1900, 2, 28), (D(1900, 1, 1), D(1900, 3, 31)), 90),  # by 100: not a leap year
    ],
)
def test_quarter_of(day: datetime.date, quarter: tuple[datetime.date, ...], days: int) -> None:
    start, end = quarter_of(day)
    assert (start, end) == quarter
    assert (end - start).days + 1 == days


def test_quarters_tile_the_year() -> None:
    for year in (2023, 2024):
        day, seen = D(year, 1, 1), []
        while day.year == year:
            start, end = quarter_of(day)
            assert start <= day <= end
            seen.append((start, end))
            day += datetime.timedelta(days=1)
        quarters = sorted(set(seen))
        assert len(quarters) == 4
        assert sum((e - s).days + 1 for s, e in quarters) == (366 if year == 2024 else 365)


def test_a_leap_quarter_is_averaged_over_91_days(store: Any) -> None:
    load(store, [row(DEP, D(2024, 3, 31), "91.00"), row(DEP, D(2024, 4, 1), "0")])
    assert average(store, *quarter_of(D(2024, 2, 29)))["CNY"] == cny("1.00")
    load(store, [row(WM, D(2025, 3, 31), "90.00")])
    assert average(store, *quarter_of(D(2025, 2, 1)))["CNY"] == cny("1.00")


# -- the AUM oracle ----------------------------------------------------------------------

WINDOW = D(2025, 1, 1)
_CODES = {"CNY": 2, "USD": 2, "JPY": 0}


@attrs.frozen
class _Plan:
    kind: AccountKind
    currency: str
    opened: int  # days after WINDOW
    closed: int | None
    snapshots: Mapping[int, int]  # day offset -> minor units


_plans = st.builds(
    _Plan,
    kind=st.sampled_from(list(AccountKind)),
    currency=st.sampled_from(sorted(_CODES)),
    opened=st.integers(0, 40),
    closed=st.none() | st.integers(0, 60),
    snapshots=st.dictionaries(st.integers(0, 60), st.integers(-10_000, 1_000_000), max_size=8),
)


def _oracle(plans: Sequence[_Plan], start: datetime.date, end: datetime.date) -> dict[str, Money]:
    """Day by day, the obvious way."""
    totals: dict[str, int] = {}
    for plan in plans:
        if plan.kind is AccountKind.LOAN:
            continue
        totals.setdefault(plan.currency, 0)
        opened = WINDOW + datetime.timedelta(days=plan.opened)
        closed = (
            None
            if plan.closed is None
            else max(opened, WINDOW + datetime.timedelta(days=plan.closed))
        )
        day = start
        while day <= end:
            is_open = opened <= day and (closed is None or day < closed)
            known = [o for o in plan.snapshots if WINDOW + datetime.timedelta(days=o) <= day]
            if is_open and known:
                totals[plan.currency] += plan.snapshots[max(known)]
            day += datetime.timedelta(days=1)
    days = (end - start).days + 1
    return {
        code: Money.from_minor_units(
            int((Decimal(total) / days).quantize(Decimal(1), rounding=ROUND_HALF_UP)), code
        )
        for code, total in sorted(totals.items())
    }


_seeds = itertools.count(1000)


def _check_against_oracle(
    store: Any, plans: Sequence[_Plan], first: int, length: int, probe: int
) -> None:
    customer = make_individual(next(_seeds))
    accounts = [
        Account(
            customer_id=customer.id,
            account_number=f"H{customer.customer_number}-{i}",
            kind=plan.kind,
            currency=plan.currency,
            opened_on=WINDOW + datetime.timedelta(days=plan.opened),
            closed_on=None
            if plan.closed is None
            else WINDOW + datetime.timedelta(days=max(plan.opened, plan.closed)),
        )
        for i, plan in enumerate(plans)
    ]
    feed = [
        BalanceRow(
            a.account_number,
            WINDOW + datetime.timedelta(days=offset),
            Decimal(units).scaleb(-_CODES[a.currency]),
            a.currency,
        )
        for a, plan in zip(accounts, plans, strict=True)
        for offset, units in plan.snapshots.items()
    ]
    with store.unit_of_work(ADMIN) as uow:
        uow.customers.add(customer)
        uow.accounts.add_many(accounts)
        report = load_balances(uow, feed, batch_size=5)
        assert report.loaded == len(feed), report.errors
        uow.commit()
    start = WINDOW + datetime.timedelta(days=first)
    end = start + datetime.timedelta(days=length)
    probe_day = WINDOW + datetime.timedelta(days=probe)
    with store.unit_of_work(ADMIN, read_only=True) as uow:
        assert average_daily_aum(uow, customer.id, start, end) == _oracle(plans, start, end)
        assert aum_on(uow, customer.id, probe_day) == _oracle(plans, probe_day, probe_day)


_property = given(
    plans=st.lists(_plans, max_size=4),
    first=st.integers(0, 70),
    length=st.integers(0, 45),
    probe=st.integers(0, 70),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@_property
def test_average_daily_aum_matches_a_day_by_day_oracle_in_memory(
    plans: list[_Plan], first: int, length: int, probe: int
) -> None:
    # one store for every example would do too; a fresh one keeps failures readable
    _check_against_oracle(InMemoryStore(clock=FixedClock(CLOCK)), plans, first, length, probe)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@_property
def test_average_daily_aum_matches_a_day_by_day_oracle_on_sqlite(
    sqlite_store: Any, plans: list[_Plan], first: int, length: int, probe: int
) -> None:
    _check_against_oracle(sqlite_store, plans, first, length, probe)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Any]:
    """One SQLite store for every example (each example adds its own customer)."""
    store = _sql_store(tmp_path, clock=FixedClock(CLOCK))
    yield store
    store.close()


def test_a_failing_feed_source_writes_nothing(store: Any) -> None:
    load(store, [row(DEP, DAY1, "1")])
    before = everything(store)

    def feed() -> Iterator[dict[str, Any]]:
        yield row(DEP, DAY1, "10")
        yield row(WM, DAY2, "20")
        raise OSError("the warehouse connection dropped")

    with store.unit_of_work(ADMIN) as uow:
        with pytest.raises(OSError, match="dropped"):
            load_balances(uow, feed(), mode=SKIP, batch_size=1)
        uow.commit()  # the host may go on: the feed's part is already undone
    assert everything(store) == before


def test_aum_on_names_its_day_argument(store: Any) -> None:
    with store.unit_of_work(ADMIN, read_only=True) as uow, pytest.raises(ValidationError) as caught:
        aum_on(uow, PERSON.id, datetime.datetime(2025, 6, 1))  # type: ignore[arg-type]
    assert [p.path for p in caught.value.problems] == ["$.day"]


def test_an_amount_too_large_to_store_is_a_bad_row(store: Any) -> None:
    huge = "100000000000000000.00"  # 10**19 fen: beyond a 64-bit integer
    report = load(store, [row(DEP, DAY1, "1"), row(WM, DAY1, huge)], mode=SKIP)
    assert [(e.row_number, e.field) for e in report.errors] == [(2, "balance")]
    assert stored(store) == {(DEP, DAY1): cny("1")}
