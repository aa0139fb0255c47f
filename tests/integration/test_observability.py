"""deploy/observability/: promtool accepts the rules and the scrape config, the rules fire as
their tests say, and every metric the rules and the dashboard name exists on a live process."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts_harness import AlertsProcess, write_operators
from integration.history.sink_process import SinkProcess
from ports import free_port
from stacks import stop_process, wait_answering
from tracker_harness import TrackerProcess, fresh_topics

REPO = Path(__file__).resolve().parents[2]
OBSERVABILITY = REPO / "deploy" / "observability"
PANTAU = REPO / ".venv" / "bin" / "pantau"
MALANG_KEY = "dev-kota-malang.dpmptsp"
# Names PromQL itself provides, not a process.
BUILTIN = {"up"}

pytestmark = pytest.mark.integration


def promtool() -> str:
    """promtool, installed by the project's script (Debian package `prometheus`) if missing."""
    found = shutil.which("promtool")
    if found is None:
        script = OBSERVABILITY / "promtool.sh"
        done = subprocess.run([str(script)], capture_output=True, text=True, check=False)
        found = shutil.which("promtool")
        if found is None:
            pytest.skip(f"promtool cannot be installed here: {done.stderr.strip()[-300:]}")
    return found


def named_metrics(text: str) -> set[str]:
    """Every `pantau_*` metric name in PromQL expressions (rules or dashboard)."""
    return set(re.findall(r"\b(pantau_[a-z0-9_]+)", text))


