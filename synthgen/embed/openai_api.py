"""Embeddings over the OpenAI wire protocol: OpenAI itself, or any `/v1/embeddings` server.

Servers: llama.cpp's `llama-server --embeddings`, llamafile, vLLM, Ollama's OpenAI endpoint.

Texts go in batches (one request per batch); vectors are cached on disk by (model, server, text hash), so
cleaning the same run twice sends nothing.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import numpy as np

from ..errors import UserError
from .base import Embedder, EmbeddingCache

OPENAI_MODEL = "text-embedding-3-large"
BASE_URL_ENV = "SYNTHGEN_EMBED_BASE_URL"
MODEL_ENV = "SYNTHGEN_EMBED_MODEL"
KEY_ENV = "SYNTHGEN_EMBED_API_KEY"


def _with_v1(url: str) -> str:
    """`http://host:8080` -> `http://host:8080/v1`; a URL that already names a path is kept as given."""
    url = url.rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


class OpenAIEmbedder(Embedder):
    """`openai`: text-embedding-3-large with OPENAI_API_KEY (and OPENAI_BASE_URL if set)."""

    batch_size = 256  # inputs per request; OpenAI allows 2048 and ~300k tokens, these are one-line texts

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int | None = None,
        dimensions: int | None = None,
        timeout: float = 60.0,
        max_retries: int = 5,
        cache: EmbeddingCache | bool = True,
        **_: object,
    ):
        super().__init__(cache=cache)
        self.model = model or OPENAI_MODEL
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY")
        if batch_size:
            self.batch_size = int(batch_size)
        self.dimensions = dimensions
        self.timeout = timeout
        self.max_retries = max_retries
        self.name = f"openai:{self.model}" + (f"-d{dimensions}" if dimensions else "")
        self._client = None
        self._extra: dict[str, object] = {}

    def _check(self) -> None:
        if not self.api_key:
            raise UserError(
                "--embedder openai needs OPENAI_API_KEY (in the environment or .env); "
                "--embedder tfidf needs no key"
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
        kwargs: dict[str, object] = dict(self._extra)
        if self.dimensions:
            kwargs["dimensions"] = self.dimensions
        try:
            response = self.client().embeddings.create(model=self.model, input=inputs, **kwargs)
        except openai.AuthenticationError as exc:
            raise UserError(
                f"--embedder {self._flag()}: the server refused the API key ({exc.status_code})"
            ) from None
        except openai.APIConnectionError as exc:
            raise UserError(
                f"--embedder {self._flag()}: cannot reach {self._where()} ({exc.__cause__ or exc})"
            ) from None
        except openai.APIStatusError as exc:
            raise UserError(
                f"--embedder {self._flag()}: {self._where()} answered HTTP {exc.status_code}: "
                f"{str(exc.message)[:200]}"
            ) from None
        rows = sorted(response.data, key=lambda d: d.index)
        if len(rows) != len(texts):
            raise UserError(
                f"--embedder {self._flag()}: {self._where()} returned {len(rows)} vectors "
                f"for {len(texts)} texts"
            )
        return np.asarray([r.embedding for r in rows], dtype=np.float32)

    def _flag(self) -> str:
        return "openai"

    def _where(self) -> str:
        return self.base_url or "api.openai.com"


class OpenAICompatibleEmbedder(OpenAIEmbedder):
    """`openai-compatible`: any `/v1/embeddings` server; URL from `base_url` or SYNTHGEN_EMBED_BASE_URL."""

    batch_size = 64  # local servers embed a batch in one pass; keep requests small enough not to time out

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
        cache: EmbeddingCache | bool = True,
        **_: object,
    ):
        url = base_url or os.environ.get(BASE_URL_ENV)
        if not url:
            raise UserError(
                f"--embedder openai-compatible needs the server's URL: set {BASE_URL_ENV}="
                "http://localhost:8080/v1 (llama.cpp: llama-server -m MODEL.gguf --embeddings)"
            )
        model = model or os.environ.get(MODEL_ENV) or "default"
        super().__init__(
            model=model,
            base_url=_with_v1(url),
            api_key=api_key or os.environ.get(KEY_ENV) or "none",
            batch_size=batch_size,
            timeout=timeout,
            max_retries=max_retries,
            cache=cache,
        )
        # Many local servers do not implement base64, the SDK's default encoding.
        self._extra = {"encoding_format": "float"}
        split = urlsplit(self.base_url or "")
        self.name = f"openai-compatible:{self.model}@{split.netloc}{split.path}"

    def _check(self) -> None:
        pass

    def _flag(self) -> str:
        return "openai-compatible"

    def _where(self) -> str:
        return self.base_url or ""
