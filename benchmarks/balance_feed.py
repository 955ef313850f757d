"""balance_feed: load an end-of-day balance feed of N accounts x D days into SQLite.

The database (N customers, one CNY deposit account each, no balances) is cached as
``benchmarks/.work/cache/accounts-n<N>-v<version>.db`` (:mod:`_accounts`; ``--rebuild``
makes it again). Each side runs in its own child process on its own fresh copy of it.

The feed (:func:`feed`): N x D rows, day by day (a data-warehouse file per day), each a
mapping ``account_number``, ``day`` (ISO text), ``balance`` (decimal text, two places),
``currency`` ("CNY"), generated lazily and deterministically; both sides read the same
rows. Producing them alone takes ``generator_seconds``, which both sides pay.

Ours: ``SqlStore.from_url("sqlite:///<file>")`` and ``store.upgrade_schema()`` (a cache
built by an older finance_crm gains its newer tables), then, timed, ``load_balances(uow,
rows, batch_size=B)`` and ``uow.commit()`` in one unit of work acting as
``Actor.system("balance-feed")``.

Baseline: the standard library's ``sqlite3`` with the same PRAGMAs (WAL, foreign keys,
busy timeout; ``synchronous`` left at its default, as finance_crm leaves it), in one
``BEGIN IMMEDIATE ... COMMIT``: one SELECT of every account's number, id and currency
into a dict, a DELETE of each day when the feed's first row for it arrives, and per
row a ``Decimal`` parse of the amount, the currency check, the conversion to integer
minor units, rows ``executemany``-inserted into ``crm_balance`` B at a time.

Both sides must store the same rows: each child hashes ``(account_id, day,
balance_minor)`` in key order after its run, and the run fails if the hashes differ.

PostgreSQL (when ``FINANCE_CRM_BENCH_POSTGRES_URL`` or ``FINANCE_CRM_TEST_POSTGRES_URL``
names a server where databases may be created; ``--no-postgres`` skips it): a template
database is made once per run with finance_crm's schema and the first ``--pg-n``
customers and accounts copied from the SQLite cache; each side then gets its own copy
(``CREATE DATABASE ... TEMPLATE``, not timed) and does the same job: ours through
``SqlStore`` (its COPY path), the baseline with psycopg: the accounts SELECT, the
day's DELETE, then ``cursor.copy("COPY crm_balance ... FROM STDIN")`` and ``write_row``
per row, one COPY per day, one transaction. All the databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import hashlib
import itertools
import operator
import secrets
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import _accounts
from _accounts import account_number
from _common import (
    PG_URL_ENVS,
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
from _managers import copy_database

NAME = "balance_feed"
SUMMARY = "load N accounts x D days of end-of-day balances vs sqlite3 executemany / COPY"
DEFAULT_N = 1_000_000
PARTS = ("ours", "baseline", "build", "pg-build", "pg-ours", "pg-baseline", "pg-drop")
DEFAULT_DAYS = 5
FIRST_DAY = datetime.date(2025, 6, 23)  # a Monday; the feed's days follow it
PG_DEFAULT_N = 1_000_000  # customers on PostgreSQL unless --pg-n says otherwise
ACTOR_JOB = "balance-feed"  # Actor.system(ACTOR_JOB)
COPY_BALANCES = "COPY crm_balance (account_id, day, balance_minor) FROM STDIN"
INSERT_BALANCE = "INSERT INTO crm_balance (account_id, day, balance_minor) VALUES (?, ?, ?)"
HASH_QUERY = "SELECT account_id, day, balance_minor FROM crm_balance ORDER BY account_id, day"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help=f"business days ({DEFAULT_DAYS})"
    )
    parser.add_argument("--batch-size", type=int, default=5000, help="rows per batch (5,000)")
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


# -- the feed -------------------------------------------------------------------------------


def feed_day(d: int) -> datetime.date:
    return FIRST_DAY + datetime.timedelta(days=d)


def balance_minor(i: int, d: int) -> int:
    """Account ``i``'s balance on day ``d`` in fen (0 to 999,999.99 yuan)."""
    return (i * 7_919 + d * 104_729 + 12_345) % 100_000_000


