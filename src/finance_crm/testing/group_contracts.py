"""The contract for the group-relationship graph (集团关系): parties and relationships.

Subclass :class:`GroupStoreContract` and provide a ``store`` fixture returning a fresh,
empty store that knows :data:`~finance_crm.model.relationships.STANDARD_RELATIONSHIP_TYPES`;
finance_crm runs it on the memory adapter, SQLite and PostgreSQL.

The graphs are small and built by hand with fixed ids (``P(n)`` for parties, ``R(n)``
for relationships: both order by ``n``), so every answer below is stated in full.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import attrs
import pendulum
import pytest

from finance_crm.errors import (
    BusinessRuleViolation,
    ConflictError,
    CrmError,
    DuplicateError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from finance_crm.ids import CustomerId, PartyId, RelationshipId
from finance_crm.model.documents import make_lei
from finance_crm.model.relationships import (
    STANDARD_RELATIONSHIP_TYPES,
    Direction,
    Party,
    Path,
    PathSearch,
    Reached,
    Relationship,
    RelationshipCategory,
    RelationshipType,
    TreeNode,
)
from finance_crm.money import Money
from finance_crm.ports import Store, UnitOfWork
from finance_crm.security import Actor

__all__ = ["GroupStoreContract"]

HEAD_OFFICE = Actor("ho-1", roles=frozenset({"head_office"}))
STRANGER = Actor("stranger")  # no staff record, no roles: an empty scope
AT = pendulum.datetime(2025, 6, 2, 9, tz="Asia/Shanghai")
TYPES = STANDARD_RELATIONSHIP_TYPES
D = datetime.date
Y2020 = D(2020, 1, 1)
MID_2024 = D(2024, 6, 30)
SHARES = frozenset({"shareholding"})
GROUP = TYPES.group_links
TREE = TYPES.tree_links
FAMILY = TYPES.codes(RelationshipCategory.FAMILY)
GUARANTEE = frozenset({"guarantee"})


def P(n: int) -> PartyId:
    """The party id numbered ``n`` (ids order as their numbers do)."""
    return PartyId(uuid.UUID(f"00000000-0000-7000-8000-{n:012x}"))


def R(n: int) -> RelationshipId:
    """The relationship id numbered ``n``."""
    return RelationshipId(uuid.UUID(f"00000000-0000-7000-9000-{n:012x}"))


def C(n: int) -> CustomerId:
    return CustomerId(uuid.UUID(f"00000000-0000-7000-a000-{n:012x}"))


def org(n: int, name: str | None = None, **kw: Any) -> Party:
    return attrs.evolve(Party.organization(name or f"公司{n}有限公司", **kw), id=P(n))


def person(n: int, name: str) -> Party:
    return attrs.evolve(Party.person(name), id=P(n))


def rel(
    n: int,
    code: str,
    source: int,
    target: int,
    start: datetime.date = Y2020,
    end: datetime.date | None = None,
    *,
    share: Decimal | str | None = None,
    amount: Money | None = None,
) -> Relationship:
    """Relationship ``R(n)`` of type ``code`` from ``P(source)`` to ``P(target)``."""
    if share is None and TYPES.get(code).carries_share:
        raise ValueError("give a share")
    if amount is None and TYPES.get(code).carries_amount:
        amount = Money(Decimal("1000000.00"), "CNY")
    return Relationship(
        id=R(n),
        type=TYPES.get(code),
        source=P(source),
        target=P(target),
        valid_from=start,
        valid_to=end,
        share=Decimal(share) if share is not None else None,
        amount=amount,
    )


def build(store: Store, parties: Sequence[Party], relationships: Sequence[Relationship]) -> None:
    with store.unit_of_work(HEAD_OFFICE) as uow:
        uow.parties.add_many(parties)
        for r in relationships:
            uow.relationships.add(r)
        uow.commit()


def snapshot(store: Store) -> tuple[Any, ...]:
    """What a refused write must leave unchanged."""
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        return _snapshot(uow)


def _snapshot(uow: UnitOfWork) -> tuple[Any, ...]:
    return (
        uow.parties.count(),
        uow.relationships.count(),
        [(e.action, e.entity_id, e.entity_version) for e in uow.audit.entries(limit=100_000)],
        [(m.event_type, m.aggregate_id) for m in uow.outbox.pending(limit=100_000)],
    )


def ids(reached: Sequence[Reached]) -> list[PartyId]:
    return [r.party_id for r in reached]


class GroupStoreContract:
    """The behaviour every store shows for parties, relationships and graph queries."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        raise NotImplementedError("provide a `store` fixture returning a fresh, empty store")

    # -- parties -------------------------------------------------------------------------

    def test_party_round_trip(self, store: Store) -> None:
        company = org(1, "华东控股集团有限公司", customer_id=C(1), lei=make_lei(1), country="CN")
        someone = person(2, "张三丰")
        build(store, [company, someone], [])
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.parties.get(P(1)) == attrs.evolve(company, version=1)
            assert uow.parties.get(P(2)) == attrs.evolve(someone, version=1)
            assert uow.parties.find(P(3)) is None
            with pytest.raises(NotFoundError):
                uow.parties.get(P(3))
            assert uow.parties.get_many([P(2), P(3)]) == {P(2): attrs.evolve(someone, version=1)}
            assert uow.parties.count() == 2

    def test_find_by_customer_and_lei(self, store: Store) -> None:
        build(store, [org(1, customer_id=C(1), lei=make_lei(1)), org(2, lei=make_lei(2))], [])
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.parties.add(org(3, customer_id=C(3), lei=make_lei(3)))  # pending, still found
            assert uow.parties.find_by_customer(C(1)).id == P(1)  # type: ignore[union-attr]
            assert uow.parties.find_by_customer(C(3)).id == P(3)  # type: ignore[union-attr]
            assert uow.parties.find_by_customer(C(2)) is None
            assert uow.parties.find_by_lei(make_lei(2)).id == P(2)  # type: ignore[union-attr]
            assert uow.parties.find_by_lei(make_lei(9)) is None
            assert uow.parties.ids_by_lei([make_lei(1), make_lei(3), make_lei(9)]) == {
                make_lei(1): P(1),
                make_lei(3): P(3),
            }
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:  # rolled back
            assert uow.parties.find_by_customer(C(3)) is None
            assert uow.parties.ids_by_lei([make_lei(3)]) == {}

    @pytest.mark.parametrize(
        "twin",
        [
            pytest.param(org(9, customer_id=C(1)), id="same-customer"),
            pytest.param(org(9, lei=make_lei(1)), id="same-lei"),
            pytest.param(org(1, "另一个名字"), id="same-id"),
        ],
    )
    def test_a_party_key_is_unique(self, store: Store, twin: Party) -> None:
        build(store, [org(1, customer_id=C(1), lei=make_lei(1))], [])
        before = snapshot(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(DuplicateError):
                uow.parties.add(twin)
            uow.commit()
        assert snapshot(store) == before
        with store.unit_of_work(HEAD_OFFICE) as uow:  # within one unit of work too
            uow.parties.add(org(5, customer_id=C(5), lei=make_lei(5)))
            with pytest.raises(DuplicateError):
                uow.parties.add(org(6, customer_id=C(5)))
            with pytest.raises(DuplicateError):
                uow.parties.add(org(7, lei=make_lei(5)))
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.parties.count() == 2

    def test_add_many_parties_is_all_or_nothing(self, store: Store) -> None:
        build(store, [org(1, lei=make_lei(1))], [])
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.parties.add(org(2))
            with pytest.raises(DuplicateError):
                uow.parties.add_many([org(3), org(4, lei=make_lei(1))])
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.parties.count() == 2
            assert uow.parties.get_many([P(1), P(2), P(3), P(4)]).keys() == {P(1), P(2)}

    def test_party_update_is_version_checked_audited_and_published(self, store: Store) -> None:
        build(store, [org(1, lei=make_lei(1))], [])
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            read = uow.parties.get(P(1))
        with store.unit_of_work(HEAD_OFFICE) as uow:
            stored = uow.parties.update(*read.revised(AT, name="华东控股", country="CN"))
            uow.commit()
        assert (stored.version, stored.name, stored.country) == (2, "华东控股", "CN")
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(ConflictError):
                uow.parties.update(*read.revised(AT, name="过时的名字"))
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.parties.get(P(1)) == stored
            entries = uow.audit.entries(entity_id=str(P(1)))
            messages = [m for m in uow.outbox.pending() if m.aggregate_id == str(P(1))]
        assert [(e.action, e.entity_type, e.entity_version) for e in entries] == [
            ("party.registered", "party", 1),
            ("party.revised", "party", 2),
        ]
        assert entries[1].changes["name"] == {"before": "公司1有限公司", "after": "华东控股"}
        assert set(entries[1].changes) == {"name", "country"}
        assert entries[1].actor == "ho-1"
        assert [m.event_type for m in messages] == ["PartyRegistered", "PartyRevised"]
        assert messages[1].payload["fields"] == ["country", "name"]

    def test_bad_party_updates_are_refused(self, store: Store) -> None:
        build(store, [org(1), person(2, "李四")], [])
        before = snapshot(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            p1 = uow.parties.get(P(1))
            with pytest.raises(NotFoundError):
                uow.parties.update(*org(3).revised(AT, name="不存在"))
            with pytest.raises(ValidationError):  # a company cannot become a person
                uow.parties.update(attrs.evolve(person(1, "王五"), version=1))
            _, foreign_events = uow.parties.get(P(2)).revised(AT, name="李四四")
            with pytest.raises(ValidationError):  # an event of another party
                uow.parties.update(attrs.evolve(p1, name="新名字"), foreign_events)
            with pytest.raises(ValidationError):
                uow.parties.update("not a party")  # type: ignore[arg-type]
            uow.commit()
        assert snapshot(store) == before

    def test_revised_keys_move_with_the_party(self, store: Store) -> None:
        build(store, [org(1, customer_id=C(1), lei=make_lei(1)), org(2)], [])
        with store.unit_of_work(HEAD_OFFICE) as uow:
            p1 = uow.parties.get(P(1))
            uow.parties.update(*p1.revised(AT, lei=make_lei(11), customer_id=None))
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE) as uow:
            assert uow.parties.find_by_lei(make_lei(1)) is None
            assert uow.parties.find_by_lei(make_lei(11)).id == P(1)  # type: ignore[union-attr]
            assert uow.parties.find_by_customer(C(1)) is None
            p2 = uow.parties.get(P(2))
            uow.parties.update(*p2.revised(AT, lei=make_lei(1), customer_id=C(1)))
            with pytest.raises(DuplicateError):
                uow.parties.add(org(3, lei=make_lei(11)))
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.parties.ids_by_lei([make_lei(1), make_lei(11)]) == {
                make_lei(1): P(2),
                make_lei(11): P(1),
            }
            assert uow.parties.find_by_customer(C(1)).id == P(2)  # type: ignore[union-attr]

    def test_audit_masks_a_persons_name_but_not_a_companys(self, store: Store) -> None:
        build(store, [person(1, "张三丰"), org(2, "华东控股集团有限公司")], [])
        with store.unit_of_work(HEAD_OFFICE) as uow:
            someone = uow.parties.get(P(1))
            uow.parties.update(*someone.revised(AT, name="张无忌"))
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            registered, revised = uow.audit.entries(entity_id=str(P(1)))
            (company,) = uow.audit.entries(entity_id=str(P(2)))
        for masked_name in (
            registered.changes["name"]["after"],
            revised.changes["name"]["before"],
            revised.changes["name"]["after"],
        ):
            assert masked_name.startswith("张") and masked_name not in {"张三丰", "张无忌"}
            assert "三丰" not in masked_name and "无忌" not in masked_name
        assert registered.changes["kind"]["after"] == "person"
        assert company.changes["name"]["after"] == "华东控股集团有限公司"

    # -- relationships -------------------------------------------------------------------

    def test_relationship_round_trip_audit_and_outbox(self, store: Store) -> None:
        build(store, [org(1), org(2)], [])
        holding = rel(1, "shareholding", 1, 2, share="30.5")
        guarantee = rel(2, "guarantee", 1, 2, D(2021, 3, 1), D(2026, 3, 1))
        with store.unit_of_work(HEAD_OFFICE) as uow:
            assert uow.relationships.add(holding) == attrs.evolve(holding, version=1)
            uow.relationships.add(guarantee)
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            got = uow.relationships.get(R(1))
            assert got == attrs.evolve(holding, version=1)
            assert got.share == Decimal("30.5") and got.type is TYPES.get("shareholding")
            assert uow.relationships.get(R(2)).amount == Money(Decimal("1000000.00"), "CNY")
            assert uow.relationships.count() == 2
            with pytest.raises(NotFoundError):
                uow.relationships.get(R(3))
            entries = uow.audit.entries(entity_id=str(R(1)))
            messages = [m for m in uow.outbox.pending() if m.aggregate_id == str(R(2))]
        assert [(e.action, e.entity_type, e.entity_version) for e in entries] == [
            ("relationship.recorded", "relationship", 1)
        ]
        changes = entries[0].changes
        assert changes["type"]["after"] == "shareholding"
        assert changes["source"]["after"] == str(P(1))
        assert Decimal(changes["share"]["after"]) == Decimal("30.5")
        assert changes["valid_from"]["after"] == "2020-01-01"
        assert [m.event_type for m in messages] == ["RelationshipRecorded"]
        assert messages[0].payload["type"] == "guarantee"
        assert messages[0].payload["target"] == str(P(2))

    def test_of_party_by_date_type_and_direction(self, store: Store) -> None:
        build(
            store,
            [org(1), org(2), org(3)],
            [
                rel(3, "supplier", 1, 2, D(2021, 1, 1)),
                rel(2, "shareholding", 1, 2, Y2020, D(2022, 1, 1), share="10"),
                rel(1, "guarantee", 3, 1, D(2021, 1, 1)),
                rel(4, "director", 3, 2, D(2023, 1, 1)),
            ],
        )
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            of = uow.relationships.of_party

            def got(party: int, **kw: Any) -> list[RelationshipId]:
                return [r.id for r in of(P(party), **kw)]

            assert got(1) == [R(2), R(1), R(3)]  # valid_from, then id
            assert got(1, direction=Direction.DOWN) == [R(2), R(3)]
            assert got(1, direction=Direction.UP) == [R(1)]
            assert got(1, at=D(2020, 6, 1)) == [R(2)]
            assert got(1, at=D(2022, 1, 1)) == [R(1), R(3)]  # valid_to is exclusive
            assert got(1, at=D(2021, 12, 31), types={"supplier", "shareholding"}) == [R(2), R(3)]
            assert got(2, at=D(2023, 1, 1), direction=Direction.UP) == [R(3), R(4)]
            assert got(2, at=D(2022, 12, 31), direction=Direction.UP) == [R(3)]
            assert got(9) == []

    def test_ending_keeps_history_and_past_dates_answer(self, store: Store) -> None:
        build(
            store,
            [person(1, "张三"), person(2, "李四"), org(3, "标的公司")],
            [rel(1, "shareholding", 1, 3, share="60")],
        )
        with store.unit_of_work(HEAD_OFFICE) as uow:
            old = uow.relationships.get(R(1))
            ended, events = old.ended(D(2023, 1, 1), AT)
            stored = uow.relationships.update(ended, events)
            # the replacement from the same day: 60% again, now held by P(2)
            uow.relationships.add(rel(2, "shareholding", 2, 3, D(2023, 1, 1), share="60"))
            uow.commit()
        assert (stored.version, stored.valid_to) == (2, D(2023, 1, 1))
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            rs = uow.relationships
            assert rs.get(R(1)) == stored
            holders = rs.of_party
            assert [r.id for r in holders(P(3), at=D(2022, 12, 31))] == [R(1)]
            assert [r.id for r in holders(P(3), at=D(2023, 1, 1))] == [R(2)]
            assert [r.id for r in holders(P(3))] == [R(1), R(2)]
            up: dict[str, Any] = {"at": D(2022, 6, 30), "types": SHARES, "direction": Direction.UP}
            assert ids(rs.reach(P(3), **up)) == [P(3), P(1)]
            assert rs.paths(P(3), P(1), **up).paths[0].parties == (P(3), P(1))
            up["at"] = D(2024, 6, 30)
            assert ids(rs.reach(P(3), **up)) == [P(3), P(2)]
            assert rs.paths(P(3), P(1), **up).paths == ()
            assert rs.tree(P(1), at=D(2022, 6, 30), types=SHARES) == [
                TreeNode(P(3), P(1), R(1), "shareholding", 1)
            ]
            assert rs.tree(P(1), at=D(2023, 6, 30), types=SHARES) == []
            entries = uow.audit.entries(entity_id=str(R(1)))
            messages = [m for m in uow.outbox.pending() if m.aggregate_id == str(R(1))]
        assert [(e.action, e.entity_version) for e in entries] == [
            ("relationship.recorded", 1),
            ("relationship.ended", 2),
        ]
        assert entries[1].changes == {"valid_to": {"before": None, "after": "2023-01-01"}}
        assert [m.event_type for m in messages] == ["RelationshipRecorded", "RelationshipEnded"]
        assert messages[1].payload["valid_to"] == "2023-01-01"

    def test_only_an_earlier_end_date_may_change(self, store: Store) -> None:
        build(store, [org(1), org(2)], [rel(1, "shareholding", 1, 2, share="10")])
        with store.unit_of_work(HEAD_OFFICE) as uow:
            first = uow.relationships.update(*uow.relationships.get(R(1)).ended(D(2025, 1, 1), AT))
            uow.commit()
        before = snapshot(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(ValidationError):  # any other field
                uow.relationships.update(attrs.evolve(first, share=Decimal(20)))
            with pytest.raises(ValidationError):
                uow.relationships.update(attrs.evolve(first, valid_from=D(2019, 1, 1)))
            with pytest.raises(BusinessRuleViolation):  # reopened
                uow.relationships.update(attrs.evolve(first, valid_to=None))
            with pytest.raises(BusinessRuleViolation):  # extended
                uow.relationships.update(attrs.evolve(first, valid_to=D(2026, 1, 1)))
            with pytest.raises(BusinessRuleViolation):  # the model refuses a later end too
                first.ended(D(2025, 1, 1), AT)
            with pytest.raises(ConflictError):  # stale version
                uow.relationships.update(attrs.evolve(first, version=1, valid_to=D(2024, 1, 1)))
            with pytest.raises(NotFoundError):
                uow.relationships.update(rel(7, "supplier", 1, 2, end=D(2021, 1, 1)))
            with pytest.raises(ValidationError):
                uow.relationships.update("not a relationship")  # type: ignore[arg-type]
            uow.commit()
        assert snapshot(store) == before
        with store.unit_of_work(HEAD_OFFICE) as uow:  # moving the end earlier is allowed
            again = uow.relationships.update(*first.ended(D(2024, 1, 1), AT))
            uow.commit()
        assert (again.version, again.valid_to) == (3, D(2024, 1, 1))

    def test_stale_end_conflicts(self, store: Store) -> None:
        build(store, [org(1), org(2)], [rel(1, "supplier", 1, 2)])
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            read = uow.relationships.get(R(1))
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.relationships.update(*read.ended(D(2024, 1, 1), AT))
            uow.commit()
        before = snapshot(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(ConflictError):
                uow.relationships.update(*read.ended(D(2023, 1, 1), AT))
            uow.commit()
        assert snapshot(store) == before
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.relationships.get(R(1)).valid_to == D(2024, 1, 1)

    # -- refusals: error class and nothing written --------------------------------------

    @staticmethod
    def _refusal_graph(store: Store) -> None:
        # P1 holds 60% of P4 and is the parent of P2, which is the parent of P3.
        build(
            store,
            [org(1), org(2), org(3), org(4)],
            [
                rel(1, "shareholding", 1, 4, share="60"),
                rel(2, "direct_parent", 1, 2),
                rel(3, "direct_parent", 2, 3),
                rel(4, "shareholding", 2, 4, D(2021, 1, 1), share="40"),
            ],
        )

    @pytest.mark.parametrize(
        ("bad", "error"),
        [
            pytest.param(
                Relationship.record(
                    RelationshipType(
                        code="pledgor",
                        name="Share pledge",
                        source_role="pledgor",
                        target_role="pledgee",
                        category=RelationshipCategory.OTHER,
                    ),
                    P(1),
                    P(2),
                    valid_from=Y2020,
                ),
                ValidationError,
                id="unknown-type",
            ),
            pytest.param(
                Relationship.record(
                    RelationshipType(
                        code="guarantee",
                        name="Guarantee",
                        source_role="guarantor",
                        target_role="borrower",
                        category=RelationshipCategory.OTHER,
                    ),
                    P(1),
                    P(2),
                    valid_from=Y2020,
                ),
                ValidationError,
                id="registered-code-other-meaning",
            ),
            pytest.param(rel(10, "supplier", 9, 1), NotFoundError, id="unknown-source"),
            pytest.param(rel(10, "supplier", 1, 9), NotFoundError, id="unknown-target"),
            pytest.param(
                rel(10, "shareholding", 3, 4, D(2021, 1, 1), share="0.0001"),
                BusinessRuleViolation,
                id="shares-over-100",
            ),
            pytest.param(
                rel(10, "shareholding", 3, 4, D(2019, 1, 1), D(2021, 1, 2), share="0.0001"),
                BusinessRuleViolation,
                id="shares-over-100-on-one-later-day",
            ),
            pytest.param(rel(10, "direct_parent", 2, 1), BusinessRuleViolation, id="2-cycle"),
            pytest.param(
                rel(10, "actual_control", 3, 1), BusinessRuleViolation, id="control-closes-cycle"
            ),
            pytest.param(
                rel(10, "ultimate_parent", 3, 1, D(2030, 1, 1)),
                BusinessRuleViolation,
                id="ultimate-closes-cycle-later",
            ),
            pytest.param(
                attrs.evolve(rel(10, "supplier", 1, 2), version=1),
                ValidationError,
                id="not-version-0",
            ),
            pytest.param(rel(1, "supplier", 1, 3), DuplicateError, id="duplicate-id"),
            pytest.param("P1 supplies P2", ValidationError, id="not-a-relationship"),
        ],
    )
    def test_refused_relationships_write_nothing(
        self, store: Store, bad: Relationship, error: type[CrmError]
    ) -> None:
        self._refusal_graph(store)
        before = snapshot(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(error):
                uow.relationships.add(bad)
            assert _snapshot(uow) == before
            uow.commit()  # committing after a refusal writes nothing either
        assert snapshot(store) == before
        with store.unit_of_work(HEAD_OFFICE) as uow:  # add_many refuses the whole batch
            with pytest.raises(error):
                uow.relationships.add_many([rel(11, "supplier", 1, 3), bad])
            uow.commit()
        assert snapshot(store) == before

    def test_shareholdings_total_at_most_100_on_every_day(self, store: Store) -> None:
        build(
            store,
            [org(1), org(2), org(3), org(9)],
            [
                rel(1, "shareholding", 1, 9, Y2020, D(2022, 1, 1), share="60"),
                rel(2, "shareholding", 2, 9, Y2020, share="40"),  # exactly 100%
            ],
        )
        accepted = [
            rel(3, "shareholding", 3, 9, D(2022, 1, 1), share="60"),  # after P1's ended
            rel(4, "shareholding", 3, 9, D(2019, 1, 1), Y2020, share="100"),  # before both
        ]
        refused = [
            rel(5, "shareholding", 3, 9, D(2021, 12, 31), D(2022, 1, 2), share="0.0001"),
            rel(6, "shareholding", 3, 9, D(2019, 6, 1), D(2020, 1, 2), share="1"),
            rel(7, "shareholding", 3, 9, D(2035, 1, 1), share="0.5"),  # after P3's 60% began
        ]
        with store.unit_of_work(HEAD_OFFICE) as uow:
            for r in accepted:
                uow.relationships.add(r)
            for r in refused:
                with pytest.raises(BusinessRuleViolation):
                    uow.relationships.add(r)
            # pending holdings count too: two halves of what is left would overflow
            uow.parties.add(org(10))
            uow.relationships.add(rel(8, "shareholding", 1, 10, share="60"))
            with pytest.raises(BusinessRuleViolation):
                uow.relationships.add_many(
                    [
                        rel(9, "shareholding", 2, 10, share="30"),
                        rel(11, "shareholding", 3, 10, share="10.0001"),
                    ]
                )
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.relationships.count() == 5
            held = [r.id for r in uow.relationships.of_party(P(9), direction=Direction.UP)]
            assert held == [R(4), R(1), R(2), R(3)]

    def test_control_and_consolidation_may_not_cycle_over_overlapping_periods(
        self, store: Store
    ) -> None:
        build(
            store,
            [org(1), org(2), org(3)],
            [
                rel(1, "direct_parent", 1, 2, Y2020, D(2022, 1, 1)),
                rel(2, "actual_control", 2, 3, D(2021, 1, 1)),
            ],
        )
        with store.unit_of_work(HEAD_OFFICE) as uow:
            # P3 -> P1 closes a cycle only while both links hold: 2021.
            with pytest.raises(BusinessRuleViolation):
                uow.relationships.add(rel(3, "direct_parent", 3, 1, D(2021, 12, 31)))
            with pytest.raises(BusinessRuleViolation):
                uow.relationships.add(rel(4, "ultimate_parent", 3, 1, D(2019, 1, 1), D(2021, 1, 2)))
            uow.relationships.add(rel(5, "direct_parent", 3, 1, D(2022, 1, 1)))
            uow.relationships.add(rel(6, "actual_control", 3, 1, D(2019, 1, 1), D(2021, 1, 1)))
            uow.relationships.add(rel(7, "direct_parent", 2, 1, D(2022, 1, 1)))  # P1->P2 ended
            # other categories may cycle freely
            uow.relationships.add(rel(8, "guarantee", 3, 1))
            uow.relationships.add(rel(9, "guarantee", 1, 3))
            uow.relationships.add(rel(10, "shareholding", 3, 1, share="10"))
            uow.relationships.add(rel(11, "shareholding", 1, 3, share="10"))
            uow.relationships.add(rel(12, "supplier", 2, 1))
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.relationships.count() == 2 + 8

    def test_an_empty_scope_may_not_write_the_graph(self, store: Store) -> None:
        build(store, [org(1), org(2)], [rel(1, "supplier", 1, 2)])
        before = snapshot(store)
        with store.unit_of_work(STRANGER) as uow:
            p1, r1 = uow.parties.get(P(1)), uow.relationships.get(R(1))  # reads are allowed
            with pytest.raises(PermissionDenied):
                uow.parties.add(org(3))
            with pytest.raises(PermissionDenied):
                uow.parties.update(*p1.revised(AT, name="新名字"))
            with pytest.raises(PermissionDenied):
                uow.relationships.add(rel(2, "guarantee", 1, 2))
            with pytest.raises(PermissionDenied):
                uow.relationships.update(*r1.ended(D(2024, 1, 1), AT))
            uow.commit()
        assert snapshot(store) == before

    def test_read_only_unit_of_work_refuses_graph_writes(self, store: Store) -> None:
        build(store, [org(1), org(2)], [rel(1, "supplier", 1, 2)])
        before = snapshot(store)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            r1 = uow.relationships.get(R(1))
            with pytest.raises(ConflictError):
                uow.parties.add(org(3))
            with pytest.raises(ConflictError):
                uow.parties.update(*uow.parties.get(P(1)).revised(AT, name="新名字"))
            with pytest.raises(ConflictError):
                uow.relationships.add(rel(2, "guarantee", 1, 2))
            with pytest.raises(ConflictError):
                uow.relationships.update(*r1.ended(D(2024, 1, 1), AT))
        assert snapshot(store) == before

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.parties.add_many([org(1), org(2)])
            uow.relationships.add(rel(1, "shareholding", 1, 2, share="100"))
            assert (uow.parties.count(), uow.relationships.count()) == (2, 1)
            assert len(uow.audit.entries()) == 3 and len(uow.outbox.pending()) == 3
            uow.rollback()
            assert (uow.parties.count(), uow.relationships.count()) == (0, 0)
            uow.parties.add(org(3))
            # leaving without commit rolls back too
        assert snapshot(store) == (0, 0, [], [])
        build(store, [org(1), org(2)], [rel(1, "shareholding", 1, 2, share="100")])
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:  # no leftovers
            assert uow.relationships.get(R(1)).share == Decimal(100)

    def test_savepoint_undoes_only_its_part(self, store: Store) -> None:
        build(store, [org(1), org(2)], [rel(1, "direct_parent", 1, 2)])
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.parties.add(org(3))
            uow.relationships.add(rel(2, "direct_parent", 2, 3))
            with pytest.raises(BusinessRuleViolation), uow.savepoint():
                uow.parties.add(org(4))
                uow.relationships.add(rel(3, "direct_parent", 3, 4))
                uow.relationships.add(rel(4, "actual_control", 4, 1))  # P4 -> P1 -> ... -> P4
            assert uow.parties.find(P(4)) is None
            # P3 -> P1 would close a cycle through the link kept outside the savepoint
            with pytest.raises(BusinessRuleViolation):
                uow.relationships.add(rel(5, "actual_control", 3, 1))
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert (uow.parties.count(), uow.relationships.count()) == (3, 2)
            assert [e.entity_id for e in uow.audit.entries()][-2:] == [str(P(3)), str(R(2))]
            tree = uow.relationships.tree(P(1), at=MID_2024, types=TREE)
            assert [(n.party_id, n.depth) for n in tree] == [(P(2), 1), (P(3), 2)]

    # -- graph queries -------------------------------------------------------------------

    @staticmethod
    def _group(store: Store) -> None:
        """A group on 2024-06-30 (``=>`` direct_parent, ``~>`` actual_control)::

        H1 => A2 => C4 => E5        H1 -ultimate_parent-> E5
        H1 => B3 => C4              (C4 has two parents; A2 wins the tie: lower id)
              A2 ~> D6 (R20)        A2 => D6 (R21): the lower relationship id wins
        H1 => F7 until 2024-01-01   H1 => G8 from 2025-01-01
        """
        build(
            store,
            [org(n) for n in range(1, 9)],
            [
                rel(1, "direct_parent", 1, 2),
                rel(2, "direct_parent", 1, 3),
                rel(12, "direct_parent", 2, 4),
                rel(11, "direct_parent", 3, 4),
                rel(21, "direct_parent", 2, 6),
                rel(20, "actual_control", 2, 6),
                rel(30, "direct_parent", 4, 5),
                rel(31, "ultimate_parent", 1, 5),
                rel(40, "direct_parent", 1, 7, Y2020, D(2024, 1, 1)),
                rel(41, "direct_parent", 1, 8, D(2025, 1, 1)),
            ],
        )

    def test_tree_down_with_depths_and_tie_breaks(self, store: Store) -> None:
        self._group(store)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            tree = uow.relationships.tree
            assert tree(P(1), at=MID_2024, types=TREE) == [
                TreeNode(P(2), P(1), R(1), "direct_parent", 1),
                TreeNode(P(3), P(1), R(2), "direct_parent", 1),
                TreeNode(P(4), P(2), R(12), "direct_parent", 2),
                TreeNode(P(6), P(2), R(20), "actual_control", 2),
                TreeNode(P(5), P(4), R(30), "direct_parent", 3),
            ]
            assert [(n.party_id, n.depth) for n in tree(P(1), at=D(2023, 6, 30), types=TREE)][
                :3
            ] == [(P(2), 1), (P(3), 1), (P(7), 1)]
            assert [n.party_id for n in tree(P(1), at=D(2025, 1, 1), types=TREE)] == [
                P(2),
                P(3),
                P(8),
                P(4),
                P(6),
                P(5),
            ]
            assert [n.party_id for n in tree(P(1), at=MID_2024, types=TREE, max_depth=1)] == [
                P(2),
                P(3),
            ]
            # with the ultimate shortcut, E5 hangs directly under H1
            assert tree(P(1), at=MID_2024, types=GROUP)[2] == TreeNode(
                P(5), P(1), R(31), "ultimate_parent", 1
            )
            assert tree(P(1), at=D(2019, 12, 31), types=TREE) == []
            assert tree(P(5), at=MID_2024, types=TREE) == []

    def test_tree_up_reaches_every_parent_at_its_fewest_depth(self, store: Store) -> None:
        self._group(store)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            up = uow.relationships.tree(P(5), at=MID_2024, types=GROUP, direction=Direction.UP)
        assert up == [
            TreeNode(P(1), P(5), R(31), "ultimate_parent", 1),
            TreeNode(P(4), P(5), R(30), "direct_parent", 1),
            TreeNode(P(2), P(4), R(12), "direct_parent", 2),
            TreeNode(P(3), P(4), R(11), "direct_parent", 2),
        ]

    def test_reach_closure_and_tops(self, store: Store) -> None:
        self._group(store)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            reach = uow.relationships.reach
            up = reach(P(5), at=MID_2024, types=GROUP, direction=Direction.UP)
            assert up == [
                Reached(P(5), None, False),
                Reached(P(1), None, True),
                Reached(P(2), None, False),
                Reached(P(3), None, False),
                Reached(P(4), None, False),
            ]
            down = reach(P(1), at=MID_2024, types=TREE, direction=Direction.DOWN)
            assert ids(down) == [P(1), P(2), P(3), P(4), P(5), P(6)]
            assert [r.top for r in down] == [True, False, False, False, False, False]
            past = reach(P(1), at=D(2023, 12, 31), types=TREE, direction=Direction.DOWN)
            assert P(7) in ids(past) and P(8) not in ids(past)
            assert reach(P(1), at=D(2019, 1, 1), types=GROUP, direction=Direction.DOWN) == [
                Reached(P(1), None, True)
            ]
            # the whole group of a member, whichever way the links point
            both = reach(P(6), at=MID_2024, types=GROUP, direction=Direction.BOTH)
            assert ids(both) == [P(6), P(1), P(2), P(3), P(4), P(5)]

    def test_reach_bounded_counts_fewest_hops(self, store: Store) -> None:
        self._group(store)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            reach = uow.relationships.reach
            one = reach(P(5), at=MID_2024, types=GROUP, direction=Direction.UP, max_hops=1)
            assert one == [
                Reached(P(5), 0, False),
                Reached(P(1), 1, True),
                Reached(P(4), 1, False),
            ]
            two = reach(P(1), at=MID_2024, types=TREE, direction=Direction.DOWN, max_hops=2)
            assert [(r.party_id, r.hops) for r in two] == [
                (P(1), 0),
                (P(2), 1),
                (P(3), 1),
                (P(4), 2),
                (P(6), 2),
            ]

    @staticmethod
    def _cross_holdings(store: Store) -> None:
        """P1 (a person) holds 60% of X2 and 10% of Y3; X2 holds 50% of Y3 and Y3 holds
        20% of X2 (a cross-holding)."""
        build(
            store,
            [person(1, "王大"), org(2), org(3)],
            [
                rel(1, "shareholding", 1, 2, share="60"),
                rel(2, "shareholding", 1, 3, share="10"),
                rel(3, "shareholding", 2, 3, share="50"),
                rel(4, "shareholding", 3, 2, share="20"),
            ],
        )

    def test_paths_through_cross_holdings_terminate_and_say_so(self, store: Store) -> None:
        self._cross_holdings(store)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            rs = uow.relationships
            up = rs.paths(P(3), P(1), at=MID_2024, types=SHARES, direction=Direction.UP)
            assert up == PathSearch(
                (
                    Path((P(3), P(1)), (R(2),), (Decimal(10),)),
                    Path((P(3), P(2), P(1)), (R(3), R(1)), (Decimal(50), Decimal(60))),
                ),
                cycles_cut=1,  # Y3 <- X2 <- Y3
                depth_limited=0,
            )
            effective = sum(
                (_product(p.shares) for p in up.paths), Decimal(0)
            )  # look-through ownership: 10% + 50% x 60%
            assert effective == Decimal("0.4")
            down = rs.paths(P(1), P(3), at=MID_2024, types=SHARES, direction=Direction.DOWN)
            assert [p.parties for p in down.paths] == [(P(1), P(3)), (P(1), P(2), P(3))]
            assert down.cycles_cut == 0
            # every query returns on the cycle
            closure = rs.reach(P(2), at=MID_2024, types=SHARES, direction=Direction.DOWN)
            assert ids(closure) == [P(2), P(3)] and not any(r.top for r in closure)
            tree = rs.tree(P(2), at=MID_2024, types=SHARES)
            assert tree == [TreeNode(P(3), P(2), R(3), "shareholding", 1)]
            assert ids(rs.reach(P(1), at=MID_2024, types=SHARES, direction=Direction.BOTH)) == [
                P(1),
                P(2),
                P(3),
            ]

    def test_cycles_through_a_party(self, store: Store) -> None:
        self._cross_holdings(store)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            cycles = uow.relationships.paths(
                P(2), P(2), at=MID_2024, types=SHARES, direction=Direction.DOWN
            )
            none = uow.relationships.paths(
                P(1), P(1), at=MID_2024, types=SHARES, direction=Direction.DOWN
            )
        assert cycles.paths == (Path((P(2), P(3), P(2)), (R(3), R(4)), (Decimal(50), Decimal(20))),)
        assert (cycles.cycles_cut, cycles.depth_limited) == (0, 0)
        assert none.paths == ()

    @staticmethod
    def _guarantee_ring(store: Store) -> None:
        """P1 guarantees P2, P2 guarantees P3, P3 guarantees P1 (a ring); P2 also
        guarantees P4; P4's guarantee for P1 ended at the end of 2023."""
        build(
            store,
            [org(n) for n in range(1, 5)],
            [
                rel(1, "guarantee", 1, 2),
                rel(2, "guarantee", 2, 3),
                rel(3, "guarantee", 3, 1),
                rel(4, "guarantee", 2, 4),
                rel(5, "guarantee", 4, 1, Y2020, D(2024, 1, 1)),
            ],
        )

    def test_guarantee_rings_are_legal_and_queries_terminate(self, store: Store) -> None:
        self._guarantee_ring(store)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            rs = uow.relationships
            down: dict[str, Any] = {"at": MID_2024, "types": GUARANTEE, "direction": Direction.DOWN}
            assert rs.reach(P(1), **down) == [
                Reached(P(1), None, False),
                Reached(P(2), None, False),
                Reached(P(3), None, False),
                Reached(P(4), None, False),
            ]
            assert [(r.party_id, r.hops) for r in rs.reach(P(1), max_hops=2, **down)] == [
                (P(1), 0),
                (P(2), 1),
                (P(3), 2),
                (P(4), 2),
            ]
            to_four = rs.paths(P(1), P(4), **down)
            assert [p.relationships for p in to_four.paths] == [(R(1), R(4))]
            assert to_four.cycles_cut == 1  # P1 -> P2 -> P3 -> P1
            ring = rs.paths(P(1), P(1), **down)
            assert [p.parties for p in ring.paths] == [(P(1), P(2), P(3), P(1))]
            assert ring.paths[0].shares == (None, None, None)
            past = rs.paths(P(1), P(1), **{**down, "at": D(2023, 6, 30)})
            assert [p.relationships for p in past.paths] == [
                (R(1), R(2), R(3)),
                (R(1), R(4), R(5)),
            ]
            assert rs.tree(P(3), **down) == [
                TreeNode(P(1), P(3), R(3), "guarantee", 1),
                TreeNode(P(2), P(1), R(1), "guarantee", 2),
                TreeNode(P(4), P(2), R(4), "guarantee", 3),
            ]

    def test_paths_stop_at_the_length_limit_and_count_it(self, store: Store) -> None:
        build(
            store,
            [org(n) for n in range(1, 5)],
            [rel(n, "supplier", n, n + 1) for n in range(1, 4)],
        )
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            paths = uow.relationships.paths
            down: dict[str, Any] = {
                "at": MID_2024,
                "types": {"supplier"},
                "direction": Direction.DOWN,
            }
            short = paths(P(1), P(4), max_length=2, **down)
            full = paths(P(1), P(4), max_length=3, **down)
            up = paths(P(4), P(1), **{**down, "direction": Direction.UP})
        assert short == PathSearch((), cycles_cut=0, depth_limited=1)
        assert full == PathSearch(
            (Path((P(1), P(2), P(3), P(4)), (R(1), R(2), R(3)), (None, None, None)),), 0, 0
        )
        assert up.paths[0].parties == (P(4), P(3), P(2), P(1))

    @staticmethod
    def _family(store: Store) -> None:
        """Husband P1 and wife P2 (spouse, recorded once, P1 -> P2); their son P3
        (family_member P2 -> P3); the son's company P4 (family_enterprise P3 -> P4)."""
        build(
            store,
            [person(1, "王大"), person(2, "李二"), person(3, "王小"), org(4, "王氏贸易")],
            [
                rel(1, "spouse", 1, 2),
                rel(2, "family_member", 2, 3),
                rel(3, "family_enterprise", 3, 4),
            ],
        )

    def test_symmetric_family_links_read_both_ways(self, store: Store) -> None:
        self._family(store)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            rs = uow.relationships
            both: dict[str, Any] = {"at": MID_2024, "types": FAMILY, "direction": Direction.BOTH}
            assert ids(rs.reach(P(3), **both)) == [P(3), P(1), P(2)]
            assert ids(rs.reach(P(2), **{**both, "types": {"spouse"}})) == [P(2), P(1)]
            assert ids(rs.reach(P(1), **{**both, "types": {"spouse"}})) == [P(1), P(2)]
            assert [(r.party_id, r.hops) for r in rs.reach(P(1), max_hops=1, **both)] == [
                (P(1), 0),
                (P(2), 1),
            ]
            assert [r.id for r in rs.of_party(P(2), types={"spouse"})] == [R(1)]
            assert rs.of_party(P(2), types={"spouse"}, direction=Direction.DOWN) == []
            found = rs.paths(P(1), P(3), **both)
            assert [(p.parties, p.relationships) for p in found.paths] == [
                ((P(1), P(2), P(3)), (R(1), R(2)))
            ]
            assert [n.party_id for n in rs.tree(P(3), **both)] == [P(2), P(1)]
            everyone = TYPES.codes(
                RelationshipCategory.FAMILY, RelationshipCategory.FAMILY_ENTERPRISE
            )
            assert ids(rs.reach(P(1), **{**both, "types": everyone})) == [P(1), P(2), P(3), P(4)]

    def test_an_undirected_walk_never_uses_a_relationship_twice(self, store: Store) -> None:
        self._family(store)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            rs = uow.relationships
            both: dict[str, Any] = {"at": MID_2024, "types": FAMILY, "direction": Direction.BOTH}
            # a spouse and a son form no cycle: going back along the link just walked
            # is not a cycle through P1
            assert rs.paths(P(1), P(1), **both).paths == ()
            assert rs.paths(P(2), P(2), **both).paths == ()
            # nor is it a cycle cut on the way: the family has no cycle at all
            assert rs.paths(P(1), P(3), **both).cycles_cut == 0

    def test_query_arguments_are_checked(self, store: Store) -> None:
        build(store, [org(1)], [])
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            rs = uow.relationships
            bad: list[tuple[Any, str]] = [
                (
                    lambda: rs.reach(P(1), at=MID_2024, types="supplier", direction=Direction.UP),
                    "types",
                ),
                (
                    lambda: rs.reach(
                        P(1),
                        at=MID_2024,
                        types=SHARES,
                        direction="up",  # type: ignore[arg-type]
                    ),
                    "direction",
                ),
                (
                    lambda: rs.reach(
                        P(1), at=MID_2024, types=SHARES, direction=Direction.UP, max_hops=0
                    ),
                    "max_hops",
                ),
                (
                    lambda: rs.tree(P(1), at=datetime.datetime(2024, 6, 30), types=SHARES),
                    "at",
                ),
                (lambda: rs.tree(P(1), at=MID_2024, types=SHARES, max_depth=-1), "max_depth"),
                (
                    lambda: rs.paths(
                        P(1), P(1), at=MID_2024, types=SHARES, direction=Direction.UP, max_length=0
                    ),
                    "max_length",
                ),
                (lambda: rs.of_party(P(1), at="2024-06-30"), "at"),  # type: ignore[arg-type]
                (
                    lambda: rs.reach(
                        str(P(1)),  # type: ignore[arg-type]
                        at=MID_2024,
                        types=SHARES,
                        direction=Direction.UP,
                    ),
                    "start",
                ),
                (lambda: rs.tree("P1", at=MID_2024, types=SHARES), "root"),  # type: ignore[arg-type]
                (
                    lambda: rs.paths(
                        P(1),
                        "P2",  # type: ignore[arg-type]
                        at=MID_2024,
                        types=SHARES,
                        direction=Direction.UP,
                    ),
                    "end",
                ),
            ]
            for call, field in bad:
                with pytest.raises(ValidationError) as caught:
                    call()
                assert caught.value.problems[0].path == f"$.{field}"


def _product(shares: Sequence[Decimal | None]) -> Decimal:
    result = Decimal(1)
    for share in shares:
        assert share is not None
        result *= share / 100
    return result
