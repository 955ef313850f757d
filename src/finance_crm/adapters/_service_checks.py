"""Checks, audit forms and decisions every adapter uses for activities and service
tasks. The task-making functions here are the specification the SQL adapter's
set-based statements follow (and the in-memory adapter runs them as they are)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from finance_crm.errors import ConflictError, DuplicateError, NotFoundError, ValidationError
from finance_crm.ids import CustomerId, StaffId
from finance_crm.model.activities import Activity, ActivityStatus, SpotCheck
from finance_crm.model.customers import CustomerKind, LifecycleStatus, RiskLevel
from finance_crm.model.service_standards import (
    CadenceStandard,
    DateStandard,
    EventStandard,
    ServiceTask,
    ServiceTrigger,
    TaskStatus,
)
from finance_crm.model.tiers import TierDirection
from finance_crm.ports import TaskGeneration
from finance_crm.security import DEFAULT_MASKING, PersonalDataKind

__all__ = [
    "SERVED",
    "acting_for",
    "activity_changes",
    "cadence_due",
    "check_activity_update",
    "check_new_activity",
    "check_new_task",
    "check_spot_check",
    "check_task_update",
    "duplicate_task",
    "event_task",
    "generation_audit",
    "selected",
    "task_changes",
]

#: Customers service standards apply to.
SERVED = frozenset({LifecycleStatus.ACTIVE, LifecycleStatus.DORMANT})


# -- activities -------------------------------------------------------------------------


def check_new_activity(activity: object, customer_exists: Callable[[CustomerId], bool]) -> Activity:
    if not isinstance(activity, Activity):
        raise ValidationError("expected a finance_crm Activity", path="$")
    if activity.version != 0:
        raise ValidationError("a new activity has version 0", path="$.version")
    if not customer_exists(activity.customer_id):
        raise NotFoundError("no customer with this id; add the customer first")
    return activity


def check_activity_update(current: Activity | None, activity: object) -> Activity:
    if not isinstance(activity, Activity):
        raise ValidationError("expected a finance_crm Activity", path="$")
    if current is None:
        raise NotFoundError("no activity with this id; add() it first")
    if current.version != activity.version:
        raise ConflictError(
            "the activity was changed by someone else since it was read; reload it and try again"
        )
    for field in ("customer_id", "owner", "kind"):
        if getattr(current, field) != getattr(activity, field):
            raise ValidationError(
                f"an activity's {field} cannot change; cancel it and plan a new one",
                path=f"$.{field}",
            )
    if current.status is not ActivityStatus.PLANNED and current != activity:
        raise ValidationError(
            f"the activity is {current.status.value} and can no longer change", path="$.status"
        )
    return activity


def check_spot_check(check: object, activity: Activity | None) -> SpotCheck:
    if not isinstance(check, SpotCheck):
        raise ValidationError("expected a finance_crm SpotCheck", path="$")
    if check.version != 0:
        raise ValidationError("a new spot check has version 0", path="$.version")
    if activity is None:
        raise NotFoundError("no activity with this id")
    if activity.status is not ActivityStatus.COMPLETED:
        raise ValidationError("only a completed activity can be spot-checked", path="$.activity_id")
    if (activity.customer_id, activity.owner) != (check.customer_id, check.owner):
        raise ValidationError(
            "the spot check's customer and owner must be the activity's", path="$.owner"
        )
    return check


def activity_changes(before: Activity | None, after: Activity) -> dict[str, dict[str, Any]]:
    """The audit form of an activity's change; notes and reasons shown masked."""

    def free(text: str | None) -> str | None:
        return DEFAULT_MASKING.mask(PersonalDataKind.FREE_TEXT, text) if text else None

    def wire(a: Activity) -> dict[str, Any]:
        return {
            "customer_id": str(a.customer_id),
            "owner": a.owner,
            "kind": a.kind.value,
            "purpose": a.purpose,
            "status": a.status.value,
            "planned_at": a.planned_at.isoformat() if a.planned_at else None,
            "duration_minutes": a.duration_minutes,
            "participants": list(a.participants) or None,
            "channel": a.channel.value if a.channel else None,
            "completed_at": a.completed_at.isoformat() if a.completed_at else None,
            "outcome": a.outcome.value if a.outcome else None,
            "rejection_reason": a.rejection_reason,
            "notes": free(a.notes),
            "next_step": a.next_step,
            "next_step_due": a.next_step_due.isoformat() if a.next_step_due else None,
            "task_id": str(a.task_id) if a.task_id else None,
            "cancel_reason": a.cancel_reason,
        }

    return _diff(wire(before) if before else None, wire(after))


def _diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if old is None:
        return {k: {"before": None, "after": v} for k, v in new.items() if v is not None}
    return {k: {"before": old[k], "after": v} for k, v in new.items() if old[k] != v}


# -- tasks ------------------------------------------------------------------------------


def check_new_task(task: object, customer_exists: Callable[[CustomerId], bool]) -> ServiceTask:
    if not isinstance(task, ServiceTask):
        raise ValidationError("expected a finance_crm ServiceTask", path="$")
    if task.version != 0:
        raise ValidationError("a new task has version 0", path="$.version")
    if not customer_exists(task.customer_id):
        raise NotFoundError("no customer with this id; add the customer first")
    return task


