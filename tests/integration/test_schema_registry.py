"""The embedded schema registry on real SQLite and PostgreSQL, its REST API, and `schemas`.

Pins what the archive and every agency's consumer rely on: an id, once given, is the same
after a restart and for the same schema under any subject; an incompatible schema is refused
with each violation named; the REST API answers as Confluent's does, so Confluent's own client
(and our HTTP registry built on it) work against it unchanged.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from pensionx.avro import Codec, history
from pensionx.avro.compatibility import IncompatibleSchemaError
from pensionx.avro.registry_db import (
    DatabaseSchemaRegistry,
    InvalidSchemaError,
    SchemaNotFoundError,
    SubjectNotFoundError,
    VersionNotFoundError,
)
from pensionx.avro.registry_factory import make_registry
from pensionx.avro.registry_http import HttpSchemaRegistry
from pensionx.avro.schemas import TOPIC_SCHEMAS, subject, topic_schema_text
from pensionx.broker import free_port
from pensionx.commands import schemas as schema_commands
from pensionx.db import make_engine
from pensionx.errors import SchemaRegistryError
from pensionx.registry_server import CONTENT_TYPE, RunningServer, serve_registry
from pensionx.settings import Settings

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parent.parent / "unit" / "fixtures"
CONFLICTS = "exchange.conflicts.v1"
CONFLICTS_SUBJECT = subject(CONFLICTS)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(engine: Engine) -> DatabaseSchemaRegistry:
    return DatabaseSchemaRegistry(engine)


@pytest.fixture
def server(engine: Engine) -> Iterator[RunningServer]:
    with serve_registry(engine) as running:
        yield running


def _v1() -> str:
    return history.versions(CONFLICTS)[0][1]


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# -- the database registry ---------------------------------------------------------------------


def test_ids_survive_a_restart(database_url: str, engine: Engine) -> None:
    before = Codec(DatabaseSchemaRegistry(engine)).register_all()
    assert sorted(before.values()) == list(range(1, len(TOPIC_SCHEMAS) + 1))
    restarted = make_engine(database_url)
    try:
        again = DatabaseSchemaRegistry(restarted)
        assert Codec(again).register_all() == before
        for topic, schema_id in before.items():
            assert again.schema_by_id(schema_id) == topic_schema_text(topic)
            assert again.versions(subject(topic)) == [schema_id]
    finally:
        restarted.dispose()


def test_the_same_schema_twice_is_the_same_id_and_no_new_version(
    registry: DatabaseSchemaRegistry,
) -> None:
    first = registry.register(CONFLICTS_SUBJECT, _v1())
    # Whitespace and key order do not make another schema.
    pretty = json.dumps(json.loads(_v1()), indent=4)
    assert registry.register(CONFLICTS_SUBJECT, pretty) == first
    assert registry.version_numbers(CONFLICTS_SUBJECT) == [1]


def test_a_schema_known_elsewhere_keeps_its_id_and_becomes_a_version_here(
    registry: DatabaseSchemaRegistry,
) -> None:
    schema_id = registry.register(CONFLICTS_SUBJECT, _v1())
    assert registry.register("conflicts-copy-value", _v1()) == schema_id
    assert registry.version("conflicts-copy-value", "latest") == (schema_id, 1, _v1())
    assert registry.subjects() == sorted([CONFLICTS_SUBJECT, "conflicts-copy-value"])


def test_a_compatible_v2_is_a_new_id_and_version(registry: DatabaseSchemaRegistry) -> None:
    v1 = registry.register(CONFLICTS_SUBJECT, _v1())
    v2 = registry.register(CONFLICTS_SUBJECT, _fixture("conflict_v2.avsc"))
    assert v2 != v1
    assert registry.versions(CONFLICTS_SUBJECT) == [v1, v2]
    assert registry.version(CONFLICTS_SUBJECT, 1)[:2] == (v1, 1)
    assert registry.version(CONFLICTS_SUBJECT, "latest")[:2] == (v2, 2)
    assert registry.register(CONFLICTS_SUBJECT, _v1()) == v1, "an old version is still known"


def test_an_incompatible_schema_is_refused_naming_each_violation(
    registry: DatabaseSchemaRegistry,
) -> None:
    registry.register(CONFLICTS_SUBJECT, _v1())
    with pytest.raises(IncompatibleSchemaError) as refused:
        registry.register(CONFLICTS_SUBJECT, _fixture("conflict_v2_breaking.avsc"))
    named = {(v.record, v.field) for v in refused.value.violations}
    assert ("cn.gov.pensionx.v1.Conflict", "region_code") in named
    assert ("cn.gov.pensionx.v1.Evidence", "occurred_on") in named
    assert "field region_code: removed" in str(refused.value)
    assert registry.version_numbers(CONFLICTS_SUBJECT) == [1], "nothing was added"


def test_lookups_say_what_is_missing(registry: DatabaseSchemaRegistry) -> None:
    registry.register(CONFLICTS_SUBJECT, _v1())
    with pytest.raises(SchemaNotFoundError):
        registry.schema_by_id(999)
    with pytest.raises(SubjectNotFoundError):
        registry.version("nobody-value", "latest")
    with pytest.raises(VersionNotFoundError):
        registry.version(CONFLICTS_SUBJECT, 2)
    with pytest.raises(InvalidSchemaError, match="not a valid Avro schema"):
        registry.register(CONFLICTS_SUBJECT, '{"type": "record", "name": "X"}')


def test_concurrent_registrations_agree(registry: DatabaseSchemaRegistry, engine: Engine) -> None:
    """Eight threads, each with its own registry object, race to register v1 and v2 under one
    subject and v1 under another: one id per schema, versions 1 and 2, nothing duplicated."""
    texts = [_v1(), _fixture("conflict_v2.avsc")]
    results: list[tuple[str, int, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        racer = DatabaseSchemaRegistry(engine)
        start.wait()
        try:
            target = CONFLICTS_SUBJECT if n % 4 else "conflicts-copy-value"
            for index, text in enumerate(texts if n % 4 else texts[:1]):
                results.append((target, index, racer.register(target, text)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    ids = {index: {i for _, x, i in results if x == index} for index in (0, 1)}
    assert len(ids[0]) == len(ids[1]) == 1
    assert ids[0] != ids[1]
    v1, v2 = ids[0].pop(), ids[1].pop()
    # v1 raced v2 into the subject: v2 may have gone first only if v1 then fit after it.
    assert sorted(registry.versions(CONFLICTS_SUBJECT)) == sorted([v1, v2])
    assert registry.versions("conflicts-copy-value") == [v1]


# -- the REST API --------------------------------------------------------------------------------


def _http(url: str, body: Any = None, content_type: str = CONTENT_TYPE) -> tuple[int, str, Any]:
    assert url.startswith("http://127.0.0.1:")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - only our local server's http:// URL
        url,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": content_type, "Accept": CONTENT_TYPE},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.headers["Content-Type"], json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], json.loads(exc.read())


def test_rest_register_and_read_back(server: RunningServer) -> None:
    base = f"{server.url}/subjects/{CONFLICTS_SUBJECT}"
    assert _http(f"{base}/versions", {"schema": _v1()}) == (200, CONTENT_TYPE, {"id": 1})
    # Plain application/json is accepted too, and the same schema answers the same id.
    assert _http(f"{base}/versions", {"schema": _v1(), "schemaType": "AVRO"}, "application/json")[
        2
    ] == {"id": 1}
    assert _http(f"{server.url}/schemas/ids/1") == (200, CONTENT_TYPE, {"schema": _v1()})
    assert _http(f"{server.url}/schemas/ids/1?subject={CONFLICTS_SUBJECT}")[2] == {"schema": _v1()}
    assert _http(f"{server.url}/subjects")[2] == [CONFLICTS_SUBJECT]
    assert _http(f"{base}/versions")[2] == [1]
    expected = {"subject": CONFLICTS_SUBJECT, "id": 1, "version": 1, "schema": _v1()}
    for version in ("1", "latest", "-1"):
        assert _http(f"{base}/versions/{version}") == (200, CONTENT_TYPE, expected)
    assert _http(f"{base}/versions/1/schema")[2] == json.loads(_v1())
    assert _http(base, {"schema": _v1()})[2] == expected  # lookup
    assert _http(f"{server.url}/config")[2] == {"compatibilityLevel": "BACKWARD_TRANSITIVE"}


def test_rest_compatibility(server: RunningServer) -> None:
    _http(f"{server.url}/subjects/{CONFLICTS_SUBJECT}/versions", {"schema": _v1()})
    path = f"{server.url}/compatibility/subjects/{CONFLICTS_SUBJECT}/versions"
    good, bad = _fixture("conflict_v2.avsc"), _fixture("conflict_v2_breaking.avsc")
    assert _http(f"{path}/latest", {"schema": good}) == (200, CONTENT_TYPE, {"is_compatible": True})
    assert _http(f"{path}/1", {"schema": bad})[2] == {"is_compatible": False}
    verbose = _http(f"{path}/latest?verbose=true", {"schema": bad})[2]
    assert verbose["is_compatible"] is False
    assert any("field region_code" in m for m in verbose["messages"])
    assert _http(path, {"schema": bad})[2] == {"is_compatible": False}


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/subjects/nobody-value/versions", None, 404, 40401),
        ("/subjects/nobody-value/versions/latest", None, 404, 40401),
        (f"/subjects/{CONFLICTS_SUBJECT}/versions/7", None, 404, 40402),
        (f"/subjects/{CONFLICTS_SUBJECT}/versions/zero", None, 422, 42202),
        ("/schemas/ids/424242", None, 404, 40403),
        (f"/subjects/{CONFLICTS_SUBJECT}", {"schema": '"string"'}, 404, 40403),
        (f"/subjects/{CONFLICTS_SUBJECT}/versions", {"schema": "{not json"}, 422, 42201),
        (f"/subjects/{CONFLICTS_SUBJECT}/versions", {"schemaType": "AVRO"}, 422, 42201),
        (
            f"/subjects/{CONFLICTS_SUBJECT}/versions",
            {"schema": "{}", "schemaType": "JSON"},
            422,
            42201,
        ),
        (f"/subjects/{CONFLICTS_SUBJECT}/versions", {"schema": '"string"'}, 409, 409),
        ("/no/such/path", None, 404, 404),
    ],
    ids=lambda value: str(value)[:40],
)
def test_rest_errors_have_confluents_shape(
    server: RunningServer, path: str, body: Any, status: int, code: int
) -> None:
    _http(f"{server.url}/subjects/{CONFLICTS_SUBJECT}/versions", {"schema": _v1()})
    got_status, content_type, answer = _http(server.url + path, body)
    assert (got_status, content_type) == (status, CONTENT_TYPE)
    assert set(answer) == {"error_code", "message"}
    assert answer["error_code"] == code
    assert answer["message"]


def test_the_server_stops_and_frees_its_port(engine: Engine) -> None:
    with serve_registry(engine) as running:
        port = int(running.url.rsplit(":", 1)[1])
    with serve_registry(engine, port=port) as again:
        assert again.url.endswith(f":{port}")
        assert _http(f"{again.url}/subjects")[0] == 200


# -- the HTTP registry (Confluent's client) against it --------------------------------------


def test_the_http_registry_speaks_to_a_confluent_compatible_api(server: RunningServer) -> None:
    http = HttpSchemaRegistry(server.url)
    ids = Codec(http).register_all()
    assert Codec(HttpSchemaRegistry(server.url)).register_all() == ids
    assert http.schema_by_id(ids[CONFLICTS]) == topic_schema_text(CONFLICTS)
    assert http.subjects() == sorted(subject(t) for t in TOPIC_SCHEMAS)
    assert http.version(CONFLICTS_SUBJECT, "latest") == (ids[CONFLICTS], 1, _v1())
    assert http.versions(CONFLICTS_SUBJECT) == [ids[CONFLICTS]]
    with pytest.raises(IncompatibleSchemaError, match="region_code"):
        http.register(CONFLICTS_SUBJECT, _fixture("conflict_v2_breaking.avsc"))
    with pytest.raises(SchemaNotFoundError):
        http.schema_by_id(999)
    with pytest.raises(SubjectNotFoundError):
        http.version_numbers("nobody-value")


def test_an_unreachable_registry_names_the_setting() -> None:
    http = HttpSchemaRegistry(f"http://127.0.0.1:{free_port()}", max_retries=0, timeout_s=2)
    with pytest.raises(SchemaRegistryError, match="PENSIONX_SCHEMA_REGISTRY_URL") as failed:
        http.register(CONFLICTS_SUBJECT, _v1())
    assert "cannot reach the schema registry" in str(failed.value)


def test_make_registry_follows_the_setting(engine: Engine, server: RunningServer) -> None:
    assert isinstance(make_registry(Settings(), engine), DatabaseSchemaRegistry)
    http = make_registry(Settings(schema_registry_url=server.url), None)
    assert isinstance(http, HttpSchemaRegistry)


# -- the commands ---------------------------------------------------------------------------------


def _run(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser()
    schema_commands.add_commands(parser.add_subparsers())
    args = parser.parse_args(argv)
    code: int = args.handler(args, settings)
    return code


def test_schemas_register_then_check_passes_on_the_repo(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url)
    assert _run(["schemas", "register"], settings) == 0
    first = capsys.readouterr().out
    assert f"{CONFLICTS_SUBJECT}" in first
    assert _run(["schemas", "register"], settings) == 0
    assert capsys.readouterr().out == first, "the same ids again"
    assert _run(["schemas", "check"], settings) == 0
    out = capsys.readouterr().out
    assert f"ok           {CONFLICTS}  (against history v1, registry version 1)" in out


def test_schemas_check_fails_on_a_breaking_candidate_naming_each_violation(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url)
    _run(["schemas", "register"], settings)
    capsys.readouterr()
    breaking = FIXTURES / "conflict_v2_breaking.avsc"
    assert _run(["schemas", "check", "--candidate", f"{CONFLICTS}={breaking}"], settings) == 1
    out = capsys.readouterr().out
    assert f"INCOMPATIBLE {CONFLICTS}" in out
    assert f"{CONFLICTS}: record cn.gov.pensionx.v1.Conflict, field region_code: removed" in out
    assert f"{CONFLICTS}: record cn.gov.pensionx.v1.Evidence, field occurred_on" in out
    assert "(against history v1, registry version 1)" in out
    good = FIXTURES / "conflict_v2.avsc"
    assert _run(["schemas", "check", "--candidate", f"{CONFLICTS}={good}"], settings) == 0
    assert "changed since its newest history version" in capsys.readouterr().out


def test_schemas_check_fails_against_a_registered_version_the_history_lacks(
    database_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """A registry holding a version the repo never recorded: today's schema must read it too."""
    DatabaseSchemaRegistry(engine).register(
        CONFLICTS_SUBJECT, _fixture("conflict_v2_breaking.avsc")
    )
    settings = Settings(database_url=database_url)
    assert _run(["schemas", "check"], settings) == 1
    out = capsys.readouterr().out
    assert (
        f"{CONFLICTS}: record cn.gov.pensionx.v1.Conflict, field region_code: new field "
        "without a default" in out
    )
    assert "(against registry version 1)" in out
    assert _run(["schemas", "check", "--offline"], settings) == 0, "the history alone is fine"


def test_schemas_serve_prints_its_url_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    script = (
        "import argparse, sys\n"
        "from pensionx.commands import schemas\n"
        "from pensionx.settings import Settings\n"
        "p = argparse.ArgumentParser(); schemas.add_commands(p.add_subparsers())\n"
        "a = p.parse_args(['schemas', 'serve'])\n"
        "sys.exit(a.handler(a, Settings(data_dir=sys.argv[1])))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        prefix = "schema registry API (Confluent-compatible): "
        lines = []
        while not lines or not lines[-1].startswith(prefix):  # log lines may come first
            lines.append(process.stdout.readline())
            assert lines[-1], f"exited without announcing its URL: {lines}"
        url = lines[-1].removeprefix(prefix).strip()
        assert url.startswith("http://127.0.0.1:")
        assert _http(f"{url}/subjects") == (200, CONTENT_TYPE, [])
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
