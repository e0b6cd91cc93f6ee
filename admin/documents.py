"""Documents attached to a case: checked by their bytes, kept outside the database, never deleted.

    doc = attach(session, case, actor, upload, type="order", on=date(2026, 11, 18), title="Signed",
                 root=folder, limit=20 * MiB)        # the case is re-evaluated, the event audited
    withdraw(session, case, actor, doc.id)            # out of the facts, marked; the file stays
    path = open_file(case, doc, root=folder)          # checked against its sha256
    satisfies(case)                                   # {"DOC-12": ["Signed order..."]}

A file is stored as `<root>/<organization id>/<random>.<ext>` (folders 0700, files 0600): the
name is made here, its extension from the magic bytes, never from what the person's file was
called. The row keeps the sha256, size, pages and the title; the case's `facts["documents"]` gets
`{"id": "DOC-<row id>", "type", "date", "title", "pages"}`, which is what the rules test. Audit
events keep the type, date, media type, size, pages and sha256, never the title (it may name the
patient). A document that is withdrawn has `superseded_by` set to its own id; one replaced by a
newer upload points at that upload. Every refusal is a `cases.CaseError` and leaves nothing behind:
no row, no file, no event.
"""

from __future__ import annotations

import copy
import hashlib
import os
import secrets
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from admin import audit, cases
from admin.config import instance_path
from admin.db import kept_with
from admin.models import utcnow
from admin.models_cases import Case, CaseDocument
from engine import lifecycle

MiB = 1024 * 1024
DEFAULT_LIMIT_MB = 20
CHUNK = 64 * 1024
HEAD = 512  # enough for every signature below, DICOM's (at byte 128) included
MAX_FRAMES = 2000  # a TIFF with more frames than this is not a scanned document
TITLE_MAX = 200

