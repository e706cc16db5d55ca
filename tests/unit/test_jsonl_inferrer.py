"""Status from Claude Code transcripts: the folder of a cwd, the newest transcript, the
last assistant entry, only the tail read, and None (never an exception) otherwise."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from adapters.jsonl import NullInferrer, TranscriptInferrer, inferrer_for
from adapters.jsonl.transcripts import project_folder_names, read_tail
from domain.model import Status

CWD = "/home/ada/proj"
FOLDER = "-home-ada-proj"


def assistant(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "assistant", "message": {"role": "assistant", "content": list(blocks)}}


TEXT = {"type": "text", "text": "Done."}
TOOL = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
USER = {"type": "user", "message": {"role": "user", "content": "go on, assistant"}}
TOOL_RESULT = {"type": "user", "message": {"content": [{"type": "tool_result", "content": "ok"}]}}


def write(
    folder: Path, name: str, *entries: dict[str, Any] | str, mtime: float | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    text = "".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in entries)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def projects(tmp_path: Path) -> Path:
    return tmp_path / "projects"


@pytest.fixture
def inferrer(projects: Path) -> TranscriptInferrer:
    return TranscriptInferrer(projects)


# ---------------------------------------------------------------- folder names


@pytest.mark.parametrize(
    ("cwd", "first"),
    [
        ("/home/ada/proj", "-home-ada-proj"),
        ("C:\\Users\\ada\\proj", "C--Users-ada-proj"),
        ("/srv/my.app", "-srv-my.app"),
    ],
)
def test_the_contract_folder_name_comes_first(cwd: str, first: str) -> None:
    assert project_folder_names(cwd)[0] == first


def test_dotted_paths_also_try_the_all_dashes_name() -> None:
    assert project_folder_names("/srv/my.app") == ["-srv-my.app", "-srv-my-app"]


def test_names_that_would_escape_the_projects_folder_are_dropped() -> None:
    assert project_folder_names("..") == ["--"]
    assert project_folder_names(".") == ["-"]
    assert project_folder_names("") == []


# ---------------------------------------------------------------- inference


async def test_tool_use_in_the_last_assistant_entry_means_working(
    inferrer: TranscriptInferrer, projects: Path
) -> None:
    write(projects / FOLDER, "s.jsonl", USER, assistant(TEXT), TOOL_RESULT, assistant(TEXT, TOOL))
    assert await inferrer.infer(CWD) is Status.WORKING


async def test_a_last_assistant_entry_without_tool_use_means_idle(
    inferrer: TranscriptInferrer, projects: Path
) -> None:
    write(projects / FOLDER, "s.jsonl", USER, assistant(TOOL), TOOL_RESULT, assistant(TEXT))
    assert await inferrer.infer(CWD) is Status.IDLE


async def test_entries_after_the_last_assistant_one_do_not_count(
    inferrer: TranscriptInferrer, projects: Path
) -> None:
    write(projects / FOLDER, "s.jsonl", assistant(TOOL), TOOL_RESULT, {"type": "summary"})
    assert await inferrer.infer(CWD) is Status.WORKING


async def test_string_content_means_idle(inferrer: TranscriptInferrer, projects: Path) -> None:
    entry = {"type": "assistant", "message": {"content": "plain text"}}
    write(projects / FOLDER, "s.jsonl", entry)
    assert await inferrer.infer(CWD) is Status.IDLE


async def test_the_newest_transcript_by_mtime_wins(
    inferrer: TranscriptInferrer, projects: Path
) -> None:
    write(projects / FOLDER, "a-newest.jsonl", assistant(TOOL), mtime=2_000_000_000)
    write(projects / FOLDER, "z-older.jsonl", assistant(TEXT), mtime=1_000_000_000)
    write(projects / FOLDER, "notes.txt", "not a transcript", mtime=2_100_000_000)
    assert await inferrer.infer(CWD) is Status.WORKING


async def test_the_all_dashes_folder_is_found_for_a_dotted_cwd(
    inferrer: TranscriptInferrer, projects: Path
) -> None:
    write(projects / "-srv-my-app", "s.jsonl", assistant(TOOL))
    assert await inferrer.infer("/srv/my.app") is Status.WORKING


async def test_malformed_lines_are_skipped(inferrer: TranscriptInferrer, projects: Path) -> None:
    half_written = '{"type": "assistant", "message": {"content": [{"type": "te'
    write(projects / FOLDER, "s.jsonl", assistant(TOOL), "not json at all", half_written)
    assert await inferrer.infer(CWD) is Status.WORKING


@pytest.mark.parametrize(
    "entries",
    [
        pytest.param([USER, TOOL_RESULT], id="no-assistant-entry"),
        pytest.param(["{broken", "[1, 2"], id="only-malformed"),
        pytest.param(['["assistant"]', '"assistant"'], id="not-objects"),
        pytest.param([], id="empty-file"),
    ],
)
async def test_no_usable_assistant_entry_means_none(
    inferrer: TranscriptInferrer, projects: Path, entries: list[dict[str, Any] | str]
) -> None:
    write(projects / FOLDER, "s.jsonl", *entries)
    assert await inferrer.infer(CWD) is None


async def test_no_folder_means_none(inferrer: TranscriptInferrer, projects: Path) -> None:
    write(projects / "-home-ada-other", "s.jsonl", assistant(TOOL))
    assert await inferrer.infer(CWD) is None


async def test_a_folder_without_transcripts_means_none(
    inferrer: TranscriptInferrer, projects: Path
) -> None:
    (projects / FOLDER / "sub.jsonl").mkdir(parents=True)  # a directory, not a transcript
    assert await inferrer.infer(CWD) is None


async def test_a_missing_projects_folder_means_none(tmp_path: Path) -> None:
    assert await TranscriptInferrer(tmp_path / "nowhere").infer(CWD) is None


async def test_an_unreadable_transcript_means_none(
    inferrer: TranscriptInferrer, projects: Path
) -> None:
    (projects / FOLDER).mkdir(parents=True)
    (projects / FOLDER / "s.jsonl").symlink_to(projects / "gone.jsonl")  # dangling
    assert await inferrer.infer(CWD) is None


@pytest.mark.parametrize("cwd", ["", "..", "/bad\0path"])
async def test_odd_cwds_mean_none(inferrer: TranscriptInferrer, projects: Path, cwd: str) -> None:
    write(projects / FOLDER, "s.jsonl", assistant(TOOL))
    write(projects.parent, "s.jsonl", assistant(TOOL))  # what ".." would reach
    assert await inferrer.infer(cwd) is None


# ---------------------------------------------------------------- only the tail is read


async def test_only_the_tail_of_a_transcript_is_read(projects: Path) -> None:
    # A tool_use far back, then lines with no assistant entry: reading the whole
    # file would say working; reading only the tail finds nothing.
    filler = [{"type": "user", "message": {"content": "x" * 100}} for _ in range(50)]
    write(projects / FOLDER, "s.jsonl", assistant(TOOL), *filler)
    assert await TranscriptInferrer(projects, tail_bytes=1024).infer(CWD) is None
    assert await TranscriptInferrer(projects).infer(CWD) is Status.WORKING


async def test_a_line_cut_by_the_window_is_ignored(projects: Path) -> None:
    path = write(projects / FOLDER, "s.jsonl", assistant(TOOL), assistant(TEXT))
    last_line = len(json.dumps(assistant(TEXT))) + 1
    # The window holds the last line whole and the end of the first one.
    inferrer = TranscriptInferrer(projects, tail_bytes=last_line + 20)
    assert await inferrer.infer(CWD) is Status.IDLE
    assert read_tail(path, last_line + 20) == (json.dumps(assistant(TEXT)) + "\n").encode()


def test_read_tail_of_a_short_file_is_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n')
    assert read_tail(path, 1024) == b'{"a": 1}\n{"b": 2}\n'


# ---------------------------------------------------------------- null inferrer and factory


async def test_null_inferrer_infers_nothing() -> None:
    assert await NullInferrer().infer(CWD) is None


def test_factory_uses_transcripts_where_the_projects_folder_exists(projects: Path) -> None:
    projects.mkdir()
    chosen = inferrer_for(projects)
    assert isinstance(chosen, TranscriptInferrer)
    assert chosen.projects_dir == projects


def test_factory_falls_back_to_null_elsewhere(tmp_path: Path) -> None:
    assert isinstance(inferrer_for(tmp_path / "missing"), NullInferrer)
    (tmp_path / "a-file").write_text("")
    assert isinstance(inferrer_for(tmp_path / "a-file"), NullInferrer)


def test_factory_defaults_to_the_home_projects_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert isinstance(inferrer_for(None), NullInferrer)
    (tmp_path / ".claude" / "projects").mkdir(parents=True)
    chosen = inferrer_for(None)
    assert isinstance(chosen, TranscriptInferrer)
    assert chosen.projects_dir == tmp_path / ".claude" / "projects"


# ---------------------------------------------------------------- many at once


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The transcripts read from now on."""
    from adapters.jsonl import transcripts

    seen: list[Path] = []
    real = transcripts.read_tail

    def counting(path: Path, limit: int) -> bytes:
        seen.append(path)
        return real(path, limit)

    monkeypatch.setattr(transcripts, "read_tail", counting)
    return seen


