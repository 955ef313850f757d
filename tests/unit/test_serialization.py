"""The wire format: make_converter() round-trips customers and refuses bad input strictly."""

from __future__ import annotations

import copy
import datetime
import json
import uuid
from decimal import Decimal
from typing import Any

import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance_crm.errors import AuthenticationDataRefused, ValidationError
from finance_crm.model.customers import (
    Address,
    AddressKind,
    Channel,
    ContactRole,
    CorporateContact,
    CorporateCustomer,
    Customer,
    EnterpriseSize,
    HouseholdMember,
    HouseholdRelation,
    IndividualCustomer,
    LegalRepresentative,
    LifecycleStatus,
    MarketingConsent,
    RiskLevel,
)
from finance_crm.model.documents import (
    EmailAddress,
    IdDocumentType,
    IdentityDocument,
    Phone,
    PhoneKind,
    make_resident_id,
    make_unified_social_credit_code,
)
from finance_crm.money import Money
from finance_crm.serialization import WireConverter, make_converter
from finance_crm.testing.factories import OPENED_AT, make_corporate, make_individual

CONV = make_converter()

BIRTHDAY = datetime.date(1987, 6, 19)
RESIDENT_ID = make_resident_id("110105", BIRTHDAY, 123)
NAME = "欧阳娜娜"
MOBILE = "13987654321"


def full_individual() -> IndividualCustomer:
    """An individual with every optional part filled in."""
    return IndividualCustomer.open(
        customer_number="C-0001",
        name=NAME,
        at=OPENED_AT,
        identity_documents=[
            IdentityDocument(
                type=IdDocumentType.RESIDENT_ID,
                number=RESIDENT_ID,
                valid_until=datetime.date(2030, 1, 1),
            ),
            IdentityDocument(type=IdDocumentType.PASSPORT, number="E12345678"),
        ],
        phones=[Phone(number=MOBILE), Phone(number="010-62345678", kind=PhoneKind.HOME)],
        emails=[EmailAddress("nana@example.com")],
        addresses=[
            Address(
                kind=AddressKind.HOME,
                line="北京市朝阳区建国路88号",
                city="北京",
                province="北京",
                postal_code="100022",
            )
        ],
        risk_level=RiskLevel.BALANCED,
        preferred_channels=[Channel.APP, Channel.SMS],
        consents=[
            MarketingConsent(
                channel=Channel.SMS,
                purpose="wealth",
                valid_from=datetime.date(2025, 1, 1),
                valid_until=datetime.date(2025, 12, 31),
                withdrawn_at=pendulum.datetime(2025, 6, 1, 8, tz="Asia/Shanghai"),
            )
        ],
        household=[
            HouseholdMember(
                name="欧阳小明",
                relation=HouseholdRelation.CHILD,
                birthday=datetime.date(2012, 4, 5),
                customer_id=uuid.UUID(int=7),  # type: ignore[arg-type]
            )
        ],
        occupation="teacher",
        tags=["vip", "retail"],
        custom_attributes={"segment": "affluent", "n": -(2**63 - 1), "x": [None, True, {}]},
    )


def full_corporate() -> CorporateCustomer:
    return CorporateCustomer.open(
        customer_number="E-0001",
        legal_name="示例科技有限公司",
        at=OPENED_AT,
        identity_documents=[
            IdentityDocument(
                type=IdDocumentType.UNIFIED_SOCIAL_CREDIT_CODE,
                number=make_unified_social_credit_code(99),
            )
        ],
        legal_representative=LegalRepresentative(
            name="李四",
            identity_document=IdentityDocument(
                type=IdDocumentType.RESIDENT_ID,
                number=make_resident_id("310104", datetime.date(1975, 11, 3), 456),
            ),
            phone=Phone(number="13566667777"),
        ),
        contacts=[
            CorporateContact(
                name="赵六",
                role=ContactRole.FINANCE_MANAGER,
                phones=(Phone(number="13688889999"),),
                email=EmailAddress("zhao@example.com"),
                is_primary=True,
            ),
            CorporateContact(name="钱七", role=ContactRole.ACTUAL_CONTROLLER),
        ],
        industry="C3911",
        size=EnterpriseSize.MEDIUM,
        registered_capital=Money.of("5000000.00", "CNY"),
        risk_level=RiskLevel.CAUTIOUS,
        status=LifecycleStatus.DORMANT,
    )


