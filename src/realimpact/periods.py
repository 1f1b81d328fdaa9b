"""Calendar months, the period every analysis counts in (docs/architecture.md conventions).

One definition of a month (``YYYY-MM``, month 01-12) for every reader,
validator and the ingest SQL, so "2020-13" is refused everywhere alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from realimpact.errors import ValidationError

__all__ = [
    "MONTH_PATTERN",
    "YEARS",
    "check_month",
    "check_period_order",
    "is_month",
    "month_add",
    "month_index",
    "month_range",
]

# The same text works in Python's re and in DuckDB's regexp_full_match.
MONTH_PATTERN = "[0-9]{4}-(0[1-9]|1[0-2])"
_MONTH = re.compile(MONTH_PATTERN)
# The years a record's month or date may have, for every reader (police.uk
# street Month, stop-and-search Date, partner periods): police.uk starts in
# 2010, so anything outside this range is a typo or a sentinel ("0000-01",
# "9999-12"), not data to count.
YEARS = (1990, 2100)


def is_month(value: object) -> bool:
    """True for a string that is exactly ``YYYY-MM`` with a month 01-12."""
    return isinstance(value, str) and _MONTH.fullmatch(value) is not None


def check_month(value: object, field: str) -> str:
    """``value`` stripped, or a ValidationError naming ``field`` (a flag or column)."""
    text = value.strip() if isinstance(value, str) else value
    if not is_month(text):
        raise ValidationError(f"{field}: {value!r} is not a month (YYYY-MM)")
    return text


def check_period_order(first: str | None, last: str | None, opt_first: str, opt_last: str) -> None:
    """Refuse a first month after the last one ("--period-from 2020-05 is after --period-to ...").

    Here, not in the CLI, so the web app's forms give the same one-line refusal.
    """
    if first is None or last is None:
        return
    a, b = check_month(first, opt_first), check_month(last, opt_last)
    if a > b:
        raise ValidationError(f"{opt_first} {a} is after {opt_last} {b}")


def month_add(month: str, k: int) -> str:
    """The month ``k`` months after ``month`` (``k`` may be negative)."""
    y, m = int(month[:4]), int(month[5:7])
    t = y * 12 + (m - 1) + k
    return f"{t // 12:04d}-{t % 12 + 1:02d}"


def month_range(first: str, last: str) -> list[str]:
    """Calendar months first..last inclusive ([] when last < first)."""
    n = (int(last[:4]) * 12 + int(last[5:7])) - (int(first[:4]) * 12 + int(first[5:7]))
    return [month_add(first, i) for i in range(n + 1)]


def month_index(months: pd.Series | Sequence[str]) -> np.ndarray:
    """'YYYY-MM' -> integer months since year 0, so gaps and arithmetic are exact."""
    s = pd.Series(months, dtype="string")
    if not s.str.fullmatch(MONTH_PATTERN).fillna(False).all():
        raise ValidationError("months must be 'YYYY-MM'", source="month")
    y = s.str.slice(0, 4).astype(int)
    m = s.str.slice(5, 7).astype(int)
    return (y * 12 + m - 1).to_numpy()
