"""A file written for a row stays only if the row lands (admin.db.kept_with), on SQLite and PostgreSQL.

Packets, their fax TIFFs, documents and faxed replies are files on disk named by a row; a request
that fails after writing one (a fax server that does not answer after a new packet version was
built) rolls the row back, and the file must go with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from admin.db import Database, kept_with


def _written(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(b"%PDF-1.7 a packet")
    return path


def _touch_db(session: object) -> None:
    session.execute(text("SELECT 1"))  # type: ignore[attr-defined]  # begins the transaction


def test_a_commit_keeps_the_file(empty_db: Database, tmp_path: Path) -> None:
    with empty_db.transaction() as session:
        _touch_db(session)
        path = _written(tmp_path, "kept.pdf")
        with kept_with(session, path):
            pass
    assert path.is_file()


def test_an_error_inside_the_block_removes_the_file_at_once(empty_db: Database, tmp_path: Path) -> None:
    with empty_db.transaction() as session:
        _touch_db(session)
        path = _written(tmp_path, "half.pdf")
        with pytest.raises(ValueError), kept_with(session, path):
            raise ValueError("the row could not be written")
        assert not path.exists()


def test_a_later_failure_in_the_same_transaction_removes_the_file(empty_db: Database, tmp_path: Path) -> None:
    path = _written(tmp_path, "orphan.pdf")
    with pytest.raises(RuntimeError), empty_db.transaction() as session:
        _touch_db(session)
        with kept_with(session, path):
            pass
        assert path.is_file()
        raise RuntimeError("the fax server did not answer")
    assert not path.exists()


def test_an_explicit_rollback_and_a_close_without_commit_remove_it(
    empty_db: Database, tmp_path: Path
) -> None:
    session = empty_db.sessions()
    _touch_db(session)
    rolled = _written(tmp_path, "rolled.pdf")
    with kept_with(session, rolled):
        pass
    session.rollback()
    assert not rolled.exists()
    _touch_db(session)
    closed = _written(tmp_path, "closed.pdf")
    with kept_with(session, closed):
        pass
    session.close()
    assert not closed.exists()


def test_a_savepoint_takes_only_its_own_files_with_it(empty_db: Database, tmp_path: Path) -> None:
    with empty_db.transaction() as session:
        _touch_db(session)
        outer = _written(tmp_path, "outer.pdf")
        with kept_with(session, outer):
            pass
        savepoint = session.begin_nested()
        inner = _written(tmp_path, "inner.pdf")
        with kept_with(session, inner):
            pass
        savepoint.rollback()
        assert not inner.exists() and outer.is_file()
        released = session.begin_nested()
        kept = _written(tmp_path, "released.pdf")
        with kept_with(session, kept):
            pass
        released.commit()
        assert kept.is_file()
    assert outer.is_file() and kept.is_file()


def test_a_released_savepoint_file_goes_when_the_outer_transaction_rolls_back(
    empty_db: Database, tmp_path: Path
) -> None:
    path = _written(tmp_path, "nested.pdf")
    with pytest.raises(RuntimeError), empty_db.transaction() as session:
        _touch_db(session)
        with session.begin_nested(), kept_with(session, path):
            pass
        assert path.is_file()
        raise RuntimeError("a later step failed")
    assert not path.exists()
