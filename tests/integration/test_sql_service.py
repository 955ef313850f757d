"""The SQL side of activities and service tasks, beyond the contract: random books
(customers of every status, kind and risk level, birthdays on 29 February, managers on
leave, tier histories moving up and down, accounts opened and closed, activities of
every kind and outcome around midnight in Shanghai) run day by day through ``satisfy``,
``generate`` for every kind of standard, ``escalate``, hand-made closes, ``compliance``
and ``due_list`` on the SQL store and on the in-memory adapter, compared field by
field; idempotency; statement counts that do not grow with the book; the query plans
on SQLite; and nothing written when a call is refused or fails half-way.

Every test that takes ``store`` runs on SQLite (a file) and on PostgreSQL (its id then
contains "postgres"; FINANCE_CRM_TEST_POSTGRES_URL, required in CI).
"""

from __future__ import annotations

import datetime
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pendulum
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import event

import finance_crm
from finance_crm.adapters.memory import InMemoryStore
from finance_crm.adapters.sql import SqlStore
from finance_crm.adapters.sql.schema import _config, current_revision
from finance_crm.adapters.sql.service_tasks import SqlServiceTaskRepository
from finance_crm.adapters.sql.store import SqlUnitOfWork
from finance_crm.calendar import china_calendar
from finance_crm.clock import FixedClock
from finance_crm.errors import (
    ConflictError,
    DuplicateError,
    PermissionDenied,
    StorageError,
)
from finance_crm.ids import (
    AccountId,
    ActivityId,
    CustomerId,
    StaffId,
    new_activity_id,
    new_service_task_id,
    new_spot_check_id,
)
from finance_crm.model.accounts import Account, AccountKind
from finance_crm.model.activities import (
    Activity,
    ActivityKind,
    ActivityOutcome,
    ActivityStatus,
    SpotCheck,
    SpotCheckFinding,
)
from finance_crm.model.assignments import AssignedManager, Assignment, ManagerRole
from finance_crm.model.customers import (
    Customer,
    CustomerKind,
    IndividualCustomer,
    LifecycleStatus,
    RiskLevel,
)
from finance_crm.model.documents import IdDocumentType, IdentityDocument, make_resident_id
from finance_crm.model.organization import OrgUnit, OrgUnitKind, StaffMember, StaffRole
from finance_crm.model.service_standards import (
    FOLLOW_UP,
    CadenceStandard,
    CustomerSelection,
    DateStandard,
    EventStandard,
    ServicePeriod,
    ServiceStandard,
    ServiceTask,
    ServiceTrigger,
    TaskStatus,
)
from finance_crm.model.tiers import TierDirection
from finance_crm.model.transactions import Transaction, TransactionKind
from finance_crm.money import Money
from finance_crm.ports import Store, TaskGeneration, UnitOfWork
from finance_crm.rules.tiers import broker_tiers
from finance_crm.security import Actor
from finance_crm.services.service_standards import plan_generation
from finance_crm.testing.factories import make_corporate
from finance_crm.testing.postgres import skip_or_fail_without_postgres, throwaway_database

HO = Actor("ho-admin", roles=frozenset({"head_office"}))
STRANGER = Actor("stranger")  # no staff record, no roles: an empty scope
NOW = pendulum.datetime(2025, 6, 30, 1, tz="UTC")
D = datetime.date
DAY = datetime.timedelta(days=1)
TABLES = (
    "crm_service_task, crm_spot_check, crm_activity, crm_tier, crm_balance, crm_account, "
    "crm_assignment_history, crm_assignment_member, crm_assignment, crm_staff_leave, "
    "crm_staff, crm_org_unit, crm_outbox, crm_audit_log, crm_customer_document, crm_customer"
)
CALENDAR = china_calendar()
STAFF = [StaffId(f"M{i:02d}") for i in range(1, 11)]
SUPERVISORS = {s: StaffId("S1" if i < 5 else "S2") for i, s in enumerate(STAFF[:8])}
ALL = frozenset(ActivityKind)
CALLS = frozenset({ActivityKind.CALL, ActivityKind.VISIT, ActivityKind.MEETING})

