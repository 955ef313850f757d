"""Activities (日程, 拜访): calls, visits, meetings and other contacts with customers.

An :class:`Activity` is planned (it has a start time and goes into the manager's daily
and weekly plan) or recorded after the fact, and is completed with an outcome: the
purpose achieved, the customer reached without result, a refusal with its reason, or
no contact. A completed activity can name a next step with a due date, which becomes
a follow-up service task, and closes the service tasks it satisfies.

A :class:`SpotCheck` (抽查) is a supervisor's quality review of one completed activity
(did the call or visit happen as recorded?), with a finding.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable
from typing import Any

import attrs

from finance_crm.clock import ensure_utc
from finance_crm.errors import BusinessRuleViolation, ValidationError
from finance_crm.ids import (
    ActivityId,
    CustomerId,
    ServiceTaskId,
    SpotCheckId,
    StaffId,
    new_activity_id,
    new_spot_check_id,
)
from finance_crm.model._fields import business_day, one_of, plain_day
from finance_crm.model.customers import Channel
from finance_crm.model.events import DomainEvent
from finance_crm.security import PersonalDataKind, masked

__all__ = [
    "Activity",
    "ActivityCancelled",
    "ActivityCompleted",
    "ActivityKind",
    "ActivityOutcome",
    "ActivityPlanned",
    "ActivityStatus",
    "SpotCheck",
    "SpotCheckFinding",
    "SpotCheckRecorded",
]

_MAX_MINUTES = 24 * 60


class ActivityKind(enum.Enum):
    """How the customer was (or is to be) contacted."""

    CALL = "call"  # 电访
    VISIT = "visit"  # 拜访 (at the customer's home or premises)
    MEETING = "meeting"  # 会面 (at the branch, by appointment)
    EMAIL = "email"
    MESSAGE = "message"  # SMS, WeChat
    BRANCH_WALK_IN = "branch_walk_in"  # 到店 (the customer came in unannounced)


class ActivityStatus(enum.Enum):
    PLANNED = "planned"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ActivityOutcome(enum.Enum):
    """How a completed activity ended."""

    ACHIEVED = "achieved"  # the purpose was achieved
    CONTACTED = "contacted"  # the customer was reached; nothing concluded
    DECLINED = "declined"  # the customer refused: give the rejection reason (拒绝原因)
    NO_CONTACT = "no_contact"  # not reached (no answer, not at home)

    @property
    def reached_customer(self) -> bool:
        """Whether the customer was actually contacted (a no-contact call does not count
        as contact for a service standard)."""
        return self is not ActivityOutcome.NO_CONTACT


def _text(limit: int, *, optional: bool) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            raise ValidationError(
                f"must be non-blank text of at most {limit} characters",
                path=f"$.{attribute.name}",
            )

    return check


def _staff(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        raise ValidationError("must be a staff code (工号)", path=f"$.{attribute.name}")


def _instant(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime.datetime) or value.tzinfo is None:
        raise ValidationError(
            "must be a timezone-aware datetime (an instant)", path=f"$.{attribute.name}"
        )


def _required_instant(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        raise ValidationError("is required", path=f"$.{attribute.name}")
    _instant(instance, attribute, value)


def _utc(value: object) -> object:
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return ensure_utc(value)
    return value


def _minutes(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (type(value) is not int or not 1 <= value <= _MAX_MINUTES):
        raise ValidationError(
            f"must be a whole number of minutes from 1 to {_MAX_MINUTES}",
            path=f"$.{attribute.name}",
        )


def _participants(value: object) -> object:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return value
    return tuple(value)


def _check_participants(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError("must be a sequence of staff codes", path="$.participants")
    if len(set(value)) != len(value):
        raise ValidationError("a participant is listed twice", path="$.participants")


def _optional(kind: type[enum.Enum]) -> Any:
    check = one_of(kind)

    def optional(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            check(instance, attribute, value)

    return optional


@attrs.frozen(kw_only=True)
class Activity:
    """One contact with a customer, planned or done.

    ``owner`` is the manager responsible for it; ``participants`` are colleagues who
    joined (a product specialist on a visit). ``notes`` may hold personal details, so
    they are masked in repr and in the audit trail.

    Build one with :meth:`plan` (a future call or visit) or :meth:`record` (a contact
    already made, such as a walk-in), and finish a planned one with :meth:`complete`
    or :meth:`cancel`.
    """

    id: ActivityId = attrs.field(factory=new_activity_id)
    customer_id: CustomerId
    owner: StaffId = attrs.field(validator=_staff)
    kind: ActivityKind = attrs.field(validator=one_of(ActivityKind))
    purpose: str = attrs.field(validator=_text(200, optional=False))
    status: ActivityStatus = attrs.field(
        default=ActivityStatus.PLANNED, validator=one_of(ActivityStatus)
    )
    planned_at: datetime.datetime | None = attrs.field(
        default=None, converter=_utc, validator=_instant
    )
    duration_minutes: int | None = attrs.field(default=None, validator=_minutes)
    participants: tuple[StaffId, ...] = attrs.field(
        default=(), converter=_participants, validator=_check_participants
    )
    channel: Channel | None = attrs.field(default=None, validator=_optional(Channel))
    completed_at: datetime.datetime | None = attrs.field(
        default=None, converter=_utc, validator=_instant
    )
    outcome: ActivityOutcome | None = attrs.field(
        default=None, validator=_optional(ActivityOutcome)
    )
    rejection_reason: str | None = attrs.field(default=None, validator=_text(200, optional=True))
    notes: str | None = attrs.field(
        default=None, validator=_text(2000, optional=True), repr=masked(PersonalDataKind.FREE_TEXT)
    )
    next_step: str | None = attrs.field(default=None, validator=_text(200, optional=True))
    next_step_due: datetime.date | None = attrs.field(
        default=None, converter=plain_day, validator=business_day(optional=True)
    )
    # The service task this activity was planned or done for, if any.
    task_id: ServiceTaskId | None = None
    cancel_reason: str | None = attrs.field(default=None, validator=_text(200, optional=True))
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if self.owner in self.participants:
            raise ValidationError(
                "the owner is not also a participant; list only colleagues who joined",
                path="$.participants",
            )
        done = self.status is ActivityStatus.COMPLETED
        if done != (self.completed_at is not None) or done != (self.outcome is not None):
            raise ValidationError(
                "completed_at and outcome are set exactly when the activity is completed",
                path="$.completed_at",
            )
        if self.status is ActivityStatus.PLANNED and self.planned_at is None:
            raise ValidationError("a planned activity needs planned_at", path="$.planned_at")
        if (self.outcome is ActivityOutcome.DECLINED) != (self.rejection_reason is not None):
            raise ValidationError(
                "give a rejection_reason exactly when the outcome is DECLINED",
                path="$.rejection_reason",
            )
        if (self.next_step is None) != (self.next_step_due is None):
            raise ValidationError(
                "a next step needs a due date, and a due date needs a next step",
                path="$.next_step_due",
            )
        if self.next_step is not None and not done:
            raise ValidationError(
                "a next step is recorded when the activity is completed", path="$.next_step"
            )
        if (self.status is ActivityStatus.CANCELLED) != (self.cancel_reason is not None):
            raise ValidationError(
                "give a cancel_reason exactly when the activity is cancelled",
                path="$.cancel_reason",
            )

    # -- building -----------------------------------------------------------------------

    @classmethod
    def plan(
        cls,
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
        at: datetime.datetime,
    ) -> tuple[Activity, list[DomainEvent]]:
        """A call, visit or meeting for the manager's plan."""
        if planned_at is None:
            raise ValidationError("a planned activity needs planned_at", path="$.planned_at")
        activity = cls(
            customer_id=customer_id,
            owner=owner,
            kind=kind,
            purpose=purpose,
            planned_at=planned_at,
            duration_minutes=duration_minutes,
            participants=tuple(participants),
            channel=channel,
            task_id=task_id,
        )
        return activity, [
            ActivityPlanned(
                occurred_at=at,
                activity_id=activity.id,
                customer_id=customer_id,
                owner=owner,
                kind=kind,
                planned_at=activity.planned_at,
            )
        ]

    @classmethod
    def record(
        cls,
        *,
        customer_id: CustomerId,
        owner: StaffId,
        kind: ActivityKind,
        purpose: str,
        completed_at: datetime.datetime,
        outcome: ActivityOutcome,
        now: datetime.datetime,
        duration_minutes: int | None = None,
        participants: Iterable[StaffId] = (),
        channel: Channel | None = None,
        rejection_reason: str | None = None,
        notes: str | None = None,
        next_step: str | None = None,
        next_step_due: datetime.date | None = None,
        task_id: ServiceTaskId | None = None,
    ) -> tuple[Activity, list[DomainEvent]]:
        """A contact already made (a walk-in, an unplanned call), recorded as completed."""
        _not_future(completed_at, now)
        activity = cls(
            customer_id=customer_id,
            owner=owner,
            kind=kind,
            purpose=purpose,
            status=ActivityStatus.COMPLETED,
            duration_minutes=duration_minutes,
            participants=tuple(participants),
            channel=channel,
            completed_at=completed_at,
            outcome=outcome,
            rejection_reason=rejection_reason,
            notes=notes,
            next_step=next_step,
            next_step_due=next_step_due,
            task_id=task_id,
        )
        return activity, [_completed(activity, now)]

    # -- changing -----------------------------------------------------------------------

    def complete(
        self,
        *,
        completed_at: datetime.datetime,
        outcome: ActivityOutcome,
        now: datetime.datetime,
        duration_minutes: int | None = None,
        rejection_reason: str | None = None,
        notes: str | None = None,
        next_step: str | None = None,
        next_step_due: datetime.date | None = None,
    ) -> tuple[Activity, list[DomainEvent]]:
        """Record how a planned activity went. ``now`` is the clock's instant: an
        activity cannot be completed in the future."""
        if self.status is not ActivityStatus.PLANNED:
            raise BusinessRuleViolation(
                f"the activity is {self.status.value}; only a planned activity can be completed"
            )
        _not_future(completed_at, now)
        new = attrs.evolve(
            self,
            status=ActivityStatus.COMPLETED,
            completed_at=completed_at,
            outcome=outcome,
            duration_minutes=(
                duration_minutes if duration_minutes is not None else self.duration_minutes
            ),
            rejection_reason=rejection_reason,
            notes=notes,
            next_step=next_step,
            next_step_due=next_step_due,
        )
        return new, [_completed(new, now)]

    def cancel(self, *, reason: str, at: datetime.datetime) -> tuple[Activity, list[DomainEvent]]:
        """Call a planned activity off, with the reason."""
        if self.status is not ActivityStatus.PLANNED:
            raise BusinessRuleViolation(
                f"the activity is {self.status.value}; only a planned activity can be cancelled"
            )
        new = attrs.evolve(self, status=ActivityStatus.CANCELLED, cancel_reason=reason)
        return new, [
            ActivityCancelled(
                occurred_at=at,
                activity_id=self.id,
                customer_id=self.customer_id,
                owner=self.owner,
            )
        ]

    def reschedule(
        self, planned_at: datetime.datetime, *, at: datetime.datetime
    ) -> tuple[Activity, list[DomainEvent]]:
        """Move a planned activity to another time."""
        if self.status is not ActivityStatus.PLANNED:
            raise BusinessRuleViolation(
                f"the activity is {self.status.value}; only a planned activity can be moved"
            )
        new = attrs.evolve(self, planned_at=planned_at)
        return new, [
            ActivityPlanned(
                occurred_at=at,
                activity_id=self.id,
                customer_id=self.customer_id,
                owner=self.owner,
                kind=self.kind,
                planned_at=new.planned_at,
            )
        ]

    @property
    def counts_as_contact(self) -> bool:
        """Completed and the customer was reached: what service standards count."""
        return self.outcome is not None and self.outcome.reached_customer


