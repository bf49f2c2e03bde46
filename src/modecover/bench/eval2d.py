"""Metrics of generated 2D points against a mixture with known modes (docs/metrics.md, "Mode metrics")."""

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
