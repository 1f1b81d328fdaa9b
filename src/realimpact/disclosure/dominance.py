"""Dominance on harm-weighted values.

A harm total is a sum of weights (the Cambridge Crime Harm Index gives one
homicide 5,475 days): when one record, or one crime type with fewer records
than the threshold, makes up most of a total, the total names the offence as
surely as a count of 1 would. Such a total is suppressed, or shown only as a
band (:func:`harm_band`), when the largest contribution exceeds the profile's
``dominance_share`` (default 0.5 for partner and public: the p% rule of
output checking with p at half).

For the analyses that apply it (``harm index``, ``hotspots --weights``)::

    from realimpact.disclosure.dominance import dominated
    dominated({"Violence": (3, 3 * 365.0), "Drugs": (12, 12 * 14.0)}, threshold=5, share=0.5)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

#: band edges, in days of harm, for totals shown only as a band
HARM_BANDS: tuple[float, ...] = (0, 100, 500, 1000, 5000, 10000, 50000, 100000)


def dominated(
    parts: Mapping[str, tuple[int, float]],
    *,
    threshold: int,
    share: float,
    record_weights: Sequence[float] = (),
) -> bool:
    """True when one contribution dominates the harm total.

    ``parts`` maps a crime type to (records, harm of those records).
    A type with fewer than ``threshold`` records counts as one contribution
    (a reader could attribute it to one or two people); a type with more is
    split into its records (``record_weights`` gives the largest single
    records, when known; otherwise each record is its type's mean). The total
    is dominated when the largest contribution is more than ``share`` of it.
    """
    total = sum(h for _, h in parts.values() if h > 0)
    if total <= 0:
        return False
    largest = max((w for w in record_weights if w > 0), default=0.0)
    for n, h in parts.values():
        if h <= 0 or n <= 0:
            continue
        largest = max(largest, h if n < threshold else h / n)
    return largest > share * total


def harm_band(value: float, bands: Sequence[float] = HARM_BANDS) -> str:
    """'1,000-5,000' for 1,234 days: the band a dominated total is shown as."""
    if not math.isfinite(value):
        return ""
    v = abs(value)
    for lo, hi in itertools.pairwise(bands):
        if lo <= v < hi:
            return f"{lo:,.0f}-{hi:,.0f}"
    return f"{bands[-1]:,.0f} or more"
