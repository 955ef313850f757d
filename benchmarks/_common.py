"""Helpers shared by the benchmarks: work files, child processes, figures, synthetic rows.

This module imports only the standard library and ``finance_crm.model.documents`` (for
:func:`make_resident_id`), so a baseline child process stays free of SQLAlchemy.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from finance_crm.model.documents import make_resident_id

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RUN_PY = BENCH_DIR / "run.py"


# -- work files ---------------------------------------------------------------------------


def run_dir(bench: str) -> Path:
    """A new, empty ``benchmarks/.work/<bench>-<pid>`` for this run's files.

    Per process, so two runs at the same time never delete each other's files; those
    left by runs that have ended (``--keep``, a crash) are removed here.
    """
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    for old in WORK_DIR.glob(f"{bench}-*"):
        pid = old.name.rpartition("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = WORK_DIR / f"{bench}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_db(path: Path) -> None:
    """Delete a SQLite file and its WAL/shared-memory companions."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def file_mb(path: Path) -> float:
    return round(path.stat().st_size / 2**20, 2) if path.exists() else 0.0


# -- figures ------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports kilobytes, macOS bytes).

    On Linux a child started by ``exec`` inherits its parent's ``ru_maxrss`` as a floor,
    so the parent process of a benchmark stays lean: it never imports SQLAlchemy.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 2**20 if sys.platform == "darwin" else 2**10
    return round(peak / scale, 1)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty; need not be sorted)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ratio(ours: float, baseline: float) -> float | None:
    return round(ours / baseline, 2) if baseline > 0 else None


def environment() -> dict[str, Any]:
    """Versions that make a figure comparable with another machine's."""
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": metadata.version("sqlalchemy"),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
    }


def emit(result: dict[str, Any]) -> None:
    """Print the result as the last line: one JSON object."""
    print(json.dumps(result, ensure_ascii=False, separators=(", ", ": ")), flush=True)


# -- child processes ----------------------------------------------------------------------


def run_part(bench: str, part: str, options: Sequence[str]) -> dict[str, Any]:
    """Run ``run.py bench --part part`` in a fresh interpreter; return its JSON line.

    A child per side means each side's peak RSS is its own, and neither side's
    imports or garbage linger in the other's measurement.
    """
    command = [sys.executable, str(RUN_PY), bench, "--part", part, *options]
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, check=False
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        sys.stdout.write(completed.stdout)
        raise SystemExit(f"{bench} --part {part} failed with exit code {completed.returncode}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["process_seconds"] = round(time.perf_counter() - started, 3)
    return result


# -- synthetic customers ------------------------------------------------------------------

# -- a PostgreSQL server for the benchmarks' PostgreSQL parts ----------------------------
# psycopg and SQLAlchemy are imported inside these functions: the parent process and the
# baselines' children never load them (a child inherits its parent's peak RSS).

PG_URL_ENVS = ("FINANCE_CRM_BENCH_POSTGRES_URL", "FINANCE_CRM_TEST_POSTGRES_URL")


def postgres_url() -> str | None:
    """The server's SQLAlchemy URL from the first of ``PG_URL_ENVS`` that is set."""
    for name in PG_URL_ENVS:
        url = os.environ.get(name, "").strip()
        if url:
            return url
    return None


def pg_admin_url() -> str:
    url = postgres_url()
    if url is None:
        raise SystemExit(f"set {PG_URL_ENVS[0]} for the PostgreSQL parts")
    return url


def pg_conninfo(database: str | None = None) -> str:
    """libpq's form of the SQLAlchemy URL, for psycopg (``postgresql+psycopg://`` ->
    ``postgresql://``), of ``database`` or of the admin database."""
    import psycopg.conninfo

    scheme, _, rest = pg_admin_url().partition("://")
    base = f"{scheme.partition('+')[0]}://{rest}"
    return psycopg.conninfo.make_conninfo(base, dbname=database) if database else base


def pg_sa_url(database: str) -> str:
    """The SQLAlchemy URL of ``database`` on the server."""
    from sqlalchemy.engine import make_url

    return make_url(pg_admin_url()).set(database=database).render_as_string(hide_password=False)


def pg_admin(statement: str) -> None:
    """Run ``statement`` (CREATE / DROP DATABASE) outside a transaction."""
    import psycopg

    with psycopg.connect(pg_conninfo(), autocommit=True) as connection:
        connection.execute(statement)


def pg_drop(name: str) -> None:
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN_NAMES = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳")
_REGIONS = ("110105", "310104", "440305", "330106", "320508", "510107", "420106", "610113")
_TAGS = ("", "vip", "retail;payroll", "vip;wealth;retail")
_FIRST_BIRTHDAY = datetime.date(1950, 1, 1).toordinal()
_BIRTHDAYS = 365 * 50  # 1950-2000
SEQUENCES_PER_DAY = 1000  # a resident ID's 3-digit sequence
CAPACITY = SEQUENCES_PER_DAY * _BIRTHDAYS * len(_REGIONS)  # distinct resident IDs


def customer_number(i: int) -> str:
    return f"C{i:010d}"


def synthetic_rows(
    n: int, *, start: int = 0, marks: list[float] | None = None, every: int = 1000
) -> Iterator[dict[str, str]]:
    """Rows ``start .. start+n-1`` in the :class:`FlatCustomerRows` layout, generated lazily.

    Deterministic and cheap (a resident ID is ``make_resident_id`` with the birthday
    changing every 1,000 rows); every row is valid and its customer number and resident
    ID are unique up to :data:`CAPACITY` rows. Half the rows have an e-mail address.
    If ``marks`` is given, ``time.perf_counter()`` is appended to it before every
    ``every``-th row: the batch boundaries of an import with ``batch_size=every``
    (an interval covers reading one batch and writing it).
    """
    if start + n > CAPACITY:
        raise ValueError(f"at most {CAPACITY} distinct synthetic customers")
    clock = time.perf_counter
    region = birthday = ""
    birth = datetime.date.min
    for i in range(start, start + n):
        if marks is not None and (i - start) % every == 0:
            marks.append(clock())
        sequence = i % SEQUENCES_PER_DAY
        if sequence == 0 or not region:
            block, day = divmod(i // SEQUENCES_PER_DAY, _BIRTHDAYS)
            birth = datetime.date.fromordinal(_FIRST_BIRTHDAY + day)
            region = _REGIONS[block]
            birthday = birth.isoformat()
        yield {
            "customer_number": f"C{i:010d}",
            "name": _SURNAMES[i % 20] + _GIVEN_NAMES[i % 13],
            "id_number": make_resident_id(region, birth, sequence),
            "birthday": birthday,
            "mobile": f"13{i % 1_000_000_000:09d}",
            "email": f"u{i}@example.com" if i % 2 == 0 else "",
            "risk_level": str(1 + i % 5),
            "tags": _TAGS[i % 4],
        }
    if marks is not None and n % every == 0:
        marks.append(clock())  # the end of the last full batch (a partial one is not timed)


def batch_times_ms(marks: Sequence[float]) -> list[float]:
    """Milliseconds between successive batch boundaries recorded by :func:`synthetic_rows`."""
    return [(b - a) * 1000 for a, b in itertools.pairwise(marks)]
