"""`meshbroker invite ...`: create, list and revoke invites, and the JSON each reports."""

from __future__ import annotations

import argparse
from typing import Any

from app.admin_commands import iso
from app.config import Settings
from domain.errors import InvalidInput
from domain.invites import check_uses, parse_expiry
from domain.model import Role
from domain.usecases import invites
from domain.usecases.context import Context
from protocol.invite_string import InviteString, check_url


async def invite_report(args: argparse.Namespace, settings: Settings, ctx: Context) -> Any:
    if args.action == "create":
        url = _invite_url(args.url, settings)
        mesh, issued = await invites.create_invite(
            ctx, args.mesh, args.uses, args.expires, Role(args.role)
        )
        invite = issued.invite
        string = InviteString(url, mesh.id, mesh.slug, issued.token).encode()
        return {
            "id": invite.id,
            "meshId": mesh.id,
            "token": issued.token,
            "uses": invite.uses,
            "expiresAt": iso(invite.expires_at),
            "invite": string,
            "join": f"meshpeer join {string}",
        }
    if args.action == "list":
        return [
            {
                "id": i.id,
                "uses": i.uses,
                "used": i.used,
                "expiresAt": iso(i.expires_at),
                "revokedAt": iso(i.revoked_at),
            }
            for i in await invites.list_invites(ctx, args.mesh)
        ]
    revoked = await invites.revoke_invite(ctx, args.mesh, args.invite)
    return {"id": revoked.id, "revokedAt": iso(revoked.revoked_at)}


def check_invite_arguments(args: argparse.Namespace, settings: Settings) -> None:
    """Arguments that can be judged without the database, judged before it is opened."""
    if args.command == "invite" and args.action == "create":
        parse_expiry(args.expires)
        check_uses(args.uses)
        _invite_url(args.url, settings)


def _invite_url(flag: str | None, settings: Settings) -> str:
    if flag is None:
        return settings.invite_url()
    try:
        return check_url(flag)
    except ValueError as exc:
        raise InvalidInput(f"--url {exc}") from None
