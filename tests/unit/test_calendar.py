"""Business calendars: the China calendar's known facts, conventions and invariants."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finance_crm.calendar import (
    BusinessCalendar,
    CalendarBase,
    HolidayCalendar,
    WeekendCalendar,
    add_business_days,
    business_days_between,
    business_days_in,
    china_calendar,
    next_business_day,
    previous_business_day,
)
from finance_crm.errors import OutsideCalendarRange, ValidationError

CN = china_calendar()
HOLIDAY_CN = Path(
    os.environ.get("FINANCE_CRM_HOLIDAY_CN_DIR", "/work/shared/data/china_holidays/holiday-cn")
)
needs_holiday_cn = pytest.mark.skipif(
    not (HOLIDAY_CN / "2025.json").is_file(),
    reason=f"the holiday-cn checkout is not at {HOLIDAY_CN} (set FINANCE_CRM_HOLIDAY_CN_DIR)",
)
YEARS = range(2007, 2027)

# Far enough inside 2007-2026 that stepping up to 400 business days stays in range.
inner_dates = st.dates(min_value=date(2009, 1, 1), max_value=date(2024, 12, 31))
steps = st.integers(min_value=-400, max_value=400)
any_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
weekends = st.sets(st.integers(min_value=0, max_value=6), max_size=6)


class Stepping:
    """A calendar with only ``is_business_day``: the module's slow, obvious path."""

    def __init__(self, inner: BusinessCalendar) -> None:
        self.inner = inner

    def is_business_day(self, day: date) -> bool:
        return self.inner.is_business_day(day)


def shipped_data() -> dict[str, object]:
    text = (resources.files("finance_crm") / "data" / "china_holidays.json").read_text("utf-8")
    data: dict[str, object] = json.loads(text)
    return data


# ----------------------------------------------------------------- China: known facts


def test_five_working_days_after_national_day_eve() -> None:
    assert add_business_days(CN, date(2025, 9, 30), 5) == date(2025, 10, 14)
    assert CN.add_business_days(date(2025, 9, 30), 5) == date(2025, 10, 14)


def test_make_up_saturday_is_a_working_day() -> None:
    day = date(2025, 10, 11)
    assert day.weekday() == 5
    assert CN.is_business_day(day)
    assert day in CN.make_up_workdays


def test_national_day_is_off() -> None:
    assert not any(CN.is_business_day(date(2025, 10, d)) for d in range(1, 9))
    assert CN.is_business_day(date(2025, 10, 9))


@pytest.mark.parametrize(("year", "count"), [(2024, 251), (2025, 248)])
def test_working_days_per_year(year: int, count: int) -> None:
    assert len(business_days_in(CN, year)) == count
    assert len(CN.business_days_in(year)) == count
    assert business_days_between(CN, date(year - 1, 12, 31), date(year, 12, 31)) == count


def test_known_range() -> None:
    assert CN.known_range == (date(2007, 1, 1), date(2026, 12, 31))
    assert CN.weekend == (5, 6)


@pytest.mark.parametrize("day", [date(2027, 1, 4), date(2027, 6, 1), date(2006, 12, 29)])
def test_outside_known_range_raises(day: date) -> None:
    with pytest.raises(OutsideCalendarRange, match=r"2007-01-01\.\.2026-12-31") as info:
        CN.is_business_day(day)
    assert "notice" in str(info.value)
    assert str(day.year) in str(info.value)
    with pytest.raises(OutsideCalendarRange):
        add_business_days(CN, day, 1)
    with pytest.raises(OutsideCalendarRange):
        add_business_days(CN, day, 0)
    with pytest.raises(OutsideCalendarRange):
        business_days_between(CN, date(2025, 1, 1), day)
    with pytest.raises(OutsideCalendarRange):
        business_days_in(CN, day.year)


def test_stepping_off_either_end_raises() -> None:
    with pytest.raises(OutsideCalendarRange, match="notice for 2027"):
        add_business_days(CN, date(2026, 12, 30), 5)
    with pytest.raises(OutsideCalendarRange, match="notice for 2006"):
        previous_business_day(CN, date(2007, 1, 4))
    # The last and first business days themselves are reachable.
    assert next_business_day(CN, date(2026, 12, 30)) == date(2026, 12, 31)
    assert previous_business_day(CN, date(2007, 1, 5)) == date(2007, 1, 4)