INDIVIDUAL = CONV.unstructure(make_individual(5))
CORPORATE = CONV.unstructure(make_corporate(3))


def payload(base: dict[str, Any] = INDIVIDUAL, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    data.update(changes)
    return data


def refused(data: Any, cl: Any = Customer) -> ValidationError:
    """Structure ``data``; it must fail with exactly a finance_crm ValidationError."""
    with pytest.raises(ValidationError) as exc:
        CONV.structure(data, cl)
    return exc.value


def refused_text(text: str | bytes, cl: Any = Customer) -> ValidationError:
    with pytest.raises(ValidationError) as exc:
        CONV.loads(text, cl)
    return exc.value


def paths(exc: ValidationError) -> list[str]:
    return [p.path for p in exc.problems]


# -- round trips ---------------------------------------------------------------------


def test_converter_is_a_wire_converter() -> None:
    assert isinstance(CONV, WireConverter)


@pytest.mark.parametrize("build", [full_individual, full_corporate])
def test_full_customers_round_trip(build: Any) -> None:
    customer = build()
    data = CONV.unstructure(customer)
    assert json.loads(json.dumps(data)) == data  # plain JSON data
    back = CONV.structure(data, Customer)
    assert type(back) is type(customer)
    assert back == customer
    assert CONV.loads(CONV.dumps(customer), Customer) == customer
    assert CONV.structure(data, type(customer)) == customer


@given(seed=st.integers(0, 10**8))
def test_factory_individuals_round_trip(seed: int) -> None:
    customer = make_individual(seed)
    assert CONV.structure(CONV.unstructure(customer), Customer) == customer
    assert CONV.loads(CONV.dumps(customer), IndividualCustomer) == customer


@given(seed=st.integers(0, 10**8))
def test_factory_corporates_round_trip(seed: int) -> None:
    customer = make_corporate(seed)
    assert CONV.structure(CONV.unstructure(customer), Customer) == customer
    assert CONV.loads(CONV.dumps(customer), CorporateCustomer) == customer


def test_wire_shape() -> None:
    data = CONV.unstructure(full_individual())
    assert data["kind"] == "individual"
    assert data["status"] == "active"
    assert data["opened_at"] == "2025-01-02T09:30:00Z"
    assert data["birthday"] == "1987-06-19"
    assert data["risk_level"] == 3
    assert data["tags"] == ["retail", "vip"]  # sets are sorted
    assert data["preferred_channels"] == ["app", "sms"]
    assert data["consents"][0]["withdrawn_at"] == "2025-06-01T00:00:00Z"
    assert data["phones"][1] == {"number": "01062345678", "kind": "home"}
    assert data["household"][0]["customer_id"] == str(uuid.UUID(int=7))
    corporate = CONV.unstructure(full_corporate())
    assert corporate["kind"] == "corporate"
    assert corporate["registered_capital"] == {"amount": "5000000.00", "currency": "CNY"}
    assert corporate["contacts"][0]["is_primary"] is True


def test_dumps_is_compact_sorted_and_keeps_chinese() -> None:
    text = CONV.dumps(full_corporate())
    assert "示例科技有限公司" in text
    assert ", " not in text
    assert text.startswith('{"addresses":')


# -- strict scalars ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"risk_level": 1.9}, "$.risk_level"),
        ({"risk_level": 3.0}, "$.risk_level"),
        ({"risk_level": True}, "$.risk_level"),
        ({"risk_level": "3"}, "$.risk_level"),
        ({"risk_level": 7}, "$.risk_level"),
        ({"risk_level": 2**70}, "$.risk_level"),
        ({"version": 1.0}, "$.version"),
        ({"version": True}, "$.version"),
        ({"version": "1"}, "$.version"),
        ({"version": 2**70}, "$.version"),
        ({"version": 0}, "$.version"),
        ({"customer_number": 12345}, "$.customer_number"),
        ({"name": 5}, "$.name"),
        ({"name": ["欧阳", "娜娜"]}, "$.name"),
        ({"nationality": True}, "$.nationality"),
        ({"status": "ACTIVE"}, "$.status"),
        ({"status": 1}, "$.status"),
        ({"tags": "retail"}, "$.tags"),
        ({"tags": {"retail": True}}, "$.tags"),
        ({"tags": [1]}, "$.tags[0]"),
        ({"phones": MOBILE}, "$.phones"),
        ({"phones": {"number": MOBILE}}, "$.phones"),
        ({"preferred_channels": "sms"}, "$.preferred_channels"),
        ({"preferred_channels": ["sms", "fax"]}, "$.preferred_channels[1]"),
        ({"preferred_channels": ["sms", "sms"]}, "$.preferred_channels"),
        ({"identity_documents": None}, "$.identity_documents"),
        ({"id": "not-a-uuid"}, "$.id"),
        ({"id": 5}, "$.id"),
        ({"birthday": "1987/06/19"}, "$.birthday"),
        ({"birthday": "1987-06-31"}, "$.birthday"),
        ({"birthday": "1987-06-19T00:00:00Z"}, "$.birthday"),
        ({"birthday": 19870619}, "$.birthday"),
        ({"opened_at": "2025-01-01T00:00:00"}, "$.opened_at"),
        ({"opened_at": "2025-01-01"}, "$.opened_at"),
        ({"opened_at": 1735689600}, "$.opened_at"),
        ({"opened_at": "yesterday"}, "$.opened_at"),
        ({"opened_at": "9999-12-31T23:59:59-05:00"}, "$.opened_at"),
        ({"custom_attributes": []}, "$.custom_attributes"),
        ({"custom_attributes": {"x": 1.5}}, "$.custom_attributes.x"),
        ({"custom_attributes": {"x": [1, {"y": 0.1}]}}, "$.custom_attributes.x[1].y"),
        ({"custom_attributes": {"x": 2**63}}, "$.custom_attributes.x"),
        ({"custom_attributes": {"pin": "1234"}}, "$.custom_attributes.pin"),
        ({"custom_attributes": {"a": [{"cvv": "1"}]}}, "$.custom_attributes.a[0].cvv"),
    ],
)
def test_individual_strictness(changes: dict[str, Any], path: str) -> None:
    exc = refused(payload(**changes))
    assert paths(exc) == [path]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        (
            {"contacts": [{"name": "赵六", "role": "director", "is_primary": "false"}]},
            "$.contacts[0].is_primary",
        ),
        (
            {"contacts": [{"name": "赵六", "role": "director", "is_primary": 0}]},
            "$.contacts[0].is_primary",
        ),
        ({"contacts": [{"name": "赵六", "role": "boss"}]}, "$.contacts[0].role"),
        ({"contacts": [{"role": "director"}]}, "$.contacts[0].name"),
        ({"size": "huge"}, "$.size"),
        ({"industry": 3911}, "$.industry"),
        ({"legal_name": ""}, "$.legal_name"),
        ({"registered_capital": 5000000}, "$.registered_capital"),
        ({"registered_capital": "5000000.00"}, "$.registered_capital"),
        ({"registered_capital": {"amount": 1.5, "currency": "CNY"}}, "$.registered_capital"),
        ({"registered_capital": {"amount": "NaN", "currency": "CNY"}}, "$.registered_capital"),
        ({"registered_capital": {"amount": "1.005", "currency": "CNY"}}, "$.registered_capital"),
        ({"registered_capital": {"amount": "1", "currency": "XYZ"}}, "$.registered_capital"),
        ({"legal_representative": []}, "$.legal_representative"),
        ({"legal_representative": "李四"}, "$.legal_representative"),
        ({"legal_representative": {"name": "李四", "x": 1}}, "$.legal_representative"),
    ],
)
def test_corporate_strictness(changes: dict[str, Any], path: str) -> None:
    exc = refused(payload(CORPORATE, **changes))
    assert paths(exc) == [path]


