"""Which failures a sink waits out (transient) and which make a dead letter (permanent).

The sinks decode with the codec, which wraps every registry problem in a SerializationError;
what was behind it decides: a registry that did not answer is an outage to wait out, the
registry's definitive answer about a schema id is the message's fault.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from connectors.outage import (
    RETRY_BACKOFF_S,
    Backoff,
    DependencyUnavailableError,
    is_transient,
    registry_unavailable,
)
from pensionx.avro.registry_db import InvalidSchemaError, SchemaNotFoundError
from pensionx.errors import DatabaseError, SchemaRegistryError, SerializationError


def wrapped(cause: BaseException | None) -> SerializationError:
    """A SerializationError raised ``from cause``, as the codec raises it."""
    try:
        try:
            if cause is not None:
                raise cause
            raise SerializationError("wrong magic byte 1")
        except (SchemaRegistryError, DatabaseError, sa.exc.OperationalError) as exc:
            raise SerializationError("a message names schema id 7 ...") from exc
    except SerializationError as exc:
        return exc


@pytest.mark.parametrize(
    ("cause", "transient"),
    [
        (None, False),  # the bytes themselves
        (SchemaNotFoundError("schema id 7 is not registered"), False),
        (InvalidSchemaError("not Avro"), False),
        (SchemaRegistryError("cannot reach the schema registry at http://r:8081"), True),
        (DatabaseError("cannot use the database"), True),  # the embedded registry's database
        (sa.exc.OperationalError("SELECT", {}, Exception("connection refused")), True),
    ],
)
def test_a_registry_that_did_not_answer_is_an_outage_not_poison(
    cause: BaseException | None, transient: bool
) -> None:
    assert registry_unavailable(wrapped(cause)) is transient


def test_a_sink_waits_out_database_and_registry_failures_only() -> None:
    assert is_transient(DependencyUnavailableError("registry away"))
    assert is_transient(DatabaseError("database away"))
    assert is_transient(sa.exc.OperationalError("INSERT", {}, Exception("locked")))
    assert not is_transient(ValueError("a bug"))
    assert not is_transient(SerializationError("poison"))


def test_the_backoff_grows_warns_with_what_to_do_and_resets() -> None:
    stop = threading.Event()
    stop.set()  # wait() returns at once: only the schedule and the log are under test
    backoff = Backoff("case-sink")
    with capture_logs() as logs:
        for _ in range(len(RETRY_BACKOFF_S) + 1):
            backoff.wait(stop, DatabaseError("cannot use the database"))
        backoff.succeeded()
        backoff.wait(stop, DependencyUnavailableError("registry away"))
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [w["retry_in_s"] for w in warnings] == [*RETRY_BACKOFF_S, RETRY_BACKOFF_S[-1], 0.5]
    assert "PENSIONX_DATABASE_URL" in warnings[0]["what_to_do"]
    assert "PENSIONX_SCHEMA_REGISTRY_URL" in warnings[-1]["what_to_do"]
    assert any(e["event"] == "sink dependency back, batches stored again" for e in logs)