def test_shipped_data_carries_its_licence_and_source() -> None:
    data = shipped_data()
    assert "holiday-cn" in str(data["source"])
    assert "MIT" in str(data["license"])
    assert data["known_range"] == ["2007-01-01", "2026-12-31"]
    years = data["years"]
    assert isinstance(years, dict)
    assert sorted(years, key=int) == [str(y) for y in YEARS]
    licence = (resources.files("finance_crm") / "data" / "LICENSE-holiday-cn").read_text("utf-8")
    assert "MIT License" in licence
    assert "NateScarlet" in licence


def test_loading_is_lazy() -> None:
    code = (
        "import sys, finance_crm.calendar as c;"
        "assert c.china_calendar.cache_info().currsize == 0;"
        "assert 'sqlalchemy' not in sys.modules;"
        "c.china_calendar(); c.china_calendar();"
        "assert c.china_calendar.cache_info().hits == 1"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_china_calendar_is_cached() -> None:
    assert china_calendar() is CN


# ------------------------------------------------------------------------ conventions


def test_zero_steps_rolls_forward_only_from_a_day_off() -> None:
    assert add_business_days(CN, date(2025, 10, 9), 0) == date(2025, 10, 9)
    assert add_business_days(CN, date(2025, 10, 1), 0) == date(2025, 10, 9)
    assert add_business_days(WeekendCalendar(), date(2025, 1, 4), 0) == date(2025, 1, 6)


def test_next_and_previous_are_strict() -> None:
    assert next_business_day(CN, date(2025, 10, 9)) == date(2025, 10, 10)
    assert next_business_day(CN, date(2025, 9, 30)) == date(2025, 10, 9)
    assert previous_business_day(CN, date(2025, 10, 9)) == date(2025, 9, 30)
    assert CN.next_business_day(date(2025, 10, 10)) == date(2025, 10, 11)
    assert CN.previous_business_day(date(2025, 10, 13)) == date(2025, 10, 11)


def test_between_is_half_open_and_antisymmetric() -> None:
    # (2025-09-30, 2025-10-14] holds 10-09, 10-10, 10-11, 10-13, 10-14.
    assert business_days_between(CN, date(2025, 9, 30), date(2025, 10, 14)) == 5
    assert business_days_between(CN, date(2025, 10, 14), date(2025, 9, 30)) == -5
    assert CN.business_days_between(date(2025, 10, 1), date(2025, 10, 1)) == 0


def test_business_days_in_a_range_includes_both_ends() -> None:
    days = business_days_in(CN, (date(2025, 10, 9), date(2025, 10, 13)))
    assert days == [date(2025, 10, 9), date(2025, 10, 10), date(2025, 10, 11), date(2025, 10, 13)]
    assert business_days_in(CN, (date(2025, 10, 1), date(2025, 10, 8))) == []


def test_pendulum_dates_in_plain_dates_out() -> None:
    start = pendulum.date(2025, 10, 9)
    for result in (
        add_business_days(CN, start, 0),
        add_business_days(CN, start, 3),
        next_business_day(WeekendCalendar(), start),
        business_days_in(CN, (start, pendulum.date(2025, 10, 10)))[0],
    ):
        assert type(result) is date
    assert CN.is_business_day(start)
    assert business_days_between(CN, pendulum.date(2025, 9, 30), start) == 1


@pytest.mark.parametrize(
    "value", [datetime(2025, 10, 9, 12), pendulum.datetime(2025, 10, 9), "2025-10-09", None]
)
def test_non_dates_are_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="date"):
        CN.is_business_day(value)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        add_business_days(WeekendCalendar(), value, 1)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        WeekendCalendar().is_business_day(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [1.0, True, "1", None])
def test_step_count_must_be_an_int(n: object) -> None:
    with pytest.raises(ValidationError, match="n: must be an int"):
        add_business_days(CN, date(2025, 1, 2), n)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, 10000, (date(2025, 2, 1), date(2025, 1, 1)), (1, 2)])
