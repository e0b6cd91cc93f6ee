"""The only way a rendered packet reaches anything outside its own text: `data:` URLs and the
files bundled in connectors/pdf/assets/. Nothing else is fetched, ever.

WeasyPrint fetches every URL a document names (stylesheets, `@import`, images, fonts, and
`<link rel=attachment>`, which it embeds as a file inside the PDF). A packet holds patient data
and analyst-written templates, so a URL there must not read a server file (`file:///etc/passwd`)
or call out (`http://...`: a leak and a tracking pixel). WeasyPrint reports a refused URL as a
warning and goes on without it; the packet then simply lacks the resource.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from weasyprint.urls import URLFetcher, URLFetcherResponse

ASSETS = Path(__file__).resolve().parent / "assets"
#: the base URL documents resolve relative names against: the bundled assets, nothing above
BASE_URL = ASSETS.as_uri() + "/"
MAX_DATA = 8 * 1024 * 1024  # a data: URL larger than this is not an image a packet needs
_TYPES = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".woff2": "font/woff2"}


class Refused(ValueError):
    """A URL outside what a packet may use; WeasyPrint logs it and leaves the resource out."""


class SafeFetcher(URLFetcher):  # type: ignore[misc]  # weasyprint is untyped
    """Serves `data:` URLs and files under ASSETS; refuses every other URL without opening it."""

    def __init__(self, assets: Path = ASSETS) -> None:
        super().__init__(timeout=1, allowed_protocols=("data", "file"), allow_redirects=False)
        self.assets = assets.resolve()
        self.refused: list[str] = []  # scheme and host of each refused URL (never a path or query)

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            return _data(url)
        if scheme == "file":
            path = self._asset(url)
            if path is not None:
                return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": _TYPES[path.suffix]})
        parts = urlsplit(url)
        self.refused.append(f"{parts.scheme}://{parts.hostname or ''}")
        raise Refused(f"{parts.scheme or 'this'} URLs are not allowed in a packet")

    def _asset(self, url: str) -> Path | None:
        """The bundled file a file: URL names, when it is one (symlinks and .. resolved first)."""
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            return None
        path = Path(unquote(parts.path)).resolve()
        if path.suffix not in _TYPES or not path.is_file():
            return None
        try:
            path.relative_to(self.assets)
        except ValueError:
            return None
        return path if os.access(path, os.R_OK) else None


def _data(url: str) -> URLFetcherResponse:
    """A data: URL decoded here (urllib's handler would do, but this bounds the size first)."""
    header, sep, payload = url[5:].partition(",")
    if not sep or len(payload) > MAX_DATA * 4 // 3 + 4:
        raise Refused("a data: URL that is malformed or too large")
    media, _, encoding = header.rpartition(";") if header.endswith(";base64") else (header, "", "")
    try:
        body = (
            base64.b64decode(payload, validate=False) if encoding == "base64" else unquote(payload).encode()
        )
    except (binascii.Error, ValueError):
        raise Refused("a data: URL whose base64 does not decode") from None
    return URLFetcherResponse(url, body, {"Content-Type": media.split(";")[0] or "text/plain"})
