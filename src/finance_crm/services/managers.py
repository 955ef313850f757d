"""Customer-manager use cases: assign, cover leave, split credit, hand over, rebalance.

Every function takes the unit of work first; the actor is the unit of work's, and the
repositories enforce the actor's access scope. Nothing here commits: the host calls
``uow.commit()``, so a handover and the host's own writes can share a transaction.
A function that fails leaves the unit of work exactly as it found it (it works in a
savepoint).
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal

import attrs

from finance_crm.clock import business_date, end_of_business_day, ensure_utc
from finance_crm.errors import BusinessRuleViolation, NotFoundError, ValidationError
from finance_crm.ids import CustomerId, OrgUnitCode, StaffId
from finance_crm.model.assignments import (
    AssignedManager,
    Assignment,
    AssignmentRecord,
    ManagerRole,
)
from finance_crm.model.events import DomainEvent
from finance_crm.model.organization import OrgUnit, OrgUnitKind, StaffMember, StaffRole
from finance_crm.money import Money
from finance_crm.ports import UnitOfWork
from finance_crm.rules.managers import Candidate, ManagerRules, SuccessorPool

__all__ = [
    "ActingManager",
    "BookLine",
    "HandoverReport",
    "ReasonLine",
    "Reassignment",
    "RebalanceReport",
    "acting_manager",
    "assign_managers",
    "assignment_history",
    "book_report",
    "depart_staff",
    "hand_over_book",
    "manager_on",
    "reason_report",
    "reassign_many",
    "split_credit",
]

_DEFAULT_RULES = ManagerRules()
_BATCH = 1000
_BLOCKERS_SHOWN = 20


def _at(uow: UnitOfWork, at: datetime.datetime | None) -> datetime.datetime:
    now = uow.clock.now()
    if at is None:
        return now
    at = ensure_utc(at)
    if at > now:
        raise ValidationError(
            "a change cannot take effect in the future; make it when it is due",
            path="$.at",
        )
    return at


def _team(
    *,
    primary: StaffId,
    secondary: StaffId | None,
    team: Iterable[StaffId],
    chief: StaffId | None,
    shares: Mapping[StaffId, Decimal] | None,
    rules: ManagerRules,
) -> tuple[AssignedManager, ...]:
    if isinstance(team, str):
        raise ValidationError("team is a sequence of staff ids", path="$.team")
    slots: list[tuple[StaffId, ManagerRole]] = [(primary, ManagerRole.PRIMARY)]
    if secondary is not None:
        slots.append((secondary, ManagerRole.SECONDARY))
    if chief is not None:
        slots.append((chief, ManagerRole.CHIEF))
    slots += [(member, ManagerRole.TEAM_MEMBER) for member in team]
    return _with_split(slots, shares, rules)


def _with_split(
    slots: Sequence[tuple[StaffId, ManagerRole]],
    shares: Mapping[StaffId, Decimal] | None,
    rules: ManagerRules,
) -> tuple[AssignedManager, ...]:
    if shares is None:
        computed = rules.split.shares([role for _, role in slots])
        return tuple(AssignedManager(s, r, p) for (s, r), p in zip(slots, computed, strict=True))
    if not isinstance(shares, Mapping):
        raise ValidationError("shares map staff ids to percentages", path="$.shares")
    missing = [s for s, _ in slots if s not in shares]
    extra = set(shares) - {s for s, _ in slots}
    if missing or extra:
        raise ValidationError(
            "shares must name exactly the customer's managers, one share each",
            path="$.shares",
        )
    return tuple(AssignedManager(s, r, shares[s]) for s, r in slots)


class _Staff:
    """Staff records read once per call, with their units' paths."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._staff: dict[StaffId, StaffMember] = {}

    def get(self, staff_id: StaffId) -> StaffMember:
        found = self._staff.get(staff_id)
        if found is None:
            if not isinstance(staff_id, str):
                raise ValidationError("a staff id is the staff member's code", path="$.staff_id")
            found = self._uow.organization.find_staff(staff_id)
            if found is None:
                raise NotFoundError(
                    "no staff member with this id; add them with uow.organization.add_staff() first"
                )
            self._staff[staff_id] = found
        return found

    def check_can_serve(self, managers: Iterable[AssignedManager]) -> None:
        for m in managers:
            staff = self.get(m.staff_id)
            if not staff.is_active:
                raise BusinessRuleViolation(
                    f"staff member {staff.id} has departed and cannot be assigned; "
                    "choose an active manager"
                )


