"""Customers (客户): individual (个人客户) and corporate (公司客户) customers.

A customer is a frozen aggregate. Every construction path (named constructors, the wire
format, rows read back from storage) runs the same invariants, so an invalid customer
cannot exist in memory. A change returns the new customer together with the events it
raised; the repository stores both, with an audit record, in one transaction.

Personal fields render masked in ``repr``/``str`` (see :mod:`finance_crm.security`).
"""

from __future__ import annotations

import datetime
import enum
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Self, TypeAlias

import attrs

from finance_crm.clock import DEFAULT_TIMEZONE, business_date, ensure_utc
from finance_crm.errors import BusinessRuleViolation, Problem, ValidationError
from finance_crm.ids import CustomerId, new_customer_id
from finance_crm.model.documents import EmailAddress, IdDocumentType, IdentityDocument, Phone
from finance_crm.model.events import (
    ConsentGranted,
    ConsentWithdrawn,
    CustomerRevised,
    CustomerStatusChanged,
    DomainEvent,
)
from finance_crm.money import Money
from finance_crm.security import PersonalDataKind, masked, refuse_authentication_data

__all__ = [
    "Address",
    "AddressKind",
    "Channel",
    "ContactRole",
    "CorporateContact",
    "CorporateCustomer",
    "Customer",
    "CustomerKind",
    "EnterpriseSize",
    "HouseholdMember",
    "HouseholdRelation",
    "IndividualCustomer",
    "JsonValue",
    "LegalRepresentative",
    "LifecycleStatus",
    "MarketingConsent",
    "RiskLevel",
]

JsonValue: TypeAlias = "str | int | bool | list[JsonValue] | dict[str, JsonValue] | None"
"""What a custom attribute may hold: JSON without floats (write decimals as strings)."""


_NUMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_TAG_RE = re.compile(r"^\S(?:.{0,62}\S)?$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_MAX_JSON_INT = 2**63 - 1


class CustomerKind(enum.Enum):
    INDIVIDUAL = "individual"
    CORPORATE = "corporate"


class LifecycleStatus(enum.Enum):
    """Where a customer is in its life: 潜在客户 -> 客户 -> 休眠 / 销户."""

    PROSPECT = "prospect"
    ACTIVE = "active"
    DORMANT = "dormant"
    CLOSED = "closed"


# Closed is final: a closed record is kept (law requires it) but never reopened;
# a returning customer is opened again under a new record.
_TRANSITIONS: Mapping[LifecycleStatus, frozenset[LifecycleStatus]] = {
    LifecycleStatus.PROSPECT: frozenset({LifecycleStatus.ACTIVE, LifecycleStatus.CLOSED}),
    LifecycleStatus.ACTIVE: frozenset({LifecycleStatus.DORMANT, LifecycleStatus.CLOSED}),
    LifecycleStatus.DORMANT: frozenset({LifecycleStatus.ACTIVE, LifecycleStatus.CLOSED}),
    LifecycleStatus.CLOSED: frozenset(),
}


_IDENTIFIED = frozenset({LifecycleStatus.ACTIVE, LifecycleStatus.DORMANT})


class RiskLevel(enum.IntEnum):
    """Risk tolerance (风险承受能力), C1 conservative .. C5 aggressive."""

    CONSERVATIVE = 1  # 保守型
    CAUTIOUS = 2  # 稳健型
    BALANCED = 3  # 平衡型
    GROWTH = 4  # 成长型
    AGGRESSIVE = 5  # 进取型


class Channel(enum.Enum):
    """Contact channels (渠道)."""

    BRANCH = "branch"
    PHONE = "phone"
    SMS = "sms"
    EMAIL = "email"
    WECHAT = "wechat"
    APP = "app"
    POST = "post"


class AddressKind(enum.Enum):
    HOME = "home"
    WORK = "work"
    REGISTERED = "registered"  # 户籍地址 / 注册地址
    MAILING = "mailing"


class HouseholdRelation(enum.Enum):
    SPOUSE = "spouse"
    CHILD = "child"
    PARENT = "parent"
    SIBLING = "sibling"
    OTHER = "other"


class ContactRole(enum.Enum):
    """Roles of a corporate customer's contacts (联系人)."""

    FINANCE_MANAGER = "finance_manager"  # 财务负责人
    AUTHORISED_SIGNATORY = "authorised_signatory"  # 授权经办人
    ACTUAL_CONTROLLER = "actual_controller"  # 实际控制人
    DIRECTOR = "director"
    SHAREHOLDER = "shareholder"
    GENERAL = "general"


class EnterpriseSize(enum.Enum):
    """Enterprise size class (大型/中型/小型/微型)."""

    LARGE = "large"
    MEDIUM = "medium"
    SMALL = "small"
    MICRO = "micro"


def _problem(path: str, message: str) -> ValidationError:
    return ValidationError([Problem(path, message)])


def _is(kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    """Like ``attrs.validators.instance_of`` but a ValidationError with a path, no value."""
    names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise _problem(f"$.{attribute.name}", f"must be of type {names}")

    return check


def _optional_text(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _non_blank(_inst, attribute, value)


def _non_blank(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise _problem(
            f"$.{attribute.name}", "must be a non-blank string of at most 200 characters"
        )


def _country(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _COUNTRY_RE.match(value):
        raise _problem(f"$.{attribute.name}", "must be an ISO 3166 alpha-2 code such as CN")


def _is_utc(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, datetime.datetime) or value.utcoffset() != datetime.timedelta(0):
        raise _problem(
            f"$.{attribute.name}",
            "must be a timezone-aware instant (naive datetimes are refused: say which zone)",
        )


def _to_utc(value: Any) -> Any:
    """Aware instants become UTC; anything else is left for the validator to refuse."""
    if isinstance(value, datetime.datetime) and value.utcoffset() is not None:
        return ensure_utc(value)
    return value


def _optional_utc(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _is_utc(inst, attribute, value)


def _plain_date(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (
        not isinstance(value, datetime.date) or isinstance(value, datetime.datetime)
    ):
        raise _problem(f"$.{attribute.name}", "must be a date (YYYY-MM-DD), not a datetime")


def _tuple_of(kind: type) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, tuple):
            raise _problem(f"$.{attribute.name}", "must be a tuple")
        for i, item in enumerate(value):
            if not isinstance(item, kind):
                raise _problem(f"$.{attribute.name}[{i}]", f"must be a {kind.__name__}")

    return check


def _check_json(value: object, path: str, problems: list[Problem]) -> None:
    if value is None or isinstance(value, (str, bool)):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_JSON_INT:
            problems.append(Problem(path, "integer out of range (at most 2**63-1 in magnitude)"))
        return
    if isinstance(value, float):
        problems.append(Problem(path, "floats are not allowed; store decimals as strings"))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]", problems)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(Problem(path, "object keys must be strings"))
            else:
                _check_json(item, f"{path}.{key}", problems)
    else:
        problems.append(
            Problem(path, "must be JSON: string, integer, boolean, null, list or object")
        )


def _custom_attributes(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    path = f"$.{attribute.name}"
    if not isinstance(value, Mapping):
        raise _problem(path, "must be a mapping of string keys to JSON values")
    if not value:
        return
    problems: list[Problem] = []
    _check_json(dict(value), path, problems)
    if problems:
        raise ValidationError(problems)
    refuse_authentication_data(value, path)


def _refuse(*args: object, **kwargs: object) -> None:
    raise TypeError("custom attributes are read-only; use customer.revise(...)")


class ReadOnlyJson(dict[str, "JsonValue"]):
    """A dict that refuses changes: custom attributes of a frozen customer stay frozen.

    It still is a ``dict`` for ``json``, equality, pickling and ``copy.deepcopy``.
    """

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type[ReadOnlyJson], tuple[dict[str, JsonValue]]]:
        return (type(self), (dict(self),))

    def __deepcopy__(self, memo: dict[int, object]) -> ReadOnlyJson:
        return self  # nothing inside can change


class ReadOnlyJsonList(list["JsonValue"]):
    """A list that refuses changes (a JSON array inside custom attributes)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse  # type: ignore[assignment]
    append = extend = insert = pop = remove = clear = reverse = _refuse
    sort = _refuse

    def __reduce__(self) -> tuple[type[ReadOnlyJsonList], tuple[list[JsonValue]]]:
        return (type(self), (list(self),))

    def __deepcopy__(self, memo: dict[int, object]) -> ReadOnlyJsonList:
        return self


def _frozen_json(value: Any) -> Any:
    """A deep, read-only copy of a JSON value (the validator checks the leaves)."""
    if isinstance(value, Mapping):
        return ReadOnlyJson({k: _frozen_json(v) for k, v in value.items()})
    if isinstance(value, list):
        return ReadOnlyJsonList(_frozen_json(v) for v in value)
    return value


def _freeze_mapping(value: Mapping[str, JsonValue] | None) -> Mapping[str, JsonValue]:
    """A private, read-only copy: the caller's dict cannot change the customer later."""
    if value is None:
        return ReadOnlyJson()
    if not isinstance(value, Mapping):
        return value  # the validator reports it
    frozen: Mapping[str, JsonValue] = _frozen_json(value)
    return frozen


@attrs.frozen(kw_only=True)
class MarketingConsent:
    """Consent to marketing contact on one channel for one purpose, for a period.

    ``valid_until`` is inclusive; ``withdrawn_at`` ends the consent at once (UTC instant).
    Past consents are kept, so "could we contact her on 1 March?" has an answer.
    """

    channel: Channel = attrs.field(validator=_is(Channel))
    purpose: str = attrs.field(default="marketing", validator=_non_blank)
    valid_from: datetime.date = attrs.field(validator=[_is(datetime.date), _plain_date])
    valid_until: datetime.date | None = attrs.field(default=None, validator=_plain_date)
    withdrawn_at: datetime.datetime | None = attrs.field(
        default=None, converter=_to_utc, validator=_optional_utc
    )

    def __attrs_post_init__(self) -> None:
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise _problem("$.valid_until", "consent ends before it starts; check the dates")

    def is_in_force(self, on: datetime.date, tz: str = DEFAULT_TIMEZONE) -> bool:
        """Whether the consent covers business date ``on``.

        A withdrawal counts from its own business date in the institution's zone ``tz``
        (a withdrawal at 20:00 in Shanghai stops contact that same day).
        """
        if on < self.valid_from or (self.valid_until is not None and on > self.valid_until):
            return False
        if self.withdrawn_at is None:
            return True
        return on < business_date(self.withdrawn_at, tz)


@attrs.frozen(kw_only=True)
class Address:
    kind: AddressKind = attrs.field(validator=_is(AddressKind))
    line: str = attrs.field(validator=_non_blank, repr=masked(PersonalDataKind.ADDRESS))
    city: str | None = attrs.field(default=None, validator=_optional_text)
    province: str | None = attrs.field(default=None, validator=_optional_text)
    postal_code: str | None = attrs.field(default=None, repr=masked(PersonalDataKind.FREE_TEXT))
    country: str = attrs.field(default="CN", validator=_country)


@attrs.frozen(kw_only=True)
class HouseholdMember:
    """A member of an individual customer's household (家庭成员)."""

    name: str = attrs.field(validator=_non_blank, repr=masked(PersonalDataKind.NAME))
    relation: HouseholdRelation = attrs.field(validator=_is(HouseholdRelation))
    customer_id: CustomerId | None = attrs.field(
        default=None, validator=_is(uuid.UUID, optional=True)
    )
    birthday: datetime.date | None = attrs.field(
        default=None, validator=_plain_date, repr=masked(PersonalDataKind.BIRTHDAY)
    )


@attrs.frozen(kw_only=True)
class LegalRepresentative:
    """A company's legal representative (法定代表人): a person, identified by a document."""

    name: str = attrs.field(validator=_non_blank, repr=masked(PersonalDataKind.NAME))
    identity_document: IdentityDocument | None = attrs.field(
        default=None, validator=_is(IdentityDocument, optional=True)
    )
    phone: Phone | None = attrs.field(default=None, validator=_is(Phone, optional=True))

    def __attrs_post_init__(self) -> None:
        doc = self.identity_document
        if doc is not None and not doc.type.for_individuals:
            raise _problem(
                "$.identity_document.type",
                "a legal representative is a person: use an individual's document type",
            )


@attrs.frozen(kw_only=True)
class CorporateContact:
    """A contact person at a corporate customer (联系人) and the role they play."""

    name: str = attrs.field(validator=_non_blank, repr=masked(PersonalDataKind.NAME))
    role: ContactRole = attrs.field(validator=_is(ContactRole))
    phones: tuple[Phone, ...] = attrs.field(default=(), validator=_tuple_of(Phone))
    email: EmailAddress | None = attrs.field(
        default=None, validator=_is(EmailAddress, optional=True)
    )
    is_primary: bool = attrs.field(default=False, validator=_is(bool))


@attrs.frozen(kw_only=True, eq=True)
class Customer:
    """What individual and corporate customers share. Use the subclasses.

    ``customer_number`` is the institution's own customer number (客户号), unique in a
    store. ``version`` counts stored revisions and guards against lost updates.
    """

    kind: ClassVar[CustomerKind]
    _FIXED: ClassVar[frozenset[str]] = frozenset(
        {"id", "version", "opened_at", "status", "consents"}
    )

    id: CustomerId
    customer_number: str = attrs.field()
    status: LifecycleStatus = attrs.field(validator=_is(LifecycleStatus))
    opened_at: datetime.datetime = attrs.field(converter=_to_utc, validator=_is_utc)
    identity_documents: tuple[IdentityDocument, ...] = attrs.field(
        default=(), validator=_tuple_of(IdentityDocument)
    )
    phones: tuple[Phone, ...] = attrs.field(default=(), validator=_tuple_of(Phone))
    emails: tuple[EmailAddress, ...] = attrs.field(default=(), validator=_tuple_of(EmailAddress))
    addresses: tuple[Address, ...] = attrs.field(default=(), validator=_tuple_of(Address))
    risk_level: RiskLevel | None = attrs.field(
        default=None, validator=_is(RiskLevel, optional=True)
    )
    preferred_channels: tuple[Channel, ...] = attrs.field(default=(), validator=_tuple_of(Channel))
    consents: tuple[MarketingConsent, ...] = attrs.field(
        default=(), validator=_tuple_of(MarketingConsent)
    )
    tags: frozenset[str] = attrs.field(default=frozenset())
    custom_attributes: Mapping[str, JsonValue] = attrs.field(
        factory=dict, converter=_freeze_mapping, validator=_custom_attributes, hash=False
    )
    version: int = attrs.field(default=1, validator=_is(int))

    @customer_number.validator
    def _check_number(self, _attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str) or not _NUMBER_RE.match(value):
            raise _problem(
                "$.customer_number",
                "must be 1-40 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )

    @tags.validator
    def _check_tags(self, _attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, frozenset):
            raise _problem("$.tags", "must be a frozenset of strings")
        for tag in value:
            if not isinstance(tag, str) or not _TAG_RE.match(tag):
                raise _problem("$.tags", "each tag must be 1-64 characters, not blank at the ends")

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        seen: set[tuple[IdDocumentType, str, str]] = set()
        for i, doc in enumerate(self.identity_documents):
            key = (doc.type, doc.issuing_country, doc.number)
            if key in seen:
                problems.append(Problem(f"$.identity_documents[{i}]", "duplicate document"))
            seen.add(key)
            allowed = (
                doc.type.for_individuals
                if self.kind is CustomerKind.INDIVIDUAL
                else doc.type.for_organisations
            )
            if not allowed:
                whose = "an individual" if self.kind is CustomerKind.INDIVIDUAL else "a company"
                problems.append(
                    Problem(
                        f"$.identity_documents[{i}].type",
                        f"this document type cannot identify {whose}; "
                        f"use one of: {', '.join(_allowed_types(self.kind))}",
                    )
                )
        # KYC: serving customers are identified; a prospect closed before KYC never was.
        if self.status in _IDENTIFIED and not self.identity_documents:
            problems.append(
                Problem(
                    "$.identity_documents",
                    "an active or dormant customer needs at least one identity document (KYC)",
                )
            )
        if len(set(self.preferred_channels)) != len(self.preferred_channels):
            problems.append(Problem("$.preferred_channels", "a channel is listed twice"))
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            problems.append(Problem("$.version", "must be a positive integer"))
        problems.extend(self._kind_problems())
        if problems:
            raise ValidationError(problems)

    def _kind_problems(self) -> list[Problem]:
        return []

    # -- reading -------------------------------------------------------------------

    @property
    def display_name(self) -> str:
        raise NotImplementedError

    def has_consent(
        self, channel: Channel, purpose: str, on: datetime.date, tz: str = DEFAULT_TIMEZONE
    ) -> bool:
        """Whether marketing on ``channel`` for ``purpose`` is allowed on business date ``on``
        (withdrawals count from their business date in zone ``tz``)."""
        return any(
            c.channel is channel and c.purpose == purpose and c.is_in_force(on, tz)
            for c in self.consents
        )

    # -- changing ------------------------------------------------------------------

    def revise(self, *, at: datetime.datetime, **changes: Any) -> tuple[Self, list[DomainEvent]]:
        """Change ordinary fields (contact data, documents, tags, ...) at instant ``at``.

        Status and consents have their own methods; id, version and opening time never
        change. Returns the revised customer and a :class:`CustomerRevised` event naming
        the changed fields (none when nothing actually changed).
        """
        fixed = sorted(set(changes) & self._FIXED)
        if fixed:
            raise BusinessRuleViolation(
                f"cannot revise {', '.join(fixed)} this way: use change_status() for status, "
                "grant_consent()/withdraw_consent() for consents; ids and versions never change"
            )
        unknown = sorted(set(changes) - set(attrs.fields_dict(type(self))))
        if unknown:
            raise _problem("$", f"unknown field(s) for {type(self).__name__}: {', '.join(unknown)}")
        new = attrs.evolve(self, **changes)
        changed = tuple(name for name in changes if getattr(new, name) != getattr(self, name))
        if not changed:
            return self, []
        return new, [CustomerRevised(occurred_at=at, customer_id=self.id, fields=changed)]

    def change_status(
        self, new_status: LifecycleStatus, *, at: datetime.datetime, reason: str | None = None
    ) -> tuple[Self, list[DomainEvent]]:
        """Move along the lifecycle; a closed customer is never reopened."""
        if not isinstance(new_status, LifecycleStatus):
            raise _problem("$.status", "must be a LifecycleStatus")
        if new_status not in _TRANSITIONS[self.status]:
            raise BusinessRuleViolation(
                f"a {self.status.value} customer cannot become {new_status.value}; allowed: "
                + (", ".join(sorted(s.value for s in _TRANSITIONS[self.status])) or "none")
            )
        new = attrs.evolve(self, status=new_status)
        event = CustomerStatusChanged(
            occurred_at=at,
            customer_id=self.id,
            old_status=self.status.value,
            new_status=new_status.value,
            reason=reason,
        )
        return new, [event]

    def grant_consent(
        self, consent: MarketingConsent, *, at: datetime.datetime
    ) -> tuple[Self, list[DomainEvent]]:
        """Record a consent; earlier consents for the same channel and purpose stay as history."""
        if not isinstance(consent, MarketingConsent):
            raise _problem("$.consent", "must be a MarketingConsent")
        if self.status is LifecycleStatus.CLOSED:
            raise BusinessRuleViolation("a closed customer cannot grant marketing consent")
        new = attrs.evolve(self, consents=(*self.consents, consent))
        event = ConsentGranted(
            occurred_at=at,
            customer_id=self.id,
            channel=consent.channel.value,
            purpose=consent.purpose,
            valid_from=consent.valid_from,
            valid_until=consent.valid_until,
        )
        return new, [event]

    def withdraw_consent(
        self, channel: Channel, purpose: str, *, at: datetime.datetime
    ) -> tuple[Self, list[DomainEvent]]:
        """Withdraw every consent for ``channel``/``purpose`` that is not already withdrawn."""
        if not isinstance(channel, Channel):
            raise _problem("$.channel", "must be a Channel")
        touched = False
        consents: list[MarketingConsent] = []
        for consent in self.consents:
            if (
                consent.channel is channel
                and consent.purpose == purpose
                and not consent.withdrawn_at
            ):
                consent = attrs.evolve(consent, withdrawn_at=at)
                touched = True
            consents.append(consent)
        if not touched:
            raise BusinessRuleViolation(
                f"no consent to withdraw for channel {channel.value!r} and purpose {purpose!r}"
            )
        new = attrs.evolve(self, consents=tuple(consents))
        event = ConsentWithdrawn(
            occurred_at=at, customer_id=self.id, channel=channel.value, purpose=purpose
        )
        return new, [event]


def _allowed_types(kind: CustomerKind) -> list[str]:
    return [
        t.value
        for t in IdDocumentType
        if (t.for_individuals if kind is CustomerKind.INDIVIDUAL else t.for_organisations)
    ]


def _tag_set(tags: Iterable[str]) -> frozenset[str]:
    if isinstance(tags, str):
        raise _problem("$.tags", "give a list of tags, not one string")
    return frozenset(tags)


def _opened_fields(
    customer_id: CustomerId | None, status: LifecycleStatus, at: datetime.datetime
) -> dict[str, Any]:
    return {"id": customer_id or new_customer_id(), "status": status, "opened_at": at}


@attrs.frozen(kw_only=True)
class IndividualCustomer(Customer):
    """A natural person (个人客户)."""

    kind: ClassVar[CustomerKind] = CustomerKind.INDIVIDUAL

    name: str = attrs.field(validator=_non_blank, repr=masked(PersonalDataKind.NAME))
    birthday: datetime.date | None = attrs.field(
        default=None, validator=_plain_date, repr=masked(PersonalDataKind.BIRTHDAY)
    )
    nationality: str = attrs.field(default="CN", validator=_country)
    occupation: str | None = attrs.field(default=None, validator=_optional_text)
    household: tuple[HouseholdMember, ...] = attrs.field(
        default=(), validator=_tuple_of(HouseholdMember)
    )

    def _kind_problems(self) -> list[Problem]:
        problems = []
        for i, doc in enumerate(self.identity_documents):
            born = doc.birth_date
            if born is not None and self.birthday is not None and born != self.birthday:
                problems.append(
                    Problem(
                        f"$.identity_documents[{i}].number",
                        "the birth date in the resident ID number does not match birthday",
                    )
                )
        return problems

    @property
    def display_name(self) -> str:
        return self.name

    @classmethod
    def open(
        cls,
        *,
        customer_number: str,
        name: str,
        at: datetime.datetime,
        identity_documents: Iterable[IdentityDocument] = (),
        status: LifecycleStatus = LifecycleStatus.ACTIVE,
        birthday: datetime.date | None = None,
        phones: Iterable[Phone] = (),
        emails: Iterable[EmailAddress] = (),
        addresses: Iterable[Address] = (),
        risk_level: RiskLevel | None = None,
        preferred_channels: Sequence[Channel] = (),
        consents: Iterable[MarketingConsent] = (),
        household: Iterable[HouseholdMember] = (),
        nationality: str = "CN",
        occupation: str | None = None,
        tags: Iterable[str] = (),
        custom_attributes: Mapping[str, JsonValue] | None = None,
        customer_id: CustomerId | None = None,
    ) -> IndividualCustomer:
        """Open an individual customer (or a prospect, with ``status=PROSPECT``).

        The birthday defaults to the one encoded in a resident ID number. Raises
        :class:`~finance_crm.errors.ValidationError` listing every problem found.
        """
        documents = tuple(identity_documents)
        if birthday is None:
            birthday = next((d.birth_date for d in documents if d.birth_date), None)
        return cls(
            **_opened_fields(customer_id, status, at),
            customer_number=customer_number,
            name=name,
            identity_documents=documents,
            birthday=birthday,
            phones=tuple(phones),
            emails=tuple(emails),
            addresses=tuple(addresses),
            risk_level=risk_level,
            preferred_channels=tuple(preferred_channels),
            consents=tuple(consents),
            household=tuple(household),
            nationality=nationality,
            occupation=occupation,
            tags=_tag_set(tags),
            custom_attributes=custom_attributes,
        )


@attrs.frozen(kw_only=True)
class CorporateCustomer(Customer):
    """A company or other organisation (公司客户 / 中小企业)."""

    kind: ClassVar[CustomerKind] = CustomerKind.CORPORATE

    legal_name: str = attrs.field(validator=_non_blank)
    legal_representative: LegalRepresentative | None = attrs.field(
        default=None, validator=_is(LegalRepresentative, optional=True)
    )
    contacts: tuple[CorporateContact, ...] = attrs.field(
        default=(), validator=_tuple_of(CorporateContact)
    )
    industry: str | None = attrs.field(default=None, validator=_optional_text)
    size: EnterpriseSize | None = attrs.field(
        default=None, validator=_is(EnterpriseSize, optional=True)
    )
    registered_capital: Money | None = attrs.field(
        default=None, validator=_is(Money, optional=True)
    )
    """Registered capital (注册资本), exact Money."""

    def _kind_problems(self) -> list[Problem]:
        if sum(1 for c in self.contacts if c.is_primary) > 1:
            return [Problem("$.contacts", "at most one contact can be the primary contact")]
        return []

    @property
    def display_name(self) -> str:
        return self.legal_name

    @property
    def registration_number(self) -> str | None:
        """The unified social credit code (统一社会信用代码), when recorded."""
        for doc in self.identity_documents:
            if doc.type is IdDocumentType.UNIFIED_SOCIAL_CREDIT_CODE:
                return doc.number
        return None

    @classmethod
    def open(
        cls,
        *,
        customer_number: str,
        legal_name: str,
        at: datetime.datetime,
        identity_documents: Iterable[IdentityDocument] = (),
        status: LifecycleStatus = LifecycleStatus.ACTIVE,
        legal_representative: LegalRepresentative | None = None,
        contacts: Iterable[CorporateContact] = (),
        industry: str | None = None,
        size: EnterpriseSize | None = None,
        registered_capital: Money | None = None,
        phones: Iterable[Phone] = (),
        emails: Iterable[EmailAddress] = (),
        addresses: Iterable[Address] = (),
        risk_level: RiskLevel | None = None,
        preferred_channels: Sequence[Channel] = (),
        consents: Iterable[MarketingConsent] = (),
        tags: Iterable[str] = (),
        custom_attributes: Mapping[str, JsonValue] | None = None,
        customer_id: CustomerId | None = None,
    ) -> CorporateCustomer:
        """Open a corporate customer; identify it by its unified social credit code."""
        return cls(
            **_opened_fields(customer_id, status, at),
            customer_number=customer_number,
            legal_name=legal_name,
            identity_documents=tuple(identity_documents),
            legal_representative=legal_representative,
            contacts=tuple(contacts),
            industry=industry,
            size=size,
            registered_capital=registered_capital,
            phones=tuple(phones),
            emails=tuple(emails),
            addresses=tuple(addresses),
            risk_level=risk_level,
            preferred_channels=tuple(preferred_channels),
            consents=tuple(consents),
            tags=_tag_set(tags),
            custom_attributes=custom_attributes,
        )
