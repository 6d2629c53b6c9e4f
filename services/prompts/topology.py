"""The prompt service on a Faust app: topics, the ``enterprises`` table, two agents, a timer.

::

    commerce.business-registrations.v1 (key uscc) --+
    pension.records.v1 (key uscc | person_id) ------+--> enterprises agent --> registration-prompts
    <app-id>-enterprise-facts (by partition) -------+        |  table: enterprises[uscc]
                 ^                                           +--> exchange.control.v1 (replay done)
    tax.contributions.v1, tax.wages.v1 (key person_id) --> tax router agent

Why this shape (NOTES-KAFKA.md: per-event machinery, repartition hops and per-update changelog
writes are what cost in Faust):

* Values are read as raw bytes and decoded once, in the agent, by the project's codec; a
  message that does not decode (wrong magic byte, unknown schema id, garbage, another schema's
  value) becomes a dead letter on ``exchange.dead-letters.v1`` naming its topic, partition and
  offset — the same letter the conflict service writes — acknowledged before the batch's state
  is written, and the partition keeps moving. BENEFIT_AWARD records on
  ``pension.records.v1`` are keyed by person and decoded only to be ignored.
* Tax records are keyed by person, so they must be repartitioned by enterprise. The router does
  not forward them one by one: it folds each batch into one partial
  :class:`~pensionx.core.enterprise.EnterpriseState` per enterprise, and sends the partial
  states bound for each partition (by Kafka's partitioner on the USCC) as *one* message to that
  partition; the enterprise agent merges them (every field is a join, so this is exact).
  Records without a USCC (self-employed persons) are dropped there.
* Agents take batches (``take_events``); per batch each enterprise's table entry is read once,
  folded and written once.
* The table is keyed by the raw UTF-8 USCC and uses Kafka's default partitioner on it
  (``use_partitioner``), which gives the partition its inputs are keyed to, so batches mixing
  partitions and writes from the timer land in the right changelog partition.

At-least-once: prompts are published and their acknowledgements awaited *before* the table
entry recording them as issued is written, and Faust commits input offsets only after flushing
the changelog. A crash can therefore resend a prompt (the same ``prompt_id``, which the sink
upserts) but never lose one.

Clock: ``mode="live"`` evaluates :func:`~pensionx.core.prompts.due_prompts` at ``clock()`` for
each enterprise a batch changed (or, with ``settle_seconds``, on the first tick after its facts
have stood still that long), and every ``tick_interval`` seconds for every enterprise of the
worker's active partitions. ``mode="replay"`` only accumulates state; when a partition has the
run's end markers (:mod:`services.markers`) it runs
:func:`~pensionx.core.prompts.replay_prompts` up to ``as_of`` for that partition's enterprises
and reports done on ``exchange.control.v1``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from pensionx.avro.codec import Codec
from pensionx.core.agencies import AgencyDirectory
from pensionx.core.enterprise import EnterpriseState
from pensionx.core.floors import FloorTable
from pensionx.core.outputs import RegistrationPrompt
from pensionx.core.prompts import due_prompts, mark_issued, replay_prompts
from pensionx.errors import SerializationError
from pensionx.logs import get_logger
from pensionx.topics import DEAD_LETTERS_TOPIC, PROMPTS_TOPIC
from services.conflicts.service import poison_letter
from services.markers import (
    CONTROL_TOPIC,
    Done,
    EndMarker,
    Expectation,
    MarkerTracker,
    partition_for,
)
from services.observability import count_prompt_inputs, count_prompts
from services.prompts.batches import (
    Poison,
    RawRecord,
    encode_partials,
    fold_updates,
    read_enterprise_batch,
    route_tax_batch,
)

log = get_logger(__name__)

COMMERCE = "commerce.business-registrations.v1"
PENSION = "pension.records.v1"
CONTRIBUTIONS = "tax.contributions.v1"
WAGES = "tax.wages.v1"
PROMPTS = PROMPTS_TOPIC
SERVICE = "prompts"
EXIT_BATCH_FAILED = 70  # EX_SOFTWARE: the batch is processed again after a restart
TABLE = "enterprises"

Mode = Literal["live", "replay"]
Decision = Callable[[EnterpriseState], tuple[EnterpriseState, list[RegistrationPrompt]]]


@dataclass(frozen=True)
class PromptServiceOptions:
    """Tuning: batch size and wait, the live tick, and how many enterprises a replay publishes
    per round trip (bounded, so a large partition does not hold every prompt in memory)."""

    batch_size: int = 5000
    batch_within: float = 0.5
    tick_interval: float = 3600.0
    evaluate_chunk: int = 500
    settle_seconds: float = 0.0
    """Live only: how long an enterprise's facts must have stood still before anything is
    decided for it. The agencies' feeds arrive independently — a commerce file a few minutes
    before the pension agency's registration of the same enterprise — and deciding on the first
    would send a letter, or an overdue notice to the agency, that the second makes false. With
    a settle time, the batch only records the facts and the tick decides once they are quiet.
    0 decides at once, on the batch."""
    kill_after_prompts: int | None = None
    """Testing only: SIGKILL this process once that many prompts are acknowledged, before they
    are recorded as issued: the crash window at-least-once must survive."""


def facts_topic_name(app_id: str) -> str:
    """The internal topic carrying the tax router's partial states (one message per batch and
    partition, sent to the partition Kafka's partitioner gives their USCCs) and its markers."""
    return f"{app_id}-enterprise-facts"


