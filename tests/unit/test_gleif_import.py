"""GLEIF import on the real CC0 excerpts (examples/data/gleif),
on memory and on SQLite.

The counts below were read from the files by hand (and with a separate ElementTree
walk): lei-data holds 13 entities, lei-updates-data2 12 (one of them,
00TR8NKAEL48RGTZEW89, already in lei-data with the same name, country and number);
rr-data holds 10 relationship records whose parents are in neither entity file;
rr-updates-data2 holds 11 whose ends are all in lei-updates-data2; repex-data holds 10
reporting exceptions, 7 of them for entities of lei-data.
"""

from __future__ import annotations

import copy
import datetime
import doctest
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pendulum
import pytest

from finance_crm.adapters.memory import InMemoryStore
from finance_crm.clock import FixedClock
from finance_crm.errors import PermissionDenied, ValidationError
from finance_crm.model.relationships import STANDARD_RELATIONSHIP_TYPES, Direction
from finance_crm.ports import Store
from finance_crm.security import Actor
from finance_crm.services import _gleif_files, gleif_import
from finance_crm.services.gleif_import import (
    GleifImportReport,
    GleifSkipReason,
    gleif_reference,
    import_gleif,
)

DATA = Path(__file__).parents[2] / "examples" / "data" / "gleif"
LEI = DATA / "lei-data.xml"
LEI_JSON = DATA / "lei-data.json"
LEI_UPDATES = DATA / "lei-updates-data2.xml"
RR = DATA / "rr-data.xml"
RR_JSON = DATA / "rr-data.json"
RR_UPDATES = DATA / "rr-updates-data2.xml"
REPEX = DATA / "repex-data.xml"
RR_NS = "http://www.gleif.org/data/schema/rr/2016"
LEI_NS = "http://www.gleif.org/data/schema/leidata/2016"
NOW = pendulum.datetime(2025, 3, 1, 2, 0, tz="UTC")
TODAY = datetime.date(2025, 3, 1)
ACTOR = Actor("ho-data-1", roles={"head_office"})

LEI_DATA_LEIS = {
    "001GPB6A9XPE8XJICC14", "004L5FPTUREIWK9T2N63", "00EHHQ2ZHDCFXJCPCL46",
    "00GBW0Z2GYIER7DHDS71", "00KLB2PFTM3060S2N216", "00QDBXDXLLF3W3JJJO36",
    "00TR8NKAEL48RGTZEW89", "00TV1D5YIV5IDUGWBW29", "00W0SLGGVF0QQ5Q36N03",
    "00X5RQKJQQJFFX0WPA53", "1595D0QCK7Y15293JK84", "213800FERQ5LE3H7WJ58",
    "213800BJPX8V9HVY1Y11",
}  # fmt: skip
RR_DATA_MISSING = (  # the LEIs rr-data needs that no entity file holds, sorted
    "00X8DSV26QKJPKUT5B34", "010CMKZ3VON21WF2ZD45", "010G7UHBHEI87EKP0Q97",
    "3C7474T6CDKPR9K6YT90", "5493001Z012YSB2A0K51", "54930037R1JTV3ZYFY28",
    "549300FF2KD1XH54I851", "549300GC5MDF1KXYMP06", "549300S84WGKQCATYO76",
    "7HTL8AEQSEDX602FBU63", "C7J4FOV6ELAVE39B7M82", "YVC19L6NOWRA51XIKW06",
    "ZZG38T0MDR3QY1ETUA76",
)  # fmt: skip
MONOOVA_FX = "98450051BS9C610A8T78"
MONOOVA_GLOBAL = "2138002YAB7Z9KO21397"
MONEYTECH = "984500501A1B1045PB30"
VUB_GENERALI = "097900BHF50000076475"
VUB = "549300JB1P61FUTPEZ75"


# -- stores --------------------------------------------------------------------------


def _sql_store(tmp_path: Path) -> Store:
    from finance_crm.adapters.sql import SqlStore

    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'crm.db'}", clock=FixedClock(NOW))
    store.upgrade_schema()
    return store


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield InMemoryStore(clock=FixedClock(NOW))
        return
    sql = _sql_store(tmp_path)
    yield sql
    sql.close()  # type: ignore[attr-defined]


