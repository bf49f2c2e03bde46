"""Does the VAE's own view of what it misses point at B4's rare class? Round 0 of the plain VAE.

The companion of ``dmpra_miss_signals.py`` (the GAN's): on B4's validation data (MNIST-5k with
class 3 cut to 25 images, data seeds 100-102) this script trains the plain VAE of
``modecover bench B4`` through round 0 (2,400 of B4's 12,000 steps, no weights yet) into
``RUNS/seed<k>`` (or reads the ``round0.ckpt`` an earlier run left there), draws as many VAE
samples as there are training images, then scores every real training image in the ways
below and asks how well each ranks the 25 rare images (ROC AUC) and what share of the weight
they get:

- ``classifier_ratio``: the density ratio of a real-vs-generated classifier (Choi et al.,
  ICML 2020, "Fair generative modeling via weak supervision"): c(x) the classifier's
  probability that x is real, r(x) = c(x) / (1 - c(x)) ~ p_data(x) / p_model(x), scored as
  log r(x), the classifier's logit. The classifier is the library's
  :class:`~modecover.dmpra.perception.PerceptionClassifier` at its default config, fitted on
  the training images against the VAE samples as ``perception_space`` fits it (what DMPRA
  searched for a VAE before the two views were the image default). As weights either
  ``as_weights(log r)`` over 5 neighbours in the classifier's features, as the GAN script
  weighs the discriminator's logit (``classifier_ratio``), or Choi's self-normalised
  r / mean(r) clipped at 20 (``classifier_ratio_choi``; the same score, so the same AUC);
- ``density``: the density detector at its defaults in the classifier's penultimate features
  (space ``classifier``, the earlier default's search for a VAE), in pixels and in the
  pixels' first 50 principal components, and over DMPRA's default views of images
  (``pca50+hog4``: ``views_density_weights`` at its defaults, the library's image default);
- ``neg_elbo``: the VAE's own per-image loss, its bound on -log p_model(x) (log-cosh
  reconstruction + beta KL, ``VAE.per_sample_loss``), averaged over :data:`ELBO_DRAWS`
  posterior draws; high where the VAE fits an image badly; weighted with ``as_weights`` over
  5 neighbours in pixels;
- ``knn_ratio``: the k-NN estimate of log p_data / p_model of the GAN script, in the
  classifier's features, pixels and PCA-50.

    nice -n 5 .venv/bin/python benchmarks/dmpra_vae_miss_signals.py --runs /work/vae-round0 --out results/dmpra-images

writes ``vae_miss_signals_per_seed.csv`` and ``vae_miss_signals_summary.md`` (the summary
printed too), with the classifier's accuracy (real vs generated, on what it was fitted on) and
the share of 3s the MNIST judge finds among the round-0 VAE's samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from _rows import write_rows
from dmpra_miss_signals import as_weights, in_batches, knn_log_ratio, round0_arguments, signal_table
from modecover.bench.digits import judge_for
from modecover.bench.jobs import job_config
from modecover.bench.suites import b4_jobs
from modecover.checkpoint import load_checkpoint
from modecover.config import Run
from modecover.dmpra.density import DensityConfig, density_weights
from modecover.dmpra.perception import PerceptionClassifier, generate
from modecover.dmpra.views import compute_views, views_density_weights

ROW = "VAE"  # B4's plain VAE
VIEWS = ["pca50", "hog4"]  # DMPRA's default views of MNIST-sized images
CHOI_W_MAX = 20.0  # Choi's self-normalised weights are clipped here
ELBO_DRAWS = 8  # posterior draws averaged in each image's negative ELBO


class _StopAfterRound0(Exception):
    pass


def job_spec(seed: int) -> dict:
    """The job spec of B4's plain VAE on data seed ``seed``."""
    job = next(j for j in b4_jobs(seeds=1, seed_start=seed) if j.row == ROW)
    return {**job.spec, "seed": seed}


def train_round0(runs: Path, seed: int) -> Path:
    """B4's plain VAE trained through round 0 into ``runs/seed<seed>``: its ``round0.ckpt``
    (read when there)."""
    folder = runs / f"seed{seed}"
    path = folder / "round0.ckpt"
    if path.exists():
        return path
    spec = job_spec(seed)
    run = Run.from_config(job_config(spec))
    stop = spec["train"]["steps"] // spec["train"]["rounds"]

    def on_step(done: int) -> None:
        if done > stop:  # round 0 and its checkpoint are written before step stop + 1 is reported
            raise _StopAfterRound0

    try:
        run.train(folder, progress=False, on_step=on_step)
    except _StopAfterRound0:
        pass
    return path


def classifier_log_ratio(classifier: PerceptionClassifier, x: torch.Tensor) -> np.ndarray:
    """log r(x) = log c(x) / (1 - c(x)) per sample, c the classifier's softmax probability of
    "real" (class 1): the difference of its two logits, [real] - [generated]."""
    classifier.eval()
    logits = in_batches(lambda batch: classifier(batch.float()), x)
    return logits[:, 1] - logits[:, 0]


