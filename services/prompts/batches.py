"""The prompt service's batch logic, free of Faust so it can be tested with plain records.

A batch is a list of :class:`RawRecord` (what Faust's ``take_events`` yields, reduced to the
message). Values are decoded here, once; end markers are recognised by their key before any
decoding; a value that does not decode is a :class:`Poison` to log and skip, never a crash.
Per batch, everything about one enterprise is folded into one state (:func:`fold_updates`), so
the table is written once per enterprise per batch, and tax records are folded into one
partial state per enterprise (:func:`route_tax_batch`) before the repartition hop, where the
partial states bound for one partition travel as one message (:func:`encode_partials`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pensionx.avro.codec import Codec
from pensionx.core.enterprise import EnterpriseState, apply, enterprise_of, merge
from pensionx.core.events import Event
from pensionx.core.outputs import Conflict, DeadLetter, RegistrationPrompt
from pensionx.errors import SerializationError
from services.markers import EndMarker, MarkerError, is_marker

Update = Event | EnterpriseState
"""What changes an enterprise's state: an event, or a partial state from the tax router."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One consumed message: where it came from, and its key and value as bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Poison:
    """A message that could not be read, with why; logged with its coordinates and skipped."""

    record: RawRecord
    error: str


@dataclass
class EnterpriseBatch:
    """One batch as the enterprise agent sees it."""

    updates: dict[str, list[Update]] = field(default_factory=dict)
    markers: list[tuple[EndMarker, int]] = field(default_factory=list)  # marker, partition
    poison: list[Poison] = field(default_factory=list)
    ignored: int = 0  # facts about people only (BENEFIT_AWARD on pension.records.v1)


def encode_partials(states: Iterable[EnterpriseState]) -> bytes:
    """Partial states as one message of the internal facts topic (JSON of their ``to_dict``).

    One message per destination partition per batch, not one per enterprise: each message
    costs Faust far more than its bytes do (NOTES-KAFKA.md).
    """
    body = {"v": 1, "states": [state.to_dict() for state in states]}
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def decode_partials(value: bytes | None) -> list[EnterpriseState]:
    try:
        body = json.loads(value or b"")
        if body.get("v") != 1:
            raise ValueError(f"unknown facts message version {body.get('v')!r}")
        return [EnterpriseState.from_dict(data) for data in body["states"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SerializationError(f"not a facts message of enterprise states: {exc}") from exc


def decode_event(codec: Codec, record: RawRecord) -> Event:
    """The domain event in an input message; an output record there is as bad as garbage."""
    value = codec.decode(record.topic, record.value or b"")
    if isinstance(value, RegistrationPrompt | Conflict | DeadLetter):
        raise SerializationError(f"{record.topic} carries events, not {type(value).__name__}")
    return value


def read_enterprise_batch(
    codec: Codec, records: Iterable[RawRecord], facts_topic: str
) -> EnterpriseBatch:
    """Decode a batch of the enterprise agent's inputs: Avro events, partial states, markers."""
    batch = EnterpriseBatch()
    for record in records:
        try:
            if is_marker(record.key):
                batch.markers.append((EndMarker.parse(record.key, record.value), record.partition))
                continue
            if record.topic == facts_topic:
                for partial in decode_partials(record.value):
                    batch.updates.setdefault(partial.uscc, []).append(partial)
                continue
            event = decode_event(codec, record)
        except (SerializationError, MarkerError) as exc:
            batch.poison.append(Poison(record, str(exc)))
            continue
        uscc = enterprise_of(event)
        if uscc is None:
            batch.ignored += 1
            continue
        batch.updates.setdefault(uscc, []).append(event)
    return batch


def fold_updates(state: EnterpriseState, updates: Sequence[Update]) -> EnterpriseState:
    """``state`` with every update folded in; ``state`` itself when nothing is new."""
    for update in updates:
        state = (
            merge(state, update) if isinstance(update, EnterpriseState) else apply(state, update)
        )
    return state


@dataclass
class TaxBatch:
    """The tax router's view of a batch, in order: partial states to ship, then a marker,
    then more partial states, ...; a marker is forwarded only after what came before it."""

    steps: list[dict[str, EnterpriseState] | EndMarker] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)
    ignored: int = 0  # contributions without a USCC (self-employed persons)


def route_tax_batch(codec: Codec, records: Iterable[RawRecord]) -> TaxBatch:
    """Fold a batch of tax records into one partial state per enterprise between markers."""
    batch = TaxBatch()
    partials: dict[str, EnterpriseState] = {}
    for record in records:
        try:
            if is_marker(record.key):
                if partials:
                    batch.steps.append(partials)
                    partials = {}
                batch.steps.append(EndMarker.parse(record.key, record.value))
                continue
            event = decode_event(codec, record)
        except (SerializationError, MarkerError) as exc:
            batch.poison.append(Poison(record, str(exc)))
            continue
        uscc = enterprise_of(event)
        if uscc is None:
            batch.ignored += 1
            continue
        partials[uscc] = apply(partials.get(uscc) or EnterpriseState(uscc=uscc), event)
    if partials:
        batch.steps.append(partials)
    return batch
