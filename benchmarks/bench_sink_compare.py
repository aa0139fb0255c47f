"""Two builds of `pantau sink` on the same events, interleaved: a change's effect in one run.

Runs `bench_sink`'s fresh stacks (topics and a database of their own; the sinks' group formed
before the events are published) for each build in turn, one and two processes, ROUNDS times,
and prints rows/s and CPU µs per row beside the bulk insert. A build is an interpreter whose
environment has that build of Pantau installed, such as the `.venv` of a worktree at another commit:

    git worktree add ../pantau-before <commit> && make -C ../pantau-before install
    .venv/bin/python benchmarks/bench_sink_compare.py ../pantau-before/.venv/bin/python

PANTAU_BENCH_EVENTS (default 50,000) and PANTAU_BENCH_ROUNDS (default 2) set the size.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# `bench_sink` is this folder's module: found as a script's neighbour when run, but not when
# pytest imports this file in importlib mode, which puts no test file's folder on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_sink


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).exists():
        print(__doc__, file=sys.stderr)
        return 2
    count = int(os.environ.get("PANTAU_BENCH_EVENTS", "50000"))
    rounds = int(os.environ.get("PANTAU_BENCH_ROUNDS", "2"))
    builds = {"before": argv[0], "after": sys.executable}
    events = bench_sink.make_events(count, cases=max(1, count // len(bench_sink.STEPS)))
    records = bench_sink.event_records(events)
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for round_number in range(1, rounds + 1):
        for processes in (1, 2):
            for name, python in builds.items():
                sys.executable = python  # the interpreter `sink_rate` starts (one `sys` for all)
                stack = bench_sink.Stack()
                try:
                    measured = stack.sink_rate(records, processes)
                    if measured is None:
                        return 1
                    rate, cpu, server = measured
                    line = (
                        f"round {round_number} {name:6s} {processes} proc: {rate:>8,.0f} rows/s "
                        f"{cpu * 1e6:5.1f} µs CPU/row"
                    )
                    if server is not None:
                        line += f" (ClickHouse {server * 1e6:4.1f})"
                    if name == "after" and processes == 2:
                        line += f"   bulk {stack.bulk_rate()[0]:>9,.0f} rows/s"
                    print(line, flush=True)
                finally:
                    sys.executable = builds["after"]
                    stack.remove()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
