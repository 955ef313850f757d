"""Checks and audit forms every adapter uses for accounts and balances, worded the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from finance_crm.errors import ConflictError, DuplicateError, NotFoundError, ValidationError
from finance_crm.ids import CustomerId
from finance_crm.model.accounts import Account
from finance_crm.security import DEFAULT_MASKING, PersonalDataKind

__all__ = [
    "account_changes",
    "check_account_update",
    "check_new_account",
    "duplicate_balance",
    "duplicate_number",
]


def check_new_account(account: object, customer_exists: Callable[[CustomerId], bool]) -> Account:
    if not isinstance(account, Account):
        raise ValidationError("expected a finance_crm Account", path="$")
    if account.version != 0:
        raise ValidationError("a new account has version 0", path="$.version")
    if not customer_exists(account.customer_id):
        raise NotFoundError("no customer with this id; add the customer before their accounts")
    return account


def check_account_update(current: Account | None, account: object) -> Account:
    if not isinstance(account, Account):
        raise ValidationError("expected a finance_crm Account", path="$")
    if current is None:
        raise NotFoundError("no account with this id; add() it first")
    if current.version != account.version:
        raise ConflictError(
            "the account was changed by someone else since it was read; reload it and try again"
        )
    for field in ("customer_id", "account_number", "kind", "currency", "opened_on"):
        if getattr(current, field) != getattr(account, field):
            raise ValidationError(
                f"an account's {field} cannot change; close it and add a new account",
                path=f"$.{field}",
            )
    return account


def duplicate_number() -> DuplicateError:
    return DuplicateError(
        "another account already has this account number; look it up with find_by_number()"
    )


def duplicate_balance() -> DuplicateError:
    return DuplicateError(
        "a balance for this account and day is already stored: a feed holds one balance "
        "per account and day"
    )


def account_changes(before: Account | None, after: Account) -> dict[str, dict[str, Any]]:
    """The audit form of an account's change, its number masked."""

    def wire(a: Account) -> dict[str, Any]:
        return {
            "customer_id": str(a.customer_id),
            "account_number": DEFAULT_MASKING.mask(
                PersonalDataKind.ACCOUNT_NUMBER, a.account_number
            ),
            "kind": a.kind.value,
            "currency": a.currency,
            "opened_on": a.opened_on.isoformat(),
            "closed_on": a.closed_on.isoformat() if a.closed_on else None,
            "product_code": a.product_code,
        }

    old = wire(before) if before else None
    new = wire(after)
    if old is None:
        return {k: {"before": None, "after": v} for k, v in new.items() if v is not None}
    return {k: {"before": old[k], "after": v} for k, v in new.items() if old[k] != v}
