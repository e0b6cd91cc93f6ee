"""Flask-Admin for analysts, reviewers and admins, under /admin/.

    Rulesets, Forms,  the store's documents: versions, the YAML editor (CodeMirror, checked before
    Packet templates
                      save, errors at their line), Try it, Compare, Backtest, submit / publish /
                      retire / roll back
    Payers            who requests go to, and how
    Audit             the trail, read-only, with a chain check

Every view says which roles may open it (`roles`) and which may change things (`edit_roles`);
`init_app` registers those with the app's sign-in guard (admin/auth.py), so the role-matrix test
sees every endpoint. Every change goes through the store (admin/store.py) and its audit trail.
"""

from __future__ import annotations

import json
import secrets
import warnings
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from flask import Response, current_app, flash, g, redirect, request, url_for
from flask_admin import Admin, AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_security import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import inspect, select
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import Forbidden, NotFound
from wtforms import SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from admin import audit, backtest, compare, store, valueset_csv
from admin.db import Database
from admin.models import AuditEvent, DocumentVersion, Payer, User
from admin.models_cases import Organization
from engine import EngineError, Evaluator, LoadError, Problem, load_ruleset
from engine.catalog import form_types
from engine.rulesets import CHANNELS

READERS = frozenset({"analyst", "reviewer", "it", "admin"})
EDITORS = frozenset({"analyst", "it"})
PUBLISHERS = frozenset({"reviewer"})
MAX_BACKTEST_BYTES = 20 * 1024 * 1024


def _db() -> Database:
    db: Database = current_app.extensions["priorauth.db"]
    return db


def _roles() -> set[str]:
    if not current_user.is_authenticated:
        return set()
    return {role.name for role in current_user.roles}


def _examples() -> list[str]:
    return sorted(current_app.extensions["priorauth.examples"])


def _actor() -> str:
    return f"web:{current_user.email}"


class Guarded:
    """Mixed into every view: who may open it, who may change things."""

    roles: frozenset[str] = READERS
    edit_roles: frozenset[str] = frozenset()

    def is_accessible(self) -> bool:
        return bool(_roles() & self.roles)

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return redirect(url_for("security.login", next=request.full_path))
        raise Forbidden()

    def may_edit(self) -> bool:
        return bool(_roles() & self.edit_roles)

    def need(self, roles: Iterable[str], what: str) -> None:
        if not (_roles() & set(roles)):
            raise Forbidden(f"{what} needs the role {' or '.join(sorted(roles))}")


class Home(Guarded, AdminIndexView):
    @expose("/")
    def index(self) -> Any:
        session = _db().scoped()
        counts = {
            kind: {
                status: len([r for r in store.versions(session, kind) if r.status == status])
                for status in ("draft", "in-review", "published")
            }
            for kind in ("ruleset", "form", "template")
        }
        recent = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(10)))
        return self.render("analyst/home.html", counts=counts, recent=recent)


