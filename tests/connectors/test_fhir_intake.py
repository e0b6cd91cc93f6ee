"""FHIR Bundle intake: each fixture bundle beside the facts, problems and decision it must give.

tests/fixtures/fhir/<name>.bundle.json is the input (synthetic: no real patient), <name>.expected.json
holds the options it is read with, the exact facts, the exact problems and, when facts are made,
the decision the shipped rulesets give them (ruleset id, auth, missing item ids).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connectors.fhir import bundle_to_facts
from connectors.fhir.intake import MAX_BYTES, billing_code, icd10cm, slug, valid_npi
from engine import Evaluator, load_forms, load_rulesets
from engine.facts import base_types, check_types, flatten

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "fhir"
BUNDLES = sorted(p.name.removesuffix(".bundle.json") for p in FIXTURES.glob("*.bundle.json"))
# inside the shipped rulesets' effective dates; the fixtures' document dates count back from it
TODAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    forms, problems = load_forms([ROOT / "forms"])
    rulesets, more = load_rulesets([ROOT / "rulesets"], forms)
    assert problems == more == []
    return Evaluator(rulesets, forms)


def expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.expected.json").read_text("utf-8"))
    return data


def read(name: str) -> bytes:
    return (FIXTURES / f"{name}.bundle.json").read_bytes()


@pytest.mark.parametrize("name", BUNDLES)
def test_each_bundle_gives_its_expected_facts_problems_and_decision(name: str, evaluator: Evaluator) -> None:
    want = expected(name)
    intake = bundle_to_facts(read(name), **want.get("options", {}))
    assert intake.facts == want["facts"]
    assert [asdict(p) for p in intake.problems] == want["problems"]
    assert intake.ok == bool(intake.facts)
    if intake.facts:
        assert check_types(flatten(intake.facts), base_types()) == []
        decision = evaluator.evaluate(intake.facts, TODAY)
        got = {
            "ruleset": decision["ruleset"]["id"] if decision["ruleset"] else None,
            "auth": decision["auth"],
            "missing": [m["id"] for m in decision["missing"]],
        }
        assert got == want["decision"]


def test_every_fixture_has_its_expected_file() -> None:
    expected_files = {p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.expected.json")}
    assert expected_files == set(BUNDLES)


def test_each_service_line_reaches_its_payers_ruleset() -> None:
    rulesets = {name: expected(name).get("decision", {}).get("ruleset") for name in BUNDLES}
    assert rulesets["mri-lumbar-acme"] == "acme-commercial"
    assert rulesets["infliximab-acme"] == rulesets["pt-acme"] == "acme-commercial"
    assert rulesets["cpap-summit"] == rulesets["power-wheelchair-summit"] == "summit-medicare-advantage"
    assert rulesets["tka-harbor"] == "harbor-regional"


def _personal_values(node: Any, keys: tuple[str, ...], notes: bool = False) -> set[str]:
    """Every text under the `keys` of a Patient (and, with `notes`, under any note)."""
    found: set[str] = set()

    def texts(value: Any) -> None:
        if isinstance(value, str) and len(value) > 3:
            found.add(value)
        elif isinstance(value, dict):
            for child in value.values():
                texts(child)
        elif isinstance(value, list):
            for child in value:
                texts(child)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("resourceType") == "Patient":
                for key in keys:
                    texts(value.get(key))
            if notes:
                texts(value.get("note"))
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(node)
    return found


WITH_A_PATIENT = [n for n in BUNDLES if b'"resourceType": "Patient"' in read(n)]


@pytest.mark.parametrize("name", WITH_A_PATIENT)
def test_the_patients_name_is_only_ever_at_patient_name_and_no_other_personal_value_anywhere(
    name: str,
) -> None:
    bundle = json.loads(read(name))
    names = _personal_values(bundle, ("name",))
    others = _personal_values(bundle, ("address", "telecom", "identifier"), notes=True)
    intake = bundle_to_facts(bundle, **expected(name).get("options", {}))
    problems = "\n".join(str(p) for p in intake.problems)
    facts = json.loads(json.dumps(intake.facts))
    facts.get("patient", {}).pop("name", None)  # the one place a name may be
    assert names and others, "the fixture should carry personal values to look for"
    assert [value for value in others if value in problems + json.dumps(intake.facts)] == []
    assert [value for value in names if value in problems + json.dumps(facts)] == []


def _with_names(*names: dict[str, Any]) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads(read("mri-lumbar-acme"))
    bundle["entry"][0]["resource"]["name"] = list(names)
    return bundle


@pytest.mark.parametrize(
    ("names", "taken"),
    [
        ([{"use": "usual", "family": "Rivera", "given": ["Sam"]},
          {"use": "official", "family": "Rivera", "given": ["Samuel", "J"]}], "Rivera, Samuel J"),
        ([{"family": "Nick", "given": ["Sam"]}, {"use": "usual", "family": "Rivera", "given": ["Sam"]}],
         "Rivera, Sam"),
        ([{"use": "old", "family": "Lane", "given": ["Sam"]}, {"family": "Rivera", "given": ["Sam"]}],
         "Rivera, Sam"),
        ([{"use": "official", "family": "Lane", "given": ["Jane"], "period": {"end": "2001-06-30"}},
          {"family": "Doe", "given": ["Jane", "Q"]}], "Doe, Jane Q"),
        ([{"use": "official", "prefix": ["Dr."], "family": " Doe ", "given": ["Jane", " Q"],
           "suffix": ["Jr."], "text": "Dr. Jane Q. Doe Jr."}], "Doe, Jane Q"),
        ([{"text": " Rivera,\n Sam "}], "Rivera, Sam"),
        ([{"family": "Rivera"}], "Rivera"),
        ([{"given": ["Sam"]}], "Sam"),
    ],
)  # fmt: skip
def test_the_official_name_is_taken_before_the_usual_one_before_the_first_current_one(
    names: list[dict[str, Any]], taken: str
) -> None:
    intake = bundle_to_facts(_with_names(*names))
    assert intake.facts["patient"]["name"] == taken
    assert not [p for p in intake.problems if ".name" in p.path and "(Patient)" in p.path]


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        ([{"use": "official", "prefix": ["Dr."]}, {"family": "Rivera"}],
         "warning: Bundle.entry[0].resource(Patient).name[0]: the name has no text, family or given name: "
         "patient.name is left out"),
        ([{"use": "old", "family": "Lane"}, {"family": "Rivera", "period": {"end": "2001"}}],
         "warning: Bundle.entry[0].resource(Patient).name: no current name (every name is old or has ended): "
         "patient.name is left out"),
        ([{"family": "R" * 195, "given": ["Samantha"]}],
         "warning: Bundle.entry[0].resource(Patient).name[0]: longer than 200 characters: "
         "patient.name is left out"),
    ],
)  # fmt: skip
def test_a_name_that_cannot_be_taken_is_left_out_with_a_warning_at_its_path(
    names: list[dict[str, Any]], problem: str
) -> None:
    intake = bundle_to_facts(_with_names(*names))
    assert intake.ok and "name" not in intake.facts["patient"]
    assert [str(p) for p in intake.problems if "(Patient).name" in p.path] == [problem]


def test_bytes_text_and_parsed_json_give_the_same_intake() -> None:
    data = read("mri-lumbar-acme")
    one = bundle_to_facts(data)
    assert bundle_to_facts(data.decode("utf-8")) == one
    assert bundle_to_facts(json.loads(data)) == one
    assert bundle_to_facts(b"\xef\xbb\xbf" + data) == one  # a byte-order mark is tolerated


def test_it_refuses_a_bundle_over_ten_mib_before_reading_it() -> None:
    intake = bundle_to_facts(b" " * (MAX_BYTES + 1))
    assert [str(p) for p in intake.problems] == [
        "error: (input): the bundle is larger than 10 MiB: send one case per bundle"
    ]


def test_it_refuses_text_that_is_not_utf8() -> None:
    intake = bundle_to_facts('{"resourceType": "Bundle", "id": "caf\u00e9"}'.encode("latin-1"))
    assert [str(p) for p in intake.problems] == [
        "error: (input): the bundle is not UTF-8 text: FHIR JSON must be encoded in UTF-8"
    ]


def test_it_refuses_a_bundle_type_it_does_not_read() -> None:
    bundle = json.loads(read("mri-lumbar-acme"))
    bundle["type"] = "searchset"
    intake = bundle_to_facts(bundle)
    assert intake.facts == {}
    assert (
        str(intake.problems[0])
        == "error: Bundle.type: must be one of collection, transaction, document, batch"
    )


def test_two_patients_make_no_case() -> None:
    bundle = json.loads(read("mri-lumbar-acme"))
    twin = json.loads(json.dumps(bundle["entry"][0]))
    twin["resource"]["id"] = "pat-other"
    twin["fullUrl"] = "https://ehr.example.org/fhir/Patient/pat-other"
    bundle["entry"].append(twin)
    intake = bundle_to_facts(bundle)
    assert not intake.ok
    assert "error: Bundle: more than one Patient: a bundle makes one case for one patient" in map(
        str, intake.problems
    )


def test_a_document_type_table_maps_local_codes_before_the_loinc_table() -> None:
    table = {"http://loinc.org|11504-8": "op-note"}
    intake = bundle_to_facts(read("unknown-document-type"), document_types=table)
    assert [d["type"] for d in intake.facts["documents"]] == ["clinical-note", "op-note"]
    assert not [p for p in intake.problems if p.path.endswith("(DocumentReference).type")]


def test_the_payer_table_matches_names_whatever_their_case_and_spacing() -> None:
    intake = bundle_to_facts(read("tka-harbor"), payer_ids={"  harbor   community HEALTH ": "harbor"})
    assert intake.facts["coverage"]["payer"] == "harbor"


def test_without_a_payer_table_the_payer_id_is_made_from_the_name_with_a_warning() -> None:
    intake = bundle_to_facts(read("cpap-summit"))
    assert intake.facts["coverage"]["payer"] == "summit-health-plan"
    assert (
        "warning: Bundle.entry[1].resource(Organization).name: the payer id was made from the organization's "
        "name: when no ruleset has that payer id, add the organization to the payer table"
    ) in map(str, intake.problems)


def test_a_table_that_maps_to_something_other_than_a_priorauth_id_is_refused() -> None:
    with pytest.raises(ValueError, match="payer_ids: the entry for 'ACME' must map to a lowercase slug"):
        bundle_to_facts(read("mri-lumbar-acme"), payer_ids={"ACME": "Acme Health"})


@pytest.mark.parametrize(
    ("npi", "valid"),
    [
        ("1234567893", True),
        ("1246801355", True),
        ("1234567890", False),
        ("123456789", False),
        ("12345678a3", False),
    ],
)
def test_npi_check_digit(npi: str, valid: bool) -> None:
    assert valid_npi(npi) is valid


def test_code_forms() -> None:
    assert [billing_code(c) for c in ("72148", "0001u", "j1745", "7214", "W1234", "A12345")] == [
        "72148", "0001U", "J1745", None, None, None,
    ]  # fmt: skip
    assert [icd10cm(c) for c in ("M5416", "m54.16", "I10", "54.16", "M54.")] == [
        "M54.16", "M54.16", "I10", None, None,
    ]  # fmt: skip
    assert slug("  ACME Health, Inc. ") == "acme-health-inc"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("[" * 100_000, "error: (input): not valid JSON: nested too deeply"),
        (
            '{"resourceType": "Bundle", "total": NaN}',
            "error: (input): not valid JSON (NaN is not a JSON number)",
        ),
        (
            {"resourceType": "Bundle", "type": "collection", "entry": [7]},
            "error: Bundle.entry[0]: not what FHIR R4 expects here (a JSON object of the element's type)",
        ),
        (
            {"resourceType": "Bundle", "type": "collection", "entry": {}},
            "error: Bundle.entry: not valid FHIR R4: Input should be a valid list",
        ),
    ],
)
def test_malformed_input_is_one_error_at_its_place(data: str | dict[str, Any], problem: str) -> None:
    assert [str(p) for p in bundle_to_facts(data).problems] == [problem]
