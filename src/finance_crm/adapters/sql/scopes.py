"""Access scopes compiled to SQL: a filter that goes into the same SELECT as the read.

A scope never becomes a list of customer ids in Python. ``OWN`` is an ``EXISTS`` over the
customer's current managers; ``UNIT`` is an ``EXISTS`` over the managers who sit in a
unit's subtree, and the subtree is an index range over the units' materialised paths:
``path >= '/HO/BJ/' AND path < '/HO/BJ0'`` (``'0'`` is the character after ``'/'``), which
needs no ``LIKE`` (unit codes may contain ``_``, a ``LIKE`` wildcard) and which both
SQLite and PostgreSQL answer with one range scan of the unique path index (the path
column compares byte-wise: PostgreSQL's "C" collation, SQLite's BINARY).

``EVERYTHING`` adds no SQL at all (``None``), ``NOTHING`` is ``false()``.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa

from finance_crm.access import AccessScope, ScopeKind
from finance_crm.adapters.sql.tables import assignment_members, org_units, staff

__all__ = [
    "Reads",
    "customer_filter",
    "path_range",
    "primary_filter",
    "staff_in_subtree",
    "staff_share",
    "units_in_subtree",
]

_SCOPE_MEMBER = assignment_members.alias("scope_member")


def path_range(unit_path: str) -> tuple[str, str]:
    """``(low, high)`` such that ``low <= path < high`` is "``path`` starts with
    ``unit_path``" for the paths of a unit tree (``unit_path`` ends with ``/``)."""
    if not unit_path.endswith("/"):
        raise ValueError("a unit path ends with '/'")
    return unit_path, unit_path[:-1] + chr(ord("/") + 1)


def units_in_subtree(unit_path: str) -> sa.Select[Any]:
    """``SELECT code FROM crm_org_unit`` for the unit at ``unit_path`` and all below it."""
    low, high = path_range(unit_path)
    return sa.select(org_units.c.code).where(org_units.c.path >= low, org_units.c.path < high)


def staff_in_subtree(unit_path: str) -> sa.Select[Any]:
    """``SELECT id FROM crm_staff`` for the staff of a unit's subtree."""
    low, high = path_range(unit_path)
    return (
        sa.select(staff.c.id)
        .join(org_units, org_units.c.code == staff.c.unit_code)
        .where(org_units.c.path >= low, org_units.c.path < high)
    )


Reads = Literal["one", "ordered", "all"]


def customer_filter(
    scope: AccessScope,
    customer_id: sa.ColumnElement[Any],
    *,
    reads: Reads = "one",
    dialect: str = "postgresql",
    small_unit: bool = False,
) -> sa.ColumnElement[bool] | None:
    """A condition on ``customer_id`` (a column of the outer query) that keeps the customers
    in ``scope``; ``None`` when the scope is everything (no SQL added).

    Two forms, chosen by what the query reads (plans checked with ``EXPLAIN QUERY PLAN``;
    PostgreSQL turns both into the same semi-join and picks the side by its statistics):

    * ``EXISTS (SELECT ... FROM crm_assignment_member WHERE customer_id = <column> ...)``
      probes the member table's primary key for each customer the query meets. Best for
      ``reads="one"`` (a lookup by id, number or document) and for ``"ordered"`` reads
      (a page, a stream) under a unit scope: a branch holds a good share of all
      customers, so walking the customers in order finds the next in-scope ones soon.
    * ``<column> IN (SELECT customer_id FROM crm_assignment_member WHERE staff_id ...)``
      lets SQLite start from the member index: only the scope's own customers are
      touched. Used for ``reads="all"`` (a count) and for ``"ordered"`` reads under an
      ``OWN`` scope or a ``small_unit`` (a team: a few thousand customers among a million,
      so walking all customers in name order would meet hundreds of others per one of
      theirs; see :func:`staff_share`).
    """
    kind = scope.kind
    if kind is ScopeKind.EVERYTHING:
        return None
    if kind is ScopeKind.NOTHING:
        return sa.false()
    member = _SCOPE_MEMBER
    staff_id: sa.ColumnElement[Any] = member.c.staff_id
    if kind is ScopeKind.OWN:
        subtree = None
    else:
        assert kind is ScopeKind.UNIT and scope.unit_path is not None
        subtree = staff_in_subtree(scope.unit_path)
    if reads == "all" or (reads == "ordered" and (kind is ScopeKind.OWN or small_unit)):
        # Driven from the member index by staff id: the scope's own customers only.
        mine = staff_id == scope.staff_id if subtree is None else staff_id.in_(subtree)
        return customer_id.in_(sa.select(member.c.customer_id).where(mine))
    if subtree is not None and dialect == "sqlite":
        # A unary "+" keeps SQLite from probing the member key once per staff member of
        # the subtree for every customer it meets: it finds the customer's few member
        # rows by customer id and tests them against the list (a branch's first page on
        # 1M customers went from 6.8x to 1.6-2.0x the hand-written query).
        staff_id = sa.literal_column(f"+{member.name}.staff_id")
    mine = staff_id == scope.staff_id if subtree is None else staff_id.in_(subtree)
    return sa.exists().where(member.c.customer_id == customer_id, mine)


def primary_filter(
    scope: AccessScope,
    primary_staff_id: sa.ColumnElement[Any],
    primary_unit_code: sa.ColumnElement[Any],
) -> sa.ColumnElement[bool] | None:
    """The scope as a condition on a recorded primary manager and their unit (the reason
    report counts a change where the actor's scope covers its new primary)."""
    kind = scope.kind
    if kind is ScopeKind.EVERYTHING:
        return None
    if kind is ScopeKind.NOTHING:
        return sa.false()
    if kind is ScopeKind.OWN:
        return primary_staff_id == scope.staff_id
    assert kind is ScopeKind.UNIT and scope.unit_path is not None
    return primary_unit_code.in_(units_in_subtree(scope.unit_path))


SMALL_UNIT_SHARE = 0.01
"""Below this share of all staff a unit scope's pages start from its managers' customers.

Measured on 1M customers with ~3,700 staff: a team (0.3% of staff, ~3,200 customers)
pages 3.7x faster from its members' customers than by walking the name index; a branch
(10%, ~100,000 customers) pages 80x faster by walking the name index.
"""


def staff_share(connection: sa.Connection, unit_path: str) -> float:
    """The share of all staff who sit in the subtree at ``unit_path`` (0.0 to 1.0)."""
    low, high = path_range(unit_path)
    inside = connection.execute(
        sa.select(sa.func.count())
        .select_from(staff.join(org_units, org_units.c.code == staff.c.unit_code))
        .where(org_units.c.path >= low, org_units.c.path < high)
    ).scalar_one()
    everyone = connection.execute(sa.select(sa.func.count()).select_from(staff)).scalar_one()
    return float(inside) / everyone if everyone else 1.0
