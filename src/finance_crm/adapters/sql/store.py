"""``SqlStore``: finance_crm on any SQLAlchemy-supported database (SQLite, PostgreSQL).

The host owns the process: pass your own ``Engine``, ``sessionmaker``, ``Session`` or
``Connection``; :meth:`SqlStore.from_url` builds an engine only when asked to.

* With an ``Engine`` or a ``sessionmaker`` each unit of work owns its transaction and
  commits it.
* With a ``Connection`` or ``Session`` (already in a transaction, perhaps with the
  host's own writes) each unit of work runs in a SAVEPOINT of the host's transaction:
  ``uow.commit()`` releases the savepoint and the *host* commits the whole.

On SQLite every writing unit of work starts with ``BEGIN IMMEDIATE`` so two writers
queue for the write lock instead of failing half-way with "database is locked", and
foreign keys are switched on per connection.

A unit of work resolves its actor's access scope on first use (one lookup of the staff
record whose id is ``actor.id``; none for the head-office and system roles of the
default rule) and keeps it until commit or rollback; the repositories add it to their
SELECTs (:mod:`finance_crm.adapters.sql.scopes`).
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from finance_crm.access import AccessRule, AccessScope, OrgScopes, UnmaskedRoles, UnmaskingRule
from finance_crm.adapters.memory import check_registry
from finance_crm.adapters.sql.accounts import SqlAccountRepository, SqlBalanceRepository
from finance_crm.adapters.sql.activities import SqlActivityRepository
from finance_crm.adapters.sql.assignments import SqlAssignmentRepository
from finance_crm.adapters.sql.errors import mapped_errors
from finance_crm.adapters.sql.organization import SqlOrganizationRepository
from finance_crm.adapters.sql.relationships import SqlPartyRepository, SqlRelationshipRepository
from finance_crm.adapters.sql.repositories import SqlAuditTrail, SqlCustomerRepository, SqlOutbox
from finance_crm.adapters.sql.rows import AUDIT_COLUMNS, OUTBOX_COLUMNS, RowCodec, insert_sql
from finance_crm.adapters.sql.schema import current_revision, head_revision, upgrade_schema
from finance_crm.adapters.sql.scopes import staff_share
from finance_crm.adapters.sql.service_tasks import SqlServiceTaskRepository
from finance_crm.adapters.sql.tiers import SqlTierRepository
from finance_crm.adapters.sql.transactions import (
    SqlContributionRepository,
    SqlTransactionRepository,
)
from finance_crm.clock import DEFAULT_TIMEZONE, Clock, SystemClock, business_date
from finance_crm.errors import (
    ConflictError,
    DuplicateError,
    SchemaNotReady,
    StorageError,
    ValidationError,
)
from finance_crm.ids import CustomerId, StaffId
from finance_crm.model.assignments import Assignment
from finance_crm.model.customers import Customer
from finance_crm.model.events import DomainEvent
from finance_crm.model.organization import OrgUnit, StaffMember
from finance_crm.model.relationships import RelationshipTypes
from finance_crm.security import Actor, MaskingRule
from finance_crm.serialization import WireConverter, make_converter

__all__ = ["SqlStore", "SqlUnitOfWork"]

Bind = sa.Engine | sa.Connection | Session | sessionmaker[Session]


_FOREIGN_KEYS_ON = "finance_crm.sqlite_foreign_keys_on"
_STAFF_SHARE_SECONDS = 300.0
_INSERT_BATCH = 1000  # rows per executemany
_COPY_FROM = 200  # audit or outbox rows from which PostgreSQL gets a COPY
_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
# An actor id that cannot be a staff code (e.g. "system:nightly") needs no staff lookup.
_STAFF_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,40}")


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    return on_connect


class SqlStore:
    """A finance_crm store on a SQL database.

    >>> from finance_crm.adapters.sql import SqlStore
    >>> store = SqlStore.from_url("sqlite://")   # in memory; give a file path to keep it
    >>> store.upgrade_schema()
    >>> from finance_crm.security import Actor
    >>> with store.unit_of_work(Actor("ho-teller-1", roles={"head_office"})) as uow:
    ...     uow.customers.count()
    0

    ``timezone`` is the institution's (business dates: leave, reports; default
    Asia/Shanghai). ``access`` turns an actor and their staff record into an access scope
    (default :class:`~finance_crm.access.OrgScopes`); ``unmasking`` chooses the masking
    of personal data an actor reads (default :class:`~finance_crm.access.UnmaskedRoles`).
    ``relationship_types`` is the registry of relationship types the store knows (default
    :data:`~finance_crm.model.relationships.STANDARD_RELATIONSHIP_TYPES`); a store must be
    given every type its database holds.
    """

    def __init__(
        self,
        bind: Bind,
        *,
        clock: Clock | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        access: AccessRule | None = None,
        unmasking: UnmaskingRule | None = None,
        relationship_types: RelationshipTypes | None = None,
    ) -> None:
        if not isinstance(bind, (sa.Engine, sa.Connection, Session, sessionmaker)):
            raise ValidationError(
                "bind must be a SQLAlchemy Engine, Connection, Session or sessionmaker "
                "(or use SqlStore.from_url)",
                path="$.bind",
            )
        try:
            business_date(_EPOCH, timezone)
        except ValidationError:
            raise ValidationError(
                "unknown time zone; use an IANA name such as Asia/Shanghai", path="$.timezone"
            ) from None
        self.bind = bind
        self.clock: Clock = clock or SystemClock()
        self.timezone = timezone
        """The institution's time zone: business dates (leave, reports) are read in it."""
        self.access: AccessRule = access or OrgScopes()
        """Turns an actor and their staff record into an access scope."""
        self.unmasking: UnmaskingRule = unmasking or UnmaskedRoles()
        """Chooses how personal data is masked for an actor."""
        self.relationship_types = check_registry(relationship_types)
        """The relationship types the store knows (a code outside them is refused)."""
        self.converter: WireConverter = make_converter()
        self._owned_engine: sa.Engine | None = None
        self._schema_checked = False
        # unit path -> (share of all staff in its subtree, when measured): only chooses a
        # query plan, so a figure up to a few minutes old is as good as a fresh one.
        self._staff_shares: dict[str, tuple[float, float]] = {}
        self.dialect_name = self._dialect().name
        if self.dialect_name not in ("sqlite", "postgresql"):
            raise ValidationError(
                f"finance_crm supports SQLite and PostgreSQL, not {self.dialect_name}",
                path="$.bind",
            )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        access: AccessRule | None = None,
        unmasking: UnmaskingRule | None = None,
        relationship_types: RelationshipTypes | None = None,
        sqlite_busy_timeout: float = 30.0,
        **engine_options: Any,
    ) -> SqlStore:
        """Build an engine for ``url`` (owned, and disposed by :meth:`close`).

        For a SQLite file, WAL journaling is switched on (readers never block the
        writer), with foreign keys on every connection; a writer waits up to
        ``sqlite_busy_timeout`` seconds for another writer before ``ConflictError``.
        """
        try:
            engine = sa.create_engine(url, **engine_options)
        except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
            raise ValidationError(f"cannot use this database URL: {exc}", path="$.url") from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas(int(sqlite_busy_timeout * 1000)))
            database = engine.url.database
            if database and database != ":memory:" and not database.startswith("file::memory"):
                with mapped_errors(), engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        try:
            store = cls(
                engine,
                clock=clock,
                timezone=timezone,
                access=access,
                unmasking=unmasking,
                relationship_types=relationship_types,
            )
        except BaseException:
            engine.dispose()
            raise
        store._owned_engine = engine
        return store

    def close(self) -> None:
        """Dispose of the engine if :meth:`from_url` made it; host engines are left alone."""
        if self._owned_engine is not None:
            self._owned_engine.dispose()

    def _dialect(self) -> sa.Dialect:
        bind = self.bind
        if isinstance(bind, sessionmaker):
            engine = bind.kw.get("bind")
            if engine is None:
                raise ValidationError("the sessionmaker has no bind", path="$.bind")
            return engine.dialect  # type: ignore[no-any-return]
        if isinstance(bind, Session):
            return bind.get_bind().dialect
        return bind.dialect

    def unit_staff_share(self, connection: sa.Connection, unit_path: str) -> float:
        """The share of all staff in the subtree at ``unit_path`` (cached for 5 minutes)."""
        now = time.monotonic()
        cached = self._staff_shares.get(unit_path)
        if cached is not None and now - cached[1] < _STAFF_SHARE_SECONDS:
            return cached[0]
        with mapped_errors():
            share = staff_share(connection, unit_path)
        self._staff_shares[unit_path] = (share, now)
        return share

    def upgrade_schema(self) -> None:
        """Create or upgrade the finance_crm tables (see :func:`finance_crm.upgrade_schema`)."""
        bind = self.bind
        if isinstance(bind, (sa.Engine, sa.Connection)):
            upgrade_schema(bind)
        elif isinstance(bind, Session):
            upgrade_schema(bind.connection())
        else:
            with bind() as session:
                upgrade_schema(session.connection())
                session.commit()
        self._schema_checked = False

    def unit_of_work(self, actor: Actor, *, read_only: bool = False) -> SqlUnitOfWork:
        """A unit of work acting for ``actor``; use it as ``with store.unit_of_work(a) as uow``."""
        if not isinstance(actor, Actor):
            raise ValidationError("actor must be a finance_crm.security.Actor", path="$.actor")
        return SqlUnitOfWork(self, actor, read_only=read_only)

    def _check_schema(self, connection: sa.Connection) -> None:
        if self._schema_checked:
            return
        found = current_revision(connection)
        if found != head_revision():
            state = "not installed" if found is None else f"at revision {found}"
            raise SchemaNotReady(
                f"the finance_crm schema is {state}, this library needs {head_revision()}: "
                "call store.upgrade_schema() or finance_crm.upgrade_schema(engine) first"
            )
        self._schema_checked = True


