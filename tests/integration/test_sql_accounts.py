"""The SQL side of accounts and balances, beyond the account contract: random feeds
through ``load_balances`` against the in-memory adapter (same reports, balances, AUM and
period averages), one statement per ``write`` (COPY on PostgreSQL), duplicates that
leave nothing of the call, ``clear_day``, large amounts and odd currency exponents, the
query plans on SQLite, and the 0004 migration.

Every test that takes ``store`` runs on SQLite (a file) and on PostgreSQL (its id then
contains "postgres"; FINANCE_CRM_TEST_POSTGRES_URL, required in CI).
"""

from __future__ import annotations

import datetime
import random
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import event

import finance_crm
from finance_crm.adapters.memory import InMemoryStore
from finance_crm.adapters.sql import SqlStore
from finance_crm.adapters.sql.schema import _config, current_revision
from finance_crm.clock import FixedClock
from finance_crm.errors import DuplicateError, NotFoundError, ValidationError
from finance_crm.ids import AccountId
from finance_crm.model.accounts import Account, AccountKind
from finance_crm.money import Money
from finance_crm.ports import Store, UnitOfWork
from finance_crm.security import Actor
from finance_crm.services.balances import (
    BalanceRow,
    aum_on,
    average_daily_aum,
    load_balances,
)
from finance_crm.services.customer_import import ImportMode
from finance_crm.testing.factories import make_corporate, make_individual
from finance_crm.testing.postgres import skip_or_fail_without_postgres, throwaway_database

HO = Actor("ho-admin", roles=frozenset({"head_office"}))
NOW = pendulum.datetime(2025, 6, 2, 1, tz="UTC")
D = datetime.date
TABLES = "crm_balance, crm_account, crm_outbox, crm_audit_log, crm_customer_document, crm_customer"
MAX_MINOR = 2**63 - 1


# -- stores ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_engine() -> Iterator[sa.Engine]:
    admin_url = skip_or_fail_without_postgres()
    with throwaway_database(admin_url, prefix="finance_crm_accounts") as url:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        finance_crm.upgrade_schema(engine)
        yield engine
        engine.dispose()


def _make_store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlStore:
    if request.param == "sqlite":
        store = SqlStore.from_url(f"sqlite:///{tmp_path / 'crm.db'}", clock=FixedClock(NOW))
        store.upgrade_schema()
        request.addfinalizer(store.close)
        return store
    engine: sa.Engine = request.getfixturevalue("postgres_engine")
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    return SqlStore(engine, clock=FixedClock(NOW))


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlStore:
    return _make_store(request, tmp_path)


@pytest.fixture(params=["sqlite"])
def sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlStore:
    return _make_store(request, tmp_path)


@pytest.fixture(params=["postgres"])
def postgres_store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlStore:
    return _make_store(request, tmp_path)


def _engine(store: SqlStore) -> sa.Engine:
    assert isinstance(store.bind, sa.Engine)
    return store.bind


