"""The finance_crm schema as SQLAlchemy Core tables (one ``MetaData``, ``crm_`` prefix).

Alembic migrations in ``migrations/`` create and upgrade exactly this schema; a test
compares the two with Alembic's autogenerate so they cannot drift apart.
"""

from __future__ import annotations

import sqlalchemy as sa

from finance_crm.adapters.sql.types import JSON_DOCUMENT, UtcDateTime

__all__ = ["audit_log", "customer_documents", "customers", "metadata", "outbox"]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A 64-bit sequence on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
_SEQUENCE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

customers = sa.Table(
    "crm_customer",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("customer_number", sa.String(40), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # The individual's name or the company's legal name (personal for individuals).
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("birthday", sa.Date(), nullable=True),
    sa.Column("risk_level", sa.SmallInteger(), nullable=True),
    sa.Column("industry", sa.String(40), nullable=True),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    # Contact data, documents, consents, household, contacts: the nested parts, as wire JSON.
    sa.Column("profile", JSON_DOCUMENT, nullable=False),
    sa.Column("custom_attributes", JSON_DOCUMENT, nullable=False),
)

# One row per identity document: the lookup index, and "one person, one customer".
customer_documents = sa.Table(
    "crm_customer_document",
    metadata,
    sa.Column("document_type", sa.String(32), primary_key=True),
    sa.Column("issuing_country", sa.String(2), primary_key=True),
    sa.Column("number", sa.String(64), primary_key=True),
    sa.Column(
        "customer_id",
        sa.Uuid(),
        sa.ForeignKey("crm_customer.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
)

audit_log = sa.Table(
    "crm_audit_log",
    metadata,
    sa.Column("sequence", _SEQUENCE, primary_key=True, autoincrement=True),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("entity_type", sa.String(40), nullable=False),
    sa.Column("entity_id", sa.String(64), nullable=False),
    sa.Column("entity_version", sa.Integer(), nullable=False),
    sa.Column("changes", JSON_DOCUMENT, nullable=False),
    sa.Index("ix_crm_audit_log_entity", "entity_type", "entity_id", "sequence"),
)

outbox = sa.Table(
    "crm_outbox",
    metadata,
    sa.Column("sequence", _SEQUENCE, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Uuid(), nullable=False, unique=True),
    sa.Column("event_type", sa.String(80), nullable=False),
    sa.Column("aggregate_id", sa.String(64), nullable=False),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("payload", JSON_DOCUMENT, nullable=False),
    sa.Column("published_at", UtcDateTime(), nullable=True),
    sa.Index("ix_crm_outbox_pending", "published_at", "sequence"),
)
