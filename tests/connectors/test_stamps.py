"""Text written onto finished pages (connectors/pdf/stamps.py) and the collector pacing of a render."""

from __future__ import annotations

import gc
import io
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from weasyprint import HTML

from connectors.pdf import stamps
from connectors.pdf.packet import LAYOUT_GC_THRESHOLD, fewer_collections
from connectors.pdf.stamps import StampError, Text, draw, encode

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ref. PA-7KQ2M9XD", b"Ref. PA-7KQ2M9XD"),
        ("Müller – “MRI” café", "Müller – “MRI” café".encode("cp1252")),  # WinAnsi has these as they are
        ("Łódź, Dvořák, Ősz", b"?\xf3dz, Dvor\xe1k, Osz"),  # ó, á kept; ź, ř, Ő lose the accent; Ł has none
        ("漢字 report", b"?? report"),
        ("two\nlines\ttab\x07", b"two lines tab?"),
    ],
)
def test_text_is_written_in_winansi_as_close_as_it_can_be(text: str, expected: bytes) -> None:
    assert encode(text) == expected


def _blank(pages: int = 2) -> PdfWriter:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    return writer


@needs_poppler
def test_texts_land_where_asked_in_an_embedded_font_and_read_back(tmp_path: Path) -> None:
    writer = _blank()
    draw(
        writer,
        {
            0: [
                Text("left at one inch", 72, 700, 10),
                Text("right edge at 540", 540, 600, 10, bold=True, align="right"),
                Text("Café centred", 306, 500, 12, align="center", red=True),
            ],
            1: [Text("Page 2 of 2", 540, 22, 9, bold=True, align="right")],
        },
    )
    path = tmp_path / "stamped.pdf"
    with path.open("wb") as out:
        writer.write(out)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:]]
    assert sorted((row[0], row[-5]) for row in rows) == [  # name, embedded
        ("PASTMB+DejaVuSans-Bold", "yes"),
        ("PASTMP+DejaVuSans", "yes"),
    ]
    boxes = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    words = {}
    for line in boxes.splitlines():
        if line.strip().startswith("<word"):
            attrs = dict(part.split("=") for part in line.split(">")[0].split()[1:])
            word = line.split(">")[1].split("<")[0]
            words[word] = {k: float(v.strip('"')) for k, v in attrs.items()}
    assert abs(words["left"]["xMin"] - 72) < 0.5  # starts where asked
    assert abs(words["540"]["xMax"] - 540) < 0.5  # ends where asked: its width is the font's
    centre = (words["Café"]["xMin"] + words["centred"]["xMax"]) / 2
    assert abs(centre - 306) < 0.5
    assert words["Page"]["yMax"] > 792 - 22 > words["Page"]["yMin"]  # baseline at 22 pt from the bottom


def test_the_page_keeps_its_own_drawing_under_the_texts() -> None:
    page = HTML(string="<p style='font-size: 30pt'>UNDER</p>").write_pdf()
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(page)))
    draw(writer, {0: [Text("OVER", 72, 72, 10)]})
    out = io.BytesIO()
    writer.write(out)
    text = PdfReader(io.BytesIO(out.getvalue())).pages[0].extract_text()
    assert "UNDER" in text and "OVER" in text


def test_without_fontconfig_the_stamps_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    stamps.font.cache_clear()
    monkeypatch.setattr(stamps.shutil, "which", lambda name: None)
    try:
        with pytest.raises(StampError, match="install fontconfig and fonts-dejavu-core"):
            draw(_blank(1), {0: [Text("x", 1, 1, 8)]})
    finally:
        stamps.font.cache_clear()


def test_a_font_that_is_not_dejavu_is_refused_rather_than_drawn_in_the_wrong_widths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "fc-match"
    fake.write_text("#!/bin/sh\nprintf 'Liberation Sans\\n/usr/share/fonts/x/LiberationSans.ttf'\n")
    fake.chmod(0o755)
    stamps.font.cache_clear()
    monkeypatch.setattr(stamps.shutil, "which", lambda name: str(fake))
    try:
        with pytest.raises(StampError, match="DejaVu Sans font is not installed: install fonts-dejavu-core"):
            stamps.font(bold=True)
    finally:
        stamps.font.cache_clear()


# -- the collector's pace while a packet is laid out ------------------------------------------------
@pytest.fixture
def default_threshold() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_the_threshold_is_raised_for_the_render_and_put_back_after_an_error_too(default_threshold) -> None:
    with fewer_collections():
        assert gc.get_threshold()[0] == max(LAYOUT_GC_THRESHOLD, default_threshold[0])
    assert gc.get_threshold() == default_threshold
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("the template failed")
    assert gc.get_threshold() == default_threshold


def test_overlapping_renders_in_threads_put_it_back_only_when_the_last_ends(default_threshold) -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[int] = []

    def first() -> None:
        with fewer_collections():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with fewer_collections():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.get_threshold()[0])  # the first ended: still raised for this one

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [max(LAYOUT_GC_THRESHOLD, default_threshold[0])]
    assert gc.get_threshold() == default_threshold
