"""Sections more than one kind of run folder shows: DMPRA's rounds, a data audit, and
what a set of samples missed (``evaluate --explain`` files).

Rounds are numbered 1..T: a ``round_<r>`` folder is round r as written; the trainer's
``round<r>`` folders count from 0 and show as round r + 1.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import plots
from .page import Figures, Section, figure, slug, table
from .readers import read_groups_json, read_projection, read_scores_csv
from .results import format_number

AUDIT_TOP_ROWS = 20

# Accepted names of a round's files: the generic layout, then what the DMPRA plug-in writes.
ROUND_FILES = {"npz": ("perception.npz", "dmpra_scores.npz"), "png": ("perception.png", "dmpra_perception.png"),
               "csv": ("scores.csv", "dmpra_scores.csv")}


@dataclass(frozen=True)
class RoundDir:
    """One DMPRA round folder and its 1-based round number."""

    number: int
    path: Path

    def file(self, kind: str) -> Path | None:
        """The round's file of ``kind`` (npz, png, csv) under any accepted name, else None."""
        return next((self.path / n for n in ROUND_FILES[kind] if (self.path / n).is_file()), None)


def round_dirs(base: Path) -> list[RoundDir]:
    """``round_<r>`` (numbered from 1) and ``round<r>`` (the trainer's, from 0) folders in ``base``."""
    if not base.is_dir():
        return []
    found = []
    for child in base.iterdir():
        match = re.fullmatch(r"round(_?)(\d+)", child.name)
        if match and child.is_dir():
            r = int(match.group(2))
            found.append(RoundDir(r if match.group(1) else r + 1, child))
    return sorted(found, key=lambda d: d.number)


def _round_figure(section: Section, run: str, d: RoundDir, figures: Figures) -> None:
    npz, png = d.file("npz"), d.file("png")
    if npz is not None:
        proj, minority = read_projection(npz)
        path, href = figures.path(f"perception_{run}_round{d.number}")
        plots.perception_projection(proj, minority, path, f"{run}, round {d.number}")
        section.body.append(figure(href, f"Round {d.number}: {int(minority.sum())} of {len(minority)} samples "
                                         "flagged minority (red)."))
    elif png is not None:
        section.body.append(figure(figures.copy(png, f"perception_{run}_round{d.number}"),
                                   f"Round {d.number} ({png.name} from the run)."))
    else:
        section.note(f"{d.path}: no perception.npz, dmpra_scores.npz or perception.png; no projection for "
                     f"round {d.number}.")


def _round_row(d: RoundDir) -> list[str] | None:
    csv_path = d.file("csv")
    if csv_path is None:
        return None
    s = read_scores_csv(csv_path)
    return [str(d.number), format_number(len(s["index"])), format_number(int(s["minority"].sum())),
            format_number(float(s["score"].max()) if len(s["score"]) else None),
            format_number(float(s["weight"].max()) if len(s["weight"]) else None)]


def add_rounds(section: Section, run: str, rounds: list[RoundDir], figures: Figures) -> None:
    """Per round: the perception-space projection (minority in red) and a table of the scores."""
    rows = []
    for d in rounds:
        _round_figure(section, run, d, figures)
        row = _round_row(d)
        if row is not None:
            rows.append(row)
    if rows:
        section.body.append(table(f"scores-{slug(run)}", ["round", "n", "n_minority", "max_score", "max_weight"], rows))


def add_audit(section: Section, audit_dir: Path, figures: Figures) -> bool:
    """A data audit's figure (gallery.png, else audit.png) and its highest scores (audit.csv).
    Returns False (and adds nothing) when the folder holds none of them."""
    gallery, projection, scores = audit_dir / "gallery.png", audit_dir / "audit.png", audit_dir / "audit.csv"
    if not any(p.is_file() for p in (gallery, projection, scores)):
        return False
    if gallery.is_file():
        section.body.append(figure(figures.copy(gallery, "audit_gallery"),
                                   "The most isolated samples, the search's minority candidates (gallery.png)."))
    if projection.is_file():
        section.body.append(figure(figures.copy(projection, "audit_projection"),
                                   "The data in 2D (PCA beyond two features), flagged samples in red (audit.png)."))
    if not gallery.is_file() and not projection.is_file():
        section.note(f"{audit_dir}: no gallery.png or audit.png: no audit figure.")
    if scores.is_file():
        add_top_scores(section, read_scores_csv(scores))
    else:
        section.note(f"{audit_dir}: no audit.csv: no table of scores.")
    return True


def add_top_scores(section: Section, s: dict[str, np.ndarray]) -> None:
    """The ``AUDIT_TOP_ROWS`` highest scores (ties by index), flagged rows highlighted."""
    order = np.lexsort((s["index"], -s["score"]))[:AUDIT_TOP_ROWS]
    section.text(f"{int(s['minority'].sum())} of {len(s['index'])} samples flagged minority; "
                 f"the {len(order)} highest scores:")
    key = "file" if any(not k.isdigit() for k in s["key"][order]) else "index"
    rows = [[str(s["key"][i]), format_number(float(s["score"][i])), "yes" if s["minority"][i] else "no",
             format_number(float(s["weight"][i]))] for i in order]
    classes = ["minority" if s["minority"][i] else "" for i in order]
    section.body.append(table("audit-table", [key, "score", "minority", "weight"], rows, classes))


EXPLAIN_FIGURES = (("explain.png", "uncovered real samples in red, the largest missed groups circled"),
                   ("missed_0.png", "the largest missed group"))


HQ_SIGMAS = 3  # a high-quality sample lies within this many sigmas of its mode (mode_metrics' n_sigma)


def listed(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def captured_and_missed(k: int, real: str) -> str:
    """The sentence of a headline that says both how many modes were *captured* (mode
    metrics) and which were *missed* (coverage): what each word counts, so that the two
    never read as a contradiction. ``real``: the real points the coverage counted."""
    return (f"A mode is captured when at least one sample is high-quality there (within {HQ_SIGMAS} standard "
            f"deviations of its mean), and missed when at least half of its real points ({real}) have no sample "
            f"within their {k}-nearest-neighbour radius (coverage, k = {k}), so a captured mode can still be missed "
            "when the model draws it far less often than the data holds it.")


MISSED_MEANS = ("A real sample is uncovered when no generated sample falls within its k-nearest-neighbour radius "
                "(the coverage metric); a mode is missed when at least half of its real samples are uncovered. "
                "A mode can be captured (some high-quality samples near it) and still missed in this sense, "
                "when the model draws it far less often than the data holds it.")


def add_explanations(section: Section, found: list[tuple[str, Path]], figures: Figures) -> None:
    """What each set of samples missed: the sentence of each ``groups.json`` (one per
    ``(label, folder)``), its projection with the missed groups circled and, for images, the
    largest missed group."""
    from modecover.explain import describe_missed

    said = []
    for name, directory in found:
        groups = read_groups_json(directory / "groups.json")
        said.append(groups.get("sentence") or describe_missed(groups, name))
    section.body.append("<p>" + " ".join(html.escape(s) for s in said) + "</p>")
    section.body.append(f"<p>{html.escape(MISSED_MEANS)}</p>")
    for name, directory in found:
        for file, caption in EXPLAIN_FIGURES:
            if (directory / file).is_file():
                href = figures.copy(directory / file, f"explain_{name}_{Path(file).stem}")
                section.body.append(figure(href, f"{name}: {caption}."))
