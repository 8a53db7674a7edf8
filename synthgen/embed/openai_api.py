"""Embeddings over the OpenAI wire protocol: OpenAI itself, or any `/v1/embeddings` server.

Servers: llama.cpp's `llama-server --embeddings`, llamafile, vLLM, Ollama's OpenAI endpoint.

Texts go in batches (one request per batch); vectors are cached on disk by (model, server, text hash), so
cleaning the same run twice sends nothing. A server that answers with one vector per token (llama-cpp-python's
`python -m llama_cpp.server --embedding True` with a model without pooling, such as the bundled Gemma) has its
token vectors mean-pooled into one vector per text; a note on stderr says so once.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

import numpy as np

from ..errors import UserError
from ..secrets import redact
from ..text import shorten
from .base import Embedder, EmbeddingCache

OPENAI_MODEL = "text-embedding-3-large"
BASE_URL_ENV = "SYNTHGEN_EMBED_BASE_URL"
MODEL_ENV = "SYNTHGEN_EMBED_MODEL"
KEY_ENV = "SYNTHGEN_EMBED_API_KEY"
NO_KEY = "none"  # what an openai-compatible server without a key is sent: the SDK insists on one


def _with_v1(url: str) -> str:
    """`http://host:8080` -> `http://host:8080/v1`; a URL that already names a path is kept as given."""
    url = url.rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


def _server(url: str | None) -> str:
    """`@host:port/path` of a base URL for the cache key, without any user:password part; "" for none."""
    if not url:
        return ""
    split = urlsplit(url)
    host = split.hostname or ""
    port = f":{split.port}" if split.port else ""
    return f"@{host}{port}{split.path.rstrip('/')}"


class OpenAIEmbedder(Embedder):
    """`openai`: text-embedding-3-large (or SYNTHGEN_EMBED_MODEL) with OPENAI_API_KEY (and OPENAI_BASE_URL if set).

    The cache key is `openai:MODEL` for api.openai.com and `openai:MODEL@HOST/PATH` for OPENAI_BASE_URL.
    `OpenAICompatibleEmbedder` is the same client with other defaults: it changes only the class attributes and
    `_endpoint` below."""

    flag = "openai"  # the --embedder value, in messages and in the cache key
    default_model = OPENAI_MODEL
    batch_size = 256  # inputs per request; OpenAI allows 2048 and ~300k tokens, these are one-line texts
    default_timeout = 60.0
    default_max_retries = 5
    extra: dict[str, object] = {}  # sent with every request

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int | None = None,
        dimensions: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        cache: EmbeddingCache | bool = True,
        **_: object,
    ):
        super().__init__(cache=cache)
        self.model = model or os.environ.get(MODEL_ENV) or self.default_model
        self.base_url, self.api_key = self._endpoint(base_url, api_key)
        if batch_size:
            self.batch_size = int(batch_size)
        self.dimensions = dimensions
        self.timeout = self.default_timeout if timeout is None else timeout
        self.max_retries = self.default_max_retries if max_retries is None else max_retries
        # The cache key names the server too (never the key): two servers' vectors for one model name differ.
        self.name = f"{self.flag}:{self.model}" + (f"-d{dimensions}" if dimensions else "") + _server(self.base_url)
        self._client = None
        self.pooled = False  # the server sent per-token vectors, which were mean-pooled

    def _endpoint(self, base_url: str | None, api_key: str | None) -> tuple[str | None, str | None]:
        """(base URL, API key): what was given, else the environment."""
        return base_url or os.environ.get("OPENAI_BASE_URL") or None, api_key or os.environ.get("OPENAI_API_KEY")

    def _check(self) -> None:
        if not self.api_key:
            raise UserError(
                "--embedder openai needs OPENAI_API_KEY (in the environment or .env); --embedder tfidf needs no key"
            )

    def client(self):
        if self._client is None:
            self._check()
            try:
                from openai import OpenAI
            except ImportError:  # pragma: no cover - openai is a core dependency
                raise UserError("--embedder openai needs the openai package: pip install openai") from None
            self._client = OpenAI(
                api_key=self.api_key,
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        import openai

        # Empty strings are rejected by OpenAI; a single space embeds as "nothing" and keeps the row order.
        inputs = [t if t.strip() else " " for t in texts]
        kwargs: dict[str, object] = dict(self.extra)
        if self.dimensions:
            kwargs["dimensions"] = self.dimensions
        try:
            response = self.client().embeddings.create(model=self.model, input=inputs, **kwargs)
        except openai.AuthenticationError as exc:
            raise UserError(f"--embedder {self.flag}: the server refused the API key ({exc.status_code})") from None
        except openai.APIConnectionError as exc:
            raise UserError(f"--embedder {self.flag}: cannot reach {self._where()} ({exc.__cause__ or exc})") from None
        except openai.APIStatusError as exc:
            # the server's own words may quote the key it was sent (as careless proxies do)
            own_key = (self.api_key,) if self.api_key and self.api_key != NO_KEY else ()
            detail = shorten(redact(str(exc.message), own_key), 200)
            raise UserError(
                f"--embedder {self.flag}: {self._where()} answered HTTP {exc.status_code}: {detail}"
            ) from None
        rows = sorted(response.data, key=lambda d: d.index)
        if len(rows) != len(texts):
            raise UserError(
                f"--embedder {self.flag}: {self._where()} returned {len(rows)} vectors for {len(texts)} texts"
            )
        vectors = [self._one_vector(r.embedding) for r in rows]
        dims = {len(v) for v in vectors}
        if len(dims) != 1:
            raise UserError(
                f"--embedder {self.flag}: {self._where()} returned vectors of different lengths "
                f"({', '.join(map(str, sorted(dims)))}) in one batch"
            )
        return np.stack(vectors)

    def _one_vector(self, embedding: object) -> np.ndarray:
        """One text's vector. A server that returns one vector per *token* (llama-cpp-python's server with a
        model that has no pooling, such as the bundled Gemma) gets its token vectors mean-pooled, once said on
        stderr, since the cleaner needs one vector per text."""
        try:
            if embedding and isinstance(embedding, list) and isinstance(embedding[0], list):
                tokens = np.asarray(embedding, dtype=np.float32)  # ValueError when the token rows differ
                if tokens.ndim != 2 or not len(tokens):
                    raise ValueError("not a list of token vectors")
                if not self.pooled:
                    self.pooled = True
                    print(
                        f"note: {self._where()} returns one vector per token; synthgen mean-pools them into "
                        "one vector per text (a server with pooling enabled returns one itself)",
                        file=sys.stderr,
                    )
                return tokens.mean(axis=0)
            vector = np.asarray(embedding, dtype=np.float32)
        except (TypeError, ValueError):
            vector = None
        if vector is None or vector.ndim != 1 or not len(vector):
            raise UserError(
                f"--embedder {self.flag}: {self._where()} did not return a list of numbers per text "
                f"(got {type(embedding).__name__}); is it an embeddings endpoint?"
            )
        return vector

    def _where(self) -> str:
        return self.base_url or "api.openai.com"


class OpenAICompatibleEmbedder(OpenAIEmbedder):
    """`openai-compatible`: any `/v1/embeddings` server; URL from `base_url` or SYNTHGEN_EMBED_BASE_URL."""

    flag = "openai-compatible"
    default_model = "default"
    batch_size = 64  # local servers embed a batch in one pass; keep requests small enough not to time out
    default_timeout = 120.0
    default_max_retries = 2
    extra = {"encoding_format": "float"}  # many local servers do not implement base64, the SDK's default

    def _endpoint(self, base_url: str | None, api_key: str | None) -> tuple[str | None, str | None]:
        url = base_url or os.environ.get(BASE_URL_ENV)
        if not url:
            raise UserError(
                f"--embedder openai-compatible needs the server's URL: set {BASE_URL_ENV}="
                "http://localhost:8080/v1 (llama.cpp: llama-server -m MODEL.gguf --embeddings)"
            )
        return _with_v1(url), api_key or os.environ.get(KEY_ENV) or NO_KEY

    def _check(self) -> None:
        pass

    def _where(self) -> str:
        return self.base_url or ""
