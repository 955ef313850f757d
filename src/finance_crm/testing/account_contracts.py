"""The contract for accounts and end-of-day balances (账户, 日终余额).

Subclass :class:`AccountStoreContract` and provide a ``store`` fixture returning a
fresh, empty store; finance_crm runs it on the memory adapter, SQLite and PostgreSQL.

Accounts are built by hand with fixed ids (``A(n)``: ids order as their numbers do) so
every ordered answer below is stated in full.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import attrs
import pytest

from finance_crm.errors import (
    ConflictError,
    DuplicateError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from finance_crm.ids import AccountId, CustomerId
from finance_crm.model.accounts import Account, AccountKind, DailyBalance
from finance_crm.model.customers import Customer
from finance_crm.money import Money
from finance_crm.ports import Store, UnitOfWork
from finance_crm.security import Actor
from finance_crm.testing.factories import make_corporate, make_individual

__all__ = ["AccountStoreContract"]

HEAD_OFFICE = Actor("ho-1", roles=frozenset({"head_office"}))
STRANGER = Actor("stranger")  # no staff record, no roles: an empty scope
D = datetime.date
OPENED = D(2024, 1, 2)
# Digits only, of different lengths: every backend's collation orders them alike
# ("10..." before "9...") and the same as Python's str.
NUMBER_1 = "6222020200112233"
NUMBER_2 = "6222020200998877"
NUMBER_3 = "95588001"


def A(n: int) -> AccountId:
    """The account id numbered ``n`` (ids order as their numbers do)."""
    return AccountId(uuid.UUID(f"00000000-0000-7000-b000-{n:012x}"))


def account(
    n: int,
    customer: Customer | CustomerId,
    number: str | None = None,
    *,
    kind: AccountKind = AccountKind.DEPOSIT,
    currency: str = "CNY",
    opened_on: datetime.date = OPENED,
    **kw: Any,
) -> Account:
    """Account ``A(n)`` of ``customer`` (number ``ACC-000n`` unless given)."""
    return Account(
        id=A(n),
        customer_id=customer if isinstance(customer, uuid.UUID) else customer.id,
        account_number=number or f"ACC-{n:04d}",
        kind=kind,
        currency=currency,
        opened_on=opened_on,
        **kw,
    )


def stored(a: Account, version: int = 1) -> Account:
    return attrs.evolve(a, version=version)


def add_customers(store: Store, *customers: Customer) -> None:
    with store.unit_of_work(HEAD_OFFICE) as uow:
        for customer in customers:
            uow.customers.add(customer)
        uow.commit()


def add_accounts(store: Store, *accounts: Account) -> None:
    with store.unit_of_work(HEAD_OFFICE) as uow:
        uow.accounts.add_many(accounts)
        uow.commit()


def write(store: Store, rows: Sequence[tuple[AccountId, datetime.date, int]]) -> None:
    with store.unit_of_work(HEAD_OFFICE) as uow:
        uow.balances.write(rows)
        uow.commit()


def _balances(uow: UnitOfWork, *ids: AccountId) -> list[tuple[AccountId, datetime.date, int]]:
    found = uow.balances.of_accounts(ids, D(1900, 1, 1), D(2999, 12, 31))
    return [(b.account_id, b.day, b.balance.minor_units) for b in found]


def _snapshot(uow: UnitOfWork, *ids: AccountId) -> tuple[Any, ...]:
    return (
        uow.accounts.count(),
        [uow.accounts.find_by_number(n) for n in (NUMBER_1, NUMBER_2, NUMBER_3)],
        uow.balances.count(),
        _balances(uow, *ids),
        [(e.action, e.entity_id, e.entity_version) for e in uow.audit.entries(limit=100_000)],
    )


def snapshot(store: Store, *ids: AccountId) -> tuple[Any, ...]:
    """What a refused write must leave unchanged (``ids``: accounts whose balances count)."""
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        return _snapshot(uow, *ids)


class AccountStoreContract:
    """The behaviour every store shows for accounts and their daily balances."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        raise NotImplementedError("provide a `store` fixture returning a fresh, empty store")

    @pytest.fixture
    def customers(self, store: Store) -> tuple[Customer, Customer]:
        """An individual and a company, stored."""
        people = (make_individual(1), make_corporate(2))
        add_customers(store, *people)
        return people

    @pytest.fixture
    def booked(self, store: Store, customers: tuple[Customer, Customer]) -> Store:
        """``A(1)`` CNY deposit and ``A(2)`` USD fund of the individual, ``A(3)`` JPY
        wealth account of the company, all stored."""
        person, company = customers
        add_accounts(
            store,
            account(1, person, NUMBER_1),
            account(2, person, NUMBER_2, kind=AccountKind.FUND, currency="USD"),
            account(3, company, NUMBER_3, kind=AccountKind.WEALTH, currency="JPY"),
        )
        return store

    # -- accounts ------------------------------------------------------------------------

    def test_account_round_trip(self, store: Store, customers: tuple[Customer, ...]) -> None:
        person, company = customers
        loan = account(
            1,
            person,
            NUMBER_1,
            kind=AccountKind.LOAN,
            opened_on=D(2023, 3, 31),
            closed_on=D(2024, 2, 29),
            product_code="LOAN-HOUSING-30Y",
        )
        fund = account(2, company, NUMBER_2, kind=AccountKind.FUND, currency="usd")
        add_accounts(store, loan, fund)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.accounts.get(A(1)) == stored(loan)
            assert uow.accounts.get(A(2)) == stored(fund)
            assert uow.accounts.get(A(2)).currency == "USD"
            assert uow.accounts.find_by_number(NUMBER_1) == stored(loan)
            assert uow.accounts.find_by_number(NUMBER_3) is None
            assert uow.accounts.count() == 2
            with pytest.raises(NotFoundError):
                uow.accounts.get(A(9))

    def test_of_customer_lists_open_and_closed_accounts_by_number(
        self, store: Store, customers: tuple[Customer, ...]
    ) -> None:
        person, company = customers
        add_accounts(
            store,
            account(1, person, "62220000000000000001", closed_on=D(2024, 5, 1)),
            account(2, person, "1000"),
            account(3, company, "5000"),
            account(4, person, "95588", kind=AccountKind.LOAN),
        )
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.accounts.add(account(5, person, "7"))  # pending: seen by its own unit
            assert [a.id for a in uow.accounts.of_customer(person.id)] == [A(2), A(1), A(5), A(4)]
            assert [a.id for a in uow.accounts.of_customer(company.id)] == [A(3)]
            assert uow.accounts.of_customer(make_individual(9).id) == []
            assert uow.accounts.count() == 5
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:  # not committed
            assert [a.id for a in uow.accounts.of_customer(person.id)] == [A(2), A(1), A(4)]
            assert uow.accounts.count() == 4

    def test_writes_are_seen_by_others_only_on_commit(
        self, store: Store, customers: tuple[Customer, ...]
    ) -> None:
        person, _ = customers
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.accounts.add(account(1, person, NUMBER_1))
            uow.balances.write([(A(1), D(2024, 6, 30), 100)])
            assert uow.accounts.find_by_number(NUMBER_1) == stored(account(1, person, NUMBER_1))
            assert uow.balances.count() == 1
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as other:
                assert other.accounts.find_by_number(NUMBER_1) is None
                assert (other.accounts.count(), other.balances.count()) == (0, 0)
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as other:
            assert other.accounts.get(A(1)).version == 1
            assert _balances(other, A(1)) == [(A(1), D(2024, 6, 30), 100)]

    @pytest.mark.parametrize(
        "twin",
        [
            pytest.param({"n": 9, "number": NUMBER_1}, id="same-number"),
            pytest.param({"n": 1, "number": "ANOTHER-1"}, id="same-id"),
        ],
    )
    def test_an_account_key_is_unique(
        self, booked: Store, customers: tuple[Customer, ...], twin: dict[str, Any]
    ) -> None:
        store, (_, company) = booked, customers
        before = snapshot(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(DuplicateError) as caught:
                uow.accounts.add(account(twin["n"], company, twin["number"]))
            uow.commit()
        assert NUMBER_1 not in str(caught.value)
        assert snapshot(store) == before
        with store.unit_of_work(HEAD_OFFICE) as uow:  # a pending twin collides too
            uow.accounts.add(account(5, company, "PENDING-5"))
            with pytest.raises(DuplicateError):
                uow.accounts.add(account(6, company, "PENDING-5"))
            with pytest.raises(DuplicateError):
                uow.accounts.add(account(5, company, "PENDING-6"))
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.accounts.count() == 4
            assert uow.accounts.find_by_number("PENDING-6") is None

    def test_add_many_is_all_or_nothing(
        self, booked: Store, customers: tuple[Customer, ...]
    ) -> None:
        store, (person, _) = booked, customers
        before = snapshot(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(DuplicateError):
                uow.accounts.add_many(
                    [
                        account(5, person, "N-5"),
                        account(6, person, "N-6"),
                        account(7, person, "N-5"),
                    ]
                )
            assert uow.accounts.find_by_number("N-5") is None
            assert uow.accounts.count() == 3
            uow.commit()
        assert snapshot(store) == before

    def test_the_customer_must_exist(self, store: Store, customers: tuple[Customer, ...]) -> None:
        before = snapshot(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(NotFoundError):
                uow.accounts.add(account(1, make_individual(99), NUMBER_1))
            with pytest.raises(NotFoundError):
                uow.accounts.add_many([account(2, customers[0]), account(3, make_individual(98))])
            uow.commit()
        assert snapshot(store) == before

    def test_a_new_account_is_version_0_and_an_account(
        self, store: Store, customers: tuple[Customer, ...]
    ) -> None:
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(ValidationError) as caught:
                uow.accounts.add(stored(account(1, customers[0])))
            assert [p.path for p in caught.value.problems] == ["$.version"]
            with pytest.raises(ValidationError):
                uow.accounts.add(customers[0])  # type: ignore[arg-type]
            with pytest.raises(ValidationError):
                uow.accounts.update(customers[0])  # type: ignore[arg-type]
            assert uow.accounts.count() == 0

    def test_closing_and_product_code_changes_are_versioned_and_audited(
        self, booked: Store
    ) -> None:
        store = booked
        with store.unit_of_work(HEAD_OFFICE) as uow:
            current = uow.accounts.get(A(1))
            closed = uow.accounts.update(attrs.evolve(current, closed_on=D(2025, 3, 31)))
            assert closed.version == 2
            coded = uow.accounts.update(attrs.evolve(closed, product_code="DEP-3M"))
            assert coded.version == 3
            assert uow.accounts.get(A(1)) == coded  # seen at once in its own unit
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            final = uow.accounts.get(A(1))
            assert final == attrs.evolve(
                current, closed_on=D(2025, 3, 31), product_code="DEP-3M", version=3
            )
            assert uow.accounts.find_by_number(NUMBER_1) == final
            entries = uow.audit.entries(entity_id=str(A(1)))
        assert [(e.action, e.entity_type, e.entity_version) for e in entries] == [
            ("account.added", "account", 1),
            ("account.revised", "account", 2),
            ("account.revised", "account", 3),
        ]
        assert entries[1].changes == {"closed_on": {"before": None, "after": "2025-03-31"}}
        assert entries[2].changes == {"product_code": {"before": None, "after": "DEP-3M"}}
        assert all(e.actor == "ho-1" for e in entries)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("customer_id", make_corporate(2).id),
            ("account_number", "6222999999999999"),
            ("kind", AccountKind.LOAN),
            ("currency", "EUR"),
            ("opened_on", D(2024, 1, 3)),
        ],
    )
    def test_only_the_closing_date_and_product_code_may_change(
        self, booked: Store, field: str, value: object
    ) -> None:
        store = booked
        before = snapshot(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            current = uow.accounts.get(A(1))
            with pytest.raises(ValidationError) as caught:
                changes: dict[str, Any] = {field: value}
                uow.accounts.update(attrs.evolve(current, **changes))
            assert [p.path for p in caught.value.problems] == [f"$.{field}"]
            uow.commit()
        assert snapshot(store) == before

    def test_stale_and_unknown_updates_are_refused(self, booked: Store) -> None:
        store = booked
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            read_by_a = uow.accounts.get(A(1))
            read_by_b = uow.accounts.get(A(1))
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.accounts.update(attrs.evolve(read_by_a, product_code="A"))
            uow.commit()
        before = snapshot(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(ConflictError):
                uow.accounts.update(attrs.evolve(read_by_b, product_code="B"))
            uow.commit()
        assert snapshot(store) == before
        with store.unit_of_work(HEAD_OFFICE) as uow:  # stale within one unit of work
            current = uow.accounts.get(A(1))
            uow.accounts.update(attrs.evolve(current, product_code="C"))
            with pytest.raises(ConflictError):
                uow.accounts.update(attrs.evolve(current, product_code="D"))
            with pytest.raises(NotFoundError):
                uow.accounts.update(attrs.evolve(current, id=A(9), account_number="NEW"))
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert (uow.accounts.get(A(1)).product_code, uow.accounts.get(A(1)).version) == (
                "C",
                3,
            )

    def test_the_audit_masks_the_account_number(
        self, store: Store, customers: tuple[Customer, ...]
    ) -> None:
        person, _ = customers
        add_accounts(
            store, account(1, person, NUMBER_1, product_code="P1", closed_on=D(2025, 1, 1))
        )
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            (added,) = uow.audit.entries(entity_id=str(A(1)))
        assert (added.action, added.entity_type, added.entity_version) == (
            "account.added",
            "account",
            1,
        )
        assert added.changes == {
            "customer_id": {"before": None, "after": str(person.id)},
            "account_number": {"before": None, "after": "622202******2233"},
            "kind": {"before": None, "after": "deposit"},
            "currency": {"before": None, "after": "CNY"},
            "opened_on": {"before": None, "after": "2024-01-02"},
            "closed_on": {"before": None, "after": "2025-01-01"},
            "product_code": {"before": None, "after": "P1"},
        }
        assert NUMBER_1 not in repr(added)

    def test_an_empty_scope_may_not_write(self, booked: Store) -> None:
        store = booked
        write(store, [(A(1), D(2024, 6, 30), 100)])
        before = snapshot(store, A(1))
        with store.unit_of_work(STRANGER) as uow:
            current = uow.accounts.get(A(1))  # reads are allowed
            assert uow.accounts.find_by_number(NUMBER_1) == current
            assert uow.balances.resolve([NUMBER_1]) == {NUMBER_1: (A(1), "CNY")}
            assert len(_balances(uow, A(1))) == 1
            customer_id = current.customer_id
            with pytest.raises(PermissionDenied):
                uow.accounts.add(account(5, customer_id, "NEW-5"))
            with pytest.raises(PermissionDenied):
                uow.accounts.add_many([account(5, customer_id, "NEW-5")])
            with pytest.raises(PermissionDenied):
                uow.accounts.update(attrs.evolve(current, product_code="X"))
            with pytest.raises(PermissionDenied):
                uow.balances.clear_day(D(2024, 6, 30))
            with pytest.raises(PermissionDenied):
                uow.balances.write([(A(1), D(2024, 7, 1), 100)])
            uow.commit()
        assert snapshot(store, A(1)) == before

    def test_a_read_only_unit_of_work_refuses_writes(self, booked: Store) -> None:
        store = booked
        write(store, [(A(1), D(2024, 6, 30), 100)])
        before = snapshot(store, A(1))
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            current = uow.accounts.get(A(1))
            with pytest.raises(ConflictError):
                uow.accounts.add(account(5, current.customer_id, "NEW-5"))
            with pytest.raises(ConflictError):
                uow.accounts.update(attrs.evolve(current, product_code="X"))
            with pytest.raises(ConflictError):
                uow.balances.clear_day(D(2024, 6, 30))
            with pytest.raises(ConflictError):
                uow.balances.write([(A(1), D(2024, 7, 1), 100)])
        assert snapshot(store, A(1)) == before

    def test_rollback_leaves_nothing(self, store: Store, customers: tuple[Customer, ...]) -> None:
        person, _ = customers
        before = snapshot(store)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.accounts.add(account(1, person, NUMBER_1))
            uow.balances.write([(A(1), D(2024, 6, 30), 100)])
            uow.balances.record_feed(D(2024, 6, 30), replaced=0, loaded=1)
            uow.rollback()
            assert (uow.accounts.count(), uow.balances.count()) == (0, 0)
            assert uow.accounts.find_by_number(NUMBER_1) is None
            uow.accounts.add(account(2, person, NUMBER_2))
            # leaving without commit rolls back too
        assert snapshot(store) == before
        with pytest.raises(RuntimeError), store.unit_of_work(HEAD_OFFICE) as uow:
            uow.accounts.add(account(1, person, NUMBER_1))
            raise RuntimeError("host failure")
        assert snapshot(store) == before
        add_accounts(store, account(1, person, NUMBER_1))  # no leftovers in the way
        write(store, [(A(1), D(2024, 6, 30), 100)])

    def test_savepoint_undoes_only_its_part(self, booked: Store) -> None:
        store = booked
        write(store, [(A(1), D(2024, 6, 29), 50)])
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            audited = len(uow.audit.entries(limit=100_000))
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.balances.write([(A(1), D(2024, 6, 30), 100)])
            current = uow.accounts.get(A(2))
            with pytest.raises(DuplicateError), uow.savepoint():
                assert uow.balances.clear_day(D(2024, 6, 29)) == 1
                uow.balances.write([(A(2), D(2024, 6, 30), 7)])
                uow.accounts.update(attrs.evolve(current, product_code="X"))
                uow.accounts.add(account(5, current.customer_id, "NEW-5"))
                uow.accounts.add(account(6, current.customer_id, "NEW-5"))
            assert uow.accounts.get(A(2)) == current
            assert uow.accounts.find_by_number("NEW-5") is None
            assert _balances(uow, A(1), A(2)) == [
                (A(1), D(2024, 6, 29), 50),
                (A(1), D(2024, 6, 30), 100),
            ]
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.accounts.count() == 3 and uow.balances.count() == 2
            assert uow.accounts.get(A(2)).version == 1
            assert len(uow.audit.entries(limit=100_000)) == audited

    # -- balances ------------------------------------------------------------------------

    def test_resolve_gives_id_and_currency_of_known_numbers(self, booked: Store) -> None:
        store = booked
        with store.unit_of_work(HEAD_OFFICE) as uow:
            person = uow.accounts.get(A(1)).customer_id
            uow.accounts.add(account(5, person, "PENDING-5", currency="hkd"))
            assert uow.balances.resolve([NUMBER_1, NUMBER_3, "PENDING-5", "NOPE", NUMBER_1]) == {
                NUMBER_1: (A(1), "CNY"),
                NUMBER_3: (A(3), "JPY"),
                "PENDING-5": (A(5), "HKD"),
            }
            assert uow.balances.resolve([]) == {}
            assert uow.balances.resolve({"nope"}) == {}

    def test_balances_keep_exact_minor_units_in_the_accounts_currency(self, booked: Store) -> None:
        store = booked
        day = D(2024, 6, 30)
        big = 9_007_199_254_740_993  # 2**53 + 1: a float could not hold it
        write(store, [(A(1), day, 1), (A(2), day, -250), (A(3), day, big)])
        write(store, [(A(1), D(2024, 7, 1), 0)])
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            found = uow.balances.of_accounts([A(3), A(1), A(2)], day, D(2024, 7, 1))
            assert uow.balances.count() == 4
        assert found == [
            DailyBalance(A(1), day, Money(Decimal("0.01"), "CNY")),
            DailyBalance(A(1), D(2024, 7, 1), Money(Decimal("0.00"), "CNY")),
            DailyBalance(A(2), day, Money(Decimal("-2.50"), "USD")),
            DailyBalance(A(3), day, Money(Decimal(big), "JPY")),
        ]
        assert [b.balance.minor_units for b in found] == [1, 0, -250, big]
        assert all(type(b.day) is datetime.date for b in found)

    def test_of_accounts_gives_the_range_and_the_last_balance_before_it(
        self, booked: Store
    ) -> None:
        store = booked
        write(
            store,
            [
                (A(1), D(2024, 3, 1), 10),
                (A(1), D(2024, 3, 31), 11),  # the last before April: carried in
                (A(1), D(2024, 4, 1), 12),
                (A(1), D(2024, 4, 15), 13),
                (A(1), D(2024, 4, 30), 14),
                (A(1), D(2024, 5, 1), 15),  # after the range
                (A(2), D(2023, 12, 31), 20),  # only one before the range
                (A(3), D(2024, 4, 20), 30),  # nothing before the range
            ],
        )

        def of(ids: Sequence[AccountId], start: datetime.date, end: datetime.date) -> list[Any]:
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
                found = uow.balances.of_accounts(ids, start, end)
            return [(b.account_id, b.day, b.balance.minor_units) for b in found]

        april = (D(2024, 4, 1), D(2024, 4, 30))
        assert of([A(3), A(2), A(1)], *april) == [
            (A(1), D(2024, 3, 31), 11),
            (A(1), D(2024, 4, 1), 12),
            (A(1), D(2024, 4, 15), 13),
            (A(1), D(2024, 4, 30), 14),
            (A(2), D(2023, 12, 31), 20),
            (A(3), D(2024, 4, 20), 30),
        ]
        assert of([A(1)], D(2024, 4, 2), D(2024, 4, 2)) == [(A(1), D(2024, 4, 1), 12)]
        assert of([A(1)], D(2024, 4, 15), D(2024, 4, 15)) == [
            (A(1), D(2024, 4, 1), 12),  # before the range, though the range has one too
            (A(1), D(2024, 4, 15), 13),
        ]
        assert of([A(1), A(3)], D(2024, 1, 1), D(2024, 2, 29)) == []
        assert of([A(3)], D(2030, 1, 1), D(2030, 12, 31)) == [(A(3), D(2024, 4, 20), 30)]
        assert of([], *april) == []
        assert of([A(2)], D(2024, 1, 1), D(2024, 12, 31)) == [(A(2), D(2023, 12, 31), 20)]
        with (
            store.unit_of_work(HEAD_OFFICE, read_only=True) as uow,
            pytest.raises(NotFoundError),
        ):
            uow.balances.of_accounts([A(1), A(9)], *april)  # an unknown account

    def test_a_duplicate_write_stores_nothing_of_that_call(self, booked: Store) -> None:
        store = booked
        day = D(2024, 6, 30)
        write(store, [(A(1), day, 100)])
        before = snapshot(store, A(1), A(2), A(3))
        for rows in (
            [(A(2), day, 1), (A(1), day, 2)],  # A(1) on that day is stored
            [(A(2), day, 1), (A(3), day, 5), (A(2), day, 1)],  # twice in one call
        ):
            with store.unit_of_work(HEAD_OFFICE) as uow:
                with pytest.raises(DuplicateError):
                    uow.balances.write(rows)
                assert uow.balances.count() == 1
                assert _balances(uow, A(2), A(3)) == []
                uow.commit()
            assert snapshot(store, A(1), A(2), A(3)) == before
        with store.unit_of_work(HEAD_OFFICE) as uow:  # a pending balance collides too
            uow.balances.write([(A(2), day, 1)])
            with pytest.raises(DuplicateError):
                uow.balances.write([(A(3), day, 3), (A(2), day, 2)])
            assert _balances(uow, A(2), A(3)) == [(A(2), day, 1)]
            uow.balances.write([(A(1), D(2024, 7, 1), 3)])  # the same account, another day
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.balances.count() == 3

    def test_clear_day_removes_one_day_and_says_how_many(self, booked: Store) -> None:
        store = booked
        day, other = D(2024, 6, 30), D(2024, 7, 1)
        write(store, [(A(1), day, 1), (A(2), day, 2), (A(3), day, 3), (A(1), other, 4)])
        with store.unit_of_work(HEAD_OFFICE) as uow:
            assert uow.balances.clear_day(D(2024, 1, 1)) == 0
            assert uow.balances.clear_day(day) == 3
            assert uow.balances.count() == 1
            assert uow.balances.clear_day(day) == 0
            uow.balances.write([(A(1), day, 10)])  # the day may be written again
            uow.balances.write([(A(2), day, 20)])
            assert uow.balances.clear_day(day) == 2  # pending balances count too
            uow.balances.write([(A(1), day, 100), (A(3), day, 300)])
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as reader:
                assert reader.balances.count() == 4  # nothing is gone before commit
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert _balances(uow, A(1), A(2), A(3)) == [
                (A(1), day, 100),
                (A(1), other, 4),
                (A(3), day, 300),
            ]
            assert uow.balances.count() == 3
            assert uow.audit.entries(entity_id=day.isoformat()) == []  # audited by record_feed

    def test_record_feed_audits_the_day(self, booked: Store) -> None:
        store = booked
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.balances.record_feed(D(2024, 6, 30), replaced=3, loaded=2)
            uow.balances.record_feed(D(2024, 7, 1), replaced=0, loaded=5)
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            (first,) = uow.audit.entries(entity_id="2024-06-30")
            (second,) = uow.audit.entries(entity_id="2024-07-01")
            assert uow.balances.count() == 0  # an audit record, not balances
        assert (first.action, first.entity_type, first.actor) == (
            "balances.loaded",
            "balance_day",
            "ho-1",
        )
        assert first.changes == {"balances": {"before": 3, "after": 2}}
        assert second.changes == {"balances": {"before": 0, "after": 5}}
        assert first.sequence < second.sequence

    def test_record_feed_is_a_write(self, booked: Store) -> None:
        store = booked
        before = snapshot(store)
        with (
            store.unit_of_work(HEAD_OFFICE, read_only=True) as uow,
            pytest.raises(ConflictError),
        ):
            uow.balances.record_feed(D(2024, 6, 30), replaced=0, loaded=1)
        with store.unit_of_work(STRANGER) as uow:
            with pytest.raises(PermissionDenied):
                uow.balances.record_feed(D(2024, 6, 30), replaced=0, loaded=1)
            uow.commit()
        assert snapshot(store) == before

    def test_balance_count(self, booked: Store) -> None:
        store = booked
        rows = [
            (A(n), D(2024, 1, 1) + datetime.timedelta(days=d), d)
            for n in (1, 2, 3)
            for d in range(40)
        ]
        write(store, rows)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            assert uow.balances.count() == 120
            uow.balances.clear_day(D(2024, 1, 1))
            uow.balances.write([(A(1), D(2025, 1, 1), 1)])
            assert uow.balances.count() == 118
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.balances.count() == 120
            assert len(_balances(uow, A(1), A(2), A(3))) == 120