TYPES: dict[str, str] = {
    "order": "Order",
    "clinical-note": "Clinical note",
    "progress-note": "Progress note",
    "consult-note": "Consult note",
    "face-to-face": "Face-to-face visit note",
    "imaging-report": "Imaging report",
    "pathology-report": "Pathology report",
    "lab": "Lab results",
    "therapy-history": "Therapy history",
    "plan-of-care": "Plan of care",
    "sleep-study": "Sleep study",
    "device-download": "Device download",
    "visual-field-test": "Visual field test",
    "photographs": "Photographs",
    "letter-of-medical-necessity": "Letter of medical necessity",
    "referral": "Referral",
    "medication-list": "Medication list",
    "sterilization-consent": "Sterilization consent",
    "hysterectomy-acknowledgment": "Hysterectomy acknowledgment",
    "pap-follow-up": "Pap follow-up",
    "payer-letter": "Payer letter",
    "other": "Other",
}
ACCEPTED = {  # media type -> (what people call it, the extension the stored file gets)
    "application/pdf": ("PDF", ".pdf"),
    "image/tiff": ("TIFF", ".tif"),
    "image/png": ("PNG", ".png"),
    "image/jpeg": ("JPEG", ".jpg"),
}
ACCEPTED_TEXT = "PDF, TIFF, PNG or JPEG"
_RENEWABLE = ("approved", "partially-approved", "expired")
# decided cases keep documents on record (the payer's approval letter, a usage report) without
# changing their facts: the decision they were made on stays as it was
ON_RECORD = ("approved", "partially-approved", "not-required", "expired")
_FORMATS = {"image/tiff": {"TIFF"}, "image/png": {"PNG"}, "image/jpeg": {"JPEG", "MPO"}}  # MPO: cameras
_NAMED = {".pdf": "PDF", ".tif": "TIFF", ".tiff": "TIFF", ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def sniff(head: bytes) -> str | None:
    """The media type the first bytes say, when it is one accepted here; else None."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


def looks_like(head: bytes) -> str:
    """What a refused file seems to be, in words a coordinator knows."""
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    signatures: list[tuple[bool, str]] = [
        (head.startswith(b"PK\x03\x04"), "a ZIP archive (Word .docx and Excel .xlsx files are ZIP archives)"),
        (head.startswith(b"\xd0\xcf\x11\xe0"), "an old Word, Excel or Outlook file"),
        (head.startswith(b"{\\rtf"), "a rich-text (RTF) file"),
        (lowered.startswith((b"<!doctype html", b"<html")), "an HTML page"),
        (lowered.startswith(b"<?xml"), "an XML file"),
        (head.startswith((b"GIF87a", b"GIF89a")), "a GIF image"),
        (head.startswith(b"BM"), "a BMP image"),
        (head[:4] == b"RIFF" and head[8:12] == b"WEBP", "a WebP image"),
        (head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"), "an HEIC photo (the iPhone's format)"),
        (head[128:132] == b"DICM", "a DICOM image (send the radiologist's report instead)"),
        (head.startswith((b"II+\x00", b"MM\x00+")), "a BigTIFF image"),
        (head.startswith(b"\x1f\x8b"), "a gzip archive"),
        (head.startswith((b"Rar!", b"7z\xbc\xaf")), "a compressed archive"),
        (head.startswith((b"MZ", b"\x7fELF")), "a program"),
    ]
    for matched, what in signatures:
        if matched:
            return what
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:  # cut in the middle of a character: read as far as it goes
        text = head[:-3].decode("utf-8", errors="replace")
    if text and all(ch.isprintable() or ch in "\t\r\n" for ch in text if ch != "\ufffd"):
        return "a text file"
    return "a kind of file this page does not know"


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < MiB:
        return f"{size / 1024:.0f} KB"
    return f"{size // MiB} MB" if size % MiB == 0 else f"{size / MiB:.1f} MB"


def default_root() -> Path:
    """Where documents live when the caller does not say: the instance folder's documents/."""
    return instance_path() / "documents"


def fact_id(document: CaseDocument) -> str:
    return f"DOC-{document.id}"


def state(document: CaseDocument) -> str:
    """current, withdrawn (superseded by itself) or superseded (by a newer upload)."""
    if document.superseded_by is None:
        return "current"
    return "withdrawn" if document.superseded_by == document.id else "superseded"


def problems(case: Case, type: str, title: str, replaces: int | None = None) -> list[tuple[str, str]]:
    """Everything wrong with an upload's description, all at once (before any byte is read)."""
    found: list[tuple[str, str]] = []
    if case.status not in lifecycle.OPEN and case.status not in ON_RECORD:
        found.append(("", f"the case is {case.status}: documents can no longer be added"))
    elif case.status in ON_RECORD and replaces is not None:
        renew = " (renew it to work on it again)" if case.status in _RENEWABLE else ""
        found.append(
            ("replaces", f"the case is {case.status}: its documents can no longer be replaced{renew}")
        )
    if type not in TYPES:
        found.append(("type", f"choose one of the document types: {', '.join(TYPES)}"))
    if len(title.strip()) > TITLE_MAX:
        found.append(("title", f"a title is at most {TITLE_MAX} characters"))
    if replaces is not None and _current(case, replaces) is None:
        found.append(("replaces", f"DOC-{replaces} is not a current document of this case"))
    return found


def _current(case: Case, document_id: int) -> CaseDocument | None:
    for document in case.documents:
        if document.id == document_id and document.superseded_by is None:
            return document
    return None


def attach(
    session: Session,
    case: Case,
    actor: str,
    stream: Readable,
    *,
    type: str,
    on: date | None,
    title: str = "",
    filename_hint: str | None = None,
    replaces: int | None = None,
    root: Path | None = None,
    limit: int = DEFAULT_LIMIT_MB * MiB,
) -> CaseDocument:
    """Store the upload, add it to the case's facts and re-evaluate the case; returns the new row.
    A decided case (ON_RECORD) keeps the document on record only: its facts and decision stay.

    Raises cases.CaseError (nothing stored, nothing changed) for a closed case, an unknown type, a
    file that is empty, too large, not a PDF/TIFF/PNG/JPEG by its bytes, or that does not open.
    `filename_hint` is only used to say what the file's name claimed; it is never stored.
    """
    wrong = problems(case, type, title, replaces)
    if wrong:
        raise cases.CaseError(wrong)
    folder = _folder(root or default_root(), case)
    with received(folder, stream, limit, filename_hint) as (temp, media_type, digest, size, pages):
        name = secrets.token_hex(16) + ACCEPTED[media_type][1]
        os.replace(temp, folder / name)
    final = folder / name
    with kept_with(session, final):
        document = CaseDocument(
            case_id=case.id,
            type=type,
            date=on,
            title=title.strip(),
            media_type=media_type,
            size=size,
            pages=pages,
            sha256=digest,
            stored_as=f"{case.organization_id}/{name}",
            uploaded_by=actor,
            uploaded_at=utcnow(),
        )
        # appended before it is in the session: loading `case.documents` first would autoflush
        # the new row into that list, and appending it then would list it twice
        case.documents.append(document)
        session.flush()
        old = _current(case, replaces) if replaces is not None else None
        if old is not None:
            old.superseded_by = document.id
        if case.status in lifecycle.OPEN:
            _refacts(session, case, actor, add=document, drop=old, why=f"document {type}")
        audit.record(
            session,
            actor,
            "document",
            "case",
            case.reference,
            None,
            {
                "document": fact_id(document),
                "change": "attached",
                "type": type,
                "date": on,
                "media_type": media_type,
                "size": size,
                "pages": pages,
                "sha256": digest,
                "replaces": fact_id(old) if old is not None else None,
            },
        )
    return document


def withdraw(
    session: Session, case: Case, actor: str, document_id: int, *, replaced_by: int | None = None
) -> CaseDocument:
    """Take a document out of the case's facts (the row and the file stay) and re-evaluate."""
    document = _current(case, document_id)
    wrong: list[tuple[str, str]] = []
    if case.status not in lifecycle.OPEN:
        wrong.append(("", f"the case is {case.status}: its documents can no longer change"))
    if document is None:
        wrong.append(("document", f"DOC-{document_id} is not a current document of this case"))
    if replaced_by is not None and (replaced_by == document_id or _current(case, replaced_by) is None):
        wrong.append(("replaced_by", f"DOC-{replaced_by} is not another current document of this case"))
    if wrong or document is None:
        raise cases.CaseError(wrong)
    document.superseded_by = replaced_by if replaced_by is not None else document.id
    _refacts(session, case, actor, drop=document, why=f"document {document.type} withdrawn")
    audit.record(
        session,
        actor,
        "document",
        "case",
        case.reference,
        {"document": fact_id(document), "state": "current"},
        {
            "document": fact_id(document),
            "change": state(document),
            "superseded_by": f"DOC-{replaced_by}" if replaced_by is not None else None,
        },
    )
    return document


def open_file(case: Case, document: CaseDocument, *, root: Path | None = None) -> Path:
    """The stored file, checked to be this case's, inside its organization's folder, and whole.

    Raises cases.CaseError when the file is missing or no longer matches its sha256."""
    base = (root or default_root()).resolve() / str(case.organization_id)
    path = (base.parent / document.stored_as).resolve()
    if document.case_id != case.id or not path.is_relative_to(base):
        raise cases.CaseError([("document", f"{fact_id(document)} is not a document of this case")])
    if not path.is_file():
        raise cases.CaseError(
            [("document", f"the file of {fact_id(document)} is missing: IT must restore it from backup")]
        )
    if sha256_of(path) != document.sha256:
        raise cases.CaseError(
            [("document", f"the file of {fact_id(document)} changed on disk: IT must restore it from backup")]
        )
    return path


def sha256_of(path: Path) -> str:
    """The sha256 of a stored file, read in chunks (files can be tens of megabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_name(case: Case, document: CaseDocument) -> str:
    return f"{case.reference}-{fact_id(document)}{ACCEPTED.get(document.media_type, ('', '.bin'))[1]}"


def satisfies(case: Case) -> dict[str, list[str]]:
    """Which items of the latest decision each document satisfies: document fact id -> labels."""
    found: dict[str, list[str]] = {}
    for item in (case.decision or {}).get("satisfied") or []:
        if not isinstance(item, dict):
            continue
        for doc_id in item.get("by") or []:
            found.setdefault(str(doc_id), []).append(str(item.get("label") or item.get("id") or ""))
    return found


# -- the file on disk ------------------------------------------------------------------------------
def _folder(root: Path, case: Case) -> Path:
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = root / str(case.organization_id)
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


@contextmanager
def received(
    folder: Path, stream: Readable, limit: int, filename_hint: str | None
) -> Iterator[tuple[Path, str, str, int, int]]:
    """The upload in a temporary file beside where it will live, checked; removed unless moved.
    (Faxed replies coming in, admin/inbound.py, are checked the same way.)

    Yields (temporary path, media type, sha256, size, pages). Raises cases.CaseError ("file")."""
    fd, name = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=folder)  # mode 0600
    temp = Path(name)
    try:
        digest, size, head = hashlib.sha256(), 0, b""
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _refused(
                        f"the file is larger than the {human_size(limit)} limit for documents: "
                        "scan it at a lower resolution, or split it, and upload again"
                    )
                if len(head) < HEAD:
                    head += chunk[: HEAD - len(head)]
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise _refused("the file is empty: choose the file again")
        media_type = sniff(head)
        if media_type is None:
            raise _refused(_refusal(head, filename_hint))
        pages = _pages(temp, media_type)
        yield temp, media_type, digest.hexdigest(), size, pages
    finally:
        temp.unlink(missing_ok=True)


def _refused(what: str) -> cases.CaseError:
    return cases.CaseError([("file", what)])


def _refusal(head: bytes, filename_hint: str | None) -> str:
    claimed = _NAMED.get(Path(filename_hint or "").suffix.lower())
    named = f"its name says {claimed}, but " if claimed else ""
    return (
        f"{named}this looks like {looks_like(head)}, not a {ACCEPTED_TEXT} file. "
        f"Only {ACCEPTED_TEXT} files are accepted: save or scan it as a PDF and upload that."
    )


def _pages(path: Path, media_type: str) -> int:
    """How many pages (PDF) or frames (TIFF) the file has, by really opening it."""
    kind = ACCEPTED[media_type][0]
    broken = _refused(
        f"the file starts like a {kind} but does not open: it may be damaged or cut short. "
        "Save or scan it again and upload the new copy"
    )
    if media_type == "application/pdf":
        return _pdf_pages(path, broken)
    from PIL import Image, ImageFile

    # WeasyPrint (packets) sets this to True when it is imported, and Pillow then pads a cut-short
    # image instead of refusing it: the check of an upload needs Pillow's strict default back
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # odd EXIF and the like are not the coordinator's problem
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                if image.format not in _FORMATS[media_type]:
                    raise broken
                frames = int(getattr(image, "n_frames", 1))
                if frames > MAX_FRAMES:
                    raise _refused(f"the TIFF has more than {MAX_FRAMES} pages: split it into several files")
                for frame in range(frames):
                    image.seek(frame)
                    image.load()  # decodes the pixels: a truncated or corrupt image fails here
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _refused(
                "the image has too many pixels for a scanned page: scan it at 300 dpi or less"
            ) from None
        except cases.CaseError:
            raise
        except Exception:  # Pillow raises OSError, ValueError, SyntaxError... for broken files
            raise broken from None
    return frames


def _pdf_pages(path: Path, broken: cases.CaseError) -> int:
    from pypdf import PdfReader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pypdf warns about oddities it repairs; a broken file raises
        try:
            reader = PdfReader(path)
            locked = reader.is_encrypted and not reader.decrypt("")
            pages = 0 if locked else len(reader.pages)
        except Exception:  # pypdf raises many kinds for a damaged file
            raise broken from None
    if locked:
        raise _refused(
            "the PDF is protected by a password, so the payer could not open it either: "
            "save a copy without the password and upload that"
        )
    if pages < 1:
        raise broken
    return pages


# -- the case's facts ------------------------------------------------------------------------------
def _refacts(
    session: Session,
    case: Case,
    actor: str,
    *,
    why: str,
    add: CaseDocument | None = None,
    drop: CaseDocument | None = None,
) -> None:
    facts: dict[str, Any] = copy.deepcopy(dict(case.facts or {}))
    given = facts.get("documents")
    listed = [d for d in given if isinstance(d, dict)] if isinstance(given, list) else []
    if drop is not None:
        listed = [d for d in listed if d.get("id") != fact_id(drop)]
    if add is not None:
        record: dict[str, Any] = {"id": fact_id(add), "type": add.type}
        if add.date is not None:
            record["date"] = add.date.isoformat()
        if add.title:
            record["title"] = add.title
        if add.pages is not None:
            record["pages"] = add.pages
        listed.append(record)
    facts["documents"] = listed
    cases.update_facts(session, case, actor, facts, why=why)
