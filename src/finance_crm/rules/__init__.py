"""Rules: small strategy objects a bank replaces (tier thresholds, masking, calendars, ...).

Each rule is a one-method Protocol with a sensible default. The word *policy* is kept
for insurance policies.
"""

from finance_crm.access import AccessRule, OrgScopes, UnmaskedRoles, UnmaskingRule
from finance_crm.calendar import BusinessCalendar, HolidayCalendar, WeekendCalendar, china_calendar
from finance_crm.money import RoundingMode
from finance_crm.rules.groups import (
    FixedFigures,
    GroupManagerRule,
    GroupRules,
    MemberFiguresSource,
    NoFigures,
    ParentManagerFirst,
)
from finance_crm.rules.managers import (
    CapacityRule,
    FixedCapacity,
    HandoverRule,
    LeastLoadedNearby,
    ManagerRules,
    ReassignmentReasons,
    RoleWeights,
    SplitRule,
)
from finance_crm.rules.service_standards import ServiceRules, SupervisorRule, UnitSupervisor
from finance_crm.rules.tiers import ThresholdTiers, TierRule, broker_tiers
from finance_crm.security import MaskingRule, StandardMasking, Unmasked
from finance_crm.services.customer_import import CustomerRowReader, FlatCustomerRows

__all__ = [
    "AccessRule",
    "BusinessCalendar",
    "CapacityRule",
    "CustomerRowReader",
    "FixedCapacity",
    "FixedFigures",
    "FlatCustomerRows",
    "GroupManagerRule",
    "GroupRules",
    "HandoverRule",
    "HolidayCalendar",
    "LeastLoadedNearby",
    "ManagerRules",
    "MaskingRule",
    "MemberFiguresSource",
    "NoFigures",
    "OrgScopes",
    "ParentManagerFirst",
    "ReassignmentReasons",
    "RoleWeights",
    "RoundingMode",
    "ServiceRules",
    "SplitRule",
    "StandardMasking",
    "SupervisorRule",
    "ThresholdTiers",
    "TierRule",
    "UnitSupervisor",
    "Unmasked",
    "UnmaskedRoles",
    "UnmaskingRule",
    "WeekendCalendar",
    "broker_tiers",
    "china_calendar",
]
