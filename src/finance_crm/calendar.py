"""Business calendars: which days an institution works, and counting in business days.

A calendar is anything with one method, ``is_business_day(day) -> bool`` (the
:class:`BusinessCalendar` protocol), so a bank can plug in its own. The operations that
count and step are module functions taking any calendar:

* :func:`add_business_days` ``(calendar, start, n)``
* :func:`business_days_between` ``(calendar, start, end)``
* :func:`next_business_day` / :func:`previous_business_day` ``(calendar, day)``
* :func:`business_days_in` ``(calendar, year_or_range)``

The calendars shipped here share :class:`CalendarBase`, which offers the same
operations as methods (``cal.add_business_days(start, n)``) and answers them with
ordinal arithmetic instead of stepping day by day:

* :class:`WeekendCalendar`: only weekends are off; valid for every date.
* :class:`HolidayCalendar`: weekends, public holidays and make-up working days
  (调休, weekend days that are worked in exchange for a longer holiday), valid only
  inside an explicit ``known_range``; any date outside it raises
  :class:`~finance_crm.errors.OutsideCalendarRange`, because holidays are announced
  a year at a time and finance_crm never guesses them.
* :func:`china_calendar`: the mainland China calendar for 2007-2026 from the State
  Council notices, as collected by NateScarlet/holiday-cn (MIT) and shipped in
  ``finance_crm/data``.

Conventions
-----------
* Arguments are any :class:`datetime.date`, including ``pendulum.Date`` (a subclass).
  A :class:`datetime.datetime` (and so ``pendulum.DateTime``) is refused with
  :class:`~finance_crm.errors.ValidationError`: an instant has no date until it is put
  in the institution's time zone, so convert it and take ``.date()`` first.
* Results are always plain :class:`datetime.date` objects; wrap them with
  ``pendulum.Date(d.year, d.month, d.day)`` if needed. Stepping plain dates is an
  order of magnitude faster than stepping pendulum objects.
* ``add_business_days(cal, d, n)`` with ``n > 0`` is the ``n``-th business day strictly
  after ``d``; with ``n < 0`` the ``|n|``-th business day strictly before ``d``; with
  ``n == 0`` it is ``d`` itself when ``d`` is a business day, otherwise the next business
  day (the "following" roll convention).
* ``business_days_between(cal, start, end)`` counts the business days in the half-open
  interval ``(start, end]``; when ``end < start`` it is minus the count in
  ``(end, start]``. So ``business_days_between(cal, d, add_business_days(cal, d, n)) == n``
  for every ``n > 0``, and for ``n <= 0`` when ``d`` is a business day.
* :func:`business_days_in` includes both ends of a range.

A caveat on year ends: a year's notice may move days at the end of the previous year
(the 2008 notice made 2007-12-29 a working Saturday and 2007-12-30/31 days off), so the
last days of a calendar's last known year can still change when the next notice is
published. Extend the calendar as soon as the notice is out.
"""

from __future__ import annotations

import abc
import functools
import json
import os
import re
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from importlib import resources
from itertools import accumulate, compress
from typing import Any, Final, Protocol, TypeAlias, runtime_checkable

from finance_crm.errors import OutsideCalendarRange, Problem, ValidationError

__all__ = [
    "BusinessCalendar",
    "CalendarBase",
    "HolidayCalendar",
    "WeekendCalendar",
    "add_business_days",
    "business_days_between",
    "business_days_in",
    "china_calendar",
    "next_business_day",
    "previous_business_day",
]

_SATURDAY_SUNDAY: Final = (5, 6)
_MAX_ORDINAL: Final = date.max.toordinal()
#: A calendar with no business day in this many consecutive days is taken to be broken.
_MAX_GAP_DAYS: Final = 3660
_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")

_HolidayCnSource: TypeAlias = "str | os.PathLike[str] | Mapping[str, Any]"


@runtime_checkable
class BusinessCalendar(Protocol):
    """Anything that can tell a business day from a day off.

    Implement this one method to plug an institution's own calendar into
    :func:`add_business_days` and the other functions of this module. Raise
    :class:`~finance_crm.errors.OutsideCalendarRange` for a date the calendar has no
    data for.
    """

    def is_business_day(self, day: date) -> bool:
        """Whether ``day`` is a working day for the institution."""
        ...


