"""The versioned store on SQLite and PostgreSQL: push, publish, numbering, immutability, conflicts, audit."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from admin import audit, store
from admin.db import Database
from admin.models import AuditEvent, Document, DocumentVersion

ROOT = Path(__file__).resolve().parents[2]
ACME = (ROOT / "rulesets" / "acme-commercial.yaml").read_text()
IMAGING = (ROOT / "forms" / "imaging-readiness.yaml").read_text()
CASE = {
    "as_of": "2026-11-20",
    "coverage": {"payer": "acme", "plan_type": "commercial"},
    "service": {"codes": ["72148"], "date": "2026-12-03"},
}


def _forms(db: Database) -> None:
    with db.transaction() as session:
        store.push(session, "it@example.org", "form", store.files_of([str(ROOT / "forms")]), publish_now=True)


def _templates(db: Database) -> None:
    """The packet templates the shipped rulesets name, published (a ruleset goes live after them)."""
    with db.transaction() as session:
        packets = store.files_of([str(ROOT / "forms" / "packets")])
        store.push(session, "it@example.org", "template", packets, publish_now=True)


def _count(db: Database, model: type) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_push_stores_drafts_and_a_publish_makes_them_live(empty_db: Database) -> None:
    _forms(empty_db)
    _templates(empty_db)
    with empty_db.transaction() as session:
        pushed = store.push(session, "it@example.org", "ruleset", [("acme.yaml", ACME)])
    assert [(p.slug, p.outcome, p.version) for p in pushed] == [("acme-commercial", "draft", None)]
    with empty_db.transaction() as session:
        assert store.published(session, "ruleset") == []
        result = store.publish(session, "reviewer@example.org", pushed[0].version_id)
    assert (result.version, result.replaced) == (4, None)  # the file's number is kept: above all stored
    with empty_db.transaction() as session:
        decision = store.evaluator(session, "durable").evaluate(CASE, date(2026, 11, 20))
    assert decision["ruleset"]["id"] == "acme-commercial" and decision["ruleset"]["version"] == 4


def test_a_ruleset_naming_a_packet_template_that_is_not_published_is_not_published(
    empty_db: Database,
) -> None:
    with empty_db.transaction() as session:
        store.push(session, "it", "form", store.files_of([str(ROOT / "forms")]), publish_now=True)
        pushed = store.push(session, "it", "ruleset", [("acme.yaml", ACME)])
    with pytest.raises(store.StoreError) as refused, empty_db.transaction() as session:
        store.publish(session, "reviewer", pushed[0].version_id)
    assert [p.message for p in refused.value.problems] == [
        "packet template 'acme-drug-request' is not published",
        "packet template 'acme-imaging-request' is not published",
    ]
    assert refused.value.problems[0].fix == (
        "publish it first (priorauth templates push forms/packets --publish), then this ruleset"
    )


def test_pushing_the_same_files_again_changes_nothing(empty_db: Database) -> None:
    _forms(empty_db)
    before = _count(empty_db, AuditEvent)
    with empty_db.transaction() as session:
        again = store.push(session, "it", "form", store.files_of([str(ROOT / "forms")]), publish_now=True)
    assert {p.outcome for p in again} == {"unchanged"}
    assert _count(empty_db, AuditEvent) == before


def test_a_push_with_one_bad_file_changes_nothing_and_names_the_file_and_line(empty_db: Database) -> None:
    _forms(empty_db)
    bad = ACME.replace("ruleset: acme-commercial", "ruleset: acme-two", 1).replace(
        "service.codes: {any_in: lumbar_imaging}", "service.codes: {any_in: lumbar_imagin}", 1
    )
    documents, events = _count(empty_db, Document), _count(empty_db, AuditEvent)
    with pytest.raises(store.StoreError) as caught, empty_db.transaction() as session:
        store.push(session, "it", "ruleset", [("good.yaml", ACME), ("bad.yaml", bad)], publish_now=True)
    [problem] = caught.value.problems
    assert problem.file == "bad.yaml" and problem.line and "lumbar_imagin" in problem.message
    assert "did you mean 'lumbar_imaging'" in problem.fix
    assert (_count(empty_db, Document), _count(empty_db, AuditEvent)) == (documents, events)


def test_a_version_not_above_the_latest_is_published_as_latest_plus_one_and_says_so(
    empty_db: Database,
) -> None:
    _forms(empty_db)
    _templates(empty_db)
    with empty_db.transaction() as session:
        store.push(session, "it", "ruleset", [("acme.yaml", ACME)], publish_now=True)
    changed = ACME.replace("title: ", "title: Revised ", 1)  # still says version: 4
    with empty_db.transaction() as session:
        [result] = store.push(session, "it", "ruleset", [("acme.yaml", changed)], publish_now=True)
    assert (result.version, result.replaced) == (5, 4)
    with empty_db.transaction() as session:
        live = store.find(session, "ruleset", "acme-commercial")
        assert live.version == 5 and "\nversion: 5\n" in live.text
        assert store.published_rulesets(session)[-1].version == 5  # the text the engine runs says 5
    with empty_db.transaction() as session:  # the same file again is the same version, not v6
        [again] = store.push(session, "it", "ruleset", [("acme.yaml", changed)], publish_now=True)
    assert again.outcome == "unchanged" and again.version == 5


def test_a_failed_publish_leaves_the_live_version_untouched(empty_db: Database) -> None:
    _forms(empty_db)
    _templates(empty_db)
    with empty_db.transaction() as session:
        store.push(session, "it", "ruleset", [("acme.yaml", ACME)], publish_now=True)
        draft = store.save_draft(session, "analyst", "ruleset", ACME.replace("title: ", "title: New ", 1))
        draft_id = draft.id
    with empty_db.engine.begin() as connection:  # a draft that no longer passes (say, the engine changed)
        connection.execute(
            sa.text("UPDATE document_versions SET text = :t WHERE id = :i"),
            {"t": ACME.replace("expect: {auth: not-required}", "expect: {auth: required}", 1), "i": draft_id},
        )
    with pytest.raises(store.StoreError, match="failed: expected auth"), empty_db.transaction() as session:
        store.publish(session, "reviewer", draft_id)
    with empty_db.transaction() as session:
        live = store.find(session, "ruleset", "acme-commercial")
        assert live.version == 4 and live.text == ACME
        assert session.get(DocumentVersion, draft_id).status == "draft"


def test_a_second_analyst_saving_the_same_draft_gets_a_conflict_not_an_overwrite(empty_db: Database) -> None:
    _forms(empty_db)
    with empty_db.transaction() as session:
        draft = store.save_draft(session, "ana", "ruleset", ACME)
        draft_id, opened = draft.id, draft.lock_version
    with empty_db.transaction() as session:
        store.save_draft(
            session, "bob", "ruleset", ACME.replace("title: ", "title: Bob's ", 1), draft_id, opened
        )
    with pytest.raises(store.Conflict) as caught, empty_db.transaction() as session:
        store.save_draft(
            session, "ana", "ruleset", ACME.replace("title: ", "title: Ana's ", 1), draft_id, opened
        )
    assert "bob saved this draft at" in str(caught.value)
    assert "Bob's" in caught.value.current_text
    with empty_db.transaction() as session:
        assert "Bob's" in session.get(DocumentVersion, draft_id).text


def test_a_draft_with_an_error_is_not_saved_and_the_error_has_its_line(empty_db: Database) -> None:
    _forms(empty_db)
    with pytest.raises(store.StoreError) as caught, empty_db.transaction() as session:
        store.save_draft(session, "ana", "ruleset", ACME.replace("auth: required", "auth: requird", 1))
    assert caught.value.problems[0].line
    assert _count(empty_db, DocumentVersion) == 6  # the forms only


def test_a_published_version_is_immutable(empty_db: Database) -> None:
    _forms(empty_db)
    with (
        pytest.raises(store.StoreError, match="is published: its text cannot change"),
        empty_db.transaction() as s,
    ):
        row = store.find(s, "form", "imaging-readiness")
        row.text = row.text.replace("title:", "title: X", 1)
        s.flush()


def test_illegal_transitions_say_what_the_version_is_and_what_the_action_takes(empty_db: Database) -> None:
    _forms(empty_db)
    with empty_db.transaction() as session:
        row_id = store.find(session, "form", "pt-readiness").id
    with pytest.raises(store.IllegalTransition) as caught, empty_db.transaction() as session:
        store.submit(session, "ana", row_id)
    assert (
        str(caught.value)
        == "pt-readiness@v2 is published; 'submit' takes a version that is draft (to make it in-review)"
    )


def test_review_then_publish_then_retire_then_rollback(empty_db: Database) -> None:
    _forms(empty_db)
    _templates(empty_db)
    with empty_db.transaction() as session:
        draft = store.save_draft(session, "ana", "ruleset", ACME)
        store.submit(session, "ana", draft.id)
        store.publish(session, "rev", draft.id)
        changed = store.save_draft(session, "ana", "ruleset", ACME.replace("title: ", "title: Changed ", 1))
        store.publish(session, "rev", changed.id)  # v5
        store.retire(session, "rev", store.find(session, "ruleset", "acme-commercial", 5).id)
        assert store.find(session, "ruleset", "acme-commercial").version == 4  # live again
        result = store.rollback(session, "rev", "ruleset", "acme-commercial", 5)
    assert result.version == 6
    with empty_db.transaction() as session:
        assert "title: Changed" in store.find(session, "ruleset", "acme-commercial").text
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-6:] == ["publish", "create-draft", "publish", "retire", "create-draft", "publish"]


def test_a_ruleset_naming_an_unpublished_form_is_refused(empty_db: Database) -> None:
    with (
        pytest.raises(
            store.StoreError, match="form 'imaging-readiness' is not published: publish the form first"
        ),
        empty_db.transaction() as session,
    ):
        store.push(session, "it", "ruleset", [("acme.yaml", ACME)])


PROBE = """
ruleset: probe-payer
version: 1
payer: probe
effective: {from: 2026-01-01}
rules:
  - id: long-symptoms
    when: {answers.imaging-readiness.symptom_weeks: {gte: 6}}
    then: {auth: not-required}
