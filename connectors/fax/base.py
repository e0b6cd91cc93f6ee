"""The seam every outbound fax provider implements, and the states a fax job goes through.

    provider = providers.get("spool", spool_dir=Path("/var/spool/priorauth-fax"))
    job = provider.send(Path("packet.tif"), "+15550100", idempotency_key="PA-7KQ2M9XD:packet-3")
    job = provider.status(job)          # queued -> sending -> delivered | failed (reason)
    job = provider.cancel(job)          # cancelled, when the provider still can

A provider never sends twice for one idempotency key: `send` with a key it has seen returns the
job it made then, whatever state it is in. What a provider reports (`reason`) is the fax
server's own words about the line (busy, no answer, ...), never the document's content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

#: queued: accepted, waiting for a line; sending: dialing or transmitting; delivered: the far
#: end confirmed every page; failed: given up (see `reason`); cancelled: withdrawn before done.
STATES = ("queued", "sending", "delivered", "failed", "cancelled")
FINAL = ("delivered", "failed", "cancelled")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,119}")
_NUMBER = re.compile(r"\+?[0-9]{7,15}")


class FaxError(Exception):
    """A fax could not be handed to the provider, or its state read.

    `permanent` says whether trying again can help (a bad number: no; a fax server that did not
    answer: yes). The message names the provider and what went wrong, never the document.
    """

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class FaxJob:
    """One outbound fax as the provider knows it."""

    provider: str  # the provider's registry name: "hylafax", "spool"
    job_id: str  # the provider's own id for it (HylaFAX's job number; the spool's file stem)
    idempotency_key: str
    to_number: str  # as dialled: digits, with a leading + for E.164
    state: str = "queued"  # one of STATES
    reason: str = ""  # why it failed or was cancelled, in the fax server's words
    pages_sent: int | None = None
    pages_total: int | None = None
    attempts: int = 0

    def moved(self, state: str, reason: str = "", **changes: int | None) -> FaxJob:
        """This job in another state (a new object: jobs are values)."""
        if state not in STATES:
            raise ValueError(f"unknown fax job state {state!r}")
        return replace(self, state=state, reason=reason, **changes)  # type: ignore[arg-type]

    @property
    def done(self) -> bool:
        return self.state in FINAL


class FaxProvider(Protocol):
    """What the app needs of a fax service. Implementations live beside this module."""

    name: str

    def send(self, document: Path, to_number: str, idempotency_key: str) -> FaxJob:
        """Hand a TIFF (Class F) or PDF to the service. Same key, same job: never sent twice."""
        ...

    def status(self, job: FaxJob) -> FaxJob:
        """The job's state now."""
        ...

    def cancel(self, job: FaxJob) -> FaxJob:
        """Withdraw a job not yet done; a job already done comes back unchanged."""
        ...


def check_number(number: str) -> str:
    """A fax number as dialled: spaces, dots, dashes and brackets dropped; 7-15 digits, optional +.

    Raises FaxError (permanent) naming what is wrong, never echoing more than the shape."""
    dialled = re.sub(r"[\s().-]", "", number or "")
    if not _NUMBER.fullmatch(dialled):
        raise FaxError(
            "the fax number must be 7 to 15 digits, optionally after a + (for example +15550100)",
            permanent=True,
        )
    return dialled


def check_key(key: str) -> str:
    """An idempotency key: 1-120 characters of letters, digits and . _ : - (it names files)."""
    if not _KEY.fullmatch(key or ""):
        raise FaxError(
            "an idempotency key is 1 to 120 letters, digits, '.', '_', ':' or '-', starting with a "
            "letter or digit",
            permanent=True,
        )
    return key


def check_document(document: Path) -> Path:
    """The file to send exists and is a TIFF or a PDF (by its first bytes)."""
    try:
        with document.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise FaxError(f"cannot read the document to fax ({exc.strerror})", permanent=True) from None
    if not head.startswith((b"II*\x00", b"MM\x00*", b"%PDF-")):
        raise FaxError("only a TIFF or a PDF can be faxed", permanent=True)
    return document
