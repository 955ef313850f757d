"""What goes into an audit record: the changed fields, before and after, masked.

Shared by every adapter so that the audit trail reads the same on all of them. Values
are in wire format (plain JSON), with personal values masked by the masking rule, so
the audit log itself never becomes a copy of personal financial information: names,
document numbers, phones, e-mail, addresses and birthdays are masked wherever they
appear (also inside household members, contacts and the legal representative), and
custom attributes keep their keys with masked values.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from finance_crm.model.assignments import Assignment
from finance_crm.model.customers import Customer
from finance_crm.model.organization import OrgUnit, StaffMember
from finance_crm.model.relationships import Party, Relationship
from finance_crm.security import DEFAULT_MASKING, MaskingRule, PersonalDataKind, Unmasked
from finance_crm.serialization import WireConverter

__all__ = [
    "PERSONAL_CUSTOMER_FIELDS",
    "assignment_changes",
    "customer_changes",
    "masked_wire",
    "party_changes",
    "relationship_changes",
    "staff_changes",
    "staff_wire",
    "unit_changes",
]

PERSONAL_CUSTOMER_FIELDS = frozenset(
    {
        "name",
        "birthday",
        "identity_documents",
        "phones",
        "emails",
        "addresses",
        "household",
        "legal_representative",
        "contacts",
        "custom_attributes",
    }
)
_NOT_AUDITED = frozenset({"version"})
_PLAIN = Unmasked()
_ID, _MOBILE, _PHONE = PersonalDataKind.ID_NUMBER, PersonalDataKind.MOBILE, PersonalDataKind.PHONE

# Inside a personal field, which keys hold what kind of personal data.
_KEY_KINDS = {
    "name": PersonalDataKind.NAME,
    "birthday": PersonalDataKind.BIRTHDAY,
    "address": PersonalDataKind.EMAIL,
    "line": PersonalDataKind.ADDRESS,
    "postal_code": PersonalDataKind.FREE_TEXT,
}


def _mask(value: Any, kind: PersonalDataKind, masking: MaskingRule) -> Any:
    return None if value is None else masking.mask(kind, str(value))


def _mask_personal(value: Any, masking: MaskingRule, number_kind: PersonalDataKind) -> Any:
    """Mask the personal leaves of one wire value by their key names."""
    if isinstance(value, list):
        return [_mask_personal(item, masking, number_kind) for item in value]
    if not isinstance(value, dict):
        return value
    masked: dict[str, Any] = {}
    for key, item in value.items():
        if key == "number":
            kind = number_kind
            if value.get("kind") not in (None, "mobile"):  # a phone that is not a mobile
                kind = PersonalDataKind.PHONE
            elif "type" in value:  # an identity document
                kind = PersonalDataKind.ID_NUMBER
            masked[key] = _mask(item, kind, masking)
        elif key in _KEY_KINDS:
            masked[key] = _mask(item, _KEY_KINDS[key], masking)
        elif key in ("phones", "phone", "identity_document", "email"):
            masked[key] = _mask_personal(item, masking, number_kind)
        else:
            masked[key] = item
    return masked


def masked_wire(name: str, value: Any, masking: MaskingRule = DEFAULT_MASKING) -> Any:
    """The audit form of one customer field's wire value."""
    if not value or name not in PERSONAL_CUSTOMER_FIELDS:
        return value
    if name == "name":
        return _mask(value, PersonalDataKind.NAME, masking)
    if name == "birthday":
        return _mask(value, PersonalDataKind.BIRTHDAY, masking)
    if name == "custom_attributes":
        return {k: masking.mask(PersonalDataKind.FREE_TEXT, str(v)) for k, v in value.items()}
    if name == "emails":
        return [
            {"address": _mask(e.get("address"), PersonalDataKind.EMAIL, masking)} for e in value
        ]
    # The two every customer has, without the generic walk (bulk imports audit each row).
    if name == "identity_documents":
        return [{**d, "number": _mask(d["number"], _ID, masking)} for d in value]
    if name == "phones":
        return [
            {
                **p,
                "number": _mask(p["number"], _MOBILE if p["kind"] == "mobile" else _PHONE, masking),
            }
            for p in value
        ]
    return _mask_personal(value, masking, PersonalDataKind.MOBILE)


def customer_changes(
    before: Customer | Mapping[str, Any] | None,
    after: Customer | Mapping[str, Any],
    converter: WireConverter,
    masking: MaskingRule = DEFAULT_MASKING,
) -> dict[str, dict[str, Any]]:
    """``{field: {"before": ..., "after": ...}}`` for every field that differs.

    Either side may be given as a customer or as its wire form (``converter.unstructure``),
    so a caller that already has the wire form does not pay for it twice. With
    ``before=None`` (a new customer) every non-empty field is recorded as set.
    """
    new = after if isinstance(after, Mapping) else converter.unstructure(after)
    changes: dict[str, dict[str, Any]] = {}
    if before is None:  # a new customer: every non-empty field, set from nothing
        personal = PERSONAL_CUSTOMER_FIELDS
        for name, value in new.items():
            if value is None or name in _NOT_AUDITED:
                continue
            cls = value.__class__
            if (cls is list or cls is dict) and not value:
                continue
            if name in personal:
                value = masked_wire(name, value, masking)
            changes[name] = {"before": None, "after": value}
        return changes
    old = before if isinstance(before, Mapping) else converter.unstructure(before)
    for name, value in new.items():
        if name in _NOT_AUDITED:
            continue
        previous = old.get(name)
        if previous == value:
            continue
        changes[name] = {
            "before": masked_wire(name, previous, masking),
            "after": masked_wire(name, value, masking),
        }
    return changes


