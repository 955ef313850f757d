"""Identifiers: ``NewType`` over :class:`uuid.UUID`, generated in Python.

Ids are made by the library, not the database, so bulk inserts need no ``RETURNING``
and an aggregate has its id before it is stored. ``uuid7`` style time-ordered ids keep
B-tree inserts local; they are built here because the stdlib gains ``uuid7`` only in 3.14.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import NewType, TypeAlias

__all__ = [
    "AccountId",
    "ActivityId",
    "CustomerId",
    "EventId",
    "OrgUnitCode",
    "PartyId",
    "RelationshipId",
    "ServiceTaskId",
    "SpotCheckId",
    "StaffId",
    "TransactionId",
    "new_account_id",
    "new_activity_id",
    "new_customer_id",
    "new_event_id",
    "new_party_id",
    "new_relationship_id",
    "new_service_task_id",
    "new_spot_check_id",
    "new_transaction_id",
    "new_uuid7",
]

CustomerId = NewType("CustomerId", uuid.UUID)
# An account or holding fed from a core system (its own number is Account.account_number).
AccountId = NewType("AccountId", uuid.UUID)
EventId = NewType("EventId", uuid.UUID)
# A transaction booked on an account, as a core system fed it (交易).
TransactionId = NewType("TransactionId", uuid.UUID)
# A call, visit, meeting or other contact with a customer, planned or done (活动, 拜访).
ActivityId = NewType("ActivityId", uuid.UUID)
# A piece of service work a standard asks of a manager (服务任务).
ServiceTaskId = NewType("ServiceTaskId", uuid.UUID)
# A quality review of one completed activity (抽查).
SpotCheckId = NewType("SpotCheckId", uuid.UUID)
# A party of the relationship graph (集团关系): a company or person, customer or not.
PartyId = NewType("PartyId", uuid.UUID)
RelationshipId = NewType("RelationshipId", uuid.UUID)
# Staff and organisation units are keyed by the institution's own codes (工号, 机构号),
# which key the HR and organisation systems they come from; see model/organization.py.
# Plain aliases, not NewTypes: hosts pass codes from their own systems as strings, and
# ``StaffId("RM01")`` still reads as documentation.
StaffId: TypeAlias = str
"""A staff member's code (工号), which is also the ``Actor.id`` of their logins."""
OrgUnitCode: TypeAlias = str
"""An organisation unit's code (机构号)."""


class _Entropy(threading.local):
    """Random bytes from the OS, fetched in blocks: one syscall per 400 ids, not per id."""

    def __init__(self) -> None:
        self.block = b""
        self.offset = 0

    def take10(self) -> bytes:
        if self.offset + 10 > len(self.block):
            self.block, self.offset = os.urandom(4000), 0
        start = self.offset
        self.offset += 10
        return self.block[start : start + 10]


_ENTROPY = _Entropy()


def new_uuid7() -> uuid.UUID:
    """A version-7 UUID (RFC 9562): 48-bit Unix milliseconds, then 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(_ENTROPY.take10(), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0x0FFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b, 62 bits
    return uuid.UUID(int=value)


def new_customer_id() -> CustomerId:
    return CustomerId(new_uuid7())


def new_event_id() -> EventId:
    return EventId(new_uuid7())


def new_party_id() -> PartyId:
    return PartyId(new_uuid7())


def new_relationship_id() -> RelationshipId:
    return RelationshipId(new_uuid7())


def new_account_id() -> AccountId:
    return AccountId(new_uuid7())


def new_activity_id() -> ActivityId:
    return ActivityId(new_uuid7())


def new_service_task_id() -> ServiceTaskId:
    return ServiceTaskId(new_uuid7())


def new_spot_check_id() -> SpotCheckId:
    return SpotCheckId(new_uuid7())


def new_transaction_id() -> TransactionId:
    return TransactionId(new_uuid7())
