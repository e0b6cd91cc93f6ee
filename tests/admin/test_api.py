"""The JSON API: tokens and scopes, the store's checks as 4xx JSON, the OpenAPI document."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from sqlalchemy import select

from admin import create_app, tokens
from admin.models import AuditEvent, Role, User

ROOT = Path(__file__).resolve().parents[2]
CASE = json.loads((ROOT / "examples" / "cases" / "mri-lumbar-acme-ready.json").read_text())
PT = (ROOT / "forms" / "pt-readiness.yaml").read_text()


@pytest.fixture
def app(tmp_path: Path, shipped_url: str) -> Any:
    return create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "test", "DATABASE_URL": shipped_url})


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def _user(app: Any, email: str, *roles: str) -> None:
    with app.extensions["priorauth.db"].transaction() as session:
        found = {r.name: r for r in session.scalars(select(Role))}
        user = User(email=email, active=True, fs_uniquifier=uuid.uuid4().hex, password=None)
        user.roles = [found.get(name) or Role(name=name) for name in roles]
        session.add(user)


def _token(app: Any, email: str, *scopes: str) -> str:
    with app.extensions["priorauth.db"].transaction() as session:
        user = session.scalar(select(User).where(User.email == email))
        return tokens.create(session, "test", user, "test token", scopes)[1]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def it_token(app: Any) -> str:
    _user(app, "it@example.org", "it")
    return _token(app, "it@example.org", "forms.read", "forms.write", "forms.publish", "cases.evaluate")


def test_the_openapi_document_is_valid_and_names_every_api_route(client: Any, app: Any) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    documented = {re.sub(r"\{[^}]+\}", "{}", path) for path in spec["paths"]}
    routes = {
        re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "{}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.endpoint != "api.openapi"
    }
    assert routes == documented


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer pa_0000_bad"])
def test_without_a_valid_token_every_route_is_401_json(client: Any, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for method, url in (("get", "/api/rulesets"), ("post", "/api/forms/push"), ("post", "/api/evaluate")):
        response = getattr(client, method)(url, headers=headers, json={})
        assert response.status_code == 401, url
        assert response.get_json()["errors"][0]["message"].startswith(
            ("this API needs a token", "the token is")
        )


def test_a_token_without_the_scope_is_403_and_names_the_scope(client: Any, app: Any) -> None:
    _user(app, "ana@example.org", "analyst")
    token = _token(app, "ana@example.org", "forms.read")
    response = client.post("/api/evaluate", headers=_auth(token), json=CASE)
    assert response.status_code == 403
    assert response.get_json() == {
        "errors": [
            {
                "message": "this token lacks the scope `cases.evaluate` (evaluate case facts against what is published)"
            }
        ]
    }


def test_a_token_cannot_be_made_with_scopes_beyond_its_users_roles(app: Any) -> None:
    _user(app, "ana@example.org", "analyst")
    with pytest.raises(tokens.TokenError, match=r"may not grant rulesets\.publish \(roles: analyst\)"):
        _token(app, "ana@example.org", "rulesets.publish")


def test_listing_and_reading_versions(client: Any, it_token: str) -> None:
    listed = client.get("/api/forms", headers=_auth(it_token)).get_json()["forms"]
    assert {v["id"] for v in listed} >= {"imaging-readiness", "pt-readiness"}
    one = client.get("/api/forms/pt-readiness/versions/2", headers=_auth(it_token)).get_json()
    assert one["status"] == "published" and one["text"] == PT
    missing = client.get("/api/forms/pt-readiness/versions/9", headers=_auth(it_token))
    assert missing.status_code == 404 and "has no version 9" in missing.get_json()["errors"][0]["message"]


def test_a_push_and_publish_goes_live_and_is_audited_with_the_token(
    client: Any, app: Any, it_token: str
) -> None:
    text = PT.replace("title: Outpatient", "title: Clinic", 1)
    response = client.post(
        "/api/forms/push",
        headers=_auth(it_token),
        json={"files": [{"name": "pt.yaml", "text": text}], "publish": True},
    )
    assert response.status_code == 200, response.get_json()
    [result] = response.get_json()["results"]
    assert (result["id"], result["outcome"], result["version"], result["replaced"]) == (
        "pt-readiness",
        "published",
        3,
        2,
    )
    with app.extensions["priorauth.db"].transaction() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert last.action == "publish" and re.fullmatch(r"token:[0-9a-f]{8} \(it@example\.org\)", last.actor)


def test_a_packet_template_is_pushed_and_published_through_the_api_and_a_bad_one_named_at_its_line(
    client: Any, app: Any
) -> None:
    _user(app, "it@example.org", "it")
    token = _token(app, "it@example.org", "templates.read", "templates.write", "templates.publish")
    text = (
        (ROOT / "forms" / "packets" / "standard-request.yaml")
        .read_text()
        .replace("title: Prior authorization request (standard form)", "title: Standard request, 2027", 1)
    )
    response = client.post(
        "/api/templates/push",
        headers=_auth(token),
        json={"files": [{"name": "s.yaml", "text": text}], "publish": True},
    )
    assert response.status_code == 200, response.get_json()
    [result] = response.get_json()["results"]
    assert (result["id"], result["outcome"], result["version"]) == ("standard-request", "published", 2)
    broken = text.replace("{{ payer.name }}", "{{ payer.name ", 1)
    refused = client.post(
        "/api/templates/push", headers=_auth(token), json={"files": [{"name": "b.yaml", "text": broken}]}
    )
    assert refused.status_code == 422
    [error] = refused.get_json()["errors"]
    assert error["file"] == "b.yaml" and error["line"] and error["message"].startswith("template syntax")


def test_a_push_with_one_bad_file_is_422_with_file_and_line_and_changes_nothing(
    client: Any, it_token: str
) -> None:
    bad = PT.replace("form: pt-readiness", "form: pt-two\nbogus_key: 1", 1)
    files = [
        {"name": "good.yaml", "text": PT.replace("title: Outpatient", "title: X", 1)},
        {"name": "bad.yaml", "text": bad},
    ]
    response = client.post("/api/forms/push", headers=_auth(it_token), json={"files": files, "publish": True})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors and all(e["file"] == "bad.yaml" and e["line"] for e in errors)
    versions = client.get("/api/forms/pt-readiness", headers=_auth(it_token)).get_json()["versions"]
    assert [v["version"] for v in versions] == [2]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ('{"files": [', "application/json", 400, "the body is not valid JSON"),
        ("{}", "text/plain", 415, "send the body as JSON"),
        ('{"files": "x"}', "application/json", 400, 'send {"files": ['),
        (
            '{"files": [{"name": "a", "text": "b"}], "publish": "yes"}',
            "application/json",
            400,
            'send {"files": [',
        ),
    ],
)
def test_bad_bodies_are_4xx_with_a_sentence(
    client: Any, it_token: str, body: str, content_type: str, status: int, message: str
) -> None:
    response = client.post("/api/forms/push", headers=_auth(it_token), data=body, content_type=content_type)
    assert response.status_code == status
    assert response.get_json()["errors"][0]["message"].startswith(message)


def test_publishing_needs_the_publish_scope(client: Any, app: Any) -> None:
    _user(app, "ana@example.org", "analyst")
    token = _token(app, "ana@example.org", "forms.write")
    body = {
        "files": [{"name": "pt.yaml", "text": PT.replace("title: Outpatient", "title: X", 1)}],
        "publish": True,
    }
    response = client.post("/api/forms/push", headers=_auth(token), json=body)
    assert response.status_code == 403 and "forms.publish" in response.get_json()["errors"][0]["message"]
    body["publish"] = False
    response = client.post("/api/forms/push", headers=_auth(token), json=body)
    assert response.status_code == 200 and response.get_json()["results"][0]["outcome"] == "draft"
    version_id = response.get_json()["results"][0]["version_id"]
    response = client.post(f"/api/forms/versions/{version_id}/publish", headers=_auth(token))
    assert response.status_code == 403


def test_an_illegal_transition_is_409(client: Any, it_token: str) -> None:
    versions = client.get("/api/forms/pt-readiness", headers=_auth(it_token)).get_json()["versions"]
    response = client.post(f"/api/forms/versions/{versions[0]['version_id']}/submit", headers=_auth(it_token))
    assert response.status_code == 409
    assert (
        "is published; 'submit' takes a version that is draft" in response.get_json()["errors"][0]["message"]
    )


def test_evaluate_returns_the_decision_and_names_the_path_of_a_wrong_type(client: Any, it_token: str) -> None:
    response = client.post("/api/evaluate", headers=_auth(it_token), json=CASE)
    assert response.status_code == 200 and response.get_json()["ruleset"]["id"] == "acme-commercial"
    bad = {**CASE, "service": {**CASE["service"], "units": "two"}}
    response = client.post("/api/evaluate", headers=_auth(it_token), json=bad)
    assert response.status_code == 422
    [error] = response.get_json()["errors"]
    assert error["path"] == "service.units" and "two" not in error["message"]


def test_a_revoked_token_and_a_removed_role_stop_working_at_once(
    client: Any, app: Any, it_token: str
) -> None:
    assert client.get("/api/forms", headers=_auth(it_token)).status_code == 200
    with app.extensions["priorauth.db"].transaction() as session:
        user = session.scalar(select(User).where(User.email == "it@example.org"))
        user.roles = []
    assert client.get("/api/forms", headers=_auth(it_token)).status_code == 403
    with app.extensions["priorauth.db"].transaction() as session:
        row_id = session.scalars(select(tokens.ApiToken)).first().id
        tokens.revoke(session, "admin", row_id)
    assert client.get("/api/forms", headers=_auth(it_token)).status_code == 401


def test_tokens_cli_creates_once_lists_and_revokes(
    capsys: pytest.CaptureFixture[str], app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from admin.cli import main

    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", app.config["DATABASE_URL"])
    _user(app, "it@example.org", "it")
    status = main(["tokens", "create", "--user", "it@example.org", "--name", "ci", "--scope", "forms.read"])
    out, err = capsys.readouterr()
    token = out.strip()
    assert status == 0 and token.startswith("pa_") and "shown only once" in err
    assert app.test_client().get("/api/forms", headers=_auth(token)).status_code == 200
    assert main(["tokens", "list"]) == 0
    listed = capsys.readouterr().out
    assert token not in listed and f"pa_{token.split('_')[1]}_…" in listed
    assert main(["tokens", "revoke", "1"]) == 0
    assert app.test_client().get("/api/forms", headers=_auth(token)).status_code == 401
    status = main(["tokens", "create", "--user", "it@example.org", "--name", "x", "--scope", "audit.read"])
    assert status == 1 and "may not grant audit.read" in capsys.readouterr().err


def test_a_case_posted_as_facts_is_created_evaluated_and_readable(client: Any, app: Any) -> None:
    _user(app, "coo@example.org", "coordinator")
    token = _token(app, "coo@example.org", "cases.write", "cases.read")
    response = client.post("/api/cases", headers=_auth(token), json=CASE)
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["reference"].startswith("PA-") and made["stage"] == "submit" and made["warnings"] == []
    again = client.get(f"/api/cases/{made['reference']}", headers=_auth(token))
    assert again.status_code == 200 and again.get_json()["decision"]["ruleset"]["id"] == "acme-commercial"
    assert client.get("/api/cases/PA-NOPE", headers=_auth(token)).status_code == 404
    bad = client.post("/api/cases", headers=_auth(token), json={**CASE, "urgency": 3})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["path"] == "urgency"


def test_a_fhir_bundle_posted_becomes_a_case_with_its_unmapped_elements_as_warnings(
    client: Any, app: Any
) -> None:
    _user(app, "coo@example.org", "coordinator")
    token = _token(app, "coo@example.org", "cases.write")
    bundle = json.loads((ROOT / "tests" / "fixtures" / "fhir" / "mri-lumbar-acme.bundle.json").read_text())
    response = client.post("/api/cases", headers=_auth(token), json=bundle)
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["decision"]["ruleset"]["id"] == "acme-commercial" and made["warnings"]
    broken = json.loads((ROOT / "tests" / "fixtures" / "fhir" / "invalid-resource.bundle.json").read_text())
    response = client.post("/api/cases", headers=_auth(token), json=broken)
    assert response.status_code == 422 and response.get_json()["errors"][0]["path"].startswith("Bundle.entry")


# -- usage (admin/usage.py; docs/usage.md) ---------------------------------------------------------
def _approved_case(app: Any, units: int = 10) -> str:
    from datetime import date, timedelta

    from admin import cases

    today = date.today()
    with app.extensions["priorauth.db"].transaction() as session:
        case = cases.create(session, cases.organization(session), "seed", CASE)
        cases.submit(session, case, "seed")
        start, end = today - timedelta(days=30), today + timedelta(days=120)
        cases.respond(session, case, "seed", "approved", auth_number="A-1", units=units, start=start, end=end)
        return case.reference


def test_usage_is_recorded_once_per_claim_line_and_read_back_as_the_meter(client: Any, app: Any) -> None:
    from datetime import date

    reference = _approved_case(app)
    _user(app, "coo@example.org", "coordinator")
    token = _token(app, "coo@example.org", "cases.write", "cases.read")
    body = {"on": date.today().isoformat(), "units": 8, "claim_id": "C-1", "code": "72148"}
    response = client.post(f"/api/cases/{reference}/usage", headers=_auth(token), json=body)
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert (made["recorded"], made["already_recorded"], made["warnings"]) == (True, False, [])
    assert (made["usage"]["used"], made["usage"]["remaining"], made["usage"]["percent"]) == (8, 2, 80)
    again = client.post(f"/api/cases/{reference}/usage", headers=_auth(token), json=body)
    assert again.status_code == 200 and again.get_json()["already_recorded"] is True
    meter = client.get(f"/api/cases/{reference}/usage", headers=_auth(token)).get_json()
    months = {m["month"]: m["units"] for m in meter["months"]}
    assert meter["used"] == 8 and months[date.today().strftime("%Y-%m")] == 8 and sum(months.values()) == 8
    assert [(e["units"], e["source"], e["claim_id"]) for e in meter["entries"]] == [(8, "api", "C-1")]
    shown = client.get(f"/api/cases/{reference}", headers=_auth(token)).get_json()
    assert shown["stage"] == "renewal" and shown["approval"]["used"] == 8
    with app.extensions["priorauth.db"].transaction() as session:
        last = session.scalars(select(AuditEvent).where(AuditEvent.action == "usage")).all()
    assert len(last) == 1 and last[0].actor.startswith("token:")


def test_usage_needs_write_to_record_and_read_to_see(client: Any, app: Any) -> None:
    reference = _approved_case(app)
    _user(app, "coo@example.org", "coordinator")
    reader = _token(app, "coo@example.org", "cases.read")
    writer = _token(app, "coo@example.org", "cases.write")
    posted = client.post(f"/api/cases/{reference}/usage", headers=_auth(reader), json={"on": "2026-01-01"})
    assert posted.status_code == 403 and "`cases.write`" in posted.get_json()["errors"][0]["message"]
    read = client.get(f"/api/cases/{reference}/usage", headers=_auth(writer))
    assert read.status_code == 403 and "`cases.read`" in read.get_json()["errors"][0]["message"]
    assert client.get(f"/api/cases/{reference}/usage").status_code == 401


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ('{"on": ', [{"message": "the body is not valid JSON (Expecting value)", "line": 1, "column": 8}]),
        (
            "[1]",
            [{"message": 'send {"on": "YYYY-MM-DD", "units": N} (and "claim_id", "code" for a claim line)'}],
        ),
        (
            '{"on": "2026-02-30", "units": true, "claim_id": 7, "note": "x"}',
            [
                {
                    "message": 'unknown field(s) note: send {"on": "YYYY-MM-DD", "units": N} '
                    '(and "claim_id", "code" for a claim line)'
                },
                {"path": "on", "message": "the date of the service, as a string YYYY-MM-DD"},
                {"path": "units", "message": "the units or visits used, a whole number above 0"},
                {"path": "claim_id", "message": "claim_id is a string (or leave it out)"},
            ],
        ),
    ],
)
def test_a_bad_usage_body_is_a_400_that_names_each_problem(
    client: Any, app: Any, data: str, errors: list[dict[str, Any]]
) -> None:
    reference = _approved_case(app)
    _user(app, "coo@example.org", "coordinator")
    token = _token(app, "coo@example.org", "cases.write", "cases.read")
    response = client.post(
        f"/api/cases/{reference}/usage", headers=_auth(token), data=data, content_type="application/json"
    )
    assert response.status_code == 400 and response.get_json() == {"errors": errors}
    assert client.get(f"/api/cases/{reference}/usage", headers=_auth(token)).get_json()["used"] == 0


def test_usage_the_rules_refuse_is_a_422_and_an_unknown_case_a_404(client: Any, app: Any) -> None:
    from datetime import date, timedelta

    reference = _approved_case(app)
    _user(app, "coo@example.org", "coordinator")
    token = _token(app, "coo@example.org", "cases.write", "cases.read")
    future = (date.today() + timedelta(days=2)).isoformat()
    response = client.post(
        f"/api/cases/{reference}/usage", headers=_auth(token), json={"on": future, "units": 1}
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"path": "on", "message": f"{future} is after today: record usage once the service happened"}
    ]
    missing = client.post("/api/cases/PA-NOPE/usage", headers=_auth(token), json={"on": future, "units": 1})
    assert (
        missing.status_code == 404
        and missing.get_json()["errors"][0]["message"] == "there is no case PA-NOPE"
    )
    assert client.get("/api/cases/PA-NOPE/usage", headers=_auth(token)).status_code == 404
