"""The security matrix of issue 8, one test (or one parametrized row) per line of
docs/reliability.md's table, against real broker processes.

Who may connect (forged hellos, in strict and in legacy mode), who can reach whom
(sends, pushes and list_peers never cross meshes), who can confirm mail (an ack of
another member's message changes nothing), who can set a status over HTTP (hook
tokens under HOOK_AUTH=token; DND is never overridden by a hook), and the limits
(per-member send budget, per-(pid, cwd) hook budget, frame and body size caps).

Each row has a control beside it where that matters (a hello that is accepted, a
hook that is applied), so that a broker refusing everything would fail too.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from nacl.signing import SigningKey

from adapters.postgres.database import Database
from adapters.postgres.stores import PostgresDirectory
from domain.model import Member, Role
from tests.integration.support import (
    WAIT,
    BrokerProcess,
    Identity,
    WsPeer,
    new_member,
    new_mesh,
    signed_hello,
)

LIMIT = 4096
BURST = 5
HOOK_BUDGET = 5

STRICT_ENV = {
    "HOOK_AUTH": "token",
    "ACK_TIMEOUT_SECONDS": "1",
    "MAX_MESSAGE_BYTES": str(LIMIT),
    "SEND_RATE_BURST": str(BURST),
    "SEND_RATE_LIMIT_PER_MIN": "1",  # no refill worth counting during a test
    "HOOK_RATE_LIMIT_PER_MIN": str(HOOK_BUDGET),
}
# Legacy hellos, open hooks, and a send budget that a flood does not exhaust.
LEGACY_ENV = {
    **STRICT_ENV,
    "HELLO_AUTH": "legacy",
    "HOOK_AUTH": "open",
    "SEND_RATE_BURST": "100000",
    "SEND_RATE_LIMIT_PER_MIN": "1000000",
}


# ---------------------------------------------------------------- brokers and people


@pytest.fixture(scope="module")
def brokers(database_url: str) -> Iterator[dict[str, BrokerProcess]]:
    """Two strict instances on one database, and one in legacy mode."""
    started = {
        "strict": BrokerProcess(database_url, **STRICT_ENV).start(),
        "twin": BrokerProcess(database_url, **STRICT_ENV).start(),
        "legacy": BrokerProcess(database_url, **LEGACY_ENV).start(),
    }
    yield started
    for broker in started.values():
        broker.kill()


@pytest.fixture
def broker(brokers: dict[str, BrokerProcess]) -> BrokerProcess:
    return brokers["strict"]


@dataclass
class Meshes:
    """Mesh A (ada, bob, cy) and mesh B (dee, eve), fresh for each test."""

    ada: Identity
    bob: Identity
    cy: Identity
    dee: Identity
    eve: Identity


@pytest.fixture
async def people(database: Database) -> Meshes:
    a, b = await new_mesh(database, "a"), await new_mesh(database, "b")
    return Meshes(
        *[await new_member(database, a, n) for n in ("ada", "bob", "cy")],
        *[await new_member(database, b, n) for n in ("dee", "eve")],
    )


def send(to: str, text: str = "c2VjcmV0", **extra: Any) -> dict[str, Any]:
    return {
        "type": "send",
        "id": str(uuid.uuid4()),
        "targetSpec": to,
        "priority": "now",
        "nonce": "bm9uY2U=",
        "ciphertext": text,
        **extra,
    }


def post_hook(
    broker: BrokerProcess, body: bytes | dict[str, Any], authorization: str | None = None
) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{broker.http}/hook/set-status", data=data, method="POST")
    request.add_header("content-type", "application/json")
    if authorization is not None:
        request.add_header("authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def hook(
    broker: BrokerProcess, body: bytes | dict[str, Any], authorization: str | None = None
) -> tuple[int, dict[str, Any]]:
    return await asyncio.to_thread(post_hook, broker, body, authorization)


def bearer(peer: WsPeer) -> str:
    assert peer.hello_ok is not None
    return f"Bearer {peer.hello_ok['hookToken']}"


async def statuses(peer: WsPeer) -> dict[str, str]:
    """presenceId -> status, as list_peers shows them."""
    listed = await peer.request({"type": "list_peers", "id": str(uuid.uuid4())}, "peers")
    return {p["presenceId"]: p["status"] for p in listed["peers"]}


def presence(peer: WsPeer) -> str:
    assert peer.hello_ok is not None
    return str(peer.hello_ok["presenceId"])


async def refused_hello(url: str, frame: dict[str, Any]) -> tuple[str, tuple[Any, Any]]:
    """Send a hello on a new socket; the error code and the close that follow."""
    peer = await WsPeer.open(url)
    await peer.send(frame)
    code = (await peer.expect("error"))["code"]
    return code, await peer.closed()


async def accepted_hello(url: str, frame: dict[str, Any]) -> WsPeer:
    peer = await WsPeer.open(url)
    await peer.send(frame)
    peer.hello_ok = await peer.expect("hello_ok")
    return peer


async def revoke(database: Database, who: Identity) -> None:
    await PostgresDirectory(database).revoke_member(who.mesh.id, who.member.id, datetime.now(UTC))


def stub_hello(who: Identity, session: str, **overrides: Any) -> dict[str, Any]:
    """What clients of the original broker send: signature "stub" and a nonce."""
    frame = signed_hello(who, session, **overrides)
    return {**frame, "signature": "stub", "nonce": "bm9uY2U="}


UNAUTHORIZED = ("unauthorized", (1008, "unauthorized"))


# ---------------------------------------------------------------- forged hellos (strict)

# Each forgery: people -> the hello frame to send. All are refused with unauthorized
# and closed with 1008.
Forgery = Callable[[Meshes], dict[str, Any]]


def _signed_by(key: SigningKey, frame: dict[str, Any]) -> dict[str, Any]:
    parts = [frame["meshId"], frame["memberId"], frame["pubkey"], frame["sessionId"]]
    text = "claudemesh/hello/v1|" + "|".join(parts) + f"|{frame['timestamp']}"
    return {**frame, "signature": key.sign(text.encode()).signature.hex()}


def _stranger(who: Identity) -> dict[str, Any]:
    """A hello for `who`'s member id with a key of the sender's own, correctly signed."""
    key = SigningKey.generate()
    return _signed_by(key, {**signed_hello(who, "s"), "pubkey": key.verify_key.encode().hex()})


FORGERIES: dict[str, Forgery] = {
    "bad-signature": lambda m: {**signed_hello(m.ada, "s"), "signature": "ab" * 64},
    "signature-over-other-fields": lambda m: {
        **signed_hello(m.ada, "s"),
        "sessionId": "not-what-was-signed",
    },
    "signed-with-another-members-key": lambda m: _signed_by(m.bob.key, signed_hello(m.ada, "s")),
    "another-members-pubkey": lambda m: _signed_by(
        m.bob.key, {**signed_hello(m.ada, "s"), "pubkey": m.bob.pubkey}
    ),
    "a-stranger-key": lambda m: _stranger(m.ada),
    "skew-past": lambda m: signed_hello(m.ada, "s", timestamp=int(time.time() * 1000) - 120_000),
    "skew-future": lambda m: signed_hello(m.ada, "s", timestamp=int(time.time() * 1000) + 120_000),
    "unknown-member": lambda m: _signed_by(
        m.ada.key, {**signed_hello(m.ada, "s"), "memberId": str(uuid.uuid4())}
    ),
    "another-mesh-member-id-with-this-mesh-id": lambda m: _signed_by(
        m.dee.key, {**signed_hello(m.dee, "s"), "meshId": m.ada.mesh.id}
    ),
    "this-member-with-another-mesh-id": lambda m: _signed_by(
        m.ada.key, {**signed_hello(m.ada, "s"), "meshId": m.dee.mesh.id}
    ),
    "legacy-stub-signature-in-strict-mode": lambda m: stub_hello(m.ada, "s"),
    "no-signature": lambda m: {
        k: v for k, v in signed_hello(m.ada, "s").items() if k not in ("signature", "timestamp")
    },
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_a_forged_hello_is_refused(
    broker: BrokerProcess, people: Meshes, forgery: str
) -> None:
    assert await refused_hello(broker.url, FORGERIES[forgery](people)) == UNAUTHORIZED


async def test_control_an_honest_hello_within_the_skew_is_accepted(
    broker: BrokerProcess, people: Meshes
) -> None:
    early = signed_hello(people.ada, "s1", timestamp=int(time.time() * 1000) - 30_000)
    late = signed_hello(people.ada, "s2", timestamp=int(time.time() * 1000) + 30_000)

    for frame in (early, late):
        peer = await accepted_hello(broker.url, frame)
        assert peer.hello_ok is not None and peer.hello_ok["memberId"] == people.ada.member.id
        await peer.close()


async def test_a_revoked_member_cannot_say_hello(
    broker: BrokerProcess, people: Meshes, database: Database
) -> None:
    await revoke(database, people.bob)

    assert await refused_hello(broker.url, signed_hello(people.bob, "s")) == UNAUTHORIZED


@pytest.mark.parametrize("while_first_open", [True, False], ids=["first-open", "first-closed"])
async def test_a_replayed_hello_is_refused_on_the_same_instance(
    broker: BrokerProcess, people: Meshes, while_first_open: bool
) -> None:
    hello = signed_hello(people.ada, "replayed")
    first = await accepted_hello(broker.url, hello)
    if not while_first_open:
        await first.close()

    assert await refused_hello(broker.url, hello) == UNAUTHORIZED


async def test_a_replayed_hello_is_refused_on_another_instance(
    brokers: dict[str, BrokerProcess], people: Meshes
) -> None:
    hello = signed_hello(people.ada, "replayed-elsewhere")
    first = await accepted_hello(brokers["strict"].url, hello)

    assert await refused_hello(brokers["twin"].url, hello) == UNAUTHORIZED
    await first.close()


# ---------------------------------------------------------------- legacy mode


async def test_legacy_mode_accepts_a_stub_hello_of_a_real_member(
    brokers: dict[str, BrokerProcess], people: Meshes
) -> None:
    peer = await accepted_hello(brokers["legacy"].url, stub_hello(people.ada, "old-client"))

    assert peer.hello_ok is not None and peer.hello_ok["memberId"] == people.ada.member.id
    await peer.close()


@pytest.mark.parametrize(
    "forgery",
    ["revoked", "another-mesh", "pubkey-mismatch", "unknown-member"],
)
async def test_legacy_mode_still_refuses_who_is_not_a_live_member_of_the_mesh(
    brokers: dict[str, BrokerProcess], people: Meshes, database: Database, forgery: str
) -> None:
    if forgery == "revoked":
        await revoke(database, people.bob)
        frame = stub_hello(people.bob, "s")
    elif forgery == "another-mesh":
        frame = stub_hello(people.dee, "s", meshId=people.ada.mesh.id)
    elif forgery == "pubkey-mismatch":
        frame = stub_hello(people.ada, "s", pubkey=people.bob.pubkey)
    else:
        frame = stub_hello(people.ada, "s", memberId=str(uuid.uuid4()))

    assert await refused_hello(brokers["legacy"].url, frame) == UNAUTHORIZED


def test_legacy_mode_warns_at_start_up(brokers: dict[str, BrokerProcess]) -> None:
    warning = brokers["legacy"].wait_log(
        lambda e: e.get("level") == "warning" and "legacy" in str(e.get("msg")).lower()
    )
    assert warning
    assert not [e for e in brokers["strict"].logs if "legacy" in str(e.get("msg")).lower()], (
        "the strict broker warns about legacy mode"
    )


# ---------------------------------------------------------------- cross-mesh isolation


async def test_a_send_to_a_pubkey_of_another_mesh_only_is_no_recipient(
    broker: BrokerProcess, people: Meshes, database: Database
) -> None:
    a = await WsPeer.join(broker.url, people.ada)
    d, e = await WsPeer.join(broker.url, people.dee), await WsPeer.join(broker.url, people.eve)

    ack = await a.request(send(people.dee.pubkey), "ack")
    control = await a.request(send(people.bob.pubkey), "ack")
    sentinel = await e.request(send(people.dee.pubkey, "bWluZQ=="), "ack")

    assert (ack["queued"], ack["error"]) == (False, "no_recipient")
    assert control["queued"] is True
    assert (await d.expect("push"))["messageId"] == sentinel["messageId"]
    waiting_for_dee = await database.fetchval(
        "SELECT count(*) FROM mesh.deliveries d JOIN mesh.messages m ON m.id = d.message_id"
        " WHERE d.member_id = $1 AND m.sender_member_id = $2",
        people.dee.member.id,
        people.ada.member.id,
    )
    assert waiting_for_dee == 0


async def test_a_broadcast_never_reaches_another_mesh(
    broker: BrokerProcess, people: Meshes, database: Database
) -> None:
    a, b = await WsPeer.join(broker.url, people.ada), await WsPeer.join(broker.url, people.bob)
    d, e = await WsPeer.join(broker.url, people.dee), await WsPeer.join(broker.url, people.eve)

    broadcast = await a.request(send("*", "YWxs"), "ack")
    assert (await b.expect("push"))["messageId"] == broadcast["messageId"]
    sentinel = await e.request(send(people.dee.pubkey, "bWluZQ=="), "ack")
    first_for_dee = await d.expect("push")

    assert first_for_dee["messageId"] == sentinel["messageId"]
    recipients = await database.fetch(
        "SELECT member_id FROM mesh.deliveries WHERE message_id = $1", broadcast["messageId"]
    )
    assert {r["member_id"] for r in recipients} <= {people.bob.member.id, people.cy.member.id}
    assert people.dee.member.id not in {r["member_id"] for r in recipients}


async def test_a_pubkey_in_two_meshes_is_reached_only_in_the_senders_mesh(
    broker: BrokerProcess, people: Meshes, database: Database
) -> None:
    # dee's key is also a member of mesh A (say, the same person in two teams).
    twin = Member(str(uuid.uuid4()), people.ada.mesh.id, people.dee.pubkey, "dee-in-a", Role.MEMBER)
    in_a = Identity(
        people.ada.mesh, await PostgresDirectory(database).add_member(twin), people.dee.key
    )
    a = await WsPeer.join(broker.url, people.ada)
    d_in_b = await WsPeer.join(broker.url, people.dee)
    d_in_a = await WsPeer.join(broker.url, in_a)

    ack = await a.request(send(people.dee.pubkey, "Zm9yIGE="), "ack")
    push = await d_in_a.expect("push")
    sentinel = await WsPeer.join(broker.url, people.eve)
    control = await sentinel.request(send(people.dee.pubkey, "Zm9yIGI="), "ack")

    assert push["messageId"] == ack["messageId"] and push["meshId"] == people.ada.mesh.id
    assert (await d_in_b.expect("push"))["messageId"] == control["messageId"]


async def test_another_meshs_unstorable_sends_never_refuse_my_sends(
    brokers: dict[str, BrokerProcess], people: Meshes
) -> None:
    broker = brokers["legacy"]  # the one whose send budget lets a flood through
    attacker = await WsPeer.join(broker.url, people.dee)
    victim = await WsPeer.join(broker.url, people.ada)
    rounds = 300

    async def pipeline(peer: WsPeer, to: str, ciphertext: str) -> list[dict[str, Any]]:
        for n in range(rounds):
            await peer.send(send(to, ciphertext, id=f"p{n}"))
        return [await peer.expect("ack", id=f"p{n}") for n in range(rounds)]

    with_nul, honest = await asyncio.gather(
        pipeline(attacker, people.eve.pubkey, "bad\x00bytes"),
        pipeline(victim, people.bob.pubkey, "Z29vZA=="),
    )

    assert {a["error"] for a in with_nul} == {"invalid"}
    refused = [a for a in honest if not a["queued"]]
    assert refused == [], f"{len(refused)} of {rounds} honest sends refused: {refused[:2]}"


async def test_list_peers_shows_only_the_callers_mesh(
    broker: BrokerProcess, people: Meshes
) -> None:
    a = await WsPeer.join(broker.url, people.ada)
    d = await WsPeer.join(broker.url, people.dee)
    await WsPeer.join(broker.url, people.eve)

    seen_by_a = (await a.request({"type": "list_peers", "id": "a"}, "peers"))["peers"]
    seen_by_d = (await d.request({"type": "list_peers", "id": "d"}, "peers"))["peers"]

    assert {p["displayName"] for p in seen_by_a} == {"ada"}
    assert {p["displayName"] for p in seen_by_d} == {"dee", "eve"}


# ---------------------------------------------------------------- acks of another's mail


@pytest.mark.parametrize(
    "acker", ["cy", "ada", "dee"], ids=["third-member", "sender", "other-mesh"]
)
async def test_an_ack_of_another_members_message_does_not_stop_its_redelivery(
    broker: BrokerProcess, people: Meshes, database: Database, acker: str
) -> None:
    a, b = await WsPeer.join(broker.url, people.ada), await WsPeer.join(broker.url, people.bob)
    other = a if acker == "ada" else await WsPeer.join(broker.url, getattr(people, acker))
    ack = await a.request(send(people.bob.pubkey), "ack")
    message_id = ack["messageId"]
    await b.expect("push", messageId=message_id)  # leased to bob, who does not ack yet

    await other.send({"type": "client_ack", "messageIds": [message_id]})
    again = await b.expect("push", messageId=message_id)  # after the 1 s lease

    assert again["messageId"] == message_id
    rows = await database.fetchval(
        "SELECT count(*) FROM mesh.deliveries WHERE message_id = $1", message_id
    )
    assert rows == 1
    await b.send({"type": "client_ack", "messageIds": [message_id]})
    await _until(lambda: _gone(database, message_id), "bob's own ack removes the delivery")


async def _gone(database: Database, message_id: str) -> bool:
    rows = await database.fetchval(
        "SELECT count(*) FROM mesh.deliveries WHERE message_id = $1", message_id
    )
    return bool(rows == 0)


async def _until(condition: Callable[[], Any], what: str, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"not met within {within:.0f} s: {what}"
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- hook tokens


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer garbage", "Bearer ", "Basic YWRhOnNlY3JldA==", "garbage"],
    ids=["no-token", "garbage-token", "empty-token", "basic-auth", "no-scheme"],
)
async def test_a_hook_without_a_valid_token_is_401_under_hook_auth_token(
    broker: BrokerProcess, people: Meshes, authorization: str | None
) -> None:
    cwd = f"/work/{uuid.uuid4().hex}"  # its own hook budget: this test is about tokens
    a = await WsPeer.join(broker.url, people.ada, cwd=cwd, pid=7001)
    body = {"cwd": cwd, "pid": 7001, "status": "working"}

    reply = await hook(broker, body, authorization)

    assert reply == (401, {"ok": False, "error": "unauthorized"})
    assert (await statuses(a))[presence(a)] == "idle"


async def test_control_a_hook_with_its_own_token_is_applied(
    broker: BrokerProcess, people: Meshes
) -> None:
    a = await WsPeer.join(broker.url, people.ada, cwd="/work/ada", pid=7002)

    reply = await hook(broker, {"cwd": "/work/ada", "pid": 7002, "status": "working"}, bearer(a))

    assert reply == (200, {"ok": True, "presence_id": presence(a)})
    assert (await statuses(a))[presence(a)] == "working"


async def test_another_sessions_token_acts_only_on_that_other_session(
    broker: BrokerProcess, people: Meshes
) -> None:
    a = await WsPeer.join(broker.url, people.ada, "ada-s", cwd="/work/ada", pid=7003)
    b = await WsPeer.join(broker.url, people.bob, "bob-s", cwd="/work/bob", pid=7004)
    # A body that names ada's session in every way, with bob's token.
    body = {"cwd": "/work/ada", "pid": 7003, "status": "working", "session_id": "ada-s"}

    reply = await hook(broker, body, bearer(b))

    assert reply == (200, {"ok": True, "presence_id": presence(b)})
    after = await statuses(a)
    assert (after[presence(a)], after[presence(b)]) == ("idle", "working")


async def test_a_token_from_another_instance_names_the_same_session(
    brokers: dict[str, BrokerProcess], people: Meshes
) -> None:
    a = await WsPeer.join(brokers["strict"].url, people.ada, cwd="/work/ada", pid=7005)

    reply = await hook(brokers["twin"], {"cwd": "/elsewhere", "status": "working"}, bearer(a))

    assert reply == (200, {"ok": True, "presence_id": presence(a)})


# ---------------------------------------------------------------- DND is sacred


@pytest.mark.parametrize("status", ["idle", "working"])
@pytest.mark.parametrize("instance", ["strict", "legacy"], ids=["with-token", "open-by-cwd"])
async def test_a_hook_never_overrides_dnd(
    brokers: dict[str, BrokerProcess], people: Meshes, status: str, instance: str
) -> None:
    broker = brokers[instance]
    cwd = f"/work/{uuid.uuid4().hex}"
    a = await WsPeer.join(broker.url, people.ada, cwd=cwd, pid=7010)
    await a.request({"type": "set_status", "status": "dnd"}, "status")
    token = bearer(a) if instance == "strict" else None

    reply = await hook(broker, {"cwd": cwd, "pid": 7010, "status": status}, token)

    assert reply == (200, {"ok": True, "presence_id": presence(a)})
    assert (await statuses(a))[presence(a)] == "dnd"


# ---------------------------------------------------------------- rate limits


async def test_the_send_budget_is_per_member_across_its_sessions(
    broker: BrokerProcess, people: Meshes
) -> None:
    desk = await WsPeer.join(broker.url, people.ada, "desk")
    laptop = await WsPeer.join(broker.url, people.ada, "laptop")
    b = await WsPeer.join(broker.url, people.bob)

    acks = [
        await (desk if n % 2 else laptop).request(send(people.bob.pubkey), "ack")
        for n in range(BURST + 1)
    ]
    others = await b.request(send(people.ada.pubkey), "ack")

    assert [x["queued"] for x in acks[:BURST]] == [True] * BURST
    assert (acks[BURST]["queued"], acks[BURST]["error"]) == (False, "rate_limited")
    assert others["queued"] is True  # another member has its own budget


async def test_the_hook_budget_is_per_pid_and_cwd(broker: BrokerProcess, people: Meshes) -> None:
    cwd = f"/work/{uuid.uuid4().hex}"
    a = await WsPeer.join(broker.url, people.ada, cwd=cwd, pid=7020)
    token = bearer(a)

    codes = [
        (await hook(broker, {"cwd": cwd, "pid": 7020, "status": "working"}, token))[0]
        for _ in range(HOOK_BUDGET + 1)
    ]
    other_pid = await hook(broker, {"cwd": cwd, "pid": 7021, "status": "idle"}, token)
    other_cwd = await hook(broker, {"cwd": cwd + "/sub", "pid": 7020, "status": "idle"}, token)
    limited = await hook(broker, {"cwd": cwd, "pid": 7020, "status": "idle"}, token)

    assert codes == [200] * HOOK_BUDGET + [429]
    assert other_pid[0] == 200 and other_cwd[0] == 200
    assert limited == (429, {"ok": False, "error": "rate limited"})


# ---------------------------------------------------------------- size caps


def _send_of_size(to: str, size: int) -> str:
    """A send frame of exactly `size` bytes of UTF-8."""
    frame = send(to, "", id="sized")
    bare = len(json.dumps(frame).encode())
    return json.dumps({**frame, "ciphertext": "x" * (size - bare)})


@pytest.mark.parametrize(
    ("size", "queued", "error"),
    [
        pytest.param(LIMIT, True, None, id="at-the-limit"),
        pytest.param(LIMIT + 1, False, "too_large", id="one-byte-over"),
        pytest.param(4 * LIMIT, False, "too_large", id="at-the-hard-cap"),
    ],
)
async def test_a_frame_up_to_the_hard_cap_gets_an_ack_and_the_socket_stays_open(
    broker: BrokerProcess, people: Meshes, size: int, queued: bool, error: str | None
) -> None:
    a = await WsPeer.join(broker.url, people.ada)
    payload = _send_of_size(people.bob.pubkey, size)
    assert len(payload.encode()) == size

    await a.send(payload)
    ack = await a.expect("ack", id="sized")
    alive = await a.request({"type": "list_peers", "id": "alive"}, "peers")

    assert (ack["queued"], ack.get("error")) == (queued, error)
    assert alive["id"] == "alive"


async def test_a_frame_over_the_hard_cap_closes_the_socket_with_1009(
    broker: BrokerProcess, people: Meshes
) -> None:
    a = await WsPeer.join(broker.url, people.ada)

    await a.send(_send_of_size(people.bob.pubkey, 4 * LIMIT + 1))

    code, _ = await a.closed()
    assert code == 1009


@pytest.mark.parametrize(
    ("size", "status"),
    [pytest.param(LIMIT, 200, id="at-the-limit"), pytest.param(LIMIT + 1, 413, id="one-over")],
)
async def test_a_hook_body_over_the_limit_is_413(
    broker: BrokerProcess, people: Meshes, size: int, status: int
) -> None:
    a = await WsPeer.join(broker.url, people.ada)
    bare = {"cwd": "", "pid": 7030, "status": "working"}
    padding = size - len(json.dumps(bare).encode())
    body = json.dumps({**bare, "cwd": "/" + "d" * (padding - 1)}).encode()
    assert len(body) == size

    code, reply = await hook(broker, body, bearer(a))

    assert code == status
    if status == 413:
        assert reply == {"ok": False, "error": "payload too large"}
