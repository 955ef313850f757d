"""Masking of personal data, refusal of authentication data, and the Actor."""

from __future__ import annotations

import datetime
from typing import Any

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from finance_crm.errors import AuthenticationDataRefused, ValidationError
from finance_crm.security import (
    AUTHENTICATION_DATA_KEYS,
    DEFAULT_MASKING,
    NO_MASKING,
    Actor,
    Keep,
    PersonalDataKind,
    StandardMasking,
    Unmasked,
    masked,
    normalise_key,
    refuse_authentication_data,
)

K = PersonalDataKind
_REFUSED = "authentication data (passwords, PINs, CVV) may not be stored; remove this key"


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (K.ID_NUMBER, "110105199003071234", "1****************4"),
        (K.ID_NUMBER, "11010519900307123x", "1****************x"),
        (K.MOBILE, "13812345678", "138****5678"),
        (K.MOBILE, "+8613812345678", "+86138****5678"),
        (K.MOBILE, "+86 13812345678", "+86 138****5678"),
        (K.MOBILE, "008613812345678", "0086138****5678"),
        (K.MOBILE, "+447911123456", "+447*****3456"),
        (K.PHONE, "010-62345678", "***-****5678"),
        (K.CARD_NUMBER, "6222021234567890", "622202******7890"),
        (K.CARD_NUMBER, "6222 0212 3456 7890", "6222 02** **** 7890"),
        (K.ACCOUNT_NUMBER, "6217000010012345678", "621700*********5678"),
        (K.NAME, "张三丰", "张**"),
        (K.NAME, "张三", "张*"),
        (K.NAME, "张", "*"),
        (K.NAME, "欧阳娜娜", "欧阳**"),
        (K.NAME, "司马光", "司马*"),
        (K.NAME, "诸葛亮", "诸葛*"),
        (K.NAME, "欧阳", "欧*"),
        (K.NAME, "阿卜杜拉·买买提", "阿***·***"),
        (K.NAME, "John Smith", "J*** Smith"),
        (K.NAME, "Mary Ann Smith", "M*** A** Smith"),
        (K.NAME, "Smith, John", "Smith, J***"),
        (K.NAME, "Madonna", "M******"),
        (K.NAME, "X", "*"),
        (K.EMAIL, "zhang@example.com", "z****@example.com"),
        (K.EMAIL, "z@example.com", "*@example.com"),
        (K.EMAIL, "not-an-email", "***-**-*****"),
        (K.ADDRESS, "北京市朝阳区建国路88号", "北京市朝阳区******"),
        (K.ADDRESS, "北京市", "***"),
        (K.BIRTHDAY, "1990-03-07", "****-**-**"),
        (K.BIRTHDAY, "19900307", "****-**-**"),
        (K.FREE_TEXT, "VIP, prefers calls after 6pm", "****"),
        (K.FREE_TEXT, "x", "****"),
    ],
)
def test_default_masking_examples(kind: PersonalDataKind, value: str, expected: str) -> None:
    assert DEFAULT_MASKING.mask(kind, value) == expected


@pytest.mark.parametrize("kind", list(PersonalDataKind))
def test_empty_value_stays_empty(kind: PersonalDataKind) -> None:
    assert DEFAULT_MASKING.mask(kind, "") == ""


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (K.MOBILE, "1381234"),  # 7 <= 3 + 4
        (K.CARD_NUMBER, "6222021234"),  # 10 <= 6 + 4
        (K.ID_NUMBER, "AB"),
        (K.ADDRESS, "朝阳区"),
    ],
)
def test_short_values_are_fully_masked(kind: PersonalDataKind, value: str) -> None:
    assert DEFAULT_MASKING.mask(kind, value) == "*" * len(value)


def test_keep_is_configurable_per_kind() -> None:
    rule = StandardMasking(mobile=Keep(0, 4), card_number=(4, 4), mask_char="#")
    assert rule.mask(K.MOBILE, "13812345678") == "#######5678"
    assert rule.mask(K.CARD_NUMBER, "6222021234567890") == "6222########7890"
    assert rule.mask(K.ID_NUMBER, "110105199003071234") == "1################4"


