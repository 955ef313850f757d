"""Checks every adapter makes before storing a party or a relationship, worded the same.

The graph rules (shareholdings at most 100% per company, no control or consolidation
cycle) need the stored graph; each adapter answers the question its own way (Python,
recursive SQL) and these functions turn the answer into the one error message.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from decimal import Decimal

from finance_crm.access import AccessScope
from finance_crm.errors import (
    BusinessRuleViolation,
    ConflictError,
    DuplicateError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from finance_crm.ids import PartyId
from finance_crm.model.events import DomainEvent
from finance_crm.model.relationships import (
    HUNDRED_PERCENT,
    Direction,
    Party,
    Relationship,
    RelationshipTypes,
)

__all__ = [
    "check_day",
    "check_end_events",
    "check_end_only",
    "check_new_party",
    "check_new_relationship",
    "check_party_id",
    "check_party_update",
    "check_types",
    "check_walk",
    "cycle_refused",
    "duplicate_party_key",
    "party_conflict",
    "refuse_empty_scope",
    "shareholding_excess",
    "shareholding_refused",
]


def check_new_party(party: object) -> Party:
    if not isinstance(party, Party):
        raise ValidationError("expected a finance_crm Party", path="$")
    if party.version != 0:
        raise ValidationError("a new party has version 0", path="$.version")
    return party


def check_party_update(
    current: Party | None, party: object, events: Sequence[DomainEvent]
) -> Party:
    if not isinstance(party, Party):
        raise ValidationError("expected a finance_crm Party", path="$")
    if current is None:
        raise NotFoundError("no party with this id; add() it first")
    if current.version != party.version:
        raise party_conflict()
    if current.kind is not party.kind:
        raise ValidationError("a party cannot change kind (person or organisation)", path="$.kind")
    for event in events:
        if event.aggregate_id != str(party.id):
            raise ValidationError("an event belongs to another party", path="$.events")
    return party


def party_conflict() -> ConflictError:
    return ConflictError(
        "the party was changed by someone else since it was read; reload it and try again"
    )


def duplicate_party_key(which: str) -> DuplicateError:
    return DuplicateError(
        f"another party already has this {which}; look it up with "
        + ("find_by_customer()" if which == "customer" else "find_by_lei()")
        + " instead of adding a second one"
    )


def check_types(relationship: Relationship, types: RelationshipTypes) -> None:
    """The relationship's type is the one the store's registry knows by that code."""
    types.get(relationship.type)


def check_new_relationship(
    relationship: object,
    types: RelationshipTypes,
    find_party: Callable[[PartyId], Party | None],
) -> Relationship:
    """A relationship of a registered type, version 0, between two stored parties."""
    if not isinstance(relationship, Relationship):
        raise ValidationError("expected a finance_crm Relationship", path="$")
    if relationship.version != 0:
        raise ValidationError("a new relationship has version 0", path="$.version")
    check_types(relationship, types)
    for end in ("source", "target"):
        if find_party(getattr(relationship, end)) is None:
            raise NotFoundError(
                f"the {end} party is not in the relationship graph; add it with "
                "uow.parties.add() first"
            )
    return relationship


def check_end_only(current: Relationship | None, relationship: object) -> Relationship:
    """``relationship`` differs from the stored one only in its (earlier) end date."""
    if not isinstance(relationship, Relationship):
        raise ValidationError("expected a finance_crm Relationship", path="$")
    if current is None:
        raise NotFoundError("no relationship with this id; add() it first")
    if current.version != relationship.version:
        raise ConflictError(
            "the relationship was changed by someone else since it was read; reload it "
            "and try again"
        )
    same = (
        current.type == relationship.type
        and current.source == relationship.source
        and current.target == relationship.target
        and current.valid_from == relationship.valid_from
        and current.share == relationship.share
        and current.amount == relationship.amount
        and current.reference == relationship.reference
    )
    if not same:
        raise ValidationError(
            "only a relationship's end date can change; to change anything else, end it "
            "and record the new relationship from the same day",
            path="$",
        )
    if current.valid_to is not None and (
        relationship.valid_to is None or relationship.valid_to > current.valid_to
    ):
        raise BusinessRuleViolation(
            "an ended relationship cannot be extended or reopened; record a new one"
        )
    return relationship


def shareholding_excess(
    holdings: Iterable[Relationship], new: Relationship
) -> tuple[datetime.date, Decimal] | None:
    """The first day in ``new``'s period on which direct holdings in its target would
    sum above 100%, with that total; ``None`` if they never would.

    Sums only rise where a holding starts, so the days to check are ``new``'s first day
    and the first days of the holdings that start inside its period.
    """
    assert new.share is not None
    overlapping = [
        h
        for h in holdings
        if h.id != new.id and h.share is not None and h.overlaps(new.valid_from, new.valid_to)
    ]
    days = sorted(
        {new.valid_from} | {h.valid_from for h in overlapping if h.valid_from > new.valid_from}
    )
    for day in days:
        total = new.share + sum(
            (h.share for h in overlapping if h.active_on(day) and h.share is not None),
            Decimal(0),
        )
        if total > HUNDRED_PERCENT:
            return day, total
    return None


def shareholding_refused(day: datetime.date, total: Decimal) -> BusinessRuleViolation:
    return BusinessRuleViolation(
        f"direct shareholdings in this company would total {total.normalize():f}% on "
        f"{day.isoformat()}; they may total at most 100%: end or reduce another holding "
        "first (end it and record the new share from the same day)"
    )


def cycle_refused(relationship: Relationship) -> BusinessRuleViolation:
    return BusinessRuleViolation(
        f"this {relationship.type.code} link would close a control or consolidation cycle: "
        "the target already controls or consolidates the source (directly or through "
        "others) on some day of the period, and no party may control itself"
    )


def check_walk(types: Collection[str], direction: Direction, limit: int | None, what: str) -> None:
    """The arguments every graph query shares are sound (same wording on every adapter)."""
    if isinstance(types, str) or not all(isinstance(t, str) for t in types):
        raise ValidationError("types must be a collection of type codes", path="$.types")
    if not isinstance(direction, Direction):
        raise ValidationError("direction must be a Direction", path="$.direction")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValidationError(f"{what} must be a whole number of at least 1", path=f"$.{what}")


def check_day(at: object) -> datetime.date:
    if not isinstance(at, datetime.date) or isinstance(at, datetime.datetime):
        raise ValidationError("at must be a business date", path="$.at")
    return at


def refuse_empty_scope(scope: AccessScope) -> None:
    """Graph writes need a scope: reads are not scoped, but an actor who sees nothing
    (an unknown or departed login) may not change the graph either."""
    if scope.kind.value == "nothing":
        raise PermissionDenied(
            "your access scope is empty: only staff members (or head office and system "
            "actors) may change the relationship graph"
        )


def check_end_events(relationship: Relationship, events: Sequence[DomainEvent]) -> None:
    for event in events:
        if event.aggregate_id != str(relationship.id):
            raise ValidationError("an event belongs to another relationship", path="$.events")


def check_party_id(value: object, path: str) -> PartyId:
    """A graph query's party argument is a party id (every adapter refuses the same)."""
    if not isinstance(value, uuid.UUID):
        raise ValidationError("must be a party id (a UUID)", path=path)
    return PartyId(value)
