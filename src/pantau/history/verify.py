"""`pantau verify`: recompute the per-case hash chains in ClickHouse and name every alteration.

Reads the chains as stored now, recomputes each link, compares every copied column with the
hashed content, and compares each chain with the latest signed checkpoint of its head (from
PANTAU_CHECKPOINT_DIR, signed with PANTAU_CHECKPOINT_KEY). Exit status 0: intact; 1: findings;
2: could not verify.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from clickhouse_driver.errors import Error as ClickHouseError

from pantau.history.chain import CaseKey
from pantau.history.checkpoints import SignedHead, latest_heads
from pantau.history.settings import CheckpointSettings
from pantau.history.store import ClickHouseHistory, connect
from pantau.history.verification import Finding, verify_case


def checkpoint_lines(directory: Path) -> Iterator[tuple[str, str]]:
    """Every line of every checkpoint file in the directory, with `file:line` as its source."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("checkpoints-*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                yield f"{path.name}:{number}", line


@dataclass
class Verified:
    """What one run of verify checked and found."""

    cases: int = 0
    events: int = 0
    legacy: int = 0  # events stored before receipts were sealed (chain version 1)
    findings: list[Finding] = field(default_factory=list)


def verify_store(
    store: ClickHouseHistory,
    signed: dict[CaseKey, SignedHead],
    agency: str | None = None,
    case_id: str | None = None,
) -> Verified:
    """What verify checked and found in the chosen chains and their signed heads."""
    result = Verified()
    findings = result.findings
    seen: set[CaseKey] = set()
    for case, rows in store.stored_chains(agency, case_id):
        seen.add(case)
        result.cases += 1
        result.events += len({row.position for row in rows})
        result.legacy += len({row.position for row in rows if row.legacy})
        findings += verify_case(case[0], case[1], rows, signed.get(case))
    # A case whose every row was deleted is known only to its checkpoint.
    for case, head in sorted(signed.items()):
        chosen = (agency is None or case[0] == agency) and (case_id is None or case[1] == case_id)
        if chosen and case not in seen:
            result.cases += 1
            findings += verify_case(case[0], case[1], [], head)
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pantau verify", description=__doc__.splitlines()[0])
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--case", metavar="AGENCY/CASE", help="one case, e.g. kota-malang.dpmptsp/PBG-1"
    )
    scope.add_argument("--agency", metavar="AGENCY", help="every case of one agency")
    scope.add_argument("--all", action="store_true", help="every case (the default)")
    parser.add_argument("target", nargs="?", choices=["all"], help="same as --all")
    args = parser.parse_args(argv)
    settings = CheckpointSettings()
    agency, case_id = args.agency, None
    if args.case:
        agency, sep, case_id = args.case.partition("/")
        if not sep or not agency or not case_id:
            parser.error("--case takes AGENCY/CASE_ID")
    signed: dict[CaseKey, SignedHead] = {}
    problems: list[str] = []
    if settings.checkpoint_key is not None and not settings.checkpoint_key.get_secret_value():
        # An empty key is a missing key, not a key under which every checkpoint fails.
        print(
            "pantau verify: PANTAU_CHECKPOINT_KEY is set but empty; set it to the key the sink "
            "signs checkpoints with, or unset it to verify without checkpoints",
            file=sys.stderr,
        )
        return 2
    if settings.checkpoint_key is None:
        print("note: PANTAU_CHECKPOINT_KEY unset; a deleted last event cannot be detected")
    else:
        key = settings.checkpoint_key.get_secret_value().encode("utf-8")
        signed, problems = latest_heads(key, checkpoint_lines(settings.checkpoint_dir))
        for problem in problems:
            print(f"checkpoint {problem}")
        if problems:
            print("checkpoints were altered: their heads are not trusted")
    store = ClickHouseHistory(connect(settings.clickhouse_target))
    try:
        result = verify_store(store, signed, agency, case_id)
    except (ClickHouseError, OSError) as error:
        print(f"pantau verify: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()
    findings, cases, events = result.findings, result.cases, result.events
    for finding in findings:
        print(finding)
    if result.legacy:
        print(
            f"note: {result.legacy} legacy events were stored before receive times were sealed; "
            "their content and order are checked, their received_at is not"
        )
    altered = len({(f.agency, f.case_id) for f in findings})
    if problems:
        print(f"ALTERED: {len(problems)} checkpoint lines fail their signature")
        return 1
    if findings:
        print(f"ALTERED: {len(findings)} findings in {altered} of {cases} cases ({events} events)")
        return 1
    print(f"intact: {cases} cases, {events} events")
    return 0