def test_business_days_in_refuses_bad_spans(bad: object) -> None:
    with pytest.raises(ValidationError):
        business_days_in(CN, bad)  # type: ignore[arg-type]


def test_weekend_calendar_beyond_year_9999_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="9999"):
        add_business_days(WeekendCalendar(), date(9999, 12, 30), 5)
    with pytest.raises(ValidationError, match="9999"):
        add_business_days(WeekendCalendar(), date(1, 1, 2), -5)


def test_protocol_and_base() -> None:
    assert isinstance(CN, BusinessCalendar)
    assert isinstance(WeekendCalendar(), BusinessCalendar)
    assert isinstance(Stepping(CN), BusinessCalendar)
    assert not isinstance(Stepping(CN), CalendarBase)


def test_a_subclass_of_the_base_gets_the_operations() -> None:
    class EveryOtherDay(CalendarBase):
        def is_business_day(self, day: date) -> bool:
            return day.toordinal() % 2 == 0

    cal = EveryOtherDay()
    start = date(2025, 1, 1)  # ordinal 739252, even
    assert cal.add_business_days(start, 3) == start + timedelta(days=6)
    assert cal.business_days_between(start, start + timedelta(days=6)) == 3
    assert len(cal.business_days_in((start, start + timedelta(days=9)))) == 5


def test_a_calendar_without_business_days_is_reported_not_looped() -> None:
    class Closed:
        def is_business_day(self, day: date) -> bool:
            return False

    with pytest.raises(ValidationError, match="no business day"):
        next_business_day(Closed(), date(2025, 1, 1))


def test_something_without_is_business_day_is_refused() -> None:
    with pytest.raises(ValidationError, match="is_business_day"):
        next_business_day(object(), date(2025, 1, 1))  # type: ignore[arg-type]


# --------------------------------------------------------------------- WeekendCalendar


def test_weekend_calendar_defaults_and_custom_weekends() -> None:
    cal = WeekendCalendar()
    assert cal.weekend == (5, 6)
    assert next_business_day(cal, date(2025, 1, 3)) == date(2025, 1, 6)
    gulf = WeekendCalendar(weekend=(pendulum.WeekDay.FRIDAY, pendulum.WeekDay.SATURDAY))
    assert gulf.weekend == (4, 5)
    assert next_business_day(gulf, date(2025, 1, 2)) == date(2025, 1, 5)
    assert len(business_days_in(WeekendCalendar(()), 2024)) == 366


@pytest.mark.parametrize("weekend", [(7,), (-1,), (True,), ("sat",), range(7), "56", 5])
def test_weekend_calendar_refuses_bad_weekends(weekend: object) -> None:
    with pytest.raises(ValidationError, match="weekend"):
        WeekendCalendar(weekend)  # type: ignore[arg-type]


def test_weekend_calendar_equality_and_repr() -> None:
    assert WeekendCalendar() == WeekendCalendar([6, 5, 5])
    assert hash(WeekendCalendar()) == hash(WeekendCalendar((6, 5)))
    assert WeekendCalendar() != WeekendCalendar((6,))
    assert repr(WeekendCalendar()) == "WeekendCalendar(weekend=(5, 6))"


@given(weekend=weekends, day=any_dates, n=steps)
def test_weekend_calendar_never_returns_a_weekend(weekend: set[int], day: date, n: int) -> None:
    cal = WeekendCalendar(weekend)
    result = add_business_days(cal, day, n)
    assert result.weekday() not in weekend
    assert cal.is_business_day(result)


@given(weekend=weekends, day=any_dates, n=st.integers(min_value=-60, max_value=60))
def test_weekend_calendar_arithmetic_matches_stepping(weekend: set[int], day: date, n: int) -> None:
    cal = WeekendCalendar(weekend)
    slow = Stepping(cal)
    assert add_business_days(cal, day, n) == add_business_days(slow, day, n)
    other = day + timedelta(days=n * 2)
    assert business_days_between(cal, day, other) == business_days_between(slow, day, other)


# ------------------------------------------------------------------ calendar invariants


