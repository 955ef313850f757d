"""Accounts and end-of-day balances on SQLAlchemy Core: ``uow.accounts`` and
``uow.balances`` (the same promises and messages as the in-memory adapter).

Tables: ``crm_account`` and ``crm_balance`` (one row per account and day, the balance
as integer minor units of the account's currency, primary key ``(account_id, day)``;
on SQLite the table *is* that key's b-tree, ``WITHOUT ROWID``).

:meth:`SqlBalanceRepository.write` is the hot path of a balance feed (millions of rows
a day), so it bypasses SQLAlchemy's per-row type processing:

* on SQLite, one ``executemany`` on the driver of already-encoded rows (the account id
  as the 32 hex digits ``sa.Uuid`` stores, the day as ISO text);
* on PostgreSQL, one ``COPY crm_balance ... FROM STDIN`` on the unit of work's psycopg
  connection (several times faster than any ``INSERT``).

A second balance for an account and day (in the call or stored) is the database's
unique violation, raised as :class:`~finance_crm.errors.DuplicateError`, and nothing of
the call is stored: on PostgreSQL the call runs in a savepoint; on SQLite, where a
savepoint per call cost a fifth of the rate, the rows stored before the failing one
are deleted again by key (the driver's change counter says how many).

The table has no foreign key to ``crm_account`` (it halved the rate; see ``tables.py``):
like the in-memory adapter, ``write`` trusts the ids it is given, which a feed takes
from :meth:`SqlBalanceRepository.resolve` in the same transaction.

:meth:`SqlBalanceRepository.of_accounts` is one statement per 500 accounts: each
account's range of the key from its last day before the period (one index seek, the
correlated ``max``) to the period's end.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import orjson
import sqlalchemy as sa

from finance_crm.adapters._account_checks import (
    account_changes,
    check_account_update,
    check_new_account,
    duplicate_balance,
    duplicate_number,
)
from finance_crm.adapters._graph_checks import refuse_empty_scope
from finance_crm.adapters.sql.errors import mapped_errors
from finance_crm.adapters.sql.rows import (
    ACCOUNT_COLUMNS,
    BALANCE_COLUMNS,
    account_from_row,
    as_uuid,
    chunks,
    fetch_rows,
    insert_sql,
    plain_date,
)
from finance_crm.adapters.sql.tables import accounts, balances, customers
from finance_crm.errors import (
    ConflictError,
    CrmError,
    DuplicateError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from finance_crm.ids import AccountId, CustomerId
from finance_crm.model.accounts import Account, DailyBalance
from finance_crm.money import Money

if TYPE_CHECKING:
    from finance_crm.adapters.sql.store import SqlUnitOfWork

__all__ = ["SqlAccountRepository", "SqlBalanceRepository"]

_IN_CHUNK = 500  # ids per IN (...) list
_NUMBER_CHUNK = 5000  # account numbers per lookup in resolve()
_RESOLVE_SQLITE = (
    "SELECT account_number, id, currency FROM crm_account "
    "WHERE account_number IN (SELECT value FROM json_each(?))"
)
_RESOLVE_PG = "SELECT account_number, id, currency FROM crm_account WHERE account_number = ANY(%s)"
_COPY = "COPY crm_balance (account_id, day, balance_minor) FROM STDIN"
_TOO_LARGE = "a balance is too large to store (at most 18 digits of minor units)"
_ROW_TYPES = "balances are written as (AccountId, datetime.date, int minor units) rows"


def _tuples(uow: SqlUnitOfWork, statement: sa.Executable, **params: Any) -> list[Any]:
    with mapped_errors():
        return list(uow.connection.execute(statement, params).all())


_ACCOUNT = sa.select(accounts).where(accounts.c.id == sa.bindparam("key", type_=sa.Uuid()))
_ACCOUNT_BY_NUMBER = sa.select(accounts).where(accounts.c.account_number == sa.bindparam("key"))
_ACCOUNTS_OF = (
    sa.select(accounts)
    .where(accounts.c.customer_id == sa.bindparam("key", type_=sa.Uuid()))
    .order_by(accounts.c.account_number)
)
_ACCOUNT_COUNT = sa.select(sa.func.count().label("n")).select_from(accounts)
_ACCOUNT_IDS_IN = sa.select(accounts.c.id).where(
    accounts.c.id.in_(sa.bindparam("ids", expanding=True))
)
_NUMBERS_IN = sa.select(accounts.c.account_number, accounts.c.id, accounts.c.currency).where(
    accounts.c.account_number.in_(sa.bindparam("ids", expanding=True))
)
_CUSTOMER_IDS_IN = sa.select(customers.c.id).where(
    customers.c.id.in_(sa.bindparam("ids", expanding=True))
)
_UPDATE_ACCOUNT = (
    accounts.update()
    .where(
        accounts.c.id == sa.bindparam("key", type_=sa.Uuid()),
        accounts.c.version == sa.bindparam("read_version"),
    )
    .values(
        closed_on=sa.bindparam("closed_on", type_=sa.Date()),
        product_code=sa.bindparam("product_code"),
        version=sa.bindparam("new_version"),
    )
)
_BALANCE_COUNT = sa.select(sa.func.count().label("n")).select_from(balances)


def _of_accounts_statement() -> sa.Select[Any]:
    """Every wanted account (so an unknown id is noticed) with its balances from its last
    day before ``start`` (or ``start``) to ``end``: one key range per account."""
    a, b = accounts, balances
    p = balances.alias("p")
    start = sa.bindparam("start", type_=sa.Date())
    end = sa.bindparam("end", type_=sa.Date())
    last_before = (
        sa.select(sa.func.max(p.c.day))
        .where(p.c.account_id == a.c.id, p.c.day < start)
        .scalar_subquery()
    )
    joined = a.outerjoin(
        b,
        sa.and_(
            b.c.account_id == a.c.id,
            b.c.day >= sa.func.coalesce(last_before, start),
            b.c.day <= end,
        ),
    )
    return (
        sa.select(a.c.id, a.c.currency, b.c.day, b.c.balance_minor)
        .select_from(joined)
        .where(a.c.id.in_(sa.bindparam("ids", expanding=True)))
        .order_by(a.c.id, b.c.day)
    )


_OF_ACCOUNTS = _of_accounts_statement()


def _check_day(day: object, path: str) -> datetime.date:
    if not isinstance(day, datetime.date) or isinstance(day, datetime.datetime):
        raise ValidationError("must be a business date", path=path)
    return plain_date(day)


# -- accounts --------------------------------------------------------------------------


class SqlAccountRepository:
    """Accounts (``crm_account``). Reads are not scope-filtered; writes need a non-empty
    scope and are audited (the account number masked)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def _find(self, account_id: object) -> Account | None:
        if not isinstance(account_id, uuid.UUID):
            return None
        rows = fetch_rows(self._uow, _ACCOUNT, key=account_id)
        return account_from_row(rows[0]) if rows else None

    def get(self, account_id: AccountId) -> Account:
        account = self._find(account_id)
        if account is None:
            raise NotFoundError("no account with this id")
        return account

    def find_by_number(self, account_number: str) -> Account | None:
        if not isinstance(account_number, str):
            return None
        rows = fetch_rows(self._uow, _ACCOUNT_BY_NUMBER, key=account_number)
        return account_from_row(rows[0]) if rows else None

    def of_customer(self, customer_id: CustomerId) -> list[Account]:
        if not isinstance(customer_id, uuid.UUID):
            return []
        return [account_from_row(r) for r in fetch_rows(self._uow, _ACCOUNTS_OF, key=customer_id)]

    def count(self) -> int:
        return int(fetch_rows(self._uow, _ACCOUNT_COUNT)[0]["n"])

    # -- writes ------------------------------------------------------------------------

    def add(self, account: Account) -> None:
        self._add([account], single=True)

    def add_many(self, accounts_: Sequence[Account]) -> None:
        """Check the whole batch (a few ``IN`` lookups per 500), then insert it with one
        ``executemany`` per 1,000 accounts (and the audit rows likewise)."""
        self._add(list(accounts_), single=False)

    def _stored(self, statement: sa.Select[Any], keys: set[Any]) -> set[Any]:
        found: set[Any] = set()
        for chunk in chunks(sorted(keys), _IN_CHUNK):
            found.update(row[0] for row in _tuples(self._uow, statement, ids=chunk))
        return found

    def _add(self, batch: Sequence[object], *, single: bool) -> None:
        uow = self._uow
        uow._check_writable()
        if not batch:
            return
        valid = [a for a in batch if isinstance(a, Account)]
        known = {as_uuid(c) for c in self._stored(_CUSTOMER_IDS_IN, {a.customer_id for a in valid})}
        ids = {as_uuid(i) for i in self._stored(_ACCOUNT_IDS_IN, {a.id for a in valid})}
        numbers = self._stored(_NUMBERS_IN, {a.account_number for a in valid})
        # Checked in order, each against the store and the accounts before it, as the
        # in-memory adapter adds them one by one.
        for account in batch:
            check_new_account(account, known.__contains__)
            refuse_empty_scope(uow.scope)
            assert isinstance(account, Account)
            if account.id in ids:
                raise DuplicateError("an account with this id is already stored")
            if account.account_number in numbers:
                raise duplicate_number()
            ids.add(account.id)
            numbers.add(account.account_number)
        codec, now = uow._codec, uow._now()
        stored = [attrs.evolve(a, version=1) for a in valid]
        rows = [codec.account(a) for a in stored]
        audit = [
            uow._entity_audit_row(
                "account.added", "account", str(a.id), 1, account_changes(None, a), now
            )
            for a in stored
        ]
        uow._insert_audited(
            insert_sql("crm_account", ACCOUNT_COLUMNS, codec.placeholder),
            rows,
            audit,
            single=single,
            taken="another unit of work added an account with this number or id meanwhile; "
            "look it up with find_by_number()",
        )

    def update(self, account: Account) -> Account:
        uow = self._uow
        uow._check_writable()
        current = self._find(account.id) if isinstance(account, Account) else None
        check_account_update(current, account)
        assert current is not None
        refuse_empty_scope(uow.scope)
        stored = attrs.evolve(account, version=account.version + 1)
        audit = uow._entity_audit_row(
            "account.revised",
            "account",
            str(account.id),
            stored.version,
            account_changes(current, stored),
            uow._now(),
        )
        with uow.savepoint(), mapped_errors():
            result = uow.connection.execute(
                _UPDATE_ACCOUNT,
                {
                    "key": account.id,
                    "read_version": account.version,
                    "closed_on": None if stored.closed_on is None else plain_date(stored.closed_on),
                    "product_code": stored.product_code,
                    "new_version": stored.version,
                },
            )
            if result.rowcount != 1:
                raise ConflictError(
                    "the account was changed by someone else since it was read; reload it "
                    "and try again"
                )
            uow._write_audit_rows([audit])
        return stored


