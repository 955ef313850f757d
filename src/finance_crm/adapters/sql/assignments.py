"""Customers' managers on SQLAlchemy Core (``uow.assignments``).

Tables: per customer one ``crm_assignment`` head row (the current version: the optimistic
concurrency check), its ``crm_assignment_member`` rows (the current managers, shares in
basis points) and one ``crm_assignment_history`` row per version, effective-dated.

Reads are filtered by the actor's scope inside the SELECT (:mod:`.scopes`). Writes check
the scope in Python against the managers' unit paths, read once per unit of work into a
small cache. The bulk path (:meth:`SqlAssignmentRepository.update_many`) reads a batch in
one SELECT, checks it, and writes it with one ``executemany`` per statement on the raw
driver cursor, like the customer import.
"""

from __future__ import annotations

import datetime
import functools
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from finance_crm.adapters._checks import (
    assignment_conflict,
    check_assignment,
    check_first_assignment,
    check_serving,
    new_managers_out_of_scope,
    out_of_scope,
)
from finance_crm.adapters.sql.errors import mapped_errors
from finance_crm.adapters.sql.rows import (
    ASSIGNMENT_COLUMNS,
    HISTORY_COLUMNS,
    MEMBER_COLUMNS,
    assignment_from_rows,
    chunks,
    insert_sql,
    managers_wire,
    record_from_row,
    share_bp,
    staff_from_row,
)
from finance_crm.adapters.sql.scopes import customer_filter, primary_filter
from finance_crm.adapters.sql.tables import (
    assignment_history,
    assignment_members,
    assignments,
    customers,
    org_units,
    staff,
    staff_leaves,
)
from finance_crm.auditing import assignment_changes
from finance_crm.clock import business_date, ensure_utc
from finance_crm.errors import (
    DuplicateError,
    NotFoundError,
    ValidationError,
)
from finance_crm.ids import CustomerId, OrgUnitCode, StaffId
from finance_crm.model.assignments import Assignment, AssignmentRecord, ManagerRole
from finance_crm.model.events import DomainEvent
from finance_crm.model.organization import StaffMember
from finance_crm.ports import ReasonCount

if TYPE_CHECKING:
    from finance_crm.adapters.sql.store import SqlUnitOfWork

__all__ = ["SqlAssignmentRepository"]

_IN_CHUNK = 500  # ids per IN (...) list
_BATCH = 1000  # assignments per round of statements in update_many
_BLOCKERS_SHOWN = 20
_REMEMBERED = 4 * _BATCH  # assignments read recently, per unit of work

