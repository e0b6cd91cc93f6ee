"""Configuration: defaults, then `PRIORAUTH_*` environment variables, then the test's mapping.

Read once, in create_app; nothing here runs at import time.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024

DEFAULTS: dict[str, Any] = {
    "EXAMPLES_DIR": str(ROOT / "examples" / "cases"),
    "ENGINE": "durable",
    "MAX_CONTENT_LENGTH": 2 * MiB,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,
    "WTF_CSRF_TIME_LIMIT": 8 * 3600,  # a coordinator's working day on one page
}
# PRIORAUTH_<NAME> -> config key, and how to read the text
FROM_ENV: dict[str, Any] = {
    "SECRET_KEY": str,
    "EXAMPLES_DIR": str,
    "ENGINE": str,
    "SESSION_COOKIE_SECURE": lambda text: text.strip().lower() in ("1", "true", "yes"),
}


def instance_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the app keeps its own files (SQLite database, secret key, drafts)."""
    env = os.environ if environ is None else environ
    return Path(env.get("PRIORAUTH_INSTANCE_PATH") or ROOT / "instance")


def database_url(instance: Path, environ: Mapping[str, str]) -> str:
    """PRIORAUTH_DATABASE_URL, else SQLite in the instance folder (made when missing)."""
    url = environ.get("PRIORAUTH_DATABASE_URL")
    if url:
        return url
    instance.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(instance / 'priorauth.db').resolve()}"


class ConfigError(Exception):
    """The configuration cannot work; the message says which setting and how to fix it."""


def load(
    instance_path: Path, test_config: Mapping[str, Any] | None, environ: Mapping[str, str]
) -> dict[str, Any]:
    config = dict(DEFAULTS)
    for name, read in FROM_ENV.items():
        text = environ.get(f"PRIORAUTH_{name}")
        if text is not None and text != "":
            config[name] = read(text)
    config["DATABASE_URL"] = database_url(instance_path, environ)
    config.update(test_config or {})
    if config["ENGINE"] not in ("durable", "compiled"):
        raise ConfigError(f"PRIORAUTH_ENGINE is '{config['ENGINE']}': set it to durable or compiled")
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = instance_secret(instance_path)
    return config


def instance_secret(instance_path: Path, name: str = "secret_key") -> str:
    """A random secret kept in the instance folder as `name` (mode 0600), made on first start.

    Sessions and CSRF tokens then survive a restart without anyone choosing a key; set
    PRIORAUTH_SECRET_KEY to share one key between several processes. admin/auth.py keeps its
    password salt and TOTP key the same way, each in its own file.
    """
    path = instance_path / name
    try:
        return path.read_text("ascii").strip()
    except FileNotFoundError:
        pass
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text("ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key)
    return key
