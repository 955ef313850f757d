"""Activities at work: plans, recording contacts, follow-ups, the supervisor's team
view, spot checks (抽查) and iCalendar export.

* :func:`plan_activity`, :func:`reschedule_activity`, :func:`cancel_activity`: a
  manager's plan; a plan for a departed (or unknown) manager is refused.
* :func:`complete_activity` / :func:`record_activity`: a contact done. It closes the
  task it was for and the customer's open tasks it satisfies, and its next step
  becomes a follow-up task (:data:`~finance_crm.model.service_standards.FOLLOW_UP`).
* :func:`daily_plan`, :func:`weekly_plan`, :func:`team_view`: what a manager and a
  supervisor look at each morning.
* :func:`sample_for_spot_check` and :func:`record_spot_check`: quality review.
* :func:`plan_to_ics`: a plan as an RFC 5545 calendar for Outlook or a phone, made
  with the ``icalendar`` library.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

import attrs

from finance_crm.clock import business_date, ensure_utc
from finance_crm.errors import BusinessRuleViolation, NotFoundError, ValidationError
from finance_crm.ids import ActivityId, CustomerId, ServiceTaskId, StaffId
from finance_crm.model.activities import (
    Activity,
    ActivityKind,
    ActivityOutcome,
    ActivityStatus,
    SpotCheck,
    SpotCheckFinding,
    SpotCheckRecorded,
)
from finance_crm.model.customers import Channel
from finance_crm.model.service_standards import (
    ALL_KINDS,
    FOLLOW_UP,
    ServiceTask,
)
from finance_crm.ports import UnitOfWork
from finance_crm.rules.service_standards import ServiceRules
from finance_crm.security import PersonalDataKind

__all__ = [
    "ManagerDay",
    "cancel_activity",
    "complete_activity",
    "daily_plan",
    "plan_activity",
    "plan_to_ics",
    "record_activity",
    "record_spot_check",
    "reschedule_activity",
    "sample_for_spot_check",
    "team_view",
    "weekly_plan",
]

_DAY = datetime.timedelta(days=1)


def _serving_staff(uow: UnitOfWork, staff_id: StaffId, what: str) -> None:
    member = uow.organization.find_staff(staff_id)
    if member is None:
        raise NotFoundError(f"no staff member {staff_id!r}; {what} needs a known manager")
    if not member.is_active:
        raise BusinessRuleViolation(
            f"staff member {staff_id!r} has departed; {what} for a departed manager is "
            "refused: plan it for the customer's current manager"
        )


def plan_activity(
    uow: UnitOfWork,
    *,
    customer_id: CustomerId,
    owner: StaffId,
    kind: ActivityKind,
    purpose: str,
    planned_at: datetime.datetime,
    duration_minutes: int | None = None,
    participants: Iterable[StaffId] = (),
    channel: Channel | None = None,
    task_id: ServiceTaskId | None = None,
) -> Activity:
    """Put a call, visit or meeting into ``owner``'s plan."""
    uow.customers.get(customer_id)
    _serving_staff(uow, owner, "a plan")
    for colleague in participants:
        _serving_staff(uow, colleague, "a plan")
    if task_id is not None:
        uow.service_tasks.get(task_id)
    activity, events = Activity.plan(
        customer_id=customer_id,
        owner=owner,
        kind=kind,
        purpose=purpose,
        planned_at=planned_at,
        duration_minutes=duration_minutes,
        participants=participants,
        channel=channel,
        task_id=task_id,
        at=uow.clock.now(),
    )
    uow.activities.add(activity, events)
    return uow.activities.get(activity.id)


def reschedule_activity(
    uow: UnitOfWork, activity_id: ActivityId, planned_at: datetime.datetime
) -> Activity:
    activity = uow.activities.get(activity_id)
    uow.customers.get(activity.customer_id)
    _serving_staff(uow, activity.owner, "a plan")
    moved, events = activity.reschedule(planned_at, at=uow.clock.now())
    return uow.activities.update(moved, events)


