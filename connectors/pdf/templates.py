"""Packet templates: the payer's request form as Jinja HTML + CSS, written by policy analysts.

A template is a YAML document (so it is versioned, reviewed and pushed like rulesets and forms):

    template: acme-imaging-request          # id, a lowercase slug; rulesets name it
    version: 2
    title: ACME Health outpatient imaging request
    payer: acme                             # optional: the payer it is for
    html: |
      <section class="request"><h1>{{ payer.name }} imaging request</h1>
      <p>Member ID {{ case.coverage.member_id }}</p> ...
    css: |
      .request h1 { font-size: 14pt }

It is rendered in Jinja's sandbox (ImmutableSandboxedEnvironment) with autoescape on, so a value
from a case is always text, never markup, and a template cannot reach Python internals. It sees
only `case` (the facts), `decision`, `packet` (reference, kind, date), `payer` and `practice`;
a missing fact renders empty (a missing fact is never an error). It cannot include or extend
other templates. It cannot load anything either: the checker refuses `<script>`, `<link>`,
`<img src="http...">`, `@import` and `url()` other than `data:`, and whatever slips past meets
the URL fetcher (fetcher.py), which refuses it. Every problem is `file:line: what: how to fix`.
"""

from __future__ import annotations

import hashlib
import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import tinycss2
from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from engine.conditions import did_you_mean
from engine.errors import LoadError, Problem
from engine.rulesets import SLUG, canonical_text
from engine.yamlsafe import line_of, load_yaml

#: tinycss2's messages, in an analyst's words
_CSS_WORDS = {
    "EOF reached before {} block for a qualified rule.": "a rule without its { } block (a stray character, or a missing {)",
}
KEYS = ("template", "version", "title", "payer", "description", "html", "css")
MAX_OUTPUT = 1024 * 1024  # characters of HTML one request form may produce
_NAME = "request"
#: what a template may not contain, with how to say so; a loaded resource would leave the packet
_FORBIDDEN_HTML = (
    (
        re.compile(r"<\s*(script|iframe|frame|object|embed|link|base|meta|form|input)\b", re.I),
        "a <{0}> element",
    ),
    (
        re.compile(
            r"""\b(?:src|href|data|poster|srcset)\s*=\s*["']?\s*(?!data:|#)[a-z][a-z0-9+.-]*:""", re.I
        ),
        None,
    ),
)
_FORBIDDEN_CSS = (
    (re.compile(r"@import\b", re.I), "@import"),
    (re.compile(r"</", re.I), "'</' (it would end the style sheet)"),
    (re.compile(r"""url\(\s*["']?\s*(?!data:)""", re.I), "url() that is not a data: URL"),
)


@dataclass(frozen=True, slots=True)
class PacketTemplate:
    id: str
    version: int | None
    title: str
    payer: str | None
    description: str
    html: str
    css: str
    sha256: str
    file: str
    html_line: int  # the file's line of the first line of `html`
    css_line: int
    compiled: Any = field(compare=False, repr=False)


class _Sandbox(ImmutableSandboxedEnvironment):
    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Jinja answers an unsafe attribute with an undefined value that raises when used; a
        # ChainableUndefined is never "used", so the template would pass silently: refuse now
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__} is unsafe")


