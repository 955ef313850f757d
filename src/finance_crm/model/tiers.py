"""Customer tiers (客户分层): the service level a customer's assets earn.

A :class:`Tier` is a named service level with a ``rank`` (higher ranks get more
personal service). Which tier a customer is in follows from a period-average daily AUM
(季日均) through a :class:`~finance_crm.rules.tiers.TierRule`; re-tiering a book
(:func:`finance_crm.services.tiers.retier_book`) records each customer's tier as an
effective-dated :class:`TierRecord` and raises :class:`TierChanged` when it moves, so
"which tier was this customer in on 30 June?" has an answer.

The brokerage example of the domain ships as the three standard tiers:
:data:`ONE_TO_ONE` (一对一服务), :data:`STANDARDISED` (标准化服务) and
:data:`ELECTRONIC` (电子化服务).
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Mapping
from typing import Any

import attrs

from finance_crm.errors import ValidationError
from finance_crm.ids import CustomerId
from finance_crm.model._fields import business_day, name_of_up_to_200, one_of, plain_day
from finance_crm.model.events import DomainEvent
from finance_crm.money import Money

__all__ = [
    "ELECTRONIC",
    "ONE_TO_ONE",
    "STANDARDISED",
    "RetierReport",
    "Tier",
    "TierChanged",
    "TierDirection",
    "TierRecord",
]

_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _tier_code(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise ValidationError(
            "must be 1-40 lower-case letters, digits or '_', starting with a letter "
            "(such as 'one_to_one')",
            path=f"$.{attribute.name}",
        )


def _rank(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or not 0 <= value <= 1000:
        raise ValidationError("must be a whole number from 0 to 1000", path="$.rank")


@attrs.frozen
class Tier:
    """A service level. ``rank`` orders tiers: a move to a higher rank is an upgrade.

    >>> ONE_TO_ONE.rank > STANDARDISED.rank > ELECTRONIC.rank
    True
    """

    code: str = attrs.field(validator=_tier_code)
    name: str = attrs.field(validator=name_of_up_to_200)
    rank: int = attrs.field(validator=_rank)


ONE_TO_ONE = Tier("one_to_one", "One-to-one manager service (一对一服务)", 30)
STANDARDISED = Tier("standardised", "Standardised service (标准化服务)", 20)
ELECTRONIC = Tier("electronic", "Electronic channel service (电子化服务)", 10)


class TierDirection(enum.Enum):
    """Which way a tier change went."""

    INITIAL = "initial"  # the customer's first tier
    UP = "up"
    DOWN = "down"
    SIDEWAYS = "sideways"  # another tier of the same rank (a bank's own tier set)

    @classmethod
    def between(cls, previous: Tier | None, current: Tier) -> TierDirection:
        if previous is None:
            return cls.INITIAL
        if current.rank > previous.rank:
            return cls.UP
        if current.rank < previous.rank:
            return cls.DOWN
        return cls.SIDEWAYS


def _is_tier(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Tier):
        raise ValidationError("must be a Tier", path="$.tier")


def _money(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Money):
        raise ValidationError("must be Money", path=f"$.{attribute.name}")


@attrs.frozen(kw_only=True)
class TierRecord:
    """The tier a customer was in from ``valid_from`` (inclusive) until ``valid_to``
    (exclusive; ``None`` while it is the current tier), and the figure that set it:
    ``average_aum`` over ``period_start``-``period_end``."""

    customer_id: CustomerId
    tier: Tier = attrs.field(validator=_is_tier)
    valid_from: datetime.date = attrs.field(converter=plain_day, validator=business_day())
    valid_to: datetime.date | None = attrs.field(
        default=None, converter=plain_day, validator=business_day(optional=True)
    )
    average_aum: Money = attrs.field(validator=_money)
    period_start: datetime.date = attrs.field(converter=plain_day, validator=business_day())
    period_end: datetime.date = attrs.field(converter=plain_day, validator=business_day())

    def __attrs_post_init__(self) -> None:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValidationError("a tier must be valid for at least one day", path="$.valid_to")
        if self.period_end < self.period_start:
            raise ValidationError("the period ends before it starts", path="$.period_end")

    def active_on(self, day: datetime.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@attrs.frozen(kw_only=True)
class TierChanged(DomainEvent):
    """A customer's tier moved (or was set for the first time) from ``effective_on``.

    A tier move is a reason to contact the customer: service standards can react to it
    (:class:`~finance_crm.model.service.EventStandard`).
    """

    customer_id: CustomerId
    previous: str | None  # tier code
    current: str
    direction: TierDirection = attrs.field(validator=one_of(TierDirection))
    effective_on: datetime.date
    average_aum: Money

    @property
    def aggregate_id(self) -> str:
        return str(self.customer_id)


@attrs.frozen(kw_only=True)
class RetierReport:
    """What re-tiering a book did: how many customers it evaluated and how their tiers
    moved from ``effective_on``. ``by_tier`` counts the customers in each tier after
    the run (tier code -> customers)."""

    period_start: datetime.date
    period_end: datetime.date
    effective_on: datetime.date
    evaluated: int
    unchanged: int
    initial: int
    up: int
    down: int
    sideways: int
    by_tier: Mapping[str, int]

    @property
    def changed(self) -> int:
        """Customers whose tier was set or moved by this run."""
        return self.initial + self.up + self.down + self.sideways
