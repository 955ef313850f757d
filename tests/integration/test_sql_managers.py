"""The SQL side of customer managers, beyond the manager contract: storage formats, scope
filters inside the statements, query plans, the bulk path's statements and all-or-nothing
behaviour, rowcounts, concurrency, and the 0002 migration.

Every test that takes ``store`` runs on SQLite (a file) and on PostgreSQL (its id then
contains "postgres"; FINANCE_CRM_TEST_POSTGRES_URL, required in CI).
"""

from __future__ import annotations

import datetime
import threading
import uuid
from collections.abc import Iterator
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
from finance_crm.access import AccessScope, ScopeKind
from finance_crm.adapters.sql import SqlStore
from finance_crm.adapters.sql.assignments import SqlAssignmentRepository
from finance_crm.adapters.sql.schema import _config, current_revision
from finance_crm.adapters.sql.scopes import path_range
from finance_crm.clock import FixedClock
from finance_crm.errors import (
    BusinessRuleViolation,
    ConflictError,
    DuplicateError,
    NotFoundError,
    PermissionDenied,
    StorageError,
    ValidationError,
)
from finance_crm.ids import CustomerId, StaffId
from finance_crm.model.assignments import AssignedManager, Assignment, ManagerRole
from finance_crm.model.customers import Customer, IndividualCustomer
from finance_crm.model.documents import IdDocumentType
from finance_crm.model.organization import (
    LeaveKind,
    LeavePeriod,
    OrgUnit,
    OrgUnitKind,
    StaffMember,
    StaffRole,
)
from finance_crm.ports import CustomerOrder
from finance_crm.security import DEFAULT_MASKING, Actor, PersonalDataKind, Unmasked
from finance_crm.services.managers import (
    Reassignment,
    assign_managers,
    hand_over_book,
    reason_report,
    reassign_many,
)
from finance_crm.testing import make_corporate, make_individual
from finance_crm.testing.postgres import (
    empty_tables,
    skip_or_fail_without_postgres,
    throwaway_database,
)

HO = Actor("ho-admin", roles=frozenset({"head_office"}))
T0 = pendulum.datetime(2025, 6, 2, 1, tz="UTC")  # 09:00 in Shanghai, a Monday
DAY = datetime.timedelta(days=1)
NOW = T0 + 60 * DAY
TABLES = (
    "crm_balance, crm_account, crm_relationship, crm_party, crm_outbox, crm_audit_log, "
    "crm_assignment_history, crm_assignment_member, crm_assignment, "
    "crm_staff_leave, crm_staff, crm_org_unit, crm_customer_document, crm_customer"
)


def _s(value: str) -> StaffId:
    return StaffId(value)


# -- stores ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_engine() -> Iterator[sa.Engine]:
    admin_url = skip_or_fail_without_postgres()
    with throwaway_database(admin_url, prefix="finance_crm_managers") as url:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        finance_crm.upgrade_schema(engine)
        yield engine
        engine.dispose()


