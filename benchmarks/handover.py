"""handover: hand over a manager's 300-customer book, and reorganise a branch of about
N/10 customers, in an N-customer SQLite file (default one million).

The database (N customers, an organisation of about 3,400 managers per million
customers, every customer with a primary manager and every other one with a secondary)
is built once and cached (see ``_managers.py``); ``--rebuild`` makes it again. Each side
runs in its own child process on its own fresh copy of the cached file (the copy is not
timed), with the same instant as "now".

A. Handover, ``--repeat`` R times on R managers of different branches, each holding
   exactly 300 customers as primary (half of them with a secondary) and being the
   secondary of about 150 of their teammates' customers. Ours:
   ``hand_over_book(uow, leaver, reason="staff_departure")`` and ``uow.commit()`` as an
   actor with the ``head_office`` role. Baseline: hand-written SQL and Python doing the
   same in one ``sqlite3`` transaction: read the book, promote the secondaries, choose
   successors (least loaded with spare capacity in the team, then the sub-branch, ...),
   and write the same rows (head version bump, member rows, history closed and added,
   one audit and one outbox row per customer, the staff departure with its audit and
   outbox rows) with ``executemany``. Each handover is timed end to end, commit
   included; the median is reported.

B. Branch reorganisation: the primary of every customer whose primary manager sits in
   the first sub-branches (about N/10 customers) moves, round robin, to the managers of
   the next sub-branch, beyond their capacity. Ours: ``reassign_many(uow, moves,
   reason="reorganisation", capacity_override="branch reorganisation")`` with ``moves``
   a generator over ``uow.organization.staff(unit=...)`` and ``uow.assignments.book(...)``,
   and ``uow.commit()``. Baseline: one SELECT per sub-branch and the same rows with one
   ``executemany`` per statement, in one transaction.

Both sides must write identical rows: each child hashes what it wrote (event ids aside)
and the run fails if the hashes differ. ``seconds``/``baseline_seconds``/``ratio`` are
part B's; ``handover_300_*`` are part A's medians.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import environment, file_mb, peak_rss_mb, ratio, remove_db, run_dir, run_part
from _managers import (
    BENCH_ACTOR,
    CAPACITY,
    ROLE_ORDER,
    Dumps,
    Instant,
    Layout,
    Rows,
    build,
    connect,
    copy_database,
    dashed,
    ensure_database,
    high_water,
    json_encoder,
    layout,
    uuid7_hex,
    with_shares,
    written,
)

NAME = "handover"
SUMMARY = "hand over a 300-customer book; reorganise a branch (N/10) vs sqlite3 executemany"
DEFAULT_N = 1_000_000
PARTS = ("ours", "baseline", "build")
OVERRIDE = "branch reorganisation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repeat", type=int, default=5, help="handovers per side, different managers (5)"
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    parser.add_argument("--keep", action="store_true", help="keep the two copies until next run")
    parser.add_argument(
        "--baseline-json",
        choices=("stdlib", "orjson"),
        default="stdlib",
        help="the baseline's JSON encoder (stdlib; orjson is finance_crm's)",
    )
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--at", help=argparse.SUPPRESS)  # "now" for both sides (ISO)
    parser.add_argument("--profile", help=argparse.SUPPRESS)  # PREFIX: PREFIX.{a,b}.prof
    parser.add_argument("--parts", default="ab", help=argparse.SUPPRESS)  # a, b or ab


@dataclass(frozen=True)
class Plan:
    leavers: tuple[str, ...]  # part A, one per sub-branch
    group: tuple[str, ...]  # part B: the sub-branches whose customers move
    group_customers: int
    target_unit: str
    targets: tuple[str, ...]  # part B: the managers who receive them, round robin


def make_plan(lay: Layout, repeat: int) -> Plan:
    subs = lay.sub_branches()
    held = {
        s.code: sum(lay.books[m] for t in lay.teams_of(s.code) for m in t.managers) for s in subs
    }
    group: list[str] = []
    customers = 0
    for sub in subs:
        if customers >= lay.n // 10:
            break
        group.append(sub.code)
        customers += held[sub.code]
    if len(group) >= len(subs) - 1:
        raise SystemExit("too few sub-branches for a reorganisation")
    target = subs[len(group)].code
    targets = tuple(m for t in lay.teams_of(target) for m in t.managers)
    # Leavers from different branches first (each draws on its own branch's spare
    # capacity), last branch first, away from the reorganisation.
    by_branch: dict[str, list[str]] = {}
    for sub in reversed(subs):
        if sub.code not in group and sub.code != target:
            by_branch.setdefault(str(sub.parent), []).append(sub.code)
    rest: list[str] = []
    while any(by_branch.values()):
        rest += [codes.pop(0) for codes in by_branch.values() if codes]
    leavers: list[str] = []
    depth = 0
    while len(leavers) < repeat:  # the last team of each sub-branch, then the one before ...
        found = False
        for code in rest:
            teams = lay.teams_of(code)
            if depth < len(teams) and len(leavers) < repeat:
                leavers.append(teams[-1 - depth].managers[0])  # never a junior: holds 300
                found = True
        if not found:
            raise SystemExit(f"--repeat {repeat}: only {len(leavers)} teams to take leavers from")
        depth += 1
    return Plan(tuple(leavers), tuple(group), customers, target, targets)


# -- parent ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    # The parent never imports SQLAlchemy: a child inherits its parent's peak RSS.
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    lay = layout(args.n)
    plan = make_plan(lay, args.repeat)
    db, build_info = ensure_database(NAME, args.n, args.rebuild)
    work = run_dir(NAME)
    at = datetime.datetime.now(datetime.UTC).isoformat()
    results: dict[str, dict[str, Any]] = {}
    copy_seconds = []
    for side in ("baseline", "ours"):
        copy = work / f"{side}.db"
        copy_seconds.append(copy_database(db, copy))
        options = ["--n", str(args.n), "--db", str(copy), "--at", at]
        options += ["--repeat", str(args.repeat), "--baseline-json", args.baseline_json]
        try:
            results[side] = run_part(NAME, side, options)
        finally:
            if not args.keep:
                remove_db(copy)
        a, b = results[side]["handover"], results[side]["reorg"]
        print(
            f"{side}: handover median {_median(a):.3f} s ({len(a)} runs), "
            f"reorganisation {b['seconds']:.2f} s ({b['moved']} customers)",
            file=sys.stderr,
        )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    ours, baseline = results["ours"], results["baseline"]
    differs = [t for t in ours["written"] if ours["written"][t] != baseline["written"][t]]
    if differs or _outcomes(ours) != _outcomes(baseline):
        raise SystemExit(
            f"the two sides wrote different rows ({', '.join(differs) or 'outcomes'}): "
            f"ours {ours['written']} {_outcomes(ours)}, "
            f"baseline {baseline['written']} {_outcomes(baseline)}"
        )
    a_ours, a_base = _median(ours["handover"]), _median(baseline["handover"])
    b_ours, b_base = ours["reorg"]["seconds"], baseline["reorg"]["seconds"]
    moved, rows = baseline["reorg"]["moved"], baseline["reorg"]["rows_written"]
    first = ours["handover"][0]
    return {
        "bench": NAME,
        "n": args.n,
        "seconds": b_ours,
        "baseline_seconds": b_base,
        "ratio": ratio(b_ours, b_base),
        "reorg_customers": moved,
        "reorg_rows_written": rows,
        "reorg_customers_per_s": round(moved / b_ours),
        "baseline_reorg_customers_per_s": round(moved / b_base),
        "reorg_rows_per_s": round(rows / b_ours),
        "baseline_reorg_rows_per_s": round(rows / b_base),
        "reorg_targets": len(plan.targets),
        "baseline_reorg_write_seconds": baseline["reorg"]["write_seconds"],
        "handover_300_seconds": a_ours,
        "handover_300_baseline_seconds": a_base,
        "handover_300_ratio": ratio(a_ours, a_base),
        "handover_runs": len(ours["handover"]),
        "handover_seconds_runs": [r["seconds"] for r in ours["handover"]],
        "handover_baseline_seconds_runs": [r["seconds"] for r in baseline["handover"]],
        "handover_baseline_write_seconds_runs": [r["write_seconds"] for r in baseline["handover"]],
        "handover_book": {k: first[k] for k in ("customers", "promoted", "reassigned", "closed")},
        "handover_rows_written": [r["rows_written"] for r in baseline["handover"]],
        "handover_rows_per_s": _rows_per_s(baseline, ours),
        "baseline_handover_rows_per_s": _rows_per_s(baseline, baseline),
        "same_rows": True,
        "rows_compared": {t: v["rows"] for t, v in ours["written"].items()},
        "peak_rss_mb": max(ours["peak_rss_mb"], baseline["peak_rss_mb"]),
        "ours_peak_rss_mb": ours["peak_rss_mb"],
        "baseline_peak_rss_mb": baseline["peak_rss_mb"],
        "baseline_json": args.baseline_json,
        "db_mb": file_mb(db),
        "copy_seconds": max(copy_seconds),
        "built_this_run": build_info is not None,
        "build_seconds": None if build_info is None else build_info["seconds"],
        "build": build_info,
        **environment(),
    }


def _rows_per_s(baseline: dict[str, Any], side: dict[str, Any]) -> int | None:
    """Rows written per second over all handovers (the counts are the baseline's: both
    sides write the same rows)."""
    seconds = sum(r["seconds"] for r in side["handover"])
    rows = sum(r["rows_written"] for r in baseline["handover"])
    return round(rows / seconds) if seconds else None


def _median(runs: list[dict[str, Any]]) -> float:
    return round(statistics.median(float(r["seconds"]) for r in runs), 4)


def _outcomes(side: dict[str, Any]) -> list[Any]:
    keys = ("customers", "promoted", "reassigned", "closed", "successors")
    return [[r[k] for k in keys] for r in side["handover"]] + [
        [side["reorg"]["moved"], side["reorg"]["unchanged"]]
    ]


# -- children -------------------------------------------------------------------------------


def part(args: argparse.Namespace) -> dict[str, Any]:
    db = Path(args.db)
    if args.part == "build":
        return build(db, args.n)
    lay = layout(args.n)
    plan = make_plan(lay, args.repeat)
    at = datetime.datetime.fromisoformat(args.at)
    _preflight(db, plan)
    audit_after, outbox_after = high_water(db)
    if args.part == "ours":
        result = _ours(db, lay, plan, at, args.parts, args.profile)
    else:
        result = _baseline(
            db, lay, plan, Instant.of(at), args.parts, json_encoder(args.baseline_json)
        )
    result["peak_rss_mb"] = peak_rss_mb()  # before hashing what was written
    result["written"] = written(db, audit_after, outbox_after)
    result["part"] = args.part
    return result


def _preflight(db: Path, plan: Plan) -> None:
    """Untimed: the leavers hold exactly 300 customers as primary."""
    connection = connect(db)
    try:
        for leaver in plan.leavers:
            held = connection.execute(
                "SELECT count(*) FROM crm_assignment_member "
                "WHERE staff_id = ? AND role = 'primary'",
                (leaver,),
            ).fetchone()[0]
            if held != CAPACITY:
                raise SystemExit(f"{leaver} holds {held} customers, expected {CAPACITY}")
    finally:
        connection.close()


def _ours(
    db: Path, lay: Layout, plan: Plan, at: datetime.datetime, parts: str, profile: str | None
) -> dict[str, Any]:
    import pendulum

    from finance_crm.adapters.sql import SqlStore
    from finance_crm.clock import FixedClock
    from finance_crm.model.assignments import ManagerRole
    from finance_crm.model.organization import StaffRole
    from finance_crm.ports import UnitOfWork
    from finance_crm.security import Actor
    from finance_crm.services.managers import Reassignment, hand_over_book, reassign_many

    store = SqlStore.from_url(f"sqlite:///{db}", clock=FixedClock(pendulum.instance(at)))
    store.upgrade_schema()  # not timed: a cache from an older schema gains its tables
    actor = Actor(BENCH_ACTOR, roles={"head_office"})
    with store.unit_of_work(actor, read_only=True):
        pass  # the schema check and the first connection, untimed
    clock = time.perf_counter
    profilers = [cProfile.Profile(), cProfile.Profile()] if profile else []
    handovers = []
    for leaver in plan.leavers if "a" in parts else ():
        if profilers:
            profilers[0].enable()
        started = clock()
        with store.unit_of_work(actor) as uow:
            report = hand_over_book(uow, leaver, reason="staff_departure")
            uow.commit()
        seconds = clock() - started
        if profilers:
            profilers[0].disable()
        handovers.append(
            {
                "leaver": leaver,
                "seconds": round(seconds, 4),
                "customers": report.customers,
                "promoted": report.secondary_promoted,
                "reassigned": report.reassigned,
                "closed": sum(report.roles_closed.values()),
                "successors": len(report.successors),
            }
        )

    def moves(uow: UnitOfWork) -> Iterator[Reassignment]:
        k = 0
        for unit in plan.group:
            for member in uow.organization.staff(unit=unit):
                if not member.is_active or StaffRole.CUSTOMER_MANAGER not in member.roles:
                    continue
                for held in uow.assignments.book(member.id, roles={ManagerRole.PRIMARY}):
                    yield Reassignment(held.customer_id, plan.targets[k % len(plan.targets)])
                    k += 1

    reorg: dict[str, Any] = {"seconds": 0.0, "moved": 0, "unchanged": 0}
    if "b" in parts:
        if profilers:
            profilers[1].enable()
        started = clock()
        with store.unit_of_work(actor) as uow:
            moved = reassign_many(
                uow, moves(uow), reason="reorganisation", capacity_override=OVERRIDE
            )
            uow.commit()
        seconds = clock() - started
        if profilers:
            profilers[1].disable()
        reorg = {"seconds": round(seconds, 3), "moved": moved.moved, "unchanged": moved.unchanged}
    for name, profiler in zip("ab", profilers, strict=False):
        if name in parts:
            profiler.dump_stats(f"{profile}.{name}.prof")
    store.close()
    return {"handover": handovers, "reorg": reorg}


# -- the baseline: sqlite3 and Python ----------------------------------------------------------

_BOOK = (
    "SELECT a.customer_id, a.version, a.effective_from, a.reason, a.capacity_override, "
    "m.staff_id, m.role, m.share_bp "
    "FROM crm_assignment_member b "
    "JOIN crm_assignment a ON a.customer_id = b.customer_id "
    "JOIN crm_assignment_member m ON m.customer_id = b.customer_id "
    "WHERE b.staff_id = ? ORDER BY b.customer_id"
)
_LEVEL = (
    "SELECT s.id, s.roles, s.capacity, s.unit_code, "
    "(SELECT count(*) FROM crm_assignment_member m WHERE m.staff_id = s.id "
    "AND m.role = 'primary') "
    "FROM crm_org_unit u JOIN crm_staff s ON s.unit_code = u.code "
    "WHERE u.path >= ? AND u.path < ? AND s.status = 'active' AND s.id != ? ORDER BY s.id"
)
_GROUP = (
    "SELECT p.customer_id, a.version, a.effective_from, a.reason, a.capacity_override, "
    "m.staff_id, m.role, m.share_bp "
    "FROM crm_org_unit u "
    "JOIN crm_staff s ON s.unit_code = u.code "
    "JOIN crm_assignment_member p ON p.staff_id = s.id AND p.role = 'primary' "
    "JOIN crm_assignment a ON a.customer_id = p.customer_id "
    "JOIN crm_assignment_member m ON m.customer_id = p.customer_id "
    "WHERE u.path >= ? AND u.path < ? AND s.status = 'active' "
    "ORDER BY s.id, p.customer_id"
)


def _subtree(path: str) -> tuple[str, str]:
    return path, path[:-1] + "0"  # '0' is the character after '/'


Managers = list[tuple[str, str, int]]
Current = tuple[int, str, str, str | None, Managers]  # version, from, reason, override, team


def _grouped(cursor: Any) -> dict[str, Current]:
    """Head + member rows (one per manager) by customer, in the rows' order."""
    found: dict[str, list[Any]] = {}
    for customer, version, since, reason, override, staff, role, bp in cursor:
        entry = found.get(customer)
        if entry is None:
            entry = found[customer] = [version, since, reason, override, []]
        entry[4].append((staff, role, bp))
    return {
        c: (e[0], e[1], e[2], e[3], sorted(e[4], key=lambda m: (ROLE_ORDER[m[1]], m[0])))
        for c, e in found.items()
    }