# --------------------------------------------------------------------------- helpers


def _require_date(value: object, name: str) -> date:
    if isinstance(value, datetime):
        raise ValidationError(
            "must be a date, not a datetime: put the instant in the institution's time "
            "zone and pass its .date()",
            path=name,
        )
    if not isinstance(value, date):
        raise ValidationError("must be a datetime.date (or pendulum.Date)", path=name)
    return value


def _require_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("must be an int", path=name)
    return int(value)


def _plain(day: date) -> date:
    return day if type(day) is date else date(day.year, day.month, day.day)


def _require_range(value: object, name: str) -> tuple[date, date]:
    if not isinstance(value, tuple) or len(value) != 2:
        raise ValidationError("must be a (first, last) tuple of two dates", path=name)
    first = _plain(_require_date(value[0], f"{name}[0]"))
    last = _plain(_require_date(value[1], f"{name}[1]"))
    if last < first:
        raise ValidationError("the last date must not be before the first", path=name)
    return first, last


def _require_year(value: object, name: str) -> int:
    year = _require_int(value, name)
    if not date.min.year <= year <= date.max.year:
        raise ValidationError("must be a year from 1 to 9999", path=name)
    return year


def _weekend_days(weekend: Iterable[int]) -> tuple[int, ...]:
    if isinstance(weekend, str | bytes) or not isinstance(weekend, Iterable):
        raise ValidationError(
            "must be an iterable of weekday numbers, 0 (Monday) to 6 (Sunday)", path="weekend"
        )
    days: set[int] = set()
    problems: list[Problem] = []
    for i, day in enumerate(weekend):
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            problems.append(
                Problem(
                    f"weekend[{i}]",
                    "must be a weekday number from 0 (Monday) to 6 (Sunday), as "
                    "date.weekday() counts",
                )
            )
        else:
            days.add(int(day))
    if len(days) == 7:
        problems.append(
            Problem("weekend", "cannot hold all seven weekdays: a week needs a business day")
        )
    if problems:
        raise ValidationError(problems)
    return tuple(sorted(days))


def _dates(values: Iterable[date], name: str) -> frozenset[date]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValidationError("must be an iterable of dates", path=name)
    out: set[date] = set()
    problems: list[Problem] = []
    for i, value in enumerate(values):
        if isinstance(value, datetime) or not isinstance(value, date):
            problems.append(Problem(f"{name}[{i}]", "must be a datetime.date, not a datetime"))
        else:
            out.add(_plain(value))
    if problems:
        raise ValidationError(problems)
    return frozenset(out)


def _overflow(name: str) -> ValidationError:
    return ValidationError(
        "the result falls outside the years 1 to 9999 that datetime.date can hold", path=name
    )


def _weekday_of_ordinal(ordinal: int) -> int:
    # date(1, 1, 1).toordinal() == 1 and it was a Monday (weekday 0).
    return (ordinal - 1) % 7


# ------------------------------------------------------------------------ base class


