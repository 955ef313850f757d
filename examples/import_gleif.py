"""Load GLEIF registry excerpts into the group graph (集团关系) and walk a parent chain.

GLEIF's golden copy publishes every legal entity with an LEI and, for many, who
consolidates them and which funds are managed by whom. This example imports CC0
excerpts of the golden copy (entities, relationships, reporting exceptions) and a
later delta into SQLite, shows what the report says, re-imports to show that nothing
is duplicated, and prints one subsidiary's chain of consolidation parents.

Data: GLEIF golden copy excerpts (CC0 1.0), from the openownership/bodspipelines test
fixtures, in examples/data/gleif.

Run:  python examples/import_gleif.py [path/to/graph.db]
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from pathlib import Path

from finance_crm.adapters.sql import SqlStore
from finance_crm.model.relationships import STANDARD_RELATIONSHIP_TYPES, Direction
from finance_crm.security import Actor
from finance_crm.services.gleif_import import GleifImportReport, GleifSkipReason, import_gleif

DATA = Path(__file__).parent / "data" / "gleif"
SUBSIDIARY = "98450051BS9C610A8T78"  # MONOOVA FX PTY LTD (in the delta)
ON = datetime.date(2025, 1, 1)


def show(title: str, report: GleifImportReport) -> None:
    print(f"== {title}")
    print(report.summary())
    unresolved = report.skipped(GleifSkipReason.UNRESOLVED)
    if unresolved:
        print(
            f"unresolved: {len(unresolved)} records need {len(report.unresolved_leis)} LEIs, e.g."
        )
        print("  ", unresolved[0])


def main(database: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{database}")
    store.upgrade_schema()
    actor = Actor("ho-data-1", roles={"head_office"})
    with store.unit_of_work(actor) as uow:
        golden = import_gleif(
            uow,
            entities=DATA / "lei-data.xml",
            relationships=DATA / "rr-data.xml",
            exceptions=DATA / "repex-data.xml",
        )
        uow.commit()
    show("golden copy excerpt", golden)
    with store.unit_of_work(actor) as uow:
        delta = import_gleif(
            uow,
            entities=DATA / "lei-updates-data2.xml",
            relationships=DATA / "rr-updates-data2.xml",
        )
        uow.commit()
    show("delta", delta)
    with store.unit_of_work(actor) as uow:
        again = import_gleif(
            uow,
            entities=DATA / "lei-updates-data2.xml",
            relationships=DATA / "rr-updates-data2.xml",
        )
        uow.commit()
    print(
        f"== delta again: {again.entities_added} entities added, {again.entities_unchanged} "
        f"unchanged; {again.relationships_added_total} relationships added, "
        f"{again.relationships_already_held} already held"
    )

    with store.unit_of_work(actor, read_only=True) as uow:
        print(f"stored: {uow.parties.count()} parties, {uow.relationships.count()} relationships")
        start = uow.parties.find_by_lei(SUBSIDIARY)
        assert start is not None, "the delta holds this entity"
        print(f"parent chain of {start.name} ({start.lei}) on {ON.isoformat()}:")
        chain = uow.relationships.tree(
            start.id,
            at=ON,
            types=STANDARD_RELATIONSHIP_TYPES.tree_links,
            direction=Direction.UP,
        )
        for node in chain:
            parent = uow.parties.get(node.party_id)
            kind = STANDARD_RELATIONSHIP_TYPES.get(node.type)
            print(f"{'  ' * node.depth}^ {kind.local_name} {parent.name} ({parent.lei})")
        reached = uow.relationships.reach(
            start.id,
            at=ON,
            types=STANDARD_RELATIONSHIP_TYPES.group_links,
            direction=Direction.UP,
            max_hops=10,
        )
        tops = [uow.parties.get(r.party_id) for r in reached if r.top]
        print("top of the group:", ", ".join(f"{p.name} ({p.lei})" for p in tops))
    store.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.unlink(missing_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder) / "graph.db")
