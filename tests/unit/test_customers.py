"""Customers: construction invariants, lifecycle, consents, events and masking."""

from __future__ import annotations

import copy
import datetime
import pickle
import uuid
from decimal import Decimal
from typing import Any

import attrs
import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finance_crm.errors import (
    AuthenticationDataRefused,
    BusinessRuleViolation,
    CrmError,
    ValidationError,
)
from finance_crm.ids import CustomerId
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
    make_resident_id,
    make_unified_social_credit_code,
)
from finance_crm.model.events import (
    ConsentGranted,
    ConsentWithdrawn,
    CustomerRevised,
    CustomerStatusChanged,
)
from finance_crm.money import Money
from finance_crm.security import StandardMasking
from finance_crm.testing.factories import OPENED_AT, make_individual

S = LifecycleStatus
AT = OPENED_AT
LATER = OPENED_AT + datetime.timedelta(days=10)

# Distinctive personal values, so a test can tell whether any of them leaked.
BIRTHDAY = datetime.date(1987, 6, 19)
RESIDENT_ID = make_resident_id("110105", BIRTHDAY, 123)
OTHER_RESIDENT_ID = make_resident_id("310104", datetime.date(1975, 11, 3), 456)
USCC = make_unified_social_credit_code(4242)
NAME = "欧阳娜娜"
MOBILE = "13987654321"
FIXED_ID = CustomerId(uuid.UUID("abcdefab-cdef-4bcd-8bcd-efabcdefabcd"))


def resident_doc(number: str = RESIDENT_ID) -> IdentityDocument:
    return IdentityDocument(type=IdDocumentType.RESIDENT_ID, number=number)


def uscc_doc(number: str = USCC) -> IdentityDocument:
    return IdentityDocument(type=IdDocumentType.UNIFIED_SOCIAL_CREDIT_CODE, number=number)


def open_individual(**overrides: Any) -> IndividualCustomer:
    fields: dict[str, Any] = {
        "customer_number": "C0001",
        "name": NAME,
        "at": AT,
        "identity_documents": [resident_doc()],
        "phones": [Phone(number=MOBILE)],
        "customer_id": FIXED_ID,
    }
    fields.update(overrides)
    return IndividualCustomer.open(**fields)


def open_corporate(**overrides: Any) -> CorporateCustomer:
    fields: dict[str, Any] = {
        "customer_number": "E0001",
        "legal_name": "示例科技有限公司",
        "at": AT,
        "identity_documents": [uscc_doc()],
        "customer_id": FIXED_ID,
    }
    fields.update(overrides)
    return CorporateCustomer.open(**fields)


