"""Repositories on SQLAlchemy Core, bound to one unit of work's connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from finance_crm.adapters._checks import check_customer, check_update
from finance_crm.adapters.sql.errors import mapped_errors
from finance_crm.adapters.sql.rows import (
    CUSTOMER_COLUMNS,
    DOCUMENT_COLUMNS,
    customer_from_row,
    customer_to_row,
    insert_sql,
)
from finance_crm.adapters.sql.tables import audit_log, customer_documents, customers, outbox
from finance_crm.auditing import customer_changes
from finance_crm.errors import ConflictError, DuplicateError, NotFoundError, ValidationError
from finance_crm.ids import CustomerId, EventId
from finance_crm.model.customers import Customer
from finance_crm.model.documents import IdDocumentType
from finance_crm.model.events import CustomerOpened, DomainEvent
from finance_crm.ports import AuditEntry, OutboxMessage

if TYPE_CHECKING:
    from finance_crm.adapters.sql.store import SqlUnitOfWork

__all__ = ["SqlAuditTrail", "SqlCustomerRepository", "SqlOutbox"]


# Built once: SQLAlchemy then only looks the compiled form up in its cache per call.
_BY_ID = sa.select(customers).where(customers.c.id == sa.bindparam("key"))
_BY_ID_FOR_UPDATE = _BY_ID.with_for_update()
_BY_NUMBER = sa.select(customers).where(customers.c.customer_number == sa.bindparam("key"))
_BY_DOCUMENT = sa.select(customers).where(
    customers.c.id
    == sa.select(customer_documents.c.customer_id)
    .where(
        customer_documents.c.document_type == sa.bindparam("document_type"),
        customer_documents.c.issuing_country == sa.bindparam("issuing_country"),
        customer_documents.c.number == sa.bindparam("number"),
    )
    .scalar_subquery()
)


class SqlCustomerRepository:
    """Customers stored in ``crm_customer`` (+ ``crm_customer_document``)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        placeholder = uow._codec.placeholder
        self._insert_customer = insert_sql("crm_customer", CUSTOMER_COLUMNS, placeholder)
        self._insert_document = insert_sql("crm_customer_document", DOCUMENT_COLUMNS, placeholder)

    # -- writes --------------------------------------------------------------------

    def add(self, customer: Customer) -> None:
        self.add_many([customer])

    def add_many(self, customers_: Sequence[Customer]) -> None:
        """Insert a batch with one ``executemany`` per table, inside a savepoint."""
        uow = self._uow
        uow._check_writable()
        codec, converter, now = uow._codec, uow._store.converter, uow._now()
        customer_rows: list[tuple[Any, ...]] = []
        document_rows: list[tuple[Any, ...]] = []
        events: list[DomainEvent] = []
        audit_rows: list[tuple[Any, ...]] = []
        seen_numbers: set[str] = set()
        for customer in customers_:
            check_customer(customer)
            if customer.customer_number in seen_numbers:
                raise DuplicateError("the same customer number appears twice in this batch")
            seen_numbers.add(customer.customer_number)
            wire = converter.unstructure(customer)
            customer_rows.append(codec.customer(customer_to_row(customer, converter, now, wire)))
            customer_id = codec.uuid(customer.id)
            document_rows.extend(
                (doc.type.value, doc.issuing_country, doc.number, customer_id)
                for doc in customer.identity_documents
            )
            audit_rows.append(
                uow._audit_row(
                    "customer.opened",
                    customer,
                    customer_changes(None, wire, converter),
                    now,
                    entity_id=wire["id"],
                )
            )
            events.append(
                CustomerOpened(
                    occurred_at=now,
                    customer_id=customer.id,
                    customer_number=customer.customer_number,
                    kind=customer.kind.value,
                    status=customer.status.value,
                )
            )
        if not customer_rows:
            return
        with uow.savepoint(), mapped_errors():
            connection = uow.connection
            connection.exec_driver_sql(self._insert_customer, customer_rows)
            if document_rows:
                connection.exec_driver_sql(self._insert_document, document_rows)
            uow._write_audit_rows(audit_rows)
            uow._write_events(events)

    def update(self, customer: Customer, events: Sequence[DomainEvent] = ()) -> Customer:
        uow = self._uow
        uow._check_writable()
        check_customer(customer, events)
        converter, now = uow._store.converter, uow._now()
        with uow.savepoint(), mapped_errors():
            current = self._select_one(_BY_ID_FOR_UPDATE, key=customer.id)
            check_update(current, customer)
            assert current is not None
            stored = attrs.evolve(customer, version=customer.version + 1)
            wire = converter.unstructure(stored)
            values = customer_to_row(stored, converter, now, wire)
            del values["id"]
            result = uow.connection.execute(
                customers.update()
                .where(customers.c.id == customer.id, customers.c.version == customer.version)
                .values(values)
            )
            if result.rowcount != 1:
                raise ConflictError(
                    "the customer was changed by someone else meanwhile; reload and retry"
                )
            if current.identity_documents != stored.identity_documents:
                uow.connection.execute(
                    customer_documents.delete().where(
                        customer_documents.c.customer_id == customer.id
                    )
                )
                if stored.identity_documents:
                    uow.connection.execute(
                        customer_documents.insert(),
                        [
                            {
                                "document_type": d.type.value,
                                "issuing_country": d.issuing_country,
                                "number": d.number,
                                "customer_id": stored.id,
                            }
                            for d in stored.identity_documents
                        ],
                    )
            changes = customer_changes(current, wire, converter)
            uow._write_audit_rows([uow._audit_row("customer.revised", stored, changes, now)])
            uow._write_events(list(events))
        return stored

    # -- reads ---------------------------------------------------------------------

    def _select_one(self, statement: sa.Select[Any], **params: Any) -> Customer | None:
        with mapped_errors():
            row = self._uow.connection.execute(statement, params).mappings().first()
        return None if row is None else customer_from_row(row, self._uow._store.converter)

    def get(self, customer_id: CustomerId) -> Customer:
        if not isinstance(customer_id, uuid.UUID):
            raise ValidationError("a customer id is a UUID", path="$.customer_id")
        customer = self._select_one(_BY_ID, key=customer_id)
        if customer is None:
            raise NotFoundError("no customer with this id")
        return customer

    def get_by_number(self, customer_number: str) -> Customer:
        customer = self._select_one(_BY_NUMBER, key=customer_number)
        if customer is None:
            raise NotFoundError("no customer with this customer number")
        return customer

    def find_by_document(
        self, document_type: IdDocumentType, number: str, issuing_country: str = "CN"
    ) -> Customer | None:
        return self._select_one(
            _BY_DOCUMENT,
            document_type=document_type.value,
            issuing_country=issuing_country,
            number=number,
        )

    def count(self) -> int:
        with mapped_errors():
            return int(
                self._uow.connection.execute(
                    sa.select(sa.func.count()).select_from(customers)
                ).scalar_one()
            )

    def stream(self, *, batch_size: int = 1000) -> Iterator[Customer]:
        """Keyset pagination by id: memory stays flat however many customers there are."""
        converter = self._uow._store.converter
        last: uuid.UUID | None = None
        while True:
            statement = sa.select(customers).order_by(customers.c.id).limit(batch_size)
            if last is not None:
                statement = statement.where(customers.c.id > last)
            with mapped_errors():
                rows = self._uow.connection.execute(statement).mappings().all()
            for row in rows:
                yield customer_from_row(row, converter)
            if len(rows) < batch_size:
                return
            last = rows[-1]["id"]


