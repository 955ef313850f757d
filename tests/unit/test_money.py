"""Money: exact amounts, currency tables, rounding modes, allocation."""

from __future__ import annotations

import decimal
import pickle
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from finance_crm.errors import BusinessRuleViolation, CurrencyMismatch, ValidationError
from finance_crm.money import (
    DEFAULT_ROUNDING,
    ISO_4217,
    MAX_DIGITS,
    Currency,
    Money,
    MoneyRounding,
    RoundingMode,
    currency,
)

CNY = currency("CNY")
USD = currency("USD")
JPY = currency("JPY")
KWD = currency("KWD")
CLF = currency("CLF")

FLOAT_MESSAGE = "money amounts must be Decimal or int, never float; write Decimal('0.10')"
UNKNOWN_MESSAGE = "unknown currency code; use an ISO 4217 alphabetic code such as CNY"

currencies = st.sampled_from(sorted(ISO_4217.values(), key=lambda c: c.code))
# Minor-unit counts well inside MAX_DIGITS so that sums of a few stay representable.
units = st.integers(min_value=-(10**20), max_value=10**20)


@st.composite
def monies(draw: st.DrawFn, cur: st.SearchStrategy[Currency] = currencies) -> Money:
    return Money.from_minor_units(draw(units), draw(cur))


ratio_values = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
)
ratio_lists = st.lists(ratio_values, min_size=1, max_size=12).filter(lambda rs: any(rs))


def half_up_units(x: Fraction) -> int:
    """Round a Fraction half away from zero to an int (an oracle independent of decimal)."""
    magnitude = abs(x)
    n = (magnitude + Fraction(1, 2)).__floor__()
    return n if x >= 0 else -n


# -- currencies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "minor"),
    [
        ("CNY", 2), ("HKD", 2), ("USD", 2), ("EUR", 2), ("GBP", 2), ("JPY", 0), ("KRW", 0),
        ("TWD", 2), ("SGD", 2), ("AUD", 2), ("CAD", 2), ("CHF", 2), ("MOP", 2), ("KWD", 3),
        ("BHD", 3), ("JOD", 3), ("OMR", 3), ("TND", 3), ("IQD", 3), ("LYD", 3), ("CLF", 4),
        ("VND", 0), ("ISK", 0), ("INR", 2), ("RUB", 2), ("THB", 2), ("MYR", 2), ("NZD", 2),
        ("SEK", 2), ("NOK", 2), ("DKK", 2), ("UYW", 4), ("XAF", 0),
    ],
)  # fmt: skip
def test_currency_table_has_iso_minor_units(code: str, minor: int) -> None:
    cur = currency(code)
    assert cur.code == code
    assert cur.minor_units == minor
    assert ISO_4217[code] is cur


def test_currency_table_is_consistent() -> None:
    assert len(ISO_4217) > 150
    numerics = [c.numeric for c in ISO_4217.values()]
    assert len(set(numerics)) == len(numerics)
    for code, cur in ISO_4217.items():
        assert cur.code == code
        assert len(code) == 3
        assert code.isascii()
        assert code.isupper()
        assert cur.minor_units in {0, 2, 3, 4}
    assert currency("CNY").numeric == 156
    assert currency("DZD").numeric == 12


def test_currency_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        ISO_4217["ZZZ"] = Currency("ZZZ", 2)  # type: ignore[index]


def test_withdrawn_codes_are_not_in_the_table() -> None:
    for code in ["HRK", "ZWL", "DEM", "FRF", "VEF", "MRO", "STD"]:
        assert code not in ISO_4217


@pytest.mark.parametrize("code", ["XYZ", "cny", "Cny", "CN", "CNYY", "", " CNY", "ＣＮＹ"])
def test_unknown_currency_code_is_refused(code: str) -> None:
    with pytest.raises(ValidationError) as info:
        currency(code)
    assert str(info.value) == UNKNOWN_MESSAGE


def test_non_string_currency_code_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown currency code"):
        currency(156)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown currency code"):
        currency(None)  # type: ignore[arg-type]


