"""The contract for activities, spot checks and service tasks (日程, 抽查, 服务任务).

Subclass :class:`ServiceStoreContract` and provide a ``store`` fixture returning a
fresh, empty store in the time zone Asia/Shanghai that reads the ``clock`` fixture (a
:class:`~finance_crm.clock.FixedClock` standing at Monday 29 September 2025, 09:00 in
Shanghai, which some tests move); finance_crm runs it on the memory adapter, SQLite and
PostgreSQL.

Customers ``C(n)``, hand-made activities ``ACT(n)`` and tasks ``TK(n)`` have fixed ids
that order as their numbers do, so every ordered answer is written out. Deadlines are
counted on the China calendar: the National Day holiday of 2025 runs from 1 to 8
October, and Sunday 28 September and Saturday 11 October are make-up working days.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import icalendar
import pendulum
import pytest

from finance_crm.calendar import china_calendar
from finance_crm.clock import FixedClock
from finance_crm.errors import (
    BusinessRuleViolation,
    ConflictError,
    DuplicateError,
    NotFoundError,
    OutsideCalendarRange,
    PermissionDenied,
    ValidationError,
)
from finance_crm.ids import AccountId, ActivityId, CustomerId, ServiceTaskId, StaffId
from finance_crm.model.accounts import Account, AccountKind
from finance_crm.model.activities import (
    Activity,
    ActivityKind,
    ActivityOutcome,
    ActivityStatus,
    SpotCheck,
    SpotCheckFinding,
)
from finance_crm.model.customers import (
    Channel,
    Customer,
    CustomerKind,
    IndividualCustomer,
    LifecycleStatus,
    RiskLevel,
)
from finance_crm.model.documents import IdDocumentType, IdentityDocument, make_resident_id
from finance_crm.model.organization import (
    LeavePeriod,
    OrgUnit,
    OrgUnitKind,
    StaffMember,
    StaffRole,
)
from finance_crm.model.service_standards import (
    CadenceStandard,
    CustomerSelection,
    DateStandard,
    EventStandard,
    ServicePeriod,
    ServiceStandard,
    ServiceTask,
    ServiceTrigger,
    TaskState,
    TaskStatus,
)
from finance_crm.model.tiers import TierDirection
from finance_crm.ports import ComplianceCount, Store, UnitOfWork
from finance_crm.rules.service_standards import ServiceRules
from finance_crm.rules.tiers import broker_tiers
from finance_crm.security import DEFAULT_MASKING, Actor, PersonalDataKind
from finance_crm.services.activities import (
    ManagerDay,
    cancel_activity,
    complete_activity,
    daily_plan,
    plan_activity,
    plan_to_ics,
    record_activity,
    record_spot_check,
    reschedule_activity,
    sample_for_spot_check,
    team_view,
    weekly_plan,
)
from finance_crm.services.managers import assign_managers, depart_staff
from finance_crm.services.service_standards import (
    ComplianceLine,
    EvaluationReport,
    complete_task,
    compliance_report,
    due_list,
    evaluate_standards,
    waive_task,
)
from finance_crm.testing.factories import make_corporate

__all__ = ["ServiceStoreContract"]

HEAD_OFFICE = Actor("ho-1", roles=frozenset({"head_office"}))
COMPLIANCE = Actor("cp-1", roles=frozenset({"head_office", "compliance"}))
STRANGER = Actor("stranger")  # no staff record, no roles: an empty scope
ZONE = "Asia/Shanghai"
D = datetime.date
T0 = pendulum.datetime(2025, 9, 29, 9, tz=ZONE)  # a Monday and a business day
OPENED = pendulum.datetime(2025, 1, 2, 9, 30, tz="UTC")
LATER = pendulum.datetime(2025, 10, 9, 9, tz=ZONE)  # a day to plan for
MORNING = pendulum.datetime(2025, 9, 29, 8, tz=ZONE)  # an hour before T0
BORN = datetime.date(1980, 5, 17)
SEPT_1 = datetime.date(2025, 9, 1)
WEEK = (datetime.date(2025, 9, 22), datetime.date(2025, 9, 26))  # Monday to Friday
ROLE_PLAN = "Portfolio review"
FACTSHEET = "Send the fund factsheet"
NAMES = ("张三丰", "李四光", "王五福", "赵六合", "钱七巧", "孙八方", "周九龄", "吴十全")
CALL, VISIT, MESSAGE = ActivityKind.CALL, ActivityKind.VISIT, ActivityKind.MESSAGE
ACHIEVED, NO_CONTACT = ActivityOutcome.ACHIEVED, ActivityOutcome.NO_CONTACT
OPEN, DONE, WAIVED = TaskStatus.OPEN, TaskStatus.DONE, TaskStatus.WAIVED


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> pendulum.DateTime:
    """An instant given on the Shanghai wall clock."""
    return pendulum.datetime(year, month, day, hour, minute, tz=ZONE)


def _numbered(group: str, n: int) -> uuid.UUID:
    return uuid.UUID(f"00000000-0000-7000-{group}-{n:012x}")


def C(n: int) -> CustomerId:
    """The customer id numbered ``n`` (ids order as their numbers do)."""
    return CustomerId(_numbered("8000", n))


def ACT(n: int) -> ActivityId:
    return ActivityId(_numbered("a000", n))


def TK(n: int) -> ServiceTaskId:
    return ServiceTaskId(_numbered("9000", n))


def A(n: int) -> AccountId:
    return AccountId(_numbered("b000", n))


def S(code: str) -> StaffId:
    return StaffId(code)


def person(
    n: int,
    *,
    born: datetime.date = BORN,
    risk: RiskLevel | None = RiskLevel.BALANCED,
    status: LifecycleStatus = LifecycleStatus.ACTIVE,
    opened_at: datetime.datetime = OPENED,
) -> IndividualCustomer:
    """Individual ``C(n)`` named ``NAMES[n - 1]``, number ``P00000000n``."""
    return IndividualCustomer.open(
        customer_id=C(n),
        customer_number=f"P{n:09d}",
        name=NAMES[n - 1],
        at=opened_at,
        status=status,
        identity_documents=[
            IdentityDocument(
                type=IdDocumentType.RESIDENT_ID, number=make_resident_id("110105", born, n)
            )
        ],
        risk_level=risk,
    )


def company(n: int) -> Customer:
    """Company ``C(n)`` (a company name is not personal data: it is never masked)."""
    return attrs.evolve(make_corporate(n), id=C(n))


def build_org(store: Store) -> None:
    head = OrgUnit.head_office("HO", "总行")
    bj = head.child("BJ", "北京分行", OrgUnitKind.BRANCH)
    units = [
        head,
        bj,
        bj.child("T1", "财富一组", OrgUnitKind.TEAM),
        bj.child("T2", "财富二组", OrgUnitKind.TEAM),
        head.child("SH", "上海分行", OrgUnitKind.BRANCH),
    ]
    staff = [
        StaffMember(id=S("BH1"), name="李行长", unit="BJ", roles={StaffRole.BRANCH_HEAD}),
        StaffMember(id=S("SV1"), name="周主管", unit="T1", roles={StaffRole.SUPERVISOR}),
        StaffMember(id=S("M1"), name="王一鸣", unit="T1"),
        StaffMember(id=S("M2"), name="王二虎", unit="T1"),
        StaffMember(id=S("M3"), name="王三省", unit="T1"),
        StaffMember(id=S("M4"), name="张四海", unit="T2"),
        StaffMember(id=S("M5"), name="张五岳", unit="T2"),
        StaffMember(id=S("M9"), name="陈九州", unit="SH"),
    ]
    with store.unit_of_work(HEAD_OFFICE) as uow:
        for unit in units:
            uow.organization.add_unit(unit)
        for member in staff:
            uow.organization.add_staff(member)
        uow.commit()


def add_served(
    store: Store,
    *customers: Customer,
    primary: str = "M1",
    secondary: str | None = None,
    chief: str | None = None,
) -> None:
    """Store ``customers``, each served by the same managers from its opening."""
    with store.unit_of_work(HEAD_OFFICE) as uow:
        for customer in customers:
            uow.customers.add(customer)
            assign_managers(
                uow,
                customer.id,
                primary=S(primary),
                secondary=S(secondary) if secondary else None,
                chief=S(chief) if chief else None,
                reason="new_customer",
                at=customer.opened_at + datetime.timedelta(hours=1),
            )
        uow.commit()


def add_unserved(store: Store, *customers: Customer) -> None:
    with store.unit_of_work(HEAD_OFFICE) as uow:
        for customer in customers:
            uow.customers.add(customer)
        uow.commit()


def done_activity(
    n: int,
    customer: int,
    at: datetime.datetime,
    *,
    owner: str = "M1",
    kind: ActivityKind = CALL,
    outcome: ActivityOutcome = ACHIEVED,
    planned_at: datetime.datetime | None = None,
) -> Activity:
    """Completed activity ``ACT(n)`` built by hand (as an import or another system would)."""
    return Activity(
        id=ACT(n),
        customer_id=C(customer),
        owner=S(owner),
        kind=kind,
        purpose="Contact",
        status=ActivityStatus.COMPLETED,
        planned_at=planned_at,
        completed_at=at,
        outcome=outcome,
    )


def planned_activity(
    n: int,
    customer: int,
    at: datetime.datetime,
    *,
    owner: str = "M1",
    kind: ActivityKind = CALL,
    cancelled: bool = False,
) -> Activity:
    return Activity(
        id=ACT(n),
        customer_id=C(customer),
        owner=S(owner),
        kind=kind,
        purpose="Contact",
        planned_at=at,
        status=ActivityStatus.CANCELLED if cancelled else ActivityStatus.PLANNED,
        cancel_reason="Called off" if cancelled else None,
    )


def plan(
    uow: UnitOfWork,
    n: int = 1,
    *,
    owner: str = "M1",
    kind: ActivityKind = CALL,
    at: datetime.datetime = LATER,
    purpose: str = ROLE_PLAN,
    **more: Any,
) -> Activity:
    """plan_activity for ``C(n)``."""
    return plan_activity(
        uow, customer_id=C(n), owner=S(owner), kind=kind, purpose=purpose, planned_at=at, **more
    )


def record(
    uow: UnitOfWork,
    n: int = 1,
    *,
    owner: str = "M1",
    kind: ActivityKind = CALL,
    outcome: ActivityOutcome = ACHIEVED,
    at: datetime.datetime = MORNING,
    purpose: str = ROLE_PLAN,
    **more: Any,
) -> Activity:
    """record_activity for ``C(n)``."""
    return record_activity(
        uow,
        customer_id=C(n),
        owner=S(owner),
        kind=kind,
        purpose=purpose,
        outcome=outcome,
        completed_at=at,
        **more,
    )


def complete(
    uow: UnitOfWork,
    activity_id: ActivityId,
    *,
    outcome: ActivityOutcome = ACHIEVED,
    at: datetime.datetime = MORNING,
    **more: Any,
) -> Activity:
    return complete_activity(uow, activity_id, outcome=outcome, completed_at=at, **more)


def add_activities(store: Store, *activities: Activity) -> None:
    with store.unit_of_work(HEAD_OFFICE) as uow:
        for activity in activities:
            uow.activities.add(activity)
        uow.commit()


def task(
    n: int,
    customer: int,
    *,
    due: datetime.date,
    assignee: str = "M1",
    standard: str = "manual",
    occurrence: str | None = None,
    counts_from: datetime.date | None = None,
    created_on: datetime.date = SEPT_1,
    **changes: Any,
) -> ServiceTask:
    """Task ``TK(n)`` built by hand (occurrence ``str(n)`` unless given)."""
    return ServiceTask(
        id=TK(n),
        customer_id=C(customer),
        standard=standard,
        occurrence=occurrence or str(n),
        purpose="Manual task",
        assignee=S(assignee),
        created_on=created_on,
        counts_from=counts_from or min(created_on, due),
        due_on=due,
        **changes,
    )


def closed(t: ServiceTask, status: TaskStatus, on: datetime.date) -> ServiceTask:
    return attrs.evolve(
        t,
        status=status,
        done_on=on,
        closed_by="ho-1",
        waived_reason="The customer asked not to be called" if status is WAIVED else None,
    )


def add_tasks(store: Store, *tasks: ServiceTask) -> None:
    with store.unit_of_work(HEAD_OFFICE) as uow:
        for t in tasks:
            uow.service_tasks.add(t)
        uow.commit()


def rules_of(*standards: ServiceStandard) -> ServiceRules:
    return ServiceRules(standards, calendar=china_calendar())


def evaluate(
    store: Store, rules: ServiceRules, on: datetime.date, actor: Actor = HEAD_OFFICE
) -> EvaluationReport:
    with store.unit_of_work(actor) as uow:
        report = evaluate_standards(uow, rules, on=on)
        uow.commit()
    return report


Made = tuple[str, str, datetime.date, datetime.date, datetime.date, str, str | None]


def made(t: ServiceTask) -> Made:
    """(standard, occurrence, created_on, counts_from, due_on, assignee, covering_for)."""
    return (
        t.standard,
        t.occurrence,
        t.created_on,
        t.counts_from,
        t.due_on,
        t.assignee,
        t.covering_for,
    )


def tasks_of(store: Store, *ns: int) -> dict[int, list[Made]]:
    """Every task of each ``C(n)``, by due date then id."""
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        return {n: [made(t) for t in uow.service_tasks.of_customer(C(n))] for n in ns}


State = tuple[str, TaskStatus, datetime.date | None, ActivityId | None, str | None, Any]


def state(t: ServiceTask) -> State:
    """(occurrence, status, done_on, activity_id, escalated_to, escalated_on)."""
    return (t.occurrence, t.status, t.done_on, t.activity_id, t.escalated_to, t.escalated_on)


def states_of(store: Store, *ns: int) -> dict[int, list[State]]:
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        return {n: [state(t) for t in uow.service_tasks.of_customer(C(n))] for n in ns}


def get_task(store: Store, task_id: ServiceTaskId) -> ServiceTask:
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        return uow.service_tasks.get(task_id)


def snapshot(store: Store, *ns: int) -> tuple[Any, ...]:
    """What a refused write must leave unchanged (``ns``: customers whose activities and
    tasks count)."""
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        return (
            uow.activities.count(),
            {n: uow.activities.of_customer(C(n), limit=1000) for n in ns},
            uow.activities.spot_checks(None, D(2000, 1, 1), D(2100, 1, 1)),
            uow.service_tasks.count(),
            {n: uow.service_tasks.of_customer(C(n)) for n in ns},
            [(e.action, e.entity_id, e.entity_version) for e in uow.audit.entries(limit=100_000)],
            [(m.event_type, m.aggregate_id) for m in uow.outbox.pending(limit=100_000)],
        )


def events_of(store: Store, aggregate_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Pending events of one aggregate, oldest first, as (type, payload)."""
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        messages = uow.outbox.pending(limit=100_000)
    return [(m.event_type, dict(m.payload)) for m in messages if m.aggregate_id == aggregate_id]


