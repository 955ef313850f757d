"""customer_view: one customer's view (客户视图) in the ``retier_and_due`` book, p50/p99,
against hand-written SQL.

The data: the book of :mod:`_service_book` (``service_book-n<N>-v<version>.db``: N
customers with managers in teams, 1-2 counted CNY accounts each plus a few loans and USD
accounts, a quarter of sparse end-of-day balances, tiers, contacts and the open tasks
of an earlier evaluation), copied once to ``benchmarks/.work/cache/customer_view-n<N>-
v<version>-book<version>.db`` and given what the book lacks (``--part prepare``; made
again when the book changes or with ``--rebuild``), from one seeded random stream in
customer-number order:

* a **contribution feed** (贡献度): 70% of the customers have a CNY figure for most months
  from October 2024 to September 2025 (negative in some months), 3% also USD figures;
  the view sums this year's months to date, so the 2024 months must not count;
* **marketing consents** in the profile JSON: 35% of the customers have 1-3 channels,
  some not yet valid, some expired, some withdrawn (a few in the hours around the
  evaluation day's midnight in Beijing, so the withdrawal's business day decides) and
  granted again.

The first customers' figures and consents go through finance_crm
(``uow.contributions.write``, ``grant_consent`` / ``withdraw_consent`` and
``uow.customers.update``) and are compared with the raw rows; the rest are raw
``sqlite3`` inserts and ``json_set`` updates in finance_crm's table shapes. The views
only read, so both sides read the same copy.

Ours (timed per call): ``finance_crm.services.customer_view.customer_view(uow,
customer_id, on=2025-09-30)`` in its own read-only unit of work,
``with store.unit_of_work(actor, read_only=True) as uow`` on
``SqlStore.from_url("sqlite:///<copy>")``. The actor (``--actor``) is by default the
customer's primary manager, ``Actor(staff_id)``, whose scope (their own customers) is
resolved from their staff record in each unit of work, as a manager's screen would
be; ``--actor head_office`` uses ``Actor("bench-reader", roles={"head_office"})``.

Baseline (timed per call): stdlib ``sqlite3`` with finance_crm's PRAGMAs, one
``BEGIN ... COMMIT`` around four statements:

1. the customer row with, joined in the same statement, the tier in force on the day,
   the primary and secondary managers, the primary's name, the last reached contact
   (``LEFT JOIN crm_activity ON id = (SELECT ... ORDER BY completed_at DESC, id DESC
   LIMIT 1)``) and the scope check (``EXISTS`` a member row of the actor's, and the
   actor an active staff member);
2. the accounts opened by the day, each with its latest balance and its balance at the
   end of the previous quarter (two ``ORDER BY day DESC LIMIT 1`` subqueries: one seek
   of the balance key each);
3. the open tasks, by due day (counted, the overdue counted, the first five kept);
4. this year's contribution, summed per currency in SQL;

then in Python: AUM and its change per currency (loans excluded), the held products,
the consents in force (``json.loads`` of the profile) and the masked names and account
numbers (the first character of a name, the first six and last four digits of an
account number: finance_crm's default masking for the values in this book).

Both sides view the same K random customers (``--seed``): an untimed pass to warm the
caches, then a timed pass in another random order, each view timed on its own
(``perf_counter_ns``). Each side runs in its own child process and hashes its answers
(outside the timing): customer number, status, risk level, masked name, tier and
since when, AUM and its change per currency in minor units, the products (masked
number, kind, product, currency, balance), last contact day and by whom, open and
overdue counts, the next tasks' ids, standards and due days, the contribution per
currency, the managers and the primary's masked name, the consents in force. The run
fails if the hashes differ. ``ratio`` is our p50 over the baseline's p50; p99 and mean
ratios are reported too, and ``statements_per_view`` for each side.

PostgreSQL (when ``FINANCE_CRM_BENCH_POSTGRES_URL`` or ``FINANCE_CRM_TEST_POSTGRES_URL``
names a server where databases may be created; ``--no-postgres`` skips it): a database
gets finance_crm's schema and the first ``--pg-n`` customers with everything of theirs
copied from the SQLite copy (same ids), then ``VACUUM ANALYZE``; both sides read it
(ours through ``SqlStore``, the baseline with psycopg and the same four statements) and
it is dropped afterwards.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import hashlib
import json
import os
import random
import re
import secrets
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _managers
import _service_book as book
from _common import (
    PG_URL_ENVS,
    WORK_DIR,
    customer_number,
    environment,
    file_mb,
    peak_rss_mb,
    percentile,
    pg_admin,
    pg_conninfo,
    pg_drop,
    pg_sa_url,
    postgres_url,
    ratio,
    remove_db,
    run_part,
)

NAME = "customer_view"
SUMMARY = "one customer's view (p50, p99) in the retier_and_due book vs hand-written SQL"
DEFAULT_N = 1_000_000
PARTS = (
    "ours",
    "baseline",
    "build",
    "build-managers",
    "prepare",
    "upgrade",
    "pg-build",
    "pg-ours",
    "pg-baseline",
    "pg-drop",
)
VIEW_VERSION = 1  # bump when the contribution or consent data change
SEED = 11
ON = book.EVALUATION_DAY  # Tuesday 2025-09-30
NEXT_TASKS = 5  # customer_view's default
PG_DEFAULT_N = 1_000_000
HEAD_OFFICE = "bench-reader"  # Actor(HEAD_OFFICE, roles={"head_office"})
LIBRARY_CUSTOMERS = 50  # their figures and consents go through finance_crm (8 withdrawals)
CHUNK = 20_000  # customers per transaction of the raw writes
# The feed's months: October 2024 to September 2025 (the view counts 2025's).
MONTHS = tuple(
    datetime.date(2024 + (9 + m) // 12, (9 + m) % 12 + 1, 1).isoformat() for m in range(12)
)
CHANNELS = ("branch", "phone", "sms", "email", "wechat", "app", "post")
# The tables the PostgreSQL database copies, in foreign-key order.
TABLES = (*book.TABLES, "crm_contribution")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k", type=int, default=2000, help="customers viewed (2,000)")
    parser.add_argument("--seed", type=int, default=1, help="picks the customers (1)")
    parser.add_argument(
        "--actor",
        choices=("manager", "head_office"),
        default="manager",
        help="who views: the customer's primary manager (default) or a head-office actor",
    )
    parser.add_argument(
        "--pg-n",
        type=int,
        help=f"customers on PostgreSQL (--n, at most {PG_DEFAULT_N:,} unless given)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL part")
    parser.add_argument(
        "--rebuild", action="store_true", help="make the copy with contributions and consents again"
    )
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--pg-database", help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)  # cProfile output (ours)


def cache_path(n: int) -> Path:
    return WORK_DIR / "cache" / f"customer_view-n{n}-v{VIEW_VERSION}-book{book.BOOK_VERSION}.db"


# -- parent ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    # The parent never imports SQLAlchemy: a child inherits its parent's peak RSS.
    if args.k < 1 or args.k > args.n:
        raise SystemExit("--k must be between 1 and --n")
    db, book_build, prepared = _ensure_copy(args.n, args.rebuild)
    upgrade = run_part(NAME, "upgrade", ["--n", str(args.n), "--db", str(db)])
    common = ["--n", str(args.n), "--k", str(args.k), "--seed", str(args.seed)]
    common += ["--actor", args.actor]
    sides: dict[str, dict[str, Any]] = {}
    for side in ("baseline", "ours"):
        sides[side] = run_part(NAME, side, [*common, "--db", str(db)])
        print(f"{side}: {_line(sides[side])}", file=sys.stderr)
    _same_answers("SQLite", sides["ours"], sides["baseline"])
    result: dict[str, Any] = {
        "bench": NAME,
        "n": args.n,
        "k": args.k,
        "actor": args.actor,
        "on": ON.isoformat(),
        **_figures("", sides["ours"], sides["baseline"]),
        "db_mb": file_mb(db),
        "schema_upgraded_this_run": upgrade["upgraded"],
        "prepared_this_run": prepared,
        "book_built_this_run": book_build is not None,
    }
    url = postgres_url()
    if url is not None and not args.no_postgres:
        result.update(_postgres(args, db, common))
    else:
        result["pg_n"] = None
        reason = "--no-postgres" if url else f"{PG_URL_ENVS[0]} not set"
        print(f"PostgreSQL part skipped: {reason}", file=sys.stderr)
    result.update(environment())
    return result


def _ensure_copy(n: int, rebuild: bool) -> tuple[Path, dict[str, Any] | None, Any]:
    """This benchmark's copy of the book with contributions and consents, made (in a
    child) when missing, when the book has changed since, or with ``--rebuild``."""
    source, book_build = book.ensure_database(NAME, n, False)
    db = cache_path(n)
    stamp = db.with_suffix(".source.json")
    stat = source.stat()
    wanted = {"book": source.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    current = json.loads(stamp.read_text()) if stamp.exists() else None
    if not rebuild and db.exists() and current == wanted:
        return db, book_build, None
    building = db.with_suffix(f".building-{os.getpid()}.db")
    print(f"copying {source.name} to {db.name} ...", file=sys.stderr)
    try:
        copy_seconds = book.copy_database(source, building)
        prepared = run_part(NAME, "prepare", ["--n", str(n), "--db", str(building)])
    except BaseException:
        remove_db(building)
        raise
    remove_db(db)
    building.rename(db)  # complete files only: an interrupted preparation is not reused
    stamp.write_text(json.dumps(wanted))
    prepared["copy_seconds"] = copy_seconds
    print(f"prepared in {prepared['seconds']:.1f} s: {prepared['rows']}", file=sys.stderr)
    return db, book_build, prepared


def _line(side: dict[str, Any]) -> str:
    s = side["timed"]
    return f"p50 {s['p50']} us, p99 {s['p99']} us, mean {s['mean']} us"


def _figures(prefix: str, ours: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """The JSON figures of one backend (``prefix`` "" or "pg_")."""
    o, b = ours["timed"], baseline["timed"]
    return {
        f"{prefix}seconds": ours["seconds"],
        f"{prefix}baseline_seconds": baseline["seconds"],
        f"{prefix}ratio": ratio(o["p50"], b["p50"]),  # of the p50s
        f"{prefix}ratio_p99": ratio(o["p99"], b["p99"]),
        f"{prefix}ratio_mean": ratio(o["mean"], b["mean"]),
        f"{prefix}p50_us": o["p50"],
        f"{prefix}p90_us": o["p90"],
        f"{prefix}p99_us": o["p99"],
        f"{prefix}mean_us": o["mean"],
        f"{prefix}baseline_p50_us": b["p50"],
        f"{prefix}baseline_p90_us": b["p90"],
        f"{prefix}baseline_p99_us": b["p99"],
        f"{prefix}baseline_mean_us": b["mean"],
        f"{prefix}views_per_s": round(ours["k"] / ours["seconds"]),
        f"{prefix}baseline_views_per_s": round(baseline["k"] / baseline["seconds"]),
        f"{prefix}statements_per_view": ours["statements_per_view"],
        f"{prefix}baseline_statements_per_view": baseline["statements_per_view"],
        f"{prefix}empty_uow_p50_us": ours["empty_uow_p50_us"],
        f"{prefix}peak_rss_mb": max(ours["peak_rss_mb"], baseline["peak_rss_mb"]),
        f"{prefix}ours_peak_rss_mb": ours["peak_rss_mb"],
        f"{prefix}baseline_peak_rss_mb": baseline["peak_rss_mb"],
        f"{prefix}coverage": ours["coverage"],
        f"{prefix}answers_sha256": ours["answers_sha256"],
    }


def _same_answers(where: str, ours: dict[str, Any], baseline: dict[str, Any]) -> None:
    if ours["answers_sha256"] != baseline["answers_sha256"] or ours["k"] != baseline["k"]:
        print(f"{where} ours:     {ours['first_answers']}", file=sys.stderr)
        print(f"{where} baseline: {baseline['first_answers']}", file=sys.stderr)
        raise SystemExit(
            f"{where}: the two sides' views differ (ours {ours['answers_sha256']}, "
            f"baseline {baseline['answers_sha256']})"
        )


def _postgres(args: argparse.Namespace, db: Path, common: list[str]) -> dict[str, Any]:
    pg_n = args.pg_n or min(args.n, PG_DEFAULT_N)
    if pg_n < 1 or pg_n > args.n:
        raise SystemExit("--pg-n must be between 1 and --n")
    k = min(args.k, pg_n)
    print(f"PostgreSQL: a database with {pg_n:,} customers ...", file=sys.stderr)
    build = run_part(NAME, "pg-build", ["--n", str(pg_n), "--db", str(db)])
    database = build["database"]
    options = [*common, "--n", str(pg_n), "--k", str(k), "--pg-database", database]
    sides: dict[str, dict[str, Any]] = {}
    try:
        for side in ("pg-baseline", "pg-ours"):
            sides[side] = run_part(NAME, side, options)
            print(f"{side}: {_line(sides[side])}", file=sys.stderr)
    finally:
        run_part(NAME, "pg-drop", ["--pg-database", database])
    ours, baseline = sides["pg-ours"], sides["pg-baseline"]
    _same_answers("PostgreSQL", ours, baseline)
    return {
        "pg_n": pg_n,
        "pg_k": k,
        **_figures("pg_", ours, baseline),
        "pg_build_seconds": build["seconds"],
        "pg_server": build["server"],
    }


# -- children -------------------------------------------------------------------------------


def part(args: argparse.Namespace) -> dict[str, Any]:
    if args.part == "build-managers":
        return _managers.build(Path(args.db), args.n)
    if args.part == "build":
        return book.build(Path(args.db), args.n)
    if args.part == "upgrade":
        return book.upgrade(Path(args.db))
    if args.part == "prepare":
        return _prepare(Path(args.db), args.n)
    if args.part == "pg-build":
        return _pg_build(Path(args.db), args.n)
    if args.part == "pg-drop":
        pg_drop(args.pg_database)
        return {"part": args.part, "dropped": args.pg_database}
    pg = args.part.startswith("pg-")
    if pg:
        import psycopg

        with psycopg.connect(pg_conninfo(args.pg_database)) as connection:
            picks = _pick(_pg_reader(connection), args.n, args.k, args.seed)
    else:
        reader = sqlite3.connect(args.db)
        try:
            picks = _pick(_sqlite_reader(reader), args.n, args.k, args.seed)
        finally:
            reader.close()
    head_office = args.actor == "head_office"
    side: _Side
    if args.part.endswith("ours"):
        url = pg_sa_url(args.pg_database) if pg else f"sqlite:///{args.db}"
        side = _Ours(url, picks, head_office=head_office)
    else:
        side = _Baseline(args.db, args.pg_database, picks, head_office=head_office)
    try:
        return {"part": args.part, **_measure(side, picks, args.seed, args.profile)}
    finally:
        side.close()


@dataclass(frozen=True)
class Pick:
    number: str
    id: str  # 32 hex digits
    primary: str  # the primary manager's staff id


def _pick(read: Callable[[str], tuple[str, str]], n: int, k: int, seed: int) -> list[Pick]:
    """K random customers among the first N (customer i is ``customer_number(i)``)."""
    numbers = [customer_number(i) for i in random.Random(seed).sample(range(n), k)]
    return [Pick(number, *read(number)) for number in numbers]


_PICK_SQL = (
    "SELECT c.id, m.staff_id FROM crm_customer c JOIN crm_assignment_member m "
    "ON m.customer_id = c.id AND m.role = 'primary' WHERE c.customer_number = {}"
)


def _sqlite_reader(connection: sqlite3.Connection) -> Callable[[str], tuple[str, str]]:
    def read(number: str) -> tuple[str, str]:
        row = connection.execute(_PICK_SQL.format("?"), (number,)).fetchone()
        if row is None:
            raise SystemExit(f"customer {number} has no primary manager in the book")
        return row[0], row[1]

    return read


def _pg_reader(connection: Any) -> Callable[[str], tuple[str, str]]:
    def read(number: str) -> tuple[str, str]:
        row = connection.execute(_PICK_SQL.format("%s"), (number,)).fetchone()
        if row is None:
            raise SystemExit(f"customer {number} has no primary manager in the database")
        return row[0].hex, row[1]

    return read


class _Side:
    """One side's view of customer ``i`` of the picks, and its answer as one line."""

    def view(self, i: int) -> Any:
        raise NotImplementedError

    def line(self, answer: Any) -> str:
        raise NotImplementedError

    def count_statements(self, i: int) -> int:
        raise NotImplementedError

    def extra(self) -> dict[str, Any]:
        return {"empty_uow_p50_us": None}

    def close(self) -> None:
        pass


