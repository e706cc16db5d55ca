"""The signed `POST /join`: the body and its signature, and the broker's answer or
refusal as the one line `meshpeer join` prints."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from client.errors import JoinFailed
from client.identity import Identity
from client.urls import http_base
from protocol.invite_string import InviteString

HTTP_TIMEOUT = 15.0
REFUSALS = {
    401: "the broker refused the invite: it is unknown, expired, used up or revoked; "
    "ask the operator for a new one",
    409: "this key is already a member of that mesh (`meshpeer whoami` shows your identity)",
    429: "too many join attempts from this address; wait a minute and try again",
    413: "the request is larger than the broker accepts",
}


def canonical(token: str, pubkey: str, name: str) -> bytes:
    return f"claudemesh/join/v1|{token}|{pubkey}|{name}".encode()


def post_join(invite: InviteString, identity: Identity, name: str) -> dict[str, Any]:
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
