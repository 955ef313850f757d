"""Accounts and their end-of-day balances (账户, 日终余额): read models fed by core systems.

The CRM does not keep the ledger. Core banking, the fund and securities systems and
the data warehouse (数据仓库接口) feed it accounts and one balance per account per
business day; from those it computes assets under management (AUM) and the
period-average daily AUM that tiers are set by (季日均).

An account's balance is in the account's currency, as an exact ``Money``. A loan's
balance is what the customer owes: it is an account of the relationship but not an
asset, so it does not count in AUM (:attr:`AccountKind.counts_in_aum`).
"""

from __future__ import annotations

import datetime
import enum
import re
from typing import Any

import attrs

from finance_crm.errors import ValidationError
from finance_crm.ids import AccountId, CustomerId, new_account_id
from finance_crm.model._fields import business_day, one_of, plain_day
from finance_crm.money import Money, currency
from finance_crm.security import PersonalDataKind, masked

__all__ = [
    "Account",
    "AccountKind",
    "DailyBalance",
]

_NUMBER = re.compile(r"[A-Za-z0-9\-]{1,40}")


class AccountKind(enum.Enum):
    """What an account holds."""

    DEPOSIT = "deposit"  # 存款 (demand and time)
    WEALTH = "wealth"  # 理财产品
    FUND = "fund"  # 基金
    SECURITIES = "securities"  # 证券账户 (market value of holdings plus cash)
    INSURANCE = "insurance"  # 保险 (cash value)
    LOAN = "loan"  # 贷款 (what the customer owes)

    @property
    def counts_in_aum(self) -> bool:
        """Whether balances of this kind are assets under management (loans are not)."""
        return self is not AccountKind.LOAN


def _account_number(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _NUMBER.fullmatch(value):
        raise ValidationError(
            "must be 1-40 letters, digits or '-' (the core system's account number)",
            path="$.account_number",
        )


def _currency_code(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _check_currency(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise ValidationError("must be an ISO 4217 code such as CNY", path="$.currency")
    try:
        currency(value)
    except ValidationError as exc:
        raise exc.under("$.currency") from None


def _product_code(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 40):
        raise ValidationError(
            "must be None or text of at most 40 characters", path="$.product_code"
        )


@attrs.frozen(kw_only=True)
class Account:
    """A customer's account or holding as the core system reports it.

    >>> import datetime
    >>> from finance_crm.ids import new_customer_id
    >>> a = Account(customer_id=new_customer_id(), account_number="6222020200112233",
    ...             kind=AccountKind.DEPOSIT, currency="CNY",
    ...             opened_on=datetime.date(2024, 1, 5))
    >>> "6222020200112233" in repr(a)
    False
    """

    id: AccountId = attrs.field(factory=new_account_id)
    customer_id: CustomerId
    account_number: str = attrs.field(
        validator=_account_number, repr=masked(PersonalDataKind.ACCOUNT_NUMBER)
    )
    kind: AccountKind = attrs.field(validator=one_of(AccountKind))
    currency: str = attrs.field(converter=_currency_code, validator=_check_currency)
    opened_on: datetime.date = attrs.field(converter=plain_day, validator=business_day())
    closed_on: datetime.date | None = attrs.field(
        default=None, converter=plain_day, validator=business_day(optional=True)
    )
    product_code: str | None = attrs.field(default=None, validator=_product_code)
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if self.closed_on is not None and self.closed_on < self.opened_on:
            raise ValidationError("an account cannot close before it opened", path="$.closed_on")

    def open_on(self, day: datetime.date) -> bool:
        """Whether the account was open at the end of ``day``."""
        return self.opened_on <= day and (self.closed_on is None or day < self.closed_on)


@attrs.frozen
class DailyBalance:
    """An account's end-of-day balance on one business day."""

    account_id: AccountId
    day: datetime.date
    balance: Money