class Documents(Guarded, BaseView):
    """The versions of rulesets or forms, with the editor and what goes around it."""

    edit_roles = EDITORS
    # pages only some readers may open (the rest of the view is open to every reader)
    endpoint_roles = {
        "new": EDITORS,
        "draft_from": EDITORS,
        "import_valueset": EDITORS,
        "move": EDITORS | PUBLISHERS,
    }

    def __init__(self, kind: str, **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(**kwargs)

    # -- lists -------------------------------------------------------------------------------------
    @expose("/")
    def index(self) -> Any:
        rows: dict[str, list[DocumentVersion]] = {}
        for row in store.versions(_db().scoped(), self.kind):
            rows.setdefault(row.document.slug, []).append(row)
        return self.render("analyst/documents.html", view=self, rows=rows)

    @expose("/<slug>")
    def versions(self, slug: str) -> Any:
        rows = store.versions(_db().scoped(), self.kind, slug)
        if not rows:
            raise NotFound()
        return self.render(
            "analyst/versions.html",
            view=self,
            slug=slug,
            rows=list(reversed(rows)),
            may_publish=bool(_roles() & PUBLISHERS),
        )

    # -- the editor --------------------------------------------------------------------------------
    @expose("/new", methods=["GET", "POST"])
    def new(self) -> Any:
        self.need(EDITORS, "a new draft")
        text = request.form.get("text", self._template())
        problems: list[Problem] = []
        if request.method == "POST":
            try:
                with _db().transaction() as session:
                    row = store.save_draft(session, _actor(), self.kind, text)
                flash(f"Draft #{row.id} saved.", "success")
                return redirect(url_for(".edit", version_id=row.id))
            except store.StoreError as exc:
                problems = exc.problems
        return self.render(
            "analyst/edit.html",
            view=self,
            row=None,
            text=text,
            problems=problems,
            conflict=None,
            tried=None,
            examples=_examples(),
        )

    @expose("/<slug>/draft", methods=["POST"])
    def draft_from(self, slug: str) -> Any:
        """A new draft with the text of a version (the published one unless ?from= says which)."""
        self.need(EDITORS, "a new draft")
        source = request.form.get("from", type=int)
        with _db().transaction() as session:
            base = session.get(DocumentVersion, source) if source else store.find(session, self.kind, slug)
            if base is None or base.document.slug != slug:
                raise NotFound()
            row = store.save_draft(session, _actor(), self.kind, base.text, source=f"from v{base.version}")
        flash(f"Draft #{row.id} made from v{base.version}.", "success")
        return redirect(url_for(".edit", version_id=row.id))

    @expose("/edit/<int:version_id>", methods=["GET", "POST"])
    def edit(self, version_id: int) -> Any:
        session = _db().scoped()
        row = session.get(DocumentVersion, version_id)
        if row is None or row.document.kind != self.kind:
            raise NotFound()
        text, problems, conflict, tried = row.text, [], None, None
        if request.method == "POST":
            text = request.form.get("text", "")
            action = request.form.get("action", "save")
            if action == "try":
                tried = self._try(text)
            else:
                self.need(EDITORS, "editing a draft")
                try:
                    with _db().transaction() as tx:
                        saved = store.save_draft(
                            tx, _actor(), self.kind, text, version_id, request.form.get("lock", type=int)
                        )
                        if action == "submit":
                            store.submit(tx, _actor(), version_id)
                    flash(
                        "Saved and sent to review."
                        if action == "submit"
                        else f"Saved at {saved.updated_at:%H:%M} UTC.",
                        "success",
                    )
                    return redirect(url_for(".edit", version_id=version_id))
                except store.Conflict as exc:
                    conflict = exc
                except store.StoreError as exc:
                    problems = exc.problems
            session.expire_all()
            row = session.get(DocumentVersion, version_id)
        return self.render(
            "analyst/edit.html",
            view=self,
            row=row,
            text=text,
            problems=problems,
            conflict=conflict,
            tried=tried,
            examples=_examples(),
        )

    @expose("/preview", methods=["POST"])
    def preview(self) -> Any:
        """A packet template's text (saved or not) as a draft packet for an example case, as a PDF."""
        if self.kind != "template":
            raise NotFound()
        from admin import templatepreview

        name = request.form.get("case", "")
        example = current_app.extensions["priorauth.examples"].get(name)
        if example is None:
            return self.render(
                "analyst/preview_error.html",
                view=self,
                problems=["Choose an example case to preview it with."],
            )
        outcome = templatepreview.render(_db().scoped(), request.form.get("text", ""), dict(example.facts))
        if isinstance(outcome, list):
            return self.render("analyst/preview_error.html", view=self, problems=outcome)
        response = Response(outcome, mimetype="application/pdf")
        response.headers["Content-Disposition"] = "inline; filename=template-preview.pdf"
        response.headers["Cache-Control"] = "no-store"
        return response

    def _template(self) -> str:
        if self.kind == "template":
            return (
                "template: new-request-form\nversion: 1\ntitle: New request form\npayer: acme\nhtml: |\n"
                '  <h1>{{ payer.name }} prior authorization request</h1>\n  <table class="fields">\n'
                "    <tr><th>Member ID</th><td>{{ case.coverage.member_id }}</td></tr>\n"
                '    <tr><th>Codes</th><td>{{ case.service.codes | join(", ") }}</td></tr>\n  </table>\ncss: |\n'
                "  h1 { font-size: 14pt }\n"
            )
        if self.kind == "form":
            return "form: new-form\nversion: 1\ntitle: New readiness form\nschema:\n  type: object\n  properties:\n    question: {type: string, title: A question}\n"
        return (
            "ruleset: new-ruleset\nversion: 1\ntitle: New ruleset\npayer: acme\neffective: {from: "
            f"{date.today():%Y-%m-%d}}}\nrules:\n  - id: first-rule\n    when: {{service.codes: {{any_in: ['72148']}}}}\n    then: {{auth: required}}\n"
        )

    def _try(self, text: str) -> dict[str, Any]:
        """Evaluate the text in the editor (saved or not) against an example or pasted case."""
        if self.kind != "ruleset":
            return {"error": "Try it works on rulesets; check a form on its readiness page."}
        name = request.form.get("case", "")
        pasted = request.form.get("facts", "").strip()
        if pasted:
            try:
                facts = json.loads(pasted)
            except json.JSONDecodeError as exc:
                return {
                    "error": f"The pasted case is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
                }
        else:
            example = current_app.extensions["priorauth.examples"].get(name)
            if example is None:
                return {"error": "Choose an example case or paste a case's facts as JSON."}
            facts = dict(example.facts)
        if not isinstance(facts, dict):
            return {"error": "A case is a JSON object of facts."}
        session = _db().scoped()
        forms = store.published_forms(session)
        try:
            ruleset = load_ruleset(text, "<editor>", form_types(forms))
            # compiled: the same decisions as durable (tests hold them equal), and an unsaved text
            # does not register a durable-rules ruleset that would live on in the process
            decision = Evaluator([ruleset], forms, backend="compiled").evaluate(facts, date.today())
        except LoadError as exc:
            return {"problems": list(exc.problems)}
        except EngineError as exc:
            return {"error": str(exc)}
        return {"decision": decision, "case": name or "pasted case", "json": json.dumps(decision, indent=2)}

    @expose("/import/<int:version_id>", methods=["POST"])
    def import_valueset(self, version_id: int) -> Any:
        """A value set from a CSV file into this draft (saved like any edit: checked first)."""
        self.need(EDITORS, "importing a value set")
        session = _db().scoped()
        row = session.get(DocumentVersion, version_id)
        if row is None or row.document.kind != "ruleset" or self.kind != "ruleset":
            raise NotFound()
        name = request.form.get("name", "").strip()
        upload = request.files.get("csv")
        if upload is None or not upload.filename:
            flash("Choose a CSV file with one code per row.", "error")
            return redirect(url_for(".edit", version_id=version_id))
        codes, problems = valueset_csv.read_csv(upload.read(MAX_BACKTEST_BYTES + 1)[:MAX_BACKTEST_BYTES])
        if not valueset_csv.NAME.fullmatch(name):
            problems.insert(0, "the value set needs a name of letters, digits and _ (like lumbar_mri)")
        if problems:
            for problem in problems[:50]:
                flash(problem, "error")
            flash(f"Nothing was imported: {len(problems)} problem(s) in {upload.filename}.", "error")
            return redirect(url_for(".edit", version_id=version_id))
        text = valueset_csv.put_valueset(row.text, name, codes, upload.filename)
        try:
            with _db().transaction() as tx:
                store.save_draft(
                    tx, _actor(), "ruleset", text, version_id, request.form.get("lock", type=int)
                )
        except store.StoreError as exc:
            for found in exc.problems[:20]:
                flash(str(found) if found.file else found.message, "error")
            return redirect(url_for(".edit", version_id=version_id))
        flash(f"Value set {name}: {len(codes):,} codes imported from {upload.filename} and saved.", "success")
        return redirect(url_for(".edit", version_id=version_id))

    # -- transitions -------------------------------------------------------------------------------
    @expose("/move/<int:version_id>", methods=["POST"])
    def move(self, version_id: int) -> Any:
        action = request.form.get("action", "")
        needs = {
            "submit": EDITORS,
            "withdraw": EDITORS,
            "publish": PUBLISHERS,
            "retire": PUBLISHERS,
            "rollback": PUBLISHERS,
        }
        if action not in needs:
            raise NotFound()
        self.need(needs[action], action.capitalize())
        try:
            with _db().transaction() as session:
                row = session.get(DocumentVersion, version_id)
                if row is None or row.document.kind != self.kind:
                    raise NotFound()
                slug = row.document.slug
                if action == "publish":
                    result = store.publish(session, _actor(), version_id)
                    flash(f"{slug} v{result.version} is live.", "success")
                elif action == "rollback":
                    if row.version is None:
                        raise NotFound()
                    result = store.rollback(session, _actor(), self.kind, slug, row.version)
                    flash(f"{slug} v{row.version} published again as v{result.version}.", "success")
                else:
                    getattr(store, action)(session, _actor(), version_id)
                    flash(f"{slug}: done ({action}).", "success")
        except store.StoreError as exc:
            for problem in exc.problems:
                flash(str(problem) if problem.file else problem.message, "error")
            return redirect(request.referrer or url_for(".index"))
        return redirect(url_for(".versions", slug=slug))

    # -- compare and backtest ----------------------------------------------------------------------
    @expose("/<slug>/compare")
    def compare_view(self, slug: str) -> Any:
        session = _db().scoped()
        rows = {r.id: r for r in store.versions(session, self.kind, slug)}
        old, new = (
            rows.get(request.args.get("a", type=int) or 0),
            rows.get(request.args.get("b", type=int) or 0),
        )
        if old is None or new is None:
            flash("Choose two versions to compare.", "error")
            return redirect(url_for(".versions", slug=slug))
        changes = compare.compare(self.kind, old.text, new.text)
        return self.render(
            "analyst/compare.html",
            view=self,
            slug=slug,
            old=old,
            new=new,
            changes=changes,
            diff=store.diff(old, new),
        )

    @expose("/backtest/<int:version_id>", methods=["GET", "POST"])
    def backtest_view(self, version_id: int) -> Any:
        session = _db().scoped()
        row = session.get(DocumentVersion, version_id)
        if row is None or row.document.kind != "ruleset" or self.kind != "ruleset":
            raise NotFound()
        result: backtest.Result | None = None
        problems: list[str] = []
        if request.method == "POST":
            cases, problems = self._backtest_cases()
            if not problems:
                try:
                    result = backtest.of_version(session, row, cases)
                except LoadError as exc:
                    problems = [p.message for p in exc.problems]
                else:
                    if request.form.get("format") == "csv":
                        return Response(
                            backtest.to_csv(result),
                            mimetype="text/csv",
                            headers={
                                "Content-Disposition": f'attachment; filename="backtest-{row.document.slug}-{row.id}.csv"'
                            },
                        )
        return self.render("analyst/backtest.html", view=self, row=row, result=result, problems=problems)

    def _backtest_cases(self) -> tuple[list[tuple[str, Mapping[str, Any]]], list[str]]:
        if request.form.get("source") == "stored":
            last = request.form.get("last", 500, type=int)
            if last is None:
                return [], ["Say how many stored cases, as a whole number."]
            if not 1 <= last <= backtest.MAX_STORED:
                return [], [f"Choose between 1 and {backtest.MAX_STORED:,} stored cases."]
            return backtest.stored_cases(_db().scoped(), last), []
        upload = request.files.get("cases")
        if upload is None or not upload.filename:
            examples = current_app.extensions["priorauth.examples"]
            return [(name, example.facts) for name, example in examples.items()], []
        raw = upload.read(MAX_BACKTEST_BYTES + 1)
        if len(raw) > MAX_BACKTEST_BYTES:
            return [], [f"The file is larger than {MAX_BACKTEST_BYTES // (1024 * 1024)} MiB; split it."]
        cases: list[tuple[str, Mapping[str, Any]]] = []
        problems: list[str] = []
        for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                facts = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"line {number}, column {exc.colno}: not valid JSON ({exc.msg})")
                continue
            if not isinstance(facts, dict):
                problems.append(f"line {number}: a case is a JSON object")
                continue
            cases.append((str(facts.get("case_id") or f"line {number}"), facts))
        return cases, problems


