"""`pantau erase` refuses what would put personal data into the record, before touching anything."""

from __future__ import annotations

import pytest

from pantau.erasure import erase_main


def test_a_raw_nik_as_the_applicant_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """An operator who pastes the NIK gets exit 2 and a pointer to the ref, and the NIK is not
    echoed."""
    nik = "3573010101900001"
    assert erase_main(["--applicant", nik, "--by", "ppid", "--reason", "PDP-7"]) == 2
    out = capsys.readouterr()
    assert "never a raw NIK" in out.err
    assert nik not in out.err + out.out


def test_a_reason_naming_a_nik_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """Who and why go into a record kept for ever: a NIK there is refused (exit 2) before any key
    is destroyed, so no broker or ClickHouse is needed to refuse it."""
    code = erase_main(
        ["--applicant", "k1:" + "ab" * 32, "--by", "ppid", "--reason", "NIK 3573010101900001"]
    )
    assert code == 2
    assert "raw NIK" in capsys.readouterr().err