def rule_text(name: str) -> str:
    return (OBSERVABILITY / name).read_text()


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def exposed_names(url: str) -> set[str]:
    """Metric family and sample names a process exposes at `url` (/metrics)."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text[:300]
    names: set[str] = set()
    for family in text_string_to_metric_families(response.text):
        names.add(family.name)
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
        }.get(family.type, ())
        names.update(family.name + suffix for suffix in suffixes)
        names.update(sample.name for sample in family.samples)
    return names


def post_event(base: str, case: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/events",
        json={
            "event_id": f"kota-malang.dpmptsp:{case}:1",
            "agency": "kota-malang.dpmptsp",
            "service": "pbg",
            "case_id": case,
            "step": "submitted",
            "occurred_at": "2026-11-27T09:15:00+07:00",
        },
        headers={"Authorization": f"Bearer {MALANG_KEY}"},
        timeout=30,
    )


def test_promtool_accepts_the_config_and_rules_and_the_rule_tests_pass() -> None:
    """`promtool check config` (with both rule files) and `promtool test rules` succeed."""
    tool = promtool()
    for command in (
        [tool, "check", "config", "prometheus.yml"],
        [tool, "check", "rules", "rules.yml", "rules-tracker.yml"],
        [tool, "test", "rules", "rules.test.yml"],
    ):
        done = subprocess.run(
            command, cwd=OBSERVABILITY, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def live(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The intake (two workers), the sink and the alerts service (with a webhook route), live;
    yields their /metrics URLs after one accepted request."""
    folder = tmp_path_factory.mktemp("observability")
    subprocess.run(
        [str(PANTAU), "bootstrap"],
        env={**os.environ, **stack_env},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    intake_log = folder / "intake.log"
    with intake_log.open("wb") as out:
        intake = subprocess.Popen(
            [str(PANTAU), "intake"],
            env={
                **os.environ,
                **stack_env,
                "PANTAU_INTAKE_PORT": str(port),
                "PANTAU_INTAKE_WORKERS": "2",
                "PANTAU_API_KEYS": str(REPO / "deploy" / "dev-api-keys.yaml"),
                "PANTAU_PSEUDONYM_KEY": "observability-test-pseudonym-key",
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    sink = SinkProcess(stack_env, folder / "sink.log")
    routes = folder / "routes.yaml"
    routes.write_text(
        "routes:\n  - {name: ops, match: {severity: high}, webhook: {url: 'http://127.0.0.1:9/'}}\n"
    )
    alerts = AlertsProcess(
        {
            **stack_env,
            "PANTAU_OPERATORS": str(write_operators(folder / "operators.yaml")),
            "PANTAU_ALERT_ROUTES": str(routes),
        },
        folder / "alerts.log",
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_answering(f"{base}/healthz", intake, 60, intake_log)
        alerts.wait_ready()
        wait_answering(f"http://127.0.0.1:{sink.metrics_port}/healthz", sink.process, 60, sink.log)
        # Labelled series appear with their first value (across workers: not before).
        assert post_event(base, "OBS-first").status_code == 202
        yield {
            "intake": f"{base}/metrics",
            "sink": f"http://127.0.0.1:{sink.metrics_port}/metrics",
            "alerts": f"{alerts.url}/metrics",
            "intake_base": base,
        }
    finally:
        stop_process(intake)
        sink.stop()
        alerts.stop()


def test_every_metric_the_rules_and_the_dashboard_name_exists_on_a_live_process(
    live: dict[str, str],
) -> None:
    """Each pantau_* name in rules.yml and in the dashboard's intake, sink and alerts panels is
    served by the intake, the sink or the alerts service (tracker names: the next test)."""
    named = named_metrics(rule_text("rules.yml"))
    named |= {n for expr in dashboard_exprs() for n in named_metrics(expr)}
    named = {n for n in named if not n.startswith("pantau_tracker_")} - BUILTIN
    served = set().union(*(exposed_names(live[p]) for p in ("intake", "sink", "alerts")))
    assert named, "no metric names found: the parsing is broken"
    assert sorted(named - served) == []


def test_intake_workers_share_their_metrics(live: dict[str, str]) -> None:
    """With PANTAU_INTAKE_WORKERS=2, /metrics sums both workers: every accepted event counts
    once, whichever worker took it, on whichever worker is scraped."""
    before = _accepted(live["intake"])
    sent = 0
    with httpx.Client(base_url=live["intake_base"], timeout=30) as client:
        for n in range(20):
            # A new connection each: the kernel spreads them over the workers.
            response = post_event(live["intake_base"], f"OBS-{time.monotonic_ns()}-{n}")
            assert response.status_code == 202, response.text
            sent += 1
        scrapes = {_accepted(live["intake"]) - before for _ in range(6)}
        assert client.get("/metrics").status_code == 200
    assert scrapes == {sent}


def _accepted(url: str) -> float:
    for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
        if family.name == "pantau_intake_events_accepted":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    return 0.0


def test_tracker_metrics_named_by_rules_and_dashboard_are_documented() -> None:
    """Every pantau_tracker_* name in rules-tracker.yml and the dashboard is listed in
    deploy/observability/README.md, the contract for the tracker's /metrics."""
    named = named_metrics(rule_text("rules-tracker.yml"))
    named |= {n for expr in dashboard_exprs() for n in named_metrics(expr)}
    tracker = {n for n in named if n.startswith("pantau_tracker_")}
    documented = set(re.findall(r"`(pantau_tracker_[a-z0-9_]+)", rule_text("README.md")))
    base = {re.sub(r"_(bucket|sum|count)$", "", n) for n in tracker}
    assert tracker
    assert sorted(base - documented) == []


def test_a_live_tracker_serves_the_metrics_its_rules_name(tmp_path: Path) -> None:
    """Each pantau_tracker_* name of rules-tracker.yml and the dashboard is served by a live
    tracker. Skipped, saying so, while the tracker has no /metrics route."""
    named = named_metrics(rule_text("rules-tracker.yml"))
    named |= {n for expr in dashboard_exprs() for n in named_metrics(expr)}
    tracker_names = {n for n in named if n.startswith("pantau_tracker_")}
    with fresh_topics() as env:
        tracker = TrackerProcess(env, tmp_path / "data", tmp_path / "tracker.log").start()
        try:
            tracker.wait_ready()
            response = httpx.get(f"{tracker.url}/metrics", timeout=10)
            if response.status_code == 404:
                pytest.skip(
                    "the tracker serves no /metrics yet; the names it must serve are in "
                    "deploy/observability/README.md"
                )
            served = exposed_names(f"{tracker.url}/metrics")
        finally:
            tracker.stop()
    assert sorted(tracker_names - served) == []
