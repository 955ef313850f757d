"""Personal-data masking, refusal of authentication data, and the acting user.

Names, ID numbers, phone numbers, card and account numbers are protected personal
financial information (JR/T 0171-2020, PIPL, GDPR): finance_crm shows them masked
unless a role needs the full value, and never puts them in logs or reprs. This module
holds the pieces for that:

* :class:`PersonalDataKind` names what a value is, so a rule knows how to mask it.
* :class:`MaskingRule` is the one-method strategy a bank replaces;
  :class:`StandardMasking` (``DEFAULT_MASKING``) is the default and :class:`Unmasked`
  (``NO_MASKING``) is for roles granted the full view.
* :func:`masked` plugs the default rule into ``attrs.field(repr=...)``, so domain objects
  never print personal data.
* :func:`refuse_authentication_data` rejects passwords, PINs, CVVs and one-time codes
  anywhere in free-form input: PCI DSS and JR/T 0171-2020 forbid keeping them at all.
* :class:`Actor` is who performs an operation (a staff member or a batch job).

Access scopes (which customers an actor may see, and whether masked or not) come in a
later change and will live here too.
"""

from __future__ import annotations

import datetime
import enum
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

import attrs

from finance_crm.errors import AuthenticationDataRefused, Problem, ValidationError

__all__ = [
    "AUTHENTICATION_DATA_KEYS",
    "COMPOUND_SURNAMES",
    "DEFAULT_MASKING",
    "NO_MASKING",
    "Actor",
    "Keep",
    "MaskingRule",
    "PersonalDataKind",
    "StandardMasking",
    "Unmasked",
    "masked",
    "normalise_key",
    "refuse_authentication_data",
]


class PersonalDataKind(enum.Enum):
    """What a piece of personal data is, so that a :class:`MaskingRule` knows how to mask it."""

    #: A person's name (姓名).
    NAME = "name"
    #: An identity document number: resident ID, passport, permit (证件号码).
    ID_NUMBER = "id_number"
    #: A mobile phone number (手机号码).
    MOBILE = "mobile"
    #: A landline, office or fax number (固定电话).
    PHONE = "phone"
    #: An e-mail address.
    EMAIL = "email"
    #: A bank card number (银行卡号).
    CARD_NUMBER = "card_number"
    #: A bank, securities or policy account number (账号).
    ACCOUNT_NUMBER = "account_number"
    #: A postal address (地址).
    ADDRESS = "address"
    #: A date of birth (出生日期).
    BIRTHDAY = "birthday"
    #: Notes and any other free text; always masked completely.
    FREE_TEXT = "free_text"


class MaskingRule(Protocol):
    """How personal data is shown to someone: replace it to suit your bank's standard."""

    def mask(self, kind: PersonalDataKind, value: str) -> str:
        """Return ``value`` (personal data of ``kind``) as it may be shown."""
        ...


def _non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(
            "must be a non-negative whole number of characters", path=f"$.{attribute.name}"
        )


@attrs.frozen
class Keep:
    """How many characters stay visible at each end of a masked value.

    ``Keep(first=3, last=4)`` shows ``138****5678``. A value no longer than
    ``first + last`` characters is masked completely, so nothing short ever shows whole.
    """

    first: int = attrs.field(default=0, validator=_non_negative)
    last: int = attrs.field(default=0, validator=_non_negative)


def _to_keep(value: Keep | tuple[int, int]) -> Keep:
    if isinstance(value, Keep):
        return value
    first, last = value
    return Keep(first, last)


def _single_char(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or len(value) != 1:
        raise ValidationError("must be exactly one character", path=f"$.{attribute.name}")


#: Two-character Chinese surnames (复姓) that :class:`StandardMasking` keeps whole.
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    {
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "令狐",
        "夏侯",
        "独孤",
        "端木",
        "轩辕",
        "申屠",
        "澹台",
        "公冶",
        "太史",
        "钟离",
        "闻人",
        "赫连",
        "呼延",
        "南宫",
        "百里",
        "东郭",
        "西门",
        "司空",
        "万俟",
        "濮阳",
        "淳于",
        "单于",
        "第五",
    }
)

