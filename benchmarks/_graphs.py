"""The synthetic group-relationship graph (集团关系) of the ``group_resolve`` benchmark.

:func:`generate` is a pure function of N and the seed: N parties (a tenth of them
persons, the rest companies) and exactly 2N relationships, as plain tuples (this module
imports only the standard library, so neither side's child pays for it beyond what it
uses):

* **Groups**: the companies are dealt into groups whose sizes follow a Pareto law
  (alpha 1.1, capped at N/40: about half are standalone companies, a few hold thousands
  of companies), each a tree of depth 1-8 (a chain from the top to the chosen depth, the
  other members hung below random members above that depth). Every tree edge is a
  ``direct_parent`` link plus a ``shareholding`` from the parent (100% a third of the
  time, else 51-95%).
* **Controllers**: 70% of the groups of two or more have an ``actual_control`` link from
  a person to the top; a fifth of them control another group too (which joins the two
  groups into one closure); 60% of controllers also hold 20-70% of the top.
* **Cross-holdings**: about 6% of a group's size in small holdings (0.5-5%, some with two
  decimals) between members of the group, at most three into any company and never
  above its 100%: some subsidiaries hold shares in their own parents, so ownership
  walks meet cycles. 5% of subsidiaries with room left have a person as a minority
  holder.
* **As-of dates**: everything holds from 2020-01-01, open-ended, except: 2% of
  subsidiaries were bought on 2023-01-01 from a company of a later group (the old
  ``direct_parent`` and ``shareholding`` end that day; the current ones start then);
  0.5% are joint ventures with a second, 50/50 parent in a later group (two tops); 1.5%
  had their parent's share changed on 2024-01-01 (the old one ended); 10% of guarantees
  ended on 2024-01-01. The benchmark asks as of :data:`AT` (2025-06-30).
* **The rest**, up to 2N: guarantees (40%, between random companies, with an amount),
  suppliers (30%) and legal representatives (30%, person to company).

Relationships come in an order that keeps the library's cycle check cheap: each group's
controller first, then the tree top down, then the links between groups. Ids are
version-7 UUIDs built from the seed (a party's id grows with its creation order).
"""

from __future__ import annotations

import datetime
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

GRAPH_VERSION = 1  # bump when the generator changes, so old caches are not reused
SEED = 11
AT = datetime.date(2025, 6, 30)  # the business date every query asks about
START = datetime.date(2020, 1, 1)
BOUGHT = datetime.date(2023, 1, 1)  # subsidiaries that changed hands
RESHARED = datetime.date(2024, 1, 1)  # parent's share changed; guarantees ended
ALPHA = 1.1  # Pareto exponent of the group sizes
MAX_DEPTH = 8
CROSS_SHARES = ("0.5", "1", "1.25", "2", "2.5", "3", "5")
POOL = 6000  # queries prepared per kind (the runs take the first K, warm-ups the last)

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳")
_CITY = ("华东", "华南", "华北", "西南", "东北", "中原", "江南", "海西")
_TRADE = ("控股", "实业", "投资", "科技", "贸易", "制造", "置业", "能源", "物流", "医药")


@dataclass(frozen=True)
class Spec:
    """One relationship as plain data (share: percent text, amount: yuan)."""

    id: uuid.UUID
    type: str
    source: uuid.UUID
    target: uuid.UUID
    valid_from: datetime.date
    valid_to: datetime.date | None = None
    share: str | None = None
    amount: int | None = None


@dataclass
class Graph:
    n: int
    parties: list[tuple[uuid.UUID, str, str]]  # (id, kind, name) in creation order
    relationships: list[Spec]
    group_parties: list[str]  # POOL random parties (hex ids) for the group queries
    ownership_pairs: list[tuple[str, str, str]]  # POOL (owner, owned, kind of pair)
    stats: dict[str, Any] = field(default_factory=dict)


class _Ids:
    """Deterministic version-7 UUIDs: a millisecond per id from a fixed epoch."""

    def __init__(self, rng: random.Random, epoch_ms: int) -> None:
        self._rng = rng
        self._ms = epoch_ms

    def next(self) -> uuid.UUID:
        self._ms += 1
        rand = self._rng.getrandbits(74)
        value = (self._ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 62) << 64
        value |= 0b10 << 62 | (rand & 0x3FFF_FFFF_FFFF_FFFF)
        return uuid.UUID(int=value)


@dataclass
class _Company:
    id: uuid.UUID
    group: int
    depth: int
    parent: int | None  # index of the tree parent
    share: int = 0  # the tree parent's share (percent)
    room: int = 100  # percent not yet held by anyone
    holders: int = 0  # cross-holders so far
    bought_from: int | None = None  # former parent (ended on BOUGHT)
    partner: int | None = None  # joint-venture partner (second parent)
    old_share: int | None = None  # the parent's share until RESHARED


