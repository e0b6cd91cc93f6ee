"""Text drawn onto finished PDF pages: the stamps every packet page carries, and page numbers.

WeasyPrint can draw both itself (margin boxes, `counter(pages)`, `target-counter()`), but on the
reference packet that is about a sixth of its time (benchmarks/README.md): margin boxes are laid
out anew on every page, and a page that names another page's number is laid out twice. Both are
known once the pages are, so the layout leaves room and this module writes the text afterwards,
in the packet's own typeface (DejaVu Sans, found through fontconfig), embedded once per packet as
a simple TrueType font over WinAnsi (Latin-1 and the Windows punctuation; about 28 KB a face).
A character outside WinAnsi is written without its accent where it has one (Ł stays "?", ő
becomes "o"); the stamps hold our own words, identifiers and numbers, and a document's title.

    face = font(bold=True)                      # cached per process
    draw(writer, {0: [Text("Page 1 of 3", 568.8, 22.0, 9, bold=True, align="right")]})
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from fontTools import subset
from fontTools.ttLib import TTFont, TTLibError
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
    NumberObject,
)

from connectors.pdf.pages import add_drawing, add_resources

FAMILY = "DejaVu Sans"
_UNDEFINED = (0x81, 0x8D, 0x8F, 0x90, 0x9D)  # no character in cp1252
#: the codes a simple font over WinAnsiEncoding shows: 32-126 and 128-255 where cp1252 has a character
WINANSI = {
    code: bytes([code]).decode("cp1252") for code in range(32, 256) if code != 127 and code not in _UNDEFINED
}


class StampError(Exception):
    """The stamps cannot be drawn (no usable font): says what to install."""


@dataclass(frozen=True, slots=True)
class Text:
    """One line of text: `x` is where it starts, centres or ends (by `align`), `y` its baseline,
    both in points from the page's lower left corner."""

    text: str
    x: float
    y: float
    size: float
    bold: bool = False
    align: Literal["left", "center", "right"] = "left"
    gray: float = 0.0
    red: bool = False


@dataclass(frozen=True, slots=True)
class Face:
    name: str  # the resource name pages use, /PriorauthStamp or /PriorauthStampBold
    program: bytes  # the TrueType subset (FontFile2)
    widths: tuple[int, ...]  # advance of codes 32..255, 1/1000 em
    descriptor: tuple[tuple[str, object], ...]  # FontDescriptor entries besides the file

    def width(self, encoded: bytes, size: float) -> float:
        return sum(self.widths[code - 32] for code in encoded) * size / 1000


def encode(text: str) -> bytes:
    """The text in WinAnsi: as it is where it can be, else without accents, else "?"."""
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        if char in ("\n", "\r", "\t"):
            char = " "
        try:
            out += char.encode("cp1252")
            continue
        except UnicodeEncodeError:
            pass
        plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        try:
            out += plain.encode("cp1252") if plain else b"?"
        except UnicodeEncodeError:
            out += b"?"
    return bytes(byte if byte >= 32 and byte in WINANSI else 63 for byte in out)


@functools.cache
def font(bold: bool = False) -> Face:
    """The stamp face, read and subset once per process. Raises StampError."""
    path = _font_file(bold)
    try:
        original = TTFont(path)
        if "glyf" not in original or "cmap" not in original:
            raise StampError(f"{path} is not a TrueType font: install fonts-dejavu-core")
        cmap = original.getBestCmap()
        scale = 1000 / original["head"].unitsPerEm
        advances = original["hmtx"].metrics
        missing = advances[".notdef"][0] if ".notdef" in advances else 500 / scale
        widths = tuple(
            round(advances[cmap[ord(WINANSI[code])]][0] * scale)
            if code in WINANSI and ord(WINANSI[code]) in cmap
            else round(missing * scale)
            for code in range(32, 256)
        )
        head, hhea = original["head"], original["hhea"]
        os2 = original.get("OS/2")
        descriptor = (
            ("/Flags", 32),  # nonsymbolic: the viewer maps WinAnsi codes through the font's Unicode cmap
            ("/FontBBox", [round(v * scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax)]),
            ("/ItalicAngle", 0),
            ("/Ascent", round(hhea.ascent * scale)),
            ("/Descent", round(hhea.descent * scale)),
            ("/CapHeight", round((getattr(os2, "sCapHeight", 0) or hhea.ascent) * scale)),
            ("/StemV", 120 if bold else 80),
        )
        options = subset.Options()
        options.hinting = False
        options.layout_features = []
        options.drop_tables += ["FFTM"]  # FontForge's timestamps: nothing a viewer reads
        options.notdef_outline = True
        options.ignore_missing_unicodes = True
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=[ord(char) for char in WINANSI.values()])
        subsetter.subset(original)
        out = io.BytesIO()
        original.save(out)
    except (OSError, TTLibError, KeyError, AssertionError) as exc:
        raise StampError(f"the {FAMILY} font at {path} cannot be read ({type(exc).__name__})") from None
    return Face("/PriorauthStampBold" if bold else "/PriorauthStamp", out.getvalue(), widths, descriptor)