def _make_store(request: pytest.FixtureRequest, tmp_path: Path, **options: Any) -> SqlStore:
    options.setdefault("clock", FixedClock(NOW))
    if request.param == "sqlite":
        store = SqlStore.from_url(f"sqlite:///{tmp_path / 'crm.db'}", **options)
        store.upgrade_schema()
        request.addfinalizer(store.close)
        return store
    engine: sa.Engine = request.getfixturevalue("postgres_engine")
    with engine.begin() as connection:
        empty_tables(connection)
    return SqlStore(engine, **options)


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
    """The SQL statements a store's engine runs while recording (executemany counts once)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.seen: list[str] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on:
            self.seen.append(statement)

    def __enter__(self) -> Statements:
        self.seen.clear()
        self.on = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.on = False

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def touching(self, table: str) -> list[str]:
        return [s for s in self.seen if table in s]

    def data(self) -> list[str]:
        """Statements other than transaction control (BEGIN/SAVEPOINT/RELEASE/ROLLBACK)."""
        control = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "PRAGMA")
        return [s for s in self.seen if not s.lstrip().upper().startswith(control)]


@pytest.fixture
def statements(store: SqlStore) -> Iterator[Statements]:
    recorder = Statements(_engine(store))
    yield recorder
    recorder.close()


# -- the organisation -----------------------------------------------------------------------
#
#   HO                         BH0 branch head at the head office (sees everything)
#   ├── BJ    branch           SV1 supervisor
#   │   ├── BJ01 sub-branch    M1 M2
#   │   │   └── BJ01T team     M3
#   │   └── BJ02 sub-branch    M4
#   ├── BJ0   branch           M5   "/HO/BJ0/" starts like "/HO/BJ/" but for the last "/"
#   ├── BJ_   branch           M6   "_" is a LIKE wildcard
#   ├── BJ-1  branch           M7   "-" sorts before "/"
#   └── SH    branch           M9


def _build_org(store: SqlStore) -> None:
    head = OrgUnit.head_office("HO", "总行")
    bj = head.child("BJ", "北京分行", OrgUnitKind.BRANCH)
    bj01 = bj.child("BJ01", "海淀支行", OrgUnitKind.SUB_BRANCH)
    units = [
        head,
        bj,
        bj01,
        bj01.child("BJ01T", "财富组", OrgUnitKind.TEAM),
        bj.child("BJ02", "朝阳支行", OrgUnitKind.SUB_BRANCH),
        head.child("BJ0", "陷阱一", OrgUnitKind.BRANCH),
        head.child("BJ_", "陷阱二", OrgUnitKind.BRANCH),
        head.child("BJ-1", "陷阱三", OrgUnitKind.BRANCH),
        head.child("SH", "上海分行", OrgUnitKind.BRANCH),
    ]
    people = [
        StaffMember(id=_s("BH0"), name="总行长", unit="HO", roles={StaffRole.BRANCH_HEAD}),
        StaffMember(id=_s("SV1"), name="周主管", unit="BJ", roles={StaffRole.SUPERVISOR}),
        StaffMember(id=_s("M1"), name="王经理", unit="BJ01"),
        StaffMember(id=_s("M2"), name="李经理", unit="BJ01"),
        StaffMember(id=_s("M3"), name="赵经理", unit="BJ01T"),
        StaffMember(id=_s("M4"), name="钱经理", unit="BJ02"),
        StaffMember(id=_s("M5"), name="孙经理", unit="BJ0"),
        StaffMember(id=_s("M6"), name="吴经理", unit="BJ_"),
        StaffMember(id=_s("M7"), name="郑经理", unit="BJ-1"),
        StaffMember(id=_s("M9"), name="陈经理", unit="SH", capacity=1000),
    ]
    with store.unit_of_work(HO) as uow:
        for unit in units:
            uow.organization.add_unit(unit)
        for member in people:
            uow.organization.add_staff(member)
        uow.commit()


@pytest.fixture
def org(store: SqlStore) -> SqlStore:
    _build_org(store)
    return store


def _customers(
    store: SqlStore,
    *teams: tuple[str, str | None],
    first_seed: int = 1,
    at: datetime.datetime = T0,
) -> list[Customer]:
    made: list[Customer] = [make_individual(first_seed + i) for i in range(len(teams))]
    with store.unit_of_work(HO) as uow:
        uow.customers.add_many(made)
        for customer, (primary, secondary) in zip(made, teams, strict=True):
            assign_managers(
                uow,
                customer.id,
                primary=_s(primary),
                secondary=_s(secondary) if secondary else None,
                reason="new_customer",
                at=at,
            )
        uow.commit()
    return made


def _rows(store: SqlStore, sql: str) -> list[tuple[Any, ...]]:
    with _engine(store).connect() as connection:
        return [tuple(r) for r in connection.exec_driver_sql(sql).all()]


def _table_counts(store: SqlStore) -> dict[str, int]:
    return {
        t.strip(): int(_rows(store, f"SELECT count(*) FROM {t.strip()}")[0][0])
        for t in TABLES.split(",")
    }


# -- storage --------------------------------------------------------------------------------


class TestStorage:
    def test_shares_are_integer_basis_points_and_history_keeps_exact_text(
        self, org: SqlStore
    ) -> None:
        (customer,) = _customers(org, ("M1", "M2"))
        key = customer.id.hex if org.dialect_name == "sqlite" else str(customer.id)
        members = _rows(
            org,
            "SELECT staff_id, role, share_bp FROM crm_assignment_member "
            f"WHERE customer_id = '{key}' ORDER BY staff_id",
        )
        assert members == [("M1", "primary", 7000), ("M2", "secondary", 3000)]
        assert all(type(share) is int for _, _, share in members)
        with org.unit_of_work(HO, read_only=True) as uow:
            (record,) = uow.assignments.history(customer.id)
        assert record.managers == (
            AssignedManager(_s("M1"), ManagerRole.PRIMARY, Decimal("70.00")),
            AssignedManager(_s("M2"), ManagerRole.SECONDARY, Decimal("30.00")),
        )
        assert [str(m.share) for m in record.managers] == ["70.00", "30.00"]

    def test_odd_shares_survive_exactly(self, org: SqlStore) -> None:
        (customer,) = _customers(org, ("M1", None))
        with org.unit_of_work(HO) as uow:
            assign_managers(
                uow,
                customer.id,
                primary=_s("M1"),
                secondary=_s("M2"),
                team=[_s("M3")],
                shares={"M1": Decimal("33.34"), "M2": Decimal("33.33"), "M3": Decimal("33.33")},
                reason="workload",
                at=T0 + DAY,
            )
            uow.commit()
        with org.unit_of_work(HO, read_only=True) as uow:
            shares = uow.assignments.get(customer.id).shares
            history = uow.assignments.history(customer.id)
        assert shares == {"M1": Decimal("33.34"), "M2": Decimal("33.33"), "M3": Decimal("33.33")}
        assert history[-1].assignment().shares == shares
        total = _rows(org, "SELECT sum(share_bp) FROM crm_assignment_member")[0][0]
        assert int(total) == 10_000

    def test_effective_day_is_the_business_date_in_the_stores_zone(self, org: SqlStore) -> None:
        late = pendulum.datetime(2025, 6, 2, 16, 30, tz="UTC")  # 00:30 on the 3rd in Shanghai
        _customers(org, ("M1", None), at=late)
        assert [
            str(r[0])[:10] for r in _rows(org, "SELECT effective_day FROM crm_assignment_history")
        ] == ["2025-06-03"]
        with org.unit_of_work(HO, read_only=True) as uow:
            counts = uow.assignments.reason_counts(since=late - DAY, until=late + DAY)
        assert [(c.reason, c.unit, c.day) for c in counts] == [
            ("new_customer", "BJ01", datetime.date(2025, 6, 3))
        ]

    def test_staff_records_round_trip(self, org: SqlStore) -> None:
        leave = LeavePeriod(datetime.date(2025, 7, 1), datetime.date(2025, 7, 3), LeaveKind.SICK)
        later = LeavePeriod(datetime.date(2025, 8, 1), datetime.date(2025, 8, 1))
        with org.unit_of_work(HO) as uow:
            m9 = uow.organization.get_staff(_s("M9"))
            changed, events = m9.take_leave(leave, at=T0)
            changed, more = changed.take_leave(later, at=T0)
            changed = attrs.evolve(
                changed, roles={StaffRole.CUSTOMER_MANAGER, StaffRole.CHIEF_CUSTOMER_MANAGER}
            )
            stored = uow.organization.update_staff(changed, [*events, *more])
            uow.commit()
        with org.unit_of_work(HO, read_only=True) as uow:
            again = uow.organization.get_staff(_s("M9"))
            (entry,) = [e for e in uow.audit.entries(entity_id="M9") if e.entity_version == 2]
            pending = [m for m in uow.outbox.pending() if m.aggregate_id == "M9"]
        assert again == stored
        assert again.leaves == (leave, later) and again.capacity == 1000
        assert _rows(org, "SELECT roles FROM crm_staff WHERE id = 'M9'") == [
            ("chief_customer_manager,customer_manager",)
        ]
        assert entry.action == "staff.revised" and set(entry.changes) == {"roles", "leaves"}
        assert len(pending) == 2

    def test_units_are_ordered_by_path_and_subtrees_are_exact(self, org: SqlStore) -> None:
        with org.unit_of_work(HO, read_only=True) as uow:
            paths = [u.path for u in uow.organization.units()]
            under_bj = [s.id for s in uow.organization.staff(unit="BJ")]
            under_bj0 = [s.id for s in uow.organization.staff(unit="BJ0")]
            only_bj = [s.id for s in uow.organization.staff(unit="BJ", include_subunits=False)]
        assert paths == sorted(paths)
        assert under_bj == ["M1", "M2", "M3", "M4", "SV1"]  # not M5 (BJ0), M6 (BJ_), M7 (BJ-1)
        assert under_bj0 == ["M5"]
        assert only_bj == ["SV1"]
        assert path_range("/HO/BJ/") == ("/HO/BJ/", "/HO/BJ0")


# -- scopes in SQL --------------------------------------------------------------------------


class TestScopesInSql:
    def test_everything_adds_no_sql(self, org: SqlStore, statements: Statements) -> None:
        (customer,) = _customers(org, ("M1", None))
        for actor in (HO, Actor.system("nightly")):
            with org.unit_of_work(actor, read_only=True) as uow:
                with statements:
                    uow.customers.get(customer.id)
                    uow.customers.count()
                assert uow.scope.kind is ScopeKind.EVERYTHING
            (get, count) = statements.data()
            assert "EXISTS" not in get.upper() and "crm_staff" not in get
            assert "WHERE" not in count.upper()

    def test_scope_is_part_of_the_one_select(self, org: SqlStore, statements: Statements) -> None:
        mine, other = _customers(org, ("M1", None), ("M9", None))
        with org.unit_of_work(Actor("M1"), read_only=True) as uow:
            assert uow.scope == AccessScope.own(_s("M1"))  # resolved before recording
            with statements:
                assert uow.customers.get(mine.id) == mine
                with pytest.raises(NotFoundError):
                    uow.customers.get(other.id)
        assert len(statements.data()) == 2
        assert all("crm_assignment_member" in s for s in statements.data())

    def test_scope_is_resolved_once_per_transaction(
        self, org: SqlStore, statements: Statements
    ) -> None:
        (customer,) = _customers(org, ("M1", None))
        with org.unit_of_work(Actor("M1")) as uow:
            with statements:
                uow.customers.get(customer.id)
                uow.customers.get(customer.id)
                uow.customers.count()
            assert len(statements.touching("WHERE crm_staff.id = ")) == 1
            uow.commit()
            with statements:
                uow.customers.get(customer.id)
            assert len(statements.touching("WHERE crm_staff.id = ")) == 1  # again after commit

    def test_reads_follow_the_scope(self, org: SqlStore) -> None:
        teams = [("M1", None), ("M3", None), ("M4", None), ("M5", None), ("M6", None)]
        c1, c3, c4, c5, c6 = _customers(org, *teams, ("M7", None), ("M9", None))[:5]
        corporate = make_corporate(1)
        with org.unit_of_work(HO) as uow:
            uow.customers.add(corporate)  # no managers: only everything-scopes see it
            uow.commit()
        expected = {
            "SV1": {c1.id, c3.id, c4.id},  # the BJ subtree only, despite BJ0 / BJ_ / BJ-1
            "M1": {c1.id},
            "M5": {c5.id},
            "BH0": None,  # head office branch head: everything
            "stranger": set(),
        }
        for who, ids in expected.items():
            with org.unit_of_work(Actor(who), read_only=True) as uow:
                seen = {c.id for c in uow.customers.stream(batch_size=2)}
                paged = {s.id for s in uow.customers.page(limit=500).items}
                if ids is None:
                    assert uow.scope.is_everything and len(seen) == 8
                    continue
                assert seen == ids == paged, who
                assert uow.customers.count() == len(ids)
                for customer in (c1, c3, c4, c5, c6):
                    number = customer.customer_number
                    document = customer.identity_documents[0]
                    visible = customer.id in ids
                    assert (uow.assignments.find(customer.id) is not None) is visible
                    assert (
                        uow.customers.find_by_document(IdDocumentType.RESIDENT_ID, document.number)
                        is not None
                    ) is visible
                    if not visible:
                        with pytest.raises(NotFoundError):
                            uow.customers.get_by_number(number)
                        assert uow.assignments.history(customer.id) == []
                        assert uow.assignments.as_of(customer.id, NOW) is None

    def test_out_of_scope_customer_update_writes_nothing(self, org: SqlStore) -> None:
        (customer,) = _customers(org, ("M9", None))
        before = _table_counts(org)
        with org.unit_of_work(Actor("SV1")) as uow:
            assert isinstance(customer, IndividualCustomer)  # read elsewhere, stale or not
            with pytest.raises(PermissionDenied):
                uow.customers.update(*customer.revise(at=T0, occupation="教师"))
            uow.commit()
        assert _table_counts(org) == before

    def test_nothing_scope_cannot_open_customers(self, org: SqlStore) -> None:
        with org.unit_of_work(Actor("stranger")) as uow:
            with pytest.raises(PermissionDenied):
                uow.customers.add(make_individual(5))
            with pytest.raises(PermissionDenied):
                uow.customers.add_many([make_individual(6)])
        with org.unit_of_work(Actor("M1")) as uow:  # a manager may open one
            uow.customers.add(make_individual(7))
            uow.commit()
        assert _table_counts(org)["crm_customer"] == 1

    def test_a_custom_access_rule_and_unmasking_rule_are_used(self, tmp_path: Path) -> None:
        @attrs.frozen
        class EveryoneOwn:
            def scope_for(self, actor: Actor, staff: Any, unit: Any) -> AccessScope:
                if actor.id == HO.id:
                    return AccessScope.everything()
                return AccessScope.own(_s(actor.id))

        @attrs.frozen
        class AlwaysUnmasked:
            def masking_for(self, actor: Actor) -> Any:
                return Unmasked()

        url = f"sqlite:///{tmp_path / 'rules.db'}"
        store = SqlStore.from_url(
            url,
            clock=FixedClock(NOW),
            access=EveryoneOwn(),
            unmasking=AlwaysUnmasked(),
            timezone="UTC",
        )
        store.upgrade_schema()
        _build_org(store)
        (customer,) = _customers(store, ("M1", None))
        with store.unit_of_work(Actor("M1", roles={"head_office"}), read_only=True) as uow:
            assert uow.scope == AccessScope.own(_s("M1"))  # the head-office role means nothing
            assert uow.timezone == "UTC"
            (line,) = uow.customers.page().items
        assert isinstance(customer, IndividualCustomer) and line.name == customer.name
        store.close()
        with pytest.raises(ValidationError, match="time zone"):
            SqlStore.from_url(url, timezone="Mars/Olympus_Mons")


class TestSqlitePlans:
    """EXPLAIN QUERY PLAN of the statements as the repositories build them."""

    @pytest.fixture
    def plans(self, sqlite_store: SqlStore) -> Iterator[list[str]]:
        lines: list[str] = []
        engine = _engine(sqlite_store)

        def explain(
            conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
        ) -> tuple[str, Any]:
            if statement.lstrip().upper().startswith("SELECT") and "crm_" in statement:
                cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
                lines.extend(str(r[3]) for r in cursor.fetchall())
            return statement, params

        event.listen(engine, "before_cursor_execute", explain, retval=True)
        yield lines
        event.remove(engine, "before_cursor_execute", explain)

    def test_sqlite_scope_lookups_use_indexes(
        self, sqlite_store: SqlStore, plans: list[str]
    ) -> None:
        _build_org(sqlite_store)
        (customer,) = _customers(sqlite_store, ("M1", None))
        with sqlite_store.unit_of_work(Actor("SV1"), read_only=True) as uow:
            assert uow.scope.kind is ScopeKind.UNIT
            plans.clear()
            uow.customers.get(customer.id)
        text = "\n".join(plans)
        assert "SEARCH crm_customer USING INDEX sqlite_autoindex_crm_customer_1 (id=?)" in text
        assert (
            "SEARCH crm_org_unit USING INDEX sqlite_autoindex_crm_org_unit_2 (path>? AND path<?)"
            in text
        )
        assert "SEARCH crm_staff USING COVERING INDEX ix_crm_staff_unit_code (unit_code=?)" in text
        # The customer's member rows by customer id, then the staff list tested: not one
        # probe per staff member of the subtree (the unary "+" in scopes.customer_filter).
        assert (
            "SEARCH scope_member USING INDEX sqlite_autoindex_crm_assignment_member_1 "
            "(customer_id=?)" in text
        )
        assert "(customer_id=? AND staff_id=?)" not in text
        assert "SCAN" not in text

    def test_sqlite_own_pages_are_driven_by_the_member_index(
        self, sqlite_store: SqlStore, plans: list[str]
    ) -> None:
        _build_org(sqlite_store)
        _customers(sqlite_store, ("M1", None), ("M2", None))
        with sqlite_store.unit_of_work(Actor("M1"), read_only=True) as uow:
            uow.scope  # noqa: B018 (resolve it first)
            plans.clear()
            uow.customers.page(limit=10)
            uow.customers.count()
        text = "\n".join(plans)
        assert "ix_crm_assignment_member_book (staff_id=?)" in text
        assert "SCAN crm_customer" not in text

    def test_sqlite_a_small_unit_pages_from_its_managers_customers(
        self, sqlite_store: SqlStore, plans: list[str]
    ) -> None:
        # A team of 2 among 312 staff (under SMALL_UNIT_SHARE): its page starts from the
        # member index, as a customer manager's own page does.
        _build_org(sqlite_store)
        with sqlite_store.unit_of_work(HO) as uow:
            for i in range(300):
                uow.organization.add_staff(StaffMember(id=_s(f"X{i:03d}"), name="某", unit="SH"))
            uow.commit()
        _customers(sqlite_store, ("M3", None), ("M1", None))
        with sqlite_store.unit_of_work(HO) as uow:
            uow.organization.add_staff(
                StaffMember(id=_s("SVT"), name="组长", unit="BJ01T", roles={StaffRole.SUPERVISOR})
            )
            uow.commit()
        with sqlite_store.unit_of_work(Actor("SVT"), read_only=True) as uow:
            assert uow.scope.kind is ScopeKind.UNIT
            plans.clear()
            page = uow.customers.page(limit=10)
        text = "\n".join(plans)
        assert [s.primary_manager for s in page.items] == ["M3"]
        assert "ix_crm_assignment_member_book (staff_id=?)" in text
        assert "SCAN crm_customer" not in text

    def test_sqlite_unit_counts_start_from_the_scope_and_pages_walk_the_names(
        self, sqlite_store: SqlStore, plans: list[str]
    ) -> None:
        _build_org(sqlite_store)
        _customers(sqlite_store, ("M1", None), ("M9", None))
        with sqlite_store.unit_of_work(Actor("SV1"), read_only=True) as uow:
            assert uow.scope.kind is ScopeKind.UNIT
            plans.clear()
            assert uow.customers.count() == 1
            count = "\n".join(plans)
            plans.clear()
            uow.customers.page(limit=10)
            page = "\n".join(plans)
        assert "SCAN crm_customer" not in count
        assert "ix_crm_assignment_member_book (staff_id=?)" in count
        assert "SCAN crm_customer USING INDEX ix_crm_customer_name" in page
        assert "TEMP B-TREE" not in page

    def test_sqlite_name_pages_walk_the_name_index(
        self, sqlite_store: SqlStore, plans: list[str]
    ) -> None:
        _build_org(sqlite_store)
        _customers(sqlite_store, ("M1", None), ("M2", None))
        with sqlite_store.unit_of_work(HO, read_only=True) as uow:
            page = uow.customers.page(limit=1)
            plans.clear()
            uow.customers.page(limit=1, cursor=page.next_cursor)
        text = "\n".join(plans)
        assert "SEARCH crm_customer USING INDEX ix_crm_customer_name ((name,id)>(?,?))" in text
        assert "TEMP B-TREE" not in text

    def test_sqlite_book_sizes_and_reports_read_covering_indexes(
        self, sqlite_store: SqlStore, plans: list[str]
    ) -> None:
        _build_org(sqlite_store)
        _customers(sqlite_store, ("M1", None), ("M2", None))
        with sqlite_store.unit_of_work(Actor("SV1"), read_only=True) as uow:
            uow.scope  # noqa: B018
            plans.clear()
            uow.assignments.book_sizes([_s("M1"), _s("M2")])
            list(uow.assignments.book(_s("M1"), roles=[ManagerRole.PRIMARY], batch_size=1))
            uow.assignments.reason_counts(since=T0 - DAY, until=T0 + DAY)
        text = "\n".join(plans)
        assert "COVERING INDEX ix_crm_assignment_member_book (staff_id=? AND role=?)" in text
        assert (
            "SEARCH book_member USING COVERING INDEX ix_crm_assignment_member_book "
            "(staff_id=? AND role=? AND customer_id>?)"
        ) in text
        assert (
            "COVERING INDEX ix_crm_assignment_history_day (effective_day>? AND effective_day<?)"
            in text
        )
        assert "SCAN" not in text


# -- pages ----------------------------------------------------------------------------------


class TestPages:
    def test_a_page_is_one_statement(self, org: SqlStore, statements: Statements) -> None:
        _customers(org, ("M1", "M2"), ("M1", None))
        with org.unit_of_work(Actor("M1"), read_only=True) as uow:
            uow.scope  # noqa: B018
            with statements:
                page = uow.customers.page(limit=5)
        assert len(statements.data()) == 1
        assert {line.primary_manager for line in page.items} == {"M1"}

    def test_keyset_paging_over_equal_names(self, org: SqlStore) -> None:
        made = [
            attrs.evolve(make_individual(i), name=name)
            for i, name in enumerate(["王伟", "王伟", "王伟", "李娜", "王伟", "张敏", "李娜"], 1)
        ]
        with org.unit_of_work(HO) as uow:
            uow.customers.add_many(made)
            uow.commit()
        for order in CustomerOrder:
            seen: list[CustomerId] = []
            cursors: list[str] = []
            cursor = None
            with org.unit_of_work(HO, read_only=True) as uow:
                # one page holding everything, in the database's collation of names
                expected = [line.id for line in uow.customers.page(order=order, limit=500).items]
                while True:
                    page = uow.customers.page(order=order, limit=2, cursor=cursor)
                    seen.extend(line.id for line in page.items)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
                    cursors.append(cursor)
            assert seen == expected and len(set(seen)) == len(made), order
            assert all(uuid.UUID(c) in set(seen) for c in cursors)  # ids, never a name
        by_id = {c.id: c for c in made}
        names = [by_id[i].name for i in expected]  # the last order: opened_at (all equal), id
        assert expected == sorted(expected, key=str) and len(names) == 7
        with org.unit_of_work(HO, read_only=True) as uow:
            numbers = [
                s.customer_number
                for s in uow.customers.page(order=CustomerOrder.CUSTOMER_NUMBER, limit=500).items
            ]
        assert numbers == sorted(c.customer_number for c in made)

    def test_names_are_masked_for_individuals_only(self, org: SqlStore) -> None:
        person, company = make_individual(1), make_corporate(2)
        with org.unit_of_work(HO) as uow:
            uow.customers.add_many([person, company])
            uow.commit()
        with org.unit_of_work(HO, read_only=True) as uow:
            lines = {line.id: line for line in uow.customers.page().items}
        assert isinstance(person, IndividualCustomer)
        assert lines[person.id].name == DEFAULT_MASKING.mask(PersonalDataKind.NAME, person.name)
        assert lines[person.id].name != person.name
        assert lines[company.id].name == company.display_name
        with org.unit_of_work(Actor("kyc", roles={"head_office", "kyc_officer"})) as uow:
            lines = {line.id: line for line in uow.customers.page().items}
        assert lines[person.id].name == person.name

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"limit": 0},
            {"limit": 501},
            {"limit": True},
            {"limit": 2.0},
            {"cursor": "王伟"},
            {"cursor": str(uuid.UUID(int=7))},
            {"order": "name"},
        ],
    )
    def test_bad_page_arguments(self, org: SqlStore, kwargs: dict[str, Any]) -> None:
        _customers(org, ("M1", None))
        with org.unit_of_work(HO, read_only=True) as uow, pytest.raises(ValidationError):
            uow.customers.page(**kwargs)


# -- the bulk path --------------------------------------------------------------------------


def _moves(customers: list[Customer], to: str) -> list[Reassignment]:
    return [Reassignment(c.id, _s(to)) for c in customers]


class TestBulkUpdates:
    def test_executemany_rowcount_is_the_sum_on_this_driver(self, store: SqlStore) -> None:
        with store.unit_of_work(HO) as uow:
            connection = uow.connection
            p = "?" if store.dialect_name == "sqlite" else "%s"
            connection.exec_driver_sql("CREATE TEMPORARY TABLE t_rowcount (k INTEGER, v INTEGER)")
            connection.exec_driver_sql(
                f"INSERT INTO t_rowcount VALUES ({p}, {p})", [(i, 1) for i in range(6)]
            )
            result = connection.exec_driver_sql(
                f"UPDATE t_rowcount SET v = 2 WHERE k = {p} AND v = {p}",
                [(0, 1), (1, 1), (2, 1), (3, 99), (42, 1)],
            )
            assert result.rowcount == 3
            connection.exec_driver_sql("DROP TABLE t_rowcount")

    def test_a_batch_is_a_handful_of_statements(
        self, org: SqlStore, statements: Statements
    ) -> None:
        counts = []
        for size, seed in ((20, 1), (120, 100)):
            made = _customers(org, *[("M1", "M2")] * size, first_seed=seed)
            with org.unit_of_work(HO) as uow:
                uow.scope  # noqa: B018
                with statements:
                    report = reassign_many(uow, _moves(made, "M3"), reason="workload", at=T0 + DAY)
                uow.commit()
            assert report.moved == size
            counts.append(len(statements.data()))
        assert counts[0] == counts[1] <= 14, statements.data()
        with org.unit_of_work(HO, read_only=True) as uow:
            moved = uow.assignments.find_many([c.id for c in made])
            audit = uow.audit.entries(entity_id=str(made[-1].id))
        assert {a.primary for a in moved.values()} == {"M3"}
        assert {a.version for a in moved.values()} == {2}
        assert [e.action for e in audit][-1] == "assignment.changed"

    def test_one_stale_change_writes_nothing_of_the_batch(self, org: SqlStore) -> None:
        made = _customers(org, *[("M1", None)] * 5)
        with org.unit_of_work(HO) as uow:
            current = uow.assignments.find_many([c.id for c in made])
        with org.unit_of_work(HO) as uow:  # someone moves the fourth customer first
            assign_managers(uow, made[3].id, primary=_s("M2"), reason="workload", at=T0 + DAY)
            uow.commit()
        before = _table_counts(org)
        team = [AssignedManager(_s("M3"), ManagerRole.PRIMARY, Decimal(100))]
        changes = [current[c.id].change(team, at=T0 + 2 * DAY, reason="workload") for c in made]
        with org.unit_of_work(HO) as uow:
            with pytest.raises(ConflictError, match="reload"):
                uow.assignments.update_many(changes)
            uow.commit()
        assert _table_counts(org) == before
        with org.unit_of_work(HO, read_only=True) as uow:
            assert {
                a.primary for a in uow.assignments.find_many([c.id for c in made]).values()
            } == {
                "M1",
                "M2",
            }

    def test_the_rowcount_check_catches_a_change_after_the_read(
        self, org: SqlStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        made = _customers(org, *[("M1", None)] * 3)
        before = _table_counts(org)
        original = SqlAssignmentRepository._staff
        key = made[1].id.hex if org.dialect_name == "sqlite" else str(made[1].id)

        def sneaky(self: SqlAssignmentRepository, ids: Any) -> Any:
            # between the batch's SELECT and its UPDATE the version moves on
            self._uow.connection.exec_driver_sql(
                f"UPDATE crm_assignment SET version = version + 1 WHERE customer_id = '{key}'"
            )
            return original(self, ids)

        with org.unit_of_work(HO) as uow:
            current = uow.assignments.find_many([c.id for c in made])
            team = [AssignedManager(_s("M3"), ManagerRole.PRIMARY, Decimal(100))]
            changes = [current[c.id].change(team, at=T0 + DAY, reason="workload") for c in made]
            monkeypatch.setattr(SqlAssignmentRepository, "_staff", sneaky)
            with pytest.raises(ConflictError):
                uow.assignments.update_many(changes)
            monkeypatch.undo()
            if org.dialect_name == "sqlite":
                # no savepoint there: the half-done UPDATE can never be committed
                with pytest.raises(StorageError, match="rolled back"):
                    uow.commit()
            else:
                uow.commit()  # a savepoint undid the batch
        assert _table_counts(org) == before  # none of the batch's rows were written
        with org.unit_of_work(HO, read_only=True) as uow:
            found = uow.assignments.find_many([c.id for c in made])
        bumped = 1 if org.dialect_name == "sqlite" else 2  # the other write, in our transaction
        assert [(found[c.id].version, found[c.id].primary) for c in made] == [
            (1, "M1"),
            (bumped, "M1"),
            (1, "M1"),
        ]

    def test_a_failure_half_way_is_never_committed(
        self, org: SqlStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        made = _customers(org, *[("M1", None)] * 3)
        before = _table_counts(org)

        def failing(self: Any, rows: Any) -> None:
            raise RuntimeError("the disk is full")  # after heads, members and history

        team = [AssignedManager(_s("M3"), ManagerRole.PRIMARY, Decimal(100))]
        with org.unit_of_work(HO) as uow:
            current = uow.assignments.find_many([c.id for c in made])
            changes = [current[c.id].change(team, at=T0 + DAY, reason="workload") for c in made]
            with monkeypatch.context() as patch:
                patch.setattr(type(uow), "_write_event_rows", failing)
                with pytest.raises(RuntimeError):
                    uow.assignments.update_many(changes)
            if org.dialect_name == "sqlite":
                with pytest.raises(StorageError):
                    uow.commit()
            uow.commit()  # a fresh transaction: fine again
        assert _table_counts(org) == before
        with org.unit_of_work(HO) as uow:  # inside a savepoint that is rolled back: usable
            current = uow.assignments.find_many([c.id for c in made])
            changes = [current[c.id].change(team, at=T0 + DAY, reason="workload") for c in made]
            with monkeypatch.context() as patch, pytest.raises(RuntimeError), uow.savepoint():
                patch.setattr(type(uow), "_write_event_rows", failing)
                uow.assignments.update_many(changes)
            uow.assignments.update_many(changes)
            uow.commit()
        with org.unit_of_work(HO, read_only=True) as uow:
            found = uow.assignments.find_many([c.id for c in made])
        assert {(a.version, a.primary) for a in found.values()} == {(2, "M3")}

    def test_the_same_customer_twice_applies_in_order(self, org: SqlStore) -> None:
        (customer,) = _customers(org, ("M1", None))
        with org.unit_of_work(HO) as uow:
            v1 = uow.assignments.get(customer.id)
            to_m2, e2 = v1.change(
                [AssignedManager(_s("M2"), ManagerRole.PRIMARY, Decimal(100))],
                at=T0 + DAY,
                reason="workload",
            )
            to_m3, e3 = attrs.evolve(to_m2, version=2).change(
                [AssignedManager(_s("M3"), ManagerRole.PRIMARY, Decimal(100))],
                at=T0 + 2 * DAY,
                reason="workload",
            )
            uow.assignments.update_many([(to_m2, e2), (to_m3, e3)])
            with pytest.raises(ConflictError):
                uow.assignments.update_many([(to_m2, e2), (to_m2, e2)])
            uow.commit()
        with org.unit_of_work(HO, read_only=True) as uow:
            history = uow.assignments.history(customer.id)
        assert [(r.version, r.primary) for r in history] == [(1, "M1"), (2, "M2"), (3, "M3")]
        assert history[1].effective_to == T0 + 2 * DAY

    def test_more_than_one_chunk_of_ids(self, org: SqlStore) -> None:
        made = _customers(org, *[("M9", None)] * 30)
        ids = [c.id for c in made]
        unknown = [uuid.UUID(int=i) for i in range(1, 1200)]
        with org.unit_of_work(HO, read_only=True) as uow:
            assert set(uow.assignments.find_many([*unknown, *ids])) == set(ids)
            asked = [_s(f"X{i}") for i in range(1200)] + [_s("M9")]
            sizes = uow.assignments.book_sizes(asked)
            assert len(sizes) == 1201 and sizes["M9"] == 30 and sizes["X7"] == 0
            assert uow.assignments.book_sizes() == {"M9": 30}
            book = list(uow.assignments.book(_s("M9"), batch_size=7))
            assert [a.customer_id for a in book] == sorted(ids, key=str)
            assert list(uow.assignments.book(_s("M9"), roles=[ManagerRole.SECONDARY])) == []
            assert list(uow.assignments.book(_s("M9"), roles=[])) == []


# -- the organisation: departures -----------------------------------------------------------


class TestDepartures:
    def test_departure_lists_twenty_blockers_and_writes_nothing(self, org: SqlStore) -> None:
        made = _customers(org, *[("M4", None)] * 22, ("M1", "M4"), ("M1", "M4"))
        before = _table_counts(org)
        with org.unit_of_work(HO) as uow:
            m4 = uow.organization.get_staff(_s("M4"))
            with pytest.raises(BusinessRuleViolation) as refused:
                uow.organization.update_staff(*m4.depart(at=T0 + DAY, reason="resigned"))
            uow.commit()
        message = str(refused.value)
        assert "24 customers" in message and "and 4 more" in message and "hand the book" in message
        ids = sorted(str(c.id) for c in made)
        assert all(i in message for i in ids[:20]) and not any(i in message for i in ids[20:])
        assert _table_counts(org) == before

    def test_hand_over_then_depart(self, org: SqlStore) -> None:
        made = _customers(org, ("M4", "M1"), ("M4", None), ("M1", "M4"))
        with org.unit_of_work(HO) as uow:
            report = hand_over_book(uow, _s("M4"), at=T0 + DAY)
            uow.commit()
        assert report.departed and report.customers == 3
        with org.unit_of_work(HO, read_only=True) as uow:
            assert list(uow.assignments.book(_s("M4"))) == []
            m4 = uow.organization.get_staff(_s("M4"))
            assert not m4.is_active and m4.version == 2
            actions = [e.action for e in uow.audit.entries(entity_id="M4")]
            events = [
                m.event_type for m in uow.outbox.pending(limit=1000) if m.aggregate_id == "M4"
            ]
        assert actions == ["staff.added", "staff.departed"]
        assert events == ["StaffDeparted"]
        with org.unit_of_work(HO) as uow, pytest.raises(BusinessRuleViolation, match="departed"):
            assign_managers(uow, made[0].id, primary=_s("M4"), reason="workload", at=T0 + 2 * DAY)

    def test_postgres_departure_waits_for_a_concurrent_assignment(
        self, postgres_store: SqlStore
    ) -> None:
        store = postgres_store
        _build_org(store)
        (customer,) = _customers(store, ("M1", None))
        outcome: dict[str, BaseException | None] = {}
        started = threading.Event()

        def depart() -> None:
            started.set()
            try:
                with store.unit_of_work(HO) as uow:
                    m5 = uow.organization.get_staff(_s("M5"))
                    uow.organization.update_staff(*m5.depart(at=T0 + DAY, reason="resigned"))
                    uow.commit()
                outcome["depart"] = None
            except BaseException as exc:  # reported below
                outcome["depart"] = exc

        with store.unit_of_work(HO) as uow:
            assign_managers(
                uow,
                customer.id,
                primary=_s("M1"),
                secondary=_s("M5"),
                reason="workload",
                at=T0 + DAY,
            )  # M5's staff row is now held FOR SHARE until this commits
            worker = threading.Thread(target=depart)
            worker.start()
            started.wait(5)
            worker.join(1.0)
            assert worker.is_alive()  # the departure waits for this transaction
            uow.commit()
        worker.join(10)
        assert isinstance(outcome["depart"], BusinessRuleViolation)
        with store.unit_of_work(HO, read_only=True) as uow:
            assert uow.organization.get_staff(_s("M5")).is_active

    def test_postgres_concurrent_bulk_update_is_a_conflict(
        self, postgres_store: SqlStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = postgres_store
        _build_org(store)
        made = _customers(store, *[("M1", None)] * 3)
        original = SqlAssignmentRepository._staff
        done: list[bool] = []

        def interleave(self: SqlAssignmentRepository, ids: Any) -> Any:
            if not done:  # another unit of work commits a change to one of the batch
                done.append(True)
                with store.unit_of_work(HO) as other:
                    assign_managers(
                        other, made[2].id, primary=_s("M2"), reason="workload", at=T0 + DAY
                    )
                    other.commit()
            return original(self, ids)

        with store.unit_of_work(HO) as uow:
            current = uow.assignments.find_many([c.id for c in made])
            team = [AssignedManager(_s("M3"), ManagerRole.PRIMARY, Decimal(100))]
            changes = [current[c.id].change(team, at=T0 + 2 * DAY, reason="workload") for c in made]
            monkeypatch.setattr(SqlAssignmentRepository, "_staff", interleave)
            with pytest.raises(ConflictError):
                uow.assignments.update_many(changes)
            monkeypatch.undo()
        with store.unit_of_work(HO, read_only=True) as uow:
            found = uow.assignments.find_many([c.id for c in made])
        assert [found[c.id].primary for c in made] == ["M1", "M1", "M2"]


# -- history, reports and input checks ------------------------------------------------------


class TestHistoryAndInput:
    def test_as_of_at_the_edges(self, org: SqlStore) -> None:
        (customer,) = _customers(org, ("M1", None))
        team2 = [AssignedManager(_s("M2"), ManagerRole.PRIMARY, Decimal(100))]
        team3 = [AssignedManager(_s("M3"), ManagerRole.PRIMARY, Decimal(100))]
        with org.unit_of_work(HO) as uow:
            v1 = uow.assignments.get(customer.id)
            v2 = uow.assignments.update(*v1.change(team2, at=T0 + DAY, reason="workload"))
            uow.assignments.update(*v2.change(team3, at=T0 + DAY, reason="other"))  # same instant
            uow.commit()
        with org.unit_of_work(HO, read_only=True) as uow:
            at = uow.assignments.as_of
            assert at(customer.id, T0 - datetime.timedelta(microseconds=1)) is None
            assert at(customer.id, T0).version == 1  # type: ignore[union-attr]
            edge = T0 + DAY - datetime.timedelta(microseconds=1)
            assert at(customer.id, edge).version == 1  # type: ignore[union-attr]
            assert at(customer.id, T0 + DAY).version == 3  # type: ignore[union-attr]
            assert at(customer.id, NOW + 400 * DAY).primary == "M3"  # type: ignore[union-attr]
            history = uow.assignments.history(customer.id)
        assert [(r.effective_from, r.effective_to) for r in history] == [
            (T0, T0 + DAY),
            (T0 + DAY, T0 + DAY),
            (T0 + DAY, None),
        ]

    def test_reason_report_by_scope(self, org: SqlStore) -> None:
        made = _customers(org, ("M1", None), ("M4", None), ("M9", None))
        with org.unit_of_work(HO) as uow:
            reassign_many(uow, _moves(made[:2], "M3"), reason="workload", at=T0 + DAY)
            uow.commit()
        since, until = T0.date(), (T0 + DAY).date()
        with org.unit_of_work(HO, read_only=True) as uow:
            everything = {
                (r.reason, r.unit, r.count)
                for r in reason_report(uow, since=since, until=until, by="all")
            }
        assert everything == {
            ("new_customer", "BJ", 2),
            ("new_customer", "SH", 1),
            ("workload", "BJ", 2),
        }
        with org.unit_of_work(Actor("SV1"), read_only=True) as uow:
            mine = {
                (r.reason, r.unit, r.count)
                for r in reason_report(uow, since=since, until=until, by="all")
            }
        assert mine == {("new_customer", "BJ", 2), ("workload", "BJ", 2)}
        with org.unit_of_work(Actor("M3"), read_only=True) as uow:
            counts = uow.assignments.reason_counts(since=T0, until=T0 + 2 * DAY)
            assert [(c.reason, c.unit, c.count) for c in counts] == [("workload", "BJ01T", 2)]
            assert uow.assignments.reason_counts(since=T0 + DAY, until=T0) == []

    @pytest.mark.parametrize(
        "call",
        [
            lambda uow: uow.assignments.find("not-a-uuid"),
            lambda uow: uow.assignments.find_many([123]),
            lambda uow: uow.assignments.history("x"),
            lambda uow: uow.assignments.as_of(uuid.uuid4(), datetime.datetime(2025, 1, 1)),
            lambda uow: list(uow.assignments.book(123)),
            lambda uow: list(uow.assignments.book(_s("M1"), batch_size=0)),
            lambda uow: list(uow.assignments.book(_s("M1"), roles=["primary"])),
            lambda uow: uow.assignments.book_sizes("M1"),
            lambda uow: uow.assignments.book_sizes([1, 2]),
            lambda uow: uow.assignments.update_many([("not", "a pair", "at all")]),
            lambda uow: uow.customers.get("x"),
            lambda uow: list(uow.customers.stream(batch_size=0)),
            lambda uow: uow.organization.update_staff(
                StaffMember(id=_s("M1"), name="王经理", unit="BJ01", version=1),
                [object()],
            ),
        ],
    )
    def test_bad_input_is_a_validation_error(self, org: SqlStore, call: Any) -> None:
        with org.unit_of_work(HO) as uow, pytest.raises(ValidationError):
            call(uow)

    def test_unknown_keys_are_not_found_not_driver_errors(self, org: SqlStore) -> None:
        (customer,) = _customers(org, ("M1", None))
        with org.unit_of_work(HO) as uow:
            assert uow.organization.find_staff(123) is None  # type: ignore[arg-type]
            assert uow.organization.find_unit(None) is None  # type: ignore[arg-type]
            with pytest.raises(NotFoundError):
                uow.organization.staff(unit="NOPE")
            ghost = Assignment.first(
                CustomerId(uuid.uuid4()),
                [AssignedManager(_s("M1"), ManagerRole.PRIMARY, Decimal(100))],
                at=T0,
                reason="new_customer",
            )
            with pytest.raises(NotFoundError):
                uow.assignments.add(*ghost)
            with pytest.raises(NotFoundError):
                uow.assignments.update(attrs.evolve(ghost[0], version=1), ghost[1])
            nobody = Assignment.first(
                customer.id,
                [AssignedManager(_s("NOBODY"), ManagerRole.PRIMARY, Decimal(100))],
                at=T0,
                reason="new_customer",
            )
            with pytest.raises(DuplicateError):
                uow.assignments.add(*nobody)
            current = uow.assignments.get(customer.id)
            with pytest.raises(NotFoundError, match="NOBODY"):
                uow.assignments.update(*current.change(nobody[0].managers, at=T0, reason="x"))


# -- the migration --------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'migrate.db'}")
        yield engine
        engine.dispose()
        return
    admin = skip_or_fail_without_postgres()
    with throwaway_database(admin, prefix="finance_crm_migrate") as url:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        yield engine
        engine.dispose()


def test_migration_0002_upgrades_an_issue_2_database_and_downgrades(
    empty_engine: sa.Engine,
) -> None:
    finance_crm.upgrade_schema(empty_engine, "0001")
    with empty_engine.begin() as connection:
        assert current_revision(connection) == "0001"
        assert not sa.inspect(connection).has_table("crm_assignment")
    finance_crm.upgrade_schema(empty_engine)
    store = SqlStore(empty_engine, clock=FixedClock(NOW))
    _build_org(store)
    (customer,) = _customers(store, ("M1", None))
    with empty_engine.begin() as connection:
        command.downgrade(_config(connection), "0001")
    with empty_engine.begin() as connection:
        inspector = sa.inspect(connection)
        assert not inspector.has_table("crm_assignment_member")
        assert not inspector.has_table("crm_org_unit")
        assert "ix_crm_customer_name" not in {
            i["name"] for i in inspector.get_indexes("crm_customer")
        }
        assert connection.exec_driver_sql("SELECT count(*) FROM crm_customer").scalar_one() == 1
    finance_crm.upgrade_schema(empty_engine)
    with store.unit_of_work(HO, read_only=True) as uow:
        assert uow.customers.get(customer.id).id == customer.id
        assert uow.assignments.find(customer.id) is None
        assert uow.organization.units() == []
