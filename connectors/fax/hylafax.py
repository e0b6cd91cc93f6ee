"""HylaFAX: faxes sent through the HylaFAX client commands `sendfax`, `faxstat` and `faxrm`.

    provider = HylaFaxProvider(host="fax.example.org", sender="prior-auth@example.org")

The commands run as subprocesses from argument lists, never through a shell, with LC_ALL=C (the
client translates its messages, and they are read here in English):

    sendfax -n -i KEY [-h HOST] [-f SENDER] -d NUMBER /abs/path/packet.tif
        -i (the job tag, faxstat's %J) comes before -d: sendfax gives each destination the
        options seen before its -d. Prints "request id is N (group id G) for host H (1 file)".
    faxstat [-h HOST] -s -d
        the send and done queues, one line per job in JOB_FORMAT. Debian's faxstat (HylaFAX
        6.0) has no -O option, so the format goes in a .hylarc (`JobFmt: "..."`, after the
        user's own ~/.hylarc) in a private HOME made for the call; HylaFAX+ reads it the same way.
    faxrm [-h HOST] JOBID
        prints "Job N removed." (or "... removed (from doneq)." for a job already done).

`send` first looks for a job tagged with the idempotency key in both queues and returns it if
there is one: a key is never sent twice while the fax server remembers the job (faxqclean drops
done jobs after a while, so keep your own record of keys sent). Every failure is a FaxError with
the command's own words (its standard error, trimmed to 300 characters); `permanent` comes from
those words, because sendfax exits 255 for every failure and faxstat and faxrm exit 0 even then.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.fax.base import FaxError, FaxJob, check_document, check_key, check_number

#: What faxstat prints per job: a marker, job id, state, pages sent:total, dials done:max, job
#: tag, status (the last failure's reason; free text, so last). Fields are HylaFAX's JobFmt codes.
JOB_FORMAT = "priorauth|%j|%a|%P|%D|%J|%s"
#: The column titles faxstat prints above the jobs for that format (FaxClient::makeHeader).
JOB_HEADER = "priorauth|JID|State|Pages|Dials|JobTag|Status"
_ROW = re.compile(r"priorauth\|(\d+)\|([?TPSBWRDF])\|\s*(\d+):(\d+)\s*\|\s*(\d+):(\d+)\s*\|([^|]*)\|(.*)")
_REQUEST = re.compile(r"request id is (\d+) \(group id \d+\) for host .*? \(\d+ files?\)")
_REMOVED = re.compile(r"Job (\d+) removed( \(from doneq\))?\.")
#: faxstat's %a. Suspended, pending, sleeping (between tries), blocked (another job to the same
#: number) and waiting (for a modem) are all still waiting their turn.
_STATES = {**dict.fromkeys("?TPSBW", "queued"), "R": "sending", "D": "delivered", "F": "failed"}
#: Words that mean a person must change something first (number, document, account, host).
_PERMANENT = re.compile(
    r"dialstring|destination|page size|file type|not a regular file|can ?not convert|access denied|"
    r"login incorrect|permission denied|usage:|unknown host|does not exist|unknown job|no such job",
    re.IGNORECASE,
)
_INSTALL = "install the HylaFAX client (Debian package hylafax-client) or give its path"


@dataclass(frozen=True, slots=True)
class _Row:
    """One job as faxstat listed it."""

    job_id: str
    state: str  # HylaFAX's one-letter state
    pages_sent: int
    pages_total: int
    dials: int
    tag: str
    status: str


# Not frozen: FaxProvider declares `name` as a settable attribute, which a frozen class is not.
@dataclass(slots=True)
class HylaFaxProvider:
    """Outbound faxes through a HylaFAX server's client commands (see the module's docstring)."""

    sendfax: str = "sendfax"
    faxstat: str = "faxstat"
    faxrm: str = "faxrm"
    host: str | None = None  # [modem@]host[:port]; None: FAXSERVER or the client's configuration
    sender: str | None = None  # sendfax -f: who the fax server mails about the job
    timeout: float = 60  # seconds for each command
    runner: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
    name: str = field(default="hylafax", init=False)

    def send(self, document: Path, to_number: str, idempotency_key: str) -> FaxJob:
        """Queue the document for the number, or return the job already made for this key."""
        key = check_key(idempotency_key)
        number = check_number(to_number)
        check_document(document)
        for row in self._listing():
            if row.tag == key:
                return _job(row, key, number)
        sender = ["-f", self.sender] if self.sender else []
        # an absolute path: a relative name starting with "-" would be read as an option
        argv = [self.sendfax, "-n", "-i", key, *self._host(), *sender, "-d", number]
        done = self._run([*argv, str(document.resolve())], "sendfax")
        found = _REQUEST.search(done.stdout)
        if done.returncode == 0 and found:
            return FaxJob(self.name, found.group(1), key, number)
        # words without a request id are transient unless they say otherwise: had the job been
        # queued after all, the next send finds it by its tag instead of sending again
        raise _failure("sendfax", done)

    def status(self, job: FaxJob) -> FaxJob:
        """The job's state on the fax server; a job already done comes back unchanged."""
        if job.done:  # a final state does not change, and the server forgets done jobs in time
            return job
        for row in self._listing():
            # the tag too: job numbers start again from 1 when a fax server is set up anew
            if row.job_id == job.job_id and row.tag == job.idempotency_key:
                return _job(row, job.idempotency_key, job.to_number)
        return job.moved("failed", "the fax server no longer knows this job")

    def cancel(self, job: FaxJob) -> FaxJob:
        """Withdraw the job (aborting a call in progress); a job already done comes back unchanged."""
        now = self.status(job)
        if now.done:
            return now
        done = self._run([self.faxrm, *self._host(), now.job_id], "faxrm")
        found = _REMOVED.search(done.stdout)
        if found is None or found.group(1) != now.job_id:
            raise _failure("faxrm", done)
        if found.group(2):  # faxrm deletes a done job's record when the job ended meanwhile
            raise FaxError(
                "the fax ended while it was being cancelled and faxrm removed the fax server's record "
                "of it: see the fax server's transfer log (xferfaxlog) for how it ended",
                permanent=True,
            )
        return now.moved("cancelled")

    def _host(self) -> list[str]:
        return ["-h", self.host] if self.host else []

    def _listing(self) -> list[_Row]:
        """Every job in the send and done queues, through faxstat with JOB_FORMAT."""
        with tempfile.TemporaryDirectory(prefix="priorauth-faxstat-") as home:
            Path(home, ".hylarc").write_text(_hylarc(), encoding="utf-8")
            done = self._run([self.faxstat, *self._host(), "-s", "-d"], "faxstat", home=home)
        if done.returncode != 0 or done.stderr.strip():
            raise _failure("faxstat", done)
        return _parse_listing(done.stdout)

    def _run(self, argv: list[str], role: str, home: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, LC_ALL="C")
        if home is not None:
            env["HOME"] = home
        command = argv[0]
        options: dict[str, Any] = {"capture_output": True, "encoding": "utf-8", "errors": "replace"}
        try:
            return self.runner(argv, env=env, timeout=self.timeout, check=False, **options)
        except FileNotFoundError:
            raise FaxError(f"{role} ({command!r}) was not found: {_INSTALL} ({role}=...)", True) from None
        except PermissionError:
            raise FaxError(
                f"{role} ({command!r}) cannot be run here: {_INSTALL} ({role}=...)", True
            ) from None
        except subprocess.TimeoutExpired:
            raise FaxError(
                f"{role} did not finish within {self.timeout:g} s: is the fax server up?"
            ) from None
        except OSError as exc:
            raise FaxError(f"{role} could not be started ({exc.strerror})") from None