def audit_of(store: Store, entity_id: str) -> list[tuple[str, int, str]]:
    """(action, entity version, actor) of one entity's audit entries."""
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        entries = uow.audit.entries(entity_id=entity_id, limit=100_000)
    return [(e.action, e.entity_version, e.actor) for e in entries]


def path_of(error: ValidationError) -> str:
    return error.problems[0].path


GROWTH_OR_MORE = CustomerSelection(risk_levels={RiskLevel.GROWTH, RiskLevel.AGGRESSIVE})
RISK_MONTHLY = CadenceStandard(
    code="risk_monthly",
    name="C4-C5 customers: contact every 30 days",
    applies_to=GROWTH_OR_MORE,
    every_days=30,
    effective_from=D(2025, 6, 1),
)
QUARTERLY_VISIT = CadenceStandard(
    code="quarterly_visit",
    name="A visit every quarter",
    per_period=ServicePeriod.QUARTER,
    satisfied_by={VISIT},
    effective_from=D(2025, 1, 1),
)
BIRTHDAY = EventStandard(
    code="birthday", name="Birthday greeting", trigger=ServiceTrigger.BIRTHDAY, days_before=3
)
TIER_CALL = EventStandard(
    code="tier_call",
    name="Call after a tier change",
    trigger=ServiceTrigger.TIER_CHANGED,
    within_business_days=5,
)
OPENED_CALL = EventStandard(
    code="opened_call",
    name="Call after an account opening",
    trigger=ServiceTrigger.ACCOUNT_OPENED,
    within_business_days=2,
)
CLOSED_CALL = EventStandard(
    code="closed_call",
    name="Call after an account closing",
    trigger=ServiceTrigger.ACCOUNT_CLOSED,
    within_business_days=2,
)
NATIONAL_DAY = DateStandard(
    code="national_day",
    name="National Day greeting",
    on=D(2025, 10, 1),
    satisfied_by={MESSAGE, CALL},
)
GREETING = ("national_day", "2025-10-01")


