"""The two anchors `make bench` compares the engine with, translated from the same ruleset documents.

zen-engine (GoRules): one JDM graph per ruleset, `input -> decision table -> output`. The table has
one row per rule, in the engine's evaluation order (priority high to low, then document order), hit
policy `collect`, one input column holding the rule's condition as a zen expression, and outputs
`rule`, `auth`, `final`. Two variants:

- `native`: everything in zen's own language. Value-set membership is
  `some(service.codes ?? [], # in ["70551", ...] or (len(#) == 5 and ... number(#) >= 72148 ...)
  or startsWith(#, "M46.2"))`; dates with `d(#.date) >= d(as_of).sub(60, "d")`; `patient.age`
  with `d(as_of).diff(d(patient.birth_date), "year")`.
- `precomputed`: the same table, but each (list path, value set) membership is computed in Python
  (set lookup, range bisect, prefix test) per case and passed in as a boolean `vs.<key>`; the
  precomputation runs inside the timed loop, so it is counted.

durable-rules used naively: one durable-rules ruleset per ruleset document written with
`durable.lang` the way its documentation teaches (`m.service.codes.anyItem((item == "70551") |
...)`, `none(...)` for `none_in`), a fresh session per case (`assert_fact` with a unique `sid`,
collect the rules whose action ran, `delete_state`). Its documented traps are avoided: a catch-all
rule (`+m.case_id`) so no fact goes unhandled (and `delete_state` never meets a session that never
matched), at most one live session, no `-m.x` alone. Dates are compared as ISO text against cut-off
dates computed when the rules are written (every case has the same `as_of`), as a durable-rules user
would have to.

Both anchors return, per case, the rule ids that fired (in evaluation order) and the auth outcome
(first applied rule that sets `auth`, honouring `final`), so agreement with the engine can be checked.
"""

from __future__ import annotations

import bisect
import itertools
import json
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from functools import reduce
from typing import Any

from benchmarks.workload import RulesetSpec

Outcome = tuple[list[str], str]  # (fired rule ids in evaluation order, auth)
OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "any_in", "none_in", "between", "within_days")
_CMP = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_PY_CMP = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}


def evaluation_order(spec: RulesetSpec) -> list[dict[str, Any]]:
    """The rules in the engine's evaluation order: priority high to low, then document order."""
    indexed = list(enumerate(spec.doc["rules"]))
    return [r for _, r in sorted(indexed, key=lambda p: (-p[1].get("priority", 0), p[0]))]


def route_key(case: dict[str, Any]) -> tuple[str, str]:
    coverage = case.get("coverage") or {}
    return coverage.get("payer", ""), coverage.get("plan_type", "")


def routes(specs: Sequence[RulesetSpec]) -> dict[tuple[str, str], RulesetSpec]:
    """(payer, plan_type) -> the one ruleset that applies (the generated scopes are plan-type lists)."""
    out: dict[tuple[str, str], RulesetSpec] = {}
    for spec in specs:
        for plan_type in spec.plan_types:
            out[(spec.payer, plan_type)] = spec
    return out


def outcome(rows: Iterable[tuple[str, str | None, bool]]) -> Outcome:
    """(rule, auth, final) rows in evaluation order -> fired ids and the auth decision."""
    fired: list[str] = []
    auth: str | None = None
    cut = False
    for rule, rule_auth, final in rows:
        fired.append(rule)
        if cut:
            continue
        if auth is None and rule_auth:
            auth = rule_auth
        if final:
            cut = True
    return fired, auth or "unknown"


# -- value sets as plain Python (for the precomputed zen variant) --------------------------------
_CODE = re.compile(r"([^0-9]*)([0-9]+)")


