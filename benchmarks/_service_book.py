"""The cached book of the ``retier_and_due`` benchmark: N customers with managers,
accounts, a quarter of sparse end-of-day balances, last quarter's tiers, recent contacts
and the service tasks of an earlier evaluation.

Cached as ``benchmarks/.work/cache/service_book-n<N>-v<version>.db`` and built once by a
child process (``--part build``; ``--rebuild`` makes it again), starting from a copy of
the organisation cache ``_managers.py`` builds (``managers-n<N>-v2.db``: N active
individual customers with birthdays and risk levels 1-5, 3,400 managers per million in
teams of about 11 with a supervisor, a branch head per branch, every customer with a
primary manager and every other one with a secondary in the same team). Then, all
deterministic (one seeded ``random.Random`` walked in customer-number order):

* the schema is upgraded to finance_crm's head revision (and a cached book is upgraded
  in place before each run when finance_crm has gained a migration since: ``--part
  upgrade``);
* **opening dates** are moved back (the organisation cache stamps every customer with
  the day it was built, after the quarter): 2015-2024, and one customer in a hundred in
  August 2025 (their every-30-days cadence counts from the opening day);
* **leave** (through finance_crm): one manager in 33 is on leave from 2025-09-22 to
  2025-10-10 (over the evaluation day), in a few teams also the neighbour who is often
  their customers' secondary (then nobody can stand in and the task stays with the
  primary), one in 50 from 2025-08-25 to 2025-09-05 (over the earlier evaluation), and
  every tenth team's supervisor;
* **accounts** (``6222`` + the customer's index: a CNY deposit account each; half the
  customers also a CNY fund or wealth account; 3% a CNY loan and 3% a USD deposit
  account, neither of which counts towards AUM), the first few through finance_crm
  (``uow.accounts.add_many``) and compared with the raw rows;
* **balances**, sparse: per counted account a last balance before the quarter (95%; 30%
  also an older one in Q1), on average 8 change days in the quarter and, for one in
  five, one after it (which must not count). Each customer has a previous-quarter
  average, log-uniform inside its band (60% from 5,000 to 100,000 CNY, 30% up to
  500,000, 10% up to 2.5 million); this quarter's level is it times
  ``exp(N(-0.05, 0.55))``, so about 12% of the book moves tier (7% up, 5% down), the 10%
  buffer of the hysteresis keeping some;
* **last quarter's tiers** for every customer (current from 2025-07-01, period
  2025-04-01..2025-06-30; 30% also an older record from 2025-04-01 in a neighbouring
  tier), in the rows finance_crm's re-tiering writes, read back through
  ``uow.tiers`` for a few customers;
* **contacts**: 45% of the customers have 1-3 completed activities in the 60 days up to
  the evaluation day (calls, visits, messages ...; owners their primary manager; 15% not
  reached, 5% completed before 08:00 Beijing time, i.e. on the previous UTC day), the
  first few through finance_crm (``uow.activities.add``) and compared with the raw rows;
* **the earlier evaluation**: finance_crm's ``evaluate_standards`` with the same rules
  on 2025-09-01 (with last quarter's tiers), so the timed run finds open tasks to
  satisfy, cadence tasks that keep a customer from getting another, this quarter's
  one-to-one tasks already made for most of the one-to-one customers, and escalations
  already done. Then ``ANALYZE``.

The quarter is 2025-07-01..2025-09-28, 90 days (as the issue asks; Q3 2025 would be
92), the new tiers take effect on Monday 2025-09-29 and the standards are evaluated on
Tuesday 2025-09-30. Both days are in the China calendar's week with the 28 September
make-up working day (调休) and before the National Day holidays (1-8 October), so the
deadlines count across them.

This module imports only the standard library and the other benchmark helpers; the
build imports finance_crm inside its functions, so a baseline child stays free of
SQLAlchemy.
"""

from __future__ import annotations

import datetime
import math
import os
import random
import shutil
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _managers
from _common import WORK_DIR, remove_db, run_part
from _managers import connect, uuid7_hex

BOOK_VERSION = 1  # bump when the data or the schema change
SEED = 5

# -- the days -------------------------------------------------------------------------------

