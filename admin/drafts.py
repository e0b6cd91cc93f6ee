"""Drafts of readiness forms: what a person typed, kept until they come back to finish.

Until cases live in the database (the store), a draft is a JSON file in the instance folder,
`drafts/<form id>/<example case>.json`, written to a temporary file and renamed into place so a
crash never leaves half a draft. Names come from the app's own lists (form ids are slugs, example
names are file stems it found), never from raw request text.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.answers import Typed

_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,120}")
BLANK = "_blank"  # the draft of a form filled against no example case


@dataclass(frozen=True, slots=True)
class Draft:
    typed: Typed
    saved_at: str  # ISO time, UTC
    form_version: int | None
    form_sha256: str


class Drafts:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, form_id: str, case: str | None) -> Path:
        name = case or BLANK
        if not _SAFE.fullmatch(form_id) or not _SAFE.fullmatch(name):
            raise ValueError("unsafe draft name")
        return self.folder / form_id / f"{name}.json"

    def load(self, form_id: str, case: str | None) -> Draft | None:
        try:
            data = json.loads(self._path(form_id, case).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        typed = data.get("typed")
        if not isinstance(typed, dict):
            return None
        clean: Typed = {}
        for key, value in typed.items():
            if isinstance(value, str):
                clean[str(key)] = value
            elif isinstance(value, list):
                clean[str(key)] = [str(v) for v in value]
        return Draft(
            clean, str(data.get("saved_at", "")), data.get("form_version"), str(data.get("form_sha256", ""))
        )

    def save(self, form_id: str, case: str | None, typed: Typed, version: int | None, sha256: str) -> Draft:
        path = self._path(form_id, case)
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = Draft(typed, datetime.now(UTC).isoformat(timespec="seconds"), version, sha256)
        body: dict[str, Any] = {
            "typed": typed,
            "saved_at": draft.saved_at,
            "form_version": version,
            "form_sha256": sha256,
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".draft-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(body, out, ensure_ascii=False)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return draft

    def discard(self, form_id: str, case: str | None) -> None:
        self._path(form_id, case).unlink(missing_ok=True)
