"""`meshpeer` argument handling: one line naming the bad argument, exit 2; --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from client import cli
from client.identity import generate, write_key
from client.profiles import IDENTITY_ENV

PUBKEY = generate().pubkey
IDENTITY = ["--mesh", "m-1", "--member", "u-1"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [*IDENTITY_ENV.values(), "MESHPEER_PROFILE"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MESHPEER_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["send", "--to", "abc", "hi"], "argument --to"),
        (["send", "--to", "AB" * 32, "hi"], "argument --to"),
        (["send", "--to", "ab" * 32, "hi"], "argument --to: is not a valid ed25519"),
        (["send", "--to", PUBKEY, "--priority", "urgent", "hi"], "argument --priority"),
        (["send", "--to", PUBKEY, ""], "argument text: must not be empty"),
        (["send", "--to", PUBKEY], "text"),
        (["send", "hi"], "--to"),
        (["listen", "--count", "0"], "argument --count"),
        (["listen", "--count", "x"], "argument --count"),
        (["listen", "--timeout", "-1"], "argument --timeout"),
        (["listen", "--timeout", "nan"], "argument --timeout"),
        (["status", "busy"], "argument status"),
        (["keygen"], "--out"),
        (["frobnicate"], "argument COMMAND"),
        ([], "COMMAND"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_naming_them(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and named in err, err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (
            ["peers", "--member", "u-1", "--key", "k"],
            "argument --mesh: required (or set MESHPEER_MESH)",
        ),
        (["peers", "--mesh", "m", "--key", "k"], "argument --member: required"),
        (["peers", *IDENTITY], "argument --key: required (or set MESHPEER_KEY)"),
        (
            ["peers", *IDENTITY, "--key", "k", "--url", "http://h/ws"],
            "argument --url: must be a ws://",
        ),
        (["peers", *IDENTITY, "--key", "k", "--url", "ws://h:99999/ws"], "argument --url"),
        (
            ["peers", *IDENTITY, "--key", "k", "--url", "ws://h:7900"],
            "argument --url: the broker's WebSocket path is /ws: use ws://h:7900/ws",
        ),
        (
            ["peers", *IDENTITY, "--key", "/nonexistent/k"],
            "argument --key: /nonexistent/k does not exist",
        ),
    ],
)
def test_missing_or_bad_identity_is_named(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and named in err, err


def test_flags_win_over_the_environment_which_fills_the_rest() -> None:
    args = cli.build_parser().parse_args(["peers", "--member", "u-flag", "--key", "k"])
    env = {"MESHPEER_MESH": "m-env", "MESHPEER_MEMBER": "u-env", "MESHPEER_SESSION": "s-env"}
    values = cli.resolve(args, env)
    assert values["mesh"] == "m-env" and values["member"] == "u-flag" and values["key"] == "k"
    assert values["session"] == "s-env"
    assert values["url"] == "ws://127.0.0.1:7900/ws"  # the default when neither is set
    assert cli.resolve(args, {**env, "MESHPEER_URL": "wss://b.example/ws"})["url"] == (
        "wss://b.example/ws"
    )


def test_a_key_file_open_to_others_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "k"
    write_key(key, generate())
    key.chmod(0o640)
    code, _, err = run(["peers", *IDENTITY, "--key", str(key)], capsys)
    assert code == 2 and "argument --key" in err and "chmod 600" in err


def test_keygen_prints_the_pubkey_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "ada.key"
    code, out, _ = run(["keygen", "--out", str(out_file)], capsys)
    assert code == 0 and len(json.loads(out)["pubkey"]) == 64
    assert out_file.stat().st_mode & 0o777 == 0o600
    code, out, err = run(["keygen", "--out", str(out_file)], capsys)
    assert code == 2 and out == "" and "argument --out" in err


@pytest.mark.parametrize(
    "command",
    [[], ["keygen"], ["send"], ["listen"], ["status"], ["peers"], ["hook"], ["join"], ["whoami"]],
)
def test_help_everywhere_on_stdout(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*command, "--help"], capsys)
    assert code == 0 and out.startswith("usage: meshpeer") and err == ""


def test_the_hook_path_imports_no_heavy_module() -> None:
    probe = (
        "import sys, client.cli, client.hook; "
        "heavy = {'nacl', 'websockets', 'msgspec', 'asyncio', 'adapters'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