class SecureModelView(Guarded, ModelView):
    form_base_class = FlaskForm  # the app's CSRF token (Flask-WTF), like every other form
    can_delete = False
    can_export = True
    page_size = 50


class Payers(SecureModelView):
    roles = READERS
    edit_roles = frozenset({"analyst", "reviewer", "admin"})
    column_list = ("id", "name", "channels", "fax_number", "portal_name", "updated_at")
    column_searchable_list = ("id", "name")
    form_columns = ("id", "name", "channels", "fax_number", "portal_name")
    form_extra_fields = {
        "channels": SelectMultipleField("Channels", choices=[SelectChoice(c, c) for c in CHANNELS])
    }
    column_labels = {
        "id": "Payer id (as rulesets name it)",
        "fax_number": "Fax number",
        "portal_name": "Portal",
    }

    @property
    def can_create(self) -> bool:
        return self.may_edit()

    @property
    def can_edit(self) -> bool:
        return self.may_edit()

    def on_model_change(self, form: Any, model: Payer, is_created: bool) -> None:
        """Audited in the same transaction as the change: before (from the row's history) and after."""
        self.need(self.edit_roles, "changing a payer")
        state = inspect(model)
        fields = ("name", "channels", "fax_number", "portal_name")
        before = None
        if not is_created:
            before = {}
            for name in fields:
                history = state.attrs[name].history
                before[name] = history.deleted[0] if history.deleted else getattr(model, name)
        after = {name: getattr(model, name) for name in fields}
        audit.record(
            _db().scoped(), _actor(), "create" if is_created else "edit", "payer", model.id, before, after
        )

    def update_model(self, form: Any, model: Any) -> bool:
        try:
            return bool(super().update_model(form, model))
        except StaleDataError:
            flash(
                "Someone else changed this payer after you opened it; nothing was saved. Reload and try again.",
                "error",
            )
            return False


