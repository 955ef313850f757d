"""Identifiers: ``NewType`` over :class:`uuid.UUID`, generated in Python.

Ids are made by the library, not the database, so bulk inserts need no ``RETURNING``
and an aggregate has its id before it is stored. ``uuid7`` style time-ordered ids keep
B-tree inserts local; they are built here because the stdlib gains ``uuid7`` only in 3.14.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import NewType

__all__ = [
    "CustomerId",
    "EventId",
    "new_customer_id",
    "new_event_id",
    "new_uuid7",
]

CustomerId = NewType("CustomerId", uuid.UUID)
EventId = NewType("EventId", uuid.UUID)


def new_uuid7() -> uuid.UUID:
    """A version-7 UUID (RFC 9562): 48-bit Unix milliseconds, then 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
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
