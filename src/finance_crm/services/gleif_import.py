"""Import GLEIF registry files into the group-relationship graph (集团关系).

GLEIF publishes every legal entity with an LEI (LEI-CDF 3.1 *level 1* records), who
consolidates whom and which funds are managed by whom (RR-CDF 1.1 *level 2*
relationship records), and why an entity reports no parent (*reporting exceptions*).
:func:`import_gleif` reads those files, in XML or JSON, and writes parties and
relationships in batches inside the caller's unit of work (the caller commits):

* an **entity** becomes ``Party.organization(LegalName, lei=LEI,
  country=LegalAddress/Country, registration_number=RegistrationAuthorityEntityID)``;
  an LEI already in the graph is revised (name, country, and the registration number
  when GLEIF gives one: a bank's own number is never erased) or counted unchanged;
* a **relationship** record runs from its StartNode (the child) to its EndNode (the
  parent); it is stored the other way round, parent → child, as the store's type
  :data:`GLEIF_RELATIONSHIP_TYPES` maps it to, with ``reference`` =
  :func:`gleif_reference` so that a re-import recognises what the graph already holds;
* a **reporting exception** is listed in the report with the party it concerns.

Entities are imported first, then relationships (whose ends may be in the same call or
already stored), then exceptions. Re-importing the same files changes nothing; a later
delta file revises entities and ends relationships whose end date it gives.

Dates. ``valid_from`` is the date part (as written, in the record's own offset) of
the RELATIONSHIP_PERIOD's StartDate (with several, the latest); without one, the
earliest StartDate of the other periods (ACCOUNTING_PERIOD, DOCUMENT_FILING_PERIOD:
the link held at least then); without any, the record's InitialRegistrationDate.
``valid_to`` is the RELATIONSHIP_PERIOD's EndDate (the first day it no longer holds).
A record whose RelationshipStatus is INACTIVE but which gives no end date is ended at
its LastUpdateDate (the latest day by which it had ended; counted in
``ended_at_last_update`` so that it can be checked). Records the registry withdrew
(RegistrationStatus ANNULLED or DUPLICATE) are not imported.

Nothing about a record is raised: data the model refuses, endpoints that are neither
imported nor stored, node types other than LEI, unsupported relationship types and
relationships the graph rules refuse (a consolidation cycle) are counted and listed
in the :class:`GleifImportReport` (LEIs and GLEIF paths, never other values). A file
that is not well-formed (truncated, not XML or JSON, the wrong kind of GLEIF file)
raises :class:`~finance_crm.errors.ValidationError` naming the file and position, and
undoes everything the call wrote.

Files stream: XML with ``iterparse`` (each record dropped once read), JSON record by
record with ``raw_decode`` (a top-level array, or the array inside GLEIF's
``{"records": [...]}``); the format is told by the first non-blank character. A path,
a binary or text file object, or a ``.zip`` holding one file are accepted.

>>> import io
>>> from finance_crm.adapters.memory import InMemoryStore
>>> from finance_crm.security import Actor
>>> lei = b'''[{"LEI": "5493001KJTIIGC8Y1R12", "Entity": {"LegalName": "Parent AG",
...     "LegalAddress": {"Country": "DE"}}}, {"LEI": "529900T8BM49AURSDO55",
...     "Entity": {"LegalName": "Child GmbH", "LegalAddress": {"Country": "DE"}}}]'''
>>> rr = b'''[{"Relationship": {
...     "StartNode": {"NodeID": "529900T8BM49AURSDO55", "NodeIDType": "LEI"},
...     "EndNode": {"NodeID": "5493001KJTIIGC8Y1R12", "NodeIDType": "LEI"},
...     "RelationshipType": "IS_DIRECTLY_CONSOLIDATED_BY",
...     "RelationshipPeriods": [{"StartDate": "2019-01-01T00:00:00Z",
...                              "PeriodType": "RELATIONSHIP_PERIOD"}],
...     "RelationshipStatus": "ACTIVE"}}]'''
>>> store = InMemoryStore()
>>> with store.unit_of_work(Actor("ho-data-1", roles={"head_office"})) as uow:
...     report = import_gleif(uow, entities=io.BytesIO(lei), relationships=io.BytesIO(rr))
...     uow.commit()
>>> report.entities_added, dict(report.relationships_added)
(2, {'direct_parent': 1})
"""

