"""Configuration of `pantau status`, from `PANTAU_*` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from pantau.settings import CommonSettings
from pantau_status.domain.codes import MIN_KEY_BYTES


class StatusSettings(CommonSettings):
    """The applicants' status page and its JSON API."""

    status_host: str = Field("127.0.0.1", description="address the status page listens on")
    status_port: int = Field(8002, ge=1, le=65535, description="port of the status page")
    status_key: SecretStr | None = Field(
        None,
        description=f"secret the receipts' check codes derive from, >= {MIN_KEY_BYTES} bytes "
        "(required)",
    )
    status_tries_per_minute: float = Field(
        6.0, gt=0, description="lookups and reports per minute per client address (refill)"
    )
    status_tries_burst: int = Field(
        20, ge=1, description="lookups and reports a client address may make at once"
    )
    api_keys: Path | None = Field(
        None, description="YAML file of agency API keys: keys: [{agency, sha256}] (required)"
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value