class ServiceStoreContract:
    """The behaviour every store shows for activities, spot checks and service tasks.

    The organisation built by the ``org`` fixture::

        HO 总行
        ├── BJ 北京分行          branch head BH1
        │   ├── T1 财富一组       supervisor SV1; managers M1 M2 M3
        │   └── T2 财富二组       managers M4 M5 (no supervisor: BH1 chases them)
        └── SH 上海分行          manager M9 (nobody above to chase)
    """

    @pytest.fixture
    def clock(self) -> FixedClock:
        return FixedClock(T0)

    @pytest.fixture
    def store(self, clock: FixedClock) -> Iterator[Store]:
        raise NotImplementedError(
            "provide a `store` fixture: a fresh, empty store in Asia/Shanghai reading "
            "the `clock` fixture"
        )

    @pytest.fixture
    def org(self, store: Store) -> Store:
        build_org(store)
        return store

    @pytest.fixture
    def served(self, org: Store) -> Store:
        """C1 张三丰 (M1, secondary M2), C2 李四光 (M2) and the company C3 (M1)."""
        add_served(org, person(1), secondary="M2")
        add_served(org, person(2), primary="M2")
        add_served(org, company(3))
        return org

    # -- activities ----------------------------------------------------------------------

    def test_plan_reschedule_and_cancel_are_stored_audited_and_published(
        self, served: Store
    ) -> None:
        store = served
        with store.unit_of_work(HEAD_OFFICE) as uow:
            planned = plan_activity(
                uow,
                customer_id=C(1),
                owner=S("M1"),
                kind=CALL,
                purpose=ROLE_PLAN,
                planned_at=local(2025, 9, 30, 10),
                duration_minutes=45,
                participants=[S("M2")],
                channel=Channel.PHONE,
            )
            expected = Activity(
                id=planned.id,
                customer_id=C(1),
                owner=S("M1"),
                kind=CALL,
                purpose=ROLE_PLAN,
                planned_at=local(2025, 9, 30, 10),
                duration_minutes=45,
                participants=(S("M2"),),
                channel=Channel.PHONE,
                version=1,
            )
            assert planned == expected
            moved = reschedule_activity(uow, planned.id, local(2025, 10, 9, 14))
            assert moved == attrs.evolve(expected, planned_at=local(2025, 10, 9, 14), version=2)
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE) as uow:
            cancelled = cancel_activity(uow, planned.id, reason="The customer is abroad")
            uow.commit()
        final = attrs.evolve(
            expected,
            planned_at=local(2025, 10, 9, 14),
            status=ActivityStatus.CANCELLED,
            cancel_reason="The customer is abroad",
            version=3,
        )
        assert cancelled == final
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.activities.get(planned.id) == final
            assert uow.activities.count() == 1
            entries = uow.audit.entries(entity_id=str(planned.id))
            with pytest.raises(NotFoundError):
                uow.activities.get(ACT(99))
        assert [(e.action, e.entity_version, e.actor) for e in entries] == [
            ("activity.added", 1, "ho-1"),
            ("activity.revised", 2, "ho-1"),
            ("activity.revised", 3, "ho-1"),
        ]
        assert entries[0].changes["planned_at"] == {
            "before": None,
            "after": "2025-09-30T02:00:00+00:00",
        }
        assert entries[1].changes == {
            "planned_at": {
                "before": "2025-09-30T02:00:00+00:00",
                "after": "2025-10-09T06:00:00+00:00",
            }
        }
        assert entries[2].changes == {
            "status": {"before": "planned", "after": "cancelled"},
            "cancel_reason": {"before": None, "after": "The customer is abroad"},
        }
        events = events_of(store, str(planned.id))
        assert [t for t, _ in events] == ["ActivityPlanned", "ActivityPlanned", "ActivityCancelled"]
        assert [p.get("planned_at") for _, p in events] == [
            "2025-09-30T02:00:00Z",
            "2025-10-09T06:00:00Z",
            None,
        ]
        assert {(p["owner"], p["customer_id"]) for _, p in events} == {("M1", str(C(1)))}

    def test_completing_masks_the_notes_in_the_audit_trail(self, served: Store) -> None:
        store = served
        notes = "张三丰 will add 500,000 to his fund next month"
        with store.unit_of_work(HEAD_OFFICE) as uow:
            planned = plan(uow, kind=VISIT, at=MORNING, duration_minutes=30)
            other = plan(uow, 2, owner="M2", at=MORNING)
            done = complete(
                uow, planned.id, at=local(2025, 9, 29, 8, 40), duration_minutes=35, notes=notes
            )
            # Without completed_at the clock's instant is taken.
            now_done = complete_activity(uow, other.id, outcome=ActivityOutcome.CONTACTED)
            uow.commit()
        assert done == attrs.evolve(
            planned,
            status=ActivityStatus.COMPLETED,
            completed_at=local(2025, 9, 29, 8, 40),
            outcome=ACHIEVED,
            duration_minutes=35,
            notes=notes,
            version=2,
        )
        assert (now_done.completed_at, now_done.outcome, now_done.version) == (
            T0,
            ActivityOutcome.CONTACTED,
            2,
        )
        assert "张三丰" not in repr(done)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.activities.get(planned.id) == done
            entry = uow.audit.entries(entity_id=str(planned.id))[-1]
        assert entry.action == "activity.revised"
        assert entry.changes == {
            "status": {"before": "planned", "after": "completed"},
            "duration_minutes": {"before": 30, "after": 35},
            "completed_at": {"before": None, "after": "2025-09-29T00:40:00+00:00"},
            "outcome": {"before": None, "after": "achieved"},
            "notes": {
                "before": None,
                "after": DEFAULT_MASKING.mask(PersonalDataKind.FREE_TEXT, notes),
            },
        }
        assert "张三丰" not in str(entry.changes) and "500,000" not in str(entry.changes)
        (kind, payload) = events_of(store, str(planned.id))[-1]
        assert kind == "ActivityCompleted"
        assert (payload["outcome"], payload["completed_at"], payload["next_step_due"]) == (
            "achieved",
            "2025-09-29T00:40:00Z",
            None,
        )
        assert "notes" not in payload

    def test_record_activity_stores_a_completed_contact(self, served: Store) -> None:
        store = served
        with store.unit_of_work(HEAD_OFFICE) as uow:
            walk_in = record_activity(
                uow,
                customer_id=C(2),
                owner=S("M2"),
                kind=ActivityKind.BRANCH_WALK_IN,
                purpose="Asked about deposit rates",
                outcome=ActivityOutcome.DECLINED,
                rejection_reason="Rates too low",
                completed_at=local(2025, 9, 28, 15),
                channel=Channel.BRANCH,
            )
            with pytest.raises(NotFoundError):
                record_activity(
                    uow,
                    customer_id=C(2),
                    owner=S("M77"),
                    kind=CALL,
                    purpose="Unknown manager",
                    outcome=ACHIEVED,
                )
            uow.commit()
        assert walk_in == Activity(
            id=walk_in.id,
            customer_id=C(2),
            owner=S("M2"),
            kind=ActivityKind.BRANCH_WALK_IN,
            purpose="Asked about deposit rates",
            status=ActivityStatus.COMPLETED,
            channel=Channel.BRANCH,
            completed_at=local(2025, 9, 28, 15),
            outcome=ActivityOutcome.DECLINED,
            rejection_reason="Rates too low",
            version=1,
        )
        assert audit_of(store, str(walk_in.id)) == [("activity.added", 1, "ho-1")]
        assert [t for t, _ in events_of(store, str(walk_in.id))] == ["ActivityCompleted"]
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.activities.count() == 1

    @pytest.mark.parametrize(
        ("attempt", "error", "path", "words"),
        [
            pytest.param(
                lambda uow, p, x: plan(uow, participants=[S("M2"), S("M1")]),
                ValidationError,
                "$.participants",
                "owner",
                id="owner-as-participant",
            ),
            pytest.param(
                lambda uow, p, x: complete(uow, p, outcome=ActivityOutcome.DECLINED),
                ValidationError,
                "$.rejection_reason",
                "rejection_reason",
                id="declined-without-reason",
            ),
            pytest.param(
                lambda uow, p, x: record(uow, outcome=ActivityOutcome.DECLINED),
                ValidationError,
                "$.rejection_reason",
                "rejection_reason",
                id="recorded-declined-without-reason",
            ),
            pytest.param(
                lambda uow, p, x: complete(uow, p, next_step=FACTSHEET),
                ValidationError,
                "$.next_step_due",
                "due date",
                id="next-step-without-due",
            ),
            pytest.param(
                lambda uow, p, x: record(uow, next_step_due=D(2025, 10, 9)),
                ValidationError,
                "$.next_step_due",
                "next step",
                id="due-without-next-step",
            ),
            pytest.param(
                lambda uow, p, x: complete(
                    uow, p, next_step=FACTSHEET, next_step_due=D(2025, 9, 28)
                ),
                ValidationError,
                "$.next_step_due",
                "before the activity",
                id="next-step-due-before-the-contact",
            ),
            pytest.param(
                lambda uow, p, x: complete(uow, p, at=local(2025, 9, 29, 9, 1)),
                ValidationError,
                "$.completed_at",
                "cannot be completed in the future",
                id="completed-in-the-future",
            ),
            pytest.param(
                lambda uow, p, x: record(uow, at=local(2025, 9, 30, 9)),
                ValidationError,
                "$.completed_at",
                "cannot be completed in the future",
                id="recorded-in-the-future",
            ),
            pytest.param(
                lambda uow, p, x: complete(uow, x),
                BusinessRuleViolation,
                None,
                "cancelled",
                id="complete-a-cancelled-activity",
            ),
            pytest.param(
                lambda uow, p, x: reschedule_activity(uow, x, LATER),
                BusinessRuleViolation,
                None,
                "cancelled",
                id="reschedule-a-cancelled-activity",
            ),
            pytest.param(
                lambda uow, p, x: cancel_activity(uow, x, reason="Twice"),
                BusinessRuleViolation,
                None,
                "cancelled",
                id="cancel-twice",
            ),
            pytest.param(
                lambda uow, p, x: plan(uow, owner="M5"),
                BusinessRuleViolation,
                None,
                "departed",
                id="plan-for-a-departed-manager",
            ),
            pytest.param(
                lambda uow, p, x: plan(uow, kind=VISIT, participants=[S("M5")]),
                BusinessRuleViolation,
                None,
                "departed",
                id="departed-participant",
            ),
            pytest.param(
                lambda uow, p, x: plan(uow, owner="M77"),
                NotFoundError,
                None,
                "M77",
                id="plan-for-an-unknown-manager",
            ),
            pytest.param(
                lambda uow, p, x: plan(uow, 99),
                NotFoundError,
                None,
                "customer",
                id="unknown-customer",
            ),
            pytest.param(
                lambda uow, p, x: plan(uow, task_id=TK(99)),
                NotFoundError,
                None,
                "task",
                id="unknown-task",
            ),
            pytest.param(
                lambda uow, p, x: plan(uow, duration_minutes=0),
                ValidationError,
                "$.duration_minutes",
                "minutes",
                id="zero-minutes",
            ),
            pytest.param(
                lambda uow, p, x: plan(uow, purpose="   "),
                ValidationError,
                "$.purpose",
                "non-blank",
                id="blank-purpose",
            ),
        ],
    )
    def test_refused_activity_changes_write_nothing(
        self,
        served: Store,
        attempt: Callable[[UnitOfWork, ActivityId, ActivityId], object],
        error: type[Exception],
        path: str | None,
        words: str,
    ) -> None:
        store = served
        with store.unit_of_work(HEAD_OFFICE) as uow:
            depart_staff(uow, S("M5"), at=local(2025, 9, 15))
            kept = plan(uow, at=MORNING)
            called_off = plan(uow, kind=VISIT, at=local(2025, 9, 30, 8))
            cancel_activity(uow, called_off.id, reason="The customer is abroad")
            uow.commit()
        before = snapshot(store, 1)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(error) as caught:
                attempt(uow, kept.id, called_off.id)
            uow.commit()
        assert words in str(caught.value)
        if path is not None:
            assert isinstance(caught.value, ValidationError)
            assert path_of(caught.value) == path
        assert snapshot(store, 1) == before

    def test_activity_writes_are_version_checked_and_keep_their_identity(
        self, served: Store
    ) -> None:
        store = served
        with store.unit_of_work(HEAD_OFFICE) as uow:
            planned = plan(uow)
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            read_by_a = uow.activities.get(planned.id)
            read_by_b = uow.activities.get(planned.id)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            moved, events = read_by_a.reschedule(local(2025, 10, 10), at=T0)
            assert uow.activities.update(moved, events).version == 2
            uow.commit()
        before = snapshot(store, 1)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            stale, events = read_by_b.cancel(reason="Stale", at=T0)
            with pytest.raises(ConflictError):
                uow.activities.update(stale, events)
            uow.commit()
        assert snapshot(store, 1) == before
        with store.unit_of_work(HEAD_OFFICE) as uow:
            current = uow.activities.get(planned.id)
            assert (current.version, current.planned_at) == (2, local(2025, 10, 10))
            for field, changed in (
                ("owner", attrs.evolve(current, owner=S("M2"))),
                ("customer_id", attrs.evolve(current, customer_id=C(2))),
                ("kind", attrs.evolve(current, kind=VISIT)),
            ):
                with pytest.raises(ValidationError) as caught:
                    uow.activities.update(changed)
                assert path_of(caught.value) == f"$.{field}"
            with pytest.raises(NotFoundError):
                uow.activities.update(attrs.evolve(current, id=ACT(98)))
            with pytest.raises(ValidationError) as caught:
                uow.activities.add(
                    attrs.evolve(planned_activity(97, 1, local(2025, 10, 9)), version=1)
                )
            assert path_of(caught.value) == "$.version"
            with pytest.raises(DuplicateError):
                uow.activities.add(attrs.evolve(current, version=0))
            with pytest.raises(NotFoundError):
                uow.activities.add(planned_activity(96, 99, local(2025, 10, 9)))
            done, events = current.complete(completed_at=T0, outcome=ACHIEVED, now=T0)
            done = uow.activities.update(done, events)
            with pytest.raises(ValidationError) as caught:
                uow.activities.update(attrs.evolve(done, purpose="Rewritten later"))
            assert path_of(caught.value) == "$.status"
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.activities.get(planned.id) == done
            assert uow.activities.count() == 1
        assert [a for a, _, _ in audit_of(store, str(planned.id))] == [
            "activity.added",
            "activity.revised",
            "activity.revised",
        ]

    def test_of_customer_is_newest_first_and_last_contact_needs_a_reached_customer(
        self, served: Store
    ) -> None:
        store = served
        add_activities(
            store,
            done_activity(1, 1, local(2025, 9, 28, 15), outcome=ActivityOutcome.CONTACTED),
            done_activity(2, 1, local(2025, 9, 29, 8), outcome=NO_CONTACT),
            planned_activity(3, 1, local(2025, 10, 9, 10), kind=VISIT),
            planned_activity(4, 1, local(2025, 10, 10, 10), cancelled=True),
            done_activity(5, 2, local(2025, 9, 29, 8, 30), owner="M2"),
            # the same instant as ACT(1): the larger id comes first
            done_activity(6, 1, local(2025, 9, 28, 15), kind=ActivityKind.EMAIL),
        )
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert [a.id for a in uow.activities.of_customer(C(1))] == [
                ACT(4),
                ACT(3),
                ACT(2),
                ACT(6),
                ACT(1),
            ]
            assert [a.id for a in uow.activities.of_customer(C(1), limit=2)] == [ACT(4), ACT(3)]
            assert [a.id for a in uow.activities.of_customer(C(2))] == [ACT(5)]
            assert uow.activities.of_customer(C(3)) == []
            # ACT(2) on the 29th reached nobody: the 28th is the last contact.
            last = uow.activities.last_contact(C(1))
            assert last is not None and last.id == ACT(6)
            assert uow.activities.last_contact(C(3)) is None
            assert uow.activities.count() == 6

    def test_plans_are_cut_at_local_midnight(self, served: Store) -> None:
        store = served
        add_activities(
            store,
            planned_activity(1, 1, local(2025, 9, 30, 0, 30)),  # 2025-09-29 16:30 UTC
            planned_activity(2, 1, local(2025, 9, 29, 23, 59)),
            planned_activity(3, 1, local(2025, 9, 30, 23, 59)),
            planned_activity(4, 1, local(2025, 10, 1, 0, 0)),
            planned_activity(5, 2, local(2025, 9, 30, 10), owner="M2"),
            planned_activity(6, 1, local(2025, 9, 30, 10), cancelled=True),
            planned_activity(7, 1, local(2025, 9, 28, 23, 59)),
            planned_activity(8, 1, local(2025, 10, 5, 23, 30)),
            planned_activity(9, 1, local(2025, 10, 6, 0, 0)),
            planned_activity(10, 1, local(2025, 9, 29, 0, 0)),
        )

        def ids(found: list[Activity]) -> list[ActivityId]:
            return [a.id for a in found]

        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert ids(daily_plan(uow, S("M1"), D(2025, 9, 30))) == [ACT(1), ACT(6), ACT(3)]
            assert ids(daily_plan(uow, S("M1"), D(2025, 9, 29))) == [ACT(10), ACT(2)]
            assert ids(daily_plan(uow, S("M2"), D(2025, 9, 30))) == [ACT(5)]
            assert daily_plan(uow, S("M3"), D(2025, 9, 30)) == []
            week = [ACT(10), ACT(2), ACT(1), ACT(6), ACT(3), ACT(4), ACT(8)]
            assert ids(weekly_plan(uow, S("M1"), D(2025, 10, 1))) == week
            assert ids(weekly_plan(uow, S("M1"), D(2025, 9, 29))) == week
            assert ids(weekly_plan(uow, S("M1"), D(2025, 10, 5))) == week
            assert ids(weekly_plan(uow, S("M1"), D(2025, 10, 6))) == [ACT(9)]
            assert ids(weekly_plan(uow, S("M1"), D(2025, 9, 28))) == [ACT(7)]
            # From (inclusive) and to (exclusive) are instants; ties go by id.
            window = uow.activities.scheduled(
                [S("M1"), S("M2")], local(2025, 9, 30, 0, 30), local(2025, 9, 30, 10)
            )
            assert ids(window) == [ACT(1)]
            window = uow.activities.scheduled(
                [S("M1"), S("M2")], local(2025, 9, 30, 0, 31), local(2025, 9, 30, 10, 1)
            )
            assert ids(window) == [ACT(5), ACT(6)]
            assert uow.activities.scheduled([], local(2025, 9, 1), local(2025, 11, 1)) == []
            with pytest.raises(NotFoundError):
                daily_plan(uow, S("M77"), D(2025, 9, 30))
            with pytest.raises(ValidationError) as caught:
                daily_plan(uow, S("M1"), local(2025, 9, 30))
            assert path_of(caught.value) == "$.day"

    def test_completed_ids_are_listed_by_local_business_day(self, served: Store) -> None:
        store = served
        add_activities(
            store,
            # 16:30 UTC on the 28th is 00:30 on the 29th in Shanghai
            done_activity(11, 1, pendulum.datetime(2025, 9, 28, 16, 30, tz="UTC")),
            done_activity(12, 2, local(2025, 9, 28, 23, 30), owner="M2"),
            done_activity(13, 1, local(2025, 9, 29, 8), outcome=NO_CONTACT),
            planned_activity(14, 1, local(2025, 9, 29, 8)),
        )
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.activities.completed(None, D(2025, 9, 29), D(2025, 9, 29)) == [
                ACT(11),
                ACT(13),
            ]
            assert uow.activities.completed(None, D(2025, 9, 28), D(2025, 9, 28)) == [ACT(12)]
            assert uow.activities.completed(None, D(2025, 9, 28), D(2025, 9, 29)) == [
                ACT(11),
                ACT(12),
                ACT(13),
            ]
            assert uow.activities.completed([S("M2")], D(2025, 9, 1), D(2025, 9, 30)) == [ACT(12)]
            assert uow.activities.completed([], D(2025, 9, 1), D(2025, 9, 30)) == []
            assert uow.activities.completed(None, D(2025, 9, 30), D(2025, 10, 30)) == []

    def test_team_view_counts_the_week_and_the_open_tasks(self, served: Store) -> None:
        store = served
        add_activities(
            store,
            planned_activity(1, 1, local(2025, 9, 30, 10)),
            done_activity(2, 1, local(2025, 9, 29, 8, 30), planned_at=local(2025, 9, 29, 8)),
            planned_activity(3, 1, local(2025, 10, 2, 10), cancelled=True),
            planned_activity(4, 1, local(2025, 10, 6, 10)),  # next week
            planned_activity(5, 2, local(2025, 10, 3, 15), owner="M2"),
        )
        add_tasks(
            store,
            task(1, 1, due=D(2025, 9, 30)),
            task(2, 1, due=D(2025, 10, 1)),
            task(3, 1, due=D(2025, 10, 2)),
            task(
                4,
                2,
                due=D(2025, 9, 25),
                assignee="M2",
                escalated_to=S("SV1"),
                escalated_on=D(2025, 9, 30),
            ),
            closed(task(5, 1, due=D(2025, 9, 20)), DONE, D(2025, 9, 19)),
            # escalated to M1 but still M3's: counted for M3
            task(
                6,
                2,
                due=D(2025, 9, 28),
                assignee="M3",
                escalated_to=S("M1"),
                escalated_on=D(2025, 10, 1),
            ),
        )
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            lines = team_view(uow, S("SV1"), D(2025, 10, 1))
            assert lines == [
                ManagerDay(
                    staff_id=S("M1"),
                    name="王**",
                    planned=3,
                    completed=1,
                    cancelled=1,
                    due_tasks=2,
                    overdue_tasks=1,
                ),
                ManagerDay(
                    staff_id=S("M2"),
                    name="王**",
                    planned=1,
                    completed=0,
                    cancelled=0,
                    due_tasks=1,
                    overdue_tasks=1,
                ),
                ManagerDay(
                    staff_id=S("M3"),
                    name="王**",
                    planned=0,
                    completed=0,
                    cancelled=0,
                    due_tasks=1,
                    overdue_tasks=1,
                ),
            ]
            branch = team_view(uow, S("BH1"), D(2025, 10, 1))
            assert [line.staff_id for line in branch] == ["M1", "M2", "M3", "M4", "M5", "SV1"]
            assert branch[:3] == lines
        with store.unit_of_work(COMPLIANCE, read_only=True) as uow:
            assert team_view(uow, S("SV1"), D(2025, 10, 1))[0].name == "王一鸣"

    # -- spot checks ---------------------------------------------------------------------

    def test_spot_check_samples_are_reproducible_and_skip_checked_activities(
        self, served: Store
    ) -> None:
        store = served
        add_activities(
            store,
            done_activity(1, 1, local(2025, 9, 22, 10)),
            done_activity(2, 2, local(2025, 9, 22, 11), owner="M2"),
            done_activity(3, 1, local(2025, 9, 23, 10)),
            done_activity(4, 2, local(2025, 9, 24, 10), owner="M2"),
            done_activity(5, 1, local(2025, 9, 25, 10), outcome=NO_CONTACT),
            done_activity(6, 2, local(2025, 9, 26, 23, 59), owner="M2"),
            done_activity(7, 1, local(2025, 9, 27, 0, 0)),  # after the window
            planned_activity(8, 1, local(2025, 9, 24, 10)),  # never done
        )

        def ids(found: list[Activity]) -> list[ActivityId]:
            return [a.id for a in found]

        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            # random.Random("7").sample over ACT(1)..ACT(6) in id order, sorted
            first = ids(sample_for_spot_check(uow, size=3, seed=7, start=WEEK[0], end=WEEK[1]))
            assert first == [ACT(2), ACT(5), ACT(6)]
            assert (
                ids(sample_for_spot_check(uow, size=3, seed="7", start=WEEK[0], end=WEEK[1]))
                == first
            )
            assert ids(sample_for_spot_check(uow, size=3, seed=8, start=WEEK[0], end=WEEK[1])) == [
                ACT(2),
                ACT(4),
                ACT(5),
            ]
            assert ids(
                sample_for_spot_check(
                    uow, size=2, seed=7, owners=[S("M2")], start=WEEK[0], end=WEEK[1]
                )
            ) == [
                ACT(2),
                ACT(6),
            ]
            assert ids(sample_for_spot_check(uow, size=10, seed=7, start=WEEK[0], end=WEEK[1])) == [
                ACT(i) for i in range(1, 7)
            ]
            with pytest.raises(ValidationError) as caught:
                sample_for_spot_check(uow, size=0, seed=7, start=WEEK[0], end=WEEK[1])
            assert path_of(caught.value) == "$.size"
        with store.unit_of_work(Actor("SV1")) as uow:
            record_spot_check(uow, ACT(2), finding=SpotCheckFinding.CONFIRMED)
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert ids(sample_for_spot_check(uow, size=10, seed=7, start=WEEK[0], end=WEEK[1])) == [
                ACT(1),
                ACT(3),
                ACT(4),
                ACT(5),
                ACT(6),
            ]

    def test_spot_checks_are_made_by_another_staff_member(self, served: Store) -> None:
        store = served
        add_activities(
            store,
            done_activity(1, 1, local(2025, 9, 26, 10)),
            planned_activity(2, 1, local(2025, 9, 30, 10)),
            done_activity(3, 2, local(2025, 9, 26, 11), owner="M2"),
        )
        supervisor = Actor("SV1")
        with store.unit_of_work(supervisor) as uow:
            confirmed = record_spot_check(uow, ACT(1), finding=SpotCheckFinding.CONFIRMED)
            uow.commit()
        assert confirmed == SpotCheck(
            id=confirmed.id,
            activity_id=ACT(1),
            customer_id=C(1),
            owner=S("M1"),
            checker=S("SV1"),
            checked_at=T0,
            finding=SpotCheckFinding.CONFIRMED,
        )
        before = snapshot(store, 1, 2)
        refusals: list[tuple[Actor, ActivityId, SpotCheckFinding, type[Exception], str | None]] = [
            (supervisor, ACT(1), SpotCheckFinding.CONFIRMED, DuplicateError, None),
            (supervisor, ACT(2), SpotCheckFinding.CONFIRMED, ValidationError, "$.activity_id"),
            (supervisor, ACT(3), SpotCheckFinding.DISCREPANCY, ValidationError, "$.notes"),
            (supervisor, ACT(3), SpotCheckFinding.UNVERIFIABLE, ValidationError, "$.notes"),
            (Actor("M2"), ACT(3), SpotCheckFinding.CONFIRMED, ValidationError, "$.checker"),
            (HEAD_OFFICE, ACT(3), SpotCheckFinding.CONFIRMED, NotFoundError, None),
            (supervisor, ACT(99), SpotCheckFinding.CONFIRMED, NotFoundError, None),
        ]
        for actor, activity_id, finding, error, path in refusals:
            with store.unit_of_work(actor) as uow:
                with pytest.raises(error) as caught:
                    record_spot_check(uow, activity_id, finding=finding)
                uow.commit()
            if path is not None:
                assert isinstance(caught.value, ValidationError)
                assert path_of(caught.value) == path
        assert snapshot(store, 1, 2) == before
        with store.unit_of_work(supervisor) as uow:
            found = record_spot_check(
                uow, ACT(3), finding=SpotCheckFinding.DISCREPANCY, notes="The customer was abroad"
            )
            uow.commit()
        assert (found.checker, found.owner, found.customer_id) == (S("SV1"), S("M2"), C(2))
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            everyone = uow.activities.spot_checks(None, D(2025, 9, 29), D(2025, 9, 29))
            assert everyone == sorted(
                [attrs.evolve(confirmed, version=1), attrs.evolve(found, version=1)],
                key=lambda c: c.id,
            )
            assert uow.activities.spot_checks([S("M2")], D(2025, 9, 1), D(2025, 9, 30)) == [
                attrs.evolve(found, version=1)
            ]
            assert uow.activities.spot_checks(None, D(2025, 9, 30), D(2025, 10, 30)) == []
            entries = uow.audit.entries(entity_id=str(confirmed.id))
        assert [(e.action, e.actor) for e in entries] == [("spot_check.recorded", "SV1")]
        assert entries[0].changes["finding"] == {"before": None, "after": "confirmed"}
        assert entries[0].changes["checker"] == {"before": None, "after": "SV1"}
        kinds = [(t, p["finding"], p["owner"]) for t, p in events_of(store, str(ACT(3)))]
        assert kinds == [("SpotCheckRecorded", "discrepancy", "M2")]

    # -- iCalendar -----------------------------------------------------------------------

    def test_plan_to_ics_gives_one_event_per_planned_activity(self, served: Store) -> None:
        store = served
        with store.unit_of_work(HEAD_OFFICE) as uow:
            call = plan(uow, at=local(2025, 9, 30, 10), duration_minutes=45)
            visit = plan(uow, 3, kind=VISIT, at=local(2025, 10, 9, 14), purpose="Cash management")
            off = plan(uow, kind=ActivityKind.MEETING, at=local(2025, 10, 10, 9))
            off = cancel_activity(uow, off.id, reason="The customer is abroad")
            walk_in = record(uow, kind=ActivityKind.BRANCH_WALK_IN)
            uow.commit()
        activities = [call, visit, off, walk_in]
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            masked = plan_to_ics(uow, activities, calendar_name="M1 plan")
        with store.unit_of_work(COMPLIANCE, read_only=True) as uow:
            unmasked = plan_to_ics(uow, activities)
        calendar = icalendar.Calendar.from_ical(masked)
        assert str(calendar["X-WR-CALNAME"]) == "M1 plan"
        events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
        assert set(events) == {f"{a.id}@finance-crm" for a in (call, visit, off)}
        zone = ZoneInfo(ZONE)
        expected = {
            call.id: (datetime.datetime(2025, 9, 30, 10, tzinfo=zone), 45, "CONFIRMED"),
            visit.id: (datetime.datetime(2025, 10, 9, 14, tzinfo=zone), 30, "CONFIRMED"),
            off.id: (datetime.datetime(2025, 10, 10, 9, tzinfo=zone), 30, "CANCELLED"),
        }
        for activity_id, (start, minutes, status) in expected.items():
            event = events[f"{activity_id}@finance-crm"]
            assert event["DTSTART"].params["TZID"] == ZONE
            assert event.decoded("DTSTART") == start
            assert event.decoded("DTSTART").utcoffset() == datetime.timedelta(hours=8)
            assert event.decoded("DURATION") == datetime.timedelta(minutes=minutes)
            assert str(event["STATUS"]) == status
        summary = str(events[f"{call.id}@finance-crm"]["SUMMARY"])
        assert "P000000001" in summary and ROLE_PLAN in summary
        assert "张**" in summary and "张三丰" not in summary
        assert "张三丰" not in masked.decode()
        company_summary = str(events[f"{visit.id}@finance-crm"]["SUMMARY"])
        assert "示例科技有限公司3" in company_summary
        assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == [ZONE]
        full = icalendar.Calendar.from_ical(unmasked)
        summaries = {str(e["UID"]): str(e["SUMMARY"]) for e in full.walk("VEVENT")}
        assert "张三丰" in summaries[f"{call.id}@finance-crm"]

    # -- tasks ---------------------------------------------------------------------------

    def test_a_task_key_is_unique_and_tasks_round_trip(self, served: Store) -> None:
        store = served
        first = task(1, 1, due=D(2025, 10, 1), occurrence="2025-09")
        add_tasks(store, first)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            assert uow.service_tasks.get(TK(1)) == attrs.evolve(first, version=1)
            with pytest.raises(DuplicateError):
                uow.service_tasks.add(task(2, 1, due=D(2025, 10, 9), occurrence="2025-09"))
            with pytest.raises(DuplicateError):
                uow.service_tasks.add(task(1, 2, due=D(2025, 10, 9), occurrence="other"))
            uow.service_tasks.add(task(3, 2, due=D(2025, 10, 9), occurrence="2025-09"))
            uow.service_tasks.add(
                task(4, 1, due=D(2025, 9, 30), occurrence="2025-09", standard="other")
            )
            with pytest.raises(DuplicateError):  # a pending twin collides too
                uow.service_tasks.add(task(5, 2, due=D(2025, 10, 9), occurrence="2025-09"))
            with pytest.raises(NotFoundError):
                uow.service_tasks.add(task(6, 99, due=D(2025, 10, 9)))
            with pytest.raises(ValidationError) as caught:
                uow.service_tasks.add(attrs.evolve(task(7, 1, due=D(2025, 10, 9)), version=3))
            assert path_of(caught.value) == "$.version"
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.service_tasks.count() == 3
            assert [t.id for t in uow.service_tasks.of_customer(C(1))] == [TK(4), TK(1)]
            assert [t.id for t in uow.service_tasks.of_customer(C(2))] == [TK(3)]
            with pytest.raises(NotFoundError):
                uow.service_tasks.get(TK(2))
        assert audit_of(store, str(TK(1))) == [("service_task.added", 1, "ho-1")]

    def test_task_writes_are_version_checked(self, served: Store) -> None:
        store = served
        add_tasks(store, task(1, 1, due=D(2025, 10, 1)))
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            read_by_a = uow.service_tasks.get(TK(1))
            read_by_b = uow.service_tasks.get(TK(1))
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.service_tasks.update(*read_by_a.complete(on=D(2025, 9, 29), by="ho-1", at=T0))
            uow.commit()
        before = snapshot(store, 1)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(ConflictError):
                uow.service_tasks.update(
                    *read_by_b.waive(reason="Stale", on=D(2025, 9, 29), by="ho-1", at=T0)
                )
            current = uow.service_tasks.get(TK(1))
            with pytest.raises(ValidationError) as caught:
                uow.service_tasks.update(attrs.evolve(current, due_on=D(2025, 12, 1)))
            assert path_of(caught.value) in ("$.due_on", "$.status")
            with pytest.raises(NotFoundError):
                uow.service_tasks.update(attrs.evolve(current, id=TK(9)))
            uow.commit()
        assert snapshot(store, 1) == before
        assert get_task(store, TK(1)).status is DONE

    def test_waiving_needs_a_reason_and_closed_tasks_stay_closed(self, served: Store) -> None:
        store = served
        add_tasks(store, task(1, 1, due=D(2025, 10, 1)), task(2, 1, due=D(2025, 10, 2)))
        before = snapshot(store, 1)
        for reason in ("", "   "):
            with store.unit_of_work(HEAD_OFFICE) as uow:
                with pytest.raises(ValidationError) as caught:
                    waive_task(uow, TK(1), reason=reason)
                uow.commit()
            assert path_of(caught.value) == "$.reason"
        assert snapshot(store, 1) == before
        with store.unit_of_work(HEAD_OFFICE) as uow:
            waived = waive_task(uow, TK(1), reason="The customer moved abroad", on=D(2025, 9, 28))
            done = complete_task(uow, TK(2))  # today: 29 September
            uow.commit()
        assert waived == attrs.evolve(
            task(1, 1, due=D(2025, 10, 1)),
            status=WAIVED,
            done_on=D(2025, 9, 28),
            closed_by="ho-1",
            waived_reason="The customer moved abroad",
            version=2,
        )
        assert done == attrs.evolve(
            task(2, 1, due=D(2025, 10, 2)),
            status=DONE,
            done_on=D(2025, 9, 29),
            closed_by="ho-1",
            version=2,
        )
        assert done.met_on_time
        before = snapshot(store, 1)
        attempts: list[Callable[[UnitOfWork], object]] = [
            lambda uow: waive_task(uow, TK(1), reason="Again"),
            lambda uow: complete_task(uow, TK(1)),
            lambda uow: waive_task(uow, TK(2), reason="After it was done"),
            lambda uow: complete_task(uow, TK(2)),
        ]
        for attempt in attempts:
            with store.unit_of_work(HEAD_OFFICE) as uow:
                with pytest.raises(BusinessRuleViolation):
                    attempt(uow)
                uow.commit()
        with store.unit_of_work(HEAD_OFFICE) as uow, pytest.raises(NotFoundError):
            complete_task(uow, TK(9))
        assert snapshot(store, 1) == before
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            entry = uow.audit.entries(entity_id=str(TK(1)))[-1]
        assert entry.action == "service_task.revised" and entry.entity_version == 2
        assert entry.changes["status"] == {"before": "open", "after": "waived"}
        assert entry.changes["waived_reason"] == {
            "before": None,
            "after": "The customer moved abroad",
        }
        assert [t for t, _ in events_of(store, str(TK(1)))] == ["ServiceTaskWaived"]
        ((kind, payload),) = events_of(store, str(TK(2)))
        assert (kind, payload["on_time"], payload["done_on"]) == (
            "ServiceTaskDone",
            True,
            "2025-09-29",
        )

    def test_due_list_puts_overdue_first_and_shows_escalations(self, served: Store) -> None:
        store = served
        add_tasks(
            store,
            task(1, 2, due=D(2025, 10, 3)),
            task(2, 3, due=D(2025, 9, 25)),
            task(3, 1, due=D(2025, 9, 29)),
            task(4, 2, due=D(2025, 9, 29)),
            task(5, 1, due=D(2025, 10, 10)),
            task(
                6,
                1,
                due=D(2025, 9, 24),
                assignee="M2",
                escalated_to=S("SV1"),
                escalated_on=D(2025, 9, 29),
            ),
            closed(task(7, 1, due=D(2025, 9, 20)), DONE, D(2025, 9, 21)),
            closed(task(8, 2, due=D(2025, 9, 20)), WAIVED, D(2025, 9, 21)),
        )

        def lines(items: list[Any]) -> list[tuple[ServiceTaskId, TaskState, bool]]:
            return [(i.task.id, i.state, i.escalated_to_me) for i in items]

        overdue, due = TaskState.OVERDUE, TaskState.DUE
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert lines(due_list(uow, S("M1"))) == [
                (TK(2), overdue, False),
                (TK(3), due, False),
                (TK(4), due, False),
            ]
            assert lines(due_list(uow, S("M1"), on=D(2025, 9, 29), horizon_days=7)) == [
                (TK(2), overdue, False),
                (TK(3), due, False),
                (TK(4), due, False),
                (TK(1), due, False),
            ]
            assert lines(due_list(uow, S("M1"), on=D(2025, 10, 10))) == [
                (TK(2), overdue, False),
                (TK(3), overdue, False),
                (TK(4), overdue, False),
                (TK(1), overdue, False),
                (TK(5), due, False),
            ]
            assert lines(due_list(uow, S("SV1"))) == [(TK(6), overdue, True)]
            assert lines(due_list(uow, S("M2"))) == [(TK(6), overdue, False)]
            assert due_list(uow, S("M3")) == []
            assert [
                t.id for t in uow.service_tasks.due_list([S("M1"), S("M2")], until=D(2025, 9, 29))
            ] == [TK(6), TK(2), TK(3), TK(4)]
            with pytest.raises(NotFoundError):
                due_list(uow, S("M77"))
            with pytest.raises(ValidationError) as caught:
                due_list(uow, S("M1"), horizon_days=-1)
            assert path_of(caught.value) == "$.horizon_days"

    def test_a_next_step_becomes_a_follow_up_closed_by_the_next_contact(
        self, served: Store, clock: FixedClock
    ) -> None:
        store = served
        with store.unit_of_work(HEAD_OFFICE) as uow:
            first = record(uow, next_step=FACTSHEET, next_step_due=D(2025, 10, 9))
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            (follow_up,) = uow.service_tasks.of_customer(C(1))
        assert follow_up == ServiceTask(
            id=follow_up.id,
            customer_id=C(1),
            standard="follow_up",
            occurrence=str(first.id),
            purpose=FACTSHEET,
            assignee=S("M1"),
            created_on=D(2025, 9, 29),
            counts_from=D(2025, 9, 30),
            due_on=D(2025, 10, 9),
            version=1,
        )
        assert [t for t, _ in events_of(store, str(first.id))] == ["ActivityCompleted"]
        assert events_of(store, str(first.id))[0][1]["next_step_due"] == "2025-10-09"
        clock.set(local(2025, 9, 30, 18))
        with store.unit_of_work(HEAD_OFFICE) as uow:
            # Nobody reached, and another customer reached: the follow-up stays open.
            record(uow, outcome=NO_CONTACT, at=local(2025, 9, 30, 16))
            record(uow, 2, owner="M2", kind=MESSAGE, at=local(2025, 9, 30, 16, 15))
            assert uow.service_tasks.get(follow_up.id).status is OPEN
            second = record(uow, kind=MESSAGE, at=local(2025, 9, 30, 16, 30))
            uow.commit()
        assert get_task(store, follow_up.id) == attrs.evolve(
            follow_up,
            status=DONE,
            done_on=D(2025, 9, 30),
            closed_by="ho-1",
            activity_id=second.id,
            version=2,
        )
        ((kind, payload),) = events_of(store, str(follow_up.id))
        assert (kind, payload["activity_id"], payload["on_time"]) == (
            "ServiceTaskDone",
            str(second.id),
            True,
        )

    def test_completing_an_activity_closes_the_tasks_it_satisfies(self, served: Store) -> None:
        store = served
        rules = rules_of(
            attrs.evolve(RISK_MONTHLY, satisfied_by={CALL}, applies_to=CustomerSelection()),
            QUARTERLY_VISIT,
            attrs.evolve(NATIONAL_DAY, satisfied_by={MESSAGE}),
        )
        add_tasks(
            store,
            task(1, 1, due=D(2025, 10, 1), standard="risk_monthly", counts_from=D(2025, 9, 2)),
            task(
                2,
                1,
                due=D(2025, 9, 30),
                standard="quarterly_visit",
                occurrence="2025-07-01",
                counts_from=D(2025, 7, 1),
            ),
            task(
                3,
                1,
                due=D(2025, 10, 1),
                standard="national_day",
                occurrence="2025-10-01",
                counts_from=D(2025, 9, 24),
            ),
            task(
                4,
                1,
                due=D(2025, 12, 31),
                standard="quarterly_visit",
                occurrence="2025-10-01",
                counts_from=D(2025, 10, 1),
                created_on=D(2025, 9, 1),
            ),
            task(
                5,
                2,
                due=D(2025, 9, 30),
                standard="quarterly_visit",
                occurrence="2025-07-01",
                assignee="M2",
                counts_from=D(2025, 7, 1),
            ),
            task(6, 1, due=D(2025, 10, 1), standard="manual", counts_from=D(2025, 9, 1)),
        )
        with store.unit_of_work(HEAD_OFFICE) as uow:
            missed = plan(uow, kind=VISIT, at=local(2025, 9, 29, 7), task_id=TK(3))
            # Nobody reached: closes nothing, not even the task it was planned for.
            complete(uow, missed.id, outcome=NO_CONTACT, at=local(2025, 9, 29, 7, 30), rules=rules)
            visit = plan(uow, kind=VISIT, at=MORNING, task_id=TK(1))
            complete(uow, visit.id, at=local(2025, 9, 29, 8, 45), rules=rules)
            uow.commit()
        day = D(2025, 9, 29)
        assert states_of(store, 1, 2) == {
            1: [
                ("2025-07-01", DONE, day, visit.id, None, None),  # a visit: matches
                ("1", DONE, day, visit.id, None, None),  # the task it was planned for
                ("2025-10-01", OPEN, None, None, None, None),  # messages only
                ("6", OPEN, None, None, None, None),  # not a standard of the rules
                ("2025-10-01", OPEN, None, None, None, None),  # counts from 1 October
            ],
            2: [("2025-07-01", OPEN, None, None, None, None)],  # another customer
        }
        with store.unit_of_work(HEAD_OFFICE) as uow:
            # Without rules only the task named and follow-ups are closed.
            other = plan(uow, 2, owner="M2", kind=VISIT, at=MORNING)
            complete(uow, other.id)
            uow.commit()
        assert states_of(store, 2) == {2: [("2025-07-01", OPEN, None, None, None, None)]}

    # -- evaluating the standards --------------------------------------------------------

    def test_an_every_days_cadence_counts_from_the_last_contact(self, org: Store) -> None:
        store = org
        add_served(
            store,
            person(1, risk=RiskLevel.AGGRESSIVE),
            person(2, risk=RiskLevel.GROWTH),
            person(3, risk=RiskLevel.CAUTIOUS),
        )
        add_served(
            store,
            person(4, risk=RiskLevel.AGGRESSIVE, opened_at=pendulum.datetime(2025, 9, 10, 2)),
            primary="M2",
        )
        add_activities(
            store,
            done_activity(1, 1, local(2025, 9, 1, 10)),
            done_activity(2, 1, local(2025, 9, 15, 10), outcome=NO_CONTACT),  # not a contact
        )
        rules = rules_of(RISK_MONTHLY)
        # C2, never contacted: 1 June (effective_from, after its opening) + 30 = 1 July.
        report = evaluate(store, rules, D(2025, 9, 23))
        assert (report.on, dict(report.created), report.satisfied) == (
            D(2025, 9, 23),
            {"risk_monthly": 1},
            0,
        )
        july = (
            "risk_monthly",
            "2025-07-01",
            D(2025, 9, 23),
            D(2025, 6, 2),
            D(2025, 7, 1),
            "M1",
            None,
        )
        assert tasks_of(store, 1, 2, 3, 4) == {1: [], 2: [july], 3: [], 4: []}
        # C1: 1 September + 30 = 1 October, shown 7 days before, from 24 September.
        assert evaluate(store, rules, D(2025, 9, 24)).created_total == 1
        october = (
            "risk_monthly",
            "2025-10-01",
            D(2025, 9, 24),
            D(2025, 9, 2),
            D(2025, 10, 1),
            "M1",
            None,
        )
        assert tasks_of(store, 1, 2) == {1: [october], 2: [july]}
        again = evaluate(store, rules, D(2025, 9, 24))
        assert (again.created_total, again.satisfied, again.escalated) == (0, 0, 0)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            contact = record(uow, 2, kind=VISIT, at=local(2025, 9, 25, 10))
            uow.commit()
        report = evaluate(store, rules, D(2025, 9, 26))
        assert (report.satisfied, report.created_total) == (1, 0)
        # C4 opened on 10 September: due 10 October, shown from 3 October.
        assert evaluate(store, rules, D(2025, 10, 2)).created_total == 0
        assert evaluate(store, rules, D(2025, 10, 3)).created_total == 1
        # C2's next one: 25 September + 30 = 25 October, shown from 18 October.
        assert evaluate(store, rules, D(2025, 10, 17)).created_total == 0
        assert evaluate(store, rules, D(2025, 10, 18)).created_total == 1
        assert tasks_of(store, 2, 4) == {
            2: [
                july,
                (
                    "risk_monthly",
                    "2025-10-25",
                    D(2025, 10, 18),
                    D(2025, 9, 26),
                    D(2025, 10, 25),
                    "M1",
                    None,
                ),
            ],
            4: [
                (
                    "risk_monthly",
                    "2025-10-10",
                    D(2025, 10, 3),
                    D(2025, 9, 11),
                    D(2025, 10, 10),
                    "M2",
                    None,
                ),
            ],
        }
        states = states_of(store, 2)[2]
        assert states[0][:4] == ("2025-07-01", DONE, D(2025, 9, 25), contact.id)
        assert states[1][:4] == ("2025-10-25", OPEN, None, None)
        # One open task at a time: a tighter cadence moves the due date, not the count.
        tighter = rules_of(attrs.evolve(RISK_MONTHLY, every_days=20))
        assert evaluate(store, tighter, D(2025, 10, 18)).created == {"risk_monthly": 0}
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.service_tasks.count() == 4

    def test_a_quarterly_visit_is_due_on_the_last_business_day_of_the_quarter(
        self, org: Store, clock: FixedClock
    ) -> None:
        store = org
        add_served(store, person(1), person(2), person(3))
        add_activities(
            store,
            done_activity(1, 2, local(2025, 8, 15, 10), kind=VISIT),
            done_activity(2, 1, local(2025, 9, 10, 10), kind=CALL),  # a call is no visit
            done_activity(3, 3, local(2025, 6, 20, 10), kind=VISIT),  # the quarter before
        )
        rules = rules_of(QUARTERLY_VISIT)
        assert evaluate(store, rules, D(2025, 9, 29)).created == {"quarterly_visit": 2}
        q3 = (
            "quarterly_visit",
            "2025-07-01",
            D(2025, 9, 29),
            D(2025, 7, 1),
            D(2025, 9, 30),
            "M1",
            None,
        )
        assert tasks_of(store, 1, 2, 3) == {1: [q3], 2: [], 3: [q3]}
        assert evaluate(store, rules, D(2025, 9, 30)).created_total == 0
        assert evaluate(store, rules, D(2025, 10, 9)).created == {"quarterly_visit": 3}
        q4 = (
            "quarterly_visit",
            "2025-10-01",
            D(2025, 10, 9),
            D(2025, 10, 1),
            D(2025, 12, 31),
            "M1",
            None,
        )
        assert tasks_of(store, 1, 2, 3) == {1: [q3, q4], 2: [q4], 3: [q3, q4]}
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            missed = uow.service_tasks.of_customer(C(1))[0]
        # Missed: overdue, but three business days (9, 10, 11 October) have not passed.
        assert missed.state_on(D(2025, 10, 9)) is TaskState.OVERDUE
        assert (missed.status, missed.escalated_to) == (OPEN, None)
        clock.set(local(2025, 10, 10, 18))
        add_activities(store, done_activity(4, 1, local(2025, 10, 10, 10), kind=VISIT))
        report = evaluate(store, rules, D(2025, 10, 10))
        assert (report.satisfied, report.created_total) == (2, 0)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            late, on_time = uow.service_tasks.of_customer(C(1))
        assert (late.done_on, late.met_on_time) == (D(2025, 10, 10), False)
        assert (on_time.done_on, on_time.met_on_time) == (D(2025, 10, 10), True)

    def test_birthday_greetings_are_due_days_before_the_birthday(self, org: Store) -> None:
        store = org
        add_served(
            store,
            person(1, born=D(1992, 2, 29)),
            person(2, born=D(1980, 1, 1)),
            person(3, born=D(1985, 3, 1)),
            company(4),
        )
        rules = rules_of(BIRTHDAY)
        # 2025 has no 29 February: the birthday is kept on the 28th, greeted by the 25th,
        # shown 7 days before that.
        assert evaluate(store, rules, D(2025, 2, 17)).created_total == 0
        assert evaluate(store, rules, D(2025, 2, 18)).created_total == 1
        assert evaluate(store, rules, D(2025, 2, 19)).created_total == 1
        assert tasks_of(store, 1, 2, 3, 4) == {
            1: [
                (
                    "birthday",
                    "birthday:2025",
                    D(2025, 2, 18),
                    D(2025, 2, 18),
                    D(2025, 2, 25),
                    "M1",
                    None,
                )
            ],
            2: [],
            3: [
                (
                    "birthday",
                    "birthday:2025",
                    D(2025, 2, 19),
                    D(2025, 2, 19),
                    D(2025, 2, 26),
                    "M1",
                    None,
                )
            ],
            4: [],
        }
        # Across the new year: 1 January 2026 is greeted by 29 December 2025.
        assert evaluate(store, rules, D(2025, 12, 28)).created == {"birthday": 1}
        assert tasks_of(store, 2) == {
            2: [
                (
                    "birthday",
                    "birthday:2026",
                    D(2025, 12, 28),
                    D(2025, 12, 22),
                    D(2025, 12, 29),
                    "M1",
                    None,
                )
            ],
        }
        assert evaluate(store, rules, D(2025, 12, 29)).created_total == 0

    @pytest.mark.parametrize(
        ("directions", "called"),
        [
            pytest.param(None, (1, 2), id="up-and-down-by-default"),
            pytest.param({TierDirection.UP}, (1,), id="up-only"),
            pytest.param(
                {TierDirection.UP, TierDirection.DOWN, TierDirection.INITIAL},
                (1, 2, 3),
                id="with-the-first-tier",
            ),
        ],
    )
    def test_a_tier_change_is_followed_up_within_business_days(
        self, org: Store, directions: set[TierDirection] | None, called: tuple[int, ...]
    ) -> None:
        store = org
        add_served(store, person(1), person(2), person(4))

        def account(n: int) -> Account:
            return Account(
                id=A(n),
                customer_id=C(n),
                account_number=f"ACC-{n:04d}",
                kind=AccountKind.DEPOSIT,
                currency="CNY",
                opened_on=D(2024, 1, 2),
            )

        def retier(day: datetime.date, balances: Mapping[int, int]) -> None:
            with store.unit_of_work(HEAD_OFFICE) as uow:
                uow.balances.write([(A(n), day, yuan * 100) for n, yuan in balances.items()])
                uow.tiers.retier(
                    broker_tiers(),
                    period_start=day,
                    period_end=day,
                    effective_on=day + datetime.timedelta(days=1),
                )
                uow.commit()

        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.accounts.add_many([account(1), account(2), account(4)])
            uow.commit()
        # 1 July: electronic, one-to-one, electronic (everyone's first tier).
        retier(D(2025, 6, 30), {1: 50_000, 2: 600_000, 4: 50_000})
        add_served(store, person(3))  # C3 gets its first tier on 30 September
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.accounts.add(account(3))
            uow.commit()
        # 30 September: C1 up, C2 down, C3 first tier, C4 unchanged.
        retier(D(2025, 9, 29), {1: 200_000, 2: 150_000, 3: 700_000, 4: 50_000})
        standard = TIER_CALL
        if directions is not None:
            standard = attrs.evolve(TIER_CALL, tier_directions=directions)
        rules = rules_of(standard)
        assert evaluate(store, rules, D(2025, 10, 1)).created == {"tier_call": len(called)}
        # Five business days after 30 September: 9, 10, 11 (a working Saturday), 13, 14
        # October.
        expected = (
            "tier_call",
            "tier_changed:2025-09-30",
            D(2025, 10, 1),
            D(2025, 9, 30),
            D(2025, 10, 14),
            "M1",
            None,
        )
        assert tasks_of(store, 1, 2, 3, 4) == {
            n: [expected] if n in called else [] for n in (1, 2, 3, 4)
        }
        assert evaluate(store, rules, D(2025, 10, 2)).created_total == 0
        assert evaluate(store, rules, D(2025, 10, 9)).created_total == 0

    def test_account_opening_and_closing_are_followed_up_within_business_days(
        self, org: Store
    ) -> None:
        store = org
        add_served(store, person(1), person(2), person(3), person(4))
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.accounts.add_many(
                [
                    Account(
                        id=A(1),
                        customer_id=C(1),
                        account_number="ACC-1",
                        kind=AccountKind.DEPOSIT,
                        currency="CNY",
                        opened_on=D(2025, 9, 29),
                    ),
                    Account(
                        id=A(2),
                        customer_id=C(2),
                        account_number="ACC-2",
                        kind=AccountKind.FUND,
                        currency="CNY",
                        opened_on=D(2024, 1, 2),
                        closed_on=D(2025, 9, 26),
                    ),
                    Account(
                        id=A(3),
                        customer_id=C(3),
                        account_number="ACC-3",
                        kind=AccountKind.DEPOSIT,
                        currency="CNY",
                        opened_on=D(2025, 9, 10),
                    ),
                    Account(
                        id=A(4),
                        customer_id=C(4),
                        account_number="ACC-4",
                        kind=AccountKind.DEPOSIT,
                        currency="CNY",
                        opened_on=D(2025, 10, 10),
                    ),
                ]
            )
            uow.commit()
        rules = rules_of(OPENED_CALL, CLOSED_CALL)
        assert evaluate(store, rules, D(2025, 9, 29)).created == {
            "opened_call": 1,
            "closed_call": 1,
        }
        assert tasks_of(store, 1, 2, 3, 4) == {
            # 29 September + 2 business days: 30 September, 9 October (after the holiday)
            1: [
                (
                    "opened_call",
                    f"account_opened:{A(1)}",
                    D(2025, 9, 29),
                    D(2025, 9, 29),
                    D(2025, 10, 9),
                    "M1",
                    None,
                )
            ],
            # Friday 26 September + 2: Sunday 28 (a make-up working day), Monday 29
            2: [
                (
                    "closed_call",
                    f"account_closed:{A(2)}",
                    D(2025, 9, 29),
                    D(2025, 9, 26),
                    D(2025, 9, 29),
                    "M1",
                    None,
                )
            ],
            3: [],  # 10 September is before the 7-day look-back
            4: [],
        }
        assert evaluate(store, rules, D(2025, 9, 30)).created_total == 0
        # Friday 10 October + 2: Saturday 11 (working), Monday 13.
        assert evaluate(store, rules, D(2025, 10, 10)).created == {
            "opened_call": 1,
            "closed_call": 0,
        }
        assert tasks_of(store, 4) == {
            4: [
                (
                    "opened_call",
                    f"account_opened:{A(4)}",
                    D(2025, 10, 10),
                    D(2025, 10, 10),
                    D(2025, 10, 13),
                    "M1",
                    None,
                )
            ]
        }

    def test_a_date_standard_appears_notice_days_before_and_is_made_once(self, org: Store) -> None:
        store = org
        add_served(store, person(1))
        add_served(store, person(2), primary="M2")
        add_served(store, company(3), primary="M4")
        rules = rules_of(NATIONAL_DAY)
        assert evaluate(store, rules, D(2025, 9, 23)).created == {"national_day": 0}
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            (entry,) = uow.audit.entries(entity_id="national_day")
        assert (entry.action, dict(entry.changes)) == (
            "service_tasks.generated",
            {"on": {"before": None, "after": "2025-09-23"}, "tasks": {"before": None, "after": 0}},
        )
        assert events_of(store, "national_day") == []
        assert evaluate(store, rules, D(2025, 9, 24)).created == {"national_day": 3}
        greeting = (*GREETING, D(2025, 9, 24), D(2025, 9, 24), D(2025, 10, 1))
        assert tasks_of(store, 1, 2, 3) == {
            1: [(*greeting, "M1", None)],
            2: [(*greeting, "M2", None)],
            3: [(*greeting, "M4", None)],
        }
        ((kind, payload),) = events_of(store, "national_day")
        assert (kind, payload["standard"], payload["on"], payload["count"]) == (
            "ServiceTasksGenerated",
            "national_day",
            "2025-09-24",
            3,
        )
        assert evaluate(store, rules, D(2025, 9, 30)).created_total == 0
        add_served(store, person(4))  # a new customer still gets one
        assert evaluate(store, rules, D(2025, 10, 1)).created_total == 1
        assert evaluate(store, rules, D(2025, 10, 2)).created_total == 0
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.service_tasks.count() == 4
            assert len(uow.audit.entries(entity_id="national_day")) == 5

    def test_tasks_go_to_whoever_stands_in_for_an_absent_primary(self, org: Store) -> None:
        store = org
        with store.unit_of_work(HEAD_OFFICE) as uow:
            for code, first, last in (
                ("M1", D(2025, 9, 29), D(2025, 9, 30)),
                ("M3", D(2025, 9, 22), D(2025, 10, 8)),
            ):
                member = uow.organization.get_staff(S(code))
                uow.organization.update_staff(*member.take_leave(LeavePeriod(first, last), at=T0))
            uow.commit()
        add_served(store, person(1), secondary="M2")
        add_served(store, person(2), secondary="M3", chief="SV1")
        add_served(store, person(3), secondary="M3")
        add_served(store, person(4), primary="M2", secondary="M1")
        add_unserved(store, person(5))
        rules = rules_of(NATIONAL_DAY)
        assert evaluate(store, rules, D(2025, 9, 29)).created == {"national_day": 4}
        greeting = (*GREETING, D(2025, 9, 29), D(2025, 9, 24), D(2025, 10, 1))
        assert tasks_of(store, 1, 2, 3, 4, 5) == {
            1: [(*greeting, "M2", "M1")],  # the secondary covers
            2: [(*greeting, "SV1", "M1")],  # the secondary is away too: the chief
            3: [(*greeting, "M1", None)],  # nobody can: the primary keeps it
            4: [(*greeting, "M2", None)],  # the primary is there
            5: [],  # no managers, no task
        }
        # The task stays with whoever it was made for when the primary is back.
        assert evaluate(store, rules, D(2025, 10, 1)).created_total == 0
        assert tasks_of(store, 1)[1] == [(*greeting, "M2", "M1")]

    def test_standards_serve_only_the_selected_active_and_dormant_customers(
        self, org: Store
    ) -> None:
        store = org
        add_served(
            store,
            person(1, risk=RiskLevel.AGGRESSIVE),
            person(2, risk=RiskLevel.CAUTIOUS, status=LifecycleStatus.DORMANT),
            company(3),
            person(4, risk=RiskLevel.AGGRESSIVE, status=LifecycleStatus.PROSPECT),
            person(5, risk=RiskLevel.AGGRESSIVE, status=LifecycleStatus.CLOSED),
            person(6, risk=RiskLevel.GROWTH),
        )
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.accounts.add(
                Account(
                    id=A(6),
                    customer_id=C(6),
                    account_number="ACC-6",
                    kind=AccountKind.DEPOSIT,
                    currency="CNY",
                    opened_on=D(2024, 1, 2),
                )
            )
            uow.balances.write([(A(6), D(2025, 6, 30), 60_000_000)])
            # From 1 July C6 is one-to-one (600,000 yuan), the others electronic.
            uow.tiers.retier(
                broker_tiers(),
                period_start=D(2025, 6, 30),
                period_end=D(2025, 6, 30),
                effective_on=D(2025, 7, 1),
            )
            uow.commit()

        def greeting(code: str, selection: CustomerSelection) -> DateStandard:
            return attrs.evolve(NATIONAL_DAY, code=code, applies_to=selection)

        rules = rules_of(
            greeting("everyone", CustomerSelection()),
            greeting("risky", GROWTH_OR_MORE),
            greeting("vip", CustomerSelection(tiers={"one_to_one"})),
            greeting("companies", CustomerSelection(kinds={CustomerKind.CORPORATE})),
            greeting(
                "risky_people",
                CustomerSelection(
                    risk_levels={RiskLevel.AGGRESSIVE},
                    kinds={CustomerKind.INDIVIDUAL},
                    tiers={"electronic"},
                ),
            ),
        )
        assert evaluate(store, rules, D(2025, 9, 29)).created == {
            "everyone": 4,
            "risky": 2,
            "vip": 1,
            "companies": 1,
            "risky_people": 1,
        }
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            found = {
                n: sorted(t.standard for t in uow.service_tasks.of_customer(C(n)))
                for n in range(1, 7)
            }
        assert found == {
            1: ["everyone", "risky", "risky_people"],
            2: ["everyone"],  # dormant customers are served
            3: ["companies", "everyone"],
            4: [],  # a prospect
            5: [],  # closed
            6: ["everyone", "risky", "vip"],
        }

    def test_overdue_tasks_are_escalated_to_the_unit_supervisor_after_business_days(
        self, org: Store
    ) -> None:
        store = org
        add_unserved(store, *(person(n) for n in range(1, 6)))
        add_tasks(
            store,
            task(1, 1, due=D(2025, 9, 25)),
            task(2, 2, due=D(2025, 9, 26)),
            task(3, 3, due=D(2025, 9, 25), assignee="M4"),
            task(4, 4, due=D(2025, 9, 25), assignee="SV1"),
            task(5, 5, due=D(2025, 9, 25), assignee="M9"),
            task(6, 1, due=D(2025, 9, 30), assignee="M2"),
            closed(task(7, 2, due=D(2025, 9, 25)), DONE, D(2025, 9, 26)),
            task(8, 3, due=D(2025, 9, 27)),
        )
        rules = rules_of()

        def escalations() -> dict[ServiceTaskId, tuple[str | None, datetime.date | None]]:
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
                return {
                    TK(n): (t.escalated_to, t.escalated_on)
                    for n in range(1, 9)
                    for t in [uow.service_tasks.get(TK(n))]
                }

        # Due Thursday 25 September: 26, 28 (working Sunday), 29 -> escalated on the 29th.
        assert evaluate(store, rules, D(2025, 9, 28)).escalated == 0
        assert evaluate(store, rules, D(2025, 9, 29)).escalated == 3
        sept_29 = D(2025, 9, 29)
        assert escalations() == {
            TK(1): ("SV1", sept_29),  # M1's unit supervisor
            TK(2): (None, None),
            TK(3): ("BH1", sept_29),  # T2 has no supervisor: the branch head above
            TK(4): ("BH1", sept_29),  # never the supervisor themself
            TK(5): (None, None),  # nobody above M9
            TK(6): (None, None),
            TK(7): (None, None),  # done
            TK(8): (None, None),
        }
        # Due Friday 26 and Saturday 27: 28, 29, 30 September.
        assert evaluate(store, rules, D(2025, 9, 30)).escalated == 2
        # Due 30 September: 9, 10, 11 October (a working Saturday).
        assert evaluate(store, rules, D(2025, 10, 8)).escalated == 0
        assert evaluate(store, rules, D(2025, 10, 10)).escalated == 0
        assert evaluate(store, rules, D(2025, 10, 11)).escalated == 1
        assert evaluate(store, rules, D(2025, 10, 13)).escalated == 0
        sept_30, oct_11 = D(2025, 9, 30), D(2025, 10, 11)
        assert escalations() == {
            TK(1): ("SV1", sept_29),
            TK(2): ("SV1", sept_30),
            TK(3): ("BH1", sept_29),
            TK(4): ("BH1", sept_29),
            TK(5): (None, None),
            TK(6): ("SV1", oct_11),
            TK(7): (None, None),
            TK(8): ("SV1", sept_30),
        }
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            supervised = [
                (i.task.id, i.escalated_to_me) for i in due_list(uow, S("SV1"), on=oct_11)
            ]
            branch_head = [i.task.id for i in due_list(uow, S("BH1"), on=oct_11)]
        assert supervised == [
            (TK(1), True),
            (TK(4), False),
            (TK(2), True),
            (TK(8), True),
            (TK(6), True),
        ]
        assert branch_head == [TK(3), TK(4)]
        ((kind, payload),) = events_of(store, str(TK(1)))
        assert (kind, payload["escalated_to"], payload["due_on"]) == (
            "ServiceTaskEscalated",
            "SV1",
            "2025-09-25",
        )
        assert [a for a, _, _ in audit_of(store, str(TK(1)))] == [
            "service_task.added",
            "service_task.revised",
        ]

    def test_an_evaluation_on_a_holiday_escalates_only_what_is_overdue_long_enough(
        self, org: Store
    ) -> None:
        store = org
        add_unserved(store, person(1))
        add_tasks(store, task(1, 1, due=D(2025, 9, 28)))
        rules = rules_of()
        # Due Sunday 28 September (a working day): 29, 30 September, then 9 October.
        assert evaluate(store, rules, D(2025, 10, 1)).escalated == 0
        assert evaluate(store, rules, D(2025, 10, 8)).escalated == 0
        assert evaluate(store, rules, D(2025, 10, 9)).escalated == 1

    def test_an_activity_stored_directly_satisfies_tasks_at_the_next_evaluation(
        self, served: Store
    ) -> None:
        store = served
        rules = rules_of(NATIONAL_DAY)
        assert evaluate(store, rules, D(2025, 9, 24)).created_total == 3
        add_activities(
            store,
            # 17:00 UTC on the 27th is 01:00 on the 28th in Shanghai: done on the 28th.
            done_activity(1, 1, pendulum.datetime(2025, 9, 27, 17, tz="UTC"), kind=MESSAGE),
            done_activity(2, 1, local(2025, 9, 29, 8), kind=CALL),  # later: not chosen
            done_activity(3, 2, local(2025, 9, 26, 10), kind=VISIT, owner="M2"),  # no match
            done_activity(4, 2, local(2025, 9, 23, 10), kind=MESSAGE, owner="M2"),  # too early
            done_activity(5, 3, local(2025, 9, 26, 10), kind=MESSAGE, outcome=NO_CONTACT),
        )
        report = evaluate(store, rules, D(2025, 9, 29))
        assert (report.satisfied, report.created_total, report.escalated) == (1, 0, 0)
        assert states_of(store, 1, 2, 3) == {
            1: [("2025-10-01", DONE, D(2025, 9, 28), ACT(1), None, None)],
            2: [("2025-10-01", OPEN, None, None, None, None)],
            3: [("2025-10-01", OPEN, None, None, None, None)],
        }
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            (done,) = uow.service_tasks.of_customer(C(1))
        assert done.closed_by == "ho-1" and done.met_on_time
        ((kind, payload),) = events_of(store, str(done.id))
        assert (kind, payload["activity_id"], payload["done_on"], payload["on_time"]) == (
            "ServiceTaskDone",
            str(ACT(1)),
            "2025-09-28",
            True,
        )
        assert evaluate(store, rules, D(2025, 9, 29)).satisfied == 0

    def test_an_evaluation_that_cannot_finish_writes_nothing(self, served: Store) -> None:
        store = served
        rules = rules_of(NATIONAL_DAY, TIER_CALL, QUARTERLY_VISIT)
        add_tasks(store, task(1, 1, due=D(2025, 9, 1)))
        before = snapshot(store, 1, 2, 3)
        # The China calendar is known to 31 December 2026.
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(OutsideCalendarRange):
                evaluate_standards(uow, rules, on=D(2027, 3, 1))
            uow.commit()
        with store.unit_of_work(STRANGER) as uow:
            with pytest.raises(PermissionDenied):
                evaluate_standards(uow, rules, on=D(2025, 9, 29))
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(ValidationError) as caught:
                evaluate_standards(uow, rules, on=local(2025, 9, 29))
            assert path_of(caught.value) == "$.on"
            uow.commit()
        assert snapshot(store, 1, 2, 3) == before

    # -- compliance ----------------------------------------------------------------------

    def test_compliance_is_met_over_due_without_waived_tasks(
        self, served: Store, clock: FixedClock
    ) -> None:
        store = served
        add_tasks(
            store,
            closed(task(1, 1, due=D(2025, 9, 10)), DONE, D(2025, 9, 9)),  # met
            closed(task(2, 1, due=D(2025, 9, 15)), DONE, D(2025, 9, 20)),  # late
            closed(task(3, 2, due=D(2025, 9, 20)), WAIVED, D(2025, 9, 18)),
            task(4, 2, due=D(2025, 9, 25)),  # overdue
            task(5, 3, due=D(2025, 9, 30)),  # due, not yet overdue
            task(6, 3, due=D(2025, 10, 5)),  # after the period
            closed(task(7, 1, due=D(2025, 8, 31)), DONE, D(2025, 8, 31)),  # before it
            closed(task(8, 1, due=D(2025, 9, 12), assignee="M2"), DONE, D(2025, 9, 12)),
            closed(task(9, 2, due=D(2025, 9, 5), assignee="M4"), WAIVED, D(2025, 9, 1)),
            closed(task(10, 1, due=D(2025, 9, 1), assignee="M9"), DONE, D(2025, 8, 30)),
            closed(task(11, 2, due=D(2025, 9, 30), assignee="M9"), DONE, D(2025, 9, 30)),
            task(12, 3, due=D(2025, 9, 28), assignee="M9"),
        )
        september = (D(2025, 9, 1), D(2025, 9, 30))

        def line(key: str, name: str, *counts: int) -> ComplianceLine:
            due, met, waived, overdue = counts
            return ComplianceLine(
                key=key, name=name, due=due, met=met, waived=waived, overdue=overdue
            )

        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.service_tasks.compliance(*september) == [
                ComplianceCount(staff_id=S("M1"), due=4, met=1, waived=1, overdue=1),
                ComplianceCount(staff_id=S("M2"), due=1, met=1, waived=0, overdue=0),
                ComplianceCount(staff_id=S("M4"), due=0, met=0, waived=1, overdue=0),
                ComplianceCount(staff_id=S("M9"), due=3, met=2, waived=0, overdue=1),
            ]
            managers = compliance_report(uow, *september)
            teams = compliance_report(uow, *september, by="team")
            branches = compliance_report(uow, *september, by="branch")
            for by, start, end, path in (
                ("region", *september, "$.by"),
                ("manager", D(2025, 9, 30), D(2025, 9, 1), "$.end"),
            ):
                with pytest.raises(ValidationError) as caught:
                    compliance_report(uow, start, end, by=by)
                assert path_of(caught.value) == path
        assert managers == [
            line("M1", "王**", 4, 1, 1, 1),
            line("M2", "王**", 1, 1, 0, 0),
            line("M4", "张**", 0, 0, 1, 0),
            line("M9", "陈**", 3, 2, 0, 1),
        ]
        assert [m.rate for m in managers] == [
            Decimal("0.2500"),
            Decimal("1.0000"),
            None,
            Decimal("0.6667"),
        ]
        assert teams == [
            line("SH", "上海分行", 3, 2, 0, 1),
            line("T1", "财富一组", 5, 2, 1, 1),
            line("T2", "财富二组", 0, 0, 1, 0),
        ]
        assert [t.rate for t in teams] == [Decimal("0.6667"), Decimal("0.4000"), None]
        assert branches == [
            line("BJ", "北京分行", 5, 2, 2, 1),
            line("SH", "上海分行", 3, 2, 0, 1),
        ]
        with store.unit_of_work(COMPLIANCE, read_only=True) as uow:
            assert [m.name for m in compliance_report(uow, *september)] == [
                "王一鸣",
                "王二虎",
                "张四海",
                "陈九州",
            ]
        # Overdue is counted as of today, not as of the end of the period.
        clock.set(local(2025, 10, 2))
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert compliance_report(uow, *september)[0] == line("M1", "王**", 4, 1, 1, 2)
