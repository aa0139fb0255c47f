"""`pantau sql` and `pantau report sla` against the known history on the 18.16 server."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

from integration.history.engines import ServerEngine
from stacks import CLICKHOUSE_PORT


def _pantau(
    engine: ServerEngine, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PANTAU_CLICKHOUSE": f"clickhouse://auditor@127.0.0.1:{CLICKHOUSE_PORT}/{engine.database}",
    }
    return subprocess.run(
        [sys.executable, "-m", "pantau.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_sql_prints_an_aligned_table(server_engine: ServerEngine) -> None:
    """`pantau sql` prints the columns, the rows and a row count."""
    result = _pantau(
        server_engine,
        "sql",
        "SELECT case_id, status, breached FROM v_cases WHERE breached = 1 ORDER BY case_id",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["case_id", "status", "breached"]
    assert lines[2].split() == ["R-1", "closed", "1"]
    assert lines[-1] == "(1 row)"


def test_sql_prints_csv(server_engine: ServerEngine) -> None:
    """`pantau sql --csv` prints CSV with a header, NULL for absent values."""
    result = _pantau(
        server_engine,
        "sql",
        "--csv",
        "SELECT case_id, closed_at FROM v_cases "
        "WHERE case_id IN ('PBG-1', 'PBG-3') ORDER BY case_id",
    )
    assert result.returncode == 0, result.stderr
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["case_id", "closed_at"],
        ["PBG-1", "2026-11-09 02:00:00"],
        ["PBG-3", "NULL"],
    ]


def test_sql_reports_a_refused_write_as_the_auditor(server_engine: ServerEngine) -> None:
    """A write as the read-only auditor fails with the server's reason and exit status 1."""
    result = _pantau(server_engine, "sql", "DROP TABLE events")
    assert result.returncode == 1
    assert "readonly" in result.stderr


def test_report_sla_prints_the_month_and_draws_a_png(
    server_engine: ServerEngine, tmp_path: Path
) -> None:
    """`pantau report sla` prints each service's compliance and a total, which limits it
    judged, and writes a PNG. PBG-2 closed within the service limit but approved after its
    step limit: it is not within the standard. The limits shown are the standards in force:
    version 2 of the known history, PBG at 20 working days."""
    result = _pantau(
        server_engine,
        "report",
        "sla",
        "--agency",
        "kota-malang.dpmptsp",
        "--month",
        "2026-11",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["pbg", "service+steps", "2", "1", "0", "1", "50.0"] in rows
    assert ["slf", "service+steps", "1", "1", "0", "0", "100.0"] in rows
    assert ["all", "services", "3", "2", "0", "1", "66.7"] in rows
    assert (
        "  pbg: service 20 working_days; steps verified 3 working_days, approved 5 working_days"
        in result.stdout.splitlines()
    )
    chart = tmp_path / "sla-kota-malang.dpmptsp-2026-11.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_sla_counts_the_service_limit(server_engine: ServerEngine, tmp_path: Path) -> None:
    """R-1 closed past its service limit: counted there, not among the step-limit cases."""
    result = _pantau(
        server_engine, "report", "sla", "--agency", "kab-sleman.dpmptsp", "--month", "2026-11",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["reklame-insidentil", "service+steps", "1", "0", "1", "0", "0.0"] in rows


def test_report_sla_rejects_a_malformed_month(server_engine: ServerEngine) -> None:
    """A month not written YYYY-MM is refused before any query."""
    result = _pantau(server_engine, "report", "sla", "--agency", "x", "--month", "11/2026")
    assert result.returncode == 2
    assert "YYYY-MM" in result.stderr
