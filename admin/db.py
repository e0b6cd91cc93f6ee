"""The database: one SQLAlchemy engine per app or command, sessions, and the migration check.

    db = Database(url)                   # sqlite:///... (the default) or postgresql+psycopg://...
    with db.transaction() as session:    # commits, or rolls back everything on any error
        ...
    db.check_migrated()                  # raises NotMigrated naming `priorauth db upgrade`

Alembic owns the schema (admin/migrations/); nothing here creates tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, scoped_session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class NotMigrated(Exception):
    """The database schema is not at the code's revision; the message says which command fixes it."""


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


class Database:
    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=True, **engine_options)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.scoped: scoped_session[Session] = scoped_session(self.sessions)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed at the end, or rolled back entirely on any error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["engine"] = self.engine
        return config

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate to the newest revision; returns (revision before, revision now)."""
        from alembic import command

        before = self.current_revision()
        command.upgrade(self.alembic_config(), "head")
        return before, self.head_revision()

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str:
        head = ScriptDirectory.from_config(self.alembic_config()).get_current_head()
        if head is None:  # pragma: no cover - the project ships its migrations
            raise RuntimeError(f"no migrations found in {MIGRATIONS}")
        return head

    def check_migrated(self) -> None:
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            state = (
                "has no priorauth tables yet" if current is None else f"is at revision {current}, not {head}"
            )
            raise NotMigrated(
                f"the database {safe_url(self.url)} {state}: run `priorauth db upgrade` "
                "(with the same PRIORAUTH_DATABASE_URL) and start again"
            )

    def dispose(self) -> None:
        self.scoped.remove()
        self.engine.dispose()


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
