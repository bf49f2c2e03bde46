"""FID on 2048-d features: modecover's symmetric eigenvalue route vs the scipy ``sqrtm``
formula of pytorch-fid, same statistics, same process.

Features: n rows per set of Gaussian noise pushed through a random mixing matrix with a
decaying spectrum (so the covariances are full rank but far from isotropic, like
Inception features), the fake set scaled and shifted. Both sets' statistics are computed
once (the same float64 mean and covariance feed both methods), then each distance is
timed ``--repeats`` times, interleaved; the table reports the median run of each (the
ratio of medians) with the fastest beside it.
The reference is ``pytorch_fid.fid_score.calculate_frechet_distance`` when pytorch-fid
imports (torchvision stubbed), else the same sqrtm formula written out here.

Part 2 (``--wide-n``, ``--wide-d``): wide features (d > n), ``fid(real, fake)`` through
the covariance form (d x d) and through the n x n Gram form, same features, interleaved.

    python benchmarks/bench_fid.py [--n 10000] [--d 2048] [--repeats 3] [--seed 0] [--threads N]
                                   [--wide-n 200] [--wide-d 3000] [--skip-wide]
"""

from __future__ import annotations

import argparse
import sys
import time
import types
import warnings

import numpy as np
import scipy.linalg
import torch

from _machine import write_timings
from modecover.metrics import feature_stats, fid, frechet_distance


def sqrtm_formula(mu1, sigma1, mu2, sigma2):
    """pytorch-fid's formula: tr sqrt(S1 S2) from scipy's general matrix square root."""
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def reference_function():
    """(name, callable): pytorch-fid's function if it imports, else :func:`sqrtm_formula`."""
    for name in ["torchvision", "torchvision.transforms", "torchvision.models", "torchvision.models.inception"]:
        sys.modules.setdefault(name, types.ModuleType(name))
    inception = sys.modules["torchvision.models.inception"]
    for cls in ("InceptionA", "InceptionC", "InceptionE"):
        setattr(inception, cls, getattr(inception, cls, torch.nn.Module))
    sys.modules["torchvision"].models = sys.modules["torchvision.models"]
    sys.modules["torchvision.models"].inception = inception
    try:
        from pytorch_fid.fid_score import calculate_frechet_distance
    except ImportError:
        return "scipy sqrtm formula (pytorch-fid not importable)", sqrtm_formula
    return "pytorch-fid calculate_frechet_distance (scipy sqrtm)", calculate_frechet_distance


def make_features(rng, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    spectrum = 1.0 / np.sqrt(1.0 + np.arange(d))  # decaying scales
    q_real, _ = np.linalg.qr(rng.normal(size=(d, d)))
    q_fake, _ = np.linalg.qr(q_real + 0.3 * rng.normal(size=(d, d)) / np.sqrt(d))
    real = (rng.normal(size=(n, d)) * spectrum) @ q_real.T
    fake = (rng.normal(size=(n, d)) * spectrum * 1.1 + 0.02) @ q_fake.T
    return real.astype(np.float32), fake.astype(np.float32)


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, float(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--wide-n", type=int, default=200)
    parser.add_argument("--wide-d", type=int, default=3000)
    parser.add_argument("--skip-wide", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")  # scipy's sqrtm deprecation / singularity notes

    real, fake = make_features(np.random.default_rng(args.seed), args.n, args.d)
    t_stats = time.perf_counter()
    mu1, s1 = feature_stats(real)
    mu2, s2 = feature_stats(fake)
    t_stats = time.perf_counter() - t_stats
    ref_name, reference = reference_function()

    ours, theirs = interleaved(args.repeats, (frechet_distance, reference), (mu1, s1, mu2, s2))
    print(f"FID from statistics, n = {args.n} per set, d = {args.d}, {torch.get_num_threads()} torch threads, "
          f"median of {args.repeats} interleaved runs (fastest beside it); "
          f"statistics of both sets (shared): {t_stats:.2f} s\n")
    table([(ref_name, theirs), ("modecover frechet_distance (Cholesky + eigvalsh, float64)", ours)])
    raw = {"statistics_s": t_stats, "reference": ref_name, "reference_runs_s_value": theirs,
           "modecover_runs_s_value": ours}
    if not args.skip_wide:
        real, fake = make_features(np.random.default_rng(args.seed + 1), args.wide_n, args.wide_d)
        cov, gram = interleaved(args.repeats, (lambda a, b: fid(a, b, route="covariance"),
                                               lambda a, b: fid(a, b, route="gram")), (real, fake))
        print(f"\nWide features: fid(real, fake), n = {args.wide_n} per set, d = {args.wide_d}, "
              f"median of {args.repeats} interleaved runs\n")
        table([("covariance form (d x d statistics)", cov), ("Gram form (n x n, no d x d matrix)", gram)])
        raw.update(wide_covariance_runs_s_value=cov, wide_gram_runs_s_value=gram)
    write_timings("bench_fid", raw, settings=vars(args))


def interleaved(repeats: int, fns, args) -> list[list[tuple[float, float]]]:
    """(seconds, value) of each function, ``repeats`` times, alternating between them."""
    runs = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, runs):
            out.append(timed(fn, *args))
    return runs


def table(rows) -> None:
    """Markdown table; the first row is the baseline of the speed-ups (ratio of medians)."""
    base_t = float(np.median([t for t, _ in rows[0][1]]))
    base_v = rows[0][1][0][1]
    print("| method | median (s) | fastest (s) | FID | speed-up (median) | speed-up (fastest) | relative difference |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    base_best = min(t for t, _ in rows[0][1])
    for name, runs in rows:
        times = [t for t, _ in runs]
        med, best, value = float(np.median(times)), min(times), runs[0][1]
        rel = abs(value - base_v) / abs(base_v)
        print(f"| {name} | {med:.3f} | {best:.3f} | {value:.9g} | {base_t / med:.1f}x | {base_best / best:.1f}x | "
              f"{rel:.1e} |")
    print("\nall timings (s): " + "; ".join(f"{name}: {[round(t, 3) for t, _ in runs]}" for name, runs in rows))


if __name__ == "__main__":
    main()
