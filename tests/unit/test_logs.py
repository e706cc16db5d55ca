"""JSON-lines logs: the exact keys of each line, context merged at the top level,
exceptions as error + traceback, encoding that never raises, idempotent set-up."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.log_lines import JsonFormatter
from app.logs import configure_logging, get_logger, log

TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A broker logger writing JSON lines into a StringIO, and nowhere else."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = get_logger("ws")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_a_plain_line_has_exactly_the_core_keys(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("broker listening")
    (line,) = lines(stream)
    assert list(line) == ["ts", "level", "component", "msg"]
    assert TS.fullmatch(line["ts"])
    assert line["level"] == "info"
    assert line["component"] == "ws"
    assert line["msg"] == "broker listening"


def test_context_from_the_helper_is_merged_at_the_top_level(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    log(
        logger,
        logging.INFO,
        "hook",
        cwd="/p",
        pid=42,
        status="working",
        presence_id="p1",
        pending=False,
    )
    (line,) = lines(stream)
    assert set(line) == {
        "ts",
        "level",
        "component",
        "msg",
        "cwd",
        "pid",
        "status",
        "presence_id",
        "pending",
    }
    assert line["cwd"] == "/p"
    assert line["pid"] == 42
    assert line["pending"] is False


def test_context_through_extra_ctx(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.warning("db ping failed", extra={"ctx": {"attempt": 3}})
    (line,) = lines(stream)
    assert set(line) == {"ts", "level", "component", "msg", "attempt"}
    assert line["level"] == "warning"


def test_the_helper_takes_level_names(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    log(logger, "debug", "ws set_status", status="dnd")
    log(logger, "error", "boom")
    assert [line["level"] for line in lines(stream)] == ["debug", "error"]


def test_disabled_levels_write_nothing(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.setLevel(logging.WARNING)
    log(logger, logging.INFO, "quiet", key="value")
    assert stream.getvalue() == ""


def test_context_never_overrides_the_core_fields(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    log(logger, logging.INFO, "ws close", level="mine", component="other", ts=1)
    (line,) = lines(stream)
    assert (line["level"], line["component"], line["msg"]) == ("info", "ws", "ws close")
    assert (line["ctx_level"], line["ctx_component"], line["ctx_ts"]) == ("mine", "other", 1)


def test_exceptions_become_error_and_traceback(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    try:
        raise ValueError("bad frame")
    except ValueError:
        logger.exception("ws frame failed", extra={"ctx": {"connection_id": "c1"}})
        log(logger, logging.ERROR, "again", exc_info=True, connection_id="c1")
    first, second = lines(stream)
    for line in (first, second):
        assert set(line) == {
            "ts",
            "level",
            "component",
            "msg",
            "connection_id",
            "error",
            "traceback",
        }
        assert line["error"] == "ValueError: bad frame"
        assert line["traceback"].startswith("Traceback (most recent call last):")
        assert "ValueError: bad frame" in line["traceback"]


def test_values_json_cannot_carry_are_written_as_text(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured

    class Opaque:
        def __str__(self) -> str:
            return "opaque!"

    loop: dict[str, Any] = {}
    loop["self"] = loop
    log(logger, logging.INFO, "odd", path=Path("/tmp/x"), thing=Opaque(), tags={"a"}, loop=loop)
    (line,) = lines(stream)
    assert line["path"] == "/tmp/x"
    assert line["thing"] == "opaque!"
    assert line["loop"].startswith("{'self'")


def test_bad_format_arguments_do_not_lose_the_line() -> None:
    record = logging.LogRecord(
        "meshbroker.ws", logging.INFO, __file__, 1, "%d peers", ("many",), None
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "%d peers ('many',)"


def test_component_of_a_foreign_logger_is_its_full_name() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "started", None, None)
    line = json.loads(JsonFormatter().format(record))
    assert line["component"] == "uvicorn.error"


def test_timestamp_is_utc_with_milliseconds() -> None:
    record = logging.LogRecord("meshbroker.db", logging.INFO, __file__, 1, "db healthy", None, None)
    record.created = 1764237600.1239  # 2025-11-27T10:00:00.123Z
    line = json.loads(JsonFormatter().format(record))
    assert line["ts"] == "2025-11-27T10:00:00.123Z"
    assert line["component"] == "db"


# ---------------------------------------------------------------- configure_logging


@pytest.fixture
def clean_root() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_configure_logging_is_idempotent(clean_root: logging.Logger) -> None:
    first, second = io.StringIO(), io.StringIO()
    before = len(clean_root.handlers)
    configure_logging("info", first)
    configure_logging("warning", second)
    assert len(clean_root.handlers) == before + 1
    assert clean_root.level == logging.WARNING

    get_logger("server").warning("shutdown signal", extra={"ctx": {"signal": "SIGTERM"}})
    get_logger("server").info("not at this level")
    assert first.getvalue() == ""
    (line,) = lines(second)
    assert list(line) == ["ts", "level", "component", "msg", "signal"]
    assert line["component"] == "server"


@pytest.mark.parametrize(("level", "shown"), [("info", False), ("debug", True)])
def test_pgservers_routine_lines_are_debug_detail(level: str, shown: bool) -> None:
    stream = io.StringIO()
    root_level = logging.getLogger().level
    try:
        configure_logging(level, stream)
        logging.getLogger("pgserver").info("running initdb")
        logging.getLogger("pgserver").warning("pg_ctl: something is wrong")
    finally:
        configure_logging(logging.getLevelName(root_level).lower() if root_level else "info")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [entry["level"] for entry in lines] == (["debug", "warning"] if shown else ["warning"])


class _CountingStream(io.StringIO):
    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def test_lines_logged_on_the_loop_are_written_once_per_tick() -> None:
    from app.log_ticks import TickHandler

    stream = _CountingStream()
    handler = TickHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("meshbroker.ticktest")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for n in range(3):
            logger.info("line", extra={"ctx": {"n": n}})
        assert stream.getvalue() == ""  # kept until the tick ends
        await asyncio.sleep(0)
        lines = [json.loads(x) for x in stream.getvalue().splitlines()]
        assert [x["n"] for x in lines] == [0, 1, 2]
        assert stream.writes == 1

        logger.info("kept")
        handler.flush()  # at exit, logging.shutdown flushes what is kept
        assert json.loads(stream.getvalue().splitlines()[-1])["msg"] == "kept"
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_lines_logged_off_the_loop_are_written_at_once() -> None:
    from app.log_ticks import TickHandler

    stream = io.StringIO()
    handler = TickHandler(stream)
    handler.setFormatter(JsonFormatter())
    record = logging.LogRecord("meshbroker.x", logging.INFO, __file__, 1, "now", None, None)
    handler.handle(record)
    assert json.loads(stream.getvalue())["msg"] == "now"


def test_uvicorns_per_socket_lines_are_debug_lines() -> None:
    stream = io.StringIO()
    configure_logging("info", stream)
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.info("connection open")
    uvicorn_log.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:1", "/ws")
    uvicorn_log.info("Started server process [%d]", 1)
    assert [json.loads(x)["msg"] for x in stream.getvalue().splitlines()] == [
        "Started server process [1]"
    ]

    configure_logging("debug", stream)
    uvicorn_log.info("connection open")
    last = json.loads(stream.getvalue().splitlines()[-1])
    assert (last["msg"], last["level"]) == ("connection open", "debug")
    configure_logging("info", stream)
