"""Group services (集团关系) on memory and SQLite: group, parents, controller, ownership,
household, guarantees, replacing relationships and the group view."""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pendulum
import pytest

from finance_crm import (
    STANDARD_RELATIONSHIP_TYPES,
    Actor,
    BusinessRuleViolation,
    ConflictError,
    CurrencyMismatch,
    Direction,
    FixedClock,
    FixedFigures,
    GroupRules,
    MemberFigures,
    Money,
    NotFoundError,
    OrgUnit,
    OrgUnitKind,
    Party,
    PartyKind,
    PermissionDenied,
    RelationshipCategory,
    RelationshipType,
    StaffId,
    StaffMember,
    ValidationError,
    actual_controller,
    assign_managers,
    effective_ownership,
    end_relationship,
    group_of,
    group_tree,
    group_view,
    guarantee_chain,
    guarantee_circles,
    household,
    party_for_customer,
    party_names,
    register_party,
    relate,
    related_parties,
    replace_relationship,
    ultimate_parent,
)
from finance_crm.adapters.memory import InMemoryStore
from finance_crm.testing import make_corporate, make_individual

D = datetime.date
START = D(2020, 1, 1)
TODAY = D(2025, 6, 30)
ADMIN = Actor("ho-1", roles={"head_office"})
CLOCK = pendulum.datetime(2025, 7, 1, 9, tz="UTC")


def _sql_store(path: Path, **kwargs: Any) -> Any:
    from finance_crm.adapters.sql import SqlStore

    store = SqlStore.from_url(f"sqlite:///{path / 'groups.db'}", **kwargs)
    store.upgrade_schema()
    return store


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("clock", FixedClock(CLOCK))
        if request.param == "memory":
            store: Any = InMemoryStore(**kwargs)
        else:
            directory = tmp_path / str(len(made))
            directory.mkdir()
            store = _sql_store(directory, **kwargs)
        made.append(store)
        return store

    yield make
    for store in made:
        if hasattr(store, "close"):
            store.close()


@pytest.fixture
def store(make_store: Any) -> Any:
    return make_store()


def parties(store: Any, *names: str, kind: PartyKind = PartyKind.ORGANIZATION) -> list[Party]:
    made = [Party(kind=kind, name=n) for n in names]
    with store.unit_of_work(ADMIN) as uow:
        stored = [register_party(uow, p) for p in made]
        uow.commit()
    return stored


def link(store: Any, *links: tuple[Any, ...]) -> list[Any]:
    """Record (type, source, target[, share or amount][, valid_from[, valid_to]])."""
    out = []
    with store.unit_of_work(ADMIN) as uow:
        for item in links:
            type_code, source, target, *rest = item
            kwargs: dict[str, Any] = {"valid_from": START}
            if rest and isinstance(rest[0], (Decimal, int, str, Money)):
                value = rest.pop(0)
                kwargs["amount" if isinstance(value, Money) else "share"] = value
            if rest:
                kwargs["valid_from"] = rest.pop(0)
            if rest:
                kwargs["valid_to"] = rest.pop(0)
            out.append(relate(uow, type_code, source.id, target.id, **kwargs))
        uow.commit()
    return out


def read(store: Any) -> Any:
    return store.unit_of_work(ADMIN, read_only=True)


# -- group, parents, controller ------------------------------------------------------


def test_group_is_the_closure_over_control_and_consolidation_only(store: Any) -> None:
    a, b, c, d, e = parties(store, "A", "B", "C", "D", "E")
    (person,) = parties(store, "Founder", kind=PartyKind.PERSON)
    link(
        store,
        ("direct_parent", a, b),
        ("direct_parent", b, c),
        ("actual_control", person, a),
        ("shareholding", a, d, "30"),  # a minority holding does not make a group
        ("supplier", e, c),
    )
    with read(store) as uow:
        group = group_of(uow, c.id, at=TODAY)
        assert set(group.members) == {a.id, b.id, c.id, person.id}
        assert group.ultimate_parent == a.id
        assert group.actual_controller == person.id
        assert group_of(uow, d.id, at=TODAY).members == (d.id,)
        assert group_of(uow, d.id, at=TODAY).ultimate_parent == d.id


