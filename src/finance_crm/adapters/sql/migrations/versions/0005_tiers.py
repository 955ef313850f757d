"""Customer tiers (客户分层): effective-dated tier records.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # On SQLite the table is its primary key's b-tree (WITHOUT ROWID): a customer's
    # history is one key range. See tables.py.
    op.create_table(
        "crm_tier",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("tier_code", sa.String(40), nullable=False),
        sa.Column("tier_name", sa.String(200), nullable=False),
        sa.Column("tier_rank", sa.Integer(), nullable=False),
        sa.Column("average_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["crm_customer.id"], name="fk_crm_tier_customer_id_crm_customer"
        ),
        sa.PrimaryKeyConstraint("customer_id", "valid_from", name="pk_crm_tier"),
        sqlite_with_rowid=False,
    )
    # The current records only, by tier: tier counts and the latest current start
    # (valid_to, NULL throughout, lets SQLite see that the index covers the WHERE).
    op.create_index(
        "ix_crm_tier_current",
        "crm_tier",
        ["tier_code", "valid_from", "valid_to"],
        sqlite_where=sa.text("valid_to IS NULL"),
        postgresql_where=sa.text("valid_to IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_crm_tier_current", table_name="crm_tier")
    op.drop_table("crm_tier")
