"""Who serves a customer: the dual-manager assignment (双客户经理制), effective-dated.

An :class:`Assignment` is the customer's whole team of managers from one instant on:
exactly one primary (主), at most one secondary (副), at most one chief customer
manager (首席客户经理) and any number of team members (多对一), each with a share of
the performance credit. Shares sum to exactly 100%.

Every change makes a new version of the assignment with a reason (改派原因); each
version is kept as an :class:`AssignmentRecord`, so "who managed this customer on
30 June?" has an answer.
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from finance_crm.clock import ensure_utc
from finance_crm.errors import BusinessRuleViolation, Problem, ValidationError
from finance_crm.ids import CustomerId, StaffId
from finance_crm.model.events import DomainEvent

__all__ = [
    "HUNDRED_PERCENT",
    "AssignedManager",
    "Assignment",
    "AssignmentChanged",
    "AssignmentRecord",
    "ManagerRole",
]

HUNDRED_PERCENT = Decimal(100)
_STAFF_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,40}")  # as StaffMember.id
_CENT = Decimal("0.01")


class ManagerRole(enum.Enum):
    """A manager's role on one customer."""

    PRIMARY = "primary"  # 主客户经理: day-to-day service
    SECONDARY = "secondary"  # 副客户经理: covers leave, takes over on departure
    CHIEF = "chief"  # 首席客户经理
    TEAM_MEMBER = "team_member"  # a specialist in a team serving the customer


_ROLE_ORDER = {role: i for i, role in enumerate(ManagerRole)}


