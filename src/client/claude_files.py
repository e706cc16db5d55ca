"""Claude Code's JSON files, read strictly and written with a backup first
(`<file>.meshpeer-<timestamp>.bak`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any


class InstallError(Exception):
    """A file that cannot be read or written, or `claude mcp` refusing."""


def read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InstallError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise InstallError(f"{path} is not valid JSON ({exc}); fix it by hand first") from exc
    if not isinstance(value, dict):
        raise InstallError(f"{path} does not hold a JSON object; fix it by hand first")
    return value


def write_json(path: Path, value: dict[str, Any], stamp: str) -> None:
    try:
        backup(path, stamp)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except OSError as exc:
        raise InstallError(f"cannot write {path}: {exc.strerror}") from exc


def backup(path: Path, stamp: str) -> None:
    if path.exists():
        shutil.copy2(path, path.with_name(f"{path.name}.meshpeer-{stamp}.bak"))