# Built once: SQLAlchemy then only looks the compiled form up in its cache per call.
# A staff batch with their units' paths, for the scope checks of writes.
_STAFF_WITH_PATH = (
    sa.select(staff, org_units.c.path.label("unit_path"))
    .join(org_units, org_units.c.code == staff.c.unit_code)
    .where(staff.c.id.in_(sa.bindparam("ids", expanding=True)))
)
_LEAVES_OF_MANY = (
    sa.select(staff_leaves)
    .where(staff_leaves.c.staff_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(staff_leaves.c.staff_id, staff_leaves.c.first_day)
)
_CUSTOMER_EXISTS = sa.select(customers.c.id).where(customers.c.id == sa.bindparam("customer_id"))
_HEAD_EXISTS = sa.select(assignments.c.version).where(
    assignments.c.customer_id == sa.bindparam("customer_id")
)
# The current assignment: the head row joined to its member rows (scope added per call).
_CURRENT = sa.select(
    assignments.c.customer_id,
    assignments.c.version,
    assignments.c.effective_from,
    assignments.c.reason,
    assignments.c.capacity_override,
    assignment_members.c.staff_id,
    assignment_members.c.role,
    assignment_members.c.share_bp,
).join(assignment_members, assignment_members.c.customer_id == assignments.c.customer_id)
_CURRENT_IN = _CURRENT.where(assignments.c.customer_id.in_(sa.bindparam("ids", expanding=True)))
_BOOK = assignment_members.alias("book_member")
_PRIMARY = ManagerRole.PRIMARY.value


def _customer_id(value: object) -> CustomerId:
    if not isinstance(value, uuid.UUID):
        raise ValidationError("a customer id is a UUID", path="$.customer_id")
    return CustomerId(value)


def _group(rows: Iterable[sa.RowMapping]) -> dict[CustomerId, Assignment]:
    """Head+member rows (one per manager) as assignments, in the rows' customer order."""
    heads: dict[Any, sa.RowMapping] = {}
    members: dict[Any, list[sa.RowMapping]] = {}
    for row in rows:
        key = row["customer_id"]
        if key not in heads:
            heads[key] = row
            members[key] = []
        members[key].append(row)
    found = (assignment_from_rows(heads[key], members[key]) for key in heads)
    return {a.customer_id: a for a in found}


@attrs.frozen
class _BulkSql:
    """The bulk path's statements for the driver's ``executemany`` (positional)."""

    insert_head: str
    insert_member: str
    insert_history: str
    update_head: str
    delete_members: str
    close_history: str


@functools.cache
def _bulk_sql(p: str) -> _BulkSql:
    return _BulkSql(
        insert_head=insert_sql("crm_assignment", ASSIGNMENT_COLUMNS, p),
        insert_member=insert_sql("crm_assignment_member", MEMBER_COLUMNS, p),
        insert_history=insert_sql("crm_assignment_history", HISTORY_COLUMNS, p),
        update_head=(
            f"UPDATE crm_assignment SET version = {p}, effective_from = {p}, reason = {p}, "
            f"capacity_override = {p} WHERE customer_id = {p} AND version = {p}"
        ),
        delete_members=f"DELETE FROM crm_assignment_member WHERE customer_id = {p}",
        close_history=(
            f"UPDATE crm_assignment_history SET effective_to = {p} "
            f"WHERE customer_id = {p} AND version = {p}"
        ),
    )


class SqlAssignmentRepository:
    """Customers' managers: head + member rows for the current version, history rows for
    every version. Reads are scope-filtered in SQL; writes are scope-checked and audited."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._sql = _bulk_sql(uow._codec.placeholder)

    # -- helpers -----------------------------------------------------------------------

    def _rows(self, statement: sa.Executable, **params: Any) -> list[sa.RowMapping]:
        with mapped_errors():
            return list(self._uow.connection.execute(statement, params).mappings().all())

    def _scoped(self, statement: sa.Select[Any], column: sa.ColumnElement[Any]) -> sa.Select[Any]:
        condition = customer_filter(self._uow.scope, column, dialect=self._uow._store.dialect_name)
        return statement if condition is None else statement.where(condition)

    def _current(
        self, customer_ids: Sequence[CustomerId], *, scoped: bool, remember: bool = True
    ) -> dict[CustomerId, Assignment]:
        statement = _CURRENT_IN
        if scoped:
            statement = self._scoped(statement, assignments.c.customer_id)
        found: dict[CustomerId, Assignment] = {}
        for chunk in chunks(customer_ids, _IN_CHUNK):
            found.update(_group(self._rows(statement, ids=chunk)))
        if remember:
            self._remember(found.values())
        return found

    def _remember(self, read: Iterable[Assignment]) -> None:
        """Keep the assignments just read (a bounded few): a change to them that follows,
        version-checked by its UPDATE anyway, then needs no second SELECT."""
        recent = self._uow._assignment_cache
        for assignment in read:
            if len(recent) >= _REMEMBERED:
                del recent[next(iter(recent))]
            recent[assignment.customer_id] = assignment

    def _staff(self, staff_ids: Iterable[StaffId]) -> dict[StaffId, tuple[StaffMember, str] | None]:
        """Staff records with their units' paths, read once per unit of work.

        In a writing unit of work on PostgreSQL the rows are read ``FOR SHARE``: a
        concurrent departure of one of them waits for this transaction (and then sees the
        customers it assigned), and this one waits for a departure in progress.
        """
        uow = self._uow
        cache = uow._staff_cache
        wanted = set(staff_ids)
        missing = sorted(i for i in wanted if i not in cache)
        if missing:
            statement = _STAFF_WITH_PATH
            if not uow.read_only and uow._store.dialect_name == "postgresql":
                statement = statement.with_for_update(read=True, of=staff)
            for chunk in chunks(missing, _IN_CHUNK):
                rows = self._rows(statement, ids=chunk)
                leaves: dict[str, list[sa.RowMapping]] = {}
                if rows:
                    for leave in self._rows(_LEAVES_OF_MANY, ids=chunk):
                        leaves.setdefault(leave["staff_id"], []).append(leave)
                for staff_id in chunk:
                    cache[staff_id] = None
                for row in rows:
                    member = staff_from_row(row, leaves.get(row["id"], ()))
                    cache[member.id] = (member, row["unit_path"])
        return {i: cache[i] for i in wanted}

    @staticmethod
    def _pairs(
        assignment: Assignment, known: dict[StaffId, tuple[StaffMember, str] | None]
    ) -> list[tuple[StaffId, str]]:
        pairs = []
        for m in assignment.managers:
            entry = known.get(m.staff_id)
            pairs.append((m.staff_id, entry[1] if entry is not None else ""))
        return pairs

    # -- reads -------------------------------------------------------------------------

    def find(self, customer_id: CustomerId) -> Assignment | None:
        return self._current([_customer_id(customer_id)], scoped=True).get(customer_id)

    def get(self, customer_id: CustomerId) -> Assignment:
        found = self.find(customer_id)
        if found is None:
            raise NotFoundError("this customer has no managers (or is outside your scope)")
        return found

    def find_many(self, customer_ids: Collection[CustomerId]) -> dict[CustomerId, Assignment]:
        ids = list(dict.fromkeys(_customer_id(c) for c in customer_ids))
        return self._current(ids, scoped=True)

    def book(
        self,
        staff_id: StaffId,
        *,
        roles: Collection[ManagerRole] | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Assignment]:
        """Keyset batches by customer id over the manager's member rows (index-only)."""
        if type(batch_size) is not int or batch_size < 1:
            raise ValidationError("batch_size is a whole number, 1 or more", path="$.batch_size")
        if not isinstance(staff_id, str):
            raise ValidationError("a staff id is the staff member's code", path="$.staff_id")
        chosen = None
        if roles is not None:
            chosen = sorted({_role(r).value for r in roles})
            if not chosen:
                return
        page = sa.select(_BOOK.c.customer_id).where(_BOOK.c.staff_id == staff_id)
        if chosen is not None:
            page = page.where(_BOOK.c.role.in_(chosen))
        condition = customer_filter(
            self._uow.scope, _BOOK.c.customer_id, dialect=self._uow._store.dialect_name
        )
        if condition is not None:
            page = page.where(condition)
        page = page.order_by(_BOOK.c.customer_id).limit(batch_size)
        after = page.where(_BOOK.c.customer_id > sa.bindparam("last", type_=sa.Uuid()))
        last: uuid.UUID | None = None
        while True:
            ids = after if last is not None else page
            statement = _CURRENT.where(assignments.c.customer_id.in_(ids)).order_by(
                assignments.c.customer_id
            )
            found = _group(self._rows(statement, **({} if last is None else {"last": last})))
            self._remember(found.values())
            yield from found.values()
            if len(found) < batch_size:
                return
            last = next(reversed(found))

    def book_sizes(self, staff_ids: Collection[StaffId] | None = None) -> dict[StaffId, int]:
        """Customers held as primary, per manager, in one ``GROUP BY`` (per 500 ids)."""
        m = assignment_members
        statement = (
            sa.select(m.c.staff_id, sa.func.count().label("n"))
            .where(m.c.role == _PRIMARY)
            .group_by(m.c.staff_id)
        )
        if staff_ids is None:
            return {row["staff_id"]: int(row["n"]) for row in self._rows(statement)}
        if isinstance(staff_ids, str):
            raise ValidationError("staff_ids is a collection of staff ids", path="$.staff_ids")
        ids = list(dict.fromkeys(staff_ids))
        if not all(isinstance(i, str) for i in ids):
            raise ValidationError("a staff id is the staff member's code", path="$.staff_ids")
        sizes = dict.fromkeys(ids, 0)
        statement = statement.where(m.c.staff_id.in_(sa.bindparam("ids", expanding=True)))
        for chunk in chunks(ids, _IN_CHUNK):
            for row in self._rows(statement, ids=chunk):
                sizes[row["staff_id"]] = int(row["n"])
        return sizes

    def as_of(self, customer_id: CustomerId, at: datetime.datetime) -> AssignmentRecord | None:
        """The version in effect at ``at``. Scoped by the customer's *current* managers:
        a customer in scope today shows its whole past, one out of scope shows none."""
        customer_id = _customer_id(customer_id)
        at = ensure_utc(at)
        h = assignment_history
        statement = self._scoped(
            sa.select(h)
            .where(
                h.c.customer_id == customer_id,
                h.c.effective_from <= at,
                sa.or_(h.c.effective_to.is_(None), h.c.effective_to > at),
            )
            .order_by(h.c.version.desc())
            .limit(1),
            h.c.customer_id,
        )
        rows = self._rows(statement)
        return record_from_row(rows[0]) if rows else None

    def history(self, customer_id: CustomerId) -> list[AssignmentRecord]:
        """Every version, oldest first (scoped like :meth:`as_of`)."""
        customer_id = _customer_id(customer_id)
        h = assignment_history
        statement = self._scoped(
            sa.select(h).where(h.c.customer_id == customer_id).order_by(h.c.version),
            h.c.customer_id,
        )
        return [record_from_row(row) for row in self._rows(statement)]

    def reason_counts(
        self, *, since: datetime.datetime, until: datetime.datetime
    ) -> list[ReasonCount]:
        """Versions effective in ``[since, until)`` by reason, new primary's unit and
        business day, where the actor's scope covers the new primary. The day range
        (``effective_day``, indexed with what is grouped) narrows the scan; the instants
        decide."""
        since, until = ensure_utc(since), ensure_utc(until)
        if until <= since:
            return []
        h = assignment_history
        timezone = self._uow.timezone
        statement = (
            sa.select(
                h.c.reason, h.c.primary_unit_code, h.c.effective_day, sa.func.count().label("n")
            )
            .where(
                h.c.effective_day >= _plain(business_date(since, timezone)),
                h.c.effective_day <= _plain(business_date(until, timezone)),
                h.c.effective_from >= since,
                h.c.effective_from < until,
            )
            .group_by(h.c.reason, h.c.primary_unit_code, h.c.effective_day)
        )
        condition = primary_filter(self._uow.scope, h.c.primary_staff_id, h.c.primary_unit_code)
        if condition is not None:
            statement = statement.where(condition)
        counts = [
            ReasonCount(
                reason=row["reason"],
                unit=OrgUnitCode(row["primary_unit_code"]),
                day=_as_date(row["effective_day"]),
                count=int(row["n"]),
            )
            for row in self._rows(statement)
        ]
        return sorted(counts, key=lambda c: (c.reason, c.unit, c.day))

    # -- writes ------------------------------------------------------------------------

    def add(self, assignment: Assignment, events: Sequence[DomainEvent] = ()) -> Assignment:
        uow = self._uow
        uow._check_writable()
        check_first_assignment(assignment, events)
        customer_id = _customer_id(assignment.customer_id)
        if not self._rows(_CUSTOMER_EXISTS, customer_id=customer_id):
            raise NotFoundError("no customer with this id; add the customer first")
        if self._rows(_HEAD_EXISTS, customer_id=customer_id):
            existing = self._current([customer_id], scoped=False).get(customer_id)
            scope = uow.scope
            if existing is not None and not scope.is_everything:
                known = self._staff(existing.staff_ids)
                if not scope.covers_managers(self._pairs(existing, known)):
                    raise out_of_scope()
            raise _already_assigned()
        known = self._staff(m.staff_id for m in assignment.managers)
        check_serving(assignment.managers, {k: v[0] if v else None for k, v in known.items()})
        scope = uow.scope
        if not scope.is_everything and not scope.covers_managers(self._pairs(assignment, known)):
            raise new_managers_out_of_scope()
        primary = known[assignment.primary]
        assert primary is not None  # checked by check_serving
        writer = _BatchWriter(uow)
        writer.add(None, assignment, 1, primary[0].unit, events)
        try:
            with uow.savepoint(), mapped_errors():
                writer.write(self, uow.connection)
        except DuplicateError:  # another unit of work assigned the customer meanwhile
            raise _already_assigned() from None
        return attrs.evolve(assignment, version=1)

    def update(self, assignment: Assignment, events: Sequence[DomainEvent] = ()) -> Assignment:
        check_assignment(assignment, events)
        self.update_many([(assignment, events)])
        return attrs.evolve(assignment, version=assignment.version + 1)

    def update_many(self, changes: Sequence[tuple[Assignment, Sequence[DomainEvent]]]) -> None:
        """Version-checked bulk update, all or nothing.

        Every check is made and every row built first: per 1,000 customers one SELECT of
        the current versions (skipped for those this unit of work has just read at the
        same version), one staff lookup (cached); then one ``executemany`` per statement
        (see ``SqlUnitOfWork._all_or_nothing``). The head UPDATE (``... WHERE customer_id
        = ? AND version = ?``) must touch every row, or another unit of work got there
        first: ConflictError.
        """
        uow = self._uow
        uow._check_writable()
        batch: list[tuple[Assignment, Sequence[DomainEvent]]] = []
        for item in changes:
            if not isinstance(item, tuple) or len(item) != 2:
                raise ValidationError(
                    "each change is an (assignment, events) pair", path="$.changes"
                )
            check_assignment(item[0], item[1])
            _customer_id(item[0].customer_id)
            batch.append((item[0], tuple(item[1])))
        if not batch:
            return
        if len({a.customer_id for a, _ in batch}) != len(batch):
            # The same customer twice: one change after the other, as separate updates.
            with uow.savepoint():
                for assignment, events in batch:
                    self.update_many([(assignment, events)])
            return
        writer = _BatchWriter(uow)
        for chunk in chunks(batch, _BATCH):
            self._check_chunk(chunk, writer)
        with uow._all_or_nothing(), mapped_errors():
            writer.write(self, uow.connection)
        recent = uow._assignment_cache
        for assignment, _ in batch:
            recent.pop(assignment.customer_id, None)

    def _check_chunk(
        self, batch: list[tuple[Assignment, Sequence[DomainEvent]]], writer: _BatchWriter
    ) -> None:
        """Read what the changes replace, check them, and add their rows to ``writer``."""
        uow = self._uow
        scope = uow.scope
        everything = scope.is_everything
        recent = uow._assignment_cache
        current: dict[CustomerId, Assignment] = {}
        unread = []
        for assignment, _ in batch:
            seen = recent.get(assignment.customer_id)
            if seen is not None and seen.version == assignment.version:
                # Read by this unit of work at this version: the state it replaces. If the
                # version moved on since, the head UPDATE below touches no row for it.
                current[assignment.customer_id] = seen
            else:
                unread.append(assignment.customer_id)
        if unread:
            current.update(self._current(unread, scoped=False, remember=False))
        wanted: set[StaffId] = set()
        for assignment, _ in batch:
            wanted.update(assignment.staff_ids)
            before = current.get(assignment.customer_id)
            if before is not None and not everything:
                wanted.update(before.staff_ids)
        known = self._staff(wanted)
        records = {k: v[0] if v else None for k, v in known.items()}
        for assignment, events in batch:
            before = current.get(assignment.customer_id)
            if before is None:
                raise NotFoundError("this customer has no managers yet; add() the first assignment")
            if not everything and not scope.covers_managers(self._pairs(before, known)):
                raise out_of_scope()
            if before.version != assignment.version:
                raise assignment_conflict()
            check_serving(assignment.managers, records)
            if not everything and not scope.covers_managers(self._pairs(assignment, known)):
                raise new_managers_out_of_scope()
            primary = known[assignment.primary]
            assert primary is not None  # checked by check_serving
            writer.add(before, assignment, assignment.version + 1, primary[0].unit, events)


def _already_assigned() -> DuplicateError:
    return DuplicateError(
        "this customer already has managers; change them with update() "
        "(or services.assign_managers)"
    )


def _role(value: object) -> ManagerRole:
    if not isinstance(value, ManagerRole):
        raise ValidationError("roles is a collection of ManagerRole", path="$.roles")
    return value


def _plain(day: datetime.date) -> datetime.date:
    """A plain ``datetime.date`` (drivers adapt it; a pendulum ``Date`` subclass may not be)."""
    return datetime.date(day.year, day.month, day.day)


def _as_date(value: Any) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, str):  # a GROUP BY result may lose the column type
        return datetime.date.fromisoformat(value)
    assert isinstance(value, datetime.date)
    return value


