"""The tier contract on the in-memory adapter."""

import pytest

from finance_crm.adapters.memory import InMemoryStore
from finance_crm.testing import TierStoreContract


class TestInMemoryTiers(TierStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryStore:
        return InMemoryStore()
