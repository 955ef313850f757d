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
from finance_crm.ids import (
    AccountId,
    CustomerId,
    EventId,
    OrgUnitCode,
    PartyId,
    RelationshipId,
    StaffId,
    new_customer_id,
)
from finance_crm.model.accounts import Account, AccountKind, DailyBalance
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
from finance_crm.model.relationships import (
    STANDARD_RELATIONSHIP_TYPES,
    Direction,
    Party,
    PartyKind,
    PartyRegistered,
    PartyRevised,
    Reached,
    Relationship,
    RelationshipCategory,
    RelationshipEnded,
    RelationshipRecorded,
    RelationshipType,
    RelationshipTypes,
    TreeNode,
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
from finance_crm.rules.groups import (
    FixedFigures,
    GroupRules,
    MemberFigures,
    NoFigures,
    ParentManagerFirst,
)
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
from finance_crm.services.balances import (
    BalanceFeedReport,
    BalanceRow,
    aum_on,
    average_daily_aum,
    load_balances,
    quarter_of,
)
from finance_crm.services.customer_import import (
    FlatCustomerRows,
    ImportMode,
    ImportReport,
    RowError,
    import_customers,
)
from finance_crm.services.gleif_import import GleifImportReport, import_gleif
from finance_crm.services.groups import (
    EffectiveOwnership,
    Group,
    GroupMemberLine,
    GroupView,
    GuaranteeCircle,
    actual_controller,
    effective_ownership,
    end_relationship,
    group_of,
    group_tree,
    group_view,
    guarantee_chain,
    guarantee_circles,
    household,
    party_for_customer,
    party_names,
    register_party,
    relate,
    related_parties,
    replace_relationship,
    ultimate_parent,
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
    "STANDARD_RELATIONSHIP_TYPES",
    "AccessScope",
    "Account",
    "AccountId",
    "AccountKind",
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
    "BalanceFeedReport",
    "BalanceRow",
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
    "DailyBalance",
    "Direction",
    "DuplicateError",
    "EffectiveOwnership",
    "EmailAddress",
    "EmploymentStatus",
    "EnterpriseSize",
    "EventId",
    "FixedCapacity",
    "FixedClock",
    "FixedFigures",
    "FlatCustomerRows",
    "GleifImportReport",
    "Group",
    "GroupMemberLine",
    "GroupRules",
    "GroupView",
    "GuaranteeCircle",
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
    "MemberFigures",
    "Money",
    "NoFigures",
    "NotFoundError",
    "OrgScopes",
    "OrgUnit",
    "OrgUnitCode",
    "OrgUnitKind",
    "OutboxMessage",
    "OutsideCalendarRange",
    "ParentManagerFirst",
    "Party",
    "PartyId",
    "PartyKind",
    "PartyRegistered",
    "PartyRevised",
    "PermissionDenied",
    "PersonalDataKind",
    "Phone",
    "PhoneKind",
    "Problem",
    "Reached",
    "Reassignment",
    "ReassignmentReasons",
    "RebalanceReport",
    "Relationship",
    "RelationshipCategory",
    "RelationshipEnded",
    "RelationshipId",
    "RelationshipRecorded",
    "RelationshipType",
    "RelationshipTypes",
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
    "TreeNode",
    "UnitOfWork",
    "Unmasked",
    "UnmaskedRoles",
    "ValidationError",
    "WeekendCalendar",
    "acting_manager",
    "actual_controller",
    "add_business_days",
    "assign_managers",
    "assignment_history",
    "aum_on",
    "average_daily_aum",
    "book_report",
    "business_date",
    "business_days_between",
    "china_calendar",
    "currency",
    "depart_staff",
    "effective_ownership",
    "end_of_business_day",
    "end_relationship",
    "ensure_utc",
    "group_of",
    "group_tree",
    "group_view",
    "guarantee_chain",
    "guarantee_circles",
    "hand_over_book",
    "household",
    "import_customers",
    "import_gleif",
    "load_balances",
    "make_converter",
    "manager_on",
    "new_customer_id",
    "next_business_day",
    "party_for_customer",
    "party_names",
    "previous_business_day",
    "quarter_of",
    "reason_report",
    "reassign_many",
    "register_party",
    "relate",
    "related_parties",
    "replace_relationship",
    "run_with_retries",
    "split_credit",
    "ultimate_parent",
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
