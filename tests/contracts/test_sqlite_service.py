"""The activity and service-task contract on SQLite, in a file."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from finance_crm.adapters.sql import SqlStore
from finance_crm.clock import FixedClock
from finance_crm.testing import ServiceStoreContract


class TestSqliteFileService(ServiceStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path, clock: FixedClock) -> Iterator[SqlStore]:
        store = SqlStore.from_url(f"sqlite:///{tmp_path / 'crm.db'}", clock=clock)
        store.upgrade_schema()
        yield store
        store.close()
