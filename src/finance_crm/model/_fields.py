"""attrs validators the domain modules share: one wording for the same check."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable
from typing import Any

import attrs

from finance_crm.errors import ValidationError

__all__ = ["Validator", "business_day", "name_of_up_to_200", "one_of", "plain_day"]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def name_of_up_to_200(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A non-blank string of at most 200 characters (a name)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValidationError(
            "must be a non-empty string of at most 200 characters", path=f"$.{attribute.name}"
        )


def one_of(kind: type[enum.Enum]) -> Validator:
    """A member of the enum ``kind``; the error lists the choices."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            choices = ", ".join(m.name for m in kind)
            raise ValidationError(
                f"must be a {kind.__name__} ({choices})", path=f"$.{attribute.name}"
            )

    return check


def plain_day(value: object) -> object:
    """A converter: a date (``pendulum.Date`` accepted at the edge) as a plain
    ``datetime.date``; anything else is left for the validator to refuse."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return datetime.date(value.year, value.month, value.day)
    return value


def business_day(*, optional: bool = False) -> Validator:
    """A business date (a date, not a datetime); ``None`` too when ``optional``."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
            raise ValidationError("must be a business date", path=f"$.{attribute.name}")

    return check
