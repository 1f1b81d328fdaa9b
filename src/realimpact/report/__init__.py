"""Reports: the Results Analysis report (HTML, offline) and partner-safe views.

The report words and draws results computed elsewhere (``realimpact.evaluation``);
it never computes statistics itself (docs/architecture.md).
"""

from __future__ import annotations

from realimpact.report.pdf import html_to_pdf
from realimpact.report.render import render_report
from realimpact.report.safe import partner_frame, partner_results
from realimpact.report.write import write_evaluation

__all__ = ["html_to_pdf", "partner_frame", "partner_results", "render_report", "write_evaluation"]