def test_currency_quantum_matches_minor_units() -> None:
    assert CNY.quantum == Decimal("0.01")
    assert CNY.quantum.as_tuple().exponent == -2
    assert JPY.quantum.as_tuple().exponent == 0
    assert CLF.quantum.as_tuple().exponent == -4
    assert str(CNY) == "CNY"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("cny", 2), "three uppercase letters"),
        (("CN", 2), "three uppercase letters"),
        (("ABC", -1), "minor_units"),
        (("ABC", 9), "minor_units"),
        (("ABC", True), "minor_units"),
        (("ABC", 2, 1000), "numeric"),
        (("ABC", 2, -1), "numeric"),
    ],
)
def test_currency_fields_are_validated(args: tuple[Any, ...], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Currency(*args)


def test_currency_equality_ignores_numeric() -> None:
    assert Currency("CNY", 2) == CNY
    assert hash(Currency("CNY", 2)) == hash(CNY)
    assert Currency("CNY", 3) != CNY
    # A hand-built but equal currency mixes freely with the table's.
    assert Money(1, Currency("CNY", 2)) + Money(1, CNY) == Money(2, CNY)


def test_custom_currency_works_with_money() -> None:
    points = Currency("XPT", 1)
    assert Money.of("2.5", points).amount.as_tuple().exponent == -1
    with pytest.raises(ValidationError):
        Money.of("2.55", points)


# -- construction -----------------------------------------------------------------------


def test_amount_is_normalised_to_the_minor_unit_exponent() -> None:
    m = Money(Decimal("10.5"), "CNY")
    assert m.amount == Decimal("10.50")
    assert m.amount.as_tuple().exponent == -2
    assert Money.of("10.5", "CNY").amount.as_tuple().exponent == -2
    assert Money.of("10.500", "CNY").amount.as_tuple().exponent == -2
    assert Money(Decimal("1E+3"), "CNY").amount.as_tuple() == Decimal("1000.00").as_tuple()


def test_jpy_has_exponent_zero() -> None:
    for m in [Money(1000, "JPY"), Money.of("1000", "JPY"), Money(Decimal("1E+3"), "JPY")]:
        assert m.amount.as_tuple().exponent == 0
        assert m.amount == 1000
    assert Money.of("1000.0", "JPY").amount.as_tuple().exponent == 0
    with pytest.raises(ValidationError):
        Money.of("1000.5", "JPY")


def test_three_and_four_digit_currencies() -> None:
    assert Money.of("1.5", "KWD").amount.as_tuple().exponent == -3
    assert str(Money.of("1.5", "KWD")) == "1.500 KWD"
    assert str(Money.of("1", "CLF")) == "1.0000 CLF"


@given(currencies, units)
def test_exponent_always_equals_minus_minor_units(cur: Currency, n: int) -> None:
    for m in [Money.from_minor_units(n, cur), Money(n, cur), Money.zero(cur)]:
        assert m.amount.as_tuple().exponent == -cur.minor_units


def test_int_amounts_are_accepted() -> None:
    assert Money(10, "CNY").amount == Decimal("10.00")
    assert Money(-3, CNY) == Money.of("-3.00", "CNY")


def test_currency_accepts_code_or_object() -> None:
    assert Money(1, "CNY") == Money(1, CNY)
    assert Money(1, "CNY").currency is CNY
    with pytest.raises(ValidationError) as info:
        Money(1, "RMB")
    assert str(info.value) == UNKNOWN_MESSAGE
    with pytest.raises(ValidationError, match="currency must be"):
        Money(1, 156)  # type: ignore[arg-type]


@given(st.floats())
def test_float_amounts_are_refused_everywhere(x: float) -> None:
    amount: Any = x
    with pytest.raises(ValidationError) as info:
        Money(amount, "CNY")
    assert str(info.value) == FLOAT_MESSAGE
    with pytest.raises(ValidationError) as info:
        Money.of(amount, "CNY")
    assert str(info.value) == FLOAT_MESSAGE
    with pytest.raises(ValidationError) as info:
        Money.rounded(amount, "CNY")
    assert str(info.value) == FLOAT_MESSAGE


def test_float_factors_and_ratios_are_refused() -> None:
    m = Money.of("10.00", "CNY")
    with pytest.raises(ValidationError, match="never float"):
        m.multiply(0.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="never float"):
        m.allocate([0.5, 0.5])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="never float"):
        m.allocate([1, 0.5])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="must be an int"):
        Money.from_minor_units(1050.0, "CNY")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, False, "10.50", b"10", None, Fraction(1, 2), [1]])
def test_non_numeric_amounts_are_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="must be Decimal or int"):
        Money(value, "CNY")  # type: ignore[arg-type]


