"""Compare two versions of a ruleset (rule by rule) or of a form (question by question).

    changes = compare("ruleset", old_text, new_text)
    # [Change(section="rules", key="lumbar-conservative-therapy", what="changed", old={...}, new={...}), ...]

Entries are matched by id (rules, items, questions) or by name (value sets), so moving a rule
does not show as a change; within a changed entry the whole entry is shown before and after.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.rulesets import plain
from engine.yamlsafe import load_yaml

_SCALARS = {
    "ruleset": ("title", "payer", "version", "effective", "scope", "facts", "defaults"),
    "form": ("title", "version", "description", "ui", "prefill", "facts"),
    "template": ("title", "version", "payer", "description", "html", "css"),
}


@dataclass(frozen=True, slots=True)
class Change:
    section: str  # rules, valuesets, items, tests, questions, settings
    key: str
    what: str  # added, removed, changed
    old: Any = None
    new: Any = None

    def summary(self) -> str:
        if self.section == "valuesets" and self.what == "changed":
            old, new = set(self.old or ()), set(self.new or ())
            return f"{len(new - old)} entries added, {len(old - new)} removed"
        return self.what


def compare(kind: str, old_text: str, new_text: str) -> list[Change]:
    old, new = plain(load_yaml(old_text, "old")), plain(load_yaml(new_text, "new"))
    changes: list[Change] = []
    for key in _SCALARS[kind]:
        if old.get(key) != new.get(key):
            changes.append(
                Change("settings", key, _what(old.get(key), new.get(key)), old.get(key), new.get(key))
            )
    if kind == "ruleset":
        changes += _by_id("rules", old.get("rules"), new.get("rules"))
        changes += _by_name("valuesets", old.get("valuesets"), new.get("valuesets"))
        changes += _by_name("items", old.get("items"), new.get("items"))
        changes += _by_id("tests", old.get("tests"), new.get("tests"), key="name")
    elif kind == "form":
        schema_old, schema_new = old.get("schema") or {}, new.get("schema") or {}
        changes += _by_name("questions", schema_old.get("properties"), schema_new.get("properties"))
        rest_old = {k: v for k, v in schema_old.items() if k != "properties"}
        rest_new = {k: v for k, v in schema_new.items() if k != "properties"}
        if rest_old != rest_new:
            changes.append(Change("settings", "schema rules", "changed", rest_old, rest_new))
    return changes


def _what(old: Any, new: Any) -> str:
    return "added" if old is None else "removed" if new is None else "changed"


def _by_id(section: str, old: Any, new: Any, key: str = "id") -> list[Change]:
    def index(entries: Any) -> dict[str, Any]:
        return {str(e.get(key)): e for e in entries or () if isinstance(e, Mapping)}

    return _by_name(section, index(old), index(new))


def _by_name(section: str, old: Any, new: Any) -> list[Change]:
    old = old if isinstance(old, Mapping) else {}
    new = new if isinstance(new, Mapping) else {}
    out = []
    for name in [*old, *(n for n in new if n not in old)]:
        a, b = old.get(name), new.get(name)
        if json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True):
            out.append(Change(section, str(name), _what(a, b), a, b))
    return out
