"""The organisation, staff, customers' managers (effective-dated) and customer list paging.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from finance_crm.adapters.sql.types import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")
# Codes and unit paths compare byte-wise ("C" collation) on PostgreSQL: a unit subtree is
# one index range whatever the database's locale.
CODE = sa.String(40).with_variant(sa.String(40, collation="C"), "postgresql")
UNIT_PATH = sa.String(400).with_variant(sa.String(400, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "crm_org_unit",
        sa.Column("code", CODE, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("parent_code", CODE, nullable=True),
        sa.Column("path", UNIT_PATH, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["crm_org_unit.code"], name="fk_crm_org_unit_parent_code_crm_org_unit"
        ),
        sa.PrimaryKeyConstraint("code", name="pk_crm_org_unit"),
        sa.UniqueConstraint("path", name="uq_crm_org_unit_path"),
    )
    op.create_table(
        "crm_staff",
        sa.Column("id", CODE, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit_code", CODE, nullable=False),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("departed_at", UtcDateTime(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["crm_org_unit.code"], name="fk_crm_staff_unit_code_crm_org_unit"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crm_staff"),
    )
    op.create_index("ix_crm_staff_unit_code", "crm_staff", ["unit_code", "id"])
    op.create_table(
        "crm_staff_leave",
        sa.Column("staff_id", CODE, nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["crm_staff.id"],
            name="fk_crm_staff_leave_staff_id_crm_staff",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_id", "first_day", name="pk_crm_staff_leave"),
    )
    op.create_table(
        "crm_assignment",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("capacity_override", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["crm_customer.id"], name="fk_crm_assignment_customer_id_crm_customer"
        ),
        sa.PrimaryKeyConstraint("customer_id", name="pk_crm_assignment"),
    )
    op.create_table(
        "crm_assignment_member",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", CODE, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["crm_assignment.customer_id"],
            name="fk_crm_assignment_member_customer_id_crm_assignment",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["crm_staff.id"], name="fk_crm_assignment_member_staff_id_crm_staff"
        ),
        sa.PrimaryKeyConstraint("customer_id", "staff_id", name="pk_crm_assignment_member"),
    )
    op.create_index(
        "ix_crm_assignment_member_book",
        "crm_assignment_member",
        ["staff_id", "role", "customer_id"],
    )
    op.create_table(
        "crm_assignment_history",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", UtcDateTime(), nullable=False),
        sa.Column("effective_to", UtcDateTime(), nullable=True),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("capacity_override", sa.String(500), nullable=True),
        sa.Column("primary_staff_id", CODE, nullable=False),
        sa.Column("primary_unit_code", CODE, nullable=False),
        sa.Column("effective_day", sa.Date(), nullable=False),
        sa.Column("managers", JSON_DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["crm_assignment.customer_id"],
            name="fk_crm_assignment_history_customer_id_crm_assignment",
        ),
        sa.PrimaryKeyConstraint("customer_id", "version", name="pk_crm_assignment_history"),
    )
    op.create_index(
        "ix_crm_assignment_history_as_of",
        "crm_assignment_history",
        ["customer_id", "effective_from"],
    )
    op.create_index(
        "ix_crm_assignment_history_day",
        "crm_assignment_history",
        ["effective_day", "effective_from", "reason", "primary_unit_code", "primary_staff_id"],
    )
    op.create_index("ix_crm_customer_name", "crm_customer", ["name", "id"])


def downgrade() -> None:
    op.drop_index("ix_crm_customer_name", table_name="crm_customer")
    op.drop_table("crm_assignment_history")
    op.drop_table("crm_assignment_member")
    op.drop_table("crm_assignment")
    op.drop_table("crm_staff_leave")
    op.drop_table("crm_staff")
    op.drop_table("crm_org_unit")
