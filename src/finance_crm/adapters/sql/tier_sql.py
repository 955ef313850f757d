"""The SQL of a re-tiering run (``SqlTierRepository.retier``): the statements, spelled
for SQLite or PostgreSQL where they differ (``Dialect``), and the ``CASE`` a
:class:`~finance_crm.rules.tiers.ThresholdTiers` compiles to.

See :mod:`finance_crm.adapters.sql.tiers` for the order a run takes them in and why;
the repository there binds the parameters and turns rows into results.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from finance_crm.adapters._tier_runs import Outcome
from finance_crm.adapters.sql.rows import TIER_COLUMNS
from finance_crm.model.accounts import AccountKind
from finance_crm.model.customers import LifecycleStatus
from finance_crm.rules.tiers import ThresholdTiers

__all__ = [
    "CHANGED",
    "CHOICE",
    "CHOSEN",
    "CLOSE",
    "CLOSE_CURRENT",
    "COUNTS",
    "DROP_CORRECTED",
    "INSERT_NEW",
    "NEW",
    "OUTCOME_CODES",
    "REOPEN",
    "REOPEN_PREVIOUS",
    "REPLACE",
    "REPLACE_IN_PLACE",
    "TO_RULE",
    "UNCHANGED",
    "Dialect",
    "band_params",
    "python_sql",
    "threshold_sql",
]

# The outcome column of crm_tier_run: small integers, one per _tier_runs.Outcome.
OUTCOME_CODES = {
    Outcome.UNCHANGED: 0,
    Outcome.NEW: 1,
    Outcome.CLOSE_AND_NEW: 2,
    Outcome.REPLACE: 3,
    Outcome.REOPEN: 4,
}
UNCHANGED, NEW, CLOSE, REPLACE, REOPEN = (OUTCOME_CODES[o] for o in Outcome)

# The customers re-tiered and the accounts that count, as in the in-memory adapter.
_RETIERED = ", ".join(f"'{s.value}'" for s in (LifecycleStatus.ACTIVE, LifecycleStatus.DORMANT))
_NOT_COUNTED = ", ".join(f"'{k.value}'" for k in AccountKind if not k.counts_in_aum)


# -- the statements of a run -----------------------------------------------------------


@attrs.frozen
class Dialect:
    """The few places where SQLite and PostgreSQL spell a run's statements differently.
    Parameters are bound already encoded (``RowCodec``): ISO text for days on SQLite."""

    name: str

    @property
    def pg(self) -> bool:
        return self.name == "postgresql"

    def date(self, param: str) -> str:
        return f"CAST(:{param} AS date)" if self.pg else f":{param}"

    def days(self, later: str, earlier: str) -> str:
        """Whole days from ``earlier`` to ``later``: PostgreSQL subtracts dates; SQLite
        keeps ISO text, whose Julian day numbers differ by exact whole numbers."""
        if self.pg:
            return f"({later} - {earlier})"
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.pg else f"max({a}, {b})"

    def average(self, total: str) -> str:
        """``total / :days`` rounded half away from zero (as ``ROUND_HALF_UP`` does),
        exactly: the quotient of the magnitude, plus one when twice the remainder reaches
        the divisor, with the sign put back. PostgreSQL sums BIGINT as NUMERIC
        (``div``/``mod``); on SQLite a product beyond 64 bits turns REAL, and the
        average is then NULL for the run to refuse (the count statement notices)."""
        if self.pg:
            magnitude = (
                f"(div(abs({total}), :days) "
                f"+ CASE WHEN 2 * mod(abs({total}), :days) >= :days THEN 1 ELSE 0 END)"
            )
            return f"CAST(sign({total}) * {magnitude} AS BIGINT)"
        magnitude = f"(abs({total}) / :days + (2 * (abs({total}) % :days) >= :days))"
        return (
            f"CASE WHEN typeof({total}) = 'integer' THEN "
            f"CASE WHEN {total} < 0 THEN -{magnitude} ELSE {magnitude} END END"
        )

    def balances(self) -> str:
        """The balances that count, as rows (account_id, customer_id, day,
        balance_minor, first_day, after_day): each counted account's balances on the
        days of the period it is open (``first_day`` up to, not including,
        ``after_day``: it counts from the day it opens to the day before it closes, as
        ``average_daily_aum`` counts it) and its last balance before them, carried in.
        That one is found by a seek of the balance key per account (the correlated
        ``max``, or a backward ``LIMIT 1``), never by reading the history before.

        SQLite walks the accounts in key order and each one's range of the balance key
        from the carried-in day, so the rows come in the window's order (no sort). On
        PostgreSQL, whose tables are not clustered by key, a seek per account for the
        period's rows was twice as slow as a join of the period's rows (a scan or the
        day index) plus one seek per account for the carried-in row, sorted for the
        window; and folded into one join, the planner ran the ``max`` once per balance
        of every account's whole history. The carried-in row's bound is a comparison
        of the whole key, which only the key's index can serve: with ``day < first``
        the planner walked the day index back through every account's history for the
        ``LIMIT 1`` (the bound depends on the account's opening day, so it cannot
        estimate it)."""
        start, end, after_end = self.date("start"), self.date("end"), self.date("after_end")
        first = self.greatest(start, "a.opened_on")
        after = (
            f"CASE WHEN a.closed_on IS NOT NULL AND a.closed_on <= {end} "
            f"THEN a.closed_on ELSE {after_end} END"
        )
        counted = f"a.currency = :currency AND a.kind NOT IN ({_NOT_COUNTED}) AND {first} < {after}"
        columns = f"a.id AS account_id, a.customer_id, {first} AS first_day, {after} AS after_day"
        if self.pg:
            return f"""(
              SELECT {columns}, b.day, b.balance_minor
              FROM crm_account a JOIN crm_balance b ON b.account_id = a.id
              WHERE {counted} AND b.day >= {first} AND b.day < {after}
              UNION ALL
              SELECT {columns}, p.day, p.balance_minor
              FROM crm_account a CROSS JOIN LATERAL (
                SELECT p.day, p.balance_minor FROM crm_balance p
                WHERE p.account_id = a.id AND (p.account_id, p.day) < (a.id, {first})
                ORDER BY p.account_id DESC, p.day DESC LIMIT 1) p
              WHERE {counted}
            ) counted"""
        last_before = (
            f"(SELECT max(p.day) FROM crm_balance p WHERE p.account_id = a.id AND p.day < {first})"
        )
        return f"""(
              SELECT {columns}, b.day, b.balance_minor
              FROM crm_account a JOIN crm_balance b ON b.account_id = a.id
                AND b.day >= coalesce({last_before}, {first}) AND b.day < {after}
              WHERE {counted}
            ) counted"""

    def create_run(self) -> str:
        """The temporary table of a run: one row per customer evaluated (dropped at the
        end of the run; on PostgreSQL at commit at the latest)."""
        uuid_, day, text = ("uuid", "date", "text") if self.pg else ("TEXT", "TEXT", "TEXT")
        tail = " ON COMMIT DROP" if self.pg else ""
        return (
            f"CREATE TEMPORARY TABLE crm_tier_run (customer_id {uuid_} NOT NULL, "
            f"average_minor BIGINT, cur_from {day}, cur_code {text}, cur_name {text}, "
            f"cur_rank INTEGER, prev_code {text}, held_code {text}, held_name {text}, "
            f"held_rank INTEGER, new_code {text}, new_name {text}, new_rank INTEGER, "
            f"outcome SMALLINT){tail}"
        )

    def create_choice(self) -> str:
        """A custom rule's answers, per customer (the Python path only)."""
        uuid_, text = ("uuid", "text") if self.pg else ("TEXT", "TEXT")
        tail = " ON COMMIT DROP" if self.pg else " WITHOUT ROWID"
        return (
            f"CREATE TEMPORARY TABLE crm_tier_choice (customer_id {uuid_} PRIMARY KEY, "
            f"new_code {text} NOT NULL, new_name {text} NOT NULL, new_rank INTEGER NOT NULL)"
            f"{tail}"
        )

    @property
    def mark(self) -> str:
        return "%s" if self.pg else "?"


