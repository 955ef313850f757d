"""The cached database of N customers with one deposit account each (``balance_feed``).

Cached as ``benchmarks/.work/cache/accounts-n<N>-v<version>.db`` and built once by a
child process (``--part build``; ``--rebuild`` makes it again):

* **Customers**: copied from the ``customer_get`` cache for the same N when there is one,
  else imported through finance_crm's ``import_customers`` as ``customer_get`` does; then
  the schema is upgraded to finance_crm's head revision (accounts and balances).
* **Accounts**: one CNY deposit account per customer, number ``6222`` + the customer's
  index in 12 digits (:func:`account_number`), opened on 2024-01-02. The first
  :data:`LIBRARY_ACCOUNTS` are added through finance_crm (``uow.accounts.add_many``), the
  rest with ``sqlite3`` ``executemany`` in the same row format: the build compares the
  rows finance_crm wrote with the ones the raw path would have written, and reads a few
  raw ones back through ``uow.accounts.find_by_number``. No balances. Then ``ANALYZE``.

This module imports only the standard library and the other benchmark helpers; the build
imports finance_crm inside its functions, so a baseline child stays free of SQLAlchemy.
"""

from __future__ import annotations

import datetime
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import WORK_DIR, remove_db, run_part
from _managers import connect, copy_database, uuid7_hex

ACCOUNTS_VERSION = 1  # bump when the accounts or the schema change
OPENED_ON = datetime.date(2024, 1, 2)
CURRENCY = "CNY"
KIND = "deposit"
PRODUCT_CODE = "DEP-CURRENT"
LIBRARY_ACCOUNTS = 5  # added through finance_crm to check the raw row format
INSERT_CHUNK = 100_000
ACCOUNT_COLUMNS = (
    "id",
    "customer_id",
    "account_number",
    "kind",
    "currency",
    "opened_on",
    "closed_on",
    "product_code",
    "version",
)


def account_number(i: int) -> str:
    """The core-system number of customer ``i``'s account (16 characters)."""
    return f"6222{i:012d}"


def account_row(account_id: str, customer_id: str, i: int) -> tuple[Any, ...]:
    """A ``crm_account`` row as finance_crm stores it on SQLite (ACCOUNT_COLUMNS order)."""
    return (
        account_id,
        customer_id,
        account_number(i),
        KIND,
        CURRENCY,
        OPENED_ON.isoformat(),
        None,
        PRODUCT_CODE,
        1,
    )


def cache_path(n: int) -> Path:
    return WORK_DIR / "cache" / f"accounts-n{n}-v{ACCOUNTS_VERSION}.db"


def ensure_database(bench: str, n: int, rebuild: bool) -> tuple[Path, dict[str, Any] | None]:
    """The cached database for N customers, built first (in a child) if needed."""
    db = cache_path(n)
    if not rebuild and db.exists():
        return db, None
    db.parent.mkdir(parents=True, exist_ok=True)
    building = db.with_suffix(f".building-{os.getpid()}.db")
    remove_db(building)
    print(f"building {db.name} ...", file=sys.stderr)
    try:
        build = run_part(bench, "build", ["--n", str(n), "--db", str(building)])
    except BaseException:
        remove_db(building)
        raise
    remove_db(db)
    building.rename(db)  # complete files only: an interrupted build is not reused
    print(f"built in {build['seconds']:.1f} s", file=sys.stderr)
    return db, build


# -- the build (a child process) --------------------------------------------------------------


def build(db: Path, n: int) -> dict[str, Any]:
    """Customers, schema upgrade, accounts (a few through finance_crm); then ANALYZE."""
    import customer_get

    started = time.perf_counter()
    marks: dict[str, float] = {}
    source = customer_get.cache_path(n)
    if source.exists():
        print(f"  copying customers from {source.name}", file=sys.stderr)
        copy_database(source, db)
        customers_from = source.name
    else:
        print("  importing customers through finance_crm (no customer_get cache)", file=sys.stderr)
        customer_get._build(db, n)
        customers_from = "import_customers"
    marks["customers"] = time.perf_counter() - started
    customers = _customer_ids(db, n)
    library_ids = _library_accounts(db, customers[:LIBRARY_ACCOUNTS])
    marks["schema_and_library_accounts"] = time.perf_counter() - started
    _check_library_rows(db, customers, library_ids)
    _raw_accounts(db, customers, start=len(library_ids))
    marks["accounts"] = time.perf_counter() - started
    _read_back(db, customers)
    connection = connect(db)
    connection.execute("ANALYZE")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    marks["analyze"] = time.perf_counter() - started
    return {
        "part": "build",
        "seconds": round(time.perf_counter() - started, 1),
        "customers_from": customers_from,
        "marks": {k: round(v, 1) for k, v in marks.items()},
        "library_accounts": len(library_ids),
    }


