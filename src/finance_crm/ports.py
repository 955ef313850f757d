"""Ports: what the domain needs from storage, as Protocols every adapter implements.

A *store* hands out *units of work*. A unit of work is one transaction: everything done
through its repositories, with the audit records and outbox events those changes
write, is committed together by :meth:`UnitOfWork.commit` or not at all. Leaving the
``with`` block without committing rolls back.

The same code runs on :class:`finance_crm.adapters.memory.InMemoryStore` (tests) and
:class:`finance_crm.adapters.sql.SqlStore` (SQLite, PostgreSQL); the contract suites in
:mod:`finance_crm.testing` prove it.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

import attrs

from finance_crm.access import AccessScope
from finance_crm.clock import Clock
from finance_crm.ids import (
    AccountId,
    ActivityId,
    CustomerId,
    EventId,
    OrgUnitCode,
    PartyId,
    RelationshipId,
    ServiceTaskId,
    StaffId,
)
from finance_crm.model.accounts import Account, DailyBalance
from finance_crm.model.activities import Activity, ActivityKind, SpotCheck
from finance_crm.model.assignments import Assignment, AssignmentRecord, ManagerRole
from finance_crm.model.customers import Customer
from finance_crm.model.documents import IdDocumentType
from finance_crm.model.events import DomainEvent
from finance_crm.model.organization import OrgUnit, StaffMember
from finance_crm.model.relationships import (
    Direction,
    Party,
    PathSearch,
    Reached,
    Relationship,
    RelationshipTypes,
    TreeNode,
)
from finance_crm.model.service_standards import ServiceStandard, ServiceTask
from finance_crm.model.tiers import RetierReport, TierRecord
from finance_crm.model.transactions import ContributionFigure, Transaction
from finance_crm.security import Actor, MaskingRule

if TYPE_CHECKING:  # rules/__init__ imports services, which import this module
    from finance_crm.rules.tiers import TierRule

__all__ = [
    "AccountRepository",
    "ActivityRepository",
    "AssignmentRepository",
    "AuditEntry",
    "AuditTrail",
    "BalanceRepository",
    "ComplianceCount",
    "ContributionRepository",
    "CustomerOrder",
    "CustomerPage",
    "CustomerRepository",
    "CustomerSummary",
    "OrganizationRepository",
    "Outbox",
    "OutboxMessage",
    "PartyRepository",
    "ReasonCount",
    "RelationshipRepository",
    "ServiceTaskRepository",
    "Store",
    "TaskGeneration",
    "TierRepository",
    "TransactionRepository",
    "UnitOfWork",
]


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One append-only audit record: who changed what, when, from what to what.

    ``changes`` maps a field name to ``{"before": ..., "after": ...}`` in wire format,
    with personal values masked by the store's masking rule.
    """

    sequence: int
    recorded_at: datetime.datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    entity_version: int
    changes: Mapping[str, Mapping[str, Any]]


@attrs.frozen(kw_only=True)
class OutboxMessage:
    """A domain event waiting in the outbox for the host to publish it."""

    sequence: int
    event_id: EventId
    event_type: str
    aggregate_id: str
    occurred_at: datetime.datetime
    payload: Mapping[str, Any]


class CustomerOrder(enum.Enum):
    """How a page of customers is ordered (ties broken by customer id)."""

    NAME = "name"
    CUSTOMER_NUMBER = "customer_number"
    OPENED_AT = "opened_at"


@attrs.frozen(kw_only=True)
class CustomerSummary:
    """One line of a customer list, with the name masked unless the actor may see it."""

    id: CustomerId
    customer_number: str
    kind: str
    status: str
    name: str
    risk_level: int | None
    primary_manager: StaffId | None


@attrs.frozen(kw_only=True)
class CustomerPage:
    """A page of customers and the cursor for the next page (``None`` on the last)."""

    items: tuple[CustomerSummary, ...]
    next_cursor: str | None


@attrs.frozen(kw_only=True)
class ReasonCount:
    """How many reassignments gave ``reason`` on ``day`` for customers whose new primary
    manager sat in ``unit`` (a row of the 改派原因 report)."""

    reason: str
    unit: OrgUnitCode
    day: datetime.date
    count: int