def test_name_can_be_masked_by_position() -> None:
    rule = StandardMasking(name=Keep(0, 1))
    assert rule.mask(K.NAME, "张三丰") == "**丰"


def test_id_number_never_shows_birth_digits_even_when_configured_to() -> None:
    rule = StandardMasking(id_number=Keep(10, 4))
    assert rule.mask(K.ID_NUMBER, "110105199003071234") == "110105********1234"
    assert StandardMasking(id_number=Keep(10, 3)).mask(K.ID_NUMBER, "110105900307123") == (
        "110105******123"
    )


@given(
    st.dates(datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)),
    st.integers(0, 18),
    st.integers(0, 18),
)
def test_birth_digits_hidden_for_any_keep(birth: datetime.date, first: int, last: int) -> None:
    number = f"110105{birth:%Y%m%d}1234"
    shown = StandardMasking(id_number=Keep(first, last)).mask(K.ID_NUMBER, number)
    assert shown[6:14] == "********"
    assert f"{birth:%Y%m%d}" not in shown


_LETTERS_AND_SPACES = st.characters(categories=("L", "N"), include_characters=" ")


@given(st.text(_LETTERS_AND_SPACES, min_size=1, max_size=40), st.sampled_from(list(K)))
def test_masking_never_returns_the_whole_value(value: str, kind: PersonalDataKind) -> None:
    assume(value.strip())
    assert DEFAULT_MASKING.mask(kind, value) != value


@given(st.text(min_size=1, max_size=40), st.sampled_from(list(K)))
def test_masking_any_text_keeps_length_or_fixed_form(value: str, kind: PersonalDataKind) -> None:
    shown = DEFAULT_MASKING.mask(kind, value)
    if kind is K.BIRTHDAY:
        assert shown == "****-**-**"
    elif kind is K.FREE_TEXT:
        assert shown == "****"
    else:
        assert len(shown) == len(value)


def test_mask_char_must_be_one_character() -> None:
    with pytest.raises(ValidationError, match=r"\$\.mask_char"):
        StandardMasking(mask_char="**")


def test_keep_must_not_be_negative() -> None:
    with pytest.raises(ValidationError, match=r"\$\.first"):
        Keep(-1, 0)


def test_unmasked_returns_values_as_they_are() -> None:
    assert NO_MASKING.mask(K.ID_NUMBER, "110105199003071234") == "110105199003071234"
    assert isinstance(NO_MASKING, Unmasked)


@attrs.frozen
class _Person:
    name: str = attrs.field(repr=masked(K.NAME))
    birthday: datetime.date | None = attrs.field(default=None, repr=masked(K.BIRTHDAY))
    mobile: str | None = attrs.field(default=None, repr=masked(K.MOBILE))


def test_masked_repr_helper() -> None:
    person = _Person("张三丰", datetime.date(1990, 3, 7), None)
    assert repr(person) == "_Person(name='张**', birthday='****-**-**', mobile=None)"
    assert str(person) == repr(person)
    assert "1990" not in repr(person)


def test_masked_repr_of_other_objects_uses_str() -> None:
    assert masked(K.ACCOUNT_NUMBER)(6217000010012345678) == "'621700*********5678'"


# --- authentication data -----------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Password",
        " PIN ",
        "pin-code",
        "PinCode",
        "CVV2",
        "cvc",
        "security code",
        "securityCode",
        "OTP",
        "oneTimePassword",
        "track_data",
        "bank_pin",
        "bankPIN",
        "loginPassword",
        "card-cvv",
        "ATM_PIN",
        "密码",
        "交易密码",
        "查询密码",
        "支付密码",
        "安全码",
        "验证码",
        "网银登录密码",
    ],
)
def test_authentication_keys_are_refused(key: str) -> None:
    with pytest.raises(AuthenticationDataRefused) as info:
        refuse_authentication_data({key: "secret-value-1234"})
    assert "secret-value-1234" not in str(info.value)
    assert info.value.problems[0].message == _REFUSED