def test_null_is_fine_for_optional_records() -> None:
    customer = CONV.structure(payload(CORPORATE, legal_representative=None), Customer)
    assert isinstance(customer, CorporateCustomer)
    assert customer.legal_representative is None


def test_omitted_optional_fields_take_their_defaults() -> None:
    data = payload(CORPORATE)
    for key in ("phones", "tags", "custom_attributes", "contacts", "size", "registered_capital"):
        del data[key]
    customer = CONV.structure(data, Customer)
    assert customer.phones == ()
    assert customer.tags == frozenset()
    assert customer.custom_attributes == {}


def test_offset_instants_become_utc() -> None:
    customer = CONV.structure(payload(opened_at="2025-01-02T17:30:00+08:00"), Customer)
    assert customer.opened_at == pendulum.datetime(2025, 1, 2, 9, 30, tz="UTC")
    assert customer.opened_at.utcoffset() == datetime.timedelta(0)
    assert CONV.unstructure(customer)["opened_at"] == "2025-01-02T09:30:00Z"


def test_naive_instant_message_says_what_to_do() -> None:
    exc = refused(payload(opened_at="2025-01-01T00:00:00"))
    assert "offset" in str(exc)


def test_naive_withdrawal_instant_is_refused_in_a_nested_record() -> None:
    consent = {"channel": "sms", "valid_from": "2025-01-01", "withdrawn_at": "2025-03-01T00:00:00"}
    exc = refused(payload(consents=[consent]))
    assert paths(exc) == ["$.consents[0].withdrawn_at"]


