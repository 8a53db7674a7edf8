"""Peak memory of a whole `synthgen generate` process in the size of the run (issue 15: 100,000 cells at most 1.5x
the peak of 10,000), against the zero-latency stand-in (benchmarks/standin_server.py), into SQLite.

    python benchmarks/bench_memory.py [--cells 10000,100000] [--models gpt-4] [--concurrency 64] [--workers 1,2]
                                      [--trace]

Each size is a fresh `python -m synthgen.cli generate --quiet` subprocess; its peak RSS is the kernel's
(its VmHWM at exit, that process alone), or with --workers > 1 the largest sum of the process tree's RSS,
sampled every 20 ms (psutil). Several `--workers` counts run every size with each, so the same table gives
whole-process cells/s with one process and with N (what `--workers` buys on this machine). `--trace` runs the
largest size once more in-process under tracemalloc and prints the allocation sites that grew most between 10%
and 90% of the run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_transport import point_env_at, start_standin  # noqa: E402

# The CLI, printing its own peak at exit: VmHWM, this process's high-water mark since its exec. (A child's
# ru_maxrss on Linux starts at the RSS of the process it was started from, so it cannot be lower than this one's.)
_CHILD = (
    "import atexit, re, sys; "
    "atexit.register(lambda: print('VMHWM', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1], "
    "file=sys.stderr)); "
    "from synthgen.cli import main; main(sys.argv[1:])"
)


def run_once(cells: int, models: list[str], concurrency: int, workers: int, db: str) -> tuple[float, float, float]:
    """(peak RSS MiB, wall s, CPU s of the process and its workers) of one whole-process run of `cells` cells."""
    import threading

    rounds = cells // len(models)
    argv = [sys.executable, "-c", _CHILD, "generate", "--rounds", str(rounds), "--models", ",".join(models)]
    argv += ["--store", f"sqlite:///{db}", "--seed", "1", "--concurrency", str(concurrency), "--quiet"]
    argv += ["--workers", str(workers)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True)
    box: dict[str, Any] = {"tree": 0.0}
    threads = [
        threading.Thread(target=lambda: box.__setitem__("out", proc.stdout.read())),
        threading.Thread(target=lambda: box.__setitem__("err", proc.stderr.read())),
    ]
    if workers > 1:  # ru_maxrss is the largest single process: sample the sum of the tree instead
        threads.append(threading.Thread(target=_tree_peak, args=(proc.pid, box), daemon=True))
    for thread in threads:
        thread.start()
    _, status, usage = os.wait4(proc.pid, 0)  # this process alone, plus the workers it reaped
    wall = time.perf_counter() - t0
    box["done"] = True
    for thread in threads:
        thread.join()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"generate exited {code}: {box.get('err', '')[-2000:]}")
    own = re.search(r"VMHWM (\d+)", box.get("err", ""))
    peak = box["tree"] if workers > 1 else int(own[1]) / 1024 if own else usage.ru_maxrss / 1024  # KiB on Linux
    return peak, wall, usage.ru_utime + usage.ru_stime


def _tree_peak(pid: int, box: dict[str, Any]) -> None:
    import psutil

    root = psutil.Process(pid)
    while not box.get("done"):
        try:
            total = root.memory_info().rss + sum(c.memory_info().rss for c in root.children(recursive=True))
        except psutil.Error:
            return  # it ended
        box["tree"] = max(box["tree"], total / 2**20)
        time.sleep(0.02)


def trace(cells: int, models: list[str], concurrency: int, db: str) -> None:
    """The run in this process under tracemalloc: what grew between 10% and 90% of its cells."""
    import tracemalloc

    from synthgen.generation import generate

    snaps: dict[int, tracemalloc.Snapshot] = {}
    done = [0]
    marks = {cells // 10: 10, cells * 9 // 10: 90}

    def count(event) -> None:
        if event.kind == "stored":
            done[0] += 1
            if done[0] in marks:
                snaps[marks[done[0]]] = tracemalloc.take_snapshot()

    tracemalloc.start(8)
    generate(rounds=cells // len(models), models=models, store=f"sqlite:///{db}", seed=1, concurrency=concurrency,
             on_event=count)  # fmt: skip
    tracemalloc.stop()
    grown = snaps[90].compare_to(snaps[10], "lineno")
    print(f"\ntracemalloc, {cells} cells: what grew most between 10% and 90% of the run")
    for stat in grown[:12]:
        print(f"  {stat.size_diff / 1024:+9.1f} KiB  {stat.count_diff:+7d} blocks  {stat.traceback[0]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", default="10000,100000")
    parser.add_argument("--models", default="gpt-4")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", default="1", help="worker counts, e.g. 1,2")
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    sizes = [int(x) for x in args.cells.split(",")]
    counts = [int(x) for x in args.workers.split(",")]
    models = args.models.split(",")
    standin, url = start_standin()
    point_env_at(url)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for cells in sizes:
                for workers in counts:
                    db = f"{tmp}/m{cells}-{workers}.db"
                    peak, wall, cpu = run_once(cells, models, args.concurrency, workers, db)
                    db_mb = Path(db).stat().st_size / 2**20
                    rows.append((cells, workers, peak, wall, cpu, db_mb))
                    print(f"{cells:>8} cells  {workers} worker(s)  peak RSS {peak:7.1f} MiB  {wall:6.1f} s  "
                          f"{cells / wall:6.0f} cells/s  {cpu / cells * 1000:.2f} ms CPU/cell  db {db_mb:6.1f} MiB",
                          flush=True)  # fmt: skip
            if args.trace:
                trace(sizes[-1], models, args.concurrency, f"{tmp}/trace.db")
    finally:
        standin.terminate()
        standin.wait()
    print(f"\nmodels {','.join(models)}, concurrency {args.concurrency}, SQLite, zero-latency stand-in, "
          f"{os.cpu_count()} cores\n")  # fmt: skip
    print("| cells | workers | peak RSS MiB | wall s | cells/s | client CPU ms/cell | store MiB |")
    print("|---|---|---|---|---|---|---|")
    for cells, workers, peak, wall, cpu, db_mb in rows:
        print(f"| {cells:,} | {workers} | {peak:.1f} | {wall:.1f} | {cells / wall:,.0f} | {cpu / cells * 1000:.2f} "
              f"| {db_mb:.1f} |")  # fmt: skip
    for workers in counts:
        mine = [row for row in rows if row[1] == workers]
        if len(mine) > 1:
            ratio = mine[-1][2] / mine[0][2]
            print(f"\npeak RSS with {workers} worker(s), {mine[-1][0]:,} / {mine[0][0]:,} cells: {ratio:.2f}x "
                  "(target: <= 1.5x)")  # fmt: skip


if __name__ == "__main__":
    main()
