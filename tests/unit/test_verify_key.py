"""`pantau verify` with an empty checkpoint key says the key is missing, not ALTERED."""

from __future__ import annotations

from pathlib import Path

import pytest

from pantau.history import verify


def test_empty_checkpoint_key_is_reported_as_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PANTAU_CHECKPOINT_KEY", "")
    monkeypatch.setenv("PANTAU_CHECKPOINT_DIR", str(tmp_path))

    def no_store(*args: object, **kwargs: object) -> None:
        raise AssertionError("verify must not reach ClickHouse with an empty key")

    monkeypatch.setattr(verify, "connect", no_store)
    status = verify.main([])
    out, err = capsys.readouterr()
    assert status == 2
    assert "PANTAU_CHECKPOINT_KEY is set but empty" in err
    assert "ALTERED" not in out + err
