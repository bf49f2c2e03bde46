"""The explain folder of an evaluation: :func:`modecover.explain.explain` of the two
loaded sets, written by :func:`modecover.evaluation.explain_files.write_explanation`."""

from __future__ import annotations

import json
from pathlib import Path

from modecover.evaluation.inputs import Loaded
from modecover.evaluation.metrics import MetricOptions

__all__ = ["write_explain_dir"]


def write_explain_dir(out_dir: Path, real: Loaded, fake: Loaded, options: MetricOptions) -> dict:
    """``--explain DIR``: :func:`modecover.explain.explain` with k = ``k_dc`` (the
    coverage's k) and the files of :mod:`modecover.evaluation.explain_files` (an image folder's
    samples named by their file); returns groups.json's content. The feature widths must already agree
    (:func:`modecover.evaluation.metrics.check_inputs`)."""
    from modecover._checks import check_k
    from modecover.evaluation.explain_files import write_explanation
    from modecover.explain import explain_unchecked as _explain_unchecked
    from modecover.neighbors import as_points
    from modecover.neighbors.unchecked import widened as _widened

    check_k(options.k_dc, len(real.features), f"real ({real.source})")
    check_k(options.k_dc, len(fake.features), f"fake ({fake.source})")
    modes = None
    if options.mixture is not None:  # 2-D means: the pipeline passes a mixture only for 2-D fakes
        from modecover.data.mixtures import get_mixture

        modes = as_points(get_mixture(options.mixture).means, "modes")
    # the features are checked by the feature extraction, their widths by check_inputs
    e = _explain_unchecked(_widened(real.features), _widened(fake.features), options.k_dc, modes, 50.0,
                           options.strict, options.seed)
    paths = write_explanation(e, out_dir, real.features, fake.features, real_images=real.images,
                              fake_images=fake.images, label="the fake set", real_names=real.files,
                              fake_names=fake.files)
    return json.loads(paths["groups"].read_text())
