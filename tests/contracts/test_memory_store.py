"""The store contract on the in-memory adapter."""

import pytest

from finance_crm.adapters.memory import InMemoryStore
from finance_crm.testing import StoreContract


class TestInMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> InMemoryStore:
        return InMemoryStore()