def feed(n: int, days: int) -> Iterator[dict[str, str]]:
    """The feed's N x D rows, day by day, as a CSV reader of the warehouse file yields them."""
    for d in range(days):
        day = feed_day(d).isoformat()
        for i in range(n):
            minor = (i * 7_919 + d * 104_729 + 12_345) % 100_000_000  # balance_minor(i, d)
            yield {
                "account_number": f"6222{i:012d}",  # _accounts.account_number(i)
                "day": day,
                "balance": f"{minor // 100}.{minor % 100:02d}",
                "currency": "CNY",
            }


def _time_generator(n: int, days: int) -> float:
    """The cost of producing the rows alone (both sides pay it, inside their timing)."""
    started = time.perf_counter()
    for _row in feed(n, days):
        pass
    return round(time.perf_counter() - started, 3)


# -- parent ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    # The parent never imports SQLAlchemy: a child inherits its parent's peak RSS.
    if args.days < 1 or args.batch_size < 1:
        raise SystemExit("--days and --batch-size must be at least 1")
    rows = args.n * args.days
    db, build = _accounts.ensure_database(NAME, args.n, args.rebuild)
    generator_seconds = _time_generator(args.n, args.days)
    print(f"generator: {generator_seconds:.2f} s for {rows:,} rows", file=sys.stderr)
    common = ["--n", str(args.n), "--days", str(args.days), "--batch-size", str(args.batch_size)]
    work = run_dir(NAME)
    sides: dict[str, dict[str, Any]] = {}
    for side in ("baseline", "ours"):
        copy = work / f"{side}.db"
        copy_seconds = copy_database(db, copy)
        sides[side] = run_part(NAME, side, [*common, "--db", str(copy)])
        sides[side]["copy_seconds"] = copy_seconds
        print(f"{side}: {sides[side]['seconds']:.2f} s", file=sys.stderr)
        if not args.keep:
            remove_db(copy)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    ours, baseline = sides["ours"], sides["baseline"]
    _same_rows("SQLite", ours, baseline, rows)
    seconds, baseline_seconds = ours["seconds"], baseline["seconds"]
    result: dict[str, Any] = {
        "bench": NAME,
        "n": args.n,
        "days": args.days,
        "rows": rows,
        "batch_size": args.batch_size,
        "seconds": seconds,
        "baseline_seconds": baseline_seconds,
        "ratio": ratio(seconds, baseline_seconds),
        "ratio_without_generator": ratio(
            seconds - generator_seconds, baseline_seconds - generator_seconds
        ),
        "generator_seconds": generator_seconds,
        "rows_per_second": round(rows / seconds),
        "baseline_rows_per_second": round(rows / baseline_seconds),
        "us_per_row": round(seconds / rows * 1e6, 2),
        "baseline_us_per_row": round(baseline_seconds / rows * 1e6, 2),
        "baseline_accounts_select_seconds": baseline["accounts_select_seconds"],
        "peak_rss_mb": ours["peak_rss_mb"],
        "baseline_peak_rss_mb": baseline["peak_rss_mb"],
        "rows_sha256": ours["sha256"],
        "db_mb_before": file_mb(db),
        "db_mb_after": ours["db_mb"],
        "built_this_run": build is not None,
        "build_seconds": None if build is None else build["seconds"],
    }
    url = postgres_url()
    if url is not None and not args.no_postgres:
        result.update(_postgres(args, db, generator_seconds))
    else:
        result["pg_n"] = None
        reason = "--no-postgres" if url else f"{PG_URL_ENVS[0]} not set"
        print(f"PostgreSQL part skipped: {reason}", file=sys.stderr)
    result.update(environment())
    return result


