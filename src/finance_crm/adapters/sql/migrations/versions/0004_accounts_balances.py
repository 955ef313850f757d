"""Accounts and their end-of-day balances (账户, 日终余额).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Account numbers compare byte-wise ("C" collation) on PostgreSQL, like other codes.
CODE = sa.String(40).with_variant(sa.String(40, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "crm_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("account_number", CODE, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("product_code", sa.String(40), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["crm_customer.id"], name="fk_crm_account_customer_id_crm_customer"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crm_account"),
        sa.UniqueConstraint("account_number", name="uq_crm_account_account_number"),
    )
    op.create_index("ix_crm_account_customer_id", "crm_account", ["customer_id"])
    # On SQLite the table is its primary key's b-tree (WITHOUT ROWID); no foreign key,
    # for the load rate of balance feeds; the day index for clear_day: see tables.py.
    op.create_table(
        "crm_balance",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "day", name="pk_crm_balance"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_crm_balance_day", "crm_balance", ["day"])


def downgrade() -> None:
    op.drop_index("ix_crm_balance_day", table_name="crm_balance")
    op.drop_table("crm_balance")
    op.drop_index("ix_crm_account_customer_id", table_name="crm_account")
    op.drop_table("crm_account")