def test_ultimate_parent_takes_the_farthest_top_and_follows_ultimate_links(store: Any) -> None:
    top, mid, low, other_top = parties(store, "Top", "Mid", "Low", "OtherTop")
    link(
        store,
        ("direct_parent", top, mid),
        ("direct_parent", mid, low),
        ("ultimate_parent", other_top, low, D(2019, 1, 1), D(2021, 1, 1)),
    )
    with read(store) as uow:
        assert ultimate_parent(uow, low.id, at=TODAY) == top.id
        assert ultimate_parent(uow, top.id, at=TODAY) == top.id
        # in 2020 low had two tops: top at 2 hops, other_top at 1; the farthest wins
        assert ultimate_parent(uow, low.id, at=D(2020, 6, 1)) == top.id
        assert ultimate_parent(uow, low.id, at=D(2019, 6, 1)) == other_top.id


def test_actual_controller_is_the_farthest_control_link_up(store: Any) -> None:
    holding, sub, vehicle = parties(store, "Holding", "Sub", "Vehicle")
    (founder,) = parties(store, "Founder", kind=PartyKind.PERSON)
    with read(store) as uow:
        assert actual_controller(uow, sub.id, at=TODAY) is None
    link(
        store,
        ("direct_parent", holding, sub),
        ("actual_control", vehicle, holding),
        ("actual_control", founder, vehicle, D(2023, 1, 1)),
    )
    with read(store) as uow:
        assert actual_controller(uow, sub.id, at=TODAY) == founder.id
        assert actual_controller(uow, sub.id, at=D(2022, 1, 1)) == vehicle.id
        assert actual_controller(uow, holding.id, at=TODAY) == founder.id


def test_tree_has_depths_and_skips_ultimate_shortcuts(store: Any) -> None:
    a, b, c, d = parties(store, "A", "B", "C", "D")
    link(
        store,
        ("direct_parent", a, b),
        ("direct_parent", b, c),
        ("direct_parent", c, d),
        ("ultimate_parent", a, d),
    )
    with read(store) as uow:
        tree = group_tree(uow, a.id, at=TODAY)
        assert [(n.party_id, n.depth) for n in tree] == [(b.id, 1), (c.id, 2), (d.id, 3)]
        assert tree[2].parent_id == c.id
        assert group_tree(uow, a.id, at=D(2019, 1, 1)) == []
        with pytest.raises(NotFoundError):
            group_tree(uow, Party.organization("ghost").id, at=TODAY)


# -- effective ownership -------------------------------------------------------------


def test_effective_ownership_sums_products_over_every_chain(store: Any) -> None:
    a, b, c, d = parties(store, "A", "B", "C", "D")
    link(
        store,
        ("shareholding", a, b, "60"),
        ("shareholding", a, c, "40"),
        ("shareholding", b, d, "50"),
        ("shareholding", c, d, "25.5"),
        ("shareholding", a, d, "10"),
    )
    with read(store) as uow:
        owned = effective_ownership(uow, a.id, d.id, at=TODAY)
        # 10 + 60% x 50 + 40% x 25.5 = 10 + 30 + 10.2
        assert owned.share == Decimal("50.2")
        assert len(owned.paths) == 3
        assert owned.complete
        assert effective_ownership(uow, d.id, a.id, at=TODAY).share == 0
        assert effective_ownership(uow, a.id, d.id, at=D(2019, 1, 1)).paths == ()


def test_cross_holdings_terminate_and_are_reported(store: Any) -> None:
    a, b, c = parties(store, "A", "B", "C")
    link(
        store,
        ("shareholding", a, b, "70"),
        ("shareholding", b, c, "60"),
        ("shareholding", c, b, "30"),  # cross-holding b <-> c
    )
    with read(store) as uow:
        owned = effective_ownership(uow, a.id, c.id, at=TODAY)
        assert owned.share == Decimal("42")
        assert owned.cycles_cut >= 1
        assert not owned.complete
        assert effective_ownership(uow, a.id, b.id, at=TODAY).share == Decimal("70")


def test_depth_limit_is_reported(store: Any) -> None:
    chain = parties(store, *(f"P{i}" for i in range(5)))
    link(store, *(("shareholding", x, y, "100") for x, y in itertools.pairwise(chain)))
    with read(store) as uow:
        full = effective_ownership(uow, chain[0].id, chain[4].id, at=TODAY)
        assert full.share == Decimal("100")
        cut = effective_ownership(uow, chain[0].id, chain[4].id, at=TODAY, max_depth=2)
        assert cut.share == 0 and cut.depth_limited > 0
        with pytest.raises(ValidationError):
            effective_ownership(uow, chain[0].id, chain[0].id, at=TODAY)
        with pytest.raises(ValidationError):
            effective_ownership(uow, chain[0].id, chain[1].id, at=pendulum.now())  # type: ignore[arg-type]


