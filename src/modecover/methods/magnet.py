"""MaGNET and polarity sampling (docs/methods.md; Humayun et al. 2022, MaGNET).

A generator G: R^d -> R^D maps a latent z to an output x. Near z it stretches volume by
the product of the singular values of its Jacobian J = dG/dz, so the density it gives
the learned manifold is p(z) / vol(z). MaGNET draws a pool of latents from the prior
and resamples it with probability proportional to

    exp(rho * log vol(z) - c * log p(z)),       log vol(z) = sum_{k <= top_k} log sigma_k(J)

rho = 1 is MaGNET, any other rho is polarity sampling (rho < 0 favours modes, rho > 0
the sparse regions). c = 0 is the authors' code; c = 1 makes the samples exactly
uniform on the manifold (weights vol/p(z), which are heavy-tailed when vol does not
decay as fast as p). Everything is kept in log space (logsumexp), in float64.

Jacobians are batched with ``torch.func``: ``vmap`` over ``jacfwd`` (one jvp per latent
direction) when d is the smaller side, ``vmap`` over ``jacrev`` (one vjp per output
coordinate) otherwise. For large outputs, ``projection_dim=p`` replaces G by P.G with P
a fixed random p x D matrix with orthonormal rows; this bounds the cost by p and gives a
(seeded, reproducible) approximation of the volume.

Handling of degenerate volumes (documented contract):

* a zero singular value gives log vol = -inf, i.e. weight 0 under rho > 0; under rho < 0
  it would give infinite weight and :func:`resample` raises ``ValueError`` (use
  ``top_k`` below the rank, or drop those latents);
* a NaN/inf anywhere in the Jacobian raises ``ValueError`` naming the latent; weights
  are never NaN.

Hidden randomness: a generator that draws noise inside ``forward`` (noise inputs,
dropout in train mode) has stochastic volumes. :func:`log_volumes` calls it twice on the
same latents and warns; ``fixed_noise=True`` evaluates every batch under one fixed torch
seed, so the noise is the same for all latents and all Jacobian columns. Modules are
always evaluated in ``eval()`` mode (restored afterwards).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import jacfwd, jacrev, vmap

from modecover._checks import positive_int, real_in_range

from .jacobian_copy import jacobian_copy

Generator = Callable[[Tensor], Tensor]

__all__ = [
    "LatentPool",
    "log_volumes",
    "log_prior",
    "build_pool",
    "resample",
    "resampling_log_weights",
    "magnet_sample",
]


def log_prior(latents: Tensor | np.ndarray) -> np.ndarray:
    """log N(z; 0, I) per latent, float64 (the prior correction term of section 6)."""
    z = np.asarray(latents.detach().cpu() if isinstance(latents, Tensor) else latents, dtype=np.float64)
    z = z.reshape(z.shape[0], -1)
    return -0.5 * np.sum(z * z, axis=1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


def _orthonormal_projection(out_dim: int, p: int, seed: int, dtype, device) -> Tensor:
    """A p x D matrix with orthonormal rows (QR of a seeded Gaussian)."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(out_dim, p, generator=gen, dtype=torch.float64))
    return q.T.contiguous().to(dtype=dtype, device=device)


class _EvalMode:
    """Put an nn.Module in eval mode for the duration of a block, restore afterwards."""

    def __init__(self, generator):
        self.module = generator if isinstance(generator, nn.Module) else None

    def __enter__(self):
        if self.module is not None:
            self.was_training = self.module.training
            self.module.eval()

    def __exit__(self, *exc):
        if self.module is not None:
            self.module.train(self.was_training)


