"""scoped_list: a supervisor's first page of customers (50, ordered by name) among N
customers (default one million), against the hand-written SQL query.

The issue asks for "ordered by AUM or name"; AUM arrives with accounts in a later issue,
so pages are ordered by name (ties by id), the order ``ix_crm_customer_name`` serves.

The database is the one ``handover`` uses (``_managers.py``: an organisation of about
3,400 managers per million customers, every customer with a primary manager, every
other one with a secondary in the same team), cached and read-only here.

Ours: K times, as the supervisor of a team in the middle of the organisation
(``Actor(<staff id>)`` with no roles: finance_crm's default ``OrgScopes`` resolves the
team's scope from the staff record),
``with store.unit_of_work(actor, read_only=True) as uow:
uow.customers.page(order=CustomerOrder.NAME, limit=50)``.

Baseline: one SELECT on a plain ``sqlite3`` connection returning the same columns (id,
customer number, kind, status, name, risk level, primary manager) for the same scope,
LIMIT 51 as ours (the 51st row says whether there is a next page), and the names
masked in Python by the same rule for this data (the surname stays). It is measured in
two forms: ``in`` (``c.id IN (SELECT customer_id FROM the scope's member rows)``, driven
from the member index) and ``exists`` (a correlated ``EXISTS`` per customer, the form
finance_crm uses for unit scopes); ``ratio`` is against the faster one, the floor a
hand-written query reaches.

Also measured the same way: the first page of that team's branch head (a branch scope,
about a tenth of all customers) and of one of the team's managers (their own
customers). Each call is timed on its own after an untimed warm-up; p50/p99 are in
microseconds. Both sides must return the same rows (checked). The children also report
``EXPLAIN QUERY PLAN`` of each statement (ours as finance_crm sends it) and how many
statements ours runs per page.
"""

from __future__ import annotations

import argparse
import cProfile
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import environment, file_mb, peak_rss_mb, percentile, ratio, run_part
from _managers import Layout, build, ensure_database, layout

NAME = "scoped_list"
SUMMARY = "a supervisor's first page of 50 customers by name (p50, p99) vs one sqlite3 query"
DEFAULT_N = 1_000_000
PARTS = ("ours", "baseline", "build")
SCOPES = ("team", "branch", "own")
FORMS = ("in", "exists")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k", type=int, default=500, help="pages per scope and side (500)")
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="stop a measurement after this many seconds, with at least 20 pages (60)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)  # cProfile of ours, team scope