def expectation(partitions: int) -> Expectation:
    """The end markers that complete one partition of the prompt service."""
    return Expectation(
        direct=(COMMERCE, PENSION), fan_in=(CONTRIBUTIONS, WAGES), partitions=partitions
    )


def input_topics() -> tuple[str, ...]:
    """The topics a replay driver sends end markers to."""
    return (COMMERCE, PENSION, CONTRIBUTIONS, WAGES)


class PromptService:
    """What the agents and the timer call; holds no Faust objects beyond those passed in."""

    def __init__(
        self,
        *,
        codec: Codec,
        table: Any,
        prompts_topic: Any,
        facts_topic: Any,
        control_topic: Any,
        facts_topic_name: str,
        partitions: int,
        clock: Callable[[], date],
        directory: AgencyDirectory,
        floors: FloorTable,
        mode: Mode,
        as_of: date | None,
        run_id: str | None,
        options: PromptServiceOptions,
        active_partitions: Callable[[], set[int]],
        ready: Callable[[], bool],
        monotonic: Callable[[], float] = time.monotonic,
        dead_letters_topic: Any | None = None,
    ) -> None:
        if mode == "replay" and (as_of is None or not run_id):
            raise ValueError("a replay needs its as-of date and run id")
        self.codec = codec
        self.table = table
        self.prompts_topic = prompts_topic
        self.facts_topic = facts_topic
        self.control_topic = control_topic
        self.facts_topic_name = facts_topic_name
        self.partitions = partitions
        self.clock = clock
        self.directory = directory
        self.floors = floors
        self.mode = mode
        self.as_of = as_of
        self.run_id = run_id
        self.options = options
        self.active_partitions = active_partitions
        self.ready = ready
        self.tracker = MarkerTracker(expectation(partitions))
        self._done_counts: dict[tuple[str, int], dict[str, int]] = {}
        self._published = 0
        self.monotonic = monotonic
        self.dead_letters_topic = dead_letters_topic  # None: poison is only logged (unit tests)
        # When each enterprise's facts last changed on this worker (in memory: after a restart
        # every restored enterprise counts as settled, its facts having stood still meanwhile).
        self._changed_at: dict[str, float] = {}
        # The agent and the timer both read-modify-write table entries across awaits.
        self._lock = asyncio.Lock()

    # --- the tax router --------------------------------------------------------------------

    async def on_tax_batch(self, records: Iterable[RawRecord]) -> None:
        batch = route_tax_batch(self.codec, records)
        await self._dead_letter(batch.poison)
        for step in batch.steps:
            if isinstance(step, EndMarker):
                await self._forward(step)
                continue
            bound: dict[int, list[EnterpriseState]] = {}
            for uscc, state in step.items():
                bound.setdefault(partition_for(uscc, self.partitions), []).append(state)
            await _acknowledged(
                [
                    await self.facts_topic.send(
                        key=None, value=encode_partials(states), partition=q, force=True
                    )
                    for q, states in sorted(bound.items())
                ]
            )

    async def _forward(self, marker: EndMarker) -> None:
        """To every partition of the facts topic, after the facts before it were acknowledged."""
        await _acknowledged(
            [
                await self.facts_topic.send(
                    key=marker.key(),
                    value=marker.value(),
                    partition=q,
                    headers=EndMarker.headers(),
                    force=True,
                )
                for q in range(self.partitions)
            ]
        )

    async def _dead_letter(self, poison: list[Poison]) -> None:
        """Log each poison message and send its dead letter; return once all are acknowledged,
        so the batch's offsets (committed after the batch) never pass an unrecorded one."""
        _log_poison(poison)
        if not poison or self.dead_letters_topic is None:
            return
        now = datetime.now(UTC)
        letters = [poison_letter(p.record, SerializationError(p.error), now) for p in poison]
        await _acknowledged(
            [
                await self.dead_letters_topic.send(
                    key=(letter.topic or letter.feed).encode("utf-8"),
                    value=self.codec.encode(DEAD_LETTERS_TOPIC, letter),
                    force=True,
                )
                for letter in letters
            ]
        )

    # --- the enterprise agent --------------------------------------------------------------

    async def on_enterprise_batch(self, records: Iterable[RawRecord]) -> None:
        batch = read_enterprise_batch(self.codec, records, self.facts_topic_name)
        await self._dead_letter(batch.poison)
        async with self._lock:
            changed: dict[str, EnterpriseState] = {}
            for uscc, updates in batch.updates.items():
                old = self._state(uscc)
                new = fold_updates(old, updates)
                if new is not old:
                    changed[uscc] = new
            if self.mode == "live" and changed:
                if self.options.settle_seconds > 0:
                    now = self.monotonic()
                    self._changed_at.update(dict.fromkeys(changed, now))
                else:
                    today = self.clock()
                    changed = await self._issue(changed, lambda s: _due(s, today, self))
            self._write(changed)
            for marker, partition in batch.markers:
                await self._on_marker(marker, partition)

    async def _on_marker(self, marker: EndMarker, partition: int) -> None:
        if self.mode != "replay" or marker.run_id != self.run_id:
            log.info(
                "end marker ignored: not this replay's",
                run_id=marker.run_id,
                partition=partition,
                mode=self.mode,
            )
            return
        if not self.tracker.add(marker, partition):
            return
        key = (marker.run_id, partition)
        if not self.tracker.finished(*key):
            self._done_counts[key] = await self._replay_partition(partition)
            self.tracker.finish(*key)
        done = Done(SERVICE, marker.run_id, partition, self.partitions, self._done_counts[key])
        await _acknowledged(
            [await self.control_topic.send(key=done.key(), value=done.value(), force=True)]
        )
        log.info("replay partition done", run_id=marker.run_id, partition=partition, **done.counts)

    async def _replay_partition(self, partition: int) -> dict[str, int]:
        as_of = self.as_of
        assert as_of is not None  # checked in __init__
        keys = self._keys({partition})
        sent = await self._evaluate(
            keys, lambda s: replay_prompts(s, as_of, self.directory, self.floors)
        )
        return {"enterprises": len(keys), "prompts": sent}

    # --- the live tick ---------------------------------------------------------------------

    async def tick(self) -> int:
        """Evaluate every enterprise of this worker's active partitions at ``clock()``."""
        if not self.ready():
            log.info("prompt tick skipped: partitions are being assigned or recovered")
            return 0
        today, active = self.clock(), self.active_partitions()
        async with self._lock:
            keys = self._settled(self._keys(active))
            sent = await self._evaluate(keys, lambda s: _due(s, today, self))
        log.info("prompt tick", today=today.isoformat(), enterprises=len(keys), prompts=sent)
        return sent

    # --- shared ------------------------------------------------------------------------------

    async def _evaluate(self, keys: list[str], decide: Decision) -> int:
        """Decide, publish and record, one chunk of enterprises at a time; prompts sent."""
        sent = 0
        for start in range(0, len(keys), self.options.evaluate_chunk):
            states = {k: self._state(k) for k in keys[start : start + self.options.evaluate_chunk]}
            marked = await self._issue(states, decide)
            changed = {k: s for k, s in marked.items() if s is not states[k]}
            sent += sum(len(s.issued) - len(states[k].issued) for k, s in changed.items())
            self._write(changed)
        return sent

    async def _issue(
        self, states: Mapping[str, EnterpriseState], decide: Decision
    ) -> dict[str, EnterpriseState]:
        """Publish what ``decide`` finds due and await every acknowledgement; only then return
        the states marking them issued, for the caller to write (the at-least-once order)."""
        marked: dict[str, EnterpriseState] = {}
        outgoing: list[RegistrationPrompt] = []
        for uscc, state in states.items():
            marked[uscc], prompts = decide(state)
            outgoing.extend(prompts)
        if outgoing:
            await _acknowledged(
                [
                    await self.prompts_topic.send(
                        key=p.uscc.encode("utf-8"), value=self.codec.encode(PROMPTS, p), force=True
                    )
                    for p in outgoing
                ]
            )
            self._published += len(outgoing)
            count_prompts(outgoing)
            self._maybe_die()
        return marked

    def _maybe_die(self) -> None:
        limit = self.options.kill_after_prompts
        if limit is not None and self._published >= limit:
            log.warning("killing this worker on purpose (testing)", published=self._published)
            os.kill(os.getpid(), signal.SIGKILL)

    def _state(self, uscc: str) -> EnterpriseState:
        data = self.table.get(uscc.encode("utf-8"))
        return EnterpriseState(uscc=uscc) if data is None else EnterpriseState.from_dict(data)

    def _write(self, states: Mapping[str, EnterpriseState]) -> None:
        for uscc, state in states.items():
            self.table[uscc.encode("utf-8")] = state.to_dict()

    def _settled(self, keys: list[str]) -> list[str]:
        """``keys`` whose facts have stood still for ``settle_seconds`` (all, without one)."""
        if self.options.settle_seconds <= 0:
            return keys
        cutoff = self.monotonic() - self.options.settle_seconds
        settled = [k for k in keys if self._changed_at.get(k, cutoff) <= cutoff]
        for key in settled:
            self._changed_at.pop(key, None)
        return settled

    def _keys(self, partitions: set[int]) -> list[str]:
        """The table's USCCs that belong to ``partitions``, sorted (a snapshot: writes follow)."""
        keys = (bytes(k).decode("utf-8") for k in list(self.table.keys()))
        return sorted(k for k in keys if partition_for(k, self.partitions) in partitions)


