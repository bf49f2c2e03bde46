"""What ``modecover evaluate`` computes, from Python: :func:`evaluate_files` (two files or
image folders) and :func:`evaluate_example` (the built-in example), each returning an
:class:`Evaluation` that holds the metrics, the settings and, when asked, the explain
folder's summary; :meth:`Evaluation.write` writes the command's ``--out`` JSON. A metric
asked for by name that could not be computed raises :class:`MetricsFailed`, which carries
the evaluation of everything else."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from modecover.evaluation.explaining import write_explain_dir
from modecover.evaluation.features import check_same_extractor, to_features
from modecover.evaluation.inputs import EXAMPLE_MIXTURE, Loaded, LoadOptions, example_loaded, load_fake_logits
from modecover.evaluation.metrics import METRIC_ERRORS, MetricOptions, compute_metrics

__all__ = ["Evaluation", "MetricsFailed", "evaluate_example", "evaluate_files", "report_view"]


@dataclass
class Evaluation:
    """The outcome of one evaluation (docs/evaluate.md)."""

    results: dict  # the metrics: precision, recall, density, coverage, fid, ... (flat, JSON-able), and
    # "skipped" / "failed": {metric: reason} of those left out, when any
    config: dict  # sources, extractor, sizes, k, boundary, mixture, skipped files, all-zero feature rows
    real: Loaded
    fake: Loaded
    explained: dict | None = None  # groups.json of the explain folder, when one was written
    example: bool = False  # the built-in example: write() also saves its points

    def as_json(self) -> dict:
        """The content of ``modecover evaluate --out``: the metrics, ``config`` and the run
        layout ``modecover report`` reads (:func:`report_view`)."""
        return {**self.results, "config": self.config, **report_view(self.results, self.config["mixture"])}

    def write(self, out) -> None:
        """Write :meth:`as_json` to ``out``; for the built-in example also its real and fake
        points beside it, where ``modecover report`` looks for them (docs/report.md)."""
        from modecover.io import write_atomic

        out = Path(out)
        if self.example:
            out.parent.mkdir(parents=True, exist_ok=True)
            np.save(out.parent / "data.npy", self.real.features)
            (out.parent / "evaluate").mkdir(exist_ok=True)
            np.save(out.parent / "evaluate" / "samples.npy", self.fake.features)
        write_atomic(out, json.dumps(self.as_json(), indent=2) + "\n")


class MetricsFailed(ValueError):
    """Metrics asked for by name (:attr:`MetricOptions.asked`) could not be computed; the
    others were. ``evaluation``: the :class:`Evaluation` of everything else (its
    ``results["failed"]`` holds each failed metric's reason), ready to :meth:`~Evaluation.write`."""

    def __init__(self, evaluation: Evaluation):
        self.evaluation = evaluation
        self.failed = dict(evaluation.results["failed"])
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in self.failed.items()))


def evaluate_files(real: str, fake: str, *, load: LoadOptions | None = None, metrics: MetricOptions | None = None,
                   real_range: str | None = None, fake_range: str | None = None, fake_logits=None,
                   explain_dir=None) -> Evaluation:
    """Compare the fake set ``fake`` with the real set ``real``, each a feature or image-array
    file (.npy, .npz[:key], .pt/.pth[:key]) or an image folder, as ``modecover evaluate
    --real R --fake F`` does.

    ``load``: how the inputs are read and which extractor turns them into features;
    ``metrics``: which metrics; ``real_range`` / ``fake_range``: pixel range of an image
    array file (a key of :data:`modecover.evaluation.inputs.PIXEL_RANGES`; default unit);
    ``fake_logits``: a file of class logits (n_fake, classes) or an array, for the
    Inception Score; ``explain_dir``: also write the explain folder there. Raises
    ``ValueError`` (or ``FileNotFoundError``, ``ImportError``) naming the problem. A metric
    on by default that cannot take the input is left out, with its reason under
    ``results["skipped"]``; one asked for by name, or an explain folder that cannot be
    made (a set smaller than ``k_dc`` + 1), raises :class:`MetricsFailed` after the others
    are computed.
    """
    load = LoadOptions() if load is None else load
    extractors: dict = {}
    real_set = to_features(real, load, extractors, real_range, "real")
    fake_set = to_features(fake, load, extractors, fake_range, "fake")
    check_same_extractor(real_set, fake_set)
    return _evaluate(real_set, fake_set, MetricOptions() if metrics is None else metrics, fake_logits,
                     explain_dir)


def evaluate_example(metrics: MetricOptions | None = None, *, fake_logits=None, explain_dir=None) -> Evaluation:
    """``modecover evaluate --example``: the imbalanced ring against a fake that drops its
    minority modes (:func:`modecover.evaluation.inputs.example_sets`, seeded by
    ``metrics.seed``), with the mode metrics of ``metrics.mixture`` (default ring-imbalanced)."""
    metrics = MetricOptions() if metrics is None else metrics
    metrics = replace(metrics, mixture=metrics.mixture or EXAMPLE_MIXTURE)
    real, fake = example_loaded(metrics.seed)
    return _evaluate(real, fake, metrics, fake_logits, explain_dir, example=True)


def _evaluate(real: Loaded, fake: Loaded, metrics: MetricOptions, fake_logits, explain_dir,
              example: bool = False) -> Evaluation:
    if isinstance(fake_logits, (str, Path)):
        fake_logits = load_fake_logits(str(fake_logits), len(fake.features))
    elif fake_logits is not None:
        fake_logits = np.asarray(fake_logits)
    results = compute_metrics(real, fake, metrics, fake_logits)
    explained = None
    if explain_dir is not None:  # the mode labels need 2-D fakes (else the mode metrics failed: MetricsFailed)
        mixture = metrics.mixture if fake.features.shape[1] == 2 else None
        try:  # asked for by name: a failure is MetricsFailed, with the metrics kept
            explained = write_explain_dir(Path(explain_dir), real, fake, replace(metrics, mixture=mixture))
        except METRIC_ERRORS as err:
            results = {**results, "failed": {**results.get("failed", {}), "explain": str(err)}}
    evaluation = Evaluation(results, _config(real, fake, metrics), real, fake, explained, example)
    if "failed" in results:
        raise MetricsFailed(evaluation)
    return evaluation


def _config(real: Loaded, fake: Loaded, metrics: MetricOptions) -> dict:
    from modecover.metrics.vendi import zero_rows

    return {"real": real.source, "fake": fake.source, "extractor": real.extractor, "n_real": len(real.features),
            "n_fake": len(fake.features), "dim": int(real.features.shape[1]), "k_pr": metrics.k_pr,
            "k_dc": metrics.k_dc, "boundary": "<" if metrics.strict else "<=", "mixture": metrics.mixture,
            "skipped": {"real": list(real.skipped), "fake": list(fake.skipped)},
            "zero_rows": {"real": zero_rows(real.features), "fake": zero_rows(fake.features)}}


def report_view(results: dict, mixture: str | None) -> dict:
    """The same numbers in the run layout ``modecover report`` reads (docs/report.md)."""
    scalars = {k: v for k, v in results.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    run: dict = {"metrics": scalars}
    view: dict = {"runs": {"evaluate": run}}
    if mixture is not None and "generated_shares" in results:  # not when the mode metrics failed
        from modecover.data.mixtures import get_mixture

        mix = get_mixture(mixture)
        view["data"] = {"name": mixture, "means": mix.means.tolist(), "weights": mix.weights.tolist(),
                        "minority": list(mix.minority)}
        run["per_mode_share"] = results["generated_shares"]
    return view
