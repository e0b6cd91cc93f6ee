"""`make bench`, after the queue: a reference packet rendered with WeasyPrint, alone and through a
process pool, beside Chromium's page.pdf() on the same HTML, in one run (see benchmarks/README.md).

    .venv/bin/python benchmarks/packets.py             # the full run (about a minute)
    .venv/bin/python benchmarks/packets.py --quick     # fewer runs, a smoke run
    .venv/bin/python benchmarks/packets.py --keep DIR  # also write the reference packet (PDF, TIFF) there
    valgrind --tool=callgrind .venv/bin/python benchmarks/packets.py --renders 2   # instructions, with --renders 0

The reference packet: a cover sheet, a request form, the readiness answers, a medication history
and a visit-notes table that span pages, and the checklist: 12 pages that WeasyPrint lays out,
followed by 10 attached pages (a 1-page order and 9 pages of notes) laid in with pypdf. Timed: the whole packet
(compose, layout, PDF, attachment laid in) in one warm process, the median of N runs; the same
through a pool of one worker process per core; Chromium (Debian's, through Playwright) printing the
same HTML on a warm page; pypdf laying the attachment in; ghostscript making the fax TIFF.
Targets (the issue): <= 1.0 s median for the packet; >= 2x that throughput (2 packets/s) through
the pool on 2 cores. Prints one table; the same figures go to benchmarks/results/packets.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from datetime import UTC, date, datetime  # noqa: E402
from typing import Any  # noqa: E402

from pypdf import PdfReader  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "packets.json"
CHROMIUM = os.environ.get("PRIORAUTH_CHROMIUM", "/usr/bin/chromium")
TARGET_SECONDS = 1.0
TARGET_POOL_RATE = 2.0 / TARGET_SECONDS  # "2x that throughput": two packets a second on two cores
TODAY = date(2026, 11, 20)
PAYER = {"id": "acme", "name": "ACME Health", "fax": "+15555550100"}
PRACTICE = {"name": "Lakeside Orthopedics", "fax": "+16145550199", "phone": "+16145550100"}

# A request form as long as a real one gets with a complex patient: the medication history and the
# visit notes are tables that run over several pages (thead repeats, rows never split).
REFERENCE_TEMPLATE = """\
template: reference-request
version: 1
title: Reference request form (benchmark)
html: |
  <h1>{{ payer.name }} prior authorization request</h1>
  <p class="muted">Reference {{ packet.reference }} · {{ packet.date | us_date }}</p>
  <h2>Member</h2>
  <table class="fields">
    <tr><th>Name</th><td>{{ case.patient.name }}</td></tr>
    <tr><th>Date of birth</th><td>{{ case.patient.birth_date | us_date }}</td></tr>
    <tr><th>Member ID</th><td>{{ case.coverage.member_id }}</td></tr>
    <tr><th>Group</th><td>{{ case.coverage.group }}</td></tr>
  </table>
  <h2>Service</h2>
  <table class="fields">
    <tr><th>Codes</th><td>{{ case.service.codes | join(", ") }}</td></tr>
    <tr><th>Diagnoses</th><td>{{ case.diagnoses | join(", ") }}</td></tr>
    <tr><th>Date of service</th><td>{{ case.service.date | us_date }}</td></tr>
  </table>
  <h2>Medication history</h2>
  <table><thead><tr><th style="width: 30%">Medication</th><th style="width: 16%">Dose</th>
    <th style="width: 16%">Started</th><th style="width: 16%">Stopped</th><th style="width: 22%">Outcome</th></tr></thead>
  <tbody>{% for m in case.clinical.medications %}<tr><td>{{ m.name }}</td><td>{{ m.dose }}</td>
    <td>{{ m.start | us_date }}</td><td>{{ m.stop | us_date }}</td><td>{{ m.outcome }}</td></tr>{% endfor %}</tbody></table>
  <h2>Visit notes</h2>
  <table><thead><tr><th style="width: 16%">Date</th><th style="width: 22%">Clinician</th><th style="width: 62%">Note</th></tr></thead>
  <tbody>{% for v in case.clinical.visits %}<tr><td>{{ v.date | us_date }}</td><td>{{ v.by }}</td><td>{{ v.note }}</td></tr>{% endfor %}</tbody></table>
