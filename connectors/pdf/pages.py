"""Adding to a finished PDF page with pypdf: resources it names, drawing under and over its own.

Both the attached documents (laid under a placeholder page) and the stamps (written on top) go
through here, so a page's resources and content streams are changed one way.
"""

from __future__ import annotations

from collections.abc import Mapping

from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, PdfObject


def add_resources(page: DictionaryObject, kind: str, entries: Mapping[str, PdfObject]) -> None:
    """Name `entries` in the page's `kind` resources (/Font, /XObject), in the page's own copy of
    its resources: WeasyPrint's pages share one dictionary, and a name is for this page only."""
    shared = page.get("/Resources")
    resources = DictionaryObject(shared.get_object()) if shared is not None else DictionaryObject()
    current = resources.get(kind)
    table = DictionaryObject(current.get_object()) if current is not None else DictionaryObject()
    for name, value in entries.items():
        table[NameObject(name)] = value
    resources[NameObject(kind)] = table
    page[NameObject("/Resources")] = resources


def add_drawing(writer: PdfWriter, page: DictionaryObject, under: bytes = b"", over: bytes = b"") -> None:
    """Content drawn before (`under`) and after (`over`) what the page draws already."""
    contents = page.get("/Contents")
    drawn = None if contents is None else contents.get_object()
    existing = [] if drawn is None else list(drawn) if isinstance(drawn, ArrayObject) else [contents]
    streams = []
    for data in (under, over):
        stream = DecodedStreamObject()
        stream.set_data(data)
        streams.append(writer._add_object(stream) if data else None)
    page[NameObject("/Contents")] = ArrayObject(
        [s for s in (streams[0], *existing, streams[1]) if s is not None]
    )
