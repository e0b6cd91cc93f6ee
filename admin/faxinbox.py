"""A watched folder of faxed replies: every file a fax server drops there is taken in (admin/inbound.py).

    priorauth fax watch DIR [--interval 10] [--once]
    inbox = start(app, folder)      # in `priorauth serve`, when PRIORAUTH_FAX_INBOX names a folder

A file is taken once it has stopped growing (its size and time unchanged for `settle` seconds: the
fax server may still be writing it). Once read it moves to `DIR/processed/` (matched or queued for
a person, it is in the database either way), or to `DIR/failed/` with `<name>.why.txt` saying why
(not a PDF or TIFF, too large, damaged). Names starting with "." are skipped (temporary files).
A failure is logged by type, never with the fax's content (admin/sweeper.py `Periodic`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from admin import cases, inbound
from admin.db import Database
from admin.models_cases import Case
from admin.sweeper import Periodic

SUFFIXES = {".pdf", ".tif", ".tiff", ".png", ".jpg", ".jpeg"}


@dataclass(frozen=True, slots=True)
class Taken:
    file: str
    reference: str | None  # the case it was matched to
    matched_by: str | None
    fax_id: int | None
    problem: str | None = None


def ready(folder: Path, settle: float = 2.0) -> Iterator[Path]:
    """The files in `folder` a fax server has finished writing, oldest first."""
    now = time.time()
    found = []
    for path in folder.iterdir():
        if path.name.startswith(".") or path.suffix.lower() not in SUFFIXES or not path.is_file():
            continue
        stat = path.stat()
        if now - stat.st_mtime >= settle:
            found.append((stat.st_mtime, path))
    yield from (path for _, path in sorted(found))


def take(
    db: Database,
    path: Path,
    actor: str,
    org_slug: str | None = None,
    source: str = "folder",
    root: Path | None = None,
) -> Taken:
    """Ingest one file in its own transaction; never raises for the file's own faults."""
    try:
        with db.transaction() as session, path.open("rb") as stream:
            org = cases.organization(session, org_slug)
            fax = inbound.ingest(
                session, org, actor, stream, source=source, filename_hint=path.name, root=root
            )
            reference = None
            if fax.case_id is not None:
                case = session.get(Case, fax.case_id)
                reference = case.reference if case else None
            return Taken(str(path), reference, fax.matched_by, fax.id)
    except cases.CaseError as exc:
        return Taken(str(path), None, None, None, "; ".join(what for _, what in exc.problems))
    except OSError as exc:
        return Taken(str(path), None, None, None, f"cannot read the file ({exc.strerror})")


def sweep(
    db: Database, folder: Path, actor: str, org_slug: str | None = None, settle: float = 2.0
) -> list[Taken]:
    """Take every finished file in `folder`, moving each to processed/ or failed/."""
    done, failed = folder / "processed", folder / "failed"
    done.mkdir(exist_ok=True)
    failed.mkdir(exist_ok=True)
    results = []
    for path in list(ready(folder, settle)):
        taken = take(db, path, actor, org_slug)
        target = failed if taken.problem else done
        os.replace(path, _free(target / path.name))
        if taken.problem:
            _free(target / f"{path.name}.why.txt").write_text(taken.problem + "\n", "utf-8")
        results.append(taken)
    return results


def _free(path: Path) -> Path:
    """`path`, or `name-2.ext`... when a file of that name is already there."""
    n, candidate = 1, path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def start(app: Any, folder: Path, interval: float = 10) -> Periodic:
    """Take in what a fax server drops in `folder`, every `interval` seconds (in `priorauth serve`)."""
    folder.mkdir(parents=True, exist_ok=True)
    db: Database = app.extensions["priorauth.db"]

    def look() -> str | None:
        taken = sweep(db, folder, f"folder:{folder.name}")
        matched = sum(1 for t in taken if t.reference)
        failed = sum(1 for t in taken if t.problem)
        return f"{len(taken)} taken in, {matched} matched, {failed} refused" if taken else None

    return Periodic("priorauth-fax-inbox", interval, look).start()
