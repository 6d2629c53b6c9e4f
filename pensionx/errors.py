"""The project's exception hierarchy.

Every error a user can meet is a :class:`PensionxError` whose message says what went wrong and
what to do about it, in plain words. The command line prints that message and exits non-zero
instead of a traceback; callers catch by meaning (a bad setting, a broker that will not start,
a payload that does not decode) rather than by the library that raised it.
"""

from __future__ import annotations


class PensionxError(Exception):
    """Base of every error the exchange raises on purpose; its text is meant for a person."""


class ConfigurationError(PensionxError):
    """A setting (a ``PENSIONX_*`` environment variable) has a value the exchange cannot use."""

    def __init__(self, variable: str, problem: str, hint: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}. {hint}")


class BrokerError(PensionxError):
    """The Kafka broker could not be started, reached or administered."""


class EmbeddedBrokerError(BrokerError):
    """The embedded Tansu broker could not be found or started."""


class SerializationError(PensionxError):
    """A value could not be encoded to, or decoded from, the Confluent Avro wire format."""


class SchemaRegistryError(PensionxError):
    """The schema registry refused a schema, or does not know an id or subject."""


class DatabaseError(PensionxError):
    """The database could not be reached or migrated."""
