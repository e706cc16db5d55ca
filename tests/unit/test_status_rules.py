"""The status model of protocol.md: source ranking, freshness, DND, the TTL flip, the gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.model import Priority, Source, Status, StatusRecord
from domain.status import StatusRules, admitted

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
FRESH_WINDOW = timedelta(seconds=30)
TTL = timedelta(seconds=60)
RULES = StatusRules(fresh_window=FRESH_WINDOW, ttl=TTL)

JUST_NOW = timedelta(seconds=1)
STILL_FRESH = FRESH_WINDOW - timedelta(milliseconds=1)
LONG_AGO = timedelta(hours=1)

IDLE, WORKING, DND, WAITING = Status.IDLE, Status.WORKING, Status.DND, Status.WAITING
HOOK, MANUAL, JSONL = Source.HOOK, Source.MANUAL, Source.JSONL


def recorded(status: Status, source: Source, age: timedelta) -> StatusRecord:
    return StatusRecord(status, source, NOW - age)


# ---------------------------------------------------------------- ranking and replacement


@pytest.mark.parametrize(
    ("current", "status", "source"),
    [
        pytest.param(recorded(IDLE, MANUAL, JUST_NOW), WORKING, HOOK, id="hook-replaces-manual"),
        pytest.param(
            recorded(WORKING, HOOK, JUST_NOW), IDLE, MANUAL, id="manual-replaces-fresh-hook"
        ),
        pytest.param(
            recorded(WORKING, MANUAL, JUST_NOW), IDLE, JSONL, id="jsonl-replaces-fresh-manual"
        ),
        pytest.param(recorded(WORKING, JSONL, JUST_NOW), IDLE, HOOK, id="hook-replaces-jsonl"),
        pytest.param(recorded(IDLE, HOOK, JUST_NOW), WORKING, HOOK, id="hook-replaces-hook"),
        pytest.param(recorded(WORKING, HOOK, JUST_NOW), DND, MANUAL, id="manual-enters-dnd"),
        pytest.param(recorded(IDLE, JSONL, LONG_AGO), DND, HOOK, id="hook-enters-dnd"),
        pytest.param(recorded(WORKING, HOOK, JUST_NOW), WAITING, HOOK, id="hook-enters-waiting"),
        pytest.param(recorded(WAITING, HOOK, JUST_NOW), IDLE, HOOK, id="hook-leaves-waiting"),
        pytest.param(recorded(IDLE, MANUAL, JUST_NOW), WAITING, MANUAL, id="manual-waiting"),
        pytest.param(
            recorded(WAITING, HOOK, FRESH_WINDOW), WORKING, JSONL, id="jsonl-over-stale-waiting"
        ),
    ],
)
def test_a_different_status_replaces_the_current_one_from_any_source(
    current: StatusRecord, status: Status, source: Source
) -> None:
    result = RULES.apply(current, status, source, NOW)

    assert result == StatusRecord(status, source, NOW)


@pytest.mark.parametrize(
    ("current", "source"),
    [
        pytest.param(recorded(WORKING, JSONL, JUST_NOW), HOOK, id="hook-over-fresh-jsonl"),
        pytest.param(recorded(WORKING, MANUAL, JUST_NOW), HOOK, id="hook-over-fresh-manual"),
        pytest.param(recorded(WORKING, JSONL, JUST_NOW), MANUAL, id="manual-over-fresh-jsonl"),
        pytest.param(recorded(WORKING, HOOK, JUST_NOW), HOOK, id="hook-reconfirms-hook"),
        pytest.param(recorded(WORKING, MANUAL, JUST_NOW), MANUAL, id="manual-reconfirms-manual"),
        pytest.param(recorded(WORKING, JSONL, JUST_NOW), JSONL, id="jsonl-reconfirms-jsonl"),
    ],
)
def test_the_same_status_from_an_equal_or_higher_source_takes_the_attribution_and_refreshes(
    current: StatusRecord, source: Source
) -> None:
    result = RULES.apply(current, WORKING, source, NOW)

    assert result == StatusRecord(WORKING, source, NOW)


@pytest.mark.parametrize(
    ("current", "source"),
    [
        pytest.param(recorded(WORKING, HOOK, JUST_NOW), JSONL, id="jsonl-under-hook"),
        pytest.param(recorded(WORKING, HOOK, STILL_FRESH), MANUAL, id="manual-under-hook-at-edge"),
        pytest.param(recorded(WORKING, MANUAL, JUST_NOW), JSONL, id="jsonl-under-manual"),
    ],
)
def test_the_same_status_from_a_lower_source_keeps_the_recorded_one_while_it_is_fresh(
    current: StatusRecord, source: Source
) -> None:
    result = RULES.apply(current, WORKING, source, NOW)

    assert result == current


@pytest.mark.parametrize(
    ("current", "source"),
    [
        pytest.param(
            recorded(WORKING, HOOK, FRESH_WINDOW), JSONL, id="jsonl-once-hook-is-window-old"
        ),
        pytest.param(recorded(WORKING, HOOK, LONG_AGO), MANUAL, id="manual-over-stale-hook"),
        pytest.param(recorded(WORKING, MANUAL, LONG_AGO), JSONL, id="jsonl-over-stale-manual"),
    ],
)
def test_the_same_status_from_a_lower_source_takes_over_once_the_recorded_one_is_stale(
    current: StatusRecord, source: Source
) -> None:
    result = RULES.apply(current, WORKING, source, NOW)

    assert result == StatusRecord(WORKING, source, NOW)


# ---------------------------------------------------------------- DND is sacred


@pytest.mark.parametrize(
    ("current", "status"),
    [
        pytest.param(recorded(DND, MANUAL, JUST_NOW), WORKING, id="working-over-fresh-dnd"),
        pytest.param(recorded(DND, MANUAL, JUST_NOW), IDLE, id="idle-over-fresh-dnd"),
        pytest.param(recorded(DND, MANUAL, LONG_AGO), IDLE, id="idle-over-day-old-dnd"),
        pytest.param(recorded(DND, HOOK, LONG_AGO), WORKING, id="working-over-hook-dnd"),
        pytest.param(recorded(DND, MANUAL, JUST_NOW), WAITING, id="waiting-over-fresh-dnd"),
    ],
)
def test_a_hook_never_overrides_dnd(current: StatusRecord, status: Status) -> None:
    result = RULES.apply(current, status, HOOK, NOW)

    assert result == current


@pytest.mark.parametrize(
    "status",
    [pytest.param(IDLE, id="idle"), pytest.param(WORKING, id="working")],
)
def test_a_jsonl_inference_never_leaves_dnd(status: Status) -> None:
    current = recorded(DND, MANUAL, LONG_AGO)

    result = RULES.apply(current, status, JSONL, NOW)

    assert result == current


@pytest.mark.parametrize(
    "status",
    [pytest.param(IDLE, id="idle"), pytest.param(WORKING, id="working")],
)
def test_a_manual_status_leaves_dnd(status: Status) -> None:
    current = recorded(DND, MANUAL, JUST_NOW)

    result = RULES.apply(current, status, MANUAL, NOW)

    assert result == StatusRecord(status, MANUAL, NOW)


# ---------------------------------------------------------------- hooks against transcripts


def test_a_fresh_hook_beats_a_jsonl_inference_of_a_different_status() -> None:
    current = recorded(WORKING, HOOK, STILL_FRESH)

    result = RULES.apply(current, IDLE, JSONL, NOW)

    assert result == current


def test_a_fresh_hook_waiting_beats_a_jsonl_inference_of_working() -> None:
    current = recorded(WAITING, HOOK, STILL_FRESH)

    result = RULES.apply(current, WORKING, JSONL, NOW)

    assert result == current


def test_waiting_from_a_lower_source_keeps_a_fresh_hook_attribution() -> None:
    current = recorded(WAITING, HOOK, JUST_NOW)

    result = RULES.apply(current, WAITING, MANUAL, NOW)

    assert result == current


def test_a_stale_hook_gives_way_to_a_jsonl_inference_of_a_different_status() -> None:
    current = recorded(WORKING, HOOK, FRESH_WINDOW)

    result = RULES.apply(current, IDLE, JSONL, NOW)

    assert result == StatusRecord(IDLE, JSONL, NOW)


# ---------------------------------------------------------------- the TTL sweep


@pytest.mark.parametrize("source", [HOOK, MANUAL, JSONL])
def test_working_for_longer_than_the_ttl_is_stuck_whatever_its_source(source: Source) -> None:
    record = recorded(WORKING, source, TTL + timedelta(milliseconds=1))

    stuck = RULES.is_stuck(record, NOW)

    assert stuck is True


@pytest.mark.parametrize(
    "age",
    [pytest.param(TTL, id="exactly-the-ttl"), pytest.param(JUST_NOW, id="just-confirmed")],
)
def test_working_for_no_longer_than_the_ttl_is_not_stuck(age: timedelta) -> None:
    record = recorded(WORKING, HOOK, age)

    stuck = RULES.is_stuck(record, NOW)

    assert stuck is False


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(DND, id="dnd"),
        pytest.param(IDLE, id="idle"),
        pytest.param(WAITING, id="waiting-on-a-person-for-hours"),
    ],
)
def test_dnd_idle_and_waiting_are_never_stuck_however_old(status: Status) -> None:
    record = recorded(status, MANUAL, timedelta(days=30))

    stuck = RULES.is_stuck(record, NOW)

    assert stuck is False


def test_the_ttl_cutoff_is_now_minus_the_ttl() -> None:
    cutoff = RULES.ttl_cutoff(NOW)

    assert cutoff == NOW - TTL


def test_a_flipped_session_is_idle_attributed_to_jsonl_as_of_the_sweep() -> None:
    flipped = StatusRules.flipped(NOW)

    assert flipped == StatusRecord(IDLE, JSONL, NOW)


def test_a_new_session_starts_idle_as_of_now() -> None:
    initial = StatusRules.initial(NOW)

    assert (initial.status, initial.since) == (IDLE, NOW)


# ---------------------------------------------------------------- the delivery gate


@pytest.mark.parametrize(
    ("status", "priorities"),
    [
        pytest.param(IDLE, {Priority.NOW, Priority.NEXT, Priority.LOW}, id="idle-takes-all"),
        pytest.param(WORKING, {Priority.NOW}, id="working-takes-now-only"),
        pytest.param(DND, {Priority.NOW}, id="dnd-takes-now-only"),
        pytest.param(WAITING, {Priority.NOW}, id="waiting-takes-now-only"),
    ],
)
def test_a_sessions_status_admits_exactly_the_priorities_of_the_delivery_table(
    status: Status, priorities: set[Priority]
) -> None:
    gate = admitted(status)

    assert gate == priorities