def paths(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [p.path for p in exc.value.problems]


# -- opening ---------------------------------------------------------------------


def test_open_individual_with_every_part() -> None:
    consent = MarketingConsent(channel=Channel.SMS, valid_from=datetime.date(2025, 1, 1))
    member = HouseholdMember(name="欧阳小明", relation=HouseholdRelation.CHILD)
    address = Address(kind=AddressKind.HOME, line="北京市朝阳区建国路88号", city="北京")
    customer = open_individual(
        emails=[EmailAddress("nana.ouyang@example.com")],
        addresses=[address],
        risk_level=RiskLevel.GROWTH,
        preferred_channels=[Channel.WECHAT, Channel.PHONE],
        consents=[consent],
        household=[member],
        occupation="teacher",
        tags=["vip", "retail"],
        custom_attributes={"segment": "affluent", "scores": [1, 2], "flags": {"x": True}},
    )
    assert customer.id == FIXED_ID
    assert customer.status is S.ACTIVE
    assert customer.version == 1
    assert customer.opened_at == AT
    assert customer.display_name == NAME
    assert customer.birthday == BIRTHDAY  # taken from the resident ID
    assert customer.risk_level is RiskLevel.GROWTH
    assert customer.preferred_channels == (Channel.WECHAT, Channel.PHONE)
    assert customer.consents == (consent,)
    assert customer.household == (member,)
    assert customer.addresses == (address,)
    assert customer.tags == frozenset({"vip", "retail"})
    assert customer.custom_attributes["flags"] == {"x": True}
    assert customer.phones[0].number == MOBILE


def test_open_corporate_with_representative_and_contacts() -> None:
    rep = LegalRepresentative(name="李四", identity_document=resident_doc(OTHER_RESIDENT_ID))
    contacts = [
        CorporateContact(name="赵六", role=ContactRole.FINANCE_MANAGER, is_primary=True),
        CorporateContact(name="钱七", role=ContactRole.AUTHORISED_SIGNATORY),
    ]
    company = open_corporate(
        legal_representative=rep,
        contacts=contacts,
        size=EnterpriseSize.SMALL,
        registered_capital=Money.of("5000000.00", "CNY"),
    )
    assert company.display_name == "示例科技有限公司"
    assert company.registration_number == USCC
    assert company.legal_representative == rep
    assert [c.role for c in company.contacts] == [
        ContactRole.FINANCE_MANAGER,
        ContactRole.AUTHORISED_SIGNATORY,
    ]
    assert company.registered_capital == Money.of("5000000.00", "CNY")


def test_corporate_without_uscc_has_no_registration_number() -> None:
    lei = IdentityDocument(type=IdDocumentType.LEI, number="5493001KJTIIGC8Y1R12")
    assert open_corporate(identity_documents=[lei]).registration_number is None


def test_at_most_one_primary_contact() -> None:
    two = [
        CorporateContact(name="赵六", role=ContactRole.DIRECTOR, is_primary=True),
        CorporateContact(name="钱七", role=ContactRole.GENERAL, is_primary=True),
    ]
    with pytest.raises(ValidationError) as exc:
        open_corporate(contacts=two)
    assert paths(exc) == ["$.contacts"]


def test_naive_opening_time_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        open_individual(at=datetime.datetime(2025, 1, 1))
    assert paths(exc) == ["$.opened_at"]
    assert "naive" in str(exc.value)


def test_aware_opening_time_in_another_zone_is_stored_as_the_same_instant_in_utc() -> None:
    local = pendulum.datetime(2025, 1, 2, 9, 30, tz="Asia/Shanghai")
    customer = open_individual(at=local)
    assert customer.opened_at.utcoffset() == datetime.timedelta(0)
    assert customer.opened_at == local
    assert customer.opened_at.hour == 1


def test_wrong_resident_id_checksum_is_refused_without_echoing_it() -> None:
    last = RESIDENT_ID[-1]
    wrong = RESIDENT_ID[:-1] + ("1" if last != "1" else "2")
    with pytest.raises(ValidationError) as exc:
        open_individual(identity_documents=[resident_doc(wrong)])
    assert paths(exc) == ["$.number"]
    assert "check digit" in str(exc.value)
    assert wrong not in str(exc.value)
    assert wrong[:17] not in str(exc.value)


def test_individual_with_a_company_document_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        open_individual(identity_documents=[uscc_doc()])
    assert paths(exc) == ["$.identity_documents[0].type"]
    assert "resident_id" in str(exc.value)  # says which types would do


def test_corporate_with_a_resident_id_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        open_corporate(identity_documents=[uscc_doc(), resident_doc()])
    assert paths(exc) == ["$.identity_documents[1].type"]
    assert "uscc" in str(exc.value)
    assert RESIDENT_ID not in str(exc.value)


def test_legal_representative_must_be_identified_as_a_person() -> None:
    with pytest.raises(ValidationError) as exc:
        LegalRepresentative(name="李四", identity_document=uscc_doc())
    assert paths(exc) == ["$.identity_document.type"]


def test_birthday_must_agree_with_the_resident_id() -> None:
    with pytest.raises(ValidationError) as exc:
        open_individual(birthday=BIRTHDAY + datetime.timedelta(days=1))
    assert paths(exc) == ["$.identity_documents[0].number"]
    assert "birth" in str(exc.value)
    assert BIRTHDAY.isoformat() not in str(exc.value)
    assert RESIDENT_ID not in str(exc.value)


def test_birthday_agreeing_with_the_resident_id_is_accepted() -> None:
    assert open_individual(birthday=BIRTHDAY).birthday == BIRTHDAY


def test_birthday_must_be_a_date_not_a_datetime() -> None:
    with pytest.raises(ValidationError) as exc:
        open_individual(birthday=datetime.datetime(1987, 6, 19, tzinfo=datetime.UTC))
    assert paths(exc) == ["$.birthday"]


def test_passport_holder_keeps_the_birthday_given() -> None:
    passport = IdentityDocument(
        type=IdDocumentType.PASSPORT, number="E12345678", issuing_country="SG"
    )
    customer = open_individual(identity_documents=[passport], birthday=datetime.date(1970, 1, 1))
    assert customer.birthday == datetime.date(1970, 1, 1)


@pytest.mark.parametrize("status", [S.ACTIVE, S.DORMANT])
def test_customer_beyond_prospect_needs_a_document(status: LifecycleStatus) -> None:
    with pytest.raises(ValidationError) as exc:
        open_individual(identity_documents=[], status=status)
    assert paths(exc) == ["$.identity_documents"]
    assert "KYC" in str(exc.value)


def test_prospect_needs_no_document() -> None:
    prospect = open_individual(identity_documents=[], status=S.PROSPECT)
    assert prospect.identity_documents == ()
    assert prospect.birthday is None


def test_same_document_twice_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        open_individual(identity_documents=[resident_doc(), resident_doc()])
    assert paths(exc) == ["$.identity_documents[1]"]


def test_duplicate_preferred_channel_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        open_individual(preferred_channels=[Channel.SMS, Channel.EMAIL, Channel.SMS])
    assert paths(exc) == ["$.preferred_channels"]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as exc:
        open_individual(
            identity_documents=[resident_doc(), resident_doc()],
            preferred_channels=[Channel.SMS, Channel.SMS],
            birthday=datetime.date(2000, 1, 1),
        )
    assert set(paths(exc)) >= {
        "$.identity_documents[1]",
        "$.preferred_channels",
        "$.identity_documents[0].number",
    }


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("customer_number", "", "$.customer_number"),
        ("customer_number", "has space", "$.customer_number"),
        ("customer_number", "x" * 41, "$.customer_number"),
        ("customer_number", 12345, "$.customer_number"),
        ("name", "   ", "$.name"),
        ("name", "张" * 201, "$.name"),
        ("nationality", "cn", "$.nationality"),
        ("nationality", "CHN", "$.nationality"),
        ("tags", [" padded"], "$.tags"),
        ("tags", ["x" * 65], "$.tags"),
        ("tags", [1], "$.tags"),
        ("phones", ["13812345678"], "$.phones[0]"),
        ("phones", "13812345678", "$.phones[0]"),
        ("preferred_channels", ["sms"], "$.preferred_channels[0]"),
        ("consents", [{"channel": "sms"}], "$.consents[0]"),
        ("household", ["张小明"], "$.household[0]"),
        ("emails", ["a@example.com"], "$.emails[0]"),
    ],
)
def test_single_field_problems_are_path_qualified(field: str, value: Any, path: str) -> None:
    with pytest.raises(ValidationError) as exc:
        open_individual(**{field: value})
    assert path in paths(exc)