def run(store: Store, **kwargs: Any) -> GleifImportReport:
    with store.unit_of_work(ACTOR) as uow:
        report = import_gleif(uow, **kwargs)
        uow.commit()
    return report


def graph(store: Store) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """The parties (LEI, name, country, number) and relationships (type, parent LEI,
    child LEI, dates, reference) as plain values, to compare two stores."""
    with store.unit_of_work(ACTOR, read_only=True) as uow:
        leis = LEI_DATA_LEIS | all_leis(LEI_UPDATES) | set(RR_DATA_MISSING)
        ids = uow.parties.ids_by_lei(leis)
        parties = uow.parties.get_many(list(ids.values()))
        by_id = {p.id: p for p in parties.values()}
        rows = {(p.lei, p.name, p.country, p.registration_number) for p in parties.values()}
        links = set()
        for party_id in by_id:
            for r in uow.relationships.of_party(party_id, direction=Direction.UP):
                links.add(
                    (
                        r.type.code,
                        by_id[r.source].lei,
                        by_id[r.target].lei,
                        r.valid_from,
                        r.valid_to,
                        r.reference,
                    )
                )
        assert len(rows) == uow.parties.count()
        assert len(links) == uow.relationships.count()
    return rows, links


# -- editing the real files ----------------------------------------------------------


def all_leis(path: Path) -> set[str]:
    return {e.text or "" for e in ElementTree.parse(path).getroot().iter(f"{{{LEI_NS}}}LEI")}


def edited(path: Path, out: Path, edit: Callable[[ElementTree.Element], None]) -> Path:
    """``path`` with its records (the children of ``LEIRecords`` or
    ``RelationshipRecords``) edited in place by ``edit``, written to ``out``."""
    tree = ElementTree.parse(path)
    edit(list(tree.getroot())[-1])
    tree.write(out, encoding="UTF-8", xml_declaration=True)
    return out


def rr(element: ElementTree.Element, path: str) -> ElementTree.Element:
    found = element.find("/".join(f"rr:{p}" for p in path.split("/")), {"rr": RR_NS})
    assert found is not None, path
    return found


def record_of(records: ElementTree.Element, start: str, gleif_type: str) -> Any:
    return next(
        r
        for r in records
        if rr(r, "Relationship/StartNode/NodeID").text == start
        and rr(r, "Relationship/RelationshipType").text == gleif_type
    )


def golden_json(path: Path) -> bytes:
    """An XML excerpt as GLEIF's JSON golden copy writes it: ``{"records": [...]}``,
    text as ``{"$": ...}``, repeated elements as lists under their container."""

    def plain(element: ElementTree.Element) -> Any:
        if len(element) == 0:
            return {"$": element.text or ""}
        out: dict[str, Any] = {}
        for child in element:
            key = child.tag.rpartition("}")[2]
            value = plain(child)
            if key in out:
                out[key] = [*out[key], value] if isinstance(out[key], list) else [out[key], value]
            elif key in ("RelationshipPeriod", "OtherEntityName"):
                out[key] = [value]
            else:
                out[key] = value
        return out

    root = ElementTree.parse(path).getroot()
    header = {"ContentDate": {"$": "2023-06-05T08:20:51Z"}, "RecordCount": 42}
    records = [plain(r) for r in list(root)[-1]]
    return json.dumps({"header": header, "records": records, "footer": None}).encode()


# -- the excerpts --------------------------------------------------------------------


