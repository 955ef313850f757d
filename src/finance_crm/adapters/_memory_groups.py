"""The in-memory party and relationship repositories (see ``memory.py``).

Graph queries walk Python dictionaries of edges; the SQL adapter answers the same
questions with recursive SQL, and the contract suite holds the two to one answer.
Relationship writes are serialised at commit: a unit of work that wrote relationships
commits only if no other did since it first wrote one (the graph rules were checked
against the graph it saw).
"""

from __future__ import annotations

import datetime
from collections import deque
from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING

import attrs

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
    refuse_empty_scope,
    shareholding_excess,
    shareholding_refused,
)
from finance_crm.auditing import party_changes, relationship_changes
from finance_crm.errors import DuplicateError, NotFoundError
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
    TreeNode,
    recorded,
)

if TYPE_CHECKING:
    from finance_crm.adapters.memory import InMemoryUnitOfWork

__all__ = ["MemoryParties", "MemoryRelationships"]

_Edge = tuple[Relationship, PartyId]  # the relationship and the party at its other end


class MemoryParties:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def find(self, party_id: PartyId) -> Party | None:
        pending = self._uow._pending.parties.get(party_id)
        if pending is not None:
            return pending[1]
        return self._uow._store._state.parties.get(party_id)

    def get(self, party_id: PartyId) -> Party:
        party = self.find(party_id)
        if party is None:
            raise NotFoundError("no party with this id")
        return party

    def get_many(self, party_ids: Collection[PartyId]) -> dict[PartyId, Party]:
        found = {i: self.find(i) for i in party_ids}
        return {i: p for i, p in found.items() if p is not None}

    def _by_key(self, which: str, key: object) -> Party | None:
        attribute = "customer_id" if which == "customer" else "lei"
        for _, mine in self._uow._pending.parties.values():
            if getattr(mine, attribute) == key:
                return mine
        state = self._uow._store._state
        index: dict[object, PartyId] = (
            state.party_by_customer if which == "customer" else state.party_by_lei  # type: ignore[assignment]
        )
        owner = index.get(key)
        party = self.find(owner) if owner is not None else None
        return party if party is not None and getattr(party, attribute) == key else None

    def find_by_customer(self, customer_id: CustomerId) -> Party | None:
        return self._by_key("customer", customer_id)

    def find_by_lei(self, lei: str) -> Party | None:
        return self._by_key("lei", lei)

    def ids_by_lei(self, leis: Collection[str]) -> dict[str, PartyId]:
        found = {lei: self.find_by_lei(lei) for lei in set(leis)}
        return {lei: p.id for lei, p in found.items() if p is not None}

    def count(self) -> int:
        state, pending = self._uow._store._state, self._uow._pending
        return len(state.parties) + sum(1 for b, _ in pending.parties.values() if b is None)

    def _check_keys(self, party: Party) -> None:
        if party.customer_id is not None:
            other = self.find_by_customer(party.customer_id)
            if other is not None and other.id != party.id:
                raise duplicate_party_key("customer")
        if party.lei is not None:
            other = self.find_by_lei(party.lei)
            if other is not None and other.id != party.id:
                raise duplicate_party_key("LEI")

    def add(self, party: Party) -> None:
        uow = self._uow
        uow._check_writable()
        check_new_party(party)
        refuse_empty_scope(uow.scope)
        if self.find(party.id) is not None:
            raise DuplicateError("a party with this id is already stored")
        self._check_keys(party)
        stored = attrs.evolve(party, version=1)
        uow._pending.parties[party.id] = (None, stored)
        uow._audit("party.registered", "party", str(party.id), 1, party_changes(None, stored))
        uow._emit(
            [
                PartyRegistered(
                    occurred_at=uow._now(),
                    party_id=party.id,
                    kind=party.kind.value,
                    customer_id=party.customer_id,
                )
            ]
        )

    def add_many(self, parties: Sequence[Party]) -> None:
        with self._uow.savepoint():
            for party in parties:
                self.add(party)

    def update(self, party: Party, events: Sequence[DomainEvent] = ()) -> Party:
        uow = self._uow
        uow._check_writable()
        current = self.find(party.id) if isinstance(party, Party) else None
        check_party_update(current, party, events)
        assert current is not None
        refuse_empty_scope(uow.scope)
        self._check_keys(party)
        stored = attrs.evolve(party, version=party.version + 1)
        pending = uow._pending.parties
        base = pending[party.id][0] if party.id in pending else current.version
        pending[party.id] = (base, stored)
        uow._audit(
            "party.revised",
            "party",
            str(party.id),
            stored.version,
            party_changes(current, stored),
        )
        uow._emit(events)
        return stored


