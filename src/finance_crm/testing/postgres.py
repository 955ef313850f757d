"""Helpers for tests that need a real PostgreSQL server.

They are used by finance_crm's own suite and may be used by your adapter tests too.

Two environment variables drive them:

``FINANCE_CRM_TEST_POSTGRES_URL``
    A SQLAlchemy URL of a server where the tests may create and drop databases, e.g.
    ``postgresql+psycopg://postgres@127.0.0.1:54329/postgres``. Unset: PostgreSQL tests skip.
``FINANCE_CRM_REQUIRE_POSTGRES``
    ``1`` or ``true``: PostgreSQL tests must run, so a missing URL or an unreachable server
    fails them instead of skipping them. CI sets it.

Typical use in a pytest fixture::

    @pytest.fixture
    def postgres_url() -> Iterator[str]:
        admin_url = skip_or_fail_without_postgres()
        with throwaway_database(admin_url) as url:
            yield url
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator

import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

__all__ = [
    "POSTGRES_REQUIRED_ENV",
    "POSTGRES_URL_ENV",
    "empty_tables",
    "postgres_admin_url",
    "postgres_required",
    "skip_or_fail_without_postgres",
    "throwaway_database",
]

POSTGRES_URL_ENV = "FINANCE_CRM_TEST_POSTGRES_URL"
POSTGRES_REQUIRED_ENV = "FINANCE_CRM_REQUIRE_POSTGRES"

_MISSING_URL_REQUIRED = (
    "FINANCE_CRM_REQUIRE_POSTGRES is set but FINANCE_CRM_TEST_POSTGRES_URL is not: "
    "CI must run the PostgreSQL contract tests"
)
_MISSING_URL_SKIP = (
    "PostgreSQL tests skipped: set "
    "FINANCE_CRM_TEST_POSTGRES_URL=postgresql+psycopg://user@host:port/db to run them"
)
_PREFIX_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_CONNECT_TIMEOUT_S = 5


def postgres_admin_url() -> str | None:
    """The URL in ``FINANCE_CRM_TEST_POSTGRES_URL``, or ``None`` if it is unset or blank."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    return url or None


def postgres_required() -> bool:
    """Whether ``FINANCE_CRM_REQUIRE_POSTGRES`` is ``1`` or ``true`` (any case)."""
    return os.environ.get(POSTGRES_REQUIRED_ENV, "").strip().lower() in {"1", "true"}


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say so without echoing it
        return "<unparseable URL>"


def _connect_args(url: str) -> dict[str, object]:
    # psycopg and psycopg2 both take libpq's connect_timeout; other drivers may not.
    driver = make_url(url).get_driver_name()
    if driver in {"psycopg", "psycopg2"}:
        return {"connect_timeout": _CONNECT_TIMEOUT_S}
    return {}


def _check_reachable(url: str) -> str | None:
    """``None`` if a connection to ``url`` answers ``SELECT 1``, else why not."""
    try:
        engine = sqlalchemy.create_engine(url, connect_args=_connect_args(url), poolclass=NullPool)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        engine.dispose()
    return None


def skip_or_fail_without_postgres() -> str:
    """Return the admin URL, or skip the calling test (fail it when PostgreSQL is required).

    Call it from a test or fixture. It skips or fails when ``FINANCE_CRM_TEST_POSTGRES_URL``
    is unset, and also when it is set but the server cannot be reached; it fails rather than
    skips when ``FINANCE_CRM_REQUIRE_POSTGRES`` is ``1``/``true``.
    """
    import pytest  # only needed by test code: keep it out of the library's import path

    required = postgres_required()
    url = postgres_admin_url()
    if url is None:
        if required:
            pytest.fail(_MISSING_URL_REQUIRED, pytrace=False)
        pytest.skip(_MISSING_URL_SKIP)
    problem = _check_reachable(url)
    if problem is not None:
        message = (
            f"PostgreSQL server at {POSTGRES_URL_ENV}={_redacted(url)} is unreachable: {problem}"
        )
        if required:
            pytest.fail(
                f"{message} (FINANCE_CRM_REQUIRE_POSTGRES is set, so this fails)", pytrace=False
            )
        pytest.skip(f"PostgreSQL tests skipped: {message}")
    return url


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextlib.contextmanager
def throwaway_database(admin_url: str, prefix: str = "finance_crm_test") -> Iterator[str]:
    """Create a database with a random name, yield its URL, then drop it.

    ``admin_url`` must let its user ``CREATE DATABASE`` (a superuser or a role with
    CREATEDB). The yielded URL is ``admin_url`` with the database name replaced. On exit the
    database is dropped with ``WITH (FORCE)`` (PostgreSQL 13 or later), which also ends any
    connection still open to it, so a test that leaks a connection cannot leak the database.
    """
    prefix = prefix.lower()
    if not _PREFIX_RE.fullmatch(prefix) or len(prefix) > 40:
        raise ValueError(
            f"prefix must be a lower-case SQL identifier of at most 40 characters: {prefix!r}"
        )
    name = f"{prefix}_{secrets.token_hex(6)}"
    url = make_url(admin_url).set(database=name)
    engine = sqlalchemy.create_engine(
        admin_url,
        isolation_level="AUTOCOMMIT",
        connect_args=_connect_args(admin_url),
        poolclass=NullPool,
    )
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE {_quote_ident(name)}"))
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                conn.execute(
                    sqlalchemy.text(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
                )
    finally:
        engine.dispose()


def empty_tables(connection: sqlalchemy.Connection) -> None:
    """Empty every finance_crm table (``crm_*``) in one ``TRUNCATE``, between tests that
    share a database. One statement, because the tables refer to each other; the
    schema's version table is left alone."""
    names = sorted(
        n for n in sqlalchemy.inspect(connection).get_table_names() if n.startswith("crm_")
    )
    if names:
        connection.exec_driver_sql(f"TRUNCATE {', '.join(names)} RESTART IDENTITY")
