"""CSV files that are safe to open in a spreadsheet: no formula injection.

Area names, LSOA codes and indicator labels come from files users load
(boundary layers, partner data). A cell such as ``=HYPERLINK("http://x")``
written as is would run as a formula when an analyst opens the CSV in Excel,
LibreOffice or Google Sheets. Following OWASP's advice on CSV injection, a
text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading single quote, which spreadsheets show as text and
scripts can strip. Numeric columns are left alone: a negative number stored
as a number is a number, not a formula. Every CSV the toolkit writes goes
through :func:`write_csv`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "read_cell", "safe_cell", "spreadsheet_safe", "write_csv"]

# OWASP "CSV Injection": characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text a spreadsheet would run; else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def read_cell(value: Any) -> Any:
    """The inverse of :func:`safe_cell`, for files the tool reads back (a registry export):
    ``'=x`` is the text ``=x`` that was written safely, so the round trip is exact."""
    if isinstance(value, str) and value[:1] == "'" and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names cannot start a formula.

    Only text (object, string and categorical) columns are touched, and in
    them only ``str`` cells: numbers, booleans, dates and missing values are
    written as they are.
    """
    out = df.copy()
    for i in range(df.shape[1]):
        s = df.iloc[:, i]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        out.isetitem(i, s.map(safe_cell, na_action="ignore"))
    out.columns = [safe_cell(c) for c in df.columns]
    return out


def write_csv(df: pd.DataFrame, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Write ``df`` (no index) as a spreadsheet-safe CSV; keyword arguments go to ``to_csv``."""
    kwargs.setdefault("index", False)
    spreadsheet_safe(df).to_csv(path, **kwargs)
    return Path(path)