from __future__ import annotations

import collections
import datetime
import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from finance_crm.errors import BusinessRuleViolation, NotFoundError, ValidationError
from finance_crm.ids import PartyId
from finance_crm.model.relationships import Direction, Party, Relationship, RelationshipType
from finance_crm.ports import UnitOfWork
from finance_crm.services._gleif_files import (
    ENTITIES,
    EXCEPTIONS,
    RELATIONSHIPS,
    GleifSource,
    day,
    get,
    items,
    records,
    text,
)

__all__ = [
    "GLEIF_RELATIONSHIP_TYPES",
    "GleifImportReport",
    "GleifSkipReason",
    "GleifSource",
    "RejectedEntity",
    "ReportingException",
    "SkippedRelationship",
    "gleif_reference",
    "import_gleif",
]

GLEIF_RELATIONSHIP_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "IS_DIRECTLY_CONSOLIDATED_BY": "direct_parent",
        "IS_ULTIMATELY_CONSOLIDATED_BY": "ultimate_parent",
        "IS_FUND-MANAGED_BY": "fund_manager",
        "IS_SUBFUND_OF": "umbrella_fund",
        "IS_FEEDER_TO": "master_fund",
    }
)
"""GLEIF RelationshipType → the store's relationship type code (pass your own mapping
as ``types=`` to rename or leave out types; records of other types are reported)."""


_WITHDRAWN = frozenset({"ANNULLED", "DUPLICATE"})


def gleif_reference(start_lei: str, gleif_type: str, end_lei: str) -> str:
    """The ``reference`` of a relationship imported from GLEIF, e.g.
    ``"GLEIF RR 529900T8BM49AURSDO55 IS_DIRECTLY_CONSOLIDATED_BY 5493001KJTIIGC8Y1R12"``
    (child, GLEIF type, parent: it reads as the registry's sentence)."""
    return f"GLEIF RR {start_lei} {gleif_type} {end_lei}"


# -- the report ----------------------------------------------------------------------


class GleifSkipReason(enum.Enum):
    """Why a relationship record was not stored."""

    UNRESOLVED = "unresolved"  # an end's LEI is neither in the import nor stored
    NOT_AN_LEI = "not_an_lei"  # an end is identified by something other than an LEI
    UNSUPPORTED_TYPE = "unsupported_type"  # a RelationshipType not in ``types``
    WITHDRAWN = "withdrawn"  # the registry annulled the record or marked it a duplicate
    INVALID = "invalid"  # dates missing or reversed, an end missing
    REFUSED = "refused"  # the graph rules refused it (a cycle), or it contradicts the graph


@attrs.frozen
class RejectedEntity:
    """An entity record the model refused: where (``file``, 1-based ``record``, the
    GLEIF ``field``) and why. ``lei`` is None when the LEI itself is unusable."""

    file: str
    record: int
    lei: str | None
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file} record {self.record} ({self.lei or 'no LEI'}), {self.field}: " + (
            self.problem
        )


@attrs.frozen
class SkippedRelationship:
    """A relationship record not stored. ``start`` (child) and ``end`` (parent) are
    LEIs, None for an end that is missing or not an LEI; ``missing`` lists the LEIs an
    UNRESOLVED record needs."""

    file: str
    record: int
    gleif_type: str | None
    start: str | None
    end: str | None
    reason: GleifSkipReason
    detail: str
    missing: tuple[str, ...] = ()

    def __str__(self) -> str:
        link = f"{self.start or '?'} {self.gleif_type or '?'} {self.end or '?'}"
        return f"{self.file} record {self.record} ({link}), {self.reason.value}: {self.detail}"


