"""Postgres-only mailbox properties: concurrent claimers, the queue index."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.postgres.database import Database
from adapters.postgres.mailbox import PostgresMailbox
from adapters.postgres.mailbox_sql import CLAIM, CLAIM_MANY, ENQUEUE
from domain.model import Priority
from tests.integration.contract.support import at, message, new_id

DELIVERIES = 1000
ALL = frozenset(Priority)


@pytest.fixture(params=["one pool", "two pools"])
async def claimer_pools(
    request: pytest.FixtureRequest, database: Database, database_url: str
) -> AsyncIterator[tuple[Database, Database]]:
    """Two claimers on two connections of one pool, or on two pools (two instances)."""
    if request.param == "one pool":
        yield database, database
        return
    other = await Database.create(database_url, min_size=1, max_size=2)
    try:
        yield database, other
    finally:
        await other.close()


async def test_two_claimers_never_share_a_delivery_and_skip_none(
    claimer_pools: tuple[Database, Database],
) -> None:
    first_db, second_db = claimer_pools
    member = new_id("member-")
    sent = [message(created=i / 1000) for i in range(DELIVERIES)]
    enqueuer = PostgresMailbox(first_db)
    for m in sent:
        await enqueuer.enqueue(m, [member])
    queue_order = {m.id: i for i, m in enumerate(sent)}

    async def claimer(db: Database, connection_id: str) -> list[str]:
        mailbox = PostgresMailbox(db)
        got: list[str] = []
        while True:
            batch = await mailbox.claim(
                member, new_id("presence-"), connection_id, ALL, at(10), at(40), 7
            )
            if not batch:
                return got
            got.extend(m.id for m in batch)
            await asyncio.sleep(0)

    first, second = await asyncio.gather(
        claimer(first_db, "connection-1"), claimer(second_db, "connection-2")
    )

    claimed = first + second
    assert len(claimed) == DELIVERIES, "every delivery claimed once"
    assert len(set(claimed)) == DELIVERIES, "no delivery claimed twice"
    assert set(claimed) == set(queue_order)
    assert first and second, "both claimers took part"
    for got in (first, second):
        positions = [queue_order[i] for i in got]
        assert positions == sorted(positions), "each claimer receives in queue order"
    # nothing is left unleased, and once the leases run out everything is there again
    assert await enqueuer.claim(member, "p", "c3", ALL, at(39), at(69), 10) == []
    again = await enqueuer.claim(member, "p", "c3", ALL, at(40), at(70), 2 * DELIVERIES)
    assert [m.id for m in again] == [m.id for m in sent]


async def test_claimers_of_different_members_do_not_block_each_other(database: Database) -> None:
    mailbox = PostgresMailbox(database)
    members = [new_id("member-") for _ in range(8)]
    broadcast = [message(created=i) for i in range(20)]
    for m in broadcast:
        await mailbox.enqueue(m, members)

    results = await asyncio.gather(
        *(mailbox.claim(member, "p", f"c-{member}", ALL, at(30), at(60), 100) for member in members)
    )

    assert all([m.id for m in got] == [m.id for m in broadcast] for got in results)


async def test_claims_walk_the_member_queue_index(database: Database) -> None:
    """With other members' mail in the table, a claim (alone or batched) reads the member's own queue
    through `deliveries_queue` (member_id, seq) instead of scanning the table."""
    mailbox = PostgresMailbox(database)
    others = [new_id("other-") for _ in range(50)]
    for i in range(100):
        await mailbox.enqueue(message(created=i), others)
    await database.execute("ANALYZE mesh.deliveries")
    member = new_id("member-")

    async def explain(conn: object) -> str:
        rows = await conn.fetch(  # type: ignore[attr-defined]
            "EXPLAIN " + CLAIM,
            member,
            "p",
            "c",
            ["low", "next", "now"],
            at(0),
            at(30),
            256,
            "claiming-session",
        )
        return "\n".join(r[0] for r in rows)

    async def explain_many(conn: object) -> str:
        rows = await conn.fetch(  # type: ignore[attr-defined]
            "EXPLAIN " + CLAIM_MANY,
            [member, others[0]],
            ["p", "p"],
            ["c", "c2"],
            ["low,next,now", "now"],
            [at(0), at(0)],
            [at(30), at(30)],
            [256, 256],
            ["claiming-session", None],
        )
        return "\n".join(r[0] for r in rows)

    for plan in (await database.run(explain), await database.run(explain_many)):
        assert "deliveries_queue" in plan, plan
        assert "Seq Scan on deliveries" not in plan, plan
        assert "Seq Scan on presences" not in plan, plan  # a target session's liveness


class CountingDatabase:
    """The database, counting the statements the mailbox sends it."""

    def __init__(self, db: Database) -> None:
        self.db, self.statements = db, 0

    async def execute(self, *args: object) -> str:
        self.statements += 1
        return await self.db.execute(*args)  # type: ignore[arg-type]

    async def fetch(self, *args: object) -> list:  # type: ignore[type-arg]
        self.statements += 1
        return await self.db.fetch(*args)  # type: ignore[arg-type]


async def test_concurrent_sends_share_statements_and_keep_their_arrival_order(
    database: Database,
) -> None:
    counting = CountingDatabase(database)
    mailbox = PostgresMailbox(counting)  # type: ignore[arg-type]
    member = new_id("member-")
    sent = [message(created=i / 1000) for i in range(300)]

    await asyncio.gather(*(mailbox.enqueue(m, [member]) for m in sent))
    acks = [mailbox.ack(member, [m.id], at(1)) for m in sent[:100]]
    acked = await asyncio.gather(*acks, mailbox.ack(member, ["not-mine"], at(1)))
    statements = counting.statements

    left = await mailbox.claim(member, "p", "c", ALL, at(1), at(30), 1000)
    assert [m.id for m in left] == [m.id for m in sent[100:]], "arrival order, acked ones gone"
    assert acked == [1] * 100 + [0]
    assert statements <= 4, "401 calls shared a handful of statements"


async def test_claims_in_flight_together_share_a_statement_and_never_a_delivery(
    database: Database,
) -> None:
    """Claims of several members share one statement; a member's second claim in the
    same batch goes in a later one, so two of its sessions never get the same row."""
    counting = CountingDatabase(database)
    mailbox = PostgresMailbox(counting)  # type: ignore[arg-type]
    members = [new_id("member-") for _ in range(6)]
    sent = [message(created=i) for i in range(10)]
    for m in sent:
        await mailbox.enqueue(m, members)
    before = counting.statements
    # every member's newest session claims 4; the first member's older one claims too
    claims = [
        mailbox.claim(member, "p", f"new-{member}", ALL, at(30), at(60), 4) for member in members
    ]
    claims.append(mailbox.claim(members[0], "p", "older", ALL, at(30), at(60), 100))

    *newest, older = await asyncio.gather(*claims)

    assert counting.statements - before == 2, "six members in one statement, then the seventh"
    assert [[m.id for m in got] for got in newest] == [[m.id for m in sent[:4]]] * 6
    assert [m.id for m in older] == [m.id for m in sent[4:]], "the rest, none twice"


async def test_the_enqueue_s_lease_check_probes_only_the_waiting_rows(database: Database) -> None:
    """With much mail in flight (leased) in the table, the check that nothing older
    waits (ADR 0031) reads `deliveries_waiting`, not the member's whole queue."""
    mailbox = PostgresMailbox(database)
    members = [new_id("member-") for _ in range(50)]
    for i in range(100):
        await mailbox.enqueue(message(created=i), members)
    await database.execute("UPDATE mesh.deliveries SET leased_to = 'c', lease_until = $1", at(99))
    await database.execute("ANALYZE mesh.deliveries")
    m = message(created=200)
    offer = (["conn"], ["presence"], ["session"], ["low,next,now"], [at(230)])

    async def explain(conn: object) -> str:
        rows = await conn.fetch(  # type: ignore[attr-defined]
            "EXPLAIN " + ENQUEUE,
            *([v] for v in (m.id, m.mesh_id, "sender", m.sender_pubkey, "p", "next")),
            [m.nonce],
            [m.ciphertext],
            [m.created_at],
            [m.expires_at],
            [None],
            *([v] for v in (m.id, members[0], "next", "p")),
            [m.expires_at],
            [None],
            [None],
            *offer,
            at(200),
        )
        return "\n".join(r[0] for r in rows)

    plan = await database.run(explain)

    assert "deliveries_waiting" in plan, plan
    assert "Seq Scan on deliveries" not in plan, plan
    assert "Seq Scan on presences" not in plan, plan