def _check_capacity(
    uow: UnitOfWork,
    staff: _Staff,
    loads: dict[StaffId, int],
    new_primaries: Counter[StaffId],
    rules: ManagerRules,
    override: str | None,
) -> None:
    """Refuse primaries pushed beyond capacity unless ``override`` explains why."""
    unknown = [s for s in new_primaries if s not in loads]
    if unknown:
        loads.update(uow.assignments.book_sizes(unknown))
    over = []
    for staff_id, added in sorted(new_primaries.items()):
        capacity = rules.capacity.capacity_of(staff.get(staff_id))
        if loads[staff_id] + added > capacity:
            over.append(f"{staff_id} (holds {loads[staff_id]}, +{added}, capacity {capacity})")
    if over and override is None:
        raise BusinessRuleViolation(
            "beyond capacity: " + ", ".join(over) + "; choose another manager or pass "
            "capacity_override='why' to record a deliberate exception"
        )


def assign_managers(
    uow: UnitOfWork,
    customer_id: CustomerId,
    *,
    primary: StaffId,
    secondary: StaffId | None = None,
    team: Iterable[StaffId] = (),
    chief: StaffId | None = None,
    shares: Mapping[StaffId, Decimal] | None = None,
    reason: str,
    at: datetime.datetime | None = None,
    capacity_override: str | None = None,
    rules: ManagerRules = _DEFAULT_RULES,
) -> Assignment:
    """Set a customer's whole team of managers from ``at`` (default now) on.

    Shares come from ``rules.split`` (primary 70 / secondary 30 by default) unless given.
    ``reason`` must be one of ``rules.reasons``. A primary beyond capacity is refused
    unless ``capacity_override`` says why. Returns the stored assignment.
    """
    reason = rules.reasons.check(reason)
    when = _at(uow, at)
    managers = _team(
        primary=primary, secondary=secondary, team=team, chief=chief, shares=shares, rules=rules
    )
    with uow.savepoint():
        staff = _Staff(uow)
        staff.check_can_serve(managers)
        current = uow.assignments.find(customer_id)
        if current is None or current.primary != primary:
            _check_capacity(uow, staff, {}, Counter({primary: 1}), rules, capacity_override)
        if current is None:
            new, events = Assignment.first(
                customer_id, managers, at=when, reason=reason, capacity_override=capacity_override
            )
            return uow.assignments.add(new, events)
        new, events = current.change(
            managers, at=when, reason=reason, capacity_override=capacity_override
        )
        return uow.assignments.update(new, events)


# -- leave cover and credit ---------------------------------------------------------


@attrs.frozen
class ActingManager:
    """Who serves the customer on a day, and whom they cover for.

    ``covering_for`` is the primary when the secondary (or, failing that, the chief)
    acts during the primary's leave. ``uncovered`` is true when the primary is away and
    nobody on the team can stand in: the primary stays responsible and a supervisor
    should arrange cover.
    """

    staff_id: StaffId
    covering_for: StaffId | None = None
    uncovered: bool = False


def manager_on(
    uow: UnitOfWork,
    customer_id: CustomerId,
    day: datetime.date,
) -> AssignmentRecord:
    """The customer's assignment as the business day ``day`` closed."""
    record = uow.assignments.as_of(customer_id, end_of_business_day(day, uow.timezone))
    if record is None:
        raise NotFoundError("the customer had no managers on that day")
    return record


def acting_manager(
    uow: UnitOfWork,
    customer_id: CustomerId,
    day: datetime.date | None = None,
) -> ActingManager:
    """Who serves the customer on ``day`` (default today): the primary, or the secondary
    while the primary is on leave (双客户经理制), or the chief if the secondary is away too."""
    if day is None:
        day = business_date(uow.clock, uow.timezone)
    record = manager_on(uow, customer_id, day)
    staff = _Staff(uow)

    def serves(member: StaffMember) -> bool:  # as on that day, not as today
        still_employed = member.departed_at is None or (
            business_date(member.departed_at, uow.timezone) > day
        )
        return still_employed and not member.on_leave(day)

    primary = staff.get(record.primary)
    if serves(primary):
        return ActingManager(primary.id)
    cover = [record.secondary, record.assignment().chief]
    for candidate in cover:
        if candidate is not None and serves(staff.get(candidate)):
            return ActingManager(candidate, covering_for=primary.id)
    return ActingManager(primary.id, uncovered=True)


