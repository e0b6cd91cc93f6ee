"""Utilization on SQLite and PostgreSQL: recording, the meter, recalculation, claims files, the
pages (roles, organizations, CSRF) and migration 0006."""

from __future__ import annotations

import io
import json
import secrets
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import render_template
from sqlalchemy import select

from admin import audit, cases, caseusage, create_app, usage
from admin.db import Database, sqlite_url
from admin.models import AuditEvent, User
from admin.models_cases import Case, CaseUsage, Organization
from connectors.claims import ClaimLine
from tests.accounts import add_user, csrf_token, sign_in
from tests.conftest import POSTGRES, publish_shipped

ROOT = Path(__file__).resolve().parents[2]
READY = json.loads((ROOT / "examples" / "cases" / "mri-lumbar-acme-ready.json").read_text())
TODAY = date(2026, 4, 1)


@pytest.fixture
def db(empty_db: Database) -> Database:
    publish_shipped(empty_db)
    return empty_db


def approved(
    session: Any,
    org: Organization,
    units: int | None = 10,
    start: date | None = date(2026, 1, 10),
    end: date | None = date(2026, 4, 20),
    auth: str = "A-1",
) -> Case:
    case = cases.create(session, org, "coo", READY)
    cases.submit(session, case, "coo")
    cases.respond(session, case, "coo", "approved", auth_number=auth, units=units, start=start, end=end)
    return case


def _events(session: Any, reference: str, action: str) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_id == reference, AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
    )


# -- recording and the meter -----------------------------------------------------------------------
def test_the_meter_has_every_month_of_the_approval_and_shows_over_use(db: Database) -> None:
    with db.transaction() as session:
        case = approved(session, cases.organization(session))
        for on, units in ((date(2026, 1, 12), 2), (date(2026, 1, 30), 1), (date(2026, 3, 3), 4)):
            assert usage.record(session, case, "coo", on, units, today=TODAY).warnings == ()
        m = usage.meter(session, case)
        assert m.months == (("2026-01", 3), ("2026-02", 0), ("2026-03", 4), ("2026-04", 0))
        assert (m.approved, m.used, m.remaining, m.over, m.percent, m.renewal_at) == (10, 7, 3, 0, 70, 8)
        done = usage.record(session, case, "coo", date(2026, 3, 20), 5, today=TODAY)
        assert done.warnings == (
            "12 of 10 approved units are now used: 2 over the approval (ask the payer for more)",
        )
        m = usage.meter(session, case)
        assert (m.used, m.remaining, m.over, m.percent, m.drift) == (12, 0, 2, 120, False)
        assert usage.meter_json(m)["months"][2] == {"month": "2026-03", "units": 9}


def test_eighty_percent_of_the_approved_units_used_moves_the_case_into_renewal(db: Database) -> None:
    with db.transaction() as session:
        case = approved(session, cases.organization(session), end=date(2026, 12, 31))
        usage.record(session, case, "coo", date(2026, 2, 1), 7, today=TODAY)
        assert (case.used_units, case.stage) == (7, "done")
        usage.record(session, case, "coo", date(2026, 2, 2), 1, today=TODAY)
        assert (case.used_units, case.stage, case.next_action) == (8, "renewal", "Renew the authorization")
        [*_, last] = _events(session, case.reference, "usage")
        assert last.before == {"used_units": 7, "stage": "done"}
        assert last.after == {
            "on": "2026-02-02",
            "units": 1,
            "source": "hand",
            "claim_id": None,
            "code": None,
            "used_units": 8,
            "stage": "renewal",
        }
        assert audit.verify(session).problems == []