class _Pool:
    """Successor candidates nearest first (the leaver's team, then each unit above),
    loaded one level at a time; each candidate is [load, staff id, capacity, unit]."""

    def __init__(self, connection: Any, leaver: str, path: str, promoted: Counter[str]) -> None:
        codes = path.strip("/").split("/")
        self._paths = ["/" + "/".join(codes[:i]) + "/" for i in range(len(codes), 0, -1)]
        self._connection, self._leaver, self._promoted = connection, leaver, promoted
        self._levels: list[list[list[Any]]] = []
        self.units: dict[str, str] = {}

    def _load(self) -> bool:
        if len(self._levels) == len(self._paths):
            return False
        level = []
        low, high = _subtree(self._paths[len(self._levels)])
        for staff, roles, capacity, unit, held in self._connection.execute(
            _LEVEL, (low, high, self._leaver)
        ):
            if staff in self.units or "customer_manager" not in roles.split(","):
                continue
            self.units[staff] = unit
            load = held + self._promoted[staff]
            level.append([load, staff, CAPACITY if capacity is None else capacity, unit])
        self._levels.append(level)
        return True

    def take(self) -> str | None:
        """The least-loaded candidate with spare capacity at the nearest level, counted."""
        i = 0
        while True:
            if i == len(self._levels) and not self._load():
                return None
            eligible = [c for c in self._levels[i] if c[0] < c[2]]
            if eligible:
                best = min(eligible, key=lambda c: (c[0], c[1]))
                best[0] += 1
                return str(best[1])
            i += 1