@given(day=inner_dates, n=st.integers(min_value=1, max_value=400))
def test_stepping_forward_lands_on_a_business_day(day: date, n: int) -> None:
    result = add_business_days(CN, day, n)
    assert result > day
    assert CN.is_business_day(result)


@given(day=inner_dates, n=st.integers(min_value=-400, max_value=-1))
def test_stepping_backward_lands_on_a_business_day(day: date, n: int) -> None:
    result = add_business_days(CN, day, n)
    assert result < day
    assert CN.is_business_day(result)


@given(day=inner_dates, n=st.integers(min_value=0, max_value=400))
def test_between_undoes_add(day: date, n: int) -> None:
    result = add_business_days(CN, day, n)
    if n == 0 and not CN.is_business_day(day):
        # Rolling forward from a day off moves onto the next business day.
        assert business_days_between(CN, day, result) == 1
    else:
        assert business_days_between(CN, day, result) == n


@given(day=inner_dates, n=steps)
def test_between_undoes_add_from_a_business_day(day: date, n: int) -> None:
    start = add_business_days(CN, day, 0)
    assert business_days_between(CN, start, add_business_days(CN, start, n)) == n


@given(day=inner_dates, n=st.integers(min_value=-399, max_value=399))
def test_add_is_strictly_increasing_in_n(day: date, n: int) -> None:
    here, there = add_business_days(CN, day, n), add_business_days(CN, day, n + 1)
    if n == 0 and not CN.is_business_day(day):
        assert here == there  # both are the first business day after the day off
    else:
        assert here < there


@given(a=inner_dates, b=inner_dates)
def test_between_is_antisymmetric(a: date, b: date) -> None:
    assert business_days_between(CN, a, b) == -business_days_between(CN, b, a)


@given(day=inner_dates, n=st.integers(min_value=-40, max_value=40), span=st.integers(0, 90))
def test_table_lookups_match_stepping(day: date, n: int, span: int) -> None:
    slow = Stepping(CN)
    assert add_business_days(CN, day, n) == add_business_days(slow, day, n)
    end = day + timedelta(days=span)
    assert business_days_between(CN, day, end) == business_days_between(slow, day, end)
    assert business_days_in(CN, (day, end)) == business_days_in(slow, (day, end))


def test_every_business_day_follows_the_rule() -> None:
    for day in business_days_in(CN, (date(2007, 1, 1), date(2026, 12, 31))):
        assert day in CN.make_up_workdays or (day.weekday() < 5 and day not in CN.off_days)


# --------------------------------------------------------------------- HolidayCalendar


def small_calendar() -> HolidayCalendar:
    return HolidayCalendar(
        off_days=[date(2030, 1, 1)],
        make_up_workdays=[date(2030, 1, 5)],
        known_range=(date(2030, 1, 1), date(2030, 1, 31)),
    )


def test_generic_constructor() -> None:
    cal = small_calendar()
    assert not cal.is_business_day(date(2030, 1, 1))  # a Tuesday, off
    assert cal.is_business_day(date(2030, 1, 5))  # a Saturday, worked
    assert not cal.is_business_day(date(2030, 1, 6))
    assert len(cal.business_days_in((date(2030, 1, 1), date(2030, 1, 31)))) == 23
    assert repr(cal) == (
        "<HolidayCalendar 2030-01-01..2030-01-31: 1 off days, 1 make-up workdays, weekend=(5, 6)>"
    )
    assert cal == small_calendar()
    assert hash(cal) == hash(small_calendar())
    with pytest.raises(OutsideCalendarRange, match=r"2030-01-01\.\.2030-01-31"):
        cal.is_business_day(date(2030, 2, 1))


def test_a_day_cannot_be_both_off_and_worked() -> None:
    with pytest.raises(ValidationError, match="2030-01-05"):
        HolidayCalendar(
            off_days=[date(2030, 1, 5)],
            make_up_workdays=[date(2030, 1, 5)],
            known_range=(date(2030, 1, 1), date(2030, 1, 31)),
        )


