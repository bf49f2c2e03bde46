"""modecover: find the modes a generative model misses, correct training for them,
sample evenly from what it learned, and measure diversity against quality exactly.

Where to start (README.md, "Python API"; the ``modecover`` command is a thin layer over
these, :mod:`modecover.cli`):

- find and weigh the minority samples of a data set: :func:`modecover.dmpra.search`, then
  :func:`modecover.dmpra.weigh` (docs/dmpra.md);
- correct training: a method is a plug-in whose hooks the loop calls,
  :class:`modecover.plugins.Hooks` over e.g. :class:`modecover.dmpra.plugin.DMPRA` or the
  baselines in :mod:`modecover.methods` (docs/methods.md);
- train: :class:`modecover.config.Run` (``Run.from_config(load_config(path)).train(out)``)
  or :func:`modecover.train.train` with a model of :mod:`modecover.models` (docs/training.md);
- metrics on feature arrays: :mod:`modecover.metrics` (precision, recall, density,
  coverage, FID, KID, IS, Vendi, 2D mode metrics; docs/metrics.md);
- which real samples a model misses and which fakes lie off the data:
  :func:`modecover.explain.explain` (:mod:`modecover.evaluate` is its old name, kept as an
  alias for old imports);
- the whole ``modecover evaluate`` pipeline on files or image folders (loading, feature
  extraction, every metric, the results JSON): :func:`modecover.evaluation.evaluate_files`
  (the *evaluation* package; docs/evaluate.md);
- supporting modules: :mod:`modecover.data` (data sets and mixtures), :mod:`modecover.features`
  (feature extractors), :mod:`modecover.neighbors` (the exact k-NN engine),
  :mod:`modecover.report` (HTML reports), :mod:`modecover.io` (array files).
"""

__version__ = "0.1.0"
