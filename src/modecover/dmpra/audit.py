"""The data audit: DMPRA's search alone on a data set (docs/dmpra.md, "Audit").

"Which of my samples are rare?" - before any training, run the search (extended
neighbourhood sampling) and the weights on the samples' features and write:

- ``audit.csv``: one row per sample, columns ``index`` (feature files) or ``file`` (image
  folders, path relative to the folder), ``score``, ``minority`` (0/1), ``group`` (-1 for
  main samples), ``group_deficit``, ``weight``, then ``radius``, ``cv``, ``censored``
  (0/1), ``rank`` (1 = highest score) and, when asked, ``top`` (1 for the F most isolated
  samples);
- ``summary.json``: how many samples were flagged, the radii they were flagged at
  (min / median / max of the radius of largest score), the groups (size, deficit,
  weight), censored counts, delta-bar, the search's own summary and the settings used;
  when nothing was flagged, a plain-words ``note`` why (highest score, how many scored
  above k_sigma - 1, the largest group the ladder can flag, or that all samples are
  identical);
- ``audit.png``: a 2D projection of the features (raw when 2D, else PCA) with minority
  samples highlighted;
- ``gallery.png`` (images only): the most isolated samples, highest score first.

The same helpers write the per-round files of the DMPRA plug-in
(:mod:`modecover.dmpra.plugin`).
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from modecover._checks import as_features, is_integer

GALLERY_SIZE = 32
POINT_SUFFIXES = (".csv", ".txt")


def json_safe(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays, tuples and dataclasses turned into plain JSON values
    (non-finite floats become None, so the file stays valid JSON)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return json_safe(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def score_columns(result, weighed) -> dict[str, np.ndarray]:
    """Per-sample columns of a search result and its :class:`modecover.dmpra.GroupWeights`
    (flags as 0/1 integers; ``group`` -1 and ``group_deficit`` NaN for main samples)."""
    return {
        "score": np.asarray(result.score, dtype=np.float64),
        "radius": np.asarray(result.radius, dtype=np.float64),
        "cv": np.asarray(result.cv, dtype=np.float64),
        "minority": np.asarray(result.minority, dtype=bool).astype(np.int8),
        "group": np.asarray(weighed.labels, dtype=np.int64),
        "group_deficit": weighed.group_deficit(),
        "weight": np.asarray(weighed.weights, dtype=np.float64),
        "censored": np.asarray(result.censored, dtype=bool).astype(np.int8),
    }


def density_columns(result) -> dict[str, np.ndarray]:
    """Per-sample columns of a :class:`modecover.dmpra.density.DensityResult`, in order:
    ``score`` (log density ratio to the reference; > 0 is sparser), ``minority`` (0/1: raised,
    weight > 1), ``group`` (-1 unless raised), ``weight``, ``radius`` (k-th neighbour
    distance), ``dim`` (local intrinsic dimension)."""
    return {
        "score": np.asarray(result.score, dtype=np.float64),
        "minority": np.asarray(result.raised, dtype=bool).astype(np.int8),
        "group": np.asarray(result.labels, dtype=np.int64),
        "weight": np.asarray(result.weights, dtype=np.float64),
        "radius": np.asarray(result.radius, dtype=np.float64),
        "dim": np.asarray(result.dim, dtype=np.float64),
    }


def write_csv(path: Path, key_name: str, keys: Sequence, columns: dict[str, np.ndarray]) -> Path:
    """A CSV with header ``key_name, *columns``; floats written with full precision (repr)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(columns)
    as_lists = [np.asarray(columns[c]).tolist() for c in names]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([key_name, *names])
        for i, key in enumerate(keys):
            writer.writerow([key, *(repr(col[i]) if isinstance(col[i], float) else col[i] for col in as_lists)])
    return path


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


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _save(fig, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path


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


def save_gallery(path: Path, images, scores: np.ndarray, minority: np.ndarray, *,
                 names: Sequence[str] | None = None, count: int = GALLERY_SIZE, columns: int = 8,
                 title: str = "most isolated samples (score; red frame: minority)") -> Path:
    """Grid of the ``count`` most isolated images (highest score first), each titled with its
    score (and name); minority images framed in red."""
    chosen = most_isolated(scores, count)
    shown = _to_display(np.asarray(images)[chosen])
    rows = max(1, math.ceil(len(chosen) / columns))
    cols = min(columns, max(1, len(chosen)))
    fig = _figure((1.3 * cols, 1.45 * rows + 0.3))
    for slot, (i, img) in enumerate(zip(chosen, shown)):
        ax = fig.add_subplot(rows, cols, slot + 1)
        ax.imshow(img, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        label = f"{names[i]}" if names is not None else f"#{i}"
        ax.set_title(f"{label[-14:]}\n{scores[i]:.3g}", fontsize=6)
        color = "tab:red" if minority[i] else "0.7"
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(2.0 if minority[i] else 0.5)
    fig.suptitle(title, fontsize=8)
    return _save(fig, path)


@dataclass
class AuditData:
    """What :func:`load_audit_data` read: features, and for images the images and file names."""

    features: np.ndarray  # (n, d)
    source: str  # the path, as given
    kind: str  # "features", "points" or "images"
    extractor: str
    files: list[str] | None = None  # image files relative to the folder
    images: np.ndarray | None = None  # (n, C, H, W) in [0, 1]
    skipped: list[str] = field(default_factory=list)  # unreadable image files left out (skip_corrupt)


def _load_points(path: Path) -> np.ndarray:
    """2D (or any-D) points from a CSV/whitespace text file; a non-numeric first line is a header."""
    text = path.read_text()
    if not text.strip():
        raise ValueError(f"{path}: the file is empty")
    first = text.lstrip().splitlines()[0]
    delimiter = "," if "," in first else None
    try:
        float((first.split(delimiter) if delimiter else first.split())[0])
        skip = 0
    except ValueError:
        skip = 1
    try:
        arr = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{path}: cannot read as numeric columns ({err})") from err
    return arr


def load_audit_data(source, *, extractor: str | None = None, min_rows: int = 1,
                    batch_size: int = 256, image_mode: str = "RGB",
                    extractor_options: dict | None = None, skip_corrupt: bool = False) -> AuditData:
    """Read a feature file (.npy/.npz[:key]/.pt/.pth), a points file (.csv/.txt) or an image
    folder, and turn it into features.

    ``extractor``: ``identity`` (default for files: the rows are the features) or
    ``pixels`` (default for image folders: flattened pixels in [0, 1]); any other name of
    :func:`modecover.features.get_extractor` works for image folders (e.g. ``inception``, ``dinov2``).
    Image folders are read by :func:`modecover.data.images.load_image_folder` in
    ``image_mode`` ("RGB" or "L"); ``extractor_options`` go to ``get_extractor`` (e.g.
    ``weights_path`` of ``inception`` or ``dinov2``). Errors name the path.
    """
    from modecover.features import extract, get_extractor
    from modecover.io import split_key

    if extractor_options and extractor not in ("inception", "dinov2"):
        raise ValueError(f"extractor options {sorted(extractor_options)} apply to the inception and dinov2 "
                         f"extractors, not {extractor or 'the default'!r}")
    path = Path(str(source))

    file_path, _ = split_key(source)
    if path.is_dir():
        from modecover.data.images import load_image_folder

        name = extractor or "pixels"
        if name == "identity":
            raise ValueError(f"{path}: an image folder needs an image extractor (pixels, inception or dinov2), "
                             "not identity")
        with warnings.catch_warnings():  # skipped files are listed in AuditData.skipped
            warnings.simplefilter("ignore", UserWarning)
            folder = load_image_folder(path, mode=image_mode, skip_corrupt=skip_corrupt)
        extractor_fn = get_extractor(name, **(extractor_options or {}))
        features = extract(extractor_fn, folder.images, batch_size=batch_size, name=str(path))
        files = [p.relative_to(path).as_posix() for p in folder.files]
        data = AuditData(features, str(source), "images", name, files, folder.images.numpy(),
                         [p.relative_to(path).as_posix() for p in folder.skipped])
    elif file_path.suffix.lower() in POINT_SUFFIXES:
        if not file_path.exists():
            raise FileNotFoundError(f"{file_path}: no such file")
        data = AuditData(_load_points(file_path), str(source), "points", extractor or "identity")
    else:
        from modecover.io import load_array

        name = extractor or "identity"
        if name not in ("identity", "pixels"):
            raise ValueError(f"{source}: a feature file takes the identity or pixels extractor, not {name!r}")
        arr = load_array(source, min_ndim=2)
        if name == "identity" and arr.ndim != 2:
            raise ValueError(
                f"{source}: identity needs a 2-D array (n_samples, n_features), got shape {arr.shape}; "
                "use --extractor pixels for images"
            )
        images = arr if arr.ndim in (3, 4) else None
        data = AuditData(arr.reshape(arr.shape[0], -1), str(source), "images" if images is not None else "features",
                         name, None, images)
    data.features = as_features(data.features, str(source), min_rows=min_rows)
    return data


@dataclass
class Audit:
    """The outcome of :func:`audit`."""

    result: Any  # modecover.dmpra.SearchResult
    weights: np.ndarray
    summary: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)


def audit_summary(result, weighed, delta: float, features=None) -> dict[str, Any]:
    """How many were flagged, at which radii, the groups, censored counts, delta-bar, weight
    range; when nothing was flagged, ``note`` says why in plain words (see
    :func:`nothing_flagged_note`)."""
    weights = weighed.weights
    minority = np.asarray(result.minority, dtype=bool)
    radius = np.asarray(result.radius, dtype=np.float64)[minority]
    radius = radius[np.isfinite(radius)]
    n = int(minority.size)
    summary = {
        "n": n,
        "n_minority": int(minority.sum()),
        "minority_share": float(minority.mean()) if n else 0.0,
        "minority_radius": None if radius.size == 0 else {
            "min": float(radius.min()), "median": float(np.median(radius)), "max": float(radius.max())},
        "n_censored": int(np.asarray(result.censored, dtype=bool).sum()),
        "n_censored_minority": int((np.asarray(result.censored, dtype=bool) & minority).sum()),
        "delta_bar": float(delta),
        "weight": {"min": float(weights.min()), "max": float(weights.max()), "sum": float(weights.sum())},
        "groups": json_safe([g.as_dict() for g in weighed.groups]),
        "search": json_safe(result.summary()),
    }
    sizes, k_sigma = summary["search"].get("ladder_sizes"), summary["search"].get("k_sigma")
    if sizes and k_sigma:
        # a tight group holding a share p of a neighbourhood scores sqrt((1 - p) / p): flagged only
        # if p < 1 / (1 + k_sigma^2), so at the largest ladder size N groups up to N / (1 + k^2)
        summary["largest_flaggable_group"] = int(np.ceil(max(sizes) / (1 + k_sigma**2))) - 1
    if summary["n_minority"] == 0:
        scores = np.asarray(result.score, dtype=np.float64)
        k = float(result.config.k_sigma)
        summary["max_score"] = float(np.nanmax(scores)) if np.isfinite(scores).any() else None
        summary["n_above_k_sigma_minus_1"] = int((scores > k - 1).sum())
        identical = features is not None and not np.ptp(np.asarray(features), axis=0).any()
        summary["note"] = nothing_flagged_note(summary, k, identical)
    return summary


def nothing_flagged_note(summary: dict[str, Any], k_sigma: float, identical: bool) -> str:
    """Plain words for an audit that flagged nothing: why, and what the ranking still gives."""
    n = summary["n"]
    words = ["No sample flagged, so all weights are 1."]
    if identical:
        words.append(f"All {n} samples are identical: there is no rarer region to find.")
    else:
        top = summary.get("max_score")
        words.append(f"A sample is flagged when its score exceeds k_sigma = {k_sigma:g}; the highest score is "
                     f"{'undefined' if top is None else f'{top:.3g}'}, and {summary['n_above_k_sigma_minus_1']} of {n} "
                     f"samples scored above k_sigma - 1 = {k_sigma - 1:g}.")
    if "largest_flaggable_group" in summary and not identical:
        sizes = summary["search"]["ladder_sizes"]
        words.append(f"With neighbourhoods of {min(sizes)} to {max(sizes)} samples, a group of more than about "
                     f"{summary['largest_flaggable_group']} similar samples counts as common, not rare "
                     "(--max-neighbors raises this).")
    words.append("audit.csv still ranks every sample by score (rank 1 = most isolated); --top F marks the F "
                 "most isolated.")
    return " ".join(words)


def audit(features, out_dir, search_config=None, weighting=None, *, names: Sequence[str] | None = None,
          images=None, gallery_size: int = GALLERY_SIZE, plot: bool = True, source: str = "features",
          stage: Callable[[str], None] | None = None, extra_summary: dict | None = None, top: int = 0) -> Audit:
    """Search ``features`` (n, d), weigh, and write ``audit.csv``, ``summary.json``,
    ``audit.png`` and (with ``images``) ``gallery.png`` into ``out_dir``.

    ``names`` (one per row) replaces the ``index`` column by a ``file`` column. ``stage``
    is called with a short message before each step (for progress display). Every row
    gets its ``rank`` by score (1 = most isolated; ties: lower row first), flagged or not;
    ``top`` > 0 adds a ``top`` column marking the ``top`` most isolated samples (1).
    """
    from modecover.dmpra import SearchConfig, WeightingConfig, search
    from modecover.dmpra.density import DensityConfig

    if isinstance(search_config, DensityConfig):
        if weighting is not None:
            raise ValueError("audit: the density detector makes its own weights; a WeightingConfig applies to the "
                             "LOCI search (SearchConfig) only")
        return _density_audit(features, out_dir, search_config, names=names, images=images, gallery_size=gallery_size,
                              plot=plot, source=source, stage=stage, extra_summary=extra_summary, top=top)
    config = search_config or SearchConfig()
    weighting = weighting or WeightingConfig()
    step = stage or (lambda message: None)
    x = as_features(features, source, min_rows=int(config.n_min))
    _check_audit_inputs(len(x), names, images, top, source)
    step(f"searching {len(x)} samples of dimension {x.shape[1]}")
    result = search(x, config)
    step("weighing")
    weighed, delta, notes = _weigh_noting_warnings(result, weighting)
    summary = {"source": source, **audit_summary(result, weighed, delta, x),
               "settings": {**json_safe(config), **json_safe(weighting)}, **(extra_summary or {})}
    if notes:
        summary["warnings"] = notes
    if top:
        summary["top"] = int(top)
    step("writing files")
    paths = _write_audit(Path(out_dir), x, _audit_columns(result, weighed, top), summary, names=names, images=images,
                         plot=plot, step=step, source=source, gallery_size=gallery_size)
    return Audit(result, weighed.weights, summary, paths)


def _density_audit(features, out_dir, config, *, names, images, gallery_size: int, plot: bool, source: str,
                   stage, extra_summary, top: int) -> Audit:
    """:func:`audit` with the k-NN density detector (:mod:`modecover.dmpra.density`): the same
    files, with ``score`` the log density ratio and ``minority`` the raised samples."""
    from modecover.dmpra.density import density_weights

    step = stage or (lambda message: None)
    x = as_features(features, source, min_rows=config.neighbors + 1)
    _check_audit_inputs(len(x), names, images, top, source)
    step(f"estimating the density of {len(x)} samples of dimension {x.shape[1]}")
    result = density_weights(x, config)
    found = result.summary()
    summary = {"source": source, "detector": "density", "n": found["n"], "n_minority": found["n_raised"],
               "minority_share": float(result.raised.mean()),
               "weight": {"min": float(result.weights.min()), "max": float(result.weights.max()),
                          "sum": float(result.weights.sum())},
               **{k: found[k] for k in ("raised_share_of_weight", "median_dimension", "groups")},
               "settings": json_safe(config), **(extra_summary or {})}
    if result.note:
        summary["note"] = result.note
    if top:
        summary["top"] = int(top)
    step("writing files")
    columns = _ranked(density_columns(result), top)
    paths = _write_audit(Path(out_dir), x, columns, summary, names=names, images=images, plot=plot, step=step,
                         source=source, gallery_size=gallery_size)
    return Audit(result, result.weights, summary, paths)


def _write_audit(out: Path, x: np.ndarray, columns: dict, summary: dict, *, names, images, plot: bool, step,
                 source: str, gallery_size: int) -> dict[str, Path]:
    """``audit.csv``, the drawings (``plot``) and ``summary.json`` (which lists the files) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    key_name, keys = ("file", list(names)) if names is not None else ("index", range(len(x)))
    paths = {"csv": write_csv(out / "audit.csv", key_name, keys, columns)}
    if plot:
        step("drawing")
        paths.update(_draw_audit(out, x, columns, summary, source, images, names, gallery_size))
    summary["files"] = {k: p.name for k, p in paths.items()} | {"summary": "summary.json"}
    (out / "summary.json").write_text(json.dumps(json_safe(summary), indent=1))
    paths["summary"] = out / "summary.json"
    return paths


def _ranked(columns: dict[str, np.ndarray], top: int) -> dict[str, np.ndarray]:
    """``columns`` with every row's ``rank`` by score (1 = highest) and (``top``) the top marks."""
    n = len(columns["score"])
    columns["rank"] = np.empty(n, dtype=np.int64)
    columns["rank"][most_isolated(columns["score"], n)] = np.arange(1, n + 1)
    if top:
        columns["top"] = (columns["rank"] <= top).astype(np.int8)
    return columns


def _check_audit_inputs(n: int, names, images, top, source: str) -> None:
    if names is not None and len(names) != n:
        raise ValueError(f"audit: {len(names)} names for {n} samples of {source}")
    if images is not None and len(images) != n:
        raise ValueError(f"audit: {len(images)} images for {n} samples of {source}")
    if not is_integer(top) or not 0 <= top <= n:
        raise ValueError(f"audit: top must be an integer in 0..{n} (the number of samples), got {top!r}")


def _weigh_noting_warnings(result, weighting):
    """The weights and delta-bar of ``result``, and the distinct warnings they raised (re-emitted)."""
    from modecover.dmpra import delta_bar, weigh

    with warnings.catch_warnings(record=True) as caught:  # kept in the summary, then re-emitted
        warnings.simplefilter("always")
        weighed = weigh(result, weighting)
        delta = delta_bar(result)
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    for note in notes:
        warnings.warn(note, RuntimeWarning, stacklevel=3)
    return weighed, delta, notes


def _audit_columns(result, weighed, top: int) -> dict[str, np.ndarray]:
    """The columns of ``audit.csv`` in order: the scores, every row's rank by score and (``top``) the top marks."""
    columns = _ranked(score_columns(result, weighed), top)
    order = ("score", "minority", "group", "group_deficit", "weight", "radius", "cv", "censored", "rank")
    return {c: columns[c] for c in order + (("top",) if top else ())}


def _draw_audit(out: Path, x: np.ndarray, columns, summary, source: str, images, names, gallery_size: int):
    """``audit.png`` (the 2D projection, flagged samples marked) and, with ``images``, ``gallery.png``."""
    from modecover.plots import perception_projection

    flags = columns["minority"].astype(bool)
    paths = {"png": perception_projection(
        project_2d(x), flags, out / "audit.png",
        f"{Path(source).name}: {summary['n_minority']} of {summary['n']} "
        f"{'raised' if summary.get('detector') == 'density' else 'minority'}"
        + (" (PCA)" if x.shape[1] > 2 else ""),
    )}
    if images is not None:
        title = ("sparsest first (score: log density ratio to the reference; red frame: raised, weight > 1)"
                 if summary.get("detector") == "density" else "most isolated samples (score; red frame: minority)")
        paths["gallery"] = save_gallery(out / "gallery.png", images, columns["score"], flags,
                                        names=names, count=gallery_size, title=title)
    return paths


__all__ = [
    "Audit", "AuditData", "audit", "audit_summary", "density_columns", "json_safe", "load_audit_data", "most_isolated",
    "project_2d", "save_gallery", "score_columns", "write_csv",
]
