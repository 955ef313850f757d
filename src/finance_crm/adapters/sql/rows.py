"""Explicit row functions: domain objects to table rows and back.

Queryable fields get their own columns; the nested parts (documents, phones, consents,
household, contacts) travel as wire-format JSON in ``profile``, through the same strict
converter as the public wire format, so a row read back is validated like any input.

The write side produces plain DB-API values for the bulk path (``executemany`` on the
raw driver cursor, about 2x faster than SQLAlchemy's ``insert()`` with type processing);
:class:`RowCodec` encodes exactly what SQLAlchemy's column types would have stored.
"""

from __future__ import annotations

import datetime
import functools
import uuid
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from finance_crm._json import dumps, loads
from finance_crm.adapters.sql.errors import mapped_errors
from finance_crm.adapters.sql.types import sqlite_datetime
from finance_crm.errors import StorageError, ValidationError
from finance_crm.ids import (
    AccountId,
    ActivityId,
    CustomerId,
    OrgUnitCode,
    PartyId,
    RelationshipId,
    ServiceTaskId,
    SpotCheckId,
    StaffId,
)
from finance_crm.model.accounts import Account, AccountKind
from finance_crm.model.activities import (
    Activity,
    ActivityKind,
    ActivityOutcome,
    ActivityStatus,
    SpotCheck,
    SpotCheckFinding,
)
from finance_crm.model.assignments import (
    AssignedManager,
    Assignment,
    AssignmentRecord,
    ManagerRole,
)
from finance_crm.model.customers import (
    Channel,
    CorporateCustomer,
    Customer,
    CustomerKind,
    IndividualCustomer,
    LifecycleStatus,
    RiskLevel,
)
from finance_crm.model.organization import (
    EmploymentStatus,
    LeaveKind,
    LeavePeriod,
    OrgUnit,
    OrgUnitKind,
    StaffMember,
    StaffRole,
)
from finance_crm.model.relationships import (
    Party,
    PartyKind,
    Relationship,
    RelationshipType,
    RelationshipTypes,
)
from finance_crm.model.service_standards import ServiceTask, TaskStatus
from finance_crm.model.tiers import Tier, TierRecord
from finance_crm.money import ISO_4217, Money
from finance_crm.serialization import WireConverter

if TYPE_CHECKING:
    from finance_crm.adapters.sql.store import SqlUnitOfWork

__all__ = [
    "ACCOUNT_COLUMNS",
    "ASSIGNMENT_COLUMNS",
    "BALANCE_COLUMNS",
    "COLUMN_FIELDS",
    "HISTORY_COLUMNS",
    "MEMBER_COLUMNS",
    "PARTY_COLUMNS",
    "RELATIONSHIP_COLUMNS",
    "TIER_COLUMNS",
    "RowCodec",
    "account_from_row",
    "activity_from_row",
    "activity_to_row",
    "as_uuid",
    "assignment_from_rows",
    "chunks",
    "customer_exists",
    "customer_from_row",
    "customer_to_row",
    "fetch_rows",
    "insert_sql",
    "leave_rows",
    "managers_wire",
    "party_from_row",
    "party_to_row",
    "plain_date",
    "record_from_row",
    "registered_type",
    "relationship_from_row",
    "relationship_to_row",
    "share_bp",
    "share_from_millionths",
    "share_millionths",
    "spot_check_from_row",
    "spot_check_to_row",
    "staff_from_row",
    "staff_to_row",
    "task_from_row",
    "task_to_row",
    "tier_from_row",
    "unit_from_row",
    "unit_to_row",
]

# Fields stored in their own columns; everything else goes to ``profile``.
COLUMN_FIELDS = frozenset(
    {
        "id",
        "customer_number",
        "status",
        "opened_at",
        "version",
        "risk_level",
        "custom_attributes",
        "name",
        "legal_name",
        "birthday",
        "industry",
    }
)
_CLASSES: dict[str, type[Customer]] = {
    CustomerKind.INDIVIDUAL.value: IndividualCustomer,
    CustomerKind.CORPORATE.value: CorporateCustomer,
}
_FIELD_TYPES: dict[type[Customer], dict[str, Any]] = {}


