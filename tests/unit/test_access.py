"""Access scopes, unmasking roles, the end of a business day, and the organisation's audit form."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import attrs
import pendulum
import pytest

from finance_crm.access import AccessScope, OrgScopes, ScopeKind, UnmaskedRoles
from finance_crm.auditing import assignment_changes, staff_changes, staff_wire, unit_changes
from finance_crm.clock import end_of_business_day
from finance_crm.errors import ValidationError
from finance_crm.ids import CustomerId, OrgUnitCode, StaffId
from finance_crm.model.assignments import AssignedManager, Assignment, ManagerRole
from finance_crm.model.organization import (
    EmploymentStatus,
    LeaveKind,
    LeavePeriod,
    OrgUnit,
    OrgUnitKind,
    StaffMember,
    StaffRole,
)
from finance_crm.security import Actor, PersonalDataKind, StandardMasking, Unmasked

K = OrgUnitKind
HO = OrgUnit.head_office("HO", "总行")
BJ = HO.child("BJ", "北京分行", K.BRANCH)
BJ01 = BJ.child("BJ01", "朝阳支行", K.SUB_BRANCH)
BJ2 = HO.child("BJ2", "北京第二分行", K.BRANCH)
AT = pendulum.datetime(2025, 3, 3, 1, 0, tz="UTC")
NAME = "欧阳娜娜"
M1, M2, M3 = StaffId("M1"), StaffId("M2"), StaffId("M3")
CID = CustomerId(uuid.UUID("00000000-0000-4000-8000-000000000001"))


def staff(code: str = "M1", *, unit: OrgUnit = BJ01, roles: Any = None, **more: Any) -> StaffMember:
    return StaffMember(
        id=StaffId(code),
        name=NAME,
        unit=unit.code,
        roles=frozenset({StaffRole.CUSTOMER_MANAGER}) if roles is None else roles,
        **more,
    )


def actor(code: str = "M1", *roles: str) -> Actor:
    return Actor(id=code, roles=frozenset(roles))


# -- AccessScope ------------------------------------------------------------------------

SERVED_IN_BJ01 = [(M1, BJ01.path), (M2, BJ2.path)]


def test_everything_covers_any_customer_even_without_managers() -> None:
    scope = AccessScope.everything()
    assert scope.kind is ScopeKind.EVERYTHING
    assert scope.is_everything
    assert scope.covers_managers(SERVED_IN_BJ01)
    assert scope.covers_managers([])
    assert scope.describe() == "everything"


def test_nothing_covers_nobody() -> None:
    scope = AccessScope.nothing()
    assert scope.kind is ScopeKind.NOTHING
    assert not scope.is_everything
    assert not scope.covers_managers(SERVED_IN_BJ01)
    assert not scope.covers_managers([])
    assert scope.describe() == "nothing"


def test_own_covers_customers_the_staff_member_serves_in_any_role() -> None:
    scope = AccessScope.own(M2)
    assert scope == AccessScope(ScopeKind.OWN, staff_id=M2)
    assert scope.covers_managers(SERVED_IN_BJ01)
    assert not scope.covers_managers([(M1, BJ01.path), (M3, BJ01.path)])
    assert not scope.covers_managers([])
    assert scope.describe() == "their own customers"


def test_own_scope_ignores_units() -> None:
    # M3 is in the same unit as a manager of the customer, but does not serve it.
    assert not AccessScope.own(M3).covers_managers([(M1, BJ01.path)])


def test_unit_covers_customers_of_any_manager_in_the_subtree() -> None:
    scope = AccessScope.unit(BJ)
    assert scope == AccessScope(ScopeKind.UNIT, unit_path="/HO/BJ/")
    assert scope.covers_managers([(M1, BJ.path)])
    assert scope.covers_managers([(M1, BJ01.path)])
    assert scope.covers_managers([(M2, BJ2.path), (M1, BJ01.path)])
    assert not scope.covers_managers([(M2, BJ2.path)])  # /HO/BJ2/ is not under /HO/BJ/
    assert not scope.covers_managers([(M1, HO.path)])
    assert not scope.covers_managers([])
    assert scope.describe() == "customers of the managers under /HO/BJ/"


def test_covers_managers_accepts_a_generator() -> None:
    assert AccessScope.unit(BJ).covers_managers(p for p in [(M1, BJ01.path)])


# -- OrgScopes --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["system", "head_office", "auditor"])
def test_everything_roles_see_everything_without_a_staff_record(role: str) -> None:
    assert OrgScopes().scope_for(actor("X", role), None, None) == AccessScope.everything()


def test_system_actor_sees_everything() -> None:
    assert OrgScopes().scope_for(Actor.system("nightly"), None, None).is_everything


def test_everything_roles_can_be_configured() -> None:
    rules = OrgScopes(everything_roles=frozenset({"regulator"}))
    assert rules.scope_for(actor("X", "regulator"), None, None).is_everything
    assert rules.scope_for(actor("X", "system"), None, None) == AccessScope.nothing()


def test_unknown_staff_sees_nothing() -> None:
    assert OrgScopes().scope_for(actor("X", "teller"), None, None) == AccessScope.nothing()
    assert OrgScopes().scope_for(actor("M1"), staff(), None) == AccessScope.nothing()


@pytest.mark.parametrize(
    "roles", [{StaffRole.CUSTOMER_MANAGER}, {StaffRole.BRANCH_HEAD}, {StaffRole.SUPERVISOR}]
)
def test_departed_staff_sees_nothing(roles: set[StaffRole]) -> None:
    gone = staff(roles=roles, status=EmploymentStatus.DEPARTED, departed_at=AT)
    assert OrgScopes().scope_for(actor("M1"), gone, BJ01) == AccessScope.nothing()


@pytest.mark.parametrize("role", [StaffRole.BRANCH_HEAD, StaffRole.SUPERVISOR])
def test_branch_head_and_supervisor_see_their_unit(role: StaffRole) -> None:
    head = staff(unit=BJ, roles={role, StaffRole.CUSTOMER_MANAGER})
    assert OrgScopes().scope_for(actor("M1"), head, BJ) == AccessScope.unit(BJ)


@pytest.mark.parametrize("role", [StaffRole.BRANCH_HEAD, StaffRole.SUPERVISOR])
def test_branch_head_or_supervisor_at_head_office_sees_everything(role: StaffRole) -> None:
    head = staff(unit=HO, roles={role})
    assert OrgScopes().scope_for(actor("M1"), head, HO) == AccessScope.everything()


@pytest.mark.parametrize(
    "roles", [{StaffRole.CUSTOMER_MANAGER}, {StaffRole.CHIEF_CUSTOMER_MANAGER}, set()]
)
def test_other_staff_see_their_own_customers(roles: set[StaffRole]) -> None:
    assert OrgScopes().scope_for(actor("M1"), staff(roles=roles), BJ01) == AccessScope.own(M1)


def test_customer_manager_at_head_office_sees_only_their_own() -> None:
    scope = OrgScopes().scope_for(actor("M1"), staff(unit=HO), HO)
    assert scope == AccessScope.own(M1)


# -- UnmaskedRoles ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["compliance", "kyc_officer"])
def test_unmasked_roles_read_in_full(role: str) -> None:
    masking = UnmaskedRoles().masking_for(actor("C1", role, "teller"))
    assert isinstance(masking, Unmasked)
    assert masking.mask(PersonalDataKind.NAME, NAME) == NAME


def test_everyone_else_reads_masked() -> None:
    masking = UnmaskedRoles().masking_for(actor("M1", "teller", "head_office"))
    assert masking == StandardMasking()
    assert masking.mask(PersonalDataKind.NAME, NAME) == "欧阳**"


def test_unmasked_roles_and_masking_can_be_configured() -> None:
    custom = StandardMasking(mask_char="#")
    rules = UnmaskedRoles(roles=frozenset({"dpo"}), masking=custom)
    assert isinstance(rules.masking_for(actor("D1", "dpo")), Unmasked)
    assert rules.masking_for(actor("C1", "compliance")) is custom


# -- end_of_business_day ----------------------------------------------------------------


def test_end_of_business_day_in_shanghai() -> None:
    end = end_of_business_day(datetime.date(2025, 6, 30))
    assert end == pendulum.datetime(2025, 6, 30, 15, 59, 59, 999999, tz="UTC")
    assert end.isoformat() == "2025-06-30T15:59:59.999999+00:00"
    assert end.tzinfo is pendulum.UTC
    assert end.add(microseconds=1).in_timezone("Asia/Shanghai").to_date_string() == "2025-07-01"


def test_end_of_business_day_accepts_pendulum_dates_and_crosses_years() -> None:
    assert end_of_business_day(pendulum.date(2025, 12, 31)) == pendulum.datetime(
        2025, 12, 31, 15, 59, 59, 999999, tz="UTC"
    )


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        ("UTC", datetime.date(2025, 6, 30), "2025-06-30T23:59:59.999999+00:00"),
        ("America/New_York", datetime.date(2025, 1, 15), "2025-01-16T04:59:59.999999+00:00"),
        # London springs forward at 01:00 on 30 March: that day ends at BST midnight (UTC+1).
        ("Europe/London", datetime.date(2025, 3, 29), "2025-03-29T23:59:59.999999+00:00"),
        ("Europe/London", datetime.date(2025, 3, 30), "2025-03-30T22:59:59.999999+00:00"),
    ],
)
def test_end_of_business_day_in_other_zones(tz: str, day: datetime.date, expected: str) -> None:
    assert end_of_business_day(day, tz).isoformat() == expected


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2025, 6, 30, 12, tzinfo=datetime.UTC),
        pendulum.datetime(2025, 6, 30),
        "2025-06-30",
    ],
)
def test_end_of_business_day_refuses_instants_and_strings(value: object) -> None:
    with pytest.raises(ValidationError, match="not an instant"):
        end_of_business_day(value)  # type: ignore[arg-type]


def test_end_of_business_day_refuses_an_unknown_zone() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        end_of_business_day(datetime.date(2025, 6, 30), "Mars/Olympus")


# -- audit form ----------------------------------------------------------------------------


def team(*managers: tuple[StaffId, ManagerRole, int], **more: Any) -> Assignment:
    fields: dict[str, Any] = {"effective_from": AT, "reason": "new_customer"}
    fields.update(more)
    return Assignment(
        customer_id=CID,
        managers=[AssignedManager(s, r, share) for s, r, share in managers],
        **fields,
    )


P, S = ManagerRole.PRIMARY, ManagerRole.SECONDARY


def test_assignment_changes_for_a_first_assignment() -> None:
    first = team((M2, S, 30), (M1, P, 70))
    assert assignment_changes(None, first) == {
        "managers": {
            "before": None,
            "after": [["M1", "primary", "70.00"], ["M2", "secondary", "30.00"]],
        },
        "reason": {"before": None, "after": "new_customer"},
        "effective_from": {"before": None, "after": "2025-03-03T01:00:00Z"},
    }


def test_assignment_changes_between_versions_with_an_override() -> None:
    before = team((M1, P, 70), (M2, S, 30))
    after = team(
        (M3, P, 100),
        effective_from=pendulum.datetime(2025, 4, 1, 9, 30, tz="Asia/Shanghai"),
        reason="workload",
        capacity_override="approved by branch head",
    )
    changes = assignment_changes(before, after)
    assert changes == {
        "managers": {
            "before": [["M1", "primary", "70.00"], ["M2", "secondary", "30.00"]],
            "after": [["M3", "primary", "100.00"]],
        },
        "reason": {"before": "new_customer", "after": "workload"},
        "effective_from": {"before": "2025-03-03T01:00:00Z", "after": "2025-04-01T01:30:00Z"},
        "capacity_override": {"before": None, "after": "approved by branch head"},
    }
    assert json.loads(json.dumps(changes)) == changes  # plain JSON


def test_assignment_changes_records_the_previous_override() -> None:
    before = team((M1, P, 100), capacity_override="first exception")
    after = team((M2, P, 100), reason="workload", capacity_override="second exception")
    assert assignment_changes(before, after)["capacity_override"] == {
        "before": "first exception",
        "after": "second exception",
    }


def test_staff_changes_for_a_new_staff_member_mask_the_name() -> None:
    changes = staff_changes(None, staff(capacity=120))
    assert changes == {
        "name": {"before": None, "after": "欧阳**"},
        "unit": {"before": None, "after": "BJ01"},
        "roles": {"before": None, "after": ["customer_manager"]},
        "status": {"before": None, "after": "active"},
        "capacity": {"before": None, "after": 120},
    }
    assert NAME not in json.dumps(changes, ensure_ascii=False)


def test_staff_changes_list_only_what_changed() -> None:
    before = staff()
    moved, _ = before.move_to(OrgUnitCode("BJ2"), at=AT)
    on_leave, _ = moved.take_leave(
        LeavePeriod(datetime.date(2025, 3, 10), datetime.date(2025, 3, 12), LeaveKind.SICK), at=AT
    )
    assert staff_changes(before, on_leave) == {
        "unit": {"before": "BJ01", "after": "BJ2"},
        "leaves": {"before": [], "after": [["2025-03-10", "2025-03-12", "sick"]]},
    }
    assert staff_changes(before, before) == {}


def test_staff_changes_for_a_departure() -> None:
    before = staff(roles={StaffRole.CUSTOMER_MANAGER, StaffRole.SUPERVISOR})
    gone, _ = before.depart(
        at=pendulum.datetime(2025, 3, 31, 18, tz="Asia/Shanghai"), reason="staff_departure"
    )
    assert staff_changes(before, gone) == {
        "status": {"before": "active", "after": "departed"},
        "departed_at": {"before": None, "after": "2025-03-31T10:00:00Z"},
    }
    assert staff_wire(gone)["roles"] == ["customer_manager", "supervisor"]


def test_staff_changes_use_the_masking_given() -> None:
    changes = staff_changes(None, staff(), masking=Unmasked())
    assert changes["name"] == {"before": None, "after": NAME}


def test_staff_wire_carries_no_personal_data_but_the_masked_name() -> None:
    period = LeavePeriod(datetime.date(2025, 3, 1), datetime.date(2025, 3, 2))
    wire = staff_wire(staff(leaves=[period]))
    assert set(wire) == {"name", "unit", "roles", "status", "departed_at", "leaves", "capacity"}
    assert wire["name"] == "欧阳**"
    assert NAME not in json.dumps(wire, ensure_ascii=False)


def test_staff_changes_record_a_rename_that_masks_the_same() -> None:
    before = attrs.evolve(staff(), name="张三")
    after = attrs.evolve(before, name="张四")
    assert "name" in staff_changes(before, after)


def test_unit_changes_for_a_new_unit_and_a_rename() -> None:
    assert unit_changes(None, BJ01) == {
        "name": {"before": None, "after": "朝阳支行"},
        "kind": {"before": None, "after": "sub_branch"},
        "parent": {"before": None, "after": "BJ"},
        "path": {"before": None, "after": "/HO/BJ/BJ01/"},
    }
    assert unit_changes(None, HO) == {
        "name": {"before": None, "after": "总行"},
        "kind": {"before": None, "after": "head_office"},
        "path": {"before": None, "after": "/HO/"},
    }
    renamed = attrs.evolve(BJ01, name="朝阳第一支行")
    assert unit_changes(BJ01, renamed) == {"name": {"before": "朝阳支行", "after": "朝阳第一支行"}}
    assert unit_changes(BJ01, BJ01) == {}
