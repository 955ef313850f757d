"""Checks every adapter makes before storing a changed customer, worded the same."""

from __future__ import annotations

from collections.abc import Sequence

from finance_crm.errors import ConflictError, NotFoundError, ValidationError
from finance_crm.model.customers import Customer
from finance_crm.model.events import DomainEvent

__all__ = ["check_customer", "check_update"]


def check_customer(customer: object, events: Sequence[DomainEvent] = ()) -> None:
    """The argument is a customer and the events are its own."""
    if not isinstance(customer, Customer):
        raise ValidationError("expected a Customer", path="$")
    for event in events:
        if event.aggregate_id != str(customer.id):
            raise ValidationError("an event belongs to another customer", path="$.events")


def check_update(current: Customer | None, customer: Customer) -> None:
    """``customer`` may replace ``current`` (the stored state): it exists, was read at its
    present version (optimistic concurrency) and keeps its kind."""
    if current is None:
        raise NotFoundError("no customer with this id; add() it first")
    if current.version != customer.version:
        raise ConflictError(
            "the customer was changed by someone else since it was read "
            f"(stored version {current.version}, yours {customer.version}); "
            "reload it and apply your change again"
        )
    if type(current) is not type(customer):
        raise ValidationError("a customer cannot change kind", path="$.kind")
