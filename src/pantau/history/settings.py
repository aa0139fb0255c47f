"""The checkpoint settings `pantau sink` and `pantau verify` share."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from pantau.settings import REPO_DIR, CommonSettings


class CheckpointSettings(CommonSettings):
    """Where signed chain-head checkpoints live, outside ClickHouse, and the key that signs them."""

    checkpoint_key: SecretStr | None = Field(
        None, description="HMAC key signing chain checkpoints; unset: no checkpoints"
    )
    checkpoint_dir: Path = Field(
        REPO_DIR / ".local" / "checkpoints",
        description="directory of the signed checkpoint files (JSON lines), outside ClickHouse",
    )
