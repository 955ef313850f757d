"""The in-memory account and balance repositories (see ``memory.py``).

Same promises as the SQL adapter: writes visible to their own unit of work at once and
to others on commit, account versions checked at commit, a balance unique per account
and day, a day's feed replacing what the day held.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import attrs

from finance_crm.adapters._account_checks import (
    account_changes,
    check_account_update,
    check_new_account,
    duplicate_balance,
    duplicate_number,
)
from finance_crm.adapters._graph_checks import refuse_empty_scope
from finance_crm.errors import DuplicateError, NotFoundError
from finance_crm.ids import AccountId, CustomerId
from finance_crm.model.accounts import Account, DailyBalance
from finance_crm.money import Money

if TYPE_CHECKING:
    from finance_crm.adapters.memory import InMemoryUnitOfWork

__all__ = ["MemoryAccounts", "MemoryBalances"]

BalanceKey = tuple[AccountId, datetime.date]


class MemoryAccounts:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def _find(self, account_id: AccountId) -> Account | None:
        pending = self._uow._pending.accounts.get(account_id)
        if pending is not None:
            return pending[1]
        return self._uow._store._state.accounts.get(account_id)

    def get(self, account_id: AccountId) -> Account:
        account = self._find(account_id)
        if account is None:
            raise NotFoundError("no account with this id")
        return account

    def find_by_number(self, account_number: str) -> Account | None:
        for _, account in self._uow._pending.accounts.values():
            if account.account_number == account_number:
                return account
        owner = self._uow._store._state.account_numbers.get(account_number)
        found = self._find(owner) if owner is not None else None
        return found if found is not None and found.account_number == account_number else None

    def of_customer(self, customer_id: CustomerId) -> list[Account]:
        ids = set(self._uow._store._state.accounts) | set(self._uow._pending.accounts)
        found = [a for a in map(self._find, ids) if a is not None and a.customer_id == customer_id]
        return sorted(found, key=lambda a: a.account_number)

    def count(self) -> int:
        state, pending = self._uow._store._state, self._uow._pending
        return len(state.accounts) + sum(1 for b, _ in pending.accounts.values() if b is None)

    def add(self, account: Account) -> None:
        uow = self._uow
        uow._check_writable()
        check_new_account(account, lambda c: uow.customers._visible(c) is not None)
        refuse_empty_scope(uow.scope)
        if self._find(account.id) is not None:
            raise DuplicateError("an account with this id is already stored")
        if self.find_by_number(account.account_number) is not None:
            raise duplicate_number()
        stored = attrs.evolve(account, version=1)
        uow._pending.accounts[account.id] = (None, stored)
        uow._audit("account.added", "account", str(account.id), 1, account_changes(None, stored))

    def add_many(self, accounts: Sequence[Account]) -> None:
        with self._uow.savepoint():
            for account in accounts:
                self.add(account)

    def update(self, account: Account) -> Account:
        uow = self._uow
        uow._check_writable()
        current = self._find(account.id) if isinstance(account, Account) else None
        check_account_update(current, account)
        assert current is not None
        refuse_empty_scope(uow.scope)
        stored = attrs.evolve(account, version=account.version + 1)
        pending = uow._pending.accounts
        base = pending[account.id][0] if account.id in pending else current.version
        pending[account.id] = (base, stored)
        uow._audit(
            "account.revised",
            "account",
            str(account.id),
            stored.version,
            account_changes(current, stored),
        )
        return stored


class MemoryBalances:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def _visible(self, key: BalanceKey) -> int | None:
        pending = self._uow._pending
        if key in pending.balances:
            return pending.balances[key]
        if key[1] in pending.cleared_days:
            return None
        return self._uow._store._state.balances.get(key)

    def resolve(self, account_numbers: Collection[str]) -> dict[str, tuple[AccountId, str]]:
        accounts = self._uow.accounts
        found = {n: accounts.find_by_number(n) for n in set(account_numbers)}
        return {n: (a.id, a.currency) for n, a in found.items() if a is not None}

    def clear_day(self, day: datetime.date) -> int:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        pending = uow._pending
        stored = [k for k in uow._store._state.balances if k[1] == day]
        mine = [k for k in pending.balances if k[1] == day]
        removed = len(mine) + (0 if day in pending.cleared_days else len(stored))
        pending.cleared_days = pending.cleared_days | {day}
        for key in mine:
            del pending.balances[key]
        return removed

    def write(self, rows: Sequence[tuple[AccountId, datetime.date, int]]) -> None:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        for _, _, minor_units in rows:  # every row checked before any is stored
            if not isinstance(minor_units, int) or isinstance(minor_units, bool):
                raise TypeError("balances are written as integer minor units")
        keys = [(account_id, day) for account_id, day, _ in rows]
        if len(set(keys)) != len(keys) or any(self._visible(k) is not None for k in keys):
            raise duplicate_balance()
        for account_id, day, minor_units in rows:
            uow._pending.balances[(account_id, day)] = minor_units

    def record_feed(self, day: datetime.date, *, replaced: int, loaded: int) -> None:
        self._uow._check_writable()
        refuse_empty_scope(self._uow.scope)
        self._uow._audit(
            "balances.loaded",
            "balance_day",
            day.isoformat(),
            1,
            {"balances": {"before": replaced, "after": loaded}},
        )

    def of_accounts(
        self, account_ids: Collection[AccountId], start: datetime.date, end: datetime.date
    ) -> list[DailyBalance]:
        uow = self._uow
        wanted = set(account_ids)
        keys = set(uow._store._state.balances) | set(uow._pending.balances)
        found: list[DailyBalance] = []
        for account_id in sorted(wanted):
            account = uow.accounts.get(account_id)
            days = sorted(k[1] for k in keys if k[0] == account_id and self._visible(k) is not None)
            before = [d for d in days if d < start]
            chosen = before[-1:] + [d for d in days if start <= d <= end]
            for day in chosen:
                units = self._visible((account_id, day))
                assert units is not None
                found.append(
                    DailyBalance(account_id, day, Money.from_minor_units(units, account.currency))
                )
        return found

    def count(self) -> int:
        uow = self._uow
        keys = set(uow._store._state.balances) | set(uow._pending.balances)
        return sum(1 for k in keys if self._visible(k) is not None)
