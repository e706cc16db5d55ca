"""The wire protocol v1 as msgspec Structs: one tagged union each way, decoded once.
Shared by the broker's WebSocket adapter and the meshpeer client."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

# Postgres text cannot hold NUL: identity fields refuse it at decode time.
_NO_NUL = "^[^\x00]*$"
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=_NO_NUL)]
Hex = Annotated[str, msgspec.Meta(max_length=256, pattern=_NO_NUL)]
Path = Annotated[str, msgspec.Meta(max_length=4096, pattern=_NO_NUL)]
Pid = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
PriorityName = Literal["now", "next", "low"]
StatusName = Literal["idle", "working", "dnd", "waiting"]
Echo = str | int | None


class Frame(msgspec.Struct, tag_field="type", rename="camel", omit_defaults=True):
    """Every frame is a JSON object with a `type`."""


# ---- client -> broker


class Hello(Frame, tag="hello"):
    mesh_id: Id
    member_id: Id
    pubkey: Hex
    session_id: Id
    signature: Hex = ""
    timestamp: int = 0
    pid: Pid | None = None
    cwd: Path = ""
    capabilities: Annotated[list[Id], msgspec.Meta(max_length=16)] = []


class Send(Frame, tag="send"):
    # `*`, a pubkey, or `<pubkey>/<sessionId>` (64 hex, a slash, a sessionId of <= 256)
    target_spec: Annotated[str, msgspec.Meta(max_length=64 + 1 + 256, pattern=_NO_NUL)]
    nonce: str
    ciphertext: str
    id: Echo = None
    priority: PriorityName = "next"
    ttl_seconds: int | None = None
    escalate_after_seconds: int | None = None


class ClientAck(Frame, tag="client_ack"):
    message_ids: Annotated[list[Id], msgspec.Meta(max_length=10_000)]


class SetStatus(Frame, tag="set_status"):
    status: StatusName


class ListPeers(Frame, tag="list_peers"):
    id: Echo = None


class ListMembers(Frame, tag="list_members"):
    id: Echo = None


class MessageStatus(Frame, tag="message_status"):
    message_id: Id
    id: Echo = None


class Watch(Frame, tag="watch"):
    id: str | int
    pubkey: Hex
    until: Literal["idle"] = "idle"


class Unwatch(Frame, tag="unwatch"):
    id: str | int


ClientFrame = (
    Hello | Send | ClientAck | SetStatus | ListPeers | ListMembers | MessageStatus | Watch | Unwatch
)
CLIENT_TYPES = frozenset(
    {
        "hello",
        "send",
        "client_ack",
        "set_status",
        "list_peers",
        "list_members",
        "message_status",
        "watch",
        "unwatch",
    }
)

# ---- broker -> client


class HelloOk(Frame, tag="hello_ok"):
    presence_id: str
    mesh_id: str
    member_id: str
    status: StatusName
    hook_token: str


class Ack(Frame, tag="ack"):
    queued: bool
    id: Echo = None
    message_id: str | None = None
    error: str | None = None
    escalate_after_seconds: int | None = None


class Push(Frame, tag="push"):
    message_id: str
    mesh_id: str
    sender_pubkey: str
    priority: PriorityName
    nonce: str
    ciphertext: str
    created_at: str
    escalated: bool = False


class StatusReply(Frame, tag="status"):
    presence_id: str
    status: StatusName
    source: Literal["hook", "manual", "jsonl"]


class Peer(msgspec.Struct, rename="camel"):
    member_id: str
    pubkey: str
    display_name: str
    presence_id: str
    session_id: str
    status: StatusName
    online: bool
    connected_at: str


class Peers(Frame, tag="peers"):
    peers: list[Peer]
    id: Echo = None


class MemberInfo(msgspec.Struct, rename="camel"):
    member_id: str
    pubkey: str
    display_name: str
    role: Literal["admin", "member"]


class Members(Frame, tag="members"):
    members: list[MemberInfo]
    id: Echo = None


class Error(Frame, tag="error"):
    code: str
    message: str
    id: Echo = None


class Recipient(msgspec.Struct, rename="camel"):
    member_id: str
    pubkey: str


class Receipt(Frame, tag="receipt"):
    message_id: str
    recipient: Recipient
    state: Literal["pushed", "acked", "expired"]
    at: str
    escalated: bool = False


class RecipientStatus(msgspec.Struct, rename="camel", omit_defaults=True):
    member_id: str
    pubkey: str
    display_name: str
    state: Literal["queued", "held", "pushed", "acked", "expired"]
    reason: str | None = None
    at: str | None = None
    escalated: bool = False


class MessageStatusReply(Frame, tag="message_status"):
    message_id: str
    recipients: list[RecipientStatus]
    id: Echo = None


class PeerIdle(Frame, tag="peer_idle"):
    id: str | int
    member_id: str
    session_id: str
    at: str


BrokerFrame = (
    HelloOk
    | Ack
    | Push
    | StatusReply
    | Peers
    | Members
    | Error
    | Receipt
    | MessageStatusReply
    | PeerIdle
)

# ---- HTTP hook body (snake_case, as Claude Code hook scripts send it)


class HookBody(msgspec.Struct):
    cwd: Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=_NO_NUL)]
    status: StatusName
    pid: Pid | None = None
    session_id: Id | None = None


client_decoder = msgspec.json.Decoder(ClientFrame)
broker_decoder = msgspec.json.Decoder(BrokerFrame)
hook_decoder = msgspec.json.Decoder(HookBody)
encoder = msgspec.json.Encoder()