def split_credit(
    uow: UnitOfWork,
    customer_id: CustomerId,
    amount: Money,
    day: datetime.date | None = None,
) -> dict[StaffId, Money]:
    """Split ``amount`` (a fee, an AUM increase, a premium) across the customer's managers
    on ``day`` by their shares, exactly: the parts sum to ``amount`` to the minor unit
    (largest remainder)."""
    if not isinstance(amount, Money):
        raise ValidationError("amount must be Money", path="$.amount")
    if day is None:
        day = business_date(uow.clock, uow.timezone)
    record = manager_on(uow, customer_id, day)
    parts = amount.allocate([m.share for m in record.managers])
    return {m.staff_id: part for m, part in zip(record.managers, parts, strict=True)}


def assignment_history(uow: UnitOfWork, customer_id: CustomerId) -> list[AssignmentRecord]:
    """Every version of the customer's assignment, oldest first, with reasons and actors."""
    return uow.assignments.history(customer_id)


# -- handover -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class HandoverReport:
    """What a handover did, by outcome."""

    leaver: StaffId
    reason: str
    secondary_promoted: int
    reassigned: int
    roles_closed: Mapping[str, int]
    successors: Mapping[StaffId, int]
    departed: bool

    @property
    def customers(self) -> int:
        return self.secondary_promoted + self.reassigned + sum(self.roles_closed.values())


def _pool(
    uow: UnitOfWork, leaver: StaffMember, rules: ManagerRules, promoted: Counter[StaffId]
) -> SuccessorPool:
    """Candidates nearest first; ``promoted`` counts customers this handover already gave
    them (secondaries promoted), so the choice sees the load they will really carry."""
    unit = uow.organization.get_unit(leaver.unit)
    nearest_first = [unit.code, *reversed(unit.ancestors)]

    def levels() -> Iterator[list[Candidate]]:
        for code in nearest_first:
            staff = [
                s
                for s in uow.organization.staff(unit=code)
                if s.is_active and s.id != leaver.id and StaffRole.CUSTOMER_MANAGER in s.roles
            ]
            sizes = uow.assignments.book_sizes([s.id for s in staff]) if staff else {}
            yield [
                Candidate(s, sizes.get(s.id, 0) + promoted[s.id], rules.capacity.capacity_of(s))
                for s in staff
            ]

    return SuccessorPool(levels())


def hand_over_book(
    uow: UnitOfWork,
    leaver_id: StaffId,
    *,
    reason: str = "staff_departure",
    at: datetime.datetime | None = None,
    depart: bool = True,
    rules: ManagerRules = _DEFAULT_RULES,
) -> HandoverReport:
    """Hand a departing manager's whole book over, in one go, then mark them departed.

    Where the leaver is primary, an active secondary is promoted at once; a customer
    with no secondary goes to the manager ``rules.handover`` chooses (by default the
    least-loaded manager with spare capacity in the leaver's unit, then the parent
    unit, and so on). Secondary, chief and team roles the leaver held are closed. Shares
    are recomputed by ``rules.split``.

    All or nothing: if any customer would be left without a primary, BusinessRuleViolation
    lists them and nothing is changed.
    """
    reason = rules.reasons.check(reason)
    when = _at(uow, at)
    with uow.savepoint():
        staff = _Staff(uow)
        leaver = staff.get(leaver_id)
        if not leaver.is_active:
            raise BusinessRuleViolation("this staff member has already departed")
        book = list(uow.assignments.book(leaver.id))
        promoted: Counter[StaffId] = Counter()
        for current in book:  # promotions first, so successors are chosen on real loads
            secondary = current.secondary
            if (
                current.role_of(leaver.id) is ManagerRole.PRIMARY
                and secondary is not None
                and staff.get(secondary).is_active
            ):
                promoted[secondary] += 1
        pool = _pool(uow, leaver, rules, promoted)
        changes: list[tuple[Assignment, Sequence[DomainEvent]]] = []
        blockers: list[CustomerId] = []
        reassigned = 0
        closed: Counter[str] = Counter()
        successors: Counter[StaffId] = Counter()
        for current in book:
            role = current.role_of(leaver.id)
            slots = [(m.staff_id, m.role) for m in current.managers if m.staff_id != leaver.id]
            secondary = current.secondary
            if role is ManagerRole.PRIMARY and secondary is not None and secondary in promoted:
                slots = [(s, ManagerRole.PRIMARY if s == secondary else r) for s, r in slots]
            elif role is ManagerRole.PRIMARY:
                successor = rules.handover.choose_successor(current.customer_id, leaver, pool)
                if successor is None:
                    blockers.append(current.customer_id)
                    continue
                pool.take(successor.id)
                successors[successor.id] += 1
                slots = [(s, r) for s, r in slots if s != successor.id]
                slots.insert(0, (successor.id, ManagerRole.PRIMARY))
                reassigned += 1
            else:
                assert role is not None
                closed[role.value] += 1
            new, events = current.change(_with_split(slots, None, rules), at=when, reason=reason)
            changes.append((new, events))
        if blockers:
            shown = ", ".join(str(c) for c in blockers[:_BLOCKERS_SHOWN])
            more = f" and {len(blockers) - _BLOCKERS_SHOWN} more" if len(blockers) > 20 else ""
            raise BusinessRuleViolation(
                f"{len(blockers)} customers would be left without a primary manager: no "
                f"secondary to promote and no manager with spare capacity in unit "
                f"{leaver.unit} or above ({shown}{more}); add managers, raise capacity or "
                "reassign them first. Nothing was changed."
            )
        for start in range(0, len(changes), _BATCH):
            uow.assignments.update_many(changes[start : start + _BATCH])
        if depart:
            departed, events = leaver.depart(at=when, reason=reason)
            uow.organization.update_staff(departed, events)
    return HandoverReport(
        leaver=leaver.id,
        reason=reason,
        secondary_promoted=sum(promoted.values()),
        reassigned=reassigned,
        roles_closed=dict(closed),
        successors=dict(successors),
        departed=depart,
    )


