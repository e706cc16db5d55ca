"""ReplayGuard contract: a hello signature is accepted once."""

from __future__ import annotations

import uuid

from domain.ports import ReplayGuard
from tests.integration.contract.support import at


def signature() -> str:
    return "".join(uuid.uuid4().hex for _ in range(4))  # 128 hex characters


async def test_a_signature_is_accepted_once(replay: ReplayGuard) -> None:
    sig = signature()

    assert await replay.first_use(sig, at(60)) is True
    assert await replay.first_use(sig, at(60)) is False
    assert await replay.first_use(sig, at(600)) is False


async def test_signatures_compare_without_case(replay: ReplayGuard) -> None:
    sig = signature()

    assert await replay.first_use(sig.upper(), at(60)) is True
    assert await replay.first_use(sig.lower(), at(60)) is False


async def test_a_recorded_signature_is_refused_until_purged(replay: ReplayGuard) -> None:
    sig = signature()
    await replay.first_use(sig, at(60))

    # past keep_until but not purged yet: still refused
    assert await replay.first_use(sig, at(120)) is False


async def test_purge_forgets_signatures_whose_time_is_up(replay: ReplayGuard) -> None:
    expired, due, kept = signature(), signature(), signature()
    await replay.first_use(expired, at(10))
    await replay.first_use(due, at(20))
    await replay.first_use(kept, at(21))

    purged = await replay.purge(at(20))

    assert purged >= 2  # the Postgres store is shared with other tests
    assert await replay.first_use(expired, at(100)) is True
    assert await replay.first_use(due, at(100)) is True
    assert await replay.first_use(kept, at(100)) is False