def test_version_must_be_a_positive_integer() -> None:
    customer = open_individual()
    for bad in (0, -1, True):
        with pytest.raises(ValidationError) as exc:
            attrs.evolve(customer, version=bad)
        assert paths(exc) == ["$.version"]


# -- custom attributes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "path"),
    [
        ({"pin": "1234"}, "$.custom_attributes.pin"),
        ({"Password": "hunter2"}, "$.custom_attributes.Password"),
        ({"cardCVV": "123"}, "$.custom_attributes.cardCVV"),
        ({"交易密码": "888888"}, "$.custom_attributes.交易密码"),
        ({"bank": {"login_password": "x"}}, "$.custom_attributes.bank.login_password"),
        ({"cards": [{"cvv2": "999"}]}, "$.custom_attributes.cards[0].cvv2"),
    ],
)
def test_authentication_data_is_refused(attributes: dict[str, Any], path: str) -> None:
    with pytest.raises(AuthenticationDataRefused) as exc:
        open_individual(custom_attributes=attributes)
    assert paths(exc) == [path]
    for secret in ("1234", "hunter2", "123", "888888", "999"):
        assert f"'{secret}'" not in str(exc.value)


def test_authentication_data_is_refused_on_revise_too() -> None:
    customer = open_individual()
    with pytest.raises(AuthenticationDataRefused):
        customer.revise(at=LATER, custom_attributes={"nested": {"pin_code": "0000"}})


