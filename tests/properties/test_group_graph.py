"""Properties of the group-relationship graph on random graphs, on every store.

Each example registers up to 12 parties and plays up to 36 writes: relationships of
mixed types (shareholdings that may cross, control and consolidation links, guarantee
rings, family links, supply links) over random validity periods across four years, and
ends of relationships already stored. For every write the test predicts, with its own
brute-force check of the rules, whether the store accepts it and which error it raises
otherwise. Afterwards the store must

* hold exactly the accepted relationships, with the rules (direct shareholdings in a
  company at most 100%, no control or consolidation cycle) true on every day;
* answer ``of_party``, ``reach`` (closure and bounded), ``tree`` and ``paths`` for
  random dates, past ones included, as oracles written here do: closure by fixed-point
  iteration, fewest hops by Floyd-Warshall, simple paths by exhaustive depth-first
  search over the snapshot of the day;
* give a look-through (effective) ownership, summed over the simple shareholding paths,
  of at most 100%;
* return on every cycle and say how many it cut.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Collection, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import pendulum
import pytest
import sqlalchemy as sa
from hypothesis import event, given, settings
from hypothesis import strategies as st

from finance_crm.adapters.memory import InMemoryStore
from finance_crm.errors import BusinessRuleViolation, CrmError, NotFoundError
from finance_crm.ids import PartyId, RelationshipId
from finance_crm.model.relationships import (
    HUNDRED_PERCENT,
    STANDARD_RELATIONSHIP_TYPES,
    Direction,
    Party,
    Reached,
    Relationship,
    RelationshipCategory,
    TreeNode,
)
from finance_crm.money import Money
from finance_crm.ports import Store
from finance_crm.security import Actor
from finance_crm.services.groups import effective_ownership
from finance_crm.testing.postgres import skip_or_fail_without_postgres, throwaway_database

TYPES = STANDARD_RELATIONSHIP_TYPES
OPS = Actor("ho-1", roles=frozenset({"head_office"}))
AT = pendulum.datetime(2025, 6, 2, 9, tz="Asia/Shanghai")
BASE = datetime.date(2021, 1, 1)
QUARTER = 91
SHARE_CODES = frozenset({"shareholding"})
ACYCLIC = TYPES.acyclic
TYPE_SETS: dict[str, frozenset[str]] = {
    "ownership": SHARE_CODES,
    "group": TYPES.group_links,
    "tree": TYPES.tree_links,
    "guarantee": frozenset({"guarantee"}),
    "family": TYPES.codes(RelationshipCategory.FAMILY),
    "all": frozenset(t.code for t in TYPES),
}
CODES = [
    *["shareholding"] * 5,
    *["direct_parent"] * 2,
    *["actual_control"] * 2,
    "ultimate_parent",
    *["guarantee"] * 2,
    "spouse",
    "family_member",
    "supplier",
]
SHARES = ["5", "10", "12.5", "20", "25", "30", "33.3333", "40", "50", "60", "60", "75", "75", "100"]
DIRECTIONS = list(Direction)


def pid(n: int) -> PartyId:
    return PartyId(uuid.UUID(f"00000000-0000-7000-8000-{n:012x}"))


def rid(n: int) -> RelationshipId:
    return RelationshipId(uuid.UUID(f"00000000-0000-7000-9000-{n:012x}"))


# -- generating examples -------------------------------------------------------------


def day(quarter: int, offset: int) -> datetime.date:
    return BASE + datetime.timedelta(days=quarter * QUARTER + offset)


@attrs.frozen
class Add:
    code: str
    source: int
    target: int
    start: datetime.date
    end: datetime.date | None
    share: str


@attrs.frozen
class End:
    pick: int
    on: datetime.date


@attrs.frozen
class Example:
    parties: int
    ops: tuple[Add | End, ...]
    dates: tuple[datetime.date, ...]
    starts: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]


OFFSETS = st.sampled_from([0, 0, 0, 1, 45])


@st.composite
def examples(draw: st.DrawFn) -> Example:
    n = draw(st.integers(3, 12))
    # party n is never registered (an unknown party); it is drawn now and then
    party = st.sampled_from([*range(n)] * 6 + [n])
    # a few parties draw most links, so holdings pile up and chains form
    hot = st.integers(0, min(3, n - 1))
    adds = st.builds(
        lambda code, source, target, q, off, length, off2, share: Add(
            code,
            source,
            target if target != source else (source + 1) % n,
            day(q, off),
            None if length is None else day(q + length, off2),
            share,
        ),
        st.sampled_from(CODES) | st.just("shareholding") | st.sampled_from(sorted(ACYCLIC)),
        hot | party,
        hot | party,
        st.integers(0, 12),
        OFFSETS,
        st.none() | st.integers(1, 8),
        OFFSETS,
        st.sampled_from(SHARES),
    )
    ends = st.builds(End, st.integers(0, 60), st.builds(day, st.integers(0, 18), OFFSETS))
    ops = draw(st.lists(st.one_of(adds, adds, adds, ends), min_size=12, max_size=36))
    adds_seen = 0
    kept = []
    for op in ops:  # at most 30 relationships
        adds_seen += isinstance(op, Add)
        if isinstance(op, End) or adds_seen <= 30:
            kept.append(op)
    dates = draw(
        st.lists(
            st.builds(
                day, st.integers(4, 10) | st.integers(-1, 19), st.sampled_from([-1, 0, 1, 45])
            ),
            min_size=2,
            max_size=3,
        )
    )
    members = st.integers(0, n - 1)
    starts = draw(st.lists(members, min_size=1, max_size=3, unique=True))
    pairs = draw(st.lists(st.tuples(hot | members, hot | members), min_size=2, max_size=3))
    return Example(n, tuple(kept), tuple(dates), tuple(starts), tuple(pairs))


def relationship(number: int, op: Add) -> Relationship:
    kind = TYPES.get(op.code)
    return Relationship(
        id=rid(number),
        type=kind,
        source=pid(op.source),
        target=pid(op.target),
        valid_from=op.start,
        valid_to=op.end,
        share=Decimal(op.share) if kind.carries_share else None,
        amount=Money(Decimal("1000.00"), "CNY") if kind.carries_amount else None,
    )


# -- the independent checks ----------------------------------------------------------


def boundaries(relationships: Collection[Relationship]) -> set[datetime.date]:
    """Every day on which some relationship starts or stops: between two of them the
    graph stays the same."""
    days = {r.valid_from for r in relationships}
    return days | {r.valid_to for r in relationships if r.valid_to is not None}


def share_totals_ok(
    relationships: Collection[Relationship], days: Collection[datetime.date]
) -> bool:
    for d in days:
        totals: dict[PartyId, Decimal] = {}
        for r in relationships:
            if r.type.carries_share and r.active_on(d):
                assert r.share is not None
                totals[r.target] = totals.get(r.target, Decimal(0)) + r.share
        if any(total > HUNDRED_PERCENT for total in totals.values()):
            return False
    return True


def acyclic_ok(relationships: Collection[Relationship], days: Collection[datetime.date]) -> bool:
    """Kahn's algorithm on the control and consolidation links of each day."""
    for d in days:
        edges = [
            (r.source, r.target) for r in relationships if r.type.code in ACYCLIC and r.active_on(d)
        ]
        nodes = {p for e in edges for p in e}
        indegree = dict.fromkeys(nodes, 0)
        for _, t in edges:
            indegree[t] += 1
        ready = [p for p in nodes if indegree[p] == 0]
        removed = 0
        while ready:
            p = ready.pop()
            removed += 1
            for s, t in edges:
                if s == p:
                    indegree[t] -= 1
                    if indegree[t] == 0:
                        ready.append(t)
        if removed != len(nodes):
            return False
    return True


