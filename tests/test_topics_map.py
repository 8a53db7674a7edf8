"""The topic map: colours, where each label goes (on a dense part of its own topic, never covering another), the
legend, and a twelve-topic map written to a file."""

from __future__ import annotations

import random

import numpy as np
import pytest

from synthgen.embed import get_embedder
from synthgen.topicmodel import Document, TopicModel


def _lab(rgb) -> np.ndarray:
    """CIELAB of an sRGB colour as drawn on the map (alpha 0.7 over white)."""
    c = np.asarray(rgb[:3], dtype=float) * 0.7 + 0.3
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    f = np.cbrt(xyz / np.array([0.95047, 1.0, 1.08883]))
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("k", [11, 12, 16, 20])
def test_neighbouring_topics_get_clearly_different_colours_beyond_ten_topics(k):
    from synthgen.topicmodel.plot import topic_colours

    colours = topic_colours(k)
    assert len({tuple(c) for c in colours}) == k
    steps = [float(np.linalg.norm(_lab(a) - _lab(b))) for a, b in zip(colours, colours[1:], strict=False)]
    assert min(steps) > 20, steps  # tab20 in its own order: topics 0 and 1 are two shades of one blue (~15)
    closest = min(np.linalg.norm(_lab(a) - _lab(b)) for i, a in enumerate(colours) for b in colours[i + 1 :])
    assert closest > 10


def test_map_labels_sit_on_a_dense_part_of_their_own_topic_not_its_mean():
    from synthgen.topicmodel.plot import anchor_points

    rng = np.random.default_rng(0)
    # topic 0 has two far-apart lumps, so its mean lies between them, inside topic 1
    coords = np.vstack(
        [rng.normal((-10, 0), 0.3, (20, 2)), rng.normal((10, 0), 0.3, (12, 2)), rng.normal((0, 0), 0.3, (20, 2))]
    )
    labels = np.array([0] * 32 + [1] * 20)
    anchors = anchor_points(coords, labels, 2)
    assert np.linalg.norm(coords[labels == 0].mean(axis=0) - (0, 0)) < 3  # the mean: in topic 1's lump
    assert np.linalg.norm(anchors[0] - (-10, 0)) < 1.5  # the label: on topic 0's larger lump
    assert any(np.allclose(anchors[0], p) for p in coords[labels == 0])  # at one of its own texts
    assert np.linalg.norm(anchors[1]) < 1.5


def _exact_anchors(coords: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The anchor rule measured against every point: each member's own-topic density minus half the others'."""
    span = float(np.ptp(coords, axis=0).max())
    bandwidth = max(span, 1e-9) * 0.06
    anchors = np.full((k, 2), np.nan)
    for t in range(k):
        pts = coords[labels == t]
        if len(pts) == 0:
            continue
        if len(pts) <= 2:
            anchors[t] = pts[0]
            continue
        weight = np.exp(-((pts[:, None, :] - coords[None, :, :]) ** 2).sum(axis=2) / (2 * bandwidth**2))
        own = labels[None, :] == t
        anchors[t] = pts[int(np.argmax((weight * own).sum(axis=1) - 0.5 * (weight * ~own).sum(axis=1)))]
    return anchors


def test_map_anchors_on_maps_up_to_the_density_sample_are_the_exact_densest_points():
    from synthgen.topicmodel.plot import DENSITY_SAMPLE, anchor_points

    rng = np.random.default_rng(3)
    for n, k in ((5, 2), (60, 4), (700, 9), (DENSITY_SAMPLE, 6)):
        coords = rng.normal(0, 1, (k, 2))[rng.integers(0, k, n)] * 4 + rng.normal(0, 1, (n, 2))
        labels = rng.integers(0, k, n)
        np.testing.assert_array_equal(anchor_points(coords, labels, k), _exact_anchors(coords, labels, k))


def test_map_anchors_of_20k_texts_stay_bounded_in_memory_and_on_their_topic():
    """The exact rule would hold a 15,000 x 20,000 x 2 array (4.8 GB) for the big topic; the sample keeps it small.
    (How long it takes: benchmarks/bench_topics_map.py.)"""
    import tracemalloc

    from synthgen.topicmodel.plot import anchor_points

    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [30, 0], [0, 30], [30, 30], [15, 15]], dtype=float)
    sizes = [15_000, 3_000, 1_500, 470, 30]  # one big topic, one far smaller than its share of the sample
    labels = np.repeat(np.arange(5), sizes)
    coords = centres[labels] + rng.normal(0, 2, (len(labels), 2))
    tracemalloc.start()
    anchors = anchor_points(coords, labels, 5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100e6, peak
    assert np.linalg.norm(anchors - centres, axis=1).max() < 3  # each label on its own topic's dense middle
    assert np.array_equal(anchor_points(coords, labels, 5), anchors)  # seeded: the same map, the same anchors


def test_crowded_map_labels_do_not_cover_each_other_and_stay_inside_the_plot():
    from synthgen.topicmodel.plot import map_figure

    rng = np.random.default_rng(1)
    k = 14
    labels = np.repeat(np.arange(k), 15)
    coords = rng.normal(0, 0.3, (k, 2))[labels] + rng.normal(0, 0.2, (len(labels), 2))  # all in one heap
    names = [f"a fairly long label for topic number {t}" for t in range(k)]
    fig = map_figure(coords, labels, names)
    ax = fig.axes[0]
    fig.canvas.draw()  # the white boxes around the labels get their size when drawn
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_bbox_patch().get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == k
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    frame = ax.get_window_extent(renderer)
    assert all(
        frame.x0 - 1 <= b.x0 and b.x1 <= frame.x1 + 1 and frame.y0 - 1 <= b.y0 and b.y1 <= frame.y1 + 1 for b in boxes
    )


def test_legend_cuts_long_labels_with_an_ellipsis():
    from synthgen.topicmodel.plot import map_figure

    labels = np.array([0, 0, 1, 1])
    coords = np.array([[0, 0], [0.1, 0], [5, 5], [5.1, 5]], dtype=float)
    long = "Family gatherings and the small rituals of holidays at home"
    fig = map_figure(coords, labels, [long, "Short"])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[1] == "1: Short"
    assert legend[0].startswith("0: Family gatherings") and legend[0].endswith("…")
    assert len(legend[0]) <= len("0: ") + 40


def test_twelve_topic_map_is_written_with_every_topic_colour(tmp_path):
    import matplotlib.image
    from matplotlib.colors import to_rgb

    from synthgen.topicmodel.plot import PALETTE20

    rng = random.Random(3)
    words = [f"w{g}x{i}" for g in range(12) for i in range(8)]
    docs = [
        Document(f"{g}-{n}", " ".join(rng.sample(words[g * 8 : (g + 1) * 8], 5))) for g in range(12) for n in range(6)
    ]
    model = TopicModel(get_embedder("tfidf"), k=12, seed=0)
    model.fit(docs)
    pixels = matplotlib.image.imread(model.plot(tmp_path / "map12.png"))[..., :3].reshape(-1, 3)
    for colour in PALETTE20[:12]:
        blended = np.array(to_rgb(colour)) * 0.7 + 0.3
        assert (np.abs(pixels - blended).max(axis=1) < 0.03).any(), colour
