"""Rules for customer managers: capacity, credit split, handover, reassignment reasons.

Each is a one-method Protocol with a default a bank replaces by passing its own object
in :class:`ManagerRules`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Protocol

import attrs

from finance_crm.errors import ValidationError
from finance_crm.ids import CustomerId, StaffId
from finance_crm.model.assignments import HUNDRED_PERCENT, ManagerRole
from finance_crm.model.organization import StaffMember, StaffRole
from finance_crm.money import Money

__all__ = [
    "DEFAULT_REASONS",
    "Candidate",
    "CapacityRule",
    "FixedCapacity",
    "HandoverRule",
    "LeastLoadedNearby",
    "ManagerRules",
    "ReassignmentReasons",
    "RoleWeights",
    "SplitRule",
    "SuccessorPool",
]


class CapacityRule(Protocol):
    """How many customers a manager may hold as primary (their book)."""

    def capacity_of(self, staff: StaffMember) -> int: ...


@attrs.frozen
class FixedCapacity:
    """The same capacity for everyone (300 by default), unless a staff record sets its own."""

    customers: int = 300

    def __attrs_post_init__(self) -> None:
        if type(self.customers) is not int or self.customers < 0:
            raise ValidationError(
                "capacity is a whole number of customers, 0 or more", path="$.customers"
            )

    def capacity_of(self, staff: StaffMember) -> int:
        return self.customers if staff.capacity is None else staff.capacity


class SplitRule(Protocol):
    """Each manager's share of the performance credit, in percent, from their roles.

    Returns one share per role given, in the same order, summing to exactly 100.
    """

    def shares(self, roles: Sequence[ManagerRole]) -> tuple[Decimal, ...]: ...


def _weight(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise ValidationError("a weight is a Decimal or int, never a float", path="$.weight")
    weight = Decimal(value)
    if not weight.is_finite() or weight < 0:
        raise ValidationError("a weight is 0 or more", path="$.weight")
    return weight


@attrs.frozen(kw_only=True)
class RoleWeights:
    """Shares in proportion to a weight per role; default primary 70 / secondary 30.

    With only a primary, the primary gets 100%. Team members and the chief get nothing
    by default; give them a weight (``RoleWeights(team_member=10)``) to share. Shares are
    rounded to 0.01% by largest remainder, so they always sum to exactly 100.
    """

    primary: Decimal = attrs.field(default=Decimal(70), converter=_weight)
    secondary: Decimal = attrs.field(default=Decimal(30), converter=_weight)
    chief: Decimal = attrs.field(default=Decimal(0), converter=_weight)
    team_member: Decimal = attrs.field(default=Decimal(0), converter=_weight)

    def __attrs_post_init__(self) -> None:
        if self.primary <= 0:
            raise ValidationError("the primary's weight must be above zero", path="$.primary")

    def shares(self, roles: Sequence[ManagerRole]) -> tuple[Decimal, ...]:
        # A handful of distinct role lists cover every customer: a bulk move of 100,000
        # customers computes each once.
        return _weighted_shares(self, tuple(roles))

    def _compute(self, roles: tuple[ManagerRole, ...]) -> tuple[Decimal, ...]:
        if ManagerRole.PRIMARY not in roles:
            raise ValidationError("the roles must include the primary", path="$.roles")
        weights = {
            ManagerRole.PRIMARY: self.primary,
            ManagerRole.SECONDARY: self.secondary,
            ManagerRole.CHIEF: self.chief,
            ManagerRole.TEAM_MEMBER: self.team_member,
        }
        # Largest remainder over 10,000 basis points, reusing Money's exact allocation.
        parts = Money.of(HUNDRED_PERCENT, "CNY").allocate([weights[r] for r in roles])
        return tuple(p.amount for p in parts)


@functools.lru_cache(maxsize=256)
def _weighted_shares(rule: RoleWeights, roles: tuple[ManagerRole, ...]) -> tuple[Decimal, ...]:
    return rule._compute(roles)


@attrs.frozen
class Candidate:
    """A possible successor: who, how many customers they hold as primary, their capacity."""

    staff: StaffMember
    book_size: int
    capacity: int

    @property
    def spare(self) -> int:
        return self.capacity - self.book_size


class SuccessorPool:
    """The managers a handover may choose from, nearest first, with live book sizes.

    :meth:`levels` yields candidates in the leaver's own unit (and the units below it),
    then in the parent unit's subtree, and so on up to the head office; each candidate
    appears once, at its nearest level. Levels are loaded only when a rule asks for
    them, so a handover that finds successors in the leaver's branch never reads the
    whole organisation. :meth:`take` records that a candidate received a customer, so
    later choices in the same handover see the new load.
    """

    def __init__(self, levels: Iterable[Sequence[Candidate]]) -> None:
        self._source = iter(levels)
        self._loaded: list[list[Candidate]] = []
        self._where: dict[StaffId, tuple[int, int]] = {}

    def levels(self) -> Iterator[Sequence[Candidate]]:
        i = 0
        while True:
            if i == len(self._loaded):
                level = next(self._source, None)
                if level is None:
                    return
                fresh: list[Candidate] = []
                for c in level:
                    if c.staff.id not in self._where:
                        self._where[c.staff.id] = (len(self._loaded), len(fresh))
                        fresh.append(c)
                self._loaded.append(fresh)
            yield self._loaded[i]
            i += 1

    def take(self, staff_id: StaffId) -> None:
        """Count one more customer in ``staff_id``'s book."""
        if staff_id not in self._where:
            raise ValidationError(
                "this staff member is not a candidate of the pool", path="$.staff_id"
            )
        i, j = self._where[staff_id]
        old = self._loaded[i][j]
        self._loaded[i][j] = attrs.evolve(old, book_size=old.book_size + 1)


