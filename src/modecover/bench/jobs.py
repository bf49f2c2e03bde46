"""One benchmark job: build the run a spec describes, train it, evaluate it.

A spec holds the ``data`` / ``model`` / ``methods`` / ``train`` sections of a
``modecover train`` config (so any row can be re-run by hand from its result file) plus
``n_eval`` and, for digits, ``magnet_pool``. The harness adds ``seed`` and ``out_dir``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .harness import JobResult


def _train(spec: dict[str, Any]):
    from modecover.config import Run, parse_config

    seed = int(spec["seed"])
    raw = {"data": {**spec["data"], "seed": seed}, "model": spec["model"], "methods": spec["methods"],
           "train": {**spec["train"], "seed": seed, "sample_every": 0, "checkpoint_every": spec["train"]["steps"]}}
    config = parse_config(raw, f"benchmark job (seed {seed})")
    run = Run.from_config(config)
    run.train(Path(spec["out_dir"]) / f"seed{seed}", progress=False)
    return run


def run_2d_job(spec: dict[str, Any]) -> JobResult:
    """B1/B2: train on a 2D mixture; mode metrics and PRDC of ``n_eval`` samples, and (the
    record's ``explain`` key) which modes those samples miss, measured after the metrics
    from the same samples and real draw, so the metrics are what they were without it."""
    from modecover.evaluation.points import evaluate_points, explain_summary

    run = _train(spec)
    n_eval = int(spec["n_eval"])
    samples = run.model.sample(n_eval, run.hooks).detach().cpu().numpy()
    real, _ = run.data.mixture.sample(n_eval, seed=10_000 + int(spec["seed"]))
    metrics, _ = evaluate_points(samples, run.data.mixture, real)
    return JobResult(metrics, {"explain": explain_summary(samples, run.data.mixture, real)})


def run_digits_job(spec: dict[str, Any]) -> JobResult:
    """B3: train on imbalanced digits; the judge's class shares, PRDC and FID in its
    feature space against the balanced digits, for prior samples and for MaGNET / polarity
    samples at each rho of ``magnet_rhos`` (one pool of ``magnet_pool`` latents, metrics
    prefixed ``magnet_rho<rho>_``); and (the record's ``explain`` key) which classes the
    prior samples miss, after the metrics."""
    import torch

    from modecover.evaluation.points import class_explain_summary
    from modecover.methods.magnet import build_pool, resample
    from modecover.metrics.fid import fid
    from modecover.metrics.prdc import prdc
    from sklearn.datasets import load_digits

    from .digits import train_judge

    run = _train(spec)
    judge = train_judge(seed=0)
    digits = load_digits()
    real_feat = judge.features(digits.data / 16.0)
    rare = list(spec["data"].get("rare_classes", []))
    n_eval, seed = int(spec["n_eval"]), int(spec["seed"])
    samples = {"": run.model.sample(n_eval, run.hooks).detach().cpu().numpy()}
    latent = run.model.latent_generator()
    if latent is not None and spec.get("magnet_pool"):
        generator, latent_dim = latent
        pool = build_pool(generator, latent_dim, int(spec["magnet_pool"]), seed=seed)
        generator.eval()
        for rho in spec.get("magnet_rhos", [1.0]):
            z = torch.as_tensor(pool.latents[resample(pool, float(rho), n_eval, seed)], dtype=torch.float32)
            with torch.no_grad():
                samples[f"magnet_rho{rho:g}_"] = generator(z).cpu().numpy()
    metrics: dict[str, float] = {}
    features = {}
    for prefix, images in samples.items():
        feat = features[prefix] = judge.features(images)
        shares = judge.class_shares(images)
        metrics[prefix + "rare_share"] = float(shares[rare].sum()) if rare else float("nan")
        metrics[prefix + "share_error"] = float(np.abs(shares - 0.1).mean())
        metrics[prefix + "fid"] = fid(real_feat, feat)
        metrics.update({prefix + k: v for k, v in prdc(real_feat, feat).items()})
    return JobResult(metrics, {"explain": class_explain_summary(features[""], real_feat, digits.target)})
