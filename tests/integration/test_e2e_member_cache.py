"""The member cache across processes (ADR 0018): two brokers that keep members for five
minutes, the `meshbroker` admin command in a third process, one Postgres."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from nacl.signing import SigningKey

from adapters.postgres.database import Database
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

# Far longer than the test: whatever is refused here was forgotten, not aged out.
ENV = {"MEMBER_CACHE_SECONDS": "300"}


@pytest.fixture
def pair(database_url: str) -> Iterator[list[BrokerProcess]]:
    brokers = [BrokerProcess(database_url, **ENV).start() for _ in range(2)]
    for broker in brokers:  # a broker caches only while it hears invalidations
        broker.wait_log(lambda e: e.get("msg") == "listen connection up")
    yield brokers
    for broker in brokers:
        broker.kill()


def _send(to: str) -> dict[str, object]:
    return {
        "type": "send",
        "id": str(uuid.uuid4()),
        "targetSpec": to,
        "priority": "now",
        "nonce": "bg==",
        "ciphertext": "eA==",
    }


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    )


async def test_after_revoke_a_send_to_the_member_cached_on_another_instance_is_refused(
    pair: list[BrokerProcess], database: Database, database_url: str
) -> None:
    here, there = pair
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    carol = await new_member(database, mesh, "carol")
    a = await WsPeer.join(here.url, ada)
    b = await WsPeer.join(there.url, bob, "bob-desk")  # `there` now keeps bob by id

    first = await a.request(_send(bob.pubkey), "ack")  # `here` now keeps bob by pubkey
    assert first["queued"] is True
    assert (await b.expect("push"))["messageId"] == first["messageId"]

    # The control: a revocation written behind the broker's back (no NOTIFY) is not
    # seen while the entry lives, so the refusals below are the invalidation's doing.
    assert (await a.request(_send(carol.pubkey), "ack"))["queued"] is True
    await database.execute(
        "UPDATE mesh.members SET revoked_at = now() WHERE id = $1", carol.member.id
    )
    assert (await a.request(_send(carol.pubkey), "ack"))["queued"] is True

    _cli(database_url, "member", "revoke", "--mesh", mesh.slug, "--member", bob.member.id)

    assert await b.closed() == (1008, "revoked")
    refused = await a.request(_send(bob.pubkey), "ack")
    assert (refused["queued"], refused.get("error")) == (False, "no_recipient")
    again = await WsPeer.open(there.url)
    await again.send(signed_hello(bob, "bob-desk"))
    assert (await again.expect("error"))["code"] == "unauthorized"
    assert await again.closed() == (1008, "unauthorized")


async def test_a_member_added_by_the_cli_receives_the_next_broadcast_at_once(
    pair: list[BrokerProcess], database: Database, database_url: str
) -> None:
    here, there = pair
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    a = await WsPeer.join(here.url, ada)
    before = await a.request(_send("*"), "ack")  # `here` now keeps the mesh's list
    assert before["queued"] is True

    key = SigningKey.generate()
    pubkey = key.verify_key.encode().hex()
    added = _cli(
        database_url, "member", "add", "--mesh", mesh.slug, "--name", "carol", "--pubkey", pubkey
    )
    carol_id = json.loads(added.stdout)["id"]
    carol = Identity(mesh, Member(carol_id, mesh.id, pubkey, "carol", Role.MEMBER), key)
    after = await a.request(_send("*"), "ack")
    direct = await a.request(_send(pubkey), "ack")
    c = await WsPeer.join(there.url, carol)
    pushed = {(await c.expect("push"))["messageId"] for _ in range(2)}

    assert bob.member.id != carol_id
    assert pushed == {after["messageId"], direct["messageId"]}
