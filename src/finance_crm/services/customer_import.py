"""Bulk import of customers from any iterable of mappings (a CSV reader, a DB cursor).

Rows are read one at a time, validated, and written in batches inside the caller's
unit of work, so memory stays flat whatever the input size. Each bad row is reported
with its row number, the column and the problem; values are never echoed.

Two modes:

* ``ALL_OR_NOTHING`` (default): if any row is bad, nothing is written (the import runs
  in a savepoint that is rolled back) and the report lists every problem found.
* ``SKIP_BAD_ROWS``: good rows are written, bad rows are reported and skipped.

The mapping from a row to a customer is a rule (:class:`CustomerRowReader`); the
default :class:`FlatCustomerRows` reads a documented flat layout of text columns.
"""

from __future__ import annotations

import datetime
import enum
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import attrs

from finance_crm.clock import Clock, SystemClock
from finance_crm.errors import DuplicateError, Problem, ValidationError
from finance_crm.model.customers import (
    CorporateCustomer,
    Customer,
    CustomerKind,
    IndividualCustomer,
    JsonValue,
    LifecycleStatus,
    RiskLevel,
)
from finance_crm.model.documents import EmailAddress, IdDocumentType, IdentityDocument, Phone
from finance_crm.ports import UnitOfWork

__all__ = [
    "CustomerRowReader",
    "FlatCustomerRows",
    "ImportMode",
    "ImportReport",
    "RowError",
    "import_customers",
]


T = TypeVar("T")


class ImportMode(enum.Enum):
    ALL_OR_NOTHING = "all_or_nothing"
    SKIP_BAD_ROWS = "skip_bad_rows"


@attrs.frozen
class RowError:
    """One problem in one input row. ``row_number`` counts data rows from 1."""

    row_number: int
    field: str
    problem: str

    def __str__(self) -> str:
        return f"row {self.row_number}, {self.field}: {self.problem}"


@attrs.frozen(kw_only=True)
class ImportReport:
    """What an import did. ``errors`` holds the first ``max_reported_errors`` problems."""

    mode: ImportMode
    rows_read: int
    imported: int
    rejected_rows: int
    errors: tuple[RowError, ...]
    errors_not_listed: int = 0

    @property
    def ok(self) -> bool:
        """True when every row was imported."""
        return self.rejected_rows == 0

    def raise_for_errors(self) -> None:
        """Raise :class:`ValidationError` (with row-numbered paths) if any row was bad."""
        if self.errors:
            raise ValidationError(
                Problem(f"row {e.row_number}.{e.field}", e.problem) for e in self.errors
            )


class CustomerRowReader(Protocol):
    """A rule that turns one input row into a customer, or raises ValidationError.

    Problems should use the row's column names as paths (``$.id_number``), so the
    report points at the column to fix.
    """

    def customer_from_row(self, row: Mapping[str, Any], *, at: datetime.datetime) -> Customer: ...


def _text(row: Mapping[str, Any], column: str) -> str | None:
    value = row.get(column)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("must be text", path=f"$.{column}")
    return value.strip() or None


def _date(row: Mapping[str, Any], column: str) -> datetime.date | None:
    value = _text(row, column)
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value) if len(value) == 10 else _bad_date(column)
    except ValueError:
        return _bad_date(column)


def _bad_date(column: str) -> datetime.date:
    raise ValidationError("must be a date as YYYY-MM-DD", path=f"$.{column}")


def _enum(row: Mapping[str, Any], column: str, cls: type[enum.Enum]) -> Any:
    value = _text(row, column)
    if value is None:
        return None
    member = _members(cls).get(value)
    if member is None:
        allowed = ", ".join(str(m.value) for m in cls)
        raise ValidationError(f"must be one of {allowed}", path=f"$.{column}")
    return member


@functools.cache
def _members(cls: type[enum.Enum]) -> dict[str, enum.Enum]:
    return {str(m.value): m for m in cls}


# Where a domain problem lands in the flat layout.
_PATH_TO_COLUMN = (
    ("$.identity_documents", "id_number"),
    ("$.phones", "mobile"),
    ("$.emails", "email"),
    ("$.legal_name", "name"),
)


def _to_column(path: str) -> str:
    for prefix, column in _PATH_TO_COLUMN:
        if path.startswith(prefix):
            return f"$.{column}"
    return path


