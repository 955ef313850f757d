"""The organisation: head office, branches, sub-branches and outlets, teams, and staff.

Units and staff are keyed by the institution's own codes (机构号 for a unit, 工号 for a
staff member) rather than generated UUIDs: those codes already key the HR and
organisation systems the data comes from, and the staff code is what a login carries,
so ``Actor.id`` is the staff id.

A unit's ``path`` ("/HO/BJ/BJ01/") lists its ancestors' codes. "Everything under the
Beijing branch" is then a prefix match, which a SQL index answers in one range scan;
that is how branch scopes stay inside one SQL statement.
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Iterable
from typing import Any

import attrs

from finance_crm.clock import ensure_utc
from finance_crm.errors import BusinessRuleViolation, ValidationError
from finance_crm.ids import OrgUnitCode, StaffId
from finance_crm.model._fields import name_of_up_to_200, one_of
from finance_crm.model.events import DomainEvent
from finance_crm.security import PersonalDataKind, masked

__all__ = [
    "EmploymentStatus",
    "LeaveKind",
    "LeavePeriod",
    "OrgUnit",
    "OrgUnitKind",
    "StaffDeparted",
    "StaffMember",
    "StaffRevised",
    "StaffRole",
]

_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,40}")


def _code(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise ValidationError(
            "must be 1-40 letters, digits, '_', '.' or '-' (an institution code)",
            path=f"$.{attribute.name}",
        )


def _optional_code(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _code(instance, attribute, value)


class OrgUnitKind(enum.Enum):
    """What a unit of the organisation is."""

    HEAD_OFFICE = "head_office"  # 总行
    BRANCH = "branch"  # 分行
    SUB_BRANCH = "sub_branch"  # 支行
    OUTLET = "outlet"  # 网点
    DEPARTMENT = "department"  # 部门
    TEAM = "team"  # 客户经理小组


@attrs.frozen(kw_only=True)
class OrgUnit:
    """One unit of the organisation tree. Build child units with :meth:`child`.

    >>> head = OrgUnit.head_office("HO", "总行")
    >>> beijing = head.child("BJ", "北京分行", OrgUnitKind.BRANCH)
    >>> beijing.path
    '/HO/BJ/'
    >>> head.contains(beijing)
    True
    """

    code: OrgUnitCode = attrs.field(validator=_code)
    name: str = attrs.field(validator=name_of_up_to_200)
    kind: OrgUnitKind = attrs.field(validator=one_of(OrgUnitKind))
    parent: OrgUnitCode | None = attrs.field(default=None, validator=_optional_code)
    path: str = attrs.field()
    version: int = 0

    @path.validator
    def _check_path(self, attribute: attrs.Attribute[str], value: object) -> None:
        expected_end = f"/{self.code}/"
        if (
            not isinstance(value, str)
            or not value.startswith("/")
            or not value.endswith(expected_end)
        ):
            raise ValidationError(
                "must list the ancestors' codes and end with /CODE/", path="$.path"
            )
        parts = value[1:-1].split("/")
        if any(not _CODE.fullmatch(part) for part in parts):
            raise ValidationError("every segment of the path must be a unit code", path="$.path")
        if self.parent is None and len(parts) != 1:
            raise ValidationError("a unit without a parent has the path /CODE/", path="$.path")
        if self.parent is not None and (len(parts) < 2 or parts[-2] != self.parent):
            raise ValidationError(
                "the path must end with the parent's code, then this code", path="$.path"
            )
        if (self.kind is OrgUnitKind.HEAD_OFFICE) != (self.parent is None):
            raise ValidationError(
                "a head office has no parent and every other unit has one", path="$.parent"
            )

    @classmethod
    def head_office(cls, code: str, name: str) -> OrgUnit:
        """The root of the tree (总行)."""
        return cls(
            code=OrgUnitCode(code), name=name, kind=OrgUnitKind.HEAD_OFFICE, path=f"/{code}/"
        )

    def child(self, code: str, name: str, kind: OrgUnitKind) -> OrgUnit:
        """A unit directly below this one."""
        if kind is OrgUnitKind.HEAD_OFFICE:
            raise BusinessRuleViolation("a head office is the root; it cannot sit under a unit")
        if self.kind is OrgUnitKind.TEAM:
            raise BusinessRuleViolation(
                "a team is a leaf of the organisation; put the unit "
                "under the team's branch or department"
            )
        return OrgUnit(
            code=OrgUnitCode(code),
            name=name,
            kind=kind,
            parent=self.code,
            path=f"{self.path}{code}/",
        )

    @property
    def depth(self) -> int:
        """0 for the head office, 1 for a branch under it, and so on."""
        return self.path.count("/") - 2

    @property
    def ancestors(self) -> tuple[OrgUnitCode, ...]:
        """Codes from the root down to the parent."""
        return tuple(OrgUnitCode(c) for c in self.path.strip("/").split("/")[:-1])

    def contains(self, other: OrgUnit) -> bool:
        """Whether ``other`` is this unit or anywhere below it."""
        return other.path.startswith(self.path)


class StaffRole(enum.Enum):
    """A staff member's roles in customer management (several may be held)."""

    CUSTOMER_MANAGER = "customer_manager"  # 客户经理
    CHIEF_CUSTOMER_MANAGER = "chief_customer_manager"  # 首席客户经理
    SUPERVISOR = "supervisor"  # team leader, 主管
    BRANCH_HEAD = "branch_head"  # 行长


