"""A branch's morning (网点的一天), on embedded SQLite.

The Beijing branch's wealth team serves twelve customers. The script runs what the
branch's overnight batch and its managers do:

1. the nightly feeds from the data warehouse: balances (a bad row reported, not
   loaded), transactions and the monthly contribution figures;
2. re-tiering the book from the quarter-average daily AUM (季日均), with ups and downs;
3. the nightly evaluation of the service standards, and today's due list per manager
   (RM01 is on leave: RM02 stands in for her);
4. a completed visit that closes a task and leaves a follow-up;
5. the customer view (客户视图) of that customer;
6. an overdue task escalated to the supervisor (跟催) a week later;
7. the compliance report per manager and for the team;
8. RM02's week as an iCalendar file for Outlook or a phone.

Run:  python examples/branch_day.py [path/to/branch.db]
"""

from __future__ import annotations

import datetime
import sys
import tempfile
import uuid
from decimal import Decimal
from pathlib import Path

import pendulum

from finance_crm import (
    Account,
    AccountKind,
    ActivityKind,
    ActivityOutcome,
    Actor,
    CadenceStandard,
    CustomerId,
    CustomerSelection,
    DateStandard,
    EventStandard,
    FixedClock,
    IdDocumentType,
    IdentityDocument,
    ImportMode,
    IndividualCustomer,
    LeavePeriod,
    Money,
    OrgUnit,
    OrgUnitKind,
    Phone,
    RiskLevel,
    ServicePeriod,
    ServiceRules,
    ServiceTrigger,
    StaffId,
    StaffMember,
    StaffRole,
    assign_managers,
    average_daily_aum,
    broker_tiers,
    complete_activity,
    compliance_report,
    customer_tier,
    customer_view,
    due_list,
    evaluate_standards,
    load_balances,
    load_contributions,
    load_transactions,
    plan_activity,
    plan_to_ics,
    retier_book,
    weekly_plan,
)
from finance_crm.adapters.sql import SqlStore
from finance_crm.model.documents import make_resident_id

D = datetime.date
TZ = "Asia/Shanghai"
# number, name, risk level, primary, secondary, balance on 31 Mar, and in Q3: (day, balance)
BOOK = [
    ("P2001", "赵敏", 5, "RM01", "RM02", "820000", [("2025-07-20", "300000")]),
    ("P2002", "钱多多", 3, "RM01", "RM02", "150000", [("2025-07-10", "950000")]),
    ("P2003", "孙悦", 2, "RM01", None, "60000", []),
    ("P2004", "李雷", 4, "RM02", "RM01", "480000", [("2025-09-01", "470000")]),
    ("P2005", "周芷若", 1, "RM02", None, "2000000", []),
    ("P2006", "吴彤", 3, "RM02", "RM03", "95000", [("2025-08-01", "130000")]),
    ("P2007", "郑爽", 5, "RM03", None, "700000", []),
    ("P2008", "冯坤", 2, "RM03", "RM02", "20000", []),
    ("P2009", "陈晨", 4, "RM03", None, "300000", [("2025-07-05", "50000")]),
    ("P2010", "褚浩", 3, "RM01", "RM03", "110000", []),
    ("P2011", "卫青", 2, "RM02", None, "5000", [("2025-09-20", "600000")]),
    ("P2012", "蒋文", 3, "RM03", None, "510000", [("2025-07-01", "460000")]),
]

# Fed on 9 October: P2005 moved 800,000 out the day before; P2002 withdrew 20,000.
TRANSACTIONS = [
    {"account_number": "6222000005", "day": "2025-10-08", "reference": "TX-88001",
     "kind": "transfer_out", "amount": "800000.00", "currency": "CNY"},
    {"account_number": "6222000002", "day": "2025-10-08", "reference": "TX-88002",
     "kind": "withdrawal", "amount": "20000.00", "currency": "CNY"},
]  # fmt: skip
CONTRIBUTION = [
    {"customer_number": number, "month": month, "amount": amount, "currency": "CNY"}
    for number, month, amount in (
        ("P2002", "2025-07", "1850.00"),
        ("P2002", "2025-08", "2210.50"),
        ("P2002", "2025-09", "1964.20"),
        ("P2005", "2025-09", "5120.00"),
    )
]