_RUN_COLUMNS = (
    "customer_id, average_minor, cur_from, cur_code, cur_name, cur_rank, prev_code, "
    "held_code, held_name, held_rank, new_code, new_name, new_rank, outcome"
)


def _outcome(new_code: str) -> str:
    """``_tier_runs.decide`` as a CASE over a row of the run (``new_code`` its new tier)."""
    return (
        f"CASE WHEN cur_code IS NULL THEN {NEW} "
        f"WHEN cur_code = {new_code} THEN {UNCHANGED} "
        f"WHEN cur_from < :effective THEN {CLOSE} "
        f"WHEN prev_code IS NOT NULL AND prev_code = {new_code} THEN {REOPEN} "
        f"ELSE {REPLACE} END"
    )


def _state(d: Dialect) -> str:
    """The CTEs every run starts from: ``state`` has one row per active or dormant
    customer with its average (``average_minor``), current record (``cur_*``), the
    record ending on ``effective_on`` (``prev_*``) and the tier held the day before
    ``effective_on`` (``held_*``, ``_tier_runs.held_before``)."""
    lead = "LEAD(day, 1, after_day) OVER (PARTITION BY account_id ORDER BY day)"
    days = d.days(lead, d.greatest("day", "first_day"))

    def held(column: str) -> str:
        return (
            f"CASE WHEN cur.tier_code IS NULL THEN NULL "
            f"WHEN cur.valid_from < {d.date('effective')} THEN cur.{column} "
            f"ELSE prev.{column} END"
        )

    return f"""
    spans AS (
      -- a counted balance times the days it stands for: from its day (the account's
      -- first day in the period, for the one carried in) to the next balance's day or
      -- the account's last day in the period
      SELECT customer_id, balance_minor * {days} AS amount_days
      FROM {d.balances()}
    ),
    sums AS (
      -- averaged here, once per customer: a later reference to a column of a CTE
      -- that the planner inlines would compute it again
      SELECT customer_id, {d.average("sum(amount_days)")} AS average_minor
      FROM spans GROUP BY customer_id
    ),
    state AS (
      SELECT c.id AS customer_id,
             CASE WHEN s.customer_id IS NULL THEN 0 ELSE s.average_minor END
               AS average_minor,
             cur.valid_from AS cur_from, cur.tier_code AS cur_code,
             cur.tier_name AS cur_name, cur.tier_rank AS cur_rank,
             prev.tier_code AS prev_code,
             {held("tier_code")} AS held_code, {held("tier_name")} AS held_name,
             {held("tier_rank")} AS held_rank
      FROM crm_customer c
      LEFT JOIN sums s ON s.customer_id = c.id
      LEFT JOIN crm_tier cur ON cur.customer_id = c.id AND cur.valid_to IS NULL
      LEFT JOIN crm_tier prev ON prev.customer_id = c.id
        AND prev.valid_to = {d.date("effective")}
      WHERE c.status IN ({_RETIERED})
    )"""


