"""Exact money: :class:`Money` is a :class:`~decimal.Decimal` amount in one :class:`Currency`.

Rules that hold for every :class:`Money`:

* Amounts are :class:`~decimal.Decimal` (``int`` is accepted and converted). A ``float``
  is refused everywhere, because ``0.1`` has no exact binary value.
* The amount always carries exactly the currency's minor-unit exponent: CNY amounts
  have two decimal places (``Decimal("10.50")``), JPY amounts none, KWD amounts three.
  A constructor never rounds silently; values with more digits go through
  :meth:`Money.rounded` with an explicit :class:`RoundingMode`.
* Arithmetic and ordering work only between amounts of the same currency and raise
  :class:`~finance_crm.errors.CurrencyMismatch` otherwise; converting is the caller's
  job, with a rate the caller is accountable for.
* Money never mixes with plain numbers: ``Money + 1`` is a ``TypeError``. Scale with
  :meth:`Money.multiply`, split with :meth:`Money.allocate` or :meth:`Money.split_evenly`.
* At most 34 significant digits (IEEE 754 decimal128), so a hostile input such as
  ``"1E+999999999"`` is refused instead of exhausting memory.

Rounding is a setting, not a constant. Chinese retail banking commonly rounds half-up to
the fen (``RoundingMode.HALF_UP``, the default here, see :data:`DEFAULT_ROUNDING`);
many other institutions and IEEE 754 use half-even ("banker's rounding",
``RoundingMode.HALF_EVEN``). Pass the institution's mode, or hold it in a
:class:`MoneyRounding`.
"""

from __future__ import annotations

import decimal
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Final

import attrs

from finance_crm.errors import CurrencyMismatch, ValidationError

__all__ = [
    "DEFAULT_ROUNDING",
    "ISO_4217",
    "MAX_DIGITS",
    "Currency",
    "Money",
    "MoneyRounding",
    "RoundingMode",
    "currency",
]

MAX_DIGITS: Final = 34
"""The most significant digits a :class:`Money` amount may have (as IEEE 754 decimal128)."""

_NOT_FINITE: Final = "money amounts must be finite numbers, not NaN or Infinity"
_TOO_LARGE: Final = f"money amount has more than {MAX_DIGITS} significant digits"
_UNKNOWN_CODE: Final = "unknown currency code; use an ISO 4217 alphabetic code such as CNY"
_AMOUNT_TEXT: Final = (
    "money amount text must be a plain decimal such as '12.30' "
    "(optional sign, digits, optional decimal point and digits)"
)

# Exact arithmetic: any rounding (Inexact) or overflow of MAX_DIGITS raises.
_EXACT: Final = decimal.Context(
    prec=MAX_DIGITS,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)
