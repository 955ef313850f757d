"""The account and balance contract on the in-memory adapter."""

import pytest

from finance_crm.adapters.memory import InMemoryStore
from finance_crm.testing import AccountStoreContract


class TestInMemoryAccounts(AccountStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryStore:
        return InMemoryStore()