RULES = ServiceRules(
    (
        CadenceStandard(
            code="risk_monthly",
            name="Risk level 4-5: contact at least every 30 days",
            applies_to=CustomerSelection(risk_levels={RiskLevel.GROWTH, RiskLevel.AGGRESSIVE}),
            every_days=30,
            effective_from=D(2025, 9, 1),
        ),
        CadenceStandard(
            code="quarterly_visit",
            name="One-to-one tier: a visit every quarter",
            applies_to=CustomerSelection(tiers={"one_to_one"}),
            per_period=ServicePeriod.QUARTER,
            satisfied_by={ActivityKind.VISIT, ActivityKind.MEETING},
            effective_from=D(2025, 1, 1),
        ),
        EventStandard(
            code="tier_contact",
            name="Tier change: contact within 5 business days",
            trigger=ServiceTrigger.TIER_CHANGED,
            within_business_days=5,
            lookback_days=10,
        ),
        EventStandard(
            code="birthday",
            name="Birthday greeting, 3 days before",
            trigger=ServiceTrigger.BIRTHDAY,
            days_before=3,
            satisfied_by={ActivityKind.MESSAGE, ActivityKind.CALL},
        ),
        EventStandard(
            code="large_transaction",
            name="Large transaction: contact within 2 business days",
            trigger=ServiceTrigger.LARGE_TRANSACTION,
            min_amount=Money.of("500000", "CNY"),
            within_business_days=2,
        ),
        DateStandard(
            code="mid_autumn",
            name="Mid-Autumn greeting",
            on=D(2025, 10, 6),
            satisfied_by={ActivityKind.MESSAGE},
        ),
    )
)


def open_customer(number: str, name: str, seed: int, risk: int) -> IndividualCustomer:
    born = D(1970 + seed, (seed + 8) % 12 + 1, 12)  # P2001's on 12 October
    return IndividualCustomer.open(
        customer_number=number,
        name=name,
        at=pendulum.datetime(2024, 3, 1, tz=TZ),
        birthday=born,
        risk_level=RiskLevel(risk),
        identity_documents=[
            IdentityDocument(
                type=IdDocumentType.RESIDENT_ID, number=make_resident_id("110105", born, seed)
            )
        ],
        phones=[Phone(number=f"1391234{seed:04d}")],
    )


def setup(store: SqlStore, clock: FixedClock) -> dict[str, CustomerId]:
    admin = Actor("HO-ADMIN", roles=frozenset({"head_office"}))
    head = OrgUnit.head_office("HO", "总行")
    branch = head.child("BJ", "北京分行", OrgUnitKind.BRANCH)
    team = branch.child("BJ-W2", "财富管理二组", OrgUnitKind.TEAM)
    ids: dict[str, CustomerId] = {}
    with store.unit_of_work(admin) as uow:
        for unit in (head, branch, team):
            uow.organization.add_unit(unit)
        uow.organization.add_staff(
            StaffMember(id=StaffId("SV02"), name="吴主管", unit=team.code,
                        roles={StaffRole.SUPERVISOR})
        )  # fmt: skip
        for code, name in (("RM01", "王芳"), ("RM02", "李娜"), ("RM03", "张伟")):
            uow.organization.add_staff(StaffMember(id=StaffId(code), name=name, unit=team.code))
        for seed, (number, name, risk, primary, secondary, *_rest) in enumerate(BOOK, 1):
            customer = open_customer(number, name, seed, risk)
            uow.customers.add(customer)
            ids[number] = customer.id
            assign_managers(
                uow,
                customer.id,
                primary=StaffId(primary),
                secondary=StaffId(secondary) if secondary else None,
                reason="new_customer",
                at=pendulum.datetime(2024, 3, 1, tz=TZ),
            )
            uow.accounts.add(
                Account(customer_id=customer.id, account_number=f"62220{seed:05d}",
                        kind=AccountKind.DEPOSIT, currency="CNY", opened_on=D(2024, 3, 1))
            )  # fmt: skip
        rm01 = uow.organization.get_staff(StaffId("RM01"))
        leave = LeavePeriod(D(2025, 10, 9), D(2025, 10, 10))
        uow.organization.update_staff(*rm01.take_leave(leave, at=clock.now()))
        uow.commit()
    return ids


