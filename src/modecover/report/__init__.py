"""Static HTML report of a run directory (layout: ``docs/report.md``).

>>> from modecover.report import write_report
>>> write_report("runs/demo")  # doctest: +SKIP
PosixPath('runs/demo/report.html')
"""

from .html import write_report
from .results import Results, ResultsError, format_number, load_results, parse_results

__all__ = ["write_report", "load_results", "parse_results", "format_number", "Results", "ResultsError"]