def _sizes(rng: random.Random, companies: int, cap: int) -> Iterator[int]:
    left = companies
    while left > 0:
        size = min(cap, int((1.0 - rng.random()) ** (-1.0 / ALPHA)), left)
        left -= size
        yield size


def generate(n: int, seed: int = SEED) -> Graph:
    """The graph for N parties (deterministic for a given N and seed)."""
    if n < 1000:
        raise SystemExit("--n must be at least 1,000 for the group_resolve graph")
    rng = random.Random(seed)
    party_ids = _Ids(random.Random(seed + 1), 1_700_000_000_000)
    rel_ids = _Ids(random.Random(seed + 2), 1_710_000_000_000)
    persons_n = n // 10
    companies_n = n - persons_n
    cap = max(20, n // 40)
    parties: list[tuple[uuid.UUID, str, str]] = []

    # -- companies, group by group, top first (their ids follow that order) ----------
    companies: list[_Company] = []
    groups: list[list[int]] = []  # company indexes, top first, parents before children
    for g, size in enumerate(_sizes(rng, companies_n, cap)):
        members = []
        depth = min(rng.randint(1, MAX_DEPTH), size - 1)
        shallow: list[int] = []  # members above the group's depth (may take children)
        for k in range(size):
            index = len(companies)
            if k == 0:
                parent, level = None, 0
            elif k <= depth:  # the chain that gives the tree its depth
                parent, level = index - 1, k
            else:
                parent = rng.choice(shallow)
                level = companies[parent].depth + 1
            company = _Company(party_ids.next(), g, level, parent)
            if parent is not None:
                company.share = 100 if rng.random() < 1 / 3 else rng.randint(51, 95)
                company.room = 100 - company.share
            companies.append(company)
            if level < depth:
                shallow.append(index)
            members.append(index)
            name = f"{_CITY[index % 8]}{_TRADE[(index // 8) % 10]}{index}号有限公司"
            parties.append((company.id, "organization", name))
        groups.append(members)
    persons = []
    for i in range(persons_n):
        person = party_ids.next()
        persons.append(person)
        parties.append((person, "person", _SURNAMES[i % 20] + _GIVEN[i % 13]))

    # -- changes of hands, joint ventures, share changes (into later groups only, so
    # acyclic links never close a cycle) --------------------------------------------------
    last_group = len(groups) - 1
    for company in companies:
        if company.parent is None or company.group == last_group:
            continue
        draw = rng.random()
        if draw < 0.02:
            other = groups[rng.randint(company.group + 1, last_group)]
            company.bought_from = rng.choice(other)
        elif draw < 0.025:
            other = groups[rng.randint(company.group + 1, last_group)]
            company.partner = rng.choice(other)
            company.share, company.room = 50, 0
        elif draw < 0.04 and company.share > 51:
            company.old_share = rng.randint(51, company.share - 1)

    rels: list[Spec] = []

    def link(kind: str, source: uuid.UUID, target: uuid.UUID, **kw: Any) -> None:
        rels.append(Spec(rel_ids.next(), kind, source, target, kw.pop("valid_from", START), **kw))

    # -- each group: its controller, then its tree top down ------------------------------
    controllers: list[uuid.UUID] = []
    spare = iter(persons)
    holders: dict[uuid.UUID, set[uuid.UUID]] = {}  # company -> who holds it (no repeats)
    owners: dict[int, uuid.UUID] = {}  # top -> its controller, when the controller holds it
    for members in groups:
        top = companies[members[0]]
        if len(members) > 1 and rng.random() < 0.7:
            fresh = next(spare, None)
            if fresh is None or (controllers and rng.random() < 0.2):
                controller = rng.choice(controllers)
            else:
                controller = fresh
                controllers.append(controller)
            link("actual_control", controller, top.id)
            if rng.random() < 0.6:
                stake = rng.randint(20, 70)
                top.room -= stake
                holders.setdefault(top.id, set()).add(controller)
                owners[members[0]] = controller
                link("shareholding", controller, top.id, share=str(stake))
        for index in members[1:]:
            company = companies[index]
            assert company.parent is not None
            upper = companies[company.parent]
            since = BOUGHT if company.bought_from is not None else START
            link("direct_parent", upper.id, company.id, valid_from=since)
            holders.setdefault(company.id, set()).add(upper.id)
            if company.old_share is not None:
                link(
                    "shareholding",
                    upper.id,
                    company.id,
                    valid_from=since,
                    valid_to=RESHARED,
                    share=str(company.old_share),
                )
                since = RESHARED
            link("shareholding", upper.id, company.id, valid_from=since, share=str(company.share))
    bought = partners = 0
    for company in companies:
        if company.bought_from is not None:
            former = companies[company.bought_from].id
            link("direct_parent", former, company.id, valid_to=BOUGHT)
            link("shareholding", former, company.id, valid_to=BOUGHT, share=str(company.share))
            bought += 1
        if company.partner is not None:
            partner = companies[company.partner].id
            link("direct_parent", partner, company.id)
            link("shareholding", partner, company.id, share="50")
            holders[company.id].add(partner)
            partners += 1

    # -- cross-holdings within groups, persons' minority holdings ----------------------
    cross = 0
    for members in groups:
        if len(members) < 3:
            continue
        for _ in range(round(len(members) * 0.06)):
            a, b = rng.sample(members, 2)
            held, holder = companies[b], companies[a]
            cross_share = rng.choice(CROSS_SHARES)
            if held.holders >= 3 or held.room < float(cross_share):
                continue
            if holder.id in holders.setdefault(held.id, set()):
                continue
            holders[held.id].add(holder.id)
            held.holders += 1
            held.room -= math.ceil(float(cross_share))  # room stays a whole percent
            link("shareholding", holder.id, held.id, share=cross_share)
            cross += 1
    minority = 0
    for company in companies:
        if company.parent is not None and company.room >= 5 and rng.random() < 0.05:
            share = rng.randint(1, company.room)
            company.room -= share
            link("shareholding", rng.choice(persons), company.id, share=str(share))
            minority += 1

    # -- the rest: guarantees, suppliers, legal representatives ------------------------
    structural = len(rels)
    if structural > 2 * n:
        raise SystemExit(f"the groups alone need {structural} relationships, over 2N")
    counts = {"guarantee": 0, "supplier": 0, "legal_representative": 0}
    while len(rels) < 2 * n:
        draw = rng.random()
        a, b = rng.sample(range(len(companies)), 2)
        if draw < 0.4:
            ended = RESHARED if rng.random() < 0.1 else None
            amount = rng.randint(1, 500) * 100_000
            link("guarantee", companies[a].id, companies[b].id, valid_to=ended, amount=amount)
            counts["guarantee"] += 1
        elif draw < 0.7:
            link("supplier", companies[a].id, companies[b].id)
            counts["supplier"] += 1
        else:
            link("legal_representative", rng.choice(persons), companies[a].id)
            counts["legal_representative"] += 1

    sizes = sorted((len(m) for m in groups), reverse=True)
    stats = {
        "parties": len(parties),
        "persons": persons_n,
        "companies": companies_n,
        "relationships": len(rels),
        "group_and_ownership_links": structural,
        "groups": len(groups),
        "standalone_companies": sum(1 for s in sizes if s == 1),
        "largest_groups": sizes[:5],
        "controllers": len(controllers),
        "bought_on_2023_01_01": bought,
        "joint_ventures": partners,
        "cross_holdings": cross,
        "minority_holdings": minority,
        "ended": sum(1 for r in rels if r.valid_to is not None),
        **{f"{k}_links": v for k, v in counts.items()},
    }
    return Graph(
        n,
        parties,
        rels,
        _group_parties(random.Random(seed + 3), parties),
        _ownership_pairs(random.Random(seed + 4), companies, groups, owners),
        stats,
    )


def _group_parties(rng: random.Random, parties: list[tuple[uuid.UUID, str, str]]) -> list[str]:
    """Random parties (persons and companies alike, so big groups come up often)."""
    return [parties[i][0].hex for i in rng.sample(range(len(parties)), min(POOL, len(parties)))]


def _ownership_pairs(
    rng: random.Random,
    companies: list[_Company],
    groups: list[list[int]],
    owners: dict[int, uuid.UUID],
) -> list[tuple[str, str, str]]:
    """(owner, owned, kind): 60% a top and a random subsidiary of its tree, 10% a
    controller holding the top and a subsidiary, 10% two members of one group, 10% a
    former parent and the company it sold (no path on AT), 10% companies of different
    groups (a path only by chance)."""
    subsidiaries = [i for i, c in enumerate(companies) if c.parent is not None]
    in_groups = [m for m in groups if len(m) > 1]
    sold = [c for c in companies if c.bought_from is not None]
    held_tops = [g for g in in_groups if g[0] in owners]
    pairs: list[tuple[str, str, str]] = []
    while len(pairs) < POOL:
        draw = rng.random()
        if draw < 0.6:
            owned = companies[rng.choice(subsidiaries)]
            owner = companies[groups[owned.group][0]].id
            kind = "top"
        elif draw < 0.7 and held_tops:
            members = rng.choice(held_tops)
            owner = owners[members[0]]
            owned = companies[rng.choice(members[1:])]
            kind = "controller"
        elif draw < 0.8:
            a, b = rng.sample(rng.choice(in_groups), 2)
            owner, owned, kind = companies[a].id, companies[b], "same_group"
        elif draw < 0.9 and sold:
            owned = rng.choice(sold)
            owner = companies[owned.bought_from].id  # type: ignore[index]
            kind = "sold"
        else:
            a, b = rng.sample(range(len(companies)), 2)
            if companies[a].group == companies[b].group:
                continue
            owner, owned, kind = companies[a].id, companies[b], "other_group"
        pairs.append((owner.hex, owned.id.hex, kind))
    return pairs
