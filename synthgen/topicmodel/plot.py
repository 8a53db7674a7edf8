"""A 2-D map of the texts, coloured by topic, each topic's label written where its texts are densest.

A topic's mean point is a poor place for its label: on a t-SNE map a spread-out topic's mean lies in the middle of
the picture, among other topics, and all labels pile up there. Each label is anchored at its topic's densest member
point (where its own texts crowd most and other topics' least), placed beside it where it covers fewest labels and
points, pushed clear of any label it still covers, and joined to its point by a thin line.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..numeric import fit_pca
from ..paths import check_plot_path
from ..text import shorten

TSNE_MAX = 2500  # above this many texts t-SNE takes too long for a picture; PCA is instant
DENSITY_SAMPLE = 2500  # label anchors: each member's density is measured against at most this many points
DENSITY_MIN_PER_TOPIC = 50  # ... of which every topic keeps at least this many (all of them when it has fewer)
DENSITY_CHUNK = 1_000_000  # members x reference points scored at once: bounds memory (~8 MB per array)
LEGEND_CHARS = 40
LABEL_WRAP = 28


def map_coordinates(reduced: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D positions for the map: seeded t-SNE of the clustering space (PCA for large sets), so neighbours on the
    map are neighbours where KMeans looked."""
    n = reduced.shape[0]
    if reduced.shape[1] <= 2 or n < 5:
        return np.pad(reduced, ((0, 0), (0, max(0, 2 - reduced.shape[1]))))[:, :2]
    if n > TSNE_MAX:
        return fit_pca(reduced, 2, seed)[0]
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (n - 1) / 3))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(reduced)


# tab10, then ten more picked greedily (each as far as possible, in CIELAB, from every colour before it, as drawn at
# alpha 0.7 on white, and dark enough to see): tab20's own order pairs a dark and a light shade of one hue, so with
# it topics 0 and 1, 2 and 3... look alike, and its light shades nearly vanish on white.
PALETTE20 = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#f0027f",
    "#a6761d",
    "#637939",
    "#1b9e77",
    "#393b79",
    "#d6616b",
    "#b15928",
    "#7b4173",
    "#e6550d",
    "#66a61e",
)


def topic_colours(k: int) -> list[tuple[float, float, float, float]]:
    """One colour per topic, neighbouring topics always clearly different: tab10 up to 10 topics, PALETTE20 up to
    20, beyond that evenly spaced turbo colours taken in a stride that jumps across the range."""
    from matplotlib import colormaps
    from matplotlib.colors import to_rgba

    if k <= 20:
        return [to_rgba(PALETTE20[i]) for i in range(k)]
    cmap = colormaps["turbo"]
    stride = next(s for s in (7, 5, 3, 11, 13, 1) if np.gcd(s, k) == 1)
    return [cmap(0.05 + 0.9 * ((i * stride) % k) / (k - 1)) for i in range(k)]


