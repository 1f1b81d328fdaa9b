"""realimpact: harm-focused ("Real Impact") policing of drug markets.

Library first: every CLI command is a call to a function re-exported here.
"""

from __future__ import annotations

__version__ = "0.1.0"

from realimpact.errors import (
    InputError,
    RealImpactError,
    RejectedFileError,
    StoreError,
    ValidationError,
)
from realimpact.store import Store, open_store

__all__ = [
    "InputError",
    "RealImpactError",
    "RejectedFileError",
    "Store",
    "StoreError",
    "ValidationError",
    "__version__",
    "open_store",
]