PERIOD_START = datetime.date(2025, 7, 1)
PERIOD_END = datetime.date(2025, 9, 28)  # 90 days
EFFECTIVE_ON = PERIOD_END + datetime.timedelta(days=1)  # Monday 2025-09-29
EVALUATION_DAY = datetime.date(2025, 9, 30)
PRIOR_EVALUATION_DAY = datetime.date(2025, 9, 1)
PREVIOUS_PERIOD = (datetime.date(2025, 4, 1), datetime.date(2025, 6, 30))
PREVIOUS_EFFECTIVE = datetime.date(2025, 7, 1)
OLDER_PERIOD = (datetime.date(2025, 1, 1), datetime.date(2025, 3, 31))
OLDER_EFFECTIVE = datetime.date(2025, 4, 1)
CONTACT_DAYS = 60  # activities fall on the 60 days up to the evaluation day
SHANGHAI = datetime.timedelta(hours=8)  # Asia/Shanghai has had no daylight saving since 1991

# -- the tiers (finance_crm's broker_tiers, with a 10% buffer) --------------------------------

CURRENCY = "CNY"
HYSTERESIS = "0.1"
# (code, name, rank, threshold in minor units, keep threshold in minor units), highest first.
TIERS = (
    ("one_to_one", "One-to-one manager service (一对一服务)", 30, 50_000_000, 45_000_000),
    ("standardised", "Standardised service (标准化服务)", 20, 10_000_000, 9_000_000),
    ("electronic", "Electronic channel service (电子化服务)", 10, 0, 0),
)

# -- the service standards ------------------------------------------------------------------

ACTIVITY_KINDS = ("call", "visit", "meeting", "email", "message", "branch_walk_in")
FOLLOW_UP = "follow_up"


@dataclass(frozen=True)
class Standards:
    """The three standards of the issue, as plain values both sides build from."""

    risk_code: str = "risk_contact"
    risk_name: str = "Risk level 4-5: contact at least every 30 days"
    risk_levels: tuple[int, ...] = (4, 5)
    risk_every_days: int = 30
    risk_notice_days: int = 7
    risk_from: datetime.date = datetime.date(2025, 6, 1)
    visit_code: str = "one_to_one_visit"
    visit_name: str = "One-to-one tier: a visit every quarter"
    visit_tier: str = "one_to_one"
    visit_kinds: tuple[str, ...] = ("visit",)
    change_code: str = "tier_change_contact"
    change_name: str = "Tier changed: contact within 5 business days"
    change_business_days: int = 5
    change_lookback_days: int = 7
    escalate_after_business_days: int = 3


STANDARDS = Standards()


def service_rules() -> Any:
    """finance_crm's ``ServiceRules`` for :data:`STANDARDS` on ``china_calendar()``."""
    from finance_crm.calendar import china_calendar
    from finance_crm.model.activities import ActivityKind
    from finance_crm.model.customers import RiskLevel
    from finance_crm.model.service_standards import (
        CadenceStandard,
        CustomerSelection,
        EventStandard,
        ServicePeriod,
        ServiceTrigger,
    )
    from finance_crm.rules.service_standards import ServiceRules

    s = STANDARDS
    return ServiceRules(
        standards=(
            CadenceStandard(
                code=s.risk_code,
                name=s.risk_name,
                applies_to=CustomerSelection(risk_levels={RiskLevel(r) for r in s.risk_levels}),
                every_days=s.risk_every_days,
                notice_days=s.risk_notice_days,
                effective_from=s.risk_from,
            ),
            CadenceStandard(
                code=s.visit_code,
                name=s.visit_name,
                applies_to=CustomerSelection(tiers={s.visit_tier}),
                per_period=ServicePeriod.QUARTER,
                satisfied_by={ActivityKind(k) for k in s.visit_kinds},
                effective_from=s.risk_from,
            ),
            EventStandard(
                code=s.change_code,
                name=s.change_name,
                trigger=ServiceTrigger.TIER_CHANGED,
                within_business_days=s.change_business_days,
                lookback_days=s.change_lookback_days,
            ),
        ),
        calendar=china_calendar(),
        escalate_after_business_days=s.escalate_after_business_days,
    )


def tier_rule() -> Any:
    """finance_crm's ``broker_tiers`` with the 10% buffer."""
    from decimal import Decimal

    from finance_crm.rules.tiers import broker_tiers

    return broker_tiers(hysteresis=Decimal(HYSTERESIS))