def cancel_activity(uow: UnitOfWork, activity_id: ActivityId, *, reason: str) -> Activity:
    activity = uow.activities.get(activity_id)
    uow.customers.get(activity.customer_id)
    cancelled, events = activity.cancel(reason=reason, at=uow.clock.now())
    return uow.activities.update(cancelled, events)


def _day_of(uow: UnitOfWork, instant: datetime.datetime) -> datetime.date:
    day = business_date(instant, uow.timezone)
    return datetime.date(day.year, day.month, day.day)


def _close_tasks(uow: UnitOfWork, activity: Activity, rules: ServiceRules | None) -> None:
    """Close the task the activity was for, and the customer's open tasks whose
    standard it satisfies (standards named in ``rules``; follow-ups always)."""
    if not activity.counts_as_contact:
        return
    assert activity.completed_at is not None
    day = _day_of(uow, activity.completed_at)
    kinds = {s.code: s.satisfied_by for s in rules.standards} if rules else {}
    kinds[FOLLOW_UP] = rules.follow_up_kinds if rules else ALL_KINDS
    at = uow.clock.now()
    for task in uow.service_tasks.of_customer(activity.customer_id, open_only=True):
        named = task.id == activity.task_id
        matches = activity.kind in kinds.get(task.standard, frozenset())
        if named or (matches and task.counts_from <= day):
            done, events = task.complete(on=day, by=uow.actor.id, activity_id=activity.id, at=at)
            uow.service_tasks.update(done, events)


def _follow_up(uow: UnitOfWork, activity: Activity) -> None:
    if activity.next_step is None or activity.next_step_due is None:
        return
    assert activity.completed_at is not None
    today = _day_of(uow, activity.completed_at)
    uow.service_tasks.add(
        ServiceTask(
            customer_id=activity.customer_id,
            standard=FOLLOW_UP,
            occurrence=str(activity.id),
            purpose=activity.next_step,
            assignee=activity.owner,
            created_on=today,
            counts_from=min(today + _DAY, activity.next_step_due),
            due_on=activity.next_step_due,
        )
    )


def _check_next_step(uow: UnitOfWork, completed_at: object, due: object) -> None:
    if (
        isinstance(due, datetime.date)
        and isinstance(completed_at, datetime.datetime)
        and completed_at.tzinfo is not None
        and due < _day_of(uow, completed_at)
    ):
        raise ValidationError(
            "the next step cannot be due before the activity was done", path="$.next_step_due"
        )


def complete_activity(
    uow: UnitOfWork,
    activity_id: ActivityId,
    *,
    outcome: ActivityOutcome,
    completed_at: datetime.datetime | None = None,
    duration_minutes: int | None = None,
    rejection_reason: str | None = None,
    notes: str | None = None,
    next_step: str | None = None,
    next_step_due: datetime.date | None = None,
    rules: ServiceRules | None = None,
) -> Activity:
    """Record how a planned activity went (``completed_at`` defaults to now; a time in
    the future is refused) and make the follow-up task of its next step.

    If it reached the customer it closes the task it was planned for, the customer's
    open follow-ups, and the open tasks of the standards in ``rules`` that its kind
    satisfies; without ``rules`` those are left to the nightly evaluation, which
    closes them the same way."""
    activity = uow.activities.get(activity_id)
    uow.customers.get(activity.customer_id)
    now = uow.clock.now()
    when = completed_at if completed_at is not None else now
    _check_next_step(uow, when, next_step_due)
    done, events = activity.complete(
        completed_at=when,
        outcome=outcome,
        now=now,
        duration_minutes=duration_minutes,
        rejection_reason=rejection_reason,
        notes=notes,
        next_step=next_step,
        next_step_due=next_step_due,
    )
    stored = uow.activities.update(done, events)
    _close_tasks(uow, stored, rules)
    _follow_up(uow, stored)
    return stored


