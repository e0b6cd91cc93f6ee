"""The daily sweep, run in the background of `priorauth serve` (and by `priorauth cases sweep`).

Time alone changes where a case is: an approval comes within 30 days of its end and enters
renewal, a status check falls due, an approval's window passes and it expires. The queue filters
on the stored stage and due time (for its indexes), so once a day, and once when the server
starts, every case that is not closed is derived again (admin/cases.py `sweep`).

    sweeper = start(app, hours=24)     # a daemon thread; sweeper.stop() ends it

The sweep is idempotent and takes each case under the optimistic lock cases already use, so two
servers sweeping the same database at once only waste work. A failure is logged by type (never
with case data) and the next sweep tries again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from admin import cases
from admin.db import Database

log = logging.getLogger("priorauth.sweep")


def run(db: Database) -> dict[str, int]:
    """One sweep over every organization, committed 500 cases at a time."""
    with db.transaction() as session:
        return cases.sweep(session, commit=True)


class Sweeper:
    def __init__(self, db: Database, hours: float) -> None:
        self.db, self.hours = db, hours
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="priorauth-sweep", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                counts = run(self.db)
                log.info("sweep: %(expired)d expired, %(restaged)d re-staged, %(skipped)d skipped", counts)
            except Exception as exc:  # a sweep must never take the server down
                log.error("sweep failed: %s", type(exc).__name__)
            self._stop.wait(self.hours * 3600)

    def stop(self, wait: float = 60) -> None:
        """Ask the thread to end and wait for a sweep under way to finish (its chunk commits)."""
        self._stop.set()
        self.thread.join(wait)


def start(app: Any, hours: float = 24) -> Sweeper:
    sweeper = Sweeper(app.extensions["priorauth.db"], hours)
    sweeper.thread.start()
    return sweeper
