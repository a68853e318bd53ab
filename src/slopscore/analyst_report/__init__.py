"""The analyst report: false positives (dismissals), calibration, thresholds, drift, versions.

``build_report(url_or_engine, "report.html")`` writes one self-contained HTML page (plots
embedded, readable offline, every member-supplied string escaped) and CSV tables beside
it. Modules: :mod:`.data` reads the queue (read-only), :mod:`.metrics` computes (pure
functions on DataFrames), :mod:`.render` draws and formats, :mod:`.build` assembles.
"""

from slopscore.analyst_report.build import DEFINITIONS, ReportOutcome, build_report
from slopscore.analyst_report.data import QueueData, load_queue_data, open_for_report
from slopscore.analyst_report.metrics import DEFAULT_MIN_REVIEWED, DEFAULT_THRESHOLDS

__all__ = ["DEFAULT_MIN_REVIEWED", "DEFAULT_THRESHOLDS", "DEFINITIONS", "QueueData",
           "ReportOutcome", "build_report", "load_queue_data", "open_for_report"]
