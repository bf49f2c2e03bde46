"""The figures of the reports, the audit and the explanations, each a small function that writes one PNG.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot
global state, no display needed). Every function takes plain numpy arrays, writes
``path`` and returns it. Legends sit below the axes, never over the data. The 2D view of
wide features they draw is :func:`project_2d` (PCA); :func:`save_gallery` shows the images of
highest score (:func:`most_isolated`) and :func:`audit_figures` draws the audit's two files.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ._checks import as_features
from .labels import label

MAX_SCATTER_POINTS = 20_000  # more points than this are drawn as a seeded random subsample
DPI = 100
GALLERY_TITLE = "most isolated samples (score; red frame: minority)"  # save_gallery's default


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=DPI, bbox_inches="tight")
    return path


def _figure(width: float, height: float) -> Figure:
    """A figure whose layout leaves room for a legend outside the axes."""
    return Figure(figsize=(width, height), layout="constrained")


def legend_below(fig: Figure, ax, columns: int = 2, **options) -> None:
    """The legend of ``ax``'s labelled artists under the axes (outside the data area)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(columns, len(handles)), fontsize=7,
                   frameon=False, **options)


def subsample(points: np.ndarray, limit: int = MAX_SCATTER_POINTS, seed: int = 0) -> np.ndarray:
    """At most ``limit`` rows of ``points`` (a seeded random subset, order kept)."""
    if len(points) <= limit:
        return points
    keep = np.sort(np.random.default_rng(seed).choice(len(points), size=limit, replace=False))
    return points[keep]


def scatter_against_data(
    samples: np.ndarray,
    data: np.ndarray | None,
    means: np.ndarray | None,
    minority_modes: list[int],
    path: Path,
    title: str,
) -> Path:
    """Generated 2D samples (blue) over the training data (grey), mode means as crosses.

    Minority modes' means are drawn in red.
    """
    fig = _figure(4.2, 4.7)
    ax = fig.add_subplot()
    if data is not None:
        d = subsample(data)
        ax.scatter(d[:, 0], d[:, 1], s=2, c="0.75", label="data", rasterized=True)
    s = subsample(samples)
    ax.scatter(s[:, 0], s[:, 1], s=2, c="tab:blue", alpha=0.6, label="generated", rasterized=True)
    if means is not None:
        minority = np.zeros(len(means), dtype=bool)
        minority[list(minority_modes)] = True
        ax.scatter(means[~minority, 0], means[~minority, 1], marker="x", c="k", s=30, label="mode")
        if minority.any():
            ax.scatter(means[minority, 0], means[minority, 1], marker="x", c="tab:red", s=40, label="minority mode")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title, fontsize=10)
    legend_below(fig, ax, columns=4, markerscale=2)
    return _save(fig, path)


