"""Background work of `priorauth serve`: the daily sweep, following faxes, the faxed-reply folder.

Time alone changes where a case is: an approval comes within 30 days of its end and enters
renewal, a status check falls due, an approval's window passes and it expires. The queue filters
on the stored stage and due time (for its indexes), so once a day, and once when the server
starts, every case that is not closed is derived again (admin/cases.py `sweep`).

    sweeper = start(app, hours=24)                    # a daemon thread; sweeper.stop() ends it
    follower = start_fax_status(app, seconds=120)     # asks the fax providers about faxes not done
    job = Periodic("name", seconds, work)              # any of them: work() now, then every `seconds`

Each piece of work is idempotent and takes its rows under the optimistic locks the services use,
so two servers doing it at once only waste work. A failure is logged by type (never with case
data) and the next round tries again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from admin import cases
from admin.db import Database

log = logging.getLogger("priorauth.sweep")


def run(db: Database) -> dict[str, int]:
    """One sweep over every organization, committed 500 cases at a time."""
    with db.transaction() as session:
        return cases.sweep(session, commit=True)


class Periodic:
    """`work()` in a daemon thread: now, then every `seconds` until stop()."""

    def __init__(self, name: str, seconds: float, work: Callable[[], Any]) -> None:
        self.name, self.seconds, self.work = name, seconds, work
        self._stop = threading.Event()
        self.done_once = threading.Event()  # set after the first round (tests wait on it)
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.work()
                if done:
                    log.info("%s: %s", self.name, done)
            except Exception as exc:  # background work must never take the server down
                log.error("%s failed: %s", self.name, type(exc).__name__)
            self.done_once.set()
            self._stop.wait(self.seconds)

    def start(self) -> Periodic:
        self.thread.start()
        return self

    def stop(self, wait: float = 60) -> None:
        """Ask the thread to end and wait for a round under way to finish (its chunk commits)."""
        self._stop.set()
        self.thread.join(wait)


def start(app: Any, hours: float = 24) -> Periodic:
    db: Database = app.extensions["priorauth.db"]
    return Periodic("priorauth-sweep", hours * 3600, lambda: run(db)).start()


def start_fax_status(app: Any, seconds: float = 120) -> Periodic:
    """Follow every fax not yet delivered, failed or cancelled (admin/faxes.py `poll`)."""
    from admin import faxes

    db: Database = app.extensions["priorauth.db"]

    def follow() -> dict[str, int] | None:
        with db.transaction() as session:
            counts = faxes.poll(session)
        return counts if any(counts.values()) else None

    return Periodic("priorauth-fax-status", seconds, follow).start()
