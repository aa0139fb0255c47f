"""Instructions a record of the tracker's own work, counted by callgrind, next to a baseline tree.

Timings of the per-record work move by 5-15 % from one process to the next on a shared 2-CPU
machine, more than most changes to it; the number of instructions it executes does not (two
runs of one tree agree within 0.1 %). This runs `profile_hot_paths`' worker (decode, fold,
the outputs' JSON, the hand-over, the event-time order and the cross-case rule folds, in
batches of 2,000, without Kafka, Faust or RocksDB) under `valgrind --tool=callgrind`, once
with and once without its passes, and prints the difference per record:

- for this tree and, with `--against REV`, for the tree of a git revision (`git archive`),
  over the same records: a change's effect in instructions, side by side;
- over two kinds of traffic: `pbg`, `profile_hot_paths`' whole PBG cases of every anomaly
  kind (one service), and `mixed`, the case simulator's first events over every service of
  the catalog (`pantau.traffic`, seed 7, a tenth of the cases with a planted anomaly).

Each count takes half a minute to a minute and a half; they run two at a time. Needs valgrind
(the Debian package; installed here with apt-get when missing and run as root).

    .venv/bin/python benchmarks/count_instructions.py [--against REV] [--traffic pbg mixed]
        [--events 4000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from debian_tools import ensure_tool

ROOT = Path(__file__).resolve().parents[1]
PASSES = 2  # the worker's passes over the records in a counted run
BATCH = 2_000
SEED = 7
SIMULATION_START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)

Records = list[tuple[bytes, bytes, datetime]]  # key, value, when the worker received it


def tree_paths(tree: Path) -> list[str]:
    return [str(tree / part) for part in ("src", "services/tracker", "tests", "benchmarks")]


def pbg_records(events: int) -> Records:
    """`profile_hot_paths`' records, received five minutes after they occurred."""
    sys.path[:0] = tree_paths(ROOT)
    import profile_hot_paths

    paths = profile_hot_paths.HotPaths(events)
    return [(*record, at) for record, at in zip(paths.records, paths.arrivals, strict=True)]


def mixed_records(events: int) -> Records:
    """The case simulator's first `events`, sent as history, received five minutes after."""
    sys.path[:0] = tree_paths(ROOT)
    from pantau.core.catalog.loading import load_catalog
    from pantau.core.events import event_key
    from pantau.traffic.generator import Simulation

    simulation = Simulation(
        load_catalog(ROOT / "catalog"), seed=SEED, start=SIMULATION_START, regime="backfill"
    )
    records: Records = []
    for emitted in simulation:
        event = emitted.event
        received = (event.occurred_at + timedelta(minutes=5)).astimezone(UTC)
        records.append((event_key(event.agency, event.case_id), event.to_json_bytes(), received))
        if len(records) >= events:
            break
    return records


def write_records(records: Records, path: Path) -> None:
    rows = [[key.decode(), value.decode(), at.isoformat()] for key, value, at in records]
    path.write_bytes(orjson.dumps(rows))


def read_records(path: Path) -> Records:
    rows = orjson.loads(path.read_bytes())
    return [(key.encode(), value.encode(), datetime.fromisoformat(at)) for key, value, at in rows]


def inner(tree: Path, records_file: Path, traffic: str, passes: int) -> None:
    """What runs under callgrind: the worker of `tree` over the records, `passes` times."""
    sys.path[:0] = tree_paths(tree)
    import profile_hot_paths
    from pantau.collector import quiet_collector
    from pantau.core.catalog.loading import load_catalog
    from pantau_tracker.domain.standards import Standards, TrackerPolicy

    records = read_records(records_file)
    paths = profile_hot_paths.HotPaths(10)
    if traffic == "mixed":
        paths.catalog = load_catalog(tree / "catalog")
        paths.standards = Standards(paths.catalog, TrackerPolicy())
    paths.records = [(key, value) for key, value, _ in records]
    paths.arrivals = [at for _, _, at in records]
    quiet_collector()
    for _ in range(passes):
        paths.worker(BATCH)


def counted(
    valgrind: str, tree: Path, records_file: Path, traffic: str, passes: int, out: Path
) -> int:
    """Instructions of one run of `inner` under callgrind."""
    done = subprocess.run(
        [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--inner",
            str(tree),
            str(records_file),
            traffic,
            str(passes),
        ],
        capture_output=True,
        text=True,
        check=False,
        # String hashes are salted per process, and the order of sets and collisions in dicts
        # with them: counts of one tree moved by 0.5 % between runs.
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise SystemExit(f"the count of {tree} over {traffic} failed:\n{tail}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="a git revision to count beside")
    parser.add_argument("--traffic", nargs="+", choices=("pbg", "mixed"), default=["pbg", "mixed"])
    parser.add_argument("--events", type=int, default=4_000)
    parser.add_argument("--inner", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        tree, records_file, traffic, passes = args.inner
        inner(Path(tree), Path(records_file), traffic, int(passes))
        return 0
    if args.events < 1:
        parser.error("--events must be at least 1")
    valgrind = ensure_tool("valgrind")
    with tempfile.TemporaryDirectory(prefix="pantau-count-") as scratch:
        folder = Path(scratch)
        trees = {"this tree": ROOT}
        if args.against:
            baseline = folder / "baseline"
            baseline.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.against],
                capture_output=True,
                check=False,
            )
            if archive.returncode != 0:
                raise SystemExit(f"git archive {args.against}: {archive.stderr.decode().strip()}")
            subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
            trees = {args.against: baseline, **trees}
        builders = {"pbg": pbg_records, "mixed": mixed_records}
        files: dict[str, Path] = {}
        sizes: dict[str, int] = {}
        for traffic in args.traffic:
            records = builders[traffic](args.events)
            files[traffic] = folder / f"{traffic}.json"
            write_records(records, files[traffic])
            sizes[traffic] = len(records)
            print(f"{traffic}: {len(records)} records", flush=True)
        jobs = [
            (traffic, label, passes)
            for traffic in args.traffic
            for label in trees
            for passes in (0, PASSES)
        ]
        started = time.monotonic()
        counts: dict[tuple[str, str, int], int] = {}

        def run(job: tuple[str, str, int]) -> None:
            traffic, label, passes = job
            out = folder / f"callgrind.{jobs.index(job)}.out"
            counts[job] = counted(valgrind, trees[label], files[traffic], traffic, passes, out)
            out.unlink(missing_ok=True)
            print(
                f"  counted {traffic}, {label}, {passes} passes: {counts[job]:,} instructions "
                f"({len(counts)} of {len(jobs)}, {time.monotonic() - started:.0f} s)",
                flush=True,
            )

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(run, jobs))
    print()
    print(f"{'traffic':<8} {'tree':<24} {'instructions a record':>22} {'change':>8}")
    for traffic in args.traffic:
        base: float | None = None
        for label in trees:
            worked = counts[traffic, label, PASSES] - counts[traffic, label, 0]
            per_record = worked / (PASSES * sizes[traffic])
            change = "" if base is None else f"{100 * (per_record / base - 1):+.2f} %"
            base = per_record if base is None else base
            print(f"{traffic:<8} {label:<24} {per_record / 1000:>20,.1f}k {change:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
