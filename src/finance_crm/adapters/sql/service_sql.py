"""The set-based SQL of service tasks: one ``INSERT ... SELECT`` per task generation,
and the statements of ``satisfy()`` and ``escalate()``, on SQLite and PostgreSQL (the
spelling differences are in :class:`ServiceDialect`).

Each statement compiles the per-customer decisions of
:mod:`finance_crm.adapters._service_checks` (``selected``, ``acting_for``,
``cadence_due``, ``event_task``); :mod:`.service_tasks` binds the parameters. Every
date the calendar decides comes precomputed in the plan; the few lists a plan carries
(event days, birthdays, kinds per standard, supervisors) are sent as ONE parameter each:
a JSON array read with ``json_each`` on SQLite, arrays read with ``unnest`` on
PostgreSQL, so the statement text does not grow with them.

Parameters are bound already encoded (``RowCodec``): days as ISO text and ids as 32 hex
digits on SQLite, where the columns hold exactly that text; on PostgreSQL they are
cast in the statement.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

import attrs

from finance_crm._json import dumps
from finance_crm.model.customers import LifecycleStatus
from finance_crm.model.service_standards import TaskStatus

__all__ = [
    "BIRTHDAY_WIDTH",
    "EVENT_WIDTH",
    "KINDS_WIDTH",
    "STEP_TABLE",
    "SUPERVISOR_WIDTH",
    "ServiceDialect",
    "Shape",
    "escalate_sql",
    "generation_sql",
    "id_prefix",
    "satisfy_sql",
    "stepped_tasks_sql",
]

STEP_TABLE = "crm_task_step"
_SERVED = ", ".join(f"'{s.value}'" for s in (LifecycleStatus.ACTIVE, LifecycleStatus.DORMANT))
_OPEN = f"'{TaskStatus.OPEN.value}'"
_DONE = f"'{TaskStatus.DONE.value}'"
_TASK_COLUMNS = (
    "id",
    "customer_id",
    "standard",
    "occurrence",
    "purpose",
    "assignee",
    "covering_for",
    "created_on",
    "counts_from",
    "due_on",
    "status",
    "done_on",
    "activity_id",
    "waived_reason",
    "closed_by",
    "escalated_to",
    "escalated_on",
    "version",
)


def id_prefix() -> str:
    """The 48-bit Unix-millisecond prefix of the ids a statement makes, as 12 hex digits
    (the same clock as :func:`finance_crm.ids.new_uuid7`)."""
    return f"{(time.time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF:012x}"


@attrs.frozen
class ServiceDialect:
    """The places where SQLite and PostgreSQL spell the service statements differently."""

    name: str

    @property
    def pg(self) -> bool:
        return self.name == "postgresql"

    def date(self, param: str) -> str:
        return f"CAST(:{param} AS date)" if self.pg else f":{param}"

    def text(self, param: str) -> str:
        """A text parameter (PostgreSQL would deduce two types for one used twice)."""
        return f"CAST(:{param} AS text)" if self.pg else f":{param}"

    def days(self, n: int) -> Any:
        """The parameter value :meth:`plus` adds for ``n`` days."""
        return n if self.pg else f"{n:+d} days"

    def plus(self, day: str, param: str) -> str:
        """``day`` plus the days bound to ``param`` (see :meth:`days`)."""
        if self.pg:
            return f"({day} + CAST(:{param} AS integer))"
        return f"date({day}, :{param})"

    def iso(self, day: str) -> str:
        """A day as ISO text (SQLite stores it so already)."""
        return f"to_char({day}, 'YYYY-MM-DD')" if self.pg else day

    def greatest(self, *days: str) -> str:
        """The latest of non-NULL days."""
        return f"GREATEST({', '.join(days)})" if self.pg else f"max({', '.join(days)})"

    def utc_day(self, instant: str) -> str:
        """The UTC calendar day of an instant column (SQLite: naive UTC text)."""
        return f"CAST(({instant} AT TIME ZONE 'UTC') AS date)" if self.pg else f"date({instant})"

    def uuid_text(self, column: str) -> str:
        """An id column as ``str(uuid.UUID)`` spells it: SQLite holds 32 hex digits."""
        if self.pg:
            return f"CAST({column} AS text)"
        parts = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        return " || '-' || ".join(f"substr({column}, {a}, {n})" for a, n in parts)

    def month_day(self, day: str) -> str:
        return f"to_char({day}, 'MM-DD')" if self.pg else f"strftime('%m-%d', {day})"

    @property
    def join(self) -> str:
        """An inner join. SQLite's planner, left to itself, put a short list of event
        days first and walked the whole book once per day (0.25 s for 5,000 customers);
        its CROSS JOIN keeps the tables in the order written: the customers first, each
        joined by key to what it needs."""
        return "JOIN" if self.pg else "CROSS JOIN"

    def reached(self, alias: str) -> str:
        """The partial contact index's condition, spelled as the index spells it (the
        planners match it textually)."""
        return f"{alias}.reached" if self.pg else f"{alias}.reached = 1"

    def contains(self, haystack: str, needle: str) -> str:
        if self.pg:
            return f"strpos({haystack}, {needle}) > 0"
        return f"instr({haystack}, {needle}) > 0"

    def new_id(self) -> str:
        """A UUIDv7 made per row in SQL: the call's millisecond prefix (``:id_ms``),
        the version digit, then 74 random bits with the RFC 9562 variant, like
        :func:`~finance_crm.ids.new_uuid7`. PostgreSQL takes the random digits and the
        variant from ``gen_random_uuid()``; SQLite from ``randomblob()``, as the 32
        lower-case hex digits ``sa.Uuid`` stores."""
        if self.pg:
            random = "replace(CAST(gen_random_uuid() AS text), '-', '')"
            return (
                "CAST(CAST(:id_ms AS text) || '7' "
                f"|| substr({random}, 14, 3) || substr({random}, 17, 16) AS uuid)"
            )
        return (
            ":id_ms || '7' || substr(lower(hex(randomblob(2))), 1, 3) "
            "|| substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(8))), 1, 15)"
        )

    def rows(self, param: str, columns: Sequence[tuple[str, str]]) -> str:
        """A table of rows sent as ONE parameter per backend (see :meth:`rows_params`),
        as a query: ``columns`` are (name, PostgreSQL type)."""
        names = ", ".join(name for name, _ in columns)
        if self.pg:
            arrays = ", ".join(f"CAST(:{param}_{i} AS {t}[])" for i, (_, t) in enumerate(columns))
            return f"SELECT {names} FROM unnest({arrays}) AS {param}({names})"
        picks = ", ".join(
            f"json_extract(value, '$[{i}]') AS {name}" for i, (name, _) in enumerate(columns)
        )
        return f"SELECT {picks} FROM json_each(:{param})"

    def rows_cte(self, param: str, columns: Sequence[tuple[str, str]]) -> str:
        """:meth:`rows` as a common table expression named ``param``, materialized: read
        once (not once per row joined to it) and, on SQLite, indexed automatically."""
        return f"{param} AS MATERIALIZED ({self.rows(param, columns)})"

    def fence(self) -> str:
        """Ends a subquery the planner must not merge into the outer query (it would
        copy a computed column's correlated subquery into every use of the column)."""
        return "OFFSET 0" if self.pg else "LIMIT -1 OFFSET 0"

    def rows_params(self, param: str, width: int, rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
        """The parameters of :meth:`rows`: values already encoded for the backend."""
        if self.pg:
            return {f"{param}_{i}": [row[i] for row in rows] for i in range(width)}
        return {param: dumps([list(row) for row in rows])}

    def create_step(self) -> str:
        """The temporary table of a satisfy() or escalate() call: the tasks it changes,
        with the versions read and what is set."""
        if self.pg:
            return (
                f"CREATE TEMPORARY TABLE {STEP_TABLE} (id uuid PRIMARY KEY, "
                "version integer NOT NULL, activity_id uuid, done_on date, escalated_to text) "
                "ON COMMIT DROP"
            )
        return (
            f"CREATE TEMPORARY TABLE {STEP_TABLE} (id TEXT PRIMARY KEY, "
            "version INTEGER NOT NULL, activity_id TEXT, done_on TEXT, escalated_to TEXT) "
            "WITHOUT ROWID"
        )


# -- generate -----------------------------------------------------------------------------


@attrs.frozen
class Shape:
    """What decides a generation statement's text (its parameters aside)."""

    kind: str  # every_days, per_period, date, birthday, tier_changed, account_opened/_closed
    risk_levels: bool  # the selection names risk levels (:risk_levels)
    kinds: bool  # ... customer kinds (:customer_kinds)
    tiers: bool  # ... tiers (:tiers)
    unavailable: bool  # someone is unavailable (:unavailable)
    transaction_kinds: bool = False  # a large-transaction standard names kinds (:txn_kinds)


def _acting(shape: Shape) -> tuple[str, str, str]:
    """(joins, assignee, covering_for): ``acting_for`` over the assignment's roles, the
    primary ``p`` joined already; the secondary and chief only when someone is away."""
    if not shape.unavailable:
        return "", "p.staff_id", "CAST(NULL AS text)"
    joins = (
        "LEFT JOIN crm_assignment_member s ON s.customer_id = c.id AND s.role = 'secondary' "
        "LEFT JOIN crm_assignment_member h ON h.customer_id = c.id AND h.role = 'chief'"
    )
    away = "p.staff_id IN :unavailable"
    stands_in = "s.staff_id IS NOT NULL AND s.staff_id NOT IN :unavailable"
    chief_in = "h.staff_id IS NOT NULL AND h.staff_id NOT IN :unavailable"
    assignee = (
        f"CASE WHEN NOT ({away}) THEN p.staff_id WHEN {stands_in} THEN s.staff_id "
        f"WHEN {chief_in} THEN h.staff_id ELSE p.staff_id END"
    )
    covering = (
        f"CASE WHEN NOT ({away}) THEN NULL WHEN {stands_in} THEN p.staff_id "
        f"WHEN {chief_in} THEN p.staff_id ELSE NULL END"
    )
    return joins, assignee, covering


def _selected(d: ServiceDialect, shape: Shape) -> str:
    """``selected``: served customers matching the standard's selection (the tier the
    one held on ``:on``)."""
    where = [f"c.status IN ({_SERVED})"]
    if shape.risk_levels:
        where.append("c.risk_level IN :risk_levels")
    if shape.kinds:
        where.append("c.kind IN :customer_kinds")
    if shape.tiers:
        on = d.date("on")
        where.append(
            "EXISTS (SELECT 1 FROM crm_tier t WHERE t.customer_id = c.id "
            f"AND t.valid_from <= {on} AND (t.valid_to IS NULL OR t.valid_to > {on}) "
            "AND t.tier_code IN :tiers)"
        )
    return " AND ".join(where)


_EVENT_COLUMNS = (("day", "date"), ("due_on", "date"), ("occurrence", "text"))
_BIRTHDAY_COLUMNS = (
    ("month_day", "text"),
    ("occurrence", "text"),
    ("counts_from", "date"),
    ("due_on", "date"),
)
EVENT_WIDTH = len(_EVENT_COLUMNS)
BIRTHDAY_WIDTH = len(_BIRTHDAY_COLUMNS)


@attrs.frozen
class _Asked:
    """What a standard asks of each customer row ``c`` (``cadence_due`` /
    ``event_task``): a common table expression, joins, a condition, and the task's
    occurrence, counts_from and due_on."""

    cte: str
    joins: str
    condition: str
    occurrence: str
    counts_from: str
    due_on: str


def _asked(d: ServiceDialect, shape: Shape) -> _Asked:
    join = d.join
    if shape.kind == "per_period":
        # Not contacted in the period so far.
        contacted = (
            f"SELECT 1 FROM crm_activity a WHERE {d.reached('a')} AND a.customer_id = c.id "
            f"AND a.kind IN :contact_kinds AND a.completed_on >= {d.date('first')} "
            f"AND a.completed_on <= {d.date('on')}"
        )
        return _Asked(
            "",
            "",
            f"NOT EXISTS ({contacted})",
            d.text("occurrence"),
            d.date("first"),
            d.date("due"),
        )
    if shape.kind == "date":
        return _Asked("", "", "", d.text("occurrence"), d.date("counts_from"), d.date("due"))
    if shape.kind == "birthday":
        return _Asked(
            d.rows_cte("birthdays", _BIRTHDAY_COLUMNS),
            f"{join} birthdays ON birthdays.month_day = {d.month_day('c.birthday')}",
            "c.kind = 'individual' AND c.birthday IS NOT NULL",
            "birthdays.occurrence",
            "birthdays.counts_from",
            "birthdays.due_on",
        )
    events = d.rows_cte("events", _EVENT_COLUMNS)
    lo, hi = d.date("first_day"), d.date("last_day")
    if shape.kind == "tier_changed":
        # The record before is the one ending the day this one starts (records are
        # contiguous): none, a lower, a higher or an equal rank gives the direction.
        joins = (
            f"{join} crm_tier r ON r.customer_id = c.id AND r.valid_from >= {lo} "
            f"AND r.valid_from <= {hi} "
            f"{join} events ON events.day = r.valid_from "
            "LEFT JOIN crm_tier b ON b.customer_id = c.id AND b.valid_to = r.valid_from"
        )
        direction = (
            "CASE WHEN b.customer_id IS NULL THEN 'initial' WHEN r.tier_rank > b.tier_rank "
            "THEN 'up' WHEN r.tier_rank < b.tier_rank THEN 'down' ELSE 'sideways' END"
        )
        return _Asked(
            events,
            joins,
            f"{direction} IN :directions",
            "events.occurrence",
            "events.day",
            "events.due_on",
        )
    if shape.kind == "large_transaction":
        # The customer's accounts, then each one's transactions of the window (the
        # (account_id, day) index), at least :min_minor in :min_currency.
        kinds = " AND tx.kind IN :txn_kinds" if shape.transaction_kinds else ""
        joins = (
            f"{join} crm_account ac ON ac.customer_id = c.id "
            f"{join} crm_transaction tx ON tx.account_id = ac.id AND tx.day >= {lo} "
            f"AND tx.day <= {hi} AND tx.currency = :min_currency "
            f"AND tx.amount_minor >= :min_minor{kinds} "
            f"{join} events ON events.day = tx.day"
        )
        return _Asked(
            events,
            joins,
            "",
            f"events.occurrence || {d.uuid_text('tx.id')}",
            "events.day",
            "events.due_on",
        )
    column = "opened_on" if shape.kind == "account_opened" else "closed_on"
    joins = (
        f"{join} crm_account ac ON ac.customer_id = c.id AND ac.{column} >= {lo} "
        f"AND ac.{column} <= {hi} "
        f"{join} events ON events.day = ac.{column}"
    )
    return _Asked(
        events,
        joins,
        "",
        f"events.occurrence || {d.uuid_text('ac.id')}",
        "events.day",
        "events.due_on",
    )


_INSERT = (
    "INSERT INTO crm_service_task (id, customer_id, standard, occurrence, purpose, assignee, "
    "covering_for, created_on, counts_from, due_on, status, version) "
)
_ON_CONFLICT = " ON CONFLICT (customer_id, standard, occurrence) DO NOTHING"


@functools.cache
def generation_sql(dialect: str, shape: Shape) -> str:
    """The one statement that makes a standard's tasks on ``:on``: a task per selected
    customer with a manager, per occurrence the standard asks for, unless the customer
    has it already (the unique key: ``ON CONFLICT DO NOTHING``; SQLite wants the WHERE
    clause every SELECT here has, to tell the upsert from a join's ON).

    The customers are read once, each joined to its primary manager, then to what the
    standard asks of it (on SQLite in the order written: see :attr:`ServiceDialect.join`).
    A common table expression goes after ``INSERT INTO``: Python's sqlite3 counts the
    rows of a statement only when it starts with INSERT."""
    d = ServiceDialect(dialect)
    left_joins, assignee, covering = _acting(shape)
    selected = _selected(d, shape)
    code, on, purpose = d.text("code"), d.date("on"), d.text("purpose")
    managed = (
        f"crm_customer c {d.join} crm_assignment_member p "
        "ON p.customer_id = c.id AND p.role = 'primary'"
    )
    if shape.kind == "every_days":
        # cadence_due: the latest of the last contact (up to :on), the standard's start
        # and the day the customer was opened (UTC); due :every days later, shown
        # :notice days before (base <= :latest_base); one open task at a time.
        last = (
            "(SELECT max(a.completed_on) FROM crm_activity a "
            f"WHERE {d.reached('a')} AND a.customer_id = c.id AND a.kind IN :contact_kinds "
            f"AND a.completed_on <= {on})"
        )
        effective = d.date("effective_from")
        base = d.greatest(f"coalesce({last}, {effective})", effective, d.utc_day("c.opened_at"))
        due = d.plus("b.base", "every")
        return (
            f"{_INSERT}SELECT {d.new_id()}, b.customer_id, {code}, {d.iso(due)}, {purpose}, "
            f"b.assignee, b.covering_for, {on}, {d.plus('b.base', 'one')}, {due}, {_OPEN}, 1 "
            f"FROM (SELECT c.id AS customer_id, {assignee} AS assignee, "
            f"{covering} AS covering_for, {base} AS base "
            f"FROM {managed} {left_joins} WHERE {selected} {d.fence()}) b "
            f"WHERE b.base <= {d.date('latest_base')} AND NOT EXISTS ("
            f"SELECT 1 FROM crm_service_task o WHERE o.standard = {code} "
            f"AND o.customer_id = b.customer_id AND o.status = {_OPEN})"
            f"{_ON_CONFLICT}"
        )
    asked = _asked(d, shape)
    where = f"{selected} AND {asked.condition}" if asked.condition else selected
    select = (
        f"SELECT {d.new_id()}, c.id, {code}, {asked.occurrence}, {purpose}, {assignee}, "
        f"{covering}, {on}, {asked.counts_from}, {asked.due_on}, {_OPEN}, 1 "
        f"FROM {managed} {asked.joins} {left_joins} WHERE {where}"
    )
    if asked.cte:
        select = f"WITH {asked.cte} {select}"
    return f"{_INSERT}{select}{_ON_CONFLICT}"


# -- satisfy and escalate -------------------------------------------------------------------

KINDS_WIDTH = 2
_KINDS_COLUMNS = (("standard", "text"), ("kinds", "text"))
SUPERVISOR_WIDTH = 2
_SUPERVISOR_COLUMNS = (("staff_id", "text"), ("boss", "text"))


def _apply(d: ServiceDialect, fixed: str, stepped: Sequence[str]) -> str:
    """The UPDATE of the tasks in the step table whose version is still the one read:
    ``fixed`` assignments, and the ``stepped`` columns from the step table. PostgreSQL
    joins the two tables; SQLite's UPDATE ... FROM walked the whole task table (it put
    the target first), so there each task is found by id from the step table's ids."""
    if d.pg:
        taken = ", ".join(f"{c} = s.{c}" for c in stepped)
        return (
            f"UPDATE crm_service_task AS t SET {fixed}, {taken}, version = t.version + 1 "
            f"FROM {STEP_TABLE} AS s WHERE t.id = s.id AND t.version = s.version"
        )
    step = f"FROM {STEP_TABLE} s WHERE s.id = crm_service_task.id"
    columns = ", ".join(stepped)
    taken = ", ".join(f"s.{c}" for c in stepped)
    return (
        f"UPDATE crm_service_task SET {fixed}, ({columns}) = (SELECT {taken} {step}), "
        f"version = version + 1 WHERE id IN (SELECT id FROM {STEP_TABLE}) "
        f"AND version = (SELECT s.version {step})"
    )


@functools.cache
def satisfy_sql(dialect: str) -> tuple[str, str]:
    """(decide, apply). ``decide`` fills the step table with each open task of a
    standard in the rows ``k`` (standard, ``",call,visit,"``) that a contact of those kinds
    on a day from its ``counts_from`` to ``:on`` satisfies, with the earliest such
    activity (ties: the smallest id): one seek of the contact index per open task.
    ``apply`` closes them, version-checked."""
    d = ServiceDialect(dialect)
    of_kinds = d.contains("k.kinds", "',' || a.kind || ','")
    first = (
        "(SELECT a.id FROM crm_activity a "
        f"WHERE {d.reached('a')} AND a.customer_id = t.customer_id "
        f"AND a.completed_on >= t.counts_from AND a.completed_on <= {d.date('on')} "
        f"AND {of_kinds} "
        "ORDER BY a.completed_on, a.id LIMIT 1)"
    )
    decide = (
        f"INSERT INTO {STEP_TABLE} (id, version, activity_id, done_on) "
        "SELECT x.id, x.version, a.id, a.completed_on FROM ("
        f"SELECT t.id AS id, t.version AS version, {first} AS activity_id "
        f"FROM ({d.rows('k', _KINDS_COLUMNS)}) k "
        f"{d.join} crm_service_task t ON t.standard = k.standard AND t.status = {_OPEN}"
        ") x JOIN crm_activity a ON a.id = x.activity_id"
    )
    apply = _apply(d, f"status = {_DONE}, closed_by = :actor", ("done_on", "activity_id"))
    return decide, apply


@functools.cache
def escalate_sql(dialect: str) -> tuple[str, str]:
    """(decide, apply). ``decide`` fills the step table with each open task not yet
    escalated, due on or before ``:cutoff``, of an assignee in the rows ``m`` (staff id,
    supervisor): one range of the open-by-assignee index per supervised assignee;
    ``apply`` escalates them, version-checked."""
    d = ServiceDialect(dialect)
    decide = (
        f"INSERT INTO {STEP_TABLE} (id, version, escalated_to) "
        "SELECT t.id, t.version, m.boss "
        f"FROM ({d.rows('m', _SUPERVISOR_COLUMNS)}) m "
        f"{d.join} crm_service_task t ON t.assignee = m.staff_id AND t.status = {_OPEN} "
        f"AND t.due_on <= {d.date('cutoff')} AND t.escalated_to IS NULL"
    )
    apply = _apply(d, f"escalated_on = {d.date('on')}", ("escalated_to",))
    return decide, apply


@functools.cache
def stepped_tasks_sql(dialect: str) -> str:
    """The tasks a step changed, after the change, in id order (the order the in-memory
    adapter audits them in; on SQLite the step table's key order)."""
    columns = ", ".join(f"t.{c}" for c in _TASK_COLUMNS)
    join = ServiceDialect(dialect).join
    return (
        f"SELECT {columns} FROM {STEP_TABLE} s {join} crm_service_task t ON t.id = s.id "
        "ORDER BY t.id"
    )
