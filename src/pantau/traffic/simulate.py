"""`pantau simulate`: realistic case traffic into the stack, with planted anomalies and truth.

Without `--cases` it runs for ever as a process of `make up`: a short recent history first (sent
as backfill), then live traffic in real time, `occurred_at` close to now, at the gentle rate of
`PANTAU_SIMULATE_CASES_PER_DAY`. With `--cases N` it sends a bounded history as fast as
possible (or at `--rate` events per second) and writes the ground truth for `pantau evaluate`:

    pantau simulate --cases 2000 --seed 7 --anomaly-rate 0.2 --truth truth.jsonl --via kafka

It plants the contract's 14 rules, the 6 cross-case rules, the 3 of deemed approval and the 4
fee rules; `--rules contract` (or `cross-case`, `deemed-approval`, `fee`, or rule ids) plants
only those, the rest of the traffic staying honest for all 27.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from pantau.core.alerts import Rule
from pantau.core.catalog import Catalog, load_catalog
from pantau.core.events import Event, parse_rfc3339
from pantau.traffic.generator import (
    ALL_RULES,
    CONTRACT_RULES,
    CROSS_CASE_RULES,
    DEEMED_APPROVAL_RULES,
    FEE_RULES,
    Emission,
    Regime,
    Simulation,
)
from pantau.traffic.publishing import (
    NullPublisher,
    Progress,
    PublishError,
    TrafficPublisher,
    chosen_publisher,
)
from pantau.traffic.scoring import write_truth
from pantau.traffic.settings import SimulateSettings

log = logging.getLogger("pantau.simulate")

# A bounded history must end this long before the run, so that a planted time.backdated event
# (sent days after it happened) is past the 24 h tolerance whatever the mapping.
HISTORY_GAP = timedelta(days=2)


@dataclass(frozen=True)
class Plan:
    """What to simulate, whatever the regime: catalog, seed, anomalies, arrivals."""

    catalog: Catalog
    seed: int
    anomaly_rate: float
    cases_per_day: float
    complete_events: bool  # for the HTTP intake, which refuses incomplete events
    rules: tuple[str, ...] = ALL_RULES  # the rules whose anomalies are planted

    def simulation(self, start: datetime, regime: Regime, cases: int | None) -> Simulation:
        return Simulation(
            self.catalog,
            seed=self.seed,
            start=start,
            regime=regime,
            cases=cases,
            anomaly_rate=self.anomaly_rate,
            cases_per_day=self.cases_per_day,
            complete_events=self.complete_events,
            rules=self.rules,
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pantau simulate",
        description="Case traffic with planted anomalies; without --cases: live, for ever.",
    )
    parser.add_argument("--cases", type=int, help="send a history of N cases, then stop")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="events/s, each delivered before the next (0: as fast as possible, in batches)",
    )
    parser.add_argument("--seed", type=int, help="seed [PANTAU_SIMULATE_SEED]")
    parser.add_argument("--truth", type=Path, help="write the ground truth here (JSON lines)")
    parser.add_argument("--via", choices=["kafka", "http"], help="[PANTAU_SIMULATE_VIA]")
    parser.add_argument("--anomaly-rate", type=float, help="[PANTAU_SIMULATE_ANOMALY_RATE]")
    parser.add_argument("--cases-per-day", type=float, help="[PANTAU_SIMULATE_CASES_PER_DAY]")
    parser.add_argument("--api-keys", type=Path, help="[PANTAU_SIMULATE_API_KEYS] for --via http")
    parser.add_argument("--intake-url", help="[PANTAU_INTAKE_URL]")
    parser.add_argument("--start", help="first simulated instant, RFC 3339 (default: auto)")
    parser.add_argument(
        "--rules",
        type=planted_rules,
        default=ALL_RULES,
        help=(
            "rules to plant: all (default), contract, cross-case, deemed-approval, fee, or rule "
            "ids, comma-separated"
        ),
    )
    parser.add_argument(
        "--generate-only", action="store_true", help="generate and serialise, send nothing"
    )
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = SimulateSettings()
    seed = settings.simulate_seed if args.seed is None else args.seed
    anomaly_rate = (
        settings.simulate_anomaly_rate if args.anomaly_rate is None else args.anomaly_rate
    )
    per_day = settings.simulate_cases_per_day if args.cases_per_day is None else args.cases_per_day
    plan = Plan(
        catalog=load_catalog(settings.catalog),
        seed=seed,
        anomaly_rate=anomaly_rate,
        cases_per_day=per_day,
        complete_events=(args.via or settings.simulate_via) == "http",
        rules=args.rules,
    )
    with ExitStack() as stack:
        publisher = _publisher(args, settings)
        stack.callback(publisher.close)
        truth = stack.enter_context(args.truth.open("w", encoding="utf-8")) if args.truth else None
        try:
            if args.cases is not None:
                start = parse_rfc3339(args.start) if args.start else None
                return _bounded(plan, publisher, truth, args.cases, args.rate, start)
            return _live(plan, publisher, truth, settings.simulate_warmup_cases)
        except PublishError as error:
            print(f"pantau simulate: {error}", file=sys.stderr)
            return 1


def planted_rules(text: str) -> tuple[str, ...]:
    """`--rules`: a named set of rules or rule ids, comma-separated."""
    named = {
        "all": ALL_RULES,
        "contract": CONTRACT_RULES,
        "cross-case": CROSS_CASE_RULES,
        "deemed-approval": DEEMED_APPROVAL_RULES,
        "fee": (Rule.FEE_MISMATCH, *FEE_RULES),
    }
    chosen: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part in named:
            chosen.extend(named[part])
        elif part in ALL_RULES:
            chosen.append(part)
        else:
            raise argparse.ArgumentTypeError(f"unknown rule {part!r}")
    if not chosen:
        raise argparse.ArgumentTypeError("no rules named")
    return tuple(dict.fromkeys(chosen))


def _publisher(args: argparse.Namespace, settings: SimulateSettings) -> TrafficPublisher:
    if args.generate_only:
        return NullPublisher()
    return chosen_publisher("simulate", args, settings)


def history_start(now: datetime, cases: int, cases_per_day: float) -> datetime:
    """A start early enough that `cases` arrivals and their longest cases end before `now`."""
    arrival_days = cases / cases_per_day * 7 / 5 * 1.5 + 3
    # The longest simulated case: a 28 working-day standard overrun on purpose, with holidays.
    longest_case_days = 110
    span = timedelta(days=math.ceil(arrival_days) + longest_case_days) + HISTORY_GAP
    return (now - span).replace(second=0, microsecond=0)  # a new minute: new case ids


def _bounded(
    plan: Plan,
    publisher: TrafficPublisher,
    truth: TextIO | None,
    cases: int,
    rate: float,
    start: datetime | None,
) -> int:
    now = datetime.now(UTC)
    begin = start or history_start(now, cases, plan.cases_per_day)
    simulation = plan.simulation(begin, "backfill", cases)
    log.info("simulating %d cases from %s (seed %d)", cases, begin.isoformat(), plan.seed)
    progress = Progress("simulate", total=cases)
    latest = now - HISTORY_GAP
    sent = _send(simulation, publisher, truth, progress, rate=rate, latest=latest)
    acked = publisher.flush()
    summary = progress.finish()
    print(f"{summary}; {sent:,} events acknowledged: {acked:,}", file=sys.stdout)
    return 0


def _send(
    emissions: Iterable[Emission],
    publisher: TrafficPublisher,
    truth: TextIO | None,
    progress: Progress,
    *,
    rate: float = 0.0,
    latest: datetime | None = None,
    live_origin: tuple[datetime, float] | None = None,
) -> int:
    """Send emissions in order; paced by `rate`, or in real time from `live_origin`."""
    count = cases = 0
    began = time.monotonic()
    for emission in emissions:
        if latest is not None and emission.sent_at > latest and not emission.anchored:
            raise SystemExit(
                f"pantau simulate: the history reaches {emission.sent_at.isoformat()}, "
                "too close to now; pass an earlier --start"
            )
        if live_origin is not None:
            origin, clock = live_origin
            due = clock + (emission.sent_at - origin).total_seconds()
            if due - time.monotonic() > 0.2:
                publisher.flush()  # nothing waits in a buffer while we sleep
            while (pause := due - time.monotonic()) > 0:
                time.sleep(min(pause, 1.0))
                progress.update(count, cases)
        elif rate > 0:
            pause = began + count / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            # Paced means one event at a time: each is delivered before the next is sent, so
            # events of different cases, on different partitions, arrive in the order they
            # happened (the cross-case rules judge them in the order they are applied).
            publisher.flush()
        event = emission.event
        if emission.anchored:
            event = _anchored(emission)
        publisher.send(event)
        count += 1
        if emission.truth is not None:
            cases += 1
            if truth is not None:
                write_truth(truth, emission.truth)
        progress.update(count, cases)
    return count


def _anchored(emission: Emission) -> Event:
    """The event with `occurred_at` as far from the real send time as planned from `sent_at`."""
    offset = emission.event.occurred_at - emission.sent_at
    zone = emission.event.occurred_at.tzinfo
    moment = (datetime.now(UTC) + offset).replace(microsecond=0).astimezone(zone)
    return emission.event.model_copy(update={"occurred_at": moment})


def _live(plan: Plan, publisher: TrafficPublisher, truth: TextIO | None, warmup: int) -> int:
    if warmup:
        now = datetime.now(UTC)
        start = history_start(now, warmup, plan.cases_per_day)
        history = replace(plan, seed=plan.seed + 1).simulation(start, "backfill", warmup)
        progress = Progress("simulate (recent history)", total=warmup)
        _send(history, publisher, truth, progress, latest=now - HISTORY_GAP)
        publisher.flush()
        progress.finish()
    start = datetime.now(UTC).replace(microsecond=0)
    live = plan.simulation(start, "live", None)
    log.info(
        "live traffic from %s at %.0f cases per working day", start.isoformat(), plan.cases_per_day
    )
    progress = Progress("simulate (live)", every=30.0)
    _send(live, publisher, truth, progress, live_origin=(start, time.monotonic()))
    return 0
