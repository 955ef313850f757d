"""The group-relationship graph (集团关系): parties and effective-dated relationships.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STEP = ["type", "valid_from", "valid_to"]


def upgrade() -> None:
    op.create_table(
        "crm_party",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("lei", sa.String(20), nullable=True),
        sa.Column("registration_number", sa.String(40), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_crm_party"),
        sa.UniqueConstraint("customer_id", name="uq_crm_party_customer_id"),
        sa.UniqueConstraint("lei", name="uq_crm_party_lei"),
    )
    op.create_table(
        "crm_relationship",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("source", sa.Uuid(), nullable=False),
        sa.Column("target", sa.Uuid(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("share_millionths", sa.BigInteger(), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source"], ["crm_party.id"], name="fk_crm_relationship_source_crm_party"
        ),
        sa.ForeignKeyConstraint(
            ["target"], ["crm_party.id"], name="fk_crm_relationship_target_crm_party"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crm_relationship"),
    )
    op.create_index(
        "ix_crm_relationship_down",
        "crm_relationship",
        ["source", *_STEP, "target", "id", "share_millionths"],
    )
    op.create_index(
        "ix_crm_relationship_up",
        "crm_relationship",
        ["target", *_STEP, "source", "id", "share_millionths"],
    )


def downgrade() -> None:
    op.drop_index("ix_crm_relationship_up", table_name="crm_relationship")
    op.drop_index("ix_crm_relationship_down", table_name="crm_relationship")
    op.drop_table("crm_relationship")
    op.drop_table("crm_party")