def record_activity(
    uow: UnitOfWork,
    *,
    customer_id: CustomerId,
    owner: StaffId,
    kind: ActivityKind,
    purpose: str,
    outcome: ActivityOutcome,
    completed_at: datetime.datetime | None = None,
    duration_minutes: int | None = None,
    participants: Iterable[StaffId] = (),
    channel: Channel | None = None,
    rejection_reason: str | None = None,
    notes: str | None = None,
    next_step: str | None = None,
    next_step_due: datetime.date | None = None,
    task_id: ServiceTaskId | None = None,
    rules: ServiceRules | None = None,
) -> Activity:
    """Record a contact already made (a walk-in, an unplanned call)."""
    uow.customers.get(customer_id)
    if uow.organization.find_staff(owner) is None:
        raise NotFoundError(f"no staff member {owner!r}")
    now = uow.clock.now()
    when = completed_at if completed_at is not None else now
    _check_next_step(uow, when, next_step_due)
    activity, events = Activity.record(
        customer_id=customer_id,
        owner=owner,
        kind=kind,
        purpose=purpose,
        completed_at=when,
        outcome=outcome,
        now=now,
        duration_minutes=duration_minutes,
        participants=participants,
        channel=channel,
        rejection_reason=rejection_reason,
        notes=notes,
        next_step=next_step,
        next_step_due=next_step_due,
        task_id=task_id,
    )
    uow.activities.add(activity, events)
    stored = uow.activities.get(activity.id)
    _close_tasks(uow, stored, rules)
    _follow_up(uow, stored)
    return stored


# -- plans --------------------------------------------------------------------------------


def _local_midnight(uow: UnitOfWork, day: datetime.date) -> datetime.datetime:
    local = datetime.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(uow.timezone))
    return ensure_utc(local)


def _check_day(value: object) -> datetime.date:
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise ValidationError("must be a business date (a date, not a datetime)", path="$.day")
    return datetime.date(value.year, value.month, value.day)


def daily_plan(uow: UnitOfWork, staff_id: StaffId, day: datetime.date) -> list[Activity]:
    """``staff_id``'s activities planned on ``day`` (in the store's time zone)."""
    day = _check_day(day)
    uow.organization.get_staff(staff_id)
    start = _local_midnight(uow, day)
    return uow.activities.scheduled([staff_id], start, _local_midnight(uow, day + _DAY))


def weekly_plan(uow: UnitOfWork, staff_id: StaffId, day: datetime.date) -> list[Activity]:
    """``staff_id``'s activities planned in the week (Monday to Sunday) of ``day``."""
    monday = _check_day(day) - datetime.timedelta(days=day.weekday())
    uow.organization.get_staff(staff_id)
    start = _local_midnight(uow, monday)
    end = _local_midnight(uow, monday + datetime.timedelta(days=7))
    return uow.activities.scheduled([staff_id], start, end)


@attrs.frozen(kw_only=True)
class ManagerDay:
    """One manager's line of a supervisor's team view for a week."""

    staff_id: StaffId
    name: str  # masked as the actor may see it
    planned: int  # activities planned in the week (any status)
    completed: int  # of those, completed
    cancelled: int
    due_tasks: int  # open tasks due by the day
    overdue_tasks: int  # of those, past their due date


def team_view(uow: UnitOfWork, supervisor: StaffId, day: datetime.date) -> list[ManagerDay]:
    """For each active staff member of ``supervisor``'s unit and the units below it
    (the supervisor excluded): the week's plan and how much of it is done, and their
    due and overdue tasks on ``day``."""
    day = _check_day(day)
    boss = uow.organization.get_staff(supervisor)
    team = [s for s in uow.organization.staff(unit=boss.unit) if s.is_active and s.id != supervisor]
    monday = day - datetime.timedelta(days=day.weekday())
    planned = uow.activities.scheduled(
        [s.id for s in team],
        _local_midnight(uow, monday),
        _local_midnight(uow, monday + datetime.timedelta(days=7)),
    )
    lines = []
    for member in team:
        mine = [a for a in planned if a.owner == member.id]
        tasks = [
            t for t in uow.service_tasks.due_list([member.id], until=day) if t.assignee == member.id
        ]
        lines.append(
            ManagerDay(
                staff_id=member.id,
                name=uow.masking.mask(PersonalDataKind.NAME, member.name),
                planned=len(mine),
                completed=sum(a.status is ActivityStatus.COMPLETED for a in mine),
                cancelled=sum(a.status is ActivityStatus.CANCELLED for a in mine),
                due_tasks=len(tasks),
                overdue_tasks=sum(t.due_on < day for t in tasks),
            )
        )
    return lines


