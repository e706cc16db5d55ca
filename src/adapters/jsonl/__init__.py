"""Status inference from Claude Code's JSONL transcripts on the broker's own disk."""

from adapters.jsonl.transcripts import NullInferrer, TranscriptInferrer, inferrer_for

__all__ = ["NullInferrer", "TranscriptInferrer", "inferrer_for"]
