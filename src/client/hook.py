"""`meshpeer hook`: a Claude Code hook event on stdin -> the session's status posted to
`/hook/set-status`, and its unread messages put into Claude's context.

It must never slow Claude Code down: standard library only, a 1.5 s HTTP timeout, a
hard 1.9 s deadline on the whole process, and exit status 0 whatever happens (broker
down, garbage on stdin, no session on file). Stdout carries nothing but the one
`hookSpecificOutput` object, and only when there are messages to show."""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.request
from collections.abc import Mapping
from typing import BinaryIO, TextIO

from client.hook_context import context_output
from client.hook_request import build_request, session_of

HTTP_TIMEOUT = 1.5
DEADLINE = 1.9
MAX_EVENT_BYTES = 1 << 20


def run(stdin: BinaryIO, env: Mapping[str, str], ppid: int, stdout: TextIO | None = None) -> int:
    """Read one event, print its context, post its status; report any failure on
    stderr; return 0."""
    out = sys.stdout if stdout is None else stdout
    try:
        event = json.loads(stdin.read(MAX_EVENT_BYTES) or b"null")
        if not isinstance(event, dict):
            return 0
        record = session_of(event, env)
        try:
            output = context_output(event, env, record)
        except Exception as exc:  # the status still goes out
            _report(exc)
            output = None
        if output is not None:
            out.write(json.dumps(output, ensure_ascii=False) + "\n")
            out.flush()
        request = build_request(event, env, ppid, record)
        if request is not None:
            urllib.request.urlopen(request, timeout=HTTP_TIMEOUT).close()
    except Exception as exc:  # a hook must never fail Claude Code
        _report(exc)
    return 0


def _report(exc: Exception) -> None:
    print(f"meshpeer hook: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)


def _arm_deadline() -> None:
    """Exit 0 after DEADLINE seconds whatever the process is blocked on."""
    if hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, lambda *_: os._exit(0))
        signal.setitimer(signal.ITIMER_REAL, DEADLINE)


def main() -> int:
    _arm_deadline()
    # The pid of the process that ran the hook: Claude Code (through its shell).
    return run(sys.stdin.buffer, os.environ, os.getppid())
