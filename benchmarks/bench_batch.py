"""10,000 cells through OpenAI-format and Bedrock-format batch jobs against the batch test server (moto's S3 for
Bedrock), from plan to collected: the client's CPU seconds and peak memory.

    python benchmarks/bench_batch.py [--rounds 10000]

`synthgen generate --batch --wait` runs as a child process (its CPU and peak RSS are the client's alone); the
servers run in this process.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from batch_fixtures import BUCKET, ROLE, batch_bed  # noqa: E402

# the CLI, reporting its own peak RSS: VmHWM, the high-water mark of this process's memory since its exec. Not
# ru_maxrss: on Linux a child's ru_maxrss starts at the RSS of the process it was forked from (here the benchmark,
# whose in-process S3 holds every earlier case's files), so it grew with each case and was not the client's.
_CHILD = (
    "import atexit, re, sys; "
    "atexit.register(lambda: print('VMHWM', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1], "
    "file=sys.stderr)); "
    "from synthgen.cli import main; main(sys.argv[1:])"
)
CASES = {
    "OpenAI Batch API (gpt-4o-mini)": ["--models", "gpt-4o-mini"],
    "Bedrock batch, InvokeModel (claude-3-haiku)": ["--models", "claude-3-haiku"],
    "Bedrock batch, Converse (claude-haiku)": ["--models", "claude-haiku"],
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10_000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, batch_bed(Path(tmp)) as (server, env):
        for name, models in CASES.items():
            db = Path(tmp) / f"{len(rows)}.db"
            cmd = [sys.executable, "-c", _CHILD, "generate", "--rounds", str(args.rounds), *models]
            cmd += ["--store", f"sqlite:///{db}", "--batch", "--wait", "--poll", "0.05", "--quiet", "--seed", "1"]
            cmd += ["--batch-s3", f"s3://{BUCKET}/bench", "--batch-role", ROLE]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(cmd, env={**os.environ, **env}, cwd=tmp, capture_output=True, text=True)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            peak = int(done.stderr.rsplit("VMHWM ", 1)[1].split()[0]) / 1024  # this child's own peak, in MiB
            rows.append((name, args.rounds, wall, cpu, peak, done.stdout.strip().splitlines()[-1]))
    print("| batch service | cells | wall s | client CPU s | client CPU ms/cell | client peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for name, cells, wall, cpu, rss, _ in rows:
        print(f"| {name} | {cells:,} | {wall:.1f} | {cpu:.1f} | {1000 * cpu / cells:.2f} | {rss:.0f} |")
    for *_, summary in rows:
        print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
