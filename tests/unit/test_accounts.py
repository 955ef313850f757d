"""The account model: each field's check, with the exact error class and path."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

import attrs
import pendulum
import pytest

from finance_crm.errors import ValidationError
from finance_crm.ids import CustomerId
from finance_crm.model.accounts import Account, AccountKind, DailyBalance
from finance_crm.money import Money

D = datetime.date
CUSTOMER = CustomerId(uuid.UUID("00000000-0000-7000-a000-000000000001"))
NUMBER = "6222020200112233"


def account(**overrides: Any) -> Account:
    fields: dict[str, Any] = {
        "customer_id": CUSTOMER,
        "account_number": NUMBER,
        "kind": AccountKind.DEPOSIT,
        "currency": "CNY",
        "opened_on": D(2024, 1, 5),
    }
    fields.update(overrides)
    return Account(**fields)


def refused(path: str, **overrides: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        account(**overrides)
    assert type(caught.value) is ValidationError
    assert [p.path for p in caught.value.problems] == [path]
    return caught.value


def test_a_valid_account_has_defaults_and_a_fresh_id() -> None:
    a, b = account(), account()
    assert a.version == 0 and a.closed_on is None and a.product_code is None
    assert a.id != b.id
    assert a.open_on(D(2024, 1, 5)) and not a.open_on(D(2024, 1, 4))


@pytest.mark.parametrize(
    "number", ["1", "A" * 40, "6222-0202-0011", "abcXYZ019", "ZH-0001-a"], ids=repr
)
def test_account_numbers_of_the_allowed_shape(number: str) -> None:
    assert account(account_number=number).account_number == number


@pytest.mark.parametrize(
    "number",
    [
        "",
        "A" * 41,
        "6222 0202",
        "6222_0202",
        "62220202\n",
        "６２２２",  # full-width digits
        "账号123",
        "6222.0202",
        None,
        6222020200112233,
    ],
    ids=repr,
)
def test_account_numbers_of_another_shape_are_refused(number: object) -> None:
    error = refused("$.account_number", account_number=number)
    if isinstance(number, str) and number:
        assert number not in str(error)


def test_the_account_number_is_masked_in_repr() -> None:
    text = repr(account())
    assert NUMBER not in text
    assert "2233" in text  # the ends are kept so staff can tell accounts apart


@pytest.mark.parametrize("kind", list(AccountKind))
def test_every_kind_is_accepted(kind: AccountKind) -> None:
    assert account(kind=kind).kind is kind


@pytest.mark.parametrize("kind", ["deposit", "DEPOSIT", None, 1], ids=repr)
def test_a_kind_must_be_an_account_kind(kind: object) -> None:
    error = refused("$.kind", kind=kind)
    assert "DEPOSIT" in str(error) and "LOAN" in str(error)  # the choices are listed


def test_only_loans_are_not_assets() -> None:
    assert [k for k in AccountKind if not k.counts_in_aum] == [AccountKind.LOAN]


@pytest.mark.parametrize(
    ("given", "stored"),
    [("CNY", "CNY"), ("cny", "CNY"), ("usd", "USD"), ("Jpy", "JPY"), ("HKD", "HKD")],
)
def test_currency_codes_are_upper_cased(given: str, stored: str) -> None:
    assert account(currency=given).currency == stored


@pytest.mark.parametrize(
    "code", ["ZZZ", "RMB", "", "CN", "CNYY", " CNY", "人民币", None, 156, b"CNY"], ids=repr
)
def test_unknown_currency_codes_are_refused(code: object) -> None:
    refused("$.currency", currency=code)


@pytest.mark.parametrize(
    "day",
    [
        datetime.datetime(2024, 1, 5),
        datetime.datetime(2024, 1, 5, tzinfo=datetime.UTC),
        pendulum.datetime(2024, 1, 5),
        "2024-01-05",
        20240105,
        None,
    ],
    ids=repr,
)
def test_opened_on_must_be_a_date(day: object) -> None:
    refused("$.opened_on", opened_on=day)


@pytest.mark.parametrize("day", [datetime.datetime(2025, 1, 5), "2025-01-05", 20250105], ids=repr)
def test_closed_on_must_be_a_date_or_none(day: object) -> None:
    refused("$.closed_on", closed_on=day)


def test_dates_are_stored_as_plain_dates() -> None:
    a = account(opened_on=pendulum.date(2024, 1, 5), closed_on=pendulum.date(2025, 1, 5))
    assert type(a.opened_on) is datetime.date and type(a.closed_on) is datetime.date
    assert (a.opened_on, a.closed_on) == (D(2024, 1, 5), D(2025, 1, 5))


def test_an_account_cannot_close_before_it_opened() -> None:
    refused("$.closed_on", closed_on=D(2024, 1, 4))
    with pytest.raises(ValidationError) as caught:
        attrs.evolve(account(), closed_on=D(2023, 12, 31))
    assert [p.path for p in caught.value.problems] == ["$.closed_on"]


def test_closing_on_the_opening_day_leaves_it_open_no_day() -> None:
    a = account(closed_on=D(2024, 1, 5))
    assert not a.open_on(D(2024, 1, 5))
    b = account(closed_on=D(2024, 3, 1))
    assert b.open_on(D(2024, 2, 29)) and not b.open_on(D(2024, 3, 1))


@pytest.mark.parametrize("code", [None, "P", "WM-2024-001", "x" * 40], ids=repr)
def test_product_codes_of_1_to_40_characters(code: str | None) -> None:
    assert account(product_code=code).product_code == code


@pytest.mark.parametrize("code", ["x" * 41, "", "  ", 5, b"P1"], ids=repr)
def test_other_product_codes_are_refused(code: object) -> None:
    refused("$.product_code", product_code=code)


def test_daily_balance_holds_money() -> None:
    a = account()
    b = DailyBalance(a.id, D(2024, 1, 5), Money(Decimal("12.30"), "CNY"))
    assert b.balance.minor_units == 1230 and b == DailyBalance(a.id, D(2024, 1, 5), b.balance)
