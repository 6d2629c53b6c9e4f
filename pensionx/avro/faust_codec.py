"""A Faust codec per topic, so agents receive domain dataclasses and send them as they are.

Faust hands a topic's ``value_serializer`` the raw bytes and takes back whatever it returns,
so an agent over ``app.topic(name, value_serializer=AvroTopicCodec(codec, name))`` iterates
over ``ContributionPaid`` (etc.) instances and ``topic.send(value=prompt)`` writes Confluent
Avro, with no Faust ``Record`` models duplicating the dataclasses. Use ``value_type=None``
(the default): Faust then passes the decoded value through untouched.
"""

from __future__ import annotations

from typing import Any

from faust.serializers.codecs import Codec as FaustCodec

from pensionx.avro.codec import Codec


class AvroTopicCodec(FaustCodec):
    """Faust codec for one topic's values, backed by a shared :class:`Codec`.

    The shared codec holds the registry and the parsed schemas, so one per process serves
    every topic; this wrapper only remembers which topic it is for. Errors surface as
    :class:`~pensionx.errors.SerializationError` (Faust wraps them in ``ValueDecodeError``
    on the consuming side, keeping ours as the cause).
    """

    def __init__(self, codec: Codec, topic: str, **kwargs: Any) -> None:
        # Faust's clone() rebuilds a codec from its kwargs, so ours go there too.
        super().__init__(codec=codec, topic=topic, **kwargs)
        self.codec = codec
        self.topic = topic

    def _dumps(self, s: Any) -> bytes:
        return self.codec.encode(self.topic, s)

    def _loads(self, s: bytes) -> Any:
        return self.codec.decode(self.topic, s)
