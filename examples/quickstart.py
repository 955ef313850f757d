"""finance_crm in two minutes, on an embedded SQLite file.

Sets up a branch with two customer managers, opens a personal and a corporate customer
(the manager who opens them becomes their primary manager, a colleague the secondary),
shows how personal data is masked, revises a customer, prints the audit trail and the
outbox, and shows what happens when two people edit the same customer at once (a stale
write is refused, nothing is lost).

Run:  python examples/quickstart.py [path/to/branch.db]
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from pathlib import Path

import pendulum

from finance_crm import (
    Actor,
    Channel,
    ConflictError,
    CorporateCustomer,
    FixedClock,
    IdDocumentType,
    IdentityDocument,
    IndividualCustomer,
    MarketingConsent,
    Money,
    OrgUnit,
    OrgUnitKind,
    Phone,
    RiskLevel,
    StaffId,
    StaffMember,
    ValidationError,
    assign_managers,
)
from finance_crm.adapters.sql import SqlStore
from finance_crm.model.documents import make_resident_id, make_unified_social_credit_code


def main(path: Path) -> None:
    clock = FixedClock(pendulum.datetime(2025, 10, 9, 9, 30, tz="Asia/Shanghai"))
    store = SqlStore.from_url(f"sqlite:///{path}", clock=clock)
    store.upgrade_schema()  # Alembic migrations shipped in the package
    admin = Actor("HR-ADMIN", roles=frozenset({"head_office"}))
    head = OrgUnit.head_office("HO", "总行")
    branch = head.child("HZ01", "杭州分行营业部", OrgUnitKind.BRANCH)
    with store.unit_of_work(admin) as uow:
        uow.organization.add_unit(head)
        uow.organization.add_unit(branch)
        uow.organization.add_staff(StaffMember(id=StaffId("cm-0451"), name="王经理", unit="HZ01"))
        uow.organization.add_staff(StaffMember(id=StaffId("cm-0452"), name="李经理", unit="HZ01"))
        uow.commit()
    # A customer manager sees and changes only the customers she serves (access scope).
    teller = Actor("cm-0451", display_name="王经理")

    resident_id = make_resident_id("110105", datetime.date(1990, 3, 7), 123)
    zhang = IndividualCustomer.open(
        customer_number="P0000001",
        name="张三丰",
        at=clock.now(),
        identity_documents=[IdentityDocument(type=IdDocumentType.RESIDENT_ID, number=resident_id)],
        phones=[Phone(number="13812345678")],
        risk_level=RiskLevel.GROWTH,
        preferred_channels=[Channel.WECHAT, Channel.PHONE],
        consents=[MarketingConsent(channel=Channel.SMS, valid_from=datetime.date(2025, 10, 1))],
        custom_attributes={"segment": "affluent"},
    )
    company = CorporateCustomer.open(
        customer_number="E0000001",
        legal_name="杭州示例科技有限公司",
        at=clock.now(),
        identity_documents=[
            IdentityDocument(
                type=IdDocumentType.UNIFIED_SOCIAL_CREDIT_CODE,
                number=make_unified_social_credit_code(42),
            )
        ],
        industry="I6510",
        registered_capital=Money.of("10000000.00", "CNY"),
    )
    with store.unit_of_work(teller) as uow:
        for customer in (zhang, company):
            uow.customers.add(customer)
            assign_managers(
                uow,
                customer.id,
                primary=StaffId("cm-0451"),
                secondary=StaffId("cm-0452"),
                reason="new_customer",
            )
        uow.commit()

    print("== Personal data is masked in repr, str and logs")
    print("  ", zhang.phones[0], zhang.identity_documents[0])
    print("   name in repr:", repr(zhang).split("name=")[1].split(",")[0])
    print(
        "   birthday, derived from the ID number:", repr(zhang).split("birthday=")[1].split(",")[0]
    )

    print("\n== Bad input gets a clear error that never echoes the value")
    try:
        IdentityDocument(type=IdDocumentType.RESIDENT_ID, number=resident_id[:-1] + "0")
    except ValidationError as exc:
        print("  ", exc)

    print("\n== A revision, audited")
    clock.advance(days=1)
    with store.unit_of_work(teller) as uow:
        current = uow.customers.get(zhang.id)
        revised, events = current.revise(at=clock.now(), phones=(Phone(number="13900001111"),))
        uow.customers.update(revised, events)
        uow.commit()

    print("\n== Two managers edit the same customer: the later, stale write is refused")
    with store.unit_of_work(teller, read_only=True) as uow:
        seen_by_wang = uow.customers.get(zhang.id)
        seen_by_li = uow.customers.get(zhang.id)
    with store.unit_of_work(teller) as uow:
        changed, events = seen_by_wang.revise(at=clock.now(), occupation="engineer")
        uow.customers.update(changed, events)
        uow.commit()
    li = Actor("cm-0452")  # the secondary manager: zhang is in her scope too
    with store.unit_of_work(li) as uow:
        changed, events = seen_by_li.revise(at=clock.now(), occupation="teacher")
        try:
            uow.customers.update(changed, events)
        except ConflictError as exc:
            print("   ConflictError:", exc)

    print("\n== Audit trail (append-only; personal values masked)")
    with store.unit_of_work(teller, read_only=True) as uow:
        for entry in uow.audit.entries(entity_id=str(zhang.id)):
            fields = ", ".join(
                f"{k}: {v['before']!s} -> {v['after']!s}"
                for k, v in entry.changes.items()
                if k in ("phones", "occupation", "name")
            )
            print(
                f"   #{entry.sequence} {entry.recorded_at} {entry.actor} {entry.action} "
                f"v{entry.entity_version} {fields}"
            )
        print("\n== Outbox (events for the host's message bus)")
        for message in uow.outbox.pending():
            print(f"   #{message.sequence} {message.event_type} {message.aggregate_id}")
        final = uow.customers.get(zhang.id)
    assert isinstance(final, IndividualCustomer)
    print(f"\nFinal: version {final.version}, occupation {final.occupation!r}; database {path}")
    store.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.unlink(missing_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder) / "branch.db")