def test_first_import_of_the_excerpts(store: Store) -> None:
    report = run(store, entities=LEI, relationships=RR, exceptions=REPEX)

    assert (report.entities_read, report.entities_added, report.entities_rejected) == (13, 13, 0)
    assert report.relationships_read == 10
    assert report.relationships_added_total == 0
    assert dict(report.relationships_skipped) == {GleifSkipReason.UNRESOLVED: 10}
    assert report.unresolved_leis == RR_DATA_MISSING
    first = report.skipped_relationships[0]
    assert (first.start, first.gleif_type, first.end) == (
        "001GPB6A9XPE8XJICC14",
        "IS_FUND-MANAGED_BY",
        "5493001Z012YSB2A0K51",
    )
    assert first.missing == ("5493001Z012YSB2A0K51",)
    assert "EndNode 5493001Z012YSB2A0K51" in first.detail
    assert (first.file, first.record) == ("rr-data.xml", 1)
    # 00X8DSV26QKJPKUT5B34 (a sub-fund) is in neither entity file: both ends missing.
    both = report.skipped_relationships[6]
    assert both.missing == ("00X8DSV26QKJPKUT5B34", "549300S84WGKQCATYO76")

    assert report.exceptions_read == 10
    assert dict(report.exceptions_by_reason) == {
        "NON_CONSOLIDATING": 6,
        "NO_KNOWN_PERSON": 3,
        "NON_PUBLIC": 1,
    }
    assert [(e.lei, e.category, e.reasons) for e in report.exceptions[:2]] == [
        ("001GPB6A9XPE8XJICC14", "DIRECT_ACCOUNTING_CONSOLIDATION_PARENT", ("NO_KNOWN_PERSON",)),
        ("004L5FPTUREIWK9T2N63", "DIRECT_ACCOUNTING_CONSOLIDATION_PARENT", ("NON_CONSOLIDATING",)),
    ]
    in_graph = {e.lei for e in report.exceptions if e.party_id is not None}
    assert len(in_graph) == 7 and in_graph <= LEI_DATA_LEIS

    with store.unit_of_work(ACTOR, read_only=True) as uow:
        assert uow.parties.count() == 13
        assert uow.relationships.count() == 0
        fund = uow.parties.find_by_lei("001GPB6A9XPE8XJICC14")
        assert fund is not None
        assert (fund.name, fund.country, fund.registration_number) == (
            "Fidelity Advisor Leveraged Company Stock Fund",
            "US",
            "S000005113",
        )
        no_number = uow.parties.find_by_lei("00EHHQ2ZHDCFXJCPCL46")
        assert no_number is not None and no_number.registration_number is None
        slovak = uow.parties.find_by_lei("213800BJPX8V9HVY1Y11")
        assert slovak is not None and slovak.country == "SE"


def test_updates_add_the_delta_and_resolve_the_groups(store: Store) -> None:
    run(store, entities=LEI, relationships=RR)
    report = run(store, entities=LEI_UPDATES, relationships=RR_UPDATES)

    assert report.entities_read == 12
    assert (report.entities_added, report.entities_unchanged, report.entities_revised) == (
        11,
        1,
        0,
    )
    assert dict(report.relationships_added) == {
        "fund_manager": 4,
        "direct_parent": 4,
        "ultimate_parent": 3,
    }
    assert report.relationships_read == 11
    assert not report.relationships_skipped and not report.skipped_relationships

    with store.unit_of_work(ACTOR, read_only=True) as uow:
        assert uow.parties.count() == 24
        assert uow.relationships.count() == 11
        ids = uow.parties.ids_by_lei([MONOOVA_FX, MONOOVA_GLOBAL, MONEYTECH, VUB_GENERALI, VUB])
        # StartNode (child) -> EndNode (parent) is stored parent -> child.
        up = uow.relationships.of_party(ids[MONOOVA_FX], direction=Direction.UP)
        assert {(r.type.code, r.source, r.valid_from, r.valid_to) for r in up} == {
            ("direct_parent", ids[MONOOVA_GLOBAL], datetime.date(2018, 6, 30), None),
            ("ultimate_parent", ids[MONEYTECH], datetime.date(2018, 6, 30), None),
        }
        assert {r.reference for r in up} == {
            gleif_reference(MONOOVA_FX, "IS_DIRECTLY_CONSOLIDATED_BY", MONOOVA_GLOBAL),
            gleif_reference(MONOOVA_FX, "IS_ULTIMATELY_CONSOLIDATED_BY", MONEYTECH),
        }
        chain = uow.relationships.reach(
            ids[MONOOVA_FX],
            at=TODAY,
            types=STANDARD_RELATIONSHIP_TYPES.tree_links,
            direction=Direction.UP,
            max_hops=10,
        )
        assert [(r.party_id, r.hops, r.top) for r in chain] == [
            (ids[MONOOVA_FX], 0, False),
            (ids[MONOOVA_GLOBAL], 1, False),
            (ids[MONEYTECH], 2, True),
        ]
        # The RELATIONSHIP_PERIOD's StartDate, date part as written (+01:00 offset).
        funds = uow.relationships.of_party(
            ids[VUB_GENERALI], types={"fund_manager"}, direction=Direction.DOWN
        )
        assert sorted(r.valid_from.isoformat() for r in funds) == [
            "2005-03-22",
            "2005-03-22",
            "2005-03-23",
            "2012-04-02",
        ]
        parent = uow.relationships.of_party(ids[VUB_GENERALI], direction=Direction.UP)
        assert [(r.source, r.valid_from) for r in parent] == [
            (ids[VUB], datetime.date(2022, 10, 24))
        ]