def test_bool_minor_units_are_refused() -> None:
    with pytest.raises(ValidationError):
        Money.from_minor_units(True, "CNY")


@pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_amounts_are_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="finite"):
        Money(Decimal(text), "CNY")
    with pytest.raises(ValidationError, match="finite"):
        Money.rounded(Decimal(text), "CNY")
    with pytest.raises(ValidationError, match="finite"):
        Money.of("1.00", "CNY").multiply(Decimal(text))
    with pytest.raises(ValidationError, match="plain decimal"):
        Money.of(text, "CNY")


def test_amount_needing_rounding_is_refused_with_advice() -> None:
    with pytest.raises(ValidationError) as info:
        Money(Decimal("10.005"), "CNY")
    assert "Money.rounded" in str(info.value)
    assert "10.005" not in str(info.value)
    with pytest.raises(ValidationError, match=r"Money\.rounded"):
        Money.of("0.001", "CNY")
    with pytest.raises(ValidationError, match=r"Money\.rounded"):
        Money(Decimal("1E-30"), "CNY")


def test_negative_zero_is_stored_as_zero() -> None:
    for m in [Money(Decimal("-0.00"), "CNY"), Money.of("-0", "CNY"), -Money.zero("CNY")]:
        assert not m.amount.is_signed()
        assert repr(m) == "Money('0.00', 'CNY')"
    assert not Money.rounded(Decimal("-0.001"), "CNY").amount.is_signed()
    assert not Money.of("0.00", "CNY").multiply(-1).amount.is_signed()


@pytest.mark.parametrize("text", ["12.30", "-12.3", "+5", "0", "007.10", "1000000"])
def test_of_parses_plain_decimal_text_exactly(text: str) -> None:
    assert Money.of(text, "CNY").amount == Decimal(text)


@pytest.mark.parametrize(
    "text",
    ["1e3", "1E-2", " 1.00", "1.00 ", "1_000", "1,000.00", "", "1.", ".5", "--1", "１２", "0x10",
     "secret-123.45x"],
)  # fmt: skip
def test_of_refuses_other_text_without_echoing_it(text: str) -> None:
    with pytest.raises(ValidationError, match="plain decimal") as info:
        Money.of(text, "CNY")
    if text.strip():
        assert text.strip() not in str(info.value)


def test_of_accepts_decimal_and_int() -> None:
    assert Money.of(Decimal("1.5"), "CNY") == Money(Decimal("1.50"), "CNY")
    assert Money.of(7, "JPY") == Money(7, "JPY")


def test_too_many_digits_are_refused() -> None:
    with pytest.raises(ValidationError, match="significant digits"):
        Money(Decimal("1E+40"), "CNY")
    with pytest.raises(ValidationError, match="significant digits"):
        Money.of("1" * 40, "JPY")
    with pytest.raises(ValidationError, match="significant digits"):
        Money(Decimal("1E+999999999"), "CNY")
    with pytest.raises(ValidationError, match="significant digits"):
        Money.from_minor_units(10**MAX_DIGITS, "CNY")
    biggest = Money.from_minor_units(10**MAX_DIGITS - 1, "CNY")
    assert biggest.minor_units == 10**MAX_DIGITS - 1
    with pytest.raises(ValidationError, match="significant digits"):
        biggest + biggest
    with pytest.raises(ValidationError, match="significant digits"):
        biggest.multiply(10)
    with pytest.raises(ValidationError, match="significant digits"):
        Money.rounded(Decimal("1E+40"), "CNY")


def test_huge_text_is_refused_cheaply() -> None:
    with pytest.raises(ValidationError):
        Money.of("9" * 1_000_000, "CNY")


def test_evolve_revalidates_and_normalises() -> None:
    m = Money.of("1.00", "CNY")
    assert attrs.evolve(m, amount=Decimal("2.5")).amount.as_tuple().exponent == -2
    with pytest.raises(ValidationError):
        attrs.evolve(m, amount=Decimal("2.555"))
    assert attrs.evolve(m, currency="JPY") == Money(1, "JPY")


def test_money_is_frozen_hashable_and_picklable() -> None:
    m = Money.of("10.50", "CNY")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        m.amount = Decimal("1.00")  # type: ignore[misc]
    assert {m: 1}[Money(Decimal("10.5"), "CNY")] == 1
    assert hash(m) == hash(Money.of("10.5", "CNY"))
    assert pickle.loads(pickle.dumps(m)) == m


