"""Numeric helpers the cleaner and the topic model share: seeded PCA, seeded KMeans, unit-length rows.

One of each, so both steps reduce and cluster the same way and give the same result for the same seed. What each
step does around them differs on purpose (see `synthgen.clean.steps` and `synthgen.topicmodel.cluster`).
scikit-learn is imported only when a fit runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

N_INIT = 10  # KMeans restarts: fixed, not sklearn's "auto", so results do not move between sklearn versions


def unit_rows(x: np.ndarray, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), as `dtype` (float32: what embedders return; the topic
    model's clustering asks for float64)."""
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms == 0, 1.0, norms)).astype(dtype, copy=False)


def fit_pca(x: np.ndarray, n_components: int, seed: int = 0) -> tuple[np.ndarray, PCA]:
    """Seeded PCA of `x` to `n_components` dimensions: the projection and the fitted PCA."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=n_components, random_state=seed)
    return pca.fit_transform(x), pca


def fit_kmeans(x: np.ndarray, k: int, seed: int = 0) -> KMeans:
    """Seeded KMeans with `k` clusters and N_INIT restarts, fitted on `x` (`labels_`, `cluster_centers_`)."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(x)
