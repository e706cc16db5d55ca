"""The client's hello passes the broker's admission rules (domain.admission)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from msgspec.structs import replace
from nacl.signing import SigningKey

from adapters import wire
from adapters.http.frames import to_hello
from client.hello import canonical, signed_hello
from client.identity import Identity
from domain.admission import Admission, HelloAuth, verify
from domain.admission import canonical as broker_canonical
from domain.errors import Unauthorized
from domain.model import Member, Role

ADA = Identity(SigningKey(bytes(range(32))))
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
MEMBER = Member(
    id="mem-ada", mesh_id="mesh-1", pubkey=ADA.pubkey, display_name="ada", role=Role.MEMBER
)
STRICT = Admission(mode=HelloAuth.STRICT, max_skew=timedelta(seconds=60))


def hello(**overrides: object) -> wire.Hello:
    fields: dict = dict(
        mesh_id="mesh-1", member_id="mem-ada", session_id="sess-1", pid=4242, cwd="/proj"
    )
    return signed_hello(ADA, **(fields | {"timestamp_ms": NOW_MS} | overrides))


def test_the_signed_bytes_are_the_protocol_string() -> None:
    assert (
        canonical("m", "u", "ab", "s", 1764200000000)
        == b"claudemesh/hello/v1|m|u|ab|s|1764200000000"
    )


def test_the_broker_admits_the_clients_hello() -> None:
    frame = hello()
    domain_hello = to_hello(frame)
    assert broker_canonical(domain_hello) == canonical(
        "mesh-1", "mem-ada", ADA.pubkey, "sess-1", NOW_MS
    )
    assert verify(ADA.pubkey, broker_canonical(domain_hello), frame.signature)
    STRICT.check(domain_hello, MEMBER, NOW)  # does not raise
    assert domain_hello.capabilities == frozenset({"ack", "receipts"})


def test_a_hello_signed_by_another_key_is_refused() -> None:
    forged = signed_hello(
        Identity(SigningKey(b"\x07" * 32)),
        mesh_id="mesh-1",
        member_id="mem-ada",
        session_id="sess-1",
        pid=1,
        cwd="/",
        timestamp_ms=NOW_MS,
    )
    with pytest.raises(Unauthorized):
        STRICT.check(to_hello(replace(forged, pubkey=ADA.pubkey)), MEMBER, NOW)


def test_the_signature_covers_the_session_id() -> None:
    moved = replace(hello(), session_id="sess-2")
    with pytest.raises(Unauthorized):
        STRICT.check(to_hello(moved), MEMBER, NOW)


def test_the_timestamp_is_now_in_milliseconds() -> None:
    frame = signed_hello(ADA, mesh_id="m", member_id="u", session_id="s", pid=None, cwd="")
    now_ms = datetime.now(UTC).timestamp() * 1000
    assert abs(frame.timestamp - now_ms) < 5_000


def test_the_wire_form_uses_the_protocol_field_names() -> None:
    sent = msgspec.json.decode(wire.encoder.encode(hello()))
    assert sent["type"] == "hello"
    assert set(sent) == {
        "type",
        "meshId",
        "memberId",
        "pubkey",
        "sessionId",
        "pid",
        "cwd",
        "timestamp",
        "signature",
        "capabilities",
    }
    assert len(sent["signature"]) == 128 and sent["capabilities"] == ["ack", "receipts"]