def test_repr_and_str() -> None:
    assert repr(Money(Decimal("10.5"), "CNY")) == "Money('10.50', 'CNY')"
    assert str(Money(Decimal("10.5"), "CNY")) == "10.50 CNY"
    assert repr(Money(Decimal("-1E+6"), "JPY")) == "Money('-1000000', 'JPY')"
    assert str(Money.zero("KWD")) == "0.000 KWD"


@given(monies())
def test_repr_round_trips_through_of(m: Money) -> None:
    amount_text, code = str(m).split(" ")
    assert Money.of(amount_text, code) == m
    assert repr(m) == f"Money('{amount_text}', '{code}')"


# -- minor units ------------------------------------------------------------------------


def test_minor_units_examples() -> None:
    assert Money.of("10.50", "CNY").minor_units == 1050
    assert Money.of("-0.01", "CNY").minor_units == -1
    assert Money(1000, "JPY").minor_units == 1000
    assert Money.of("1.234", "KWD").minor_units == 1234
    assert Money.from_minor_units(1050, "CNY") == Money.of("10.50", "CNY")
    assert Money.from_minor_units(-5, "CLF") == Money.of("-0.0005", "CLF")
    assert Money.from_minor_units(0, "CNY") == Money.zero("CNY")


@given(currencies, units)
def test_minor_units_round_trip(cur: Currency, n: int) -> None:
    m = Money.from_minor_units(n, cur)
    assert m.minor_units == n
    assert type(m.minor_units) is int
    assert Money(m.amount, cur) == m
    assert Fraction(m.amount) == Fraction(n, 10**cur.minor_units)


# -- arithmetic -------------------------------------------------------------------------


def test_addition_and_subtraction_examples() -> None:
    a, b = Money.of("0.10", "CNY"), Money.of("0.20", "CNY")
    assert a + b == Money.of("0.30", "CNY")
    assert (a + b).amount.as_tuple().exponent == -2
    assert a - b == Money.of("-0.10", "CNY")
    assert -a == Money.of("-0.10", "CNY")
    assert +a is a
    assert abs(Money.of("-3.25", "CNY")) == Money.of("3.25", "CNY")


@given(monies(st.just(CNY)), monies(st.just(CNY)), monies(st.just(CNY)))
def test_addition_is_exact_integer_arithmetic(a: Money, b: Money, c: Money) -> None:
    assert (a + b).minor_units == a.minor_units + b.minor_units
    assert (a - b).minor_units == a.minor_units - b.minor_units
    assert a + b == b + a
    assert (a + b) + c == a + (b + c)
    assert a + b - b == a
    negated = -a
    assert -negated == a
    assert abs(a).minor_units == abs(a.minor_units)
    assert (a + b).amount.as_tuple().exponent == -2


@given(monies(st.just(USD)), monies(st.just(USD)))
def test_ordering_matches_minor_units(a: Money, b: Money) -> None:
    assert (a < b) == (a.minor_units < b.minor_units)
    assert (a <= b) == (a.minor_units <= b.minor_units)
    assert (a > b) == (a.minor_units > b.minor_units)
    assert (a >= b) == (a.minor_units >= b.minor_units)
    assert (a == b) == (a.minor_units == b.minor_units)
    assert sorted([a, b]) == sorted([b, a])


def test_predicates() -> None:
    assert Money.zero("CNY").is_zero()
    assert not Money.of("0.01", "CNY").is_zero()
    assert Money.of("-0.01", "CNY").is_negative()
    assert not Money.zero("CNY").is_negative()
    assert not Money.zero("CNY").is_positive()
    assert Money.of("0.01", "CNY").is_positive()
    assert not Money.of("0.01", "CNY").is_negative()


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_currency_mismatch_is_refused(operation: Any) -> None:
    cny, usd = Money.of("1.00", "CNY"), Money.of("1.00", "USD")
    with pytest.raises(CurrencyMismatch) as info:
        operation(cny, usd)
    message = str(info.value)
    assert "CNY" in message
    assert "USD" in message
    assert "convert" in message
    assert isinstance(info.value, BusinessRuleViolation)


def test_different_currencies_are_unequal_not_an_error() -> None:
    assert Money.of("1.00", "CNY") != Money.of("1.00", "USD")
    assert Money(1, "CNY") != Money(1, "JPY")