def test_reimport_is_idempotent(store: Store) -> None:
    everything = {"entities": LEI, "relationships": RR, "exceptions": REPEX}
    run(store, **everything)
    run(store, entities=LEI_UPDATES, relationships=RR_UPDATES)
    before = graph(store)

    again = run(store, **everything)
    assert (again.entities_added, again.entities_unchanged) == (0, 13)
    assert again.relationships_skipped == {GleifSkipReason.UNRESOLVED: 10}
    delta = run(store, entities=LEI_UPDATES, relationships=RR_UPDATES)
    assert (delta.entities_added, delta.entities_revised, delta.entities_unchanged) == (0, 0, 12)
    assert (delta.relationships_added_total, delta.relationships_already_held) == (0, 11)
    assert delta.relationships_ended == 0
    assert graph(store) == before
    with store.unit_of_work(ACTOR, read_only=True) as uow:
        assert (uow.parties.count(), uow.relationships.count()) == (24, 11)


def test_json_and_xml_give_the_same_graph(tmp_path: Path) -> None:
    from_xml, from_json = InMemoryStore(clock=FixedClock(NOW)), InMemoryStore(clock=FixedClock(NOW))
    xml_report = run(from_xml, entities=LEI, relationships=RR)
    json_report = run(from_json, entities=LEI_JSON, relationships=RR_JSON)
    assert graph(from_xml) == graph(from_json)
    assert [
        (s.record, s.start, s.end, s.gleif_type, s.missing)
        for s in xml_report.skipped_relationships
    ] == [
        (s.record, s.start, s.end, s.gleif_type, s.missing)
        for s in json_report.skipped_relationships
    ]
    # The delta has no JSON excerpt: write it as the JSON golden copy ({"records": ...}).
    (tmp_path / "lei.json").write_bytes(golden_json(LEI_UPDATES))
    (tmp_path / "rr.json").write_bytes(golden_json(RR_UPDATES))
    run(from_xml, entities=LEI_UPDATES, relationships=RR_UPDATES)
    delta = run(from_json, entities=tmp_path / "lei.json", relationships=tmp_path / "rr.json")
    assert delta.relationships_added_total == 11
    assert graph(from_xml) == graph(from_json)


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_json_is_read_in_chunks_of_any_size(
    chunk: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_gleif_files, "_CHUNK", chunk)
    whole, pieces = InMemoryStore(clock=FixedClock(NOW)), InMemoryStore(clock=FixedClock(NOW))
    run(whole, entities=LEI_UPDATES, relationships=RR_UPDATES)
    (tmp_path / "lei.json").write_bytes(golden_json(LEI_UPDATES))
    (tmp_path / "rr.json").write_bytes(b"\n \n" + golden_json(RR_UPDATES) + b"\n")
    run(pieces, entities=tmp_path / "lei.json", relationships=tmp_path / "rr.json")
    assert graph(whole) == graph(pieces)


def test_file_objects_text_and_zip(tmp_path: Path) -> None:
    expected = graph_after(entities=LEI_UPDATES, relationships=RR_UPDATES)
    text = io.StringIO(LEI_UPDATES.read_text(encoding="utf-8"))
    with RR_UPDATES.open("rb") as binary:
        assert graph_after(entities=text, relationships=binary) == expected
        assert not binary.closed  # the caller's file stays open
    archive = tmp_path / "20230605-0800-gleif-goldencopy-rr-golden-copy.xml.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(RR_UPDATES, "rr.xml")
    json_text = io.StringIO("\ufeff" + golden_json(LEI_UPDATES).decode())
    assert graph_after(entities=json_text, relationships=archive) == expected


