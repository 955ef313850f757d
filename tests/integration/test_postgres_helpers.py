"""finance_crm.testing.postgres: the helpers the PostgreSQL contract tests stand on.

TestPostgresThrowawayDatabase needs a server (FINANCE_CRM_TEST_POSTGRES_URL); it skips without
one, and fails instead when FINANCE_CRM_REQUIRE_POSTGRES=1 (as in CI). The skip/fail rules
themselves are checked without a server.
"""

from __future__ import annotations

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from finance_crm.testing.postgres import (
    postgres_admin_url,
    postgres_required,
    skip_or_fail_without_postgres,
    throwaway_database,
)


def _database_exists(admin_url: str, name: str) -> bool:
    engine = sqlalchemy.create_engine(admin_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": name},
            ).scalar()
    finally:
        engine.dispose()
    return found is not None


@pytest.fixture
def admin_url() -> str:
    return skip_or_fail_without_postgres()


@pytest.mark.postgres
class TestPostgresThrowawayDatabase:
    def test_creates_a_writable_database_and_drops_it(self, admin_url: str) -> None:
        with throwaway_database(admin_url) as url:
            parsed, admin = make_url(url), make_url(admin_url)
            name = parsed.database
            assert name is not None
            assert name.startswith("finance_crm_test_")
            assert name != admin.database
            # Same server and credentials; only the database differs.
            assert parsed.set(database=admin.database) == admin
            assert _database_exists(admin_url, name)

            engine = sqlalchemy.create_engine(url, poolclass=NullPool)
            try:
                with engine.begin() as conn:
                    assert conn.execute(sqlalchemy.text("SELECT current_database()")).scalar() == (
                        name
                    )
                    conn.execute(
                        sqlalchemy.text("CREATE TABLE probe (id integer PRIMARY KEY, note text)")
                    )
                    conn.execute(
                        sqlalchemy.text("INSERT INTO probe VALUES (1, '客户'), (2, 'customer')")
                    )
                with engine.connect() as conn:
                    rows = conn.execute(sqlalchemy.text("SELECT note FROM probe ORDER BY id"))
                    assert [r.note for r in rows] == ["客户", "customer"]
            finally:
                engine.dispose()

        assert not _database_exists(admin_url, name)

    def test_each_call_gets_its_own_database(self, admin_url: str) -> None:
        with (
            throwaway_database(admin_url, prefix="finance_crm_a") as a,
            throwaway_database(admin_url, prefix="finance_crm_a") as b,
        ):
            assert make_url(a).database != make_url(b).database
        assert not _database_exists(admin_url, str(make_url(a).database))
        assert not _database_exists(admin_url, str(make_url(b).database))

    def test_drops_the_database_despite_an_error_and_an_open_connection(
        self, admin_url: str
    ) -> None:
        seen: dict[str, str] = {}
        engines: list[sqlalchemy.Engine] = []
        leaked: list[sqlalchemy.Connection] = []

        def work_then_crash() -> None:
            with throwaway_database(admin_url) as url:
                seen["name"] = str(make_url(url).database)
                engine = sqlalchemy.create_engine(url, poolclass=NullPool)
                engines.append(engine)
                conn = engine.connect()  # left open on purpose: DROP ... WITH (FORCE) ends it
                leaked.append(conn)
                conn.execute(sqlalchemy.text("SELECT 1"))
                raise RuntimeError("boom")

        try:
            with pytest.raises(RuntimeError, match="boom"):
                work_then_crash()
            assert seen["name"].startswith("finance_crm_test_")
            assert not _database_exists(admin_url, seen["name"])
        finally:
            for conn in leaked:  # the server has ended it: throw it away, no round trip
                conn.invalidate()
                conn.close()
            for engine in engines:
                engine.dispose()

    def test_rejects_a_prefix_that_is_not_an_identifier(self, admin_url: str) -> None:
        with pytest.raises(ValueError, match="prefix"), throwaway_database(admin_url, 'x"; --'):
            pass


class TestSkipOrFailWithoutPostgres:
    """The rules, checked without a server."""

    def test_reads_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("FINANCE_CRM_TEST_POSTGRES_URL", raising=False)
        assert postgres_admin_url() is None
        monkeypatch.setenv("FINANCE_CRM_TEST_POSTGRES_URL", "postgresql+psycopg://u@h:1/d")
        assert postgres_admin_url() == "postgresql+psycopg://u@h:1/d"
        for value, expected in [("1", True), ("true", True), ("TRUE", True), ("0", False)]:
            monkeypatch.setenv("FINANCE_CRM_REQUIRE_POSTGRES", value)
            assert postgres_required() is expected
        monkeypatch.delenv("FINANCE_CRM_REQUIRE_POSTGRES")
        assert postgres_required() is False

    def test_skips_without_a_url(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("FINANCE_CRM_TEST_POSTGRES_URL", raising=False)
        monkeypatch.delenv("FINANCE_CRM_REQUIRE_POSTGRES", raising=False)
        with pytest.raises(pytest.skip.Exception, match="FINANCE_CRM_TEST_POSTGRES_URL="):
            skip_or_fail_without_postgres()

    def test_fails_without_a_url_when_required(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("FINANCE_CRM_TEST_POSTGRES_URL", raising=False)
        monkeypatch.setenv("FINANCE_CRM_REQUIRE_POSTGRES", "1")
        with pytest.raises(pytest.fail.Exception, match="CI must run the PostgreSQL contract"):
            skip_or_fail_without_postgres()

    @pytest.mark.parametrize(
        ("required", "outcome"), [("", pytest.skip.Exception), ("1", pytest.fail.Exception)]
    )
    def test_unreachable_server(
        self, monkeypatch: pytest.MonkeyPatch, required: str, outcome: type[BaseException]
    ) -> None:
        # Port 1 on loopback: nothing listens there, so the connection is refused at once.
        monkeypatch.setenv(
            "FINANCE_CRM_TEST_POSTGRES_URL", "postgresql+psycopg://someone:secret@127.0.0.1:1/db"
        )
        monkeypatch.setenv("FINANCE_CRM_REQUIRE_POSTGRES", required)
        with pytest.raises(outcome, match="unreachable") as info:
            skip_or_fail_without_postgres()
        assert "secret" not in str(info.value)
