"""A packet laid out on pages: WeasyPrint for what we write, the case's documents laid in after.

    rendered = render_packet(packet, template, files={"DOC-3": Path(...)}, payer=..., practice=...)
    rendered.pdf, rendered.pages, rendered.sha256

One WeasyPrint pass lays out the cover, the request form, the answers and the checklist, and one
empty placeholder page per page of every attached document. Then one pypdf pass finishes it:
each document page (a PDF page, or an image frame made a PDF page with Pillow) is scaled into its
placeholder's content box and laid *under* it; every page gets its stamps (reference, "Page N of
M", DRAFT, an attached page's label) on top; and the page numbers the cover and the checklist
give (the page count, the packet page each document starts on) are written into the room the
layout left for them. Stamps and numbers come after layout because WeasyPrint's own way (margin
boxes, `counter(pages)`, `target-counter()`) costs about a sixth of the reference packet's time
(connectors/pdf/stamps.py, benchmarks/README.md).

A document page brings only its drawing: its annotations (links, form fields, JavaScript
actions) are dropped, and nothing of the source document's catalog (embedded files, open
actions) comes along. What we write embeds no file and links nowhere outside the packet either.
"""

from __future__ import annotations

import gc
import hashlib
import io
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from PIL import Image, ImageSequence, UnidentifiedImageError
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.errors import PdfReadError
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    StreamObject,
)
from weasyprint import HTML

from connectors.pdf.fetcher import BASE_URL, SafeFetcher
from connectors.pdf.pages import add_drawing, add_resources
from connectors.pdf.stamps import StampError, Text, draw
from connectors.pdf.templates import PacketTemplate, TemplateRenderError, context, render_request, us_date
from engine.packets import Packet

LAYOUT = Path(__file__).resolve().parent / "layout"
MAX_FRAMES = 2000
#: the content box of an attached page, in points from each edge: top, right, bottom, left
ATTACHED_MARGINS = (40.0, 25.0, 32.0, 25.0)
_PAGE_CSS = "@page attachment {{ margin: {}pt {}pt {}pt {}pt; }}".format(*ATTACHED_MARGINS)
#: where the stamps go on every page, in points: baselines from the top and bottom edges, and the
#: inset from the left and right edges (inside every page's margins, clear of an attached page)
STAMP_TOP, STAMP_BOTTOM, STAMP_INSET = 30.0, 22.0, 43.2
#: the size of the page numbers written into .pageref boxes: the cover's count, the checklist's pages
PAGEREF_SIZES = {"total": 11.0, "page": 9.5}
CONFIDENTIAL = "Confidential: protected health information"
DRAFT = "DRAFT: not for submission"


class PacketRenderError(Exception):
    """The packet could not be laid out; names the document or template, never their content."""


@dataclass(frozen=True, slots=True)
class Rendered:
    pdf: bytes
    pages: int
    sha256: str
    refused: tuple[str, ...]  # scheme://host of each URL the fetcher refused (a template's mistake)


@dataclass(frozen=True, slots=True)
class _Attached:
    number: int
    id: str
    title: str
    date: str | None
    pages: int
    anchor: str


_LAYOUT_ENV = Environment(
    loader=FileSystemLoader(LAYOUT), autoescape=True, trim_blocks=True, lstrip_blocks=True
)
_LAYOUT_ENV.filters["us_date"] = us_date


@dataclass(frozen=True, slots=True)
class Composed:
    """A packet as HTML, before layout (packet.css linked; the attached pages' margins and the
    template's CSS in <style> after it, so a template's rules win over ours), and each attached
    document's pages."""

    html: str
    sources: Mapping[str, list[PageObject]]
    attached: tuple[_Attached, ...]
    #: each .pageref box: its id -> (the anchor whose page it gives, None for the page count; size)
    refs: Mapping[str, tuple[str | None, float]]


