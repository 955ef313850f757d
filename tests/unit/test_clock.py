"""Clocks, UTC instants and business dates."""

from __future__ import annotations

import datetime
import zoneinfo

import attrs
import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finance_crm.clock import (
    DEFAULT_TIMEZONE,
    Clock,
    FixedClock,
    SystemClock,
    business_date,
    ensure_utc,
)
from finance_crm.errors import ValidationError

NAIVE_MESSAGE = (
    "naive datetime: give a timezone-aware instant, "
    "e.g. pendulum.datetime(2025, 1, 2, tz='Asia/Shanghai')"
)

aware_datetimes = st.datetimes(
    min_value=datetime.datetime(1971, 1, 1),
    max_value=datetime.datetime(2200, 1, 1),
    timezones=st.timezones(),
)
zone_names = st.sampled_from(
    ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Tokyo", "UTC", "Europe/London",
     "America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata"]
)  # fmt: skip


def is_pendulum_utc(value: object) -> bool:
    return (
        isinstance(value, pendulum.DateTime)
        and value.utcoffset() == datetime.timedelta(0)
        and value.tzinfo is not None
        and value.tzinfo.tzname(None) == "UTC"
    )


# -- ensure_utc -------------------------------------------------------------------------


def test_ensure_utc_refuses_naive_datetimes() -> None:
    for naive in [datetime.datetime(2025, 1, 2, 9), pendulum.naive(2025, 1, 2, 9)]:
        with pytest.raises(ValidationError) as info:
            ensure_utc(naive)
        assert str(info.value) == NAIVE_MESSAGE


@given(st.datetimes())
def test_ensure_utc_refuses_every_naive_datetime(naive: datetime.datetime) -> None:
    with pytest.raises(ValidationError, match="naive datetime"):
        ensure_utc(naive)


@pytest.mark.parametrize(
    "value", [datetime.date(2025, 1, 2), pendulum.date(2025, 1, 2), "2025-01-02T00:00:00Z", 0, None]
)
def test_ensure_utc_refuses_non_datetimes(value: object) -> None:
    with pytest.raises(ValidationError, match="timezone-aware datetime"):
        ensure_utc(value)  # type: ignore[arg-type]


