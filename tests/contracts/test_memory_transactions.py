"""The transaction and contribution contract on the in-memory adapter."""

import pytest

from finance_crm.adapters.memory import InMemoryStore
from finance_crm.testing import TransactionStoreContract


class TestInMemoryTransactions(TransactionStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryStore:
        return InMemoryStore()