class Organizations(SecureModelView):
    """The practices: their names and the fax and phone numbers every packet's cover sheet gives."""

    roles = frozenset({"admin", "it"})
    edit_roles = frozenset({"admin"})
    can_delete = False
    column_list = ("slug", "name", "fax_number", "phone")
    form_columns = ("name", "fax_number", "phone")
    column_labels = {
        "slug": "Id",
        "fax_number": "Practice fax (payers reply to it)",
        "phone": "Practice phone",
    }

    @property
    def can_create(self) -> bool:
        return False  # a practice is made with its first case or user (admin/cases.py)

    @property
    def can_edit(self) -> bool:
        return self.may_edit()

    def on_model_change(self, form: Any, model: Organization, is_created: bool) -> None:
        self.need(self.edit_roles, "changing a practice")
        from connectors.fax.base import FaxError, check_number

        for field in ("fax_number", "phone"):
            value = (getattr(model, field) or "").strip()
            if value:
                try:
                    check_number(value)
                except FaxError:
                    raise ValidationError(
                        f"{self.column_labels[field]}: write 7 to 15 digits, as +16145550199"
                    ) from None
            setattr(model, field, value or None)
        state = inspect(model)
        before = {}
        for name in ("name", "fax_number", "phone"):
            history = state.attrs[name].history
            before[name] = history.deleted[0] if history.deleted else getattr(model, name)
        after = {name: getattr(model, name) for name in ("name", "fax_number", "phone")}
        audit.record(_db().scoped(), _actor(), "edit", "organization", model.slug, before, after)