def _font_file(bold: bool) -> str:
    """The font file fontconfig gives for DejaVu Sans (what WeasyPrint lays the packet out in)."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        raise StampError("fontconfig's fc-match is not installed: install fontconfig and fonts-dejavu-core")
    pattern = f"{FAMILY}:style={'Bold' if bold else 'Book'}"
    try:
        found = subprocess.run(
            [fc_match, "--format=%{family}\n%{file}", pattern],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StampError(
            f"fontconfig's fc-match did not answer ({type(exc).__name__}): check fontconfig"
        ) from None
    family, _, path = found.stdout.partition("\n")
    if found.returncode != 0 or FAMILY not in family.split(",") or not path.endswith(".ttf"):
        raise StampError(f"the {FAMILY} font is not installed: install fonts-dejavu-core")
    return path


def draw(writer: PdfWriter, texts: Mapping[int, Sequence[Text]]) -> None:
    """Write each page's texts on top of what it shows (page index -> texts). Raises StampError."""
    if not any(texts.values()):
        return
    faces = {bold: font(bold) for bold in {t.bold for items in texts.values() for t in items}}
    refs = {bold: _embed(writer, face) for bold, face in faces.items()}
    for index, items in texts.items():
        if not items:
            continue
        page = writer.pages[index]
        add_resources(page, "/Font", {faces[bold].name: ref for bold, ref in refs.items()})
        lines = []
        for item in items:
            face = faces[item.bold]
            encoded = encode(item.text)
            width = face.width(encoded, item.size)
            x = item.x - (width if item.align == "right" else width / 2 if item.align == "center" else 0)
            color = "0.627 0 0 rg" if item.red else f"{item.gray:.3f} g"
            lines.append(
                f"BT {face.name} {item.size:g} Tf {color} 1 0 0 1 {x:.2f} {item.y:.2f} Tm <{encoded.hex()}> Tj ET"
            )
        # what the page draws is wrapped in q ... Q: WeasyPrint leaves its y-down matrix set
        add_drawing(writer, page, under=b"q\n", over=("Q\n" + "\n".join(lines) + "\n").encode("ascii"))


def _embed(writer: PdfWriter, face: Face) -> IndirectObject:
    """The face as a simple TrueType font over WinAnsiEncoding, added to the PDF once."""
    program = DecodedStreamObject()
    program.set_data(face.program)
    program[NameObject("/Length1")] = NumberObject(len(face.program))
    bold = face.name.endswith("Bold")
    base = NameObject(
        ("/PASTMB+" if bold else "/PASTMP+") + FAMILY.replace(" ", "") + ("-Bold" if bold else "")
    )
    descriptor = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/FontDescriptor"),
            NameObject("/FontName"): base,
            NameObject("/FontFile2"): writer._add_object(program.flate_encode()),
        }
    )
    for key, value in face.descriptor:
        descriptor[NameObject(key)] = (
            ArrayObject([FloatObject(v) for v in value]) if isinstance(value, list) else NumberObject(value)
        )
    return writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/TrueType"),
                NameObject("/BaseFont"): base,
                NameObject("/FirstChar"): NumberObject(32),
                NameObject("/LastChar"): NumberObject(255),
                NameObject("/Widths"): ArrayObject([NumberObject(w) for w in face.widths]),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
                NameObject("/FontDescriptor"): writer._add_object(descriptor),
            }
        )
    )