async def test_infer_many_answers_only_the_cwds_with_a_transcript(
    inferrer: TranscriptInferrer, projects: Path
) -> None:
    write(projects / FOLDER, "s.jsonl", assistant(TOOL))
    write(projects / "-srv-b", "s.jsonl", assistant(TEXT))

    found = await inferrer.infer_many([CWD, "/srv/b", "/srv/none", ""])

    assert found == {CWD: Status.WORKING, "/srv/b": Status.IDLE}


async def test_an_unchanged_transcript_is_not_read_again_and_a_changed_one_is(
    inferrer: TranscriptInferrer, projects: Path, reads: list[Path]
) -> None:
    write(projects / FOLDER, "s.jsonl", assistant(TOOL), mtime=1_000)

    first = await inferrer.infer_many([CWD])
    again = await inferrer.infer_many([CWD])
    write(projects / FOLDER, "s.jsonl", assistant(TOOL), TOOL_RESULT, assistant(TEXT), mtime=2_000)
    changed = await inferrer.infer_many([CWD])

    assert (first, again, changed) == ({CWD: Status.WORKING},) * 2 + ({CWD: Status.IDLE},)
    assert len(reads) == 2  # the first sweep and the one after the change


async def test_a_single_inference_between_sweeps_keeps_what_the_sweeps_remember(
    inferrer: TranscriptInferrer, projects: Path, reads: list[Path]
) -> None:
    write(projects / FOLDER, "s.jsonl", assistant(TOOL), mtime=1_000)
    write(projects / "-srv-b", "s.jsonl", assistant(TEXT), mtime=1_000)
    await inferrer.infer_many([CWD, "/srv/b"])
    assert await inferrer.infer(CWD) is Status.WORKING
    reads.clear()

    found = await inferrer.infer_many([CWD, "/srv/b"])

    assert found == {CWD: Status.WORKING, "/srv/b": Status.IDLE}
    assert reads == []  # both still remembered from the first sweep