@pytest.mark.parametrize(
    ("attributes", "path"),
    [
        ({"ratio": 1.5}, "$.custom_attributes.ratio"),
        ({"list": [1, 2.0]}, "$.custom_attributes.list[1]"),
        ({"amount": Decimal("1.5")}, "$.custom_attributes.amount"),
        ({"when": datetime.date(2025, 1, 1)}, "$.custom_attributes.when"),
        ({"big": 2**63}, "$.custom_attributes.big"),
        ({"tuple": (1, 2)}, "$.custom_attributes.tuple"),
        ({1: "x"}, "$.custom_attributes"),
    ],
)
def test_custom_attributes_are_json_without_floats(attributes: dict[Any, Any], path: str) -> None:
    with pytest.raises(ValidationError) as exc:
        open_individual(custom_attributes=attributes)
    assert paths(exc) == [path]


def test_custom_attributes_accept_json_values() -> None:
    value = {"a": None, "b": True, "c": -(2**63 - 1), "d": "1.50", "e": [{"f": []}]}
    assert open_individual(custom_attributes=value).custom_attributes == value


def test_custom_attributes_cannot_be_changed_behind_the_customers_back() -> None:
    source: dict[str, Any] = {"scores": [1]}
    customer = open_individual(custom_attributes=source)
    source["scores"].append(1.5)
    with pytest.raises((TypeError, AttributeError)):
        customer.custom_attributes["pin"] = "1234"  # type: ignore[index]
    assert customer.custom_attributes == {"scores": [1]}


def test_nested_custom_attributes_cannot_be_changed_through_the_customer() -> None:
    customer = open_individual(custom_attributes={"scores": [1], "bank": {"branch": "x"}})
    with pytest.raises((TypeError, AttributeError)):
        customer.custom_attributes["scores"].append(1.5)  # type: ignore[union-attr]
    with pytest.raises((TypeError, AttributeError)):
        customer.custom_attributes["bank"]["pin"] = "1234"  # type: ignore[index]
    assert customer.custom_attributes == {"scores": [1], "bank": {"branch": "x"}}


def test_custom_attributes_compare_as_a_mapping_and_unstructure_as_a_dict() -> None:
    customer = open_individual(custom_attributes={"segment": "mass"})
    assert dict(customer.custom_attributes) == {"segment": "mass"}
    same = attrs.evolve(customer, custom_attributes={"segment": "mass"})
    assert same == customer


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_customers_can_be_pickled_and_deep_copied(how: str) -> None:
    customer = make_individual(12)
    customer = attrs.evolve(customer, custom_attributes={"scores": [1], "bank": {"b": "x"}})
    again = pickle.loads(pickle.dumps(customer)) if how == "pickle" else copy.deepcopy(customer)
    assert again == customer
    assert again.custom_attributes == {"scores": [1], "bank": {"b": "x"}}
    with pytest.raises(TypeError):
        again.custom_attributes["scores"].append(1.5)  # type: ignore[union-attr]
    with pytest.raises(TypeError):
        again.custom_attributes["pin"] = "1234"  # type: ignore[index]


# -- bad arguments get finance_crm errors ----------------------------------------------


def test_a_single_string_for_tags_is_refused() -> None:
    with pytest.raises(ValidationError):
        open_individual(tags="vip")


@pytest.mark.parametrize(
    "build",
    [
        lambda: open_individual(risk_level=3),
        lambda: open_individual(status="active"),
        lambda: MarketingConsent(channel="sms", valid_from=datetime.date(2025, 1, 1)),
        lambda: HouseholdMember(name="欧阳小明", relation="child"),
        lambda: CorporateContact(name="赵六", role="director"),
        lambda: Address(kind="home", line="北京市朝阳区建国路88号"),
        lambda: open_corporate(registered_capital=Decimal("5000000")),
    ],
    ids=["risk_level", "status", "channel", "relation", "role", "address_kind", "capital"],
)
def test_wrong_types_raise_validation_error(build: Any) -> None:
    with pytest.raises(ValidationError):
        build()


