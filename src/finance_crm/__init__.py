"""finance_crm: the domain layer of CRM for banks, securities brokers and insurers.

Importing this package is cheap and loads no database code; the SQL adapter lives in
:mod:`finance_crm.adapters.sql` and is imported only when used.

>>> import finance_crm
>>> finance_crm.Money.of("12.30", "CNY")
Money('12.30', 'CNY')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finance_crm.access import AccessScope, OrgScopes, UnmaskedRoles
from finance_crm.calendar import (
    BusinessCalendar,
    HolidayCalendar,
    WeekendCalendar,
    add_business_days,
    business_days_between,
    china_calendar,
    next_business_day,
    previous_business_day,
)
from finance_crm.clock import (
    Clock,
    FixedClock,
    SystemClock,
    business_date,
    end_of_business_day,
    ensure_utc,
)
from finance_crm.errors import (
    AuthenticationDataRefused,
    BusinessRuleViolation,
    ConflictError,
    CrmError,
    CurrencyMismatch,
    DuplicateError,
    NotFoundError,
    OutsideCalendarRange,
    PermissionDenied,
    Problem,
    SchemaNotReady,
    StorageError,
    ValidationError,
)
from finance_crm.ids import CustomerId, EventId, OrgUnitCode, StaffId, new_customer_id
from finance_crm.model.assignments import (
    AssignedManager,
    Assignment,
    AssignmentChanged,
    AssignmentRecord,
    ManagerRole,
)
from finance_crm.model.customers import (
    Address,
    AddressKind,
    Channel,
    ContactRole,
    CorporateContact,
    CorporateCustomer,
    Customer,
    CustomerKind,
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
from finance_crm.money import Currency, Money, RoundingMode, currency
from finance_crm.ports import (
    AuditEntry,
    CustomerOrder,
    CustomerPage,
    CustomerSummary,
    OutboxMessage,
    Store,
    UnitOfWork,
)
from finance_crm.retrying import run_with_retries
from finance_crm.rules.managers import (
    FixedCapacity,
    LeastLoadedNearby,
    ManagerRules,
    ReassignmentReasons,
    RoleWeights,
)
from finance_crm.security import (
    DEFAULT_MASKING,
    Actor,
    MaskingRule,
    PersonalDataKind,
    StandardMasking,
    Unmasked,
)
from finance_crm.serialization import make_converter
from finance_crm.services.customer_import import (
    FlatCustomerRows,
    ImportMode,
    ImportReport,
    RowError,
    import_customers,
)
from finance_crm.services.managers import (
    ActingManager,
    HandoverReport,
    Reassignment,
    RebalanceReport,
    acting_manager,
    assign_managers,
    assignment_history,
    book_report,
    depart_staff,
    hand_over_book,
    manager_on,
    reason_report,
    reassign_many,
    split_credit,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

__version__ = "0.1.0.dev0"

__all__ = [
    "DEFAULT_MASKING",
    "AccessScope",
    "ActingManager",
    "Actor",
    "Address",
    "AddressKind",
    "AssignedManager",
    "Assignment",
    "AssignmentChanged",
    "AssignmentRecord",
    "AuditEntry",
    "AuthenticationDataRefused",
    "BusinessCalendar",
    "BusinessRuleViolation",
    "Channel",
    "Clock",
    "ConflictError",
    "ContactRole",
    "CorporateContact",
    "CorporateCustomer",
    "CrmError",
    "Currency",
    "CurrencyMismatch",
    "Customer",
    "CustomerId",
    "CustomerKind",
    "CustomerOrder",
    "CustomerPage",
    "CustomerSummary",
    "DuplicateError",
    "EmailAddress",
    "EmploymentStatus",
    "EnterpriseSize",
    "EventId",
    "FixedCapacity",
    "FixedClock",
    "FlatCustomerRows",
    "HandoverReport",
    "HolidayCalendar",
    "HouseholdMember",
    "HouseholdRelation",
    "IdDocumentType",
    "IdentityDocument",
    "ImportMode",
    "ImportReport",
    "IndividualCustomer",
    "LeastLoadedNearby",
    "LeaveKind",
    "LeavePeriod",
    "LegalRepresentative",
    "LifecycleStatus",
    "ManagerRole",
    "ManagerRules",
    "MarketingConsent",
    "MaskingRule",
    "Money",
    "NotFoundError",
    "OrgScopes",
    "OrgUnit",
    "OrgUnitCode",
    "OrgUnitKind",
    "OutboxMessage",
    "OutsideCalendarRange",
    "PermissionDenied",
    "PersonalDataKind",
    "Phone",
    "PhoneKind",
    "Problem",
    "Reassignment",
    "ReassignmentReasons",
    "RebalanceReport",
    "RiskLevel",
    "RoleWeights",
    "RoundingMode",
    "RowError",
    "SchemaNotReady",
    "StaffId",
    "StaffMember",
    "StaffRole",
    "StandardMasking",
    "StorageError",
    "Store",
    "SystemClock",
    "UnitOfWork",
    "Unmasked",
    "UnmaskedRoles",
    "ValidationError",
    "WeekendCalendar",
    "acting_manager",
    "add_business_days",
    "assign_managers",
    "assignment_history",
    "book_report",
    "business_date",
    "business_days_between",
    "china_calendar",
    "currency",
    "depart_staff",
    "end_of_business_day",
    "ensure_utc",
    "hand_over_book",
    "import_customers",
    "make_converter",
    "manager_on",
    "new_customer_id",
    "next_business_day",
    "previous_business_day",
    "reason_report",
    "reassign_many",
    "run_with_retries",
    "split_credit",
    "upgrade_schema",
]


def upgrade_schema(bind: sa.Engine | sa.Connection | str, revision: str = "head") -> None:
    """Create or upgrade the finance_crm tables in a database (Alembic, shipped inside).

    Imports SQLAlchemy only when called. See
    :func:`finance_crm.adapters.sql.schema.upgrade_schema`.
    """
    from finance_crm.adapters.sql.schema import upgrade_schema as _upgrade

    _upgrade(bind, revision)


def __dir__() -> list[str]:
    return sorted(__all__)


def __getattr__(name: str) -> Any:
    raise AttributeError(f"module 'finance_crm' has no attribute {name!r}")