class SqlAuditTrail:
    """Reads ``crm_audit_log`` (written by the repositories, never updated)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def entries(
        self, *, entity_id: str | None = None, after_sequence: int = 0, limit: int = 1000
    ) -> list[AuditEntry]:
        statement = (
            sa.select(audit_log)
            .where(audit_log.c.sequence > after_sequence)
            .order_by(audit_log.c.sequence)
            .limit(limit)
        )
        if entity_id is not None:
            statement = statement.where(audit_log.c.entity_id == entity_id)
        with mapped_errors():
            rows = self._uow.connection.execute(statement).mappings().all()
        return [AuditEntry(**dict(row)) for row in rows]


class SqlOutbox:
    """Reads and marks ``crm_outbox``."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def pending(self, *, limit: int = 1000) -> list[OutboxMessage]:
        statement = (
            sa.select(
                outbox.c.sequence,
                outbox.c.event_id,
                outbox.c.event_type,
                outbox.c.aggregate_id,
                outbox.c.occurred_at,
                outbox.c.payload,
            )
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.sequence)
            .limit(limit)
        )
        with mapped_errors():
            rows = self._uow.connection.execute(statement).mappings().all()
        return [OutboxMessage(**{**row, "event_id": EventId(row["event_id"])}) for row in rows]

    def mark_published(self, event_ids: Sequence[EventId]) -> None:
        self._uow._check_writable()
        if not event_ids:
            return
        with mapped_errors():
            self._uow.connection.execute(
                outbox.update()
                .where(outbox.c.event_id.in_(list(event_ids)), outbox.c.published_at.is_(None))
                .values(published_at=self._uow._now())
            )
