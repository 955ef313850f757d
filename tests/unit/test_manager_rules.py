"""Manager rules: capacity, credit split, reassignment reasons, successor pool and handover."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finance_crm.errors import ValidationError
from finance_crm.ids import CustomerId, OrgUnitCode, StaffId
from finance_crm.model.assignments import HUNDRED_PERCENT, AssignedManager, Assignment, ManagerRole
from finance_crm.model.organization import StaffMember, StaffRole
from finance_crm.rules.managers import (
    DEFAULT_REASONS,
    Candidate,
    FixedCapacity,
    LeastLoadedNearby,
    ManagerRules,
    ReassignmentReasons,
    RoleWeights,
    SuccessorPool,
)

R = ManagerRole
CID = CustomerId(uuid.UUID("00000000-0000-4000-8000-000000000001"))
CM = StaffRole.CUSTOMER_MANAGER


def member(code: str, *, capacity: int | None = None, roles: Any = None) -> StaffMember:
    return StaffMember(
        id=StaffId(code),
        name="王伟",
        unit=OrgUnitCode("BJ01"),
        roles=frozenset({CM}) if roles is None else roles,
        capacity=capacity,
    )


def cand(code: str, book: int, capacity: int = 10, roles: Any = None) -> Candidate:
    return Candidate(member(code, roles=roles), book, capacity)


LEAVER = member("L00")


# -- capacity ---------------------------------------------------------------------------


def test_fixed_capacity_defaults_to_300() -> None:
    assert FixedCapacity().customers == 300
    assert FixedCapacity().capacity_of(member("M1")) == 300


def test_fixed_capacity_can_be_set() -> None:
    assert FixedCapacity(120).capacity_of(member("M1")) == 120
    assert FixedCapacity(0).capacity_of(member("M1")) == 0


@pytest.mark.parametrize("override", [0, 50, 1000])
def test_staff_capacity_overrides_the_rule(override: int) -> None:
    assert FixedCapacity(120).capacity_of(member("M1", capacity=override)) == override


@pytest.mark.parametrize("customers", [-1, 300.0, True, "300", None])
def test_fixed_capacity_must_be_a_whole_number(customers: object) -> None:
    with pytest.raises(ValidationError) as exc:
        FixedCapacity(customers)  # type: ignore[arg-type]
    assert [p.path for p in exc.value.problems] == ["$.customers"]


# -- split ------------------------------------------------------------------------------


def test_default_split_is_70_30() -> None:
    assert RoleWeights().shares([R.PRIMARY, R.SECONDARY]) == (Decimal(70), Decimal(30))


def test_primary_alone_gets_100() -> None:
    [share] = RoleWeights().shares([R.PRIMARY])
    assert share == HUNDRED_PERCENT
    assert str(share) == "100.00"


def test_chief_and_team_get_nothing_by_default() -> None:
    shares = RoleWeights().shares([R.PRIMARY, R.SECONDARY, R.CHIEF, R.TEAM_MEMBER])
    assert [str(s) for s in shares] == ["70.00", "30.00", "0.00", "0.00"]


def test_chief_and_team_weights_share_the_credit() -> None:
    rule = RoleWeights(primary=50, secondary=20, chief=20, team_member=5)
    shares = rule.shares([R.PRIMARY, R.SECONDARY, R.CHIEF, R.TEAM_MEMBER, R.TEAM_MEMBER])
    assert shares == (Decimal(50), Decimal(20), Decimal(20), Decimal(5), Decimal(5))


def test_shares_follow_the_order_of_roles_given() -> None:
    shares = RoleWeights(team_member=10).shares([R.TEAM_MEMBER, R.SECONDARY, R.PRIMARY])
    assert [str(s) for s in shares] == ["9.09", "27.27", "63.64"]
    assert sum(shares) == HUNDRED_PERCENT


def test_equal_weights_round_by_largest_remainder_earlier_first() -> None:
    shares = RoleWeights(primary=1, secondary=1, chief=1).shares([R.PRIMARY, R.SECONDARY, R.CHIEF])
    assert [str(s) for s in shares] == ["33.34", "33.33", "33.33"]
    assert sum(shares) == Decimal("100.00")


def test_decimal_weights_are_accepted() -> None:
    rule = RoleWeights(primary=Decimal("2.5"), secondary=Decimal("0.5"))
    assert [str(s) for s in rule.shares([R.PRIMARY, R.SECONDARY])] == ["83.33", "16.67"]


def test_shares_make_a_valid_assignment() -> None:
    roles = [R.PRIMARY, R.SECONDARY, R.TEAM_MEMBER]
    shares = RoleWeights(primary=2, secondary=2, team_member=2).shares(roles)
    staff = [StaffId("M1"), StaffId("M2"), StaffId("M3")]
    assignment = Assignment(
        customer_id=CID,
        managers=[AssignedManager(*x) for x in zip(staff, roles, shares, strict=True)],
        effective_from=pendulum.datetime(2025, 3, 3, tz="UTC"),
        reason="new_customer",
    )
    assert assignment.shares == {
        "M1": Decimal("33.34"),
        "M2": Decimal("33.33"),
        "M3": Decimal("33.33"),
    }


@pytest.mark.parametrize("field", ["primary", "secondary", "chief", "team_member"])
@pytest.mark.parametrize("value", [1.0, 0.5, True, "70", Decimal("NaN"), Decimal("-Infinity")])
def test_weights_must_be_decimal_or_int(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        RoleWeights(**{field: value})
    assert [p.path for p in exc.value.problems] == ["$.weight"]


@pytest.mark.parametrize("field", ["primary", "secondary", "chief", "team_member"])
def test_weights_must_not_be_negative(field: str) -> None:
    with pytest.raises(ValidationError, match="a weight is 0 or more"):
        RoleWeights(**{field: -1})


def test_primary_weight_must_be_above_zero() -> None:
    with pytest.raises(ValidationError) as exc:
        RoleWeights(primary=0)
    assert str(exc.value) == "$.primary: the primary's weight must be above zero"


roles_after_primary = st.lists(st.sampled_from(list(ManagerRole)), max_size=12)
weights = st.integers(min_value=0, max_value=10**6)


@given(
    roles_after_primary,
    st.integers(min_value=1, max_value=10**6),
    weights,
    weights,
    weights,
)
def test_shares_always_sum_to_exactly_100_with_two_places(
    rest: list[ManagerRole], primary: int, secondary: int, chief: int, team: int
) -> None:
    roles = [R.PRIMARY, *rest]
    rule = RoleWeights(primary=primary, secondary=secondary, chief=chief, team_member=team)
    shares = rule.shares(roles)
    assert len(shares) == len(roles)
    assert sum(shares) == Decimal("100.00")
    assert all(s.as_tuple().exponent == -2 for s in shares)
    assert all(Decimal(0) <= s <= HUNDRED_PERCENT for s in shares)
    by_role = {R.PRIMARY: primary, R.SECONDARY: secondary, R.CHIEF: chief, R.TEAM_MEMBER: team}
    total = sum(by_role[r] for r in roles)
    for role, share in zip(roles, shares, strict=True):
        exact = Decimal(100) * by_role[role] / total
        assert abs(share - exact) < Decimal("0.01")
        if by_role[role] == 0:
            assert share == 0


# -- reassignment reasons ---------------------------------------------------------------


def test_default_reason_codes() -> None:
    reasons = ReassignmentReasons()
    assert set(reasons.codes) == {
        "new_customer",
        "staff_departure",
        "staff_transfer",
        "reorganisation",
        "workload",
        "customer_request",
        "service_quality",
        "tier_change",
        "other",
    }
    assert dict(reasons.codes) == dict(DEFAULT_REASONS)
    for code in DEFAULT_REASONS:
        assert reasons.check(code) == code


def test_default_reasons_are_a_copy() -> None:
    assert ReassignmentReasons().codes is not DEFAULT_REASONS


def test_custom_reasons_replace_the_defaults() -> None:
    reasons = ReassignmentReasons({"merger": "branch merger", "audit": "audit finding"})
    assert reasons.check("merger") == "merger"
    with pytest.raises(ValidationError) as exc:
        reasons.check("workload")
    assert str(exc.value) == (
        "$.reason: unknown reassignment reason; use one of: audit, merger "
        "(or configure ReassignmentReasons with your own list)"
    )


@pytest.mark.parametrize("code", ["holiday", "", "WORKLOAD", None, 5])
def test_unknown_reason_lists_the_known_codes(code: object) -> None:
    with pytest.raises(ValidationError) as exc:
        ReassignmentReasons().check(code)  # type: ignore[arg-type]
    assert [p.path for p in exc.value.problems] == ["$.reason"]
    assert ", ".join(sorted(DEFAULT_REASONS)) in str(exc.value)


def test_manager_rules_defaults() -> None:
    rules = ManagerRules()
    assert rules.capacity == FixedCapacity(300)
    assert rules.split == RoleWeights()
    assert rules.handover == LeastLoadedNearby()
    assert rules.reasons == ReassignmentReasons()


def test_frozen_rules_are_hashable() -> None:
    assert hash(ManagerRules()) == hash(ManagerRules())


# -- successor pool ---------------------------------------------------------------------


class Levels:
    """A level source that records how far it was pulled and fails beyond ``allowed``."""

    def __init__(self, levels: Sequence[Sequence[Candidate]], allowed: int) -> None:
        self.levels = levels
        self.allowed = allowed
        self.pulled = 0

    def __iter__(self) -> Iterator[Sequence[Candidate]]:
        for level in self.levels:
            if self.pulled >= self.allowed:
                raise AssertionError(f"level {self.pulled} was loaded but never needed")
            self.pulled += 1
            yield level


def test_pool_loads_no_level_until_asked() -> None:
    source = Levels([[cand("A", 0)]], allowed=0)
    SuccessorPool(source)
    assert source.pulled == 0


def test_pool_loads_only_the_levels_a_rule_needs() -> None:
    source = Levels([[cand("A", 1)], [cand("B", 0)], [cand("C", 0)]], allowed=1)
    chosen = LeastLoadedNearby().choose_successor(CID, LEAVER, SuccessorPool(source))
    assert chosen is not None and chosen.id == "A"
    assert source.pulled == 1


def test_pool_loads_the_next_level_when_the_nearest_has_nobody() -> None:
    full = cand("A", 10, capacity=10)
    source = Levels([[full], [cand("B", 5)], [cand("C", 0)]], allowed=2)
    chosen = LeastLoadedNearby().choose_successor(CID, LEAVER, SuccessorPool(source))
    assert chosen is not None and chosen.id == "B"
    assert source.pulled == 2


def test_pool_replays_loaded_levels_without_reloading() -> None:
    source = Levels([[cand("A", 0)], [cand("B", 0)]], allowed=2)
    pool = SuccessorPool(source)
    first = [[c.staff.id for c in level] for level in pool.levels()]
    second = [[c.staff.id for c in level] for level in pool.levels()]
    assert first == second == [["A"], ["B"]]
    assert source.pulled == 2


def test_pool_lists_each_candidate_once_at_its_nearest_level() -> None:
    source = [[cand("A", 0), cand("B", 0)], [cand("B", 0), cand("C", 0), cand("A", 0)], []]
    pool = SuccessorPool(source)
    assert [[c.staff.id for c in level] for level in pool.levels()] == [["A", "B"], ["C"], []]


def test_take_counts_one_more_customer_for_later_choices() -> None:
    pool = SuccessorPool([[cand("A", 3), cand("B", 4)]])
    rule = LeastLoadedNearby()
    picks = []
    for _ in range(4):
        chosen = rule.choose_successor(CID, LEAVER, pool)
        assert chosen is not None
        picks.append(chosen.id)
        pool.take(chosen.id)
    # A (3) -> A (4, tie with B goes to A) -> B (4 < 5) -> A (5, tie again)
    assert picks == ["A", "A", "B", "A"]
    [level] = list(pool.levels())
    assert [(c.staff.id, c.book_size) for c in level] == [("A", 6), ("B", 5)]


def test_take_updates_a_candidate_on_a_deeper_level() -> None:
    pool = SuccessorPool([[cand("A", 10, capacity=10)], [cand("B", 8, capacity=10)]])
    rule = LeastLoadedNearby()
    for _ in range(2):
        chosen = rule.choose_successor(CID, LEAVER, pool)
        assert chosen is not None and chosen.id == "B"
        pool.take(chosen.id)
    assert rule.choose_successor(CID, LEAVER, pool) is None


def test_pool_lists_a_candidate_once_even_within_a_level() -> None:
    pool = SuccessorPool([[cand("A", 0), cand("A", 0)]])
    [level] = list(pool.levels())
    assert [c.staff.id for c in level] == ["A"]


def test_candidate_spare() -> None:
    assert cand("A", 7, capacity=10).spare == 3
    assert cand("A", 12, capacity=10).spare == -2


# -- least loaded nearby ----------------------------------------------------------------


def choose(*levels: list[Candidate], leaver: StaffMember = LEAVER) -> str | None:
    chosen = LeastLoadedNearby().choose_successor(CID, leaver, SuccessorPool(levels))
    return None if chosen is None else chosen.id


def test_chooses_the_least_loaded() -> None:
    assert choose([cand("A", 5), cand("B", 2), cand("C", 4)]) == "B"


def test_prefers_the_nearest_level_over_a_lighter_load_further_away() -> None:
    assert choose([cand("A", 9)], [cand("B", 0)]) == "A"


def test_skips_managers_without_spare_capacity() -> None:
    assert choose([cand("A", 10, capacity=10), cand("B", 11, capacity=10), cand("C", 9)]) == "C"
    assert choose([cand("A", 0, capacity=0)], [cand("B", 50, capacity=60)]) == "B"


def test_skips_staff_who_are_not_customer_managers() -> None:
    head = cand("A", 0, roles=frozenset({StaffRole.BRANCH_HEAD}))
    chief = cand("B", 0, roles=frozenset({StaffRole.CHIEF_CUSTOMER_MANAGER}))
    both = cand("C", 5, roles=frozenset({StaffRole.SUPERVISOR, CM}))
    assert choose([head, chief, both]) == "C"


def test_skips_the_leaver() -> None:
    assert choose([cand("L00", 0), cand("B", 3)]) == "B"


def test_ties_go_to_the_lower_staff_id() -> None:
    assert choose([cand("M9", 2), cand("M10", 2), cand("M2", 2)]) == "M10"  # string order


def test_none_when_nobody_has_spare_capacity() -> None:
    assert choose([cand("A", 10, capacity=10)], [cand("L00", 0)], []) is None
    assert choose() is None
