"""`--k auto` with a labeler: pairwise "same category?" questions pick the granularity (ClusterLLM).

The peer is a small OpenAI-compatible server that knows the true groups of the texts it is asked about: it answers
pair questions from those groups and label questions with the majority group, so the test can tell whether the
pipeline sampled, asked, parsed and scored correctly end to end, over HTTP, through the catalog's `local` model.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from synthgen.catalog import load_catalog
from synthgen.embed import get_embedder
from synthgen.topicmodel import Document, ModelAsker, TopicModel

SUPER = {
    "food": "kitchen recipe flavour dinner chef meal".split(),
    "sport": "match player season coach team score".split(),
}
SUB = {
    ("food", "baking"): "oven flour dough".split(),
    ("food", "grilling"): "charcoal skewer barbecue".split(),
    ("sport", "tennis"): "racket serve volley".split(),
    ("sport", "rowing"): "oar boat crew".split(),
}


FLAT = {
    "astronomy": "planet star galaxy telescope orbit comet nebula asteroid".split(),
    "gardening": "tulip compost seedling pruning soil mulch hedge watering".split(),
    "sailing": "yacht mast harbour anchor keel regatta sail tide".split(),
    "chess": "bishop rook checkmate gambit pawn endgame castling knight".split(),
}


def flat_groups(per_group: int = 10, seed: int = 0) -> list[tuple[str, str]]:
    """(text, group): four groups with no words in common; silhouette alone finds k=4."""
    rng = random.Random(seed)
    return [(" ".join(rng.sample(words, 6)), group) for group, words in FLAT.items() for _ in range(per_group)]


def nested_groups(per_group: int = 12, seed: int = 0) -> list[tuple[str, str, str]]:
    """(text, broad group, narrow group): two broad topics of two narrow ones each; the broad words dominate,
    so silhouette prefers k=2 while a user who cares about the narrow topics wants k=4."""
    rng = random.Random(seed)
    rows = []
    for (broad, narrow), words in SUB.items():
        for _ in range(per_group):
            rows.append((" ".join(rng.sample(SUPER[broad], 4) + rng.sample(words, 2)), broad, narrow))
    return rows


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        self.server.prompts.append(prompt)
        status, answer = self.server.answer(prompt)
        payload = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "m"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        if status != 200:
            payload = {"error": {"message": "refused", "type": "invalid_request_error"}}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def oracle(group_of: dict[str, str]) -> Callable[[str], tuple[int, str]]:
    """Answers as a model that sorts texts into the categories of `group_of` would."""

    def answer(prompt: str) -> tuple[int, str]:
        if "Text A:" in prompt:
            a = re.findall(r"^Text A: (.*)$", prompt, re.MULTILINE)[-1]
            b = re.findall(r"^Text B: (.*)$", prompt, re.MULTILINE)[-1]
            return 200, "Yes." if group_of[a] == group_of[b] else "No, they differ."
        found = Counter(group_of[t] for t in re.findall(r"^- (.*)$", prompt, re.MULTILINE) if t in group_of)
        return 200, f"{found.most_common(1)[0][0].title()} talk\nThese documents are all about it."

    return answer


@contextmanager
def chat_server(answer: Callable[[str], tuple[int, str]], monkeypatch: pytest.MonkeyPatch) -> Iterator:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.answer = answer
    server.prompts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SYNTHGEN_LOCAL_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def fit(rows, asker, seed: int = 0, k_max: int = 8):
    docs = [Document(str(i), text) for i, (text, *_) in enumerate(rows)]
    model = TopicModel(get_embedder("tfidf", seed=seed), k="auto", seed=seed, labeler=asker, k_max=k_max)
    return model, model.fit(docs)


def local_asker(seed: int = 0) -> ModelAsker:
    return ModelAsker(load_catalog().get_model("local"), {"temperature": 0}, seed=seed)


def test_silhouette_alone_picks_the_broad_groups_of_nested_data():
    _, report = fit(nested_groups(), asker=None)
    assert report.k == 2
    assert report.k_choice.method == "silhouette"


def test_llm_that_sorts_by_narrow_topic_moves_k_to_four_and_partition_matches(monkeypatch):
    rows = nested_groups()
    with chat_server(oracle({t: narrow for t, _, narrow in rows}), monkeypatch) as server:
        model, report = fit(rows, local_asker())
    choice = report.k_choice
    assert choice.method == "silhouette+llm"
    assert report.k == 4
    assert choice.questions == choice.answered == 40
    assert choice.controls == choice.controls_passed == 8
    assert {c.k for c in choice.candidates} == set(range(2, 9))
    best = next(c for c in choice.candidates if c.k == 4)
    assert best.llm_agreement == max(c.llm_agreement for c in choice.candidates)
    assert "silhouette alone picks k=2" in choice.reason
    narrow = [n for _, _, n in rows]
    for t in range(4):  # each topic is one narrow group
        assert len({narrow[i] for i in range(len(rows)) if model.labels_[i] == t}) == 1
    pair_prompts = [p for p in server.prompts if "Text A:" in p]
    assert len(pair_prompts) == choice.questions
    assert all(c.llm_pairs == 32 for c in choice.candidates)
    assert {t.label for t in report.topics} == {"Baking talk", "Grilling talk", "Tennis talk", "Rowing talk"}
    assert all(t.label_source == "llm" for t in report.topics)


def test_llm_that_sorts_by_broad_topic_keeps_k_at_two(monkeypatch):
    rows = nested_groups()
    with chat_server(oracle({t: broad for t, broad, _ in rows}), monkeypatch):
        _, report = fit(rows, local_asker())
    assert report.k_choice.method == "silhouette+llm"
    assert report.k == 2
    assert {t.label for t in report.topics} == {"Food talk", "Sport talk"}


def test_a_model_that_says_yes_to_everything_fails_the_controls_and_silhouette_decides(monkeypatch):
    rows = flat_groups()
    with chat_server(lambda prompt: (200, "Yes"), monkeypatch):
        _, report = fit(rows, local_asker())
    choice = report.k_choice
    assert choice.method == "silhouette" and report.k == 4  # trusting the answers would have given k=2
    assert choice.controls == 8 and choice.controls_passed == 4  # right only where the answer is yes
    assert choice.yes == choice.answered == choice.questions == 40
    assert "answers were not used: it got 4 of 8 control pairs right" in choice.reason
    assert next(c for c in choice.candidates if c.k == 2).llm_agreement == 1.0  # the scores are still reported


def test_a_truthful_model_confirms_the_silhouette_choice_on_flat_groups(monkeypatch):
    rows = flat_groups()
    with chat_server(oracle(dict(rows)), monkeypatch):
        _, report = fit(rows, local_asker())
    assert report.k_choice.method == "silhouette+llm" and report.k == 4
    assert report.k_choice.controls_passed == report.k_choice.controls == 8


def test_llm_choice_is_deterministic_for_a_seed(monkeypatch):
    rows = nested_groups()
    with chat_server(oracle({t: narrow for t, _, narrow in rows}), monkeypatch) as server:
        fit(rows, local_asker(seed=3), seed=3)
        first = [p for p in server.prompts if "Text A:" in p]
        server.prompts.clear()
        fit(rows, local_asker(seed=3), seed=3)
        second = [p for p in server.prompts if "Text A:" in p]
    assert sorted(first) == sorted(second)


def test_a_failing_labeler_leaves_silhouette_in_charge_and_keywords_as_labels(monkeypatch):
    rows = nested_groups()
    with chat_server(lambda prompt: (400, ""), monkeypatch):
        _, report = fit(rows, local_asker())
    choice = report.k_choice
    assert choice.method == "silhouette" and report.k == 2
    assert "no clear yes/no" in choice.reason and "invalid_request" in choice.reason
    assert all(t.label_source == "keywords" and "label call failed" in t.label_note for t in report.topics)
    assert all(t.label == ", ".join(t.keywords[:3]) for t in report.topics)


def test_unclear_answers_are_not_counted(monkeypatch):
    rows = nested_groups()
    with chat_server(lambda prompt: (200, "It depends on the context."), monkeypatch):
        _, report = fit(rows, local_asker(), k_max=4)
    assert report.k_choice.answered == 0
    assert report.k_choice.method == "silhouette"
