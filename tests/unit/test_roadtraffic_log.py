"""The road-traffic-fine log (M. de Leoni and F. Mannhardt, "Road Traffic Fine Management
Process", 4TU.ResearchData, doi:10.4121/uuid:270fd440-1057-4fb9-89a9-b699b47990f5, as sampled in
the pm4py test data) mapped onto its catalog, from its CSV and from an XES form written by pm4py."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from pantau.catalog_check import catalog_warnings
from pantau.core.catalog import load_catalog
from pantau.core.events import Event
from pantau.traffic.log_facts import fine_facts
from pantau.traffic.mapping import LogMapping, MappingReport
from pantau.traffic.replay import check_against_catalog
from pantau.traffic.xes import XesReader
from xes_logs import csv_rows, event_log, write_xes

REPO = Path(__file__).resolve().parents[2]
ROAD_CSV = REPO.parent / "shared" / "data" / "roadtraffic100traces.csv"
ROAD = REPO / "deploy" / "replay" / "roadtraffic"
NUMBERS = ("amount", "expense", "paymentAmount", "totalPaymentAmount", "points", "article")


@pytest.fixture(scope="module")
def mapped() -> tuple[list[Event], MappingReport]:
    return LogMapping.load(ROAD / "mapping.yaml").events(csv_rows(ROAD_CSV))


def test_the_facts_of_the_log() -> None:
    """Computed straight from the CSV: 34 fines sent after 90 days, one never sent and not paid
    within them."""
    facts = fine_facts(ROAD_CSV)
    assert (facts.rows, facts.cases, facts.payments, facts.officers) == (374, 100, 56, 53)
    assert facts.paid_total == Decimal("2676.80")
    assert (len(facts.sent_late), facts.unsent_unpaid, len(facts.overdue)) == (34, ("N95472",), 35)


def test_every_row_becomes_an_event_of_its_catalog(
    mapped: tuple[list[Event], MappingReport],
) -> None:
    events, report = mapped
    assert report == MappingReport(rows=374, mapped_rows=374, closing_events=0, cases=100)
    catalog = load_catalog(ROAD / "catalog.yaml")
    check_against_catalog(events, catalog, str(ROAD / "catalog.yaml"))
    assert len({e.event_id for e in events}) == 374
    assert Counter(e.step for e in events)["create_fine"] == 100
    times = [e.occurred_at for e in events]
    assert times == sorted(times)  # time order, across cases


def test_payments_and_officers_come_through(mapped: tuple[list[Event], MappingReport]) -> None:
    """56 payments with the log's amounts; every fine created by its officer."""
    events, _ = mapped
    facts = fine_facts(ROAD_CSV)
    payments = [e.payment for e in events if e.payment is not None]
    assert {e.step for e in events if e.payment is not None} == {"payment"}
    assert (len(payments), sum(p.amount for p in payments)) == (facts.payments, facts.paid_total)
    creators = {e.officer.id for e in events if e.step == "create_fine" and e.officer}
    assert len(creators) == facts.officers
    assert all(
        e.officer and e.officer.role == "police_officer" for e in events if e.step == "create_fine"
    )


def test_the_catalog_states_the_90_day_rule_from_creation() -> None:
    """send_fine is due 90 days from create_fine; the only warning is the missing overall sla."""
    catalog = load_catalog(ROAD / "catalog.yaml")
    fine = catalog.service("it-police.roadtraffic", "fine")
    assert fine is not None
    send = fine.step("send_fine")
    assert send is not None
    assert (str(send.sla), send.sla_from) == ("90 days", "create_fine")
    warnings = catalog_warnings(catalog)
    assert len(warnings) == 1
    assert "no overall sla" in warnings[0]


def test_the_xes_form_maps_to_the_same_events(
    mapped: tuple[list[Event], MappingReport], tmp_path: Path
) -> None:
    """The log's XES form (pm4py's exporter, amounts as floats, times as dates) through the same
    mapping gives the same events: `{line}` is the event's position, as the CSV's line."""
    xes = write_xes(event_log(csv_rows(ROAD_CSV), numbers=NUMBERS), tmp_path / "roadtraffic.xes")
    mapping = LogMapping.load(ROAD / "mapping.yaml")
    reader = XesReader(xes)
    from_xes, report = mapping.events(reader.rows())
    assert (reader.traces, reader.events) == (100, 374)
    assert report == mapped[1]
    assert [e.to_json_bytes() for e in from_xes] == [e.to_json_bytes() for e in mapped[0]]
