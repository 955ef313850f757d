"""Activities, spot checks and service tasks (活动, 抽查, 服务任务).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from finance_crm.adapters.sql.types import UtcDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Staff codes compare byte-wise ("C" collation) on PostgreSQL, like other codes.
CODE = sa.String(40).with_variant(sa.String(40, collation="C"), "postgresql")
JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")
OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "crm_activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("owner", CODE, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("planned_at", UtcDateTime(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("participants", JSON_DOCUMENT, nullable=False),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reached", sa.Boolean(), nullable=False),
        sa.Column("rejection_reason", sa.String(200), nullable=True),
        sa.Column("notes", sa.String(2000), nullable=True),
        sa.Column("next_step", sa.String(200), nullable=True),
        sa.Column("next_step_due", sa.Date(), nullable=True),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("cancel_reason", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["crm_customer.id"], name="fk_crm_activity_customer_id_crm_customer"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crm_activity"),
    )
    op.create_index("ix_crm_activity_plan", "crm_activity", ["owner", "planned_at", "id"])
    op.create_index("ix_crm_activity_customer_id", "crm_activity", ["customer_id"])
    # The contacts only (see tables.py): generation and satisfy() read this index alone.
    op.create_index(
        "ix_crm_activity_contact",
        "crm_activity",
        ["customer_id", "completed_on", "kind", "id"],
        sqlite_where=sa.text("reached = 1"),
        postgresql_where=sa.text("reached"),
    )
    op.create_index("ix_crm_activity_done", "crm_activity", ["completed_on", "owner", "id"])

    op.create_table(
        "crm_spot_check",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("owner", CODE, nullable=False),
        sa.Column("checker", CODE, nullable=False),
        sa.Column("checked_at", UtcDateTime(), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=False),
        sa.Column("finding", sa.String(16), nullable=False),
        sa.Column("notes", sa.String(2000), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["crm_activity.id"], name="fk_crm_spot_check_activity_id_crm_activity"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crm_spot_check"),
        sa.UniqueConstraint("activity_id", name="uq_crm_spot_check_activity_id"),
    )
    op.create_index("ix_crm_spot_check_day", "crm_spot_check", ["checked_on", "owner"])

    op.create_table(
        "crm_service_task",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("standard", sa.String(40), nullable=False),
        sa.Column("occurrence", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("assignee", CODE, nullable=False),
        sa.Column("covering_for", CODE, nullable=True),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("counts_from", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("activity_id", sa.Uuid(), nullable=True),
        sa.Column("waived_reason", sa.String(200), nullable=True),
        sa.Column("closed_by", sa.String(200), nullable=True),
        sa.Column("escalated_to", CODE, nullable=True),
        sa.Column("escalated_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["crm_customer.id"],
            name="fk_crm_service_task_customer_id_crm_customer",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crm_service_task"),
        sa.UniqueConstraint(
            "customer_id",
            "standard",
            "occurrence",
            name="uq_crm_service_task_customer_id_standard_occurrence",
        ),
    )
    # Open tasks only (see tables.py): by standard, by assignee, by supervisor.
    op.create_index(
        "ix_crm_service_task_open",
        "crm_service_task",
        ["standard", "customer_id"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_index(
        "ix_crm_service_task_assignee",
        "crm_service_task",
        ["assignee", "due_on"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_index(
        "ix_crm_service_task_escalated",
        "crm_service_task",
        ["escalated_to", "due_on"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_index(
        "ix_crm_service_task_due",
        "crm_service_task",
        ["due_on", "assignee", "status", "done_on"],
    )


def downgrade() -> None:
    for index in (
        "ix_crm_service_task_due",
        "ix_crm_service_task_escalated",
        "ix_crm_service_task_assignee",
        "ix_crm_service_task_open",
    ):
        op.drop_index(index, table_name="crm_service_task")
    op.drop_table("crm_service_task")
    op.drop_index("ix_crm_spot_check_day", table_name="crm_spot_check")
    op.drop_table("crm_spot_check")
    for index in (
        "ix_crm_activity_done",
        "ix_crm_activity_contact",
        "ix_crm_activity_customer_id",
        "ix_crm_activity_plan",
    ):
        op.drop_index(index, table_name="crm_activity")
    op.drop_table("crm_activity")
