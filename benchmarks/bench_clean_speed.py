"""Seconds to clean 10,000 Llama-2-style answers (~30,000 candidate lines), offline embedder and MiniLM.

    python benchmarks/bench_clean_speed.py                    # tfidf, then minilm cold and warm cache
    python benchmarks/bench_clean_speed.py --answers 2000 --embedders tfidf

The answers are built from the hand-written pools of tests/data/make_llama2_padded.py; every target sentence
is made unique (a varied opening phrase in front of a pool sentence), so nothing is cheaper than in a real
run. MiniLM runs with an empty embedding cache first (cold), then again with the cache it filled (warm:
re-cleaning).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "data"))

import make_llama2_padded as pools  # noqa: E402

from synthgen.clean import Answer, default_cleaner  # noqa: E402
from synthgen.text import flat  # noqa: E402

OPENINGS = [
    "Last spring",
    "On a rainy Tuesday",
    "After all these years",
    "This past weekend",
    "Only yesterday",
    "Late one night",
    "During the holidays",
    "Early this morning",
    "Two summers ago",
    "Just last week",
    "At the end of a long shift",
    "In the middle of winter",
    "On my fortieth birthday",
    "Years later",
    "Right before the deadline",
    "On the drive home",
    "After the storm",
    "At sunrise",
    "By the lake",
    "Out of nowhere",
    "Against all odds",
    "For the first time in years",
    "On a quiet Sunday",
    "After the meeting",
    "At the airport",
    "In the hospital corridor",
    "Back in college",
    "Halfway home",
    "On the last day of school",
    "At my cousin's wedding",
]
TAILS = [
    "",
    "",
    "to be honest",
    "even now",
    "once again",
    "for what it's worth",
    "as strange as it sounds",
    "if I'm being honest",
    "all the same",
    "more than ever",
    "in the end",
    "and that says it all",
]
KINDS = (
    ["none"] * 8
    + ["quoted"] * 8
    + ["preface"] * 14
    + ["followup"] * 16
    + ["explanation"] * 18
    + ["cutoff"] * 10
    + ["inline"] * 10
    + ["mixed"] * 16
)


def corpus(n: int, seed: int = 0) -> tuple[list[Answer], dict[str, str]]:
    """`n` answers and each one's target sentence."""
    rng = random.Random(seed)
    targets: dict[str, str] = {}
    sentences = pools.load_sentences()
    out, seen = [], set()
    while len(out) < n:
        sentiment, topics, text = rng.choice(sentences)
        opening = rng.choice(OPENINGS)
        body = text if text.startswith(('"', "I ", "I'")) else text[0].lower() + text[1:]
        variant = f"{opening}, {body}"
        tail = rng.choice(TAILS)
        if tail and variant[-1] in ".!?":
            variant = f"{variant[:-1]}, {tail}{variant[-1]}"
        if variant in seen:
            continue
        seen.add(variant)
        kind = rng.choice(KINDS)
        response, finish = pools.build(kind, rng, sentiment, topics, variant)
        targets[f"a{len(out):05d}"] = variant
        out.append(Answer(f"a{len(out):05d}", response, finish))
    return out, targets


def run(embedder: str, answers: list[Answer], targets: dict[str, str], seed: int = 0) -> dict:
    t = time.perf_counter()
    cleaner = default_cleaner(embedder, seed=seed)
    result = cleaner.fit_transform(answers)
    seconds = time.perf_counter() - t
    exact = sum(flat(a.text) == flat(targets[a.id]) for a in result.answers)
    return {
        "exact": round(exact / len(answers), 4),
        "embedder": embedder,
        "answers": len(answers),
        "lines": len(result.segments),
        "seconds": round(seconds, 2),
        "stages": result.seconds,
        "kept": result.kept,
        "paths": result.path_counts(),
        "embed_stats": dict(cleaner.embedder_.stats),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--answers", type=int, default=10_000)
    ap.add_argument("--embedders", default="tfidf,minilm")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    answers, targets = corpus(args.answers)
    rows = []
    for name in [e.strip() for e in args.embedders.split(",") if e.strip()]:
        if name == "minilm":
            try:
                import sentence_transformers  # noqa: F401
            except ImportError:
                print("minilm: sentence-transformers not installed, skipped", file=sys.stderr)
                continue
            with tempfile.TemporaryDirectory() as cache:
                os.environ["SYNTHGEN_CACHE_DIR"] = cache
                rows.append({**run(name, answers, targets), "cache": "cold"})
                rows.append({**run(name, answers, targets), "cache": "warm"})
        else:
            rows.append({**run(name, answers, targets), "cache": "-"})
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{len(answers)} answers; {os.cpu_count()} CPU cores\n")
    print("| embedder | cache | answers | lines | seconds | split | embed | cluster | select | report | exact |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["stages"]
        print(
            f"| {r['embedder']} | {r['cache']} | {r['answers']} | {r['lines']} | **{r['seconds']:.1f}** | "
            f"{s['split']:.1f} | {s['embed']:.1f} | {s['cluster']:.1f} | {s['select']:.1f} | "
            f"{s['report']:.1f} | "
            f"{100 * r['exact']:.2f}% |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
