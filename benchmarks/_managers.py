"""The organisation and customers' managers the ``handover`` and ``scoped_list`` benchmarks
share: its layout, the cached database, and the assignment rows finance_crm writes.

The layout is a pure function of N (:func:`layout`), so a parent process knows which
staff to act as without reading the database. For one million customers it is a head
office, 10 branches, 30 sub-branches, 309 teams and 3,400 customer managers, 11 or 12 per
team, with a supervisor per team and a branch head per branch. Every manager but the
last of each team (the "junior") holds exactly 300 customers as primary, the capacity;
the juniors share the rest (about 235 each), so each team has some spare capacity for a
handover. Customers are dealt to managers in a seeded random order; every other
customer of a book also has a secondary manager, another member of the same team
(spread over the teammates).

The database is built once by a child process (``--part build``) and cached as
``benchmarks/.work/cache/managers-n<N>-v<version>.db``: the N customers are copied from
the ``customer_get`` cache when it exists (else imported through finance_crm's
``import_customers`` as ``customer_get`` does), the schema is upgraded, the organisation
is added through finance_crm (``uow.organization.add_unit`` / ``add_staff``) and the first
assignments are written with ``sqlite3`` ``executemany``, in customer id order (the order
customers were opened), 50,000 per transaction, in exactly the rows finance_crm's
``assign_managers`` writes: every build first writes the same assignments both ways on
a tiny database and compares every row (:func:`check_row_formats`), and afterwards reads
a few back through finance_crm's repositories. Then ANALYZE.

This module imports only the standard library and :mod:`_common`; the build imports
finance_crm inside its functions, so a baseline child stays free of SQLAlchemy.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import random
import shutil
import sqlite3
import sys
import time
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import WORK_DIR, remove_db, run_part

ORG_VERSION = 2  # bump when the layout or the rows change, so old caches are not reused
MIN_N = 20_000
MANAGERS_PER_MILLION = 3_400
TEAM_SIZE = 11  # managers per team, about
CAPACITY = 300  # finance_crm's default capacity (FixedCapacity)
SEED = 3  # deals customers to managers
BUILD_ACTOR = "system:bench-build"  # Actor.system("bench-build")
BENCH_ACTOR = "bench-admin"  # Actor("bench-admin", roles={"head_office"})
TIMEZONE = "Asia/Shanghai"  # finance_crm's default business time zone
ROLE_ORDER = {"primary": 0, "secondary": 1, "chief": 2, "team_member": 3}
ROLE_WEIGHTS = {"primary": 70, "secondary": 30, "chief": 0, "team_member": 0}  # RoleWeights()


# -- the layout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str  # an OrgUnitKind value
    parent: str | None
    path: str


@dataclass(frozen=True)
class Team:
    index: int
    unit: Unit
    sub_branch: str
    branch: str
    managers: tuple[str, ...]  # staff ids; the last one is the junior
    supervisor: str


@dataclass(frozen=True)
class Layout:
    n: int
    units: tuple[Unit, ...]  # parents first
    teams: tuple[Team, ...]
    branch_heads: dict[str, str]  # branch code -> staff id
    books: dict[str, int]  # manager -> customers held as primary

    def unit(self, code: str) -> Unit:
        return next(u for u in self.units if u.code == code)

    def sub_branches(self) -> list[Unit]:
        return [u for u in self.units if u.kind == "sub_branch"]

    def teams_of(self, sub_branch: str) -> list[Team]:
        return [t for t in self.teams if t.sub_branch == sub_branch]


def layout(n: int) -> Layout:
    """The organisation for N customers (deterministic)."""
    if n < MIN_N:
        raise SystemExit(f"--n must be at least {MIN_N:,} for the organisation benchmarks")
    managers = max(20, round(n * MANAGERS_PER_MILLION / 1_000_000))
    team_count = max(2, round(managers / TEAM_SIZE))
    branch_count = max(2, min(10, round(team_count / 30)))
    sub_count = min(3 * branch_count, team_count)
    head = Unit("HO", "总行", "head_office", None, "/HO/")
    units = [head]
    branches = []
    for b in range(branch_count):
        code = f"BR{b + 1:02d}"
        branches.append(Unit(code, f"第{b + 1}分行", "branch", "HO", f"/HO/{code}/"))
    subs = []
    for s in range(sub_count):
        branch = branches[s * branch_count // sub_count]
        code = f"SB{s + 1:03d}"
        subs.append(
            Unit(code, f"第{s + 1}支行", "sub_branch", branch.code, f"{branch.path}{code}/")
        )
    members: list[list[str]] = [[] for _ in range(team_count)]
    for j in range(managers):
        members[j * team_count // managers].append(f"M{j + 1:05d}")
    team_units = []
    teams = []
    for t in range(team_count):
        sub = subs[t * sub_count // team_count]
        code = f"TM{t + 1:03d}"
        unit = Unit(code, f"第{t + 1}客户经理组", "team", sub.code, f"{sub.path}{code}/")
        team_units.append(unit)
        assert sub.parent is not None
        teams.append(Team(t, unit, sub.code, sub.parent, tuple(members[t]), f"S{t + 1:03d}"))
    units += branches + subs + team_units
    juniors = [team.managers[-1] for team in teams]
    rest = n - CAPACITY * (managers - team_count)
    base, extra = divmod(rest, team_count)
    if base < 1 or base + (extra > 0) > CAPACITY:
        raise SystemExit(f"{n:,} customers do not fit the layout of {managers} managers")
    books = {}
    for team in teams:
        for manager in team.managers:
            books[manager] = CAPACITY
    for t, junior in enumerate(juniors):
        books[junior] = base + (t < extra)
    heads = {b.code: f"H{i + 1:02d}" for i, b in enumerate(branches)}
    return Layout(n, tuple(units), tuple(teams), heads, books)


def dealt(layout_: Layout, customer_ids: Sequence[str]) -> Iterable[tuple[str, str, str | None]]:
    """``(customer id, primary, secondary or None)`` for every customer, in the order the
    build writes them. ``customer_ids`` in customer-number order."""
    order = list(customer_ids)
    random.Random(SEED).shuffle(order)
    position = 0
    for team in layout_.teams:
        size = len(team.managers)
        for k, manager in enumerate(team.managers):
            for i in range(layout_.books[manager]):
                secondary = None
                if i % 2 == 0 and size > 1:
                    secondary = team.managers[(k + 1 + (i // 2) % (size - 1)) % size]
                yield order[position], manager, secondary
                position += 1
    assert position == len(order), "the books add up to N"


# -- rows, as finance_crm writes them --------------------------------------------------------

SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME text
_ZONE = zoneinfo.ZoneInfo(TIMEZONE)


@dataclass(frozen=True)
class Instant:
    """One UTC instant in the spellings the rows use."""

    stored: str  # "2025-01-02 01:00:00.000000" (columns)
    wire: str  # "2025-01-02T01:00:00Z" (audit and event JSON)
    day: str  # the business date in Asia/Shanghai (history.effective_day)

    @classmethod
    def of(cls, at: datetime.datetime) -> Instant:
        at = at.astimezone(datetime.UTC)
        return cls(
            at.strftime(SQLITE_DATETIME),
            at.isoformat().replace("+00:00", "Z"),
            at.astimezone(_ZONE).date().isoformat(),
        )


def wire_instant(stored: str) -> str:
    """The wire spelling of an instant stored as SQLite text."""
    at = datetime.datetime.fromisoformat(stored).replace(tzinfo=datetime.UTC)
    return at.isoformat().replace("+00:00", "Z")


def uuid7_hex() -> str:
    """A version-7 UUID as 32 hex digits, the way finance_crm.ids builds one."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((time.time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76 | ((rand >> 62) & 0x0FFF) << 64 | 0b10 << 62
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF
    return f"{value:032x}"


