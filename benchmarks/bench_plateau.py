"""Where does each model family's quality plateau on the 2D mixtures? (docs/training.md, "Converged 2D recipe")

Trains one family with the B2 benchmark's settings (``modecover.bench.suites.B2_FAMILIES``:
the GAN is an MLP 128 x 3, latent 8, non-saturating, Adam 1e-3) with the trainer at batch
256 on ``--n`` points of the balanced ring or grid, the learning rates decayed linearly
over the last ``--lr-decay`` share of the steps, and evaluates 2,500 samples every
``--every`` steps (2D mode metrics: modes captured, HQ %). Evaluation draws from a forked
RNG, so it never changes the run. One line of JSON per seed.

    .venv/bin/python benchmarks/bench_plateau.py --family gan --data ring --steps 6000 --seeds 100,101,102,103
    .venv/bin/python benchmarks/bench_plateau.py --family gan --data grid --steps 12000 --seeds 100
    .venv/bin/python benchmarks/bench_plateau.py --family gan --data ring --steps 6000 --lr-decay 0 --seeds 100
    .venv/bin/python benchmarks/bench_plateau.py --family diffusion --data ring --steps 20000 --every 2000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch


def curve(family: str, data: str, steps: int, lr_decay: float, seed: int, n: int, every: int) -> dict:
    from modecover.bench.suites import family_model
    from modecover.data.mixtures import MIXTURES
    from modecover.metrics.modes import mode_metrics
    from modecover.models import build_model
    from modecover.plugins import Hooks
    from modecover.train import TrainConfig, seed_everything, train

    mixture = MIXTURES[data]()
    x, _ = mixture.sample(n, seed=seed)
    seed_everything(seed)
    model = build_model(family, {**family_model(family), "data_shape": [2]})
    points = []

    def evaluate(done: int) -> None:
        if done % every == 0 or done == steps:
            with torch.random.fork_rng(devices=[]):
                samples = model.sample(2500).numpy()
            m = mode_metrics(samples, mixture.means, mixture.sigmas)
            points.append([done, m["modes_captured"], round(m["hq_percent"], 1)])

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        train(model, torch.from_numpy(x), Hooks(), TrainConfig(steps=steps, batch_size=256, seed=seed,
              lr_decay=lr_decay, checkpoint_every=0), out, progress=False, on_step=evaluate)
    return {"family": family, "data": data, "seed": seed, "steps": steps, "lr_decay": lr_decay, "n": n,
            "seconds": round(time.perf_counter() - start, 1), "step_modes_hq": points}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=["gan", "vae", "flow", "diffusion"], default="gan")
    parser.add_argument("--data", choices=["ring", "grid"], default="ring")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--lr-decay", type=float, default=0.5)
    parser.add_argument("--seeds", default="100")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--every", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny MLPs: one thread is fastest on this machine
    for seed in (int(s) for s in args.seeds.split(",")):
        print(json.dumps(curve(args.family, args.data, args.steps, args.lr_decay, seed, args.n, args.every)), flush=True)


if __name__ == "__main__":
    main()
