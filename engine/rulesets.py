"""A ruleset document -> an immutable, validated `Ruleset` (with its sha256 and its tests).

Every problem in a document is collected and raised together as one LoadError, each as
`file:line: what is wrong: how to fix`. Nothing here evaluates a case (see plan.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from engine import conditions
from engine.conditions import Node, Parser, did_you_mean
from engine.errors import LoadError, Problem
from engine.facts import DECLARABLE_TYPES, URGENCIES, base_types, element_types, parse_date
from engine.valuesets import EntryError, ValueSet, build, parse_entry
from engine.yamlsafe import line_of, load_yaml, read_document

AUTH_VALUES = ("required", "not-required", "review")
CHANNELS = ("portal", "fax", "x12-278", "fhir-pas", "phone")
TOP_KEYS = [
    "ruleset",
    "title",
    "description",
    "payer",
    "version",
    "effective",
    "scope",
    "facts",
    "valuesets",
    "items",
    "defaults",
    "packet",
    "rules",
    "tests",
]
RULE_KEYS = ("id", "title", "description", "priority", "when", "then")
THEN_KEYS = (
    "auth",
    "channel",
    "portal",
    "fax",
    "queue",
    "urgency",
    "forms",
    "require",
    "missing",
    "notes",
    "packet",
    "final",
)
DEFAULT_KEYS = ("channel", "portal", "fax", "queue", "turnaround")
EXPECT_KEYS = (
    "auth",
    "channel",
    "portal",
    "fax",
    "queue",
    "urgency",
    "due",
    "ready",
    "missing",
    "forms",
    "notes",
)
SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_TURNAROUND = re.compile(r"(\d+)\s*([dh])")
DEFAULT_TURNAROUND = {"standard": 7, "expedited": 3}
#: what a packet holds, in the order a payer's reviewer reads it (engine/packets.py)
PACKET_SECTIONS = ("cover", "request", "answers", "checklist", "documents")
PACKET_KEYS = ("template", "sections", "documents")


@dataclass(frozen=True, slots=True)
class Item:
    """Evidence a payer may require, and the condition that satisfies it."""

    id: str
    label: str
    satisfied_by: Node | None
    line: int | None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    priority: int
    index: int
    when: Node
    line: int | None
    paths: tuple[str, ...]
    auth: str | None = None
    channel: str | None = None
    portal: str | None = None
    fax: str | None = None
    queue: str | None = None
    urgency: str | None = None
    forms: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    missing: tuple[tuple[str, str], ...] = ()  # (id, label)
    notes: tuple[str, ...] = ()
    packet: str | None = None  # the packet template this rule's cases go out on (not a decision key)
    final: bool = False
    # the single-valued outcomes it sets, (auth|channel|portal|fax|queue|urgency, value)
    outcomes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RulesetTest:
    name: str
    facts: Mapping[str, Any]
    expect: Mapping[str, Any]
    line: int | None


@dataclass(frozen=True, slots=True)
class Defaults:
    channel: str | None = None
    portal: str | None = None
    fax: str | None = None
    queue: str | None = None
    turnaround: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_TURNAROUND))


@dataclass(frozen=True, slots=True)
class PacketSpec:
    """How this payer wants a packet: which request template, which sections in which order, and
    which document types in which order (None: every current document, payer letters aside)."""

    template: str | None = None
    sections: tuple[str, ...] = PACKET_SECTIONS
    documents: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Ruleset:
    """One validated ruleset version. `sha256` is the hash of its canonical JSON text."""

    id: str
    title: str
    payer: str
    version: int | None
    effective_from: date
    effective_to: date | None
    scope: Node | None
    types: Mapping[str, str]
    valuesets: Mapping[str, ValueSet]
    items: Mapping[str, Item]
    defaults: Defaults
    rules: tuple[Rule, ...]
    tests: tuple[RulesetTest, ...]
    sha256: str
    canonical: str
    file: str
    packet: PacketSpec = field(default_factory=PacketSpec)

    def in_effect(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


def plain(value: Any) -> Any:
    """YAML data -> JSON data (dates as ISO strings), for hashing and for test facts."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical_text(document: Mapping[str, Any]) -> str:
    """The canonical JSON text a version's sha256 is taken of."""
    return json.dumps(plain(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def load_ruleset_file(path: str | Path, form_types: Mapping[str, Mapping[str, str]] | None = None) -> Ruleset:
    """Read and load one ruleset file. Raises LoadError."""
    return load_ruleset(read_document(path), str(path), form_types)


def load_ruleset(
    text: str | bytes, file: str = "<ruleset>", form_types: Mapping[str, Mapping[str, str]] | None = None
) -> Ruleset:
    """Load and validate a ruleset document. Raises LoadError listing every problem.

    `form_types` maps a known form id to its answer fields' types, to check `answers.*` paths
    and the forms rules name; when None, forms are not checked.
    """
    doc = load_yaml(text, file)
    return _Builder(doc, file, form_types).build()


class _Builder:
    def __init__(self, doc: Any, file: str, form_types: Mapping[str, Mapping[str, str]] | None) -> None:
        self.doc, self.file, self.form_types = doc, file, form_types
        self.problems: list[Problem] = []

    def error(self, line: int | None, message: str, fix: str = "") -> None:
        self.problems.append(Problem(self.file, line, message, fix))

    def at(self, container: Any, key: Any = None) -> int | None:
        return line_of(container, key)

    def build(self) -> Ruleset:
        doc = self.doc
        if not isinstance(doc, Mapping):
            raise LoadError(
                [
                    Problem(
                        self.file,
                        self.at(doc),
                        "a ruleset must be a YAML mapping",
                        "start with `ruleset: <id>`",
                    )
                ]
            )
        for key in doc:
            if key not in TOP_KEYS:
                hint = did_you_mean(str(key), TOP_KEYS)
                self.error(
                    self.at(doc, key), f"unknown key '{key}'", hint or "allowed keys: " + ", ".join(TOP_KEYS)
                )
        rid = self._slug(doc, "ruleset", required=True)
        payer = self._slug(doc, "payer", required=True)
        title = doc.get("title", rid or "")
        if not isinstance(title, str):
            self.error(self.at(doc, "title"), "title must be text", "quote it")
            title = str(title)
        version = doc.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
            self.error(
                self.at(doc, "version"), "version must be a whole number of 1 or more", "write version: 4"
            )
            version = None
        start, end = self._effective(doc)
        types = self._types(doc)
        valuesets = self._valuesets(doc)
        parser = Parser(self.file, types, element_types(), valuesets, self.problems)
        scope = parser.parse(doc["scope"], self.at(doc, "scope")) if doc.get("scope") is not None else None
        items = self._items(doc, parser)
        defaults = self._defaults(doc)
        packet = self._packet(doc)
        rules = self._rules(doc, parser, items)
        tests = self._tests(doc)
        if self.problems:
            unique = dict.fromkeys(self.problems)  # one bad list can say the same thing twice
            raise LoadError(sorted(unique, key=lambda p: p.line or 0))
        text = canonical_text(doc)
        return Ruleset(
            id=rid,
            title=title,
            payer=payer,
            version=version,
            effective_from=start,
            effective_to=end,
            scope=scope,
            types=types,
            valuesets=valuesets,
            items=items,
            defaults=defaults,
            rules=rules,
            tests=tests,
            sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            canonical=text,
            file=self.file,
            packet=packet,
        )

    def _section(self, doc: Mapping[str, Any], key: str, must: str, fix: str) -> Mapping[str, Any]:
        """The mapping under `key` (empty when absent); a problem when it is something else."""
        raw = doc.get(key)
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            self.error(self.at(doc, key), f"`{key}:` must {must}", fix)
            return {}
        return raw

    def _slug(self, doc: Mapping[str, Any], key: str, required: bool) -> str:
        value = doc.get(key)
        if value is None:
            if required:
                self.error(self.at(doc), f"missing `{key}:`", f"add `{key}: <lowercase-id>` at the top")
            return ""
        if not isinstance(value, str) or not SLUG.fullmatch(value):
            self.error(
                self.at(doc, key),
                f"`{key}` must be a lowercase slug (a-z, 0-9, -)",
                "write e.g. acme-commercial",
            )
            return ""
        return value

    def _effective(self, doc: Mapping[str, Any]) -> tuple[date, date | None]:
        raw = doc.get("effective")
        fallback = date(1900, 1, 1)
        if not isinstance(raw, Mapping):
            self.error(
                self.at(doc, "effective") or self.at(doc),
                "missing or malformed `effective:`",
                "write effective: {from: 2026-01-01}",
            )
            return fallback, None
        for key in raw:
            if key not in ("from", "to"):
                self.error(self.at(raw, key), f"unknown key '{key}' in effective", "use from and to")
        start = parse_date(raw.get("from"))
        if start is None:
            self.error(
                self.at(raw, "from") or self.at(raw),
                "effective.from must be a date",
                "write from: 2026-01-01",
            )
            start = fallback
        end = parse_date(raw["to"]) if raw.get("to") is not None else None
        if raw.get("to") is not None and end is None:
            self.error(
                self.at(raw, "to"), "effective.to must be a date", "write to: 2026-12-31, or leave it out"
            )
        if end is not None and end < start:
            self.error(self.at(raw, "to"), "effective.to is before effective.from", "swap the dates")
        return start, end

    def _types(self, doc: Mapping[str, Any]) -> dict[str, str]:
        types = dict(base_types())
        for form, fields in (self.form_types or {}).items():
            types.update({f"answers.{form}.{name}": kind for name, kind in fields.items()})
        raw = self._section(
            doc, "facts", "map clinical.* paths to types", "write facts: {clinical.ahi: number}"
        )
        for path, kind in raw.items():
            line = self.at(raw, path)
            if isinstance(kind, list) and len(kind) == 1:
                kind = f"[{kind[0]}]"
            if (
                not isinstance(path, str)
                or not path.startswith("clinical.")
                or path.count(".") < 1
                or path == "clinical."
            ):
                where = "is in the base fact schema" if path in types else "is not a clinical.* path"
                self.error(line, f"'{path}' {where}", "declare only clinical.<name> paths under facts:")
                continue
            if kind not in DECLARABLE_TYPES:
                self.error(
                    line,
                    f"unknown type '{kind}' for '{path}'",
                    did_you_mean(str(kind), sorted(DECLARABLE_TYPES))
                    or "types: " + " | ".join(sorted(DECLARABLE_TYPES)),
                )
                continue
            types[path] = str(kind)
        return types

    def _valuesets(self, doc: Mapping[str, Any]) -> dict[str, ValueSet]:
        raw = self._section(
            doc, "valuesets", "map names to lists of codes", 'write valuesets: {mri: ["70551"]}'
        )
        out: dict[str, ValueSet] = {}
        for name, entries in raw.items():
            line = self.at(raw, name)
            if not isinstance(name, str) or not NAME.fullmatch(name):
                self.error(line, f"value set name '{name}' is not a plain name", "use letters, digits and _")
                continue
            if not isinstance(entries, list) or not entries:
                self.error(
                    line,
                    f"value set '{name}' must be a non-empty list of codes",
                    'write ["70551", "72148-72158"]',
                )
                continue
            good = []
            for index, entry in enumerate(entries):
                try:
                    parse_entry(entry)
                    good.append(entry)
                except EntryError as exc:
                    self.error(self.at(entries, index) or line, f"value set '{name}': {exc.what}", exc.fix)
            # kept even with bad entries, so rules using it are not also reported as unknown
            out[name] = build(name, good)
        return out

    def _items(self, doc: Mapping[str, Any], parser: Parser) -> dict[str, Item]:
        raw = self._section(doc, "items", "map item ids to {label, satisfied_by}", "see docs/rulesets.md")
        out: dict[str, Item] = {}
        for iid, spec in raw.items():
            line = self.at(raw, iid)
            if not isinstance(spec, Mapping):
                self.error(line, f"item '{iid}' must be a mapping", "write {label: ..., satisfied_by: {...}}")
                continue
            for key in spec:
                if key not in ("label", "satisfied_by", "description"):
                    self.error(
                        self.at(spec, key),
                        f"unknown key '{key}' in item '{iid}'",
                        did_you_mean(str(key), ["label", "satisfied_by"]) or "use label and satisfied_by",
                    )
            label = spec.get("label")
            if not isinstance(label, str) or not label:
                self.error(line, f"item '{iid}' needs a label", "add label: <what a coordinator sees>")
                label = str(iid)
            cond = spec.get("satisfied_by")
            node = parser.parse(cond, self.at(spec, "satisfied_by")) if cond is not None else None
            out[str(iid)] = Item(str(iid), label, node, line)
        return out

    def _defaults(self, doc: Mapping[str, Any]) -> Defaults:
        raw = self._section(doc, "defaults", "be a mapping", "write defaults: {channel: portal}")
        for key in raw:
            if key not in DEFAULT_KEYS:
                self.error(
                    self.at(raw, key),
                    f"unknown key '{key}' in defaults",
                    did_you_mean(str(key), DEFAULT_KEYS) or "allowed: " + ", ".join(DEFAULT_KEYS),
                )
        channel = self._choice(raw, "channel", CHANNELS)
        text = {k: self._text(raw, k) for k in ("portal", "fax", "queue")}
        turnaround = dict(DEFAULT_TURNAROUND)
        spec = raw.get("turnaround")
        if spec is not None:
            if not isinstance(spec, Mapping):
                self.error(
                    self.at(raw, "turnaround"),
                    "turnaround must be a mapping",
                    "write turnaround: {standard: 14d, expedited: 72h}",
                )
            else:
                for key, value in spec.items():
                    days = _days(value)
                    if key not in DEFAULT_TURNAROUND:
                        self.error(
                            self.at(spec, key), f"unknown turnaround '{key}'", "use standard and expedited"
                        )
                    elif days is None:
                        self.error(
                            self.at(spec, key), f"turnaround {key} must be days or hours", "write 14d or 72h"
                        )
                    else:
                        turnaround[key] = days
        return Defaults(channel, text["portal"], text["fax"], text["queue"], turnaround)

    def _packet(self, doc: Mapping[str, Any]) -> PacketSpec:
        raw = self._section(
            doc,
            "packet",
            "be a mapping",
            "write packet: {template: acme-request, sections: [cover, request]}",
        )
        for key in raw:
            if key not in PACKET_KEYS:
                self.error(
                    self.at(raw, key),
                    f"unknown key '{key}' in packet",
                    did_you_mean(str(key), PACKET_KEYS) or "allowed: " + ", ".join(PACKET_KEYS),
                )
        template = self._template(raw, "template", "packet")
        sections = self._slugs(raw, "sections", PACKET_SECTIONS) or PACKET_SECTIONS
        if "cover" in sections and sections[0] != "cover":
            self.error(
                self.at(raw, "sections"),
                "the cover sheet must come first in packet sections",
                "move cover to the front of the list (a fax server sends page 1 first)",
            )
        documents = self._slugs(raw, "documents", None)
        return PacketSpec(template, sections, documents)

    def _template(self, raw: Mapping[str, Any], key: str, where: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not SLUG.fullmatch(value):
            self.error(
                self.at(raw, key),
                f"{where} template must be a template id (a lowercase slug)",
                "write template: acme-imaging-request (a file in forms/packets/)",
            )
            return None
        return value

    def _slugs(
        self, raw: Mapping[str, Any], key: str, allowed: tuple[str, ...] | None
    ) -> tuple[str, ...] | None:
        """A list of distinct slugs under packet (`allowed` names the only ones there may be)."""
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.error(
                self.at(raw, key), f"packet {key} must be a non-empty list of names", f"write {key}: [a, b]"
            )
            return None
        for name in value:
            if allowed is not None and name not in allowed:
                self.error(
                    self.at(raw, key),
                    f"unknown packet section '{name}'",
                    did_you_mean(name, allowed) or "sections are " + ", ".join(allowed),
                )
            elif allowed is None and not SLUG.fullmatch(name):
                self.error(
                    self.at(raw, key),
                    f"packet document type '{name}' is not a document type id",
                    "write lowercase ids such as order, clinical-note, imaging-report",
                )
            if value.count(name) > 1:
                self.error(self.at(raw, key), f"'{name}' is listed twice in packet {key}", "list it once")
        return tuple(dict.fromkeys(value))

    def _choice(self, raw: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if value not in allowed:
            hint = did_you_mean(str(value), allowed)
            self.error(
                self.at(raw, key),
                f"{key} '{value}' is not one of {', '.join(allowed)}",
                hint or f"pick one of {', '.join(allowed)}",
            )
            return None
        return str(value)

    def _text(self, raw: Mapping[str, Any], key: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(self.at(raw, key), f"{key} must be text", "put it in double quotes")
            return None
        return value

    def _rules(self, doc: Mapping[str, Any], parser: Parser, items: Mapping[str, Item]) -> tuple[Rule, ...]:
        raw = doc.get("rules")
        if not isinstance(raw, list) or not raw:
            self.error(
                self.at(doc, "rules") or self.at(doc),
                "a ruleset needs a non-empty `rules:` list",
                "add rules: [ {id: ..., when: ..., then: ...} ]",
            )
            return ()
        seen: dict[str, int | None] = {}
        out: list[Rule] = []
        for index, spec in enumerate(raw):
            line = self.at(raw, index)
            if not isinstance(spec, Mapping):
                self.error(line, "a rule must be a mapping", "write {id: ..., when: ..., then: ...}")
                continue
            for key in spec:
                if key not in RULE_KEYS:
                    self.error(
                        self.at(spec, key),
                        f"unknown key '{key}' in a rule",
                        did_you_mean(str(key), RULE_KEYS) or "allowed: " + ", ".join(RULE_KEYS),
                    )
            rid = spec.get("id")
            if not isinstance(rid, str) or not SLUG.fullmatch(rid):
                self.error(line, "a rule needs an `id:` (a lowercase slug)", "add id: imaging-needs-auth")
                rid = f"rule-{index + 1}"
            elif rid in seen:
                self.error(
                    line,
                    f"rule id '{rid}' is used twice (first on line {seen[rid]})",
                    "give each rule its own id",
                )
            seen[rid] = line
            priority = spec.get("priority", 0)
            if not isinstance(priority, int) or isinstance(priority, bool):
                self.error(
                    self.at(spec, "priority"),
                    f"priority of rule '{rid}' must be a whole number",
                    "write priority: 100",
                )
                priority = 0
            if "when" not in spec:
                self.error(
                    line, f"rule '{rid}' has no `when:`", "add when: {...} (write when: {} to always fire)"
                )
                continue
            when = (
                parser.parse(spec["when"], self.at(spec, "when"))
                if spec["when"] != {}
                else conditions.All(())
            )
            then = spec.get("then")
            if not isinstance(then, Mapping):
                self.error(
                    self.at(spec, "then") or line,
                    f"rule '{rid}' needs a `then:` mapping",
                    "add then: {auth: required}",
                )
                continue
            out.append(self._rule(rid, spec, then, when, priority, index, line, items))
        return tuple(out)

    def _rule(
        self,
        rid: str,
        spec: Mapping[str, Any],
        then: Mapping[str, Any],
        when: Node,
        priority: int,
        index: int,
        line: int | None,
        items: Mapping[str, Item],
    ) -> Rule:
        for key in then:
            if key not in THEN_KEYS:
                self.error(
                    self.at(then, key),
                    f"unknown outcome '{key}' in rule '{rid}'",
                    did_you_mean(str(key), THEN_KEYS) or "allowed: " + ", ".join(THEN_KEYS),
                )
        final = then.get("final", False)
        if not isinstance(final, bool):
            self.error(self.at(then, "final"), "final must be true or false", "write final: true")
            final = False
        title = spec.get("title", "")
        rule = Rule(
            id=rid,
            title=title if isinstance(title, str) else str(title),
            priority=priority,
            index=index,
            when=when,
            line=line,
            paths=tuple(dict.fromkeys(paths_of(when))),
            auth=self._choice(then, "auth", AUTH_VALUES),
            channel=self._choice(then, "channel", CHANNELS),
            portal=self._text(then, "portal"),
            fax=self._text(then, "fax"),
            queue=self._text(then, "queue"),
            urgency=self._choice(then, "urgency", URGENCIES),
            forms=self._forms(then),
            require=self._require(then, items, rid),
            missing=self._missing(then, items, rid),
            notes=self._strings(then, "notes"),
            packet=self._template(then, "packet", f"rule '{rid}' packet"),
            final=final,
        )
        outcomes = tuple(
            (key, value)
            for key in ("auth", "channel", "portal", "fax", "queue", "urgency")
            if (value := getattr(rule, key)) is not None
        )
        return dataclasses.replace(rule, outcomes=outcomes)

    def _strings(self, then: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = then.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(self.at(then, key), f"{key} must be a list of text", f"write {key}: [a, b]")
            return ()
        return tuple(value)

    def _forms(self, then: Mapping[str, Any]) -> tuple[str, ...]:
        forms = self._strings(then, "forms")
        if self.form_types is not None:
            for form in forms:
                if form not in self.form_types:
                    hint = did_you_mean(form, list(self.form_types))
                    self.error(
                        self.at(then, "forms"),
                        f"unknown form '{form}'",
                        hint or "add the form to the forms folder or fix the id",
                    )
        return forms

    def _require(self, then: Mapping[str, Any], items: Mapping[str, Item], rid: str) -> tuple[str, ...]:
        out = self._strings(then, "require")
        for iid in out:
            if iid not in items:
                hint = did_you_mean(iid, list(items))
                self.error(
                    self.at(then, "require"),
                    f"rule '{rid}' requires unknown item '{iid}'",
                    hint or "define it under `items:`",
                )
        return out

    def _missing(
        self, then: Mapping[str, Any], items: Mapping[str, Item], rid: str
    ) -> tuple[tuple[str, str], ...]:
        raw = then.get("missing")
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raw = [raw]
        out: list[tuple[str, str]] = []
        for entry in raw:
            if isinstance(entry, str):
                if entry not in items:
                    hint = did_you_mean(entry, list(items))
                    self.error(
                        self.at(then, "missing"),
                        f"rule '{rid}' names unknown item '{entry}' as missing",
                        hint or "define it under `items:` or write {id: ..., label: ...}",
                    )
                    continue
                out.append((entry, items[entry].label))
            elif (
                isinstance(entry, Mapping)
                and isinstance(entry.get("id"), str)
                and isinstance(entry.get("label"), str)
                and set(entry) <= {"id", "label"}
            ):
                out.append((entry["id"], entry["label"]))
            else:
                self.error(
                    self.at(then, "missing"),
                    f"a missing entry of rule '{rid}' is malformed",
                    "write an item id or {id: some-id, label: What is missing}",
                )
        return tuple(out)

    def _tests(self, doc: Mapping[str, Any]) -> tuple[RulesetTest, ...]:
        raw = doc.get("tests") or []
        if not isinstance(raw, list):
            self.error(
                self.at(doc, "tests"),
                "`tests:` must be a list",
                "write tests: [ {name: ..., facts: ..., expect: ...} ]",
            )
            return ()
        out: list[RulesetTest] = []
        for index, spec in enumerate(raw):
            line = self.at(raw, index)
            if (
                not isinstance(spec, Mapping)
                or not isinstance(spec.get("facts"), Mapping)
                or not isinstance(spec.get("expect"), Mapping)
            ):
                self.error(
                    line, "a test needs `name`, `facts` and `expect` mappings", "see docs/rulesets.md#tests"
                )
                continue
            for key in spec:
                if key not in ("name", "facts", "expect"):
                    self.error(
                        self.at(spec, key),
                        f"unknown key '{key}' in a test",
                        "use name, facts and expect (put as_of in facts)",
                    )
            for key in spec["expect"]:
                if key not in EXPECT_KEYS:
                    self.error(
                        self.at(spec["expect"], key),
                        f"unknown expectation '{key}'",
                        did_you_mean(str(key), EXPECT_KEYS) or "expect one of: " + ", ".join(EXPECT_KEYS),
                    )
            name = spec.get("name") or f"test {index + 1}"
            out.append(RulesetTest(str(name), plain(spec["facts"]), plain(spec["expect"]), line))
        return tuple(out)


def _days(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _TURNAROUND.fullmatch(str(value).strip())
    if not match:
        return None
    number = int(match.group(1))
    return number if match.group(2) == "d" else -(-number // 24)


def paths_of(node: Node) -> list[str]:
    """The fact paths a condition tests (top level; record fields are not listed)."""
    if isinstance(node, conditions.Leaf | conditions.Quantifier):
        return [node.path]
    if isinstance(node, conditions.Not):
        return paths_of(node.child)
    return [p for child in node.children for p in paths_of(child)]