def depart_staff(
    uow: UnitOfWork,
    staff_id: StaffId,
    *,
    reason: str = "staff_departure",
    at: datetime.datetime | None = None,
) -> StaffMember:
    """Mark a staff member departed. Refused (listing the customers) while any customer
    still has them as a manager; :func:`hand_over_book` does both at once."""
    when = _at(uow, at)
    staff = uow.organization.get_staff(staff_id)
    departed, events = staff.depart(at=when, reason=reason)
    return uow.organization.update_staff(departed, events)


# -- rebalancing ----------------------------------------------------------------------


@attrs.frozen
class Reassignment:
    """Move one customer's ``role`` (primary by default) to ``to``."""

    customer_id: CustomerId
    to: StaffId
    role: ManagerRole = ManagerRole.PRIMARY

    def __attrs_post_init__(self) -> None:
        if self.role not in (ManagerRole.PRIMARY, ManagerRole.SECONDARY, ManagerRole.CHIEF):
            raise ValidationError(
                "a move replaces the primary, secondary or chief; change team members "
                "with assign_managers",
                path="$.role",
            )


@attrs.frozen(kw_only=True)
class RebalanceReport:
    moved: int
    unchanged: int
    received: Mapping[StaffId, int]


def _chunks(items: Iterable[Reassignment], size: int) -> Iterator[list[Reassignment]]:
    batch: list[Reassignment] = []
    for item in items:
        if not isinstance(item, Reassignment):
            raise ValidationError("each move is a Reassignment", path="$.moves")
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def reassign_many(
    uow: UnitOfWork,
    moves: Iterable[Reassignment],
    *,
    reason: str,
    at: datetime.datetime | None = None,
    capacity_override: str | None = None,
    rules: ManagerRules = _DEFAULT_RULES,
) -> RebalanceReport:
    """Move customers between managers in bulk (a branch reorganisation, a rebalance).

    ``moves`` may be any iterable (a generator over millions streams in batches). The
    new holder of a role leaves any other role they held on that customer; moving the
    primary to the current secondary swaps nothing back (the old primary leaves the
    team). Capacity is checked for new primaries. All or nothing.
    """
    reason = rules.reasons.check(reason)
    when = _at(uow, at)
    moved = unchanged = 0
    received: Counter[StaffId] = Counter()
    loads: dict[StaffId, int] = {}
    with uow.savepoint():
        staff = _Staff(uow)
        for batch in _chunks(moves, _BATCH):
            if len({m.customer_id for m in batch}) != len(batch):
                raise ValidationError(
                    "a customer appears twice in one batch of moves; "
                    "give one move per customer and role",
                    path="$.moves",
                )
            current = uow.assignments.find_many([m.customer_id for m in batch])
            changes: list[tuple[Assignment, Sequence[DomainEvent]]] = []
            gained: Counter[StaffId] = Counter()
            released: Counter[StaffId] = Counter()
            for move in batch:
                assignment = current.get(move.customer_id)
                if assignment is None:
                    raise NotFoundError(
                        "a customer to move has no managers (or is outside your scope); "
                        "use assign_managers for a first assignment"
                    )
                holder = next(
                    (m.staff_id for m in assignment.managers if m.role is move.role), None
                )
                if holder == move.to:
                    unchanged += 1
                    continue
                if move.role is not ManagerRole.PRIMARY and move.to == assignment.primary:
                    raise ValidationError(
                        "the manager to move in is this customer's primary; move the primary "
                        "to someone else first",
                        path="$.moves",
                    )
                staff.check_can_serve([AssignedManager(move.to, move.role, Decimal(0))])
                slots = [
                    (m.staff_id, m.role)
                    for m in assignment.managers
                    if m.staff_id != move.to and m.role is not move.role
                ]
                slots.append((move.to, move.role))
                if move.role is ManagerRole.PRIMARY:
                    gained[move.to] += 1
                    released[assignment.primary] += 1
                new, events = assignment.change(
                    _with_split(slots, None, rules),
                    at=when,
                    reason=reason,
                    capacity_override=capacity_override,
                )
                changes.append((new, events))
                received[move.to] += 1
            _check_capacity(uow, staff, loads, gained - released, rules, capacity_override)
            for staff_id in set(gained) | set(released):
                if staff_id in loads:
                    loads[staff_id] += gained[staff_id] - released[staff_id]
            uow.assignments.update_many(changes)
            moved += len(changes)
    return RebalanceReport(moved=moved, unchanged=unchanged, received=dict(received))