class EmploymentStatus(enum.Enum):
    ACTIVE = "active"
    DEPARTED = "departed"


class LeaveKind(enum.Enum):
    ANNUAL = "annual"
    SICK = "sick"
    MATERNITY = "maternity"
    TRAINING = "training"
    OTHER = "other"


def _date(instance: object, attribute: attrs.Attribute[datetime.date], value: object) -> None:
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise ValidationError(
            "must be a date (a business date, not an instant)", path=f"$.{attribute.name}"
        )


def _plain_date(value: datetime.date) -> datetime.date:
    # pendulum.Date is accepted at the edge; store the plain value.
    if (
        type(value) is not datetime.date
        and isinstance(value, datetime.date)
        and not isinstance(value, datetime.datetime)
    ):
        return datetime.date(value.year, value.month, value.day)
    return value


@attrs.frozen
class LeavePeriod:
    """Leave from ``first_day`` to ``last_day``, both included, in business dates."""

    first_day: datetime.date = attrs.field(converter=_plain_date, validator=_date)
    last_day: datetime.date = attrs.field(converter=_plain_date, validator=_date)
    kind: LeaveKind = attrs.field(default=LeaveKind.ANNUAL, validator=one_of(LeaveKind))

    def __attrs_post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValidationError(
                "the leave ends before it starts; swap first_day and last_day", path="$.last_day"
            )

    def covers(self, day: datetime.date) -> bool:
        return self.first_day <= day <= self.last_day


def _to_roles(value: Iterable[StaffRole]) -> frozenset[StaffRole]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValidationError("must be a set of StaffRole", path="$.roles")
    roles = frozenset(value)
    for role in roles:
        if not isinstance(role, StaffRole):
            raise ValidationError("must be a set of StaffRole", path="$.roles")
    return roles


def _to_leaves(value: Iterable[LeavePeriod]) -> tuple[LeavePeriod, ...]:
    if not isinstance(value, Iterable):
        raise ValidationError("must be a sequence of LeavePeriod", path="$.leaves")
    leaves = tuple(value)
    for leave in leaves:
        if not isinstance(leave, LeavePeriod):
            raise ValidationError("must be a sequence of LeavePeriod", path="$.leaves")
    return tuple(sorted(leaves, key=lambda p: p.first_day))


def _capacity(instance: object, attribute: attrs.Attribute[int | None], value: object) -> None:
    if value is not None and (type(value) is not int or value < 0):
        raise ValidationError("must be a whole number of customers, 0 or more", path="$.capacity")


