"""Databases for the tests: SQLite always, PostgreSQL when it is reachable.

    empty_db     a migrated, empty store; parametrized over sqlite and postgresql
    shipped_url  a SQLite store with the shipped forms and rulesets published (copied per test)

PostgreSQL: one database per test run (`priorauth_test_<random>`, created and dropped here) at
PRIORAUTH_TEST_POSTGRES (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres); every
test starts from empty tables (TRUNCATE). When the server does not answer, those tests skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from admin import store
from admin.db import Database, sqlite_url

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("PRIORAUTH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TABLES = (
    "inbound_faxes",
    "fax_jobs",
    "case_packets",
    "case_usage",
    "case_responses",
    "case_answers",
    "case_documents",
    "case_decisions",
    "cases",
    "audit_events",
    "document_versions",
    "documents",
    "api_tokens",
    "roles_users",
    "webauthn",
    "login_throttle",
    "users",
    "roles",
    "payers",
    "organizations",
)


def publish_shipped(db: Database) -> None:
    with db.transaction() as session:
        store.push(session, "test-setup", "form", store.files_of([str(ROOT / "forms")]), publish_now=True)
        store.push(
            session,
            "test-setup",
            "template",
            store.files_of([str(ROOT / "forms" / "packets")]),
            publish_now=True,
        )
        store.push(
            session, "test-setup", "ruleset", store.files_of([str(ROOT / "rulesets")]), publish_now=True
        )


@pytest.fixture(autouse=True)
def _own_instance(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the developer's instance folder or database."""
    monkeypatch.setenv("PRIORAUTH_INSTANCE_PATH", str(tmp_path_factory.mktemp("instance")))
    monkeypatch.delenv("PRIORAUTH_DATABASE_URL", raising=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    admin_engine = sa.create_engine(
        POSTGRES, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 2}
    )
    try:
        with admin_engine.connect():
            pass
    except sa.exc.OperationalError:
        admin_engine.dispose()
        yield None
        return
    name = f"priorauth_test_{secrets.token_hex(4)}"
    with admin_engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    db.upgrade()
    db.dispose()
    try:
        yield url
    finally:
        with admin_engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "empty.db"
    db = Database(sqlite_url(path))
    db.upgrade()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def shipped_template(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    path = tmp_path_factory.mktemp("template") / "shipped.db"
    shutil.copy(sqlite_template, path)
    db = Database(sqlite_url(path))
    publish_shipped(db)
    db.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copy(sqlite_template, path)
        db = Database(sqlite_url(path))
    else:
        url = request.getfixturevalue("postgres_url")
        if url is None:
            pytest.skip(f"PostgreSQL is not reachable at {POSTGRES}")
        db = Database(url)
        with db.engine.begin() as connection:
            connection.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def shipped_url(tmp_path: Path, shipped_template: Path) -> str:
    path = tmp_path / "shipped.db"
    shutil.copy(shipped_template, path)
    return sqlite_url(path)
