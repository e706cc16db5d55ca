"""`meshbroker serve --workers N` (issue 18): N broker processes on one port, each an
instance of its own; SIGTERM to the supervisor shuts them all down as one broker does."""

from __future__ import annotations

import signal

import pytest

from adapters.postgres.database import Database
from tests.integration.support import BrokerProcess, WsPeer, new_member, new_mesh

pytestmark = pytest.mark.usefixtures("database_url")


async def test_two_workers_share_the_port_and_stop_together(
    database_url: str, database: Database
) -> None:
    broker = BrokerProcess(database_url, BROKER_WORKERS="2").start()
    try:
        ready = broker.wait_log(lambda e: e.get("msg") == "broker listening")
        assert ready["workers"] == 2
        workers = [
            broker.wait_log(lambda e, i=i: e.get("msg") == "worker listening" and e["worker"] == i)
            for i in range(2)
        ]
        assert {w["port"] for w in workers} == {broker.port}
        assert workers[0]["instance"] != workers[1]["instance"]

        mesh = await new_mesh(database)
        peers = []
        for n in range(40):  # the kernel spreads them; all 40 on one worker: p = 2^-39
            peers.append(await WsPeer.join(broker.url, await new_member(database, mesh, f"p{n}")))
        served_by = await database.fetch(
            "SELECT DISTINCT instance_id FROM mesh.presences"
            " WHERE mesh_id = $1 AND connection_id IS NOT NULL",
            mesh.id,
        )
        # a presence names its worker's incarnation, "<instance>.<n>" (ADR 0025)
        instances = {r["instance_id"].split(".")[0] for r in served_by}
        assert instances == {w["instance"] for w in workers}

        assert broker.terminate(signal.SIGTERM) == 0
        broker.wait_log(lambda e: e.get("msg") == "workers stopped")
        online = await database.fetchval(
            "SELECT count(*) FROM mesh.presences WHERE mesh_id = $1"
            " AND connection_id IS NOT NULL AND ended_at IS NULL",
            mesh.id,
        )
        assert online == 0
        for peer in peers:
            await peer.close()
    finally:
        broker.kill()