def _instant(value: datetime.datetime) -> str:
    # The wire format's spelling of a UTC instant (as customers' audit records use).
    return value.isoformat().replace("+00:00", "Z")


def _team(assignment: Assignment | None) -> list[list[str]] | None:
    if assignment is None:
        return None
    return [[m.staff_id, m.role.value, str(m.share)] for m in assignment.managers]


def assignment_changes(before: Assignment | None, after: Assignment) -> dict[str, dict[str, Any]]:
    """The audit form of one version of a customer's managers: the team (staff code,
    role, share), the reason and the effective instant, before and after."""
    changes: dict[str, dict[str, Any]] = {
        "managers": {"before": _team(before), "after": _team(after)},
        "reason": {"before": before.reason if before else None, "after": after.reason},
        "effective_from": {
            "before": _instant(before.effective_from) if before else None,
            "after": _instant(after.effective_from),
        },
    }
    override_before = before.capacity_override if before else None
    if after.capacity_override is not None or override_before is not None:
        changes["capacity_override"] = {"before": override_before, "after": after.capacity_override}
    return changes


def staff_wire(staff: StaffMember, masking: MaskingRule = DEFAULT_MASKING) -> dict[str, Any]:
    """A staff record as audited: plain JSON values, the name masked."""
    return {
        "name": masking.mask(PersonalDataKind.NAME, staff.name),
        "unit": staff.unit,
        "roles": sorted(r.value for r in staff.roles),
        "status": staff.status.value,
        "departed_at": _instant(staff.departed_at) if staff.departed_at else None,
        "leaves": [
            [p.first_day.isoformat(), p.last_day.isoformat(), p.kind.value] for p in staff.leaves
        ],
        "capacity": staff.capacity,
    }


def _diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    if old is None:
        return {k: {"before": None, "after": v} for k, v in new.items() if v not in (None, [])}
    return {k: {"before": old.get(k), "after": v} for k, v in new.items() if old.get(k) != v}


def staff_changes(
    before: StaffMember | None, after: StaffMember, masking: MaskingRule = DEFAULT_MASKING
) -> dict[str, dict[str, Any]]:
    """``{field: {"before": ..., "after": ...}}`` for a staff record, name masked."""
    changes = _diff(staff_wire(before, _PLAIN) if before else None, staff_wire(after, _PLAIN))
    if "name" in changes:  # compared in full (a rename may mask alike), recorded masked
        changes["name"] = {
            "before": masking.mask(PersonalDataKind.NAME, before.name) if before else None,
            "after": masking.mask(PersonalDataKind.NAME, after.name),
        }
    return changes


def unit_changes(before: OrgUnit | None, after: OrgUnit) -> dict[str, dict[str, Any]]:
    """The audit form of an organisation unit's change."""

    def wire(unit: OrgUnit) -> dict[str, Any]:
        return {
            "name": unit.name,
            "kind": unit.kind.value,
            "parent": unit.parent,
            "path": unit.path,
        }

    return _diff(wire(before) if before else None, wire(after))


def party_changes(
    before: Party | None, after: Party, masking: MaskingRule = DEFAULT_MASKING
) -> dict[str, dict[str, Any]]:
    """The audit form of a party's change; a person's name compared in full, recorded
    masked (a company's name is not personal data)."""

    def wire(party: Party) -> dict[str, Any]:
        return {
            "kind": party.kind.value,
            "name": party.name,
            "customer_id": str(party.customer_id) if party.customer_id else None,
            "lei": party.lei,
            "registration_number": party.registration_number,
            "country": party.country,
        }

    changes = _diff(wire(before) if before else None, wire(after))
    if "name" in changes and after.name_kind is not None:
        changes["name"] = {
            "before": masking.mask(after.name_kind, before.name) if before else None,
            "after": masking.mask(after.name_kind, after.name),
        }
    return changes


def relationship_changes(
    before: Relationship | None, after: Relationship
) -> dict[str, dict[str, Any]]:
    """The audit form of a relationship's change (no personal data: party ids only)."""

    def wire(r: Relationship) -> dict[str, Any]:
        return {
            "type": r.type.code,
            "source": str(r.source),
            "target": str(r.target),
            "valid_from": r.valid_from.isoformat(),
            "valid_to": r.valid_to.isoformat() if r.valid_to else None,
            "share": str(r.share) if r.share is not None else None,
            "amount": [str(r.amount.amount), r.amount.currency.code] if r.amount else None,
            "reference": r.reference,
        }

    return _diff(wire(before) if before else None, wire(after))