def choi_weights(log_ratio: np.ndarray, w_max: float = CHOI_W_MAX) -> np.ndarray:
    """Choi et al.'s self-normalised importance weights r / mean(r), clipped at ``w_max``
    (computed from log r without overflow)."""
    log_ratio = np.asarray(log_ratio, dtype=np.float64)
    return np.minimum(np.exp(log_ratio - (logsumexp(log_ratio) - np.log(len(log_ratio)))), w_max)


def neg_elbo(model, x: torch.Tensor, draws: int = ELBO_DRAWS) -> np.ndarray:
    """The VAE's per-image loss (its negative ELBO, ``VAE.per_sample_loss``), averaged over
    ``draws`` reparametrised posterior draws."""
    return np.mean([in_batches(lambda batch: model.per_sample_loss(batch)[0], x) for _ in range(draws)], axis=0)


def classifier_space(model, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, PerceptionClassifier, np.ndarray]:
    """As ``perception_space(model, x)`` after ``torch.manual_seed(seed)``: ``len(x)`` model
    samples, a default classifier fitted on ``x`` against them, its penultimate features of ``x``;
    the samples and the classifier are returned too."""
    torch.manual_seed(seed)
    fakes = generate(model, len(x))
    classifier = PerceptionClassifier(tuple(x.shape[1:]))
    classifier.fit(x, fakes)
    return fakes, classifier, classifier.features(x)


def measure(seed: int, path: Path) -> list[dict]:
    spec = job_spec(seed)
    data = Run.from_config(job_config(spec)).data
    rare_classes = spec["data"]["rare_classes"]
    rare = np.isin(data.labels.numpy(), rare_classes)
    model = load_checkpoint(path).model.eval()
    fakes, classifier, features = classifier_space(model, data.x, seed)
    accuracy = float(((classifier.predict(data.x) == 1).sum() + (classifier.predict(fakes) == 0).sum())
                     / (2 * len(data.x)))
    pixels, fake_pixels = data.x.reshape(len(rare), -1).double().numpy(), fakes.reshape(len(rare), -1).double().numpy()
    pca = PCA(50, random_state=0).fit(pixels)
    spaces = {"classifier": (features, classifier.features(fakes)), "pixels": (pixels, fake_pixels),
              "pca50": (pca.transform(pixels), pca.transform(fake_pixels))}
    model_rare_share = float(judge_for(spec["data"]["name"]).class_shares(fakes.numpy())[rare_classes].sum())
    rows = []

    def row(signal: str, space: str, score: np.ndarray, weights: np.ndarray) -> None:
        rows.append({"seed": seed, "signal": signal, "space": space, "score_auc": roc_auc_score(rare, score),
                     "rare_ratio": weights[rare].sum() / weights.sum() / rare.mean(),
                     "common_mean": weights[~rare].mean(), "data_rare_share": rare.mean(),
                     "model_rare_share": model_rare_share, "classifier_accuracy": accuracy})

    log_r = classifier_log_ratio(classifier, data.x)
    for space, (real, fake) in spaces.items():
        result = density_weights(real, DensityConfig())
        row("density", space, result.score, result.weights)
        log_ratio, neighbours = knn_log_ratio(real, fake)
        row("knn_ratio", space, log_ratio, as_weights(log_ratio, neighbours))
        if space == "classifier":
            row("classifier_ratio", space, log_r, as_weights(log_r, neighbours))
            row("classifier_ratio_choi", space, log_r, choi_weights(log_r))
        if space == "pixels":
            torch.manual_seed(seed)  # the posterior draws
            loss = neg_elbo(model, data.x)
            row("neg_elbo", space, loss, as_weights(loss, neighbours))
    views = views_density_weights(compute_views(data.x, VIEWS)[0], names=VIEWS)
    row("density", "+".join(VIEWS), views.score, views.weights)
    return rows


def main(argv=None) -> None:
    args = round0_arguments(__doc__.split("\n\n")[0], argv)
    rows = [r for seed in args.seeds for r in measure(seed, train_round0(args.runs, seed))]
    write_rows(args.out / "vae_miss_signals_per_seed.csv", rows)
    lines = signal_table(rows)
    per_seed = [r for r in rows if (r["signal"], r["space"]) == ("density", "pixels")]
    lines.append("\nThe judge's share of 3s among the round-0 VAE's samples, per seed: "
                 + ", ".join(f"{r['model_rare_share']:.4f}" for r in per_seed)
                 + f" (in the training images: {rows[0]['data_rare_share']:.4f}); the real-vs-generated "
                 "classifier's accuracy on what it was fitted on: "
                 + ", ".join(f"{r['classifier_accuracy']:.3f}" for r in per_seed))
    (args.out / "vae_miss_signals_summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
