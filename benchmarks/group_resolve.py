"""group_resolve: resolve groups (集团) and look-through ownership in a graph of N parties
and 2N relationships, finance_crm on SQLite against networkx with the graph in memory.

The graph (``_graphs.generate``: forests of groups of depth 1-8 with heavy-tailed sizes,
controllers, cross-holdings, joint ventures, guarantees, suppliers, ended links) is loaded
once through finance_crm (``uow.parties.add_many`` / ``uow.relationships.add_many``,
10,000 per unit of work) into ``benchmarks/.work/cache/group_resolve-n<N>-v<version>.db``
(with the queries and the load figures beside it in ``.json``); ``--rebuild`` loads it
again. Every query asks as of 2025-06-30.

Ours (a fresh child process, ``SqlStore.from_url`` on the cached file): for K random
parties ``group_of(uow, party, at=...)`` (the closure over control and consolidation
links both ways, the ultimate parent and the actual controller; ``--group-api reach``
times only ``uow.relationships.reach`` for the closure plus ``ultimate_parent``), and for
K pairs ``effective_ownership(uow, owner, owned, at=...)``; one read-only unit of work
per query, each query timed on its own.

Baseline (another child): networkx 3. Loading (timed apart, never in ``baseline_seconds``)
reads the same file with ``sqlite3`` into a ``MultiDiGraph`` with every party and every
relationship (type, dates, share, id), then builds the views for the date: an undirected
``Graph`` of the active control and consolidation links, a ``DiGraph`` of the active
consolidation links, a ``MultiDiGraph`` of the active group links (for the controller)
and one of the active shareholdings. A group is ``nx.node_connected_component``, the
ultimate parent a breadth-first walk up the consolidation links (the farthest top, then
the smallest id, as finance_crm), the actual controller the breadth-first tree up the
group links (finance_crm's tie rule), and effective ownership a depth-first search over
simple paths up the shareholdings with exact integer products (millionths), cutting and
counting cycles as finance_crm does.

Both children hash every answer (members, ultimate parent, controller; the ownership as
exact decimal text with the cycles cut, depth-limited chains and paths found); the run
fails unless all agree.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import hashlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

from _common import (
    WORK_DIR,
    environment,
    file_mb,
    peak_rss_mb,
    percentile,
    ratio,
    remove_db,
    run_part,
)
from _graphs import AT, GRAPH_VERSION, POOL, generate

NAME = "group_resolve"
SUMMARY = "group, ultimate parent, effective ownership in a 2N-link graph vs networkx"
DEFAULT_N = 200_000
PARTS = ("ours", "baseline", "build")
BATCH = 10_000  # parties or relationships per add_many and unit of work while loading
# finance_crm's standard relationship types, by category (the baseline hard-codes them
# so that its child imports neither finance_crm's model nor SQLAlchemy).
GROUP_LINKS = frozenset({"actual_control", "direct_parent", "ultimate_parent"})
CONSOLIDATION = frozenset({"direct_parent", "ultimate_parent"})
CONTROL = frozenset({"actual_control"})
OWNERSHIP = frozenset({"shareholding"})
MAX_HOPS = 64  # services.groups._MAX_DEPTH: ultimate_parent and actual_controller
MAX_LENGTH = 10  # effective_ownership's default max_depth


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k", type=int, default=1000, help="queries of each kind (1,000)")
    parser.add_argument(
        "--warmup", type=int, default=100, help="untimed queries of each kind first (100)"
    )
    parser.add_argument(
        "--group-api",
        choices=("group_of", "reach"),
        default="group_of",
        help="group_of (members, ultimate parent, controller) or reach + ultimate_parent",
    )
    parser.add_argument("--rebuild", action="store_true", help="load the cached database again")
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)  # cProfile output (ours)


def cache_path(n: int) -> Path:
    return WORK_DIR / "cache" / f"group_resolve-n{n}-v{GRAPH_VERSION}.db"


def _sidecar(db: Path) -> Path:
    return db.with_suffix(".json")


# -- parent ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    # The parent never imports SQLAlchemy or networkx: a child inherits its peak RSS.
    if args.k < 1 or args.warmup < 0 or args.k + args.warmup > POOL:
        raise SystemExit(f"--k at least 1 and --k + --warmup at most {POOL}")
    db, built = _ensure_database(args.n, args.rebuild)
    info = json.loads(_sidecar(db).read_text())
    common = ["--n", str(args.n), "--db", str(db), "--k", str(args.k)]
    common += ["--warmup", str(args.warmup), "--group-api", args.group_api]
    baseline = run_part(NAME, "baseline", common)
    print(
        f"baseline: load {baseline['load_seconds']:.1f} s, "
        f"groups {baseline['group']['seconds']:.2f} s, "
        f"ownership {baseline['ownership']['seconds']:.2f} s",
        file=sys.stderr,
    )
    ours = run_part(NAME, "ours", common)
    print(
        f"ours: groups {ours['group']['seconds']:.2f} s, "
        f"ownership {ours['ownership']['seconds']:.2f} s",
        file=sys.stderr,
    )
    for kind in ("group", "ownership"):
        mine, theirs = ours[kind]["digests"], baseline[kind]["digests"]
        if mine != theirs:
            first = next(i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b)
            differ = sum(a != b for a, b in zip(mine, theirs, strict=True))
            raise SystemExit(
                f"the two sides answered {differ} {kind} queries differently, first #{first}: "
                f"{ours[kind]['first_answers'].get(str(first), '(not kept)')} vs "
                f"{baseline[kind]['first_answers'].get(str(first), '(not kept)')}"
            )
    g, o = ours["group"], ours["ownership"]
    bg, bo = baseline["group"], baseline["ownership"]
    seconds = round(g["seconds"] + o["seconds"], 3)
    baseline_seconds = round(bg["seconds"] + bo["seconds"], 3)
    load = info["load"]
    return {
        "bench": NAME,
        "n": args.n,
        "relationships": info["stats"]["relationships"],
        "k": args.k,
        "at": AT.isoformat(),
        "group_api": args.group_api,
        "seconds": seconds,
        "baseline_seconds": baseline_seconds,
        "ratio": ratio(seconds, baseline_seconds),
        "group_seconds": g["seconds"],
        "group_baseline_seconds": bg["seconds"],
        "group_ratio": ratio(g["seconds"], bg["seconds"]),
        "group_p50_us": g["p50_us"],
        "group_p90_us": g["p90_us"],
        "group_p99_us": g["p99_us"],
        "group_baseline_p50_us": bg["p50_us"],
        "group_baseline_p90_us": bg["p90_us"],
        "group_baseline_p99_us": bg["p99_us"],
        "group_p50_ratio": ratio(g["p50_us"], bg["p50_us"]),
        "ownership_seconds": o["seconds"],
        "ownership_baseline_seconds": bo["seconds"],
        "ownership_ratio": ratio(o["seconds"], bo["seconds"]),
        "ownership_p50_us": o["p50_us"],
        "ownership_p90_us": o["p90_us"],
        "ownership_p99_us": o["p99_us"],
        "ownership_baseline_p50_us": bo["p50_us"],
        "ownership_baseline_p90_us": bo["p90_us"],
        "ownership_baseline_p99_us": bo["p99_us"],
        "ownership_p50_ratio": ratio(o["p50_us"], bo["p50_us"]),
        "same_answers": True,
        "answers": {"group": bg["summary"], "ownership": bo["summary"]},
        "peak_rss_mb": ours["peak_rss_mb"],
        "baseline_peak_rss_mb": baseline["peak_rss_mb"],
        "rss_ratio": ratio(ours["peak_rss_mb"], baseline["peak_rss_mb"]),
        "networkx_load_seconds": baseline["load_seconds"],
        "networkx_load": baseline["load"],
        "networkx_rss_after_load_mb": baseline["rss_after_load_mb"],
        "ours_load_seconds": load["seconds"],
        "ours_load": load,
        "ours_open_seconds": ours["open_seconds"],
        "db_mb": file_mb(db),
        "graph": info["stats"],
        "built_this_run": built,
        "networkx": baseline["networkx"],
        **environment(),
    }


def _ensure_database(n: int, rebuild: bool) -> tuple[Path, bool]:
    """The cached database and its sidecar (queries, load figures), loaded if needed."""
    db = cache_path(n)
    if not rebuild and db.exists() and _sidecar(db).exists():
        return db, False
    db.parent.mkdir(parents=True, exist_ok=True)
    building = db.with_suffix(f".building-{os.getpid()}.db")
    remove_db(building)
    print(f"loading {db.name} through finance_crm ...", file=sys.stderr)
    try:
        build = run_part(NAME, "build", ["--n", str(n), "--db", str(building)])
    except BaseException:
        remove_db(building)
        raise
    remove_db(db)
    _sidecar(db).write_text(json.dumps(build, ensure_ascii=False))
    building.rename(db)  # complete files only: an interrupted load is not reused
    print(f"loaded in {build['load']['seconds']:.1f} s", file=sys.stderr)
    return db, True


# -- children -------------------------------------------------------------------------------


def part(args: argparse.Namespace) -> dict[str, Any]:
    db = Path(args.db)
    if args.part == "build":
        return _build(db, args.n)
    info = json.loads(_sidecar(db).read_text())
    k, warm = args.k, args.warmup
    parties, pairs = info["group_parties"], [tuple(p[:2]) for p in info["ownership_pairs"]]
    queries = {
        "group": (parties[:k], parties[len(parties) - warm :] if warm else []),
        "ownership": (pairs[:k], pairs[len(pairs) - warm :] if warm else []),
    }
    side = _Ours(db, args.group_api) if args.part == "ours" else _Baseline(db, args.group_api)
    profiler = cProfile.Profile() if args.profile else None
    result: dict[str, Any] = {"part": args.part}
    for kind, (timed, warmup) in queries.items():
        ask: Callable[[Any], Any] = getattr(side, kind)
        answer: Callable[[Any, Any], str] = getattr(side, f"{kind}_answer")
        for query in warmup:
            ask(query)
        result[kind] = _timed(ask, answer, timed, profiler)
    if profiler is not None:
        profiler.dump_stats(args.profile)
    result["peak_rss_mb"] = peak_rss_mb()
    result.update(side.extra())
    return result


def _timed(
    ask: Callable[[Any], Any],
    answer: Callable[[Any, Any], str],
    queries: Sequence[Any],
    profiler: cProfile.Profile | None,
) -> dict[str, Any]:
    """Each query timed on its own; its answer (made outside the timing) hashed."""
    clock = time.perf_counter_ns
    micros: list[float] = []
    digests: list[str] = []
    first: dict[str, str] = {}
    summary: dict[str, int] = {}
    for i, query in enumerate(queries):
        if profiler is not None:
            profiler.enable()
        started = clock()
        found = ask(query)
        micros.append((clock() - started) / 1000)
        if profiler is not None:
            profiler.disable()
        line = answer(query, found)
        digests.append(hashlib.sha256(line.encode()).hexdigest()[:16])
        if i < 20 or len(line) < 400:
            first[str(i)] = line if len(line) < 400 else line[:400] + "..."
        _count(summary, line)
    return {
        "seconds": round(sum(micros) / 1e6, 3),
        "p50_us": round(percentile(micros, 50), 1),
        "p90_us": round(percentile(micros, 90), 1),
        "p99_us": round(percentile(micros, 99), 1),
        "max_us": round(max(micros), 1),
        "digests": digests,
        "first_answers": first,
        "summary": summary,
    }


def _count(summary: dict[str, int], line: str) -> None:
    """Totals over the answers (the same on both sides when the answers are)."""
    fields = line.split("|")
    summary["queries"] = summary.get("queries", 0) + 1
    if fields[0] == "group":
        members = fields[2].count(",") + 1
        summary["members"] = summary.get("members", 0) + members
        summary["largest"] = max(summary.get("largest", 0), members)
        summary["alone"] = summary.get("alone", 0) + (members == 1)
        summary["with_controller"] = summary.get("with_controller", 0) + (fields[4] != "-")
    else:
        summary["with_share"] = summary.get("with_share", 0) + (fields[3] != "0")
        summary["cycles_cut"] = summary.get("cycles_cut", 0) + int(fields[4])
        summary["depth_limited"] = summary.get("depth_limited", 0) + int(fields[5])
        summary["paths"] = summary.get("paths", 0) + int(fields[6])


def _group_line(party: str, members: Sequence[str], top: str, controller: str | None) -> str:
    return f"group|{party}|{','.join(members)}|{top}|{controller or '-'}"


def _ownership_line(pair: Sequence[str], share: Decimal, cut: int, limited: int, paths: int) -> str:
    return f"ownership|{pair[0]}|{pair[1]}|{share}|{cut}|{limited}|{paths}"


# -- ours -----------------------------------------------------------------------------------


class _Ours:
    def __init__(self, db: Path, group_api: str) -> None:
        import uuid

        from finance_crm.adapters.sql import SqlStore
        from finance_crm.ids import PartyId
        from finance_crm.model.relationships import Direction
        from finance_crm.security import Actor
        from finance_crm.services.groups import effective_ownership, group_of, ultimate_parent

        upgrading = SqlStore.from_url(f"sqlite:///{db}")
        upgrading.upgrade_schema()  # not timed: a cache from an older schema gains its tables
        upgrading.close()
        started = time.perf_counter()
        self._store = store = SqlStore.from_url(f"sqlite:///{db}")
        self._actor = actor = Actor("bench-reader", roles={"head_office"})
        with store.unit_of_work(actor, read_only=True):
            pass  # the schema check and the first connection
        self._open = time.perf_counter() - started
        self._party: Callable[[str], Any] = lambda hex_id: PartyId(uuid.UUID(hex_id))
        self._group_api = group_api
        self._group_of = group_of
        self._ultimate_parent = ultimate_parent
        self._effective_ownership = effective_ownership
        self._both = Direction.BOTH

    def group(self, party: str) -> Any:
        with self._store.unit_of_work(self._actor, read_only=True) as uow:
            party_id = self._party(party)
            if self._group_api == "group_of":
                return self._group_of(uow, party_id, at=AT)
            closure = uow.relationships.reach(
                party_id, at=AT, types=uow.relationship_types.group_links, direction=self._both
            )
            return closure, self._ultimate_parent(uow, party_id, at=AT)

    def group_answer(self, party: str, found: Any) -> str:
        if self._group_api == "group_of":
            members, top, controller = (
                found.members,
                found.ultimate_parent,
                found.actual_controller,
            )
        else:
            members, top, controller = [r.party_id for r in found[0]], found[1], None
        return _group_line(
            party,
            sorted(m.hex for m in members),
            top.hex,
            None if controller is None else controller.hex,
        )

    def ownership(self, pair: tuple[str, str]) -> Any:
        with self._store.unit_of_work(self._actor, read_only=True) as uow:
            return self._effective_ownership(
                uow, self._party(pair[0]), self._party(pair[1]), at=AT, max_depth=MAX_LENGTH
            )

    def ownership_answer(self, pair: tuple[str, str], found: Any) -> str:
        return _ownership_line(
            pair, found.share, found.cycles_cut, found.depth_limited, len(found.paths)
        )

    def extra(self) -> dict[str, Any]:
        self._store.close()
        return {"open_seconds": round(self._open, 3)}


# -- the baseline: networkx, the graph in memory ------------------------------------------------


class _Baseline:
    def __init__(self, db: Path, group_api: str) -> None:
        import networkx as nx  # type: ignore[import-untyped]

        self._nx = nx
        self._group_api = group_api
        clock = time.perf_counter
        started = clock()
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            nodes = connection.execute("SELECT id, kind FROM crm_party").fetchall()
            edges = connection.execute(
                "SELECT source, target, id, type, valid_from, valid_to, share_millionths "
                "FROM crm_relationship"
            ).fetchall()
        finally:
            connection.close()
        read = clock()
        day = datetime.date.fromisoformat
        graph = nx.MultiDiGraph()
        graph.add_nodes_from((party, {"kind": kind}) for party, kind in nodes)
        graph.add_edges_from(
            (
                source,
                target,
                key,
                {
                    "type": kind,
                    "valid_from": day(since),
                    "valid_to": None if until is None else day(until),
                    "share": share,
                },
            )
            for source, target, key, kind, since, until, share in edges
        )
        del nodes, edges
        built = clock()
        # The views for the date, materialised once (a lazy subgraph_view re-tests every
        # edge on every step of every walk).
        group_u = nx.Graph()
        consolidation = nx.DiGraph()
        group_d = nx.MultiDiGraph()
        shares = nx.MultiDiGraph()
        for source, target, key, data in graph.edges(keys=True, data=True):
            until = data["valid_to"]
            if data["valid_from"] > AT or (until is not None and until <= AT):
                continue
            kind = data["type"]
            if kind in GROUP_LINKS:
                group_u.add_edge(source, target)
                group_d.add_edge(source, target, key, type=kind)
                if kind in CONSOLIDATION:
                    consolidation.add_edge(source, target)
            elif kind in OWNERSHIP:
                shares.add_edge(source, target, key, share=data["share"])
        viewed = clock()
        self._graph = graph
        self._group_u, self._consolidation = group_u, consolidation
        self._group_d, self._shares = group_d, shares
        self.load = {
            "read_seconds": round(read - started, 3),
            "graph_seconds": round(built - read, 3),
            "view_seconds": round(viewed - built, 3),
        }
        self.load_seconds = round(viewed - started, 3)
        self.rss_after_load = peak_rss_mb()

    def group(self, party: str) -> Any:
        members = (
            self._nx.node_connected_component(self._group_u, party)
            if party in self._group_u
            else {party}
        )
        top = self._ultimate(party)
        if self._group_api == "reach":
            return members, top, None
        return members, top, self._controller(party)

    def _ultimate(self, party: str) -> str:
        """The farthest party without a consolidation parent, then the smallest id."""
        parents = self._consolidation._pred
        hops = {party: 0}
        frontier = [party]
        tops: list[tuple[int, str]] = []
        depth = 0
        while frontier:
            ahead = []
            for node in frontier:
                above = parents.get(node)
                if not above:
                    tops.append((-depth, node))
                    continue
                if depth == MAX_HOPS:
                    continue
                for parent in above:
                    if parent not in hops:
                        hops[parent] = depth + 1
                        ahead.append(parent)
            frontier = ahead
            depth += 1
        return min(tops)[1] if tops else party

    def _controller(self, party: str) -> str | None:
        """The breadth-first tree up the group links, each party reached from the smallest
        (parent, relationship id) one level down; the deepest party reached through a
        control link, then the smallest id."""
        links = self._group_d._pred
        seen = {party}
        frontier = [party]
        found: list[tuple[int, str]] = []
        for depth in range(1, MAX_HOPS + 1):
            best: dict[str, tuple[str, str, str]] = {}
            for node in frontier:
                for upper, keyed in links.get(node, {}).items():
                    if upper in seen:
                        continue
                    for key, data in keyed.items():
                        known = best.get(upper)
                        if known is None or (node, key) < known[:2]:
                            best[upper] = (node, key, data["type"])
            if not best:
                break
            found += [(-depth, upper) for upper, (_, _, t) in best.items() if t in CONTROL]
            seen.update(best)
            frontier = list(best)
        return min(found)[1] if found else None

    def group_answer(self, party: str, found: Any) -> str:
        members, top, controller = found
        return _group_line(party, sorted(members), top, controller)

    def ownership(self, pair: tuple[str, str]) -> Any:
        """Simple paths up the shareholdings from the owned company to the owner; the
        products kept as integers (shares are millionths) summed per path length."""
        owner, owned = pair
        holders = self._shares._pred
        sums = [0] * (MAX_LENGTH + 1)
        cut = limited = paths = 0
        stack: list[tuple[str, tuple[str, ...], int]] = [(owned, (owned,), 1)]
        while stack:
            node, on, product = stack.pop()
            length = len(on) - 1
            for holder, keyed in holders.get(node, {}).items():
                for data in keyed.values():
                    if length == MAX_LENGTH:
                        limited += 1
                    elif holder == owner:
                        sums[length + 1] += product * data["share"]
                        paths += 1
                    elif holder in on:
                        cut += 1
                    else:
                        stack.append((holder, (*on, holder), product * data["share"]))
        total = sum(s * 10 ** (6 * (MAX_LENGTH - n)) for n, s in enumerate(sums))
        return total, cut, limited, paths

    def ownership_answer(self, pair: tuple[str, str], found: Any) -> str:
        total, cut, limited, paths = found
        with localcontext() as exact:
            exact.prec = 6 * MAX_LENGTH + 10
            percent = Decimal(total).scaleb(2 - 6 * MAX_LENGTH)
            share = percent.quantize(Decimal("1E-10")).normalize() if total else Decimal(0)
        return _ownership_line(pair, share, cut, limited, paths)

    def extra(self) -> dict[str, Any]:
        nx = self._nx
        return {
            "load_seconds": self.load_seconds,
            "load": self.load,
            "rss_after_load_mb": self.rss_after_load,
            "networkx": {
                "version": nx.__version__,
                "graph_nodes": self._graph.number_of_nodes(),
                "graph_edges": self._graph.number_of_edges(),
                "group_view_edges": self._group_u.number_of_edges(),
                "share_view_edges": self._shares.number_of_edges(),
            },
        }


# -- the load, through finance_crm (a child) --------------------------------------------------


def _build(db: Path, n: int) -> dict[str, Any]:
    """Generate the graph, load it through finance_crm, ANALYZE; return the load figures
    and the queries (the parent keeps them beside the database)."""
    from finance_crm.adapters.sql import SqlStore
    from finance_crm.ids import PartyId, RelationshipId
    from finance_crm.model.relationships import Party, PartyKind, Relationship
    from finance_crm.money import Money
    from finance_crm.security import Actor

    clock = time.perf_counter
    started = clock()
    graph = generate(n)
    generated = clock()
    print(f"  generated {n:,} parties, {len(graph.relationships):,} links", file=sys.stderr)
    store = SqlStore.from_url(f"sqlite:///{db}")
    store.upgrade_schema()
    types = store.relationship_types
    actor = Actor.system("bench-build")
    kinds = {"person": PartyKind.PERSON, "organization": PartyKind.ORGANIZATION}
    loading = clock()
    for start in range(0, len(graph.parties), BATCH):
        rows = graph.parties[start : start + BATCH]
        with store.unit_of_work(actor) as uow:
            uow.parties.add_many(
                [Party(id=PartyId(p), kind=kinds[kind], name=name) for p, kind, name in rows]
            )
            uow.commit()
    parties_done = clock()
    print(f"  {len(graph.parties):,} parties in {parties_done - loading:.1f} s", file=sys.stderr)
    batches = []
    for start in range(0, len(graph.relationships), BATCH):
        chunk = graph.relationships[start : start + BATCH]
        began = clock()
        with store.unit_of_work(actor) as uow:
            uow.relationships.add_many(
                [
                    Relationship(
                        id=RelationshipId(r.id),
                        type=types.get(r.type),
                        source=PartyId(r.source),
                        target=PartyId(r.target),
                        valid_from=r.valid_from,
                        valid_to=r.valid_to,
                        share=None if r.share is None else Decimal(r.share),
                        amount=None if r.amount is None else Money.of(r.amount, "CNY"),
                    )
                    for r in chunk
                ]
            )
            uow.commit()
        batches.append(clock() - began)
        if (start // BATCH) % 5 == 4:
            print(
                f"  {start + len(chunk):,} links, {clock() - parties_done:.0f} s", file=sys.stderr
            )
    loaded = clock()
    with store.unit_of_work(actor, read_only=True) as uow:
        counts = (uow.parties.count(), uow.relationships.count())
    store.close()
    if counts != (n, len(graph.relationships)):
        raise SystemExit(f"stored {counts}, expected {(n, len(graph.relationships))}")
    connection = sqlite3.connect(db)
    connection.execute("ANALYZE")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    analyzed = clock()
    links = len(graph.relationships)
    return {
        "part": "build",
        "load": {
            "seconds": round(loaded - loading, 1),
            "parties_seconds": round(parties_done - loading, 1),
            "relationships_seconds": round(loaded - parties_done, 1),
            "relationships_per_s": round(links / (loaded - parties_done)),
            "batch_seconds_max": round(max(batches), 2),
            "batch_seconds_first_last": [round(batches[0], 2), round(batches[-1], 2)],
            "generate_seconds": round(generated - started, 1),
            "analyze_seconds": round(analyzed - loaded, 1),
            "batch_size": BATCH,
        },
        "stats": graph.stats,
        "group_parties": graph.group_parties,
        "ownership_pairs": graph.ownership_pairs,
    }
