"""The embedder interface and the on-disk cache that makes re-embedding the same texts free."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..numeric import unit_rows


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors by (embedder name, sha256 of text) in one SQLite file, shared safely between processes."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (embedder TEXT NOT NULL, key TEXT NOT NULL, "
            "dim INTEGER NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (embedder, key))"
        )
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> EmbeddingCache:
        from ..paths import cache_dir

        return cls(cache_dir() / "embeddings" / "embeddings.sqlite")

    def get(self, embedder: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT key, dim, vec FROM vectors WHERE embedder=? AND key IN ({marks})"
            for key, dim, blob in self._db.execute(sql, [embedder, *chunk]):
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape == (dim,):
                    out[key] = vec
        return out

    def put(self, embedder: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        rows = [(embedder, key, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes()) for key, v in items]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?,?,?,?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def count(self, embedder: str | None = None) -> int:
        if embedder is None:
            return self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM vectors WHERE embedder=?", (embedder,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Embedder(ABC):
    """Texts in, one L2-normalised float32 row per text out: the one embedder interface, for the cleaner and the
    topic model alike.

    `name` is a stable id of the model and its settings: it keys the cache and appears in reports. Subclasses
    implement `_embed_batch`; `embed` removes duplicates, serves what the cache holds, and sends the rest in
    batches of `batch_size`. An embedder whose vectors depend on the other texts of the call (TF-IDF) sets
    `cacheable = False` and overrides `embed`.
    """

    name: str = "embedder"
    cacheable: bool = True
    batch_size: int = 64

    def __init__(self, *, cache: EmbeddingCache | bool = True):
        self._cache_opt = cache
        self._cache: EmbeddingCache | None = None
        self.stats = {"texts": 0, "cached": 0, "computed": 0, "batches": 0}

    @property
    def cache(self) -> EmbeddingCache | None:
        if not self.cacheable or self._cache_opt is False:
            return None
        if self._cache is None:
            self._cache = self._cache_opt if isinstance(self._cache_opt, EmbeddingCache) else EmbeddingCache.default()
        return self._cache

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for up to `batch_size` distinct texts, one row each, in order."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        self.stats["texts"] += len(texts)
        unique = list(dict.fromkeys(texts))
        keys = {t: text_key(t) for t in unique}
        cache = self.cache
        found = cache.get(self.name, list(keys.values())) if cache is not None and unique else {}
        vectors: dict[str, np.ndarray] = {t: found[keys[t]] for t in unique if keys[t] in found}
        self.stats["cached"] += len(vectors)
        missing = [t for t in unique if t not in vectors]
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            rows = unit_rows(np.asarray(self._embed_batch(batch), dtype=np.float32))
            if rows.shape[0] != len(batch):
                raise RuntimeError(f"embedder {self.name} returned {rows.shape[0]} vectors for {len(batch)} texts")
            self.stats["batches"] += 1
            self.stats["computed"] += len(batch)
            new = dict(zip(batch, rows, strict=True))
            vectors.update(new)
            if cache is not None:
                cache.put(self.name, ((keys[t], v) for t, v in new.items()))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return unit_rows(np.stack([vectors[t] for t in texts]))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
