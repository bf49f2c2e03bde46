"""Does the model's own view of what it misses point at B4's rare class? Round 0 of the plain GAN.

DMPRA's first search runs on the model after round 0 (2,400 of B4's 12,000 steps, no
weights yet). On B4's validation data (MNIST-5k with class 3 cut to 25 images, data seeds
100-102) this script trains the plain GAN of ``modecover bench B4`` through round 0 into
``RUNS/seed<k>`` (or reads what an earlier run left there), then scores every real training
image in the ways below and asks how well each ranks the 25 rare images (ROC AUC) and what share of
the weight they get when the score is turned into weights as the density detector does
(``clip(exp(gamma (s - s_q)), 1, 50)``, smoothed over 5 neighbours, ``q`` = 0.9, gamma = 1):

- ``density``: the density detector at its defaults (how sparse the image's surroundings
  are among the real images), in the discriminator's features (what DMPRA searches),
  in pixels and in the pixels' first 50 principal components;
- ``d_logit``: the discriminator's logit on the image, its estimate of log p_data / p_model,
  at the end of round 0; and as the Self-Diagnosing GAN tracks it, over the round: its mean
  (``d_logit_round_mean``), its standard deviation (``d_logit_round_std``) and their sum
  over the 20 snapshots taken every 120 steps of the round;
- ``knn_ratio``: a k-NN estimate of log p_data / p_model at the image, d_i log(r_model / r_data)
  with r the distance to the 10th nearest generated (as many as real) and the 10th nearest
  other real image and d_i the local dimension of the density detector, in the same three
  spaces;
- ``coverage_gap``: per-image coverage by the model's own samples, as ``modecover.explain``
  measures it (k = 5, as PRDC's coverage): log(distance to the nearest generated image /
  the image's 5-NN radius among the real ones), positive where no generated image falls
  inside the image's ball (uncovered), in the same three spaces.

    .venv/bin/python benchmarks/dmpra_miss_signals.py --runs runs/b4-round0 --out results/dmpra-images

writes ``miss_signals_per_seed.csv`` and ``miss_signals_summary.md`` (both printed too), with
the share of 3s the MNIST judge finds among the round-0 model's samples.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from _rows import write_rows
from modecover.bench.digits import judge_for
from modecover.bench.jobs import job_config
from modecover.bench.suites import CONVERGED_MNIST, b4_jobs
from modecover.checkpoint import load_checkpoint
from modecover.config import Run
from modecover.dmpra.density import DensityConfig, density_weights, local_dimension
from modecover.explain import explain
from modecover.neighbors import knn

K, DIM_NEIGHBORS, SMOOTH, QUANTILE, GAMMA, W_MAX = 10, 20, 5, 0.9, 1.0, 50.0


SNAPSHOT_EVERY = 120  # steps between the discriminator's logits on every real image during round 0


class _StopAfterRound0(Exception):
    pass


def train_round0(runs: Path, seed: int) -> tuple[Path, np.ndarray]:
    """B4's plain GAN trained through round 0 into ``runs/seed<seed>``: its ``round0.ckpt`` and
    the discriminator's logits on every real training image every :data:`SNAPSHOT_EVERY`
    steps of the round, (snapshots, n) (``round0_logits.npy``); both are read when there."""
    folder = runs / f"seed{seed}"
    path, logits_path = folder / "round0.ckpt", folder / "round0_logits.npy"
    if path.exists() and logits_path.exists():
        return path, np.load(logits_path)
    job = next(j for j in b4_jobs(seeds=1, seed_start=seed) if j.row == "GAN")
    run = Run.from_config(job_config({**job.spec, "seed": seed}))
    stop = CONVERGED_MNIST.steps // CONVERGED_MNIST.rounds
    snapshots = []

    def on_step(done: int) -> None:
        if done > stop:  # round 0 and its checkpoint are written before step stop + 1 is reported
            raise _StopAfterRound0
        if done % SNAPSHOT_EVERY == 0:
            run.model.eval()
            snapshots.append(in_batches(run.model.discriminate, run.data.x))
            run.model.train()

    try:
        run.train(folder, progress=False, on_step=on_step)
    except _StopAfterRound0:
        pass
    np.save(logits_path, np.stack(snapshots))
    return path, np.stack(snapshots)


def in_batches(fn, x: torch.Tensor, size: int = 1000) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([fn(x[i:i + size]) for i in range(0, len(x), size)]).double().numpy()


def as_weights(score: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """The density detector's steps 4-5 on any score: smoothed over ``SMOOTH`` neighbours, then exp-clipped."""
    smoothed = np.concatenate([score[:, None], score[neighbours[:, :SMOOTH]]], axis=1).mean(axis=1)
    return np.clip(np.exp(GAMMA * (smoothed - np.quantile(smoothed, QUANTILE))), 1.0, W_MAX)


