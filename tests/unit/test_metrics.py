"""The operational figures: what is counted from a receipt, a batch, a sink's consumer; how the
web page adds expositions up; readiness; and where `pensionx run` serves each part's metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from prometheus_client import CollectorRegistry

from connectors.ingest import Receipt
from connectors.observed import ObservedConsumer
from pensionx.core.outputs import PromptKind, Rule, Severity
from pensionx.metrics import Flag, Health, Metrics, dead_letter_codes, listen
from pensionx.runner import RunInfo, metrics_ports, worker_children
from pensionx.web.operations import figures_from, quantile
from services.observability import InputTimes, count_conflict_batch, newest_by_key

AT = datetime(2026, 3, 1, tzinfo=UTC)


class TP(NamedTuple):
    """kafka-python's TopicPartition, as far as the wrapper uses it."""

    topic: str
    partition: int


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def value(m: Metrics, name: str, **labels: str) -> float:
    found = m.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def receipt(**kwargs: Any) -> Receipt:
    base: dict[str, Any] = {
        "file_name": "tax_20260301.csv",
        "feed": "tax",
        "sha256": "ab" * 32,
        "uploader": "cli",
        "received_at": AT,
    }
    return Receipt(**{**base, **kwargs})


def test_a_receipt_counts_records_in_per_feed_and_dead_letters_per_code(metrics: Metrics) -> None:
    r = receipt(
        records_read=10,
        dead_letters=3,
        dead_letter_codes={"PERSON_ID_CHECK": 2, "PERIOD": 1},
    )
    metrics.count_receipt(r)
    metrics.count_receipt(r)  # a second file: counters add up
    assert value(metrics, "pensionx_records_in_total", feed="tax") == 20
    assert value(metrics, "pensionx_files_in_total", feed="tax", outcome="accepted") == 2
    assert value(metrics, "pensionx_dead_letters_total", feed="tax", code="PERSON_ID_CHECK") == 4
    assert value(metrics, "pensionx_dead_letters_total", feed="tax", code="PERIOD") == 2


def test_a_rejected_file_counts_as_one_dead_letter_of_its_code(metrics: Metrics) -> None:
    r = receipt(rejected="not UTF-8 or GB18030", dead_letter_codes={"ENCODING": 1})
    metrics.count_receipt(r)
    assert value(metrics, "pensionx_files_in_total", feed="tax", outcome="rejected") == 1
    assert value(metrics, "pensionx_dead_letters_total", feed="tax", code="ENCODING") == 1
    assert value(metrics, "pensionx_records_in_total", feed="tax") == 0


def test_dead_letters_without_codes_are_still_counted() -> None:
    # a receipt built elsewhere (an older caller) that gives only the total still counts
    assert dead_letter_codes(receipt(dead_letters=7)) == {"UNSPECIFIED": 7}
    assert dead_letter_codes(receipt(records_read=4)) == {}
    assert dead_letter_codes(receipt(rejected="empty")) == {"FILE_REJECTED": 1}


def test_a_conflict_batch_counts_events_per_topic_conflicts_and_their_latency(
    metrics: Metrics,
) -> None:
    now = datetime.now(UTC).timestamp()
    messages = [
        SimpleNamespace(topic="tax.wages.v1", key=b"P1", timestamp=now - 3.0),
        SimpleNamespace(topic="tax.wages.v1", key=b"P1", timestamp=now - 1.0),  # the newest
        SimpleNamespace(topic="audit.records.v1", key=b"P2", timestamp=now - 2.0),
    ]
    conflicts = [
        SimpleNamespace(rule=Rule.BENEFIT_AFTER_DEATH, severity=Severity.HIGH, person_id="P1")
    ]
    letters = [SimpleNamespace(feed="tax", error_code="UNDECODABLE_MESSAGE")]
    count_conflict_batch(messages, conflicts, letters, metrics=metrics)
    part = {"part": "conflicts"}
    assert value(metrics, "pensionx_events_processed_total", **part, topic="tax.wages.v1") == 2
    assert value(metrics, "pensionx_events_processed_total", **part, topic="audit.records.v1") == 1
    assert (
        value(metrics, "pensionx_conflicts_total", rule="BENEFIT_AFTER_DEATH", severity="HIGH") == 1
    )
    assert value(metrics, "pensionx_end_to_end_latency_seconds_count", output="conflict") == 1
    latency = value(metrics, "pensionx_end_to_end_latency_seconds_sum", output="conflict")
    assert 1.0 <= latency < 60.0, "timed from P1's newest input, not its oldest"
    assert (
        value(metrics, "pensionx_dead_letters_total", feed="tax", code="UNDECODABLE_MESSAGE") == 1
    )


