"""`pantau report sla --agency A --month YYYY-MM`: one agency's monthly service-standard report.

A case closed in the month (UTC) is within the standard when it met the service's limit for the
whole case (`v_cases.breached` is 0) and every step limit of the standard (the tracker raised no
`sla.step_overdue` on it: no step done after its deadline, none still awaited when its deadline
passed). The report prints, per service, which limits it judged (`service+steps`, `service`,
`steps` or `none`), the cases closed, within the standard, past the service limit, past a step
limit only, and the share within; then the limits themselves; and draws the figures as a PNG.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clickhouse_driver.errors import Error as ClickHouseError

from pantau.history.store import connect
from pantau.history.tables import render_table
from pantau.settings import CommonSettings

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = (
    "service",
    "judged",
    "cases_closed",
    "within",
    "past_service",
    "past_step_only",
    "compliance_pct",
)

# Cases closed in the month, each with whether it passed the service limit and how many step
# deadlines the tracker found missed on it (one JOIN per SELECT: ClickHouse 18.16).
CASES_QUERY = """
SELECT
    service,
    count() AS cases_closed,
    countIf(breached = 0 AND late_steps = 0) AS within,
    countIf(breached = 1) AS past_service,
    countIf(breached = 0 AND late_steps > 0) AS past_step_only
FROM
(
    SELECT service, breached, late_steps
    FROM
    (
        SELECT agency, service, case_id, breached
        FROM v_cases
        WHERE agency = %(agency)s AND closed_at IS NOT NULL
          AND toStartOfMonth(assumeNotNull(closed_at)) = %(month)s
    ) AS closed
    ANY LEFT JOIN
    (
        SELECT agency, service, case_id, count() AS late_steps
        FROM v_alerts
        WHERE agency = %(agency)s AND rule = 'sla.step_overdue'
        GROUP BY agency, service, case_id
    ) AS late USING (agency, service, case_id)
) AS judged_cases
GROUP BY service
ORDER BY service
"""

SERVICE_LIMITS_QUERY = "SELECT service, sla FROM v_service_standards WHERE agency = %(agency)s"
STEP_LIMITS_QUERY = (
    "SELECT service, step, sla FROM v_service_steps "
    "WHERE agency = %(agency)s AND sla != '' ORDER BY service, step_index"
)


@dataclass(frozen=True)
class Limits:
    """The time limits of one service in the standard in force: the whole case's and each
    step's (in the standard's order)."""

    service: str = ""
    steps: tuple[tuple[str, str], ...] = ()

    @property
    def judged(self) -> str:
        """Which limits a case of the service is judged on."""
        parts = [name for name, on in (("service", self.service), ("steps", self.steps)) if on]
        return "+".join(parts) or "none"

    def describe(self) -> str:
        """The limits in words, e.g. `service 28 working_days; steps verified 3 working_days`."""
        parts = [f"service {self.service}" if self.service else "no service limit"]
        if self.steps:
            parts.append("steps " + ", ".join(f"{step} {sla}" for step, sla in self.steps))
        else:
            parts.append("no step limit")
        return "; ".join(parts)


def limits_by_service(
    service_rows: Sequence[Sequence[Any]], step_rows: Sequence[Sequence[Any]]
) -> dict[str, Limits]:
    """Each service's limits from the rows of the standards and their steps."""
    steps: dict[str, list[tuple[str, str]]] = {}
    for service, step, sla in step_rows:
        steps.setdefault(str(service), []).append((str(step), str(sla)))
    found = {
        str(code): Limits(str(sla or ""), tuple(steps.get(str(code), ())))
        for code, sla in service_rows
    }
    for service, listed in steps.items():
        found.setdefault(service, Limits("", tuple(listed)))
    return found


def month_start(text: str) -> date:
    """The first day of a `YYYY-MM` month; ValueError otherwise."""
    if re.fullmatch(r"\d{4}-\d{2}", text) is None:
        raise ValueError(f"month must be YYYY-MM, not {text!r}")
    return date(int(text[:4]), int(text[5:]), 1)


