"""The broker's version and the commit it runs from (`/health`, `meshbroker --version`)."""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

VERSION = "0.1.0"

_HEX = re.compile(r"[0-9a-fA-F]{4,64}")


def git_sha(configured: str | None = None) -> str:
    """`configured` (the `GIT_SHA` variable) if set, else the short commit of the
    checkout this code runs from, else "unknown"."""
    if configured:
        return configured
    return _rev_parse(str(Path(__file__).resolve().parent))


@functools.cache
def _rev_parse(cwd: str) -> str:
    """Asked once per process: /health must not spawn git on every request."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = done.stdout.strip()
    if done.returncode != 0 or not _HEX.fullmatch(sha):
        return "unknown"
    return sha
