"""Tasks as data: the shipped task files, `synthgen tasks`, user task directories, and every bad task file (one
line naming the file and the field, exit 2, nothing stored)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli_output

from synthgen.errors import UserError
from synthgen.labels import SENTIMENT_TASK
from synthgen.prompt import RoundPlan, Topic, load_template
from synthgen.task import fewshot_template, list_tasks, load_task

EMOTIONS = ["anger", "fear", "joy", "love", "sadness", "surprise"]

GOOD = """\
description = "Is a review about the food or the service?"
template = "review.txt"
topics = "review-topics.toml"

[[labels]]
name = "food"
description = "is about what was eaten"

[[labels]]
name = "service"
description = "is about how the guests were treated"

[fewshot]
intro = "Short restaurant reviews."
example = "Aspect: {label}\\nTopics: {topics}\\nReview: {text}"

[[examples]]
label = "food"
topics = ["Dinner"]
text = "The risotto was creamy and perfectly salted."

[[examples]]
label = "service"
topics = ["Lunch"]
text = "Our waiter forgot us for forty minutes."
"""
TEMPLATE = "Write one review that {label_description} ({label}; aspects: {labels}). Topics:\n{topic_lines}"
TOPICS = '[categories]\nMeal = ["Dinner", "Lunch"]\nPlace = ["Terrace", "Bar"]\nGuests = ["A couple", "A family"]\n'


def user_task(folder: Path, text: str = GOOD, name: str = "review") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "review.txt").write_text(TEMPLATE, encoding="utf-8")
    (folder / "review-topics.toml").write_text(TOPICS, encoding="utf-8")
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped tasks -------------------------------------------------------------------------------------------


def test_the_shipped_tasks_are_sentiment_sentiment3_and_emotion_with_their_labels_in_order():
    tasks = {t.name: t for t in list_tasks()}
    assert list(tasks) == ["emotion", "sentiment", "sentiment3"]
    assert tasks["sentiment"].names == ("negative", "positive")
    assert tasks["sentiment3"].names == ("negative", "neutral", "positive")
    assert list(tasks["emotion"].names) == EMOTIONS
    for task in tasks.values():
        assert all(label.description for label in task.labels)
        assert {e.label for e in task.examples} == set(task.names)  # every label has worked examples
        assert len({e.text for e in task.examples}) == len(task.examples)
        assert task.template.name == task.name and task.topics_source == task.name


def test_the_sentiment_task_is_the_seed_task_runs_stored_before_tasks_read_as():
    task = load_task("sentiment")
    assert task.info().name == SENTIMENT_TASK.name
    assert task.labels == SENTIMENT_TASK.labels and task.description == SENTIMENT_TASK.description


def test_the_sentiment_task_builds_exactly_the_shipped_fewshot_template():
    task = load_task("sentiment")
    built = fewshot_template(task)
    shipped = load_template("sentiment-fewshot")
    assert (built.name, built.text) == (shipped.name, shipped.text)
    assert task.fewshot().examples == tuple(e.text for e in task.examples)


@pytest.mark.parametrize("name", ["sentiment3", "emotion"])
def test_a_new_tasks_fewshot_prompt_shows_every_example_then_leaves_the_rounds_item_open(name):
    task = load_task(name)
    fewshot = task.fewshot()
    topics = (Topic("Places", "A quiet library"), Topic("Events", "Getting a gift"), Topic("Temporal", "Now"))
    label = task.names[-1]
    prompt = fewshot.render(RoundPlan(index=0, label=label, topics=topics, prompt="unused"))
    for example in task.examples:
        assert example.text in prompt
    head = "Emotion" if name == "emotion" else "Sentiment"
    assert prompt.endswith(f"{head}: {label}\nTopics: A quiet library, Getting a gift, Now\nSentence:")
    assert "{" not in prompt


def test_new_templates_fill_label_its_description_and_all_labels():
    task = load_task("emotion")
    plan = RoundPlan(index=0, label="fear", topics=(Topic("Places", "A crowded train"),) * 3, prompt="")
    text = task.template.render(plan.label, plan.topics, task.info().description_of("fear"), task.names)
    assert "The emotion is fear: the sentence expresses fear, worry or anxiety" in text
    assert "anger, fear, joy, love, sadness, surprise" in text and "- Places: A crowded train" in text


def test_sentiment_keeps_working_as_a_name_for_the_label(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("A {sentiment} sentence ({label}) about {topics}.")
    text = load_template(str(path)).render("joy", (Topic("C", "t"),))
    assert text == "A joy sentence (joy) about t."


# --- synthgen tasks and user tasks -------------------------------------------------------------------------------


def test_tasks_command_lists_every_task_with_labels_template_and_topics(capsys):
    code, out, err = run_cli_output(["tasks"], capsys)
    assert code == 0, err
    for name in ("sentiment", "sentiment3", "emotion", "negative, neutral", "anger, fear, joy, love", "shipped"):
        assert name in out
    code, out, err = run_cli_output(["tasks", "--json"], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    emotion = next(r for r in rows if r["name"] == "emotion")
    assert [lab["name"] for lab in emotion["labels"]] == EMOTIONS
    assert emotion["template"] == "emotion" and emotion["topics"] == "emotion" and emotion["examples"] == 12
    assert emotion["shipped"] is True


def test_a_user_task_directory_works_from_the_env_and_from_the_flag(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "my-tasks"
    user_task(folder)
    monkeypatch.setenv("SYNTHGEN_TASKS", str(folder))
    code, out, _ = run_cli_output(["tasks", "--json"], capsys)
    rows = {r["name"]: r for r in map(json.loads, out.splitlines())}
    assert code == 0 and {"review", "sentiment", "emotion"} <= set(rows)
    assert rows["review"]["shipped"] is False and [lab["name"] for lab in rows["review"]["labels"]] == [
        "food",
        "service",
    ]
    monkeypatch.delenv("SYNTHGEN_TASKS")
    code, out, _ = run_cli_output(["tasks", "--json"], capsys)
    assert "review" not in out
    code, out, _ = run_cli_output(["tasks", "--tasks", str(folder)], capsys)
    assert code == 0 and "review" in out and "food, service" in out
    task = load_task("review", folder)
    assert task.template.text == TEMPLATE and list(task.categories) == ["Meal", "Place", "Guests"]


def test_a_user_task_overrides_a_shipped_one_of_the_same_name(tmp_path):
    user_task(tmp_path, GOOD.replace('description = "Is', 'name = "emotion"\ndescription = "Is'), name="emotion")
    assert load_task("emotion", tmp_path).names == ("food", "service")
    assert load_task("emotion").names == tuple(EMOTIONS)


def test_a_task_named_by_its_file_needs_no_directory(tmp_path):
    path = user_task(tmp_path)
    assert load_task(str(path)).name == "review"


def test_weights_are_read_and_must_be_positive(tmp_path):
    weighted = GOOD.replace('name = "food"\n', 'name = "food"\nweight = 3\n')
    assert [lab.weight for lab in load_task(str(user_task(tmp_path, weighted))).labels] == [3.0, 1.0]


# --- bad task files ----------------------------------------------------------------------------------------------

ONE_LABEL = GOOD.split('[[labels]]\nname = "service"')[0] + '[fewshot]\nintro = "x"\n'
BAD = {
    "one label": (ONE_LABEL, r"labels: a task needs at least two labels, found 1"),
    "repeated label": (GOOD.replace('name = "service"', 'name = "food"'), r"labels\[1\]\.name 'food' is repeated"),
    "label not a plain name": (
        GOOD.replace('name = "service"', 'name = "Good Service"'),
        r"labels\[1\]\.name 'Good Service' is not a plain name",
    ),
    "example for an unknown label": (
        GOOD.replace('label = "service"', 'label = "ambience"'),
        r"examples\[1\]\.label 'ambience' is not a label of this task \(labels: food, service\)",
    ),
    "template placeholder it cannot fill": (
        GOOD.replace('template = "review.txt"', 'template = "bad.txt"'),
        r"template .*bad\.txt: unknown placeholder\(s\) \{mood\}",
    ),
    "example format placeholder it cannot fill": (
        GOOD.replace("Review: {text}", "Mood: {mood} {text}"),
        r"fewshot\.example has \{mood\}, which cannot be filled",
    ),
    "missing template": (
        GOOD.replace('template = "review.txt"', 'template = "nowhere"'),
        r"template nowhere: cannot read .*nowhere\.txt",
    ),
    "missing topics file": (
        GOOD.replace('topics = "review-topics.toml"', 'topics = "gone.toml"'),
        r"topics .*gone\.toml: cannot read topics file",
    ),
    "label without a description": (
        GOOD.replace('description = "is about what was eaten"\n', ""),
        r"labels\[0\]\.description must be one line of text, and is missing",
    ),
    "a negative weight": (
        GOOD.replace('name = "food"\n', 'name = "food"\nweight = -1\n'),
        r"labels\[0\]\.weight is -1; it must be a positive number",
    ),
    "unknown field": (GOOD + 'colour = "red"\n', r"unknown field\(s\) \['colour'\]"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_task_file_is_one_line_naming_the_file_and_the_field(tmp_path, case):
    text, expected = BAD[case]
    (tmp_path / "bad.txt").write_text("A {mood} review of {topics}.")
    path = user_task(tmp_path, text)
    with pytest.raises(UserError, match=expected) as caught:
        load_task(str(path))
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))


@pytest.mark.parametrize("case", ["one label", "repeated label", "example for an unknown label", "missing template"])
def test_generate_with_a_bad_task_exits_2_and_stores_nothing(tmp_path, case, capsys):
    text, expected = BAD[case]
    path = user_task(tmp_path / "tasks", text)
    db = tmp_path / "out" / "s.db"
    args = ["generate", "--rounds", "2", "--models", "local-gemma", "--store", f"sqlite:///{db}", "--task", str(path)]
    code, out, err = run_cli_output(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}") and lines[0] == lines[0].strip()
    assert not db.exists() and not db.parent.exists()


def test_an_unknown_task_name_lists_the_known_ones(tmp_path, capsys):
    db = tmp_path / "s.db"
    code, _, err = run_cli_output(["generate", "--rounds", "2", "--task", "nope", "--store", f"sqlite:///{db}"], capsys)
    assert code == 2 and "--task nope: no such task; known: emotion, sentiment, sentiment3" in err
    assert not db.exists()


def test_resume_takes_the_task_of_the_run_it_finishes(tmp_path, capsys):
    code, _, err = run_cli_output(["generate", "--resume", "last", "--task", "emotion"], capsys)
    assert code == 2 and "--resume takes the rounds, models, seed and task" in err


def test_a_task_in_a_directory_is_named_as_its_file(tmp_path):
    user_task(tmp_path, 'name = "reviews"\n' + GOOD)
    with pytest.raises(UserError, match=r"review\.toml: name 'reviews' differs from the file name"):
        load_task("review", tmp_path)
    assert load_task(str(tmp_path / "review.toml")).name == "reviews"  # a file named by its path may differ