def test_prompts_are_counted_per_kind_and_timed_once_from_their_enterprise_input(
    metrics: Metrics,
) -> None:
    times = InputTimes()
    times.note([SimpleNamespace(key=b"91610302MA6X0001A0", timestamp=100.0)])
    prompts = [SimpleNamespace(kind=PromptKind.REGISTER_PENSION, uscc="91610302MA6X0001A0")]
    metrics.count_prompts(prompts, times.pop_all(p.uscc for p in prompts), now=130.0)
    metrics.count_prompts(prompts, times.pop_all(p.uscc for p in prompts), now=200.0)
    assert value(metrics, "pensionx_prompts_total", kind="REGISTER_PENSION") == 2
    assert value(metrics, "pensionx_end_to_end_latency_seconds_count", output="prompt") == 1
    assert value(metrics, "pensionx_end_to_end_latency_seconds_sum", output="prompt") == 30.0


def test_input_times_keep_the_newest_per_key_and_skip_keyless_messages() -> None:
    messages = [
        SimpleNamespace(key=b"A", timestamp=5.0),
        SimpleNamespace(key=b"A", timestamp=3.0),
        SimpleNamespace(key=None, timestamp=9.0),
        SimpleNamespace(key=b"B", timestamp=None),
    ]
    assert newest_by_key(messages) == {"A": 5.0}
    bounded = InputTimes(limit=1)
    bounded.note([SimpleNamespace(key=k, timestamp=1.0) for k in (b"A", b"B")])
    assert bounded.get("A") is None, "past its limit it starts over instead of growing"


class FakeConsumer:
    """What the sinks call on a kafka-python consumer, in memory."""

    def __init__(self, batches: list[dict[Any, list[Any]]]) -> None:
        self.batches = batches
        self.assigned: set[Any] = set()
        self.highwaters: dict[Any, int] = {}
        self.positions: dict[Any, int] = {}
        self.commits = 0

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        return self.batches.pop(0) if self.batches else {}

    def commit(self) -> None:
        self.commits += 1

    def assignment(self) -> set[Any]:
        return self.assigned

    def highwater(self, tp: Any) -> int | None:
        return self.highwaters.get(tp)

    def position(self, tp: Any) -> int:
        return self.positions[tp]

    def seek(self, tp: Any, offset: int) -> None:
        self.positions[tp] = offset

    def close(self) -> None:
        pass


def test_a_sink_consumer_is_ready_once_assigned_and_counts_only_committed_records(
    metrics: Metrics,
) -> None:
    tp = TP("exchange.conflicts.v1", 2)
    record = SimpleNamespace(topic="exchange.conflicts.v1", offset=7)
    fake = FakeConsumer([{}, {tp: [record, record]}, {tp: [record, record]}])
    ready = Flag("partitions assigned")
    observed = ObservedConsumer(
        fake, part="case-sink", group="g", ready=ready, metrics=metrics, lag_interval=0.0
    )
    observed.poll(timeout_ms=10)
    assert ready() == "waiting for partitions assigned"
    fake.assigned = {tp}
    fake.highwaters[tp], fake.positions[tp] = 40, 25
    observed.poll(timeout_ms=10)  # a batch that fails to store: no commit, not counted
    assert ready() is None
    assert value(metrics, "pensionx_consumer_lag", group="g", topic=tp.topic, partition="2") == 15
    observed.seek(tp, 7)  # the sink rewinds; delegated to the real consumer
    observed.poll(timeout_ms=10)
    observed.commit()
    topic = {"part": "case-sink", "topic": "exchange.conflicts.v1"}
    assert value(metrics, "pensionx_events_processed_total", **topic) == 2, "counted once"
    assert fake.commits == 1
    assert fake.positions[tp] == 7


def test_readiness_needs_every_check_and_says_what_is_wrong() -> None:
    health = Health(cache_s=0.0)
    assert health.status() == (False, {}), "nothing started yet: not ready"
    flag = Flag("the consumer's partitions")
    health.add("sink", flag)
    health.add("database", lambda: None)
    ready, details = health.status()
    assert not ready
    assert details["sink"] == "waiting for the consumer's partitions"
    flag.set()
    assert health.status() == (True, {"sink": "ok", "database": "ok"})

    def broken() -> str | None:
        raise RuntimeError("boom")

    health.add("broken", broken)
    ready, details = health.status()
    assert not ready
    assert "boom" in details["broken"]


