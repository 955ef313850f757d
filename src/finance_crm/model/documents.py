"""Identity documents, phone numbers and e-mail addresses, with their checksums.

Every value here is personal data (or, for organisations, an identifier that leads to
it): reprs and ``str()`` show it masked (:mod:`finance_crm.security`), and a validation
message names the field and what was expected, never the value.

Checksums implemented:

* PRC resident ID (居民身份证号码, GB 11643-1999): 18 characters, ISO 7064 MOD 11-2 —
  :func:`check_resident_id`, :func:`make_resident_id`.
* Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, MOD 31 —
  :func:`check_unified_social_credit_code`, :func:`make_unified_social_credit_code`.
* Legal Entity Identifier (ISO 17442): 20 characters, ISO 7064 MOD 97-10 —
  :func:`check_lei`, :func:`make_lei`.

The ``make_*`` functions build valid numbers for test factories and synthetic data.
"""

from __future__ import annotations

import datetime
import enum
import operator
import re
from collections.abc import Callable

import attrs

from finance_crm.errors import Problem, ValidationError
from finance_crm.security import DEFAULT_MASKING, MaskingRule, PersonalDataKind, masked

__all__ = [
    "EmailAddress",
    "IdDocumentType",
    "IdentityDocument",
    "Phone",
    "PhoneKind",
    "check_lei",
    "check_resident_id",
    "check_unified_social_credit_code",
    "make_lei",
    "make_resident_id",
    "make_unified_social_credit_code",
]


class IdDocumentType(enum.Enum):
    """The kind of an identity document; :attr:`for_individuals` and
    :attr:`for_organisations` say which customers it can identify."""

    #: PRC resident identity card (居民身份证).
    RESIDENT_ID = "resident_id"
    #: Passport (护照), of any country.
    PASSPORT = "passport"
    #: Mainland travel permit for Hong Kong and Macao residents (港澳居民来往内地通行证).
    HK_MACAO_PERMIT = "hk_macao_permit"
    #: Mainland travel permit for Taiwan residents (台湾居民来往大陆通行证).
    TAIWAN_PERMIT = "taiwan_permit"
    #: Foreigner's permanent residence ID card (外国人永久居留身份证).
    FOREIGN_PERMANENT_RESIDENT_ID = "foreign_permanent_resident_id"
    #: Military officer's certificate (军官证) and similar service IDs.
    MILITARY_ID = "military_id"
    #: Unified social credit code (统一社会信用代码), on the business licence since 2015.
    UNIFIED_SOCIAL_CREDIT_CODE = "uscc"
    #: Business licence registration number (营业执照注册号) from before the USCC.
    BUSINESS_LICENSE = "business_license"
    #: Organisation code (组织机构代码) from before the USCC.
    ORGANIZATION_CODE = "organization_code"
    #: Legal Entity Identifier (ISO 17442).
    LEI = "lei"

    @property
    def for_individuals(self) -> bool:
        """Whether this document can identify a natural person."""
        return self in _INDIVIDUAL_DOCUMENTS

    @property
    def for_organisations(self) -> bool:
        """Whether this document can identify a company or other organisation."""
        return not self.for_individuals


_INDIVIDUAL_DOCUMENTS = frozenset(
    {
        IdDocumentType.RESIDENT_ID,
        IdDocumentType.PASSPORT,
        IdDocumentType.HK_MACAO_PERMIT,
        IdDocumentType.TAIWAN_PERMIT,
        IdDocumentType.FOREIGN_PERMANENT_RESIDENT_ID,
        IdDocumentType.MILITARY_ID,
    }
)
# Documents that only the People's Republic of China issues.
_CN_ONLY = frozenset({IdDocumentType.RESIDENT_ID, IdDocumentType.UNIFIED_SOCIAL_CREDIT_CODE})

# --- PRC resident ID (GB 11643-1999) -------------------------------------------------------

