"""Transaction feeds, securities trades and contribution (交易, 证券交易, 贡献度).

* :func:`load_transactions` loads a day's booked transactions from a data-warehouse
  feed: streamed in batches, idempotent per day (the first row of a day replaces what
  the day held), with a per-row error report that never echoes values. Securities
  trades (``buy``, ``sell``) carry their instrument, sector and quantity.
* :func:`load_contributions` loads monthly contribution figures (贡献度) per customer
  from the management-accounting system, idempotent per month.
* :func:`contribution` sums a customer's contribution over a period, per currency;
  :func:`traded_sectors` says which sectors a customer traded in a period, and how
  much (what "customers who trade bank stocks" selects on).

Large transactions can trigger a service standard
(:class:`~finance_crm.model.service_standards.EventStandard` with
``ServiceTrigger.LARGE_TRANSACTION``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from finance_crm.errors import CrmError, DuplicateError, ValidationError
from finance_crm.ids import CustomerId
from finance_crm.model.transactions import ContributionFigure, Transaction, TransactionKind
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
    "ContributionRow",
    "FeedReport",
    "SectorLine",
    "TransactionRow",
    "contribution",
    "load_contributions",
    "load_transactions",
    "traded_sectors",
]

_FIELDS = ("account_number", "day", "reference", "kind", "amount", "currency")
_OPTIONAL = ("instrument", "sector", "quantity")


@attrs.frozen(kw_only=True)
class TransactionRow:
    """One row of a transaction feed. Feeds may also be mappings with these keys
    (``day`` a date or ISO text; ``amount`` and ``quantity`` a Decimal, an int or
    decimal text, never a float; ``kind`` a :class:`TransactionKind` value)."""

    account_number: str
    day: datetime.date
    reference: str
    kind: str
    amount: Decimal
    currency: str
    instrument: str | None = None
    sector: str | None = None
    quantity: Decimal | None = None


@attrs.frozen(kw_only=True)
class ContributionRow:
    """One row of a contribution feed: a customer's figure for a month (``month`` a
    date in the month or ``"YYYY-MM"``)."""

    customer_number: str
    month: datetime.date | str
    amount: Decimal
    currency: str


@attrs.frozen(kw_only=True)
class FeedReport:
    """What a feed did. ``periods`` maps each day (or month) loaded to (rows it
    replaced, rows loaded)."""

    mode: ImportMode
    rows_read: int
    loaded: int
    rejected_rows: int
    periods: Mapping[datetime.date, tuple[int, int]]
    errors: tuple[RowError, ...]
    errors_not_listed: int = 0

    @property
    def ok(self) -> bool:
        return self.rejected_rows == 0


def _fields(row: object, kind: type, names: Sequence[str]) -> dict[str, object] | None:
    if isinstance(row, Mapping):
        return {n: row.get(n) for n in names}
    if isinstance(row, kind):
        return {n: getattr(row, n) for n in names}
    return None


def _money(tally: Tally, row_number: int, field: str, amount: object, code: str) -> Money | None:
    try:
        parsed = parse_amount(amount)
    except (ValueError, InvalidOperation):
        tally.reject(row_number, field, "must be a decimal amount (text or Decimal, not float)")
        return None
    try:
        units = minor_units(parsed, exponent(code))
    except CrmError:
        tally.reject(row_number, "currency", "must be an ISO 4217 code")
        return None
    if units is None:
        tally.reject(row_number, field, TOO_FINE)
        return None
    if abs(units) >= MAX_UNITS:
        tally.reject(row_number, field, "is too large to store")
        return None
    return Money.from_minor_units(units, code)


@attrs.define
class _Writer:
    """Writes a feed's rows a batch at a time. A row refused as a duplicate is retried
    once, after every day (or month) of the feed has been replaced: a reference a
    corrected feed moves from one day to another is free only once both days are
    cleared, and the outcome must not depend on where the batches fall."""

    tally: Tally
    write: Callable[[list[Any]], None]
    period_of: Callable[[Any], datetime.date]
    duplicate: tuple[str, str]
    deferred: list[tuple[int, Any]] = attrs.field(factory=list)

    def _count(self, items: list[Any]) -> None:
        self.tally.loaded += len(items)
        for item in items:
            self.tally.days[self.period_of(item)][1] += 1

    def batch(self, good: list[tuple[int, Any]]) -> None:
        if not good:
            return
        try:
            self.write([item for _, item in good])
            self._count([item for _, item in good])
            return
        except DuplicateError:
            pass
        for row_number, item in good:  # find the duplicates row by row
            try:
                self.write([item])
                self._count([item])
            except DuplicateError:
                self.deferred.append((row_number, item))

    def finish(self) -> None:
        for row_number, item in self.deferred:
            try:
                self.write([item])
                self._count([item])
            except DuplicateError:
                self.tally.reject(row_number, *self.duplicate)
        self.deferred.clear()


def _run_feed(
    uow: UnitOfWork,
    rows: Iterable[object],
    *,
    mode: ImportMode,
    batch_size: int,
    writer: _Writer,
    parse: Callable[[Tally, int, object], Any],
    flush: Callable[[Tally, list[Any]], None],
    record: Callable[[datetime.date, int, int], None],
) -> FeedReport:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError("batch_size must be at least 1", path="$.batch_size")
    if not isinstance(mode, ImportMode):
        raise ValidationError("mode must be an ImportMode", path="$.mode")
    tally = writer.tally
    try:
        with uow.savepoint():
            batch: list[Any] = []
            for row_number, row in enumerate(rows, start=1):
                tally.rows_read += 1
                parsed = parse(tally, row_number, row)
                if parsed is not None:
                    batch.append(parsed)
                if len(batch) >= batch_size:
                    flush(tally, batch)
                    batch = []
            flush(tally, batch)
            writer.finish()
            if mode is ImportMode.ALL_OR_NOTHING and tally.rejected:
                raise RollBack
            for period, (replaced, loaded) in sorted(tally.days.items()):
                record(period, replaced, loaded)
    except RollBack:
        tally.loaded = 0
        tally.days.clear()
    return FeedReport(
        mode=mode,
        rows_read=tally.rows_read,
        loaded=tally.loaded,
        rejected_rows=tally.rejected,
        periods={p: (r, n) for p, (r, n) in sorted(tally.days.items())},
        errors=tally.listed(),
        errors_not_listed=tally.not_listed,
    )


# -- transactions -------------------------------------------------------------------------

# (row number, account number, parsed fields)
_ParsedTxn = tuple[int, str, dict[str, Any]]


def _parse_transaction(tally: Tally, row_number: int, row: object) -> _ParsedTxn | None:
    fields = _fields(row, TransactionRow, (*_FIELDS, *_OPTIONAL))
    if fields is None:
        tally.reject(row_number, "row", "expected a TransactionRow or a mapping")
        return None
    number = fields["account_number"]
    if not isinstance(number, str) or not number:
        tally.reject(row_number, "account_number", "missing")
        return None
    try:
        fields["day"] = parse_day(fields["day"])
    except ValueError:
        tally.reject(row_number, "day", "must be a date (YYYY-MM-DD)")
        return None
    try:
        fields["kind"] = TransactionKind(fields["kind"])
    except ValueError:
        choices = ", ".join(k.value for k in TransactionKind)
        tally.reject(row_number, "kind", f"must be one of {choices}")
        return None
    if not isinstance(fields["currency"], str):
        tally.reject(row_number, "currency", "must be an ISO 4217 code")
        return None
    fields["currency"] = fields["currency"].upper()
    quantity = fields["quantity"]
    if quantity is not None:
        try:
            fields["quantity"] = parse_amount(quantity)
        except (ValueError, InvalidOperation):
            tally.reject(row_number, "quantity", "must be a decimal quantity (not a float)")
            return None
    return row_number, number, fields


def load_transactions(
    uow: UnitOfWork,
    rows: Iterable[TransactionRow | Mapping[str, Any]],
    *,
    mode: ImportMode = ImportMode.ALL_OR_NOTHING,
    batch_size: int = 5000,
    max_reported_errors: int = 1000,
) -> FeedReport:
    """Load a transaction feed into ``uow`` (the caller commits).

    Each day met in the feed is replaced whole when its first row that passes the row
    checks arrives (so with ``SKIP_BAD_ROWS`` a day whose rows are all refused later,
    as second references, is left empty: the audit says so). Rows are refused, by row
    number and column, for a malformed day, kind, amount or quantity
    (floats refused), an amount that is not positive or finer than the currency's
    minor unit, an account the store does not know, a currency other than the
    account's, a trade without an instrument (or another kind with one), and a second
    transaction with the same reference on an account (judged once every day of the
    feed has been replaced, so a reference moved between days loads, whatever the
    batch size). ``ALL_OR_NOTHING`` writes
    nothing if any row is bad; ``SKIP_BAD_ROWS`` writes the good rows. Each day loaded
    is audited once.
    """

    writer = _Writer(
        Tally(max_reported_errors),
        uow.transactions.write,
        lambda t: t.day,
        ("reference", "a second transaction with this reference on the account"),
    )

    def flush(tally: Tally, batch: list[_ParsedTxn]) -> None:
        if not batch:
            return
        accounts = uow.balances.resolve({number for _, number, _ in batch})
        good: list[tuple[int, Transaction]] = []
        for row_number, number, f in batch:
            found = accounts.get(number)
            if found is None:
                tally.reject(
                    row_number,
                    "account_number",
                    "no account with this number; feed the account first",
                )
                continue
            account_id, account_currency = found
            if f["currency"] != account_currency:
                tally.reject(row_number, "currency", "differs from the account's currency")
                continue
            amount = _money(tally, row_number, "amount", f["amount"], f["currency"])
            if amount is None:
                continue
            try:
                transaction = Transaction(
                    account_id=account_id,
                    day=f["day"],
                    reference=f["reference"],
                    kind=f["kind"],
                    amount=amount,
                    instrument=f["instrument"],
                    sector=f["sector"],
                    quantity=f["quantity"],
                )
            except ValidationError as exc:
                problem = exc.problems[0]
                tally.reject(row_number, problem.path.removeprefix("$."), problem.message)
                continue
            if transaction.day not in tally.days:
                tally.days[transaction.day] = [uow.transactions.clear_day(transaction.day), 0]
            good.append((row_number, transaction))
        writer.batch(good)

    return _run_feed(
        uow,
        rows,
        mode=mode,
        batch_size=batch_size,
        writer=writer,
        parse=_parse_transaction,
        flush=flush,
        record=lambda day, replaced, loaded: uow.transactions.record_feed(
            day, replaced=replaced, loaded=loaded
        ),
    )


# -- contribution -------------------------------------------------------------------------


def _parse_month(value: object) -> datetime.date:
    if isinstance(value, str) and len(value) == 7:
        value = f"{value}-01"
    day = parse_day(value)
    return datetime.date(day.year, day.month, 1)


def load_contributions(
    uow: UnitOfWork,
    rows: Iterable[ContributionRow | Mapping[str, Any]],
    *,
    mode: ImportMode = ImportMode.ALL_OR_NOTHING,
    batch_size: int = 5000,
    max_reported_errors: int = 1000,
) -> FeedReport:
    """Load monthly contribution figures (贡献度) into ``uow`` (the caller commits).

    Each month met in the feed is replaced whole when its first row arrives. Rows are
    refused for a malformed month or amount, an unknown customer number, and a second
    figure for a customer, month and currency in one feed.
    """

    def parse(tally: Tally, row_number: int, row: object) -> tuple[int, str, Any] | None:
        fields = _fields(row, ContributionRow, ("customer_number", "month", "amount", "currency"))
        if fields is None:
            tally.reject(row_number, "row", "expected a ContributionRow or a mapping")
            return None
        number = fields["customer_number"]
        if not isinstance(number, str) or not number:
            tally.reject(row_number, "customer_number", "missing")
            return None
        try:
            fields["month"] = _parse_month(fields["month"])
        except ValueError:
            tally.reject(row_number, "month", "must be a month (YYYY-MM) or a date")
            return None
        if not isinstance(fields["currency"], str):
            tally.reject(row_number, "currency", "must be an ISO 4217 code")
            return None
        return row_number, number, fields

    writer = _Writer(
        Tally(max_reported_errors),
        uow.contributions.write,
        lambda figure: figure.month,
        ("month", "a second figure for this customer, month and currency in the feed"),
    )

    def flush(tally: Tally, batch: list[tuple[int, str, Any]]) -> None:
        if not batch:
            return
        customers = uow.contributions.resolve({number for _, number, _ in batch})
        good: list[tuple[int, ContributionFigure]] = []
        for row_number, number, f in batch:
            customer_id = customers.get(number)
            if customer_id is None:
                tally.reject(row_number, "customer_number", "no customer with this number")
                continue
            amount = _money(tally, row_number, "amount", f["amount"], f["currency"].upper())
            if amount is None:
                continue
            if f["month"] not in tally.days:
                tally.days[f["month"]] = [uow.contributions.clear_month(f["month"]), 0]
            good.append(
                (
                    row_number,
                    ContributionFigure(customer_id=customer_id, month=f["month"], amount=amount),
                )
            )
        writer.batch(good)

    return _run_feed(
        uow,
        rows,
        mode=mode,
        batch_size=batch_size,
        writer=writer,
        parse=parse,
        flush=flush,
        record=lambda month, replaced, loaded: uow.contributions.record_feed(
            month, replaced=replaced, loaded=loaded
        ),
    )


def contribution(
    uow: UnitOfWork, customer_id: CustomerId, start: datetime.date, end: datetime.date
) -> dict[str, Money]:
    """The customer's contribution over the months ``start`` to ``end`` fall in (both
    included), per currency."""
    start, end = check_period(start, end)
    uow.customers.get(customer_id)  # scope
    first = datetime.date(start.year, start.month, 1)
    last = datetime.date(end.year, end.month, 1)
    totals: dict[str, Money] = {}
    for figure in uow.contributions.of_customer(customer_id, first, last):
        code = figure.amount.currency.code
        totals[code] = totals.get(code, Money.zero(code)) + figure.amount
    return dict(sorted(totals.items()))


@attrs.frozen(kw_only=True)
class SectorLine:
    """A customer's trades in one sector over a period, per currency traded."""

    sector: str
    trades: int
    bought: Mapping[str, Money]
    sold: Mapping[str, Money]


def traded_sectors(
    uow: UnitOfWork, customer_id: CustomerId, start: datetime.date, end: datetime.date
) -> list[SectorLine]:
    """The sectors the customer traded from ``start`` to ``end``, most trades first
    (trades without a sector are counted under ``"unknown"``)."""
    start, end = check_period(start, end)
    uow.customers.get(customer_id)  # scope
    lines: dict[str, tuple[int, dict[str, Money], dict[str, Money]]] = {}
    for t in uow.transactions.of_customer(customer_id, start, end):
        if not t.kind.is_trade:
            continue
        sector = t.sector or "unknown"
        count, bought, sold = lines.get(sector, (0, {}, {}))
        side = bought if t.kind is TransactionKind.BUY else sold
        code = t.amount.currency.code
        side[code] = side.get(code, Money.zero(code)) + t.amount
        lines[sector] = (count + 1, bought, sold)
    return [
        SectorLine(sector=s, trades=c, bought=dict(sorted(b.items())), sold=dict(sorted(v.items())))
        for s, (c, b, v) in sorted(lines.items(), key=lambda kv: (-kv[1][0], kv[0]))
    ]
