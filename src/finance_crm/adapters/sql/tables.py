"""The finance_crm schema as SQLAlchemy Core tables (one ``MetaData``, ``crm_`` prefix).

Alembic migrations in ``migrations/`` create and upgrade exactly this schema; a test
compares the two with Alembic's autogenerate so they cannot drift apart.
"""

from __future__ import annotations

import sqlalchemy as sa

from finance_crm.adapters.sql.types import JSON_DOCUMENT, UtcDateTime

__all__ = [
    "CODE",
    "UNIT_PATH",
    "accounts",
    "activities",
    "assignment_history",
    "assignment_members",
    "assignments",
    "audit_log",
    "balances",
    "contributions",
    "customer_documents",
    "customers",
    "metadata",
    "org_units",
    "outbox",
    "parties",
    "relationships",
    "service_tasks",
    "spot_checks",
    "staff",
    "staff_leaves",
    "tiers",
    "transactions",
]

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
    # Customer lists ordered by name page by (name, id) from this index (migration 0002).
    sa.Index("ix_crm_customer_name", "name", "id"),
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

# -- the organisation and customers' managers (issue 3) -----------------------------------

# Institution codes (unit codes, staff ids) and unit paths compare byte-wise: PostgreSQL
# gets the "C" collation (SQLite's default BINARY already is), so a subtree is one index
# range (path >= '/HO/BJ/' AND path < '/HO/BJ0') whatever the database's locale, and codes
# sort the same on every backend (and as Python sorts them).
CODE = sa.String(40).with_variant(sa.String(40, collation="C"), "postgresql")
UNIT_PATH = sa.String(400).with_variant(sa.String(400, collation="C"), "postgresql")

