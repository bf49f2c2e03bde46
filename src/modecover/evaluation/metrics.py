"""The metrics of an evaluation: precision, recall, density, coverage, FID, KID, IS, Vendi
and the 2D mode metrics of two loaded sets, as one flat JSON-able dict (docs/metrics.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modecover.evaluation.inputs import Loaded

__all__ = ["MIXTURE_CHOICES", "MetricOptions", "check_inputs", "compute_metrics", "mode_results"]

MIXTURE_CHOICES = ("ring", "grid", "ring-imbalanced", "grid-imbalanced")


@dataclass(frozen=True)
class MetricOptions:
    """Which metrics to compute and their parameters (docs/metrics.md)."""

    k_pr: int = 3
    k_dc: int = 5
    strict: bool = True  # prdc's "<" boundary; False counts points on a ball's boundary as inside
    prdc: bool = True  # precision, recall, density, coverage
    fid: bool = True
    kid: bool = False
    kid_subsets: int = 100
    kid_subset_size: int = 1000  # capped at the smaller set size
    inception_score: bool = False
    is_splits: int = 10
    mixture: str | None = None  # built-in mixture for the 2D mode metrics
    seed: int = 0  # KID subsets (and the data of the built-in example)
    vendi: bool = True  # Vendi score of each set (cosine kernel): cheaper than one PRDC pass


def check_inputs(real: Loaded, fake: Loaded, options: MetricOptions, logits: np.ndarray | None) -> None:
    """Every check that can fail, before any metric is computed."""
    from modecover._checks import check_k, check_same_dim

    check_same_dim(real.features, fake.features, f"real ({real.source})", f"fake ({fake.source})")
    if options.prdc:
        check_k(max(options.k_pr, options.k_dc), len(real.features), f"real ({real.source})")
        check_k(options.k_pr, len(fake.features), f"fake ({fake.source})")
    if options.inception_score and logits is None:
        raise ValueError(
            "--is needs class logits of the fakes: use --extractor inception on images, "
            "or pass --fake-logits FILE (an (n, classes) array)"
        )
    if logits is not None and len(logits) != len(fake.features):
        raise ValueError(f"{len(logits)} rows of logits but {len(fake.features)} fakes ({fake.source})")
    if options.mixture is not None and fake.features.shape[1] != 2:
        raise ValueError(
            f"--mixture {options.mixture}: fake ({fake.source}) has {fake.features.shape[1]} feature columns, "
            "mode metrics need 2-D points"
        )


def compute_metrics(real: Loaded, fake: Loaded, options: MetricOptions,
                    fake_logits: np.ndarray | None = None) -> dict:
    """All requested metrics as one flat, JSON-able dict (see docs/evaluate.md).

    ``fake_logits`` (n_fake, classes) for the Inception Score; default: the logits the
    inception extractor produced for the fakes.
    """
    from modecover.metrics.fid import fid
    from modecover.metrics.prdc import _prdc_unchecked
    from modecover.neighbors import _widened

    logits = fake_logits if fake_logits is not None else fake.logits
    check_inputs(real, fake, options, logits)
    results: dict = {}
    if options.prdc:  # the features and k are checked once, above and by the feature extraction
        scores = _prdc_unchecked(_widened(real.features), _widened(fake.features), options.k_pr, options.k_dc,
                                 options.strict)
        results.update({key: scores[key] for key in ("precision", "recall", "density", "coverage")})
    if options.fid:
        results["fid"] = fid(real.features, fake.features)
    if options.kid:
        from modecover.metrics.kid import kid

        size = min(options.kid_subset_size, len(real.features), len(fake.features))
        results["kid"], results["kid_std"] = kid(real.features, fake.features, subsets=options.kid_subsets,
                                                 subset_size=size, seed=options.seed)
        results["kid_subset_size"] = size
    if options.inception_score:
        from modecover.metrics.inception_score import inception_score

        results["is"], results["is_std"] = inception_score(logits, splits=options.is_splits)
    if options.vendi:
        from modecover.metrics.vendi import vendi_score

        results["vendi"] = vendi_score(fake.features, name=f"fake ({fake.source})")
        results["vendi_real"] = vendi_score(real.features, name=f"real ({real.source})")
    if options.mixture is not None:
        results.update(mode_results(fake.features, options.mixture))
    return {k: _plain(v) for k, v in results.items()}


def mode_results(fake: np.ndarray, mixture: str) -> dict:
    """2D mode metrics of the fakes against the named mixture's modes."""
    from modecover.data.mixtures import get_mixture
    from modecover.metrics.modes import mode_metrics

    mix = get_mixture(mixture)
    return mode_metrics(fake, mix.means, mix.sigmas, mix.weights, minority=mix.minority)


def _plain(value):
    """numpy scalars/arrays -> Python numbers/lists for JSON."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value