@pytest.mark.parametrize(
    ("on", "units", "problems"),
    [
        (date(2026, 4, 2), 1, [("on", "2026-04-02 is after today: record usage once the service happened")]),
        (
            date(2026, 1, 9),
            1,
            [
                (
                    "on",
                    "2026-01-09 is outside the approval (2026-01-10 to 2026-04-20): this authorization "
                    "does not cover it; ask the payer, or record it on the case that covers that date",
                )
            ],
        ),
        (date(2026, 2, 1), 0, [("units", "record a whole number of units from 1 to 100,000")]),
    ],
)
def test_usage_outside_the_approval_or_of_no_units_is_refused_and_nothing_changes(
    db: Database, on: date, units: int, problems: list[tuple[str, str]]
) -> None:
    with db.transaction() as session:
        case = approved(session, cases.organization(session))
        with pytest.raises(cases.CaseError) as caught:
            usage.record(session, case, "coo", on, units, today=TODAY)
        assert caught.value.problems == problems
        assert (case.used_units, session.scalar(select(sa.func.count()).select_from(CaseUsage))) == (0, 0)


def test_usage_on_a_case_that_is_not_approved_is_refused(db: Database) -> None:
    with db.transaction() as session:
        case = cases.create(session, cases.organization(session), "coo", READY)
        with pytest.raises(cases.CaseError, match="usage counts against an approval; this case is draft"):
            usage.record(session, case, "coo", TODAY, 1, today=TODAY)


# -- recalculation ---------------------------------------------------------------------------------
def test_recalculate_re_derives_the_count_and_the_stage_and_audits_only_a_change(db: Database) -> None:
    with db.transaction() as session:
        case = approved(session, cases.organization(session), end=date(2026, 12, 31))
        usage.record(session, case, "coo", date(2026, 2, 1), 9, today=TODAY)
        case.used_units = 2  # as a count kept before the entries were (or another writer left it)
        cases.refresh(case, TODAY)
        assert case.stage == "done" and usage.meter(session, case).drift
        done = usage.recalculate(session, case, "coo", TODAY)
        assert (done.before_units, done.after_units, done.before_stage, done.after_stage) == (
            2,
            9,
            "done",
            "renewal",
        )
        assert done.changed and not usage.meter(session, case).drift
        again = usage.recalculate(session, case, "coo", TODAY)
        assert not again.changed
        [event] = _events(session, case.reference, "usage-recalculate")
        assert (event.before, event.after) == (
            {"used_units": 2, "stage": "done"},
            {"used_units": 9, "stage": "renewal"},
        )


# -- claims ----------------------------------------------------------------------------------------
def _line(n: int, case: str | None, on: date, units: int, claim: str | None = None, **kw: Any) -> ClaimLine:
    return ClaimLine(n, case, kw.get("auth"), on, units, claim, kw.get("code"))


def test_a_claim_line_imported_twice_is_counted_once(db: Database) -> None:
    with db.transaction() as session:
        org = cases.organization(session)
        case = approved(session, org)
        ref = case.reference
        lines = [
            _line(2, ref, date(2026, 2, 1), 2, "C-1"),
            _line(3, ref, date(2026, 2, 2), 1, code="97110"),  # no claim id: date, units, code
            _line(4, ref, date(2026, 2, 2), 1, code="97110"),  # the same line again in the file
            _line(5, ref, date(2026, 2, 3), 2, "C-1"),  # the same claim id: the same claim line
        ]
        first = usage.import_claims(session, org, "coo", lines, TODAY)
        assert [r.outcome for r in first] == ["recorded", "recorded", "already recorded", "already recorded"]
        assert case.used_units == 3
        second = usage.import_claims(session, org, "coo", lines, TODAY)
        assert [r.outcome for r in second] == ["already recorded"] * 4
        assert case.used_units == 3 and usage.meter(session, case).used == 3
        assert len(_events(session, ref, "usage")) == 2
        [*_, summary] = _events(session, org.slug, "claims-import")
        assert summary.after == {
            "recorded": 0,
            "already recorded": 4,
            "bad row": 0,
            "unmatched": 0,
            "refused": 0,
        }
        # a hand entry of the same day and units is another visit, not a duplicate
        usage.record(session, case, "coo", date(2026, 2, 2), 1, today=TODAY)
        assert case.used_units == 4


