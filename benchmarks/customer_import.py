"""customer_import: bulk import of N synthetic customers into a SQLite file.

Ours: ``SqlStore.from_url("sqlite:///<file>")``, ``store.upgrade_schema()`` (not timed),
then, timed, ``import_customers(uow, rows, batch_size=B)`` and ``uow.commit()`` in one
unit of work acting as ``Actor.system("bench")``.

Baseline: the standard library's ``sqlite3`` on a copy of a fresh file made by the same
finance_crm migrations (same tables, indexes and triggers), with the same PRAGMAs
(WAL, foreign_keys=ON, busy_timeout), writing what finance_crm writes per customer in
one transaction, ``executemany`` per table per batch of B rows:

* ``crm_customer``: the same values and text formats (32-hex UUIDv7 id, SQLAlchemy's
  ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC instants, ISO dates, the same ``profile`` JSON keys
  and layout, ``{}`` custom attributes);
* ``crm_customer_document``: the resident ID;
* ``crm_audit_log``: ``customer.opened`` with a ``changes`` JSON of the same keys and
  layout (wire values, personal ones masked), masking done by plain slicing for this
  one known row shape instead of by the library's masking rule;
* ``crm_outbox``: a ``CustomerOpened`` payload with the same keys.

The baseline neither validates nor checks checksums: it is the floor that a
hand-written loader reaches. Both sides read the same lazily generated rows
(:func:`_common.synthetic_rows`), whose own cost is reported as ``generator_seconds``.
Each side runs in its own child process, which reports its own peak RSS.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from _common import (
    batch_times_ms,
    environment,
    file_mb,
    peak_rss_mb,
    percentile,
    ratio,
    remove_db,
    run_dir,
    run_part,
    synthetic_rows,
)

NAME = "customer_import"
SUMMARY = "bulk import of N customers into a SQLite file vs sqlite3 executemany"
DEFAULT_N = 100_000
PARTS = ("ours", "baseline", "schema")
ACTOR_ID = "system:bench"
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's text for a naive UTC DATETIME


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=1000, help="rows per batch (1000)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per side; the fastest is reported (1)"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the database files in benchmarks/.work/ (until the next run)",
    )
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--json", default="stdlib", help=argparse.SUPPRESS)  # baseline encoder
    parser.add_argument("--profile", help=argparse.SUPPRESS)  # cProfile output (ours)


# -- parent ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.batch_size < 1 or args.repeat < 1:
        raise SystemExit("--batch-size and --repeat must be at least 1")
    # The parent never imports SQLAlchemy: a child inherits its parent's peak RSS.
    work = run_dir(NAME)
    template = work / "template.db"
    run_part(NAME, "schema", ["--db", str(template)])
    common = ["--n", str(args.n), "--batch-size", str(args.batch_size)]
    generator_seconds = _time_generator(args.n, args.batch_size)
    print(f"generator: {generator_seconds:.2f} s for {args.n} rows", file=sys.stderr)

    # Alternate the sides; with --repeat R each side's fastest run is reported (the
    # machine's other load only ever adds time).
    # Two baselines: the (stdlib sqlite3 + stdlib json), and a stricter one that
    # encodes JSON with orjson as finance_crm does, so its ratio is the library's own cost.
    baselines: list[dict[str, Any]] = []
    orjson_baselines: list[dict[str, Any]] = []
    ours_runs: list[dict[str, Any]] = []
    baseline_db, ours_db = work / "baseline.db", work / "ours.db"
    for attempt in range(1, args.repeat + 1):
        for encoder, results in (("stdlib", baselines), ("orjson", orjson_baselines)):
            remove_db(baseline_db)
            shutil.copyfile(template, baseline_db)
            results.append(
                run_part(NAME, "baseline", [*common, "--db", str(baseline_db), "--json", encoder])
            )
        remove_db(ours_db)
        ours_runs.append(run_part(NAME, "ours", [*common, "--db", str(ours_db)]))
        print(
            f"run {attempt}: baseline {baselines[-1]['seconds']:.2f} s (stdlib json), "
            f"{orjson_baselines[-1]['seconds']:.2f} s (orjson); "
            f"ours {ours_runs[-1]['seconds']:.2f} s",
            file=sys.stderr,
        )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)

    baseline = min(baselines, key=lambda r: r["seconds"])
    orjson_seconds = min(r["seconds"] for r in orjson_baselines)
    ours = min(ours_runs, key=lambda r: r["seconds"])
    seconds, baseline_seconds = ours["seconds"], baseline["seconds"]
    return {
        "bench": NAME,
        "n": args.n,
        "batch_size": args.batch_size,
        "repeat": args.repeat,
        "seconds": seconds,
        "baseline_seconds": baseline_seconds,
        "ratio": ratio(seconds, baseline_seconds),
        "ratio_without_generator": ratio(
            seconds - generator_seconds, baseline_seconds - generator_seconds
        ),
        "baseline_orjson_seconds": orjson_seconds,
        "ratio_vs_orjson_baseline": ratio(seconds, orjson_seconds),
        "generator_seconds": generator_seconds,
        "seconds_runs": [r["seconds"] for r in ours_runs],
        "baseline_seconds_runs": [r["seconds"] for r in baselines],
        "rows_per_s": round(args.n / seconds),
        "baseline_rows_per_s": round(args.n / baseline_seconds),
        "us_per_row": round(seconds / args.n * 1e6, 1),
        "baseline_us_per_row": round(baseline_seconds / args.n * 1e6, 1),
        "batch_ms_p50": ours["batch_ms_p50"],
        "batch_ms_p99": ours["batch_ms_p99"],
        "baseline_batch_ms_p50": baseline["batch_ms_p50"],
        "baseline_batch_ms_p99": baseline["batch_ms_p99"],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in (*ours_runs, *baselines)),
        "ours_peak_rss_mb": max(r["peak_rss_mb"] for r in ours_runs),
        "baseline_peak_rss_mb": max(r["peak_rss_mb"] for r in baselines),
        "ours_wal_index_mb": ours["wal_index_mb"],
        "baseline_wal_index_mb": baseline["wal_index_mb"],
        "ours_db_mb": ours["db_mb"],
        "baseline_db_mb": baseline["db_mb"],
        "ours_json_bytes_per_customer": ours["json_bytes_per_customer"],
        "baseline_json_bytes_per_customer": baseline["json_bytes_per_customer"],
        **environment(),
    }


def _time_generator(n: int, every: int) -> float:
    """The cost of producing the rows alone (both sides pay it, inside their timing)."""
    marks: list[float] = []
    started = time.perf_counter()
    for _row in synthetic_rows(n, marks=marks, every=every):
        pass
    return round(time.perf_counter() - started, 3)


# -- children -------------------------------------------------------------------------------


def part(args: argparse.Namespace) -> dict[str, Any]:
    db = Path(args.db)
    if args.part == "schema":
        return _schema(db)
    marks: list[float] = []
    rows = synthetic_rows(args.n, marks=marks, every=args.batch_size)
    if args.part == "ours":
        seconds, wal_index_mb = _ours(db, rows, args.n, args.batch_size, args.profile)
    else:
        seconds, wal_index_mb = _baseline(db, rows, args.batch_size, args.json)
    rss = peak_rss_mb()  # before the checks below, which are not part of the import
    checks = _check(db, args.n)
    batches = batch_times_ms(marks)
    return {
        "part": args.part,
        "seconds": round(seconds, 3),
        # No full batch (n < batch size): no batch times.
        "batch_ms_p50": round(percentile(batches, 50), 2) if batches else None,
        "batch_ms_p99": round(percentile(batches, 99), 2) if batches else None,
        "peak_rss_mb": rss,
        "db_mb": file_mb(db),
        "wal_index_mb": wal_index_mb,
        **checks,
    }


def _schema(db: Path) -> dict[str, Any]:
    """A fresh file with finance_crm's schema: the baseline starts from a copy of it."""
    from finance_crm.adapters.sql import SqlStore

    store = SqlStore.from_url(f"sqlite:///{db}")
    store.upgrade_schema()
    store.close()  # the last connection checkpoints the WAL: one self-contained file
    return {"part": "schema", "db": str(db)}