class HandoverRule(Protocol):
    """Who takes over a customer whose primary leaves and who has no secondary."""

    def choose_successor(
        self, customer_id: CustomerId, leaver: StaffMember, pool: SuccessorPool
    ) -> StaffMember | None: ...


@attrs.frozen
class LeastLoadedNearby:
    """The least-loaded active customer manager with spare capacity, nearest unit first.

    Ties go to the lower staff code, so a handover is repeatable.
    """

    def choose_successor(
        self, customer_id: CustomerId, leaver: StaffMember, pool: SuccessorPool
    ) -> StaffMember | None:
        for level in pool.levels():
            eligible = [
                c
                for c in level
                if c.spare > 0
                and c.staff.is_active
                and c.staff.id != leaver.id
                and StaffRole.CUSTOMER_MANAGER in c.staff.roles
            ]
            if eligible:
                return min(eligible, key=lambda c: (c.book_size, c.staff.id)).staff
        return None


def _reason_codes(value: Mapping[str, str]) -> Mapping[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise ValidationError("give at least one reason code", path="$.codes")
    for code, description in value.items():
        if not isinstance(code, str) or not 1 <= len(code.strip()) == len(code) <= 40:
            raise ValidationError(
                "a reason code is 1-40 characters without surrounding spaces", path="$.codes"
            )
        if not isinstance(description, str):
            raise ValidationError("a reason's description is a string", path="$.codes")
    return MappingProxyType(dict(value))  # a copy: later edits to the caller's dict do nothing


DEFAULT_REASONS: Mapping[str, str] = {
    "new_customer": "first assignment of a new customer (首次分配)",
    "staff_departure": "the manager left (离职交接)",
    "staff_transfer": "the manager moved post (调岗)",
    "reorganisation": "branch or team reorganisation (机构调整)",
    "workload": "balancing books between managers (负荷均衡)",
    "customer_request": "the customer asked for another manager (客户要求)",
    "service_quality": "service quality (服务质量)",
    "tier_change": "the customer's tier changed (客户分层调整)",
    "other": "other reason, explained in the host's records (其他)",
}


@attrs.frozen
class ReassignmentReasons:
    """The reasons a reassignment may give (改派原因): code -> description.

    >>> reasons = ReassignmentReasons({"merger": "branch merger"})
    >>> reasons.check("merger")
    'merger'
    """

    codes: Mapping[str, str] = attrs.field(
        factory=lambda: DEFAULT_REASONS, converter=_reason_codes, hash=False
    )

    def check(self, code: str) -> str:
        if not isinstance(code, str) or code not in self.codes:
            known = ", ".join(sorted(self.codes))
            raise ValidationError(
                f"unknown reassignment reason; use one of: {known} "
                "(or configure ReassignmentReasons with your own list)",
                path="$.reason",
            )
        return code


@attrs.frozen(kw_only=True)
class ManagerRules:
    """The rules the manager services use; replace any of them."""

    capacity: CapacityRule = attrs.field(factory=FixedCapacity)
    split: SplitRule = attrs.field(factory=RoleWeights)
    handover: HandoverRule = attrs.field(factory=LeastLoadedNearby)
    reasons: ReassignmentReasons = attrs.field(factory=ReassignmentReasons)
