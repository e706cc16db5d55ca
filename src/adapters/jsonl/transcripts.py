"""Status inferred from Claude Code's JSONL transcripts, where the broker shares a disk
with its peers (protocol.md, "Status model").

A session running in `cwd` writes `<projects>/<cwd with / \\ : as ->/<session>.jsonl`,
one JSON object a line. The newest transcript's last `"type": "assistant"` entry tells
the status: `working` if its message content holds a `tool_use` block (a tool is
running or about to), else `idle` (the turn ended). Only the file's tail is read.

Never raises: a missing folder, an unreadable file or malformed lines mean "no
inference" (None), and the caller keeps the status it has.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection
from pathlib import Path

from adapters.jsonl.tail import (
    newest_jsonl,
    read_tail,
    status_of_tail,
)
from domain.model import Status
from domain.ports import StatusInferrer

TAIL_BYTES = 64 * 1024
_SEPARATORS = re.compile(r"[/\\:]")
# Recent Claude Code versions also replace every other non-alphanumeric character
# (dots, spaces, underscores): tried when the contract's folder name does not exist.
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")


def default_projects_dir() -> Path:
    return Path.home() / ".claude" / "projects"


def project_folder_names(cwd: str) -> list[str]:
    """The folder names Claude Code may use for `cwd`, the contract's first."""
    names = [_SEPARATORS.sub("-", cwd)]
    loose = _NON_ALNUM.sub("-", cwd)
    if loose != names[0]:
        names.append(loose)
    return [name for name in names if name not in ("", ".", "..")]


class TranscriptInferrer(StatusInferrer):
    """Reads transcripts off the event loop. A transcript whose size and modification
    time did not change since it was last read is not read again: its status is
    remembered (per file, for the files seen in the last sweep only)."""

    def __init__(self, projects_dir: Path | None = None, tail_bytes: int = TAIL_BYTES) -> None:
        self.projects_dir = projects_dir if projects_dir is not None else default_projects_dir()
        self.tail_bytes = tail_bytes
        self._seen: dict[Path, tuple[tuple[int, int], Status | None]] = {}

    async def infer(self, cwd: str) -> Status | None:
        """One cwd, without touching what the sweeps remember."""
        try:
            return await asyncio.to_thread(self.infer_now, cwd)
        except Exception:
            return None

    async def infer_many(self, cwds: Collection[str]) -> dict[str, Status]:
        """One trip to a worker thread for all of them."""
        try:
            return await asyncio.to_thread(self._infer_all, list(cwds))
        except Exception:
            return {}

    def _infer_all(self, cwds: list[str]) -> dict[str, Status]:
        seen: dict[Path, tuple[tuple[int, int], Status | None]] = {}
        found: dict[str, Status] = {}
        for cwd in cwds:
            status = self._infer_with(cwd, seen)
            if status is not None:
                found[cwd] = status
        self._seen = seen  # files no session points at any more are forgotten
        return found

    def infer_now(self, cwd: str) -> Status | None:
        """The blocking inference, for callers already off the event loop."""
        return self._infer_with(cwd, {})

    def _infer_with(
        self, cwd: str, seen: dict[Path, tuple[tuple[int, int], Status | None]]
    ) -> Status | None:
        try:
            transcript = self._newest_transcript(cwd)
            if transcript is None:
                return None
            stat = transcript.stat()
            version = (stat.st_mtime_ns, stat.st_size)
            known = seen.get(transcript) or self._seen.get(transcript)
            if known is not None and known[0] == version:
                status = known[1]
            else:
                status = status_of_tail(read_tail(transcript, self.tail_bytes))
            seen[transcript] = (version, status)
            return status
        except Exception:
            return None

    def _newest_transcript(self, cwd: str) -> Path | None:
        if not cwd:
            return None
        for name in project_folder_names(cwd):
            folder = self.projects_dir / name
            if folder.is_dir():
                return newest_jsonl(folder)
        return None


class NullInferrer(StatusInferrer):
    """No transcripts on this disk: never infers anything."""

    async def infer(self, cwd: str) -> Status | None:
        return None

    async def infer_many(self, cwds: Collection[str]) -> dict[str, Status]:
        return {}


def inferrer_for(projects_dir: Path | None = None) -> StatusInferrer:
    """The transcript inferrer where the projects folder (`~/.claude/projects` when
    None) exists on this disk, else the null one."""
    try:
        folder = projects_dir if projects_dir is not None else default_projects_dir()
        if folder.is_dir():
            return TranscriptInferrer(folder)
    except (OSError, RuntimeError):  # RuntimeError: no home directory
        pass
    return NullInferrer()


# ---------------------------------------------------------------- file reading
