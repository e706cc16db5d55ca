"""The tools as `tools/list` describes them: names, descriptions, input and output
JSON Schemas. (The instructions Claude reads: client/mcp/instructions.py.)"""

from __future__ import annotations

from typing import Any

from client.mcp.result_schemas import MESSAGE, NAME_KEY, PEER, RECIPIENT, SESSION


def _tool(
    name: str, title: str, description: str, inputs: dict[str, Any], output: dict[str, Any]
) -> dict[str, Any]:
    required = [k for k, v in inputs.items() if v.pop("required", False)]
    return {
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": {
            "type": "object",
            "properties": inputs,
            "required": required,
            "additionalProperties": False,
        },
        "outputSchema": {"type": "object", **output},
    }


def tools() -> list[dict[str, Any]]:
    return [
        _tool(
            "mesh_send",
            "Send a mesh message",
            "Send a message to a member of the mesh (encrypted end to end) or to every other "
            "member (`*`, not encrypted). The broker keeps it until the recipient can take it.",
            {
                "to": {
                    "type": "string",
                    "minLength": 1,
                    "description": "a member's display name (any case; offline members too), "
                    "its pubkey, name/sessionId or a sessionId from mesh_peers for one "
                    "session, or * for every other member",
                    "required": True,
                },
                "text": {"type": "string", "minLength": 1, "required": True},
                "priority": {
                    "type": "string",
                    "enum": ["now", "next", "low"],
                    "default": "next",
                    "description": "now: delivered even while the recipient works; next "
                    "(default) and low: when it is idle",
                },
                "escalate_after_seconds": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 2592000,
                    "description": "next or low only: a recipient still not given the "
                    "message after this many seconds gets it as now (at most the message's "
                    "lifetime on the broker, 7 days by default)",
                },
            },
            {
                "properties": {
                    "messageId": {"type": "string"},
                    "queued": {"type": "boolean"},
                    "encrypted": {"type": "boolean"},
                    "to": {"type": "array", "items": NAME_KEY},
                    "escalateAfterSeconds": {"type": "integer"},
                },
                "required": ["messageId", "queued", "encrypted", "to"],
            },
        ),
        _tool(
            "mesh_peers",
            "List mesh sessions",
            "Every other live session of the mesh (your own member's other sessions "
            "included) with its status, and this session as `self`.",
            {},
            {
                "properties": {
                    "self": {"type": "object", "properties": dict(SESSION)},
                    "peers": {"type": "array", "items": PEER},
                },
                "required": ["self", "peers"],
            },
        ),
        _tool(
            "mesh_inbox",
            "Read mesh messages",
            "Messages not yet shown to this session, oldest first; they are marked shown. "
            "With wait_seconds, waits that long for the first one.",
            {
                "wait_seconds": {"type": "integer", "minimum": 0, "maximum": 600, "default": 0},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            },
            {
                "properties": {"messages": {"type": "array", "items": MESSAGE}},
                "required": ["messages"],
            },
        ),
        _tool(
            "mesh_status",
            "Set mesh status",
            "Set this session's status as others see it: idle, working, or dnd (do not "
            "disturb: only `now` messages arrive). Hooks keep idle/working current by "
            "themselves; dnd stays until you set another status.",
            {
                "status": {
                    "type": "string",
                    "enum": ["idle", "working", "dnd"],
                    "required": True,
                }
            },
            {
                "properties": {"status": {"type": "string"}, "source": {"type": "string"}},
                "required": ["status", "source"],
            },
        ),
        _tool(
            "mesh_message_status",
            "Check a sent message",
            "What became of a message you sent, per recipient: queued, held, pushed, acked "
            "(stored by the recipient's session) or expired.",
            {
                "message_id": {
                    "type": "string",
                    "minLength": 1,
                    "description": "the messageId mesh_send returned",
                    "required": True,
                }
            },
            {
                "properties": {
                    "messageId": {"type": "string"},
                    "recipients": {"type": "array", "items": RECIPIENT},
                },
                "required": ["messageId", "recipients"],
            },
        ),
        _tool(
            "mesh_wait_idle",
            "Wait until a member is idle",
            "Wait until one of a member's sessions is idle (at once if one is now), for at "
            "most timeout_seconds. Answers idle: false when the time ran out.",
            {
                "to": {
                    "type": "string",
                    "minLength": 1,
                    "description": "one member: its display name, pubkey, name/sessionId or "
                    "a sessionId (any of its sessions counts); not *",
                    "required": True,
                },
                "timeout_seconds": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 600,
                    "default": 60,
                },
            },
            {
                "properties": {
                    "idle": {"type": "boolean"},
                    "name": {"type": "string"},
                    "sessionId": {"type": "string", "description": "the session that is idle"},
                },
                "required": ["idle"],
            },
        ),
    ]
