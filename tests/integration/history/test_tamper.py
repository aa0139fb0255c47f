"""Tamper evidence: `pantau verify` names every case and position altered after the fact."""

from __future__ import annotations

import time
from pathlib import Path

from clickhouse_driver import Client

from integration.history.known_history import events
from integration.history.sink_process import SinkProcess, publish_events, wait_for
from pantau.history.records import EVENT_COLUMNS
from stacks import pantau_cli, stack_settings

KM, DK, SL = "kota-malang.dpmptsp", "kota-malang.disdukcapil", "kab-sleman.dpmptsp"


def _mutate(client: Client, statement: str) -> None:
    """Run an ALTER ... UPDATE/DELETE as an admin would, and wait until it has taken effect."""
    client.execute(statement)
    wait_for(
        lambda: (
            client.execute(
                "SELECT count() FROM system.mutations WHERE database = currentDatabase() "
                "AND table = 'events' AND is_done = 0"
            )[0][0]
            == 0
        ),
        timeout=30,
    )


def test_verify_names_updated_deleted_and_inserted_rows(
    history_stack: dict[str, str], history_client: Client, tmp_path: Path
) -> None:
    """An untouched store verifies clean; an UPDATE, a DELETE of a middle event, a DELETE of a
    case's last event and a forged INSERT are each reported with the case and position."""
    env = {
        **history_stack,
        "PANTAU_CHECKPOINT_KEY": "tamper-test-key",
        "PANTAU_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }
    settings = stack_settings(env)
    client = history_client
    known = events()
    sink = SinkProcess(env, tmp_path / "sink.log")
    try:
        publish_events(env["PANTAU_KAFKA"], settings.topics.events, known)
        wait_for(
            lambda: client.execute("SELECT count() FROM events")[0][0] == len(known), timeout=60
        )
    finally:
        assert sink.stop() == 0, sink.log.read_text()  # a graceful stop signs the last heads

    clean = pantau_cli(env, "verify", "all", timeout=60)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"intact: 7 cases, {len(known)} events" in clean.stdout

    _mutate(
        client,
        f"ALTER TABLE events UPDATE officer_id = 'X9' WHERE agency = '{KM}' "
        "AND case_id = 'PBG-1' AND position = 2",
    )
    _mutate(
        client,
        f"ALTER TABLE events DELETE WHERE agency = '{KM}' AND case_id = 'PBG-2' AND position = 3",
    )
    _mutate(
        client,
        f"ALTER TABLE events DELETE WHERE agency = '{SL}' AND case_id = 'R-1' AND position = 7",
    )
    # A forged row copied from a real one, with another officer, at the same position.
    client.execute(
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
        "SELECT event_id, agency, service, case_id, step, seq, occurred_at, "
        "occurred_at_us, received_at, received_at_ms, 'FAKE', officer_role, applicant_ref, "
        "payment_amount, payment_currency, payment_receipt, reason, channel, mode, attributes, "
        "replaceAll(canonical, 'OP1', 'FAKE'), position, prev_hash, hash, source_partition, "
        f"source_offset, stored_at, chain_version, receipt FROM events WHERE agency = '{DK}' "
        "AND case_id = 'KTP-1' AND position = 2"
    )
    # A receive time moved two days back (to hide a backdated entry): the row is re-inserted
    # with the earlier time and the original deleted, since received_at is in the partition key.
    where = f"agency = '{KM}' AND case_id = 'PBG-1' AND position = 4"
    [(received,)] = client.execute(f"SELECT received_at FROM events WHERE {where}")
    backdated = ", ".join(
        "received_at - 172800" if c == "received_at" else c for c in EVENT_COLUMNS
    )
    client.execute(
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT {backdated} FROM events "
        f"WHERE {where}"
    )
    _mutate(client, f"ALTER TABLE events DELETE WHERE {where} AND received_at = '{received}'")
    time.sleep(0.1)

    altered = pantau_cli(env, "verify", timeout=60)
    out = altered.stdout
    assert altered.returncode == 1, out + altered.stderr
    lines = out.splitlines()

    def reported(prefix: str, words: str) -> bool:
        return any(line.startswith(prefix) and words in line for line in lines)

    assert reported(f"{KM}/PBG-1 position 2 {KM}:PBG-1:2", "column officer_id differs"), out
    assert reported(f"{KM}/PBG-2 position 3", "the event was deleted"), out
    assert reported(
        f"{KM}/PBG-1 position 4 {KM}:PBG-1:4",
        "column received_at differs from the sealed receipt: the receive time or place was moved",
    ), out
    assert reported(f"{SL}/R-1 position 7", "checkpoint"), out
    assert reported(f"{DK}/KTP-1 position 2", "2 different rows"), out
    assert not any("KTP-2" in line or "PBG-3" in line or "SLF-1" in line for line in lines), out
    assert "4 of 7 cases" in out, out

    one = pantau_cli(env, "verify", "--case", f"{DK}/KTP-2", timeout=60)
    assert one.returncode == 0, one.stdout
    assert "intact: 1 cases, 2 events" in one.stdout
    agency = pantau_cli(env, "verify", "--agency", SL, timeout=60)
    assert agency.returncode == 1, agency.stdout
    assert f"{SL}/R-1 position 7" in agency.stdout