class CustomerRepository(Protocol):
    """Customers in one unit of work, within the actor's access scope.

    Reads outside the scope behave as if the customer did not exist; writes to a
    customer outside it raise :class:`~finance_crm.errors.PermissionDenied`.
    """

    def add(self, customer: Customer) -> None:
        """Store a new customer (audited, with a ``CustomerOpened`` event).

        Raises :class:`~finance_crm.errors.DuplicateError` when the customer number or an
        identity document already belongs to another customer.
        """

    def add_many(self, customers: Sequence[Customer]) -> None:
        """Store a batch of new customers in as few statements as the backend allows."""

    def get(self, customer_id: CustomerId) -> Customer:
        """The customer, or :class:`~finance_crm.errors.NotFoundError`."""

    def get_by_number(self, customer_number: str) -> Customer:
        """The customer with this customer number, or NotFoundError."""

    def find_by_document(
        self, document_type: IdDocumentType, number: str, issuing_country: str = "CN"
    ) -> Customer | None:
        """The customer identified by this document, if any."""

    def update(self, customer: Customer, events: Sequence[DomainEvent] = ()) -> Customer:
        """Store a changed customer; returns it with its version moved on by one.

        ``customer.version`` must be the version that was read: if another unit of work
        stored a newer one since, :class:`~finance_crm.errors.ConflictError` is raised
        and nothing is written.
        """

    def count(self) -> int:
        """How many customers the store holds within the actor's scope."""

    def stream(self, *, batch_size: int = 1000) -> Iterator[Customer]:
        """Every customer in scope in id order, fetched ``batch_size`` at a time."""

    def page(
        self,
        *,
        order: CustomerOrder = CustomerOrder.NAME,
        limit: int = 50,
        cursor: str | None = None,
    ) -> CustomerPage:
        """One page of the customers in scope, as summaries masked for the actor.

        Pass the previous page's ``next_cursor`` to get the next one (keyset paging:
        stable while customers are added).
        """


class OrganizationRepository(Protocol):
    """Units of the organisation and the staff in them."""

    def add_unit(self, unit: OrgUnit) -> None:
        """Store a new unit; its parent must exist. DuplicateError if the code is taken."""

    def get_unit(self, code: OrgUnitCode) -> OrgUnit:
        """The unit, or NotFoundError."""

    def find_unit(self, code: OrgUnitCode) -> OrgUnit | None:
        """The unit, if any."""

    def units(self) -> list[OrgUnit]:
        """Every unit, parents before children (by path)."""

    def add_staff(self, staff: StaffMember) -> None:
        """Store a new staff member; their unit must exist."""

    def get_staff(self, staff_id: StaffId) -> StaffMember:
        """The staff member, or NotFoundError."""

    def find_staff(self, staff_id: StaffId) -> StaffMember | None:
        """The staff member, if any."""

    def update_staff(self, staff: StaffMember, events: Sequence[DomainEvent] = ()) -> StaffMember:
        """Store a changed staff record (version-checked like customers).

        Storing a departure is refused with BusinessRuleViolation while any customer
        still has this person as a manager: hand the book over first.
        """

    def staff(
        self, *, unit: OrgUnitCode | None = None, include_subunits: bool = True
    ) -> list[StaffMember]:
        """Staff in ``unit`` (and below it), or everyone, ordered by staff id."""