def _warn_if_stochastic(generator: Generator, latents: Tensor) -> bool:
    probe = latents[: min(4, latents.shape[0])]
    with torch.no_grad():
        a, b = generator(probe), generator(probe)
    if a.shape != b.shape or not torch.allclose(a, b, rtol=0.0, atol=0.0, equal_nan=True):
        warnings.warn(
            "generator output changes between two calls on the same latents (hidden "
            "randomness, e.g. noise inputs): Jacobian volumes become stochastic; pass "
            "fixed_noise=True to evaluate every latent under one fixed noise draw",
            RuntimeWarning,
            stacklevel=3,
        )
        return True
    return False


def log_volumes(
    generator: Generator,
    latents: Tensor,
    *,
    top_k: int | None = None,
    projection_dim: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    fixed_noise: bool = False,
    check_noise: bool = True,
) -> np.ndarray:
    """Log-volume sum_{k<=top_k} log sigma_k(dG/dz) of the generator at each latent.

    ``generator`` maps a batch (B, d) to outputs (B, ...), flattened to D values per
    latent (a GAN generator, a VAE decoder, a flow's inverse). ``top_k`` keeps the
    largest singular values (default: all min(d, D)); ``projection_dim`` uses P.G with P
    random orthonormal rows (seeded by ``seed``). ``batch_size`` latents go through one
    vmapped Jacobian (default: :func:`_default_batch_size`). Returns float64 (n,); -inf
    where a kept singular value is exactly zero.
    """
    latents = _checked_latents(latents)
    top_k, projection_dim, batch_size = (_count_or_none(v, name) for v, name in (
        (top_k, "top_k"), (projection_dim, "projection_dim"), (batch_size, "batch_size")))
    with _EvalMode(generator):
        generator = jacobian_copy(generator, latents[:2])  # same function, cheaper tangents
        probe, largest = _probe(generator, latents[:1])
        projection = _projection(int(probe[0].numel()), projection_dim, seed, probe)
        d, rows = latents.shape[1], int(probe[0].numel()) if projection is None else projection_dim
        rank = min(d, rows)
        if top_k is not None and top_k > rank:
            raise ValueError(
                f"top_k={top_k} exceeds the Jacobian's rank bound min(latent_dim={d}, outputs={rows}) = {rank}"
            )
        if check_noise and not fixed_noise:
            _warn_if_stochastic(generator, latents)
        batched = _batched_jacobian(generator, projection, d <= rows, fixed_noise)
        batch_size = batch_size or _default_batch_size(rank, largest, probe.device)
        out = []
        for start in range(0, latents.shape[0], batch_size):
            chunk = latents[start : start + batch_size].to(probe.device, probe.dtype)
            with torch.no_grad(), torch.random.fork_rng(devices=[] if probe.device.type == "cpu" else [probe.device]):
                if fixed_noise:
                    torch.manual_seed(seed)
                jacobians = batched(chunk)
            out.append(_log_volume_from_jacobians(jacobians, top_k, start))
    return np.concatenate(out)


def _probe(generator: Generator, latent: Tensor) -> tuple[Tensor, int]:
    """The generator's output at one latent, and the size of the largest tensor any module
    returns on the way (the output's size when no ``nn.Module`` runs)."""
    sizes = []

    def record(module, args, output):
        if isinstance(output, Tensor):
            sizes.append(output.numel())

    handle = nn.modules.module.register_module_forward_hook(record)
    try:
        with torch.no_grad():
            probe = generator(latent)
    finally:
        handle.remove()
    return probe, max([probe.numel(), *sizes])


_CPU_TANGENT_FLOATS = 2**21