def test_domain_invariants_run_on_the_wire() -> None:
    consent = {"channel": "sms", "valid_from": "2025-02-01", "valid_until": "2025-01-01"}
    assert paths(refused(payload(consents=[consent]))) == ["$.consents[0].valid_until"]
    assert paths(refused(payload(identity_documents=[]))) == ["$.identity_documents"]
    assert paths(refused(payload(birthday="1980-01-01"))) == ["$.identity_documents[0].number"]
    corporate_doc = CORPORATE["identity_documents"]
    exc = refused(payload(identity_documents=corporate_doc))
    assert paths(exc) == ["$.identity_documents[0].type"]
    exc = refused(payload(CORPORATE, identity_documents=INDIVIDUAL["identity_documents"]))
    assert paths(exc) == ["$.identity_documents[0].type"]


def test_nested_problem_paths_are_qualified() -> None:
    phones = [{"number": MOBILE, "kind": "mobile"}, {"number": "999", "kind": "mobile"}]
    exc = refused(payload(phones=phones))
    assert paths(exc) == ["$.phones[1].number"]
    assert "999" not in str(exc)
    bad_doc = RESIDENT_ID[:-1] + ("1" if RESIDENT_ID[-1] != "1" else "2")
    docs = [{"type": "resident_id", "number": bad_doc}]
    exc = refused(payload(identity_documents=docs, birthday=None))
    assert paths(exc) == ["$.identity_documents[0].number"]
    contacts = [{"name": "赵六", "role": "director", "phones": [{"number": "12"}]}]
    exc = refused(payload(CORPORATE, contacts=contacts))
    assert paths(exc) == ["$.contacts[0].phones[0].number"]


def test_every_problem_is_reported_together() -> None:
    exc = refused(payload(risk_level="3", tags="vip", phones=[None], occupation=5))
    assert sorted(paths(exc)) == ["$.occupation", "$.phones[0]", "$.risk_level", "$.tags"]


# -- records, kinds, keys --------------------------------------------------------------


@pytest.mark.parametrize("value", [None, [], [INDIVIDUAL], "customer", 5, True])
def test_a_customer_must_be_an_object(value: Any) -> None:
    exc = refused(value)
    assert paths(exc) == ["$"]
    assert "object" in str(exc)


@pytest.mark.parametrize(
    ("phone", "expected"),
    [(None, "null"), ([MOBILE], "array"), (MOBILE, "string")],
)
def test_a_nested_record_must_be_an_object(phone: Any, expected: str) -> None:
    exc = refused(payload(phones=[phone]))
    assert paths(exc) == ["$.phones[0]"]
    assert expected in str(exc)


