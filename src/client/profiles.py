"""Profiles, and the one rule every `meshpeer` command resolves its identity by.

A profile is what `meshpeer join` learned: `$MESHPEER_HOME/profiles/<name>.json`
(mode 0600) with `url`, `meshId`, `mesh` (the slug), `memberId`, `name` and `key` (the
key file's path). `$MESHPEER_HOME/config.json` names the default profile.

Identity, field by field: a flag, else its `MESHPEER_*` variable, else the profile
named by `--profile` / `MESHPEER_PROFILE`, else the default profile. Standard library
only: `meshpeer hook` resolves through here on every Claude Code event."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.sessions import home

IDENTITY_ENV = {
    "url": "MESHPEER_URL",
    "mesh": "MESHPEER_MESH",
    "member": "MESHPEER_MEMBER",
    "key": "MESHPEER_KEY",
    "session": "MESHPEER_SESSION",
}
# identity field -> the profile's key for it
PROFILE_FIELDS = {"url": "url", "mesh": "meshId", "member": "memberId", "key": "key"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ProfileError(Exception):
    """A profile that is named but missing or unreadable; `argument` is the flag to fix."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(problem)
        self.argument = argument


@dataclass(frozen=True, slots=True)
class Resolved:
    """The identity a command runs as; `source` says where each field came from
    (`flag`, the variable's name, or `profile <name>`)."""

    values: dict[str, str | None]
    source: dict[str, str]
    profile: str | None


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


def resolve_identity(
    flags: Mapping[str, str | None], env: Mapping[str, str], profile_flag: str | None = None
) -> Resolved:
    """The identity, field by field: flag > `MESHPEER_*` > `--profile`/`MESHPEER_PROFILE`
    > default profile. Raises ProfileError when a named profile is missing; a missing
    default profile is no error (the fields stay None)."""
    values: dict[str, str | None] = {}
    source: dict[str, str] = {}
    for field, variable in IDENTITY_ENV.items():
        if flags.get(field):
            values[field], source[field] = flags[field], "flag"
        elif env.get(variable):
            values[field], source[field] = env[variable], variable
    named = profile_flag or env.get("MESHPEER_PROFILE") or None
    name = named or default_profile(env)
    profile: dict[str, Any] | None = None
    if named:
        profile = load_profile(named, env)
    elif name:
        profile = _read(profile_path(name, env)) if _NAME.fullmatch(name) else None
        name = name if profile is not None else None
    if profile is not None:
        for field, key in PROFILE_FIELDS.items():
            value = profile.get(key)
            if field not in values and isinstance(value, str) and value:
                values[field], source[field] = value, f"profile {name}"
    values["mesh"] = mesh_id_for(values.get("mesh"), env)
    for field in IDENTITY_ENV:
        values.setdefault(field, None)
    return Resolved(values, source, name if profile is not None else None)


def mesh_id_for(mesh: str | None, env: Mapping[str, str]) -> str | None:
    """A mesh slug that some profile has, as that profile's mesh id; else as given."""
    if not mesh:
        return mesh
    for name in list_profiles(env):
        profile = _read(profile_path(name, env))
        if profile and profile.get("mesh") == mesh and isinstance(profile.get("meshId"), str):
            return str(profile["meshId"])
    return mesh


_UUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_PUBKEY = re.compile(r"[0-9a-f]{64}")


def identity_hint(values: Mapping[str, str | None]) -> str | None:
    """Why a broker may have refused this identity, when a value has the shape of
    something else: a mesh slug where the mesh id belongs, a pubkey for a member id."""
    mesh, member = values.get("mesh") or "", values.get("member") or ""
    if _PUBKEY.fullmatch(member):
        return (
            f"--member {member[:12]}... looks like a pubkey; it takes the member id "
            "(`meshbroker member list` shows it)"
        )
    if mesh and not _UUID.fullmatch(mesh):
        return (
            f"--mesh {mesh!r} looks like a mesh slug, and no profile has it; it takes the "
            "mesh id (`meshbroker mesh list` shows it), or join with `meshpeer join INVITE`"
        )
    if member and not _UUID.fullmatch(member):
        return f"--member {member!r} looks like a name; it takes the member id"
    return None


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