def _default_batch_size(columns: int, largest: int, device: torch.device) -> int:
    """Latents per vmapped Jacobian. On the CPU, as many as keep the largest batched tangent
    (latents x Jacobian columns x the largest activation) within 2**21 floats, 8 MB, so the
    tangents stay in cache: 2 latents for the 28x28 DCGAN (twice as fast as 16), 64 for
    the 8x8 one (docs/methods.md, "MaGNET volume throughput"). Elsewhere about 1024
    Jacobian columns per batch."""
    if device.type == "cpu":
        return max(1, _CPU_TANGENT_FLOATS // (columns * largest))
    return max(1, 1024 // columns)


def _count_or_none(value, name: str) -> int | None:
    """None, or ``value`` as an int if it is an integer >= 1 (numpy's too, not a bool); else a ``ValueError``."""
    return None if value is None else positive_int(value, name)


def _checked_latents(latents) -> Tensor:
    """``latents`` as a tensor; ``ValueError`` naming the argument for bad latents."""
    if not isinstance(latents, Tensor):
        latents = torch.as_tensor(latents)
    if latents.ndim != 2 or latents.shape[0] == 0:
        raise ValueError(f"latents: expected a 2-D tensor (n, latent_dim) with n >= 1, "
                         f"got shape {tuple(latents.shape)}")
    if not torch.isfinite(latents).all():
        raise ValueError("latents: contain NaN or infinite values")
    return latents


def _projection(out_dim: int, projection_dim: int | None, seed: int, probe: Tensor) -> Tensor | None:
    """P (projection_dim, out_dim) with random orthonormal rows, or None without a projection."""
    if projection_dim is None:
        return None
    if projection_dim > out_dim:
        raise ValueError(f"projection_dim={projection_dim} exceeds the generator's output size {out_dim}")
    return _orthonormal_projection(out_dim, projection_dim, seed, probe.dtype, probe.device)


def _batched_jacobian(generator: Generator, projection: Tensor | None, forward: bool, fixed_noise: bool):
    """A function of a latent batch (B, d) giving the Jacobians of the (projected) flattened
    generator output at each latent: forward mode when ``forward`` (d <= outputs), else reverse."""

    def single(z: Tensor) -> Tensor:
        x = generator(z.unsqueeze(0)).reshape(-1)
        return x if projection is None else projection @ x

    jac = jacfwd(single, randomness="same") if forward else jacrev(single)
    return vmap(jac, randomness="same" if fixed_noise else "different")


def _log_volume_from_jacobians(jacobians: Tensor, top_k: int | None, offset: int) -> np.ndarray:
    jacobians = jacobians.detach().to(torch.float64)
    finite = torch.isfinite(jacobians).flatten(1).all(dim=1)
    if not finite.all():
        bad = int(torch.nonzero(~finite)[0]) + offset
        raise ValueError(f"the generator's Jacobian at latent {bad} holds NaN or infinite values")
    if top_k is None or top_k == min(jacobians.shape[-2:]):
        sigma = _abs_r_diagonal(jacobians)  # their product is the product of all singular values
    else:
        sigma = torch.linalg.svdvals(jacobians)[:, :top_k]  # descending, (B, rank)
    with np.errstate(divide="ignore"):
        return np.log(sigma.cpu().numpy()).sum(axis=1)


def _abs_r_diagonal(jacobians: Tensor) -> Tensor:
    """|R_ii| of the QR factorisation of each Jacobian (its transpose if wide): for J (or J^T)
    = QR with m >= n, prod |R_ii| = |det R| = sqrt(det(J^T J)) = prod sigma_i(J). Householder
    QR is backward stable, so this is as accurate as the singular values, at about half the
    cost of ``svdvals``; an exactly zero column gives R_ii = 0 (log volume -inf)."""
    tall = jacobians if jacobians.shape[-2] >= jacobians.shape[-1] else jacobians.mT
    return torch.linalg.qr(tall, mode="r").R.diagonal(dim1=-2, dim2=-1).abs()


@dataclass
class LatentPool:
    """Latents drawn from the prior with their log-volumes and log-prior (float64).

    Saved as an .npz so that resampling with another rho or c is instant.
    """

    latents: np.ndarray  # (N, d)
    log_volumes: np.ndarray  # (N,)
    log_prior: np.ndarray  # (N,)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n = self.latents.shape[0]
        if self.log_volumes.shape != (n,) or self.log_prior.shape != (n,):
            raise ValueError(
                f"LatentPool: latents has {n} rows but log_volumes has shape {self.log_volumes.shape} "
                f"and log_prior {self.log_prior.shape}"
            )
        if np.isnan(self.log_volumes).any():
            raise ValueError("LatentPool: log_volumes holds NaN")

    def __len__(self) -> int:
        return self.latents.shape[0]

    def save(self, path: str | Path) -> None:
        if Path(path).suffix != ".npz":
            raise ValueError(f"MaGNET pool path must end in .npz, got {path}")
        meta = {f"meta_{k}": np.asarray(-1 if v is None else v) for k, v in self.meta.items()}
        np.savez(path, latents=self.latents, log_volumes=self.log_volumes, log_prior=self.log_prior, **meta)

    @classmethod
    def load(cls, path: str | Path) -> "LatentPool":
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"MaGNET pool file not found: {path}")
        with np.load(path) as data:
            missing = {"latents", "log_volumes", "log_prior"} - set(data.files)
            if missing:
                raise ValueError(f"{path}: not a MaGNET pool, missing keys {sorted(missing)}")
            meta = {k[5:]: data[k].item() for k in data.files if k.startswith("meta_")}
            return cls(data["latents"], data["log_volumes"], data["log_prior"], meta)


def build_pool(
    generator: Generator,
    latent_dim: int,
    pool_size: int,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    **volume_options,
) -> LatentPool:
    """Draw ``pool_size`` latents from N(0, I) (seeded) and compute their log-volumes."""
    pool_size, latent_dim = positive_int(pool_size, "pool_size"), positive_int(latent_dim, "latent_dim")
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(pool_size, latent_dim, generator=gen).to(device)
    volumes = log_volumes(generator, z, seed=seed, **volume_options)
    meta = {"top_k": volume_options.get("top_k"), "projection_dim": volume_options.get("projection_dim"), "seed": seed}
    return LatentPool(z.cpu().numpy().astype(np.float64), volumes, log_prior(z), meta)


def _check_finite(**values) -> None:
    for name, value in values.items():
        real_in_range(value, name)


def resampling_log_weights(pool: LatentPool, rho: float = 1.0, c: float = 0.0) -> np.ndarray:
    """Normalised log-probabilities rho*logvol - c*log p(z) - logsumexp(...) (float64)."""
    _check_finite(rho=rho, c=c)
    zero = np.isneginf(pool.log_volumes)
    if rho < 0 and zero.any():
        raise ValueError(
            f"rho={rho} < 0 gives infinite weight to the {int(zero.sum())} latent(s) with a zero "
            "singular value (log-volume -inf); use top_k below the Jacobian's rank"
        )
    scores = (rho * np.where(zero, 0.0, pool.log_volumes) if rho != 0 else np.zeros(len(pool))) - c * pool.log_prior
    if rho > 0:
        scores = np.where(zero, -np.inf, scores)
    if not np.isfinite(scores).any():
        raise ValueError("every latent of the pool has weight 0 (all log-volumes are -inf)")
    top = scores[np.isfinite(scores)].max()
    log_norm = top + np.log(np.sum(np.exp(scores - top)))
    return scores - log_norm


def resample(
    pool: LatentPool, rho: float, n: int, seed: int = 0, *, c: float = 0.0, replace: bool = True
) -> np.ndarray:
    """Indices of ``n`` pool latents drawn with probability ∝ exp(rho*logvol - c*log p(z))."""
    n = positive_int(n, "n")
    probs = np.exp(resampling_log_weights(pool, rho, c))
    probs /= probs.sum()
    if not replace and n > np.count_nonzero(probs):
        raise ValueError(
            f"cannot draw n={n} latents without replacement from a pool with {np.count_nonzero(probs)} "
            "latents of non-zero weight; use replace=True or a larger pool_size"
        )
    return np.random.default_rng(seed).choice(len(pool), size=n, replace=replace, p=probs)


_VOLUME_OPTIONS = ("top_k", "projection_dim", "batch_size", "fixed_noise", "check_noise")


def magnet_sample(
    generator: Generator,
    n: int,
    *,
    latent_dim: int,
    pool_size: int,
    rho: float = 1.0,
    c: float = 0.0,
    replace: bool = True,
    seed: int = 0,
    device: str | torch.device = "cpu",
    pool_path: str | Path | None = None,
    **volume_options,
) -> tuple[Tensor, Tensor, LatentPool]:
    """Draw ``n`` samples with MaGNET (rho = 1) or polarity (any rho) sampling.

    Builds a pool of ``pool_size`` prior latents, resamples it, and returns
    ``(samples, latents, pool)``. ``volume_options`` go to :func:`log_volumes`.

    ``pool_path`` (.npz) caches the pool. A pool found there is reused only when it was
    built for this generator (a digest of its outputs at fixed latents) with the same
    ``latent_dim``, ``pool_size``, ``seed``, ``top_k``, ``projection_dim`` and
    ``fixed_noise``; otherwise it is rebuilt and the file overwritten. ``rho``, ``c`` and
    ``replace`` only resample, so one pool serves them all. A file there that is not a
    MaGNET pool is an error.
    """
    n, latent_dim, pool_size = (positive_int(v, name) for v, name in
                                ((n, "n"), (latent_dim, "latent_dim"), (pool_size, "pool_size")))
    _check_finite(rho=rho, c=c)
    unknown = sorted(set(volume_options) - set(_VOLUME_OPTIONS))
    if unknown:
        raise ValueError(f"unknown volume option(s) {unknown}; log_volumes takes {list(_VOLUME_OPTIONS)}")
    for name in ("top_k", "projection_dim", "batch_size"):
        _count_or_none(volume_options.get(name), name)
    settings = {"generator": _generator_digest(generator, latent_dim, device), "latent_dim": latent_dim,
                "pool_size": pool_size, "seed": seed, "top_k": volume_options.get("top_k"),
                "projection_dim": volume_options.get("projection_dim"),
                "fixed_noise": bool(volume_options.get("fixed_noise", False))}
    pool = LatentPool.load(pool_path) if pool_path is not None and Path(pool_path).is_file() else None
    if pool is None or len(pool) != pool_size or any(
            pool.meta.get(k) != (-1 if v is None else v) for k, v in settings.items()):
        pool = build_pool(generator, latent_dim, pool_size, seed=seed, device=device, **volume_options)
        pool.meta.update(settings)
        if pool_path is not None:
            Path(pool_path).parent.mkdir(parents=True, exist_ok=True)
            pool.save(pool_path)
    idx = resample(pool, rho, n, seed, c=c, replace=replace)
    z = torch.as_tensor(pool.latents[idx], dtype=torch.float32, device=device)
    with _EvalMode(generator), torch.no_grad():
        samples = generator(z)
    return samples, z, pool


def _generator_digest(generator: Generator, latent_dim: int, device) -> str:
    """A digest of the generator's outputs at 4 fixed latents (under a fixed torch seed, in
    eval mode): what tells a pool built for another generator apart. It is the generator's
    first call, so a ``latent_dim`` it does not take is reported here."""
    device = torch.device(device)
    z = torch.randn(4, latent_dim, generator=torch.Generator().manual_seed(0)).to(device)
    with _EvalMode(generator), torch.no_grad(), torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        torch.manual_seed(0)
        try:
            x = torch.as_tensor(generator(z))
        except RuntimeError as err:
            raise ValueError(
                f"latent_dim={latent_dim}: the generator fails on latents of shape {tuple(z.shape)}; "
                f"is latent_dim its input size? ({err})"
            ) from err
    return hashlib.sha256(x.detach().cpu().double().contiguous().numpy().tobytes()).hexdigest()[:16]
