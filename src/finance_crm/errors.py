"""The errors finance_crm raises: one tree, so a host can catch ``CrmError`` and nothing else.

::

    CrmError                                  anything finance_crm raises on purpose
    ├── ValidationError (ValueError)          bad input; .problems holds (path, message) pairs
    │   └── AuthenticationDataRefused         passwords, PINs, CVVs may never be stored
    ├── BusinessRuleViolation (ValueError)    valid input that the bank's rules forbid now
    │   ├── CurrencyMismatch                  arithmetic across two currencies
    │   └── OutsideCalendarRange              a date the business calendar has no data for
    ├── NotFoundError (LookupError)           no such customer / record
    ├── ConflictError                         someone else changed it first; reload and retry
    │   └── DuplicateError                    the key (customer number, ID document) is taken
    ├── PermissionDenied (PermissionError)    the actor's scope does not cover this
    └── StorageError                          the database failed for a reason not above
        └── SchemaNotReady                    the finance_crm tables are missing or out of date

Messages say what was wrong and what to do, and never contain personal data: a
validation message names the field (``$.identity_documents[0].number``), not its value.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "AuthenticationDataRefused",
    "BusinessRuleViolation",
    "ConflictError",
    "CrmError",
    "CurrencyMismatch",
    "DuplicateError",
    "NotFoundError",
    "OutsideCalendarRange",
    "PermissionDenied",
    "Problem",
    "SchemaNotReady",
    "StorageError",
    "ValidationError",
]


class CrmError(Exception):
    """The root of every error finance_crm raises on purpose."""


@attrs.frozen
class Problem:
    """One thing wrong with an input: where (a JSON-path-like string) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ValidationError(CrmError, ValueError):
    """Input that is malformed or breaks a single-field rule.

    ``problems`` lists every problem found, each with a path such as
    ``$.phones[1].number``. Messages name fields and expectations only; the offending
    value is never echoed, because it may be personal financial information.
    """

    def __init__(self, problems: Iterable[Problem] | str, *, path: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem(path, problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        lines = [str(p) for p in self.problems] or ["invalid input"]
        super().__init__("; ".join(lines))

    def under(self, prefix: str) -> ValidationError:
        """The same problems with their paths placed under ``prefix`` (``$.phones[0]``)."""
        moved = [
            Problem(prefix + p.path.removeprefix("$") if p.path else prefix, p.message)
            for p in self.problems
        ]
        return type(self)(moved) if type(self) is not ValidationError else ValidationError(moved)


class AuthenticationDataRefused(ValidationError):
    """Authentication data (passwords, PINs, CVV/CVC, OTPs) was offered for storage.

    Financial regulations (PCI DSS, JR/T 0171-2020) forbid keeping it at all; remove it
    from the input.
    """


class BusinessRuleViolation(CrmError, ValueError):
    """The input is well-formed but a business rule forbids it in the current state."""


class CurrencyMismatch(BusinessRuleViolation):
    """Two amounts in different currencies met in one calculation; convert one first."""


class OutsideCalendarRange(BusinessRuleViolation):
    """A business calendar was asked about a date it has no announced data for.

    Load the institution's own holiday notice for that year, or use a calendar whose
    known range covers the date; finance_crm never guesses holidays.
    """


class NotFoundError(CrmError, LookupError):
    """The record asked for does not exist (or is outside the actor's scope)."""


class ConflictError(CrmError):
    """A concurrent change won: the record's version moved on, or the database was busy.

    Reload the record and apply the change again (see ``finance_crm.retrying``).
    """


class DuplicateError(ConflictError):
    """A unique key is already taken (a customer number, an identity document)."""


class PermissionDenied(CrmError, PermissionError):
    """The actor's access scope does not cover this customer or operation."""


class StorageError(CrmError):
    """The storage failed for a reason finance_crm cannot classify further.

    The driver's exception is chained as ``__cause__`` for the host's logs.
    """


class SchemaNotReady(StorageError):
    """The finance_crm tables are missing or older than this library.

    Call ``finance_crm.upgrade_schema(engine)`` (or ``store.upgrade_schema()``) first.
    """
