"""The versioned store of rulesets, forms and packet templates: drafts, review, publish, retire, rollback, push.

Every function takes the caller's session and acts inside its transaction (the caller commits
or rolls back: `with db.transaction() as session`), so a push of ten files with one bad file
writes nothing. Every change is an audit event in the same transaction.

    draft ──submit──► in-review ──publish──► published ──retire──► retired
      └─────────────── publish (IT push --publish) ──┘
    rollback(v3) publishes a new version (latest + 1) with v3's text.

A published version is immutable: its text and sha256 never change (the ORM refuses it). The
number a document states is kept when it is above every stored version of that id; otherwise
the version is published as latest + 1 and its text says so (spec: rulesets.md, "Versions").
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from admin import audit
from admin.models import KINDS, Document, DocumentVersion, utcnow
from connectors.pdf.templates import PacketTemplate, load_template
from engine import Evaluator, Form, LoadError, Problem, Ruleset, load_form, load_ruleset, run_tests
from engine.catalog import form_types

T = TypeVar("T")
ACTIVE = ("published",)
OPEN = ("draft", "in-review")
_VERSION_LINE = re.compile(r"^version:[^\n]*$", re.M)
_ID_LINE = re.compile(r"^(ruleset|form|template):[^\n]*$", re.M)


class StoreError(Exception):
    """A change the store refuses; `problems` says what and where, each with how to fix it."""

    def __init__(self, problems: Sequence[Problem | str]) -> None:
        self.problems = [p if isinstance(p, Problem) else Problem("", None, p) for p in problems]
        super().__init__("\n".join(_words(p) for p in self.problems))


def _words(problem: Problem) -> str:
    if problem.file:
        return str(problem)
    return problem.message + (f": {problem.fix}" if problem.fix else "")


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    """Someone else saved this draft first; `current_text` is what they saved (to compare)."""

    def __init__(self, message: str, current: DocumentVersion) -> None:
        super().__init__([message])
        self.current_text = current.text
        self.current_lock = current.lock_version
        self.updated_by = current.updated_by


class IllegalTransition(StoreError):
    pass


@dataclass(frozen=True, slots=True)
class Pushed:
    file: str
    kind: str
    slug: str
    outcome: str  # "draft", "published", "unchanged"
    version: int | None
    version_id: int
    replaced: int | None = None  # the file's version number, when the store gave another


@dataclass(frozen=True)
class Loaded:
    """A document's text, checked: the engine object and its identity."""

    kind: str
    slug: str
    title: str
    payer: str | None
    sha256: str
    stated_version: int | None
    obj: Ruleset | Form | PacketTemplate
    extra: dict[str, Any] = field(default_factory=dict)


# -- reading what is live ---------------------------------------------------------------------------
def published(session: Session, kind: str) -> list[DocumentVersion]:
    query = (
        select(DocumentVersion)
        .join(Document)
        .where(Document.kind == kind, DocumentVersion.status.in_(ACTIVE))
        .order_by(Document.slug, DocumentVersion.version)
    )
    return list(session.scalars(query))


_LOADED: dict[tuple[str, str, str], Any] = {}


def _published_loaded(session: Session, kind: str, load: Callable[[str, str], T]) -> dict[str, T]:
    """The newest published version of each document of `kind`, loaded once per process: a
    version's text never changes, and loading (checking a form's schema, a template's trial
    render) is the slow part."""
    out: dict[str, T] = {}
    for row in published(session, kind):
        key = (kind, row.sha256, _name(row))
        found = _LOADED.get(key)
        if found is None:
            if len(_LOADED) > 512:
                _LOADED.clear()
            found = _LOADED[key] = load(row.text, key[2])
        out[row.document.slug] = found
    return out


def published_forms(session: Session) -> dict[str, Form]:
    """The newest published version of each form, loaded."""
    return _published_loaded(session, "form", load_form)


def published_templates(session: Session) -> dict[str, PacketTemplate]:
    """The newest published version of each packet template, loaded."""
    return _published_loaded(session, "template", load_template)


