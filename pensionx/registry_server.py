"""The embedded registry's REST API: the part of Confluent Schema Registry's that clients use.

With it, standard tools — confluent-kafka's ``AvroDeserializer``, Kafka Connect, kcat, an
agency's Java consumer — decode the exchange's topics knowing only the registry's URL, with no
code of ours. Same paths, JSON shapes, content type and error codes as Confluent (see its API
reference); the data is the :class:`~pensionx.avro.registry_db.DatabaseSchemaRegistry`, so the
ids are the ones on the wire. Only AVRO, no references, no deletes, one compatibility level.

:func:`serve_registry` runs it with uvicorn in a background thread, for ``pensionx schemas
serve``, tests, and whichever command runs the exchange on embedded defaults.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from pensionx.avro.compatibility import LEVEL, IncompatibleSchemaError
from pensionx.avro.registry_db import (
    DatabaseSchemaRegistry,
    InvalidSchemaError,
    SchemaNotFoundError,
    SubjectNotFoundError,
    Version,
    VersionNotFoundError,
)
from pensionx.errors import PensionxError, SchemaRegistryError
from pensionx.logs import get_logger

log = get_logger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
STARTUP_TIMEOUT_S = 10.0

# Our error -> (HTTP status, Confluent error code).
_STATUS: tuple[tuple[type[PensionxError], int, int], ...] = (
    (SubjectNotFoundError, 404, 40401),
    (VersionNotFoundError, 404, 40402),
    (SchemaNotFoundError, 404, 40403),
    (IncompatibleSchemaError, 409, 409),
    (InvalidSchemaError, 422, 42201),
)


class InvalidVersionError(SchemaRegistryError):
    """A version in a path that is neither a positive number, -1 nor ``latest`` (42202)."""


class RegistryJSON(JSONResponse):
    """JSON with Confluent's content type, which its clients ask for first."""

    media_type = CONTENT_TYPE


def make_app(registry: DatabaseSchemaRegistry) -> FastAPI:
    """The FastAPI application serving ``registry`` (built here, so nothing runs at import)."""
    app = FastAPI(
        title="pension-exchange schema registry",
        description="The Confluent Schema Registry API subset of the embedded registry.",
        default_response_class=RegistryJSON,
        openapi_url=None,  # keep Confluent's namespace: no /docs, /openapi.json
        docs_url=None,
        redoc_url=None,
    )

    def error(status: int, code: int, message: str) -> RegistryJSON:
        return RegistryJSON({"error_code": code, "message": message}, status_code=status)

    @app.exception_handler(PensionxError)
    def registry_error(_request: Request, exc: PensionxError) -> RegistryJSON:
        if isinstance(exc, InvalidVersionError):
            return error(422, 42202, str(exc))
        for cls, status, code in _STATUS:
            if isinstance(exc, cls):
                return error(status, code, str(exc))
        log.error("schema registry request failed", error=str(exc))
        return error(500, 50001, f"Error in the backend data store: {exc}")

    @app.exception_handler(HTTPException)
    def http_error(_request: Request, exc: HTTPException) -> RegistryJSON:
        return error(exc.status_code, exc.status_code, f"HTTP {exc.status_code} {exc.detail}")

    @app.exception_handler(RequestValidationError)
    def request_error(_request: Request, exc: RequestValidationError) -> RegistryJSON:
        return error(422, 422, f"Unprocessable request: {exc.errors()}")

    @app.get("/")
    def root() -> dict[str, Any]:
        return {}

    @app.get("/config")
    @app.get("/config/{subject}")
    def config(subject: str = "") -> dict[str, str]:
        return {"compatibilityLevel": LEVEL}

    @app.get("/schemas/types")
    def schema_types() -> list[str]:
        return ["AVRO"]

    @app.get("/schemas/ids/{schema_id}")
    def schema_by_id(schema_id: str) -> dict[str, Any]:
        # ?subject= and ?format= are accepted and ignored: an id means one text here.
        return {"schema": registry.schema_by_id(_schema_id(schema_id))}

    @app.get("/subjects")
    def subjects() -> list[str]:
        return registry.subjects()

    @app.get("/subjects/{subject}/versions")
    def versions(subject: str) -> list[int]:
        return registry.version_numbers(subject)

    @app.get("/subjects/{subject}/versions/{version}")
    def version(subject: str, version: str) -> dict[str, Any]:
        schema_id, number, text = registry.version(subject, _version(version))
        return {"subject": subject, "id": schema_id, "version": number, "schema": text}

    @app.get("/subjects/{subject}/versions/{version}/schema")
    def version_schema(subject: str, version: str) -> Any:
        return json.loads(registry.version(subject, _version(version))[2])

    @app.post("/subjects/{subject}/versions")
    async def register(subject: str, request: Request) -> dict[str, Any]:
        text = _schema_text(await request.body())
        # The database work runs off the event loop, as FastAPI runs the plain `def` routes.
        return {"id": await run_in_threadpool(registry.register, subject, text)}

    @app.post("/subjects/{subject}")
    async def lookup(subject: str, request: Request) -> dict[str, Any]:
        found = await run_in_threadpool(
            registry.lookup, subject, _schema_text(await request.body())
        )
        schema_id, number, text = found
        return {"subject": subject, "id": schema_id, "version": number, "schema": text}

    @app.post("/compatibility/subjects/{subject}/versions")
    @app.post("/compatibility/subjects/{subject}/versions/{version}")
    async def compatibility(
        subject: str, request: Request, version: str | None = None, verbose: bool = False
    ) -> dict[str, Any]:
        text = _schema_text(await request.body())
        against = None if version is None else _version(version)
        problems = await run_in_threadpool(registry.compatibility, subject, text, against)
        answer: dict[str, Any] = {"is_compatible": not problems}
        if verbose:
            answer["messages"] = [str(p) for p in problems]
        return answer

    return app