def knn_log_ratio(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d_i log(r_model,K / r_data,K) per real sample, and the real samples' neighbour indices."""
    dist, idx = knn(real, None, k=DIM_NEIGHBORS)
    dim = np.median(local_dimension(dist, DIM_NEIGHBORS)[idx[:, :DIM_NEIGHBORS // 2]], axis=1)
    to_fake, _ = knn(real, fake, K)
    return dim * np.log(to_fake[:, K - 1] / dist[:, K - 1]), idx


def measure(seed: int, path: Path, logits: np.ndarray) -> list[dict]:
    job = next(j for j in b4_jobs(seeds=1, seed_start=seed) if j.row == "GAN")
    data = Run.from_config(job_config({**job.spec, "seed": seed})).data
    rare = np.isin(data.labels.numpy(), job.spec["data"]["rare_classes"])
    model = load_checkpoint(path).model.eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        fakes = model.sample(len(data.x))
    pixels, fake_pixels = data.x.reshape(len(rare), -1).double().numpy(), fakes.reshape(len(rare), -1).double().numpy()
    pca = PCA(50, random_state=0).fit(pixels)
    spaces = {"discriminator": (in_batches(model.perception_features, data.x),
                                in_batches(model.perception_features, fakes)),
              "pixels": (pixels, fake_pixels), "pca50": (pca.transform(pixels), pca.transform(fake_pixels))}
    shares = judge_for("mnist-5k").class_shares(fakes.numpy())  # the round-0 model's share of each class
    model_rare_share = float(shares[job.spec["data"]["rare_classes"]].sum())
    rows = []

    def row(signal: str, space: str, score: np.ndarray, weights: np.ndarray) -> None:
        rows.append({"seed": seed, "signal": signal, "space": space, "score_auc": roc_auc_score(rare, score),
                     "rare_ratio": weights[rare].sum() / weights.sum() / rare.mean(),
                     "common_mean": weights[~rare].mean(), "data_rare_share": rare.mean(),
                     "model_rare_share": model_rare_share})

    for space, (real, fake) in spaces.items():
        result = density_weights(real, DensityConfig())
        row("density", space, result.score, result.weights)
        log_ratio, neighbours = knn_log_ratio(real, fake)
        row("knn_ratio", space, log_ratio, as_weights(log_ratio, neighbours))
        coverage = explain(real, fake, k=5)
        gap = np.log(coverage.real_nearest_fake / coverage.real_radius)
        row("coverage_gap", space, gap, as_weights(gap, neighbours))
        if space == "discriminator":
            logit = in_batches(model.discriminate, data.x)
            row("d_logit", space, logit, as_weights(logit, neighbours))
            mean, spread = logits.mean(axis=0), logits.std(axis=0)  # over the round's snapshots
            row("d_logit_round_mean", space, mean, as_weights(mean, neighbours))
            row("d_logit_round_std", space, spread, as_weights(spread, neighbours))
            row("d_logit_round_mean_plus_std", space, mean + spread, as_weights(mean + spread, neighbours))
    return rows


def signal_table(rows: list[dict]) -> list[str]:
    """The summary's Markdown table: per signal and space, its score's ROC AUC, the rare ratio
    and the common mean weight, one number per seed."""
    lines = ["| signal | space | score ROC AUC per seed | rare ratio per seed | common mean weight per seed |",
             "|---|---|---|---|---|"]
    for key in dict.fromkeys((r["signal"], r["space"]) for r in rows):
        group = [r for r in rows if (r["signal"], r["space"]) == key]
        cells = (", ".join(f"{r[column]:.2f}" for r in group) for column in ("score_auc", "rare_ratio", "common_mean"))
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    return lines


def round0_arguments(description: str, argv=None) -> argparse.Namespace:
    """The command line of the round-0 miss-signal scripts (--runs, --out, --seeds), torch on one thread."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=Path, required=True, help="round-0 checkpoints (read, or trained here)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[100, 101, 102])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    return args


def main(argv=None) -> None:
    args = round0_arguments(__doc__.split("\n\n")[0], argv)
    rows = [r for seed in args.seeds for r in measure(seed, *train_round0(args.runs, seed))]
    write_rows(args.out / "miss_signals_per_seed.csv", rows)
    lines = signal_table(rows)
    per_seed = (r for r in rows if (r["signal"], r["space"]) == ("density", "pixels"))
    lines.append("\nThe judge's share of 3s among the round-0 model's samples, per seed: "
                 + ", ".join(f"{r['model_rare_share']:.4f}" for r in per_seed)
                 + f" (in the training images: {rows[0]['data_rare_share']:.4f})")
    (args.out / "miss_signals_summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
