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

from flask import Flask, Response, redirect, render_template, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from admin import config as configuration
from admin.drafts import Drafts
from admin.library import Library

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
log = logging.getLogger("priorauth.app")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False)
    instance = Path(os.environ.get("PRIORAUTH_INSTANCE_PATH") or app.instance_path)
    if test_config and test_config.get("INSTANCE_PATH"):
        instance = Path(test_config["INSTANCE_PATH"])
    app.config.update(configuration.load(instance, test_config, os.environ))
    app.config["INSTANCE_PATH"] = str(instance)

    app.extensions["priorauth.library"] = Library(
        app.config["FORMS_DIR"], app.config["RULESETS_DIR"], app.config["EXAMPLES_DIR"], app.config["ENGINE"]
    )
    app.extensions["priorauth.drafts"] = Drafts(instance / "drafts")
    CSRFProtect(app)

    from admin import readiness

    app.register_blueprint(readiness.bp)
    app.add_url_rule("/", "home", lambda: redirect(url_for("readiness.index")))
    app.add_url_rule("/healthz", "healthz", lambda: {"status": "ok"})
    app.after_request(_security_headers)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app


def _security_headers(response: Response) -> Response:
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
