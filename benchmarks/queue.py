"""`make bench`, after the engine: the coordinator's screens on 1,000,000 cases in PostgreSQL and
100,000 in SQLite, side by side (see benchmarks/README.md).

    .venv/bin/python benchmarks/queue.py              # the full run (a few minutes, most of it loading)
    .venv/bin/python benchmarks/queue.py --quick      # 10x smaller, a smoke run
    .venv/bin/python benchmarks/queue.py --runs 500 --explain

Each database is made for the run and removed after it: PostgreSQL `priorauth_bench_<random>` at
PRIORAUTH_BENCH_POSTGRES (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres; skipped,
saying so, when it does not answer), SQLite in a temporary folder. Both are migrated with
Database.upgrade(). Prints one table and writes the same figures to benchmarks/results/queue.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `python benchmarks/queue.py` puts benchmarks/ first on sys.path, where this file would shadow the
# standard library's `queue` (and engine.py the `engine` package): run from the project root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event  # noqa: E402

from admin.db import Database, safe_url, sqlite_url  # noqa: E402
from benchmarks.queue_workload import QUERIES, SEED, Ask, Workload, asks, load  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "queue.json"
POSTGRES = os.environ.get("PRIORAUTH_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TARGETS_MS = {  # (database, query) -> p95 target, from the issue
    ("postgresql", "queue page"): 30.0,
    ("sqlite", "queue page"): 50.0,
    ("postgresql", "aging table"): 300.0,
}
# Indexes the reads need at this scale, found by this benchmark (migration 0003 did not have them;
# migration 0005 does now). Each run measures the database as migrated; any of these the
# migrations lack is then created and everything is measured again, side by side.
PROPOSED = {
    # the queue as it opens (every open stage, soonest due first: an ordered index scan that stops
    # at 50 rows) and the aging table (an index-only scan of the open cases); partial, so it holds
    # only open cases (about 7% of them)
    "ix_cases_open": "CREATE INDEX ix_cases_open ON cases (organization_id, (next_due IS NULL), next_due, id, "
    "payer_id, created_at, status, approved_to) WHERE stage <> 'done'",
    # the case page: renewals of this case (`Case.parent_id == case.id`)
    "ix_cases_parent": "CREATE INDEX ix_cases_parent ON cases (parent_id)",
}
WARM_UP = 20


def say(text: str = "") -> None:
    print(text, flush=True)


# -- the databases ---------------------------------------------------------------------------------
@contextmanager
def postgres_database() -> Iterator[Database | None]:
    """A fresh, migrated PostgreSQL database, dropped afterwards; None when the server is not there."""
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        admin.dispose()
        say(
            f"\nPostgreSQL is not reachable at {safe_url(POSTGRES)} ({type(exc.orig).__name__}): "
            "skipped. Start it, or point PRIORAUTH_BENCH_POSTGRES at one (a user that may CREATE DATABASE)."
        )
        yield None
        return
    name = f"priorauth_bench_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    db = Database(sa.engine.make_url(POSTGRES).set(database=name).render_as_string(hide_password=False))
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def sqlite_database() -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="priorauth-bench-") as folder:
        db = Database(sqlite_url(Path(folder) / "bench.db"))
        try:
            yield db
        finally:
            db.dispose()


# -- measuring -------------------------------------------------------------------------------------
def percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(
    db: Database, query: Callable[..., Any], work: Sequence[Ask], warm_up: int = WARM_UP
) -> dict[str, Any]:
    """Milliseconds per call, each in a fresh session (as each request of the app gets one)."""
    samples = []
    warm = [work[n % len(work)] for n in range(warm_up)]
    for n, ask in enumerate([*warm, *work]):
        session = db.sessions()
        try:
            start = time.perf_counter()
            query(session, ask)
            elapsed = (time.perf_counter() - start) * 1000
        finally:
            session.close()
        if n >= warm_up:
            samples.append(elapsed)
    return {
        "runs": len(samples),
        "p50_ms": round(percentile(samples, 0.50), 2),
        "p95_ms": round(percentile(samples, 0.95), 2),
        "mean_ms": round(statistics.fmean(samples), 2),
        "max_ms": round(max(samples), 2),
    }


def statements(db: Database, query: Callable[..., Any], ask: Ask) -> list[tuple[str, Any]]:
    """The SQL one call of `query` sends, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        session = db.sessions()
        try:
            query(session, ask)
        finally:
            session.close()
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    return sent