@pytest.mark.parametrize(
    "known_range",
    [
        (date(2030, 2, 1), date(2030, 1, 1)),
        (date(2030, 1, 1),),
        (datetime(2030, 1, 1), date(2030, 2, 1)),
        [date(2030, 1, 1), date(2030, 2, 1)],
    ],
)
def test_known_range_is_checked(known_range: object) -> None:
    with pytest.raises(ValidationError, match="known_range"):
        HolidayCalendar(off_days=(), make_up_workdays=(), known_range=known_range)  # type: ignore[arg-type]


def test_off_days_must_be_dates() -> None:
    with pytest.raises(ValidationError, match=r"off_days\[1\]"):
        HolidayCalendar(
            off_days=[date(2030, 1, 1), "2030-01-02"],  # type: ignore[list-item]
            make_up_workdays=(),
            known_range=(date(2030, 1, 1), date(2030, 1, 31)),
        )


def test_with_year_adds_a_newly_announced_year() -> None:
    cal = CN.with_year(
        2027,
        off_days=[date(2027, 1, 1), date(2026, 12, 31)],
        make_up_workdays=[date(2027, 1, 9)],
    )
    assert cal.known_range == (date(2007, 1, 1), date(2027, 12, 31))
    assert not cal.is_business_day(date(2027, 1, 1))
    assert cal.is_business_day(date(2027, 1, 9))
    # The new notice amends the end of the previous year.
    assert CN.is_business_day(date(2026, 12, 31))
    assert not cal.is_business_day(date(2026, 12, 31))
    assert add_business_days(cal, date(2026, 12, 30), 2) == date(2027, 1, 5)
    # The cached calendar is untouched.
    assert CN.known_range[1] == date(2026, 12, 31)


def test_extending_with_a_gap_is_refused() -> None:
    with pytest.raises(ValidationError, match="does not touch"):
        CN.with_year(2028)
    with pytest.raises(ValidationError, match="does not touch"):
        CN.with_year(2005)


def test_extended_overrides_named_days_only() -> None:
    cal = small_calendar().extended(
        known_range=(date(2030, 1, 15), date(2030, 2, 28)),
        off_days=[date(2030, 1, 5)],
        make_up_workdays=[date(2030, 1, 1)],
    )
    assert cal.known_range == (date(2030, 1, 1), date(2030, 2, 28))
    assert cal.is_business_day(date(2030, 1, 1))
    assert not cal.is_business_day(date(2030, 1, 5))
    assert cal.is_business_day(date(2030, 2, 1))
    with pytest.raises(ValidationError):
        cal.extended(
            known_range=cal.known_range,
            off_days=[date(2030, 1, 2)],
            make_up_workdays=[date(2030, 1, 2)],
        )


def test_custom_weekend_holiday_calendar() -> None:
    cal = HolidayCalendar(
        off_days=(),
        make_up_workdays=(),
        known_range=(date(2030, 1, 1), date(2030, 1, 31)),
        weekend=(4, 5),
    )
    assert cal.weekend == (4, 5)
    assert cal.is_business_day(date(2030, 1, 6))  # a Sunday
    assert not cal.is_business_day(date(2030, 1, 4))  # a Friday


# ------------------------------------------------------------------------ holiday-cn


def notice(year: int, *days: tuple[str, bool]) -> dict[str, object]:
    return {
        "year": year,
        "papers": [],
        "days": [{"name": "x", "date": d, "isOffDay": off} for d, off in days],
    }


def test_from_holiday_cn_mappings() -> None:
    cal = HolidayCalendar.from_holiday_cn(
        [
            notice(2031, ("2031-01-01", True), ("2030-12-28", False)),
            notice(2030, ("2030-10-01", True)),
            notice(2032, ("2031-12-31", True), ("2032-01-01", True)),
        ]
    )
    assert cal.known_range == (date(2030, 1, 1), date(2032, 12, 31))
    assert cal.is_business_day(date(2030, 12, 28))  # named in the 2031 notice
    assert not cal.is_business_day(date(2031, 12, 31))  # named in the 2032 notice
    assert not cal.is_business_day(date(2030, 10, 1))