class _BatchWriter:
    """The rows a batch of assignments writes, as driver tuples, built before any write."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._now = uow._now()
        self._days: dict[datetime.datetime, Any] = {}
        self.inserts: list[tuple[Any, ...]] = []  # new heads
        self.updates: list[tuple[Any, ...]] = []  # changed heads (version-checked)
        self.keys: list[tuple[Any, ...]] = []
        self.closes: list[tuple[Any, ...]] = []
        self.members: list[tuple[Any, ...]] = []
        self.history: list[tuple[Any, ...]] = []
        self.audit: list[tuple[Any, ...]] = []
        self.outbox: list[tuple[Any, ...]] = []

    def _day(self, at: datetime.datetime) -> Any:
        day = self._days.get(at)
        if day is None:
            day = self._uow._codec.date(_plain(business_date(at, self._uow.timezone)))
            self._days[at] = day
        return day

    def add(
        self,
        before: Assignment | None,
        new: Assignment,
        version: int,
        primary_unit: OrgUnitCode,
        events: Sequence[DomainEvent],
    ) -> None:
        """Rows storing ``new`` as ``version`` (1 for a first assignment), replacing
        ``before``; the primary manager's unit goes to the history for the reports."""
        uow, codec = self._uow, self._uow._codec
        key = codec.uuid(new.customer_id)
        effective_from = codec.instant(new.effective_from)
        if before is None:
            self.inserts.append((key, version, effective_from, new.reason, new.capacity_override))
        else:
            self.updates.append(
                (version, effective_from, new.reason, new.capacity_override, key, before.version)
            )
            self.keys.append((key,))
            self.closes.append((effective_from, key, before.version))
        self.members.extend(
            (key, m.staff_id, m.role.value, share_bp(m.share)) for m in new.managers
        )
        self.history.append(
            (
                key,
                version,
                effective_from,
                None,
                new.reason,
                uow.actor.id,
                new.capacity_override,
                new.primary,
                primary_unit,
                self._day(new.effective_from),
                codec.json(managers_wire(new.managers)),
            )
        )
        self.audit.append(
            uow._entity_audit_row(
                "assignment.created" if before is None else "assignment.changed",
                "assignment",
                str(new.customer_id),
                version,
                assignment_changes(before, new),
                self._now,
            )
        )
        self.outbox.extend(uow._event_rows(events))

    def write(self, repository: SqlAssignmentRepository, connection: sa.Connection) -> None:
        """One ``executemany`` per statement; the head UPDATE's rowcount is checked."""
        sql = repository._sql
        if self.updates:
            result = connection.exec_driver_sql(sql.update_head, self.updates)
            # sqlite3 and psycopg both sum an executemany's rowcounts (checked in the tests)
            if result.rowcount != len(self.updates):
                raise assignment_conflict()
            connection.exec_driver_sql(sql.delete_members, self.keys)
            connection.exec_driver_sql(sql.close_history, self.closes)
        if self.inserts:
            connection.exec_driver_sql(sql.insert_head, self.inserts)
        connection.exec_driver_sql(sql.insert_member, self.members)
        connection.exec_driver_sql(sql.insert_history, self.history)
        self._uow._write_audit_rows(self.audit)
        self._uow._write_event_rows(self.outbox)
