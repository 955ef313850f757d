"""What the data-warehouse feeds share (balances, transactions, contribution): the
tally of rows read, loaded and refused, and the parsing of days and amounts."""

from __future__ import annotations

import datetime
import heapq
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, Inexact, Overflow, Underflow

import attrs

from finance_crm.errors import ValidationError
from finance_crm.money import currency as currency_of
from finance_crm.services.customer_import import RowError

__all__ = [
    "MAX_UNITS",
    "TOO_FINE",
    "RollBack",
    "Tally",
    "check_period",
    "exponent",
    "minor_units",
    "parse_amount",
    "parse_day",
]


class RollBack(Exception):
    """Raised inside the feed's savepoint to undo an all-or-nothing feed."""


@attrs.define
class Tally:
    max_errors: int
    rows_read: int = 0
    loaded: int = 0
    rejected: int = 0
    # The listed errors are those of the lowest row numbers (a heap keyed on the
    # negated row number): some problems are found as rows are read, others only when
    # their batch is written, so the order found is not the order of the rows.
    errors: list[tuple[int, int, RowError]] = attrs.field(factory=list)
    not_listed: int = 0
    days: dict[datetime.date, list[int]] = attrs.field(factory=dict)

    def reject(self, row_number: int, field: str, problem: str) -> None:
        self.rejected += 1
        entry = (-row_number, -self.rejected, RowError(row_number, field, problem))
        if len(self.errors) < self.max_errors:
            heapq.heappush(self.errors, entry)
        else:
            self.not_listed += 1
            if self.errors and entry > self.errors[0]:
                heapq.heapreplace(self.errors, entry)

    def listed(self) -> tuple[RowError, ...]:
        return tuple(e for _, _, e in sorted(self.errors, key=lambda t: (-t[0], -t[1])))


def parse_day(value: object) -> datetime.date:
    if isinstance(value, datetime.datetime):
        raise ValueError
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        return datetime.date.fromisoformat(value)
    raise ValueError


def parse_amount(value: object) -> Decimal:
    if isinstance(value, str):
        parsed = Decimal(value.strip())
    elif isinstance(value, Decimal):
        parsed = value
    elif isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    else:
        raise ValueError  # floats included: money is never a float
    if not parsed.is_finite():
        raise ValueError
    return parsed


_EXPONENTS: dict[str, int] = {}
# Balances are stored as 64-bit integers of minor units (BIGINT).
MAX_UNITS = 2**63


def exponent(code: str) -> int:
    exponent = _EXPONENTS.get(code)
    if exponent is None:
        exponent = _EXPONENTS[code] = currency_of(code).minor_units
    return exponent


TOO_FINE = "has more decimal places than the currency has"


def minor_units(amount: Decimal, places: int) -> int | None:
    """``amount`` in minor units of a currency with ``places`` decimal places, or None
    when it has more decimal places than that. Exact for any finite Decimal (never
    rounded, and no overflow or underflow of the default decimal context); the caller
    checks the size against :data:`MAX_UNITS`."""
    adjusted = amount.adjusted()
    if adjusted > 40:  # far beyond any limit: spare building a huge int
        return MAX_UNITS if amount > 0 else -MAX_UNITS
    if amount and adjusted < -places:  # its first digit is finer than the minor unit
        return None
    try:
        units = amount.scaleb(places, context=_EXACT)
    except Inexact:  # more digits than even _EXACT holds: certainly not whole units
        return None
    if units != units.to_integral_value():
        return None
    return int(units)


# Wide enough for every amount that gets here; raises rather than rounds.
_EXACT = Context(prec=1000, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact, Overflow, Underflow])


def check_period(start: object, end: object) -> tuple[datetime.date, datetime.date]:
    """The period as two dates, or ValidationError (not dates, or ending first)."""
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
            raise ValidationError("must be a business date", path=f"$.{name}")
    assert isinstance(start, datetime.date) and isinstance(end, datetime.date)
    if end < start:
        raise ValidationError("the period ends before it starts", path="$.end")
    return start, end