def _measure(side: _Side, picks: Sequence[Pick], seed: int, profile: str | None) -> dict[str, Any]:
    k = len(picks)
    order = list(range(k))
    random.Random(seed + 1).shuffle(order)
    clock = time.perf_counter_ns
    warm = [side.line(side.view(i)) for i in range(k)]  # warms the caches; the answers kept
    profiler = cProfile.Profile() if profile else None
    micros: list[float] = []
    answers: dict[int, Any] = {}
    view = side.view
    if profiler is not None:
        profiler.enable()
    for i in order:
        started = clock()
        answers[i] = view(i)
        micros.append((clock() - started) / 1000)
    if profiler is not None and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    peak = peak_rss_mb()
    digest = hashlib.sha256()
    lines = []
    for i in range(k):
        line = side.line(answers[i])
        if line != warm[i]:
            raise SystemExit(f"customer {picks[i].number}: two passes differ:\n{warm[i]}\n{line}")
        digest.update(f"{line}\n".encode())
        lines.append(line)
    return {
        "k": k,
        "seconds": round(sum(micros) / 1e6, 4),
        "timed": _summary(micros),
        "statements_per_view": side.count_statements(0),
        "peak_rss_mb": peak,
        "answers_sha256": digest.hexdigest()[:16],
        "first_answers": lines[:3],
        "coverage": _coverage(lines),
        **side.extra(),
    }


