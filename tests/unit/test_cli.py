"""The `pantau` command: help lists commands and variables, catalog problems are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from pantau.cli import main


def test_help_lists_commands_and_environment(capsys: pytest.CaptureFixture[str]) -> None:
    """`pantau --help` names the bootstrap command and the common PANTAU_* variables."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "bootstrap" in out
    for var in ("PANTAU_KAFKA", "PANTAU_TOPIC_PREFIX", "PANTAU_CLICKHOUSE", "PANTAU_CATALOG"):
        assert var in out


def test_processes_lists_only_long_running_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """`pantau processes` never lists one-off tools such as bootstrap or catalog."""
    assert main(["processes"]) == 0
    listed = capsys.readouterr().out.split()
    assert "bootstrap" not in listed
    assert "catalog" not in listed


def test_catalog_command_accepts_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    """`pantau catalog` validates the sample catalog and lists its agencies."""
    assert main(["catalog"]) == 0
    out = capsys.readouterr().out
    assert "valid" in out
    assert "kota-malang.dpmptsp" in out


def test_catalog_command_names_file_entry_and_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken catalog exits 1 with every problem on its own line, file and entry first."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("agencies:\n  - {code: kota-x.dinas, name: n, calendar: nope}\n")
    assert main(["catalog", str(broken)]) == 1
    err = capsys.readouterr().err
    assert f"{broken}: agencies[" in err
    assert "nope" in err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown command exits with argparse's usage error, listing the choices."""
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
