"""Customers, identity documents, the audit log and the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from finance_crm.adapters.sql.types import UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")
SEQUENCE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The audit log is append-only: the database itself refuses UPDATE and DELETE.
_SQLITE_TRIGGERS = [
    "CREATE TRIGGER crm_audit_log_no_update BEFORE UPDATE ON crm_audit_log "
    "BEGIN SELECT RAISE(ABORT, 'crm_audit_log is append-only'); END",
    "CREATE TRIGGER crm_audit_log_no_delete BEFORE DELETE ON crm_audit_log "
    "BEGIN SELECT RAISE(ABORT, 'crm_audit_log is append-only'); END",
]
_POSTGRES_TRIGGERS = [
    "CREATE FUNCTION crm_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'crm_audit_log is append-only'; END $$",
    "CREATE TRIGGER crm_audit_log_no_change BEFORE UPDATE OR DELETE ON crm_audit_log "
    "FOR EACH ROW EXECUTE FUNCTION crm_audit_log_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "crm_customer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_number", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("birthday", sa.Date(), nullable=True),
        sa.Column("risk_level", sa.SmallInteger(), nullable=True),
        sa.Column("industry", sa.String(40), nullable=True),
        sa.Column("opened_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("profile", JSON_DOCUMENT, nullable=False),
        sa.Column("custom_attributes", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_crm_customer"),
        sa.UniqueConstraint("customer_number", name="uq_crm_customer_customer_number"),
    )
    op.create_table(
        "crm_customer_document",
        sa.Column("document_type", sa.String(32), nullable=False),
        sa.Column("issuing_country", sa.String(2), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["crm_customer.id"],
            name="fk_crm_customer_document_customer_id_crm_customer",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "document_type", "issuing_country", "number", name="pk_crm_customer_document"
        ),
    )
    op.create_index(
        "ix_crm_customer_document_customer_id", "crm_customer_document", ["customer_id"]
    )
    op.create_table(
        "crm_audit_log",
        sa.Column("sequence", SEQUENCE, autoincrement=True, nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("entity_version", sa.Integer(), nullable=False),
        sa.Column("changes", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("sequence", name="pk_crm_audit_log"),
    )
    op.create_index(
        "ix_crm_audit_log_entity", "crm_audit_log", ["entity_type", "entity_id", "sequence"]
    )
    op.create_table(
        "crm_outbox",
        sa.Column("sequence", SEQUENCE, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(80), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("sequence", name="pk_crm_outbox"),
        sa.UniqueConstraint("event_id", name="uq_crm_outbox_event_id"),
    )
    op.create_index("ix_crm_outbox_pending", "crm_outbox", ["published_at", "sequence"])
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": _SQLITE_TRIGGERS, "postgresql": _POSTGRES_TRIGGERS}.get(
        dialect, []
    ):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS crm_audit_log_no_change ON crm_audit_log")
        op.execute("DROP FUNCTION IF EXISTS crm_audit_log_append_only()")
    op.drop_table("crm_outbox")
    op.drop_table("crm_audit_log")
    op.drop_table("crm_customer_document")
    op.drop_table("crm_customer")
