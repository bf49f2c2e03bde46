"""The benchmark protocols (docs/RESULTS.md) as lists of jobs.

Every job is a run config (the same ``data`` / ``model`` / ``methods`` / ``train``
sections as ``modecover train``) plus the evaluation it needs. Budgets are scaled to the
2-core CPU machine and said in ``docs/RESULTS.md``; ``--steps`` and ``--seeds`` change
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .harness import Job

# PacGAN paper, Table 1 (published, 400 epochs of 100k points): modes, HQ %, reverse KL. Labelled as published.
PUBLISHED_B1 = {
    ("ring", "GAN (published)"): {"modes": 6.3, "hq_percent": 98.2, "reverse_kl": 0.45},
    ("ring", "PacGAN4 (published)"): {"modes": 7.8, "hq_percent": 95.9, "reverse_kl": 0.07},
    ("grid", "GAN (published)"): {"modes": 17.3, "hq_percent": 94.8, "reverse_kl": 0.70},
    ("grid", "PacGAN4 (published)"): {"modes": 24.8, "hq_percent": 93.6, "reverse_kl": 0.04},
}

GAN_2D = {"family": "gan", "hidden": 128, "depth": 3, "latent_dim": 8}

# row -> (model overrides, methods)
B1_ROWS: dict[str, tuple[dict, list[dict]]] = {
    "GAN": ({}, []),
    "PacGAN2": ({"pack": 2}, []),
    "PacGAN4": ({"pack": 4}, []),
    "Top-k": ({}, [{"name": "topk"}]),
    "DPM": ({}, [{"name": "dpm"}]),
    "LDMD": ({}, [{"name": "ldmd"}]),
    "CFT+MR": ({}, [{"name": "cft"}, {"name": "mean_rescaling"}]),
    "DeLiGAN": ({}, [{"name": "deligan"}]),
    "DMPRA": ({}, [{"name": "dmpra"}]),
}

# VAE / flow / diffusion settings that learn the ring (docs/models.md; the VAE defaults
# beta=1, alpha=10 collapse the posterior on 2D points).
B2_FAMILIES = {
    "GAN": GAN_2D,
    "VAE": {"family": "vae", "beta": 0.1, "logcosh_alpha": 100.0},
    "Flow": {"family": "flow", "coupling_layers": 6, "hidden": 64},
    "Diffusion": {"family": "diffusion", "lr": 2e-3, "ema_decay": 0.99},
}


def family_model(family: str, dataset: str) -> dict:
    """The B2 model settings of ``family`` (gan, vae, flow, diffusion) on a 2D ``dataset``,
    with its converged recipe's changes, without the family key."""
    model = next(m for m in B2_FAMILIES.values() if m["family"] == family)
    model = {**model, **converged_budget(dataset, family=family).model}
    return {k: v for k, v in model.items() if k != "family"}


# The upper bound of re-weighting: the true rare-mode (rare-class) samples weighted to balance
# the modes (classes), from the same round on as DMPRA's weights.
ORACLE = {"name": "class_balance", "from_round": 1}

B2_VARIANTS: dict[str, list[dict]] = {
    "": [],
    " + DMPRA": [{"name": "dmpra"}],  # groups weighting, perception space (the defaults)
    " + DMPRA (data space)": [{"name": "dmpra", "space": "data"}],
    " + DMPRA (paper weights)": [{"name": "dmpra", "weights": {"weighting": "paper"}}],
    " + oracle": [ORACLE],
}

METRICS_2D = ["modes", "hq_percent", "reverse_kl", "minority_captured", "share_error",
              "precision", "recall", "density", "coverage"]


@dataclass(frozen=True)
class Budget:
    steps: int
    batch_size: int = 64
    n_train: int = 5_000  # not the protocol's 100k: DMPRA searches every round (docs/RESULTS.md)
    n_eval: int = 2500
    rounds: int = 5
    lr_decay: float = 0.0
    model: dict[str, Any] = field(default_factory=dict)  # model settings this data set's recipe changes


