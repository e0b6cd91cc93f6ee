"""Which ruleset applies to a case, and the case facts the engine accepts (spec rulesets.md,
"Which ruleset applies", "Case facts" and "The decision")."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from admin.cli import main
from engine import Evaluator, FactsError, Ruleset, load_ruleset

BACKENDS = ("durable", "compiled")
TODAY = date(2026, 11, 20)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ruleset_text(
    rid: str = "acme-commercial",
    payer: str = "acme",
    version: int | None = 1,
    effective: str = "{from: 2026-01-01, to: 2026-12-31}",
    scope: str | None = "{coverage.plan_type: {in: [commercial, employer-group]}}",
    queue: str | None = None,
    extra: str = "",
) -> str:
    lines = [f"ruleset: {rid}", f"payer: {payer}"]
    if version is not None:
        lines.append(f"version: {version}")
    lines.append(f"effective: {effective}")
    if scope is not None:
        lines.append(f"scope: {scope}")
    lines.append("facts: {clinical.ahi: number}")
    lines.append(
        f"defaults: {{channel: portal, portal: {payer}-portal, queue: general, turnaround: {{standard: 14d}}}}"
    )
    lines.append(extra)
    lines.append("rules:")
    lines.append(f"  - {{id: needs-auth, when: {{}}, then: {{auth: required, queue: {queue or rid}}}}}")
    return "\n".join(lines) + "\n"


def ruleset(**kwargs: Any) -> Ruleset:
    return load_ruleset(ruleset_text(**kwargs), f"{kwargs.get('rid', 'acme-commercial')}.yaml")


def case(**facts: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "case_id": "C-1",
        "as_of": "2026-11-20",
        "coverage": {"payer": "acme", "plan_type": "commercial"},
        "service": {"codes": ["72148"], "date": "2026-12-03"},
    }
    for key, value in facts.items():
        if key in ("coverage", "service") and isinstance(value, dict):
            out[key] = {**out[key], **value}
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def decide(
    backend: str, rulesets: list[Ruleset], facts: dict[str, Any], today: date = TODAY
) -> dict[str, Any]:
    return Evaluator(rulesets, backend=backend).evaluate(facts, today=today)


def chosen(decision: dict[str, Any]) -> tuple[str, int | None] | None:
    rs = decision["ruleset"]
    return None if rs is None else (rs["id"], rs["version"])


def assert_no_ruleset_applies(decision: dict[str, Any], urgency: str = "standard") -> None:
    """Spec: auth unknown, ruleset null, a reason, routing null, urgency from the case, nothing else."""
    assert decision["auth"] == "unknown"
    assert decision["ruleset"] is None
    assert isinstance(decision["reason"], str) and decision["reason"]
    assert (decision["channel"], decision["portal"], decision["queue"]) == (None, None, None)
    assert decision["urgency"] == urgency
    assert decision["due"] is None
    assert (decision["forms"], decision["missing"], decision["fired"]) == ([], [], [])
    assert decision["ready"] is False


# -- payer and scope ---------------------------------------------------------------------------------------
def test_a_ruleset_applies_when_payer_scope_and_dates_match(backend: str) -> None:
    decision = decide(backend, [ruleset()], case())
    assert chosen(decision) == ("acme-commercial", 1)
    assert decision["auth"] == "required"
    assert decision["queue"] == "acme-commercial"
    assert decision["reason"] is None


@pytest.mark.parametrize("payer", ["summit", "ACME", "acme "])
def test_no_ruleset_applies_when_the_payer_differs(backend: str, payer: str) -> None:
    decision = decide(backend, [ruleset()], case(coverage={"payer": payer}))
    assert_no_ruleset_applies(decision)


def test_no_ruleset_applies_when_the_case_names_no_payer(backend: str) -> None:
    decision = decide(backend, [ruleset()], case(coverage={"plan_type": "commercial", "payer": None}))
    assert_no_ruleset_applies(decision)


@pytest.mark.parametrize(
    ("plan", "applies"), [("commercial", True), ("employer-group", True), ("medicaid", False)]
)
def test_the_scope_decides_which_cases_are_the_rulesets(backend: str, plan: str, applies: bool) -> None:
    decision = decide(backend, [ruleset()], case(coverage={"plan_type": plan}))
    if applies:
        assert chosen(decision) == ("acme-commercial", 1)
    else:
        assert_no_ruleset_applies(decision)


def test_a_case_missing_the_scoped_fact_is_outside_the_scope(backend: str) -> None:
    facts = case()
    del facts["coverage"]["plan_type"]
    assert_no_ruleset_applies(decide(backend, [ruleset()], facts))


def test_a_ruleset_without_scope_takes_every_case_of_its_payer(backend: str) -> None:
    decision = decide(backend, [ruleset(scope=None)], case(coverage={"plan_type": "medicaid"}))
    assert chosen(decision) == ("acme-commercial", 1)


def test_the_no_ruleset_decision_keeps_the_cases_urgency(backend: str) -> None:
    decision = decide(backend, [ruleset()], case(urgency="expedited", coverage={"payer": "summit"}))
    assert_no_ruleset_applies(decision, urgency="expedited")


def test_the_no_ruleset_decision_keeps_the_case_id(backend: str) -> None:
    assert decide(backend, [ruleset()], case(coverage={"payer": "summit"}))["case_id"] == "C-1"


# -- effective dates ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("service_date", "applies"),
    [
        ("2026-01-01", True),
        ("2026-06-15", True),
        ("2026-12-31", True),
        ("2025-12-31", False),
        ("2027-01-01", False),
    ],
)
def test_effective_from_and_to_are_both_inclusive(backend: str, service_date: str, applies: bool) -> None:
    decision = decide(backend, [ruleset()], case(service={"date": service_date}))
    if applies:
        assert chosen(decision) == ("acme-commercial", 1)
    else:
        assert_no_ruleset_applies(decision)


def test_a_ruleset_without_an_end_date_stays_in_effect(backend: str) -> None:
    decision = decide(
        backend, [ruleset(effective="{from: 2026-01-01}")], case(service={"date": "2099-01-01"})
    )
    assert chosen(decision) == ("acme-commercial", 1)


def test_the_date_of_service_selects_the_version_not_as_of(backend: str) -> None:
    # as_of is inside 2026, the date of service is not
    decision = decide(backend, [ruleset()], case(as_of="2026-11-20", service={"date": "2027-01-05"}))
    assert_no_ruleset_applies(decision)
    decision = decide(backend, [ruleset()], case(as_of="2025-11-20", service={"date": "2026-01-01"}))
    assert chosen(decision) == ("acme-commercial", 1)


@pytest.mark.parametrize(
    ("as_of", "applies"), [("2026-12-31", True), ("2027-01-01", False), ("2025-12-31", False)]
)
def test_as_of_selects_when_the_case_has_no_date_of_service(backend: str, as_of: str, applies: bool) -> None:
    facts = case(as_of=as_of)
    del facts["service"]["date"]
    decision = decide(backend, [ruleset()], facts)
    if applies:
        assert chosen(decision) == ("acme-commercial", 1)
    else:
        assert_no_ruleset_applies(decision)


@pytest.mark.parametrize(("today", "applies"), [(date(2026, 12, 31), True), (date(2027, 1, 1), False)])
def test_today_selects_when_the_case_has_neither_date(backend: str, today: date, applies: bool) -> None:
    facts = case(as_of=None)
    del facts["service"]["date"]
    decision = decide(backend, [ruleset()], facts, today=today)
    if applies:
        assert chosen(decision) == ("acme-commercial", 1)
    else:
        assert_no_ruleset_applies(decision)


# -- versions ------------------------------------------------------------------------------------------------
def test_the_highest_version_in_effect_wins(backend: str) -> None:
    versions = [
        ruleset(version=2, queue="v2"),
        ruleset(version=3, queue="v3"),
        ruleset(version=1, queue="v1"),
    ]
    decision = decide(backend, versions, case())
    assert chosen(decision) == ("acme-commercial", 3)
    assert decision["queue"] == "v3"


def test_a_higher_version_not_yet_in_effect_does_not_win(backend: str) -> None:
    versions = [
        ruleset(version=1, queue="v1"),
        ruleset(version=2, queue="v2", effective="{from: 2027-01-01}"),
    ]
    decision = decide(backend, versions, case())
    assert chosen(decision) == ("acme-commercial", 1)
    assert decision["queue"] == "v1"
    decision = decide(backend, versions, case(service={"date": "2027-01-01"}))
    assert chosen(decision) == ("acme-commercial", 2)


def test_a_higher_version_whose_scope_excludes_the_case_does_not_win(backend: str) -> None:
    versions = [
        ruleset(version=1, queue="v1"),
        ruleset(version=2, queue="v2", scope="{coverage.plan_type: {in: [employer-group]}}"),
    ]
    decision = decide(backend, versions, case())
    assert chosen(decision) == ("acme-commercial", 1)
    assert decision["queue"] == "v1"


# -- several rulesets ------------------------------------------------------------------------------------------
def test_rulesets_of_other_payers_do_not_compete(backend: str) -> None:
    both = [ruleset(), ruleset(rid="summit-ma", payer="summit")]
    assert chosen(decide(backend, both, case())) == ("acme-commercial", 1)
    assert chosen(decide(backend, both, case(coverage={"payer": "summit"}))) == ("summit-ma", 1)


def test_rulesets_with_disjoint_scopes_do_not_compete(backend: str) -> None:
    both = [ruleset(), ruleset(rid="acme-medicaid", scope="{coverage.plan_type: medicaid}")]
    assert chosen(decide(backend, both, case())) == ("acme-commercial", 1)
    assert chosen(decide(backend, both, case(coverage={"plan_type": "medicaid"}))) == ("acme-medicaid", 1)


@pytest.mark.parametrize(("urgency", "due"), [("standard", "2026-11-27"), ("expedited", "2026-11-23")])
def test_two_different_rulesets_that_both_apply_route_the_case_to_review(
    backend: str, urgency: str, due: str
) -> None:
    both = [
        ruleset(rid="acme-imaging", version=2, extra="items:\n  order: {label: Order}"),
        ruleset(rid="acme-commercial", version=5),
    ]
    decision = decide(backend, both, case(urgency=urgency))
    assert decision["auth"] == "review"
    assert decision["ruleset"] is None
    assert sorted(decision["rulesets"]) == ["acme-commercial", "acme-imaging"]
    assert "acme-commercial" in decision["reason"]
    assert "acme-imaging" in decision["reason"]
    assert decision["fired"] == []
    assert decision["missing"] == []
    assert decision["forms"] == []
    assert decision["ready"] is False
    # by the default turnaround (7 days / 3 days), not the rulesets' own 14 days
    assert decision["due"] == due
    assert decision["urgency"] == urgency
    assert decision["case_id"] == "C-1"


def test_two_versions_of_one_ruleset_never_conflict(backend: str) -> None:
    decision = decide(backend, [ruleset(version=1), ruleset(version=2)], case())
    assert decision["auth"] == "required"
    assert chosen(decision) == ("acme-commercial", 2)


# -- --ruleset FILE -------------------------------------------------------------------------------------------------
CASE_FOR_CLI = {
    "case_id": "C-9",
    "as_of": "2026-11-20",
    "coverage": {"payer": "acme", "plan_type": "commercial"},
    "service": {"codes": ["72148"], "date": "2026-12-03"},
}


def run_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str, *args: str) -> dict[str, Any]:
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps(CASE_FOR_CLI))
    code = main(["evaluate", "--case", str(case_file), "--json", "--backend", backend, *args])
    out = capsys.readouterr().out
    assert code == 0
    decision: dict[str, Any] = json.loads(out)
    return decision


def write_rulesets(tmp_path: Path) -> Path:
    folder = tmp_path / "rulesets"
    folder.mkdir()
    (folder / "a.yaml").write_text(ruleset_text(rid="acme-imaging", queue="from-a"))
    (folder / "b.yaml").write_text(ruleset_text(rid="acme-commercial", queue="from-b"))
    (folder / "c.yaml").write_text(ruleset_text(rid="summit-ma", payer="summit", queue="from-c"))
    return folder


def test_ruleset_option_restricts_the_choice_to_that_file(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_rulesets(tmp_path)
    # the whole folder: two rulesets apply and the case goes to review
    assert run_cli(tmp_path, capsys, backend, "--rulesets", str(folder))["auth"] == "review"
    decision = run_cli(tmp_path, capsys, backend, "--ruleset", str(folder / "b.yaml"))
    assert chosen(decision) == ("acme-commercial", 1)
    assert decision["queue"] == "from-b"


def test_ruleset_option_still_checks_payer_scope_and_dates(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_rulesets(tmp_path)
    decision = run_cli(tmp_path, capsys, backend, "--ruleset", str(folder / "c.yaml"))
    assert_no_ruleset_applies(decision)
    (folder / "d.yaml").write_text(ruleset_text(rid="acme-2027", effective="{from: 2027-01-01}"))
    assert_no_ruleset_applies(run_cli(tmp_path, capsys, backend, "--ruleset", str(folder / "d.yaml")))


# -- facts -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("facts", "path"),
    [
        (case(service={"units": "SECRET-7"}), "service.units"),
        (case(service={"codes": "SECRET-72148"}), "service.codes"),
        (case(service={"codes": ["72148", 99213]}), "service.codes"),
        (case(as_of="SECRET-11/20/2026"), "as_of"),
        (case(service={"date": "SECRET-12/03/2026"}), "service.date"),
        (case(patient={"birth_date": "SECRET-1968/03/02"}), "patient.birth_date"),
        (case(urgency="SECRET-urgent"), "urgency"),
        (case(diagnoses="SECRET-M54.50"), "diagnoses"),
        (case(coverage={"plan_type": ["SECRET-commercial"]}), "coverage.plan_type"),
        (case(clinical={"ahi": "SECRET-eighteen"}), "clinical.ahi"),
        (case(documents=[{"id": "D1", "type": "order", "date": "SECRET-yesterday"}]), "documents[0].date"),
        # paths no rule, scope or item reads: the evaluator does not keep them, but checks them
        (case(patient={"sex": 7}), "patient.sex"),
        (case(providers={"ordering": {"npi": 1234567893}}), "providers.ordering.npi"),
        (case(coverage={"group": ["SECRET-G9"]}), "coverage.group"),
    ],
)
def test_a_fact_of_the_wrong_type_is_an_error_naming_the_path_but_not_the_value(
    backend: str, facts: dict[str, Any], path: str
) -> None:
    with pytest.raises(FactsError) as caught:
        decide(backend, [ruleset()], facts)
    assert path in str(caught.value)
    assert "SECRET" not in str(caught.value)


def test_every_wrong_fact_is_named_at_once(backend: str) -> None:
    facts = case(service={"units": "x", "date": "y"}, urgency="z")
    with pytest.raises(FactsError) as caught:
        decide(backend, [ruleset()], facts)
    message = str(caught.value)
    assert all(path in message for path in ("service.units", "service.date", "urgency"))


def test_facts_at_paths_no_schema_knows_are_ignored(backend: str) -> None:
    extra = case(
        referral={"source": 42, "notes": ["x"]},
        patient={"nickname": 5, "birth_date": "1968-03-02"},
        clinical={"undeclared": {"deep": True}, "ahi": 18},
        service={"modifier_text": 7},
    )
    plain = case(patient={"birth_date": "1968-03-02"}, clinical={"ahi": 18})
    assert decide(backend, [ruleset()], extra) == decide(backend, [ruleset()], plain)


def test_a_clinical_fact_no_ruleset_declares_is_ignored_whatever_its_type(backend: str) -> None:
    decision = decide(backend, [ruleset()], case(clinical={"red_flags": "not-a-list"}))
    assert decision["auth"] == "required"


def test_a_ruleset_outside_its_scope_does_not_type_check_the_case(backend: str) -> None:
    applies = ruleset(rid="acme-commercial")  # declares clinical.ahi: number
    other = load_ruleset(
        ruleset_text(rid="acme-medicaid", scope="{coverage.plan_type: medicaid}").replace(
            "facts: {clinical.ahi: number}", "facts: {clinical.ahi: string}"
        ),
        "acme-medicaid.yaml",
    )
    decision = decide(backend, [applies, other], case(clinical={"ahi": 18}))
    assert chosen(decision) == ("acme-commercial", 1)


def test_a_ruleset_not_in_effect_does_not_type_check_the_case(backend: str) -> None:
    applies = ruleset(rid="acme-commercial")
    other = load_ruleset(
        ruleset_text(rid="acme-2030", effective="{from: 2030-01-01}").replace(
            "facts: {clinical.ahi: number}", "facts: {clinical.ahi: string}"
        ),
        "acme-2030.yaml",
    )
    decision = decide(backend, [applies, other], case(clinical={"ahi": 18}))
    assert chosen(decision) == ("acme-commercial", 1)


def test_a_wrong_type_on_a_path_the_scope_tests_is_an_error(backend: str) -> None:
    scoped = load_ruleset(ruleset_text(rid="acme-sleep", scope="{clinical.ahi: {gte: 5}}"), "acme-sleep.yaml")
    with pytest.raises(FactsError) as caught:
        decide(backend, [scoped], case(clinical={"ahi": "SECRET-high"}))
    assert "clinical.ahi" in str(caught.value)
    assert "SECRET" not in str(caught.value)


def test_choosing_by_the_scope_lookup_decides_exactly_like_the_scopes(backend: str) -> None:
    # scopes that are one eq / in test on one text path are looked up (evaluate._scope_index);
    # overlapping scopes, versions, effective dates and missing or other values all decide the
    # same as evaluating every scope
    rulesets = [
        ruleset(rid="acme-commercial", version=1),
        ruleset(rid="acme-commercial", version=2, effective="{from: 2026-06-01}"),
        ruleset(rid="acme-group", scope="{coverage.plan_type: employer-group}"),
        ruleset(rid="acme-medicaid", scope="{coverage.plan_type: {in: [medicaid, chip]}}"),
        ruleset(rid="acme-chip", scope="{coverage.plan_type: {in: [chip]}}", effective="{from: 2027-01-01}"),
    ]
    looked_up = Evaluator(rulesets, backend=backend)
    every_scope = Evaluator(rulesets, backend=backend)
    every_scope._scopes = dict.fromkeys(every_scope._scopes)  # no lookup: every scope evaluated
    assert looked_up._scopes["acme"] is not None
    for plan_type in ("commercial", "employer-group", "medicaid", "chip", "other", None):
        for service_date in ("2026-03-01", "2026-12-03", "2027-02-01"):
            facts = case(service={"date": service_date})
            if plan_type is None:
                del facts["coverage"]["plan_type"]
            else:
                facts["coverage"]["plan_type"] = plan_type
            assert looked_up.evaluate(facts, TODAY) == every_scope.evaluate(facts, TODAY)