@attrs.frozen
class ReportingException:
    """Why an entity reports no parent of a kind: ``category`` such as
    DIRECT_ACCOUNTING_CONSOLIDATION_PARENT, ``reasons`` such as NO_KNOWN_PERSON or
    NON_CONSOLIDATING; ``party_id`` is the entity's party if it is in the graph."""

    lei: str
    category: str
    reasons: tuple[str, ...]
    party_id: PartyId | None


def _frozen_counts(value: Mapping[Any, int]) -> Mapping[Any, int]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class GleifImportReport:
    """What :func:`import_gleif` did. Counts are complete; each list holds at most
    ``max_listed`` entries (``not_listed`` counts the rest)."""

    entities_read: int = 0
    entities_added: int = 0
    entities_revised: int = 0
    entities_unchanged: int = 0
    entities_withdrawn: int = 0
    entities_rejected: int = 0
    rejected_entities: tuple[RejectedEntity, ...] = ()
    relationships_read: int = 0
    relationships_added: Mapping[str, int] = attrs.field(
        factory=dict, converter=_frozen_counts
    )  # by the store's type code
    relationships_ended: int = 0  # held ones whose end date the registry now gives
    relationships_already_held: int = 0
    ended_at_last_update: int = 0  # INACTIVE without an end date (added or ended)
    relationships_skipped: Mapping[GleifSkipReason, int] = attrs.field(
        factory=dict, converter=_frozen_counts
    )
    unsupported_types: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen_counts)
    skipped_relationships: tuple[SkippedRelationship, ...] = ()
    exceptions_read: int = 0
    exceptions_by_reason: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen_counts)
    exceptions: tuple[ReportingException, ...] = ()
    not_listed: int = 0

    @property
    def relationships_added_total(self) -> int:
        return sum(self.relationships_added.values())

    def skipped(self, reason: GleifSkipReason) -> tuple[SkippedRelationship, ...]:
        """The listed skipped relationships for one reason."""
        return tuple(s for s in self.skipped_relationships if s.reason is reason)

    @property
    def unresolved_leis(self) -> tuple[str, ...]:
        """The LEIs listed UNRESOLVED records need, sorted: import them (or ask for
        their level-1 records) and run the import again."""
        return tuple(sorted({lei for s in self.skipped_relationships for lei in s.missing}))

    def summary(self) -> str:
        """A few lines for a batch log."""
        added = ", ".join(f"{k} {v}" for k, v in sorted(self.relationships_added.items()))
        skipped = ", ".join(f"{k.value} {v}" for k, v in self.relationships_skipped.items())
        return "\n".join(
            [
                f"entities: read {self.entities_read}, added {self.entities_added}, "
                f"revised {self.entities_revised}, unchanged {self.entities_unchanged}, "
                f"rejected {self.entities_rejected}, withdrawn {self.entities_withdrawn}",
                f"relationships: read {self.relationships_read}, added "
                f"{self.relationships_added_total} ({added or 'none'}), ended "
                f"{self.relationships_ended}, already held {self.relationships_already_held}, "
                f"skipped {sum(self.relationships_skipped.values())} ({skipped or 'none'})",
                f"reporting exceptions: {self.exceptions_read}"
                + "".join(f", {k} {v}" for k, v in sorted(self.exceptions_by_reason.items())),
            ]
        )


@attrs.define
class _Tally:
    max_listed: int
    counts: collections.Counter[str] = attrs.field(factory=collections.Counter)
    added: collections.Counter[str] = attrs.field(factory=collections.Counter)
    skipped: collections.Counter[GleifSkipReason] = attrs.field(factory=collections.Counter)
    unsupported: collections.Counter[str] = attrs.field(factory=collections.Counter)
    reasons: collections.Counter[str] = attrs.field(factory=collections.Counter)
    rejected: list[RejectedEntity] = attrs.field(factory=list)
    skips: list[SkippedRelationship] = attrs.field(factory=list)
    exceptions: list[ReportingException] = attrs.field(factory=list)
    not_listed: int = 0

    def listed(self, into: list[Any], item: object) -> None:
        if len(into) < self.max_listed:
            into.append(item)
        else:
            self.not_listed += 1

    def skip(self, link: _Link, reason: GleifSkipReason, detail: str, *missing: str) -> None:
        self.skipped[reason] += 1
        if reason is GleifSkipReason.UNSUPPORTED_TYPE and link.gleif_type is not None:
            self.unsupported[link.gleif_type] += 1
        start = link.start if link.start_type == "LEI" else None
        end = link.end if link.end_type == "LEI" else None
        item = SkippedRelationship(
            link.file, link.record, link.gleif_type, start, end, reason, detail, missing
        )
        self.listed(self.skips, item)

    def report(self) -> GleifImportReport:
        c = self.counts
        return GleifImportReport(
            **{k: c[k] for k in _COUNTS},
            rejected_entities=tuple(self.rejected),
            relationships_added=self.added,
            relationships_skipped=self.skipped,
            unsupported_types=self.unsupported,
            skipped_relationships=tuple(self.skips),
            exceptions_by_reason=self.reasons,
            exceptions=tuple(self.exceptions),
            not_listed=self.not_listed,
        )


