"""Configuration of `pantau alerts`, from `PANTAU_*` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from pantau.settings import CommonSettings


class AlertsSettings(CommonSettings):
    """The operators' API, its dashboard, and webhook routing."""

    alerts_host: str = Field("127.0.0.1", description="address the alerts API listens on")
    alerts_port: int = Field(8001, ge=1, le=65535, description="port of the alerts API")
    operators: Path | None = Field(
        None,
        description="YAML file of operators and their token digests (required by `pantau alerts`)",
    )
    alert_routes: Path | None = Field(
        None, description="YAML file of routes that send alerts to webhooks (none: no webhooks)"
    )
    alerts_deliver: bool = Field(
        True, description="deliver webhooks from this instance (set false on all but one)"
    )
    webhook_timeout: float = Field(
        5.0, gt=0, le=120, description="seconds before a webhook call counts as failed"
    )
    webhook_attempts: int = Field(
        5, ge=1, le=20, description="webhook attempts before an alert is dead-lettered"
    )
    webhook_backoff: float = Field(
        1.0, gt=0, le=300, description="seconds before the first retry; doubles on each retry"
    )

    @field_validator("operators", "alert_routes", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `PANTAU_OPERATORS=` in a shell or compose file means "not set", not the current folder.
        return None if value == "" else value

    @property
    def deliveries_topic(self) -> str:
        """Internal compacted topic of final webhook outcomes, one per (alert, target)."""
        return f"{self.topic_prefix}alerts-deliveries"