@pytest.mark.parametrize("other", [1, 0, 1.5, Decimal("1.00"), "1.00", None])
def test_money_never_mixes_with_plain_values(other: Any) -> None:
    m = Money.of("1.00", "CNY")
    with pytest.raises(TypeError):
        m + other
    with pytest.raises(TypeError):
        other + m
    with pytest.raises(TypeError):
        m - other
    with pytest.raises(TypeError):
        _ = m < other
    with pytest.raises(TypeError):
        m * 2  # type: ignore[operator]
    assert m != other
    with pytest.raises(TypeError):
        sum([m, m])  # type: ignore[list-item]


def test_total() -> None:
    parts = [Money.of("0.10", "CNY")] * 3
    assert Money.total(parts, "CNY") == Money.of("0.30", "CNY")
    assert Money.total([], "JPY") == Money.zero("JPY")
    with pytest.raises(CurrencyMismatch):
        Money.total([Money.of("1", "USD")], "CNY")


# -- rounding ---------------------------------------------------------------------------


def test_rounding_modes_map_to_decimal_constants() -> None:
    assert RoundingMode.HALF_UP.decimal_rounding == decimal.ROUND_HALF_UP
    assert RoundingMode.HALF_EVEN.decimal_rounding == decimal.ROUND_HALF_EVEN
    assert RoundingMode.DOWN.decimal_rounding == decimal.ROUND_DOWN
    assert RoundingMode.UP.decimal_rounding == decimal.ROUND_UP
    assert RoundingMode.CEILING.decimal_rounding == decimal.ROUND_CEILING
    assert RoundingMode.FLOOR.decimal_rounding == decimal.ROUND_FLOOR
    assert DEFAULT_ROUNDING is RoundingMode.HALF_UP


@pytest.mark.parametrize(
    ("amount", "mode", "expected"),
    [
        ("10.005", RoundingMode.HALF_UP, "10.01"),
        ("10.005", RoundingMode.HALF_EVEN, "10.00"),
        ("10.015", RoundingMode.HALF_EVEN, "10.02"),
        ("10.005", RoundingMode.DOWN, "10.00"),
        ("10.001", RoundingMode.UP, "10.01"),
        ("10.001", RoundingMode.CEILING, "10.01"),
        ("10.009", RoundingMode.FLOOR, "10.00"),
        ("-10.005", RoundingMode.HALF_UP, "-10.01"),
        ("-10.005", RoundingMode.HALF_EVEN, "-10.00"),
        ("-10.009", RoundingMode.DOWN, "-10.00"),
        ("-10.001", RoundingMode.UP, "-10.01"),
        ("-10.009", RoundingMode.CEILING, "-10.00"),
        ("-10.001", RoundingMode.FLOOR, "-10.01"),
        ("10.004999", RoundingMode.HALF_UP, "10.00"),
        ("10.50", RoundingMode.UP, "10.50"),
    ],
)
def test_rounded_modes(amount: str, mode: RoundingMode, expected: str) -> None:
    m = Money.rounded(Decimal(amount), "CNY", mode)
    assert m == Money.of(expected, "CNY")
    assert m.amount.as_tuple().exponent == -2


def test_rounded_default_is_half_up_and_respects_currency() -> None:
    assert Money.rounded(Decimal("10.005"), "CNY") == Money.of("10.01", "CNY")
    assert Money.rounded(Decimal("2.5"), "JPY") == Money(3, "JPY")
    assert Money.rounded(Decimal("2.5"), "JPY", RoundingMode.HALF_EVEN) == Money(2, "JPY")
    assert Money.rounded(Decimal("1.23456"), "KWD") == Money.of("1.235", "KWD")
    assert Money.rounded(7, "CNY") == Money(7, "CNY")


def test_rounding_mode_must_be_a_rounding_mode() -> None:
    with pytest.raises(ValidationError, match="RoundingMode"):
        Money.rounded(Decimal("1"), "CNY", decimal.ROUND_HALF_UP)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="RoundingMode"):
        Money.of("1", "CNY").multiply(2, "HALF_UP")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="RoundingMode"):
        MoneyRounding("HALF_UP")  # type: ignore[arg-type]