def compose(
    packet: Packet,
    template: PacketTemplate,
    files: Mapping[str, Path],
    *,
    payer: Mapping[str, Any],
    practice: Mapping[str, Any],
) -> Composed:
    """The packet's HTML with a placeholder page per attached page. Raises PacketRenderError."""
    sources = {a.id: _pages_of(a.id, files.get(a.id)) for a in packet.attachments}
    attached = [
        _Attached(
            n, a.id, a.document.title or a.document.label, a.document.date, len(sources[a.id]), f"att-{n}"
        )
        for n, a in enumerate(packet.attachments, start=1)
    ]
    try:
        request_html = render_request(
            template,
            context(
                packet.case,
                packet.decision,
                packet.reference,
                packet.kind,
                packet.cover.date,
                payer,
                practice,
                packet.labels,
            ),
        )
    except TemplateRenderError as exc:
        raise PacketRenderError(str(exc)) from None
    refs: dict[str, tuple[str | None, float]] = {}

    def pageref(target: str | None, size: float) -> Markup:
        ref = f"pageref-{len(refs) + 1}"
        refs[ref] = (target, size)
        return Markup(f'<span class="pageref" id="{ref}"></span>')

    html = _LAYOUT_ENV.get_template("packet.html").render(
        packet=packet,
        request_html=request_html,
        attachments=attached if "documents" in packet.sections else [],
        titles={a.id: a.title for a in attached},
        anchors={a.id: a.anchor for a in attached},
        total_pages=lambda: pageref(None, PAGEREF_SIZES["total"]),
        page_of=lambda anchor: pageref(anchor, PAGEREF_SIZES["page"]),
        page_css=Markup(_PAGE_CSS),
        # the analyst's CSS as written (not HTML-escaped: `a > b` must stay), with "</" broken so
        # nothing in it can close the <style> element; in CSS `<\/` is the same two characters
        template_css=Markup(template.css.replace("</", "<\\/")),
    )
    shown = tuple(attached) if "documents" in packet.sections else ()
    return Composed(html, sources, shown, refs)


def render_packet(
    packet: Packet,
    template: PacketTemplate,
    files: Mapping[str, Path],
    *,
    payer: Mapping[str, Any],
    practice: Mapping[str, Any],
) -> Rendered:
    """The packet as one PDF. Raises PacketRenderError (a document that cannot be read, a
    template that fails) naming what failed."""
    composed = compose(packet, template, files, payer=payer, practice=practice)
    fetcher = SafeFetcher()
    with fewer_collections():
        document = HTML(string=composed.html, base_url=BASE_URL, url_fetcher=fetcher).render()
        # a packet embeds no file and links nowhere outside itself: <link rel=attachment> and
        # <a rel=attachment> (even of a data: URL) and external links are dropped before writing
        document.metadata.attachments = []
        for page in document.pages:
            page.links[:] = [link for link in page.links if link[0] == "internal"]
        placed = _placeholders(document.pages, composed.attached)
        texts = _furniture(document.pages, packet, composed, placed)
        pdf = document.write_pdf()
        pages = len(document.pages)
        del document
        try:
            pdf = _finish(pdf, placed, composed.sources, texts)
        except StampError as exc:
            raise PacketRenderError(str(exc)) from None
    return Rendered(pdf, pages, hashlib.sha256(pdf).hexdigest(), tuple(fetcher.refused))


def _furniture(
    pages: Any, packet: Packet, composed: Composed, placed: Mapping[int, tuple[str, int]]
) -> dict[int, list[Text]]:
    """What is written on each page after layout: its stamps, and the page numbers in its
    .pageref boxes (anchors are in CSS px from the top left corner; PDF points are 3/4 of one)."""
    total = len(pages)
    starts = {anchor: index + 1 for index, page in enumerate(pages) for anchor in page.anchors}
    by_id = {item.id: item for item in composed.attached}
    stamp = DRAFT if packet.kind == "draft" else f"To {packet.cover.to}"
    texts: dict[int, list[Text]] = {}
    for index, page in enumerate(pages):
        width, height = page.width * 0.75, page.height * 0.75
        top, right = height - STAMP_TOP, width - STAMP_INSET
        if index in placed:
            doc_id, number = placed[index]
            item = by_id[doc_id]
            corner = f"Attachment {item.number}: {item.title} ({item.id}), page {number + 1} of {item.pages}"
        else:
            corner = stamp
        items = [
            Text(f"Ref. {packet.reference}", STAMP_INSET, top, 8, gray=0.2),
            Text(corner, right, top, 8, bold=True, align="right", gray=0.2),
            Text(CONFIDENTIAL, STAMP_INSET, STAMP_BOTTOM, 7, gray=0.333),
            Text(f"Page {index + 1} of {total}", right, STAMP_BOTTOM, 9, bold=True, align="right"),
        ]
        if packet.kind == "draft":
            items.append(Text(DRAFT, width / 2, STAMP_BOTTOM, 9, bold=True, align="center", red=True))
        for ref, (target, size) in composed.refs.items():
            box = page.anchors.get(ref)
            if box is None or (target is not None and target not in starts):
                continue  # not on this page (or hidden by a template's CSS)
            number = total if target is None else starts[target]
            # an empty inline-block sits on the baseline: its bottom edge is where the digits stand
            items.append(Text(str(number), box[0] * 0.75, height - box[3] * 0.75, size))
        texts[index] = items
    return texts


