"""`pantau replay`: import a real event log (CSV or XES) through a mapping, as backfill events.

    PANTAU_CATALOG=deploy/replay/with-wabo pantau replay ../shared/data/wabo-receipt.csv \\
        --mapping deploy/replay/wabo/mapping.yaml [--via kafka|http] [--rate R] [--repeat N] \\
        [--order time|case]

`--order time` (the default for a backfill mapping) sends the whole log in event-time order, as
the history happened, so rules that compare cases see them in the order they lived; `--order case`
sends case after case (the default for a live mapping). Either way each case's events keep their
own order and `seq`. The log is read and mapped whole before the first event is sent (time order
needs every event's time); progress is shown on stderr while reading and while sending.

Every mapped event is checked against `PANTAU_CATALOG` (agency, service, step) before anything is
sent, so a mapping that does not fit the catalog stops the replay instead of filling the DLQ.
`--repeat N` replays the log N times as distinct cases (case ids suffixed `-r2`, `-r3`, ...) to
measure throughput on a larger volume.
"""

from __future__ import annotations

import argparse
import csv
import functools
import gzip
import logging
import sys
import time
from pathlib import Path

import orjson

from pantau.core.catalog import Catalog, load_catalog
from pantau.core.events import Event
from pantau.traffic.mapping import LogMapping, MappingError, xes_rows
from pantau.traffic.publishing import (
    Progress,
    PublishError,
    chosen_publisher,
)
from pantau.traffic.settings import SimulateSettings

log = logging.getLogger("pantau.replay")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pantau replay", description="Import an event log (CSV or XES) as backfill events."
    )
    parser.add_argument(
        "log", type=Path, help="the event log: CSV with a header, or XES (.xes, .xes.gz)"
    )
    parser.add_argument("--mapping", type=Path, required=True, help="the mapping (YAML)")
    parser.add_argument("--via", choices=["kafka", "http"], help="[PANTAU_SIMULATE_VIA]")
    parser.add_argument("--rate", type=float, default=0.0, help="events/s (0: as fast as possible)")
    parser.add_argument("--repeat", type=int, default=1, help="replay the log N times as new cases")
    parser.add_argument("--api-keys", type=Path, help="[PANTAU_SIMULATE_API_KEYS] for --via http")
    parser.add_argument("--intake-url", help="[PANTAU_INTAKE_URL]")
    parser.add_argument(
        "--order",
        choices=["time", "case"],
        help="time: the whole log by event time; case: case after case "
        "[time for a backfill mapping, case otherwise]",
    )
    parser.add_argument("--dry-run", action="store_true", help="map and check, send nothing")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = SimulateSettings()
    try:
        mapping = LogMapping.load(args.mapping)
        catalog = load_catalog(settings.catalog)
        order = args.order or ("time" if mapping.mode == "backfill" else "case")
        started = time.monotonic()
        batches = []
        reading = Progress(f"reading {args.log.name}")
        for round_ in range(1, args.repeat + 1):
            suffix = "" if round_ == 1 else f"-r{round_}"
            map_rows = functools.partial(
                mapping.event_records,
                case_suffix=suffix,
                order=order,
                log_name=str(args.log),
                progress=reading.update,
            )
            if mapping.format_of(args.log) == "xes":
                if args.log.name.lower().endswith(".gz"):
                    with gzip.open(args.log) as compressed:
                        events, report = map_rows(xes_rows(compressed))
                else:
                    events, report = map_rows(xes_rows(args.log))
            else:
                with args.log.open(encoding="utf-8", newline="") as handle:
                    events, report = map_rows(csv.DictReader(handle))
            check_records_against_catalog(events, catalog, str(settings.catalog))
            batches.append(events)
        mapped = time.monotonic() - started
    except OSError as error:
        print(f"pantau replay: {error}", file=sys.stderr)
        return 2
    except (MappingError, ValueError) as error:
        print(f"pantau replay: {error}", file=sys.stderr)
        return 2
    dropped = ", ".join(f"{n} {why}" for why, n in report.dropped.items()) or "none"
    total = sum(len(b) for b in batches)
    print(
        f"{args.log}: {report.rows:,} rows, {report.mapped_rows:,} mapped, "
        f"{report.closing_events:,} closing events, {report.cases:,} cases; dropped: {dropped}; "
        f"{total:,} events to send ({args.repeat}x, {order} order) mapped in {mapped:.1f}s",
        file=sys.stderr,
    )
    if args.dry_run:
        return 0
    publisher = chosen_publisher("replay", args, settings)
    progress = Progress("replay", total=total)
    count = 0
    began = time.monotonic()
    try:
        for events in batches:
            for event in events:
                if args.rate > 0:
                    pause = began + count / args.rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                publisher.send(Event.model_validate_json(event))
                count += 1
                progress.update(count, count)
        acked = publisher.flush()
    except PublishError as error:
        print(f"pantau replay: {error}", file=sys.stderr)
        return 1
    finally:
        publisher.close()
    print(f"{progress.finish()}; acknowledged: {acked:,}")
    return 0


def check_records_against_catalog(records: list[bytes], catalog: Catalog, source: str) -> None:
    """`check_against_catalog` for events kept as JSON: one event of each step is enough."""
    first: dict[tuple[str, str, str], bytes] = {}
    for record in records:
        document = orjson.loads(record)
        first.setdefault((document["agency"], document["service"], document["step"]), record)
    check_against_catalog(
        [Event.model_validate_json(record) for record in first.values()], catalog, source
    )


def check_against_catalog(events: list[Event], catalog: Catalog, source: str) -> None:
    """ValueError naming the first agency, service or step that the catalog does not know."""
    known: set[tuple[str, str, str]] = set()
    for event in events:
        key = (event.agency, event.service, event.step)
        if key in known:
            continue
        service = catalog.service(event.agency, event.service)
        if service is None:
            raise ValueError(
                f"the catalog {source} has no service {event.service} of {event.agency}: "
                "point PANTAU_CATALOG at a catalog that includes it"
            )
        if service.step(event.step) is None:
            raise ValueError(f"step {event.step} is not in {event.agency}/{event.service}")
        known.add(key)