_COUNTS = (
    "entities_read",
    "entities_added",
    "entities_revised",
    "entities_unchanged",
    "entities_withdrawn",
    "entities_rejected",
    "relationships_read",
    "relationships_ended",
    "relationships_already_held",
    "ended_at_last_update",
    "exceptions_read",
)


# -- entities ------------------------------------------------------------------------

_ENTITY_FIELDS = {
    "$.name": "Entity.LegalName",
    "$.lei": "LEI",
    "$.country": "Entity.LegalAddress.Country",
    "$.registration_number": "Entity.RegistrationAuthority.RegistrationAuthorityEntityID",
}


def _entity(record: Any) -> Party:
    lei = text(record, "LEI")
    name = text(record, "Entity", "LegalName")
    missing = [f for f, v in (("LEI", lei), ("Entity.LegalName", name)) if v is None]
    if missing:
        raise ValidationError("required", path=missing[0])
    assert name is not None
    try:
        return Party.organization(
            name,
            lei=lei,
            country=text(record, "Entity", "LegalAddress", "Country"),
            registration_number=text(
                record, "Entity", "RegistrationAuthority", "RegistrationAuthorityEntityID"
            ),
        )
    except ValidationError as exc:
        problem = exc.problems[0]
        raise ValidationError(
            problem.message, path=_ENTITY_FIELDS.get(problem.path, problem.path)
        ) from None


def _import_entities(uow: UnitOfWork, source: GleifSource, tally: _Tally, batch_size: int) -> None:
    batch: dict[str, Party] = {}
    for file, number, record in records(source, ENTITIES):
        tally.counts["entities_read"] += 1
        if text(record, "Registration", "RegistrationStatus") in _WITHDRAWN:
            tally.counts["entities_withdrawn"] += 1
            continue
        try:
            party = _entity(record)
        except ValidationError as exc:
            tally.counts["entities_rejected"] += 1
            lei = text(record, "LEI")
            usable = lei if exc.problems[0].path != "LEI" else None
            tally.listed(
                tally.rejected,
                RejectedEntity(file, number, usable, exc.problems[0].path, exc.problems[0].message),
            )
            continue
        assert party.lei is not None
        if party.lei in batch or len(batch) >= batch_size:
            _flush_entities(uow, batch, tally)  # a repeated LEI revises the first one
        batch[party.lei] = party
    _flush_entities(uow, batch, tally)


def _flush_entities(uow: UnitOfWork, batch: dict[str, Party], tally: _Tally) -> None:
    if not batch:
        return
    found = uow.parties.ids_by_lei(list(batch))
    held = uow.parties.get_many(list(found.values()))
    at = uow.clock.now()
    new: list[Party] = []
    for lei, party in batch.items():
        current = held.get(found[lei]) if lei in found else None
        if current is None:
            new.append(party)
            continue
        changes: dict[str, Any] = {
            f: getattr(party, f)
            for f in ("name", "country", "registration_number")
            if getattr(party, f) != getattr(current, f)
            and (getattr(party, f) is not None or f == "name")
        }
        if not changes:
            tally.counts["entities_unchanged"] += 1
            continue
        revised, events = current.revised(at, **changes)
        uow.parties.update(revised, events)
        tally.counts["entities_revised"] += 1
    uow.parties.add_many(new)
    tally.counts["entities_added"] += len(new)
    batch.clear()