def predict_add(
    stored: Collection[Relationship], new: Relationship, parties: Collection[PartyId]
) -> type[CrmError] | None:
    if new.source not in parties or new.target not in parties:
        return NotFoundError
    after = [*stored, new]
    days = {d for d in boundaries(after) | {new.valid_from} if new.active_on(d)}
    if new.type.carries_share and not share_totals_ok(after, days):
        return BusinessRuleViolation
    if new.type.code in ACYCLIC and not acyclic_ok(after, days):
        return BusinessRuleViolation
    return None


Edge = tuple[PartyId, PartyId, RelationshipId]  # from, to (in walking order), relationship


def walk_edges(
    relationships: Collection[Relationship],
    at: datetime.date,
    types: Collection[str],
    direction: Direction,
) -> list[Edge]:
    edges: list[Edge] = []
    for r in relationships:
        if r.type.code in types and r.active_on(at):
            if direction in (Direction.DOWN, Direction.BOTH):
                edges.append((r.source, r.target, r.id))
            if direction in (Direction.UP, Direction.BOTH):
                edges.append((r.target, r.source, r.id))
    return edges


def closure(start: PartyId, edges: Sequence[Edge]) -> set[PartyId]:
    reached = {start}
    while True:
        grown = reached | {b for a, b, _ in edges if a in reached}
        if grown == reached:
            return reached
        reached = grown


