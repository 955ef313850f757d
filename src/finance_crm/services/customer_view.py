"""The customer view (客户视图): what a manager needs about one customer, in one call.

:func:`customer_view` gathers, as the actor may see them (names and account numbers
masked unless the actor's role unmasks them; PermissionDenied outside the actor's
scope): tier and since when, AUM now and its change over the quarter, products held,
risk level, last contact and by whom, the next due service tasks and how many are open
or overdue, this year's contribution, the managers, and the marketing consents in
force.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

import attrs

from finance_crm.clock import business_date
from finance_crm.errors import ValidationError
from finance_crm.ids import ActivityId, CustomerId, StaffId
from finance_crm.model.accounts import AccountKind
from finance_crm.model.activities import ActivityKind
from finance_crm.model.customers import Channel, RiskLevel
from finance_crm.model.service_standards import ServiceTask
from finance_crm.money import Money
from finance_crm.ports import UnitOfWork
from finance_crm.security import PersonalDataKind
from finance_crm.services.balances import quarter_of

__all__ = ["CustomerView", "HeldProduct", "customer_view"]

_DAY = datetime.timedelta(days=1)


@attrs.frozen(kw_only=True)
class HeldProduct:
    """One open account or holding, with its latest end-of-day balance (None when no
    balance has been fed yet)."""

    account_number: str  # masked as the actor may see it
    kind: AccountKind
    product_code: str | None
    currency: str
    balance: Money | None


@attrs.frozen(kw_only=True)
class CustomerView:
    """One customer at a glance, on business day ``on``.

    ``aum`` is per currency at the end of ``on`` (the last balance carried forward);
    ``aum_change`` is the change since the end of the previous quarter. Loans are
    products held but never AUM.
    """

    on: datetime.date
    customer_id: CustomerId
    customer_number: str
    name: str  # masked as the actor may see it
    kind: str
    status: str
    risk_level: RiskLevel | None
    tier: str | None
    tier_name: str | None
    tier_since: datetime.date | None
    aum: Mapping[str, Money]
    aum_change: Mapping[str, Money]
    products: tuple[HeldProduct, ...]
    last_contact_on: datetime.date | None
    last_contact_by: StaffId | None
    last_contact_kind: ActivityKind | None
    last_contact_id: ActivityId | None
    next_tasks: tuple[ServiceTask, ...]
    open_tasks: int
    overdue_tasks: int
    contribution: Mapping[str, Money]  # this year's months to date (贡献度), per currency
    primary_manager: StaffId | None
    primary_manager_name: str | None  # masked as the actor may see it
    secondary_manager: StaffId | None
    consents: tuple[Channel, ...]  # channels with a marketing consent in force on ``on``


def customer_view(
    uow: UnitOfWork,
    customer_id: CustomerId,
    *,
    on: datetime.date | None = None,
    next_tasks: int = 5,
) -> CustomerView:
    """The customer view on ``on`` (default today), with up to ``next_tasks`` of the
    open tasks, soonest due first."""
    if on is None:
        today = business_date(uow.clock, uow.timezone)
        on = datetime.date(today.year, today.month, today.day)
    elif not isinstance(on, datetime.date) or isinstance(on, datetime.datetime):
        raise ValidationError("must be a business date (a date, not a datetime)", path="$.on")
    if type(next_tasks) is not int or next_tasks < 0:
        raise ValidationError("must be a whole number, 0 or more", path="$.next_tasks")
    customer = uow.customers.get(customer_id)  # scope and existence
    mask = uow.masking.mask
    name = customer.display_name
    if customer.kind.value == "individual":
        name = mask(PersonalDataKind.NAME, name)

    tier = uow.tiers.on(customer_id, on)
    accounts = [a for a in uow.accounts.of_customer(customer_id) if a.opened_on <= on]
    quarter_start, _ = quarter_of(on)
    before_quarter = quarter_start - _DAY
    latest: dict[object, tuple[datetime.date, Money]] = {}
    at_quarter: dict[object, Money] = {}
    for balance in uow.balances.of_accounts([a.id for a in accounts], before_quarter, on):
        latest[balance.account_id] = (balance.day, balance.balance)
        if balance.day <= before_quarter:
            at_quarter[balance.account_id] = balance.balance
    aum: dict[str, Money] = {}
    aum_then: dict[str, Money] = {}
    products = []
    for account in accounts:
        if account.open_on(on):
            held = latest.get(account.id)
            products.append(
                HeldProduct(
                    account_number=mask(PersonalDataKind.ACCOUNT_NUMBER, account.account_number),
                    kind=account.kind,
                    product_code=account.product_code,
                    currency=account.currency,
                    balance=held[1] if held else None,
                )
            )
        if not account.kind.counts_in_aum:
            continue
        zero = Money.zero(account.currency)
        now = latest[account.id][1] if account.id in latest and account.open_on(on) else zero
        then = at_quarter.get(account.id, zero) if account.open_on(before_quarter) else zero
        aum[account.currency] = aum.get(account.currency, zero) + now
        aum_then[account.currency] = aum_then.get(account.currency, zero) + then

    contact = uow.activities.last_contact(customer_id)
    contact_on = None
    if contact is not None and contact.completed_at is not None:
        day = business_date(contact.completed_at, uow.timezone)
        contact_on = datetime.date(day.year, day.month, day.day)
    open_tasks = uow.service_tasks.of_customer(customer_id, open_only=True)
    contribution: dict[str, Money] = {}
    for figure in uow.contributions.of_customer(
        customer_id, datetime.date(on.year, 1, 1), datetime.date(on.year, on.month, 1)
    ):
        code = figure.amount.currency.code
        contribution[code] = contribution.get(code, Money.zero(code)) + figure.amount
    assignment = uow.assignments.find(customer_id)
    primary = assignment.primary if assignment else None
    primary_name = None
    if primary is not None:
        member = uow.organization.find_staff(primary)
        primary_name = mask(PersonalDataKind.NAME, member.name) if member else None
    return CustomerView(
        on=on,
        customer_id=customer.id,
        customer_number=customer.customer_number,
        name=name,
        kind=customer.kind.value,
        status=customer.status.value,
        risk_level=customer.risk_level,
        tier=tier.tier.code if tier else None,
        tier_name=tier.tier.name if tier else None,
        tier_since=tier.valid_from if tier else None,
        aum=dict(sorted(aum.items())),
        aum_change={code: aum[code] - aum_then[code] for code in sorted(aum)},
        products=tuple(products),
        last_contact_on=contact_on,
        last_contact_by=contact.owner if contact else None,
        last_contact_kind=contact.kind if contact else None,
        last_contact_id=contact.id if contact else None,
        next_tasks=tuple(open_tasks[:next_tasks]),
        open_tasks=len(open_tasks),
        overdue_tasks=sum(t.due_on < on for t in open_tasks),
        contribution=dict(sorted(contribution.items())),
        primary_manager=primary,
        primary_manager_name=primary_name,
        secondary_manager=assignment.secondary if assignment else None,
        consents=tuple(
            sorted(
                {c.channel for c in customer.consents if c.is_in_force(on, uow.timezone)},
                key=lambda c: c.value,
            )
        ),
    )
