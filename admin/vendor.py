"""/vendor/<path>: the browser libraries npm installed (admin/assets/node_modules), and only those
files the pages use. Nothing is copied into the repository; `make` runs `npm ci`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import abort, send_from_directory

NODE_MODULES = Path(__file__).resolve().parent / "assets" / "node_modules"
ALLOWED = frozenset(
    {
        "codemirror/lib/codemirror.js",
        "codemirror/lib/codemirror.css",
        "codemirror/mode/yaml/yaml.js",
    }
)


def serve(filename: str) -> Any:
    if filename not in ALLOWED:
        abort(404)
    if not (NODE_MODULES / filename).is_file():  # pragma: no cover - `make assets` not run
        abort(404, "the editor's library is not installed: run `make assets` (npm ci)")
    return send_from_directory(NODE_MODULES, filename, max_age=86400)


def init_app(app: Any) -> None:
    app.add_url_rule("/vendor/<path:filename>", "vendor", serve)
    rules = app.extensions.get("priorauth.access")
    if rules is not None:
        from admin.access import PUBLIC

        rules["vendor"] = PUBLIC