def test_ensure_utc_converts_stdlib_aware_datetimes() -> None:
    cst = datetime.timezone(datetime.timedelta(hours=8))
    result = ensure_utc(datetime.datetime(2025, 1, 1, 7, 30, 15, 123, tzinfo=cst))
    assert is_pendulum_utc(result)
    assert result == pendulum.datetime(2024, 12, 31, 23, 30, 15, 123, tz="UTC")
    assert (result.year, result.month, result.day, result.hour) == (2024, 12, 31, 23)
    zoned = datetime.datetime(2025, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
    assert ensure_utc(zoned).hour == 16


def test_ensure_utc_converts_pendulum_datetimes() -> None:
    shanghai = pendulum.datetime(2025, 1, 2, 9, tz="Asia/Shanghai")
    result = ensure_utc(shanghai)
    assert is_pendulum_utc(result)
    assert result == shanghai
    assert result.hour == 1
    already = pendulum.datetime(2025, 1, 2, 1, tz="UTC")
    assert ensure_utc(already) is already


def test_ensure_utc_resolves_ambiguous_wall_times_by_fold() -> None:
    new_york = zoneinfo.ZoneInfo("America/New_York")
    first = datetime.datetime(2025, 11, 2, 1, 30, tzinfo=new_york)  # EDT, fold=0
    second = first.replace(fold=1)  # EST, an hour later
    assert ensure_utc(first) == pendulum.datetime(2025, 11, 2, 5, 30, tz="UTC")
    assert ensure_utc(second) == pendulum.datetime(2025, 11, 2, 6, 30, tz="UTC")


@given(aware_datetimes)
def test_ensure_utc_keeps_the_instant(value: datetime.datetime) -> None:
    result = ensure_utc(value)
    assert is_pendulum_utc(result)
    # Not ``result == value``: Python never finds an inter-zone comparison equal when the
    # wall time is ambiguous or skipped by a DST change. The offset rule is what counts.
    assert result == value.astimezone(datetime.UTC)
    assert result.timestamp() == value.timestamp()
    assert ensure_utc(result) == result


# -- business_date ----------------------------------------------------------------------


def test_default_timezone() -> None:
    assert DEFAULT_TIMEZONE == "Asia/Shanghai"


def test_business_date_is_the_institutions_date() -> None:
    late_utc = pendulum.datetime(2025, 1, 1, 16, 30, tz="UTC")
    assert business_date(late_utc) == pendulum.Date(2025, 1, 2)
    assert type(business_date(late_utc)) is pendulum.Date
    assert business_date(pendulum.datetime(2025, 1, 1, 15, 59, 59, tz="UTC")) == pendulum.Date(
        2025, 1, 1
    )
    assert business_date(pendulum.datetime(2025, 1, 1, 16, tz="UTC")) == pendulum.Date(2025, 1, 2)
    assert business_date(late_utc, "UTC") == pendulum.Date(2025, 1, 1)
    assert business_date(late_utc, tz="America/New_York") == pendulum.Date(2025, 1, 1)


def test_business_date_from_a_clock() -> None:
    clock = FixedClock(pendulum.datetime(2025, 6, 30, 23, 30, tz="Asia/Shanghai"))
    assert business_date(clock) == pendulum.Date(2025, 6, 30)
    assert business_date(clock, "Europe/London") == pendulum.Date(2025, 6, 30)
    clock.advance(minutes=31)
    assert business_date(clock) == pendulum.Date(2025, 7, 1)


def test_business_date_refuses_naive_and_unknown_zones() -> None:
    with pytest.raises(ValidationError, match="naive datetime"):
        business_date(datetime.datetime(2025, 1, 1))
    with pytest.raises(ValidationError, match="unknown time zone"):
        business_date(SystemClock(), "Mars/Olympus_Mons")
    with pytest.raises(ValidationError, match="time zone"):
        business_date(SystemClock(), 8)  # type: ignore[arg-type]


@given(aware_datetimes, zone_names)
def test_business_date_matches_zoneinfo(value: datetime.datetime, zone: str) -> None:
    expected = value.astimezone(zoneinfo.ZoneInfo(zone)).date()
    result = business_date(value, zone)
    assert type(result) is pendulum.Date
    assert (result.year, result.month, result.day) == (expected.year, expected.month, expected.day)


# -- clocks -----------------------------------------------------------------------------


def test_system_clock_reads_utc_now() -> None:
    clock = SystemClock()
    before = datetime.datetime.now(datetime.UTC)
    now = clock.now()
    after = datetime.datetime.now(datetime.UTC)
    assert is_pendulum_utc(now)
    assert before <= now <= after
    assert isinstance(clock, Clock)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        clock.x = 1  # type: ignore[attr-defined]


def test_fixed_clock_converts_to_utc_and_stands_still() -> None:
    clock = FixedClock(pendulum.datetime(2025, 1, 2, 9, tz="Asia/Shanghai"))
    assert isinstance(clock, Clock)
    assert is_pendulum_utc(clock.now())
    assert clock.now() == pendulum.datetime(2025, 1, 2, 1, tz="UTC")
    assert clock.now() == clock.now()
    stdlib = FixedClock(datetime.datetime(2025, 1, 2, 1, tzinfo=datetime.UTC))
    assert stdlib == clock
    assert is_pendulum_utc(stdlib.at)


def test_fixed_clock_refuses_naive_everywhere() -> None:
    with pytest.raises(ValidationError) as info:
        FixedClock(datetime.datetime(2025, 1, 2))
    assert str(info.value) == NAIVE_MESSAGE
    clock = FixedClock(pendulum.datetime(2025, 1, 2, tz="UTC"))
    with pytest.raises(ValidationError, match="naive datetime"):
        clock.set(pendulum.naive(2025, 2, 1))
    with pytest.raises(ValidationError, match="naive datetime"):
        clock.at = datetime.datetime(2025, 2, 1)  # type: ignore[assignment]
    assert clock.now() == pendulum.datetime(2025, 1, 2, tz="UTC")


def test_fixed_clock_set_and_advance() -> None:
    clock = FixedClock(pendulum.datetime(2025, 1, 31, tz="UTC"))
    assert clock.advance(months=1) is clock
    assert clock.now() == pendulum.datetime(2025, 2, 28, tz="UTC")
    clock.advance(days=1, hours=2, minutes=3, seconds=4, microseconds=5)
    assert clock.now() == pendulum.datetime(2025, 3, 1, 2, 3, 4, 5, tz="UTC")
    clock.advance(weeks=-1)
    assert clock.now() == pendulum.datetime(2025, 2, 22, 2, 3, 4, 5, tz="UTC")
    clock.advance(years=1)
    assert clock.now().year == 2026
    assert clock.set(pendulum.datetime(2030, 1, 1, 8, tz="Asia/Shanghai")) is clock
    assert clock.now() == pendulum.datetime(2030, 1, 1, 0, tz="UTC")
    assert is_pendulum_utc(clock.now())
    # Assignment runs the converter too (mypy sees the converted type only).
    clock.at = datetime.datetime(2031, 1, 1, 8, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))  # type: ignore[assignment]
    assert is_pendulum_utc(clock.at)
    assert clock.now().hour == 0


def test_fixed_clock_is_shared_by_reference() -> None:
    clock = FixedClock(pendulum.datetime(2025, 1, 1, tz="UTC"))
    holder = [clock]
    clock.advance(hours=1)
    assert holder[0].now().hour == 1


@given(aware_datetimes, st.integers(min_value=-(10**6), max_value=10**6))
def test_fixed_clock_advance_by_seconds_is_exact(start: datetime.datetime, seconds: int) -> None:
    clock = FixedClock(start)
    clock.advance(seconds=seconds)
    assert clock.now() - ensure_utc(start) == datetime.timedelta(seconds=seconds)
    assert is_pendulum_utc(clock.now())
