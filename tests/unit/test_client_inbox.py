"""The local inbox: stored before the ack, duplicates dropped, each message shown once,
also when two processes (the MCP server and a hook) claim at the same moment."""

from __future__ import annotations

import multiprocessing
import stat
import time
from pathlib import Path

from client.inbox import KEEP_SHOWN_SECONDS, Inbox
from client.inbox_message import Stored


def message(n: int, text: str = "hi", sender: str = "alice") -> Stored:
    return Stored(
        message_id=f"m-{n}",
        from_name=sender,
        from_pubkey="ab" * 32,
        priority="next",
        text=text,
        sent_at="2026-12-06T03:00:00.000Z",
        encrypted=True,
    )


def keep(inbox: Inbox, n: int, session: str = "s-1", recipient: str = "bob") -> bool:
    return inbox.store(recipient=recipient, session_id=session, cwd="/proj", message=message(n))


def test_the_inbox_file_is_private(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "home" / "inbox.sqlite3")
    keep(inbox, 1)

    assert stat.S_IMODE(inbox.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(inbox.path.parent.stat().st_mode) == 0o700


def test_a_redelivered_message_is_dropped_by_its_id(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.sqlite3")

    assert keep(inbox, 1) is True
    assert keep(inbox, 1) is False

    assert [m.message_id for m in inbox.claim_unread("s-1", "test")] == ["m-1"]
    assert keep(inbox, 1) is False  # shown already: a late redelivery is not shown again
    assert inbox.claim_unread("s-1", "test") == []


def test_the_same_broadcast_id_is_kept_once_per_recipient(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.sqlite3")

    assert keep(inbox, 7, session="bob-1", recipient="bob") is True
    assert keep(inbox, 7, session="carol-1", recipient="carol") is True

    assert len(inbox.claim_unread("bob-1", "t")) == len(inbox.claim_unread("carol-1", "t")) == 1


def test_an_unshown_message_redelivered_to_a_new_session_moves_there(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.sqlite3")
    keep(inbox, 1, session="old")  # stored, then the process died before its ack

    assert keep(inbox, 1, session="new") is True  # the broker pushes it again, to the new one

    assert inbox.claim_unread("old", "t") == []
    assert [m.message_id for m in inbox.claim_unread("new", "t")] == ["m-1"]


def test_a_message_is_claimed_once(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.sqlite3")
    keep(inbox, 1)

    assert inbox.claim("s-1", "m-1", "channel") == message(1)
    assert inbox.claim("s-1", "m-1", "channel") is None
    assert inbox.claim_unread("s-1", "hook") == []


def test_unread_comes_oldest_first_up_to_the_limit(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.sqlite3")
    for n in (3, 1, 2):
        keep(inbox, n)

    first = inbox.claim_unread("s-1", "t", limit=2)

    assert [m.message_id for m in first] == ["m-3", "m-1"]
    assert [m.message_id for m in inbox.unread("s-1")] == ["m-2"]
    assert inbox.count_unread("s-1") == 1


def test_what_does_not_fit_stays_unread(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.sqlite3")
    for n in range(5):
        keep(inbox, n)

    taken = inbox.claim_unread("s-1", "t", fits=lambda so_far, _next: len(so_far) < 2)

    assert [m.message_id for m in taken] == ["m-0", "m-1"]
    assert inbox.count_unread("s-1") == 3


# ---- two processes at once

MESSAGES = 300


def _claim_all(path: str, how: str, barrier: object, out: object) -> None:
    inbox = Inbox(Path(path), busy_timeout_ms=30_000)
    barrier.wait()  # type: ignore[attr-defined]
    won: list[str] = []
    if how == "channel":  # the MCP server: one message at a time, as pushes come
        for n in range(MESSAGES):
            got = inbox.claim("s-1", f"m-{n}", "channel")
            if got is not None:
                won.append(got.message_id)
    else:  # the hook: whatever is unread, a few at a time
        while True:
            batch = inbox.claim_unread("s-1", "hook", limit=7)
            if not batch:
                break
            won.extend(m.message_id for m in batch)
    out.put((how, won))  # type: ignore[attr-defined]


def test_two_processes_claiming_at_once_show_every_message_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    inbox = Inbox(path)
    for n in range(MESSAGES):
        keep(inbox, n)
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(2), spawn.Queue()
    workers = [
        spawn.Process(target=_claim_all, args=(str(path), how, barrier, results))
        for how in ("channel", "hook")
    ]

    for worker in workers:
        worker.start()
    won = dict(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(60)

    assert all(worker.exitcode == 0 for worker in workers)
    assert not set(won["channel"]) & set(won["hook"]), "a message was shown twice"
    assert sorted(won["channel"] + won["hook"]) == sorted(f"m-{n}" for n in range(MESSAGES))
    assert inbox.count_unread("s-1") == 0


def test_prune_forgets_messages_shown_long_ago_and_keeps_unshown_ones(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.sqlite3")
    keep(inbox, 1)
    shown = inbox.claim_unread("s-1", "test")
    keep(inbox, 2)  # never shown
    shown_at = time.time()

    assert inbox.prune(shown_at + KEEP_SHOWN_SECONDS - 60) == 0  # not long enough ago
    assert inbox.prune(shown_at + KEEP_SHOWN_SECONDS + 60) == 1

    assert [m.message_id for m in shown] == ["m-1"]
    assert [m.message_id for m in inbox.unread("s-1")] == ["m-2"]
    assert keep(inbox, 1) is True  # forgotten: a (very) late redelivery is new again
