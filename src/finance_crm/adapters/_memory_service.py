"""The in-memory activity and service-task repositories (see ``memory.py``): the book
is walked in Python by the decisions in ``_service_checks``, which the SQL adapter
compiles into set-based statements."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from finance_crm.adapters._graph_checks import refuse_empty_scope
from finance_crm.adapters._service_checks import (
    acting_for,
    activity_changes,
    cadence_due,
    check_activity_update,
    check_new_activity,
    check_new_task,
    check_spot_check,
    check_task_update,
    duplicate_task,
    event_task,
    generation_audit,
    selected,
    task_changes,
)
from finance_crm.clock import business_date
from finance_crm.errors import DuplicateError, NotFoundError
from finance_crm.ids import ActivityId, CustomerId, ServiceTaskId, StaffId
from finance_crm.model.activities import Activity, ActivityKind, ActivityStatus, SpotCheck
from finance_crm.model.customers import Customer, IndividualCustomer
from finance_crm.model.events import DomainEvent
from finance_crm.model.service_standards import (
    CadenceStandard,
    DateStandard,
    ServiceTask,
    ServiceTasksGenerated,
    ServiceTrigger,
    TaskStatus,
)
from finance_crm.model.tiers import TierDirection
from finance_crm.ports import ComplianceCount, TaskGeneration

if TYPE_CHECKING:
    from finance_crm.adapters.memory import InMemoryUnitOfWork

__all__ = ["MemoryActivities", "MemoryServiceTasks", "TaskKey"]

TaskKey = tuple[CustomerId, str, str]


def _recent_first(a: Activity) -> tuple[datetime.datetime, ActivityId]:
    moment = a.completed_at or a.planned_at
    assert moment is not None or a.status is ActivityStatus.CANCELLED
    return (moment or datetime.datetime.min.replace(tzinfo=datetime.UTC), a.id)


class MemoryActivities:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def _find(self, activity_id: ActivityId) -> Activity | None:
        pending = self._uow._pending.activities.get(activity_id)
        if pending is not None:
            return pending[1]
        return self._uow._store._state.activities.get(activity_id)

    def _all(self) -> list[Activity]:
        ids = set(self._uow._store._state.activities) | set(self._uow._pending.activities)
        return [a for a in map(self._find, ids) if a is not None]

    def completed_on(self, activity: Activity) -> datetime.date | None:
        """The business day an activity was completed, in the store's time zone."""
        if activity.completed_at is None:
            return None
        day = business_date(activity.completed_at, self._uow.timezone)
        return datetime.date(day.year, day.month, day.day)

    def get(self, activity_id: ActivityId) -> Activity:
        found = self._find(activity_id)
        if found is None:
            raise NotFoundError("no activity with this id")
        return found

    def add(self, activity: Activity, events: Sequence[DomainEvent] = ()) -> None:
        uow = self._uow
        uow._check_writable()
        check_new_activity(activity, lambda c: uow.customers._visible(c) is not None)
        refuse_empty_scope(uow.scope)
        if self._find(activity.id) is not None:
            raise DuplicateError("an activity with this id is already stored")
        stored = attrs.evolve(activity, version=1)
        uow._pending.activities[activity.id] = (None, stored)
        uow._audit(
            "activity.added", "activity", str(activity.id), 1, activity_changes(None, stored)
        )
        uow._emit(events)

    def update(self, activity: Activity, events: Sequence[DomainEvent] = ()) -> Activity:
        uow = self._uow
        uow._check_writable()
        current = self._find(activity.id) if isinstance(activity, Activity) else None
        check_activity_update(current, activity)
        assert current is not None
        refuse_empty_scope(uow.scope)
        stored = attrs.evolve(activity, version=activity.version + 1)
        pending = uow._pending.activities
        base = pending[activity.id][0] if activity.id in pending else current.version
        pending[activity.id] = (base, stored)
        uow._audit(
            "activity.revised",
            "activity",
            str(activity.id),
            stored.version,
            activity_changes(current, stored),
        )
        uow._emit(events)
        return stored

    def of_customer(self, customer_id: CustomerId, *, limit: int = 50) -> list[Activity]:
        mine = [a for a in self._all() if a.customer_id == customer_id]
        return sorted(mine, key=_recent_first, reverse=True)[:limit]

    def last_contact(self, customer_id: CustomerId) -> Activity | None:
        contacts = [a for a in self._all() if a.customer_id == customer_id and a.counts_as_contact]
        return max(contacts, key=_recent_first, default=None)

    def scheduled(
        self, owners: Collection[StaffId], start: datetime.datetime, end: datetime.datetime
    ) -> list[Activity]:
        wanted = set(owners)
        found = [
            a
            for a in self._all()
            if a.owner in wanted and a.planned_at is not None and start <= a.planned_at < end
        ]
        return sorted(found, key=lambda a: (a.planned_at, a.id))

    def completed(
        self, owners: Collection[StaffId] | None, start: datetime.date, end: datetime.date
    ) -> list[ActivityId]:
        wanted = None if owners is None else set(owners)
        found = []
        for a in self._all():
            day = self.completed_on(a)
            if day is not None and start <= day <= end and (wanted is None or a.owner in wanted):
                found.append(a.id)
        return sorted(found)

    def add_spot_check(self, check: SpotCheck, events: Sequence[DomainEvent] = ()) -> None:
        uow = self._uow
        uow._check_writable()
        activity_id = check.activity_id if isinstance(check, SpotCheck) else None
        check_spot_check(check, self._find(activity_id) if activity_id else None)
        refuse_empty_scope(uow.scope)
        state, pending = uow._store._state, uow._pending
        if check.activity_id in state.spot_checked or check.activity_id in pending.spot_checked:
            raise DuplicateError("this activity has already been spot-checked")
        stored = attrs.evolve(check, version=1)
        pending.spot_checks = {**pending.spot_checks, check.id: stored}
        pending.spot_checked = {**pending.spot_checked, check.activity_id: check.id}
        uow._audit(
            "spot_check.recorded",
            "spot_check",
            str(check.id),
            1,
            {
                "activity_id": {"before": None, "after": str(check.activity_id)},
                "checker": {"before": None, "after": check.checker},
                "finding": {"before": None, "after": check.finding.value},
            },
        )
        uow._emit(events)

    def spot_checks(
        self, owners: Collection[StaffId] | None, start: datetime.date, end: datetime.date
    ) -> list[SpotCheck]:
        state, pending = self._uow._store._state, self._uow._pending
        wanted = None if owners is None else set(owners)
        found = []
        for check in [*state.spot_checks.values(), *pending.spot_checks.values()]:
            day = business_date(check.checked_at, self._uow.timezone)
            if start <= day <= end and (wanted is None or check.owner in wanted):
                found.append(check)
        return sorted(found, key=lambda c: (c.checked_at, c.id))

    def count(self) -> int:
        return len(self._all())


