"""Time: instants are timezone-aware UTC :class:`pendulum.DateTime`; nothing else calls now().

Inside the domain every instant is an aware ``pendulum.DateTime`` in UTC, and the only
source of "now" is a :class:`Clock` passed in by the caller: :class:`SystemClock` in
production, :class:`FixedClock` in tests. A *business date* is the calendar date of an
instant in the institution's time zone (:data:`DEFAULT_TIMEZONE`, Asia/Shanghai), from
:func:`business_date`.

:func:`ensure_utc` is the one gate for instants coming in from outside: it refuses naive
datetimes (their zone would be a guess) and converts aware ones to UTC.
"""

from __future__ import annotations

import datetime
import functools
from typing import Final, Protocol, runtime_checkable

import attrs
import pendulum

from finance_crm.errors import ValidationError

__all__ = [
    "DEFAULT_TIMEZONE",
    "Clock",
    "FixedClock",
    "SystemClock",
    "business_date",
    "end_of_business_day",
    "ensure_utc",
]

DEFAULT_TIMEZONE: Final = "Asia/Shanghai"
"""The institution's time zone unless configured otherwise (China Standard Time)."""

_NAIVE: Final = (
    "naive datetime: give a timezone-aware instant, "
    "e.g. pendulum.datetime(2025, 1, 2, tz='Asia/Shanghai')"
)
_NOT_DATETIME: Final = (
    "expected a timezone-aware datetime, e.g. pendulum.datetime(2025, 1, 2, tz='Asia/Shanghai')"
)
_UTC: Final = pendulum.UTC


@runtime_checkable
class Clock(Protocol):
    """The source of the current instant. Pass one in; never call ``now()`` directly."""

    def now(self) -> pendulum.DateTime:
        """The current instant: an aware ``pendulum.DateTime`` in UTC."""
        ...


def ensure_utc(value: datetime.datetime) -> pendulum.DateTime:
    """``value`` as an aware ``pendulum.DateTime`` in UTC; the same instant, never shifted.

    Accepts stdlib and pendulum datetimes in any zone. A UTC ``pendulum.DateTime`` is
    returned as it is. A wall time made ambiguous or skipped by a daylight-saving change
    is resolved by its ``utcoffset()``, that is by its ``fold`` attribute, exactly as
    :meth:`datetime.datetime.astimezone` does.

    :raises ~finance_crm.errors.ValidationError: ``value`` is naive (no time zone), or
        not a datetime at all (a ``date``, a string).
    """
    if type(value) is pendulum.DateTime and value.tzinfo is _UTC:
        return value
    if not isinstance(value, datetime.datetime):
        raise ValidationError(_NOT_DATETIME)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(_NAIVE)
    u = value.astimezone(datetime.UTC)
    return pendulum.DateTime(
        u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, tzinfo=_UTC
    )


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> pendulum.Timezone | pendulum.FixedTimezone:
    try:
        return pendulum.timezone(name)
    except Exception:  # pendulum raises InvalidTimezone; bad input of any kind lands here
        raise ValidationError("unknown time zone; use an IANA name such as Asia/Shanghai") from None


def business_date(
    clock_or_instant: Clock | datetime.datetime, tz: str = DEFAULT_TIMEZONE
) -> pendulum.Date:
    """The institution's calendar date of an instant (or of a clock's current instant).

    ``business_date(pendulum.datetime(2025, 1, 1, 16, 30, tz="UTC"))`` is
    ``pendulum.Date(2025, 1, 2)``: half past four in the afternoon UTC is already
    half past midnight in Shanghai.

    :param clock_or_instant: a :class:`Clock`, or an aware datetime in any zone.
    :param tz: an IANA time zone name, by default :data:`DEFAULT_TIMEZONE`.
    :raises ~finance_crm.errors.ValidationError: naive datetime or unknown zone.
    """
    if isinstance(clock_or_instant, datetime.datetime):
        instant = ensure_utc(clock_or_instant)
    else:
        instant = ensure_utc(clock_or_instant.now())
    if not isinstance(tz, str):
        raise ValidationError("tz must be an IANA time zone name such as Asia/Shanghai")
    local = instant.astimezone(_zone(tz))
    return pendulum.Date(local.year, local.month, local.day)


def end_of_business_day(day: datetime.date, tz: str = DEFAULT_TIMEZONE) -> pendulum.DateTime:
    """The last instant (UTC, to the microsecond) of the business date ``day`` in ``tz``.

    "Who managed this customer on 30 June?" is answered as of this instant: the state
    the day closed with.
    """
    if not isinstance(day, datetime.date) or isinstance(day, datetime.datetime):
        raise ValidationError("expected a date (a business date), not an instant")
    if not isinstance(tz, str):
        raise ValidationError("tz must be an IANA time zone name such as Asia/Shanghai")
    zone = _zone(tz)
    following = datetime.date.fromordinal(day.toordinal() + 1)
    start = pendulum.DateTime(following.year, following.month, following.day, tzinfo=zone)
    return ensure_utc(start).subtract(microseconds=1)


@attrs.frozen
class SystemClock:
    """The real clock: :meth:`now` reads the system time, in UTC."""

    def now(self) -> pendulum.DateTime:
        """The current instant, ``pendulum.now("UTC")``."""
        return pendulum.now(_UTC)


@attrs.define
class FixedClock:
    """A clock that stands still until told to move; for tests and replays.

    Mutable by design: :meth:`advance` and :meth:`set` move it, and every holder of the
    same ``FixedClock`` sees the change. The instant is kept in UTC; an aware instant in
    another zone is converted, a naive one is refused.

    >>> clock = FixedClock(pendulum.datetime(2025, 1, 2, 9, tz="Asia/Shanghai"))
    >>> clock.now()
    DateTime(2025, 1, 2, 1, 0, 0, tzinfo=Timezone('UTC'))
    >>> clock.advance(days=1, hours=2).now()
    DateTime(2025, 1, 3, 3, 0, 0, tzinfo=Timezone('UTC'))
    """

    at: pendulum.DateTime = attrs.field(converter=ensure_utc)
    """The instant :meth:`now` returns (UTC). Assigning converts and checks it too."""

    def now(self) -> pendulum.DateTime:
        """The fixed instant."""
        return self.at

    def set(self, at: datetime.datetime) -> FixedClock:
        """Move to the aware instant ``at`` (any direction); returns the clock itself."""
        self.at = ensure_utc(at)
        return self

    def advance(
        self,
        *,
        years: int = 0,
        months: int = 0,
        weeks: int = 0,
        days: int = 0,
        hours: int = 0,
        minutes: int = 0,
        seconds: float = 0,
        microseconds: int = 0,
    ) -> FixedClock:
        """Move by a pendulum duration, e.g. ``advance(days=1, hours=2)``; returns the clock.

        Calendar units (years, months, days) are applied in UTC; negative values move
        the clock back.
        """
        self.at = self.at.add(
            years=years,
            months=months,
            weeks=weeks,
            days=days,
            hours=hours,
            minutes=minutes,
            seconds=seconds,
            microseconds=microseconds,
        )
        return self
