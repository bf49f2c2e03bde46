"""The demo: a vanilla GAN against the same GAN with DMPRA on an imbalanced 2D ring.

``run_demo(out_dir, DemoConfig())`` builds the ring of 8 modes with 2 minority modes at
1/20 of a common mode's weight (the B2 benchmark's data), trains two runs with the same
converged budget (``steps`` at batch 256, the learning rate decayed over the last half,
split into ``rounds`` rounds for both: DMPRA searches and re-weights between rounds, the
vanilla run just continues), evaluates each after every round (2D mode metrics and PRDC,
docs/metrics.md), writes a RUN_DIR in the layout of ``docs/report.md`` with a headline
that says what happened, and renders ``out_dir/report.html``. One seed is one
trajectory (CPU kernels change it); docs/RESULTS.md has the same comparison over seeds.

Every number of the page comes from one evaluation draw: ``n_eval`` fresh points of the
ring (seed ``seed + 1``) against the run's final ``n_eval`` samples, k = 5. PRDC's coverage
and what each run missed (``<run>/explain/``, :func:`modecover.explain.explain`) are the
same computation, so the coverage of the metrics table, of the explain plot's title and of
``groups.json`` is one number. The headline says both kinds of mode count: *captured*
(a mode with at least one high-quality sample, the mode metrics) and *missed* (a mode
at least half of whose real points no sample covers, the coverage's per-sample facts).

The two runs train in two processes (one torch thread each, :mod:`modecover.parallel`)
when ``jobs >= 2``, one after the other in this process otherwise.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from modecover._checks import positive_int, real_in_range
from modecover.parallel import Task, run_tasks
from modecover.plugins import Plugin

RUN_NAMES = ("gan", "gan+dmpra")


@dataclass(frozen=True)
class DemoConfig:
    steps: int = 12000  # total training steps per run (same budget for both runs)
    rounds: int = 5  # DMPRA rounds (T); the vanilla run is evaluated at the same points
    batch_size: int = 256
    lr_decay: float = 0.5  # share of the steps over which the learning rates decay to 0
    n_train: int = 5_000
    n_eval: int = 2500
    minority_ratio: float = 1 / 20  # a minority mode's weight / a common mode's weight
    seed: int = 0
    jobs: int = 2  # processes; 1 trains the runs one after the other

    def __post_init__(self):
        for name in ("steps", "rounds", "batch_size", "n_train", "n_eval", "jobs"):
            positive_int(getattr(self, name), f"DemoConfig.{name}")
        if self.steps < self.rounds:
            raise ValueError(f"DemoConfig.steps ({self.steps}) must be at least rounds ({self.rounds})")
        real_in_range(self.minority_ratio, "DemoConfig.minority_ratio", 0, 1, low_open=True)


def _demo_mixture(config: DemoConfig):
    from modecover.data.mixtures import imbalanced_ring

    return imbalanced_ring(ratio=config.minority_ratio)


class RoundEvaluator(Plugin):
    """A plug-in that evaluates the model at the end of every round (2D mode metrics, PRDC).

    It records the metric curve the report draws across rounds; it adds nothing to training:
    it samples :func:`modecover.train.aside_from_training`, so each demo run trains what
    ``modecover train`` of its config (:func:`run_config`) trains.
    """

    name = "round_evaluator"

    def __init__(self, mixture, real_eval: np.ndarray, n_eval: int):
        self.mixture, self.real_eval, self.n_eval = mixture, real_eval, n_eval
        self.rounds: list[dict] = []
        self.last_samples: np.ndarray | None = None
        self.last_shares: list[float] | None = None

    def on_round_end(self, model, data, round_index, out_dir=None) -> None:
        from modecover.evaluation.points import evaluate_points
        from modecover.train import aside_from_training

        with aside_from_training(model):
            self.last_samples = model.sample(self.n_eval).detach().cpu().numpy().astype(np.float64)
        metrics, self.last_shares = evaluate_points(self.last_samples, self.mixture, self.real_eval)
        record = {"round": round_index + 1, "metrics": metrics}
        self.rounds.append(record)


def run_config(run_name: str, config: DemoConfig):
    """The :class:`modecover.config.RunConfig` of one demo run (``gan`` or ``gan+dmpra``):
    the imbalanced ring, the default GAN, DMPRA or nothing, the demo's schedule."""
    from modecover.config import ModelSpec, RunConfig
    from modecover.data.registry import DataConfig
    from modecover.methods.registry import method_entry
    from modecover.train import TrainConfig

    mixture = _demo_mixture(config)
    data = DataConfig("ring", n=config.n_train, seed=config.seed, minority=[int(j) for j in mixture.minority],
                      ratio=config.minority_ratio)
    train = TrainConfig(steps=config.steps, batch_size=config.batch_size, rounds=config.rounds, seed=config.seed,
                        lr_decay=config.lr_decay, checkpoint_every=config.steps)
    methods = [method_entry("dmpra", {})] if run_name == "gan+dmpra" else []
    return RunConfig(data, ModelSpec("gan", shape_from_data=True), methods, train)