# One standard of every kind (and selections of every sort).
STANDARDS: tuple[ServiceStandard, ...] = (
    CadenceStandard(
        code="risk_monthly",
        name="High-risk customers: contact every 30 days",
        applies_to=CustomerSelection(risk_levels={RiskLevel.GROWTH, RiskLevel.AGGRESSIVE}),
        satisfied_by=CALLS,
        every_days=30,
        notice_days=7,
        effective_from=D(2024, 1, 1),
    ),
    CadenceStandard(
        code="vip_quarterly",
        name="One-to-one tier: a visit every quarter",
        applies_to=CustomerSelection(tiers={"one_to_one"}),
        satisfied_by={ActivityKind.VISIT, ActivityKind.MEETING},
        per_period=ServicePeriod.QUARTER,
        effective_from=D(2024, 1, 1),
    ),
    CadenceStandard(
        code="company_monthly",
        name="Companies: contact every month",
        applies_to=CustomerSelection(kinds={CustomerKind.CORPORATE}),
        per_period=ServicePeriod.MONTH,
        effective_from=D(2024, 1, 1),
    ),
    CadenceStandard(
        code="everyone_90",
        name="Everyone: every 90 days",
        every_days=90,
        notice_days=0,
        satisfied_by={ActivityKind.CALL},
        effective_from=D(2025, 1, 10),
    ),
    EventStandard(
        code="birthday",
        name="Birthday greeting",
        applies_to=CustomerSelection(kinds={CustomerKind.INDIVIDUAL}),
        trigger=ServiceTrigger.BIRTHDAY,
        days_before=2,
        notice_days=5,
        satisfied_by={ActivityKind.CALL, ActivityKind.MESSAGE},
    ),
    EventStandard(
        code="tier_moved",
        name="Tier changed: explain the new service",
        trigger=ServiceTrigger.TIER_CHANGED,
        within_business_days=5,
        tier_directions={TierDirection.UP, TierDirection.DOWN, TierDirection.INITIAL},
        lookback_days=10,
    ),
    EventStandard(
        code="tier_down",
        name="Tier lowered, standardised customers",
        applies_to=CustomerSelection(tiers={"standardised", "electronic"}),
        trigger=ServiceTrigger.TIER_CHANGED,
        within_business_days=3,
        lookback_days=20,
        tier_directions={TierDirection.DOWN},
    ),
    EventStandard(
        code="account_opened",
        name="Welcome call for a new account",
        applies_to=CustomerSelection(risk_levels={RiskLevel.BALANCED, RiskLevel.GROWTH}),
        trigger=ServiceTrigger.ACCOUNT_OPENED,
        within_business_days=3,
        lookback_days=14,
    ),
    EventStandard(
        code="account_closed",
        name="Why did the customer close an account?",
        trigger=ServiceTrigger.ACCOUNT_CLOSED,
        within_business_days=2,
        satisfied_by=frozenset(),
        lookback_days=30,
    ),
    EventStandard(
        code="large_inflow",
        name="Large deposit or redemption: contact within 2 business days",
        trigger=ServiceTrigger.LARGE_TRANSACTION,
        within_business_days=2,
        min_amount=Money.of("500000", "CNY"),
        transaction_kinds={TransactionKind.DEPOSIT, TransactionKind.REDEMPTION},
        lookback_days=5,
    ),
    EventStandard(
        code="large_any",
        name="Any large transaction",
        trigger=ServiceTrigger.LARGE_TRANSACTION,
        within_business_days=1,
        min_amount=Money.of("200000", "CNY"),
    ),
    DateStandard(
        code="spring_festival",
        name="Spring Festival greeting",
        applies_to=CustomerSelection(tiers={"standardised", "one_to_one"}),
        on=D(2025, 1, 28),
        notice_days=10,
        satisfied_by=ALL,
    ),
    DateStandard(
        code="leap_day",
        name="Leap-day greeting",
        applies_to=CustomerSelection(risk_levels={RiskLevel.CONSERVATIVE, RiskLevel.CAUTIOUS}),
        on=D(2024, 2, 29),
        notice_days=3,
    ),
)
KINDS = {s.code: s.satisfied_by for s in STANDARDS if s.satisfied_by} | {FOLLOW_UP: ALL}
# Days the book is evaluated on: a leap February, tier and quarter starts, the festival.
RUN_DAYS = [
    D(2024, 2, 24),
    D(2024, 2, 27),
    D(2024, 2, 28),
    D(2024, 3, 1),
    D(2024, 6, 14),
    D(2024, 12, 31),
    D(2025, 1, 3),
    D(2025, 1, 20),
    D(2025, 1, 27),
    D(2025, 2, 5),
    D(2025, 2, 24),
    D(2025, 2, 26),
    D(2025, 3, 3),
    D(2025, 3, 10),
    D(2025, 3, 31),
    D(2025, 4, 1),
    D(2025, 4, 20),
]
RETIER_DAYS = [D(2025, 1, 1), D(2025, 2, 1), D(2025, 3, 1), D(2025, 4, 1)]


# -- stores ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_engine() -> Iterator[sa.Engine]:
    admin_url = skip_or_fail_without_postgres()
    with throwaway_database(admin_url, prefix="finance_crm_service") as url:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        finance_crm.upgrade_schema(engine)
        yield engine
        engine.dispose()


def _make_store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlStore:
    if request.param == "sqlite":
        store = SqlStore.from_url(f"sqlite:///{tmp_path / 'crm.db'}", clock=FixedClock(NOW))
        store.upgrade_schema()
        request.addfinalizer(store.close)
        return store
    engine: sa.Engine = request.getfixturevalue("postgres_engine")
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    return SqlStore(engine, clock=FixedClock(NOW))


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlStore:
    return _make_store(request, tmp_path)


@pytest.fixture(params=["sqlite"])
def sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlStore:
    return _make_store(request, tmp_path)


@pytest.fixture(params=["postgres"])
def postgres_store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlStore:
    return _make_store(request, tmp_path)


def _engine(store: SqlStore) -> sa.Engine:
    assert isinstance(store.bind, sa.Engine)
    return store.bind


