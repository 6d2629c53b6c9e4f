"""docker-compose.yml and deploy/ cannot rot unnoticed: no Docker engine runs here, so the files
are parsed and every `pensionx` command and PENSIONX_* variable they use is checked against the
real CLI and the real settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pensionx.cli import build_parser
from pensionx.settings import VARIABLES

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {v.env for v in VARIABLES}


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    return data


def _is_real_pensionx_command(argv: list[str]) -> bool:
    assert argv[0] == "pensionx", argv
    parser = build_parser()
    try:
        parser.parse_args(argv[1:])
    except SystemExit:
        return False
    return True


def _exchange_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return {
        name: svc
        for name, svc in services.items()
        if str(svc.get("image", "")).startswith("pension-exchange")
    }


def test_compose_has_the_production_stack() -> None:
    services = _compose()["services"]
    kafka = [s for s in services.values() if str(s.get("image", "")).startswith("apache/kafka")]
    assert len(kafka) == 3, "three KRaft brokers"
    for node in kafka:
        env = node["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
    assert any("schema-registry" in str(s.get("image", "")) for s in services.values())
    assert any(str(s.get("image", "")).startswith("postgres") for s in services.values())
    assert _exchange_services(), "the exchange's own processes"


@pytest.mark.parametrize("name", sorted(_exchange_services()))
def test_each_exchange_service_runs_a_real_pensionx_subcommand(name: str) -> None:
    svc = _exchange_services()[name]
    assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / svc["build"]["dockerfile"]).is_file()
    command = svc["command"]
    assert isinstance(command, list), "exec form, so no shell re-parses arguments"
    assert _is_real_pensionx_command(command), f"{name}: {command} is not a pensionx command"


@pytest.mark.parametrize("name", sorted(_exchange_services()))
def test_each_pensionx_variable_in_compose_is_a_real_setting(name: str) -> None:
    env = _exchange_services()[name]["environment"]
    used = {k for k in env if k.startswith("PENSIONX_")}
    assert used, "the services are configured through settings"
    assert used <= SETTINGS, f"unknown settings: {sorted(used - SETTINGS)}"


def test_the_dockerfile_uses_real_settings_and_a_real_command() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text("utf-8")
    used = set(re.findall(r"\b(PENSIONX_[A-Z_]+)=", text))
    assert used <= SETTINGS
    cmd = re.search(r'^CMD \[(.*)\]$', text, re.MULTILINE)
    assert cmd is not None
    argv = [a.strip().strip('"') for a in cmd.group(1).split(",")]
    assert _is_real_pensionx_command(argv)


def test_the_checker_rejects_a_made_up_subcommand() -> None:
    """The compose check above would catch a renamed or removed subcommand."""
    assert not _is_real_pensionx_command(["pensionx", "no-such-command"])