def test_unmatched_and_refused_lines_are_named_and_the_others_recorded(db: Database) -> None:
    with db.transaction() as session:
        org = cases.organization(session)
        other = Organization(slug="other", name="Other clinic")
        session.add(other)
        session.flush()
        theirs = approved(session, other, auth="T-1").reference
        case = approved(session, org, auth="A-7")
        draft = cases.create(session, org, "coo", READY).reference
        results = usage.import_claims(
            session,
            org,
            "coo",
            [
                _line(2, "PA-ZZZZZZZZ", date(2026, 2, 1), 1),
                _line(3, theirs, date(2026, 2, 1), 1),
                _line(4, None, date(2026, 2, 1), 1, auth="T-1"),
                _line(5, None, date(2026, 2, 1), 2, "C-9", auth="A-7"),
                _line(6, case.reference, date(2026, 2, 1), 1, auth="B-2"),
                _line(7, draft, date(2026, 2, 1), 1),
                _line(8, case.reference, date(2026, 5, 1), 1),
            ],
            TODAY,
        )
        assert [(r.line, r.outcome, r.case, r.message) for r in results] == [
            (2, "unmatched", "PA-ZZZZZZZZ", "there is no case PA-ZZZZZZZZ in this organization"),
            (3, "unmatched", theirs, f"there is no case {theirs} in this organization"),
            (4, "unmatched", None, "no case of this organization has this auth number"),
            (5, "recorded", case.reference, "2 of 10 used · stage renewal"),
            (
                6,
                "unmatched",
                case.reference,
                f"the auth number is not the one case {case.reference} was approved with: check the row",
            ),
            (7, "refused", draft, "status: usage counts against an approval; this case is draft"),
            (
                8,
                "refused",
                case.reference,
                "on: 2026-05-01 is after today: record usage once the service happened; on: 2026-05-01 is "
                "outside the approval (2026-01-10 to 2026-04-20): this authorization does not cover it; "
                "ask the payer, or record it on the case that covers that date",
            ),
        ]
        assert [r.failed for r in results] == [True, True, True, False, True, True, True]
        theirs_case = session.scalar(select(Case).where(Case.reference == theirs))
        assert theirs_case.used_units == 0 and case.used_units == 2


def test_an_auth_number_on_two_cases_picks_the_approval_covering_the_date(db: Database) -> None:
    with db.transaction() as session:
        org = cases.organization(session)
        early = approved(session, org, start=date(2026, 1, 1), end=date(2026, 1, 31), auth="R-1")
        late = approved(session, org, start=date(2026, 2, 1), end=date(2026, 4, 30), auth="R-1")
        results = usage.import_claims(
            session,
            org,
            "coo",
            [
                _line(2, None, date(2026, 1, 15), 1, auth="R-1"),
                _line(3, None, date(2026, 3, 1), 2, auth="R-1"),
            ],
            TODAY,
        )
        assert [(r.outcome, r.case) for r in results] == [
            ("recorded", early.reference),
            ("recorded", late.reference),
        ]
        both = approved(session, org, start=None, end=None, auth="R-1")  # covers every date
        [result] = usage.import_claims(
            session, org, "coo", [_line(4, None, date(2026, 1, 20), 1, auth="R-1")], TODAY
        )
        assert (result.outcome, result.message) == (
            "unmatched",
            "2 cases have this auth number: add the case column (PA-...)",
        )
        assert both.used_units == 0


def test_a_whole_file_gives_one_result_per_line_in_file_order(db: Database) -> None:
    with db.transaction() as session:
        org = cases.organization(session)
        ref = approved(session, org).reference
        data = (
            "case,service_date,units,claim_id,memo\n"
            f"{ref},2026-02-01,2,C-1,x\n"
            f"{ref},2026-02-31,2,C-2,x\n"
            f"{ref},2026-02-02,1,C-3,x\n"
        ).encode()
        results = usage.import_file(session, org, "coo", data, TODAY)
    assert [(r.line, r.outcome, r.column) for r in results] == [
        (1, "note", "memo"),
        (2, "recorded", ""),
        (3, "bad row", "service_date"),
        (4, "recorded", ""),
    ]
    assert results[2].message == "not a date: write YYYY-MM-DD" and results[2].failed


