"""Hypothesis-generated WebSocket frames against one real broker (issue 8, item 2).

More than 10,000 frames per run: random JSON values, well-formed frames, frames with
fields of the wrong type, huge numbers, deep nesting, strings holding NUL, invalid
UTF-8 and other binary frames, frames over MAX_MESSAGE_BYTES but under the 4x hard
cap. They go in batches over four sockets that said hello, and over fresh sockets
that have not said hello yet. Each frame's reply is checked against protocol.md:

- a frame of type `send` gets exactly one `ack` (echoing a readable `id`);
- a well-formed `set_status` / `list_peers` gets its reply, a well-formed
  `client_ack` none, a second `hello` an `invalid` error;
- any other frame gets an `error` frame: `invalid`, `unknown_type` or `too_large`;
- before hello, every frame that is not a hello gets `no_hello`;
- no reply ever carries the code `internal`; no socket is closed; after the run the
  process is alive and /health answers 200;
- between batches a probe message between two peers of another mesh is pushed and
  acknowledged: the fuzzing never disturbs other sockets.

Frames are drawn by Hypothesis strategies, derandomized: every run sends the same
frames (set FUZZ_SEED to explore others). Hypothesis only generates here; each
frame is checked on its own and a failure names the frame, so no shrinking is needed.

The tests at the end of this file pin bugs this suite found and that are fixed:
JSON nested thousands deep killed the socket handler; a NUL reaching Postgres was
answered `unavailable` or `internal`.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from adapters.postgres.database import Database
from tests.integration.support import (
    WAIT,
    BrokerProcess,
    Identity,
    WsPeer,
    new_member,
    new_mesh,
    signed_hello,
)

LIMIT = 4096  # MAX_MESSAGE_BYTES of the broker under test
HARD_CAP = 4 * LIMIT  # above it the transport closes the socket with 1009
FRAMES_PER_BATCH = 25
BATCHES = 420  # 10,500 frames
FUZZ_SOCKETS = 4
PRE_HELLO_EVERY = 8  # every 8th batch goes to a fresh socket before its hello

# Generated frames nest JSON no deeper than SAFE_DEPTH (the test's own encoder
# recurses); the tests at the end of this file send DEEP_DEPTH, which once killed
# the broker's socket handler with a RecursionError.
SAFE_DEPTH = 400
DEEP_DEPTH = 3000

ENV = {
    "MAX_MESSAGE_BYTES": str(LIMIT),
    "SEND_RATE_LIMIT_PER_MIN": "10000000",
    "SEND_RATE_BURST": "1000000",
}

CLIENT_TYPES = ("hello", "send", "client_ack", "set_status", "list_peers", "list_members")
KNOWN_FIELDS = frozenset(
    [
        "type",
        "id",
        "targetSpec",
        "nonce",
        "ciphertext",
        "priority",
        "ttlSeconds",
        "messageIds",
        "status",
        "meshId",
        "memberId",
        "pubkey",
        "sessionId",
        "signature",
        "timestamp",
        "pid",
        "cwd",
        "capabilities",
    ]
)


# ---------------------------------------------------------------- expectations


@dataclass(frozen=True)
class Expect:
    """The replies protocol.md allows for one frame. `types` are reply types;
    `codes` the allowed error codes of an `error`, or of an `ack` ("" = queued:true).
    `echo` is the `id` the reply must carry (checked when `check_echo`)."""

    types: frozenset[str]
    codes: frozenset[str] = frozenset()
    echo: Any = None
    check_echo: bool = False


@dataclass(frozen=True)
class Frame:
    label: str
    payload: str | bytes
    expect: Expect | None  # None: no reply owed (a well-formed client_ack)


def _error(*codes: str) -> Expect:
    return Expect(frozenset({"error"}), frozenset(codes))


def _readable_id(value: Any) -> tuple[bool, Any]:
    """What protocol.md says an ack echoes: a string or integer id; nothing else."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return True, value
    return True, None


def _ack(frame: dict[str, Any], *codes: str) -> Expect:
    check, echo = _readable_id(frame.get("id"))
    return Expect(frozenset({"ack"}), frozenset(codes), echo, check)