"""
NOTE = (
    "Low back pain radiating to the left leg below the knee, worse with sitting; straight-leg raise "
    "positive at 40 degrees; strength 5/5 but for great-toe extension 4/5; reflexes symmetric. "
    "Physical therapy twice weekly with home exercises; partial relief; sleep disturbed."
)


def reference_facts() -> dict[str, Any]:
    facts: dict[str, Any] = json.loads(
        (ROOT / "examples" / "cases" / "mri-lumbar-acme-ready.json").read_text()
    )
    facts["patient"]["name"] = "Rivera, Sam"
    facts["documents"] = [
        {"id": "DOC-1", "type": "order", "date": "2026-11-19"},
        {"id": "DOC-2", "type": "clinical-note", "date": "2026-11-19"},
    ]
    facts["clinical"]["medications"] = [
        {
            "name": f"Medication {n:02d} (oral)",
            "dose": f"{(n % 4 + 1) * 100} mg twice daily",
            "start": f"2026-{n % 9 + 1:02d}-0{n % 8 + 1}",
            "stop": f"2026-{n % 9 + 2:02d}-1{n % 8 + 1}",
            "outcome": ["partial relief", "no relief", "stopped: side effects", "ongoing"][n % 4],
        }
        for n in range(60)
    ]
    facts["clinical"]["visits"] = [
        {"date": f"2026-{n % 10 + 1:02d}-{n % 27 + 1:02d}", "by": f"Dr. Clinician {n % 5}", "note": NOTE}
        for n in range(60)
    ]
    return facts


def attachment_pdf(pages: int = 10) -> bytes:
    from weasyprint import HTML

    body = "".join(
        f"<section style='break-before: page'><h2>Office visit, page {n + 1}</h2>"
        + "<p>" + NOTE * 6 + "</p></section>"
        for n in range(pages)
    )  # fmt: skip
    return bytes(HTML(string=f"<body style='font: 10pt serif'>{body}</body>").write_pdf())


# -- the work, importable by the pool's workers ---------------------------------------------------
_STATE: dict[str, Any] = {}


def setup(folder: str) -> None:
    """Load what a packet needs once per process (the rulesets, forms and the template)."""
    from connectors.pdf.templates import load_template
    from engine import Evaluator, load_forms, load_ruleset_file
    from engine.packets import DocumentInfo, Sender, plan_packet
    from engine.rulesets import PacketSpec

    forms, _ = load_forms([ROOT / "forms"])
    ruleset = load_ruleset_file(
        ROOT / "rulesets" / "acme-commercial.yaml", {k: f.answer_types for k, f in forms.items()}
    )
    import dataclasses

    ruleset = dataclasses.replace(
        ruleset, packet=PacketSpec(template="reference-request", documents=("order", "clinical-note"))
    )
    facts = reference_facts()
    decision = Evaluator([ruleset], forms, backend="compiled").evaluate(facts, TODAY)
    packet = plan_packet(
        reference="PA-7KQ2M9XD", facts=facts, decision=decision, ruleset=ruleset,
        documents=[DocumentInfo("DOC-1", "order", "Order", "2026-11-19", 1, "Signed order"),
                   DocumentInfo("DOC-2", "clinical-note", "Clinical note", "2026-11-19", 9, "Visit notes")],
        answers=facts["answers"], forms=forms, sender=Sender(PRACTICE["name"], PRACTICE["fax"], PRACTICE["phone"]),
        payer_name=PAYER["name"], today=TODAY, final=True,
    )  # fmt: skip
    files = {"DOC-1": Path(folder) / "order.pdf", "DOC-2": Path(folder) / "notes.pdf"}
    _STATE.update(packet=packet, template=load_template(REFERENCE_TEMPLATE, "reference"), files=files)
    # a typical packet beside it: the shipped ACME imaging form, an example case, the same documents
    shipped = load_ruleset_file(
        ROOT / "rulesets" / "acme-commercial.yaml", {k: f.answer_types for k, f in forms.items()}
    )
    typical_facts: dict[str, Any] = json.loads(
        (ROOT / "examples" / "cases" / "mri-lumbar-acme-ready.json").read_text()
    )
    typical_facts["patient"]["name"] = "Rivera, Sam"
    typical_facts["documents"] = facts["documents"]
    typical = plan_packet(
        reference="PA-7KQ2M9XD", facts=typical_facts,
        decision=Evaluator([shipped], forms, backend="compiled").evaluate(typical_facts, TODAY), ruleset=shipped,
        documents=[DocumentInfo("DOC-1", "order", "Order", "2026-11-19", 1, "Signed order"),
                   DocumentInfo("DOC-2", "clinical-note", "Clinical note", "2026-11-19", 9, "Visit notes")],
        answers=typical_facts["answers"], forms=forms, sender=Sender(PRACTICE["name"], PRACTICE["fax"], PRACTICE["phone"]),
        payer_name=PAYER["name"], today=TODAY, final=True,
    )  # fmt: skip
    template = load_template(
        (ROOT / "forms" / "packets" / f"{typical.template}.yaml").read_bytes(), typical.template
    )
    _STATE.update(typical=typical, typical_template=template)


def render_typical() -> int:
    from connectors.pdf.packet import render_packet

    rendered = render_packet(
        _STATE["typical"], _STATE["typical_template"], _STATE["files"], payer=PAYER, practice=PRACTICE
    )
    return rendered.pages


def render_once(_: int = 0) -> int:
    """One whole packet, as the app makes it; returns its page count."""
    from connectors.pdf.packet import render_packet

    rendered = render_packet(
        _STATE["packet"], _STATE["template"], _STATE["files"], payer=PAYER, practice=PRACTICE
    )
    return rendered.pages


# -- the rows ---------------------------------------------------------------------------------------
def timed(work: Callable[[], Any], runs: int) -> list[float]:
    work()  # warm: fonts, the CSS parser, imports
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        out.append(time.perf_counter() - start)
    return out


def pool_rate(folder: str, workers: int, packets: int) -> tuple[float, float]:
    """Packets per second through `workers` processes (warmed first), and its wall time."""
    with ProcessPoolExecutor(max_workers=workers, initializer=setup, initargs=(folder,)) as pool:
        list(pool.map(render_once, range(workers * 2)))  # every worker warm
        start = time.perf_counter()
        list(pool.map(render_once, range(packets)))
        wall = time.perf_counter() - start
    return packets / wall, wall


def chromium_times(html: str, css: str, runs: int) -> list[float] | str:
    """page.pdf() of the same HTML on a warm page in Debian's Chromium; a reason when it cannot run."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM}"
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run"]  # fmt: skip
    inline = html.replace('<link rel="stylesheet" href="packet.css">', f"<style>{css}</style>")
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        try:
            page = browser.new_page()
            page.route("**/*", lambda route: route.abort())  # like our fetcher: nothing leaves
            page.set_content(inline)
            return timed(lambda: page.pdf(format="Letter", prefer_css_page_size=True), runs)
        finally:
            browser.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, for a smoke run")
    parser.add_argument("--runs", type=int, help="timed runs per row (default 9; 3 with --quick)")
    parser.add_argument("--keep", metavar="DIR", help="write the reference packet (PDF and TIFF) here")
    parser.add_argument(
        "--renders",
        type=int,
        metavar="N",
        help="only set up, render twice to warm, then N more times; nothing timed (run it under "
        "valgrind --tool=callgrind with N=0 and N=2: half the difference is one packet's instructions)",
    )
    args = parser.parse_args(argv)
    if args.renders is not None:
        with tempfile.TemporaryDirectory(prefix="priorauth-bench-") as folder:
            (Path(folder) / "order.pdf").write_bytes(attachment_pdf(1))
            (Path(folder) / "notes.pdf").write_bytes(attachment_pdf(9))
            setup(folder)
            for number in range(2 + args.renders):
                render_once(number)
        return 0
    runs = args.runs or (3 if args.quick else 9)
    cores = os.cpu_count() or 1
    from connectors.fax.tiff import to_fax_tiff
    from connectors.pdf.fetcher import ASSETS
    from connectors.pdf.packet import compose, lay_in, render_packet

    print("priorauth packet benchmark" + (" (quick)" if args.quick else ""))
    print(f"  python {platform.python_version()}, {cores} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="priorauth-bench-") as folder:
        (Path(folder) / "order.pdf").write_bytes(attachment_pdf(1))
        (Path(folder) / "notes.pdf").write_bytes(attachment_pdf(9))
        setup(folder)
        packet, template, files = _STATE["packet"], _STATE["template"], _STATE["files"]
        rendered = render_packet(packet, template, files, payer=PAYER, practice=PRACTICE)
        attached = sum(a.document.pages for a in packet.attachments)
        laid_out = rendered.pages - attached
        print(
            f"  reference packet: {rendered.pages} pages ({laid_out} laid out by WeasyPrint, {attached} attached)\n"
        )

        weasy = timed(render_once, runs)
        typical = timed(render_typical, runs)
        typical_pages = render_typical()
        composed = compose(packet, template, files, payer=PAYER, practice=PRACTICE)
        sources = composed.sources
        placed = {laid_out: ("DOC-1", 0), **{laid_out + 1 + n: ("DOC-2", n) for n in range(attached - 1)}}
        lay = timed(lambda: lay_in(rendered.pdf, placed, sources), runs)
        css = (ASSETS / "packet.css").read_text()
        chromium = chromium_times(composed.html, css, runs)
        packets = max(8, runs * cores) if not args.quick else 4 * cores
        single_rate = 1 / statistics.median(weasy)
        pool, pool_wall = pool_rate(folder, cores, packets)
        pdf_path, tiff_path = Path(folder) / "packet.pdf", Path(folder) / "packet.tif"
        pdf_path.write_bytes(rendered.pdf)
        gs = timed(lambda: to_fax_tiff(pdf_path, tiff_path), max(3, runs // 3))
        if args.keep:
            keep = Path(args.keep)
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(pdf_path, keep / "reference-packet.pdf")
            shutil.copy(tiff_path, keep / "reference-packet.tif")
        assert len(PdfReader(io.BytesIO(rendered.pdf)).pages) == rendered.pages

    weasy_median = statistics.median(weasy)
    rows: list[dict[str, Any]] = [
        {"row": "WeasyPrint, whole packet (compose, layout, PDF, attachment laid in)", "seconds": weasy_median,
         "pages_per_s": rendered.pages / weasy_median, "target": f"<= {TARGET_SECONDS:.1f} s",
         "result": "PASS" if weasy_median <= TARGET_SECONDS else "FAIL"},
        {"row": f"WeasyPrint, pool of {cores} processes", "seconds": pool_wall / packets,
         "pages_per_s": pool * rendered.pages, "packets_per_s": pool, "speedup": pool / single_rate,
         "target": f">= {TARGET_POOL_RATE:.1f} packets/s", "result": "PASS" if pool >= TARGET_POOL_RATE else "FAIL"},
        {"row": f"WeasyPrint, a typical packet ({typical_pages} pages: the shipped ACME form, an example case)",
         "seconds": statistics.median(typical), "pages_per_s": typical_pages / statistics.median(typical)},
    ]  # fmt: skip
    if isinstance(chromium, str):
        rows.append({"row": "Chromium page.pdf(), warm page", "skipped": chromium})
    else:
        chrome = statistics.median(chromium)
        rows.append({"row": "Chromium page.pdf(), warm page, same HTML (no attachment)", "seconds": chrome,
                     "pages_per_s": rendered.pages / chrome, "ratio": weasy_median / chrome})  # fmt: skip
    lay_median, gs_median = statistics.median(lay), statistics.median(gs)
    rows += [
        {"row": f"pypdf, lay {attached} attached pages in", "seconds": lay_median, "pages_per_s": attached / lay_median},
        {"row": "ghostscript, packet to fax TIFF (G4, 204x196)", "seconds": gs_median, "pages_per_s": rendered.pages / gs_median},
    ]  # fmt: skip
    _print(rows, weasy, cores)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "cores": cores,
                "runs": runs,
                "pages": rendered.pages,
                "laid_out": laid_out,
                "attached": attached,
                "weasyprint_runs": weasy,
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"\nresults in {RESULTS}")
    return 0


def _print(rows: list[dict[str, Any]], weasy: list[float], cores: int) -> None:
    print(f"{'row':<84} {'s/packet':>9} {'pages/s':>8}  {'vs':>22}  {'target':>17}  result")
    print("-" * 158)
    for row in rows:
        if "skipped" in row:
            print(f"{row['row']:<84} skipped: {row['skipped']}")
            continue
        versus = ""
        if "speedup" in row:
            versus = f"{row['packets_per_s']:.2f} packets/s, {row['speedup']:.2f}x one"
        elif "ratio" in row:
            versus = f"WeasyPrint {row['ratio']:.2f}x its time"
        print(
            f"{row['row']:<84} {row['seconds']:>9.3f} {row['pages_per_s']:>8.1f}  {versus:>22}  "
            f"{row.get('target', ''):>17}  {row.get('result', '')}"
        )
    print(
        f"\nWeasyPrint runs (s): {', '.join(f'{t:.3f}' for t in weasy)}; pool: one process per core ({cores})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
