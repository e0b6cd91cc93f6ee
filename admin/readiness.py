"""Readiness form pages: fill a shipped form against an example case, check it, save a draft.

    GET  /forms/                          every form, with the rulesets that name it
    GET  /forms/<id>?case=<example>       the form, prefilled from the case (or from the saved draft)
    POST /forms/<id>?case=<example>       action=check: validate and show errors or the facts;
                                          action=draft: save what was typed; action=discard
    GET  /forms/<id>/questionnaire.json   the form as a FHIR R4 Questionnaire

The server is the judge: typed text is read per question (engine.answers), answers to hidden
questions are dropped, and validation is the engine's. Coordinators, analysts, reviewers and
admins may open these pages (admin/auth.py); a later issue attaches the answers to real cases.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from admin import auth
from admin.drafts import Drafts
from admin.library import Example, Library
from engine.answers import Typed, as_typed, prefill, read_typed
from engine.forms import Form
from engine.questionnaire import to_questionnaire

bp = Blueprint("readiness", __name__, url_prefix="/forms")
bp.before_request(auth.require_roles("coordinator", "analyst", "reviewer", "admin"))


def _library() -> Library:
    from admin.app import library

    return library()


def _drafts() -> Drafts:
    drafts: Drafts = current_app.extensions["priorauth.drafts"]
    return drafts


@bp.get("/")
def index() -> str:
    library = _library()
    return render_template("forms/index.html", forms=list(library.forms.values()), named_by=library.named_by)


@bp.get("/<form_id>/questionnaire.json")
def questionnaire(form_id: str) -> Any:
    form = _form(form_id)
    response = current_app.response_class(
        current_app.json.dumps(to_questionnaire(form), indent=2), mimetype="application/fhir+json"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{form.id}-questionnaire.json"'
    return response


@bp.route("/<form_id>", methods=["GET", "POST"])
def fill(form_id: str) -> Any:
    library = _library()
    form = _form(form_id)
    examples = library.examples_for(form.id)
    example = _example(library, examples)
    case = example.name if example else None
    drafts = _drafts()
    draft = drafts.load(form.id, case)
    checked = False
    typing: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    prefilled: set[str] = set()

    if request.method == "POST":
        action = request.form.get("action", "check")
        if action == "discard":
            drafts.discard(form.id, case)
            flash("The draft was discarded; the form shows the case's facts again.", "info")
            return redirect(url_for(".fill", form_id=form.id, case=case or ""))
        typed = typed_from_request(form)
        answers, typing = read_typed(form, typed)
        draft = drafts.save(form.id, case, typed, form.version, form.sha256)
        if action == "draft":
            flash(
                f"Draft saved at {draft.saved_at[11:16]} UTC. Come back to this page to finish it.", "success"
            )
            return redirect(url_for(".fill", form_id=form.id, case=case or ""))
        checked = True
    elif draft is not None:
        typed = draft.typed
        answers, typing = read_typed(form, typed)
    else:
        # the case's own answers to this form first; prefill from its facts fills the gaps
        given = (example.facts.get("answers") or {}).get(form.id) if example else None
        given = dict(given) if isinstance(given, dict) else {}
        found = prefill(form, example.facts) if example else {}
        prefilled = set(found) - set(given)
        answers = {**found, **given}
        typed = as_typed(form, answers)

    visible = form.visible(answers)
    typing = [(name, message) for name, message in typing if name in visible]
    if checked:
        unreadable = {name for name, _ in typing}
        errors = typing + [(f, m) for f, m in form.errors(answers) if f.split(".")[0] not in unreadable]
    by_field: dict[str, list[str]] = {}
    for field, message in errors:
        by_field.setdefault(field.split(".")[0], []).append(message)
    shown = [q for q in form.questions if q.name in visible or q.name in by_field]
    answered = sum(1 for q in shown if answers.get(q.name) not in (None, []))
    return render_template(
        "forms/fill.html",
        form=form,
        examples=examples,
        example=example,
        typed=typed,
        errors=errors,
        by_field=by_field,
        visible=visible,
        prefilled=prefilled,
        draft=draft if request.method == "GET" else None,
        has_draft=draft is not None,
        form_complete=form.complete(answers),
        checked=checked,
        complete=checked and not errors,
        answered=answered,
        total=len(shown),
        facts=form.to_facts(answers),
        decision=_decision(library, form, example, answers),
    ), (422 if checked and errors else 200)


def _form(form_id: str) -> Form:
    form = _library().forms.get(form_id)
    if form is None:
        abort(404)
    return form


def _example(library: Library, examples: list[Example]) -> Example | None:
    """The example case named by ?case= (empty: none), else the first one that names the form."""
    name = request.args.get("case")
    if name is None:
        return examples[0] if examples else None
    if name == "":
        return None
    example = library.examples.get(name)
    if example is None:
        abort(404)
    return example


def typed_from_request(form: Form) -> Typed:
    """What the page posted for each question, as text (the case page's forms read it too)."""
    typed: Typed = {}
    for question in form.questions:
        values = request.form.getlist(question.name)
        if question.kind == "choices":
            typed[question.name] = values
        elif values:
            typed[question.name] = values[-1]  # a checkbox posts a hidden "false" then "true"
    return typed


def _decision(
    library: Library, form: Form, example: Example | None, answers: dict[str, Any]
) -> dict[str, Any] | None:
    if example is None:
        return None
    facts = copy.deepcopy(dict(example.facts))
    given = facts.get("answers")
    facts["answers"] = {**(given if isinstance(given, dict) else {}), form.id: form.clean(answers)}
    return library.decide(facts)
