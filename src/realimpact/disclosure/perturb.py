"""Cell-key perturbation: the same noise for the same cell in every release.

A table released once with random noise can be asked for again; averaging
the releases takes the noise off. Here the noise of a cell is not drawn from
a random stream but read from a keyed hash (HMAC-SHA256) of the cell's
identity (for instance ``plan|indicator|role|2020-04``) with the analyst's
secret key: the same cell gets the same noise however often it is released,
different cells get unrelated noise, and without the key the noise cannot be
predicted or removed. Zeros stay zero (a zero made 2 would invent crimes) and
no count is pushed below the threshold (it would read as suppressed).
"""

from __future__ import annotations

import hashlib
import hmac


def cell_noise(cell_id: str, key: str, max_abs: int) -> int:
    """The noise in ``-max_abs..max_abs`` for ``cell_id`` under ``key``; deterministic."""
    if max_abs <= 0:
        return 0
    digest = hmac.new(key.encode("utf-8"), cell_id.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % (2 * max_abs + 1) - max_abs


def perturb_count(value: int, cell_id: str, key: str, max_abs: int, threshold: int = 0) -> int:
    """``value`` plus its cell noise; 0 stays 0 and the result is at least ``threshold``."""
    if value == 0:
        return 0
    return max(int(value) + cell_noise(cell_id, key, max_abs), threshold, 1)
