"""The database: one SQLAlchemy engine per app or command, sessions, and the migration check.

    db = Database(url)                   # sqlite:///... (the default) or postgresql+psycopg://...
    with db.transaction() as session:    # commits, or rolls back everything on any error
        ...
    db.check_migrated()                  # raises NotMigrated naming `priorauth db upgrade`
    with kept_with(session, path): ...   # a file written for a row: gone if the row does not land

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


_NEW_FILES = "priorauth.new_files"


@contextmanager
def kept_with(session: Session, path: Path) -> Iterator[None]:
    """A file just written for rows this session is adding: it stays only if they land.

    An error inside the block deletes it at once; after the block it is deleted when the
    transaction (or the savepoint it was written in) rolls back or ends without a commit, for
    example when a later step of the same request fails. A commit keeps it. So no file on disk
    is left without the row that names it (a packet's PDF, its fax TIFF, a document, a fax).
    """
    try:
        yield
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    # the savepoint it was written in and every transaction around it (a finished savepoint
    # forgets its parent, so the chain is taken now)
    chain = []
    transaction = session.get_nested_transaction() or session.get_transaction()
    while transaction is not None:
        chain.append(transaction)
        transaction = transaction.parent
    if chain:  # else nothing to roll back: the rows are already in
        session.info.setdefault(_NEW_FILES, []).append((path, tuple(chain)))


@event.listens_for(Session, "after_commit")
def _files_kept(session: Session) -> None:
    if session.get_nested_transaction() is None:  # the outermost committed, not a savepoint released
        session.info.pop(_NEW_FILES, None)


@event.listens_for(Session, "after_soft_rollback")
def _files_rolled_back(session: Session, previous: Any) -> None:
    _drop_files(session, previous)


@event.listens_for(Session, "after_transaction_end")
def _files_not_committed(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost one ended, and after_commit did not run
        _drop_files(session, transaction)


def _drop_files(session: Session, ended: Any) -> None:
    pending = session.info.get(_NEW_FILES)
    if not pending:
        return
    kept = []
    for path, chain in pending:
        if any(transaction is ended for transaction in chain):
            path.unlink(missing_ok=True)
        else:
            kept.append((path, chain))
    session.info[_NEW_FILES] = kept


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
