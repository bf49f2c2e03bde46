"""Render a run directory into one static HTML page plus PNG figures.

The page is self-contained for offline viewing: inline CSS, no JavaScript, no external
URL; figures are PNG files in ``<page stem>_files/`` next to the page, referenced by
relative paths. Input layout and number formatting: ``docs/report.md``.

Each section is built by its own small function from :class:`~.results.Results` and
the run directory; a section whose input files are absent becomes a short note, never
an error. Files that are present but malformed raise :class:`~.results.ResultsError`
naming the file.
"""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import plots
from .results import Results, ResultsError, format_number, load_results

SCORES_COLUMNS = ("index", "score", "minority", "weight")
AUDIT_TOP_ROWS = 20

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em} h3{font-size:1.05em}
table{border-collapse:collapse;margin:.6em 0 1em} th,td{border:1px solid #ccc;padding:.25em .6em} td{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3} td.name{text-align:left} tr.minority td{background:#fdecea}
figure{display:inline-block;margin:.4em 1em .8em 0;vertical-align:top} figcaption{font-size:.85em;color:#555;max-width:28em}
img{max-width:100%} p.note{color:#8a6d3b;background:#fcf8e3;padding:.4em .7em;border-left:3px solid #e5c07b}
nav a{margin-right:1em} p.headline{font-size:1.05em;background:#eef5fb;padding:.6em .9em;border-left:4px solid #4a90c2}
"""


@dataclass
class Section:
    """One ``<section>`` of the page: an anchor id, a heading and its HTML body."""

    id: str
    title: str
    body: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.body.append(f'<p class="note">{html.escape(text)}</p>')

    def render(self) -> str:
        return f'<section id="{self.id}">\n<h2>{html.escape(self.title)}</h2>\n' + "\n".join(self.body) + "\n</section>"


@dataclass
class Figures:
    """Where figures go and how the page refers to them (``<stem>_files/<name>.png``)."""

    directory: Path
    href_prefix: str
    count: int = 0

    def path(self, label: str) -> tuple[Path, str]:
        self.count += 1
        name = f"{self.count:02d}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)[:60]}.png"
        return self.directory / name, f"{self.href_prefix}/{name}"


def _figure(href: str, caption: str) -> str:
    alt = html.escape(caption, quote=True)
    return f'<figure><img src="{html.escape(href, quote=True)}" alt="{alt}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def _table(table_id: str, header: list[str], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    """An HTML table; cells are given as already-formatted text and escaped here."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    lines = [f'<table id="{table_id}">', f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = f'<td class="name">{html.escape(row[0])}</td>' + "".join(f"<td>{html.escape(c)}</td>" for c in row[1:])
        lines.append(f"<tr{cls}>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _load_array(run_dir: Path, relative: str, what: str) -> np.ndarray | None:
    path = (run_dir / relative)
    if not path.is_file():
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as err:  # numpy raises several types for a bad file
        raise ResultsError(f"{path}: cannot read {what} as a .npy array ({err})") from err
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise ResultsError(f"{path}: {what} must be numeric, got dtype {arr.dtype}")
    if arr.size and not np.isfinite(arr).all():
        raise ResultsError(f"{path}: {what} holds {int((~np.isfinite(arr)).sum())} non-finite value(s)")
    return arr


def _parse_flag(text: str, path: Path, line: int) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise ResultsError(f"{path}: line {line}: column 'minority' must be 0/1 or true/false, got {text!r}")


def read_scores_csv(path: Path) -> dict[str, np.ndarray]:
    """Read a DMPRA ``scores.csv``/``audit.csv`` (columns index,score,minority,weight)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in SCORES_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ResultsError(f"{path}: missing column(s) {missing}; expected {list(SCORES_COLUMNS)}, found {reader.fieldnames}")
        columns: dict[str, list] = {c: [] for c in SCORES_COLUMNS}
        for line, row in enumerate(reader, start=2):
            try:
                columns["index"].append(int(row["index"]))
                columns["score"].append(float(row["score"]))
                columns["weight"].append(float(row["weight"]))
            except (TypeError, ValueError) as err:
                raise ResultsError(f"{path}: line {line}: {err}") from err
            columns["minority"].append(_parse_flag(row["minority"] or "", path, line))
    return {
        "index": np.asarray(columns["index"], dtype=np.int64),
        "score": np.asarray(columns["score"], dtype=np.float64),
        "minority": np.asarray(columns["minority"], dtype=bool),
        "weight": np.asarray(columns["weight"], dtype=np.float64),
    }


# ---------------------------------------------------------------- sections


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
    section.body.append(_table("metrics-table", ["run"] + names, rows))
    return section


def rounds_section(results: Results, figures: Figures) -> Section:
    """Metrics across DMPRA rounds: curves and a table (run, round, n_minority, metrics)."""
    section = Section("rounds", "Metrics across rounds")
    runs = [run for run in results.runs.values() if run.rounds]
    if not runs:
        section.note("No run lists rounds (runs.<run>.rounds); section omitted.")
        return section
    names = list(dict.fromkeys(m for run in runs for r in run.rounds for m in r.metrics))
    curves = {run.name: {r.round: r.metrics for r in run.rounds} for run in runs}
    if names:
        path, href = figures.path("round_curves")
        plots.round_curves(curves, path)
        section.body.append(_figure(href, "Each metric after each round, one line per run."))
    rows = [
        [run.name, format_number(r.round), format_number(r.n_minority)] + [format_number(r.metrics.get(m)) for m in names]
        for run in runs
        for r in run.rounds
    ]
    section.body.append(_table("rounds-table", ["run", "round", "n_minority"] + names, rows))
    return section


def mode_share_section(results: Results, figures: Figures) -> Section:
    """Per-mode share of generated samples next to the data's mode weights."""
    section = Section("modes", "Per-mode shares")
    shares = {run.name: np.asarray(run.per_mode_share) for run in results.runs.values() if run.per_mode_share is not None}
    if not shares:
        section.note("No run has per_mode_share; section omitted.")
        return section
    n_modes = len(next(iter(shares.values())))
    lengths = {name: len(s) for name, s in shares.items()}
    if len(set(lengths.values())) > 1:
        raise ResultsError(f"results.json: runs.*.per_mode_share: runs disagree on the number of modes {lengths}")
    weights = results.data.weights
    path, href = figures.path("mode_shares")
    plots.mode_share_bars(np.asarray(weights) if weights is not None else None, shares, results.data.minority, path)
    section.body.append(_figure(href, "Share of generated samples per mode (data: the mixture's weights). Minority modes in red."))
    header = ["mode"] + (["data"] if weights is not None else []) + list(shares)
    minority = set(results.data.minority)
    rows, classes = [], []
    for j in range(n_modes):
        label = f"{j} (minority)" if j in minority else str(j)
        rows.append([label] + ([format_number(weights[j])] if weights is not None else []) + [format_number(s[j].item()) for s in shares.values()])
        classes.append("minority" if j in minority else "")
    section.body.append(_table("modes-table", header, rows, classes))
    return section


def samples_section(results: Results, run_dir: Path, figures: Figures) -> Section:
    """Generated samples per run: 2D scatter against the data, or an image grid."""
    section = Section("samples", "Samples")
    data_rel = results.data.samples or "data.npy"
    data = _load_array(run_dir, data_rel, "training data")
    if data is not None and (data.ndim != 2 or data.shape[1] != 2):
        data = None  # only 2D data is drawn under the scatter; images are not overlaid
    if data is None:
        section.note(f"{data_rel} not found or not 2D: samples are drawn without the data.")
    means = np.asarray(results.data.means) if results.data.means is not None and len(results.data.means[0]) == 2 else None
    for run in results.runs.values():
        relative = run.samples or f"{run.name}/samples.npy"
        samples = _load_array(run_dir, relative, f"samples of run {run.name!r}")
        if samples is None:
            section.note(f"Run {run.name}: {relative} not found; no samples shown.")
            continue
        if samples.ndim == 2 and samples.shape[1] == 2:
            path, href = figures.path(f"samples_{run.name}")
            plots.scatter_against_data(samples, data, means, results.data.minority, path, run.name)
            shown = min(len(samples), plots.MAX_SCATTER_POINTS)
            extra = f" ({shown} of {len(samples)} drawn, random subset)" if shown < len(samples) else ""
            section.body.append(_figure(href, f"{run.name}: {len(samples)} generated samples (blue) over the data (grey){extra}."))
        elif (samples.ndim == 4 and samples.shape[1] in (1, 3)) or samples.ndim == 3:
            path, href = figures.path(f"samples_{run.name}")
            plots.image_grid(samples, path, run.name)
            section.body.append(_figure(href, f"{run.name}: first {min(64, len(samples))} of {len(samples)} samples."))
        else:
            section.note(f"Run {run.name}: samples of shape {samples.shape} are neither 2D points nor images (N,C,H,W); not drawn.")
    return section


def _round_dirs(run_dir: Path, run: str) -> list[tuple[int, Path]]:
    base = run_dir / run
    if not base.is_dir():
        return []
    found = []
    for child in base.iterdir():
        match = re.fullmatch(r"round_?(\d+)", child.name)  # round_<r> or the trainer's round<r>
        if match and child.is_dir():
            found.append((int(match.group(1)), child))
    return sorted(found)


# Accepted names of a round's files: the generic layout, then what the DMPRA plug-in writes.
_ROUND_FILES = (("perception.npz", "dmpra_scores.npz"), ("perception.png", "dmpra_perception.png"),
                ("scores.csv", "dmpra_scores.csv"))


def _first(directory: Path, names: tuple[str, ...]) -> Path:
    """The first of ``names`` that exists in ``directory`` (else the first name, absent)."""
    return next((directory / n for n in names if (directory / n).is_file()), directory / names[0])


def perception_section(results: Results, run_dir: Path, figures: Figures) -> Section:
    """Per run and DMPRA round: the perception-space projection with minority samples marked."""
    section = Section("perception", "Perception space per round")
    any_round = False
    for run in results.runs.values():
        rounds = _round_dirs(run_dir, run.name)
        if not rounds:
            continue
        any_round = True
        section.body.append(f"<h3>{html.escape(run.name)}</h3>")
        summary = []
        for r, directory in rounds:
            npz, png, scores = (_first(directory, names) for names in _ROUND_FILES)
            if npz.is_file():
                proj, minority = _read_projection(npz)
                path, href = figures.path(f"perception_{run.name}_round{r}")
                plots.perception_projection(proj, minority, path, f"{run.name}, round {r}")
                section.body.append(_figure(href, f"Round {r}: {int(minority.sum())} of {len(minority)} samples flagged minority (red)."))
            elif png.is_file():
                path, href = figures.path(f"perception_{run.name}_round{r}")
                shutil.copyfile(png, path)
                section.body.append(_figure(href, f"Round {r} (perception.png from the run)."))
            else:
                section.note(f"{run.name}/round_{r}: no perception.npz or perception.png.")
            if scores.is_file():
                s = read_scores_csv(scores)
                summary.append([
                    f"round {r}", format_number(len(s["index"])), format_number(int(s["minority"].sum())),
                    format_number(float(s["score"].max()) if len(s["score"]) else None),
                    format_number(float(s["weight"].max()) if len(s["weight"]) else None),
                ])
        if summary:
            section.body.append(_table(f"scores-{_slug(run.name)}", ["round", "samples", "minority", "max score", "max weight"], summary))
    if not any_round:
        section.note("No RUN_DIR/<run>/round_<r>/ directories; section omitted.")
    return section


def _read_projection(npz: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(npz, allow_pickle=False) as f:
            missing = [k for k in ("proj", "minority") if k not in f.files]
            if missing:
                raise ResultsError(f"{npz}: missing array(s) {missing}; found {f.files}")
            proj, minority = np.asarray(f["proj"], dtype=np.float64), np.asarray(f["minority"])
    except ResultsError:
        raise
    except Exception as err:
        raise ResultsError(f"{npz}: cannot read as .npz ({err})") from err
    if proj.ndim != 2 or proj.shape[1] != 2:
        raise ResultsError(f"{npz}: 'proj' must have shape (n, 2), got {proj.shape}")
    if minority.shape != (len(proj),):
        raise ResultsError(f"{npz}: 'minority' must have shape ({len(proj)},) to match 'proj', got {minority.shape}")
    if not np.isfinite(proj).all():
        raise ResultsError(f"{npz}: 'proj' holds non-finite values")
    return proj, minority.astype(bool)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)


def audit_section(run_dir: Path, figures: Figures) -> Section:
    """The data audit: gallery image (or, for non-image data, the audit's projection plot)
    and the highest-scoring samples of audit.csv."""
    section = Section("audit", "Data audit")
    audit = run_dir / "audit"
    gallery, projection, table = audit / "gallery.png", audit / "audit.png", audit / "audit.csv"
    if not gallery.is_file() and not table.is_file():
        section.note("RUN_DIR/audit/ has no gallery.png or audit.csv; section omitted.")
        return section
    if gallery.is_file():
        path, href = figures.path("audit_gallery")
        shutil.copyfile(gallery, path)
        section.body.append(_figure(href, "Samples the search flags as minority (audit gallery)."))
    elif projection.is_file():
        path, href = figures.path("audit_projection")
        shutil.copyfile(projection, path)
        section.body.append(_figure(href, "The training data with the samples the search flags as minority."))
    if table.is_file():
        s = read_scores_csv(table)
        order = np.lexsort((s["index"], -s["score"]))[:AUDIT_TOP_ROWS]
        section.body.append(
            f"<p>{int(s['minority'].sum())} of {len(s['index'])} samples flagged minority; "
            f"the {len(order)} highest scores:</p>"
        )
        rows = [[str(s["index"][i]), format_number(float(s["score"][i])), "yes" if s["minority"][i] else "no", format_number(float(s["weight"][i]))] for i in order]
        section.body.append(_table("audit-table", ["index", "score", "minority", "weight"], rows, ["minority" if s["minority"][i] else "" for i in order]))
    return section


def read_groups_json(path: Path) -> dict:
    """A run's ``explain/groups.json`` (modecover.evaluate_files), checked for what the report uses."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(raw, dict):
        raise ResultsError(f"{path}: expected an object, got {type(raw).__name__}")
    for key in ("n_real", "n_uncovered", "n_missed_groups"):
        if isinstance(raw.get(key), bool) or not isinstance(raw.get(key), int):
            raise ResultsError(f"{path}: {key}: expected an integer, got {raw.get(key)!r}")
    if not isinstance(raw.get("missed_groups"), list):
        raise ResultsError(f"{path}: missed_groups: expected a list, got {raw.get('missed_groups')!r}")
    if "sentence" in raw and not isinstance(raw["sentence"], str):
        raise ResultsError(f"{path}: sentence: expected a string, got {raw['sentence']!r}")
    return raw


def explain_section(results: Results, run_dir: Path, figures: Figures) -> Section:
    """What each run missed: the sentence of each run's ``<run>/explain/groups.json`` and its
    projection with the missed groups circled (and, for images, the largest missed group)."""
    from modecover.evaluate import describe_missed

    section = Section("missed", "What each run missed")
    found = [(run, run_dir / run.name / "explain") for run in results.runs.values()
             if (run_dir / run.name / "explain" / "groups.json").is_file()]
    if not found:
        section.note("No RUN_DIR/<run>/explain/groups.json (modecover evaluate --explain); section omitted.")
        return section
    said = []
    for run, directory in found:
        groups = read_groups_json(directory / "groups.json")
        said.append(groups.get("sentence") or describe_missed(groups, run.name))
    section.body.append("<p>" + " ".join(html.escape(s) for s in said) + "</p>")
    for run, directory in found:
        for name, caption in (("explain.png", "uncovered real samples in red, the largest missed groups circled"),
                              ("missed_0.png", "the largest missed group")):
            if (directory / name).is_file():
                path, href = figures.path(f"explain_{run.name}_{Path(name).stem}")
                shutil.copyfile(directory / name, path)
                section.body.append(_figure(href, f"{run.name}: {caption}."))
    return section


# ---------------------------------------------------------------- page


def render_page(results: Results, sections: list[Section]) -> str:
    nav = " ".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    data = results.data
    subtitle = f"Data: {html.escape(data.name)}; runs: {html.escape(', '.join(results.runs) or 'none')}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(results.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(results.title)}</h1>\n"
        + (f'<p class="headline">{html.escape(results.headline)}</p>\n' if results.headline else "")
        + f"<p>{subtitle}</p>\n<nav>{nav}</nav>\n"
        + "\n".join(s.render() for s in sections)
        + "\n</body>\n</html>\n"
    )


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of ``run_dir`` to ``out`` (default ``run_dir/report.html``).

    Figures go to ``<out stem>_files/`` next to the page. Returns the page's path.
    Raises :class:`~.results.ResultsError` when ``results.json`` or a file it relies on
    is malformed.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir}: run directory not found")
    results = load_results(run_dir / "results.json")
    out = Path(out) if out is not None else run_dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = Figures(out.parent / f"{out.stem}_files", urllib.parse.quote(f"{out.stem}_files"))
    figures.directory.mkdir(exist_ok=True)
    sections = [
        metrics_section(results),
        rounds_section(results, figures),
        mode_share_section(results, figures),
        samples_section(results, run_dir, figures),
        explain_section(results, run_dir, figures),
        perception_section(results, run_dir, figures),
        audit_section(run_dir, figures),
    ]
    out.write_text(render_page(results, sections), encoding="utf-8")
    return out