def test_the_database_refuses_a_second_copy_of_a_claim_line(db: Database) -> None:
    # two imports racing both find no copy; the unique index lets only one of them commit
    with db.transaction() as session:
        case = approved(session, cases.organization(session))
        usage.record(session, case, "coo", date(2026, 2, 1), 1, "claims", "C-1", today=TODAY)
        case_id = case.id
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as session:
        session.add(
            CaseUsage(
                case_id=case_id,
                on=date(2026, 2, 1),
                units=1,
                source="claims",
                recorded_by="x",
                claim_key="claim:C-1",
            )
        )
        session.flush()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A database of its own (no tables yet), to walk the migrations on."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "fresh.db")
        return
    if request.getfixturevalue("postgres_url") is None:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES}")
    server = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"priorauth_m6_{secrets.token_hex(4)}"
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def test_migration_0006_goes_up_and_down_keeping_the_rows(fresh_url: str) -> None:
    from alembic import command

    db = Database(fresh_url)
    try:
        command.upgrade(db.alembic_config(), "0005")
        with db.engine.begin() as connection:
            connection.execute(
                sa.text("INSERT INTO organizations (slug, name, created_at) VALUES ('o', 'O', :t)"),
                {"t": TODAY},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO cases (organization_id, reference, status, stage, next_action, payer_id, service,"
                    " urgency, facts, used_units, created_by, created_at, updated_at, lock_version)"
                    " VALUES (1, 'PA-AAAAAAAA', 'approved', 'done', '', '', '', 'standard', '{}', 3, 'x', :t, :t, 1)"
                ),
                {"t": TODAY},
            )
            connection.execute(
                sa.text(
                    'INSERT INTO case_usage (case_id, "on", units, source, recorded_by, recorded_at)'
                    " VALUES (1, :t, 3, 'hand', 'x', :t)"
                ),
                {"t": TODAY},
            )
        command.upgrade(db.alembic_config(), "0006")
        indexes = {i["name"]: i for i in sa.inspect(db.engine).get_indexes("case_usage")}
        assert indexes["ix_case_usage_claim"]["unique"]
        assert indexes["ix_case_usage_claim"]["column_names"] == ["case_id", "claim_key"]
        with db.engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT units, claim_id, code, claim_key FROM case_usage")
            ).all()
        assert [tuple(r) for r in rows] == [(3, None, None, None)]
        command.downgrade(db.alembic_config(), "0005")
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("case_usage")}
        assert columns == {"id", "case_id", "on", "units", "source", "recorded_by", "recorded_at"}
        assert [fk["referred_table"] for fk in sa.inspect(db.engine).get_foreign_keys("case_usage")] == [
            "cases"
        ]
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT units FROM case_usage")).scalars().all() == [3]
    finally:
        db.dispose()


# -- the pages -------------------------------------------------------------------------------------
@pytest.fixture
def app(tmp_path: Path, shipped_url: str) -> Any:
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "test", "DATABASE_URL": shipped_url})
    if "caseusage" not in app.blueprints:  # until admin/app.py registers it
        app.register_blueprint(caseusage.bp)
    add_user(app, "coo@example.org", "coordinator", totp=True)
    add_user(app, "man@example.org", "manager", totp=True)
    add_user(app, "ana@example.org", "analyst", totp=True)
    return app


def _client(app: Any, email: str) -> Any:
    client = app.test_client()
    assert sign_in(client, app, email).status_code == 302
    return client


def _approved_now(app: Any, org_slug: str | None = None, units: int = 10) -> str:
    """An approval running from 40 days ago to 120 days from now (the pages use the real today)."""
    today = date.today()
    with app.extensions["priorauth.db"].transaction() as session:
        org = cases.organization(session, org_slug)
        case = approved(session, org, units, today - timedelta(days=40), today + timedelta(days=120), "A-5")
        return case.reference