# -- recording: replace, end, bad input ----------------------------------------------


def test_replacing_a_holding_checks_the_new_share_only_and_keeps_history(store: Any) -> None:
    a, b, target = parties(store, "A", "B", "T")
    old, _ = link(store, ("shareholding", a, target, "60"), ("shareholding", b, target, "30"))
    with store.unit_of_work(ADMIN) as uow:
        ended, new = replace_relationship(uow, old.id, D(2024, 1, 1), share="70")
        uow.commit()
    assert ended.valid_to == D(2024, 1, 1) and new.valid_from == D(2024, 1, 1)
    with read(store) as uow:
        assert effective_ownership(uow, a.id, target.id, at=D(2023, 12, 31)).share == 60
        assert effective_ownership(uow, a.id, target.id, at=D(2024, 1, 1)).share == 70
        assert len(uow.relationships.of_party(target.id)) == 3
    with store.unit_of_work(ADMIN) as uow:
        with pytest.raises(BusinessRuleViolation, match="100%"):
            replace_relationship(uow, new.id, D(2025, 1, 1), share="71")
        # all or nothing: the 70% holding was not ended
        assert uow.relationships.get(new.id).valid_to is None


def test_end_rules(store: Any) -> None:
    a, b = parties(store, "A", "B")
    (r,) = link(store, ("direct_parent", a, b, D(2024, 1, 1)))
    with store.unit_of_work(ADMIN) as uow:
        with pytest.raises(BusinessRuleViolation):
            end_relationship(uow, r.id, D(2024, 1, 1))
        end_relationship(uow, r.id, D(2024, 6, 1))
        with pytest.raises(BusinessRuleViolation):
            end_relationship(uow, r.id, D(2024, 7, 1))
        with pytest.raises(NotFoundError):
            end_relationship(uow, Party.organization("x").id, D(2024, 7, 1))  # type: ignore[arg-type]
        uow.commit()
    with read(store) as uow:
        assert group_of(uow, b.id, at=D(2024, 3, 1)).members == tuple(sorted((a.id, b.id)))
        assert group_of(uow, b.id, at=D(2024, 6, 1)).members == (b.id,)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"type": "owns"}, ValidationError),
        ({"share": "100.5"}, ValidationError),
        ({"share": "-1"}, ValidationError),
        ({"share": 0.5}, ValidationError),
        ({"valid_to": D(2019, 1, 1)}, ValidationError),
        ({"target": "self"}, ValidationError),
        ({"target": "ghost"}, NotFoundError),
        ({"share": "60"}, BusinessRuleViolation),  # 50 already held by another
    ],
)
def test_bad_links_write_nothing(store: Any, kwargs: dict[str, Any], error: type) -> None:
    kwargs = dict(kwargs)  # the parameter is shared by the memory and SQLite runs
    a, b, t = parties(store, "A", "B", "T")
    link(store, ("shareholding", b, t, "50"))
    target = {"self": a, "ghost": Party.organization("ghost")}.get(kwargs.pop("target", ""), t)
    args = {"type": "shareholding", "share": "10", **kwargs}
    with store.unit_of_work(ADMIN) as uow:
        audit_before = len(uow.audit.entries())
        count = uow.relationships.count()
        with pytest.raises(error):
            relate(
                uow,
                args.pop("type"),
                a.id,
                target.id,
                valid_from=START,
                **args,
            )
        assert uow.relationships.count() == count
        assert len(uow.audit.entries()) == audit_before


def test_a_control_cycle_is_refused_only_when_the_periods_meet(store: Any) -> None:
    a, b, c = parties(store, "A", "B", "C")
    link(
        store,
        ("direct_parent", a, b, D(2020, 1, 1), D(2022, 1, 1)),
        ("actual_control", b, c, D(2021, 1, 1)),
    )
    with store.unit_of_work(ADMIN) as uow:
        with pytest.raises(BusinessRuleViolation, match="cycle"):
            relate(uow, "direct_parent", c.id, a.id, valid_from=D(2021, 6, 1))
        # after a stops consolidating b, c may consolidate a
        relate(uow, "direct_parent", c.id, a.id, valid_from=D(2022, 1, 1))
        uow.commit()


