"""A finished bench run folder (``modecover bench B3 --out OUT``) as the scripts that read one see it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def finished_seeds(row_dir: Path) -> list[int]:
    """The seeds whose job finished in a row's folder (those with a ``seed<k>.json``), in order."""
    return sorted(int(p.stem[4:]) for p in Path(row_dir).glob("seed*.json"))


def final_samples(row_dir: Path, seed: int, n: int) -> np.ndarray:
    """``n`` samples of the seed's final model (``seed<k>/final.ckpt``), drawn with torch seeded by ``seed``."""
    from modecover.checkpoint import load_checkpoint

    model = load_checkpoint(Path(row_dir) / f"seed{seed}" / "final.ckpt").model.eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        return model.sample(n).numpy()
