"""The `pantau` command: one entry point for bootstrap, every long-running process and the tools.

Processes are configured only by `PANTAU_*` variables (`pantau --help` lists them); arguments are
for one-off tools (`pantau sql`, `pantau verify`, ...). Each command lives in its own module and is
imported only when it runs, so `pantau --help` stays fast.

Every long-running process starts the same way, through `start`: its arguments (`--help` only),
its settings read from the environment, and logging configured by them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from pantau.core.catalog import CatalogError
from pantau.logs import configure_logging
from pantau.settings import CommonSettings

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

SettingsT = TypeVar("SettingsT", bound=CommonSettings)


@dataclass(frozen=True)
class Command:
    """A subcommand: where its `main(argv) -> int` lives and which settings it reads."""

    name: str
    summary: str
    target: str  # "module:function"
    settings: str | None = None  # "module:Class" of its PANTAU_* settings, beyond the common ones
    long_running: bool = False


COMMANDS: tuple[Command, ...] = (
    Command(
        "bootstrap",
        "create the topics and apply the ClickHouse schema (idempotent)",
        "pantau.provisioning:main",
    ),
    Command(
        "kafka",
        "show the Kafka brokers and this stack's topics: replication, leaders, replicas in sync",
        "pantau.adapters.kafka_topics:main",
    ),
    Command(
        "catalog",
        "validate the service catalog and list it; `publish` a new version, `history`",
        "pantau.catalog_check:main",
    ),
    Command(
        "intake",
        "HTTP intake for agency systems (FastAPI)",
        "pantau_intake.main:main",
        "pantau_intake.settings:IntakeSettings",
        long_running=True,
    ),
    Command(
        "tracker",
        "live case state and rule detection (Faust worker)",
        "pantau_tracker.main:main",
        "pantau_tracker.settings:TrackerSettings",
        long_running=True,
    ),
    Command(
        "alerts",
        "alert lifecycle, operators' API and live dashboard",
        "pantau_alerts.main:main",
        "pantau_alerts.settings:AlertsSettings",
        long_running=True,
    ),
    Command(
        "status",
        "applicants' status page and reports (FastAPI)",
        "pantau_status.main:main",
        "pantau_status.settings:StatusSettings",
        long_running=True,
    ),
    Command(
        "sink",
        "writes events, alerts, case states and actions to ClickHouse",
        "pantau_sink.main:main",
        "pantau_sink.settings:SinkSettings",
        long_running=True,
    ),
    Command(
        "simulate",
        "generate realistic case traffic with planted anomalies",
        "pantau.traffic.simulate:main",
        "pantau.traffic.settings:SimulateSettings",
        long_running=True,
    ),
    Command(
        "replay", "import a real event log (CSV) as backfill events", "pantau.traffic.replay:main"
    ),
    Command(
        "evaluate",
        "precision and recall of raised alerts against a ground truth",
        "pantau.traffic.evaluate:main",
    ),
    Command(
        "verify",
        "recompute the tamper-evident hash chains in ClickHouse",
        "pantau.history.verify:main",
    ),
    Command(
        "auditor",
        "add a read-only ClickHouse auditor who sees one agency's history",
        "pantau.history.auditors:main",
        "pantau.history.auditors:AuditorSettings",
    ),
    Command(
        "erase",
        "erase an applicant's personal data: destroy the data keys, record who, when and why",
        "pantau.erasure:erase_main",
    ),
    Command(
        "personal",
        "show a case's events with their sealed personal data opened, or erased",
        "pantau.erasure:personal_main",
        "pantau.settings:SealingSettings",
    ),
    Command("sql", "run a SQL query against the history of record", "pantau.history.sql:main"),
    Command(
        "report",
        "render oversight reports (e.g. monthly SLA compliance)",
        "pantau.history.report:main",
    ),
)


def _resolve(target: str) -> Callable[..., object] | None:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None  # the command's package is not part of this build yet
        raise
    found = getattr(module, attr)
    return found if callable(found) else None


def _available(command: Command) -> bool:
    module_name = command.target.partition(":")[0]
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # a parent package is not part of this build yet
        return False


def _settings_lines(cls: type[BaseSettings], seen: set[str]) -> list[str]:
    prefix = str(cls.model_config.get("env_prefix", "PANTAU_"))
    lines = []
    for name, field in cls.model_fields.items():
        var = f"{prefix}{name.upper()}"
        if var in seen:
            continue
        seen.add(var)
        default = field.get_default(call_default_factory=True)
        shown = "(required)" if field.is_required() else f"[{default}]"
        lines.append(f"  {var:<32} {field.description or ''} {shown}")
    return lines


def environment_help() -> str:
    """Every PANTAU_* variable of every available command, with its default."""
    seen: set[str] = set()
    out = ["common:", *_settings_lines(CommonSettings, seen)]
    for command in COMMANDS:
        if command.settings is None or not _available(command):
            continue
        module_name, _, cls_name = command.settings.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), cls_name)
        except (ModuleNotFoundError, AttributeError):
            continue
        lines = _settings_lines(cls, seen)
        if lines:
            out += [f"{command.name}:", *lines]
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    available = [c for c in COMMANDS if _available(c)]
    width = max(len(c.name) for c in available)
    listing = "\n".join(f"  {c.name:<{width}}  {c.summary}" for c in available)
    parser = argparse.ArgumentParser(
        prog="pantau",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Pantau: live oversight of public-service cases.",
        epilog=f"commands:\n{listing}\n\nconfiguration (environment):\n{environment_help()}\n\n"
        "Run `pantau <command> --help` for a command's own arguments.",
    )
    parser.add_argument("command", choices=[c.name for c in available], metavar="command")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the command")
    return parser


def process_settings(service: str, settings_class: type[SettingsT]) -> SettingsT:
    """The settings of one process, read from its `PANTAU_*` variables, with the process's
    logging configured by them (level, format, and `service` on every line)."""
    settings = settings_class()
    configure_logging(service, settings.log_level, settings.log_format)
    return settings


def start(
    service: str, description: str, settings_class: type[SettingsT], argv: Sequence[str]
) -> SettingsT:
    """The start of `pantau <service>`, a long-running process configured only by `PANTAU_*`
    variables: its arguments are parsed (`--help` prints `description`; any other argument is
    a usage error, exit 2), then its settings are built and its logging configured."""
    argparse.ArgumentParser(prog=f"pantau {service}", description=description).parse_args(argv)
    return process_settings(service, settings_class)


def http_server_config(app: FastAPI, host: str, port: int, log_level: str) -> uvicorn.Config:
    """uvicorn's configuration for a `pantau` HTTP service that stops within 3 s: its loggers
    go through the handler `start` configured, so that its lines have the one Pantau format."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        log_config=None,
        timeout_graceful_shutdown=3,
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["processes"]:
        # For deploy/stack.sh: the long-running processes this build has, one per line.
        print("\n".join(c.name for c in COMMANDS if c.long_running and _available(c)))
        return 0
    args = build_parser().parse_args(argv)
    command = next(c for c in COMMANDS if c.name == args.command)
    entry = _resolve(command.target)
    if entry is None:
        print(f"pantau: {command.name} is not available in this build", file=sys.stderr)
        return 2
    try:
        process_settings(command.name, CommonSettings)
        result = entry(list(args.args))
    except ValidationError as exc:
        print(f"pantau {command.name}: bad configuration:\n{exc}", file=sys.stderr)
        return 2
    except CatalogError as exc:
        print(f"pantau {command.name}: the service catalog is broken:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