@functools.cache
def threshold_sql(dialect: str, bands: int) -> str:
    """A run by a ThresholdTiers of ``bands`` bands, in one statement. Band ``i`` binds
    ``:min_i`` (its threshold), ``:keep_i`` (the average that keeps a customer already
    in it), ``:code_i``, ``:name_i`` and ``:rank_i``."""
    d = Dialect(dialect)
    last = bands - 1
    earned = " ".join(f"WHEN average_minor >= :min_{i} THEN {i}" for i in range(last))
    earned = f"CASE {earned} ELSE {last} END" if last else "0"  # one band: no choice
    earned_rank = " ".join(f"WHEN {i} THEN :rank_{i}" for i in range(bands))
    # The hysteresis (ThresholdTiers.tier_for): a customer keeps a higher-ranked tier it
    # held, of this rule, while its average stays at or above that tier's keep threshold.
    kept = " ".join(
        f"WHEN held_code = :code_{i} AND held_rank > earned_rank "
        f"AND average_minor >= :keep_{i} THEN {i}"
        for i in range(bands)
    )

    def pick(field: str) -> str:
        return "CASE band " + " ".join(f"WHEN {i} THEN :{field}_{i}" for i in range(bands)) + " END"

    # Only the stored held code and rank are needed here (held_name stays NULL).
    return f"""
    WITH {_state(d)},
    earned AS (
      SELECT state.*, {earned} AS earned FROM state
    ),
    ranked AS (
      SELECT earned.*, CASE earned {earned_rank} END AS earned_rank FROM earned
    ),
    chosen AS (
      SELECT ranked.*, CASE {kept} ELSE earned END AS band FROM ranked
    ),
    named AS (
      SELECT chosen.*, {pick("code")} AS new_code, {pick("name")} AS new_name,
             {pick("rank")} AS new_rank
      FROM chosen
    )
    INSERT INTO crm_tier_run ({_RUN_COLUMNS})
    SELECT customer_id, average_minor, cur_from, cur_code, cur_name, cur_rank, prev_code,
           held_code, NULL, held_rank, new_code, new_name, new_rank, {_outcome("new_code")}
    FROM named"""