# -- rows -----------------------------------------------------------------------------------

ACCOUNT_COLUMNS = (
    "id",
    "customer_id",
    "account_number",
    "kind",
    "currency",
    "opened_on",
    "closed_on",
    "product_code",
    "version",
)
TIER_COLUMNS = (
    "customer_id",
    "valid_from",
    "valid_to",
    "tier_code",
    "tier_name",
    "tier_rank",
    "average_minor",
    "currency",
    "period_start",
    "period_end",
)
ACTIVITY_COLUMNS = (
    "id",
    "customer_id",
    "owner",
    "kind",
    "purpose",
    "status",
    "planned_at",
    "duration_minutes",
    "participants",
    "channel",
    "completed_at",
    "completed_on",
    "outcome",
    "reached",
    "rejection_reason",
    "notes",
    "next_step",
    "next_step_due",
    "task_id",
    "cancel_reason",
    "version",
)
# The tables a PostgreSQL template copies, in foreign-key order.
TABLES = (
    "crm_customer",
    "crm_org_unit",
    "crm_staff",
    "crm_staff_leave",
    "crm_assignment",
    "crm_assignment_member",
    "crm_assignment_history",
    "crm_account",
    "crm_balance",
    "crm_tier",
    "crm_activity",
    "crm_service_task",
)
ACCOUNTS_OPENED_ON = "2024-01-02"
PRODUCTS = {
    ("deposit", "CNY"): "DEP-CURRENT",
    ("fund", "CNY"): "FUND-MIX",
    ("wealth", "CNY"): "WM-90D",
    ("loan", "CNY"): "LOAN-MORTGAGE",
    ("deposit", "USD"): "DEP-USD",
}
PREFIXES = {  # account numbers: prefix + the customer's index in 12 digits
    ("deposit", "CNY"): "6222",
    ("fund", "CNY"): "6223",
    ("wealth", "CNY"): "6223",
    ("loan", "CNY"): "6224",
    ("deposit", "USD"): "6225",
}
PURPOSES = {
    "call": "季度回访",
    "visit": "上门拜访",
    "meeting": "网点面谈",
    "email": "Quarterly statement follow-up",
    "message": "产品到期提醒",
    "branch_walk_in": "到店咨询",
}
LIBRARY_CUSTOMERS = 3  # their accounts and activities go through finance_crm
CHUNK = 20_000  # customers per transaction of the raw build


def tier_of(average_minor: int) -> tuple[str, str, int]:
    """The band an average earns, without the buffer (code, name, rank)."""
    for code, name, rank, threshold, _ in TIERS:
        if average_minor >= threshold:
            return code, name, rank
    raise AssertionError("the last threshold is zero")


@dataclass
class Customer:
    index: int
    id: str  # 32 hex digits
    primary: str
    secondary: str | None


@dataclass
class Batch:
    """Raw rows for a chunk of customers, in the column orders above."""

    accounts: list[tuple[Any, ...]]
    balances: list[tuple[str, str, int]]
    tiers: list[tuple[Any, ...]]
    activities: list[tuple[Any, ...]]

    @classmethod
    def empty(cls) -> Batch:
        return cls([], [], [], [])


def _day(offset: int, first: datetime.date) -> str:
    return (first + datetime.timedelta(days=offset)).isoformat()


def _minor(rng: random.Random, yuan: float) -> int:
    return max(0, round(yuan * 100) + rng.randrange(100) - 50)


