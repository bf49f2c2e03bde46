"""DMPRA as a training plug-in: the round loop's search-evaluation-adjustment (DESIGN.md section 2).

The trainer runs T rounds. Round 0 trains without weights (``data_weights`` returns None
until a search has run, Algorithm 1's first pass). At the end of every round
(``on_round_end``):

1. **perception space**: the real training data as the current model perceives it
   (:func:`modecover.features.perception.perception_space`: a GAN's discriminator
   penultimate features; for other families a real-vs-generated classifier kept across
   rounds and fine-tuned each time);
2. **search**: :func:`modecover.dmpra.search` (extended neighbourhood sampling after LOCI,
   paper Eq. 4-5) flags the minor-group samples;
3. **evaluation**: :func:`modecover.dmpra.informative_weights` (Eq. 6-7, Algorithm 1
   line 12): 1 for main samples, delta_i for minor ones (or delta-bar for all of them
   with ``informative=False``, the paper's ablation);
4. **adjustment**: the next round's sampler draws training samples with probability
   proportional to these weights (``data_weights``), continuing from the current model.

Every round writes to its ``out_dir`` (when the trainer gives one):
``dmpra_scores.csv`` (index, score, radius, cv, minority, weight, censored),
``dmpra_scores.npz`` (the same columns as arrays, plus ``proj``, the 2D projection),
``dmpra_perception.png`` (the projection with minority samples marked, unless
``plot=False``) and ``dmpra_summary.json`` (the search summary, delta-bar, weight range).
The summary scalars are also logged (``logging``), kept in :attr:`DMPRA.history` and
returned by ``on_round_end``. Under ``torch.distributed`` every rank searches, and the
weights of rank 0 are broadcast so that all ranks draw with the same weights.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from modecover.features.perception import PerceptionClassifier, PerceptionClassifierConfig, perception_space
from modecover.plugins import Plugin

log = logging.getLogger(__name__)

SCORES_CSV = "dmpra_scores.csv"
SCORES_NPZ = "dmpra_scores.npz"
PERCEPTION_PNG = "dmpra_perception.png"
SUMMARY_JSON = "dmpra_summary.json"
ROUND_COLUMNS = ("score", "radius", "cv", "minority", "weight", "censored")


@dataclass
class DMPRAConfig:
    """Search settings (:class:`modecover.dmpra.SearchConfig`), weighting and outputs."""

    alpha: float = 0.5  # n(p, alpha r) counting radius as a fraction of the sampling radius r
    n_min: int = 20  # smallest neighbourhood size of the radius ladder
    k_sigma: float = 3.0  # minority when the score exceeds k_sigma
    two_sided: bool = False  # |n - n_hat| > k_sigma sigma_hat (the paper's literal reading)
    max_neighbors: int | None = None  # cap of the ladder (None: the search's default)
    informative: bool = True  # False: every minority sample gets delta-bar (ablation)
    plot: bool = True  # write the per-round projection PNG
    feature_batch: int = 1024  # batch size of feature extraction and sampling
    classifier: PerceptionClassifierConfig = field(default_factory=PerceptionClassifierConfig)

    def __post_init__(self):
        if isinstance(self.classifier, dict):
            known = {f.name for f in fields(PerceptionClassifierConfig)}
            unknown = sorted(set(self.classifier) - known)
            if unknown:
                raise ValueError(f"DMPRA classifier: unknown key(s) {unknown}; known keys: {sorted(known)}")
            self.classifier = PerceptionClassifierConfig(**self.classifier)
        if not isinstance(self.classifier, PerceptionClassifierConfig):
            raise ValueError(f"DMPRA classifier must be a PerceptionClassifierConfig or a dict, got {self.classifier!r}")
        if isinstance(self.feature_batch, bool) or not isinstance(self.feature_batch, (int, np.integer)) \
                or self.feature_batch < 1:
            raise ValueError(f"DMPRA feature_batch must be a positive integer, got {self.feature_batch!r}")
        self.search_config()  # the search validates its own fields

    def search_config(self):
        """The :class:`modecover.dmpra.SearchConfig` of these settings."""
        from modecover.dmpra import SearchConfig

        return SearchConfig(alpha=self.alpha, n_min=self.n_min, k_sigma=self.k_sigma,
                            two_sided=self.two_sided, max_neighbors=self.max_neighbors)


class DMPRA(Plugin):
    """Re-weights the training data between rounds by DMPRA's search and informative weights."""

    name = "dmpra"

    def __init__(self, config: DMPRAConfig | None = None, **kwargs):
        self.config = config or DMPRAConfig(**kwargs)
        self.weights: Tensor | None = None  # float64 (n,), None until the first search
        self.rounds_searched = 0
        self.classifier: PerceptionClassifier | None = None  # non-GAN families only
        self.history: list[dict[str, Any]] = []  # one summary per search

    @property
    def flag_counts(self) -> list[int]:
        """How many samples each search so far flagged (one entry per round end)."""
        return [int(h["n_minority"]) for h in self.history]

    def data_weights(self, n: int) -> Tensor | None:
        if self.weights is None:
            return None
        if n != self.weights.shape[0]:
            raise ValueError(
                f"DMPRA weights were computed for {self.weights.shape[0]} training samples "
                f"but the data set has {n}"
            )
        return self.weights

    def on_round_end(self, model, data: Tensor, round_index: int, out_dir=None) -> dict[str, Any]:
        """Perception space -> search -> weights for the next round; write the round's files."""
        from modecover.dmpra import delta_bar, informative_weights, search

        data = torch.as_tensor(data)
        if self.classifier is None:  # fitted only if the model has no perception features (not a GAN)
            self.classifier = PerceptionClassifier(tuple(data.shape[1:]), self.config.classifier)
        features = perception_space(model, data, self.classifier, batch_size=self.config.feature_batch)
        result = search(features, self.config.search_config())
        weights = np.asarray(informative_weights(result, informative=self.config.informative), dtype=np.float64)
        _check_weights(weights, len(data))
        summary = round_summary(result, weights, delta_bar(result), round_index)
        self.weights = same_on_every_rank(torch.from_numpy(weights))
        self.rounds_searched += 1
        self.history.append(summary)
        log.info("DMPRA round %d: %d of %d samples flagged, delta_bar=%.4g, max weight %.4g",
                 round_index, summary["n_minority"], summary["n"], summary["delta_bar"], summary["max_weight"])
        if out_dir is not None:
            write_round(Path(out_dir), result, weights, features, summary, plot=self.config.plot)
        return summary

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"rounds_searched": self.rounds_searched, "history": json.dumps(self.history)}
        if self.weights is not None:
            state["weights"] = self.weights.clone()
        if self.classifier is not None and self.classifier.fits > 0:
            state.update({f"classifier.{k}": v for k, v in self.classifier.checkpoint_state().items()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        known = {"rounds_searched", "history", "weights"}
        unknown = sorted(k for k in state if k not in known and not k.startswith("classifier."))
        if unknown or "rounds_searched" not in state:
            raise ValueError(f"DMPRA state: unexpected keys {unknown} or missing 'rounds_searched' (keys {sorted(state)})")
        weights = state.get("weights")
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64).clone()
        if self.weights is not None:
            _check_weights(self.weights.numpy(), self.weights.shape[0])
        self.rounds_searched = int(state["rounds_searched"])
        self.history = json.loads(state.get("history", "[]"))
        classifier_state = {k[len("classifier."):]: v for k, v in state.items() if k.startswith("classifier.")}
        self.classifier = PerceptionClassifier.from_checkpoint_state(classifier_state) if classifier_state else None


def same_on_every_rank(weights: Tensor) -> Tensor:
    """Under ``torch.distributed``, rank 0's weights on every rank (a broadcast), else ``weights``.

    The distributed sampler splits one global draw across ranks, so every rank must draw
    with the same weights; a non-GAN family's perception classifier sees each rank's own
    generated samples and could otherwise give slightly different ones.
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return weights
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    buffer = weights.to(device).contiguous()
    dist.broadcast(buffer, src=0)
    return buffer.cpu()


def _check_weights(weights: np.ndarray, n: int) -> None:
    if weights.shape != (n,):
        raise ValueError(f"DMPRA weights have shape {weights.shape}, expected ({n},)")
    if not np.isfinite(weights).all() or (weights < 0).any() or not weights.sum() > 0:
        bad = weights[~np.isfinite(weights) | (weights < 0)][:5]
        raise ValueError(f"DMPRA weights must be finite, non-negative and not all zero; got e.g. {bad.tolist()}")


def round_summary(result, weights: np.ndarray, delta: float, round_index: int) -> dict[str, Any]:
    """Plain-JSON scalars of one search: the search's own summary plus weight statistics."""
    from modecover.dmpra.audit import json_safe

    minority = np.asarray(result.minority, dtype=bool)
    summary = {
        "round": int(round_index),
        "n": int(minority.size),
        "n_minority": int(minority.sum()),
        "n_censored": int(np.asarray(result.censored, dtype=bool).sum()),
        "delta_bar": float(delta),
        "max_weight": float(weights.max()),
        "mean_minority_weight": float(weights[minority].mean()) if minority.any() else None,
    }
    summary["search"] = json_safe(result.summary())
    return summary


def write_round(out_dir: Path, result, weights: np.ndarray, features: np.ndarray, summary: dict, *,
                plot: bool = True) -> dict[str, Path]:
    """Write one round's CSV, NPZ, summary JSON and (``plot``) projection PNG; return their paths."""
    from modecover.dmpra.audit import project_2d, score_columns, write_csv
    from modecover.report.plots import perception_projection

    out_dir.mkdir(parents=True, exist_ok=True)
    columns = score_columns(result, weights)
    proj = project_2d(features)
    paths = {"csv": out_dir / SCORES_CSV, "npz": out_dir / SCORES_NPZ, "summary": out_dir / SUMMARY_JSON}
    write_csv(paths["csv"], "index", np.arange(len(weights)), {k: columns[k] for k in ROUND_COLUMNS})
    np.savez_compressed(paths["npz"], index=np.arange(len(weights), dtype=np.int64),
                        proj=proj.astype(np.float32), **columns)
    paths["summary"].write_text(json.dumps(summary, indent=1))
    if plot:
        paths["png"] = perception_projection(
            proj, columns["minority"].astype(bool), out_dir / PERCEPTION_PNG,
            f"perception space{' (PCA)' if features.shape[1] > 2 else ''}, round {summary['round']}: "
            f"{summary['n_minority']} of {summary['n']} minority",
        )
    return paths


__all__ = ["DMPRA", "DMPRAConfig", "round_summary", "same_on_every_rank", "write_round"]