class MemoryServiceTasks:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def _find(self, task_id: ServiceTaskId) -> ServiceTask | None:
        pending = self._uow._pending.tasks.get(task_id)
        if pending is not None:
            return pending[1]
        return self._uow._store._state.tasks.get(task_id)

    def _all(self) -> list[ServiceTask]:
        ids = set(self._uow._store._state.tasks) | set(self._uow._pending.tasks)
        return [t for t in map(self._find, ids) if t is not None]

    def _key_taken(self, key: TaskKey) -> bool:
        pending = self._uow._pending.task_keys
        return key in pending or key in self._uow._store._state.task_keys

    def get(self, task_id: ServiceTaskId) -> ServiceTask:
        found = self._find(task_id)
        if found is None:
            raise NotFoundError("no service task with this id")
        return found

    def _store_new(self, task: ServiceTask) -> ServiceTask:
        stored = attrs.evolve(task, version=1)
        pending = self._uow._pending
        pending.tasks[task.id] = (None, stored)
        pending.task_keys = {
            **pending.task_keys,
            (task.customer_id, task.standard, task.occurrence): task.id,
        }
        return stored

    def add(self, task: ServiceTask, events: Sequence[DomainEvent] = ()) -> None:
        uow = self._uow
        uow._check_writable()
        check_new_task(task, lambda c: uow.customers._visible(c) is not None)
        refuse_empty_scope(uow.scope)
        if self._find(task.id) is not None:
            raise DuplicateError("a task with this id is already stored")
        if self._key_taken((task.customer_id, task.standard, task.occurrence)):
            raise duplicate_task()
        stored = self._store_new(task)
        uow._audit(
            "service_task.added", "service_task", str(task.id), 1, task_changes(None, stored)
        )
        uow._emit(events)

    def update(self, task: ServiceTask, events: Sequence[DomainEvent] = ()) -> ServiceTask:
        uow = self._uow
        uow._check_writable()
        current = self._find(task.id) if isinstance(task, ServiceTask) else None
        check_task_update(current, task)
        assert current is not None
        refuse_empty_scope(uow.scope)
        return self._revise(current, task, events)

    def _revise(
        self, current: ServiceTask, task: ServiceTask, events: Sequence[DomainEvent]
    ) -> ServiceTask:
        uow = self._uow
        stored = attrs.evolve(task, version=task.version + 1)
        pending = uow._pending.tasks
        base = pending[task.id][0] if task.id in pending else current.version
        pending[task.id] = (base, stored)
        uow._audit(
            "service_task.revised",
            "service_task",
            str(task.id),
            stored.version,
            task_changes(current, stored),
        )
        uow._emit(events)
        return stored

    def of_customer(self, customer_id: CustomerId, *, open_only: bool = False) -> list[ServiceTask]:
        found = [
            t
            for t in self._all()
            if t.customer_id == customer_id and (not open_only or t.status is TaskStatus.OPEN)
        ]
        return sorted(found, key=lambda t: (t.due_on, t.id))

    def due_list(
        self, staff_ids: Collection[StaffId], *, until: datetime.date
    ) -> list[ServiceTask]:
        wanted = set(staff_ids)
        found = [
            t
            for t in self._all()
            if t.status is TaskStatus.OPEN
            and t.due_on <= until
            and (t.assignee in wanted or t.escalated_to in wanted)
        ]
        return sorted(found, key=lambda t: (t.due_on, t.customer_id, t.id))

    def count(self) -> int:
        return len(self._all())

    # -- the book at once ----------------------------------------------------------------

    def generate(self, plan: TaskGeneration) -> int:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        standard = plan.standard
        state, pending = uow._store._state, uow._pending
        made = 0
        contacts = self._contact_days(standard.satisfied_by, plan.on)
        # An every-N-days cadence has one open task per customer at a time (a period
        # cadence has one per period: the occurrence keys them).
        rolling = isinstance(standard, CadenceStandard) and standard.every_days is not None
        open_cadence = {
            t.customer_id
            for t in self._all()
            if rolling and t.standard == standard.code and t.status is TaskStatus.OPEN
        }
        for customer_id in sorted(set(state.customers) | set(pending.written)):
            customer = uow.customers._visible(customer_id)
            assignment = uow.assignments._visible(customer_id)
            if customer is None or assignment is None:
                continue
            tier = uow.tiers.on(customer_id, plan.on)
            if not selected(
                plan,
                status=customer.status,
                risk_level=customer.risk_level,
                tier=tier.tier.code if tier else None,
                kind=customer.kind,
            ):
                continue
            assignee, covering_for = acting_for(
                plan, assignment.primary, assignment.secondary, assignment.chief
            )
            for occurrence, counts_from, due in self._asked(plan, customer, contacts):
                key = (customer_id, standard.code, occurrence)
                if self._key_taken(key):
                    continue
                if rolling:
                    if customer_id in open_cadence:
                        continue
                    open_cadence.add(customer_id)
                self._store_new(
                    ServiceTask(
                        customer_id=customer_id,
                        standard=standard.code,
                        occurrence=occurrence,
                        purpose=standard.name,
                        assignee=assignee,
                        covering_for=covering_for,
                        created_on=plan.on,
                        counts_from=counts_from,
                        due_on=due,
                    )
                )
                made += 1
        uow._audit(
            "service_tasks.generated",
            "service_standard",
            standard.code,
            1,
            generation_audit(plan, made),
        )
        if made:
            uow._emit(
                [
                    ServiceTasksGenerated(
                        occurred_at=uow._now(), standard=standard.code, on=plan.on, count=made
                    )
                ]
            )
        return made

    def _contact_days(
        self, kinds: frozenset[ActivityKind], on: datetime.date
    ) -> dict[CustomerId, list[datetime.date]]:
        """Per customer, the days of completed activities of ``kinds`` that reached them,
        up to ``on``."""
        activities = self._uow.activities
        days: dict[CustomerId, list[datetime.date]] = defaultdict(list)
        for a in activities._all():
            day = activities.completed_on(a)
            if a.counts_as_contact and a.kind in kinds and day is not None and day <= on:
                days[a.customer_id].append(day)
        return days

    def _asked(
        self,
        plan: TaskGeneration,
        customer: Customer,
        contacts: Mapping[CustomerId, list[datetime.date]],
    ) -> list[tuple[str, datetime.date, datetime.date]]:
        standard = plan.standard
        uow = self._uow
        if isinstance(standard, CadenceStandard):
            days = contacts.get(customer.id, [])
            period = plan.period
            asked = cadence_due(
                standard,
                plan,
                last_contact=max(days, default=None),
                opened_on=customer.opened_at.date(),
                contacted_in_period=period is not None
                and any(period[0] <= d <= plan.on for d in days),
            )
            return [asked] if asked else []
        if isinstance(standard, DateStandard):
            asked = event_task(standard, plan)
            return [asked] if asked else []
        trigger = standard.trigger
        found: list[tuple[str, datetime.date, datetime.date] | None] = []
        if trigger is ServiceTrigger.BIRTHDAY:
            if isinstance(customer, IndividualCustomer) and customer.birthday is not None:
                key = customer.birthday.strftime("%m-%d")
                found.append(event_task(standard, plan, birthday=key))
        elif trigger is ServiceTrigger.TIER_CHANGED:
            history = uow.tiers.history(customer.id)
            for i, record in enumerate(history):
                before = (
                    history[i - 1] if i and history[i - 1].valid_to == record.valid_from else None
                )
                direction = TierDirection.between(before.tier if before else None, record.tier)
                found.append(
                    event_task(
                        standard,
                        plan,
                        event_day=record.valid_from,
                        event_key=record.valid_from.isoformat(),
                        direction=direction,
                    )
                )
        elif trigger is ServiceTrigger.LARGE_TRANSACTION:
            least = standard.min_amount
            assert least is not None
            window = plan.due_by_event_day
            start, end = (min(window), max(window)) if window else (plan.on, plan.on)
            for t in uow.transactions.of_customer(customer.id, start, end):
                if (
                    t.amount.currency == least.currency
                    and t.amount >= least
                    and (not standard.transaction_kinds or t.kind in standard.transaction_kinds)
                ):
                    found.append(event_task(standard, plan, event_day=t.day, event_key=str(t.id)))
        else:
            for account in uow.accounts.of_customer(customer.id):
                day = (
                    account.opened_on
                    if trigger is ServiceTrigger.ACCOUNT_OPENED
                    else (account.closed_on)
                )
                found.append(event_task(standard, plan, event_day=day, event_key=str(account.id)))
        return [f for f in found if f is not None]

    def satisfy(
        self, on: datetime.date, kinds_by_standard: Mapping[str, frozenset[ActivityKind]]
    ) -> int:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        activities = uow.activities
        by_customer: dict[CustomerId, list[tuple[datetime.date, ActivityId, ActivityKind]]]
        by_customer = defaultdict(list)
        for a in activities._all():
            day = activities.completed_on(a)
            if a.counts_as_contact and day is not None and day <= on:
                by_customer[a.customer_id].append((day, a.id, a.kind))
        closed = 0
        at = uow._now()
        for task in sorted(self._all(), key=lambda t: t.id):
            kinds = kinds_by_standard.get(task.standard)
            if task.status is not TaskStatus.OPEN or not kinds:
                continue
            matches = sorted(
                (day, activity_id)
                for day, activity_id, kind in by_customer.get(task.customer_id, [])
                if kind in kinds and task.counts_from <= day
            )
            if not matches:
                continue
            day, activity_id = matches[0]
            done, events = task.complete(on=day, by=uow.actor.id, activity_id=activity_id, at=at)
            self._revise(task, done, events)
            closed += 1
        return closed

    def escalate(
        self,
        on: datetime.date,
        *,
        due_on_or_before: datetime.date,
        supervisors: Mapping[StaffId, StaffId],
    ) -> int:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        escalated = 0
        at = uow._now()
        for task in sorted(self._all(), key=lambda t: t.id):
            if (
                task.status is TaskStatus.OPEN
                and task.escalated_to is None
                and task.due_on <= due_on_or_before
                and task.assignee in supervisors
            ):
                new, events = task.escalate(to=supervisors[task.assignee], on=on, at=at)
                self._revise(task, new, events)
                escalated += 1
        return escalated

    def compliance(self, start: datetime.date, end: datetime.date) -> list[ComplianceCount]:
        today = business_date(self._uow.clock, self._uow.timezone)
        counts: dict[StaffId, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for task in self._all():
            if not start <= task.due_on <= end:
                continue
            line = counts[task.assignee]
            if task.status is TaskStatus.WAIVED:
                line[2] += 1
                continue
            line[0] += 1
            if task.met_on_time:
                line[1] += 1
            if task.status is TaskStatus.OPEN and task.due_on < today:
                line[3] += 1
        return [
            ComplianceCount(staff_id=s, due=c[0], met=c[1], waived=c[2], overdue=c[3])
            for s, c in sorted(counts.items())
        ]
