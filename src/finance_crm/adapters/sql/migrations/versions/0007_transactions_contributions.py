"""Transactions, securities trades and monthly contribution (交易, 贡献度).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_transaction",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("instrument", sa.String(32), nullable=True),
        sa.Column("sector", sa.String(60), nullable=True),
        sa.Column("quantity", sa.String(40), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["crm_account.id"],
            name="fk_crm_transaction_account_id_crm_account",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crm_transaction"),
        sa.UniqueConstraint(
            "account_id", "reference", name="uq_crm_transaction_account_id_reference"
        ),
    )
    op.create_index("ix_crm_transaction_account_day", "crm_transaction", ["account_id", "day"])
    op.create_index("ix_crm_transaction_day", "crm_transaction", ["day"])
    op.create_table(
        "crm_contribution",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["crm_customer.id"],
            name="fk_crm_contribution_customer_id_crm_customer",
        ),
        sa.PrimaryKeyConstraint("customer_id", "month", "currency", name="pk_crm_contribution"),
    )
    op.create_index("ix_crm_contribution_month", "crm_contribution", ["month"])


def downgrade() -> None:
    op.drop_index("ix_crm_contribution_month", table_name="crm_contribution")
    op.drop_table("crm_contribution")
    op.drop_index("ix_crm_transaction_day", table_name="crm_transaction")
    op.drop_index("ix_crm_transaction_account_day", table_name="crm_transaction")
    op.drop_table("crm_transaction")
