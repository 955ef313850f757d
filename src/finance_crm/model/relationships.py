"""Group relationships (集团关系): parties and the effective-dated links between them.

A **party** is a node of the graph: a company or a person, a customer of the bank or
not yet one (a parent company abroad, a guarantor, a legal representative's family).
A **relationship** is a typed, directed, effective-dated edge from a *source* to a
*target*: the shareholder to the company, the parent to the subsidiary, the guarantor to
the borrower, the supplier to the buyer. Each :class:`RelationshipType` says what its
two ends are called and what it means for the graph (its :class:`RelationshipCategory`):
whether it makes two parties one group, whether it may not form a cycle, whether it
carries a shareholding percentage or a guaranteed amount.

Types are an open set. :data:`STANDARD_RELATIONSHIP_TYPES` holds the usual ones; a bank
adds its own with :meth:`RelationshipTypes.with_types` and hands the registry to its
store. Dates are business dates: a relationship holds from ``valid_from`` (inclusive)
until ``valid_to`` (exclusive, ``None`` while it lasts). Ending one and recording its
replacement keeps the history, so every query can answer for a past date.
"""

from __future__ import annotations

import datetime
import enum
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

import attrs

from finance_crm.errors import BusinessRuleViolation, ValidationError
from finance_crm.ids import CustomerId, PartyId, RelationshipId, new_party_id, new_relationship_id
from finance_crm.model._fields import name_of_up_to_200, one_of
from finance_crm.model.documents import check_lei
from finance_crm.model.events import DomainEvent
from finance_crm.money import Money
from finance_crm.security import PersonalDataKind, masked

__all__ = [
    "HUNDRED_PERCENT",
    "STANDARD_RELATIONSHIP_TYPES",
    "Direction",
    "Party",
    "PartyKind",
    "PartyRegistered",
    "PartyRevised",
    "Path",
    "PathSearch",
    "Reached",
    "Relationship",
    "RelationshipCategory",
    "RelationshipEnded",
    "RelationshipRecorded",
    "RelationshipType",
    "RelationshipTypes",
    "TreeNode",
]

HUNDRED_PERCENT = Decimal(100)
# Shareholdings are kept to 4 decimal places of a percent (0.0001%), stored as integer
# millionths so that sums in SQL are exact on every backend.
_SHARE_QUANTUM = Decimal("0.0001")
_TYPE_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_REFERENCE_MAX = 200


def _date_only(value: object, path: str) -> datetime.date:
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise ValidationError("must be a date (a business date, not an instant)", path=path)
    return datetime.date(value.year, value.month, value.day)


def _as_date(value: object) -> datetime.date:
    # The converter keeps pendulum.Date and date alike as plain dates (pendulum stays at
    # the edges); the validator below names the field when it is not a date at all.
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return datetime.date(value.year, value.month, value.day)
    return value  # type: ignore[return-value]


def _as_optional_date(value: object) -> datetime.date | None:
    return None if value is None else _as_date(value)