class CalendarBase(abc.ABC):
    """The base the calendars of this module share; subclass it for your own.

    A subclass implements :meth:`is_business_day` and gets the counting and stepping
    operations as methods, each the same as the module function of that name.
    """

    __slots__ = ()

    @abc.abstractmethod
    def is_business_day(self, day: date) -> bool:
        """Whether ``day`` is a working day for the institution."""

    def add_business_days(self, start: date, n: int) -> date:
        """Step ``n`` business days from ``start``; see :func:`add_business_days`."""
        return add_business_days(self, start, n)

    def business_days_between(self, start: date, end: date) -> int:
        """Count business days in ``(start, end]``; see :func:`business_days_between`."""
        return business_days_between(self, start, end)

    def next_business_day(self, day: date) -> date:
        """The first business day strictly after ``day``; see :func:`next_business_day`."""
        return next_business_day(self, day)

    def previous_business_day(self, day: date) -> date:
        """The last business day strictly before ``day``; see :func:`previous_business_day`."""
        return previous_business_day(self, day)

    def business_days_in(self, year_or_range: int | tuple[date, date]) -> list[date]:
        """The business days of a year or an inclusive range; see :func:`business_days_in`."""
        return business_days_in(self, year_or_range)

    # Ordinal-level hooks. The defaults step day by day through is_business_day;
    # the concrete calendars below replace them with arithmetic.

    def _check(self, ordinal: int) -> None:
        """Raise if the calendar has no data for this ordinal (default: every date is fine)."""
        return

    def _is_business_ordinal(self, ordinal: int) -> bool:
        return self.is_business_day(date.fromordinal(ordinal))

    def _add(self, start: int, n: int) -> int:
        """The ordinal ``n`` (non-zero) business days from ordinal ``start``."""
        self._check(start)
        step = 1 if n > 0 else -1
        remaining = abs(n)
        ordinal = start
        gap = 0
        is_business = self._is_business_ordinal
        while remaining:
            ordinal += step
            if not 1 <= ordinal <= _MAX_ORDINAL:
                raise _overflow("n")
            if is_business(ordinal):
                remaining -= 1
                gap = 0
            else:
                gap += 1
                if gap > _MAX_GAP_DAYS:
                    raise ValidationError(
                        f"the calendar has no business day within {_MAX_GAP_DAYS} days of "
                        f"{date.fromordinal(ordinal - gap * step).isoformat()}; check its "
                        "configuration",
                        path="calendar",
                    )
        return ordinal

    def _count(self, start: int, end: int) -> int:
        """Business days among the ordinals ``(start, end]``, ``start <= end``."""
        self._check(start)
        self._check(end)
        is_business = self._is_business_ordinal
        return sum(1 for ordinal in range(start + 1, end + 1) if is_business(ordinal))

    def _business_ordinals(self, first: int, last: int) -> Iterable[int]:
        """The business ordinals in ``[first, last]``."""
        self._check(first)
        self._check(last)
        is_business = self._is_business_ordinal
        return [ordinal for ordinal in range(first, last + 1) if is_business(ordinal)]


class _Foreign(CalendarBase):
    """Lends the stepping defaults to a calendar that only has ``is_business_day``."""

    __slots__ = ("_calendar",)

    def __init__(self, calendar: BusinessCalendar) -> None:
        self._calendar = calendar

    def is_business_day(self, day: date) -> bool:
        return self._calendar.is_business_day(day)


def _base(calendar: BusinessCalendar) -> CalendarBase:
    if isinstance(calendar, CalendarBase):
        return calendar
    if not callable(getattr(calendar, "is_business_day", None)):
        raise ValidationError("must have an is_business_day(day) method", path="calendar")
    return _Foreign(calendar)


# ------------------------------------------------------------------ module functions


def add_business_days(calendar: BusinessCalendar, start: date, n: int) -> date:
    """The date ``n`` business days away from ``start`` on ``calendar``.

    * ``n > 0``: the ``n``-th business day strictly after ``start``
      (``n == 1`` is :func:`next_business_day`).
    * ``n < 0``: the ``|n|``-th business day strictly before ``start``
      (``n == -1`` is :func:`previous_business_day`).
    * ``n == 0``: ``start`` if it is a business day, otherwise the next business day
      (the "following" convention for rolling a date that falls on a day off).

    :param calendar: any :class:`BusinessCalendar`.
    :param start: a :class:`datetime.date` (``pendulum.Date`` is fine; a datetime is not).
    :param n: how many business days to step; may be zero or negative.
    :returns: a plain :class:`datetime.date`.
    :raises OutsideCalendarRange: when ``start`` or any day stepped over is outside the
        calendar's known range.
    :raises ValidationError: for a bad argument, or a result beyond year 9999.
    """
    start = _require_date(start, "start")
    n = _require_int(n, "n")
    cal = _base(calendar)
    ordinal = start.toordinal()
    if n == 0:
        if cal._is_business_ordinal(ordinal):
            return _plain(start)
        n = 1
    return date.fromordinal(cal._add(ordinal, n))


def business_days_between(calendar: BusinessCalendar, start: date, end: date) -> int:
    """How many business days lie in the half-open interval ``(start, end]``.

    ``start`` itself is not counted and ``end`` is, so the answer is the number of
    business days one has to step from ``start`` to reach ``end`` when ``end`` is a
    business day. When ``end < start`` the result is negative:
    ``business_days_between(cal, a, b) == -business_days_between(cal, b, a)``.

    :raises OutsideCalendarRange: when ``start`` or ``end`` is outside the calendar's
        known range.
    :raises ValidationError: for an argument that is not a date.
    """
    first = _require_date(start, "start").toordinal()
    last = _require_date(end, "end").toordinal()
    cal = _base(calendar)
    if first <= last:
        return cal._count(first, last)
    return -cal._count(last, first)