def _not_future(completed_at: datetime.datetime, now: datetime.datetime) -> None:
    if (
        isinstance(completed_at, datetime.datetime)
        and completed_at.tzinfo is not None
        and completed_at > now
    ):
        raise ValidationError(
            "an activity cannot be completed in the future; record it once it has happened",
            path="$.completed_at",
        )


def _completed(activity: Activity, now: datetime.datetime) -> ActivityCompleted:
    assert activity.completed_at is not None and activity.outcome is not None
    return ActivityCompleted(
        occurred_at=now,
        activity_id=activity.id,
        customer_id=activity.customer_id,
        owner=activity.owner,
        kind=activity.kind,
        outcome=activity.outcome,
        completed_at=activity.completed_at,
        next_step_due=activity.next_step_due,
    )


@attrs.frozen(kw_only=True)
class _ActivityEvent(DomainEvent):
    activity_id: ActivityId
    customer_id: CustomerId
    owner: StaffId

    @property
    def aggregate_id(self) -> str:
        return str(self.activity_id)


@attrs.frozen(kw_only=True)
class ActivityPlanned(_ActivityEvent):
    """An activity was put in (or moved within) a manager's plan."""

    kind: ActivityKind
    planned_at: datetime.datetime | None


@attrs.frozen(kw_only=True)
class ActivityCompleted(_ActivityEvent):
    """An activity was done; ``next_step_due`` is set when it asked for a follow-up."""

    kind: ActivityKind
    outcome: ActivityOutcome
    completed_at: datetime.datetime
    next_step_due: datetime.date | None


