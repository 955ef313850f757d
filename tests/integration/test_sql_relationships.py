"""The SQL side of the relationship graph, beyond the group contract: every graph query
against the in-memory adapter on random graphs (cross-holdings, cycles of non-acyclic
types), one statement per query, the query plans, the bulk paths, storage formats, an
unknown type in storage, concurrent writers on PostgreSQL, and the 0003 migration.

Every test that takes ``store`` runs on SQLite (a file) and on PostgreSQL (its id then
contains "postgres"; FINANCE_CRM_TEST_POSTGRES_URL, required in CI).
"""

from __future__ import annotations

import datetime
import itertools
import random
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pendulum
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import event

import finance_crm
from finance_crm.adapters.memory import InMemoryStore
from finance_crm.adapters.sql import SqlStore
from finance_crm.adapters.sql.rows import (
    share_from_millionths,
    share_millionths,
)
from finance_crm.adapters.sql.schema import _config, current_revision
from finance_crm.clock import FixedClock
from finance_crm.errors import (
    BusinessRuleViolation,
    ConflictError,
    CrmError,
    DuplicateError,
    NotFoundError,
    PermissionDenied,
    StorageError,
    ValidationError,
)
from finance_crm.ids import CustomerId, PartyId, RelationshipId
from finance_crm.model.relationships import (
    STANDARD_RELATIONSHIP_TYPES,
    Direction,
    Party,
    Relationship,
    RelationshipCategory,
    RelationshipType,
)
from finance_crm.money import Currency, Money
from finance_crm.ports import UnitOfWork
from finance_crm.security import Actor
from finance_crm.testing.postgres import skip_or_fail_without_postgres, throwaway_database

HO = Actor("ho-admin", roles=frozenset({"head_office"}))
STRANGER = Actor("stranger")  # no staff record: an empty scope
NOW = pendulum.datetime(2025, 6, 2, 1, tz="UTC")
TYPES = STANDARD_RELATIONSHIP_TYPES
D = datetime.date
TABLES = "crm_relationship, crm_party, crm_outbox, crm_audit_log"
DAYS = (D(2020, 1, 1), D(2021, 6, 1), D(2022, 1, 1), D(2023, 3, 15), D(2024, 7, 1))
QUERY_DAYS = (D(2019, 12, 31), D(2020, 1, 1), D(2021, 6, 1), D(2022, 6, 1), D(2025, 1, 1))
SHARES = ("0.5", "5", "10", "12.5", "33.3333", "40", "51")
OWNERSHIP = frozenset({"shareholding"})
TYPE_SETS: tuple[frozenset[str], ...] = (
    OWNERSHIP,
    TYPES.group_links,
    TYPES.tree_links,
    frozenset({"supplier"}),
    frozenset({"supplier", "guarantee", "spouse"}),
    frozenset(t.code for t in TYPES),
    frozenset(),
)


# -- stores ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_engine() -> Iterator[sa.Engine]:
    admin_url = skip_or_fail_without_postgres()
    with throwaway_database(admin_url, prefix="finance_crm_groups") as url:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        finance_crm.upgrade_schema(engine)
        yield engine
        engine.dispose()


def _make_store(request: pytest.FixtureRequest, tmp_path: Path, **options: Any) -> SqlStore:
    options.setdefault("clock", FixedClock(NOW))
    if request.param == "sqlite":
        store = SqlStore.from_url(f"sqlite:///{tmp_path / 'crm.db'}", **options)
        store.upgrade_schema()
        request.addfinalizer(store.close)
        return store
    engine: sa.Engine = request.getfixturevalue("postgres_engine")
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY")
    return SqlStore(engine, **options)


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
        self.seen: list[str] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on:
            self.seen.append(statement)

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
        return [s for s in self.seen if not s.lstrip().upper().startswith(control)]


@pytest.fixture
def statements(store: SqlStore) -> Iterator[Statements]:
    recorder = Statements(_engine(store))
    yield recorder
    recorder.close()


# -- random graphs, built in both adapters --------------------------------------------------


def _outcome(action: Any) -> tuple[type[CrmError], str] | None:
    try:
        action()
    except CrmError as exc:
        return type(exc), str(exc)
    return None


def _random_relationship(rnd: random.Random, ids: list[PartyId]) -> Relationship:
    source, target = rnd.sample(ids, 2)
    code = rnd.choice(
        [
            "shareholding",
            "shareholding",
            "shareholding",
            "direct_parent",
            "direct_parent",
            "actual_control",
            "ultimate_parent",
            "supplier",
            "supplier",
            "guarantee",
            "spouse",
        ]
    )
    start = rnd.randrange(len(DAYS))
    valid_from = DAYS[start]
    later = DAYS[start + 1 :]
    valid_to = rnd.choice([None, None, *later]) if later else None
    kind = TYPES.get(code)
    return Relationship.record(
        kind,
        source,
        target,
        valid_from=valid_from,
        valid_to=valid_to,
        share=rnd.choice(SHARES) if kind.carries_share else None,
        amount=Money(Decimal(rnd.randrange(1, 10**8)) / 100, "CNY")
        if kind.carries_amount
        else None,
        reference=rnd.choice([None, f"contract {rnd.randrange(1000)}"]),
    )