def _same_rows(where: str, ours: dict[str, Any], baseline: dict[str, Any], rows: int) -> None:
    if ours["stored"] != rows or baseline["stored"] != rows:
        raise SystemExit(
            f"{where}: expected {rows} balances, ours stored {ours['stored']}, "
            f"the baseline {baseline['stored']}"
        )
    if ours["sha256"] != baseline["sha256"]:
        raise SystemExit(f"{where}: the two sides stored different balances")


def _postgres(args: argparse.Namespace, db: Path, generator_seconds: float) -> dict[str, Any]:
    pg_n = args.pg_n or min(args.n, PG_DEFAULT_N)
    if pg_n < 1 or pg_n > args.n:
        raise SystemExit("--pg-n must be between 1 and --n")
    rows = pg_n * args.days
    print(f"PostgreSQL: template database with {pg_n:,} customers ...", file=sys.stderr)
    build = run_part(NAME, "pg-build", ["--n", str(pg_n), "--db", str(db)])
    template = build["template"]
    common = ["--n", str(pg_n), "--days", str(args.days), "--batch-size", str(args.batch_size)]
    sides: dict[str, dict[str, Any]] = {}
    try:
        for side in ("pg-baseline", "pg-ours"):
            sides[side] = run_part(NAME, side, [*common, "--pg-template", template])
            print(f"{side}: {sides[side]['seconds']:.2f} s", file=sys.stderr)
    finally:
        run_part(NAME, "pg-drop", ["--pg-template", template])
    ours, baseline = sides["pg-ours"], sides["pg-baseline"]
    _same_rows("PostgreSQL", ours, baseline, rows)
    pg_generator = round(generator_seconds * pg_n / args.n, 3)  # the same rows, fewer
    seconds, baseline_seconds = ours["seconds"], baseline["seconds"]
    return {
        "pg_n": pg_n,
        "pg_rows": rows,
        "pg_seconds": seconds,
        "pg_baseline_seconds": baseline_seconds,
        "pg_ratio": ratio(seconds, baseline_seconds),
        "pg_ratio_without_generator": ratio(
            seconds - pg_generator, baseline_seconds - pg_generator
        ),
        "pg_rows_per_second": round(rows / seconds),
        "pg_baseline_rows_per_second": round(rows / baseline_seconds),
        "pg_baseline_accounts_select_seconds": baseline["accounts_select_seconds"],
        "pg_peak_rss_mb": ours["peak_rss_mb"],
        "pg_baseline_peak_rss_mb": baseline["peak_rss_mb"],
        "pg_rows_sha256": ours["sha256"],
        "pg_build_seconds": build["seconds"],
        "pg_server": build["server"],
    }


# -- children -------------------------------------------------------------------------------


def part(args: argparse.Namespace) -> dict[str, Any]:
    if args.part == "build":
        return _accounts.build(Path(args.db), args.n)
    if args.part == "pg-build":
        return _pg_build(Path(args.db), args.n)
    if args.part == "pg-drop":
        pg_drop(args.pg_template)
        return {"part": args.part, "dropped": args.pg_template}
    rows = feed(args.n, args.days)
    expected = args.n * args.days
    if args.part in ("ours", "baseline"):
        db = Path(args.db)
        if args.part == "ours":
            figures = _ours(f"sqlite:///{db}", rows, expected, args.batch_size, args.profile)
        else:
            figures = _baseline(db, rows, args.batch_size)
        figures["peak_rss_mb"] = peak_rss_mb()  # before the check, which is not timed
        figures.update(_sqlite_check(db))
        figures["db_mb"] = file_mb(db)
        return {"part": args.part, **figures}
    name = f"{args.pg_template}_{'ours' if args.part == 'pg-ours' else 'base'}"
    pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{args.pg_template}"')
    try:
        if args.part == "pg-ours":
            figures = _ours(pg_sa_url(name), rows, expected, args.batch_size, args.profile)
        else:
            figures = _pg_baseline(pg_conninfo(name), rows)
        figures["peak_rss_mb"] = peak_rss_mb()
        figures.update(_pg_check(pg_conninfo(name)))
    finally:
        pg_drop(name)
    return {"part": args.part, **figures}


