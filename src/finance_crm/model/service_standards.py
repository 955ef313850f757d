"""Service standards (服务标准) and the service tasks they give managers (服务任务).

A standard is a declarative rule a bank writes once; evaluating the standards each
night (:func:`finance_crm.services.service_standards.evaluate_standards`) turns them
into :class:`ServiceTask` items for the customer's acting manager:

* :class:`CadenceStandard`: contact at least every N days ("risk level 4-5: at least
  every 30 days"), or at least once per month / quarter / year ("one-to-one tier: a
  visit every quarter").
* :class:`EventStandard`: contact after something happened: a birthday (a greeting due
  a few days before it), a tier change, an account opened or closed, a large
  transaction; the deadline
  counts business days on the institution's calendar.
* :class:`DateStandard`: everyone selected on one date (holiday greetings, sent in
  bulk).

A task is open until it is done (by a matching completed activity, automatically, or
by hand) or waived with a reason; an open task is *due* up to its due date and
*overdue* after it, and an overdue task is escalated to the manager's supervisor after
a configurable number of business days.
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Iterable
from typing import Any, TypeAlias

import attrs

from finance_crm.errors import BusinessRuleViolation, ValidationError
from finance_crm.ids import (
    ActivityId,
    CustomerId,
    ServiceTaskId,
    StaffId,
    new_service_task_id,
)
from finance_crm.model._fields import business_day, name_of_up_to_200, one_of, plain_day
from finance_crm.model.activities import ActivityKind
from finance_crm.model.customers import CustomerKind, RiskLevel
from finance_crm.model.events import DomainEvent
from finance_crm.model.tiers import TierDirection
from finance_crm.model.transactions import TransactionKind
from finance_crm.money import Money

__all__ = [
    "FOLLOW_UP",
    "CadenceStandard",
    "CustomerSelection",
    "DateStandard",
    "EventStandard",
    "ServicePeriod",
    "ServiceStandard",
    "ServiceTask",
    "ServiceTaskDone",
    "ServiceTaskEscalated",
    "ServiceTaskWaived",
    "ServiceTasksGenerated",
    "ServiceTrigger",
    "TaskState",
    "TaskStatus",
]

#: The standard code of follow-up tasks made from an activity's next step.
FOLLOW_UP = "follow_up"

_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
ALL_KINDS = frozenset(ActivityKind)


def _code(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise ValidationError(
            "must be 1-40 lower-case letters, digits or '_', starting with a letter",
            path=f"$.{attribute.name}",
        )


def _days(minimum: int, *, optional: bool = False) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if type(value) is not int or not minimum <= value <= 3660:
            raise ValidationError(
                f"must be a whole number of days from {minimum} to 3660",
                path=f"$.{attribute.name}",
            )

    return check


def _frozen(value: object) -> object:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return value
    return frozenset(value)


def _set_of(kind: type[enum.Enum]) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, frozenset) or not all(isinstance(v, kind) for v in value):
            raise ValidationError(f"must be a set of {kind.__name__}", path=f"$.{attribute.name}")

    return check


def _check_tier_codes(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, frozenset) or not all(
        isinstance(v, str) and _CODE.fullmatch(v) for v in value
    ):
        raise ValidationError("must be a set of tier codes", path="$.tiers")


def _optional_money(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, Money) or not value.is_positive()):
        raise ValidationError("must be a positive Money amount", path=f"$.{attribute.name}")


def _selection(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, CustomerSelection):
        raise ValidationError("must be a CustomerSelection", path="$.applies_to")


@attrs.frozen
class CustomerSelection:
    """Which customers a standard applies to: every condition given must hold (an empty
    set means any). Only active and dormant customers are ever served.

    >>> risky = CustomerSelection(risk_levels={RiskLevel.GROWTH, RiskLevel.AGGRESSIVE})
    >>> risky.matches(risk_level=RiskLevel.AGGRESSIVE, tier=None, kind=CustomerKind.INDIVIDUAL)
    True
    >>> risky.matches(risk_level=None, tier=None, kind=CustomerKind.INDIVIDUAL)
    False
    """

    risk_levels: frozenset[RiskLevel] = attrs.field(
        default=frozenset(), converter=_frozen, validator=_set_of(RiskLevel)
    )
    # Current tier codes (see model/tiers.py).
    tiers: frozenset[str] = attrs.field(
        default=frozenset(), converter=_frozen, validator=_check_tier_codes
    )
    kinds: frozenset[CustomerKind] = attrs.field(
        default=frozenset(),
        converter=_frozen,
        validator=_set_of(CustomerKind),
    )

    def matches(
        self, *, risk_level: RiskLevel | None, tier: str | None, kind: CustomerKind
    ) -> bool:
        return (
            (not self.risk_levels or risk_level in self.risk_levels)
            and (not self.tiers or tier in self.tiers)
            and (not self.kinds or kind in self.kinds)
        )


class ServicePeriod(enum.Enum):
    """A calendar period a cadence can be counted in."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"

    def containing(self, day: datetime.date) -> tuple[datetime.date, datetime.date]:
        """The first and last day of the period ``day`` is in."""
        months = {"month": 1, "quarter": 3, "year": 12}[self.value]
        first_month = months * ((day.month - 1) // months) + 1
        start = datetime.date(day.year, first_month, 1)
        month_after = first_month + months
        following = (
            datetime.date(day.year + 1, month_after - 12, 1)
            if month_after > 12
            else datetime.date(day.year, month_after, 1)
        )
        return start, following - datetime.timedelta(days=1)


@attrs.frozen(kw_only=True)
class _Standard:
    code: str = attrs.field(validator=_code)
    name: str = attrs.field(validator=name_of_up_to_200)
    applies_to: CustomerSelection = attrs.field(factory=CustomerSelection, validator=_selection)
    # Completed activities of these kinds that reached the customer close the task
    # automatically (and, for a cadence, count as the contact). Empty: close by hand.
    satisfied_by: frozenset[ActivityKind] = attrs.field(
        default=ALL_KINDS, converter=_frozen, validator=_set_of(ActivityKind)
    )
    # The task appears in the manager's list this many days before it is due (提醒);
    # see each kind of standard for when this applies.
    notice_days: int = attrs.field(default=7, validator=_days(0))

    def __attrs_post_init__(self) -> None:
        if self.code == FOLLOW_UP:
            raise ValidationError(
                f"'{FOLLOW_UP}' is the code of follow-up tasks; choose another code",
                path="$.code",
            )


@attrs.frozen(kw_only=True)
class CadenceStandard(_Standard):
    """Contact each selected customer at least every ``every_days`` days, or at least
    once in every calendar ``per_period`` (exactly one of the two).

    With ``every_days`` the task falls due ``every_days`` after the last contact (a
    completed activity of a ``satisfied_by`` kind that reached the customer), or after
    ``effective_from`` or the day the customer was opened (UTC), whichever is latest,
    and appears ``notice_days`` before. With ``per_period`` a task appears when a period
    starts for each customer not yet contacted in it, due on the period's last business
    day (``notice_days`` does not apply).

    >>> CadenceStandard(code="risk_monthly", name="High-risk customers: monthly contact",
    ...                 applies_to=CustomerSelection(risk_levels={RiskLevel.GROWTH}),
    ...                 every_days=0, effective_from=datetime.date(2025, 1, 1))
    Traceback (most recent call last):
    ...
    finance_crm.errors.ValidationError: $.every_days: must be a whole number of days from 1 to 3660
    """

    every_days: int | None = attrs.field(default=None, validator=_days(1, optional=True))
    per_period: ServicePeriod | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(one_of(ServicePeriod)),
    )
    effective_from: datetime.date = attrs.field(converter=plain_day, validator=business_day())

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if (self.every_days is None) == (self.per_period is None):
            raise ValidationError(
                "give exactly one of every_days and per_period", path="$.every_days"
            )
        if not self.satisfied_by:
            raise ValidationError(
                "a cadence counts contacts: name at least one activity kind", path="$.satisfied_by"
            )


