"""Domain events: facts an aggregate raised, written to the outbox with the change.

Events carry ids, codes and field names, never personal values, so a host can put them
on a message bus without widening who sees personal financial information.
"""

from __future__ import annotations

import datetime

import attrs

from finance_crm.clock import ensure_utc
from finance_crm.ids import CustomerId, EventId, new_event_id

__all__ = [
    "ConsentGranted",
    "ConsentWithdrawn",
    "CustomerOpened",
    "CustomerRevised",
    "CustomerStatusChanged",
    "DomainEvent",
]


@attrs.frozen(kw_only=True)
class DomainEvent:
    """Base of every event: when it happened (UTC) and its own id for de-duplication."""

    occurred_at: datetime.datetime = attrs.field(converter=ensure_utc)
    event_id: EventId = attrs.field(factory=new_event_id)

    @property
    def event_type(self) -> str:
        return type(self).__name__

    @property
    def aggregate_id(self) -> str:
        raise NotImplementedError


@attrs.frozen(kw_only=True)
class _CustomerEvent(DomainEvent):
    customer_id: CustomerId

    @property
    def aggregate_id(self) -> str:
        return str(self.customer_id)


@attrs.frozen(kw_only=True)
class CustomerOpened(_CustomerEvent):
    """A customer (or prospect) record was created."""

    customer_number: str
    kind: str
    status: str


@attrs.frozen(kw_only=True)
class CustomerRevised(_CustomerEvent):
    """Fields of a customer changed; ``fields`` names them (values are in the audit log)."""

    fields: tuple[str, ...]


@attrs.frozen(kw_only=True)
class CustomerStatusChanged(_CustomerEvent):
    """The lifecycle status moved (prospect -> active -> dormant -> closed)."""

    old_status: str
    new_status: str
    reason: str | None = None


@attrs.frozen(kw_only=True)
class ConsentGranted(_CustomerEvent):
    """The customer agreed to be contacted on ``channel`` for ``purpose``."""

    channel: str
    purpose: str
    valid_from: datetime.date
    valid_until: datetime.date | None = None


@attrs.frozen(kw_only=True)
class ConsentWithdrawn(_CustomerEvent):
    """The customer withdrew consent on ``channel`` for ``purpose``; stop contacting at once."""

    channel: str
    purpose: str
