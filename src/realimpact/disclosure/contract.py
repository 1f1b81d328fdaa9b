"""The JSON contract of a suppressed value (docs/architecture.md, docs/sharing.md).

A suppressed value is ``null``, never a string in a numeric field. The
object that held it names it in a sibling list:

* ``"suppressed": ["after", "per_month_after"]``: the fields of this object
  that are withheld, for whatever reason;
* ``"below_threshold": ["after"]``: the subset that are counts below the
  threshold (a report says "fewer than 5"); a field in ``suppressed`` but not
  here is withheld to protect another figure, or because it is computed from
  one (a report says "withheld").

For a list of numbers (a chart series), the entries are ``null`` and the
object holding the list gets ``"<name>_suppressed": [indexes]``. Lists of
objects (the monthly counts) follow the object rule, entry by entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SUPPRESSED = "suppressed"
BELOW = "below_threshold"


def withhold(obj: dict[str, Any], field: str, *, small: bool = False) -> bool:
    """Set ``obj[field]`` to None and name it in ``obj['suppressed']``; True if it held a value."""
    if field not in obj:
        return False
    had = obj[field] is not None
    obj[field] = None
    names = obj.setdefault(SUPPRESSED, [])
    if field not in names:
        names.append(field)
    if small:
        below = obj.setdefault(BELOW, [])
        if field not in below:
            below.append(field)
    return had


def withhold_all(obj: dict[str, Any], fields: Iterable[str]) -> int:
    return sum(withhold(obj, f) for f in fields if f in obj)


def is_withheld(obj: Any, field: str) -> bool:
    return isinstance(obj, dict) and field in (obj.get(SUPPRESSED) or [])


def is_below(obj: Any, field: str) -> bool:
    return isinstance(obj, dict) and field in (obj.get(BELOW) or [])


def numeric_strings(o: Any, path: str = "$") -> list[str]:
    """Paths of strings that look like a suppressed number ('<5', '5-9'): the contract forbids them."""
    import re

    out = []
    if isinstance(o, dict):
        for k, v in o.items():
            out += numeric_strings(v, f"{path}.{k}")
    elif isinstance(o, list):
        for i, v in enumerate(o):
            out += numeric_strings(v, f"{path}[{i}]")
    elif isinstance(o, str) and re.fullmatch(r"\s*[<>≤≥]\s*\d+(\.\d+)?\s*", o):
        out.append(path)
    return out
