"""The one log format: JSON lines with the known identifiers, text on request, never a raw NIK."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from pantau.logs import configure_logging, get_logger, log_context, redact

NIK = "3573010101900001"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    yield out
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_standard_logging_becomes_one_json_line_with_the_common_keys(stream: io.StringIO) -> None:
    """A stdlib logger's line carries ts, level, service, logger and the formatted message."""
    configure_logging("intake", "INFO", stream=stream)
    logging.getLogger("pantau_intake.publisher").warning("publishing to %s failed", "t")
    [line] = lines(stream)
    assert line["service"] == "intake"
    assert line["level"] == "warning"
    assert line["logger"] == "pantau_intake.publisher"
    assert line["message"] == "publishing to t failed"
    assert str(line["ts"]).endswith("Z")


def test_identifiers_come_from_the_context_and_from_extra(stream: io.StringIO) -> None:
    """event_id, agency and case_id appear when bound for a block or passed with the call."""
    configure_logging("sink", "INFO", stream=stream)
    with log_context(agency="kota-malang.dpmptsp", case_id="PBG-1"):
        logging.getLogger("pantau.sink").info("stored")
        get_logger("pantau.sink").info("chained", event_id="e-1")
    logging.getLogger("pantau.sink").info("alone", extra={"event_id": "e-2", "secret": "x"})
    first, second, third = lines(stream)
    assert (first["agency"], first["case_id"]) == ("kota-malang.dpmptsp", "PBG-1")
    assert (second["event_id"], second["case_id"]) == ("e-1", "PBG-1")
    assert third["event_id"] == "e-2"
    assert "agency" not in third
    assert "secret" not in third  # only the documented identifiers are taken from extra


def test_no_raw_nik_in_any_line(stream: io.StringIO) -> None:
    """A NIK in the message, an argument, a bound value or an exception is redacted."""
    configure_logging("intake", "DEBUG", stream=stream)
    log = logging.getLogger("pantau_intake.app")
    log.info("body %s", f'{{"applicant": {{"nik": "{NIK}"}}}}')
    get_logger("pantau_intake.app").info("raw", nik_number=int(NIK), note=f"NIK {NIK}.")
    try:
        raise ValueError(f"bad {NIK}")
    except ValueError:
        log.exception("failed")
    text = stream.getvalue()
    assert NIK not in text
    assert text.count("[REDACTED]") >= 4


def test_redaction_keeps_officer_nips_and_pseudonyms() -> None:
    """An 18-digit NIP and a hex pseudonym are not NIKs."""
    kept = "officer 198702142010011003 ref k1:3f9a0000000000000000aa"
    assert redact(kept) == kept
    assert redact("nik=1234") == 'nik="[REDACTED]"'


def test_text_format_for_terminals(stream: io.StringIO) -> None:
    """PANTAU_LOG_FORMAT=text gives a human line, not JSON, still redacted."""
    configure_logging("alerts", "INFO", "text", stream=stream)
    logging.getLogger("pantau_alerts").info("hello %s", NIK)
    text = stream.getvalue()
    assert "hello [REDACTED]" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_level_is_respected_and_bad_levels_refused(stream: io.StringIO) -> None:
    """Below the level nothing is written; an unknown level is an error, not a silent default."""
    configure_logging("intake", "WARNING", stream=stream)
    logging.getLogger("pantau_intake").info("quiet")
    assert stream.getvalue() == ""
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("intake", "LOUD", stream=stream)


def _faust_chatter() -> None:
    """What Faust's producer and mode's timers say under load, through their own loggers."""
    from faust.transport import producer
    from mode import timers

    producer.logger.warning("producer buffer full size 101")
    producer.logger.info("producer flush took 0.01")
    timers.logger.warning("Timer %s is overlapping (interval=%r runtime=%r)", "commit", 2.8, 3.1)
    timers.logger.info("Timer %s woke up too late, with a drift of +%r", "commit", 1.2)
    logging.getLogger("kafka.net.selector").warning(
        "Task <kafka.net.selector.Task object at 0x7f56> ran for 0.112s (>0.100s threshold). "
        "It is blocking the event loop -- likely a tight sync loop"
    )


def test_library_chatter_is_logged_at_debug_only(stream: io.StringIO) -> None:
    """Faust's, mode's and kafka-python's routine notes are gone at INFO and WARNING, and come
    out at DEBUG as debug lines; their real warnings stay warnings."""
    configure_logging("tracker", "INFO", stream=stream)
    _faust_chatter()
    logging.getLogger("mode.timers").warning("Timer %s raised", "commit")
    assert [(line["level"], line["message"]) for line in lines(stream)] == [
        ("warning", "Timer commit raised")
    ]
    configure_logging("tracker", "DEBUG", stream=stream)
    _faust_chatter()
    chatter = lines(stream)[1:]
    assert [line["level"] for line in chatter] == ["debug"] * 5
    assert chatter[0]["message"] == "producer buffer full size 101"
    assert chatter[2]["message"] == "Timer commit is overlapping (interval=2.8 runtime=3.1)"
    assert chatter[0]["logger"] == "faust.transport.producer"
