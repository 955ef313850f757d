"""Group relationship use cases (集团关系): record the graph, ask it questions, see a group.

Recording:

* :func:`register_party`, :func:`party_for_customer`: put a company or person in the
  graph (a customer's party is found or made from the customer record);
* :func:`relate`, :func:`end_relationship`, :func:`replace_relationship`: record,
  end and replace effective-dated relationships (ending keeps the history).

Asking, as of any business date (the SQL adapter answers each with recursive SQL):

* :func:`group_of` the group (closure over control and consolidation links) with its
  :func:`ultimate_parent` and :func:`actual_controller`;
* :func:`group_tree` the tree below a parent with depths;
* :func:`effective_ownership` look-through ownership through every chain;
* :func:`related_parties` everyone within N hops, by type; :func:`household`;
* :func:`guarantee_chain` and :func:`guarantee_circles` (担保链, 担保圈);
* :func:`group_view` the whole group at once: members, who is already a customer and
  who manages them, AUM, loans, contribution, guarantees given, the group's manager.

Every function takes the unit of work first; nothing here commits.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Sequence
from decimal import Decimal, localcontext

import attrs

from finance_crm.errors import NotFoundError, ValidationError
from finance_crm.ids import CustomerId, PartyId, RelationshipId, StaffId
from finance_crm.model.customers import CustomerKind
from finance_crm.model.relationships import (
    HUNDRED_PERCENT,
    Direction,
    Party,
    PartyKind,
    Path,
    Reached,
    Relationship,
    RelationshipCategory,
    RelationshipType,
    TreeNode,
)
from finance_crm.money import Money
from finance_crm.ports import UnitOfWork
from finance_crm.rules.groups import GroupRules, MemberFigures, MemberManagers

__all__ = [
    "EffectiveOwnership",
    "Group",
    "GroupMemberLine",
    "GroupView",
    "GuaranteeCircle",
    "actual_controller",
    "effective_ownership",
    "end_relationship",
    "group_of",
    "group_tree",
    "group_view",
    "guarantee_chain",
    "guarantee_circles",
    "household",
    "party_for_customer",
    "party_names",
    "register_party",
    "relate",
    "related_parties",
    "replace_relationship",
    "ultimate_parent",
]

_DEFAULT_RULES = GroupRules()
# Deep enough for any real corporate chain; a bound keeps every walk finite.
_MAX_DEPTH = 64
# Products of shares with 4 decimal places of a percent (at most 7 significant digits
# each) stay exact for 100 links at this precision; the default 28 digits would round.
_OWNERSHIP_DIGITS = 800


def _day(value: object, path: str = "$.at") -> datetime.date:
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise ValidationError("must be a business date (a date, not an instant)", path=path)
    return datetime.date(value.year, value.month, value.day)


# -- recording -----------------------------------------------------------------------


def register_party(uow: UnitOfWork, party: Party) -> Party:
    """Add ``party`` to the graph; returns it as stored."""
    with uow.savepoint():
        uow.parties.add(party)
        return uow.parties.get(party.id)


def party_for_customer(uow: UnitOfWork, customer_id: CustomerId) -> Party:
    """The customer's party, registered from the customer record if not yet in the graph
    (an individual becomes a person, a corporate customer an organisation)."""
    found = uow.parties.find_by_customer(customer_id)
    if found is not None:
        return found
    customer = uow.customers.get(customer_id)
    kind = PartyKind.PERSON if customer.kind is CustomerKind.INDIVIDUAL else PartyKind.ORGANIZATION
    registration = getattr(customer, "registration_number", None)
    party = Party(
        kind=kind,
        name=customer.display_name,
        customer_id=customer.id,
        registration_number=registration if isinstance(registration, str) else None,
    )
    return register_party(uow, party)


def relate(
    uow: UnitOfWork,
    type: str | RelationshipType,
    source: PartyId,
    target: PartyId,
    *,
    valid_from: datetime.date,
    valid_to: datetime.date | None = None,
    share: Decimal | int | str | None = None,
    amount: Money | None = None,
    reference: str | None = None,
) -> Relationship:
    """Record that ``source`` stands in relationship ``type`` to ``target`` from
    ``valid_from`` (a type code such as ``"shareholding"`` or a registered type), e.g.
    ``relate(uow, "shareholding", parent.id, subsidiary.id, valid_from=date(2024, 1, 1),
    share=Decimal("60"))``.

    :raises ~finance_crm.errors.ValidationError: unknown type, bad share or dates.
    :raises ~finance_crm.errors.NotFoundError: either party is not in the graph.
    :raises ~finance_crm.errors.BusinessRuleViolation: holdings above 100%, a control
        or consolidation cycle.
    """
    relationship = Relationship.record(
        uow.relationship_types.get(type),
        source,
        target,
        valid_from=valid_from,
        valid_to=valid_to,
        share=share,
        amount=amount,
        reference=reference,
    )
    with uow.savepoint():
        return uow.relationships.add(relationship)


def end_relationship(
    uow: UnitOfWork, relationship_id: RelationshipId, on: datetime.date
) -> Relationship:
    """End a relationship: from ``on`` it no longer holds; its history stays."""
    current = uow.relationships.get(relationship_id)
    ended, events = current.ended(_day(on, "$.on"), uow.clock.now())
    with uow.savepoint():
        return uow.relationships.update(ended, events)


def replace_relationship(
    uow: UnitOfWork,
    relationship_id: RelationshipId,
    on: datetime.date,
    *,
    share: Decimal | int | str | None = None,
    amount: Money | None = None,
    valid_to: datetime.date | None = None,
    reference: str | None = None,
) -> tuple[Relationship, Relationship]:
    """End a relationship on ``on`` and record its successor from ``on`` with the changed
    terms (a new share after a capital increase, a new guaranteed amount), all or
    nothing; an argument left ``None`` keeps the old value. Returns (the ended one, the
    new one). The old share stops counting the day the new one starts, so replacing a
    60% holding by 70% checks the 100% rule against 70%, not 130%."""
    day = _day(on, "$.on")
    current = uow.relationships.get(relationship_id)
    with uow.savepoint():
        ended = end_relationship(uow, relationship_id, day)
        successor = Relationship.record(
            current.type,
            current.source,
            current.target,
            valid_from=day,
            valid_to=current.valid_to if valid_to is None else valid_to,
            share=current.share if share is None else share,
            amount=current.amount if amount is None else amount,
            reference=current.reference if reference is None else reference,
        )
        return ended, uow.relationships.add(successor)


# -- asking --------------------------------------------------------------------------


def _codes(uow: UnitOfWork, *categories: RelationshipCategory) -> frozenset[str]:
    return uow.relationship_types.codes(*categories)


def _existing(uow: UnitOfWork, party_id: PartyId) -> None:
    if uow.parties.find(party_id) is None:
        raise NotFoundError("no party with this id in the relationship graph")


def ultimate_parent(uow: UnitOfWork, party_id: PartyId, *, at: datetime.date) -> PartyId:
    """The top of the party's consolidation chain on ``at`` (the party itself when
    nothing consolidates it). With several tops the farthest wins, then the smallest id.
    """
    day = _day(at)
    _existing(uow, party_id)
    return _ultimate_parent(uow, party_id, day)


def _ultimate_parent(uow: UnitOfWork, party_id: PartyId, day: datetime.date) -> PartyId:
    above = uow.relationships.reach(
        party_id,
        at=day,
        types=_codes(uow, RelationshipCategory.CONSOLIDATION),
        direction=Direction.UP,
        max_hops=_MAX_DEPTH,
    )
    tops = [r for r in above if r.top]
    if not tops:
        return party_id
    return min(tops, key=lambda r: (-(r.hops or 0), r.party_id)).party_id


def actual_controller(uow: UnitOfWork, party_id: PartyId, *, at: datetime.date) -> PartyId | None:
    """The actual controller (实际控制人) on ``at``: following control and consolidation
    links up from the party, the farthest party reached through a control link (the
    controller of the parent counts, and so does the controller's own controller).
    ``None`` when no control link is recorded on the way up."""
    day = _day(at)
    _existing(uow, party_id)
    return _actual_controller(uow, party_id, day)


def _actual_controller(uow: UnitOfWork, party_id: PartyId, day: datetime.date) -> PartyId | None:
    control = _codes(uow, RelationshipCategory.CONTROL)
    above = uow.relationships.tree(
        party_id,
        at=day,
        types=uow.relationship_types.group_links,
        direction=Direction.UP,
        max_depth=_MAX_DEPTH,
    )
    controllers = [n for n in above if n.type in control]
    if not controllers:
        return None
    return min(controllers, key=lambda n: (-n.depth, n.party_id)).party_id


@attrs.frozen
class Group:
    """A group (集团) on a date: every party joined by control or consolidation links to
    the one asked about, the top of its consolidation chain and its actual controller."""

    anchor: PartyId
    at: datetime.date
    members: tuple[PartyId, ...]
    ultimate_parent: PartyId
    actual_controller: PartyId | None


def group_of(uow: UnitOfWork, party_id: PartyId, *, at: datetime.date) -> Group:
    """The group ``party_id`` belongs to on ``at`` (a party with no group links is a
    group of one)."""
    day = _day(at)
    _existing(uow, party_id)
    closure = uow.relationships.reach(
        party_id, at=day, types=uow.relationship_types.group_links, direction=Direction.BOTH
    )
    # Nothing controls or consolidates a party that is a top of the group links (no such
    # link points at it): it is its own ultimate parent and has no actual controller.
    top = next((r.top for r in closure if r.party_id == party_id), True)
    return Group(
        anchor=party_id,
        at=day,
        members=tuple(sorted(r.party_id for r in closure)),
        ultimate_parent=party_id if top else _ultimate_parent(uow, party_id, day),
        actual_controller=None if top else _actual_controller(uow, party_id, day),
    )


def group_tree(
    uow: UnitOfWork,
    root: PartyId,
    *,
    at: datetime.date,
    types: Collection[str] | None = None,
    max_depth: int = _MAX_DEPTH,
) -> list[TreeNode]:
    """The tree below ``root`` on ``at`` with depths (children at depth 1), along the
    direct control and consolidation links unless ``types`` says otherwise."""
    _existing(uow, root)
    return uow.relationships.tree(
        root,
        at=_day(at),
        types=uow.relationship_types.tree_links if types is None else types,
        direction=Direction.DOWN,
        max_depth=max_depth,
    )


@attrs.frozen
class EffectiveOwnership:
    """Look-through ownership of ``owner`` in ``owned`` on ``at``, in percent.

    ``share`` is the sum over every chain of shareholdings from the owner down to the
    owned company of the product of the shares along it, exact (no float). Chains
    that meet a company already on them (cross-holdings) are not followed round
    again: ``cycles_cut`` says how often that happened, ``depth_limited`` how often the
    depth limit stopped a chain. The sum never exceeds 100%.
    """

    owner: PartyId
    owned: PartyId
    at: datetime.date
    share: Decimal
    paths: tuple[Path, ...]
    cycles_cut: int
    depth_limited: int

    @property
    def complete(self) -> bool:
        """Whether no chain was cut short by a cycle or the depth limit."""
        return self.cycles_cut == 0 and self.depth_limited == 0


def _product(shares: Sequence[Decimal | None]) -> Decimal:
    product = Decimal(1)
    for share in shares:
        if share is None:  # pragma: no cover - ownership types always carry a share
            raise ValidationError("an ownership link without a share", path="$.types")
        product = product * share / HUNDRED_PERCENT
    return product


def effective_ownership(
    uow: UnitOfWork,
    owner: PartyId,
    owned: PartyId,
    *,
    at: datetime.date,
    max_depth: int = 10,
) -> EffectiveOwnership:
    """How much of ``owned`` ``owner`` holds on ``at``, directly and through every chain.

    The walk goes up from the owned company through its shareholders (a company has
    few holders; a parent may have thousands of subsidiaries), so it stays small.
    """
    day = _day(at)
    if owner == owned:
        raise ValidationError("owner and owned are the same party", path="$.owned")
    search = uow.relationships.paths(
        owned,
        owner,
        at=day,
        types=_codes(uow, RelationshipCategory.OWNERSHIP),
        direction=Direction.UP,
        max_length=max_depth,
    )
    if not search.paths:  # a path proves both parties exist; without one, say if one is missing
        _existing(uow, owner)
        _existing(uow, owned)
    with localcontext(prec=_OWNERSHIP_DIGITS):
        total = sum((_product(p.shares) for p in search.paths), Decimal(0)) * HUNDRED_PERCENT
    # Products of 4-decimal percentages are exact but long; 10 places is below any
    # figure a report shows and keeps the result readable.
    return EffectiveOwnership(
        owner=owner,
        owned=owned,
        at=day,
        share=total.quantize(Decimal("1E-10")).normalize() if total else Decimal(0),
        paths=search.paths,
        cycles_cut=search.cycles_cut,
        depth_limited=search.depth_limited,
    )


def related_parties(
    uow: UnitOfWork,
    party_id: PartyId,
    *,
    at: datetime.date,
    hops: int = 2,
    types: Collection[str] | None = None,
) -> list[Reached]:
    """Everyone within ``hops`` links of the party on ``at``, either direction, along
    ``types`` (every registered type when ``None``); the party itself is left out."""
    _existing(uow, party_id)
    found = uow.relationships.reach(
        party_id,
        at=_day(at),
        types=frozenset(t.code for t in uow.relationship_types) if types is None else types,
        direction=Direction.BOTH,
        max_hops=hops,
    )
    return [r for r in found if r.party_id != party_id]


def household(uow: UnitOfWork, person: PartyId, *, at: datetime.date) -> tuple[PartyId, ...]:
    """The person's household on ``at``: everyone joined to them by family links
    (spouse, family member), the person included."""
    _existing(uow, person)
    found = uow.relationships.reach(
        person,
        at=_day(at),
        types=_codes(uow, RelationshipCategory.FAMILY),
        direction=Direction.BOTH,
    )
    return tuple(sorted(r.party_id for r in found))


def guarantee_chain(
    uow: UnitOfWork,
    party_id: PartyId,
    *,
    at: datetime.date,
    direction: Direction = Direction.DOWN,
    max_depth: int = 10,
) -> list[TreeNode]:
    """The guarantee chain (担保链) from a party on ``at``: ``DOWN`` whom it guarantees,
    and whom they guarantee in turn; ``UP`` who guarantees it, and who guarantees them.

    Guarantee networks are often circular (互保), and the SQL walk's cost grows with
    the depth limit round a cycle, so the default stops at 10 links; raise it when you
    need the whole chain.
    """
    _existing(uow, party_id)
    if direction is Direction.BOTH:
        raise ValidationError("a guarantee chain runs DOWN or UP", path="$.direction")
    return uow.relationships.tree(
        party_id,
        at=_day(at),
        types=_codes(uow, RelationshipCategory.GUARANTEE),
        direction=direction,
        max_depth=max_depth,
    )


@attrs.frozen
class GuaranteeCircle:
    """A guarantee circle (担保圈, 互保): parties each guaranteeing the next, the last
    guaranteeing the first. ``parties`` starts and ends with the party asked about."""

    parties: tuple[PartyId, ...]
    relationships: tuple[RelationshipId, ...]


def guarantee_circles(
    uow: UnitOfWork, party_id: PartyId, *, at: datetime.date, max_length: int = 10
) -> list[GuaranteeCircle]:
    """Every guarantee circle through the party on ``at`` (mutual guarantees are circles
    of two), of at most ``max_length`` guarantees."""
    _existing(uow, party_id)
    search = uow.relationships.paths(
        party_id,
        party_id,
        at=_day(at),
        types=_codes(uow, RelationshipCategory.GUARANTEE),
        direction=Direction.DOWN,
        max_length=max_length,
    )
    return [GuaranteeCircle(p.parties, p.relationships) for p in search.paths]


def party_names(uow: UnitOfWork, party_ids: Collection[PartyId]) -> dict[PartyId, str]:
    """Display names of parties as this actor may see them: a person's name masked
    unless the actor's role unmasks it, a company's name as registered."""
    masking = uow.masking
    names = {}
    for party_id, party in uow.parties.get_many(party_ids).items():
        kind = party.name_kind
        names[party_id] = masking.mask(kind, party.name) if kind else party.name
    return names


# -- the group view ------------------------------------------------------------------


@attrs.frozen
class GroupMemberLine:
    """One member of a group as its view shows it.

    ``name`` is masked for the actor when the member is a person. ``depth`` is the
    member's depth below the ultimate parent (0 for the parent, ``None`` for members
    joined by control only, outside the consolidation tree). ``primary`` and
    ``secondary`` are the customer's managers (None for non-customers and customers
    outside the actor's scope).
    """

    party_id: PartyId
    name: str
    kind: PartyKind
    customer_id: CustomerId | None
    depth: int | None
    primary: StaffId | None
    secondary: StaffId | None
    figures: MemberFigures | None
    guarantees_given: Money | None


@attrs.frozen
class GroupView:
    """A whole group on one date: its members, totals and managers (集团视图).

    Totals are ``None`` when no member's figure is known (the figures source knows
    nothing), never a made-up zero. ``guarantees_outside`` is the part of the
    guarantees members gave to parties outside the group: the group's contingent
    exposure to others. ``related`` lists the parties within ``related_hops`` of any
    member through other links (officers, family, family enterprises, guarantees,
    supply chain) that are not members themselves.
    """

    at: datetime.date
    anchor: PartyId
    ultimate_parent: PartyId
    actual_controller: PartyId | None
    members: tuple[GroupMemberLine, ...]
    customers_held: int
    total_aum: Money | None
    total_loans: Money | None
    total_contribution: Money | None
    guarantees_given: Money | None
    guarantees_outside: Money | None
    group_manager: StaffId | None
    related: tuple[Reached, ...]


def _total(values: Sequence[Money | None], currency: str) -> Money | None:
    known = [v for v in values if v is not None]
    return Money.total(known, currency) if known else None


def group_view(
    uow: UnitOfWork,
    party_id: PartyId,
    *,
    at: datetime.date,
    rules: GroupRules = _DEFAULT_RULES,
    currency: str = "CNY",
    related_hops: int = 1,
) -> GroupView:
    """The group ``party_id`` belongs to on ``at``, seen whole: every member with its
    managers and figures, the totals, guarantees given (in and outside the group), the
    group's primary manager and the related parties around it.

    Figures come from ``rules.figures`` in one call for all member customers; they and
    the guarantees must be in ``currency`` (CurrencyMismatch otherwise).
    """
    day = _day(at)
    group = group_of(uow, party_id, at=day)
    members = group.members
    parties = uow.parties.get_many(members)
    depths = {group.ultimate_parent: 0}
    for node in group_tree(uow, group.ultimate_parent, at=day):
        depths.setdefault(node.party_id, node.depth)
    customer_ids = [p.customer_id for p in parties.values() if p.customer_id is not None]
    assignments = uow.assignments.find_many(customer_ids)
    figures = rules.figures.figures_for(customer_ids, day) if customer_ids else {}
    guarantee_types = _codes(uow, RelationshipCategory.GUARANTEE)
    member_set = set(members)
    given: dict[PartyId, list[Money]] = {}
    outside: list[Money] = []
    for member in members:
        for r in uow.relationships.of_party(
            member, at=day, types=guarantee_types, direction=Direction.DOWN
        ):
            assert r.amount is not None
            given.setdefault(member, []).append(r.amount)
            if r.target not in member_set:
                outside.append(r.amount)
    masking = uow.masking
    lines = []
    managed: list[MemberManagers] = []
    for member in members:
        party = parties[member]
        assignment = assignments.get(party.customer_id) if party.customer_id else None
        member_figures = figures.get(party.customer_id) if party.customer_id else None
        name_kind = party.name_kind
        lines.append(
            GroupMemberLine(
                party_id=member,
                name=masking.mask(name_kind, party.name) if name_kind else party.name,
                kind=party.kind,
                customer_id=party.customer_id,
                depth=depths.get(member),
                primary=assignment.primary if assignment else None,
                secondary=assignment.secondary if assignment else None,
                figures=member_figures,
                guarantees_given=_total(given.get(member, []), currency),
            )
        )
        if party.customer_id is not None:
            managed.append(
                MemberManagers(
                    party_id=member,
                    customer_id=party.customer_id,
                    primary=assignment.primary if assignment else None,
                    aum=member_figures.aum if member_figures else None,
                )
            )
    related: dict[PartyId, Reached] = {}
    if related_hops > 0:
        for member in members:
            for near in related_parties(uow, member, at=day, hops=related_hops):
                if near.party_id in member_set:
                    continue
                known = related.get(near.party_id)
                if known is None or (near.hops or 0) < (known.hops or 0):
                    related[near.party_id] = near
    return GroupView(
        at=day,
        anchor=party_id,
        ultimate_parent=group.ultimate_parent,
        actual_controller=group.actual_controller,
        members=tuple(
            sorted(lines, key=lambda m: (m.depth is None, m.depth or 0, m.name, m.party_id))
        ),
        customers_held=len(customer_ids),
        total_aum=_total([f.aum for f in figures.values()], currency),
        total_loans=_total([f.loans for f in figures.values()], currency),
        total_contribution=_total([f.contribution for f in figures.values()], currency),
        guarantees_given=_total([m for ms in given.values() for m in ms], currency),
        guarantees_outside=_total(outside, currency),
        group_manager=rules.manager.group_manager(group.ultimate_parent, managed),
        related=tuple(sorted(related.values(), key=lambda r: (r.hops or 0, r.party_id))),
    )