def _customer_ids(db: Path, n: int) -> list[str]:
    """Customer ids (32 hex digits) in customer-number order: customer i is index i."""
    connection = sqlite3.connect(db)
    try:
        ids = [
            row[0]
            for row in connection.execute("SELECT id FROM crm_customer ORDER BY customer_number")
        ]
    finally:
        connection.close()
    if len(ids) != n:
        raise SystemExit(f"expected {n} customers, found {len(ids)}")
    return ids


def _library_accounts(db: Path, customers: Sequence[str]) -> list[str]:
    """Schema upgrade, then the first customers' accounts through finance_crm."""
    from finance_crm.adapters.sql import SqlStore
    from finance_crm.ids import CustomerId
    from finance_crm.model.accounts import Account, AccountKind
    from finance_crm.security import Actor

    store = SqlStore.from_url(f"sqlite:///{db}")
    store.upgrade_schema()
    accounts = [
        Account(
            customer_id=CustomerId(uuid.UUID(hex_id)),
            account_number=account_number(i),
            kind=AccountKind(KIND),
            currency=CURRENCY,
            opened_on=OPENED_ON,
            product_code=PRODUCT_CODE,
        )
        for i, hex_id in enumerate(customers)
    ]
    with store.unit_of_work(Actor.system("bench-build")) as uow:
        uow.accounts.add_many(accounts)
        uow.commit()
    store.close()
    return [a.id.hex for a in accounts]


def _check_library_rows(db: Path, customers: Sequence[str], library_ids: Sequence[str]) -> None:
    """The rows finance_crm wrote are exactly the ones the raw path writes."""
    connection = sqlite3.connect(db)
    try:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(crm_account)")]
        if tuple(columns) != ACCOUNT_COLUMNS:
            raise SystemExit(f"crm_account has columns {columns}, expected {ACCOUNT_COLUMNS}")
        found = connection.execute(
            f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM crm_account ORDER BY account_number"
        ).fetchall()
    finally:
        connection.close()
    expected = [
        account_row(account_id, customers[i], i) for i, account_id in enumerate(library_ids)
    ]
    if [tuple(row) for row in found] != expected:
        raise SystemExit(f"raw account rows differ from finance_crm's: {found} != {expected}")


def _raw_accounts(db: Path, customers: Sequence[str], *, start: int) -> None:
    connection = connect(db)
    marks = ", ".join("?" * len(ACCOUNT_COLUMNS))
    insert = f"INSERT INTO crm_account ({', '.join(ACCOUNT_COLUMNS)}) VALUES ({marks})"
    for first in range(start, len(customers), INSERT_CHUNK):
        last = min(first + INSERT_CHUNK, len(customers))
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            insert, (account_row(uuid7_hex(), customers[i], i) for i in range(first, last))
        )
        connection.execute("COMMIT")
    connection.close()
    print(f"  {len(customers)} accounts", file=sys.stderr)


def _read_back(db: Path, customers: Sequence[str]) -> None:
    """A few raw accounts read through finance_crm's repository."""
    from finance_crm.adapters.sql import SqlStore
    from finance_crm.model.accounts import AccountKind
    from finance_crm.security import Actor

    store = SqlStore.from_url(f"sqlite:///{db}")
    store.upgrade_schema()  # not timed: a cache from an older schema gains its tables
    picks = sorted({0, len(customers) // 2, len(customers) - 1, min(7, len(customers) - 1)})
    with store.unit_of_work(Actor.system("bench-build"), read_only=True) as uow:
        if uow.accounts.count() != len(customers):
            raise SystemExit("not every customer has an account")
        for i in picks:
            account = uow.accounts.find_by_number(account_number(i))
            if (
                account is None
                or account.customer_id.hex != customers[i]
                or account.kind is not AccountKind(KIND)
                or account.currency != CURRENCY
                or account.opened_on != OPENED_ON
                or account.product_code != PRODUCT_CODE
                or account.version != 1
            ):
                raise SystemExit(f"account {account_number(i)} reads back as {account!r}")
    store.close()