class Audit(SecureModelView):
    roles = frozenset({"admin", "reviewer"})
    list_template = "analyst/audit_list.html"
    column_formatters = {"at": lambda v, c, m, p: m.at.strftime("%Y-%m-%d %H:%M:%S UTC")}
    can_create = can_edit = can_delete = False
    can_view_details = True
    column_list = ("id", "at", "actor", "action", "entity_type", "entity_id")
    column_filters = ("actor", "action", "entity_type", "entity_id")
    column_searchable_list = ("actor", "entity_id")
    column_default_sort = ("id", True)
    column_details_list = (
        "id",
        "at",
        "actor",
        "action",
        "entity_type",
        "entity_id",
        "before",
        "after",
        "prev_hash",
        "hash",
    )
    column_formatters_detail = {
        "before": lambda v, c, m, p: Markup("<pre>{}</pre>").format(json.dumps(m.before, indent=2)),
        "after": lambda v, c, m, p: Markup("<pre>{}</pre>").format(json.dumps(m.after, indent=2)),
    }

    @expose("/verify")
    def verify(self) -> Any:
        report = audit.verify(_db().scoped())
        if report.problems:
            for problem in report.problems[:20]:
                flash(problem, "error")
            flash(
                f"The audit trail is BROKEN: {len(report.problems)} problem(s) in {report.events} events.",
                "error",
            )
        else:
            flash(f"{report.events} events, chain intact (head {report.head[:16]}…).", "success")
        return redirect(url_for(".index_view"))