@pytest.mark.parametrize(
    "build",
    [
        lambda: CorporateContact(name="赵六", role=ContactRole.DIRECTOR, is_primary="false"),
        lambda: open_corporate(size="large"),
        lambda: open_corporate(legal_representative="李四"),
        lambda: MarketingConsent(channel=Channel.SMS, valid_from=None),
    ],
    ids=["is_primary", "size", "legal_representative", "valid_from"],
)
def test_unvalidated_fields_refuse_wrong_types(build: Any) -> None:
    with pytest.raises(ValidationError):
        build()


@pytest.mark.parametrize("call", ["change_status", "withdraw_consent"])
def test_string_instead_of_enum_gets_a_finance_crm_error(call: str) -> None:
    customer = make_individual(3)
    with pytest.raises(CrmError):
        if call == "change_status":
            customer.change_status("dormant", at=LATER)  # type: ignore[arg-type]
        else:
            customer.withdraw_consent("sms", "marketing", at=LATER)  # type: ignore[arg-type]


# -- consents ------------------------------------------------------------------------


def test_consent_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        MarketingConsent(
            channel=Channel.SMS,
            valid_from=datetime.date(2025, 2, 1),
            valid_until=datetime.date(2025, 1, 31),
        )
    assert paths(exc) == ["$.valid_until"]


def test_one_day_consent_is_allowed() -> None:
    day = datetime.date(2025, 2, 1)
    consent = MarketingConsent(channel=Channel.SMS, valid_from=day, valid_until=day)
    assert consent.is_in_force(day)
    assert not consent.is_in_force(day + datetime.timedelta(days=1))


def test_consent_dates_must_be_dates() -> None:
    with pytest.raises(ValidationError) as exc:
        MarketingConsent(
            channel=Channel.SMS, valid_from=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
        )
    assert paths(exc) == ["$.valid_from"]


def test_naive_withdrawal_time_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        MarketingConsent(
            channel=Channel.SMS,
            valid_from=datetime.date(2025, 1, 1),
            withdrawn_at=datetime.datetime(2025, 3, 1),
        )
    assert paths(exc) == ["$.withdrawn_at"]


def _with_consent(**consent: Any) -> IndividualCustomer:
    fields = {"channel": Channel.SMS, "valid_from": datetime.date(2025, 1, 1)}
    fields.update(consent)
    return open_individual(consents=[MarketingConsent(**fields)])


def test_has_consent_is_bounded_by_its_dates_inclusive() -> None:
    customer = _with_consent(valid_until=datetime.date(2025, 6, 30))
    day = datetime.date
    assert not customer.has_consent(Channel.SMS, "marketing", day(2024, 12, 31))
    assert customer.has_consent(Channel.SMS, "marketing", day(2025, 1, 1))
    assert customer.has_consent(Channel.SMS, "marketing", day(2025, 6, 30))
    assert not customer.has_consent(Channel.SMS, "marketing", day(2025, 7, 1))


def test_has_consent_matches_channel_and_purpose() -> None:
    customer = _with_consent(purpose="wealth_products")
    on = datetime.date(2025, 3, 1)
    assert customer.has_consent(Channel.SMS, "wealth_products", on)
    assert not customer.has_consent(Channel.SMS, "marketing", on)
    assert not customer.has_consent(Channel.EMAIL, "wealth_products", on)


def test_open_ended_consent_lasts() -> None:
    customer = _with_consent()
    assert customer.has_consent(Channel.SMS, "marketing", datetime.date(2099, 12, 31))


def test_grant_consent_raises_consent_granted() -> None:
    customer = open_individual()
    consent = MarketingConsent(
        channel=Channel.EMAIL,
        purpose="insurance",
        valid_from=datetime.date(2025, 2, 1),
        valid_until=datetime.date(2025, 12, 31),
    )
    new, events = customer.grant_consent(consent, at=LATER)
    assert new.consents == (consent,)
    assert customer.consents == ()  # the original is untouched
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, ConsentGranted)
    assert (event.customer_id, event.occurred_at) == (customer.id, LATER)
    assert (event.channel, event.purpose) == ("email", "insurance")
    assert (event.valid_from, event.valid_until) == (consent.valid_from, consent.valid_until)
    assert new.has_consent(Channel.EMAIL, "insurance", datetime.date(2025, 2, 1))


