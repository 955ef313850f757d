"""Contract suites: what every finance_crm store must do, whatever its backend.

Subclass a contract in your test suite and provide the ``store`` fixture; pytest runs
every test against your store. finance_crm runs these against the memory adapter,
SQLite (a file) and PostgreSQL. A bank writing its own adapter runs them too.

.. code-block:: python

    from finance_crm.adapters.memory import InMemoryStore
    from finance_crm.testing import StoreContract

    class TestInMemory(StoreContract):
        @pytest.fixture
        def store(self):
            return InMemoryStore()

Assertions check representation, not only equality: decimals keep the currency's
exponent, instants come back in UTC, dates come back as dates.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest

from finance_crm.errors import (
    ConflictError,
    DuplicateError,
    NotFoundError,
    ValidationError,
)
from finance_crm.model.customers import (
    Channel,
    CorporateCustomer,
    IndividualCustomer,
    LifecycleStatus,
    MarketingConsent,
)
from finance_crm.model.documents import IdDocumentType, Phone
from finance_crm.model.events import CustomerOpened, CustomerRevised
from finance_crm.ports import Store
from finance_crm.security import Actor
from finance_crm.services.customer_import import ImportMode, import_customers
from finance_crm.testing.factories import (
    OPENED_AT,
    make_corporate,
    make_individual,
    resident_id_for,
)

__all__ = ["StoreContract"]

_AT = OPENED_AT + datetime.timedelta(days=30)


def _is_utc(value: datetime.datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == datetime.timedelta(0)


class StoreContract:
    """The behaviour every :class:`~finance_crm.ports.Store` must show."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        raise NotImplementedError("provide a `store` fixture returning a fresh, empty store")

    @pytest.fixture
    def actor(self) -> Actor:
        return Actor("ho-1001", roles=frozenset({"head_office"}))

    def _add(self, store: Store, actor: Actor, *customers: Any) -> None:
        with store.unit_of_work(actor) as uow:
            for customer in customers:
                uow.customers.add(customer)
            uow.commit()

    # -- round trips -----------------------------------------------------------------

    def test_individual_round_trips_with_exact_representation(
        self, store: Store, actor: Actor
    ) -> None:
        customer = make_individual(1)
        customer, _ = customer.revise(
            at=_AT,
            custom_attributes={"segment": "affluent", "flags": [1, True, None], "n": {"k": "v"}},
        )
        self._add(store, actor, customer)
        with store.unit_of_work(actor, read_only=True) as uow:
            got = uow.customers.get(customer.id)
        assert got == customer
        assert type(got) is IndividualCustomer
        assert _is_utc(got.opened_at)
        assert got.opened_at == OPENED_AT
        assert type(got.birthday) is datetime.date
        assert got.version == 1
        assert got.custom_attributes == {
            "segment": "affluent",
            "flags": [1, True, None],
            "n": {"k": "v"},
        }
        assert type(got.custom_attributes["flags"][1]) is bool  # type: ignore[index]

    def test_corporate_round_trips_money_with_its_exponent(
        self, store: Store, actor: Actor
    ) -> None:
        company = make_corporate(2)
        self._add(store, actor, company)
        with store.unit_of_work(actor, read_only=True) as uow:
            got = uow.customers.get(company.id)
        assert got == company
        assert isinstance(got, CorporateCustomer)
        assert got.registered_capital is not None
        assert got.registered_capital.amount == Decimal("5000000.00")
        assert got.registered_capital.amount.as_tuple().exponent == -2
        assert got.registration_number == company.registration_number

    def test_consent_withdrawal_round_trips_as_utc(self, store: Store, actor: Actor) -> None:
        customer = make_individual(3)
        withdrawn, _events = customer.withdraw_consent(
            Channel.SMS, "marketing", at=datetime.datetime(2025, 3, 1, 18, 0, tzinfo=_CST)
        )
        self._add(store, actor, withdrawn)
        with store.unit_of_work(actor, read_only=True) as uow:
            got = uow.customers.get(customer.id)
        stamp = got.consents[0].withdrawn_at
        assert stamp is not None and _is_utc(stamp)
        assert stamp == datetime.datetime(2025, 3, 1, 10, 0, tzinfo=datetime.UTC)
        assert not got.has_consent(Channel.SMS, "marketing", datetime.date(2025, 3, 2))
        assert got.has_consent(Channel.SMS, "marketing", datetime.date(2025, 2, 28))

    def test_lookups_by_number_and_document(self, store: Store, actor: Actor) -> None:
        customer, other = make_individual(4), make_individual(5)
        self._add(store, actor, customer, other)
        number, _ = resident_id_for(4)
        with store.unit_of_work(actor, read_only=True) as uow:
            assert uow.customers.get_by_number(customer.customer_number).id == customer.id
            found = uow.customers.find_by_document(IdDocumentType.RESIDENT_ID, number)
            assert found is not None and found.id == customer.id
            assert uow.customers.find_by_document(IdDocumentType.PASSPORT, number) is None
            assert uow.customers.count() == 2

    def test_missing_customer_is_not_found(self, store: Store, actor: Actor) -> None:
        with store.unit_of_work(actor, read_only=True) as uow:
            with pytest.raises(NotFoundError):
                uow.customers.get(uuid.uuid4())  # type: ignore[arg-type]
            with pytest.raises(NotFoundError):
                uow.customers.get_by_number("NOPE")

    def test_stream_yields_every_customer_in_id_order(self, store: Store, actor: Actor) -> None:
        customers = [make_individual(10 + i) for i in range(7)]
        self._add(store, actor, *customers)
        with store.unit_of_work(actor, read_only=True) as uow:
            streamed = list(uow.customers.stream(batch_size=3))
        assert [c.id for c in streamed] == sorted((c.id for c in customers), key=lambda i: i.bytes)

    # -- transactions ----------------------------------------------------------------

    def test_nothing_is_kept_without_commit(self, store: Store, actor: Actor) -> None:
        with store.unit_of_work(actor) as uow:
            uow.customers.add(make_individual(20))
            assert uow.customers.count() == 1
        with store.unit_of_work(actor, read_only=True) as uow:
            assert uow.customers.count() == 0
            assert uow.audit.entries() == []
            assert uow.outbox.pending() == []

    def test_error_inside_the_block_rolls_back(self, store: Store, actor: Actor) -> None:
        with pytest.raises(RuntimeError), store.unit_of_work(actor) as uow:
            uow.customers.add(make_individual(21))
            raise RuntimeError("host failure")
        with store.unit_of_work(actor, read_only=True) as uow:
            assert uow.customers.count() == 0

    def test_savepoint_undoes_only_its_own_part(self, store: Store, actor: Actor) -> None:
        with store.unit_of_work(actor) as uow:
            uow.customers.add(make_individual(22))
            with pytest.raises(DuplicateError), uow.savepoint():
                uow.customers.add(make_individual(23))
                uow.customers.add(make_individual(24, customer_number="P000000022"))
            uow.commit()
        with store.unit_of_work(actor, read_only=True) as uow:
            assert uow.customers.count() == 1
            assert len(uow.audit.entries()) == 1

    def test_read_only_unit_of_work_refuses_writes(self, store: Store, actor: Actor) -> None:
        with store.unit_of_work(actor, read_only=True) as uow, pytest.raises(ConflictError):
            uow.customers.add(make_individual(25))

    # -- concurrency -----------------------------------------------------------------

    def test_stale_write_raises_conflict_and_writes_nothing(
        self, store: Store, actor: Actor
    ) -> None:
        customer = make_individual(30)
        self._add(store, actor, customer)
        with store.unit_of_work(actor, read_only=True) as uow:
            read_by_a = uow.customers.get(customer.id)
            read_by_b = uow.customers.get(customer.id)
        with store.unit_of_work(actor) as uow:
            changed, events = read_by_a.revise(at=_AT, occupation="teacher")
            stored = uow.customers.update(changed, events)
            uow.commit()
        assert stored.version == 2
        with store.unit_of_work(actor) as uow:
            stale, events = read_by_b.revise(at=_AT, occupation="doctor")
            with pytest.raises(ConflictError):
                uow.customers.update(stale, events)
            uow.commit()
        with store.unit_of_work(actor, read_only=True) as uow:
            final = uow.customers.get(customer.id)
            assert final.version == 2
            assert isinstance(final, IndividualCustomer) and final.occupation == "teacher"
            assert [e.action for e in uow.audit.entries(entity_id=str(customer.id))] == [
                "customer.opened",
                "customer.revised",
            ]

    def test_duplicate_customer_number_is_refused(self, store: Store, actor: Actor) -> None:
        self._add(store, actor, make_individual(31, customer_number="C-1"))
        with store.unit_of_work(actor) as uow:
            with pytest.raises(DuplicateError) as caught:
                uow.customers.add(make_individual(32, customer_number="C-1"))
            uow.commit()
        assert "C-1" not in str(caught.value) or "customer number" in str(caught.value)
        with store.unit_of_work(actor, read_only=True) as uow:
            assert uow.customers.count() == 1
            assert len(uow.audit.entries()) == 1
            assert len(uow.outbox.pending()) == 1

    def test_same_identity_document_cannot_open_two_customers(
        self, store: Store, actor: Actor
    ) -> None:
        first = make_individual(33)
        twin = attrs.evolve(
            make_individual(34),
            identity_documents=first.identity_documents,
            birthday=first.birthday,
        )
        self._add(store, actor, first)
        with store.unit_of_work(actor) as uow, pytest.raises(DuplicateError) as caught:
            uow.customers.add(twin)
        assert first.identity_documents[0].number not in str(caught.value)

    def test_add_many_is_all_or_nothing(self, store: Store, actor: Actor) -> None:
        self._add(store, actor, make_individual(40, customer_number="TAKEN"))
        batch = [make_individual(41), make_individual(42, customer_number="TAKEN")]
        with store.unit_of_work(actor) as uow:
            with pytest.raises(DuplicateError):
                uow.customers.add_many(batch)
            uow.commit()
        with store.unit_of_work(actor, read_only=True) as uow:
            assert uow.customers.count() == 1

    # -- audit and outbox -----------------------------------------------------------

    def test_every_change_is_audited_with_masked_before_and_after(
        self, store: Store, actor: Actor
    ) -> None:
        customer = make_individual(50)
        self._add(store, actor, customer)
        other = Actor("ho-2002", roles=frozenset({"head_office"}))
        with store.unit_of_work(other) as uow:
            current = uow.customers.get(customer.id)
            changed, events = current.revise(
                at=_AT, phones=(Phone(number="13900001111"),), occupation="nurse"
            )
            uow.customers.update(changed, events)
            uow.commit()
        with store.unit_of_work(actor, read_only=True) as uow:
            opened, revised = uow.audit.entries(entity_id=str(customer.id))
        assert (opened.actor, revised.actor) == ("ho-1001", "ho-2002")
        assert opened.sequence < revised.sequence
        assert _is_utc(opened.recorded_at) and _is_utc(revised.recorded_at)
        assert (opened.entity_version, revised.entity_version) == (1, 2)
        assert set(revised.changes) == {"phones", "occupation"}
        assert revised.changes["occupation"] == {"before": None, "after": "nurse"}
        assert "13900001111" not in str(revised.changes)
        assert "139****1111" in str(revised.changes["phones"]["after"])
        assert customer.name not in str(opened.changes)
        assert customer.identity_documents[0].number not in str(opened.changes)

    def test_events_reach_the_outbox_with_the_change(self, store: Store, actor: Actor) -> None:
        customer = make_individual(60)
        self._add(store, actor, customer)
        with store.unit_of_work(actor) as uow:
            changed, events = uow.customers.get(customer.id).revise(at=_AT, occupation="pilot")
            uow.customers.update(changed, events)
            uow.commit()
        with store.unit_of_work(actor) as uow:
            pending = uow.outbox.pending()
            assert [m.event_type for m in pending] == ["CustomerOpened", "CustomerRevised"]
            assert pending[0].aggregate_id == str(customer.id)
            assert pending[1].payload["fields"] == ["occupation"]
            assert _is_utc(pending[0].occurred_at)
            assert isinstance(events[0], CustomerRevised)
            assert pending[1].event_id == events[0].event_id
            uow.outbox.mark_published([pending[0].event_id])
            uow.commit()
        with store.unit_of_work(actor, read_only=True) as uow:
            assert [m.event_type for m in uow.outbox.pending()] == ["CustomerRevised"]

    def test_opening_raises_customer_opened(self, store: Store, actor: Actor) -> None:
        customer = make_corporate(61)
        self._add(store, actor, customer)
        with store.unit_of_work(actor, read_only=True) as uow:
            (message,) = uow.outbox.pending()
        assert message.event_type == CustomerOpened.__name__
        assert message.payload["customer_number"] == customer.customer_number
        assert message.payload["kind"] == "corporate"

    def test_status_change_is_stored(self, store: Store, actor: Actor) -> None:
        prospect = make_individual(62, status=LifecycleStatus.PROSPECT)
        self._add(store, actor, prospect)
        with store.unit_of_work(actor) as uow:
            active, events = uow.customers.get(prospect.id).change_status(
                LifecycleStatus.ACTIVE, at=_AT
            )
            uow.customers.update(active, events)
            uow.commit()
        with store.unit_of_work(actor, read_only=True) as uow:
            assert uow.customers.get(prospect.id).status is LifecycleStatus.ACTIVE
            assert uow.outbox.pending()[-1].payload["new_status"] == "active"

    def test_consent_granted_is_stored(self, store: Store, actor: Actor) -> None:
        customer = make_individual(63)
        self._add(store, actor, customer)
        consent = MarketingConsent(
            channel=Channel.WECHAT,
            purpose="wealth_products",
            valid_from=datetime.date(2025, 2, 1),
            valid_until=datetime.date(2025, 12, 31),
        )
        with store.unit_of_work(actor) as uow:
            granted, events = uow.customers.get(customer.id).grant_consent(consent, at=_AT)
            uow.customers.update(granted, events)
            uow.commit()
        with store.unit_of_work(actor, read_only=True) as uow:
            got = uow.customers.get(customer.id)
        assert got.has_consent(Channel.WECHAT, "wealth_products", datetime.date(2025, 12, 31))
        assert not got.has_consent(Channel.WECHAT, "wealth_products", datetime.date(2026, 1, 1))

    # -- bulk import ---------------------------------------------------------------------

    def _rows(self, count: int, *, bad: set[int] = frozenset()) -> Iterator[dict[str, str]]:  # type: ignore[assignment]
        for i in range(1, count + 1):
            number, born = resident_id_for(1000 + i)
            yield {
                "customer_number": f"IMP{i:05d}",
                "name": "陈静",
                "id_number": number if i not in bad else number[:-1] + "0" * (number[-1] != "0"),
                "birthday": born.isoformat(),
                "mobile": f"139{i:08d}",
                "risk_level": str(1 + i % 5),
            }

    def test_bulk_import_all_or_nothing_writes_nothing_on_a_bad_row(
        self, store: Store, actor: Actor
    ) -> None:
        with store.unit_of_work(actor) as uow:
            report = import_customers(uow, self._rows(25, bad={17}), batch_size=10)
            uow.commit()
        assert (report.rows_read, report.imported, report.rejected_rows) == (25, 0, 1)
        assert report.errors[0].row_number == 17
        assert report.errors[0].field.startswith("id_number")
        with store.unit_of_work(actor, read_only=True) as uow:
            assert uow.customers.count() == 0
            assert uow.audit.entries() == []

    def test_bulk_import_skip_mode_keeps_good_rows(self, store: Store, actor: Actor) -> None:
        self._add(store, actor, make_individual(70, customer_number="IMP00004"))
        with store.unit_of_work(actor) as uow:
            report = import_customers(
                uow, self._rows(25, bad={17}), batch_size=10, mode=ImportMode.SKIP_BAD_ROWS
            )
            uow.commit()
        assert (report.imported, report.rejected_rows) == (23, 2)
        assert sorted(e.row_number for e in report.errors) == [4, 17]
        with store.unit_of_work(actor, read_only=True) as uow:
            assert uow.customers.count() == 24
            assert len(uow.audit.entries(limit=100)) == 24
            assert len(uow.outbox.pending(limit=100)) == 24

    def test_bad_input_is_a_validation_error_before_storage(
        self, store: Store, actor: Actor
    ) -> None:
        with store.unit_of_work(actor) as uow, pytest.raises(ValidationError):
            uow.customers.add("not a customer")  # type: ignore[arg-type]


_CST = datetime.timezone(datetime.timedelta(hours=8))
