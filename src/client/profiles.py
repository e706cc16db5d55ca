"""Profiles, and the one rule every `meshpeer` command resolves its identity by.

A profile is what `meshpeer join` learned: `$MESHPEER_HOME/profiles/<name>.json`
(mode 0600) with `url`, `meshId`, `mesh` (the slug), `memberId`, `name` and `key` (the
key file's path). `$MESHPEER_HOME/config.json` names the default profile.

Identity, field by field: a flag, else its `MESHPEER_*` variable, else the profile
named by `--profile` / `MESHPEER_PROFILE`, else the default profile. Standard library
only: `meshpeer hook` resolves through here on every Claude Code event."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from client.profile_files import (
    _NAME,
    _read,
    default_profile,
    list_profiles,
    load_profile,
    profile_path,
)

IDENTITY_ENV = {
    "url": "MESHPEER_URL",
    "mesh": "MESHPEER_MESH",
    "member": "MESHPEER_MEMBER",
    "key": "MESHPEER_KEY",
    "session": "MESHPEER_SESSION",
}
# identity field -> the profile's key for it
PROFILE_FIELDS = {"url": "url", "mesh": "meshId", "member": "memberId", "key": "key"}


@dataclass(frozen=True, slots=True)
class Resolved:
    """The identity a command runs as; `source` says where each field came from
    (`flag`, the variable's name, or `profile <name>`)."""

    values: dict[str, str | None]
    source: dict[str, str]
    profile: str | None


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
