"""The SQL adapter: finance_crm on SQLAlchemy Core (SQLite embedded, PostgreSQL at scale).

>>> from finance_crm.adapters.sql import SqlStore
>>> store = SqlStore.from_url("sqlite://")
>>> store.upgrade_schema()
"""

from finance_crm.adapters.sql.schema import current_revision, head_revision, upgrade_schema
from finance_crm.adapters.sql.store import SqlStore, SqlUnitOfWork

__all__ = ["SqlStore", "SqlUnitOfWork", "current_revision", "head_revision", "upgrade_schema"]
