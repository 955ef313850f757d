"""The in-memory adapter: a first-class store for tests, prototypes and examples.

It keeps the same promises as the SQL adapter (the contract suites run on both):
changes become visible only on commit, a stale write raises ``ConflictError``, unique
keys raise ``DuplicateError``, every change writes an audit entry and outbox messages,
and savepoints undo only their own part. Concurrent units of work in threads are
serialised at commit with optimistic version checks.
"""

from __future__ import annotations

import copy
import datetime
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

import attrs

from finance_crm.access import AccessRule, AccessScope, OrgScopes, UnmaskedRoles, UnmaskingRule
from finance_crm.adapters._checks import check_customer, check_update
from finance_crm.adapters._memory_accounts import MemoryAccounts, MemoryBalances
from finance_crm.adapters._memory_groups import MemoryParties, MemoryRelationships
from finance_crm.adapters._memory_managers import (
    HistoryRow,
    MemoryAssignments,
    MemoryOrganization,
)
from finance_crm.adapters._memory_service import (
    MemoryActivities,
    MemoryServiceTasks,
    TaskKey,
)
from finance_crm.adapters._memory_tiers import MemoryTiers
from finance_crm.adapters._memory_transactions import (
    ContributionKey,
    MemoryContributions,
    MemoryTransactions,
)
from finance_crm.adapters._paging import check_page, parse_cursor, summarise
from finance_crm.auditing import customer_changes
from finance_crm.clock import DEFAULT_TIMEZONE, Clock, SystemClock
from finance_crm.errors import (
    ConflictError,
    DuplicateError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from finance_crm.ids import (
    AccountId,
    ActivityId,
    CustomerId,
    EventId,
    OrgUnitCode,
    PartyId,
    RelationshipId,
    ServiceTaskId,
    SpotCheckId,
    StaffId,
    TransactionId,
)
from finance_crm.model.accounts import Account
from finance_crm.model.activities import Activity, SpotCheck
from finance_crm.model.assignments import Assignment
from finance_crm.model.customers import Customer
from finance_crm.model.documents import IdDocumentType
from finance_crm.model.events import CustomerOpened, DomainEvent
from finance_crm.model.organization import OrgUnit, StaffMember
from finance_crm.model.relationships import (
    STANDARD_RELATIONSHIP_TYPES,
    Party,
    Relationship,
    RelationshipTypes,
)
from finance_crm.model.service_standards import ServiceTask
from finance_crm.model.tiers import TierRecord
from finance_crm.model.transactions import Transaction
from finance_crm.ports import (
    AuditEntry,
    CustomerOrder,
    CustomerPage,
    OutboxMessage,
)
from finance_crm.security import Actor, MaskingRule
from finance_crm.serialization import WireConverter, make_converter

__all__ = ["InMemoryStore", "InMemoryUnitOfWork"]

_DocKey = tuple[str, str, str]


def _doc_keys(customer: Customer) -> set[_DocKey]:
    return {(d.type.value, d.issuing_country, d.number) for d in customer.identity_documents}


@attrs.define
class _State:
    customers: dict[CustomerId, Customer] = attrs.field(factory=dict)
    numbers: dict[str, CustomerId] = attrs.field(factory=dict)
    documents: dict[_DocKey, CustomerId] = attrs.field(factory=dict)
    audit: list[AuditEntry] = attrs.field(factory=list)
    outbox: list[OutboxMessage] = attrs.field(factory=list)
    published: set[EventId] = attrs.field(factory=set)
    units: dict[OrgUnitCode, OrgUnit] = attrs.field(factory=dict)
    staff: dict[StaffId, StaffMember] = attrs.field(factory=dict)
    assignments: dict[CustomerId, Assignment] = attrs.field(factory=dict)
    history: dict[CustomerId, tuple[HistoryRow, ...]] = attrs.field(factory=dict)
    parties: dict[PartyId, Party] = attrs.field(factory=dict)
    party_by_customer: dict[CustomerId, PartyId] = attrs.field(factory=dict)
    party_by_lei: dict[str, PartyId] = attrs.field(factory=dict)
    relationships: dict[RelationshipId, Relationship] = attrs.field(factory=dict)
    edges_out: dict[PartyId, set[RelationshipId]] = attrs.field(factory=dict)
    edges_in: dict[PartyId, set[RelationshipId]] = attrs.field(factory=dict)
    # Moves on with every commit that wrote relationships (see _memory_groups).
    graph_version: int = 0
    accounts: dict[AccountId, Account] = attrs.field(factory=dict)
    account_numbers: dict[str, AccountId] = attrs.field(factory=dict)
    # (account, day) -> end-of-day balance in minor units
    balances: dict[tuple[AccountId, datetime.date], int] = attrs.field(factory=dict)
    # customer -> tier records, oldest first
    tiers: dict[CustomerId, tuple[TierRecord, ...]] = attrs.field(factory=dict)
    # Moves on with every commit that re-tiered (a run decides against the book it saw).
    tier_version: int = 0
    activities: dict[ActivityId, Activity] = attrs.field(factory=dict)
    spot_checks: dict[SpotCheckId, SpotCheck] = attrs.field(factory=dict)
    spot_checked: dict[ActivityId, SpotCheckId] = attrs.field(factory=dict)
    tasks: dict[ServiceTaskId, ServiceTask] = attrs.field(factory=dict)
    task_keys: dict[TaskKey, ServiceTaskId] = attrs.field(factory=dict)
    transactions: dict[TransactionId, Transaction] = attrs.field(factory=dict)
    contributions: dict[ContributionKey, int] = attrs.field(factory=dict)


@attrs.define
class _Pending:
    """What a unit of work has written but not committed."""

    # customer id -> (version it was based on, or None if new; the new state)
    written: dict[CustomerId, tuple[int | None, Customer]] = attrs.field(factory=dict)
    # unique keys claimed by the pending writes (so a lookup never scans them all)
    numbers: dict[str, CustomerId] = attrs.field(factory=dict)
    documents: dict[_DocKey, CustomerId] = attrs.field(factory=dict)
    audit: list[AuditEntry] = attrs.field(factory=list)
    outbox: list[OutboxMessage] = attrs.field(factory=list)
    published: set[EventId] = attrs.field(factory=set)
    # key -> (version it was based on, or None if new; the new state)
    units: dict[OrgUnitCode, tuple[int | None, OrgUnit]] = attrs.field(factory=dict)
    staff: dict[StaffId, tuple[int | None, StaffMember]] = attrs.field(factory=dict)
    assignments: dict[CustomerId, tuple[int | None, Assignment]] = attrs.field(factory=dict)
    history: dict[CustomerId, tuple[HistoryRow, ...]] = attrs.field(factory=dict)
    parties: dict[PartyId, tuple[int | None, Party]] = attrs.field(factory=dict)
    relationships: dict[RelationshipId, tuple[int | None, Relationship]] = attrs.field(factory=dict)
    # party -> ids of the pending relationships from / to it (tuples: a savepoint's
    # shallow copy must not share them)
    edges_out: dict[PartyId, tuple[RelationshipId, ...]] = attrs.field(factory=dict)
    edges_in: dict[PartyId, tuple[RelationshipId, ...]] = attrs.field(factory=dict)
    # The store's graph version when this unit of work first wrote a relationship.
    graph_base: int | None = None
    accounts: dict[AccountId, tuple[int | None, Account]] = attrs.field(factory=dict)
    balances: dict[tuple[AccountId, datetime.date], int] = attrs.field(factory=dict)
    # Days whose stored balances this unit of work replaces (a frozenset: see copy()).
    cleared_days: frozenset[datetime.date] = frozenset()
    tiers: dict[CustomerId, tuple[TierRecord, ...]] = attrs.field(factory=dict)
    tier_base: int | None = None
    activities: dict[ActivityId, tuple[int | None, Activity]] = attrs.field(factory=dict)
    spot_checks: dict[SpotCheckId, SpotCheck] = attrs.field(factory=dict)
    spot_checked: dict[ActivityId, SpotCheckId] = attrs.field(factory=dict)
    tasks: dict[ServiceTaskId, tuple[int | None, ServiceTask]] = attrs.field(factory=dict)
    task_keys: dict[TaskKey, ServiceTaskId] = attrs.field(factory=dict)
    transactions: dict[TransactionId, Transaction] = attrs.field(factory=dict)
    cleared_txn_days: frozenset[datetime.date] = frozenset()
    contributions: dict[ContributionKey, int] = attrs.field(factory=dict)
    cleared_months: frozenset[datetime.date] = frozenset()

    def copy(self) -> _Pending:
        return _Pending(
            **{f.name: copy.copy(getattr(self, f.name)) for f in attrs.fields(_Pending)}
        )


class InMemoryStore:
    """A store that lives in this process. Thread-safe; nothing survives the process.

    >>> from finance_crm.adapters.memory import InMemoryStore
    >>> from finance_crm.security import Actor
    >>> store = InMemoryStore()
    >>> with store.unit_of_work(Actor("ho-teller-1", roles={"head_office"})) as uow:
    ...     uow.customers.count()
    0
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        access: AccessRule | None = None,
        unmasking: UnmaskingRule | None = None,
        relationship_types: RelationshipTypes | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.timezone = timezone
        self.access: AccessRule = access or OrgScopes()
        self.unmasking: UnmaskingRule = unmasking or UnmaskedRoles()
        self.relationship_types = check_registry(relationship_types)
        self.converter: WireConverter = make_converter()
        self._state = _State()
        self._lock = threading.RLock()
        self._sequence = 0

    def unit_of_work(self, actor: Actor, *, read_only: bool = False) -> InMemoryUnitOfWork:
        if not isinstance(actor, Actor):
            raise ValidationError("actor must be a finance_crm.security.Actor", path="$.actor")
        return InMemoryUnitOfWork(self, actor, read_only=read_only)

    def _next_sequence(self) -> int:
        with self._lock:
            self._sequence += 1
            return self._sequence


class _Customers:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    # -- reads see this unit of work's own writes first ------------------------------

    def _visible(self, customer_id: CustomerId) -> Customer | None:
        pending = self._uow._pending.written.get(customer_id)
        if pending is not None:
            return pending[1]
        return self._uow._store._state.customers.get(customer_id)

    def _owner(self, index: str, key: Any) -> CustomerId | None:
        pending = self._uow._pending
        claimed = (pending.numbers if index == "number" else pending.documents).get(key)
        if claimed is not None:
            return claimed
        state = self._uow._store._state
        owner = (state.numbers if index == "number" else state.documents).get(key)
        if owner is None:
            return None
        visible = self._visible(owner)
        if visible is None:
            return None
        still = visible.customer_number == key if index == "number" else key in _doc_keys(visible)
        return owner if still else None

    def _claim(self, old: Customer | None, new: Customer) -> None:
        pending = self._uow._pending
        if old is not None:
            if pending.numbers.get(old.customer_number) == old.id:
                del pending.numbers[old.customer_number]
            for key in _doc_keys(old):
                if pending.documents.get(key) == old.id:
                    del pending.documents[key]
        pending.numbers[new.customer_number] = new.id
        for key in _doc_keys(new):
            pending.documents[key] = new.id

    def _readable(self, customer_id: CustomerId) -> bool:
        scope = self._uow.scope
        if scope.is_everything:
            return True
        assignments = self._uow.assignments
        return assignments.covers(scope, assignments._visible(customer_id))

    def get(self, customer_id: CustomerId) -> Customer:
        customer = self._visible(customer_id)
        if customer is None or not self._readable(customer_id):
            raise NotFoundError("no customer with this id")
        return customer

    def get_by_number(self, customer_number: str) -> Customer:
        owner = self._owner("number", customer_number)
        if owner is None:
            raise NotFoundError("no customer with this customer number")
        return self.get(owner)

    def find_by_document(
        self, document_type: IdDocumentType, number: str, issuing_country: str = "CN"
    ) -> Customer | None:
        owner = self._owner("document", (document_type.value, issuing_country, number))
        return None if owner is None or not self._readable(owner) else self.get(owner)

    def _ids_in_scope(self) -> list[CustomerId]:
        ids = set(self._uow._store._state.customers) | set(self._uow._pending.written)
        return sorted((i for i in ids if self._readable(i)), key=lambda i: i.bytes)

    def count(self) -> int:
        if self._uow.scope.is_everything:
            state = self._uow._store._state
            new = sum(1 for base, _ in self._uow._pending.written.values() if base is None)
            return len(state.customers) + new
        return len(self._ids_in_scope())

    def stream(self, *, batch_size: int = 1000) -> Iterator[Customer]:
        for customer_id in self._ids_in_scope():
            yield self.get(customer_id)

    def page(
        self,
        *,
        order: CustomerOrder = CustomerOrder.NAME,
        limit: int = 50,
        cursor: str | None = None,
    ) -> CustomerPage:
        check_page(order, limit)

        def key(c: Customer) -> tuple[Any, str]:
            value = {
                CustomerOrder.NAME: c.display_name,
                CustomerOrder.CUSTOMER_NUMBER: c.customer_number,
                CustomerOrder.OPENED_AT: c.opened_at,
            }[order]
            return (value, str(c.id))

        customers = sorted((self.get(i) for i in self._ids_in_scope()), key=key)
        if cursor is not None:
            last = self._visible(parse_cursor(cursor))
            if last is None:
                raise ValidationError("the cursor is not a customer of this store", path="$.cursor")
            after = key(last)
            customers = [c for c in customers if key(c) > after]
        chosen = customers[:limit]
        masking = self._uow.masking
        assignments = self._uow.assignments
        items = tuple(
            summarise(c, masking, a.primary if (a := assignments._visible(c.id)) else None)
            for c in chosen
        )
        more = len(customers) > limit
        return CustomerPage(items=items, next_cursor=str(chosen[-1].id) if more else None)

    # -- writes --------------------------------------------------------------------

    def _check_unique(self, customer: Customer) -> None:
        owner = self._owner("number", customer.customer_number)
        if owner is not None and owner != customer.id:
            raise DuplicateError(
                "customer number is already taken by another customer; choose another number"
            )
        for key in _doc_keys(customer):
            owner = self._owner("document", key)
            if owner is not None and owner != customer.id:
                raise DuplicateError(
                    "an identity document is already registered to another customer; "
                    "look that customer up with find_by_document() instead of opening a new one"
                )

    def add(self, customer: Customer) -> None:
        self._uow._check_writable()
        check_customer(customer)
        if self._uow.scope.kind.value == "nothing":
            raise PermissionDenied(
                "your access scope is empty: only staff members (or head office and "
                "system actors) may open customers"
            )
        if self._visible(customer.id) is not None:
            raise DuplicateError("a customer with this id is already stored")
        self._check_unique(customer)
        uow = self._uow
        uow._pending.written[customer.id] = (None, customer)
        self._claim(None, customer)
        uow._record(None, customer, "customer.opened")
        uow._emit(
            [
                CustomerOpened(
                    occurred_at=uow._now(),
                    customer_id=customer.id,
                    customer_number=customer.customer_number,
                    kind=customer.kind.value,
                    status=customer.status.value,
                )
            ]
        )

    def add_many(self, customers: Sequence[Customer]) -> None:
        with self._uow.savepoint():
            for customer in customers:
                self.add(customer)

    def update(self, customer: Customer, events: Sequence[DomainEvent] = ()) -> Customer:
        self._uow._check_writable()
        check_customer(customer, events)
        current = self._visible(customer.id)
        check_update(current, customer)
        assert current is not None
        if not self._readable(customer.id):
            raise PermissionDenied(
                "this customer is outside your access scope; ask a manager whose scope "
                "covers the customer"
            )
        self._check_unique(customer)
        stored = attrs.evolve(customer, version=customer.version + 1)
        pending = self._uow._pending.written
        base = pending[customer.id][0] if customer.id in pending else current.version
        pending[customer.id] = (base, stored)
        self._claim(current, stored)
        self._uow._record(current, stored, "customer.revised")
        self._uow._emit(events)
        return stored


def _check_versions(
    stored: Mapping[Any, Any], written: Mapping[Any, tuple[int | None, Any]], what: str
) -> None:
    for key, (base, _) in written.items():
        current = stored.get(key)
        if (base is None) != (current is None) or (current is not None and current.version != base):
            if base is None:
                raise DuplicateError(
                    f"another unit of work added the same {what} first; nothing was written"
                )
            raise ConflictError(
                f"another unit of work committed a change to the same {what} first; "
                "nothing was written: reload and retry"
            )


class _Audit:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def entries(
        self, *, entity_id: str | None = None, after_sequence: int = 0, limit: int = 1000
    ) -> list[AuditEntry]:
        entries = [*self._uow._store._state.audit, *self._uow._pending.audit]
        chosen = [
            e
            for e in entries
            if e.sequence > after_sequence and (entity_id is None or e.entity_id == entity_id)
        ]
        return sorted(chosen, key=lambda e: e.sequence)[:limit]


class _Outbox:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def pending(self, *, limit: int = 1000) -> list[OutboxMessage]:
        state, mine = self._uow._store._state, self._uow._pending
        done = state.published | mine.published
        messages = [m for m in [*state.outbox, *mine.outbox] if m.event_id not in done]
        return sorted(messages, key=lambda m: m.sequence)[:limit]

    def mark_published(self, event_ids: Sequence[EventId]) -> None:
        self._uow._check_writable()
        self._uow._pending.published.update(event_ids)


class InMemoryUnitOfWork:
    """One transaction on an :class:`InMemoryStore`."""

    def __init__(self, store: InMemoryStore, actor: Actor, *, read_only: bool = False) -> None:
        self._store = store
        self.actor = actor
        self.read_only = read_only
        self._pending = _Pending()
        self._open = False
        self.customers = _Customers(self)
        self.organization = MemoryOrganization(self)
        self.assignments = MemoryAssignments(self)
        self.parties = MemoryParties(self)
        self.relationships = MemoryRelationships(self)
        self.accounts = MemoryAccounts(self)
        self.balances = MemoryBalances(self)
        self.tiers = MemoryTiers(self)
        self.activities = MemoryActivities(self)
        self.service_tasks = MemoryServiceTasks(self)
        self.transactions = MemoryTransactions(self)
        self.contributions = MemoryContributions(self)
        self.audit = _Audit(self)
        self.outbox = _Outbox(self)

    @property
    def clock(self) -> Clock:
        return self._store.clock

    @property
    def timezone(self) -> str:
        return self._store.timezone

    @property
    def relationship_types(self) -> RelationshipTypes:
        return self._store.relationship_types

    @property
    def scope(self) -> AccessScope:
        """Resolved on every use: the in-memory organisation is cheap to read."""
        staff = self.organization.find_staff(StaffId(self.actor.id))
        unit = self.organization.find_unit(staff.unit) if staff is not None else None
        return self._store.access.scope_for(self.actor, staff, unit)

    @property
    def masking(self) -> MaskingRule:
        return self._store.unmasking.masking_for(self.actor)

    def __enter__(self) -> Self:
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()
        self._open = False

    def _check_writable(self) -> None:
        if not self._open:
            raise ConflictError("this unit of work is not open; use it in a with block")
        if self.read_only:
            raise ConflictError("this unit of work is read-only; open one with read_only=False")

    def _now(self) -> Any:
        return self._store.clock.now()

    def _audit(
        self, action: str, entity_type: str, entity_id: str, version: int, changes: dict[str, Any]
    ) -> None:
        self._pending.audit.append(
            AuditEntry(
                sequence=self._store._next_sequence(),
                recorded_at=self._now(),
                actor=self.actor.id,
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                entity_version=version,
                changes=changes,
            )
        )

    def _record(self, before: Customer | None, after: Customer, action: str) -> None:
        self._pending.audit.append(
            AuditEntry(
                sequence=self._store._next_sequence(),
                recorded_at=self._now(),
                actor=self.actor.id,
                action=action,
                entity_type="customer",
                entity_id=str(after.id),
                entity_version=after.version,
                changes=customer_changes(before, after, self._store.converter),
            )
        )

    def _emit(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            payload = self._store.converter.unstructure(event)
            self._pending.outbox.append(
                OutboxMessage(
                    sequence=self._store._next_sequence(),
                    event_id=event.event_id,
                    event_type=event.event_type,
                    aggregate_id=event.aggregate_id,
                    occurred_at=event.occurred_at,
                    payload=payload,
                )
            )

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        saved = self._pending.copy()
        try:
            yield
        except BaseException:
            self._pending = saved
            raise

    def commit(self) -> None:
        pending, store = self._pending, self._store
        with store._lock:
            state = store._state
            for customer_id, (base, _) in pending.written.items():
                current = state.customers.get(customer_id)
                if (base is None) != (current is None) or (
                    current is not None and current.version != base
                ):
                    raise ConflictError(
                        "another unit of work committed a change to the same customer first; "
                        "nothing was written: reload and retry"
                    )
            _check_versions(state.units, pending.units, "organisation unit")
            _check_versions(state.staff, pending.staff, "staff record")
            _check_versions(state.assignments, pending.assignments, "customer's managers")
            _check_versions(state.parties, pending.parties, "party")
            _check_versions(state.relationships, pending.relationships, "relationship")
            _check_versions(state.accounts, pending.accounts, "account")
            _check_versions(state.activities, pending.activities, "activity")
            _check_versions(state.tasks, pending.tasks, "service task")
            if any(k in state.spot_checked for k in pending.spot_checked) or any(
                state.task_keys.get(k, v) != v for k, v in pending.task_keys.items()
            ):
                raise DuplicateError(
                    "another unit of work stored the same spot check or service task first; "
                    "nothing was written"
                )
            for _, account in pending.accounts.values():
                holder = state.account_numbers.get(account.account_number)
                if holder is not None and holder != account.id and holder not in pending.accounts:
                    raise DuplicateError(
                        "another unit of work added an account with this number first; "
                        "nothing was written"
                    )
            if pending.graph_base is not None and pending.graph_base != state.graph_version:
                raise ConflictError(
                    "another unit of work changed the relationship graph first; nothing was "
                    "written: reload and retry (the graph rules must be checked again)"
                )
            if pending.tier_base is not None and pending.tier_base != state.tier_version:
                raise ConflictError(
                    "another unit of work re-tiered the book first; nothing was written: "
                    "re-tier again"
                )
            _check_party_keys(state, pending)
            _check_feed_keys(state, pending)
            for customer_id, (_, customer) in pending.written.items():
                owners = [(state.numbers.get(customer.customer_number), "number")]
                owners += [(state.documents.get(k), "document") for k in _doc_keys(customer)]
                for owner, index in owners:
                    if owner is not None and owner != customer_id:
                        still = state.customers[owner]
                        taken = (
                            still.customer_number == customer.customer_number
                            if index == "number"
                            else bool(_doc_keys(still) & _doc_keys(customer))
                        )
                        if taken and owner not in pending.written:
                            raise DuplicateError(
                                "another unit of work took this customer number or identity "
                                "document first; nothing was written"
                            )
            for customer_id, (_, customer) in pending.written.items():
                old = state.customers.get(customer_id)
                if old is not None:
                    if state.numbers.get(old.customer_number) == customer_id:
                        del state.numbers[old.customer_number]
                    for key in _doc_keys(old):
                        if state.documents.get(key) == customer_id:
                            del state.documents[key]
                state.customers[customer_id] = customer
                state.numbers[customer.customer_number] = customer_id
                for key in _doc_keys(customer):
                    state.documents[key] = customer_id
            state.units.update((k, v) for k, (_, v) in pending.units.items())
            state.staff.update((k, v) for k, (_, v) in pending.staff.items())
            state.assignments.update((k, v) for k, (_, v) in pending.assignments.items())
            state.history.update(pending.history)
            _commit_graph(state, pending)
            for account_id, (_, account) in pending.accounts.items():
                state.accounts[account_id] = account
                state.account_numbers[account.account_number] = account_id
            if pending.cleared_days:
                for day_key in [k for k in state.balances if k[1] in pending.cleared_days]:
                    del state.balances[day_key]
            state.balances.update(pending.balances)
            if pending.tier_base is not None:
                state.tiers.update(pending.tiers)
                state.tier_version += 1
            state.activities.update((k, v) for k, (_, v) in pending.activities.items())
            state.spot_checks.update(pending.spot_checks)
            state.spot_checked.update(pending.spot_checked)
            state.tasks.update((k, v) for k, (_, v) in pending.tasks.items())
            state.task_keys.update(pending.task_keys)
            _commit_feeds(state, pending)
            state.audit.extend(pending.audit)
            state.outbox.extend(pending.outbox)
            state.published |= pending.published
        self._pending = _Pending()

    def rollback(self) -> None:
        self._pending = _Pending()


def check_registry(types: RelationshipTypes | None) -> RelationshipTypes:
    """The store's relationship types (the standard set when none are given)."""
    if types is None:
        return STANDARD_RELATIONSHIP_TYPES
    if not isinstance(types, RelationshipTypes):
        raise ValidationError(
            "relationship_types must be a RelationshipTypes registry", path="$.relationship_types"
        )
    return types


def _check_feed_keys(state: _State, pending: _Pending) -> None:
    if pending.transactions:
        kept = (t for t in state.transactions.values() if t.day not in pending.cleared_txn_days)
        stored = {(t.account_id, t.reference) for t in kept}
        if any((t.account_id, t.reference) in stored for t in pending.transactions.values()):
            raise DuplicateError(
                "another unit of work stored a transaction with the same reference first; "
                "nothing was written"
            )
    for key in pending.contributions:
        if key in state.contributions and key[1] not in pending.cleared_months:
            raise DuplicateError(
                "another unit of work stored the same contribution figure first; "
                "nothing was written"
            )


def _commit_feeds(state: _State, pending: _Pending) -> None:
    """Transactions and contribution: whole days and months replaced, then added."""
    if pending.cleared_txn_days:
        cleared = pending.cleared_txn_days
        state.transactions = {i: t for i, t in state.transactions.items() if t.day not in cleared}
    state.transactions.update(pending.transactions)
    if pending.cleared_months:
        months = pending.cleared_months
        state.contributions = {k: v for k, v in state.contributions.items() if k[1] not in months}
    state.contributions.update(pending.contributions)


def _check_party_keys(state: _State, pending: _Pending) -> None:
    for party_id, (_, party) in pending.parties.items():
        owners = [
            state.party_by_customer.get(party.customer_id) if party.customer_id else None,
            state.party_by_lei.get(party.lei) if party.lei else None,
        ]
        for owner in owners:
            if owner is None or owner == party_id or owner in pending.parties:
                continue
            still = state.parties[owner]
            if (party.customer_id is not None and still.customer_id == party.customer_id) or (
                party.lei is not None and still.lei == party.lei
            ):
                raise DuplicateError(
                    "another unit of work registered a party with the same customer or LEI "
                    "first; nothing was written"
                )


def _commit_graph(state: _State, pending: _Pending) -> None:
    for party_id, (_, party) in pending.parties.items():
        old = state.parties.get(party_id)
        if old is not None:
            if old.customer_id and state.party_by_customer.get(old.customer_id) == party_id:
                del state.party_by_customer[old.customer_id]
            if old.lei and state.party_by_lei.get(old.lei) == party_id:
                del state.party_by_lei[old.lei]
        state.parties[party_id] = party
        if party.customer_id is not None:
            state.party_by_customer[party.customer_id] = party_id
        if party.lei is not None:
            state.party_by_lei[party.lei] = party_id
    for relationship_id, (base, r) in pending.relationships.items():
        state.relationships[relationship_id] = r
        if base is None:
            state.edges_out.setdefault(r.source, set()).add(relationship_id)
            state.edges_in.setdefault(r.target, set()).add(relationship_id)
    if pending.graph_base is not None:
        state.graph_version += 1
