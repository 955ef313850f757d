"""Identity documents, checksums, phones and e-mail addresses."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from finance_crm.errors import ValidationError
from finance_crm.model.documents import (
    EmailAddress,
    IdDocumentType,
    IdentityDocument,
    Phone,
    PhoneKind,
    check_lei,
    check_resident_id,
    check_unified_social_credit_code,
    make_lei,
    make_resident_id,
    make_unified_social_credit_code,
)
from finance_crm.security import NO_MASKING

T = IdDocumentType

regions = st.integers(100_000, 999_999).map(str)
births = st.dates(datetime.date(1900, 1, 1), datetime.date(2099, 12, 31))
sequences = st.integers(0, 999)
resident_ids = st.builds(make_resident_id, regions, births, sequences)
uscc_seeds = st.integers(0, 799_999_999)
mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)

_RESIDENT_CHECK_CHARS = "0123456789X"
_USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _raised(make: Callable[..., object], *args: object) -> ValidationError | None:
    try:
        make(*args)
    except ValidationError as exc:
        return exc
    return None


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in exc.problems]


# --- document types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc_type", "individual"),
    [
        (T.RESIDENT_ID, True),
        (T.PASSPORT, True),
        (T.HK_MACAO_PERMIT, True),
        (T.TAIWAN_PERMIT, True),
        (T.FOREIGN_PERMANENT_RESIDENT_ID, True),
        (T.MILITARY_ID, True),
        (T.UNIFIED_SOCIAL_CREDIT_CODE, False),
        (T.BUSINESS_LICENSE, False),
        (T.ORGANIZATION_CODE, False),
        (T.LEI, False),
    ],
)
def test_document_type_audience(doc_type: IdDocumentType, individual: bool) -> None:
    assert doc_type.for_individuals is individual
    assert doc_type.for_organisations is not individual


def test_document_type_values() -> None:
    assert T("resident_id") is T.RESIDENT_ID
    assert T("uscc") is T.UNIFIED_SOCIAL_CREDIT_CODE
    assert T("lei") is T.LEI


# --- resident ID ---------------------------------------------------------------------------


def test_standard_example_resident_id() -> None:
    # The worked example of GB 11643-1999.
    assert check_resident_id("11010519491231002X") == datetime.date(1949, 12, 31)
    assert check_resident_id("11010519491231002x") == datetime.date(1949, 12, 31)


def test_make_resident_id_known_value() -> None:
    assert make_resident_id("110105", datetime.date(1949, 12, 31), 2) == "11010519491231002X"


@given(regions, births, sequences)
def test_generated_resident_ids_are_valid(region: str, birth: datetime.date, seq: int) -> None:
    number = make_resident_id(region, birth, seq)
    assert len(number) == 18
    assert number.startswith(region + f"{birth:%Y%m%d}")
    assert check_resident_id(number) == birth


@given(resident_ids)
def test_every_wrong_check_character_is_rejected(number: str) -> None:
    for char in _RESIDENT_CHECK_CHARS:
        if char == number[17]:
            continue
        corrupt = number[:17] + char
        with pytest.raises(ValidationError) as info:
            check_resident_id(corrupt)
        assert "check digit does not match" in str(info.value)
        assert corrupt not in str(info.value)
        assert number[:17] not in str(info.value)


@given(resident_ids, st.integers(0, 16), st.integers(1, 9))
def test_every_single_digit_corruption_is_rejected(number: str, pos: int, delta: int) -> None:
    digit = str((int(number[pos]) + delta) % 10)
    corrupt = number[:pos] + digit + number[pos + 1 :]
    with pytest.raises(ValidationError) as info:
        check_resident_id(corrupt)
    assert corrupt not in str(info.value)
    assert corrupt[6:14] not in str(info.value)


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("11010519491231002", "must be 18 characters"),
        ("11010519491231002XX", "must be 18 characters"),
        ("1101051949123100AX", "must be 18 characters"),
        ("11010519491231002Y", "must be 18 characters"),
        ("１１０１０５１９４９１２３１００２X", "must be 18 characters"),  # full-width digits
        ("01010519491231002X", "region code whose first digit is 1-9"),
        (make_resident_id("110105", datetime.date(1990, 3, 7), 123)[:10] + "0230123X", "birth"),
        ("110105179912310021", "birth"),
        ("110105199003071230", "check digit does not match"),
    ],
)
def test_malformed_resident_ids(number: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        check_resident_id(number)
    assert number not in str(info.value)
    assert all(p.path == "$" for p in info.value.problems)
    assert info.value.__cause__ is None


def test_check_digit_message() -> None:
    with pytest.raises(ValidationError) as info:
        check_resident_id("110105199003071230")
    assert _problems(info.value) == [
        (
            "$",
            "resident ID number check digit does not match (ISO 7064 MOD 11-2); re-key the number",
        )
    ]


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (("11010", datetime.date(1990, 1, 1), 1), "$.region"),
        (("011010", datetime.date(1990, 1, 1), 1), "$.region"),
        (("11010a", datetime.date(1990, 1, 1), 1), "$.region"),
        (("110105", datetime.date(1700, 1, 1), 1), "$.birth"),
        (("110105", datetime.date(1990, 1, 1), 1000), "$.sequence"),
        (("110105", datetime.date(1990, 1, 1), -1), "$.sequence"),
    ],
)
def test_make_resident_id_rejects_bad_arguments(
    args: tuple[str, datetime.date, int], path: str
) -> None:
    with pytest.raises(ValidationError) as info:
        make_resident_id(*args)
    assert info.value.problems[0].path == path


# --- unified social credit code ------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["91330100799655058B", "91110000802100433B", "91350100M000100Y43", "91440300708461136T"],
)
def test_real_format_unified_social_credit_codes(code: str) -> None:
    check_unified_social_credit_code(code)
    check_unified_social_credit_code(code.lower())


@given(uscc_seeds)
def test_generated_unified_social_credit_codes_are_valid(seed: int) -> None:
    code = make_unified_social_credit_code(seed)
    assert len(code) == 18
    check_unified_social_credit_code(code)


@given(uscc_seeds)
def test_every_wrong_uscc_check_character_is_rejected(seed: int) -> None:
    code = make_unified_social_credit_code(seed)
    for char in _USCC_CHARSET:
        if char == code[17]:
            continue
        corrupt = code[:17] + char
        with pytest.raises(ValidationError, match="check character does not match") as info:
            check_unified_social_credit_code(corrupt)
        assert corrupt not in str(info.value)


@given(uscc_seeds, st.integers(0, 16), st.integers(1, 30))
def test_every_single_uscc_corruption_is_rejected(seed: int, pos: int, delta: int) -> None:
    code = make_unified_social_credit_code(seed)
    char = _USCC_CHARSET[(_USCC_CHARSET.index(code[pos]) + delta) % 31]
    with pytest.raises(ValidationError):
        check_unified_social_credit_code(code[:pos] + char + code[pos + 1 :])


def test_distinct_seeds_give_distinct_codes() -> None:
    seeds = [0, 1, 99_999_999, 100_000_000, 100_000_001, 799_999_999]
    assert len({make_unified_social_credit_code(s) for s in seeds}) == len(seeds)


@pytest.mark.parametrize(
    "code", ["9133010079965505", "91330100799655058BB", "91330100799655058I", "9133O100799655058B"]
)
def test_malformed_unified_social_credit_codes(code: str) -> None:
    with pytest.raises(ValidationError, match="must be 18 characters") as info:
        check_unified_social_credit_code(code)
    assert code not in str(info.value)


def test_make_uscc_rejects_negative_seed() -> None:
    with pytest.raises(ValidationError, match=r"\$\.seed"):
        make_unified_social_credit_code(-1)


# --- LEI -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lei", ["HWUPKR0MPOU8FGXBT394", "54930053HGCFWVHYZX42", "5493001KJTIIGC8Y1R12"]
)
def test_real_format_leis(lei: str) -> None:
    check_lei(lei)
    check_lei(lei.lower())


@given(st.integers(0, 36**12 - 1))
def test_generated_leis_are_valid_and_check_digit_corruption_is_rejected(seed: int) -> None:
    lei = make_lei(seed)
    check_lei(lei)
    for pos in (18, 19):
        for digit in "0123456789":
            if digit == lei[pos]:
                continue
            corrupt = lei[:pos] + digit + lei[pos + 1 :]
            with pytest.raises(ValidationError, match="check digits do not match") as info:
                check_lei(corrupt)
            assert corrupt not in str(info.value)


@pytest.mark.parametrize(
    "lei", ["HWUPKR0MPOU8FGXBT39", "HWUPKR0MPOU8FGXBT3X4", "HWUPKR0MPOU8FGXBT-94"]
)
def test_malformed_leis(lei: str) -> None:
    with pytest.raises(ValidationError, match="must be 20 characters"):
        check_lei(lei)


# --- IdentityDocument ----------------------------------------------------------------------


def test_resident_id_document() -> None:
    doc = IdentityDocument(T.RESIDENT_ID, " 11010519491231002x ")
    assert doc.number == "11010519491231002X"
    assert doc.birth_date == datetime.date(1949, 12, 31)
    assert doc.issuing_country == "CN"
    assert doc.masked_number() == "1****************X"
    assert doc.masked_number(NO_MASKING) == "11010519491231002X"
    assert repr(doc) == (
        "IdentityDocument(type=<IdDocumentType.RESIDENT_ID: 'resident_id'>, "
        "number='1****************X', issuing_country='CN', valid_until=None)"
    )
    assert str(doc) == repr(doc)


@given(resident_ids)
def test_document_repr_never_shows_the_number(number: str) -> None:
    doc = IdentityDocument(T.RESIDENT_ID, number, valid_until=datetime.date(2040, 1, 1))
    for text in (repr(doc), str(doc), repr([doc]), f"{doc}"):
        assert number not in text
        assert number[6:14] not in text
        assert number[:6] not in text


def test_documents_are_frozen_and_slotted() -> None:
    doc = IdentityDocument(T.PASSPORT, "E12345678", "CN")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        doc.number = "E00000000"  # type: ignore[misc]
    assert not hasattr(doc, "__dict__")
    assert doc.birth_date is None


def test_equal_documents_compare_equal_after_normalising() -> None:
    a = IdentityDocument(T.PASSPORT, "e12345678", "GB")
    assert a == IdentityDocument(T.PASSPORT, "E12345678", "GB")
    assert hash(a) == hash(IdentityDocument(T.PASSPORT, "E12345678", "GB"))


@pytest.mark.parametrize(
    ("doc_type", "number"),
    [
        (T.UNIFIED_SOCIAL_CREDIT_CODE, "91330100799655058b"),
        (T.LEI, "HWUPKR0MPOU8FGXBT394"),
        (T.PASSPORT, "E1234"),
        (T.HK_MACAO_PERMIT, "H12345678"),
        (T.TAIWAN_PERMIT, "12345678"),
        (T.FOREIGN_PERMANENT_RESIDENT_ID, "USA110079120201"),
        (T.MILITARY_ID, "南字第1234567号"),
        (T.ORGANIZATION_CODE, "79965505-8"),
        (T.BUSINESS_LICENSE, "330100000012345"),
    ],
)
def test_valid_documents(doc_type: IdDocumentType, number: str) -> None:
    doc = IdentityDocument(doc_type, number)
    assert doc.number == number.upper()
    assert number.upper() not in repr(doc)


@pytest.mark.parametrize(
    ("kwargs", "path", "message"),
    [
        ({"type": T.RESIDENT_ID, "number": ""}, "$.number", "must not be empty"),
        ({"type": T.RESIDENT_ID, "number": "   "}, "$.number", "must not be empty"),
        ({"type": T.PASSPORT, "number": "E123 45678"}, "$.number", "whitespace"),
        ({"type": T.RESIDENT_ID, "number": "110105199003071230"}, "$.number", "check digit"),
        (
            {"type": T.UNIFIED_SOCIAL_CREDIT_CODE, "number": "91330100799655058C"},
            "$.number",
            "check",
        ),
        ({"type": T.LEI, "number": "HWUPKR0MPOU8FGXBT395"}, "$.number", "check digits"),
        ({"type": T.PASSPORT, "number": "E123"}, "$.number", "5-20 letters or digits"),
        ({"type": T.PASSPORT, "number": "E1234567-8"}, "$.number", "5-20 letters or digits"),
        ({"type": T.MILITARY_ID, "number": "X" * 51}, "$.number", "at most 50"),
        ({"type": T.PASSPORT, "number": 12345678}, "$.number", "must be a string"),
        ({"type": "passport", "number": "E12345678"}, "$.type", "IdDocumentType"),
        (
            {"type": T.PASSPORT, "number": "E12345678", "issuing_country": "cn"},
            "$.issuing_country",
            "two capital letters",
        ),
        (
            {"type": T.PASSPORT, "number": "E12345678", "issuing_country": "CHN"},
            "$.issuing_country",
            "two capital letters",
        ),
        (
            {"type": T.RESIDENT_ID, "number": "11010519491231002X", "issuing_country": "HK"},
            "$.issuing_country",
            "issued by CN only",
        ),
        (
            {
                "type": T.PASSPORT,
                "number": "E12345678",
                "valid_until": datetime.datetime(2030, 1, 1),
            },
            "$.valid_until",
            "must be a date",
        ),
    ],
)
def test_invalid_documents(kwargs: dict[str, object], path: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        IdentityDocument(**kwargs)  # type: ignore[arg-type]
    assert [p.path for p in info.value.problems] == [path]
    assert message in info.value.problems[0].message
    number = kwargs["number"]
    if isinstance(number, str) and number.strip():
        assert number not in str(info.value)


def test_document_problems_are_collected() -> None:
    with pytest.raises(ValidationError) as info:
        IdentityDocument(T.RESIDENT_ID, "01010519900230123X", issuing_country="cn")
    paths = [p.path for p in info.value.problems]
    assert paths == ["$.issuing_country", "$.number", "$.number", "$.number"]
    assert "01010519900230123X" not in str(info.value)
    assert "19900230" not in str(info.value)


def test_document_problems_nest_under_a_parent_path() -> None:
    with pytest.raises(ValidationError) as info:
        IdentityDocument(T.RESIDENT_ID, "110105199003071230")
    moved = info.value.under("$.identity_documents[0]")
    assert moved.problems[0].path == "$.identity_documents[0].number"


@given(resident_ids, st.integers(0, 17))
def test_document_error_messages_never_contain_the_number(number: str, pos: int) -> None:
    corrupt = number[:pos] + ("A" if number[pos] != "A" else "B") + number[pos + 1 :]
    with pytest.raises(ValidationError) as info:
        IdentityDocument(T.RESIDENT_ID, corrupt)
    assert corrupt not in str(info.value)
    assert corrupt not in repr(info.value)


# --- Phone ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "kind", "normalised", "shown"),
    [
        ("13812345678", PhoneKind.MOBILE, "13812345678", "138****5678"),
        ("138 1234 5678", PhoneKind.MOBILE, "13812345678", "138****5678"),
        ("138-1234-5678", PhoneKind.MOBILE, "13812345678", "138****5678"),
        ("+86 138 1234 5678", PhoneKind.MOBILE, "+8613812345678", "+86138****5678"),
        ("+44 7911 123456", PhoneKind.MOBILE, "+447911123456", "+447*****3456"),
        ("010-62345678", PhoneKind.HOME, "01062345678", "*******5678"),
        ("+86 21 6234 5678", PhoneKind.WORK, "+862162345678", "*********5678"),
        ("0755-8888 9999", PhoneKind.FAX, "075588889999", "********9999"),
        ("95588", PhoneKind.WORK, "95588", "*5588"),
    ],
)
def test_valid_phones(number: str, kind: PhoneKind, normalised: str, shown: str) -> None:
    phone = Phone(number, kind)
    assert phone.number == normalised
    assert phone.masked_number() == shown
    assert repr(phone) == f"Phone(number={shown!r}, kind={kind!r})"
    assert str(phone) == repr(phone)
    assert normalised not in repr(phone)


def test_phone_defaults_to_mobile() -> None:
    assert Phone("13812345678").kind is PhoneKind.MOBILE
    assert Phone("13812345678") == Phone("138 1234 5678")


@given(mobiles)
def test_phone_repr_never_shows_a_mobile_number(number: str) -> None:
    phone = Phone(number)
    assert number not in repr(phone)
    assert number not in str(phone)
    assert phone.masked_number()[3:7] == "****"


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("12812345678", PhoneKind.MOBILE),
        ("1381234567", PhoneKind.MOBILE),
        ("138123456789", PhoneKind.MOBILE),
        ("+1234567", PhoneKind.MOBILE),
        ("+1234567890123456", PhoneKind.MOBILE),
        ("138.1234.5678", PhoneKind.MOBILE),
        ("", PhoneKind.MOBILE),
        ("1234", PhoneKind.HOME),
        ("123456789012345678901", PhoneKind.WORK),
        ("(010) 62345678", PhoneKind.HOME),
        ("010-6234-567x", PhoneKind.FAX),
        ("++8613812345678", PhoneKind.HOME),
    ],
)
def test_invalid_phones(number: str, kind: PhoneKind) -> None:
    with pytest.raises(ValidationError) as info:
        Phone(number, kind)
    assert [p.path for p in info.value.problems] == ["$.number"]
    if number:
        assert number not in str(info.value)
        assert number.replace("-", "").replace(" ", "") not in str(info.value)


def test_phone_kind_must_be_a_phone_kind() -> None:
    with pytest.raises(ValidationError) as info:
        Phone("13812345678", "mobile")  # type: ignore[arg-type]
    assert info.value.problems[0].path == "$.kind"


def _error_text(number: str, kind: PhoneKind) -> str:
    with pytest.raises(ValidationError) as info:
        Phone(number, kind)
    return str(info.value)


@given(st.text(max_size=30), st.sampled_from(list(PhoneKind)))
def test_phone_errors_never_depend_on_the_input(number: str, kind: PhoneKind) -> None:
    error = _raised(Phone, number, kind)
    if error is not None:
        assert str(error) == _error_text("not a number", kind)


# --- EmailAddress --------------------------------------------------------------------------


def test_email_address() -> None:
    email = EmailAddress(" Zhang.San@Example.COM ")
    assert email.address == "Zhang.San@example.com"
    assert repr(email) == "EmailAddress(address='Z********@example.com')"
    assert str(email) == repr(email)
    assert email.masked_address(NO_MASKING) == "Zhang.San@example.com"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "zhang",
        "zhang@",
        "@example.com",
        "zhang@example",
        "zhang@@example.com",
        "zhang@exa@mple.com",
        "zhang san@example.com",
        "zhang@.example.com",
        "zhang@example.com.",
        "zhang@example..com",
        "z" * 65 + "@example.com",
        "z@" + "e" * 250 + ".com",
    ],
)
def test_invalid_email_addresses(address: str) -> None:
    with pytest.raises(ValidationError) as info:
        EmailAddress(address)
    assert [p.path for p in info.value.problems] == ["$.address"]
    if address:
        assert address not in str(info.value)


@given(st.emails())
@example("'0@A.am")  # repr quotes it with "
def test_email_repr_never_shows_the_local_part(address: str) -> None:
    error = _raised(EmailAddress, address)
    if error is not None:
        assert address not in str(error)
        return
    email = EmailAddress(address)
    local = email.address.rpartition("@")[0]
    if len(local) > 1 and "*" not in local and any(c.isalnum() for c in local):
        assert email.address not in repr(email)
        # The local part as the repr shows it (the domain is shown and may contain the
        # local part's letters: "or@a.storage"), compared whole.
        # repr quotes with " when the address holds a ' ("'0@a.am").
        quoted = re.search(r"address=(['\"])(.*?)\1", repr(email))
        assert quoted is not None
        shown = quoted.group(2).rpartition("@")[0]
        assert shown != local and local not in shown
