"""`priorauth users ...`: the first admin, one-time passwords shown once, roles, deactivation, audit.

Each test runs the command in-process against `empty_db` (SQLite, and PostgreSQL when it answers).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from admin import audit, cli, create_app
from admin.db import Database
from admin.models import AuditEvent, User
from tests.accounts import sign_in

PASSWORD = re.compile(r"^one-time password: (\S+)$", re.M)


@pytest.fixture
def store(empty_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", empty_db.url)
    monkeypatch.setenv("PRIORAUTH_ACTOR", "tester")
    return empty_db


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _users(db: Database) -> dict[str, User]:
    with db.transaction() as session:
        found = {u.email: u for u in session.scalars(select(User))}
        for u in found.values():
            u.role_names = sorted(r.name for r in u.roles)  # type: ignore[attr-defined]
            session.expunge(u)
        return found


def _events(db: Database) -> list[AuditEvent]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.entity_type == "user").order_by(AuditEvent.id)
            )
        )


def test_create_admin_prints_a_one_time_password_once_and_it_signs_in_once(
    store: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "users", "create-admin", "Ann@Example.org")
    assert status == 0, err
    (password,) = PASSWORD.findall(out)
    assert out.count(password) == 1 and re.fullmatch(r"(?:[2-9a-zA-Z]{5}-){3}[2-9a-zA-Z]{5}", password)
    assert out.startswith("priorauth: created the admin Ann@example.org (user 1)\n")
    assert "It is not stored and not shown again" in out
    ann = _users(store)["Ann@example.org"]
    assert ann.role_names == ["admin"] and ann.must_change_password  # type: ignore[attr-defined]
    assert ann.password.startswith("$argon2id$") and password not in ann.password

    app = create_app({"DATABASE_URL": store.url, "REQUIRE_2FA": False})
    client = app.test_client()
    assert sign_in(client, app, "ann@example.org", password).headers["Location"] == "/"
    assert client.get("/forms/").headers["Location"] == "/change"  # their own password first
    app.extensions["priorauth.db"].dispose()

    event = _events(store)[0]
    assert (event.actor, event.action, event.entity_id) == ("cli:tester", "create", str(ann.id))
    assert event.after == {"email": "Ann@example.org", "roles": ["admin"], "via": "create-admin"}
    assert password not in str(event.after)


def test_create_admin_refuses_an_email_that_already_has_a_user(
    store: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "users", "create-admin", "ann@example.org")
    status, out, err = run(capsys, "users", "create-admin", "ANN@example.org")
    assert status == 1 and out == ""
    assert err == (
        "priorauth: there is already a user ann@example.org: `priorauth users roles ann@example.org "
        "--add ROLE` changes their roles, `priorauth users reset ann@example.org` gives them a new "
        "one-time password\n"
    )
    assert len(_users(store)) == 1 and len(_events(store)) == 1


def test_an_email_that_is_not_one_is_refused(store: Database, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "users", "create-admin", "ann at example")
    assert (status, err) == (
        1,
        "priorauth: 'ann at example' is not an email address: write it like ann@example.org\n",
    )


def test_add_gives_roles_and_list_shows_everyone(store: Database, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "users", "create-admin", "ann@example.org")
    status, out, _ = run(
        capsys, "users", "add", "cy@example.org", "--role", "coordinator", "--role", "analyst"
    )
    assert status == 0
    assert out.startswith("priorauth: added cy@example.org (user 2) with the role(s) analyst, coordinator\n")
    assert len(PASSWORD.findall(out)) == 1
    status, out, _ = run(capsys, "users", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "EMAIL", "ROLES", "STATE", "2FA", "LAST", "SIGN-IN"]
    assert lines[2].split() == [
        "2",
        "cy@example.org",
        "analyst,coordinator",
        "one-time",
        "password",
        "no",
        "never",
    ]
    assert [e.after["via"] for e in _events(store)] == ["create-admin", "add"]


def test_an_unknown_role_is_a_usage_error(store: Database, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["users", "add", "cy@example.org", "--role", "coordinater"])
    assert exited.value.code == 2
    assert "invalid choice: 'coordinater'" in capsys.readouterr().err


def test_roles_change_with_before_and_after_in_the_audit(
    store: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "users", "create-admin", "ann@example.org")
    run(capsys, "users", "add", "cy@example.org", "--role", "coordinator")
    status, out, _ = run(
        capsys, "users", "roles", "cy@example.org", "--add", "reviewer", "--remove", "coordinator"
    )
    assert (status, out) == (0, "priorauth: cy@example.org now has the role(s) reviewer\n")
    assert _users(store)["cy@example.org"].role_names == ["reviewer"]  # type: ignore[attr-defined]
    event = _events(store)[-1]
    assert (event.actor, event.action) == ("cli:tester", "roles")
    assert (event.before, event.after) == ({"roles": ["coordinator"]}, {"roles": ["reviewer"]})


def test_the_only_admin_cannot_lose_the_role_or_be_deactivated(
    store: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "users", "create-admin", "ann@example.org")
    for argv in (("roles", "ann@example.org", "--remove", "admin"), ("deactivate", "ann@example.org")):
        status, _, err = run(capsys, "users", *argv)
        assert (status, err) == (
            1,
            "priorauth: ann@example.org is the only active admin: make another admin first\n",
        )
    run(capsys, "users", "create-admin", "bo@example.org")
    assert run(capsys, "users", "deactivate", "ann@example.org")[0] == 0


def test_deactivate_ends_sessions_and_activate_lets_them_back(
    store: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "users", "create-admin", "ann@example.org")
    out = run(capsys, "users", "add", "cy@example.org", "--role", "coordinator")[1]
    assert len(PASSWORD.findall(out)) == 1
    before = _users(store)["cy@example.org"].fs_uniquifier
    status, out, _ = run(capsys, "users", "deactivate", "cy@example.org")
    assert (status, out) == (0, "priorauth: cy@example.org is now deactivated\n")
    cy = _users(store)["cy@example.org"]
    assert not cy.active and cy.fs_uniquifier != before  # a session cookie names the old one
    assert (
        run(capsys, "users", "deactivate", "cy@example.org")[1]
        == "priorauth: cy@example.org is already deactivated\n"
    )
    assert "deactivated" in run(capsys, "users", "list")[1]
    assert run(capsys, "users", "activate", "cy@example.org")[0] == 0
    assert [(e.action, e.after) for e in _events(store)][-2:] == [
        ("deactivate", {"active": False}),
        ("activate", {"active": True}),
    ]


def test_reset_gives_a_new_one_time_password_and_clears_the_authenticator(
    store: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "users", "create-admin", "ann@example.org")
    with store.transaction() as session:
        ann = session.scalars(select(User)).one()
        ann.tf_primary_method, ann.tf_totp_secret, ann.failed_logins = "authenticator", "secret", 3
        ann.must_change_password = False
    status, out, _ = run(capsys, "users", "reset", "ann@example.org")
    assert status == 0 and len(PASSWORD.findall(out)) == 1
    ann = _users(store)["ann@example.org"]
    assert (ann.tf_primary_method, ann.tf_totp_secret, ann.failed_logins) == (None, None, 0)
    assert ann.must_change_password
    assert _events(store)[-1].after == {"password": "one-time", "2fa": "cleared"}


def test_commands_about_a_user_that_does_not_exist_say_so(
    store: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ("roles", "no@example.org", "--add", "it"),
        ("deactivate", "no@example.org"),
        ("reset", "no@example.org"),
    ):
        status, _, err = run(capsys, "users", *argv)
        assert (status, err) == (
            1,
            "priorauth: there is no user no@example.org: `priorauth users list` shows them\n",
        )
    status, _, err = run(capsys, "users", "roles", "no@example.org")
    assert (status, err) == (1, "priorauth: say which roles change: --add ROLE and/or --remove ROLE\n")


def test_every_command_leaves_the_audit_chain_whole(
    store: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "users", "create-admin", "ann@example.org")
    run(capsys, "users", "add", "cy@example.org", "--role", "coordinator")
    run(capsys, "users", "roles", "cy@example.org", "--add", "analyst")
    run(capsys, "users", "deactivate", "cy@example.org")
    run(capsys, "users", "reset", "ann@example.org")
    with store.transaction() as session:
        report = audit.verify(session)
    assert report.problems == [] and report.events == 5 + 6  # and the six roles made at start


def test_an_unmigrated_database_names_the_fix(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    status, _, err = run(capsys, "users", "list")
    assert status == 1 and "has no priorauth tables yet: run `priorauth db upgrade`" in err


def test_serve_says_how_to_make_the_first_admin_when_no_one_can_sign_in(
    store: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("waitress.serve", lambda *args, **kwargs: None)
    status, out, _ = run(capsys, "serve", "--port", "8123")
    assert status == 0
    assert out.splitlines()[0] == (
        "priorauth: no one can sign in yet: create the first admin with "
        "`priorauth users create-admin you@example.org` (it prints a one-time password)"
    )
    run(capsys, "users", "create-admin", "ann@example.org")
    assert "no one can sign in" not in run(capsys, "serve", "--port", "8123")[1]
