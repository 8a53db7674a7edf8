"""Selection on crafted answers: each padding kind, ties, no padding, one-line and empty answers, determinism.

The cleaner learns from the whole run it is given, so crafted answers are cleaned inside a realistic run: the
hand-labelled Llama 2 answers of tests/data/llama2_padded.jsonl. How many of the labelled sets' targets it keeps
is measured by benchmarks/bench_clean_eval.py (its floors), not here: these tests pin behaviours.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthgen.clean import (
    Answer,
    Choice,
    Cleaner,
    ClusteredRun,
    ScoredSelector,
    SeedSelector,
    SentenceScorer,
    SentenceSplitter,
    default_cleaner,
    is_candidate,
    seed_baseline,
)
from synthgen.clean.choice import group_by_answer

DATA = Path(__file__).parent / "data" / "llama2_padded.jsonl"
ROWS = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
RUN = [Answer(r["id"], r["response"], r["finish_reason"]) for r in ROWS]

S1 = "After months of night classes, I finally passed the bar exam, and my mother cried with pride."
S2 = "The bakery on my corner closed for good this week, and the street feels empty without its smell."
S3 = "Walking my daughter to her first day of school, I felt a lump in my throat and a heart full of hope."
S4 = 'My cousin "forgot" to invite me to her wedding, and the silence in the family group chat says it all.'

CRAFTED = {
    "preface": (f"  Sure! Here's a sentence that fits the criteria you've described:\n\n\"{S1}\"", S1),
    "followup": (f"  {S2}\n\nCan I help you with anything else?", S2),
    "explanation": (
        f'  "{S3}"\n\nThis sentence captures the positive sentiment of educational settings while '
        "also incorporating intense love.",
        S3,
    ),
    "revised": (f'  "{S2}"\n\nHere\'s a revised version that is a bit more concise:\n\n"{S1}"', S1),
    "cutoff": (
        f'  "{S3}"\n\nThis response acknowledges the feeling of tiredness while also highlighting the',
        S3,
    ),
    "inline": (f"  Sure! Here's a sentence: \u201c{S1}\u201d How's this?", S1),
    "inner-quotes": (f"  \u201c{S4}\u201d\n\nPlease let me know if this meets your requirements.", S4),
    "mixed": (
        f"  Of course! Here's a sentence that meets your requirements:\n\n{S2}\n\nExplanation:\n\n"
        "* Shopping experiences: The sentence is set at a local bakery.\n* Sentiment: The tone is clearly "
        "negative.\n\nI hope this helps! Let me know if you have any other questions.",
        S2,
    ),
    "no-padding": (f"  {S3}", S3),
    "duplicate": (f'  "{S4}"\n\n{S4}', S4),
}


@pytest.fixture(scope="module")
def crafted_result():
    answers = RUN + [
        Answer(f"crafted-{k}", text, "length" if k == "cutoff" else "stop") for k, (text, _) in CRAFTED.items()
    ]
    return default_cleaner("tfidf", seed=0).fit_transform(answers)


@pytest.mark.parametrize("kind", list(CRAFTED))
def test_each_padding_kind_keeps_exactly_the_target_sentence(crafted_result, kind):
    text, want = CRAFTED[kind]
    got = crafted_result[f"crafted-{kind}"]
    assert got.text == want, crafted_result.explain(f"crafted-{kind}")
    # everything else of the answer is listed as dropped, nothing is invented
    assert all(d.strip() and d.strip() in text for d in got.dropped)


def test_revised_answers_keep_the_revision_and_drop_the_first_version(crafted_result):
    got = crafted_result["crafted-revised"]
    assert got.path == "revision"
    assert any(S2 in d for d in got.dropped)


def test_duplicates_tie_to_the_first_copy(crafted_result):
    got = crafted_result["crafted-duplicate"]
    assert got.path == "duplicate" and got.text == S4
    assert got.dropped == [S4]


def test_the_seed_baseline_takes_only_the_seed_steps():
    # how much worse it is on the labelled sets: benchmarks/bench_clean_eval.py
    seed = seed_baseline("tfidf", seed=0).fit_transform(RUN + [Answer("empty", "")])
    assert set(seed.path_counts()) <= {"seed-A", "seed-B", "seed-C", "lost", "empty"}
    assert seed["empty"].path == "empty" and seed.method.startswith("lines+") and "+seed-ABC " in seed.method


def test_a_model_without_padding_keeps_every_answer_whole():
    sentences = [r["target"] for r in ROWS if r["target"]][:60]
    answers = [Answer(f"clean-{i}", s) for i, s in enumerate(sentences)]
    result = default_cleaner("tfidf").fit_transform(answers)
    assert [a.text for a in result.answers] == sentences
    assert result.path_counts() == {"only": 60}
    assert all(a.dropped == [] for a in result.answers)


def test_one_line_answers_are_kept_even_without_final_punctuation():
    answers = [
        Answer("a", "I love the smell of rain on warm pavement"),
        Answer("b", '  "Mondays drain me."  '),
        Answer("c", "What a day!"),
    ]
    result = default_cleaner("tfidf").fit_transform(answers)
    assert [a.text for a in result.answers] == [
        "I love the smell of rain on warm pavement",
        "Mondays drain me.",
        "What a day!",
    ]


def test_empty_answers_and_refusals_end_with_a_reason_not_a_sentence():
    answers = RUN + [
        Answer("empty", ""),
        Answer("none", None),
        Answer("blank", "  \n\n \t"),
        Answer(
            "refusal",
            "  I apologize, but I cannot fulfill your request. I'm just an AI, and creating negative "
            "content goes against my guidelines.\n\nIs there anything else I can help you with?",
        ),
        Answer(
            "refusal-then-offer",
            "  I cannot create content about a loss in that way. However, here's a gentler "
            f'sentence instead:\n\n"{S3}"',
        ),
        Answer(
            "cut-in-sentence",
            "  Sure! Here's a sentence:\n\n\"Despite the long day at the office, I",
            "length",
        ),
    ]
    result = default_cleaner("tfidf").fit_transform(answers)
    for answer_id in ("empty", "none", "blank"):
        assert result[answer_id].text is None and result[answer_id].reason.startswith("empty")
    assert result["refusal"].text is None and result["refusal"].path == "refusal"
    assert result["refusal-then-offer"].text == S3
    assert result["cut-in-sentence"].text is None and "cut off" in result["cut-in-sentence"].reason


def test_every_answer_id_ends_with_exactly_one_result_in_input_order():
    result = default_cleaner("tfidf").fit_transform(RUN)
    assert [a.id for a in result.answers] == [a.id for a in RUN]
    assert all((a.text is not None) or a.reason for a in result.answers)
    assert sum(result.path_counts().values()) == len(RUN)


def test_same_input_and_seed_give_the_same_output():
    first = default_cleaner("tfidf", seed=7).fit_transform(RUN)
    second = default_cleaner("tfidf", seed=7).fit_transform(RUN)
    assert first.to_jsonl() == second.to_jsonl()
    assert np.array_equal(first.labels, second.labels)
    assert [c.keywords for c in first.clusters] == [c.keywords for c in second.clusters]


def test_duplicate_answer_ids_are_refused():
    from synthgen.errors import UserError

    with pytest.raises(UserError, match="appears twice"):
        default_cleaner("tfidf").fit_transform([Answer("x", "a."), Answer("x", "b.")])


class _FixedScorer(SentenceScorer):
    """Scores given by the test, to check the decision alone. `evidence`: the run's evidence switched on with
    nothing but the shape rules (no word or repetition cut)."""

    def __init__(self, scores, evidence=False):
        super().__init__()
        self.fixed, self.evidence = np.asarray(scores, dtype=float), evidence

    def fit(self, segments, groups, x, labels, target):
        n = len(segments)
        self.scores_, self.lexicon_, self.density_ = self.fixed, np.zeros(n), np.zeros(n)
        self.learned_, self.lexicon_cut_, self.density_cut_ = self.evidence, np.inf, np.inf
        return self


def _one_cluster(segments, answer_ids):
    n = len(segments)
    return ClusteredRun(
        segments, answer_ids, np.zeros((n, 2)), np.zeros((n, 2)), np.zeros(n, dtype=int), np.zeros((1, 2)), 0
    )


def _choose(answer_text, scores, evidence=False):
    segments = SentenceSplitter().split(Answer("a", answer_text))
    assert len(segments) == len(scores), [s.text for s in segments]
    choice = ScoredSelector(_FixedScorer(scores, evidence)).select(_one_cluster(segments, ["a"]))[0]
    return choice, segments


def test_equal_scores_tie_to_the_earliest_sentence():
    choice, segments = _choose(f"{S1}\n\n{S2}", [0.8, 0.8])
    assert choice.path == "tie" and segments[choice.kept[0]].text == S1


def test_near_equal_scores_prefer_the_earlier_sentence_and_clear_winners_win():
    choice, segments = _choose(f"{S1}\n\n{S2}", [0.7, 0.8])
    assert choice.path == "best-score" and segments[choice.kept[0]].text == S1
    choice, segments = _choose(f"{S1}\n\n{S2}", [0.55, 0.99])
    assert segments[choice.kept[0]].text == S2


def test_a_sentence_the_splitter_cut_at_a_colon_is_joined_back():
    text = "The doctor said the words I'd been waiting for: I'm cancer-free."
    choice, segments = _choose(f"{text}\n\nHow's this?", [0.9, 0.9, 0.01])
    assert " ".join(segments[i].text for i in choice.kept) == text


def test_seed_steps_a_b_c_as_written():
    # Line 0 is alone in the target cluster (A); answer b needs B; answer c needs C; answer d has no target
    # line.
    answers = [
        Answer("a", "t1\nchatter"),
        Answer("b", "t2\nThis sentence captures it."),
        Answer("c", "t3 far\nt3 near"),
        Answer("d", "chatter only"),
    ]
    segments = [s for a in answers for s in SentenceSplitter().split(a)]
    labels = np.array([0, 1, 0, 0, 0, 0, 1])
    reduced = np.array([[0, 0], [5, 5], [0, 0], [0, 0], [2, 0], [0.1, 0], [5, 5]], dtype=float)
    centers = np.array([[0, 0], [5, 5]], dtype=float)
    run = ClusteredRun(segments, [a.id for a in answers], None, reduced, labels, centers, 0)
    choices = SeedSelector().select(run)
    got = {c.answer_id: (c.path, [segments[i].text for i in c.kept]) for c in choices}
    assert got == {
        "a": ("seed-A", ["t1"]),
        "b": ("seed-B", ["t2"]),
        "c": ("seed-C", ["t3 near"]),
        "d": ("lost", []),
    }


def test_a_merged_sentence_never_takes_in_an_interjection_or_a_lead_in():
    text = f"Sure! Here's my attempt at a sentence that fits the criteria:\n\n{S1}"
    choice, segments = _choose(text, [0.95, 0.95, 0.9])  # even when the chatter scores high
    assert [segments[i].text for i in choice.kept] == [S1]
    choice, segments = _choose(f"Sure! Here's one: \"{S2}\" How's this?", [0.95, 0.95, 0.9, 0.9])
    assert [segments[i].text for i in choice.kept] == [S2]
    assert [s.text for s in segments if s.interjection] == ["Sure!"]
    choice, segments = _choose(f"{S3} {S3}", [0.9, 0.9])  # a sentence said twice on one line: one copy
    assert [segments[i].text for i in choice.kept] == [S3]


def test_the_fallback_never_keeps_a_follow_up_question():
    text = f"{S1}\n\nWould you like another sentence, perhaps in the third person?"
    choice, segments = _choose(text, [0.3, 0.45], evidence=True)
    assert choice.path == "fallback" and [segments[i].text for i in choice.kept] == [S1]


def test_a_follow_up_that_out_scored_the_sentence_before_it_gives_way_to_that_sentence():
    text = f"{S1}\n\nWould you like another sentence, perhaps in the third person?"
    choice, segments = _choose(text, [0.4, 0.7], evidence=True)
    assert choice.path == "fallback" and [segments[i].text for i in choice.kept] == [S1]
    assert "is chatter (a question after the answer's first sentence)" in choice.reason
    choice, _ = _choose(text, [0.4, 0.7])  # without the run's evidence the score alone decides
    assert choice.path == "single" and [segments[i].text for i in choice.kept] == [segments[1].text]


def test_a_revision_announced_between_two_quoted_versions_replaces_the_first_and_an_alternative_does_not():
    revised = f'"{S1}"\n\nScratch that, here\'s a stronger one:\n\n"{S2}"'
    choice, segments = _choose(revised, [0.9, 0.1, 0.9])
    assert choice.path == "revision" and segments[choice.kept[0]].text == S2
    alternative = f'"{S1}"\n\nOr, if you\'d like something shorter:\n\n"{S2}"'
    choice, segments = _choose(alternative, [0.9, 0.1, 0.9])
    assert choice.path == "tie" and segments[choice.kept[0]].text == S1


def test_a_refusal_ends_without_text_unless_it_offers_a_quoted_sentence():
    refusal = "I cannot fulfill your request.\n\nIs there anything else I can help with?"
    choice, _ = _choose(refusal, [0.9, 0.9])
    assert choice.path == "refusal" and choice.kept == [] and "declined the task" in choice.reason
    offer = f'I cannot write that. Instead, here\'s one:\n\n"{S3}"'
    choice, segments = _choose(offer, [0.9, 0.1, 0.9])
    assert segments[choice.kept[0]].text == S3


def test_any_object_with_a_select_method_is_a_selector_for_the_cleaner():
    class FirstCandidate:  # satisfies synthgen.clean.Selector without inheriting anything
        name = "first"

        def select(self, run):
            return [
                Choice(a, [i for i in idx if is_candidate(run.segments[i])][:1], "first", "the first one")
                for a, idx in run.groups().items()
            ]

    result = Cleaner("tfidf", selector=FirstCandidate()).fit_transform(
        [Answer("a", f"{S1}\n\nHow's this?"), Answer("b", f"Sure! Here's one:\n\n{S2}"), Answer("c", S3)]
    )
    assert [a.text for a in result.answers] == [S1, S2, S3] and result.path_counts() == {"first": 3}
    assert result.method.endswith("+first seed=0")


def test_the_scorer_learns_in_fit_and_keeps_what_it_learned_in_trailing_underscore_attributes():
    scorer = SentenceScorer(rounds=1, seed=3)
    assert not hasattr(scorer, "scores_")
    cleaner = Cleaner("tfidf", selector=ScoredSelector(scorer), seed=3).fit(RUN[:80])
    fitted = cleaner.selector.scorer_
    assert fitted is scorer and (scorer.rounds, scorer.seed) == (1, 3)  # parameters stay as given
    n = len(cleaner.segments_)
    assert scorer.scores_.shape == (n,) and scorer.lexicon_.shape == (n,) and scorer.density_.shape == (n,)
    assert scorer.rounds_ == 2 and scorer.learned_  # the seed round and one relabelling round
    assert np.array_equal(scorer.predict(), scorer.scores_ >= scorer.threshold)
    groups = group_by_answer(cleaner.segments_, [a.id for a in RUN[:80]])
    again = SentenceScorer(rounds=1, seed=3).fit(
        cleaner.segments_, groups, cleaner.embeddings_, cleaner.labels_, cleaner.target_.cluster
    )
    assert np.array_equal(again.scores_, scorer.scores_)


LONE = {
    "follow-up": "  Is there anything else you need?",
    "offer": "  Would you like me to write another one?",
    "sign-off": "  Let me know if you need anything else!",
}
AUDIT_REFUSALS = {
    "rather-not": "  I'd rather not write content that focuses on severe sadness.",
    "decline": "  I must decline to create negative content.",
    "not-right": "  I'm sorry, but I don't feel right producing a sentence that makes light of a loss.",
}


@pytest.mark.parametrize("embedder", ["tfidf", "minilm"])
def test_a_lone_chatter_line_or_refusal_ends_without_text_and_says_why(embedder, tmp_path, monkeypatch):
    if embedder == "minilm":
        pytest.importorskip("sentence_transformers")
        monkeypatch.setenv("SYNTHGEN_CACHE_DIR", str(tmp_path))
    extra = {**LONE, **AUDIT_REFUSALS}
    result = default_cleaner(embedder, seed=0).fit_transform(RUN + [Answer(k, v) for k, v in extra.items()])
    for answer_id in LONE:  # no word list knows these lines: the run's own evidence decides
        got = result[answer_id]
        assert got.text is None and got.path == "no-target", result.explain(answer_id)
        assert "does not look like a target" in got.reason
        assert "chatter words" in got.reason or "repeats lines of other answers" in got.reason
    for answer_id in AUDIT_REFUSALS:
        assert result[answer_id].text is None and result[answer_id].path == "refusal", result.explain(answer_id)
