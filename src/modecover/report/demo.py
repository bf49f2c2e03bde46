"""The ``demo`` kind: a folder holding ``results.json`` (``modecover demo`` writes one;
layout in docs/report.md) with its runs' metrics, rounds, mode shares, samples, what each
run missed, DMPRA's rounds and the data audit."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from .. import plots
from ..labels import label
from .page import Figures, Page, Section, figure, table
from .readers import load_array
from .results import Results, ResultsError, format_number, load_results
from .sections import add_audit, add_explanations, add_rounds, round_dirs


def _run_column(name: str) -> tuple[str, str]:
    return name, name  # a run's name is shown as written


def metrics_section(results: Results) -> Section:
    """Final metrics: one row per run, one column per metric (union over runs)."""
    section = Section("metrics", "Metrics")
    names = list(dict.fromkeys(m for run in results.runs.values() for m in run.metrics))
    if not results.runs:
        section.note("results.json lists no runs.")
        return section
    if not names:
        section.note("No run has final metrics (runs.<run>.metrics is empty or absent).")
        return section
    rows = [[run.name] + [format_number(run.metrics.get(m)) for m in names] for run in results.runs.values()]
    section.body.append(table("metrics-table", ["run"] + names, rows))
    return section


def rounds_section(results: Results, figures: Figures) -> Section:
    """Metrics across DMPRA rounds: curves and a table (run, round, n_minority, metrics)."""
    section = Section("rounds", "Metrics across rounds")
    runs = [run for run in results.runs.values() if run.rounds]
    if not runs:
        section.note("No run lists rounds (runs.<run>.rounds); no curves across rounds.")
        return section
    names = list(dict.fromkeys(m for run in runs for r in run.rounds for m in r.metrics))
    if names:
        path, href = figures.path("round_curves")
        plots.round_curves({run.name: {r.round: r.metrics for r in run.rounds} for run in runs}, path)
        section.body.append(figure(href, "Each metric after each round, one line per run."))
    rows = [[run.name, format_number(r.round), format_number(r.n_minority)]
            + [format_number(r.metrics.get(m)) for m in names]
            for run in runs for r in run.rounds]
    section.body.append(table("rounds-table", ["run", "round", "n_minority"] + names, rows))
    return section


def mode_share_section(results: Results, figures: Figures) -> Section:
    """Per-mode share of generated samples next to the data's mode weights."""
    section = Section("modes", "Per-mode shares")
    shares = {run.name: np.asarray(run.per_mode_share) for run in results.runs.values()
              if run.per_mode_share is not None}
    if not shares:
        section.note("No run has per_mode_share: no per-mode shares.")
        return section
    lengths = {name: len(s) for name, s in shares.items()}
    if len(set(lengths.values())) > 1:
        raise ResultsError(f"results.json: runs.*.per_mode_share: runs disagree on the number of modes {lengths}")
    weights, minority = results.data.weights, set(results.data.minority)
    path, href = figures.path("mode_shares")
    plots.mode_share_bars(np.asarray(weights) if weights is not None else None, shares, results.data.minority, path)
    section.body.append(figure(href, "Share of generated samples per mode (data: the mixture's weights). "
                                     "Minority modes in red."))
    header = ["mode"] + (["data"] if weights is not None else []) + [_run_column(n) for n in shares]
    rows, classes = [], []
    for j in range(next(iter(lengths.values()))):
        rows.append([f"{j} (minority)" if j in minority else str(j)] + ([format_number(weights[j])] if weights else [])
                    + [format_number(s[j].item()) for s in shares.values()])
        classes.append("minority" if j in minority else "")
    section.body.append(table("modes-table", header, rows, classes))
    return section


def _data_points(results: Results, run_dir: Path, section: Section) -> np.ndarray | None:
    relative = results.data.samples or "data.npy"
    data = load_array(run_dir / relative, "training data")
    if data is not None and (data.ndim != 2 or data.shape[1] != 2):
        data = None  # only 2D data is drawn under the scatter; images are not overlaid
    if data is None:
        section.note(f"{relative} not found or not 2D: samples are drawn without the data.")
    return data