# Converged 2D budgets (docs/training.md, "Converged 2D recipe"), per model family and data
# set: each family's own HQ % plateaus by these steps at batch 256 with the learning rates
# decayed over the last half (a curve on a validation seed, benchmarks/bench_plateau.py).
CONVERGED_2D = {
    ("gan", "ring"): Budget(steps=12000, batch_size=256, lr_decay=0.5),
    # the non-saturating GAN keeps about 19 of the grid's 25 modes, the hinge loss 24.8 at
    # 20,000 steps (validation seeds; docs/training.md, "GAN, grid")
    ("gan", "grid"): Budget(steps=20000, batch_size=256, lr_decay=0.5, model={"loss": "hinge"}),
    # The VAE on the ring and the affine flow on the grid still gain a few HQ points past
    # these (the 60,000-step curves); the budget stops where the B2 suite stays affordable on
    # 2 cores (docs/training.md)
    ("vae", "ring"): Budget(steps=40000, batch_size=256, lr_decay=0.5),
    ("vae", "grid"): Budget(steps=60000, batch_size=256, lr_decay=0.5),
    # spline couplings reach the ring's plateau (94-95 % HQ) by 10,000 steps (validation seeds 100, 101)
    ("flow", "ring"): Budget(steps=10000, batch_size=256, lr_decay=0.5, model={"coupling": "spline"}),
    ("flow", "grid"): Budget(steps=40000, batch_size=256, lr_decay=0.5),
    ("diffusion", "ring"): Budget(steps=20000, batch_size=256, lr_decay=0.5),
    ("diffusion", "grid"): Budget(steps=20000, batch_size=256, lr_decay=0.5),
}


# B1 (the PacGAN protocol) trains the vanilla GAN, non-saturating, on both data sets: the
# GAN whose dropped modes its methods exist to recover. B2 trains each family's converged recipe.
B1_BUDGET = CONVERGED_2D["gan", "ring"]


def converged_budget(dataset: str, steps: int | None = None, family: str = "gan") -> Budget:
    """The converged budget of ``family`` on a 2D data set (``ring``, ``grid`` or their
    imbalanced variants), with ``steps`` overriding its step count."""
    budget = CONVERGED_2D[family, dataset.replace("-imbalanced", "")]
    return budget if steps is None else replace(budget, steps=steps)


def _spec(dataset: str, model: dict, methods: list[dict], budget: Budget, rounds: int) -> dict[str, Any]:
    return {
        "data": {"name": dataset, "n": budget.n_train},
        "model": {**model, **budget.model},
        "methods": [dict(m) for m in methods],
        "train": {"steps": budget.steps, "batch_size": budget.batch_size, "rounds": rounds,
                  "lr_decay": budget.lr_decay},
        "n_eval": budget.n_eval,
    }


def b1_jobs(seeds: int = 10, steps: int | None = None, datasets=("ring", "grid"),
            rows: dict[str, tuple[dict, list[dict]]] | None = None, seed_start: int = 0) -> list[Job]:
    """B1: balanced ring and grid (PacGAN protocol), every baseline and method row.

    Every row trains the vanilla GAN's budget (:data:`B1_BUDGET`) in ``rounds`` rounds
    (matched schedules: only the method differs). Seeds ``seed_start, seed_start + 1, ...``.
    """
    budget = B1_BUDGET if steps is None else replace(B1_BUDGET, steps=steps)
    jobs = []
    for dataset in datasets:
        for row, (overrides, methods) in (rows or B1_ROWS).items():
            spec = _spec(dataset, {**GAN_2D, **overrides}, methods, budget, budget.rounds)
            jobs += [Job("B1", dataset, row, seed, spec) for seed in range(seed_start, seed_start + seeds)]
    return jobs


def b1_combined_row(best_row: str) -> dict[str, tuple[dict, list[dict]]]:
    """The row 'DMPRA + <best of the others>' once B1 has chosen the best other row."""
    overrides, methods = B1_ROWS[best_row]
    return {f"DMPRA + {best_row}": (overrides, [*methods, {"name": "dmpra"}])}


def b2_jobs(seeds: int = 10, steps: int | None = None, datasets=("ring-imbalanced", "grid-imbalanced"),
            families: dict[str, dict] | None = None, seed_start: int = 0) -> list[Job]:
    """B2: imbalanced ring and grid, each family plain, with DMPRA (groups in the perception
    and in the data space, the paper's weights) and with the oracle weights.

    Every row of a family on a data set trains that family's converged budget in
    ``rounds`` rounds (the plain row is the same schedule without re-weighting). Seeds are
    ``seed_start, seed_start + 1, ...`` (validation seeds start at 100).
    """
    jobs = []
    for dataset in datasets:
        for family, model in (families or B2_FAMILIES).items():
            budget = converged_budget(dataset, steps, model["family"])
            for suffix, methods in B2_VARIANTS.items():
                spec = _spec(dataset, model, methods, budget, budget.rounds)
                jobs += [Job("B2", dataset, family + suffix, seed, spec)
                         for seed in range(seed_start, seed_start + seeds)]
    return jobs


