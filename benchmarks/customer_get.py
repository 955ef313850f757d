"""customer_get: fetch one customer by id and by customer number from N stored customers.

The database (N synthetic customers, imported once through finance_crm's own
``import_customers``) is cached as ``benchmarks/.work/cache/customer_get-n<N>-*.db`` and
reused by later runs; ``--rebuild`` makes it again (needed after a schema or row-format
change: the run then fails with a schema or validation error).

Ours: K lookups each in its own read-only unit of work,
``with store.unit_of_work(actor, read_only=True) as uow: uow.customers.get(id)`` (and
``get_by_number(number)``), returning a validated ``Customer``.

Baseline: ``SELECT * FROM crm_customer WHERE id = ?`` (and ``customer_number = ?``) on a
plain ``sqlite3`` connection, ``fetchone()``, and ``json.loads`` of the profile column.

Both sides look up the same K random customers (``--seed``): one untimed pass to warm
the caches, then a timed pass in another random order; each lookup is timed on its own
(``perf_counter_ns``), giving p50/p99 in microseconds. Each side runs in its own child
process. ``ratio`` is our p50 over the baseline's p50, all 2K lookups pooled; the
per-lookup ratios are reported too. ``empty_uow_p50_us`` is the cost of opening and
closing a read-only unit of work that does nothing, measured in the same child.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import (
    WORK_DIR,
    customer_number,
    environment,
    file_mb,
    peak_rss_mb,
    percentile,
    ratio,
    remove_db,
    run_part,
    synthetic_rows,
)

NAME = "customer_get"
SUMMARY = "fetch one customer by id / by number (p50, p99) vs a plain sqlite3 SELECT"
DEFAULT_N = 1_000_000
PARTS = ("ours", "baseline", "build")
ROWS_VERSION = 2  # bump when synthetic_rows or the schema changes (2: migration 0002)
BUILD_CHUNK = 100_000  # customers per unit of work while building
PROFILE_COLUMN = 11  # "profile" in crm_customer's column order


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k", type=int, default=2000, help="lookups of each kind (2,000)")
    parser.add_argument("--seed", type=int, default=1, help="picks the customers (1)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)  # cProfile output (ours)


def cache_path(n: int) -> Path:
    return WORK_DIR / "cache" / f"customer_get-n{n}-rows{ROWS_VERSION}.db"


# -- parent ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    # The parent never imports SQLAlchemy: a child inherits its parent's peak RSS.
    if args.k < 1 or args.k > args.n:
        raise SystemExit("--k must be between 1 and --n")
    db = cache_path(args.n)
    build: dict[str, Any] | None = None
    if args.rebuild or not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        building = db.with_suffix(f".building-{os.getpid()}.db")
        remove_db(building)
        print(f"building {db.name} through finance_crm's import ...", file=sys.stderr)
        build = run_part(NAME, "build", ["--n", str(args.n), "--db", str(building)])
        remove_db(db)
        building.rename(db)  # complete files only: an interrupted build is not reused
        print(f"built in {build['seconds']:.1f} s", file=sys.stderr)
    common = ["--n", str(args.n), "--k", str(args.k), "--seed", str(args.seed), "--db", str(db)]
    baseline = run_part(NAME, "baseline", common)
    print(f"baseline: {baseline['seconds']:.3f} s", file=sys.stderr)
    ours = run_part(NAME, "ours", common)
    print(f"ours: {ours['seconds']:.3f} s", file=sys.stderr)

    result: dict[str, Any] = {
        "bench": NAME,
        "n": args.n,
        "k": args.k,
        "seconds": ours["seconds"],
        "baseline_seconds": baseline["seconds"],
        "ratio": ratio(ours["all"]["p50"], baseline["all"]["p50"]),
        "p50_us": ours["all"]["p50"],
        "p99_us": ours["all"]["p99"],
        "baseline_p50_us": baseline["all"]["p50"],
        "baseline_p99_us": baseline["all"]["p99"],
        "lookups_per_s": round(2 * args.k / ours["seconds"]),
        "baseline_lookups_per_s": round(2 * args.k / baseline["seconds"]),
    }
    for lookup in ("by_id", "by_number"):
        for pct in ("p50", "p99"):
            result[f"{lookup}_{pct}_us"] = ours[lookup][pct]
            result[f"baseline_{lookup}_{pct}_us"] = baseline[lookup][pct]
            result[f"ratio_{lookup}_{pct}"] = ratio(ours[lookup][pct], baseline[lookup][pct])
    result.update(
        {
            "empty_uow_p50_us": ours["empty_uow_p50_us"],
            "peak_rss_mb": max(ours["peak_rss_mb"], baseline["peak_rss_mb"]),
            "ours_peak_rss_mb": ours["peak_rss_mb"],
            "baseline_peak_rss_mb": baseline["peak_rss_mb"],
            "db_mb": file_mb(db),
            "built_this_run": build is not None,
            "build_seconds": None if build is None else build["seconds"],
            "build_rows_per_s": None if build is None else build["rows_per_s"],
            **environment(),
        }
    )
    return result


# -- children -------------------------------------------------------------------------------


def part(args: argparse.Namespace) -> dict[str, Any]:
    db = Path(args.db)
    if args.part == "build":
        return _build(db, args.n)
    numbers, hex_ids = _pick(db, args.n, args.k, args.seed)
    order = list(range(args.k))
    random.Random(args.seed + 1).shuffle(order)
    profiler = cProfile.Profile() if args.profile else None
    if args.part == "ours":
        by_id, by_number, extra = _ours_fetchers(db)
        ids: Sequence[Any] = [uuid.UUID(hex_id) for hex_id in hex_ids]
    else:
        by_id, by_number, extra = _baseline_fetchers(db)
        ids = hex_ids
    timings: dict[str, list[float]] = {}
    for lookup, fetch, keys in (("by_id", by_id, ids), ("by_number", by_number, numbers)):
        _timed(fetch, keys, numbers, range(args.k))  # warm the caches
        if profiler is not None:
            profiler.enable()
        timings[lookup] = _timed(fetch, keys, numbers, order)
        if profiler is not None:
            profiler.disable()
    if profiler is not None:
        profiler.dump_stats(args.profile)
    every = timings["by_id"] + timings["by_number"]
    return {
        "part": args.part,
        "seconds": round(sum(every) / 1e6, 4),
        "by_id": _summary(timings["by_id"]),
        "by_number": _summary(timings["by_number"]),
        "all": _summary(every),
        "peak_rss_mb": peak_rss_mb(),
        **extra(),
    }


def _pick(db: Path, n: int, k: int, seed: int) -> tuple[list[str], list[str]]:
    """K random customers: their numbers, and their ids as stored (32 hex digits)."""
    numbers = [customer_number(i) for i in random.Random(seed).sample(range(n), k)]
    connection = sqlite3.connect(db)
    try:
        hex_ids = [
            connection.execute(
                "SELECT id FROM crm_customer WHERE customer_number = ?", (number,)
            ).fetchone()[0]
            for number in numbers
        ]
    finally:
        connection.close()
    return numbers, hex_ids


Fetch = Callable[[Any], str]


def _timed(fetch: Fetch, keys: Sequence[Any], numbers: Sequence[str], order: Any) -> list[float]:
    """Microseconds per lookup; each answer is checked (outside the timing)."""
    clock = time.perf_counter_ns
    micros: list[float] = []
    for i in order:
        started = clock()
        found = fetch(keys[i])
        micros.append((clock() - started) / 1000)
        if found != numbers[i]:
            raise SystemExit(f"lookup {i} found {found!r}, expected {numbers[i]!r}")
    return micros


def _summary(micros: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(micros, 50), 1),
        "p90": round(percentile(micros, 90), 1),
        "p99": round(percentile(micros, 99), 1),
        "mean": round(sum(micros) / len(micros), 1),
    }


def _ours_fetchers(db: Path) -> tuple[Fetch, Fetch, Callable[[], dict[str, Any]]]:
    from finance_crm.adapters.sql import SqlStore
    from finance_crm.security import Actor

    store = SqlStore.from_url(f"sqlite:///{db}")
    store.upgrade_schema()  # not timed: a cache from an older schema gains its tables
    actor = Actor("bench-reader", roles={"head_office"})

    def by_id(customer_id: Any) -> str:
        with store.unit_of_work(actor, read_only=True) as uow:
            return uow.customers.get(customer_id).customer_number

    def by_number(number: str) -> str:
        with store.unit_of_work(actor, read_only=True) as uow:
            return uow.customers.get_by_number(number).customer_number

    def extra() -> dict[str, Any]:
        clock = time.perf_counter_ns
        micros = []
        for _ in range(1000):
            started = clock()
            with store.unit_of_work(actor, read_only=True):
                pass
            micros.append((clock() - started) / 1000)
        return {"empty_uow_p50_us": round(percentile(micros, 50), 1)}

    return by_id, by_number, extra


def _baseline_fetchers(db: Path) -> tuple[Fetch, Fetch, Callable[[], dict[str, Any]]]:
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA foreign_keys=ON")
    loads = json.loads

    def by_id(hex_id: str) -> str:
        row = connection.execute("SELECT * FROM crm_customer WHERE id = ?", (hex_id,)).fetchone()
        loads(row[PROFILE_COLUMN])
        return row[1]  # type: ignore[no-any-return]

    def by_number(number: str) -> str:
        row = connection.execute(
            "SELECT * FROM crm_customer WHERE customer_number = ?", (number,)
        ).fetchone()
        loads(row[PROFILE_COLUMN])
        return row[1]  # type: ignore[no-any-return]

    return by_id, by_number, dict


def _build(db: Path, n: int) -> dict[str, Any]:
    """N customers through finance_crm's import, one unit of work per 100,000."""
    from finance_crm.adapters.sql import SqlStore
    from finance_crm.security import Actor
    from finance_crm.services.customer_import import import_customers

    store = SqlStore.from_url(f"sqlite:///{db}")
    store.upgrade_schema()
    actor = Actor.system("bench-build")
    started = time.perf_counter()
    for start in range(0, n, BUILD_CHUNK):
        count = min(BUILD_CHUNK, n - start)
        with store.unit_of_work(actor) as uow:
            report = import_customers(uow, synthetic_rows(count, start=start), batch_size=1000)
            uow.commit()
        if report.imported != count:
            raise SystemExit(f"imported {report.imported} of {count} rows: {report.errors[:3]}")
        elapsed = time.perf_counter() - started
        print(f"  {start + count} customers, {elapsed:.0f} s", file=sys.stderr)
    seconds = time.perf_counter() - started
    store.close()
    return {"part": "build", "seconds": round(seconds, 1), "rows_per_s": round(n / seconds)}
