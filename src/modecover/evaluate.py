"""Kept for old imports: ``modecover.evaluate`` is an alias of :mod:`modecover.explain`.

:func:`modecover.explain.explain` (which real samples no fake covers, which fakes lie off the
data) lived here before it moved to the module named after it; this module re-exports the
public names of :mod:`modecover.explain` (the same objects), so ``from modecover.evaluate
import explain`` keeps working. New code imports from :mod:`modecover.explain`. The
``modecover evaluate`` pipeline is the :mod:`modecover.evaluation` package.
"""

from modecover.explain import MEDOID_SAMPLE, Explanation, Group, describe_missed, explain

# public names outside __all__, as in modecover.explain (``as`` marks them re-exported)
from modecover.explain import MISSED_MODE_SHARE as MISSED_MODE_SHARE
from modecover.explain import explain_unchecked as explain_unchecked

__all__ = ["Explanation", "Group", "MEDOID_SAMPLE", "explain", "describe_missed"]