# -- balances --------------------------------------------------------------------------


class _DayText(dict[datetime.date, str]):
    """Day -> the ISO text SQLite stores for it (a feed's batch holds a few days)."""

    def __missing__(self, day: datetime.date) -> str:
        text = self[day] = day.isoformat()
        return text


def _normalized(rows: Sequence[Any]) -> list[tuple[AccountId, datetime.date, int]]:
    """The slow path, for rows the fast paths did not take: every row checked (TypeError
    for the first malformed one) and made plain (a ``datetime.date``, an ``int``)."""
    out: list[tuple[AccountId, datetime.date, int]] = []
    for row in rows:
        if not isinstance(row, tuple) or len(row) != 3:
            raise TypeError(_ROW_TYPES)
        account_id, day, minor_units = row
        if not isinstance(account_id, uuid.UUID):
            raise TypeError(_ROW_TYPES)
        if not isinstance(day, datetime.date) or isinstance(day, datetime.datetime):
            raise TypeError(_ROW_TYPES)
        if not isinstance(minor_units, int) or isinstance(minor_units, bool):
            raise TypeError("balances are written as integer minor units")
        out.append((AccountId(account_id), plain_date(day), int(minor_units)))
    return out


def _plain(rows: Sequence[Any]) -> bool:
    """Whether every row is exactly (UUID, date, int): the fast paths' check."""
    try:
        return all(
            type(a) is uuid.UUID and type(d) is datetime.date and type(m) is int for a, d, m in rows
        )
    except (TypeError, ValueError):  # not a 3-tuple
        return False


