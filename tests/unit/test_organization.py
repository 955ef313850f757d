"""The organisation: units and their paths, leave periods, staff members and their events."""

from __future__ import annotations

import datetime
from typing import Any

import attrs
import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finance_crm.errors import BusinessRuleViolation, CrmError, ValidationError
from finance_crm.ids import OrgUnitCode, StaffId
from finance_crm.model.organization import (
    EmploymentStatus,
    LeaveKind,
    LeavePeriod,
    OrgUnit,
    OrgUnitKind,
    StaffDeparted,
    StaffMember,
    StaffRevised,
    StaffRole,
)

K = OrgUnitKind
AT = pendulum.datetime(2025, 3, 3, 1, 0, tz="UTC")
NAME = "欧阳娜娜"
HO = OrgUnit.head_office("HO", "总行")
BJ = HO.child("BJ", "北京分行", K.BRANCH)
BJ01 = BJ.child("BJ01", "朝阳支行", K.SUB_BRANCH)
TEAM = BJ01.child("BJ01-T1", "财富一组", K.TEAM)
BJ2 = HO.child("BJ2", "北京第二分行", K.BRANCH)

codes = st.from_regex(r"[A-Za-z0-9_.\-]{1,40}", fullmatch=True)


def paths(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [p.path for p in exc.value.problems]


def day(d: int, month: int = 3) -> datetime.date:
    return datetime.date(2025, month, d)


def leave(first: int, last: int, kind: LeaveKind = LeaveKind.ANNUAL) -> LeavePeriod:
    return LeavePeriod(day(first), day(last), kind)


def staff(**overrides: Any) -> StaffMember:
    fields: dict[str, Any] = {"id": StaffId("M001"), "name": NAME, "unit": OrgUnitCode("BJ01")}
    fields.update(overrides)
    return StaffMember(**fields)


# -- units ----------------------------------------------------------------------------


def test_head_office_is_the_root() -> None:
    assert HO.code == "HO"
    assert HO.name == "总行"
    assert HO.kind is K.HEAD_OFFICE
    assert HO.parent is None
    assert HO.path == "/HO/"
    assert HO.depth == 0
    assert HO.ancestors == ()
    assert HO.version == 0


def test_child_units_list_their_ancestors_in_the_path() -> None:
    assert BJ.parent == "HO"
    assert BJ.path == "/HO/BJ/"
    assert BJ01.parent == "BJ"
    assert BJ01.path == "/HO/BJ/BJ01/"
    assert TEAM.path == "/HO/BJ/BJ01/BJ01-T1/"
    assert TEAM.kind is K.TEAM
    assert (BJ.depth, BJ01.depth, TEAM.depth) == (1, 2, 3)
    assert BJ.ancestors == ("HO",)
    assert TEAM.ancestors == ("HO", "BJ", "BJ01")


def test_contains_is_self_or_below() -> None:
    assert HO.contains(HO)
    assert HO.contains(TEAM)
    assert BJ.contains(BJ01)
    assert BJ.contains(TEAM)
    assert not BJ01.contains(BJ)
    assert not TEAM.contains(BJ01)


def test_contains_does_not_match_a_sibling_whose_code_extends_this_one() -> None:
    # "/HO/BJ2/" starts with "/HO/BJ" but not with "/HO/BJ/".
    assert not BJ.contains(BJ2)
    assert not BJ2.contains(BJ01)
    assert HO.contains(BJ2)


@pytest.mark.parametrize("kind", [k for k in K if k is not K.HEAD_OFFICE])
def test_any_unit_but_a_team_can_have_children(kind: OrgUnitKind) -> None:
    child = BJ.child("X1", "单位", kind)
    assert child.kind is kind
    assert child.parent == "BJ"


@pytest.mark.parametrize("kind", [k for k in K if k is not K.HEAD_OFFICE])
def test_a_team_cannot_have_children(kind: OrgUnitKind) -> None:
    with pytest.raises(BusinessRuleViolation, match="a team is a leaf"):
        TEAM.child("T2", "小小组", kind)


@pytest.mark.parametrize("parent", [HO, BJ, BJ01])
def test_a_head_office_cannot_be_a_child(parent: OrgUnit) -> None:
    with pytest.raises(BusinessRuleViolation, match="a head office is the root"):
        parent.child("HO2", "总行二", K.HEAD_OFFICE)


@pytest.mark.parametrize("code", ["", "A B", "A/B", "北京", "X" * 41, "BJ\n", "a:b", "+1"])
def test_bad_unit_codes_are_refused(code: str) -> None:
    with pytest.raises(ValidationError) as exc:
        BJ.child(code, "单位", K.SUB_BRANCH)
    assert paths(exc)[0] == "$.code"
    assert "an institution code" in str(exc.value)


def test_a_non_string_code_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        OrgUnit(code=12, name="x", kind=K.BRANCH, parent="HO", path="/HO/12/")  # type: ignore[arg-type]
    assert paths(exc) == ["$.code"]


@given(codes)
def test_any_institution_code_makes_a_head_office_and_a_child(code: str) -> None:
    head = OrgUnit.head_office(code, "总行")
    assert head.path == f"/{code}/"
    child = head.child("C", "分行", K.BRANCH)
    assert child.ancestors == (code,)
    assert child.depth == 1
    assert head.contains(child)


@pytest.mark.parametrize("name", ["", "   ", "名" * 201, None])
def test_unit_name_must_be_non_empty_and_short(name: object) -> None:
    with pytest.raises(ValidationError) as exc:
        HO.child("BJ", name, K.BRANCH)  # type: ignore[arg-type]
    assert paths(exc) == ["$.name"]


def test_unit_kind_must_be_an_org_unit_kind() -> None:
    with pytest.raises(ValidationError) as exc:
        HO.child("BJ", "北京分行", "branch")  # type: ignore[arg-type]
    assert paths(exc) == ["$.kind"]
    assert "OrgUnitKind (HEAD_OFFICE, BRANCH, SUB_BRANCH, OUTLET, DEPARTMENT, TEAM)" in str(
        exc.value
    )


@pytest.mark.parametrize(
    ("parent", "path", "message"),
    [
        (None, "HO/", "must list the ancestors' codes and end with /CODE/"),
        (None, "/HO", "must list the ancestors' codes and end with /CODE/"),
        (None, "/OTHER/", "must list the ancestors' codes and end with /CODE/"),
        (None, "/X/HO/", "a unit without a parent has the path /CODE/"),
        ("BJ", "/HO/", "the path must end with the parent's code, then this code"),
        ("BJ", "/HO/SH/HO/", "the path must end with the parent's code, then this code"),
        (None, 42, "must list the ancestors' codes and end with /CODE/"),
    ],
)
def test_path_must_match_code_and_parent(parent: str | None, path: object, message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        OrgUnit(code="HO", name="x", kind=K.BRANCH, parent=parent, path=path)  # type: ignore[arg-type]
    assert paths(exc) == ["$.path"]
    assert message in str(exc.value)


def test_a_unit_can_be_rebuilt_from_its_stored_fields() -> None:
    again = OrgUnit(
        code=TEAM.code, name=TEAM.name, kind=TEAM.kind, parent=TEAM.parent, path=TEAM.path
    )
    assert again == TEAM


def test_a_path_with_an_empty_segment_is_refused() -> None:
    with pytest.raises(ValidationError):
        OrgUnit(code=OrgUnitCode("HO"), name="总行", kind=K.HEAD_OFFICE, path="//HO/")


# -- leave periods ---------------------------------------------------------------------


def test_leave_period_covers_both_ends() -> None:
    period = leave(3, 7, LeaveKind.SICK)
    assert period.kind is LeaveKind.SICK
    assert not period.covers(day(2))
    assert period.covers(day(3))
    assert period.covers(day(7))
    assert not period.covers(day(8))


def test_a_one_day_leave_is_allowed() -> None:
    assert leave(5, 5).covers(day(5))


def test_leave_defaults_to_annual() -> None:
    assert LeavePeriod(day(1), day(2)).kind is LeaveKind.ANNUAL


def test_reversed_leave_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        LeavePeriod(day(7), day(3))
    assert paths(exc) == ["$.last_day"]
    assert "swap first_day and last_day" in str(exc.value)


def test_pendulum_dates_are_stored_as_plain_dates() -> None:
    period = LeavePeriod(pendulum.date(2025, 3, 3), pendulum.date(2025, 3, 4))
    assert type(period.first_day) is datetime.date
    assert type(period.last_day) is datetime.date
    assert period == leave(3, 4)


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2025, 3, 3),
        pendulum.datetime(2025, 3, 3, tz="Asia/Shanghai"),
        "2025-03-03",
        None,
    ],
)
def test_an_instant_or_other_value_is_not_a_leave_date(value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        LeavePeriod(value, day(10))  # type: ignore[arg-type]
    assert paths(exc) == ["$.first_day"]
    assert "not an instant" in str(exc.value)
    with pytest.raises(ValidationError) as exc:
        LeavePeriod(day(1), value)  # type: ignore[arg-type]
    assert paths(exc) == ["$.last_day"]


def test_leave_kind_is_checked() -> None:
    with pytest.raises(ValidationError) as exc:
        LeavePeriod(day(1), day(2), "annual")  # type: ignore[arg-type]
    assert paths(exc) == ["$.kind"]


# -- staff members ---------------------------------------------------------------------


def test_staff_defaults() -> None:
    m = staff()
    assert m.roles == frozenset({StaffRole.CUSTOMER_MANAGER})
    assert m.status is EmploymentStatus.ACTIVE
    assert m.is_active
    assert m.departed_at is None
    assert m.leaves == ()
    assert m.capacity is None
    assert m.version == 0


def test_name_is_masked_in_repr() -> None:
    text = repr(staff())
    assert NAME not in text
    assert "name='欧阳**'" in text
    assert "M001" in text


def test_roles_are_converted_to_a_frozenset() -> None:
    m = staff(roles=[StaffRole.SUPERVISOR, StaffRole.CUSTOMER_MANAGER, StaffRole.SUPERVISOR])
    assert m.roles == frozenset({StaffRole.SUPERVISOR, StaffRole.CUSTOMER_MANAGER})
    assert type(m.roles) is frozenset


@pytest.mark.parametrize(
    "roles",
    ["customer_manager", b"x", StaffRole.SUPERVISOR, ["supervisor"], [StaffRole.SUPERVISOR, 1]],
)
def test_roles_must_be_staff_roles(roles: object) -> None:
    with pytest.raises(ValidationError) as exc:
        staff(roles=roles)
    assert paths(exc) == ["$.roles"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", ""), ("id", "M 1"), ("unit", "BJ/01"), ("name", " "), ("status", "active")],
)
def test_staff_single_fields_are_checked(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        staff(**{field: value})
    assert paths(exc) == [f"$.{field}"]


@pytest.mark.parametrize("capacity", [0, 1, 250])
def test_capacity_override_accepts_whole_numbers(capacity: int) -> None:
    assert staff(capacity=capacity).capacity == capacity


@pytest.mark.parametrize("capacity", [-1, 1.0, True, "10", 1.5])
def test_capacity_override_must_be_a_whole_number(capacity: object) -> None:
    with pytest.raises(ValidationError) as exc:
        staff(capacity=capacity)
    assert paths(exc) == ["$.capacity"]


def test_leaves_are_kept_in_date_order() -> None:
    m = staff(leaves=[leave(20, 21), leave(1, 2), leave(10, 12)])
    assert m.leaves == (leave(1, 2), leave(10, 12), leave(20, 21))


@pytest.mark.parametrize(
    "leaves",
    [
        [leave(1, 5), leave(5, 6)],
        [leave(1, 10), leave(3, 4)],
        [leave(3, 4), leave(3, 4)],
        [leave(20, 25), leave(1, 2), leave(24, 28)],
    ],
)
def test_overlapping_leaves_are_refused(leaves: list[LeavePeriod]) -> None:
    with pytest.raises(ValidationError) as exc:
        staff(leaves=leaves)
    assert paths(exc) == ["$.leaves"]
    assert "overlap" in str(exc.value)


def test_adjacent_leaves_are_allowed() -> None:
    assert len(staff(leaves=[leave(1, 4), leave(5, 6)]).leaves) == 2


@pytest.mark.parametrize("leaves", [leave(1, 2), [(day(1), day(2))]])
def test_leaves_must_be_leave_periods(leaves: object) -> None:
    with pytest.raises(ValidationError) as exc:
        staff(leaves=leaves)
    assert paths(exc) == ["$.leaves"]


def test_departed_staff_has_a_departure_instant_in_utc() -> None:
    local = pendulum.datetime(2025, 3, 3, 18, 0, tz="Asia/Shanghai")
    m = staff(status=EmploymentStatus.DEPARTED, departed_at=local)
    assert not m.is_active
    assert m.departed_at == local
    assert m.departed_at is not None and m.departed_at.utcoffset() == datetime.timedelta(0)


@pytest.mark.parametrize(
    ("status", "departed_at"),
    [(EmploymentStatus.DEPARTED, None), (EmploymentStatus.ACTIVE, AT)],
)
def test_departed_at_is_set_exactly_when_departed(
    status: EmploymentStatus, departed_at: datetime.datetime | None
) -> None:
    with pytest.raises(ValidationError) as exc:
        staff(status=status, departed_at=departed_at)
    assert paths(exc) == ["$.departed_at"]


def test_naive_departure_instant_is_refused() -> None:
    with pytest.raises(ValidationError, match="naive"):
        staff(status=EmploymentStatus.DEPARTED, departed_at=datetime.datetime(2025, 3, 3))


def test_on_leave_and_can_serve_on() -> None:
    m = staff(leaves=[leave(3, 5)])
    assert not m.on_leave(day(2))
    assert m.on_leave(day(3))
    assert m.on_leave(day(5))
    assert m.can_serve_on(day(2))
    assert not m.can_serve_on(day(4))
    assert m.can_serve_on(day(6))


def test_departed_staff_cannot_serve_even_off_leave() -> None:
    m = staff(status=EmploymentStatus.DEPARTED, departed_at=AT)
    assert not m.on_leave(day(10))
    assert not m.can_serve_on(day(10))


def test_take_leave_returns_a_new_record_and_a_revision_event() -> None:
    m = staff(leaves=[leave(1, 2)])
    new, events = m.take_leave(leave(10, 12), at=AT)
    assert m.leaves == (leave(1, 2),)  # unchanged
    assert new.leaves == (leave(1, 2), leave(10, 12))
    assert new.version == m.version
    [event] = events
    assert isinstance(event, StaffRevised)
    assert event.staff_id == "M001"
    assert event.aggregate_id == "M001"
    assert event.fields == ("leaves",)
    assert event.occurred_at == AT
    assert event.event_type == "StaffRevised"


def test_take_leave_keeps_leaves_sorted() -> None:
    new, _ = staff(leaves=[leave(10, 12)]).take_leave(leave(1, 2), at=AT)
    assert new.leaves == (leave(1, 2), leave(10, 12))


def test_take_leave_overlapping_a_booked_one_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        staff(leaves=[leave(10, 12)]).take_leave(leave(12, 14), at=AT)
    assert paths(exc) == ["$.leaves"]


def test_departed_staff_cannot_take_leave() -> None:
    m = staff(status=EmploymentStatus.DEPARTED, departed_at=AT)
    with pytest.raises(BusinessRuleViolation, match="departed staff member cannot take leave"):
        m.take_leave(leave(1, 2), at=AT)


def test_take_leave_with_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValidationError, match="naive"):
        staff().take_leave(leave(1, 2), at=datetime.datetime(2025, 3, 3))


def test_cancel_leave_removes_exactly_that_period() -> None:
    m = staff(leaves=[leave(1, 2), leave(10, 12, LeaveKind.TRAINING)])
    new, events = m.cancel_leave(leave(10, 12, LeaveKind.TRAINING), at=AT)
    assert new.leaves == (leave(1, 2),)
    [event] = events
    assert isinstance(event, StaffRevised)
    assert event.fields == ("leaves",)


def test_cancel_leave_that_is_not_booked_is_refused() -> None:
    m = staff(leaves=[leave(10, 12, LeaveKind.TRAINING)])
    with pytest.raises(BusinessRuleViolation, match="no such leave period"):
        m.cancel_leave(leave(10, 12, LeaveKind.ANNUAL), at=AT)  # same days, other kind
    with pytest.raises(BusinessRuleViolation, match="no such leave period"):
        m.cancel_leave(leave(10, 11, LeaveKind.TRAINING), at=AT)


def test_move_to_changes_the_unit() -> None:
    new, events = staff().move_to(OrgUnitCode("SH01"), at=AT)
    assert new.unit == "SH01"
    [event] = events
    assert isinstance(event, StaffRevised)
    assert event.fields == ("unit",)
    assert event.staff_id == "M001"


def test_move_to_a_bad_code_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        staff().move_to(OrgUnitCode("SH 01"), at=AT)
    assert paths(exc) == ["$.unit"]


def test_departed_staff_cannot_move() -> None:
    m = staff(status=EmploymentStatus.DEPARTED, departed_at=AT)
    with pytest.raises(BusinessRuleViolation, match="cannot move unit"):
        m.move_to(OrgUnitCode("SH01"), at=AT)


def test_depart_sets_status_and_utc_instant_and_raises_staff_departed() -> None:
    local = pendulum.datetime(2025, 3, 3, 17, 30, tz="Asia/Shanghai")
    new, events = staff(leaves=[leave(1, 2)]).depart(at=local, reason="staff_departure")
    assert new.status is EmploymentStatus.DEPARTED
    assert not new.is_active
    assert new.departed_at == local
    assert new.departed_at is not None and new.departed_at.hour == 9  # UTC
    assert new.leaves == (leave(1, 2),)
    [event] = events
    assert isinstance(event, StaffDeparted)
    assert event.staff_id == "M001"
    assert event.reason == "staff_departure"
    assert event.occurred_at == local


def test_depart_twice_is_refused() -> None:
    gone, _ = staff().depart(at=AT, reason="staff_departure")
    with pytest.raises(BusinessRuleViolation, match="already departed"):
        gone.depart(at=AT, reason="staff_departure")


def test_depart_with_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValidationError, match="naive"):
        staff().depart(at=datetime.datetime(2025, 3, 3), reason="x")


def test_departed_staff_may_still_cancel_a_booked_leave() -> None:
    gone, _ = staff(leaves=[leave(20, 21)]).depart(at=AT, reason="staff_departure")
    new, _ = gone.cancel_leave(leave(20, 21), at=AT)
    assert new.leaves == ()


def test_staff_events_carry_no_personal_data() -> None:
    m = staff()
    _, e1 = m.take_leave(leave(1, 2), at=AT)
    _, e2 = m.move_to(OrgUnitCode("SH01"), at=AT)
    _, e3 = m.depart(at=AT, reason="staff_departure")
    for event in (*e1, *e2, *e3):
        assert NAME not in repr(event)
        assert NAME not in str(attrs.asdict(event))


def test_staff_errors_are_crm_errors() -> None:
    with pytest.raises(CrmError):
        staff(capacity=-1)
    with pytest.raises(CrmError):
        staff(status=EmploymentStatus.DEPARTED, departed_at=AT).depart(at=AT, reason="x")
