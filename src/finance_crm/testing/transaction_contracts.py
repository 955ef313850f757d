"""The contract for transactions, securities trades and contribution (交易, 证券交易, 贡献度).

Subclass :class:`TransactionStoreContract` and provide a ``store`` fixture returning a
fresh, empty store; finance_crm runs it on the memory adapter, SQLite and PostgreSQL.

It covers ``uow.transactions`` and ``uow.contributions`` and the services built on them
(:func:`~finance_crm.services.transactions.load_transactions`,
:func:`~finance_crm.services.transactions.load_contributions`,
:func:`~finance_crm.services.transactions.contribution`,
:func:`~finance_crm.services.transactions.traded_sectors`). Accounts are built by hand
with fixed ids (``A(n)``: ids order as their numbers do, and unlike their account
numbers), references have one shape (so every backend's collation orders them alike),
and every answer below is written out in full.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pytest

from finance_crm.errors import (
    ConflictError,
    DuplicateError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from finance_crm.ids import AccountId
from finance_crm.model.accounts import Account, AccountKind
from finance_crm.model.customers import Customer
from finance_crm.model.transactions import ContributionFigure, Transaction, TransactionKind
from finance_crm.money import Money
from finance_crm.ports import Store, UnitOfWork
from finance_crm.security import Actor
from finance_crm.services.customer_import import ImportMode, RowError
from finance_crm.services.transactions import (
    ContributionRow,
    FeedReport,
    SectorLine,
    TransactionRow,
    contribution,
    load_contributions,
    load_transactions,
    traded_sectors,
)
from finance_crm.testing.factories import make_corporate, make_individual

__all__ = ["TransactionStoreContract"]

HEAD_OFFICE = Actor("ho-1", roles=frozenset({"head_office"}))
STRANGER = Actor("stranger")  # no staff record, no roles: an empty scope
D = datetime.date
ALL = ImportMode.ALL_OR_NOTHING
SKIP = ImportMode.SKIP_BAD_ROWS
K = TransactionKind
DAY1, DAY2, DAY3 = D(2025, 9, 1), D(2025, 9, 2), D(2025, 9, 3)
JUL, AUG, SEP = D(2025, 7, 1), D(2025, 8, 1), D(2025, 9, 1)
EVER = (D(1900, 1, 1), D(2999, 12, 31))
BIG = 2**53 + 1  # minor units a float could not hold
# Digits only: the account numbers order unlike the ids (NUMBER_4 first by number).
NUMBER_1 = "6222020200112233"  # A(1): the person's CNY deposit account
NUMBER_2 = "6222020200998877"  # A(2): the person's USD securities account
NUMBER_3 = "95588001"  # A(3): the company's JPY securities account
NUMBER_4 = "10000004"  # A(4): the person's CNY securities account
NUMBERS = {1: NUMBER_1, 2: NUMBER_2, 3: NUMBER_3, 4: NUMBER_4}
CURRENCIES = {NUMBER_1: "CNY", NUMBER_2: "USD", NUMBER_3: "JPY", NUMBER_4: "CNY"}
UNKNOWN_NUMBER = "6222999999999999"

_BAD_DAY = "must be a date (YYYY-MM-DD)"
_BAD_AMOUNT = "must be a decimal amount (text or Decimal, not float)"
_NOT_POSITIVE = "must be a positive Money amount (the kind says which way it went)"
_TOO_FINE = "has more decimal places than the currency has"
_TOO_LARGE = "is too large to store"
_NO_ACCOUNT = "no account with this number; feed the account first"
_MISMATCH = "differs from the account's currency"
_NO_CODE = "must be an ISO 4217 code"
_NO_INSTRUMENT = "a trade names its instrument"
_NOT_A_TRADE = "only a trade (buy, sell) has an instrument, sector or quantity"
_BAD_QUANTITY = "must be a decimal quantity (not a float)"
_QUANTITY = "must be a positive quantity with at most 6 decimal places"
_REFERENCE = (
    "must be the core system's transaction reference: 1-64 letters, digits or "
    "'.', '_', ':', '/', '-'"
)
_INSTRUMENT = "must be an instrument code such as 600036.SH (letters, digits, '.', '_', '-')"
_SECTOR = "must be a sector name of at most 60 characters"
_KIND = "must be one of " + ", ".join(k.value for k in TransactionKind)
_SECOND_REFERENCE = "a second transaction with this reference on the account"
_NO_CUSTOMER = "no customer with this number"
_BAD_MONTH = "must be a month (YYYY-MM) or a date"
_SECOND_FIGURE = "a second figure for this customer, month and currency in the feed"


def A(n: int) -> AccountId:
    """The account id numbered ``n`` (ids order as their numbers do)."""
    return AccountId(uuid.UUID(f"00000000-0000-7000-b000-{n:012x}"))


def money(amount: str | int, code: str = "CNY") -> Money:
    return Money.of(amount, code)


def txn(
    n: int,
    day: datetime.date,
    reference: str,
    kind: TransactionKind = K.DEPOSIT,
    amount: str | int = "1.00",
    **trade: Any,
) -> Transaction:
    """A transaction on account ``A(n)``, in that account's currency."""
    code = CURRENCIES[NUMBERS[n]]
    return Transaction(
        account_id=A(n),
        day=day,
        reference=reference,
        kind=kind,
        amount=money(amount, code),
        **trade,
    )


def figure(
    customer: Customer, month: datetime.date, amount: str, code: str = "CNY"
) -> ContributionFigure:
    return ContributionFigure(customer_id=customer.id, month=month, amount=money(amount, code))


def row(number: str, day: Any, reference: Any, kind: Any = "deposit", **fields: Any) -> Any:
    """A transaction feed row (a mapping) of 1.00 in the account's currency unless given."""
    return {
        "account_number": number,
        "day": day,
        "reference": reference,
        "kind": kind,
        "amount": "1.00",
        "currency": CURRENCIES.get(number, "CNY"),
        **fields,
    }


def buy(number: str, day: Any, reference: str, **fields: Any) -> Any:
    return row(number, day, reference, "buy", **({"instrument": "600036.SH"} | fields))


def fig_row(customer: Customer, month: Any, amount: Any, code: Any = "CNY") -> Any:
    return {
        "customer_number": customer.customer_number,
        "month": month,
        "amount": amount,
        "currency": code,
    }


def write(store: Store, transactions: Sequence[Transaction]) -> None:
    with store.unit_of_work(HEAD_OFFICE) as uow:
        uow.transactions.write(transactions)
        uow.commit()


def write_figures(store: Store, figures: Sequence[ContributionFigure]) -> None:
    with store.unit_of_work(HEAD_OFFICE) as uow:
        uow.contributions.write(figures)
        uow.commit()


def load(store: Store, rows: Any, actor: Actor = HEAD_OFFICE, **kwargs: Any) -> FeedReport:
    with store.unit_of_work(actor) as uow:
        report = load_transactions(uow, rows, **kwargs)
        uow.commit()
    return report


def load_figures(store: Store, rows: Any, **kwargs: Any) -> FeedReport:
    with store.unit_of_work(HEAD_OFFICE) as uow:
        report = load_contributions(uow, rows, **kwargs)
        uow.commit()
    return report


def _of(uow: UnitOfWork, customer: Customer) -> list[tuple[Any, ...]]:
    """The customer's transactions as (account number, day, reference, kind, amount,
    instrument, sector, quantity), in the store's order."""
    numbers = {A(n): number for n, number in NUMBERS.items()}
    return [
        (
            numbers[t.account_id],
            t.day,
            t.reference,
            t.kind.value,
            t.amount,
            t.instrument,
            t.sector,
            t.quantity,
        )
        for t in uow.transactions.of_customer(customer.id, *EVER)
    ]