class Generator:
    """One customer's rows after another, from one seeded random stream."""

    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.quarter_days = (PERIOD_END - PERIOD_START).days + 1

    def customer(self, c: Customer, batch: Batch) -> None:
        """Append customer ``c``'s accounts, balances and tiers to ``batch``."""
        rng = self.rng
        band = rng.random()
        if band < 0.6:
            previous = 10 ** rng.uniform(3.7, 5.0)  # 5,000 to 100,000 yuan
        elif band < 0.9:
            previous = 10 ** rng.uniform(5.0, math.log10(500_000))
        else:
            previous = 10 ** rng.uniform(math.log10(500_000), 6.4)  # up to 2.5 million
        level = previous * math.exp(rng.gauss(-0.05, 0.55))
        accounts: list[tuple[str, str, float]] = [("deposit", "CNY", 1.0)]
        if rng.random() < 0.5:
            share = rng.uniform(0.2, 0.8)
            accounts = [
                ("deposit", "CNY", share),
                ("fund" if rng.random() < 0.5 else "wealth", "CNY", 1.0 - share),
            ]
        if rng.random() < 0.03:
            accounts.append(("loan", "CNY", 4.0))  # large: it must not count
        if rng.random() < 0.03:
            accounts.append(("deposit", "USD", 3.0))  # another currency: it must not count
        for kind, currency, share in accounts:
            account_id = uuid7_hex()
            number = f"{PREFIXES[(kind, currency)]}{c.index:012d}"
            batch.accounts.append(
                (
                    account_id,
                    c.id,
                    number,
                    kind,
                    currency,
                    ACCOUNTS_OPENED_ON,
                    None,
                    PRODUCTS[(kind, currency)],
                    1,
                )
            )
            self._balances(account_id, level * share, batch.balances)
        self._tiers(c, round(previous * 100), batch.tiers)

    def _balances(self, account_id: str, yuan: float, out: list[tuple[str, str, int]]) -> None:
        rng = self.rng
        rows: list[tuple[str, str, int]] = []
        if rng.random() < 0.3:  # an older balance the carried-in one replaces
            rows.append((account_id, _day(rng.randrange(90), OLDER_PERIOD[0]), _minor(rng, yuan)))
        if rng.random() < 0.95:  # the last balance before the quarter, carried in
            day = _day(rng.randrange(91), PREVIOUS_PERIOD[0])
            rows.append((account_id, day, _minor(rng, yuan * math.exp(rng.gauss(0.0, 0.1)))))
        changes = sorted(rng.sample(range(self.quarter_days), rng.randint(4, 12)))
        for offset in changes:
            value = yuan * math.exp(rng.gauss(0.0, 0.15))
            rows.append((account_id, _day(offset, PERIOD_START), _minor(rng, value)))
        if rng.random() < 0.2:  # after the quarter: must not count
            offset = rng.randrange(2)
            rows.append((account_id, _day(offset, EFFECTIVE_ON), _minor(rng, yuan * 10)))
        rows.sort(key=lambda r: r[1])
        out.extend(rows)

    def _tiers(self, c: Customer, average: int, out: list[tuple[Any, ...]]) -> None:
        rng = self.rng
        code, name, rank = tier_of(average)
        start, end = PREVIOUS_PERIOD
        if rng.random() < 0.3:  # an older record, in a neighbouring tier
            older = {"electronic": 1, "standardised": rng.choice((0, 2)), "one_to_one": 1}[code]
            o_code, o_name, o_rank, threshold, _ = TIERS[older]
            o_average = threshold + rng.randrange(1, 5_000_000)
            out.append(
                (
                    c.id,
                    OLDER_EFFECTIVE.isoformat(),
                    PREVIOUS_EFFECTIVE.isoformat(),
                    o_code,
                    o_name,
                    o_rank,
                    o_average,
                    CURRENCY,
                    OLDER_PERIOD[0].isoformat(),
                    OLDER_PERIOD[1].isoformat(),
                )
            )
        out.append(
            (
                c.id,
                PREVIOUS_EFFECTIVE.isoformat(),
                None,
                code,
                name,
                rank,
                average,
                CURRENCY,
                start.isoformat(),
                end.isoformat(),
            )
        )

    def activities(self, c: Customer, out: list[tuple[Any, ...]]) -> None:
        """The customer's completed contacts (maybe none)."""
        rng = self.rng
        if rng.random() >= 0.45:
            return
        count = 1 + (rng.random() < 0.4) + (rng.random() < 0.15)
        for _ in range(count):
            day = EVALUATION_DAY - datetime.timedelta(days=rng.randrange(CONTACT_DAYS))
            r = rng.random()
            kind = (
                "call"
                if r < 0.45
                else "visit"
                if r < 0.65
                else "message"
                if r < 0.8
                else "meeting"
                if r < 0.9
                else "email"
                if r < 0.95
                else "branch_walk_in"
            )
            r = rng.random()
            outcome = (
                "achieved"
                if r < 0.5
                else "contacted"
                if r < 0.8
                else "declined"
                if r < 0.85
                else "no_contact"
            )
            early = rng.random() < 0.05  # before 08:00 in Beijing: the previous UTC day
            hour = rng.randrange(0, 8) if early else rng.randrange(9, 19)
            local = datetime.datetime.combine(day, datetime.time(hour, rng.randrange(60)))
            completed_at = (local - SHANGHAI).strftime(_managers.SQLITE_DATETIME)
            owner = c.secondary if c.secondary and rng.random() < 0.2 else c.primary
            out.append(
                (
                    uuid7_hex(),
                    c.id,
                    owner,
                    kind,
                    PURPOSES[kind],
                    "completed",
                    None,
                    60 if kind == "visit" else None,
                    "[]",
                    None,
                    completed_at,
                    day.isoformat(),
                    outcome,
                    0 if outcome == "no_contact" else 1,
                    "不需要新产品" if outcome == "declined" else None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    1,
                )
            )