def test_closed_customer_cannot_grant_consent() -> None:
    closed = make_individual(4, status=S.CLOSED)
    consent = MarketingConsent(channel=Channel.SMS, valid_from=datetime.date(2025, 1, 1))
    with pytest.raises(BusinessRuleViolation):
        closed.grant_consent(consent, at=LATER)


def test_withdrawal_stops_consent_from_its_date_and_keeps_history() -> None:
    customer = _with_consent()
    withdrawn_at = pendulum.datetime(2025, 3, 10, 2, 0, tz="UTC")
    new, events = customer.withdraw_consent(Channel.SMS, "marketing", at=withdrawn_at)
    assert len(new.consents) == 1
    assert new.consents[0].withdrawn_at == withdrawn_at
    assert new.has_consent(Channel.SMS, "marketing", datetime.date(2025, 3, 9))
    assert not new.has_consent(Channel.SMS, "marketing", datetime.date(2025, 3, 10))
    assert not new.has_consent(Channel.SMS, "marketing", datetime.date(2025, 12, 1))
    assert customer.has_consent(Channel.SMS, "marketing", datetime.date(2025, 12, 1))
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, ConsentWithdrawn)
    assert (event.customer_id, event.channel, event.purpose) == (customer.id, "sms", "marketing")
    assert event.occurred_at == withdrawn_at


def test_withdrawal_touches_only_that_channel_and_purpose() -> None:
    customer = open_individual(
        consents=[
            MarketingConsent(channel=Channel.SMS, valid_from=datetime.date(2025, 1, 1)),
            MarketingConsent(channel=Channel.EMAIL, valid_from=datetime.date(2025, 1, 1)),
        ]
    )
    new, _ = customer.withdraw_consent(Channel.SMS, "marketing", at=LATER)
    assert [c.withdrawn_at for c in new.consents] == [LATER, None]
    assert new.has_consent(Channel.EMAIL, "marketing", datetime.date(2025, 6, 1))


def test_withdraw_without_consent_is_refused() -> None:
    customer = open_individual()
    with pytest.raises(BusinessRuleViolation):
        customer.withdraw_consent(Channel.SMS, "marketing", at=LATER)


def test_withdraw_twice_is_refused_and_regrant_restores() -> None:
    customer = _with_consent()
    withdrawn, _ = customer.withdraw_consent(Channel.SMS, "marketing", at=LATER)
    with pytest.raises(BusinessRuleViolation):
        withdrawn.withdraw_consent(Channel.SMS, "marketing", at=LATER)
    again = MarketingConsent(channel=Channel.SMS, valid_from=datetime.date(2025, 6, 1))
    regranted, _ = withdrawn.grant_consent(again, at=LATER)
    assert len(regranted.consents) == 2
    assert not regranted.has_consent(Channel.SMS, "marketing", datetime.date(2025, 5, 31))
    assert regranted.has_consent(Channel.SMS, "marketing", datetime.date(2025, 6, 1))


@given(
    start=st.dates(datetime.date(2000, 1, 1), datetime.date(2030, 12, 31)),
    length=st.integers(0, 400),
    on=st.dates(datetime.date(1999, 1, 1), datetime.date(2032, 12, 31)),
)
def test_has_consent_is_exactly_the_inclusive_period(
    start: datetime.date, length: int, on: datetime.date
) -> None:
    until = start + datetime.timedelta(days=length)
    consent = MarketingConsent(channel=Channel.SMS, valid_from=start, valid_until=until)
    assert consent.is_in_force(on) == (start <= on <= until)


# -- lifecycle -------------------------------------------------------------------------

ALLOWED = {
    (S.PROSPECT, S.ACTIVE),
    (S.PROSPECT, S.CLOSED),
    (S.ACTIVE, S.DORMANT),
    (S.ACTIVE, S.CLOSED),
    (S.DORMANT, S.ACTIVE),
    (S.DORMANT, S.CLOSED),
}