# -- spot checks --------------------------------------------------------------------------


def sample_for_spot_check(
    uow: UnitOfWork,
    *,
    start: datetime.date,
    end: datetime.date,
    size: int,
    seed: int | str,
    owners: Sequence[StaffId] | None = None,
) -> list[Activity]:
    """A random sample of ``size`` activities completed from ``start`` to ``end`` (of
    ``owners``, or anyone's), not yet spot-checked. The same ``seed`` gives the same
    sample, so a reviewer can show how it was drawn."""
    if type(size) is not int or size < 1:
        raise ValidationError("must be a whole number, 1 or more", path="$.size")
    start, end = _check_day(start), _check_day(end)
    checked = {c.activity_id for c in uow.activities.spot_checks(owners, start, end + 366 * _DAY)}
    ids = [i for i in uow.activities.completed(owners, start, end) if i not in checked]
    chosen = random.Random(str(seed)).sample(ids, min(size, len(ids)))
    return [uow.activities.get(i) for i in sorted(chosen)]


def record_spot_check(
    uow: UnitOfWork,
    activity_id: ActivityId,
    *,
    finding: SpotCheckFinding,
    notes: str | None = None,
) -> SpotCheck:
    """Record the finding of a spot check made by the actor (a staff member who does
    not own the activity)."""
    activity = uow.activities.get(activity_id)
    uow.customers.get(activity.customer_id)
    checker = uow.organization.find_staff(StaffId(uow.actor.id))
    if checker is None:
        raise NotFoundError("spot checks are made by staff: the actor has no staff record")
    now = uow.clock.now()
    check = SpotCheck(
        activity_id=activity.id,
        customer_id=activity.customer_id,
        owner=activity.owner,
        checker=checker.id,
        checked_at=now,
        finding=finding,
        notes=notes,
    )
    uow.activities.add_spot_check(
        check,
        [
            SpotCheckRecorded(
                occurred_at=now,
                spot_check_id=check.id,
                activity_id=activity.id,
                owner=activity.owner,
                finding=finding,
            )
        ],
    )
    return check


# -- iCalendar ----------------------------------------------------------------------------

_DEFAULT_MINUTES = 30
_ICS_STATUS = {
    ActivityStatus.PLANNED: "CONFIRMED",
    ActivityStatus.COMPLETED: "CONFIRMED",
    ActivityStatus.CANCELLED: "CANCELLED",
}


def plan_to_ics(
    uow: UnitOfWork, activities: Sequence[Activity], *, calendar_name: str = "Customer plan"
) -> bytes:
    """The activities as an iCalendar file (RFC 5545), times in the store's zone.

    Each event's summary is the kind, the purpose and the customer's number and name
    (masked as the actor may see it: the file leaves the system); the UID is the
    activity id, so importing a newer export updates the events instead of doubling
    them. Activities without a planned time are left out.
    """
    import icalendar  # here, not at the top: importing finance_crm stays cheap

    zone = ZoneInfo(uow.timezone)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//finance_crm//activity plan//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", calendar_name)
    stamp = uow.clock.now()
    for activity in activities:
        if activity.planned_at is None:
            continue
        customer = uow.customers.get(activity.customer_id)
        name = customer.display_name
        if customer.kind.value == "individual":
            name = uow.masking.mask(PersonalDataKind.NAME, name)
        event = icalendar.Event()
        event.add("uid", f"{activity.id}@finance-crm")
        event.add("dtstamp", stamp)
        event.add("dtstart", activity.planned_at.astimezone(zone))
        minutes = activity.duration_minutes or _DEFAULT_MINUTES
        event.add("duration", datetime.timedelta(minutes=minutes))
        event.add(
            "summary",
            f"{activity.kind.value}: {activity.purpose} ({customer.customer_number} {name})",
        )
        event.add("status", _ICS_STATUS[activity.status])
        event.add("sequence", activity.version)
        cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())
