"""A finished bench run folder (``modecover bench B3 --out OUT``) as the scripts that read one see it."""

from __future__ import annotations

import argparse
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


def sampled_run(description: str, default_suite: str) -> tuple[argparse.Namespace, list]:
    """The command line of a script that draws samples from a finished B3 or B4 run (OUT, --suite,
    --n samples per model, --csv), torch on one thread: (the arguments, the suite's jobs of one seed)."""
    from modecover.bench.suites import b3_jobs, b4_jobs

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("out", type=Path)
    parser.add_argument("--suite", choices=["B3", "B4"], default=default_suite)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    return args, (b3_jobs if args.suite == "B3" else b4_jobs)(seeds=1)
