"""Customer managers under real concurrency (issue 3), on a SQLite file and on PostgreSQL.

1. Two processes each make 1,000 reassignments on the same 100 customers. Each reads the
   assignment in a read-only unit of work and writes the change in a new one, so real
   optimistic conflicts happen (not only waits for a lock); every try goes through
   :func:`finance_crm.retrying.run_with_retries`, the helper documented for hosts. Afterwards
   every customer's history, audit trail and outbox must agree exactly with the operations
   the workers saw succeed (no lost update), and every failure a worker saw must have been
   a ``ConflictError``: never a driver error, never a raw "database is locked".
2. A child process hands over a 500-customer book and is killed with SIGKILL at a random
   moment (between the start of the handover and 1.3 times its measured duration). The
   database must then be exactly as before the handover or exactly as after it, never a
   mix. Then a fresh store opens it (a SQLite file must pass ``PRAGMA integrity_check``),
   finishes the handover if it had not happened or is refused ("already departed") if it
   had, and takes a new write.

Child processes are started with the ``spawn`` method and run the module-level functions
below. Tests whose name contains "postgres" need FINANCE_CRM_TEST_POSTGRES_URL (they skip
without it, and fail instead when FINANCE_CRM_REQUIRE_POSTGRES=1). Each test prints a
summary line to stderr and writes its figures to a JSON file in its tmp_path.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing
import os
import random
import secrets
import shutil
import signal
import sys
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from finance_crm import Actor, BusinessRuleViolation, ConflictError
from finance_crm.adapters.sql import SqlStore
from finance_crm.ids import CustomerId, StaffId
from finance_crm.model.assignments import AssignedManager, ManagerRole
from finance_crm.model.organization import (
    EmploymentStatus,
    OrgUnit,
    OrgUnitKind,
    StaffMember,
)
from finance_crm.retrying import run_with_retries
from finance_crm.services.managers import assign_managers, hand_over_book
from finance_crm.testing import make_individual
from finance_crm.testing.postgres import skip_or_fail_without_postgres, throwaway_database

HO = Actor("ho-admin", roles=frozenset({"head_office"}))
SPAWN = multiprocessing.get_context("spawn")

# -- 1. two processes racing ------------------------------------------------------------------

PROCESSES = 2
OPERATIONS = 1_000  # per process
CUSTOMERS = 100
MANAGERS = tuple(StaffId(f"CM{i}") for i in range(1, 7))
ATTEMPTS = 20  # run_with_retries(attempts=...): a try loses only to the other process
WORKER_TIMEOUT_S = 300

# -- 2. SIGKILL during a handover -------------------------------------------------------------

LEAVER = StaffId("LV01")
COLLEAGUES = tuple(StaffId(f"CM{i}") for i in range(1, 6))
BOOK = 500
SQLITE_TRIALS = 10
POSTGRES_TRIALS = 5
KILL_WINDOW = 1.3  # the kill lands in [0, 1.3 x an uninterrupted handover's duration]
CHILD_TIMEOUT_S = 120


def _build_org(store: SqlStore, staff: list[StaffMember]) -> None:
    head = OrgUnit.head_office("HO", "总行")
    branch = head.child("BJ", "北京分行", OrgUnitKind.BRANCH)
    team = branch.child("BJ-W1", "财富管理一组", OrgUnitKind.TEAM)
    with store.unit_of_work(HO) as uow:
        for unit in (head, branch, team):
            uow.organization.add_unit(unit)
        for member in staff:
            uow.organization.add_staff(member)
        uow.commit()


def _report(capsys: pytest.CaptureFixture[str], path: Path, line: str, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    with capsys.disabled():
        print(f"\n{line}  [{path}]", file=sys.stderr)


@contextlib.contextmanager
def _store(url: str, **options: Any) -> Iterator[SqlStore]:
    store = SqlStore.from_url(url, **options)
    try:
        yield store
    finally:
        store.close()


# -- 1. the workers -------------------------------------------------------------------------


def _reassigner(
    url: str,
    name: str,
    customer_ids: list[str],
    operations: int,
    seed: int,
    start: Any,
    results: multiprocessing.Queue[dict[str, Any]],
) -> None:
    """Make ``operations`` reassignments, each read-then-write with retries; report back.

    Anything but a ``ConflictError`` stops the worker and is reported as an error.
    """
    rng = random.Random(seed)
    actor = Actor(name, roles=frozenset({"head_office"}))
    successes: list[tuple[str, int, str]] = []
    conflicts: Counter[str] = Counter()
    retried: Counter[int] = Counter()  # conflicts lost before success -> operations
    gave_up = 0
    errors: list[str] = []
    store = SqlStore.from_url(url)
    started = time.perf_counter()
    try:
        start.wait(WORKER_TIMEOUT_S)  # every worker is up: the race starts for all at once
        started = time.perf_counter()
        for _ in range(operations):
            customer_id = CustomerId(uuid.UUID(rng.choice(customer_ids)))

            def work(customer_id: CustomerId = customer_id) -> tuple[int, StaffId]:
                with store.unit_of_work(actor, read_only=True) as uow:
                    read = uow.assignments.get(customer_id)
                primary = rng.choice([m for m in MANAGERS if m != read.primary])
                team = [AssignedManager(primary, ManagerRole.PRIMARY, 100)]
                with store.unit_of_work(actor) as uow:
                    change = read.change(team, at=uow.clock.now(), reason="workload")
                    stored = uow.assignments.update(*change)
                    uow.commit()
                return stored.version, primary

            lost = 0

            def counted(work: Any = work) -> tuple[int, StaffId]:
                nonlocal lost
                try:
                    result: tuple[int, StaffId] = work()
                except ConflictError as exc:
                    conflicts[str(exc)] += 1  # then run_with_retries retries (or gives up)
                    lost += 1
                    raise
                return result

            try:
                version, primary = run_with_retries(counted, attempts=ATTEMPTS, first_delay=0.001)
            except ConflictError:
                gave_up += 1
                continue
            retried[lost] += 1
            successes.append((str(customer_id), version, primary))
    except BaseException as exc:
        errors.append(
            f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}\n{traceback.format_exc()}"
        )
    finally:
        try:
            store.close()
        except BaseException as exc:
            errors.append(f"closing the store: {type(exc).__qualname__}: {exc}")
        results.put(
            {
                "name": name,
                "seed": seed,
                "successes": successes,
                "conflicts": dict(conflicts),
                "retried": dict(retried),
                "gave_up": gave_up,
                "errors": errors,
                "seconds": time.perf_counter() - started,
            }
        )


def _race(
    url: str, tmp_path: Path, backend: str, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    """Run the race on an empty database at ``url``, check it, report and return the figures."""
    setup_started = time.perf_counter()
    with _store(url) as store:
        store.upgrade_schema()
        _build_org(store, [StaffMember(id=m, name="王经理", unit="BJ-W1") for m in MANAGERS])
        customers = [make_individual(seed) for seed in range(1, CUSTOMERS + 1)]
        initial: dict[str, str] = {}
        with store.unit_of_work(HO) as uow:
            uow.customers.add_many(customers)
            for i, customer in enumerate(customers):
                primary = MANAGERS[i % len(MANAGERS)]
                assign_managers(uow, customer.id, primary=primary, reason="new_customer")
                initial[str(customer.id)] = primary
            uow.commit()
    setup_seconds = time.perf_counter() - setup_started

    results: multiprocessing.Queue[dict[str, Any]] = SPAWN.Queue()
    start = SPAWN.Barrier(PROCESSES)
    seeds = [secrets.randbits(32) for _ in range(PROCESSES)]
    names = [f"worker-{i}" for i in range(1, PROCESSES + 1)]
    workers = [
        SPAWN.Process(
            target=_reassigner,
            args=(url, name, list(initial), OPERATIONS, seed, start, results),
        )
        for name, seed in zip(names, seeds, strict=True)
    ]
    race_started = time.perf_counter()
    for worker in workers:
        worker.start()
    try:
        # Read the results before joining: a child cannot exit while its queue is unread.
        reports = [results.get(timeout=WORKER_TIMEOUT_S) for _ in workers]
        for worker in workers:
            worker.join(30)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join()
        results.close()
        results.join_thread()
    wall_seconds = time.perf_counter() - race_started  # with the children's start-up
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    by_name = {r["name"]: r for r in reports}
    errors = {name: r["errors"] for name, r in by_name.items() if r["errors"]}
    assert errors == {}, f"seeds {seeds}: workers failed with something other than ConflictError"

    # What the workers saw succeed, per customer: version -> (primary, actor)
    succeeded: dict[str, dict[int, tuple[str, str]]] = {c: {} for c in initial}
    for name, report in by_name.items():
        for customer_id, version, primary in report["successes"]:
            assert version not in succeeded[customer_id], (
                f"two workers both stored version {version} of customer {customer_id}"
            )
            succeeded[customer_id][version] = (primary, name)
    total = sum(len(r["successes"]) for r in reports)
    conflicts: Counter[str] = Counter()
    for report in reports:
        conflicts.update(report["conflicts"])
    gave_up = sum(r["gave_up"] for r in reports)
    retried: Counter[int] = Counter()
    for report in reports:
        retried.update({int(k): v for k, v in report["retried"].items()})
    assert total + gave_up == PROCESSES * OPERATIONS
    race_seconds = max(r["seconds"] for r in reports)  # from the common start to the last

    check_started = time.perf_counter()
    with _store(url) as store, store.unit_of_work(HO, read_only=True) as uow:
        outbox = Counter(
            m.aggregate_id
            for m in uow.outbox.pending(limit=1_000_000)
            if m.event_type == "AssignmentChanged"
        )
        for customer_id, initial_primary in initial.items():
            key = CustomerId(uuid.UUID(customer_id))
            ops = succeeded[customer_id]
            expected = {1: (initial_primary, HO.id), **ops}
            history = uow.assignments.history(key)
            final = uow.assignments.get(key)
            versions = [r.version for r in history]
            top = len(history)
            assert versions == list(range(1, top + 1)), f"{customer_id}: gaps in {versions}"
            assert top - 1 == len(ops), (
                f"{customer_id}: {top - 1} changes stored, {len(ops)} seen to succeed"
            )
            assert {r.version: (r.primary, r.actor) for r in history} == expected
            assert (final.version, final.primary) == (top, expected[top][0])
            for earlier, later in itertools.pairwise(history):
                assert earlier.effective_to == later.effective_from
            assert history[-1].effective_to is None
            audit = [
                e
                for e in uow.audit.entries(entity_id=customer_id, limit=100_000)
                if e.entity_type == "assignment"
            ]
            assert [(e.entity_version, e.actor) for e in audit] == [
                (v, expected[v][1]) for v in range(1, top + 1)
            ]
            assert [e.action for e in audit] == ["assignment.created"] + ["assignment.changed"] * (
                top - 1
            )
            assert outbox[customer_id] == top
    check_seconds = time.perf_counter() - check_started

    conflict_count = sum(conflicts.values())
    figures = {
        "backend": backend,
        "processes": PROCESSES,
        "operations_per_process": OPERATIONS,
        "customers": CUSTOMERS,
        "committed": total,
        "gave_up": gave_up,
        "conflicts_retried": conflict_count,
        "conflicts_per_1000_operations": round(1000 * conflict_count / (PROCESSES * OPERATIONS), 1),
        "conflict_messages": dict(conflicts),
        "operations_by_conflicts_lost_before_success": dict(sorted(retried.items())),
        "per_worker": {
            name: {
                "committed": len(r["successes"]),
                "conflicts": sum(r["conflicts"].values()),
                "gave_up": r["gave_up"],
                "seconds": round(r["seconds"], 2),
            }
            for name, r in by_name.items()
        },
        "seeds": seeds,
        "setup_seconds": round(setup_seconds, 2),
        "race_seconds": round(race_seconds, 2),
        "wall_seconds": round(wall_seconds, 2),
        "check_seconds": round(check_seconds, 2),
    }
    _report(
        capsys,
        tmp_path / f"reassignment_race_{backend}.json",
        f"reassignment race {backend}: {PROCESSES}x{OPERATIONS} operations on {CUSTOMERS} "
        f"customers in {race_seconds:.1f} s, {total} committed, {conflict_count} conflicts "
        f"retried, {gave_up} gave up after {ATTEMPTS} attempts",
        figures,
    )
    assert gave_up == 0, f"seeds {seeds}: {gave_up} operations lost {ATTEMPTS} races in a row"
    for message in conflicts:  # a busy database is a ConflictError too, but never raw
        assert "database is locked" not in message.lower()
    return figures


class TestTwoProcessesReassigning:
    def test_sqlite_file_loses_no_update(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # A read and the write that follows are separate transactions, so the other process
        # can slip a change in between even though SQLite runs one writer at a time; but
        # the window is short (measured: 1 to 5 conflicts per 1,000 operations), so a run
        # without any conflict is possible and not a failure. PostgreSQL's test asserts them.
        _race(f"sqlite:///{tmp_path / 'race.db'}", tmp_path, "sqlite", capsys)

    def test_postgres_loses_no_update(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        admin_url = skip_or_fail_without_postgres()
        with throwaway_database(admin_url, prefix="finance_crm_race") as url:
            figures = _race(url, tmp_path, "postgresql", capsys)
        # Measured: 4 to 9 conflicts per 1,000 operations; none at all would mean the
        # read-then-write protocol no longer races (and the retry path went untested).
        assert figures["conflicts_retried"] > 0, figures


# -- 2. SIGKILL during a handover -----------------------------------------------------------


def _hand_over_child(url: str, conn: Connection) -> None:
    """Hand LEAVER's book over in one unit of work; say "ready" just before it starts."""
    with _store(url) as store, store.unit_of_work(HO) as uow:
        conn.send(("ready", time.perf_counter()))
        report = hand_over_book(uow, LEAVER, reason="staff_departure")
        uow.commit()
        conn.send(("done", time.perf_counter(), report.secondary_promoted, report.reassigned))
    conn.close()