"""


def test_a_form_version_that_breaks_a_published_ruleset_is_refused(empty_db: Database) -> None:
    _forms(empty_db)
    with empty_db.transaction() as session:
        store.push(session, "it", "ruleset", [("probe.yaml", PROBE)], publish_now=True)
    broken = IMAGING.replace(
        "    symptom_weeks:\n      type: integer", "    symptom_weeks:\n      type: string", 1
    )
    assert broken != IMAGING
    with pytest.raises(store.StoreError) as caught, empty_db.transaction() as session:
        store.push(session, "it", "form", [("imaging.yaml", broken)], publish_now=True)
    assert "with this form, published" in str(caught.value)


def test_the_audit_chain_holds_and_detects_an_edited_or_deleted_row(empty_db: Database) -> None:
    _forms(empty_db)
    with empty_db.transaction() as session:
        report = audit.verify(session)
        ids = list(session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
    assert report.problems == [] and report.events == len(ids) == 18  # create, draft, publish x 6 forms
    _tamper(empty_db, "UPDATE audit_events SET actor = 'mallory' WHERE id = :i", ids[3])
    _tamper(empty_db, "DELETE FROM audit_events WHERE id = :i", ids[7])
    with empty_db.transaction() as session:
        problems = audit.verify(session).problems
    assert len(problems) == 2
    assert problems[0].startswith(f"event {ids[3]} (") and problems[0].endswith(
        "its content does not match its hash: it was edited"
    )
    assert (
        problems[1].startswith(f"event {ids[8]} (") and "an event was deleted or inserted here" in problems[1]
    )


def test_the_database_refuses_to_update_or_delete_audit_rows(empty_db: Database) -> None:
    _forms(empty_db)
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        refused = pytest.raises(sa.exc.DatabaseError, match="audit_events is append-only")
        with refused, empty_db.engine.begin() as connection:
            connection.execute(sa.text(statement))


def test_two_events_can_never_extend_the_same_link(empty_db: Database) -> None:
    _forms(empty_db)
    with empty_db.transaction() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        prev = last.prev_hash
    with pytest.raises(sa.exc.IntegrityError), empty_db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO audit_events (at, actor, action, entity_type, entity_id, prev_hash, hash) "
                "VALUES (CURRENT_TIMESTAMP, 'x', 'x', 'x', 'x', :p, :h)"
            ),
            {"p": prev, "h": "f" * 64},
        )


def _tamper(db: Database, statement: str, row_id: int) -> None:
    """What someone with the database's owner rights could do: lift the guard, change a row."""
    with db.engine.begin() as connection:
        if db.engine.dialect.name == "postgresql":
            connection.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update"))
            connection.execute(sa.text(statement), {"i": row_id})
            connection.execute(sa.text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update"))
        else:
            connection.execute(sa.text("DROP TRIGGER IF EXISTS audit_events_no_update"))
            connection.execute(sa.text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
            connection.execute(sa.text(statement), {"i": row_id})
