"""A 2-D map of the texts, coloured by topic, each topic's label written at its centroid."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError

TSNE_MAX = 2500  # above this many texts t-SNE takes too long for a picture; PCA is instant


def map_coordinates(reduced: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D positions for the map: seeded t-SNE of the clustering space (PCA for large sets), so neighbours on the
    map are neighbours where KMeans looked."""
    n = reduced.shape[0]
    if reduced.shape[1] <= 2 or n < 5:
        return np.pad(reduced, ((0, 0), (0, max(0, 2 - reduced.shape[1]))))[:, :2]
    if n > TSNE_MAX:
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(reduced)
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (n - 1) / 3))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(reduced)


def plot_map(coords: np.ndarray, labels: np.ndarray, topic_labels: Sequence[str], path: str | Path,
             title: str = "") -> Path:
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UserError(f"--plot {path}: use a .png, .svg or .pdf file name")
    k = len(topic_labels)
    cmap = colormaps["tab10" if k <= 10 else "tab20" if k <= 20 else "turbo"]
    colours = [cmap(i % cmap.N) if k <= 20 else cmap(i / max(k - 1, 1)) for i in range(k)]
    fig = Figure(figsize=(10, 7.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    size = max(6, min(40, 4000 / max(len(labels), 1)))
    for t in range(k):
        pts = coords[labels == t]
        ax.scatter(pts[:, 0], pts[:, 1], s=size, color=colours[t], alpha=0.7, linewidths=0,
                   label=f"{t}: {topic_labels[t][:40]}")
    for t in range(k):
        pts = coords[labels == t]
        if len(pts) == 0:
            continue
        cx, cy = pts.mean(axis=0)
        ax.annotate(textwrap.fill(topic_labels[t], 28), (cx, cy), ha="center", va="center", fontsize=9,
                    fontweight="bold", color="black",
                    bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": colours[t], "alpha": 0.85})
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=11)
    if k <= 20:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False, markerscale=1.5)
    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
    except OSError as exc:
        raise UserError(f"--plot {path}: cannot write the map ({exc.strerror})") from None
    return path
