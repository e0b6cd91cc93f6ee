"""A faxed reply (PDF, or TIFF/PNG/JPEG) read into text: the PDF's own text when it has one, OCR otherwise.

    fax = read_fax(Path("reply.pdf"))   # FaxText(text=..., pages=2, media_type=..., method="ocr")
    reply = engine.faxreply.read_reply(fax.text)

Debian's programs do the work, each from an argument list (never a shell), with a timeout, in a
private temporary folder removed afterwards:

    pdftotext -layout -enc UTF-8 FILE.pdf -                                  (poppler-utils)
    gs -dSAFER -dBATCH -dNOPAUSE -dQUIET -sDEVICE=pnggray -dTextAlphaBits=4  (ghostscript)
       -dGraphicsAlphaBits=4 -dFirstPage=N -dLastPage=N -rDPI -sOutputFile=TMP/page-N.png FILE.pdf
                                  for each page whose text layer is (almost) empty: a scan
    tesseract IMAGE stdout -l eng --psm 6                                    (tesseract-ocr)

What was measured (tesseract 5.3 on letters drawn at 6-10 pt, skewed up to 1 degree, speckled;
"words" is the share of the letter's words found in the output):
- --psm 6 (one uniform block) keeps a form's "Label:    value" rows on one line, which is what
  engine.faxreply reads. psm 3 (automatic, the default) read a two-column form as all its labels
  and then all its values; psm 4 kept the rows but put a right-hand address block first. On
  running text all three found the same words.
- OMP_THREAD_LIMIT=1: tesseract's OpenMP threads cost more than they give on a page: 0.7-1.3 s
  a dense page instead of 1.8-3.2 s, with the same text.
- A fax TIFF at 204 x 196 dpi ("fine") reads as well as the same page resampled to square pixels
  (96% of words either way), so tesseract gets it as it is. At 204 x 98 dpi ("standard") lines are
  squashed to half height and 67-90% of words survive; resampled to square pixels with Pillow
  first, 83-90%. So frames whose dpi differ by half or more are resampled.
- A scanned PDF is rendered at its scan's own resolution (the finer of the page image's two, so a
  fax's 204 x 196 becomes 204): 96% of words, 1.2 s a page. At 300 dpi the same pages gave 91%
  (and lost a reference number), at 400 dpi 79%, and slower: upscaling a bilevel scan only
  enlarges its specks. A page with no image (outlined text) is rendered at 300 dpi.

Pages are joined by form feeds ("\\f"), as pdftotext writes them. Errors are OcrError, whose
message names the program and what to do, never the document's content.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from pypdf import PageObject, PdfReader

PACKAGES = {"tesseract": "tesseract-ocr", "gs": "ghostscript", "pdftotext": "poppler-utils"}
PSM = "6"  # see the module's docstring
MIN_TEXT = 100  # a page's text layer with fewer letters and digits is a scan (or a fax header)
_SQUASHED = 1.5  # pixels this much taller than wide (or wider than tall) are resampled first
_LANGUAGE = re.compile(r"[A-Za-z0-9_]{1,20}(?:\+[A-Za-z0-9_]{1,20}){0,5}")
_MAGIC = [
    (b"%PDF-", "application/pdf"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
]
# grey and anti-aliased: a page drawn from outlined fonts, with no scan in it, reads better smooth
_GS = [
    "-dSAFER",
    "-dBATCH",
    "-dNOPAUSE",
    "-dQUIET",
    "-sDEVICE=pnggray",
    "-dTextAlphaBits=4",
    "-dGraphicsAlphaBits=4",
]
_FORMATS = {
    "image/tiff": ("TIFF",),
    "image/png": ("PNG",),
    "image/jpeg": ("JPEG", "MPO"),
}  # MPO: a camera's JPEG


class OcrError(Exception):
    """A fax could not be read into text; the message says why and what to do, never what it says."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class FaxText:
    """A fax's text, pages joined by form feeds."""

    text: str
    pages: int
    media_type: str  # application/pdf | image/tiff | image/png | image/jpeg, from the magic bytes
    method: str  # "pdf-text": the PDF's own text layer; "ocr": some page was read by tesseract


