"""Balance feeds and assets under management (AUM, 季日均).

* :func:`load_balances` loads end-of-day balances from a data-warehouse feed: streamed
  in batches inside the caller's unit of work, idempotent per day (the first row of a
  day in a feed replaces everything the day held, so re-loading a day never doubles
  it), with a per-row error report that never echoes values.
* :func:`aum_on` is a customer's AUM at the end of a day; :func:`average_daily_aum`
  the period-average daily balance that tiers are set by: the sum, over every calendar
  day of the period, of the end-of-day balance (the last balance carried over days
  without one), divided by the number of days. :func:`quarter_of` gives a day's
  quarter.

Balances are in each account's currency; AUM is reported per currency (convert in your
feed, "折人民币", if you tier on one figure). Loans are not assets and never count.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import attrs

from finance_crm.errors import DuplicateError, ValidationError
from finance_crm.ids import AccountId, CustomerId
from finance_crm.money import Money
from finance_crm.ports import UnitOfWork
from finance_crm.services._feeds import (
    MAX_UNITS,
    TOO_FINE,
    RollBack,
    Tally,
    check_period,
    exponent,
    minor_units,
    parse_amount,
    parse_day,
)
from finance_crm.services.customer_import import ImportMode, RowError

__all__ = [
    "BalanceFeedReport",
    "BalanceRow",
    "aum_on",
    "average_daily_aum",
    "load_balances",
    "quarter_of",
]


@attrs.frozen
class BalanceRow:
    """One row of a balance feed: an account's end-of-day balance on one day.

    Feeds may also be mappings with the keys ``account_number``, ``day`` (a date or
    ISO text), ``balance`` (a Decimal, an int or decimal text; never a float) and
    ``currency``.
    """

    account_number: str
    day: datetime.date
    balance: Decimal
    currency: str


@attrs.frozen(kw_only=True)
class BalanceFeedReport:
    """What a feed did. ``days`` maps each day loaded to (balances it replaced, loaded)."""

    mode: ImportMode
    rows_read: int
    loaded: int
    rejected_rows: int
    days: Mapping[datetime.date, tuple[int, int]]
    errors: tuple[RowError, ...]
    errors_not_listed: int = 0

    @property
    def ok(self) -> bool:
        return self.rejected_rows == 0


# A parsed row: (row number, account number, day, amount, currency code)
_Parsed = tuple[int, str, datetime.date, Decimal, str]


@attrs.define
class _Reader:
    """Turns feed rows into parsed rows. A feed holds a handful of days in millions of
    rows, so each day's text is parsed once."""

    tally: Tally
    days: dict[object, datetime.date] = attrs.field(factory=dict)

    def parse(self, row_number: int, row: object) -> _Parsed | None:
        number: object
        day: object
        amount: object
        code: object
        if isinstance(row, Mapping):
            number = row.get("account_number")
            day = row.get("day")
            amount = row.get("balance")
            code = row.get("currency")
        elif isinstance(row, BalanceRow):
            number, day, amount, code = row.account_number, row.day, row.balance, row.currency
        else:
            self.tally.reject(row_number, "row", "expected a BalanceRow or a mapping")
            return None
        if not isinstance(number, str) or not number:
            self.tally.reject(row_number, "account_number", "missing")
            return None
        parsed_day = self.days.get(day) if isinstance(day, (str, datetime.date)) else None
        if parsed_day is None:
            try:
                parsed_day = parse_day(day)
            except ValueError:
                self.tally.reject(row_number, "day", "must be a date (YYYY-MM-DD)")
                return None
            self.days[day] = parsed_day
        try:
            parsed_amount = parse_amount(amount)
        except (ValueError, InvalidOperation):
            self.tally.reject(
                row_number, "balance", "must be a decimal amount (text or Decimal, not float)"
            )
            return None
        if not isinstance(code, str):
            self.tally.reject(row_number, "currency", "must be an ISO 4217 code")
            return None
        return row_number, number, parsed_day, parsed_amount, code.upper()


