"""Combining the rules that fired into a Decision, with its explanation.

Outcomes (spec "Outcomes and how they combine"): rules are taken in evaluation order; a `final`
rule cuts every later one (still reported, `applied: false`); `auth`, `channel`, `portal`, `fax`,
`queue`, `urgency` come from the first applied rule that sets them (then defaults / the case);
`forms`, `missing`, `notes` are unions in first-appearance order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from engine.facts import AS_OF
from engine.plan import Flat, Plan
from engine.rulesets import DEFAULT_TURNAROUND

FormCheck = Callable[[str, Flat], bool]
Decision = dict[str, Any]


def due_date(as_of: date, urgency: str, turnaround: Mapping[str, int]) -> str:
    """The date the payer's decision is owed for a request sent on `as_of`."""
    key = "standard" if urgency == "standard" else "expedited"  # emergency is computed as expedited
    return (as_of + timedelta(days=turnaround.get(key, DEFAULT_TURNAROUND[key]))).isoformat()


def decide(plan: Plan, flat: Flat, as_of: date, fired: Iterable[int], form_complete: FormCheck) -> Decision:
    """The decision for one case, given the positions of the rules whose `when` held."""
    ruleset = plan.ruleset
    chosen: dict[str, Any] = {}
    forms: dict[str, None] = {}
    notes: dict[str, None] = {}
    missing: dict[str, dict[str, Any]] = {}
    satisfied: dict[str, dict[str, Any]] = {}
    why_missing: dict[str, str] = {}
    fired_out: list[dict[str, Any]] = []
    cut = False
    rules, items = plan.rules, plan.items
    for position in fired:
        rule = rules[position]
        fired_out.append(
            {
                "rule": rule.id,
                "priority": rule.priority,
                "applied": not cut,
                # prepared facts hold JSON values only (dates stay ISO text), so no conversion
                "facts": {path: flat.get(path) for path in rule.paths},
            }
        )
        if cut:
            continue
        for key, value in rule.outcomes:
            if key not in chosen:
                chosen[key] = value
        if rule.forms:
            forms.update(dict.fromkeys(rule.forms))
        if rule.notes:
            notes.update(dict.fromkeys(rule.notes))
        for iid in rule.require:
            if iid in missing or iid in satisfied:
                continue
            check = items[iid]
            if check.satisfied is not None and check.satisfied(flat, as_of):
                satisfied[iid] = {"id": iid, "label": check.label, "by": check.matching_records(flat, as_of)}
            else:
                missing[iid] = {"id": iid, "label": check.label, "rule": rule.id}
                why_missing[iid] = (
                    f"rule '{rule.id}' requires it and nothing in the case satisfies it ({check.condition})"
                    if check.satisfied is not None
                    else f"rule '{rule.id}' requires it and only a person can confirm it"
                )
        for mid, label in rule.missing:
            if mid not in missing:
                satisfied.pop(mid, None)
                missing[mid] = {"id": mid, "label": label, "rule": rule.id}
                why_missing[mid] = f"rule '{rule.id}' names it as missing"
        if rule.final:
            cut = True
    auth = chosen.get("auth") or "unknown"
    defaults = ruleset.defaults
    urgency = chosen.get("urgency") or flat.get("urgency") or "standard"
    due = due_date(as_of, urgency, defaults.turnaround) if auth in ("required", "review") else None
    form_list = list(forms)
    ready = auth == "not-required" or (
        auth in ("required", "review") and not missing and all(form_complete(f, flat) for f in form_list)
    )
    return {
        "case_id": flat.get("case_id"),
        "ruleset": {"id": ruleset.id, "version": ruleset.version, "sha256": ruleset.sha256},
        "auth": auth,
        "channel": chosen.get("channel") or defaults.channel,
        "portal": chosen.get("portal") or defaults.portal,
        "queue": chosen.get("queue") or defaults.queue,
        "urgency": urgency,
        "due": due,
        "forms": form_list,
        "missing": list(missing.values()),
        "satisfied": list(satisfied.values()),
        "ready": ready,
        "fired": fired_out,
        "fax": chosen.get("fax") or defaults.fax,
        "notes": list(notes),
        "reason": None,
        "why_missing": why_missing,
    }


def undecided(flat: Flat, reason: str, rulesets: list[str] | None = None) -> Decision:
    """The decision when no ruleset applies (`rulesets` None) or several do (`rulesets` named)."""
    urgency = flat.get("urgency") or "standard"
    as_of = flat.get(AS_OF)
    conflict = rulesets is not None
    decision: Decision = {
        "case_id": flat.get("case_id"),
        "ruleset": None,
        "auth": "review" if conflict else "unknown",
        "channel": None,
        "portal": None,
        "queue": None,
        "urgency": urgency,
        "due": due_date(as_of, urgency, DEFAULT_TURNAROUND) if conflict and isinstance(as_of, date) else None,
        "forms": [],
        "missing": [],
        "satisfied": [],
        "ready": False,
        "fired": [],
        "fax": None,
        "notes": [],
        "reason": reason,
        "why_missing": {},
    }
    if conflict:
        decision["rulesets"] = rulesets
    return decision
