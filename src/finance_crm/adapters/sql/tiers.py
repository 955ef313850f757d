"""Customer tiers (客户分层) on SQLAlchemy Core: ``uow.tiers``.

Table ``crm_tier``: one row per stretch of days a customer spent in one tier
(``valid_from`` inclusive, ``valid_to`` exclusive, NULL for the current record), primary
key ``(customer_id, valid_from)``, the average that set it as integer minor units. The
partial index ``ix_crm_tier_current`` (tier code, valid_from, valid_to) holds the current
records only. The reads are plain SELECTs.

:meth:`SqlTierRepository.retier` is set-based: the same handful of statements for ten
customers or a million (their text is in :mod:`.tier_sql`), the decisions of
``_tier_runs`` (its specification) compiled to SQL:

1. on PostgreSQL, a transaction-level advisory lock (:data:`TIER_LOCK_KEY`): two runs at
   once queue, and the second (READ COMMITTED, the default) sees what the first
   committed (a host running the unit of work under REPEATABLE READ loses that); SQLite's
   writers queue already (``BEGIN IMMEDIATE``);
2. the latest start of a current record (the partial index): a run may not go back
   before it;
3. one ``INSERT ... SELECT`` into a temporary table ``crm_tier_run`` of every active and
   dormant customer with its period-average daily AUM, its current record, the record
   ending on ``effective_on`` (the predecessor a correction may reopen), the tier it held
   the day before ``effective_on``, its new tier and the outcome. The average walks each
   counted account's balances on the days of the period it is open, from its last
   balance before them (one seek of the balance key per account), with ``LEAD()``
   giving each balance the days up to the next one, divides by the period's days and
   rounds half away from zero in integer arithmetic (customers without counted
   balances average 0). A :class:`~finance_crm.rules.tiers.ThresholdTiers` is compiled
   into ``CASE`` expressions (bands highest first, then the hysteresis that keeps a held
   tier); any other rule is called in Python on the averages streamed out in customer
   order, its answers sent back with ``executemany`` into a second temporary table and
   joined in with one ``UPDATE``;
4. one ``GROUP BY`` over the temporary table for the report's counts, then one statement
   per kind of write that has rows (close and insert, insert, replace in place, delete
   and reopen), each joining the temporary table;
5. the changed customers streamed in customer order to build their audit entries and
   :class:`~finance_crm.model.tiers.TierChanged` events (``executemany`` per 1,000), the
   tier counts from the partial index and the run's own audit entry.

It is all or nothing: on PostgreSQL in a savepoint; on SQLite nothing but the temporary
tables is written before the rule has answered for every customer, and the writes after
that run in ``_all_or_nothing`` (a failure there leaves the unit of work unable to
commit). A balance times its days, and on SQLite a customer's sum of them, must fit 64
bits (balances and averages up to about 10^17 minor units over a quarter); beyond that
the run is refused with StorageError.
"""

from __future__ import annotations

import datetime
import uuid
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from finance_crm.adapters._graph_checks import refuse_empty_scope
from finance_crm.adapters._tier_runs import (
    Outcome,
    check_retier,
    later_tier_refusal,
    refuse_partial_scope,
    run_audit,
    tier_audit_changes,
    tier_changed,
)
from finance_crm.adapters.sql.errors import mapped_errors
from finance_crm.adapters.sql.rows import as_uuid, chunks, fetch_rows, plain_date, tier_from_row
from finance_crm.adapters.sql.tables import tiers
from finance_crm.adapters.sql.tier_sql import (
    CHANGED,
    CHOICE,
    CHOSEN,
    CLOSE,
    CLOSE_CURRENT,
    COUNTS,
    DROP_CORRECTED,
    INSERT_NEW,
    NEW,
    REOPEN,
    REOPEN_PREVIOUS,
    REPLACE,
    REPLACE_IN_PLACE,
    TO_RULE,
    UNCHANGED,
    Dialect,
    band_params,
    python_sql,
    threshold_sql,
)
from finance_crm.errors import CrmError, StorageError, ValidationError
from finance_crm.ids import CustomerId
from finance_crm.model.tiers import RetierReport, Tier, TierDirection, TierRecord
from finance_crm.money import Money
from finance_crm.rules.tiers import ThresholdTiers

if TYPE_CHECKING:
    from finance_crm.adapters.sql.store import SqlUnitOfWork
    from finance_crm.model.events import DomainEvent
    from finance_crm.rules.tiers import TierRule

__all__ = ["TIER_LOCK_KEY", "SqlTierRepository"]

# pg_advisory_xact_lock key serialising re-tiering runs ("fcrmtier").
TIER_LOCK_KEY = 0x6663726D74696572
_IN_CHUNK = 500  # ids per IN (...) list
_BATCH = 1000  # rows per fetch and per executemany