def _baseline(
    db: Path, lay: Layout, plan: Plan, at: Instant, parts: str, dumps: Dumps
) -> dict[str, Any]:
    connection = connect(db)
    clock = time.perf_counter
    handovers = []
    for leaver in plan.leavers if "a" in parts else ():
        started = clock()
        outcome = _baseline_handover(connection, leaver, at, dumps)
        outcome["seconds"] = round(clock() - started, 4)
        handovers.append(outcome)
    reorg: dict[str, Any] = {"seconds": 0.0, "moved": 0, "unchanged": 0}
    reorg.update(rows_written=0, write_seconds=0.0)
    if "b" in parts:
        started = clock()
        reorg = _baseline_reorganisation(connection, lay, plan, at, dumps)
        reorg["seconds"] = round(clock() - started, 3)
    connection.close()
    return {"handover": handovers, "reorg": reorg}


def _baseline_handover(connection: Any, leaver: str, at: Instant, dumps: Dumps) -> dict[str, Any]:
    c = connection
    c.execute("BEGIN IMMEDIATE")
    found = c.execute(
        "SELECT s.status, s.version, u.path FROM crm_staff s "
        "JOIN crm_org_unit u ON u.code = s.unit_code WHERE s.id = ?",
        (leaver,),
    ).fetchone()
    if found is None or found[0] != "active":
        raise SystemExit(f"{leaver} is not an active staff member")
    _, staff_version, path = found
    book = _grouped(c.execute(_BOOK, (leaver,)))
    involved = sorted({s for current in book.values() for s, _, _ in current[4]})
    staff: dict[str, tuple[str, str]] = {}
    for start in range(0, len(involved), 500):
        chunk = involved[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for staff_id, status, unit in c.execute(
            f"SELECT id, status, unit_code FROM crm_staff WHERE id IN ({marks})", chunk
        ):
            staff[staff_id] = (status, unit)
    promoted: Counter[str] = Counter()
    for current in book.values():
        team = current[4]
        if next(r for s, r, _ in team if s == leaver) == "primary":
            secondary = next((s for s, r, _ in team if r == "secondary"), None)
            if secondary is not None and staff[secondary][0] == "active":
                promoted[secondary] += 1
    pool = _Pool(c, leaver, path, promoted)
    rows = Rows.empty()
    reassigned = closed = 0
    successors: set[str] = set()
    for customer, current in book.items():
        team = current[4]
        role = next(r for s, r, _ in team if s == leaver)
        slots = [(s, r) for s, r, _ in team if s != leaver]
        secondary = next((s for s, r, _ in team if r == "secondary"), None)
        if role == "primary" and secondary is not None and secondary in promoted:
            slots = [(s, "primary" if s == secondary else r) for s, r in slots]
        elif role == "primary":
            successor = pool.take()
            if successor is None:
                raise SystemExit(f"no successor with spare capacity for {customer}")
            successors.add(successor)
            slots = [(s, r) for s, r in slots if s != successor]
            slots.insert(0, (successor, "primary"))
            reassigned += 1
        else:
            closed += 1
        after = with_shares(slots)
        primary = after[0][0]
        unit = staff[primary][1] if primary in staff else pool.units[primary]
        rows.add(
            dumps,
            customer=customer,
            before=current,
            after=after,
            at=at,
            reason="staff_departure",
            override=None,
            primary_unit=unit,
            actor=BENCH_ACTOR,
        )
    writing = time.perf_counter()
    rows.write(c)
    still = c.execute(
        "SELECT count(*) FROM crm_assignment_member WHERE staff_id = ?", (leaver,)
    ).fetchone()[0]
    if still:
        raise SystemExit(f"{leaver} still serves {still} customers")
    updated = c.execute(
        "UPDATE crm_staff SET status = 'departed', departed_at = ?, version = ?, updated_at = ? "
        "WHERE id = ? AND version = ?",
        (at.stored, staff_version + 1, at.stored, leaver, staff_version),
    )
    if updated.rowcount != 1:
        raise SystemExit("the staff record changed meanwhile")
    changes = {
        "departed_at": {"after": at.wire, "before": None},
        "status": {"after": "departed", "before": "active"},
    }
    c.execute(
        "INSERT INTO crm_audit_log (recorded_at, actor, action, entity_type, entity_id, "
        "entity_version, changes) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            at.stored,
            BENCH_ACTOR,
            "staff.departed",
            "staff",
            leaver,
            staff_version + 1,
            dumps(changes),
        ),
    )
    event = uuid7_hex()
    payload = {
        "event_id": dashed(event),
        "occurred_at": at.wire,
        "reason": "staff_departure",
        "staff_id": leaver,
    }
    c.execute(
        "INSERT INTO crm_outbox (event_id, event_type, aggregate_id, occurred_at, payload) "
        "VALUES (?, ?, ?, ?, ?)",
        (event, "StaffDeparted", leaver, at.stored, dumps(payload)),
    )
    c.execute("COMMIT")
    return {
        "leaver": leaver,
        "write_seconds": round(time.perf_counter() - writing, 4),
        "rows_written": _count(rows) + 3,  # + the staff row, its audit and outbox rows
        "customers": len(book),
        "promoted": sum(promoted.values()),
        "reassigned": reassigned,
        "closed": closed,
        "successors": len(successors),
    }