# -- relationships -------------------------------------------------------------------


@attrs.frozen
class _Link:
    file: str
    record: int
    gleif_type: str | None
    start: str | None
    start_type: str | None
    end: str | None
    end_type: str | None
    valid_from: datetime.date | None = None
    valid_to: datetime.date | None = None
    dated_by_update: bool = False

    @property
    def reference(self) -> str:
        return gleif_reference(str(self.start), str(self.gleif_type), str(self.end))


def _period(link: Any, record: Any) -> tuple[datetime.date | None, datetime.date | None, bool]:
    """valid_from, valid_to and whether valid_to came from LastUpdateDate."""
    periods = list(items(get(link, "RelationshipPeriods"), "RelationshipPeriod"))
    path = "Relationship.RelationshipPeriods"
    own = [p for p in periods if text(p, "PeriodType") == "RELATIONSHIP_PERIOD"]
    starts = [(day(text(p, "StartDate"), f"{path}.StartDate"), p) for p in own]
    dated = [(d, p) for d, p in starts if d is not None]
    valid_from: datetime.date | None
    valid_to: datetime.date | None = None
    if dated:
        valid_from, chosen = max(dated, key=lambda dp: dp[0])
        valid_to = day(text(chosen, "EndDate"), f"{path}.EndDate")
    else:
        others = [day(text(p, "StartDate"), f"{path}.StartDate") for p in periods]
        known = [d for d in others if d is not None]
        valid_from = (
            min(known)
            if known
            else day(
                text(record, "Registration", "InitialRegistrationDate"),
                "Registration.InitialRegistrationDate",
            )
        )
    if valid_to is None and text(link, "RelationshipStatus") == "INACTIVE":
        last = day(text(record, "Registration", "LastUpdateDate"), "Registration.LastUpdateDate")
        if last is None:
            raise ValidationError("INACTIVE without an end date or a LastUpdateDate", path=path)
        return valid_from, last, True
    return valid_from, valid_to, False


def _link(file: str, number: int, record: Any) -> tuple[_Link, str | None]:
    """The link and, if it cannot be used as it is, why (INVALID)."""
    rel = get(record, "Relationship")
    link = _Link(
        file, number, text(rel, "RelationshipType"),
        text(rel, "StartNode", "NodeID"), text(rel, "StartNode", "NodeIDType"),
        text(rel, "EndNode", "NodeID"), text(rel, "EndNode", "NodeIDType"),
    )  # fmt: skip
    try:
        valid_from, valid_to, by_update = _period(rel, record)
    except ValidationError as exc:
        return link, str(exc)
    if valid_from is None:
        return link, "no StartDate in any period and no InitialRegistrationDate"
    return attrs.evolve(
        link, valid_from=valid_from, valid_to=valid_to, dated_by_update=by_update
    ), None


def _import_relationships(
    uow: UnitOfWork,
    source: GleifSource,
    tally: _Tally,
    batch_size: int,
    types: Mapping[str, RelationshipType],
) -> None:
    batch: list[_Link] = []
    references: set[str] = set()
    for file, number, record in records(source, RELATIONSHIPS):
        tally.counts["relationships_read"] += 1
        link, invalid = _link(file, number, record)
        if link.gleif_type is None or link.start is None or link.end is None:
            tally.skip(
                link, GleifSkipReason.INVALID, "RelationshipType, StartNode or EndNode missing"
            )
        elif link.gleif_type not in types:
            tally.skip(
                link, GleifSkipReason.UNSUPPORTED_TYPE, "no relationship type is mapped to it"
            )
        elif link.start_type != "LEI" or link.end_type != "LEI":
            tally.skip(
                link,
                GleifSkipReason.NOT_AN_LEI,
                f"node types {str(link.start_type)[:40]} and {str(link.end_type)[:40]}",
            )
        elif text(record, "Registration", "RegistrationStatus") in _WITHDRAWN:
            tally.skip(link, GleifSkipReason.WITHDRAWN, "the registry withdrew the record")
        elif invalid is not None:
            tally.skip(link, GleifSkipReason.INVALID, invalid)
        else:
            if link.reference in references or len(batch) >= batch_size:
                # A repeated record is compared with the first one once that is stored.
                _flush_relationships(uow, batch, tally, types)
                batch, references = [], set()
            batch.append(link)
            references.add(link.reference)
    _flush_relationships(uow, batch, tally, types)


