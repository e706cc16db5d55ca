"""Joining a mesh with an invite: the key (loaded, or new and kept in memory), the
signed `POST /join`, then the new key and the profile written, only once accepted."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from client.errors import JoinFailed
from client.identity import KeyFileError, generate, load_key, write_key
from client.join_request import post_join
from client.profile_files import free_profile_name, write_profile
from client.sessions import home
from protocol.invite_string import InviteString


def join(
    invite: InviteString, name: str, key: Path | None, env: Mapping[str, str]
) -> dict[str, Any]:
    """Join, then write the key (when new) and the profile."""
    profile = free_profile_name(invite.mesh_slug or invite.mesh_id, env)
    if key is not None:
        identity, key_path = load_key(key), key.resolve()
    else:
        identity, key_path = generate(), home(env) / "keys" / f"{profile}.key"
        if key_path.exists():
            raise JoinFailed(f"{key_path} exists; name a key with --key, or move it away")
    answer = post_join(invite, identity, name)
    home(env).mkdir(mode=0o700, parents=True, exist_ok=True)
    if key is None:
        try:
            write_key(key_path, identity)
        except KeyFileError as exc:
            # The member exists now, but its key is lost: say what happened and how out.
            raise JoinFailed(
                f"joined as member {answer['memberId']}, but the key could not be kept "
                f"({exc}); ask the operator to revoke that member and for a new invite"
            ) from None
    write_profile(
        profile,
        {
            "url": invite.url,
            "meshId": answer["meshId"],
            "mesh": invite.mesh_slug,
            "meshName": answer.get("meshName"),
            "memberId": answer["memberId"],
            "name": name,
            "role": answer.get("role"),
            "key": str(key_path),
        },
        env,
    )
    return {
        "meshId": answer["meshId"],
        "memberId": answer["memberId"],
        "pubkey": identity.pubkey,
        "profile": profile,
    }