class Statements:
    """The SQL statements an engine runs while recording (an executemany counts once)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.seen: list[str] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if self.on:
            self.seen.append(statement)

    def __enter__(self) -> Statements:
        self.seen.clear()
        self.on = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.on = False


# -- random books ---------------------------------------------------------------------------


def C(n: int) -> CustomerId:
    return CustomerId(uuid.UUID(f"00000000-0000-7000-8000-{n:012x}"))


def A(n: int) -> AccountId:
    return AccountId(uuid.UUID(f"00000000-0000-7000-b000-{n:012x}"))


def T(n: int) -> ActivityId:
    return ActivityId(uuid.UUID(f"00000000-0000-7000-a000-{n:012x}"))


def _instant(rng: random.Random, first: datetime.date, last: datetime.date) -> pendulum.DateTime:
    """A random instant on the UTC days first..last; a third of them after 16:00 UTC
    (the next day in Shanghai)."""
    day = first + DAY * rng.randrange((last - first).days + 1)
    hour = rng.choice([1, 6, 9, 15, 16, 18, 23])
    return pendulum.datetime(day.year, day.month, day.day, hour, rng.randrange(60), tz="UTC")


def _individual(n: int, rng: random.Random) -> IndividualCustomer:
    born = rng.choice(
        [
            D(1988, 2, 29),
            D(1992, 2, 29),
            D(1990, 2, 28),
            D(1985, 3, 1),
            D(1979, 2, 26),
            D(1970, 1, 1) + DAY * rng.randrange(365 * 30),
        ]
    )
    return IndividualCustomer.open(
        customer_number=f"P{n:09d}",
        name="王" + rng.choice("伟芳娜敏静"),
        at=_instant(rng, D(2023, 6, 1), D(2025, 2, 20)),
        identity_documents=[
            IdentityDocument(
                type=IdDocumentType.RESIDENT_ID,
                number=make_resident_id(str(110101 + n // 999), born, n % 999),
            )
        ],
        birthday=born,
    )


@attrs.frozen
class Book:
    units: list[OrgUnit]
    staff: list[StaffMember]
    customers: list[Customer]
    assignments: list[Assignment]
    accounts: list[Account]
    balances: dict[datetime.date, list[tuple[AccountId, datetime.date, int]]]
    activities: list[Activity]
    transactions: list[Transaction] = attrs.field(factory=list)


def make_book(seed: int, size: int, contacts: Sequence[int] = (0, 1, 2, 4, 6, 8)) -> Book:
    """``size`` customers, each with ``rng.choice(contacts)`` activities."""
    rng = random.Random(seed)
    head = OrgUnit.head_office("HO", "总行")
    branch = head.child("BJ", "北京分行", OrgUnitKind.BRANCH)
    team = branch.child("BJ1", "一组", OrgUnitKind.TEAM)
    staff = [StaffMember(id=s, name=f"经理{s}", unit=team.code) for s in STAFF]
    staff += [
        StaffMember(id=StaffId(s), name=f"主管{s}", unit=branch.code, roles={StaffRole.SUPERVISOR})
        for s in ("S1", "S2")
    ]
    statuses = [*[LifecycleStatus.ACTIVE] * 6, LifecycleStatus.DORMANT, *LifecycleStatus]
    customers: list[Customer] = []
    assignments: list[Assignment] = []
    accounts: list[Account] = []
    balances: dict[datetime.date, list[tuple[AccountId, datetime.date, int]]] = {}
    activities: list[Activity] = []
    transactions: list[Transaction] = []
    numbers = iter(range(1, 10**6))
    for n in range(1, size + 1):
        if rng.random() < 0.7:
            customer: Customer = _individual(n, rng)
        else:
            customer = attrs.evolve(
                make_corporate(n), opened_at=_instant(rng, D(2023, 6, 1), D(2025, 2, 20))
            )
        risk = rng.choice([None, *RiskLevel])
        customer = attrs.evolve(customer, id=C(n), status=rng.choice(statuses), risk_level=risk)
        customers.append(customer)
        if rng.random() < 0.9:
            primary, secondary, chief = rng.sample(STAFF, 3)
            team_ = [AssignedManager(primary, ManagerRole.PRIMARY, Decimal(60))]
            team_.append(
                AssignedManager(secondary, ManagerRole.SECONDARY, Decimal(30))
                if rng.random() < 0.6
                else AssignedManager(secondary, ManagerRole.TEAM_MEMBER, Decimal(30))
            )
            if rng.random() < 0.5:
                team_.append(AssignedManager(chief, ManagerRole.CHIEF, Decimal(10)))
            else:
                team_[0] = AssignedManager(primary, ManagerRole.PRIMARY, Decimal(70))
            first, _ = Assignment.first(
                customer.id, team_, at=customer.opened_at, reason="new_customer"
            )
            assignments.append(first)
        # A deposit whose month-start balances move the customer between tiers.
        deposit = Account(
            id=A(next(numbers)),
            customer_id=customer.id,
            account_number=f"D{n:08d}",
            kind=AccountKind.DEPOSIT,
            currency="CNY",
            opened_on=D(2023, 1, 2),
        )
        accounts.append(deposit)
        for retier_day in RETIER_DAYS:
            period_start = (retier_day - DAY).replace(day=1)
            yuan = rng.choice([20_000, 150_000, 150_000, 600_000])
            balances.setdefault(period_start, []).append((deposit.id, period_start, yuan * 100))
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            opened = D(2024, 12, 15) + DAY * rng.randrange(120)
            closed = opened + DAY * rng.randrange(1, 60) if rng.random() < 0.4 else None
            number = next(numbers)
            accounts.append(
                Account(
                    id=AccountId(uuid.UUID(int=rng.getrandbits(128))),
                    customer_id=customer.id,
                    account_number=f"X{number:08d}",
                    kind=rng.choice([AccountKind.DEPOSIT, AccountKind.FUND]),
                    currency="CNY",
                    opened_on=opened,
                    closed_on=closed,
                )
            )
        for _ in range(rng.choice(contacts)):
            activities.append(_activity(T(len(activities) + 1), customer.id, rng))
        # Transactions around the run days, of every kind, in and out of the limits, and
        # one in USD (never large in CNY terms: amounts are not converted).
        for _ in range(rng.choice([0, 0, 1, 3])):
            kind = rng.choice([k for k in TransactionKind if not k.is_trade])
            day = rng.choice(RUN_DAYS) - DAY * rng.randrange(0, 8)
            yuan = rng.choice([1_000, 199_999, 200_000, 499_999, 500_000, 2_000_000])
            transactions.append(
                Transaction(
                    account_id=deposit.id,
                    day=day,
                    reference=f"R{len(transactions)}",
                    kind=kind,
                    amount=Money.of(yuan, "CNY"),
                )
            )
    return Book(
        [head, branch, team],
        staff,
        customers,
        assignments,
        accounts,
        balances,
        activities,
        transactions,
    )


def _activity(activity_id: ActivityId, customer_id: CustomerId, rng: random.Random) -> Activity:
    kind = rng.choice(list(ActivityKind))
    owner = rng.choice(STAFF)
    roll = rng.random()
    first, last = rng.choice([(D(2024, 1, 1), D(2024, 6, 30)), (D(2024, 11, 1), D(2025, 4, 30))])
    if roll < 0.2:
        return Activity(
            id=activity_id,
            customer_id=customer_id,
            owner=owner,
            kind=kind,
            purpose="回访",
            planned_at=_instant(rng, first, last),
            duration_minutes=rng.choice([None, 30]),
        )
    if roll < 0.3:
        return Activity(
            id=activity_id,
            customer_id=customer_id,
            owner=owner,
            kind=kind,
            purpose="回访",
            status=ActivityStatus.CANCELLED,
            planned_at=_instant(rng, first, last),
            cancel_reason="客户出差",
        )
    outcome = rng.choice(list(ActivityOutcome))
    next_step = rng.random() < 0.1
    completed = _instant(rng, first, last)
    return Activity(
        id=activity_id,
        customer_id=customer_id,
        owner=owner,
        kind=kind,
        purpose="产品介绍",
        status=ActivityStatus.COMPLETED,
        planned_at=_instant(rng, first, last) if rng.random() < 0.5 else None,
        participants=[p for p in rng.sample(STAFF, 2) if p != owner][:1],
        completed_at=completed,
        outcome=outcome,
        rejection_reason="暂无需求" if outcome is ActivityOutcome.DECLINED else None,
        notes="客户说下月再联系" if rng.random() < 0.3 else None,
        next_step="寄送资料" if next_step else None,
        next_step_due=completed.date() + 5 * DAY if next_step else None,
    )


def load(store: Store, book: Book) -> None:
    with store.unit_of_work(HO) as uow:
        for unit in book.units:
            uow.organization.add_unit(unit)
        for member in book.staff:
            uow.organization.add_staff(member)
        for customer in book.customers:
            uow.customers.add(customer)
        for assignment in book.assignments:
            uow.assignments.add(assignment)
        uow.accounts.add_many(book.accounts)
        for activity in book.activities:
            uow.activities.add(activity)
        for day in sorted({t.day for t in book.transactions}):
            uow.transactions.write([t for t in book.transactions if t.day == day])
        uow.commit()
    for retier_day in RETIER_DAYS:
        period_start = (retier_day - DAY).replace(day=1)
        with store.unit_of_work(HO) as uow:
            uow.balances.write(book.balances[period_start])
            uow.tiers.retier(
                broker_tiers(),
                period_start=period_start,
                period_end=retier_day - DAY,
                effective_on=retier_day,
            )
            uow.commit()


# -- comparing ------------------------------------------------------------------------------

Key = tuple[CustomerId, str, str]


def key(task: ServiceTask) -> Key:
    return (task.customer_id, task.standard, task.occurrence)


def plain(task: ServiceTask) -> dict[str, Any]:
    """Everything but the id (task ids are made by each store)."""
    fields = attrs.asdict(task, recurse=False)
    del fields["id"]
    return fields


def all_tasks(uow: UnitOfWork, book: Book) -> dict[Key, ServiceTask]:
    found = {}
    for customer in book.customers:
        for task in uow.service_tasks.of_customer(customer.id):
            found[key(task)] = task
    return found


def plans(day: datetime.date, rng: random.Random) -> list[TaskGeneration]:
    unavailable = frozenset(rng.sample(STAFF, rng.choice([0, 1, 3])))
    return [plan_generation(s, day, CALENDAR, unavailable) for s in STANDARDS]


def run_day(
    uow: UnitOfWork, day: datetime.date, book_plans: Sequence[TaskGeneration]
) -> tuple[int, list[int], int]:
    tasks = uow.service_tasks
    satisfied = tasks.satisfy(day, KINDS)
    made = [tasks.generate(plan) for plan in book_plans]
    escalated = tasks.escalate(day, due_on_or_before=day - 3 * DAY, supervisors=SUPERVISORS)
    return satisfied, made, escalated


def close_by_hand(uow: UnitOfWork, book: Book, day: datetime.date, seed: int) -> None:
    """Waive or complete a few open tasks, the same ones (by key) in every store."""
    rng = random.Random(seed)
    open_tasks = sorted(
        (t for t in all_tasks(uow, book).values() if t.status is TaskStatus.OPEN), key=key
    )
    for task in rng.sample(open_tasks, min(3, len(open_tasks))):
        if rng.random() < 0.5:
            done, events = task.waive(reason="客户移居海外", on=day, by=HO.id, at=NOW)
        else:
            done, events = task.complete(on=day, by=HO.id, at=NOW)
        uow.service_tasks.update(done, events)


def task_audit(uow: UnitOfWork, tasks: dict[Key, ServiceTask]) -> Counter[Any]:
    """The audit entries of tasks and generations, task ids replaced by their keys."""
    by_id = {str(t.id): k for k, t in tasks.items()}
    found: Counter[Any] = Counter()
    for entry in uow.audit.entries(limit=100_000):
        if entry.entity_type in ("service_task", "service_standard"):
            name = by_id.get(entry.entity_id, entry.entity_id)
            changes = json.dumps(entry.changes, sort_keys=True)
            found[(entry.action, name, entry.entity_version, changes)] += 1
    return found


def task_events(uow: UnitOfWork, tasks: dict[Key, ServiceTask]) -> Counter[Any]:
    by_id = {str(t.id): k for k, t in tasks.items()}
    found: Counter[Any] = Counter()
    for message in uow.outbox.pending(limit=100_000):
        if "ServiceTask" not in message.event_type:
            continue
        payload = dict(message.payload)
        for name in ("event_id", "occurred_at", "task_id"):
            payload.pop(name, None)
        aggregate = by_id.get(message.aggregate_id, message.aggregate_id)
        found[(message.event_type, aggregate, json.dumps(payload, sort_keys=True))] += 1
    return found


# -- against the in-memory adapter -------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_a_random_book_evaluated_day_by_day_matches_memory(store: SqlStore, seed: int) -> None:
    book = make_book(seed, 70)
    memory = InMemoryStore(clock=FixedClock(NOW))
    load(memory, book)
    load(store, book)
    for i, day in enumerate(RUN_DAYS):
        day_plans = plans(day, random.Random(f"{seed}-{day}"))
        results = []
        for target in (memory, store):
            with target.unit_of_work(HO) as uow:
                results.append(run_day(uow, day, day_plans))
                close_by_hand(uow, book, day, seed * 100 + i)
                uow.commit()
        assert results[1] == results[0], day
    with memory.unit_of_work(HO) as expected, store.unit_of_work(HO) as actual:
        want, got = all_tasks(expected, book), all_tasks(actual, book)
        assert sorted(got) == sorted(want)
        for k, task in want.items():
            assert plain(got[k]) == plain(task), k
        made = Counter(t.standard for t in want.values())
        # Every kind of standard made tasks, and every way of closing one was taken.
        assert set(made) == {s.code for s in STANDARDS}, made
        assert {t.status for t in want.values()} == set(TaskStatus)
        assert any(t.covering_for for t in want.values())
        assert any(t.escalated_to for t in want.values())
        assert any(t.activity_id for t in want.values())
        assert actual.service_tasks.count() == expected.service_tasks.count() == len(want)
        for start, end in [(D(2024, 1, 1), D(2025, 12, 31)), (D(2025, 2, 1), D(2025, 3, 15))]:
            assert actual.service_tasks.compliance(start, end) == (
                expected.service_tasks.compliance(start, end)
            )
        supervisors = [StaffId("S1"), StaffId("S2")]
        lists = [*([s] for s in [*STAFF, *supervisors]), [STAFF[0], supervisors[0]], STAFF]
        for staff_ids in lists:
            for until in (D(2025, 1, 31), D(2025, 12, 31)):
                wanted = expected.service_tasks.due_list(staff_ids, until=until)
                listed = actual.service_tasks.due_list(staff_ids, until=until)
                assert [key(t) for t in listed] == [key(t) for t in wanted] or (
                    sorted(map(key, listed)) == sorted(map(key, wanted))
                    and _ordered_as_due_list(listed)
                )
        assert task_audit(actual, got) == task_audit(expected, want)
        assert task_events(actual, got) == task_events(expected, want)


def _ordered_as_due_list(tasks: list[ServiceTask]) -> bool:
    order = [(t.due_on, t.customer_id, t.id) for t in tasks]
    return order == sorted(order)


# -- activities against the in-memory adapter ------------------------------------------------------


def test_activity_reads_match_memory(store: SqlStore) -> None:
    book = make_book(7, 40)
    memory = InMemoryStore(clock=FixedClock(NOW))
    for target in (memory, store):
        load(target, book)
    rng = random.Random(7)
    completed = [a for a in book.activities if a.status is ActivityStatus.COMPLETED]
    checks = []
    for activity in rng.sample(completed, 15):
        checker = next(s for s in STAFF if s != activity.owner)
        finding = rng.choice(list(SpotCheckFinding))
        checks.append(
            SpotCheck(
                activity_id=activity.id,
                customer_id=activity.customer_id,
                owner=activity.owner,
                checker=checker,
                checked_at=_instant(rng, D(2025, 3, 1), D(2025, 3, 10)),
                finding=finding,
                notes=None if finding is SpotCheckFinding.CONFIRMED else "客户否认",
            )
        )
    for target in (memory, store):
        with target.unit_of_work(HO) as uow:
            for check in checks:
                uow.activities.add_spot_check(check)
            uow.commit()
    starts = [pendulum.datetime(2024, 1, 1, tz="UTC"), pendulum.datetime(2025, 1, 6, 16, tz="UTC")]
    with memory.unit_of_work(HO) as expected, store.unit_of_work(HO) as actual:
        want, got = expected.activities, actual.activities
        assert got.count() == want.count() == len(book.activities)
        for customer in book.customers:
            for limit in (0, 3, 50):
                assert got.of_customer(customer.id, limit=limit) == want.of_customer(
                    customer.id, limit=limit
                )
            assert got.last_contact(customer.id) == want.last_contact(customer.id)
        for activity in book.activities:
            assert (
                got.get(activity.id) == want.get(activity.id) == attrs.evolve(activity, version=1)
            )
        for owners in ([], STAFF[:1], STAFF[2:7], STAFF):
            for start in starts:
                end = start + datetime.timedelta(days=rng.choice([1, 7, 400]))
                assert got.scheduled(owners, start, end) == want.scheduled(owners, start, end)
        for owners_or_none in (None, STAFF[:3]):
            for first, last in [(D(2024, 1, 1), D(2025, 12, 31)), (D(2025, 1, 7), D(2025, 1, 7))]:
                assert got.completed(owners_or_none, first, last) == want.completed(
                    owners_or_none, first, last
                )
                assert got.spot_checks(owners_or_none, first, last) == want.spot_checks(
                    owners_or_none, first, last
                )
        assert len(got.spot_checks(None, D(2025, 3, 1), D(2025, 3, 11))) == len(checks)
        with pytest.raises(DuplicateError, match="already been spot-checked"):
            actual.activities.add_spot_check(attrs.evolve(checks[0], id=new_spot_check_id()))


def test_completed_on_is_the_business_day_in_the_stores_zone(store: SqlStore) -> None:
    book = make_book(3, 5)
    load(store, book)
    customer = book.customers[0].id
    late = pendulum.datetime(2025, 1, 6, 16, 30, tz="UTC")  # 00:30 on 7 January in Shanghai
    activity = Activity(
        customer_id=customer,
        owner=STAFF[0],
        kind=ActivityKind.CALL,
        purpose="回访",
        status=ActivityStatus.COMPLETED,
        completed_at=late,
        outcome=ActivityOutcome.CONTACTED,
    )
    with store.unit_of_work(HO) as uow:
        uow.activities.add(activity)
        assert activity.id in uow.activities.completed(None, D(2025, 1, 7), D(2025, 1, 7))
        assert activity.id not in uow.activities.completed(None, D(2025, 1, 6), D(2025, 1, 6))
        stored = uow.connection.execute(
            sa.text(
                "SELECT completed_on, reached FROM crm_activity WHERE completed_at IS NOT NULL "
                "AND owner = :o AND purpose = '回访' AND outcome = 'contacted'"
            ),
            {"o": STAFF[0]},
        ).all()
        assert (D(2025, 1, 7), True) in [(_as_day(d), bool(r)) for d, r in stored]
        uow.commit()


def _as_day(value: Any) -> datetime.date:
    return D.fromisoformat(value) if isinstance(value, str) else value


# -- generation: idempotent, ids, occurrences -------------------------------------------------


def test_a_second_generation_makes_nothing_and_says_so(store: SqlStore) -> None:
    book = make_book(11, 60)
    load(store, book)
    day = D(2025, 2, 5)
    firsts, seconds = {}, {}
    with store.unit_of_work(HO) as uow:
        for plan in plans(day, random.Random(1)):
            firsts[plan.standard.code] = uow.service_tasks.generate(plan)
            seconds[plan.standard.code] = uow.service_tasks.generate(plan)
        events = [m for m in uow.outbox.pending(limit=10_000) if m.event_type.startswith("Service")]
        audit = [e for e in uow.audit.entries(limit=100_000) if e.entity_type == "service_standard"]
        uow.commit()
    assert sum(firsts.values()) > 50 and set(seconds.values()) == {0}
    # One audit entry per call, one event per call that made tasks.
    assert len(audit) == 2 * len(firsts)
    assert [a.changes["tasks"]["after"] for a in audit] == [
        n for code in firsts for n in (firsts[code], seconds[code])
    ]
    assert [(m.aggregate_id, m.payload["count"]) for m in events] == [
        (code, n) for code, n in firsts.items() if n
    ]


def test_generated_ids_are_uuid7_and_account_occurrences_name_the_account(
    store: SqlStore,
) -> None:
    book = make_book(12, 80)
    load(store, book)
    day = D(2025, 2, 26)
    before_ms = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
    with store.unit_of_work(HO) as uow:
        for plan in plans(day, random.Random(2)):
            uow.service_tasks.generate(plan)
        tasks = list(all_tasks(uow, book).values())
        uow.commit()
    after_ms = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
    assert len(tasks) > 50
    assert len({t.id for t in tasks}) == len(tasks)
    for task in tasks:
        assert task.id.version == 7 and task.id.variant == uuid.RFC_4122
        assert before_ms - 1 <= task.id.int >> 80 <= after_ms
    by_account = {str(a.id): a for a in book.accounts}
    opened = [t for t in tasks if t.standard == "account_opened"]
    closed = [t for t in tasks if t.standard == "account_closed"]
    assert opened and closed
    for task in opened + closed:
        prefix, account_id = task.occurrence.split(":")
        account = by_account[account_id]  # str(UUID): dashes, lower case
        assert account.customer_id == task.customer_id
        assert task.counts_from == (
            account.opened_on if prefix == "account_opened" else account.closed_on
        )


# -- statements that do not grow with the book --------------------------------------------------


def _day_statements(store: SqlStore, day: datetime.date) -> list[tuple[str, int, int]]:
    """(call, rows changed, statements) of a day's satisfy, generations and escalation."""
    recorder = Statements(_engine(store))
    calls: list[tuple[str, int, int]] = []
    with store.unit_of_work(HO) as uow:
        tasks = uow.service_tasks
        with recorder:
            n = tasks.satisfy(day, KINDS)
        calls.append(("satisfy", n, len(recorder.seen)))
        for plan in plans(day, random.Random(3)):
            with recorder:
                n = tasks.generate(plan)
            calls.append((plan.standard.code, n, len(recorder.seen)))
        with recorder:
            n = tasks.escalate(day, due_on_or_before=day, supervisors=SUPERVISORS)
        calls.append(("escalate", n, len(recorder.seen)))
        uow.commit()
    return calls


