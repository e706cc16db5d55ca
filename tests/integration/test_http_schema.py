"""The HTTP side under generated input, and sockets that never say hello (issue 8, item 2).

- schemathesis reads the OpenAPI document the running broker serves
  (/schema/openapi.json, Litestar's default) and generates requests for every HTTP
  route, valid and invalid: no answer is a 5xx while the database is up, and each
  answer is one protocol.md lists for its route;
- 200 sockets that never say hello are closed after HELLO_TIMEOUT_SECONDS with
  1008 `hello timeout`, and never count against a mesh's capacity.

The served document describes the hook's request body (from the same Struct the
handler decodes with); the test adds only the optional bearer token, which the
document leaves out, so that schemathesis also sends tokens.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from adapters.postgres.database import Database
from tests.integration.support import (
    WAIT,
    BrokerProcess,
    WsPeer,
    new_member,
    new_mesh,
    signed_hello,
)

LIMIT = 4096
EXAMPLES = {GenerationMode.POSITIVE: 150, GenerationMode.NEGATIVE: 150}
SILENT_SOCKETS = 200

ENV = {
    "MAX_MESSAGE_BYTES": str(LIMIT),
    "HOOK_AUTH": "open",
    "HELLO_TIMEOUT_SECONDS": "1",
    "MAX_CONNECTIONS_PER_MESH": "1",
    "MAX_PENDING_CONNECTIONS_PER_IP": "1000",  # SILENT_SOCKETS all come from 127.0.0.1
}

# What protocol.md says each route answers while the database is up.
ALLOWED = {
    ("POST", "/hook/set-status"): {200, 400, 401, 413, 415, 429},
    ("POST", "/join"): {201, 400, 401, 409, 413, 429},
    ("GET", "/health"): {200},
    ("GET", "/metrics"): {200},
}

# The hook body of protocol.md, snake_case as hook scripts send it.
HOOK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["cwd", "status"],
                "properties": {
                    "cwd": {"type": "string", "minLength": 1},
                    "status": {"type": "string", "enum": ["idle", "working", "dnd", "waiting"]},
                    "pid": {"type": ["integer", "null"], "minimum": 0},
                    "session_id": {"type": ["string", "null"], "minLength": 1},
                },
            }
        }
    },
}
BEARER = {
    "name": "Authorization",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": "^Bearer [A-Za-z0-9_-]{1,64}$"},
}


@pytest.fixture(scope="module")
def broker(database_url: str) -> Iterator[BrokerProcess]:
    process = BrokerProcess(database_url, **ENV).start()
    yield process
    process.kill()


def _get_json(url: str) -> tuple[int, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return int(response.status), json.loads(response.read())


def served_document(broker: BrokerProcess) -> dict[str, Any]:
    status, document = _get_json(f"{broker.http}/schema/openapi.json")
    assert status == 200
    return document  # type: ignore[no-any-return]


def with_hook_body(document: dict[str, Any]) -> dict[str, Any]:
    """The served document plus what it leaves out: the bearer token (and the hook's
    body, should a document without it be served)."""
    patched = copy.deepcopy(document)
    hook = patched["paths"]["/hook/set-status"]["post"]
    hook.setdefault("requestBody", HOOK_BODY)
    hook.setdefault("parameters", []).append(BEARER)
    return patched


# ---------------------------------------------------------------- the document


def test_the_broker_serves_an_openapi_document_of_its_http_routes(broker: BrokerProcess) -> None:
    document = served_document(broker)

    assert document["openapi"].startswith("3.")
    routes = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert routes == set(ALLOWED)


def test_the_openapi_document_describes_the_hook_body(broker: BrokerProcess) -> None:
    hook = served_document(broker)["paths"]["/hook/set-status"]["post"]

    schema = hook["requestBody"]["content"]["application/json"]["schema"]
    assert {"cwd", "status"} <= set(schema.get("required", []))


# ---------------------------------------------------------------- schemathesis


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_generated_http_requests_never_get_a_server_error(
    broker: BrokerProcess, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_dict(with_hook_body(served_document(broker)))
    session = requests.Session()
    seen: Counter[tuple[str, str, int]] = Counter()
    problems: list[str] = []

    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == set(ALLOWED)
    for operation in operations:
        takes_input = operation.method.upper() == "POST"
        if mode is GenerationMode.NEGATIVE and not takes_input:
            continue  # nothing to break in a request without parameters or body
        examples = EXAMPLES[mode] if takes_input else 10
        _exercise(broker, session, operation, mode, examples, seen, problems)

    print(f"\nschemathesis {mode.value}: {dict(sorted(seen.items()))}")
    assert not problems, "\n".join(problems[:10])
    hook_statuses = {status for (_, path, status) in seen if path == "/hook/set-status"}
    if mode is GenerationMode.POSITIVE:
        assert 200 in hook_statuses, "no generated hook was accepted: the bodies are not valid"
    else:
        assert 400 in hook_statuses, "no generated hook was refused: the bodies are not invalid"
    assert _get_json(f"{broker.http}/health")[0] == 200


def _exercise(
    broker: BrokerProcess,
    session: requests.Session,
    operation: Any,
    mode: GenerationMode,
    examples: int,
    seen: Counter[tuple[str, str, int]],
    problems: list[str],
) -> None:
    """Send `examples` generated requests of one operation; note what came back."""
    key = (operation.method.upper(), operation.path)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        try:
            response = case.call(base_url=broker.http, session=session, timeout=10)
        except requests.exceptions.InvalidHeader:
            return  # a header `requests` itself refuses to send never reached the broker
        seen[(*key, response.status_code)] += 1
        if response.status_code not in ALLOWED[key]:
            problems.append(
                f"{key} -> {response.status_code}: {response.text[:200]!r}; "
                f"body={case.body!r} headers={case.headers!r}"
            )
        elif key[1] == "/hook/set-status":
            reply = response.json()
            if reply.get("ok") is not (response.status_code == 200):
                problems.append(f"hook {response.status_code} with body {reply!r}")

    call()


# ---------------------------------------------------------------- silent sockets


async def _open_silent(broker: BrokerProcess, sockets: list[WsPeer], count: int) -> None:
    """Open `count` sockets that say nothing, a few at a time, over about a second."""
    for _ in range(count // 10):
        sockets.extend(await asyncio.gather(*(WsPeer.open(broker.url) for _ in range(10))))
        await asyncio.sleep(0.05)


async def test_sockets_that_never_say_hello_are_closed_and_hold_no_capacity(
    broker: BrokerProcess, database: Database
) -> None:
    mesh = await new_mesh(database, "silent")
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    silent: list[WsPeer] = []
    opening = asyncio.ensure_future(_open_silent(broker, silent, SILENT_SOCKETS))
    await _until(lambda: len(silent) >= SILENT_SOCKETS // 2, "half the silent sockets open")

    # MAX_CONNECTIONS_PER_MESH is 1: the silent sockets must not have taken it.
    ada_peer = await WsPeer.join(broker.url, ada)
    open_at_hello = sum(1 for s in silent if s.socket.close_code is None)
    await opening
    bob_peer = await WsPeer.open(broker.url)
    await bob_peer.send(signed_hello(bob, "second"))
    refused = await bob_peer.expect("error")
    closes = await asyncio.gather(*(s.closed() for s in silent))

    assert ada_peer.hello_ok is not None and open_at_hello > 0
    assert refused["code"] == "capacity"  # the limit of 1 is in force, held by ada alone
    assert Counter(closes) == {(1008, "hello timeout"): SILENT_SOCKETS}
    live = await database.fetchval(
        "SELECT count(*) FROM mesh.presences WHERE mesh_id = $1 AND ended_at IS NULL", mesh.id
    )
    assert live == 1
    listed = await ada_peer.request({"type": "list_peers", "id": str(uuid.uuid4())}, "peers")
    assert [p["displayName"] for p in listed["peers"]] == ["ada"]
    await ada_peer.close()


async def _until(condition: Any, what: str, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not met within {within:.0f} s: {what}"
        await asyncio.sleep(0.02)