@pytest.mark.parametrize("kind", ["alien", None, 1, ["individual"], "INDIVIDUAL"])
def test_unknown_kind_is_refused(kind: Any) -> None:
    exc = refused(payload(kind=kind))
    assert paths(exc) == ["$.kind"]


def test_missing_kind_is_refused() -> None:
    data = payload()
    del data["kind"]
    assert paths(refused(data)) == ["$.kind"]


def test_kind_must_match_the_requested_class() -> None:
    assert paths(refused(INDIVIDUAL, CorporateCustomer)) == ["$.kind"]
    assert paths(refused(CORPORATE, IndividualCustomer)) == ["$.kind"]


def test_unknown_keys_are_refused() -> None:
    exc = refused(payload(nickname="Nana"))
    assert paths(exc) == ["$"]
    assert "nickname" in str(exc)
    exc = refused(payload(phones=[{"number": MOBILE, "kind": "mobile", "ext": "1"}]))
    assert paths(exc) == ["$.phones[0]"]


def test_fields_of_the_other_kind_are_unknown_keys() -> None:
    exc = refused(payload(kind="corporate"))
    assert "$.legal_name" in paths(exc)
    assert "$" in paths(exc)


@pytest.mark.parametrize("key", ["id", "customer_number", "status", "opened_at", "name"])
def test_missing_required_field_is_reported_with_its_path(key: str) -> None:
    data = payload()
    del data[key]
    exc = refused(data)
    assert paths(exc) == [f"$.{key}"]
    assert "required" in str(exc)


def test_missing_nested_field_is_reported_with_its_path() -> None:
    exc = refused(payload(phones=[{"number": MOBILE}, {"kind": "mobile"}]))
    assert paths(exc) == ["$.phones[1].number"]
    exc = refused(payload(identity_documents=[{"number": RESIDENT_ID}]))
    assert paths(exc) == ["$.identity_documents[0].type"]


def test_empty_object_lists_every_missing_field() -> None:
    exc = refused({"kind": "individual"})
    assert sorted(paths(exc)) == [
        "$.customer_number",
        "$.id",
        "$.name",
        "$.opened_at",
        "$.status",
    ]


# -- Money and decimals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("12.30", Decimal("12.30")), (12, Decimal("12.00")), ("-0.01", Decimal("-0.01"))],
)
def test_money_accepts_decimal_strings_and_integers(amount: Any, expected: Decimal) -> None:
    money = CONV.structure({"amount": amount, "currency": "CNY"}, Money)
    assert money == Money.of(expected, "CNY")
    assert str(money.amount) == str(expected)


@pytest.mark.parametrize(
    "amount",
    [
        1.5,
        12.0,
        True,
        None,
        [1],
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "-Infinity",
        "inf",
        "1e100",
        "12,30",
        "",
        "twelve",
    ],
)
def test_money_refuses_floats_and_non_numbers(amount: Any) -> None:
    exc = refused({"amount": amount, "currency": "CNY"}, Money)
    assert paths(exc) == ["$"]


def test_money_float_message_says_to_use_a_string() -> None:
    assert "never a float" in str(refused({"amount": 1.5, "currency": "CNY"}, Money))


@pytest.mark.parametrize(
    "value",
    [
        {"amount": "1"},
        {"currency": "CNY"},
        {"amount": "1", "currency": "CNY", "note": "x"},
        {"amount": "1", "currency": 156},
        "1 CNY",
        None,
    ],
)
def test_money_record_shape_is_strict(value: Any) -> None:
    refused(value, Money)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_json_text_are_refused(constant: str) -> None:
    exc = refused_text(f'{{"amount": {constant}, "currency": "CNY"}}', Money)
    assert paths(exc) == ["$"]
    text = CONV.dumps(make_individual(5)).replace('"version":1', f'"version":{constant}')
    assert paths(refused_text(text)) == ["$"]


def test_float_literal_in_json_text_is_refused_for_money() -> None:
    exc = refused_text('{"amount": 12.30, "currency": "CNY"}', Money)
    assert "never a float" in str(exc)
    assert CONV.loads('{"amount": "12.30", "currency": "CNY"}', Money) == Money.of("12.30", "CNY")