def _hylarc() -> str:
    """The user's own ~/.hylarc (its Host, Port, ...), then JOB_FORMAT, which wins being last."""
    try:
        own = Path(os.path.expanduser("~/.hylarc")).read_text(encoding="utf-8", errors="replace")
    except OSError:
        own = ""
    return f'{own}\nJobFmt: "{JOB_FORMAT}"\n'


def _parse_listing(text: str) -> list[_Row]:
    """The jobs in faxstat's output: the server's status lines, a blank line, then each queue
    (a blank line, JOB_HEADER, its jobs). Any other line after the status means the format was
    not honoured, and reading on could miss a job (and send it twice): FaxError."""
    if not text.strip():  # faxstat always prints the scheduler's state first
        raise FaxError("faxstat printed nothing: is the fax server up?")
    rows: list[_Row] = []
    past_status = False
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            past_status = True
        elif past_status and line.rstrip() != JOB_HEADER:
            found = _ROW.fullmatch(line.rstrip())
            if found is None:  # the line is not shown: it could hold another job's number
                raise FaxError(
                    f"faxstat printed a job listing this provider cannot read (line {number}): the "
                    "job format it was given may have been ignored; check the HylaFAX client version",
                    permanent=True,
                )
            job_id, state, sent, total, dials, _, tag, status = found.groups()
            rows.append(_Row(job_id, state, int(sent), int(total), int(dials), tag, status.strip()))
    return rows


def _job(row: _Row, key: str, number: str) -> FaxJob:
    state = _STATES[row.state]
    reason = (row.status or "the fax server gave no reason") if state == "failed" else ""
    return FaxJob(
        "hylafax", row.job_id, key, number, state, reason, row.pages_sent, row.pages_total, row.dials
    )


def _failure(role: str, done: subprocess.CompletedProcess[str]) -> FaxError:
    """A FaxError with what the command printed (the fax server's words, trimmed)."""
    words = " ".join((done.stderr.strip() or done.stdout.strip()).split())[:300]
    if not words:
        words = f"it printed nothing (exit status {done.returncode})"
    return FaxError(f"{role} failed: {words}", permanent=bool(_PERMANENT.search(words)))
