"""JSON text for storage columns and the outbox: one encoder, used everywhere.

orjson is used because the bulk paths write several JSON documents per customer and
it encodes them several times faster than the standard library; output is compact,
key-sorted UTF-8, identical in meaning to ``json.dumps``.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["dumps", "loads"]

_OPTIONS = orjson.OPT_SORT_KEYS


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON text (non-ASCII kept as is)."""
    return orjson.dumps(value, option=_OPTIONS).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)
