"""The application shell: the web app (`create_app`), the `priorauth` command line and, next, the store.

`create_app` is imported lazily so that the command line starts without loading Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The priorauth web app (see admin.app.create_app)."""
    from admin.app import create_app as _create_app

    return _create_app(test_config)
