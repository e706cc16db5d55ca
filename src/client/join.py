"""`meshpeer join INVITE`: a key (new unless --key names one), a signed `POST /join`,
and a profile that every later command uses. Refused: one line, exit 1, nothing
written: a new key is kept in memory until the broker has accepted it."""

from __future__ import annotations

import getpass
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from client.identity import Identity, KeyFileError, generate, load_key, write_key
from client.profile_files import free_profile_name, write_profile
from client.sessions import home
from client.urls import http_base
from protocol.invite_string import BadInvite, InviteString, decode

HTTP_TIMEOUT = 15.0
REFUSALS = {
    401: "the broker refused the invite: it is unknown, expired, used up or revoked; "
    "ask the operator for a new one",
    409: "this key is already a member of that mesh (`meshpeer whoami` shows your identity)",
    429: "too many join attempts from this address; wait a minute and try again",
    413: "the request is larger than the broker accepts",
}


class JoinFailed(Exception):
    """The join did not happen; the message is the one line to print."""


def canonical(token: str, pubkey: str, name: str) -> bytes:
    return f"claudemesh/join/v1|{token}|{pubkey}|{name}".encode()


def run(invite_text: str, name: str | None, key: str | None, env: Mapping[str, str]) -> int:
    try:
        invite = decode(invite_text)
    except BadInvite as exc:
        return _fail(2, f"error: argument invite: {exc}")
    try:
        report = join(invite, name or _login(), Path(key).expanduser() if key else None, env)
    except KeyFileError as exc:
        return _fail(2, f"error: argument --key: {exc}")
    except JoinFailed as exc:
        return _fail(1, str(exc))
    sys.stdout.write(json.dumps(report, separators=(",", ":")) + "\n")
    return 0


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
    answer = _post(invite, identity, name)
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


def _post(invite: InviteString, identity: Identity, name: str) -> dict[str, Any]:
    pubkey = identity.pubkey
    body = {
        "token": invite.token,
        "pubkey": pubkey,
        "name": name,
        "signature": identity.sign(canonical(invite.token, pubkey, name)),
    }
    base = http_base(invite.url)
    request = urllib.request.Request(
        f"{base}/join",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise JoinFailed(_refusal(exc)) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise JoinFailed(
            f"cannot reach the broker at {base} ({reason}): is `meshbroker serve` running "
            "there, and is the invite's URL one this machine can reach?"
        ) from None
    except ValueError:
        raise JoinFailed(f"the broker at {base} answered something that is not JSON") from None
    if not isinstance(answer, dict) or not {"meshId", "memberId"} <= answer.keys():
        raise JoinFailed(f"the broker at {base} answered without meshId and memberId")
    return answer


def _refusal(exc: urllib.error.HTTPError) -> str:
    known = REFUSALS.get(exc.code)
    if known:
        return known
    try:
        detail = json.loads(exc.read()).get("error")
    except (ValueError, AttributeError, OSError):
        detail = None
    return f"the broker refused the join ({exc.code}: {detail or exc.reason})"


def _login() -> str:
    try:
        return getpass.getuser() or "member"
    except (KeyError, OSError):
        return "member"


def _fail(code: int, line: str) -> int:
    print(f"meshpeer join: {line}", file=sys.stderr)
    return code