def test_a_bank_registers_its_own_type(make_store: Any) -> None:
    pledge = RelationshipType(
        code="share_pledge",
        name="Share pledge",
        local_name="股权质押",
        source_role="pledgor",
        target_role="pledgee",
        category=RelationshipCategory.OTHER,
    )
    store = make_store(relationship_types=STANDARD_RELATIONSHIP_TYPES.with_types(pledge))
    a, b = parties(store, "A", "B")
    (r,) = link(store, ("share_pledge", a, b))
    with read(store) as uow:
        assert uow.relationships.get(r.id).type == pledge
        found = related_parties(uow, a.id, at=TODAY, hops=1, types={"share_pledge"})
        assert [x.party_id for x in found] == [b.id]
    plain = make_store()
    a2, b2 = parties(plain, "A", "B")
    with plain.unit_of_work(ADMIN) as uow, pytest.raises(ValidationError, match="share_pledge"):
        relate(uow, "share_pledge", a2.id, b2.id, valid_from=START)


# -- household, related, guarantees --------------------------------------------------


def test_household_follows_family_links_both_ways(store: Any) -> None:
    wang, li, son, other = parties(store, "Wang", "Li", "Son", "Other", kind=PartyKind.PERSON)
    (firm,) = parties(store, "Firm")
    link(
        store,
        ("spouse", li, wang),
        ("family_member", wang, son, D(2021, 1, 1)),
        ("family_enterprise", li, firm),
        ("director", other, firm),
    )
    with read(store) as uow:
        assert household(uow, son.id, at=TODAY) == tuple(sorted((wang.id, li.id, son.id)))
        assert household(uow, son.id, at=D(2020, 6, 1)) == (son.id,)
        near = related_parties(uow, wang.id, at=TODAY, hops=2)
        assert {(r.party_id, r.hops) for r in near} == {(li.id, 1), (son.id, 1), (firm.id, 2)}


def test_guarantee_chains_and_circles(store: Any) -> None:
    a, b, c, d = parties(store, "A", "B", "C", "D")
    cny = Money.of("1000000.00", "CNY")
    link(
        store,
        ("guarantee", a, b, cny),
        ("guarantee", b, c, cny),
        ("guarantee", c, a, cny, D(2024, 1, 1)),
        ("guarantee", c, d, cny),
        ("guarantee", d, c, cny),  # mutual guarantee (互保)
    )
    with read(store) as uow:
        down = guarantee_chain(uow, a.id, at=TODAY)
        assert [(n.party_id, n.depth) for n in down] == [(b.id, 1), (c.id, 2), (d.id, 3)]
        up = guarantee_chain(uow, a.id, at=D(2023, 1, 1), direction=Direction.UP)
        assert up == []
        circles = guarantee_circles(uow, c.id, at=TODAY)
        assert sorted(c_.parties for c_ in circles) == sorted(
            [(c.id, d.id, c.id), (c.id, a.id, b.id, c.id)]
        )
        assert [x.parties for x in guarantee_circles(uow, c.id, at=D(2023, 1, 1))] == [
            (c.id, d.id, c.id)
        ]
        with pytest.raises(ValidationError):
            guarantee_chain(uow, a.id, at=TODAY, direction=Direction.BOTH)


# -- parties for customers, names, the group view ------------------------------------


def test_party_for_customer_is_found_or_made_once(store: Any) -> None:
    person, company = make_individual(7), make_corporate(8)
    with store.unit_of_work(ADMIN) as uow:
        uow.customers.add(person)
        uow.customers.add(company)
        first = party_for_customer(uow, person.id)
        assert party_for_customer(uow, person.id) == first
        assert first.kind is PartyKind.PERSON
        assert party_for_customer(uow, company.id).kind is PartyKind.ORGANIZATION
        names = party_names(uow, [first.id])
        assert names[first.id] != person.name and names[first.id][0] == person.name[0]
        uow.commit()
    with read(store) as uow:
        assert uow.parties.count() == 2