def _summary(micros: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(micros, 50), 1),
        "p90": round(percentile(micros, 90), 1),
        "p99": round(percentile(micros, 99), 1),
        "mean": round(sum(micros) / len(micros), 1),
    }


# The answer line's fields, in order (both sides write the same line).
FIELDS = (
    "number",
    "status",
    "risk",
    "name",
    "tier",
    "since",
    "aum",
    "change",
    "products",
    "held",
    "contact_on",
    "contact_by",
    "open",
    "overdue",
    "next",
    "contribution",
    "primary",
    "primary_name",
    "secondary",
    "consents",
)


def _coverage(lines: Sequence[str]) -> dict[str, int]:
    """How many of the views had each kind of indicator (the comparison exercises them)."""
    rows = [dict(zip(FIELDS, line.split("|"), strict=True)) for line in lines]
    return {
        "with_tier": sum(bool(r["tier"]) for r in rows),
        "with_usd_aum": sum("USD:" in r["aum"] for r in rows),
        "with_loan": sum(":loan:" in r["held"] for r in rows),
        "with_last_contact": sum(bool(r["contact_on"]) for r in rows),
        "with_open_tasks": sum(r["open"] != "0" for r in rows),
        "with_overdue_tasks": sum(r["overdue"] != "0" for r in rows),
        "with_more_than_5_open": sum(int(r["open"]) > NEXT_TASKS for r in rows),
        "with_contribution": sum(bool(r["contribution"]) for r in rows),
        "with_usd_contribution": sum("USD:" in r["contribution"] for r in rows),
        "with_consents": sum(bool(r["consents"]) for r in rows),
        "with_secondary": sum(bool(r["secondary"]) for r in rows),
    }


