"""The in-memory organisation and assignment repositories (see ``memory.py``).

They keep the SQL adapter's promises: writes are visible to their own unit of work at
once and to others on commit, versions are checked at commit, every write is audited,
reads are filtered by the actor's scope and out-of-scope writes are refused.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING

import attrs

from finance_crm.access import AccessScope
from finance_crm.adapters._checks import (
    assignment_conflict,
    check_assignment,
    check_first_assignment,
    check_new_unit,
    check_serving,
    check_staff,
    check_staff_update,
    departure_refused,
    new_managers_out_of_scope,
    out_of_scope,
)
from finance_crm.auditing import assignment_changes, staff_changes, unit_changes
from finance_crm.clock import business_date
from finance_crm.errors import (
    DuplicateError,
    NotFoundError,
    ValidationError,
)
from finance_crm.ids import CustomerId, OrgUnitCode, StaffId
from finance_crm.model.assignments import Assignment, AssignmentRecord, ManagerRole
from finance_crm.model.events import DomainEvent
from finance_crm.model.organization import EmploymentStatus, OrgUnit, StaffMember
from finance_crm.ports import ReasonCount

if TYPE_CHECKING:
    from finance_crm.adapters.memory import InMemoryUnitOfWork

__all__ = ["HistoryRow", "MemoryAssignments", "MemoryOrganization"]


@attrs.frozen
class HistoryRow:
    """A stored version of an assignment, with what the reason report groups by."""

    record: AssignmentRecord
    primary_unit: OrgUnitCode
    day: datetime.date


class MemoryOrganization:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    # -- units -----------------------------------------------------------------------

    def find_unit(self, code: OrgUnitCode) -> OrgUnit | None:
        pending = self._uow._pending.units.get(code)
        if pending is not None:
            return pending[1]
        return self._uow._store._state.units.get(code)

    def get_unit(self, code: OrgUnitCode) -> OrgUnit:
        unit = self.find_unit(code)
        if unit is None:
            raise NotFoundError("no organisation unit with this code")
        return unit

    def units(self) -> list[OrgUnit]:
        codes = set(self._uow._store._state.units) | set(self._uow._pending.units)
        return sorted((self.get_unit(c) for c in codes), key=lambda u: u.path)

    def add_unit(self, unit: OrgUnit) -> None:
        uow = self._uow
        uow._check_writable()
        check_new_unit(unit, self.find_unit)
        stored = attrs.evolve(unit, version=1)
        uow._pending.units[unit.code] = (None, stored)
        uow._audit("org_unit.added", "org_unit", unit.code, 1, unit_changes(None, stored))

    # -- staff -----------------------------------------------------------------------

    def find_staff(self, staff_id: StaffId) -> StaffMember | None:
        pending = self._uow._pending.staff.get(staff_id)
        if pending is not None:
            return pending[1]
        return self._uow._store._state.staff.get(staff_id)

    def get_staff(self, staff_id: StaffId) -> StaffMember:
        staff = self.find_staff(staff_id)
        if staff is None:
            raise NotFoundError("no staff member with this id")
        return staff

    def staff(
        self, *, unit: OrgUnitCode | None = None, include_subunits: bool = True
    ) -> list[StaffMember]:
        ids = set(self._uow._store._state.staff) | set(self._uow._pending.staff)
        everyone = [self.get_staff(i) for i in sorted(ids)]
        if unit is None:
            return everyone
        root = self.get_unit(unit)
        if not include_subunits:
            return [s for s in everyone if s.unit == unit]
        return [s for s in everyone if self.path_of(s).startswith(root.path)]

    def path_of(self, staff: StaffMember) -> str:
        unit = self.find_unit(staff.unit)
        return unit.path if unit is not None else ""

    def add_staff(self, staff: StaffMember) -> None:
        uow = self._uow
        uow._check_writable()
        if not isinstance(staff, StaffMember):
            raise ValidationError("expected a StaffMember", path="$")
        if self.find_staff(staff.id) is not None:
            raise DuplicateError("a staff member with this id already exists")
        if self.find_unit(staff.unit) is None:
            raise NotFoundError("the staff member's unit does not exist; add it first")
        stored = attrs.evolve(staff, version=1)
        uow._pending.staff[staff.id] = (None, stored)
        uow._audit("staff.added", "staff", staff.id, 1, staff_changes(None, stored))

    def update_staff(self, staff: StaffMember, events: Sequence[DomainEvent] = ()) -> StaffMember:
        uow = self._uow
        uow._check_writable()
        check_staff(staff, events)
        current = check_staff_update(self.find_staff(staff.id), staff, self.find_unit)
        if staff.status is EmploymentStatus.DEPARTED and current.is_active:
            blockers = self._uow.assignments.customers_served_by(staff.id)
            if blockers:
                raise departure_refused(blockers, len(blockers))
        stored = attrs.evolve(staff, version=staff.version + 1)
        pending = uow._pending.staff
        base = pending[staff.id][0] if staff.id in pending else current.version
        pending[staff.id] = (base, stored)
        action = "staff.departed" if staff.status is not current.status else "staff.revised"
        uow._audit(action, "staff", staff.id, stored.version, staff_changes(current, stored))
        uow._emit(events)
        return stored


class MemoryAssignments:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    # -- reading ---------------------------------------------------------------------

    def _visible(self, customer_id: CustomerId) -> Assignment | None:
        pending = self._uow._pending.assignments.get(customer_id)
        if pending is not None:
            return pending[1]
        return self._uow._store._state.assignments.get(customer_id)

    def _all_ids(self) -> list[CustomerId]:
        ids = set(self._uow._store._state.assignments) | set(self._uow._pending.assignments)
        return sorted(ids, key=str)

    def _pairs(self, assignment: Assignment) -> list[tuple[StaffId, str]]:
        org = self._uow.organization
        pairs = []
        for m in assignment.managers:
            staff = org.find_staff(m.staff_id)
            pairs.append((m.staff_id, org.path_of(staff) if staff else ""))
        return pairs

    def covers(self, scope: AccessScope, assignment: Assignment | None) -> bool:
        if scope.is_everything:
            return True
        return assignment is not None and scope.covers_managers(self._pairs(assignment))

    def find(self, customer_id: CustomerId) -> Assignment | None:
        found = self._visible(customer_id)
        return found if found is not None and self.covers(self._uow.scope, found) else None

    def get(self, customer_id: CustomerId) -> Assignment:
        found = self.find(customer_id)
        if found is None:
            raise NotFoundError("this customer has no managers (or is outside your scope)")
        return found

    def find_many(self, customer_ids: Collection[CustomerId]) -> dict[CustomerId, Assignment]:
        found = {c: self.find(c) for c in customer_ids}
        return {c: a for c, a in found.items() if a is not None}

    def customers_served_by(self, staff_id: StaffId) -> list[CustomerId]:
        """Every customer (in scope or not) on whose team ``staff_id`` is."""
        return [
            c
            for c in self._all_ids()
            if (a := self._visible(c)) is not None and staff_id in a.staff_ids
        ]

    def book(
        self,
        staff_id: StaffId,
        *,
        roles: Collection[ManagerRole] | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Assignment]:
        for customer_id in self._all_ids():
            found = self.find(customer_id)
            if found is None:
                continue
            role = found.role_of(staff_id)
            if role is not None and (roles is None or role in roles):
                yield found

    def book_sizes(self, staff_ids: Collection[StaffId] | None = None) -> dict[StaffId, int]:
        sizes: dict[StaffId, int] = dict.fromkeys(staff_ids or (), 0)
        for customer_id in self._all_ids():
            assignment = self._visible(customer_id)
            if assignment is None:
                continue
            primary = assignment.primary
            if staff_ids is None or primary in sizes:
                sizes[primary] = sizes.get(primary, 0) + 1
        return sizes

    def _history(self, customer_id: CustomerId) -> tuple[HistoryRow, ...]:
        pending = self._uow._pending.history.get(customer_id)
        if pending is not None:
            return pending
        return self._uow._store._state.history.get(customer_id, ())

    def history(self, customer_id: CustomerId) -> list[AssignmentRecord]:
        if self.find(customer_id) is None:
            return []
        return [row.record for row in self._history(customer_id)]

    def as_of(self, customer_id: CustomerId, at: datetime.datetime) -> AssignmentRecord | None:
        found = None
        for record in self.history(customer_id):
            end = record.effective_to
            if record.effective_from <= at and (end is None or at < end):
                found = record
        return found

    def reason_counts(
        self, *, since: datetime.datetime, until: datetime.datetime
    ) -> list[ReasonCount]:
        scope = self._uow.scope
        org = self._uow.organization
        counts: dict[tuple[str, OrgUnitCode, datetime.date], int] = {}
        customers = set(self._uow._store._state.history) | set(self._uow._pending.history)
        for customer_id in customers:
            for row in self._history(customer_id):
                record = row.record
                if not since <= record.effective_from < until:
                    continue
                unit = org.find_unit(row.primary_unit)
                pairs = [(record.primary, unit.path if unit else "")]
                if not (scope.is_everything or scope.covers_managers(pairs)):
                    continue
                key = (record.reason, row.primary_unit, row.day)
                counts[key] = counts.get(key, 0) + 1
        return [
            ReasonCount(reason=r, unit=u, day=d, count=n) for (r, u, d), n in sorted(counts.items())
        ]

    # -- writing ---------------------------------------------------------------------

    def _check_write(self, current: Assignment | None, new: Assignment) -> None:
        org = self._uow.organization
        check_serving(new.managers, {m.staff_id: org.find_staff(m.staff_id) for m in new.managers})
        scope = self._uow.scope
        if scope.is_everything:
            return
        if current is not None and not self.covers(scope, current):
            raise out_of_scope()
        if not self.covers(scope, new):
            raise new_managers_out_of_scope()

    def _write(
        self, current: Assignment | None, new: Assignment, events: Sequence[DomainEvent]
    ) -> Assignment:
        uow = self._uow
        stored = attrs.evolve(new, version=new.version + 1)
        pending = uow._pending.assignments
        if new.customer_id in pending:
            base = pending[new.customer_id][0]
        else:
            base = current.version if current is not None else None
        pending[new.customer_id] = (base, stored)
        rows = list(self._history(new.customer_id))
        if rows:
            last = rows[-1]
            rows[-1] = attrs.evolve(
                last, record=attrs.evolve(last.record, effective_to=stored.effective_from)
            )
        primary = uow.organization.get_staff(stored.primary)
        record = AssignmentRecord(
            customer_id=stored.customer_id,
            version=stored.version,
            managers=stored.managers,
            effective_from=stored.effective_from,
            reason=stored.reason,
            actor=uow.actor.id,
            capacity_override=stored.capacity_override,
        )
        rows.append(
            HistoryRow(record, primary.unit, business_date(stored.effective_from, uow.timezone))
        )
        uow._pending.history[new.customer_id] = tuple(rows)
        action = "assignment.created" if current is None else "assignment.changed"
        uow._audit(
            action,
            "assignment",
            str(new.customer_id),
            stored.version,
            assignment_changes(current, stored),
        )
        uow._emit(events)
        return stored

    def add(self, assignment: Assignment, events: Sequence[DomainEvent] = ()) -> Assignment:
        uow = self._uow
        uow._check_writable()
        check_first_assignment(assignment, events)
        if uow.customers._visible(assignment.customer_id) is None:
            raise NotFoundError("no customer with this id; add the customer first")
        existing = self._visible(assignment.customer_id)
        if existing is not None and not self.covers(uow.scope, existing):
            raise out_of_scope()
        if existing is not None:
            raise DuplicateError(
                "this customer already has managers; change them with "
                "update() (or services.assign_managers)"
            )
        self._check_write(None, assignment)
        return self._write(None, assignment, events)

    def update(self, assignment: Assignment, events: Sequence[DomainEvent] = ()) -> Assignment:
        uow = self._uow
        uow._check_writable()
        check_assignment(assignment, events)
        current = self._visible(assignment.customer_id)
        if current is None:
            raise NotFoundError("this customer has no managers yet; add() the first assignment")
        if not (uow.scope.is_everything or self.covers(uow.scope, current)):
            raise out_of_scope()
        if current.version != assignment.version:
            raise assignment_conflict()
        self._check_write(current, assignment)
        return self._write(current, assignment, events)

    def update_many(self, changes: Sequence[tuple[Assignment, Sequence[DomainEvent]]]) -> None:
        with self._uow.savepoint():
            for assignment, events in changes:
                self.update(assignment, events)