def _ours(
    url: str, rows: Any, expected: int, batch_size: int, profile: str | None
) -> dict[str, Any]:
    from finance_crm.adapters.sql import SqlStore
    from finance_crm.security import Actor
    from finance_crm.services.balances import load_balances

    store = SqlStore.from_url(url)
    store.upgrade_schema()  # not timed: a cache built by an older finance_crm gains its tables
    actor = Actor.system(ACTOR_JOB)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    with store.unit_of_work(actor) as uow:
        report = load_balances(uow, rows, batch_size=batch_size)
        uow.commit()
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started
    store.close()
    if profiler is not None:
        profiler.dump_stats(profile)
    if report.loaded != expected or not report.ok:
        raise SystemExit(f"loaded {report.loaded} of {expected} rows: {report.errors[:3]}")
    return {"seconds": round(seconds, 3), "loaded": report.loaded}


def _sqlite_connect(db: Path) -> sqlite3.Connection:
    """A plain connection with finance_crm's pragmas; transactions are explicit."""
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


def _baseline(db: Path, rows: Any, batch_size: int) -> dict[str, Any]:
    """The hand-written loader: a dict of accounts, Decimal, executemany."""
    connection = _sqlite_connect(db)
    fromisoformat = datetime.date.fromisoformat
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    accounts = {
        number: (account_id, code)
        for number, account_id, code in connection.execute(
            "SELECT account_number, id, currency FROM crm_account"
        )
    }
    selected = time.perf_counter()
    days: set[str] = set()
    batch: list[tuple[str, str, int]] = []
    loaded = rejected = 0
    for row in rows:
        day = row["day"]
        if day not in days:
            fromisoformat(day)  # ValueError: a malformed day stops the load
            connection.execute("DELETE FROM crm_balance WHERE day = ?", (day,))
            days.add(day)
        found = accounts.get(row["account_number"])
        if found is None or row["currency"] != found[1]:
            rejected += 1
            continue
        try:
            units = Decimal(row["balance"]).scaleb(2)  # CNY: two decimal places
        except InvalidOperation:
            rejected += 1
            continue
        if not units.is_finite() or units != units.to_integral_value():
            rejected += 1
            continue
        batch.append((found[0], day, int(units)))
        if len(batch) >= batch_size:
            connection.executemany(INSERT_BALANCE, batch)
            loaded += len(batch)
            batch = []
    if batch:
        connection.executemany(INSERT_BALANCE, batch)
        loaded += len(batch)
    connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    if rejected:
        raise SystemExit(f"the baseline rejected {rejected} rows")
    return {
        "seconds": round(seconds, 3),
        "loaded": loaded,
        "accounts_select_seconds": round(selected - started, 3),
    }


def _sqlite_check(db: Path) -> dict[str, Any]:
    """How many balances are stored and a hash of them, in key order."""
    connection = sqlite3.connect(db)
    try:
        digest = hashlib.sha256()
        stored = 0
        for account_id, day, minor in connection.execute(HASH_QUERY):
            digest.update(f"{account_id}|{day}|{minor}\n".encode())
            stored += 1
    finally:
        connection.close()
    return {"stored": stored, "sha256": digest.hexdigest()[:16]}


# -- PostgreSQL -----------------------------------------------------------------------------