def _check_date(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None and attribute.name == "valid_to":
        return
    _date_only(value, f"$.{attribute.name}")


def _optional_text(limit: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None and (
            not isinstance(value, str) or not value.strip() or len(value) > limit
        ):
            raise ValidationError(
                f"must be None or a non-empty string of at most {limit} characters",
                path=f"$.{attribute.name}",
            )

    return check


def _flag(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ValidationError("must be True or False", path=f"$.{attribute.name}")


# -- parties -------------------------------------------------------------------------


class PartyKind(enum.Enum):
    """What a party is. Persons' names are personal data and are masked."""

    PERSON = "person"  # 自然人
    ORGANIZATION = "organization"  # 企业、机构、基金


def _optional_lei(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or value != value.upper():
        raise ValidationError("must be an upper-case LEI (ISO 17442)", path="$.lei")
    try:
        check_lei(value)
    except ValidationError as exc:
        raise exc.under("$.lei") from None


def _optional_country(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not re.fullmatch(r"[A-Z]{2}", value)):
        raise ValidationError("must be None or an ISO 3166 two-letter code", path="$.country")


@attrs.frozen(kw_only=True)
class Party:
    """A node of the relationship graph: a company or a person, customer or not.

    ``customer_id`` links the party to the bank's customer record once it is one;
    ``lei`` and ``registration_number`` (统一社会信用代码) identify an organisation in
    registries (GLEIF, the business register).

    >>> parent = Party.organization("华东控股集团有限公司", country="CN")
    >>> parent.is_customer
    False
    """

    id: PartyId = attrs.field(factory=new_party_id)
    kind: PartyKind = attrs.field(validator=one_of(PartyKind))
    name: str = attrs.field(validator=name_of_up_to_200, repr=masked(PersonalDataKind.NAME))
    customer_id: CustomerId | None = None
    lei: str | None = attrs.field(default=None, validator=_optional_lei)
    registration_number: str | None = attrs.field(default=None, validator=_optional_text(40))
    country: str | None = attrs.field(default=None, validator=_optional_country)
    version: int = 0

    @classmethod
    def organization(
        cls,
        name: str,
        *,
        customer_id: CustomerId | None = None,
        lei: str | None = None,
        registration_number: str | None = None,
        country: str | None = None,
    ) -> Party:
        """A company, fund or other organisation."""
        return cls(
            kind=PartyKind.ORGANIZATION,
            name=name,
            customer_id=customer_id,
            lei=lei,
            registration_number=registration_number,
            country=country,
        )

    @classmethod
    def person(
        cls, name: str, *, customer_id: CustomerId | None = None, country: str | None = None
    ) -> Party:
        """A natural person (a shareholder, a legal representative, a family member)."""
        return cls(kind=PartyKind.PERSON, name=name, customer_id=customer_id, country=country)

    @property
    def is_customer(self) -> bool:
        return self.customer_id is not None

    @property
    def name_kind(self) -> PersonalDataKind | None:
        """How the name is masked: a person's name is personal data, a company's is not."""
        return PersonalDataKind.NAME if self.kind is PartyKind.PERSON else None

    def revised(self, at: datetime.datetime, **changes: Any) -> tuple[Party, list[DomainEvent]]:
        """A new version with ``changes`` (name, customer_id, lei, registration_number,
        country) and the :class:`PartyRevised` event."""
        allowed = {"name", "customer_id", "lei", "registration_number", "country"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise ValidationError(
                f"a party's {unknown[0]} cannot be revised; only {', '.join(sorted(allowed))}",
                path=f"$.{unknown[0]}",
            )
        new = attrs.evolve(self, **changes)
        return new, [PartyRevised(occurred_at=at, party_id=self.id, fields=tuple(sorted(changes)))]


# -- relationship types --------------------------------------------------------------


class RelationshipCategory(enum.Enum):
    """What a relationship means for the graph, whatever a bank calls the type.

    ====================  =====================  ======  =======  =====  ======
    category              example                group   acyclic  share  amount
    ====================  =====================  ======  =======  =====  ======
    OWNERSHIP             shareholding           no      no       yes    no
    CONTROL               actual control         yes     yes      no     no
    CONSOLIDATION         parent company         yes     yes      no     no
    OFFICER               legal representative   no      no       no     no
    FAMILY                family member          no      no       no     no
    FAMILY_ENTERPRISE     family enterprise      no      no       no     no
    GUARANTEE             guarantee              no      no       no     yes
    SUPPLY_CHAIN          supplier               no      no       no     no
    FUND_MANAGEMENT       fund managed by        no      no       no     no
    OTHER                 anything else          no      no       no     no
    ====================  =====================  ======  =======  =====  ======

    *group*: the link makes its two ends members of one group (the closure over
    control and consolidation). *acyclic*: no party may reach itself through such
    links. Ownership may be circular (cross-shareholdings are legal).
    """

    OWNERSHIP = "ownership"
    CONTROL = "control"
    CONSOLIDATION = "consolidation"
    OFFICER = "officer"
    FAMILY = "family"
    FAMILY_ENTERPRISE = "family_enterprise"
    GUARANTEE = "guarantee"
    SUPPLY_CHAIN = "supply_chain"
    FUND_MANAGEMENT = "fund_management"
    OTHER = "other"


_GROUP_CATEGORIES = frozenset({RelationshipCategory.CONTROL, RelationshipCategory.CONSOLIDATION})


def _type_code(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _TYPE_CODE.fullmatch(value):
        raise ValidationError(
            "must be 1-40 lower-case letters, digits or '_', starting with a letter",
            path="$.code",
        )


@attrs.frozen(kw_only=True)
class RelationshipType:
    """One kind of relationship: its code, names, the names of its two ends, its meaning.

    >>> RelationshipType(
    ...     code="pledgor", name="Share pledge", local_name="股权质押",
    ...     source_role="pledgor", target_role="pledgee",
    ...     category=RelationshipCategory.OTHER,
    ... ).links_group
    False

    ``ultimate`` marks a type that states a whole chain at once (GLEIF's *ultimate*
    consolidation): it joins the group and leads to the top parent but is left out of
    trees, where the direct links already draw the chain. ``symmetric`` types (family)
    read the same both ways.
    """

    code: str = attrs.field(validator=_type_code)
    name: str = attrs.field(validator=name_of_up_to_200)
    local_name: str | None = attrs.field(default=None, validator=_optional_text(40))
    source_role: str = attrs.field(validator=name_of_up_to_200)
    target_role: str = attrs.field(validator=name_of_up_to_200)
    category: RelationshipCategory = attrs.field(validator=one_of(RelationshipCategory))
    symmetric: bool = attrs.field(default=False, validator=_flag)
    ultimate: bool = attrs.field(default=False, validator=_flag)

    @property
    def links_group(self) -> bool:
        """Whether the two ends belong to one group (control and consolidation)."""
        return self.category in _GROUP_CATEGORIES

    @property
    def acyclic(self) -> bool:
        """Whether a chain of such links may never lead back to where it started."""
        return self.category in _GROUP_CATEGORIES

    @property
    def carries_share(self) -> bool:
        """Whether a relationship of this type needs a percentage (shareholding)."""
        return self.category is RelationshipCategory.OWNERSHIP

    @property
    def carries_amount(self) -> bool:
        """Whether a relationship of this type needs an amount (guarantee)."""
        return self.category is RelationshipCategory.GUARANTEE


def _standard_types() -> tuple[RelationshipType, ...]:
    c = RelationshipCategory

    def t(
        code: str,
        name: str,
        local: str,
        source: str,
        target: str,
        category: RelationshipCategory,
        **kw: Any,
    ) -> RelationshipType:
        return RelationshipType(
            code=code,
            name=name,
            local_name=local,
            source_role=source,
            target_role=target,
            category=category,
            **kw,
        )

    return (
        t("shareholding", "Shareholding", "持股", "shareholder", "company", c.OWNERSHIP),
        t(
            "actual_control",
            "Actual control",
            "实际控制",
            "actual controller",
            "company",
            c.CONTROL,
        ),
        t(
            "direct_parent",
            "Direct accounting consolidation",
            "直接母公司",
            "parent",
            "subsidiary",
            c.CONSOLIDATION,
        ),
        t(
            "ultimate_parent",
            "Ultimate accounting consolidation",
            "最终母公司",
            "ultimate parent",
            "subsidiary",
            c.CONSOLIDATION,
            ultimate=True,
        ),
        t(
            "legal_representative",
            "Legal representative",
            "法定代表人",
            "legal representative",
            "company",
            c.OFFICER,
        ),
        t("director", "Director", "董事", "director", "company", c.OFFICER),
        t("senior_officer", "Senior officer", "高级管理人员", "officer", "company", c.OFFICER),
        t("spouse", "Spouse", "配偶", "spouse", "spouse", c.FAMILY, symmetric=True),
        t(
            "family_member",
            "Family member (same household)",
            "家庭成员",
            "family member",
            "family member",
            c.FAMILY,
            symmetric=True,
        ),
        t(
            "family_enterprise",
            "Family enterprise",
            "家族企业",
            "family member",
            "enterprise",
            c.FAMILY_ENTERPRISE,
        ),
        t("guarantee", "Guarantee", "担保", "guarantor", "borrower", c.GUARANTEE),
        t("supplier", "Supplier", "上下游 (供应商)", "supplier", "buyer", c.SUPPLY_CHAIN),
        t(
            "fund_manager",
            "Fund managed by",
            "基金管理人",
            "fund manager",
            "fund",
            c.FUND_MANAGEMENT,
        ),
        t(
            "umbrella_fund",
            "Sub-fund of",
            "伞形基金",
            "umbrella fund",
            "sub-fund",
            c.FUND_MANAGEMENT,
        ),
        t(
            "master_fund",
            "Feeder fund of",
            "联接基金",
            "master fund",
            "feeder fund",
            c.FUND_MANAGEMENT,
        ),
    )


def _types_by_code(value: Iterable[RelationshipType]) -> Mapping[str, RelationshipType]:
    table: dict[str, RelationshipType] = {}
    for item in value:
        if not isinstance(item, RelationshipType):
            raise ValidationError("every entry must be a RelationshipType", path="$.types")
        if item.code in table and table[item.code] != item:
            raise ValidationError(
                f"two different types share the code {item.code!r}", path="$.types"
            )
        table[item.code] = item
    return MappingProxyType(table)


@attrs.frozen
class RelationshipTypes:
    """The registry of relationship types a store knows: the standard set plus a bank's.

    >>> types = STANDARD_RELATIONSHIP_TYPES
    >>> types.get("guarantee").local_name
    '担保'
    >>> sorted(types.group_links)
    ['actual_control', 'direct_parent', 'ultimate_parent']
    """

    by_code: Mapping[str, RelationshipType] = attrs.field(converter=_types_by_code)

    def get(self, code: str | RelationshipType) -> RelationshipType:
        """The registered type with this code (or the registered twin of ``code``).

        :raises ~finance_crm.errors.ValidationError: for a type the registry lacks.
        """
        key = code.code if isinstance(code, RelationshipType) else code
        found = self.by_code.get(key) if isinstance(key, str) else None
        if found is None or (isinstance(code, RelationshipType) and code != found):
            shown = f" {key!r}" if isinstance(key, str) and _TYPE_CODE.fullmatch(key) else ""
            raise ValidationError(
                f"unknown relationship type{shown}; use one of "
                f"{', '.join(sorted(self.by_code))} or register yours with "
                "RelationshipTypes.with_types() and pass it to the store",
                path="$.type",
            )
        return found

    def with_types(self, *extra: RelationshipType) -> RelationshipTypes:
        """This registry plus ``extra`` (a code already taken by another type is refused)."""
        return RelationshipTypes([*self.by_code.values(), *extra])

    def __iter__(self) -> Iterator[RelationshipType]:
        return iter(self.by_code.values())

    def codes(self, *categories: RelationshipCategory) -> frozenset[str]:
        """The codes of the types in ``categories``."""
        return frozenset(t.code for t in self.by_code.values() if t.category in categories)

    @property
    def group_links(self) -> frozenset[str]:
        """Types whose ends are one group: the closure that defines a group."""
        return frozenset(t.code for t in self.by_code.values() if t.links_group)

    @property
    def acyclic(self) -> frozenset[str]:
        """Types that together may form no cycle (control and consolidation)."""
        return frozenset(t.code for t in self.by_code.values() if t.acyclic)

    @property
    def tree_links(self) -> frozenset[str]:
        """Group links that draw a tree (the ``ultimate`` shortcuts left out)."""
        return frozenset(t.code for t in self.by_code.values() if t.links_group and not t.ultimate)


STANDARD_RELATIONSHIP_TYPES = RelationshipTypes(_standard_types())
"""The relationship types every store knows unless given others."""


# -- relationships -------------------------------------------------------------------


def _to_share(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


def _check_share(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationError(
            "must be a Decimal percentage such as Decimal('51.5') (never a float)",
            path="$.share",
        )
    if not Decimal(0) < value <= HUNDRED_PERCENT:
        raise ValidationError("must be above 0 and at most 100 (percent)", path="$.share")
    if value != value.quantize(_SHARE_QUANTUM):
        raise ValidationError("must have at most 4 decimal places", path="$.share")


def _check_amount(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Money):
        raise ValidationError("must be a finance_crm Money", path="$.amount")
    if not value.is_positive():
        raise ValidationError("must be above zero", path="$.amount")


def _check_party(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, uuid.UUID):
        raise ValidationError("must be a party id (a UUID)", path=f"$.{attribute.name}")


@attrs.frozen(kw_only=True)
class Relationship:
    """One effective-dated, typed link from ``source`` to ``target``.

    Build it with :meth:`record` (which checks the type's needs); end it with
    :meth:`ended`. ``share`` is a percentage for ownership types, ``amount`` the
    guaranteed amount for guarantee types; ``reference`` names where it came from
    (a GLEIF record, a contract number).
    """

    id: RelationshipId = attrs.field(factory=new_relationship_id)
    type: RelationshipType = attrs.field(validator=attrs.validators.instance_of(RelationshipType))
    source: PartyId = attrs.field(validator=_check_party)
    target: PartyId = attrs.field(validator=_check_party)
    valid_from: datetime.date = attrs.field(converter=_as_date, validator=_check_date)
    valid_to: datetime.date | None = attrs.field(
        default=None, converter=_as_optional_date, validator=_check_date
    )
    share: Decimal | None = attrs.field(default=None, converter=_to_share, validator=_check_share)
    amount: Money | None = attrs.field(default=None, validator=_check_amount)
    reference: str | None = attrs.field(default=None, validator=_optional_text(_REFERENCE_MAX))
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if self.source == self.target:
            raise ValidationError(
                "a party cannot have a relationship with itself; check source and target",
                path="$.target",
            )
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValidationError(
                "valid_to must be after valid_from (the dates are reversed or equal)",
                path="$.valid_to",
            )
        if self.type.carries_share != (self.share is not None):
            raise ValidationError(
                f"a {self.type.code} relationship "
                + ("needs a share (percent)" if self.type.carries_share else "takes no share"),
                path="$.share",
            )
        if self.type.carries_amount != (self.amount is not None):
            raise ValidationError(
                f"a {self.type.code} relationship "
                + ("needs an amount" if self.type.carries_amount else "takes no amount"),
                path="$.amount",
            )

    @classmethod
    def record(
        cls,
        type: RelationshipType,
        source: PartyId,
        target: PartyId,
        *,
        valid_from: datetime.date,
        valid_to: datetime.date | None = None,
        share: Decimal | int | str | None = None,
        amount: Money | None = None,
        reference: str | None = None,
    ) -> Relationship:
        """A new relationship (not stored yet: hand it to ``uow.relationships.add``)."""
        return cls(
            type=type,
            source=source,
            target=target,
            valid_from=valid_from,
            valid_to=valid_to,
            share=share,
            amount=amount,
            reference=reference,
        )

    def active_on(self, day: datetime.date) -> bool:
        """Whether the relationship holds on ``day``."""
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    def overlaps(self, start: datetime.date, end: datetime.date | None) -> bool:
        """Whether it holds on some day of ``[start, end)`` (``end`` None: open)."""
        return (end is None or self.valid_from < end) and (
            self.valid_to is None or start < self.valid_to
        )

    def ended(
        self, on: datetime.date, at: datetime.datetime
    ) -> tuple[Relationship, list[DomainEvent]]:
        """The relationship ending on ``on`` (it no longer holds that day).

        :raises ~finance_crm.errors.BusinessRuleViolation: if it has already ended by
            then or ``on`` is not after it began.
        """
        day = _date_only(on, "$.on")
        if self.valid_to is not None and day >= self.valid_to:
            raise BusinessRuleViolation(
                f"the relationship already ended on {self.valid_to.isoformat()}; "
                "an end date can only move earlier"
            )
        if day <= self.valid_from:
            raise BusinessRuleViolation(
                "a relationship can end only after the day it began; to remove a mistake, "
                "end it the day after it began and record the right one"
            )
        new = attrs.evolve(self, valid_to=day)
        return new, [
            RelationshipEnded(
                occurred_at=at,
                relationship_id=self.id,
                type=self.type.code,
                source=self.source,
                target=self.target,
                valid_to=day,
            )
        ]


# -- events --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PartyRegistered(DomainEvent):
    """A party joined the relationship graph."""

    party_id: PartyId
    kind: str
    customer_id: CustomerId | None = None

    @property
    def aggregate_id(self) -> str:
        return str(self.party_id)


@attrs.frozen(kw_only=True)
class PartyRevised(DomainEvent):
    """A party's details changed (the field names, never their personal values)."""

    party_id: PartyId
    fields: tuple[str, ...]

    @property
    def aggregate_id(self) -> str:
        return str(self.party_id)


@attrs.frozen(kw_only=True)
class RelationshipRecorded(DomainEvent):
    """A relationship was recorded between two parties."""

    relationship_id: RelationshipId
    type: str
    source: PartyId
    target: PartyId
    valid_from: datetime.date
    valid_to: datetime.date | None = None

    @property
    def aggregate_id(self) -> str:
        return str(self.relationship_id)


@attrs.frozen(kw_only=True)
class RelationshipEnded(DomainEvent):
    """A relationship stopped holding from ``valid_to``."""

    relationship_id: RelationshipId
    type: str
    source: PartyId
    target: PartyId
    valid_to: datetime.date

    @property
    def aggregate_id(self) -> str:
        return str(self.relationship_id)


def recorded(relationship: Relationship, at: datetime.datetime) -> RelationshipRecorded:
    """The event for a newly recorded ``relationship``."""
    return RelationshipRecorded(
        occurred_at=at,
        relationship_id=relationship.id,
        type=relationship.type.code,
        source=relationship.source,
        target=relationship.target,
        valid_from=relationship.valid_from,
        valid_to=relationship.valid_to,
    )


# -- what graph queries return -------------------------------------------------------


class Direction(enum.Enum):
    """Which way a walk follows relationships.

    ``DOWN`` goes from source to target (parent to subsidiary, shareholder to company,
    guarantor to borrower); ``UP`` the other way; ``BOTH`` ignores direction.
    """

    DOWN = "down"
    UP = "up"
    BOTH = "both"


@attrs.frozen
class Reached:
    """A party a walk reached, with the fewest hops it took (``None`` for a closure,
    which does not count), and whether it is a *top*: no relationship of the walked
    types points at it that day (it has no parent among them)."""

    party_id: PartyId
    hops: int | None
    top: bool


@attrs.frozen
class TreeNode:
    """One edge of a tree below (or above) a root: ``party_id`` reached from
    ``parent_id`` through ``relationship_id`` at ``depth`` (the root's children: 1)."""

    party_id: PartyId
    parent_id: PartyId
    relationship_id: RelationshipId
    type: str
    depth: int


@attrs.frozen
class Path:
    """A simple path (no party twice) from a walk's start to its end.

    ``parties`` runs from the start to the end; ``relationships[i]`` links
    ``parties[i]`` and ``parties[i + 1]``, with its share in ``shares[i]`` (None for
    types without one).
    """

    parties: tuple[PartyId, ...]
    relationships: tuple[RelationshipId, ...]
    shares: tuple[Decimal | None, ...]


@attrs.frozen
class PathSearch:
    """All simple paths between two parties, and what the search had to leave out.

    ``cycles_cut`` counts the times a path met a party already on it (a cross-holding
    or another cycle) and was not followed further: the search terminates on cycles
    and says so. ``depth_limited`` counts paths stopped at the depth limit.
    """

    paths: tuple[Path, ...]
    cycles_cut: int
    depth_limited: int