class AssignmentRepository(Protocol):
    """Customers' managers (one :class:`Assignment` per customer) and their history.

    Reads are filtered by the actor's scope. A write is allowed when the actor's scope
    covers the customer's current managers (or the customer has none yet) *and* the new
    ones; otherwise PermissionDenied. Every write is audited (one entry per customer
    changed) and puts the events on the outbox.
    """

    def find(self, customer_id: CustomerId) -> Assignment | None:
        """The customer's current assignment, if any (and in scope)."""

    def get(self, customer_id: CustomerId) -> Assignment:
        """The current assignment, or NotFoundError."""

    def find_many(self, customer_ids: Collection[CustomerId]) -> dict[CustomerId, Assignment]:
        """Current assignments of those customers that have one (and are in scope)."""

    def add(self, assignment: Assignment, events: Sequence[DomainEvent] = ()) -> Assignment:
        """Store a customer's first assignment (version 0); returns it at version 1.

        The customer must exist; every manager must be a stored, active staff member.
        DuplicateError (a ConflictError) when the customer already has one.
        """

    def update(self, assignment: Assignment, events: Sequence[DomainEvent] = ()) -> Assignment:
        """Store a changed assignment whose ``version`` is the one read; returns it with
        the version moved on. ConflictError if another unit of work changed it since."""

    def update_many(self, changes: Sequence[tuple[Assignment, Sequence[DomainEvent]]]) -> None:
        """Store many changed assignments in as few statements as the backend allows,
        each version-checked; all or nothing."""

    def book(
        self,
        staff_id: StaffId,
        *,
        roles: Collection[ManagerRole] | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Assignment]:
        """Current assignments on which ``staff_id`` holds one of ``roles`` (any role when
        ``None``), in customer id order, fetched ``batch_size`` at a time."""

    def book_sizes(self, staff_ids: Collection[StaffId] | None = None) -> dict[StaffId, int]:
        """How many customers each manager holds as primary (0 included for those asked)."""

    def as_of(self, customer_id: CustomerId, at: datetime.datetime) -> AssignmentRecord | None:
        """The version in effect at the instant ``at``, if there was one."""

    def history(self, customer_id: CustomerId) -> list[AssignmentRecord]:
        """Every version of the customer's assignment, oldest first."""

    def reason_counts(
        self, *, since: datetime.datetime, until: datetime.datetime
    ) -> list[ReasonCount]:
        """Reassignments effective in ``[since, until)``, counted by reason, the new
        primary's unit and business day (for changes in the actor's scope)."""


class PartyRepository(Protocol):
    """Parties of the relationship graph: companies and persons, customers or not.

    A party linked to a customer (``customer_id``) or with an LEI is unique by that key
    (DuplicateError). Every write is audited (a person's name masked) and raises
    ``PartyRegistered`` / ``PartyRevised`` on the outbox.
    """

    def add(self, party: Party) -> None:
        """Store a new party (version 0; stored as version 1)."""

    def add_many(self, parties: Sequence[Party]) -> None:
        """Store many new parties in as few statements as the backend allows; all or
        nothing."""

    def get(self, party_id: PartyId) -> Party:
        """The party, or NotFoundError."""

    def find(self, party_id: PartyId) -> Party | None:
        """The party, if stored."""

    def get_many(self, party_ids: Collection[PartyId]) -> dict[PartyId, Party]:
        """Those of ``party_ids`` that are stored."""

    def find_by_customer(self, customer_id: CustomerId) -> Party | None:
        """The party that is this customer, if the customer is in the graph."""

    def find_by_lei(self, lei: str) -> Party | None:
        """The party with this LEI, if any."""

    def ids_by_lei(self, leis: Collection[str]) -> dict[str, PartyId]:
        """The party id of each of ``leis`` that is stored (for registry imports)."""

    def update(self, party: Party, events: Sequence[DomainEvent] = ()) -> Party:
        """Store a changed party whose ``version`` is the one read; ConflictError if
        another unit of work changed it since."""

    def count(self) -> int:
        """How many parties are stored."""