def _build_book(url: str) -> list[str]:
    """An organisation where LEAVER is primary for BOOK customers, every other one of
    them with a secondary (promoted on handover), the rest placed with a colleague."""
    with _store(url) as store:
        store.upgrade_schema()
        staff = [
            StaffMember(id=LEAVER, name="离职经理", unit="BJ-W1", capacity=BOOK),
            *(StaffMember(id=c, name="王经理", unit="BJ-W1") for c in COLLEAGUES),
        ]
        _build_org(store, staff)
        customers = [make_individual(seed) for seed in range(1, BOOK + 1)]
        with store.unit_of_work(HO) as uow:
            uow.customers.add_many(customers)
            for i, customer in enumerate(customers):
                secondary = COLLEAGUES[i % len(COLLEAGUES)] if i % 2 == 0 else None
                assign_managers(
                    uow,
                    customer.id,
                    primary=LEAVER,
                    secondary=secondary,
                    reason="new_customer",
                )
            uow.commit()
    return [str(c.id) for c in customers]


def _fingerprint(url: str, customer_ids: list[str]) -> dict[str, Any]:
    """Everything a handover changes, without the instants (which differ run to run)."""
    ids = [CustomerId(uuid.UUID(c)) for c in customer_ids]
    with _store(url) as store, store.unit_of_work(HO, read_only=True) as uow:
        current = uow.assignments.find_many(ids)
        leaver = uow.organization.get_staff(LEAVER)
        actions: Counter[str] = Counter()
        after = 0
        while entries := uow.audit.entries(after_sequence=after, limit=5000):
            actions.update(e.action for e in entries)
            after = entries[-1].sequence
        events = Counter(m.event_type for m in uow.outbox.pending(limit=1_000_000))
        connection = uow.connection
        history = connection.exec_driver_sql(
            "SELECT version, count(*) FROM crm_assignment_history GROUP BY version ORDER BY 1"
        ).all()
        open_history = connection.exec_driver_sql(
            "SELECT count(*) FROM crm_assignment_history WHERE effective_to IS NULL"
        ).scalar_one()
        not_one_primary = connection.exec_driver_sql(
            "SELECT count(*) FROM crm_assignment a WHERE 1 <> (SELECT count(*) FROM "
            "crm_assignment_member m WHERE m.customer_id = a.customer_id AND m.role = 'primary')"
        ).scalar_one()
        leaver_rows = connection.exec_driver_sql(
            "SELECT count(*) FROM crm_assignment_member WHERE staff_id = 'LV01'"
        ).scalar_one()
    return {
        "teams": sorted(
            (
                str(a.customer_id),
                a.version,
                [(m.staff_id, m.role.value, str(m.share)) for m in a.managers],
            )
            for a in current.values()
        ),
        "customers": len(current),
        "with_leaver": sum(LEAVER in a.staff_ids for a in current.values()),
        "leaver": (leaver.status.value, leaver.version),
        "audit": dict(sorted(actions.items())),
        "outbox": dict(sorted(events.items())),
        "history": [tuple(row) for row in history],
        "open_history": open_history,
        "not_one_primary": not_one_primary,
        "leaver_rows": leaver_rows,
    }