def _txns(uow: UnitOfWork, customer: Customer) -> list[Transaction]:
    return uow.transactions.of_customer(customer.id, *EVER)


def _figures(uow: UnitOfWork, customer: Customer) -> list[tuple[datetime.date, Money]]:
    return [(f.month, f.amount) for f in uow.contributions.of_customer(customer.id, *EVER)]


def _snapshot(uow: UnitOfWork, *people: Customer) -> tuple[Any, ...]:
    return (
        uow.transactions.count(),
        uow.contributions.count(),
        [_of(uow, p) for p in people],
        [_figures(uow, p) for p in people],
        [(e.action, e.entity_id, e.changes) for e in uow.audit.entries(limit=100_000)],
    )


def snapshot(store: Store, *people: Customer) -> tuple[Any, ...]:
    """What a refused write must leave unchanged (``people``: whose rows count)."""
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        return _snapshot(uow, *people)


def feed_audit(store: Store, action: str = "transactions.loaded") -> list[tuple[Any, ...]]:
    with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
        entries = uow.audit.entries(limit=100_000)
    return [(e.entity_id, e.changes) for e in entries if e.action == action]


def assert_no_values(report: FeedReport, *values: str) -> None:
    text = " ".join(str(e) for e in report.errors)
    for value in values:
        assert value not in text