def _pg_build(db: Path, n: int) -> dict[str, Any]:
    """A template database: finance_crm's schema, then the first N customers and their
    accounts copied from the SQLite cache (ids and values unchanged), then ANALYZE."""
    import psycopg

    from finance_crm.adapters.sql import SqlStore
    from finance_crm.security import Actor

    started = time.perf_counter()
    name = f"finance_crm_bench_{secrets.token_hex(6)}"
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        store = SqlStore.from_url(pg_sa_url(name))
        store.upgrade_schema()
        store.close()
        source = sqlite3.connect(db)
        last = account_number(n)  # numbers are zero-padded: i < n is number < last
        with psycopg.connect(pg_conninfo(name)) as target:
            server = target.info.server_version
            target.execute("SET TIME ZONE 'UTC'")  # SQLite holds naive UTC instants
            for table, query, parameters in (
                ("crm_customer", "ORDER BY customer_number LIMIT ?", (n,)),
                ("crm_account", "WHERE account_number < ? ORDER BY account_number", (last,)),
            ):
                columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
                names = ", ".join(columns)
                copy_sql = f"COPY {table} ({names}) FROM STDIN"
                with target.cursor().copy(copy_sql) as copy:  # type: ignore[arg-type]
                    for row in source.execute(f"SELECT {names} FROM {table} {query}", parameters):
                        copy.write_row(row)
                print(f"  {table} copied", file=sys.stderr)
            target.commit()
        source.close()
        with psycopg.connect(pg_conninfo(name), autocommit=True) as target:
            target.execute("VACUUM ANALYZE")
        store = SqlStore.from_url(pg_sa_url(name))
        with store.unit_of_work(Actor.system("bench-build"), read_only=True) as uow:
            if uow.accounts.count() != n:
                raise SystemExit(f"expected {n} accounts on PostgreSQL")
            for i in sorted({0, n // 2, n - 1}):
                account = uow.accounts.find_by_number(account_number(i))
                if account is None or account.currency != _accounts.CURRENCY:
                    raise SystemExit(f"account {account_number(i)} reads back as {account!r}")
        store.close()
    except BaseException:
        pg_drop(name)
        raise
    return {
        "part": "pg-build",
        "template": name,
        "seconds": round(time.perf_counter() - started, 1),
        "server": server,
    }


def _pg_baseline(conninfo: str, rows: Any) -> dict[str, Any]:
    """The hand-written loader: a dict of accounts, Decimal, one COPY per day."""
    import psycopg

    fromisoformat = datetime.date.fromisoformat
    loaded = rejected = 0
    with psycopg.connect(conninfo) as connection:
        started = time.perf_counter()
        cursor = connection.cursor()
        cursor.execute("SELECT account_number, id, currency FROM crm_account")
        accounts = {number: (account_id, code) for number, account_id, code in cursor}
        selected = time.perf_counter()
        days: dict[str, datetime.date] = {}
        for day_text, day_rows in itertools.groupby(rows, key=operator.itemgetter("day")):
            day = days.get(day_text)
            if day is None:  # a day met again later in the feed is not cleared again
                day = days[day_text] = fromisoformat(day_text)
                cursor.execute("DELETE FROM crm_balance WHERE day = %s", (day,))
            with cursor.copy(COPY_BALANCES) as copy:
                write_row = copy.write_row
                for row in day_rows:
                    found = accounts.get(row["account_number"])
                    if found is None or row["currency"] != found[1]:
                        rejected += 1
                        continue
                    try:
                        units = Decimal(row["balance"]).scaleb(2)  # CNY: two decimal places
                    except InvalidOperation:
                        rejected += 1
                        continue
                    if not units.is_finite() or units != units.to_integral_value():
                        rejected += 1
                        continue
                    write_row((found[0], day, int(units)))
                    loaded += 1
        connection.commit()
        seconds = time.perf_counter() - started
    if rejected:
        raise SystemExit(f"the baseline rejected {rejected} rows")
    return {
        "seconds": round(seconds, 3),
        "loaded": loaded,
        "accounts_select_seconds": round(selected - started, 3),
    }


def _pg_check(conninfo: str) -> dict[str, Any]:
    """How many balances are stored and a hash of them, as :func:`_sqlite_check` makes it."""
    import psycopg

    digest = hashlib.sha256()
    stored = 0
    with psycopg.connect(conninfo) as connection, connection.cursor(name="check") as cursor:
        cursor.itersize = 50_000
        cursor.execute(HASH_QUERY)
        for account_id, day, minor in cursor:
            digest.update(f"{account_id.hex}|{day.isoformat()}|{minor}\n".encode())
            stored += 1
    return {"stored": stored, "sha256": digest.hexdigest()[:16]}