@pytest.mark.parametrize("old", list(S))
@pytest.mark.parametrize("new", list(S))
def test_status_transitions(old: LifecycleStatus, new: LifecycleStatus) -> None:
    customer = make_individual(11, status=old)
    if (old, new) in ALLOWED:
        changed, events = customer.change_status(new, at=LATER, reason="review")
        assert changed.status is new
        assert customer.status is old
        assert events == [
            CustomerStatusChanged(
                occurred_at=LATER,
                customer_id=customer.id,
                old_status=old.value,
                new_status=new.value,
                reason="review",
                event_id=events[0].event_id,
            )
        ]
    else:
        with pytest.raises(BusinessRuleViolation) as exc:
            customer.change_status(new, at=LATER)
        assert new.value in str(exc.value)


def test_prospect_without_documents_cannot_become_active() -> None:
    prospect = open_individual(identity_documents=[], status=S.PROSPECT)
    with pytest.raises(ValidationError) as exc:
        prospect.change_status(S.ACTIVE, at=LATER)
    assert paths(exc) == ["$.identity_documents"]
    assert prospect.status is S.PROSPECT


def test_prospect_without_documents_can_be_closed() -> None:
    prospect = open_individual(identity_documents=[], status=S.PROSPECT)
    closed, _ = prospect.change_status(S.CLOSED, at=LATER, reason="never converted")
    assert closed.status is S.CLOSED


# -- revise --------------------------------------------------------------------------


def test_revise_returns_new_customer_and_names_the_changed_fields() -> None:
    customer = open_individual()
    email = EmailAddress("nana@example.com")
    new, events = customer.revise(
        at=LATER, occupation="doctor", emails=(email,), nationality=customer.nationality
    )
    assert new.occupation == "doctor"
    assert new.emails == (email,)
    assert customer.occupation is None
    assert new.version == customer.version  # the repository moves the version
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, CustomerRevised)
    assert event.fields == ("occupation", "emails")
    assert (event.customer_id, event.occurred_at) == (customer.id, LATER)


def test_revise_without_a_real_change_raises_nothing() -> None:
    customer = open_individual()
    same, events = customer.revise(at=LATER, name=customer.name)
    assert same is customer
    assert events == []


def test_revise_event_carries_no_personal_values() -> None:
    customer = open_individual()
    _, events = customer.revise(at=LATER, name="司马光", phones=(Phone(number="13711112222"),))
    text = repr(events)
    assert "司马光" not in text
    assert "13711112222" not in text
    assert events[0].fields == ("name", "phones")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", FIXED_ID),
        ("version", 2),
        ("opened_at", LATER),
        ("status", S.CLOSED),
        ("consents", ()),
    ],
)
def test_revise_of_fixed_fields_is_refused(field: str, value: Any) -> None:
    customer = open_individual()
    with pytest.raises(BusinessRuleViolation) as exc:
        customer.revise(at=LATER, **{field: value})
    assert field in str(exc.value)


def test_revise_of_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        open_individual().revise(at=LATER, legal_name="not for a person")
    assert "legal_name" in str(exc.value)


def test_revise_runs_every_invariant() -> None:
    customer = open_individual()
    with pytest.raises(ValidationError) as exc:
        customer.revise(at=LATER, birthday=datetime.date(2001, 1, 1))
    assert paths(exc) == ["$.identity_documents[0].number"]
    with pytest.raises(ValidationError):
        customer.revise(at=LATER, identity_documents=())
    with pytest.raises(ValidationError):
        customer.revise(at=LATER, preferred_channels=(Channel.SMS, Channel.SMS))


@pytest.mark.parametrize("method", ["revise", "change_status", "grant", "withdraw"])
def test_naive_change_time_is_refused(method: str) -> None:
    customer = make_individual(5)
    naive = datetime.datetime(2025, 2, 1, 12)
    with pytest.raises(ValidationError):
        if method == "revise":
            customer.revise(at=naive, occupation="pilot")
        elif method == "change_status":
            customer.change_status(S.DORMANT, at=naive)
        elif method == "grant":
            consent = MarketingConsent(channel=Channel.APP, valid_from=datetime.date(2025, 1, 1))
            customer.grant_consent(consent, at=naive)
        else:
            customer.withdraw_consent(Channel.SMS, "marketing", at=naive)