def _ours(db: Path, rows: Any, n: int, batch_size: int, profile: str | None) -> tuple[float, float]:
    from finance_crm.adapters.sql import SqlStore
    from finance_crm.security import Actor
    from finance_crm.services.customer_import import import_customers

    store = SqlStore.from_url(f"sqlite:///{db}")
    store.upgrade_schema()
    actor = Actor.system("bench")
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    with store.unit_of_work(actor) as uow:
        report = import_customers(uow, rows, batch_size=batch_size)
        uow.commit()
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started
    wal_index_mb = file_mb(Path(f"{db}-shm"))  # SQLite's WAL index, mapped in memory
    store.close()
    if profiler is not None:
        profiler.dump_stats(profile)
    if report.imported != n:
        raise SystemExit(f"imported {report.imported} of {n} rows: {report.errors[:3]}")
    return seconds, wal_index_mb


def _uuid7_hex() -> str:
    """A version-7 UUID as 32 hex digits, the way finance_crm.ids builds one."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((time.time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76 | ((rand >> 62) & 0x0FFF) << 64 | 0b10 << 62
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF
    return f"{value:032x}"


def _dashed(hex_id: str) -> str:
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


def _set(value: Any) -> dict[str, Any]:
    return {"after": value, "before": None}


def _baseline(db: Path, rows: Any, batch_size: int, encoder: str = "stdlib") -> tuple[float, float]:
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=30000")
    insert_customer = (
        "INSERT INTO crm_customer (id, customer_number, kind, status, name, birthday, "
        "risk_level, industry, opened_at, updated_at, version, profile, custom_attributes) "
        f"VALUES ({', '.join('?' * 13)})"
    )
    insert_document = (
        "INSERT INTO crm_customer_document (document_type, issuing_country, number, "
        "customer_id) VALUES (?, ?, ?, ?)"
    )
    insert_audit = (
        "INSERT INTO crm_audit_log (recorded_at, actor, action, entity_type, entity_id, "
        "entity_version, changes) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    insert_outbox = (
        "INSERT INTO crm_outbox (event_id, event_type, aggregate_id, occurred_at, payload) "
        "VALUES (?, ?, ?, ?, ?)"
    )

    stdlib_sorted = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    stdlib_plain = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def dumps(value: Any) -> str:
        if encoder == "orjson":  # finance_crm's encoder: the ratio is the library's own cost
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        return stdlib_sorted.encode(value)  # the plain stdlib baseline the issue names

    def dumps_unsorted(value: Any) -> str:
        if encoder == "orjson":
            return orjson.dumps(value).decode()
        return stdlib_plain.encode(value)

    customers: list[tuple[Any, ...]] = []
    documents: list[tuple[Any, ...]] = []
    audits: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []

    def flush() -> None:
        connection.executemany(insert_customer, customers)
        connection.executemany(insert_document, documents)
        connection.executemany(insert_audit, audits)
        connection.executemany(insert_outbox, events)
        customers.clear()
        documents.clear()
        audits.clear()
        events.clear()

    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    now = datetime.datetime.now(datetime.UTC)
    stamp, iso = now.strftime(_SQLITE_DATETIME), now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for row in rows:
        hex_id = _uuid7_hex()
        dashed = _dashed(hex_id)
        number, name, id_number = row["customer_number"], row["name"], row["id_number"]
        mobile, email, tags_text = row["mobile"], row["email"], row["tags"]
        risk = int(row["risk_level"]) if row["risk_level"] else None
        tags = sorted({t.strip() for t in tags_text.split(";") if t.strip()})
        profile = {
            "addresses": [],
            "consents": [],
            "emails": [{"address": email}] if email else [],
            "household": [],
            "identity_documents": [
                {
                    "issuing_country": "CN",
                    "number": id_number,
                    "type": "resident_id",
                    "valid_until": None,
                }
            ],
            "nationality": "CN",
            "occupation": None,
            "phones": [{"kind": "mobile", "number": mobile}] if mobile else [],
            "preferred_channels": [],
            "tags": tags,
        }
        customers.append(
            (
                hex_id,
                number,
                "individual",
                "active",
                name,
                row["birthday"] or None,
                risk,
                None,
                stamp,
                stamp,
                1,
                dumps(profile),
                "{}",
            )
        )
        documents.append(("resident_id", "CN", id_number, hex_id))
        changes = {
            "birthday": _set("****-**-**"),
            "customer_number": _set(number),
            "id": _set(dashed),
            "identity_documents": _set(
                [
                    {
                        "issuing_country": "CN",
                        "number": id_number[0] + "*" * 16 + id_number[-1],
                        "type": "resident_id",
                        "valid_until": None,
                    }
                ]
            ),
            "kind": _set("individual"),
            "name": _set(name[0] + "*" * (len(name) - 1)),
            "nationality": _set("CN"),
            "opened_at": _set(iso),
            "phones": _set([{"kind": "mobile", "number": f"{mobile[:3]}****{mobile[-4:]}"}]),
            "risk_level": _set(risk),
            "status": _set("active"),
        }
        if email:
            local, _, domain = email.partition("@")
            changes["emails"] = _set([{"address": f"{local[0]}{'*' * (len(local) - 1)}@{domain}"}])
        if tags:
            changes["tags"] = _set(tags)
        audits.append((stamp, ACTOR_ID, "customer.opened", "customer", dashed, 1, dumps(changes)))
        event_hex = _uuid7_hex()
        payload = {
            "occurred_at": iso,
            "event_id": _dashed(event_hex),
            "customer_id": dashed,
            "customer_number": number,
            "kind": "individual",
            "status": "active",
        }
        events.append((event_hex, "CustomerOpened", dashed, stamp, dumps_unsorted(payload)))
        if len(customers) >= batch_size:
            flush()
            now = datetime.datetime.now(datetime.UTC)
            stamp, iso = now.strftime(_SQLITE_DATETIME), now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if customers:
        flush()
    connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    wal_index_mb = file_mb(Path(f"{db}-shm"))  # SQLite's WAL index, mapped in memory
    connection.close()
    return seconds, wal_index_mb


def _check(db: Path, n: int) -> dict[str, Any]:
    """Count what was written (a wrong count is an error) and the JSON bytes per customer."""
    connection = sqlite3.connect(db)
    try:
        counts = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("crm_customer", "crm_customer_document", "crm_audit_log", "crm_outbox")
        }
        json_bytes = connection.execute(
            "SELECT (SELECT avg(length(CAST(profile AS BLOB))) FROM crm_customer)"
            " + (SELECT avg(length(CAST(changes AS BLOB))) FROM crm_audit_log)"
            " + (SELECT avg(length(CAST(payload AS BLOB))) FROM crm_outbox)"
        ).fetchone()[0]
    finally:
        connection.close()
    if any(count != n for count in counts.values()):
        raise SystemExit(f"expected {n} rows in every table, found {counts}")
    return {"json_bytes_per_customer": round(json_bytes or 0)}
