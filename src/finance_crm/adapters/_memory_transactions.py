"""The in-memory transaction and contribution repositories (see ``memory.py``).

Same promises as the SQL adapter: a day's (or month's) feed replaces what it held, an
account's reference (a customer's month and currency) is unique, and a write that
fails stores none of its rows.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from finance_crm.adapters._graph_checks import refuse_empty_scope
from finance_crm.errors import DuplicateError, NotFoundError, ValidationError
from finance_crm.ids import AccountId, CustomerId, TransactionId
from finance_crm.model.transactions import ContributionFigure, Transaction
from finance_crm.money import Money

if TYPE_CHECKING:
    from finance_crm.adapters.memory import InMemoryUnitOfWork

__all__ = [
    "ContributionKey",
    "MemoryContributions",
    "MemoryTransactions",
    "duplicate_figure",
    "duplicate_reference",
]

# (customer, month, currency) -> minor units
ContributionKey = tuple[CustomerId, datetime.date, str]


def duplicate_reference() -> DuplicateError:
    return DuplicateError(
        "a transaction with this reference is already stored for the account: a feed "
        "holds each transaction once"
    )


def duplicate_figure() -> DuplicateError:
    return DuplicateError(
        "a contribution figure for this customer, month and currency is already stored: "
        "a feed holds one figure per customer, month and currency"
    )


class MemoryTransactions:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def _visible(self) -> dict[TransactionId, Transaction]:
        state, pending = self._uow._store._state, self._uow._pending
        found = {
            i: t for i, t in state.transactions.items() if t.day not in pending.cleared_txn_days
        }
        found.update(pending.transactions)
        return found

    def clear_day(self, day: datetime.date) -> int:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        pending = uow._pending
        removed = sum(1 for t in self._visible().values() if t.day == day)
        pending.cleared_txn_days = pending.cleared_txn_days | {day}
        pending.transactions = {i: t for i, t in pending.transactions.items() if t.day != day}
        return removed

    def write(self, transactions: Sequence[Transaction]) -> None:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        for t in transactions:  # every row checked before any is stored
            if not isinstance(t, Transaction):
                raise ValidationError("expected finance_crm Transactions", path="$")
        for t in transactions:
            if self._uow.accounts._find(t.account_id) is None:
                raise NotFoundError("no account with this id; add the account first")
        taken = {(t.account_id, t.reference) for t in self._visible().values()}
        keys = [(t.account_id, t.reference) for t in transactions]
        if len(set(keys)) != len(keys) or taken & set(keys):
            raise duplicate_reference()
        pending = uow._pending
        pending.transactions = {**pending.transactions, **{t.id: t for t in transactions}}

    def record_feed(self, day: datetime.date, *, replaced: int, loaded: int) -> None:
        self._uow._check_writable()
        refuse_empty_scope(self._uow.scope)
        self._uow._audit(
            "transactions.loaded",
            "transaction_day",
            day.isoformat(),
            1,
            {"transactions": {"before": replaced, "after": loaded}},
        )

    def of_customer(
        self, customer_id: CustomerId, start: datetime.date, end: datetime.date
    ) -> list[Transaction]:
        accounts = {a.id for a in self._uow.accounts.of_customer(customer_id)}
        found = [
            t
            for t in self._visible().values()
            if t.account_id in accounts and start <= t.day <= end
        ]
        return sorted(found, key=lambda t: (t.day, t.account_id, t.reference))

    def count(self) -> int:
        return len(self._visible())

    def accounts_of(self) -> dict[AccountId, list[Transaction]]:
        """Every visible transaction by account (what task generation looks at)."""
        by_account: dict[AccountId, list[Transaction]] = {}
        for t in self._visible().values():
            by_account.setdefault(t.account_id, []).append(t)
        return by_account


class MemoryContributions:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def _visible(self) -> dict[ContributionKey, int]:
        state, pending = self._uow._store._state, self._uow._pending
        found = {k: v for k, v in state.contributions.items() if k[1] not in pending.cleared_months}
        found.update(pending.contributions)
        return found

    def resolve(self, customer_numbers: Collection[str]) -> dict[str, CustomerId]:
        found = {}
        for number in set(customer_numbers):
            owner = self._uow.customers._owner("number", number)
            if owner is not None and self._uow.customers._visible(owner) is not None:
                found[number] = owner
        return found

    def clear_month(self, month: datetime.date) -> int:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        pending = uow._pending
        removed = sum(1 for k in self._visible() if k[1] == month)
        pending.cleared_months = pending.cleared_months | {month}
        pending.contributions = {k: v for k, v in pending.contributions.items() if k[1] != month}
        return removed

    def write(self, figures: Sequence[ContributionFigure]) -> None:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        for f in figures:
            if not isinstance(f, ContributionFigure):
                raise ValidationError("expected finance_crm ContributionFigures", path="$")
        for f in figures:
            if uow.customers._visible(f.customer_id) is None:
                raise NotFoundError("no customer with this id; add the customer first")
        keys = [(f.customer_id, f.month, f.amount.currency.code) for f in figures]
        if len(set(keys)) != len(keys) or set(self._visible()) & set(keys):
            raise duplicate_figure()
        pending = uow._pending
        pending.contributions = {
            **pending.contributions,
            **{k: f.amount.minor_units for k, f in zip(keys, figures, strict=True)},
        }

    def record_feed(self, month: datetime.date, *, replaced: int, loaded: int) -> None:
        self._uow._check_writable()
        refuse_empty_scope(self._uow.scope)
        self._uow._audit(
            "contributions.loaded",
            "contribution_month",
            month.isoformat()[:7],
            1,
            {"figures": {"before": replaced, "after": loaded}},
        )

    def of_customer(
        self, customer_id: CustomerId, first_month: datetime.date, last_month: datetime.date
    ) -> list[ContributionFigure]:
        found = [
            ContributionFigure(
                customer_id=k[0], month=k[1], amount=Money.from_minor_units(units, k[2])
            )
            for k, units in self._visible().items()
            if k[0] == customer_id and first_month <= k[1] <= last_month
        ]
        return sorted(found, key=lambda f: (f.month, f.amount.currency.code))

    def count(self) -> int:
        return len(self._visible())