def _exposition(configure: Any) -> str:
    m = Metrics(CollectorRegistry())
    configure(m)
    return m.exposition().decode()


def test_the_web_figures_add_up_the_parts_expositions() -> None:
    def connectors(m: Metrics) -> None:
        m.records_in.labels("tax").inc(800)
        m.dead_letters.labels("tax", "PERIOD").inc(2)

    def conflicts(m: Metrics) -> None:
        m.events_processed.labels("conflicts", "tax.wages.v1").inc(433)
        m.conflicts.labels("CONCURRENT_PENSIONS", "HIGH").inc(3)
        m.lag.labels("pensionx-conflicts", "tax.wages.v1", "4").set(12)
        for seconds in (0.2, 0.3, 0.4, 2.0):
            m.latency.labels("conflict").observe(seconds)

    def more_connectors(m: Metrics) -> None:
        m.records_in.labels("tax").inc(16)
        m.prompts.labels("BASE_BELOW_FLOOR").inc(4)

    figures = figures_from(
        [_exposition(connectors), _exposition(conflicts), _exposition(more_connectors)]
    )
    assert figures.records_in == {"tax": 816}
    assert figures.dead_letters == {("tax", "PERIOD"): 2}
    assert figures.events == {("conflicts", "tax.wages.v1"): 433}
    assert figures.conflicts == {("CONCURRENT_PENSIONS", "HIGH"): 3}
    assert figures.prompts == {"BASE_BELOW_FLOOR": 4}
    assert figures.lag == {("pensionx-conflicts", "tax.wages.v1", 4): 12}
    latency = figures.latency["conflict"]
    assert latency.count == 4
    assert latency.mean_s == pytest.approx(0.725)
    assert latency.p50_s is not None
    assert 0.25 <= latency.p50_s <= 0.5
    assert figures.to_json()["records_in"] == [{"feed": "tax", "count": 816}]


def test_quantiles_interpolate_in_their_bucket_and_refuse_the_open_one() -> None:
    buckets = [(1.0, 0.0), (2.0, 10.0), (float("inf"), 10.0)]
    assert quantile(0.5, buckets) == pytest.approx(1.5)
    assert quantile(0.99, [(1.0, 1.0), (float("inf"), 100.0)]) is None
    assert quantile(0.5, []) is None


@pytest.mark.parametrize(
    ("parts", "port", "own", "workers"),
    [
        (("connectors", "prompts", "conflicts", "sinks", "web"), 9100, 9100,
         {"prompts": 9101, "conflicts": 9102}),
        (("conflicts",), 9100, None, {"conflicts": 9100}),  # the pod's one port
        (("sinks",), 9100, 9100, {}),
    ],
)  # fmt: skip
def test_run_gives_itself_and_each_worker_a_metrics_port(
    parts: tuple[str, ...], port: int, own: int | None, workers: dict[str, int]
) -> None:
    assert metrics_ports(parts, port) == (own, workers)


def test_with_port_zero_run_binds_a_free_port_per_worker_and_hands_each_its_socket(
    tmp_path: Any,
) -> None:
    own, ports = metrics_ports(("connectors", "prompts", "conflicts"), 0)
    assert own == 0
    assert ports == {"prompts": 0, "conflicts": 0}  # found when bound, not guessed beforehand
    sockets = {name: listen("127.0.0.1", port) for name, port in ports.items()}
    try:
        bound = {s.getsockname()[1] for s in sockets.values()}
        assert len(bound) == 2
        assert 0 not in bound
        children = worker_children(("prompts", "conflicts"), tmp_path, sockets, "10.0.0.5")
        for child in children:
            fd = sockets[child.name].fileno()
            assert child.argv[-4:] == ["--metrics-fd", str(fd), "--metrics-host", "10.0.0.5"]
            assert child.pass_fds == (fd,)
    finally:
        for sock in sockets.values():
            sock.close()
    info = RunInfo(parts=("prompts",), bootstrap="b:1", embedded_broker=False, data_dir=tmp_path)
    info.metrics_url = "http://127.0.0.1:9100"
    info.worker_metrics = {"prompts": "http://127.0.0.1:9101"}
    banner = "\n".join(info.lines())
    assert "http://127.0.0.1:9100/healthz" in banner
    assert "http://127.0.0.1:9101/metrics" in banner