# -- reads -----------------------------------------------------------------------------

_CUSTOMER = tiers.c.customer_id == sa.bindparam("key", type_=sa.Uuid())
_CURRENT = sa.select(tiers).where(_CUSTOMER, tiers.c.valid_to.is_(None))
_ON = sa.select(tiers).where(
    _CUSTOMER,
    tiers.c.valid_from <= sa.bindparam("day", type_=sa.Date()),
    sa.or_(tiers.c.valid_to.is_(None), tiers.c.valid_to > sa.bindparam("day", type_=sa.Date())),
)
_HISTORY = sa.select(tiers).where(_CUSTOMER).order_by(tiers.c.valid_from)
_CURRENT_IN = sa.select(tiers).where(
    tiers.c.customer_id.in_(sa.bindparam("ids", expanding=True)), tiers.c.valid_to.is_(None)
)
# Both from the partial index of current records alone.
_COUNT = sa.select(sa.func.count().label("n")).select_from(tiers).where(tiers.c.valid_to.is_(None))
_BY_TIER = (
    sa.select(tiers.c.tier_code, sa.func.count().label("n"))
    .where(tiers.c.valid_to.is_(None))
    .group_by(tiers.c.tier_code)
)
# Every customer's last record is its current one (runs keep the records contiguous), so
# the latest start of a current record is the latest start of any.
_LATEST = sa.select(sa.func.max(tiers.c.valid_from).label("latest")).where(
    tiers.c.valid_to.is_(None)
)


def _same_as_threshold_tiers(rule: object) -> bool:
    """Whether ``rule`` decides as ThresholdTiers does (so it may be compiled to SQL)."""
    return isinstance(rule, ThresholdTiers) and type(rule).tier_for is ThresholdTiers.tier_for


def _too_large() -> StorageError:
    return StorageError(
        "a customer's balances over the period are too large to average on SQLite (the "
        "sum of balance x days passes 64 bits); nothing was written"
    )


class _Tiers(dict[tuple[str, str, int], Tier]):
    """(code, name, rank) -> Tier, built once per run for each tier met."""

    def __missing__(self, key: tuple[str, str, int]) -> Tier:
        tier = self[key] = Tier(*key)
        return tier


# -- the repository --------------------------------------------------------------------