class ServiceTrigger(enum.Enum):
    """What an :class:`EventStandard` reacts to."""

    BIRTHDAY = "birthday"  # an individual customer's birthday
    TIER_CHANGED = "tier_changed"  # a tier move (model/tiers.py), from its effective day
    ACCOUNT_OPENED = "account_opened"
    ACCOUNT_CLOSED = "account_closed"
    LARGE_TRANSACTION = "large_transaction"  # a transaction of at least ``min_amount``


_DEFAULT_DIRECTIONS = frozenset({TierDirection.UP, TierDirection.DOWN})


@attrs.frozen(kw_only=True)
class EventStandard(_Standard):
    """Contact a selected customer after an event.

    * ``BIRTHDAY``: due ``days_before`` calendar days before the birthday (a 29 February
      birthday falls on 28 February in other years).
      The task appears ``notice_days`` before it is due.
    * ``TIER_CHANGED``, ``ACCOUNT_OPENED``, ``ACCOUNT_CLOSED``, ``LARGE_TRANSACTION``
      (a transaction of at least ``min_amount``, of one of ``transaction_kinds``): due
      ``within_business_days`` business days after the event's day, on the calendar
      given to the evaluation; the task appears at once (``notice_days`` does not
      apply). ``tier_directions`` picks which tier moves count (up and down by default;
      add ``TierDirection.INITIAL`` to count a customer's first tier).

    Events up to ``lookback_days`` before the evaluation day are still picked up, so a
    missed nightly run loses nothing; each event gives one task, however often the
    standards are evaluated.
    """

    trigger: ServiceTrigger = attrs.field(validator=one_of(ServiceTrigger))
    within_business_days: int | None = attrs.field(default=None, validator=_days(0, optional=True))
    days_before: int | None = attrs.field(default=None, validator=_days(0, optional=True))
    tier_directions: frozenset[TierDirection] = attrs.field(
        default=_DEFAULT_DIRECTIONS,
        converter=_frozen,
        validator=_set_of(TierDirection),
    )
    lookback_days: int = attrs.field(default=7, validator=_days(0))
    # LARGE_TRANSACTION: the least amount that counts (in one currency: transactions in
    # others are not converted), and which kinds count (empty: every kind).
    min_amount: Money | None = attrs.field(default=None, validator=_optional_money)
    transaction_kinds: frozenset[TransactionKind] = attrs.field(
        default=frozenset(), converter=_frozen, validator=_set_of(TransactionKind)
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        large = self.trigger is ServiceTrigger.LARGE_TRANSACTION
        if large != (self.min_amount is not None):
            raise ValidationError(
                "a large-transaction standard gives min_amount (and only it does)",
                path="$.min_amount",
            )
        if self.transaction_kinds and not large:
            raise ValidationError(
                "transaction_kinds is for large-transaction standards",
                path="$.transaction_kinds",
            )
        birthday = self.trigger is ServiceTrigger.BIRTHDAY
        if birthday and (self.days_before is None or self.within_business_days is not None):
            raise ValidationError(
                "a birthday standard gives days_before (and no within_business_days)",
                path="$.days_before",
            )
        if not birthday and (self.within_business_days is None or self.days_before is not None):
            raise ValidationError(
                "an event standard gives within_business_days (days_before is for birthdays)",
                path="$.within_business_days",
            )
        if self.trigger is ServiceTrigger.TIER_CHANGED and not self.tier_directions:
            raise ValidationError("name at least one tier direction", path="$.tier_directions")


@attrs.frozen(kw_only=True)
class DateStandard(_Standard):
    """Everyone selected, on one date: a holiday greeting sent in bulk (节日问候).
    The task is due ``on`` and appears ``notice_days`` before."""

    on: datetime.date = attrs.field(converter=plain_day, validator=business_day())


ServiceStandard: TypeAlias = CadenceStandard | EventStandard | DateStandard


class TaskStatus(enum.Enum):
    OPEN = "open"
    DONE = "done"
    WAIVED = "waived"


class TaskState(enum.Enum):
    """Where a task stands on a given day."""

    DUE = "due"  # open, due date not passed
    OVERDUE = "overdue"  # open, due date passed
    DONE = "done"
    WAIVED = "waived"


def _optional_staff(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValidationError("must be a staff code (工号)", path=f"$.{attribute.name}")


def _reason(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 200):
        raise ValidationError(
            "must be non-blank text of at most 200 characters", path=f"$.{attribute.name}"
        )


def _required(check: Any) -> Any:
    def required(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            raise ValidationError("is required", path=f"$.{attribute.name}")
        check(instance, attribute, value)

    return required


@attrs.frozen(kw_only=True)
class ServiceTask:
    """One piece of service work for one customer.

    ``standard`` and ``occurrence`` identify what asked for it (a standard's code and,
    say, the due date of a cadence or the day of a tier change): a customer has at most
    one task per pair, which is what makes evaluating the standards idempotent.
    ``assignee`` is the acting manager when the task was made (the secondary or chief
    standing in for a primary on leave, with ``covering_for`` naming the primary).
    ``counts_from`` is the first day a completed activity can satisfy it.
    """

    id: ServiceTaskId = attrs.field(factory=new_service_task_id)
    customer_id: CustomerId
    standard: str = attrs.field(validator=_code)
    occurrence: str = attrs.field(validator=_required(_reason))
    purpose: str = attrs.field(validator=name_of_up_to_200)
    assignee: StaffId = attrs.field(validator=_required(_optional_staff))
    covering_for: StaffId | None = attrs.field(default=None, validator=_optional_staff)
    created_on: datetime.date = attrs.field(converter=plain_day, validator=business_day())
    counts_from: datetime.date = attrs.field(converter=plain_day, validator=business_day())
    due_on: datetime.date = attrs.field(converter=plain_day, validator=business_day())
    status: TaskStatus = attrs.field(default=TaskStatus.OPEN, validator=one_of(TaskStatus))
    done_on: datetime.date | None = attrs.field(
        default=None, converter=plain_day, validator=business_day(optional=True)
    )
    activity_id: ActivityId | None = None
    waived_reason: str | None = attrs.field(default=None, validator=_reason)
    closed_by: str | None = attrs.field(default=None, validator=_optional_staff)
    escalated_to: StaffId | None = attrs.field(default=None, validator=_optional_staff)
    escalated_on: datetime.date | None = attrs.field(
        default=None, converter=plain_day, validator=business_day(optional=True)
    )
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if self.counts_from > self.due_on:
            raise ValidationError("counts_from is after the due date", path="$.counts_from")
        closed = self.status is not TaskStatus.OPEN
        if closed != (self.done_on is not None) or closed != (self.closed_by is not None):
            raise ValidationError(
                "done_on and closed_by are set exactly when the task is closed", path="$.done_on"
            )
        if (self.status is TaskStatus.WAIVED) != (self.waived_reason is not None):
            raise ValidationError(
                "a waived task needs its reason, and only a waived task has one",
                path="$.waived_reason",
            )
        if self.activity_id is not None and self.status is not TaskStatus.DONE:
            raise ValidationError("only a done task names its activity", path="$.activity_id")
        if (self.escalated_to is None) != (self.escalated_on is None):
            raise ValidationError(
                "escalated_to and escalated_on go together", path="$.escalated_on"
            )

    def state_on(self, day: datetime.date) -> TaskState:
        if self.status is TaskStatus.DONE:
            return TaskState.DONE
        if self.status is TaskStatus.WAIVED:
            return TaskState.WAIVED
        return TaskState.OVERDUE if day > self.due_on else TaskState.DUE

    @property
    def met_on_time(self) -> bool:
        """Done no later than its due date (what compliance counts)."""
        return (
            self.status is TaskStatus.DONE
            and self.done_on is not None
            and self.done_on <= self.due_on
        )

    def _require_open(self, doing: str) -> None:
        if self.status is not TaskStatus.OPEN:
            raise BusinessRuleViolation(
                f"the task is already {self.status.value}; only an open task can be {doing}"
            )

    def complete(
        self,
        *,
        on: datetime.date,
        by: str,
        activity_id: ActivityId | None = None,
        at: datetime.datetime,
    ) -> tuple[ServiceTask, list[DomainEvent]]:
        """Mark done on the business day ``on`` (by an activity, or by hand)."""
        self._require_open("done")
        new = attrs.evolve(
            self, status=TaskStatus.DONE, done_on=on, closed_by=by, activity_id=activity_id
        )
        return new, [
            ServiceTaskDone(
                occurred_at=at,
                task_id=self.id,
                customer_id=self.customer_id,
                standard=self.standard,
                assignee=self.assignee,
                done_on=on,
                on_time=new.met_on_time,
                activity_id=activity_id,
            )
        ]

    def waive(
        self, *, reason: str, on: datetime.date, by: str, at: datetime.datetime
    ) -> tuple[ServiceTask, list[DomainEvent]]:
        """Excuse the task (the customer moved abroad, asked not to be called): a
        reason is required, and a waived task does not count against compliance."""
        self._require_open("waived")
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError(
                "say why the task is waived; a waiver without a reason is refused",
                path="$.reason",
            )
        new = attrs.evolve(
            self, status=TaskStatus.WAIVED, done_on=on, closed_by=by, waived_reason=reason
        )
        return new, [
            ServiceTaskWaived(
                occurred_at=at,
                task_id=self.id,
                customer_id=self.customer_id,
                standard=self.standard,
                assignee=self.assignee,
            )
        ]

    def escalate(
        self, *, to: StaffId, on: datetime.date, at: datetime.datetime
    ) -> tuple[ServiceTask, list[DomainEvent]]:
        """Chase an overdue task with the supervisor (跟催)."""
        self._require_open("escalated")
        if self.escalated_to is not None:
            raise BusinessRuleViolation("the task has already been escalated")
        new = attrs.evolve(self, escalated_to=to, escalated_on=on)
        return new, [
            ServiceTaskEscalated(
                occurred_at=at,
                task_id=self.id,
                customer_id=self.customer_id,
                standard=self.standard,
                assignee=self.assignee,
                escalated_to=to,
                due_on=self.due_on,
            )
        ]


@attrs.frozen(kw_only=True)
class _TaskEvent(DomainEvent):
    task_id: ServiceTaskId
    customer_id: CustomerId
    standard: str
    assignee: StaffId

    @property
    def aggregate_id(self) -> str:
        return str(self.task_id)


@attrs.frozen(kw_only=True)
class ServiceTaskDone(_TaskEvent):
    done_on: datetime.date
    on_time: bool
    activity_id: ActivityId | None


@attrs.frozen(kw_only=True)
class ServiceTaskWaived(_TaskEvent):
    pass


@attrs.frozen(kw_only=True)
class ServiceTaskEscalated(_TaskEvent):
    escalated_to: StaffId
    due_on: datetime.date


@attrs.frozen(kw_only=True)
class ServiceTasksGenerated(DomainEvent):
    """One evaluation made ``count`` new tasks for a standard: one event per standard
    and run, not per task (a nightly run makes many), for the host to remind managers."""

    standard: str
    on: datetime.date
    count: int

    @property
    def aggregate_id(self) -> str:
        return self.standard
