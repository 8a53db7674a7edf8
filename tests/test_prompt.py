import tomllib
from collections import Counter

import pytest

from synthgen.errors import UserError
from synthgen.paths import data_dir
from synthgen.prompt import load_template, load_topics, plan_run

SPEC_CATEGORIES = [
    "Contexts or Scenarios",
    "Intensity Modifiers",
    "Reasons or Causes",
    "Temporal Aspects",
    "Direct and Indirect Speech",
    "Comparisons or Contrasts",
    "Cultural or Idiomatic Expressions",
]


def test_shipped_topics_are_the_seven_categories_with_ten_topics_each():
    topics = load_topics()
    assert list(topics) == SPEC_CATEGORIES
    assert all(len(v) == 10 and len(set(v)) == 10 for v in topics.values())
    assert "Moderate tiredness" in topics["Intensity Modifiers"]


def test_same_seed_plans_the_same_run_and_another_seed_another():
    assert plan_run(50, seed=7) == plan_run(50, seed=7)
    assert plan_run(50, seed=7) != plan_run(50, seed=8)


@pytest.mark.parametrize("rounds", [1, 2, 3, 101, 200])
def test_sentiments_are_balanced_within_one(rounds):
    counts = Counter(p.sentiment for p in plan_run(rounds, seed=3))
    assert abs(counts["positive"] - counts["negative"]) <= 1
    assert sum(counts.values()) == rounds


def test_each_round_has_three_distinct_categories_and_records_exactly_what_was_prompted():
    topics = load_topics()
    for plan in plan_run(100, seed=1):
        assert len(plan.topics) == 3 and len({t.category for t in plan.topics}) == 3
        for t in plan.topics:
            assert t.topic in topics[t.category]
            assert f"- {t.category}: {t.topic}" in plan.prompt
        assert f"The sentiment is {plan.sentiment}," in plan.prompt
        assert f"clearly express a {plan.sentiment} sentiment" in plan.prompt
        assert "tiredness" not in plan.prompt.split("\n")[-3]


def test_faithful_template_keeps_the_original_tiredness_line():
    plan = plan_run(1, seed=1, template=load_template("sentiment-faithful"))[0]
    assert "The response must reflect a positive outlook or outcome despite the context of tiredness." in plan.prompt
    assert plan.prompt.endswith("Here's a sentence that fits the criteria you've described:")


def test_template_with_unknown_placeholder_is_refused(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("Write a {sentiment} sentence about {subject}.")
    with pytest.raises(UserError, match=r"unknown placeholder.*\{subject\}"):
        load_template(str(path))


def test_unreadable_topics_file_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="--topics .*cannot read"):
        load_topics(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[categories]\nA = []\n")
    with pytest.raises(UserError, match="non-empty list"):
        load_topics(str(bad))


def test_rounds_must_be_positive():
    with pytest.raises(UserError, match="--rounds 0"):
        plan_run(0, seed=1)


def test_topics_file_is_valid_toml_data():
    with (data_dir("topics") / "sentiment.toml").open("rb") as fh:
        assert len(tomllib.load(fh)["categories"]) == 7


def test_files_that_are_not_utf8_are_one_clear_error(tmp_path):
    topics = tmp_path / "topics.toml"
    topics.write_bytes('[categories]\nA = ["café"]\n'.encode("latin-1"))
    with pytest.raises(UserError, match=r"--topics .*topics\.toml: not UTF-8 text \(byte 0xe9 at offset \d+\)"):
        load_topics(str(topics))
    template = tmp_path / "t.txt"
    template.write_bytes("Écris une phrase {sentiment}.".encode("latin-1"))
    with pytest.raises(UserError, match=r"--template .*t\.txt: not UTF-8 text \(byte 0xc9 at offset 0\)"):
        load_template(str(template))


@pytest.mark.parametrize(
    "text", ["A {sentiment:d} sentence.", "A {sentiment!x} sentence.", "A {sentiment:=9} sentence."]
)
def test_a_template_that_cannot_be_filled_in_is_refused_when_loaded(tmp_path, text):
    path = tmp_path / "t.txt"
    path.write_text(text)
    with pytest.raises(UserError, match=r"--template .*t\.txt: cannot be filled in") as caught:
        load_template(str(path))
    assert "\n" not in str(caught.value)


def test_a_template_with_a_format_spec_that_works_is_kept(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("A {sentiment!s:>10} sentence about {topics}.")
    plan = plan_run(1, seed=1, template=load_template(str(path)))[0]
    assert plan.prompt.startswith(f"A {plan.sentiment:>10} sentence about ")