def next_business_day(calendar: BusinessCalendar, day: date) -> date:
    """The first business day strictly after ``day`` (a plain :class:`datetime.date`).

    :raises OutsideCalendarRange: when ``day`` or the answer is outside the calendar's
        known range.
    """
    return add_business_days(calendar, _require_date(day, "day"), 1)


def previous_business_day(calendar: BusinessCalendar, day: date) -> date:
    """The last business day strictly before ``day`` (a plain :class:`datetime.date`).

    :raises OutsideCalendarRange: when ``day`` or the answer is outside the calendar's
        known range.
    """
    return add_business_days(calendar, _require_date(day, "day"), -1)


def business_days_in(
    calendar: BusinessCalendar, year_or_range: int | tuple[date, date]
) -> list[date]:
    """The business days of a calendar year, or of a range including both its ends.

    :param year_or_range: a year such as ``2025``, or a ``(first, last)`` tuple of dates
        (``first <= last``; both are included).
    :returns: plain :class:`datetime.date` objects in ascending order;
        ``len(business_days_in(china_calendar(), 2025)) == 248``.
    :raises OutsideCalendarRange: when part of the year or range is outside the
        calendar's known range.
    :raises ValidationError: for a year outside 1-9999 or a reversed range.
    """
    if isinstance(year_or_range, tuple):
        first, last = _require_range(year_or_range, "year_or_range")
    else:
        year = _require_year(year_or_range, "year_or_range")
        first, last = date(year, 1, 1), date(year, 12, 31)
    ordinals = _base(calendar)._business_ordinals(first.toordinal(), last.toordinal())
    return [date.fromordinal(ordinal) for ordinal in ordinals]


# --------------------------------------------------------------------------- weekends


class WeekendCalendar(CalendarBase):
    """A calendar whose only days off are the weekend; it covers every date.

    :param weekend: the weekday numbers that are off, as :meth:`datetime.date.weekday`
        counts them (0 is Monday, 6 is Sunday; ``pendulum.WeekDay`` members work too).
        Saturday and Sunday by default; ``(4, 5)`` for a Friday-Saturday weekend, ``()``
        for a seven-day operation. All seven days cannot be off.
    :raises ValidationError: for a bad ``weekend``.

    Every operation is constant-time arithmetic on day ordinals, however far it steps.
    """

    __slots__ = ("_nth", "_open", "_per_week", "_prefix", "_weekend")

    def __init__(self, weekend: Iterable[int] = _SATURDAY_SUNDAY) -> None:
        self._weekend = _weekend_days(weekend)
        # Indexed by ordinal % 7: residue r falls on weekday (r - 1) % 7.
        self._open = tuple(_weekday_of_ordinal(r) not in self._weekend for r in range(7))
        self._prefix = tuple(accumulate(self._open, initial=0))
        self._per_week = self._prefix[7]
        self._nth = tuple(r for r in range(7) if self._open[r])

    @property
    def weekend(self) -> tuple[int, ...]:
        """The weekday numbers that are off (0 is Monday), ascending."""
        return self._weekend

    def is_business_day(self, day: date) -> bool:
        """Whether ``day`` falls outside the weekend."""
        if type(day) is not date:
            _require_date(day, "day")
        return self._open[day.toordinal() % 7]

    def __repr__(self) -> str:
        return f"WeekendCalendar(weekend={self._weekend!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not WeekendCalendar:
            return NotImplemented
        return self._weekend == other._weekend

    def __hash__(self) -> int:
        return hash((WeekendCalendar, self._weekend))

    def _is_business_ordinal(self, ordinal: int) -> bool:
        return self._open[ordinal % 7]

    def _upto(self, ordinal: int) -> int:
        """Business ordinals in ``[0, ordinal]``, for ``ordinal >= -1``."""
        weeks, rest = divmod(ordinal + 1, 7)
        return weeks * self._per_week + self._prefix[rest]

    def _nth_ordinal(self, count: int) -> int:
        """The smallest ordinal ``x >= 0`` with ``_upto(x) >= count``, ``count >= 1``."""
        weeks, rest = divmod(count - 1, self._per_week)
        return weeks * 7 + self._nth[rest]

    def _add(self, start: int, n: int) -> int:
        if n > 0:
            target = self._upto(start) + n
        else:
            target = self._upto(start - 1) + n + 1
            if target < 1:
                raise _overflow("n")
        ordinal = self._nth_ordinal(target)
        if not 1 <= ordinal <= _MAX_ORDINAL:
            raise _overflow("n")
        return ordinal

    def _count(self, start: int, end: int) -> int:
        return self._upto(end) - self._upto(start)

    def _business_ordinals(self, first: int, last: int) -> Iterable[int]:
        is_open = self._open
        return [ordinal for ordinal in range(first, last + 1) if is_open[ordinal % 7]]