def check_reply(frame: Frame, reply: dict[str, Any]) -> str | None:
    """Why `reply` is not what protocol.md says `frame` gets; None when it is."""
    expect = frame.expect
    assert expect is not None
    kind = reply.get("type")
    if reply.get("code") == "internal" or reply.get("error") == "internal":
        return "code internal"
    if kind not in expect.types:
        return f"reply type {kind!r}, expected one of {sorted(expect.types)}"
    if kind == "error" and reply.get("code") not in expect.codes:
        return f"error code {reply.get('code')!r}, expected one of {sorted(expect.codes)}"
    if kind == "ack":
        got = "" if reply.get("queued") is True else reply.get("error")
        if got not in expect.codes:
            return f"ack error {got!r}, expected one of {sorted(expect.codes)}"
        if reply.get("queued") is True and not reply.get("messageId"):
            return "queued ack without messageId"
    if expect.check_echo and reply.get("id") != expect.echo:
        return f"id {reply.get('id')!r}, expected {expect.echo!r}"
    return None


# ---------------------------------------------------------------- strategies
# Every strategy is built once, here or in `frames(world)`: building them inside a
# draw would make Hypothesis validate them again for each of the 10,000 frames.

# Text without lone surrogates (which are not UTF-8) but with NUL and the rest.
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)
nonempty_texts = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=24)
nul_texts = st.builds(lambda a, b: f"{a}\x00{b}", texts, texts)
any_texts = st.one_of(texts, nul_texts)
nul_free_ids = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=24
)
huge_ints = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]),
)
floats = st.floats(allow_nan=False, allow_infinity=False)
non_integral_floats = floats.filter(lambda f: f != int(f))
scalars = st.one_of(st.none(), st.booleans(), huge_ints, floats, any_texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(any_texts, inner, max_size=3)
    ),
    max_leaves=8,
)
echo_ids = st.one_of(any_texts, huge_ints, st.none())
not_strings = st.one_of(st.booleans(), huge_ints, floats, st.lists(scalars, max_size=3))
not_ids = st.one_of(st.booleans(), floats, st.lists(scalars, max_size=2))
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
depths = st.integers(min_value=1, max_value=SAFE_DEPTH)
extra_keys = st.lists(texts.filter(lambda k: k not in KNOWN_FIELDS), max_size=3)
ttls = st.one_of(st.none(), st.integers(1, 2_592_000), huge_ints)
priorities = st.sampled_from(["now", "next", "low"])
statuses = st.sampled_from(["idle", "working", "dnd"])
message_ids = st.lists(nul_free_ids, max_size=8)
junk_targets = any_texts.filter(lambda t: t != "*")
unknown_types = any_texts.filter(lambda t: t not in CLIENT_TYPES)
typeless_objects = st.dictionaries(texts.filter(lambda k: k != "type"), json_values, max_size=3)
bad_types = st.one_of(st.none(), not_strings, st.dictionaries(texts, scalars, max_size=2))
not_json_texts = st.one_of(
    st.just(""),
    st.sampled_from(["{", "}", "[", "nul", "tru", '{"type":"send"', "'x'", "{'a':1}", "1 2"]),
    st.builds(lambda n: '{"type":"list_peers"}'[: max(1, 21 - n)], st.integers(1, 20)),
    texts,
)
binaries = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80"]),
    st.builds(lambda t: json.dumps({"type": "list_peers", "id": t}).encode(), texts),
    st.builds(lambda n: b"\xff" * n, st.integers(LIMIT + 1, HARD_CAP - 64)),
)
big_sizes = st.integers(LIMIT + 1, HARD_CAP - 1024)
pad_chars = st.sampled_from(["x", "é", "€", "😀"])  # 1 to 4 bytes in UTF-8
booleans = st.booleans()