def feed_rows(quarter: str) -> list[dict[str, str]]:
    rows = []
    for seed, (_n, _name, _r, _p, _s, opening, moves) in enumerate(BOOK, 1):
        number = f"62220{seed:05d}"
        if quarter == "Q2":
            rows.append({"account_number": number, "day": "2025-03-31", "balance": opening,
                         "currency": "CNY"})  # fmt: skip
        else:
            for day, balance in moves:
                rows.append(
                    {"account_number": number, "day": day, "balance": balance, "currency": "CNY"}
                )
    return rows


def main(path: Path) -> None:
    clock = FixedClock(pendulum.datetime(2025, 7, 1, 2, tz=TZ))
    store = SqlStore.from_url(f"sqlite:///{path}", clock=clock)
    store.upgrade_schema()
    ids = setup(store, clock)
    batch = Actor.system("nightly-batch")
    by_id = {v: k for k, v in ids.items()}

    print("== 1. The nightly balance feed (日终余额)")
    with store.unit_of_work(batch) as uow:
        load_balances(uow, feed_rows("Q2"))
        uow.commit()
    unknown = {"account_number": "99999999", "day": "2025-09-30", "balance": "1", "currency": "CNY"}
    rows = [*feed_rows("Q3"), unknown]
    clock.set(pendulum.datetime(2025, 10, 1, 2, tz=TZ))
    with store.unit_of_work(batch) as uow:
        report = load_balances(uow, rows, mode=ImportMode.SKIP_BAD_ROWS)
        uow.commit()
    print(
        f"   rows read {report.rows_read}, loaded {report.loaded}, rejected {report.rejected_rows}"
    )
    for error in report.errors:
        print(f"   row {error.row_number} {error.field}: {error.problem}")

    print("\n== 2. Re-tiering from the quarter-average daily AUM (季日均)")
    rule = broker_tiers(hysteresis=Decimal("0.1"))
    with store.unit_of_work(batch) as uow:
        retier_book(uow, rule, period=(D(2025, 4, 1), D(2025, 6, 30)))
        report_q3 = retier_book(uow, rule, period=(D(2025, 7, 1), D(2025, 9, 30)))
        uow.commit()
    print(
        f"   Q3 effective {report_q3.effective_on}: evaluated {report_q3.evaluated}, "
        f"up {report_q3.up}, down {report_q3.down}, unchanged {report_q3.unchanged}"
    )
    print(f"   customers per tier: {dict(report_q3.by_tier)}")
    with store.unit_of_work(batch, read_only=True) as uow:
        for message in uow.outbox.pending(limit=1000):
            if message.event_type == "TierChanged" and message.payload["direction"] != "initial":
                number = by_id[CustomerId(uuid.UUID(message.aggregate_id))]
                print(
                    f"   TierChanged {number}: {message.payload['previous']} -> "
                    f"{message.payload['current']} ({message.payload['direction']}, "
                    f"average {message.payload['average_aum']['amount']})"
                )
        kept = customer_tier(uow, ids["P2012"])
        q3 = average_daily_aum(uow, ids["P2012"], D(2025, 7, 1), D(2025, 9, 30))["CNY"]
        assert kept is not None
        print(
            f"   P2012 keeps {kept.tier.code} (since {kept.valid_from}) at a Q3 average of "
            f"{q3.amount}: within the 10% hysteresis below 500,000"
        )

    print("\n== 3. Thursday 9 October: the nightly evaluation and today's due lists")
    clock.set(pendulum.datetime(2025, 10, 9, 7, tz=TZ))
    with store.unit_of_work(batch) as uow:
        # Yesterday's transactions, and September's contribution figures.
        transactions = load_transactions(uow, TRANSACTIONS)
        figures = load_contributions(uow, CONTRIBUTION)
        print(
            f"   fed {transactions.loaded} transactions of 8 October and "
            f"{figures.loaded} contribution figures"
        )
        evaluation = evaluate_standards(uow, RULES)
        uow.commit()
    print(f"   tasks made: {dict(evaluation.created)}")
    with store.unit_of_work(batch, read_only=True) as uow:
        for staff in ("RM01", "RM02", "RM03"):
            items = due_list(uow, StaffId(staff), horizon_days=3)
            print(f"   {staff}: {len(items)} due by 12 October")
            for item in items:
                task = item.task
                cover = f", covering for {task.covering_for}" if task.covering_for else ""
                print(
                    f"     {task.due_on} {item.state.value:<7} {by_id[task.customer_id]} "
                    f"{task.purpose}{cover}"
                )

    print("\n== 4. RM02 visits P2002, who has just moved up, and records how it went")
    with store.unit_of_work(Actor("RM02")) as uow:
        visit = plan_activity(
            uow, customer_id=ids["P2002"], owner=StaffId("RM02"), kind=ActivityKind.VISIT,
            purpose="Welcome to one-to-one service", duration_minutes=60,
            planned_at=pendulum.datetime(2025, 10, 9, 14, tz=TZ),
        )  # fmt: skip
        plan_activity(
            uow, customer_id=ids["P2004"], owner=StaffId("RM02"), kind=ActivityKind.CALL,
            purpose="Portfolio review call", duration_minutes=20,
            planned_at=pendulum.datetime(2025, 10, 10, 10, tz=TZ),
        )  # fmt: skip
        clock.set(pendulum.datetime(2025, 10, 9, 15, 30, tz=TZ))
        complete_activity(
            uow, visit.id, outcome=ActivityOutcome.ACHIEVED, rules=RULES,
            next_step="Send the fund fact sheets", next_step_due=D(2025, 10, 13),
        )  # fmt: skip
        for task in uow.service_tasks.of_customer(ids["P2002"]):
            print(f"   {task.standard:<16} {task.status.value:<5} due {task.due_on}")
        uow.commit()

    print("\n== 5. The customer view (客户视图) of P2002, as RM02 sees it")
    with store.unit_of_work(Actor("RM02"), read_only=True) as uow:
        view = customer_view(uow, ids["P2002"])
    print(f"   {view.customer_number} {view.name}, risk level {int(view.risk_level or 0)}")
    print(f"   tier {view.tier} since {view.tier_since}")
    print(f"   AUM {view.aum['CNY']}, change this quarter {view.aum_change['CNY']}")
    print(f"   last contact {view.last_contact_on} by {view.last_contact_by}")
    print(f"   open tasks {view.open_tasks}, overdue {view.overdue_tasks}")
    print(f"   contribution this year {view.contribution['CNY']}")

    print("\n== 6. Monday 20 October: overdue work goes to the supervisor (跟催)")
    clock.set(pendulum.datetime(2025, 10, 20, 7, tz=TZ))
    with store.unit_of_work(batch) as uow:
        later = evaluate_standards(uow, RULES)
        uow.commit()
    print(f"   escalated {later.escalated} tasks")
    with store.unit_of_work(Actor("SV02"), read_only=True) as uow:
        for item in due_list(uow, StaffId("SV02")):
            task = item.task
            print(f"     {task.due_on} {by_id[task.customer_id]} {task.purpose} ({task.assignee})")

    print("\n== 7. Compliance with the service standards, October 2025")
    with store.unit_of_work(batch, read_only=True) as uow:
        for by in ("manager", "team"):
            for line in compliance_report(uow, D(2025, 10, 1), D(2025, 10, 31), by=by):
                rate = "-" if line.rate is None else f"{line.rate:.0%}"
                print(
                    f"   {by:<8} {line.key:<6} due {line.due:>2}, met {line.met:>2}, "
                    f"overdue {line.overdue:>2}: {rate}"
                )

    print("\n== 8. RM02's week as an iCalendar file")
    with store.unit_of_work(Actor("RM02"), read_only=True) as uow:
        ics = plan_to_ics(uow, weekly_plan(uow, StaffId("RM02"), D(2025, 10, 9)))
    target = path.with_name("RM02-week.ics")
    target.write_bytes(ics)
    print(f"   wrote {target.name}: {ics.count(b'BEGIN:VEVENT')} events")
    store.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.unlink(missing_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder) / "branch.db")
