"""The store contract on PostgreSQL (FINANCE_CRM_TEST_POSTGRES_URL; required in CI)."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from finance_crm.adapters.sql import SqlStore
from finance_crm.clock import FixedClock
from finance_crm.testing import (
    AccountStoreContract,
    GroupStoreContract,
    ManagerStoreContract,
    ServiceStoreContract,
    StoreContract,
    TierStoreContract,
    TransactionStoreContract,
)
from finance_crm.testing.postgres import (
    empty_tables,
    skip_or_fail_without_postgres,
    throwaway_database,
)


@pytest.fixture(scope="module")
def postgres_engine() -> Iterator[sa.Engine]:
    admin_url = skip_or_fail_without_postgres()
    with throwaway_database(admin_url, prefix="finance_crm_contract") as url:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        SqlStore(engine).upgrade_schema()
        yield engine
        engine.dispose()


class TestPostgresqlStore(StoreContract):
    @pytest.fixture
    def store(self, postgres_engine: sa.Engine) -> SqlStore:
        with postgres_engine.begin() as connection:
            empty_tables(connection)
        return SqlStore(postgres_engine)


class TestPostgresqlManagers(ManagerStoreContract):
    @pytest.fixture
    def store(self, postgres_engine: sa.Engine) -> SqlStore:
        with postgres_engine.begin() as connection:
            empty_tables(connection)
        return SqlStore(postgres_engine)


class TestPostgresqlGroups(GroupStoreContract):
    @pytest.fixture
    def store(self, postgres_engine: sa.Engine) -> SqlStore:
        with postgres_engine.begin() as connection:
            empty_tables(connection)
        return SqlStore(postgres_engine)


class TestPostgresqlAccounts(AccountStoreContract):
    @pytest.fixture
    def store(self, postgres_engine: sa.Engine) -> SqlStore:
        with postgres_engine.begin() as connection:
            empty_tables(connection)
        return SqlStore(postgres_engine)


class TestPostgresqlTiers(TierStoreContract):
    @pytest.fixture
    def store(self, postgres_engine: sa.Engine) -> SqlStore:
        with postgres_engine.begin() as connection:
            empty_tables(connection)
        return SqlStore(postgres_engine)


class TestPostgresqlService(ServiceStoreContract):
    @pytest.fixture
    def store(self, postgres_engine: sa.Engine, clock: FixedClock) -> SqlStore:
        with postgres_engine.begin() as connection:
            empty_tables(connection)
        return SqlStore(postgres_engine, clock=clock)


class TestPostgresqlTransactions(TransactionStoreContract):
    @pytest.fixture
    def store(self, postgres_engine: sa.Engine) -> SqlStore:
        with postgres_engine.begin() as connection:
            empty_tables(connection)
        return SqlStore(postgres_engine)