def to_image_grid(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """Tile images (N,C,H,W) with C in {1,3} or (N,H,W) into one (rows*H, columns*W, 3) array in [0,1].

    Values are mapped to [0,1] by the convention of generative models: data with any
    value below 0 is taken to be in [-1,1], otherwise in [0,1] (or [0,255] when the
    maximum exceeds 1); values outside are clipped.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) == 0:
        raise ValueError(f"images: expected shape (N,C,H,W) with C in {{1,3}} or (N,H,W), got {np.shape(images)}")
    if x.min() < 0:
        x = (x + 1) / 2
    elif x.max() > 1:
        x = x / 255.0
    x = np.clip(x, 0, 1)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    n, _, h, w = x.shape
    columns = min(columns, n)
    rows = -(-n // columns)
    grid = np.ones((rows * (h + 1) - 1, columns * (w + 1) - 1, 3))
    for i in range(n):
        r, c = divmod(i, columns)
        grid[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = x[i].transpose(1, 2, 0)
    return grid


def image_grid(images: np.ndarray, path: Path, title: str, max_images: int = 64) -> Path:
    """The first ``max_images`` images as a grid (see :func:`to_image_grid`)."""
    grid = to_image_grid(np.asarray(images)[:max_images])
    fig = Figure(figsize=(4.2, 4.2 * grid.shape[0] / grid.shape[1] + 0.3))
    ax = fig.add_subplot()
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def mode_share_bars(
    data_weights: np.ndarray | None,
    shares: dict[str, np.ndarray],
    minority_modes: list[int],
    path: Path,
) -> Path:
    """Grouped bars: per mode, the data's weight and each run's share of generated samples.

    Minority modes get a red tick label.
    """
    n_modes = len(next(iter(shares.values()))) if shares else len(data_weights)
    groups = ({"data": np.asarray(data_weights)} if data_weights is not None else {}) | dict(shares)
    width = 0.8 / len(groups)
    fig = _figure(max(5.0, 0.45 * n_modes * len(groups) ** 0.5 + 2), 3.6)
    ax = fig.add_subplot()
    x = np.arange(n_modes)
    for i, (name, values) in enumerate(groups.items()):
        color = "0.6" if name == "data" and data_weights is not None else None
        ax.bar(x + (i - (len(groups) - 1) / 2) * width, values, width, label=name, color=color)
    ax.set_xticks(x, [str(j) for j in x])
    for j in minority_modes:
        ax.get_xticklabels()[j].set_color("tab:red")
    ax.set_xlabel("mode (red: minority)")
    ax.set_ylabel("share")
    legend_below(fig, ax, columns=4)
    return _save(fig, path)


def round_curves(curves: dict[str, dict[int, dict[str, float]]], path: Path, columns: int = 3) -> Path:
    """One panel per metric: its value across DMPRA rounds, one line per run.

    ``curves[run][round][metric] = value``.
    """
    metrics = list(dict.fromkeys(m for rounds in curves.values() for values in rounds.values() for m in values))
    columns = max(1, min(columns, len(metrics)))
    rows = -(-len(metrics) // columns)
    fig = _figure(3.3 * columns, 2.6 * rows + 0.4)
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(rows, columns, i + 1)
        for run, rounds in curves.items():
            points = sorted((r, v[metric]) for r, v in rounds.items() if metric in v)
            if points:
                r, v = zip(*points)
                ax.plot(r, v, marker="o", ms=3, label=run)
        ax.set_title(label(metric), fontsize=9)
        ax.set_xlabel("round", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if i == 0:
            legend_below(fig, ax, columns=4)
    return _save(fig, path)


def perception_projection(proj: np.ndarray, minority: np.ndarray, path: Path, title: str) -> Path:
    """A 2D projection (perception space, or the audited data) with the minority-flagged
    samples as red circles on top.

    Main samples beyond ``MAX_SCATTER_POINTS`` are drawn as a seeded random subset (said in
    the legend); every minority sample is drawn.
    """
    proj = np.asarray(proj, dtype=np.float64)
    minority = np.asarray(minority, dtype=bool)
    main = proj[~minority]
    drawn = subsample(main)
    note = f", {len(drawn)} drawn" if len(drawn) < len(main) else ""
    fig = _figure(4.6, 4.6)
    ax = fig.add_subplot()
    ax.scatter(drawn[:, 0], drawn[:, 1], s=3, c="0.6", label=f"main ({len(main)}{note})", rasterized=True)
    if minority.any():
        ax.scatter(proj[minority, 0], proj[minority, 1], s=9, facecolors="none", edgecolors="tab:red",
                   linewidths=0.8, label=f"minority ({int(minority.sum())})")
    ax.set_title(title, fontsize=9)
    legend_below(fig, ax, markerscale=2)
    ax.tick_params(labelsize=7)
    return _save(fig, path)


def explain_projection(real: np.ndarray, fake: np.ndarray, covered: np.ndarray, inside: np.ndarray,
                       circles: list[tuple[float, float, float, str]], path: Path, title: str) -> Path:
    """Real (grey; uncovered in red) and fake (blue; outside every real ball as orange
    crosses) samples in one 2D projection, with the given groups circled and labelled.

    ``circles``: ``(x, y, radius, label)`` in projection coordinates. Covered reals and
    inside fakes beyond ``MAX_SCATTER_POINTS`` are drawn as a seeded random subset; every
    uncovered real and outside fake is drawn.
    """
    from matplotlib.patches import Circle

    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    covered, inside = np.asarray(covered, dtype=bool), np.asarray(inside, dtype=bool)
    fig = _figure(5.2, 5.3)
    ax = fig.add_subplot()
    ax.scatter(*subsample(real[covered]).T, s=2, c="0.7", label=f"real, covered ({int(covered.sum())})",
               rasterized=True)
    ax.scatter(*subsample(fake[inside], seed=1).T, s=2, c="tab:blue", alpha=0.35,
               label=f"fake, inside a real ball ({int(inside.sum())})", rasterized=True)
    if (~covered).any():
        ax.scatter(*real[~covered].T, s=6, c="tab:red", label=f"real, uncovered ({int((~covered).sum())})")
    if (~inside).any():
        ax.scatter(*fake[~inside].T, s=10, marker="x", c="tab:orange", linewidths=0.8,
                   label=f"fake, off the data ({int((~inside).sum())})")
    for x, y, radius, text in circles:
        ax.add_patch(Circle((x, y), radius, fill=False, edgecolor="k", linewidth=1.0))
        ax.annotate(text, (x, y + radius), fontsize=7, ha="center", va="bottom")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title, fontsize=9)
    legend_below(fig, ax, markerscale=2)
    ax.tick_params(labelsize=7)
    return _save(fig, path)


def _grid(n_panels: int, columns: int, width: float = 3.3, height: float = 2.5) -> tuple[Figure, int, int]:
    columns = max(1, min(columns, n_panels))
    rows = -(-n_panels // columns)
    return _figure(width * columns, height * rows + 0.4), rows, columns


def loss_curves(steps: np.ndarray, curves: dict[str, np.ndarray], round_starts: list[tuple[int, float]], path: Path,
                columns: int = 3) -> Path:
    """One panel per logged value (``curves[key]`` against ``steps``), with a dotted line
    where each round after the first begins (``round_starts``: (round number, step))."""
    fig, rows, columns = _grid(len(curves), columns)
    for i, (key, values) in enumerate(curves.items()):
        ax = fig.add_subplot(rows, columns, i + 1)
        ok = np.isfinite(values)
        ax.plot(steps[ok], values[ok], lw=1.2, color="tab:blue")
        for _, step in round_starts:
            ax.axvline(step, color="0.6", lw=0.8, ls=":")
        ax.set_title(label(key), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    return _save(fig, path)


def bench_bars(rows: list[str], means: dict[str, list[float | None]], errors: dict[str, list[float | None]],
               path: Path, columns: int = 3) -> Path:
    """One panel per metric: a horizontal bar per benchmark row (mean), with its standard error."""
    fig, grid_rows, columns = _grid(len(means), columns, width=3.4, height=0.35 * len(rows) + 1.2)
    y = np.arange(len(rows))
    for i, (metric, values) in enumerate(means.items()):
        ax = fig.add_subplot(grid_rows, columns, i + 1)
        v = np.array([np.nan if x is None else x for x in values], dtype=float)
        e = np.array([0.0 if x is None or not np.isfinite(x) else x for x in errors[metric]], dtype=float)
        ax.barh(y, np.nan_to_num(v), xerr=e, color="tab:blue", ecolor="0.3", capsize=2, height=0.6)
        ax.set_yticks(y, rows if i % columns == 0 else [""] * len(rows), fontsize=7)
        ax.invert_yaxis()
        ax.set_title(label(metric), fontsize=9)
        ax.tick_params(labelsize=7)
    return _save(fig, path)


def project_2d(features, *, seed: int = 0) -> np.ndarray:
    """(n, 2) float64: the features themselves when 2D, ``(x, 0)`` when 1D, else the first two
    principal components (PCA).

    PCA by scikit-learn's randomized SVD (Halko et al. 2011) of the centred (n, d) matrix:
    O(n * d) time and memory, never a (d, d) matrix, so 300 images of 64 x 64 x 3 pixels
    project in well under a second. With 10 oversampled directions and 7 power iterations
    the two axes match the exact SVD's to rounding on data whose third singular value is
    clearly below the second, and the plot never depends on more than that. ``seed`` fixes
    the random test matrix (deterministic output); each axis is signed so that its
    largest-magnitude loading is positive.
    """
    from sklearn.utils.extmath import randomized_svd

    x = as_features(features, "features to project").astype(np.float64)
    if x.shape[1] == 2:
        return x.copy()
    if x.shape[1] == 1:
        return np.concatenate([x, np.zeros_like(x)], axis=1)
    centred = x - x.mean(axis=0)
    if not centred.any():
        return np.zeros((len(x), 2))
    _, _, vt = randomized_svd(centred, n_components=2, n_oversamples=10, n_iter=7, random_state=seed,
                              flip_sign=False)
    axes = vt.T  # (d, 2)
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])
    return np.ascontiguousarray(centred @ (axes * np.where(signs == 0, 1.0, signs)))


def _to_display(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) or (N, H, W) -> (N, H, W, 3) in [0, 1] (values < 0 mean [-1, 1] data, > 1 mean [0, 255])."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"gallery images: expected shape (N, C, H, W) with C in {{1, 3}} or (N, H, W), got {x.shape}")
    if x.min() < 0:
        x = (x + 1) / 2
    elif x.max() > 1:
        x = x / 255.0
    x = np.clip(x, 0, 1).transpose(0, 2, 3, 1)
    return np.repeat(x, 3, axis=3) if x.shape[3] == 1 else x


def most_isolated(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` highest scores, highest first (ties: lower index first)."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.lexsort((np.arange(len(scores)), -np.nan_to_num(scores, nan=-np.inf)))
    return order[:count]


def save_gallery(path: Path, images, scores: np.ndarray, minority: np.ndarray, *, count: int,
                 names: Sequence[str] | None = None, columns: int = 8, title: str = GALLERY_TITLE) -> Path:
    """Grid of the ``count`` most isolated images (highest score first), each titled with its
    score (and name); minority images framed in red."""
    chosen = most_isolated(scores, count)
    shown = _to_display(np.asarray(images)[chosen])
    rows = max(1, math.ceil(len(chosen) / columns))
    cols = min(columns, max(1, len(chosen)))
    fig = Figure(figsize=(1.3 * cols, 1.45 * rows + 0.3))  # no constrained layout: the grid fills the figure
    for slot, (i, img) in enumerate(zip(chosen, shown)):
        ax = fig.add_subplot(rows, cols, slot + 1)
        ax.imshow(img, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        caption = f"{names[i]}" if names is not None else f"#{i}"
        ax.set_title(f"{caption[-14:]}\n{scores[i]:.3g}", fontsize=6)
        color = "tab:red" if minority[i] else "0.7"
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(2.0 if minority[i] else 0.5)
    fig.suptitle(title, fontsize=8)
    return _save(fig, path)


def audit_figures(out: Path, features: np.ndarray, minority: np.ndarray, scores: np.ndarray, title: str, *,
                  gallery_size: int, images=None, names: Sequence[str] | None = None,
                  gallery_title: str = GALLERY_TITLE) -> dict[str, Path]:
    """The drawings of an audit in the folder ``out``, by name: ``png``, ``audit.png`` (the
    features in 2D by :func:`project_2d`, the ``minority`` samples circled; ``title`` gains
    " (PCA)" when the features are wider than 2) and, given ``images``, ``gallery``,
    ``gallery.png`` (:func:`save_gallery` of the ``gallery_size`` highest ``scores``)."""
    x = np.asarray(features)
    flags = np.asarray(minority, dtype=bool)
    paths = {"png": perception_projection(project_2d(x), flags, Path(out) / "audit.png",
                                          title + (" (PCA)" if x.shape[1] > 2 else ""))}
    if images is not None:
        paths["gallery"] = save_gallery(Path(out) / "gallery.png", images, scores, flags, names=names,
                                        count=gallery_size, title=gallery_title)
    return paths
