"""Disclosure control: what each audience may see, applied the same way by every output.

Below the analyses (harm, hot spots, markets, evaluation), the report and
the web app; it imports none of them (tests/test_architecture.py). Modules:

* :mod:`.profiles`: :class:`Profile`, ``AUDIENCES``, :func:`get_profile`
  (with a sharing config), :func:`check_audience` (each command passes the
  audiences it supports);
* :mod:`.suppress`: :class:`LinkedTable` and :func:`protect`, primary and
  secondary suppression of linked tables (time, geography, crime types);
* :mod:`.audit`: feasible intervals of suppressed cells by integer
  programming, and what counts as a leak;
* :mod:`.dominance`: harm totals dominated by one record or type;
* :mod:`.rounding`, :mod:`.perturb`: rounding to a base, cell-key noise;
* :mod:`.contract`: the JSON form of a suppressed value (null plus
  ``suppressed``/``below_threshold`` lists);
* :mod:`.manifest`: ``manifest.json`` and the report footer;
* :mod:`.tables`: per-area frames (blank plus a ``suppressed`` column).

The adapters that know one output's shape live with the analysis that owns
it: :mod:`realimpact.evaluation.sharing` for ``results.json``.
"""

from __future__ import annotations

from realimpact.disclosure.contract import withhold
from realimpact.disclosure.manifest import build_manifest, footer_text, write_manifest
from realimpact.disclosure.profiles import AUDIENCES, Profile, check_audience, get_profile
from realimpact.disclosure.suppress import LinkedTable, protect
from realimpact.disclosure.tables import DEFAULT_THRESHOLD, partner_frame

__all__ = [
    "AUDIENCES",
    "DEFAULT_THRESHOLD",
    "LinkedTable",
    "Profile",
    "build_manifest",
    "check_audience",
    "footer_text",
    "get_profile",
    "partner_frame",
    "protect",
    "withhold",
    "write_manifest",
]