class Statements:
    """The SQL statements an engine runs while recording (an executemany counts once)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.seen: list[tuple[str, bool]] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if self.on:
            self.seen.append((statement, many))

    def __enter__(self) -> Statements:
        self.seen.clear()
        self.on = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.on = False

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def data(self) -> list[str]:
        """Statements other than transaction control."""
        control = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "PRAGMA")
        return [s for s, _ in self.seen if not s.lstrip().upper().startswith(control)]


@pytest.fixture
def statements(store: SqlStore) -> Iterator[Statements]:
    recorder = Statements(_engine(store))
    yield recorder
    recorder.close()


# -- books of accounts, built in both adapters ----------------------------------------------

CURRENCIES = ("CNY", "CNY", "CNY", "USD", "JPY", "KWD")
KINDS = (AccountKind.DEPOSIT, AccountKind.WEALTH, AccountKind.FUND, AccountKind.LOAN)


def _book(stores: list[Store], seed: int, customers: int = 6) -> list[Account]:
    """The same customers and accounts in every store; some accounts closed."""
    rnd = random.Random(seed)
    people = [make_individual(i) if i % 2 else make_corporate(i) for i in range(1, customers + 1)]
    accounts: list[Account] = []
    for n, person in enumerate(people):
        for k in range(rnd.randrange(1, 5)):
            opened = D(2024, 1, 1) + datetime.timedelta(days=rnd.randrange(0, 60))
            closed = opened + datetime.timedelta(days=rnd.randrange(20, 200)) if k == 3 else None
            accounts.append(
                Account(
                    customer_id=person.id,
                    account_number=f"62{n:03d}{k:02d}{rnd.randrange(10**6):06d}",
                    kind=rnd.choice(KINDS),
                    currency=rnd.choice(CURRENCIES),
                    opened_on=opened,
                    closed_on=closed,
                )
            )
    for s in stores:
        with s.unit_of_work(HO) as uow:
            uow.customers.add_many(people)
            uow.accounts.add_many(accounts)
            uow.commit()
    return accounts


def _amount(rnd: random.Random, code: str) -> Decimal:
    exponent = {"JPY": 0, "KWD": 3}.get(code, 2)
    return Decimal(rnd.randrange(-(10**6), 10**12)).scaleb(-exponent)


def _feed(rnd: random.Random, accounts: list[Account], days: list[datetime.date]) -> list[Any]:
    """A feed with a few bad rows: unknown accounts, wrong currencies, too many decimals,
    a second balance for the same account and day, malformed values."""
    rows: list[Any] = []
    for day in days:
        for a in rnd.sample(accounts, max(1, len(accounts) * 3 // 4)):
            rows.append(BalanceRow(a.account_number, day, _amount(rnd, a.currency), a.currency))
            roll = rnd.random()
            if roll < 0.02:
                rows.append(BalanceRow(a.account_number, day, Decimal(1), a.currency))
            elif roll < 0.03:
                rows.append(BalanceRow("NO-SUCH-ACCOUNT", day, Decimal(1), "CNY"))
            elif roll < 0.04:
                other = "USD" if a.currency != "USD" else "CNY"
                rows.append(BalanceRow(a.account_number, day, Decimal(1), other))
            elif roll < 0.05:
                rows.append(
                    {"account_number": a.account_number, "day": "2024-13-01", "balance": "1"}
                )
            elif roll < 0.06:
                rows.append(BalanceRow(a.account_number, day, Decimal("0.0001"), a.currency))
    rnd.shuffle(rows)
    return rows


def _everything(uow: UnitOfWork, accounts: list[Account]) -> Any:
    ids = [a.id for a in accounts]
    return (
        uow.balances.count(),
        [
            (b.account_id, b.day, b.balance)
            for b in uow.balances.of_accounts(ids, D(1900, 1, 1), D(2999, 1, 1))
        ],
    )


QUERY_DAYS = [D(2023, 12, 31), D(2024, 1, 1), D(2024, 2, 10), D(2024, 3, 31), D(2024, 9, 1)]


def _reports(uow: UnitOfWork, accounts: list[Account], rnd: random.Random) -> list[Any]:
    customers = sorted({a.customer_id for a in accounts})
    out: list[Any] = []
    for customer in customers:
        for day in QUERY_DAYS:
            out.append(aum_on(uow, customer, day))
        for _ in range(4):
            start, end = sorted(rnd.sample(QUERY_DAYS, 2))
            out.append(average_daily_aum(uow, customer, start, end))
    ids = [a.id for a in accounts]
    for _ in range(10):
        start, end = sorted(rnd.sample(QUERY_DAYS, 2))
        chosen = rnd.sample(ids, rnd.randrange(1, len(ids)))
        out.append(uow.balances.of_accounts(chosen, start, end))
    return out


class TestAgainstMemory:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_random_feeds_give_the_same_balances_reports_and_aum(
        self, store: SqlStore, seed: int
    ) -> None:
        memory = InMemoryStore(clock=FixedClock(NOW))
        rnd = random.Random(seed)
        accounts = _book([memory, store], seed)
        all_days = [D(2024, 1, 1) + datetime.timedelta(days=7 * k) for k in range(20)]
        for round_ in range(4):
            days = sorted(rnd.sample(all_days, 3))  # days re-loaded in later rounds too
            feed = _feed(rnd, accounts, days)
            mode = ImportMode.SKIP_BAD_ROWS if round_ != 2 else ImportMode.ALL_OR_NOTHING
            batch_size = rnd.choice([1, 7, 50, 5000])
            with memory.unit_of_work(HO) as mem, store.unit_of_work(HO) as sql:
                expected = load_balances(mem, feed, mode=mode, batch_size=batch_size)
                assert load_balances(sql, feed, mode=mode, batch_size=batch_size) == expected
                assert _everything(sql, accounts) == _everything(mem, accounts)
                mem.commit()
                sql.commit()
        with memory.unit_of_work(HO, read_only=True) as mem:
            expected_reports = _reports(mem, accounts, random.Random(seed))
            expected_audit = [
                (e.action, e.entity_type, e.entity_id, e.changes)
                for e in mem.audit.entries(limit=100_000)
            ]
        with store.unit_of_work(HO, read_only=True) as sql:
            assert _reports(sql, accounts, random.Random(seed)) == expected_reports
            audit = [
                (e.action, e.entity_type, e.entity_id, e.changes)
                for e in sql.audit.entries(limit=100_000)
            ]
        assert audit == expected_audit
        assert any(a[0] == "balances.loaded" and a[1] == "balance_day" for a in audit)

    def test_unknown_accounts_in_of_accounts_are_refused_alike(self, store: SqlStore) -> None:
        memory = InMemoryStore(clock=FixedClock(NOW))
        accounts = _book([memory, store], 9, customers=1)
        stranger = AccountId(uuid.uuid4())
        for s in (memory, store):
            with s.unit_of_work(HO, read_only=True) as uow:
                with pytest.raises(NotFoundError, match="no account with this id"):
                    uow.balances.of_accounts(
                        [accounts[0].id, stranger], D(2024, 1, 1), D(2024, 2, 1)
                    )
                assert uow.balances.of_accounts([], D(2024, 1, 1), D(2024, 2, 1)) == []


# -- the write path -------------------------------------------------------------------------


@pytest.fixture
def booked(store: SqlStore) -> list[Account]:
    return _book([store], 5, customers=2)


def _rows(accounts: list[Account], day: datetime.date, n: int) -> list[tuple[AccountId, Any, int]]:
    return [(a.id, day, 100 * k + 1) for k, a in enumerate(accounts[:n])]


class _Units(int):
    """An int subclass (as an IntEnum or a NewType'd int may be)."""


class TestWrite:
    def test_one_statement_per_call(
        self, store: SqlStore, booked: list[Account], statements: Statements
    ) -> None:
        with store.unit_of_work(HO) as uow:
            _ = uow.scope  # resolved before recording
            with statements:
                uow.balances.write(_rows(booked, D(2024, 6, 3), len(booked)))
            data = statements.data()
            if store.dialect_name == "sqlite":
                assert len(data) == 1 and data[0].startswith("INSERT INTO crm_balance")
                assert statements.seen[-1][1] is True  # one executemany
            else:
                assert data == []  # COPY goes to the driver; no INSERT at all
            assert uow.balances.count() == len(booked)
            uow.commit()

    def test_postgresql_writes_with_copy(
        self, postgres_store: SqlStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import psycopg

        accounts = _book([postgres_store], 5, customers=2)
        copies: list[str] = []
        original = psycopg.Cursor.copy

        def spy(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
            copies.append(str(statement))
            return original(self, statement, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "copy", spy)
        with postgres_store.unit_of_work(HO) as uow:
            uow.balances.write(_rows(accounts, D(2024, 6, 3), len(accounts)))
            uow.balances.write(_rows(accounts, D(2024, 6, 4), 2))
            uow.commit()
        assert copies == ["COPY crm_balance (account_id, day, balance_minor) FROM STDIN"] * 2
        with postgres_store.unit_of_work(HO, read_only=True) as uow:
            assert uow.balances.count() == len(accounts) + 2

    def test_a_duplicate_leaves_nothing_of_the_call_and_the_rest_commits(
        self, store: SqlStore, booked: list[Account]
    ) -> None:
        day = D(2024, 6, 3)
        late = D(2024, 6, 4)
        with store.unit_of_work(HO) as uow:
            uow.balances.write(_rows(booked, day, 1))
            # rows before the duplicate would be stored without the undo
            failing = [*_rows(booked, late, len(booked)), (booked[0].id, day, 5)]
            with pytest.raises(DuplicateError, match="already stored"):
                uow.balances.write(failing)
            assert uow.balances.count() == 1
            twice = [(booked[1].id, late, 1), (booked[2].id, late, 2), (booked[1].id, late, 3)]
            with pytest.raises(DuplicateError, match="one balance per account and day"):
                uow.balances.write(twice)
            assert uow.balances.count() == 1
            uow.balances.write([(booked[1].id, late, 7)])  # the same keys, now alone
            uow.commit()
        with store.unit_of_work(HO, read_only=True) as uow:
            assert uow.balances.count() == 2
            found = uow.balances.of_accounts([booked[1].id], late, late)
            assert [b.balance.minor_units for b in found] == [7]

    def test_a_duplicate_inside_a_savepoint_is_undone_by_it(
        self, store: SqlStore, booked: list[Account]
    ) -> None:
        day = D(2024, 6, 3)
        with store.unit_of_work(HO) as uow:
            uow.balances.write(_rows(booked, day, 1))
            with pytest.raises(DuplicateError), uow.savepoint():
                uow.balances.write(_rows(booked, day, len(booked))[::-1])
            assert uow.balances.count() == 1
            uow.commit()

    def test_an_amount_beyond_bigint_is_refused_and_nothing_stored(
        self, store: SqlStore, booked: list[Account]
    ) -> None:
        day = D(2024, 6, 3)
        with store.unit_of_work(HO) as uow:
            rows = [*_rows(booked, day, 2), (booked[2].id, day, MAX_MINOR + 1)]
            with pytest.raises(ValidationError, match="too large"):
                uow.balances.write(rows)
            assert uow.balances.count() == 0
            uow.balances.write(_rows(booked, day, 2))
            uow.commit()
        with store.unit_of_work(HO, read_only=True) as uow:
            assert uow.balances.count() == 2

    def test_malformed_rows_are_refused_before_anything_is_written(
        self, store: SqlStore, booked: list[Account], statements: Statements
    ) -> None:
        day = D(2024, 6, 3)
        good = _rows(booked, day, 2)
        bad_rows: list[Any] = [
            [*good, (booked[2].id, day, Decimal(1))],
            [*good, (booked[2].id, day, 1.0)],
            [*good, (booked[2].id, day, True)],
            [*good, (str(booked[2].id), day, 1)],
            [*good, (booked[2].id, datetime.datetime(2024, 6, 3), 1)],
            [*good, (booked[2].id, "2024-06-03", 1)],
            [*good, (booked[2].id, day)],
        ]
        with store.unit_of_work(HO) as uow:
            _ = uow.scope
            for rows in bad_rows:
                with statements, pytest.raises(TypeError):
                    uow.balances.write(rows)
                assert statements.data() == []
            # a pendulum Date and an int subclass are a date and an int
            uow.balances.write([(booked[0].id, pendulum.Date(2024, 6, 3), _Units(5))])
            found = uow.balances.of_accounts([booked[0].id], day, day)
            assert [(b.day, b.balance.minor_units) for b in found] == [(day, 5)]
            assert type(found[0].day) is datetime.date


class TestClearDay:
    def test_clear_day_is_one_delete(
        self, store: SqlStore, booked: list[Account], statements: Statements
    ) -> None:
        days = [D(2024, 6, 1), D(2024, 6, 2), D(2024, 6, 3)]
        with store.unit_of_work(HO) as uow:
            for day in days:
                uow.balances.write(_rows(booked, day, len(booked)))
            with statements:
                assert uow.balances.clear_day(days[1]) == len(booked)
            assert statements.data() == [
                "DELETE FROM crm_balance WHERE day = "
                + ("?" if store.dialect_name == "sqlite" else "%s")
            ]
            assert uow.balances.clear_day(days[1]) == 0
            assert uow.balances.clear_day(D(2030, 1, 1)) == 0
            with pytest.raises(ValidationError):
                uow.balances.clear_day(datetime.datetime(2024, 6, 1))  # type: ignore[arg-type]
            uow.commit()
        with store.unit_of_work(HO, read_only=True) as uow:
            assert uow.balances.count() == 2 * len(booked)
            found = uow.balances.of_accounts([a.id for a in booked], days[0], days[2])
            assert {b.day for b in found} == {days[0], days[2]}


class TestAmounts:
    def test_large_amounts_and_currency_exponents_round_trip(self, store: SqlStore) -> None:
        person = make_individual(1)
        accounts = [
            Account(
                customer_id=person.id,
                account_number=f"X-{code}",
                kind=AccountKind.DEPOSIT,
                currency=code,
                opened_on=D(2024, 1, 1),
            )
            for code in ("CNY", "JPY", "KWD", "USD")
        ]
        with store.unit_of_work(HO) as uow:
            uow.customers.add(person)
            uow.accounts.add_many(accounts)
            uow.commit()
        cny, jpy, kwd, usd = accounts
        feed = [
            BalanceRow("X-CNY", D(2024, 3, 1), Decimal("92233720368547758.07"), "CNY"),
            BalanceRow("X-JPY", D(2024, 3, 1), Decimal("9223372036854775807"), "JPY"),
            BalanceRow("X-KWD", D(2024, 3, 1), Decimal("-9223372036854775.807"), "KWD"),
            BalanceRow("X-USD", D(2024, 3, 1), Decimal("0.01"), "USD"),
            BalanceRow("X-JPY", D(2024, 3, 2), Decimal("1.5"), "JPY"),  # JPY has no minor unit
            BalanceRow("X-KWD", D(2024, 3, 2), Decimal("0.001"), "KWD"),
        ]
        with store.unit_of_work(HO) as uow:
            report = load_balances(uow, feed, mode=ImportMode.SKIP_BAD_ROWS)
            uow.commit()
        assert report.loaded == 5 and [e.row_number for e in report.errors] == [5]
        with store.unit_of_work(HO, read_only=True) as uow:
            found = uow.balances.of_accounts([a.id for a in accounts], D(2024, 3, 1), D(2024, 3, 2))
            got = {(b.account_id, b.day): b.balance for b in found}
        assert got == {
            (cny.id, D(2024, 3, 1)): Money(Decimal("92233720368547758.07"), "CNY"),
            (jpy.id, D(2024, 3, 1)): Money(Decimal("9223372036854775807"), "JPY"),
            (kwd.id, D(2024, 3, 1)): Money(Decimal("-9223372036854775.807"), "KWD"),
            (usd.id, D(2024, 3, 1)): Money(Decimal("0.01"), "USD"),
            (kwd.id, D(2024, 3, 2)): Money(Decimal("0.001"), "KWD"),
        }
        assert got[(kwd.id, D(2024, 3, 2))].minor_units == 1
        with store.unit_of_work(HO, read_only=True) as uow:
            assert aum_on(uow, person.id, D(2024, 3, 2))["KWD"] == Money(Decimal("0.001"), "KWD")


class TestResolve:
    def test_resolve_is_one_query_per_5000_numbers(
        self, store: SqlStore, booked: list[Account], statements: Statements
    ) -> None:
        numbers = [a.account_number for a in booked]
        with store.unit_of_work(HO, read_only=True) as uow:
            with statements:
                found = uow.balances.resolve([*numbers, "NOPE", *numbers])
            assert len(statements.data()) == 1
            assert found == {a.account_number: (a.id, a.currency) for a in booked}
            with statements:
                many = uow.balances.resolve([f"N{i}" for i in range(10_000)] + numbers[:1])
            assert len(statements.data()) == 3
            assert many == {numbers[0]: (booked[0].id, booked[0].currency)}

    def test_of_accounts_is_one_query(
        self, store: SqlStore, booked: list[Account], statements: Statements
    ) -> None:
        with store.unit_of_work(HO) as uow:
            for day in (D(2024, 5, 1), D(2024, 6, 1), D(2024, 6, 2), D(2024, 7, 1)):
                uow.balances.write(_rows(booked, day, len(booked)))
            with statements:
                found = uow.balances.of_accounts(
                    [a.id for a in booked], D(2024, 5, 15), D(2024, 6, 30)
                )
            assert len(statements.data()) == 1
            days = sorted({b.day for b in found})
            assert days == [D(2024, 5, 1), D(2024, 6, 1), D(2024, 6, 2)]
            assert [b.account_id for b in found] == sorted(b.account_id for b in found)


# -- plans ----------------------------------------------------------------------------------


class TestSqlitePlans:
    @pytest.fixture
    def plans(self, sqlite_store: SqlStore) -> Iterator[dict[str, list[str]]]:
        found: dict[str, list[str]] = {}
        engine = _engine(sqlite_store)

        def explain(
            conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
        ) -> tuple[str, Any]:
            if "crm_balance" in statement and not executemany:
                cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
                found[statement] = [str(r[3]) for r in cursor.fetchall()]
            return statement, params

        event.listen(engine, "before_cursor_execute", explain, retval=True)
        yield found
        event.remove(engine, "before_cursor_execute", explain)

    def test_of_accounts_seeks_each_account_range(
        self, sqlite_store: SqlStore, plans: dict[str, list[str]]
    ) -> None:
        accounts = _book([sqlite_store], 5, customers=2)
        with sqlite_store.unit_of_work(HO) as uow:
            uow.balances.write(_rows(accounts, D(2024, 6, 1), len(accounts)))
            uow.balances.of_accounts([a.id for a in accounts], D(2024, 6, 1), D(2024, 6, 30))
        [plan] = [p for s, p in plans.items() if s.lstrip().startswith("SELECT")]
        text = "\n".join(plan)
        # the accounts by their key, each account's balances a range of the balance key,
        # the last day before the period one seek of it (no scan of crm_balance)
        assert "SEARCH crm_account USING INDEX" in text or "SEARCH crm_account USING" in text
        assert "SEARCH crm_balance USING PRIMARY KEY (account_id=? AND day>? AND day<?)" in text
        assert "SEARCH p USING PRIMARY KEY (account_id=? AND day<?)" in text
        assert not any(line.startswith("SCAN") for line in plan), text

    def test_clear_day_searches_the_day_index(
        self, sqlite_store: SqlStore, plans: dict[str, list[str]]
    ) -> None:
        accounts = _book([sqlite_store], 5, customers=2)
        with sqlite_store.unit_of_work(HO) as uow:
            uow.balances.write(_rows(accounts, D(2024, 6, 1), len(accounts)))
            uow.balances.clear_day(D(2024, 6, 1))
        [plan] = [p for s, p in plans.items() if s.startswith("DELETE")]
        # not a scan of the whole history: one range of the day index
        assert plan == ["SEARCH crm_balance USING COVERING INDEX ix_crm_balance_day (day=?)"]

    def test_the_balance_table_is_without_rowid(self, sqlite_store: SqlStore) -> None:
        with _engine(sqlite_store).connect() as connection:
            sql = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'crm_balance'"
            ).scalar_one()
        assert "WITHOUT ROWID" in sql.upper()
        assert "REFERENCES" not in sql.upper()


# -- the migration --------------------------------------------------------------------------


def test_migration_0004_downgrades_and_upgrades(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    finance_crm.upgrade_schema(engine)
    with engine.begin() as connection:
        command.downgrade(_config(connection), "0003")
        assert current_revision(connection) == "0003"
        assert not {"crm_account", "crm_balance"} & set(sa.inspect(connection).get_table_names())
    finance_crm.upgrade_schema(engine)
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        assert {"crm_account", "crm_balance"} <= set(inspector.get_table_names())
        assert inspector.get_pk_constraint("crm_balance")["constrained_columns"] == [
            "account_id",
            "day",
        ]
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("crm_account")}
        assert indexes["ix_crm_account_customer_id"] == ["customer_id"]
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("crm_balance")}
        assert indexes == {"ix_crm_balance_day": ["day"]}
    engine.dispose()


# -- the memory adapter checks every row first, as the SQL one does --------------------


def test_memory_write_refuses_a_bad_row_before_storing_any() -> None:
    memory = InMemoryStore(clock=FixedClock(NOW))
    accounts = _book([memory], 5, customers=2)
    with memory.unit_of_work(HO) as uow:
        rows: list[Any] = [(accounts[0].id, D(2024, 6, 3), 1), (accounts[1].id, D(2024, 6, 3), 1.5)]
        with pytest.raises(TypeError):
            uow.balances.write(rows)
        assert uow.balances.count() == 0
