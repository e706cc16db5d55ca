"""Token buckets and the per-key table behind SEND_RATE_LIMIT_PER_MIN and the hook limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ratelimit import BucketTable, TokenBucket

EPSILON = 1e-9


def full_bucket(capacity: float, rate: float, at: float = 0.0) -> TokenBucket:
    return TokenBucket(capacity=capacity, rate=rate, tokens=capacity, updated=at)


# ---------------------------------------------------------------- TokenBucket


def test_a_full_bucket_admits_its_burst_then_refuses() -> None:
    bucket = full_bucket(capacity=3, rate=1.0)

    results = [bucket.take(0.0) for _ in range(4)]

    assert results == [True, True, True, False]


def test_an_empty_bucket_admits_again_once_a_whole_token_has_refilled() -> None:
    bucket = full_bucket(capacity=1, rate=2.0)
    bucket.take(0.0)

    results = [bucket.take(0.49), bucket.take(0.5), bucket.take(0.5)]

    assert results == [False, True, False]


def test_refill_over_a_long_pause_stops_at_the_capacity() -> None:
    bucket = full_bucket(capacity=2, rate=1.0)
    bucket.take(0.0)
    bucket.take(0.0)

    results = [bucket.take(1000.0) for _ in range(3)]

    assert results == [True, True, False]


def test_a_clock_that_steps_backwards_mints_no_tokens() -> None:
    bucket = full_bucket(capacity=1, rate=1.0, at=10.0)
    bucket.take(10.0)

    results = [bucket.take(5.0), bucket.take(10.5), bucket.take(11.0)]

    assert results == [False, False, True]


def test_a_bucket_is_full_again_only_after_refilling_every_token_it_gave() -> None:
    bucket = full_bucket(capacity=2, rate=1.0)
    bucket.take(0.0)
    bucket.take(0.0)

    fullness = [bucket.is_full(1.0), bucket.is_full(2.0)]

    assert fullness == [False, True]


@given(
    burst=st.integers(min_value=1, max_value=10),
    rate=st.floats(min_value=0.01, max_value=50.0),
    gaps=st.lists(
        st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=30.0)), min_size=1, max_size=40
    ),
)
def test_no_window_admits_more_than_the_burst_plus_what_the_rate_refilled(
    burst: int, rate: float, gaps: list[float]
) -> None:
    times: list[float] = []
    clock = 0.0
    for gap in gaps:
        clock += gap
        times.append(clock)
    bucket = full_bucket(capacity=burst, rate=rate)

    admitted = [t for t in times if bucket.take(t)]

    for i, t0 in enumerate(admitted):
        for j in range(i, len(admitted)):
            t1 = admitted[j]
            in_window = j - i + 1
            assert in_window <= burst + rate * (t1 - t0) + EPSILON


# ---------------------------------------------------------------- BucketTable


def test_a_key_gets_its_burst_then_is_refused() -> None:
    table = BucketTable(per_minute=60, burst=2)

    results = [table.take("ada", 0.0) for _ in range(3)]

    assert results == [True, True, False]


def test_the_per_minute_rate_refills_a_key_a_token_per_interval() -> None:
    table = BucketTable(per_minute=30, burst=1)
    table.take("ada", 0.0)

    results = [table.take("ada", 1.9), table.take("ada", 2.0), table.take("ada", 2.0)]

    assert results == [False, True, False]


def test_keys_have_independent_budgets() -> None:
    table = BucketTable(per_minute=60, burst=1)
    table.take("ada", 0.0)

    results = [table.take("ada", 0.0), table.take("bob", 0.0)]

    assert results == [False, True]


def test_eviction_drops_only_buckets_that_have_refilled_completely() -> None:
    table = BucketTable(per_minute=60, burst=2)
    table.take("ada", 0.0)
    table.take("ada", 0.0)
    table.take("bob", 0.0)

    evicted = table.evict(1.0)

    assert (evicted, len(table)) == (1, 1)


def test_eviction_before_anything_refilled_drops_nothing() -> None:
    table = BucketTable(per_minute=60, burst=2)
    table.take("ada", 0.0)
    table.take("bob", 0.0)

    evicted = table.evict(0.5)

    assert (evicted, len(table)) == (0, 2)


def test_an_evicted_key_behaves_like_a_fresh_one() -> None:
    table = BucketTable(per_minute=60, burst=2)
    table.take("ada", 0.0)
    table.take("ada", 0.0)
    table.evict(2.0)

    results = [table.take("ada", 2.0) for _ in range(3)]

    assert (len(table), results) == (1, [True, True, False])


def test_periodic_eviction_keeps_the_table_bounded_by_the_recently_active_keys() -> None:
    table = BucketTable(per_minute=60, burst=1, evict_every=4)

    for i in range(100):
        table.take(f"pid-{i}", float(i) * 10)

    assert len(table) <= 4


@pytest.mark.parametrize(
    ("evict_every", "other_keys"),
    [
        pytest.param(1024, 1023, id="default-eviction-lands-on-the-keys-first-take"),
        pytest.param(1, 0, id="eviction-on-every-take"),
    ],
)
def test_the_take_that_triggers_eviction_still_counts_against_its_key(
    evict_every: int, other_keys: int
) -> None:
    table = BucketTable(per_minute=60, burst=2, evict_every=evict_every)
    for i in range(other_keys):
        table.take(f"other-{i}", 0.0)

    results = [table.take("ada", 0.0) for _ in range(3)]

    assert results == [True, True, False]