class RelationshipRepository(Protocol):
    """Effective-dated relationships between parties, and graph queries as of a date.

    ``add`` refuses, with nothing written: a type the store's registry lacks
    (ValidationError), an endpoint that is not a stored party (NotFoundError), direct
    shareholdings in one company above 100% in total on any day, and a control or
    consolidation link that would close a cycle on any day (BusinessRuleViolation).
    Cross-shareholdings are legal; every query terminates on them.

    The graph queries take the relationship type codes to follow and the business
    date ``at``; the SQL adapter answers each with one recursive query.
    """

    def add(self, relationship: Relationship) -> Relationship:
        """Store a new relationship (returns it at version 1) and raise
        ``RelationshipRecorded``."""

    def add_many(self, relationships: Sequence[Relationship]) -> None:
        """Store many new relationships, each checked as by :meth:`add` (later ones
        against earlier ones too); all or nothing."""

    def get(self, relationship_id: RelationshipId) -> Relationship:
        """The relationship, or NotFoundError."""

    def update(
        self, relationship: Relationship, events: Sequence[DomainEvent] = ()
    ) -> Relationship:
        """Store a relationship whose end date moved (the only change allowed: record a
        new relationship for anything else); version-checked."""

    def of_party(
        self,
        party_id: PartyId,
        *,
        at: datetime.date | None = None,
        types: Collection[str] | None = None,
        direction: Direction = Direction.BOTH,
    ) -> list[Relationship]:
        """The party's relationships (those holding on ``at``, or all of any date),
        ordered by valid_from then id. ``DOWN``: where it is the source."""

    def count(self) -> int:
        """How many relationships are stored (all dates)."""

    def reach(
        self,
        start: PartyId,
        *,
        at: datetime.date,
        types: Collection[str],
        direction: Direction,
        max_hops: int | None = None,
    ) -> list[Reached]:
        """Every party reachable from ``start`` (itself included, at 0 hops) along
        ``types``. With ``max_hops`` each carries its fewest hops; without, the whole
        closure is returned with ``hops=None``. Ordered by hops, then party id."""

    def tree(
        self,
        root: PartyId,
        *,
        at: datetime.date,
        types: Collection[str],
        direction: Direction = Direction.DOWN,
        max_depth: int = 64,
    ) -> list[TreeNode]:
        """Every edge of the tree below ``root`` (``UP``: above it), each party at its
        fewest depth, ordered by depth then party id. A party already on the way is not
        followed again, so a cycle ends the branch."""

    def paths(
        self,
        start: PartyId,
        end: PartyId,
        *,
        at: datetime.date,
        types: Collection[str],
        direction: Direction,
        max_length: int = 10,
    ) -> PathSearch:
        """Every simple path from ``start`` to ``end`` (``start == end``: every cycle
        through it) of at most ``max_length`` relationships."""


class AccountRepository(Protocol):
    """Customers' accounts and holdings, as core systems feed them (a read model).

    An account number is unique (DuplicateError); the customer must exist. Writes are
    audited (the account number masked) and refused when the actor's scope is empty.
    """

    def add(self, account: Account) -> None:
        """Store a new account (version 0; stored as version 1)."""

    def add_many(self, accounts: Sequence[Account]) -> None:
        """Store many new accounts; all or nothing."""

    def get(self, account_id: AccountId) -> Account:
        """The account, or NotFoundError."""

    def find_by_number(self, account_number: str) -> Account | None:
        """The account with this core-system number, if any."""

    def of_customer(self, customer_id: CustomerId) -> list[Account]:
        """The customer's accounts (open and closed), ordered by account number."""

    def update(self, account: Account) -> Account:
        """Store a changed account (a closing date, a product code); version-checked."""

    def count(self) -> int:
        """How many accounts are stored."""


class BalanceRepository(Protocol):
    """End-of-day balances, one per account and business day, stored as exact integer
    minor units of the account's currency. Feeds write them in bulk (see
    :func:`finance_crm.services.balances.load_balances`)."""

    def resolve(self, account_numbers: Collection[str]) -> dict[str, tuple[AccountId, str]]:
        """The id and currency of each of ``account_numbers`` that is stored."""

    def clear_day(self, day: datetime.date) -> int:
        """Remove every balance of ``day`` (a feed replaces a whole day); how many."""

    def write(self, rows: Sequence[tuple[AccountId, datetime.date, int]]) -> None:
        """Store ``(account, day, minor units)`` rows in as few statements as the backend
        allows. DuplicateError, with none of ``rows`` stored, if any (account, day)
        is already stored."""

    def record_feed(self, day: datetime.date, *, replaced: int, loaded: int) -> None:
        """Audit one day's load: how many balances it replaced and loaded."""

    def of_accounts(
        self, account_ids: Collection[AccountId], start: datetime.date, end: datetime.date
    ) -> list[DailyBalance]:
        """The balances of ``account_ids`` from ``start`` to ``end`` (inclusive), plus
        each account's last balance before ``start`` (to carry into the period),
        ordered by account then day."""

    def count(self) -> int:
        """How many balances are stored."""