def explain(db: Database, query: Callable[..., Any], ask: Ask) -> list[str]:
    """EXPLAIN ANALYZE (PostgreSQL) or EXPLAIN QUERY PLAN (SQLite) of every statement of one call."""
    postgres = db.engine.dialect.name == "postgresql"
    out = []
    with db.engine.connect() as connection:
        for statement, parameters in statements(db, query, ask):
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
            rows = connection.exec_driver_sql(prefix + statement, parameters).all()
            plan = [str(row[0]) if postgres else f"{row[1]:>3} {row[3]}" for row in rows]
            out.append(" ".join(statement.split()) + "\n" + "\n".join(plan))
    return out


def index_names(db: Database) -> set[str]:
    """Every index of the database, expression and partial ones included (the inspector skips those)."""
    query = (
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        if db.engine.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'index'"
    )
    with db.engine.connect() as connection:
        return {str(name) for (name,) in connection.exec_driver_sql(query)}


# -- one database ----------------------------------------------------------------------------------
def run_database(
    label: str, db: Database, work: Workload, runs: int, show_plans: bool, results: dict[str, Any]
) -> None:
    dialect = db.engine.dialect.name
    say(f"\n{label}: {work.cases:,} cases, migrated with Database.upgrade()")
    db.upgrade()
    started = time.perf_counter()
    last = [started]

    def progress(done: int) -> None:
        if time.perf_counter() - last[0] > 15:
            last[0] = time.perf_counter()
            say(f"  ... {done:,} cases loaded ({time.perf_counter() - started:.0f} s)")

    counts = load(db, work, progress)
    loaded = time.perf_counter() - started
    say(f"  loaded in {loaded:.0f} s: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    reads = asks(db, work, runs)
    with db.transaction() as session:
        org_cases = session.execute(
            sa.text("SELECT count(*) FROM cases WHERE organization_id = :o"), {"o": reads[0].organization_id}
        ).scalar_one()
    say(
        f"  measured on the biggest organization ({org_cases:,} cases), {runs} runs each after {WARM_UP} warm-up"
    )
    entry: dict[str, Any] = {"cases": work.cases, "rows": counts, "load_seconds": round(loaded, 1)}
    entry["organization_cases"] = org_cases
    for key, indexes in (("as_migrated", {}), ("with_proposed_indexes", PROPOSED)):
        if indexes:
            made = {name: ddl for name, ddl in indexes.items() if name not in index_names(db)}
            entry["proposed_indexes_created"] = list(made)
            if not made:
                say(f"  the proposed indexes ({', '.join(indexes)}) are in the migrations: nothing to add")
                break
            say(f"  with the proposed indexes ({', '.join(made)}):")
            with db.engine.begin() as connection:
                for ddl in made.values():
                    connection.execute(sa.text(ddl))
            if dialect == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(sa.text("VACUUM ANALYZE cases, audit_events"))
        entry[key] = {}
        for name, query in QUERIES.items():
            figures = measure(db, query, reads)
            figures["target_p95_ms"] = TARGETS_MS.get((dialect, name))
            entry[key][name] = figures
            say(f"  {name}: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms")
            target = figures["target_p95_ms"]
            if show_plans or (target is not None and figures["p95_ms"] > target):
                for plan in explain(db, query, reads[0]):
                    say("    " + plan.replace("\n", "\n    "))
    results["databases"][dialect] = entry


# -- report ----------------------------------------------------------------------------------------
def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(results: dict[str, Any]) -> bool:
    """Print the table; True when every target is met as migrated."""
    side = any(entry.get("with_proposed_indexes") for entry in results["databases"].values())
    rows = [["database", "query", "p50 ms", "p95 ms", "target p95", "verdict"]]
    rows[0] += ["p50 +idx", "p95 +idx", "verdict +idx"] if side else []
    ok = True
    for dialect, entry in results["databases"].items():
        indexed = entry.get("with_proposed_indexes", {})
        for name, f in entry["as_migrated"].items():
            target = f["target_p95_ms"]
            row = [f"{dialect} ({entry['cases']:,})", name, f"{f['p50_ms']:.1f}", f"{f['p95_ms']:.1f}"]
            row += ["" if target is None else f"<= {target:.0f}", verdict(f, target)]
            ok = ok and row[-1] != "FAIL"
            if side:
                g = indexed.get(name)
                row += (
                    ["", "", ""]
                    if g is None
                    else [f"{g['p50_ms']:.1f}", f"{g['p95_ms']:.1f}", verdict(g, target)]
                )
            rows.append(row)
    made = {n for entry in results["databases"].values() for n in entry.get("proposed_indexes_created", [])}
    say(
        f"\nmilliseconds per call, {results['runs']} runs each after {WARM_UP} warm-up; "
        + (
            f"+idx: after creating {', '.join(sorted(made))}"
            if side
            else f"the migrations have the proposed {', '.join(PROPOSED)}"
        )
    )
    say(table(rows))
    return ok


def verdict(figures: dict[str, Any], target: float | None) -> str:
    return "" if target is None else ("PASS" if figures["p95_ms"] <= target else "FAIL")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x fewer cases, for a smoke run")
    parser.add_argument("--postgres-cases", type=int, help="cases in PostgreSQL (default 1,000,000)")
    parser.add_argument("--sqlite-cases", type=int, help="cases in SQLite (default 100,000)")
    parser.add_argument("--runs", type=int, default=200, help="measured runs per query (default 200)")
    parser.add_argument("--seed", type=int, default=SEED, help="workload seed")
    parser.add_argument("--explain", action="store_true", help="print every query's plan (always on a miss)")
    parser.add_argument("--only", choices=("postgresql", "sqlite"), help="one database only")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    # a run stopped by `timeout` or a CI job still drops its database: SIGTERM unwinds like Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scale = 10 if args.quick else 1
    now = datetime.now(UTC)
    started = time.perf_counter()
    say(f"priorauth queue benchmark ({'quick' if args.quick else 'full'} run)")
    say(
        f"  python {platform.python_version()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    results: dict[str, Any] = {
        "run": "quick" if args.quick else "full",
        "when": now.isoformat(timespec="seconds"),
        "environment": {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load_average_start": round(os.getloadavg()[0], 2),
            "sqlalchemy": sa.__version__,
        },
        "seed": args.seed,
        "runs": args.runs,
        "proposed_indexes": PROPOSED,
        "databases": {},
    }
    if args.only != "sqlite":
        with postgres_database() as db:
            if db is not None:
                with db.engine.connect() as connection:
                    results["environment"]["postgresql"] = connection.exec_driver_sql(
                        "SHOW server_version"
                    ).scalar()
                work = Workload(args.postgres_cases or 1_000_000 // scale, args.seed, now)
                run_database("PostgreSQL", db, work, args.runs, args.explain, results)
    if args.only != "postgresql":
        with sqlite_database() as db:
            with db.engine.connect() as connection:
                results["environment"]["sqlite"] = connection.exec_driver_sql(
                    "SELECT sqlite_version()"
                ).scalar()
            work = Workload(args.sqlite_cases or 100_000 // scale, args.seed, now)
            run_database("SQLite", db, work, args.runs, args.explain, results)
    ok = report(results)
    results["targets_met"] = ok
    results["environment"]["load_average_end"] = round(os.getloadavg()[0], 2)
    results["seconds_total"] = round(time.perf_counter() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    say(f"\n{results['seconds_total']:.0f} s in all; results in {args.json}")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