def _due(
    state: EnterpriseState, today: date, service: PromptService
) -> tuple[EnterpriseState, list[RegistrationPrompt]]:
    prompts = due_prompts(state, today, service.directory, service.floors)
    return (mark_issued(state, prompts) if prompts else state), prompts


async def _acknowledged(futures: list[Any]) -> None:
    """Wait until the broker acknowledged every send (each a future of record metadata)."""
    if futures:
        await asyncio.gather(*futures)


def _log_poison(poison: list[Poison]) -> None:
    for item in poison:
        log.warning(
            "unreadable message skipped",
            topic=item.record.topic,
            partition=item.record.partition,
            offset=item.record.offset,
            error=item.error,
        )


async def _or_exit(batch: Awaitable[None]) -> None:
    """Run one batch; on any failure leave the process at once, committing nothing.

    Faust would otherwise stop only the agent (the worker stays up, consuming nothing), and its
    ``take_events`` acknowledges a batch's events when the batch ends, even by an exception, so
    a later commit would skip input whose prompts and state were never written. Exiting here
    is a crash like any other: the supervisor restarts the worker, which reads the batch again.
    """
    try:
        await batch
    except Exception:  # every failure must stop the process, see above
        log.exception("prompt batch failed; exiting without committing, to be processed again")
        logging.shutdown()
        os._exit(EXIT_BATCH_FAILED)