class SqlUnitOfWork:
    """One transaction on a :class:`SqlStore`."""

    def __init__(self, store: SqlStore, actor: Actor, *, read_only: bool = False) -> None:
        self._store = store
        self.actor = actor
        self.read_only = read_only
        self._codec = RowCodec(store.dialect_name)
        self._connection: sa.Connection | None = None
        self._session: Session | None = None
        self._transaction: sa.Transaction | None = None
        self._savepoints = 0  # how many of our savepoints are open
        # Set when a write without a savepoint of its own failed half-way: the savepoint
        # depth it failed at. Nothing can be committed until that depth is rolled back.
        self._broken_at: int | None = None
        self._owns_connection = False
        self._scope: AccessScope | None = None
        self._masking: MaskingRule | None = None
        # staff id -> (record, its unit's path), or None when there is no such staff member
        self._staff_cache: dict[StaffId, tuple[StaffMember, str] | None] = {}
        # customer id -> assignment recently read by this unit of work (bounded)
        self._assignment_cache: dict[CustomerId, Assignment] = {}
        self.customers = SqlCustomerRepository(self)
        self.organization = SqlOrganizationRepository(self)
        self.assignments = SqlAssignmentRepository(self)
        self.parties = SqlPartyRepository(self)
        self.relationships = SqlRelationshipRepository(self)
        self.accounts = SqlAccountRepository(self)
        self.balances = SqlBalanceRepository(self)
        self.tiers = SqlTierRepository(self)
        self.activities = SqlActivityRepository(self)
        self.service_tasks = SqlServiceTaskRepository(self)
        self.transactions = SqlTransactionRepository(self)
        self.contributions = SqlContributionRepository(self)
        self.audit = SqlAuditTrail(self)
        self.outbox = SqlOutbox(self)
        placeholder = self._codec.placeholder
        self._insert_audit = insert_sql("crm_audit_log", AUDIT_COLUMNS, placeholder)
        self._insert_outbox = insert_sql("crm_outbox", OUTBOX_COLUMNS, placeholder)

    # -- what the services read ------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """The store's clock."""
        return self._store.clock

    @property
    def timezone(self) -> str:
        """The institution's time zone (IANA name)."""
        return self._store.timezone

    @property
    def relationship_types(self) -> RelationshipTypes:
        """The relationship types the store knows."""
        return self._store.relationship_types

    @property
    def scope(self) -> AccessScope:
        """The actor's access scope, resolved on first use from their staff record (the
        ``crm_staff`` row whose id is ``actor.id``) and kept until commit or rollback."""
        if self._scope is None:
            self._scope = self._resolve_scope()
        return self._scope

    def _resolve_scope(self) -> AccessScope:
        access, actor = self._store.access, self.actor
        if type(access) is OrgScopes and actor.roles & access.everything_roles:
            return AccessScope.everything()  # what OrgScopes answers, without a lookup
        member: StaffMember | None = None
        unit: OrgUnit | None = None
        if _STAFF_CODE.fullmatch(actor.id):
            member = self.organization.find_staff(StaffId(actor.id))
            if member is not None:
                unit = self.organization.find_unit(member.unit)
        return access.scope_for(actor, member, unit)

    @property
    def masking(self) -> MaskingRule:
        """How personal data is masked for this actor."""
        if self._masking is None:
            self._masking = self._store.unmasking.masking_for(self.actor)
        return self._masking

    def _forget_organization(self) -> None:
        """Drop what was read of the organisation (after a write to it)."""
        self._scope = None
        self._staff_cache.clear()

    def _forget_reads(self) -> None:
        """Drop everything cached from reads (the transaction or a savepoint ended)."""
        self._forget_organization()
        self._assignment_cache.clear()

    # -- transaction ----------------------------------------------------------------

    @property
    def connection(self) -> sa.Connection:
        if self._connection is None:
            raise StorageError("this unit of work is not open; use it in a with block")
        return self._connection

    def __enter__(self) -> Self:
        bind = self._store.bind
        with mapped_errors():
            if isinstance(bind, sa.Engine):
                self._connection = bind.connect()
                self._owns_connection = True
                self._begin_owned()
            elif isinstance(bind, sessionmaker):
                self._session = bind()
                self._connection = self._session.connection()
                self._owns_connection = True
                self._begin_owned()
            else:
                host = bind.connection() if isinstance(bind, Session) else bind
                self._connection = host
                if self._store.dialect_name == "sqlite" and not host.in_transaction():
                    host.begin()
                if self._store.dialect_name == "sqlite":
                    # A SAVEPOINT outside a driver-level transaction would commit on
                    # release; open the host's transaction for real first.
                    driver = host.connection.driver_connection
                    if not getattr(driver, "in_transaction", True):
                        host.exec_driver_sql("BEGIN IMMEDIATE")
                self._transaction = host.begin_nested()
            try:
                self._store._check_schema(self._connection)
            except BaseException:
                self._close(commit=False)
                raise
        return self

    def _begin_owned(self) -> None:
        connection = self.connection
        if self._store.dialect_name == "sqlite":
            # pysqlite would BEGIN (deferred) lazily before the first write; a deferred
            # transaction that later needs the write lock fails with "database is locked"
            # instead of waiting, so writers take the lock up front.
            pooled = connection.connection
            driver = pooled.driver_connection
            if not pooled.info.get(_FOREIGN_KEYS_ON):
                # Once per DB-API connection: setting it makes SQLite re-prepare statements.
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                pooled.info[_FOREIGN_KEYS_ON] = True
            if not getattr(driver, "in_transaction", False):
                connection.exec_driver_sql("BEGIN" if self.read_only else "BEGIN IMMEDIATE")
        elif self._session is None and not connection.in_transaction():
            connection.begin()
        if self.read_only and self._store.dialect_name == "postgresql":
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(commit=False)

    def _close(self, *, commit: bool) -> None:
        self._forget_reads()
        try:
            if self._connection is not None:
                self._finish(commit=commit)
        finally:
            if self._owns_connection:
                if self._session is not None:
                    self._session.close()
                elif self._connection is not None:
                    self._connection.close()
            self._connection = None
            self._session = None
            self._transaction = None

    def _finish(self, *, commit: bool) -> None:
        with mapped_errors():
            if self._transaction is not None:  # a savepoint in the host's transaction
                if self._transaction.is_active:
                    if commit:
                        self._transaction.commit()
                    else:
                        self._transaction.rollback()
            elif self._session is not None:
                if commit:
                    self._session.commit()
                else:
                    self._session.rollback()
            else:
                connection = self.connection
                if commit:
                    connection.commit()
                else:
                    connection.rollback()

    def commit(self) -> None:
        """Commit (or, joined to a host transaction, release the savepoint)."""
        if self._broken_at is not None:
            self.rollback()
            raise StorageError(
                "a bulk write failed half-way in this unit of work, so it was rolled back "
                "instead of committed: nothing of it was stored; run the unit of work again"
            )
        self._forget_reads()
        self._finish(commit=True)
        self._restart()

    def rollback(self) -> None:
        self._forget_reads()
        self._broken_at = None
        self._finish(commit=False)
        self._restart()

    def _restart(self) -> None:
        """Later work in the same unit of work runs in a fresh transaction (or savepoint)."""
        with mapped_errors():
            if self._transaction is not None and self._connection is not None:
                self._transaction = self._connection.begin_nested()
            elif self._session is not None:
                self._connection = self._session.connection()  # commit released the old one
                self._begin_owned()
            elif self._connection is not None and self._owns_connection:
                self._begin_owned()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with mapped_errors():
            nested = self.connection.begin_nested()
        self._savepoints += 1
        depth = self._savepoints
        try:
            yield
        except BaseException:
            self._savepoints -= 1
            self._forget_reads()  # the caches may hold what is being undone
            with mapped_errors():
                if nested.is_active:
                    nested.rollback()
            if self._broken_at is not None and self._broken_at >= depth:
                self._broken_at = None  # what failed half-way was inside: undone now
            raise
        else:
            self._savepoints -= 1
            with mapped_errors():
                nested.commit()

    @contextmanager
    def _all_or_nothing(self) -> Iterator[None]:
        """Around a bulk write whose checks were all made and rows all built beforehand.

        On PostgreSQL it is a savepoint: cheap there, and a failed statement would
        otherwise abort the whole transaction. On SQLite a savepoint copies every page
        the batch touches into the statement journal (a rebalance of 20,000 customers
        in a store of a million ran a third slower), while nothing can fail between the
        statements but the database itself: writers are serialised, so the versions
        checked are the versions updated. Should a statement fail anyway, the unit of
        work is marked broken: it can no longer commit (the half-written batch is never
        stored) until a savepoint around the failure is rolled back, or it is.
        """
        if self._store.dialect_name != "sqlite":
            with self.savepoint():
                yield
            return
        try:
            yield
        except BaseException:
            self._forget_reads()
            if self._broken_at is None or self._broken_at > self._savepoints:
                self._broken_at = self._savepoints
            raise

    # -- helpers for the repositories ------------------------------------------------

    def _check_writable(self) -> None:
        if self._connection is None:
            raise StorageError("this unit of work is not open; use it in a with block")
        if self.read_only:
            raise ConflictError("this unit of work is read-only; open one with read_only=False")

    def _now(self) -> datetime.datetime:
        return self._store.clock.now()

    def _audit_row(
        self,
        action: str,
        customer: Customer,
        changes: dict[str, Any],
        now: datetime.datetime,
        *,
        entity_id: str | None = None,
    ) -> tuple[Any, ...]:
        codec = self._codec
        return (
            codec.instant(now),
            self.actor.id,
            action,
            "customer",
            entity_id or str(customer.id),
            customer.version,
            codec.json(changes),
        )

    def _entity_audit_row(
        self,
        action: str,
        entity_type: str,
        entity_id: str,
        entity_version: int,
        changes: dict[str, Any],
        now: datetime.datetime,
    ) -> tuple[Any, ...]:
        """An audit row (``AUDIT_COLUMNS`` order) for any entity."""
        codec = self._codec
        return (
            codec.instant(now),
            self.actor.id,
            action,
            entity_type,
            entity_id,
            entity_version,
            codec.json(changes),
        )

    def _insert_audited(
        self,
        sql: str,
        rows: Sequence[tuple[Any, ...]],
        audit: Sequence[tuple[Any, ...]],
        events: Sequence[tuple[Any, ...]] = (),
        *,
        single: bool,
        taken: str,
    ) -> None:
        """New rows (``executemany`` 1,000 at a time) with their audit and outbox rows,
        all or nothing: a lone add in a savepoint, a bulk one in ``_all_or_nothing``. A
        key another unit of work stored meanwhile raises DuplicateError(``taken``)."""
        try:
            with self.savepoint() if single else self._all_or_nothing(), mapped_errors():
                for start in range(0, len(rows), _INSERT_BATCH):
                    self.connection.exec_driver_sql(sql, list(rows[start : start + _INSERT_BATCH]))
                self._write_audit_rows(audit)
                self._write_event_rows(events)
        except DuplicateError:
            raise DuplicateError(taken) from None

    def _write_audit_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._write_log_rows("crm_audit_log", AUDIT_COLUMNS, self._insert_audit, rows)

    def _write_log_rows(
        self, table: str, columns: tuple[str, ...], insert: str, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Audit or outbox rows: an ``executemany``, or on PostgreSQL, for many rows, a
        ``COPY`` on the unit of work's psycopg connection (``executemany`` of 257,000
        audit rows took 14 s there; a bulk run writes one per change)."""
        if not rows:
            return
        if self._store.dialect_name != "postgresql" or len(rows) < _COPY_FROM:
            self.connection.exec_driver_sql(insert, list(rows))
            return
        import psycopg  # the PostgreSQL driver: only here

        with mapped_errors():
            driver = self.connection.connection.driver_connection
        if not isinstance(driver, psycopg.Connection):
            self.connection.exec_driver_sql(insert, list(rows))
            return
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        try:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                write_row = copy.write_row
                for row in rows:
                    write_row(row)
        except psycopg.Error as exc:
            raise StorageError(
                f"database error ({type(exc).__name__}) writing {table}; see __cause__"
            ) from exc

    def _write_events(self, events: Sequence[DomainEvent]) -> None:
        self._write_event_rows(self._event_rows(events))

    def _event_rows(self, events: Sequence[DomainEvent]) -> list[tuple[Any, ...]]:
        """Outbox rows (``OUTBOX_COLUMNS`` order) for ``events``."""
        codec, converter = self._codec, self._store.converter
        return [
            (
                codec.uuid(e.event_id),
                e.event_type,
                e.aggregate_id,
                codec.instant(e.occurred_at),
                codec.json(converter.unstructure(e)),
            )
            for e in events
        ]

    def _write_event_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._write_log_rows("crm_outbox", OUTBOX_COLUMNS, self._insert_outbox, rows)