def graph_after(**kwargs: Any) -> Any:
    store = InMemoryStore(clock=FixedClock(NOW))
    run(store, **kwargs)
    return graph(store)


# -- deltas --------------------------------------------------------------------------


def test_a_changed_name_revises_the_party(store: Store, tmp_path: Path) -> None:
    run(store, entities=LEI)

    def rename(records: ElementTree.Element) -> None:
        name = records[0].find(f"{{{LEI_NS}}}Entity/{{{LEI_NS}}}LegalName")
        country = records[1].find(
            f"{{{LEI_NS}}}Entity/{{{LEI_NS}}}LegalAddress/{{{LEI_NS}}}Country"
        )
        assert name is not None and country is not None
        name.text = "Fidelity Advisor Leveraged Company Stock Fund II"
        country.text = "GB"

    report = run(store, entities=edited(LEI, tmp_path / "lei.xml", rename))
    assert (report.entities_revised, report.entities_unchanged) == (2, 11)
    with store.unit_of_work(ACTOR, read_only=True) as uow:
        fund = uow.parties.find_by_lei("001GPB6A9XPE8XJICC14")
        assert fund is not None and fund.name.endswith("Fund II") and fund.version == 2
        moved = uow.parties.find_by_lei("004L5FPTUREIWK9T2N63")
        assert moved is not None and moved.country == "GB"
        assert moved.registration_number == "4386463"


def test_an_end_date_in_a_delta_ends_the_held_relationship(store: Store, tmp_path: Path) -> None:
    run(store, entities=LEI_UPDATES, relationships=RR_UPDATES)

    def end(records: ElementTree.Element) -> None:
        record = record_of(records, MONOOVA_FX, "IS_DIRECTLY_CONSOLIDATED_BY")
        periods = rr(record, "Relationship/RelationshipPeriods")
        own = next(p for p in periods if rr(p, "PeriodType").text == "RELATIONSHIP_PERIOD")
        ended = ElementTree.SubElement(own, f"{{{RR_NS}}}EndDate")
        ended.text = "2024-01-31T00:00:00+00:00"
        # and the other MONOOVA link went INACTIVE without an end date
        other = record_of(records, MONOOVA_GLOBAL, "IS_DIRECTLY_CONSOLIDATED_BY")
        rr(other, "Relationship/RelationshipStatus").text = "INACTIVE"

    report = run(store, relationships=edited(RR_UPDATES, tmp_path / "rr.xml", end))
    assert (report.relationships_ended, report.relationships_already_held) == (2, 9)
    assert report.ended_at_last_update == 1
    with store.unit_of_work(ACTOR, read_only=True) as uow:
        ids = uow.parties.ids_by_lei([MONOOVA_FX, MONOOVA_GLOBAL])
        direct = uow.relationships.of_party(
            ids[MONOOVA_FX], types={"direct_parent"}, direction=Direction.UP
        )
        assert [r.valid_to for r in direct] == [datetime.date(2024, 1, 31)]
        global_parent = uow.relationships.of_party(
            ids[MONOOVA_GLOBAL], types={"direct_parent"}, direction=Direction.UP
        )
        assert [r.valid_to for r in global_parent] == [datetime.date(2023, 1, 11)]  # LastUpdate
    again = run(store, relationships=tmp_path / "rr.xml")
    assert (again.relationships_ended, again.relationships_already_held) == (0, 11)
    # The registry cannot reopen what the graph holds as ended.
    reopened = run(store, relationships=RR_UPDATES)
    assert reopened.relationships_skipped == {GleifSkipReason.REFUSED: 2}
    assert "only moves earlier" in reopened.skipped(GleifSkipReason.REFUSED)[0].detail


def test_a_record_repeated_in_one_file_is_compared_with_the_first(
    store: Store, tmp_path: Path
) -> None:
    def repeat(records: ElementTree.Element) -> None:
        again = copy.deepcopy(record_of(records, MONOOVA_FX, "IS_DIRECTLY_CONSOLIDATED_BY"))
        periods = rr(again, "Relationship/RelationshipPeriods")
        own = next(p for p in periods if rr(p, "PeriodType").text == "RELATIONSHIP_PERIOD")
        ElementTree.SubElement(own, f"{{{RR_NS}}}EndDate").text = "2024-01-31T00:00:00Z"
        records.append(again)
        records.append(copy.deepcopy(again))

    changed = edited(RR_UPDATES, tmp_path / "rr.xml", repeat)
    report = run(store, entities=LEI_UPDATES, relationships=changed, batch_size=50)
    assert report.relationships_added_total == 11
    assert (report.relationships_ended, report.relationships_already_held) == (1, 1)


