"""Every example in docs/replay.md is run: the mapping maps the CSV to the events shown, the dry
run reports what the page says, each error line is what that mistake gives, and the tables list
exactly the keys the mapping reader accepts."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from pantau.core.catalog import load_catalog
from pantau.settings import SAMPLE_CATALOG
from pantau.traffic import replay
from pantau.traffic.mapping import COLUMN_KEYS, MAPPING_KEYS, LogMapping, MappingError
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.standards import Standards, TrackerPolicy
from pantau_tracker.domain.tracking import handle_event

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "replay.md"
TEXT = DOC.read_text(encoding="utf-8")


def _block(language: str, index: int = 0) -> str:
    blocks: list[str] = re.findall(rf"```{language}\n(.*?)```", TEXT, re.S)
    return blocks[index]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _mapping() -> LogMapping:
    return LogMapping.parse(yaml.safe_load(_block("yaml")), "pbg.yaml")


def _table_keys(header: str) -> list[str]:
    start = TEXT.index(header)
    keys = []
    for line in TEXT[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        keys.append(line.split("|")[1].strip().strip("`"))
    return keys


def test_the_example_maps_to_the_events_shown() -> None:
    events, report = _mapping().events(_rows(_block("csv")))
    shown: list[dict[str, Any]] = json.loads(_block("json"))
    assert len(events) == len(shown)
    for event, expected in zip(events, shown, strict=True):
        document = json.loads(event.to_json_bytes())
        assert {key: document.get(key) for key in expected} == expected
        for absent in {"officer", "payment"} - set(expected):
            assert document.get(absent) is None, (event.event_id, absent)
        assert (document["agency"], document["service"], document["mode"]) == (
            "kota-malang.dpmptsp",
            "pbg",
            "backfill",
        )
    assert (report.rows, report.mapped_rows, report.closing_events, report.cases) == (4, 4, 1, 2)


def test_the_dry_run_reports_what_the_page_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pbg.csv").write_text(_block("csv"), encoding="utf-8")
    (tmp_path / "pbg.yaml").write_text(_block("yaml"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PANTAU_CATALOG", str(SAMPLE_CATALOG))
    command = re.search(r"`(pantau replay pbg\.csv [^`]*)`", TEXT)
    assert command is not None
    assert replay.main(shlex.split(command.group(1))[2:]) == 0
    (said,) = re.findall(r"^pbg\.csv: \d+ rows.*$", TEXT, re.M)
    assert capsys.readouterr().err.startswith(said + " mapped in ")


def test_the_replayed_example_raises_what_the_page_says() -> None:
    standard = Standards(load_catalog(SAMPLE_CATALOG), TrackerPolicy()).for_case(
        "kota-malang.dpmptsp", "pbg"
    )
    assert standard is not None
    events, _ = _mapping().events(_rows(_block("csv")))
    states: dict[str, CaseState] = {}
    raised: set[tuple[str, str]] = set()
    for event in events:
        outcome = handle_event(states.get(event.case_id), event, event.occurred_at, standard)
        assert outcome.state is not None
        states[event.case_id] = outcome.state
        raised |= {(a.case_id, a.rule) for a in outcome.alerts}
    sentence = re.search(
        r"PBG-1 skipped `fee_assessed` \(`([a-z._]+)`\), so it paid\s+before its fee was "
        r"assessed \(`([a-z._]+)`\), and skipped `approved`\s+\(`([a-z._]+)`\), and"
        r"\s+was issued after .*? \(`([a-z._]+)`\)",
        TEXT,
        re.S,
    )
    assert sentence is not None
    assert raised == {("PBG-1", rule) for rule in sentence.groups()}


COLUMNS = {"time": "when", "payment.amount": "paid", "step": "activity", "officer.id": "who"}


@pytest.mark.parametrize(
    "line", re.findall(r"^pbg\.csv: line \d+: .*$", TEXT, re.M), ids=lambda line: line[:40]
)
def test_each_error_line_is_what_that_mistake_gives(line: str) -> None:
    match = re.match(r"pbg\.csv: line (\d+): ([a-z.]+)[ :(].*?'([^']*)'", line)
    assert match is not None
    number, field, value = int(match.group(1)), match.group(2), match.group(3)
    rows = _rows(_block("csv"))
    rows[number - 2][COLUMNS[field]] = value
    with pytest.raises(MappingError) as caught:
        _mapping().events(rows, log_name="pbg.csv")
    assert str(caught.value) == line


def test_the_key_tables_list_exactly_the_accepted_keys() -> None:
    assert sorted(_table_keys("| key | required |")) == sorted(MAPPING_KEYS)
    assert sorted(_table_keys("| spec key |")) == sorted(COLUMN_KEYS)
    placeholders = _table_keys("| placeholder |")
    assert placeholders[:3] == ["{agency}`, `{service}", "{case}", "{line}"]


def test_the_unknown_key_example() -> None:
    shown = re.search(r"`(pbg\.yaml: payment: unknown keys[^`]*)`", TEXT.replace("\n", " "))
    assert shown is not None
    spec = {**yaml.safe_load(_block("yaml")), "payment": {"amout": "paid"}}
    with pytest.raises(MappingError) as caught:
        LogMapping.parse(spec, "pbg.yaml")
    assert str(caught.value) == shown.group(1)


def test_the_shell_commands_name_real_files_and_options() -> None:
    for block in re.findall(r"```sh\n(.*?)```", TEXT, re.S):
        command = shlex.split(block.replace("\\\n", " "))
        assert command[1:3] == ["pantau", "replay"], command
        args = replay.build_parser().parse_args(command[3:])
        assert (REPO / args.mapping).is_file()
        assert (REPO / args.log).is_file()