def load_balances(
    uow: UnitOfWork,
    rows: Iterable[BalanceRow | Mapping[str, Any]],
    *,
    mode: ImportMode = ImportMode.ALL_OR_NOTHING,
    batch_size: int = 5000,
    max_reported_errors: int = 1000,
) -> BalanceFeedReport:
    """Load an end-of-day balance feed into ``uow`` (the caller commits).

    Each day met in the feed is replaced whole: its stored balances are removed when
    the feed's first row for it arrives, so loading a day twice leaves one copy. Rows
    are refused, by row number and column, for: a malformed day or amount, an amount
    finer than the currency's minor unit, an account the store does not know, a
    currency other than the account's, and a second balance for the same account and
    day in one feed. ``ALL_OR_NOTHING`` (the default) writes nothing if any row is bad;
    ``SKIP_BAD_ROWS`` writes the good rows. Each day loaded is audited once.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError("batch_size must be at least 1", path="$.batch_size")
    if not isinstance(mode, ImportMode):
        raise ValidationError("mode must be an ImportMode", path="$.mode")
    tally = Tally(max_reported_errors)
    reader = _Reader(tally)
    try:
        with uow.savepoint():
            batch: list[_Parsed] = []
            for row_number, row in enumerate(rows, start=1):
                tally.rows_read += 1
                parsed = reader.parse(row_number, row)
                if parsed is not None:
                    batch.append(parsed)
                if len(batch) >= batch_size:
                    _flush(uow, batch, tally)
                    batch = []
            _flush(uow, batch, tally)
            if mode is ImportMode.ALL_OR_NOTHING and tally.rejected:
                raise RollBack
            for day, (replaced, loaded) in sorted(tally.days.items()):
                uow.balances.record_feed(day, replaced=replaced, loaded=loaded)
    except RollBack:
        tally.loaded = 0
        tally.days.clear()
    return BalanceFeedReport(
        mode=mode,
        rows_read=tally.rows_read,
        loaded=tally.loaded,
        rejected_rows=tally.rejected,
        days={day: (r, n) for day, (r, n) in sorted(tally.days.items())},
        errors=tally.listed(),
        errors_not_listed=tally.not_listed,
    )


def _flush(uow: UnitOfWork, batch: Sequence[_Parsed], tally: Tally) -> None:
    if not batch:
        return
    accounts = uow.balances.resolve({number for _, number, _, _, _ in batch})
    exponents = {code: exponent(code) for _, code in accounts.values()}
    good: list[tuple[int, tuple[AccountId, datetime.date, int]]] = []
    for row_number, number, day, amount, code in batch:
        found = accounts.get(number)
        if found is None:
            tally.reject(
                row_number, "account_number", "no account with this number; feed the account first"
            )
            continue
        account_id, account_currency = found
        if code != account_currency:
            tally.reject(row_number, "currency", "differs from the account's currency")
            continue
        units = minor_units(amount, exponents[code])
        if units is None:
            tally.reject(row_number, "balance", TOO_FINE)
            continue
        if abs(units) >= MAX_UNITS:
            tally.reject(row_number, "balance", "is too large to be a balance")
            continue
        if day not in tally.days:
            tally.days[day] = [uow.balances.clear_day(day), 0]
        good.append((row_number, (account_id, day, units)))
    if not good:
        return
    # No savepoint needed: a write that fails stores none of its rows (the port's
    # promise), and a savepoint per batch cost a quarter of the load rate on SQLite.
    try:
        uow.balances.write([row for _, row in good])
        _count(tally, [row for _, row in good])
        return
    except DuplicateError:
        pass
    # The batch holds a second balance for an account and day: find it row by row.
    for row_number, row in good:
        try:
            uow.balances.write([row])
            _count(tally, [row])
        except DuplicateError:
            tally.reject(
                row_number, "day", "a second balance for this account and day in the same feed"
            )


def _count(tally: Tally, rows: Sequence[tuple[AccountId, datetime.date, int]]) -> None:
    tally.loaded += len(rows)
    for _, day, _ in rows:
        tally.days[day][1] += 1


# -- AUM -----------------------------------------------------------------------------


def quarter_of(day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day of ``day``'s calendar quarter."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = datetime.date(day.year, first_month, 1)
    next_start = (
        datetime.date(day.year + 1, 1, 1)
        if first_month == 10
        else datetime.date(day.year, first_month + 3, 1)
    )
    return start, next_start - datetime.timedelta(days=1)


def _daily_sums(
    uow: UnitOfWork, customer_id: CustomerId, start: datetime.date, end: datetime.date
) -> dict[str, list[int]]:
    """Per currency, the customer's AUM in minor units on each day of [start, end]."""
    accounts = [a for a in uow.accounts.of_customer(customer_id) if a.kind.counts_in_aum]
    days = (end - start).days + 1
    sums: dict[str, list[int]] = {}
    by_account: dict[AccountId, list[tuple[datetime.date, int]]] = {}
    for balance in uow.balances.of_accounts([a.id for a in accounts], start, end):
        by_account.setdefault(balance.account_id, []).append(
            (balance.day, balance.balance.minor_units)
        )
    for account in accounts:
        line = sums.setdefault(account.currency, [0] * days)
        snapshots = by_account.get(account.id, [])
        carried, index = 0, 0
        for offset in range(days):
            day = start + datetime.timedelta(days=offset)
            while index < len(snapshots) and snapshots[index][0] <= day:
                carried = snapshots[index][1]
                index += 1
            if account.open_on(day):
                line[offset] += carried
    return sums


def aum_on(uow: UnitOfWork, customer_id: CustomerId, day: datetime.date) -> dict[str, Money]:
    """The customer's assets under management at the end of ``day``, per currency: each
    open asset account's last balance on or before ``day``."""
    if not isinstance(day, datetime.date) or isinstance(day, datetime.datetime):
        raise ValidationError("must be a business date", path="$.day")
    return {
        code: Money.from_minor_units(line[0], code)
        for code, line in sorted(_daily_sums(uow, customer_id, day, day).items())
    }


def average_daily_aum(
    uow: UnitOfWork, customer_id: CustomerId, start: datetime.date, end: datetime.date
) -> dict[str, Money]:
    """The period-average daily AUM (季日均 for a quarter), per currency: the sum over
    every calendar day of ``[start, end]`` of the end-of-day AUM, divided by the number
    of days, rounded half-up to the currency's minor unit."""
    start, end = check_period(start, end)
    days = (end - start).days + 1
    result = {}
    for code, line in sorted(_daily_sums(uow, customer_id, start, end).items()):
        average = (Decimal(sum(line)) / days).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        result[code] = Money.from_minor_units(int(average), code)
    return result
