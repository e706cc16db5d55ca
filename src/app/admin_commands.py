"""`meshbroker mesh ...` and `meshbroker member ...`: the operator's mesh and member
commands, and the JSON each reports."""

from __future__ import annotations

import argparse
from typing import Any

from domain.model import Member, Role
from domain.usecases import admin
from domain.usecases.context import Context


def iso(value: Any) -> str | None:
    return (
        None if value is None else value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _member(m: Member) -> dict[str, Any]:
    return {
        "id": m.id,
        "meshId": m.mesh_id,
        "pubkey": m.pubkey,
        "displayName": m.display_name,
        "role": m.role.value,
    }


async def admin_report(args: argparse.Namespace, ctx: Context) -> Any:
    match (args.command, args.action):
        case ("mesh", "create"):
            mesh = await admin.create_mesh(ctx, args.name, args.slug)
            return {"id": mesh.id, "name": mesh.name, "slug": mesh.slug}
        case ("mesh", "list"):
            return [
                {
                    "id": s.mesh.id,
                    "name": s.mesh.name,
                    "slug": s.mesh.slug,
                    "members": s.members,
                    "online": s.online,
                }
                for s in await admin.list_meshes(ctx)
            ]
        case ("member", "add"):
            return _member(
                await admin.add_member(ctx, args.mesh, args.pubkey, args.name, Role(args.role))
            )
        case ("member", "list"):
            return [
                {k: v for k, v in _member(m).items() if k != "meshId"}
                | {"revokedAt": iso(m.revoked_at)}
                for m in await admin.list_members(ctx, args.mesh)
            ]
        case ("member", "revoke"):
            member = await admin.revoke_member(ctx, args.mesh, args.member)
            return {"id": member.id, "revokedAt": iso(member.revoked_at)}
    raise AssertionError(args)