def test_event_time_in_another_zone_becomes_utc() -> None:
    local = pendulum.datetime(2025, 2, 1, 8, tz="Asia/Shanghai")
    _, events = make_individual(5).revise(at=local, occupation="pilot")
    assert events[0].occurred_at.utcoffset() == datetime.timedelta(0)
    assert events[0].occurred_at == local


# -- masking -------------------------------------------------------------------------


def _birth_digits(day: datetime.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


@pytest.mark.parametrize("render", [repr, str])
def test_individual_renders_masked(render: Any) -> None:
    customer = open_individual(
        household=[
            HouseholdMember(
                name="欧阳小明",
                relation=HouseholdRelation.CHILD,
                birthday=datetime.date(2012, 4, 5),
            )
        ],
        emails=[EmailAddress("nana.ouyang@example.com")],
        addresses=[Address(kind=AddressKind.HOME, line="北京市朝阳区建国路88号")],
    )
    text = render(customer)
    assert "name='欧阳**'" in text  # the surname stays visible
    assert f"'{RESIDENT_ID[0]}{'*' * 16}{RESIDENT_ID[-1]}'" in text  # ID: first 1, last 1
    assert "'139****4321'" in text  # mobile: first 3 and last 4
    for secret in (
        NAME,
        "娜娜",
        RESIDENT_ID,
        _birth_digits(BIRTHDAY),
        BIRTHDAY.isoformat(),
        MOBILE,
        "欧阳小明",
        "2012-04-05",
        "nana.ouyang",
        "建国路88号",
    ):
        assert secret not in text


def test_id_number_masking_hides_birth_digits_whatever_the_rule() -> None:
    doc = resident_doc()
    assert f"number='{RESIDENT_ID[0]}{'*' * 16}{RESIDENT_ID[-1]}'" in repr(doc)
    generous = StandardMasking(id_number=(10, 4))
    shown = doc.masked_number(generous)
    assert shown[:6] == RESIDENT_ID[:6]
    assert shown[6:14] == "*" * 8
    assert shown[14:] == RESIDENT_ID[14:]


def test_corporate_renders_people_masked() -> None:
    company = open_corporate(
        legal_representative=LegalRepresentative(
            name="司马光",
            identity_document=resident_doc(OTHER_RESIDENT_ID),
            phone=Phone(number="13566667777"),
        ),
        contacts=[
            CorporateContact(
                name="John Smith",
                role=ContactRole.DIRECTOR,
                phones=(Phone(number="13688889999"),),
            )
        ],
    )
    text = repr(company)
    assert "司马*" in text
    assert "J*** Smith" in text
    assert "示例科技有限公司" in text  # a company's legal name is not personal data
    for secret in ("司马光", OTHER_RESIDENT_ID, "19751103", "13566667777", "13688889999", "John"):
        assert secret not in text


@given(seed=st.integers(0, 10**6))
def test_factory_customers_never_show_their_personal_values(seed: int) -> None:
    customer = make_individual(seed)
    text = repr(customer)
    assert customer.name not in text
    assert customer.identity_documents[0].number not in text
    assert customer.phones[0].number not in text
    assert customer.birthday is not None
    assert customer.birthday.isoformat() not in text


# -- equality and hashing ---------------------------------------------------------------


def test_customers_compare_by_value_and_hash() -> None:
    assert open_individual() == open_individual()
    assert hash(open_individual()) == hash(open_individual())
    assert open_individual() != open_individual(occupation="x")
    assert isinstance(open_corporate(), Customer)


def test_withdrawal_counts_from_its_business_date_in_the_institutions_zone() -> None:
    consent = MarketingConsent(
        channel=Channel.SMS,
        valid_from=datetime.date(2025, 1, 1),
        # 20:00 on 1 March in New York is 01:00 UTC on 2 March
        withdrawn_at=datetime.datetime(2025, 3, 2, 1, 0, tzinfo=datetime.UTC),
    )
    assert consent.is_in_force(datetime.date(2025, 3, 1), tz="America/New_York") is False
    assert consent.is_in_force(datetime.date(2025, 2, 28), tz="America/New_York") is True
    # in Shanghai the same instant is 09:00 on 2 March: 1 March is still covered
    assert consent.is_in_force(datetime.date(2025, 3, 1)) is True
    assert consent.is_in_force(datetime.date(2025, 3, 2)) is False