# -- reports --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class BookLine:
    """One manager's book: customers held as primary against their capacity."""

    staff_id: StaffId
    unit: OrgUnitCode
    book_size: int
    capacity: int
    on_leave: bool

    @property
    def spare(self) -> int:
        return self.capacity - self.book_size


def book_report(
    uow: UnitOfWork,
    *,
    unit: OrgUnitCode | None = None,
    day: datetime.date | None = None,
    rules: ManagerRules = _DEFAULT_RULES,
) -> list[BookLine]:
    """Book size and capacity per active customer manager (in ``unit`` and below)."""
    if day is None:
        day = business_date(uow.clock, uow.timezone)
    staff = [
        s
        for s in uow.organization.staff(unit=unit)
        if s.is_active and StaffRole.CUSTOMER_MANAGER in s.roles
    ]
    sizes = uow.assignments.book_sizes([s.id for s in staff]) if staff else {}
    return [
        BookLine(
            staff_id=s.id,
            unit=s.unit,
            book_size=sizes.get(s.id, 0),
            capacity=rules.capacity.capacity_of(s),
            on_leave=s.on_leave(day),
        )
        for s in staff
    ]


@attrs.frozen(kw_only=True)
class ReasonLine:
    """A row of the reassignment-reason report (改派原因分析)."""

    reason: str
    description: str
    unit: OrgUnitCode
    period: str
    count: int


def _branch_of(code: OrgUnitCode, units: Mapping[OrgUnitCode, OrgUnit]) -> OrgUnitCode:
    unit = units.get(code)
    if unit is None:
        return code
    for ancestor in (unit.code, *reversed(unit.ancestors)):
        found = units.get(ancestor)
        if found is not None and found.kind in (OrgUnitKind.BRANCH, OrgUnitKind.HEAD_OFFICE):
            return found.code
    return code


def reason_report(
    uow: UnitOfWork,
    *,
    since: datetime.date,
    until: datetime.date,
    by: str = "month",
    rules: ManagerRules = _DEFAULT_RULES,
) -> list[ReasonLine]:
    """Reassignments from business day ``since`` to ``until`` (both included), counted
    by reason, branch (the new primary's) and period (``by``: "day", "month" or "all")."""
    if by not in ("day", "month", "all"):
        raise ValidationError("by is 'day', 'month' or 'all'", path="$.by")
    if until < since:
        raise ValidationError("until is before since; swap them", path="$.until")
    start = end_of_business_day(datetime.date.fromordinal(since.toordinal() - 1), uow.timezone).add(
        microseconds=1
    )
    end = end_of_business_day(until, uow.timezone).add(microseconds=1)
    units = {u.code: u for u in uow.organization.units()}
    totals: Counter[tuple[str, OrgUnitCode, str]] = Counter()
    for row in uow.assignments.reason_counts(since=start, until=end):
        if by == "day":
            period = row.day.isoformat()
        elif by == "month":
            period = row.day.isoformat()[:7]
        else:
            period = f"{since.isoformat()}..{until.isoformat()}"
        totals[(row.reason, _branch_of(row.unit, units), period)] += row.count
    return [
        ReasonLine(
            reason=reason,
            description=rules.reasons.codes.get(reason, reason),
            unit=unit,
            period=period,
            count=count,
        )
        for (reason, unit, period), count in sorted(totals.items())
    ]