def read_fax(
    path: Path,
    *,
    tesseract: str = "tesseract",
    gs: str = "gs",
    pdftotext: str = "pdftotext",
    timeout: float = 120,
    language: str = "eng",
) -> FaxText:
    """The text of the fax at `path`. `timeout` (seconds) bounds the whole reading.

    Raises OcrError for a file that is not a PDF, TIFF, PNG or JPEG, a damaged one, a missing
    program (naming its Debian package), a program that fails or runs out of time; ValueError for a
    `language` that is not tesseract language codes ("eng", "eng+spa")."""
    if not _LANGUAGE.fullmatch(language):
        raise ValueError("language must be tesseract language codes such as 'eng' or 'eng+spa'")
    media_type = _sniff(path)
    source = path.resolve()  # absolute: a name starting with "-" is never read as an option
    runner = _Runner(time.monotonic() + timeout, timeout)
    with tempfile.TemporaryDirectory(prefix="priorauth-ocr-") as folder:  # mode 0700, removed after
        work = Path(folder)
        if media_type == "application/pdf":
            return _read_pdf(source, work, runner, pdftotext, gs, tesseract, language)
        pages, image = _prepare_image(source, media_type, work)
        text = runner.run("tesseract", tesseract, [str(image), "stdout", "-l", language, "--psm", PSM])
        return FaxText(_pages_text(text.split("\f"), pages), pages, media_type, "ocr")


def _sniff(path: Path) -> str:
    try:
        with path.open("rb") as file:
            head = file.read(1024)
    except OSError as exc:
        raise OcrError(f"cannot read the fax file ({exc.strerror})") from None
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    if b"%PDF-" in head:  # the PDF format allows bytes before its header, and some fax servers add them
        return "application/pdf"
    raise OcrError("only PDF or TIFF/PNG/JPEG faxes can be read")


def _read_pdf(
    source: Path, work: Path, runner: _Runner, pdftotext: str, gs: str, tesseract: str, language: str
) -> FaxText:
    resolutions = _pdf_resolutions(source)
    pages = len(resolutions)
    layer = runner.run("pdftotext", pdftotext, ["-layout", "-enc", "UTF-8", str(source), "-"]).split("\f")
    layer = layer[:pages] + [""] * (pages - len(layer))
    scanned = [n for n, text in enumerate(layer) if _letters(text) < MIN_TEXT]
    method = "pdf-text"
    for number in scanned:
        image = work / f"page-{number + 1:04d}.png"
        only = [f"-dFirstPage={number + 1}", f"-dLastPage={number + 1}", f"-r{resolutions[number]}"]
        output = "-sOutputFile=" + str(image).replace("%", "%%")  # gs reads % as a page number format
        runner.run("gs", gs, [*_GS, *only, output, str(source)])
        if not image.is_file():
            raise OcrError(f"gs made no image of page {number + 1}: the PDF may be damaged")
        read = runner.run("tesseract", tesseract, [str(image), "stdout", "-l", language, "--psm", PSM])
        if _letters(read) > _letters(layer[number]):  # more than a fax header in text over a scan
            layer[number], method = read, "ocr"
    return FaxText(_pages_text(layer, pages), pages, "application/pdf", method)


