"""Activities and spot checks on SQLAlchemy Core: ``uow.activities`` (the same promises
and messages as the in-memory adapter).

Tables: ``crm_activity`` and ``crm_spot_check`` (at most one per activity). Each
completed activity keeps ``completed_on``, the business day of ``completed_at`` in the
store's time zone, worked out when it is written, and ``reached`` (it reached the
customer): what service standards count (:mod:`.service_tasks`) and spot checks sample.
The indexes (see ``tables.py``): a manager's plan by ``(owner, planned_at)``; a
customer's activities; the contacts alone by ``(customer_id, completed_on, kind, id)``,
partial on ``reached``, which task generation and ``satisfy()`` read without touching
the table; and the completed ones by ``(completed_on, owner, id)`` for sampling.

Reads are plain SELECTs and not scope-filtered (as in memory); writes need a non-empty
scope and are audited (notes masked), with their events in the outbox, in a savepoint.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import attrs
import sqlalchemy as sa

from finance_crm.adapters._graph_checks import refuse_empty_scope
from finance_crm.adapters._service_checks import (
    activity_changes,
    check_activity_update,
    check_new_activity,
    check_spot_check,
)
from finance_crm.adapters.sql.errors import mapped_errors
from finance_crm.adapters.sql.rows import (
    activity_from_row,
    activity_to_row,
    as_uuid,
    chunks,
    customer_exists,
    fetch_rows,
    plain_date,
    spot_check_from_row,
    spot_check_to_row,
)
from finance_crm.adapters.sql.tables import activities, spot_checks
from finance_crm.clock import business_date
from finance_crm.errors import ConflictError, DuplicateError, NotFoundError, ValidationError
from finance_crm.ids import ActivityId, CustomerId, StaffId
from finance_crm.model.activities import Activity, SpotCheck
from finance_crm.model.events import DomainEvent

if TYPE_CHECKING:
    from finance_crm.adapters.sql.store import SqlUnitOfWork

__all__ = ["SqlActivityRepository"]

_IN_CHUNK = 500  # staff ids per IN (...) list

_KEY = sa.bindparam("key", type_=sa.Uuid())
_ACTIVITY = sa.select(activities).where(activities.c.id == _KEY)
_ACTIVITY_COUNT = sa.select(sa.func.count().label("n")).select_from(activities)
_MOMENT = sa.func.coalesce(activities.c.completed_at, activities.c.planned_at)
_OF_CUSTOMER = (
    sa.select(activities)
    .where(activities.c.customer_id == _KEY)
    .order_by(_MOMENT.desc().nulls_last(), activities.c.id.desc())
    .limit(sa.bindparam("limit"))
)
# The contact index holds reached activities only; the planner takes it when the query
# repeats its condition.
_LAST_CONTACT = (
    sa.select(activities)
    .where(activities.c.customer_id == _KEY, activities.c.reached == sa.true())
    .order_by(activities.c.completed_at.desc(), activities.c.id.desc())
    .limit(1)
)
_OWNERS = activities.c.owner.in_(sa.bindparam("owners", expanding=True))
_START = sa.bindparam("start", type_=sa.Date())
_END = sa.bindparam("end", type_=sa.Date())
_SCHEDULED = (
    sa.select(activities)
    .where(
        _OWNERS,
        activities.c.planned_at >= sa.bindparam("start_at", type_=activities.c.planned_at.type),
        activities.c.planned_at < sa.bindparam("end_at", type_=activities.c.planned_at.type),
    )
    .order_by(activities.c.planned_at, activities.c.id)
)
_COMPLETED_RANGE = sa.and_(activities.c.completed_on >= _START, activities.c.completed_on <= _END)
_COMPLETED_ANYONE = sa.select(activities.c.id).where(_COMPLETED_RANGE).order_by(activities.c.id)
_COMPLETED_OF = (
    sa.select(activities.c.id).where(_COMPLETED_RANGE, _OWNERS).order_by(activities.c.id)
)
_FIXED = ("id", "customer_id", "owner", "kind")  # never change (check_activity_update)
_UPDATE = (
    activities.update()
    .where(activities.c.id == _KEY, activities.c.version == sa.bindparam("read_version"))
    .values(
        {
            c.name: sa.bindparam(f"new_{c.name}", type_=c.type)
            for c in activities.c
            if c.name not in _FIXED
        }
    )
)
_CHECKED_RANGE = sa.and_(spot_checks.c.checked_on >= _START, spot_checks.c.checked_on <= _END)
_CHECK_ORDER = (spot_checks.c.checked_at, spot_checks.c.id)
_CHECKS_ANYONE = sa.select(spot_checks).where(_CHECKED_RANGE).order_by(*_CHECK_ORDER)
_CHECKS_OF = (
    sa.select(spot_checks)
    .where(_CHECKED_RANGE, spot_checks.c.owner.in_(sa.bindparam("owners", expanding=True)))
    .order_by(*_CHECK_ORDER)
)
_CHECKED = sa.select(spot_checks.c.id).where(spot_checks.c.activity_id == _KEY)


def _day(value: object, path: str) -> datetime.date:
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise ValidationError("must be a business date", path=path)
    return plain_date(value)


def _instant(value: object, path: str) -> datetime.datetime:
    if not isinstance(value, datetime.datetime) or value.utcoffset() is None:
        raise ValidationError("must be a timezone-aware datetime (an instant)", path=path)
    return value


def _staff_ids(owners: object) -> list[str]:
    if isinstance(owners, str) or not isinstance(owners, Collection):
        raise ValidationError("must be a collection of staff ids", path="$.owners")
    return sorted({o for o in owners if isinstance(o, str)})


class SqlActivityRepository:
    """Activities (``crm_activity``) and their spot checks (``crm_spot_check``)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def _business_day(self, instant: datetime.datetime | None) -> datetime.date | None:
        if instant is None:
            return None
        return plain_date(business_date(instant, self._uow.timezone))

    def _find(self, activity_id: object) -> Activity | None:
        if not isinstance(activity_id, uuid.UUID):
            return None
        rows = fetch_rows(self._uow, _ACTIVITY, key=activity_id)
        return activity_from_row(rows[0]) if rows else None

    # -- reads -------------------------------------------------------------------------

    def get(self, activity_id: ActivityId) -> Activity:
        found = self._find(activity_id)
        if found is None:
            raise NotFoundError("no activity with this id")
        return found

    def of_customer(self, customer_id: CustomerId, *, limit: int = 50) -> list[Activity]:
        if type(limit) is not int or limit < 0:
            raise ValidationError("must be a whole number, 0 or more", path="$.limit")
        if not isinstance(customer_id, uuid.UUID) or limit == 0:
            return []
        rows = fetch_rows(self._uow, _OF_CUSTOMER, key=customer_id, limit=limit)
        return [activity_from_row(r) for r in rows]

    def last_contact(self, customer_id: CustomerId) -> Activity | None:
        if not isinstance(customer_id, uuid.UUID):
            return None
        rows = fetch_rows(self._uow, _LAST_CONTACT, key=customer_id)
        return activity_from_row(rows[0]) if rows else None

    def scheduled(
        self,
        owners: Collection[StaffId],
        start: datetime.datetime,
        end: datetime.datetime,
    ) -> list[Activity]:
        start = _instant(start, "$.start")
        end = _instant(end, "$.end")
        found: list[Activity] = []
        for chunk in chunks(_staff_ids(owners), _IN_CHUNK):
            rows = fetch_rows(self._uow, _SCHEDULED, owners=chunk, start_at=start, end_at=end)
            found.extend(activity_from_row(r) for r in rows)
        if len(found) > 1:  # several chunks: merge their orders
            found.sort(key=lambda a: (a.planned_at, a.id))
        return found

    def completed(
        self,
        owners: Collection[StaffId] | None,
        start: datetime.date,
        end: datetime.date,
    ) -> list[ActivityId]:
        start, end = _day(start, "$.start"), _day(end, "$.end")
        if owners is None:
            rows = fetch_rows(self._uow, _COMPLETED_ANYONE, start=start, end=end)
            return [ActivityId(as_uuid(r["id"])) for r in rows]
        found: list[ActivityId] = []
        for chunk in chunks(_staff_ids(owners), _IN_CHUNK):
            rows = fetch_rows(self._uow, _COMPLETED_OF, owners=chunk, start=start, end=end)
            found.extend(ActivityId(as_uuid(r["id"])) for r in rows)
        return sorted(found)

    def spot_checks(
        self, owners: Collection[StaffId] | None, start: datetime.date, end: datetime.date
    ) -> list[SpotCheck]:
        start, end = _day(start, "$.start"), _day(end, "$.end")
        if owners is None:
            rows = fetch_rows(self._uow, _CHECKS_ANYONE, start=start, end=end)
            return [spot_check_from_row(r) for r in rows]
        found: list[SpotCheck] = []
        for chunk in chunks(_staff_ids(owners), _IN_CHUNK):
            rows = fetch_rows(self._uow, _CHECKS_OF, owners=chunk, start=start, end=end)
            found.extend(spot_check_from_row(r) for r in rows)
        return sorted(found, key=lambda c: (c.checked_at, c.id))

    def count(self) -> int:
        return int(fetch_rows(self._uow, _ACTIVITY_COUNT)[0]["n"])

    # -- writes ------------------------------------------------------------------------

    def add(self, activity: Activity, events: Sequence[DomainEvent] = ()) -> None:
        uow = self._uow
        uow._check_writable()
        check_new_activity(activity, lambda c: customer_exists(self._uow, c))
        refuse_empty_scope(uow.scope)
        taken = "an activity with this id is already stored"
        if self._find(activity.id) is not None:
            raise DuplicateError(taken)
        stored = attrs.evolve(activity, version=1)
        audit = uow._entity_audit_row(
            "activity.added",
            "activity",
            str(activity.id),
            1,
            activity_changes(None, stored),
            uow._now(),
        )
        row = activity_to_row(stored, self._business_day(stored.completed_at))
        try:
            with uow.savepoint(), mapped_errors():
                uow.connection.execute(activities.insert(), row)
                uow._write_audit_rows([audit])
                uow._write_events(events)
        except DuplicateError:
            raise DuplicateError(taken) from None

    def update(self, activity: Activity, events: Sequence[DomainEvent] = ()) -> Activity:
        uow = self._uow
        uow._check_writable()
        current = self._find(activity.id) if isinstance(activity, Activity) else None
        check_activity_update(current, activity)
        assert current is not None
        refuse_empty_scope(uow.scope)
        stored = attrs.evolve(activity, version=activity.version + 1)
        audit = uow._entity_audit_row(
            "activity.revised",
            "activity",
            str(activity.id),
            stored.version,
            activity_changes(current, stored),
            uow._now(),
        )
        row = activity_to_row(stored, self._business_day(stored.completed_at))
        params = {f"new_{k}": v for k, v in row.items() if k not in _FIXED}
        with uow.savepoint(), mapped_errors():
            result = uow.connection.execute(
                _UPDATE, {"key": activity.id, "read_version": activity.version, **params}
            )
            if result.rowcount != 1:
                raise ConflictError(
                    "the activity was changed by someone else since it was read; reload it "
                    "and try again"
                )
            uow._write_audit_rows([audit])
            uow._write_events(events)
        return stored

    def add_spot_check(self, check: SpotCheck, events: Sequence[DomainEvent] = ()) -> None:
        uow = self._uow
        uow._check_writable()
        activity_id = check.activity_id if isinstance(check, SpotCheck) else None
        check_spot_check(check, self._find(activity_id) if activity_id else None)
        refuse_empty_scope(uow.scope)
        taken = "this activity has already been spot-checked"
        if fetch_rows(uow, _CHECKED, key=check.activity_id):
            raise DuplicateError(taken)
        stored = attrs.evolve(check, version=1)
        audit = uow._entity_audit_row(
            "spot_check.recorded",
            "spot_check",
            str(check.id),
            1,
            {
                "activity_id": {"before": None, "after": str(check.activity_id)},
                "checker": {"before": None, "after": check.checker},
                "finding": {"before": None, "after": check.finding.value},
            },
            uow._now(),
        )
        checked_on = self._business_day(stored.checked_at)
        assert checked_on is not None
        try:
            with uow.savepoint(), mapped_errors():
                uow.connection.execute(spot_checks.insert(), spot_check_to_row(stored, checked_on))
                uow._write_audit_rows([audit])
                uow._write_events(events)
        except DuplicateError:
            raise DuplicateError(taken) from None