def check_matched_schedules(jobs: list[Job]) -> None:
    """Refuse a suite whose rows of one model family on one data set train different
    schedules (steps, rounds, batch, learning-rate decay, training set size): such a
    comparison measures the schedule. Families may differ: each trains to its own plateau."""
    schedules: dict[tuple, dict[tuple, str]] = {}
    for job in jobs:
        key = (tuple(sorted(job.spec["train"].items())), job.spec["data"].get("n"))
        family = job.spec["model"]["family"]
        seen = schedules.setdefault((job.suite, job.dataset, family), {})
        seen.setdefault(key, job.row)
        if len(seen) > 1:
            rows = sorted(set(seen.values()))
            raise ValueError(f"{job.suite} {job.dataset} ({family}): rows {rows} train different schedules "
                             f"({[dict(k[0]) for k in seen]}); every row must train the same steps and rounds")


def row_order(jobs: list[Job]) -> list[str]:
    seen: dict[str, None] = {}
    for job in jobs:
        seen.setdefault(job.row, None)
    return list(seen)


# The models of configs/gan-digits.toml and configs/vae-digits.toml.
DCGAN_DIGITS = {"family": "gan", "arch": "dcgan", "latent_dim": 32, "base_channels": 32, "output": "tanh",
                "lr_g": 2e-4, "lr_d": 2e-4}
VAE_DIGITS = {"family": "vae", "latent_dim": 16, "channels": 32, "output_activation": "tanh"}
# DMPRA's default on images: the density detector over two views of the training images, PCA-50 and 4x4-cell
# orientation histograms (docs/dmpra.md, "Two views of the images"); the rows before it searched one space:
# the model's perception space (the default until then: the discriminator's features, the VAE's real-vs-generated
# classifier's) or the pixels (docs/dmpra.md, "Images").
# On images under 16 pixels a side the default searches the principal components alone
# (modecover.dmpra.views.image_views); B3's first rows of that default ran with the histograms too:
B3_VIEWS = {"name": "dmpra", "space": "data", "views": ["pca50", "hog4"]}
B3_ROWS: dict[str, tuple[dict, list[dict]]] = {
    "GAN": (DCGAN_DIGITS, []),
    "GAN + DMPRA": (DCGAN_DIGITS, [{"name": "dmpra"}]),
    "GAN + DMPRA (PCA-50 + HOG)": (DCGAN_DIGITS, [B3_VIEWS]),
    "GAN + DMPRA (discriminator space)": (DCGAN_DIGITS, [{"name": "dmpra", "space": "perception"}]),
    "GAN + DMPRA (data space)": (DCGAN_DIGITS, [{"name": "dmpra", "space": "data"}]),
    # the pixels' first 50 principal components alone: on MNIST's round-0 GANs (validation seeds 100-102) the
    # density detector gives the rare class 3.9-4.5x its share there, against 1.4-6.6x in the discriminator's
    # features (docs/dmpra.md, "The model's own view of what it misses, measured")
    "GAN + DMPRA (data space, PCA-50)": (DCGAN_DIGITS, [{"name": "dmpra", "space": "data", "components": 50}]),
    "GAN + oracle": (DCGAN_DIGITS, [ORACLE]),
    "VAE": (VAE_DIGITS, []),
    "VAE + DMPRA": (VAE_DIGITS, [{"name": "dmpra"}]),
    "VAE + DMPRA (PCA-50 + HOG)": (VAE_DIGITS, [B3_VIEWS]),
    "VAE + DMPRA (classifier space)": (VAE_DIGITS, [{"name": "dmpra", "space": "perception"}]),
    "VAE + oracle": (VAE_DIGITS, [ORACLE]),
}


def digits_model(family: str) -> dict:
    """The B3 model settings of ``family`` (gan, vae), without the family key."""
    model = next(m for m, _ in B3_ROWS.values() if m["family"] == family)
    return {k: v for k, v in model.items() if k != "family"}


# MaGNET (rho = 1) and polarity sampling (rho < 1: between the prior and MaGNET) from one pool
MAGNET_RHOS = (0.25, 0.5, 1.0)
METRICS_DIGITS = ["rare_share", "rare_recall", "share_error", "fid", "precision", "recall", "density", "coverage",
                  *(f"magnet_rho{rho:g}_{m}" for rho in MAGNET_RHOS
                    for m in ("rare_share", "fid", "precision", "recall"))]


