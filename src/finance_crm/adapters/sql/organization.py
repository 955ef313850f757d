"""The organisation on SQLAlchemy Core (``uow.organization``).

Tables: ``crm_org_unit`` (the unit tree, with materialised paths) and ``crm_staff`` with
``crm_staff_leave``. Organisation writes are audited like customer writes; a departure is
refused while ``crm_assignment_member`` still names the staff member.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from finance_crm.adapters._checks import (
    check_new_unit,
    check_staff,
    check_staff_update,
    departure_refused,
    staff_conflict,
)
from finance_crm.adapters.sql.errors import mapped_errors
from finance_crm.adapters.sql.rows import (
    leave_rows,
    staff_from_row,
    staff_to_row,
    unit_from_row,
    unit_to_row,
)
from finance_crm.adapters.sql.scopes import path_range
from finance_crm.adapters.sql.tables import (
    assignment_members,
    org_units,
    staff,
    staff_leaves,
)
from finance_crm.auditing import staff_changes, unit_changes
from finance_crm.errors import (
    DuplicateError,
    NotFoundError,
    ValidationError,
)
from finance_crm.ids import OrgUnitCode, StaffId
from finance_crm.model.events import DomainEvent
from finance_crm.model.organization import EmploymentStatus, OrgUnit, StaffMember

if TYPE_CHECKING:
    from finance_crm.adapters.sql.store import SqlUnitOfWork

__all__ = ["SqlOrganizationRepository"]

_BLOCKERS_SHOWN = 20

# Built once: SQLAlchemy then only looks the compiled form up in its cache per call.
_UNIT = sa.select(org_units).where(org_units.c.code == sa.bindparam("code"))
_UNITS = sa.select(org_units).order_by(org_units.c.path)
_STAFF = sa.select(staff).where(staff.c.id == sa.bindparam("staff_id"))
_STAFF_FOR_UPDATE = _STAFF.with_for_update()
_LEAVES = (
    sa.select(staff_leaves)
    .where(staff_leaves.c.staff_id == sa.bindparam("staff_id"))
    .order_by(staff_leaves.c.first_day)
)
_SERVED_COUNT = (
    sa.select(sa.func.count().label("n"))
    .select_from(assignment_members)
    .where(assignment_members.c.staff_id == sa.bindparam("staff_id"))
)
_SERVED_SAMPLE = (
    sa.select(assignment_members.c.customer_id)
    .where(assignment_members.c.staff_id == sa.bindparam("staff_id"))
    .order_by(assignment_members.c.customer_id)
    .limit(_BLOCKERS_SHOWN)
)


class SqlOrganizationRepository:
    """Units (``crm_org_unit``) and staff (``crm_staff`` + ``crm_staff_leave``).

    Not scope-restricted: reading and maintaining the organisation is an org admin's job,
    which the host's own permissions guard.
    """

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def _rows(self, statement: sa.Executable, **params: Any) -> list[sa.RowMapping]:
        with mapped_errors():
            return list(self._uow.connection.execute(statement, params).mappings().all())

    # -- units -------------------------------------------------------------------------

    def find_unit(self, code: OrgUnitCode) -> OrgUnit | None:
        """The unit, if there is one with this code."""
        if not isinstance(code, str):
            return None
        rows = self._rows(_UNIT, code=code)
        return unit_from_row(rows[0]) if rows else None

    def get_unit(self, code: OrgUnitCode) -> OrgUnit:
        unit = self.find_unit(code)
        if unit is None:
            raise NotFoundError("no organisation unit with this code")
        return unit

    def units(self) -> list[OrgUnit]:
        return [unit_from_row(row) for row in self._rows(_UNITS)]

    def add_unit(self, unit: OrgUnit) -> None:
        uow = self._uow
        uow._check_writable()
        check_new_unit(unit, self.find_unit)
        stored = attrs.evolve(unit, version=1)
        audit = uow._entity_audit_row(
            "org_unit.added", "org_unit", unit.code, 1, unit_changes(None, stored), uow._now()
        )
        with uow.savepoint(), mapped_errors():
            uow.connection.execute(org_units.insert(), unit_to_row(stored))
            uow._write_audit_rows([audit])
        uow._forget_organization()

    # -- staff -------------------------------------------------------------------------

    def _staff(self, staff_id: StaffId, *, for_update: bool = False) -> StaffMember | None:
        if not isinstance(staff_id, str):
            return None
        rows = self._rows(_STAFF_FOR_UPDATE if for_update else _STAFF, staff_id=staff_id)
        if not rows:
            return None
        return staff_from_row(rows[0], self._rows(_LEAVES, staff_id=staff_id))

    def find_staff(self, staff_id: StaffId) -> StaffMember | None:
        return self._staff(staff_id)

    def get_staff(self, staff_id: StaffId) -> StaffMember:
        found = self._staff(staff_id)
        if found is None:
            raise NotFoundError("no staff member with this id")
        return found

    def staff(
        self, *, unit: OrgUnitCode | None = None, include_subunits: bool = True
    ) -> list[StaffMember]:
        """Staff ordered by id; with ``unit``, those in it (and, by default, below it)."""
        chosen = sa.select(staff)
        if unit is not None:
            root = self.get_unit(unit)
            if include_subunits:
                low, high = path_range(root.path)
                chosen = chosen.join(org_units, org_units.c.code == staff.c.unit_code).where(
                    org_units.c.path >= low, org_units.c.path < high
                )
            else:
                chosen = chosen.where(staff.c.unit_code == root.code)
        rows = self._rows(chosen.order_by(staff.c.id))
        leaves: dict[str, list[sa.RowMapping]] = {}
        if rows:
            statement = (
                sa.select(staff_leaves)
                .where(staff_leaves.c.staff_id.in_(chosen.with_only_columns(staff.c.id)))
                .order_by(staff_leaves.c.staff_id, staff_leaves.c.first_day)
            )
            for leave in self._rows(statement):
                leaves.setdefault(leave["staff_id"], []).append(leave)
        return [staff_from_row(row, leaves.get(row["id"], ())) for row in rows]

    def add_staff(self, member: StaffMember) -> None:
        uow = self._uow
        uow._check_writable()
        if not isinstance(member, StaffMember):
            raise ValidationError("expected a StaffMember", path="$")
        if self._staff(member.id) is not None:
            raise DuplicateError("a staff member with this id already exists")
        if self.find_unit(member.unit) is None:
            raise NotFoundError("the staff member's unit does not exist; add it first")
        now = uow._now()
        stored = attrs.evolve(member, version=1)
        audit = uow._entity_audit_row(
            "staff.added", "staff", member.id, 1, staff_changes(None, stored), now
        )
        with uow.savepoint(), mapped_errors():
            connection = uow.connection
            connection.execute(staff.insert(), staff_to_row(stored, now))
            if stored.leaves:
                connection.execute(staff_leaves.insert(), leave_rows(stored))
            uow._write_audit_rows([audit])
        uow._forget_organization()

    def update_staff(self, member: StaffMember, events: Sequence[DomainEvent] = ()) -> StaffMember:
        """Store a changed staff record, version-checked; refuses a departure while any
        customer still has this person as a manager (hand the book over first)."""
        uow = self._uow
        uow._check_writable()
        check_staff(member, events)
        # Locked (PostgreSQL) so a concurrent assignment to this person waits for us.
        locked = self._staff(member.id, for_update=True)
        current = check_staff_update(locked, member, self.find_unit)
        if member.status is EmploymentStatus.DEPARTED and current.is_active:
            total = int(self._rows(_SERVED_COUNT, staff_id=member.id)[0]["n"])
            if total:
                sample = [r["customer_id"] for r in self._rows(_SERVED_SAMPLE, staff_id=member.id)]
                raise departure_refused(sample, total)
        now = uow._now()
        stored = attrs.evolve(member, version=member.version + 1)
        action = "staff.departed" if stored.status is not current.status else "staff.revised"
        audit = uow._entity_audit_row(
            action, "staff", member.id, stored.version, staff_changes(current, stored), now
        )
        values = staff_to_row(stored, now)
        del values["id"]
        with uow.savepoint(), mapped_errors():
            connection = uow.connection
            result = connection.execute(
                staff.update()
                .where(staff.c.id == member.id, staff.c.version == member.version)
                .values(values)
            )
            if result.rowcount != 1:
                raise staff_conflict()
            if stored.leaves != current.leaves:
                connection.execute(
                    staff_leaves.delete().where(staff_leaves.c.staff_id == member.id)
                )
                if stored.leaves:
                    connection.execute(staff_leaves.insert(), leave_rows(stored))
            uow._write_audit_rows([audit])
            uow._write_events(list(events))
        uow._forget_organization()
        return stored