def report_rows(
    counts: Sequence[Sequence[Any]], limits: Mapping[str, Limits]
) -> list[tuple[Any, ...]]:
    """The table's rows: per service (service, judged, closed, within, past the service limit,
    past a step limit only, share within), then an `all services` total."""
    rows: list[tuple[Any, ...]] = []
    for service, closed, within, past_service, past_step in counts:
        judged = limits.get(str(service), Limits()).judged
        rows.append(
            (str(service), judged, int(closed), int(within), int(past_service), int(past_step))
        )
    totals = [sum(int(r[i]) for r in rows) for i in range(2, 6)]
    rows.append(("all services", "", *totals))
    return [(*r, round(100 * r[3] / r[2], 1) if r[2] else None) for r in rows]


def build_chart(agency: str, month: str, rows: Sequence[Sequence[Any]]) -> Figure:
    """A horizontal bar per service: cases within the standard, past the service limit, and
    past a step limit only, with the share within at the bar's end; the legend below the axis
    label, outside the plot."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    services = [str(r[0]) for r in rows]
    within = [int(r[3]) for r in rows]
    past_service = [int(r[4]) for r in rows]
    past_step = [int(r[5]) for r in rows]
    figure = Figure(figsize=(8, 2.2 + 0.6 * max(1, len(rows))), layout="constrained")
    axes = figure.add_subplot()
    axes.barh(services, within, color="#2e7d32", label="within every limit")
    axes.barh(services, past_service, left=within, color="#c62828", label="past the service limit")
    after = [w + s for w, s in zip(within, past_service, strict=True)]
    axes.barh(services, past_step, left=after, color="#ef6c00", label="past a step limit only")
    for index, row in enumerate(rows):
        pct = row[6]
        label = "n/a" if pct is None else f"{float(pct):.1f}%"
        axes.text(after[index] + past_step[index], index, f"  {label}", va="center")
    axes.set_xlim(0, max(a + p for a, p in zip(after, past_step, strict=True)) * 1.25 or 1)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("cases closed")
    axes.set_title(f"Service-standard compliance, {agency}, {month}")
    axes.invert_yaxis()
    figure.legend(loc="outside lower center", ncol=3, fontsize="small", frameon=False)
    return figure


def draw_chart(agency: str, month: str, rows: Sequence[Sequence[Any]], out: Path) -> None:
    """Write the chart of `rows` (the service rows of `report_rows`) as a PNG."""
    figure = build_chart(agency, month, rows)
    figure.savefig(out, dpi=120)


def _sla(args: argparse.Namespace) -> int:
    try:
        first_day = month_start(args.month)
    except ValueError as error:
        print(f"pantau report: {error}", file=sys.stderr)
        return 2
    settings = CommonSettings()
    client = connect(settings.clickhouse_target)
    params = {"agency": args.agency, "month": first_day}
    try:
        counts = client.execute(CASES_QUERY, params)
        limits = limits_by_service(
            client.execute(SERVICE_LIMITS_QUERY, params), client.execute(STEP_LIMITS_QUERY, params)
        )
    except (ClickHouseError, OSError) as error:
        print(f"pantau report: {str(error).split('Stack trace')[0].strip()}", file=sys.stderr)
        return 1
    finally:
        client.disconnect()
    print(f"Service-standard compliance of {args.agency} in {args.month} (cases closed, UTC)")
    if not counts:
        print("no case of this agency closed in that month")
        return 0
    rows = report_rows(counts, limits)
    print(render_table(COLUMNS, rows))
    print("within: met the service limit and every step limit (no sla.step_overdue on the case)")
    print("limits judged:")
    for row in rows[:-1]:
        print(f"  {row[0]}: {limits.get(str(row[0]), Limits()).describe()}")
    out = args.out or Path(f"sla-{args.agency}-{args.month}.png")
    draw_chart(args.agency, args.month, rows[:-1], out)
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
