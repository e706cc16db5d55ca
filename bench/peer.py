"""One benchmark peer in a worker process: a websockets client that says hello,
sends with a window of unacknowledged sends, receives pushes and acks them in
batches (every ACK_EVERY seconds), and records what it saw."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import uuid
from array import array
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench import payload
from bench.mesh import Identity
from bench.stats import DeliveryLog, Seen

ACK_EVERY = 0.010
ACK_CHUNK = 5000  # the protocol caps one client_ack at 10,000 ids


class _Push(msgspec.Struct, tag="push", rename="camel"):
    message_id: str
    ciphertext: str


class _Ack(msgspec.Struct, tag="ack", rename="camel"):
    queued: bool
    id: str | int | None = None
    error: str | None = None


class _Error(msgspec.Struct, tag="error"):
    code: str
    message: str = ""


class _Other(msgspec.Struct, tag_field="type", tag="hello_ok"):
    pass


_decoder = msgspec.json.Decoder(_Push | _Ack | _Error | _Other)
_encoder = msgspec.json.Encoder()


class Recorder:
    """What the peers of one worker measured, merged at the end."""

    def __init__(self) -> None:
        self.latency_ms = array("d")  # first pushes: receive time - send time
        self.ack_ms = array("d")  # sends: broker's ack time - send time
        self.send_lag_ms = array("d")  # paced sends: actual - scheduled send time
        self.window = (0.0, float("inf"))
        self.in_window = 0  # first pushes received inside the window
        self.timeline: collections.Counter[int] = collections.Counter()  # second -> pushes
        self.sent = 0
        self.queued = 0
        self.queued_in_window = 0  # queued acks received inside the window
        self.rejected: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.misrouted = 0
        self.last_push = 0.0


class Peer:
    def __init__(self, index: int, ws: ClientConnection, rec: Recorder, hello_ok: Any) -> None:
        self.index = index
        self.ws = ws
        self.rec = rec
        self.hello_ok = hello_ok
        self.log = DeliveryLog()
        self.acked: dict[int, list[int]] = collections.defaultdict(list)  # target -> seqs
        self.outstanding: dict[str, tuple[int, int, float]] = {}  # id -> seq, target, sent
        self.next_seq = 0
        self.window: asyncio.Semaphore | None = None
        self.window_size = 0
        self.settled = asyncio.Event()  # no send awaits its ack
        self.settled.set()
        self.closed: tuple[int | None, str | None] | None = None
        self._to_ack: list[str] = []
        self._ack_wanted = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def join(
        cls,
        url: str,
        index: int,
        who: Identity,
        rec: Recorder,
        *,
        pid: int = 4242,
        cwd: str = "/bench",
        compression: bool = True,
    ) -> Peer:
        ws = await connect(
            url,
            open_timeout=120,
            max_size=None,
            compression="deflate" if compression else None,
            ping_timeout=None,  # a loaded machine must not drop idle peers
        )
        hello = who.hello(str(uuid.uuid4()), pid, cwd)
        await ws.send(_encoder.encode(hello), text=True)
        reply = msgspec.json.decode(await ws.recv(decode=False))
        if reply.get("type") != "hello_ok":
            await ws.close()
            raise RuntimeError(f"hello refused: {reply}")
        peer = cls(index, ws, rec, reply)
        peer._tasks.append(asyncio.create_task(peer._read()))
        peer._tasks.append(asyncio.create_task(peer._ack_loop()))
        return peer

    # ------------------------------------------------------------ sending

    async def send(self, target: int, target_pubkey: str, make: payload.Payloads) -> None:
        """Send one message, first waiting for room in the window (when there is one)."""
        if self.window is not None:
            await self.window.acquire()
        if self.closed is not None:
            return
        seq = self.next_seq
        self.next_seq += 1
        sent_at = time.monotonic()
        frame = {
            "type": "send",
            "id": str(seq),
            "targetSpec": target_pubkey,
            "priority": "now",
            "nonce": payload.NONCE,
            "ciphertext": make.make(self.index, target, seq, sent_at),
        }
        self.outstanding[str(seq)] = (seq, target, sent_at)
        self.settled.clear()
        self.rec.sent += 1
        try:
            await self.ws.send(_encoder.encode(frame), text=True)
        except ConnectionClosed:
            self.rec.errors["send on a closed socket"] += 1

    def _on_ack(self, ack: _Ack, now: float) -> None:
        entry = self.outstanding.pop(str(ack.id), None)
        if entry is None:
            self.rec.errors["ack for an unknown id"] += 1
            return
        seq, target, sent_at = entry
        self.rec.ack_ms.append((now - sent_at) * 1000)
        if ack.queued:
            self.rec.queued += 1
            if self.rec.window[0] <= now <= self.rec.window[1]:
                self.rec.queued_in_window += 1
            self.acked[target].append(seq)
        else:
            self.rec.rejected[ack.error or "?"] += 1
        if self.window is not None:
            self.window.release()
        if not self.outstanding:
            self.settled.set()

    # ------------------------------------------------------------ receiving

    async def _read(self) -> None:
        rec = self.rec
        try:
            while True:
                raw = await self.ws.recv(decode=False)
                now = time.monotonic()
                try:
                    frame = _decoder.decode(raw)
                except msgspec.ValidationError:
                    rec.errors[f"unexpected frame {bytes(raw[:60])!r}"] += 1
                    continue
                if isinstance(frame, _Push):
                    self._on_push(frame, now)
                elif isinstance(frame, _Ack):
                    self._on_ack(frame, now)
                elif isinstance(frame, _Error):
                    rec.errors[f"error frame {frame.code}"] += 1
        except ConnectionClosed as exc:
            got = exc.rcvd
            self.closed = (got.code, got.reason) if got else (None, None)
        finally:
            self.settled.set()
            if self.window is not None:  # wake a sender waiting for room: it will see closed
                for _ in range(self.window_size):
                    self.window.release()

    def _on_push(self, push: _Push, now: float) -> None:
        rec = self.rec
        self._to_ack.append(push.message_id)
        self._ack_wanted.set()
        try:
            sender, target, seq, sent_at = payload.read(push.ciphertext)
        except Exception:
            rec.errors["push with a foreign ciphertext"] += 1
            return
        if target != self.index:
            rec.misrouted += 1
        if self.log.push(sender, seq, push.message_id) is not Seen.NEW:
            return
        rec.latency_ms.append((now - sent_at) * 1000)
        rec.last_push = now
        rec.timeline[int(now - rec.window[0])] += 1
        if rec.window[0] <= now <= rec.window[1]:
            rec.in_window += 1

    async def _ack_loop(self) -> None:
        while True:
            await self._ack_wanted.wait()
            await asyncio.sleep(ACK_EVERY)
            self._ack_wanted.clear()
            ids, self._to_ack = self._to_ack, []
            self.log.acked(ids)
            for start in range(0, len(ids), ACK_CHUNK):
                chunk = ids[start : start + ACK_CHUNK]
                frame = {"type": "client_ack", "messageIds": chunk}
                try:
                    await self.ws.send(_encoder.encode(frame), text=True)
                except ConnectionClosed:
                    return

    # ------------------------------------------------------------ end

    @property
    def open(self) -> bool:
        return self.closed is None

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError, ConnectionClosed, OSError):
            await asyncio.wait_for(self.ws.close(), 5)