_CHECKED: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], Loaded] = {}


def published_rulesets(session: Session, forms: Mapping[str, Form] | None = None) -> list[Ruleset]:
    """Every published ruleset version (the engine picks the one in effect)."""
    types = form_types(forms if forms is not None else published_forms(session))
    return [load_ruleset(row.text, _name(row), types) for row in published(session, "ruleset")]


_RULESETS: dict[tuple[str, str, tuple[tuple[str, str], ...]], Ruleset] = {}


def ruleset_version(
    session: Session, slug: str, version: int, forms: Mapping[str, Form] | None = None
) -> Ruleset:
    """One stored ruleset version (published or retired), loaded once per process and forms."""
    row = find(session, "ruleset", slug, version)
    forms = forms if forms is not None else published_forms(session)
    key = (row.sha256, _name(row), tuple(sorted((k, f.sha256) for k, f in forms.items())))
    found = _RULESETS.get(key)
    if found is None:
        if len(_RULESETS) > 64:
            _RULESETS.clear()
        found = _RULESETS[key] = load_ruleset(row.text, key[1], form_types(forms))
    return found


_EVALUATORS: dict[tuple[str, tuple[str, ...]], Evaluator] = {}


def evaluator(session: Session, backend: str) -> Evaluator:
    """An Evaluator over everything published; built once per set of published versions."""
    rows = published(session, "form") + published(session, "ruleset")
    key = (backend, tuple(sorted(r.sha256 + str(r.version) for r in rows)))
    found = _EVALUATORS.get(key)
    if found is None:
        forms = published_forms(session)
        found = Evaluator(published_rulesets(session, forms), forms, backend=backend)
        if len(_EVALUATORS) > 8:
            _EVALUATORS.clear()
        _EVALUATORS[key] = found
    return found


def _name(row: DocumentVersion) -> str:
    number = f"v{row.version}" if row.version is not None else f"draft-{row.id}"
    return f"{row.document.slug}@{number}"


# -- checking a text --------------------------------------------------------------------------------
def check(
    session: Session, kind: str, text: str, name: str, forms: Mapping[str, Form] | None = None
) -> Loaded:
    """Load a ruleset or form text as the engine will; raises StoreError with file:line problems.

    A ruleset is checked against the published forms (plus `forms`, the ones arriving with it)
    and its embedded tests are run on both backends.
    """
    if kind not in KINDS:
        raise StoreError([f"unknown kind '{kind}': use ruleset, form or template"])
    known = {**published_forms(session), **(forms or {})} if kind == "ruleset" else {}
    # a text that passed once passes again against the same forms: pushing then publishing (or a
    # folder pushed again) does not load and test it twice
    key = (
        kind,
        hashlib.sha256(text.encode()).hexdigest(),
        name,
        tuple(sorted((k, f.sha256) for k, f in known.items())),
    )
    found = _CHECKED.get(key)
    if found is not None:
        return found
    try:
        if kind == "form":
            form = load_form(text, name)
            loaded = Loaded("form", form.id, form.title, None, form.sha256, form.version, form)
        elif kind == "template":
            tpl = load_template(text, name)
            loaded = Loaded("template", tpl.id, tpl.title, tpl.payer, tpl.sha256, tpl.version, tpl)
        else:
            ruleset = load_ruleset(text, name, form_types(known))
    except LoadError as exc:
        raise StoreError([_in_store(p) for p in exc.problems]) from None
    if kind == "ruleset":
        problems = run_tests(ruleset, known)
        if problems:
            raise StoreError(problems)
        loaded = Loaded(
            "ruleset", ruleset.id, ruleset.title, ruleset.payer, ruleset.sha256, ruleset.version, ruleset
        )
    if len(_CHECKED) > 256:
        _CHECKED.clear()
    _CHECKED[key] = loaded
    return loaded