def evaluation_draw(config: DemoConfig) -> np.ndarray:
    """The real set of every evaluation (float64): ``n_eval`` fresh points of the ring,
    seed ``seed + 1`` (the training set is seed ``seed``)."""
    real, _ = _demo_mixture(config).sample(config.n_eval, seed=config.seed + 1)
    return np.asarray(real, dtype=np.float64)


def train_and_evaluate(run_name: str, config: DemoConfig, run_dir: Path, report: Callable[[int], None]) -> dict:
    """Train one run of the demo (``gan`` or ``gan+dmpra``) and return its results entry;
    ``report(steps_done)`` every 25 steps."""
    from modecover.config import Run

    mixture = _demo_mixture(config)
    real_eval = evaluation_draw(config)
    evaluator = RoundEvaluator(mixture, real_eval, config.n_eval)
    # evaluate each round before DMPRA re-weighs
    run = Run.from_config(run_config(run_name, config), plugins=[evaluator])
    out = Path(run_dir) / run_name
    run.train(out, progress=False, on_step=lambda done: done % 25 == 0 and report(done))
    np.save(out / "samples.npy", evaluator.last_samples)
    flag_counts = [count for plugin in run.hooks.plugins for count in getattr(plugin, "flag_counts", [])]
    for record, n_minority in zip(evaluator.rounds[1:], flag_counts):
        record["n_minority"] = int(n_minority)
    return {"metrics": evaluator.rounds[-1]["metrics"], "per_mode_share": evaluator.last_shares,
            "rounds": evaluator.rounds, "samples": f"{run_name}/samples.npy"}