def _outcome(state: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> str:
    """Which side of the handover ``state`` is on: "before" or "after" (AssertionError,
    describing what is mixed, when it is neither)."""
    summary = {k: v for k, v in state.items() if k != "teams"}
    assert state["customers"] == BOOK and state["not_one_primary"] == 0, summary
    assert state["open_history"] == BOOK, summary
    changed = state["audit"].get("assignment.changed", 0)
    departed = state["audit"].get("staff.departed", 0)
    if state["with_leaver"] == BOOK:
        assert state["leaver"][0] == EmploymentStatus.ACTIVE.value, summary
        assert (changed, departed) == (0, 0), summary
        assert state["history"] == [(1, BOOK)], summary
        assert state == before, "the leaver still holds every customer, yet something changed"
        return "before"
    assert state["with_leaver"] == 0, f"a mix: {state['with_leaver']} customers kept the leaver"
    assert state["leaver_rows"] == 0, summary
    assert state["leaver"][0] == EmploymentStatus.DEPARTED.value, summary
    assert (changed, departed) == (BOOK, 1), summary
    assert state["history"] == [(1, BOOK), (2, BOOK)], summary
    assert state == after, "every customer moved, yet the state differs from a clean handover"
    return "after"


def _run_child(url: str, kill_after: float | None) -> dict[str, Any]:
    """Run a handover child; kill it ``kill_after`` seconds after it says "ready" (or let it
    finish when None). Returns what the parent saw."""
    parent, child = SPAWN.Pipe(duplex=False)
    process = SPAWN.Process(target=_hand_over_child, args=(url, child))
    process.start()
    child.close()
    try:
        if not parent.poll(CHILD_TIMEOUT_S):
            raise AssertionError("the handover child never said it was ready")
        ready = parent.recv()
        assert ready[0] == "ready"
        readied = time.perf_counter()
        if kill_after is None:
            assert parent.poll(CHILD_TIMEOUT_S), "the handover child did not finish"
            done = parent.recv()
            process.join(CHILD_TIMEOUT_S)
            assert process.exitcode == 0
            return {
                "seconds": done[1] - ready[1],
                "promoted": done[2],
                "reassigned": done[3],
            }
        time.sleep(kill_after)
        killed_at = time.perf_counter() - readied
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid or 0, signal.SIGKILL)
        process.join(CHILD_TIMEOUT_S)
        finished = False
        try:
            while parent.poll(0):
                message = parent.recv()
                finished = finished or message[0] == "done"
        except EOFError:
            pass
        return {
            "kill_after": round(kill_after, 4),
            "killed_at": round(killed_at, 4),
            "exitcode": process.exitcode,
            "finished_first": finished,
        }
    finally:
        if process.is_alive():
            process.kill()
            process.join()
        parent.close()


