"""A packet on paper: read back with pdftotext (order, stamps, page N of M), its attachments laid
in, fax TIFF checked with Pillow and tiffinfo, and nothing fetched or embedded, whatever a
patient's field or a template says."""

from __future__ import annotations

import dataclasses
import http.server
import io
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import ClassVar

import pytest
from PIL import Image, ImageDraw
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject
from weasyprint import HTML

from connectors.fax.tiff import check_fax_tiff, to_fax_tiff
from connectors.pdf.packet import PacketRenderError, render_packet
from connectors.pdf.templates import load_template
from engine import Evaluator, LoadError, load_forms, load_ruleset_file
from engine.packets import DocumentInfo, Sender, plan_packet
from engine.rulesets import PacketSpec

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 20)
PAYER = {"id": "acme", "name": "ACME Health"}
PRACTICE = {"name": "Lakeside Orthopedics", "fax": "+16145550199", "phone": "+16145550100"}
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")


@pytest.fixture(scope="module")
def shipped():
    forms, problems = load_forms([ROOT / "forms"])
    assert not problems
    ruleset = load_ruleset_file(
        ROOT / "rulesets" / "acme-commercial.yaml", {k: f.answer_types for k, f in forms.items()}
    )
    # the payer's order of documents (what is not on it, and satisfies nothing, stays out)
    ruleset = dataclasses.replace(
        ruleset, packet=PacketSpec(documents=("order", "clinical-note", "imaging-report"))
    )
    template = load_template(
        (ROOT / "forms" / "packets" / "standard-request.yaml").read_bytes(), "standard-request.yaml"
    )
    return forms, ruleset, Evaluator([ruleset], forms, backend="compiled"), template


def _pdf(text: str, pages: int = 1) -> bytes:
    body = "".join(f"<p style='break-before: page'>{text} sheet {n + 1}</p>" for n in range(pages))
    return HTML(string=f"<body>{body}</body>").write_pdf()


@pytest.fixture
def attachments(tmp_path: Path) -> dict[str, Path]:
    order = tmp_path / "order.pdf"
    order.write_bytes(_pdf("SIGNED ORDER", 2))
    fax = Image.new("1", (1728, 2156), 1)
    ImageDraw.Draw(fax).rectangle((40, 40, 1688, 2116), outline=0, width=6)
    note = tmp_path / "note.tif"
    fax.save(note, compression="group4", dpi=(204, 196), save_all=True, append_images=[fax.copy()])
    photo = tmp_path / "photo.png"
    Image.new("RGBA", (600, 400), (200, 30, 30, 128)).save(photo)
    return {"DOC-1": order, "DOC-2": note, "DOC-3": photo}


def _case(**patient: str) -> dict[str, object]:
    facts = json.loads((ROOT / "examples" / "cases" / "mri-lumbar-acme-ready.json").read_text())
    facts["patient"].update({"name": "Rivera, Sam", **patient})
    facts["documents"] = [
        {"id": "DOC-1", "type": "order", "date": "2026-11-19"},
        {"id": "DOC-2", "type": "clinical-note", "date": "2026-11-19"},
        {"id": "DOC-3", "type": "photographs", "date": "2026-11-10"},
    ]
    return facts


DOCS = [
    DocumentInfo("DOC-1", "order", "Order", "2026-11-19", 2, "Signed MRI order"),
    DocumentInfo("DOC-2", "clinical-note", "Clinical note", "2026-11-19", 2, "Office visit note"),
    DocumentInfo("DOC-3", "photographs", "Photographs", "2026-11-10", 1, "Photo"),
]


def _render(shipped, files, facts=None, final=True, template=None):
    forms, ruleset, evaluator, standard = shipped
    facts = facts or _case()
    decision = evaluator.evaluate(facts, TODAY)
    packet = plan_packet(
        reference="PA-7KQ2M9XD",
        facts=facts,
        decision=decision,
        ruleset=ruleset,
        documents=DOCS,
        answers=facts["answers"],
        forms=forms,
        sender=Sender(PRACTICE["name"], PRACTICE["fax"], PRACTICE["phone"]),
        payer_name="ACME Health",
        today=TODAY,
        final=final,
    )
    return render_packet(packet, template or standard, files, payer=PAYER, practice=PRACTICE)


