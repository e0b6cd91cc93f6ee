"""Which ruleset applies to a case, and its decision: the engine's front door.

evaluator = Evaluator(rulesets, forms, backend="durable")
evaluator.evaluate(facts, today)                 # one decision (dict), or raises FactsError
evaluator.evaluate_many(iterable_of_facts, today)  # (decision | EngineError) per case, in order
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from engine.backends import BACKENDS, Runner, prepare
from engine.conditions import Leaf
from engine.decision import Decider, Decision, undecided
from engine.errors import EngineError, FactsError
from engine.facts import AS_OF, base_types, check_types, coerce, prepare_with
from engine.forms import Form
from engine.plan import Flat, Plan, Predicate, compile_plan
from engine.reader import Fits, fits, reader
from engine.rulesets import Ruleset, paths_of

BATCH = 256
BATCHED = frozenset({"durable"})  # backends whose calls cost enough to share among many cases


@dataclass(frozen=True, slots=True)
class _Compiled:
    ruleset: Ruleset
    plan: Plan
    decider: Decider
    extra_types: Mapping[str, str]
    fits: Fits  # whether a case's values on extra_types' paths already have their types
    scope: Predicate | None  # plan.scope
    scope_paths: frozenset[str]
    start: str  # effective.from and .to as ISO text, which orders like the dates
    end: str | None


class Evaluator:
    """Evaluates cases against a fixed set of ruleset versions (and the forms they name)."""

    def __init__(
        self, rulesets: Iterable[Ruleset], forms: Mapping[str, Form] | None = None, backend: str = "durable"
    ) -> None:
        if backend not in BACKENDS:
            raise EngineError(f"unknown engine backend '{backend}': use one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.forms: Mapping[str, Form] = dict(forms or {})
        base = base_types()
        self._by_payer: dict[str, list[_Compiled]] = {}
        self._runners: dict[str, Runner] = {}
        # each _Compiled's runner's `fired` (or quicker equivalent), by id (alive as long as self)
        self._by_compiled: dict[int, Callable[[Flat, date], list[int]]] = {}
        shared: dict[frozenset[tuple[str, str]], tuple[dict[str, str], Fits]] = {}
        rulesets = list(rulesets)
        self._read = reader(_agreed(rulesets, base), _read_paths(rulesets, self.forms.values()))
        for ruleset in rulesets:
            extra = {p: t for p, t in ruleset.types.items() if p not in base}
            # rulesets that declare the same paths share one table, so a case is typed once for them
            key = frozenset(extra.items())
            if key not in shared:
                shared[key] = (extra, fits(extra))
            extra, extra_fits = shared[key]
            scope_paths = frozenset(paths_of(ruleset.scope)) if ruleset.scope is not None else frozenset()
            end = ruleset.effective_to.isoformat() if ruleset.effective_to is not None else None
            plan = compile_plan(ruleset)
            self._by_payer.setdefault(ruleset.payer, []).append(
                _Compiled(
                    ruleset,
                    plan,
                    Decider(plan),
                    extra,
                    extra_fits,
                    plan.scope,
                    scope_paths,
                    ruleset.effective_from.isoformat(),
                    end,
                )
            )

        self._scopes = {payer: _scope_index(candidates) for payer, candidates in self._by_payer.items()}
        # per payer with a scope index: (path, value -> the one ruleset of that value), for the
        # values only one ruleset is scoped to (a payer's lines of business, as a rule)
        self._routes = {
            payer: (index[0], {value: found[0] for value, found in index[1].items() if len(found) == 1})
            for payer, index in self._scopes.items()
            if index is not None
        }

    def runner(self, plan: Plan) -> Runner:
        key = plan.ruleset.sha256 + (plan.ruleset.file or "")
        runner = self._runners.get(key)
        if runner is None:
            runner = self._runners[key] = prepare(self.backend, plan)
        return runner

    def form_complete(self, form_id: str, flat: Flat) -> bool:
        form = self.forms.get(form_id)
        return form is not None and form.complete(flat.get(f"answers.{form_id}"))

    # -- selection -------------------------------------------------------------------------------
    def select(self, facts: Mapping[str, Any], today: date) -> tuple[dict[str, Any], _Compiled | Decision]:
        """Prepare the facts and choose the ruleset version that applies (or the undecided decision)."""
        flat, read_typed = prepare_with(self._read, facts, today)
        if self.forms:
            self._apply_form_facts(flat)
        payer = flat.get("coverage.payer")
        # every fact already has its type, for every ruleset: no views to make
        if read_typed and type(payer) is str:
            route = self._routes.get(payer)
            if route is not None:  # the one ruleset scoped to the case's value, if it is in effect
                value = flat.get(route[0])
                only = route[1].get(value) if type(value) is str else None
                if only is not None:
                    on: str = flat.get("service.date") or flat["as_of"]
                    if only.start <= on and (only.end is None or on <= only.end):
                        return flat, only
        if not isinstance(payer, str):
            return flat, undecided(flat, "the case names no payer (coverage.payer)")
        candidates = self._by_payer.get(payer)
        if not candidates:
            return flat, undecided(flat, f"no ruleset for payer '{payer}'")
        # checked ISO text (a form's service.date too), compared as text: no date to parse
        on = flat.get("service.date") or flat["as_of"]
        if read_typed:
            as_of = flat[AS_OF]
            effective = several = False
            found: _Compiled | None = None
            index = self._scopes[payer]
            if index is not None:  # the candidates whose scope holds, by one lookup
                path, by_value = index
                value = flat.get(path)
                for c in by_value.get(value, ()) if type(value) is str else ():
                    end = c.end
                    if c.start <= on and (end is None or on <= end):
                        if found is not None:
                            found = None
                            break
                        found = c
                if found is not None:
                    return flat, found
            for c in candidates:
                end = c.end
                if c.start <= on and (end is None or on <= end):
                    effective = True
                    scope = c.scope
                    if scope is None or scope(flat, as_of):
                        if found is None:
                            found = c
                        else:
                            several = True
            if found is not None and not several:
                return flat, found
            if effective:
                applies = [
                    c
                    for c in candidates
                    if c.start <= on
                    and (c.end is None or on <= c.end)
                    and (c.scope is None or c.scope(flat, as_of))
                ]
                return self._choose(flat, payer, [(c, flat, []) for c in applies])
        in_effect = [c for c in candidates if c.start <= on and (c.end is None or on <= c.end)]
        if not in_effect:
            return flat, undecided(flat, f"no ruleset version for payer '{payer}' is in effect on {on}")
        return self._choose(flat, payer, self._in_scope(flat, in_effect))

    @staticmethod
    def _in_scope(
        flat: dict[str, Any], in_effect: list[_Compiled]
    ) -> list[tuple[_Compiled, dict[str, Any], list[tuple[str, str]]]]:
        """The rulesets whose scope holds, each with the facts typed its way (and the errors)."""
        out = []
        views: dict[int, tuple[dict[str, Any], list[tuple[str, str]]]] = {}
        for compiled in in_effect:
            key = id(compiled.extra_types)
            view = views.get(key)
            if view is None:
                fine = compiled.fits(flat)
                view = views[key] = (flat, []) if fine else _typed(flat, compiled.extra_types)
            typed, errors = view
            scope = compiled.scope
            if scope is not None:
                if errors and any(path in compiled.scope_paths for path, _ in errors):
                    raise FactsError(errors)  # cannot tell whether the case is in scope
                if not scope(typed, typed[AS_OF]):
                    continue  # not this ruleset's case: its own paths' types do not matter
            out.append((compiled, typed, errors))
        return out

    @staticmethod
    def _choose(
        flat: dict[str, Any],
        payer: str,
        applies: list[tuple[_Compiled, dict[str, Any], list[tuple[str, str]]]],
    ) -> tuple[dict[str, Any], _Compiled | Decision]:
        """The highest version of the one ruleset that applies, or the undecided decision."""
        best: dict[str, tuple[_Compiled, dict[str, Any], list[tuple[str, str]]]] = {}
        for chosen in applies:
            ruleset = chosen[0].ruleset
            held = best.get(ruleset.id)
            if held is None or (ruleset.version or 0) > (held[0].ruleset.version or 0):
                best[ruleset.id] = chosen
        if not best:
            return flat, undecided(
                flat, f"the case is outside the scope of every ruleset for payer '{payer}'"
            )
        if len(best) > 1:
            ids = sorted(best)
            named = [f"'{i}'" for i in ids]
            return flat, undecided(
                flat,
                "rulesets " + ", ".join(named[:-1]) + " and " + named[-1] + " all apply to this case"
                if len(ids) > 2
                else f"rulesets {named[0]} and {named[1]} both apply to this case",
                ids,
            )
        compiled, typed, errors = next(iter(best.values()))
        if errors:
            raise FactsError(errors)
        return typed, compiled

    def _apply_form_facts(self, flat: dict[str, Any]) -> None:
        # A form's answers land on the fact paths its `facts:` names, unless the case states them.
        answers = flat.get("answers")
        if not isinstance(answers, Mapping) or not self.forms:
            return
        written: dict[str, str] = {}
        base = base_types()
        for form_id in answers:
            form = self.forms.get(form_id)
            given = answers[form_id]
            if form is None or not isinstance(given, Mapping):
                continue
            # to_facts drops answers to questions the form hides (show_if), as the page does
            for path, value in form.to_facts(given).items():
                if value is not None and path not in flat:
                    flat[path] = value
                    if path in base:
                        written[path] = base[path]
        if written:  # a form may write a base path (service.date): it obeys the fact schema too
            errors = check_types(flat, written)
            if errors:
                raise FactsError([(f"{path} (from form answers)", what) for path, what in errors])

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(self, facts: Mapping[str, Any], today: date) -> Decision:
        """The decision for one case. Raises FactsError (wrong types) or BackendError."""
        flat, chosen = self.select(facts, today)
        if not isinstance(chosen, _Compiled):
            return chosen
        as_of = flat[AS_OF]
        fired = self.runner(chosen.plan).fired(flat, as_of)
        return chosen.decider.decide(flat, as_of, fired, self.form_complete)

    def evaluate_many(
        self, cases: Iterable[Mapping[str, Any] | EngineError], today: date
    ) -> Iterator[Decision | EngineError]:
        """Decisions in input order, batched per ruleset so durable-rules sees many facts per call.

        An input that is already an EngineError (a line that did not parse) passes through.
        """
        # the generator itself, not one around it: a layer less to pass every decision through
        if self.backend not in BATCHED:
            return self._one_by_one(cases, today)
        return self._batched(cases, today)

    def _batched(
        self, cases: Iterable[Mapping[str, Any] | EngineError], today: date
    ) -> Iterator[Decision | EngineError]:
        chunk: list[Mapping[str, Any] | EngineError] = []
        for case in cases:
            chunk.append(case)
            if len(chunk) >= BATCH:
                yield from self._chunk(chunk, today)
                chunk = []
        if chunk:
            yield from self._chunk(chunk, today)

    def _one_by_one(
        self, cases: Iterable[Mapping[str, Any] | EngineError], today: date
    ) -> Iterator[Decision | EngineError]:
        """evaluate_many for a backend that gains nothing from batches (no per-call cost to share)."""
        select, form_complete, runners = self.select, self.form_complete, self._by_compiled
        for case in cases:
            if isinstance(case, EngineError):
                yield case
                continue
            try:
                flat, chosen = select(case, today)
            except FactsError as exc:
                yield exc
                continue
            if not isinstance(chosen, _Compiled):
                yield chosen
                continue
            fire = runners.get(id(chosen))
            if fire is None:
                runner = self.runner(chosen.plan)
                fire = runners[id(chosen)] = getattr(runner, "matcher", runner.fired)
            as_of = flat[AS_OF]
            try:
                fired = fire(flat, as_of)
            except EngineError as exc:
                yield exc
                continue
            yield chosen.decider.decide(flat, as_of, fired, form_complete)

    def _chunk(
        self, cases: Sequence[Mapping[str, Any] | EngineError], today: date
    ) -> list[Decision | EngineError]:
        out: list[Decision | EngineError | None] = [None] * len(cases)
        pending: dict[str, tuple[_Compiled, list[tuple[int, Flat]]]] = {}
        for index, case in enumerate(cases):
            if isinstance(case, EngineError):
                out[index] = case
                continue
            try:
                flat, chosen = self.select(case, today)
            except FactsError as exc:
                out[index] = exc
                continue
            if isinstance(chosen, _Compiled):
                key = chosen.ruleset.sha256 + chosen.ruleset.file
                pending.setdefault(key, (chosen, []))[1].append((index, flat))
            else:
                out[index] = chosen
        for chosen, members in pending.values():
            runner = self.runner(chosen.plan)
            decide, form_complete = chosen.decider.decide, self.form_complete
            batch = [(flat, flat[AS_OF]) for _, flat in members]
            try:
                results = runner.fired_many(batch)
            except EngineError as exc:
                for index, _ in members:
                    out[index] = exc
                continue
            for (index, typed), fired in zip(members, results, strict=True):
                out[index] = decide(typed, typed[AS_OF], fired, form_complete)
        return [o for o in out if o is not None]


#: The fact paths the evaluator itself reads: choosing the ruleset (payer, date of service,
#: as_of), preparing the facts (urgency, patient.age from patient.birth_date), the decision
#: (case_id) and the forms (answers).
_OWN_PATHS = frozenset(
    {"case_id", "as_of", "urgency", "patient.birth_date", "coverage.payer", "service.date", "answers"}
)


def _scope_index(
    candidates: Sequence[_Compiled],
) -> tuple[str, dict[str, tuple[_Compiled, ...]]] | None:
    """(path, value -> rulesets) when every ruleset's scope is one `eq` / `in` test of text on
    the same text path (`coverage.plan_type: {in: [commercial, employer-group]}`, as payers split
    their lines of business); None otherwise. A typed text fact is text or missing, so a lookup
    answers exactly what the scopes would."""
    path: str | None = None
    by_value: dict[str, list[_Compiled]] = {}
    for c in candidates:
        node = c.ruleset.scope
        if not isinstance(node, Leaf) or node.kind != "string" or (path is not None and node.path != path):
            return None
        path = node.path
        if node.op == "eq" and type(node.arg) is str:
            values: Iterable[str] = (node.arg,)
        elif node.op == "in" and isinstance(node.arg, frozenset) and all(type(v) is str for v in node.arg):
            values = node.arg
        else:
            return None
        for value in values:
            by_value.setdefault(value, []).append(c)
    if path is None:
        return None
    return path, {value: tuple(found) for value, found in by_value.items()}


def _read_paths(rulesets: Iterable[Ruleset], forms: Iterable[Form]) -> frozenset[str]:
    """Every fact path anything evaluating these rulesets with these forms reads from the facts.

    The rules, scopes and items test them, the evaluator chooses and decides with them, forms
    write them; the reader need not store any other (it still type-checks every known path).
    """
    paths = set(_OWN_PATHS)
    base = base_types()
    for ruleset in rulesets:
        paths.update(path for path in ruleset.types if path not in base)  # its own: clinical.*, answers.*
        if ruleset.scope is not None:
            paths.update(paths_of(ruleset.scope))
        for rule in ruleset.rules:
            paths.update(paths_of(rule.when))
        for item in ruleset.items.values():
            if item.satisfied_by is not None:
                paths.update(paths_of(item.satisfied_by))
    for form in forms:
        paths.update(form.facts.values())
    return frozenset(paths)


def _agreed(rulesets: Iterable[Ruleset], base: Mapping[str, str]) -> set[tuple[str, str]]:
    """The declared (path, type) pairs no two rulesets disagree on: the evaluator's reader types them."""
    kinds: dict[str, set[str]] = {}
    for ruleset in rulesets:
        for path, kind in ruleset.types.items():
            if path not in base:
                kinds.setdefault(path, set()).add(kind)
    return {(path, next(iter(found))) for path, found in kinds.items() if len(found) == 1}


def _typed(flat: dict[str, Any], extra: Mapping[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """`flat` with a ruleset's own paths (clinical.*, answers.*) type-checked (wrong ones dropped)."""
    present = extra.keys() & flat.keys()
    if not present:
        return flat, []
    for path in present:
        ok, value = coerce(extra[path], flat[path])
        if not ok or value is not flat[path]:
            break  # a wrong type, or a value to convert: work on a copy
    else:
        return flat, []  # the common case: every value already fits, nothing to copy
    view = dict(flat)
    errors = check_types(view, {p: extra[p] for p in present})
    return view, errors