class TierRepository(Protocol):
    """Customers' tiers, effective-dated: one :class:`TierRecord` per stretch of days
    in one tier (``valid_from`` inclusive, ``valid_to`` exclusive, ``None`` while
    current). Only :meth:`retier` writes them."""

    def current(self, customer_id: CustomerId) -> TierRecord | None:
        """The customer's current tier (the record without an end), if it has one."""

    def on(self, customer_id: CustomerId, day: datetime.date) -> TierRecord | None:
        """The tier the customer was in on ``day``, if any."""

    def history(self, customer_id: CustomerId) -> list[TierRecord]:
        """Every tier record of the customer, oldest first."""

    def current_many(self, customer_ids: Collection[CustomerId]) -> dict[CustomerId, TierRecord]:
        """The current tier of each of ``customer_ids`` that has one."""

    def retier(
        self,
        rule: TierRule,
        *,
        period_start: datetime.date,
        period_end: datetime.date,
        effective_on: datetime.date,
    ) -> RetierReport:
        """Re-tier every active and dormant customer from ``effective_on`` by the
        period-average daily AUM of ``[period_start, period_end]`` in the rule's
        currency (loans and other currencies do not count; no accounts is zero).

        The rule is given the tier the customer held the day before ``effective_on``.
        A customer whose tier moves gets its record ended at ``effective_on`` and a new
        one from then, an audit entry and a
        :class:`~finance_crm.model.tiers.TierChanged` event; a customer
        re-tiered again for the same ``effective_on`` (a correction) has that day's
        record replaced. BusinessRuleViolation, with nothing written, if any customer
        has a tier from a day after ``effective_on``. In the SQL adapter this is a few
        set-based statements, not one per customer."""

    def count(self) -> int:
        """How many customers have a current tier."""


class ActivityRepository(Protocol):
    """Calls, visits and other contacts (and the spot checks of them).

    Writes are audited (notes masked) and refused when the actor's scope is empty; the
    customer must exist. Each completed activity's business day (``completed_at`` in
    the store's time zone) is kept with it, which is what service standards count.
    """

    def add(self, activity: Activity, events: Sequence[DomainEvent] = ()) -> None:
        """Store a new activity (version 0; stored as version 1) with its events."""

    def get(self, activity_id: ActivityId) -> Activity:
        """The activity, or NotFoundError."""

    def update(self, activity: Activity, events: Sequence[DomainEvent] = ()) -> Activity:
        """Store a changed activity (completed, cancelled, moved); version-checked."""

    def of_customer(self, customer_id: CustomerId, *, limit: int = 50) -> list[Activity]:
        """The customer's most recent activities: by ``completed_at`` or, for those not
        completed, ``planned_at``, newest first (ties by id)."""

    def last_contact(self, customer_id: CustomerId) -> Activity | None:
        """The latest completed activity that reached the customer."""

    def scheduled(
        self,
        owners: Collection[StaffId],
        start: datetime.datetime,
        end: datetime.datetime,
    ) -> list[Activity]:
        """Activities of ``owners`` planned from ``start`` (inclusive) to ``end``
        (exclusive), whatever became of them, by ``planned_at`` then id: a plan."""

    def completed(
        self,
        owners: Collection[StaffId] | None,
        start: datetime.date,
        end: datetime.date,
    ) -> list[ActivityId]:
        """Ids of activities completed on business days ``start`` to ``end`` (both
        included), of ``owners`` (None: anyone), in id order: what spot checks sample."""

    def add_spot_check(self, check: SpotCheck, events: Sequence[DomainEvent] = ()) -> None:
        """Store a spot check of a completed activity (DuplicateError if it has one)."""

    def spot_checks(
        self, owners: Collection[StaffId] | None, start: datetime.date, end: datetime.date
    ) -> list[SpotCheck]:
        """Spot checks made on business days ``start`` to ``end`` of the activities of
        ``owners`` (None: anyone), by ``checked_at`` then id."""

    def count(self) -> int:
        """How many activities are stored."""


