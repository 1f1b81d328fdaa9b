"""Rounding of published counts and figures.

Counts for the public are rounded to a base (5 by default), each figure on
its own: a total is rounded from the exact total, not summed from rounded
parts, so a published total need not equal the sum of its published parts
(it is within ``base/2`` times the number of parts of it). Rounding is a layer
on top of suppression, never a substitute: secondary suppression is checked
as if every published figure were exact, because rates and estimates
computed from exact counts can say more than the rounded count beside them.
"""

from __future__ import annotations

import math
from typing import Any


def round_to_base(value: int | float, base: int) -> int:
    """``value`` to the nearest multiple of ``base`` (halves up); ``base`` 1 keeps it exact."""
    if base <= 1:
        return round(value)
    return int(math.floor(value / base + 0.5) * base)


def round_harm(value: Any, base: float) -> Any:
    """A harm figure to the nearest ``base`` days (``base`` 0 keeps it exact; non-numbers pass)."""
    if base <= 0 or isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not math.isfinite(value):
        return value
    return float(math.floor(value / base + 0.5) * base)


def round_digits(value: Any, digits: int | None) -> Any:
    """An estimate, interval bound or ratio to ``digits`` decimals (None keeps it exact)."""
    if digits is None or isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not math.isfinite(value):
        return value
    return round(float(value), digits)