# -- JSON text ---------------------------------------------------------------------------


def test_huge_integers_in_json_text_are_refused() -> None:
    text = CONV.dumps(make_individual(5))
    assert '"version":1' in text
    exc = refused_text(text.replace('"version":1', f'"version":{2**70}'))
    assert paths(exc) == ["$.version"]
    exc = refused_text(text.replace('"version":1', '"version":' + "7" * 5000))
    assert paths(exc) == ["$"]
    exc = refused_text(text.replace('"risk_level":', '"risk_level":' + "1" * 5000 + ',"x":'))
    assert paths(exc) == ["$"]


def test_huge_integer_in_custom_attributes_text_is_refused() -> None:
    text = CONV.dumps(make_individual(5))
    exc = refused_text(text.replace('"custom_attributes":{', f'"custom_attributes":{{"n":{2**70},'))
    assert paths(exc) == ["$.custom_attributes.n"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        '{"kind": "individual",',
        "[1, 2",
        "{'kind': 'individual'}",
        '{"kind": "individual"} trailing',
        b"\xef\xbb",
        "\x00",
    ],
)
def test_malformed_json_text_is_refused(text: str | bytes) -> None:
    exc = refused_text(text)
    assert paths(exc) == ["$"]
    assert "malformed JSON" in str(exc)


def test_valid_json_of_the_wrong_shape_is_refused() -> None:
    assert paths(refused_text("null")) == ["$"]
    assert paths(refused_text("[]")) == ["$"]
    assert paths(refused_text('"x"')) == ["$"]


def test_loads_accepts_bytes() -> None:
    customer = make_individual(8)
    assert CONV.loads(CONV.dumps(customer).encode(), Customer) == customer


@pytest.mark.parametrize(
    "text", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000]
)
def test_deeply_nested_json_text_is_a_validation_error(text: str) -> None:
    exc = refused_text(text)
    assert paths(exc) == ["$"]


def test_invalid_utf8_is_reported_as_an_encoding_problem() -> None:
    exc = refused_text(b'{"kind": "\xc3"}')
    assert "number" not in str(exc)
    assert "UTF-8" in str(exc)


def test_deeply_nested_custom_attributes_are_a_validation_error() -> None:
    nested: Any = 1
    for _ in range(5000):
        nested = {"a": nested}
    exc = refused(payload(custom_attributes=nested))
    assert paths(exc) == ["$.custom_attributes"]


# -- authentication data ------------------------------------------------------------------


@pytest.mark.parametrize(
    "attributes", [{"pin": "1234"}, {"bank": {"loginPassword": "hunter2"}}, {"a": [{"cvv": "1"}]}]
)
def test_authentication_data_on_the_wire_keeps_its_error_type(
    attributes: dict[str, Any],
) -> None:
    with pytest.raises(AuthenticationDataRefused):
        CONV.structure(payload(custom_attributes=attributes), Customer)


# -- no personal values in messages ------------------------------------------------------


def _assert_silent(exc: ValidationError, *secrets: str) -> None:
    text = str(exc) + repr(exc.problems)
    for secret in secrets:
        assert secret not in text


def test_messages_never_echo_personal_values() -> None:
    bad_doc = RESIDENT_ID[:-1] + ("1" if RESIDENT_ID[-1] != "1" else "2")
    cases = [
        (payload(identity_documents=[{"type": "resident_id", "number": bad_doc}]), bad_doc),
        (payload(phones=[{"number": "1398765432"}]), "1398765432"),
        (payload(phones=[{"number": int(MOBILE)}]), MOBILE),
        (payload(risk_level=NAME), NAME),
        (payload(status=RESIDENT_ID), RESIDENT_ID),
        (payload(kind=NAME), NAME),
        (payload(name=[NAME]), NAME),
        (payload(name=NAME * 60), NAME),
        (payload(customer_number=f"{MOBILE} x"), MOBILE),
        (payload(birthday="1987-06-31"), "1987-06-31"),
        (payload(emails=[{"address": "ouyang.nana@@example.com"}]), "ouyang.nana"),
        (payload(tags=[f" {MOBILE}"]), MOBILE),
        (payload(preferred_channels=[MOBILE]), MOBILE),
        (payload(household=[{"name": NAME, "relation": "aunt"}]), NAME),
        (payload(household=[{"name": NAME, "relation": "child", "birthday": 1}]), NAME),
        (payload(addresses=[{"kind": "home", "line": "建国路88号", "country": "China"}]), "建国路"),
        (payload(CORPORATE, legal_representative={"name": 5, "phone": MOBILE}), MOBILE),
        (
            payload(CORPORATE, registered_capital={"amount": MOBILE + ".123", "currency": "CNY"}),
            MOBILE,
        ),
    ]
    for data, secret in cases:
        _assert_silent(refused(data), secret)


