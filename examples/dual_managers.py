"""Dual customer managers (双客户经理制) through a branch's June, on embedded SQLite.

A wealth team in the Beijing branch serves its customers with a primary and a
secondary manager. The script walks through:

1. the organisation and the team's first assignments (shares 70 / 30);
2. leave cover: while the primary is on leave the secondary acts;
3. a fee split exactly across the managers;
4. a departure that is refused while customers still depend on the leaver;
5. the handover of the whole book in one transaction: secondaries promoted at once,
   the rest placed with the least-loaded colleague;
6. a customer's assignment history, the book report and the reassignment-reason report.

Run:  python examples/dual_managers.py [path/to/branch.db]
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from pathlib import Path

import pendulum

from finance_crm import (
    Actor,
    BusinessRuleViolation,
    FixedClock,
    IdDocumentType,
    IdentityDocument,
    IndividualCustomer,
    LeavePeriod,
    Money,
    OrgUnit,
    OrgUnitKind,
    Phone,
    StaffId,
    StaffMember,
    StaffRole,
    acting_manager,
    assign_managers,
    assignment_history,
    book_report,
    depart_staff,
    hand_over_book,
    reason_report,
    split_credit,
)
from finance_crm.adapters.sql import SqlStore
from finance_crm.model.documents import make_resident_id

CUSTOMERS = [  # number, name, primary, secondary
    ("P1001", "赵敏", "RM01", "RM02"),
    ("P1002", "钱多多", "RM01", "RM03"),
    ("P1003", "孙悦", "RM01", None),
    ("P1004", "李雷", "RM01", None),
    ("P1005", "周芷若", "RM02", "RM01"),
    ("P1006", "吴彤", "RM03", None),
]


def open_customer(number: str, name: str, seed: int, at: pendulum.DateTime) -> IndividualCustomer:
    resident_id = make_resident_id("110105", datetime.date(1980 + seed, 5, 17), seed)
    return IndividualCustomer.open(
        customer_number=number,
        name=name,
        at=at,
        identity_documents=[IdentityDocument(type=IdDocumentType.RESIDENT_ID, number=resident_id)],
        phones=[Phone(number=f"1381234{seed:04d}")],
    )


def main(path: Path) -> None:
    clock = FixedClock(pendulum.datetime(2025, 6, 2, 9, tz="Asia/Shanghai"))
    store = SqlStore.from_url(f"sqlite:///{path}", clock=clock)
    store.upgrade_schema()
    admin = Actor("HR-ADMIN", roles=frozenset({"head_office"}))

    print("== 1. The organisation and the team's first assignments")
    head = OrgUnit.head_office("HO", "总行")
    beijing = head.child("BJ", "北京分行", OrgUnitKind.BRANCH)
    team = beijing.child("BJ-W1", "财富管理一组", OrgUnitKind.TEAM)
    with store.unit_of_work(admin) as uow:
        for unit in (head, beijing, team):
            uow.organization.add_unit(unit)
        uow.organization.add_staff(
            StaffMember(
                id=StaffId("SV01"), name="周主管", unit=team.code, roles={StaffRole.SUPERVISOR}
            )
        )
        for code, name in (("RM01", "王芳"), ("RM02", "李娜"), ("RM03", "张伟")):
            uow.organization.add_staff(StaffMember(id=StaffId(code), name=name, unit=team.code))
        uow.commit()

    supervisor = Actor("SV01")  # the team's supervisor distributes new customers
    ids = {}
    with store.unit_of_work(supervisor) as uow:
        for seed, (number, name, primary, secondary) in enumerate(CUSTOMERS, start=1):
            customer = open_customer(number, name, seed, clock.now())
            uow.customers.add(customer)
            ids[number] = customer.id
            assign_managers(
                uow,
                customer.id,
                primary=StaffId(primary),
                secondary=StaffId(secondary) if secondary else None,
                reason="new_customer",
            )
        uow.commit()
    with store.unit_of_work(Actor("RM01"), read_only=True) as uow:  # a customer manager
        page = uow.customers.page(limit=10)
        print(
            f"   RM01 sees her {len(page.items)} customers, names masked:",
            ", ".join(f"{s.customer_number} {s.name}" for s in page.items),
        )
        key = uow.assignments.get(ids["P1001"])
        print(
            f"   P1001: primary {key.primary} {key.shares[key.primary]}%, "
            f"secondary {key.secondary} {key.shares[key.secondary or key.primary]}%"
        )

    print("\n== 2. Leave cover: RM01 is on annual leave 9-13 June")
    with store.unit_of_work(supervisor) as uow:
        rm01 = uow.organization.get_staff(StaffId("RM01"))
        leave = LeavePeriod(datetime.date(2025, 6, 9), datetime.date(2025, 6, 13))
        uow.organization.update_staff(*rm01.take_leave(leave, at=clock.now()))
        uow.commit()
    with store.unit_of_work(supervisor, read_only=True) as uow:
        for number in ("P1001", "P1002", "P1003"):
            acting = acting_manager(uow, ids[number], datetime.date(2025, 6, 10))
            if acting.covering_for:
                note = f"{acting.staff_id} covers for {acting.covering_for}"
            else:
                note = (
                    f"{acting.staff_id} (no cover: arrange one)"
                    if acting.uncovered
                    else (acting.staff_id)
                )
            print(f"   10 June, {number}: {note}")

    print("\n== 3. A 12,345.67 fee on P1001 split by the shares, to the fen")
    with store.unit_of_work(supervisor, read_only=True) as uow:
        parts = split_credit(uow, ids["P1001"], Money.of("12345.67", "CNY"))
    for staff_id, part in parts.items():
        print(f"   {staff_id}: {part}")

    print("\n== 4. RM01 resigns on 20 June: marking her departed at once is refused")
    clock.set(pendulum.datetime(2025, 6, 20, 17, tz="Asia/Shanghai"))
    with store.unit_of_work(supervisor) as uow:
        try:
            depart_staff(uow, StaffId("RM01"))
        except BusinessRuleViolation as exc:
            print("   BusinessRuleViolation:", str(exc)[:110], "...")

    print("\n== 5. The handover of RM01's whole book, in one transaction")
    with store.unit_of_work(supervisor) as uow:
        report = hand_over_book(uow, StaffId("RM01"), reason="staff_departure")
        uow.commit()
    print(f"   secondaries promoted at once: {report.secondary_promoted}")
    print(f"   placed with a colleague:      {report.reassigned} -> {dict(report.successors)}")
    print(f"   other roles closed:           {dict(report.roles_closed)}")
    print(f"   RM01 departed:                {report.departed}")

    print("\n== 6. Reports")
    with store.unit_of_work(supervisor, read_only=True) as uow:
        print("   P1001's assignment history:")
        for record in assignment_history(uow, ids["P1001"]):
            team_text = ", ".join(
                f"{m.staff_id} {m.role.value} {m.share}%" for m in record.managers
            )
            until = record.effective_to.date() if record.effective_to else "now"
            print(
                f"     v{record.version} {record.effective_from.date()}..{until} "
                f"[{record.reason}] by {record.actor}: {team_text}"
            )
        print("   Books:")
        for line in book_report(uow):
            print(f"     {line.staff_id}: {line.book_size}/{line.capacity} customers")
        print("   Reassignment reasons (改派原因), June 2025:")
        for row in reason_report(
            uow, since=datetime.date(2025, 6, 1), until=datetime.date(2025, 6, 30)
        ):
            print(f"     {row.period} {row.unit} {row.reason}: {row.count}  ({row.description})")
    store.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.unlink(missing_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder) / "branch.db")