# --------------------------------------------------------------------------- holidays


class HolidayCalendar(CalendarBase):
    """Weekends, public holidays and make-up working days over an announced range.

    This is the generic constructor, for an institution that loads its own holiday
    notices; :meth:`from_holiday_cn` reads the NateScarlet/holiday-cn files and
    :func:`china_calendar` is the mainland China calendar shipped with finance_crm.

    A day is a business day when it is a make-up working day, or when it is neither
    a weekend day nor an off day. Days outside ``known_range`` may be listed (a notice
    often names the last days of the previous year); they take effect once the range
    is extended over them.

    :param off_days: public holidays and other days off (a holiday that falls on a
        weekend may be listed too).
    :param make_up_workdays: days worked although they are weekend days (调休).
    :param known_range: ``(first, last)``, both included: the dates this calendar has
        data for. Asking about any other date raises
        :class:`~finance_crm.errors.OutsideCalendarRange`.
    :param weekend: weekday numbers that are off as :meth:`datetime.date.weekday` counts
        them; Saturday and Sunday by default.
    :raises ValidationError: when a day is both an off day and a make-up workday, a
        value is not a date, or the range is reversed.

    Lookups are constant time: the calendar keeps one byte per day of its range and a
    running count of business days (about five bytes per day in all).
    """

    __slots__ = ("_first", "_flags", "_last", "_off", "_prefix", "_weekend", "_work")

    def __init__(
        self,
        *,
        off_days: Iterable[date],
        make_up_workdays: Iterable[date],
        known_range: tuple[date, date],
        weekend: Iterable[int] = _SATURDAY_SUNDAY,
    ) -> None:
        self._weekend = _weekend_days(weekend)
        off = _dates(off_days, "off_days")
        work = _dates(make_up_workdays, "make_up_workdays")
        first, last = _require_range(known_range, "known_range")
        clash = sorted(off & work)
        if clash:
            shown = ", ".join(day.isoformat() for day in clash[:3])
            more = f" and {len(clash) - 3} more" if len(clash) > 3 else ""
            raise ValidationError(
                f"{shown}{more} listed both as off days and as make-up workdays; "
                "keep each date in one of them",
                path="make_up_workdays",
            )
        self._off = off
        self._work = work
        self._first = first.toordinal()
        self._last = last.toordinal()
        weekend_set = set(self._weekend)
        flags = bytearray(
            _weekday_of_ordinal(ordinal) not in weekend_set
            for ordinal in range(self._first, self._last + 1)
        )
        for days, value in ((off, 0), (work, 1)):
            for day in days:
                index = day.toordinal() - self._first
                if 0 <= index < len(flags):
                    flags[index] = value
        self._flags = bytes(flags)
        # _prefix[i] is the number of business days among the first i days of the range.
        self._prefix = array("i", accumulate(self._flags, initial=0))

    # ----------------------------------------------------------------- constructors

    @classmethod
    def from_holiday_cn(
        cls,
        sources: _HolidayCnSource | Iterable[_HolidayCnSource],
        *,
        weekend: Iterable[int] = _SATURDAY_SUNDAY,
    ) -> HolidayCalendar:
        """Read one or more NateScarlet/holiday-cn year files.

        Each source is a path to a ``YYYY.json`` file or the parsed document itself,
        ``{"year": 2025, "papers": [...], "days": [{"name": "春节", "date":
        "2025-01-28", "isOffDay": true}, ...]}``; ``isOffDay: false`` marks a make-up
        workday. The known range runs from 1 January of the first year to 31 December
        of the last; the years must be consecutive. A year whose ``days`` list is empty
        has not been announced yet and is left out. When two notices name the same
        date, the later year's notice wins.

        To load a mapping of years to documents, pass its ``.values()``.

        :raises ValidationError: for a malformed document (every problem found is
            listed, with its path such as ``$[3].days[7].date``), a year given twice, a
            gap between years, or no announced year at all.
        :raises OSError: when a file cannot be read.
        """
        if isinstance(sources, str | os.PathLike | Mapping):
            sources = [sources]
        problems: list[Problem] = []
        notices: dict[int, tuple[frozenset[date], frozenset[date]]] = {}
        for i, source in enumerate(sources):
            where = f"$[{i}]"
            document: object
            if isinstance(source, Mapping):
                document = source
            elif isinstance(source, str | os.PathLike):
                try:
                    with open(source, encoding="utf-8") as handle:
                        document = json.load(handle)
                except json.JSONDecodeError as exc:
                    name = os.path.basename(os.fspath(source))
                    problems.append(Problem(where, f"{name} is not valid JSON (line {exc.lineno})"))
                    continue
            else:
                problems.append(Problem(where, "must be a file path or a parsed document"))
                continue
            parsed = _parse_holiday_cn(document, where, problems)
            if parsed is None:
                continue
            year, off, work = parsed
            if year in notices:
                problems.append(Problem(f"{where}.year", f"year {year} is given twice"))
            elif off or work:
                notices[year] = (off, work)
        if problems:
            raise ValidationError(problems)
        if not notices:
            raise ValidationError(
                "no announced year among the sources (a year with an empty days list "
                "has not been announced)",
                path="sources",
            )
        years = sorted(notices)
        missing = sorted(set(range(years[0], years[-1] + 1)) - set(years))
        if missing:
            raise ValidationError(
                f"the years {years[0]}-{years[-1]} have no announced data for "
                f"{', '.join(map(str, missing))}; a calendar's known range must be "
                "unbroken, so load those years too",
                path="sources",
            )
        all_off, all_work = _merge_notices(notices[year] for year in years)
        return cls(
            off_days=all_off,
            make_up_workdays=all_work,
            known_range=(date(years[0], 1, 1), date(years[-1], 12, 31)),
            weekend=weekend,
        )

    def extended(
        self,
        *,
        known_range: tuple[date, date],
        off_days: Iterable[date] = (),
        make_up_workdays: Iterable[date] = (),
    ) -> HolidayCalendar:
        """A new calendar that also knows ``known_range``, with these days added.

        The new range must overlap or touch the current one, so the result's range is
        still unbroken. A date named here overrides what the calendar said about it (a
        later notice amends an earlier one, and a year's notice may name the last days
        of the previous year); dates not named keep their current status. The weekend
        stays as it is. To add a year read from a holiday-cn file::

            new = HolidayCalendar.from_holiday_cn("2027.json")
            cal = cal.extended(
                known_range=new.known_range,
                off_days=new.off_days,
                make_up_workdays=new.make_up_workdays,
            )

        :raises ValidationError: for a gap between the ranges, a date both off and
            worked, or a value that is not a date.
        """
        first, last = _require_range(known_range, "known_range")
        off = _dates(off_days, "off_days")
        work = _dates(make_up_workdays, "make_up_workdays")
        if first.toordinal() > self._last + 1 or last.toordinal() + 1 < self._first:
            current = self.known_range
            raise ValidationError(
                f"{first.isoformat()}..{last.isoformat()} does not touch the known range "
                f"{current[0].isoformat()}..{current[1].isoformat()}; load the years "
                "between them too",
                path="known_range",
            )
        if off & work:
            # Let the constructor word the error.
            HolidayCalendar(off_days=off, make_up_workdays=work, known_range=(first, last))
        merged_off, merged_work = _merge_notices([(self._off, self._work), (off, work)])
        return HolidayCalendar(
            off_days=merged_off,
            make_up_workdays=merged_work,
            known_range=(
                min(first, date.fromordinal(self._first)),
                max(last, date.fromordinal(self._last)),
            ),
            weekend=self._weekend,
        )

    def with_year(
        self,
        year: int,
        *,
        off_days: Iterable[date] = (),
        make_up_workdays: Iterable[date] = (),
    ) -> HolidayCalendar:
        """A new calendar that also knows the whole of ``year``, from its notice.

        Shorthand for :meth:`extended` with ``known_range`` 1 January to 31 December of
        ``year``, which must be next to (or inside) the current range: for a calendar
        covering 2007-2026 that is 2006 or 2027.
        """
        year = _require_year(year, "year")
        return self.extended(
            known_range=(date(year, 1, 1), date(year, 12, 31)),
            off_days=off_days,
            make_up_workdays=make_up_workdays,
        )

    # ------------------------------------------------------------------- properties

    @property
    def known_range(self) -> tuple[date, date]:
        """``(first, last)``, both included: the dates this calendar can answer for."""
        return date.fromordinal(self._first), date.fromordinal(self._last)

    @property
    def off_days(self) -> frozenset[date]:
        """The listed days off, including any outside the known range."""
        return self._off

    @property
    def make_up_workdays(self) -> frozenset[date]:
        """The listed make-up working days, including any outside the known range."""
        return self._work

    @property
    def weekend(self) -> tuple[int, ...]:
        """The weekday numbers that are off unless listed as make-up workdays."""
        return self._weekend

    def is_business_day(self, day: date) -> bool:
        """Whether ``day`` is a working day.

        :raises OutsideCalendarRange: when ``day`` is outside :attr:`known_range`.
        """
        if type(day) is not date:
            _require_date(day, "day")
        index = day.toordinal() - self._first
        if 0 <= index < len(self._flags):
            return self._flags[index] == 1
        raise self._outside(day.toordinal())

    def __repr__(self) -> str:
        first, last = self.known_range
        return (
            f"<HolidayCalendar {first.isoformat()}..{last.isoformat()}: "
            f"{len(self._off)} off days, {len(self._work)} make-up workdays, "
            f"weekend={self._weekend!r}>"
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not HolidayCalendar:
            return NotImplemented
        return (
            self._first == other._first
            and self._last == other._last
            and self._weekend == other._weekend
            and self._off == other._off
            and self._work == other._work
        )

    def __hash__(self) -> int:
        return hash((HolidayCalendar, self._first, self._last, self._weekend, self._flags))

    # ------------------------------------------------------------------------ hooks

    def _range_text(self) -> str:
        first, last = self.known_range
        return f"{first.isoformat()}..{last.isoformat()}"

    def _outside(self, ordinal: int) -> OutsideCalendarRange:
        if 1 <= ordinal <= _MAX_ORDINAL:
            day = date.fromordinal(ordinal)
            return OutsideCalendarRange(
                f"{day.isoformat()} is outside the dates this calendar knows "
                f"({self._range_text()}); load the institution's holiday notice for "
                f"{day.year} (HolidayCalendar.with_year or .extended) or use a calendar "
                "that covers it"
            )
        return OutsideCalendarRange(
            f"a date beyond the years 1-9999 was asked about; "
            f"this calendar knows {self._range_text()}"
        )

    def _ran_off(self, start: int, n: int, beyond: int) -> OutsideCalendarRange:
        if not 1 <= beyond <= _MAX_ORDINAL:
            return self._outside(beyond)
        side = "after the last" if n > 0 else "before the first"
        return OutsideCalendarRange(
            f"stepping {n} business days from {date.fromordinal(start).isoformat()} goes "
            f"{side} date this calendar knows ({self._range_text()}); load the "
            f"institution's holiday notice for {date.fromordinal(beyond).year} "
            "(HolidayCalendar.with_year or .extended)"
        )

    def _check(self, ordinal: int) -> None:
        if not self._first <= ordinal <= self._last:
            raise self._outside(ordinal)

    def _is_business_ordinal(self, ordinal: int) -> bool:
        index = ordinal - self._first
        if 0 <= index < len(self._flags):
            return self._flags[index] == 1
        raise self._outside(ordinal)

    def _add(self, start: int, n: int) -> int:
        self._check(start)
        prefix = self._prefix
        index = start - self._first
        if n > 0:
            target = prefix[index + 1] + n
            if target > prefix[-1]:
                raise self._ran_off(start, n, self._last + 1)
        else:
            target = prefix[index] + n + 1
            if target < 1:
                raise self._ran_off(start, n, self._first - 1)
        return self._first + bisect_left(prefix, target) - 1

    def _count(self, start: int, end: int) -> int:
        self._check(start)
        self._check(end)
        return self._prefix[end - self._first + 1] - self._prefix[start - self._first + 1]

    def _business_ordinals(self, first: int, last: int) -> Iterable[int]:
        self._check(first)
        self._check(last)
        lo, hi = first - self._first, last - self._first + 1
        return compress(range(first, last + 1), self._flags[lo:hi])


def _merge_notices(
    notices: Iterable[tuple[frozenset[date], frozenset[date]]],
) -> tuple[set[date], set[date]]:
    """Fold ``(off, work)`` pairs in order; a later pair overrides an earlier one."""
    off: set[date] = set()
    work: set[date] = set()
    for new_off, new_work in notices:
        off -= new_work
        work -= new_off
        off |= new_off
        work |= new_work
    return off, work


def _parse_holiday_cn(
    document: object, where: str, problems: list[Problem]
) -> tuple[int, frozenset[date], frozenset[date]] | None:
    """Check one holiday-cn document; append problems and return None when malformed."""
    if not isinstance(document, Mapping):
        problems.append(Problem(where, "must be a holiday-cn document (a JSON object)"))
        return None
    found = len(problems)
    year = document.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= 9999:
        problems.append(Problem(f"{where}.year", "must be a year from 1 to 9999"))
    days = document.get("days")
    if not isinstance(days, list):
        problems.append(Problem(f"{where}.days", "must be a list"))
        return None
    status: dict[date, bool] = {}
    for j, entry in enumerate(days):
        at = f"{where}.days[{j}]"
        if not isinstance(entry, Mapping):
            problems.append(Problem(at, "must be an object with date and isOffDay"))
            continue
        text = entry.get("date")
        is_off = entry.get("isOffDay")
        day: date | None = None
        if isinstance(text, str) and _ISO_DATE.fullmatch(text):
            try:
                day = date.fromisoformat(text)
            except ValueError:
                day = None
        if day is None:
            problems.append(Problem(f"{at}.date", "must be a date written YYYY-MM-DD"))
        if not isinstance(is_off, bool):
            problems.append(Problem(f"{at}.isOffDay", "must be true or false"))
            continue
        if day is None:
            continue
        if status.setdefault(day, is_off) is not is_off:
            problems.append(
                Problem(at, f"{day.isoformat()} is listed both as off and as a workday")
            )
    if len(problems) > found or not isinstance(year, int):
        return None
    off = frozenset(day for day, is_off in status.items() if is_off)
    work = frozenset(day for day, is_off in status.items() if not is_off)
    return year, off, work


def _shipped_data() -> tuple[set[date], set[date], tuple[date, date]]:
    text = (resources.files("finance_crm") / "data" / "china_holidays.json").read_text("utf-8")
    data = json.loads(text)
    notices = [
        (
            frozenset(map(date.fromisoformat, data["years"][year]["off"])),
            frozenset(map(date.fromisoformat, data["years"][year]["work"])),
        )
        for year in sorted(data["years"], key=int)
    ]
    off, work = _merge_notices(notices)
    first, last = map(date.fromisoformat, data["known_range"])
    return off, work, (first, last)


@functools.cache
def china_calendar() -> HolidayCalendar:
    """The mainland China business calendar, 2007-01-01 to 2026-12-31.

    Saturday and Sunday off, plus the public holidays and make-up working days (调休)
    of the State Council's yearly notices, as collected by NateScarlet/holiday-cn (MIT
    licence; the text is shipped as ``finance_crm/data/LICENSE-holiday-cn``). 2027 has
    not been announced; add it with :meth:`HolidayCalendar.with_year` or
    :meth:`HolidayCalendar.extended` once the notice is out. The data is read on the
    first call, not at import, and the calendar (immutable) is shared afterwards.

    A bank whose own calendar differs (extra closing days, exchange calendars) builds
    a :class:`HolidayCalendar` from its own notice data instead.
    """
    off, work, known_range = _shipped_data()
    return HolidayCalendar(off_days=off, make_up_workdays=work, known_range=known_range)