@pytest.mark.parametrize(
    "key",
    ["name", "pinyin", "name_pinyin", "shipping", "spin_rate", "opinion", "passport", "mobile"],
)
def test_ordinary_keys_pass(key: str) -> None:
    refuse_authentication_data({key: "value"})


def test_nested_authentication_data_is_refused_with_its_path() -> None:
    data = {
        "name": "张三",
        "custom_attributes": {
            "bank_pin": "1234",
            "cards": [{"number": "6222021234567890", "CVV2": "123"}],
        },
        "notes": ("ok", {"loginPassword": "hunter2"}),
        "weird key": {"支付密码": "654321"},
    }
    with pytest.raises(AuthenticationDataRefused) as info:
        refuse_authentication_data(data)
    paths = [p.path for p in info.value.problems]
    assert paths == [
        "$.custom_attributes.bank_pin",
        "$.custom_attributes.cards[0].CVV2",
        "$.notes[1].loginPassword",
        "$['weird key'].支付密码",
    ]
    for secret in ("1234", "123", "hunter2", "654321", "6222021234567890"):
        assert secret not in str(info.value)
    assert isinstance(info.value, ValidationError)


def test_refusal_uses_the_given_root_path() -> None:
    with pytest.raises(AuthenticationDataRefused) as info:
        refuse_authentication_data({"pwd": "x"}, path="$.custom_attributes")
    assert str(info.value) == f"$.custom_attributes.pwd: {_REFUSED}"


def test_clean_nested_data_passes() -> None:
    refuse_authentication_data({"a": [{"b": {"c": [1, 2, {"d": None}]}}], "e": ("f",)})


def test_non_string_keys_are_walked_with_their_repr() -> None:
    data: dict[Any, object] = {3: {"cvv": "123"}}
    with pytest.raises(AuthenticationDataRefused) as info:
        refuse_authentication_data(data)
    assert info.value.problems[0].path == "$[3].cvv"


@pytest.mark.parametrize(
    ("key", "normalised"),
    [
        ("bankPIN", "bank_pin"),
        ("CVV2Code", "cvv2_code"),
        ("PINCode", "pin_code"),
        (" Security-Code ", "security_code"),
        ("one time  password", "one_time_password"),
        ("card.cvv", "card_cvv"),
        ("交易密码", "交易密码"),
    ],
)
def test_normalise_key(key: str, normalised: str) -> None:
    assert normalise_key(key) == normalised


def test_authentication_keys_are_normalised_already() -> None:
    for key in AUTHENTICATION_DATA_KEYS:
        assert normalise_key(key) == key


# --- Actor ---------------------------------------------------------------------------------


def test_actor() -> None:
    actor = Actor("rm-0042", frozenset({"relationship_manager"}), "王小明")
    assert actor.roles == {"relationship_manager"}
    assert "王小明" not in repr(actor)
    assert "王**" in repr(actor)


def test_actor_roles_accept_any_iterable() -> None:
    assert Actor("u", ["a", "b"]).roles == frozenset({"a", "b"})


def test_system_actor() -> None:
    assert Actor.system("nightly-tiering") == Actor(
        id="system:nightly-tiering", roles=frozenset({"system"})
    )


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"id": ""}, "$.id"),
        ({"id": "   "}, "$.id"),
        ({"id": "u", "roles": "admin"}, "$.roles"),
        ({"id": "u", "roles": frozenset({""})}, "$.roles"),
        ({"id": "u", "display_name": ""}, "$.display_name"),
    ],
)
def test_actor_validation(kwargs: dict[str, object], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        Actor(**kwargs)  # type: ignore[arg-type]
    assert info.value.problems[0].path == path


def test_system_actor_needs_a_job_name() -> None:
    with pytest.raises(ValidationError, match=r"\$\.job_name"):
        Actor.system("")
