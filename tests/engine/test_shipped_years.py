"""The shipped rulesets cover 2026 and 2027 without a gap, and the year's version is the one chosen
(spec rulesets.md, "Versions" and "Which ruleset applies"; rulesets/*-2027.yaml)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from admin import store
from admin.db import Database
from engine import Evaluator, Ruleset, load_rulesets

ROOT = Path(__file__).resolve().parents[2]
FIRST, LAST = date(2026, 1, 1), date(2027, 12, 31)


def shipped() -> list[Ruleset]:
    rulesets, problems = load_rulesets([ROOT / "rulesets"])
    assert problems == []
    return rulesets


_EVALUATORS: dict[str, Evaluator] = {}


def evaluator(backend: str) -> Evaluator:
    """One Evaluator per backend over the shipped folder (building one compiles every ruleset)."""
    if backend not in _EVALUATORS:
        _EVALUATORS[backend] = Evaluator(shipped(), backend=backend)
    return _EVALUATORS[backend]


def test_every_shipped_ruleset_is_in_effect_every_day_of_2026_and_2027() -> None:
    by_id: dict[str, list[Ruleset]] = {}
    for ruleset in shipped():
        by_id.setdefault(ruleset.id, []).append(ruleset)
    expected = {"acme-commercial", "bluelake-medicaid", "harbor-regional", "summit-medicare-advantage"}
    assert expected <= set(by_id)
    for rid, versions in sorted(by_id.items()):
        gaps = []
        day = FIRST
        while day <= LAST:
            if not any(r.in_effect(day) for r in versions):
                gaps.append(day)
            day += timedelta(days=1)
        assert gaps == [], f"{rid}: no version in effect on {len(gaps)} day(s), first {gaps[:1]}"


@pytest.mark.parametrize("backend", ["durable", "compiled"])
@pytest.mark.parametrize(
    ("payer", "plan_type", "rid", "on", "version"),
    [
        ("acme", "commercial", "acme-commercial", "2026-06-15", 4),
        ("acme", "commercial", "acme-commercial", "2026-12-31", 4),
        ("acme", "commercial", "acme-commercial", "2027-01-01", 5),
        ("acme", "commercial", "acme-commercial", "2027-06-15", 5),
        ("acme", "commercial", "acme-commercial", "2027-12-31", 5),
        ("bluelake", "medicaid", "bluelake-medicaid", "2026-06-15", 1),
        ("bluelake", "medicaid", "bluelake-medicaid", "2026-12-31", 1),
        ("bluelake", "medicaid", "bluelake-medicaid", "2027-01-01", 2),
        ("bluelake", "medicaid", "bluelake-medicaid", "2027-06-15", 2),
        ("bluelake", "medicaid", "bluelake-medicaid", "2027-12-31", 2),
    ],
)
def test_the_years_version_is_chosen(
    backend: str, payer: str, plan_type: str, rid: str, on: str, version: int
) -> None:
    facts = {
        "case_id": "C-1",
        "as_of": "2026-11-23",
        "coverage": {"payer": payer, "plan_type": plan_type, "eligibility": "active"},
        "providers": {"ordering": {"npi": "1234567893"}},
        "service": {"codes": ["72148"], "date": on},
        "diagnoses": ["M54.50"],
    }
    decision = evaluator(backend).evaluate(facts, today=date(2026, 11, 23))
    assert decision["ruleset"] is not None, decision.get("reason")
    assert (decision["ruleset"]["id"], decision["ruleset"]["version"]) == (rid, version)
    assert decision["auth"] == "required"


def test_the_shipped_folder_publishes_both_years_in_version_order_and_again_changes_nothing(
    empty_db: Database,
) -> None:
    # files_of sorts acme-commercial-2027.yaml before acme-commercial.yaml: the store must not care
    with empty_db.transaction() as session:
        store.push(session, "it", "form", store.files_of([str(ROOT / "forms")]), publish_now=True)
        store.push(
            session, "it", "template", store.files_of([str(ROOT / "forms" / "packets")]), publish_now=True
        )
        first = store.push(
            session, "it", "ruleset", store.files_of([str(ROOT / "rulesets")]), publish_now=True
        )
    by_file = {Path(p.file).name: (p.slug, p.outcome, p.version, p.replaced) for p in first}
    assert by_file["acme-commercial.yaml"] == ("acme-commercial", "published", 4, None)
    assert by_file["acme-commercial-2027.yaml"] == ("acme-commercial", "published", 5, None)
    assert by_file["bluelake-medicaid.yaml"] == ("bluelake-medicaid", "published", 1, None)
    assert by_file["bluelake-medicaid-2027.yaml"] == ("bluelake-medicaid", "published", 2, None)
    with empty_db.transaction() as session:
        again = store.push(
            session, "it", "ruleset", store.files_of([str(ROOT / "rulesets")]), publish_now=True
        )
        assert {p.outcome for p in again} == {"unchanged"}
        assert sorted((p.slug, p.version) for p in again) == sorted((p.slug, p.version) for p in first)
        assert len(store.versions(session, "ruleset")) == len(first)
        engine = store.evaluator(session, "durable")
        for on, version in (("2026-12-31", 4), ("2027-01-01", 5)):
            facts = {
                "as_of": "2026-11-23",
                "coverage": {"payer": "acme", "plan_type": "commercial"},
                "service": {"codes": ["72148"], "date": on},
            }
            assert engine.evaluate(facts, today=date(2026, 11, 23))["ruleset"]["version"] == version
