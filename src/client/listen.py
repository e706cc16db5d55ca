"""`meshpeer listen`: print messages as they arrive, acknowledging each, and keep the
session's hook token on file while connected."""

from __future__ import annotations

import asyncio
import contextlib
import sys

from client.names import Names
from client.peer import Peer, PeerConfig
from client.session_record import record_session
from client.sessions import remove_session
from client.usage import print_json


async def listen(config: PeerConfig, count: int | None, seconds: float | None) -> int:
    """Print messages until `count` arrived or `seconds` passed, keeping the session's
    hook token on file while connected."""
    peer = Peer(config)
    peer.on_hello.append(lambda ok: record_session(config, ok))
    names = Names(peer)
    received = 0
    try:
        async with asyncio.timeout(seconds):
            await peer.start(within=None)
            async with contextlib.aclosing(peer.messages()) as messages:
                async for incoming in messages:
                    sender = await names.name_of(incoming.sender)
                    print_json(incoming.as_json() | {"from": sender, "fromPubkey": incoming.sender})
                    await peer.ack(incoming)
                    received += 1
                    if count is not None and received >= count:
                        return 0
    except TimeoutError:
        if peer.hello_ok is None:
            print(
                f"meshpeer listen: not connected to {config.url} in {seconds:g} s", file=sys.stderr
            )
            return 1
        if count is None:
            return 0
        print(f"meshpeer listen: {received} of {count} messages in {seconds:g} s", file=sys.stderr)
        return 1
    finally:
        await peer.close()
        remove_session(config.session_id)
    return 0