@attrs.frozen
class Graph:
    parties: list[PartyId]
    refused: int


def _build_both(
    memory: InMemoryStore, store: SqlStore, *, seed: int, parties: int, attempts: int
) -> Graph:
    """The same random graph in both stores, added one by one: every outcome (stored, or
    the error and its message) must agree. Some relationships are ended afterwards."""
    rnd = random.Random(seed)
    made = [
        Party.organization(f"Company {n}") if n % 3 else Party.person(f"Person {n}")
        for n in range(parties)
    ]
    ids = [p.id for p in made]
    refused = 0
    with memory.unit_of_work(HO) as mem, store.unit_of_work(HO) as sql:
        mem.parties.add_many(made)
        sql.parties.add_many(made)
        stored: list[Relationship] = []
        for _ in range(attempts):
            new = _random_relationship(rnd, ids)
            expected = _outcome(lambda: mem.relationships.add(new))  # noqa: B023
            assert _outcome(lambda: sql.relationships.add(new)) == expected  # noqa: B023
            if expected is None:
                stored.append(new)
            else:
                refused += 1
        for old in rnd.sample(stored, len(stored) // 5):
            current = mem.relationships.get(old.id)
            assert sql.relationships.get(old.id) == current
            later = [d for d in DAYS if d > current.valid_from]
            if current.valid_to is not None or not later:
                continue
            ended, events = current.ended(rnd.choice(later), NOW)
            assert mem.relationships.update(ended, events) == sql.relationships.update(
                ended, events
            )
        mem.commit()
        sql.commit()
    return Graph(ids, refused)


def _compare_queries(
    mem: UnitOfWork, sql: UnitOfWork, ids: list[PartyId], rnd: random.Random
) -> int:
    """Every graph query, asked of both adapters; returns how many were compared."""
    asked = 0
    starts = rnd.sample(ids, min(8, len(ids)))
    for start in starts:
        for at in QUERY_DAYS:
            for types in TYPE_SETS:
                for direction in Direction:
                    walk = {"at": at, "types": types, "direction": direction}
                    assert sql.relationships.reach(start, **walk) == mem.relationships.reach(
                        start, **walk
                    ), (start, walk)
                    for hops in (1, 2, 5):
                        assert sql.relationships.reach(
                            start, max_hops=hops, **walk
                        ) == mem.relationships.reach(start, max_hops=hops, **walk), (hops, walk)
                    for depth in (1, 3, 64):
                        assert sql.relationships.tree(
                            start, max_depth=depth, **walk
                        ) == mem.relationships.tree(start, max_depth=depth, **walk), (depth, walk)
                    asked += 7
            for direction in Direction:
                assert sql.relationships.of_party(
                    start, at=at, direction=direction
                ) == mem.relationships.of_party(start, at=at, direction=direction)
                assert sql.relationships.of_party(
                    start, types=OWNERSHIP, direction=direction
                ) == mem.relationships.of_party(start, types=OWNERSHIP, direction=direction)
                asked += 2
    for start in starts[:4]:
        for end in [*starts[4:], start]:
            for at in QUERY_DAYS[1:4]:
                for types in (OWNERSHIP, TYPES.group_links, frozenset({"supplier", "spouse"})):
                    for direction in Direction:
                        for length in (1, 2, 4):
                            walk = {"at": at, "types": types, "direction": direction}
                            expected = mem.relationships.paths(
                                start, end, max_length=length, **walk
                            )
                            found = sql.relationships.paths(start, end, max_length=length, **walk)
                            assert found == expected, (start == end, length, walk)
                            asked += 1
    return asked


class TestSameAnswersAsMemory:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_random_graphs(self, store: SqlStore, seed: int) -> None:
        memory = InMemoryStore(clock=FixedClock(NOW))
        graph = _build_both(memory, store, seed=seed, parties=14, attempts=90)
        assert graph.refused > 0  # the rules were exercised (over 100%, cycles)
        with memory.unit_of_work(HO) as mem, store.unit_of_work(HO, read_only=True) as sql:
            assert sql.relationships.count() == mem.relationships.count()
            assert sql.parties.count() == mem.parties.count() == 14
            assert _compare_queries(mem, sql, graph.parties, random.Random(seed)) > 1000

    def test_a_dense_graph_with_cycles_and_cross_holdings(self, store: SqlStore) -> None:
        memory = InMemoryStore(clock=FixedClock(NOW))
        graph = _build_both(memory, store, seed=7, parties=6, attempts=60)
        with memory.unit_of_work(HO) as mem, store.unit_of_work(HO, read_only=True) as sql:
            _compare_queries(mem, sql, graph.parties, random.Random(7))
            # The supplier links of six parties are bound to form cycles: the walks end.
            assert any(
                mem.relationships.paths(
                    p, p, at=QUERY_DAYS[2], types={"supplier"}, direction=Direction.DOWN
                ).paths
                for p in graph.parties
            )

    def test_batches_succeed_and_fail_as_in_memory(self, store: SqlStore) -> None:
        rnd = random.Random(11)
        memory = InMemoryStore(clock=FixedClock(NOW))
        made = _orgs(10)
        ids = [p.id for p in made]
        outcomes = []
        with memory.unit_of_work(HO) as mem, store.unit_of_work(HO) as sql:
            mem.parties.add_many(made)
            sql.parties.add_many(made)
            for _ in range(40):
                batch = [_random_relationship(rnd, ids) for _ in range(rnd.randrange(1, 8))]
                expected = _outcome(lambda: mem.relationships.add_many(batch))  # noqa: B023
                assert _outcome(lambda: sql.relationships.add_many(batch)) == expected  # noqa: B023
                assert sql.relationships.count() == mem.relationships.count()
                outcomes.append(expected is None)
            walk = {"at": DAYS[2], "types": TYPES.group_links, "direction": Direction.BOTH}
            assert sql.relationships.reach(ids[0], **walk) == mem.relationships.reach(
                ids[0], **walk
            )
        assert any(outcomes) and not all(outcomes)

    def test_the_audit_and_outbox_match_memory(self, store: SqlStore) -> None:
        memory = InMemoryStore(clock=FixedClock(NOW))
        _build_both(memory, store, seed=5, parties=8, attempts=30)
        with memory.unit_of_work(HO) as mem, store.unit_of_work(HO, read_only=True) as sql:
            mine = [
                (e.action, e.entity_id, e.entity_version, e.changes) for e in sql.audit.entries()
            ]
            theirs = [
                (e.action, e.entity_id, e.entity_version, e.changes) for e in mem.audit.entries()
            ]
            assert mine == theirs
            assert [(m.event_type, m.aggregate_id) for m in sql.outbox.pending()] == [
                (m.event_type, m.aggregate_id) for m in mem.outbox.pending()
            ]


# -- one statement per query, and its plan --------------------------------------------------


def _chain(store: SqlStore, length: int, code: str = "direct_parent") -> list[PartyId]:
    """Parties 0..length linked 0 -> 1 -> ... by ``code`` (and a supplier ring)."""
    made = [Party.organization(f"Chain {n}") for n in range(length + 1)]
    kind = TYPES.get(code)
    links = [
        Relationship.record(
            kind,
            a.id,
            b.id,
            valid_from=DAYS[0],
            share="60" if kind.carries_share else None,
        )
        for a, b in itertools.pairwise(made)
    ]
    ring = [
        Relationship.record(TYPES.get("supplier"), a.id, b.id, valid_from=DAYS[0])
        for a, b in zip(made, [*made[1:], made[0]], strict=True)
    ]
    with store.unit_of_work(HO) as uow:
        uow.parties.add_many(made)
        uow.relationships.add_many([*links, *ring])
        uow.commit()
    return [p.id for p in made]


class TestStatements:
    def test_every_graph_query_is_one_statement(
        self, store: SqlStore, statements: Statements
    ) -> None:
        ids = _chain(store, 6)
        at = DAYS[1]
        with store.unit_of_work(HO, read_only=True) as uow:
            rs = uow.relationships
            queries = [
                lambda: rs.reach(ids[0], at=at, types=TYPES.group_links, direction=Direction.DOWN),
                lambda: rs.reach(ids[3], at=at, types={"supplier"}, direction=Direction.BOTH),
                lambda: rs.reach(
                    ids[3], at=at, types={"supplier"}, direction=Direction.UP, max_hops=3
                ),
                lambda: rs.tree(ids[0], at=at, types=TYPES.tree_links),
                lambda: rs.tree(ids[2], at=at, types={"supplier"}, direction=Direction.BOTH),
                lambda: rs.paths(
                    ids[0], ids[4], at=at, types={"supplier"}, direction=Direction.BOTH
                ),
                lambda: rs.paths(
                    ids[0], ids[0], at=at, types={"supplier"}, direction=Direction.DOWN
                ),
            ]
            for query in queries:
                with statements:
                    result = query()
                assert result
                assert len(statements.data()) == 1
                assert "RECURSIVE" in statements.data()[0]

    def test_the_rules_inside_add_are_single_statements(
        self, store: SqlStore, statements: Statements
    ) -> None:
        ids = _chain(store, 4)
        with store.unit_of_work(HO) as uow:
            with statements, pytest.raises(BusinessRuleViolation, match="cycle"):
                uow.relationships.add(
                    Relationship.record(
                        TYPES.get("actual_control"), ids[4], ids[0], valid_from=DAYS[2]
                    )
                )
            recursive = [s for s in statements.data() if "RECURSIVE" in s]
            assert len(recursive) == 1
            with statements:
                uow.relationships.add(
                    Relationship.record(
                        TYPES.get("shareholding"), ids[4], ids[0], valid_from=DAYS[2], share=60
                    )
                )
            # a shareholding needs the target's holdings, no walk
            assert not [s for s in statements.data() if "RECURSIVE" in s]
            holdings = [s for s in statements.data() if "crm_relationship.target IN" in s]
            assert len(holdings) == 1


class TestSqlitePlans:
    """EXPLAIN QUERY PLAN of the statements as the repository builds them."""

    @pytest.fixture
    def plans(self, sqlite_store: SqlStore) -> Iterator[list[str]]:
        lines: list[str] = []
        engine = _engine(sqlite_store)

        def explain(
            conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
        ) -> tuple[str, Any]:
            if "RECURSIVE" in statement:
                cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
                lines.extend(str(r[3]) for r in cursor.fetchall())
            return statement, params

        event.listen(engine, "before_cursor_execute", explain, retval=True)
        yield lines
        event.remove(engine, "before_cursor_execute", explain)

    @pytest.mark.parametrize("direction", list(Direction))
    def test_every_step_reads_a_covering_index(
        self, sqlite_store: SqlStore, plans: list[str], direction: Direction
    ) -> None:
        ids = _chain(sqlite_store, 3)
        walk = {"at": DAYS[1], "types": {"supplier"}, "direction": direction}
        with sqlite_store.unit_of_work(HO, read_only=True) as uow:
            rs = uow.relationships
            rs.reach(ids[0], **walk)
            rs.reach(ids[0], max_hops=2, **walk)
            rs.tree(ids[0], **walk)
            rs.paths(ids[0], ids[2], **walk)
        searches = [line for line in plans if "crm_relationship" in line or " r " in line]
        assert plans and searches
        for line in plans:
            # never a scan of the relationships: every step is an index search
            assert not line.startswith(("SCAN r", "SCAN t", "SCAN crm_relationship")), line
            if line.startswith(("SEARCH r ", "SEARCH t ")):
                assert "USING COVERING INDEX ix_crm_relationship_" in line, line
        expected = {
            Direction.DOWN: ["ix_crm_relationship_down"],
            Direction.UP: ["ix_crm_relationship_up"],
            Direction.BOTH: ["ix_crm_relationship_down", "ix_crm_relationship_up"],
        }[direction]
        for index in expected:
            assert any(index in line and line.startswith("SEARCH r ") for line in plans)
        # the tree finds each party's parents one level up through an index, not a scan
        assert any("AUTOMATIC COVERING INDEX (party=? AND depth=?)" in line for line in plans)

    def test_the_cycle_check_walks_the_down_index(
        self, sqlite_store: SqlStore, plans: list[str]
    ) -> None:
        ids = _chain(sqlite_store, 3)
        with sqlite_store.unit_of_work(HO) as uow:
            uow.relationships.add(
                Relationship.record(TYPES.get("actual_control"), ids[0], ids[3], valid_from=DAYS[1])
            )
        assert any(
            line.startswith("SEARCH r USING COVERING INDEX ix_crm_relationship_down")
            for line in plans
        )
        assert not any(line.startswith("SCAN r") for line in plans)


# -- writes ---------------------------------------------------------------------------------


def _orgs(n: int, prefix: str = "Org") -> list[Party]:
    return [Party.organization(f"{prefix} {i}") for i in range(n)]


class TestBulk:
    def test_parties_in_few_statements(self, store: SqlStore, statements: Statements) -> None:
        made = [
            Party.organization(f"Org {i}", customer_id=CustomerId(uuid.uuid4()))
            if i % 2
            else Party.person(f"Person {i}")
            for i in range(2500)
        ]
        with store.unit_of_work(HO) as uow:
            with statements:
                uow.parties.add_many(made)
            inserts = [s for s in statements.data() if s.startswith("INSERT INTO crm_party")]
            assert len(inserts) == 3  # 1,000 rows per executemany
            assert len(statements.data()) <= 20
            uow.commit()
        with store.unit_of_work(HO, read_only=True) as uow:
            assert uow.parties.count() == 2500
            assert uow.parties.get_many([p.id for p in made[:700]]) == {
                p.id: attrs.evolve(p, version=1) for p in made[:700]
            }
            audit = uow.audit.entries(limit=5000)
            assert len(audit) == 2500 and {e.action for e in audit} == {"party.registered"}
            assert len(uow.outbox.pending(limit=5000)) == 2500
            # a person's name is masked in the audit, a company's is not
            assert audit[0].changes["name"]["after"] != made[0].name
            assert audit[1].changes["name"]["after"] == made[1].name

    def test_plain_relationships_need_no_graph_query(
        self, store: SqlStore, statements: Statements
    ) -> None:
        made = _orgs(300)
        rnd = random.Random(3)
        links = []
        for _ in range(2400):
            a, b = rnd.sample(made, 2)
            links.append(Relationship.record(TYPES.get("supplier"), a.id, b.id, valid_from=DAYS[0]))
        with store.unit_of_work(HO) as uow:
            uow.parties.add_many(made)
            with statements:
                uow.relationships.add_many(links)
            data = statements.data()
            assert not [s for s in data if "RECURSIVE" in s or "advisory" in s]
            assert len([s for s in data if s.startswith("INSERT INTO crm_relationship")]) == 3
            assert len(data) <= 20
            uow.commit()
        with store.unit_of_work(HO, read_only=True) as uow:
            assert uow.relationships.count() == 2400

    def test_acyclic_links_are_checked_together(
        self, store: SqlStore, statements: Statements
    ) -> None:
        made = _orgs(1201)
        rnd = random.Random(5)
        forest = [
            Relationship.record(
                TYPES.get("direct_parent"),
                made[rnd.randrange(max(0, i - 20), i)].id,
                made[i].id,
                valid_from=DAYS[0],
            )
            for i in range(1, len(made))
        ]
        with store.unit_of_work(HO) as uow:
            uow.parties.add_many(made)
            with statements:
                uow.relationships.add_many(forest)
            recursive = [s for s in statements.data() if "RECURSIVE" in s]
            assert len(recursive) == 3  # one cycle query per 500 acyclic links
            assert len(statements.data()) <= 20
            # one that closes a cycle makes the batch go one by one: the right error
            closing = Relationship.record(
                TYPES.get("actual_control"), made[-1].id, made[0].id, valid_from=DAYS[1]
            )
            with pytest.raises(BusinessRuleViolation, match="actual_control link would close"):
                uow.relationships.add_many([closing])
            with pytest.raises(BusinessRuleViolation, match="actual_control link would close"):
                uow.relationships.add_many(
                    [
                        Relationship.record(
                            TYPES.get("direct_parent"), made[5].id, made[7].id, valid_from=DAYS[3]
                        ),
                        closing,
                    ]
                )
            assert uow.relationships.count() == 1200
            uow.commit()

    def test_later_relationships_are_checked_against_earlier_ones(self, store: SqlStore) -> None:
        a, b, c, d = _orgs(4)
        shareholding, parent = TYPES.get("shareholding"), TYPES.get("direct_parent")
        with store.unit_of_work(HO) as uow:
            uow.parties.add_many([a, b, c, d])
            uow.commit()

        def attempt(batch: list[Relationship]) -> None:
            with store.unit_of_work(HO) as uow:
                try:
                    uow.relationships.add_many(batch)
                finally:
                    # all or nothing: nothing of a refused batch stays, the unit of work
                    # is still usable
                    assert uow.relationships.count() in (0, len(batch))
                    uow.parties.add(Party.organization("still usable"))

        with pytest.raises(BusinessRuleViolation, match=r"100\.0001% on 2022-01-01"):
            attempt(
                [
                    Relationship.record(shareholding, a.id, d.id, valid_from=DAYS[0], share="40"),
                    Relationship.record(parent, a.id, b.id, valid_from=DAYS[0]),
                    Relationship.record(
                        shareholding, b.id, d.id, valid_from=DAYS[2], share="60.0001"
                    ),
                ]
            )
        with pytest.raises(BusinessRuleViolation, match="cycle"):
            attempt(
                [
                    Relationship.record(parent, a.id, b.id, valid_from=DAYS[0]),
                    Relationship.record(TYPES.get("supplier"), c.id, a.id, valid_from=DAYS[0]),
                    Relationship.record(parent, b.id, c.id, valid_from=DAYS[0]),
                    Relationship.record(
                        TYPES.get("actual_control"), c.id, a.id, valid_from=DAYS[3]
                    ),
                ]
            )
        twice = Relationship.record(parent, a.id, b.id, valid_from=DAYS[0])
        with pytest.raises(DuplicateError, match="already stored"):
            attempt([twice, twice])
        with store.unit_of_work(HO, read_only=True) as uow:
            assert uow.relationships.count() == 0
        # periods that never overlap close no cycle; exactly 100% is allowed
        fine = [
            Relationship.record(parent, a.id, b.id, valid_from=DAYS[0], valid_to=DAYS[2]),
            Relationship.record(parent, b.id, a.id, valid_from=DAYS[2]),
            Relationship.record(shareholding, a.id, d.id, valid_from=DAYS[0], share="33.3333"),
            Relationship.record(shareholding, b.id, d.id, valid_from=DAYS[0], share="33.3333"),
            Relationship.record(shareholding, c.id, d.id, valid_from=DAYS[0], share="33.3334"),
        ]
        with store.unit_of_work(HO) as uow:
            uow.relationships.add_many(fine)
            uow.commit()
        with store.unit_of_work(HO) as uow:
            with pytest.raises(BusinessRuleViolation, match=r"100\.0001%"):
                uow.relationships.add(
                    Relationship.record(
                        shareholding, b.id, d.id, valid_from=DAYS[4], share="0.0001"
                    )
                )
            # after the first holding ends, there is room again
            first = uow.relationships.get(fine[2].id)
            uow.relationships.update(*first.ended(DAYS[4], NOW))
            uow.relationships.add(
                Relationship.record(shareholding, b.id, d.id, valid_from=DAYS[4], share="33.3333")
            )
            uow.commit()


class TestRows:
    def test_round_trip_and_storage_formats(self, store: SqlStore) -> None:
        a, b = (
            Party.organization(
                "华东控股集团有限公司",
                lei="529900T8BM49AURSDO55",
                registration_number="91310000MA1FL1234X",
                country="CN",
                customer_id=CustomerId(uuid.uuid4()),
            ),
            Party.person("张三", country="CN"),
        )
        records = [
            Relationship.record(
                TYPES.get("shareholding"), b.id, a.id, valid_from=DAYS[0], share="33.3333"
            ),
            Relationship.record(
                TYPES.get("shareholding"), a.id, b.id, valid_from=DAYS[0], share="0.0001"
            ),
            Relationship.record(
                TYPES.get("guarantee"),
                a.id,
                b.id,
                valid_from=DAYS[1],
                valid_to=DAYS[3],
                amount=Money.of("12345678901234.56", "CNY"),
                reference="担保合同 2021-001",
            ),
            Relationship.record(
                TYPES.get("guarantee"), b.id, a.id, valid_from=DAYS[1], amount=Money(5, "JPY")
            ),
            Relationship.record(
                TYPES.get("guarantee"),
                b.id,
                a.id,
                valid_from=DAYS[1],
                amount=Money.of("1.234", "KWD"),
            ),
        ]
        with store.unit_of_work(HO) as uow:
            uow.parties.add_many([a, b])
            stored = [uow.relationships.add(r) for r in records[:2]]
            uow.relationships.add_many(records[2:])
            uow.commit()
        assert [r.version for r in stored] == [1, 1]
        with store.unit_of_work(HO, read_only=True) as uow:
            assert uow.parties.get(a.id) == attrs.evolve(a, version=1)
            assert uow.parties.find_by_lei(a.lei or "") == attrs.evolve(a, version=1)
            assert uow.parties.find_by_customer(a.customer_id) == attrs.evolve(a, version=1)  # type: ignore[arg-type]
            assert uow.parties.ids_by_lei([a.lei or "", "5299000000000000000X"]) == {a.lei: a.id}
            for record in records:
                back = uow.relationships.get(record.id)
                assert back == attrs.evolve(record, version=1)
                assert str(back.share) == str(record.share)
        with _engine(store).connect() as connection:
            rows = {
                str(r[0]).replace("-", ""): r[1:]
                for r in connection.exec_driver_sql(
                    "SELECT id, share_millionths, amount_minor, currency FROM crm_relationship"
                )
            }
        assert rows[records[0].id.hex] == (333333, None, None)
        assert rows[records[1].id.hex] == (1, None, None)
        assert rows[records[2].id.hex] == (None, 1234567890123456, "CNY")
        assert rows[records[3].id.hex] == (None, 5, "JPY")
        assert rows[records[4].id.hex] == (None, 1234, "KWD")

    def test_shares_are_exact_integers(self) -> None:
        for text, millionths in [("100", 1_000_000), ("0.0001", 1), ("51.5", 515_000)]:
            assert share_millionths(Decimal(text)) == millionths
            assert str(share_from_millionths(millionths)) == text

    def test_amounts_that_cannot_be_stored_are_refused(self, store: SqlStore) -> None:
        a, b = _orgs(2)
        odd = Currency("XTS", 2)  # not ISO 4217 as stored: its code would lose it
        with store.unit_of_work(HO) as uow:
            uow.parties.add_many([a, b])
            for amount in (Money(1, odd), Money(10**19, "CNY")):
                with pytest.raises(ValidationError, match=r"\$\.amount"):
                    uow.relationships.add(
                        Relationship.record(
                            TYPES.get("guarantee"), a.id, b.id, valid_from=DAYS[0], amount=amount
                        )
                    )
            assert uow.relationships.count() == 0

    def test_a_type_the_registry_lacks(self, store: SqlStore) -> None:
        pledge = RelationshipType(
            code="share_pledge",
            name="Share pledge",
            source_role="pledgor",
            target_role="pledgee",
            category=RelationshipCategory.OTHER,
        )
        wider = SqlStore(store.bind, relationship_types=TYPES.with_types(pledge))
        a, b = _orgs(2)
        link = Relationship.record(pledge, a.id, b.id, valid_from=DAYS[0])
        with store.unit_of_work(HO) as uow:
            uow.parties.add_many([a, b])
            with pytest.raises(ValidationError, match="register yours"):
                uow.relationships.add(link)
            uow.commit()
        with wider.unit_of_work(HO) as uow:
            assert uow.relationship_types.get("share_pledge") == pledge
            uow.relationships.add(link)
            uow.commit()
        with wider.unit_of_work(HO, read_only=True) as uow:
            assert uow.relationships.get(link.id) == attrs.evolve(link, version=1)
        with store.unit_of_work(HO, read_only=True) as uow:
            with pytest.raises(StorageError, match="relationship_types="):
                uow.relationships.get(link.id)
            with pytest.raises(StorageError, match="share_pledge"):
                uow.relationships.of_party(a.id)
            # the walks name types by code: they still answer
            walk = {"at": DAYS[1], "types": {"share_pledge"}, "direction": Direction.DOWN}
            assert [r.party_id for r in uow.relationships.reach(a.id, **walk)] == sorted(
                [a.id, b.id], key=lambda i: i != a.id
            )
        with pytest.raises(ValidationError, match="relationship_types"):
            SqlStore(store.bind, relationship_types=[pledge])  # type: ignore[arg-type]

    def test_versions_keys_and_scope(self, store: SqlStore) -> None:
        customer = CustomerId(uuid.uuid4())
        a = Party.organization("A", customer_id=customer, lei="529900T8BM49AURSDO55")
        b = Party.organization("B")
        with store.unit_of_work(HO) as uow:
            uow.parties.add_many([a, b])
            uow.relationships.add(
                Relationship.record(TYPES.get("direct_parent"), a.id, b.id, valid_from=DAYS[0])
            )
            uow.commit()
        with store.unit_of_work(HO) as uow:
            with pytest.raises(DuplicateError, match="find_by_customer"):
                uow.parties.add(Party.organization("again", customer_id=customer))
            with pytest.raises(DuplicateError, match="find_by_lei"):
                uow.parties.add_many([Party.organization("C"), Party.organization("D", lei=a.lei)])
            with pytest.raises(DuplicateError, match="find_by_lei"):
                uow.parties.update(*uow.parties.get(b.id).revised(NOW, lei=a.lei))
            assert uow.parties.count() == 2
        # what another unit of work read before this one changed it (read-only: SQLite
        # has one writer at a time)
        with store.unit_of_work(HO, read_only=True) as reader:
            stale_party = reader.parties.get(a.id)
            (stale_link,) = reader.relationships.of_party(a.id)
        with store.unit_of_work(HO) as uow:
            renamed = uow.parties.update(*stale_party.revised(NOW, name="A Holdings"))
            assert renamed.version == 2
            (link,) = uow.relationships.of_party(a.id)
            uow.relationships.update(*link.ended(DAYS[3], NOW))
            uow.commit()
        with store.unit_of_work(HO) as uow:
            with pytest.raises(ConflictError, match="changed by someone else"):
                uow.parties.update(*stale_party.revised(NOW, country="HK"))
            with pytest.raises(ConflictError, match="changed by someone else"):
                uow.relationships.update(*stale_link.ended(DAYS[2], NOW))
        with store.unit_of_work(HO, read_only=True) as uow:
            (link,) = uow.relationships.of_party(b.id, direction=Direction.UP)
            assert (link.valid_to, link.version) == (DAYS[3], 2)
            assert [e.action for e in uow.audit.entries(entity_id=str(link.id))] == [
                "relationship.recorded",
                "relationship.ended",
            ]
            assert [m.event_type for m in uow.outbox.pending()][-2:] == [
                "PartyRevised",
                "RelationshipEnded",
            ]
        with store.unit_of_work(STRANGER) as uow:
            assert uow.parties.get(a.id).name == "A Holdings"  # reads are not scoped
            with pytest.raises(PermissionDenied, match="scope is empty"):
                uow.parties.add(Party.organization("E"))
            with pytest.raises(PermissionDenied, match="scope is empty"):
                uow.relationships.add(
                    Relationship.record(TYPES.get("supplier"), a.id, b.id, valid_from=DAYS[0])
                )
            with pytest.raises(NotFoundError, match="source party"):
                uow.relationships.add(
                    Relationship.record(
                        TYPES.get("supplier"), PartyId(uuid.uuid4()), b.id, valid_from=DAYS[0]
                    )
                )
        with store.unit_of_work(HO, read_only=True) as uow:
            assert uow.parties.find(uuid.uuid4()) is None  # type: ignore[arg-type]
            assert uow.parties.find("nope") is None  # type: ignore[arg-type]
            with pytest.raises(NotFoundError):
                uow.relationships.get(RelationshipId(uuid.uuid4()))
            with pytest.raises(ValidationError, match=r"\$\.start"):
                uow.relationships.reach(
                    "nope",  # type: ignore[arg-type]
                    at=DAYS[0],
                    types=OWNERSHIP,
                    direction=Direction.UP,
                )


# -- concurrency (PostgreSQL) ---------------------------------------------------------------


def _race(store: SqlStore, first: Relationship, second: Relationship) -> list[str]:
    """``first`` is added and held uncommitted while ``second`` is tried in another
    transaction; then the first commits. Returns what happened to each."""
    outcomes: list[str] = ["", ""]
    added = threading.Event()

    def one() -> None:
        with store.unit_of_work(HO) as uow:
            uow.relationships.add(first)
            added.set()
            # the other writer is waiting on the graph lock meanwhile
            threading.Event().wait(0.5)
            uow.commit()
            outcomes[0] = "stored"

    def two() -> None:
        added.wait(10)
        with store.unit_of_work(HO) as uow:
            try:
                uow.relationships.add(second)
                uow.commit()
                outcomes[1] = "stored"
            except (BusinessRuleViolation, ConflictError) as exc:
                outcomes[1] = type(exc).__name__

    threads = [threading.Thread(target=one), threading.Thread(target=two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


class TestPostgresConcurrency:
    def test_two_writers_cannot_close_a_cycle_together(self, postgres_store: SqlStore) -> None:
        a, b, c = _orgs(3)
        parent = TYPES.get("direct_parent")
        with postgres_store.unit_of_work(HO) as uow:
            uow.parties.add_many([a, b, c])
            uow.relationships.add(Relationship.record(parent, a.id, b.id, valid_from=DAYS[0]))
            uow.commit()
        outcomes = _race(
            postgres_store,
            Relationship.record(parent, b.id, c.id, valid_from=DAYS[0]),
            Relationship.record(TYPES.get("actual_control"), c.id, a.id, valid_from=DAYS[1]),
        )
        assert outcomes == ["stored", "BusinessRuleViolation"]
        with postgres_store.unit_of_work(HO, read_only=True) as uow:
            assert uow.relationships.count() == 2

    def test_two_writers_cannot_exceed_100_percent_together(self, postgres_store: SqlStore) -> None:
        a, b, c = _orgs(3)
        shareholding = TYPES.get("shareholding")
        with postgres_store.unit_of_work(HO) as uow:
            uow.parties.add_many([a, b, c])
            uow.commit()
        outcomes = _race(
            postgres_store,
            Relationship.record(shareholding, a.id, c.id, valid_from=DAYS[0], share="60"),
            Relationship.record(shareholding, b.id, c.id, valid_from=DAYS[1], share="50"),
        )
        assert outcomes == ["stored", "BusinessRuleViolation"]

    def test_plain_links_take_no_lock(self, postgres_store: SqlStore) -> None:
        a, b, c = _orgs(3)
        supplier = TYPES.get("supplier")
        with postgres_store.unit_of_work(HO) as uow:
            uow.parties.add_many([a, b, c])
            uow.commit()
        with postgres_store.unit_of_work(HO) as first, postgres_store.unit_of_work(HO) as second:
            first.relationships.add(Relationship.record(supplier, a.id, b.id, valid_from=DAYS[0]))
            # would wait forever on the lock (this thread holds it) if plain links took it
            second.relationships.add(Relationship.record(supplier, b.id, a.id, valid_from=DAYS[0]))
            first.commit()
            second.commit()


# -- the migration --------------------------------------------------------------------------


def test_migration_0003_downgrades_and_upgrades(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    finance_crm.upgrade_schema(engine)
    with engine.begin() as connection:
        command.downgrade(_config(connection), "0002")
        assert current_revision(connection) == "0002"
        assert "crm_relationship" not in sa.inspect(connection).get_table_names()
    finance_crm.upgrade_schema(engine)
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        assert {"crm_party", "crm_relationship"} <= set(inspector.get_table_names())
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("crm_relationship")}
        assert indexes["ix_crm_relationship_down"][:3] == ["source", "type", "valid_from"]
        assert indexes["ix_crm_relationship_up"][:3] == ["target", "type", "valid_from"]
    engine.dispose()
