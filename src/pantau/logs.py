"""One log format for every Pantau process: JSON lines by default, text for people at a terminal.

`configure_logging(service, level, fmt)` is called once by each entry point (the `pantau` command
does it for every command, the long-running processes again with their own settings, both
through `pantau.cli.process_settings`). It routes
the standard library's `logging` (our modules and the libraries: uvicorn, kafka-python, Faust)
and structlog through one handler on stderr, so every line has the same keys:

    {"ts": "2026-11-27T02:15:00.123456Z", "level": "warning", "service": "intake",
     "logger": "pantau_intake.adapters.kafka_publisher", "message": "...", "agency": "...",
     "case_id": "..."}

`event_id`, `agency` and `case_id` appear when known: bound for a block with `log_context(...)`
(contextvars, so they follow the asyncio task or thread), or passed per call
(`log.warning("...", extra={"agency": ...})`, or as keyword arguments of a structlog logger).

No raw NIK reaches a line: every string value is redacted (a standalone 16-digit run, or the
value of a `nik` member, becomes `[REDACTED]`) after the message is formatted, whichever way the
NIK got into it. Officer NIPs (18 digits) and pseudonyms (hex) are left alone.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Literal, TextIO

import orjson
import structlog

from pantau.core.pseudonym import REDACTED

LogFormat = Literal["json", "text"]
CONTEXT_KEYS = ("event_id", "agency", "case_id")
QUIET_LIBRARIES = ("kafka", "aiokafka")  # connection chatter at INFO would drown our own lines
# Libraries' notes on their own working, logged at INFO or WARNING in normal operation: Faust's
# producer buffer filling while a batch of table writes drains, a periodic timer of mode (the
# offset commit) running longer than its interval under load, a step of kafka-python's network
# loop taking more than 0.1 s on a busy machine. They say nothing an operator must act on (the
# processes' metrics show lag and batch sizes), so they are logged at DEBUG. Matched by a part
# of the message's text (its format string), per logger.
LIBRARY_CHATTER: dict[str, tuple[str, ...]] = {
    "faust.transport.producer": ("producer buffer full", "producer flush took"),
    "mode.timers": ("Timer %s is overlapping", "Timer %s woke up too "),
    "kafka.net.selector": ("threshold). It is blocking the event loop",),
}

_NIK_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9]{16}(?![0-9A-Za-z])")
_NIK_MEMBER = re.compile(
    r"""(["']?nik["']?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|-?[0-9][0-9.eE+-]*)""",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` with every probable raw NIK replaced by `[REDACTED]`."""
    if not any(char.isdigit() for char in text):  # the common case: nothing to look at
        return text
    text = _NIK_MEMBER.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)
    return _NIK_RUN.sub(REDACTED, text)


def _redact_value(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) == 16:
        return REDACTED
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def _redact_processor(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        event_dict[key] = _redact_value(value)
    return event_dict


def _service_processor(service: str) -> structlog.types.Processor:
    def add_service(
        _logger: object, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of each line (it may be replaced)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


class _Chatter(logging.Filter):
    """Logs a library's routine notes (`LIBRARY_CHATTER`) at DEBUG instead of their own level."""

    def __init__(self, parts: tuple[str, ...]) -> None:
        super().__init__()
        self.parts = parts

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        if record.levelno > logging.DEBUG and any(part in text for part in self.parts):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def _json_dumps(value: object, **_: object) -> str:
    return orjson.dumps(value, default=str).decode("utf-8")


def level_number_of(level: str) -> int:
    """The `logging` number of a level name (any case); ValueError for a name it does not know."""
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR")
    return number


def configure_logging(
    service: str,
    level: str = "INFO",
    fmt: LogFormat = "json",
    *,
    stream: TextIO | None = None,
) -> None:
    """Send every log line of this process to `stream` (stderr) in the one Pantau format.

    Idempotent: a second call replaces the first (the `pantau` command configures logging before
    it knows the process's own settings; the process then configures it again).
    """
    level_number = level_number_of(level)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(allow=CONTEXT_KEYS),
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _service_processor(service),
    ]
    renderer: structlog.types.Processor
    if fmt == "text":
        renderer = structlog.dev.ConsoleRenderer(colors=False, event_key="message")
    else:
        renderer = structlog.processors.JSONRenderer(serializer=_json_dumps)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            _redact_processor,
            renderer,
        ],
    )
    handler: logging.Handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        # Ours from an earlier call, or basicConfig's; handlers of other kinds (a test
        # runner's capture) are left in place.
        if type(old) in (logging.StreamHandler, _StderrHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_number)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faust", "mode"):
        library = logging.getLogger(name)
        library.handlers.clear()  # a library's own handler would print a second format
        library.propagate = True
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, level_number))
    for name, parts in LIBRARY_CHATTER.items():
        library = logging.getLogger(name)
        for old_filter in [f for f in library.filters if isinstance(f, _Chatter)]:
            library.removeFilter(old_filter)
        library.addFilter(_Chatter(parts))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger writing through `configure_logging`'s handler."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


@contextmanager
def log_context(
    *, event_id: str | None = None, agency: str | None = None, case_id: str | None = None
) -> Iterator[None]:
    """Add the given identifiers to every line logged inside the block (this task or thread)."""
    known = {
        key: value
        for key, value in (("event_id", event_id), ("agency", agency), ("case_id", case_id))
        if value is not None
    }
    with structlog.contextvars.bound_contextvars(**known):
        yield
