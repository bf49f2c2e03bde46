"""The ``audit`` kind: a folder written by ``modecover audit`` (audit.csv, summary.json,
audit.png and, for images, gallery.png): how many samples the search flags, the groups
they form, the highest scores and the settings."""

from __future__ import annotations

from pathlib import Path

from .kinds import RunFolder
from .page import Figures, Page, Section, key_value_table, table
from .readers import read_json, read_scores_csv
from .results import ResultsError, format_number
from .sections import add_audit


def read_summary(folder: Path) -> dict | None:
    path = folder / "summary.json"
    if not path.is_file():
        return None
    raw = read_json(path)
    for key in ("n", "n_minority"):
        if isinstance(raw.get(key), bool) or not isinstance(raw.get(key), int):
            raise ResultsError(f"{path}: {key}: expected an integer, got {raw.get(key)!r}")
    if not isinstance(raw.get("groups", []), list):
        raise ResultsError(f"{path}: groups: expected a list, got {raw.get('groups')!r}")
    return raw


def _counts(folder: Path, summary: dict | None) -> tuple[int, int] | None:
    if summary is not None:
        return summary["n_minority"], summary["n"]
    if (folder / "audit.csv").is_file():
        s = read_scores_csv(folder / "audit.csv")
        return int(s["minority"].sum()), len(s["index"])
    return None


def headline(folder: Path, summary: dict | None) -> str:
    """How many samples are flagged, and the groups they form."""
    counts = _counts(folder, summary)
    if counts is None:
        return f"{folder} holds neither summary.json nor audit.csv: nothing to say about the audit."
    flagged, n = counts
    source = f" of {summary['source']}" if summary and summary.get("source") else ""
    said = [f"{flagged} of {n} samples{source} ({100 * flagged / max(n, 1):.2f} %) are flagged as minority."]
    groups = (summary or {}).get("groups", [])
    raised = [g for g in groups if not g.get("outliers")]
    if raised:
        weights = [g.get("weight", 1.0) for g in raised]
        said.append(f"They form {len(raised)} minor group(s) of linked samples "
                    f"({sum(g.get('size', 0) for g in raised)} samples, weights up to {format_number(max(weights))}); "
                    f"{sum(g.get('size', 0) for g in groups if g.get('outliers'))} flagged samples are isolated "
                    "outliers.")
    elif summary and flagged == 0 and summary.get("note"):
        said.append(str(summary["note"]))
    return " ".join(said)


def flagged_section(folder: Path, figures: Figures) -> Section:
    section = Section("audit", "Flagged samples")
    if not add_audit(section, folder, figures):
        section.note(f"{folder}: no audit.csv, audit.png or gallery.png: no figure or table of scores.")
    return section


def groups_section(summary: dict | None) -> Section:
    """The groups of linked flagged samples and their weights (summary.json)."""
    section = Section("groups", "Groups")
    if summary is None:
        section.note("no summary.json: no groups, settings or warnings.")
        return section
    groups = summary.get("groups", [])
    if not groups:
        section.note("summary.json lists no groups (no sample was flagged).")
        return section
    rows = [[str(g.get("group")), format_number(g.get("size")), format_number(g.get("deficit")),
             format_number(g.get("weight")), "outliers" if g.get("outliers") else "minor group"] for g in groups]
    section.body.append(table("groups-table", ["group", "size", "deficit", "weight", "outliers"], rows))
    for warning in summary.get("warnings", []):
        section.note(f"warning: {warning}")
    return section


def settings_section(summary: dict | None) -> Section:
    section = Section("settings", "Search settings")
    settings = (summary or {}).get("settings")
    if not isinstance(settings, dict):
        section.note("summary.json has no settings.")
        return section
    pairs = [(k, format_number(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))
             for k, v in settings.items()]
    section.body.append(key_value_table("settings-table", pairs))
    return section


def build(run: RunFolder, figures: Figures) -> Page:
    """The page of a ``modecover audit`` folder."""
    folder = run.path
    summary = read_summary(folder)
    sections = [flagged_section(folder, figures), groups_section(summary), settings_section(summary)]
    extractor = f"; features: {summary['extractor']}" if summary and summary.get("extractor") else ""
    return Page(f"modecover audit: {folder.name}", headline(folder, summary), f"Audit folder: {folder}{extractor}",
                sections)