# Characters that separate groups ("6222 0212 ...", "010-1234 5678") or name parts
# ("阿卜杜拉·买买提"); masking leaves them in place and counts only the others.
_SEPARATORS = frozenset(" -·・")
# Digits of a resident ID (or the 2023 foreign permanent resident ID) that hold the birth
# date: 18 characters -> positions 7-14, old 15-digit IDs -> positions 7-12 (1-based).
_RESIDENT_ID_18 = re.compile(r"[0-9]{17}[0-9Xx]")
_RESIDENT_ID_15 = re.compile(r"[0-9]{15}")
_BIRTHDAY_MASK = "****-**-**"
_FREE_TEXT_MASK_LENGTH = 4
_MAINLAND_PREFIX = re.compile(r"(?:\+|00)86[ -]?")


_SEPARATOR_SEARCH = re.compile("[" + re.escape("".join(sorted(_SEPARATORS))) + "]").search


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x3134F


def _has_significant(text: str) -> bool:
    return any(c not in _SEPARATORS for c in text)


def _keep_ends(
    value: str,
    keep: Keep,
    mask_char: str,
    hidden: Callable[[int, int], bool] | None = None,
) -> str:
    """Mask all but ``keep.first``/``keep.last`` significant characters of ``value``.

    Separators stay where they are and are not counted. ``hidden(i, n)`` may force the
    ``i``-th of ``n`` significant characters to be masked even when ``keep`` would show it.
    """
    if _SEPARATOR_SEARCH(value) is None:
        # Fast path (no separators): slicing, since bulk audit masks every row.
        n = len(value)
        if n <= keep.first + keep.last:
            return mask_char * n
        if hidden is None or not any(
            hidden(i, n) for i in (*range(keep.first), *range(n - keep.last, n))
        ):
            tail = value[n - keep.last :] if keep.last else ""
            return value[: keep.first] + mask_char * (n - keep.first - keep.last) + tail
    n = sum(1 for c in value if c not in _SEPARATORS)
    show_ends = n > keep.first + keep.last
    out: list[str] = []
    i = 0
    for c in value:
        if c in _SEPARATORS:
            out.append(c)
            continue
        visible = show_ends and (i < keep.first or i >= n - keep.last)
        if visible and hidden is not None and hidden(i, n):
            visible = False
        out.append(c if visible else mask_char)
        i += 1
    return "".join(out)


_KEEP_SURNAME = {1: Keep(1, 0), 2: Keep(2, 0)}


def _hide_18(i: int, n: int) -> bool:
    return 6 <= i < 14


def _hide_15(i: int, n: int) -> bool:
    return 6 <= i < 12


def _birth_digits_hidden(value: str) -> Callable[[int, int], bool] | None:
    compact = (
        value
        if _SEPARATOR_SEARCH(value) is None
        else "".join(c for c in value if c not in _SEPARATORS)
    )
    if _RESIDENT_ID_18.fullmatch(compact):
        return _hide_18
    if _RESIDENT_ID_15.fullmatch(compact):
        return _hide_15
    return None