# -- leave ----------------------------------------------------------------------------------

LEAVE_OVER_EVALUATION = (datetime.date(2025, 9, 22), datetime.date(2025, 10, 10))
LEAVE_OVER_PRIOR = (datetime.date(2025, 8, 25), datetime.date(2025, 9, 5))


def leave_plan(lay: _managers.Layout) -> dict[str, tuple[datetime.date, datetime.date]]:
    """Staff id -> the leave period they take (deterministic)."""
    plan: dict[str, tuple[datetime.date, datetime.date]] = {}
    managers = [m for team in lay.teams for m in team.managers]
    for j, manager in enumerate(managers):
        if j % 33 == 5:
            plan[manager] = LEAVE_OVER_EVALUATION
        elif j % 50 == 17:
            plan[manager] = LEAVE_OVER_PRIOR
    for t, team in enumerate(lay.teams):
        if t % 7 == 3 and len(team.managers) > 2:  # two neighbours: often each other's cover
            plan[team.managers[1]] = LEAVE_OVER_EVALUATION
            plan[team.managers[2]] = LEAVE_OVER_EVALUATION
        if t % 10 == 4:
            plan[team.supervisor] = LEAVE_OVER_EVALUATION
    return plan


# -- the cached database (parent side) --------------------------------------------------------