def test_from_holiday_cn_single_document_and_later_year_wins() -> None:
    one = HolidayCalendar.from_holiday_cn(notice(2030, ("2030-10-01", True)))
    assert one.known_range == (date(2030, 1, 1), date(2030, 12, 31))
    cal = HolidayCalendar.from_holiday_cn(
        [notice(2030, ("2030-12-31", True)), notice(2031, ("2030-12-31", False))]
    )
    assert cal.is_business_day(date(2030, 12, 31))


def test_from_holiday_cn_skips_unannounced_years() -> None:
    cal = HolidayCalendar.from_holiday_cn([notice(2030, ("2030-10-01", True)), notice(2031)])
    assert cal.known_range[1] == date(2030, 12, 31)
    with pytest.raises(ValidationError, match="no announced year"):
        HolidayCalendar.from_holiday_cn([notice(2031)])


def test_from_holiday_cn_refuses_gaps_and_repeats() -> None:
    with pytest.raises(ValidationError, match="2031"):
        HolidayCalendar.from_holiday_cn(
            [notice(2030, ("2030-10-01", True)), notice(2032, ("2032-10-01", True))]
        )
    with pytest.raises(ValidationError, match="given twice"):
        HolidayCalendar.from_holiday_cn(
            [notice(2030, ("2030-10-01", True)), notice(2030, ("2030-10-02", True))]
        )


def test_from_holiday_cn_reports_every_problem_with_its_path() -> None:
    bad = {
        "year": "2030",
        "days": [
            {"date": "2030/10/01", "isOffDay": True},
            {"date": "2030-10-02", "isOffDay": "yes"},
            "2030-10-03",
            {"date": "2030-10-04", "isOffDay": True},
            {"date": "2030-10-04", "isOffDay": False},
            {"date": "2030-02-30", "isOffDay": True},
        ],
    }
    with pytest.raises(ValidationError) as info:
        HolidayCalendar.from_holiday_cn([notice(2029, ("2029-10-01", True)), bad, 42])  # type: ignore[list-item]
    paths = {p.path for p in info.value.problems}
    assert paths == {
        "$[1].year",
        "$[1].days[0].date",
        "$[1].days[1].isOffDay",
        "$[1].days[2]",
        "$[1].days[4]",
        "$[1].days[5].date",
        "$[2]",
    }


def test_from_holiday_cn_files(tmp_path: Path) -> None:
    good = tmp_path / "2030.json"
    good.write_text(json.dumps(notice(2030, ("2030-10-01", True))), encoding="utf-8")
    assert HolidayCalendar.from_holiday_cn(good) == HolidayCalendar.from_holiday_cn(str(good))
    broken = tmp_path / "2031.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"\$\[1\]: 2031.json is not valid JSON"):
        HolidayCalendar.from_holiday_cn([good, broken])


@needs_holiday_cn
def test_from_holiday_cn_files_agree_with_the_shipped_calendar() -> None:
    files = sorted(HOLIDAY_CN.glob("20*.json"))
    assert len(files) >= 21  # 2007-2027, with 2027 not yet announced
    loaded = HolidayCalendar.from_holiday_cn(files)
    assert loaded.known_range == CN.known_range
    assert loaded == CN
    day = date(2007, 1, 1)
    while day <= date(2026, 12, 31):
        assert loaded.is_business_day(day) is CN.is_business_day(day), day
        day += timedelta(days=1)


@needs_holiday_cn
@pytest.mark.parametrize("year", YEARS)
def test_shipped_year_matches_holiday_cn(year: int) -> None:
    upstream = json.loads((HOLIDAY_CN / f"{year}.json").read_text("utf-8"))
    years = shipped_data()["years"]
    assert isinstance(years, dict)
    shipped = years[str(year)]
    assert shipped["off"] == sorted(d["date"] for d in upstream["days"] if d["isOffDay"])
    assert shipped["work"] == sorted(d["date"] for d in upstream["days"] if not d["isOffDay"])
    assert shipped["papers"] == upstream["papers"]


@needs_holiday_cn
def test_shipped_licence_is_upstreams() -> None:
    shipped = (resources.files("finance_crm") / "data" / "LICENSE-holiday-cn").read_text("utf-8")
    assert shipped == (HOLIDAY_CN / "LICENSE").read_text("utf-8")