def _pages_text(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "read.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return out.stdout.split("\f")[:-1]


@needs_poppler
def test_the_packet_reads_in_the_order_reviewers_expect_with_every_page_stamped(
    shipped, attachments, tmp_path
):
    rendered = _render(shipped, attachments)
    pages = _pages_text(rendered.pdf, tmp_path)
    assert len(pages) == rendered.pages == len(PdfReader(io.BytesIO(rendered.pdf)).pages)
    total = rendered.pages
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {total}" in text
        assert "Ref. PA-7KQ2M9XD" in text
        assert "DRAFT" not in text
    whole = "\f".join(pages)
    order = [
        "FAX",
        "Prior authorization request",
        "1. Member",
        "Readiness form answers",
        "What the payer requires, and where it is",
        "Enclosed documents",
        "SIGNED ORDER sheet 1",
        "SIGNED ORDER sheet 2",
    ]
    positions = [whole.index(words) for words in order]
    assert positions == sorted(positions)
    assert f"Pages, this one included {total}" in " ".join(pages[0].split())
    # the payer's order puts the order first; photographs were not asked for (minimum necessary)
    assert "Attachment 1: Signed MRI order (DOC-1), page 1 of 2" in whole
    assert "Attachment 2: Office visit note (DOC-2), page 2 of 2" in whole
    assert "DOC-3" not in whole
    checklist = next(p for p in pages if "What the payer requires" in p)
    flat = " ".join(checklist.split())
    start = pages.index(next(p for p in pages if "SIGNED ORDER sheet 1" in p)) + 1
    assert f"Signed MRI order (DOC-1): packet page {start}" in flat
    assert f"Office visit note (DOC-2): packet page {start + 2}" in flat
    # every font is in the file (a fax server or a payer's viewer substitutes nothing)
    path = tmp_path / "fonts.pdf"
    path.write_bytes(rendered.pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert {line.split()[-5] for line in fonts.splitlines()[2:]} == {"yes"}


@needs_poppler
def test_the_page_numbers_written_after_layout_stand_on_their_lines(shipped, attachments, tmp_path):
    path = tmp_path / "packet.pdf"
    path.write_bytes(_render(shipped, attachments).pdf)
    boxes = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = boxes.split("<page ")[1:]
    checklist = next(p for p in pages if ">requires,<" in p)
    words = [
        (line.split(">")[1].split("<")[0], float(line.split('yMax="')[1].split('"')[0]))
        for line in checklist.splitlines()
        if line.strip().startswith("<word")
    ]
    pairs = [(words[i + 1][1], words[i + 2]) for i, w in enumerate(words[:-2]) if w[0] == "packet"]
    assert len(pairs) == 4  # two checklist rows, two rows of the enclosed documents
    for page_word_bottom, (number, number_bottom) in pairs:
        assert number.isdigit()
        assert abs(number_bottom - page_word_bottom) < 0.5  # the digits sit on the same baseline


@needs_poppler
def test_the_cover_sheet_has_no_clinical_detail(shipped, attachments, tmp_path):
    cover = _pages_text(_render(shipped, attachments).pdf, tmp_path)[0]
    for clinical in ("72148", "M54.16", "Rivera", "1975", "ACM482913570", "radiculopathy"):
        assert clinical not in cover
    assert "ACME Health" in cover and "+16145550199" in cover and "confidential" in cover


@needs_poppler
def test_a_draft_says_draft_on_every_page_the_attached_ones_too(shipped, attachments, tmp_path):
    pages = _pages_text(_render(shipped, attachments, final=False).pdf, tmp_path)
    assert all("DRAFT: not for submission" in text for text in pages)


def test_fax_images_photos_and_pdfs_all_become_pages(shipped, attachments, tmp_path):
    forms, ruleset, evaluator, template = shipped
    every = dataclasses.replace(ruleset, packet=dataclasses.replace(ruleset.packet, documents=None))
    facts = _case()
    packet = plan_packet(
        reference="PA-7KQ2M9XD", facts=facts, decision=evaluator.evaluate(facts, TODAY), ruleset=every,
        documents=DOCS, answers=facts["answers"], forms=forms, sender=Sender("X"), payer_name=None,
        today=TODAY, final=True,
    )  # fmt: skip
    assert [a.id for a in packet.attachments] == ["DOC-1", "DOC-2", "DOC-3"]
    rendered = render_packet(packet, template, attachments, payer=PAYER, practice=PRACTICE)
    reader = PdfReader(io.BytesIO(rendered.pdf))
    # the last five pages are the order (2), the fax (2 frames) and the photo (1), each on a letter page
    assert len(reader.pages) == rendered.pages
    for page in reader.pages[-5:]:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (612, 792)
        assert "/XObject" in page["/Resources"] or "SIGNED" in page.extract_text()


def test_nothing_of_an_attached_pdf_but_its_drawing_comes_along(shipped, attachments, tmp_path):
    writer = PdfWriter(clone_from=PdfReader(attachments["DOC-1"]))
    writer._root_object[NameObject("/OpenAction")] = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert('hi');")}
    )
    writer.add_attachment("secret.txt", b"not for the payer")
    writer.add_uri(0, "https://tracker.example/p", [0, 0, 100, 100])
    sneaky = tmp_path / "sneaky.pdf"
    writer.write(sneaky)
    rendered = _render(shipped, {**attachments, "DOC-1": sneaky})
    raw = rendered.pdf
    for marker in (b"/JavaScript", b"/EmbeddedFile", b"tracker.example", b"not for the payer", b"/URI"):
        assert marker not in raw


# -- what a packet may reach: nothing -------------------------------------------------------------
class _Spy(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Spy.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { background: red }")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def spy() -> Iterator[str]:
    _Spy.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Spy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _hostile(spy: str) -> str:
    return (
        '<link rel="attachment" href="file:///etc/passwd">'
        f'<img src="{spy}/pixel.png">'
        f"<style>@import url({spy}/import.css);</style>"
        '<a rel="attachment" href="data:text/plain,secret">x</a>'
    )


def _no_leak(raw: bytes) -> None:
    assert b"/EmbeddedFile" not in raw
    assert b"/FileAttachment" not in raw
    assert b"root:x:0:0" not in raw
    root = PdfReader(io.BytesIO(raw)).trailer["/Root"]
    assert "/EmbeddedFiles" not in root.get("/Names", {})


def test_hostile_patient_fields_are_text_and_reach_nothing(shipped, attachments, tmp_path, spy):
    hostile = _hostile(spy)
    facts = _case(name=hostile)
    facts["providers"]["ordering"]["name"] = hostile
    rendered = _render(shipped, attachments, facts=facts)
    assert _Spy.seen == []
    assert rendered.refused == ()  # escaped: never even a URL to refuse
    _no_leak(rendered.pdf)
    if shutil.which("pdftotext"):
        text = " ".join(_pages_text(rendered.pdf, tmp_path))
        assert '<link rel="attachment"' in text  # printed as the characters it is


def test_a_hostile_template_is_refused_by_the_checker_at_its_lines(spy):
    text = (
        "template: hostile\ntitle: Hostile\nhtml: |\n  <p>hello</p>\n"
        f"  {_hostile(spy)}\n"
        f'  <img src="{spy}/x.png">\n'
        f"css: |\n  @import url({spy}/a.css);\n  body {{ background: url({spy}/b.png) }}\n"
    )
    with pytest.raises(LoadError) as refused:
        load_template(text, "hostile.yaml")
    lines = [(p.line, p.message.split(", and this line has ")[-1]) for p in refused.value.problems]
    assert (5, "a <link> element") in lines
    assert (6, "a link to 'src=' another site or file") in lines
    assert (8, "@import") in lines
    assert (9, "url() that is not a data: URL") in lines


def test_a_hostile_template_that_got_past_the_checker_still_fetches_and_embeds_nothing(
    shipped, attachments, spy, tmp_path
):
    standard = shipped[3]
    # as if stored before the checker existed: the fetcher is what stands in the way
    environment = standard.compiled.environment
    html = f"<p>Request</p>{_hostile(spy)}<img src='file:///etc/passwd'><img src='{spy}/two.png'>"
    css = f"@import url('{spy}/sheet.css'); .std {{ background: url({spy}/bg.png) }}"
    hostile = dataclasses.replace(standard, html=html, css=css, compiled=environment.from_string(html))
    rendered = _render(shipped, attachments, template=hostile)
    assert _Spy.seen == []
    assert set(rendered.refused) >= {"http://127.0.0.1", "file://"}
    _no_leak(rendered.pdf)


# -- template errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("html", "line", "message"),
    [
        ("<p>{{ case.patient.name </p>", 5, "template syntax: unexpected '/'"),
        ("<p>ok</p>\n  {% include 'other.html' %}", 6, "a packet template cannot include, extend or import other templates"),
        ("<p>{{ case.__class__.__mro__ }}</p>", 5, "on a sample case, the sandbox refused an unsafe operation"),
        ("<p>ok</p>\n  <p>{{ 1 // 0 }}</p>", 6, "on a sample case, ZeroDivisionError while rendering"),
        ("<script>alert(1)</script>", 5, "a packet template cannot load anything, and this line has a <script> element"),
    ],
)  # fmt: skip
def test_a_template_mistake_is_named_at_its_line(html, line, message):
    text = f"template: broken\nversion: 1\ntitle: Broken\nhtml: |\n  {html}\n"
    with pytest.raises(LoadError) as refused:
        load_template(text, "broken.yaml")
    problem = refused.value.problems[0]
    assert (problem.file, problem.line) == ("broken.yaml", line)
    assert problem.message == message


def test_a_template_may_not_set_the_pages_that_carry_the_stamps():
    text = "template: margins\nversion: 1\ntitle: Margins\nhtml: <p>ok</p>\ncss: |\n  h1 { color: #000 }\n  @page { margin: 0.2in }\n"
    with pytest.raises(LoadError) as refused:
        load_template(text, "margins.yaml")
    problem = refused.value.problems[0]
    assert (problem.file, problem.line) == ("margins.yaml", 7)
    assert problem.message.startswith("CSS: an @page rule")


def test_a_template_whose_css_hides_the_attached_pages_is_refused_when_rendered(shipped, attachments):
    hidden = dataclasses.replace(shipped[3], css=".attachment-page { display: none }")
    with pytest.raises(PacketRenderError, match="hides attached pages"):
        _render(shipped, attachments, template=hidden)


def test_an_unreadable_attachment_names_the_document_not_its_content(shipped, attachments, tmp_path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nthis is not a pdf at all")
    with pytest.raises(PacketRenderError) as refused:
        _render(shipped, {**attachments, "DOC-1": broken})
    assert str(refused.value) == "DOC-1: the PDF cannot be read; attach it again from the source"


# -- fax-ready output -----------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("gs") is None, reason="ghostscript is not installed")
def test_the_fax_tiff_is_class_f_g4_1728_wide_at_204_by_196_dpi_with_every_page(
    shipped, attachments, tmp_path
):
    rendered = _render(shipped, attachments)
    pdf = tmp_path / "packet.pdf"
    pdf.write_bytes(rendered.pdf)
    tiff = tmp_path / "packet.tif"
    assert to_fax_tiff(pdf, tiff) == rendered.pages
    with Image.open(tiff) as image:
        assert image.n_frames == rendered.pages
        for frame in range(image.n_frames):
            image.seek(frame)
            assert (image.width, image.mode, image.info["compression"]) == (1728, "1", "group4")
            assert tuple(round(v) for v in image.info["dpi"]) == (204, 196)
    assert check_fax_tiff(tiff) == rendered.pages
    if shutil.which("tiffinfo"):
        info = subprocess.run(["tiffinfo", str(tiff)], capture_output=True, text=True, check=True).stdout
        assert info.count("Image Width: 1728") == rendered.pages
        assert info.count("Resolution: 204, 196 pixels/inch") == rendered.pages
        assert info.count("Compression Scheme: CCITT Group 4") == rendered.pages
    assert not list(tmp_path.glob(".fax-*"))  # written through a temporary name, nothing left over
