"""Bulk customer import on the in-memory store: row errors, modes, duplicates, streaming."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from typing import Any

import pendulum
import pytest

from finance_crm.adapters.memory import InMemoryStore
from finance_crm.clock import FixedClock
from finance_crm.errors import ValidationError
from finance_crm.model.customers import (
    Channel,
    CorporateCustomer,
    Customer,
    IndividualCustomer,
    LifecycleStatus,
    RiskLevel,
)
from finance_crm.model.documents import IdDocumentType, make_unified_social_credit_code
from finance_crm.security import Actor
from finance_crm.services.customer_import import (
    FlatCustomerRows,
    ImportMode,
    ImportReport,
    RowError,
    import_customers,
)
from finance_crm.testing.factories import make_individual, resident_id_for

NOW = pendulum.datetime(2025, 3, 1, 2, 0, tz="UTC")
SKIP = ImportMode.SKIP_BAD_ROWS
ALL = ImportMode.ALL_OR_NOTHING
_SURNAMES = "欧阳司马诸葛上官"


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore(clock=FixedClock(NOW))


@pytest.fixture
def actor() -> Actor:
    return Actor.system("nightly-import")


def person_name(i: int) -> str:
    return f"{_SURNAMES[(i % 4) * 2 : (i % 4) * 2 + 2]}{'娜敏静丽'[i % 4]}{'芳伟'[i % 2]}"


def row(i: int, **overrides: Any) -> dict[str, Any]:
    """A valid flat row for an individual, distinct for each ``i``."""
    number, born = resident_id_for(1000 + i)
    data: dict[str, Any] = {
        "customer_number": f"C{i:06d}",
        "name": person_name(i),
        "id_number": number,
        "birthday": born.isoformat(),
        "mobile": f"139{i:08d}",
        "risk_level": str(1 + i % 5),
    }
    data.update(overrides)
    return data


def company_row(i: int, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "customer_number": f"E{i:06d}",
        "kind": "corporate",
        "name": f"示例贸易有限公司{i}",
        "id_number": make_unified_social_credit_code(i),
        "industry": "F5191",
    }
    data.update(overrides)
    return data


def bad_checksum(number: str) -> str:
    return number[:-1] + ("1" if number[-1] != "1" else "2")


def run(
    store: InMemoryStore,
    actor: Actor,
    rows: Any,
    *,
    commit: bool = True,
    **kwargs: Any,
) -> ImportReport:
    kwargs.setdefault("clock", FixedClock(NOW))
    with store.unit_of_work(actor) as uow:
        report = import_customers(uow, rows, **kwargs)
        if commit:
            uow.commit()
    return report


def stored_count(store: InMemoryStore, actor: Actor) -> int:
    with store.unit_of_work(actor, read_only=True) as uow:
        return uow.customers.count()


def stored(store: InMemoryStore, actor: Actor, number: str) -> Customer:
    with store.unit_of_work(actor, read_only=True) as uow:
        return uow.customers.get_by_number(number)


def rows_with_errors(report: ImportReport) -> list[int]:
    return sorted({e.row_number for e in report.errors})


# -- good rows -----------------------------------------------------------------------


def test_good_rows_are_imported(store: InMemoryStore, actor: Actor) -> None:
    rows = [row(1), row(2, email="nana@example.com", tags="vip; retail ;", status="dormant")]
    rows.append(company_row(3))
    report = run(store, actor, rows)
    assert report == ImportReport(
        mode=ALL, rows_read=3, imported=3, rejected_rows=0, errors=(), errors_not_listed=0
    )
    assert report.ok
    report.raise_for_errors()  # nothing to raise
    assert stored_count(store, actor) == 3

    first = stored(store, actor, "C000001")
    assert isinstance(first, IndividualCustomer)
    number, born = resident_id_for(1001)
    assert first.name == person_name(1)
    assert first.identity_documents[0].number == number
    assert first.identity_documents[0].type is IdDocumentType.RESIDENT_ID
    assert first.birthday == born
    assert first.phones[0].number == "13900000001"
    assert first.risk_level is RiskLevel.CAUTIOUS
    assert first.status is LifecycleStatus.ACTIVE
    assert first.opened_at == NOW

    second = stored(store, actor, "C000002")
    assert second.status is LifecycleStatus.DORMANT
    assert second.tags == frozenset({"vip", "retail"})
    assert second.emails[0].address == "nana@example.com"

    company = stored(store, actor, "E000003")
    assert isinstance(company, CorporateCustomer)
    assert company.legal_name == "示例贸易有限公司3"
    assert company.registration_number == make_unified_social_credit_code(3)
    assert company.industry == "F5191"


def test_birthday_defaults_to_the_one_in_the_resident_id(
    store: InMemoryStore, actor: Actor
) -> None:
    good = row(1)
    del good["birthday"]
    run(store, actor, [good, row(2, birthday="  ")])
    assert stored(store, actor, "C000001").birthday == resident_id_for(1001)[1]
    assert stored(store, actor, "C000002").birthday == resident_id_for(1002)[1]


def test_custom_columns_become_custom_attributes(store: InMemoryStore, actor: Actor) -> None:
    reader = FlatCustomerRows(custom_columns={"segment", "branch"})
    run(store, actor, [row(1, segment="affluent", branch=" ")], reader=reader)
    assert stored(store, actor, "C000001").custom_attributes == {"segment": "affluent"}


def test_unknown_columns_can_be_ignored(store: InMemoryStore, actor: Actor) -> None:
    reader = FlatCustomerRows(ignore_unknown_columns=True)
    report = run(store, actor, [row(1, nickname="Nana")], reader=reader)
    assert report.imported == 1


def test_empty_input_imports_nothing(store: InMemoryStore, actor: Actor) -> None:
    report = run(store, actor, iter(()))
    assert (report.rows_read, report.imported, report.rejected_rows) == (0, 0, 0)
    assert report.ok


# -- bad rows ------------------------------------------------------------------------

BAD_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("bad checksum", {"id_number": bad_checksum(resident_id_for(1003)[0])}, "id_number"),
    ("resident id too short", {"id_number": "11010519870619"}, "id_number"),
    ("missing id number", {"id_number": ""}, "id_number"),
    ("birthday disagrees with id", {"birthday": "1901-01-01"}, "id_number"),
    ("missing name", {"name": ""}, "name"),
    ("blank name", {"name": "   "}, "name"),
    ("name absent", {"name": None}, "name"),
    ("birthday with slashes", {"birthday": "1987/06/19"}, "birthday"),
    ("birthday compact", {"birthday": "19870619"}, "birthday"),
    ("birthday impossible", {"birthday": "1987-02-30"}, "birthday"),
    ("birthday words", {"birthday": "yesterday"}, "birthday"),
    ("risk level 7", {"risk_level": "7"}, "risk_level"),
    ("risk level 0", {"risk_level": "0"}, "risk_level"),
    ("risk level 3.0", {"risk_level": "3.0"}, "risk_level"),
    ("risk level word", {"risk_level": "high"}, "risk_level"),
    ("risk level number", {"risk_level": 3}, "risk_level"),
    ("bad mobile", {"mobile": "1234567"}, "mobile"),
    ("bad email", {"email": "nana.example.com"}, "email"),
    ("unknown kind", {"kind": "person"}, "kind"),
    ("unknown status", {"status": "open"}, "status"),
    ("unknown id type", {"id_type": "ssn"}, "id_type"),
    ("company document for a person", {"id_type": "uscc"}, "id_number"),
    ("missing customer number", {"customer_number": ""}, "customer_number"),
    ("bad customer number", {"customer_number": "C 3"}, "customer_number"),
    ("tag too long", {"tags": "x" * 65}, "tags"),
]


@pytest.mark.parametrize(
    ("overrides", "field"), [c[1:] for c in BAD_ROWS], ids=[c[0] for c in BAD_ROWS]
)
def test_bad_row_is_reported_with_row_number_and_field(
    store: InMemoryStore, actor: Actor, overrides: dict[str, Any], field: str
) -> None:
    rows = [row(i) for i in range(1, 6)]
    rows[2] = row(3, **overrides)
    report = run(store, actor, rows, mode=SKIP)
    assert (report.rows_read, report.imported, report.rejected_rows) == (5, 4, 1)
    assert not report.ok
    assert len(report.errors) >= 1
    assert {e.row_number for e in report.errors} == {3}
    assert report.errors[0].field == field
    assert report.errors[0].problem
    assert stored_count(store, actor) == 4


def test_bad_document_country_is_reported_against_id_country(
    store: InMemoryStore, actor: Actor
) -> None:
    bad = row(1, id_type="passport", id_number="E1234567", id_country="China")
    report = run(store, actor, [bad])
    assert [(e.row_number, e.field) for e in report.errors] == [(1, "id_country")]


def test_corporate_row_with_a_resident_id_is_refused(store: InMemoryStore, actor: Actor) -> None:
    number, _ = resident_id_for(5)
    report = run(store, actor, [company_row(1, id_type="resident_id", id_number=number)])
    assert report.errors == (
        RowError(
            1,
            "id_number",
            "this document type cannot identify a company; "
            "use one of: uscc, business_license, organization_code, lei",
        ),
    )


def test_a_row_that_is_not_a_mapping_is_refused(store: InMemoryStore, actor: Actor) -> None:
    report = run(store, actor, [row(1), ["C2", "王五"], row(3)], mode=SKIP)
    assert report.imported == 2
    assert [(e.row_number, e.field) for e in report.errors] == [(2, "row")]


def test_unknown_column_is_reported_with_its_row(store: InMemoryStore, actor: Actor) -> None:
    report = run(store, actor, [row(1), row(2, nickname="Nana")], mode=SKIP)
    assert report.imported == 1
    assert [e.row_number for e in report.errors] == [2]
    assert "nickname" in str(report.errors[0])
    assert "Nana" not in str(report.errors)


def test_unknown_column_names_the_column_as_field(store: InMemoryStore, actor: Actor) -> None:
    report = run(store, actor, [row(2, nickname="Nana")], mode=SKIP)
    assert [e.field for e in report.errors] == ["nickname"]


def test_unknown_columns_from_a_headerless_file_do_not_leak(
    store: InMemoryStore, actor: Actor
) -> None:
    first = row(1)
    second = row(2)
    # csv.DictReader on a file without a header: the first record's values become keys.
    headerless = {first[k]: second[k] for k in first}
    report = run(store, actor, [headerless], mode=SKIP)
    assert report.rejected_rows == 1
    text = " ".join(str(e) for e in report.errors)
    for value in first.values():
        assert value not in text


@pytest.mark.parametrize("column", ["password", "pin", "cvv", "交易密码", "loginPassword"])
def test_authentication_column_is_refused_even_when_mapped(
    store: InMemoryStore, actor: Actor, column: str
) -> None:
    reader = FlatCustomerRows(custom_columns={column})
    report = run(
        store, actor, [row(1), row(2, **{column: "s3cr3t-742913"})], mode=SKIP, reader=reader
    )
    assert report.imported == 1
    assert len(report.errors) == 1
    error = report.errors[0]
    assert error.row_number == 2
    assert error.field == f"custom_attributes.{column}"
    assert "authentication data" in error.problem
    assert "742913" not in str(error)
    assert stored_count(store, actor) == 1


def test_authentication_column_is_refused_when_not_mapped(
    store: InMemoryStore, actor: Actor
) -> None:
    report = run(store, actor, [row(1, password="s3cr3t-742913")], mode=SKIP)
    assert report.rejected_rows == 1
    assert "742913" not in str(report.errors)


def test_every_problem_of_a_row_and_every_bad_row_is_listed(
    store: InMemoryStore, actor: Actor
) -> None:
    rows = [row(i) for i in range(1, 9)]
    rows[1] = row(2, risk_level="9")
    rows[4] = row(5, mobile="12")
    rows[6] = row(7, birthday="07/06/1987")
    report = run(store, actor, rows, mode=SKIP)
    assert [(e.row_number, e.field) for e in report.errors] == [
        (2, "risk_level"),
        (5, "mobile"),
        (7, "birthday"),
    ]
    assert report.rejected_rows == 3
    assert report.imported == 5


def test_raise_for_errors_gives_row_qualified_paths(store: InMemoryStore, actor: Actor) -> None:
    report = run(store, actor, [row(1), row(2, risk_level="7")])
    with pytest.raises(ValidationError) as exc:
        report.raise_for_errors()
    assert [p.path for p in exc.value.problems] == ["row 2.risk_level"]


def test_error_list_is_capped(store: InMemoryStore, actor: Actor) -> None:
    rows = [row(i, risk_level="9") for i in range(1, 8)]
    report = run(store, actor, rows, mode=SKIP, max_reported_errors=3)
    assert report.rejected_rows == 7
    assert [e.row_number for e in report.errors] == [1, 2, 3]
    assert report.errors_not_listed == 4


def test_batch_size_must_be_positive(store: InMemoryStore, actor: Actor) -> None:
    with pytest.raises(ValidationError) as exc:
        run(store, actor, [row(1)], batch_size=0)
    assert [p.path for p in exc.value.problems] == ["$.batch_size"]


# -- modes ----------------------------------------------------------------------------


def test_all_or_nothing_writes_nothing_and_reports_every_bad_row(
    store: InMemoryStore, actor: Actor
) -> None:
    rows = [row(i) for i in range(1, 11)]
    rows[1] = row(2, name="")
    rows[8] = row(9, id_number=bad_checksum(resident_id_for(1009)[0]))
    report = run(store, actor, rows, batch_size=3)
    assert report.mode is ALL
    assert (report.rows_read, report.imported, report.rejected_rows) == (10, 0, 2)
    assert [(e.row_number, e.field) for e in report.errors] == [(2, "name"), (9, "id_number")]
    assert stored_count(store, actor) == 0
    with store.unit_of_work(actor, read_only=True) as uow:
        assert uow.audit.entries() == []
        assert uow.outbox.pending() == []


def test_all_or_nothing_undoes_batches_already_written(store: InMemoryStore, actor: Actor) -> None:
    rows = [row(i) for i in range(1, 11)]
    rows[9] = row(10, risk_level="6")  # the last row, after three full batches
    with store.unit_of_work(actor) as uow:
        report = import_customers(uow, rows, batch_size=3, clock=FixedClock(NOW))
        assert uow.customers.count() == 0
        assert uow.audit.entries() == []
        uow.commit()
    assert report.imported == 0
    assert stored_count(store, actor) == 0


def test_all_or_nothing_leaves_earlier_work_in_the_unit_of_work(
    store: InMemoryStore, actor: Actor
) -> None:
    earlier = make_individual(77, customer_number="KEEP1")
    with store.unit_of_work(actor) as uow:
        uow.customers.add(earlier)
        report = import_customers(uow, [row(1), row(2, risk_level="x")], clock=FixedClock(NOW))
        uow.commit()
    assert report.imported == 0
    assert stored_count(store, actor) == 1
    assert stored(store, actor, "KEEP1") == earlier


def test_skip_bad_rows_writes_the_good_ones(store: InMemoryStore, actor: Actor) -> None:
    rows = [row(i) for i in range(1, 11)]
    rows[0] = row(1, name="")
    rows[9] = row(10, birthday="1990-13-01")
    report = run(store, actor, rows, mode=SKIP, batch_size=4)
    assert (report.rows_read, report.imported, report.rejected_rows) == (10, 8, 2)
    assert rows_with_errors(report) == [1, 10]
    assert stored_count(store, actor) == 8
    with store.unit_of_work(actor, read_only=True) as uow:
        for i in range(2, 10):
            uow.customers.get_by_number(f"C{i:06d}")


def test_nothing_is_kept_when_the_caller_does_not_commit(
    store: InMemoryStore, actor: Actor
) -> None:
    report = run(store, actor, [row(1), row(2)], commit=False)
    assert report.imported == 2
    assert stored_count(store, actor) == 0


# -- duplicates -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", [SKIP, ALL])
def test_duplicate_customer_number_within_the_input(
    store: InMemoryStore, actor: Actor, mode: ImportMode
) -> None:
    rows = [row(i) for i in range(1, 7)]
    rows[5] = row(6, customer_number="C000002")
    report = run(store, actor, rows, mode=mode)
    assert [(e.row_number, e.field) for e in report.errors] == [(6, "customer_number")]
    assert report.rejected_rows == 1
    assert report.imported == (5 if mode is SKIP else 0)
    assert stored_count(store, actor) == report.imported
    if mode is SKIP:
        assert stored(store, actor, "C000002").name == person_name(2)  # the first one wins


@pytest.mark.parametrize("mode", [SKIP, ALL])
def test_duplicate_identity_document_within_the_input(
    store: InMemoryStore, actor: Actor, mode: ImportMode
) -> None:
    rows = [row(i) for i in range(1, 7)]
    rows[4] = row(5, id_number=rows[1]["id_number"], birthday=rows[1]["birthday"])
    report = run(store, actor, rows, mode=mode)
    assert [(e.row_number, e.field) for e in report.errors] == [(5, "id_number")]
    assert report.imported == (5 if mode is SKIP else 0)
    assert stored_count(store, actor) == report.imported


def test_duplicates_against_stored_customers(store: InMemoryStore, actor: Actor) -> None:
    run(store, actor, [row(1), row(2)])
    rows = [
        row(3),
        row(4, customer_number="C000001"),  # number taken
        row(5),
        row(6, id_number=row(2)["id_number"], birthday=row(2)["birthday"]),  # document taken
        row(7),
    ]
    report = run(store, actor, rows, mode=SKIP)
    assert [(e.row_number, e.field) for e in report.errors] == [
        (2, "customer_number"),
        (4, "id_number"),
    ]
    assert report.imported == 3
    assert stored_count(store, actor) == 5
    assert stored(store, actor, "C000001").name == person_name(1)


def test_duplicate_messages_carry_no_personal_values(store: InMemoryStore, actor: Actor) -> None:
    run(store, actor, [row(1)])
    dup = row(2, id_number=row(1)["id_number"], birthday=row(1)["birthday"])
    report = run(store, actor, [dup, row(3, customer_number="C000001")], mode=SKIP)
    assert rows_with_errors(report) == [1, 2]
    text = " ".join(f"{e.field} {e.problem}" for e in report.errors)
    for value in (dup["id_number"], dup["name"], dup["mobile"], dup["birthday"], "C000001"):
        assert value not in text


def test_rows_after_a_duplicate_in_the_same_batch_still_import(
    store: InMemoryStore, actor: Actor
) -> None:
    rows = [row(i) for i in range(1, 11)]
    rows[4] = row(5, customer_number="C000004")  # batch 2 is rows 4-6
    rows[7] = row(8, customer_number="C000008")  # fine
    report = run(store, actor, rows, mode=SKIP, batch_size=3)
    assert [(e.row_number, e.field) for e in report.errors] == [(5, "customer_number")]
    assert report.imported == 9
    assert stored_count(store, actor) == 9
    assert stored(store, actor, "C000006").name == person_name(6)
    assert stored(store, actor, "C000004").name == person_name(4)


def test_all_or_nothing_reports_a_duplicate_and_writes_nothing(
    store: InMemoryStore, actor: Actor
) -> None:
    run(store, actor, [row(1)])
    report = run(store, actor, [row(2), row(3, customer_number="C000001"), row(4)], batch_size=2)
    assert [(e.row_number, e.field) for e in report.errors] == [(2, "customer_number")]
    assert report.imported == 0
    assert stored_count(store, actor) == 1


def test_all_or_nothing_reports_duplicates_after_another_bad_row(
    store: InMemoryStore, actor: Actor
) -> None:
    rows = [
        row(1, name=""),  # bad
        row(2),
        row(3, customer_number="C000002"),  # duplicate of row 2
        row(4, customer_number="C000002"),  # duplicate of row 2
    ]
    report = run(store, actor, rows)
    assert rows_with_errors(report) == [1, 3, 4]
    assert report.rejected_rows == 3


# -- streaming -------------------------------------------------------------------------


class CountingRows:
    """An iterator over generated rows that counts how many were pulled."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pulled = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(1, self.count + 1):
            self.pulled += 1
            yield row(i)


