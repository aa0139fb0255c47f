"""The intake's agency working-hours gauge follows each agency's catalog calendar."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest

from pantau.core.catalog import load_catalog
from pantau.settings import SAMPLE_CATALOG
from pantau_intake.app import AgencyWorkingHours, IntakeMetrics

MALANG = "kota-malang.dpmptsp"


def working(at: datetime) -> dict[str, float]:
    hours = AgencyWorkingHours(load_catalog(SAMPLE_CATALOG), lambda: at)
    [family] = list(hours.collect())
    return {sample.labels["agency"]: sample.value for sample in family.samples}


def test_open_on_a_working_morning_and_closed_at_night_and_on_sunday() -> None:
    """Friday 10:00 in Malang (03:00 UTC) is open; 23:00 and a Sunday noon are not."""
    assert working(datetime(2026, 11, 27, 3, 0, tzinfo=UTC))[MALANG] == 1.0
    assert working(datetime(2026, 11, 27, 16, 0, tzinfo=UTC))[MALANG] == 0.0
    assert working(datetime(2026, 11, 29, 5, 0, tzinfo=UTC))[MALANG] == 0.0


def test_closed_on_a_national_holiday() -> None:
    """Christmas Day, a Friday in 2026, at 10:00 in Malang: closed."""
    assert working(datetime(2026, 12, 25, 3, 0, tzinfo=UTC))[MALANG] == 0.0


def test_the_gauge_is_on_the_intakes_metrics() -> None:
    """The registry the intake serves carries one sample per catalog agency."""
    catalog = load_catalog(SAMPLE_CATALOG)
    at = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    metrics = IntakeMetrics(working_hours=AgencyWorkingHours(catalog, lambda: at))
    registry: CollectorRegistry = metrics.exposed()
    text = generate_latest(registry).decode()
    assert f'pantau_intake_agency_working_hours{{agency="{MALANG}"}} 1.0' in text
    assert text.count("pantau_intake_agency_working_hours{") == len(catalog.agencies)
