"""``modecover sample CHECKPOINT -n N --out samples.npy``: draw samples from a trained model,
from the prior or with MaGNET / polarity sampling (docs/methods.md)."""

from __future__ import annotations

import math
from pathlib import Path

import click


def pool_path_for(out: Path) -> Path:
    """Where the MaGNET pool of ``out`` lives: ``samples.npy`` -> ``samples.pool.npz``."""
    return out.with_name(out.stem + ".pool.npz")


MAGNET_OPTIONS = {"rho": "--rho", "pool_size": "--pool", "prior_correction": "--c", "top_k": "--top-k",
                  "projection_dim": "--projection-dim"}  # parameter -> flag


def _finite(ctx, param, value: float) -> float:
    """Refuse NaN and infinities when the options are parsed, before any file is written."""
    if not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}")
    return value


@click.command("sample")
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-n", "n", required=True, type=click.IntRange(min=1), help="Number of samples.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output .npy file.")
@click.option("--sampler", type=click.Choice(["prior", "magnet"]), default="prior", show_default=True,
              help="prior: the model's own sampling; magnet: resample a latent pool by Jacobian volume.")
@click.option("--rho", type=float, default=1.0, show_default=True, callback=_finite,
              help="Polarity: 1 = MaGNET (uniform on the manifold), < 0 favours modes, > 0 sparse regions.")
@click.option("--pool", "pool_size", type=click.IntRange(min=1), default=None,
              help="Latent pool size for --sampler magnet (default max(10 n, 1000)).")
@click.option("--c", "prior_correction", type=float, default=0.0, show_default=True, callback=_finite,
              help="Prior correction c of the resampling weights (1 = exactly uniform, heavy-tailed).")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Singular values kept in the log-volume.")
@click.option("--projection-dim", type=click.IntRange(min=1), default=None,
              help="Random orthonormal projection of large outputs before the Jacobian.")
@click.option("--seed", type=int, default=0, show_default=True)
def command(checkpoint: Path, n: int, out: Path, sampler: str, rho: float, pool_size: int | None,
            prior_correction: float, top_k: int | None, projection_dim: int | None, seed: int) -> None:
    """Draw N samples from CHECKPOINT (written by `modecover train`) into --out (.npy).

    With --sampler magnet the pool's latents and log-volumes are saved beside the output
    (samples.pool.npz) and reused on the next call for the same generator, pool size,
    --top-k, --projection-dim and --seed, so sampling again with another --rho is instant.
    The MaGNET options (--rho, --pool, --c, --top-k, --projection-dim) are refused without
    --sampler magnet.
    """
    import numpy as np
    import torch

    from modecover.checkpoint import CheckpointError, load_checkpoint
    from modecover.methods.registry import sampling_hooks

    context = click.get_current_context()
    given = [flag for name, flag in MAGNET_OPTIONS.items()
             if context.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
    if sampler != "magnet" and given:
        raise click.UsageError(f"{', '.join(given)}: MaGNET option(s), used only with --sampler magnet")
    if out.suffix != ".npy":
        raise click.ClickException(f"--out must end in .npy, got {out}")
    try:
        ckpt = load_checkpoint(checkpoint)
        hooks = sampling_hooks(ckpt)
        model = ckpt.model.eval()
        if sampler == "prior":
            torch.manual_seed(seed)
            samples = model.sample(n, hooks)
        else:
            samples, pool_file = _magnet(ckpt, hooks, n, rho, prior_correction, pool_size or max(10 * n, 1000),
                                         top_k, projection_dim, seed, pool_path_for(out))
    except (CheckpointError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, samples.detach().cpu().numpy())
    click.echo(f"wrote {n} samples to {out}")
    if sampler == "magnet":
        click.echo(f"latent pool and log-volumes: {pool_file}")


def _magnet(ckpt, hooks, n, rho, c, pool_size, top_k, projection_dim, seed, pool_file: Path):
    """MaGNET over z -> G(latents hooks(z)); the pool is cached in ``pool_file`` (magnet_sample)."""
    from modecover.methods.magnet import magnet_sample

    generator = ckpt.model.latent_generator()
    if generator is None:
        raise ValueError(
            f"--sampler magnet needs a model with a latent generator (GAN, VAE decoder, flow); "
            f"the '{ckpt.family}' model of {ckpt.path} has none"
        )
    network, latent_dim = generator

    def g(z):
        return network(hooks.latents(z, latent_dim))

    samples, _, _ = magnet_sample(g, n, latent_dim=hooks.prior_dim(latent_dim), pool_size=pool_size, rho=rho, c=c,
                                  seed=seed, pool_path=pool_file, top_k=top_k, projection_dim=projection_dim)
    return samples, pool_file
