"""Rules for group relationships: who is the group's primary manager, and the figures.

A bank replaces either part. The relationship *types* are not a rule here but the
store's registry (``relationship_types=`` on the store), because stored data depends
on them.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Protocol

import attrs

from finance_crm.errors import ValidationError
from finance_crm.ids import CustomerId, PartyId, StaffId
from finance_crm.money import Money

__all__ = [
    "FixedFigures",
    "GroupManagerRule",
    "GroupRules",
    "MemberFigures",
    "MemberFiguresSource",
    "MemberManagers",
    "NoFigures",
    "ParentManagerFirst",
]


@attrs.frozen(kw_only=True)
class MemberFigures:
    """What a member customer brings to the group: assets under management, loans
    outstanding and contribution (revenue) for the period the source reports on.
    A figure the source does not know is ``None``."""

    aum: Money | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Money))
    )
    loans: Money | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Money))
    )
    contribution: Money | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Money))
    )


class MemberFiguresSource(Protocol):
    """Where member customers' figures come from (a data warehouse feed, the accounts
    module): one call for the whole group, never one per member."""

    def figures_for(
        self, customer_ids: Collection[CustomerId], at: datetime.date
    ) -> Mapping[CustomerId, MemberFigures]:
        """The figures of those of ``customer_ids`` the source knows, as of ``at``."""


@attrs.frozen
class NoFigures:
    """The default source: knows nothing, so the group view's totals are ``None``
    ("not known"), never a made-up zero."""

    def figures_for(
        self, customer_ids: Collection[CustomerId], at: datetime.date
    ) -> Mapping[CustomerId, MemberFigures]:
        return {}


def _figures_map(value: Mapping[CustomerId, MemberFigures]) -> Mapping[CustomerId, MemberFigures]:
    if not isinstance(value, Mapping) or not all(
        isinstance(v, MemberFigures) for v in value.values()
    ):
        raise ValidationError("figures must map customer ids to MemberFigures", path="$.figures")
    return MappingProxyType(dict(value))


@attrs.frozen
class FixedFigures:
    """Figures given up front (a host's nightly extract, a test)."""

    figures: Mapping[CustomerId, MemberFigures] = attrs.field(converter=_figures_map)

    def figures_for(
        self, customer_ids: Collection[CustomerId], at: datetime.date
    ) -> Mapping[CustomerId, MemberFigures]:
        return {c: self.figures[c] for c in customer_ids if c in self.figures}


@attrs.frozen
class MemberManagers:
    """One member customer's primary manager, as a group manager rule sees it."""

    party_id: PartyId
    customer_id: CustomerId
    primary: StaffId | None
    aum: Money | None


class GroupManagerRule(Protocol):
    """Chooses the group-level primary manager (集团主办客户经理)."""

    def group_manager(
        self, ultimate_parent: PartyId, members: Sequence[MemberManagers]
    ) -> StaffId | None:
        """The staff member who leads the relationship with the whole group, if any."""


@attrs.frozen
class ParentManagerFirst:
    """The default: the ultimate parent's primary manager when the parent is a managed
    customer; otherwise the manager who is primary for the most members (then the one
    whose members hold the most AUM, then the smallest staff code)."""

    def group_manager(
        self, ultimate_parent: PartyId, members: Sequence[MemberManagers]
    ) -> StaffId | None:
        for member in members:
            if member.party_id == ultimate_parent and member.primary is not None:
                return member.primary
        counts: Counter[StaffId] = Counter()
        assets: dict[StaffId, int] = {}
        for member in members:
            if member.primary is None:
                continue
            counts[member.primary] += 1
            if member.aum is not None:
                assets[member.primary] = assets.get(member.primary, 0) + member.aum.minor_units
        if not counts:
            return None
        return min(counts, key=lambda s: (-counts[s], -assets.get(s, 0), s))


@attrs.frozen(kw_only=True)
class GroupRules:
    """The rules the group services use; replace any of them."""

    manager: GroupManagerRule = attrs.field(factory=ParentManagerFirst)
    figures: MemberFiguresSource = attrs.field(factory=NoFigures)
