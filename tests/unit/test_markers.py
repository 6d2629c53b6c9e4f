"""The end-of-input marker protocol (services/markers.py): encoding, counting, partitions."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner as AiokafkaPartitioner

from services.markers import (
    Done,
    EndMarker,
    Expectation,
    MarkerError,
    MarkerTracker,
    is_marker,
    partition_for,
)

EXPECT = Expectation(direct=("commerce", "pension"), fan_in=("tax", "wages"), partitions=3)


def test_a_marker_round_trips_and_is_recognised_by_its_key_alone() -> None:
    marker = EndMarker("run-1", "commerce", 2)
    assert marker.key() == b"__end__/run-1"
    assert is_marker(marker.key())
    assert EndMarker.parse(marker.key(), marker.value()) == marker
    assert not marker.value().startswith(b"\x00"), "a Confluent reader must refuse it"
    assert EndMarker.headers() == [("pensionx-marker", b"end")]


@pytest.mark.parametrize("key", [None, b"", b"91610302MA6X0001AF", b"__end_/x"])
def test_ordinary_keys_are_not_markers(key: bytes | None) -> None:
    assert not is_marker(key)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"__end__/run-1", b"not json"),
        (b"__end__/run-1", b'{"run_id": "run-1"}'),
        (b"__end__/other", EndMarker("run-1", "commerce", 0).value()),
        (b"__end__/run-1", None),
    ],
)
def test_a_marker_key_with_a_bad_value_is_refused(key: bytes, value: bytes | None) -> None:
    with pytest.raises(MarkerError):
        EndMarker.parse(key, value)


def test_done_round_trips() -> None:
    done = Done("prompts", "run-1", 2, 3, {"enterprises": 9, "prompts": 15})
    assert done.key() == b"done/prompts/run-1/2"
    assert Done.parse(done.value()) == done


def test_a_partition_needs_its_direct_markers_and_every_fan_in_partition() -> None:
    assert EXPECT.required(1) == {
        ("commerce", 1),
        ("pension", 1),
        *{("tax", p) for p in range(3)},
        *{("wages", p) for p in range(3)},
    }


def test_the_tracker_completes_once_per_full_round_of_markers() -> None:
    tracker = MarkerTracker(EXPECT)
    needed = sorted(EXPECT.required(1))
    results = [tracker.add(EndMarker("r", topic, p), at_partition=1) for topic, p in needed]
    assert results == [False] * (len(needed) - 1) + [True]
    # a marker of another partition or run does not count for this one
    assert not tracker.add(EndMarker("r", "commerce", 0), at_partition=0)
    # a resent round completes it again: the service answers again
    again = [tracker.add(EndMarker("r", topic, p), at_partition=1) for topic, p in needed]
    assert again[-1] is True
    assert not tracker.finished("r", 1)
    tracker.finish("r", 1)
    assert tracker.finished("r", 1)
    assert not tracker.finished("r", 0)


@pytest.mark.parametrize("partitions", [1, 3, 6, 7])
def test_partition_for_is_kafkas_default_partitioner(partitions: int) -> None:
    """The table's keys are found by partition: it must be the producers' own arithmetic."""
    every = list(range(partitions))
    for n in range(200):
        key = f"9161030{n:010d}X".encode()
        assert partition_for(key, partitions) == AiokafkaPartitioner()(key, every, every)
        assert partition_for(key.decode(), partitions) == partition_for(key, partitions)
