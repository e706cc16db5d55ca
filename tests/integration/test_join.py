"""`meshbroker invite` and `POST /join` against a real broker process and Postgres:
the answers a client sees, one 401 for every bad token, the race for the last use
over HTTP, the per-address limit, the log line and the metric."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from nacl.signing import SigningKey

from protocol.invite_string import decode
from tests.integration.support import WAIT, BrokerProcess

JOIN_LIMIT = 40


@pytest.fixture(scope="module")
def broker(database_url: str) -> Iterator[BrokerProcess]:
    process = BrokerProcess(
        database_url, JOIN_RATE_LIMIT_PER_MIN=str(JOIN_LIMIT), MAX_MESSAGE_BYTES="4096"
    ).start()
    yield process
    process.kill()


def meshbroker(broker: BrokerProcess, *args: str, ok: bool = True) -> Any:
    done = subprocess.run(
        ["meshbroker", *args], env=broker.env, capture_output=True, text=True, timeout=2 * WAIT
    )
    if not ok:
        return done
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture
def slug(broker: BrokerProcess) -> str:
    import secrets

    name = f"join-{secrets.token_hex(4)}"
    meshbroker(broker, "mesh", "create", "--name", name)
    return name


def create(broker: BrokerProcess, slug: str, *args: str) -> dict[str, Any]:
    url = f"{broker.url}"
    invite: dict[str, Any] = meshbroker(
        broker, "invite", "create", "--mesh", slug, "--url", url, *args
    )
    return invite


def signed(token: str, name: str = "ada", key: SigningKey | None = None) -> dict[str, str]:
    key = key or SigningKey.generate()
    pubkey = key.verify_key.encode().hex()
    text = f"claudemesh/join/v1|{token}|{pubkey}|{name}".encode()
    return {
        "token": token,
        "pubkey": pubkey,
        "name": name,
        "signature": key.sign(text).signature.hex(),
    }


def post(broker: BrokerProcess, body: bytes | dict[str, Any], address: str = "") -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{broker.http}/join", data=data, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_create_prints_the_invite_and_the_join_line_and_list_never_the_token(
    broker: BrokerProcess, slug: str
) -> None:
    invite = create(broker, slug, "--uses", "3", "--expires", "7d")

    assert set(invite) == {"id", "meshId", "token", "uses", "expiresAt", "invite", "join"}
    assert invite["uses"] == 3 and invite["join"] == f"meshpeer join {invite['invite']}"
    parsed = decode(invite["invite"])
    assert (parsed.url, parsed.mesh_id, parsed.mesh_slug, parsed.token) == (
        broker.url,
        invite["meshId"],
        slug,
        invite["token"],
    )
    listed = meshbroker(broker, "invite", "list", "--mesh", slug)
    assert listed == [
        {
            "id": invite["id"],
            "uses": 3,
            "used": 0,
            "expiresAt": invite["expiresAt"],
            "revokedAt": None,
        }
    ]
    assert invite["token"] not in json.dumps(listed)


def test_the_invite_url_defaults_to_broker_public_url(broker: BrokerProcess, slug: str) -> None:
    env = {**broker.env, "BROKER_PUBLIC_URL": "wss://mesh.example.com/ws"}
    done = subprocess.run(
        ["meshbroker", "invite", "create", "--mesh", slug],
        env=env,
        capture_output=True,
        text=True,
        timeout=2 * WAIT,
    )
    assert done.returncode == 0, done.stderr
    assert decode(json.loads(done.stdout)["invite"]).url == "wss://mesh.example.com/ws"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--expires", "31d"], "--expires"),
        (["--expires", "soon"], "--expires"),
        (["--uses", "0"], "--uses"),
        (["--url", "http://x/ws"], "--url"),
    ],
)
def test_create_refuses_bad_arguments_with_one_line(
    broker: BrokerProcess, slug: str, args: list[str], named: str
) -> None:
    done = meshbroker(broker, "invite", "create", "--mesh", slug, *args, ok=False)
    assert done.returncode != 0 and done.stdout == ""
    assert named in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_join_answers_201_and_the_member_is_listed(broker: BrokerProcess, slug: str) -> None:
    invite = create(broker, slug, "--role", "admin")
    body = signed(invite["token"], "ada")

    status, answer = post(broker, body)

    assert status == 201
    assert answer == {
        "meshId": invite["meshId"],
        "memberId": answer["memberId"],
        "meshName": slug,
        "role": "admin",
    }
    members = meshbroker(broker, "member", "list", "--mesh", slug)
    assert [(m["id"], m["pubkey"], m["displayName"]) for m in members] == [
        (answer["memberId"], body["pubkey"], "ada")
    ]
    line = broker.wait_log(
        lambda e: e.get("msg") == "join" and e.get("member_id") == answer["memberId"]
    )
    assert line["mesh_id"] == invite["meshId"] and line["invite_id"] == invite["id"]
    assert all(invite["token"] not in json.dumps(entry) for entry in broker.logs)


def test_every_bad_token_gets_the_same_401(broker: BrokerProcess, slug: str) -> None:
    used = create(broker, slug)
    assert post(broker, signed(used["token"], "first"))[0] == 201
    revoked = create(broker, slug, "--uses", "5")
    meshbroker(broker, "invite", "revoke", "--mesh", slug, "--invite", revoked["id"])
    tokens = {"unknown": "x" * 43, "used up": used["token"], "revoked": revoked["token"]}

    answers = {why: post(broker, signed(token, "late")) for why, token in tokens.items()}

    assert set(map(json.dumps, answers.values())) == {
        json.dumps([401, {"ok": False, "error": "invalid invite"}])
    }
    assert len(meshbroker(broker, "member", "list", "--mesh", slug)) == 1


def test_revoke_prints_when_and_an_unknown_invite_is_one_line(
    broker: BrokerProcess, slug: str
) -> None:
    invite = create(broker, slug)

    revoked = meshbroker(broker, "invite", "revoke", "--mesh", slug, "--invite", invite["id"])

    assert revoked["id"] == invite["id"] and revoked["revokedAt"]
    done = meshbroker(broker, "invite", "revoke", "--mesh", slug, "--invite", "nope", ok=False)
    assert done.returncode == 1 and "no invite 'nope'" in done.stderr


def test_an_existing_member_is_409_and_the_use_is_not_spent(
    broker: BrokerProcess, slug: str
) -> None:
    invite = create(broker, slug, "--uses", "2")
    key = SigningKey.generate()
    assert post(broker, signed(invite["token"], "ada", key))[0] == 201

    status, answer = post(broker, signed(invite["token"], "ada", key))

    assert status == 409 and answer["ok"] is False
    [listed] = meshbroker(broker, "invite", "list", "--mesh", slug)
    assert listed["used"] == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"token": "t", "pubkey": "ab" * 32}).encode(),
        "bad signature",
        "bad pubkey",
    ],
)
def test_a_bad_body_or_signature_is_400_and_costs_no_use(
    broker: BrokerProcess, slug: str, body: bytes | str
) -> None:
    invite = create(broker, slug)
    if body == "bad signature":
        payload: bytes | dict[str, Any] = {**signed(invite["token"]), "signature": "00" * 64}
    elif body == "bad pubkey":
        payload = {**signed(invite["token"]), "pubkey": "not hex"}
    else:
        assert isinstance(body, bytes)
        payload = body

    status, answer = post(broker, payload)

    assert status == 400 and answer["ok"] is False
    assert meshbroker(broker, "invite", "list", "--mesh", slug)[0]["used"] == 0


def test_an_oversized_body_is_413(broker: BrokerProcess, slug: str) -> None:
    invite = create(broker, slug)
    status, answer = post(broker, {**signed(invite["token"]), "name": "x" * 5000})
    assert status == 413 and answer == {"ok": False, "error": "payload too large"}


def test_two_joins_racing_for_the_last_use_one_wins(broker: BrokerProcess, slug: str) -> None:
    invite = create(broker, slug, "--uses", "2")
    assert post(broker, signed(invite["token"], "early"))[0] == 201
    barrier = threading.Barrier(2)
    results: list[int] = []

    def race(name: str) -> None:
        body = signed(invite["token"], name)
        barrier.wait()
        results.append(post(broker, body)[0])

    threads = [threading.Thread(target=race, args=(n,)) for n in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)

    assert sorted(results) == [201, 401]
    assert len(meshbroker(broker, "member", "list", "--mesh", slug)) == 2


def test_too_many_attempts_from_one_address_are_429_and_counted(
    database_url: str,
) -> None:
    process = BrokerProcess(database_url, JOIN_RATE_LIMIT_PER_MIN="3").start()
    try:
        answers = [post(process, signed("no-such-token"))[0] for _ in range(4)]
        with urllib.request.urlopen(f"{process.http}/metrics", timeout=WAIT) as response:
            metrics = response.read().decode()
    finally:
        process.kill()

    assert answers == [401, 401, 401, 429]
    assert 'broker_joins_total{result="invalid"} 3.0' in metrics
    assert 'broker_joins_total{result="rate_limited"} 1.0' in metrics