def _case(app: Any, reference: str) -> Case:
    with app.extensions["priorauth.db"].transaction() as session:
        return session.scalar(select(Case).where(Case.reference == reference))


def _token(client: Any) -> str:
    return csrf_token(client.get("/cases/claims").get_data(as_text=True))


def test_a_coordinator_records_usage_and_the_stage_follows(app: Any) -> None:
    reference = _approved_now(app)
    coo = _client(app, "coo@example.org")
    today = date.today().isoformat()
    response = coo.post(
        f"/cases/{reference}/usage", data={"csrf_token": _token(coo), "on": today, "units": "8"}
    )
    assert response.status_code == 302 and response.headers["Location"] == f"/cases/{reference}"
    page = coo.get(f"/cases/{reference}").get_data(as_text=True)
    assert f"8 units on {today} recorded: 8 used · stage renewal." in page
    case = _case(app, reference)
    assert (case.used_units, case.stage) == (8, "renewal")


def test_bad_usage_input_is_named_on_the_page_and_nothing_is_recorded(app: Any) -> None:
    reference = _approved_now(app)
    coo = _client(app, "coo@example.org")
    coo.post(f"/cases/{reference}/usage", data={"csrf_token": _token(coo), "on": "1/2/26", "units": "-3"})
    page = coo.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Date: write the date of the service as YYYY-MM-DD" in page
    assert "Units: write the units or visits used as a whole number above 0" in page
    future = (date.today() + timedelta(days=3)).isoformat()
    coo.post(f"/cases/{reference}/usage", data={"csrf_token": _token(coo), "on": future, "units": "1"})
    page = coo.get(f"/cases/{reference}").get_data(as_text=True)
    assert f"Date: {future} is after today: record usage once the service happened" in page
    assert _case(app, reference).used_units == 0


def test_recalculate_from_the_page(app: Any) -> None:
    reference = _approved_now(app)
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        usage.record(session, case, "coo", date.today(), 3)
        case.used_units = 0
    coo = _client(app, "coo@example.org")
    coo.post(f"/cases/{reference}/usage/recalculate", data={"csrf_token": _token(coo)})
    page = coo.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Recalculated: 0 → 3 used, stage done → done." in page
    coo.post(f"/cases/{reference}/usage/recalculate", data={"csrf_token": _token(coo)})
    assert "Nothing to change: 3 used, stage done." in coo.get(f"/cases/{reference}").get_data(as_text=True)


