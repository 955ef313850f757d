"""Service tasks on SQLAlchemy Core: ``uow.service_tasks`` (the same promises and
messages as the in-memory adapter).

Table ``crm_service_task``, unique on ``(customer_id, standard, occurrence)``, with
partial indexes over the open tasks (by standard, by assignee, by supervisor) and a
covering index for compliance; see ``tables.py``.

The book-wide operations are set-based (the statements are in :mod:`.service_sql`),
the same few statements for ten customers or a million:

* :meth:`SqlServiceTaskRepository.generate`: ONE ``INSERT ... SELECT ... ON CONFLICT DO
  NOTHING`` for the standard, then its audit row and, when tasks were made, one
  ``ServiceTasksGenerated`` outbox row. The ids of tasks made this way are UUIDv7 made
  in SQL: the statement's millisecond, then 74 random bits (``gen_random_uuid()`` on
  PostgreSQL, ``randomblob()`` on SQLite), so they sort by creation time like the ids
  made in Python.
* :meth:`~SqlServiceTaskRepository.satisfy` and :meth:`~SqlServiceTaskRepository.escalate`:
  one ``INSERT ... SELECT`` deciding which tasks change into a temporary table
  (``crm_task_step``: id, the version read, what is set), one version-checked
  ``UPDATE`` of the tasks in it (a task changed by someone else meanwhile:
  ConflictError, and nothing of the call stays), then the changed tasks streamed in id
  order for their audit rows and events, written 1,000 at a time.

All or nothing: on PostgreSQL each call runs in a savepoint; on SQLite (writers are
serialised) the writes run in ``_all_or_nothing``.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from finance_crm.adapters._graph_checks import refuse_empty_scope
from finance_crm.adapters._service_checks import (
    check_new_task,
    check_task_update,
    duplicate_task,
    event_task,
    generation_audit,
    task_changes,
)
from finance_crm.adapters.sql.errors import mapped_errors
from finance_crm.adapters.sql.rows import (
    chunks,
    customer_exists,
    fetch_rows,
    plain_date,
    task_from_row,
    task_to_row,
)
from finance_crm.adapters.sql.service_sql import (
    BIRTHDAY_WIDTH,
    EVENT_WIDTH,
    KINDS_WIDTH,
    STEP_TABLE,
    SUPERVISOR_WIDTH,
    ServiceDialect,
    Shape,
    escalate_sql,
    generation_sql,
    id_prefix,
    satisfy_sql,
    stepped_tasks_sql,
)
from finance_crm.adapters.sql.tables import service_tasks
from finance_crm.clock import business_date
from finance_crm.errors import (
    ConflictError,
    CrmError,
    DuplicateError,
    NotFoundError,
    ValidationError,
)
from finance_crm.ids import CustomerId, ServiceTaskId, StaffId
from finance_crm.model.activities import ActivityKind
from finance_crm.model.events import DomainEvent
from finance_crm.model.service_standards import (
    CadenceStandard,
    DateStandard,
    EventStandard,
    ServiceTask,
    ServiceTasksGenerated,
    ServiceTrigger,
    TaskStatus,
)
from finance_crm.ports import ComplianceCount, TaskGeneration

if TYPE_CHECKING:
    from finance_crm.adapters.sql.store import SqlUnitOfWork

__all__ = ["SqlServiceTaskRepository"]

_IN_CHUNK = 500  # staff ids per IN (...) list
_BATCH = 1000  # tasks per fetch and per audit / outbox executemany

_T = service_tasks.c
_KEY = sa.bindparam("key", type_=sa.Uuid())
_TASK = sa.select(service_tasks).where(_T.id == _KEY)
_KEY_TAKEN = sa.select(_T.id).where(
    _T.customer_id == _KEY,
    _T.standard == sa.bindparam("standard"),
    _T.occurrence == sa.bindparam("occurrence"),
)
_OF_CUSTOMER = sa.select(service_tasks).where(_T.customer_id == _KEY).order_by(_T.due_on, _T.id)
# 'open' as a literal, not a parameter: a prepared statement's generic plan on
# PostgreSQL cannot use the partial indexes (WHERE status = 'open') for a parameter
# (the due list read every task due by the day: 262 ms a call against 13 ms).
_IS_OPEN = _T.status == sa.literal_column(f"'{TaskStatus.OPEN.value}'")
_OPEN_OF_CUSTOMER = (
    sa.select(service_tasks).where(_T.customer_id == _KEY, _IS_OPEN).order_by(_T.due_on, _T.id)
)
_STAFF: sa.BindParameter[Any] = sa.bindparam("staff", expanding=True)
_OPEN_BY = (_IS_OPEN, _T.due_on <= sa.bindparam("until", type_=sa.Date()))
# Two ranges of the partial indexes of open tasks (by assignee, by supervisor), merged:
# with an OR, SQLite walked every task due by then in due order.
_DUE = sa.union(
    sa.select(service_tasks).where(*_OPEN_BY, _T.assignee.in_(_STAFF)),
    sa.select(service_tasks).where(*_OPEN_BY, _T.escalated_to.in_(_STAFF)),
).subquery("due")
_DUE_LIST = sa.select(_DUE).order_by(_DUE.c.due_on, _DUE.c.customer_id, _DUE.c.id)
_COUNT = sa.select(sa.func.count().label("n")).select_from(service_tasks)


def _tally(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


_WAIVED = _T.status == TaskStatus.WAIVED.value
# One GROUP BY over a range of the covering (due_on, assignee, status, done_on) index.
_COMPLIANCE = (
    sa.select(
        _T.assignee,
        _tally(_T.status != TaskStatus.WAIVED.value).label("due"),
        _tally(sa.and_(_T.status == TaskStatus.DONE.value, _T.done_on <= _T.due_on)).label("met"),
        _tally(_WAIVED).label("waived"),
        _tally(
            sa.and_(
                _T.status == TaskStatus.OPEN.value,
                _T.due_on < sa.bindparam("today", type_=sa.Date()),
            )
        ).label("overdue"),
    )
    .where(
        _T.due_on >= sa.bindparam("start", type_=sa.Date()),
        _T.due_on <= sa.bindparam("end", type_=sa.Date()),
    )
    .group_by(_T.assignee)
    .order_by(_T.assignee)
)
# What an update may change (check_task_update refuses a change to the others).
_FIXED = ("id", "customer_id", "standard", "occurrence", "created_on", "due_on")
_UPDATE = (
    service_tasks.update()
    .where(_T.id == _KEY, _T.version == sa.bindparam("read_version"))
    .values(
        {
            c.name: sa.bindparam(f"new_{c.name}", type_=c.type)
            for c in service_tasks.c
            if c.name not in _FIXED
        }
    )
)


def _day(value: object, path: str) -> datetime.date:
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise ValidationError("must be a business date", path=path)
    return plain_date(value)


def _staff_ids(staff_ids: object) -> list[str]:
    if isinstance(staff_ids, str) or not isinstance(staff_ids, Collection):
        raise ValidationError("must be a collection of staff ids", path="$.staff_ids")
    return sorted({s for s in staff_ids if isinstance(s, str)})


def _kinds(kinds: frozenset[ActivityKind]) -> list[str]:
    return sorted(k.value for k in kinds)


@attrs.frozen
class _Statement:
    """A generation statement with its parameters."""

    shape: Shape
    params: dict[str, Any]
    expanding: tuple[str, ...]


class SqlServiceTaskRepository:
    """Service tasks (``crm_service_task``). Reads are not scope-filtered; writes need a
    non-empty scope and are audited."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._dialect = ServiceDialect(uow._store.dialect_name)

    def _find(self, task_id: object) -> ServiceTask | None:
        if not isinstance(task_id, uuid.UUID):
            return None
        rows = fetch_rows(self._uow, _TASK, key=task_id)
        return task_from_row(rows[0]) if rows else None

    # -- reads -------------------------------------------------------------------------

    def get(self, task_id: ServiceTaskId) -> ServiceTask:
        found = self._find(task_id)
        if found is None:
            raise NotFoundError("no service task with this id")
        return found

    def of_customer(self, customer_id: CustomerId, *, open_only: bool = False) -> list[ServiceTask]:
        if not isinstance(customer_id, uuid.UUID):
            return []
        statement = _OPEN_OF_CUSTOMER if open_only else _OF_CUSTOMER
        return [task_from_row(r) for r in fetch_rows(self._uow, statement, key=customer_id)]

    def due_list(
        self, staff_ids: Collection[StaffId], *, until: datetime.date
    ) -> list[ServiceTask]:
        until = _day(until, "$.until")
        found: list[ServiceTask] = []
        for chunk in chunks(_staff_ids(staff_ids), _IN_CHUNK):
            rows = fetch_rows(self._uow, _DUE_LIST, staff=chunk, until=until)
            found.extend(task_from_row(r) for r in rows)
        if len(staff_ids) > _IN_CHUNK:  # several chunks: one task may be in two
            found = sorted(
                {t.id: t for t in found}.values(), key=lambda t: (t.due_on, t.customer_id, t.id)
            )
        return found

    def compliance(self, start: datetime.date, end: datetime.date) -> list[ComplianceCount]:
        start, end = _day(start, "$.start"), _day(end, "$.end")
        uow = self._uow
        today = plain_date(business_date(uow.clock, uow.timezone))
        rows = fetch_rows(uow, _COMPLIANCE, start=start, end=end, today=today)
        return [
            ComplianceCount(
                staff_id=StaffId(r["assignee"]),
                due=int(r["due"]),
                met=int(r["met"]),
                waived=int(r["waived"]),
                overdue=int(r["overdue"]),
            )
            for r in rows
        ]

    def count(self) -> int:
        return int(fetch_rows(self._uow, _COUNT)[0]["n"])

    # -- writes of one task ------------------------------------------------------------

    def add(self, task: ServiceTask, events: Sequence[DomainEvent] = ()) -> None:
        uow = self._uow
        uow._check_writable()
        check_new_task(task, lambda c: customer_exists(self._uow, c))
        refuse_empty_scope(uow.scope)
        if self._find(task.id) is not None:
            raise DuplicateError("a task with this id is already stored")
        key = {"key": task.customer_id, "standard": task.standard, "occurrence": task.occurrence}
        if fetch_rows(uow, _KEY_TAKEN, **key):
            raise duplicate_task()
        stored = attrs.evolve(task, version=1)
        audit = uow._entity_audit_row(
            "service_task.added",
            "service_task",
            str(task.id),
            1,
            task_changes(None, stored),
            uow._now(),
        )
        try:
            with uow.savepoint(), mapped_errors():
                uow.connection.execute(service_tasks.insert(), task_to_row(stored))
                uow._write_audit_rows([audit])
                uow._write_events(events)
        except DuplicateError:  # another unit of work stored the key meanwhile
            raise duplicate_task() from None

    def update(self, task: ServiceTask, events: Sequence[DomainEvent] = ()) -> ServiceTask:
        uow = self._uow
        uow._check_writable()
        current = self._find(task.id) if isinstance(task, ServiceTask) else None
        check_task_update(current, task)
        assert current is not None
        refuse_empty_scope(uow.scope)
        stored = attrs.evolve(task, version=task.version + 1)
        audit = uow._entity_audit_row(
            "service_task.revised",
            "service_task",
            str(task.id),
            stored.version,
            task_changes(current, stored),
            uow._now(),
        )
        row = task_to_row(stored)
        params = {f"new_{k}": v for k, v in row.items() if k not in _FIXED}
        with uow.savepoint(), mapped_errors():
            result = uow.connection.execute(
                _UPDATE, {"key": task.id, "read_version": task.version, **params}
            )
            if result.rowcount != 1:
                raise ConflictError(
                    "the task was changed by someone else since it was read; reload it and "
                    "try again"
                )
            uow._write_audit_rows([audit])
            uow._write_events(events)
        return stored

    # -- the book at once --------------------------------------------------------------

    def generate(self, plan: TaskGeneration) -> int:
        uow = self._uow
        uow._check_writable()
        if not isinstance(plan, TaskGeneration):
            raise ValidationError("expected a finance_crm TaskGeneration", path="$.plan")
        refuse_empty_scope(uow.scope)
        statement = self._generation(plan)
        standard = plan.standard
        with uow._all_or_nothing(), mapped_errors():
            made = 0
            if statement is not None:
                sql = sa.text(generation_sql(self._dialect.name, statement.shape))
                if statement.expanding:
                    sql = sql.bindparams(
                        *(sa.bindparam(name, expanding=True) for name in statement.expanding)
                    )
                made = int(uow.connection.execute(sql, statement.params).rowcount)
            now = uow._now()
            uow._write_audit_rows(
                [
                    uow._entity_audit_row(
                        "service_tasks.generated",
                        "service_standard",
                        standard.code,
                        1,
                        generation_audit(plan, made),
                        now,
                    )
                ]
            )
            if made:
                uow._write_events(
                    [
                        ServiceTasksGenerated(
                            occurred_at=now, standard=standard.code, on=plan.on, count=made
                        )
                    ]
                )
        return made

    def _generation(self, plan: TaskGeneration) -> _Statement | None:
        """The statement ``plan`` compiles to, or None when it asks for no task."""
        d, codec = self._dialect, self._uow._codec
        standard, on = plan.standard, _day(plan.on, "$.on")
        selection = standard.applies_to
        params: dict[str, Any] = {
            "code": standard.code,
            "purpose": standard.name,
            "on": codec.date(on),
            "id_ms": id_prefix(),
        }
        lists: dict[str, list[Any]] = {
            "risk_levels": sorted(int(r) for r in selection.risk_levels),
            "customer_kinds": sorted(k.value for k in selection.kinds),
            "tiers": sorted(selection.tiers),
            "unavailable": sorted(plan.unavailable),
        }
        kind: str
        if isinstance(standard, CadenceStandard):
            params["contact_kinds"] = _kinds(standard.satisfied_by)
            if standard.every_days is not None:
                kind = "every_days"
                every, notice = standard.every_days, standard.notice_days
                latest = on - datetime.timedelta(days=every - notice)
                params.update(
                    effective_from=codec.date(plain_date(standard.effective_from)),
                    every=d.days(every),
                    one=d.days(1),
                    latest_base=codec.date(latest),
                )
            else:
                if plan.period is None:
                    raise ValidationError(
                        "a per-period cadence's plan gives the period", path="$.period"
                    )
                kind = "per_period"
                first, due = plan.period
                if on < first:
                    return None
                params.update(
                    first=codec.date(plain_date(first)),
                    due=codec.date(plain_date(due)),
                    occurrence=first.isoformat(),
                )
        elif isinstance(standard, DateStandard):
            kind = "date"
            asked = event_task(standard, plan)
            if asked is None:
                return None
            occurrence, counts_from, due = asked
            params.update(
                occurrence=occurrence,
                counts_from=codec.date(plain_date(counts_from)),
                due=codec.date(plain_date(due)),
            )
        else:
            assert isinstance(standard, EventStandard)
            kind = standard.trigger.value
            if standard.trigger is ServiceTrigger.BIRTHDAY:
                rows: list[tuple[Any, ...]] = []
                for month_day in sorted(plan.birthdays):
                    found = event_task(standard, plan, birthday=month_day)
                    if found is not None:
                        occurrence, counts_from, due = found
                        rows.append((month_day, occurrence, counts_from, due))
                if not rows:
                    return None
                params.update(d.rows_params("birthdays", BIRTHDAY_WIDTH, self._encoded(rows)))
            else:
                days = sorted(plan.due_by_event_day)
                if not days:
                    return None
                tier = standard.trigger is ServiceTrigger.TIER_CHANGED
                prefix = f"{standard.trigger.value}:"
                rows = [
                    (day, plan.due_by_event_day[day], prefix + day.isoformat() if tier else prefix)
                    for day in days
                ]
                params.update(d.rows_params("events", EVENT_WIDTH, self._encoded(rows)))
                params.update(
                    first_day=codec.date(plain_date(days[0])),
                    last_day=codec.date(plain_date(days[-1])),
                )
                if tier:
                    lists["directions"] = sorted(t.value for t in standard.tier_directions)
                if standard.trigger is ServiceTrigger.LARGE_TRANSACTION:
                    least = standard.min_amount
                    assert least is not None
                    params.update(min_currency=least.currency.code, min_minor=least.minor_units)
                    lists["txn_kinds"] = sorted(k.value for k in standard.transaction_kinds)
        shape = Shape(
            kind=kind,
            risk_levels=bool(lists["risk_levels"]),
            kinds=bool(lists["customer_kinds"]),
            tiers=bool(lists["tiers"]),
            unavailable=bool(lists["unavailable"]),
            transaction_kinds=bool(lists.get("txn_kinds")),
        )
        expanding = tuple(name for name, values in lists.items() if values)
        params.update((name, lists[name]) for name in expanding)
        if "contact_kinds" in params:
            expanding += ("contact_kinds",)
        return _Statement(shape, params, expanding)

    def _encoded(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``rows`` with their days encoded for the backend (ISO text on SQLite)."""
        codec = self._uow._codec
        return [
            tuple(
                codec.date(plain_date(v))
                if isinstance(v, datetime.date) and not self._dialect.pg
                else v
                for v in row
            )
            for row in rows
        ]

    def satisfy(
        self, on: datetime.date, kinds_by_standard: Mapping[str, frozenset[ActivityKind]]
    ) -> int:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        on = _day(on, "$.on")
        rows = []
        for code, kinds in sorted(kinds_by_standard.items()):
            values = sorted(k.value for k in kinds if isinstance(k, ActivityKind))
            if values:
                rows.append((code, "," + ",".join(values) + ","))
        if not rows:
            return 0
        d = self._dialect
        params = {
            "on": uow._codec.date(on),
            "actor": uow.actor.id,
            **d.rows_params("k", KINDS_WIDTH, rows),
        }
        at = uow._now()
        actor = uow.actor.id

        def done(after: ServiceTask) -> tuple[ServiceTask, ServiceTask, list[DomainEvent]]:
            before = attrs.evolve(
                after,
                status=TaskStatus.OPEN,
                done_on=None,
                closed_by=None,
                activity_id=None,
                version=after.version - 1,
            )
            assert after.done_on is not None
            _, events = before.complete(
                on=after.done_on, by=actor, activity_id=after.activity_id, at=at
            )
            return before, after, events

        return self._step(*satisfy_sql(d.name), params, done)

    def escalate(
        self,
        on: datetime.date,
        *,
        due_on_or_before: datetime.date,
        supervisors: Mapping[StaffId, StaffId],
    ) -> int:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        on = _day(on, "$.on")
        cutoff = _day(due_on_or_before, "$.due_on_or_before")
        rows = []
        for staff_id, boss in sorted(supervisors.items(), key=lambda kv: str(kv[0])):
            if not isinstance(staff_id, str):
                continue  # no task's assignee
            if not isinstance(boss, str) or not boss.strip():
                raise ValidationError("must be a staff code (工号)", path="$.escalated_to")
            rows.append((staff_id, boss))
        if not rows:
            return 0
        d, codec = self._dialect, uow._codec
        params = {
            "on": codec.date(on),
            "cutoff": codec.date(cutoff),
            **d.rows_params("m", SUPERVISOR_WIDTH, rows),
        }
        at = uow._now()

        def escalated(after: ServiceTask) -> tuple[ServiceTask, ServiceTask, list[DomainEvent]]:
            before = attrs.evolve(
                after, escalated_to=None, escalated_on=None, version=after.version - 1
            )
            assert after.escalated_to is not None
            _, events = before.escalate(to=after.escalated_to, on=on, at=at)
            return before, after, events

        return self._step(*escalate_sql(d.name), params, escalated)

    # -- the steps of satisfy() and escalate() ------------------------------------------

    def _step(
        self,
        decide: str,
        apply: str,
        params: dict[str, Any],
        change: Callable[[ServiceTask], tuple[ServiceTask, ServiceTask, list[DomainEvent]]],
    ) -> int:
        """Decide into the step table, apply, then audit each changed task (``change``
        gives its before, after and events) in id order."""
        uow = self._uow
        with self._enclosed(), self._step_table():
            n = int(self._execute(decide, params).rowcount)
            if not n:
                return 0
            if self._dialect.pg:  # a temporary table gets no statistics of its own
                self._execute(f"ANALYZE {STEP_TABLE}", {})
            with uow._all_or_nothing():
                if int(self._execute(apply, params).rowcount) != n:
                    raise ConflictError(
                        "a task was changed by someone else meanwhile; nothing was written: "
                        "run it again"
                    )
                at = uow._now()
                for batch in self._stepped():
                    audit: list[tuple[Any, ...]] = []
                    events: list[DomainEvent] = []
                    for task in batch:
                        before, after, raised = change(task)
                        audit.append(
                            uow._entity_audit_row(
                                "service_task.revised",
                                "service_task",
                                str(after.id),
                                after.version,
                                task_changes(before, after),
                                at,
                            )
                        )
                        events.extend(raised)
                    with mapped_errors():
                        uow._write_audit_rows(audit)
                        uow._write_events(events)
        return n

    def _execute(self, sql: str, params: Mapping[str, Any]) -> sa.CursorResult[Any]:
        with mapped_errors():
            return self._uow.connection.execute(sa.text(sql), dict(params))

    @contextmanager
    def _enclosed(self) -> Iterator[None]:
        """On PostgreSQL a savepoint (a failed statement would abort the transaction;
        the step table goes with its rollback)."""
        if self._dialect.pg:
            with self._uow.savepoint():
                yield
        else:
            yield

    @contextmanager
    def _step_table(self) -> Iterator[None]:
        d = self._dialect
        if not d.pg:  # one left over by a call that failed half-way
            self._execute(f"DROP TABLE IF EXISTS temp.{STEP_TABLE}", {})
        self._execute(d.create_step(), {})
        try:
            yield
        except BaseException:
            if not d.pg:
                with suppress(CrmError):  # the error that got here is the one to raise
                    self._execute(f"DROP TABLE IF EXISTS temp.{STEP_TABLE}", {})
            raise
        self._execute(f"DROP TABLE IF EXISTS {STEP_TABLE}", {})

    def _stepped(self) -> Iterator[list[ServiceTask]]:
        """The changed tasks in id order, ``_BATCH`` at a time (a server-side cursor on
        PostgreSQL; SQLite's cursor steps through them)."""
        options = {"stream_results": True, "max_row_buffer": _BATCH} if self._dialect.pg else {}
        with mapped_errors():
            result = self._uow.connection.execute(
                sa.text(stepped_tasks_sql(self._dialect.name)).columns(*service_tasks.c),
                execution_options=options,
            )
        mapped = result.mappings()
        try:
            while True:
                with mapped_errors():
                    rows = mapped.fetchmany(_BATCH)
                if not rows:
                    return
                yield [task_from_row(r) for r in rows]
        finally:
            result.close()