def _field_types(cls: type[Customer]) -> dict[str, Any]:
    types = _FIELD_TYPES.get(cls)
    if types is None:
        attrs.resolve_types(cls)
        types = {f.name: f.type for f in attrs.fields(cls) if f.name not in COLUMN_FIELDS}
        _FIELD_TYPES[cls] = types
    return types


def customer_to_row(
    customer: Customer,
    converter: WireConverter,
    updated_at: datetime.datetime,
    wire: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``crm_customer`` row (Python values, for SQLAlchemy Core statements).

    ``wire`` is ``converter.unstructure(customer)`` when the caller already has it.
    """
    if wire is None:
        wire = converter.unstructure(customer)
    profile = {name: wire[name] for name in _field_types(type(customer))}
    return {
        "id": customer.id,
        "customer_number": customer.customer_number,
        "kind": customer.kind.value,
        "status": customer.status.value,
        "name": customer.display_name,
        "birthday": getattr(customer, "birthday", None),
        "risk_level": None if customer.risk_level is None else int(customer.risk_level),
        "industry": getattr(customer, "industry", None),
        "opened_at": customer.opened_at,
        "updated_at": updated_at,
        "version": customer.version,
        "profile": profile,
        "custom_attributes": wire["custom_attributes"],
    }


def customer_from_row(row: Mapping[str, Any] | sa.RowMapping, converter: WireConverter) -> Customer:
    """Rebuild a customer from its ``crm_customer`` row; the invariants run again."""
    cls = _CLASSES[row["kind"]]
    profile = row["profile"]
    if isinstance(profile, str):
        profile = loads(profile)
    custom = row["custom_attributes"]
    if isinstance(custom, str):
        custom = loads(custom)
    types = _field_types(cls)
    nested = {
        name: converter.structure_inner(value, types[name]) for name, value in profile.items()
    }
    birthday = row["birthday"]
    if isinstance(birthday, datetime.datetime):  # some drivers hand back a datetime
        birthday = birthday.date()
    columns: dict[str, Any] = {
        "id": row["id"] if isinstance(row["id"], uuid.UUID) else uuid.UUID(str(row["id"])),
        "customer_number": row["customer_number"],
        "status": LifecycleStatus(row["status"]),
        "opened_at": row["opened_at"],
        "version": row["version"],
        "risk_level": None if row["risk_level"] is None else RiskLevel(row["risk_level"]),
        "custom_attributes": custom,
    }
    if cls is IndividualCustomer:
        columns["name"] = row["name"]
        columns["birthday"] = birthday
    else:
        columns["legal_name"] = row["name"]
        columns["industry"] = row["industry"]
    return cls(**columns, **nested)


@attrs.frozen
class RowCodec:
    """Turns Python values into what the DB-API driver stores, per dialect.

    On SQLite this mirrors SQLAlchemy's storage: UUIDs as 32 hex digits, instants as
    naive UTC text, JSON as text. On PostgreSQL psycopg adapts UUIDs and datetimes
    itself and JSON goes as text for the ``jsonb`` column to parse.
    """

    dialect: str

    @property
    def placeholder(self) -> str:
        return "?" if self.dialect == "sqlite" else "%s"

    def uuid(self, value: uuid.UUID) -> Any:
        return value.hex if self.dialect == "sqlite" else value

    def instant(self, value: datetime.datetime | None) -> Any:
        if value is None:
            return None
        return sqlite_datetime(value) if self.dialect == "sqlite" else value

    def date(self, value: datetime.date | None) -> Any:
        if value is None:
            return None
        return value.isoformat() if self.dialect == "sqlite" else value

    def json(self, value: Any) -> str:
        return dumps(value)

    def customer(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """A ``customer_to_row`` dict as a tuple in ``CUSTOMER_COLUMNS`` order."""
        return (
            self.uuid(row["id"]),
            row["customer_number"],
            row["kind"],
            row["status"],
            row["name"],
            self.date(row["birthday"]),
            row["risk_level"],
            row["industry"],
            self.instant(row["opened_at"]),
            self.instant(row["updated_at"]),
            row["version"],
            self.json(row["profile"]),
            self.json(row["custom_attributes"]),
        )

    def party(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """A ``party_to_row`` dict as a tuple in ``PARTY_COLUMNS`` order."""
        customer = row["customer_id"]
        return (
            self.uuid(row["id"]),
            row["kind"],
            row["name"],
            None if customer is None else self.uuid(customer),
            row["lei"],
            row["registration_number"],
            row["country"],
            row["version"],
        )

    def account(self, account: Account) -> tuple[Any, ...]:
        """An account as a tuple in ``ACCOUNT_COLUMNS`` order."""
        return (
            self.uuid(account.id),
            self.uuid(account.customer_id),
            account.account_number,
            account.kind.value,
            account.currency,
            self.date(plain_date(account.opened_on)),
            None if account.closed_on is None else self.date(plain_date(account.closed_on)),
            account.product_code,
            account.version,
        )

    def relationship(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """A ``relationship_to_row`` dict as a tuple in ``RELATIONSHIP_COLUMNS`` order."""
        return (
            self.uuid(row["id"]),
            row["type"],
            self.uuid(row["source"]),
            self.uuid(row["target"]),
            self.date(row["valid_from"]),
            self.date(row["valid_to"]),
            row["share_millionths"],
            row["amount_minor"],
            row["currency"],
            row["reference"],
            row["version"],
        )


CUSTOMER_COLUMNS = (
    "id",
    "customer_number",
    "kind",
    "status",
    "name",
    "birthday",
    "risk_level",
    "industry",
    "opened_at",
    "updated_at",
    "version",
    "profile",
    "custom_attributes",
)
DOCUMENT_COLUMNS = ("document_type", "issuing_country", "number", "customer_id")
AUDIT_COLUMNS = (
    "recorded_at",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "entity_version",
    "changes",
)
OUTBOX_COLUMNS = ("event_id", "event_type", "aggregate_id", "occurred_at", "payload")


@functools.cache  # every unit of work asks for the same few
def insert_sql(table: str, columns: tuple[str, ...], placeholder: str) -> str:
    """A positional ``INSERT`` for the driver's ``executemany`` (bulk path)."""
    marks = ", ".join([placeholder] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


# -- the organisation ------------------------------------------------------------------


def unit_to_row(unit: OrgUnit) -> dict[str, Any]:
    return {
        "code": unit.code,
        "name": unit.name,
        "kind": unit.kind.value,
        "parent_code": unit.parent,
        "path": unit.path,
        "version": unit.version,
    }


def unit_from_row(row: Mapping[str, Any] | sa.RowMapping) -> OrgUnit:
    return OrgUnit(
        code=OrgUnitCode(row["code"]),
        name=row["name"],
        kind=OrgUnitKind(row["kind"]),
        parent=row["parent_code"],
        path=row["path"],
        version=row["version"],
    )


def staff_to_row(member: StaffMember, updated_at: datetime.datetime) -> dict[str, Any]:
    """The ``crm_staff`` row; the leave periods go to ``crm_staff_leave`` (:func:`leave_rows`)."""
    return {
        "id": member.id,
        "name": member.name,
        "unit_code": member.unit,
        "roles": ",".join(sorted(r.value for r in member.roles)),
        "status": member.status.value,
        "departed_at": member.departed_at,
        "capacity": member.capacity,
        "version": member.version,
        "updated_at": updated_at,
    }


def leave_rows(member: StaffMember) -> list[dict[str, Any]]:
    return [
        {
            "staff_id": member.id,
            "first_day": p.first_day,
            "last_day": p.last_day,
            "kind": p.kind.value,
        }
        for p in member.leaves
    ]


def _date(value: Any) -> datetime.date:
    # some drivers hand a DATE back as a datetime
    return value.date() if isinstance(value, datetime.datetime) else value


def staff_from_row(
    row: Mapping[str, Any] | sa.RowMapping, leaves: Sequence[Mapping[str, Any] | sa.RowMapping]
) -> StaffMember:
    roles = row["roles"]
    return StaffMember(
        id=StaffId(row["id"]),
        name=row["name"],
        unit=OrgUnitCode(row["unit_code"]),
        roles=frozenset(StaffRole(r) for r in roles.split(",")) if roles else frozenset(),
        status=EmploymentStatus(row["status"]),
        departed_at=row["departed_at"],
        leaves=tuple(
            LeavePeriod(_date(p["first_day"]), _date(p["last_day"]), LeaveKind(p["kind"]))
            for p in leaves
        ),
        capacity=row["capacity"],
        version=row["version"],
    )


# -- assignments -----------------------------------------------------------------------

_BP = Decimal(100)


def share_bp(share: Decimal) -> int:
    """A share in percent with two decimals as whole basis points (70.00 -> 7000)."""
    return int(share * _BP)


def _share(bp: int) -> Decimal:
    return Decimal(bp).scaleb(-2)


def managers_wire(managers: Sequence[AssignedManager]) -> list[list[str]]:
    """``[[staff_id, role, share], ...]`` with the share as exact decimal text."""
    return [[m.staff_id, m.role.value, str(m.share)] for m in managers]


def _customer_id(value: Any) -> CustomerId:
    return CustomerId(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def assignment_from_rows(
    head: Mapping[str, Any] | sa.RowMapping,
    members: Sequence[Mapping[str, Any] | sa.RowMapping],
) -> Assignment:
    """A current assignment from its ``crm_assignment`` row and its member rows."""
    return Assignment(
        customer_id=_customer_id(head["customer_id"]),
        managers=tuple(
            AssignedManager(StaffId(m["staff_id"]), ManagerRole(m["role"]), _share(m["share_bp"]))
            for m in members
        ),
        effective_from=head["effective_from"],
        reason=head["reason"],
        capacity_override=head["capacity_override"],
        version=head["version"],
    )


def record_from_row(row: Mapping[str, Any] | sa.RowMapping) -> AssignmentRecord:
    """One version from its ``crm_assignment_history`` row."""
    managers = row["managers"]
    if isinstance(managers, str):
        managers = loads(managers)
    return AssignmentRecord(
        customer_id=_customer_id(row["customer_id"]),
        version=row["version"],
        managers=tuple(
            AssignedManager(StaffId(staff_id), ManagerRole(role), Decimal(share))
            for staff_id, role, share in managers
        ),
        effective_from=row["effective_from"],
        effective_to=row["effective_to"],
        reason=row["reason"],
        actor=row["actor"],
        capacity_override=row["capacity_override"],
    )


ASSIGNMENT_COLUMNS = ("customer_id", "version", "effective_from", "reason", "capacity_override")
MEMBER_COLUMNS = ("customer_id", "staff_id", "role", "share_bp")
HISTORY_COLUMNS = (
    "customer_id",
    "version",
    "effective_from",
    "effective_to",
    "reason",
    "actor",
    "capacity_override",
    "primary_staff_id",
    "primary_unit_code",
    "effective_day",
    "managers",
)


# -- the relationship graph ----------------------------------------------------------

_BIGINT = 2**63  # amounts are stored as BIGINT minor units

PARTY_COLUMNS = (
    "id",
    "kind",
    "name",
    "customer_id",
    "lei",
    "registration_number",
    "country",
    "version",
)
RELATIONSHIP_COLUMNS = (
    "id",
    "type",
    "source",
    "target",
    "valid_from",
    "valid_to",
    "share_millionths",
    "amount_minor",
    "currency",
    "reference",
    "version",
)


def as_uuid(value: Any) -> uuid.UUID:
    """A UUID from what a driver returns (SQLite computed columns: hex text)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _day(value: Any) -> datetime.date:
    if isinstance(value, datetime.datetime):  # some drivers hand a DATE back as a datetime
        return value.date()
    if isinstance(value, str):  # a value computed in SQLite loses the column type
        return datetime.date.fromisoformat(value)
    assert isinstance(value, datetime.date)
    return value


def plain_date(day: datetime.date) -> datetime.date:
    """A plain ``datetime.date`` (drivers adapt it; a pendulum ``Date`` subclass may not be)."""
    return datetime.date(day.year, day.month, day.day)


def share_millionths(share: Decimal) -> int:
    """A percentage with at most 4 decimals as integer millionths of the whole
    (``Decimal("51.5")`` -> 515000; 100% -> 1,000,000)."""
    return int(share.scaleb(4))


def share_from_millionths(value: int) -> Decimal:
    """The percentage back, without trailing zeros (515000 -> ``Decimal("51.5")``)."""
    whole, rest = divmod(int(value), 10_000)
    if not rest:
        return Decimal(whole)
    return Decimal(int(value)).scaleb(-4).normalize()


def _amount_columns(amount: Money | None) -> tuple[int | None, str | None]:
    if amount is None:
        return None, None
    currency = amount.currency
    if ISO_4217.get(currency.code) != currency:
        raise ValidationError(
            "only ISO 4217 currencies can be stored (the currency is kept by its code); "
            "convert the amount to one",
            path="$.amount",
        )
    minor = amount.minor_units
    if not -_BIGINT < minor < _BIGINT:
        raise ValidationError(
            "the amount is too large to store (at most 18 digits of minor units)",
            path="$.amount",
        )
    return minor, currency.code


def party_to_row(party: Party) -> dict[str, Any]:
    """The ``crm_party`` row (Python values, for SQLAlchemy Core statements)."""
    return {
        "id": party.id,
        "kind": party.kind.value,
        "name": party.name,
        "customer_id": party.customer_id,
        "lei": party.lei,
        "registration_number": party.registration_number,
        "country": party.country,
        "version": party.version,
    }


def party_from_row(row: Mapping[str, Any] | sa.RowMapping) -> Party:
    """Rebuild a party from its row; the validators run again."""
    customer = row["customer_id"]
    return Party(
        id=PartyId(as_uuid(row["id"])),
        kind=PartyKind(row["kind"]),
        name=row["name"],
        customer_id=None if customer is None else CustomerId(as_uuid(customer)),
        lei=row["lei"],
        registration_number=row["registration_number"],
        country=row["country"],
        version=row["version"],
    )


def relationship_to_row(relationship: Relationship) -> dict[str, Any]:
    """The ``crm_relationship`` row (Python values, for SQLAlchemy Core statements)."""
    minor, currency = _amount_columns(relationship.amount)
    share = relationship.share
    return {
        "id": relationship.id,
        "type": relationship.type.code,
        "source": relationship.source,
        "target": relationship.target,
        "valid_from": plain_date(relationship.valid_from),
        "valid_to": None if relationship.valid_to is None else plain_date(relationship.valid_to),
        "share_millionths": None if share is None else share_millionths(share),
        "amount_minor": minor,
        "currency": currency,
        "reference": relationship.reference,
        "version": relationship.version,
    }


def registered_type(types: RelationshipTypes, code: str) -> RelationshipType:
    """The store's type for a stored code; StorageError when the registry lacks it."""
    found = types.by_code.get(code)
    if found is None:
        raise StorageError(
            f"a stored relationship has the type {code!r}, which this store's relationship "
            "types lack: create the store with the registry that recorded it, "
            "SqlStore(..., relationship_types=STANDARD_RELATIONSHIP_TYPES.with_types(...))"
        )
    return found


def relationship_from_row(
    row: Mapping[str, Any] | sa.RowMapping, types: RelationshipTypes
) -> Relationship:
    """Rebuild a relationship from its row, its type from the store's registry."""
    share, minor, valid_to = row["share_millionths"], row["amount_minor"], row["valid_to"]
    return Relationship(
        id=RelationshipId(as_uuid(row["id"])),
        type=registered_type(types, row["type"]),
        source=PartyId(as_uuid(row["source"])),
        target=PartyId(as_uuid(row["target"])),
        valid_from=_day(row["valid_from"]),
        valid_to=None if valid_to is None else _day(valid_to),
        share=None if share is None else share_from_millionths(share),
        amount=None if minor is None else Money.from_minor_units(int(minor), row["currency"]),
        reference=row["reference"],
        version=row["version"],
    )


# -- accounts and balances -------------------------------------------------------------

ACCOUNT_COLUMNS = (
    "id",
    "customer_id",
    "account_number",
    "kind",
    "currency",
    "opened_on",
    "closed_on",
    "product_code",
    "version",
)
BALANCE_COLUMNS = ("account_id", "day", "balance_minor")


def account_from_row(row: Mapping[str, Any] | sa.RowMapping) -> Account:
    """Rebuild an account from its ``crm_account`` row; the validators run again."""
    closed = row["closed_on"]
    return Account(
        id=AccountId(as_uuid(row["id"])),
        customer_id=CustomerId(as_uuid(row["customer_id"])),
        account_number=row["account_number"],
        kind=AccountKind(row["kind"]),
        currency=row["currency"],
        opened_on=_day(row["opened_on"]),
        closed_on=None if closed is None else _day(closed),
        product_code=row["product_code"],
        version=row["version"],
    )


def chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size`` (IN lists, executemany batches)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# -- customer tiers --------------------------------------------------------------------

TIER_COLUMNS = (
    "customer_id",
    "valid_from",
    "valid_to",
    "tier_code",
    "tier_name",
    "tier_rank",
    "average_minor",
    "currency",
    "period_start",
    "period_end",
)


def tier_from_row(row: Mapping[str, Any] | sa.RowMapping) -> TierRecord:
    """Rebuild a tier record from its ``crm_tier`` row: the tier as it was recorded
    (code, name, rank), the average from minor units; the validators run again."""
    valid_to = row["valid_to"]
    return TierRecord(
        customer_id=CustomerId(as_uuid(row["customer_id"])),
        tier=Tier(row["tier_code"], row["tier_name"], int(row["tier_rank"])),
        valid_from=_day(row["valid_from"]),
        valid_to=None if valid_to is None else _day(valid_to),
        average_aum=Money.from_minor_units(int(row["average_minor"]), row["currency"]),
        period_start=_day(row["period_start"]),
        period_end=_day(row["period_end"]),
    )


# -- activities, spot checks and service tasks ------------------------------------------


def _optional_day(value: Any) -> datetime.date | None:
    return None if value is None else _day(value)


def activity_to_row(activity: Activity, completed_on: datetime.date | None) -> dict[str, Any]:
    """The ``crm_activity`` row; ``completed_on`` is the business day of ``completed_at``
    in the store's time zone."""
    return {
        "id": activity.id,
        "customer_id": activity.customer_id,
        "owner": activity.owner,
        "kind": activity.kind.value,
        "purpose": activity.purpose,
        "status": activity.status.value,
        "planned_at": activity.planned_at,
        "duration_minutes": activity.duration_minutes,
        "participants": list(activity.participants),
        "channel": None if activity.channel is None else activity.channel.value,
        "completed_at": activity.completed_at,
        "completed_on": None if completed_on is None else plain_date(completed_on),
        "outcome": None if activity.outcome is None else activity.outcome.value,
        "reached": activity.counts_as_contact,
        "rejection_reason": activity.rejection_reason,
        "notes": activity.notes,
        "next_step": activity.next_step,
        "next_step_due": (
            None if activity.next_step_due is None else plain_date(activity.next_step_due)
        ),
        "task_id": activity.task_id,
        "cancel_reason": activity.cancel_reason,
        "version": activity.version,
    }


def activity_from_row(row: Mapping[str, Any] | sa.RowMapping) -> Activity:
    """Rebuild an activity from its ``crm_activity`` row; the validators run again."""
    participants = row["participants"]
    if isinstance(participants, str):
        participants = loads(participants)
    channel, outcome, task_id = row["channel"], row["outcome"], row["task_id"]
    return Activity(
        id=ActivityId(as_uuid(row["id"])),
        customer_id=CustomerId(as_uuid(row["customer_id"])),
        owner=StaffId(row["owner"]),
        kind=ActivityKind(row["kind"]),
        purpose=row["purpose"],
        status=ActivityStatus(row["status"]),
        planned_at=row["planned_at"],
        duration_minutes=row["duration_minutes"],
        participants=tuple(StaffId(p) for p in participants),
        channel=None if channel is None else Channel(channel),
        completed_at=row["completed_at"],
        outcome=None if outcome is None else ActivityOutcome(outcome),
        rejection_reason=row["rejection_reason"],
        notes=row["notes"],
        next_step=row["next_step"],
        next_step_due=_optional_day(row["next_step_due"]),
        task_id=None if task_id is None else ServiceTaskId(as_uuid(task_id)),
        cancel_reason=row["cancel_reason"],
        version=row["version"],
    )


def spot_check_to_row(check: SpotCheck, checked_on: datetime.date) -> dict[str, Any]:
    """The ``crm_spot_check`` row; ``checked_on`` is the business day of ``checked_at``."""
    return {
        "id": check.id,
        "activity_id": check.activity_id,
        "customer_id": check.customer_id,
        "owner": check.owner,
        "checker": check.checker,
        "checked_at": check.checked_at,
        "checked_on": plain_date(checked_on),
        "finding": check.finding.value,
        "notes": check.notes,
        "version": check.version,
    }


def spot_check_from_row(row: Mapping[str, Any] | sa.RowMapping) -> SpotCheck:
    return SpotCheck(
        id=SpotCheckId(as_uuid(row["id"])),
        activity_id=ActivityId(as_uuid(row["activity_id"])),
        customer_id=CustomerId(as_uuid(row["customer_id"])),
        owner=StaffId(row["owner"]),
        checker=StaffId(row["checker"]),
        checked_at=row["checked_at"],
        finding=SpotCheckFinding(row["finding"]),
        notes=row["notes"],
        version=row["version"],
    )


def task_to_row(task: ServiceTask) -> dict[str, Any]:
    """The ``crm_service_task`` row."""
    return {
        "id": task.id,
        "customer_id": task.customer_id,
        "standard": task.standard,
        "occurrence": task.occurrence,
        "purpose": task.purpose,
        "assignee": task.assignee,
        "covering_for": task.covering_for,
        "created_on": plain_date(task.created_on),
        "counts_from": plain_date(task.counts_from),
        "due_on": plain_date(task.due_on),
        "status": task.status.value,
        "done_on": None if task.done_on is None else plain_date(task.done_on),
        "activity_id": task.activity_id,
        "waived_reason": task.waived_reason,
        "closed_by": task.closed_by,
        "escalated_to": task.escalated_to,
        "escalated_on": None if task.escalated_on is None else plain_date(task.escalated_on),
        "version": task.version,
    }


def task_from_row(row: Mapping[str, Any] | sa.RowMapping) -> ServiceTask:
    """Rebuild a service task from its ``crm_service_task`` row; the validators run again."""
    activity_id, covering, escalated = row["activity_id"], row["covering_for"], row["escalated_to"]
    return ServiceTask(
        id=ServiceTaskId(as_uuid(row["id"])),
        customer_id=CustomerId(as_uuid(row["customer_id"])),
        standard=row["standard"],
        occurrence=row["occurrence"],
        purpose=row["purpose"],
        assignee=StaffId(row["assignee"]),
        covering_for=None if covering is None else StaffId(covering),
        created_on=_day(row["created_on"]),
        counts_from=_day(row["counts_from"]),
        due_on=_day(row["due_on"]),
        status=TaskStatus(row["status"]),
        done_on=_optional_day(row["done_on"]),
        activity_id=None if activity_id is None else ActivityId(as_uuid(activity_id)),
        waived_reason=row["waived_reason"],
        closed_by=row["closed_by"],
        escalated_to=None if escalated is None else StaffId(escalated),
        escalated_on=_optional_day(row["escalated_on"]),
        version=row["version"],
    )


def fetch_rows(uow: SqlUnitOfWork, statement: sa.Executable, **params: Any) -> list[sa.RowMapping]:
    """Every row of ``statement`` in ``uow``'s transaction, as mappings; driver errors
    mapped to finance_crm's."""
    with mapped_errors():
        return list(uow.connection.execute(statement, params).mappings().all())


_CUSTOMER_EXISTS = sa.text("SELECT 1 FROM crm_customer WHERE id = :key").bindparams(
    sa.bindparam("key", type_=sa.Uuid())
)


def customer_exists(uow: SqlUnitOfWork, customer_id: object) -> bool:
    """Whether a customer with this id is stored (in scope or not: writes check scope
    themselves)."""
    if not isinstance(customer_id, uuid.UUID):
        return False
    return bool(fetch_rows(uow, _CUSTOMER_EXISTS, key=customer_id))
