"""JSON as realimpact writes it (``--json``, ``results.json``): no NaN, numpy and paths welcome.

Shared by the CLI and the library writers so a results file and a command's
``--json`` are the same text for the same object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["dumps"]


def _default(o: Any) -> Any:
    """JSON fallback for numpy scalars, paths, dates and NaN-free floats."""
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "to_dict"):
        return o.to_dict()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean(o: Any) -> Any:
    """Replace float NaN/inf by None: JSON has no NaN and scripts choke on it."""
    if isinstance(o, float):
        return o if o == o and o not in (float("inf"), float("-inf")) else None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    return o


def dumps(obj: Any) -> str:
    return json.dumps(_clean(obj), default=_default, ensure_ascii=False)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically: a reader (a partner's script, the web
    app) never sees half a file, and a failed write leaves the old file as it was."""
    import os
    import threading

    target = Path(path)
    # per process and thread: the web app's threads may write the same file at once
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(dumps(obj) + "\n", "utf-8")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
