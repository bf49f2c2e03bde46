"""The ``train`` kind: a folder written by ``modecover train`` (config.json, log.csv,
samples/*.png, round<r>/ folders with DMPRA's per-round files, *.ckpt).

The page shows the schedule and the logged losses, the samples, and DMPRA's rounds.
For 2D mixture data it draws samples from the last checkpoint and measures them with the
mode metrics (docs/metrics.md) against the run's own mixture; for 2D mixtures and image
data it says what those samples miss (:mod:`.train_explain`, files in ``RUN/explain/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import plots
from ..labels import label, round_number
from .kinds import RunFolder
from .page import Figures, Page, Section, figure, key_value_table, table
from .readers import read_json, read_number_csv
from .results import ResultsError, format_number
from .sections import add_rounds, captured_and_missed, round_dirs
from .train_explain import (
    MARKER,
    Explained,
    draw_samples,
    explain_images,
    explain_mixture,
    foreign_explanation,
    missed_section,
)

N_EVAL = 2500  # samples drawn from the checkpoint for the mode metrics (the demo's and the benchmark's)
SAMPLE_PLOTS = 4  # at most this many of samples/*.png, evenly spaced, the last included
LOG_FIXED = ("step", "round", "seconds")


@dataclass(frozen=True)
class TrainInfo:
    """What config.json says about the run."""

    family: str
    data: dict
    train: dict
    methods: list[str]


@dataclass
class TrainLog:
    """log.csv: the logged steps, each value's curve and the last row of each round."""

    steps: np.ndarray
    curves: dict[str, np.ndarray]
    round_rows: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class SampleCheck:
    """Samples drawn from a checkpoint of a 2D run and their mode metrics."""

    checkpoint: Path
    samples: np.ndarray
    data: np.ndarray
    real: np.ndarray  # a fresh draw of the mixture, as many points as samples (PRDC's real set)
    means: np.ndarray
    minority: list[int]
    metrics: dict[str, float]
    shares: list[float]


def read_info(folder: Path) -> TrainInfo | None:
    """config.json's model family, data, schedule and methods; None when there is none."""
    path = folder / "config.json"
    if not path.is_file():
        return None
    raw = read_json(path)
    for key in ("data", "model", "train"):
        if not isinstance(raw.get(key), dict):
            raise ResultsError(f"{path}: {key}: expected an object (the [{key}] section), got {raw.get(key)!r}")
    methods = [str(m.get("name")) for m in raw.get("methods") or [] if isinstance(m, dict)]
    return TrainInfo(str(raw["model"].get("family", "?")), raw["data"], raw["train"], methods)


def read_log(path: Path) -> TrainLog | None:
    if not path.is_file():
        return None
    rows = read_number_csv(path)
    if rows and "step" not in rows[0]:
        raise ResultsError(f"{path}: no 'step' column; found {list(rows[0])}")
    steps = np.array([r["step"] for r in rows], dtype=float)
    keys = [k for k in (rows[0] if rows else {}) if k not in LOG_FIXED]
    curves = {k: np.array([np.nan if r[k] is None else r[k] for r in rows], dtype=float) for k in keys}
    last: dict[object, dict] = {}
    for r in rows:
        last[r.get("round")] = r
    return TrainLog(steps, curves, list(last.values()))


def check_samples(folder: Path, info: TrainInfo) -> SampleCheck | str:
    """Sample the last checkpoint of a 2D mixture run and measure it; else say why not."""
    from modecover.data.registry import MIXTURE_SOURCES

    if info.data.get("name") not in MIXTURE_SOURCES:
        return f"{info.data.get('name')} is not 2D mixture data: no mode metrics (modecover evaluate compares " \
               "samples with the data: FID, precision, recall)."
    ckpt = last_checkpoint(folder)
    if ckpt is None:
        return "no final.ckpt or last.ckpt: no samples drawn, no mode metrics."
    return _sample_and_measure(ckpt, info)


def last_checkpoint(folder: Path) -> Path | None:
    return next((folder / n for n in ("final.ckpt", "last.ckpt") if (folder / n).is_file()), None)


def _training_set(info: TrainInfo, where: Path):
    from modecover.data.registry import build_dataset

    try:
        return build_dataset(dict(info.data))
    except (OSError, ValueError) as err:
        raise ResultsError(f"{where / 'config.json'}: [data]: cannot rebuild the training set ({err})") from err


