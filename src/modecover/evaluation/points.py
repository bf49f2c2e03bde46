"""Metrics of generated 2D points against a mixture with known modes (docs/metrics.md, "Mode metrics"),
and a short account of which modes they miss (:func:`explain_summary`): the evaluation of the
2D benchmarks, the training report and the demo."""

from __future__ import annotations

import numpy as np


def evaluate_points(samples, mixture, real) -> tuple[dict[str, float], list[float]]:
    """Mode metrics (PacGAN/VEEGAN recipe) and precision/recall/density/coverage.

    ``real`` is a held-out sample of the mixture, as many points as ``samples``. Returns
    the scalar metrics and the per-mode generated shares (among high-quality samples).
    """
    from modecover.metrics.modes import mode_metrics
    from modecover.metrics.prdc import prdc

    samples = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    modes = mode_metrics(samples, mixture.means, mixture.sigmas, mixture.weights, minority=mixture.minority)
    metrics = {
        "modes": modes["modes_captured"],
        "hq_percent": modes["hq_percent"],
        "reverse_kl": modes["reverse_kl"],
        "share_error": modes["share_error"],
    }
    if mixture.minority:
        metrics["minority_captured"] = modes["minority_captured"]
    metrics.update(prdc(np.asarray(real, dtype=np.float64), samples))
    return metrics, [float(s) for s in modes["generated_shares"]]


EXPLAIN_GROUPS = 5  # missed groups kept in a job's explain summary


def explain_summary(samples, mixture, real, k: int = 5) -> dict:
    """Which modes ``samples`` miss against ``real`` (:func:`modecover.explain.explain` with
    the mixture's mode means; ``k`` as PRDC's): a mode is missed when at least half of its
    real points are uncovered (:data:`modecover.explain.MISSED_MODE_SHARE`). JSON-able:
    the missed modes, each mode's uncovered count, the largest missed groups (size, mode)
    and the off-manifold counts. Deterministic: it draws no random numbers."""
    from modecover.explain import explain

    samples = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    e = explain(np.asarray(real, dtype=np.float64), samples, k=k, modes=mixture.means)
    modes = e.missed_modes()
    return _summary(e, k, [m["mode"] for m in modes if m["missed"]], [m["n_uncovered"] for m in modes],
                    [m["n_real"] for m in modes], [{"size": g.size, "mode": g.mode} for g in e.missed_groups])


def class_explain_summary(fake_features, real_features, real_labels, k: int = 5) -> dict:
    """:func:`explain_summary` for labelled real data (the digits benchmark): the classes
    play the modes, a class is missed when at least half of its real samples are uncovered,
    and each missed group is named by its most common class."""
    from modecover.explain import MISSED_MODE_SHARE, explain

    labels = np.asarray(real_labels)
    e = explain(real_features, fake_features, k=k)
    uncovered = ~e.real_covered
    classes = np.unique(labels)
    per_class = [int(uncovered[labels == c].sum()) for c in classes]
    real_per_class = [int((labels == c).sum()) for c in classes]
    missed = [int(c) for c, u, n in zip(classes, per_class, real_per_class) if u >= MISSED_MODE_SHARE * n]
    groups = [{"size": g.size, "mode": int(np.bincount(labels[g.members]).argmax())} for g in e.missed_groups]
    return _summary(e, k, missed, per_class, real_per_class, groups)


def _summary(e, k: int, missed: list, uncovered_per_mode: list, real_per_mode: list, groups: list) -> dict:
    return {"k": k, "n_real": int(len(e.real_covered)), "n_uncovered": int((~e.real_covered).sum()),
            "missed_modes": missed, "uncovered_per_mode": uncovered_per_mode, "real_per_mode": real_per_mode,
            "n_missed_groups": len(e.missed_groups), "missed_groups": groups[:EXPLAIN_GROUPS],
            "n_outside": int((~e.fake_inside).sum()), "n_off_manifold_groups": len(e.off_manifold_groups)}
