"""The settings of standardised service: which standards, on which calendar, and who
is chased when a task is overdue.

:class:`ServiceRules` holds a bank's service standards (see
:mod:`finance_crm.model.service_standards`), the business calendar deadlines count on
(the China calendar with make-up working days by default), after how many business
days an overdue task goes to the supervisor, and the :class:`SupervisorRule` that
names that supervisor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from finance_crm.calendar import BusinessCalendar, china_calendar
from finance_crm.errors import ValidationError
from finance_crm.ids import OrgUnitCode, StaffId
from finance_crm.model.activities import ActivityKind
from finance_crm.model.organization import OrgUnit, StaffMember, StaffRole
from finance_crm.model.service_standards import (
    ALL_KINDS,
    CadenceStandard,
    DateStandard,
    EventStandard,
    ServiceStandard,
)

__all__ = ["ServiceRules", "SupervisorRule", "UnitSupervisor"]


class SupervisorRule(Protocol):
    """Who chases a manager's overdue work (主管)."""

    def supervisor_of(
        self,
        staff: StaffMember,
        colleagues: Sequence[StaffMember],
        units: Mapping[OrgUnitCode, OrgUnit],
    ) -> StaffId | None:
        """The supervisor of ``staff``, chosen from ``colleagues`` (every active staff
        member), or None when there is nobody to escalate to."""
        ...


@attrs.frozen
class UnitSupervisor:
    """The active supervisor of the manager's own unit, else of the nearest unit above
    it, else that unit's branch head; never the manager themself. Ties go to the
    smallest staff code."""

    roles: tuple[StaffRole, ...] = (StaffRole.SUPERVISOR, StaffRole.BRANCH_HEAD)

    def supervisor_of(
        self,
        staff: StaffMember,
        colleagues: Sequence[StaffMember],
        units: Mapping[OrgUnitCode, OrgUnit],
    ) -> StaffId | None:
        unit = units.get(staff.unit)
        # The own unit first, then upwards to the head office.
        chain = [staff.unit, *reversed(unit.ancestors)] if unit else [staff.unit]
        for code in chain:
            for role in self.roles:
                found = sorted(
                    c.id
                    for c in colleagues
                    if c.unit == code and c.is_active and role in c.roles and c.id != staff.id
                )
                if found:
                    return found[0]
        return None


def _standards(value: object) -> tuple[ServiceStandard, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError("must be a sequence of service standards", path="$.standards")
    standards = tuple(value)
    for i, standard in enumerate(standards):
        if not isinstance(standard, CadenceStandard | EventStandard | DateStandard):
            raise ValidationError(
                "must be a CadenceStandard, EventStandard or DateStandard",
                path=f"$.standards[{i}]",
            )
    return standards


def _calendar(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not callable(getattr(value, "is_business_day", None)):
        raise ValidationError(
            "must be a business calendar (anything with is_business_day(day))", path="$.calendar"
        )


def _escalation(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or not 0 <= value <= 250:
        raise ValidationError(
            "must be a whole number of business days from 0 to 250",
            path="$.escalate_after_business_days",
        )


def _supervisors(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not callable(getattr(value, "supervisor_of", None)):
        raise ValidationError(
            "must be a SupervisorRule (anything with supervisor_of(staff, colleagues, units))",
            path="$.supervisors",
        )


def _kinds(value: object) -> object:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return value
    return frozenset(value)


def _check_kinds(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, frozenset) or not all(isinstance(k, ActivityKind) for k in value):
        raise ValidationError("must be a set of ActivityKind", path="$.follow_up_kinds")


@attrs.frozen
class ServiceRules:
    """A bank's standardised service, in one object.

    ``follow_up_kinds`` are the activity kinds that close a follow-up task made from
    an activity's next step.
    """

    standards: tuple[ServiceStandard, ...] = attrs.field(converter=_standards)
    calendar: BusinessCalendar = attrs.field(factory=china_calendar, validator=_calendar)
    escalate_after_business_days: int = attrs.field(default=3, validator=_escalation)
    supervisors: SupervisorRule = attrs.field(factory=UnitSupervisor, validator=_supervisors)
    follow_up_kinds: frozenset[ActivityKind] = attrs.field(
        default=ALL_KINDS, converter=_kinds, validator=_check_kinds
    )

    def __attrs_post_init__(self) -> None:
        codes = [s.code for s in self.standards]
        for i, code in enumerate(codes):
            if code in codes[:i]:
                raise ValidationError(
                    f"two standards share the code {code!r}; codes name standards",
                    path=f"$.standards[{i}].code",
                )

    def standard(self, code: str) -> ServiceStandard:
        for standard in self.standards:
            if standard.code == code:
                return standard
        raise ValidationError(f"no standard with the code {code!r}", path="$.code")