def _fresh(store: SqlStore, tmp_path: Path, name: str) -> SqlStore:
    """An empty store like ``store``: another SQLite file, or the PostgreSQL database
    emptied."""
    if store.dialect_name == "sqlite":
        other = SqlStore.from_url(f"sqlite:///{tmp_path / name}", clock=FixedClock(NOW))
        other.upgrade_schema()
        return other
    with _engine(store).begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    return store


def test_statement_counts_do_not_grow_with_the_book(store: SqlStore, tmp_path: Path) -> None:
    counts = []
    for size in (10, 300):
        target = _fresh(store, tmp_path, f"{size}.db")
        book = make_book(21, size, contacts=(0, 1, 2))
        load(target, book)
        counts.append(
            {day: _day_statements(target, day) for day in (D(2025, 1, 27), D(2025, 3, 3))}
        )
        if target is not store:
            target.close()
    small, large = counts
    compared = 0
    for day, calls in large.items():
        for (call, n, statements), (_, n_small, statements_small) in zip(
            calls, small[day], strict=True
        ):
            # A handful each: an INSERT ... SELECT with its audit and event rows; the
            # step table, the UPDATE, the changed tasks read back and their audit and
            # event rows (one batch here); on PostgreSQL the savepoints around them.
            assert statements <= (5 if call not in ("satisfy", "escalate") else 12), call
            if n and n_small:
                assert statements == statements_small, (day, call)
                compared += 1
            assert n >= n_small
    assert compared >= 8


