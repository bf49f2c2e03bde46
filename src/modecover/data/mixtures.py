"""Synthetic 2D Gaussian mixtures with known modes (the PacGAN protocol: B1, B2).

Each :class:`Mixture` carries its mode means, per-mode isotropic standard deviations and
mixing weights, so that the 2D mode metrics (``modecover.metrics.modes``) can score
samples against the truth.

- :func:`ring`: 8 modes evenly on a circle of radius 1, sigma 0.01 (PacGAN/VEEGAN).
- :func:`grid`: 25 modes at {-4, -2, 0, 2, 4}^2, sigma 0.05.
- :func:`imbalanced`: some modes made rare, each at ``ratio`` times a common mode's weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from modecover._checks import is_integer, non_negative_int, positive_int, real_in_range


def integer_list(value, name: str) -> list[int]:
    """``value`` as a list of Python ints: one integer is a one-element list; a sequence or a
    1-D integer array (or tensor) gives its items. ``ValueError`` starting with ``name`` for
    anything else (bools, floats even if whole, strings, nested sequences) and for repeats,
    so nothing is truncated, read character by character or silently de-duplicated."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be integers, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.ndim > 1 or (value.size and value.dtype.kind not in "iu"):
            raise ValueError(f"{name} must be integers, got an array of dtype {value.dtype} and shape {value.shape}")
        items = [int(v) for v in np.atleast_1d(value).tolist()]
    elif isinstance(value, (list, tuple)):
        bad = [v for v in value if not is_integer(v)]
        if bad:
            raise ValueError(f"{name} must be integers, got {bad[0]!r} in {value!r}")
        items = [int(v) for v in value]
    else:
        raise ValueError(f"{name} must be an integer or a list of integers, got {value!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"{name} repeat: {items}")
    return items


@dataclass(frozen=True)
class Mixture:
    """An isotropic Gaussian mixture in 2D.

    ``means`` (K, 2), ``sigmas`` (K,) standard deviations, ``weights`` (K,) summing to 1,
    ``minority`` the indices of the modes made rare (empty when balanced).
    """

    name: str
    means: np.ndarray
    sigmas: np.ndarray
    weights: np.ndarray
    minority: tuple[int, ...] = field(default=())

    def __post_init__(self):
        means = np.asarray(self.means, dtype=np.float64)
        sigmas = np.asarray(self.sigmas, dtype=np.float64)
        weights = np.asarray(self.weights, dtype=np.float64)
        if means.ndim != 2 or means.shape[1] != 2 or means.shape[0] < 1:
            raise ValueError(f"mixture '{self.name}': means must have shape (K, 2), got {means.shape}")
        k = means.shape[0]
        if sigmas.shape != (k,):
            raise ValueError(f"mixture '{self.name}': sigmas must have shape ({k},), got {sigmas.shape}")
        if weights.shape != (k,):
            raise ValueError(f"mixture '{self.name}': weights must have shape ({k},), got {weights.shape}")
        for label, arr in (("means", means), ("sigmas", sigmas), ("weights", weights)):
            if not np.isfinite(arr).all():
                raise ValueError(f"mixture '{self.name}': {label} hold non-finite values")
        if (sigmas <= 0).any():
            raise ValueError(f"mixture '{self.name}': sigmas must be > 0, got {sigmas.tolist()}")
        if (weights < 0).any():
            raise ValueError(f"mixture '{self.name}': weights must be >= 0, got {weights.tolist()}")
        if not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-9):
            raise ValueError(f"mixture '{self.name}': weights must sum to 1, got sum {weights.sum()!r}")
        minority = tuple(integer_list(self.minority, f"mixture '{self.name}': minority mode indices"))
        bad = [i for i in minority if not 0 <= i < k]
        if bad:
            raise ValueError(f"mixture '{self.name}': minority mode indices {bad} outside 0..{k - 1}")
        for label, arr in (("means", means), ("sigmas", sigmas), ("weights", weights)):
            arr.setflags(write=False)
            object.__setattr__(self, label, arr)
        object.__setattr__(self, "minority", minority)

    @property
    def n_modes(self) -> int:
        return int(self.means.shape[0])

    def sample(self, n: int, seed: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points (float32, (n, 2)) and their mode labels (int64, (n,)).

        Labels are drawn i.i.d. from ``weights`` (so mode counts are multinomial), then
        each point is its mode mean plus N(0, sigma_k^2 I) noise.
        """
        non_negative_int(n, f"mixture '{self.name}': n")
        if isinstance(seed, (bool, np.bool_, str, bytes, float, np.floating)) or (
                isinstance(seed, (int, np.integer)) and seed < 0):
            raise ValueError(f"mixture '{self.name}': seed must be a non-negative integer or a "
                             f"numpy Generator, got {seed!r}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        labels = rng.choice(self.n_modes, size=int(n), p=self.weights).astype(np.int64)
        noise = rng.standard_normal((int(n), 2))
        points = self.means[labels] + self.sigmas[labels, None] * noise
        return points.astype(np.float32), labels


def ring(n_modes: int = 8, radius: float = 1.0, sigma: float = 0.01) -> Mixture:
    """``n_modes`` equal modes at angles 2*pi*k/n_modes on a circle of ``radius``."""
    n_modes = positive_int(n_modes, "ring: n_modes")
    real_in_range(radius, "ring: radius", 0, low_open=True)
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return Mixture("ring", means, np.full(n_modes, float(sigma)), np.full(n_modes, 1.0 / n_modes))


def grid(side: int = 5, spacing: float = 2.0, sigma: float = 0.05) -> Mixture:
    """``side``^2 equal modes on a square grid centred at 0 (default {-4,-2,0,2,4}^2).

    Mode index = row * side + column with x varying fastest: mode 0 is (-4, -4), mode 1 (-2, -4).
    """
    side = positive_int(side, "grid: side")
    real_in_range(spacing, "grid: spacing", 0, low_open=True)
    coords = spacing * (np.arange(side) - (side - 1) / 2)
    ys, xs = np.meshgrid(coords, coords, indexing="ij")
    means = np.stack([xs.ravel(), ys.ravel()], axis=1)
    k = side * side
    return Mixture("grid", means, np.full(k, float(sigma)), np.full(k, 1.0 / k))


def imbalanced(mixture: Mixture, minority: Sequence[int], ratio: float = 1 / 20) -> Mixture:
    """``mixture`` with the ``minority`` modes (mode indices, no repeats; one int is one
    mode) made rare.

    Unnormalised weight: ``ratio`` for a minority mode, 1 for every other mode, times the
    mode's original weight; then normalised. For a balanced mixture each minority mode
    ends up at exactly ``ratio`` times a common mode's weight.
    """
    minority = tuple(integer_list(minority, "imbalanced: minority mode indices"))
    bad = [i for i in minority if not 0 <= i < mixture.n_modes]
    if bad:
        raise ValueError(f"imbalanced: minority mode indices {bad} outside 0..{mixture.n_modes - 1}")
    real_in_range(ratio, "imbalanced: ratio", 0, 1, low_open=True)
    if len(minority) == mixture.n_modes:
        raise ValueError("imbalanced: every mode is a minority mode; leave at least one common mode")
    scale = np.ones(mixture.n_modes)
    scale[list(minority)] = ratio
    weights = mixture.weights * scale
    return Mixture(
        f"{mixture.name}-imbalanced",
        mixture.means,
        mixture.sigmas,
        weights / weights.sum(),
        tuple(sorted(set(mixture.minority) | set(minority))),
    )


def imbalanced_ring(minority: Sequence[int] = (1, 5), ratio: float = 1 / 20) -> Mixture:
    """The 8-mode ring with two opposite modes at 1/20 of a common mode (B2)."""
    return imbalanced(ring(), minority, ratio)


def imbalanced_grid(minority: Sequence[int] = (0, 6, 12, 18, 24), ratio: float = 1 / 20) -> Mixture:
    """The 25-mode grid with the diagonal modes at 1/20 of a common mode (B2)."""
    return imbalanced(grid(), minority, ratio)


MIXTURES: dict[str, Callable[[], Mixture]] = {
    "ring": ring,
    "grid": grid,
    "ring-imbalanced": imbalanced_ring,
    "grid-imbalanced": imbalanced_grid,
}


def get_mixture(name: str) -> Mixture:
    """A named mixture of :data:`MIXTURES`; ``ValueError`` lists the names on a typo."""
    if name not in MIXTURES:
        raise ValueError(f"unknown mixture {name!r}; choose one of {sorted(MIXTURES)}")
    return MIXTURES[name]()


__all__ = ["MIXTURES", "Mixture", "get_mixture", "grid", "imbalanced", "imbalanced_grid", "imbalanced_ring", "ring"]