def _finish(
    pdf: bytes,
    placed: Mapping[int, tuple[str, int]],
    sources: Mapping[str, list[PageObject]],
    texts: Mapping[int, Sequence[Text]],
) -> bytes:
    """One pypdf pass: the attached pages laid in under their placeholders, the texts on top."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    _lay_in(writer, placed, sources)
    draw(writer, texts)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


#: young objects allowed between two collections while a packet is laid out (Python's default: 700)
LAYOUT_GC_THRESHOLD = 20_000
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections(threshold: int = LAYOUT_GC_THRESHOLD) -> Iterator[None]:
    """Python's cycle collector runs less often while a packet is laid out.

    WeasyPrint builds a box tree of hundreds of thousands of objects that all live until the PDF
    is written; at the default threshold the collector walks them again every 700 allocations,
    which is about a tenth of the reference packet's time (benchmarks/README.md). The threshold
    is process-wide, so it is raised while any render runs (threads counted) and put back when
    the last one ends, errors included; garbage is still collected, in bigger steps.
    """
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(threshold, _gc_saved[0]), _gc_saved[1], _gc_saved[2])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                _gc_saved = None


def _placeholders(pages: Any, attached: tuple[_Attached, ...]) -> dict[int, tuple[str, int]]:
    """Which packet page (0-based) holds which document page: {page: (document id, its page)}."""
    wanted: dict[str, tuple[str, int]] = {}
    for item in attached:
        for page in range(item.pages):
            wanted[item.anchor if page == 0 else f"{item.anchor}-{page + 1}"] = (item.id, page)
    placed: dict[int, tuple[str, int]] = {}
    for index, page in enumerate(pages):
        for anchor in page.anchors:
            if anchor in wanted:
                placed[index] = wanted[anchor]
    if len(placed) != len(wanted):  # a template's CSS hid a placeholder: pages would be lost
        raise PacketRenderError(
            "the packet template's CSS hides attached pages (an .attachment-page is not shown): "
            "remove the rule that changes them"
        )
    return placed


def lay_in(
    pdf: bytes, placed: Mapping[int, tuple[str, int]], sources: Mapping[str, list[PageObject]]
) -> bytes:
    """The attached pages laid in and nothing else (the benchmark times this step alone)."""
    return _finish(pdf, placed, sources, {})


def _lay_in(
    writer: PdfWriter, placed: Mapping[int, tuple[str, int]], sources: Mapping[str, list[PageObject]]
) -> None:
    """Each attached page scaled into its placeholder's content box, under the stamps.

    The document page becomes a Form XObject (its content streams as they are, its resources, its
    crop box as the clip) that the placeholder draws first, through one `cm`: no content stream
    is parsed or rewritten (pypdf's merge_page does both, at about 6 pages a second here).
    """
    top, right, bottom, left = ATTACHED_MARGINS
    for index, (doc_id, number) in placed.items():
        base = writer.pages[index]
        source = sources[doc_id][number]
        box = source.cropbox
        llx, lly = float(box.left), float(box.bottom)
        width, height = float(box.width), float(box.height)
        turn = source.rotation % 360
        shown_w, shown_h = (height, width) if turn in (90, 270) else (width, height)
        room_w = float(base.mediabox.width) - left - right
        room_h = float(base.mediabox.height) - top - bottom
        scale = min(room_w / shown_w, room_h / shown_h)
        x = left + (room_w - shown_w * scale) / 2
        y = bottom + (room_h - shown_h * scale) / 2
        add_resources(
            base, "/XObject", {f"/PriorauthAttached{index}": writer._add_object(_form(writer, source))}
        )
        add_drawing(
            writer,
            base,
            under=(
                f"q {scale:.6f} 0 0 {scale:.6f} {x:.3f} {y:.3f} cm {_ROTATE[turn](width, height)} cm "
                f"1 0 0 1 {-llx:.3f} {-lly:.3f} cm /PriorauthAttached{index} Do Q\n"
            ).encode("ascii"),
        )


#: the matrix that turns a page's content the way its /Rotate shows it (clockwise), into a box
#: whose lower left corner is the origin: (width, height) of the unrotated crop box
_ROTATE: dict[int, Callable[[float, float], str]] = {
    0: lambda w, h: "1 0 0 1 0 0",
    90: lambda w, h: f"0 -1 1 0 0 {w:.3f}",
    180: lambda w, h: f"-1 0 0 -1 {w:.3f} {h:.3f}",
    270: lambda w, h: f"0 1 -1 0 {h:.3f} 0",
}


def _form(writer: PdfWriter, page: PageObject) -> StreamObject:
    """The page's drawing as a Form XObject (no annotations, nothing of its document's catalog)."""
    contents = page.get("/Contents")
    streams = [] if contents is None else contents.get_object()
    if not isinstance(streams, ArrayObject):
        streams = [streams]
    data = b"\n".join(stream.get_object().get_data() for stream in streams)
    form = DecodedStreamObject()
    form.set_data(data)
    resources = page.get("/Resources")
    form.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject([FloatObject(v) for v in page.cropbox]),
            NameObject("/Resources"): resources.get_object().clone(writer)
            if resources is not None
            else DictionaryObject(),
        }
    )
    return form.flate_encode()


def _pages_of(doc_id: str, path: Path | None) -> list[PageObject]:
    """A document's pages as PDF pages: a PDF's own, or one per image frame."""
    if path is None:
        raise PacketRenderError(f"{doc_id}: its file is not available")
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise PacketRenderError(f"{doc_id}: its file cannot be read ({exc.strerror})") from None
    if head.startswith(b"%PDF-"):
        return _pdf_pages(doc_id, path.read_bytes())
    return _image_pages(doc_id, path)


def _pdf_pages(doc_id: str, data: bytes) -> list[PageObject]:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise PacketRenderError(f"{doc_id} is password-protected: attach a copy without a password")
        pages = list(reader.pages)
    except PacketRenderError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError):
        raise PacketRenderError(
            f"{doc_id}: the PDF cannot be read; attach it again from the source"
        ) from None
    if not pages:
        raise PacketRenderError(f"{doc_id}: the PDF has no pages")
    return pages


def _image_pages(doc_id: str, path: Path) -> list[PageObject]:
    """Each frame of a TIFF (fax pages), or a PNG/JPEG, as a PDF page of its physical size."""
    out: list[PageObject] = []
    try:
        with Image.open(path) as image:
            for number, frame in enumerate(ImageSequence.Iterator(image)):
                if number >= MAX_FRAMES:
                    raise PacketRenderError(f"{doc_id} has more than {MAX_FRAMES} pages")
                out.append(_frame_page(frame))
    except PacketRenderError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError):
        raise PacketRenderError(
            f"{doc_id}: the image cannot be read; attach it again from the source"
        ) from None
    return out


def _frame_page(frame: Image.Image) -> PageObject:
    dpi = frame.info.get("dpi") or (200, 200)
    xdpi, ydpi = (float(dpi[0]) or 200.0), (float(dpi[1]) or 200.0)
    image = frame.copy()
    if image.mode not in ("1", "L", "RGB"):
        if image.mode in ("RGBA", "LA", "P", "PA"):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, "white")
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        else:
            image = image.convert("L")
    if abs(xdpi - ydpi) > 0.5:  # fax pixels are not square (204 x 196 dpi): make them so
        image = image.resize((image.width, round(image.height * xdpi / ydpi)))
    buffer = io.BytesIO()
    image.save(buffer, "PDF", resolution=xdpi)
    return PdfReader(io.BytesIO(buffer.getvalue())).pages[0]