class SqlTierRepository:
    """Customers' tiers (``crm_tier``). Reads are not scope-filtered; :meth:`retier`
    needs an actor who sees the whole book."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    # -- reads -------------------------------------------------------------------------

    def current(self, customer_id: CustomerId) -> TierRecord | None:
        if not isinstance(customer_id, uuid.UUID):
            return None
        rows = fetch_rows(self._uow, _CURRENT, key=customer_id)
        return tier_from_row(rows[0]) if rows else None

    def on(self, customer_id: CustomerId, day: datetime.date) -> TierRecord | None:
        if not isinstance(day, datetime.date) or isinstance(day, datetime.datetime):
            raise ValidationError("must be a business date", path="$.day")
        if not isinstance(customer_id, uuid.UUID):
            return None
        rows = fetch_rows(self._uow, _ON, key=customer_id, day=plain_date(day))
        return tier_from_row(rows[0]) if rows else None

    def history(self, customer_id: CustomerId) -> list[TierRecord]:
        if not isinstance(customer_id, uuid.UUID):
            return []
        return [tier_from_row(r) for r in fetch_rows(self._uow, _HISTORY, key=customer_id)]

    def current_many(self, customer_ids: Collection[CustomerId]) -> dict[CustomerId, TierRecord]:
        wanted = sorted({c for c in customer_ids if isinstance(c, uuid.UUID)})
        found: dict[CustomerId, TierRecord] = {}
        for chunk in chunks(wanted, _IN_CHUNK):
            for row in fetch_rows(self._uow, _CURRENT_IN, ids=chunk):
                record = tier_from_row(row)
                found[record.customer_id] = record
        return found

    def count(self) -> int:
        return int(fetch_rows(self._uow, _COUNT)[0]["n"])

    def _by_tier(self) -> dict[str, int]:
        return {r["tier_code"]: int(r["n"]) for r in fetch_rows(self._uow, _BY_TIER)}

    # -- re-tiering --------------------------------------------------------------------

    def retier(
        self,
        rule: TierRule,
        *,
        period_start: datetime.date,
        period_end: datetime.date,
        effective_on: datetime.date,
    ) -> RetierReport:
        uow = self._uow
        uow._check_writable()
        start, end, effective = check_retier(rule, period_start, period_end, effective_on)
        refuse_empty_scope(uow.scope)
        refuse_partial_scope(uow.scope)
        run = _Run(uow, rule, start, end, effective)
        with run.enclosed():
            run.lock()
            latest = fetch_rows(uow, _LATEST)[0]["latest"]
            if latest is not None and _as_date(latest) > effective:
                raise later_tier_refusal(_as_date(latest), effective)
            with run.temporary_tables():
                run.evaluate()
                counts = run.counts()
                with run.writes():
                    run.apply()
                    run.record_changes()
                    report = RetierReport(
                        period_start=start,
                        period_end=end,
                        effective_on=effective,
                        evaluated=sum(counts.values()),
                        unchanged=counts[Outcome.UNCHANGED.value],
                        initial=counts[TierDirection.INITIAL.value],
                        up=counts[TierDirection.UP.value],
                        down=counts[TierDirection.DOWN.value],
                        sideways=counts[TierDirection.SIDEWAYS.value],
                        by_tier=dict(sorted(self._by_tier().items())),
                    )
                    audit = uow._entity_audit_row(
                        "tiers.retiered",
                        "tier_run",
                        effective.isoformat(),
                        1,
                        run_audit(report),
                        run.at,
                    )
                    with mapped_errors():
                        uow._write_audit_rows([audit])
        return report


def _as_date(value: Any) -> datetime.date:
    if isinstance(value, str):  # SQLite: an aggregate loses the column's type
        return datetime.date.fromisoformat(value)
    if isinstance(value, datetime.datetime):
        return value.date()
    assert isinstance(value, datetime.date)
    return value


class _Run:
    """One re-tiering run's statements and parameters."""

    def __init__(
        self,
        uow: SqlUnitOfWork,
        rule: TierRule,
        start: datetime.date,
        end: datetime.date,
        effective: datetime.date,
    ) -> None:
        self.uow = uow
        self.rule = rule
        self.effective = effective
        self.dialect = Dialect(uow._store.dialect_name)
        self.compiled = _same_as_threshold_tiers(rule)
        self.outcomes: set[int] = set()  # the outcome codes the run has rows of
        self.at = uow._now()
        codec = uow._codec
        self.params: dict[str, Any] = {
            "start": codec.date(start),
            "end": codec.date(end),
            "after_end": codec.date(end + datetime.timedelta(days=1)),
            "effective": codec.date(effective),
            "days": (end - start).days + 1,
            "currency": rule.currency,
        }

    def execute(self, sql: str, **extra: Any) -> sa.CursorResult[Any]:
        with mapped_errors():
            return self.uow.connection.execute(sa.text(sql), {**self.params, **extra})

    def driver(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        with mapped_errors():
            self.uow.connection.exec_driver_sql(sql, list(rows))

    @contextmanager
    def enclosed(self) -> Iterator[None]:
        """On PostgreSQL the whole run is a savepoint (a failed statement would abort
        the transaction, and the temporary tables go with it). On SQLite only the writes
        to the book need protecting: see :meth:`SqlTierRepository.retier`."""
        if self.dialect.pg:
            with self.uow.savepoint():
                yield
        else:
            yield

    def writes(self) -> AbstractContextManager[None]:
        """Around the writes to the book: on SQLite ``_all_or_nothing`` (no savepoint;
        a failure leaves the unit of work unable to commit); on PostgreSQL the run's
        savepoint covers them already."""
        return nullcontext() if self.dialect.pg else self.uow._all_or_nothing()

    def lock(self) -> None:
        """On PostgreSQL, wait for another run to finish (the lock ends with the
        transaction), before anything the run decides on is read."""
        if self.dialect.pg:
            self.execute("SELECT pg_advisory_xact_lock(:key)", key=TIER_LOCK_KEY)

    @contextmanager
    def temporary_tables(self) -> Iterator[None]:
        if not self.dialect.pg:  # one left over by a run that failed half-way
            self.execute("DROP TABLE IF EXISTS temp.crm_tier_run")
            self.execute("DROP TABLE IF EXISTS temp.crm_tier_choice")
        self.execute(self.dialect.create_run())
        if not self.compiled:
            self.execute(self.dialect.create_choice())
        try:
            yield
        except BaseException:
            if not self.dialect.pg:  # PostgreSQL: the savepoint's rollback drops them
                with suppress(CrmError):  # the error that got here is the one to raise
                    self._drop()
            raise
        self._drop()

    def _drop(self) -> None:
        schema = "" if self.dialect.pg else "temp."
        self.execute(f"DROP TABLE IF EXISTS {schema}crm_tier_run")
        if not self.compiled:
            self.execute(f"DROP TABLE IF EXISTS {schema}crm_tier_choice")

    @contextmanager
    def streamed(self, sql: str) -> Iterator[Iterator[Sequence[Any]]]:
        """The rows of ``sql`` in batches, never all at once: SQLite's cursor steps
        through them; PostgreSQL reads them through a server-side cursor."""
        options = {"stream_results": True, "max_row_buffer": _BATCH} if self.dialect.pg else {}
        with mapped_errors():
            result = self.uow.connection.execute(
                sa.text(sql), self.params, execution_options=options
            )
        try:

            def batches() -> Iterator[Sequence[Any]]:
                while True:
                    with mapped_errors():
                        rows = result.fetchmany(_BATCH)
                    if not rows:
                        return
                    yield rows

            yield batches()
        finally:
            result.close()

    # -- the steps -----------------------------------------------------------------

    def evaluate(self) -> None:
        """Fill ``crm_tier_run``: one row per customer evaluated, decided."""
        if self.compiled:
            assert isinstance(self.rule, ThresholdTiers)
            sql = threshold_sql(self.dialect.name, len(self.rule.bands))
            self.execute(sql, **band_params(self.rule))
        else:
            self.execute(python_sql(self.dialect.name))
            self._ask_rule()
        if self.dialect.pg:  # temporary tables get no statistics of their own
            self.execute("ANALYZE crm_tier_run")

    def _ask_rule(self) -> None:
        """The Python path: the rule asked for each customer in customer order, its
        answers written back per batch, then joined in with one UPDATE."""
        rule, currency, known = self.rule, self.rule.currency, _Tiers()
        mark = self.dialect.mark
        insert = f"{CHOICE}({mark}, {mark}, {mark}, {mark})"
        with self.streamed(TO_RULE) as batches:
            for batch in batches:
                answers = []
                for customer_id, average, code, name, rank in batch:
                    if average is None:
                        raise _too_large()
                    held = None if code is None else known[(code, name, int(rank))]
                    tier = rule.tier_for(Money.from_minor_units(int(average), currency), held)
                    if not isinstance(tier, Tier):
                        raise ValidationError(
                            "the rule's tier_for must return a Tier", path="$.rule"
                        )
                    answers.append((customer_id, tier.code, tier.name, tier.rank))
                self.driver(insert, answers)
        if self.dialect.pg:
            self.execute("ANALYZE crm_tier_choice")
        self.execute(CHOSEN)

    def counts(self) -> Counter[str]:
        """Customers per outcome: 'unchanged' or a TierDirection value."""
        counts: Counter[str] = Counter()
        rows: list[Any] = list(self.execute(COUNTS).all())
        for outcome, direction, n, too_large in rows:
            if too_large:
                raise _too_large()
            key = Outcome.UNCHANGED.value if outcome == UNCHANGED else direction
            counts[key] += int(n)
            self.outcomes.add(int(outcome))
        return counts

    def apply(self) -> None:
        """The writes to ``crm_tier``, one statement per outcome that has rows."""
        outcomes = self.outcomes
        if CLOSE in outcomes:
            self.execute(CLOSE_CURRENT)
        if REOPEN in outcomes:
            self.execute(DROP_CORRECTED)
            self.execute(REOPEN_PREVIOUS)
        if REPLACE in outcomes:
            self.execute(REPLACE_IN_PLACE)
        if outcomes & {NEW, CLOSE}:
            self.execute(INSERT_NEW)

    def record_changes(self) -> None:
        """An audit entry and a TierChanged event per changed customer, in customer
        order, written per batch."""
        uow, effective, at = self.uow, self.effective, self.at
        currency, known = self.rule.currency, _Tiers()
        with self.streamed(CHANGED) as batches:
            for batch in batches:
                audit: list[tuple[Any, ...]] = []
                events: list[DomainEvent] = []
                for cid, average, c_code, c_name, c_rank, n_code, n_name, n_rank in batch:
                    customer_id = CustomerId(as_uuid(cid))
                    before = None if c_code is None else known[(c_code, c_name, int(c_rank))]
                    after = known[(n_code, n_name, int(n_rank))]
                    money = Money.from_minor_units(int(average), currency)
                    audit.append(
                        uow._entity_audit_row(
                            "tier.changed",
                            "customer_tier",
                            str(customer_id),
                            1,
                            tier_audit_changes(before, after, effective, money),
                            at,
                        )
                    )
                    events.append(
                        tier_changed(
                            customer_id,
                            before,
                            after,
                            effective_on=effective,
                            average_aum=money,
                            at=at,
                        )
                    )
                with mapped_errors():
                    uow._write_audit_rows(audit)
                    uow._write_event_rows(uow._event_rows(events))