def _amounts(pairs: Any) -> str:
    """``CNY:123,USD:45``: per currency, in minor units, by currency code."""
    return ",".join(f"{code}:{minor}" for code, minor in pairs)


# -- ours -----------------------------------------------------------------------------------


class _Ours(_Side):
    def __init__(self, url: str, picks: Sequence[Pick], *, head_office: bool) -> None:
        import sqlalchemy as sa

        from finance_crm.adapters.sql import SqlStore
        from finance_crm.ids import CustomerId
        from finance_crm.security import Actor
        from finance_crm.services.customer_view import customer_view

        self._event = sa.event
        self.store = SqlStore.from_url(url)
        reader = Actor(HEAD_OFFICE, roles={"head_office"})
        # The host has its user's Actor before the screen is asked for: made untimed.
        self.actors = [reader if head_office else Actor(p.primary) for p in picks]
        self.ids = [CustomerId(uuid.UUID(p.id)) for p in picks]
        self.customer_view = customer_view

    def view(self, i: int) -> Any:
        with self.store.unit_of_work(self.actors[i], read_only=True) as uow:
            return self.customer_view(uow, self.ids[i], on=ON)

    def line(self, v: Any) -> str:
        held = ";".join(
            f"{p.account_number}:{p.kind.value}:{p.product_code or ''}:{p.currency}:"
            f"{'' if p.balance is None else p.balance.minor_units}"
            for p in v.products
        )
        upcoming = ";".join(f"{t.id.hex}:{t.standard}:{t.due_on.isoformat()}" for t in v.next_tasks)
        return "|".join(
            (
                v.customer_number,
                v.status,
                "" if v.risk_level is None else str(int(v.risk_level.value)),
                v.name,
                v.tier or "",
                "" if v.tier_since is None else v.tier_since.isoformat(),
                _amounts((c, m.minor_units) for c, m in v.aum.items()),
                _amounts((c, m.minor_units) for c, m in v.aum_change.items()),
                str(len(v.products)),
                held,
                "" if v.last_contact_on is None else v.last_contact_on.isoformat(),
                v.last_contact_by or "",
                str(v.open_tasks),
                str(v.overdue_tasks),
                upcoming,
                _amounts((c, m.minor_units) for c, m in v.contribution.items()),
                v.primary_manager or "",
                v.primary_manager_name or "",
                v.secondary_manager or "",
                ",".join(c.value for c in v.consents),
            )
        )

    def count_statements(self, i: int) -> int:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(args[2])

        engine = self.store.bind
        self._event.listen(engine, "before_cursor_execute", count)
        try:
            self.view(i)
        finally:
            self._event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    def extra(self) -> dict[str, Any]:
        clock = time.perf_counter_ns
        micros = []
        for i in range(1000):
            started = clock()
            with self.store.unit_of_work(self.actors[i % len(self.actors)], read_only=True):
                pass
            micros.append((clock() - started) / 1000)
        return {"empty_uow_p50_us": round(percentile(micros, 50), 1)}

    def close(self) -> None:
        self.store.close()


