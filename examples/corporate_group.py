"""An SME group (集团客户) in the relationship graph, seen whole.

A private manufacturer's group: the holding company, three subsidiaries (one with a
cross-holding), the founder who controls it all, his wife and her family enterprise, a
steel supplier, and a web of guarantees with a guarantee circle in it. Three companies
are already customers, served by two managers. The script records the graph, then
prints the group view (members, managers, AUM, loans, guarantees given, the group's
primary manager), the tree, the founder's look-through ownership, the guarantee
circle and the household, and shows that a bad link is refused and that as-of queries
answer for the past after a subsidiary is sold.

Run:  python examples/corporate_group.py [path/to/group.db]
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pendulum

from finance_crm import (
    Actor,
    BusinessRuleViolation,
    CorporateCustomer,
    FixedClock,
    FixedFigures,
    GroupRules,
    IdDocumentType,
    IdentityDocument,
    MemberFigures,
    Money,
    OrgUnit,
    OrgUnitKind,
    Party,
    StaffId,
    StaffMember,
    assign_managers,
    effective_ownership,
    end_relationship,
    group_of,
    group_tree,
    group_view,
    guarantee_circles,
    household,
    party_for_customer,
    party_names,
    register_party,
    relate,
)
from finance_crm.adapters.sql import SqlStore
from finance_crm.model.documents import make_unified_social_credit_code

D = datetime.date


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


def main(path: Path) -> None:
    clock = FixedClock(pendulum.datetime(2025, 9, 1, 9, 0, tz="Asia/Shanghai"))
    store = SqlStore.from_url(f"sqlite:///{path}", clock=clock)
    store.upgrade_schema()
    admin = Actor("HO-RISK-1", roles={"head_office"})

    # -- the branch and its managers, three customers -----------------------------------
    head = OrgUnit.head_office("HO", "总行")
    branch = head.child("SZ01", "苏州分行", OrgUnitKind.BRANCH)
    companies = {
        "holding": ("E1000001", "华东精密控股有限公司"),
        "manufacturing": ("E1000002", "苏州华东精密制造有限公司"),
        "trading": ("E1000003", "苏州华东精密贸易有限公司"),
    }
    customers = {
        key: CorporateCustomer.open(
            customer_number=number,
            legal_name=name,
            at=clock.now(),
            identity_documents=[
                IdentityDocument(
                    type=IdDocumentType.UNIFIED_SOCIAL_CREDIT_CODE,
                    number=make_unified_social_credit_code(i + 7),
                )
            ],
        )
        for i, (key, (number, name)) in enumerate(companies.items())
    }
    with store.unit_of_work(admin) as uow:
        uow.organization.add_unit(head)
        uow.organization.add_unit(branch)
        for code, name in (("cm-2001", "周经理"), ("cm-2002", "吴经理")):
            uow.organization.add_staff(StaffMember(id=StaffId(code), name=name, unit="SZ01"))
        for key, customer in customers.items():
            uow.customers.add(customer)
            primary = "cm-2002" if key == "trading" else "cm-2001"
            assign_managers(uow, customer.id, primary=StaffId(primary), reason="new_customer")
        uow.commit()

    # -- the graph: customers become parties; others are parties without being customers -
    start = D(2020, 1, 1)
    with store.unit_of_work(admin) as uow:
        holding, manufacturing, trading = (
            party_for_customer(uow, customers[k].id)
            for k in ("holding", "manufacturing", "trading")
        )
        moulds = register_party(uow, Party.organization("苏州精密模具有限公司"))
        wang = register_party(uow, Party.person("王建国"))
        li = register_party(uow, Party.person("李秀英"))
        son = register_party(uow, Party.person("王小明"))
        catering = register_party(uow, Party.organization("秀英餐饮管理有限公司"))
        steel = register_party(uow, Party.organization("江南钢材有限公司"))

        relate(uow, "shareholding", wang.id, holding.id, valid_from=start, share=Decimal("68"))
        relate(uow, "actual_control", wang.id, holding.id, valid_from=start)
        relate(uow, "legal_representative", wang.id, holding.id, valid_from=start)
        relate(uow, "spouse", wang.id, li.id, valid_from=start)
        relate(uow, "family_member", wang.id, son.id, valid_from=start)
        relate(uow, "family_enterprise", li.id, catering.id, valid_from=D(2021, 5, 1))
        for child, share in ((manufacturing, "80"), (trading, "100"), (moulds, "55")):
            relate(uow, "shareholding", holding.id, child.id, valid_from=start, share=share)
            relate(uow, "direct_parent", holding.id, child.id, valid_from=start)
        # A cross-holding: manufacturing holds 10% of the moulds maker, which holds 5% of it.
        relate(uow, "shareholding", manufacturing.id, moulds.id, valid_from=start, share="10")
        relate(uow, "shareholding", moulds.id, manufacturing.id, valid_from=start, share="5")
        relate(uow, "supplier", steel.id, manufacturing.id, valid_from=start)
        # Guarantees: manufacturing -> steel -> trading -> manufacturing is a circle.
        relate(
            uow,
            "guarantee",
            holding.id,
            manufacturing.id,
            valid_from=D(2024, 3, 1),
            amount=cny("5000000.00"),
        )
        relate(
            uow,
            "guarantee",
            manufacturing.id,
            steel.id,
            valid_from=D(2024, 6, 1),
            amount=cny("2000000.00"),
        )
        relate(
            uow,
            "guarantee",
            steel.id,
            trading.id,
            valid_from=D(2024, 6, 1),
            amount=cny("1000000.00"),
        )
        sold = relate(
            uow,
            "guarantee",
            trading.id,
            manufacturing.id,
            valid_from=D(2024, 7, 1),
            amount=cny("3000000.00"),
        )
        uow.commit()

    everyone = (holding, manufacturing, trading, moulds, wang, li, son, catering, steel)
    today = D(2025, 8, 31)

    print("== Bad links are refused, nothing written")
    with store.unit_of_work(admin) as uow:
        # (type, source, target, share): a subsidiary consolidating its own parent
        # closes a cycle; 40% more of the moulds maker would take holdings above 100%.
        attempts: tuple[tuple[str, Party, Party, Decimal | None], ...] = (
            ("direct_parent", moulds, holding, None),
            ("shareholding", steel, moulds, Decimal("40")),
        )
        for type_code, source, target, extra in attempts:
            try:
                relate(uow, type_code, source.id, target.id, valid_from=today, share=extra)
            except BusinessRuleViolation as exc:
                print(f"   {type_code}: {type(exc).__name__}: {str(exc)[:90]}...")

    print("\n== The group view on", today)
    figures = FixedFigures(
        {
            customers["holding"].id: MemberFigures(
                aum=cny("12500000.00"), loans=cny("0.00"), contribution=cny("180000.00")
            ),
            customers["manufacturing"].id: MemberFigures(
                aum=cny("3200000.00"), loans=cny("15000000.00"), contribution=cny("420000.00")
            ),
            customers["trading"].id: MemberFigures(
                aum=cny("860000.00"), loans=cny("2000000.00"), contribution=cny("65000.00")
            ),
        }
    )
    with store.unit_of_work(admin, read_only=True) as uow:
        # Names as this actor may see them: persons' names are masked for head office.
        names = party_names(uow, [p.id for p in everyone])
        view = group_view(
            uow, manufacturing.id, at=today, rules=GroupRules(figures=figures), related_hops=2
        )
        print(f"   ultimate parent: {names[view.ultimate_parent]}")
        controller = view.actual_controller
        print(f"   actual controller: {names[controller] if controller else '-'}")
        for line in view.members:
            depth = "-" if line.depth is None else line.depth
            held = "customer" if line.customer_id else "not a customer"
            aum = line.figures.aum if line.figures else "-"
            print(
                f"   depth {depth}  {line.name:<14} {held:<15} primary {line.primary or '-':<8}"
                f" AUM {aum}"
            )
        print(f"   customers held: {view.customers_held} of {len(view.members)} members")
        print(
            f"   total AUM {view.total_aum}, loans {view.total_loans}, "
            f"contribution {view.total_contribution}"
        )
        print(
            f"   guarantees given {view.guarantees_given}, "
            f"of which to parties outside the group {view.guarantees_outside}"
        )
        print(f"   group primary manager: {view.group_manager}")
        related = ", ".join(names[r.party_id] for r in view.related)
        print(f"   related parties around the group: {related}")

        print("\n== The tree below the parent")
        for node in group_tree(uow, holding.id, at=today):
            print(f"   {'  ' * node.depth}{names[node.party_id]} (depth {node.depth})")

        print("\n== Look-through ownership of the founder in the moulds maker")
        owned = effective_ownership(uow, wang.id, moulds.id, at=today)
        for chain in owned.paths:
            shares = " x ".join(f"{s}%" for s in reversed(chain.shares))
            print(f"   {' <- '.join(names[p] for p in chain.parties)}: {shares}")
        print(f"   effective share {owned.share}% (cycles cut: {owned.cycles_cut})")

        print("\n== Guarantee circles through the manufacturer")
        for circle in guarantee_circles(uow, manufacturing.id, at=today):
            print("   " + " -> ".join(names[p] for p in circle.parties))

        print("\n== The founder's household")
        print("   " + ", ".join(names[p] for p in household(uow, wang.id, at=today)))

    print("\n== The trading company leaves the group on 2025-09-01; the past stays answerable")
    with store.unit_of_work(admin) as uow:
        for r in uow.relationships.of_party(trading.id, at=today):
            if r.type.code in ("direct_parent", "shareholding") and r.source == holding.id:
                end_relationship(uow, r.id, D(2025, 9, 1))
        end_relationship(uow, sold.id, D(2025, 9, 1))
        uow.commit()
    with store.unit_of_work(admin, read_only=True) as uow:
        for day in (today, D(2025, 9, 1)):
            group = group_of(uow, holding.id, at=day)
            print(
                f"   {day}: {len(group.members)} members; trading company in the group: "
                f"{trading.id in group.members}"
            )
    store.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp) / "group.db")