def copy_database(source: Path, target: Path) -> float:
    """``_managers.copy_database``, except that an empty WAL file beside ``source`` (left
    by a reader that has it open, with nothing in it) does not stop the copy."""
    started = time.perf_counter()
    remove_db(target)
    wal = Path(f"{source}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise SystemExit(f"{source} has a WAL file: another process is writing to it")
    shutil.copyfile(source, target)
    with open(target, "rb+") as copied:
        os.fsync(copied.fileno())
    return round(time.perf_counter() - started, 1)


def cache_path(n: int) -> Path:
    return WORK_DIR / "cache" / f"service_book-n{n}-v{BOOK_VERSION}.db"


def ensure_database(bench: str, n: int, rebuild: bool) -> tuple[Path, dict[str, Any] | None]:
    """The cached database for N customers, built first (in children) if needed: the
    organisation cache (``--part build-managers``), then this one (``--part build``)."""
    _managers.layout(n)  # refuses an N the layout cannot hold, before any work
    db = cache_path(n)
    if not rebuild and db.exists():
        return db, None
    db.parent.mkdir(parents=True, exist_ok=True)
    managers = _managers.cache_path(n)
    managers_build = None
    if not managers.exists():
        building = managers.with_suffix(f".building-{os.getpid()}.db")
        remove_db(building)
        print(f"building {managers.name} ...", file=sys.stderr)
        try:
            managers_build = run_part(
                bench, "build-managers", ["--n", str(n), "--db", str(building)]
            )
        except BaseException:
            remove_db(building)
            raise
        building.rename(managers)
    building = db.with_suffix(f".building-{os.getpid()}.db")
    remove_db(building)
    print(f"building {db.name} ...", file=sys.stderr)
    try:
        build_info = run_part(bench, "build", ["--n", str(n), "--db", str(building)])
    except BaseException:
        remove_db(building)
        raise
    remove_db(db)
    building.rename(db)  # complete files only: an interrupted build is not reused
    print(f"built in {build_info['seconds']:.1f} s", file=sys.stderr)
    if managers_build is not None:
        build_info["managers_build"] = managers_build
    return db, build_info


# -- the build (a child process) --------------------------------------------------------------


def build(db: Path, n: int) -> dict[str, Any]:
    """Everything listed in the module docstring, on a copy of the organisation cache."""
    started = time.perf_counter()
    marks: dict[str, float] = {}
    lay = _managers.layout(n)
    copy_database(_managers.cache_path(n), db)
    _upgrade(db)
    marks["copy_and_schema"] = time.perf_counter() - started
    _opening_dates(db)
    marks["opening_dates"] = time.perf_counter() - started
    leaves = _leaves(db, lay)
    customers = _customers(db, n)
    marks["leave"] = time.perf_counter() - started
    counts = _rows(db, customers)
    marks["rows"] = time.perf_counter() - started
    _read_back(db, customers)
    connection = connect(db)
    connection.execute("ANALYZE")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    prior = _prior_evaluation(db)
    marks["prior_evaluation"] = time.perf_counter() - started
    connection = connect(db)
    connection.execute("ANALYZE")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    marks["analyze"] = time.perf_counter() - started
    return {
        "part": "build",
        "seconds": round(time.perf_counter() - started, 1),
        "marks": {k: round(v, 1) for k, v in marks.items()},
        "staff_on_leave": len(leaves),
        "rows": counts,
        "prior_evaluation": prior,
    }


def _upgrade(db: Path) -> None:
    from finance_crm.adapters.sql import SqlStore

    store = SqlStore.from_url(f"sqlite:///{db}")
    store.upgrade_schema()
    store.close()


def upgrade(db: Path) -> dict[str, Any]:
    """Bring a cached book to finance_crm's head revision in place (a later migration
    adds tables the book does not use; its own tables are finance_crm's to change), then
    checkpoint it so it can be copied."""
    connection = sqlite3.connect(db)
    try:
        (before,) = connection.execute(
            "SELECT version_num FROM finance_crm_alembic_version"
        ).fetchone()
    finally:
        connection.close()
    _upgrade(db)
    connection = connect(db)
    try:
        (after,) = connection.execute(
            "SELECT version_num FROM finance_crm_alembic_version"
        ).fetchone()
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    if after != before:
        print(f"  {db.name} upgraded from revision {before} to {after}", file=sys.stderr)
    return {"part": "upgrade", "upgraded": after != before, "revision": after}


def _opening_dates(db: Path) -> None:
    """Customer i: opened in 2015-2024 at 02:00 UTC, or (i % 100 == 37) in August 2025."""
    connection = connect(db)
    connection.execute("BEGIN IMMEDIATE")
    connection.execute(
        """
        UPDATE crm_customer SET opened_at = (
          CASE WHEN CAST(substr(customer_number, 2) AS INTEGER) % 100 = 37
               THEN date('2025-08-01',
                         '+' || (CAST(substr(customer_number, 2) AS INTEGER) % 31) || ' days')
               ELSE date('2015-01-01',
                         '+' || (CAST(substr(customer_number, 2) AS INTEGER) * 7919 % 3650)
                         || ' days') END
          || ' 02:00:00.000000')
        """
    )
    connection.execute("COMMIT")
    connection.close()
    print("  opening dates moved back", file=sys.stderr)


def _leaves(db: Path, lay: _managers.Layout) -> dict[str, tuple[datetime.date, datetime.date]]:
    """Leave periods, booked through finance_crm (audited)."""
    import pendulum

    from finance_crm.adapters.sql import SqlStore
    from finance_crm.model.organization import LeaveKind, LeavePeriod
    from finance_crm.security import Actor

    plan = leave_plan(lay)
    store = SqlStore.from_url(f"sqlite:///{db}")
    at = pendulum.datetime(2025, 8, 20, 2, tz="UTC")
    with store.unit_of_work(Actor(_managers.BENCH_ACTOR, roles={"head_office"})) as uow:
        for staff_id, (first, last) in sorted(plan.items()):
            member = uow.organization.get_staff(staff_id)
            kind = LeaveKind.TRAINING if staff_id.startswith("S") else LeaveKind.ANNUAL
            changed, events = member.take_leave(LeavePeriod(first, last, kind), at=at)
            uow.organization.update_staff(changed, events)
        uow.commit()
    store.close()
    print(f"  {len(plan)} staff on leave", file=sys.stderr)
    return plan


def _customers(db: Path, n: int) -> list[Customer]:
    """Every customer with its managers, in customer-number order (customer i is index i)."""
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute(
            """
            SELECT c.id, p.staff_id, s.staff_id
            FROM crm_customer c
            JOIN crm_assignment_member p ON p.customer_id = c.id AND p.role = 'primary'
            LEFT JOIN crm_assignment_member s ON s.customer_id = c.id AND s.role = 'secondary'
            ORDER BY c.customer_number
            """
        ).fetchall()
    finally:
        connection.close()
    if len(rows) != n:
        raise SystemExit(f"expected {n} customers with a primary manager, found {len(rows)}")
    return [Customer(i, cid, p, s) for i, (cid, p, s) in enumerate(rows)]


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _rows(db: Path, customers: Sequence[Customer]) -> dict[str, int]:
    """Accounts, balances, tiers and activities: the first customers' accounts and
    activities through finance_crm (checked against the raw rows), the rest raw."""
    generator = Generator()
    library = list(customers[:LIBRARY_CUSTOMERS])
    first = Batch.empty()
    for c in library:
        generator.customer(c, first)
    for c in library:
        generator.activities(c, first.activities)
    _library_rows(db, first)
    counts = {"accounts": 0, "balances": 0, "tiers": 0, "activities": 0}
    connection = connect(db)
    writes = (
        ("accounts", "crm_account", ACCOUNT_COLUMNS),
        ("balances", "crm_balance", ("account_id", "day", "balance_minor")),
        ("tiers", "crm_tier", TIER_COLUMNS),
        ("activities", "crm_activity", ACTIVITY_COLUMNS),
    )

    def write(batch: Batch, *, skip: tuple[str, ...] = ()) -> None:
        connection.execute("BEGIN IMMEDIATE")
        for name, table, columns in writes:
            rows = getattr(batch, name)
            if name not in skip:
                connection.executemany(_insert(table, columns), rows)
            counts[name] += len(rows)
        connection.execute("COMMIT")

    # The library wrote the first customers' accounts and activities; their other rows
    # go in raw.
    write(first, skip=("accounts", "activities"))
    rest = customers[LIBRARY_CUSTOMERS:]
    for start in range(0, len(rest), CHUNK):
        batch = Batch.empty()
        chunk = rest[start : start + CHUNK]
        for c in chunk:
            generator.customer(c, batch)
        # Activities in a second pass per chunk, so that their UUIDv7s come out in
        # customer order within the chunk, after the accounts'.
        for c in chunk:
            generator.activities(c, batch.activities)
        write(batch)
        print(f"  {LIBRARY_CUSTOMERS + start + len(chunk)} customers' rows", file=sys.stderr)
    connection.close()
    return counts


def _library_rows(db: Path, batch: Batch) -> None:
    """The first customers' accounts and activities through finance_crm, then the rows it
    wrote compared with the raw ones (same ids)."""
    import pendulum

    from finance_crm.adapters.sql import SqlStore
    from finance_crm.ids import AccountId, ActivityId, CustomerId
    from finance_crm.model.accounts import Account, AccountKind
    from finance_crm.model.activities import Activity, ActivityKind, ActivityOutcome, ActivityStatus
    from finance_crm.security import Actor

    def utc(text: str) -> Any:
        return pendulum.instance(datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC))

    accounts = [
        Account(
            id=AccountId(uuid.UUID(r[0])),
            customer_id=CustomerId(uuid.UUID(r[1])),
            account_number=r[2],
            kind=AccountKind(r[3]),
            currency=r[4],
            opened_on=datetime.date.fromisoformat(r[5]),
            product_code=r[7],
        )
        for r in batch.accounts
    ]
    activities = [
        Activity(
            id=ActivityId(uuid.UUID(r[0])),
            customer_id=CustomerId(uuid.UUID(r[1])),
            owner=r[2],
            kind=ActivityKind(r[3]),
            purpose=r[4],
            status=ActivityStatus.COMPLETED,
            duration_minutes=r[7],
            completed_at=utc(r[10]),
            outcome=ActivityOutcome(r[12]),
            rejection_reason=r[14],
        )
        for r in batch.activities
    ]
    store = SqlStore.from_url(f"sqlite:///{db}")
    with store.unit_of_work(Actor.system("bench-build")) as uow:
        uow.accounts.add_many(accounts)
        for activity in activities:
            uow.activities.add(activity)
        uow.commit()
    store.close()
    connection = sqlite3.connect(db)
    try:
        for table, columns, expected in (
            ("crm_account", ACCOUNT_COLUMNS, batch.accounts),
            ("crm_activity", ACTIVITY_COLUMNS, batch.activities),
        ):
            found = connection.execute(
                f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"
            ).fetchall()
            if [tuple(r) for r in found] != sorted(expected):
                raise SystemExit(f"raw {table} rows differ from finance_crm's: {found} {expected}")
    finally:
        connection.close()
    print(
        f"  {len(accounts)} accounts and {len(activities)} activities through finance_crm match "
        "the raw rows",
        file=sys.stderr,
    )


