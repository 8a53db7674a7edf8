"""Seconds and peak memory to place the topic map's labels (`anchor_points`) for 20,000 texts in five topics.

    python benchmarks/bench_topics_map.py             # the 20,000-text map; exits 1 above LIMIT_SECONDS
    python benchmarks/bench_topics_map.py --texts 50000

One big topic (15,000 texts) and one far smaller than its share of the density sample (30): the exact rule would
hold a 15,000 x 20,000 x 2 array (4.8 GB) for the big topic; the sample keeps it small and fast. The memory bound
is also a test (tests/test_topics.py); the time is measured here, where a slow machine cannot fail the suite.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from synthgen.topicmodel.plot import anchor_points

LIMIT_SECONDS = 10.0
LIMIT_BYTES = 100e6
CENTRES = np.array([[0, 0], [30, 0], [0, 30], [30, 30], [15, 15]], dtype=float)
SHARES = (0.75, 0.15, 0.075, 0.0235, 0.0015)  # of the texts, by topic: 15,000 / 3,000 / 1,500 / 470 / 30 of 20,000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=20_000)
    args = ap.parse_args(argv)
    sizes = [max(1, round(args.texts * share)) for share in SHARES]
    labels = np.repeat(np.arange(len(sizes)), sizes)
    coords = CENTRES[labels] + np.random.default_rng(0).normal(0, 2, (len(labels), 2))
    tracemalloc.start()
    started = time.perf_counter()
    anchors = anchor_points(coords, labels, len(sizes))
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    off = float(np.linalg.norm(anchors - CENTRES, axis=1).max())
    print(f"{len(labels)} texts in {len(sizes)} topics ({', '.join(map(str, sizes))})\n")
    print("| texts | seconds | peak memory | farthest label from its topic's centre |")
    print("|---|---|---|---|")
    print(f"| {len(labels)} | **{seconds:.2f}** | {peak / 1e6:.1f} MB | {off:.2f} |")
    slow = seconds >= LIMIT_SECONDS
    big = peak >= LIMIT_BYTES
    if slow or big:
        print(f"\nBELOW the aim: under {LIMIT_SECONDS:.0f} s and {LIMIT_BYTES / 1e6:.0f} MB")
        return 1
    print(f"\nwithin the aim: under {LIMIT_SECONDS:.0f} s and {LIMIT_BYTES / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
