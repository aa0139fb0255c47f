"""`pantau report sla --agency A --month YYYY-MM`: one agency's monthly service-standard report.

Prints the compliance table of the month (cases closed per service, within and past the
standard, share within) from v_sla_compliance and draws it as a PNG bar chart.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from clickhouse_driver.errors import Error as ClickHouseError

from pantau.history.store import connect
from pantau.history.tables import render_table
from pantau.settings import CommonSettings

COLUMNS = ("service", "cases_closed", "within_sla", "breached", "compliance_pct")


def month_start(text: str) -> date:
    """The first day of a `YYYY-MM` month; ValueError otherwise."""
    if re.fullmatch(r"\d{4}-\d{2}", text) is None:
        raise ValueError(f"month must be YYYY-MM, not {text!r}")
    return date(int(text[:4]), int(text[5:]), 1)


def with_total(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """The service rows and a final `all services` row."""
    closed = sum(int(r[1]) for r in rows)
    within = sum(int(r[2]) for r in rows)
    breached = sum(int(r[3]) for r in rows)
    pct = round(100 * within / closed, 1) if closed else None
    return [tuple(r) for r in rows] + [("all services", closed, within, breached, pct)]


def draw_chart(agency: str, month: str, rows: Sequence[Sequence[Any]], out: Path) -> None:
    """A horizontal bar per service: cases within the standard and past it, with the share."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    from matplotlib import pyplot

    services = [str(r[0]) for r in rows]
    within = [int(r[2]) for r in rows]
    breached = [int(r[3]) for r in rows]
    figure, axes = pyplot.subplots(figsize=(8, 1.8 + 0.6 * max(1, len(rows))))
    axes.barh(services, within, color="#2e7d32", label="within the standard")
    axes.barh(services, breached, left=within, color="#c62828", label="past the standard")
    for index, row in enumerate(rows):
        pct = row[4]
        label = "n/a" if pct is None else f"{float(Decimal(str(pct))):.1f}%"
        axes.text(within[index] + breached[index], index, f"  {label}", va="center")
    axes.set_xlim(0, max(w + b for w, b in zip(within, breached, strict=True)) * 1.2 or 1)
    axes.set_xlabel("cases closed")
    axes.set_title(f"Service-standard compliance, {agency}, {month}")
    axes.invert_yaxis()
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, fontsize="small")
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    pyplot.close(figure)


def _sla(args: argparse.Namespace) -> int:
    try:
        first_day = month_start(args.month)
    except ValueError as error:
        print(f"pantau report: {error}", file=sys.stderr)
        return 2
    settings = CommonSettings()
    client = connect(settings.clickhouse_target)
    try:
        rows = client.execute(
            f"SELECT {', '.join(COLUMNS)} FROM v_sla_compliance "
            "WHERE agency = %(agency)s AND month = %(month)s ORDER BY service",
            {"agency": args.agency, "month": first_day},
        )
    except (ClickHouseError, OSError) as error:
        print(f"pantau report: {str(error).split('Stack trace')[0].strip()}", file=sys.stderr)
        return 1
    finally:
        client.disconnect()
    print(f"Service-standard compliance of {args.agency} in {args.month} (cases closed, UTC)")
    if not rows:
        print("no case of this agency closed in that month")
        return 0
    print(render_table(COLUMNS, with_total(rows)))
    out = args.out or Path(f"sla-{args.agency}-{args.month}.png")
    draw_chart(args.agency, args.month, rows, out)
    print(f"chart: {out}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pantau report", description=__doc__.splitlines()[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    sla = kinds.add_parser("sla", help="monthly service-standard compliance of one agency")
    sla.add_argument("--agency", required=True, help="agency code, e.g. kota-malang.dpmptsp")
    sla.add_argument("--month", required=True, help="YYYY-MM (UTC month of closing)")
    sla.add_argument("--out", type=Path, help="PNG path [sla-<agency>-<month>.png]")
    args = parser.parse_args(argv)
    return _sla(args)
