"""Repositories on SQLAlchemy Core, bound to one unit of work's connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from finance_crm.access import AccessScope, ScopeKind
from finance_crm.adapters._checks import check_customer, check_update
from finance_crm.adapters._paging import check_page, parse_cursor
from finance_crm.adapters.sql.errors import mapped_errors
from finance_crm.adapters.sql.rows import (
    CUSTOMER_COLUMNS,
    DOCUMENT_COLUMNS,
    customer_from_row,
    customer_to_row,
    insert_sql,
)
from finance_crm.adapters.sql.scopes import SMALL_UNIT_SHARE, Reads, customer_filter
from finance_crm.adapters.sql.tables import (
    assignment_members,
    audit_log,
    customer_documents,
    customers,
    outbox,
)
from finance_crm.auditing import customer_changes
from finance_crm.errors import (
    ConflictError,
    DuplicateError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from finance_crm.ids import CustomerId, EventId, StaffId
from finance_crm.model.assignments import ManagerRole
from finance_crm.model.customers import Customer, CustomerKind
from finance_crm.model.documents import IdDocumentType
from finance_crm.model.events import CustomerOpened, DomainEvent
from finance_crm.ports import (
    AuditEntry,
    CustomerOrder,
    CustomerPage,
    CustomerSummary,
    OutboxMessage,
)
from finance_crm.security import PersonalDataKind

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
_COUNT = sa.select(sa.func.count()).select_from(customers)
_EXISTS = sa.select(customers.c.id).where(customers.c.id == sa.bindparam("key"))
_STREAM = sa.select(customers).order_by(customers.c.id).limit(sa.bindparam("batch_size"))
_STREAM_AFTER = _STREAM.where(customers.c.id > sa.bindparam("last", type_=sa.Uuid()))

# Customer lists: the columns of a summary, with the primary manager from the member
# index (at most one primary per customer).
_PRIMARY_MANAGER = (
    sa.select(assignment_members.c.staff_id)
    .where(
        assignment_members.c.customer_id == customers.c.id,
        assignment_members.c.role == ManagerRole.PRIMARY.value,
    )
    .scalar_subquery()
)
_SUMMARY = sa.select(
    customers.c.id,
    customers.c.customer_number,
    customers.c.kind,
    customers.c.status,
    customers.c.name,
    customers.c.risk_level,
    _PRIMARY_MANAGER.label("primary_manager"),
)
_CURSOR = customers.alias("page_cursor")
_PAGE_ORDER: dict[CustomerOrder, tuple[sa.ColumnElement[Any], ...]] = {
    CustomerOrder.NAME: (customers.c.name, customers.c.id),
    # customer numbers are unique: the number alone is the key (its unique index)
    CustomerOrder.CUSTOMER_NUMBER: (customers.c.customer_number,),
    CustomerOrder.OPENED_AT: (customers.c.opened_at, customers.c.id),
}


def _page_statement(order: CustomerOrder, after: bool) -> sa.Select[Any]:
    """A page's SELECT: keyset ``(order column, id) > (the cursor's)``, by ``:cursor``."""
    key = _PAGE_ORDER[order]
    statement = _SUMMARY.order_by(*key).limit(sa.bindparam("limit"))
    if not after:
        return statement
    cursor = sa.bindparam("cursor", type_=sa.Uuid())
    cursor_value = sa.select(_CURSOR.c[key[0].name]).where(_CURSOR.c.id == cursor).scalar_subquery()
    if len(key) == 1:
        return statement.where(key[0] > cursor_value)
    return statement.where(sa.tuple_(*key) > sa.tuple_(cursor_value, cursor))


_PAGES = {
    (order, after): _page_statement(order, after)
    for order in CustomerOrder
    for after in (False, True)
}


class SqlCustomerRepository:
    """Customers stored in ``crm_customer`` (+ ``crm_customer_document``)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        placeholder = uow._codec.placeholder
        self._insert_customer = insert_sql("crm_customer", CUSTOMER_COLUMNS, placeholder)
        self._insert_document = insert_sql("crm_customer_document", DOCUMENT_COLUMNS, placeholder)
        # The read statements with this unit of work's scope filter, built on first use.
        self._scoped: dict[tuple[AccessScope, object], sa.Select[Any]] = {}

    # -- scope ---------------------------------------------------------------------

    def _in_scope(
        self, name: object, statement: sa.Select[Any], *, reads: Reads = "one"
    ) -> sa.Select[Any]:
        """``statement`` restricted to the actor's scope: the same object when the scope is
        everything (no SQL added), else a copy with the filter, built once per scope.
        ``reads``: how many customers the statement reads (see ``customer_filter``)."""
        scope = self._uow.scope
        if scope.is_everything:
            return statement
        key = (scope, name)
        scoped = self._scoped.get(key)
        if scoped is None:
            small = False
            if reads == "ordered" and scope.kind is ScopeKind.UNIT and scope.unit_path:
                small = (
                    self._uow._store.unit_staff_share(self._uow.connection, scope.unit_path)
                    < SMALL_UNIT_SHARE
                )
            condition = customer_filter(
                scope,
                customers.c.id,
                reads=reads,
                dialect=self._uow._store.dialect_name,
                small_unit=small,
            )
            assert condition is not None
            scoped = statement.where(condition)
            self._scoped[key] = scoped
        return scoped

    def _check_may_open(self) -> None:
        if self._uow.scope.kind is ScopeKind.NOTHING:
            raise PermissionDenied(
                "your access scope is empty: only staff members (or head office and "
                "system actors) may open customers"
            )

    def _check_may_change(self, customer_id: CustomerId) -> None:
        if self._uow.scope.is_everything:
            return
        with mapped_errors():
            row = self._uow.connection.execute(
                self._in_scope("exists", _EXISTS), {"key": customer_id}
            ).first()
        if row is None:
            raise PermissionDenied(
                "this customer is outside your access scope; ask a manager whose scope "
                "covers the customer"
            )

    # -- writes --------------------------------------------------------------------

    def add(self, customer: Customer) -> None:
        self.add_many([customer])

    def add_many(self, customers_: Sequence[Customer]) -> None:
        """Insert a batch with one ``executemany`` per table, inside a savepoint."""
        uow = self._uow
        uow._check_writable()
        self._check_may_open()
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
            self._check_may_change(customer.id)
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
        customer = self._select_one(self._in_scope("by_id", _BY_ID), key=customer_id)
        if customer is None:
            raise NotFoundError("no customer with this id")
        return customer

    def get_by_number(self, customer_number: str) -> Customer:
        customer = self._select_one(self._in_scope("by_number", _BY_NUMBER), key=customer_number)
        if customer is None:
            raise NotFoundError("no customer with this customer number")
        return customer

    def find_by_document(
        self, document_type: IdDocumentType, number: str, issuing_country: str = "CN"
    ) -> Customer | None:
        return self._select_one(
            self._in_scope("by_document", _BY_DOCUMENT),
            document_type=document_type.value,
            issuing_country=issuing_country,
            number=number,
        )

    def count(self) -> int:
        """How many customers are in the actor's scope."""
        with mapped_errors():
            return int(
                self._uow.connection.execute(
                    self._in_scope("count", _COUNT, reads="all")
                ).scalar_one()
            )

    def stream(self, *, batch_size: int = 1000) -> Iterator[Customer]:
        """Keyset pagination by id: memory stays flat however many customers there are."""
        if type(batch_size) is not int or batch_size < 1:
            raise ValidationError("batch_size is a whole number, 1 or more", path="$.batch_size")
        converter = self._uow._store.converter
        first = self._in_scope("stream", _STREAM, reads="ordered")
        following = self._in_scope("stream_after", _STREAM_AFTER, reads="ordered")
        last: uuid.UUID | None = None
        while True:
            params: dict[str, Any]
            if last is None:
                statement, params = first, {"batch_size": batch_size}
            else:
                statement, params = following, {"batch_size": batch_size, "last": last}
            with mapped_errors():
                rows = self._uow.connection.execute(statement, params).mappings().all()
            for row in rows:
                yield customer_from_row(row, converter)
            if len(rows) < batch_size:
                return
            last = rows[-1]["id"]

    def page(
        self,
        *,
        order: CustomerOrder = CustomerOrder.NAME,
        limit: int = 50,
        cursor: str | None = None,
    ) -> CustomerPage:
        """One page of summaries in one SELECT: keyset ``(order column, id) > cursor's``,
        the scope filter and the primary manager inside it. The cursor is the last
        customer's id (never a personal value such as a name)."""
        check_page(order, limit)
        after = parse_cursor(cursor) if cursor is not None else None
        statement = self._in_scope(
            ("page", order, after is not None), _PAGES[(order, after is not None)], reads="ordered"
        )
        params: dict[str, Any] = {"limit": limit + 1}
        if after is not None:
            params["cursor"] = after
        with mapped_errors():
            rows = self._uow.connection.execute(statement, params).mappings().all()
            if not rows and after is not None:
                known = self._uow.connection.execute(_EXISTS, {"key": after}).first()
                if known is None:
                    raise ValidationError(
                        "the cursor is not a customer of this store", path="$.cursor"
                    )
        masking = self._uow.masking
        items = []
        for row in rows[:limit]:
            name = row["name"]
            if row["kind"] == CustomerKind.INDIVIDUAL.value:
                name = masking.mask(PersonalDataKind.NAME, name)
            primary = row["primary_manager"]
            items.append(
                CustomerSummary(
                    id=CustomerId(row["id"]),
                    customer_number=row["customer_number"],
                    kind=row["kind"],
                    status=row["status"],
                    name=name,
                    risk_level=row["risk_level"],
                    primary_manager=StaffId(primary) if primary is not None else None,
                )
            )
        more = len(rows) > limit
        return CustomerPage(items=tuple(items), next_cursor=str(items[-1].id) if more else None)


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
