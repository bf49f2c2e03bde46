"""Exact nearest-neighbour engine shared by DMPRA, LDMD and the metrics.

Every answer equals a float64 brute force on the same inputs: the distance between two
points is ``sqrt(sum((a - b) ** 2))`` evaluated by numpy in float64 from the inputs
(:func:`exact_distances`), k-NN lists are ordered by that distance and then by index, and
a point is inside a ball of radius ``r`` when that distance is ``< r`` (``<= r`` with
``strict=False``). The answers come from float32 (or bfloat16, :func:`products`) tile
products, with every comparison that a rigorous error bound cannot decide re-measured in
float64; docs/metrics.md, "Neighbour engine", derives the bound and describes the tiles,
the worker threads and the FAISS backend.

The package's modules: ``_inputs`` (checked inputs, float64 distances), ``_machine``
(threads, block and tile sizes), ``_precision`` (float32 or bfloat16 products), ``_tiles``
(the float32 copies and their products), ``_bounds`` (the error bounds), ``_knn``,
``_select``, ``_symmetric`` and ``_faiss`` (k-NN), ``_counts`` (ball-membership counts),
:mod:`modecover.neighbors.balls` (per-point reductions against balls, for explain) and
:mod:`modecover.neighbors.unchecked` (the same functions without input checks, for
modecover's own callers that have checked their inputs already). Names with a leading
underscore are private to the package.
"""

from __future__ import annotations

from modecover.neighbors._counts import PairCounts, ball_counts, pair_counts, radius_counts
from modecover.neighbors._inputs import as_points, exact_distances
from modecover.neighbors._knn import BACKENDS, knn, kth_distances
from modecover.neighbors._machine import available_cores
from modecover.neighbors._precision import PRODUCTS, products

__all__ = [
    "knn",
    "kth_distances",
    "radius_counts",
    "ball_counts",
    "pair_counts",
    "PairCounts",
    "exact_distances",
    "as_points",
    "available_cores",
    "products",
    "BACKENDS",
    "PRODUCTS",
]
