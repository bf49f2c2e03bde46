"""One benchmark job: build the run a spec describes, train it, evaluate it.

A spec holds the ``data`` / ``model`` / ``methods`` / ``train`` sections of a
``modecover train`` config (so any row can be re-run by hand from its result file) plus
``n_eval`` and, for digits (8x8 or MNIST's 28x28), ``magnet_pool``. The harness adds ``seed``
and ``out_dir``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from .harness import JobResult


def job_config(spec: dict[str, Any]):
    """The ``modecover train`` config a job spec describes (``ConfigError`` names a bad key or value)."""
    from modecover.config import parse_config

    seed = int(spec.get("seed", 0))
    raw = {"data": {**spec["data"], "seed": seed}, "model": spec["model"], "methods": spec["methods"],
           "train": {**spec["train"], "seed": seed, "sample_every": 0, "checkpoint_every": spec["train"]["steps"]}}
    return parse_config(raw, f"benchmark job (seed {seed})")


def _build(spec: dict[str, Any]):
    """The run a job spec describes (seeded as ``modecover train`` seeds it)."""
    from modecover.config import Run

    return Run.from_config(job_config(spec))


def _train(spec: dict[str, Any]):
    """The job's run, trained; a job stopped before its result was written (a killed
    suite, a failed evaluation) continues from its folder's last checkpoint, and one whose
    training had finished is only evaluated (the same final state and generators, so the
    same metrics as in one go)."""
    run = _build(spec)
    run.train(Path(spec["out_dir"]) / f"seed{int(spec['seed'])}", resume=True, progress=False)
    return run


def _evaluate_2d(run, spec: dict[str, Any]) -> JobResult:
    from modecover.evaluation.points import evaluate_points, explain_summary

    n_eval = int(spec["n_eval"])
    samples = run.model.sample(n_eval, run.hooks).detach().cpu().numpy()
    real, _ = run.data.mixture.sample(n_eval, seed=10_000 + int(spec["seed"]))
    metrics, _ = evaluate_points(samples, run.data.mixture, real)
    return JobResult(metrics, {"explain": explain_summary(samples, run.data.mixture, real)})


def run_2d_job(spec: dict[str, Any]) -> JobResult:
    """B1/B2: train on a 2D mixture; mode metrics and PRDC of ``n_eval`` samples, and (the
    record's ``explain`` key) which modes those samples miss, measured after the metrics
    from the same samples and real draw, so the metrics are what they were without it."""
    return _evaluate_2d(_train(spec), spec)


def ensemble_key(spec: dict[str, Any]) -> str | None:
    """Jobs with one key train as one ensemble (:func:`run_2d_jobs`): specs that differ only
    in their seed, of runs :func:`modecover.ensemble.ensemble_refusal` accepts (plain MLP
    GANs); None: the job trains alone."""
    key = json.dumps({k: v for k, v in spec.items() if k not in ("seed", "out_dir")}, sort_keys=True)
    return key if _batchable(key) else None


@functools.lru_cache(maxsize=None)
def _batchable(key: str) -> bool:
    from modecover.ensemble import ensemble_refusal

    run = _build({**json.loads(key), "seed": 0})
    return ensemble_refusal(run.model, run.hooks, run.config.train) is None


def run_2d_jobs(specs: list[dict[str, Any]]) -> list[JobResult]:
    """Jobs of one :func:`ensemble_key` trained as one ensemble (:mod:`modecover.ensemble`),
    each evaluated as :func:`run_2d_job` evaluates it, from the RNG state its separate run
    would have after training. The record's ``ensemble`` key says how many trained together."""
    import torch

    from modecover.ensemble import train_ensemble
    from modecover.train import seed_everything

    runs = [_build(spec) for spec in specs]
    states = train_ensemble(runs)
    results = []
    for spec, run, state in zip(specs, runs, states):
        seed_everything(int(spec["seed"]))  # Python's and NumPy's generators as train() leaves them
        torch.set_rng_state(state)  # torch's as the member's separate run leaves it
        result = _evaluate_2d(run, spec)
        results.append(JobResult(result.metrics, {**result.extra, "ensemble": len(specs)}))
    return results


def class_recall(real_feat: np.ndarray, fake_feat: np.ndarray, members: np.ndarray, k: int = 5) -> float:
    """The share of the real samples ``members`` (a mask) that some fake covers: a fake closer
    than the real's distance to its k-th nearest real (coverage's balls, prdc's strict ``<``).
    NaN without members."""
    from modecover.neighbors import knn, kth_distances

    if not members.any():
        return float("nan")
    radius = kth_distances(real_feat, k)[members]
    nearest_fake, _ = knn(real_feat[members], fake_feat, 1)
    return float((nearest_fake[:, 0] < radius).mean())


def run_digits_job(spec: dict[str, Any]) -> JobResult:
    """B3 and B4: train on imbalanced digits (data source ``digits`` or ``mnist-5k``); the
    judge of that source (:func:`modecover.bench.digits.judge_for`): its class shares, the
    rare classes' recall, PRDC and FID in its feature space against the balanced set, for
    prior samples and for MaGNET / polarity samples at each rho of ``magnet_rhos`` (one
    pool of ``magnet_pool`` latents, metrics prefixed ``magnet_rho<rho>_``); and in the
    record, which classes the prior samples miss (``explain``, after the metrics) and the
    judge's held-out accuracy (``judge_accuracy``)."""
    import torch

    from modecover.evaluation.points import class_explain_summary
    from modecover.methods.magnet import build_pool, resample
    from modecover.metrics.fid import fid
    from modecover.metrics.prdc import prdc

    from .digits import judge_for, reference_set

    source = spec["data"]["name"]
    run = _train(spec)
    judge = judge_for(source)
    real, real_labels = reference_set(source)
    real_feat = judge.features(real)
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
        metrics[prefix + "rare_recall"] = class_recall(real_feat, feat, np.isin(real_labels, rare))
        metrics[prefix + "share_error"] = float(np.abs(shares - 0.1).mean())
        metrics[prefix + "fid"] = fid(real_feat, feat)
        metrics.update({prefix + k: v for k, v in prdc(real_feat, feat).items()})
    return JobResult(metrics, {"explain": class_explain_summary(features[""], real_feat, real_labels),
                               "judge_accuracy": judge.test_accuracy})