org_units = sa.Table(
    "crm_org_unit",
    metadata,
    sa.Column("code", CODE, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("parent_code", CODE, sa.ForeignKey("crm_org_unit.code"), nullable=True),
    # "/HO/BJ/BJ01/": the ancestors' codes, then this one (unique: it names the unit).
    sa.Column("path", UNIT_PATH, nullable=False, unique=True),
    sa.Column("version", sa.Integer(), nullable=False),
)

staff = sa.Table(
    "crm_staff",
    metadata,
    sa.Column("id", CODE, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("unit_code", CODE, sa.ForeignKey("crm_org_unit.code"), nullable=False),
    # The StaffRole values, sorted and comma-joined ("customer_manager,supervisor").
    sa.Column("roles", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("departed_at", UtcDateTime(), nullable=True),
    sa.Column("capacity", sa.Integer(), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # (unit, id): "the staff of these units" (a unit scope) is answered from the index.
    sa.Index("ix_crm_staff_unit_code", "unit_code", "id"),
)

staff_leaves = sa.Table(
    "crm_staff_leave",
    metadata,
    sa.Column(
        "staff_id", CODE, sa.ForeignKey("crm_staff.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("first_day", sa.Date(), primary_key=True),
    sa.Column("last_day", sa.Date(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
)

# One head row per customer with managers: the current version (optimistic concurrency).
assignments = sa.Table(
    "crm_assignment",
    metadata,
    sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("crm_customer.id"), primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("effective_from", UtcDateTime(), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("capacity_override", sa.String(500), nullable=True),
)

# The current managers: one row per (customer, staff member). Shares are integer basis
# points (70% -> 7000): exact in SQL on every backend.
assignment_members = sa.Table(
    "crm_assignment_member",
    metadata,
    sa.Column(
        "customer_id", sa.Uuid(), sa.ForeignKey("crm_assignment.customer_id"), primary_key=True
    ),
    sa.Column("staff_id", CODE, sa.ForeignKey("crm_staff.id"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("share_bp", sa.Integer(), nullable=False),
    # A manager's book, book sizes and the scope EXISTS lookups, all from the index alone.
    sa.Index("ix_crm_assignment_member_book", "staff_id", "role", "customer_id"),
)

# Every version of every customer's assignment, effective-dated.
assignment_history = sa.Table(
    "crm_assignment_history",
    metadata,
    sa.Column(
        "customer_id", sa.Uuid(), sa.ForeignKey("crm_assignment.customer_id"), primary_key=True
    ),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("effective_from", UtcDateTime(), nullable=False),
    sa.Column("effective_to", UtcDateTime(), nullable=True),  # NULL: the current version
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("capacity_override", sa.String(500), nullable=True),
    # What the reason report groups and scopes by, fixed when the version was written.
    sa.Column("primary_staff_id", CODE, nullable=False),
    sa.Column("primary_unit_code", CODE, nullable=False),
    sa.Column("effective_day", sa.Date(), nullable=False),  # in the store's time zone
    # [[staff_id, role, share], ...] with the share as exact decimal text ("70.00").
    sa.Column("managers", JSON_DOCUMENT, nullable=False),
    sa.Index("ix_crm_assignment_history_as_of", "customer_id", "effective_from"),
    # Covering for the reason report: a range of days, grouped without reading the rows.
    sa.Index(
        "ix_crm_assignment_history_day",
        "effective_day",
        "effective_from",
        "reason",
        "primary_unit_code",
        "primary_staff_id",
    ),
)

# -- the group-relationship graph (集团关系) ---------------------------------------------------

# A node of the graph: a company or a person, a customer of the bank or not. The customer
# link and the LEI are unique keys (NULL for most parties: many NULLs are allowed).
parties = sa.Table(
    "crm_party",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    # No foreign key: a party may be linked to a customer before the customer is loaded.
    sa.Column("customer_id", sa.Uuid(), nullable=True, unique=True),
    sa.Column("lei", sa.String(20), nullable=True, unique=True),
    sa.Column("registration_number", sa.String(40), nullable=True),
    sa.Column("country", sa.String(2), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
)

# A typed, directed, effective-dated edge: valid_from inclusive, valid_to exclusive (NULL
# while it lasts). Shares are integer millionths of the whole (percent x 10^4, so 100% is
# 1,000,000) and amounts integer minor units: sums stay exact in SQL on every backend.
relationships = sa.Table(
    "crm_relationship",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("source", sa.Uuid(), sa.ForeignKey("crm_party.id"), nullable=False),
    sa.Column("target", sa.Uuid(), sa.ForeignKey("crm_party.id"), nullable=False),
    sa.Column("valid_from", sa.Date(), nullable=False),
    sa.Column("valid_to", sa.Date(), nullable=True),
    sa.Column("share_millionths", sa.BigInteger(), nullable=True),
    sa.Column("amount_minor", sa.BigInteger(), nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("reference", sa.String(200), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
    # Covering indexes for the recursive steps: from a party down (by source) and up (by
    # target), a type and a date narrow the range, and the other end and the id (and the
    # share, for look-through paths) come from the index without touching the table.
    sa.Index(
        "ix_crm_relationship_down",
        "source",
        "type",
        "valid_from",
        "valid_to",
        "target",
        "id",
        "share_millionths",
    ),
    sa.Index(
        "ix_crm_relationship_up",
        "target",
        "type",
        "valid_from",
        "valid_to",
        "source",
        "id",
        "share_millionths",
    ),
)

# -- accounts and end-of-day balances (账户, 日终余额) ---------------------------------------

# An account or holding as a core system feeds it. The account number compares byte-wise
# ("C" on PostgreSQL) so a customer's accounts sort the same on every backend.
accounts = sa.Table(
    "crm_account",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column(
        "customer_id", sa.Uuid(), sa.ForeignKey("crm_customer.id"), nullable=False, index=True
    ),
    sa.Column("account_number", CODE, nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("opened_on", sa.Date(), nullable=False),
    sa.Column("closed_on", sa.Date(), nullable=True),
    sa.Column("product_code", sa.String(40), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
)

# One end-of-day balance per account and day, in integer minor units of the account's
# currency (exact sums in SQL on every backend; BIGINT: 18 digits). An account's days are
# one range of the primary key (AUM, the period average); on SQLite the table is that
# b-tree itself (WITHOUT ROWID: a feed loaded 12% faster, a day was deleted 2.4x and
# ranges read 4x faster than with a rowid table, in half the space).
# No foreign key to crm_account: checking it per row halved the rate of COPY on
# PostgreSQL and cost SQLite a third, while every row a feed writes carries an id that
# resolve() has just read in the same transaction, and accounts are never deleted.
# The index on day serves clear_day(), which every feed calls once per day it loads:
# without it each call scans the whole history. It cost 9% (PostgreSQL) to 25% (SQLite)
# of the load rate, which the scan exceeds once the table holds more than 11 (PostgreSQL)
# or 21 (SQLite) days of history; a quarter (for the quarter's average) is 90.
balances = sa.Table(
    "crm_balance",
    metadata,
    sa.Column("account_id", sa.Uuid(), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("balance_minor", sa.BigInteger(), nullable=False),
    sa.Index("ix_crm_balance_day", "day"),
    sqlite_with_rowid=False,
)

# -- customer tiers (客户分层) ----------------------------------------------------------------

# One row per stretch of days a customer spent in one tier: valid_from inclusive, valid_to
# exclusive (NULL: the current tier). The tier is kept whole (code, name, rank) so a record
# reads back as it was decided even after the bank renames or re-ranks its tiers; the
# average that set it is integer minor units of ``currency``. Only re-tiering writes here,
# and it keeps each customer's records contiguous with the last one open.
# On SQLite the table is its primary key's b-tree (WITHOUT ROWID): a customer's history is
# one key range. The partial index holds only the current records, by tier: the tier
# counts of a re-tiering run and count() read it alone, and it gives the latest start of a
# current record (a run may not go back before it) without reading the history. valid_to
# (NULL in every entry) is in it so that SQLite sees it covers the WHERE: without it,
# SQLite read each record from the table and counted 200,000 current records 20x slower.
tiers = sa.Table(
    "crm_tier",
    metadata,
    sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("crm_customer.id"), primary_key=True),
    sa.Column("valid_from", sa.Date(), primary_key=True),
    sa.Column("valid_to", sa.Date(), nullable=True),
    sa.Column("tier_code", sa.String(40), nullable=False),
    sa.Column("tier_name", sa.String(200), nullable=False),
    sa.Column("tier_rank", sa.Integer(), nullable=False),
    sa.Column("average_minor", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("period_start", sa.Date(), nullable=False),
    sa.Column("period_end", sa.Date(), nullable=False),
    sa.Index(
        "ix_crm_tier_current",
        "tier_code",
        "valid_from",
        "valid_to",
        sqlite_where=sa.text("valid_to IS NULL"),
        postgresql_where=sa.text("valid_to IS NULL"),
    ),
    sqlite_with_rowid=False,
)

# -- activities and service tasks (活动, 服务任务) ---------------------------------------------

# A call, visit or meeting, planned or done. ``completed_on`` is the business day of
# ``completed_at`` in the store's time zone, fixed when written: what service standards
# count and spot checks sample. ``reached`` is true for a completed activity that reached
# the customer (an outcome other than no contact).
activities = sa.Table(
    "crm_activity",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("crm_customer.id"), nullable=False),
    sa.Column("owner", CODE, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("purpose", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("planned_at", UtcDateTime(), nullable=True),
    sa.Column("duration_minutes", sa.Integer(), nullable=True),
    sa.Column("participants", JSON_DOCUMENT, nullable=False),  # [staff id, ...]
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
    # A manager's plan: one range per owner.
    sa.Index("ix_crm_activity_plan", "owner", "planned_at", "id"),
    # A customer's activities (of_customer, last_contact).
    sa.Index("ix_crm_activity_customer_id", "customer_id"),
    # The contacts only, covering what task generation and satisfy() ask per customer:
    # the latest (or earliest from a day) contact of some kinds, with its id for ties.
    sa.Index(
        "ix_crm_activity_contact",
        "customer_id",
        "completed_on",
        "kind",
        "id",
        sqlite_where=sa.text("reached = 1"),
        postgresql_where=sa.text("reached"),
    ),
    # Completed on a range of days, by owner: what spot checks sample (index only).
    sa.Index("ix_crm_activity_done", "completed_on", "owner", "id"),
)

# A supervisor's quality review of one completed activity (at most one per activity).
spot_checks = sa.Table(
    "crm_spot_check",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column(
        "activity_id", sa.Uuid(), sa.ForeignKey("crm_activity.id"), nullable=False, unique=True
    ),
    sa.Column("customer_id", sa.Uuid(), nullable=False),
    sa.Column("owner", CODE, nullable=False),
    sa.Column("checker", CODE, nullable=False),
    sa.Column("checked_at", UtcDateTime(), nullable=False),
    sa.Column("checked_on", sa.Date(), nullable=False),  # in the store's time zone
    sa.Column("finding", sa.String(16), nullable=False),
    sa.Column("notes", sa.String(2000), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Index("ix_crm_spot_check_day", "checked_on", "owner"),
)

# One piece of service work for one customer: at most one per (customer, standard,
# occurrence), which makes task generation idempotent. The partial indexes hold the open
# tasks only (the few among the many closed): a manager's and a supervisor's due lists,
# and the open tasks of a standard (satisfy(), an every-N-days cadence's one open task).
service_tasks = sa.Table(
    "crm_service_task",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("crm_customer.id"), nullable=False),
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
    sa.UniqueConstraint("customer_id", "standard", "occurrence"),
    sa.Index(
        "ix_crm_service_task_open",
        "standard",
        "customer_id",
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    ),
    sa.Index(
        "ix_crm_service_task_assignee",
        "assignee",
        "due_on",
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    ),
    sa.Index(
        "ix_crm_service_task_escalated",
        "escalated_to",
        "due_on",
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    ),
    # Covering for compliance(): a range of due days, counted per assignee.
    sa.Index("ix_crm_service_task_due", "due_on", "assignee", "status", "done_on"),
)

# Booked transactions and trades (交易), fed a day at a time: amounts in integer minor
# units of the account's currency; a trade's quantity as exact decimal text.
transactions = sa.Table(
    "crm_transaction",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("account_id", sa.Uuid(), sa.ForeignKey("crm_account.id"), nullable=False),
    sa.Column("day", sa.Date(), nullable=False),
    sa.Column("reference", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("instrument", sa.String(32), nullable=True),
    sa.Column("sector", sa.String(60), nullable=True),
    sa.Column("quantity", sa.String(40), nullable=True),
    sa.UniqueConstraint("account_id", "reference"),
    # A customer's transactions by day (through their accounts), and a day's feed.
    sa.Index("ix_crm_transaction_account_day", "account_id", "day"),
    sa.Index("ix_crm_transaction_day", "day"),
)

# Monthly contribution figures per customer (贡献度), fed a month at a time.
contributions = sa.Table(
    "crm_contribution",
    metadata,
    sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("crm_customer.id"), primary_key=True),
    sa.Column("month", sa.Date(), primary_key=True),  # the month's first day
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Index("ix_crm_contribution_month", "month"),
)