def density_reference(
    labels: np.ndarray, k: int, limit: int = DENSITY_SAMPLE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The points a density is measured against, and the weight of each: every point (weight 1) up to `limit`
    points; above it a seeded sample stratified by topic (each topic its share of `limit`, at least
    DENSITY_MIN_PER_TOPIC), each sampled point standing for `members / sampled` points of its topic, so every
    topic's density keeps its scale and a small topic is not left out of the sample."""
    n = len(labels)
    if n <= limit:
        return np.arange(n), np.ones(n)
    rng = np.random.default_rng(seed)
    picked, weights = [], []
    for t in range(k):
        members = np.flatnonzero(labels == t)
        if members.size == 0:
            continue
        take = min(members.size, max(DENSITY_MIN_PER_TOPIC, round(limit * members.size / n)))
        picked.append(np.sort(rng.choice(members, take, replace=False)))
        weights.append(np.full(take, members.size / take))
    return np.concatenate(picked), np.concatenate(weights)


def anchor_points(
    coords: np.ndarray, labels: np.ndarray, k: int, *, sample: int = DENSITY_SAMPLE, seed: int = 0
) -> np.ndarray:
    """Per topic, the member point where the topic is densest relative to the others (Gaussian kernel density of
    its own points minus half that of the other topics'); the medoid when a topic has one or two points.

    The density is measured against `density_reference` (every point up to `sample` of them, else a seeded
    sample), in chunks of members: time grows with members x sample and memory stays bounded, however many
    texts the map has."""
    coords = np.asarray(coords, dtype=np.float64)
    labels = np.asarray(labels)
    anchors = np.zeros((k, 2))
    span = float(np.ptp(coords, axis=0).max()) if len(coords) else 1.0
    bandwidth = max(span, 1e-9) * 0.06
    ref, ref_weight = density_reference(labels, k, sample, seed)
    ref_pts, ref_labels = coords[ref], labels[ref]
    chunk = max(1, DENSITY_CHUNK // max(len(ref), 1))
    for t in range(k):
        members = np.flatnonzero(labels == t)
        if members.size == 0:
            anchors[t] = np.nan
            continue
        pts = coords[members]
        if members.size <= 2:
            anchors[t] = pts[0]
            continue
        sign = np.where(ref_labels == t, 1.0, -0.5) * ref_weight  # own points count, others' count against
        score = np.empty(members.size)
        for start in range(0, members.size, chunk):
            part = pts[start : start + chunk]
            d2 = (part[:, None, 0] - ref_pts[None, :, 0]) ** 2 + (part[:, None, 1] - ref_pts[None, :, 1]) ** 2
            score[start : start + chunk] = np.exp(-d2 / (2 * bandwidth**2)) @ sign
        anchors[t] = pts[int(np.argmax(score))]
    return anchors


def place_boxes(
    sizes: np.ndarray,
    anchors: np.ndarray,
    points: np.ndarray,
    bounds: tuple[float, float, float, float],
    gap: float = 6.0,
) -> np.ndarray:
    """A box (x0, y0, x1, y1, pixels) of each size near its anchor: the first of eight positions around the anchor
    (above, below, right, left, the diagonals; then the same farther out) that covers least of the labels placed
    before it, of its own anchor and of the other points. Greedy, in the given order (topic 0, the largest, first)."""
    x_min, y_min, x_max, y_max = bounds
    directions = [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1)]
    placed: list[np.ndarray] = []
    for (w, h), (ax_, ay) in zip(sizes, anchors, strict=True):
        best, best_cost = None, np.inf
        for ring in range(3):
            for n, (dx, dy) in enumerate(directions):
                reach = gap + ring * max(h, 12.0)
                cx = ax_ + dx * (w / 2 + reach if dx else 0)
                cy = ay + dy * (h / 2 + reach if dy else 0)
                box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
                shift_x = max(x_min - box[0], 0.0) - max(box[2] - x_max, 0.0)
                shift_y = max(y_min - box[1], 0.0) - max(box[3] - y_max, 0.0)
                box += (shift_x, shift_y, shift_x, shift_y)
                overlap = sum(
                    max(0.0, min(box[2], o[2]) - max(box[0], o[0])) * max(0.0, min(box[3], o[3]) - max(box[1], o[1]))
                    for o in placed
                ) / (w * h)
                inside = (
                    (points[:, 0] > box[0] - 3)
                    & (points[:, 0] < box[2] + 3)
                    & (points[:, 1] > box[1] - 3)
                    & (points[:, 1] < box[3] + 3)
                )
                own = box[0] - 4 < ax_ < box[2] + 4 and box[1] - 4 < ay < box[3] + 4
                cost = 100 * overlap + 2 * int(inside.sum()) + 50 * own + 3 * ring + 0.01 * n
                if cost < best_cost:
                    best, best_cost = box, cost
        placed.append(best)
    return np.array(placed)


def spread_boxes(
    boxes: np.ndarray, bounds: tuple[float, float, float, float], pad: float = 3.0, iterations: int = 300
) -> np.ndarray:
    """Move boxes (x0, y0, x1, y1, in pixels) apart until none overlaps another, keeping them inside `bounds`.

    Each overlapping pair is pushed apart along the axis where they overlap least, half each way; deterministic."""
    boxes = boxes.astype(float).copy()
    x_min, y_min, x_max, y_max = bounds

    def clamp() -> None:
        for b in boxes:
            w, h = b[2] - b[0], b[3] - b[1]
            dx = max(x_min - b[0], 0.0) - max(b[2] - x_max, 0.0)
            dy = max(y_min - b[1], 0.0) - max(b[3] - y_max, 0.0)
            if w > x_max - x_min:
                dx = x_min - b[0]
            if h > y_max - y_min:
                dy = y_min - b[1]
            b += (dx, dy, dx, dy)

    clamp()
    for _ in range(iterations):
        moved = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                ox = min(a[2], b[2]) - max(a[0], b[0]) + pad
                oy = min(a[3], b[3]) - max(a[1], b[1]) + pad
                if ox <= 0 or oy <= 0:
                    continue
                moved = True
                ca, cb = (a[:2] + a[2:]) / 2, (b[:2] + b[2:]) / 2
                if ox < oy:
                    step = ox / 2 * (1 if ca[0] >= cb[0] else -1)
                    a += (step, 0, step, 0)
                    b -= (step, 0, step, 0)
                else:
                    step = oy / 2 * (1 if ca[1] >= cb[1] else -1)
                    a += (0, step, 0, step)
                    b -= (0, step, 0, step)
        clamp()
        if not moved:
            break
    return boxes


def legend_text(t: int, label: str, limit: int = LEGEND_CHARS) -> str:
    return f"{t}: {shorten(label, limit)}"


def map_figure(
    coords: np.ndarray,
    labels: np.ndarray,
    topic_labels: Sequence[str],
    title: str = "",
    figsize: tuple[float, float] = (10, 7.5),
):
    """The map as a matplotlib Figure (Agg canvas, no pyplot): points coloured by topic, labels placed and spread."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = len(topic_labels)
    colours = topic_colours(k)
    fig = Figure(figsize=figsize, dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    size = max(6, min(40, 4000 / max(len(labels), 1)))
    for t in range(k):
        pts = coords[labels == t]
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=size,
            color=colours[t],
            alpha=0.7,
            linewidths=0,
            label=legend_text(t, topic_labels[t]),
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=11)
    if k <= 20:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False, markerscale=1.5)
    ax.margins(0.08)
    fig.tight_layout()
    _label_topics(fig, ax, coords, labels, topic_labels, colours)
    return fig


def plot_map(
    coords: np.ndarray,
    labels: np.ndarray,
    topic_labels: Sequence[str],
    path: str | Path,
    title: str = "",
    figsize: tuple[float, float] = (10, 7.5),
) -> Path:
    path = check_plot_path(path)
    fig = map_figure(coords, labels, topic_labels, title, figsize)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
    except OSError as exc:
        raise UserError(f"--plot {path}: cannot write the map ({exc.strerror})") from None
    return path


def _label_topics(
    fig, ax, coords: np.ndarray, labels: np.ndarray, topic_labels: Sequence[str], colours: Sequence
) -> None:
    """Write each label next to its topic's anchor point (where it covers least: other labels, its point, other
    points), push apart labels that still cover each other, and join each label to its point with a thin line."""
    k = len(topic_labels)
    anchors = anchor_points(coords, labels, k)
    shown = [t for t in range(k) if not np.isnan(anchors[t]).any()]
    if not shown:
        return
    fontsize = 9 if k <= 12 else 8
    style = {"ha": "center", "va": "center", "fontsize": fontsize, "fontweight": "bold", "color": "black"}
    renderer = fig.canvas.get_renderer()
    wrapped = {t: textwrap.fill(topic_labels[t], LABEL_WRAP) for t in shown}
    pad = 0.3 * fontsize * fig.dpi / 72 + 1  # the white box drawn around the text, in pixels
    to_pixels = ax.transData
    sizes = []
    for t in shown:
        probe = ax.text(0, 0, wrapped[t], **style)
        extent = probe.get_window_extent(renderer)
        probe.remove()
        sizes.append((extent.width + 2 * pad, extent.height + 2 * pad))
    frame = ax.get_window_extent(renderer).extents
    bounds = (frame[0] + 2, frame[1] + 2, frame[2] - 2, frame[3] - 2)
    where = to_pixels.transform(anchors[shown])
    boxes = place_boxes(np.array(sizes), where, to_pixels.transform(coords), bounds)
    spread = spread_boxes(boxes, bounds)  # whatever overlap placing could not avoid
    to_data = to_pixels.inverted()
    for t, box in zip(shown, spread, strict=True):
        centre = to_data.transform((box[:2] + box[2:]) / 2)
        ax.annotate(
            wrapped[t],
            xy=anchors[t],
            xytext=centre,
            textcoords="data",
            zorder=4,
            **style,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": colours[t], "alpha": 0.85},
            arrowprops={"arrowstyle": "-", "color": colours[t], "lw": 1.0, "shrinkA": 0, "shrinkB": 2},
        )
        ax.scatter(*anchors[t], s=26, facecolors="none", edgecolors=colours[t], linewidths=1.2, zorder=3)
