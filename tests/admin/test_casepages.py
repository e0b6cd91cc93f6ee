"""The coordinator's screens: the queue, aging, the case page and its actions; roles and organizations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from admin import cases, create_app
from admin.models import User
from admin.models_cases import Case, Organization
from tests.accounts import add_user, csrf_token, sign_in

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "cases").glob("*.json"))


@pytest.fixture
def app(tmp_path: Path, shipped_url: str) -> Any:
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "test", "DATABASE_URL": shipped_url})
    with app.extensions["priorauth.db"].transaction() as session:
        org = cases.organization(session)
        for path in EXAMPLES:
            cases.create(session, org, "seed", json.loads(path.read_text()))
    add_user(app, "coo@example.org", "coordinator", totp=True)
    add_user(app, "man@example.org", "manager", totp=True)
    add_user(app, "ana@example.org", "analyst", totp=True)
    return app


def _client(app: Any, email: str) -> Any:
    client = app.test_client()
    assert sign_in(client, app, email).status_code == 302
    return client


def _reference(app: Any, stage: str) -> str:
    with app.extensions["priorauth.db"].transaction() as session:
        return str(
            session.scalars(select(Case.reference).where(Case.stage == stage).order_by(Case.id)).first()
        )


def test_the_queue_counts_stages_and_filters(app: Any) -> None:
    coo = _client(app, "coo@example.org")
    body = coo.get("/cases/").get_data(as_text=True)
    assert "Work queue" in body and 'Packet prep <span class="count">' in body
    submit = coo.get("/cases/?stage=submit").get_data(as_text=True)
    assert "Submit the request to the payer" in submit and "Gather 1 missing item" not in submit
    acme = coo.get("/cases/?payer=acme").get_data(as_text=True)
    assert "bluelake" not in acme.split("<tbody>")[1]
    assert "Aging by payer" in body and coo.get("/cases/aging").status_code == 200


def test_the_case_page_explains_the_decision_and_records_a_submission(app: Any) -> None:
    coo = _client(app, "coo@example.org")
    reference = _reference(app, "submit")
    page = coo.get(f"/cases/{reference}").get_data(as_text=True)
    assert "The rules' decision" in page and "Rules that fired" in page
    response = coo.post(
        f"/cases/{reference}/submit", data={"csrf_token": csrf_token(page), "payer_reference": "PAY-1"}
    )
    assert response.status_code == 302
    after = coo.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Recorded as submitted." in after and "stage <strong>follow-up</strong>" in after


def test_an_illegal_move_is_refused_with_the_allowed_ones_and_nothing_changes(app: Any) -> None:
    coo = _client(app, "coo@example.org")
    reference = _reference(app, "packet-prep")
    page = coo.get(f"/cases/{reference}").get_data(as_text=True)
    coo.post(
        f"/cases/{reference}/respond",
        data={"csrf_token": csrf_token(page), "status": "approved", "auth_number": "A"},
    )
    after = coo.get(f"/cases/{reference}").get_data(as_text=True)
    assert (
        "cannot go from draft to approved: from draft a case can go to ready, not-required, cancelled"
        in after
    )
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert (case.status, case.auth_number) == ("draft", None)


def test_another_organizations_case_is_not_found(app: Any) -> None:
    with app.extensions["priorauth.db"].transaction() as session:
        other = Organization(slug="other", name="Other clinic")
        session.add(other)
        session.flush()
        theirs = cases.create(session, other, "x", json.loads(EXAMPLES[0].read_text())).reference
        mine = session.scalar(select(Organization).where(Organization.slug == "default"))
        user = session.scalar(select(User).where(User.email == "coo@example.org"))
        user.organization_id = mine.id
    coo = _client(app, "coo@example.org")
    assert coo.get(f"/cases/{theirs}").status_code == 404
    assert coo.get("/cases/PA-DOESNOTEXIST").status_code == 404


def test_managers_see_cases_but_cannot_change_them_and_analysts_do_not_see_them(app: Any) -> None:
    reference = _reference(app, "submit")
    man = _client(app, "man@example.org")
    page = man.get(f"/cases/{reference}")
    assert page.status_code == 200 and "Record as submitted" not in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    assert man.post(f"/cases/{reference}/submit", data={"csrf_token": token}).status_code == 403
    ana = _client(app, "ana@example.org")
    assert ana.get("/cases/").status_code == 403 and ana.get(f"/cases/{reference}").status_code == 403


def test_a_post_without_its_csrf_token_changes_nothing(app: Any) -> None:
    coo = _client(app, "coo@example.org")
    reference = _reference(app, "submit")
    assert coo.post(f"/cases/{reference}/submit", data={}).status_code == 400
    with app.extensions["priorauth.db"].transaction() as session:
        assert session.scalar(select(Case.status).where(Case.reference == reference)) == "draft"


def test_a_case_the_rules_do_not_need_authorized_is_closed_as_not_required(app: Any) -> None:
    coo = _client(app, "coo@example.org")
    with app.extensions["priorauth.db"].transaction() as session:
        reference = next(
            c.reference
            for c in session.scalars(select(Case).where(Case.status == "draft"))
            if (c.decision or {}).get("auth") == "not-required"
        )
    page = coo.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Close as not required" in page and "Record as submitted" not in page
    coo.post(f"/cases/{reference}/respond", data={"csrf_token": csrf_token(page), "status": "not-required"})
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert (case.status, case.stage) == ("not-required", "done")


def test_the_queue_filters_by_the_rules_work_queue(app: Any) -> None:
    coo = _client(app, "coo@example.org")
    with app.extensions["priorauth.db"].transaction() as session:
        found = {
            (c.reference, c.work_queue) for c in session.scalars(select(Case).where(Case.stage != "done"))
        }
    queues = {q for _, q in found if q}
    assert "imaging" in queues and len(queues) > 1
    body = coo.get("/cases/?queue=imaging").get_data(as_text=True)
    rows = body.split("<tbody>")[1]
    assert 'for="f-queue">Queue</label>' in body
    for reference, queue in found:
        assert (reference in rows) == (queue == "imaging"), (reference, queue)