def dashed(hex_id: str) -> str:
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


_STDLIB_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
Dumps = Callable[[Any], str]


def json_encoder(name: str) -> Dumps:
    """``stdlib`` (the plain baseline) or ``orjson`` (finance_crm's encoder); both give
    compact, key-sorted UTF-8 text, the same bytes for these rows."""
    if name == "orjson":
        import orjson

        def dumps(value: Any) -> str:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()

        return dumps
    return _STDLIB_JSON.encode


Slots = list[tuple[str, str]]  # [(staff id, role)]


def with_shares(slots: Slots) -> list[tuple[str, str, int]]:
    """``(staff, role, basis points)`` by RoleWeights (primary 70, secondary 30, chief and
    team 0; largest remainder, ties to the earlier slot), in finance_crm's order."""
    weights = [ROLE_WEIGHTS[role] for _, role in slots]
    total = sum(weights)
    exact = [10_000 * w for w in weights]
    parts = [e // total for e in exact]
    left = 10_000 - sum(parts)
    by_remainder = sorted(range(len(slots)), key=lambda i: (-(exact[i] % total), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    managed = [(s, r, bp) for (s, r), bp in zip(slots, parts, strict=True)]
    return sorted(managed, key=lambda m: (ROLE_ORDER[m[1]], m[0]))


def share_text(bp: int) -> str:
    return f"{bp // 100}.{bp % 100:02d}"


@dataclass
class Rows:
    """Driver tuples for one batch of assignment versions, in finance_crm's column order."""

    inserts: list[tuple[Any, ...]]
    updates: list[tuple[Any, ...]]
    keys: list[tuple[Any, ...]]
    closes: list[tuple[Any, ...]]
    members: list[tuple[Any, ...]]
    history: list[tuple[Any, ...]]
    audit: list[tuple[Any, ...]]
    outbox: list[tuple[Any, ...]]

    @classmethod
    def empty(cls) -> Rows:
        return cls([], [], [], [], [], [], [], [])

    def add(
        self,
        dumps: Dumps,
        *,
        customer: str,
        before: tuple[int, str, str, str | None, list[tuple[str, str, int]]] | None,
        after: list[tuple[str, str, int]],
        at: Instant,
        reason: str,
        override: str | None,
        primary_unit: str,
        actor: str,
    ) -> None:
        """The rows of one new version: ``before`` is (version, effective_from as stored,
        reason, capacity_override, managers) or None for a first assignment."""
        version = 1 if before is None else before[0] + 1
        if before is None:
            self.inserts.append((customer, 1, at.stored, reason, override))
        else:
            self.updates.append((version, at.stored, reason, override, customer, before[0]))
            self.keys.append((customer,))
            self.closes.append((at.stored, customer, before[0]))
        self.members.extend((customer, s, r, bp) for s, r, bp in after)
        team = [[s, r, share_text(bp)] for s, r, bp in after]
        primary = after[0][0]
        secondary = next((s for s, r, _ in after if r == "secondary"), None)
        self.history.append(
            (
                customer,
                version,
                at.stored,
                None,
                reason,
                actor,
                override,
                primary,
                primary_unit,
                at.day,
                dumps(team),
            )
        )
        entity = dashed(customer)
        if before is None:
            old_team = old_reason = old_from = old_override = old_primary = old_secondary = None
            old_staff: set[str] = set()
        else:
            old_team = [[s, r, share_text(bp)] for s, r, bp in before[4]]
            old_reason, old_from, old_override = before[2], wire_instant(before[1]), before[3]
            old_primary = before[4][0][0]
            old_secondary = next((s for s, r, _ in before[4] if r == "secondary"), None)
            old_staff = {s for s, _, _ in before[4]}
        changes: dict[str, Any] = {
            "effective_from": {"after": at.wire, "before": old_from},
            "managers": {"after": team, "before": old_team},
            "reason": {"after": reason, "before": old_reason},
        }
        if override is not None or old_override is not None:
            changes["capacity_override"] = {"after": override, "before": old_override}
        action = "assignment.created" if before is None else "assignment.changed"
        self.audit.append((at.stored, actor, action, "assignment", entity, version, dumps(changes)))
        new_staff = {s for s, _, _ in after}
        event = uuid7_hex()
        payload = {
            "customer_id": entity,
            "event_id": dashed(event),
            "joined": sorted(new_staff - old_staff),
            "left": sorted(old_staff - new_staff),
            "occurred_at": at.wire,
            "primary_after": primary,
            "primary_before": old_primary,
            "reason": reason,
            "secondary_after": secondary,
            "secondary_before": old_secondary,
        }
        self.outbox.append((event, "AssignmentChanged", entity, at.stored, dumps(payload)))

    def write(self, connection: sqlite3.Connection) -> None:
        """One ``executemany`` per statement, in finance_crm's order; the version-checked
        head UPDATE must touch every row."""
        if self.updates:
            cursor = connection.executemany(UPDATE_HEAD, self.updates)
            if cursor.rowcount != len(self.updates):
                raise SystemExit("a head row changed meanwhile (version check failed)")
            connection.executemany(DELETE_MEMBERS, self.keys)
            connection.executemany(CLOSE_HISTORY, self.closes)
        if self.inserts:
            connection.executemany(INSERT_HEAD, self.inserts)
        connection.executemany(INSERT_MEMBER, self.members)
        connection.executemany(INSERT_HISTORY, self.history)
        connection.executemany(INSERT_AUDIT, self.audit)
        connection.executemany(INSERT_OUTBOX, self.outbox)


def _insert(table: str, columns: str) -> str:
    marks = ", ".join("?" * len(columns.split(", ")))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"


INSERT_HEAD = _insert(
    "crm_assignment", "customer_id, version, effective_from, reason, capacity_override"
)
INSERT_MEMBER = _insert("crm_assignment_member", "customer_id, staff_id, role, share_bp")
INSERT_HISTORY = _insert(
    "crm_assignment_history",
    "customer_id, version, effective_from, effective_to, reason, actor, capacity_override, "
    "primary_staff_id, primary_unit_code, effective_day, managers",
)
INSERT_AUDIT = _insert(
    "crm_audit_log",
    "recorded_at, actor, action, entity_type, entity_id, entity_version, changes",
)
INSERT_OUTBOX = _insert("crm_outbox", "event_id, event_type, aggregate_id, occurred_at, payload")
UPDATE_HEAD = (
    "UPDATE crm_assignment SET version = ?, effective_from = ?, reason = ?, "
    "capacity_override = ? WHERE customer_id = ? AND version = ?"
)
DELETE_MEMBERS = "DELETE FROM crm_assignment_member WHERE customer_id = ?"
CLOSE_HISTORY = (
    "UPDATE crm_assignment_history SET effective_to = ? WHERE customer_id = ? AND version = ?"
)


def connect(db: Path) -> sqlite3.Connection:
    """A plain connection with finance_crm's pragmas; transactions are explicit."""
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


# -- what a run wrote ------------------------------------------------------------------------


def high_water(db: Path) -> tuple[int, int]:
    """The last audit and outbox sequence numbers (what a run writes comes after)."""
    connection = sqlite3.connect(db)
    try:
        audit = connection.execute("SELECT coalesce(max(sequence), 0) FROM crm_audit_log")
        outbox = connection.execute("SELECT coalesce(max(sequence), 0) FROM crm_outbox")
        return int(audit.fetchone()[0]), int(outbox.fetchone()[0])
    finally:
        connection.close()


def written(db: Path, audit_after: int, outbox_after: int) -> dict[str, dict[str, Any]]:
    """Row counts and a SHA-256 per table of everything a run wrote, so two runs on copies
    of one database can be compared: the assignment head, member and history rows of the
    customers it audited, its audit and outbox rows (sequence numbers included; the
    outbox without its random event ids) and the staff rows it changed."""
    connection = sqlite3.connect(db)
    connection.execute("CREATE TEMP TABLE touched (customer_id TEXT PRIMARY KEY)")
    connection.execute(
        "INSERT OR IGNORE INTO touched SELECT replace(entity_id, '-', '') FROM crm_audit_log "
        "WHERE sequence > ? AND entity_type = 'assignment'",
        (audit_after,),
    )
    queries = {
        "assignment": "SELECT a.* FROM touched JOIN crm_assignment a USING (customer_id) "
        "ORDER BY a.customer_id",
        "member": "SELECT m.* FROM touched JOIN crm_assignment_member m USING (customer_id) "
        "ORDER BY m.customer_id, m.staff_id",
        "history": "SELECT h.* FROM touched JOIN crm_assignment_history h USING (customer_id) "
        "ORDER BY h.customer_id, h.version",
        "audit": f"SELECT * FROM crm_audit_log WHERE sequence > {audit_after} ORDER BY sequence",
        "outbox": "SELECT sequence, event_id, event_type, aggregate_id, occurred_at, payload, "
        f"published_at FROM crm_outbox WHERE sequence > {outbox_after} ORDER BY sequence",
        "staff": "SELECT * FROM crm_staff WHERE version > 1 ORDER BY id",
    }
    found: dict[str, dict[str, Any]] = {}
    try:
        for table, query in queries.items():
            digest = hashlib.sha256()
            count = 0
            for row in connection.execute(query):
                if table == "outbox":
                    payload = json.loads(row[5])
                    if payload.pop("event_id", None) != dashed(row[1]):
                        raise SystemExit("an outbox payload names another event id")
                    row = (row[0], *row[2:5], _STDLIB_JSON.encode(payload), row[6])
                digest.update(repr(tuple(row)).encode())
                count += 1
            found[table] = {"rows": count, "sha256": digest.hexdigest()[:16]}
    finally:
        connection.close()
    return found


# -- the cached database (parent side) --------------------------------------------------------


def cache_path(n: int) -> Path:
    return WORK_DIR / "cache" / f"managers-n{n}-v{ORG_VERSION}.db"


def ensure_database(bench: str, n: int, rebuild: bool) -> tuple[Path, dict[str, Any] | None]:
    """The cached database for N customers, built first (in a child) if needed."""
    layout(n)  # refuses an N the layout cannot hold, before any work
    db = cache_path(n)
    if not rebuild and db.exists():
        return db, None
    db.parent.mkdir(parents=True, exist_ok=True)
    building = db.with_suffix(f".building-{os.getpid()}.db")
    remove_db(building)
    print(f"building {db.name} ...", file=sys.stderr)
    try:
        build = run_part(bench, "build", ["--n", str(n), "--db", str(building)])
    except BaseException:
        remove_db(building)
        raise
    remove_db(db)
    building.rename(db)  # complete files only: an interrupted build is not reused
    print(f"built in {build['seconds']:.1f} s", file=sys.stderr)
    return db, build


def copy_database(source: Path, target: Path) -> float:
    """Copy a (checkpointed) database file and flush it to disk; returns the seconds it
    took. Unflushed, the first WAL checkpoint of a timed run would pay for writing the
    whole copy out (about a second for a million customers)."""
    started = time.perf_counter()
    remove_db(target)
    if Path(f"{source}-wal").exists():
        raise SystemExit(f"{source} has a WAL file: another process is using it")
    shutil.copyfile(source, target)
    with open(target, "rb+") as copied:
        os.fsync(copied.fileno())
    return round(time.perf_counter() - started, 1)


# -- the build (a child process) --------------------------------------------------------------


def build(db: Path, n: int) -> dict[str, Any]:
    """Customers, schema, organisation and first assignments; then ANALYZE."""
    import customer_get

    lay = layout(n)
    started = time.perf_counter()
    marks: dict[str, float] = {}
    source = customer_get.cache_path(n)
    if source.exists():
        print(f"  copying customers from {source.name}", file=sys.stderr)
        copy_database(source, db)
        customers_from = source.name
    else:
        print("  importing customers through finance_crm (no customer_get cache)", file=sys.stderr)
        customer_get._build(db, n)
        customers_from = "import_customers"
    marks["customers"] = time.perf_counter() - started
    at = datetime.datetime.now(datetime.UTC)
    _organisation(db, lay, at)
    marks["schema_and_organisation"] = time.perf_counter() - started
    check = check_row_formats(db.parent / f"check-{os.getpid()}")
    samples = _assignments(db, lay, Instant.of(at))
    marks["assignments"] = time.perf_counter() - started
    _read_back(db, lay, samples)
    connection = connect(db)
    connection.execute("ANALYZE")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    marks["analyze"] = time.perf_counter() - started
    seconds = time.perf_counter() - started
    return {
        "part": "build",
        "seconds": round(seconds, 1),
        "customers_from": customers_from,
        "marks": {k: round(v, 1) for k, v in marks.items()},
        "row_format_check": check,
        "managers": len(lay.books),
        "teams": len(lay.teams),
        "units": len(lay.units),
    }


def _organisation(db: Path, lay: Layout, at: datetime.datetime) -> None:
    """Schema upgrade, then units and staff through finance_crm."""
    import pendulum

    from finance_crm.adapters.sql import SqlStore
    from finance_crm.clock import FixedClock
    from finance_crm.model.organization import OrgUnit, OrgUnitKind, StaffMember, StaffRole
    from finance_crm.security import Actor

    store = SqlStore.from_url(f"sqlite:///{db}", clock=FixedClock(pendulum.instance(at)))
    store.upgrade_schema()
    names = ["王伟", "李娜", "张敏", "刘洋", "陈静", "杨磊", "黄丽", "赵强", "吴芳", "周勇"]
    with store.unit_of_work(Actor.system("bench-build")) as uow:
        org = uow.organization
        for u in lay.units:
            org.add_unit(
                OrgUnit(
                    code=u.code, name=u.name, kind=OrgUnitKind(u.kind), parent=u.parent, path=u.path
                )
            )
        for branch, head in lay.branch_heads.items():
            org.add_staff(
                StaffMember(id=head, name="行长", unit=branch, roles={StaffRole.BRANCH_HEAD})
            )
        for team in lay.teams:
            org.add_staff(
                StaffMember(
                    id=team.supervisor,
                    name="主管",
                    unit=team.unit.code,
                    roles={StaffRole.SUPERVISOR},
                )
            )
            for i, manager in enumerate(team.managers):
                org.add_staff(StaffMember(id=manager, name=names[i % 10], unit=team.unit.code))
        uow.commit()
    store.close()
    print(f"  organisation: {len(lay.units)} units, {len(lay.books)} managers", file=sys.stderr)


def _unit_of(lay: Layout) -> dict[str, str]:
    return {m: team.unit.code for team in lay.teams for m in team.managers}


def _assignments(db: Path, lay: Layout, at: Instant) -> list[tuple[str, str, str | None]]:
    """Every customer's first assignment, raw; returns a few to read back."""
    connection = connect(db)
    ids = [
        row[0] for row in connection.execute("SELECT id FROM crm_customer ORDER BY customer_number")
    ]
    if len(ids) != lay.n:
        raise SystemExit(f"expected {lay.n} customers, found {len(ids)}")
    unit_of = _unit_of(lay)
    dumps = json_encoder("orjson")
    samples = []
    # In customer id order (UUIDv7: the order customers were opened, when a bank assigns
    # their first managers): the B-trees keyed by customer grow at their right edge.
    rows = Rows.empty()
    for i, (customer, primary, secondary) in enumerate(sorted(dealt(lay, ids))):
        slots = [(primary, "primary")] + ([(secondary, "secondary")] if secondary else [])
        rows.add(
            dumps,
            customer=customer,
            before=None,
            after=with_shares(slots),
            at=at,
            reason="new_customer",
            override=None,
            primary_unit=unit_of[primary],
            actor=BUILD_ACTOR,
        )
        if i % (lay.n // 5) == lay.n // 10:
            samples.append((customer, primary, secondary))
        if len(rows.inserts) == 50_000:
            _commit(connection, rows)
            rows = Rows.empty()
            print(f"  {i + 1} assignments", file=sys.stderr)
    _commit(connection, rows)
    connection.close()
    return samples


def _commit(connection: sqlite3.Connection, rows: Rows) -> None:
    connection.execute("BEGIN IMMEDIATE")
    rows.write(connection)
    connection.execute("COMMIT")


def _read_back(db: Path, lay: Layout, samples: Sequence[tuple[str, str, str | None]]) -> None:
    """Read a few assignments back through finance_crm's repositories."""
    import uuid

    from finance_crm.adapters.sql import SqlStore
    from finance_crm.ids import CustomerId
    from finance_crm.security import Actor

    store = SqlStore.from_url(f"sqlite:///{db}")
    store.upgrade_schema()  # not timed: a cache from an older schema gains its tables
    with store.unit_of_work(Actor(BENCH_ACTOR, roles={"head_office"}), read_only=True) as uow:
        for customer, primary, secondary in samples:
            cid = CustomerId(uuid.UUID(customer))
            current = uow.assignments.get(cid)
            history = uow.assignments.history(cid)
            shares = {m.staff_id: str(m.share) for m in current.managers}
            expected = {primary: "70.00", secondary: "30.00"} if secondary else {primary: "100.00"}
            if (
                current.primary != primary
                or current.secondary != secondary
                or shares != expected
                or current.version != 1
                or [(h.version, h.primary, h.actor, h.effective_to) for h in history]
                != [(1, primary, BUILD_ACTOR, None)]
            ):
                raise SystemExit(f"customer {customer} reads back wrong: {current} {history}")
        sizes = uow.assignments.book_sizes([p for _, p, _ in samples])
        if any(sizes[p] != lay.books[p] for _, p, _ in samples):
            raise SystemExit(f"book sizes read back wrong: {sizes}")
    store.close()
    print(f"  read back {len(samples)} assignments through finance_crm", file=sys.stderr)


def check_row_formats(work: Path) -> dict[str, int]:
    """Write the same first assignments twice on copies of a tiny database, once through
    finance_crm's ``assign_managers`` and once with :class:`Rows`, and require the same
    rows in every table (event ids aside). Returns the rows compared per table."""
    import uuid

    import pendulum
    from _common import synthetic_rows

    from finance_crm.adapters.sql import SqlStore
    from finance_crm.clock import FixedClock
    from finance_crm.ids import CustomerId
    from finance_crm.security import Actor
    from finance_crm.services.customer_import import import_customers
    from finance_crm.services.managers import assign_managers

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        tiny = layout(MIN_N)
        team = tiny.teams[0]
        at = datetime.datetime.now(datetime.UTC).replace(microsecond=123456)
        library, raw = work / "library.db", work / "raw.db"
        store = SqlStore.from_url(f"sqlite:///{library}")
        store.upgrade_schema()
        actor = Actor.system("bench-build")
        with store.unit_of_work(actor) as uow:
            import_customers(uow, synthetic_rows(6), batch_size=100)
            uow.commit()
        store.close()
        _organisation(library, _only_team(tiny, team), at)
        shutil.copyfile(library, raw)
        audit_after, outbox_after = high_water(raw)  # the same in both copies
        connection = sqlite3.connect(raw)
        ids = [
            r[0] for r in connection.execute("SELECT id FROM crm_customer ORDER BY customer_number")
        ]
        connection.close()
        a, b, c = team.managers[:3]
        plan = [(a, b), (a, None), (b, c), (c, None), (c, a), (b, None)]
        store = SqlStore.from_url(f"sqlite:///{library}", clock=FixedClock(pendulum.instance(at)))
        store.upgrade_schema()  # not timed: a cache from an older schema gains its tables
        with store.unit_of_work(actor) as uow:
            for customer, (primary, secondary) in zip(ids, plan, strict=True):
                assign_managers(
                    uow,
                    CustomerId(uuid.UUID(customer)),
                    primary=primary,
                    secondary=secondary,
                    reason="new_customer",
                )
            uow.commit()
        store.close()
        rows = Rows.empty()
        for customer, (primary, secondary) in zip(ids, plan, strict=True):
            slots = [(primary, "primary")] + ([(secondary, "secondary")] if secondary else [])
            rows.add(
                json_encoder("stdlib"),
                customer=customer,
                before=None,
                after=with_shares(slots),
                at=Instant.of(at),
                reason="new_customer",
                override=None,
                primary_unit=team.unit.code,
                actor=BUILD_ACTOR,
            )
        connection = connect(raw)
        connection.execute("BEGIN IMMEDIATE")
        rows.write(connection)
        connection.execute("COMMIT")
        connection.close()
        ours = written(library, audit_after, outbox_after)
        theirs = written(raw, audit_after, outbox_after)
        if ours != theirs:
            raise SystemExit(f"raw rows differ from finance_crm's: {ours} vs {theirs}")
        return {table: found["rows"] for table, found in ours.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _only_team(lay: Layout, team: Team) -> Layout:
    """The layout cut down to one team and the units above it."""
    path = team.unit.path
    units = tuple(u for u in lay.units if path.startswith(u.path))
    return Layout(lay.n, units, (team,), {}, {m: lay.books[m] for m in team.managers})
