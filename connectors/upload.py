"""The HTTP upload endpoint: ``POST /feeds/{feed}`` with the file as the request body.

    curl -H "Authorization: Bearer pxu_..." -H "X-File-Name: tax_202610.csv" \\
         --data-binary @tax_202610.csv http://127.0.0.1:8082/feeds/tax

The body is the file's bytes as they are (any ``Content-Type``; gzip files stay gzipped). Its
name, from ``X-File-Name`` (percent-encoded if not ASCII) or ``?name=``, is required and must
begin with the feed, because the name also says the format and is what receipts and dead letters
point at. The answer is the file's receipt as JSON: 200 when the file was accepted (even with
dead letters, which the receipt counts), 422 when the file was rejected as a whole (the receipt
says why).

Refusals, each with a plain ``detail`` message and logged with the agency (never the token):
401 no, unknown or revoked token; 403 a feed that is not the agency's; 404 no such feed; 400
no usable file name; 413 a body over ``max_bytes`` (said by ``Content-Length`` or counted while
streaming, so an oversized body is never read whole); 503 the broker or database failed mid-file
(nothing counts as published: send the file again).
"""

from __future__ import annotations

import threading
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from connectors.ingest import Ingestor, Receipt
from connectors.readers import FeedFileRejected, base_name, feed_from_name
from pensionx.core.codes import Feed
from pensionx.db.upload_tokens import AgencyPrincipal, authenticate
from pensionx.errors import PensionxError
from pensionx.logs import get_logger
from pensionx.metrics import METRICS

log = get_logger(__name__)

FILE_NAME_HEADER = "X-File-Name"
_MAX_NAME_CHARS = 255

_bearer = HTTPBearer(
    auto_error=False, description="An agency's token from `pensionx upload-tokens create`."
)


class _Uploads:
    """The endpoint's collaborators; one ingest at a time, as the Ingestor is not thread-safe."""

    def __init__(self, engine: Engine, ingestor: Ingestor, max_bytes: int) -> None:
        self.engine = engine
        self.ingestor = ingestor
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def ingest(self, data: bytes, name: str, principal: AgencyPrincipal) -> Receipt:
        with self._lock:
            receipt = self.ingestor.ingest(data, name, uploader=f"upload:{principal.agency}")
        METRICS.count_receipt(receipt)
        return receipt


def _refuse(status: int, detail: str, **context: object) -> HTTPException:
    log.warning("upload refused", status=status, reason=detail, **context)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return HTTPException(status_code=status, detail=detail, headers=headers)


def _file_name(feed: Feed, header: str | None, query: str | None, agency: str) -> str:
    raw = unquote(header) if header else query
    name = base_name(raw or "").strip()
    example = f"{feed.value}_202610.csv"
    if not name or len(name) > _MAX_NAME_CHARS:
        raise _refuse(
            400,
            f"say the file's name in the {FILE_NAME_HEADER} header or ?name= "
            f"(e.g. {example}): it must begin with '{feed.value}'",
            agency=agency,
            feed=feed.value,
        )
    try:
        named = feed_from_name(name)
    except FeedFileRejected:
        named = None
    if named is not feed:
        raise _refuse(
            400,
            f"the file name {name!r} does not begin with the feed '{feed.value}' it is uploaded "
            f"to (e.g. {example})",
            agency=agency,
            feed=feed.value,
            file=name,
        )
    return name


async def _read_body(request: Request, max_bytes: int, context: dict[str, object]) -> bytes:
    """The whole body, refusing with 413 as soon as it is known to be too large."""
    too_large = (
        f"the file is larger than the upload limit of {max_bytes} bytes: split it into "
        "smaller files"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _refuse(413, too_large, declared_bytes=int(declared), **context)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise _refuse(413, too_large, read_bytes=len(body), **context)
    return bytes(body)


def make_upload_router(engine: Engine, ingestor: Ingestor, *, max_bytes: int) -> APIRouter:
    """The ``POST /feeds/{feed}`` route, over one ingestor (serialised) and the token table."""
    uploads = _Uploads(engine, ingestor, max_bytes)
    router = APIRouter()

    @router.post("/feeds/{feed}", summary="upload one feed file; answers with its receipt")
    async def upload_feed_file(
        feed: str,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        name: Annotated[
            str | None, Query(description="the file's name, if not in the header")
        ] = None,
    ) -> JSONResponse:
        client = request.client.host if request.client else None
        principal = (
            await run_in_threadpool(authenticate, uploads.engine, credentials.credentials)
            if credentials
            else None
        )
        if principal is None:
            raise _refuse(
                401,
                "a valid upload token is needed: send 'Authorization: Bearer <token>' with the "
                "token your agency was given",
                feed=feed,
                client=client,
                presented=credentials is not None,
            )
        context: dict[str, object] = {"agency": principal.agency, "feed": feed}
        try:
            target = Feed(feed)
        except ValueError:
            known = ", ".join(f.value for f in Feed)
            raise _refuse(404, f"no feed {feed!r}: the feeds are {known}", **context) from None
        if not principal.may_upload(target):
            own = ", ".join(sorted(f.value for f in principal.feeds))
            raise _refuse(
                403,
                f"the {principal.agency} agency's token may upload {own}, not {target.value}",
                **context,
            )
        file_name = _file_name(
            target, request.headers.get(FILE_NAME_HEADER), name, principal.agency
        )
        context["file"] = file_name
        body = await _read_body(request, uploads.max_bytes, context)
        try:
            receipt = await run_in_threadpool(uploads.ingest, body, file_name, principal)
        except PensionxError as exc:
            raise _refuse(
                503, f"the file could not be ingested now: {exc}", bytes=len(body), **context
            ) from exc
        log.info(
            "upload received",
            bytes=len(body),
            accepted=receipt.ok,
            published=receipt.published,
            dead_letters=receipt.dead_letters,
            **context,
        )
        return JSONResponse(receipt.to_json(), status_code=200 if receipt.ok else 422)

    return router


def make_upload_app(engine: Engine, ingestor: Ingestor, *, max_bytes: int) -> FastAPI:
    """The upload service as an app of its own (``pensionx upload-server``)."""
    app = FastAPI(
        title="pension-exchange uploads",
        summary="Agencies upload feed files (FEEDS.md section 2); each answer is a receipt.",
    )
    app.include_router(make_upload_router(engine, ingestor, max_bytes=max_bytes))
    return app
