"""Service standards, tasks and the rules around them: model checks, periods, task states,
the supervisor rule, and what plan_generation works out on the China calendar."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

import attrs
import pendulum
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from finance_crm.adapters._service_checks import acting_for
from finance_crm.adapters.memory import InMemoryStore
from finance_crm.calendar import WeekendCalendar, add_business_days, china_calendar
from finance_crm.clock import FixedClock
from finance_crm.errors import BusinessRuleViolation, OutsideCalendarRange, ValidationError
from finance_crm.ids import ActivityId, CustomerId, OrgUnitCode, StaffId
from finance_crm.model.activities import ActivityKind
from finance_crm.model.customers import CustomerKind, RiskLevel
from finance_crm.model.organization import (
    EmploymentStatus,
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
    ServiceTask,
    ServiceTaskDone,
    ServiceTaskEscalated,
    ServiceTasksGenerated,
    ServiceTaskWaived,
    ServiceTrigger,
    TaskState,
    TaskStatus,
)
from finance_crm.model.tiers import TierDirection
from finance_crm.ports import TaskGeneration
from finance_crm.rules.service_standards import ServiceRules, UnitSupervisor
from finance_crm.security import Actor
from finance_crm.services.service_standards import (
    ComplianceLine,
    _escalation_cutoff,
    _unavailable,
    plan_generation,
)

D = datetime.date
CHINA = china_calendar()
CUSTOMER = CustomerId(uuid.UUID("00000000-0000-7000-8000-000000000001"))
ACTIVITY = ActivityId(uuid.UUID("00000000-0000-7000-a000-000000000001"))
NOW = pendulum.datetime(2025, 9, 29, 9, tz="Asia/Shanghai")
M1, M2, SV1 = StaffId("M1"), StaffId("M2"), StaffId("SV1")


def problem(error: ValidationError) -> str:
    return error.problems[0].path


def cadence(**changes: Any) -> CadenceStandard:
    fields: dict[str, Any] = {
        "code": "risk_monthly",
        "name": "C4-C5: every 30 days",
        "every_days": 30,
        "effective_from": D(2025, 1, 1),
    }
    return CadenceStandard(**{**fields, **changes})


def event(**changes: Any) -> EventStandard:
    fields: dict[str, Any] = {
        "code": "tier_call",
        "name": "Call after a tier change",
        "trigger": ServiceTrigger.TIER_CHANGED,
        "within_business_days": 5,
    }
    return EventStandard(**{**fields, **changes})


def birthday(**changes: Any) -> EventStandard:
    return event(
        **{
            "code": "birthday",
            "trigger": ServiceTrigger.BIRTHDAY,
            "within_business_days": None,
            "days_before": 3,
            **changes,
        }
    )


def greeting(**changes: Any) -> DateStandard:
    fields: dict[str, Any] = {"code": "national_day", "name": "Greeting", "on": D(2025, 10, 1)}
    return DateStandard(**{**fields, **changes})


def task(**changes: Any) -> ServiceTask:
    fields: dict[str, Any] = {
        "customer_id": CUSTOMER,
        "standard": "manual",
        "occurrence": "1",
        "purpose": "Call the customer",
        "assignee": M1,
        "created_on": D(2025, 9, 1),
        "counts_from": D(2025, 9, 1),
        "due_on": D(2025, 9, 30),
    }
    return ServiceTask(**{**fields, **changes})


# -- selections and standards -------------------------------------------------------------


def test_a_selection_needs_every_condition_given() -> None:
    everyone = CustomerSelection()
    risky_vip = CustomerSelection(
        risk_levels=[RiskLevel.GROWTH, RiskLevel.AGGRESSIVE], tiers=["one_to_one"]
    )
    people = CustomerSelection(kinds={CustomerKind.INDIVIDUAL})
    assert risky_vip.risk_levels == frozenset({RiskLevel.GROWTH, RiskLevel.AGGRESSIVE})
    cases = [
        (RiskLevel.GROWTH, "one_to_one", CustomerKind.INDIVIDUAL, (True, True, True)),
        (RiskLevel.GROWTH, "electronic", CustomerKind.CORPORATE, (True, False, False)),
        (RiskLevel.CAUTIOUS, "one_to_one", CustomerKind.INDIVIDUAL, (True, False, True)),
        (None, None, CustomerKind.CORPORATE, (True, False, False)),
        (RiskLevel.AGGRESSIVE, None, CustomerKind.INDIVIDUAL, (True, False, True)),
    ]
    for risk, tier, kind, expected in cases:
        found = tuple(
            s.matches(risk_level=risk, tier=tier, kind=kind) for s in (everyone, risky_vip, people)
        )
        assert found == expected, (risk, tier, kind)


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"risk_levels": "45"}, "$.risk_levels", id="risk-as-text"),
        pytest.param({"risk_levels": [4, 5]}, "$.risk_levels", id="risk-as-ints"),
        pytest.param({"tiers": ["One-To-One"]}, "$.tiers", id="bad-tier-code"),
        pytest.param({"tiers": "vip"}, "$.tiers", id="tier-as-text"),
        pytest.param({"kinds": ["individual"]}, "$.kinds", id="kind-as-text"),
    ],
)
def test_a_selection_is_checked(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CustomerSelection(**changes)
    assert problem(caught.value) == path


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"code": "Risk"}, "$.code", id="upper-case-code"),
        pytest.param({"code": ""}, "$.code", id="empty-code"),
        pytest.param({"code": "1st"}, "$.code", id="code-starts-with-a-digit"),
        pytest.param({"code": "a" * 41}, "$.code", id="long-code"),
        pytest.param({"code": "follow_up"}, "$.code", id="the-follow-up-code"),
        pytest.param({"name": " "}, "$.name", id="blank-name"),
        pytest.param({"notice_days": -1}, "$.notice_days", id="negative-notice"),
        pytest.param({"notice_days": 3661}, "$.notice_days", id="notice-over-ten-years"),
        pytest.param({"notice_days": True}, "$.notice_days", id="bool-notice"),
        pytest.param({"satisfied_by": ["call"]}, "$.satisfied_by", id="kinds-as-text"),
        pytest.param({"satisfied_by": []}, "$.satisfied_by", id="cadence-closed-by-hand"),
        pytest.param({"every_days": 0}, "$.every_days", id="zero-cadence"),
        pytest.param({"every_days": -30}, "$.every_days", id="negative-cadence"),
        pytest.param({"every_days": 3661}, "$.every_days", id="cadence-over-ten-years"),
        pytest.param({"every_days": 30.0}, "$.every_days", id="float-cadence"),
        pytest.param({"every_days": None}, "$.every_days", id="no-cadence"),
        pytest.param({"per_period": ServicePeriod.QUARTER}, "$.every_days", id="both-cadences"),
        pytest.param(
            {"every_days": None, "per_period": "quarter"}, "$.per_period", id="period-as-text"
        ),
        pytest.param({"effective_from": NOW}, "$.effective_from", id="instant-effective-from"),
    ],
)
def test_a_cadence_standard_is_checked(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        cadence(**changes)
    assert problem(caught.value) == path


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"trigger": "tier_changed"}, "$.trigger", id="trigger-as-text"),
        pytest.param({"within_business_days": None}, "$.within_business_days", id="no-deadline"),
        pytest.param({"within_business_days": -1}, "$.within_business_days", id="negative"),
        pytest.param({"days_before": 3}, "$.within_business_days", id="days-before-on-event"),
        pytest.param({"tier_directions": []}, "$.tier_directions", id="no-direction"),
        pytest.param({"tier_directions": ["up"]}, "$.tier_directions", id="direction-as-text"),
        pytest.param({"lookback_days": -1}, "$.lookback_days", id="negative-lookback"),
    ],
)
def test_an_event_standard_is_checked(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        event(**changes)
    assert problem(caught.value) == path


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"days_before": None}, "$.days_before", id="no-days-before"),
        pytest.param({"within_business_days": 2}, "$.days_before", id="deadline-on-birthday"),
        pytest.param({"days_before": -1}, "$.days_before", id="negative-days-before"),
    ],
)
def test_a_birthday_standard_is_checked(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        birthday(**changes)
    assert problem(caught.value) == path


def test_standards_keep_their_defaults() -> None:
    assert event().tier_directions == frozenset({TierDirection.UP, TierDirection.DOWN})
    assert (event().lookback_days, event().notice_days) == (7, 7)
    assert event().satisfied_by == frozenset(ActivityKind)
    assert greeting(satisfied_by=[]).satisfied_by == frozenset()  # closed by hand
    assert greeting().applies_to == CustomerSelection()
    with pytest.raises(ValidationError) as caught:
        greeting(on=NOW)
    assert problem(caught.value) == "$.on"
    assert type(greeting(on=pendulum.date(2025, 10, 1)).on) is datetime.date


def test_applies_to_must_be_a_selection() -> None:
    with pytest.raises(ValidationError) as caught:
        greeting(applies_to={"risk_levels": [RiskLevel.GROWTH]})
    assert problem(caught.value) == "$.applies_to"


# -- periods ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "day", "first", "last"),
    [
        (ServicePeriod.MONTH, D(2025, 2, 14), D(2025, 2, 1), D(2025, 2, 28)),
        (ServicePeriod.MONTH, D(2024, 2, 29), D(2024, 2, 1), D(2024, 2, 29)),
        (ServicePeriod.MONTH, D(2025, 12, 31), D(2025, 12, 1), D(2025, 12, 31)),
        (ServicePeriod.QUARTER, D(2025, 1, 1), D(2025, 1, 1), D(2025, 3, 31)),
        (ServicePeriod.QUARTER, D(2025, 8, 15), D(2025, 7, 1), D(2025, 9, 30)),
        (ServicePeriod.QUARTER, D(2025, 12, 31), D(2025, 10, 1), D(2025, 12, 31)),
        (ServicePeriod.QUARTER, D(2025, 6, 30), D(2025, 4, 1), D(2025, 6, 30)),
        (ServicePeriod.YEAR, D(2024, 7, 4), D(2024, 1, 1), D(2024, 12, 31)),
    ],
)
def test_a_period_contains_the_day(
    period: ServicePeriod, day: datetime.date, first: datetime.date, last: datetime.date
) -> None:
    assert period.containing(day) == (first, last)


@given(st.sampled_from(list(ServicePeriod)), st.dates(D(1900, 1, 1), D(2999, 12, 31)))
def test_periods_tile_the_calendar(period: ServicePeriod, day: datetime.date) -> None:
    first, last = period.containing(day)
    months = {ServicePeriod.MONTH: 1, ServicePeriod.QUARTER: 3, ServicePeriod.YEAR: 12}[period]
    assert first <= day <= last
    assert first.day == 1 and (first.month - 1) % months == 0
    following = last + datetime.timedelta(days=1)
    assert following.day == 1 and (following.month - 1) % months == 0
    assert period.containing(last) == (first, last)
    assert period.containing(first) == (first, last)


# -- tasks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"standard": "Manual"}, "$.standard", id="bad-standard"),
        pytest.param({"occurrence": " "}, "$.occurrence", id="blank-occurrence"),
        pytest.param({"occurrence": "x" * 201}, "$.occurrence", id="long-occurrence"),
        pytest.param({"purpose": ""}, "$.purpose", id="blank-purpose"),
        pytest.param({"assignee": " "}, "$.assignee", id="blank-assignee"),
        pytest.param({"covering_for": ""}, "$.covering_for", id="blank-covering-for"),
        pytest.param({"due_on": NOW}, "$.due_on", id="instant-due"),
        pytest.param({"created_on": "2025-09-01"}, "$.created_on", id="text-created-on"),
        pytest.param({"counts_from": D(2025, 10, 1)}, "$.counts_from", id="counts-after-due"),
        pytest.param({"status": "open"}, "$.status", id="status-as-text"),
        pytest.param({"status": TaskStatus.DONE}, "$.done_on", id="done-without-day"),
        pytest.param({"done_on": D(2025, 9, 2)}, "$.done_on", id="open-with-a-day"),
        pytest.param(
            {"status": TaskStatus.DONE, "done_on": D(2025, 9, 2)}, "$.done_on", id="no-closer"
        ),
        pytest.param(
            {"status": TaskStatus.WAIVED, "done_on": D(2025, 9, 2), "closed_by": "ho-1"},
            "$.waived_reason",
            id="waived-without-reason",
        ),
        pytest.param(
            {
                "status": TaskStatus.DONE,
                "done_on": D(2025, 9, 2),
                "closed_by": "ho-1",
                "waived_reason": "Abroad",
            },
            "$.waived_reason",
            id="done-with-a-waiver",
        ),
        pytest.param({"activity_id": ACTIVITY}, "$.activity_id", id="open-with-activity"),
        pytest.param({"escalated_to": SV1}, "$.escalated_on", id="escalated-without-day"),
        pytest.param({"escalated_on": D(2025, 10, 3)}, "$.escalated_on", id="day-without-boss"),
        pytest.param(
            {"escalated_to": " ", "escalated_on": D(2025, 10, 3)}, "$.escalated_to", id="blank"
        ),
    ],
)
def test_a_task_is_checked(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        task(**changes)
    assert problem(caught.value) == path


@pytest.mark.parametrize("field", ["occurrence", "assignee"])
def test_a_task_needs_its_occurrence_and_assignee(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        task(**{field: None})
    assert problem(caught.value) == f"$.{field}"


def test_task_state_on_a_day() -> None:
    due = D(2025, 9, 30)
    open_task = task(due_on=due)
    assert open_task.state_on(D(2025, 9, 1)) is TaskState.DUE
    assert open_task.state_on(due) is TaskState.DUE
    assert open_task.state_on(D(2025, 10, 1)) is TaskState.OVERDUE
    done, _ = open_task.complete(on=D(2025, 10, 9), by="ho-1", at=NOW)
    waived, _ = open_task.waive(reason="Abroad", on=D(2025, 9, 3), by="ho-1", at=NOW)
    for day in (D(2025, 9, 1), D(2025, 12, 31)):
        assert done.state_on(day) is TaskState.DONE
        assert waived.state_on(day) is TaskState.WAIVED


@pytest.mark.parametrize(
    ("status", "done_on", "met"),
    [
        (TaskStatus.DONE, D(2025, 9, 29), True),
        (TaskStatus.DONE, D(2025, 9, 30), True),
        (TaskStatus.DONE, D(2025, 10, 1), False),
        (TaskStatus.WAIVED, D(2025, 9, 2), False),
        (TaskStatus.OPEN, None, False),
    ],
)
def test_met_on_time_is_done_by_the_due_date(
    status: TaskStatus, done_on: datetime.date | None, met: bool
) -> None:
    closed = {} if done_on is None else {"done_on": done_on, "closed_by": "ho-1"}
    reason = {"waived_reason": "Abroad"} if status is TaskStatus.WAIVED else {}
    assert task(status=status, **closed, **reason).met_on_time is met


def test_a_task_is_done_waived_or_escalated_once() -> None:
    open_task = task(version=2)
    done, events = open_task.complete(on=D(2025, 10, 1), by="M1", activity_id=ACTIVITY, at=NOW)
    assert done == attrs.evolve(
        open_task,
        status=TaskStatus.DONE,
        done_on=D(2025, 10, 1),
        closed_by="M1",
        activity_id=ACTIVITY,
    )
    (event,) = events
    assert isinstance(event, ServiceTaskDone)
    assert (event.on_time, event.done_on, event.activity_id, event.assignee) == (
        False,
        D(2025, 10, 1),
        ACTIVITY,
        M1,
    )
    assert event.aggregate_id == str(open_task.id)
    waived, events = open_task.waive(reason="Moved abroad", on=D(2025, 9, 3), by="SV1", at=NOW)
    assert (waived.status, waived.waived_reason, waived.closed_by) == (
        TaskStatus.WAIVED,
        "Moved abroad",
        "SV1",
    )
    assert [type(e) for e in events] == [ServiceTaskWaived]
    escalated, events = open_task.escalate(to=SV1, on=D(2025, 10, 9), at=NOW)
    assert (escalated.escalated_to, escalated.escalated_on, escalated.status) == (
        SV1,
        D(2025, 10, 9),
        TaskStatus.OPEN,
    )
    (raised,) = events
    assert isinstance(raised, ServiceTaskEscalated)
    assert (raised.escalated_to, raised.due_on) == (SV1, D(2025, 9, 30))
    with pytest.raises(BusinessRuleViolation, match="already been escalated"):
        escalated.escalate(to=StaffId("BH1"), on=D(2025, 10, 10), at=NOW)
    for closed in (done, waived):
        with pytest.raises(BusinessRuleViolation, match=closed.status.value):
            closed.complete(on=D(2025, 10, 2), by="M1", at=NOW)
        with pytest.raises(BusinessRuleViolation):
            closed.waive(reason="Again", on=D(2025, 10, 2), by="M1", at=NOW)
        with pytest.raises(BusinessRuleViolation):
            closed.escalate(to=SV1, on=D(2025, 10, 2), at=NOW)
    for reason in ("", "   ", None):
        with pytest.raises(ValidationError) as caught:
            open_task.waive(reason=reason, on=D(2025, 9, 3), by="SV1", at=NOW)  # type: ignore[arg-type]
        assert problem(caught.value) == "$.reason"


def test_generated_event_names_the_standard() -> None:
    generated = ServiceTasksGenerated(
        occurred_at=NOW, standard="birthday", on=D(2025, 2, 18), count=3
    )
    assert generated.aggregate_id == "birthday"


def test_a_compliance_rate_is_met_over_due() -> None:
    def line(due: int, met: int) -> ComplianceLine:
        return ComplianceLine(key="M1", name="王**", due=due, met=met, waived=5, overdue=0)

    assert line(3, 2).rate == Decimal("0.6667") and str(line(3, 2).rate) == "0.6667"
    assert str(line(8, 1).rate) == "0.1250"
    assert str(line(6, 1).rate) == "0.1667"  # half up
    assert str(line(1, 1).rate) == "1.0000"
    assert line(0, 0).rate is None


# -- who stands in and who chases ---------------------------------------------------------


def test_acting_for_walks_primary_secondary_chief() -> None:
    def plan(*away: str) -> TaskGeneration:
        return TaskGeneration(
            standard=greeting(), on=D(2025, 9, 29), unavailable=frozenset(map(StaffId, away))
        )

    assert acting_for(plan(), M1, M2, SV1) == (M1, None)
    assert acting_for(plan("M1"), M1, M2, SV1) == (M2, M1)
    assert acting_for(plan("M1", "M2"), M1, M2, SV1) == (SV1, M1)
    assert acting_for(plan("M1", "M2", "SV1"), M1, M2, SV1) == (M1, None)
    assert acting_for(plan("M1"), M1, None, None) == (M1, None)
    assert acting_for(plan("M1"), M1, None, SV1) == (SV1, M1)
    assert acting_for(plan("M2"), M1, M2, SV1) == (M1, None)


def test_staff_on_leave_or_departed_by_the_day_cannot_act() -> None:
    store = InMemoryStore(clock=FixedClock(NOW))
    head = OrgUnit.head_office("HO", "总行")
    admin = Actor("ho-1", roles=frozenset({"head_office"}))
    with store.unit_of_work(admin) as uow:
        uow.organization.add_unit(head)
        for code in ("M1", "M2", "M3"):
            uow.organization.add_staff(StaffMember(id=StaffId(code), name="王经理", unit="HO"))
        m1 = uow.organization.get_staff(M1)
        uow.organization.update_staff(
            *m1.take_leave(LeavePeriod(D(2025, 9, 29), D(2025, 9, 30)), at=NOW)
        )
        m2 = uow.organization.get_staff(M2)
        # 16:30 UTC on 14 September is already the 15th in Shanghai.
        left = pendulum.datetime(2025, 9, 14, 16, 30, tz="UTC")
        uow.organization.update_staff(*m2.depart(at=left, reason="left"))
        assert _unavailable(uow, D(2025, 9, 14)) == frozenset()
        assert _unavailable(uow, D(2025, 9, 15)) == {M2}
        assert _unavailable(uow, D(2025, 9, 29)) == {M1, M2}
        assert _unavailable(uow, D(2025, 10, 1)) == {M2}


def _org() -> tuple[dict[OrgUnitCode, OrgUnit], list[StaffMember]]:
    head = OrgUnit.head_office("HO", "总行")
    bj = head.child("BJ", "北京分行", OrgUnitKind.BRANCH)
    t1 = bj.child("T1", "财富一组", OrgUnitKind.TEAM)
    t2 = bj.child("T2", "财富管理部", OrgUnitKind.DEPARTMENT)
    t3 = t2.child("T3", "财富管理部一组", OrgUnitKind.TEAM)
    sh = head.child("SH", "上海分行", OrgUnitKind.BRANCH)
    units = {u.code: u for u in (head, bj, t1, t2, t3, sh)}
    gone = pendulum.datetime(2025, 9, 1, tz="UTC")
    staff = [
        StaffMember(id=StaffId("BH1"), name="李行长", unit="BJ", roles={StaffRole.BRANCH_HEAD}),
        StaffMember(id=StaffId("SV2"), name="周主管", unit="T1", roles={StaffRole.SUPERVISOR}),
        StaffMember(id=StaffId("SV1"), name="吴主管", unit="T1", roles={StaffRole.SUPERVISOR}),
        StaffMember(id=StaffId("M1"), name="王经理", unit="T1"),
        StaffMember(id=StaffId("M4"), name="张经理", unit="T3"),
        StaffMember(
            id=StaffId("SV9"),
            name="钱主管",
            unit="T2",
            roles={StaffRole.SUPERVISOR},
            status=EmploymentStatus.DEPARTED,
            departed_at=gone,
        ),
        StaffMember(id=StaffId("M9"), name="陈经理", unit="SH"),
        StaffMember(id=StaffId("HO1"), name="赵总", unit="HO", roles={StaffRole.BRANCH_HEAD}),
    ]
    return units, staff


def test_unit_supervisor_looks_in_the_unit_then_upwards() -> None:
    units, staff = _org()
    by_id = {s.id: s for s in staff}
    rule = UnitSupervisor()

    def boss(code: str, colleagues: list[StaffMember] = staff) -> StaffId | None:
        return rule.supervisor_of(by_id[StaffId(code)], colleagues, units)

    assert boss("M1") == "SV1"  # the smaller of two supervisors in the unit
    assert boss("SV1") == "SV2"  # never themself: the other supervisor of the unit
    assert boss("SV2") == "SV1"
    # T3 has nobody; the department's supervisor has departed; BJ's branch head it is.
    assert boss("M4") == "BH1"
    assert boss("BH1") == "HO1"  # above the branch: the head office
    assert boss("M9") == "HO1"
    assert boss("HO1") is None  # nobody above the top
    alone = [s for s in staff if s.id not in ("SV1", "SV2", "HO1")]
    assert boss("M1", alone) == "BH1"
    assert boss("M9", alone) is None
    only_heads = UnitSupervisor(roles=(StaffRole.BRANCH_HEAD,))
    assert only_heads.supervisor_of(by_id[M1], staff, units) == "BH1"
    # A unit not in the mapping: only the staff member's own unit is searched.
    assert rule.supervisor_of(by_id[M1], staff, {}) == "SV1"
    assert rule.supervisor_of(by_id[StaffId("M4")], staff, {}) is None


# -- the rules ----------------------------------------------------------------------------


def test_service_rules_are_checked() -> None:
    rules = ServiceRules((cadence(), greeting()))
    assert rules.calendar.is_business_day(D(2025, 9, 28))  # China's make-up Sunday
    assert (rules.escalate_after_business_days, rules.supervisors) == (3, UnitSupervisor())
    assert rules.standard("national_day") == greeting()
    with pytest.raises(ValidationError) as caught:
        rules.standard("birthday")
    assert problem(caught.value) == "$.code"
    for arguments, path in (
        (((cadence(), greeting(), cadence(every_days=7)),), "$.standards[2].code"),
        ((cadence(),), "$.standards"),
        (((cadence(), "birthday"),), "$.standards[1]"),
        (("risk_monthly",), "$.standards"),
    ):
        with pytest.raises(ValidationError) as caught:
            ServiceRules(*arguments)
        assert problem(caught.value) == path
    for changes, path in (
        ({"calendar": "china"}, "$.calendar"),
        ({"escalate_after_business_days": -1}, "$.escalate_after_business_days"),
        ({"escalate_after_business_days": 251}, "$.escalate_after_business_days"),
        ({"escalate_after_business_days": True}, "$.escalate_after_business_days"),
    ):
        with pytest.raises(ValidationError) as caught:
            ServiceRules((), **changes)
        assert problem(caught.value) == path
    assert ServiceRules([], calendar=WeekendCalendar()).standards == ()


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"follow_up_kinds": "call"}, "$.follow_up_kinds", id="kinds-as-text"),
        pytest.param({"supervisors": 3}, "$.supervisors", id="not-a-supervisor-rule"),
    ],
)
def test_service_rules_check_their_strategies(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceRules((), **changes)
    assert problem(caught.value) == path


# -- plan_generation ----------------------------------------------------------------------


def test_an_every_days_cadence_needs_no_calendar_dates() -> None:
    plan = plan_generation(cadence(), D(2025, 9, 29), CHINA, frozenset({M1}))
    assert plan == TaskGeneration(
        standard=cadence(), on=D(2025, 9, 29), unavailable=frozenset({M1})
    )
    assert plan_generation(greeting(), D(2025, 9, 29), CHINA) == TaskGeneration(
        standard=greeting(), on=D(2025, 9, 29)
    )


@pytest.mark.parametrize(
    ("period", "on", "expected"),
    [
        # 31 May 2025 is a Saturday and the Dragon Boat holiday: Friday the 30th.
        (ServicePeriod.MONTH, D(2025, 5, 10), (D(2025, 5, 1), D(2025, 5, 30))),
        # Spring Festival from 28 January: Monday the 27th is the last working day.
        (ServicePeriod.MONTH, D(2025, 1, 10), (D(2025, 1, 1), D(2025, 1, 27))),
        (ServicePeriod.QUARTER, D(2025, 8, 15), (D(2025, 7, 1), D(2025, 9, 30))),
        (ServicePeriod.QUARTER, D(2025, 10, 9), (D(2025, 10, 1), D(2025, 12, 31))),
        # National Day 2026 runs to 7 October; 30 September is a Wednesday.
        (ServicePeriod.QUARTER, D(2026, 9, 1), (D(2026, 7, 1), D(2026, 9, 30))),
        (ServicePeriod.YEAR, D(2025, 3, 3), (D(2025, 1, 1), D(2025, 12, 31))),
    ],
)
def test_a_period_cadence_is_due_on_the_last_business_day(
    period: ServicePeriod,
    on: datetime.date,
    expected: tuple[datetime.date, datetime.date],
) -> None:
    standard = cadence(every_days=None, per_period=period)
    assert plan_generation(standard, on, CHINA).period == expected


def test_the_last_quarter_the_calendar_knows_cannot_be_planned() -> None:
    # Its last business day needs 1 January 2027, after what the calendar knows.
    quarterly = cadence(every_days=None, per_period=ServicePeriod.QUARTER)
    with pytest.raises(OutsideCalendarRange):
        plan_generation(quarterly, D(2026, 12, 15), CHINA)
    with pytest.raises(OutsideCalendarRange):
        plan_generation(event(), D(2027, 1, 4), CHINA)


def test_birthdays_map_to_the_greeting_due_day() -> None:
    plan = plan_generation(birthday(), D(2025, 2, 18), CHINA)
    # From the 18th to 18 + 3 + 7 = the 28th; 2025 has no 29 February: kept on the 28th.
    expected = {f"02-{d:02d}": (D(2025, 2, d), D(2025, 2, d - 3)) for d in range(18, 29)}
    expected["02-29"] = (D(2025, 2, 28), D(2025, 2, 25))
    assert plan.birthdays == expected
    assert plan.due_by_event_day == {} and plan.period is None
    # 2024 has a 29 February: it is its own day, reached one day later.
    assert "02-29" not in plan_generation(birthday(), D(2024, 2, 18), CHINA).birthdays
    leap = plan_generation(birthday(), D(2024, 2, 19), CHINA).birthdays
    assert (leap["02-28"], leap["02-29"]) == (
        (D(2024, 2, 28), D(2024, 2, 25)),
        (D(2024, 2, 29), D(2024, 2, 26)),
    )
    # Across the year end, and with no notice only the due day's birthday shows.
    wrap = plan_generation(birthday(), D(2025, 12, 28), CHINA).birthdays
    assert wrap["01-01"] == (D(2026, 1, 1), D(2025, 12, 29))
    assert wrap["01-07"] == (D(2026, 1, 7), D(2026, 1, 4))
    assert "01-08" not in wrap
    same_day = plan_generation(birthday(days_before=0, notice_days=0), D(2025, 3, 1), CHINA)
    assert same_day.birthdays == {"03-01": (D(2025, 3, 1), D(2025, 3, 1))}
    year = plan_generation(birthday(days_before=300, notice_days=300), D(2025, 3, 1), CHINA)
    assert len(year.birthdays) == 366  # capped at a year (the 28th also stands for the 29th)


def test_event_days_map_to_business_day_deadlines_over_the_lookback() -> None:
    plan = plan_generation(event(), D(2025, 10, 1), CHINA)
    # National Day 1-8 October 2025; Sunday 28 September and Saturday 11 October work.
    assert plan.due_by_event_day == {
        D(2025, 9, 24): D(2025, 9, 30),
        D(2025, 9, 25): D(2025, 10, 9),
        D(2025, 9, 26): D(2025, 10, 10),
        D(2025, 9, 27): D(2025, 10, 10),
        D(2025, 9, 28): D(2025, 10, 11),
        D(2025, 9, 29): D(2025, 10, 13),
        D(2025, 9, 30): D(2025, 10, 14),
        D(2025, 10, 1): D(2025, 10, 14),
    }
    short = plan_generation(event(lookback_days=0, within_business_days=2), D(2025, 10, 10), CHINA)
    assert short.due_by_event_day == {D(2025, 10, 10): D(2025, 10, 13)}
    opened = event(trigger=ServiceTrigger.ACCOUNT_OPENED, within_business_days=2)
    assert plan_generation(opened, D(2025, 9, 29), CHINA).due_by_event_day[D(2025, 9, 26)] == D(
        2025, 9, 29
    )


# -- escalation cut-off -------------------------------------------------------------------


def _brute_cutoff(on: datetime.date, n: int) -> datetime.date:
    """The largest D with add_business_days(D, n) <= on, walking back from ``on``."""

    def added(day: datetime.date) -> datetime.date:
        try:
            return add_business_days(CHINA, day, n)
        except OutsideCalendarRange:  # after the last known day, so after ``on`` too
            return datetime.date.max

    day = on
    while added(day) > on:
        day -= datetime.timedelta(days=1)
    return day


@given(st.dates(D(2020, 1, 1), D(2026, 11, 30)), st.integers(1, 10))
def test_escalation_cutoff_on_a_business_day(on: datetime.date, n: int) -> None:
    assume(CHINA.is_business_day(on))
    cutoff = _escalation_cutoff(CHINA, on, n)
    assert cutoff == _brute_cutoff(on, n)
    assert add_business_days(CHINA, cutoff, n) <= on
    assert add_business_days(CHINA, cutoff + datetime.timedelta(days=1), n) > on


@example(on=D(2025, 10, 1), n=3)  # tasks due Sunday 28 September would go up on 1 October
@given(st.dates(D(2020, 1, 1), D(2026, 11, 30)), st.integers(1, 10))
def test_escalation_cutoff_is_the_last_due_day_n_business_days_overdue(
    on: datetime.date, n: int
) -> None:
    cutoff = _escalation_cutoff(CHINA, on, n)
    assert cutoff == _brute_cutoff(on, n)


@given(st.dates(D(2020, 1, 1), D(2026, 12, 31)))
def test_with_no_grace_a_task_is_escalated_once_overdue(on: datetime.date) -> None:
    # add_business_days(D, 0) is D on a business day, so the formula would take tasks due
    # today; with 0 business days of grace the cut-off is yesterday: overdue tasks only.
    assert _escalation_cutoff(CHINA, on, 0) == on - datetime.timedelta(days=1)


def test_escalation_cutoff_across_national_day() -> None:
    assert _escalation_cutoff(CHINA, D(2025, 9, 29), 3) == D(2025, 9, 25)
    assert _escalation_cutoff(CHINA, D(2025, 9, 30), 3) == D(2025, 9, 27)
    assert _escalation_cutoff(CHINA, D(2025, 10, 10), 3) == D(2025, 9, 29)
    assert _escalation_cutoff(CHINA, D(2025, 10, 11), 3) == D(2025, 10, 8)


@pytest.mark.parametrize("n", [1, 3])
def test_escalation_cutoff_on_the_last_known_days(n: int) -> None:
    on = D(2026, 12, 31)  # the last day china_calendar() covers
    assert _escalation_cutoff(CHINA, on, n) == _brute_cutoff(on, n)
