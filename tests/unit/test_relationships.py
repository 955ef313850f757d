"""The relationship graph's own model: parties, types, relationships and their checks."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

import attrs
import pendulum
import pytest

from finance_crm.errors import BusinessRuleViolation, CrmError, ValidationError
from finance_crm.ids import CustomerId, PartyId, new_party_id
from finance_crm.model.documents import make_lei
from finance_crm.model.relationships import (
    STANDARD_RELATIONSHIP_TYPES,
    Party,
    PartyKind,
    PartyRegistered,
    PartyRevised,
    Relationship,
    RelationshipCategory,
    RelationshipEnded,
    RelationshipRecorded,
    RelationshipType,
    RelationshipTypes,
    recorded,
)
from finance_crm.money import Money

TYPES = STANDARD_RELATIONSHIP_TYPES
AT = pendulum.datetime(2025, 6, 2, 9, tz="Asia/Shanghai")
D = datetime.date
A, B = new_party_id(), new_party_id()


def refused(error: type[CrmError], path: str | None, call: Any, *args: Any, **kw: Any) -> CrmError:
    """``call(*args, **kw)`` raises exactly ``error`` (not a subclass) at ``path``."""
    with pytest.raises(CrmError) as caught:
        call(*args, **kw)
    assert type(caught.value) is error
    if path is not None:
        assert isinstance(caught.value, ValidationError)
        assert [p.path for p in caught.value.problems] == [path]
    return caught.value


def holding(share: Any, **kw: Any) -> Relationship:
    return Relationship.record(
        TYPES.get("shareholding"), A, B, valid_from=D(2020, 1, 1), share=share, **kw
    )


def pledge_type(code: str = "pledgor", **kw: Any) -> RelationshipType:
    fields: dict[str, Any] = {
        "code": code,
        "name": "Share pledge",
        "local_name": "股权质押",
        "source_role": "pledgor",
        "target_role": "pledgee",
        "category": RelationshipCategory.OTHER,
    }
    return RelationshipType(**{**fields, **kw})


# -- shares --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "share",
    [
        pytest.param(30.5, id="float"),
        pytest.param(Decimal("-1"), id="negative"),
        pytest.param(0, id="zero-int"),
        pytest.param(Decimal("0"), id="zero"),
        pytest.param(Decimal("100.0001"), id="above-100"),
        pytest.param("101", id="above-100-str"),
        pytest.param(Decimal("10.00001"), id="5-decimal-places"),
        pytest.param("0.00001", id="5-decimal-places-str"),
        pytest.param("thirty", id="not-a-number"),
        pytest.param(True, id="bool"),
        pytest.param(Decimal("NaN"), id="nan"),
        pytest.param(Decimal("Infinity"), id="infinity"),
    ],
)
def test_bad_shares_are_refused_at_the_share(share: Any) -> None:
    error = refused(ValidationError, "$.share", holding, share)
    assert "thirty" not in str(error)


@pytest.mark.parametrize(
    ("share", "stored"),
    [
        (Decimal("51.5"), Decimal("51.5")),
        ("0.0001", Decimal("0.0001")),
        (100, Decimal(100)),
        ("100.0000", Decimal(100)),
        (Decimal("1E+1"), Decimal(10)),
    ],
)
def test_good_shares_are_decimals(share: Any, stored: Decimal) -> None:
    got = holding(share).share
    assert isinstance(got, Decimal) and got == stored


def test_a_share_belongs_to_ownership_types_only() -> None:
    refused(ValidationError, "$.share", holding, None)
    refused(
        ValidationError,
        "$.share",
        Relationship.record,
        TYPES.get("supplier"),
        A,
        B,
        valid_from=D(2020, 1, 1),
        share="10",
    )


# -- amounts -------------------------------------------------------------------------


def test_a_guarantee_needs_a_positive_money_amount() -> None:
    guarantee = TYPES.get("guarantee")

    def record(**kw: Any) -> Relationship:
        return Relationship.record(guarantee, A, B, valid_from=D(2020, 1, 1), **kw)

    assert record(amount=Money(Decimal("5000000.00"), "CNY")).amount == Money(
        Decimal("5000000.00"), "CNY"
    )
    refused(ValidationError, "$.amount", record)
    refused(ValidationError, "$.amount", record, amount=Money(Decimal(0), "CNY"))
    refused(ValidationError, "$.amount", record, amount=Money(Decimal(-5), "CNY"))
    refused(ValidationError, "$.amount", record, amount=Decimal("5000000.00"))


def test_other_types_take_no_amount() -> None:
    refused(
        ValidationError,
        "$.amount",
        Relationship.record,
        TYPES.get("director"),
        A,
        B,
        valid_from=D(2020, 1, 1),
        amount=Money(Decimal(1), "CNY"),
    )


# -- ends and dates ------------------------------------------------------------------


def test_a_party_cannot_relate_to_itself() -> None:
    refused(
        ValidationError,
        "$.target",
        Relationship.record,
        TYPES.get("guarantee"),
        A,
        A,
        valid_from=D(2020, 1, 1),
        amount=Money(Decimal(1), "CNY"),
    )


@pytest.mark.parametrize("valid_to", [D(2019, 12, 31), D(2020, 1, 1)], ids=["reversed", "equal"])
def test_valid_to_must_follow_valid_from(valid_to: datetime.date) -> None:
    refused(ValidationError, "$.valid_to", holding, "10", valid_to=valid_to)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("valid_from", datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)),
        ("valid_from", pendulum.datetime(2020, 1, 1)),
        ("valid_from", "2020-01-01"),
        ("valid_from", None),
        ("valid_to", datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC)),
        ("valid_to", "2021-01-01"),
    ],
)
def test_dates_must_be_business_dates(field: str, value: Any) -> None:
    kw: dict[str, Any] = {"valid_from": D(2020, 1, 1), field: value}
    refused(
        ValidationError,
        f"$.{field}",
        Relationship.record,
        TYPES.get("director"),
        A,
        B,
        **kw,
    )


def test_pendulum_dates_become_plain_dates() -> None:
    r = Relationship.record(
        TYPES.get("director"),
        A,
        B,
        valid_from=pendulum.date(2020, 1, 1),
        valid_to=pendulum.date(2021, 1, 1),
    )
    assert type(r.valid_from) is datetime.date and type(r.valid_to) is datetime.date
    assert (r.valid_from, r.valid_to) == (D(2020, 1, 1), D(2021, 1, 1))


@pytest.mark.parametrize("end", ["source", "target"])
def test_ends_must_be_party_ids(end: str) -> None:
    kw: dict[str, Any] = {"source": A, "target": B, end: str(A)}
    refused(
        ValidationError,
        f"$.{end}",
        Relationship.record,
        TYPES.get("director"),
        valid_from=D(2020, 1, 1),
        **kw,
    )


def test_a_relationship_needs_a_relationship_type() -> None:
    with pytest.raises(TypeError):
        Relationship.record("shareholding", A, B, valid_from=D(2020, 1, 1), share="1")  # type: ignore[arg-type]


def test_active_on_and_overlaps_treat_valid_to_as_exclusive() -> None:
    r = holding("10", valid_to=D(2021, 1, 1))
    assert [
        r.active_on(d) for d in (D(2019, 12, 31), D(2020, 1, 1), D(2020, 12, 31), D(2021, 1, 1))
    ] == [
        False,
        True,
        True,
        False,
    ]
    assert r.overlaps(D(2020, 12, 31), None)
    assert not r.overlaps(D(2021, 1, 1), None)
    assert not r.overlaps(D(2019, 1, 1), D(2020, 1, 1))
    assert r.overlaps(D(2019, 1, 1), D(2020, 1, 2))
    assert holding("10").overlaps(D(2090, 1, 1), D(2091, 1, 1))


# -- ending --------------------------------------------------------------------------


def test_ended_sets_the_end_and_raises_the_event() -> None:
    r = holding("10")
    new, events = r.ended(D(2023, 1, 1), AT)
    assert new == attrs.evolve(r, valid_to=D(2023, 1, 1))
    assert new.version == r.version  # the store moves the version on
    (event,) = events
    assert isinstance(event, RelationshipEnded)
    assert (event.relationship_id, event.type, event.source, event.target, event.valid_to) == (
        r.id,
        "shareholding",
        A,
        B,
        D(2023, 1, 1),
    )
    assert event.aggregate_id == str(r.id) and event.event_type == "RelationshipEnded"
    earlier, _ = new.ended(D(2022, 1, 1), AT)  # an end may move earlier
    assert earlier.valid_to == D(2022, 1, 1)


@pytest.mark.parametrize(
    ("valid_to", "on"),
    [
        (None, D(2020, 1, 1)),  # the day it began
        (None, D(2019, 6, 1)),  # before it began
        (D(2023, 1, 1), D(2023, 1, 1)),  # the day it already ended
        (D(2023, 1, 1), D(2024, 1, 1)),  # later than it ended
    ],
)
def test_ended_refuses_days_that_do_not_shorten_it(
    valid_to: datetime.date | None, on: datetime.date
) -> None:
    refused(BusinessRuleViolation, None, holding("10", valid_to=valid_to).ended, on, AT)


def test_ended_takes_a_business_date() -> None:
    r = holding("10")
    refused(
        ValidationError, "$.on", r.ended, datetime.datetime(2023, 1, 1, tzinfo=datetime.UTC), AT
    )
    refused(ValidationError, "$.on", r.ended, "2023-01-01", AT)


# -- events --------------------------------------------------------------------------


def test_events_name_their_aggregates() -> None:
    party = Party.organization("华东控股集团有限公司", customer_id=CustomerId(uuid.uuid4()))
    registered = PartyRegistered(
        occurred_at=AT, party_id=party.id, kind="organization", customer_id=party.customer_id
    )
    r = holding("10")
    record = recorded(r, AT)
    assert isinstance(record, RelationshipRecorded)
    assert (record.relationship_id, record.type, record.source, record.target) == (
        r.id,
        "shareholding",
        A,
        B,
    )
    assert (record.valid_from, record.valid_to) == (D(2020, 1, 1), None)
    _, (revised,) = party.revised(AT, country="CN")
    assert [e.aggregate_id for e in (registered, revised, record)] == [
        str(party.id),
        str(party.id),
        str(r.id),
    ]
    assert [e.event_type for e in (registered, revised, record)] == [
        "PartyRegistered",
        "PartyRevised",
        "RelationshipRecorded",
    ]
    assert record.occurred_at.tzinfo is not None and record.occurred_at == AT


# -- types and the registry ----------------------------------------------------------


def test_the_standard_registry() -> None:
    assert len(list(TYPES)) == 15
    assert TYPES.group_links == {"actual_control", "direct_parent", "ultimate_parent"}
    assert TYPES.acyclic == TYPES.group_links
    assert TYPES.tree_links == {"actual_control", "direct_parent"}
    assert TYPES.codes(RelationshipCategory.FAMILY) == {"spouse", "family_member"}
    assert TYPES.codes(RelationshipCategory.OWNERSHIP) == {"shareholding"}
    assert TYPES.get("spouse").symmetric and not TYPES.get("family_enterprise").symmetric
    assert TYPES.get("guarantee").carries_amount and not TYPES.get("guarantee").carries_share
    assert TYPES.get("shareholding").carries_share and not TYPES.get("shareholding").links_group
    assert TYPES.get(TYPES.get("director")) is TYPES.get("director")


@pytest.mark.parametrize(
    "code",
    [
        "pledgor",
        pledge_type(),
        pledge_type(code="guarantee", category=RelationshipCategory.GUARANTEE),  # other names
        attrs.evolve(STANDARD_RELATIONSHIP_TYPES.get("spouse"), symmetric=False),
        "",
        42,
    ],
    ids=["unknown-code", "unknown-type", "same-code-other-type", "changed-flag", "empty", "int"],
)
def test_an_unknown_type_is_refused_by_the_registry(code: Any) -> None:
    error = refused(ValidationError, "$.type", TYPES.get, code)
    assert "with_types" in str(error)


def test_with_types_adds_without_changing_the_original() -> None:
    pledge = pledge_type()
    extended = TYPES.with_types(pledge)
    assert extended.get("pledgor") is pledge
    assert extended.get("shareholding") is TYPES.get("shareholding")
    assert len(list(extended)) == len(list(TYPES)) + 1
    refused(ValidationError, "$.type", TYPES.get, "pledgor")
    assert TYPES.with_types(TYPES.get("spouse")) == TYPES  # the same type again is no conflict
    assert extended.with_types(pledge_type()) == extended


def test_with_types_refuses_a_taken_code() -> None:
    refused(ValidationError, "$.types", TYPES.with_types, pledge_type(code="shareholding"))
    refused(ValidationError, "$.types", TYPES.with_types, pledge_type(), pledge_type(name="Other"))
    refused(ValidationError, "$.types", RelationshipTypes, [pledge_type(), "pledgor"])


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("code", "Pledgor", "$.code"),
        ("code", "1pledge", "$.code"),
        ("code", "pledge-or", "$.code"),
        ("code", "p" * 41, "$.code"),
        ("name", " ", "$.name"),
        ("source_role", "", "$.source_role"),
        ("local_name", "股" * 41, "$.local_name"),
        ("category", "other", "$.category"),
        ("symmetric", 1, "$.symmetric"),
        ("ultimate", None, "$.ultimate"),
    ],
)
def test_a_relationship_type_checks_its_fields(field: str, value: Any, path: str) -> None:
    refused(ValidationError, path, pledge_type, **{field: value})


def test_a_custom_category_decides_what_a_type_needs() -> None:
    stake = pledge_type(code="indirect_stake", category=RelationshipCategory.OWNERSHIP)
    control = pledge_type(code="voting_pact", category=RelationshipCategory.CONTROL)
    assert stake.carries_share and not stake.acyclic
    assert control.acyclic and control.links_group and not control.carries_share
    registry = TYPES.with_types(stake, control)
    assert "voting_pact" in registry.acyclic and "voting_pact" in registry.tree_links
    refused(ValidationError, "$.share", Relationship.record, stake, A, B, valid_from=D(2020, 1, 1))


# -- parties -------------------------------------------------------------------------


def test_party_constructors() -> None:
    company = Party.organization("华东控股集团有限公司", lei=make_lei(7), country="CN")
    someone = Party.person("张三丰", customer_id=CustomerId(uuid.uuid4()))
    assert (company.kind, company.is_customer, company.name_kind) == (
        PartyKind.ORGANIZATION,
        False,
        None,
    )
    assert (someone.kind, someone.is_customer) == (PartyKind.PERSON, True)
    assert someone.name_kind is not None
    assert "三丰" not in repr(someone)
    assert isinstance(company.id, uuid.UUID) and company.id != someone.id
    assert company.version == 0


@pytest.mark.parametrize(
    "lei",
    [
        pytest.param(make_lei(7)[:-1] + str((int(make_lei(7)[-1]) + 1) % 10), id="bad-check"),
        pytest.param(make_lei(7)[:19], id="too-short"),
        pytest.param(make_lei(7) + "0", id="too-long"),
        pytest.param("", id="empty"),
        pytest.param(12345, id="int"),
    ],
)
def test_a_party_lei_is_checked(lei: Any) -> None:
    error = refused(ValidationError, "$.lei", Party.organization, "某公司", lei=lei)
    if isinstance(lei, str) and lei:
        assert lei not in str(error)


def test_lower_case_lei_is_refused_even_with_good_check_digits() -> None:
    upper = "5493001KJTIIGC8Y1R12"
    assert Party.organization("某公司", lei=upper).lei == upper
    refused(ValidationError, "$.lei", Party.organization, "某公司", lei=upper.lower())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("name", "名" * 201),
        ("name", None),
        ("kind", "person"),
        ("country", "cn"),
        ("country", "CHN"),
        ("registration_number", ""),
        ("registration_number", "9" * 41),
    ],
)
def test_a_party_checks_its_fields(field: str, value: Any) -> None:
    fields: dict[str, Any] = {"kind": PartyKind.ORGANIZATION, "name": "某公司", field: value}
    refused(ValidationError, f"$.{field}", Party, **fields)


def test_revised_changes_allowed_fields_and_names_them() -> None:
    party = Party.organization("旧名称有限公司")
    customer = CustomerId(uuid.uuid4())
    new, events = party.revised(AT, name="新名称有限公司", customer_id=customer, lei=make_lei(3))
    assert (new.id, new.kind, new.version) == (party.id, party.kind, party.version)
    assert (new.name, new.customer_id, new.lei) == ("新名称有限公司", customer, make_lei(3))
    (event,) = events
    assert isinstance(event, PartyRevised)
    assert event.fields == ("customer_id", "lei", "name")
    assert event.party_id == party.id and event.aggregate_id == str(party.id)
    assert "新名称" not in repr(event)


@pytest.mark.parametrize("field", ["kind", "id", "version", "nickname"])
def test_revised_refuses_other_fields(field: str) -> None:
    party = Party.person("张三")
    value: Any = {
        "kind": PartyKind.ORGANIZATION,
        "id": PartyId(uuid.uuid4()),
        "version": 5,
        "nickname": "三儿",
    }[field]
    refused(ValidationError, f"$.{field}", party.revised, AT, **{field: value})


def test_revised_values_are_checked() -> None:
    party = Party.organization("某公司")
    refused(ValidationError, "$.lei", party.revised, AT, lei="NOT-AN-LEI")
    refused(ValidationError, "$.name", party.revised, AT, name="")
    refused(ValidationError, "$.country", party.revised, AT, country="china")