class MemoryRelationships:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    # -- reads -----------------------------------------------------------------------

    def _find(self, relationship_id: RelationshipId) -> Relationship | None:
        pending = self._uow._pending.relationships.get(relationship_id)
        if pending is not None:
            return pending[1]
        return self._uow._store._state.relationships.get(relationship_id)

    def get(self, relationship_id: RelationshipId) -> Relationship:
        found = self._find(relationship_id)
        if found is None:
            raise NotFoundError("no relationship with this id")
        return found

    def count(self) -> int:
        state, pending = self._uow._store._state, self._uow._pending
        return len(state.relationships) + sum(
            1 for b, _ in pending.relationships.values() if b is None
        )

    def _ids(self, party_id: PartyId, outgoing: bool) -> set[RelationshipId]:
        state, pending = self._uow._store._state, self._uow._pending
        stored = (state.edges_out if outgoing else state.edges_in).get(party_id, ())
        mine = (pending.edges_out if outgoing else pending.edges_in).get(party_id, ())
        return {*stored, *mine}

    def _edges(
        self,
        party_id: PartyId,
        at: datetime.date | None,
        types: Collection[str] | None,
        direction: Direction,
    ) -> Iterator[_Edge]:
        ways = {Direction.DOWN: (True,), Direction.UP: (False,), Direction.BOTH: (True, False)}
        for outgoing in ways[direction]:
            for relationship_id in sorted(self._ids(party_id, outgoing)):
                r = self.get(relationship_id)
                if (types is None or r.type.code in types) and (at is None or r.active_on(at)):
                    yield r, (r.target if outgoing else r.source)

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
        if types is not None:
            check_walk(types, direction, None, "max_hops")
        found = {r.id: r for r, _ in self._edges(party_id, at, types, direction)}
        return sorted(found.values(), key=lambda r: (r.valid_from, r.id))

    def _is_top(self, party_id: PartyId, at: datetime.date, types: Collection[str]) -> bool:
        return next(self._edges(party_id, at, types, Direction.UP), None) is None

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
        hops = {start: 0}
        queue = deque([start])
        while queue:
            party = queue.popleft()
            if max_hops is not None and hops[party] >= max_hops:
                continue
            for _, other in self._edges(party, at, types, direction):
                if other not in hops:
                    hops[other] = hops[party] + 1
                    queue.append(other)
        found = [
            Reached(p, h if max_hops is not None else None, self._is_top(p, at, types))
            for p, h in hops.items()
        ]
        if max_hops is None:
            return sorted(found, key=lambda r: (r.party_id != start, r.party_id))
        return sorted(found, key=lambda r: (r.hops, r.party_id))

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
        seen = {root}
        frontier = [root]
        nodes: list[TreeNode] = []
        for depth in range(1, max_depth + 1):
            best: dict[PartyId, tuple[PartyId, Relationship]] = {}
            for parent in frontier:
                for r, child in self._edges(parent, at, types, direction):
                    if child in seen:
                        continue
                    if child not in best or (parent, r.id) < (best[child][0], best[child][1].id):
                        best[child] = (parent, r)
            if not best:
                break
            for child in sorted(best):
                parent, r = best[child]
                nodes.append(TreeNode(child, parent, r.id, r.type.code, depth))
            seen.update(best)
            frontier = sorted(best)
        return nodes

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
        found: list[Path] = []
        cut = limited = 0
        # Depth-first over simple paths: (parties so far, relationships so far).
        stack: list[tuple[tuple[PartyId, ...], tuple[Relationship, ...]]] = [((start,), ())]
        while stack:
            parties, rels = stack.pop()
            for r, other in self._edges(parties[-1], at, types, direction):
                if r in rels:  # walking BOTH ways: not back along the link just taken
                    continue
                if len(rels) == max_length:
                    limited += 1
                elif other == end:
                    chain = (*rels, r)
                    found.append(
                        Path(
                            (*parties, other),
                            tuple(x.id for x in chain),
                            tuple(x.share for x in chain),
                        )
                    )
                elif other in parties:
                    cut += 1
                else:
                    stack.append(((*parties, other), (*rels, r)))
        found.sort(key=lambda p: (len(p.relationships), p.relationships))
        return PathSearch(tuple(found), cut, limited)

    # -- the graph rules -------------------------------------------------------------

    def _closes_cycle(self, new: Relationship) -> bool:
        """Whether ``new.target`` already reaches ``new.source`` along acyclic links that
        all hold together on some day of ``new``'s period."""
        acyclic = self._uow.relationship_types.acyclic
        start = (new.target, new.valid_from, new.valid_to)
        seen = {start}
        stack = [start]
        while stack:
            party, lo, hi = stack.pop()
            for r, other in self._edges(party, None, acyclic, Direction.DOWN):
                if r.id == new.id or not r.overlaps(lo, hi):
                    continue
                if other == new.source:
                    return True
                state = (
                    other,
                    max(lo, r.valid_from),
                    r.valid_to
                    if hi is None
                    else (hi if r.valid_to is None else min(hi, r.valid_to)),
                )
                if state not in seen:
                    seen.add(state)
                    stack.append(state)
        return False

    def _check_rules(self, new: Relationship) -> None:
        types = self._uow.relationship_types
        if new.type.carries_share:
            holdings = self.of_party(
                new.target,
                types=types.codes(RelationshipCategory.OWNERSHIP),
                direction=Direction.UP,
            )
            excess = shareholding_excess(holdings, new)
            if excess is not None:
                raise shareholding_refused(*excess)
        if new.type.acyclic and self._closes_cycle(new):
            raise cycle_refused(new)

    # -- writes ----------------------------------------------------------------------

    def _claim_graph(self) -> None:
        pending = self._uow._pending
        if pending.graph_base is None:
            pending.graph_base = self._uow._store._state.graph_version

    def _index(self, r: Relationship) -> None:
        pending = self._uow._pending
        for index, party in ((pending.edges_out, r.source), (pending.edges_in, r.target)):
            index[party] = (*index.get(party, ()), r.id)

    def add(self, relationship: Relationship) -> Relationship:
        uow = self._uow
        uow._check_writable()
        check_new_relationship(relationship, uow.relationship_types, uow.parties.find)
        refuse_empty_scope(uow.scope)
        if self._find(relationship.id) is not None:
            raise DuplicateError("a relationship with this id is already stored")
        self._claim_graph()
        self._check_rules(relationship)
        stored = attrs.evolve(relationship, version=1)
        uow._pending.relationships[stored.id] = (None, stored)
        self._index(stored)
        uow._audit(
            "relationship.recorded",
            "relationship",
            str(stored.id),
            1,
            relationship_changes(None, stored),
        )
        uow._emit([recorded(stored, uow._now())])
        return stored

    def add_many(self, relationships: Sequence[Relationship]) -> None:
        with self._uow.savepoint():
            for relationship in relationships:
                self.add(relationship)

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
        self._claim_graph()
        stored = attrs.evolve(relationship, version=relationship.version + 1)
        pending = uow._pending.relationships
        base = pending[stored.id][0] if stored.id in pending else current.version
        pending[stored.id] = (base, stored)
        uow._audit(
            "relationship.ended",
            "relationship",
            str(stored.id),
            stored.version,
            relationship_changes(current, stored),
        )
        uow._emit(events)
        return stored