def _in_store(problem: Problem) -> Problem:
    """The engine's advice for files, said for the store where it differs."""
    if problem.message.startswith("unknown form "):
        return Problem(
            problem.file,
            problem.line,
            problem.message.replace("unknown form", "form", 1) + " is not published",
            "publish the form first (priorauth forms push FILE --publish), or push it with this ruleset",
        )
    return problem


# -- changes ---------------------------------------------------------------------------------------
def push(
    session: Session, actor: str, kind: str, files: Sequence[tuple[str, str]], publish_now: bool = False
) -> list[Pushed]:
    """Check every file first; if any is bad, raise with all the problems and write nothing.

    Then each file whose text differs from its latest version becomes a draft (and, with
    `publish_now`, is published). Forms pushed together are known to the rulesets pushed with them.
    Several files of one ruleset id (next year's version beside this year's) may be pushed together
    when each states its own `version`; they are stored in version order, and a file whose text is
    already a stored version of that id is unchanged.
    """
    problems: list[Problem] = []
    loaded: list[tuple[str, str, Loaded]] = []
    arriving: dict[str, Form] = {}
    seen: dict[str, list[tuple[str, int | None]]] = {}
    for name, raw in files:
        text = normalize(raw)
        try:
            item = check(session, kind, text, name, arriving)
        except StoreError as exc:
            problems += exc.problems
            continue
        others = seen.setdefault(item.slug, [])
        # one file per id, except rulesets whose files each state their own version number
        clash = next(
            (
                o
                for o, v in others
                if kind != "ruleset" or None in (v, item.stated_version) or v == item.stated_version
            ),
            None,
        )
        if clash is not None:
            problems.append(
                Problem(
                    name,
                    1,
                    f"{kind} '{item.slug}' is also in {clash}",
                    "push one file per id"
                    if kind != "ruleset"
                    else "push one file per id, or give each file of this id its own `version:`",
                )
            )
            continue
        others.append((name, item.stated_version))
        if isinstance(item.obj, Form):
            arriving[item.slug] = item.obj
        loaded.append((name, text, item))
    if problems:
        raise StoreError(problems)
    # Versions of one id in ascending order (a file name does not say which is newer), ids in file order.
    first = {item.slug: i for i, (_, _, item) in reversed(list(enumerate(loaded)))}
    loaded.sort(key=lambda entry: (first[entry[2].slug], entry[2].stated_version or 0))
    results = []
    for name, text, item in loaded:
        document = _document(session, actor, item)
        match = _stored_copy(session, document, text, item) if len(seen[item.slug]) > 1 else None
        latest = _latest(session, document)
        if match is None and latest is not None and latest.status != "retired":
            match = latest if _same(session, kind, text, item, latest) else None
        if match is not None:
            if publish_now and match.status in OPEN:
                results.append(publish(session, actor, match.id, file=name))
            else:
                results.append(Pushed(name, kind, item.slug, "unchanged", match.version, match.id))
            continue
        row = _new_version(session, actor, document, text, item, source=f"push {name.rsplit('/', 1)[-1]}")
        if publish_now:
            results.append(publish(session, actor, row.id, file=name))
        else:
            results.append(Pushed(name, kind, item.slug, "draft", None, row.id))
    return results