class Membership:
    """A value set as a set, range tables and a prefix tuple, built from the document's entries."""

    def __init__(self, entries: Sequence[str]) -> None:
        codes: set[str] = set()
        ranges: dict[tuple[str, int], list[tuple[int, int]]] = {}
        prefixes: list[str] = []
        for entry in entries:
            if entry.endswith("*"):
                prefixes.append(entry[:-1])
            elif "-" in entry:
                low, high = entry.split("-")
                lo, hi = _CODE.fullmatch(low), _CODE.fullmatch(high)
                assert lo is not None and hi is not None
                ranges.setdefault((lo.group(1), len(low)), []).append((int(lo.group(2)), int(hi.group(2))))
            else:
                codes.add(entry)
        self.codes = frozenset(codes)
        self.ranges = {k: sorted(v) for k, v in ranges.items()}
        self.prefixes = tuple(prefixes)

    def __contains__(self, code: str) -> bool:
        if code in self.codes:
            return True
        if self.ranges:
            match = _CODE.fullmatch(code)
            if match:
                table = self.ranges.get((match.group(1), len(code)))
                if table:
                    number = int(match.group(2))
                    at = bisect.bisect_right(table, (number, 1 << 62)) - 1
                    if at >= 0 and table[at][0] <= number <= table[at][1]:
                        return True
        return bool(self.prefixes) and code.startswith(self.prefixes)


# -- zen-engine ---------------------------------------------------------------------------------
def _zen_literal(value: Any) -> str:
    return json.dumps(value)


def _zen_path(path: str) -> str:
    if path == "patient.age":
        return 'd(as_of).diff(d(patient.birth_date), "year")'
    return path


def _zen_member(entries: Sequence[str]) -> str:
    """A zen expression testing `#` (a code) against value set entries, natively."""
    codes = [e for e in entries if not e.endswith("*") and "-" not in e]
    parts = []
    if codes:
        parts.append("# in [" + ", ".join(_zen_literal(c) for c in codes) + "]")
    for entry in entries:
        if entry.endswith("*"):
            parts.append(f"startsWith(#, {_zen_literal(entry[:-1])})")
        elif "-" in entry:
            low, high = entry.split("-")
            lo, hi = _CODE.fullmatch(low), _CODE.fullmatch(high)
            assert lo is not None and hi is not None
            prefix, digits = lo.group(1), len(lo.group(2))
            number = "number(#)" if not prefix else f"number(#[{len(prefix)}:])"
            pattern = "^" + re.escape(prefix) + "[0-9]{" + str(digits) + "}$"
            parts.append(
                f"(len(#) == {len(low)} and matches(#, {_zen_literal(pattern)}) and "
                f"{number} >= {int(lo.group(2))} and {number} <= {int(hi.group(2))})"
            )
    return "(" + " or ".join(parts) + ")"


class _ZenTranslator:
    def __init__(self, spec: RulesetSpec, precomputed: bool) -> None:
        self.spec, self.precomputed = spec, precomputed
        self.memberships: dict[str, tuple[str, str]] = {}  # vs key -> (list path, value set name)

    def condition(self, cond: Any) -> str:
        if not isinstance(cond, dict) or not cond:
            return "true"
        parts = []
        for key, test in cond.items():
            if key == "all":
                parts.append("(" + " and ".join(self.condition(c) for c in test) + ")")
            elif key == "any":
                parts.append("(" + " or ".join(self.condition(c) for c in test) + ")")
            elif key == "not":
                parts.append(f"not ({self.condition(test)})")
            elif key == "documents":
                parts.append(self.quantifier(test))
            else:
                parts.append(self.path_test(key, test))
        return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"

    def quantifier(self, test: dict[str, Any]) -> str:
        (kind, where), *rest = test.items()
        if rest or kind != "some":
            raise ValueError(f"unsupported documents test {test}")
        inner = []
        for field, value in where.items():
            ref = f"#.{field}"
            if isinstance(value, dict):
                (op, arg), *more = value.items()
                if op != "within_days" or more:
                    raise ValueError(f"unsupported record test {value}")
                inner.append(f'({ref} != null and d({ref}) >= d(as_of).sub({int(arg)}, "d"))')
            else:
                inner.append(f"{ref} == {_zen_literal(value)}")
        return "some(documents ?? [], " + " and ".join(inner) + ")"

    def path_test(self, path: str, test: Any) -> str:
        ref = _zen_path(path)
        if not isinstance(test, dict):
            return f"{ref} == {_zen_literal(test)}"
        parts = []
        for op, arg in test.items():
            if op in ("any_in", "none_in"):
                quant = "some" if op == "any_in" else "none"
                if isinstance(arg, str):
                    if self.precomputed:
                        key = f"{path.replace('.', '_')}__{arg}"
                        self.memberships[key] = (path, arg)
                        parts.append(f"vs.{key} == true" if op == "any_in" else f"vs.{key} != true")
                        continue
                    member = _zen_member(self.spec.doc["valuesets"][arg])
                else:
                    member = "# in [" + ", ".join(_zen_literal(v) for v in arg) + "]"
                parts.append(f"{quant}({ref} ?? [], {member})")
            elif op == "in":
                parts.append(f"{ref} in [" + ", ".join(_zen_literal(v) for v in arg) + "]")
            elif op == "eq":
                parts.append(f"{ref} == {_zen_literal(arg)}")
            elif op in _CMP:
                guard = "patient.birth_date" if path == "patient.age" else ref
                parts.append(f"({guard} != null and {ref} {_CMP[op]} {_zen_literal(arg)})")
            elif op == "between":
                guard = "patient.birth_date" if path == "patient.age" else ref
                parts.append(f"({guard} != null and {ref} >= {arg[0]} and {ref} <= {arg[1]})")
            else:
                raise ValueError(f"unsupported operator {op} on {path}")
        return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"