def test_an_actor_who_may_not_change_the_graph_is_refused(store: Store) -> None:
    with store.unit_of_work(Actor("visitor-1")) as uow, pytest.raises(PermissionDenied):
        import_gleif(uow, entities=LEI)


def test_inactive_from_the_start_is_recorded_ended(store: Store, tmp_path: Path) -> None:
    def inactive(records: ElementTree.Element) -> None:
        record = record_of(records, MONOOVA_FX, "IS_DIRECTLY_CONSOLIDATED_BY")
        rr(record, "Relationship/RelationshipStatus").text = "INACTIVE"

    report = run(
        store,
        entities=LEI_UPDATES,
        relationships=edited(RR_UPDATES, tmp_path / "rr.xml", inactive),
    )
    assert report.ended_at_last_update == 1 and report.relationships_added_total == 11
    with store.unit_of_work(ACTOR, read_only=True) as uow:
        child = uow.parties.ids_by_lei([MONOOVA_FX])[MONOOVA_FX]
        direct = uow.relationships.of_party(child, types={"direct_parent"}, direction=Direction.UP)
        assert [(r.valid_from, r.valid_to) for r in direct] == [
            (datetime.date(2018, 6, 30), datetime.date(2023, 3, 30))
        ]


# -- records that cannot be stored ---------------------------------------------------


def test_types_nodes_withdrawn_and_dates_are_reported(store: Store, tmp_path: Path) -> None:
    def spoil(records: ElementTree.Element) -> None:
        rr(records[0], "Relationship/RelationshipType").text = "IS_INTERNATIONAL_BRANCH_OF"
        rr(records[1], "Relationship/EndNode/NodeIDType").text = "NATURAL_PERSON"
        rr(records[1], "Relationship/EndNode/NodeID").text = "ZHANG SAN 110101199003071234"
        rr(records[2], "Registration/RegistrationStatus").text = "ANNULLED"
        for period in rr(records[3], "Relationship/RelationshipPeriods"):
            rr(period, "StartDate").text = "2030-13-45"
        periods = rr(records[4], "Relationship/RelationshipPeriods")
        for period in list(periods):
            periods.remove(period)  # no period at all: InitialRegistrationDate is used

    report = run(
        store, entities=LEI_UPDATES, relationships=edited(RR_UPDATES, tmp_path / "rr.xml", spoil)
    )
    assert dict(report.relationships_skipped) == {
        GleifSkipReason.UNSUPPORTED_TYPE: 1,
        GleifSkipReason.NOT_AN_LEI: 1,
        GleifSkipReason.WITHDRAWN: 1,
        GleifSkipReason.INVALID: 1,
    }
    assert dict(report.unsupported_types) == {"IS_INTERNATIONAL_BRANCH_OF": 1}
    assert report.relationships_added_total == 7
    person = report.skipped(GleifSkipReason.NOT_AN_LEI)[0]
    assert person.end is None and "NATURAL_PERSON" in person.detail
    assert "ZHANG" not in str(report) and "1234" not in str(report)  # never echoed
    invalid = report.skipped(GleifSkipReason.INVALID)[0]
    assert "StartDate" in invalid.detail and "2030" not in invalid.detail
    with store.unit_of_work(ACTOR, read_only=True) as uow:
        child = uow.parties.ids_by_lei([VUB_GENERALI])[VUB_GENERALI]
        parent = uow.relationships.of_party(child, direction=Direction.UP)
        assert [r.valid_from for r in parent] == [datetime.date(2023, 5, 22)]  # registered


