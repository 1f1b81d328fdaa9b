"""Shared fixtures: where the real public data lives, and fresh stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    """../shared beside the checkout (CI and dev layout); REALIMPACT_SHARED overrides."""
    env = os.environ.get("REALIMPACT_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared", Path("/work/shared")]
    for c in candidates:
        if (c / "data").is_dir():
            return c
    raise RuntimeError("cannot find ../shared/data beside the checkout (set REALIMPACT_SHARED)")


SHARED = _find_shared()
DATA = SHARED / "data"
POLICE_UK = DATA / "police_uk"


@pytest.fixture(scope="session")
def shared() -> Path:
    """Path to the shared folder (seeds/, data/)."""
    return SHARED


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A not-yet-created store file in a fresh temporary folder."""
    return tmp_path / "test.duckdb"


@pytest.fixture(scope="module")
def columbus(shared: Path):
    """PySAL's Columbus example: (polygons, the published queen GAL weights)."""
    import libpysal
    import pyogrio

    base = shared / "data" / "spatial_reference" / "pysal_examples" / "columbus"
    df = pyogrio.read_dataframe(base / "columbus.shp")
    gal = libpysal.io.open(str(base / "columbus.gal")).read()
    return df, gal
