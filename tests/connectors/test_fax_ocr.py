"""Reading faxed replies into text with Debian's tesseract, ghostscript and pdftotext.

The inputs are made here (no binary fixtures): a letter drawn with Pillow, saved as a two-page
Class F TIFF (Group 4, 1728 px wide, 204 x 196 dpi) and as a PDF without a text layer; and a PDF
with a text layer, written by ghostscript from a small PostScript program.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from connectors.fax.ocr import FaxText, OcrError, read_fax
from engine.faxreply import read_reply

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="tesseract is not installed (Debian package tesseract-ocr)"
)
needs_font = pytest.mark.skipif(
    not FONT.is_file(), reason=f"the DejaVu Sans font is not at {FONT} (fonts-dejavu-core)"
)
needs_gs = pytest.mark.skipif(
    shutil.which("gs") is None, reason="gs is not installed (Debian package ghostscript)"
)
needs_pdftotext = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="pdftotext is not installed (Debian package poppler-utils)"
)

PAGE_1 = [
    "Acme Health Plan - Utilization Management",
    "Fax: (555) 010-0199        Date: 11/20/2026",
    "",
    "NOTICE OF DETERMINATION",
    "Patient name: DOE, JANE        Member ID: XJH123456789",
    "Your reference: PA-7KQ2M9XD",
    "Determination: APPROVED",
    "Authorization number: AUT-55012",
    "Approved units: 12",
    "Valid from 12/01/2026 to 02/28/2027",
]
PAGE_2 = [
    "Page 2 of 2",
    "If you disagree with this decision, you may appeal within 180 days.",
    "This is not a denial.",
]


def _page(lines: list[str]) -> Image.Image:
    """A fax page: drawn at 204 dpi each way at 11 pt, then squeezed to 196 dpi down, in black and white."""
    font = ImageFont.truetype(str(FONT), 30)
    page = Image.new("L", (1728, 2244), 255)
    draw = ImageDraw.Draw(page)
    for number, line in enumerate(lines):
        draw.text((110, 120 + 46 * number), line, font=font, fill=0)
    return (
        page.resize((1728, 2156))
        .point(lambda v: 0 if v < 128 else 255)
        .convert("1", dither=Image.Dither.NONE)
    )


@pytest.fixture(scope="module")
def pages() -> list[Image.Image]:
    if not FONT.is_file():
        pytest.skip(f"the DejaVu Sans font is not at {FONT} (fonts-dejavu-core)")
    return [_page(PAGE_1), _page(PAGE_2)]


def _check_letter(fax: FaxText) -> None:
    reply = read_reply(fax.text)
    assert (reply.references, reply.auth_number, reply.decision) == (
        ("PA-7KQ2M9XD",),
        "AUT-55012",
        "approved",
    )
    assert fax.text.count("\f") == fax.pages - 1  # pages joined by form feeds


@needs_tesseract
def test_a_two_page_class_f_tiff_is_read_by_ocr(pages: list[Image.Image], tmp_path: Path) -> None:
    path = tmp_path / "reply.tif"
    pages[0].save(path, compression="group4", dpi=(204, 196), save_all=True, append_images=pages[1:])
    with Image.open(path) as made:  # what a fax server sends: Group 4, 1728 px wide, 204 x 196 dpi
        assert (getattr(made, "n_frames", 1), made.width, made.info["compression"]) == (2, 1728, "group4")
        assert tuple(round(v) for v in made.info["dpi"]) == (204, 196)
    fax = read_fax(path)
    assert (fax.pages, fax.media_type, fax.method) == (2, "image/tiff", "ocr")
    _check_letter(fax)
    assert "not a denial" in fax.text.split("\f")[1]


@needs_tesseract
def test_a_standard_resolution_tiff_is_resampled_to_square_pixels_and_read(
    pages: list[Image.Image], tmp_path: Path
) -> None:
    path = tmp_path / "standard.tif"
    squashed = pages[0].resize((1728, 1078), Image.Resampling.NEAREST)  # 98 lines an inch
    squashed.save(path, compression="group4", dpi=(204, 98))
    fax = read_fax(path)
    assert (fax.pages, fax.method) == (1, "ocr")
    _check_letter(fax)


@needs_tesseract
@needs_gs
@needs_pdftotext
def test_a_scanned_pdf_is_rasterized_and_read_leaving_no_temporary_files(
    pages: list[Image.Image], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "scan.pdf"
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=200)  # images only, no text
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    fax = read_fax(path)
    assert (fax.pages, fax.media_type, fax.method) == (2, "application/pdf", "ocr")
    _check_letter(fax)
    assert list(scratch.iterdir()) == []  # the page images went with their folder


@needs_gs
@needs_pdftotext
def test_a_pdf_with_a_text_layer_is_read_without_ocr(tmp_path: Path) -> None:
    shown = "".join(
        f"72 {720 - 18 * n} moveto ({line}) show\n" for n, line in enumerate(PAGE_1) if "(" not in line
    )
    program = tmp_path / "letter.ps"
    program.write_text(f"%!PS\n/Helvetica findfont 12 scalefont setfont\n{shown}showpage\n", encoding="ascii")
    path = tmp_path / "letter.pdf"
    subprocess.run(
        [
            "gs",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            "-dQUIET",
            "-sDEVICE=pdfwrite",
            f"-sOutputFile={path}",
            str(program),
        ],
        check=True,
        timeout=60,
    )
    fax = read_fax(path, tesseract="/nonexistent/tesseract")  # proves tesseract is not needed
    assert (fax.pages, fax.media_type, fax.method) == (1, "application/pdf", "pdf-text")
    _check_letter(fax)


@needs_tesseract
def test_the_media_type_comes_from_the_magic_bytes_not_the_name(
    pages: list[Image.Image], tmp_path: Path
) -> None:
    path = tmp_path / "reply.pdf"
    pages[0].save(path, format="PNG", dpi=(204, 196))
    fax = read_fax(path)
    assert (fax.pages, fax.media_type, fax.method) == (1, "image/png", "ocr")
    _check_letter(fax)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"Member: DOE, JANE\nDecision: denied\n", "only PDF or TIFF/PNG/JPEG faxes can be read"),
        (b"GIF89a" + b"\x00" * 64, "only PDF or TIFF/PNG/JPEG faxes can be read"),
        (b"", "only PDF or TIFF/PNG/JPEG faxes can be read"),
        (b"%PDF-1.4\nDOE, JANE was cut short", "the PDF does not open: it may be damaged or cut short"),
        (b"II*\x00" + b"DOE, JANE" * 8, "the image does not open: it may be damaged or cut short"),
    ],
)
def test_a_file_that_is_not_a_readable_fax_is_refused_without_quoting_it(
    content: bytes, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "reply.tif"
    path.write_bytes(content)
    with pytest.raises(OcrError) as caught:
        read_fax(path)
    assert str(caught.value) == message


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OcrError, match=r"^cannot read the fax file \(No such file or directory\)$"):
        read_fax(tmp_path / "missing.pdf")


@pytest.fixture
def tiff(tmp_path: Path) -> Path:
    """A tiny blank fax page: enough for every check before tesseract runs."""
    path = tmp_path / "blank.tif"
    Image.new("1", (64, 64), 1).save(path, compression="group4", dpi=(204, 196))
    return path


def test_a_missing_program_is_named_with_its_debian_package(tiff: Path) -> None:
    with pytest.raises(OcrError) as caught:
        read_fax(tiff, tesseract="/nonexistent/tesseract")
    assert str(caught.value) == (
        "tesseract ('/nonexistent/tesseract') is not installed: "
        "install the Debian package tesseract-ocr (apt-get install tesseract-ocr)"
    )


@needs_pdftotext
def test_a_scanned_pdf_needs_ghostscript(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    Image.new("1", (200, 200), 1).save(path, resolution=200)
    with pytest.raises(
        OcrError, match=r"^gs \('no-such-gs'\) is not installed: install the Debian package ghostscript"
    ):
        read_fax(path, gs="no-such-gs")


def _fake(tmp_path: Path, script: str) -> str:
    program = tmp_path / "fake-tesseract"
    program.write_text(f"#!/bin/sh\n{script}\n", encoding="ascii")
    program.chmod(0o700)
    return str(program)


def test_a_failing_program_gives_its_exit_status_and_never_its_words(
    tiff: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = _fake(tmp_path, "echo 'Patient: DOE, JANE' >&2\necho 'DOE, JANE'\nexit 3")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(OcrError) as caught:
        read_fax(tiff, tesseract=failing)
    assert str(caught.value) == "tesseract failed with exit status 3"
    assert list(scratch.iterdir()) == []


def test_the_timeout_bounds_the_reading(tiff: Path, tmp_path: Path) -> None:
    slow = _fake(tmp_path, "exec sleep 10")  # exec: the timeout's kill reaches sleep itself
    with pytest.raises(OcrError, match=r"^reading the fax took longer than 0.3 s \(in tesseract\)$"):
        read_fax(tiff, tesseract=slow, timeout=0.3)


def test_the_language_must_be_tesseract_codes(tiff: Path) -> None:
    with pytest.raises(ValueError, match="language must be tesseract language codes"):
        read_fax(tiff, language="../../etc/eng")


def test_the_fake_program_sees_an_argument_list_not_a_shell_line(tiff: Path, tmp_path: Path) -> None:
    echo = _fake(tmp_path, 'for a in "$@"; do printf "[%s]" "$a"; done')
    fax = read_fax(tiff, tesseract=echo, language="eng+spa")
    assert fax.text == f"[{tiff}][stdout][-l][eng+spa][--psm][6]"
    assert (fax.pages, fax.media_type, fax.method) == (1, "image/tiff", "ocr")
