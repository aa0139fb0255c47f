"""`PANTAU_*` settings of the traffic tools (`pantau simulate`, `pantau replay`, `pantau evaluate`).

The long-running `pantau simulate` of `make up` is configured only by these variables; bounded
runs and the other tools take their own arguments, which override them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field

from pantau.settings import CommonSettings

Route = Literal["kafka", "http"]


class SimulateSettings(CommonSettings):
    """How simulated (or replayed) traffic reaches the stack, and how much of it there is."""

    simulate_via: Route = Field(
        "kafka", description="kafka (straight to the events topic) or http (through the intake)"
    )
    simulate_cases_per_day: float = Field(
        200.0, gt=0, description="simulated case arrivals per working day, across all services"
    )
    simulate_anomaly_rate: float = Field(
        0.05, ge=0, le=1, description="share of simulated cases with one planted anomaly"
    )
    simulate_seed: int = Field(0, description="seed of the simulation (same seed, same traffic)")
    simulate_warmup_cases: int = Field(
        200, ge=0, description="live mode: recent history sent as backfill before going live"
    )
    intake_url: str = Field("http://127.0.0.1:8000", description="the HTTP intake's base URL")
    simulate_api_keys: Path | None = Field(
        None, description="YAML of raw agency keys for --via http: keys: [{agency, key}]"
    )


def read_api_keys(path: Path) -> dict[str, str]:
    """`{agency: raw key}` from `keys: [{agency, key}]`; ValueError naming what is wrong."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected keys: [{{agency: <code>, key: <raw key>}}]")
    keys: dict[str, str] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {"agency", "key"} <= set(entry):
            raise ValueError(f"{path}: keys[{index}] needs agency and key")
        keys[str(entry["agency"])] = str(entry["key"])
    return keys
