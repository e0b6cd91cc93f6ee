"""Spool: faxes handed to a fax server that watches a folder.

    provider = SpoolProvider(Path("/var/spool/priorauth-fax"))

The contract between priorauth and the fax server (the watcher):

- The spool holds five folders, one per state: outgoing/ (queued), sending/, done/ (delivered),
  failed/ and cancelled/. priorauth makes them as it needs them, mode 0700, and writes every file
  mode 0600, so the watcher runs as the same user as priorauth.
- A job is a pair of files named by its idempotency key, which is also its job id: the document,
  `<key>.tif` or `<key>.pdf`, and its ticket, `<key>.json`:
      {"to": "+15550100", "key": "<key>", "file": "<key>.pdf", "pages": 3,
       "queued_at": "2026-03-02T14:05:09Z"}
  `to` is the number to dial (digits, a leading + for E.164); `pages` is null when priorauth
  could not count them; `queued_at` is UTC.
- `send` writes the document into outgoing/, then the ticket. Each is written under a temporary
  name in the same folder (starting with "." and ending in ".part") and renamed into place, the
  ticket last: a watcher that picks up `outgoing/*.json` always finds the whole document beside it.
- The job is wherever its ticket is; whoever moves the ticket out of outgoing/ first owns the job
  (a rename succeeds once). The watcher takes a job by renaming `outgoing/<key>.json` to
  `sending/<key>.json`, then moves the document; if that rename fails, priorauth cancelled the
  job meanwhile: leave it. priorauth cancels by moving the ticket, then the document, from
  outgoing/ to cancelled/. A job in sending/ can no longer be cancelled.
- When the fax is through, the watcher writes `<key>.result.json` into done/ (every page
  confirmed) or failed/ (given up), through a temporary name and a rename, and then moves the
  ticket and the document there:
      {"state": "delivered" | "failed", "reason": "busy", "pages_sent": 3, "attempts": 2}
  `reason` is the fax server's words about the line (busy, no answer, ...), never the document's.
- A key seen in any of the five folders is never written again: `send` returns that job.
  priorauth holds `<spool>/.send.lock` (flock) while it looks for a key and writes it. A key
  cannot end in ".result", which would name another key's result file.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.fax.base import FaxError, FaxJob, check_document, check_key, check_number

#: In the order a job moves, so a job moving on while `send` looks is still seen, in a later folder.
FOLDERS = ("outgoing", "sending", "done", "failed", "cancelled")
_STATE = dict(zip(FOLDERS, ("queued", "sending", "delivered", "failed", "cancelled"), strict=True))


# Not frozen: FaxProvider declares `name` as a settable attribute, which a frozen class is not.
@dataclass(slots=True)
class SpoolProvider:
    """Outbound faxes as files in a folder a fax server watches (see the module's docstring)."""

    spool_dir: Path
    name: str = field(default="spool", init=False)

    def __post_init__(self) -> None:
        self.spool_dir = Path(self.spool_dir)  # a setting from the environment arrives as text

    def send(self, document: Path, to_number: str, idempotency_key: str) -> FaxJob:
        """Queue the document for the number, or return the job already made for this key."""
        key = check_key(idempotency_key)
        if key.endswith(".result"):
            raise FaxError("a fax spool's idempotency key cannot end in '.result'", permanent=True)
        number = check_number(to_number)
        try:
            data = check_document(document).read_bytes()
        except OSError as exc:
            raise FaxError(f"cannot read the document to fax ({exc.strerror})", permanent=True) from None
        suffix = ".pdf" if data.startswith(b"%PDF-") else ".tif"
        try:
            with self._lock():
                job = self._look(key)
                if job is not None:
                    return job
                outgoing = self._folder("outgoing")
                _write(outgoing, key + suffix, data)
                pages = _pages(document, suffix)
                queued_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                ticket = {
                    "to": number,
                    "key": key,
                    "file": key + suffix,
                    "pages": pages,
                    "queued_at": queued_at,
                }
                _write(outgoing, f"{key}.json", json.dumps(ticket).encode())
        except OSError as exc:
            raise _spool_error(self.spool_dir, exc) from None
        return FaxJob(self.name, key, key, number, pages_total=pages)

    def status(self, job: FaxJob) -> FaxJob:
        """Where the job's ticket is now; a malformed result file is a FaxError naming it."""
        try:
            now = self._look(check_key(job.idempotency_key))
        except OSError as exc:
            raise _spool_error(self.spool_dir, exc) from None
        return now if now is not None else job.moved("failed", "the fax spool no longer holds this job")

    def cancel(self, job: FaxJob) -> FaxJob:
        """Move a job still in outgoing/ to cancelled/; a job done comes back unchanged.

        Raises FaxError (permanent) for a job the fax server is already sending."""
        key = check_key(job.idempotency_key)
        outgoing = self.spool_dir / "outgoing"
        try:
            cancelled = self._folder("cancelled")
            os.replace(outgoing / f"{key}.json", cancelled / f"{key}.json")  # the ticket first: see above
        except FileNotFoundError:
            now = self.status(job)
            if now.state == "sending":
                raise FaxError("the fax is already being sent and can no longer be cancelled", True) from None
            return now
        except OSError as exc:
            raise _spool_error(self.spool_dir, exc) from None
        for suffix in (".tif", ".pdf"):
            try:
                os.replace(outgoing / (key + suffix), cancelled / (key + suffix))
            except FileNotFoundError:
                continue
        return job.moved("cancelled")

    def _look(self, key: str) -> FaxJob | None:
        """The job as its files say, or None when no folder holds its ticket."""
        for _ in range(3):  # the watcher may move the job on between finding and reading it
            folder = next(
                (name for name in FOLDERS if (self.spool_dir / name / f"{key}.json").exists()), None
            )
            if folder is None:
                return None
            try:
                return self._read(key, folder)
            except FileNotFoundError:
                continue
        raise FaxError("the fax job moved between spool folders while being read: try again")

    def _read(self, key: str, folder: str) -> FaxJob:
        path = self.spool_dir / folder / f"{key}.json"
        ticket = _load(path)
        if not isinstance(ticket.get("to"), str):
            raise FaxError(f"{path} has no 'to' number", permanent=True)
        job = FaxJob(
            self.name, key, key, ticket["to"], _STATE[folder], pages_total=_count(ticket, "pages", path)
        )
        if folder not in ("done", "failed"):
            return job
        path = self.spool_dir / folder / f"{key}.result.json"
        try:
            result = _load(path)
        except FileNotFoundError:
            result = {}
        if result.get("state", job.state) != job.state:
            raise FaxError(f"{path}: its 'state' does not match its folder, {folder}/", permanent=True)
        reason = result.get("reason") or ""
        if not isinstance(reason, str):
            raise FaxError(f"{path}: 'reason' must be text", permanent=True)
        reason = (reason or "the fax server gave no reason") if folder == "failed" else ""
        sent, attempts = _count(result, "pages_sent", path), _count(result, "attempts", path) or 0
        return job.moved(job.state, reason, pages_sent=sent, attempts=attempts)

    def _folder(self, name: str) -> Path:
        """spool_dir/name, made mode 0700 (with the spool itself) when missing."""
        path = self.spool_dir / name
        for each in (self.spool_dir, path):
            if not each.is_dir():
                each.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(each, 0o700)  # mkdir's mode passes through the umask
        return path

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """One sender at a time: two that both find no job for a key would both write it."""
        self._folder("outgoing")
        handle = os.open(self.spool_dir / ".send.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)  # and with it the lock


def _write(folder: Path, name: str, data: bytes) -> None:
    """folder/name, written through a temporary name and a rename: never seen half-written."""
    temp = folder / f".{name}.{secrets.token_hex(4)}.part"
    try:
        with open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as target:
            os.fchmod(target.fileno(), 0o600)  # whatever the umask
            target.write(data)
            target.flush()
            os.fsync(target.fileno())
        os.replace(temp, folder / name)
    finally:
        temp.unlink(missing_ok=True)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def _load(path: Path) -> dict[str, Any]:
    """A JSON object from the spool; FileNotFoundError passes, anything else is a FaxError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError):  # ValueError: not JSON, or not UTF-8
        data = None
    if not isinstance(data, dict):
        raise FaxError(f"{path} is not a readable JSON object: the fax server must write it whole", True)
    return data


def _count(data: dict[str, Any], name: str, path: Path) -> int | None:
    value = data.get(name)
    if value is None or (type(value) is int and value >= 0):
        return value
    raise FaxError(f"{path}: {name!r} must be a whole number or null", permanent=True)


def _pages(document: Path, suffix: str) -> int | None:
    """The document's page count, or None when it cannot be read (counting is a courtesy)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pypdf and Pillow warn about oddities they repair
        try:
            if suffix == ".pdf":
                from pypdf import PdfReader

                return len(PdfReader(document).pages)
            from PIL import Image

            with Image.open(document) as image:
                return int(getattr(image, "n_frames", 1))
        except Exception:  # both raise many kinds for a damaged file
            return None


def _spool_error(spool_dir: Path, exc: OSError) -> FaxError:
    permanent = isinstance(exc, PermissionError)  # a person must fix the folder's owner or mode
    return FaxError(f"the fax spool {spool_dir} cannot be used ({exc.strerror})", permanent)