@attrs.frozen
class StandardMasking:
    """The default :class:`MaskingRule`, with the common Chinese retail-banking conventions.

    One mask character replaces each hidden character (separators such as spaces and
    hyphens stay in place), and a value no longer than the characters a rule would keep
    is masked completely. Each kind that keeps characters at its ends takes a
    :class:`Keep` (or a ``(first, last)`` tuple):

    * ``id_number=(1, 1)``: ``110105199003071234`` -> ``1****************4``
    * ``mobile=(3, 4)``: ``13812345678`` -> ``138****5678``
    * ``phone=(0, 4)`` (landline, fax): ``010-62345678`` -> ``***-****5678``
    * ``card_number=(6, 4)``: ``6222021234567890`` -> ``622202******7890``
    * ``account_number=(6, 4)``: as for cards
    * ``email=(1, 0)``, on the local part: ``zhang@example.com`` -> ``z****@example.com``
    * ``address=(6, 0)``: ``北京市朝阳区建国路88号`` -> ``北京市朝阳区******``

    Further rules:

    * ``ID_NUMBER`` never shows the birth-date digits of an 18-character (or old
      15-digit) resident ID, whatever ``id_number`` says.
    * ``MOBILE``: a leading ``+86``/``0086`` country code stays visible and the mainland
      rule applies to the 11 digits after it; any other leading ``+`` stays visible and
      ``mobile`` applies to the digits after it (country code included).
    * ``EMAIL``: ``email`` applies to the local part; the domain stays visible. A value
      without the shape ``local@domain`` is masked completely.
    * ``NAME``: with ``name=None`` (the default) the surname stays visible. A Chinese name
      keeps its first character, or both characters of a compound surname from
      ``compound_surnames`` when the name has at least three characters (``张三丰`` ->
      ``张**``, ``欧阳娜娜`` -> ``欧阳**``). Other names keep the last word (the surname of
      "Given Surname"), or the part before the first comma ("Surname, Given"), and the
      first letter of each other word (``John Smith`` -> ``J*** Smith``); a one-word name
      keeps only its first letter. Pass a :class:`Keep` as ``name`` to mask names by
      position instead.
    * ``BIRTHDAY`` always becomes ``****-**-**`` and ``FREE_TEXT`` always becomes four
      mask characters, whatever its length; write your own rule to show a birth year.
    * An empty value stays empty.
    """

    id_number: Keep = attrs.field(default=Keep(1, 1), converter=_to_keep)
    mobile: Keep = attrs.field(default=Keep(3, 4), converter=_to_keep)
    phone: Keep = attrs.field(default=Keep(0, 4), converter=_to_keep)
    card_number: Keep = attrs.field(default=Keep(6, 4), converter=_to_keep)
    account_number: Keep = attrs.field(default=Keep(6, 4), converter=_to_keep)
    email: Keep = attrs.field(default=Keep(1, 0), converter=_to_keep)
    address: Keep = attrs.field(default=Keep(6, 0), converter=_to_keep)
    name: Keep | None = attrs.field(default=None)
    compound_surnames: frozenset[str] = attrs.field(default=COMPOUND_SURNAMES)
    mask_char: str = attrs.field(default="*", validator=_single_char)

    def mask(self, kind: PersonalDataKind, value: str) -> str:
        """Return ``value`` masked according to ``kind`` (see the class description)."""
        if not value:
            return ""
        m = self.mask_char
        if kind is PersonalDataKind.NAME:
            return self._mask_name(value)
        if kind is PersonalDataKind.ID_NUMBER:
            return _keep_ends(value, self.id_number, m, _birth_digits_hidden(value))
        if kind is PersonalDataKind.MOBILE:
            return self._mask_mobile(value)
        if kind is PersonalDataKind.PHONE:
            return _keep_ends(value, self.phone, m)
        if kind is PersonalDataKind.CARD_NUMBER:
            return _keep_ends(value, self.card_number, m)
        if kind is PersonalDataKind.ACCOUNT_NUMBER:
            return _keep_ends(value, self.account_number, m)
        if kind is PersonalDataKind.EMAIL:
            return self._mask_email(value)
        if kind is PersonalDataKind.ADDRESS:
            return _keep_ends(value, self.address, m)
        if kind is PersonalDataKind.BIRTHDAY:
            return _BIRTHDAY_MASK.replace("*", m)
        return m * _FREE_TEXT_MASK_LENGTH

    def _mask_mobile(self, value: str) -> str:
        prefix = _MAINLAND_PREFIX.match(value)
        cut = prefix.end() if prefix is not None else 1 if value.startswith("+") else 0
        if cut and not _has_significant(value[cut:]):
            return _keep_ends(value, Keep(), self.mask_char)
        return value[:cut] + _keep_ends(value[cut:], self.mobile, self.mask_char)

    def _mask_email(self, value: str) -> str:
        local, at, domain = value.rpartition("@")
        if not at or not local or not domain:
            return _keep_ends(value, Keep(), self.mask_char)
        return _keep_ends(local, self.email, self.mask_char) + "@" + domain

    def _mask_name(self, value: str) -> str:
        m = self.mask_char
        if self.name is not None:
            return _keep_ends(value, self.name, m)
        if _is_cjk(value[0]):
            letters = (
                len(value)
                if _SEPARATOR_SEARCH(value) is None
                else sum(1 for c in value if c not in _SEPARATORS)
            )
            kept = 2 if letters >= 3 and value[:2] in self.compound_surnames else 1
            return _keep_ends(value, _KEEP_SURNAME[kept], m)
        surname, comma, given = value.partition(",")
        if comma and _has_significant(given):
            return surname + comma + _initials(given, m)
        words = value.split(" ")
        if sum(1 for w in words if w) == 1:
            return _initials(value, m)
        cut = value.rstrip(" ").rfind(" ")
        return _initials(value[:cut], m) + value[cut:]


