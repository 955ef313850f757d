"""The tier contract on SQLite, in a file."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from finance_crm.adapters.sql import SqlStore
from finance_crm.testing import TierStoreContract


class TestSqliteFileTiers(TierStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlStore]:
        store = SqlStore.from_url(f"sqlite:///{tmp_path / 'crm.db'}")
        store.upgrade_schema()
        yield store
        store.close()
