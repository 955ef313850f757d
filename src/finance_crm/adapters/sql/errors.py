"""The one place where database driver errors become finance_crm errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy.exc as sa_exc

from finance_crm.errors import (
    ConflictError,
    CrmError,
    DuplicateError,
    NotFoundError,
    SchemaNotReady,
    StorageError,
)

__all__ = ["mapped_errors"]

# SQLSTATEs that mean "someone else got there first; retrying may succeed".
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03", "57014"}
_UNIQUE_MESSAGES = {
    "customer_number": "customer number is already taken by another customer; choose another",
    "crm_customer_document": "an identity document is already registered to another customer; "
    "find that customer with find_by_document() instead of opening a new one",
    "crm_customer.id": "a customer with this id is already stored",
    "pk_crm_customer": "a customer with this id is already stored",
    "event_id": "an event with this id was already written to the outbox",
}


def _sqlstate(exc: sa_exc.DBAPIError) -> str | None:
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return state if isinstance(state, str) else None


def _describe_unique(exc: sa_exc.DBAPIError) -> str:
    # Look at constraint/table names only: the driver's detail text quotes the values.
    diag = getattr(exc.orig, "diag", None)
    where = " ".join(
        str(part)
        for part in (getattr(diag, "constraint_name", None), getattr(diag, "table_name", None))
        if part
    )
    text: str = where or str(exc.orig).split("\n")[0]
    for key, message in _UNIQUE_MESSAGES.items():
        if key in text:
            return message
    return "a record with the same key already exists"


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Translate SQLAlchemy/driver exceptions raised inside the block.

    Integrity errors drop the driver's exception (``from None``) because its message
    quotes the colliding values, which may be personal data.
    """
    try:
        yield
    except CrmError:
        raise
    except sa_exc.IntegrityError as exc:
        state = _sqlstate(exc) or ""
        text = str(exc.orig).lower()
        if state == "23505" or "unique constraint" in text:
            raise DuplicateError(_describe_unique(exc)) from None
        if state == "23503" or "foreign key" in text:
            raise NotFoundError("a referenced record does not exist") from None
        raise StorageError(
            "the database refused the data (integrity error); this is a finance_crm bug "
            "if the input passed validation: please report it"
        ) from None
    except sa_exc.DBAPIError as exc:
        sqlstate = _sqlstate(exc)
        text = str(exc.orig).lower()
        if sqlstate in _RETRYABLE_SQLSTATES or "database is locked" in text or "busy" in text:
            raise ConflictError(
                "the database was busy with a concurrent change; retry the unit of work "
                "(finance_crm.retrying does this)"
            ) from exc
        if "no such table" in text or sqlstate == "42P01":
            raise SchemaNotReady(
                "the finance_crm tables are missing: run finance_crm.upgrade_schema(engine) "
                "or store.upgrade_schema() first"
            ) from exc
        raise StorageError(f"database error ({type(exc.orig).__name__}); see __cause__") from exc
    except sa_exc.SQLAlchemyError as exc:
        raise StorageError(f"database error ({type(exc).__name__}); see __cause__") from exc