def fewest_hops(
    nodes: Sequence[PartyId], edges: Sequence[Edge]
) -> dict[tuple[PartyId, PartyId], int]:
    """Floyd-Warshall over unit-length edges (a missing pair is unreachable)."""
    infinity = len(nodes) + 1
    dist = {(a, b): 0 if a == b else infinity for a in nodes for b in nodes}
    for a, b, _ in edges:
        dist[a, b] = min(dist[a, b], 1)
    for k in nodes:
        for i in nodes:
            for j in nodes:
                if dist[i, k] + dist[k, j] < dist[i, j]:
                    dist[i, j] = dist[i, k] + dist[k, j]
    return {pair: d for pair, d in dist.items() if d < infinity}


@attrs.frozen
class Search:
    paths: list[tuple[tuple[PartyId, ...], tuple[RelationshipId, ...]]]
    cycles_cut: int
    limited_new: bool  # a path at the limit could go on to a new party (or the end)
    limited_any: bool  # a path at the limit has any relationship onwards


def simple_paths(start: PartyId, end: PartyId, edges: Sequence[Edge], limit: int) -> Search:
    """Every simple path (no party twice, no relationship twice) from ``start`` to
    ``end`` of at most ``limit`` relationships; with ``start == end``, every cycle."""
    out: dict[PartyId, list[Edge]] = {}
    for e in edges:
        out.setdefault(e[0], []).append(e)
    found: list[tuple[tuple[PartyId, ...], tuple[RelationshipId, ...]]] = []
    cut = 0
    limited_new = limited_any = False

    def go(parties: tuple[PartyId, ...], rels: tuple[RelationshipId, ...]) -> None:
        nonlocal cut, limited_new, limited_any
        for _, other, r in out.get(parties[-1], []):
            if r in rels:  # back along the relationship just walked (undirected walks)
                continue
            if len(rels) == limit:
                limited_any = True
                limited_new = limited_new or other == end or other not in parties
            elif other == end:
                found.append(((*parties, other), (*rels, r)))
            elif other in parties:
                cut += 1
            else:
                go((*parties, other), (*rels, r))

    go((start,), ())
    return Search(found, cut, limited_new, limited_any)


def product(shares: Sequence[Decimal | None]) -> Decimal:
    result = Decimal(1)
    for share in shares:
        assert share is not None
        result *= share / 100
    return result


# -- the stores ----------------------------------------------------------------------


class Sqlite:
    """One SQLite file store for the whole module, emptied before each example."""

    def __init__(self, path: Path) -> None:
        from finance_crm.adapters.sql import SqlStore

        self.store = SqlStore.from_url(f"sqlite:///{path}")
        self.store.upgrade_schema()

    def fresh(self) -> Store:
        with self.store.bind.begin() as connection:  # type: ignore[union-attr]
            # the audit log is append-only (a trigger refuses DELETE): it keeps growing
            for table in ("crm_relationship", "crm_party", "crm_outbox"):
                connection.exec_driver_sql(f"DELETE FROM {table}")
        return self.store  # type: ignore[return-value]


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sqlite]:
    holder = Sqlite(tmp_path_factory.mktemp("group-graph") / "crm.db")
    yield holder
    holder.store.close()


# -- the property --------------------------------------------------------------------


