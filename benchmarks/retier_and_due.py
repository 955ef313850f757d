"""retier_and_due: re-tier N customers from a quarter's average daily AUM, evaluate the
service standards and read every manager's due list, against hand-written SQL.

The book (:mod:`_service_book`, cached as
``benchmarks/.work/cache/service_book-n<N>-v<version>.db``; ``--rebuild`` makes it
again): N customers with managers in teams (some on leave on the evaluation day), 1-2
counted CNY accounts each (plus a few loans and USD accounts that must not count),
sparse end-of-day balances (a balance carried in from before the quarter and about 8
change days in it), last quarter's tiers for everyone, contacts in the 60 days before
the evaluation day and the tasks of an earlier evaluation (2025-09-01). The quarter is
2025-07-01..2025-09-28 (90 days), the tiers move on 2025-09-29 and the standards are
evaluated on 2025-09-30. Each side runs in its own child process on its own fresh copy.

Ours (timed, one unit of work as ``Actor.system("retier-and-due")`` on
``SqlStore.from_url("sqlite:///<copy>")``, each step timed):

1. ``retier_book(uow, broker_tiers(hysteresis=Decimal("0.1")), period=(2025-07-01,
   2025-09-28), effective_on=2025-09-29)``;
2. ``evaluate_standards(uow, rules, on=2025-09-30)`` with ``rules = ServiceRules(
   standards, calendar=china_calendar())`` and three standards: risk levels 4-5 contacted
   at least every 30 days (a ``CadenceStandard`` from 2025-06-01), one-to-one tier a
   visit per quarter (``per_period=QUARTER``, satisfied by visits only) and a contact
   within 5 business days of a tier move up or down (``EventStandard``, ``TIER_CHANGED``);
   tasks overdue by 3 business days go to the team's supervisor;
3. the due list: every staff member's open tasks due by 2025-09-30, read through
   ``uow.service_tasks.due_list(staff_ids, until=...)`` one unit (a team with its
   supervisor, a branch head) at a time, each row hashed and counted, none kept;
4. ``uow.commit()``.

Baseline (timed, stdlib ``sqlite3`` with the same PRAGMAs as ``SqlStore`` (WAL, foreign
keys, busy timeout), one ``BEGIN IMMEDIATE ... COMMIT``, the same steps):

1. one ``INSERT ... SELECT`` into a temporary table of the customers whose tier moves:
   the averages (each counted account's balances from its last one before the quarter,
   found by one seek of the balance key, to the quarter's end, ``LEAD()`` for the days
   each stands for, summed per customer and rounded half up in integers) and the tier
   by ``CASE`` with the same thresholds and buffer; then one ``UPDATE`` closing their
   current records and one ``INSERT`` of the new ones;
2. the staff on leave, the customers whose primary is away with their stand-in, and the
   supervisors (worked out in Python from the staff and units, as ``UnitSupervisor``
   does) in temporary tables; the tasks that contacts satisfy (the earliest qualifying
   contact per task, ``ROW_NUMBER()``) into a temporary table and one ``UPDATE ...
   FROM`` it; one ``INSERT ... SELECT`` per standard; one ``UPDATE ... FROM`` for the
   escalations. The dates the China calendar decides (due days, the quarter's last
   business day, the escalation cut-off) come from a small stdlib calendar over the
   holiday data finance_crm ships;
3. the same due list, one ``SELECT`` per unit, hashed and counted.

It handles a first run for the effective day (not a correction of one) and writes no
audit or outbox rows: ours does, one audit row and one outbox event per tier move,
satisfied task and escalation, one audit row per standard evaluated and per run, which
is part of finance_crm's promise; ``audit_rows`` and ``outbox_rows`` say how many.

Both sides must give the same result: after its run each child hashes the current
tiers (customer, tier, valid_from, average), every task (customer, standard,
occurrence, assignee, stand-in, days, status, activity, escalation, version; not the
random ids) and the due list, and the run fails if they differ.

PostgreSQL (when ``FINANCE_CRM_BENCH_POSTGRES_URL`` or ``FINANCE_CRM_TEST_POSTGRES_URL``
names a server where databases may be created; ``--no-postgres`` skips it): a template
database gets finance_crm's schema and the book's first ``--pg-n`` customers with
everything of theirs copied from the SQLite cache (same ids); each side works on its
own ``CREATE DATABASE ... TEMPLATE`` copy: ours through ``SqlStore``, the baseline with
psycopg and the same SQL (spelled for PostgreSQL where the two differ).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import hashlib
import itertools
import json
import re
import secrets
import shutil
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import _service_book as book
from _common import (
    PG_URL_ENVS,
    REPO_ROOT,
    environment,
    file_mb,
    peak_rss_mb,
    pg_admin,
    pg_conninfo,
    pg_drop,
    pg_sa_url,
    postgres_url,
    ratio,
    remove_db,
    run_dir,
    run_part,
)

NAME = "retier_and_due"
SUMMARY = "re-tier N customers, evaluate 3 service standards, read the due lists vs SQL"
DEFAULT_N = 1_000_000
PARTS = (
    "ours",
    "baseline",
    "build",
    "build-managers",
    "upgrade",
    "pg-build",
    "pg-ours",
    "pg-baseline",
    "pg-drop",
)
PG_DEFAULT_N = 1_000_000
ACTOR_JOB = "retier-and-due"  # Actor.system(ACTOR_JOB)
ACTOR_ID = f"system:{ACTOR_JOB}"
STEPS = ("retier", "evaluate", "due_list", "commit")
SERVED = "'active', 'dormant'"
HOLIDAYS = REPO_ROOT / "src" / "finance_crm" / "data" / "china_holidays.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pg-n",
        type=int,
        help=f"customers on PostgreSQL (--n, at most {PG_DEFAULT_N:,} unless given)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL part")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    parser.add_argument("--keep", action="store_true", help="keep the two copies until next run")
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--pg-template", help=argparse.SUPPRESS)  # the template database
    parser.add_argument("--profile", help=argparse.SUPPRESS)  # cProfile output (ours)


# -- parent ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    # The parent never imports SQLAlchemy: a child inherits its parent's peak RSS.
    db, build = book.ensure_database(NAME, args.n, args.rebuild)
    upgrade = run_part(NAME, "upgrade", ["--n", str(args.n), "--db", str(db)])
    work = run_dir(NAME)
    sides: dict[str, dict[str, Any]] = {}
    for side in ("baseline", "ours"):
        copy = work / f"{side}.db"
        copy_seconds = book.copy_database(db, copy)
        sides[side] = run_part(NAME, side, ["--n", str(args.n), "--db", str(copy)])
        sides[side]["copy_seconds"] = copy_seconds
        print(f"{side}: {sides[side]['seconds']:.2f} s {sides[side]['steps']}", file=sys.stderr)
        if not args.keep:
            remove_db(copy)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    ours, baseline = sides["ours"], sides["baseline"]
    _same_result("SQLite", ours, baseline)
    result: dict[str, Any] = {
        "bench": NAME,
        "n": args.n,
        **_figures("", ours, baseline),
        "db_mb": file_mb(db),
        "schema_upgraded_this_run": upgrade["upgraded"],
        "built_this_run": build is not None,
        "build_seconds": None if build is None else build["seconds"],
        "build": build,
    }
    url = postgres_url()
    if url is not None and not args.no_postgres:
        result.update(_postgres(args, db))
    else:
        result["pg_n"] = None
        reason = "--no-postgres" if url else f"{PG_URL_ENVS[0]} not set"
        print(f"PostgreSQL part skipped: {reason}", file=sys.stderr)
    result.update(environment())
    return result


def _figures(prefix: str, ours: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """The JSON figures of one backend (``prefix`` "" or "pg_")."""
    seconds, baseline_seconds = ours["seconds"], baseline["seconds"]
    check = ours["check"]
    return {
        f"{prefix}seconds": seconds,
        f"{prefix}baseline_seconds": baseline_seconds,
        f"{prefix}ratio": ratio(seconds, baseline_seconds),
        f"{prefix}peak_rss_mb": ours["peak_rss_mb"],
        f"{prefix}baseline_peak_rss_mb": baseline["peak_rss_mb"],
        f"{prefix}steps": ours["steps"],
        f"{prefix}baseline_steps": baseline["steps"],
        f"{prefix}step_ratios": {
            step: ratio(ours["steps"][step], baseline["steps"][step]) for step in STEPS
        },
        f"{prefix}baseline_substeps": baseline["substeps"],
        f"{prefix}customers_evaluated": ours["report"]["evaluated"],
        f"{prefix}tier_moves": check["moves"],
        f"{prefix}tiers_by_code": check["tiers_by_code"],
        f"{prefix}tasks_made": check["made"],
        f"{prefix}tasks_satisfied": check["satisfied"],
        f"{prefix}tasks_escalated": check["escalated"],
        f"{prefix}tasks_stored": check["tasks"],
        f"{prefix}due_list_rows": ours["due_rows"],
        f"{prefix}due_list_units": ours["due_units"],
        f"{prefix}audit_rows": check["audit_rows"],
        f"{prefix}outbox_rows": check["outbox_rows"],
        f"{prefix}baseline_audit_rows": baseline["check"]["audit_rows"],
        f"{prefix}due_list_out_of_order": ours["due_out_of_order"],
        f"{prefix}report": ours["report"],
        f"{prefix}tiers_sha256": check["tiers_sha256"],
        f"{prefix}tasks_sha256": check["tasks_sha256"],
        f"{prefix}due_sha256": ours["due_sha256"],
    }


def _same_result(where: str, ours: dict[str, Any], baseline: dict[str, Any]) -> None:
    differ = [
        key
        for key in ("tiers_sha256", "tasks_sha256", "moves", "made", "satisfied", "escalated")
        if ours["check"][key] != baseline["check"][key]
    ]
    differ += [k for k in ("due_sha256", "due_rows") if ours[k] != baseline[k]]
    if differ:
        for key in differ:
            print(
                f"{where} {key}: ours {ours['check'].get(key, ours.get(key))} "
                f"baseline {baseline['check'].get(key, baseline.get(key))}",
                file=sys.stderr,
            )
        raise SystemExit(f"{where}: the two sides' results differ ({', '.join(differ)})")


def _postgres(args: argparse.Namespace, db: Path) -> dict[str, Any]:
    pg_n = args.pg_n or min(args.n, PG_DEFAULT_N)
    if pg_n < 1 or pg_n > args.n:
        raise SystemExit("--pg-n must be between 1 and --n")
    print(f"PostgreSQL: template database with {pg_n:,} customers ...", file=sys.stderr)
    build = run_part(NAME, "pg-build", ["--n", str(pg_n), "--db", str(db)])
    template = build["template"]
    sides: dict[str, dict[str, Any]] = {}
    try:
        for side in ("pg-baseline", "pg-ours"):
            sides[side] = run_part(NAME, side, ["--n", str(pg_n), "--pg-template", template])
            print(f"{side}: {sides[side]['seconds']:.2f} s {sides[side]['steps']}", file=sys.stderr)
    finally:
        run_part(NAME, "pg-drop", ["--pg-template", template])
    ours, baseline = sides["pg-ours"], sides["pg-baseline"]
    _same_result("PostgreSQL", ours, baseline)
    return {
        "pg_n": pg_n,
        **_figures("pg_", ours, baseline),
        "pg_build_seconds": build["seconds"],
        "pg_server": build["server"],
    }


# -- children -------------------------------------------------------------------------------


def part(args: argparse.Namespace) -> dict[str, Any]:
    if args.part == "build-managers":
        import _managers

        return _managers.build(Path(args.db), args.n)
    if args.part == "build":
        return book.build(Path(args.db), args.n)
    if args.part == "upgrade":
        return book.upgrade(Path(args.db))
    if args.part == "pg-build":
        return _pg_build(Path(args.db), args.n)
    if args.part == "pg-drop":
        pg_drop(args.pg_template)
        return {"part": args.part, "dropped": args.pg_template}
    if args.part in ("ours", "baseline"):
        db = Path(args.db)
        before = _high_water(_SqliteReader(db))
        if args.part == "ours":
            figures = _ours(f"sqlite:///{db}", args.profile)
        else:
            connection = _sqlite_connect(db)
            figures = _baseline(connection, Dialect(pg=False))
            connection.close()
        figures["peak_rss_mb"] = peak_rss_mb()  # before the check, which is not timed
        figures["check"] = _check(_SqliteReader(db), before, pg=False)
        figures["db_mb"] = file_mb(db)
        return {"part": args.part, **figures}
    name = f"{args.pg_template}_{'ours' if args.part == 'pg-ours' else 'base'}"
    pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{args.pg_template}"')
    try:
        before = _high_water(_PgReader(pg_conninfo(name)))
        if args.part == "pg-ours":
            figures = _ours(pg_sa_url(name), args.profile)
        else:
            import psycopg

            with psycopg.connect(pg_conninfo(name)) as pg_connection:
                figures = _baseline(pg_connection, Dialect(pg=True))
        figures["peak_rss_mb"] = peak_rss_mb()
        figures["check"] = _check(_PgReader(pg_conninfo(name)), before, pg=True)
    finally:
        pg_drop(name)
    return {"part": args.part, **figures}


class _DueHash:
    """The due list, hashed one unit at a time: rows sorted within the unit (their ids,
    which break ties in the list's order, differ between the sides)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.rows = 0
        self.units = 0

    def add(self, lines: list[str]) -> None:
        lines.sort()
        self.digest.update(f"unit {self.units}\n".encode())
        self.digest.update("".join(lines).encode())
        self.rows += len(lines)
        self.units += 1


def _ours(url: str, profile: str | None) -> dict[str, Any]:
    from finance_crm.adapters.sql import SqlStore
    from finance_crm.security import Actor
    from finance_crm.services.service_standards import evaluate_standards
    from finance_crm.services.tiers import retier_book

    store = SqlStore.from_url(url)
    actor = Actor.system(ACTOR_JOB)
    rule, rules = book.tier_rule(), book.service_rules()
    rules.calendar.is_business_day(book.EVALUATION_DAY)  # the holiday data read once, untimed
    period = (book.PERIOD_START, book.PERIOD_END)
    on = book.EVALUATION_DAY
    due = _DueHash()
    out_of_order = 0
    profiler = cProfile.Profile() if profile else None
    marks = [time.perf_counter()]
    if profiler is not None:
        profiler.enable()
    with store.unit_of_work(actor) as uow:
        report = retier_book(uow, rule, period=period, effective_on=book.EFFECTIVE_ON)
        marks.append(time.perf_counter())
        evaluation = evaluate_standards(uow, rules, on=on)
        marks.append(time.perf_counter())
        units = book.staff_chunks([(m.unit, m.id) for m in uow.organization.staff()])
        for unit in units:
            lines = []
            previous: tuple[datetime.date, Any] | None = None
            for task in uow.service_tasks.due_list(unit, until=on):
                key = (task.due_on, task.customer_id)
                if previous is not None and key < previous:
                    out_of_order += 1
                previous = key
                lines.append(
                    f"{task.customer_id.hex}|{task.standard}|{task.occurrence}|{task.assignee}|"
                    f"{task.due_on.isoformat()}|{task.escalated_to or ''}\n"
                )
            due.add(lines)
        marks.append(time.perf_counter())
        uow.commit()
    marks.append(time.perf_counter())
    if profiler is not None:
        profiler.disable()
    store.close()
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    return {
        "seconds": round(marks[-1] - marks[0], 3),
        "steps": _steps(marks),
        "substeps": {},
        "report": {
            "evaluated": report.evaluated,
            "unchanged": report.unchanged,
            "initial": report.initial,
            "up": report.up,
            "down": report.down,
            "by_tier": dict(report.by_tier),
            "created": dict(evaluation.created),
            "satisfied": evaluation.satisfied,
            "escalated": evaluation.escalated,
        },
        "due_rows": due.rows,
        "due_units": due.units,
        "due_sha256": due.digest.hexdigest()[:16],
        "due_out_of_order": out_of_order,
    }


def _steps(marks: Sequence[float]) -> dict[str, float]:
    laps = [round(b - a, 3) for a, b in itertools.pairwise(marks)]
    return dict(zip(STEPS, laps, strict=True))


# -- the baseline ---------------------------------------------------------------------------


def _sqlite_connect(db: Path) -> sqlite3.Connection:
    """A plain connection with finance_crm's pragmas; transactions are explicit."""
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


class Calendar:
    """The China business calendar from the holiday data finance_crm ships, stdlib only:
    weekends and the notices' days off, less the make-up working days."""

    def __init__(self) -> None:
        data = json.loads(HOLIDAYS.read_text(encoding="utf-8"))
        self.off: set[datetime.date] = set()
        self.work: set[datetime.date] = set()
        for year in data["years"].values():
            self.off.update(map(datetime.date.fromisoformat, year["off"]))
            self.work.update(map(datetime.date.fromisoformat, year["work"]))

    def business(self, day: datetime.date) -> bool:
        return day in self.work or (day.weekday() < 5 and day not in self.off)

    def add(self, day: datetime.date, n: int) -> datetime.date:
        """``n`` business days after (before, if negative) ``day``; 0 rolls forward."""
        if n == 0:
            if self.business(day):
                return day
            n = 1
        step = datetime.timedelta(days=1 if n > 0 else -1)
        for _ in range(abs(n)):
            day += step
            while not self.business(day):
                day += step
        return day


class Dialect:
    """Where the baseline's SQL differs between SQLite and PostgreSQL. Statements are
    written with ``:name`` parameters (sqlite3's style), rewritten for psycopg."""

    def __init__(self, *, pg: bool) -> None:
        self.pg = pg

    def sql(self, text: str) -> str:
        if not self.pg:
            return text
        return re.sub(r"(?<![:\w]):([a-z_][a-z0-9_]*)", r"%(\1)s", text.replace("%", "%%"))

    def day(self, value: datetime.date) -> Any:
        return value if self.pg else value.isoformat()

    def p(self, name: str) -> str:
        """A date parameter."""
        return f"CAST(:{name} AS date)" if self.pg else f":{name}"

    def plus(self, day: str, n: int) -> str:
        return f"({day} + {n})" if self.pg else f"date({day}, '{n:+d} days')"

    def days_between(self, later: str, earlier: str) -> str:
        if self.pg:
            return f"({later} - {earlier})"
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"

    def greatest(self, *values: str) -> str:
        return f"{'GREATEST' if self.pg else 'max'}({', '.join(values)})"

    def iso(self, day: str) -> str:
        return f"to_char({day}, 'YYYY-MM-DD')" if self.pg else day

    def reached(self, alias: str) -> str:
        return f"{alias}.reached" if self.pg else f"{alias}.reached = 1"

    def utc_day(self, instant: str) -> str:
        if self.pg:
            return f"CAST(({instant} AT TIME ZONE 'UTC') AS date)"
        return f"substr({instant}, 1, 10)"

    def local_day(self, instant: str) -> str:
        if self.pg:
            return f"CAST(({instant} AT TIME ZONE 'Asia/Shanghai') AS date)"
        return f"date({instant}, '+8 hours')"

    @property
    def new_id(self) -> str:
        """A random (version 4) UUID made in SQL."""
        if self.pg:
            return "gen_random_uuid()"
        return (
            "lower(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 2) "
            "|| substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) "
            "|| hex(randomblob(6)))"
        )

    def types(self) -> tuple[str, str]:
        """(uuid, date) column types of the temporary tables."""
        return ("uuid", "date") if self.pg else ("TEXT", "TEXT")

    def in_list(self, name: str, values: Sequence[str], params: dict[str, Any]) -> str:
        """``IN (...)`` of ``values``: one array parameter on PostgreSQL."""
        if self.pg:
            params[name] = list(values)
            return f"= ANY(:{name})"
        for i, value in enumerate(values):
            params[f"{name}{i}"] = value
        return "IN (" + ", ".join(f":{name}{i}" for i in range(len(values))) + ")"


def _supervisors(
    staff: Iterable[tuple[str, str, str, str]], units: dict[str, str]
) -> dict[str, str]:
    """``UnitSupervisor``: the active supervisor of the staff member's unit, else of the
    nearest unit above, else that unit's branch head; never the member; ties to the
    smallest id. ``staff`` rows are (id, unit, roles, status); ``units`` code -> path."""
    everyone = list(staff)
    by_unit: dict[tuple[str, str], list[str]] = {}
    for staff_id, unit, roles, status in everyone:
        if status == "active":
            for role in roles.split(","):
                by_unit.setdefault((unit, role), []).append(staff_id)
    found = {}
    for staff_id, unit, _, _ in everyone:
        path = units.get(unit)
        chain = [unit, *reversed(path.strip("/").split("/")[:-1])] if path else [unit]
        boss = next(
            (
                min(others)
                for code in chain
                for role in ("supervisor", "branch_head")
                if (others := [x for x in by_unit.get((code, role), []) if x != staff_id])
            ),
            None,
        )
        if boss is not None:
            found[staff_id] = boss
    return found


def _baseline(connection: Any, d: Dialect) -> dict[str, Any]:
    """The hand-written job in one transaction; ``connection`` is sqlite3's or psycopg's."""
    s = book.STANDARDS
    calendar = Calendar()
    on = book.EVALUATION_DAY
    start, end, effective = book.PERIOD_START, book.PERIOD_END, book.EFFECTIVE_ON
    quarter_first = datetime.date(on.year, 3 * ((on.month - 1) // 3) + 1, 1)
    following = quarter_first.month + 3  # the first month of the next quarter
    quarter_last = (
        datetime.date(on.year + 1, 1, 1) if following > 12 else datetime.date(on.year, following, 1)
    ) - datetime.timedelta(days=1)
    if d.pg:
        import psycopg

        # Parameters bound client-side: the server would deduce a parameter used as text
        # and as varchar in one statement inconsistently.
        cursor: Any = psycopg.ClientCursor(connection)
    else:
        cursor = connection.cursor()
    substeps: dict[str, float] = {}

    def run(sql: str, params: dict[str, Any] | None = None) -> int:
        cursor.execute(d.sql(sql), params or {})
        return int(cursor.rowcount)

    def rows(sql: str, params: dict[str, Any] | None = None) -> list[Any]:
        cursor.execute(d.sql(sql), params or {})
        return list(cursor.fetchall())

    def many(sql: str, values: Sequence[Sequence[Any]]) -> None:
        if d.pg:
            cursor.executemany(d.sql(sql).replace("?", "%s"), values)
        else:
            cursor.executemany(sql, values)

    uuid_t, date_t = d.types()
    marks = [time.perf_counter()]
    last = marks[0]

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        substeps[name] = round(now - last, 3)
        last = now

    if not d.pg:
        run("BEGIN IMMEDIATE")
    # -- 1. re-tier --------------------------------------------------------------------
    o2o, o2o_name, o2o_rank, o2o_min, o2o_keep = book.TIERS[0]
    std, std_name, std_rank, std_min, std_keep = book.TIERS[1]
    el, el_name, el_rank, _, _ = book.TIERS[2]
    run(
        f"CREATE TEMP TABLE bl_move (customer_id {uuid_t} PRIMARY KEY, average_minor BIGINT, "
        "cur_rank INTEGER, new_code TEXT, new_name TEXT, new_rank INTEGER)"
    )
    days = (end - start).days + 1
    lead = f"LEAD(b.day, 1, {d.p('after_end')}) OVER (PARTITION BY b.account_id ORDER BY b.day)"
    new_code = (
        f"CASE WHEN average_minor >= :o2o_min THEN '{o2o}' "
        f"WHEN cur_code = '{o2o}' AND average_minor >= :o2o_keep THEN '{o2o}' "
        f"WHEN average_minor >= :std_min THEN '{std}' "
        f"WHEN cur_code = '{std}' AND average_minor >= :std_keep THEN '{std}' "
        f"ELSE '{el}' END"
    )
    # INSERT first: sqlite3 reports no rowcount for a statement starting with WITH.
    moved = run(
        f"""
        INSERT INTO bl_move (customer_id, average_minor, cur_rank, new_code, new_name, new_rank)
        WITH spans AS (
          SELECT a.customer_id,
                 b.balance_minor * {d.days_between(lead, d.greatest("b.day", d.p("start")))}
                   AS amount_days
          FROM crm_account a
          JOIN crm_balance b ON b.account_id = a.id
           AND b.day >= coalesce((SELECT max(p.day) FROM crm_balance p
                                  WHERE p.account_id = a.id AND p.day < {d.p("start")}),
                                 {d.p("start")})
           AND b.day <= {d.p("end")}
          WHERE a.currency = :currency AND a.kind <> 'loan'
        ),
        sums AS (
          SELECT customer_id, CAST(sum(amount_days) AS BIGINT) AS total
          FROM spans GROUP BY customer_id
        ),
        averaged AS (
          SELECT c.id AS customer_id,
                 (2 * coalesce(s.total, 0) + :days) / (2 * :days) AS average_minor,
                 cur.tier_code AS cur_code, cur.tier_rank AS cur_rank
          FROM crm_customer c
          LEFT JOIN sums s ON s.customer_id = c.id
          LEFT JOIN crm_tier cur ON cur.customer_id = c.id AND cur.valid_to IS NULL
          WHERE c.status IN ({SERVED})
        ),
        decided AS (
          SELECT customer_id, average_minor, cur_code, cur_rank, {new_code} AS new_code
          FROM averaged
        )
        SELECT customer_id, average_minor, cur_rank, new_code,
               CASE new_code WHEN '{o2o}' THEN :o2o_name WHEN '{std}' THEN :std_name
                             ELSE :el_name END,
               CASE new_code WHEN '{o2o}' THEN {o2o_rank} WHEN '{std}' THEN {std_rank}
                             ELSE {el_rank} END
        FROM decided WHERE cur_code IS NULL OR cur_code <> new_code
        """,
        {
            "start": d.day(start),
            "end": d.day(end),
            "after_end": d.day(end + datetime.timedelta(days=1)),
            "days": days,
            "currency": book.CURRENCY,
            "o2o_min": o2o_min,
            "o2o_keep": o2o_keep,
            "std_min": std_min,
            "std_keep": std_keep,
            "o2o_name": o2o_name,
            "std_name": std_name,
            "el_name": el_name,
        },
    )
    lap("retier_decide")
    dates = {"effective": d.day(effective), "start": d.day(start), "end": d.day(end)}
    run(
        f"UPDATE crm_tier SET valid_to = {d.p('effective')} WHERE valid_to IS NULL "
        "AND customer_id IN (SELECT customer_id FROM bl_move WHERE cur_rank IS NOT NULL)",
        dates,
    )
    run(
        "INSERT INTO crm_tier (customer_id, valid_from, valid_to, tier_code, tier_name, "
        "tier_rank, average_minor, currency, period_start, period_end) "
        f"SELECT customer_id, {d.p('effective')}, NULL, new_code, new_name, new_rank, "
        f"average_minor, '{book.CURRENCY}', {d.p('start')}, {d.p('end')} FROM bl_move",
        dates,
    )
    lap("retier_write")
    marks.append(time.perf_counter())
    # -- 2. evaluate the standards -----------------------------------------------------
    p: dict[str, Any] = {"on": d.day(on), "actor": ACTOR_ID}
    run("CREATE TEMP TABLE bl_off (staff_id TEXT PRIMARY KEY)")
    run(
        f"""INSERT INTO bl_off (staff_id)
        SELECT staff_id FROM crm_staff_leave
        WHERE first_day <= {d.p("on")} AND last_day >= {d.p("on")}
        UNION
        SELECT id FROM crm_staff
        WHERE departed_at IS NOT NULL AND {d.local_day("departed_at")} <= {d.p("on")}""",
        p,
    )
    run(
        f"CREATE TEMP TABLE bl_cover (customer_id {uuid_t} PRIMARY KEY, assignee TEXT, "
        "covering_for TEXT)"
    )
    run(
        """INSERT INTO bl_cover (customer_id, assignee, covering_for)
        SELECT p.customer_id, coalesce(s.staff_id, h.staff_id), p.staff_id
        FROM bl_off o
        JOIN crm_assignment_member p ON p.staff_id = o.staff_id AND p.role = 'primary'
        LEFT JOIN crm_assignment_member s ON s.customer_id = p.customer_id
          AND s.role = 'secondary' AND s.staff_id NOT IN (SELECT staff_id FROM bl_off)
        LEFT JOIN crm_assignment_member h ON h.customer_id = p.customer_id
          AND h.role = 'chief' AND h.staff_id NOT IN (SELECT staff_id FROM bl_off)
        WHERE coalesce(s.staff_id, h.staff_id) IS NOT NULL"""
    )
    units = dict(rows("SELECT code, path FROM crm_org_unit"))
    staff = rows("SELECT id, unit_code, roles, status FROM crm_staff")
    run("CREATE TEMP TABLE bl_sup (staff_id TEXT PRIMARY KEY, supervisor TEXT NOT NULL)")
    many(
        "INSERT INTO bl_sup (staff_id, supervisor) VALUES (?, ?)",
        sorted(_supervisors(staff, units).items()),
    )
    run("CREATE TEMP TABLE bl_kind (standard TEXT, kind TEXT, PRIMARY KEY (standard, kind))")
    kinds = [(s.risk_code, k) for k in book.ACTIVITY_KINDS]
    kinds += [(s.visit_code, k) for k in s.visit_kinds]
    kinds += [(s.change_code, k) for k in book.ACTIVITY_KINDS]
    kinds += [(book.FOLLOW_UP, k) for k in book.ACTIVITY_KINDS]
    many("INSERT INTO bl_kind (standard, kind) VALUES (?, ?)", kinds)
    lap("evaluate_setup")
    # Satisfied: the earliest qualifying contact from the task's first counting day.
    run(
        f"CREATE TEMP TABLE bl_done (task_id {uuid_t} PRIMARY KEY, done_on {date_t}, "
        f"activity_id {uuid_t})"
    )
    run(
        f"""INSERT INTO bl_done (task_id, done_on, activity_id)
        SELECT task_id, completed_on, activity_id FROM (
          SELECT t.id AS task_id, a.completed_on, a.id AS activity_id,
                 ROW_NUMBER() OVER (PARTITION BY t.id ORDER BY a.completed_on, a.id) AS rn
          FROM crm_service_task t
          JOIN bl_kind k ON k.standard = t.standard
          JOIN crm_activity a ON a.customer_id = t.customer_id AND {d.reached("a")}
           AND a.kind = k.kind AND a.completed_on >= t.counts_from
           AND a.completed_on <= {d.p("on")}
          WHERE t.status = 'open'
        ) x WHERE rn = 1""",
        p,
    )
    # By id from the done tasks: SQLite's UPDATE ... FROM walks the whole task table.
    satisfied = run(
        """UPDATE crm_service_task SET status = 'done',
               (done_on, activity_id) = (SELECT d.done_on, d.activity_id FROM bl_done d
                                         WHERE d.task_id = crm_service_task.id),
               closed_by = :actor, version = version + 1
        WHERE id IN (SELECT task_id FROM bl_done)""",
        p,
    )
    lap("satisfy")
    insert = (
        "INSERT INTO crm_service_task (id, customer_id, standard, occurrence, purpose, "
        "assignee, covering_for, created_on, counts_from, due_on, status, version) "
    )

    def key_free(customer: str, code: str, occurrence: str) -> str:
        return (
            f"NOT EXISTS (SELECT 1 FROM crm_service_task k WHERE k.customer_id = {customer} "
            f"AND k.standard = {code} AND k.occurrence = {occurrence})"
        )

    made = {}
    # Risk levels 4-5: due every_days after the last contact, the standard's start or
    # the opening day, whichever is latest; only for customers without an open task.
    last_contact = (
        f"(SELECT max(a.completed_on) FROM crm_activity a WHERE a.customer_id = c.id "
        f"AND {d.reached('a')} AND a.completed_on <= {d.p('on')})"
    )
    base = d.greatest(
        f"coalesce({last_contact}, {d.p('risk_from')})", d.p("risk_from"), d.utc_day("c.opened_at")
    )
    made[s.risk_code] = run(
        insert
        + f"""SELECT {d.new_id}, x.customer_id, :code, {d.iso("x.due")}, :name,
               coalesce(cv.assignee, x.primary_id), cv.covering_for, {d.p("on")},
               {d.plus("x.due", -(s.risk_every_days - 1))}, x.due, 'open', 1
        FROM (
          SELECT c.id AS customer_id, m.staff_id AS primary_id,
                 {d.plus(base, s.risk_every_days)} AS due
          FROM crm_customer c
          JOIN crm_assignment_member m ON m.customer_id = c.id AND m.role = 'primary'
          WHERE c.status IN ({SERVED}) AND c.risk_level IN ({", ".join(map(str, s.risk_levels))})
            AND NOT EXISTS (SELECT 1 FROM crm_service_task t WHERE t.standard = :code
                            AND t.customer_id = c.id AND t.status = 'open')
        ) x
        LEFT JOIN bl_cover cv ON cv.customer_id = x.customer_id
        WHERE {d.plus("x.due", -s.risk_notice_days)} <= {d.p("on")}
          AND {key_free("x.customer_id", ":code", d.iso("x.due"))}""",
        {**p, "code": s.risk_code, "name": s.risk_name, "risk_from": d.day(s.risk_from)},
    )
    lap("generate_risk")
    # One-to-one tier on the day: a task for the quarter unless visited in it already.
    quarter_due = calendar.add(quarter_last + datetime.timedelta(days=1), -1)
    visits = ", ".join(f"'{k}'" for k in s.visit_kinds)
    made[s.visit_code] = run(
        insert
        + f"""SELECT {d.new_id}, c.id, :code, :occurrence, :name,
               coalesce(cv.assignee, m.staff_id), cv.covering_for, {d.p("on")},
               {d.p("first")}, {d.p("due")}, 'open', 1
        FROM crm_tier r
        JOIN crm_customer c ON c.id = r.customer_id
        JOIN crm_assignment_member m ON m.customer_id = c.id AND m.role = 'primary'
        LEFT JOIN bl_cover cv ON cv.customer_id = c.id
        WHERE r.tier_code = :tier AND r.valid_from <= {d.p("on")}
          AND (r.valid_to IS NULL OR r.valid_to > {d.p("on")}) AND c.status IN ({SERVED})
          AND NOT EXISTS (SELECT 1 FROM crm_activity a WHERE a.customer_id = c.id
                          AND {d.reached("a")} AND a.kind IN ({visits})
                          AND a.completed_on >= {d.p("first")} AND a.completed_on <= {d.p("on")})
          AND {key_free("c.id", ":code", ":occurrence")}""",
        {
            **p,
            "code": s.visit_code,
            "name": s.visit_name,
            "tier": s.visit_tier,
            "occurrence": quarter_first.isoformat(),
            "first": d.day(quarter_first),
            "due": d.day(quarter_due),
        },
    )
    lap("generate_visit")
    # A tier move up or down in the look-back window: due N business days after it.
    run(f"CREATE TEMP TABLE bl_due (event_day {date_t} PRIMARY KEY, due_on {date_t})")
    event_days = [on - datetime.timedelta(days=b) for b in range(s.change_lookback_days + 1)]
    many(
        "INSERT INTO bl_due (event_day, due_on) VALUES (?, ?)",
        [(d.day(day), d.day(calendar.add(day, s.change_business_days))) for day in event_days],
    )
    occurrence = "'tier_changed:' || " + d.iso("r.valid_from")
    # CROSS JOIN: SQLite's order as written (a scan of the records, each day looked up);
    # given the choice it started from the eight days and joined every primary manager
    # to each through an automatic index.
    made[s.change_code] = run(
        insert
        + f"""SELECT {d.new_id}, r.customer_id, :code,
               {occurrence}, :name,
               coalesce(cv.assignee, m.staff_id), cv.covering_for, {d.p("on")},
               r.valid_from, e.due_on, 'open', 1
        FROM crm_tier r
        CROSS JOIN bl_due e
        JOIN crm_tier b ON b.customer_id = r.customer_id AND b.valid_to = r.valid_from
        JOIN crm_customer c ON c.id = r.customer_id
        JOIN crm_assignment_member m ON m.customer_id = r.customer_id AND m.role = 'primary'
        LEFT JOIN bl_cover cv ON cv.customer_id = r.customer_id
        WHERE e.event_day = r.valid_from AND b.tier_rank <> r.tier_rank
          AND c.status IN ({SERVED})
          AND {key_free("r.customer_id", ":code", occurrence)}""",
        {**p, "code": s.change_code, "name": s.change_name},
    )
    lap("generate_tier_change")
    # Escalation: open tasks due on or before the cut-off, to the assignee's supervisor.
    after = s.escalate_after_business_days
    if after == 0:
        cutoff = on - datetime.timedelta(days=1)
    else:
        cutoff = calendar.add(on, -after)
        while calendar.add(cutoff + datetime.timedelta(days=1), after) <= on:
            cutoff += datetime.timedelta(days=1)
    escalated = run(
        f"""UPDATE crm_service_task SET escalated_to = s.supervisor,
               escalated_on = {d.p("on")}, version = version + 1
        FROM bl_sup s
        WHERE s.staff_id = crm_service_task.assignee AND crm_service_task.status = 'open'
          AND crm_service_task.escalated_to IS NULL
          AND crm_service_task.due_on <= {d.p("cutoff")}""",
        {**p, "cutoff": d.day(cutoff)},
    )
    lap("escalate")
    marks.append(time.perf_counter())
    # -- 3. the due list ---------------------------------------------------------------
    due = _DueHash()
    units_staff = book.staff_chunks(rows("SELECT unit_code, id FROM crm_staff"))
    for unit in units_staff:
        params: dict[str, Any] = {"on": d.day(on)}
        who = d.in_list("s", unit, params)
        # A UNION of the two partial indexes' ranges: with an OR, SQLite walks every open
        # task due by the day in due order, for every unit.
        cursor.execute(
            d.sql(
                f"""SELECT customer_id, standard, occurrence, assignee, due_on, escalated_to, id
                FROM crm_service_task
                WHERE status = 'open' AND due_on <= {d.p("on")} AND assignee {who}
                UNION
                SELECT customer_id, standard, occurrence, assignee, due_on, escalated_to, id
                FROM crm_service_task
                WHERE status = 'open' AND due_on <= {d.p("on")} AND escalated_to {who}
                ORDER BY 5, 1, 7"""
            ),
            params,
        )
        lines = [
            f"{_text(c)}|{standard}|{occurrence}|{assignee}|{_text(due_on)}|{escalated_to or ''}\n"
            for c, standard, occurrence, assignee, due_on, escalated_to, _ in cursor
        ]
        due.add(lines)
    marks.append(time.perf_counter())
    for table in ("bl_move", "bl_off", "bl_cover", "bl_sup", "bl_kind", "bl_done", "bl_due"):
        run(f"DROP TABLE {table}")
    if d.pg:
        connection.commit()
    else:
        run("COMMIT")
    marks.append(time.perf_counter())
    return {
        "seconds": round(marks[-1] - marks[0], 3),
        "steps": _steps(marks),
        "substeps": substeps,
        "report": {
            "moved": moved,
            "created": made,
            "satisfied": satisfied,
            "escalated": escalated,
            "cutoff": cutoff.isoformat(),
            "quarter_due": quarter_due.isoformat(),
        },
        "due_rows": due.rows,
        "due_units": due.units,
        "due_sha256": due.digest.hexdigest()[:16],
        "due_out_of_order": 0,
    }


def _text(value: Any) -> str:
    """A value as SQLite stores it: UUIDs as 32 hex digits, days as ISO text."""
    if value is None:
        return ""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


# -- the check (not timed) ------------------------------------------------------------------


class _SqliteReader:
    def __init__(self, db: Path) -> None:
        self.db = db

    def __call__(self, sql: str) -> Iterator[tuple[Any, ...]]:
        connection = sqlite3.connect(self.db)
        try:
            yield from connection.execute(sql)
        finally:
            connection.close()


class _PgReader:
    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    def __call__(self, sql: str) -> Iterator[tuple[Any, ...]]:
        import psycopg

        with (
            psycopg.connect(self.conninfo) as connection,
            connection.cursor(name="check") as cursor,
        ):
            cursor.itersize = 50_000
            cursor.execute(sql)
            yield from cursor


Reader = Callable[[str], Iterator[tuple[Any, ...]]]


def _high_water(read: Reader) -> tuple[int, int]:
    audit = next(read("SELECT coalesce(max(sequence), 0) FROM crm_audit_log"))[0]
    outbox = next(read("SELECT coalesce(max(sequence), 0) FROM crm_outbox"))[0]
    return int(audit), int(outbox)


def _digest(read: Reader, sql: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    count = 0
    for row in read(sql):
        digest.update(("|".join(map(_text, row)) + "\n").encode())
        count += 1
    return digest.hexdigest()[:16], count


def _check(read: Reader, before: tuple[int, int], *, pg: bool) -> dict[str, Any]:
    """What a run left behind, the same way on both sides and backends."""
    collate = ' COLLATE "C"' if pg else ""
    effective, on = book.EFFECTIVE_ON.isoformat(), book.EVALUATION_DAY.isoformat()
    tiers_sha, current = _digest(
        read,
        "SELECT customer_id, tier_code, valid_from, average_minor FROM crm_tier "
        "WHERE valid_to IS NULL ORDER BY customer_id",
    )
    tasks_sha, tasks = _digest(
        read,
        "SELECT customer_id, standard, occurrence, purpose, assignee, covering_for, created_on, "
        "counts_from, due_on, status, done_on, activity_id, closed_by, escalated_to, "
        f"escalated_on, version FROM crm_service_task ORDER BY customer_id, standard{collate}, "
        f"occurrence{collate}",
    )
    moves = dict.fromkeys(("up", "down", "initial"), 0)
    for direction, count in read(
        "SELECT CASE WHEN b.customer_id IS NULL THEN 'initial' WHEN r.tier_rank > b.tier_rank "
        "THEN 'up' ELSE 'down' END, count(*) FROM crm_tier r LEFT JOIN crm_tier b "
        "ON b.customer_id = r.customer_id AND b.valid_to = r.valid_from "
        f"WHERE r.valid_from = '{effective}' GROUP BY 1"
    ):
        moves[str(direction)] = int(count)
    by_code = {
        str(code): int(count)
        for code, count in read(
            "SELECT tier_code, count(*) FROM crm_tier WHERE valid_to IS NULL GROUP BY tier_code "
            "ORDER BY tier_code"
        )
    }
    made = {
        str(code): int(count)
        for code, count in read(
            f"SELECT standard, count(*) FROM crm_service_task WHERE created_on = '{on}' "
            "GROUP BY standard ORDER BY standard"
        )
    }
    count = "SELECT count(*) FROM crm_service_task WHERE"
    satisfied = next(read(f"{count} closed_by = '{ACTOR_ID}'"))[0]
    escalated = next(read(f"{count} escalated_on = '{on}'"))[0]
    audit, outbox = _high_water(read)
    return {
        "tiers_sha256": tiers_sha,
        "current_tiers": current,
        "tasks_sha256": tasks_sha,
        "tasks": tasks,
        "moves": moves,
        "tiers_by_code": by_code,
        "made": made,
        "satisfied": int(satisfied),
        "escalated": int(escalated),
        "audit_rows": audit - before[0],
        "outbox_rows": outbox - before[1],
    }


# -- PostgreSQL -----------------------------------------------------------------------------


# Which rows of each table belong to the first N customers (``pick``: their ids).
_PICK = {
    "crm_customer": "WHERE id IN (SELECT id FROM pick)",
    "crm_assignment": "WHERE customer_id IN (SELECT id FROM pick)",
    "crm_assignment_member": "WHERE customer_id IN (SELECT id FROM pick)",
    "crm_assignment_history": "WHERE customer_id IN (SELECT id FROM pick)",
    "crm_account": "WHERE customer_id IN (SELECT id FROM pick)",
    "crm_balance": "WHERE account_id IN (SELECT a.id FROM crm_account a "
    "JOIN pick ON pick.id = a.customer_id)",
    "crm_tier": "WHERE customer_id IN (SELECT id FROM pick)",
    "crm_activity": "WHERE customer_id IN (SELECT id FROM pick)",
    "crm_service_task": "WHERE customer_id IN (SELECT id FROM pick)",
}


def _pg_build(db: Path, n: int) -> dict[str, Any]:
    """A template database: finance_crm's schema, then the first N customers and
    everything of theirs (and the whole organisation) copied from the SQLite cache, ids
    and values unchanged; then VACUUM ANALYZE."""
    import psycopg

    from finance_crm.adapters.sql import SqlStore

    started = time.perf_counter()
    name = f"finance_crm_bench_{secrets.token_hex(6)}"
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        store = SqlStore.from_url(pg_sa_url(name))
        store.upgrade_schema()
        store.close()
        source = sqlite3.connect(db)
        source.execute(
            "CREATE TEMP TABLE pick AS SELECT id FROM crm_customer ORDER BY customer_number "
            "LIMIT ?",
            (n,),
        )
        copied = {}
        with psycopg.connect(pg_conninfo(name)) as target:
            server = target.info.server_version
            target.execute("SET TIME ZONE 'UTC'")  # SQLite holds naive UTC instants
            for table in book.TABLES:
                columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
                names = ", ".join(columns)
                where = _PICK.get(table, "")
                count = 0
                copy_sql = f"COPY {table} ({names}) FROM STDIN"
                with target.cursor().copy(copy_sql) as copy:
                    for row in source.execute(f"SELECT {names} FROM {table} {where}"):
                        copy.write_row(row)
                        count += 1
                copied[table] = count
                print(f"  {table}: {count:,} rows", file=sys.stderr)
            target.commit()
        source.close()
        with psycopg.connect(pg_conninfo(name), autocommit=True) as target:
            target.execute("VACUUM ANALYZE")
    except BaseException:
        pg_drop(name)
        raise
    return {
        "part": "pg-build",
        "template": name,
        "seconds": round(time.perf_counter() - started, 1),
        "server": server,
        "rows": copied,
    }
