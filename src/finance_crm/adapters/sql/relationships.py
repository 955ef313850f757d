"""The group-relationship graph (集团关系) on SQLAlchemy Core: ``uow.parties`` and
``uow.relationships``.

Tables: ``crm_party`` (the nodes) and ``crm_relationship`` (typed, directed,
effective-dated edges; shares as integer millionths, amounts as integer minor units).

Every graph query is **one** recursive statement (``WITH RECURSIVE``), on SQLite and
PostgreSQL alike; nothing loads the graph into Python:

* ``reach`` without a limit walks the closure with ``UNION`` over the party alone, so it
  ends on any cycle; with ``max_hops`` it walks ``(party, hops)`` and keeps the fewest
  hops per party. Whether a party is a *top* (no active incoming link of the walked
  types) is a ``NOT EXISTS`` in the same statement.
* ``tree`` walks ``(party, depth)`` up to ``max_depth``, keeps each party at its fewest
  depth and picks, per party, the smallest ``(parent, relationship)`` among the links
  from parties one level up (``row_number()``), exactly the breadth-first tree of the
  in-memory adapter.
* ``paths`` walks simple paths carrying the path as text ('/'-joined ids, the membership
  test ``instr``/``strpos``), the relationship ids and the shares, and marks the rows
  where a cycle was cut or the length limit stopped a path, so the counts come from the
  same statement. Walking both ways, a path never goes back along the relationship it
  just used (that is no cycle).

``reach`` with ``max_hops`` and ``tree`` cost O(links x limit) in the worst case: a walk
round a cycle revisits a party at every depth up to the limit (dedup is by (party,
depth)), where the in-memory breadth-first walk is O(links). On acyclic links (groups)
this does not arise; a tree both ways through a cyclic component of thousands of parties
at the default depth 64 takes seconds.

The indexes ``ix_crm_relationship_down`` (source, type, valid_from, valid_to, target, id,
share) and ``ix_crm_relationship_up`` (the same from the target) cover every recursive
step: a step reads the index and never the table.

Writes check the graph rules against the stored graph with SQL too: the target's
incoming holdings for the 100% rule, and a recursive walk down the acyclic types
carrying the intersection of the validity periods for the cycle rule (``add_many``
checks up to 500 acyclic links with one walk, and goes one by one only when that finds
a cycle, to raise what the first offending link raises). On PostgreSQL a writer of an
ownership or acyclic link first takes a transaction-scoped advisory lock
(:data:`GRAPH_LOCK_KEY`), so two transactions cannot together close a cycle or exceed
100%: under READ COMMITTED (the default) the second then sees what the first committed.
A host running the unit of work under REPEATABLE READ loses that guarantee. SQLite's
writers are serialised already (``BEGIN IMMEDIATE``). Row functions are in
:mod:`.rows`.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from finance_crm.adapters._graph_checks import (
    check_day,
    check_end_events,
    check_end_only,
    check_new_party,
    check_new_relationship,
    check_party_id,
    check_party_update,
    check_walk,
    cycle_refused,
    duplicate_party_key,
    party_conflict,
    refuse_empty_scope,
    shareholding_excess,
    shareholding_refused,
)
from finance_crm.adapters.sql.errors import mapped_errors
from finance_crm.adapters.sql.graph_sql import (
    cycle_sql,
    cycles_sql,
    path,
    paths_sql,
    reach_sql,
    tree_sql,
)
from finance_crm.adapters.sql.rows import (
    PARTY_COLUMNS,
    RELATIONSHIP_COLUMNS,
    as_uuid,
    chunks,
    fetch_rows,
    insert_sql,
    party_from_row,
    party_to_row,
    plain_date,
    relationship_from_row,
    relationship_to_row,
)
from finance_crm.adapters.sql.tables import parties, relationships
from finance_crm.auditing import party_changes, relationship_changes
from finance_crm.errors import (
    ConflictError,
    CrmError,
    DuplicateError,
    NotFoundError,
)
from finance_crm.ids import CustomerId, PartyId, RelationshipId
from finance_crm.model.events import DomainEvent
from finance_crm.model.relationships import (
    Direction,
    Party,
    PartyRegistered,
    Path,
    PathSearch,
    Reached,
    Relationship,
    RelationshipCategory,
    RelationshipTypes,
    TreeNode,
    recorded,
)

if TYPE_CHECKING:
    from finance_crm.adapters.sql.store import SqlUnitOfWork

__all__ = ["GRAPH_LOCK_KEY", "SqlPartyRepository", "SqlRelationshipRepository"]

_IN_CHUNK = 500  # ids per IN (...) list
_BATCH = 1000  # rows per executemany
# pg_advisory_xact_lock key serialising writers of ownership and acyclic links ("fcrmgrph").
GRAPH_LOCK_KEY = 0x6663726D67727068

# -- shared helpers --------------------------------------------------------------------


_PARTY = sa.select(parties).where(parties.c.id == sa.bindparam("key", type_=sa.Uuid()))
_PARTIES_IN = sa.select(parties).where(parties.c.id.in_(sa.bindparam("ids", expanding=True)))
_PARTY_BY_CUSTOMER = sa.select(parties).where(
    parties.c.customer_id == sa.bindparam("key", type_=sa.Uuid())
)
_PARTY_BY_LEI = sa.select(parties).where(parties.c.lei == sa.bindparam("key"))
_PARTY_KEYS = sa.select(parties.c.id, parties.c.customer_id, parties.c.lei)
_IDS_BY_LEI = _PARTY_KEYS.where(parties.c.lei.in_(sa.bindparam("ids", expanding=True)))
_IDS_BY_CUSTOMER = _PARTY_KEYS.where(parties.c.customer_id.in_(sa.bindparam("ids", expanding=True)))
_PARTY_IDS_IN = _PARTY_KEYS.where(parties.c.id.in_(sa.bindparam("ids", expanding=True)))
_PARTY_COUNT = sa.select(sa.func.count().label("n")).select_from(parties)

_RELATIONSHIP = sa.select(relationships).where(
    relationships.c.id == sa.bindparam("key", type_=sa.Uuid())
)
_RELATIONSHIP_IDS_IN = sa.select(relationships.c.id).where(
    relationships.c.id.in_(sa.bindparam("ids", expanding=True))
)
_HOLDINGS_IN = sa.select(relationships).where(
    relationships.c.target.in_(sa.bindparam("ids", expanding=True)),
    relationships.c.type.in_(sa.bindparam("types", expanding=True)),
)
_RELATIONSHIP_COUNT = sa.select(sa.func.count().label("n")).select_from(relationships)


# -- parties ---------------------------------------------------------------------------


class SqlPartyRepository:
    """Parties (``crm_party``). Reads are not scope-filtered; writes need a non-empty
    scope, are audited (a person's name masked) and put their events on the outbox."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def _one(self, statement: sa.Executable, key: object) -> Party | None:
        rows = fetch_rows(self._uow, statement, key=key)
        return party_from_row(rows[0]) if rows else None

    def find(self, party_id: PartyId) -> Party | None:
        if not isinstance(party_id, uuid.UUID):
            return None
        return self._one(_PARTY, party_id)

    def get(self, party_id: PartyId) -> Party:
        party = self.find(party_id)
        if party is None:
            raise NotFoundError("no party with this id")
        return party

    def get_many(self, party_ids: Collection[PartyId]) -> dict[PartyId, Party]:
        ids = list(dict.fromkeys(i for i in party_ids if isinstance(i, uuid.UUID)))
        found: dict[PartyId, Party] = {}
        for chunk in chunks(ids, _IN_CHUNK):
            for row in fetch_rows(self._uow, _PARTIES_IN, ids=chunk):
                party = party_from_row(row)
                found[party.id] = party
        return {PartyId(i): found[PartyId(i)] for i in ids if i in found}

    def find_by_customer(self, customer_id: CustomerId) -> Party | None:
        if not isinstance(customer_id, uuid.UUID):
            return None
        return self._one(_PARTY_BY_CUSTOMER, customer_id)

    def find_by_lei(self, lei: str) -> Party | None:
        if not isinstance(lei, str):
            return None
        return self._one(_PARTY_BY_LEI, lei)

    def ids_by_lei(self, leis: Collection[str]) -> dict[str, PartyId]:
        wanted = sorted({lei for lei in leis if isinstance(lei, str)})
        found: dict[str, PartyId] = {}
        for chunk in chunks(wanted, _IN_CHUNK):
            for row in fetch_rows(self._uow, _IDS_BY_LEI, ids=chunk):
                found[row["lei"]] = PartyId(as_uuid(row["id"]))
        return found

    def count(self) -> int:
        return int(fetch_rows(self._uow, _PARTY_COUNT)[0]["n"])

    # -- writes ------------------------------------------------------------------------

    def add(self, party: Party) -> None:
        self._add([party], single=True)

    def add_many(self, parties_: Sequence[Party]) -> None:
        """Check the whole batch (a few ``IN`` lookups per 500), then insert it with one
        ``executemany`` per 1,000 rows (and the audit and outbox rows likewise)."""
        self._add(list(parties_), single=False)

    def _stored_keys(
        self, batch: Sequence[Party]
    ) -> tuple[set[uuid.UUID], set[uuid.UUID], set[str]]:
        """Which of the batch's ids, customer ids and LEIs are stored already."""
        uow = self._uow
        ids: set[uuid.UUID] = set()
        customers: set[uuid.UUID] = set()
        leis: set[str] = set()
        lookups: list[tuple[sa.Select[Any], list[Any]]] = [
            (_PARTY_IDS_IN, sorted({p.id for p in batch})),
            (_IDS_BY_CUSTOMER, sorted({p.customer_id for p in batch if p.customer_id})),
            (_IDS_BY_LEI, sorted({p.lei for p in batch if p.lei is not None})),
        ]
        for statement, keys in lookups:
            for chunk in chunks(keys, _IN_CHUNK):
                for row in fetch_rows(uow, statement, ids=chunk):
                    ids.add(as_uuid(row["id"]))
                    if row["customer_id"] is not None:
                        customers.add(as_uuid(row["customer_id"]))
                    if row["lei"] is not None:
                        leis.add(row["lei"])
        return ids, customers, leis

    def _add(self, batch: Sequence[object], *, single: bool) -> None:
        uow = self._uow
        uow._check_writable()
        if not batch:
            return
        valid = [p for p in batch if isinstance(p, Party)]
        empty = uow.scope.kind.value == "nothing"
        ids, customers, leis = (
            self._stored_keys(valid) if valid and not empty else (set(), set(), set())
        )
        # Checked in order, each against the store and the parties before it, as the
        # in-memory adapter adds them one by one.
        for party in batch:
            check_new_party(party)
            refuse_empty_scope(uow.scope)
            assert isinstance(party, Party)
            if party.id in ids:
                raise DuplicateError("a party with this id is already stored")
            if party.customer_id is not None and party.customer_id in customers:
                raise duplicate_party_key("customer")
            if party.lei is not None and party.lei in leis:
                raise duplicate_party_key("LEI")
            ids.add(party.id)
            if party.customer_id is not None:
                customers.add(party.customer_id)
            if party.lei is not None:
                leis.add(party.lei)
        codec, now = uow._codec, uow._now()
        stored = [attrs.evolve(p, version=1) for p in batch if isinstance(p, Party)]
        rows = [codec.party(party_to_row(p)) for p in stored]
        audit = [
            uow._entity_audit_row(
                "party.registered", "party", str(p.id), 1, party_changes(None, p), now
            )
            for p in stored
        ]
        events = uow._event_rows(
            [
                PartyRegistered(
                    occurred_at=now, party_id=p.id, kind=p.kind.value, customer_id=p.customer_id
                )
                for p in stored
            ]
        )
        uow._insert_audited(
            insert_sql("crm_party", PARTY_COLUMNS, codec.placeholder),
            rows,
            audit,
            events,
            single=single,
            taken="another unit of work stored a party with the same id, customer or LEI "
            "meanwhile; look it up with find_by_customer() or find_by_lei()",
        )

    def update(self, party: Party, events: Sequence[DomainEvent] = ()) -> Party:
        uow = self._uow
        uow._check_writable()
        current = self.find(party.id) if isinstance(party, Party) else None
        check_party_update(current, party, events)
        assert current is not None
        refuse_empty_scope(uow.scope)
        if party.customer_id is not None:
            other = self.find_by_customer(party.customer_id)
            if other is not None and other.id != party.id:
                raise duplicate_party_key("customer")
        if party.lei is not None:
            other = self.find_by_lei(party.lei)
            if other is not None and other.id != party.id:
                raise duplicate_party_key("LEI")
        stored = attrs.evolve(party, version=party.version + 1)
        values = party_to_row(stored)
        del values["id"], values["kind"]
        audit = uow._entity_audit_row(
            "party.revised",
            "party",
            str(party.id),
            stored.version,
            party_changes(current, stored),
            uow._now(),
        )
        try:
            with uow.savepoint(), mapped_errors():
                result = uow.connection.execute(
                    parties.update()
                    .where(parties.c.id == party.id, parties.c.version == party.version)
                    .values(values)
                )
                if result.rowcount != 1:
                    raise party_conflict()
                uow._write_audit_rows([audit])
                uow._write_events(list(events))
        except DuplicateError:
            raise DuplicateError(
                "another unit of work gave a party this customer or LEI meanwhile; "
                "look it up with find_by_customer() or find_by_lei()"
            ) from None
        return stored


# -- relationships ---------------------------------------------------------------------


class SqlRelationshipRepository:
    """Relationships (``crm_relationship``) and the graph queries, each one recursive
    statement. Reads are not scope-filtered; writes need a non-empty scope."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    @property
    def _types(self) -> RelationshipTypes:
        return self._uow.relationship_types

    @property
    def _dialect(self) -> str:
        return self._uow._store.dialect_name

    # -- reads -------------------------------------------------------------------------

    def _find(self, relationship_id: object) -> Relationship | None:
        if not isinstance(relationship_id, uuid.UUID):
            return None
        rows = fetch_rows(self._uow, _RELATIONSHIP, key=relationship_id)
        return relationship_from_row(rows[0], self._types) if rows else None

    def get(self, relationship_id: RelationshipId) -> Relationship:
        found = self._find(relationship_id)
        if found is None:
            raise NotFoundError("no relationship with this id")
        return found

    def count(self) -> int:
        return int(fetch_rows(self._uow, _RELATIONSHIP_COUNT)[0]["n"])

    def of_party(
        self,
        party_id: PartyId,
        *,
        at: datetime.date | None = None,
        types: Collection[str] | None = None,
        direction: Direction = Direction.BOTH,
    ) -> list[Relationship]:
        if at is not None:
            check_day(at)
        check_walk(() if types is None else types, direction, None, "max_hops")
        if not isinstance(party_id, uuid.UUID):
            return []
        r = relationships
        ends = {
            Direction.DOWN: r.c.source == party_id,
            Direction.UP: r.c.target == party_id,
            Direction.BOTH: sa.or_(r.c.source == party_id, r.c.target == party_id),
        }
        statement = sa.select(r).where(ends[direction])
        if types is not None:
            statement = statement.where(r.c.type.in_(sorted(set(types))))
        if at is not None:
            day = plain_date(at)
            statement = statement.where(
                r.c.valid_from <= day, sa.or_(r.c.valid_to.is_(None), r.c.valid_to > day)
            )
        statement = statement.order_by(r.c.valid_from, r.c.id)
        return [relationship_from_row(row, self._types) for row in fetch_rows(self._uow, statement)]

    def _walk(
        self, statement: sa.TextClause, *, at: datetime.date, types: Collection[str], **params: Any
    ) -> list[sa.RowMapping]:
        return fetch_rows(
            self._uow, statement, at=plain_date(at), types=sorted(set(types)), **params
        )

    def reach(
        self,
        start: PartyId,
        *,
        at: datetime.date,
        types: Collection[str],
        direction: Direction,
        max_hops: int | None = None,
    ) -> list[Reached]:
        check_day(at)
        check_walk(types, direction, max_hops, "max_hops")
        start = check_party_id(start, "$.start")
        bounded = max_hops is not None
        statement = reach_sql(self._dialect, direction, bounded)
        params: dict[str, Any] = {"start": start}
        if bounded:
            params["limit"] = max_hops
        rows = self._walk(statement, at=at, types=types, **params)
        if bounded:
            return [
                Reached(PartyId(as_uuid(r["party"])), int(r["hops"]), bool(r["top"])) for r in rows
            ]
        return [Reached(PartyId(as_uuid(r["party"])), None, bool(r["top"])) for r in rows]

    def tree(
        self,
        root: PartyId,
        *,
        at: datetime.date,
        types: Collection[str],
        direction: Direction = Direction.DOWN,
        max_depth: int = 64,
    ) -> list[TreeNode]:
        check_day(at)
        check_walk(types, direction, max_depth, "max_depth")
        root = check_party_id(root, "$.root")
        rows = self._walk(
            tree_sql(self._dialect, direction), at=at, types=types, start=root, limit=max_depth
        )
        return [
            TreeNode(
                PartyId(as_uuid(row["party"])),
                PartyId(as_uuid(row["parent"])),
                RelationshipId(as_uuid(row["id"])),
                row["type"],
                int(row["depth"]),
            )
            for row in rows
        ]

    def paths(
        self,
        start: PartyId,
        end: PartyId,
        *,
        at: datetime.date,
        types: Collection[str],
        direction: Direction,
        max_length: int = 10,
    ) -> PathSearch:
        check_day(at)
        check_walk(types, direction, max_length, "max_length")
        start = check_party_id(start, "$.start")
        end = check_party_id(end, "$.end")
        rows = self._walk(
            paths_sql(self._dialect, direction),
            at=at,
            types=types,
            start=start,
            end=end,
            limit=max_length,
        )
        found: list[Path] = []
        counts = {2: 0, 3: 0}
        for row in rows:
            state = int(row["state"])
            if state == 1:
                found.append(path(row["found_path"], row["found_rels"], row["found_shares"]))
            else:
                counts[state] += int(row["n"])
        found.sort(key=lambda p: (len(p.relationships), p.relationships))
        return PathSearch(tuple(found), counts[2], counts[3])

    # -- the graph rules -------------------------------------------------------------

    def _lock_graph(self) -> None:
        """On PostgreSQL, wait for other writers of ownership and acyclic links to finish
        (the lock ends with the transaction)."""
        if self._dialect == "postgresql":
            with mapped_errors():
                self._uow.connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": GRAPH_LOCK_KEY}
                )

    def _holdings(self, targets: Collection[PartyId]) -> dict[PartyId, list[Relationship]]:
        """The stored ownership links into each of ``targets`` (all dates)."""
        codes = sorted(self._types.codes(RelationshipCategory.OWNERSHIP))
        found: dict[PartyId, list[Relationship]] = {t: [] for t in targets}
        for chunk in chunks(sorted(targets), _IN_CHUNK):
            for row in fetch_rows(self._uow, _HOLDINGS_IN, ids=chunk, types=codes):
                holding = relationship_from_row(row, self._types)
                found[holding.target].append(holding)
        return found

    def _closes_cycle(self, new: Relationship) -> bool:
        """Whether ``new.target`` already reaches ``new.source`` along acyclic links that
        all hold together on some day of ``new``'s period (one recursive statement)."""
        rows = fetch_rows(
            self._uow,
            cycle_sql(self._dialect),
            start=new.target,
            end=new.source,
            lo=plain_date(new.valid_from),
            hi=None if new.valid_to is None else plain_date(new.valid_to),
            types=self._acyclic,
        )
        return bool(rows)

    # -- writes ----------------------------------------------------------------------

    def add(self, relationship: Relationship) -> Relationship:
        return self._record([relationship], single=True)[0]

    def add_many(self, relationships_: Sequence[Relationship]) -> None:
        """Each relationship checked as by :meth:`add`, against the store and the ones
        before it. Lookups are batched (parties, ids, holdings: a few ``IN`` queries);
        a link of an acyclic type needs its own cycle query, run after the rows before it
        are written; other rows go in one ``executemany`` per 1,000."""
        self._record(list(relationships_), single=False)

    def _record(self, batch: Sequence[object], *, single: bool) -> list[Relationship]:
        uow = self._uow
        uow._check_writable()
        if not batch:
            return []
        valid = [r for r in batch if isinstance(r, Relationship)]
        empty = uow.scope.kind.value == "nothing"
        known: dict[PartyId, Party] = {}
        stored_ids: set[uuid.UUID] = set()
        holdings: dict[PartyId, list[Relationship]] = {}
        ruled = [r for r in valid if r.type.carries_share or r.type.acyclic]
        if valid and not empty and ruled:
            self._lock_graph()  # before reading what the rules are checked against
        if valid:
            known = uow.parties.get_many({p for r in valid for p in (r.source, r.target)})
        if valid and not empty:
            for chunk in chunks(sorted({r.id for r in valid}), _IN_CHUNK):
                for row in fetch_rows(uow, _RELATIONSHIP_IDS_IN, ids=chunk):
                    stored_ids.add(as_uuid(row["id"]))
            holdings = self._holdings({r.target for r in valid if r.type.carries_share})
        if not any(r.type.acyclic for r in valid):
            writer = _RelationshipWriter(uow)
            for item in batch:
                self._check(item, known.get, stored_ids, holdings, writer)
            with uow.savepoint() if single else uow._all_or_nothing(), mapped_errors():
                writer.write()
            return writer.stored
        # A cycle query must see the rows before it: written as we go, undone together.
        with uow.savepoint(), mapped_errors():
            found = None if single else self._record_at_once(batch, known, stored_ids, holdings)
            if found is None:
                found = _RelationshipWriter(uow)
                for item in batch:
                    self._check(item, known.get, stored_ids, holdings, found, each_cycle=True)
            found.write()
        return found.stored

    def _record_at_once(
        self,
        batch: Sequence[object],
        known: dict[PartyId, Party],
        stored_ids: set[uuid.UUID],
        holdings: dict[PartyId, list[Relationship]],
    ) -> _RelationshipWriter | None:
        """A batch with acyclic links, optimistically: every other check in order, every
        row written, then one cycle query per 500 acyclic links. ``None``, with nothing
        written, when anything failed: going one by one then finds the error that the
        first failing relationship raises on its own (as ``add`` would)."""
        writer = _RelationshipWriter(self._uow)
        ids, held = set(stored_ids), {k: list(v) for k, v in holdings.items()}
        try:
            with self._uow.savepoint():
                for item in batch:
                    self._check(item, known.get, ids, held, writer, each_cycle=False)
                writer.flush()
                new = [r.id for r in writer.stored if r.type.acyclic]
                for chunk in chunks(new, _IN_CHUNK):
                    if fetch_rows(
                        self._uow, cycles_sql(self._dialect), ids=chunk, types=self._acyclic
                    ):
                        raise _Retry
        except (CrmError, _Retry):
            return None
        return writer

    @property
    def _acyclic(self) -> list[str]:
        return sorted(self._types.acyclic)

    def _check(
        self,
        item: object,
        find_party: Callable[[PartyId], Party | None],
        stored_ids: set[uuid.UUID],
        holdings: dict[PartyId, list[Relationship]],
        writer: _RelationshipWriter,
        *,
        each_cycle: bool = True,
    ) -> None:
        """The checks of ``add`` for one relationship, in the in-memory adapter's order
        (the cycle check left to the caller unless ``each_cycle``)."""
        uow = self._uow
        new = check_new_relationship(item, self._types, find_party)
        refuse_empty_scope(uow.scope)
        if new.id in stored_ids:
            raise DuplicateError("a relationship with this id is already stored")
        if new.type.carries_share:
            excess = shareholding_excess(holdings[new.target], new)
            if excess is not None:
                raise shareholding_refused(*excess)
        if new.type.acyclic and each_cycle:
            writer.flush()
            if self._closes_cycle(new):
                raise cycle_refused(new)
        stored = attrs.evolve(new, version=1)
        stored_ids.add(new.id)
        if new.type.carries_share:
            holdings[new.target].append(stored)
        writer.add(stored)

    def update(
        self, relationship: Relationship, events: Sequence[DomainEvent] = ()
    ) -> Relationship:
        uow = self._uow
        uow._check_writable()
        current = self._find(relationship.id) if isinstance(relationship, Relationship) else None
        check_end_only(current, relationship)
        assert current is not None
        check_end_events(relationship, events)
        refuse_empty_scope(uow.scope)
        stored = attrs.evolve(relationship, version=relationship.version + 1)
        audit = uow._entity_audit_row(
            "relationship.ended",
            "relationship",
            str(stored.id),
            stored.version,
            relationship_changes(current, stored),
            uow._now(),
        )
        valid_to = None if stored.valid_to is None else plain_date(stored.valid_to)
        r = relationships
        with uow.savepoint(), mapped_errors():
            result = uow.connection.execute(
                r.update()
                .where(r.c.id == stored.id, r.c.version == relationship.version)
                .values(valid_to=valid_to, version=stored.version)
            )
            if result.rowcount != 1:
                raise ConflictError(
                    "the relationship was changed by someone else since it was read; reload "
                    "it and try again"
                )
            uow._write_audit_rows([audit])
            uow._write_events(list(events))
        return stored


class _Retry(Exception):
    """The optimistic batch met a cycle: go one by one."""


class _RelationshipWriter:
    """Rows of new relationships, written in ``executemany`` batches when flushed; the
    audit and outbox rows at the end."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._now = uow._now()
        self._sql = insert_sql("crm_relationship", RELATIONSHIP_COLUMNS, uow._codec.placeholder)
        self._rows: list[tuple[Any, ...]] = []
        self.stored: list[Relationship] = []
        self._audit: list[tuple[Any, ...]] = []
        self._events: list[DomainEvent] = []

    def add(self, stored: Relationship) -> None:
        uow = self._uow
        self._rows.append(uow._codec.relationship(relationship_to_row(stored)))
        self.stored.append(stored)
        self._audit.append(
            uow._entity_audit_row(
                "relationship.recorded",
                "relationship",
                str(stored.id),
                1,
                relationship_changes(None, stored),
                self._now,
            )
        )
        self._events.append(recorded(stored, self._now))

    def flush(self) -> None:
        if self._rows:
            with mapped_errors():
                connection = self._uow.connection
                for chunk in chunks(self._rows, _BATCH):
                    connection.exec_driver_sql(self._sql, chunk)
            self._rows = []

    def write(self) -> None:
        self.flush()
        self._uow._write_audit_rows(self._audit)
        self._uow._write_events(self._events)
