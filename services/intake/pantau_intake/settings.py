"""The intake's configuration: where it listens, whose keys it trusts, and how much it accepts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from pantau.core.pseudonym import MIN_KEY_BYTES, PseudonymKey
from pantau.core.sealing import MasterKey
from pantau.settings import SealingSettings

MAX_BODY_BYTES = 1024 * 1024  # the contract's 1 MiB
MAX_BATCH_EVENTS = 1000  # the contract's largest batch


class ConfigurationError(Exception):
    """The intake cannot start with this configuration; the message says what to fix."""


class IntakeSettings(SealingSettings):
    """`PANTAU_*` variables of `pantau intake`, beyond the common ones."""

    intake_host: str = Field("127.0.0.1", description="address the intake listens on")
    intake_port: int = Field(8000, ge=1, le=65535, description="port the intake listens on")
    api_keys: Path | None = Field(
        None, description="YAML file of agency API keys: keys: [{agency, sha256}] (required)"
    )
    pseudonym_key: SecretStr | None = Field(
        None,
        description=f"secret for applicant NIK pseudonyms, >= {MIN_KEY_BYTES} bytes (required)",
    )
    pseudonym_key_version: str = Field(
        "k1", description="version prefix of the pseudonyms made with PANTAU_PSEUDONYM_KEY"
    )
    intake_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="worker processes sharing the port; the rate limit and the burst are split "
        "evenly between them, the in-flight limit holds per worker",
    )
    intake_rate: float = Field(
        500.0, gt=0, description="events per second each agency may send (token bucket refill)"
    )
    intake_burst: int = Field(
        2000, ge=1, description="events an agency may send at once (token bucket size)"
    )
    intake_max_in_flight: int = Field(
        256,
        ge=1,
        description="POST /v1/events requests handled at once (waiting on Kafka, mostly); "
        "beyond, 503 with Retry-After",
    )
    intake_publish_timeout: float = Field(
        5.0, gt=0, le=120, description="seconds to wait for Kafka to acknowledge before a 503"
    )
    intake_request_timeout: float = Field(
        15.0, gt=0, le=300, description="seconds a client may take to send its request body"
    )

    def sealing(self) -> MasterKey | None:
        """The master key when personal data is to be sealed, or ConfigurationError."""
        try:
            return self.master()
        except ValueError as error:
            raise ConfigurationError(f"PANTAU_MASTER_KEY: {error}") from None

    def pseudonym(self) -> PseudonymKey:
        """The pseudonym key, or ConfigurationError saying what is wrong with it."""
        if self.pseudonym_key is None or not self.pseudonym_key.get_secret_value():
            raise ConfigurationError(
                "PANTAU_PSEUDONYM_KEY is not set: the intake must replace every applicant NIK "
                f"by a keyed pseudonym; set a secret of at least {MIN_KEY_BYTES} bytes"
            )
        secret = self.pseudonym_key.get_secret_value().encode("utf-8")
        if len(secret) < MIN_KEY_BYTES:
            raise ConfigurationError(
                f"PANTAU_PSEUDONYM_KEY is {len(secret)} bytes; it must be at least "
                f"{MIN_KEY_BYTES} bytes so that pseudonyms cannot be reversed by guessing"
            )
        try:
            return PseudonymKey(secret, self.pseudonym_key_version)
        except ValueError as error:
            raise ConfigurationError(f"PANTAU_PSEUDONYM_KEY_VERSION: {error}") from None

    def api_keys_file(self) -> Path:
        """The API key file, or ConfigurationError when it is not configured."""
        if self.api_keys is None:
            raise ConfigurationError(
                "PANTAU_API_KEYS is not set: name the YAML file of agency keys "
                "(keys: [{agency: <code>, sha256: <hex of the key>}])"
            )
        return self.api_keys
