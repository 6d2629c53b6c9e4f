"""Reference data from configuration: the agencies that serve each region, and the base floors.

Both are operators' data, not code: contacts change, and each province publishes its floor and
ceiling once a year. ``PENSIONX_AGENCIES_FILE`` and ``PENSIONX_FLOORS_FILE`` name JSON files
(formats in docs/configuration.md); left empty, the built-in defaults apply — illustrative
Shaanxi/Baoji contacts, and only Shaanxi's 2023 floor — and a region-year without a figure is
skipped and reported, never guessed. A file that cannot be used stops the process at start,
naming the variable, rather than producing letters with wrong contacts later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pensionx.core.agencies import AgencyDirectory, default_directory
from pensionx.core.floors import FloorTable, default_floor_table
from pensionx.errors import ConfigurationError
from pensionx.settings import Settings


def _load(variable: str, path_text: str) -> Any:
    path = Path(path_text)
    try:
        return json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigurationError(
            variable, f"cannot read {path} ({exc.strerror})", "Check the path, or leave it empty."
        ) from exc
    except ValueError as exc:
        raise ConfigurationError(
            variable,
            f"{path} is not valid JSON ({exc})",
            "Fix the file (see docs/configuration.md).",
        ) from exc


def agency_directory(settings: Settings) -> AgencyDirectory:
    """The configured directory, or the built-in illustrative one."""
    if not settings.agencies_file:
        return default_directory()
    data = _load("PENSIONX_AGENCIES_FILE", settings.agencies_file)
    try:
        return AgencyDirectory.from_config(data["agencies"], data.get("fallback"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigurationError(
            "PENSIONX_AGENCIES_FILE",
            f"{settings.agencies_file} does not describe agencies ({type(exc).__name__}: {exc})",
            "Each entry under 'agencies' needs name, name_en, address, phone, online_platform and "
            "online_platform_en (see docs/configuration.md).",
        ) from exc


def floor_table(settings: Settings) -> FloorTable:
    """The configured floors and ceilings, or the built-in table (Shaanxi 2023 only)."""
    if not settings.floors_file:
        return default_floor_table()
    data = _load("PENSIONX_FLOORS_FILE", settings.floors_file)
    try:
        return FloorTable.from_config(data["floors"])
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise ConfigurationError(
            "PENSIONX_FLOORS_FILE",
            f"{settings.floors_file} does not describe floors ({exc.__class__.__name__}: {exc})",
            "Each province-year needs floor, ceiling (0 < floor < ceiling) and its published "
            "source (see docs/configuration.md).",
        ) from exc
