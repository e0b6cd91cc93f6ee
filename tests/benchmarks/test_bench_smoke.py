"""Smoke test of the benchmark's workload (not a timing test): it loads, both backends agree on it,
and the zen-engine anchor's translation of it decides like the engine."""

from __future__ import annotations

from functools import cache

import pytest

import engine
from benchmarks.workload import Workload, big_valueset_text, build_workload

N_CASES = 200


@cache
def _workload() -> tuple[Workload, tuple[engine.Ruleset, ...]]:
    work = build_workload(N_CASES)
    rulesets = tuple(engine.load_ruleset(spec.text, f"{spec.id}.yaml") for spec in work.rulesets)
    return work, rulesets


def _outcomes(decisions):
    return [([f["rule"] for f in d["fired"]], d["auth"]) for d in decisions]


def test_the_workload_has_the_promised_shape():
    work, rulesets = _workload()
    stats = work.stats()
    assert stats["rulesets"] == 25
    assert 38 <= stats["rules_per_ruleset"] <= 42
    assert stats["explicit_codes"] >= 20_000
    assert stats["ranges"] > 0 and stats["prefixes"] > 0
    assert len(work.cases) == N_CASES
    assert build_workload(5).cases == build_workload(5).cases  # deterministic
    assert {r.id for r in rulesets} == {s.id for s in work.rulesets}


def test_both_backends_agree_and_every_case_selects_one_ruleset():
    work, rulesets = _workload()
    compiled = list(engine.Evaluator(rulesets, backend="compiled").evaluate_many(work.cases, work.as_of))
    durable = list(engine.Evaluator(rulesets, backend="durable").evaluate_many(work.cases, work.as_of))
    assert len(compiled) == len(durable) == N_CASES
    assert all(isinstance(d, dict) and d["ruleset"] is not None for d in compiled)
    assert compiled == durable
    fired = [f["rule"] for d in compiled for f in d["fired"]]
    assert len(set(fired)) > 40  # the cases reach many different rules
    assert {d["auth"] for d in compiled} >= {"required", "not-required", "review"}


def test_the_10000_code_ruleset_loads():
    work, _ = _workload()
    text = big_valueset_text(work.rulesets[0])
    ruleset = engine.load_ruleset(text, "big.yaml")
    entries = [e for e in text.split("payer_dx_list:", 1)[1].split("]", 1)[0].split(",") if e.strip()]
    assert len(entries) == 10_000
    assert "payer_dx_list" in ruleset.valuesets
    assert len(ruleset.rules) == len(work.rulesets[0].doc["rules"]) + 1


@pytest.mark.parametrize("precomputed", [True, False])
def test_the_zen_anchor_decides_like_the_engine(precomputed):
    pytest.importorskip("zen")
    from benchmarks.anchors import ZenAnchor

    work, rulesets = _workload()
    cases = work.cases[:60]
    ours = _outcomes(engine.Evaluator(rulesets, backend="compiled").evaluate_many(cases, work.as_of))
    assert ZenAnchor(work.rulesets, precomputed=precomputed).run(cases) == ours