@functools.cache
def python_sql(dialect: str) -> str:
    """A run by any other rule: the state only; the rule's answers come later."""
    return f"""
    WITH {_state(Dialect(dialect))}
    INSERT INTO crm_tier_run ({_RUN_COLUMNS})
    SELECT customer_id, average_minor, cur_from, cur_code, cur_name, cur_rank, prev_code,
           held_code, held_name, held_rank, NULL, NULL, NULL, NULL
    FROM state"""


# What the Python path reads (in customer order, as the in-memory adapter walks them),
# writes back, and joins in; the outcome is decided in the same UPDATE.
TO_RULE = (
    "SELECT customer_id, average_minor, held_code, held_name, held_rank "
    "FROM crm_tier_run ORDER BY customer_id"
)
CHOICE = "INSERT INTO crm_tier_choice (customer_id, new_code, new_name, new_rank) VALUES "
CHOSEN = f"""
    UPDATE crm_tier_run SET new_code = c.new_code, new_name = c.new_name,
           new_rank = c.new_rank, outcome = {_outcome("c.new_code")}
    FROM crm_tier_choice c WHERE c.customer_id = crm_tier_run.customer_id"""

# The report's counts (and, on SQLite, averages that did not fit 64 bits: NULL).
_DIRECTION = (
    "CASE WHEN cur_code IS NULL THEN 'initial' WHEN new_rank > cur_rank THEN 'up' "
    "WHEN new_rank < cur_rank THEN 'down' ELSE 'sideways' END"
)
COUNTS = f"""
    SELECT outcome, {_DIRECTION} AS direction, count(*) AS n,
           count(*) - count(average_minor) AS too_large
    FROM crm_tier_run GROUP BY outcome, {_DIRECTION}"""

# The writes, one statement per outcome (each run only when it has rows). A current
# record is found by its key (customer, valid_from) from the run's row.
CLOSE_CURRENT = f"""
    UPDATE crm_tier SET valid_to = :effective
    WHERE (customer_id, valid_from) IN (
      SELECT customer_id, cur_from FROM crm_tier_run WHERE outcome = {CLOSE})"""
INSERT_NEW = f"""
    INSERT INTO crm_tier ({", ".join(TIER_COLUMNS)})
    SELECT customer_id, :effective, NULL, new_code, new_name, new_rank, average_minor,
           :currency, :start, :end
    FROM crm_tier_run WHERE outcome IN ({NEW}, {CLOSE}) ORDER BY customer_id"""
REPLACE_IN_PLACE = f"""
    UPDATE crm_tier SET tier_code = r.new_code, tier_name = r.new_name,
           tier_rank = r.new_rank, average_minor = r.average_minor, currency = :currency,
           period_start = :start, period_end = :end
    FROM crm_tier_run r
    WHERE r.outcome = {REPLACE} AND crm_tier.customer_id = r.customer_id
      AND crm_tier.valid_from = :effective"""
# A correction back to the tier held before: the day's record goes, the one before it
# is current again.
DROP_CORRECTED = f"""
    DELETE FROM crm_tier
    WHERE valid_from = :effective AND customer_id IN (
      SELECT customer_id FROM crm_tier_run WHERE outcome = {REOPEN})"""
REOPEN_PREVIOUS = f"""
    UPDATE crm_tier SET valid_to = NULL
    WHERE valid_to = :effective AND customer_id IN (
      SELECT customer_id FROM crm_tier_run WHERE outcome = {REOPEN})"""
# The changed customers, in customer order (the order of the in-memory adapter's audit).
CHANGED = f"""
    SELECT customer_id, average_minor, cur_code, cur_name, cur_rank, new_code, new_name,
           new_rank
    FROM crm_tier_run WHERE outcome <> {UNCHANGED} ORDER BY customer_id"""


def band_params(rule: ThresholdTiers) -> dict[str, Any]:
    params: dict[str, Any] = {}
    keep = rule.keep_thresholds
    for i, (threshold, tier) in enumerate(rule.bands):
        params.update(
            {
                f"min_{i}": threshold.minor_units,
                f"keep_{i}": keep[tier.code],
                f"code_{i}": tier.code,
                f"name_{i}": tier.name,
                f"rank_{i}": tier.rank,
            }
        )
    return params
