"""The activity and service-task contract on the in-memory adapter."""

import pytest

from finance_crm.adapters.memory import InMemoryStore
from finance_crm.clock import FixedClock
from finance_crm.testing import ServiceStoreContract


class TestInMemoryService(ServiceStoreContract):
    @pytest.fixture
    def store(self, clock: FixedClock) -> InMemoryStore:
        return InMemoryStore(clock=clock)