def scopes(lay: Layout) -> dict[str, tuple[str, str]]:
    """label -> (the actor's staff id, the scope: a unit path or the staff id itself)."""
    team = lay.teams[len(lay.teams) // 2]
    manager = team.managers[0]
    return {
        "team": (team.supervisor, team.unit.path),
        "branch": (lay.branch_heads[team.branch], lay.unit(team.branch).path),
        "own": (manager, manager),
    }


# -- parent ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    # The parent never imports SQLAlchemy: a child inherits its parent's peak RSS.
    if args.k < 1:
        raise SystemExit("--k must be at least 1")
    lay = layout(args.n)
    db, build_info = ensure_database(NAME, args.n, args.rebuild)
    common = ["--n", str(args.n), "--k", str(args.k), "--budget", str(args.budget)]
    common += ["--db", str(db)]
    baseline = run_part(NAME, "baseline", common)
    ours = run_part(NAME, "ours", common)
    for label in SCOPES:
        mine = ours["scopes"][label]["rows"]
        for form in FORMS:
            theirs = baseline["scopes"][label][form]["rows"]
            if mine != theirs:
                raise SystemExit(
                    f"{label} scope: ours and the {form} baseline differ:\n{mine}\n{theirs}"
                )
    result: dict[str, Any] = {"bench": NAME, "n": args.n, "k": args.k}
    for label in SCOPES:
        mine = ours["scopes"][label]
        forms = baseline["scopes"][label]
        best = min(FORMS, key=lambda f: forms[f]["p50"])
        prefix = "" if label == "team" else f"{label}_"
        if label == "team":
            result.update(
                {
                    "seconds": mine["seconds"],
                    "baseline_seconds": forms[best]["seconds"],
                    "ratio": ratio(mine["p50"], forms[best]["p50"]),
                }
            )
        result.update(
            {
                f"{prefix}p50_us": mine["p50"],
                f"{prefix}p99_us": mine["p99"],
                f"{prefix}baseline_p50_us": forms[best]["p50"],
                f"{prefix}baseline_p99_us": forms[best]["p99"],
                f"{prefix}baseline_form": best,
                f"{prefix}ratio_p50": ratio(mine["p50"], forms[best]["p50"]),
                f"{prefix}ratio_p99": ratio(mine["p99"], forms[best]["p99"]),
                f"{prefix}pages": mine["pages"],
                f"{prefix}customers_in_scope": baseline["scopes"][label]["customers"],
            }
        )
        for form in FORMS:
            result[f"{prefix}baseline_{form}_p50_us"] = forms[form]["p50"]
            result[f"{prefix}ratio_vs_{form}"] = ratio(mine["p50"], forms[form]["p50"])
    result.update(
        {
            "order": "name",
            "same_rows": True,
            "empty_uow_p50_us": ours["empty_uow_p50_us"],
            "ours_statements_per_page": ours["statements_per_page"],
            "ours_statements": ours["scopes"]["team"]["statements"],
            "peak_rss_mb": max(ours["peak_rss_mb"], baseline["peak_rss_mb"]),
            "ours_peak_rss_mb": ours["peak_rss_mb"],
            "baseline_peak_rss_mb": baseline["peak_rss_mb"],
            "plans": {
                label: {
                    "ours": ours["scopes"][label]["plan"],
                    **{form: baseline["scopes"][label][form]["plan"] for form in FORMS},
                }
                for label in SCOPES
            },
            "actors": {label: staff for label, (staff, _) in scopes(lay).items()},
            "db_mb": file_mb(db),
            "built_this_run": build_info is not None,
            "build_seconds": None if build_info is None else build_info["seconds"],
            "build": build_info,
            **environment(),
        }
    )
    return result


# -- children -------------------------------------------------------------------------------

Fetch = Callable[[], Any]


def part(args: argparse.Namespace) -> dict[str, Any]:
    db = Path(args.db)
    if args.part == "build":
        return build(db, args.n)
    chosen = scopes(layout(args.n))
    if args.part == "ours":
        return _ours(db, chosen, args)
    return _baseline(db, chosen, args)


def _timed(
    fetch: Fetch, k: int, budget: float, profiler: cProfile.Profile | None
) -> dict[str, Any]:
    """Microseconds per call after max(20, K/10) untimed calls; stops after ``budget``
    seconds (at least 20 timed calls)."""
    for _ in range(max(20, k // 10)):
        fetch()
    clock = time.perf_counter_ns
    micros: list[float] = []
    deadline = time.perf_counter() + budget
    if profiler is not None:
        profiler.enable()
    for i in range(k):
        started = clock()
        fetch()
        micros.append((clock() - started) / 1000)
        if i >= 19 and time.perf_counter() > deadline:
            break
    if profiler is not None:
        profiler.disable()
    return {
        "pages": len(micros),
        "seconds": round(sum(micros) / 1e6, 4),
        "p50": round(percentile(micros, 50), 1),
        "p90": round(percentile(micros, 90), 1),
        "p99": round(percentile(micros, 99), 1),
        "mean": round(sum(micros) / len(micros), 1),
    }


def _plan(connection: sqlite3.Connection, sql: str, params: Any) -> list[str]:
    """``EXPLAIN QUERY PLAN`` as indented lines."""
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _, detail in connection.execute(f"EXPLAIN QUERY PLAN {sql}", params):
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


def _ours(db: Path, chosen: dict[str, tuple[str, str]], args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import event

    from finance_crm.adapters.sql import SqlStore
    from finance_crm.ports import CustomerOrder
    from finance_crm.security import Actor

    store = SqlStore.from_url(f"sqlite:///{db}")
    store.upgrade_schema()  # not timed: a cache from an older schema gains its tables
    engine = store.bind
    profiler = cProfile.Profile() if args.profile else None
    found: dict[str, Any] = {}
    statements: list[tuple[str, Any]] = []

    def capture(*event_args: Any) -> None:
        statements.append((event_args[2], event_args[3]))

    for label, (staff_id, _) in chosen.items():
        actor = Actor(staff_id)

        def fetch(actor: Actor = actor) -> Any:
            with store.unit_of_work(actor, read_only=True) as uow:
                return uow.customers.page(order=CustomerOrder.NAME, limit=50)

        fetch()  # the first page of a connection also sets its pragmas: not counted
        statements.clear()
        event.listen(engine, "before_cursor_execute", capture)
        page = fetch()
        event.remove(engine, "before_cursor_execute", capture)
        rows = [
            [c.id.hex, c.customer_number, c.kind, c.status, c.name, c.risk_level, c.primary_manager]
            for c in page.items
        ]
        sql, params = next(s for s in statements if "ORDER BY crm_customer.name" in s[0])
        raw = sqlite3.connect(db)
        plan = _plan(raw, sql, params)
        raw.close()
        figures = _timed(fetch, args.k, args.budget, profiler if label == "team" else None)
        found[label] = {
            **figures,
            "rows": rows,
            "plan": plan,
            "statements": [sql.split(" ")[0] for sql, _ in statements],
        }
    if profiler is not None:
        profiler.dump_stats(args.profile)
    actor = Actor(chosen["team"][0])
    clock = time.perf_counter_ns
    micros = []
    for _ in range(1000):
        started = clock()
        with store.unit_of_work(actor, read_only=True):
            pass
        micros.append((clock() - started) / 1000)
    store.close()
    return {
        "part": "ours",
        "scopes": found,
        "statements_per_page": len(found["team"]["statements"]),
        "empty_uow_p50_us": round(percentile(micros, 50), 1),
        "peak_rss_mb": peak_rss_mb(),
    }


_COLUMNS = (
    "SELECT c.id, c.customer_number, c.kind, c.status, c.name, c.risk_level, "
    "(SELECT pm.staff_id FROM crm_assignment_member pm "
    "WHERE pm.customer_id = c.id AND pm.role = 'primary') "
    "FROM crm_customer c "
)
_UNIT_MEMBERS = (
    "FROM crm_org_unit u JOIN crm_staff s ON s.unit_code = u.code "
    "JOIN crm_assignment_member m ON m.staff_id = s.id "
    "WHERE u.path >= :low AND u.path < :high"
)
_ORDER = " ORDER BY c.name, c.id LIMIT 51"
_QUERIES = {
    ("unit", "in"): _COLUMNS + f"WHERE c.id IN (SELECT m.customer_id {_UNIT_MEMBERS})" + _ORDER,
    ("unit", "exists"): _COLUMNS
    + f"WHERE EXISTS (SELECT 1 {_UNIT_MEMBERS} AND m.customer_id = c.id)"
    + _ORDER,
    ("own", "in"): _COLUMNS
    + "WHERE c.id IN (SELECT m.customer_id FROM crm_assignment_member m WHERE m.staff_id = :me)"
    + _ORDER,
    ("own", "exists"): _COLUMNS + "WHERE EXISTS (SELECT 1 FROM crm_assignment_member m "
    "WHERE m.customer_id = c.id AND m.staff_id = :me)" + _ORDER,
}
_COUNTS = {
    "unit": f"SELECT count(DISTINCT m.customer_id) {_UNIT_MEMBERS}",
    "own": "SELECT count(*) FROM crm_assignment_member WHERE staff_id = :me",
}


def _baseline(
    db: Path, chosen: dict[str, tuple[str, str]], args: argparse.Namespace
) -> dict[str, Any]:
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA foreign_keys=ON")
    found: dict[str, Any] = {}
    for label, (_, scope) in chosen.items():
        kind = "unit" if scope.startswith("/") else "own"
        params = {"me": scope} if kind == "own" else {"low": scope, "high": scope[:-1] + "0"}
        customers = connection.execute(_COUNTS[kind], params).fetchone()[0]
        found[label] = {"customers": customers}
        for form in FORMS:
            sql = _QUERIES[(kind, form)]

            def fetch(sql: str = sql, params: dict[str, str] = params) -> list[list[Any]]:
                rows = connection.execute(sql, params).fetchall()
                return [
                    [
                        customer_id,
                        number,
                        kind_,
                        status,
                        name[0] + "*" * (len(name) - 1) if kind_ == "individual" else name,
                        risk,
                        primary,
                    ]
                    for customer_id, number, kind_, status, name, risk, primary in rows[:50]
                ]

            figures = _timed(fetch, args.k, args.budget, None)
            plan = _plan(connection, sql, params)
            found[label][form] = {**figures, "rows": fetch(), "plan": plan}
    connection.close()
    return {"part": "baseline", "scopes": found, "peak_rss_mb": peak_rss_mb()}