def zen_decision(spec: RulesetSpec, precomputed: bool) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """The JDM graph for one ruleset, and (precomputed variant) the memberships its input needs."""
    translator = _ZenTranslator(spec, precomputed)
    rows = []
    for n, rule in enumerate(evaluation_order(spec)):
        then = rule["then"]
        rows.append(
            {
                "_id": f"row{n}",
                "cond": translator.condition(rule["when"]),
                "out_rule": _zen_literal(rule["id"]),
                "out_auth": _zen_literal(then["auth"]) if "auth" in then else "null",
                "out_final": "true" if then.get("final") else "false",
            }
        )
    content = {
        "contentType": "application/vnd.gorules.decision",
        "nodes": [
            {"id": "request", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
            {
                "id": "rules",
                "type": "decisionTableNode",
                "name": spec.id,
                "position": {"x": 300, "y": 0},
                "content": {
                    "hitPolicy": "collect",
                    "inputs": [{"id": "cond", "name": "Condition", "type": "expression", "field": ""}],
                    "outputs": [
                        {"id": "out_rule", "name": "Rule", "type": "expression", "field": "rule"},
                        {"id": "out_auth", "name": "Auth", "type": "expression", "field": "auth"},
                        {"id": "out_final", "name": "Final", "type": "expression", "field": "final"},
                    ],
                    "rules": rows,
                },
            },
            {"id": "response", "type": "outputNode", "name": "Response", "position": {"x": 600, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "sourceId": "request", "targetId": "rules", "type": "edge"},
            {"id": "e2", "sourceId": "rules", "targetId": "response", "type": "edge"},
        ],
    }
    return content, translator.memberships


class ZenAnchor:
    """zen-engine on the generated rulesets. `api`: "engine" (static loader, `engine.evaluate(key,
    input)`) or "decision" (`engine.create_decision(content)`, `decision.evaluate(input)`)."""

    def __init__(self, specs: Sequence[RulesetSpec], precomputed: bool, api: str = "engine") -> None:
        import zen

        self.precomputed, self.api = precomputed, api
        self.routes = routes(specs)
        contents: dict[str, dict[str, Any]] = {}
        self.needs: dict[str, list[tuple[str, str, Membership]]] = {}
        for spec in specs:
            content, memberships = zen_decision(spec, precomputed)
            contents[spec.id] = content
            self.needs[spec.id] = [
                (key, path, Membership(spec.doc["valuesets"][name]))
                for key, (path, name) in memberships.items()
            ]
        self.contents = contents
        self.engine = zen.ZenEngine({"loader": {"type": "static", "content": contents}})
        self.decisions = {rid: self.engine.create_decision(json.dumps(c)) for rid, c in contents.items()}

    def _input(self, case: dict[str, Any], rid: str) -> dict[str, Any]:
        if not self.precomputed:
            return case
        flags = {}
        for key, path, members in self.needs[rid]:
            head, _, tail = path.partition(".")
            values = case.get(head)
            if tail:
                values = values.get(tail) if isinstance(values, dict) else None
            flags[key] = any(v in members for v in values) if isinstance(values, list) else False
        return {**case, "vs": flags}

    def run(self, cases: Iterable[dict[str, Any]]) -> list[Outcome | None]:
        out: list[Outcome | None] = []
        routes_, engine, decisions = self.routes, self.engine, self.decisions
        by_engine = self.api == "engine"
        for case in cases:
            spec = routes_.get(route_key(case))
            if spec is None:
                out.append(None)
                continue
            context = self._input(case, spec.id)
            response = (
                engine.evaluate(spec.id, context) if by_engine else decisions[spec.id].evaluate(context)
            )
            result = response["result"]
            rows = result if isinstance(result, list) else [result] if result else []
            out.append(outcome((r["rule"], r.get("auth"), bool(r.get("final"))) for r in rows))
        return out


# -- durable-rules, used naively ----------------------------------------------------------------
_names = itertools.count(1)
MAX_OR = 500  # durable-rules refuses an expression with more than 512 terms (error 106)


def _expand(entries: Sequence[str]) -> tuple[list[str], list[str]]:
    """Value set entries -> (every code, ranges written out; regexes for the prefixes)."""
    codes: list[str] = []
    regexes: list[str] = []
    for entry in entries:
        if entry.endswith("*"):
            regexes.append("".join(f"[{c}]" if c == "." else c for c in entry[:-1]) + ".*")
        elif "-" in entry:
            low, high = entry.split("-")
            lo, hi = _CODE.fullmatch(low), _CODE.fullmatch(high)
            assert lo is not None and hi is not None
            width = len(lo.group(2))
            codes.extend(f"{lo.group(1)}{n:0{width}d}" for n in range(int(lo.group(2)), int(hi.group(2)) + 1))
        else:
            codes.append(entry)
    return codes, regexes


class _DurableTranslator:
    def __init__(self, spec: RulesetSpec, as_of: date) -> None:
        from durable import lang

        self.lang, self.spec, self.as_of = lang, spec, as_of

    def ref(self, path: str) -> Any:
        return reduce(getattr, path.split("."), self.lang.m)

    def any_item(self, path: str, arg: Any) -> Any:
        item = self.lang.item
        codes, regexes = _expand(self.spec.doc["valuesets"][arg]) if isinstance(arg, str) else (list(arg), [])
        terms = [item == c for c in codes] + [item.matches(r) for r in regexes]
        chunks = [terms[i : i + MAX_OR] for i in range(0, len(terms), MAX_OR)]
        return reduce(operator.or_, [self.ref(path).anyItem(reduce(operator.or_, ch)) for ch in chunks])

    def conjuncts(self, cond: dict[str, Any]) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for key, test in cond.items():
            if key == "all":
                for child in test:
                    out.extend(self.conjuncts(child))
            elif isinstance(test, dict) and key not in ("any", "not", "documents") and len(test) > 1:
                out.extend((key, {op: arg}) for op, arg in test.items())
            else:
                out.append((key, test))
        return out

    def patterns(self, cond: dict[str, Any]) -> tuple[Any, list[Any]]:
        """(the expression on the case fact, [none(...) patterns for none_in])."""
        parts, absent = [], []
        for key, test in self.conjuncts(cond):
            if isinstance(test, dict) and set(test) == {"none_in"}:
                absent.append(self.lang.none(self.any_item(key, test["none_in"])))
            else:
                parts.append(self.expr({key: test}))
        main = reduce(operator.and_, parts) if parts else +self.lang.m.case_id
        return main, absent

    def expr(self, cond: dict[str, Any]) -> Any:
        parts = []
        for key, test in cond.items():
            if key == "all":
                parts.extend(self.expr(c) for c in test)
            elif key == "any":
                parts.append(reduce(operator.or_, [self.expr(c) for c in test]))
            elif key == "not":
                (path, value), *rest = test.items()
                if rest or isinstance(value, dict):
                    raise ValueError(f"unsupported not: {test}")
                parts.append(self.ref(path) != value)  # the generated cases always carry the path
            elif key == "documents":
                parts.append(self.documents(test))
            else:
                parts.append(self.path_test(key, test))
        return reduce(operator.and_, parts)

    def documents(self, test: dict[str, Any]) -> Any:
        item = self.lang.item
        (kind, where), *rest = test.items()
        if rest or kind != "some":
            raise ValueError(f"unsupported documents test {test}")
        inner = []
        for field, value in where.items():
            if isinstance(value, dict):
                cutoff = (self.as_of - timedelta(days=int(value["within_days"]))).isoformat()
                inner.append(getattr(item, field) >= cutoff)
            else:
                inner.append(getattr(item, field) == value)
        return self.lang.m.documents.anyItem(reduce(operator.and_, inner))

    def path_test(self, path: str, test: Any) -> Any:
        if not isinstance(test, dict):
            return self.ref(path) == test
        parts = []
        for op, arg in test.items():
            if path == "patient.age":  # age >= N  <=>  born on or before as_of - N years
                if op != "gte":
                    raise ValueError("only patient.age gte is translated")
                cutoff = self.as_of.replace(year=self.as_of.year - int(arg)).isoformat()
                parts.append(self.lang.m.patient.birth_date <= cutoff)
            elif op == "any_in":
                parts.append(self.any_item(path, arg))
            elif op == "in":
                parts.append(reduce(operator.or_, [self.ref(path) == v for v in arg]))
            elif op == "eq":
                parts.append(self.ref(path) == arg)
            elif op in _CMP:
                parts.append(_PY_CMP[op](self.ref(path), arg))
            elif op == "between":
                parts.append((self.ref(path) >= arg[0]) & (self.ref(path) <= arg[1]))
            else:
                raise ValueError(f"unsupported operator {op} on {path}")
        return reduce(operator.and_, parts)


class NaiveDurableAnchor:
    """durable-rules with a fresh session per case (assert_fact + delete_state)."""

    def __init__(self, specs: Sequence[RulesetSpec], as_of: date) -> None:
        from durable import lang

        self.lang = lang
        self.routes = routes(specs)
        self.order = {s.id: {r["id"]: i for i, r in enumerate(evaluation_order(s))} for s in specs}
        self.meta = {
            s.id: {r["id"]: (r["then"].get("auth"), bool(r["then"].get("final"))) for r in s.doc["rules"]}
            for s in specs
        }
        self.names: dict[str, str] = {}
        self.fired: list[str] = []
        serial = next(_names)
        for spec in specs:
            name = f"naive_{spec.id.replace('-', '_')}_{serial}"
            self.names[spec.id] = name
            translator = _DurableTranslator(spec, as_of)
            with lang.ruleset(name):
                for rule in spec.doc["rules"]:
                    main, absent = translator.patterns(rule["when"])
                    if absent:
                        lang.when_all(lang.distinct(False), lang.c.case << main, *absent)(
                            self._action(rule["id"])
                        )
                    else:
                        lang.when_all(main)(self._action(rule["id"]))
                lang.when_all(+lang.m.case_id)(_noop)  # catch-all: every fact is handled
        self.host = lang.get_host()
        self._sids = itertools.count(1)

    def _action(self, rule_id: str) -> Callable[[Any], None]:
        fired = self.fired

        def action(_c: Any) -> None:
            fired.append(rule_id)

        return action

    def run(self, cases: Iterable[dict[str, Any]]) -> list[Outcome | None]:
        out: list[Outcome | None] = []
        lang, fired, sids = self.lang, self.fired, self._sids
        for case in cases:
            spec = self.routes.get(route_key(case))
            if spec is None:
                out.append(None)
                continue
            name, sid = self.names[spec.id], f"s{next(sids)}"
            fired.clear()
            # durable-rules 2.0.28 decides `none(...)` wrongly when the field it tests comes before
            # the fields of the rule's other pattern in the fact's JSON: the lists go last.
            fact = {k: v for k, v in case.items() if k != "diagnoses"}
            if "diagnoses" in case:
                fact["diagnoses"] = case["diagnoses"]
            fact["sid"] = sid
            lang.assert_fact(name, fact)
            lang.delete_state(name, sid)
            order, meta = self.order[spec.id], self.meta[spec.id]
            ids = sorted(set(fired), key=order.__getitem__)  # an OR fires once per matching branch
            out.append(outcome((rid, *meta[rid]) for rid in ids))
        return out


def _noop(_c: Any) -> None:
    return None