def _group_with_customers(store: Any) -> dict[str, Any]:
    head = OrgUnit.head_office("HO", "总行")
    branch = head.child("B1", "分行", OrgUnitKind.BRANCH)
    customers = {k: make_corporate(i + 20) for i, k in enumerate(("parent", "sub", "other"))}
    with store.unit_of_work(ADMIN) as uow:
        uow.organization.add_unit(head)
        uow.organization.add_unit(branch)
        for code in ("rm1", "rm2"):
            uow.organization.add_staff(StaffMember(id=StaffId(code), name="经理", unit="B1"))
        for customer in customers.values():
            uow.customers.add(customer)
        assign_managers(uow, customers["sub"].id, primary=StaffId("rm1"), reason="new_customer")
        assign_managers(uow, customers["other"].id, primary=StaffId("rm2"), reason="new_customer")
        made = {k: party_for_customer(uow, c.id) for k, c in customers.items()}
        made["outsider"] = register_party(uow, Party.organization("Outsider"))
        made["founder"] = register_party(uow, Party.person("王建国"))
        uow.commit()
    p = made
    cny = Money.of("500000.00", "CNY")
    link(
        store,
        ("direct_parent", p["parent"], p["sub"]),
        ("direct_parent", p["parent"], p["other"]),
        ("actual_control", p["founder"], p["parent"]),
        ("guarantee", p["parent"], p["sub"], cny),
        ("guarantee", p["sub"], p["outsider"], cny),
    )
    return {"parties": made, "customers": customers}


def test_group_view_without_figures_says_unknown(store: Any) -> None:
    made = _group_with_customers(store)["parties"]
    with read(store) as uow:
        view = group_view(uow, made["sub"].id, at=TODAY)
    assert view.ultimate_parent == made["parent"].id
    assert view.actual_controller == made["founder"].id
    assert len(view.members) == 4 and view.customers_held == 3
    assert view.total_aum is None and view.total_loans is None
    assert view.guarantees_given == Money.of("1000000.00", "CNY")
    assert view.guarantees_outside == Money.of("500000.00", "CNY")
    # the parent has no manager, so the manager with most members leads; a tie goes to
    # the smaller staff code
    assert view.group_manager == "rm1"
    by_party = {m.party_id: m for m in view.members}
    assert by_party[made["sub"].id].primary == "rm1"
    assert by_party[made["parent"].id].depth == 0 and by_party[made["sub"].id].depth == 1
    assert by_party[made["founder"].id].depth is None
    assert by_party[made["founder"].id].name != "王建国"  # masked for head office
    assert [r.party_id for r in view.related] == [made["outsider"].id]


def test_group_view_sums_figures_and_refuses_mixed_currencies(store: Any) -> None:
    built = _group_with_customers(store)
    customers = built["customers"]
    cny = Money.of
    figures = FixedFigures(
        {
            customers["sub"].id: MemberFigures(aum=cny("100.00", "CNY"), loans=cny("5.00", "CNY")),
            customers["other"].id: MemberFigures(aum=cny("50.50", "CNY")),
        }
    )
    with read(store) as uow:
        view = group_view(
            uow, built["parties"]["parent"].id, at=TODAY, rules=GroupRules(figures=figures)
        )
        assert view.total_aum == cny("150.50", "CNY")
        assert view.total_loans == cny("5.00", "CNY")
        assert view.total_contribution is None
        # rm1's members hold more AUM than rm2's: rm1 leads (one member each)
        assert view.group_manager == "rm1"
        usd = FixedFigures({customers["sub"].id: MemberFigures(aum=cny("1.00", "USD"))})
        with pytest.raises(CurrencyMismatch):
            group_view(uow, built["parties"]["parent"].id, at=TODAY, rules=GroupRules(figures=usd))


def test_an_empty_scope_may_not_change_the_graph(store: Any) -> None:
    (a,) = parties(store, "A")
    stranger = Actor("nobody")
    with store.unit_of_work(stranger) as uow:
        with pytest.raises(PermissionDenied, match="scope"):
            register_party(uow, Party.organization("B"))
        assert group_of(uow, a.id, at=TODAY).members == (a.id,)  # reads are not scoped


def test_two_units_of_work_cannot_each_add_half_of_a_cycle(store: Any) -> None:
    a, b = parties(store, "A", "B")
    first = store.unit_of_work(ADMIN)
    second = store.unit_of_work(ADMIN)
    if not isinstance(store, InMemoryStore):
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE (the second one waits)")
    with first as one, second as two:
        relate(one, "direct_parent", a.id, b.id, valid_from=START)
        relate(two, "direct_parent", b.id, a.id, valid_from=START)
        one.commit()
        with pytest.raises(ConflictError, match="relationship graph"):
            two.commit()
    with store.unit_of_work(ADMIN) as retry, pytest.raises(BusinessRuleViolation, match="cycle"):
        relate(retry, "direct_parent", b.id, a.id, valid_from=START)
    with read(store) as uow:
        assert uow.relationships.count() == 1