class TransactionStoreContract:
    """The behaviour every store shows for transactions, trades and contribution."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        raise NotImplementedError("provide a `store` fixture returning a fresh, empty store")

    @pytest.fixture
    def people(self, store: Store) -> tuple[Customer, Customer]:
        """An individual and a company, stored."""
        found = (make_individual(1), make_corporate(2))
        with store.unit_of_work(HEAD_OFFICE) as uow:
            for customer in found:
                uow.customers.add(customer)
            uow.commit()
        return found

    @pytest.fixture
    def booked(self, store: Store, people: tuple[Customer, Customer]) -> Store:
        """The accounts of :data:`NUMBERS`: ``A(1)``, ``A(2)`` and ``A(4)`` of the
        individual, ``A(3)`` of the company."""
        person, company = people
        kinds = {1: AccountKind.DEPOSIT, 2: AccountKind.SECURITIES}
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.accounts.add_many(
                [
                    Account(
                        id=A(n),
                        customer_id=(company if n == 3 else person).id,
                        account_number=number,
                        kind=kinds.get(n, AccountKind.SECURITIES),
                        currency=CURRENCIES[number],
                        opened_on=D(2024, 1, 2),
                    )
                    for n, number in NUMBERS.items()
                ]
            )
            uow.commit()
        return store

    # -- transactions: the repository ---------------------------------------------------

    def test_a_transaction_round_trips_exactly(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, company) = booked, people
        written = [
            txn(1, DAY1, "R0001", K.DEPOSIT, "0.01"),
            txn(2, DAY1, "R0002", K.BUY, "1234.56", instrument="AAPL.O"),
            txn(
                4,
                DAY1,
                "CORE:2025/09/01-000001.a_b",
                K.BUY,
                "120000.00",
                instrument="600036.SH",
                sector="银行",
                quantity=Decimal("3000.123456"),
            ),
            txn(4, DAY2, "R0003", K.SELL, "99999999.99", instrument="000858.SZ", sector="酿酒"),
            txn(3, DAY1, "R0001", K.SELL, BIG, instrument="7203.T", quantity=Decimal(100)),
        ]
        write(store, written)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            mine = uow.transactions.of_customer(person.id, *EVER)
            theirs = uow.transactions.of_customer(company.id, *EVER)
            assert uow.transactions.count() == 5
        assert mine == [written[0], written[1], written[2], written[3]]
        assert theirs == [written[4]]
        assert theirs[0].amount.minor_units == BIG
        assert mine[2].quantity == Decimal("3000.123456")
        assert all(type(t.day) is datetime.date for t in mine)
        assert all(type(t.quantity) is Decimal for t in (mine[2], theirs[0]))

    def test_of_customer_orders_by_day_then_account_then_reference(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, company) = booked, people
        write(
            store,
            [
                txn(4, DAY2, "R0005"),
                txn(1, DAY2, "R0010"),
                txn(2, DAY1, "R0007"),
                txn(4, DAY1, "R0002"),
                txn(1, DAY2, "R0002"),
                txn(3, DAY1, "R0001"),  # the company's
                txn(1, DAY1, "R0009"),
                txn(4, DAY1, "R0001"),
                txn(2, DAY2, "R0003"),
            ],
        )
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            found = [(t.day, t.account_id, t.reference) for t in _txns(uow, person)]
            assert [(t.account_id, t.reference) for t in _txns(uow, company)] == [(A(3), "R0001")]
        # by account id (A(1), A(2), A(4)), not by account number (A(4)'s is lowest)
        assert found == [
            (DAY1, A(1), "R0009"),
            (DAY1, A(2), "R0007"),
            (DAY1, A(4), "R0001"),
            (DAY1, A(4), "R0002"),
            (DAY2, A(1), "R0002"),
            (DAY2, A(1), "R0010"),
            (DAY2, A(2), "R0003"),
            (DAY2, A(4), "R0005"),
        ]

    def test_of_customer_includes_both_ends_of_the_period(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, _) = booked, people
        days = [D(2024, 6, 29), D(2024, 6, 30), D(2024, 7, 1), D(2024, 7, 31), D(2024, 8, 1)]
        write(store, [txn(1, day, f"R{i:04d}") for i, day in enumerate(days)])

        def refs(start: datetime.date, end: datetime.date) -> list[str]:
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
                return [t.reference for t in uow.transactions.of_customer(person.id, start, end)]

        assert refs(D(2024, 6, 30), D(2024, 7, 31)) == ["R0001", "R0002", "R0003"]
        assert refs(D(2024, 7, 1), D(2024, 7, 1)) == ["R0002"]
        assert refs(D(2024, 7, 2), D(2024, 7, 30)) == []
        assert refs(D(2024, 8, 1), D(2030, 1, 1)) == ["R0004"]
        assert refs(D(2000, 1, 1), D(2024, 6, 29)) == ["R0000"]
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.transactions.of_customer(make_individual(9).id, *EVER) == []

    def test_of_customer_sees_pending_accounts_and_transactions(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, company) = booked, people
        write(store, [txn(1, DAY1, "R0001")])
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.accounts.add(
                Account(
                    id=A(5),
                    customer_id=company.id,
                    account_number="70000005",
                    kind=AccountKind.DEPOSIT,
                    currency="CNY",
                    opened_on=D(2024, 1, 2),
                )
            )
            fee = Transaction(
                account_id=A(5), day=DAY1, reference="R0001", kind=K.FEE, amount=money("2.00")
            )
            uow.transactions.write([txn(1, DAY2, "R0002"), fee])
            assert [t.reference for t in uow.transactions.of_customer(person.id, *EVER)] == [
                "R0001",
                "R0002",
            ]
            assert uow.transactions.of_customer(company.id, *EVER) == [fee]
            assert uow.transactions.count() == 3
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as other:
                assert other.transactions.count() == 1  # nothing is seen before commit
                assert other.transactions.of_customer(company.id, *EVER) == []
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.transactions.count() == 3
            assert uow.transactions.of_customer(company.id, *EVER) == [fee]

    def test_a_duplicate_write_stores_nothing_of_that_call(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store = booked
        write(store, [txn(1, DAY1, "R0001")])
        before = snapshot(store, *people)
        for batch in (
            [txn(2, DAY1, "R0009"), txn(1, DAY1, "R0001", amount="5.00")],  # stored
            [txn(2, DAY1, "R0009"), txn(1, DAY3, "R0001")],  # stored, on another day
            [txn(2, DAY1, "R0009"), txn(3, DAY1, "R0008"), txn(2, DAY2, "R0009")],  # twins
        ):
            with store.unit_of_work(HEAD_OFFICE) as uow:
                with pytest.raises(DuplicateError) as caught:
                    uow.transactions.write(batch)
                assert uow.transactions.count() == 1
                assert _snapshot(uow, *people) == before
                uow.commit()
            assert snapshot(store, *people) == before
            assert NUMBER_1 not in str(caught.value) and "R0001" not in str(caught.value)
        with store.unit_of_work(HEAD_OFFICE) as uow:  # a pending transaction collides too
            uow.transactions.write([txn(2, DAY1, "R0009")])
            with pytest.raises(DuplicateError):
                uow.transactions.write([txn(3, DAY1, "R0003"), txn(2, DAY2, "R0009")])
            assert uow.transactions.count() == 2
            # the same reference on another account is another transaction
            uow.transactions.write([txn(2, DAY1, "R0001"), txn(4, DAY1, "R0001")])
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.transactions.count() == 4

    def test_write_takes_transactions_only(self, booked: Store) -> None:
        store = booked
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(ValidationError) as caught:
                uow.transactions.write([txn(1, DAY1, "R0001"), "R0002"])  # type: ignore[list-item]
            assert [p.path for p in caught.value.problems] == ["$"]
            uow.transactions.write([])
            assert uow.transactions.count() == 0

    def test_a_transaction_of_an_unknown_account_is_refused(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store = booked
        before = snapshot(store, *people)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            stray = Transaction(
                account_id=A(99), day=DAY1, reference="R0001", kind=K.FEE, amount=money("1.00")
            )
            with pytest.raises(NotFoundError):
                uow.transactions.write([txn(1, DAY1, "R0001"), stray])
            assert uow.transactions.count() == 0
            uow.commit()
        assert snapshot(store, *people) == before

    def test_clear_day_removes_one_day_and_says_how_many(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, company) = booked, people
        write(
            store,
            [
                txn(1, DAY1, "R0001"),
                txn(2, DAY1, "R0002"),
                txn(3, DAY1, "R0003"),
                txn(1, DAY2, "R0004"),
            ],
        )
        with store.unit_of_work(HEAD_OFFICE) as uow:
            assert uow.transactions.clear_day(D(2025, 1, 1)) == 0
            assert uow.transactions.clear_day(DAY1) == 3
            assert uow.transactions.count() == 1
            assert uow.transactions.clear_day(DAY1) == 0
            # the cleared day's references are free again, on any day
            uow.transactions.write([txn(1, DAY1, "R0001", amount="10.00")])
            uow.transactions.write([txn(2, DAY3, "R0002")])
            assert uow.transactions.clear_day(DAY1) == 1  # a pending transaction counts too
            uow.transactions.write([txn(1, DAY1, "R0001", amount="100.00")])
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as reader:
                assert reader.transactions.count() == 4  # nothing is gone before commit
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert [(t.day, t.reference, t.amount) for t in _txns(uow, person)] == [
                (DAY1, "R0001", money("100.00")),
                (DAY2, "R0004", money("1.00")),
                (DAY3, "R0002", money("1.00", "USD")),
            ]
            assert _txns(uow, company) == []
            assert uow.transactions.count() == 3
            assert uow.audit.entries(entity_id=DAY1.isoformat()) == []  # record_feed audits

    def test_record_feed_audits_the_day(self, booked: Store) -> None:
        store = booked
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.transactions.record_feed(DAY1, replaced=3, loaded=2)
            uow.transactions.record_feed(DAY2, replaced=0, loaded=5)
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            (first,) = uow.audit.entries(entity_id="2025-09-01")
            (second,) = uow.audit.entries(entity_id="2025-09-02")
            assert uow.transactions.count() == 0  # an audit record, not transactions
        assert (first.action, first.entity_type, first.entity_version, first.actor) == (
            "transactions.loaded",
            "transaction_day",
            1,
            "ho-1",
        )
        assert first.changes == {"transactions": {"before": 3, "after": 2}}
        assert second.changes == {"transactions": {"before": 0, "after": 5}}
        assert first.sequence < second.sequence

    def test_transaction_count(self, booked: Store) -> None:
        store = booked
        write(
            store,
            [
                txn(n, DAY1 + datetime.timedelta(days=d), f"R{d:04d}")
                for n in (1, 2, 3)
                for d in range(40)
            ],
        )
        with store.unit_of_work(HEAD_OFFICE) as uow:
            assert uow.transactions.count() == 120
            assert uow.transactions.clear_day(DAY1) == 3
            uow.transactions.write([txn(4, DAY1, "R0000")])
            assert uow.transactions.count() == 118
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.transactions.count() == 120

    # -- contributions: the repository --------------------------------------------------

    def test_resolve_gives_the_ids_of_known_customer_numbers(
        self, store: Store, people: tuple[Customer, Customer]
    ) -> None:
        person, company = people
        late = make_individual(3)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.customers.add(late)
            numbers = [person.customer_number, late.customer_number, "P999999999"]
            assert uow.contributions.resolve([*numbers, person.customer_number]) == {
                person.customer_number: person.id,
                late.customer_number: late.id,  # pending: seen by its own unit of work
            }
            assert uow.contributions.resolve({company.customer_number}) == {
                company.customer_number: company.id
            }
            assert uow.contributions.resolve([]) == {}

    def test_figures_round_trip_by_month_then_currency(
        self, store: Store, people: tuple[Customer, Customer]
    ) -> None:
        person, company = people
        write_figures(
            store,
            [
                figure(person, SEP, "-0.01"),
                figure(person, AUG, "1200.50", "USD"),
                figure(person, AUG, "0", "JPY"),
                figure(company, AUG, "5.00"),
                figure(person, AUG, "-300.25"),
                figure(person, JUL, str(BIG), "JPY"),
                figure(person, D(2025, 6, 1), "7.00"),
            ],
        )

        def of(who: Customer, first: datetime.date, last: datetime.date) -> list[Any]:
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
                found = uow.contributions.of_customer(who.id, first, last)
            assert all(f.customer_id == who.id and type(f.month) is datetime.date for f in found)
            return [(f.month, f.amount) for f in found]

        assert of(person, JUL, SEP) == [
            (JUL, money(BIG, "JPY")),
            (AUG, money("-300.25")),
            (AUG, money(0, "JPY")),
            (AUG, money("1200.50", "USD")),
            (SEP, money("-0.01")),
        ]
        assert of(person, AUG, AUG) == of(person, JUL, SEP)[1:4]
        assert of(person, D(2025, 10, 1), D(2026, 12, 1)) == []
        assert of(company, *EVER) == [(AUG, money("5.00"))]
        assert of(make_individual(9), *EVER) == []
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.contributions.count() == 7
            assert uow.transactions.count() == 0

    def test_a_duplicate_figure_stores_nothing_of_that_call(
        self, store: Store, people: tuple[Customer, Customer]
    ) -> None:
        person, company = people
        write_figures(store, [figure(person, AUG, "1.00")])
        before = snapshot(store, *people)
        for batch in (
            [figure(company, AUG, "2.00"), figure(person, AUG, "3.00")],  # stored
            [figure(company, AUG, "2.00"), figure(company, SEP, "1"), figure(company, AUG, "9")],
        ):
            with store.unit_of_work(HEAD_OFFICE) as uow:
                with pytest.raises(DuplicateError) as caught:
                    uow.contributions.write(batch)
                assert _snapshot(uow, *people) == before
                uow.commit()
            assert snapshot(store, *people) == before
            assert person.customer_number not in str(caught.value)
        with store.unit_of_work(HEAD_OFFICE) as uow:  # a pending figure collides too
            uow.contributions.write([figure(company, AUG, "2.00")])
            with pytest.raises(DuplicateError):
                uow.contributions.write([figure(company, SEP, "1.00"), figure(company, AUG, "2")])
            # another currency or another month is another figure
            uow.contributions.write([figure(person, AUG, "1.00", "USD"), figure(person, SEP, "1")])
            assert uow.contributions.count() == 4
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.contributions.count() == 4

    def test_write_takes_figures_only(self, store: Store, people: tuple[Customer, ...]) -> None:
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(ValidationError) as caught:
                uow.contributions.write([figure(people[0], AUG, "1"), None])  # type: ignore[list-item]
            assert [p.path for p in caught.value.problems] == ["$"]
            uow.contributions.write([])
            assert uow.contributions.count() == 0

    def test_a_figure_of_an_unknown_customer_is_refused(
        self, store: Store, people: tuple[Customer, Customer]
    ) -> None:
        before = snapshot(store, *people)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(NotFoundError):
                uow.contributions.write(
                    [figure(people[0], AUG, "1.00"), figure(make_individual(9), AUG, "1.00")]
                )
            assert uow.contributions.count() == 0
            uow.commit()
        assert snapshot(store, *people) == before

    def test_clear_month_removes_one_month_and_says_how_many(
        self, store: Store, people: tuple[Customer, Customer]
    ) -> None:
        person, company = people
        write_figures(
            store,
            [
                figure(person, AUG, "1"),
                figure(person, AUG, "2", "USD"),
                figure(company, AUG, "3"),
                figure(person, SEP, "4"),
            ],
        )
        with store.unit_of_work(HEAD_OFFICE) as uow:
            assert uow.contributions.clear_month(JUL) == 0
            assert uow.contributions.clear_month(AUG) == 3
            assert uow.contributions.count() == 1
            assert uow.contributions.clear_month(AUG) == 0
            uow.contributions.write([figure(person, AUG, "10")])  # the month is free again
            assert uow.contributions.clear_month(AUG) == 1  # a pending figure counts too
            uow.contributions.write([figure(company, AUG, "30")])
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as reader:
                assert reader.contributions.count() == 4  # nothing is gone before commit
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert _figures(uow, person) == [(SEP, money("4"))]
            assert _figures(uow, company) == [(AUG, money("30"))]
            assert uow.contributions.count() == 2

    def test_record_feed_audits_the_month(self, store: Store) -> None:
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.contributions.record_feed(AUG, replaced=4, loaded=1)
            uow.contributions.record_feed(SEP, replaced=0, loaded=2)
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            (first,) = uow.audit.entries(entity_id="2025-08")
            (second,) = uow.audit.entries(entity_id="2025-09")
            assert uow.contributions.count() == 0
        assert (first.action, first.entity_type, first.entity_version, first.actor) == (
            "contributions.loaded",
            "contribution_month",
            1,
            "ho-1",
        )
        assert first.changes == {"figures": {"before": 4, "after": 1}}
        assert second.changes == {"figures": {"before": 0, "after": 2}}
        assert first.sequence < second.sequence

    # -- units of work ------------------------------------------------------------------

    def test_a_read_only_unit_of_work_refuses_writes(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, _) = booked, people
        write(store, [txn(1, DAY1, "R0001")])
        write_figures(store, [figure(person, AUG, "1")])
        before = snapshot(store, *people)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert len(uow.transactions.of_customer(person.id, *EVER)) == 1  # reads work
            for attempt in (
                lambda: uow.transactions.clear_day(DAY1),
                lambda: uow.transactions.write([txn(1, DAY2, "R0002")]),
                lambda: uow.transactions.record_feed(DAY1, replaced=0, loaded=1),
                lambda: uow.contributions.clear_month(AUG),
                lambda: uow.contributions.write([figure(person, SEP, "1")]),
                lambda: uow.contributions.record_feed(AUG, replaced=0, loaded=1),
                lambda: load_transactions(uow, [row(NUMBER_1, DAY2, "R0002")]),
                lambda: load_contributions(uow, [fig_row(person, "2025-09", "1")]),
            ):
                with pytest.raises(ConflictError):
                    attempt()
        assert snapshot(store, *people) == before

    def test_an_empty_scope_may_not_write(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, _) = booked, people
        write(store, [txn(1, DAY1, "R0001")])
        write_figures(store, [figure(person, AUG, "1")])
        before = snapshot(store, *people)
        with store.unit_of_work(STRANGER) as uow:
            assert len(uow.transactions.of_customer(person.id, *EVER)) == 1  # reads work
            assert uow.transactions.count() == 1 and uow.contributions.count() == 1
            assert uow.contributions.resolve([person.customer_number]) == {
                person.customer_number: person.id
            }
            for attempt in (
                lambda: uow.transactions.clear_day(DAY1),
                lambda: uow.transactions.write([txn(1, DAY2, "R0002")]),
                lambda: uow.transactions.record_feed(DAY1, replaced=0, loaded=1),
                lambda: uow.contributions.clear_month(AUG),
                lambda: uow.contributions.write([figure(person, SEP, "1")]),
                lambda: uow.contributions.record_feed(AUG, replaced=0, loaded=1),
                lambda: load_transactions(uow, [row(NUMBER_1, DAY2, "R0002")]),
                lambda: load_contributions(uow, [fig_row(person, "2025-09", "1")]),
            ):
                with pytest.raises(PermissionDenied):
                    attempt()
            uow.commit()
        assert snapshot(store, *people) == before

    def test_figures_are_seen_by_others_only_on_commit(
        self, store: Store, people: tuple[Customer, Customer]
    ) -> None:
        person, _ = people
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.contributions.write([figure(person, AUG, "1.00")])
            assert _figures(uow, person) == [(AUG, money("1.00"))]
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as other:
                assert other.contributions.count() == 0
                assert _figures(other, person) == []
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as other:
            assert _figures(other, person) == [(AUG, money("1.00"))]

    def test_rollback_leaves_nothing(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, _) = booked, people
        write(store, [txn(1, DAY1, "R0001")])
        write_figures(store, [figure(person, AUG, "1")])
        before = snapshot(store, *people)
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.transactions.clear_day(DAY1)
            uow.transactions.write([txn(2, DAY2, "R0002")])
            uow.transactions.record_feed(DAY2, replaced=0, loaded=1)
            uow.contributions.clear_month(AUG)
            uow.contributions.write([figure(person, SEP, "2")])
            uow.contributions.record_feed(SEP, replaced=0, loaded=1)
            uow.rollback()
            assert _snapshot(uow, *people) == before
            uow.transactions.write([txn(2, DAY3, "R0003")])
            # leaving without commit rolls back too
        assert snapshot(store, *people) == before
        with pytest.raises(RuntimeError), store.unit_of_work(HEAD_OFFICE) as uow:
            load_transactions(uow, [row(NUMBER_1, DAY1, "R0009")])
            load_contributions(uow, [fig_row(person, "2025-08", "9")])
            raise RuntimeError("host failure")
        assert snapshot(store, *people) == before

    def test_a_savepoint_undoes_only_its_part(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, _) = booked, people
        write(store, [txn(1, DAY1, "R0001")])
        with store.unit_of_work(HEAD_OFFICE) as uow:
            uow.transactions.write([txn(2, DAY2, "R0002")])
            with pytest.raises(DuplicateError), uow.savepoint():
                assert uow.transactions.clear_day(DAY1) == 1
                uow.contributions.write([figure(person, AUG, "1")])
                uow.transactions.write([txn(4, DAY3, "R0003")])
                uow.transactions.write([txn(2, DAY3, "R0002")])  # stored just before
            assert [(t.day, t.reference) for t in _txns(uow, person)] == [
                (DAY1, "R0001"),
                (DAY2, "R0002"),
            ]
            assert uow.contributions.count() == 0
            uow.commit()
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.transactions.count() == 2 and uow.contributions.count() == 0

    # -- load_transactions --------------------------------------------------------------

    def test_a_feed_loads_and_audits_each_day_once(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, company) = booked, people
        report = load(
            store,
            [
                row(NUMBER_1, "2025-09-01", "R0001", amount="100.00"),
                buy(
                    NUMBER_4,
                    DAY1,
                    "R0002",
                    amount=Decimal("120000"),
                    sector="银行",
                    quantity="3000",
                ),
                TransactionRow(
                    account_number=NUMBER_2,
                    day=DAY2,
                    reference="R0003",
                    kind="sell",
                    amount=Decimal("50.5"),
                    currency="usd",
                    instrument="AAPL.O",
                    quantity=Decimal("0.5"),
                ),
                row(NUMBER_3, DAY2, "R0004", "fee", amount=300),
                row(NUMBER_1, DAY2, "R0005", "interest", amount=" 0.01 ", currency="cny"),
                row(NUMBER_4, DAY1, "R0006", K.WITHDRAWAL, amount="7"),
            ],
        )
        assert report == FeedReport(
            mode=ALL,
            rows_read=6,
            loaded=6,
            rejected_rows=0,
            periods={DAY1: (0, 3), DAY2: (0, 3)},
            errors=(),
        )
        assert report.ok
        bank = ("600036.SH", "银行", Decimal("3000"))
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert _of(uow, person) == [
                (NUMBER_1, DAY1, "R0001", "deposit", money("100.00"), None, None, None),
                (NUMBER_4, DAY1, "R0002", "buy", money("120000.00"), *bank),
                (NUMBER_4, DAY1, "R0006", "withdrawal", money("7.00"), None, None, None),
                (NUMBER_1, DAY2, "R0005", "interest", money("0.01"), None, None, None),
                (
                    NUMBER_2,
                    DAY2,
                    "R0003",
                    "sell",
                    money("50.50", "USD"),
                    "AAPL.O",
                    None,
                    Decimal("0.5"),
                ),
            ]
            assert _of(uow, company) == [
                (NUMBER_3, DAY2, "R0004", "fee", money(300, "JPY"), None, None, None)
            ]
        assert feed_audit(store) == [
            ("2025-09-01", {"transactions": {"before": 0, "after": 3}}),
            ("2025-09-02", {"transactions": {"before": 0, "after": 3}}),
        ]

    @pytest.mark.parametrize("batch_size", [1, 2, 5000])
    def test_loading_the_same_day_twice_leaves_one_copy(
        self, booked: Store, people: tuple[Customer, Customer], batch_size: int
    ) -> None:
        store, (person, _) = booked, people
        feed = [
            row(NUMBER_1, DAY1, "R0001"),
            buy(NUMBER_4, DAY1, "R0002"),
            row(NUMBER_1, DAY2, "R0003"),
        ]
        first = load(store, feed, batch_size=batch_size)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            once = _of(uow, person)
        second = load(store, iter(feed), batch_size=batch_size)
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert _of(uow, person) == once and len(once) == 3
            assert uow.transactions.count() == 3
        assert first.periods == {DAY1: (0, 2), DAY2: (0, 1)}
        assert second.periods == {DAY1: (2, 2), DAY2: (1, 1)}
        assert [day for day, _ in feed_audit(store)] == [
            "2025-09-01",
            "2025-09-02",
            "2025-09-01",
            "2025-09-02",
        ]

    def test_a_corrected_reload_replaces_the_day_whole(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, company) = booked, people
        load(
            store,
            [
                row(NUMBER_1, DAY1, "R0001", amount="1.00"),
                row(NUMBER_1, DAY1, "R0002", amount="2.00"),
                row(NUMBER_3, DAY1, "R0003", amount="3"),
                row(NUMBER_1, DAY2, "R0004", amount="4.00"),
            ],
        )
        report = load(
            store,
            [
                row(NUMBER_1, DAY1, "R0001", "withdrawal", amount="10.00"),
                buy(NUMBER_4, DAY1, "R0005", amount="5.00", sector="银行"),
            ],
        )
        assert report.periods == {DAY1: (3, 2)} and report.loaded == 2
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert _of(uow, person) == [
                (NUMBER_1, DAY1, "R0001", "withdrawal", money("10.00"), None, None, None),
                (NUMBER_4, DAY1, "R0005", "buy", money("5.00"), "600036.SH", "银行", None),
                (NUMBER_1, DAY2, "R0004", "deposit", money("4.00"), None, None, None),
            ]
            assert _of(uow, company) == []  # R0003 went with the old DAY1
        assert feed_audit(store)[-1] == (
            "2025-09-01",
            {"transactions": {"before": 3, "after": 2}},
        )

    def test_all_or_nothing_writes_nothing_on_any_bad_row(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store = booked
        load(store, [row(NUMBER_1, DAY1, "R0001"), row(NUMBER_1, DAY1, "R0002")])
        before = snapshot(store, *people)
        feed = [
            row(NUMBER_1, DAY1, "R0009", amount="9.00"),  # would replace DAY1
            row(NUMBER_1, DAY2, "R0010"),
            row(NUMBER_1, DAY3, "R0011", amount="0.001"),
        ]
        report = load(store, feed, batch_size=1)
        assert report == FeedReport(
            mode=ALL,
            rows_read=3,
            loaded=0,
            rejected_rows=1,
            periods={},
            errors=(RowError(3, "amount", _TOO_FINE),),
        )
        assert not report.ok
        assert snapshot(store, *people) == before  # DAY1 kept, no audit

    def test_skip_bad_rows_writes_the_good_ones(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, _) = booked, people
        load(store, [row(NUMBER_1, DAY1, "R0001"), row(NUMBER_1, DAY3, "R0002")])
        feed = [
            row(NUMBER_1, DAY1, "R0003", amount="3.00"),
            row(NUMBER_1, DAY2, "R0004", amount=3.5),
            row(NUMBER_4, DAY2, "R0005", amount="5.00"),
            row(NUMBER_1, DAY3, "R0006", "buy"),  # DAY3's only row is bad: DAY3 kept
        ]
        report = load(store, feed, mode=SKIP)
        assert report == FeedReport(
            mode=SKIP,
            rows_read=4,
            loaded=2,
            rejected_rows=2,
            periods={DAY1: (1, 1), DAY2: (0, 1)},
            errors=(RowError(2, "amount", _BAD_AMOUNT), RowError(4, "instrument", _NO_INSTRUMENT)),
        )
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert [(n, d, r, a) for n, d, r, _, a, *_ in _of(uow, person)] == [
                (NUMBER_1, DAY1, "R0003", money("3.00")),
                (NUMBER_4, DAY2, "R0005", money("5.00")),
                (NUMBER_1, DAY3, "R0002", money("1.00")),
            ]
        assert [day for day, _ in feed_audit(store)] == [
            "2025-09-01",
            "2025-09-03",
            "2025-09-01",
            "2025-09-02",
        ]

    @pytest.mark.parametrize(
        ("bad", "field", "problem"),
        [
            pytest.param(row(NUMBER_1, "2025-02-29", "R0009"), "day", _BAD_DAY, id="feb-29"),
            pytest.param(row(NUMBER_1, "01/09/2025", "R0009"), "day", _BAD_DAY, id="dd-mm-yyyy"),
            pytest.param(
                row(NUMBER_1, datetime.datetime(2025, 9, 1, 12), "R0009"),
                "day",
                _BAD_DAY,
                id="datetime",
            ),
            pytest.param(row(NUMBER_1, None, "R0009"), "day", _BAD_DAY, id="no-day"),
            pytest.param(row(NUMBER_1, DAY1, "R0009", "transfer"), "kind", _KIND, id="kind"),
            pytest.param(row(NUMBER_1, DAY1, "R0009", "BUY"), "kind", _KIND, id="kind-case"),
            pytest.param(row(NUMBER_1, DAY1, "R0009", None), "kind", _KIND, id="no-kind"),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", amount=1.5), "amount", _BAD_AMOUNT, id="float"
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", amount="1,50"), "amount", _BAD_AMOUNT, id="comma"
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", amount="NaN"), "amount", _BAD_AMOUNT, id="nan"
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", amount=None), "amount", _BAD_AMOUNT, id="no-amount"
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", amount=True), "amount", _BAD_AMOUNT, id="bool"
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", amount="0.00"), "amount", _NOT_POSITIVE, id="zero"
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", amount="-5.00"),
                "amount",
                _NOT_POSITIVE,
                id="negative",
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", amount="5.001"), "amount", _TOO_FINE, id="cny-3dp"
            ),
            pytest.param(
                row(NUMBER_3, DAY1, "R0009", amount="5.5"), "amount", _TOO_FINE, id="half-a-yen"
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", amount="100000000000000000.00"),
                "amount",
                _TOO_LARGE,
                id="too-large",
            ),
            pytest.param(
                row(UNKNOWN_NUMBER, DAY1, "R0009"), "account_number", _NO_ACCOUNT, id="account"
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", account_number=""),
                "account_number",
                "missing",
                id="no-account",
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", currency="USD"), "currency", _MISMATCH, id="usd"
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", currency="ZZZ"),
                "currency",
                _MISMATCH,
                id="unknown-currency",
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", currency=None), "currency", _NO_CODE, id="no-currency"
            ),
            pytest.param(
                row(NUMBER_4, DAY1, "R0009", "sell", sector="银行", quantity="1"),
                "instrument",
                _NO_INSTRUMENT,
                id="trade-without-instrument",
            ),
            pytest.param(
                row(NUMBER_1, DAY1, "R0009", instrument="600036.SH"),
                "instrument",
                _NOT_A_TRADE,
                id="deposit-with-instrument",
            ),
            pytest.param(
                buy(NUMBER_4, DAY1, "R0009", instrument="600036 SH"),
                "instrument",
                _INSTRUMENT,
                id="bad-instrument",
            ),
            pytest.param(
                buy(NUMBER_4, DAY1, "R0009", sector="x" * 61), "sector", _SECTOR, id="long-sector"
            ),
            pytest.param(
                buy(NUMBER_4, DAY1, "R0009", sector="  "), "sector", _SECTOR, id="blank-sector"
            ),
            pytest.param(
                buy(NUMBER_4, DAY1, "R0009", quantity=100.0),
                "quantity",
                _BAD_QUANTITY,
                id="float-quantity",
            ),
            pytest.param(
                buy(NUMBER_4, DAY1, "R0009", quantity="lots"),
                "quantity",
                _BAD_QUANTITY,
                id="text-quantity",
            ),
            pytest.param(
                buy(NUMBER_4, DAY1, "R0009", quantity="-100"),
                "quantity",
                _QUANTITY,
                id="negative-quantity",
            ),
            pytest.param(
                buy(NUMBER_4, DAY1, "R0009", quantity="0"), "quantity", _QUANTITY, id="no-quantity"
            ),
            pytest.param(
                buy(NUMBER_4, DAY1, "R0009", quantity="0.0000001"),
                "quantity",
                _QUANTITY,
                id="7-decimals",
            ),
            pytest.param(row(NUMBER_1, DAY1, "R 0009"), "reference", _REFERENCE, id="space"),
            pytest.param(row(NUMBER_1, DAY1, ""), "reference", _REFERENCE, id="empty-ref"),
            pytest.param(row(NUMBER_1, DAY1, "R" * 65), "reference", _REFERENCE, id="ref-65"),
            pytest.param(row(NUMBER_1, DAY1, None), "reference", _REFERENCE, id="no-ref"),
            pytest.param(row(NUMBER_1, DAY1, 9), "reference", _REFERENCE, id="int-ref"),
            pytest.param(
                row(NUMBER_1, DAY2, "R0001"), "reference", _SECOND_REFERENCE, id="second-ref"
            ),
            pytest.param(
                [NUMBER_1, DAY1, "R0009"],
                "row",
                "expected a TransactionRow or a mapping",
                id="list",
            ),
        ],
    )
    def test_a_bad_row_is_reported_by_number_and_field(
        self,
        booked: Store,
        people: tuple[Customer, Customer],
        bad: Any,
        field: str,
        problem: str,
    ) -> None:
        store, (person, company) = booked, people
        good = [row(NUMBER_1, DAY2, "R0001"), row(NUMBER_3, DAY1, "R0002")]
        before = snapshot(store, *people)
        report = load(store, [good[0], bad, good[1]])
        assert report.errors == (RowError(2, field, problem),)
        assert (report.rows_read, report.loaded, report.rejected_rows) == (3, 0, 1)
        assert report.periods == {} and not report.ok
        assert snapshot(store, *people) == before  # all or nothing: no rows, no audit
        report = load(store, [good[0], bad, good[1]], mode=SKIP)
        assert report.errors == (RowError(2, field, problem),)
        assert (report.rows_read, report.loaded, report.rejected_rows) == (3, 2, 1)
        assert report.periods == {DAY1: (0, 1), DAY2: (0, 1)}
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert [(n, d, r) for n, d, r, *_ in _of(uow, person)] == [(NUMBER_1, DAY2, "R0001")]
            assert [(n, d, r) for n, d, r, *_ in _of(uow, company)] == [(NUMBER_3, DAY1, "R0002")]
        if isinstance(bad, dict):
            echoed = ("account_number", "amount", "instrument", "sector", "quantity")
            assert_no_values(report, *(str(bad[k]) for k in echoed if bad.get(k)))

    @pytest.mark.parametrize(
        "details",
        [{"sector": "银行"}, {"quantity": "100"}, {"instrument": "600036.SH", "sector": "银行"}],
    )
    def test_a_transaction_other_than_a_trade_has_no_trade_details(
        self, booked: Store, people: tuple[Customer, Customer], details: dict[str, Any]
    ) -> None:
        store = booked
        before = snapshot(store, *people)
        report = load(store, [row(NUMBER_1, DAY1, "R0001", "premium", **details)], mode=SKIP)
        assert (report.loaded, report.rejected_rows, report.periods) == (0, 1, {})
        assert [(e.row_number, e.problem) for e in report.errors] == [(1, _NOT_A_TRADE)]
        assert snapshot(store, *people) == before

    def test_a_reference_is_unique_per_account_across_the_feed_and_the_store(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, _) = booked, people
        load(store, [row(NUMBER_1, DAY1, "R0001")])
        feed = [
            row(NUMBER_1, DAY2, "R0002", amount="2.00"),
            row(NUMBER_1, DAY2, "R0001"),  # stored on DAY1, which this feed keeps
            row(NUMBER_4, DAY2, "R0001"),  # another account: fine
            row(NUMBER_1, DAY2, "R0002", amount="2.00"),  # the same row again
            row(NUMBER_1, DAY3, "R0002"),  # on another day of the feed
            row(NUMBER_1, DAY3, "R0003"),
        ]
        before = snapshot(store, *people)
        report = load(store, feed)
        assert [(e.row_number, e.field, e.problem) for e in report.errors] == [
            (2, "reference", _SECOND_REFERENCE),
            (4, "reference", _SECOND_REFERENCE),
            (5, "reference", _SECOND_REFERENCE),
        ]
        assert snapshot(store, *people) == before
        report = load(store, feed, mode=SKIP, batch_size=2)
        assert (report.loaded, report.rejected_rows) == (3, 3)
        assert report.periods == {DAY2: (0, 2), DAY3: (0, 1)}
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert [(n, d, r, a) for n, d, r, _, a, *_ in _of(uow, person)] == [
                (NUMBER_1, DAY1, "R0001", money("1.00")),
                (NUMBER_1, DAY2, "R0002", money("2.00")),  # the first one wins
                (NUMBER_4, DAY2, "R0001", money("1.00")),
                (NUMBER_1, DAY3, "R0003", money("1.00")),
            ]

    def test_errors_are_sorted_by_row_and_never_echo_values(self, booked: Store) -> None:
        store = booked
        feed = [
            row(UNKNOWN_NUMBER, DAY1, "R0001", amount="123.45"),  # found at the flush
            row(NUMBER_1, "2025-13-01", "R0002", amount="678.90"),  # found while reading
            row(NUMBER_1, DAY1, "R0003", amount="11.11"),
            row(NUMBER_1, DAY1, "R0003", amount="22.22"),  # found at the write
            row(NUMBER_2, DAY1, "R0005", amount=3.25),
            row(NUMBER_3, DAY1, "R0006", amount="0.5"),
            row(NUMBER_4, DAY1, "R0007", amount="98.765"),
            buy(NUMBER_4, DAY1, "R0008", quantity="12.3456789"),
            row(NUMBER_1, DAY1, "R0009", currency="HKD"),
        ]
        report = load(store, feed, mode=SKIP, batch_size=4)
        assert [(e.row_number, e.field) for e in report.errors] == [
            (1, "account_number"),
            (2, "day"),
            (4, "reference"),
            (5, "amount"),
            (6, "amount"),
            (7, "amount"),
            (8, "quantity"),
            (9, "currency"),
        ]
        assert report.loaded == 1 and report.periods == {DAY1: (0, 1)}
        assert_no_values(report, UNKNOWN_NUMBER, "123.45", "2025-13-01", "678.90", "22.22")
        assert_no_values(report, "3.25", "98.765", "12.3456789", "HKD", "R0003")
        assert_no_values(report, NUMBER_1, NUMBER_2, NUMBER_3, NUMBER_4)
        assert str(report.errors[0]) == f"row 1, account_number: {_NO_ACCOUNT}"

    def test_errors_past_the_limit_are_counted(self, booked: Store) -> None:
        store = booked
        feed = [row(NUMBER_1, DAY1, f"R{i:04d}", amount=f"{i}.00") for i in range(1, 11)]
        for i in (2, 5, 8):
            feed[i]["amount"] = "bad"
        report = load(store, feed, mode=SKIP, max_reported_errors=2)
        assert (report.rejected_rows, report.errors_not_listed, report.loaded) == (3, 1, 7)
        assert [e.row_number for e in report.errors] == [3, 6]

    @pytest.mark.parametrize(
        ("kwargs", "path"),
        [
            ({"batch_size": 0}, "$.batch_size"),
            ({"batch_size": "10"}, "$.batch_size"),
            ({"mode": "skip_bad_rows"}, "$.mode"),
        ],
    )
    def test_feed_settings_are_checked(
        self, booked: Store, kwargs: dict[str, Any], path: str
    ) -> None:
        store = booked
        for loader, feed in (
            (load_transactions, [row(NUMBER_1, DAY1, "R0001")]),
            (load_contributions, [fig_row(make_individual(1), "2025-08", "1")]),
        ):
            with store.unit_of_work(HEAD_OFFICE) as uow, pytest.raises(ValidationError) as caught:
                loader(uow, feed, **kwargs)
            assert [p.path for p in caught.value.problems] == [path]

    def test_an_empty_feed_does_nothing(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store = booked
        before = snapshot(store, *people)
        empty = FeedReport(mode=SKIP, rows_read=0, loaded=0, rejected_rows=0, periods={}, errors=())
        assert load(store, [], mode=SKIP) == empty
        assert load_figures(store, iter([]), mode=SKIP) == empty
        assert snapshot(store, *people) == before

    def test_a_failing_feed_source_writes_nothing(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store = booked
        load(store, [row(NUMBER_1, DAY1, "R0001")])
        before = snapshot(store, *people)

        def feed() -> Iterator[Any]:
            yield row(NUMBER_1, DAY1, "R0002")
            yield row(NUMBER_1, DAY2, "R0003")
            raise OSError("the warehouse connection dropped")

        with store.unit_of_work(HEAD_OFFICE) as uow:
            with pytest.raises(OSError, match="dropped"):
                load_transactions(uow, feed(), mode=SKIP, batch_size=1)
            uow.commit()  # the host may go on: the feed's part is already undone
        assert snapshot(store, *people) == before

    # -- load_contributions -------------------------------------------------------------

    def test_a_contribution_feed_loads_months_and_audits_each_once(
        self, store: Store, people: tuple[Customer, Customer]
    ) -> None:
        person, company = people
        report = load_figures(
            store,
            [
                fig_row(person, "2025-08", "1200.50"),
                fig_row(person, D(2025, 8, 31), "-99.99", "USD"),  # a date in the month
                ContributionRow(
                    customer_number=company.customer_number,
                    month="2025-09",
                    amount=Decimal("-0.01"),
                    currency="cny",
                ),
                fig_row(company, "2025-08-15", 1000, "JPY"),
                fig_row(person, D(2025, 9, 1), "0"),
            ],
        )
        assert report == FeedReport(
            mode=ALL,
            rows_read=5,
            loaded=5,
            rejected_rows=0,
            periods={AUG: (0, 3), SEP: (0, 2)},
            errors=(),
        )
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert _figures(uow, person) == [
                (AUG, money("1200.50")),
                (AUG, money("-99.99", "USD")),
                (SEP, money("0.00")),
            ]
            assert _figures(uow, company) == [(AUG, money(1000, "JPY")), (SEP, money("-0.01"))]
        assert feed_audit(store, "contributions.loaded") == [
            ("2025-08", {"figures": {"before": 0, "after": 3}}),
            ("2025-09", {"figures": {"before": 0, "after": 2}}),
        ]

    def test_reloading_a_month_replaces_it_whole(
        self, store: Store, people: tuple[Customer, Customer]
    ) -> None:
        person, company = people
        feed = [
            fig_row(person, "2025-08", "1.00"),
            fig_row(company, "2025-08", "2.00"),
            fig_row(person, "2025-09", "3.00"),
        ]
        load_figures(store, feed)
        again = load_figures(store, feed)
        assert again.periods == {AUG: (2, 2), SEP: (1, 1)}
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert uow.contributions.count() == 3  # one copy
        corrected = load_figures(store, [fig_row(person, D(2025, 8, 20), "-5.00")], batch_size=1)
        assert corrected.periods == {AUG: (2, 1)}
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert _figures(uow, person) == [(AUG, money("-5.00")), (SEP, money("3.00"))]
            assert _figures(uow, company) == []
        assert feed_audit(store, "contributions.loaded")[-1] == (
            "2025-08",
            {"figures": {"before": 2, "after": 1}},
        )

    @pytest.mark.parametrize(
        ("bad", "field", "problem"),
        [
            pytest.param({"month": "2025-13"}, "month", _BAD_MONTH, id="month-13"),
            pytest.param({"month": "2025-8"}, "month", _BAD_MONTH, id="one-digit-month"),
            pytest.param({"month": "2025/08"}, "month", _BAD_MONTH, id="slash"),
            pytest.param(
                {"month": datetime.datetime(2025, 8, 1)}, "month", _BAD_MONTH, id="datetime"
            ),
            pytest.param({"month": None}, "month", _BAD_MONTH, id="no-month"),
            pytest.param({"amount": 1.5}, "amount", _BAD_AMOUNT, id="float"),
            pytest.param({"amount": "Infinity"}, "amount", _BAD_AMOUNT, id="infinity"),
            pytest.param({"amount": "1.001"}, "amount", _TOO_FINE, id="too-fine"),
            pytest.param(
                {"amount": "-100000000000000000.00"}, "amount", _TOO_LARGE, id="too-large"
            ),
            pytest.param({"currency": "ZZZ"}, "currency", _NO_CODE, id="unknown-currency"),
            pytest.param({"currency": None}, "currency", _NO_CODE, id="no-currency"),
            pytest.param(
                {"customer_number": "P999999999"}, "customer_number", _NO_CUSTOMER, id="unknown"
            ),
            pytest.param({"customer_number": ""}, "customer_number", "missing", id="missing"),
            pytest.param(
                {"currency": "CNY", "amount": "7.00"}, "month", _SECOND_FIGURE, id="second"
            ),
        ],
    )
    def test_a_bad_contribution_row_is_reported_by_number_and_field(
        self,
        store: Store,
        people: tuple[Customer, Customer],
        bad: dict[str, Any],
        field: str,
        problem: str,
    ) -> None:
        person, company = people
        good = [fig_row(person, "2025-08", "1.00"), fig_row(company, "2025-09", "2.00")]
        feed = [good[0], fig_row(person, "2025-08", "3.00", "USD") | bad, good[1]]
        before = snapshot(store, *people)
        report = load_figures(store, feed)
        assert report.errors == (RowError(2, field, problem),)
        assert (report.loaded, report.rejected_rows, report.periods) == (0, 1, {})
        assert snapshot(store, *people) == before
        report = load_figures(store, feed, mode=SKIP)
        assert report.errors == (RowError(2, field, problem),)
        assert (report.loaded, report.rejected_rows) == (2, 1)
        assert report.periods == {AUG: (0, 1), SEP: (0, 1)}
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            assert _figures(uow, person) == [(AUG, money("1.00"))]
            assert _figures(uow, company) == [(SEP, money("2.00"))]
        assert_no_values(report, person.customer_number, *(str(v) for v in bad.values() if v))

    # -- contribution and traded sectors ------------------------------------------------

    def test_contribution_sums_per_currency_over_the_months_a_period_covers(
        self, store: Store, people: tuple[Customer, Customer]
    ) -> None:
        person, company = people
        write_figures(
            store,
            [
                figure(person, D(2025, 6, 1), "1000.00"),  # before every period below
                figure(person, JUL, "100.10"),
                figure(person, JUL, "5.00", "USD"),
                figure(person, AUG, "-30.05"),
                figure(person, SEP, "0.01"),
                figure(person, SEP, "7", "JPY"),
                figure(person, D(2025, 10, 1), "2000.00"),  # after
                figure(company, AUG, "999.99"),
            ],
        )

        def total(start: datetime.date, end: datetime.date, who: Customer = person) -> Any:
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
                return contribution(uow, who.id, start, end)

        quarter = total(D(2025, 7, 15), D(2025, 9, 2))  # days inside July and September
        assert quarter == {
            "CNY": money("70.06"),
            "JPY": money(7, "JPY"),
            "USD": money("5.00", "USD"),
        }
        assert list(quarter) == ["CNY", "JPY", "USD"]
        assert total(AUG, D(2025, 8, 31)) == {"CNY": money("-30.05")}
        assert total(D(2025, 8, 31), D(2025, 8, 31)) == {"CNY": money("-30.05")}
        assert total(D(2025, 6, 30), D(2025, 7, 1)) == {
            "CNY": money("1100.10"),
            "USD": money("5.00", "USD"),
        }
        assert total(D(2024, 1, 1), D(2025, 5, 31)) == {}
        assert total(JUL, D(2025, 12, 31), company) == {"CNY": money("999.99")}

    def test_contribution_checks_the_period_and_the_customer(
        self, store: Store, people: tuple[Customer, Customer]
    ) -> None:
        person, _ = people
        with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
            periods: list[tuple[Any, Any, str]] = [
                (datetime.datetime(2025, 7, 1), SEP, "$.start"),
                (JUL, "2025-09-30", "$.end"),
                (SEP, JUL, "$.end"),
            ]
            for start, end, path in periods:
                for service in (contribution, traded_sectors):
                    with pytest.raises(ValidationError) as caught:
                        service(uow, person.id, start, end)
                    assert [p.path for p in caught.value.problems] == [path]
            for service in (contribution, traded_sectors):
                with pytest.raises(NotFoundError):
                    service(uow, make_individual(9).id, JUL, SEP)
        with store.unit_of_work(STRANGER, read_only=True) as uow:
            for service in (contribution, traded_sectors):
                with pytest.raises(NotFoundError):  # outside the actor's scope
                    service(uow, person.id, JUL, SEP)

    def test_traded_sectors_sums_trades_per_sector_most_trades_first(
        self, booked: Store, people: tuple[Customer, Customer]
    ) -> None:
        store, (person, company) = booked, people
        bank, liquor = {"sector": "银行"}, {"sector": "酿酒"}
        write(
            store,
            [
                txn(4, DAY1, "R0001", K.BUY, "100.00", instrument="600036.SH", **bank),
                txn(4, DAY2, "R0002", K.SELL, "40.50", instrument="600036.SH", **bank),
                txn(2, DAY2, "R0003", K.BUY, "10.00", instrument="JPM.N", **bank),
                txn(4, DAY3, "R0004", K.BUY, "0.01", instrument="601398.SH", **bank),
                txn(4, DAY1, "R0005", K.SELL, "200.00", instrument="000858.SZ", **liquor),
                txn(4, DAY2, "R0006", K.BUY, "300.00", instrument="000858.SZ", **liquor),
                txn(2, DAY1, "R0007", K.BUY, "1.00", instrument="X.N"),  # no sector
                txn(4, DAY1, "R0008", K.SELL, "2.00", instrument="Y.SH", sector="能源"),
                txn(1, DAY1, "R0009", K.DEPOSIT, "999.00"),  # not a trade
                txn(4, DAY1, "R0010", K.SUBSCRIPTION, "888.00"),
                txn(4, D(2025, 8, 31), "R0011", K.BUY, "5.00", instrument="Z.SH", **bank),
                txn(3, DAY1, "R0012", K.BUY, 5000, instrument="7203.T", **bank),  # the company
            ],
        )

        def sectors(start: datetime.date, end: datetime.date, who: Customer = person) -> Any:
            with store.unit_of_work(HEAD_OFFICE, read_only=True) as uow:
                return traded_sectors(uow, who.id, start, end)

        assert sectors(DAY1, DAY3) == [
            SectorLine(
                sector="银行",
                trades=4,
                bought={"CNY": money("100.01"), "USD": money("10.00", "USD")},
                sold={"CNY": money("40.50")},
            ),
            SectorLine(
                sector="酿酒", trades=2, bought={"CNY": money("300.00")}, sold={"CNY": money("200")}
            ),
            SectorLine(sector="unknown", trades=1, bought={"USD": money("1.00", "USD")}, sold={}),
            SectorLine(sector="能源", trades=1, bought={}, sold={"CNY": money("2.00")}),
        ]
        assert list(sectors(DAY1, DAY3)[0].bought) == ["CNY", "USD"]
        assert sectors(DAY3, DAY3) == [
            SectorLine(sector="银行", trades=1, bought={"CNY": money("0.01")}, sold={})
        ]
        assert sectors(D(2025, 8, 31), D(2025, 8, 31)) == [
            SectorLine(sector="银行", trades=1, bought={"CNY": money("5.00")}, sold={})
        ]
        assert sectors(D(2025, 10, 1), D(2025, 12, 31)) == []
        assert sectors(DAY1, DAY3, company) == [
            SectorLine(sector="银行", trades=1, bought={"JPY": money(5000, "JPY")}, sold={})
        ]
