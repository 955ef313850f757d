"""Tier rules: which tier a period-average daily AUM earns.

:class:`TierRule` is a one-method Protocol. The default, :class:`ThresholdTiers`, is a
list of bands with an optional hysteresis (保级缓冲) so that a customer near a boundary
does not flip every quarter. The SQL adapter compiles a ``ThresholdTiers`` into the
re-tiering statement; any other rule is applied in Python to the averages streamed
out of the database, which is slower but gives the same answers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Protocol

import attrs

from finance_crm.errors import ValidationError
from finance_crm.model.tiers import ELECTRONIC, ONE_TO_ONE, STANDARDISED, Tier
from finance_crm.money import Money

__all__ = ["ThresholdTiers", "TierRule", "broker_tiers"]


class TierRule(Protocol):
    """Which tier a customer's period-average daily AUM earns.

    ``current`` is the tier the customer is in now (``None`` before the first
    re-tiering), so a rule can keep a customer in place near a boundary.
    ``average_aum`` is in :attr:`currency`; balances in other currencies are not
    converted (finance_crm has no exchange-rate rule yet) and do not count.
    """

    @property
    def currency(self) -> str:
        """The currency the thresholds are in (ISO 4217)."""
        ...

    @property
    def tiers(self) -> tuple[Tier, ...]:
        """Every tier the rule can give, so stored tier codes can be read back."""
        ...

    def tier_for(self, average_aum: Money, current: Tier | None) -> Tier: ...


def _bands(value: object) -> tuple[tuple[Money, Tier], ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError("must be a sequence of (Money threshold, Tier) pairs", path="$.bands")
    bands = []
    for i, band in enumerate(value):
        if (
            not isinstance(band, tuple)
            or len(band) != 2
            or not isinstance(band[0], Money)
            or not isinstance(band[1], Tier)
        ):
            raise ValidationError("must be a (Money threshold, Tier) pair", path=f"$.bands[{i}]")
        bands.append((band[0], band[1]))
    return tuple(bands)


def _fraction(value: object) -> Decimal:
    if isinstance(value, float):
        raise ValidationError(
            "must be a Decimal or a string such as '0.1', not a float", path="$.hysteresis"
        )
    try:
        result = Decimal(value) if isinstance(value, str | int) else value
    except ArithmeticError:
        result = None
    if not isinstance(result, Decimal) or not result.is_finite() or not 0 <= result < 1:
        raise ValidationError(
            "must be a fraction from 0 (no buffer) up to, but not including, 1",
            path="$.hysteresis",
        )
    return result


@attrs.frozen
class ThresholdTiers:
    """Tiers by threshold: a customer is in the first band, highest first, whose
    threshold its average reaches.

    ``bands`` run from the highest threshold down; thresholds strictly fall, ranks
    strictly fall with them, and the last threshold is zero so every customer has a
    tier (a negative average also gets the last tier).

    ``hysteresis`` is a buffer below each threshold: a customer already in a tier keeps
    it while its average stays at or above ``threshold * (1 - hysteresis)``. Moves up
    are never delayed. With ``hysteresis=Decimal("0.1")`` a one-to-one customer
    (threshold 500,000) drops only below 450,000.

    >>> rule = broker_tiers(hysteresis=Decimal("0.1"))
    >>> rule.tier_for(Money.of("460000", "CNY"), None).code
    'standardised'
    >>> rule.tier_for(Money.of("460000", "CNY"), ONE_TO_ONE).code
    'one_to_one'
    """

    bands: tuple[tuple[Money, Tier], ...] = attrs.field(converter=_bands)
    hysteresis: Decimal = attrs.field(default=Decimal(0), converter=_fraction)
    # Derived once: tier_for runs once per customer in the Python path.
    _keep: Mapping[str, int] = attrs.field(init=False, repr=False, eq=False)
    _by_code: Mapping[str, Tier] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if not self.bands:
            raise ValidationError("give at least one band", path="$.bands")
        codes = [tier.code for _, tier in self.bands]
        if len(set(codes)) != len(codes):
            raise ValidationError("each tier may appear in one band only", path="$.bands")
        currencies = {threshold.currency for threshold, _ in self.bands}
        if len(currencies) != 1:
            raise ValidationError("every threshold must be in one currency", path="$.bands")
        for i, (higher, lower) in enumerate(zip(self.bands, self.bands[1:], strict=False)):
            if not lower[0] < higher[0]:
                raise ValidationError(
                    "thresholds must fall from the first band to the last",
                    path=f"$.bands[{i + 1}]",
                )
            if not lower[1].rank < higher[1].rank:
                raise ValidationError(
                    "a lower band must have a lower-ranked tier", path=f"$.bands[{i + 1}]"
                )
        if not self.bands[-1][0].is_zero():
            raise ValidationError(
                "the last band's threshold must be zero so that every customer has a tier",
                path=f"$.bands[{len(self.bands) - 1}]",
            )
        exponent = self.bands[0][0].currency.minor_units
        keep = {}
        for threshold, tier in self.bands:
            floor = threshold.amount * (1 - self.hysteresis) * (Decimal(10) ** exponent)
            keep[tier.code] = math.ceil(floor)
        object.__setattr__(self, "_keep", MappingProxyType(keep))
        object.__setattr__(self, "_by_code", MappingProxyType({t.code: t for t in self.tiers}))

    @property
    def currency(self) -> str:
        return self.bands[0][0].currency.code

    @property
    def tiers(self) -> tuple[Tier, ...]:
        return tuple(tier for _, tier in self.bands)

    @property
    def keep_thresholds(self) -> Mapping[str, int]:
        """Per tier code, the smallest average in minor units that keeps a customer
        already in the tier there (the threshold less the buffer, rounded up)."""
        return self._keep

    def tier_for(self, average_aum: Money, current: Tier | None) -> Tier:
        if not isinstance(average_aum, Money) or average_aum.currency.code != self.currency:
            raise ValidationError(
                f"the average must be Money in {self.currency}, the thresholds' currency",
                path="$.average_aum",
            )
        earned = self.bands[-1][1]
        for threshold, tier in self.bands:
            if average_aum >= threshold:
                earned = tier
                break
        keep = self._keep.get(current.code) if current is not None else None
        if (
            current is not None
            and keep is not None
            and current.rank > earned.rank
            and average_aum.minor_units >= keep
        ):
            return self._by_code[current.code]
        return earned


def broker_tiers(
    currency_code: str = "CNY", *, hysteresis: Decimal | str = Decimal(0)
) -> ThresholdTiers:
    """The brokerage example: 500,000 and above one-to-one manager service; 100,000 up
    to 500,000 standardised service; below that electronic service."""
    return ThresholdTiers(
        (
            (Money.of("500000", currency_code), ONE_TO_ONE),
            (Money.of("100000", currency_code), STANDARDISED),
            (Money.of("0", currency_code), ELECTRONIC),
        ),
        hysteresis=_fraction(hysteresis),
    )