@attrs.frozen(kw_only=True)
class FlatCustomerRows:
    """The default row layout: one text column per field (empty text means absent).

    Columns: ``customer_number`` (required), ``kind`` (``individual``/``corporate``,
    default individual), ``name`` (person's name or company's legal name), ``id_type``
    (an :class:`IdDocumentType` value; default ``resident_id`` for individuals and
    ``uscc`` for companies), ``id_number``, ``id_country`` (default CN), ``birthday``
    (YYYY-MM-DD), ``mobile``, ``email``, ``risk_level`` (1-5), ``status`` (default
    active), ``industry``, ``tags`` (separated by ``;``).

    ``custom_columns`` are copied as text into custom attributes. Any other column is
    refused unless ``ignore_unknown_columns`` is set, because a misspelt column
    silently dropped is data lost.
    """

    custom_columns: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    ignore_unknown_columns: bool = False

    KNOWN = frozenset(
        {
            "customer_number",
            "kind",
            "name",
            "id_type",
            "id_number",
            "id_country",
            "birthday",
            "mobile",
            "email",
            "risk_level",
            "status",
            "industry",
            "tags",
        }
    )

    def customer_from_row(self, row: Mapping[str, Any], *, at: datetime.datetime) -> Customer:
        if not isinstance(row, Mapping):
            raise ValidationError("a row must be a mapping of column names to text")
        if not self.ignore_unknown_columns:
            self._refuse_unknown_columns(row)
        try:
            return self._build(row, at)
        except ValidationError as exc:
            raise ValidationError(
                Problem(_to_column(p.path), p.message) for p in exc.problems
            ) from None

    def _refuse_unknown_columns(self, row: Mapping[str, Any]) -> None:
        known = self.KNOWN | self.custom_columns
        unknown = [k for k in row if k not in known]
        if not unknown:
            return
        if "customer_number" not in row and "name" not in row:
            # Most likely a file without a header row, whose first record became the
            # header: the "column names" are personal data, so none is repeated here.
            raise ValidationError(
                "none of the expected columns (customer_number, name) is present; "
                "does the file lack a header row?",
                path="$",
            )
        raise ValidationError(
            Problem(
                f"$.{str(k)[:64]}",
                "unknown column: map it with custom_columns or set ignore_unknown_columns",
            )
            for k in unknown
        )

    def _build(self, row: Mapping[str, Any], at: datetime.datetime) -> Customer:
        kind = _enum(row, "kind", CustomerKind) or CustomerKind.INDIVIDUAL
        number = _text(row, "customer_number")
        if number is None:
            raise ValidationError("required", path="$.customer_number")
        name = _text(row, "name")
        if name is None:
            raise ValidationError("required", path="$.name")
        default_type = (
            IdDocumentType.RESIDENT_ID
            if kind is CustomerKind.INDIVIDUAL
            else IdDocumentType.UNIFIED_SOCIAL_CREDIT_CODE
        )
        id_type = _enum(row, "id_type", IdDocumentType) or default_type
        id_number = _text(row, "id_number")
        country = _text(row, "id_country") or "CN"
        documents = (
            (
                _in_column(
                    "id_number",
                    IdentityDocument,
                    type=id_type,
                    number=id_number,
                    issuing_country=country,
                ),
            )
            if id_number
            else ()
        )
        mobile = _text(row, "mobile")
        email = _text(row, "email")
        risk = _text(row, "risk_level")
        if risk is not None and (len(risk) != 1 or risk not in "12345"):
            raise ValidationError("must be a risk level from 1 to 5", path="$.risk_level")
        tags = _text(row, "tags")
        custom: dict[str, JsonValue] = {}
        for column in self.custom_columns:
            value = _text(row, column)
            if value is not None:
                custom[column] = value
        common: dict[str, Any] = {
            "customer_number": number,
            "at": at,
            "identity_documents": documents,
            "status": _enum(row, "status", LifecycleStatus) or LifecycleStatus.ACTIVE,
            "phones": (_in_column("mobile", Phone, number=mobile),) if mobile else (),
            "emails": (_in_column("email", EmailAddress, email),) if email else (),
            "risk_level": RiskLevel(int(risk)) if risk else None,
            "tags": [t.strip() for t in tags.split(";") if t.strip()] if tags else (),
            "custom_attributes": custom,
        }
        if kind is CustomerKind.INDIVIDUAL:
            return IndividualCustomer.open(name=name, birthday=_date(row, "birthday"), **common)
        return CorporateCustomer.open(legal_name=name, industry=_text(row, "industry"), **common)


