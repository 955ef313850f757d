"""The public surface: cheap import, curated and sorted ``__all__``, typed package."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import finance_crm

PUBLIC_MODULES = [
    "finance_crm",
    "finance_crm.errors",
    "finance_crm.ids",
    "finance_crm.money",
    "finance_crm.clock",
    "finance_crm.calendar",
    "finance_crm.security",
    "finance_crm.serialization",
    "finance_crm.ports",
    "finance_crm.retrying",
    "finance_crm.rules",
    "finance_crm.model.customers",
    "finance_crm.model.documents",
    "finance_crm.model.events",
    "finance_crm.model.organization",
    "finance_crm.model.assignments",
    "finance_crm.access",
    "finance_crm.rules.managers",
    "finance_crm.services.managers",
    "finance_crm.model.relationships",
    "finance_crm.rules.groups",
    "finance_crm.services.groups",
    "finance_crm.services.gleif_import",
    "finance_crm.model.accounts",
    "finance_crm.services.balances",
    "finance_crm.model.tiers",
    "finance_crm.rules.tiers",
    "finance_crm.services.tiers",
    "finance_crm.model.activities",
    "finance_crm.model.service_standards",
    "finance_crm.rules.service_standards",
    "finance_crm.services.service_standards",
    "finance_crm.services.activities",
    "finance_crm.services.customer_view",
    "finance_crm.model.transactions",
    "finance_crm.services.transactions",
    "finance_crm.adapters.memory",
    "finance_crm.adapters.sql",
    "finance_crm.services.customer_import",
    "finance_crm.testing",
]


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions
    if name.isupper():
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


def test_import_loads_no_database_code() -> None:
    code = (
        "import sys, finance_crm\n"
        "bad = [m for m in ('sqlalchemy', 'alembic', 'psycopg') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_and_every_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_key)
    assert len(set(exported)) == len(exported)
    for item in exported:
        assert hasattr(module, item), f"{name}.{item}"


def test_package_is_typed() -> None:
    assert (Path(finance_crm.__file__).parent / "py.typed").is_file()


def test_error_tree_has_one_root() -> None:
    for name in finance_crm.__all__:
        obj = getattr(finance_crm, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, finance_crm.CrmError)


def test_unknown_attribute_says_so() -> None:
    with pytest.raises(AttributeError, match="no attribute"):
        _ = finance_crm.NoSuchThing  # type: ignore[attr-defined]
