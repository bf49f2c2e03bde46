"""MaGNET volume throughput: batched torch.func vs a per-sample autograd Jacobian loop.

Same DCGAN-sized generator (latent 64 -> 1x28x28, or --output 8x8; BatchNorm in eval mode), same latents.
Reports per-latent time of each (median of ``--repeats`` interleaved rounds, fastest beside
it), their ratio, and the largest relative difference of the volumes exp(log-volume)
(float32 Jacobians on both sides; the loop takes float64 singular values, modecover the
float64 QR diagonal when all singular values are kept).

    python benchmarks/bench_magnet.py [--latent-dim 64] [--n-ref 8] [--n 128] [--threads 1]
        [--output 28x28|8x8] [--repeats 3]
        [--batch-sizes 1 4 16]   # also time log_volumes at these batch sizes (latents per vmapped Jacobian)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from _machine import write_timings
from modecover.methods.magnet import log_volumes


def dcgan_generator(latent_dim: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(latent_dim, 128 * 7 * 7),
        nn.Unflatten(1, (128, 7, 7)),
        nn.BatchNorm2d(128),
        nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, 2, 1),  # 14x14
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1),  # 28x28
        nn.Tanh(),
    )


def digits_generator(latent_dim: int) -> nn.Module:
    """DCGAN for 8x8 digits: latent -> 128x2x2 -> 64x4x4 -> 1x8x8."""
    return nn.Sequential(
        nn.Linear(latent_dim, 128 * 2 * 2),
        nn.Unflatten(1, (128, 2, 2)),
        nn.BatchNorm2d(128),
        nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, 2, 1),  # 4x4
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1),  # 8x8
        nn.Tanh(),
    )


def reference(generator, latents, vectorize: bool) -> np.ndarray:
    out = []
    for z in latents:
        jac = torch.autograd.functional.jacobian(
            lambda v: generator(v.unsqueeze(0)).reshape(-1), z, vectorize=vectorize
        )
        out.append(torch.log(torch.linalg.svdvals(jac.double())).sum().item())
    return np.array(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--latent-dim", type=int, default=64)
    parser.add_argument("--output", choices=["28x28", "8x8"], default="28x28")
    parser.add_argument("--n-ref", type=int, default=8)
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = (dcgan_generator if args.output == "28x28" else digits_generator)(args.latent_dim).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        gen.train()(torch.randn(256, args.latent_dim))
        gen.eval()
    z = torch.randn(max(args.n, args.n_ref), args.latent_dim)

    log_volumes(gen, z[:4])  # warm-up
    t_ref, t_vec, t_ours = [], [], []
    t_batch = {b: [] for b in args.batch_sizes}
    for _ in range(args.repeats):  # interleaved rounds: the machine may be shared
        t0 = time.perf_counter()
        ref = reference(gen, z[: args.n_ref], vectorize=False)
        t_ref.append((time.perf_counter() - t0) / args.n_ref)
        t0 = time.perf_counter()
        ref_vec = reference(gen, z[: args.n_ref], vectorize=True)
        t_vec.append((time.perf_counter() - t0) / args.n_ref)
        t0 = time.perf_counter()
        ours = log_volumes(gen, z[: args.n])
        t_ours.append((time.perf_counter() - t0) / args.n)
        for b, times in t_batch.items():
            t0 = time.perf_counter()
            log_volumes(gen, z[: args.n], batch_size=b)
            times.append((time.perf_counter() - t0) / args.n)

    rel = np.max(np.abs(np.expm1(ours[: args.n_ref] - ref)))
    rel_vec = np.max(np.abs(np.expm1(ref_vec - ref)))
    med = {name: float(np.median(t)) for name, t in (("ref", t_ref), ("vec", t_vec), ("ours", t_ours))}
    print(f"generator: DCGAN latent {args.latent_dim} -> 1x{args.output}, threads={args.threads}, "
          f"median of {args.repeats} interleaved rounds (fastest in brackets)")
    print(f"reference autograd.functional.jacobian loop : {med['ref'] * 1e3:9.2f} ms/latent "
          f"({min(t_ref) * 1e3:.2f})  (n={args.n_ref})")
    print(f"reference loop, vectorize=True             : {med['vec'] * 1e3:9.2f} ms/latent "
          f"({min(t_vec) * 1e3:.2f})  (n={args.n_ref})")
    print(f"modecover log_volumes (vmap jacfwd)          : {med['ours'] * 1e3:9.2f} ms/latent "
          f"({min(t_ours) * 1e3:.2f})  (n={args.n})")
    print(f"speed-up vs loop: {med['ref'] / med['ours']:.1f}x (fastest {min(t_ref) / min(t_ours):.1f}x); "
          f"vs vectorized loop: {med['vec'] / med['ours']:.1f}x (fastest {min(t_vec) / min(t_ours):.1f}x)")
    for b, times in t_batch.items():
        print(f"  log_volumes, batch_size={b:<4d}: {np.median(times) * 1e3:9.2f} ms/latent ({min(times) * 1e3:.2f})")
    print(f"max relative volume difference vs loop: {rel:.2e} (vectorized loop vs loop: {rel_vec:.2e})")
    per_latent = {"reference_loop": t_ref, "reference_vectorized": t_vec, "log_volumes": t_ours,
                  "log_volumes_by_batch_size": t_batch}
    write_timings(f"bench_magnet_{args.output}", {"seconds_per_latent": per_latent,
                                                  "max_relative_volume_difference": float(rel)}, settings=vars(args))


if __name__ == "__main__":
    main()