# -- query plans (SQLite) ---------------------------------------------------------------------


class Plans:
    """SQLite's plan of every statement an engine runs while recording, as
    ``(statement, [plan lines])``."""

    def __init__(self, engine: sa.Engine) -> None:
        self.seen: list[tuple[str, list[str]]] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        first = statement.split(None, 1)[0].upper()
        if self.on and not many and first in ("SELECT", "INSERT", "UPDATE", "WITH"):
            explain = cursor.connection.cursor()
            try:
                rows = explain.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
            finally:
                explain.close()
            self.seen.append((statement, [row[3] for row in rows]))

    def of(self, start: str) -> list[str]:
        """The plan lines of the statements starting with ``start``."""
        found = [lines for statement, lines in self.seen if statement.startswith(start)]
        assert found, start
        return [line for lines in found for line in lines]

    def __enter__(self) -> Plans:
        self.seen.clear()
        self.on = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.on = False


def _no_table_scan(lines: list[str], *tables: str) -> None:
    for line in lines:
        for table in tables:
            assert line != f"SCAN {table}" and not line.startswith(f"SCAN {table} "), lines


def test_the_book_wide_statements_use_their_indexes(sqlite_store: SqlStore) -> None:
    store = sqlite_store
    book = make_book(31, 120)
    load(store, book)
    with store.unit_of_work(HO) as uow:
        uow.connection.exec_driver_sql("ANALYZE")
        uow.commit()
    recorder = Plans(_engine(store))
    day = D(2025, 3, 3)
    with store.unit_of_work(HO) as uow:
        tasks = uow.service_tasks
        by_code = {p.standard.code: p for p in plans(D(2025, 1, 20), random.Random(5))}
        checked = set()
        for code, plan in by_code.items():
            with recorder:
                tasks.generate(plan)
            if not any(st.startswith("INSERT INTO crm_service_task") for st, _ in recorder.seen):
                continue  # a date standard out of its window: no statement
            checked.add(code)
            lines = recorder.of("INSERT INTO crm_service_task")
            # The book is read once, each customer joined by key to what it needs.
            assert lines.count("SCAN c") == 1, (code, lines)
            _no_table_scan(lines, "p", "s", "h", "a", "o", "r", "ac", "t")
            assert any("crm_assignment_member" in line for line in lines), (code, lines)
            if code in ("risk_monthly", "everyone_90", "vip_quarterly", "company_monthly"):
                assert any("ix_crm_activity_contact" in line for line in lines), (code, lines)
            if code in ("risk_monthly", "everyone_90"):
                assert "CO-ROUTINE b" in lines  # the last contact sought once per customer
                assert sum("ix_crm_activity_contact" in line for line in lines) == 1, lines
                assert any("ix_crm_service_task_open" in line for line in lines), lines
            if code.startswith("tier"):
                assert any("SEARCH r USING PRIMARY KEY" in line for line in lines), lines
                assert any("SEARCH b USING PRIMARY KEY" in line for line in lines), lines
            if code.startswith("account"):
                assert any("ix_crm_account_customer_id" in line for line in lines), lines
            if code == "birthday":
                assert any("AUTOMATIC" in line and "birthdays" in line for line in lines), lines
        assert checked == set(by_code) - {"leap_day"}
        with recorder:
            assert tasks.satisfy(day, KINDS) > 0
        decide = recorder.of("INSERT INTO crm_task_step")
        assert any("SEARCH t USING INDEX ix_crm_service_task_open" in line for line in decide)
        assert any("ix_crm_activity_contact" in line for line in decide), decide
        apply = recorder.of("UPDATE crm_service_task")
        assert apply[0].startswith("SEARCH crm_service_task USING INDEX sqlite_autoindex"), apply
        _no_table_scan(recorder.of("SELECT"), "crm_service_task", "t")
        with recorder:
            assert tasks.escalate(day, due_on_or_before=day, supervisors=SUPERVISORS) > 0
        decide = recorder.of("INSERT INTO crm_task_step")
        assert any("ix_crm_service_task_assignee (assignee=? AND due_on<?)" in x for x in decide)
        with recorder:
            tasks.compliance(D(2025, 1, 1), D(2025, 3, 31))
            tasks.due_list(STAFF[:2], until=day)
            uow.activities.scheduled(STAFF[:2], NOW.subtract(days=30), NOW)
            uow.activities.completed(STAFF[:2], D(2025, 1, 1), D(2025, 1, 31))
            uow.activities.last_contact(book.customers[0].id)
        lines = [line for _, plan in recorder.seen for line in plan]
        assert (
            "SEARCH crm_service_task USING COVERING INDEX ix_crm_service_task_due "
            "(due_on>? AND due_on<?)" in lines
        )
        assert any("ix_crm_service_task_assignee" in line for line in lines), lines
        assert any("ix_crm_service_task_escalated" in line for line in lines), lines
        assert any("ix_crm_activity_plan" in line for line in lines), lines
        assert any("COVERING INDEX ix_crm_activity_done" in line for line in lines), lines
        _no_table_scan(lines, "crm_service_task", "crm_activity")
        uow.rollback()


