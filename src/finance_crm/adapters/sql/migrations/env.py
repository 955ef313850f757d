"""Alembic environment for finance_crm's own migrations.

Run through :func:`finance_crm.upgrade_schema`, which passes the connection in
``config.attributes["connection"]``; the version table is ``finance_crm_alembic_version``
so it never collides with the host application's own Alembic history.
"""

from alembic import context

from finance_crm.adapters.sql.schema import VERSION_TABLE
from finance_crm.adapters.sql.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
