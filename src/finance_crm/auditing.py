"""What goes into an audit record: the changed fields, before and after, masked.

Shared by every adapter so that the audit trail reads the same on all of them.
Personal fields are recorded in their masked form (the same masking as ``repr``), so
the audit log itself never becomes a copy of personal financial information; custom
attributes keep their keys and mask their values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from finance_crm.model.customers import Customer
from finance_crm.security import DEFAULT_MASKING, PersonalDataKind
from finance_crm.serialization import WireConverter

__all__ = ["PERSONAL_CUSTOMER_FIELDS", "customer_changes"]

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
    }
)
_NOT_AUDITED = frozenset({"version"})


def _masked_custom(value: Mapping[str, Any]) -> dict[str, str]:
    return {
        key: DEFAULT_MASKING.mask(PersonalDataKind.FREE_TEXT, str(item))
        for key, item in value.items()
    }


def _render(field: attrs.Attribute[Any], value: Any, converter: WireConverter) -> Any:
    name = field.name
    if value is None or value == () or value == {}:
        return None if value is None else converter.unstructure(value)
    if name in PERSONAL_CUSTOMER_FIELDS:
        # The field's own masked repr (plain values), or the masked repr of the domain
        # objects it holds (see finance_crm.security).
        return field.repr(value) if callable(field.repr) else repr(value)
    if name == "custom_attributes":
        return _masked_custom(value)
    return converter.unstructure(value)


def customer_changes(
    before: Customer | None, after: Customer, converter: WireConverter
) -> dict[str, dict[str, Any]]:
    """``{field: {"before": ..., "after": ...}}`` for every field that differs.

    With ``before=None`` (a new customer) every non-empty field is recorded as set.
    """
    changes: dict[str, dict[str, Any]] = {}
    if before is None:
        changes["kind"] = {"before": None, "after": after.kind.value}
    for field in attrs.fields(type(after)):
        name = field.name
        if name in _NOT_AUDITED:
            continue
        new = getattr(after, name)
        old = getattr(before, name) if before is not None else None
        if before is not None and old == new:
            continue
        if before is None and (new is None or new == () or new == {} or new == frozenset()):
            continue
        changes[name] = {
            "before": _render(field, old, converter),
            "after": _render(field, new, converter),
        }
    return changes
