"""Create and upgrade the finance_crm schema with the Alembic migrations in this package."""

from __future__ import annotations

import functools

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from finance_crm.adapters.sql.errors import mapped_errors

__all__ = ["VERSION_TABLE", "current_revision", "head_revision", "upgrade_schema"]

VERSION_TABLE = "finance_crm_alembic_version"
_SCRIPT_LOCATION = "finance_crm.adapters.sql:migrations"


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", _SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest migration shipped with this version of finance_crm."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "finance_crm ships at least one migration"
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The migration a database is at (``None`` when finance_crm was never installed)."""
    with mapped_errors():
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade_schema(bind: sa.Engine | sa.Connection | str, revision: str = "head") -> None:
    """Bring the finance_crm tables up to ``revision`` (default: the newest).

    Accepts a URL, an ``Engine`` (a transaction is opened and committed here) or a
    ``Connection`` (the caller owns the transaction). Safe to call on every start-up:
    an up-to-date schema is left alone.
    """
    if isinstance(bind, str):
        engine = sa.create_engine(bind)
        try:
            upgrade_schema(engine, revision)
        finally:
            engine.dispose()
        return
    with mapped_errors():
        if isinstance(bind, sa.Engine):
            with bind.begin() as connection:
                command.upgrade(_config(connection), revision)
        else:
            command.upgrade(_config(bind), revision)
