"""`meshpeer whoami` (the identity a command would use, and where each part came
from) and `meshpeer keygen` (a new key file)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from client.profile_files import ProfileError
from client.profiles import IDENTITY_ENV, resolve_identity
from client.urls import DEFAULT_URL
from client.usage import UsageError, print_json


def whoami(args: argparse.Namespace) -> int:
    flags = {name: getattr(args, name, None) for name in IDENTITY_ENV}
    try:
        resolved = resolve_identity(flags, os.environ, args.profile)
    except ProfileError as exc:
        raise UsageError(exc.argument, str(exc)) from None
    values = resolved.values
    report: dict[str, Any] = {
        "url": values["url"] or DEFAULT_URL,
        "meshId": values["mesh"],
        "memberId": values["member"],
        "key": values["key"],
        "pubkey": None,
        "profile": resolved.profile,
        "from": resolved.source,
    }
    if values["key"]:
        from pathlib import Path

        from client.identity import KeyFileError, load_key

        try:
            report["pubkey"] = load_key(Path(values["key"])).pubkey
        except KeyFileError as exc:
            raise UsageError("--key", str(exc)) from None
    print_json(report)
    missing = [f"--{name}" for name in ("mesh", "member", "key") if not values[name]]
    if missing:
        print(
            f"meshpeer whoami: no {', '.join(missing)}: join a mesh (`meshpeer join INVITE`) "
            "or set MESHPEER_MESH, MESHPEER_MEMBER and MESHPEER_KEY",
            file=sys.stderr,
        )
        return 1
    return 0


def keygen(out: str) -> int:
    from pathlib import Path

    from client.identity import KeyFileError, generate, write_key

    identity = generate()
    try:
        write_key(Path(out), identity)
    except KeyFileError as exc:
        raise UsageError("--out", str(exc)) from None
    print_json({"pubkey": identity.pubkey})
    return 0
