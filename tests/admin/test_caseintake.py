"""New cases in the browser: typed in, imported from files; the facts of a case corrected."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from admin import cases, create_app
from admin.models_cases import Case, CaseDecision
from tests.accounts import add_user, csrf_token, sign_in

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = ROOT / "examples" / "fhir"


@pytest.fixture
def app(tmp_path: Path, shipped_url: str) -> Any:
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "test", "DATABASE_URL": shipped_url})
    with app.extensions["priorauth.db"].transaction() as session:
        cases.organization(session)
    add_user(app, "coo@example.org", "coordinator", totp=True)
    add_user(app, "man@example.org", "manager", totp=True)
    return app


def _client(app: Any, email: str = "coo@example.org") -> Any:
    client = app.test_client()
    assert sign_in(client, app, email).status_code == 302
    return client


def _count(app: Any) -> int:
    with app.extensions["priorauth.db"].transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Case)))


TYPED = {
    "payer": "acme",
    "plan_type": "commercial",
    "member_id": "ACM1",
    "eligibility": "active",
    "patient_id": "P-77",
    "patient_name": "Rivera, Sam",
    "birth_date": "1970-01-02",
    "sex": "F",
    "codes": "72148",
    "units": "1",
    "service_date": "2026-12-03",
    "diagnoses": "M54.50, M51.16",
    "urgency": "standard",
}


def test_a_case_typed_in_is_created_and_evaluated(app: Any) -> None:
    coo = _client(app)
    page = coo.get("/cases/new").get_data(as_text=True)
    assert 'for="f-payer"' in page and 'for="files"' in page
    assert page.index('for="f-patient_id"') < page.index('for="f-patient_name"')
    assert "Patient name (Family, Given)" in page
    response = coo.post("/cases/new", data={"csrf_token": csrf_token(page), **TYPED})
    assert response.status_code == 302
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case))
        assert case.facts["service"]["codes"] == ["72148"] and case.facts["diagnoses"] == ["M54.50", "M51.16"]
        assert case.facts["patient"]["name"] == "Rivera, Sam"
        assert (case.ruleset_id, case.stage) == ("acme-commercial", "packet-prep")


def test_bad_fields_are_named_beside_their_inputs_and_nothing_is_created(app: Any) -> None:
    coo = _client(app)
    token = csrf_token(coo.get("/cases/new").get_data(as_text=True))
    bad = {**TYPED, "codes": "", "birth_date": "02/30/1970", "ordering_npi": "123", "patient_name": "N" * 201}
    response = coo.post("/cases/new", data={"csrf_token": token, **bad})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "The case was not created" in body
    assert 'id="e-codes"' in body and 'id="e-birth_date"' in body and 'id="e-ordering_npi"' in body
    assert 'id="e-patient_name"' in body and "longer than 200 characters" in body
    assert 'value="ACM1"' in body  # what was typed is kept
    assert _count(app) == 0


def test_importing_a_bundle_a_worklist_and_a_bad_bundle(app: Any) -> None:
    coo = _client(app)
    token = csrf_token(coo.get("/cases/new").get_data(as_text=True))
    bundle = sorted(BUNDLES.glob("*.json"))[0].read_bytes()
    broken = json.loads(bundle)
    broken["entry"][0]["resource"]["birthDate"] = "1970-13-45"
    worklist = (
        b"payer,codes,patient_id,birth_date,service_date\n"
        b"acme,72148,P1,1970-01-01,2026-12-03\n"
        b"acme,,P2,1970-01-01,2026-12-03\n"
        b"acme,97110,P3,1970-01-01,2026-12-03\n"
    )
    response = coo.post(
        "/cases/import",
        data={
            "csrf_token": token,
            "files": [
                (io.BytesIO(bundle), "bundle.json"),
                (io.BytesIO(json.dumps(broken).encode()), "broken.json"),
                (io.BytesIO(worklist), "worklist.csv"),
            ],
        },
        content_type="multipart/form-data",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "3 cases created" in body
    assert "worklist.csv:3:codes: required, and empty in this row" in body
    assert "broken.json: " in body and "1970-13-45" not in body  # the path, never the value
    assert _count(app) == 3


def test_not_json_is_named_with_its_line_and_column(app: Any) -> None:
    coo = _client(app)
    token = csrf_token(coo.get("/cases/new").get_data(as_text=True))
    response = coo.post(
        "/cases/import",
        data={"csrf_token": token, "files": [(io.BytesIO(b'{"coverage":\n  {"payer": }}'), "case.json")]},
        content_type="multipart/form-data",
    )
    assert (
        "case.json:2:13: not valid JSON (Expecting value)" in response.get_data(as_text=True)
        and _count(app) == 0
    )


def test_correcting_facts_re_evaluates_and_keeps_what_the_page_does_not_show(app: Any) -> None:
    example = json.loads((ROOT / "examples" / "cases" / "mri-lumbar-acme-missing-therapy.json").read_text())
    with app.extensions["priorauth.db"].transaction() as session:
        reference = cases.create(session, cases.organization(session), "seed", example).reference
    coo = _client(app)
    page = coo.get(f"/cases/{reference}/facts").get_data(as_text=True)
    assert 'value="ACM482913570"' in page and "conservative_therapy_weeks" in page
    fields = {**TYPED, "member_id": "ACM-NEW", "diagnoses": "M54.50"}
    response = coo.post(
        f"/cases/{reference}/facts", data={"csrf_token": csrf_token(page), "action": "fields", **fields}
    )
    assert response.status_code == 302
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case.facts["coverage"]["member_id"] == "ACM-NEW" and case.facts["diagnoses"] == ["M54.50"]
        assert case.facts["clinical"]["conservative_therapy_weeks"] == 3  # kept
        assert "group" in case.facts["coverage"]  # not on the page: kept
        whys = list(session.scalars(select(CaseDecision.why).where(CaseDecision.case_id == case.id)))
    assert whys == ["intake", "facts"]
    # JSON: a wrong type names its path, and nothing changes
    bad = json.loads(json.dumps(example))
    bad["service"]["units"] = "two"
    response = coo.post(
        f"/cases/{reference}/facts",
        data={"csrf_token": csrf_token(page), "action": "json", "facts": json.dumps(bad)},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "service.units" in body and "Nothing was saved" in body
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case.facts["service"]["units"] == 1 and len(case.decisions) == 2


def test_the_patients_name_is_shown_on_the_facts_page_and_an_empty_field_removes_it(app: Any) -> None:
    coo = _client(app)
    token = csrf_token(coo.get("/cases/new").get_data(as_text=True))
    assert coo.post("/cases/new", data={"csrf_token": token, **TYPED}).status_code == 302
    with app.extensions["priorauth.db"].transaction() as session:
        reference = session.scalar(select(Case.reference))
    page = coo.get(f"/cases/{reference}/facts").get_data(as_text=True)
    assert 'name="patient_name" type="text" value="Rivera, Sam"' in page
    fields = {**TYPED, "patient_name": ""}
    response = coo.post(
        f"/cases/{reference}/facts", data={"csrf_token": csrf_token(page), "action": "fields", **fields}
    )
    assert response.status_code == 302
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert "name" not in case.facts["patient"] and case.facts["patient"]["id"] == "P-77"


def test_managers_cannot_enter_cases(app: Any) -> None:
    man = _client(app, "man@example.org")
    assert man.get("/cases/new").status_code == 403
    assert "New case" not in man.get("/cases/").get_data(as_text=True)


def test_a_case_the_rules_refuse_in_an_import_leaves_the_others_made(app: Any) -> None:
    coo = _client(app)
    token = csrf_token(coo.get("/cases/new").get_data(as_text=True))
    good = json.loads((ROOT / "examples" / "cases" / "mri-lumbar-acme-ready.json").read_text())
    bad = json.loads(json.dumps(good))
    bad["service"]["units"] = "two"
    response = coo.post(
        "/cases/import",
        data={
            "csrf_token": token,
            "files": [
                (io.BytesIO(json.dumps(bad).encode()), "bad.json"),
                (io.BytesIO(json.dumps(good).encode()), "good.json"),
            ],
        },
        content_type="multipart/form-data",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "1 case created" in body
    assert "bad.json: service.units: expected a number" in body
    assert _count(app) == 1