def _initials(text: str, mask_char: str) -> str:
    """Keep the first letter of each word (hyphen-joined parts too) and mask the rest."""
    out: list[str] = []
    at_start = True
    letters = sum(1 for c in text if c not in _SEPARATORS)
    for c in text:
        if c in _SEPARATORS:
            out.append(c)
            at_start = True
            continue
        out.append(c if at_start and letters > 1 else mask_char)
        at_start = False
    return "".join(out)


@attrs.frozen
class Unmasked:
    """A :class:`MaskingRule` that shows every value in full.

    Only for roles granted the unmasked view (for example a compliance officer doing a
    KYC review); never use it for logs.
    """

    def mask(self, kind: PersonalDataKind, value: str) -> str:
        """Return ``value`` unchanged."""
        return value


#: The rule that shows personal data in full (see :class:`Unmasked`).
NO_MASKING: MaskingRule = Unmasked()
#: The rule used for reprs, logs and any role without the unmasked view.
DEFAULT_MASKING: MaskingRule = StandardMasking()


def masked(kind: PersonalDataKind) -> Callable[[object], str]:
    """A ``repr`` for ``attrs.field`` that shows the value masked with ``DEFAULT_MASKING``.

    ``name: str = attrs.field(repr=masked(PersonalDataKind.NAME))`` renders as
    ``name='张**'``. ``None`` renders as ``None``; dates are masked through their ISO
    form; anything else through ``str(value)``. The result is quoted like ``repr`` quotes a
    string.
    """

    def render(value: object) -> str:
        if value is None:
            return "None"
        if isinstance(value, str):
            text = value
        elif isinstance(value, datetime.date):
            text = value.isoformat()
        else:
            text = str(value)
        return repr(DEFAULT_MASKING.mask(kind, text))

    render.__name__ = f"masked_{kind.value}"
    render.__qualname__ = render.__name__
    return render


#: Normalised key names (see :func:`normalise_key`) that denote authentication data.
AUTHENTICATION_DATA_KEYS: frozenset[str] = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass_word",
        "passcode",
        "pass_code",
        "pin",
        "pin_code",
        "pin_block",
        "pinblock",
        "cvv",
        "cvv2",
        "cvc",
        "cvc2",
        "cvn",
        "cvn2",
        "cav2",
        "icvv",
        "security_code",
        "card_security_code",
        "card_verification_value",
        "card_verification_code",
        "otp",
        "one_time_password",
        "one_time_code",
        "verification_code",
        "track_data",
        "track1_data",
        "track2_data",
        "track_1_data",
        "track_2_data",
        "magnetic_stripe",
        "magnetic_stripe_data",
        "密码",
        "登录密码",
        "交易密码",
        "查询密码",
        "支付密码",
        "取款密码",
        "资金密码",
        "通讯密码",
        "安全码",
        "验证码",
        "短信验证码",
        "动态密码",
        "磁道信息",
        "磁条信息",
    }
)
_AUTHENTICATION_SUFFIXES = (
    "_password",
    "_passwd",
    "_pwd",
    "_pin",
    "_pin_code",
    "_cvv",
    "_cvv2",
    "_cvc",
    "_cvc2",
    "_otp",
    "密码",
    "验证码",
)
_REFUSED = "authentication data (passwords, PINs, CVV) may not be stored; remove this key"
_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_WORD = re.compile(r"([a-z0-9])([A-Z])")
_SEPARATOR_RUN = re.compile(r"[\s\-.]+")
_UNDERSCORES = re.compile(r"_+")