def _flush_relationships(
    uow: UnitOfWork, batch: list[_Link], tally: _Tally, types: Mapping[str, RelationshipType]
) -> None:
    if not batch:
        return
    ids = uow.parties.ids_by_lei({lei for link in batch for lei in (link.start, link.end) if lei})
    built: list[tuple[_Link, Relationship]] = []
    for link in batch:
        ends = (("StartNode", link.start), ("EndNode", link.end))
        missing = [(end, lei) for end, lei in ends if lei is not None and lei not in ids]
        if missing:
            detail = " and ".join(f"{end} {lei}" for end, lei in missing)
            verb = "is" if len(missing) == 1 else "are"
            tally.skip(
                link,
                GleifSkipReason.UNRESOLVED,
                f"{detail} {verb} neither in the import nor in the graph",
                *(lei for _, lei in missing),
            )
            continue
        assert link.start is not None and link.end is not None and link.valid_from is not None
        try:
            relationship = Relationship.record(
                types[str(link.gleif_type)], ids[link.end], ids[link.start],
                valid_from=link.valid_from, valid_to=link.valid_to, reference=link.reference,
            )  # fmt: skip
        except ValidationError as exc:
            tally.skip(link, GleifSkipReason.INVALID, str(exc))
            continue
        built.append((link, relationship))
    # What the graph already holds from GLEIF, one query per child.
    codes = {t.code for t in types.values()}
    held: dict[str, list[Relationship]] = {}
    for child in {r.target for _, r in built}:
        for h in uow.relationships.of_party(child, types=codes, direction=Direction.UP):
            if h.reference is not None and h.reference.startswith("GLEIF RR "):
                held.setdefault(h.reference, []).append(h)
    at = uow.clock.now()
    new: list[tuple[_Link, Relationship]] = []
    for link, r in built:
        mine = held.setdefault(str(r.reference), [])
        same = next((h for h in mine if h.valid_from == r.valid_from and h.type == r.type), None)
        if same is None:
            clash = next((h for h in mine if h.overlaps(r.valid_from, r.valid_to)), None)
            if clash is not None:
                tally.skip(
                    link, GleifSkipReason.REFUSED,
                    f"the graph holds this relationship from {clash.valid_from.isoformat()} "
                    f"(id {clash.id}); the registry now gives {r.valid_from.isoformat()}: end "
                    "the held one and record the correction by hand",
                )  # fmt: skip
                continue
            mine.append(r)
            new.append((link, r))
        elif same.valid_to == r.valid_to:
            tally.counts["relationships_already_held"] += 1
        elif r.valid_to is not None and (same.valid_to is None or r.valid_to < same.valid_to):
            try:
                with uow.savepoint():
                    ended, events = same.ended(r.valid_to, at)
                    mine[mine.index(same)] = uow.relationships.update(ended, events)
            except (BusinessRuleViolation, ValidationError) as exc:
                tally.skip(link, GleifSkipReason.REFUSED, str(exc))
                continue
            tally.counts["relationships_ended"] += 1
            tally.counts["ended_at_last_update"] += link.dated_by_update
        else:
            tally.skip(
                link, GleifSkipReason.REFUSED,
                "the registry reopened or extended a relationship the graph holds as ended on "
                f"{same.valid_to}; an end date only moves earlier: record the new period by hand",
            )  # fmt: skip
    _add_relationships(uow, new, tally)


_REFUSALS = (BusinessRuleViolation, ValidationError, NotFoundError)