def _carry_on(url: str, outcome: str, **store_options: Any) -> None:
    """After the kill, a fresh store opens the database (a SQLite file: sound), redoes or
    refuses the handover as the outcome requires, and takes a new write."""
    with _store(url, **store_options) as store, store.unit_of_work(HO) as uow:
        connection = uow.connection
        if store.dialect_name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"]
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        if outcome == "before":
            assert hand_over_book(uow, LEAVER).customers == BOOK
        else:  # what a host that cannot tell whether the commit landed would do: redo it
            with pytest.raises(BusinessRuleViolation, match="already departed"):
                hand_over_book(uow, LEAVER)
        customer = make_individual(BOOK + 1)
        uow.customers.add(customer)
        assign_managers(uow, customer.id, primary=COLLEAGUES[0], reason="new_customer")
        uow.commit()
    with _store(url) as store, store.unit_of_work(HO, read_only=True) as uow:
        assert uow.organization.get_staff(LEAVER).status is EmploymentStatus.DEPARTED
        assert uow.assignments.book_sizes([LEAVER]) == {LEAVER: 0}
        assert uow.customers.count() == BOOK + 1


def _trials(
    backend: str,
    trials: int,
    fresh_copy: Any,
    customer_ids: list[str],
    before: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    **store_options: Any,
) -> None:
    seed = secrets.randbits(32)
    rng = random.Random(seed)
    with fresh_copy("calibration") as url:
        clean = _run_child(url, None)
        after = _fingerprint(url, customer_ids)
    assert (clean["promoted"], clean["reassigned"]) == (BOOK // 2, BOOK - BOOK // 2)
    assert _outcome(after, before, after) == "after"
    window = KILL_WINDOW * clean["seconds"]
    results = []
    started = time.perf_counter()
    for n in range(1, trials + 1):
        with fresh_copy(f"trial_{n}") as url:
            seen = _run_child(url, rng.uniform(0, window))
            seen["outcome"] = _outcome(_fingerprint(url, customer_ids), before, after)
            if seen["finished_first"]:
                assert seen["outcome"] == "after"
            _carry_on(url, seen["outcome"], **store_options)
            results.append(seen)
    outcomes = Counter(r["outcome"] for r in results)
    line = (
        f"SIGKILL trials {backend}: {trials} (before {outcomes['before']}, after "
        f"{outcomes['after']}, of which {sum(r['finished_first'] for r in results)} finished "
        f"before the signal); handover {clean['seconds']:.3f} s, kills in [0, {window:.3f}] s"
    )
    _report(
        capsys,
        tmp_path / f"sigkill_trials_{backend}.json",
        line,
        {
            "backend": backend,
            "trials": trials,
            "before": outcomes["before"],
            "after": outcomes["after"],
            "book": BOOK,
            "handover_seconds": round(clean["seconds"], 4),
            "kill_window_seconds": round(window, 4),
            "seed": seed,
            "trial_seconds": round(time.perf_counter() - started, 2),
            "results": results,
        },
    )
    assert outcomes["before"] + outcomes["after"] == trials


class TestSigkillDuringHandover:
    def test_sqlite_file_is_all_before_or_all_after(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        template = tmp_path / "template.db"
        customer_ids = _build_book(f"sqlite:///{template}")
        assert not Path(f"{template}-wal").exists()  # checkpointed on close: one file to copy
        before = _fingerprint(f"sqlite:///{template}", customer_ids)
        assert _outcome(before, before, before) == "before"

        @contextlib.contextmanager
        def fresh_copy(name: str) -> Iterator[str]:
            target = tmp_path / f"{name}.db"
            shutil.copyfile(template, target)
            yield f"sqlite:///{target}"

        _trials(
            "sqlite",
            SQLITE_TRIALS,
            fresh_copy,
            customer_ids,
            before,
            tmp_path,
            capsys,
            sqlite_busy_timeout=5,  # a lock left behind would fail the trial within 5 s
        )

    def test_postgres_is_all_before_or_all_after(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        admin_url = skip_or_fail_without_postgres()
        admin = sa.create_engine(
            admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        try:
            with throwaway_database(admin_url, prefix="finance_crm_handover") as template_url:
                customer_ids = _build_book(template_url)
                before = _fingerprint(template_url, customer_ids)
                assert _outcome(before, before, before) == "before"
                template = make_url(template_url).database
                assert template is not None

                @contextlib.contextmanager
                def fresh_copy(name: str) -> Iterator[str]:
                    copy = f"{template}_{name}"
                    with admin.connect() as connection:
                        connection.exec_driver_sql(
                            f'CREATE DATABASE "{copy}" TEMPLATE "{template}"'
                        )
                    try:
                        yield (
                            make_url(template_url)
                            .set(database=copy)
                            .render_as_string(hide_password=False)
                        )
                    finally:
                        with admin.connect() as connection:
                            connection.exec_driver_sql(
                                f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'
                            )

                _trials(
                    "postgresql",
                    POSTGRES_TRIALS,
                    fresh_copy,
                    customer_ids,
                    before,
                    tmp_path,
                    capsys,
                )
        finally:
            admin.dispose()
