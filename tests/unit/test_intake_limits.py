"""The intake's token buckets and API key file, without HTTP."""

from __future__ import annotations

import re

import pytest

from pantau_intake.api_keys import AgencyKeyring, key_digest
from pantau_intake.domain.rate_limit import AgencyRateLimiter
from pantau_intake.settings import ConfigurationError


def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    """A full bucket gives `burst` events at once, then `rate` events per second."""
    limiter = AgencyRateLimiter(rate=2.0, burst=4)
    assert limiter.take("a", 4, now=0.0).allowed
    refused = limiter.take("a", 1, now=0.0)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(0.5)
    assert refused.retry_after_header == "1"
    assert limiter.take("a", 1, now=0.5).allowed
    assert not limiter.take("a", 2, now=0.9).allowed
    assert limiter.take("a", 2, now=10.0).allowed


def test_buckets_are_per_agency() -> None:
    """One agency spending its bucket does not limit another."""
    limiter = AgencyRateLimiter(rate=1.0, burst=2)
    assert limiter.take("a", 2, now=0.0).allowed
    assert limiter.take("b", 2, now=0.0).allowed


def test_request_larger_than_the_burst_is_never_allowed() -> None:
    """A batch larger than the bucket is refused and flagged so the message can say why."""
    decision = AgencyRateLimiter(rate=100.0, burst=10).take("a", 11, now=0.0)
    assert not decision.allowed
    assert decision.never


def test_keyring_maps_keys_to_agencies_and_supports_rotation() -> None:
    """Two keys of one agency both authenticate it; an unknown or empty key does not."""
    text = (
        "keys:\n"
        f"  - {{agency: kota-malang.dpmptsp, sha256: {key_digest('old-key')}}}\n"
        f"  - {{agency: kota-malang.dpmptsp, sha256: {key_digest('new-key')}}}\n"
        f"  - {{agency: kab-sleman.dpmptsp, sha256: {key_digest('sleman-key').upper()}}}\n"
    )
    keyring = AgencyKeyring.from_yaml(text, "keys.yaml")
    assert keyring.agency_for("old-key") == "kota-malang.dpmptsp"
    assert keyring.agency_for("new-key") == "kota-malang.dpmptsp"
    assert keyring.agency_for("sleman-key") == "kab-sleman.dpmptsp"
    assert keyring.agency_for("other") is None
    assert keyring.agency_for("") is None
    assert keyring.agency_for("x" * 10_000) is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("keys: []", "expected `keys:`"),
        ("nonsense: [", "not valid YAML"),
        ("keys:\n  - {agency: Bad Agency, sha256: " + "a" * 64 + "}", "keys[0]: agency"),
        ("keys:\n  - {agency: kota-malang.dpmptsp, sha256: abc}", "keys[0]: sha256"),
        ("keys:\n  - {agency: kota-malang.dpmptsp, key: secret}", "exactly the fields"),
        (
            "keys:\n"
            "  - {agency: kota-malang.dpmptsp, sha256: " + "a" * 64 + "}\n"
            "  - {agency: kab-sleman.dpmptsp, sha256: " + "a" * 64 + "}",
            "more than once",
        ),
    ],
)
def test_bad_key_files_are_refused_with_a_message(text: str, needle: str) -> None:
    """A malformed key file stops the intake with a message naming the entry."""
    with pytest.raises(ConfigurationError, match=re.escape(needle)):
        AgencyKeyring.from_yaml(text, "keys.yaml")


def test_pantau_intake_refuses_to_start_without_a_pseudonym_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pantau intake` exits with 2 and says which variable to set, before listening anywhere."""
    from pantau_intake.main import main

    monkeypatch.setenv("PANTAU_API_KEYS", "deploy/dev-api-keys.yaml")
    monkeypatch.delenv("PANTAU_PSEUDONYM_KEY", raising=False)
    assert main([]) == 2
    assert "PANTAU_PSEUDONYM_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("PANTAU_PSEUDONYM_KEY", "short")
    assert main([]) == 2
    assert "at least 16 bytes" in capsys.readouterr().err
