"""The web app factory: configuration, security, the shipped library, and the pages.

    app = create_app()                      # PRIORAUTH_* from the environment
    app = create_app({"TESTING": True, ...})

Every form posts a CSRF token (Flask-WTF); every response carries a strict Content-Security-Policy
(scripts and styles only from /static, nothing inline) and no-sniff / no-referrer headers. Errors
are pages that say what to do, never a traceback.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from admin import auth, store
from admin import config as configuration
from admin.db import Database, NotMigrated
from admin.drafts import Drafts
from admin.library import Library, LibraryError, load_examples

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
log = logging.getLogger("priorauth.app")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False)
    instance = configuration.instance_path()
    if test_config and test_config.get("INSTANCE_PATH"):
        instance = Path(test_config["INSTANCE_PATH"])
    app.config.update(configuration.load(instance, test_config, os.environ))
    app.config["INSTANCE_PATH"] = str(instance)

    db = Database(app.config["DATABASE_URL"])
    try:
        db.check_migrated()  # the app never runs on a schema it does not know
    except NotMigrated:
        db.dispose()
        raise
    app.extensions["priorauth.db"] = db
    app.teardown_appcontext(lambda _exc: db.scoped.remove())
    examples, problems = load_examples(Path(app.config["EXAMPLES_DIR"]))
    if problems:
        raise LibraryError(problems)
    app.extensions["priorauth.examples"] = examples
    app.extensions["priorauth.libraries"] = {}
    app.extensions["priorauth.drafts"] = Drafts(instance / "drafts")
    csrf = CSRFProtect(app)
    auth.init_app(app)  # after CSRFProtect: Flask-Security's forms then use its tokens

    from admin import readiness

    app.register_blueprint(readiness.bp)
    from admin import api

    api.init_app(app, csrf)
    from admin import (
        analyst,
        casedocs,
        caseforms,
        caseintake,
        casepackets,
        casepages,
        caseusage,
        faxpages,
        vendor,
    )

    app.register_blueprint(caseintake.bp)  # before casepages: /cases/new is not a case reference
    app.register_blueprint(caseusage.bp)  # before casepages: /cases/claims is not a reference
    app.register_blueprint(casepages.bp)
    app.register_blueprint(caseforms.bp)
    app.register_blueprint(casedocs.bp)
    app.register_blueprint(casepackets.bp)
    app.register_blueprint(faxpages.bp)

    vendor.init_app(app)
    analyst.init_app(app)
    app.add_url_rule("/", "home", auth.home)
    app.add_url_rule("/healthz", "healthz", lambda: {"status": "ok"})
    app.after_request(_security_headers)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app


def library() -> Library:
    """What is published now, as a Library; rebuilt only when the published set changes."""
    app = current_app
    db: Database = app.extensions["priorauth.db"]
    cache: dict[tuple[str, ...], Library] = app.extensions["priorauth.libraries"]
    session = db.scoped()
    rows = store.published(session, "form") + store.published(session, "ruleset")
    key = tuple(sorted(f"{r.id}:{r.sha256}" for r in rows))
    found = cache.get(key)
    if found is None:
        forms = store.published_forms(session)
        found = Library(
            forms,
            store.published_rulesets(session, forms),
            app.extensions["priorauth.examples"],
            app.config["ENGINE"],
        )
        cache.clear()  # one snapshot at a time: the old one is no longer what is published
        cache[key] = found
    return found


def _security_headers(response: Response) -> Response:
    nonce = g.get("csp_nonce")
    if nonce:  # a Flask-Admin page: its inline scripts and styles carry this request's nonce
        policy = CSP.replace("script-src 'self'", f"script-src 'self' 'nonce-{nonce}'").replace(
            "style-src 'self'", f"style-src 'self' 'nonce-{nonce}'"
        )
        response.headers["Content-Security-Policy"] = policy
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"  # pages may hold patient facts
    return response


def _csrf_error(error: CSRFError) -> tuple[str, int]:
    return (
        render_template(
            "error.html",
            code=400,
            title="This page expired",
            message="The form was open too long or came from another site, so it was not saved. "
            "Go back, reload the page and submit again.",
        ),
        400,
    )


def _http_error(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    if code == 403:  # who is signed in, with which roles, and what to ask for
        return auth.forbidden_page(error)
    titles = {404: "Not found", 405: "Not allowed", 413: "Too large"}
    messages = {
        404: "There is nothing at this address. Check the link, or start from the list of forms.",
        405: "This page does not take that kind of request.",
        413: "What was sent is larger than this page accepts.",
    }
    return (
        render_template(
            "error.html",
            code=code,
            title=titles.get(code, error.name),
            message=messages.get(code, error.description or ""),
        ),
        code,
    )


def _unexpected(error: Exception) -> tuple[str, int]:
    if isinstance(error, HTTPException):  # pragma: no cover - handled above
        return _http_error(error)
    # the type and the code path only: the message could carry a patient's data
    frames = "".join(traceback.format_tb(error.__traceback__))
    log.error("unexpected error %s\n%s", type(error).__name__, frames)
    return (
        render_template(
            "error.html",
            code=500,
            title="Something went wrong",
            message="The request failed on our side and nothing was changed. Try again; if it keeps failing, tell IT.",
        ),
        500,
    )
