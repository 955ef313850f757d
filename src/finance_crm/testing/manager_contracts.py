"""The contract for customer managers: organisation, assignments, handover, scopes.

Subclass :class:`ManagerStoreContract` and provide a ``store`` fixture returning a
fresh, empty store (any clock later than 2025); finance_crm runs it on the memory
adapter, SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pendulum
import pytest

from finance_crm.errors import (
    BusinessRuleViolation,
    ConflictError,
    DuplicateError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from finance_crm.ids import CustomerId, StaffId
from finance_crm.model.assignments import (
    AssignedManager,
    Assignment,
    AssignmentChanged,
    ManagerRole,
)
from finance_crm.model.customers import Customer
from finance_crm.model.documents import IdDocumentType
from finance_crm.model.organization import (
    LeavePeriod,
    OrgUnit,
    OrgUnitKind,
    StaffMember,
    StaffRole,
)
from finance_crm.money import Money
from finance_crm.ports import CustomerOrder, Store
from finance_crm.rules.managers import FixedCapacity, ManagerRules
from finance_crm.security import Actor
from finance_crm.services.managers import (
    Reassignment,
    acting_manager,
    assign_managers,
    assignment_history,
    book_report,
    depart_staff,
    hand_over_book,
    manager_on,
    reason_report,
    reassign_many,
    split_credit,
)
from finance_crm.testing.factories import make_individual

__all__ = ["ManagerStoreContract"]

HEAD_OFFICE = Actor("ho-admin", roles=frozenset({"head_office"}))
T0 = pendulum.datetime(2025, 6, 2, 9, tz="Asia/Shanghai")  # a Monday
DAY = datetime.timedelta(days=1)


def _s(value: str) -> StaffId:
    return StaffId(value)


class ManagerStoreContract:
    """The behaviour every store shows for organisation, assignments and scopes.

    The organisation built by :meth:`org`::

        HO 总行
        └── BJ 北京分行            branch head BH1
            ├── T1 财富一组         supervisor SV1; managers M1 M2 M3
            └── T2 财富二组         managers M4 M5
        SH 上海分行 (under HO)      manager M9
    """

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        raise NotImplementedError("provide a `store` fixture returning a fresh, empty store")

    @pytest.fixture
    def org(self, store: Store) -> Store:
        head = OrgUnit.head_office("HO", "总行")
        bj = head.child("BJ", "北京分行", OrgUnitKind.BRANCH)
        units = [
            head,
            bj,
            bj.child("T1", "财富一组", OrgUnitKind.TEAM),
            bj.child("T2", "财富二组", OrgUnitKind.TEAM),
            head.child("SH", "上海分行", OrgUnitKind.BRANCH),
        ]
        staff = [
            StaffMember(id=_s("BH1"), name="李行长", unit="BJ", roles={StaffRole.BRANCH_HEAD}),
            StaffMember(id=_s("SV1"), name="周主管", unit="T1", roles={StaffRole.SUPERVISOR}),
            *(StaffMember(id=_s(f"M{i}"), name=f"王经理{i}", unit="T1") for i in (1, 2, 3)),
            *(StaffMember(id=_s(f"M{i}"), name=f"张经理{i}", unit="T2") for i in (4, 5)),
            StaffMember(id=_s("M9"), name="陈经理", unit="SH"),
        ]
        with store.unit_of_work(HEAD_OFFICE) as uow:
            for unit in units:
                uow.organization.add_unit(unit)
            for member in staff:
                uow.organization.add_staff(member)
            uow.commit()
        return store

    def _customers(
        self, store: Store, *teams: tuple[str, str | None], first_seed: int = 1
    ) -> list[Customer]:
        """Open one customer per (primary, secondary) pair, assigned at T0."""
        customers: list[Customer] = [make_individual(first_seed + i) for i in range(len(teams))]
        with store.unit_of_work(HEAD_OFFICE) as uow:
            for customer, (primary, secondary) in zip(customers, teams, strict=True):
                uow.customers.add(customer)
                assign_managers(
                    uow,
                    customer.id,
                    primary=_s(primary),
                    secondary=_s(secondary) if secondary else None,
                    reason="new_customer",
                    at=T0,
                )
            uow.commit()
        return customers

    def _snapshot(self, store: Store, ids: list[CustomerId]) -> Any:
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            return (
                [uow.assignments.find(i) for i in ids],
                [uow.assignments.history(i) for i in ids],
                uow.organization.staff(),
                len(uow.audit.entries(limit=100_000)),
                len(uow.outbox.pending(limit=100_000)),
            )

    # -- organisation --------------------------------------------------------------------

    def test_units_and_staff_round_trip(self, org: Store) -> None:
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert [u.code for u in uow.organization.units()] == ["HO", "BJ", "T1", "T2", "SH"]
            assert uow.organization.get_unit("T1").path == "/HO/BJ/T1/"
            bj = [s.id for s in uow.organization.staff(unit="BJ")]
            assert bj == ["BH1", "M1", "M2", "M3", "M4", "M5", "SV1"]
            assert [s.id for s in uow.organization.staff(unit="BJ", include_subunits=False)] == [
                "BH1"
            ]
            m1 = uow.organization.get_staff(_s("M1"))
            assert (m1.unit, m1.roles, m1.version) == (
                "T1",
                frozenset({StaffRole.CUSTOMER_MANAGER}),
                1,
            )
            assert uow.organization.find_staff(_s("nobody")) is None
            with pytest.raises(NotFoundError):
                uow.organization.get_unit("XX")
            entries = uow.audit.entries(entity_id="M1")
        assert [e.action for e in entries] == ["staff.added"]
        assert entries[0].changes["name"]["after"] != "王经理1"  # masked

    def test_bad_organisation_writes_are_refused(self, org: Store) -> None:
        with org.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(DuplicateError):
                uow.organization.add_unit(OrgUnit.head_office("HO", "又一个总行"))
            orphan = OrgUnit(
                code="X1", name="孤儿", kind=OrgUnitKind.OUTLET, parent="NOPE", path="/NOPE/X1/"
            )
            with pytest.raises(NotFoundError):
                uow.organization.add_unit(orphan)
            with pytest.raises(NotFoundError):
                uow.organization.add_staff(StaffMember(id=_s("Z1"), name="某", unit="NOPE"))
            with pytest.raises(DuplicateError):
                uow.organization.add_staff(StaffMember(id=_s("M1"), name="某", unit="T1"))

    def test_staff_update_is_version_checked(self, org: Store) -> None:
        with org.unit_of_work(HEAD_OFFICE) as uow:
            m1 = uow.organization.get_staff(_s("M1"))
        leave = LeavePeriod(datetime.date(2025, 7, 1), datetime.date(2025, 7, 5))
        with org.unit_of_work(HEAD_OFFICE) as uow:
            stored = uow.organization.update_staff(*m1.take_leave(leave, at=T0))
            uow.commit()
        assert stored.version == 2
        with org.unit_of_work(HEAD_OFFICE) as uow, pytest.raises(ConflictError):
            uow.organization.update_staff(*m1.move_to("T2", at=T0))
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.organization.get_staff(_s("M1")).leaves == (leave,)

    # -- assignments ---------------------------------------------------------------------

    def test_first_assignment_is_stored_audited_and_published(self, org: Store) -> None:
        (customer,) = self._customers(org, ("M1", "M2"))
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            got = uow.assignments.get(customer.id)
            assert (got.primary, got.secondary, got.version) == ("M1", "M2", 1)
            assert got.shares == {"M1": Decimal("70.00"), "M2": Decimal("30.00")}
            assert got.effective_from == T0
            entries = uow.audit.entries(entity_id=str(customer.id))
            messages = [
                m
                for m in uow.outbox.pending(limit=100)
                if m.aggregate_id == str(customer.id) and m.event_type == AssignmentChanged.__name__
            ]
        assert [e.action for e in entries] == ["customer.opened", "assignment.created"]
        assert entries[1].changes["managers"]["after"] == [
            ["M1", "primary", "70.00"],
            ["M2", "secondary", "30.00"],
        ]
        assert len(messages) == 1
        assert messages[0].payload["primary_after"] == "M1"

    def test_changes_keep_history_and_answer_as_of(self, org: Store) -> None:
        (customer,) = self._customers(org, ("M1", "M2"))
        with org.unit_of_work(HEAD_OFFICE) as uow:
            assign_managers(
                uow,
                customer.id,
                primary=_s("M3"),
                secondary=_s("M1"),
                reason="workload",
                at=T0 + 10 * DAY,
            )
            uow.commit()
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            history = assignment_history(uow, customer.id)
            assert [(r.version, r.primary, r.reason) for r in history] == [
                (1, "M1", "new_customer"),
                (2, "M3", "workload"),
            ]
            assert history[0].effective_to == T0 + 10 * DAY
            assert history[1].effective_to is None
            assert history[1].actor == "ho-admin"
            assert uow.assignments.as_of(customer.id, T0 - DAY) is None
            on_day_5 = uow.assignments.as_of(customer.id, T0 + 5 * DAY)
            assert on_day_5 is not None and on_day_5.primary == "M1"
            assert manager_on(uow, customer.id, datetime.date(2025, 6, 30)).primary == "M3"
            assert manager_on(uow, customer.id, datetime.date(2025, 6, 11)).primary == "M1"
            assert len(uow.audit.entries(entity_id=str(customer.id))) == 3

    def test_stale_assignment_write_raises_conflict(self, org: Store) -> None:
        (customer,) = self._customers(org, ("M1", None))
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            read = uow.assignments.get(customer.id)  # shown on a screen, say
        with org.unit_of_work(HEAD_OFFICE) as uow:  # meanwhile a colleague saves
            assign_managers(uow, customer.id, primary=_s("M2"), reason="workload", at=T0 + DAY)
            uow.commit()
        team = [AssignedManager(_s("M3"), ManagerRole.PRIMARY, Decimal(100))]
        changed, events = read.change(team, at=T0 + 2 * DAY, reason="other")
        with org.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(ConflictError):
                uow.assignments.update(changed, events)
            uow.commit()
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.assignments.get(customer.id).primary == "M2"
            assert len(uow.assignments.history(customer.id)) == 2

    def test_duplicate_first_assignment_is_refused(self, org: Store) -> None:
        (customer,) = self._customers(org, ("M1", None))
        with org.unit_of_work(HEAD_OFFICE) as uow:
            current = uow.assignments.get(customer.id)
            again, events = Assignment.first(
                customer.id, current.managers, at=T0, reason="new_customer"
            )
            with pytest.raises(DuplicateError):
                uow.assignments.add(again, events)

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"primary": "M1", "secondary": "M1"}, ValidationError),
            ({"primary": "M1", "shares": {"M1": Decimal(90)}}, ValidationError),
            (
                {
                    "primary": "M1",
                    "secondary": "M2",
                    "shares": {"M1": Decimal(110), "M2": Decimal(-10)},
                },
                ValidationError,
            ),
            ({"primary": "M1", "reason": "because"}, ValidationError),
            ({"primary": "nobody"}, NotFoundError),
            ({"primary": "M1", "at": pendulum.datetime(2099, 1, 1)}, ValidationError),
        ],
    )
    def test_bad_assignment_input_writes_nothing(
        self, org: Store, kwargs: dict[str, Any], error: type[Exception]
    ) -> None:
        customer = make_individual(50)
        with org.unit_of_work(HEAD_OFFICE) as uow:
            uow.customers.add(customer)
            uow.commit()
        arguments: dict[str, Any] = {"reason": "new_customer", "at": T0, **kwargs}
        with org.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(error):
                assign_managers(uow, customer.id, **arguments)
            uow.commit()
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.assignments.find(customer.id) is None
            assert uow.audit.entries(entity_id=str(customer.id))[-1].action == "customer.opened"

    def test_unknown_customer_and_backdated_change_are_refused(self, org: Store) -> None:
        (customer,) = self._customers(org, ("M1", None))
        with org.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(NotFoundError):
                assign_managers(
                    uow,
                    CustomerId(make_individual(99).id),
                    primary=_s("M1"),
                    reason="new_customer",
                    at=T0,
                )
            with pytest.raises(BusinessRuleViolation):
                assign_managers(uow, customer.id, primary=_s("M2"), reason="workload", at=T0 - DAY)

    def test_departed_manager_cannot_be_assigned(self, org: Store) -> None:
        with org.unit_of_work(HEAD_OFFICE) as uow:
            depart_staff(uow, _s("M5"), at=T0)
            uow.commit()
        customer = make_individual(60)
        with org.unit_of_work(HEAD_OFFICE) as uow:
            uow.customers.add(customer)
            with pytest.raises(BusinessRuleViolation):
                assign_managers(uow, customer.id, primary=_s("M5"), reason="new_customer", at=T0)

    def test_capacity_is_enforced_unless_overridden(self, org: Store) -> None:
        rules = ManagerRules(capacity=FixedCapacity(2))
        customers = self._customers(org, ("M1", None), ("M1", None))
        extra = make_individual(70)
        with org.unit_of_work(HEAD_OFFICE) as uow:
            uow.customers.add(extra)
            with pytest.raises(BusinessRuleViolation, match="capacity"):
                assign_managers(
                    uow, extra.id, primary=_s("M1"), reason="new_customer", at=T0, rules=rules
                )
            stored = assign_managers(
                uow,
                extra.id,
                primary=_s("M1"),
                reason="new_customer",
                at=T0,
                rules=rules,
                capacity_override="VIP asked for M1 by name",
            )
            uow.commit()
        assert stored.capacity_override == "VIP asked for M1 by name"
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.assignments.book_sizes([_s("M1"), _s("M2")]) == {"M1": 3, "M2": 0}
            assert assignment_history(uow, extra.id)[0].capacity_override is not None
            book = [a.customer_id for a in uow.assignments.book(_s("M1"))]
        assert sorted(book, key=str) == sorted([c.id for c in customers] + [extra.id], key=str)

    # -- leave cover and credit -------------------------------------------------------

    def test_secondary_acts_while_the_primary_is_on_leave(self, org: Store) -> None:
        (customer,) = self._customers(org, ("M1", "M2"))
        leave = LeavePeriod(datetime.date(2025, 6, 9), datetime.date(2025, 6, 13))
        with org.unit_of_work(HEAD_OFFICE) as uow:
            m1 = uow.organization.get_staff(_s("M1"))
            uow.organization.update_staff(*m1.take_leave(leave, at=T0))
            uow.commit()
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert acting_manager(uow, customer.id, datetime.date(2025, 6, 6)).staff_id == "M1"
            on_leave = acting_manager(uow, customer.id, datetime.date(2025, 6, 10))
            assert (on_leave.staff_id, on_leave.covering_for) == ("M2", "M1")

    def test_credit_splits_exactly_by_shares_at_the_date(self, org: Store) -> None:
        (customer,) = self._customers(org, ("M1", "M2"))
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            parts = split_credit(
                uow, customer.id, Money.of("1000.01", "CNY"), datetime.date(2025, 6, 3)
            )
        assert parts == {"M1": Money.of("700.01", "CNY"), "M2": Money.of("300.00", "CNY")}
        assert sum((p.amount for p in parts.values()), Decimal(0)) == Decimal("1000.01")

    # -- handover ---------------------------------------------------------------------

    def test_departure_is_refused_while_customers_depend_on_the_manager(self, org: Store) -> None:
        customers = self._customers(org, ("M1", None), ("M2", "M1"))
        with org.unit_of_work(HEAD_OFFICE) as uow, pytest.raises(BusinessRuleViolation) as refused:
            depart_staff(uow, _s("M1"), at=T0 + DAY)
        message = str(refused.value)
        assert "2 customers" in message
        assert all(str(c.id) in message for c in customers)

    def test_handover_promotes_secondaries_and_places_the_rest(self, org: Store) -> None:
        customers = self._customers(
            org, ("M1", "M2"), ("M1", None), ("M1", None), ("M3", "M1"), ("M4", None)
        )
        before_m3 = 1
        with org.unit_of_work(Actor("SV1")) as uow:  # the team supervisor hands over
            report = hand_over_book(uow, _s("M1"), at=T0 + DAY)
            uow.commit()
        assert report.secondary_promoted == 1
        assert report.reassigned == 2
        assert report.roles_closed == {"secondary": 1}
        assert report.customers == 4 and report.departed
        # M2 had 1 (promoted), M3 had 1: the two without a secondary go to the least loaded
        # in team T1 first (M2 then M3 tie-broken by id, then loads update).
        assert sum(report.successors.values()) == 2
        assert set(report.successors) <= {"M2", "M3"}
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            after = [uow.assignments.get(c.id) for c in customers]
            assert after[0].primary == "M2" and after[0].secondary is None
            assert after[0].shares == {"M2": Decimal("100.00")}
            assert {after[1].primary, after[2].primary} <= {"M2", "M3"}
            assert after[3].primary == "M3" and after[3].secondary is None
            assert after[4].primary == "M4" and after[4].version == 1
            assert not uow.organization.get_staff(_s("M1")).is_active
            assert all("M1" not in a.staff_ids for a in after)
            sizes = uow.assignments.book_sizes([_s("M2"), _s("M3")])
            assert sizes["M2"] + sizes["M3"] == 2 + 1 + before_m3

    def test_failed_handover_changes_nothing(self, org: Store) -> None:
        rules = ManagerRules(capacity=FixedCapacity(1))
        customers = self._customers(
            org,
            ("M1", "M2"),
            ("M1", None),
            ("M2", None),
            ("M3", None),
            ("M4", None),
            ("M5", None),
            ("M9", None),
        )
        ids = [c.id for c in customers]
        before = self._snapshot(org, ids)
        with org.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(BusinessRuleViolation) as refused:
                hand_over_book(uow, _s("M1"), at=T0 + DAY, rules=rules)
            uow.commit()  # committing after the failure must still write nothing
        assert str(customers[1].id) in str(refused.value)
        assert self._snapshot(org, ids) == before

    # -- rebalancing -------------------------------------------------------------------

    def test_bulk_reassignment_moves_customers_and_checks_capacity(self, org: Store) -> None:
        customers = self._customers(org, *[("M1", None)] * 4, ("M2", "M4"))
        moves = [Reassignment(c.id, _s("M4")) for c in customers[:4]]
        rules = ManagerRules(capacity=FixedCapacity(3))
        ids = [c.id for c in customers]
        before = self._snapshot(org, ids)
        with org.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(BusinessRuleViolation, match="capacity"):
                reassign_many(uow, iter(moves), reason="reorganisation", at=T0 + DAY, rules=rules)
            uow.commit()
        assert self._snapshot(org, ids) == before
        with org.unit_of_work(HEAD_OFFICE) as uow:
            report = reassign_many(
                uow, iter(moves[:3]), reason="reorganisation", at=T0 + DAY, rules=rules
            )
            again = reassign_many(
                uow, iter(moves[:1]), reason="reorganisation", at=T0 + DAY, rules=rules
            )
            uow.commit()
        assert (report.moved, report.unchanged, report.received) == (3, 0, {"M4": 3})
        assert (again.moved, again.unchanged) == (0, 1)
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert [uow.assignments.get(c.id).primary for c in customers[:4]] == [
                "M4",
                "M4",
                "M4",
                "M1",
            ]
            lines = {b.staff_id: b for b in book_report(uow, unit="BJ", rules=rules)}
        assert (lines["M4"].book_size, lines["M4"].spare) == (3, 0)
        assert (lines["M1"].book_size, lines["M2"].book_size) == (1, 1)

    def test_reason_report_counts_by_reason_branch_and_month(self, org: Store) -> None:
        customers = self._customers(org, ("M1", None), ("M4", None), ("M9", None))
        with org.unit_of_work(HEAD_OFFICE) as uow:
            reassign_many(
                uow,
                [Reassignment(customers[0].id, _s("M2"))],
                reason="customer_request",
                at=T0 + 30 * DAY,
            )
            uow.commit()
        with org.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            lines = reason_report(
                uow, since=datetime.date(2025, 6, 1), until=datetime.date(2025, 7, 31)
            )
        got = [(r.reason, r.unit, r.period, r.count) for r in lines]
        assert got == [
            ("customer_request", "BJ", "2025-07", 1),
            ("new_customer", "BJ", "2025-06", 2),
            ("new_customer", "SH", "2025-06", 1),
        ]

    # -- access scopes -------------------------------------------------------------------

    def test_scopes_filter_reads(self, org: Store) -> None:
        customers = self._customers(org, ("M1", None), ("M2", "M1"), ("M4", None), ("M9", None))
        expected = {
            "M1": {0, 1},
            "M2": {1},
            "M4": {2},
            "SV1": {0, 1},  # team T1
            "BH1": {0, 1, 2},  # branch BJ and below
            "stranger": set(),
        }
        for actor_id, visible in expected.items():
            with org.unit_of_work(Actor(actor_id), read_only=True) as uow:
                seen = {
                    i
                    for i, c in enumerate(customers)
                    if uow.customers.find_by_document(
                        IdDocumentType.RESIDENT_ID, c.identity_documents[0].number
                    )
                    is not None
                }
                assert seen == visible, actor_id
                assert uow.customers.count() == len(visible)
                assert {c.id for c in uow.customers.stream()} == {customers[i].id for i in visible}
                page_ids = {s.id for s in uow.customers.page(limit=50).items}
                assert page_ids == {customers[i].id for i in visible}
                for i, customer in enumerate(customers):
                    if i not in visible:
                        with pytest.raises(NotFoundError):
                            uow.customers.get(customer.id)
                        assert uow.assignments.find(customer.id) is None

    def test_writes_outside_the_scope_are_refused_and_write_nothing(self, org: Store) -> None:
        customers = self._customers(org, ("M1", None), ("M4", None))
        ids = [c.id for c in customers]
        before = self._snapshot(org, ids)
        with org.unit_of_work(Actor("M1")) as uow:
            with pytest.raises(PermissionDenied):
                uow.customers.update(*customers[1].revise(at=T0, occupation="教师"))
            with pytest.raises((PermissionDenied, NotFoundError)):
                assign_managers(
                    uow, customers[1].id, primary=_s("M1"), reason="workload", at=T0 + DAY
                )
            with pytest.raises(PermissionDenied):  # giving own customer to another team
                assign_managers(
                    uow, customers[0].id, primary=_s("M4"), reason="workload", at=T0 + DAY
                )
            uow.commit()
        with org.unit_of_work(Actor("SV1")) as uow:
            with pytest.raises(PermissionDenied):  # moving a customer into another branch
                assign_managers(
                    uow, customers[0].id, primary=_s("M9"), reason="workload", at=T0 + DAY
                )
            with pytest.raises((PermissionDenied, NotFoundError)):  # cannot even see it
                reassign_many(
                    uow, [Reassignment(customers[1].id, _s("M2"))], reason="workload", at=T0 + DAY
                )
            uow.commit()
        with org.unit_of_work(Actor("stranger")) as uow, pytest.raises(PermissionDenied):
            uow.customers.add(make_individual(77))
        assert self._snapshot(org, ids) == before

    def test_in_scope_manager_can_serve_their_customer(self, org: Store) -> None:
        (customer,) = self._customers(org, ("M1", None))
        with org.unit_of_work(Actor("M1")) as uow:
            current = uow.customers.get(customer.id)
            uow.customers.update(*current.revise(at=T0, occupation="教师"))
            assign_managers(
                uow,
                customer.id,
                primary=_s("M1"),
                secondary=_s("M2"),
                reason="workload",
                at=T0 + DAY,
            )
            uow.commit()
        with org.unit_of_work(Actor("M2"), read_only=True) as uow:
            assert uow.customers.get(customer.id).version == 2

    def test_pages_are_ordered_masked_and_resumable(self, org: Store) -> None:
        customers = self._customers(org, *[("M1", None)] * 7, ("M4", None))
        with org.unit_of_work(Actor("M1"), read_only=True) as uow:
            pages, cursor = [], None
            while True:
                page = uow.customers.page(
                    order=CustomerOrder.CUSTOMER_NUMBER, limit=3, cursor=cursor
                )
                pages.append(page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
            by_name = uow.customers.page(order=CustomerOrder.NAME, limit=50).items
            with pytest.raises(ValidationError):
                uow.customers.page(limit=0)
            with pytest.raises(ValidationError):
                uow.customers.page(cursor="not-a-cursor")
        assert [len(p) for p in pages] == [3, 3, 1]
        numbers = [s.customer_number for p in pages for s in p]
        assert numbers == sorted(c.customer_number for c in customers[:7])
        assert all(s.primary_manager == "M1" for p in pages for s in p)
        assert len(by_name) == 7  # ordered by the database's collation of names
        real_names = {c.display_name for c in customers}
        assert not any(s.name in real_names for s in by_name)  # masked
        with org.unit_of_work(
            Actor("cmp", roles={"compliance", "head_office"}), read_only=True
        ) as uow:
            unmasked = uow.customers.page(limit=50).items
        assert {s.name for s in unmasked} == real_names