def play(store: Store, example: Example) -> list[Relationship]:
    """Register the parties and play the writes, each predicted; the accepted state."""
    audit_base, outbox_base, _ = written(store)
    with store.unit_of_work(OPS) as uow:
        uow.parties.add_many(
            [
                attrs.evolve(Party.organization(f"公司{i}"), id=pid(i))
                for i in range(example.parties)
            ]
        )
        uow.commit()
    model: dict[RelationshipId, Relationship] = {}
    known = {pid(i) for i in range(example.parties)}
    audited = example.parties  # one audit entry and one event per party
    assert written(store) == (audit_base + audited, outbox_base + audited, 0)
    for number, op in enumerate(example.ops):
        expected: type[CrmError] | None = None
        error: CrmError | None = None
        if isinstance(op, End) and not model:
            continue
        with store.unit_of_work(OPS) as uow:
            try:
                if isinstance(op, Add):
                    new = relationship(number, op)
                    expected = predict_add(model.values(), new, known)
                    stored = uow.relationships.add(new)
                    assert stored == attrs.evolve(new, version=1)
                    changed = new
                else:
                    chosen = sorted(model)[op.pick % len(model)]
                    current = model[chosen]
                    shortens = current.valid_from < op.on and (
                        current.valid_to is None or op.on < current.valid_to
                    )
                    expected = None if shortens else BusinessRuleViolation
                    got = uow.relationships.get(chosen)
                    assert got.valid_to == current.valid_to
                    uow.relationships.update(*got.ended(op.on, AT))
                    changed = attrs.evolve(current, valid_to=op.on)
                uow.commit()
            except CrmError as exc:
                error = exc
        label = op.code if isinstance(op, Add) else "end"
        event(f"{label}: {'accepted' if expected is None else expected.__name__}")
        if expected is None:
            assert error is None, f"{op} was refused: {error!r}"
            model[changed.id] = changed
            audited += 1
        else:
            assert type(error) is expected, f"{op}: {error!r}, expected {expected.__name__}"
        # one audit entry and one event per accepted write; nothing for a refused one
        assert written(store) == (audit_base + audited, outbox_base + audited, len(model)), op
    return list(model.values())


def written(store: Store) -> tuple[int, int, int]:
    with store.unit_of_work(OPS, read_only=True) as uow:
        return (
            len(uow.audit.entries(limit=100_000)),
            len(uow.outbox.pending(limit=100_000)),
            uow.relationships.count(),
        )