# B3's budget (docs/training.md, "Converged digits recipe"): the DCGAN's and the conv VAE's
# judge FID and coverage flatten by these steps on the balanced digits (a validation seed).
CONVERGED_DIGITS = Budget(steps=16000, batch_size=64, n_eval=1000, lr_decay=0.5)


def b3_jobs(seeds: int = 5, budget: Budget = CONVERGED_DIGITS, rare_class: int = 3,
            fraction: float = 0.1, magnet_pool: int = 4000, seed_start: int = 0) -> list[Job]:
    """B3: digits with ``rare_class`` cut to ``fraction`` of its samples (about 1-2% of the
    set at 0.1); GAN and VAE plain, with DMPRA and with the oracle weights, all in
    ``budget.rounds`` rounds."""
    return _rare_class_jobs("B3", "digits", f"digits-rare{rare_class}", B3_ROWS, seeds, budget, rare_class, fraction,
                            magnet_pool, seed_start)


def _rare_class_jobs(suite: str, source: str, dataset: str, rows: dict, seeds: int, budget: Budget, rare_class: int,
                     fraction: float, magnet_pool: int, seed_start: int) -> list[Job]:
    """The jobs of B3 / B4: every row of ``rows`` on ``source`` with ``rare_class`` cut to
    ``fraction``, at one schedule, evaluated with MaGNET at :data:`MAGNET_RHOS`."""
    jobs = []
    for row, (model, methods) in rows.items():
        spec = _spec(source, model, methods, budget, budget.rounds)
        spec["data"] = {"name": source, "scale": "symmetric", "rare_classes": [rare_class], "fraction": fraction}
        spec["magnet_pool"], spec["magnet_rhos"] = magnet_pool, list(MAGNET_RHOS)
        jobs += [Job(suite, dataset, row, seed, spec) for seed in range(seed_start, seed_start + seeds)]
    return jobs


# B4: B3 on the 5,000 28x28 MNIST digits of data source mnist-5k, judged by an MNIST judge
# (modecover.bench.digits.train_mnist_judge). B3's rows with B3's model families grown to 28x28
# (the DCGAN from 7x7 feature maps, the VAE halving 28 twice) at half the width, so that a job
# costs minutes, not an hour, on 2 cores; the VAE's log-cosh is nearly quadratic (alpha 1): at
# B3's alpha 10 (about |r|) the decoder fits the median MNIST image, all background, and never
# leaves it (docs/training.md, "MNIST digits (B4)").
DCGAN_MNIST = {**DCGAN_DIGITS, "base_channels": 16}
VAE_MNIST = {**VAE_DIGITS, "channels": 16, "logcosh_alpha": 1.0}
B4_ROWS: dict[str, tuple[dict, list[dict]]] = {  # on 28x28 images the default is B3's "(PCA-50 + HOG)" rows
    row: (DCGAN_MNIST if model["family"] == "gan" else VAE_MNIST, methods) for row, (model, methods) in B3_ROWS.items()
    if B3_VIEWS not in methods}

# B4's budget (docs/training.md, "MNIST digits (B4)"): the DCGAN's judge coverage flattens by
# 12,000 steps with the decay over the last half (validation seed 100).
CONVERGED_MNIST = Budget(steps=12000, batch_size=64, n_eval=2000, lr_decay=0.5)


def mnist_model(family: str) -> dict:
    """The B4 model settings of ``family`` (gan, vae), without the family key."""
    model = next(m for m, _ in B4_ROWS.values() if m["family"] == family)
    return {k: v for k, v in model.items() if k != "family"}


def b4_jobs(seeds: int = 10, budget: Budget = CONVERGED_MNIST, rare_class: int = 3,
            fraction: float = 0.05, magnet_pool: int = 4000, seed_start: int = 0) -> list[Job]:
    """B4: the 5,000 MNIST digits of ``mnist-5k`` with ``rare_class`` cut to ``fraction`` of its
    500 (25 at 0.05, 0.55 % of the set); GAN and VAE plain, with DMPRA and with the oracle
    weights, all in ``budget.rounds`` rounds; metrics as B3's (:data:`METRICS_DIGITS`)."""
    return _rare_class_jobs("B4", "mnist-5k", f"mnist-rare{rare_class}", B4_ROWS, seeds, budget, rare_class, fraction,
                            magnet_pool, seed_start)