def environment() -> ImmutableSandboxedEnvironment:
    """The sandbox every template renders in: autoescape on, no loader (no include/extends)."""
    env = _Sandbox(autoescape=True, undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["us_date"] = us_date
    env.filters["checkbox"] = lambda value: "☒" if value else "☐"
    return env


def us_date(value: Any) -> str:
    """An ISO date as payers' forms write it (MM/DD/YYYY); anything else as it is."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%m/%d/%Y")
        except ValueError:
            return value
    return "" if value is None or isinstance(value, ChainableUndefined) else str(value)


_ENV = environment()


def load_template(text: str | bytes, file: str = "<template>") -> PacketTemplate:
    """Load and check a template document. Raises LoadError listing every problem."""
    doc = load_yaml(text, file)
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    problems: list[Problem] = []

    def error(line: int | None, message: str, fix: str = "") -> None:
        problems.append(Problem(file, line, message, fix))

    if not isinstance(doc, Mapping):
        raise LoadError(
            [Problem(file, 1, "a packet template must be a YAML mapping", "start with `template: <id>`")]
        )
    for key in doc:
        if key not in KEYS:
            error(
                line_of(doc, key),
                f"unknown key '{key}'",
                did_you_mean(str(key), KEYS) or "allowed: " + ", ".join(KEYS),
            )
    tid = doc.get("template")
    if not isinstance(tid, str) or not SLUG.fullmatch(tid):
        error(
            line_of(doc, "template") or 1,
            "a packet template needs `template:` (a lowercase slug)",
            "write template: acme-imaging-request",
        )
        tid = ""
    version = doc.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        error(line_of(doc, "version"), "version must be a whole number of 1 or more", "write version: 2")
        version = None
    texts = {}
    for key in ("title", "payer", "description", "html", "css"):
        value = doc.get(key, "")
        if not isinstance(value, str):
            error(line_of(doc, key), f"{key} must be text", "quote it, or write it as a block with |")
            value = ""
        texts[key] = value
    if texts["payer"] and not SLUG.fullmatch(texts["payer"]):
        error(line_of(doc, "payer"), "payer must be a payer id (a lowercase slug)", "write payer: acme")
    if not texts["html"].strip():
        error(
            line_of(doc, "html") or 1,
            "a packet template needs `html:`",
            "write html: | and the form's HTML below it",
        )
    html_line, css_line = _first_line(raw, doc, "html"), _first_line(raw, doc, "css")
    _check_forbidden(texts["html"], html_line, _FORBIDDEN_HTML, error)
    _check_forbidden(texts["css"], css_line, _FORBIDDEN_CSS, error)
    _check_css(texts["css"], css_line, error)
    compiled = None
    try:
        source = _ENV.parse(texts["html"])
        for node in source.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
            error(
                html_line + node.lineno - 1,
                "a packet template cannot include, extend or import other templates",
                "write the whole form in this template",
            )
        compiled = _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        error(html_line + (exc.lineno or 1) - 1, f"template syntax: {exc.message}", "fix the Jinja tag")
    if problems:
        raise LoadError(problems)
    template = PacketTemplate(
        id=tid,
        version=version,
        title=texts["title"] or tid,
        payer=texts["payer"] or None,
        description=texts["description"],
        html=texts["html"],
        css=texts["css"],
        sha256=hashlib.sha256(canonical_text(doc).encode("utf-8")).hexdigest(),
        file=file,
        html_line=html_line,
        css_line=css_line,
        compiled=compiled,
    )
    try:  # a trial on a fictional case: a template that fails there would fail on real ones
        render_request(template, sample_context())
    except TemplateRenderError as exc:
        raise LoadError(
            [Problem(file, exc.line, f"on a sample case, {exc.what}", "fix the template")]
        ) from None
    return template


class TemplateRenderError(Exception):
    """A template failed while rendering; names the template and the line, never the case's data."""

    def __init__(self, template: PacketTemplate, line: int | None, what: str) -> None:
        self.template_id, self.line, self.what = template.id, line, what
        where = f"{template.file}:{line}" if line else template.file
        super().__init__(f"packet template {template.id}: {where}: {what}")


def render_request(template: PacketTemplate, context: Mapping[str, Any]) -> Markup:
    """The request form's HTML for one case: the template's own markup, the case's values escaped."""
    out: list[str] = []
    size = 0
    try:
        for chunk in template.compiled.generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateRenderError(
                    template, None, f"the form came to more than {MAX_OUTPUT:,} characters"
                )
            out.append(chunk)
    except TemplateRenderError:
        raise
    except SecurityError:
        raise TemplateRenderError(
            template, _line(template), "the sandbox refused an unsafe operation"
        ) from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
        # the exception's text could quote a case value: only its type goes out
        raise TemplateRenderError(
            template, _line(template), f"{type(exc).__name__} while rendering"
        ) from None
    return Markup("".join(out))  # the analyst's markup, with every case value escaped by autoescape


def _line(template: PacketTemplate) -> int | None:
    """The file line of the template line being rendered when the exception was raised."""
    frames = [f for f in traceback.extract_tb(__import__("sys").exc_info()[2]) if f.filename == "<template>"]
    return template.html_line + (frames[-1].lineno or 1) - 1 if frames else None


def _first_line(raw: str, doc: Mapping[str, Any], key: str) -> int:
    """The line a text value starts on: the key's own line, or the next for a `|` / `>` block."""
    line = line_of(doc, key) or 1
    lines = raw.splitlines()
    if 0 < line <= len(lines) and re.search(r":\s*[|>][-+0-9]*\s*(#.*)?$", lines[line - 1]):
        return line + 1
    return line


def _check_forbidden(text: str, first: int, rules: Any, error: Any) -> None:
    for lineno, line in enumerate(text.splitlines(), start=first):
        for pattern, what in rules:
            match = pattern.search(line)
            if match:
                thing = what.format(match.group(1).lower()) if what and match.groups() else what
                thing = thing or f"a link to '{match.group(0).split('=')[0].strip()}=' another site or file"
                error(
                    lineno,
                    f"a packet template cannot load anything, and this line has {thing}",
                    "put images in as data: URLs, and styles in `css:`",
                )


def _check_css(css: str, first: int, error: Any) -> None:
    for node in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if node.type == "error":
            what = _CSS_WORDS.get(node.message, node.message)
            error(first + node.source_line - 1, f"CSS: {what}", "fix the rule")
        elif node.type == "at-rule" and node.lower_at_keyword == "page":
            # the stamps are written at set places in every page's margins (connectors/pdf/stamps.py)
            error(
                first + node.source_line - 1,
                "CSS: an @page rule (the page size, margins and stamps are the packet's, the same for every payer)",
                "remove the @page rule; style the form's own elements instead",
            )


def sample_context() -> dict[str, Any]:
    """A fictional case, decision and practice for trial renders (no real patient)."""
    case = {
        "case_id": "PA-SAMPLE00",
        "as_of": "2026-11-20",
        "urgency": "standard",
        "patient": {
            "id": "P-0",
            "name": "Sample, Pat",
            "birth_date": "1970-01-01",
            "sex": "F",
            "state": "OH",
        },
        "coverage": {"payer": "sample", "plan_type": "commercial", "member_id": "M000000", "group": "G0"},
        "service": {"codes": ["72148"], "units": 1, "place_of_service": "22", "date": "2026-12-01"},
        "diagnoses": ["M54.16"],
        "providers": {"ordering": {"npi": "1234567893", "name": "Dr. Sample"}},
        "documents": [{"id": "D1", "type": "order", "date": "2026-11-18"}],
        "clinical": {},
        "answers": {},
    }
    decision = {"auth": "required", "urgency": "standard", "due": "2026-11-27", "forms": [], "missing": []}
    return context(
        case,
        decision,
        "PA-SAMPLE00",
        "draft",
        "2026-11-20",
        {"id": "sample", "name": "Sample Health"},
        {"name": "Sample Practice", "fax": "+15550100", "phone": "+15550101"},
    )


def context(
    case: Mapping[str, Any],
    decision: Mapping[str, Any],
    reference: str,
    kind: str,
    today: str,
    payer: Mapping[str, Any],
    practice: Mapping[str, Any],
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """What a template sees, and nothing else. `labels`: the readiness answers in words, by form
    id and question (`labels['imaging-readiness'].contrast` is "Without", not "without")."""
    return {
        "case": case,
        "decision": decision,
        "packet": {"reference": reference, "kind": kind, "date": today},
        "payer": payer,
        "practice": practice,
        "labels": labels or {},
    }
