"""Client settings for kafka-python and for Faust/aiokafka, derived from :class:`Settings`.

One place decides timeouts and security so every producer, consumer, admin client and worker
behaves the same. Against the embedded Tansu broker a consumer-group join waits half the
client's session timeout (NOTES-KAFKA.md: 45 s default → ~23 s before the first message), so
there, and only there, sessions are short; against Apache Kafka the library defaults stand.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Any

from pensionx.errors import BrokerError
from pensionx.settings import Settings

# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH: the certificate is trusted but names another host.
_HOSTNAME_MISMATCH = 62
TLS_PROBE_TIMEOUT_S = 5.0

# Measured on Tansu: a 2 s session (heartbeat 0.5 s) joins in ~1 s and held up under load.
EMBEDDED_SESSION_TIMEOUT_MS = 2000
EMBEDDED_HEARTBEAT_INTERVAL_MS = 500


@dataclass(frozen=True)
class KafkaTarget:
    """Where the exchange's Kafka is and how to talk to it."""

    bootstrap_servers: tuple[str, ...]
    embedded: bool
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: str = ""
    ssl_cafile: str = ""

    @classmethod
    def from_settings(cls, settings: Settings, bootstrap: str | None = None) -> KafkaTarget:
        """``bootstrap`` is the embedded broker's address when the settings name none."""
        servers = settings.kafka_bootstrap_servers or ((bootstrap,) if bootstrap else ())
        return cls(
            bootstrap_servers=servers,
            embedded=settings.embedded_broker,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_username=settings.kafka_sasl_username,
            sasl_password=settings.kafka_sasl_password,
            ssl_cafile=settings.kafka_ssl_cafile,
        )

    @property
    def bootstrap(self) -> str:
        return ",".join(self.bootstrap_servers)

    def _security(self) -> dict[str, Any]:
        conf: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL_"):
            conf["sasl_mechanism"] = self.sasl_mechanism
            conf["sasl_plain_username"] = self.sasl_username
            conf["sasl_plain_password"] = self.sasl_password
        if self.ssl_cafile:
            conf["ssl_cafile"] = self.ssl_cafile
        return conf

    def admin_config(self) -> dict[str, Any]:
        """kafka-python KafkaAdminClient keyword arguments."""
        return {
            "bootstrap_servers": list(self.bootstrap_servers),
            "client_id": "pensionx-admin",
            "request_timeout_ms": 30000,
            **self._security(),
        }

    def producer_config(self, **overrides: Any) -> dict[str, Any]:
        """kafka-python KafkaProducer keyword arguments.

        Idempotence is off on purpose: duplicates are prevented by the exchange's own event ids,
        and kafka-python's idempotent producer breaks for good when the embedded broker restarts
        (``UnknownProducerIdError``), whereas a plain one recovers by itself (NOTES-KAFKA.md).
        """
        conf: dict[str, Any] = {
            "bootstrap_servers": list(self.bootstrap_servers),
            "client_id": "pensionx-producer",
            "acks": "all",
            "enable_idempotence": False,
            "linger_ms": 20,
            "batch_size": 256 * 1024,
            "retries": 5,
            # Several batches in flight: a retry may reorder them within a partition, which no
            # processor depends on (ledgers and enterprise states are order-independent).
            "max_in_flight_requests_per_connection": 5,
            **self._security(),
        }
        conf.update(overrides)
        return conf

    def consumer_config(self, group_id: str | None, **overrides: Any) -> dict[str, Any]:
        """kafka-python KafkaConsumer keyword arguments (manual commits: at-least-once)."""
        conf: dict[str, Any] = {
            "bootstrap_servers": list(self.bootstrap_servers),
            "group_id": group_id,
            "client_id": "pensionx-consumer",
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            **self._security(),
        }
        if self.embedded:
            conf["session_timeout_ms"] = EMBEDDED_SESSION_TIMEOUT_MS
            conf["heartbeat_interval_ms"] = EMBEDDED_HEARTBEAT_INTERVAL_MS
        conf.update(overrides)
        return conf

    def faust_config(self) -> dict[str, Any]:
        """Keyword arguments for ``faust.App`` (broker URL, credentials and timeouts)."""
        conf: dict[str, Any] = {
            "broker": ";".join(f"kafka://{s}" for s in self.bootstrap_servers),
        }
        if self.security_protocol != "PLAINTEXT":
            conf["broker_credentials"] = self._faust_credentials()
        if self.embedded:
            conf["broker_session_timeout"] = EMBEDDED_SESSION_TIMEOUT_MS / 1000
            conf["broker_heartbeat_interval"] = EMBEDDED_HEARTBEAT_INTERVAL_MS / 1000
        return conf

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context Faust/aiokafka get, and the one :meth:`check_tls` probes with: the
        CA of ``PENSIONX_KAFKA_SSL_CAFILE`` (else the system's), host names checked — as
        kafka-python builds its own from ``ssl_cafile``."""
        return ssl.create_default_context(cafile=self.ssl_cafile or None)

    def check_tls(self, timeout: float = TLS_PROBE_TIMEOUT_S) -> None:
        """With a TLS protocol, shake hands with each bootstrap server as the clients will, and
        raise :class:`BrokerError` saying which setting to fix if a broker is not trusted or
        does not speak TLS; a server that cannot be reached at all is left to the client.

        The Kafka clients only report "no brokers available" after their bootstrap timeout
        (30 s by default) and log the certificate error somewhere in between; this names it.
        """
        if not self.uses_tls:
            return
        context = self.ssl_context()
        for server in self.bootstrap_servers:
            host, _, port = server.rpartition(":")
            try:
                raw = socket.create_connection((host, int(port)), timeout=timeout)
            except OSError:
                continue  # not reachable: the client's own retry and error say so
            try:
                with context.wrap_socket(raw, server_hostname=host):
                    pass
            except ssl.SSLCertVerificationError as exc:
                raise BrokerError(self._untrusted(server, host, exc)) from exc
            except OSError as exc:  # reset, closed or silent: a plaintext listener, most likely
                detail = getattr(exc, "reason", None) or type(exc).__name__
                raise BrokerError(
                    f"the Kafka broker at {server} accepts connections but does not complete a "
                    f"TLS handshake ({detail}), and PENSIONX_KAFKA_SECURITY_PROTOCOL is "
                    f"{self.security_protocol}: use the brokers' TLS listener, or set the "
                    "protocol their listener speaks"
                ) from exc
            finally:
                raw.close()

    def _untrusted(self, server: str, host: str, exc: ssl.SSLCertVerificationError) -> str:
        reason = exc.verify_message or str(exc)
        if exc.verify_code == _HOSTNAME_MISMATCH:
            return (
                f"the TLS certificate of the Kafka broker at {server} does not name {host} "
                f"({reason}): list the brokers in PENSIONX_KAFKA_BOOTSTRAP_SERVERS by a name "
                "their certificates carry, or have the certificates reissued with it"
            )
        if self.ssl_cafile:
            return (
                f"the TLS certificate of the Kafka broker at {server} is not signed by the CA "
                f"in PENSIONX_KAFKA_SSL_CAFILE={self.ssl_cafile} ({reason}): point it at the PEM "
                "file of the CA that signed the brokers' certificates"
            )
        return (
            f"the TLS certificate of the Kafka broker at {server} is not trusted ({reason}): "
            "set PENSIONX_KAFKA_SSL_CAFILE to the PEM file of the CA that signed the brokers' "
            "certificates"
        )

    def _faust_credentials(self) -> Any:
        import faust

        context = self.ssl_context()
        if self.security_protocol == "SSL":
            return faust.SSLCredentials(context)
        mechanism = self.sasl_mechanism
        if mechanism == "PLAIN":
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                ssl_context=context if self.security_protocol == "SASL_SSL" else None,
            )
        return faust.SASLCredentials(
            username=self.sasl_username,
            password=self.sasl_password,
            mechanism=mechanism,
            ssl_context=context if self.security_protocol == "SASL_SSL" else None,
        )
