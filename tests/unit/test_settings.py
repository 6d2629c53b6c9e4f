"""Settings: every PENSIONX_* variable is read, checked, and a wrong one is named in the error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pensionx.errors import ConfigurationError
from pensionx.settings import VARIABLES, Settings, settings_table_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_mean_embedded_broker_and_sqlite_under_var() -> None:
    settings = Settings.from_env({})
    assert settings.embedded_broker
    assert settings.kafka_bootstrap_servers == ()
    assert settings.effective_database_url == "sqlite:///var/pensionx.db"
    assert settings.partitions == 6
    assert settings.log_format == "auto"


def test_values_are_parsed_and_normalised() -> None:
    settings = Settings.from_env(
        {
            "PENSIONX_KAFKA_BOOTSTRAP_SERVERS": "k1:9092, k2:9093",
            "PENSIONX_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "PENSIONX_KAFKA_SASL_USERNAME": "exchange",
            "PENSIONX_KAFKA_SASL_PASSWORD": "s3cret",
            "PENSIONX_PARTITIONS": "12",
            "PENSIONX_LOG_LEVEL": "debug",
            "PENSIONX_DATABASE_URL": "postgresql+psycopg://u:p@db/pensionx",
        }
    )
    assert settings.kafka_bootstrap_servers == ("k1:9092", "k2:9093")
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.partitions == 12
    assert settings.log_level == "DEBUG"
    assert not settings.embedded_broker
    assert settings.effective_database_url == "postgresql+psycopg://u:p@db/pensionx"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PENSIONX_PARTITIONS", "0"),
        ("PENSIONX_PARTITIONS", "many"),
        ("PENSIONX_REPLICATION_FACTOR", "-1"),
        ("PENSIONX_KAFKA_SECURITY_PROTOCOL", "TLS"),
        ("PENSIONX_KAFKA_SASL_MECHANISM", "GSSAPI"),
        ("PENSIONX_KAFKA_BOOTSTRAP_SERVERS", "kafka-without-port"),
        ("PENSIONX_KAFKA_BOOTSTRAP_SERVERS", "kafka:99999"),
        ("PENSIONX_DATABASE_URL", "mysql://db/x"),
        ("PENSIONX_DATABASE_URL", "postgresql://"),
        ("PENSIONX_SCHEMA_REGISTRY_URL", "registry:8081"),
        ("PENSIONX_LOG_FORMAT", "xml"),
        ("PENSIONX_LOG_LEVEL", "LOUD"),
        ("PENSIONX_BROKER_PORT", "70000"),
    ],
)
def test_a_wrong_value_fails_with_a_message_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")
    assert repr(value) in str(caught.value)


def test_sasl_without_credentials_is_refused_before_any_client_starts() -> None:
    with pytest.raises(ConfigurationError, match="PENSIONX_KAFKA_SASL_USERNAME"):
        Settings.from_env(
            {
                "PENSIONX_KAFKA_BOOTSTRAP_SERVERS": "k:9092",
                "PENSIONX_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            }
        )


def test_the_embedded_broker_cannot_be_asked_for_tls() -> None:
    with pytest.raises(ConfigurationError, match="embedded broker only speaks PLAINTEXT"):
        Settings.from_env({"PENSIONX_KAFKA_SECURITY_PROTOCOL": "SSL"})


def test_secrets_are_never_in_repr_or_redacted_output() -> None:
    settings = Settings.from_env(
        {
            "PENSIONX_KAFKA_BOOTSTRAP_SERVERS": "k:9092",
            "PENSIONX_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "PENSIONX_KAFKA_SASL_USERNAME": "exchange",
            "PENSIONX_KAFKA_SASL_PASSWORD": "hunter2-password",
            "PENSIONX_DATABASE_URL": "postgresql+psycopg://u:dbpass@db/x",
        }
    )
    assert "hunter2-password" not in repr(settings)
    assert "dbpass" not in repr(settings)
    shown = str(settings.redacted())
    assert "hunter2-password" not in shown
    assert "dbpass" not in shown
    assert settings.redacted()["kafka_sasl_password"] == "***"


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.partitions = 3  # type: ignore[misc]


def test_every_variable_fills_a_settings_field() -> None:
    fields = set(Settings.__dataclass_fields__)
    assert {v.attr for v in VARIABLES} == fields


def test_the_readme_settings_table_is_the_generated_one() -> None:
    """The README documents every setting exactly as the code declares it."""
    readme = README.read_text("utf-8")
    assert settings_table_markdown() in readme, (
        "README's settings table is stale: replace it with `pensionx settings --markdown`"
    )
    documented = set(re.findall(r"`(PENSIONX_[A-Z_]+)`", readme))
    assert {v.env for v in VARIABLES} <= documented
