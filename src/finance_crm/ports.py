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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Protocol, Self

import attrs

from finance_crm.ids import CustomerId, EventId
from finance_crm.model.customers import Customer
from finance_crm.model.documents import IdDocumentType
from finance_crm.model.events import DomainEvent
from finance_crm.security import Actor

__all__ = [
    "AuditEntry",
    "AuditTrail",
    "CustomerRepository",
    "Outbox",
    "OutboxMessage",
    "Store",
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


class CustomerRepository(Protocol):
    """Customers in one unit of work."""

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
        """How many customers the store holds."""

    def stream(self, *, batch_size: int = 1000) -> Iterator[Customer]:
        """Every customer in id order, fetched ``batch_size`` at a time."""


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

    actor: Actor
    customers: CustomerRepository
    audit: AuditTrail
    outbox: Outbox

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
