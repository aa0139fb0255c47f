"""`pantau erase` destroys an applicant's data keys and records the erasure; `pantau personal`
shows a case's events with their sealed fields opened, or `[erased]`.

Erasing touches no event: the events keep their sealed envelopes, so every hash chain still
verifies, and without the keys nothing can open those envelopes again. The steps, each safe to
repeat: the key store's tombstones are acknowledged by the brokers, then the erasure is written
to the erasures topic and to the `erasures` table.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from clickhouse_driver.errors import Error as ClickHouseError
from kafka.errors import KafkaError

from pantau.adapters.kafka_client import KafkaProducer
from pantau.adapters.key_store import destroy_applicant_keys, read_keys
from pantau.core.erasure import Erasure
from pantau.core.pseudonym import has_standalone_nik_run
from pantau.core.sealing import applicant_key_id, open_sealed
from pantau.history.records import ERASURE_COLUMNS
from pantau.history.store import connect
from pantau.settings import CommonSettings, SealingSettings


def _case(parser: argparse.ArgumentParser, text: str) -> tuple[str, str]:
    agency, sep, case_id = text.partition("/")
    if not sep or not agency or not case_id:
        parser.error("--case takes AGENCY/CASE_ID")
    return agency, case_id


def _case_applicants(settings: CommonSettings, agency: str, case_id: str) -> list[str]:
    client = connect(settings.clickhouse_target)
    try:
        rows = client.execute(
            "SELECT DISTINCT applicant_ref FROM events "
            "WHERE agency = %(agency)s AND case_id = %(case_id)s AND applicant_ref != '' "
            "ORDER BY applicant_ref",
            {"agency": agency, "case_id": case_id},
        )
    finally:
        client.disconnect()
    return [str(row[0]) for row in rows]


def record_erasure(settings: CommonSettings, erasure: Erasure) -> None:
    """Write the erasure to the erasures topic (acknowledged) and to the `erasures` table."""
    try:
        producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
        try:
            producer.send(
                settings.topics.erasures,
                key=erasure.applicant_key.encode("ascii"),
                value=erasure.to_record(),
            ).get(timeout=30)
        finally:
            producer.close()
    except KafkaError as error:
        raise RuntimeError(f"cannot write to {settings.topics.erasures}: {error}") from error
    client = connect(settings.clickhouse_target)
    try:
        client.execute(
            f"INSERT INTO erasures ({', '.join(ERASURE_COLUMNS)}) VALUES",
            [
                (
                    erasure.erasure_id,
                    erasure.erased_at.astimezone(UTC).replace(tzinfo=None, microsecond=0),
                    erasure.erased_by,
                    erasure.why,
                    erasure.scope,
                    erasure.applicant_key,
                    list(erasure.data_keys),
                    datetime.now(UTC).replace(tzinfo=None, microsecond=0),
                )
            ],
        )
    finally:
        client.disconnect()


def erase_main(argv: list[str]) -> int:
    """`pantau erase`: destroy an applicant's data keys and record who, when and why."""
    parser = argparse.ArgumentParser(
        prog="pantau erase", description="erase an applicant's personal data (crypto-shredding)"
    )
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--applicant", metavar="REF", help="the applicant's ref (applicant.ref)")
    scope.add_argument("--case", metavar="AGENCY/CASE", help="the applicant(s) named by a case")
    parser.add_argument("--by", required=True, metavar="WHO", help="who erases (recorded)")
    parser.add_argument(
        "--reason", required=True, metavar="WHY", help="why, e.g. the request's number (recorded)"
    )
    args = parser.parse_args(argv)
    settings = CommonSettings()
    try:
        if args.case:
            agency, case_id = _case(parser, args.case)
            refs = _case_applicants(settings, agency, case_id)
            scope_text = f"case {agency}/{case_id}"
            if not refs:
                print(f"pantau erase: no applicant is named in case {args.case}", file=sys.stderr)
                return 1
        else:
            if has_standalone_nik_run(args.applicant) or not args.applicant.isprintable():
                print(
                    "pantau erase: --applicant takes the applicant's ref (applicant.ref, e.g. "
                    "k1:3f9a...), never a raw NIK; find the ref with --case, or ask whoever "
                    "holds the pseudonym key",
                    file=sys.stderr,
                )
                return 2
            refs, scope_text = [args.applicant], "applicant"
        now = datetime.now(UTC)
        for ref in refs:
            applicant = applicant_key_id(ref)
            erasure = Erasure(
                erasure_id=str(uuid.uuid4()),
                erased_at=now,
                erased_by=args.by,
                why=args.reason,
                scope=scope_text,
                applicant_key=applicant,
                data_keys=(),
            )  # checks who and why before anything is destroyed
            destroyed = destroy_applicant_keys(
                settings.kafka_servers, settings.topics.applicant_keys, applicant
            )
            erasure = replace(erasure, data_keys=tuple(destroyed))
            record_erasure(settings, erasure)
            print(
                f"erased {applicant}: {len(destroyed)} data keys destroyed; "
                f"erasure {erasure.erasure_id} recorded"
            )
            if not destroyed:
                print(
                    f"note: {applicant} had no live data key: erased before, or its events were "
                    "not sealed (those keep their personal data in clear)"
                )
    except ValueError as error:
        print(f"pantau erase: {error}", file=sys.stderr)
        return 2
    except (RuntimeError, ClickHouseError, OSError) as error:
        print(f"pantau erase: {error} (running the command again is safe)", file=sys.stderr)
        return 1
    return 0


def personal_main(argv: list[str]) -> int:
    """`pantau personal --case AGENCY/CASE`: the case's events, sealed fields opened or erased."""
    parser = argparse.ArgumentParser(
        prog="pantau personal",
        description="show a case's events with their personal fields opened (needs the master key)",
    )
    parser.add_argument("--case", required=True, metavar="AGENCY/CASE")
    args = parser.parse_args(argv)
    agency, case_id = _case(parser, args.case)
    settings = SealingSettings()
    try:
        master = settings.master()
    except ValueError as error:
        print(f"pantau personal: PANTAU_MASTER_KEY: {error}", file=sys.stderr)
        return 2
    if master is None:
        print("pantau personal: PANTAU_MASTER_KEY is not set", file=sys.stderr)
        return 2
    client = connect(settings.clickhouse_target)
    try:
        rows = client.execute(
            "SELECT event_id, step, applicant_ref, reason, attributes FROM v_events "
            "WHERE agency = %(agency)s AND case_id = %(case_id)s ORDER BY position, event_id",
            {"agency": agency, "case_id": case_id},
        )
        ring = read_keys(settings.kafka_servers, settings.topics.applicant_keys, master)
    except (RuntimeError, ClickHouseError, OSError) as error:
        print(f"pantau personal: {error}", file=sys.stderr)
        return 1
    finally:
        client.disconnect()
    for event_id, step, ref, reason, attributes in rows:
        document: dict[str, Any] = {
            "event_id": event_id,
            "agency": agency,
            "case_id": case_id,
            "attributes": json.loads(attributes),
        }
        if reason:
            document["reason"] = reason
        opened = open_sealed(document, ring.find)
        shown = {
            "event_id": event_id,
            "step": step,
            "applicant_ref": ref,
            "personal_data": opened.state,
            "reason": opened.document.get("reason"),
            "attributes": opened.document["attributes"],
        }
        print(json.dumps(shown, ensure_ascii=False, sort_keys=True))
    return 0