def _read_back(db: Path, customers: Sequence[Customer]) -> None:
    """A few customers' tiers and balances read back through finance_crm."""
    from finance_crm.adapters.sql import SqlStore
    from finance_crm.ids import CustomerId
    from finance_crm.security import Actor

    connection = sqlite3.connect(db)
    store = SqlStore.from_url(f"sqlite:///{db}")
    picks = sorted({0, len(customers) // 2, len(customers) - 1})
    try:
        with store.unit_of_work(Actor.system("bench-build"), read_only=True) as uow:
            for i in picks:
                c = customers[i]
                cid = CustomerId(uuid.UUID(c.id))
                raw = connection.execute(
                    "SELECT valid_from, valid_to, tier_code, tier_rank, average_minor "
                    "FROM crm_tier WHERE customer_id = ? ORDER BY valid_from",
                    (c.id,),
                ).fetchall()
                history = [
                    (
                        r.valid_from.isoformat(),
                        r.valid_to.isoformat() if r.valid_to else None,
                        r.tier.code,
                        r.tier.rank,
                        r.average_aum.minor_units,
                    )
                    for r in uow.tiers.history(cid)
                ]
                if history != [tuple(r) for r in raw]:
                    raise SystemExit(f"customer {c.id}'s tiers read back as {history}, not {raw}")
                accounts = uow.accounts.of_customer(cid)
                ids = [a.id for a in accounts]
                balances = uow.balances.of_accounts(ids, PERIOD_START, PERIOD_END)
                raw_balances = connection.execute(
                    "SELECT count(*) FROM crm_balance b JOIN crm_account a ON a.id = b.account_id "
                    "WHERE a.customer_id = ? AND b.day BETWEEN ? AND ?",
                    (c.id, PERIOD_START.isoformat(), PERIOD_END.isoformat()),
                ).fetchone()[0]
                inside = [b for b in balances if b.day >= PERIOD_START]
                if len(inside) != raw_balances:
                    raise SystemExit(f"customer {c.id}'s balances read back wrong: {balances}")
    finally:
        store.close()
        connection.close()
    print(f"  read back {len(picks)} customers' tiers and balances", file=sys.stderr)


def _prior_evaluation(db: Path) -> dict[str, Any]:
    """finance_crm's evaluation of the standards on the earlier day (last quarter's tiers)."""
    from finance_crm.adapters.sql import SqlStore
    from finance_crm.security import Actor
    from finance_crm.services.service_standards import evaluate_standards

    store = SqlStore.from_url(f"sqlite:///{db}")
    started = time.perf_counter()
    with store.unit_of_work(Actor.system("nightly-service")) as uow:
        report = evaluate_standards(uow, service_rules(), on=PRIOR_EVALUATION_DAY)
        uow.commit()
    store.close()
    seconds = round(time.perf_counter() - started, 1)
    print(f"  earlier evaluation in {seconds} s: {report}", file=sys.stderr)
    return {
        "on": PRIOR_EVALUATION_DAY.isoformat(),
        "seconds": seconds,
        "created": dict(report.created),
        "satisfied": report.satisfied,
        "escalated": report.escalated,
    }


def staff_chunks(rows: Iterator[tuple[str, str]] | Sequence[tuple[str, str]]) -> list[list[str]]:
    """The due list's chunks: the staff of each unit (a team's managers with its
    supervisor; a branch's head), units in code order, ids sorted. ``rows`` are
    (unit code, staff id)."""
    chunks: dict[str, list[str]] = {}
    for unit, staff_id in rows:
        chunks.setdefault(unit, []).append(staff_id)
    return [sorted(ids) for _, ids in sorted(chunks.items())]
