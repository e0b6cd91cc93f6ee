"""Readiness forms filled from a case page: prefilled from facts, saved with the form version, and
the case re-evaluated (its decision history says why)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from admin import cases, create_app
from admin.models import AuditEvent
from admin.models_cases import Case, CaseAnswers, CaseDecision, Organization
from tests.accounts import add_user, csrf_token, sign_in

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "cases" / "mri-lumbar-acme-missing-therapy.json"
FORM = "imaging-readiness"


@pytest.fixture
def app(tmp_path: Path, shipped_url: str) -> Any:
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "test", "DATABASE_URL": shipped_url})
    facts = json.loads(EXAMPLE.read_text())
    facts.pop("answers")  # the form is not started: the page prefills from the facts
    facts.pop("case_id")
    with app.extensions["priorauth.db"].transaction() as session:
        app.config["CASE"] = cases.create(session, cases.organization(session), "seed", facts).reference
    add_user(app, "coo@example.org", "coordinator", totp=True)
    add_user(app, "man@example.org", "manager", totp=True)
    add_user(app, "ana@example.org", "analyst", totp=True)
    return app


def _client(app: Any, email: str) -> Any:
    client = app.test_client()
    assert sign_in(client, app, email).status_code == 302
    return client


def _case(app: Any) -> tuple[Case, list[str], list[CaseAnswers]]:
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == app.config["CASE"]))
        session.expunge(case)
        whys = list(session.scalars(select(CaseDecision.why).where(CaseDecision.case_id == case.id)))
        rows = list(session.scalars(select(CaseAnswers).where(CaseAnswers.case_id == case.id)))
        for row in rows:
            session.expunge(row)
        return case, whys, rows


GOOD = {
    "body_region": "spine-lumbar",
    "contrast": "without",
    "clinical_question": "Lumbar radiculopathy, left L5: disc herniation?",
    "symptom_weeks": "9",
    "conservative_therapy": ["nsaids", "physical-therapy"],
    "therapy_weeks": "7",
    "prior_imaging": "false",
}


def test_the_case_page_lists_the_form_and_the_form_is_prefilled_from_the_facts(app: Any) -> None:
    coo = _client(app, "coo@example.org")
    reference = app.config["CASE"]
    page = coo.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Readiness forms" in page and f"/cases/{reference}/forms/{FORM}" in page
    assert "not started" in page
    form = coo.get(f"/cases/{reference}/forms/{FORM}")
    body = form.get_data(as_text=True)
    assert form.status_code == 200 and "came from the case" in body
    assert 'value="5"' in body  # clinical.symptom_weeks prefilled into "Weeks of symptoms"


def test_saving_a_complete_form_re_evaluates_the_case_and_keeps_the_form_version(app: Any) -> None:
    coo = _client(app, "coo@example.org")
    reference = app.config["CASE"]
    before, whys, _ = _case(app)
    assert before.stage == "packet-prep" and not before.decision["ready"]
    token = csrf_token(coo.get(f"/cases/{reference}/forms/{FORM}").get_data(as_text=True))
    response = coo.post(f"/cases/{reference}/forms/{FORM}", data={"csrf_token": token, **GOOD})
    assert response.status_code == 302 and response.headers["Location"].endswith("#forms-title")
    after, whys_after, rows = _case(app)
    assert whys_after == [*whys, f"form {FORM}"]
    assert after.facts["answers"][FORM]["therapy_weeks"] == 7
    assert [(r.form_id, r.form_version, r.complete) for r in rows] == [(FORM, 3, True)]
    assert after.decision != before.decision
    page = coo.get(f"/cases/{reference}").get_data(as_text=True)
    assert "complete" in page and "imaging-readiness: complete" not in page
    with app.extensions["priorauth.db"].transaction() as session:
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == reference)))
    assert actions[-2:] == ["edit", "answers"]


def test_unreadable_answers_are_shown_again_and_the_readable_ones_are_saved(app: Any) -> None:
    coo = _client(app, "coo@example.org")
    reference = app.config["CASE"]
    token = csrf_token(coo.get(f"/cases/{reference}/forms/{FORM}").get_data(as_text=True))
    response = coo.post(
        f"/cases/{reference}/forms/{FORM}",
        data={"csrf_token": token, **GOOD, "symptom_weeks": "nine", "clinical_question": "short"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "There are 2 problems" in body
    assert 'value="nine"' in body  # typed text kept to fix
    _, _, rows = _case(app)
    assert len(rows) == 1 and not rows[0].complete and "symptom_weeks" not in rows[0].answers


def test_managers_may_look_but_not_save_and_analysts_may_not_look(app: Any) -> None:
    reference = app.config["CASE"]
    man = _client(app, "man@example.org")
    page = man.get(f"/cases/{reference}/forms/{FORM}")
    assert page.status_code == 200 and "Save answers" not in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    assert man.post(f"/cases/{reference}/forms/{FORM}", data={"csrf_token": token, **GOOD}).status_code == 403
    assert _case(app)[2] == []
    ana = _client(app, "ana@example.org")
    assert ana.get(f"/cases/{reference}/forms/{FORM}").status_code == 403


def test_another_organizations_case_and_an_unknown_form_are_not_found(app: Any) -> None:
    with app.extensions["priorauth.db"].transaction() as session:
        other = Organization(slug="other", name="Other clinic")
        session.add(other)
        session.flush()
        theirs = cases.create(session, other, "x", json.loads(EXAMPLE.read_text())).reference
    coo = _client(app, "coo@example.org")
    # the coordinator has no organization set: the only... there are two now, so set it
    with app.extensions["priorauth.db"].transaction() as session:
        from admin.models import User

        mine = session.scalar(select(Organization).where(Organization.slug == "default"))
        session.scalar(select(User).where(User.email == "coo@example.org")).organization_id = mine.id
    assert coo.get(f"/cases/{theirs}/forms/{FORM}").status_code == 404
    assert coo.get(f"/cases/{app.config['CASE']}/forms/no-such-form").status_code == 404


def test_a_save_without_its_csrf_token_changes_nothing(app: Any) -> None:
    coo = _client(app, "coo@example.org")
    reference = app.config["CASE"]
    assert coo.post(f"/cases/{reference}/forms/{FORM}", data=GOOD).status_code == 400
    assert _case(app)[2] == []
