"""Transactions and contribution figures on SQLAlchemy Core: ``uow.transactions`` and
``uow.contributions`` (the same promises and messages as the in-memory adapter).

Tables: ``crm_transaction`` (one row per booked transaction: amounts as integer minor
units, a trade's quantity as exact decimal text; unique per account and reference) and
``crm_contribution`` (one row per customer, month and currency).

A write stores all its rows or none: each call runs in a savepoint, and a second row
for the same key (in the call or stored) is the database's unique violation, raised as
:class:`~finance_crm.errors.DuplicateError`.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from finance_crm.adapters._graph_checks import refuse_empty_scope
from finance_crm.adapters._memory_transactions import duplicate_figure, duplicate_reference
from finance_crm.adapters.sql.errors import mapped_errors
from finance_crm.adapters.sql.rows import as_uuid, chunks
from finance_crm.adapters.sql.tables import accounts, contributions, customers, transactions
from finance_crm.errors import DuplicateError, ValidationError
from finance_crm.ids import AccountId, CustomerId, TransactionId
from finance_crm.model.transactions import ContributionFigure, Transaction, TransactionKind
from finance_crm.money import Money

if TYPE_CHECKING:
    from finance_crm.adapters.sql.store import SqlUnitOfWork

__all__ = ["SqlContributionRepository", "SqlTransactionRepository"]

_CHUNK = 1000  # rows per executemany
_IN_CHUNK = 500  # keys per IN (...) list

_INSERT_TRANSACTION = transactions.insert()
_CLEAR_DAY = transactions.delete().where(transactions.c.day == sa.bindparam("day", type_=sa.Date()))
_TRANSACTIONS_OF = (
    sa.select(transactions)
    .join(accounts, accounts.c.id == transactions.c.account_id)
    .where(
        accounts.c.customer_id == sa.bindparam("customer", type_=sa.Uuid()),
        transactions.c.day >= sa.bindparam("start", type_=sa.Date()),
        transactions.c.day <= sa.bindparam("end", type_=sa.Date()),
    )
    .order_by(transactions.c.day, transactions.c.account_id, transactions.c.reference)
)
_TRANSACTION_COUNT = sa.select(sa.func.count().label("n")).select_from(transactions)

_INSERT_FIGURE = contributions.insert()
_CLEAR_MONTH = contributions.delete().where(
    contributions.c.month == sa.bindparam("month", type_=sa.Date())
)
_FIGURES_OF = (
    sa.select(contributions)
    .where(
        contributions.c.customer_id == sa.bindparam("customer", type_=sa.Uuid()),
        contributions.c.month >= sa.bindparam("first", type_=sa.Date()),
        contributions.c.month <= sa.bindparam("last", type_=sa.Date()),
    )
    .order_by(contributions.c.month, contributions.c.currency)
)
_FIGURE_COUNT = sa.select(sa.func.count().label("n")).select_from(contributions)
_NUMBERS_IN = sa.select(customers.c.customer_number, customers.c.id).where(
    customers.c.customer_number.in_(sa.bindparam("numbers", expanding=True))
)


def transaction_to_row(t: Transaction) -> dict[str, Any]:
    return {
        "id": t.id,
        "account_id": t.account_id,
        "day": t.day,
        "reference": t.reference,
        "kind": t.kind.value,
        "amount_minor": t.amount.minor_units,
        "currency": t.amount.currency.code,
        "instrument": t.instrument,
        "sector": t.sector,
        "quantity": str(t.quantity) if t.quantity is not None else None,
    }


def transaction_from_row(row: sa.RowMapping) -> Transaction:
    quantity = row["quantity"]
    return Transaction(
        id=TransactionId(as_uuid(row["id"])),
        account_id=AccountId(as_uuid(row["account_id"])),
        day=row["day"],
        reference=row["reference"],
        kind=TransactionKind(row["kind"]),
        amount=Money.from_minor_units(int(row["amount_minor"]), row["currency"]),
        instrument=row["instrument"],
        sector=row["sector"],
        quantity=Decimal(quantity) if quantity is not None else None,
    )


class SqlTransactionRepository:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def _execute(self, statement: sa.Executable, params: Any = None) -> sa.CursorResult[Any]:
        with mapped_errors():
            return self._uow.connection.execute(statement, params)

    def clear_day(self, day: datetime.date) -> int:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        return int(self._execute(_CLEAR_DAY, {"day": day}).rowcount)

    def write(self, transactions_: Sequence[Transaction]) -> None:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        for t in transactions_:
            if not isinstance(t, Transaction):
                raise ValidationError("expected finance_crm Transactions", path="$")
        rows = [transaction_to_row(t) for t in transactions_]
        if not rows:
            return
        try:
            with uow.savepoint():
                for chunk in chunks(rows, _CHUNK):
                    self._execute(_INSERT_TRANSACTION, chunk)
        except DuplicateError:
            raise duplicate_reference() from None

    def record_feed(self, day: datetime.date, *, replaced: int, loaded: int) -> None:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        uow._write_audit_rows(
            [
                uow._entity_audit_row(
                    "transactions.loaded",
                    "transaction_day",
                    day.isoformat(),
                    1,
                    {"transactions": {"before": replaced, "after": loaded}},
                    uow._now(),
                )
            ]
        )

    def of_customer(
        self, customer_id: CustomerId, start: datetime.date, end: datetime.date
    ) -> list[Transaction]:
        found = self._execute(
            _TRANSACTIONS_OF, {"customer": customer_id, "start": start, "end": end}
        )
        return [transaction_from_row(r) for r in found.mappings()]

    def count(self) -> int:
        return int(self._execute(_TRANSACTION_COUNT).scalar_one())


class SqlContributionRepository:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def _execute(self, statement: sa.Executable, params: Any = None) -> sa.CursorResult[Any]:
        with mapped_errors():
            return self._uow.connection.execute(statement, params)

    def resolve(self, customer_numbers: Collection[str]) -> dict[str, CustomerId]:
        found: dict[str, CustomerId] = {}
        for chunk in chunks(sorted(set(customer_numbers)), _IN_CHUNK):
            result = self._execute(_NUMBERS_IN, {"numbers": chunk}).mappings()
            for row in result:
                found[row["customer_number"]] = CustomerId(as_uuid(row["id"]))
        return found

    def clear_month(self, month: datetime.date) -> int:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        return int(self._execute(_CLEAR_MONTH, {"month": month}).rowcount)

    def write(self, figures: Sequence[ContributionFigure]) -> None:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        for f in figures:
            if not isinstance(f, ContributionFigure):
                raise ValidationError("expected finance_crm ContributionFigures", path="$")
        rows = [
            {
                "customer_id": f.customer_id,
                "month": f.month,
                "currency": f.amount.currency.code,
                "amount_minor": f.amount.minor_units,
            }
            for f in figures
        ]
        if not rows:
            return
        try:
            with uow.savepoint():
                for chunk in chunks(rows, _CHUNK):
                    self._execute(_INSERT_FIGURE, chunk)
        except DuplicateError:
            raise duplicate_figure() from None

    def record_feed(self, month: datetime.date, *, replaced: int, loaded: int) -> None:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        uow._write_audit_rows(
            [
                uow._entity_audit_row(
                    "contributions.loaded",
                    "contribution_month",
                    month.isoformat()[:7],
                    1,
                    {"figures": {"before": replaced, "after": loaded}},
                    uow._now(),
                )
            ]
        )

    def of_customer(
        self, customer_id: CustomerId, first_month: datetime.date, last_month: datetime.date
    ) -> list[ContributionFigure]:
        found = self._execute(
            _FIGURES_OF, {"customer": customer_id, "first": first_month, "last": last_month}
        )
        return [
            ContributionFigure(
                customer_id=CustomerId(as_uuid(r["customer_id"])),
                month=r["month"],
                amount=Money.from_minor_units(int(r["amount_minor"]), r["currency"]),
            )
            for r in found.mappings()
        ]

    def count(self) -> int:
        return int(self._execute(_FIGURE_COUNT).scalar_one())