def test_a_cycle_is_refused_and_the_rest_of_the_batch_lands(store: Store, tmp_path: Path) -> None:
    def cycle(records: ElementTree.Element) -> None:
        # MONEYTECH "is directly consolidated by" its own grandchild MONOOVA FX.
        bad = copy.deepcopy(record_of(records, MONOOVA_FX, "IS_DIRECTLY_CONSOLIDATED_BY"))
        rr(bad, "Relationship/StartNode/NodeID").text = MONEYTECH
        rr(bad, "Relationship/EndNode/NodeID").text = MONOOVA_FX
        records.append(bad)

    edited(RR_UPDATES, tmp_path / "rr.xml", cycle)
    report = run(store, entities=LEI_UPDATES, relationships=tmp_path / "rr.xml", batch_size=100)
    assert report.relationships_read == 12
    assert report.relationships_added_total == 11
    refused = report.skipped(GleifSkipReason.REFUSED)
    assert [(s.start, s.end, s.record) for s in refused] == [(MONEYTECH, MONOOVA_FX, 12)]
    assert "cycle" in refused[0].detail
    with store.unit_of_work(ACTOR, read_only=True) as uow:
        assert uow.relationships.count() == 11


def test_entities_the_model_refuses_are_reported_without_their_values(
    store: Store, tmp_path: Path
) -> None:
    def spoil(records: ElementTree.Element) -> None:
        entity = f"{{{LEI_NS}}}Entity"
        country = records[0].find(f"{entity}/{{{LEI_NS}}}LegalAddress/{{{LEI_NS}}}Country")
        assert country is not None
        country.text = "Utopia"
        name = records[1].find(f"{entity}/{{{LEI_NS}}}LegalName")
        assert name is not None
        name.text = "X" * 201
        lei = records[2].find(f"{{{LEI_NS}}}LEI")
        assert lei is not None
        lei.text = "NOT-AN-LEI-12345"
        number = records[3].find(
            f"{entity}/{{{LEI_NS}}}RegistrationAuthority/{{{LEI_NS}}}RegistrationAuthorityEntityID"
        )
        assert number is not None
        number.text = "9" * 41

    report = run(store, entities=edited(LEI, tmp_path / "lei.xml", spoil))
    assert (report.entities_added, report.entities_rejected) == (9, 4)
    assert [(e.record, e.lei, e.field) for e in report.rejected_entities] == [
        (1, "001GPB6A9XPE8XJICC14", "Entity.LegalAddress.Country"),
        (2, "004L5FPTUREIWK9T2N63", "Entity.LegalName"),
        (3, None, "LEI"),
        (4, "00GBW0Z2GYIER7DHDS71", "Entity.RegistrationAuthority.RegistrationAuthorityEntityID"),
    ]
    text = " ".join(str(e) for e in report.rejected_entities)
    assert "Utopia" not in text and "XXX" not in text and "NOT-AN-LEI" not in text
    assert "99999" not in text


# -- malformed files -----------------------------------------------------------------


def test_a_truncated_xml_file_raises_and_undoes_the_call(store: Store, tmp_path: Path) -> None:
    cut = tmp_path / "lei-cut.xml"
    cut.write_bytes(LEI.read_bytes()[:30_000])
    with store.unit_of_work(ACTOR) as uow:
        with pytest.raises(ValidationError) as caught:
            import_gleif(uow, entities=cut)
        assert uow.parties.count() == 0  # the records before the cut are undone too
    message = str(caught.value)
    assert "lei-cut.xml" in message and "line " in message and "truncated" in message
    assert caught.value.problems[0].path == "$.entities"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"LEI,LegalName\n", "neither XML nor JSON"),
        (b'[{"LEI": "001GPB6A9XPE8XJICC14"', "line 1, column 32 (record 1: Expecting ','"),
        (b'[{"LEI": "001GPB6A9XPE8', "column 10 (record 1: Unterminated string"),
        (b'\n\n[{"LEI": {"a": [1, 2', "line 3, column 21"),
        (b'[{"LEI": "001GPB6A9XPE8XJICC14"} {"LEI": 1}]', "',' or ']' after record 1"),
        (b'{"records": 3}', "no array"),
        (b'[{"Relationship": {}}]', "is this the right file"),
        (b'[{"LEI": "x"}] trailing', "unexpected data"),
        (b'[{"LEI": "caf\xc3"}]', "not UTF-8"),
        (
            b'<?xml version="1.0"?><rr:RelationshipData xmlns:rr="http://www.gleif.org/data/'
            b'schema/rr/2016"/>',
            "found RelationshipData",
        ),
        (b"<LEIData><LEIRecords><LEIRecord>", "found LEIData"),
    ],
)
def test_malformed_files_name_the_file_and_position(content: bytes, expected: str) -> None:
    store = InMemoryStore(clock=FixedClock(NOW))
    source = io.BytesIO(content)
    source.name = "/feeds/lei-20230605.json"
    with store.unit_of_work(ACTOR) as uow, pytest.raises(ValidationError) as caught:
        import_gleif(uow, entities=source)
    message = str(caught.value)
    assert expected in message
    assert message.startswith("$.entities: lei-20230605.json:")
    assert ("truncated" in message) == (content.count(b"[") > content.count(b"]"))