WRONG_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    # field -> values that break it
    "send": {
        "targetSpec": st.one_of(not_strings, st.none(), st.just("*" * 322)),
        "nonce": st.one_of(not_strings, st.none()),
        "ciphertext": st.one_of(not_strings, st.none()),
        "id": not_ids,
        "priority": st.one_of(any_texts.filter(lambda t: t not in ("now", "next", "low"))),
        "ttlSeconds": st.one_of(any_texts, non_integral_floats, st.booleans()),
    },
    "set_status": {
        "status": st.one_of(
            st.none(), not_strings, any_texts.filter(lambda t: t not in ("idle", "working", "dnd"))
        )
    },
    "list_peers": {"id": not_ids},
    "client_ack": {
        "messageIds": st.one_of(
            st.none(),
            texts,
            huge_ints,
            st.lists(
                st.one_of(huge_ints, st.none(), st.just(""), nul_texts), min_size=1, max_size=3
            ),
            st.just(["x" * 257]),
        )
    },
    "hello": {
        "meshId": st.one_of(st.none(), not_strings, st.just("")),
        "pid": st.one_of(any_texts, st.integers(min_value=2**31), st.integers(max_value=-1)),
        "capabilities": st.one_of(texts, st.lists(huge_ints, min_size=1, max_size=2)),
    },
}
REQUIRED = {
    "send": ["targetSpec", "nonce", "ciphertext"],
    "set_status": ["status"],
    "client_ack": ["messageIds"],
    "hello": ["meshId", "memberId", "pubkey", "sessionId"],
    "list_peers": [],
}
TEMPLATES: dict[str, dict[str, Any]] = {
    "send": {"type": "send", "targetSpec": "*", "nonce": "bg==", "ciphertext": "eA=="},
    "set_status": {"type": "set_status", "status": "idle"},
    "list_peers": {"type": "list_peers"},
    "client_ack": {"type": "client_ack", "messageIds": ["m"]},
    "hello": {
        "type": "hello",
        "meshId": "m",
        "memberId": "u",
        "pubkey": "ab" * 32,
        "sessionId": "s",
    },
}
wrong_kinds = st.sampled_from(sorted(WRONG_FIELDS))
wrong_field_names = {kind: st.sampled_from(sorted(fields)) for kind, fields in WRONG_FIELDS.items()}
required_names = {kind: st.sampled_from(names) for kind, names in REQUIRED.items() if names}


def nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "0" + "}" * depth


