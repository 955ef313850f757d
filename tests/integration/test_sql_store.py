"""SQL adapter behaviour beyond the store contract: binds, schema, audit, concurrency."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.orm import Session, sessionmaker

import finance_crm
from finance_crm import Actor, ConflictError, SchemaNotReady, StorageError, ValidationError
from finance_crm.adapters.sql import SqlStore, current_revision, head_revision
from finance_crm.adapters.sql.schema import VERSION_TABLE
from finance_crm.adapters.sql.tables import metadata
from finance_crm.retrying import run_with_retries
from finance_crm.testing import make_individual
from finance_crm.testing.postgres import skip_or_fail_without_postgres, throwaway_database

ACTOR = Actor("ho-1", roles={"head_office"})


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'crm.db'}"


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(sqlite_url)
    finance_crm.upgrade_schema(engine)
    yield engine
    engine.dispose()


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def _diff(connection: sa.Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
    )
    diff = compare_metadata(context, metadata)
    return [d for d in diff if not (isinstance(d, tuple) and d[1] == VERSION_TABLE)]


class TestSchema:
    def test_migrations_and_tables_agree_on_sqlite(self, engine: sa.Engine) -> None:
        with engine.connect() as connection:
            assert _diff(connection) == []
            assert current_revision(connection) == head_revision()

    def test_store_refuses_a_database_without_the_schema(self, sqlite_url: str) -> None:
        store = SqlStore.from_url(sqlite_url)
        with pytest.raises(SchemaNotReady, match="upgrade_schema"):
            store.unit_of_work(ACTOR).__enter__()
        store.close()

    def test_upgrade_is_idempotent(self, engine: sa.Engine) -> None:
        finance_crm.upgrade_schema(engine)
        with engine.connect() as connection:
            assert current_revision(connection) == head_revision()

    def test_upgrade_accepts_a_url(self, sqlite_url: str) -> None:
        finance_crm.upgrade_schema(sqlite_url)
        store = SqlStore.from_url(sqlite_url)
        with store.unit_of_work(ACTOR) as uow:
            assert uow.customers.count() == 0
        store.close()

    def test_audit_log_is_append_only_in_the_database(self, engine: sa.Engine) -> None:
        store = SqlStore(engine)
        with store.unit_of_work(ACTOR) as uow:
            uow.customers.add(make_individual(1))
            uow.commit()
        for statement in ("UPDATE crm_audit_log SET actor = 'x'", "DELETE FROM crm_audit_log"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as c:
                c.exec_driver_sql(statement)
        assert _count(engine, "crm_audit_log") == 1

    def test_sqlite_file_uses_wal_and_foreign_keys(self, sqlite_url: str) -> None:
        finance_crm.upgrade_schema(sqlite_url)
        store = SqlStore.from_url(sqlite_url)
        with store.unit_of_work(ACTOR) as uow:
            assert uow.connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert uow.connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        store.close()


class TestHostBinds:
    def test_host_engine_is_used_and_left_open(self, engine: sa.Engine) -> None:
        store = SqlStore(engine)
        with store.unit_of_work(ACTOR) as uow:
            uow.customers.add(make_individual(2))
            uow.commit()
        store.close()  # not ours to dispose
        assert _count(engine, "crm_customer") == 1

    def test_host_connection_transaction_owns_the_commit(self, engine: sa.Engine) -> None:
        with engine.connect() as connection:
            connection.begin()
            connection.exec_driver_sql("CREATE TABLE host_table (x INTEGER)")
            connection.exec_driver_sql("INSERT INTO host_table VALUES (1)")
            store = SqlStore(connection)
            with store.unit_of_work(ACTOR) as uow:
                uow.customers.add(make_individual(3))
                uow.commit()
            connection.rollback()  # the host changes its mind: our write goes too
        assert _count(engine, "crm_customer") == 0
        with engine.connect() as connection:
            connection.begin()
            store = SqlStore(connection)
            with store.unit_of_work(ACTOR) as uow:
                uow.customers.add(make_individual(4))
                uow.commit()
            connection.commit()
        assert _count(engine, "crm_customer") == 1

    def test_failed_unit_of_work_keeps_the_host_transaction_usable(self, engine: sa.Engine) -> None:
        with engine.connect() as connection:
            connection.begin()
            store = SqlStore(connection)
            with store.unit_of_work(ACTOR) as uow:
                uow.customers.add(make_individual(5))
                uow.commit()
            with pytest.raises(RuntimeError), store.unit_of_work(ACTOR) as uow:
                uow.customers.add(make_individual(6))
                raise RuntimeError("boom")
            connection.commit()
        assert _count(engine, "crm_customer") == 1

    def test_session_and_sessionmaker(self, engine: sa.Engine) -> None:
        factory = sessionmaker(engine)
        store = SqlStore(factory)
        with store.unit_of_work(ACTOR) as uow:
            uow.customers.add(make_individual(7))
            uow.commit()
        with Session(engine) as session:
            store = SqlStore(session)
            with store.unit_of_work(ACTOR) as uow:
                uow.customers.add(make_individual(8))
                uow.commit()
            session.commit()
        assert _count(engine, "crm_customer") == 2

    def test_bad_binds_and_urls_are_validation_errors(self) -> None:
        with pytest.raises(ValidationError):
            SqlStore("sqlite://")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            SqlStore.from_url("nosuchdialect://x")
        with pytest.raises(ValidationError):
            SqlStore(SqlStore.from_url("sqlite://"), clock=None)  # type: ignore[arg-type]


def _writer(url: str, customer_id: str, rounds: int, queue: multiprocessing.Queue[int]) -> None:
    import uuid

    store = SqlStore.from_url(url)
    done = 0
    for i in range(rounds):

        def work(i: int = i) -> None:
            with store.unit_of_work(Actor(f"proc-{os.getpid()}", roles={"head_office"})) as uow:
                current = uow.customers.get(uuid.UUID(customer_id))  # type: ignore[arg-type]
                changed, events = current.revise(
                    at=current.opened_at, tags=current.tags | {f"p{os.getpid()}-{i}"}
                )
                uow.customers.update(changed, events)
                uow.commit()

        run_with_retries(work, attempts=50, first_delay=0.001)
        done += 1
    store.close()
    queue.put(done)


class TestConcurrency:
    def test_two_processes_lose_no_update(self, sqlite_url: str) -> None:
        finance_crm.upgrade_schema(sqlite_url)
        store = SqlStore.from_url(sqlite_url)
        customer = make_individual(9)
        with store.unit_of_work(ACTOR) as uow:
            uow.customers.add(customer)
            uow.commit()
        ctx = multiprocessing.get_context("spawn")
        queue: multiprocessing.Queue[int] = ctx.Queue()
        rounds = 40
        procs = [
            ctx.Process(target=_writer, args=(sqlite_url, str(customer.id), rounds, queue))
            for _ in range(2)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0]
        assert sorted(queue.get(timeout=5) for _ in procs) == [rounds, rounds]
        with store.unit_of_work(ACTOR, read_only=True) as uow:
            final = uow.customers.get(customer.id)
            audit = uow.audit.entries(entity_id=str(customer.id), limit=1000)
        # every successful update is in the final state and in the audit, none lost
        assert len(final.tags) == 1 + 2 * rounds
        assert final.version == 1 + 2 * rounds
        assert len(audit) == 1 + 2 * rounds
        store.close()

    def test_busy_database_is_a_conflict_not_a_driver_error(self, sqlite_url: str) -> None:
        finance_crm.upgrade_schema(sqlite_url)
        holder = SqlStore.from_url(sqlite_url)
        waiter = SqlStore.from_url(sqlite_url, sqlite_busy_timeout=0.1)
        with holder.unit_of_work(ACTOR) as uow:
            uow.customers.add(make_individual(10))
            with pytest.raises(ConflictError, match="busy"):
                waiter.unit_of_work(ACTOR).__enter__()
        holder.close()
        waiter.close()


class TestPostgresqlSchema:
    def test_migrations_and_tables_agree_on_postgresql(self) -> None:
        admin = skip_or_fail_without_postgres()
        with throwaway_database(admin, prefix="finance_crm_schema") as url:
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            finance_crm.upgrade_schema(engine)
            with engine.connect() as connection:
                assert _diff(connection) == []
                assert current_revision(connection) == head_revision()
            store = SqlStore(engine)
            with store.unit_of_work(ACTOR) as uow:
                uow.customers.add(make_individual(11))
                uow.commit()
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as c:
                c.exec_driver_sql("DELETE FROM crm_audit_log")
            assert _count(engine, "crm_audit_log") == 1
            engine.dispose()

    def test_storage_errors_are_mapped(self) -> None:
        admin = skip_or_fail_without_postgres()
        with throwaway_database(admin, prefix="finance_crm_noschema") as url:
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            store = SqlStore(engine)
            with pytest.raises(StorageError):
                store.unit_of_work(ACTOR).__enter__()
            engine.dispose()

    def test_many_audit_and_outbox_rows_copied_read_back_as_written(self) -> None:
        # From 200 rows a call, PostgreSQL's audit and outbox rows go in by COPY: the
        # entries and messages must read back exactly as the in-memory store keeps them.
        from finance_crm.adapters.memory import InMemoryStore
        from finance_crm.clock import FixedClock

        clock = FixedClock(pendulum.datetime(2025, 6, 2, 1, tz="UTC"))
        people = [make_individual(n) for n in range(1, 251)]
        admin = skip_or_fail_without_postgres()
        with throwaway_database(admin, prefix="finance_crm_copy") as url:
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            finance_crm.upgrade_schema(engine)
            answers = []
            for store in (SqlStore(engine, clock=clock), InMemoryStore(clock=clock)):
                with store.unit_of_work(ACTOR) as uow:
                    uow.customers.add_many(people)
                    uow.commit()
                with store.unit_of_work(ACTOR, read_only=True) as uow:
                    entries = uow.audit.entries(limit=1000)
                    messages = uow.outbox.pending(limit=1000)
                audit = [
                    (e.recorded_at, e.actor, e.action, e.entity_id, e.changes) for e in entries
                ]
                # Event ids are made anew on each side: checked against the payload's own.
                assert all(str(m.event_id) == m.payload["event_id"] for m in messages)
                outbox = [
                    (m.event_type, m.occurred_at, {**m.payload, "event_id": None}) for m in messages
                ]
                answers.append((audit, outbox))
            engine.dispose()
        (sql_entries, sql_messages), (memory_entries, memory_messages) = answers
        assert len(sql_entries) == len(sql_messages) == 250
        assert sql_entries == memory_entries
        assert sql_messages == memory_messages
