"""Run a finance_crm benchmark against a hand-written baseline measured in the same run.

    .venv/bin/python benchmarks/run.py NAME [--n N] [options]
    .venv/bin/python benchmarks/run.py --help          # lists the benchmarks
    .venv/bin/python benchmarks/run.py NAME --help     # a benchmark's options

Progress goes to stderr; the last line on stdout is one JSON object with the figures
(``bench``, ``n``, ``seconds``, ``baseline_seconds``, ``ratio``, ``peak_rss_mb``, ...).
Each side runs in its own child process (this script with a hidden ``--part``), so
each reports its own peak RSS. Benchmarks report figures; they never assert timings.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmark modules

from _common import emit

BENCHMARKS = (
    "customer_import",
    "customer_get",
    "handover",
    "scoped_list",
    "group_resolve",
    "balance_feed",
    "retier_and_due",
    "customer_view",
)


def main(argv: Sequence[str] | None = None) -> None:
    modules = {name: importlib.import_module(name) for name in BENCHMARKS}
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Run a finance_crm benchmark; the last line printed is a JSON object.",
        epilog="benchmarks:\n"
        + "\n".join(f"  {name:<18}{m.SUMMARY}" for name, m in modules.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    names = parser.add_subparsers(dest="bench", required=True, metavar="NAME")
    for name, module in modules.items():
        sub = names.add_parser(
            name,
            help=module.SUMMARY,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument(
            "--n", type=int, default=module.DEFAULT_N, help=f"customers ({module.DEFAULT_N:,})"
        )
        sub.add_argument("--part", choices=module.PARTS, help=argparse.SUPPRESS)
        module.add_arguments(sub)
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    module = modules[args.bench]
    emit(module.part(args) if args.part else module.run(args))


if __name__ == "__main__":
    main()
