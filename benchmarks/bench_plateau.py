"""Where does each model family's quality plateau? 2D mixtures and digits (docs/training.md, "Converged 2D recipe")

Trains one family with the B2 benchmark's settings (``modecover.bench.suites.family_model``:
the GAN is an MLP 128 x 3, latent 8, Adam 1e-3, non-saturating on the ring and with the
hinge loss on the grid) with the trainer at batch
256 on ``--n`` points of the balanced ring or grid, the learning rates decayed linearly
over the last ``--lr-decay`` share of the steps, and evaluates 2,500 samples every
``--every`` steps (2D mode metrics: modes captured, HQ %). Evaluation draws from a forked
RNG, so it never changes the run. ``--data digits`` trains B3's DCGAN or conv VAE
(``modecover.bench.suites.digits_model``) on the balanced 8x8 digits in [-1, 1] at
``--batch-size`` (B3: 64) and evaluates 1,000 samples by FID and coverage in the digits
judge's feature space (``modecover.bench.digits``); ``--data mnist-5k`` B4's 28x28 models (``mnist_model``)
on the balanced 5,000 28x28 MNIST digits, 2,000 samples judged by the MNIST judge. One line
of JSON per seed.

    .venv/bin/python benchmarks/bench_plateau.py --family gan --data ring --steps 6000 --seeds 100,101,102,103
    .venv/bin/python benchmarks/bench_plateau.py --family gan --data grid --steps 20000 --every 2000 --seeds 100
    .venv/bin/python benchmarks/bench_plateau.py --family gan --data ring --steps 6000 --lr-decay 0 --seeds 100
    .venv/bin/python benchmarks/bench_plateau.py --family diffusion --data ring --steps 20000 --every 2000
    .venv/bin/python benchmarks/bench_plateau.py --family gan --data digits --steps 12000 --batch-size 64 --lr-decay 0
    .venv/bin/python benchmarks/bench_plateau.py --family vae --data mnist-5k --steps 30000 --every 2000 --batch-size 64
    .venv/bin/python benchmarks/bench_plateau.py --family flow --steps 40000 --every 4000 --model '{"lr": 3e-3}'
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch


def mixture_setup(family: str, data: str, seed: int, n: int, changes: dict):
    """(training points, model, quality of samples: [modes captured, HQ %]) on a 2D mixture."""
    from modecover.bench.suites import family_model
    from modecover.data.mixtures import MIXTURES
    from modecover.metrics.modes import mode_metrics
    from modecover.models import build_model
    from modecover.train import seed_everything

    mixture = MIXTURES[data]()
    x, _ = mixture.sample(n, seed=seed)
    seed_everything(seed)
    model = build_model(family, {**family_model(family, data), **changes, "data_shape": [2]})

    def quality(model) -> list:
        m = mode_metrics(model.sample(2500).numpy(), mixture.means, mixture.sigmas)
        return [m["modes_captured"], round(m["hq_percent"], 1)]

    return torch.from_numpy(x), model, quality


DIGITS_SAMPLES = {"digits": 1000, "mnist-5k": 2000}  # B3's and B4's n_eval


def digits_setup(family: str, seed: int, changes: dict, data: str = "digits"):
    """(balanced digits of ``data`` (digits, mnist-5k) in [-1, 1], B3's model, quality of
    samples: [judge FID, coverage])."""
    from modecover.bench.digits import judge_for
    from modecover.bench.suites import digits_model, mnist_model
    from modecover.data import load_digits
    from modecover.data.datasets import load_mnist_5k
    from modecover.metrics.fid import fid
    from modecover.metrics.prdc import prdc
    from modecover.models import build_model
    from modecover.train import seed_everything

    x, _ = load_digits(scale="symmetric") if data == "digits" else load_mnist_5k(scale="symmetric")
    judge = judge_for(data)
    real = judge.features(x.numpy())
    seed_everything(seed)
    settings = digits_model(family) if data == "digits" else mnist_model(family)
    model = build_model(family, {**settings, **changes, "data_shape": list(x.shape[1:])})

    def quality(model) -> list:
        fake = judge.features(model.sample(DIGITS_SAMPLES[data]).numpy())
        return [round(fid(real, fake), 3), round(prdc(real, fake)["coverage"], 3)]

    return x.float(), model, quality


def curve(family: str, data: str, steps: int, lr_decay: float, seed: int, n: int, every: int,
          batch_size: int = 256, changes: dict | None = None) -> dict:
    from modecover.plugins import Hooks
    from modecover.train import TrainConfig, train

    changes = changes or {}
    x, model, quality = (digits_setup(family, seed, changes, data) if data in DIGITS_SAMPLES
                         else mixture_setup(family, data, seed, n, changes))
    points = []

    def evaluate(done: int) -> None:
        if done % every == 0 or done == steps:
            with torch.random.fork_rng(devices=[]):
                points.append([done, *quality(model)])

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        train(model, x, Hooks(), TrainConfig(steps=steps, batch_size=batch_size, seed=seed,
              lr_decay=lr_decay, checkpoint_every=0), out, progress=False, on_step=evaluate)
    measured = "step_fid_coverage" if data in DIGITS_SAMPLES else "step_modes_hq"
    return {"family": family, "data": data, "seed": seed, "steps": steps, "batch_size": batch_size,
            "lr_decay": lr_decay, "n": len(x), "model_changes": changes,
            "seconds": round(time.perf_counter() - start, 1), measured: points}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=["gan", "vae", "flow", "diffusion"], default="gan")
    parser.add_argument("--data", choices=["ring", "grid", "digits", "mnist-5k"], default="ring")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--lr-decay", type=float, default=0.5)
    parser.add_argument("--seeds", default="100")
    parser.add_argument("--n", type=int, default=5000, help="training points of a 2D mixture")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--model", type=json.loads, default={},
                        help='model settings changed from the benchmark\'s, as JSON, e.g. \'{"lr": 3e-3}\'')
    args = parser.parse_args()
    if args.data in DIGITS_SAMPLES and args.family not in ("gan", "vae"):
        parser.error(f"--data {args.data}: B3 and B4 train the gan and the vae families")
    torch.set_num_threads(1)  # small models: one thread is fastest on this machine
    for seed in (int(s) for s in args.seeds.split(",")):
        print(json.dumps(curve(args.family, args.data, args.steps, args.lr_decay, seed, args.n, args.every,
                               args.batch_size, args.model)), flush=True)


if __name__ == "__main__":
    main()