def samples_section(results: Results, run_dir: Path, figures: Figures) -> Section:
    """Generated samples per run: 2D scatter against the data, or an image grid."""
    section = Section("samples", "Samples")
    data = _data_points(results, run_dir, section)
    means = results.data.means
    means = np.asarray(means) if means is not None and len(means[0]) == 2 else None
    for run in results.runs.values():
        relative = run.samples or f"{run.name}/samples.npy"
        samples = load_array(run_dir / relative, f"samples of run {run.name!r}")
        if samples is None:
            section.note(f"Run {run.name}: {relative} not found; no samples shown.")
        elif samples.ndim == 2 and samples.shape[1] == 2:
            path, href = figures.path(f"samples_{run.name}")
            plots.scatter_against_data(samples, data, means, results.data.minority, path, run.name)
            shown = min(len(samples), plots.MAX_SCATTER_POINTS)
            extra = f" ({shown} of {len(samples)} drawn, random subset)" if shown < len(samples) else ""
            section.body.append(figure(href, f"{run.name}: {len(samples)} generated samples (blue) over the data "
                                             f"(grey){extra}."))
        elif (samples.ndim == 4 and samples.shape[1] in (1, 3)) or samples.ndim == 3:
            path, href = figures.path(f"samples_{run.name}")
            plots.image_grid(samples, path, run.name)
            section.body.append(figure(href, f"{run.name}: first {min(64, len(samples))} of {len(samples)} samples."))
        else:
            section.note(f"Run {run.name}: samples of shape {samples.shape} are neither 2D points nor images "
                         "(N,C,H,W); not drawn.")
    return section


def explain_section(results: Results, run_dir: Path, figures: Figures) -> Section:
    """What each run missed (``<run>/explain/groups.json``)."""
    section = Section("missed", "What each run missed")
    found = [(run.name, run_dir / run.name / "explain") for run in results.runs.values()
             if (run_dir / run.name / "explain" / "groups.json").is_file()]
    if found:
        add_explanations(section, found, figures)
    else:
        section.note("No <run>/explain/groups.json (modecover evaluate --explain): no account of what each run missed.")
    return section


def perception_section(results: Results, run_dir: Path, figures: Figures) -> Section:
    """Per run and DMPRA round: the perception-space projection with minority samples marked."""
    section = Section("perception", "Perception space per round")
    any_round = False
    for run in results.runs.values():
        rounds = round_dirs(run_dir / run.name)
        if rounds:
            any_round = True
            section.body.append(f"<h3>{html.escape(run.name)}</h3>")
            add_rounds(section, run.name, rounds, figures)
    if not any_round:
        section.note("No <run>/round_<r>/ folders: no DMPRA rounds to show.")
    return section


def audit_section(run_dir: Path, figures: Figures) -> Section:
    """The data audit of ``RUN_DIR/audit/``."""
    section = Section("audit", "Data audit")
    if not add_audit(section, run_dir / "audit", figures):
        section.note("No audit/ folder with gallery.png, audit.png or audit.csv: no data audit.")
    return section


def headline(results: Results) -> str:
    """results.json's own headline, else the first metrics of each run in words."""
    if results.headline:
        return results.headline
    said = []
    for run in results.runs.values():
        shown = ", ".join(f"{label(m)} {format_number(v)}" for m, v in list(run.metrics.items())[:4])
        said.append(f"{run.name}: {shown or 'no final metrics'}")
    return f"{len(results.runs)} run(s) on {results.data.name}. " + ("; ".join(said) + "." if said else "")


def build(run_dir: Path, figures: Figures) -> Page:
    """The page of a folder holding ``results.json``."""
    results = load_results(run_dir / "results.json")
    sections = [metrics_section(results), rounds_section(results, figures), mode_share_section(results, figures),
                samples_section(results, run_dir, figures), explain_section(results, run_dir, figures),
                perception_section(results, run_dir, figures), audit_section(run_dir, figures)]
    subtitle = f"Data: {results.data.name}; runs: {', '.join(results.runs) or 'none'}"
    return Page(results.title, headline(results), subtitle, sections)
