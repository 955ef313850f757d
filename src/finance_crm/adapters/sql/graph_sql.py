"""The recursive SQL of the relationship graph: one ``WITH RECURSIVE`` statement per
question, on SQLite and PostgreSQL (the few spelling differences are in ``Dialect``).

See :mod:`finance_crm.adapters.sql.relationships` for what each walk keeps and why it
terminates; the repositories there bind the parameters and turn rows into results.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

import attrs
import sqlalchemy as sa

from finance_crm.adapters.sql.rows import share_from_millionths
from finance_crm.ids import PartyId, RelationshipId
from finance_crm.model.relationships import Direction, Path

__all__ = [
    "cycle_sql",
    "cycles_sql",
    "path",
    "paths_sql",
    "reach_sql",
    "tree_sql",
]

_ACTIVE = (
    "{r}.type IN :types AND {r}.valid_from <= :at AND ({r}.valid_to IS NULL OR {r}.valid_to > :at)"
)


@attrs.frozen
class _Dialect:
    """The few places where SQLite and PostgreSQL spell the recursive queries differently."""

    name: str

    @property
    def pg(self) -> bool:
        return self.name == "postgresql"

    def uuid(self, param: str) -> str:
        return f"CAST(:{param} AS uuid)" if self.pg else f":{param}"

    def date(self, param: str) -> str:
        return f"CAST(:{param} AS date)" if self.pg else f":{param}"

    def text(self, expression: str) -> str:
        """An id (or a number) as text: SQLite keeps ids as 32 hex digits already."""
        return f"CAST({expression} AS text)" if self.pg else expression

    def contains(self, haystack: str, needle: str) -> str:
        return (
            f"strpos({haystack}, {needle}) > 0" if self.pg else f"instr({haystack}, {needle}) > 0"
        )

    def rare(self, condition: str) -> str:
        """``condition`` marked as rarely true for SQLite's planner. Without it, once
        ANALYZE has run, SQLite guesses a recursive step yields more rows than the table
        holds and builds a Bloom filter over the whole index on every query, which made
        each step cost time in proportion to the graph (51 ms instead of 25 us for a
        path search at 400,000 links)."""
        return condition if self.pg else f"likelihood({condition}, 0.0001)"

    def bare(self, expression: str) -> str:
        """On SQLite, ``expression`` without the column's affinity: compared with a CTE
        column (which has none), it can then use an automatic index on that column."""
        return expression if self.pg else f"+{expression}"

    def step(self, direction: Direction, party: str) -> tuple[str, str]:
        """The join from a walk's ``party`` to the active relationships it follows (alias
        ``r`` with ``id``, ``type``, ``share_millionths``) and the party at their other end.
        """
        active = _ACTIVE.format(r="r")
        if direction is Direction.DOWN:
            return f"JOIN crm_relationship r ON r.source = {party} AND {active}", "r.target"
        if direction is Direction.UP:
            return f"JOIN crm_relationship r ON r.target = {party} AND {active}", "r.source"
        if self.pg:
            # Both ways: a LATERAL union of the two index scans (the recursive term may
            # name the walk only once).
            return (
                "CROSS JOIN LATERAL ("
                "SELECT r.target AS other, r.id, r.type, r.share_millionths "
                f"FROM crm_relationship r WHERE r.source = {party} AND {active} "
                "UNION ALL SELECT r.source, r.id, r.type, r.share_millionths "
                f"FROM crm_relationship r WHERE r.target = {party} AND {active}) r",
                "r.other",
            )
        return (
            f"JOIN crm_relationship r ON ((r.source = {party} AND {active}) "
            f"OR (r.target = {party} AND {active}))",
            f"CASE WHEN r.source = {party} THEN r.target ELSE r.source END",
        )


_REVERSE = {
    Direction.DOWN: Direction.UP,
    Direction.UP: Direction.DOWN,
    Direction.BOTH: Direction.BOTH,
}
_TOP = (
    "NOT EXISTS (SELECT 1 FROM crm_relationship t WHERE t.target = d.party AND "
    + _ACTIVE.format(r="t")
    + ")"
)


@functools.cache
def reach_sql(dialect: str, direction: Direction, bounded: bool) -> sa.TextClause:
    d = _Dialect(dialect)
    join, other = d.step(direction, "w.party")
    start = d.uuid("start")
    if not bounded:
        sql = (
            f"WITH RECURSIVE w(party) AS (SELECT {start} UNION SELECT {other} FROM w {join} "
            f"WHERE {d.rare('w.party IS NOT NULL')}) "
            f"SELECT d.party, {_TOP} AS top FROM w AS d "
            f"ORDER BY CASE WHEN d.party = {start} THEN 0 ELSE 1 END, d.party"
        )
    else:
        sql = (
            f"WITH RECURSIVE w(party, hops) AS (SELECT {start}, 0 "
            f"UNION SELECT {other}, w.hops + 1 FROM w {join} WHERE {d.rare('w.hops < :limit')}), "
            "d AS (SELECT party, min(hops) AS hops FROM w GROUP BY party) "
            f"SELECT d.party, d.hops, {_TOP} AS top FROM d ORDER BY d.hops, d.party"
        )
    return _text(sql)


@functools.cache
def tree_sql(dialect: str, direction: Direction) -> sa.TextClause:
    d = _Dialect(dialect)
    join, other = d.step(direction, "w.party")
    # The links into each party from the level above: the same walk, read backwards.
    join_in, parent = d.step(_REVERSE[direction], "d.party")
    # PostgreSQL would otherwise rescan d per link (a nested loop around the hash join).
    materialized = "MATERIALIZED " if d.pg else ""
    if direction is not Direction.BOTH:
        parent = d.bare(parent)
    sql = (
        f"WITH RECURSIVE w(party, depth) AS (SELECT {d.uuid('start')}, 0 "
        f"UNION SELECT {other}, w.depth + 1 FROM w {join} WHERE {d.rare('w.depth < :limit')}), "
        "d AS (SELECT party, min(depth) AS depth FROM w GROUP BY party), "
        # Every active link into a party from the party's side of the walk ...
        f"e AS {materialized}(SELECT d.party, d.depth, {parent} AS parent, r.id, r.type "
        f"FROM d {join_in} WHERE d.depth > 0), "
        # ... whose other end lies one level up; the smallest (parent, id) wins.
        "c AS (SELECT e.party, e.depth, e.parent, e.id, e.type, "
        "row_number() OVER (PARTITION BY e.party ORDER BY e.parent, e.id) AS n "
        "FROM e JOIN d AS p ON p.party = e.parent AND p.depth = e.depth - 1) "
        "SELECT party, depth, parent, id, type FROM c WHERE n = 1 ORDER BY depth, party"
    )
    return _text(sql)


@functools.cache
def paths_sql(dialect: str, direction: Direction) -> sa.TextClause:
    d = _Dialect(dialect)
    join, other = d.step(direction, "w.party")
    start, end = d.uuid("start"), d.uuid("end")
    empty = "CAST('' AS text)" if d.pg else "''"
    none = "CAST(NULL AS uuid)" if d.pg else "NULL"
    # Both ways, a walk never goes back along the relationship it just used (from the
    # last party of a simple path that is the only relationship of the path it meets).
    again = " AND (w.last IS NULL OR r.id <> w.last)" if direction is Direction.BOTH else ""
    # state: 0 open (followed further), 1 reached the end, 2 cycle cut, 3 depth limited
    sql = (
        "WITH RECURSIVE w(party, path, rels, shares, len, state, last) AS ("
        f"SELECT {start}, {d.text(start)}, {empty}, {empty}, 0, 0, {none} "
        f"UNION ALL SELECT {other}, w.path || '/' || {d.text(other)}, "
        f"w.rels || ',' || {d.text('r.id')}, "
        f"w.shares || ',' || COALESCE({d.text('r.share_millionths')}, ''), w.len + 1, "
        f"CASE WHEN w.len = :limit THEN 3 WHEN {other} = {end} THEN 1 "
        f"WHEN {d.contains('w.path', d.text(other))} THEN 2 ELSE 0 END, r.id "
        f"FROM w {join} WHERE {d.rare('w.state = 0')}{again}) "
        "SELECT state, CASE WHEN state = 1 THEN path END AS found_path, "
        "CASE WHEN state = 1 THEN rels END AS found_rels, "
        "CASE WHEN state = 1 THEN shares END AS found_shares, count(*) AS n "
        "FROM w WHERE state > 0 GROUP BY 1, 2, 3, 4"
    )
    return _text(sql)


_CYCLE_STEP = (
    "UNION SELECT {keep}r.target, "
    "CASE WHEN r.valid_from > w.lo THEN r.valid_from ELSE w.lo END, "
    "CASE WHEN w.hi IS NULL THEN r.valid_to "
    "WHEN r.valid_to IS NULL OR r.valid_to > w.hi THEN w.hi ELSE r.valid_to END "
    "FROM w JOIN crm_relationship r ON r.source = w.party AND r.type IN :types "
    "AND (w.hi IS NULL OR r.valid_from < w.hi) "
    "AND (r.valid_to IS NULL OR r.valid_to > w.lo) WHERE {where}"
)


@functools.cache
def cycle_sql(dialect: str) -> sa.TextClause:
    """Whether ``start`` (a new link's target) reaches ``end`` (its source) along acyclic
    links all holding on a common day of [lo, hi): ``(party, lo, hi)`` states, deduplicated,
    so the walk ends on any graph."""
    d = _Dialect(dialect)
    sql = (
        f"WITH RECURSIVE w(party, lo, hi) AS (SELECT {d.uuid('start')}, {d.date('lo')}, "
        f"{d.date('hi')} {_CYCLE_STEP.format(keep='', where=d.rare('w.party IS NOT NULL'))}) "
        f"SELECT 1 FROM w WHERE w.party = {d.uuid('end')} LIMIT 1"
    )
    return _text(sql)


@functools.cache
def cycles_sql(dialect: str) -> sa.TextClause:
    """Whether any of the stored links ``ids`` lies on a cycle: the same walk from each of
    their targets at once, looking for the link's own source."""
    where = _Dialect(dialect).rare("w.party IS NOT NULL")
    sql = (
        "WITH RECURSIVE w(origin, party, lo, hi) AS ("
        "SELECT n.id, n.target, n.valid_from, n.valid_to FROM crm_relationship n "
        f"WHERE n.id IN :ids {_CYCLE_STEP.format(keep='w.origin, ', where=where)}) "
        "SELECT 1 FROM w JOIN crm_relationship n ON n.id = w.origin AND n.source = w.party "
        "LIMIT 1"
    )
    return _text(sql)


def _text(sql: str) -> sa.TextClause:
    params: list[sa.BindParameter[Any]] = [
        sa.bindparam("start", type_=sa.Uuid()),
        sa.bindparam("end", type_=sa.Uuid()),
        sa.bindparam("types", expanding=True, type_=sa.String()),
        sa.bindparam("at", type_=sa.Date()),
        sa.bindparam("lo", type_=sa.Date()),
        sa.bindparam("hi", type_=sa.Date()),
        sa.bindparam("limit", type_=sa.Integer()),
        sa.bindparam("ids", expanding=True, type_=sa.Uuid()),
    ]
    return sa.text(sql).bindparams(*(p for p in params if f":{p.key}" in sql))


def _split(text: str) -> list[str]:
    return text.split(",")[1:]  # the walk starts every list with ','


def path(parties_text: str, rels_text: str, shares_text: str) -> Path:
    return Path(
        tuple(PartyId(uuid.UUID(p)) for p in parties_text.split("/")),
        tuple(RelationshipId(uuid.UUID(r)) for r in _split(rels_text)),
        tuple(share_from_millionths(int(s)) if s else None for s in _split(shares_text)),
    )
