"""The engine without its input checks, for modecover's own callers that have checked their
inputs already (the metrics, explain, DMPRA's search, LDMD). Not part of the public API:
bad input here is not refused with a clear error but gives wrong answers or a numpy error.

- :func:`widened`: a checked feature array (:func:`modecover._checks.as_features`) in a
  dtype the engine computes in (float16 widened exactly to float32, long double narrowed
  to float64); ``widened(as_features(x, name))`` is :func:`modecover.neighbors.as_points`.
- :func:`knn` ``(q, x, k, *, backend, block_size, threads)``: :func:`modecover.neighbors.knn`
  of points from :func:`modecover.neighbors.as_points` (``x`` None: within ``q``) of equal
  widths, ``k`` checked by :func:`modecover._checks.check_k`, ``backend`` in ``BACKENDS``.
- :func:`pair_counts` ``(a, b, a_radii, b_radii, strict, block_size, threads,
  a_in_b_any=False)``: :func:`modecover.neighbors.pair_counts` of checked points and lists
  of finite, non-negative float64 radius vectors; ``a_in_b_any=True`` makes
  ``a_in_b_balls`` and ``b_ball_members`` lower bounds, exact where ``a_in_b_balls`` is 0
  (all that recall asks), and skips the re-measuring of the rest.
- :func:`ball_reductions` ``(q, c, s, t, strict, block_size, threads)``:
  :func:`modecover.neighbors.balls.ball_reductions` of checked points, radii ``s`` and
  realism radii ``t`` finite, non-negative float64 ``(len(c),)``.
"""

from __future__ import annotations

from modecover.neighbors._counts import _pair_counts as pair_counts
from modecover.neighbors._inputs import _widened as widened
from modecover.neighbors._knn import _knn_unchecked as knn
from modecover.neighbors.balls import _ball_reductions_unchecked as ball_reductions

__all__ = ["widened", "knn", "pair_counts", "ball_reductions"]
