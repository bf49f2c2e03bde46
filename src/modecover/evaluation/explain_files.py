"""The files of ``modecover evaluate --explain DIR`` (docs/evaluate.md, "Explaining the metrics").

:func:`write_explanation` writes an :class:`modecover.explain.Explanation` as

- ``real.csv``: per real sample ``index, covered, radius, nearest_fake, nearest_fake_index,
  distance_ratio, group`` (+ ``mode`` with mode means): ``group`` is the missed group's rank
  (-1: covered);
- ``fake.csv``: per fake ``index, inside, ball_gap, nearest_ball, realism, rarity, group``
  (+ ``mode``): ``group`` is the off-manifold group's rank (-1: inside a real ball);
- both with a ``file`` column after ``index`` when the set was an image folder (each image's
  path relative to its folder);
- ``groups.json``: :meth:`Explanation.summary` (the largest groups of each kind; for an image
  folder each group's ``medoid_file`` too), the sentence of
  :func:`modecover.explain.describe_missed` and the file names;
- ``explain.png``: both sets in one 2D projection (the points themselves when 2D, PCA of
  both sets together otherwise: :func:`modecover.plots.project_2d`) with the
  largest missed groups circled;
- for images, ``missed_<rank>.png`` (the real images of a missed group: what the model
  never makes) and ``off_manifold_<rank>.png`` (fakes that look like nothing real), for the
  largest groups.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from modecover.explain import Explanation, describe_missed
from modecover.io import json_safe, write_csv

__all__ = ["write_explanation", "CIRCLED_GROUPS", "GALLERY_GROUPS"]

CIRCLED_GROUPS = 5  # missed groups circled in explain.png
GALLERY_GROUPS = 3  # groups of each kind with an image gallery


def _columns(e: Explanation, real_names, fake_names) -> tuple[dict, dict]:
    real = {**_file_column(real_names, len(e.real_covered), "real_names"),
            "covered": e.real_covered.astype(np.int8), "radius": e.real_radius, "nearest_fake": e.real_nearest_fake,
            "nearest_fake_index": e.real_nearest_fake_index, "distance_ratio": e.real_distance_ratio,
            "group": e.real_group}
    fake = {**_file_column(fake_names, len(e.fake_inside), "fake_names"),
            "inside": e.fake_inside.astype(np.int8), "ball_gap": e.fake_ball_gap, "nearest_ball": e.fake_nearest_ball,
            "realism": e.fake_realism, "rarity": e.fake_rarity, "group": e.fake_group}
    if e.real_mode is not None:
        real["mode"], fake["mode"] = e.real_mode, e.fake_mode
    return real, fake


def _file_column(names, n: int, what: str) -> dict:
    if names is None:
        return {}
    if len(names) != n:
        raise ValueError(f"{what}: {len(names)} file names for {n} samples; give one per sample, in order")
    return {"file": np.asarray([str(name) for name in names], dtype=object)}


def _name_medoids(groups: list[dict], names) -> None:
    """Each group's ``medoid_file`` (the medoid's file name), beside its row index ``medoid``."""
    if names is not None:
        for g in groups:
            g["medoid_file"] = str(names[g["medoid"]])


def _circles(e: Explanation, proj_real: np.ndarray) -> list[tuple[float, float, float, str]]:
    """Centre, radius and label of a circle around each of the largest missed groups."""
    extent = float(np.ptp(proj_real, axis=0).max()) or 1.0
    out = []
    for g in e.missed_groups[:CIRCLED_GROUPS]:
        pts = proj_real[g.members]
        centre = pts.mean(axis=0)
        radius = float(np.sqrt(((pts - centre) ** 2).sum(axis=1)).max()) * 1.2 + 0.02 * extent
        label = f"#{g.rank}: {g.size}" + (f" (mode {g.mode})" if g.mode is not None else "")
        out.append((float(centre[0]), float(centre[1]), radius, label))
    return out


def _title(e: Explanation) -> str:
    """The plot's title: the coverage (as PRDC's at this k on these sets) and the share of fakes
    inside a real ball, named as the precision at this k (a page's precision may use another k)."""
    return (f"coverage {e.coverage:.4g} (k = {e.k}); {len(e.real_covered)} real, {len(e.fake_inside)} fake\n"
            f"fakes inside a real ball {e.precision:.4g} (precision at k = {e.k})")


def write_explanation(e: Explanation, out_dir, real, fake, *, real_images=None, fake_images=None,
                      label: str = "the model", data_name: str = "real samples", title: str = "",
                      plot: bool = True, extra: dict | None = None, real_names=None,
                      fake_names=None) -> dict[str, Path]:
    """Write the files of the module doc into ``out_dir``; returns their paths by name.

    ``real``/``fake`` are the features explained (for the projection); ``real_images`` /
    ``fake_images`` (N, C, H, W) add the galleries; ``label`` names the model and
    ``data_name`` the real set in the sentence;
    ``extra`` adds keys to groups.json (e.g. where the samples came from);
    ``real_names`` / ``fake_names`` (one file name per sample, e.g. an image folder's relative
    paths) add the CSVs' ``file`` column and each group's ``medoid_file``.
    """
    from modecover import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    real_cols, fake_cols = _columns(e, real_names, fake_names)
    paths = {"real": write_csv(out / "real.csv", "index", range(len(e.real_covered)), real_cols),
             "fake": write_csv(out / "fake.csv", "index", range(len(e.fake_inside)), fake_cols)}
    summary = e.summary()
    _name_medoids(summary["missed_groups"], real_names)
    _name_medoids(summary["off_manifold_groups"], fake_names)
    if plot:
        proj = plots.project_2d(np.concatenate([np.asarray(real, np.float64), np.asarray(fake, np.float64)]))
        proj_real, proj_fake = proj[: len(e.real_covered)], proj[len(e.real_covered):]
        pca = " (PCA)" if np.asarray(real).shape[1] > 2 else ""
        paths["plot"] = plots.explain_projection(
            proj_real, proj_fake, e.real_covered, e.fake_inside, _circles(e, proj_real), out / "explain.png",
            title or _title(e) + pca)
        for kind, groups, images in (("missed", e.missed_groups, real_images),
                                     ("off_manifold", e.off_manifold_groups, fake_images)):
            if images is None:
                continue
            what = "real images no fake covers" if kind == "missed" else "fakes outside every real ball"
            for g in groups[:GALLERY_GROUPS]:
                paths[f"{kind}_{g.rank}"] = plots.image_grid(
                    np.asarray(images)[g.members], out / f"{kind}_{g.rank}.png",
                    f"{kind.replace('_', '-')} group #{g.rank}: {g.size} {what}")
    summary["sentence"] = describe_missed(summary, label, data_name)
    summary["files"] = {name: p.name for name, p in paths.items()} | {"groups": "groups.json"}
    summary.update(extra or {})
    paths["groups"] = out / "groups.json"
    paths["groups"].write_text(json.dumps(json_safe(summary), indent=1) + "\n")
    return paths