# Deliberate rounding (rounded, multiply): the caller's mode decides; too many digits raise.
_ROUNDING: Final = decimal.Context(
    prec=MAX_DIGITS,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
# Intermediate products: wide enough to be exact for any operands we accept.
_WIDE: Final = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

_CODE_RE: Final = re.compile(r"[A-Z]{3}")
_AMOUNT_RE: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


class RoundingMode(enum.Enum):
    """How to round an amount that has more digits than its currency's minor unit.

    ``HALF_UP`` (ties away from zero) is the usual rule for the fen in Chinese retail
    banking; ``HALF_EVEN`` (ties to the even digit) is common elsewhere.
    """

    HALF_UP = decimal.ROUND_HALF_UP
    """Ties away from zero: 0.125 -> 0.13, -0.125 -> -0.13."""
    HALF_EVEN = decimal.ROUND_HALF_EVEN
    """Ties to the even neighbour: 0.125 -> 0.12, 0.135 -> 0.14."""
    DOWN = decimal.ROUND_DOWN
    """Towards zero (truncate): 0.129 -> 0.12, -0.129 -> -0.12."""
    UP = decimal.ROUND_UP
    """Away from zero: 0.121 -> 0.13, -0.121 -> -0.13."""
    CEILING = decimal.ROUND_CEILING
    """Towards positive infinity: 0.121 -> 0.13, -0.129 -> -0.12."""
    FLOOR = decimal.ROUND_FLOOR
    """Towards negative infinity: 0.129 -> 0.12, -0.121 -> -0.13."""

    @property
    def decimal_rounding(self) -> str:
        """The matching :mod:`decimal` constant, e.g. ``decimal.ROUND_HALF_UP``."""
        return str(self.value)


DEFAULT_ROUNDING: Final = RoundingMode.HALF_UP
"""The default rounding mode: half-up, as for the fen in Chinese retail banking."""


def _check_code(_instance: object, _attribute: object, value: str) -> None:
    if not isinstance(value, str) or _CODE_RE.fullmatch(value) is None:
        raise ValidationError("currency code must be three uppercase letters A-Z, such as CNY")


def _check_minor_units(_instance: object, _attribute: object, value: int) -> None:
    if type(value) is not int or not 0 <= value <= 8:
        raise ValidationError("currency minor_units must be an int from 0 to 8")


def _check_numeric(_instance: object, _attribute: object, value: int | None) -> None:
    if value is not None and (type(value) is not int or not 0 <= value <= 999):
        raise ValidationError("currency numeric code must be an int from 0 to 999, or None")


@attrs.frozen
class Currency:
    """A currency: ISO 4217 alphabetic code, number of minor-unit digits, numeric code.

    Get ISO currencies with :func:`currency` (``currency("CNY")``); build one directly
    only for a unit outside ISO 4217. Two currencies are equal when code and minor units
    are; ``numeric`` is descriptive and takes no part in equality.
    """

    code: str = attrs.field(validator=_check_code)
    """Three uppercase letters, e.g. ``"CNY"``."""
    minor_units: int = attrs.field(validator=_check_minor_units)
    """Digits after the decimal point: 2 for CNY (fen), 0 for JPY, 3 for KWD."""
    numeric: int | None = attrs.field(default=None, validator=_check_numeric, eq=False)
    """The ISO 4217 numeric code (156 for CNY), if known."""
    _quantum: Decimal = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_quantum", Decimal(1).scaleb(-self.minor_units))

    @property
    def quantum(self) -> Decimal:
        """One minor unit as a Decimal: ``Decimal("0.01")`` for CNY, ``Decimal("1")`` for JPY."""
        return self._quantum

    def __str__(self) -> str:
        return self.code


# ISO 4217 list one, active codes with defined minor units, as "CODE numeric minor"
# triples (amendments through 2025: XCG replaced ANG, ZWG replaced ZWL, SLE replaced SLL,
# HRK withdrawn). Codes whose minor units are "N.A." (XAU, XDR, XXX, ...) are omitted.
_ISO_4217_TABLE: Final = """
AED 784 2  AFN 971 2  ALL 008 2  AMD 051 2  AOA 973 2  ARS 032 2  AUD 036 2  AWG 533 2
AZN 944 2  BAM 977 2  BBD 052 2  BDT 050 2  BGN 975 2  BHD 048 3  BIF 108 0  BMD 060 2
BND 096 2  BOB 068 2  BOV 984 2  BRL 986 2  BSD 044 2  BTN 064 2  BWP 072 2  BYN 933 2
BZD 084 2  CAD 124 2  CDF 976 2  CHE 947 2  CHF 756 2  CHW 948 2  CLF 990 4  CLP 152 0
CNY 156 2  COP 170 2  COU 970 2  CRC 188 2  CUP 192 2  CVE 132 2  CZK 203 2  DJF 262 0
DKK 208 2  DOP 214 2  DZD 012 2  EGP 818 2  ERN 232 2  ETB 230 2  EUR 978 2  FJD 242 2
FKP 238 2  GBP 826 2  GEL 981 2  GHS 936 2  GIP 292 2  GMD 270 2  GNF 324 0  GTQ 320 2
GYD 328 2  HKD 344 2  HNL 340 2  HTG 332 2  HUF 348 2  IDR 360 2  ILS 376 2  INR 356 2
IQD 368 3  IRR 364 2  ISK 352 0  JMD 388 2  JOD 400 3  JPY 392 0  KES 404 2  KGS 417 2
KHR 116 2  KMF 174 0  KPW 408 2  KRW 410 0  KWD 414 3  KYD 136 2  KZT 398 2  LAK 418 2
LBP 422 2  LKR 144 2  LRD 430 2  LSL 426 2  LYD 434 3  MAD 504 2  MDL 498 2  MGA 969 2
MKD 807 2  MMK 104 2  MNT 496 2  MOP 446 2  MRU 929 2  MUR 480 2  MVR 462 2  MWK 454 2
MXN 484 2  MXV 979 2  MYR 458 2  MZN 943 2  NAD 516 2  NGN 566 2  NIO 558 2  NOK 578 2
NPR 524 2  NZD 554 2  OMR 512 3  PAB 590 2  PEN 604 2  PGK 598 2  PHP 608 2  PKR 586 2
PLN 985 2  PYG 600 0  QAR 634 2  RON 946 2  RSD 941 2  RUB 643 2  RWF 646 0  SAR 682 2
SBD 090 2  SCR 690 2  SDG 938 2  SEK 752 2  SGD 702 2  SHP 654 2  SLE 925 2  SOS 706 2
SRD 968 2  SSP 728 2  STN 930 2  SVC 222 2  SYP 760 2  SZL 748 2  THB 764 2  TJS 972 2
TMT 934 2  TND 788 3  TOP 776 2  TRY 949 2  TTD 780 2  TWD 901 2  TZS 834 2  UAH 980 2
UGX 800 0  USD 840 2  USN 997 2  UYI 940 0  UYU 858 2  UYW 927 4  UZS 860 2  VED 926 2
VES 928 2  VND 704 0  VUV 548 0  WST 882 2  XAF 950 0  XCD 951 2  XCG 532 2  XOF 952 0
XPF 953 0  YER 886 2  ZAR 710 2  ZMW 967 2  ZWG 924 2
"""


def _load_table(text: str) -> Mapping[str, Currency]:
    words = text.split()
    table = {
        code: Currency(code, int(minor), int(numeric))
        for code, numeric, minor in zip(words[0::3], words[1::3], words[2::3], strict=True)
    }
    return MappingProxyType(table)


ISO_4217: Final[Mapping[str, Currency]] = _load_table(_ISO_4217_TABLE)
"""Active ISO 4217 currencies by alphabetic code (read-only). Use :func:`currency`."""


def currency(code: str) -> Currency:
    """The ISO 4217 :class:`Currency` for an uppercase alphabetic ``code`` such as ``"CNY"``.

    Lookup is case-sensitive: ``"cny"`` is refused rather than guessed.

    :raises ~finance_crm.errors.ValidationError: the code is not an active ISO 4217 code.
    """
    try:
        return ISO_4217[code]
    except (KeyError, TypeError):
        raise ValidationError(_UNKNOWN_CODE) from None


def _as_currency(value: Currency | str) -> Currency:
    if type(value) is Currency:
        return value
    if isinstance(value, str):
        return currency(value)
    if isinstance(value, Currency):
        return value
    raise ValidationError("currency must be a Currency or an ISO 4217 code such as 'CNY'")


def _as_decimal(value: object, what: str = "money amounts") -> Decimal:
    """``value`` as a finite Decimal; ints convert, floats, bools and the rest are refused."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(f"{what} must be finite numbers, not NaN or Infinity")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, float):
        raise ValidationError(f"{what} must be Decimal or int, never float; write Decimal('0.10')")
    if isinstance(value, str):
        raise ValidationError(f"{what} must be Decimal or int, not str; parse text with Money.of")
    raise ValidationError(f"{what} must be Decimal or int, not {type(value).__name__}")


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only reach here
    return exponent


def _rounding_of(mode: RoundingMode) -> str:
    if not isinstance(mode, RoundingMode):
        raise ValidationError("rounding must be a RoundingMode such as RoundingMode.HALF_UP")
    return mode.decimal_rounding


def _new(amount: Decimal, cur: Currency) -> Money:
    """A Money from an amount already exact at ``cur``'s exponent (internal, unchecked)."""
    m = object.__new__(Money)
    object.__setattr__(m, "amount", amount)
    object.__setattr__(m, "currency", cur)
    return m


@attrs.frozen(init=False, repr=False)
class Money:
    """An exact amount of one currency, always at the currency's minor-unit exponent.

    ``Money(Decimal("10.5"), "CNY")`` holds ``Decimal("10.50")``; ``Money(1000, "JPY")``
    holds ``Decimal("1000")``. The currency may be a :class:`Currency` or an ISO 4217
    code. An amount that would need rounding (``Decimal("10.005")`` in CNY) is refused:
    use :meth:`Money.rounded` and choose a :class:`RoundingMode`. Negative zero is
    stored as zero.

    Equality is structural (same amount and currency); ``Money`` is hashable, ordered
    within one currency, and never equal to a plain number.

    :raises ~finance_crm.errors.ValidationError: the amount is a float, bool, str, NaN
        or infinite, needs rounding, or has more than :data:`MAX_DIGITS` digits; or the
        currency code is unknown.
    """

    amount: Decimal
    """The amount, with exactly ``currency.minor_units`` decimal places."""
    currency: Currency
    """The currency of the amount."""

    def __init__(self, amount: Decimal | int, currency: Currency | str) -> None:
        cur = _as_currency(currency)
        if type(amount) is not Decimal:
            amount = _as_decimal(amount)
        elif not amount.is_finite():
            raise ValidationError(_NOT_FINITE)
        try:
            exact = amount.quantize(cur._quantum, context=_EXACT)
        except decimal.Inexact:
            raise ValidationError(
                f"amount has more decimal places than {cur.code} allows "
                f"({cur.minor_units}); round it explicitly with Money.rounded(amount, "
                "currency, rounding=RoundingMode.HALF_UP)"
            ) from None
        except decimal.InvalidOperation:
            raise ValidationError(_TOO_LARGE) from None
        if not exact:
            exact = exact.copy_abs()  # -0.00 -> 0.00
        object.__setattr__(self, "amount", exact)
        object.__setattr__(self, "currency", cur)

    # -- constructors ------------------------------------------------------------------

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: Currency | str) -> Money:
        """Convenience constructor that also parses text exactly: ``Money.of("12.30", "CNY")``.

        Text must be a plain decimal (``"-12.3"``, ``"1000"``): no exponent, spaces,
        underscores, thousands separators, NaN or Infinity. Floats are refused as in
        the constructor, and no rounding happens.
        """
        if isinstance(amount, str):
            if len(amount) > 4 * MAX_DIGITS:  # bound the work before parsing
                raise ValidationError(_TOO_LARGE)
            if _AMOUNT_RE.fullmatch(amount) is None:
                raise ValidationError(_AMOUNT_TEXT)
            amount = Decimal(amount)
        return cls(amount, currency)

    @classmethod
    def rounded(
        cls,
        amount: Decimal | int,
        currency: Currency | str,
        rounding: RoundingMode = DEFAULT_ROUNDING,
    ) -> Money:
        """``amount`` rounded to the currency's minor unit with ``rounding``.

        ``Money.rounded(Decimal("10.005"), "CNY")`` is ``Money('10.01', 'CNY')``;
        with ``RoundingMode.HALF_EVEN`` it is ``Money('10.00', 'CNY')``.
        """
        cur = _as_currency(currency)
        value = _as_decimal(amount)
        mode = _rounding_of(rounding)
        try:
            exact = value.quantize(cur._quantum, rounding=mode, context=_ROUNDING)
        except decimal.InvalidOperation:
            raise ValidationError(_TOO_LARGE) from None
        return cls(exact, cur)

    @classmethod
    def zero(cls, currency: Currency | str) -> Money:
        """Zero in ``currency``: ``Money.zero("CNY")`` is ``Money('0.00', 'CNY')``."""
        cur = _as_currency(currency)
        return _new(Decimal(0).quantize(cur._quantum), cur)

    @classmethod
    def from_minor_units(cls, units: int, currency: Currency | str) -> Money:
        """The amount of ``units`` minor units: ``from_minor_units(1050, "CNY")`` is 10.50 CNY.

        The inverse of :attr:`minor_units`; storage keeps money as this exact integer.
        """
        if type(units) is not int:
            if isinstance(units, int) and not isinstance(units, bool):
                units = int(units)
            else:
                raise ValidationError("minor units must be an int")
        cur = _as_currency(currency)
        if len(str(abs(units))) > MAX_DIGITS:
            raise ValidationError(_TOO_LARGE)
        return cls(Decimal(units).scaleb(-cur.minor_units, context=_EXACT), cur)

    @classmethod
    def total(cls, amounts: Iterable[Money], currency: Currency | str) -> Money:
        """The sum of ``amounts``, all in ``currency``; zero when ``amounts`` is empty.

        Use this instead of the builtin ``sum``, which starts from the int ``0``.
        """
        result = cls.zero(currency)
        for amount in amounts:
            result = result + amount
        return result

    # -- views -------------------------------------------------------------------------

    @property
    def minor_units(self) -> int:
        """The amount as an exact integer count of minor units: 10.50 CNY -> ``1050``."""
        return int(self.amount.scaleb(self.currency.minor_units, context=_EXACT))

    def is_zero(self) -> bool:
        """Whether the amount is zero."""
        return not self.amount

    def is_negative(self) -> bool:
        """Whether the amount is below zero."""
        return self.amount < 0

    def is_positive(self) -> bool:
        """Whether the amount is above zero."""
        return self.amount > 0

    def __repr__(self) -> str:
        return f"Money('{self.amount:f}', '{self.currency.code}')"

    def __str__(self) -> str:
        return f"{self.amount:f} {self.currency.code}"

    # -- arithmetic --------------------------------------------------------------------

    def _same_currency(self, other: Money, operation: str) -> Currency:
        cur = self.currency
        if other.currency is not cur and other.currency != cur:
            raise CurrencyMismatch(
                f"cannot {operation} {cur.code} and {other.currency.code}; "
                "convert one amount to the other currency first"
            )
        return cur

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        cur = self._same_currency(other, "add")
        try:
            return _new(_EXACT.add(self.amount, other.amount), cur)
        except decimal.Inexact:
            raise ValidationError(_TOO_LARGE) from None

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        cur = self._same_currency(other, "subtract")
        try:
            return _new(_EXACT.subtract(self.amount, other.amount), cur)
        except decimal.Inexact:
            raise ValidationError(_TOO_LARGE) from None

    def __neg__(self) -> Money:
        return _new(_EXACT.minus(self.amount), self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return _new(_EXACT.abs(self.amount), self.currency)

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount >= other.amount

    def multiply(self, factor: Decimal | int, rounding: RoundingMode = DEFAULT_ROUNDING) -> Money:
        """``self * factor``, rounded once to the minor unit with ``rounding``.

        ``Money.of("10.00", "CNY").multiply(Decimal("0.0035"))`` is ``0.04 CNY`` (0.035
        half-up). The product is computed exactly before the single rounding step.
        """
        value = _as_decimal(factor, "factor")
        mode = _rounding_of(rounding)
        try:
            product = _WIDE.multiply(self.amount, value)
            exact = product.quantize(self.currency._quantum, rounding=mode, context=_ROUNDING)
        except decimal.InvalidOperation:
            raise ValidationError(_TOO_LARGE) from None
        return Money(exact, self.currency)

    def allocate(self, ratios: Sequence[Decimal | int]) -> tuple[Money, ...]:
        """Split into parts proportional to ``ratios`` that sum exactly to ``self``.

        Largest remainder method, in whole minor units: every part first gets the floor
        of its exact share, then the minor units left over go one each to the parts with
        the largest remainders. **Ties go to the earlier index**, so
        ``Money.of("0.10", "CNY").allocate([1, 1, 1])`` is ``(0.04, 0.03, 0.03)``.
        Each part differs from its exact share by less than one minor unit, and a part
        whose ratio is zero is exactly zero. A negative amount allocates symmetrically:
        ``(-m).allocate(r) == tuple(-p for p in m.allocate(r))``.

        :param ratios: non-negative Decimals or ints, at least one above zero.
        :raises ~finance_crm.errors.ValidationError: empty ratios, a float, bool,
            negative or non-finite ratio, or all ratios zero.
        """
        if isinstance(ratios, str | bytes) or not ratios:
            raise ValidationError("allocate needs a non-empty sequence of ratios")
        values = [_as_decimal(r, "ratios") for r in ratios]
        if any(v < 0 for v in values):
            raise ValidationError("ratios must not be negative")
        # Scale all ratios to integers with one common power of ten (exact).
        shift = max(0, -min(_exponent(v) for v in values))
        weights = [int(v.scaleb(shift, context=_WIDE)) for v in values]
        if not any(weights):
            raise ValidationError("at least one ratio must be above zero")
        return tuple(_new_from_units(u, self.currency) for u in _split(self.minor_units, weights))

    def split_evenly(self, n: int) -> tuple[Money, ...]:
        """Split into ``n`` parts that differ by at most one minor unit and sum to ``self``.

        The same as ``allocate([1] * n)``: the earlier parts get the extra minor units,
        so ``Money.of("0.10", "CNY").split_evenly(3)`` is ``(0.04, 0.03, 0.03)``.
        """
        if type(n) is not int or n < 1:
            raise ValidationError("split_evenly needs a whole number of parts, 1 or more")
        total = self.minor_units
        q, r = divmod(abs(total), n)
        sign = -1 if total < 0 else 1
        cur = self.currency
        return tuple(_new_from_units(sign * (q + (i < r)), cur) for i in range(n))


def _split(total: int, weights: list[int]) -> list[int]:
    """Largest-remainder split of the integer ``total`` by non-negative integer weights."""
    whole = sum(weights)
    magnitude = abs(total)
    parts: list[int] = []
    remainders: list[int] = []
    for w in weights:
        q, r = divmod(magnitude * w, whole)
        parts.append(q)
        remainders.append(r)
    left = magnitude - sum(parts)
    if left:
        # Largest remainder first; equal remainders in index order.
        order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
        for i in order[:left]:
            parts[i] += 1
    if total < 0:
        return [-p for p in parts]
    return parts


def _new_from_units(units: int, cur: Currency) -> Money:
    amount = Decimal(units).scaleb(-cur.minor_units, context=_EXACT)
    if not amount:
        amount = amount.copy_abs()
    return _new(amount, cur)


@attrs.frozen
class MoneyRounding:
    """An institution's rounding setting, to inject where amounts get rounded.

    ``MoneyRounding()`` rounds half-up (common for the fen in Chinese retail banking);
    ``MoneyRounding(RoundingMode.HALF_EVEN)`` suits institutions that use banker's
    rounding.
    """

    mode: RoundingMode = attrs.field(default=DEFAULT_ROUNDING)
    """The rounding mode applied by :meth:`round` and :meth:`multiply`."""

    @mode.validator
    def _check_mode(self, _attribute: object, value: RoundingMode) -> None:
        _rounding_of(value)

    def round(self, amount: Decimal | int, currency: Currency | str) -> Money:
        """``Money.rounded(amount, currency, self.mode)``."""
        return Money.rounded(amount, currency, self.mode)

    def multiply(self, money: Money, factor: Decimal | int) -> Money:
        """``money.multiply(factor, self.mode)``."""
        return money.multiply(factor, self.mode)