class Users(SecureModelView):
    """People and their roles. New people come from `priorauth users add` (a one-time password is
    printed there, never shown in a page); here an admin changes roles and (de)activates."""

    roles = frozenset({"admin"})
    edit_roles = frozenset({"admin"})
    can_create = False
    column_list = (
        "email",
        "active",
        "roles",
        "last_login_at",
        "failed_logins",
        "locked_until",
        "tf_primary_method",
    )
    column_labels = {"tf_primary_method": "Second factor", "last_login_at": "Last sign-in"}
    column_searchable_list = ("email",)
    column_filters = ("active",)
    form_columns = ("active", "roles")

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        """A permission change is an audit event, with the roles and state before and after.

        (No role check here: the view is admin-only, and an admin editing their own roles would
        already see the new roles on `current_user`, the same row.)"""
        state = inspect(model)
        roles = state.attrs.roles.history
        active = state.attrs.active.history
        before_roles = (
            sorted(r.name for r in (roles.unchanged + roles.deleted)) if roles.has_changes() else None
        )
        after_roles = sorted(r.name for r in model.roles)
        before = {"roles": before_roles if before_roles is not None else after_roles}
        before["active"] = active.deleted[0] if active.deleted else model.active
        after = {"roles": after_roles, "active": model.active}
        session = _db().scoped()
        admins = session.scalars(select(User).where(User.active.is_(True))).all()
        if not any(
            u.active and any(r.name == "admin" for r in u.roles) for u in admins if u is not model
        ) and not (model.active and "admin" in after_roles):
            raise ValidationError(
                "This would leave no active admin: give the admin role to someone else first."
            )
        if before != after:
            audit.record(_db().scoped(), _actor(), "permissions", "user", str(model.id), before, after)


class ValueSets(Guarded, BaseView):
    """Every value set of every published ruleset: how many entries, of which kinds."""

    @expose("/")
    def index(self) -> Any:
        rows = []
        for ruleset in store.published_rulesets(_db().scoped()):
            for name, valueset in ruleset.valuesets.items():
                rows.append((ruleset.id, ruleset.version, name, valueset))
        return self.render("analyst/valuesets.html", rows=rows)


def init_app(app: Any) -> Admin:
    """Mount Flask-Admin at /admin/ with a per-request CSP nonce for its inline scripts."""
    db = app.extensions["priorauth.db"]

    def nonce() -> str:
        if "csp_nonce" not in g:
            g.csp_nonce = secrets.token_urlsafe(16)
        return str(g.csp_nonce)

    admin = Admin(
        app,
        name="priorauth",
        url="/admin",
        index_view=Home(name="Home", url="/admin", endpoint="admin"),
        csp_nonce_generator=nonce,
    )
    admin.add_view(Documents("ruleset", name="Rulesets", endpoint="rulesets", url="/admin/rulesets"))
    admin.add_view(Documents("form", name="Forms", endpoint="forms", url="/admin/forms"))
    admin.add_view(
        Documents("template", name="Packet templates", endpoint="templates", url="/admin/templates")
    )
    with warnings.catch_warnings():
        # Flask-Admin 2.x wants a Flask-SQLAlchemy object; a plain SQLAlchemy scoped session is
        # what this app has, and it stays supported until Flask-Admin 3
        warnings.filterwarnings("ignore", "Passing a session object directly", DeprecationWarning)
        admin.add_view(Payers(Payer, db.scoped, name="Payers", endpoint="payers"))
        admin.add_view(Organizations(Organization, db.scoped, name="Practices", endpoint="practices"))
        admin.add_view(Audit(AuditEvent, db.scoped, name="Audit", endpoint="audit"))
        admin.add_view(Users(User, db.scoped, name="Users", endpoint="users"))
    admin.add_view(ValueSets(name="Value sets", endpoint="valuesets", url="/admin/valuesets"))
    _register_access(app, admin)
    return admin


def _register_access(app: Any, admin: Admin) -> None:
    """Tell the app's sign-in guard who may open each Flask-Admin endpoint (view.roles)."""
    from admin.access import Access

    rules = app.extensions.get("priorauth.access")
    if rules is None:
        return
    views = {view.endpoint: view for view in admin._views}
    for rule in app.url_map.iter_rules():
        root, _, method = rule.endpoint.partition(".")
        if root in views:
            view = views[root]
            rules[rule.endpoint] = Access(roles=getattr(view, "endpoint_roles", {}).get(method, view.roles))
