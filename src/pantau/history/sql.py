"""`pantau sql "<query>"`: run one query against the history of record and print the result.

Connects as PANTAU_CLICKHOUSE (use the read-only `auditor` user for audits, e.g.
clickhouse://auditor@127.0.0.1:9000/pantau); prints an aligned table, or CSV with --csv.
"""

from __future__ import annotations

import argparse
import sys

from clickhouse_driver.errors import Error as ClickHouseError

from pantau.history.store import connect
from pantau.history.tables import render_csv, render_table
from pantau.settings import CommonSettings


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pantau sql", description=__doc__.splitlines()[0])
    parser.add_argument("query", help='the SQL to run, e.g. "SELECT * FROM v_cases LIMIT 10"')
    parser.add_argument("--csv", action="store_true", help="print CSV with a header row")
    args = parser.parse_args(argv)
    settings = CommonSettings()
    client = connect(settings.clickhouse_target)
    try:
        rows, types = client.execute(args.query, with_column_types=True)
    except (ClickHouseError, OSError) as error:
        message = str(error).split("Stack trace")[0].strip()
        print(f"pantau sql: {message}", file=sys.stderr)
        return 1
    finally:
        client.disconnect()
    columns = [name for name, _ in types]
    if args.csv:
        sys.stdout.write(render_csv(columns, rows))
    elif columns:
        print(render_table(columns, rows))
    return 0
