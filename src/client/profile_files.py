"""Profile files: `$MESHPEER_HOME/profiles/<name>.json` (mode 0600) and `config.json`,
which names the default profile. Standard library only."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from client.sessions import home

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ProfileError(Exception):
    """A profile that is named but missing or unreadable; `argument` is the flag to fix."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(problem)
        self.argument = argument


def profiles_dir(env: Mapping[str, str] | None = None) -> Path:
    return home(env) / "profiles"


def profile_path(name: str, env: Mapping[str, str] | None = None) -> Path:
    return profiles_dir(env) / f"{name}.json"


def safe_name(text: str) -> str:
    """A file name for a profile (a mesh slug or id, as the invite names it)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")[:128]
    return cleaned if _NAME.fullmatch(cleaned) else "mesh"


def default_profile(env: Mapping[str, str] | None = None) -> str | None:
    config = _read(home(env) / "config.json")
    name = config.get("profile") if config else None
    return name if isinstance(name, str) and name else None


def load_profile(name: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    if not _NAME.fullmatch(name):
        raise ProfileError("--profile", f"not a profile name: {name!r}")
    path = profile_path(name, env)
    profile = _read(path)
    if profile is None:
        known = ", ".join(list_profiles(env)) or "none yet: `meshpeer join INVITE` makes one"
        raise ProfileError("--profile", f"no profile {name!r} in {path.parent} (profiles: {known})")
    return profile


def list_profiles(env: Mapping[str, str] | None = None) -> list[str]:
    try:
        return sorted(p.stem for p in profiles_dir(env).glob("*.json"))
    except OSError:
        return []


def write_profile(
    name: str, profile: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> Path:
    """Write the profile atomically (mode 0600); the first one becomes the default."""
    directory = profiles_dir(env)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = profile_path(name, env)
    _write_json(path, profile)
    if default_profile(env) is None:
        _write_json(home(env) / "config.json", {"profile": name})
    return path


def free_profile_name(base: str, env: Mapping[str, str] | None = None) -> str:
    """`base`, or `base-2`, `base-3`, ... : a name no profile has yet."""
    name, n = safe_name(base), 1
    while profile_path(name if n == 1 else f"{name}-{n}", env).exists():
        n += 1
    return name if n == 1 else f"{name}-{n}"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _write_json(path: Path, value: Mapping[str, Any]) -> None:
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)
        json.dump(dict(value), out, indent=2)
        out.write("\n")
    os.replace(temporary, path)
