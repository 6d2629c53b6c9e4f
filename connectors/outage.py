"""When a sink's dependency — the database, the schema registry — is away for a while.

A sink must not dead-letter a message because the registry that would decode it cannot be
reached, nor skip a batch because the database refused it: either would lose data that is
fine. Such failures are *transient*: the sink moves back to the batch's first offsets, waits
with a growing delay, says so in the log with what to do, and tries again; offsets are
committed only after the database commit, so nothing is lost once the dependency is back.

What the message itself gets wrong — a wrong magic byte, a schema id the registry answers it
does not know, a value that does not fit — is *permanent*: a dead letter (or, for the prompt
sink, a logged skip), and the partition moves on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa

from pensionx.avro.compatibility import IncompatibleSchemaError
from pensionx.avro.registry_db import (
    InvalidSchemaError,
    SchemaNotFoundError,
    SubjectNotFoundError,
    VersionNotFoundError,
)
from pensionx.errors import DatabaseError, PensionxError, SchemaRegistryError
from pensionx.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")

RETRY_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Waits between attempts while a dependency is away: quick at first (a blip), then no
faster than every 10 s (a server being restarted, a registry redeployed)."""

# The registry's definitive answers about a schema: asking again will not change them.
_DEFINITIVE_REGISTRY_ANSWERS = (
    SchemaNotFoundError,
    SubjectNotFoundError,
    VersionNotFoundError,
    InvalidSchemaError,
    IncompatibleSchemaError,
)


class DependencyUnavailableError(PensionxError):
    """A sink's batch could not be handled because the database or the schema registry is
    unreachable for now; the batch is retried, nothing is committed or dead-lettered."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__  # only what was raised `from` it: the context may be unrelated


def registry_unavailable(exc: BaseException) -> bool:
    """True when a decoding error comes from a registry (or its database) that did not
    answer, rather than from the message: the same bytes may decode once it is back."""
    for link in _chain(exc):
        if isinstance(link, _DEFINITIVE_REGISTRY_ANSWERS):
            return False
        if isinstance(link, SchemaRegistryError | DatabaseError | sa.exc.OperationalError):
            return True
    return False


def is_transient(exc: BaseException) -> bool:
    """True for the failures a sink waits out: its database or its registry unreachable.

    Every database error counts, not only a lost connection: a batch the database refuses
    cannot be skipped without losing it, so it is read again until an operator fixes the cause
    (the warning says so) — the same as before this module, now said in the log.
    """
    return isinstance(exc, DependencyUnavailableError | DatabaseError | sa.exc.SQLAlchemyError)


def what_to_do(exc: BaseException) -> str:
    """The hint for the operator in the retry warning."""
    if isinstance(exc, DependencyUnavailableError):
        return (
            "check that the schema registry (PENSIONX_SCHEMA_REGISTRY_URL, or the embedded "
            "one in the database) is up and reachable; the sink retries by itself and "
            "dead-letters nothing meanwhile"
        )
    return (
        "check that the database (PENSIONX_DATABASE_URL) is running, reachable and accepts "
        "writes (disk space, locks, permissions); the sink retries by itself and commits no "
        "Kafka offset for a batch that is not stored, so nothing is lost once it is back"
    )


@dataclass
class Backoff:
    """Growing waits between a sink's attempts, reset by a success."""

    sink: str
    failures: int = 0

    def succeeded(self) -> None:
        if self.failures:
            log.info("sink dependency back, batches stored again", sink=self.sink,
                     after_failures=self.failures)  # fmt: skip
        self.failures = 0

    def wait(self, stop: threading.Event, exc: BaseException) -> None:
        """Warn (what failed, what to do, when the next attempt is) and wait, or until stop."""
        wait = RETRY_BACKOFF_S[min(self.failures, len(RETRY_BACKOFF_S) - 1)]
        self.failures += 1
        log.warning(
            "sink cannot store its batch, retrying",
            sink=self.sink,
            error=_first_line(exc),
            error_type=type(exc).__name__,
            attempt=self.failures,
            retry_in_s=wait,
            what_to_do=what_to_do(exc),
        )
        stop.wait(wait)


def batches_until_stopped(sink: str, stop: threading.Event, batch: Callable[[], T]) -> Iterator[T]:
    """Call ``batch`` until ``stop`` is set and yield what each success returns; a transient
    failure is waited out with :class:`Backoff`, any other is raised. The sinks' run loop."""
    backoff = Backoff(sink)
    while not stop.is_set():
        try:
            result = batch()
        except Exception as exc:
            if not is_transient(exc):
                raise
            backoff.wait(stop, exc)
        else:
            backoff.succeeded()
            yield result


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__
