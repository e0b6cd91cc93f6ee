"""The web app without a browser: security headers, CSRF, errors as pages, drafts, what the server judges.

The readiness pages need a signed-in coordinator (admin/auth.py): `client` is one, signed in with
password and authenticator code as anyone would be (tests/accounts.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire

from admin import create_app
from admin.config import ConfigError
from admin.db import NotMigrated
from admin.library import LibraryError
from tests.accounts import FAST_HASH, add_user, sign_in

ROOT = Path(__file__).resolve().parents[2]

FORM = "/forms/imaging-readiness"


COORDINATOR = "cora@example.org"


@pytest.fixture
def app(tmp_path: Path, shipped_url: str) -> Any:
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "test",
            "WTF_CSRF_ENABLED": False,
            "DATABASE_URL": shipped_url,
            **FAST_HASH,
        }
    )
    add_user(app, COORDINATOR, "coordinator", totp=True)
    return app


@pytest.fixture
def client(app: Any) -> Any:
    client = app.test_client()
    assert sign_in(client, app, COORDINATOR).headers["Location"] == "/"
    return client


def _csrf_app(tmp_path: Path, shipped_url: str) -> tuple[Any, Any]:
    """An app that checks CSRF tokens, and a coordinator's client signed in to it."""
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "test", "DATABASE_URL": shipped_url, **FAST_HASH}
    )
    add_user(app, COORDINATOR, "coordinator", totp=True)
    client = app.test_client()
    assert sign_in(client, app, COORDINATOR).headers["Location"] == "/"
    return app, client


def _post(client: Any, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data=data)


def test_every_page_carries_a_strict_content_security_policy_and_no_store(client: Any) -> None:
    response = client.get(f"{FORM}?case=")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script>" not in response.get_data(as_text=True)  # nothing inline: the CSP would block it


def test_a_post_without_its_csrf_token_is_refused_with_a_page_that_says_what_to_do(
    tmp_path: Path, shipped_url: str
) -> None:
    _app, client = _csrf_app(tmp_path, shipped_url)
    response = client.post(f"{FORM}?case=", data={"action": "draft", "symptom_weeks": "3"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "This page expired" in body and "Traceback" not in body
    assert not (tmp_path / "drafts").exists()  # nothing was saved


def test_a_post_with_its_csrf_token_is_accepted(tmp_path: Path, shipped_url: str) -> None:
    _app, client = _csrf_app(tmp_path, shipped_url)
    page = client.get(f"{FORM}?case=").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = client.post(f"{FORM}?case=", data={"csrf_token": token.group(1), "action": "draft"})
    assert response.status_code == 302


@pytest.mark.parametrize(
    "url", ["/forms/no-such-form", f"{FORM}?case=no-such-case", f"{FORM}?case=../../etc/passwd"]
)
def test_unknown_forms_and_cases_are_a_404_page_not_a_traceback(client: Any, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert "There is nothing at this address" in response.get_data(as_text=True)


def test_an_oversized_post_is_a_413_page(client: Any) -> None:
    response = client.post(f"{FORM}?case=", data={"clinical_question": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    assert "larger than this page accepts" in response.get_data(as_text=True)


def test_checking_bad_answers_lists_every_error_and_keeps_what_was_typed(client: Any) -> None:
    response = _post(
        client,
        f"{FORM}?case=",
        {
            "action": "check",
            "symptom_weeks": "eight",
            "body_region": "spine-lumbar",
            "clinical_question": "<b>x</b>",
        },
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Weeks of symptoms must be a whole number, like 12" in body
    assert "Clinical question the study should answer must have at least 10 characters" in body
    assert "Conservative therapy tried needs at least 1 choice" in body
    assert 'value="eight"' in body  # typed text is kept
    assert "&lt;b&gt;x&lt;/b&gt;" in body and "<b>x</b>" not in body  # and escaped


def test_answers_to_hidden_questions_are_dropped_by_the_server(client: Any) -> None:
    answers = {
        "action": "check",
        "body_region": "spine-lumbar",
        "clinical_question": "Left L5 radiculopathy: herniation?",
        "symptom_weeks": "8",
        "conservative_therapy": ["none"],
        "therapy_weeks": "not a number",  # hidden when "none" is ticked: never read
        "red_flags": ["cauda-equina"],
        "prior_imaging": "false",
        "prior_imaging_date": "2026-02-30",  # hidden while prior_imaging is false
    }
    response = _post(client, f"{FORM}?case=", answers)
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    assert "The form is complete" in body
    assert "clinical.conservative_therapy_weeks" not in body


def test_a_draft_is_saved_atomically_and_shown_again(client: Any, app: Any) -> None:
    response = _post(client, "/forms/pt-readiness?case=", {"action": "draft", "visits_requested": "12"})
    assert response.status_code == 302
    draft = Path(app.config["INSTANCE_PATH"]) / "drafts" / "pt-readiness" / "_blank.json"
    saved = json.loads(draft.read_text())
    assert saved["typed"]["visits_requested"] == "12" and saved["form_version"] == 2
    assert not list(draft.parent.glob(".draft-*"))  # no temporary file left behind
    body = client.get("/forms/pt-readiness?case=").get_data(as_text=True)
    assert 'value="12"' in body and "Showing the draft saved" in body
    _post(client, "/forms/pt-readiness?case=", {"action": "discard"})
    assert not draft.exists()


def test_the_case_answers_and_facts_prefill_the_form(client: Any) -> None:
    body = client.get(f"{FORM}?case=mri-lumbar-acme-ready").get_data(as_text=True)
    assert "Ready to send" in body
    assert re.search(r'id="f-symptom_weeks" name="symptom_weeks" value="\d+"', body)


def test_the_questionnaire_download_is_a_valid_fhir_questionnaire(client: Any) -> None:
    response = client.get(f"{FORM}/questionnaire.json")
    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    Questionnaire.model_validate(response.get_json())


def test_the_app_refuses_to_start_on_an_unmigrated_database_and_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(NotMigrated, match=r"has no priorauth tables yet: run `priorauth db upgrade`"):
        create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"})


def test_a_broken_example_case_stops_the_app_with_its_file(tmp_path: Path, shipped_url: str) -> None:
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "bad.json").write_text("[1, 2]")
    with pytest.raises(LibraryError, match=r"bad\.json:1: an example case must be a JSON object"):
        create_app(
            {"INSTANCE_PATH": str(tmp_path), "EXAMPLES_DIR": str(examples), "DATABASE_URL": shipped_url}
        )


def test_a_newly_published_form_version_shows_on_the_next_request(client: Any, app: Any) -> None:
    from admin import store

    text = (
        (ROOT / "forms" / "pt-readiness.yaml")
        .read_text()
        .replace("title: Outpatient therapy readiness", "title: Therapy readiness", 1)
    )
    db = app.extensions["priorauth.db"]
    with db.transaction() as session:
        store.push(session, "test", "form", [("pt.yaml", text)], publish_now=True)
    assert "Therapy readiness (physical" in client.get("/forms/").get_data(as_text=True)


def test_an_unknown_engine_setting_is_a_clear_configuration_error(tmp_path: Path, shipped_url: str) -> None:
    with pytest.raises(ConfigError, match="set it to durable or compiled"):
        create_app({"INSTANCE_PATH": str(tmp_path), "ENGINE": "fast", "DATABASE_URL": shipped_url})


def test_the_secret_key_is_made_once_and_kept_private(tmp_path: Path, shipped_url: str) -> None:
    first = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": shipped_url}).config["SECRET_KEY"]
    second = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": shipped_url}).config["SECRET_KEY"]
    assert first == second and len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