@attrs.frozen(kw_only=True)
class TaskGeneration:
    """One standard's task-making on one business day, with every date the calendar
    decides already worked out, so that an adapter needs no calendar (SQL adapters
    compile this into one statement).

    * ``unavailable``: staff who cannot act on ``on`` (on leave or departed); a task
      goes to the customer's primary manager, or while the primary is unavailable to
      the secondary, then the chief, with ``covering_for`` naming the primary; when
      nobody can stand in, to the primary. Customers without managers get no task.
    * ``due_by_event_day``: for an event standard (not birthdays), each event day of
      the look-back window mapped to its due day.
    * ``birthdays``: for a birthday standard, ``"MM-DD"`` of each birthday whose task
      appears by ``on`` mapped to that birthday's date and the task's due day
      (``"02-29"`` maps to 28 February in other years).
    * ``period``: for a per-period cadence, the period's first day and the due day
      (its last business day).
    """

    standard: ServiceStandard
    on: datetime.date
    unavailable: frozenset[StaffId] = frozenset()
    due_by_event_day: Mapping[datetime.date, datetime.date] = attrs.field(factory=dict)
    birthdays: Mapping[str, tuple[datetime.date, datetime.date]] = attrs.field(factory=dict)
    period: tuple[datetime.date, datetime.date] | None = None


@attrs.frozen(kw_only=True)
class ComplianceCount:
    """One manager's service tasks due in a period: ``due`` excludes waived tasks;
    ``met`` were done by their due date; ``overdue`` are still open past it."""

    staff_id: StaffId
    due: int
    met: int
    waived: int
    overdue: int


class ServiceTaskRepository(Protocol):
    """Service tasks (服务任务). A customer has at most one task per (standard,
    occurrence) (DuplicateError). Writes are audited and refused when the actor's
    scope is empty. :meth:`generate`, :meth:`satisfy` and :meth:`escalate` work on the
    whole book at once: in the SQL adapter each is a few set-based statements."""

    def add(self, task: ServiceTask, events: Sequence[DomainEvent] = ()) -> None:
        """Store a new task (a follow-up, one made by hand)."""

    def get(self, task_id: ServiceTaskId) -> ServiceTask:
        """The task, or NotFoundError."""

    def update(self, task: ServiceTask, events: Sequence[DomainEvent] = ()) -> ServiceTask:
        """Store a changed task (done, waived, escalated); version-checked."""

    def of_customer(self, customer_id: CustomerId, *, open_only: bool = False) -> list[ServiceTask]:
        """The customer's tasks by due date then id."""

    def due_list(
        self, staff_ids: Collection[StaffId], *, until: datetime.date
    ) -> list[ServiceTask]:
        """Open tasks assigned or escalated to ``staff_ids`` due on or before ``until``,
        by due date, then customer, then id: a manager's (or supervisor's) list."""

    def generate(self, plan: TaskGeneration) -> int:
        """Make the tasks ``plan.standard`` asks for on ``plan.on`` that do not exist
        yet (an every-N-days cadence: only for customers without an open task of the
        standard); how many were made. Audited once per call, with one
        :class:`~finance_crm.model.service_standards.ServiceTasksGenerated` event when
        any were made."""

    def satisfy(
        self, on: datetime.date, kinds_by_standard: Mapping[str, frozenset[ActivityKind]]
    ) -> int:
        """Close each open task of a standard in ``kinds_by_standard`` for which a
        completed activity of one of its kinds reached the customer on a business day
        from the task's ``counts_from`` to ``on``: done on that day (the earliest such
        activity), closed by the actor. Audited, with a ``ServiceTaskDone`` event, per
        task; how many."""

    def escalate(
        self,
        on: datetime.date,
        *,
        due_on_or_before: datetime.date,
        supervisors: Mapping[StaffId, StaffId],
    ) -> int:
        """Escalate each open, not yet escalated task due on or before
        ``due_on_or_before`` to ``supervisors[assignee]`` (tasks of assignees not in
        the mapping are left). Audited, with a ``ServiceTaskEscalated`` event, per task;
        how many."""

    def compliance(self, start: datetime.date, end: datetime.date) -> list[ComplianceCount]:
        """Per assignee, the tasks due from ``start`` to ``end`` (both included), by
        staff id. ``overdue`` counts those still open (as of now, not of ``end``)."""

    def count(self) -> int:
        """How many tasks are stored."""