_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK_CHARS = "10X98765432"
_ASCII_DIGITS = re.compile(r"[0-9]+")


_RESIDENT_ASCII_OFFSET = 48 * sum(_RESIDENT_WEIGHTS)  # b"0" is 48


def _resident_check_char(body: str) -> str:
    # ``body`` is 17 ASCII digits; weighting their byte values and subtracting the
    # offset is the MOD 11-2 sum without converting each digit.
    total = sum(map(operator.mul, body.encode("ascii"), _RESIDENT_WEIGHTS))
    return _RESIDENT_CHECK_CHARS[(total - _RESIDENT_ASCII_OFFSET) % 11]


def check_resident_id(number: str) -> datetime.date:
    """Validate an 18-character PRC resident ID number and return the birth date in it.

    The number is 6 digits of region code (first digit 1-9), the birth date as
    ``YYYYMMDD``, a 3-digit sequence and a check character (``0``-``9`` or ``X``; a
    lower-case ``x`` is accepted) computed with ISO 7064 MOD 11-2. Problems are reported
    at path ``$`` and never include the number.

    :raises ~finance_crm.errors.ValidationError: if any part is malformed.
    """
    if not isinstance(number, str):
        raise ValidationError("resident ID number must be a string", path="$")
    text = number.upper()
    if (
        len(text) != 18
        or not _ASCII_DIGITS.fullmatch(text[:17])
        or text[17] not in _RESIDENT_CHECK_CHARS
    ):
        raise ValidationError(
            "resident ID number must be 18 characters: 17 digits, then a check character 0-9 or X",
            path="$",
        )
    problems: list[Problem] = []
    if text[0] == "0":
        problems.append(
            Problem(
                "$", "resident ID number must start with a region code whose first digit is 1-9"
            )
        )
    born: datetime.date | None = None
    year, month, day = int(text[6:10]), int(text[10:12]), int(text[12:14])
    if year >= 1800:
        try:
            born = datetime.date(year, month, day)
        except ValueError:
            born = None
    if born is None:
        problems.append(
            Problem(
                "$",
                "resident ID number positions 7-14 must be a real birth date (YYYYMMDD, "
                "year 1800 or later)",
            )
        )
    if _resident_check_char(text[:17]) != text[17]:
        problems.append(
            Problem(
                "$",
                "resident ID number check digit does not match (ISO 7064 MOD 11-2); "
                "re-key the number",
            )
        )
    if problems or born is None:
        raise ValidationError(problems)
    return born


def make_resident_id(region: str, birth: datetime.date, sequence: int) -> str:
    """Build a valid resident ID number (for test factories and synthetic data).

    ``region`` is a 6-digit region code starting 1-9 (``"110105"``); ``sequence`` is
    0-999 (odd for men, even for women, by convention).

    :raises ~finance_crm.errors.ValidationError: if an argument is out of range.
    """
    if not isinstance(region, str) or len(region) != 6 or not _ASCII_DIGITS.fullmatch(region):
        raise ValidationError("must be 6 digits", path="$.region")
    if region[0] == "0":
        raise ValidationError("must start with a digit 1-9", path="$.region")
    if not isinstance(birth, datetime.date) or birth.year < 1800:
        raise ValidationError("must be a date in year 1800 or later", path="$.birth")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or not 0 <= sequence <= 999:
        raise ValidationError("must be a whole number from 0 to 999", path="$.sequence")
    body = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence:03d}"
    return body + _resident_check_char(body)


# --- Unified social credit code (GB 32100-2015) --------------------------------------------

_USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {char: value for value, char in enumerate(_USCC_CHARSET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_REGIONS = ("110000", "310000", "440300", "330100", "320500", "510100", "420100", "610100")
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _uscc_check_char(body: str) -> str:
    total = sum(_USCC_VALUES[c] * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARSET[(31 - total % 31) % 31]


def _organization_code_check_char(body: str) -> str:
    total = sum(int(c, 36) * w for c, w in zip(body, _ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def check_unified_social_credit_code(code: str) -> None:
    """Validate an 18-character unified social credit code (统一社会信用代码, GB 32100-2015).

    Every character must come from ``0-9`` and the capitals ``ABCDEFGHJKLMNPQRTUWXY``
    (lower case is accepted); the last is a MOD 31 check character. Problems are reported
    at path ``$`` and never include the code.

    :raises ~finance_crm.errors.ValidationError: if the code is malformed.
    """
    if not isinstance(code, str):
        raise ValidationError("unified social credit code must be a string", path="$")
    text = code.upper()
    if len(text) != 18 or any(c not in _USCC_VALUES for c in text):
        raise ValidationError(
            "unified social credit code must be 18 characters from 0-9 and the capital "
            "letters other than I, O, S, V and Z",
            path="$",
        )
    if _uscc_check_char(text[:17]) != text[17]:
        raise ValidationError(
            "unified social credit code check character does not match (GB 32100-2015); "
            "re-key the code",
            path="$",
        )


def make_unified_social_credit_code(seed: int) -> str:
    """Build a valid unified social credit code from ``seed`` (for tests and synthetic data).

    The code is for an enterprise (``91``) in one of a few real region codes, with an
    organisation code whose own GB 11714 check digit is right. Distinct seeds from 0 to
    799,999,999 give distinct codes.

    :raises ~finance_crm.errors.ValidationError: if ``seed`` is negative.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValidationError("must be a non-negative whole number", path="$.seed")
    region = _USCC_REGIONS[(seed // 100_000_000) % len(_USCC_REGIONS)]
    org_body = f"{seed % 100_000_000:08d}"
    body = "91" + region + org_body + _organization_code_check_char(org_body)
    return body + _uscc_check_char(body)


# --- Legal Entity Identifier (ISO 17442) ---------------------------------------------------

_LEI_SHAPE = re.compile(r"[0-9A-Z]{18}[0-9]{2}")
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _mod97(text: str) -> int:
    return int("".join(str(int(c, 36)) for c in text)) % 97


def check_lei(lei: str) -> None:
    """Validate a Legal Entity Identifier (ISO 17442): 18 letters or digits and two check
    digits, verified with ISO 7064 MOD 97-10 (lower case is accepted).

    :raises ~finance_crm.errors.ValidationError: if the LEI is malformed.
    """
    if not isinstance(lei, str):
        raise ValidationError("LEI must be a string", path="$")
    text = lei.upper()
    if not _LEI_SHAPE.fullmatch(text):
        raise ValidationError(
            "LEI must be 20 characters: 18 letters or digits, then 2 check digits", path="$"
        )
    if _mod97(text) != 1:
        raise ValidationError(
            "LEI check digits do not match (ISO 7064 MOD 97-10); re-key the LEI", path="$"
        )


def make_lei(seed: int) -> str:
    """Build a valid LEI from ``seed`` (for tests and synthetic data).

    Distinct seeds below ``36 ** 12`` give distinct LEIs.

    :raises ~finance_crm.errors.ValidationError: if ``seed`` is negative.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValidationError("must be a non-negative whole number", path="$.seed")
    digits: list[str] = []
    rest = seed % 36**12
    for _ in range(12):
        rest, digit = divmod(rest, 36)
        digits.append(_BASE36[digit])
    body = "549300" + "".join(reversed(digits))
    return body + f"{98 - _mod97(body + '00'):02d}"


# --- Identity documents --------------------------------------------------------------------

_COUNTRY = re.compile(r"[A-Z]{2}")
_PASSPORT = re.compile(r"[0-9A-Z]{5,20}")
_MAX_NUMBER_LENGTH = 50


_WHITESPACE = re.compile(r"\s").search


def _has_whitespace(text: str) -> bool:
    return _WHITESPACE(text) is not None


@attrs.frozen
class IdentityDocument:
    """An identity document (证件) of a customer, a related person or an organisation.

    ``number`` is normalised (outer whitespace stripped, letters upper-cased) and checked
    for its ``type``: resident IDs, unified social credit codes and LEIs by checksum,
    passports as 5-20 letters or digits, anything else as at most 50 characters without
    whitespace. Resident IDs and unified social credit codes must have
    ``issuing_country="CN"``. ``repr``/``str`` show the number masked.

    :raises ~finance_crm.errors.ValidationError: with paths such as ``$.number``.
    """

    type: IdDocumentType
    number: str = attrs.field(repr=masked(PersonalDataKind.ID_NUMBER))
    issuing_country: str = "CN"
    valid_until: datetime.date | None = None

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        if not isinstance(self.type, IdDocumentType):
            problems.append(Problem("$.type", "must be an IdDocumentType"))
        if not isinstance(self.issuing_country, str) or not _COUNTRY.fullmatch(
            self.issuing_country
        ):
            problems.append(
                Problem(
                    "$.issuing_country",
                    "must be an ISO 3166-1 alpha-2 country code: two capital letters",
                )
            )
        elif self.type in _CN_ONLY and self.issuing_country != "CN":
            problems.append(Problem("$.issuing_country", "this document type is issued by CN only"))
        if self.valid_until is not None and (
            not isinstance(self.valid_until, datetime.date)
            or isinstance(self.valid_until, datetime.datetime)
        ):
            problems.append(Problem("$.valid_until", "must be a date (not a datetime) or None"))
        number = self._checked_number(problems)
        if problems:
            raise ValidationError(problems)
        object.__setattr__(self, "number", number)

    def _checked_number(self, problems: list[Problem]) -> str:
        if not isinstance(self.number, str):
            problems.append(Problem("$.number", "must be a string"))
            return ""
        number = self.number.strip().upper()
        if not number:
            problems.append(Problem("$.number", "must not be empty"))
        elif _has_whitespace(number):
            problems.append(Problem("$.number", "must not contain whitespace"))
        elif self.type is IdDocumentType.RESIDENT_ID:
            problems.extend(_problems_of(check_resident_id, number))
        elif self.type is IdDocumentType.UNIFIED_SOCIAL_CREDIT_CODE:
            problems.extend(_problems_of(check_unified_social_credit_code, number))
        elif self.type is IdDocumentType.LEI:
            problems.extend(_problems_of(check_lei, number))
        elif self.type is IdDocumentType.PASSPORT:
            if not _PASSPORT.fullmatch(number):
                problems.append(
                    Problem("$.number", "a passport number must be 5-20 letters or digits")
                )
        elif len(number) > _MAX_NUMBER_LENGTH or not number.isprintable():
            problems.append(Problem("$.number", "must be at most 50 printable characters"))
        return number

    @property
    def birth_date(self) -> datetime.date | None:
        """The birth date encoded in a resident ID number; ``None`` for other documents."""
        if self.type is not IdDocumentType.RESIDENT_ID:
            return None
        n = self.number
        return datetime.date(int(n[6:10]), int(n[10:12]), int(n[12:14]))

    def masked_number(self, rule: MaskingRule = DEFAULT_MASKING) -> str:
        """The number as ``rule`` shows it (``1****************4`` by default)."""
        return rule.mask(PersonalDataKind.ID_NUMBER, self.number)


def _problems_of(check: Callable[[str], object], number: str) -> list[Problem]:
    try:
        check(number)
    except ValidationError as exc:
        return list(exc.under("$.number").problems)
    return []


# --- Phones ---------------------------------------------------------------------------------


class PhoneKind(enum.Enum):
    """What a phone number is for."""

    #: A mobile phone (手机); the default.
    MOBILE = "mobile"
    #: A home landline (住宅电话).
    HOME = "home"
    #: An office landline (办公电话).
    WORK = "work"
    #: A fax line (传真).
    FAX = "fax"


_MOBILE = re.compile(r"1[3-9][0-9]{9}|\+[0-9]{8,15}")
_LANDLINE = re.compile(r"\+?[0-9]{5,20}")
_PHONE_LAYOUT = re.compile(r"[ \-]")


@attrs.frozen(repr=False)
class Phone:
    """A phone number. Spaces and hyphens are removed, so equal numbers compare equal.

    A ``MOBILE`` number is a mainland number (11 digits starting ``13``-``19``) or an
    international one in E.164 form (``+`` and 8-15 digits, ``+8613812345678``). Other
    kinds take 5-20 digits, optionally after a ``+``. ``repr``/``str`` show the number
    masked as a mobile or landline number by ``kind``.

    :raises ~finance_crm.errors.ValidationError: with paths ``$.number`` and ``$.kind``.
    """

    number: str
    kind: PhoneKind = PhoneKind.MOBILE

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        if not isinstance(self.kind, PhoneKind):
            problems.append(Problem("$.kind", "must be a PhoneKind"))
        number = ""
        if not isinstance(self.number, str):
            problems.append(Problem("$.number", "must be a string"))
        else:
            number = _PHONE_LAYOUT.sub("", self.number.strip())
            if self.kind is PhoneKind.MOBILE:
                if not _MOBILE.fullmatch(number):
                    problems.append(
                        Problem(
                            "$.number",
                            "a mobile number must be 11 digits starting 13-19, or + and "
                            "8-15 digits (E.164)",
                        )
                    )
            elif not _LANDLINE.fullmatch(number):
                problems.append(
                    Problem(
                        "$.number",
                        "a phone number must be 5-20 digits, optionally after a +, with "
                        "spaces or hyphens between them",
                    )
                )
        if problems:
            raise ValidationError(problems)
        object.__setattr__(self, "number", number)

    def masked_number(self, rule: MaskingRule = DEFAULT_MASKING) -> str:
        """The number as ``rule`` shows it (``138****5678`` for a mobile by default)."""
        kind = PersonalDataKind.MOBILE if self.kind is PhoneKind.MOBILE else PersonalDataKind.PHONE
        return rule.mask(kind, self.number)

    def __repr__(self) -> str:
        return f"Phone(number={self.masked_number()!r}, kind={self.kind!r})"


# --- E-mail ---------------------------------------------------------------------------------

_MAX_EMAIL_LENGTH = 254
_MAX_LOCAL_LENGTH = 64


@attrs.frozen
class EmailAddress:
    """An e-mail address: one ``@``, a local part of 1-64 characters, a domain with a dot,
    no whitespace, at most 254 characters. Outer whitespace is stripped and the domain
    lower-cased. ``repr``/``str`` show it masked (``z****@example.com``).

    :raises ~finance_crm.errors.ValidationError: with path ``$.address``.
    """

    address: str = attrs.field(repr=masked(PersonalDataKind.EMAIL))

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.address, str):
            raise ValidationError("must be a string", path="$.address")
        text = self.address.strip()
        local, _, domain = text.partition("@")
        if (
            len(text) > _MAX_EMAIL_LENGTH
            or text.count("@") != 1
            or not local
            or len(local) > _MAX_LOCAL_LENGTH
            or "." not in domain.strip(".")
            or domain.startswith(".")
            or domain.endswith(".")
            or ".." in domain
            or _has_whitespace(text)
        ):
            raise ValidationError(
                "must be an e-mail address: one @, a local part of 1-64 characters, a "
                "domain containing a dot, no spaces, at most 254 characters",
                path="$.address",
            )
        object.__setattr__(self, "address", f"{local}@{domain.lower()}")

    def masked_address(self, rule: MaskingRule = DEFAULT_MASKING) -> str:
        """The address as ``rule`` shows it (``z****@example.com`` by default)."""
        return rule.mask(PersonalDataKind.EMAIL, self.address)