def check(store: Store, example: Example) -> None:
    accepted = play(store, example)
    nodes = [pid(i) for i in range(example.parties)]
    with store.unit_of_work(OPS, read_only=True) as uow:
        rs = uow.relationships
        # the store holds exactly what was accepted, and the rules hold on every day
        assert rs.count() == len(accepted)
        stored = {r.id: r for p in nodes for r in rs.of_party(p)}
        assert {i: attrs.evolve(r, version=0) for i, r in stored.items()} == {
            r.id: attrs.evolve(r, version=0) for r in accepted
        }
        every_day = boundaries(stored.values())
        assert share_totals_ok(stored.values(), every_day)
        assert acyclic_ok(stored.values(), every_day)

        for at in example.dates:
            for name, types in TYPE_SETS.items():
                for direction in DIRECTIONS:
                    edges = walk_edges(accepted, at, types, direction)
                    hops = fewest_hops(nodes, edges)
                    pointed_at = {
                        r.target for r in accepted if r.type.code in types and r.active_on(at)
                    }
                    where = f"{name} {direction.name} on {at}"
                    for n in example.starts:
                        start = pid(n)
                        # of_party
                        mine = [
                            r
                            for r in accepted
                            if r.type.code in types
                            and r.active_on(at)
                            and (
                                (direction is not Direction.UP and r.source == start)
                                or (direction is not Direction.DOWN and r.target == start)
                            )
                        ]
                        expected_of = [
                            r.id for r in sorted(mine, key=lambda r: (r.valid_from, r.id))
                        ]
                        got_of = [
                            r.id
                            for r in rs.of_party(start, at=at, types=types, direction=direction)
                        ]
                        assert got_of == expected_of, where
                        # reach: the closure
                        reached = closure(start, edges)
                        assert rs.reach(start, at=at, types=types, direction=direction) == [
                            Reached(p, None, p not in pointed_at)
                            for p in [start, *sorted(reached - {start})]
                        ], where
                        # reach: bounded, with the fewest hops
                        for limit in (1, 2, 3):
                            within = sorted(
                                (d, p) for (s, p), d in hops.items() if s == start and d <= limit
                            )
                            assert rs.reach(
                                start, at=at, types=types, direction=direction, max_hops=limit
                            ) == [Reached(p, d, p not in pointed_at) for d, p in within], where
                        # tree: each party at its fewest depth, lowest (parent, relationship)
                        for limit in (2, 64):
                            expected_tree = []
                            for child in nodes:
                                depth = hops.get((start, child))
                                if depth is None or depth == 0 or depth > limit:
                                    continue
                                parent, via = min(
                                    (a, r)
                                    for a, b, r in edges
                                    if b == child and hops.get((start, a)) == depth - 1
                                )
                                code = next(r.type.code for r in accepted if r.id == via)
                                expected_tree.append(TreeNode(child, parent, via, code, depth))
                            expected_tree.sort(key=lambda node: (node.depth, node.party_id))
                            got_tree = rs.tree(
                                start, at=at, types=types, direction=direction, max_depth=limit
                            )
                            assert got_tree == expected_tree, where
                    # paths
                    for a, b in example.pairs:
                        for limit in (2, 4, 12) if name != "all" else (2, 4):
                            search = rs.paths(
                                pid(a),
                                pid(b),
                                at=at,
                                types=types,
                                direction=direction,
                                max_length=limit,
                            )
                            oracle = simple_paths(pid(a), pid(b), edges, limit)
                            expected_paths = sorted(oracle.paths, key=lambda p: (len(p[1]), p[1]))
                            assert [
                                (p.parties, p.relationships) for p in search.paths
                            ] == expected_paths, where
                            for p in search.paths:
                                assert p.shares == tuple(stored[r].share for r in p.relationships)
                            if oracle.cycles_cut:
                                event("a path search cut a cycle")
                            if oracle.limited_new:
                                event("a path search hit the length limit")
                            if oracle.paths:
                                event(f"a path search found {min(len(oracle.paths), 3)}+ paths")
                            if direction is Direction.BOTH:
                                assert oracle.cycles_cut == 0 or search.cycles_cut > 0, where
                            else:
                                assert search.cycles_cut == oracle.cycles_cut, where
                            if oracle.limited_new:
                                assert search.depth_limited > 0, where
                            if not oracle.limited_any and direction is not Direction.BOTH:
                                assert search.depth_limited == 0, where
                            if limit == 12:
                                assert search.depth_limited == 0, where
            # look-through ownership never exceeds 100% (the much-linked parties 0-3, and
            # the drawn pairs)
            hot = range(min(4, example.parties))
            for a, b in sorted({*example.pairs, *((a, b) for a in hot for b in hot)}):
                if a == b:
                    continue
                up = rs.paths(
                    pid(a), pid(b), at=at, types=SHARE_CODES, direction=Direction.UP, max_length=12
                )
                total = sum((product(p.shares) for p in up.paths), Decimal(0))
                if len(up.paths) > 1:
                    event("look-through ownership over several chains")
                assert total <= 1, f"{total} on {at}"
                oracle = simple_paths(
                    pid(a), pid(b), walk_edges(accepted, at, SHARE_CODES, Direction.UP), 12
                )
                expected_total = sum(
                    (product([stored[r].share for r in rels]) for _, rels in oracle.paths),
                    Decimal(0),
                )
                assert total == expected_total
                figure = effective_ownership(uow, owner=pid(b), owned=pid(a), at=at, max_depth=12)
                assert figure.share == (total * 100).quantize(Decimal("1E-10"))
                assert 0 <= figure.share <= HUNDRED_PERCENT
                assert figure.paths == up.paths
                assert (figure.cycles_cut, figure.depth_limited) == (up.cycles_cut, 0)


@settings(max_examples=60, deadline=None)
@given(examples())
def test_group_graph_in_memory(example: Example) -> None:
    check(InMemoryStore(), example)


@settings(max_examples=25, deadline=None)
@given(examples())
def test_group_graph_on_sqlite(sqlite: Sqlite, example: Example) -> None:
    check(sqlite.fresh(), example)


class Postgres:
    """One throwaway PostgreSQL database for the module, emptied before each example."""

    def __init__(self, url: str) -> None:
        from finance_crm.adapters.sql import SqlStore

        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.store = SqlStore(self.engine)
        self.store.upgrade_schema()

    def fresh(self) -> Store:
        with self.engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE crm_relationship, crm_party, crm_outbox")
        return self.store


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    admin_url = skip_or_fail_without_postgres()
    with throwaway_database(admin_url, prefix="finance_crm_graph_props") as url:
        holder = Postgres(url)
        yield holder
        holder.engine.dispose()


@settings(max_examples=20, deadline=None)
@given(examples())
def test_group_graph_on_postgresql(postgres: Postgres, example: Example) -> None:
    check(postgres.fresh(), example)
