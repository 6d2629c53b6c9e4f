"""Reference data from configuration files: agencies and floors, or a start-up error naming the
variable — never letters with wrong contacts or a guessed floor."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from pensionx.errors import ConfigurationError
from pensionx.reference import agency_directory, floor_table
from pensionx.settings import Settings

CONTACT = {
    "name": "西安市碑林区社会保险经办中心",
    "name_en": "Beilin District Social Insurance Centre, Xi'an",
    "address": "西安市碑林区某路 1 号",
    "phone": "029-12333",
    "online_platform": "陕西省社会保险网上服务大厅",
    "online_platform_en": "Shaanxi social insurance online service hall",
}


def _settings(**files: str) -> Settings:
    return Settings.from_env({f"PENSIONX_{k.upper()}": v for k, v in files.items()})


def test_without_files_the_built_in_defaults_apply() -> None:
    settings = _settings()
    assert agency_directory(settings).lookup("610302").phone == "0917-12333"
    bounds = floor_table(settings).floor_for("610302", 2023)
    assert bounds is not None
    assert floor_table(settings).floor_for("610302", 2026) is None  # never guessed


def test_a_configured_agency_and_floor_are_used(tmp_path: Path) -> None:
    agencies = tmp_path / "agencies.json"
    agencies.write_text(json.dumps({"agencies": {"610103": CONTACT}}, ensure_ascii=False))
    floors = tmp_path / "floors.json"
    floors.write_text(
        json.dumps({"floors": {"61": {"2026": {"floor": "4500.50", "ceiling": "22502.50",
                                               "source": "陕人社函〔2026〕X号"}}}})
    )  # fmt: skip
    settings = _settings(agencies_file=str(agencies), floors_file=str(floors))
    assert agency_directory(settings).lookup("610103").name == CONTACT["name"]
    bounds = floor_table(settings).floor_for("610103", 2026)
    assert bounds is not None
    assert bounds.floor == Decimal("4500.50")
    assert bounds.source == "陕人社函〔2026〕X号"


@pytest.mark.parametrize(
    ("variable", "content"),
    [
        ("agencies_file", None),
        ("agencies_file", "{not json"),
        ("agencies_file", json.dumps({"agencies": {"610103": {"name": "missing fields"}}})),
        ("floors_file", json.dumps({"floors": {"61": {"2026": {"floor": "5", "ceiling": "4",
                                                               "source": "x"}}}})),
        ("floors_file", json.dumps({"floors": {"61": {"2026": {"floor": "4000"}}}})),
    ],
)  # fmt: skip
def test_an_unusable_file_stops_at_start_naming_the_variable(
    tmp_path: Path, variable: str, content: str | None
) -> None:
    path = tmp_path / "reference.json"
    if content is not None:
        path.write_text(content)
    settings = _settings(**{variable: str(path)})
    load = agency_directory if variable == "agencies_file" else floor_table
    with pytest.raises(ConfigurationError) as caught:
        load(settings)
    assert caught.value.variable == f"PENSIONX_{variable.upper()}"
