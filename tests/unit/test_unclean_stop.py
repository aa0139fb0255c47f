"""After a worker stopped without a shutdown, the rules table is restored from its changelog."""

from __future__ import annotations

from pathlib import Path

from pantau_tracker.stream_runtime import RUNNING, discard_after_unclean_stop, mark_clean_stop


def stores(tables: Path) -> list[str]:
    return sorted(path.name for path in tables.iterdir())


def test_only_an_unclean_stop_discards_and_only_the_named_tables_stores(tmp_path: Path) -> None:
    tables = tmp_path / "v1" / "tables"
    for name in ("oversight-state-0.db", "oversight-state-11.db", "cases-0.db"):
        (tables / name).mkdir(parents=True)
        (tables / name / "000001.log").write_bytes(b"x")
    # A first start: nothing ran here before.
    assert discard_after_unclean_stop(tmp_path, tables, "oversight-state") == []
    assert (tmp_path / RUNNING).exists()
    # A clean stop, then a start: the stores are kept.
    mark_clean_stop(tmp_path)
    assert discard_after_unclean_stop(tmp_path, tables, "oversight-state") == []
    assert len(stores(tables)) == 3
    # Killed (no clean stop), then a start: the rules' stores go, the cases' stay.
    discarded = discard_after_unclean_stop(tmp_path, tables, "oversight-state")
    assert [path.name for path in discarded] == ["oversight-state-0.db", "oversight-state-11.db"]
    assert stores(tables) == ["cases-0.db"]
    assert (tmp_path / RUNNING).exists()
