"""Flask-Admin for analysts and reviewers: the editor, errors at their line, conflicts, try it,
review and publish, compare, backtest, payers, audit; each page refused to the wrong role."""

from __future__ import annotations

import io
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from admin import create_app, store
from admin.models import AuditEvent, DocumentVersion, Payer, Role, User
from tests.accounts import add_user, csrf_token, sign_in

ROOT = Path(__file__).resolve().parents[2]
CASE = {
    "as_of": "2026-11-20",
    "coverage": {"payer": "acme", "plan_type": "commercial"},
    "service": {"codes": ["72148"], "date": "2026-12-03"},
}


@pytest.fixture
def app(tmp_path: Path, shipped_url: str) -> Any:
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "test", "DATABASE_URL": shipped_url})
    add_user(app, "ana@example.org", "analyst", totp=True)
    add_user(app, "rev@example.org", "reviewer", totp=True)
    add_user(app, "coo@example.org", "coordinator", totp=True)
    add_user(app, "adm@example.org", "admin", totp=True)
    return app


def _client(app: Any, email: str) -> Any:
    client = app.test_client()
    response = sign_in(client, app, email)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def _post(client: Any, url: str, data: dict[str, Any], page: str | None = None) -> Any:
    token = csrf_token(client.get(page or url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


# acme-commercial v4 is the 2026 policy the example cases are dated in (v5 is 2027's): the
# analyst edits v4, and what they publish becomes v6, in effect for 2026
BASE = 4


def _new_draft(client: Any) -> int:
    app = client.application
    response = _post(
        client,
        "/admin/rulesets/acme-commercial/draft",
        {"from": _live(app, BASE).id},
        page="/admin/rulesets/acme-commercial",
    )
    assert response.status_code == 302
    return int(response.headers["Location"].rsplit("/", 1)[1])


def _live(app: Any, version: int | None = BASE) -> DocumentVersion:
    """A published version of acme-commercial (the newest with version=None)."""
    with app.extensions["priorauth.db"].transaction() as session:
        row = store.find(session, "ruleset", "acme-commercial", version)
        session.expunge(row)
        return row


def test_an_analyst_edits_sees_the_error_at_its_line_fixes_it_and_a_reviewer_publishes(app: Any) -> None:
    ana = _client(app, "ana@example.org")
    draft = _new_draft(ana)
    edit = f"/admin/rulesets/edit/{draft}"
    page = ana.get(edit).get_data(as_text=True)
    lock = re.search(r'name="lock" value="(\d+)"', page).group(1)
    text = _live(app).text
    broken = text.replace("auth: required, queue: imaging, forms", "auth: requird, queue: imaging, forms", 1)
    response = _post(ana, edit, {"text": broken, "lock": lock, "action": "save"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "1 problem: nothing was saved" in body
    line = 1 + broken[: broken.index("auth: requird")].count("\n")
    assert f'data-line="{line}">line {line}</a>: auth &#39;requird&#39; is not one of required' in body
    assert f'data-errors="[{line}]"' in body
    changed = text.replace("title: ACME Health", "title: ACME Health (revised)", 1)
    response = _post(ana, edit, {"text": changed, "lock": lock, "action": "submit"})
    assert response.status_code == 302
    with app.extensions["priorauth.db"].transaction() as session:
        assert session.get(DocumentVersion, draft).status == "in-review"

    forbidden = _post(
        ana, f"/admin/rulesets/move/{draft}", {"action": "publish"}, page="/admin/rulesets/acme-commercial"
    )
    assert forbidden.status_code == 403

    rev = _client(app, "rev@example.org")
    response = _post(
        rev, f"/admin/rulesets/move/{draft}", {"action": "publish"}, page="/admin/rulesets/acme-commercial"
    )
    assert response.status_code == 302
    live = _live(app, None)
    assert live.version == 6 and "(revised)" in live.text and live.published_by == "web:rev@example.org"
    with app.extensions["priorauth.db"].transaction() as session:
        decision = store.evaluator(session, "durable").evaluate(CASE, date(2026, 11, 20))
    assert decision["ruleset"]["version"] == 6


def test_a_second_save_from_a_stale_page_is_a_conflict_showing_the_other_text(app: Any) -> None:
    ana = _client(app, "ana@example.org")
    draft = _new_draft(ana)
    edit = f"/admin/rulesets/edit/{draft}"
    lock = re.search(r'name="lock" value="(\d+)"', ana.get(edit).get_data(as_text=True)).group(1)
    text = _live(app).text
    assert (
        _post(ana, edit, {"text": text.replace("title: ", "title: First ", 1), "lock": lock}).status_code
        == 302
    )
    response = _post(ana, edit, {"text": text.replace("title: ", "title: Second ", 1), "lock": lock})
    body = response.get_data(as_text=True)
    assert "Someone saved this draft after you opened it" in body and "title: First" in body
    with app.extensions["priorauth.db"].transaction() as session:
        assert "title: First" in session.get(DocumentVersion, draft).text


def test_try_it_evaluates_the_unsaved_text_against_an_example_case(app: Any) -> None:
    ana = _client(app, "ana@example.org")
    draft = _new_draft(ana)
    text = _live(app).text.replace(
        "then: {auth: required, queue: imaging, forms", "then: {auth: review, queue: imaging, forms", 1
    )
    response = _post(
        ana, f"/admin/rulesets/edit/{draft}", {"text": text, "action": "try", "case": "mri-lumbar-acme-ready"}
    )
    body = response.get_data(as_text=True)
    assert "Decision for mri-lumbar-acme-ready" in body and "<strong>review</strong>" in body
    with app.extensions["priorauth.db"].transaction() as session:
        assert session.get(DocumentVersion, draft).text == _live(app).text  # trying saves nothing


NEW_RULE = """rules:
  - id: category-iii-code
    title: A new Category III code needs authorization
    when: {service.codes: {any_in: ['0999T']}}
    then: {auth: required, queue: imaging}
"""


def test_compare_shows_the_new_rule_and_backtest_shows_which_cases_change(app: Any) -> None:
    ana = _client(app, "ana@example.org")
    draft = _new_draft(ana)
    edit = f"/admin/rulesets/edit/{draft}"
    lock = re.search(r'name="lock" value="(\d+)"', ana.get(edit).get_data(as_text=True)).group(1)
    text = _live(app).text.replace("rules:\n", NEW_RULE, 1)
    assert _post(ana, edit, {"text": text, "lock": lock}).status_code == 302
    live_id = _live(app).id
    body = ana.get(f"/admin/rulesets/acme-commercial/compare?a={live_id}&b={draft}").get_data(as_text=True)
    assert "1 change, rule by rule" in body and "category-iii-code</span>: added" in body

    cases = "\n".join(
        json.dumps({**CASE, "case_id": f"C-{n}", "service": {"codes": [code], "date": "2026-12-03"}})
        for n, code in enumerate(["0999T", "72148", "0999T"])
    )
    page = ana.get(f"/admin/rulesets/backtest/{draft}").get_data(as_text=True)
    upload = {
        "csrf_token": csrf_token(page),
        "format": "html",
        "cases": (io.BytesIO(cases.encode()), "cases.jsonl"),
    }
    body = ana.post(
        f"/admin/rulesets/backtest/{draft}", data=upload, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert "2 of 3 cases decide differently" in body
    assert '<td class="pa-mono">C-0</td><td>auth</td><td>unknown</td><td>required</td>' in body
    csv = _post(ana, f"/admin/rulesets/backtest/{draft}", {"format": "csv", "source": "file"})
    assert csv.mimetype == "text/csv" and csv.get_data(as_text=True).startswith("case,field,published,draft")
    bad = {
        "csrf_token": csrf_token(page),
        "format": "html",
        "cases": (io.BytesIO(b'{"a": 1}\n{oops\n'), "c.jsonl"),
    }
    body = ana.post(
        f"/admin/rulesets/backtest/{draft}", data=bad, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert "line 2, column 2: not valid JSON" in body


def test_a_payer_change_is_audited_with_before_and_after(app: Any) -> None:
    ana = _client(app, "ana@example.org")
    page = "/admin/payers/new/"
    response = _post(
        ana,
        page,
        {"id": "acme", "name": "ACME Health", "channels": ["portal", "fax"], "fax_number": "+15555550100"},
    )
    assert response.status_code == 302
    with app.extensions["priorauth.db"].transaction() as session:
        assert session.get(Payer, "acme").channels == ["portal", "fax"]
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.entity_type, event.entity_id, event.actor) == (
        "create",
        "payer",
        "acme",
        "web:ana@example.org",
    )


@pytest.mark.parametrize(
    ("email", "url", "status"),
    [
        ("coo@example.org", "/admin/", 403),
        ("coo@example.org", "/admin/rulesets/", 403),
        ("ana@example.org", "/admin/audit/", 403),
        ("adm@example.org", "/admin/audit/", 200),
        ("rev@example.org", "/admin/audit/verify", 302),
        ("ana@example.org", "/admin/rulesets/", 200),
    ],
)
def test_each_admin_page_is_open_only_to_its_roles(app: Any, email: str, url: str, status: int) -> None:
    assert _client(app, email).get(url).status_code == status


def test_anonymous_people_are_sent_to_sign_in(app: Any) -> None:
    response = app.test_client().get("/admin/rulesets/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_admin_pages_carry_a_nonce_csp_and_the_editor_library_is_served(app: Any) -> None:
    ana = _client(app, "ana@example.org")
    response = ana.get("/admin/rulesets/")
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert f'nonce="{nonce}"' in response.get_data(as_text=True)
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"].split("style-src-attr")[0]
    with ana.get("/vendor/codemirror/lib/codemirror.js") as library:
        assert library.status_code == 200 and library.mimetype == "text/javascript"
    assert ana.get("/vendor/codemirror/package.json").status_code == 404


def test_a_value_set_imported_from_csv_lands_in_the_draft_and_bad_rows_are_named(app: Any) -> None:
    ana = _client(app, "ana@example.org")
    draft = _new_draft(ana)
    edit = f"/admin/rulesets/edit/{draft}"
    page = ana.get(edit).get_data(as_text=True)
    lock = re.search(r'name="lock" value="(\d+)"', page).group(1)
    rows = "code\n" + "\n".join(f"M51.{n}" for n in range(10, 2010)) + "\n72148-72158\n"
    data = {
        "csrf_token": csrf_token(page),
        "lock": lock,
        "name": "big_set",
        "csv": (io.BytesIO(rows.encode()), "codes.csv"),
    }
    response = ana.post(f"/admin/rulesets/import/{draft}", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    assert "Value set big_set: 2,001 codes imported from codes.csv and saved." in ana.get(edit).get_data(
        as_text=True
    )
    with app.extensions["priorauth.db"].transaction() as session:
        text = session.get(DocumentVersion, draft).text
    assert "  big_set:  # 2001 codes imported from codes.csv\n" in text and '    - "M51.2009"\n' in text

    page = ana.get(edit).get_data(as_text=True)
    lock = re.search(r'name="lock" value="(\d+)"', page).group(1)
    bad = {
        "csrf_token": csrf_token(page),
        "lock": lock,
        "name": "other",
        "csv": (io.BytesIO(b"72148\nnot a code\n7300-72\n"), "b.csv"),
    }
    ana.post(f"/admin/rulesets/import/{draft}", data=bad, content_type="multipart/form-data")
    body = ana.get(edit).get_data(as_text=True)
    assert "line 2: &#39;not a code&#39; is not a code" in body and "line 3:" in body
    assert "Nothing was imported: 2 problem(s) in b.csv." in body


def test_an_admin_changes_roles_in_the_users_view_and_it_is_audited(app: Any) -> None:
    adm = _client(app, "adm@example.org")
    with app.extensions["priorauth.db"].transaction() as session:
        ana = session.scalar(select(User).where(User.email == "ana@example.org"))
        ana_id = ana.id
        reviewer_role = session.scalar(select(Role).where(Role.name == "reviewer")).id
        analyst_role = session.scalar(select(Role).where(Role.name == "analyst")).id
    page = f"/admin/users/edit/?id={ana_id}"
    response = _post(adm, page, {"active": "y", "roles": [str(analyst_role), str(reviewer_role)]})
    assert response.status_code == 302
    with app.extensions["priorauth.db"].transaction() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        roles = sorted(r.name for r in session.get(User, ana_id).roles)
    assert roles == ["analyst", "reviewer"]
    assert (event.action, event.before["roles"], event.after["roles"]) == (
        "permissions",
        ["analyst"],
        ["analyst", "reviewer"],
    )
    assert _client(app, "ana@example.org").get("/admin/users/").status_code == 403


def test_the_value_sets_page_lists_every_published_set(app: Any) -> None:
    body = _client(app, "ana@example.org").get("/admin/valuesets/").get_data(as_text=True)
    assert "acme-commercial</a> v4" in body and "mri_ct" in body


def test_the_audit_list_offers_the_chain_check_and_it_reports_intact(app: Any) -> None:
    rev = _client(app, "rev@example.org")
    body = rev.get("/admin/audit/").get_data(as_text=True)
    assert "Verify the chain" in body and re.search(r"\d\d:\d\d:\d\d UTC\s*</td>", body)
    rev.get("/admin/audit/verify")
    assert "chain intact" in rev.get("/admin/audit/").get_data(as_text=True)


def test_the_last_admin_cannot_remove_their_own_admin_role(app: Any) -> None:
    adm = _client(app, "adm@example.org")
    with app.extensions["priorauth.db"].transaction() as session:
        me = session.scalar(select(User).where(User.email == "adm@example.org")).id
        analyst_role = session.scalar(select(Role).where(Role.name == "analyst")).id
    page = f"/admin/users/edit/?id={me}"
    response = _post(adm, page, {"active": "y", "roles": [str(analyst_role)]})
    assert "This would leave no active admin" in response.get_data(as_text=True)
    with app.extensions["priorauth.db"].transaction() as session:
        assert [r.name for r in session.get(User, me).roles] == ["admin"]


def test_backtest_runs_on_the_last_stored_cases(app: Any) -> None:
    from admin import cases as case_service

    with app.extensions["priorauth.db"].transaction() as session:
        org = case_service.organization(session)
        for code in ("0999T", "72148"):
            case_service.create(
                session, org, "seed", {**CASE, "service": {"codes": [code], "date": "2026-12-03"}}
            )
    ana = _client(app, "ana@example.org")
    draft = _new_draft(ana)
    edit = f"/admin/rulesets/edit/{draft}"
    lock = re.search(r'name="lock" value="(\d+)"', ana.get(edit).get_data(as_text=True)).group(1)
    assert (
        _post(ana, edit, {"text": _live(app).text.replace("rules:\n", NEW_RULE, 1), "lock": lock}).status_code
        == 302
    )
    body = _post(
        ana, f"/admin/rulesets/backtest/{draft}", {"format": "html", "source": "stored", "last": "10"}
    )
    text = body.get_data(as_text=True)
    assert "1 of 2 cases decide differently" in text and "PA-" in text
    bad = _post(ana, f"/admin/rulesets/backtest/{draft}", {"format": "html", "source": "stored", "last": "0"})
    assert "Choose between 1 and 10,000 stored cases." in bad.get_data(as_text=True)
