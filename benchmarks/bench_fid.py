"""FID on 2048-d features: modecover's symmetric eigenvalue route vs the scipy ``sqrtm``
formula of pytorch-fid, same statistics, same process.

Features: n rows per set of Gaussian noise pushed through a random mixing matrix with a
decaying spectrum (so the covariances are full rank but far from isotropic, like
Inception features), the fake set scaled and shifted. Both sets' statistics are computed
once (the same float64 mean and covariance feed both methods), then each distance is
timed ``--repeats`` times, interleaved; the table reports the fastest run of each.
The reference is ``pytorch_fid.fid_score.calculate_frechet_distance`` when pytorch-fid
imports (torchvision stubbed), else the same sqrtm formula written out here.

    python benchmarks/bench_fid.py [--n 10000] [--d 2048] [--repeats 3] [--seed 0] [--threads N]
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

from modecover.metrics import feature_stats, frechet_distance


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

    ours, theirs = [], []
    for _ in range(args.repeats):
        ours.append(timed(frechet_distance, mu1, s1, mu2, s2))
        theirs.append(timed(reference, mu1, s1, mu2, s2))
    t_ours, v_ours = min(ours)
    t_ref, v_ref = min(theirs)
    rel = abs(v_ours - v_ref) / abs(v_ref)

    print(f"FID from statistics, n = {args.n} per set, d = {args.d}, {torch.get_num_threads()} torch threads, "
          f"fastest of {args.repeats}; statistics of both sets (shared): {t_stats:.2f} s\n")
    print("| method | time (s) | FID | speed-up | relative difference |")
    print("|---|---:|---:|---:|---:|")
    print(f"| {ref_name} | {t_ref:.3f} | {v_ref:.9g} | 1.0x | — |")
    print(f"| modecover frechet_distance (Cholesky + eigvalsh, float64) | {t_ours:.3f} | {v_ours:.9g} | "
          f"{t_ref / t_ours:.1f}x | {rel:.1e} |")
    print(f"\nall timings (s): modecover {[round(t, 3) for t, _ in ours]}, reference {[round(t, 3) for t, _ in theirs]}")


if __name__ == "__main__":
    main()
