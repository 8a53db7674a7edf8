"""Steps 1 and 5 on their own: the splitter's candidates, and the rule that names the target cluster."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthgen.clean import Answer, Cleaner, SentenceSplitter, is_candidate
from synthgen.clean.split import Segment
from synthgen.clean.steps import coverage_lines_rule, coverage_rule

DATA = Path(__file__).parent / "data"
S1 = "After months of night classes, I finally passed the bar exam, and my mother cried with pride."
S4 = 'My cousin "forgot" to invite me to her wedding, and the silence in the family group chat says it all.'


def test_splitter_cuts_lead_ins_quotes_and_sentences_but_not_quotes_inside_a_sentence():
    split = SentenceSplitter().split
    assert [s.text for s in split(Answer("a", f"Sure! Here's one: \"{S1}\" How's this?"))] == [
        "Sure!",
        "Here's one:",
        S1,
        "How's this?",
    ]
    assert [s.text for s in split(Answer("a", S4))] == [S4]
    assert [s.text for s in split(Answer("a", '"Welcome aboard!" my new boss said, and I knew I belonged.'))] == [
        '"Welcome aboard!" my new boss said, and I knew I belonged.'
    ]
    assert [s.text for s in split(Answer("a", "**Sentence:** I won."))] == ["Sentence:", "I won."]
    bullets = split(Answer("a", "Explanation:\n* Sentiment: The tone is positive."))
    assert [s.text for s in bullets] == ["Explanation:", "* Sentiment: The tone is positive."] and bullets[1].bullet
    cut = split(Answer("a", f"{S1}\n\nThis sentence captures the", "length"))
    assert cut[-1].truncated and not cut[0].truncated
    assert not split(Answer("a", "I love rainy days", "stop"))[0].truncated


PREFACED = [json.loads(line) for line in (DATA / "llama2_prefaced.jsonl").read_text("utf-8").splitlines()]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_llama2s_commonest_shape_names_the_sentence_cluster_without_a_tie_whatever_the_seed(seed):
    # `Sure! Here's a sentence ...:` + the quoted sentence: counted line by line, the interjection, lead-in and
    # sentence clusters tie, and the tie went to whichever cluster KMeans numbered lowest. (That every sentence
    # is then kept, on all 190 answers: benchmarks/bench_clean_eval.py.)
    answers = [Answer(r["id"], r["response"], r["finish_reason"]) for r in PREFACED[:40]]
    cleaner = Cleaner("tfidf", seed=seed).fit(answers)
    result = cleaner.result_
    assert "more than any other cluster" in result.target.reason and "tied" not in result.target.reason
    sentences = [i for i, s in enumerate(cleaner.segments_) if is_candidate(s)]
    assert len(sentences) == 40 and set(cleaner.labels_[sentences]) == {result.target.cluster}


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
