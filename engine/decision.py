"""Combining the rules that fired into a Decision, with its explanation.

Outcomes (spec "Outcomes and how they combine"): rules are taken in evaluation order; a `final`
rule cuts every later one (still reported, `applied: false`); `auth`, `channel`, `portal`, `fax`,
`queue`, `urgency` come from the first applied rule that sets them (then defaults / the case);
`forms`, `missing`, `notes` are unions in first-appearance order.

`Decider` is built once per plan: what a rule contributes that does not depend on the case (its
outcomes, its explanation texts) is worked out then, so a decision only reads the case's facts
and runs the item checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from engine.facts import AS_OF
from engine.plan import Flat, ItemCheck, Plan, Predicate
from engine.rulesets import DEFAULT_TURNAROUND, Rule

FormCheck = Callable[[str, Flat], bool]
Decision = dict[str, Any]


def due_date(as_of: date, urgency: str, turnaround: Mapping[str, int]) -> str:
    """The date the payer's decision is owed for a request sent on `as_of`."""
    key = "standard" if urgency == "standard" else "expedited"  # emergency is computed as expedited
    return (as_of + timedelta(days=turnaround.get(key, DEFAULT_TURNAROUND[key]))).isoformat()


#: The outcomes a rule may set, each taken from the first applied rule that sets it: a rule's
#: `sets` has bit i when it sets _OUTCOMES[i].
_OUTCOMES = ("auth", "channel", "portal", "queue", "urgency", "fax")


@dataclass(frozen=True, slots=True)
class _Required:
    """An item a rule requires: missing unless `satisfied` holds."""

    id: str
    label: str
    satisfied: Predicate | None
    check: ItemCheck
    why: str  # why_missing, when it is missing
    entry: dict[str, Any]  # its entry in `missing`, copied (never handed out itself)


@dataclass(frozen=True, slots=True)
class _Contribution:
    """What one rule adds to a decision when it fires, all but the facts it tested."""

    id: str
    priority: int
    paths: tuple[str, ...]
    # how many paths it tests: up to 3, the facts are one dict display (quicker than a comprehension)
    arity: int
    outcomes: tuple[tuple[str, Any], ...]
    auth: str | None
    channel: str | None
    portal: str | None
    queue: str | None
    urgency: str | None
    fax: str | None
    forms: tuple[str, ...]
    notes: tuple[str, ...]
    require: tuple[_Required, ...]
    missing: tuple[tuple[str, str, str], ...]  # (id, label, why_missing)
    final: bool
    lists: bool  # whether it adds forms, notes, required or missing items at all
    sets: int  # the outcomes it sets, as bits (see _OUTCOMES)
    entry: dict[str, Any]  # its entry in `fired`, applied, its facts to fill in: copied, never handed out
    missing_entries: tuple[tuple[str, dict[str, Any], str], ...]  # (id, entry in `missing`, why_missing)

    @classmethod
    def of(cls, rule: Rule, items: Mapping[str, ItemCheck]) -> _Contribution:
        require = tuple(
            _Required(
                iid,
                items[iid].label,
                items[iid].satisfied,
                items[iid],
                f"rule '{rule.id}' requires it and nothing in the case satisfies it ({items[iid].condition})"
                if items[iid].satisfied is not None
                else f"rule '{rule.id}' requires it and only a person can confirm it",
                {"id": iid, "label": items[iid].label, "rule": rule.id},
            )
            for iid in rule.require
        )
        missing = tuple((mid, label, f"rule '{rule.id}' names it as missing") for mid, label in rule.missing)
        sets = sum(1 << i for i, name in enumerate(_OUTCOMES) if getattr(rule, name) is not None)
        return cls(
            rule.id,
            rule.priority,
            rule.paths,
            len(rule.paths),
            rule.outcomes,
            rule.auth,
            rule.channel,
            rule.portal,
            rule.queue,
            rule.urgency,
            rule.fax,
            rule.forms,
            rule.notes,
            require,
            missing,
            rule.final,
            bool(rule.forms or rule.notes or require or missing),
            sets if rule.outcomes else 0,
            {"rule": rule.id, "priority": rule.priority, "applied": True, "facts": None},
            tuple((mid, {"id": mid, "label": label, "rule": rule.id}, why) for mid, label, why in missing),
        )