def normalise_key(key: str) -> str:
    """Normalise a field name for comparison with ``AUTHENTICATION_DATA_KEYS``.

    Strips, splits camelCase into snake_case (``bankPIN`` -> ``bank_pin``,
    ``CVV2Code`` -> ``cvv2_code``), lower-cases, and turns hyphens, dots and spaces into
    single underscores.
    """
    text = key.strip()
    text = _CAMEL_ACRONYM.sub(r"\1_\2", text)
    text = _CAMEL_WORD.sub(r"\1_\2", text)
    text = _SEPARATOR_RUN.sub("_", text.lower())
    return _UNDERSCORES.sub("_", text).strip("_")


@functools.lru_cache(maxsize=4096)  # bulk imports ask about the same few keys per row
def _is_authentication_key(key: str) -> bool:
    norm = normalise_key(key)
    return norm in AUTHENTICATION_DATA_KEYS or norm.endswith(_AUTHENTICATION_SUFFIXES)


def _child_path(path: str, key: object) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    if isinstance(key, str):
        escaped = key.replace("\\", "\\\\").replace("'", "\\'")
        return f"{path}['{escaped}']"
    return f"{path}[{key!r}]"


def _walk(value: object, path: str, problems: list[Problem], seen: set[int]) -> None:
    if isinstance(value, Mapping):
        if id(value) in seen:
            return
        seen.add(id(value))
        for key, item in value.items():
            child = _child_path(path, key)
            if isinstance(key, str) and _is_authentication_key(key):
                problems.append(Problem(child, _REFUSED))
            else:
                _walk(item, child, problems, seen)
    elif isinstance(value, list | tuple | set | frozenset):
        if id(value) in seen:
            return
        seen.add(id(value))
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]", problems, seen)


def refuse_authentication_data(mapping: Mapping[str, object], path: str = "$") -> None:
    """Raise :class:`~finance_crm.errors.AuthenticationDataRefused` if ``mapping`` holds any.

    Walks nested mappings, lists and tuples. A key counts as authentication data when its
    normalised form (:func:`normalise_key`) is in ``AUTHENTICATION_DATA_KEYS`` or ends
    with ``_password``, ``_pin``, ``_cvv`` (and a few siblings, including ``密码``). Every
    offending key is reported with its path, such as ``$.custom_attributes.bank_pin``;
    the values are never looked at or echoed.
    """
    problems: list[Problem] = []
    _walk(mapping, path, problems, set())
    if problems:
        raise AuthenticationDataRefused(problems)


def _non_blank(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("must be a non-empty string", path=f"$.{attribute.name}")


def _optional_non_blank(
    instance: object, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValidationError("must be None or a non-empty string", path=f"$.{attribute.name}")


def _to_roles(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise ValidationError("must be a set of role names, not a single string", path="$.roles")
    roles = frozenset(value)
    if not all(isinstance(role, str) and role.strip() for role in roles):
        raise ValidationError("every role must be a non-empty string", path="$.roles")
    return roles


@attrs.frozen
class Actor:
    """Who performs an operation: a staff member, or a batch job (:meth:`system`).

    ``id`` is the host's stable identifier (a staff number, a login); ``roles`` are the
    host's role names, which access scopes will match; ``display_name`` is shown masked
    in reprs, as any person's name is.
    """

    id: str = attrs.field(validator=_non_blank)
    roles: frozenset[str] = attrs.field(default=frozenset(), converter=_to_roles)
    display_name: str | None = attrs.field(
        default=None, validator=_optional_non_blank, repr=masked(PersonalDataKind.NAME)
    )

    @classmethod
    def system(cls, job_name: str) -> Actor:
        """The actor for a batch job: ``Actor("system:" + job_name, roles={"system"})``."""
        if not isinstance(job_name, str) or not job_name.strip():
            raise ValidationError("must be a non-empty string", path="$.job_name")
        return cls(id="system:" + job_name, roles=frozenset({"system"}))