# -- the baseline ---------------------------------------------------------------------------

_HEADER = """
SELECT c.customer_number, c.kind, c.status, c.name, c.risk_level, c.profile,
       t.tier_code, t.valid_from,
       p.staff_id, ps.name, s.staff_id,
       la.completed_on, la.owner
FROM crm_customer c
LEFT JOIN crm_tier t ON t.customer_id = c.id AND t.valid_from <= :on
  AND (t.valid_to IS NULL OR t.valid_to > :on)
LEFT JOIN crm_assignment_member p ON p.customer_id = c.id AND p.role = 'primary'
LEFT JOIN crm_staff ps ON ps.id = p.staff_id
LEFT JOIN crm_assignment_member s ON s.customer_id = c.id AND s.role = 'secondary'
LEFT JOIN crm_activity la ON la.id = (
  SELECT r.id FROM crm_activity r WHERE r.customer_id = c.id AND r.reached = 1
  ORDER BY r.completed_at DESC, r.id DESC LIMIT 1)
WHERE c.id = :id
"""
# The manager's scope: an active staff member holding a role on the customer.
_IN_SCOPE = """
  AND EXISTS (SELECT 1 FROM crm_assignment_member m
              WHERE m.customer_id = c.id AND m.staff_id = :actor)
  AND EXISTS (SELECT 1 FROM crm_staff a WHERE a.id = :actor AND a.status = 'active')
"""
_ACCOUNTS = """
SELECT a.account_number, a.kind, a.currency, a.opened_on, a.closed_on, a.product_code,
       (SELECT b.balance_minor FROM crm_balance b WHERE b.account_id = a.id AND b.day <= :on
        ORDER BY b.day DESC LIMIT 1),
       (SELECT b.balance_minor FROM crm_balance b WHERE b.account_id = a.id
        AND b.day <= :before ORDER BY b.day DESC LIMIT 1)
FROM crm_account a
WHERE a.customer_id = :id AND a.opened_on <= :on
ORDER BY a.account_number
"""
_TASKS = """
SELECT id, standard, due_on FROM crm_service_task
WHERE customer_id = :id AND status = 'open'
ORDER BY due_on, id
"""
_CONTRIBUTION = """
SELECT currency, sum(amount_minor) FROM crm_contribution
WHERE customer_id = :id AND month >= :january AND month <= :month
GROUP BY currency ORDER BY currency
"""
SHANGHAI = datetime.timedelta(hours=8)  # Asia/Shanghai has had no daylight saving since 1991


def _pg_sql(text: str) -> str:
    """The same statement for psycopg: ``%(name)s`` parameters, a boolean ``reached``."""
    text = text.replace("r.reached = 1", "r.reached")
    return re.sub(r"(?<![:\w]):([a-z_]+)", r"%(\1)s", text)


