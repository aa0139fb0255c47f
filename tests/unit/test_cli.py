"""The `pantau` command: help lists commands and variables, catalog problems are reported."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from pantau.cli import main, start
from pantau.settings import CommonSettings


class ExampleSettings(CommonSettings):
    """A process's own settings beside the common ones."""

    example_port: int = 1


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Whatever `start` does to the root logger is undone after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


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


def test_an_unknown_log_level_is_a_clear_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    """`PANTAU_LOG_LEVEL=LOUD` is reported as bad configuration (exit 2), not a traceback."""
    monkeypatch.setenv("PANTAU_LOG_LEVEL", "LOUD")
    assert main(["catalog"]) == 2
    err = capsys.readouterr().err
    assert "bad configuration" in err
    assert "unknown log level 'LOUD': use DEBUG, INFO, WARNING or ERROR" in err
    assert "Traceback" not in err


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


def test_start_builds_the_settings_and_configures_logging(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    """A process's start reads its own PANTAU_* variables and logs in the one format, at the
    level and under the service name its settings give."""
    monkeypatch.setenv("PANTAU_EXAMPLE_PORT", "7")
    monkeypatch.setenv("PANTAU_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("PANTAU_LOG_FORMAT", "json")
    settings = start("example", "An example process.", ExampleSettings, [])
    assert isinstance(settings, ExampleSettings)
    assert settings.example_port == 7
    logging.getLogger("pantau.example").info("not at WARNING")
    logging.getLogger("pantau.example").warning("started")
    [line] = [json.loads(text) for text in capsys.readouterr().err.splitlines()]
    assert (line["service"], line["message"]) == ("example", "started")


def test_start_help_shows_the_command_and_its_description(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`pantau <process> --help` prints the usage and description and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        start("example", "An example process.", ExampleSettings, ["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: pantau example [-h]")
    assert "An example process." in out


def test_start_refuses_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    """A process takes no arguments: any is a usage error (exit 2), before settings are read."""
    with pytest.raises(SystemExit) as exit_info:
        start("example", "An example process.", ExampleSettings, ["--port", "9"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --port 9" in capsys.readouterr().err