@pytest.mark.parametrize("chunk", [3, 65536])
def test_a_malformed_json_record_in_the_middle_names_its_line(
    chunk: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_gleif_files, "_CHUNK", chunk)
    text = LEI_JSON.read_text(encoding="utf-8")
    records = json.loads(text)
    lines = [json.dumps(r) for r in records]
    lines[5] = lines[5].replace('"Entity": {', '"Entity" {', 1)
    broken = tmp_path / "lei.json"
    broken.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    store = InMemoryStore(clock=FixedClock(NOW))
    with store.unit_of_work(ACTOR) as uow, pytest.raises(ValidationError) as caught:
        import_gleif(uow, entities=broken)
    assert "lei.json: is not well-formed JSON at line 7, column 42" in str(caught.value)
    assert "record 6" in str(caught.value)


def test_an_unknown_file_path_is_a_validation_error(tmp_path: Path) -> None:
    store = InMemoryStore(clock=FixedClock(NOW))
    with store.unit_of_work(ACTOR) as uow, pytest.raises(ValidationError, match="cannot be read"):
        import_gleif(uow, exceptions=tmp_path / "missing.xml")


# -- arguments -----------------------------------------------------------------------


def test_types_can_be_renamed_or_left_out(store: Store) -> None:
    consolidation = {"IS_DIRECTLY_CONSOLIDATED_BY": "direct_parent"}
    report = run(store, entities=LEI_UPDATES, relationships=RR_UPDATES, types=consolidation)
    assert dict(report.relationships_added) == {"direct_parent": 4}
    assert dict(report.unsupported_types) == {
        "IS_FUND-MANAGED_BY": 4,
        "IS_ULTIMATELY_CONSOLIDATED_BY": 3,
    }
    with store.unit_of_work(ACTOR) as uow, pytest.raises(ValidationError) as caught:
        import_gleif(uow, relationships=RR_UPDATES, types={"IS_FEEDER_TO": "feeder"})
    assert caught.value.problems[0].path.startswith("$.types['IS_FEEDER_TO']")


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [({"batch_size": 0}, "$.batch_size"), ({"max_listed": -1}, "$.max_listed")],
)
def test_bad_arguments(kwargs: dict[str, Any], path: str) -> None:
    store = InMemoryStore(clock=FixedClock(NOW))
    with store.unit_of_work(ACTOR) as uow, pytest.raises(ValidationError) as caught:
        import_gleif(uow, entities=LEI, **kwargs)
    assert caught.value.problems[0].path == path


def test_lists_are_capped_and_counts_are_not(store: Store) -> None:
    report = run(
        store, entities=LEI, relationships=RR, exceptions=REPEX, max_listed=3, batch_size=2
    )
    assert len(report.skipped_relationships) == 3 and len(report.exceptions) == 3
    assert report.not_listed == 7 + 7
    assert report.relationships_skipped[GleifSkipReason.UNRESOLVED] == 10
    assert sum(report.exceptions_by_reason.values()) == 10
    assert "relationships: read 10, added 0 (none)" in report.summary()


def test_small_batches_give_the_same_graph(tmp_path: Path) -> None:
    expected = graph_after(entities=LEI_UPDATES, relationships=RR_UPDATES)
    assert graph_after(entities=LEI_UPDATES, relationships=RR_UPDATES, batch_size=1) == expected
    assert graph_after(entities=LEI_UPDATES, relationships=RR_UPDATES, batch_size=3) == expected


def test_the_module_example_runs() -> None:
    result = doctest.testmod(gleif_import, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
