"""The floors `synthgen clean` must keep on the labelled sets: what bench_clean_eval.py checks after its tables.

Accuracy on the data the cleaner was tuned on is measured here, not in the tests (which pin behaviours on small
hand-made cases).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from labelled_sets import DATA, SETS, answers, load, norm

from synthgen.clean import Cleaner, default_cleaner
from synthgen.clean.steps import TARGET_RULES

# The floors the cleaner must keep (what was measured when each was set; tests/data/README.md says which sets it
# was tuned on): (set, cleaned inside a run with the padded set, method, lowest exact-match rate). Nothing may be
# lost on any of them. A rate below its floor prints BELOW and the script exits 1.
FLOORS = [
    ("padded", False, "synthgen, tfidf", 0.98),
    ("padded", False, "synthgen, minilm", 0.98),
    ("dev", False, "synthgen, tfidf", 0.98),
    ("dev", True, "synthgen, tfidf", 0.98),
    ("heldout", True, "synthgen, tfidf", 0.97),
    # the hand-written test set, never tuned on: revisions announced in words the cue list lacks, refusals worded
    # off the refusal list
    ("test", False, "synthgen, tfidf", 0.95),
    ("test", True, "synthgen, tfidf", 0.92),
    ("test", False, "synthgen, minilm", 0.97),
]
SEED_BASELINE_GAP = 20  # the seed's steps A/B/C keep at least this many fewer of the padded set's targets
PREFACED_SEEDS = (0, 1, 2)  # Llama 2's commonest shape keeps every sentence whatever the seed
COVERAGE_SHARE = 0.95  # of the padded set's target sentences in the cluster the coverage rule names
SCALE = (300, 2000, 2)  # answers of a small and a larger generated run, and the generator's seed


def _rate(c: Counter) -> str:
    n = sum(c.values())
    return f"{100 * c['exact'] / n:.1f}% exact, {c['lost']} lost"


def floors(
    measured: dict[tuple[str, bool, str], Counter], embedders: list[str], no_scale: bool = False
) -> tuple[str, int]:
    """The floors table and how many checks fell below."""
    lines = [
        "floors (seed 0; BELOW makes the script exit 1)",
        "| check | floor | measured | |",
        "|---|---|---|---|",
    ]
    below = 0

    def row(check: str, floor: str, got: str, ok: bool | None) -> None:
        nonlocal below
        below += ok is False
        lines.append(f"| {check} | {floor} | {got} | {'-' if ok is None else 'ok' if ok else '**BELOW**'} |")

    for set_name, inside, label, floor in FLOORS:
        check = f"{set_name}{' inside padded' if inside else ''}, {label}"
        counts = measured.get((set_name, inside, label))
        if counts is None:
            row(check, f">= {floor:.0%}, 0 lost", "not run", None)
            continue
        rate = counts["exact"] / sum(counts.values())
        row(check, f">= {floor:.0%}, 0 lost", _rate(counts), rate >= floor and counts["lost"] == 0)
    ours, seed = (
        measured.get(("padded", False, "synthgen, tfidf")),
        measured.get(("padded", False, "seed A/B/C, tfidf")),
    )
    if ours is None or seed is None:
        row("padded: seed A/B/C against synthgen, tfidf", f"{SEED_BASELINE_GAP} fewer exact", "not run", None)
    else:
        gap = ours["exact"] - seed["exact"]
        row(
            "padded: seed A/B/C against synthgen, tfidf",
            f"> {SEED_BASELINE_GAP} fewer exact",
            f"{gap} fewer",
            gap > SEED_BASELINE_GAP,
        )
    prefaced = load(SETS["prefaced"])
    for seed_value in PREFACED_SEEDS:
        result = default_cleaner("tfidf", seed=seed_value).fit_transform(answers(prefaced))
        exact = sum(norm(result[r["id"]].text) == norm(r["target"]) for r in prefaced)
        untied = "more than any other cluster" in result.target.reason and "tied" not in result.target.reason
        row(
            f"prefaced, synthgen, tfidf, seed {seed_value}",
            f"all {len(prefaced)}, target cluster untied",
            f"{exact}, {'untied' if untied else 'tied'}",
            exact == len(prefaced) and untied,
        )
    share = coverage_share(load(DATA))
    row(
        "padded: targets in the coverage rule's cluster, tfidf",
        f"> {COVERAGE_SHARE:.0%}",
        f"{share:.1%}",
        share > COVERAGE_SHARE,
    )
    if no_scale:
        row("a larger generated run cleans as well as a small one", "", "skipped (--no-scale)", None)
    else:
        rates, sure = scale_rates()
        small, large, _ = SCALE
        row(
            f"generated runs of {small} and {large} answers, tfidf",
            f">= 99.5% at {large}, within 0.5 points",
            f"{rates[small]:.2%} and {rates[large]:.2%}",
            rates[large] >= rates[small] - 0.005 and rates[large] >= 0.995,
        )
        row(
            '"Sure, I\'d be happy to help!" kept (repeated chatter)',
            "never",
            f"{sure[small]} and {sure[large]} times",
            sure[small] == sure[large] == 0,
        )
    if "minilm" not in embedders:
        lines.append("(minilm not run: its floors are not checked)")
    return "\n".join(lines), below


def coverage_share(rows: list[dict]) -> float:
    """Share of the labelled target sentences that sit in the cluster the coverage rule names (tfidf, seed 0)."""
    cleaner = Cleaner("tfidf", seed=0).fit(answers(rows))
    truth = {r["id"]: norm(r["target"]) for r in rows}
    targets = [i for i, s in enumerate(cleaner.segments_) if truth[s.answer_id] == norm(s.text)]
    k = int(cleaner.labels_.max()) + 1
    chosen = TARGET_RULES["coverage"](cleaner.segments_, cleaner.labels_, k).cluster
    return float(np.mean(cleaner.labels_[targets] == chosen))


def scale_rates() -> tuple[dict[int, float], dict[int, int]]:
    """Exact-match rate on bench_clean_speed's generated answers (a few hundred chatter lines repeated across
    thousands of answers) at two run sizes, and how often the repeated "Sure, I'd be happy to help!" was kept.

    With the TF-IDF basis fit on distinct texts only, the growing number of targets crowded the chatter out of it:
    the repeated line came out target-like and, relabelled positive round after round, was kept instead of the
    sentence (96.0% exact at 2,000 answers of this seed, 100% at 300)."""
    from bench_clean_speed import corpus

    rates, sure = {}, {}
    small, large, seed = SCALE
    for n in (small, large):
        run, targets = corpus(n, seed=seed)
        result = default_cleaner("tfidf").fit_transform(run)
        rates[n] = sum(norm(a.text) == norm(targets[a.id]) for a in result.answers) / n
        sure[n] = sum(a.text == "Sure, I'd be happy to help!" for a in result.answers)
    return rates, sure
