"""Customer list pages, shared by the adapters: argument checks, cursors, summaries."""

from __future__ import annotations

import uuid

from finance_crm.errors import ValidationError
from finance_crm.ids import CustomerId, StaffId
from finance_crm.model.customers import Customer, CustomerKind
from finance_crm.ports import CustomerOrder, CustomerSummary
from finance_crm.security import MaskingRule, PersonalDataKind

__all__ = ["MAX_PAGE", "check_page", "parse_cursor", "summarise"]

MAX_PAGE = 500


def check_page(order: object, limit: object) -> None:
    if not isinstance(order, CustomerOrder):
        raise ValidationError("order must be a CustomerOrder", path="$.order")
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit is a whole number from 1 to {MAX_PAGE}", path="$.limit")


def parse_cursor(cursor: object) -> CustomerId:
    """The customer id a cursor names (a cursor never holds a personal value)."""
    try:
        return CustomerId(uuid.UUID(str(cursor)))
    except ValueError:
        raise ValidationError("not a cursor from a previous page", path="$.cursor") from None


def summarise(customer: Customer, masking: MaskingRule, primary: StaffId | None) -> CustomerSummary:
    """A list line; an individual's name is masked (a company's name is not personal)."""
    name = customer.display_name
    if customer.kind is CustomerKind.INDIVIDUAL:
        name = masking.mask(PersonalDataKind.NAME, name)
    return CustomerSummary(
        id=customer.id,
        customer_number=customer.customer_number,
        kind=customer.kind.value,
        status=customer.status.value,
        name=name,
        risk_level=customer.risk_level.value if customer.risk_level is not None else None,
        primary_manager=primary,
    )