def _baseline_reorganisation(
    connection: Any, lay: Layout, plan: Plan, at: Instant, dumps: Dumps
) -> dict[str, Any]:
    c = connection
    c.execute("BEGIN IMMEDIATE")
    targets = list(plan.targets)
    marks = ", ".join("?" * len(targets))
    units = {}
    for staff_id, status, unit in c.execute(
        f"SELECT id, status, unit_code FROM crm_staff WHERE id IN ({marks})", targets
    ):
        if status != "active":
            raise SystemExit(f"{staff_id} has departed")
        units[staff_id] = unit
    rows = Rows.empty()
    k = moved = unchanged = 0
    for sub in plan.group:
        for customer, current in _grouped(c.execute(_GROUP, _subtree(lay.unit(sub).path))).items():
            to = targets[k % len(targets)]
            k += 1
            team = current[4]
            if team[0][0] == to:
                unchanged += 1
                continue
            slots = [(s, r) for s, r, _ in team if s != to and r != "primary"]
            slots.append((to, "primary"))
            rows.add(
                dumps,
                customer=customer,
                before=current,
                after=with_shares(slots),
                at=at,
                reason="reorganisation",
                override=OVERRIDE,
                primary_unit=units[to],
                actor=BENCH_ACTOR,
            )
            moved += 1
    writing = time.perf_counter()
    rows.write(c)
    c.execute("COMMIT")
    return {
        "moved": moved,
        "unchanged": unchanged,
        "rows_written": _count(rows),
        "write_seconds": round(time.perf_counter() - writing, 3),
    }


def _count(rows: Rows) -> int:
    """Rows inserted or updated (heads, closed and new history, members, audit, outbox);
    the member rows deleted are not counted."""
    written_ = (rows.updates, rows.closes, rows.members, rows.history, rows.audit, rows.outbox)
    return sum(len(r) for r in written_)
