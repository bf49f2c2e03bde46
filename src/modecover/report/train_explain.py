"""What a trained model's samples miss, on the page of a ``modecover train`` folder.

When the report of a train folder is made, samples of its last checkpoint are explained
(:func:`modecover.explain.explain`, k = 5: the k of the page's coverage; its precision uses k = 3)
and the files of :func:`modecover.evaluation.explain_files.write_explanation` are written to
``RUN/explain/`` (real.csv, fake.csv, groups.json, explain.png; galleries for images):

- 2D mixtures: the page's 2,500 samples (seed 0) against a fresh draw of 2,500 points of
  the run's mixture (the draw the page's PRDC uses), with the mixture's mode means, so each
  missed group is named by its mode. A draw as large as the samples, not the training set:
  against 20,000 training points every real ball is so small (about 5 x 2,500 / 20,000
  fakes in it) that 2,500 perfect samples would leave about half the reals of every mode
  uncovered, every mode on the edge of "missed";
- images: as many samples as training images, at most 2,500 (a seeded subset of the
  training images), compared in pixel space; with labelled data each missed group is named
  by the most common class of its images, and the galleries show them.

Training is not touched: the files are made from the checkpoint, each time the page is
made (the sampling is seeded, so the same checkpoint gives the same files). A folder whose
``explain/groups.json`` another command wrote (the demo, ``evaluate --explain``) is shown
as it is and not overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .page import Figures, Section, table
from .readers import read_groups_json
from .results import ResultsError, format_number
from .sections import add_explanations

N_EXPLAIN = 2500  # samples explained (images: at most the training set's size)
K = 5  # the k of the page's coverage (modecover.metrics.prdc's k_dc; its precision uses k_pr = 3)
MARKER = "explained_samples"  # groups.json key saying the report drew and explained the samples
TABLE_ROWS = 10  # groups shown per table


@dataclass(frozen=True)
class Explained:
    """An explain folder of a train run and what its samples were."""

    directory: Path
    groups: dict
    written_here: bool  # False: another command wrote it; shown as is


def draw_samples(ckpt: Path, n: int) -> np.ndarray:
    """``n`` samples (float64, as the model gives them) of the checkpoint, torch seed 0."""
    import torch

    from modecover.checkpoint import CheckpointError, load_checkpoint
    from modecover.methods.registry import sampling_hooks

    try:
        loaded = load_checkpoint(ckpt)
        hooks = sampling_hooks(loaded)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            return loaded.model.eval().sample(n, hooks).detach().cpu().numpy().astype(np.float64)
    except (CheckpointError, ValueError) as err:
        raise ResultsError(f"{ckpt}: cannot sample the model ({err})") from err


def foreign_explanation(folder: Path) -> Explained | None:
    """``RUN/explain/`` when another command wrote it (its groups.json lacks :data:`MARKER`)."""
    path = folder / "explain" / "groups.json"
    if not path.is_file():
        return None
    groups = read_groups_json(path)
    return None if MARKER in groups else Explained(path.parent, groups, False)


def explain_mixture(folder: Path, ckpt: Path, samples: np.ndarray, real: np.ndarray, means: np.ndarray) -> Explained:
    """The 2D samples against the fresh mixture draw, groups named by mode."""
    from modecover.evaluation.explain_files import write_explanation
    from modecover.explain import explain

    e = explain(real, samples, k=K, modes=means)
    said = {"checkpoint": ckpt.name, "n": len(samples), "seed": 0,
            "real": f"a fresh draw of {len(real)} points of the run's mixture"}
    paths = write_explanation(e, folder / "explain", real, samples, label=f"the model ({ckpt.name})",
                              data_name="points of a fresh mixture draw", extra={MARKER: said})
    return Explained(paths["groups"].parent, read_groups_json(paths["groups"]), True)


def _group_classes(e, labels: np.ndarray) -> list[dict]:
    """Each missed group's most common class and its share of the group's images."""
    out = []
    for g in e.missed_groups:
        counts = np.bincount(labels[g.members])
        out.append({"rank": g.rank, "class": int(counts.argmax()), "class_share": float(counts.max() / g.size)})
    return out


def explain_images(folder: Path, ckpt: Path, data) -> Explained:
    """Image samples against as many training images, in pixel space."""
    from modecover.evaluation.explain_files import write_explanation
    from modecover.explain import explain

    images = data.x.numpy()
    n = min(N_EXPLAIN, len(images))
    pick = np.sort(np.random.default_rng(0).choice(len(images), n, replace=False))
    real_images = images[pick].astype(np.float64)
    fake_images = draw_samples(ckpt, n)
    if fake_images.shape[1:] != real_images.shape[1:]:
        raise ResultsError(f"{ckpt}: samples of shape {fake_images.shape[1:]} but training images of shape "
                           f"{real_images.shape[1:]}: cannot compare them")
    real, fake = real_images.reshape(n, -1), fake_images.reshape(n, -1)
    e = explain(real, fake, k=K)
    said = {"checkpoint": ckpt.name, "n": n, "seed": 0, "real": f"{n} training images (seeded subset), pixels"}
    extra = {MARKER: said}
    if data.labels is not None:
        extra["missed_group_classes"] = _group_classes(e, data.labels.numpy()[pick])
    paths = write_explanation(e, folder / "explain", real, fake, real_images=real_images, fake_images=fake_images,
                              label=f"the model ({ckpt.name})", data_name="training images", extra=extra)
    return Explained(paths["groups"].parent, read_groups_json(paths["groups"]), True)


def _mode_cell(mode, share, minority: list[int]) -> str:
    if mode is None:
        return "\u2014"
    tag = " (minority)" if mode in minority else ""
    return f"{mode}{tag}, {format_number(share)}" if share is not None else f"{mode}{tag}"


def group_tables(section: Section, groups: dict, minority: list[int], suffix: str = "") -> None:
    """The largest missed and off-manifold groups: size, share of its set, the most common
    nearest mode (2D) or class (images) of its members and that share, and its medoid (its
    file name for an image folder's samples, else its row index). ``suffix`` ends the table
    ids (several explain folders on one page)."""
    classes = {c["rank"]: c for c in groups.get("missed_group_classes", [])}
    for kind, name, what in (("missed_groups", "missed group", "uncovered real samples"),
                             ("off_manifold_groups", "off-manifold group", "samples outside every real ball")):
        found = groups.get(kind) or []
        if not found:
            section.text(f"No {name}: no {what}.")
            continue
        total = groups.get(f"n_{kind}", len(found))
        section.text(f"{total} {name}{'s' if total != 1 else ''} of {what}"
                     + (f"; the {TABLE_ROWS} largest:" if total > TABLE_ROWS else ":"))
        rows = []
        for g in found[:TABLE_ROWS]:
            c = classes.get(g["rank"])
            named = (_mode_cell(g.get("mode"), g.get("mode_share"), minority) if c is None
                     else f"class {c['class']}, {format_number(c['class_share'])}")
            rows.append([f"#{g['rank']}", format_number(g["size"]), format_number(g["share"]), named,
                         str(g["medoid_file"]) if g.get("medoid_file") is not None else format_number(g["medoid"])])
        section.body.append(table(name.replace(" ", "-") + "s" + suffix,
                                  ["group", "size", "share", "mode_or_class", "medoid"], rows))


def missed_section(folder: Path, found: Explained | str, minority: list[int], figures: Figures) -> Section:
    """What the samples miss: the sentence, the group tables, the projection and galleries."""
    section = Section("missed", "What the samples miss")
    if isinstance(found, str):
        section.note(found)
        return section
    source = found.groups.get(MARKER)
    if source is None:
        section.text(f"{found.directory}/ was written by another command (groups.json has no {MARKER}); "
                     "shown as it is.")
    else:
        section.text(f"{source['n']} samples of {source['checkpoint']} (seed {source['seed']}) against "
                     f"{source['real']}, k = {found.groups.get('k')}; files in {found.directory}/.")
    add_explanations(section, [("run", found.directory)], figures)
    group_tables(section, found.groups, minority)
    return section