def normalize(text: str) -> str:
    """One line ending (browsers post text areas with CRLF), so versions diff and hash alike."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _stored_copy(session: Session, document: Document, text: str, item: Loaded) -> DocumentVersion | None:
    """The newest version of `document`, not retired, that holds this text (same sha256, or the
    same text but for the version number the store gave it)."""
    rows = session.scalars(
        select(DocumentVersion)
        .where(DocumentVersion.document_id == document.id, DocumentVersion.status != "retired")
        .order_by(DocumentVersion.id.desc())
    )
    for row in rows:
        renumbered = row.version is not None and row.text == with_version(text, row.version)
        if row.sha256 == item.sha256 or renumbered:
            return row
    return None


def _same(session: Session, kind: str, text: str, item: Loaded, row: DocumentVersion) -> bool:
    """Is `text` what `row` holds, allowing for the version number the store gave it?"""
    if row.sha256 == item.sha256:
        return True
    if row.version is None or row.version == item.stated_version:
        return False
    try:
        return check(session, kind, with_version(text, row.version), "<compare>").sha256 == row.sha256
    except StoreError:
        return False


def save_draft(
    session: Session,
    actor: str,
    kind: str,
    text: str,
    version_id: int | None = None,
    expected_lock: int | None = None,
    source: str = "editor",
) -> DocumentVersion:
    """Create a draft, or save over an open one. Nothing is saved unless the text checks out.

    Saving over a draft someone else saved since you opened it (`expected_lock` differs) raises
    Conflict with their version, never a silent overwrite.
    """
    text = normalize(text)
    if version_id is None:
        item = check(session, kind, text, "<editor>")
        document = _document(session, actor, item)
        return _new_version(session, actor, document, text, item, source=source)
    row = _version(session, version_id)
    if row.status not in OPEN:
        raise IllegalTransition(
            [f"{_name(row)} is {row.status}: only a draft or a version in review can be edited"]
        )
    if expected_lock is not None and row.lock_version != expected_lock:
        raise Conflict(
            f"{row.updated_by} saved this draft at {row.updated_at:%Y-%m-%d %H:%M} UTC after you opened it; "
            "your text was not saved: compare the two, then save again",
            row,
        )
    item = check(session, row.document.kind, text, _name(row))
    if item.slug != row.document.slug:
        raise StoreError(
            [f"the text is {kind} '{item.slug}', not '{row.document.slug}': keep the id, or save a new draft"]
        )
    before = _summary(row)
    row.text, row.sha256 = text, item.sha256
    row.effective_from, row.effective_to = _window(item)
    row.updated_by, row.updated_at = actor, utcnow()
    row.document.title = item.title
    session.flush()
    audit.record(session, actor, "edit", row.document.kind, row.document.slug, before, _summary(row))
    return row


def submit(session: Session, actor: str, version_id: int) -> DocumentVersion:
    return _move(session, actor, version_id, "draft", "in-review", "submit")


def withdraw(session: Session, actor: str, version_id: int) -> DocumentVersion:
    return _move(session, actor, version_id, "in-review", "draft", "withdraw")


def retire(session: Session, actor: str, version_id: int) -> DocumentVersion:
    row = _move(session, actor, version_id, "published", "retired", "retire")
    row.retired_at = utcnow()
    return row


def publish(session: Session, actor: str, version_id: int, file: str | None = None) -> Pushed:
    """Check again (tests included), number the version, and make it live. Raises on any problem;
    the published versions are untouched by a failed publish (the caller's transaction rolls back)."""
    row = _version(session, version_id)
    if row.status not in OPEN:
        raise IllegalTransition(
            [f"{_name(row)} is {row.status}: only a draft or a version in review can be published"]
        )
    kind, slug = row.document.kind, row.document.slug
    item = check(session, kind, row.text, file or _name(row))
    if kind == "form":
        _check_rulesets_still_load(session, item)
    elif kind == "ruleset":
        _check_templates_published(session, item, file or _name(row))
    highest = session.scalar(
        select(func.max(DocumentVersion.version)).where(DocumentVersion.document_id == row.document_id)
    )
    stated = item.stated_version
    number = stated if stated is not None and (highest is None or stated > highest) else (highest or 0) + 1
    replaced = stated if stated is not None and stated != number else None
    if number != stated:
        row.text = with_version(row.text, number)
        item = check(session, kind, row.text, file or _name(row))
    before = _summary(row)
    row.version, row.status, row.sha256 = number, "published", item.sha256
    row.effective_from, row.effective_to = _window(item)
    row.published_by, row.published_at = actor, utcnow()
    row.updated_by, row.updated_at = actor, row.published_at
    session.flush()
    audit.record(session, actor, "publish", kind, slug, before, _summary(row) | {"replaced": replaced})
    return Pushed(file or _name(row), kind, slug, "published", number, row.id, replaced)


def rollback(session: Session, actor: str, kind: str, slug: str, version: int) -> Pushed:
    """Publish a new version (latest + 1) whose text is that of `version`."""
    old = session.scalar(
        select(DocumentVersion)
        .join(Document)
        .where(Document.kind == kind, Document.slug == slug, DocumentVersion.version == version)
    )
    if old is None:
        raise NotFound([f"{kind} '{slug}' has no version {version}"])
    item = check(session, kind, old.text, f"{slug}@v{version}")
    row = _new_version(
        session, actor, old.document, old.text, item, source=f"rollback to v{version}", based_on=old
    )
    return publish(session, actor, row.id)


def with_version(text: str, number: int) -> str:
    """The text with its top-level `version:` set to `number` (added after the id when absent)."""
    if _VERSION_LINE.search(text):
        return _VERSION_LINE.sub(f"version: {number}", text, count=1)
    match = _ID_LINE.search(text)
    if match is None:
        return f"version: {number}\n{text}"
    return text[: match.end()] + f"\nversion: {number}" + text[match.end() :]


# -- reading ---------------------------------------------------------------------------------------
def versions(session: Session, kind: str, slug: str | None = None) -> list[DocumentVersion]:
    query = select(DocumentVersion).join(Document).where(Document.kind == kind)
    if slug is not None:
        query = query.where(Document.slug == slug)
    return list(session.scalars(query.order_by(Document.slug, DocumentVersion.id)))


def find(session: Session, kind: str, slug: str, version: int | None = None) -> DocumentVersion:
    """A published version by number, or the newest published one."""
    query = (
        select(DocumentVersion)
        .join(Document)
        .where(Document.kind == kind, Document.slug == slug, DocumentVersion.version.is_not(None))
    )
    if version is not None:
        query = query.where(DocumentVersion.version == version)
    else:
        query = query.where(DocumentVersion.status == "published")
    row = session.scalars(query.order_by(DocumentVersion.version.desc())).first()
    if row is None:
        which = f"version {version}" if version is not None else "published version"
        raise NotFound([f"{kind} '{slug}' has no {which}"])
    return row


def diff(old: DocumentVersion, new: DocumentVersion) -> str:
    return "".join(
        difflib.unified_diff(
            old.text.splitlines(keepends=True),
            new.text.splitlines(keepends=True),
            fromfile=_name(old),
            tofile=_name(new),
        )
    )


# -- helpers ---------------------------------------------------------------------------------------
def _document(session: Session, actor: str, item: Loaded) -> Document:
    document = session.scalar(select(Document).where(Document.kind == item.kind, Document.slug == item.slug))
    if document is None:
        document = Document(kind=item.kind, slug=item.slug, title=item.title, payer_id=item.payer)
        session.add(document)
        session.flush()
        audit.record(session, actor, "create", item.kind, item.slug, None, {"title": item.title})
    return document


def _latest(session: Session, document: Document) -> DocumentVersion | None:
    return session.scalars(
        select(DocumentVersion)
        .where(DocumentVersion.document_id == document.id)
        .order_by(DocumentVersion.id.desc())
    ).first()


def _new_version(
    session: Session,
    actor: str,
    document: Document,
    text: str,
    item: Loaded,
    source: str,
    based_on: DocumentVersion | None = None,
) -> DocumentVersion:
    now = utcnow()
    start, end = _window(item)
    row = DocumentVersion(
        document=document,
        status="draft",
        text=text,
        sha256=item.sha256,
        effective_from=start,
        effective_to=end,
        source=source[:300],
        based_on_id=based_on.id if based_on else None,
        created_by=actor,
        created_at=now,
        updated_by=actor,
        updated_at=now,
    )
    document.title = item.title
    session.add(row)
    session.flush()
    audit.record(session, actor, "create-draft", document.kind, document.slug, None, _summary(row))
    return row


def _version(session: Session, version_id: int) -> DocumentVersion:
    row = session.get(DocumentVersion, version_id)
    if row is None:
        raise NotFound([f"there is no version with id {version_id}"])
    return row


def _move(
    session: Session, actor: str, version_id: int, source: str, target: str, action: str
) -> DocumentVersion:
    row = _version(session, version_id)
    if row.status != source:
        raise IllegalTransition(
            [
                f"{_name(row)} is {row.status}; '{action}' takes a version that is {source} (to make it {target})"
            ]
        )
    before = _summary(row)
    row.status, row.updated_by, row.updated_at = target, actor, utcnow()
    session.flush()
    audit.record(session, actor, action, row.document.kind, row.document.slug, before, _summary(row))
    return row


def _window(item: Loaded) -> tuple[Any, Any]:
    if isinstance(item.obj, Ruleset):
        return item.obj.effective_from, item.obj.effective_to
    return None, None


def _summary(row: DocumentVersion) -> dict[str, Any]:
    """What the audit trail keeps of a version: identity, state and the sha256 of its text."""
    return {
        "version_id": row.id,
        "version": row.version,
        "status": row.status,
        "sha256": row.sha256,
        "effective_from": row.effective_from.isoformat() if row.effective_from else None,
        "effective_to": row.effective_to.isoformat() if row.effective_to else None,
    }


def _check_templates_published(session: Session, item: Loaded, name: str) -> None:
    """A ruleset goes live only when the packet templates it names are live: its packets could
    not be built otherwise."""
    ruleset = item.obj
    if not isinstance(ruleset, Ruleset):  # pragma: no cover - kind "ruleset" loads a Ruleset
        return
    named = {ruleset.packet.template, *(rule.packet for rule in ruleset.rules)} - {None}
    live = published_templates(session)
    problems = [
        Problem(
            name,
            None,
            f"packet template '{template}' is not published",
            "publish it first (priorauth templates push forms/packets --publish), then this ruleset",
        )
        for template in sorted(t for t in named if t and t not in live)
    ]
    if problems:
        raise StoreError(problems)


def _check_rulesets_still_load(session: Session, item: Loaded) -> None:
    """A new form version must not break a published ruleset that tests its answers."""
    forms = {**published_forms(session), item.slug: item.obj}
    types = form_types(forms)  # type: ignore[arg-type]
    problems: list[Problem] = []
    for row in published(session, "ruleset"):
        if f"answers.{item.slug}." not in row.text and item.slug not in row.text:
            continue
        try:
            load_ruleset(row.text, _name(row), types)
        except LoadError as exc:
            problems += [
                Problem(p.file, p.line, f"with this form, published {p.message}", p.fix) for p in exc.problems
            ]
    if problems:
        raise StoreError(problems)


@event.listens_for(DocumentVersion, "before_update")
def _published_is_immutable(_mapper: Any, connection: Any, target: DocumentVersion) -> None:
    """The text and sha256 of a published (or retired) version never change."""
    from sqlalchemy import inspect

    state = inspect(target)
    status = state.attrs.status.history
    was = status.deleted[0] if status.deleted else target.status
    if was in ("published", "retired"):
        for name in ("text", "sha256", "version"):
            if state.attrs[name].history.has_changes():
                raise StoreError(
                    [f"{target.document.slug} v{target.version} is {was}: its {name} cannot change"]
                )


def files_of(paths: Iterable[str]) -> list[tuple[str, str]]:
    """(name, text) for each YAML file named or found in the folders named (sorted)."""
    from engine.catalog import yaml_files
    from engine.yamlsafe import read_document

    found, problems = yaml_files(paths)
    if problems:
        raise StoreError(problems)
    out = []
    for path in found:
        try:
            raw = read_document(path)
        except LoadError as exc:
            raise StoreError(exc.problems) from None
        try:
            out.append((str(path), raw.decode("utf-8")))
        except UnicodeDecodeError:
            raise StoreError(
                [Problem(str(path), None, "the file is not UTF-8 text", "save it as UTF-8")]
            ) from None
    return out