def _train_all(config: DemoConfig, run_dir: Path, show_progress: bool) -> dict[str, dict]:
    """Train every run (in parallel processes when jobs >= 2) with a progress display."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tasks = [Task(name, partial(train_and_evaluate, name, config, run_dir)) for name in RUN_NAMES]
    with Progress(TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not show_progress) as progress:
        bars = {name: progress.add_task(name, total=config.steps) for name in RUN_NAMES}
        return run_tasks(tasks, config.jobs,
                         on_progress=lambda name, done: progress.update(bars[name], completed=done),
                         on_done=lambda name, result: progress.update(bars[name], completed=config.steps))


def _missed_by_coverage(summary: dict) -> str:
    """``by coverage it missed mode 6 (457 of its 610 real points uncovered)`` from a groups.json."""
    from modecover.report.sections import listed

    missed = [m for m in summary["modes"] if m["missed"]]
    if not missed:
        return (f"by coverage it missed no mode ({summary['n_uncovered']} of {summary['n_real']} real points "
                "uncovered)")
    uncovered, total = sum(m["n_uncovered"] for m in missed), sum(m["n_real"] for m in missed)
    modes = listed([str(m["mode"]) for m in missed])
    return (f"by coverage it missed mode{'s' if len(missed) > 1 else ''} {modes} ({uncovered} of "
            f"{'its' if len(missed) == 1 else 'their'} {total} real points uncovered)")


def headline(runs: dict[str, dict], minority: list[int], seed: int, explained: dict[str, dict] | None = None,
             n_eval: int | None = None) -> str:
    """One paragraph: modes, minority modes and HQ % of both runs, the modes each missed by
    coverage (``explained``: each run's groups.json), what both words mean, and the verdict."""
    from modecover.report.sections import captured_and_missed

    said = []
    for name, label in (("gan", "The plain GAN"), ("gan+dmpra", "GAN + DMPRA")):
        m = runs[name]["metrics"]
        missed = f"; {_missed_by_coverage(explained[name])}" if explained else ""
        said.append(f"{label} captured {m['modes']:.0f} of 8 modes and {m['minority_captured']:.0f} of "
                    f"{len(minority)} minority modes, {m['hq_percent']:.1f} % of its samples high-quality{missed}.")
    if explained:
        k = explained[RUN_NAMES[0]]["k"]
        said.append(captured_and_missed(k, f"a fresh draw of {n_eval} points of the ring, the metrics' real set"))
    plain, dmpra = (runs[n]["metrics"]["minority_captured"] for n in RUN_NAMES)
    verdict = ("DMPRA recovered more minority modes" if dmpra > plain
               else "DMPRA recovered no more minority modes than the plain GAN" if dmpra == plain
               else "DMPRA recovered fewer minority modes than the plain GAN")
    return (" ".join(said) + f" On this seed ({seed}), {verdict}. One seed is one training trajectory, "
            "which CPU kernels change from machine to machine: docs/RESULTS.md gives the same comparison "
            "over 10 seeds.")


def explain_runs(out_dir: Path, real: np.ndarray, mixture, seed: int = 1) -> dict[str, dict]:
    """Each run's final samples against ``real``, the evaluation draw the metrics used (k = 5,
    PRDC's: the same coverage): ``<run>/explain/`` with the missed and off-manifold groups
    (modecover.explain.explain), which the report's "What each run missed" section reads.
    Returns each run's groups.json content."""
    from modecover.evaluation.explain_files import write_explanation
    from modecover.explain import explain

    labels = {"gan": "the plain GAN", "gan+dmpra": "GAN + DMPRA"}
    said = {"real": f"a fresh draw of {len(real)} points of the mixture (seed {seed}), the real set of the "
                    "metrics' precision, recall, density and coverage"}
    out = {}
    for name in RUN_NAMES:
        samples = np.load(out_dir / name / "samples.npy")
        e = explain(real, samples, k=5, modes=mixture.means)
        paths = write_explanation(e, out_dir / name / "explain", real, samples, label=labels[name],
                                  data_name="points of a fresh mixture draw", extra=said)
        out[name] = json.loads(paths["groups"].read_text())
    return out


def run_demo(out_dir: str | Path, config: DemoConfig = DemoConfig(), show_progress: bool = True) -> Path:
    """Train both runs, write ``out_dir/results.json`` (docs/report.md) and ``out_dir/report.html``."""
    from modecover.dmpra.audit import audit
    from modecover.report import write_report

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mixture = _demo_mixture(config)
    data, _ = mixture.sample(config.n_train, seed=config.seed)
    np.save(out_dir / "data.npy", np.asarray(data, dtype=np.float64))
    start = time.perf_counter()
    runs = _train_all(config, out_dir, show_progress)
    # Which training points are rare? After training: the search's threaded matrix products
    # must not run in this process before it forks the training processes.
    audit(data, out_dir / "audit", source="demo training data")
    explained = explain_runs(out_dir, evaluation_draw(config), mixture, config.seed + 1)
    results = {
        "title": f"modecover demo: GAN vs GAN + DMPRA on an imbalanced ring ({config.steps} steps each)",
        "headline": headline(runs, [int(j) for j in mixture.minority], config.seed, explained, config.n_eval),
        "data": {"name": f"ring of 8, modes {list(map(int, mixture.minority))} at {config.minority_ratio:g} weight",
                 "means": np.asarray(mixture.means).tolist(), "weights": np.asarray(mixture.weights).tolist(),
                 "minority": [int(j) for j in mixture.minority], "samples": "data.npy"},
        "config": asdict(config) | {"train_seconds": round(time.perf_counter() - start, 1)},
        "runs": {name: runs[name] for name in RUN_NAMES},
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    return write_report(out_dir, out_dir / "report.html")