class SqlBalanceRepository:
    """End-of-day balances (``crm_balance``). Writes need a non-empty scope; each day a
    feed loads is audited once (:meth:`record_feed`)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        mark = uow._codec.placeholder
        self._insert = insert_sql("crm_balance", BALANCE_COLUMNS, mark)
        self._delete = f"DELETE FROM crm_balance WHERE account_id = {mark} AND day = {mark}"

    # -- reads -------------------------------------------------------------------------

    def resolve(self, account_numbers: Collection[str]) -> dict[str, tuple[AccountId, str]]:
        wanted = sorted({n for n in account_numbers if isinstance(n, str)})
        found: dict[str, tuple[AccountId, str]] = {}
        # A feed resolves every row's account: the statement is sent as driver SQL
        # with the numbers as ONE parameter (a JSON array on SQLite, an array on
        # PostgreSQL), so it is neither compiled nor re-parsed per call, and a fixed
        # text lets psycopg prepare it; SQLAlchemy's IN list of 1,000 parameters cost
        # more than the lookups themselves.
        sql = _RESOLVE_SQLITE if self._uow._store.dialect_name == "sqlite" else _RESOLVE_PG
        connection = self._uow.connection
        with mapped_errors():
            for chunk in chunks(wanted, _NUMBER_CHUNK):
                param = orjson.dumps(chunk).decode() if sql is _RESOLVE_SQLITE else chunk
                result = connection.exec_driver_sql(sql, (param,))
                # Plain text and ids need no result processing: read the driver's rows
                # (SQLAlchemy's per-row fetch cost 1.7 us a row here).
                fetched = result.cursor.fetchall() if result.cursor is not None else []
                result.close()
                for number, account_id, code in fetched:
                    found[number] = (AccountId(as_uuid(account_id)), code)
        return found

    def of_accounts(
        self, account_ids: Collection[AccountId], start: datetime.date, end: datetime.date
    ) -> list[DailyBalance]:
        start = _check_day(start, "$.start")
        end = _check_day(end, "$.end")
        wanted = sorted(set(account_ids), key=lambda i: (not isinstance(i, uuid.UUID), str(i)))
        if any(not isinstance(i, uuid.UUID) for i in wanted):
            raise NotFoundError("no account with this id")
        found: list[DailyBalance] = []
        seen: set[uuid.UUID] = set()
        for chunk in chunks(wanted, _IN_CHUNK):
            rows = _tuples(self._uow, _OF_ACCOUNTS, ids=chunk, start=start, end=end)
            for account_id, code, day, minor_units in rows:
                seen.add(account_id)
                if day is not None:
                    found.append(
                        DailyBalance(
                            AccountId(account_id), day, Money.from_minor_units(minor_units, code)
                        )
                    )
        if len(seen) != len(wanted):
            raise NotFoundError("no account with this id")
        return found

    def count(self) -> int:
        return int(fetch_rows(self._uow, _BALANCE_COUNT)[0]["n"])

    # -- writes ------------------------------------------------------------------------

    def clear_day(self, day: datetime.date) -> int:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        stored_day = uow._codec.date(_check_day(day, "$.day"))
        with mapped_errors():
            result = uow.connection.exec_driver_sql(
                f"DELETE FROM crm_balance WHERE day = {uow._codec.placeholder}", (stored_day,)
            )
        return int(result.rowcount)

    def write(self, rows: Sequence[tuple[AccountId, datetime.date, int]]) -> None:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        if not rows:
            return
        if uow._store.dialect_name == "sqlite":
            self._write_sqlite(rows)
        else:
            self._write_copy(rows)

    def _write_sqlite(self, rows: Sequence[tuple[AccountId, datetime.date, int]]) -> None:
        """One ``executemany`` of encoded rows, with no savepoint of its own (a savepoint
        per call cost a fifth of the rate). Should row k fail, rows 0..k-1 are stored: the
        driver's change counter says how many, and they are deleted again by key (they
        were all new), so nothing of the call stays, as a savepoint would have left it."""
        uow = self._uow
        if not _plain(rows):
            rows = _normalized(rows)
        days = _DayText()
        values = [(a.hex, days[d], m) for a, d, m in rows]
        connection = uow.connection
        with mapped_errors():
            driver = connection.connection.driver_connection
        counter = getattr(driver, "total_changes", None)
        if not isinstance(counter, int):  # not the standard sqlite3 driver: a savepoint
            with uow.savepoint():
                self._insert_sqlite(values)
            return
        try:
            self._insert_sqlite(values)
        except CrmError:
            stored = int(getattr(driver, "total_changes", counter)) - counter
            if stored:
                # Should the undo fail too, the unit of work can no longer commit.
                with uow._all_or_nothing(), mapped_errors():
                    connection.exec_driver_sql(
                        self._delete, [(a, d) for a, d, _ in values[:stored]]
                    )
            raise
        except BaseException:
            with uow._all_or_nothing():
                raise

    def _insert_sqlite(self, values: list[tuple[str, str, int]]) -> None:
        try:
            with mapped_errors():
                self._uow.connection.exec_driver_sql(self._insert, values)
        except DuplicateError:
            raise duplicate_balance() from None
        except OverflowError:  # the driver refuses an int beyond 64 bits
            raise ValidationError(_TOO_LARGE, path="$.balance") from None

    def _write_copy(self, rows: Sequence[tuple[AccountId, datetime.date, int]]) -> None:
        import psycopg  # the PostgreSQL driver: only here

        if not _plain(rows):
            rows = _normalized(rows)
        uow = self._uow
        with uow._all_or_nothing():
            with mapped_errors():
                driver = uow.connection.connection.driver_connection
            if not isinstance(driver, psycopg.Connection):
                raise StorageError("finance_crm needs the psycopg 3 driver on PostgreSQL")
            try:
                with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
                    write_row = copy.write_row
                    for row in rows:
                        write_row(row)
            except psycopg.errors.UniqueViolation:
                raise duplicate_balance() from None
            except psycopg.errors.NumericValueOutOfRange:
                raise ValidationError(_TOO_LARGE, path="$.balance") from None
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
                raise ConflictError(
                    "the database was busy with a concurrent change; retry the unit of work "
                    "(finance_crm.retrying does this)"
                ) from exc
            except psycopg.Error as exc:
                raise StorageError(f"database error ({type(exc).__name__}); see __cause__") from exc

    def record_feed(self, day: datetime.date, *, replaced: int, loaded: int) -> None:
        uow = self._uow
        uow._check_writable()
        refuse_empty_scope(uow.scope)
        audit = uow._entity_audit_row(
            "balances.loaded",
            "balance_day",
            day.isoformat(),
            1,
            {"balances": {"before": replaced, "after": loaded}},
            uow._now(),
        )
        with mapped_errors():
            uow._write_audit_rows([audit])
