"""The benchmark's statistics: percentiles, and how a recipient counts loss,
duplicates and reordering (bench/stats.py)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.stats import DeliveryLog, Seen, count_lost, latency_summary, percentile, rate

# ---------------------------------------------------------------- percentile


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        pytest.param(0, 1.0, id="p0 is the minimum"),
        pytest.param(50, 2.5, id="p50 of an even count interpolates"),
        pytest.param(100, 4.0, id="p100 is the maximum"),
        pytest.param(25, 1.75, id="between ranks"),
    ],
)
def test_percentile_interpolates_linearly_between_the_closest_ranks(
    q: float, expected: float
) -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], q) == pytest.approx(expected)


def test_p99_of_one_to_a_hundred_lies_just_below_the_maximum() -> None:
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 99) == pytest.approx(99.01)


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([7.5], 99) == 7.5


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 50) is None


def test_percentile_outside_0_to_100_is_refused() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 101)


@given(st.lists(st.floats(0, 1e6), min_size=1), st.floats(0, 100))
def test_a_percentile_lies_within_the_values(values: list[float], q: float) -> None:
    ordered = sorted(values)

    result = percentile(ordered, q)

    assert result is not None
    assert ordered[0] - 1e-6 <= result <= ordered[-1] + 1e-6


@given(st.lists(st.floats(0, 1e6), min_size=1))
def test_percentiles_never_decrease_with_q(values: list[float]) -> None:
    ordered = sorted(values)

    results = [percentile(ordered, q) for q in (50, 95, 99, 100)]

    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(results))  # type: ignore[operator]


def test_latency_summary_sorts_its_input_and_rounds_to_microseconds() -> None:
    summary = latency_summary([3.0, 1.0, 2.0, 1.23456789])

    assert summary == {"p50_ms": 1.617, "p95_ms": 2.85, "p99_ms": 2.97, "max_ms": 3.0}


def test_latency_summary_of_nothing_is_all_none_with_the_prefix() -> None:
    assert latency_summary([], "ack_") == {
        "ack_p50_ms": None,
        "ack_p95_ms": None,
        "ack_p99_ms": None,
        "ack_max_ms": None,
    }


def test_rate_of_an_empty_interval_is_zero() -> None:
    assert rate(10, 0) == 0.0
    assert rate(1000, 4.0) == 250.0


# ---------------------------------------------------------------- duplicates


def test_a_first_push_is_new_and_counted_once() -> None:
    log = DeliveryLog()

    seen = log.push(sender=1, seq=0, message_id="m0")

    assert seen is Seen.NEW
    assert (log.unique, log.duplicates, log.redelivered) == (1, 0, 0)


def test_a_push_again_after_our_client_ack_is_a_duplicate() -> None:
    log = DeliveryLog()
    log.push(1, 0, "m0")
    log.acked(["m0"])

    seen = log.push(1, 0, "m0")

    assert seen is Seen.DUPLICATE
    assert (log.unique, log.duplicates, log.redelivered) == (1, 1, 0)


def test_a_push_again_before_our_client_ack_is_a_redelivery_not_a_duplicate() -> None:
    log = DeliveryLog()
    log.push(1, 0, "m0")

    seen = log.push(1, 0, "m0")

    assert seen is Seen.REDELIVERED
    assert (log.unique, log.duplicates, log.redelivered) == (1, 0, 1)


def test_a_repeated_push_is_not_also_counted_as_reordered() -> None:
    log = DeliveryLog()
    log.push(1, 0, "m0")
    log.push(1, 1, "m1")
    log.acked(["m0", "m1"])

    log.push(1, 0, "m0")

    assert (log.duplicates, log.reordered) == (1, 0)


# ---------------------------------------------------------------- reordering


def test_a_lower_number_after_a_higher_one_from_the_same_sender_is_reordered() -> None:
    log = DeliveryLog()

    for seq in (0, 2, 1, 3):
        log.push(7, seq, f"m{seq}")

    assert log.reordered == 1


def test_gaps_are_not_reordering() -> None:
    log = DeliveryLog()

    for seq in (0, 5, 9):
        log.push(7, seq, f"m{seq}")

    assert log.reordered == 0


def test_order_is_per_sender() -> None:
    log = DeliveryLog()

    log.push(sender=1, seq=10, message_id="a10")
    log.push(sender=2, seq=0, message_id="b0")

    assert log.reordered == 0


def test_every_message_behind_an_early_one_counts() -> None:
    log = DeliveryLog()

    for seq in (3, 0, 1, 2):
        log.push(1, seq, f"m{seq}")

    assert log.reordered == 3


@given(st.permutations(list(range(20))))
def test_reordered_is_zero_exactly_when_arrival_is_ascending(order: list[int]) -> None:
    log = DeliveryLog()

    for seq in order:
        log.push(1, seq, f"m{seq}")

    assert (log.reordered == 0) == (order == sorted(order))


# ---------------------------------------------------------------- loss


def test_lost_counts_the_expected_numbers_that_never_arrived() -> None:
    expected = {1: [0, 1, 2, 3], 2: [0, 1]}
    received = {1: {0, 2}, 2: {0, 1}}

    assert count_lost(expected, received) == 2


def test_a_sender_never_heard_from_loses_everything_expected_of_it() -> None:
    assert count_lost({4: [0, 1, 2]}, {}) == 3


def test_messages_beyond_the_expected_ones_are_not_loss() -> None:
    # A send whose ack never came may still be delivered: not lost, not counted.
    assert count_lost({1: [0]}, {1: {0, 1, 2}}) == 0


def test_a_delivery_log_knows_what_is_missing() -> None:
    log = DeliveryLog()
    log.push(1, 0, "m0")
    log.push(1, 2, "m2")

    assert log.missing({1: [0, 1, 2]}) == 1