@attrs.frozen(kw_only=True)
class StaffMember:
    """A member of staff who can serve customers.

    ``capacity`` overrides the capacity rule for this person (a part-timer, a new
    joiner); ``None`` leaves it to the rule.
    """

    id: StaffId = attrs.field(validator=_code)
    name: str = attrs.field(validator=name_of_up_to_200, repr=masked(PersonalDataKind.NAME))
    unit: OrgUnitCode = attrs.field(validator=_code)
    roles: frozenset[StaffRole] = attrs.field(
        factory=lambda: frozenset({StaffRole.CUSTOMER_MANAGER}), converter=_to_roles
    )
    status: EmploymentStatus = attrs.field(
        default=EmploymentStatus.ACTIVE, validator=one_of(EmploymentStatus)
    )
    departed_at: datetime.datetime | None = attrs.field(
        default=None, converter=attrs.converters.optional(ensure_utc)
    )
    leaves: tuple[LeavePeriod, ...] = attrs.field(default=(), converter=_to_leaves)
    capacity: int | None = attrs.field(default=None, validator=_capacity)
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if (self.status is EmploymentStatus.DEPARTED) != (self.departed_at is not None):
            raise ValidationError(
                "departed_at is set exactly when the status is DEPARTED", path="$.departed_at"
            )
        for earlier, later in zip(self.leaves, self.leaves[1:], strict=False):
            if later.first_day <= earlier.last_day:
                raise ValidationError(
                    "leave periods overlap; merge them or move one", path="$.leaves"
                )

    @property
    def is_active(self) -> bool:
        return self.status is EmploymentStatus.ACTIVE

    def on_leave(self, day: datetime.date) -> bool:
        """Whether this person is on leave on the business date ``day``."""
        return any(p.covers(day) for p in self.leaves)

    def can_serve_on(self, day: datetime.date) -> bool:
        return self.is_active and not self.on_leave(day)

    def take_leave(
        self, period: LeavePeriod, *, at: datetime.datetime
    ) -> tuple[StaffMember, list[DomainEvent]]:
        """Record a leave period (it must not overlap one already booked)."""
        if not self.is_active:
            raise BusinessRuleViolation("a departed staff member cannot take leave")
        new = attrs.evolve(self, leaves=(*self.leaves, period))
        return new, [StaffRevised(occurred_at=at, staff_id=self.id, fields=("leaves",))]

    def cancel_leave(
        self, period: LeavePeriod, *, at: datetime.datetime
    ) -> tuple[StaffMember, list[DomainEvent]]:
        if period not in self.leaves:
            raise BusinessRuleViolation("no such leave period is booked for this staff member")
        new = attrs.evolve(self, leaves=tuple(p for p in self.leaves if p != period))
        return new, [StaffRevised(occurred_at=at, staff_id=self.id, fields=("leaves",))]

    def move_to(
        self, unit: OrgUnitCode, *, at: datetime.datetime
    ) -> tuple[StaffMember, list[DomainEvent]]:
        """Transfer to another unit (their customers stay with them until reassigned)."""
        if not self.is_active:
            raise BusinessRuleViolation("a departed staff member cannot move unit")
        if unit == self.unit:
            raise BusinessRuleViolation("the staff member is already in this unit")
        new = attrs.evolve(self, unit=unit)
        return new, [StaffRevised(occurred_at=at, staff_id=self.id, fields=("unit",))]

    def depart(
        self, *, at: datetime.datetime, reason: str
    ) -> tuple[StaffMember, list[DomainEvent]]:
        """Mark as departed. Use :func:`finance_crm.services.hand_over_book`, which first
        moves every customer to someone else; storing a departure while customers still
        depend on this person is refused."""
        if not self.is_active:
            raise BusinessRuleViolation("this staff member has already departed")
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("give the reason for the departure", path="$.reason")
        at = ensure_utc(at)
        new = attrs.evolve(self, status=EmploymentStatus.DEPARTED, departed_at=at)
        return new, [StaffDeparted(occurred_at=at, staff_id=self.id, reason=reason)]


@attrs.frozen(kw_only=True)
class _StaffEvent(DomainEvent):
    staff_id: StaffId

    @property
    def aggregate_id(self) -> str:
        return str(self.staff_id)


@attrs.frozen(kw_only=True)
class StaffRevised(_StaffEvent):
    """Fields of a staff record changed (unit, leave, roles, capacity)."""

    fields: tuple[str, ...]


@attrs.frozen(kw_only=True)
class StaffDeparted(_StaffEvent):
    """The staff member left; their book was handed over first."""

    reason: str