def test_checksum_failure_does_not_echo_the_birth_digits() -> None:
    bad_doc = RESIDENT_ID[:-1] + ("1" if RESIDENT_ID[-1] != "1" else "2")
    exc = refused(payload(identity_documents=[{"type": "resident_id", "number": bad_doc}]))
    _assert_silent(exc, "19870619", bad_doc[:6])


# -- fuzzing --------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
BASES = [
    INDIVIDUAL,
    CORPORATE,
    CONV.unstructure(full_individual()),
    CONV.unstructure(full_corporate()),
]


@st.composite
def mutated_customers(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["drop", "set", "add", "nested"]))
        keys = sorted(data)
        if action == "drop" and keys:
            del data[draw(st.sampled_from(keys))]
        elif action == "set" and keys:
            data[draw(st.sampled_from(keys))] = draw(json_values)
        elif action == "add":
            data[draw(st.text(max_size=12))] = draw(json_values)
        else:
            lists = [k for k in keys if isinstance(data[k], list) and data[k]]
            records = [(k, i) for k in lists for i, v in enumerate(data[k]) if isinstance(v, dict)]
            if records:
                key, index = draw(st.sampled_from(records))
                record = data[key][index]
                inner = sorted(record)
                if inner and draw(st.booleans()):
                    record[draw(st.sampled_from(inner))] = draw(json_values)
                elif inner:
                    del record[draw(st.sampled_from(inner))]
    return data


def _structure_or_validation_error(data: Any) -> None:
    problems: tuple[Any, ...] | None = None
    try:
        customer = CONV.structure(data, Customer)
    except ValidationError as exc:
        problems = exc.problems
    if problems is not None:
        assert problems
        assert all(p.path.startswith("$") for p in problems)
        return
    assert isinstance(customer, (IndividualCustomer, CorporateCustomer))
    assert CONV.structure(CONV.unstructure(customer), Customer) == customer


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_fuzz_arbitrary_json_is_structured_or_refused(data: Any) -> None:
    _structure_or_validation_error(data)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_customers())
def test_fuzz_mutated_customers_are_structured_or_refused(data: Any) -> None:
    _structure_or_validation_error(data)


@settings(max_examples=200)
@given(
    st.text(max_size=60)
    | st.binary(max_size=60)
    | json_values.map(json.dumps)
    | mutated_customers().map(json.dumps)
)
def test_fuzz_arbitrary_text_is_loaded_or_refused(text: str | bytes) -> None:
    was_refused = False
    try:
        result = CONV.loads(text, Customer)
    except ValidationError:
        was_refused = True
    assert was_refused or isinstance(result, Customer)


@settings(max_examples=200)
@given(amount=json_values | st.floats() | st.decimals().map(str), code=json_values)
def test_fuzz_money_is_structured_or_refused(amount: Any, code: Any) -> None:
    try:
        money = CONV.structure({"amount": amount, "currency": code}, Money)
    except ValidationError:
        return
    assert isinstance(money, Money)
    assert money.amount.is_finite()
    assert not isinstance(amount, float)


@pytest.mark.parametrize("text", [None, 123, ["{}"]])
def test_loads_refuses_what_is_not_json_text(text: object) -> None:
    with pytest.raises(ValidationError, match="expected JSON text"):
        CONV.loads(text, Customer)  # type: ignore[arg-type]
