"""A database outage under a running broker: it degrades, refuses honestly, recovers."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

from adapters.postgres.database import Database
from adapters.postgres.embedded import EmbeddedPostgres
from adapters.postgres.migrate import migrate
from tests.integration.support import (
    WAIT,
    BrokerProcess,
    WsPeer,
    new_member,
    new_mesh,
    signed_hello,
)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _hook(broker: BrokerProcess) -> tuple[int, dict[str, object]]:
    body = json.dumps({"cwd": "/outage", "pid": 1, "status": "working"}).encode()
    request = urllib.request.Request(f"{broker.http}/hook/set-status", data=body, method="POST")
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def _health_becomes(broker: BrokerProcess, status: int) -> float:
    started = time.monotonic()
    while (await asyncio.to_thread(_get, f"{broker.http}/health")) != status:
        assert time.monotonic() - started < WAIT, f"/health never answered {status}"
        await asyncio.sleep(0.2)
    return time.monotonic() - started


def _send(to: str, frame_id: str) -> dict[str, object]:
    return {
        "type": "send",
        "id": frame_id,
        "targetSpec": to,
        "priority": "now",
        "nonce": "bg==",
        "ciphertext": "eA==",
    }


async def test_an_outage_degrades_health_refuses_work_and_recovers(
    private_postgres: EmbeddedPostgres,
) -> None:
    dsn = private_postgres.dsn
    await migrate(dsn)
    database = await Database.create(dsn, min_size=1, max_size=2)
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    await database.close()
    broker = BrokerProcess(dsn, BROKER_SKIP_MIGRATE="1").start()
    try:
        a, b = await WsPeer.join(broker.url, ada), await WsPeer.join(broker.url, bob)

        await asyncio.to_thread(private_postgres.stop)
        went_down = await _health_becomes(broker, 503)
        refused = await a.request(_send(bob.pubkey, "during"), "ack")
        late = await WsPeer.open(broker.url)
        await late.send(signed_hello(ada, "during-outage"))
        hello_error = await late.expect("error")
        hello_close = await late.closed()
        hook = await asyncio.to_thread(_hook, broker)

        await asyncio.to_thread(private_postgres.start)
        came_back = await _health_becomes(broker, 200)
        accepted = await a.request(_send(bob.pubkey, "after"), "ack")
        push = await b.expect("push")

        assert went_down < 10 and came_back < 10
        assert (refused["queued"], refused["error"]) == (False, "unavailable")
        assert hello_error["code"] == "unavailable" and hello_close == (1013, "try again later")
        assert hook == (503, {"ok": False, "error": "unavailable"})
        assert accepted["queued"] is True and push["messageId"] == accepted["messageId"]
        assert broker.proc is not None and broker.proc.poll() is None
        broker.wait_log(lambda e: e.get("msg") == "db ping failed")
        broker.wait_log(lambda e: e.get("msg") == "db healthy")
    finally:
        broker.kill()