class TransactionRepository(Protocol):
    """Booked transactions and securities trades, as core systems feed them, one day
    at a time (see :func:`finance_crm.services.transactions.load_transactions`)."""

    def clear_day(self, day: datetime.date) -> int:
        """Remove every transaction of ``day`` (a feed replaces a whole day); how many."""

    def write(self, transactions: Sequence[Transaction]) -> None:
        """Store transactions in as few statements as the backend allows. DuplicateError,
        with none of them stored, if an account's reference is already stored."""

    def record_feed(self, day: datetime.date, *, replaced: int, loaded: int) -> None:
        """Audit one day's load: how many transactions it replaced and loaded."""

    def of_customer(
        self, customer_id: CustomerId, start: datetime.date, end: datetime.date
    ) -> list[Transaction]:
        """The customer's transactions from ``start`` to ``end`` (both included), by day,
        then account, then reference."""

    def count(self) -> int:
        """How many transactions are stored."""


class ContributionRepository(Protocol):
    """Monthly contribution figures per customer (贡献度), as fed (see
    :func:`finance_crm.services.transactions.load_contributions`)."""

    def resolve(self, customer_numbers: Collection[str]) -> dict[str, CustomerId]:
        """The id of each of ``customer_numbers`` that is stored."""

    def clear_month(self, month: datetime.date) -> int:
        """Remove every figure of ``month`` (its first day); how many."""

    def write(self, figures: Sequence[ContributionFigure]) -> None:
        """Store figures. DuplicateError, with none stored, if a customer already has a
        figure in that currency for that month."""

    def record_feed(self, month: datetime.date, *, replaced: int, loaded: int) -> None:
        """Audit one month's load."""

    def of_customer(
        self, customer_id: CustomerId, first_month: datetime.date, last_month: datetime.date
    ) -> list[ContributionFigure]:
        """The customer's figures for the months from ``first_month`` to ``last_month``
        (first days of months; both included), by month then currency."""

    def count(self) -> int:
        """How many figures are stored."""


class AuditTrail(Protocol):
    """The read side of the append-only audit log."""

    def entries(
        self, *, entity_id: str | None = None, after_sequence: int = 0, limit: int = 1000
    ) -> list[AuditEntry]:
        """Audit entries in sequence order, optionally for one entity."""


class Outbox(Protocol):
    """Domain events written with the changes that raised them, for the host to publish."""

    def pending(self, *, limit: int = 1000) -> list[OutboxMessage]:
        """Unpublished messages, oldest first."""

    def mark_published(self, event_ids: Sequence[EventId]) -> None:
        """Mark messages as published (in this unit of work)."""


class UnitOfWork(Protocol):
    """One transaction, acting for one actor."""

    # Read-only properties, so an adapter's own repository classes satisfy the protocol.
    @property
    def actor(self) -> Actor:
        """Who acts in this unit of work."""

    @property
    def customers(self) -> CustomerRepository: ...

    @property
    def organization(self) -> OrganizationRepository: ...

    @property
    def assignments(self) -> AssignmentRepository: ...

    @property
    def parties(self) -> PartyRepository: ...

    @property
    def relationships(self) -> RelationshipRepository: ...

    @property
    def relationship_types(self) -> RelationshipTypes:
        """The relationship types the store knows (a code outside them is refused)."""

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def balances(self) -> BalanceRepository: ...

    @property
    def tiers(self) -> TierRepository: ...

    @property
    def activities(self) -> ActivityRepository: ...

    @property
    def service_tasks(self) -> ServiceTaskRepository: ...

    @property
    def transactions(self) -> TransactionRepository: ...

    @property
    def contributions(self) -> ContributionRepository: ...

    @property
    def audit(self) -> AuditTrail: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def clock(self) -> Clock:
        """The store's clock: services read "now" from it."""

    @property
    def timezone(self) -> str:
        """The institution's time zone (IANA name): business dates are read in it."""

    @property
    def scope(self) -> AccessScope:
        """What the actor may see and change (resolved from their staff record)."""

    @property
    def masking(self) -> MaskingRule:
        """How personal data is masked for this actor."""

    def commit(self) -> None:
        """Make every change of this unit of work durable, atomically."""

    def rollback(self) -> None:
        """Discard every change not yet committed."""

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested scope: an exception inside it undoes only what it did."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Store(Protocol):
    """Where customers live: hands out units of work."""

    def unit_of_work(self, actor: Actor, *, read_only: bool = False) -> UnitOfWork:
        """A new unit of work for ``actor``; use it in a ``with`` block."""
