"""Class-balanced sampling from known labels: the re-weighting upper bound for DMPRA.

When the training labels are known (the mode of a 2D mixture, a digit class), drawing
each sample with weight (largest class count / its class count) ** ``power`` makes every
class equally likely at ``power = 1`` - the weights DMPRA would need to find on its own.
In the imbalanced benchmarks this is the oracle row: the true rare-mode samples weighted
to balance the modes. ``from_round`` delays the weights to match DMPRA's schedule (its
first round trains unweighted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from modecover._checks import int_in_range, no_op_error, real_in_range
from modecover.plugins import Plugin


def balancing_weights(labels, power: float = 1.0) -> np.ndarray:
    """(max class count / class count of each sample) ** power, float64 (n,)."""
    labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"class balance: labels must be a non-empty 1-D array, got shape {labels.shape}")
    if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
        odd = labels[labels != np.round(labels)][0]
        raise ValueError(f"class balance: labels must be class ids (integers or names), got the value {odd} "
                         "(continuous values would make every sample its own class)")
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return (counts.max() / counts[inverse].astype(np.float64)) ** float(power)


@dataclass
class ClassBalanceConfig:
    power: float = 1.0  # 1: classes equally likely; 0: no re-weighting
    from_round: int = 0  # the weights apply from this round on

    def __post_init__(self):
        real_in_range(self.power, f"{WHERE}: 'power'", 0, 4, low_open=True)
        self.from_round = int_in_range(self.from_round, f"{WHERE}: 'from_round'", 0)

    def check_schedule(self, train) -> None:
        """Refuse a ``from_round`` the run's [train] rounds never reach (called when a run config is read)."""
        if self.from_round >= train.rounds:
            raise no_op_error(WHERE, f"'from_round' = {self.from_round}",
                              f"not below [train] rounds = {train.rounds}, the last round is {train.rounds - 1}, so "
                              "its weights never apply", "lower it, raise rounds, or leave the method out")


WHERE = "[[methods]] 'class_balance'"  # how errors name the method's table


class ClassBalance(Plugin):
    """Data weights that balance the classes of the training labels."""

    name = "class_balance"

    def __init__(self, labels, config: ClassBalanceConfig | None = None, **kwargs):
        self.config = config or ClassBalanceConfig(**kwargs)
        self.weights = torch.from_numpy(balancing_weights(labels, self.config.power))
        self.rounds_done = 0

    def data_weights(self, n: int) -> Tensor | None:
        if n != self.weights.shape[0]:
            raise ValueError(f"class balance has {self.weights.shape[0]} labels but the data set has {n} samples")
        return self.weights if self.rounds_done >= self.config.from_round else None

    def on_round_end(self, model, data, round_index: int, out_dir=None) -> None:
        self.rounds_done = round_index + 1

    def state_dict(self) -> dict[str, Any]:
        return {"rounds_done": self.rounds_done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rounds_done = int(state["rounds_done"])