def test_rows_are_consumed_lazily_one_batch_at_a_time(
    store: InMemoryStore, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = CountingRows(10)
    calls: list[tuple[int, int]] = []
    with store.unit_of_work(actor) as uow:
        original = uow.customers.add_many

        def add_many(customers: Sequence[Customer]) -> None:
            calls.append((source.pulled, len(customers)))
            original(customers)

        monkeypatch.setattr(uow.customers, "add_many", add_many)
        report = import_customers(uow, iter(source), batch_size=3, clock=FixedClock(NOW))
        uow.commit()
    assert calls == [(3, 3), (6, 3), (9, 3), (10, 1)]
    assert report.imported == 10
    assert stored_count(store, actor) == 10


def test_a_long_generator_imports_in_batches(store: InMemoryStore, actor: Actor) -> None:
    # 2,000 rows rather than 10,000: the memory adapter scans pending writes on every add,
    # so one unit of work grows quadratically (see the report on this test module).
    def generate() -> Iterator[dict[str, Any]]:
        for i in range(1, 2001):
            yield row(i)

    report = run(store, actor, generate(), batch_size=100)
    assert (report.rows_read, report.imported, report.rejected_rows) == (2000, 2000, 0)
    assert stored_count(store, actor) == 2000


# -- audit and outbox -------------------------------------------------------------------


def test_each_imported_customer_is_audited_with_masked_values(
    store: InMemoryStore, actor: Actor
) -> None:
    rows = [row(i) for i in range(1, 5)]
    run(store, actor, rows)
    with store.unit_of_work(actor, read_only=True) as uow:
        entries = uow.audit.entries()
        by_id = {str(c.id): c for c in uow.customers.stream()}
    assert len(entries) == 4
    assert sorted(e.entity_id for e in entries) == sorted(by_id)
    for entry in entries:
        customer = by_id[entry.entity_id]
        assert entry.action == "customer.opened"
        assert entry.actor == "system:nightly-import"
        assert entry.entity_type == "customer"
        assert entry.entity_version == 1
        assert entry.recorded_at == NOW
        assert isinstance(customer, IndividualCustomer)
        name_after = entry.changes["name"]["after"]
        assert customer.name[:2] in name_after  # the compound surname stays visible
        assert customer.name not in name_after
        text = repr(entry.changes)
        assert customer.name not in text
        assert customer.identity_documents[0].number not in text
        assert customer.phones[0].number not in text
        assert customer.birthday is not None
        assert customer.birthday.isoformat() not in text


def test_each_imported_customer_raises_customer_opened(store: InMemoryStore, actor: Actor) -> None:
    rows = [row(1), company_row(2), row(3, status="prospect")]
    run(store, actor, rows, mode=SKIP)
    with store.unit_of_work(actor, read_only=True) as uow:
        messages = uow.outbox.pending()
        customers = {c.customer_number: c for c in uow.customers.stream()}
    assert [m.event_type for m in messages] == ["CustomerOpened"] * 3
    assert [m.payload["customer_number"] for m in messages] == ["C000001", "E000002", "C000003"]
    assert [m.payload["kind"] for m in messages] == ["individual", "corporate", "individual"]
    assert [m.payload["status"] for m in messages] == ["active", "active", "prospect"]
    for message in messages:
        customer = customers[message.payload["customer_number"]]
        assert message.aggregate_id == str(customer.id)
        assert message.payload["customer_id"] == str(customer.id)
        assert person_name(1) not in repr(message.payload)


def test_rejected_rows_leave_no_audit_or_outbox_trace(store: InMemoryStore, actor: Actor) -> None:
    run(store, actor, [row(1), row(2, mobile="1"), row(3)], mode=SKIP)
    with store.unit_of_work(actor, read_only=True) as uow:
        assert len(uow.audit.entries()) == 2
        assert len(uow.outbox.pending()) == 2


# -- no personal values in the report ------------------------------------------------------


def test_report_errors_never_contain_personal_values(store: InMemoryStore, actor: Actor) -> None:
    number, born = resident_id_for(4242)
    rows = [
        row(1, id_number=bad_checksum(number), birthday=born.isoformat()),
        row(2, mobile="1398765432"),
        row(3, email="ouyang.nana@@example.com"),
        row(4, birthday="1987-06-31"),
        row(5, id_number=number, birthday="1901-02-03"),
        row(6, risk_level="13987654321"),
        row(7, status="欧阳娜娜"),
        row(8, name="欧阳娜娜" * 60),
        row(9, customer_number="13987654321 x"),
        row(10, tags=" " + "13987654321" * 7),
        row(11, id_type="passport", id_number="E 1234567"),
        row(12, kind="欧阳娜娜"),
        row(13, id_type="13987654321"),
    ]
    report = run(store, actor, rows, mode=SKIP)
    assert report.rejected_rows == len(rows)
    assert rows_with_errors(report) == list(range(1, len(rows) + 1))
    text = " | ".join(f"{e.field} {e.problem}" for e in report.errors)
    for secret in (
        number,
        bad_checksum(number),
        number[6:14],
        "1398765432",
        "ouyang.nana",
        "1987-06-31",
        "1901-02-03",
        "欧阳娜娜",
        "E 1234567",
    ):
        assert secret not in text
    with pytest.raises(ValidationError) as exc:
        report.raise_for_errors()
    for secret in (number, "1398765432", "欧阳娜娜"):
        assert secret not in str(exc.value)


def test_opening_time_comes_from_the_clock(store: InMemoryStore, actor: Actor) -> None:
    clock = FixedClock(pendulum.datetime(2025, 5, 6, 9, tz="Asia/Shanghai"))
    run(store, actor, [row(1)], clock=clock)
    opened = stored(store, actor, "C000001").opened_at
    assert opened == pendulum.datetime(2025, 5, 6, 1, tz="UTC")
    assert opened.utcoffset() == datetime.timedelta(0)


def test_imported_customers_have_no_consents_or_channels(
    store: InMemoryStore, actor: Actor
) -> None:
    run(store, actor, [row(1)])
    customer = stored(store, actor, "C000001")
    assert customer.consents == ()
    assert not customer.has_consent(Channel.SMS, "marketing", datetime.date(2025, 3, 1))
