"""Profiles and identity resolution: flag > MESHPEER_* > --profile/MESHPEER_PROFILE >
the default profile, field by field; and `meshpeer join`'s files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from client import join_mesh
from client.errors import JoinFailed
from client.identity import generate, load_key, write_key
from client.profile_files import ProfileError, default_profile, free_profile_name, write_profile
from client.profiles import identity_hint, resolve_identity
from protocol.invite_string import BadInvite, InviteString, decode

MESH_ID = "867a9307-1b2c-4d5e-8f90-123456789abc"
MEMBER_ID = "fc6a0ac7-1b2c-4d5e-8f90-123456789abc"


def profile(**fields: str) -> dict[str, str]:
    return {
        "url": "ws://broker.example:7900/ws",
        "meshId": MESH_ID,
        "mesh": "demo",
        "memberId": MEMBER_ID,
        "key": "/keys/demo.key",
        **fields,
    }


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"MESHPEER_HOME": str(tmp_path / "home")}


def test_the_first_profile_becomes_the_default_and_files_are_0600(env: dict[str, str]) -> None:
    first = write_profile("demo", profile(), env)
    write_profile("other", profile(meshId="other-id"), env)

    assert default_profile(env) == "demo"
    config = Path(env["MESHPEER_HOME"]) / "config.json"
    for path in (first, config):
        assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(config.read_text()) == {"profile": "demo"}


def test_the_default_profile_serves_when_nothing_else_is_set(env: dict[str, str]) -> None:
    write_profile("demo", profile(), env)

    resolved = resolve_identity({}, env)

    assert resolved.profile == "demo"
    assert resolved.values == {
        "url": "ws://broker.example:7900/ws",
        "mesh": MESH_ID,
        "member": MEMBER_ID,
        "key": "/keys/demo.key",
        "session": None,
    }
    assert resolved.source["mesh"] == "profile demo"


def test_flags_beat_variables_beat_the_named_profile_beat_the_default(
    env: dict[str, str],
) -> None:
    write_profile("demo", profile(), env)
    write_profile("work", profile(url="wss://work.example/ws", memberId="work-member"), env)
    env = {**env, "MESHPEER_PROFILE": "work", "MESHPEER_KEY": "/env.key"}

    resolved = resolve_identity({"member": "flag-member"}, env)

    assert resolved.profile == "work"
    assert resolved.values["member"] == "flag-member" and resolved.source["member"] == "flag"
    assert resolved.values["key"] == "/env.key" and resolved.source["key"] == "MESHPEER_KEY"
    assert resolved.values["url"] == "wss://work.example/ws"
    assert resolve_identity({}, env, profile_flag="demo").values["url"] == (
        "ws://broker.example:7900/ws"
    )


def test_a_named_profile_that_does_not_exist_is_an_error_naming_the_flag(
    env: dict[str, str],
) -> None:
    write_profile("demo", profile(), env)

    with pytest.raises(ProfileError, match=r"no profile 'nope'.*profiles: demo") as caught:
        resolve_identity({}, env, profile_flag="nope")

    assert caught.value.argument == "--profile"


def test_no_profile_at_all_leaves_the_fields_empty(env: dict[str, str]) -> None:
    resolved = resolve_identity({}, env)
    assert resolved.profile is None and resolved.values["mesh"] is None


def test_a_mesh_slug_becomes_the_id_of_the_profile_that_has_it(env: dict[str, str]) -> None:
    write_profile("demo", profile(), env)

    assert resolve_identity({"mesh": "demo"}, env).values["mesh"] == MESH_ID
    assert resolve_identity({"mesh": "unknown-slug"}, env).values["mesh"] == "unknown-slug"


@pytest.mark.parametrize(
    ("mesh", "member", "says"),
    [
        ("demo", MEMBER_ID, "looks like a mesh slug"),
        (MESH_ID, "ab" * 32, "looks like a pubkey"),
        (MESH_ID, "alice", "looks like a name"),
        (MESH_ID, MEMBER_ID, None),
    ],
)
def test_a_value_shaped_like_something_else_is_named(
    mesh: str, member: str, says: str | None
) -> None:
    hint = identity_hint({"mesh": mesh, "member": member})
    assert (hint is None) if says is None else (says in (hint or ""))


def test_profile_names_never_collide(env: dict[str, str]) -> None:
    write_profile("demo", profile(), env)
    write_profile("demo-2", profile(), env)

    assert free_profile_name("demo", env) == "demo-3"
    assert free_profile_name("../etc/passwd", env) == "etc-passwd"


# ---------------------------------------------------------------- the invite string


def test_the_invite_string_round_trips_and_damage_is_named() -> None:
    invite = InviteString("wss://mesh.example.com/ws", MESH_ID, "demo", "t0k3n")
    text = invite.encode()

    assert text.startswith("mbi1.") and "=" not in text
    assert decode(f"  {text}\n") == invite
    with pytest.raises(BadInvite, match=r"starts with `mbi1\.`"):
        decode("hello")
    with pytest.raises(BadInvite, match="damaged"):
        decode(text[:20])
    with pytest.raises(BadInvite, match="/ws"):
        decode(InviteString("ws://h:7900", MESH_ID, "demo", "t").encode())


# ---------------------------------------------------------------- meshpeer join


def answer() -> dict[str, Any]:
    return {"meshId": MESH_ID, "memberId": MEMBER_ID, "meshName": "Demo", "role": "member"}


def test_join_keeps_a_given_key_where_it_is(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "mine.key"
    identity = generate()
    write_key(key, identity)
    signed: list[tuple[str, str]] = []

    def accept(invite: InviteString, who: Any, name: str) -> dict[str, Any]:
        signed.append((who.pubkey, name))
        return answer()

    monkeypatch.setattr(join_mesh, "post_join", accept)
    invite = InviteString("ws://h:7900/ws", MESH_ID, "demo", "t")

    report = join_mesh.join(invite, "ada", key, env)

    assert report == {
        "meshId": MESH_ID,
        "memberId": MEMBER_ID,
        "pubkey": identity.pubkey,
        "profile": "demo",
    }
    assert signed == [(identity.pubkey, "ada")]
    stored = json.loads((Path(env["MESHPEER_HOME"]) / "profiles" / "demo.json").read_text())
    assert stored["key"] == str(key) and not (Path(env["MESHPEER_HOME"]) / "keys").exists()


def test_a_refused_join_writes_nothing(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any) -> dict[str, Any]:
        raise JoinFailed("the broker refused the invite")

    monkeypatch.setattr(join_mesh, "post_join", refuse)

    with pytest.raises(JoinFailed):
        join_mesh.join(InviteString("ws://h:7900/ws", MESH_ID, "demo", "t"), "ada", None, env)

    assert not Path(env["MESHPEER_HOME"]).exists()


def test_a_new_key_is_written_0600_after_the_join(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(join_mesh, "post_join", lambda *_: answer())

    report = join_mesh.join(InviteString("ws://h:7900/ws", MESH_ID, "", "t"), "ada", None, env)

    assert report["profile"] == MESH_ID  # no slug in the invite: the mesh id names it
    key = Path(env["MESHPEER_HOME"]) / "keys" / f"{MESH_ID}.key"
    assert key.stat().st_mode & 0o777 == 0o600 and load_key(key).pubkey == report["pubkey"]
    assert Path(env["MESHPEER_HOME"]).stat().st_mode & 0o777 == 0o700
