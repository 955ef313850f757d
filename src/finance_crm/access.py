"""Access scopes: which customers an actor may see and change.

A customer manager sees the customers they hold any role on; a supervisor or branch
head sees the customers of every manager in their unit and the units below it; head
office roles and batch jobs see everything. Reads outside the scope are filtered out
(as if the customer did not exist); writes raise :class:`~finance_crm.errors.PermissionDenied`.

The scope is data, not a list of customer ids: the SQL adapter turns it into a filter
in the same statement (``EXISTS`` over the customer's current managers, a unit-path
prefix for a subtree), so a branch head's scope over a million customers costs nothing
to hold.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Protocol

import attrs

from finance_crm.errors import ValidationError
from finance_crm.ids import StaffId
from finance_crm.model.organization import OrgUnit, OrgUnitKind, StaffMember, StaffRole
from finance_crm.security import Actor, MaskingRule, StandardMasking, Unmasked

__all__ = [
    "AccessRule",
    "AccessScope",
    "OrgScopes",
    "ScopeKind",
    "UnmaskedRoles",
    "UnmaskingRule",
]


class ScopeKind(enum.Enum):
    EVERYTHING = "everything"
    UNIT = "unit"  # customers of any manager in a unit's subtree
    OWN = "own"  # customers the staff member holds a role on
    NOTHING = "nothing"


@attrs.frozen
class AccessScope:
    """What an actor may see: everything, a unit subtree, their own customers, or nothing."""

    kind: ScopeKind
    staff_id: StaffId | None = None
    unit_path: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.kind is ScopeKind.OWN) != (self.staff_id is not None) or (
            self.kind is ScopeKind.UNIT
        ) != (self.unit_path is not None):
            raise ValidationError(
                "an OWN scope names a staff id and a UNIT scope a unit path; nothing else "
                "does (use the class methods)",
                path="$.kind",
            )

    @classmethod
    def everything(cls) -> AccessScope:
        return cls(ScopeKind.EVERYTHING)

    @classmethod
    def nothing(cls) -> AccessScope:
        return cls(ScopeKind.NOTHING)

    @classmethod
    def own(cls, staff_id: StaffId) -> AccessScope:
        return cls(ScopeKind.OWN, staff_id=staff_id)

    @classmethod
    def unit(cls, unit: OrgUnit) -> AccessScope:
        return cls(ScopeKind.UNIT, unit_path=unit.path)

    @property
    def is_everything(self) -> bool:
        return self.kind is ScopeKind.EVERYTHING

    def covers_managers(self, managers: Iterable[tuple[StaffId, str]]) -> bool:
        """Whether a customer served by ``managers`` ((staff id, unit path) pairs) is in scope."""
        if self.kind is ScopeKind.EVERYTHING:
            return True
        if self.kind is ScopeKind.NOTHING:
            return False
        if self.kind is ScopeKind.OWN:
            return any(staff == self.staff_id for staff, _ in managers)
        assert self.unit_path is not None
        return any(path.startswith(self.unit_path) for _, path in managers)

    def describe(self) -> str:
        if self.kind is ScopeKind.OWN:
            return "their own customers"
        if self.kind is ScopeKind.UNIT:
            return f"customers of the managers under {self.unit_path}"
        return str(self.kind.value)


class AccessRule(Protocol):
    """How an actor's scope follows from their roles and their staff record."""

    def scope_for(
        self, actor: Actor, staff: StaffMember | None, unit: OrgUnit | None
    ) -> AccessScope: ...


@attrs.frozen(kw_only=True)
class OrgScopes:
    """The default scopes.

    * An actor with one of ``everything_roles`` (head office staff, batch jobs made by
      :meth:`Actor.system`, auditors) sees everything.
    * Otherwise the actor must be an active staff member (``actor.id`` is the staff id):
      a branch head or supervisor sees their unit's subtree (everything when the unit is
      the head office); anyone else sees the customers they hold a role on.
    * Anyone else (unknown, departed) sees nothing.
    """

    everything_roles: frozenset[str] = frozenset({"system", "head_office", "auditor"})

    def scope_for(
        self, actor: Actor, staff: StaffMember | None, unit: OrgUnit | None
    ) -> AccessScope:
        if actor.roles & self.everything_roles:
            return AccessScope.everything()
        if staff is None or not staff.is_active or unit is None:
            return AccessScope.nothing()
        if staff.roles & {StaffRole.BRANCH_HEAD, StaffRole.SUPERVISOR}:
            if unit.kind is OrgUnitKind.HEAD_OFFICE:
                return AccessScope.everything()
            return AccessScope.unit(unit)
        return AccessScope.own(staff.id)


class UnmaskingRule(Protocol):
    """Which masking applies to the personal data an actor reads."""

    def masking_for(self, actor: Actor) -> MaskingRule: ...


@attrs.frozen(kw_only=True)
class UnmaskedRoles:
    """Actors with one of ``roles`` read personal data in full; everyone else masked."""

    roles: frozenset[str] = frozenset({"compliance", "kyc_officer"})
    masking: MaskingRule = attrs.field(factory=StandardMasking)

    def masking_for(self, actor: Actor) -> MaskingRule:
        return Unmasked() if actor.roles & self.roles else self.masking
