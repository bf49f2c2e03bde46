"""The metrics of an evaluation: precision, recall, density, coverage, FID, KID, IS, Vendi
and the 2D mode metrics of two loaded sets, as one flat JSON-able dict (docs/metrics.md).

Each metric is computed on its own: one that cannot take the input (too few samples for
its k, a mixture on points that are not 2-D, the Inception Score without logits, FID's
covariances too large for memory, ...) never stops the others. Its reason is recorded
under ``skipped`` when it ran by default, or under ``failed`` when it was asked for by name
(:attr:`MetricOptions.asked`), which the callers turn into an error once the rest is
computed and written."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modecover.evaluation.inputs import Loaded

__all__ = ["DEFAULT_METRICS", "METRIC_ERRORS", "MIXTURE_CHOICES", "MetricOptions", "check_inputs", "compute_metrics",
           "mode_results"]

MIXTURE_CHOICES = ("ring", "grid", "ring-imbalanced", "grid-imbalanced")
DEFAULT_METRICS = ("prdc", "fid", "vendi")  # on unless turned off; best-effort unless named in ``required``

# what a metric that cannot take its input raises (numpy's LinAlgError is a ValueError)
METRIC_ERRORS = (ValueError, ArithmeticError, MemoryError)


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
    # metrics on by default whose failure is still an error (the command's --prdc, --fid, --vendi);
    # kid, is and the mode metrics, off by default, are asked for whenever they are on
    required: tuple[str, ...] = ()

    def __post_init__(self):
        unknown = [name for name in self.required if name not in DEFAULT_METRICS]
        if isinstance(self.required, str) or unknown:
            raise ValueError(f"MetricOptions.required: names among {DEFAULT_METRICS}, got {self.required!r}")

    @property
    def asked(self) -> frozenset[str]:
        """The metrics asked for by name, whose failure is an error: ``required``, and
        ``kid``, ``is`` and ``modes`` when on."""
        on = {"kid": self.kid, "is": self.inception_score, "modes": self.mixture is not None}
        return frozenset(self.required) | {name for name, wanted in on.items() if wanted}


def check_inputs(real: Loaded, fake: Loaded, logits: np.ndarray | None) -> None:
    """The checks every metric relies on, before any is computed: equal feature widths and,
    when logits are given, one row of them per fake. What only one metric needs is checked
    by that metric (:func:`compute_metrics`)."""
    from modecover._checks import check_same_dim

    check_same_dim(real.features, fake.features, f"real ({real.source})", f"fake ({fake.source})")
    if logits is not None and len(logits) != len(fake.features):
        raise ValueError(f"{len(logits)} rows of logits but {len(fake.features)} fakes ({fake.source})")


def compute_metrics(real: Loaded, fake: Loaded, options: MetricOptions,
                    fake_logits: np.ndarray | None = None) -> dict:
    """All requested metrics as one flat, JSON-able dict (see docs/evaluate.md).

    ``fake_logits`` (n_fake, classes) for the Inception Score; default: the logits the
    inception extractor produced for the fakes. A metric that raises one of
    :data:`METRIC_ERRORS` is left out: ``results["skipped"][name]`` (ran by default) or
    ``results["failed"][name]`` (in :attr:`MetricOptions.asked`) holds the message; the
    names are ``prdc``, ``fid``, ``kid``, ``is``, ``vendi``, ``vendi_real`` and ``modes``.
    Both keys are absent when nothing was left out.
    """
    logits = fake_logits if fake_logits is not None else fake.logits
    check_inputs(real, fake, logits)
    asked = options.asked | ({"vendi_real"} if "vendi" in options.asked else set())  # --vendi: both sets
    results: dict = {}
    left_out: dict = {"skipped": {}, "failed": {}}
    for name, compute in _steps(real, fake, options, logits):
        try:
            results.update(compute())
        except METRIC_ERRORS as err:
            left_out["failed" if name in asked else "skipped"][name] = str(err) or type(err).__name__
    results = {k: _plain(v) for k, v in results.items()}
    return {**results, **{key: reasons for key, reasons in left_out.items() if reasons}}


def _steps(real: Loaded, fake: Loaded, options: MetricOptions, logits):
    """(name, function returning its result keys) of each metric that is on, in the order of
    the results."""
    real_name, fake_name = f"real ({real.source})", f"fake ({fake.source})"

    def prdc():
        from modecover._checks import check_k
        from modecover.metrics.prdc import prdc_unchecked as _prdc_unchecked
        from modecover.neighbors.unchecked import widened as _widened

        check_k(max(options.k_pr, options.k_dc), len(real.features), real_name)
        check_k(options.k_pr, len(fake.features), fake_name)
        # the features are checked by the feature extraction, their widths by check_inputs
        scores = _prdc_unchecked(_widened(real.features), _widened(fake.features), options.k_pr, options.k_dc,
                                 options.strict)
        return {key: scores[key] for key in ("precision", "recall", "density", "coverage")}

    def fid():
        from modecover.metrics.fid import fid

        for loaded, name in ((real, real_name), (fake, fake_name)):
            if len(loaded.features) < 2:
                raise ValueError(f"{name}: FID needs at least 2 samples (a covariance), got {len(loaded.features)}")
        return {"fid": fid(real.features, fake.features)}

    def kid():
        from modecover.metrics.kid import kid

        size = min(options.kid_subset_size, len(real.features), len(fake.features))
        value, std = kid(real.features, fake.features, subsets=options.kid_subsets, subset_size=size,
                         seed=options.seed)
        return {"kid": value, "kid_std": std, "kid_subset_size": size}

    def inception_score():
        from modecover.metrics.inception_score import inception_score

        if logits is None:
            raise ValueError("--is needs class logits of the fakes: use --extractor inception on images, "
                             "or pass --fake-logits FILE (an (n, classes) array)")
        value, std = inception_score(logits, splits=options.is_splits)
        return {"is": value, "is_std": std}

    def vendi(loaded: Loaded, key: str, name: str):
        from modecover.metrics.vendi import vendi_score

        return lambda: {key: vendi_score(loaded.features, name=name)}

    def modes():
        if fake.features.shape[1] != 2:
            raise ValueError(f"--mixture {options.mixture}: fake ({fake.source}) has {fake.features.shape[1]} "
                             "feature columns, mode metrics need 2-D points")
        return mode_results(fake.features, options.mixture)

    steps = [("prdc", options.prdc, prdc), ("fid", options.fid, fid), ("kid", options.kid, kid),
             ("is", options.inception_score, inception_score),
             ("vendi", options.vendi, vendi(fake, "vendi", fake_name)),
             ("vendi_real", options.vendi, vendi(real, "vendi_real", real_name)),
             ("modes", options.mixture is not None, modes)]
    return [(name, compute) for name, on, compute in steps if on]


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
