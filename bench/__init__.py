"""Benchmarks of the broker: `uv run python -m bench SCENARIO [--quick]`
(docs/benchmarks.md). A load generator in several worker processes, never in the
broker's process."""