def _add_relationships(
    uow: UnitOfWork, new: list[tuple[_Link, Relationship]], tally: _Tally
) -> None:
    def added(link: _Link, r: Relationship) -> None:
        tally.added[r.type.code] += 1
        tally.counts["ended_at_last_update"] += link.dated_by_update

    if not new:
        return
    try:
        with uow.savepoint():
            uow.relationships.add_many([r for _, r in new])
    except _REFUSALS:
        # Some relationship of the batch is refused: find it, keep the others.
        for link, r in new:
            try:
                with uow.savepoint():
                    uow.relationships.add(r)
            except _REFUSALS as exc:
                tally.skip(link, GleifSkipReason.REFUSED, str(exc))
            else:
                added(link, r)
        return
    for link, r in new:
        added(link, r)


# -- reporting exceptions ------------------------------------------------------------


def _import_exceptions(
    uow: UnitOfWork, source: GleifSource, tally: _Tally, batch_size: int
) -> None:
    batch: list[tuple[str, str, tuple[str, ...]]] = []

    def flush() -> None:
        ids = uow.parties.ids_by_lei({lei for lei, _, _ in batch})
        for lei, category, reasons in batch:
            tally.listed(tally.exceptions, ReportingException(lei, category, reasons, ids.get(lei)))
        batch.clear()

    for _, _, record in records(source, EXCEPTIONS):
        tally.counts["exceptions_read"] += 1
        given = items(get(record, "ExceptionReason"), "ExceptionReason")
        reasons = tuple(r for r in (text({"r": x}, "r") for x in given) if r is not None)
        for reason in reasons or ("(none given)",):
            tally.reasons[reason] += 1
        lei, category = text(record, "LEI"), text(record, "ExceptionCategory")
        if lei is None:
            continue  # counted, but there is nothing to list it by
        if len(tally.exceptions) + len(batch) >= tally.max_listed:
            tally.not_listed += 1
            continue
        batch.append((lei, category or "", reasons))
        if len(batch) >= batch_size:
            flush()
    flush()


# -- the entry point -----------------------------------------------------------------


def import_gleif(
    uow: UnitOfWork,
    *,
    entities: GleifSource | None = None,
    relationships: GleifSource | None = None,
    exceptions: GleifSource | None = None,
    batch_size: int = 1000,
    types: Mapping[str, str] | None = None,
    max_listed: int = 1000,
) -> GleifImportReport:
    """Import GLEIF files into ``uow``'s graph (the caller commits); see the module doc.

    ``entities`` is an LEI-CDF file (the golden copy or a delta), ``relationships`` an
    RR-CDF file, ``exceptions`` a reporting-exceptions file; each is a path or an open
    file, XML or JSON, optional. ``types`` maps GLEIF RelationshipTypes to the store's
    type codes (default :data:`GLEIF_RELATIONSHIP_TYPES`). Each list in the report holds
    at most ``max_listed`` entries.

    :raises ~finance_crm.errors.ValidationError: for a file that is not well-formed or
        not of its kind (naming the file and position; nothing written stays), a bad
        argument, or a type code the store does not know.
    :raises ~finance_crm.errors.PermissionDenied: if the actor may not change the graph.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(
            "batch_size must be a whole number of at least 1", path="$.batch_size"
        )
    if isinstance(max_listed, bool) or not isinstance(max_listed, int) or max_listed < 0:
        raise ValidationError(
            "max_listed must be a whole number of at least 0", path="$.max_listed"
        )
    resolved: dict[str, RelationshipType] = {}
    for gleif_type, code in (GLEIF_RELATIONSHIP_TYPES if types is None else types).items():
        try:
            resolved[gleif_type] = uow.relationship_types.get(code)
        except ValidationError as exc:
            raise exc.under(f"$.types[{gleif_type!r}]") from None
    tally = _Tally(max_listed)
    with uow.savepoint():  # a malformed file undoes the whole call
        if entities is not None:
            _import_entities(uow, entities, tally, batch_size)
        if relationships is not None:
            _import_relationships(uow, relationships, tally, batch_size, resolved)
        if exceptions is not None:
            _import_exceptions(uow, exceptions, tally, batch_size)
    return tally.report()
