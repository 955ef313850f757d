"""Transactions, securities trades and contribution (交易, 证券交易, 贡献度): read
models fed by core systems and the management-accounting system.

A :class:`Transaction` is one booked movement on an account, as the core system
reports it: a deposit, a withdrawal, a fund subscription, a premium, a securities buy
or sell (a trade names its instrument and the instrument's sector, so campaigns can
find "customers who trade bank stocks"). Amounts are exact and positive, in the
account's currency; the kind says which way the money went.

A :class:`ContributionFigure` is what a customer brought the institution in one
month (fee income, net interest margin: 贡献度), as the management-accounting system
computes it; the CRM sums it over periods, it does not compute it.
"""

from __future__ import annotations

import datetime
import enum
import re
from decimal import Decimal
from typing import Any

import attrs

from finance_crm.errors import ValidationError
from finance_crm.ids import AccountId, CustomerId, TransactionId, new_transaction_id
from finance_crm.model._fields import business_day, one_of, plain_day
from finance_crm.money import Money

__all__ = [
    "ContributionFigure",
    "Transaction",
    "TransactionKind",
]

_REFERENCE = re.compile(r"[A-Za-z0-9._:/\-]{1,64}")
_INSTRUMENT = re.compile(r"[A-Za-z0-9._\-]{1,32}")


class TransactionKind(enum.Enum):
    """What a transaction did."""

    DEPOSIT = "deposit"  # 存入
    WITHDRAWAL = "withdrawal"  # 支取
    TRANSFER_IN = "transfer_in"  # 转入
    TRANSFER_OUT = "transfer_out"  # 转出
    SUBSCRIPTION = "subscription"  # 申购 / 认购 (fund, wealth product)
    REDEMPTION = "redemption"  # 赎回
    BUY = "buy"  # 证券买入
    SELL = "sell"  # 证券卖出
    PREMIUM = "premium"  # 保费
    DRAWDOWN = "drawdown"  # 放款
    REPAYMENT = "repayment"  # 还款
    FEE = "fee"  # 手续费
    INTEREST = "interest"  # 利息

    @property
    def is_trade(self) -> bool:
        """A securities trade, which names its instrument."""
        return self in (TransactionKind.BUY, TransactionKind.SELL)


def _reference(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _REFERENCE.fullmatch(value):
        raise ValidationError(
            "must be the core system's transaction reference: 1-64 letters, digits or "
            "'.', '_', ':', '/', '-'",
            path="$.reference",
        )


def _positive_money(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Money) or not value.is_positive():
        raise ValidationError(
            "must be a positive Money amount (the kind says which way it went)",
            path=f"$.{attribute.name}",
        )


def _instrument(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not _INSTRUMENT.fullmatch(value)):
        raise ValidationError(
            "must be an instrument code such as 600036.SH (letters, digits, '.', '_', '-')",
            path="$.instrument",
        )


def _sector(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 60):
        raise ValidationError("must be a sector name of at most 60 characters", path="$.sector")


def _quantity(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, float) or not isinstance(value, Decimal):
        raise ValidationError("must be a Decimal (never a float)", path="$.quantity")
    exponent = value.as_tuple().exponent
    if not value.is_finite() or value <= 0 or not isinstance(exponent, int) or exponent < -6:
        raise ValidationError(
            "must be a positive quantity with at most 6 decimal places", path="$.quantity"
        )
    if value.adjusted() >= 18:  # the column holds its text, at most 40 characters
        raise ValidationError(
            "is too large: at most 18 digits before the decimal point", path="$.quantity"
        )


@attrs.frozen(kw_only=True)
class Transaction:
    """One booked transaction on an account.

    ``reference`` is the core system's id, unique per account. A trade (``BUY``,
    ``SELL``) names its ``instrument`` and may give its ``sector`` and ``quantity``;
    other kinds name none.
    """

    id: TransactionId = attrs.field(factory=new_transaction_id)
    account_id: AccountId
    day: datetime.date = attrs.field(converter=plain_day, validator=business_day())
    reference: str = attrs.field(validator=_reference)
    kind: TransactionKind = attrs.field(validator=one_of(TransactionKind))
    amount: Money = attrs.field(validator=_positive_money)
    instrument: str | None = attrs.field(default=None, validator=_instrument)
    sector: str | None = attrs.field(default=None, validator=_sector)
    quantity: Decimal | None = attrs.field(default=None, validator=_quantity)

    def __attrs_post_init__(self) -> None:
        if self.kind.is_trade and self.instrument is None:
            raise ValidationError("a trade names its instrument", path="$.instrument")
        if not self.kind.is_trade:
            for field in ("instrument", "sector", "quantity"):
                if getattr(self, field) is not None:
                    raise ValidationError(
                        "only a trade (buy, sell) has an instrument, sector or quantity",
                        path=f"$.{field}",
                    )


def _month(value: object) -> object:
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return datetime.date(value.year, value.month, 1)
    return value


def _money(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Money):
        raise ValidationError("must be Money", path=f"$.{attribute.name}")


@attrs.frozen(kw_only=True)
class ContributionFigure:
    """A customer's contribution (贡献度) in one month, as fed. ``month`` is the month's
    first day; the amount may be negative (a loss-making month)."""

    customer_id: CustomerId
    month: datetime.date = attrs.field(converter=_month, validator=business_day())
    amount: Money = attrs.field(validator=_money)