def _iso(value: Any) -> str:
    """A day as ISO text (sqlite3 returns the stored text, psycopg a date)."""
    return value if isinstance(value, str) else value.isoformat()


def _mask_name(name: str) -> str:
    return name[:1] + "*" * (len(name) - 1) if len(name) > 1 else "*" * len(name)


def _mask_number(number: str) -> str:
    return number[:6] + "*" * (len(number) - 10) + number[-4:] if len(number) > 10 else number


class _Baseline(_Side):
    """The four statements in one read transaction on a plain driver connection."""

    def __init__(
        self, db: str | None, pg_database: str | None, picks: Sequence[Pick], *, head_office: bool
    ) -> None:
        self.pg = pg_database is not None
        header = _HEADER if head_office else _HEADER + _IN_SCOPE
        statements = [header, _ACCOUNTS, _TASKS, _CONTRIBUTION]
        if self.pg:
            import psycopg

            self.connection: Any = psycopg.connect(pg_conninfo(pg_database))
            statements = [_pg_sql(s) for s in statements]
            self.ids: list[Any] = [uuid.UUID(p.id) for p in picks]
        else:
            assert db is not None
            self.connection = sqlite3.connect(db, isolation_level=None)
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA foreign_keys=ON")
            self.connection.execute("PRAGMA busy_timeout=30000")
            self.ids = [p.id for p in picks]
        self.header, self.accounts, self.tasks, self.contribution = statements
        self.actors = [p.primary for p in picks]
        quarter_start = datetime.date(ON.year, 3 * ((ON.month - 1) // 3) + 1, 1)
        days = {
            "on": ON,
            "before": quarter_start - datetime.timedelta(days=1),
            "january": datetime.date(ON.year, 1, 1),
            "month": datetime.date(ON.year, ON.month, 1),
        }
        self.days: dict[str, Any] = days if self.pg else {k: v.isoformat() for k, v in days.items()}
        self.on, self.before = days["on"].isoformat(), days["before"].isoformat()
        self.execute: Callable[[str, dict[str, Any]], Any] = self.connection.execute

    def view(self, i: int) -> dict[str, Any]:
        execute = self.execute
        params = {**self.days, "id": self.ids[i], "actor": self.actors[i]}
        if not self.pg:
            execute("BEGIN", {})
        try:
            row = execute(self.header, params).fetchone()
            if row is None:
                raise SystemExit("customer not found or outside the actor's scope")
            accounts = execute(self.accounts, params).fetchall()
            tasks = execute(self.tasks, params).fetchall()
            contribution = execute(self.contribution, params).fetchall()
        finally:
            if self.pg:
                self.connection.commit()
            else:
                execute("COMMIT", {})
        (number, kind, status, name, risk, profile, tier, since) = row[:8]
        (primary, primary_name, secondary, contact_on, contact_by) = row[8:]
        on, before = self.on, self.before
        aum: dict[str, int] = {}
        then: dict[str, int] = {}
        held = []
        for acc_number, acc_kind, currency, opened, closed, product, latest, at_quarter in accounts:
            closed = None if closed is None else _iso(closed)
            open_now = closed is None or on < closed
            if open_now:
                held.append((_mask_number(acc_number), acc_kind, product, currency, latest))
            if acc_kind == "loan":  # a liability: never AUM
                continue
            aum[currency] = aum.get(currency, 0) + ((latest or 0) if open_now else 0)
            open_then = _iso(opened) <= before and (closed is None or before < closed)
            then[currency] = then.get(currency, 0) + ((at_quarter or 0) if open_then else 0)
        if isinstance(profile, str):
            profile = json.loads(profile)
        consents = set()
        for c in profile["consents"]:
            if c["valid_from"] > on or (c["valid_until"] is not None and on > c["valid_until"]):
                continue
            withdrawn = c["withdrawn_at"]
            if withdrawn is not None:
                local = datetime.datetime.fromisoformat(withdrawn) + SHANGHAI
                if on >= local.date().isoformat():
                    continue
            consents.add(c["channel"])
        return {
            "number": number,
            "status": status,
            "risk": risk,
            "name": _mask_name(name) if kind == "individual" else name,
            "tier": tier,
            "since": since,
            "aum": sorted(aum.items()),
            "change": [(code, aum[code] - then[code]) for code in sorted(aum)],
            "held": held,
            "contact_on": contact_on,
            "contact_by": contact_by,
            "open": len(tasks),
            "overdue": sum(_iso(due) < on for _, _, due in tasks),
            "next": tasks[:NEXT_TASKS],
            "contribution": [(code, int(total)) for code, total in contribution],
            "primary": primary,
            "primary_name": None if primary_name is None else _mask_name(primary_name),
            "secondary": secondary,
            "consents": sorted(consents),
        }

    def line(self, v: dict[str, Any]) -> str:
        held = ";".join(
            f"{n}:{k}:{p or ''}:{c}:{'' if b is None else b}" for n, k, p, c, b in v["held"]
        )
        upcoming = ";".join(
            f"{t if isinstance(t, str) else t.hex}:{s}:{_iso(d)}" for t, s, d in v["next"]
        )
        return "|".join(
            (
                v["number"],
                v["status"],
                "" if v["risk"] is None else str(v["risk"]),
                v["name"],
                v["tier"] or "",
                "" if v["since"] is None else _iso(v["since"]),
                _amounts(v["aum"]),
                _amounts(v["change"]),
                str(len(v["held"])),
                held,
                "" if v["contact_on"] is None else _iso(v["contact_on"]),
                v["contact_by"] or "",
                str(v["open"]),
                str(v["overdue"]),
                upcoming,
                _amounts(v["contribution"]),
                v["primary"] or "",
                v["primary_name"] or "",
                v["secondary"] or "",
                ",".join(v["consents"]),
            )
        )

    def count_statements(self, i: int) -> int:
        seen: list[str] = []
        execute = self.execute

        def counted(sql: str, params: dict[str, Any]) -> Any:
            seen.append(sql)
            return execute(sql, params)

        self.execute = counted
        try:
            self.view(i)
        finally:
            self.execute = execute
        return len(seen) + (2 if self.pg else 0)  # psycopg's implicit BEGIN and the COMMIT

    def close(self) -> None:
        self.connection.close()


# -- the contribution feed and the consents (a child process) ---------------------------------


@dataclass
class Extra:
    """One customer's contribution rows and consents (wire-format dicts)."""

    figures: list[tuple[str, str, str, int]]  # (customer id, month, currency, minor units)
    consents: list[dict[str, Any]]


class Generator:
    """Customer after customer, from one seeded random stream."""

    def __init__(self) -> None:
        self.rng = random.Random(SEED)

    def customer(self, customer_id: str) -> Extra:
        rng = self.rng
        figures: list[tuple[str, str, str, int]] = []
        if rng.random() < 0.7:
            usd = rng.random() < 0.03
            for month in MONTHS:
                if rng.random() < 0.8:
                    figures.append((customer_id, month, "CNY", rng.randint(-20_000, 300_000)))
                if usd and rng.random() < 0.5:
                    figures.append((customer_id, month, "USD", rng.randint(0, 50_000)))
        consents: list[dict[str, Any]] = []
        if rng.random() < 0.35:
            for channel in rng.sample(CHANNELS, rng.randint(1, 3)):
                consents.extend(self._consents(channel))
        return Extra(figures, consents)

    def _consents(self, channel: str) -> list[dict[str, Any]]:
        """A consent on one channel; maybe withdrawn, then maybe granted again."""
        rng = self.rng
        if rng.random() < 0.1:  # from a day around the evaluation day
            first = ON + datetime.timedelta(days=rng.randrange(-5, 10))
        else:
            first = datetime.date(2023, 1, 1) + datetime.timedelta(days=rng.randrange(1000))
        until = first + datetime.timedelta(days=rng.randrange(30, 900))
        granted = _consent(channel, first, until if rng.random() < 0.25 else None, None)
        if rng.random() >= 0.2:
            return [granted]
        if rng.random() < 0.3:  # in the hours around midnight in Beijing, 29/30 September
            withdrawn = datetime.datetime(2025, 9, 29, 14) + datetime.timedelta(
                seconds=rng.randrange(16 * 3600)
            )
        else:  # June to mid-October
            withdrawn = datetime.datetime(2025, 6, 1) + datetime.timedelta(
                seconds=rng.randrange(136 * 86400)
            )
        withdrawn = max(withdrawn, datetime.datetime.combine(first, datetime.time()))
        granted["withdrawn_at"] = withdrawn.strftime("%Y-%m-%dT%H:%M:%SZ")
        if rng.random() >= 0.5:
            return [granted]
        again = (withdrawn + SHANGHAI).date() + datetime.timedelta(days=rng.randrange(1, 20))
        return [granted, _consent(channel, again, None, None)]


def _consent(
    channel: str, first: datetime.date, until: datetime.date | None, withdrawn: str | None
) -> dict[str, Any]:
    """A ``MarketingConsent`` in finance_crm's wire format."""
    return {
        "channel": channel,
        "purpose": "marketing",
        "valid_from": first.isoformat(),
        "valid_until": None if until is None else until.isoformat(),
        "withdrawn_at": withdrawn,
    }


def _prepare(db: Path, n: int) -> dict[str, Any]:
    """Contributions and consents for every customer of the copy (see the docstring)."""
    started = time.perf_counter()
    book.upgrade(db)  # the book may be older than crm_contribution
    connection = sqlite3.connect(db)
    try:
        ids = [
            r[0] for r in connection.execute("SELECT id FROM crm_customer ORDER BY customer_number")
        ]
    finally:
        connection.close()
    if len(ids) != n:
        raise SystemExit(f"expected {n} customers in the book, found {len(ids)}")
    generator = Generator()
    first = [generator.customer(c) for c in ids[:LIBRARY_CUSTOMERS]]
    _library_extras(db, ids[:LIBRARY_CUSTOMERS], first)
    counts = {"contributions": sum(len(e.figures) for e in first), "with_consents": 0}
    counts["with_consents"] = sum(bool(e.consents) for e in first)
    connection = _managers.connect(db)
    insert = (
        "INSERT INTO crm_contribution (customer_id, month, currency, amount_minor) "
        "VALUES (?, ?, ?, ?)"
    )
    update = (
        "UPDATE crm_customer SET profile = json_set(profile, '$.consents', json(?)) WHERE id = ?"
    )
    rest = ids[LIBRARY_CUSTOMERS:]
    for start in range(0, len(rest), CHUNK):
        figures: list[tuple[str, str, str, int]] = []
        consents: list[tuple[str, str]] = []
        for customer_id in rest[start : start + CHUNK]:
            extra = generator.customer(customer_id)
            figures.extend(extra.figures)
            if extra.consents:
                consents.append((json.dumps(extra.consents, ensure_ascii=False), customer_id))
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(insert, figures)
        connection.executemany(update, consents)
        connection.execute("COMMIT")
        counts["contributions"] += len(figures)
        counts["with_consents"] += len(consents)
        done = LIBRARY_CUSTOMERS + min(start + CHUNK, len(rest))
        print(f"  {done} customers' contributions and consents", file=sys.stderr)
    connection.execute("ANALYZE crm_contribution")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return {"part": "prepare", "seconds": round(time.perf_counter() - started, 1), "rows": counts}


def _library_extras(db: Path, ids: Sequence[str], extras: Sequence[Extra]) -> None:
    """The first customers' figures and consents through finance_crm, then compared with
    the raw rows the generator made for them."""
    import pendulum

    from finance_crm.adapters.sql import SqlStore
    from finance_crm.ids import CustomerId
    from finance_crm.model.customers import Channel, MarketingConsent
    from finance_crm.model.transactions import ContributionFigure
    from finance_crm.money import Money
    from finance_crm.security import Actor

    at = pendulum.datetime(2025, 6, 1, tz="UTC")
    store = SqlStore.from_url(f"sqlite:///{db}")
    with store.unit_of_work(Actor(_managers.BENCH_ACTOR, roles={"head_office"})) as uow:
        uow.contributions.write(
            [
                ContributionFigure(
                    customer_id=CustomerId(uuid.UUID(c)),
                    month=datetime.date.fromisoformat(month),
                    amount=Money.from_minor_units(minor, currency),
                )
                for extra in extras
                for c, month, currency, minor in extra.figures
            ]
        )
        for customer_id, extra in zip(ids, extras, strict=True):
            customer = uow.customers.get(CustomerId(uuid.UUID(customer_id)))
            events: list[Any] = []
            for c in extra.consents:
                consent = MarketingConsent(
                    channel=Channel(c["channel"]),
                    valid_from=datetime.date.fromisoformat(c["valid_from"]),
                    valid_until=None
                    if c["valid_until"] is None
                    else datetime.date.fromisoformat(c["valid_until"]),
                )
                customer, raised = customer.grant_consent(consent, at=at)
                events += raised
                if c["withdrawn_at"] is not None:
                    withdrawn = pendulum.instance(
                        datetime.datetime.fromisoformat(c["withdrawn_at"])
                    )
                    customer, raised = customer.withdraw_consent(
                        consent.channel, consent.purpose, at=withdrawn
                    )
                    events += raised
            if events:
                uow.customers.update(customer, events)
        uow.commit()
    store.close()
    connection = sqlite3.connect(db)
    try:
        found = connection.execute(
            "SELECT customer_id, month, currency, amount_minor FROM crm_contribution "
            "ORDER BY 1, 2, 3"
        ).fetchall()
        expected = sorted(f for extra in extras for f in extra.figures)
        if found != expected:
            raise SystemExit(f"raw contribution rows differ from finance_crm's: {found}")
        for customer_id, extra in zip(ids, extras, strict=True):
            (profile,) = connection.execute(
                "SELECT profile FROM crm_customer WHERE id = ?", (customer_id,)
            ).fetchone()
            stored = json.loads(profile)["consents"]
            if stored != extra.consents:
                raise SystemExit(f"raw consents differ from finance_crm's: {stored} {extra}")
    finally:
        connection.close()
    consents = [c for e in extras for c in e.consents]
    withdrawals = sum(c["withdrawn_at"] is not None for c in consents)
    print(
        f"  {len(expected)} contribution figures and {len(consents)} consents ({withdrawals} "
        "withdrawn) through finance_crm match the raw ones",
        file=sys.stderr,
    )


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
    "crm_contribution": "WHERE customer_id IN (SELECT id FROM pick)",
}


def _pg_build(db: Path, n: int) -> dict[str, Any]:
    """A database with finance_crm's schema, then the first N customers and everything
    of theirs (and the whole organisation) copied from the SQLite copy, ids and values
    unchanged; then VACUUM ANALYZE."""
    import psycopg

    from finance_crm.adapters.sql import SqlStore

    started = time.perf_counter()
    name = f"finance_crm_bench_view_{secrets.token_hex(6)}"
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
            for table in TABLES:
                columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
                names = ", ".join(columns)
                count = 0
                with target.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in source.execute(
                        f"SELECT {names} FROM {table} {_PICK.get(table, '')}"
                    ):
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
        "database": name,
        "seconds": round(time.perf_counter() - started, 1),
        "server": server,
        "rows": copied,
    }
