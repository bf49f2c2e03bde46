"""The ``evaluate`` kind: the JSON file ``modecover evaluate --out`` writes, and the
folder of ``--explain DIR`` (real.csv, fake.csv, groups.json, explain.png) when it lies in
the same folder or below it."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from .. import plots
from ..labels import label
from .kinds import RunFolder, explain_folders, explain_label
from .page import Figures, Page, Section, figure, key_value_table, slug
from .readers import load_array, read_groups_json, read_json
from .results import format_number
from .sections import add_explanations, captured_and_missed
from .train_explain import group_tables

MAIN_METRICS = ("precision", "recall", "density", "coverage", "fid", "kid", "is")
NOT_METRICS = ("n_modes", "n_minority")  # describe the data: said in words, not in the table
CONFIG_KEYS = ("real", "fake", "n_real", "n_fake", "extractor", "dim", "k_pr", "k_dc", "boundary", "mixture")


def scalar_metrics(raw: dict) -> dict[str, float]:
    """The JSON's top-level numbers (the metrics), in file order."""
    return {k: v for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and k not in NOT_METRICS}


def metrics_section(raw: dict | None, path: Path | None) -> Section:
    section = Section("metrics", "Metrics")
    if raw is None:
        section.note("no JSON file written by modecover evaluate --out in the folder: no metrics.")
        return section
    section.body.append(key_value_table("evaluate-metrics", [(k, format_number(v))
                                                               for k, v in scalar_metrics(raw).items()]))
    config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    pairs = [(k, str(config[k])) for k in CONFIG_KEYS if config.get(k) is not None]
    if pairs:
        section.text(f"Inputs ({path.name}):")
        section.body.append(key_value_table("evaluate-inputs", pairs))
    return section


def _mode_figure(section: Section, raw: dict, figures: Figures) -> None:
    shares, weights = raw.get("generated_shares"), raw.get("data_shares")
    if not isinstance(shares, list) or not shares:
        section.note("no generated_shares in the JSON (evaluate --mixture adds the 2D mode metrics): no per-mode "
                     "shares.")
        return
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    minority = [int(j) for j in data.get("minority", [])]
    path, href = figures.path("mode_shares")
    plots.mode_share_bars(np.asarray(weights) if isinstance(weights, list) else None,
                          {"fake": np.asarray(shares, dtype=float)}, minority, path)
    section.body.append(figure(href, "Share of high-quality fakes per mode next to the real data's share. "
                                     "Minority modes in red."))


def _scatter(section: Section, folder: Path, raw: dict, figures: Figures) -> None:
    real = load_array(folder / "data.npy", "real samples")
    fake = load_array(folder / "evaluate" / "samples.npy", "fake samples")
    if real is None or fake is None or real.ndim != 2 or real.shape[1] != 2 or fake.ndim != 2 or fake.shape[1] != 2:
        section.note("no 2D data.npy and evaluate/samples.npy beside the JSON (evaluate --example writes them): "
                     "no scatter of the two sets.")
        return
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    means = np.asarray(data["means"]) if data.get("means") else None
    path, href = figures.path("samples_evaluate")
    plots.scatter_against_data(fake, real, means, [int(j) for j in data.get("minority", [])], path, "fake over real")
    section.body.append(figure(href, f"{len(fake)} fake samples (blue) over {len(real)} real samples (grey)."))


def samples_section(folder: Path, raw: dict | None, figures: Figures) -> Section:
    section = Section("samples", "Samples and modes")
    if raw is None:
        section.note("no metrics JSON: no per-mode shares.")
    else:
        _mode_figure(section, raw, figures)
        _scatter(section, folder, raw, figures)
    return section


def missed_section(found: list[Path], figures: Figures, minority: list[int] = ()) -> Section:
    """The sentence and figures of each explain folder, then its largest groups (medoids by
    file name for image folders)."""
    section = Section("missed", "What the fake set missed")
    if found:
        add_explanations(section, [(explain_label(d), d) for d in found], figures)
        for d in found:
            if len(found) > 1:
                section.body.append(f"<h3>{html.escape(explain_label(d))}</h3>")
            group_tables(section, read_groups_json(d / "groups.json"), list(minority),
                         f"-{slug(explain_label(d))}" if len(found) > 1 else "")
    else:
        section.note("no explain folder with groups.json (modecover evaluate --explain DIR) here or in a sub-folder: "
                     "no account of what the fakes missed.")
    return section


def headline(raw: dict | None, found: list[Path]) -> str:
    """The main metrics in words, the modes when measured, and what was missed."""
    said = []
    if raw is not None:
        config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
        main = ", ".join(f"{label(k)} {format_number(raw[k])}" for k in MAIN_METRICS if k in scalar_metrics(raw))
        said.append(f"The fake set ({config.get('fake')}, {config.get('n_fake')} samples) against the real set "
                    f"({config.get('real')}, {config.get('n_real')} samples): {main or 'no main metric'}.")
        if "modes_captured" in raw and "n_modes" in raw:
            minority = (f" and {raw['minority_captured']} of {raw['n_minority']} minority modes"
                        if "minority_captured" in raw and "n_minority" in raw else "")
            said.append(f"It captures {raw['modes_captured']} of {raw['n_modes']} modes{minority}; "
                        f"{format_number(raw.get('hq_percent'))} % of its samples are high-quality.")
    explained = [read_groups_json(d / "groups.json") for d in found]
    for groups in explained:
        sentence = groups.get("sentence")
        if sentence:
            said.append(sentence[:1].upper() + sentence[1:])
    with_modes = [g for g in explained if g.get("modes") is not None]
    if raw is not None and "modes_captured" in raw and with_modes:
        said.append(captured_and_missed(with_modes[0]["k"], "the real set"))
    return " ".join(said) or "No metrics and no explanation found."


def build(run: RunFolder, figures: Figures) -> Page:
    """The page of an evaluate result (metrics JSON and/or explain folder)."""
    folder, path = run.path, run.metrics_file
    raw = read_json(path) if path is not None else None
    found = explain_folders(folder)
    data = raw.get("data") if isinstance(raw, dict) and isinstance(raw.get("data"), dict) else {}
    minority = [int(j) for j in data.get("minority", [])]
    sections = [metrics_section(raw, path), samples_section(folder, raw, figures),
                missed_section(found, figures, minority)]
    name = path.name if path is not None else folder.name
    return Page(f"modecover evaluate: {name}", headline(raw, found), f"Folder: {folder}", sections)
