"""A tracker worker on the real broker judges sealed events as it judges events in clear: the
rules read nothing that is sealed."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pantau.adapters.kafka_topics import ensure_topics
from pantau.adapters.key_store import personal_data_topics
from pantau.adapters.sealed_publisher import SealedEventPublisher
from pantau.core.sealing import MasterKey
from pantau.settings import TopicNames
from stacks import KAFKA
from tracker_harness import (
    TrackerProcess,
    alerts_in,
    consumer_lag,
    fresh_topics,
    read_topic,
    wait_nothing_held,
)

AGENCY = "kab-sleman.dpmptsp"
BROKER_LIMIT = 15  # applicant_broker.max_applicants of kab-sleman's pbg in the sample catalog


def _event(case_id: str, step: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"{case_id}:{step}",
        "agency": AGENCY,
        "service": "pbg",
        "case_id": case_id,
        "step": step,
        "occurred_at": at.isoformat(),
        **fields,
    }


def test_rules_judge_sealed_events_as_in_clear(local_servers: None, tmp_path: Path) -> None:
    """A representative filing for one applicant more than the limit, every filing sealed with
    personal attributes: `applicant.broker` fires on the keyed pseudonyms; a rejection whose
    reason is sealed is not `process.reason_missing`, one without a reason is; no alert carries
    the sealed text."""
    tag = uuid.uuid4().hex[:6]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    representative = f"k1:{'ee' * 31}{tag[:2]}"
    events = [
        _event(
            f"{tag}-{n}",
            "submitted",
            start + timedelta(minutes=n),
            applicant={"ref": f"k1:{n:02d}{'ab' * 31}"},
            attributes={"representative_ref": representative, "address": f"Jl. Kaliurang {tag}"},
        )
        for n in range(BROKER_LIMIT + 1)
    ]
    events.append(
        _event(
            f"{tag}-0",
            "rejected",
            start + timedelta(hours=1),
            applicant={"ref": f"k1:00{'ab' * 31}"},
            reason=f"Bapak Joko {tag}: IMB palsu",
        )
    )
    events += [
        _event(f"{tag}-x", "submitted", start, applicant={"ref": f"k1:{'cd' * 32}"}),
        _event(f"{tag}-x", "rejected", start + timedelta(hours=1)),
    ]
    with fresh_topics(partitions=1) as env:
        names = TopicNames(env["PANTAU_TOPIC_PREFIX"])
        ensure_topics([KAFKA], personal_data_topics(names), report=lambda _: None)
        publisher = SealedEventPublisher([KAFKA], names.prefix, MasterKey(b"m" * 32))
        try:
            published = publisher.publish(events, now=datetime.now(UTC))
        finally:
            publisher.close()
        assert sum("pantau_sealed" in e.attributes for e in published) == BROKER_LIMIT + 2
        worker = TrackerProcess(env, tmp_path / "state", tmp_path / "tracker.log").start()
        try:
            worker.wait_ready()
            deadline = time.monotonic() + 60
            for group, topic in (
                (names.group("tracker"), names.events),
                (names.group("tracker"), names.prefix + "tracker-oversight"),
            ):
                while consumer_lag(group, topic):
                    assert time.monotonic() < deadline, worker.log_tail()
                    time.sleep(0.3)
            wait_nothing_held([worker], timeout=30)
            records = read_topic(
                names.alerts,
                until=lambda rs: any(b"applicant.broker" in (r.value or b"") for r in rs),
                timeout=30,
            )
        finally:
            worker.stop()
    alerts = [a for a in alerts_in(records) if a.case_id.startswith(tag)]
    broker = [a for a in alerts if a.rule.value == "applicant.broker"]
    assert len(broker) == 1, worker.log_tail()
    assert broker[0].evidence["representative_ref"] == representative
    assert broker[0].evidence["applicants"] == BROKER_LIMIT + 1
    missing = {a.case_id for a in alerts if a.rule.value == "process.reason_missing"}
    assert missing == {f"{tag}-x"}
    for record in records:
        assert b"Kaliurang" not in (record.value or b"")
        assert b"Joko" not in (record.value or b"")