def test_a_claims_upload_shows_each_line_and_a_second_upload_counts_nothing_twice(app: Any) -> None:
    reference = _approved_now(app)
    day = (date.today() - timedelta(days=2)).isoformat()
    data = (
        "case,service_date,units,claim_id\n"
        f"{reference},{day},2,C-1\n"
        f"PA-ZZZZZZZZ,{day},1,C-2\n"
        f"{reference},{day},many,C-3\n"
    ).encode()
    coo = _client(app, "coo@example.org")

    def upload() -> str:
        response = coo.post(
            "/cases/claims",
            data={"csrf_token": _token(coo), "file": (io.BytesIO(data), "march.csv")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 200
        return str(response.get_data(as_text=True))

    page = upload()
    assert "march.csv: 1 recorded, 0 already recorded, <strong>2 to fix</strong>" in page
    assert "there is no case PA-ZZZZZZZZ in this organization" in page
    assert '<span class="mono">units</span>: must be a whole number above 0' in page
    again = upload()
    assert "march.csv: 0 recorded, 1 already recorded" in again
    assert _case(app, reference).used_units == 2


def test_an_empty_upload_says_what_to_do(app: Any) -> None:
    coo = _client(app, "coo@example.org")
    response = coo.post("/cases/claims", data={"csrf_token": _token(coo)}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose a claims CSV file to import" in response.get_data(as_text=True)


def test_managers_see_but_cannot_record_and_analysts_see_nothing(app: Any) -> None:
    reference = _approved_now(app)
    man = _client(app, "man@example.org")
    page = man.get("/cases/claims")
    assert page.status_code == 200 and 'type="file"' not in page.get_data(as_text=True)
    token = csrf_token(man.get(f"/cases/{reference}").get_data(as_text=True))
    today = date.today().isoformat()
    assert (
        man.post(
            f"/cases/{reference}/usage", data={"csrf_token": token, "on": today, "units": "1"}
        ).status_code
        == 403
    )
    assert man.post(f"/cases/{reference}/usage/recalculate", data={"csrf_token": token}).status_code == 403
    assert man.post("/cases/claims", data={"csrf_token": token}).status_code == 403
    ana = _client(app, "ana@example.org")
    assert ana.get("/cases/claims").status_code == 403
    assert ana.post(f"/cases/{reference}/usage", data={"on": today, "units": "1"}).status_code in (400, 403)
    assert _case(app, reference).used_units == 0


def test_another_organizations_case_is_not_found(app: Any) -> None:
    with app.extensions["priorauth.db"].transaction() as session:
        session.add(Organization(slug="other", name="Other clinic"))
    theirs = _approved_now(app, "other")
    with app.extensions["priorauth.db"].transaction() as session:
        org = Organization(slug="mine", name="My clinic")
        session.add(org)
        session.flush()
        session.scalar(select(User).where(User.email == "coo@example.org")).organization_id = org.id
    coo = _client(app, "coo@example.org")
    token = _token(coo)
    today = date.today().isoformat()
    response = coo.post(f"/cases/{theirs}/usage", data={"csrf_token": token, "on": today, "units": "1"})
    assert response.status_code == 404
    assert coo.post(f"/cases/{theirs}/usage/recalculate", data={"csrf_token": token}).status_code == 404
    assert _case(app, theirs).used_units == 0


def test_a_post_without_its_csrf_token_changes_nothing(app: Any) -> None:
    reference = _approved_now(app)
    coo = _client(app, "coo@example.org")
    today = date.today().isoformat()
    assert coo.post(f"/cases/{reference}/usage", data={"on": today, "units": "1"}).status_code == 400
    assert coo.post("/cases/claims", data={}).status_code == 400
    assert _case(app, reference).used_units == 0


def _panel(app: Any, reference: str, may_work: bool) -> str:
    with app.test_request_context():
        case = app.extensions["priorauth.db"].scoped().scalar(select(Case).where(Case.reference == reference))
        return str(render_template("cases/_usage.html", case=case, may_work=may_work))


def test_the_panel_shows_the_numbers_a_chart_with_a_table_and_the_forms_for_coordinators(app: Any) -> None:
    reference = _approved_now(app)
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        usage.record(session, case, "coo", date.today(), 3, "claims", "C-1", "97110")
    html = _panel(app, reference, may_work=True)
    assert "<dt>Approved</dt><dd><strong>10</strong> units" in html
    assert "<dt>Used</dt><dd><strong>3</strong> (30%)</dd>" in html
    assert "<dt>Remaining</dt><dd><strong>7</strong>" in html
    month = date.today().strftime("%Y-%m")
    assert f'<td class="mono">{month}</td><td class="num">3</td>' in html  # the table under the chart
    assert 'class="bar age-2 w-100">3</span>' in html and 'role="img"' in html
    assert 'for="u-on">Date of service</label>' in html and ">Recalculate</button>" in html
    assert 'claim <span class="mono">C-1</span>' in html
    viewer = _panel(app, reference, may_work=False)
    assert "Record usage" not in viewer and "Recalculate</button>" not in viewer
    assert "style=" not in html  # the pages' CSP blocks inline styles


def test_the_case_page_includes_the_panel(app: Any) -> None:
    # needs `{% include "cases/_usage.html" %}` in templates/cases/case.html
    reference = _approved_now(app)
    page = _client(app, "coo@example.org").get(f"/cases/{reference}").get_data(as_text=True)
    assert 'id="usage-title">Utilization</h2>' in page and "Units per month" in page
