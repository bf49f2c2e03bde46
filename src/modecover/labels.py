"""Human names of the keys the report shows: the one mapping from a raw key (a metric,
a CSV column, a loss) to the label a reader sees. Tables show the label and keep the raw
key in a ``title=`` tooltip; figure titles use the label too.

Rounds are numbered 1..T everywhere on the page; :func:`round_number` turns the 0-based
index the trainer writes (``round0/``, ``log.csv``'s ``round`` column) into that number.
"""

from __future__ import annotations

LABELS: dict[str, str] = {
    # mode metrics (docs/metrics.md)
    "modes": "modes",
    "modes_captured": "modes",
    "n_modes": "modes in the data",
    "hq_percent": "HQ %",
    "reverse_kl": "reverse KL",
    "reverse_kl_to_weights": "reverse KL to the weights",
    "minority_captured": "minority modes",
    "share_error": "share error",
    "rare_share": "rare share",
    "rare_recall": "rare recall",
    # sample metrics
    "precision": "precision",
    "recall": "recall",
    "density": "density",
    "coverage": "coverage",
    "fid": "FID",
    "kid": "KID",
    "kid_std": "KID std",
    "kid_subset_size": "KID subset size",
    "is": "IS",
    "is_std": "IS std",
    "vendi": "Vendi (fake)",
    "vendi_real": "Vendi (real)",
    # DMPRA rounds and the audit
    "round": "round",
    "n_minority": "flagged minority",
    "n": "samples",
    "score": "score",
    "minority": "minority",
    "weight": "weight",
    "max_score": "max score",
    "max_weight": "max weight",
    "delta_bar": "δ̄ (mean score)",
    "group": "group",
    "size": "samples",
    "deficit": "density deficit",
    "outliers": "kind",
    "index": "index",
    "file": "file",
    # training logs
    "step": "step",
    "seconds": "seconds",
    "loss": "loss",
    "loss_d": "loss D",
    "loss_g": "loss G",
    "loss_g_total": "loss G (with plug-ins)",
    "d_real": "D(real)",
    "d_fake": "D(fake)",
    "nll": "NLL",
    "bits_per_dim": "bits/dim",
    "mse": "MSE",
    "reconstruction": "reconstruction",
    "kl": "KL",
    # benchmark tables
    "dataset": "data",
    "row": "row",
    "n_seeds": "seeds",
    "seed": "seed",
    "source": "source",
    "n_explained": "seeds explained",
    "missed_modes": "missed modes (seeds)",
    # what samples miss (modecover.explain.explain)
    "share": "share",
    "mode_or_class": "mode or class (share)",
    "medoid": "medoid",
}

# Metrics where a smaller value is better (the benchmark's "best row" picks the minimum).
LOWER_IS_BETTER = frozenset({"reverse_kl", "reverse_kl_to_weights", "share_error", "fid", "kid"})
MAGNET_PREFIX = "magnet_rho"  # B3's metrics of MaGNET / polarity samples: magnet_rho<rho>_<metric>


def _magnet_parts(key: str) -> tuple[str, str] | None:
    """(rho, metric) of a ``magnet_rho<rho>_<metric>`` key, else None."""
    if key.startswith(MAGNET_PREFIX) and "_" in key[len(MAGNET_PREFIX):]:
        rho, metric = key[len(MAGNET_PREFIX):].split("_", 1)
        return rho, metric
    return None


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of metric ``key`` is better (also for its MaGNET variants)."""
    parts = _magnet_parts(key)
    return (parts[1] if parts else key) in LOWER_IS_BETTER


def label(key: str) -> str:
    """The human label of ``key`` (``magnet_rho0.5_fid``: "MaGNET ρ=0.5 FID"; unknown keys:
    underscores become spaces)."""
    parts = _magnet_parts(key)
    if parts:
        return f"MaGNET ρ={parts[0]} {label(parts[1])}"
    return LABELS.get(key, key.replace("_", " "))


def round_number(index: int) -> int:
    """The 1-based round number of the trainer's 0-based round index."""
    return int(index) + 1