def check_task_update(current: ServiceTask | None, task: object) -> ServiceTask:
    if not isinstance(task, ServiceTask):
        raise ValidationError("expected a finance_crm ServiceTask", path="$")
    if current is None:
        raise NotFoundError("no service task with this id")
    if current.version != task.version:
        raise ConflictError(
            "the task was changed by someone else since it was read; reload it and try again"
        )
    for field in ("customer_id", "standard", "occurrence", "created_on", "due_on"):
        if getattr(current, field) != getattr(task, field):
            raise ValidationError(f"a task's {field} cannot change", path=f"$.{field}")
    if current.status is not TaskStatus.OPEN and current != task:
        raise ValidationError(
            f"the task is {current.status.value} and can no longer change", path="$.status"
        )
    return task


def duplicate_task() -> DuplicateError:
    return DuplicateError(
        "the customer already has a task for this standard and occurrence; look it up "
        "with of_customer()"
    )


def task_changes(before: ServiceTask | None, after: ServiceTask) -> dict[str, dict[str, Any]]:
    def wire(t: ServiceTask) -> dict[str, Any]:
        return {
            "customer_id": str(t.customer_id),
            "standard": t.standard,
            "occurrence": t.occurrence,
            "assignee": t.assignee,
            "covering_for": t.covering_for,
            "due_on": t.due_on.isoformat(),
            "status": t.status.value,
            "done_on": t.done_on.isoformat() if t.done_on else None,
            "activity_id": str(t.activity_id) if t.activity_id else None,
            "waived_reason": t.waived_reason,
            "escalated_to": t.escalated_to,
        }

    return _diff(wire(before) if before else None, wire(after))


def generation_audit(plan: TaskGeneration, made: int) -> dict[str, dict[str, Any]]:
    return {
        "on": {"before": None, "after": plan.on.isoformat()},
        "tasks": {"before": None, "after": made},
    }


# -- what generate() decides, customer by customer ----------------------------------------


def selected(
    plan: TaskGeneration,
    *,
    status: LifecycleStatus,
    risk_level: RiskLevel | None,
    tier: str | None,
    kind: CustomerKind,
) -> bool:
    """Whether the standard applies to a customer (its tier is the one held on ``on``)."""
    return status in SERVED and plan.standard.applies_to.matches(
        risk_level=risk_level, tier=tier, kind=kind
    )


def acting_for(
    plan: TaskGeneration, primary: StaffId, secondary: StaffId | None, chief: StaffId | None
) -> tuple[StaffId, StaffId | None]:
    """(assignee, covering_for) on ``plan.on``."""
    if primary not in plan.unavailable:
        return primary, None
    for stand_in in (secondary, chief):
        if stand_in is not None and stand_in not in plan.unavailable:
            return stand_in, primary
    return primary, None


def cadence_due(
    standard: CadenceStandard,
    plan: TaskGeneration,
    *,
    last_contact: datetime.date | None,
    opened_on: datetime.date,
    contacted_in_period: bool,
) -> tuple[str, datetime.date, datetime.date] | None:
    """(occurrence, counts_from, due_on) of the task a cadence asks for on ``plan.on``,
    or None. ``last_contact`` is the day of the customer's latest qualifying contact on
    or before ``on``; ``contacted_in_period`` whether one falls in ``plan.period``."""
    if standard.every_days is not None:
        base = max(d for d in (last_contact, standard.effective_from, opened_on) if d)
        due = base + datetime.timedelta(days=standard.every_days)
        if due - datetime.timedelta(days=standard.notice_days) > plan.on:
            return None
        counts_from = due - datetime.timedelta(days=standard.every_days - 1)
        return due.isoformat(), counts_from, due
    assert plan.period is not None
    first, due = plan.period
    if contacted_in_period or plan.on < first:
        return None
    return first.isoformat(), first, due


def event_task(
    standard: EventStandard | DateStandard,
    plan: TaskGeneration,
    *,
    event_day: datetime.date | None = None,
    event_key: str = "",
    birthday: str | None = None,
    direction: TierDirection | None = None,
) -> tuple[str, datetime.date, datetime.date] | None:
    """(occurrence, counts_from, due_on) of an event or date standard's task, or None.

    * a date standard: ``on`` from ``standard.on - notice_days`` to ``standard.on``;
    * a birthday (``birthday`` is the customer's ``"MM-DD"``): looked up in
      ``plan.birthdays``;
    * another event: ``event_day`` looked up in ``plan.due_by_event_day``, with
      ``event_key`` naming the event (an account id) and, for a tier change, its
      ``direction``.
    """
    notice = datetime.timedelta(days=standard.notice_days)
    if isinstance(standard, DateStandard):
        if not standard.on - notice <= plan.on <= standard.on:
            return None
        return standard.on.isoformat(), standard.on - notice, standard.on
    if standard.trigger is ServiceTrigger.BIRTHDAY:
        found = plan.birthdays.get(birthday) if birthday else None
        if found is None:
            return None
        day, due = found
        return f"birthday:{day.year}", min(due - notice, due), due
    if event_day is None or event_day not in plan.due_by_event_day:
        return None
    if standard.trigger is ServiceTrigger.TIER_CHANGED and direction not in (
        standard.tier_directions
    ):
        return None
    due = plan.due_by_event_day[event_day]
    return f"{standard.trigger.value}:{event_key}", event_day, due
