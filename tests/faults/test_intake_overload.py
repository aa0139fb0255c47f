"""Far more concurrent requests than the intake can take, all at once."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from faults.pipeline import Ledger, check_history, intake_stream, pipeline

CONCURRENT = 1000  # batch requests in flight at once; the intake serves a few hundred a second
BATCH = 2
# A request still unanswered after this long counts as unknown (well past the publish timeout).
CLIENT_TIMEOUT_S = 30
ALLOWED = {202, 429, 503, None}  # None: no answer within the client timeout


def test_intake_overload_answers_202_429_or_503_and_stores_every_202_once(
    servers: None, tmp_path: Path
) -> None:
    """1,000 batch requests sent at the same moment: each answer is 202, 429 or 503 with
    Retry-After (or none in time, recorded as unknown), the intake answers normally right
    after, and every 202'd event is in v_events once, nothing twice, alerts and case states
    equal a fold of the events."""
    started = time.monotonic()
    stream = intake_stream(400, datetime.now(UTC) - timedelta(hours=8), "ovl")
    batches = [stream[i : i + BATCH] for i in range(0, len(stream), BATCH)]
    # The first request of all also connects the intake to Kafka: the second is the baseline.
    lone, flood, after = batches[:2], batches[2 : CONCURRENT + 2], batches[CONCURRENT + 2 :]
    assert len(flood) == CONCURRENT
    assert after
    ledger = Ledger()
    with pipeline(tmp_path, label="overload") as stack:
        intake = stack.intake
        for batch in lone:
            unloaded = intake.answer(batch)
            ledger.record([e["event_id"] for e in batch], unloaded.status)
            assert unloaded.status == 202, intake.refusals

        flood_started = time.monotonic()
        answers = intake.post_all_at_once(flood, ledger, timeout=CLIENT_TIMEOUT_S)
        flood_s = time.monotonic() - flood_started

        # Not hung: the next requests are answered at once and accepted.
        assert intake.process.poll() is None, intake.log_path.read_text()[-3000:]
        for batch in after:
            answer = intake.answer(batch)
            ledger.record([e["event_id"] for e in batch], answer.status)
            assert answer.status == 202, intake.refusals[-3:]
            assert answer.seconds < 5, f"{answer.seconds:.1f} s for a batch after the flood"
        counts = check_history(stack, ledger, timeout=90)
        refusals = intake.refusals
    statuses = [answer.status for answer in answers]
    assert set(statuses) <= ALLOWED, refusals[:3]
    median = statistics.median(answer.seconds for answer in answers)
    shed = [answer for answer in answers if answer.status == 503]
    assert all(answer.retry_after for answer in shed), "a 503 without Retry-After"
    # Far beyond what it can take: it shed requests beyond its in-flight limit (503 at once,
    # PANTAU_INTAKE_MAX_IN_FLIGHT) or queued them for many times a lone request's latency.
    assert shed or median > 5 * unloaded.seconds, (median, unloaded.seconds)
    tally = {str(status): statuses.count(status) for status in sorted(ALLOWED, key=str)}
    print(
        counts,
        tally,
        f"flood {flood_s:.1f} s, median answer {median:.2f} s (alone {unloaded.seconds:.3f} s),"
        f" slowest {max(answer.seconds for answer in answers):.1f} s",
        f"{time.monotonic() - started:.1f} s",
    )