def _sample_and_measure(ckpt: Path, info: TrainInfo) -> SampleCheck:
    from modecover.evaluation.points import evaluate_points

    samples = draw_samples(ckpt, N_EVAL)
    data = _training_set(info, ckpt.parent)
    mixture = data.mixture
    real, _ = mixture.sample(N_EVAL, seed=int(info.data.get("seed", 0)) + 1)
    metrics, shares = evaluate_points(samples, mixture, real)
    return SampleCheck(ckpt, samples, data.x.numpy().astype(np.float64), np.asarray(real, dtype=np.float64),
                       np.asarray(mixture.means), [int(j) for j in mixture.minority], metrics, shares)


def explain_samples(folder: Path, info: TrainInfo, check: SampleCheck | str) -> Explained | str:
    """What the last checkpoint's samples miss (:mod:`.train_explain`), or why there is no account."""
    from modecover.data.registry import IMAGE_SOURCES

    found = foreign_explanation(folder)
    if found is not None:
        return found
    if isinstance(check, SampleCheck):
        return explain_mixture(folder, check.checkpoint, check.samples, check.real, check.means)
    ckpt = last_checkpoint(folder)
    if ckpt is None:
        return "no final.ckpt or last.ckpt: no samples drawn, no account of what they miss."
    if info.data.get("name") not in IMAGE_SOURCES:
        return f"{info.data.get('name')}: neither a 2D mixture nor image data: no account of what the samples miss."
    return explain_images(folder, ckpt, _training_set(info, folder))


def _last_step(log: TrainLog | None) -> int | None:
    return int(log.steps[-1]) if log is not None and len(log.steps) else None


def training_section(folder: Path, info: TrainInfo, log: TrainLog | None, figures: Figures) -> Section:
    """The schedule (config.json) and the logged values per step and per round (log.csv)."""
    section = Section("training", "Training")
    t = info.train
    pairs = [("family", info.family), ("data", f"{info.data.get('name')} ({info.data.get('n')} samples)"
              if "n" in info.data else str(info.data.get("name"))),
             ("methods", ", ".join(info.methods) or "none"), ("steps", str(t.get("steps"))),
             ("batch size", str(t.get("batch_size"))), ("rounds", str(t.get("rounds"))), ("seed", str(t.get("seed")))]
    section.body.append(key_value_table("train-config", pairs))
    if log is None:
        section.note(f"{folder / 'log.csv'}: not found: no loss curves.")
        return section
    if not len(log.steps):
        section.note(f"{folder / 'log.csv'}: no rows yet: no loss curves.")
        return section
    starts = [(round_number(r["round"]), float(r["step"])) for r in log.round_rows[:-1] if r.get("round") is not None]
    path, href = figures.path("loss_curves")
    plots.loss_curves(log.steps, log.curves, starts, path)
    section.body.append(figure(href, "Each logged value against the training step; dotted lines end each round."))
    keys = list(log.curves)
    rows = [[format_number(round_number(r["round"])) if r.get("round") is not None else "\u2014",
             format_number(int(r["step"]))] + [format_number(r.get(k)) for k in keys] for r in log.round_rows]
    section.text("The last logged values of each round:")
    section.body.append(table("losses-table", ["round", "step"] + keys, rows))
    return section


def _sample_pngs(folder: Path) -> list[Path]:
    found = sorted((folder / "samples").glob("*.png"))
    if len(found) <= SAMPLE_PLOTS:
        return found
    picks = np.linspace(0, len(found) - 1, SAMPLE_PLOTS).round().astype(int)
    return [found[i] for i in sorted(set(picks))]


def samples_section(folder: Path, check: SampleCheck | str, figures: Figures) -> Section:
    """The checkpoint's samples and mode metrics (2D), and the run's own sample plots."""
    section = Section("samples", "Samples")
    if isinstance(check, str):
        section.note(check)
    else:
        path, href = figures.path("samples_checkpoint")
        plots.scatter_against_data(check.samples, check.data, check.means, check.minority, path, check.checkpoint.name)
        section.body.append(figure(href, f"{len(check.samples)} samples from {check.checkpoint.name} (blue) over the "
                                         "training data (grey); mode centres as crosses, minority modes in red."))
        path, href = figures.path("mode_shares")
        plots.mode_share_bars(None, {"samples": np.asarray(check.shares)}, check.minority, path)
        section.body.append(figure(href, "Share of high-quality samples per mode. Minority modes in red."))
        section.body.append(key_value_table("train-metrics", [(k, format_number(v)) for k, v in check.metrics.items()]))
    pngs = _sample_pngs(folder)
    if not (folder / "samples").is_dir():
        section.note("no samples/ folder: no sample plots from training.")
    elif not pngs:
        section.note("samples/ holds no PNG: no sample plots from training.")
    for png in pngs:
        section.body.append(figure(figures.copy(png, f"train_{png.stem}"), f"Samples during training: {png.stem}."))
    return section


