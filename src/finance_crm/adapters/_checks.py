"""Checks every adapter makes before storing a changed customer, worded the same."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from finance_crm.errors import (
    BusinessRuleViolation,
    ConflictError,
    DuplicateError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from finance_crm.ids import OrgUnitCode, StaffId
from finance_crm.model.assignments import AssignedManager, Assignment
from finance_crm.model.customers import Customer
from finance_crm.model.events import DomainEvent
from finance_crm.model.organization import OrgUnit, StaffMember

__all__ = [
    "assignment_conflict",
    "check_assignment",
    "check_customer",
    "check_first_assignment",
    "check_new_unit",
    "check_serving",
    "check_staff",
    "check_staff_update",
    "check_update",
    "departure_refused",
    "new_managers_out_of_scope",
    "out_of_scope",
    "staff_conflict",
]


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


def check_assignment(assignment: object, events: Sequence[DomainEvent] = ()) -> None:
    """The argument is an assignment and the events are its customer's."""
    if not isinstance(assignment, Assignment):
        raise ValidationError("expected an Assignment", path="$")
    for event in events:
        if event.aggregate_id != str(assignment.customer_id):
            raise ValidationError("an event belongs to another customer", path="$.events")


def check_serving(
    managers: Sequence[AssignedManager], staff: Mapping[StaffId, StaffMember | None]
) -> None:
    """Every manager is a stored, active staff member (``staff`` maps id -> record)."""
    for m in managers:
        found = staff.get(m.staff_id)
        if found is None:
            raise NotFoundError(
                f"no staff member {m.staff_id}; add them with uow.organization.add_staff()"
            )
        if not found.is_active:
            raise BusinessRuleViolation(
                f"staff member {m.staff_id} has departed and cannot be assigned; "
                "choose an active manager"
            )


def assignment_conflict() -> ConflictError:
    return ConflictError(
        "another unit of work changed this customer's managers first; nothing was "
        "written: reload the assignment and retry"
    )


def departure_refused(blockers: Sequence[object], total: int) -> BusinessRuleViolation:
    shown = ", ".join(str(b) for b in blockers[:20])
    more = f" and {total - 20} more" if total > 20 else ""
    return BusinessRuleViolation(
        f"this staff member still serves {total} customers ({shown}{more}); hand the book "
        "over first (finance_crm.services.hand_over_book) so no customer is left without "
        "an active primary manager"
    )


def out_of_scope() -> PermissionDenied:
    return PermissionDenied(
        "this customer's managers are outside your access scope; ask a supervisor or "
        "branch head whose scope covers them"
    )


def new_managers_out_of_scope() -> PermissionDenied:
    return PermissionDenied(
        "the new managers would be outside your access scope; a supervisor or "
        "branch head whose scope covers them must make this change"
    )


def check_new_unit(unit: object, find_unit: Callable[[OrgUnitCode], OrgUnit | None]) -> OrgUnit:
    """``unit`` may be added: a unit, a new code, under an existing parent's path."""
    if not isinstance(unit, OrgUnit):
        raise ValidationError("expected an OrgUnit", path="$")
    if find_unit(unit.code) is not None:
        raise DuplicateError("an organisation unit with this code already exists")
    if unit.parent is not None:
        parent = find_unit(unit.parent)
        if parent is None:
            raise NotFoundError("the parent unit does not exist; add it first")
        if unit.path != f"{parent.path}{unit.code}/":
            raise ValidationError(
                "the path must be the parent's path, then this code", path="$.path"
            )
    return unit


def check_first_assignment(assignment: object, events: Sequence[DomainEvent]) -> Assignment:
    """``assignment`` is a customer's first (version 0) and the events are its own."""
    check_assignment(assignment, events)
    assert isinstance(assignment, Assignment)
    if assignment.version != 0:
        raise ValidationError(
            "a first assignment has version 0; use update() to change an existing one",
            path="$.version",
        )
    return assignment


def check_staff(staff: object, events: Sequence[DomainEvent] = ()) -> StaffMember:
    """The argument is a staff record and the events are its own."""
    if not isinstance(staff, StaffMember):
        raise ValidationError("expected a StaffMember", path="$")
    for event in events:
        if not isinstance(event, DomainEvent) or event.aggregate_id != staff.id:
            raise ValidationError("an event belongs to another record", path="$.events")
    return staff


def staff_conflict() -> ConflictError:
    return ConflictError(
        "the staff record was changed by someone else since it was read; "
        "reload it and apply your change again"
    )


def check_staff_update(
    current: StaffMember | None,
    staff: StaffMember,
    find_unit: Callable[[OrgUnitCode], OrgUnit | None],
) -> StaffMember:
    """``staff`` may replace the stored ``current``: it exists, was read at its present
    version, and its unit exists. Returns ``current``."""
    if current is None:
        raise NotFoundError("no staff member with this id; add_staff() first")
    if current.version != staff.version:
        raise staff_conflict()
    if find_unit(staff.unit) is None:
        raise NotFoundError("the staff member's unit does not exist; add it first")
    return current