def _raw(event: Any) -> RawRecord:
    message = event.message
    return RawRecord(message.topic, message.partition, message.offset, message.key, message.value)


def build_prompt_service(
    app: Any,
    codec: Codec,
    *,
    clock: Callable[[], date],
    directory: AgencyDirectory,
    floors: FloorTable,
    mode: Mode,
    as_of: date | None = None,
    run_id: str | None = None,
    options: PromptServiceOptions | None = None,
) -> PromptService:
    """Declare the prompt service's topics, table, agents (and, live, its timer) on ``app``.

    ``app`` comes from :func:`services.app.create_app`; its ``topic_partitions`` must equal the
    input topics' partition count (the table and the facts topic are co-partitioned with them).
    The facts and control topics should exist before the worker starts (the worker entry point
    creates them), or the embedded broker would auto-create them with 4 partitions.
    """
    options = options or PromptServiceOptions()
    partitions = int(app.conf.topic_partitions)
    facts_name = facts_topic_name(app.conf.id)
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    enterprise_inputs = app.topic(COMMERCE, PENSION, facts_name, **raw)
    tax_inputs = app.topic(CONTRIBUTIONS, WAGES, **raw)
    facts = app.topic(facts_name, internal=True, partitions=partitions, **raw)
    table = app.Table(
        TABLE,
        default=None,
        partitions=partitions,
        key_type=bytes,  # raw UTF-8 keys: the same bytes, hence partition, as the inputs'
        use_partitioner=True,
    )
    service = PromptService(
        codec=codec,
        table=table,
        prompts_topic=app.topic(PROMPTS, **raw),
        facts_topic=facts,
        control_topic=app.topic(CONTROL_TOPIC, **raw),
        dead_letters_topic=app.topic(DEAD_LETTERS_TOPIC, **raw),
        facts_topic_name=facts_name,
        partitions=partitions,
        clock=clock,
        directory=directory,
        floors=floors,
        mode=mode,
        as_of=as_of,
        run_id=run_id,
        options=options,
        active_partitions=lambda: {
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == COMMERCE
        },
        ready=lambda: not app.rebalancing and not app.tables.recovery.in_recovery,
    )

    async def route_tax(stream: Any) -> None:
        async for events in stream.take_events(options.batch_size, within=options.batch_within):
            count_prompt_inputs([e.message for e in events], by_enterprise=False)
            await _or_exit(service.on_tax_batch([_raw(e) for e in events]))

    async def fold_enterprises(stream: Any) -> None:
        async for events in stream.take_events(options.batch_size, within=options.batch_within):
            count_prompt_inputs([e.message for e in events], by_enterprise=True)
            await _or_exit(service.on_enterprise_batch([_raw(e) for e in events]))

    app.agent(tax_inputs, name="prompts-tax-router")(route_tax)
    app.agent(enterprise_inputs, name="prompts-enterprises")(fold_enterprises)
    if mode == "live":

        async def tick() -> None:
            try:
                await service.tick()
            except Exception:  # nothing is committed by a tick: the next one tries again
                log.exception("prompt tick failed; the next tick tries again")

        app.timer(options.tick_interval, name="prompts-tick")(tick)
    return service