def rounds_section(folder: Path, figures: Figures) -> Section:
    """DMPRA's per-round projection and scores (round<r>/ folders)."""
    section = Section("perception", "DMPRA rounds")
    rounds = [d for d in round_dirs(folder) if any(d.file(k) for k in ("npz", "png", "csv"))]
    if rounds:
        add_rounds(section, "run", rounds, figures)
    else:
        section.note("no round<r>/ folders with DMPRA files (dmpra_scores.csv, dmpra_scores.npz): this run used no "
                     "DMPRA, so there are no per-round searches to show.")
    return section


def checkpoints_section(folder: Path) -> Section:
    section = Section("checkpoints", "Checkpoints")
    ckpts = sorted(folder.glob("*.ckpt"), key=lambda p: (not p.stem.startswith("round"), p.stem))
    if not ckpts:
        section.note("no *.ckpt files: nothing to sample from or resume.")
        return section
    shown = [f"{p.name} (round {round_number(int(p.stem[5:]))})" if p.stem[5:].isdigit() else p.name for p in ckpts]
    section.text("Checkpoints in the folder: " + ", ".join(shown) + ". Sample one with modecover sample CHECKPOINT.")
    return section


def headline(info: TrainInfo, log: TrainLog | None, check: SampleCheck | str, found: Explained | str = "") -> str:
    """Family, data, steps and rounds; final losses; modes and HQ % of 2D runs; what the samples miss."""
    steps, done = info.train.get("steps"), _last_step(log)
    methods = f" with {', '.join(info.methods)}" if info.methods else ""
    said = [f"A {info.family} model{methods} on {info.data.get('name')}, trained "
            + (f"{done} of {steps} steps" if done is not None and done != steps else f"{steps} steps")
            + f" in {info.train.get('rounds')} round(s)."]
    if log is not None and log.round_rows:
        last = log.round_rows[-1]
        said.append(f"Final logged values (step {int(last['step'])}): "
                    + ", ".join(f"{label(k)} {format_number(last.get(k))}" for k in log.curves) + ".")
    if isinstance(check, SampleCheck):
        m = check.metrics
        minority = (f" and {m['minority_captured']:.0f} of {len(check.minority)} minority modes"
                    if "minority_captured" in m else "")
        said.append(f"{len(check.samples)} samples from {check.checkpoint.name} capture {m['modes']:.0f} of "
                    f"{len(check.means)} modes{minority}; {m['hq_percent']:.1f} % are high-quality.")
    if isinstance(found, Explained) and found.groups.get("sentence"):
        sentence = found.groups["sentence"]
        said.append(sentence[:1].upper() + sentence[1:])
        if isinstance(check, SampleCheck) and found.groups.get("modes") is not None:
            real = (found.groups.get(MARKER) or {}).get("real", "the real set of the explain folder")
            said.append(captured_and_missed(found.groups["k"], real))
    return " ".join(said)


def build(run: RunFolder, figures: Figures) -> Page:
    """The page of a ``modecover train`` folder."""
    folder = run.path
    info = read_info(folder)
    missing = info is None
    if missing:
        kind = read_json(folder / "run.json").get("kind") if (folder / "run.json").is_file() else None
        info = TrainInfo(str(kind or "unknown"), {"name": "unknown data"}, {}, [])
    log = read_log(folder / "log.csv")
    check = check_samples(folder, info)
    found = explain_samples(folder, info, check) if not missing else "no config.json: no samples to explain."
    minority = check.minority if isinstance(check, SampleCheck) else []
    sections = [training_section(folder, info, log, figures), samples_section(folder, check, figures),
                missed_section(folder, found, minority, figures), rounds_section(folder, figures),
                checkpoints_section(folder)]
    if missing:
        sections[0].note("no config.json: the model, data and schedule are unknown.")
    title = f"modecover train: {info.family} on {info.data.get('name')} ({folder.name})"
    return Page(title, headline(info, log, check, found), f"Run folder: {folder}", sections)
