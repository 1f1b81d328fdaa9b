"""realimpact: harm-focused ("Real Impact") policing of drug markets.

Library first: every CLI command is a call to a function re-exported here.
Re-exports are resolved lazily (PEP 562) so ``import realimpact`` and the CLI
start fast; ``tests/test_api.py`` checks every name in ``__all__`` resolves.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "RealImpactError": "realimpact.errors",
    "InputError": "realimpact.errors",
    "RejectedFileError": "realimpact.errors",
    "ValidationError": "realimpact.errors",
    "StoreError": "realimpact.errors",
    # store
    "Store": "realimpact.store",
    "open_store": "realimpact.store",
    "store_status": "realimpact.store.status",
    "record_counts": "realimpact.store.queries",
    "record_points": "realimpact.store.queries",
    "months_present": "realimpact.store.queries",
    # sources
    "ingest_police_uk": "realimpact.sources.police_uk",
    "IngestResult": "realimpact.sources.police_uk",
    # geo
    "ingest_boundaries": "realimpact.geo.areas",
    "read_boundaries": "realimpact.geo.areas",
    "build_grid": "realimpact.geo.areas",
    "load_layer": "realimpact.geo.areas",
    "assign_records": "realimpact.geo.areas",
    "to_bng": "realimpact.geo.crs",
    "to_wgs84": "realimpact.geo.crs",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'realimpact' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