@attrs.frozen(kw_only=True)
class ActivityCancelled(_ActivityEvent):
    """A planned activity was called off."""


class SpotCheckFinding(enum.Enum):
    """What a spot check (抽查) of a completed activity found."""

    CONFIRMED = "confirmed"  # 属实: the customer confirms the contact as recorded
    DISCREPANCY = "discrepancy"  # 不符: the record does not match what happened
    UNVERIFIABLE = "unverifiable"  # 无法核实: the customer could not be reached to confirm


@attrs.frozen(kw_only=True)
class SpotCheck:
    """A quality review of one completed activity, by someone other than its owner."""

    id: SpotCheckId = attrs.field(factory=new_spot_check_id)
    activity_id: ActivityId
    customer_id: CustomerId
    owner: StaffId = attrs.field(validator=_staff)  # whose activity was checked
    checker: StaffId = attrs.field(validator=_staff)
    checked_at: datetime.datetime = attrs.field(converter=_utc, validator=_required_instant)
    finding: SpotCheckFinding = attrs.field(validator=one_of(SpotCheckFinding))
    notes: str | None = attrs.field(
        default=None, validator=_text(2000, optional=True), repr=masked(PersonalDataKind.FREE_TEXT)
    )
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if self.checker == self.owner:
            raise ValidationError(
                "a manager cannot spot-check their own activity; choose another checker",
                path="$.checker",
            )
        if self.finding is not SpotCheckFinding.CONFIRMED and self.notes is None:
            raise ValidationError(
                "say what was found: notes are required unless the activity is confirmed",
                path="$.notes",
            )


@attrs.frozen(kw_only=True)
class SpotCheckRecorded(DomainEvent):
    """A spot check's finding was recorded."""

    spot_check_id: SpotCheckId
    activity_id: ActivityId
    owner: StaffId
    finding: SpotCheckFinding

    @property
    def aggregate_id(self) -> str:
        return str(self.activity_id)
