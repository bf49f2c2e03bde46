"""The page's building blocks: sections, figures, tables and the page itself.

The page is self-contained for offline viewing: inline CSS, no JavaScript, no external
URL; figures are PNG files in ``<page stem>_files/`` next to the page, referenced by
relative paths. It never scrolls sideways: figures shrink to the page's width, long words
break, and a wide table scrolls inside its own box (``div.table-wrap``).
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..labels import label

CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:70em;
padding:0 1em;color:#222;overflow-wrap:anywhere}
h1{font-size:1.6em}
h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em} h3{font-size:1.05em}
.table-wrap{max-width:100%;overflow-x:auto;margin:.6em 0 1em}
table{border-collapse:collapse} th,td{border:1px solid #ccc;padding:.25em .6em;overflow-wrap:normal}
td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th{background:#f3f3f3} th[title]{text-decoration:underline dotted;cursor:help}
td.name{text-align:left;white-space:normal;min-width:4em}
tr.minority td{background:#fdecea}
figure{display:inline-block;margin:.4em 1em .8em 0;vertical-align:top;max-width:100%}
figcaption{font-size:.85em;color:#555;max-width:28em}
img{max-width:100%;height:auto} p.note{color:#8a6d3b;background:#fcf8e3;padding:.4em .7em;border-left:3px solid #e5c07b}
nav a{margin-right:1em;display:inline-block}
p.headline{font-size:1.05em;background:#eef5fb;padding:.6em .9em;border-left:4px solid #4a90c2}
details{margin:.6em 0} summary{cursor:pointer}
"""


@dataclass
class Section:
    """One ``<section>`` of the page: an anchor id, a heading and its HTML body."""

    id: str
    title: str
    body: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        """Say plainly what is missing (shown as a highlighted note)."""
        self.body.append(f'<p class="note">{html.escape(text)}</p>')

    def text(self, text: str) -> None:
        self.body.append(f"<p>{html.escape(text)}</p>")

    def render(self) -> str:
        return f'<section id="{self.id}">\n<h2>{html.escape(self.title)}</h2>\n' + "\n".join(self.body) + "\n</section>"


@dataclass
class Figures:
    """Where figures go and how the page refers to them (``<stem>_files/<name>.png``)."""

    directory: Path
    href_prefix: str
    count: int = 0

    def path(self, name: str) -> tuple[Path, str]:
        """A new numbered file for the figure ``name``: (where to write it, its href)."""
        self.count += 1
        file = f"{self.count:02d}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)[:60]}.png"
        return self.directory / file, f"{self.href_prefix}/{file}"

    def copy(self, source: Path, name: str) -> str:
        """Copy an existing PNG into the figure folder; return its href."""
        path, href = self.path(name)
        shutil.copyfile(source, path)
        return href


@dataclass
class Page:
    """What a kind of run folder renders to: a title, a headline paragraph, a subtitle and sections."""

    title: str
    headline: str
    subtitle: str
    sections: list[Section]


def figure(href: str, caption: str) -> str:
    alt = html.escape(caption, quote=True)
    return (f'<figure><img src="{html.escape(href, quote=True)}" alt="{alt}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _header_cell(key) -> str:
    if isinstance(key, tuple):
        shown, tip = key
        return f'<th title="{html.escape(tip, quote=True)}">{html.escape(shown)}</th>'
    shown = label(key)
    title = f' title="{html.escape(key, quote=True)}"' if shown != key else ""
    return f"<th{title}>{html.escape(shown)}</th>"


def table(table_id: str, keys: list, rows: list[list[str]], row_classes: list[str] | None = None,
          text_columns: int = 1) -> str:
    """An HTML table in its own horizontally scrolling box.

    ``keys`` are the raw column keys: the header shows each one's human label
    (:func:`~.labels.label`) with the key in a ``title`` tooltip; a ``(text, tooltip)``
    pair is shown as given (e.g. a run's name). Cells are
    already-formatted text, escaped here; the first ``text_columns`` columns are
    left-aligned text, the others numbers (right-aligned, never wrapped).
    """
    head = "".join(_header_cell(k) for k in keys)
    lines = [f'<div class="table-wrap"><table id="{table_id}">', f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(f'<td class="name">{html.escape(c)}</td>' for c in row[:text_columns])
        cells += "".join(f"<td>{html.escape(c)}</td>" for c in row[text_columns:])
        lines.append(f"<tr{cls}>{cells}</tr>")
    lines.append("</tbody></table></div>")
    return "\n".join(lines)


def key_value_table(table_id: str, pairs: list[tuple[str, str]]) -> str:
    """A two-column table (name, value): each name shows its label, the raw key as tooltip."""
    lines = [f'<div class="table-wrap"><table id="{table_id}">', "<tbody>"]
    for key, value in pairs:
        shown = label(key)
        title = f' title="{html.escape(key, quote=True)}"' if shown != key else ""
        lines.append(f'<tr><td class="name"{title}>{html.escape(shown)}</td><td>{html.escape(value)}</td></tr>')
    lines.append("</tbody></table></div>")
    return "\n".join(lines)


def slug(name: str) -> str:
    """``name`` with every run of characters outside ``[A-Za-z0-9_-]`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)


def render_page(page: Page) -> str:
    """The whole HTML document of ``page``."""
    nav = " ".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in page.sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(page.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(page.title)}</h1>\n"
        f'<p class="headline">{html.escape(page.headline)}</p>\n'
        + (f"<p>{html.escape(page.subtitle)}</p>\n" if page.subtitle else "")
        + f"<nav>{nav}</nav>\n"
        + "\n".join(s.render() for s in page.sections)
        + "\n</body>\n</html>\n"
    )