@given(
    currencies,
    st.decimals(min_value=-(10**12), max_value=10**12, allow_nan=False, allow_infinity=False),
    st.sampled_from(list(RoundingMode)),
)
def test_rounded_is_within_one_minor_unit(cur: Currency, x: Decimal, mode: RoundingMode) -> None:
    m = Money.rounded(x, cur, mode)
    error = abs(Fraction(m.amount) - Fraction(x))
    unit = Fraction(1, 10**cur.minor_units)
    assert error < unit
    if mode in (RoundingMode.HALF_UP, RoundingMode.HALF_EVEN):
        assert error <= unit / 2
    if mode is RoundingMode.DOWN:
        assert abs(m.amount) <= abs(x)
    if mode is RoundingMode.UP:
        assert abs(m.amount) >= abs(x)
    if mode is RoundingMode.FLOOR:
        assert m.amount <= x
    if mode is RoundingMode.CEILING:
        assert m.amount >= x


@given(monies(), st.sampled_from(list(RoundingMode)))
def test_rounding_an_exact_amount_changes_nothing(m: Money, mode: RoundingMode) -> None:
    assert Money.rounded(m.amount, m.currency, mode) == m


# -- multiply ---------------------------------------------------------------------------


def test_multiply_examples() -> None:
    m = Money.of("10.00", "CNY")
    assert m.multiply(Decimal("0.0035")) == Money.of("0.04", "CNY")
    assert m.multiply(Decimal("0.0035"), RoundingMode.HALF_EVEN) == Money.of("0.04", "CNY")
    assert Money.of("10.50", "CNY").multiply(Decimal("0.05")) == Money.of("0.53", "CNY")
    assert Money.of("10.50", "CNY").multiply(Decimal("0.05"), RoundingMode.HALF_EVEN) == Money.of(
        "0.52", "CNY"
    )
    assert Money.of("10.50", "CNY").multiply(Decimal("0.05"), RoundingMode.DOWN) == Money.of(
        "0.52", "CNY"
    )
    assert m.multiply(3) == Money.of("30.00", "CNY")
    assert m.multiply(-1) == -m
    assert m.multiply(0) == Money.zero("CNY")


@given(monies(), st.integers(min_value=-(10**6), max_value=10**6))
def test_multiply_by_int_is_exact(m: Money, k: int) -> None:
    assert m.multiply(k).minor_units == m.minor_units * k


@given(
    monies(st.just(CNY)),
    st.decimals(min_value=-1000, max_value=1000, places=6, allow_nan=False, allow_infinity=False),
)
def test_multiply_half_up_matches_exact_oracle(m: Money, factor: Decimal) -> None:
    exact_units = Fraction(m.minor_units) * Fraction(factor)
    assert m.multiply(factor).minor_units == half_up_units(exact_units)


# -- allocation -------------------------------------------------------------------------


def test_allocate_examples() -> None:
    m = Money.of("100.00", "CNY")
    assert m.allocate([70, 30]) == (Money.of("70.00", "CNY"), Money.of("30.00", "CNY"))
    assert Money.of("0.10", "CNY").allocate([1, 1, 1]) == (
        Money.of("0.04", "CNY"),
        Money.of("0.03", "CNY"),
        Money.of("0.03", "CNY"),
    )
    assert Money.of("0.05", "CNY").allocate([Decimal("0.3"), Decimal("0.7")]) == (
        Money.of("0.02", "CNY"),
        Money.of("0.03", "CNY"),
    )
    assert Money(5, "JPY").allocate([1, 0, 1]) == (
        Money(3, "JPY"),
        Money(0, "JPY"),
        Money(2, "JPY"),
    )


def test_allocate_ties_go_to_the_earlier_index() -> None:
    assert Money.of("0.01", "CNY").allocate([1, 1, 1]) == (
        Money.of("0.01", "CNY"),
        Money.zero("CNY"),
        Money.zero("CNY"),
    )
    # The larger remainder wins over index order: 0.02 by [1, 2, 2] -> shares .4, .8, .8
    assert Money.of("0.02", "CNY").allocate([1, 2, 2]) == (
        Money.zero("CNY"),
        Money.of("0.01", "CNY"),
        Money.of("0.01", "CNY"),
    )
    assert Money.of("-0.01", "CNY").allocate([1, 1]) == (
        Money.of("-0.01", "CNY"),
        Money.zero("CNY"),
    )


def test_allocate_uses_decimal_ratios_exactly() -> None:
    # 1/3-ish ratios written with different exponents scale to exact integers.
    parts = Money.of("1.00", "CNY").allocate([Decimal("0.333"), Decimal("0.3330"), 1])
    assert [p.minor_units for p in parts] == [20, 20, 60]


