"""Static HTML report of a run folder: ``train``, ``audit``, ``evaluate``, ``demo`` or
``bench`` (what each shows: ``docs/report.md``).

>>> from modecover.report import write_report
>>> write_report("runs/demo")  # doctest: +SKIP
PosixPath('runs/demo/report.html')
"""

from .html import write_report
from .kinds import KINDS, find_run
from .results import Results, ResultsError, format_number, load_results, parse_results

__all__ = ["write_report", "find_run", "KINDS", "load_results", "parse_results", "format_number", "Results",
           "ResultsError"]