# -- nothing written when a call is refused or fails half-way --------------------------------------


def _state(store: SqlStore, book: Book) -> tuple[Any, ...]:
    with store.unit_of_work(HO) as uow:
        tasks = sorted(
            (k, t.version, t.status, t.escalated_to, t.done_on)
            for k, t in all_tasks(uow, book).items()
        )
        return (
            tasks,
            uow.activities.count(),
            len(uow.audit.entries(limit=100_000)),
            len(uow.outbox.pending(limit=100_000)),
        )


def _evaluated(store: SqlStore, seed: int) -> Book:
    """A book with the tasks of a few days, some of them overdue."""
    book = make_book(seed, 40)
    load(store, book)
    for day in (D(2025, 1, 20), D(2025, 2, 5)):
        with store.unit_of_work(HO) as uow:
            for plan in plans(day, random.Random(seed)):
                uow.service_tasks.generate(plan)
            uow.commit()
    return book


def test_refused_calls_write_nothing(store: SqlStore) -> None:
    book = _evaluated(store, 41)
    before = _state(store, book)
    day = D(2025, 3, 3)
    with store.unit_of_work(HO) as uow:
        task = next(t for t in all_tasks(uow, book).values() if t.status is TaskStatus.OPEN)
        activity = uow.activities.get(
            next(a.id for a in book.activities if a.status is ActivityStatus.PLANNED)
        )
    done, _ = task.complete(on=day, by=HO.id, at=NOW)
    cancelled, _ = activity.cancel(reason="客户出差", at=NOW)
    new_task = attrs.evolve(task, id=new_service_task_id(), occurrence="by hand", version=0)
    fresh_activity = attrs.evolve(activity, id=new_activity_id(), version=0)
    calls: dict[str, Callable[[UnitOfWork], object]] = {
        "generate": lambda uow: uow.service_tasks.generate(plans(day, random.Random(1))[0]),
        "satisfy": lambda uow: uow.service_tasks.satisfy(day, KINDS),
        "escalate": lambda uow: uow.service_tasks.escalate(
            day, due_on_or_before=day, supervisors=SUPERVISORS
        ),
        "add task": lambda uow: uow.service_tasks.add(new_task),
        "update task": lambda uow: uow.service_tasks.update(done),
        "add activity": lambda uow: uow.activities.add(fresh_activity),
        "update activity": lambda uow: uow.activities.update(cancelled),
    }
    for name, call in calls.items():
        with (
            store.unit_of_work(HO, read_only=True) as uow,
            pytest.raises(ConflictError, match="read-only"),
        ):
            call(uow)
        with store.unit_of_work(STRANGER) as uow:
            with pytest.raises(PermissionDenied):
                call(uow)
            uow.commit()
        assert _state(store, book) == before, name
    with store.unit_of_work(HO) as uow:
        with pytest.raises(DuplicateError, match="already has a task for this standard"):
            uow.service_tasks.add(attrs.evolve(task, id=new_service_task_id(), version=0))
        stale = uow.service_tasks.update(done)
        with pytest.raises(ConflictError, match="changed by someone else"):
            uow.service_tasks.update(attrs.evolve(stale, version=1))
        assert uow.service_tasks.get(task.id) == stale