def _pdf_resolutions(source: Path) -> list[int]:
    """The resolution to render each page of the PDF at (see the module's docstring)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pypdf warns about oddities it repairs; a broken file raises
        try:
            reader = PdfReader(source)
            locked = reader.is_encrypted and not reader.decrypt("")
            pages = [] if locked else list(reader.pages)
        except Exception:  # pypdf raises many kinds for a damaged file
            raise OcrError("the PDF does not open: it may be damaged or cut short") from None
        if locked:
            raise OcrError("the PDF is protected by a password: ask the sender for a copy without one")
        if not pages:
            raise OcrError("the PDF has no pages")
        return [_scan_resolution(page) for page in pages]


def _scan_resolution(page: PageObject) -> int:
    """The finer resolution of the largest image filling the page (a scan's own, so its pixels map
    one to one, squashed ones made square), within 100-300 dpi; 300 when there is no image."""
    try:
        width, height = float(page.mediabox.width) / 72, float(page.mediabox.height) / 72
        resources: Any = page["/Resources"]
        images = [xobject.get_object() for xobject in resources["/XObject"].values()]
        sizes = [(int(i["/Width"]), int(i["/Height"])) for i in images if i.get("/Subtype") == "/Image"]
        across, down = max(sizes, key=lambda size: size[0] * size[1])
        return min(max(round(max(across / width, down / height)), 100), 300)
    except Exception:  # no images, or a page pypdf cannot take apart: the general choice
        return 300


def _prepare_image(source: Path, media_type: str, work: Path) -> tuple[int, Path]:
    """(page count, the image tesseract should read): the file itself, or its pages resampled to
    square pixels when their resolution is squashed (a "standard" 204 x 98 dpi fax)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # odd tags and the like are not the coordinator's problem
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(source) as image:
                if image.format not in _FORMATS[media_type]:
                    raise OcrError("only PDF or TIFF/PNG/JPEG faxes can be read")
                pages = int(getattr(image, "n_frames", 1))
                scales = []
                for number in range(pages):
                    image.seek(number)  # reads the frame's tags, not yet its pixels
                    scales.append(_scale(image))
                if not any(scales):
                    return pages, source
                frames = []
                for number, scale in enumerate(scales):
                    image.seek(number)
                    grey = image.convert("L")  # grey keeps the edges resampling makes; tesseract uses them
                    if scale:
                        size = (round(image.width * scale[0]), round(image.height * scale[1]))
                        grey = grey.resize(size, Image.Resampling.BILINEAR)
                    frames.append(grey)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise OcrError("the image has too many pixels for a fax page") from None
        except OcrError:
            raise
        except Exception:  # Pillow raises OSError, ValueError, SyntaxError... for broken files
            raise OcrError("the image does not open: it may be damaged or cut short") from None
    out = work / "square.tif"
    frames[0].save(out, compression="tiff_lzw", save_all=True, append_images=frames[1:])
    return pages, out


def _scale(image: Image.Image) -> tuple[float, float] | None:
    """How much to stretch the frame across and down for square pixels; None when they are square
    enough (a "fine" 204 x 196 fax is: tesseract reads it as well as its resampled copy)."""
    x_dpi, y_dpi = (float(v) for v in image.info.get("dpi", (0, 0)))
    if x_dpi <= 0 or y_dpi <= 0 or max(x_dpi, y_dpi) / min(x_dpi, y_dpi) < _SQUASHED:
        return None
    top = max(x_dpi, y_dpi)
    return top / x_dpi, top / y_dpi


def _letters(text: str) -> int:
    return sum(char.isalnum() for char in text)


def _pages_text(pages: list[str], count: int) -> str:
    return "\f".join(page.rstrip() for page in pages[:count])


class _Runner:
    """Runs the programs within one deadline, with tesseract kept to one thread (see above)."""

    def __init__(self, deadline: float, timeout: float) -> None:
        self.deadline, self.timeout = deadline, timeout
        self.env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def run(self, role: str, program: str, arguments: list[str]) -> str:
        """`program` (the one playing `role`: "tesseract", "gs", "pdftotext") run on `arguments`:
        its standard output, as text."""
        found = shutil.which(program)
        if found is None:
            package = PACKAGES[role]
            named = role if program == role else f"{role} ({program!r})"
            raise OcrError(
                f"{named} is not installed: install the Debian package {package} (apt-get install {package})"
            )
        left = self.deadline - time.monotonic()
        try:
            done = subprocess.run(
                [found, *arguments], capture_output=True, timeout=max(left, 0.001), env=self.env, check=False
            )
        except subprocess.TimeoutExpired:
            raise OcrError(f"reading the fax took longer than {self.timeout:g} s (in {role})") from None
        except OSError as exc:
            raise OcrError(f"{role} could not be started ({exc.strerror})") from None
        if done.returncode != 0:  # its standard error may quote the document, so it is not shown
            raise OcrError(f"{role} failed with exit status {done.returncode}")
        return done.stdout.decode("utf-8", errors="replace")
