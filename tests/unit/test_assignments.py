"""Assignments: shares, team invariants, changes, promotion, events and history records."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

import attrs
import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finance_crm.errors import BusinessRuleViolation, ValidationError
from finance_crm.ids import CustomerId, StaffId
from finance_crm.model.assignments import (
    HUNDRED_PERCENT,
    AssignedManager,
    Assignment,
    AssignmentChanged,
    AssignmentRecord,
    ManagerRole,
    with_shares,
)

R = ManagerRole
CID = CustomerId(uuid.UUID("00000000-0000-4000-8000-000000000001"))
AT = pendulum.datetime(2025, 3, 3, 1, 0, tz="UTC")
LATER = AT.add(days=10)
A, B, C, D, E = (StaffId(s) for s in ("A01", "B02", "C03", "D04", "E05"))


def m(staff: StaffId, role: ManagerRole, share: Decimal | int) -> AssignedManager:
    return AssignedManager(staff, role, share)


def make(*managers: AssignedManager, **overrides: Any) -> Assignment:
    fields: dict[str, Any] = {
        "customer_id": CID,
        "managers": managers,
        "effective_from": AT,
        "reason": "new_customer",
    }
    fields.update(overrides)
    return Assignment(**fields)


def dual() -> Assignment:
    return make(m(A, R.PRIMARY, 70), m(B, R.SECONDARY, 30))


def full_team() -> Assignment:
    return make(
        m(A, R.PRIMARY, 50),
        m(B, R.SECONDARY, 20),
        m(C, R.CHIEF, 10),
        m(D, R.TEAM_MEMBER, 10),
        m(E, R.TEAM_MEMBER, 10),
    )


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in exc.value.problems]


# -- shares -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (70, "70.00"),
        (0, "0.00"),
        (100, "100.00"),
        (Decimal("33.3"), "33.30"),
        (Decimal("33.33"), "33.33"),
        (Decimal("0.01"), "0.01"),
        (Decimal("1E+1"), "10.00"),
        (Decimal("12.500"), "12.50"),  # trailing zeros are not extra places
    ],
)
def test_share_is_quantized_to_hundredths(value: Decimal | int, expected: str) -> None:
    share = AssignedManager(A, R.PRIMARY, value).share
    assert isinstance(share, Decimal)
    assert str(share) == expected


@pytest.mark.parametrize("value", [70.0, 0.5, True, False, "70", None])
def test_share_must_be_decimal_or_int(value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        AssignedManager(A, R.PRIMARY, value)
    assert [p.path for p in exc.value.problems] == ["$.share"]
    assert "never a float" in str(exc.value)


@pytest.mark.parametrize(
    "value", [-1, Decimal("-0.01"), 101, Decimal("100.01"), Decimal("NaN"), Decimal("Infinity")]
)
def test_share_is_a_percentage_from_0_to_100(value: Decimal | int) -> None:
    with pytest.raises(ValidationError) as exc:
        AssignedManager(A, R.PRIMARY, value)
    assert str(exc.value) == "$.share: a share is a percentage from 0 to 100"


@pytest.mark.parametrize("value", [Decimal("33.333"), Decimal("0.001"), Decimal("99.999")])
def test_share_has_at_most_two_decimal_places(value: Decimal) -> None:
    with pytest.raises(ValidationError) as exc:
        AssignedManager(A, R.PRIMARY, value)
    assert str(exc.value) == "$.share: a share has at most two decimal places (0.01%)"


@given(st.integers(min_value=0, max_value=10_000))
def test_any_whole_number_of_basis_points_is_a_share(bp: int) -> None:
    share = AssignedManager(A, R.PRIMARY, Decimal(bp).scaleb(-2)).share
    assert share == Decimal(bp) / 100
    assert share.as_tuple().exponent == -2


def test_negative_zero_share_is_stored_as_zero() -> None:
    assert str(AssignedManager(A, R.PRIMARY, Decimal("-0")).share) == "0.00"


@pytest.mark.parametrize("staff", ["", None, 7])
def test_staff_id_must_be_a_code(staff: object) -> None:
    with pytest.raises(ValidationError) as exc:
        AssignedManager(staff, R.PRIMARY, 100)  # type: ignore[arg-type]
    assert [p.path for p in exc.value.problems] == ["$.staff_id"]


def test_role_must_be_a_manager_role() -> None:
    with pytest.raises(ValidationError) as exc:
        AssignedManager(A, "primary", 100)  # type: ignore[arg-type]
    assert [p.path for p in exc.value.problems] == ["$.role"]


# -- invariants -------------------------------------------------------------------------


def test_primary_alone_with_the_whole_credit() -> None:
    a = make(m(A, R.PRIMARY, 100))
    assert a.primary == A
    assert a.secondary is None
    assert a.chief is None
    assert a.team == ()
    assert a.staff_ids == frozenset({A})
    assert a.shares == {A: Decimal("100.00")}
    assert a.version == 0
    assert a.capacity_override is None


def test_full_team_properties() -> None:
    a = full_team()
    assert a.primary == A
    assert a.secondary == B
    assert a.chief == C
    assert a.team == (D, E)
    assert a.staff_ids == frozenset({A, B, C, D, E})
    assert a.shares == {A: 50, B: 20, C: 10, D: 10, E: 10}
    assert sum(a.shares.values()) == HUNDRED_PERCENT
    assert [a.role_of(s) for s in (A, B, C, D, E)] == [
        R.PRIMARY,
        R.SECONDARY,
        R.CHIEF,
        R.TEAM_MEMBER,
        R.TEAM_MEMBER,
    ]
    assert a.role_of(StaffId("Z99")) is None


def test_managers_are_sorted_by_role_then_staff_id() -> None:
    a = make(
        m(E, R.TEAM_MEMBER, 10),
        m(C, R.CHIEF, 10),
        m(D, R.TEAM_MEMBER, 10),
        m(B, R.SECONDARY, 20),
        m(A, R.PRIMARY, 50),
    )
    assert a.managers == full_team().managers
    assert [(x.staff_id, x.role) for x in a.managers] == [
        (A, R.PRIMARY),
        (B, R.SECONDARY),
        (C, R.CHIEF),
        (D, R.TEAM_MEMBER),
        (E, R.TEAM_MEMBER),
    ]
    assert isinstance(a.managers, tuple)


def test_role_order_wins_over_staff_id_order() -> None:
    a = make(m(StaffId("Z"), R.PRIMARY, 70), m(StaffId("A"), R.SECONDARY, 30))
    assert [x.staff_id for x in a.managers] == ["Z", "A"]


def test_managers_order_does_not_affect_equality() -> None:
    assert dual() == make(m(B, R.SECONDARY, 30), m(A, R.PRIMARY, 70))


PRIMARY_COUNT = (
    "a customer has exactly one primary manager, here {}; name one primary and make any "
    "other a secondary or team member"
)
ONE_PERSON = (
    "a staff member holds one role per customer: the primary and the secondary (or any two "
    "roles) must be different people"
)


@pytest.mark.parametrize(
    ("managers", "expected"),
    [
        ((), [PRIMARY_COUNT.format(0)]),
        ((m(A, R.SECONDARY, 100),), [PRIMARY_COUNT.format(0)]),
        ((m(A, R.PRIMARY, 50), m(B, R.PRIMARY, 50)), [PRIMARY_COUNT.format(2)]),
        (
            (m(A, R.PRIMARY, 50), m(B, R.SECONDARY, 25), m(C, R.SECONDARY, 25)),
            ["a customer has at most one secondary manager"],
        ),
        (
            (m(A, R.PRIMARY, 80), m(B, R.CHIEF, 10), m(C, R.CHIEF, 10)),
            ["a customer has at most one chief customer manager"],
        ),
        ((m(A, R.PRIMARY, 70), m(A, R.SECONDARY, 30)), [ONE_PERSON]),
        ((m(A, R.PRIMARY, 90), m(A, R.TEAM_MEMBER, 10)), [ONE_PERSON]),
        ((m(A, R.PRIMARY, 50), m(B, R.TEAM_MEMBER, 25), m(B, R.TEAM_MEMBER, 25)), [ONE_PERSON]),
        (
            (m(A, R.PRIMARY, 70), m(B, R.SECONDARY, 20)),
            [
                "shares must sum to exactly 100%, here 90.00%; give shares that sum to 100, or "
                "leave them out of assign_managers to have the split rule compute them"
            ],
        ),
        (
            (m(A, R.PRIMARY, 100), m(B, R.SECONDARY, Decimal("0.01"))),
            [
                "shares must sum to exactly 100%, here 100.01%; give shares that sum to 100, or "
                "leave them out of assign_managers to have the split rule compute them"
            ],
        ),
    ],
)
def test_team_invariants(managers: tuple[AssignedManager, ...], expected: list[str]) -> None:
    with pytest.raises(ValidationError) as exc:
        make(*managers)
    assert messages(exc) == [("$.managers", text) for text in expected]


def test_every_team_problem_is_listed_at_once() -> None:
    with pytest.raises(ValidationError) as exc:
        make(m(A, R.PRIMARY, 60), m(A, R.SECONDARY, 30), m(B, R.SECONDARY, 5))
    assert [p.path for p in exc.value.problems] == ["$.managers"] * 3
    text = str(exc.value)
    assert "at most one secondary" in text
    assert "one role per customer" in text
    assert "here 95.00%" in text
    assert text.count("$.managers: ") == 3


@pytest.mark.parametrize("bad", ["A01", b"A01", [("A01", "primary", 100)], 5])
def test_managers_field_must_be_a_sequence_of_assigned_managers(bad: object) -> None:
    with pytest.raises(ValidationError) as exc:
        Assignment(customer_id=CID, managers=bad, effective_from=AT, reason="x")  # type: ignore[arg-type]
    assert [p.path for p in exc.value.problems] == ["$.managers"]
    assert "sequence of AssignedManager" in str(exc.value)


@pytest.mark.parametrize("reason", ["", "   ", "x" * 41, None])
def test_reason_must_be_a_short_code(reason: object) -> None:
    with pytest.raises(ValidationError) as exc:
        make(m(A, R.PRIMARY, 100), reason=reason)
    assert [p.path for p in exc.value.problems] == ["$.reason"]


@pytest.mark.parametrize("note", ["", "  ", "x" * 501, 5])
def test_capacity_override_must_be_an_explanation(note: object) -> None:
    with pytest.raises(ValidationError) as exc:
        make(m(A, R.PRIMARY, 100), capacity_override=note)
    assert [p.path for p in exc.value.problems] == ["$.capacity_override"]


def test_effective_from_is_converted_to_utc_and_naive_is_refused() -> None:
    local = pendulum.datetime(2025, 3, 3, 9, 0, tz="Asia/Shanghai")
    a = make(m(A, R.PRIMARY, 100), effective_from=local)
    assert a.effective_from == local
    assert a.effective_from.utcoffset() == datetime.timedelta(0)
    with pytest.raises(ValidationError, match="naive"):
        make(m(A, R.PRIMARY, 100), effective_from=datetime.datetime(2025, 3, 3))


# -- first ------------------------------------------------------------------------------


def test_first_builds_the_assignment_and_its_event() -> None:
    a, events = Assignment.first(
        CID,
        [m(B, R.SECONDARY, 30), m(A, R.PRIMARY, 70)],
        at=AT,
        reason="new_customer",
        capacity_override="VIP asked for A01",
    )
    assert a == make(
        m(A, R.PRIMARY, 70), m(B, R.SECONDARY, 30), capacity_override="VIP asked for A01"
    )
    assert a.version == 0
    [event] = events
    assert isinstance(event, AssignmentChanged)
    assert event.customer_id == CID
    assert event.aggregate_id == str(CID)
    assert event.occurred_at == AT
    assert event.reason == "new_customer"
    assert event.primary_before is None
    assert event.primary_after == A
    assert event.secondary_before is None
    assert event.secondary_after == B
    assert event.joined == (A, B)
    assert event.left == ()


def test_first_accepts_a_generator_of_managers() -> None:
    a, _ = Assignment.first(CID, (x for x in [m(A, R.PRIMARY, 100)]), at=AT, reason="x")
    assert a.primary == A


def test_first_with_an_invalid_team_is_refused() -> None:
    with pytest.raises(ValidationError):
        Assignment.first(CID, [m(A, R.PRIMARY, 70)], at=AT, reason="new_customer")


# -- change -----------------------------------------------------------------------------


def test_change_replaces_the_team_from_the_given_instant() -> None:
    before = dual()
    after, events = before.change(
        [m(C, R.PRIMARY, 70), m(B, R.SECONDARY, 30)], at=LATER, reason="workload"
    )
    assert before == dual()  # unchanged
    assert after.primary == C
    assert after.secondary == B
    assert after.effective_from == LATER
    assert after.reason == "workload"
    assert after.customer_id == CID
    [event] = events
    assert isinstance(event, AssignmentChanged)
    assert event.occurred_at == LATER
    assert event.primary_before == A
    assert event.primary_after == C
    assert event.joined == (C,)
    assert event.left == (A,)


def test_change_does_not_bump_the_version() -> None:
    stored = attrs.evolve(dual(), version=4)
    after, _ = stored.change([m(A, R.PRIMARY, 100)], at=LATER, reason="workload")
    assert after.version == 4


def test_change_at_the_same_instant_is_allowed() -> None:
    after, _ = dual().change([m(A, R.PRIMARY, 100)], at=AT, reason="workload")
    assert after.effective_from == AT


def test_change_before_the_current_assignment_is_refused() -> None:
    with pytest.raises(BusinessRuleViolation) as exc:
        dual().change([m(A, R.PRIMARY, 100)], at=AT.subtract(microseconds=1), reason="workload")
    assert "effective dates may not go backwards" in str(exc.value)
    assert "2025-03-03T01:00:00+00:00" in str(exc.value)


def test_change_compares_instants_not_wall_times() -> None:
    # 08:59 in Shanghai is 00:59 UTC: before AT (01:00 UTC), though the wall time is later.
    with pytest.raises(BusinessRuleViolation):
        dual().change(
            [m(A, R.PRIMARY, 100)],
            at=pendulum.datetime(2025, 3, 3, 8, 59, tz="Asia/Shanghai"),
            reason="workload",
        )


def test_change_to_the_same_team_is_refused() -> None:
    with pytest.raises(BusinessRuleViolation, match="same as the current one"):
        dual().change([m(B, R.SECONDARY, 30), m(A, R.PRIMARY, 70)], at=LATER, reason="workload")


def test_change_of_shares_alone_is_a_change() -> None:
    after, events = dual().change(
        [m(A, R.PRIMARY, 60), m(B, R.SECONDARY, 40)], at=LATER, reason="workload"
    )
    assert after.shares == {A: 60, B: 40}
    [event] = events
    assert isinstance(event, AssignmentChanged)
    assert event.joined == ()
    assert event.left == ()


def test_change_to_an_invalid_team_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        dual().change([m(A, R.PRIMARY, 70), m(A, R.SECONDARY, 30)], at=LATER, reason="workload")
    assert [msg for _, msg in messages(exc)] == [ONE_PERSON]


def test_change_with_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValidationError, match="naive"):
        dual().change([m(A, R.PRIMARY, 100)], at=datetime.datetime(2025, 4, 1), reason="x")


def test_change_carries_the_capacity_override_given() -> None:
    after, _ = dual().change(
        [m(C, R.PRIMARY, 100)], at=LATER, reason="workload", capacity_override="C03 asked"
    )
    assert after.capacity_override == "C03 asked"
    again, _ = after.change([m(D, R.PRIMARY, 100)], at=LATER, reason="workload")
    assert again.capacity_override is None  # an override explains one version only


# -- promote_secondary ------------------------------------------------------------------


def test_promote_secondary_without_shares_gives_the_new_primary_everything() -> None:
    after, events = dual().promote_secondary(at=LATER, reason="staff_departure")
    assert after.managers == (m(B, R.PRIMARY, 100),)
    assert after.secondary is None
    assert after.effective_from == LATER
    assert after.reason == "staff_departure"
    [event] = events
    assert isinstance(event, AssignmentChanged)
    assert event.primary_before == A
    assert event.primary_after == B
    assert event.secondary_before == B
    assert event.secondary_after is None
    assert event.joined == ()
    assert event.left == (A,)


def test_promote_secondary_with_explicit_shares_keeps_chief_and_team() -> None:
    shares = {B: Decimal(60), C: Decimal(20), D: Decimal(10), E: Decimal(10)}
    after, _ = full_team().promote_secondary(shares, at=LATER, reason="staff_departure")
    assert after.primary == B
    assert after.secondary is None
    assert after.chief == C
    assert after.team == (D, E)
    assert after.shares == {B: 60, C: 20, D: 10, E: 10}
    assert A not in after.staff_ids


def test_promote_secondary_without_a_secondary_is_refused() -> None:
    with pytest.raises(BusinessRuleViolation, match="no secondary manager to promote"):
        make(m(A, R.PRIMARY, 100)).promote_secondary(at=LATER, reason="staff_departure")


def test_promote_secondary_cannot_go_back_in_time() -> None:
    with pytest.raises(BusinessRuleViolation, match="go backwards"):
        dual().promote_secondary(at=AT.subtract(days=1), reason="staff_departure")


def test_promote_secondary_without_shares_keeps_a_team_valid() -> None:
    after, _ = full_team().promote_secondary(at=LATER, reason="staff_departure")
    assert after.primary == B
    assert sum(after.shares.values()) == HUNDRED_PERCENT


def test_promote_secondary_with_incomplete_shares_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        full_team().promote_secondary({B: Decimal(100)}, at=LATER, reason="staff_departure")


# -- with_shares ------------------------------------------------------------------------


def test_with_shares_none_keeps_managers() -> None:
    managers = [m(A, R.PRIMARY, 70), m(B, R.SECONDARY, 30)]
    assert with_shares(managers, None) == tuple(managers)


def test_with_shares_replaces_every_share() -> None:
    managers = [m(A, R.PRIMARY, 70), m(B, R.SECONDARY, 30)]
    result = with_shares(managers, {A: Decimal("55.5"), B: Decimal("44.5")})
    assert result == (m(A, R.PRIMARY, Decimal("55.50")), m(B, R.SECONDARY, Decimal("44.50")))
    assert str(result[0].share) == "55.50"


def test_with_shares_checks_the_new_shares() -> None:
    with pytest.raises(ValidationError, match="never a float"):
        with_shares([m(A, R.PRIMARY, 100)], {A: 100.0})  # type: ignore[dict-item]


# -- AssignmentChanged.between ----------------------------------------------------------


def test_between_lists_joined_and_left_sorted() -> None:
    before = make(m(E, R.PRIMARY, 50), m(A, R.SECONDARY, 30), m(C, R.TEAM_MEMBER, 20))
    after = make(
        m(D, R.PRIMARY, 40),
        m(C, R.SECONDARY, 30),
        m(B, R.TEAM_MEMBER, 20),
        m(StaffId("A00"), R.TEAM_MEMBER, 10),
        effective_from=LATER,
        reason="reorganisation",
    )
    event = AssignmentChanged.between(before, after)
    assert event.joined == ("A00", B, D)
    assert event.left == (A, E)
    assert event.primary_before == E
    assert event.primary_after == D
    assert event.secondary_before == A
    assert event.secondary_after == C
    assert event.reason == "reorganisation"
    assert event.occurred_at == LATER
    assert event.event_type == "AssignmentChanged"


def test_between_a_role_swap_joins_and_leaves_nobody() -> None:
    swapped = make(m(B, R.PRIMARY, 70), m(A, R.SECONDARY, 30), effective_from=LATER)
    event = AssignmentChanged.between(dual(), swapped)
    assert (event.primary_before, event.primary_after) == (A, B)
    assert (event.secondary_before, event.secondary_after) == (B, A)
    assert event.joined == ()
    assert event.left == ()


def test_between_events_have_distinct_ids() -> None:
    assert (
        AssignmentChanged.between(None, dual()).event_id
        != AssignmentChanged.between(None, dual()).event_id
    )


# -- AssignmentRecord -------------------------------------------------------------------


def test_record_gives_back_its_assignment() -> None:
    record = AssignmentRecord(
        customer_id=CID,
        version=3,
        managers=(m(B, R.SECONDARY, 30), m(A, R.PRIMARY, 70)),
        effective_from=pendulum.datetime(2025, 3, 3, 9, 0, tz="Asia/Shanghai"),
        effective_to=LATER,
        reason="workload",
        actor="S900",
        capacity_override="approved by branch head",
    )
    assert record.managers == dual().managers
    assert record.primary == A
    assert record.secondary == B
    assert record.effective_from == AT
    assert record.effective_to == LATER
    assert record.assignment() == attrs.evolve(
        dual(), reason="workload", capacity_override="approved by branch head", version=3
    )


def test_open_record_has_no_end() -> None:
    record = AssignmentRecord(
        customer_id=CID,
        version=1,
        managers=(m(A, R.PRIMARY, 100),),
        effective_from=AT,
        reason="new_customer",
        actor="system:import",
    )
    assert record.effective_to is None
    assert record.secondary is None
    assert record.assignment().version == 1


def test_record_with_an_invalid_team_fails_when_turned_into_an_assignment() -> None:
    record = AssignmentRecord(
        customer_id=CID,
        version=1,
        managers=(m(A, R.PRIMARY, 70),),
        effective_from=AT,
        reason="new_customer",
        actor="S900",
    )
    with pytest.raises(ValidationError, match=r"here 70\.00%"):
        record.assignment()
