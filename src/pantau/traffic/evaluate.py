"""`pantau evaluate`: precision and recall of the alerts the stack raised, against a ground truth.

    pantau evaluate --truth truth.jsonl                       # alerts topic, from the beginning
    pantau evaluate --truth truth.jsonl --source clickhouse   # v_alerts of PANTAU_CLICKHOUSE
    pantau evaluate --truth truth.jsonl --min-precision 1 --min-recall 1   # non-zero exit below
    pantau evaluate --truth truth.jsonl --rules contract      # score the contract's 14 rules only
    pantau evaluate --truth truth.jsonl --rules fee           # fee.mismatch and the 4 fee rules

The alerts topic is read from its start until no new alert has arrived for `--idle` seconds, so
it can run while the tracker is still finishing a simulation.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from pantau.settings import CommonSettings
from pantau.traffic.scoring import read_truth, score, table
from pantau.traffic.simulate import planted_rules

log = logging.getLogger("pantau.evaluate")

Raised = tuple[str, str, str]  # (agency, case_id, rule)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pantau evaluate",
        description="Precision and recall per rule of raised alerts against a ground truth.",
    )
    parser.add_argument("--truth", type=Path, required=True, help="ground truth (JSON lines)")
    parser.add_argument("--source", choices=["kafka", "clickhouse"], default="kafka")
    parser.add_argument(
        "--idle", type=float, default=15.0, help="kafka: stop after this many quiet seconds"
    )
    parser.add_argument("--min-precision", type=float, help="exit 1 if a rule scores below")
    parser.add_argument("--min-recall", type=float, help="exit 1 if a rule scores below")
    parser.add_argument(
        "--show", type=int, default=5, help="cases to list per rule for misses and extras"
    )
    parser.add_argument(
        "--rules",
        type=planted_rules,
        default=planted_rules("all"),
        help=(
            "rules to score: all (default), contract, cross-case, deemed-approval, fee, or rule "
            "ids, comma-separated"
        ),
    )
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = CommonSettings()
    truths = read_truth(args.truth)
    if args.source == "kafka":
        raised = list(alerts_from_kafka(settings, args.idle))
    else:
        raised = list(alerts_from_clickhouse(settings))
    # Only the chosen rules are judged, on both sides: what the truth expects and what was raised.
    chosen = set(args.rules)
    truths = [replace(t, rules=tuple(r for r in t.rules if r in chosen)) for t in truths]
    judged = [found for found in raised if found[2] in chosen]
    scores = score(truths, judged, args.rules)
    print(f"{len(truths):,} cases in the truth, {len(raised):,} alerts read ({args.source})")
    if len(judged) < len(raised):
        print(f"({len(raised) - len(judged):,} alerts of rules not scored here)")
    for line in table(scores):
        print(line)
    for title, found in (("missed", scores.misses), ("unexpected", scores.extras)):
        for rule, cases in sorted(found.items()):
            shown = ", ".join(case_id for _, case_id in cases[: args.show])
            print(f"{title} {rule}: {len(cases)} cases, e.g. {shown}")
    failing = scores.failing(args.min_precision, args.min_recall)
    if failing:
        print(f"below the thresholds: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0


def alerts_from_kafka(settings: CommonSettings, idle: float) -> Iterator[Raised]:
    """Every alert on the alerts topic from the beginning, until `idle` seconds without one."""
    from pantau.adapters.kafka_client import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="pantau-evaluate",
    )
    try:
        topic = settings.topics.alerts
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise SystemExit(f"pantau evaluate: no topic {topic} (is PANTAU_TOPIC_PREFIX right?)")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle:
            batch = consumer.poll(timeout_ms=500, max_records=5000)
            for records in batch.values():
                for record in records:
                    quiet_since = time.monotonic()
                    found = _parse(record.value)
                    if found is not None:
                        yield found
    finally:
        consumer.close()


def _parse(value: bytes | None) -> Raised | None:
    try:
        doc = json.loads(value or b"")
        return (str(doc["agency"]), str(doc["case_id"]), str(doc["rule"]))
    except (ValueError, KeyError, TypeError):
        log.warning("skipping an alert record that is not alert JSON")
        return None


def alerts_from_clickhouse(settings: CommonSettings) -> Iterator[Raised]:
    """Every alert in `v_alerts` of the history of record."""
    from pantau.history.store import connect

    target = settings.clickhouse_target
    client = connect(target)
    try:
        rows = client.execute(f"SELECT agency, case_id, rule FROM {target.database}.v_alerts")
        for agency, case_id, rule in rows:
            yield (str(agency), str(case_id), str(rule))
    finally:
        client.disconnect()
