"""One agency floods the intake past its rate limit while another sends at a normal pace."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from faults.pipeline import (
    SLEMAN,
    SLEMAN_KEY,
    Answer,
    Intake,
    Ledger,
    check_history,
    for_agency,
    intake_stream,
    pipeline,
    send_stream,
)

RATE, BURST = 50, 100  # events per second per agency, and the bucket size
LIMITS = {"PANTAU_INTAKE_RATE": str(RATE), "PANTAU_INTAKE_BURST": str(BURST)}
FLOOD_BATCH, FLOODERS = 25, 3
PACED_BATCH, PACE_S = 10, 0.4  # 25 events/s: half of the limit


def _fresh_traffic(start: datetime) -> Iterator[list[dict[str, Any]]]:
    """Batches of events never sent before, without end."""
    for chunk in range(10_000):
        events = intake_stream(40, start, f"fld{chunk}")
        for i in range(0, len(events), FLOOD_BATCH):
            yield events[i : i + FLOOD_BATCH]


def _flood(intake: Intake, ledger: Ledger, until: threading.Event) -> list[Answer]:
    """Closed-loop senders posting fresh batches as fast as answers come, until `until`."""
    traffic = _fresh_traffic(datetime.now(UTC) - timedelta(hours=8))
    lock = threading.Lock()
    answers: list[Answer] = []

    def run() -> None:
        while not until.is_set():
            with lock:
                batch = next(traffic)
            answer = intake.answer(batch)
            ledger.record([e["event_id"] for e in batch], answer.status)
            with lock:
                answers.append(answer)

    senders = [threading.Thread(target=run, daemon=True) for _ in range(FLOODERS)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=60)
    return answers


def test_agency_over_its_rate_limit_gets_429_and_the_other_agency_is_unaffected(
    servers: None, tmp_path: Path
) -> None:
    """With 50 events/s per agency, Kota Malang floods and gets 429 with Retry-After while Kab.
    Sleman, sending 25 events/s in the same seconds, gets only 202s at its own pace; every 202'd
    event of both is stored once and no 429'd event is stored."""
    started = time.monotonic()
    paced = for_agency(intake_stream(40, datetime.now(UTC) - timedelta(hours=8), "pcd"), SLEMAN)
    flooded, normal = Ledger(), Ledger()
    paced_done, flood_answers = threading.Event(), list[Answer]()
    with pipeline(tmp_path, label="ratelimit", intake_settings=LIMITS) as stack:
        intake = stack.intake
        flood_started = time.monotonic()
        flooder = threading.Thread(
            target=lambda: flood_answers.extend(_flood(intake, flooded, until=paced_done)),
            daemon=True,
        )
        flooder.start()
        time.sleep(1)  # the flooder has spent the burst: the limit is in force
        paced_started = time.monotonic()
        sender = send_stream(
            intake,
            paced,
            normal,
            PACED_BATCH,
            PACE_S,
            done=paced_done,
            key=SLEMAN_KEY,
            on_schedule=True,
        )
        sender.join(timeout=60)
        paced_s = time.monotonic() - paced_started
        flooder.join(timeout=60)
        flood_s = time.monotonic() - flood_started
        assert paced_done.is_set()
        assert not flooder.is_alive()
        counts = check_history(stack, Ledger.merged(flooded, normal))
        refusals = intake.refusals

    # The agency at a normal pace: only 202s, on its own timetable (one sender, so an answer
    # slower than the pace would have made it late).
    batches = -(-len(paced) // PACED_BATCH)
    assert dict(normal.statuses) == {202: batches}, refusals[:3]
    assert normal.acknowledged == {e["event_id"] for e in paced}
    assert paced_s < batches * PACE_S + 1, f"{paced_s:.1f} s for a {batches * PACE_S:.1f} s plan"
    paced_rate, offered_rate = len(paced) / paced_s, PACED_BATCH / PACE_S

    # The flooding agency: 429 with Retry-After beyond its limit, never more than it allows.
    statuses = [answer.status for answer in flood_answers]
    assert set(statuses) <= {202, 429}, refusals[:3]
    limited = [answer for answer in flood_answers if answer.status == 429]
    assert len(limited) > 10 * statuses.count(202), "the flooder was not over its limit"
    retry_after = [answer.retry_after for answer in limited]
    assert all(value is not None and value.isdigit() and int(value) >= 1 for value in retry_after)
    allowed = BURST + RATE * flood_s
    assert len(flooded.acknowledged) <= allowed, (len(flooded.acknowledged), allowed)
    assert flooded.refused, "check_history found none of these 429'd events stored"
    print(
        counts,
        f"flooder: {len(flood_answers)} requests, {statuses.count(202)} 202 "
        f"({len(flooded.acknowledged)} events, at most {allowed:.0f} allowed), {len(limited)} 429;"
        f" paced agency {paced_rate:.1f} events/s of {offered_rate:.1f} offered, all 202",
        f"{time.monotonic() - started:.1f} s",
    )