_DOCUMENT_COLUMNS = {"$.issuing_country": "id_country", "$.type": "id_type"}


def _in_column(column: str, cls: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Build a value object; its problems are reported against ``column`` (or, for an
    identity document, the column its field came from)."""
    try:
        return cls(*args, **kwargs)
    except ValidationError as exc:
        raise ValidationError(
            Problem(f"$.{_DOCUMENT_COLUMNS.get(p.path, column)}", p.message) for p in exc.problems
        ) from None


def _field_of(path: str) -> str:
    field = path.removeprefix("$").removeprefix(".")
    return field or "row"


class _RollBack(Exception):
    """Raised inside the import savepoint to undo an all-or-nothing import."""


@attrs.define
class _Tally:
    mode: ImportMode
    max_errors: int
    rows_read: int = 0
    imported: int = 0
    rejected: int = 0
    errors: list[RowError] = attrs.field(factory=list)
    not_listed: int = 0

    def reject(self, row_number: int, problems: Sequence[Problem]) -> None:
        self.rejected += 1
        for problem in problems or [Problem("$", "invalid row")]:
            if len(self.errors) < self.max_errors:
                self.errors.append(RowError(row_number, _field_of(problem.path), problem.message))
            else:
                self.not_listed += 1


def import_customers(
    uow: UnitOfWork,
    rows: Iterable[Mapping[str, Any]],
    *,
    reader: CustomerRowReader | None = None,
    mode: ImportMode = ImportMode.ALL_OR_NOTHING,
    batch_size: int = 1000,
    clock: Clock | None = None,
    max_reported_errors: int = 1000,
) -> ImportReport:
    """Import customers from ``rows`` into ``uow`` (the caller commits).

    >>> from finance_crm.adapters.memory import InMemoryStore
    >>> from finance_crm.security import Actor
    >>> store = InMemoryStore()
    >>> rows = [{"customer_number": "C1", "name": "王五", "id_number": ""}]
    >>> with store.unit_of_work(Actor.system("import")) as uow:
    ...     report = import_customers(uow, rows)
    >>> report.rejected_rows, report.errors[0].field
    (1, 'id_number')
    """
    if batch_size < 1:
        raise ValidationError("batch_size must be at least 1", path="$.batch_size")
    reader = reader or FlatCustomerRows()
    clock = clock or SystemClock()
    tally = _Tally(mode, max_reported_errors)
    all_or_nothing = mode is ImportMode.ALL_OR_NOTHING
    try:
        with uow.savepoint():
            batch: list[tuple[int, Customer]] = []
            at = clock.now()
            for row_number, row in enumerate(rows, start=1):
                tally.rows_read += 1
                try:
                    batch.append((row_number, reader.customer_from_row(row, at=at)))
                except ValidationError as exc:
                    tally.reject(row_number, exc.problems)
                if len(batch) >= batch_size:
                    _flush(uow, batch, tally)
                    batch = []
                    at = clock.now()
            _flush(uow, batch, tally)
            if all_or_nothing and tally.rejected:
                raise _RollBack
    except _RollBack:
        tally.imported = 0
    return ImportReport(
        mode=mode,
        rows_read=tally.rows_read,
        imported=tally.imported,
        rejected_rows=tally.rejected,
        errors=tuple(tally.errors),
        errors_not_listed=tally.not_listed,
    )


def _flush(uow: UnitOfWork, batch: list[tuple[int, Customer]], tally: _Tally) -> None:
    # In all-or-nothing mode rows are still written after a bad one (the savepoint is
    # rolled back at the end) so that every duplicate is found and reported at once.
    if not batch:
        return
    try:
        uow.customers.add_many([customer for _, customer in batch])
        tally.imported += len(batch)
        return
    except DuplicateError:
        pass
    # The batch collided with stored data (or itself): find the rows one by one.
    for row_number, customer in batch:
        try:
            uow.customers.add(customer)
            tally.imported += 1
        except DuplicateError as exc:
            field = "$.id_number" if "document" in str(exc) else "$.customer_number"
            tally.reject(row_number, [Problem(field, str(exc))])
