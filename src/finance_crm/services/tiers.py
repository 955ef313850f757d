"""Tiers (客户分层): re-tier the book from period-average AUM, and read tiers back.

* :func:`retier_book` re-tiers every active and dormant customer from the period-average
  daily AUM (季日均) of a period, by default the last complete quarter, effective the
  day after it. Moves are recorded effective-dated, audited, and raised as
  :class:`~finance_crm.model.tiers.TierChanged` events, up and down; on SQL stores it
  is a few set-based statements however large the book.
* :func:`customer_tier` and :func:`tier_history` answer "which tier, since when" for
  one customer, as the actor may see them.

The rule is a :class:`~finance_crm.rules.tiers.TierRule`; the default is the
brokerage example (:func:`~finance_crm.rules.tiers.broker_tiers`).
"""

from __future__ import annotations

import datetime

from finance_crm.clock import business_date
from finance_crm.ids import CustomerId
from finance_crm.model.tiers import RetierReport, TierRecord
from finance_crm.ports import UnitOfWork
from finance_crm.rules.tiers import TierRule, broker_tiers
from finance_crm.services.balances import quarter_of

__all__ = ["customer_tier", "last_complete_quarter", "retier_book", "tier_history"]


def last_complete_quarter(day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The calendar quarter before the one ``day`` is in."""
    start, _ = quarter_of(day)
    return quarter_of(start - datetime.timedelta(days=1))


def retier_book(
    uow: UnitOfWork,
    rule: TierRule | None = None,
    *,
    period: tuple[datetime.date, datetime.date] | None = None,
    effective_on: datetime.date | None = None,
) -> RetierReport:
    """Re-tier every active and dormant customer; see
    :meth:`~finance_crm.ports.TierRepository.retier` for exactly what is written.

    ``period`` defaults to the last complete quarter before today's business date and
    ``effective_on`` to the day after the period. Run it in a unit of work of a
    head-office or system actor, and commit.
    """
    if rule is None:
        rule = broker_tiers()
    if period is None:
        period = last_complete_quarter(business_date(uow.clock, uow.timezone))
    start, end = period
    if effective_on is None and isinstance(end, datetime.date):
        effective_on = end + datetime.timedelta(days=1)
    return uow.tiers.retier(rule, period_start=start, period_end=end, effective_on=effective_on)


def customer_tier(
    uow: UnitOfWork, customer_id: CustomerId, day: datetime.date | None = None
) -> TierRecord | None:
    """The customer's tier on ``day`` (default: the current one), if it has one.
    NotFoundError or PermissionDenied as for reading the customer."""
    uow.customers.get(customer_id)
    if day is None:
        return uow.tiers.current(customer_id)
    return uow.tiers.on(customer_id, day)


def tier_history(uow: UnitOfWork, customer_id: CustomerId) -> list[TierRecord]:
    """Every tier the customer has been in, oldest first."""
    uow.customers.get(customer_id)
    return uow.tiers.history(customer_id)