def _broken_commit(store: SqlStore, uow: UnitOfWork) -> None:
    """After a bulk step failed half-way: on SQLite the unit of work cannot commit; on
    PostgreSQL its savepoint took the step back, and committing stores nothing of it."""
    if store.dialect_name == "sqlite":
        with pytest.raises(StorageError, match="rolled back"):
            uow.commit()
    else:
        uow.commit()


@pytest.mark.parametrize("step", ["satisfy", "escalate"])
def test_a_step_failing_half_way_leaves_nothing(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    book = _evaluated(store, 42)
    before = _state(store, book)

    def outbox_down(self: Any, events: Any) -> None:
        raise StorageError("the outbox is down")

    monkeypatch.setattr(SqlUnitOfWork, "_write_events", outbox_down)
    day = D(2025, 3, 3)
    with store.unit_of_work(HO) as uow:
        with pytest.raises(StorageError, match="outbox is down"):
            if step == "satisfy":
                uow.service_tasks.satisfy(day, KINDS)
            else:
                uow.service_tasks.escalate(day, due_on_or_before=day, supervisors=SUPERVISORS)
        _broken_commit(store, uow)
    monkeypatch.undo()
    assert _state(store, book) == before
    with store.unit_of_work(HO) as uow:  # and it runs once the outbox is back
        if step == "satisfy":
            assert uow.service_tasks.satisfy(day, KINDS) > 0
        else:
            assert uow.service_tasks.escalate(day, due_on_or_before=day, supervisors=SUPERVISORS)
        uow.commit()
    assert _state(store, book) != before


def test_a_task_changed_between_decision_and_update_is_a_conflict(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = _evaluated(store, 43)
    before = _state(store, book)
    execute = SqlServiceTaskRepository._execute

    def meanwhile(self: SqlServiceTaskRepository, sql: str, params: Any) -> Any:
        if sql.startswith("UPDATE crm_service_task"):  # another writer got there first
            self._uow.connection.exec_driver_sql(
                "UPDATE crm_service_task SET version = version + 1 "
                "WHERE id = (SELECT id FROM crm_task_step ORDER BY id LIMIT 1)"
            )
        return execute(self, sql, params)

    monkeypatch.setattr(SqlServiceTaskRepository, "_execute", meanwhile)
    with store.unit_of_work(HO) as uow:
        with pytest.raises(ConflictError, match="changed by someone else meanwhile"):
            uow.service_tasks.satisfy(D(2025, 3, 3), KINDS)
        _broken_commit(store, uow)
    assert _state(store, book) == before


# -- the migration --------------------------------------------------------------------------


_PARTIAL = {
    "ix_crm_activity_contact": ("reached = 1", "WHERE reached"),
    "ix_crm_service_task_open": ("status = 'open'", "WHERE ((status)::text = 'open'::text)"),
    "ix_crm_service_task_assignee": ("status = 'open'", "WHERE ((status)::text = 'open'::text)"),
    "ix_crm_service_task_escalated": ("status = 'open'", "WHERE ((status)::text = 'open'::text)"),
}


def test_migration_0006_downgrades_and_upgrades(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    finance_crm.upgrade_schema(engine)
    mine = {"crm_activity", "crm_spot_check", "crm_service_task"}
    with engine.begin() as connection:
        command.downgrade(_config(connection), "0005")
        assert current_revision(connection) == "0005"
        assert not mine & set(sa.inspect(connection).get_table_names())
    finance_crm.upgrade_schema(engine)
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        assert mine <= set(inspector.get_table_names())
        [unique] = inspector.get_unique_constraints("crm_service_task")
        assert unique["column_names"] == ["customer_id", "standard", "occurrence"]
        # Alembic's comparison of tables.py with the migrations does not look at the
        # WHERE of a partial index: checked here.
        for name, (where, _) in _PARTIAL.items():
            sql = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = ?", (name,)
            ).scalar_one()
            assert sql.endswith(f"WHERE {where}"), sql
    engine.dispose()


def test_the_partial_indexes_on_postgresql(postgres_store: SqlStore) -> None:
    with _engine(postgres_store).connect() as connection:
        for name, (_, where) in _PARTIAL.items():
            definition = connection.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (name,)
            ).scalar_one()
            assert definition.endswith(where), definition
