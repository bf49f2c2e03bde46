"""Index samplers of the trainer: weighted (DMPRA's adjustment step, docs/dmpra.md),
uniform shuffled epochs, and their distributed versions.

Every sampler is a :class:`torch.utils.data.Sampler` over training-set indices and also an
endless *stream* the trainer takes batches from with :meth:`take`. The stream is a
sequence of *draws*: one draw is ``num_samples`` global indices (weighted: i.i.d. with
replacement, probability proportional to the weight; uniform: a random permutation of
the data, repeated as often as needed), made from a seeded :class:`torch.Generator`.

Resuming is exact: :meth:`state_dict` holds the generator state *before* the current
draw and how far into the draw the stream is; :meth:`load_state_dict` restores the
generator, redoes the draw and skips to the same position.

Distributed training splits one global draw across ranks without overlap: every rank
makes the same draw (same seed) and keeps positions ``rank, rank + world_size, ...``, so
the ranks together consume exactly the global draw.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor

from modecover._checks import int_in_range, is_integer, positive_int

__all__ = [
    "WeightedSampler",
    "DistributedWeightedSampler",
    "UniformSampler",
    "check_weights",
    "make_sampler",
]


def check_weights(weights, name: str = "sampling weights") -> Tensor:
    """``weights`` as a float64 1-D tensor; ``ValueError`` for NaN/inf, negative or all-zero weights."""
    w = torch.as_tensor(np.asarray(weights.detach().cpu() if isinstance(weights, Tensor) else weights),
                        dtype=torch.float64)
    if w.ndim != 1 or w.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D array, got shape {tuple(w.shape)}")
    bad = ~torch.isfinite(w)
    if bad.any():
        i = int(torch.nonzero(bad)[0])
        raise ValueError(f"{name}: {int(bad.sum())} NaN or infinite weight(s); first is {float(w[i])} at index {i}")
    negative = w < 0
    if negative.any():
        i = int(torch.nonzero(negative)[0])
        raise ValueError(f"{name}: {int(negative.sum())} negative weight(s); first is {float(w[i])} at index {i}")
    if not (w > 0).any():
        raise ValueError(f"{name}: all {w.numel()} weights are zero; nothing can be drawn")
    return w


# torch.multinomial refuses more categories than this; larger weight vectors are drawn by
# inverse-CDF search instead (smaller ones keep torch.multinomial, so their draws are unchanged).
MULTINOMIAL_MAX_CATEGORIES = 2**24


def _inverse_cdf_draw(weights: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """``size`` indices i.i.d. with probability ``weights / weights.sum()`` (float64, >= 0,
    not all zero): uniforms from ``generator`` located in the cumulative weights. A
    zero-weight index is an empty interval of the cumulative sum, so it is never drawn."""
    cumulative = torch.cumsum(weights, 0)
    u = torch.rand(size, dtype=torch.float64, generator=generator) * cumulative[-1]
    index = torch.searchsorted(cumulative, u, right=True)
    # u * total can round up to total itself: such a draw belongs to the last positive weight
    last = int(torch.nonzero(weights > 0)[-1])
    return index.clamp_(max=last)


class _IndexStream(torch.utils.data.Sampler[int]):
    """Shared machinery: seeded draws, this rank's share of each draw, resumable position."""

    def __init__(self, num_samples: int, seed: int, rank: int = 0, world_size: int = 1):
        self.world_size = positive_int(world_size, "world_size")
        self.rank = int_in_range(rank, f"rank (of world_size={world_size})", 0, self.world_size - 1)
        # a global draw is padded up to a multiple of world_size so each rank gets the same count
        self.global_size = math.ceil(positive_int(num_samples, "num_samples") / self.world_size) * self.world_size
        if not is_integer(seed):
            raise ValueError(f"sampler seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        self._state_before_draw = self.generator.get_state()
        self._current: Tensor | None = None
        self._position = 0

    def _global_draw(self) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _draw(self, *, stream: bool = True) -> Tensor:
        """One global draw (advances the generator); this rank's share of it."""
        if stream:
            self._state_before_draw = self.generator.get_state()
        return self._global_draw()[self.rank :: self.world_size]

    def __len__(self) -> int:
        return self.global_size // self.world_size

    def __iter__(self) -> Iterator[int]:
        """One fresh draw (this rank's share), independent of the :meth:`take` stream position."""
        return iter(self._draw(stream=False).tolist())

    def take(self, batch_size: int) -> Tensor:
        """The next ``batch_size`` indices (int64) of this rank's endless stream."""
        positive_int(batch_size, "batch_size")
        parts, needed = [], batch_size
        while needed:
            if self._current is None or self._position == self._current.numel():
                self._current, self._position = self._draw(), 0
            part = self._current[self._position : self._position + needed]
            self._position += part.numel()
            needed -= part.numel()
            parts.append(part)
        return torch.cat(parts)

    def state_dict(self) -> dict[str, Any]:
        """Generator state before the current draw and the position in it (see module doc)."""
        started = self._current is not None
        return {
            "generator": (self._state_before_draw if started else self.generator.get_state()).clone(),
            "position": self._position if started else -1,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(torch.as_tensor(state["generator"], dtype=torch.uint8).clone())
        position = int(state["position"])
        if position < 0:
            self._current, self._position = None, 0
            self._state_before_draw = self.generator.get_state()
            return
        self._current = self._draw()
        if position > self._current.numel():
            raise ValueError(f"sampler state: position {position} is beyond a draw of {self._current.numel()} indices")
        self._position = position


class WeightedSampler(_IndexStream):
    """Indices drawn with replacement with probability proportional to ``weights``.

    ``num_samples`` indices per draw (an epoch of :meth:`__iter__`); the generator is a
    :class:`torch.Generator` seeded with ``seed``. Zero-weight samples are never drawn.
    Up to 2**24 weights the draw is :func:`torch.multinomial`; beyond its limit, an
    inverse-CDF search of uniforms from the same generator (same distribution).
    """

    def __init__(self, weights, num_samples: int, seed: int = 0):
        self.weights = check_weights(weights)
        super().__init__(num_samples, seed)

    def _global_draw(self) -> Tensor:
        if self.weights.numel() <= MULTINOMIAL_MAX_CATEGORIES:
            return torch.multinomial(self.weights, self.global_size, replacement=True, generator=self.generator)
        return _inverse_cdf_draw(self.weights, self.global_size, self.generator)


class DistributedWeightedSampler(WeightedSampler):
    """This rank's share of one global weighted draw of ``num_samples`` indices.

    Every rank draws the same ``ceil(num_samples / world_size) * world_size`` indices (same
    seed) and keeps every ``world_size``-th position starting at ``rank``: the ranks' shares
    never overlap and together are the global draw.
    """

    def __init__(self, weights, num_samples: int, rank: int, world_size: int, seed: int = 0):
        self.weights = check_weights(weights)
        _IndexStream.__init__(self, num_samples, seed, rank, world_size)


class UniformSampler(_IndexStream):
    """Shuffled epochs: each draw is a random permutation of ``range(n)`` (repeated to fill
    ``num_samples``, default ``n``); optionally this rank's share, as above."""

    def __init__(self, n: int, num_samples: int | None = None, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.n = positive_int(n, "data set size n")
        super().__init__(num_samples or self.n, seed, rank, world_size)

    def _global_draw(self) -> Tensor:
        perms = [torch.randperm(self.n, generator=self.generator) for _ in range(math.ceil(self.global_size / self.n))]
        return torch.cat(perms)[: self.global_size]


def make_sampler(weights, n: int, num_samples: int, seed: int, rank: int = 0, world_size: int = 1) -> _IndexStream:
    """The trainer's sampler for one round: uniform when ``weights`` is None, else weighted
    (``len(weights)`` must equal the data set size ``n``)."""
    if weights is None:
        return UniformSampler(n, num_samples, seed, rank, world_size)
    w = check_weights(weights, "data weights from the plug-ins")
    if w.numel() != n:
        raise ValueError(f"data weights from the plug-ins have length {w.numel()}, the data set has {n} samples")
    return DistributedWeightedSampler(w, num_samples, rank, world_size, seed)
