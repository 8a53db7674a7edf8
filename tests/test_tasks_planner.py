"""The planner over N labels: every label within one of its share of the rounds, seeded and pure; two labels of
equal weight draw exactly what synthgen drew before tasks."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.labels import Label
from synthgen.prompt import SENTIMENTS, balanced_labels, plan_run
from synthgen.task import load_task

NAMES = {n: [f"l{i}" for i in range(n)] for n in (2, 3, 6)}
rounds = st.integers(min_value=1, max_value=400)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def seed_draw(rounds: int, rng: random.Random) -> list[str]:
    """`balanced_sentiments` as it was before tasks (commit 836456b), kept here as the reference."""
    sequence = [SENTIMENTS[i % 2] for i in range(rounds)]
    if rounds % 2:
        sequence[-1] = rng.choice(SENTIMENTS)
    rng.shuffle(sequence)
    return sequence


@settings(max_examples=300, deadline=None)
@given(rounds=rounds, seed=seeds, n=st.sampled_from([2, 3, 6]))
def test_every_label_gets_rounds_over_n_within_one(rounds, seed, n):
    drawn = balanced_labels(rounds, random.Random(seed), NAMES[n])
    counts = Counter(drawn)
    assert len(drawn) == rounds and set(counts) <= set(NAMES[n])
    for name in NAMES[n]:
        assert abs(counts[name] - rounds / n) < 1
    assert drawn == balanced_labels(rounds, random.Random(seed), NAMES[n])  # seeded and pure


@settings(max_examples=300, deadline=None)
@given(
    rounds=rounds,
    seed=seeds,
    weights=st.lists(st.integers(min_value=1, max_value=9), min_size=2, max_size=6),
)
def test_weighted_labels_get_rounds_in_proportion_within_one(rounds, seed, weights):
    names = [f"l{i}" for i in range(len(weights))]
    counts = Counter(balanced_labels(rounds, random.Random(seed), names, weights))
    assert sum(counts.values()) == rounds
    for name, weight in zip(names, weights, strict=True):
        assert abs(counts[name] - rounds * weight / sum(weights)) < 1


@settings(max_examples=300, deadline=None)
@given(rounds=rounds, seed=seeds)
def test_two_labels_of_equal_weight_draw_what_the_seed_drew(rounds, seed):
    rng_now, rng_then = random.Random(seed), random.Random(seed)
    assert balanced_labels(rounds, rng_now, SENTIMENTS) == seed_draw(rounds, rng_then)
    assert rng_now.random() == rng_then.random()  # and left the generator where it was, for the topics


@settings(max_examples=60, deadline=None)
@given(rounds=st.integers(min_value=1, max_value=61).filter(lambda r: r % 2 or r % 3), seed=seeds)
def test_odd_round_counts_of_a_task_plan_balanced_rounds_with_labels_and_topics(rounds, seed):
    for name in ("sentiment3", "emotion"):
        task = load_task(name)
        plans = plan_run(rounds, seed, task.template, task.categories, task.labels, task.topics_per_round)
        counts = Counter(p.label for p in plans)
        for label in task.names:
            assert abs(counts[label] - rounds / len(task.names)) < 1
        for p in plans:
            assert f"is {p.label}: the sentence {task.info().description_of(p.label)}" in p.prompt
            assert len({t.category for t in p.topics}) == task.topics_per_round


def test_rounds_per_label_follow_weights_exactly_when_they_divide():
    labels = (Label("a", "x", 2.0), Label("b", "y", 1.0), Label("c", "z", 1.0))
    counts = Counter(p.label for p in plan_run(100, 3, labels=labels))
    assert counts == {"a": 50, "b": 25, "c": 25}
