"""Faust agents get dataclasses in and send dataclasses out, through Faust's own codec API.

No broker: the codec is driven the way Faust drives a topic's ``value_serializer`` — through
``Codec.dumps/loads``, the ``faust.serializers.codecs`` functions and the serializer
``Registry`` a topic uses for ``loads_value``/``dumps_value``.
"""

from __future__ import annotations

import pytest
from faust.exceptions import ValueDecodeError
from faust.serializers import codecs
from faust.serializers.registry import Registry

from pensionx.avro import Codec, InMemorySchemaRegistry
from pensionx.avro.faust_codec import AvroTopicCodec
from pensionx.errors import SerializationError
from tests.unit.avro_samples import FULL

TOPIC = "audit.records.v1"


@pytest.fixture
def codec() -> Codec:
    return Codec(InMemorySchemaRegistry())


def test_dumps_writes_confluent_avro_and_loads_gives_the_dataclass(codec: Codec) -> None:
    faust_codec = AvroTopicCodec(codec, TOPIC)
    data = faust_codec.dumps(FULL["DeathRecorded"])
    assert data == codec.encode(TOPIC, FULL["DeathRecorded"])
    assert faust_codec.loads(data) == FULL["DeathRecorded"]


def test_fausts_module_level_codec_functions_accept_it(codec: Codec) -> None:
    faust_codec = AvroTopicCodec(codec, TOPIC)
    data = codecs.dumps(faust_codec, FULL["AwardCancelled"])
    assert codecs.loads(faust_codec, data) == FULL["AwardCancelled"]


def test_a_topics_serializer_registry_passes_the_dataclass_through(codec: Codec) -> None:
    """With ``value_type=None`` Faust hands the agent exactly what the codec decoded."""
    registry = Registry(value_serializer=AvroTopicCodec(codec, TOPIC))
    data = registry.dumps_value(None, FULL["BenefitAwarded"])
    assert isinstance(data, bytes)
    assert registry.loads_value(None, data) == FULL["BenefitAwarded"]


def test_clone_keeps_the_topic_and_the_shared_codec(codec: Codec) -> None:
    faust_codec = AvroTopicCodec(codec, TOPIC)
    clone = faust_codec.clone()
    assert isinstance(clone, AvroTopicCodec)
    assert (clone.codec, clone.topic) == (codec, TOPIC)


def test_a_bad_payload_reaches_faust_as_a_decode_error_caused_by_ours(codec: Codec) -> None:
    registry = Registry(value_serializer=AvroTopicCodec(codec, TOPIC))
    with pytest.raises(ValueDecodeError) as caught:
        registry.loads_value(None, b'{"json": true}')
    assert isinstance(caught.value.__cause__, SerializationError)
    assert "magic byte" in str(caught.value)


def test_sending_the_wrong_record_type_fails_before_anything_is_produced(codec: Codec) -> None:
    with pytest.raises(SerializationError, match=r"carries .* not ContributionPaid"):
        AvroTopicCodec(codec, TOPIC).dumps(FULL["ContributionPaid"])
