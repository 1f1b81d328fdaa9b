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


@pytest.fixture(scope="session")
def city_street_gap_stores(tmp_path_factory) -> tuple[Path, Path]:
    """(every City of London street month, every month but 2019-06), built once.

    The missing-month tests compare an analysis on the second with the same
    analysis on the first with 2019-06 genuinely absent.
    """
    from realimpact.sources.police_uk import ingest_police_uk

    base = tmp_path_factory.mktemp("city_gap")
    full, holed = base / "full.duckdb", base / "holed.duckdb"
    files = sorted((POLICE_UK / "city_of_london" / "street").glob("*.csv"))
    ingest_police_uk(files, store=full)
    ingest_police_uk([f for f in files if not f.name.startswith("2019-06")], store=holed)
    return full, holed