@pytest.mark.parametrize(
    ("ratios", "fragment"),
    [
        ([], "non-empty"),
        ([0, 0], "above zero"),
        ([Decimal(0)], "above zero"),
        ([1, -1], "negative"),
        ([Decimal("-0.5"), 1], "negative"),
        ([True, 1], "Decimal or int"),
        (["1", "2"], "Decimal or int"),
        ([Decimal("NaN")], "finite"),
        ([Decimal("Infinity"), 1], "finite"),
    ],
)
def test_allocate_refuses_bad_ratios(ratios: list[Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Money.of("1.00", "CNY").allocate(ratios)


def test_allocate_refuses_a_string() -> None:
    with pytest.raises(ValidationError, match="non-empty sequence"):
        Money.of("1.00", "CNY").allocate("11")  # type: ignore[arg-type]


@given(monies(), ratio_lists)
def test_allocation_sums_exactly_and_each_part_is_within_one_unit(
    m: Money, ratios: list[Decimal | int]
) -> None:
    parts = m.allocate(ratios)
    assert len(parts) == len(ratios)
    assert Money.total(parts, m.currency) == m
    whole = sum(Fraction(r) for r in ratios)
    for part, ratio in zip(parts, ratios, strict=True):
        assert part.currency == m.currency
        assert part.amount.as_tuple().exponent == -m.currency.minor_units
        exact_share = Fraction(m.minor_units) * Fraction(ratio) / whole
        assert abs(part.minor_units - exact_share) < 1
        if ratio == 0:
            assert part.is_zero()
        # Parts never point the other way from the whole.
        assert not (m.is_positive() and part.is_negative())
        assert not (m.is_negative() and part.is_positive())


@given(monies(), ratio_lists)
def test_allocation_is_symmetric_for_negative_amounts(
    m: Money, ratios: list[Decimal | int]
) -> None:
    assert (-m).allocate(ratios) == tuple(-p for p in m.allocate(ratios))


@given(monies(), ratio_lists)
def test_allocation_is_largest_remainder(m: Money, ratios: list[Decimal | int]) -> None:
    """Every part that got an extra unit had a remainder at least as large as any that did not."""
    assume(not m.is_negative())
    parts = m.allocate(ratios)
    whole = sum(Fraction(r) for r in ratios)
    shares = [Fraction(m.minor_units) * Fraction(r) / whole for r in ratios]
    remainders = [s - s.__floor__() for s in shares]
    bumped = [p.minor_units > s.__floor__() for p, s in zip(parts, shares, strict=True)]
    for i, got in enumerate(bumped):
        for j, other_got in enumerate(bumped):
            if got and not other_got:
                assert remainders[i] > remainders[j] or (remainders[i] == remainders[j] and i < j)


@given(monies(), st.integers(min_value=1, max_value=50))
def test_split_evenly(m: Money, n: int) -> None:
    parts = m.split_evenly(n)
    assert len(parts) == n
    assert Money.total(parts, m.currency) == m
    assert parts == m.allocate([1] * n)
    sizes = [p.minor_units for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert sorted(sizes, key=abs, reverse=True) == sizes


def test_split_evenly_examples_and_refusals() -> None:
    assert Money.of("0.10", "CNY").split_evenly(3) == (
        Money.of("0.04", "CNY"),
        Money.of("0.03", "CNY"),
        Money.of("0.03", "CNY"),
    )
    assert Money(100, "JPY").split_evenly(1) == (Money(100, "JPY"),)
    for bad in [0, -1, True, Decimal(2), 2.0]:
        with pytest.raises(ValidationError, match="whole number of parts"):
            Money(100, "JPY").split_evenly(bad)  # type: ignore[arg-type]


# -- rounding setting -------------------------------------------------------------------


def test_money_rounding_setting() -> None:
    assert MoneyRounding().mode is RoundingMode.HALF_UP
    half_even = MoneyRounding(RoundingMode.HALF_EVEN)
    assert MoneyRounding().round(Decimal("0.125"), "CNY") == Money.of("0.13", "CNY")
    assert half_even.round(Decimal("0.125"), "CNY") == Money.of("0.12", "CNY")
    m = Money.of("10.50", "CNY")
    assert MoneyRounding().multiply(m, Decimal("0.05")) == Money.of("0.53", "CNY")
    assert half_even.multiply(m, Decimal("0.05")) == Money.of("0.52", "CNY")
