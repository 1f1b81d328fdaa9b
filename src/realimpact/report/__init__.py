"""Reports: the Results Analysis report (HTML, offline) and the files of an evaluation.

The report words and draws results computed elsewhere (``realimpact.evaluation``);
it never computes statistics itself, and it never decides what an audience
may see: that is ``realimpact.disclosure`` (docs/architecture.md).
"""

from __future__ import annotations

from realimpact.disclosure import partner_frame
from realimpact.evaluation.sharing import partner_results
from realimpact.report.pdf import html_to_pdf
from realimpact.report.render import render_report
from realimpact.report.write import write_evaluation

__all__ = ["html_to_pdf", "partner_frame", "partner_results", "render_report", "write_evaluation"]
