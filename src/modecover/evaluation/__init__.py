"""Evaluating generated samples against real ones: what ``modecover evaluate`` computes,
as a library (docs/evaluate.md, "From Python").

The entry points are :func:`evaluate_files` (two files or image folders) and
:func:`evaluate_example` (the built-in example); both return an :class:`Evaluation`.
The modules each hold one step:

- :mod:`~modecover.evaluation.inputs`: reading files, image folders and the example;
- :mod:`~modecover.evaluation.features`: the extractor of each set and the features;
- :mod:`~modecover.evaluation.metrics`: the input checks and the metrics;
- :mod:`~modecover.evaluation.explaining`: the explain folder;
- :mod:`~modecover.evaluation.pipeline`: the entry points and the results JSON;
- :mod:`~modecover.evaluation.points`: the 2D evaluation of the benchmarks, the training
  report and the demo (mode metrics, PRDC and the missed modes of generated points).
"""

from modecover.evaluation.features import EXTRACTOR_CHOICES
from modecover.evaluation.inputs import PIXEL_RANGES, Loaded, LoadOptions
from modecover.evaluation.metrics import MIXTURE_CHOICES, MetricOptions
from modecover.evaluation.pipeline import Evaluation, MetricsFailed, evaluate_example, evaluate_files
from modecover.evaluation.points import evaluate_points, explain_summary

__all__ = ["EXTRACTOR_CHOICES", "MIXTURE_CHOICES", "PIXEL_RANGES", "Evaluation", "LoadOptions", "Loaded",
           "MetricOptions", "MetricsFailed", "evaluate_example", "evaluate_files", "evaluate_points",
           "explain_summary"]
