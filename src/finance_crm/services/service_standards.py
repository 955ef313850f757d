"""Service standards at work: the nightly evaluation, managers' due lists, closing and
waiving tasks, and the compliance report (服务达标率) for appraisal.

:func:`evaluate_standards` is the nightly job. In one unit of work it

1. closes the open tasks that completed activities have satisfied,
2. makes the tasks the standards ask for on the day (for the acting manager: the
   secondary or chief stands in for a primary on leave), idempotently: running it
   twice makes nothing new, and
3. escalates tasks overdue by ``rules.escalate_after_business_days`` business days to
   the manager's supervisor (跟催).

Every date the calendar decides is worked out before anything is written, so a
calendar that does not cover a day raises
:class:`~finance_crm.errors.OutsideCalendarRange` with nothing written. On SQL stores
each step is a few set-based statements for the whole book.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

import attrs

from finance_crm.calendar import BusinessCalendar, add_business_days
from finance_crm.clock import business_date
from finance_crm.errors import OutsideCalendarRange, ValidationError
from finance_crm.ids import OrgUnitCode, ServiceTaskId, StaffId
from finance_crm.model.activities import ActivityKind
from finance_crm.model.organization import OrgUnit, OrgUnitKind, StaffMember
from finance_crm.model.service_standards import (
    FOLLOW_UP,
    CadenceStandard,
    EventStandard,
    ServiceStandard,
    ServiceTask,
    ServiceTrigger,
    TaskState,
)
from finance_crm.ports import TaskGeneration, UnitOfWork
from finance_crm.rules.service_standards import ServiceRules
from finance_crm.security import PersonalDataKind

__all__ = [
    "ComplianceLine",
    "DueItem",
    "EvaluationReport",
    "complete_task",
    "compliance_report",
    "due_list",
    "evaluate_standards",
    "plan_generation",
    "waive_task",
]

_DAY = datetime.timedelta(days=1)


@attrs.frozen(kw_only=True)
class EvaluationReport:
    """What one evaluation did: tasks made per standard code, tasks closed by
    activities, tasks escalated."""

    on: datetime.date
    created: Mapping[str, int]
    satisfied: int
    escalated: int

    @property
    def created_total(self) -> int:
        return sum(self.created.values())


def _today(uow: UnitOfWork, on: datetime.date | None) -> datetime.date:
    if on is None:
        day = business_date(uow.clock, uow.timezone)
        return datetime.date(day.year, day.month, day.day)
    if not isinstance(on, datetime.date) or isinstance(on, datetime.datetime):
        raise ValidationError("must be a business date (a date, not a datetime)", path="$.on")
    return datetime.date(on.year, on.month, on.day)


def _unavailable(uow: UnitOfWork, on: datetime.date) -> frozenset[StaffId]:
    """Staff who cannot act on ``on``: on leave, or departed by then."""
    out = set()
    for member in uow.organization.staff():
        departed = member.departed_at is not None and (
            business_date(member.departed_at, uow.timezone) <= on
        )
        if departed or member.on_leave(on):
            out.add(member.id)
    return frozenset(out)


def _last_business_day(calendar: BusinessCalendar, last: datetime.date) -> datetime.date:
    return add_business_days(calendar, last + _DAY, -1)


def _birthdays(
    standard: EventStandard, on: datetime.date
) -> dict[str, tuple[datetime.date, datetime.date]]:
    """``"MM-DD"`` -> (birthday, due day) for the birthdays whose task shows on ``on``:
    from ``on`` to ``on + days_before + notice_days``."""
    assert standard.days_before is not None
    found: dict[str, tuple[datetime.date, datetime.date]] = {}
    reach = min(standard.days_before + standard.notice_days, 365)
    for offset in range(reach + 1):
        day = on + datetime.timedelta(days=offset)
        due = day - datetime.timedelta(days=standard.days_before)
        found[day.strftime("%m-%d")] = (day, due)
        is_leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
        if day.month == 2 and day.day == 28 and not is_leap:
            found["02-29"] = (day, due)  # a 29 February birthday, kept on the 28th
    return found


def plan_generation(
    standard: ServiceStandard,
    on: datetime.date,
    calendar: BusinessCalendar,
    unavailable: frozenset[StaffId] = frozenset(),
) -> TaskGeneration:
    """The :class:`~finance_crm.ports.TaskGeneration` of ``standard`` on ``on``: every
    date the calendar decides, worked out (OutsideCalendarRange if it cannot)."""
    if isinstance(standard, CadenceStandard):
        period = None
        if standard.per_period is not None:
            first, last = standard.per_period.containing(on)
            period = (first, _last_business_day(calendar, last))
        return TaskGeneration(standard=standard, on=on, unavailable=unavailable, period=period)
    if isinstance(standard, EventStandard):
        if standard.trigger is ServiceTrigger.BIRTHDAY:
            return TaskGeneration(
                standard=standard,
                on=on,
                unavailable=unavailable,
                birthdays=_birthdays(standard, on),
            )
        assert standard.within_business_days is not None
        due = {}
        for back in range(standard.lookback_days + 1):
            day = on - datetime.timedelta(days=back)
            due[day] = add_business_days(calendar, day, standard.within_business_days)
        return TaskGeneration(
            standard=standard, on=on, unavailable=unavailable, due_by_event_day=due
        )
    return TaskGeneration(standard=standard, on=on, unavailable=unavailable)


def _escalation_cutoff(calendar: BusinessCalendar, on: datetime.date, after: int) -> datetime.date:
    """The latest due day D with ``add_business_days(D, after) <= on``: tasks due on or
    before it are ``after`` business days overdue (for ``after == 0``: due before
    ``on``)."""
    if after == 0:
        return on - _DAY

    def overdue_by_then(due: datetime.date) -> bool:
        try:
            return add_business_days(calendar, due, after) <= on
        except OutsideCalendarRange:  # past the calendar's end, so after ``on``
            return False

    # A first guess, then exact steps: on a day off the guess can be a day late.
    cutoff = add_business_days(calendar, on, -after)
    while not overdue_by_then(cutoff):
        cutoff -= _DAY
    while overdue_by_then(cutoff + _DAY):
        cutoff += _DAY
    return cutoff


def _supervisors(uow: UnitOfWork, rules: ServiceRules) -> dict[StaffId, StaffId]:
    everyone = uow.organization.staff()
    units: dict[OrgUnitCode, OrgUnit] = {u.code: u for u in uow.organization.units()}
    active = [s for s in everyone if s.is_active]
    out = {}
    for member in everyone:
        boss = rules.supervisors.supervisor_of(member, active, units)
        if boss is not None:
            out[member.id] = boss
    return out


def evaluate_standards(
    uow: UnitOfWork, rules: ServiceRules, *, on: datetime.date | None = None
) -> EvaluationReport:
    """The nightly run for business day ``on`` (default today); commit afterwards."""
    if not isinstance(rules, ServiceRules):
        raise ValidationError("must be a ServiceRules", path="$.rules")
    day = _today(uow, on)
    unavailable = _unavailable(uow, day)
    # Every calendar question first: nothing is written if one cannot be answered.
    plans = [plan_generation(s, day, rules.calendar, unavailable) for s in rules.standards]
    cutoff = _escalation_cutoff(rules.calendar, day, rules.escalate_after_business_days)
    supervisors = _supervisors(uow, rules)
    kinds: dict[str, frozenset[ActivityKind]] = {
        s.code: s.satisfied_by for s in rules.standards if s.satisfied_by
    }
    kinds[FOLLOW_UP] = rules.follow_up_kinds
    tasks = uow.service_tasks
    satisfied = tasks.satisfy(day, kinds)
    created = {plan.standard.code: tasks.generate(plan) for plan in plans}
    escalated = tasks.escalate(day, due_on_or_before=cutoff, supervisors=supervisors)
    return EvaluationReport(on=day, created=created, satisfied=satisfied, escalated=escalated)


# -- a manager's work ---------------------------------------------------------------------


@attrs.frozen
class DueItem:
    """A line of a due list: the task and where it stands on the day."""

    task: ServiceTask
    state: TaskState
    escalated_to_me: bool


def due_list(
    uow: UnitOfWork,
    staff_id: StaffId,
    *,
    on: datetime.date | None = None,
    horizon_days: int = 0,
) -> list[DueItem]:
    """Open tasks assigned or escalated to ``staff_id`` due by ``on + horizon_days``:
    overdue first (oldest first), then due."""
    day = _today(uow, on)
    if type(horizon_days) is not int or horizon_days < 0:
        raise ValidationError("must be a whole number of days, 0 or more", path="$.horizon_days")
    uow.organization.get_staff(staff_id)
    tasks = uow.service_tasks.due_list([staff_id], until=day + datetime.timedelta(horizon_days))
    return [DueItem(t, t.state_on(day), t.escalated_to == staff_id) for t in tasks]


def complete_task(
    uow: UnitOfWork, task_id: ServiceTaskId, *, on: datetime.date | None = None
) -> ServiceTask:
    """Mark a task done by hand (a contact recorded elsewhere)."""
    task = uow.service_tasks.get(task_id)
    uow.customers.get(task.customer_id)  # scope
    done, events = task.complete(on=_today(uow, on), by=uow.actor.id, at=uow.clock.now())
    return uow.service_tasks.update(done, events)


def waive_task(
    uow: UnitOfWork, task_id: ServiceTaskId, *, reason: str, on: datetime.date | None = None
) -> ServiceTask:
    """Excuse a task, with the reason (required); it then leaves the compliance figures."""
    task = uow.service_tasks.get(task_id)
    uow.customers.get(task.customer_id)  # scope
    waived, events = task.waive(
        reason=reason, on=_today(uow, on), by=uow.actor.id, at=uow.clock.now()
    )
    return uow.service_tasks.update(waived, events)


# -- compliance ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ComplianceLine:
    """Service-standard compliance of one manager, team or branch for a period:
    ``rate`` is met on time / due (waived tasks excluded), None when nothing was due."""

    key: str  # staff id or unit code
    name: str
    due: int
    met: int
    waived: int
    overdue: int

    @property
    def rate(self) -> Decimal | None:
        if not self.due:
            return None
        return (Decimal(self.met) / Decimal(self.due)).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )


_LEVELS = ("manager", "team", "branch")


def _group_of(
    member: StaffMember | None, level: str, units: Mapping[OrgUnitCode, OrgUnit]
) -> OrgUnitCode | None:
    if member is None:
        return None
    unit = units.get(member.unit)
    if unit is None:
        return None
    if level == "team":
        return unit.code
    for code in (unit.code, *reversed(unit.ancestors)):
        found = units.get(code)
        if found is not None and found.kind is OrgUnitKind.BRANCH:
            return found.code
    return unit.code


def compliance_report(
    uow: UnitOfWork, start: datetime.date, end: datetime.date, *, by: str = "manager"
) -> list[ComplianceLine]:
    """Compliance for tasks due from ``start`` to ``end`` per ``by``: ``"manager"``
    (the assignee), ``"team"`` (the assignee's unit) or ``"branch"`` (the branch above
    it). Tasks count for the manager they were assigned to."""
    if by not in _LEVELS:
        raise ValidationError(f"must be one of {', '.join(_LEVELS)}", path="$.by")
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
            raise ValidationError("must be a business date", path=f"$.{name}")
    if end < start:
        raise ValidationError("the period ends before it starts", path="$.end")
    counts = uow.service_tasks.compliance(start, end)
    staff = {s.id: s for s in uow.organization.staff()}
    units = {u.code: u for u in uow.organization.units()}
    totals: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for line in counts:
        member = staff.get(line.staff_id)
        if by == "manager":
            key = str(line.staff_id)
            names[key] = uow.masking.mask(PersonalDataKind.NAME, member.name) if member else key
        else:
            group = _group_of(member, by, units)
            key = str(group) if group else "?"
            names[key] = units[group].name if group else "unknown unit"
        total = totals.setdefault(key, [0, 0, 0, 0])
        for i, count in enumerate((line.due, line.met, line.waived, line.overdue)):
            total[i] += count
    return [
        ComplianceLine(key=k, name=names[k], due=t[0], met=t[1], waived=t[2], overdue=t[3])
        for k, t in sorted(totals.items())
    ]