class Decider:
    """Builds the decisions of one plan."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        ruleset = plan.ruleset
        self._rules = tuple(_Contribution.of(rule, plan.items) for rule in plan.rules)
        self._ruleset = {"id": ruleset.id, "version": ruleset.version, "sha256": ruleset.sha256}  # copied
        defaults = ruleset.defaults
        self._turnaround = defaults.turnaround
        # a decision's keys in order, with what a case does not change (copied, never handed out)
        self._skeleton: Decision = {
            "case_id": None,
            "ruleset": None,
            "auth": None,
            "channel": defaults.channel,
            "portal": defaults.portal,
            "queue": defaults.queue,
            "urgency": None,
            "due": None,
            "forms": None,
            "missing": None,
            "satisfied": None,
            "ready": False,
            "fired": None,
            "fax": defaults.fax,
            "notes": None,
            "reason": None,
            "why_missing": None,
        }
        # the due dates of the last as_of seen (one tuple, replaced whole: threads may share this)
        self._dues: tuple[date | None, dict[str, str]] = (None, {})

    def _due(self, as_of: date, urgency: str) -> str:
        seen, dues = self._dues
        if seen != as_of:
            dues = {u: due_date(as_of, u, self._turnaround) for u in ("standard", "expedited")}
            self._dues = (as_of, dues)
        return dues["standard" if urgency == "standard" else "expedited"]

    def decide(self, flat: Flat, as_of: date, fired: Iterable[int], form_complete: FormCheck) -> Decision:
        """The decision for one case, given the positions of the rules whose `when` held.

        Written to allocate little: a batch's decisions are many small objects, and every
        container spared is time spared (the outputs themselves must be fresh objects).
        """
        get = flat.get
        rules = self._rules
        auth = channel = portal = queue = urgency = fax = None  # the first applied rule's, if any
        unset = 0b111111  # the outcomes no applied rule has set yet, as bits (see _OUTCOMES)
        forms: list[str] = []
        notes: list[str] = []
        missing: list[dict[str, Any]] = []
        why_missing: dict[str, str] = {}  # also the ids of the missing items, in order
        satisfied: dict[str, dict[str, Any]] | None = None  # made when the first item is satisfied
        fired_out: list[dict[str, Any]] = []
        cut = False
        for position in fired:
            rule = rules[position]
            # a copy of the rule's entry is quicker than a display of four keys
            entry = rule.entry.copy()
            fired_out.append(entry)
            # prepared facts hold JSON values only (dates stay ISO text), so no conversion
            arity = rule.arity
            if arity == 1:
                (p,) = rule.paths
                entry["facts"] = {p: get(p)}
            elif arity == 2:
                p, q = rule.paths
                entry["facts"] = {p: get(p), q: get(q)}
            elif arity == 3:
                p, q, r = rule.paths
                entry["facts"] = {p: get(p), q: get(q), r: get(r)}
            else:
                entry["facts"] = {path: get(path) for path in rule.paths}
            if cut:
                entry["applied"] = False
                continue
            if rule.sets & unset:  # it sets an outcome no earlier rule has
                unset &= ~rule.sets
                if auth is None:
                    auth = rule.auth
                if channel is None:
                    channel = rule.channel
                if portal is None:
                    portal = rule.portal
                if queue is None:
                    queue = rule.queue
                if urgency is None:
                    urgency = rule.urgency
                if fax is None:
                    fax = rule.fax
            cut = rule.final
            if not rule.lists:
                continue
            if rule.forms:
                for form in rule.forms:
                    if form not in forms:
                        forms.append(form)
            if rule.notes:
                for note in rule.notes:
                    if note not in notes:
                        notes.append(note)
            if rule.require:
                for item in rule.require:
                    iid = item.id
                    if iid in why_missing or (satisfied is not None and iid in satisfied):
                        continue
                    test = item.satisfied
                    if test is not None and test(flat, as_of):
                        if satisfied is None:
                            satisfied = {}
                        by = item.check.matching_records(flat, as_of)
                        satisfied[iid] = {"id": iid, "label": item.label, "by": by}
                    else:
                        missing.append(item.entry.copy())
                        why_missing[iid] = item.why
            if rule.missing_entries:
                for mid, template, why in rule.missing_entries:
                    if mid not in why_missing:
                        if satisfied is not None:
                            satisfied.pop(mid, None)
                        missing.append(template.copy())
                        why_missing[mid] = why
        auth = auth or "unknown"
        urgency = urgency or get("urgency") or "standard"
        owed = auth == "required" or auth == "review"
        ready = auth == "not-required"
        due = None
        if owed:
            seen, dues = self._dues  # self._due, inline
            due = (
                dues["standard" if urgency == "standard" else "expedited"]
                if seen == as_of
                else self._due(as_of, urgency)
            )
        if owed and not missing:
            ready = True
            for form in forms:
                if not form_complete(form, flat):
                    ready = False
                    break
        # A copy of the skeleton (every key in order, the defaults in place) and a store per
        # field the case decides is quicker than a display of all seventeen keys.
        decision = self._skeleton.copy()
        decision["case_id"] = get("case_id")
        decision["ruleset"] = self._ruleset.copy()
        decision["auth"] = auth
        if channel:
            decision["channel"] = channel
        if portal:
            decision["portal"] = portal
        if queue:
            decision["queue"] = queue
        decision["urgency"] = urgency
        decision["due"] = due
        decision["forms"] = forms
        decision["missing"] = missing
        decision["satisfied"] = list(satisfied.values()) if satisfied else []
        decision["ready"] = ready
        decision["fired"] = fired_out
        if fax:
            decision["fax"] = fax
        decision["notes"] = notes
        decision["why_missing"] = why_missing
        return decision


def decide(plan: Plan, flat: Flat, as_of: date, fired: Iterable[int], form_complete: FormCheck) -> Decision:
    """The decision for one case (a Decider made for the occasion; keep one per plan instead)."""
    return Decider(plan).decide(flat, as_of, fired, form_complete)


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