def _share(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise ValidationError(
            "a share is a Decimal or int percentage (70 means 70%), never a float",
            path="$.share",
        )
    share = Decimal(value)
    if not share.is_finite() or share < 0 or share > HUNDRED_PERCENT:
        raise ValidationError("a share is a percentage from 0 to 100", path="$.share")
    if share != share.quantize(_CENT):
        raise ValidationError("a share has at most two decimal places (0.01%)", path="$.share")
    return abs(share).quantize(_CENT) if share == 0 else share.quantize(_CENT)  # no "-0.00"


def _staff_id(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _STAFF_CODE.fullmatch(value):
        raise ValidationError(
            "must be a staff id (the staff member's code)", path=f"$.{attribute.name}"
        )


def _role(instance: object, attribute: attrs.Attribute[ManagerRole], value: object) -> None:
    if not isinstance(value, ManagerRole):
        raise ValidationError(
            "must be a ManagerRole (PRIMARY, SECONDARY, CHIEF, TEAM_MEMBER)", path="$.role"
        )


@attrs.frozen
class AssignedManager:
    """One staff member's role on a customer and their share of the credit, in percent."""

    staff_id: StaffId = attrs.field(validator=_staff_id)
    role: ManagerRole = attrs.field(validator=_role)
    share: Decimal = attrs.field(converter=_share)


def _reason(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        raise ValidationError(
            "must be a reassignment reason code (1-40 characters)", path="$.reason"
        )


def _optional_note(instance: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 500):
        raise ValidationError(
            "must be a non-empty explanation of at most 500 characters", path=f"$.{attribute.name}"
        )


def _managers(value: Iterable[AssignedManager]) -> tuple[AssignedManager, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValidationError("must be a sequence of AssignedManager", path="$.managers")
    managers = tuple(value)
    for m in managers:
        if not isinstance(m, AssignedManager):
            raise ValidationError("must be a sequence of AssignedManager", path="$.managers")
    return tuple(sorted(managers, key=lambda m: (_ROLE_ORDER[m.role], m.staff_id)))


def team_problems(managers: tuple[AssignedManager, ...]) -> list[Problem]:
    """What is wrong with this team of managers (empty when it is valid)."""
    problems: list[Problem] = []
    roles = [m.role for m in managers]  # (bulk moves check 100,000 teams: keep it cheap)
    counts = {role: roles.count(role) for role in _ROLE_ORDER}
    if counts[ManagerRole.PRIMARY] != 1:
        problems.append(
            Problem(
                "$.managers",
                (
                    "a customer has exactly one primary manager, here "
                    f"{counts[ManagerRole.PRIMARY]}; name one primary and make any other "
                    "a secondary or team member"
                ),
            )
        )
    if counts[ManagerRole.SECONDARY] > 1:
        problems.append(Problem("$.managers", "a customer has at most one secondary manager"))
    if counts[ManagerRole.CHIEF] > 1:
        problems.append(Problem("$.managers", "a customer has at most one chief customer manager"))
    staff = [m.staff_id for m in managers]
    if len(set(staff)) != len(staff):
        problems.append(
            Problem(
                "$.managers",
                (
                    "a staff member holds one role per customer: the primary and the secondary "
                    "(or any two roles) must be different people"
                ),
            )
        )
    total = sum((m.share for m in managers), Decimal(0))
    if managers and total != HUNDRED_PERCENT:
        problems.append(
            Problem(
                "$.managers",
                (
                    f"shares must sum to exactly 100%, here {total}%; "
                    "give shares that sum to 100, or leave them out of assign_managers "
                    "to have the split rule compute them"
                ),
            )
        )
    return problems


class _Team:
    """Who holds which role, read from ``managers`` (shared by the current assignment and
    its historic versions)."""

    managers: tuple[AssignedManager, ...]

    @property
    def primary(self) -> StaffId:
        return next(m.staff_id for m in self.managers if m.role is ManagerRole.PRIMARY)

    @property
    def secondary(self) -> StaffId | None:
        return next((m.staff_id for m in self.managers if m.role is ManagerRole.SECONDARY), None)

    @property
    def chief(self) -> StaffId | None:
        return next((m.staff_id for m in self.managers if m.role is ManagerRole.CHIEF), None)

    @property
    def team(self) -> tuple[StaffId, ...]:
        return tuple(m.staff_id for m in self.managers if m.role is ManagerRole.TEAM_MEMBER)

    @property
    def staff_ids(self) -> frozenset[StaffId]:
        return frozenset(m.staff_id for m in self.managers)

    @property
    def shares(self) -> Mapping[StaffId, Decimal]:
        return {m.staff_id: m.share for m in self.managers}

    def role_of(self, staff_id: StaffId) -> ManagerRole | None:
        return next((m.role for m in self.managers if m.staff_id == staff_id), None)


@attrs.frozen(kw_only=True)
class Assignment(_Team):
    """A customer's managers from ``effective_from`` (UTC) on, for ``reason``.

    Build one with :meth:`first`; change it with :meth:`change`. ``version`` counts the
    changes the store has accepted (0 before the first is stored).
    """

    customer_id: CustomerId
    managers: tuple[AssignedManager, ...] = attrs.field(converter=_managers)
    effective_from: datetime.datetime = attrs.field(converter=ensure_utc)
    reason: str = attrs.field(validator=_reason)
    capacity_override: str | None = attrs.field(default=None, validator=_optional_note)
    """Why the primary was assigned beyond their capacity, when they were."""
    version: int = 0

    def __attrs_post_init__(self) -> None:
        problems = team_problems(self.managers)
        if problems:
            raise ValidationError(problems)

    @classmethod
    def first(
        cls,
        customer_id: CustomerId,
        managers: Iterable[AssignedManager],
        *,
        at: datetime.datetime,
        reason: str,
        capacity_override: str | None = None,
    ) -> tuple[Assignment, list[DomainEvent]]:
        """A customer's first assignment, with its :class:`AssignmentChanged` event."""
        new = cls(
            customer_id=customer_id,
            managers=tuple(managers),
            effective_from=at,
            reason=reason,
            capacity_override=capacity_override,
        )
        return new, [AssignmentChanged.between(None, new)]

    # -- changing --------------------------------------------------------------------

    def change(
        self,
        managers: Iterable[AssignedManager],
        *,
        at: datetime.datetime,
        reason: str,
        capacity_override: str | None = None,
    ) -> tuple[Assignment, list[DomainEvent]]:
        """The assignment with a new team of managers from ``at`` on.

        ``at`` may not be earlier than the current version's ``effective_from``: history
        is not rewritten (effective dates may not overlap).
        """
        at = ensure_utc(at)
        if at < self.effective_from:
            raise BusinessRuleViolation(
                "the change would take effect before the current assignment did "
                f"({self.effective_from.isoformat()}); effective dates may not go backwards "
                "or overlap"
            )
        new = attrs.evolve(
            self,
            managers=tuple(managers),
            effective_from=at,
            reason=reason,
            capacity_override=capacity_override,
        )
        if new.managers == self.managers:
            raise BusinessRuleViolation("the new team of managers is the same as the current one")
        return new, [AssignmentChanged.between(self, new)]

    def promote_secondary(
        self,
        shares: Mapping[StaffId, Decimal] | None = None,
        *,
        at: datetime.datetime,
        reason: str,
    ) -> tuple[Assignment, list[DomainEvent]]:
        """The secondary becomes primary at once (the primary leaves the team).

        Without ``shares`` the new primary takes over the old primary's share on top of
        their own, and everyone else keeps theirs, so the total stays 100%.
        """
        secondary = self.secondary
        if secondary is None:
            raise BusinessRuleViolation(
                "the customer has no secondary manager to promote; choose a new primary"
            )
        by_role = {m.role: m for m in self.managers}
        taken_over = by_role[ManagerRole.PRIMARY].share + by_role[ManagerRole.SECONDARY].share
        keep = [
            m for m in self.managers if m.role not in (ManagerRole.PRIMARY, ManagerRole.SECONDARY)
        ]
        team = [AssignedManager(secondary, ManagerRole.PRIMARY, taken_over), *keep]
        return self.change(with_shares(team, shares), at=at, reason=reason)


def with_shares(
    managers: Iterable[AssignedManager], shares: Mapping[StaffId, Decimal] | None
) -> tuple[AssignedManager, ...]:
    """``managers`` with their shares replaced from ``shares`` (when given)."""
    managers = tuple(managers)
    if shares is None:
        return managers
    if not isinstance(shares, Mapping) or set(shares) != {m.staff_id for m in managers}:
        raise ValidationError(
            "shares must name exactly the customer's managers, one share each",
            path="$.shares",
        )
    return tuple(attrs.evolve(m, share=shares[m.staff_id]) for m in managers)


@attrs.frozen(kw_only=True)
class AssignmentRecord(_Team):
    """One version of a customer's assignment, as kept in its history."""

    customer_id: CustomerId
    version: int
    managers: tuple[AssignedManager, ...] = attrs.field(converter=_managers)
    effective_from: datetime.datetime = attrs.field(converter=ensure_utc)
    effective_to: datetime.datetime | None = attrs.field(
        default=None, converter=attrs.converters.optional(ensure_utc)
    )
    reason: str
    actor: str
    capacity_override: str | None = None

    def assignment(self) -> Assignment:
        """This version as an :class:`Assignment` (for splitting credit as of its date)."""
        return Assignment(
            customer_id=self.customer_id,
            managers=self.managers,
            effective_from=self.effective_from,
            reason=self.reason,
            capacity_override=self.capacity_override,
            version=self.version,
        )


@attrs.frozen(kw_only=True)
class AssignmentChanged(DomainEvent):
    """A customer's managers changed. Staff codes only: no personal data."""

    customer_id: CustomerId
    reason: str
    primary_before: StaffId | None
    primary_after: StaffId
    secondary_before: StaffId | None
    secondary_after: StaffId | None
    joined: tuple[StaffId, ...]
    left: tuple[StaffId, ...]

    @property
    def aggregate_id(self) -> str:
        return str(self.customer_id)

    @classmethod
    def between(cls, before: Assignment | None, after: Assignment) -> AssignmentChanged:
        old = before.staff_ids if before is not None else frozenset()
        return cls(
            occurred_at=after.effective_from,
            customer_id=after.customer_id,
            reason=after.reason,
            primary_before=before.primary if before is not None else None,
            primary_after=after.primary,
            secondary_before=before.secondary if before is not None else None,
            secondary_after=after.secondary,
            joined=tuple(sorted(after.staff_ids - old)),
            left=tuple(sorted(old - after.staff_ids)),
        )