def _schema_id(raw: str) -> int:
    if not raw.isdigit():
        raise SchemaNotFoundError(f"schema id {raw!r} is not registered")
    return int(raw)


def _version(raw: str) -> Version:
    if raw in {"latest", "-1"}:
        return "latest"
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    raise InvalidVersionError(
        f"the version {raw!r} is not valid: use a number from 1, -1 or 'latest'"
    )


def _schema_text(body: bytes) -> str:
    """The schema out of Confluent's request body ``{"schema": "...", "schemaType": ...}``;
    read by hand so both its content type and plain application/json are accepted."""
    try:
        request = json.loads(body)
    except ValueError as exc:
        raise InvalidSchemaError(f"the request body is not JSON: {exc}") from exc
    if not isinstance(request, dict) or not isinstance(request.get("schema"), str):
        raise InvalidSchemaError('the request body must be {"schema": "<the schema as a string>"}')
    if request.get("schemaType", "AVRO") != "AVRO":
        raise InvalidSchemaError(
            f"this registry only holds AVRO schemas, not {request['schemaType']}"
        )
    if request.get("references"):
        raise InvalidSchemaError("this registry does not support schema references")
    text: str = request["schema"]
    return text


@dataclass
class RunningServer:
    """A registry API being served; :meth:`stop` (or leaving the ``with``) shuts it down."""

    url: str
    _server: Any
    _thread: threading.Thread

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop accepting, finish what is in flight, and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout_s)
        log.info("schema registry stopped", url=self.url)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_registry(engine: Engine, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve the registry in ``engine``'s (migrated) database on ``host:port`` (0: a free
    port); returns once it accepts connections."""
    from pensionx.serving import server_socket, start_uvicorn

    try:
        sock = server_socket(host, port)
    except OSError as exc:
        raise SchemaRegistryError(
            f"cannot serve the schema registry on {host}:{port}: {exc.strerror}. Choose another "
            "port, or 0 for a free one."
        ) from exc
    bound_port = sock.getsockname()[1]
    app = make_app(DatabaseSchemaRegistry(engine))
    try:
        server, thread = start_uvicorn(
            app, sock, "schema-registry", STARTUP_TIMEOUT_S, lifespan="off"
        )
    except TimeoutError as exc:
        raise SchemaRegistryError(
            f"the schema registry API did not start on {host}:{bound_port} within "
            f"{STARTUP_TIMEOUT_S:.0f} s"
        ) from exc
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound_port}"
    log.info("schema registry listening", url=url)
    return RunningServer(url, server, thread)
