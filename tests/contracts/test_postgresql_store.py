"""The store contract on PostgreSQL (FINANCE_CRM_TEST_POSTGRES_URL; required in CI)."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from finance_crm.adapters.sql import SqlStore
from finance_crm.testing import (
    AccountStoreContract,
    GroupStoreContract,
    ManagerStoreContract,
    StoreContract,
)
from finance_crm.testing.postgres import skip_or_fail_without_postgres, throwaway_database

TABLES = (
    "crm_relationship, crm_party, "
    "crm_outbox, crm_audit_log, crm_assignment_history, crm_assignment_member, crm_assignment, "
    "crm_staff_leave, crm_staff, crm_org_unit, crm_customer_document, crm_balance, crm_account, "
    "crm_customer"
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
            connection.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY")
        return SqlStore(postgres_engine)


class TestPostgresqlManagers(ManagerStoreContract):
    @pytest.fixture
    def store(self, postgres_engine: sa.Engine) -> SqlStore:
        with postgres_engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY")
        return SqlStore(postgres_engine)


class TestPostgresqlGroups(GroupStoreContract):
    @pytest.fixture
    def store(self, postgres_engine: sa.Engine) -> SqlStore:
        with postgres_engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY")
        return SqlStore(postgres_engine)


class TestPostgresqlAccounts(AccountStoreContract):
    @pytest.fixture
    def store(self, postgres_engine: sa.Engine) -> SqlStore:
        with postgres_engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY")
        return SqlStore(postgres_engine)