def dumps(value: Any, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


@dataclass(frozen=True)
class World:
    """What the generated frames may name: the fuzz members' pubkeys."""

    pubkeys: tuple[str, ...]


def frames(world: World) -> st.SearchStrategy[Frame]:
    """Every kind of frame, its expected reply alongside."""
    members = st.sampled_from(world.pubkeys)
    target_kinds = st.sampled_from(["broadcast", "member", "stranger", "junk"])

    @st.composite
    def send_frames(draw: st.DrawFn) -> Frame:
        """A well-formed send: an ack, queued or with the error its target earns."""
        target_kind = draw(target_kinds)
        target = {
            "broadcast": lambda: "*",
            "member": lambda: draw(members),
            "stranger": lambda: draw(hex64),
            "junk": lambda: draw(junk_targets)[:256],
        }[target_kind]()
        frame: dict[str, Any] = {
            "type": "send",
            "targetSpec": target,
            "nonce": draw(any_texts),
            "ciphertext": draw(any_texts),
        }
        if draw(booleans):
            frame["id"] = draw(echo_ids)
        if draw(booleans):
            frame["priority"] = draw(priorities)
        codes = {"rate_limited"}
        ttl = draw(ttls)
        if ttl is not None or draw(booleans):
            frame["ttlSeconds"] = ttl
            if ttl is not None and not 0 < ttl <= 2_592_000:
                codes.add("invalid")
        codes.add(
            {
                "broadcast": "",
                "member": "",
                "stranger": "no_recipient",
                "junk": "unsupported_target",
            }[target_kind]
        )
        if target_kind == "junk" and target.isascii() and len(target) == 64:
            codes.add("no_recipient")  # junk that happens to look like a pubkey
        if any("\x00" in frame[f] for f in ("targetSpec", "nonce", "ciphertext")):
            codes.add("invalid")  # Postgres text cannot hold NUL: refused, never stored
        return Frame(f"send/{target_kind}", dumps(frame, draw(booleans)), _ack(frame, *codes))

    @st.composite
    def other_valid_frames(draw: st.DrawFn) -> Frame:
        kind = draw(st.sampled_from(["set_status", "list_peers", "client_ack", "hello"]))
        expect: Expect | None
        if kind == "set_status":
            frame: dict[str, Any] = {"type": kind, "status": draw(statuses)}
            expect = Expect(frozenset({"status"}))
        elif kind == "list_peers":
            frame = {"type": kind}
            if draw(booleans):
                frame["id"] = draw(echo_ids)
            check, echo = _readable_id(frame.get("id"))
            expect = Expect(frozenset({"peers"}), echo=echo, check_echo=check)
        elif kind == "client_ack":
            frame = {"type": kind, "messageIds": draw(message_ids)}
            expect = None
        else:
            frame = {
                "type": "hello",
                "meshId": draw(nonempty_texts),
                "memberId": draw(nonempty_texts),
                "pubkey": draw(hex64),
                "sessionId": draw(nonempty_texts),
            }
            expect = _error("invalid")  # this connection already said hello
        if draw(booleans):  # unknown fields are ignored
            for key in draw(extra_keys):
                frame[key] = draw(json_values)
        return Frame(f"valid/{kind}", dumps(frame, draw(booleans)), expect)

    @st.composite
    def wrong_type_frames(draw: st.DrawFn) -> Frame:
        """A frame of a known type with one field broken, or a required one missing."""
        kind = draw(wrong_kinds)
        frame = dict(TEMPLATES[kind])
        if kind in ("send", "list_peers") and draw(booleans):
            frame["id"] = draw(echo_ids)
        missing = kind in required_names and draw(booleans)
        if missing:
            field = draw(required_names[kind])
            del frame[field]
        else:
            field = draw(wrong_field_names[kind])
            frame[field] = draw(WRONG_FIELDS[kind][field])
        label = f"wrong/{kind}.{field}{'-missing' if missing else ''}"
        payload = dumps(frame, draw(booleans))
        if kind == "send":
            return Frame(label, payload, _ack(frame, "invalid"))
        return Frame(label, payload, _error("invalid"))

    @st.composite
    def junk_frames(draw: st.DrawFn) -> Frame:
        """Not a frame: other JSON values, objects without a string type, unknown
        types, text that is not JSON, empty text."""
        kind = draw(st.sampled_from(["value", "no_type", "bad_type", "unknown", "not_json"]))
        if kind == "value":
            value = draw(st.one_of(scalars, st.lists(json_values, max_size=3)))
            return Frame("junk/value", dumps(value, draw(booleans)), _error("invalid"))
        if kind == "not_json":
            text = draw(not_json_texts)
            try:
                json.loads(text)
            except ValueError:
                return Frame("junk/not_json", text, _error("invalid"))
            return Frame("junk/not_json", "{" + text, _error("invalid"))  # it was JSON
        obj = draw(typeless_objects)
        expect = _error("invalid")
        if kind == "bad_type":
            obj["type"] = draw(bad_types)
        elif kind == "unknown":
            obj["type"] = draw(unknown_types)
            expect = _error("unknown_type")
        return Frame(f"junk/{kind}", dumps(obj, draw(booleans)), expect)

    @st.composite
    def nested_frames(draw: st.DrawFn) -> Frame:
        """Deep nesting: as the whole frame, as a wrongly typed field, as an unknown one."""
        depth, shape = draw(depths), draw(st.sampled_from(["array", "object"]))
        deep = nested(depth, shape)
        where = draw(st.sampled_from(["top", "send-field", "unknown-field"]))
        if where == "top":
            return Frame(f"deep/top/{shape}/{depth}", deep, _error("invalid"))
        if where == "send-field":
            text = f'{{"type":"send","id":"deep","targetSpec":"*","nonce":{deep},"ciphertext":"c"}}'
            return Frame(f"deep/send/{shape}/{depth}", text, _ack({"id": "deep"}, "invalid"))
        text = f'{{"type":"list_peers","id":"deep","pad":{deep}}}'
        expect = Expect(frozenset({"peers"}), echo="deep", check_echo=True)
        return Frame(f"deep/unknown/{shape}/{depth}", text, expect)

    @st.composite
    def binary_frames(draw: st.DrawFn) -> Frame:
        """After hello, frames must be text: any binary frame is refused."""
        return Frame("binary", draw(binaries), _error("invalid", "too_large"))

    @st.composite
    def oversized_frames(draw: st.DrawFn) -> Frame:
        """Over MAX_MESSAGE_BYTES, under the 4x hard cap (counted in UTF-8 bytes)."""
        char = draw(pad_chars)
        pad = char * (draw(big_sizes) // len(char.encode()))
        kind = draw(st.sampled_from(["send", "list_peers", "unknown", "not_json"]))
        if kind == "send":
            frame: dict[str, Any] = {
                "type": "send",
                "targetSpec": "*",
                "nonce": "n",
                "ciphertext": pad,
            }
            if draw(booleans):
                frame["id"] = draw(echo_ids)
            return Frame("big/send", dumps(frame, False), _ack(frame, "too_large"))
        if kind == "list_peers":
            frame = {"type": "list_peers", "id": "big", "pad": pad}
            return Frame("big/list_peers", dumps(frame, False), _error("too_large"))
        if kind == "unknown":
            return Frame(
                "big/unknown", dumps({"type": "dance", "pad": pad}, False), _error("too_large")
            )
        return Frame("big/not_json", "{" + pad, _error("too_large", "invalid"))

    return st.one_of(
        send_frames(),
        other_valid_frames(),
        wrong_type_frames(),
        junk_frames(),
        nested_frames(),
        binary_frames(),
        oversized_frames(),
    ).map(sized)


def sized(frame: Frame) -> Frame:
    """The frame with its expected reply corrected for its size: generated JSON with
    huge numbers can grow past MAX_MESSAGE_BYTES, and then a send gets ack too_large
    and anything else error too_large."""
    payload = frame.payload
    if isinstance(payload, bytes) or frame.label.startswith("big"):
        return frame
    if len(payload.encode()) <= LIMIT:
        return frame
    try:
        value = json.loads(payload)
    except ValueError:
        return Frame(frame.label + "+big", payload, _error("too_large", "invalid"))
    if isinstance(value, dict) and value.get("type") == "send":
        return Frame(frame.label + "+big", payload, _ack(value, "too_large"))
    return Frame(frame.label + "+big", payload, _error("too_large"))


def generate_batches(world: World, sink: Callable[[list[Frame]], object]) -> None:
    """Draw BATCHES batches of frames with Hypothesis, reproducibly; hand each to `sink`."""

    @settings(
        max_examples=BATCHES,
        deadline=None,
        database=None,
        derandomize="FUZZ_SEED" not in os.environ,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(frames(world), min_size=FRAMES_PER_BATCH, max_size=FRAMES_PER_BATCH))
    def collect(batch: list[Frame]) -> None:
        sink(batch)

    if "FUZZ_SEED" in os.environ:
        collect = seed(int(os.environ["FUZZ_SEED"]))(collect)
    collect()


async def generated(world: World) -> AsyncIterator[list[Frame]]:
    """The batches, drawn in a thread while the event loop sends the earlier ones."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[list[Frame] | BaseException | None] = asyncio.Queue()

    stop = threading.Event()

    def put(item: list[Frame] | BaseException | None) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def batch(frames: list[Frame]) -> None:
        if stop.is_set():  # the test failed: end the generation early
            raise GenerationStopped
        put(frames)

    def produce() -> None:
        try:
            generate_batches(world, batch)
        except BaseException as exc:
            put(exc)
        finally:
            put(None)

    producer = asyncio.ensure_future(asyncio.to_thread(produce))
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        await asyncio.gather(producer, return_exceptions=True)


class GenerationStopped(Exception):
    """Raised in the generating thread once the consumer has stopped."""


def pre_hello_expect(frame: Frame) -> Expect:
    """Before hello, anything but a hello gets `no_hello` (protocol.md)."""
    return _error("no_hello")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def broker(database_url: str) -> Iterator[BrokerProcess]:
    process = BrokerProcess(database_url, **ENV).start()
    yield process
    process.kill()


@dataclass
class Cast:
    fuzzers: list[Identity]
    probe_sender: Identity
    probe_recipient: Identity


@pytest.fixture(scope="module")
async def cast(database: Database) -> Cast:
    fuzz_mesh, probe_mesh = await new_mesh(database, "fuzz"), await new_mesh(database, "probe")
    fuzzers = [await new_member(database, fuzz_mesh, f"f{i}") for i in range(FUZZ_SOCKETS)]
    return Cast(
        fuzzers,
        await new_member(database, probe_mesh, "probe-a"),
        await new_member(database, probe_mesh, "probe-b"),
    )


@pytest.fixture
async def sockets(broker: BrokerProcess, cast: Cast) -> AsyncIterator[list[WsPeer]]:
    # Without `ack`: pushes that fuzzed sends cause count as delivered when written.
    peers = [await WsPeer.join(broker.url, f, capabilities=[]) for f in cast.fuzzers]
    yield peers
    await asyncio.gather(*(_close(peer) for peer in peers))


async def _close(peer: WsPeer) -> None:
    """Close, or drop the socket when the close handshake stalls behind unread pushes."""
    try:
        async with asyncio.timeout(2):
            await peer.close()
    except TimeoutError:
        peer.socket.transport.abort()


# ---------------------------------------------------------------- the fuzz run


async def _replies_until_sentinel(peer: WsPeer, sentinel: str) -> list[dict[str, Any]]:
    """Every reply up to the sentinel `peers` reply; pushes are set aside."""
    replies: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT):
        while True:
            frame = json.loads(await peer.socket.recv())
            if frame.get("type") == "push":
                continue
            if frame.get("type") == "peers" and frame.get("id") == sentinel:
                return replies
            replies.append(frame)


async def _replies(peer: WsPeer, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(WAIT):
        return [json.loads(await peer.socket.recv()) for _ in range(count)]


def _describe(frame: Frame) -> str:
    payload = frame.payload
    shown = payload[:300] if len(payload) <= 300 else payload[:300] + f"... ({len(payload)})"
    return f"[{frame.label}] {shown!r}"


async def _probe(sender: WsPeer, recipient: WsPeer, to: str, n: int) -> None:
    send = {
        "type": "send",
        "id": f"probe-{n}",
        "targetSpec": to,
        "priority": "now",
        "nonce": "bg==",
        "ciphertext": "cHJvYmU=",
    }
    ack = await sender.request(send, "ack")
    assert ack["queued"] is True, f"probe {n} refused: {ack}"
    push = await recipient.expect("push", messageId=ack["messageId"])
    await recipient.send({"type": "client_ack", "messageIds": [push["messageId"]]})


def _health(broker: BrokerProcess) -> int:
    with urllib.request.urlopen(f"{broker.http}/health", timeout=10) as response:
        return int(response.status)


async def test_fuzzed_frames_get_the_replies_protocol_md_gives_them(
    broker: BrokerProcess, cast: Cast, sockets: list[WsPeer]
) -> None:
    world = World(tuple(f.pubkey for f in cast.fuzzers))
    started = time.monotonic()
    probe_a = await WsPeer.join(broker.url, cast.probe_sender)
    probe_b = await WsPeer.join(broker.url, cast.probe_recipient)
    problems: list[str] = []
    sent, labels, pre_hello, n = 0, Counter[str](), 0, -1

    async for batch in generated(world):
        n += 1
        if n % PRE_HELLO_EVERY == PRE_HELLO_EVERY - 1:
            # A fresh socket: the batch (hellos left out) before its hello.
            fresh = await WsPeer.open(broker.url)
            early = [f for f in batch if "hello" not in f.label]
            for frame in early:
                await fresh.send(frame.payload)
            for frame, reply in zip(early, await _replies(fresh, len(early)), strict=True):
                why = check_reply(Frame(frame.label, frame.payload, pre_hello_expect(frame)), reply)
                if why:
                    problems.append(f"before hello {_describe(frame)}: {why}; got {reply}")
            await fresh.send(signed_hello(cast.fuzzers[0], f"fresh-{n}", capabilities=[]))
            hello = await fresh.expect("hello_ok")
            assert hello["memberId"] == cast.fuzzers[0].member.id
            await _close(fresh)
            sent, pre_hello = sent + len(early), pre_hello + len(early)
        else:
            peer = sockets[n % len(sockets)]
            for frame in batch:
                await peer.send(frame.payload)
            sentinel = f"sentinel-{n}-{uuid.uuid4().hex[:6]}"
            await peer.send({"type": "list_peers", "id": sentinel})
            replies = await _replies_until_sentinel(peer, sentinel)
            owed = [f for f in batch if f.expect is not None]
            if len(replies) != len(owed):
                problems.append(
                    f"batch {n}: {len(replies)} replies for {len(owed)} frames owed one: "
                    + "; ".join(_describe(f) for f in batch)
                )
            else:
                for frame, reply in zip(owed, replies, strict=True):
                    why = check_reply(frame, reply)
                    if why:
                        problems.append(f"{_describe(frame)}: {why}; got {reply}")
            sent += len(batch)
        labels.update(f.label.split("/")[0] for f in batch)
        await _probe(probe_a, probe_b, cast.probe_recipient.pubkey, n)
        assert not problems, "\n".join(problems[:20])

    print(
        f"\nfuzz: {sent} frames ({pre_hello} before hello) in {n + 1} batches, generated, "
        f"sent and checked in {time.monotonic() - started:.1f} s; by kind {dict(labels)}; "
        f"{n + 1} probes delivered"
    )
    assert sent >= 10_000
    assert all(peer.socket.close_code is None for peer in [*sockets, probe_a, probe_b])
    assert broker.proc is not None and broker.proc.poll() is None
    assert await asyncio.to_thread(_health, broker) == 200
    assert not [e for e in broker.logs if e.get("level") in ("error", "critical")]


# ---------------------------------------------------------------- pinned bugs


def _deep_frames() -> list[Any]:
    deep = nested(DEEP_DEPTH, "array")
    return [
        pytest.param(deep, id="whole-frame"),
        pytest.param(
            f'{{"type":"send","id":"d","targetSpec":"*","nonce":{deep},"ciphertext":"c"}}',
            id="send-field",
        ),
        pytest.param(f'{{"type":"list_peers","id":"d","pad":{deep}}}', id="unknown-field"),
    ]


@pytest.mark.parametrize("payload", _deep_frames())
async def test_deeply_nested_json_gets_an_invalid_reply_and_the_socket_stays_open(
    broker: BrokerProcess, cast: Cast, payload: str
) -> None:
    peer = await WsPeer.join(broker.url, cast.fuzzers[0], capabilities=[])

    await peer.send(payload)
    await peer.send({"type": "list_peers", "id": "after"})
    replies = await _replies_until_sentinel(peer, "after")

    code = "too_large" if len(payload.encode()) > LIMIT else "invalid"
    assert [(r["type"], r.get("code") or r.get("error")) for r in replies] in (
        [("error", code)],
        [("ack", code)],
        [("peers", None)],
    )
    await peer.close()


async def test_deeply_nested_json_before_hello_gets_no_hello(broker: BrokerProcess) -> None:
    peer = await WsPeer.open(broker.url)

    await peer.send(nested(DEEP_DEPTH, "array"))

    assert (await peer.expect("error"))["code"] == "no_hello"
    await peer.close()


# Found by this suite, fixed in 5baac9a: a NUL in nonce or ciphertext made Postgres
# refuse the text and the broker answered `unavailable` (a database outage, retry).
@pytest.mark.parametrize("field", ["nonce", "ciphertext"])
async def test_a_nul_in_an_opaque_field_is_refused_as_invalid_not_unavailable(
    broker: BrokerProcess, cast: Cast, field: str
) -> None:
    peer = await WsPeer.join(broker.url, cast.fuzzers[1], capabilities=[])
    frame = {"type": "send", "id": "nul", "targetSpec": "*", "nonce": "bg==", "ciphertext": "eA=="}

    ack = await peer.request({**frame, field: "a\x00b"}, "ack")

    assert (ack["queued"], ack.get("error")) == (False, "invalid")
    await peer.close()


# Found by this suite, fixed in 5baac9a: a NUL in a hello's identity fields reached
# Postgres and the broker answered error{code:"internal"} and closed with 1011.
@pytest.mark.parametrize("field", ["memberId", "sessionId", "cwd"])
async def test_a_nul_in_a_hello_field_is_refused_without_internal(
    broker: BrokerProcess, cast: Cast, field: str
) -> None:
    peer = await WsPeer.open(broker.url)
    session = "nul\x00session" if field == "sessionId" else f"nul-{field}"
    hello = signed_hello(cast.fuzzers[2], session)  # signed over the NUL when it is there
    if field != "sessionId":
        hello[field] += "\x00"

    await peer.send(hello)
    refused = await peer.expect("error")

    assert refused["code"] in ("invalid", "unauthorized")
    if refused["code"] == "unauthorized":
        assert await peer.closed() == (1008, "unauthorized")
    else:
        await peer.close()
