"""Weighting sensitivity: rank correlations checked against by-hand implementations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.harm.index import harm_index
from realimpact.harm.sensitivity import compare_indices
from realimpact.sources.police_uk import ingest_police_uk
from realimpact.store import Store


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b from its definition (all pairs), independent of scipy."""
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(len(x), 1)
    dx, dy = dx[iu], dy[iu]
    s = (dx * dy).sum()
    n1 = (dx != 0).sum()
    n2 = (dy != 0).sum()
    return float(s / np.sqrt(n1 * n2))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of average ranks (pandas ranking, numpy correlation)."""
    rx = pd.Series(x).rank().to_numpy()
    ry = pd.Series(y).rank().to_numpy()
    return float(np.corrcoef(rx, ry)[0, 1])


def _frame(harms: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"area_id": f"A{i:02d}", "period": p, "harm": h}
        for p, hs in harms.items()
        for i, h in enumerate(hs)
    ]
    return pd.DataFrame(rows)


def test_compare_small_example_by_hand() -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 20, 40).astype(float)  # ties on purpose
    b = a + rng.normal(0, 6, 40).round()
    res = compare_indices(_frame({"2019-01": list(a)}), _frame({"2019-01": list(b)}), top=5)
    p = res["periods"][0]
    assert p["spearman"] == pytest.approx(spearman(a, b), abs=1e-12)
    assert p["kendall"] == pytest.approx(kendall_tau_b(a, b), abs=1e-12)
    ids = np.array([f"A{i:02d}" for i in range(40)])
    order_a = sorted(range(40), key=lambda i: (-a[i], ids[i]))[:5]
    order_b = sorted(range(40), key=lambda i: (-b[i], ids[i]))[:5]
    shared = set(ids[order_a]) & set(ids[order_b])
    assert p["top_overlap"] == len(shared)
    assert p["top_overlap_share"] == len(shared) / 5
    assert set(p["top_a_only"]) == set(ids[order_a]) - shared


def test_identical_weightings_agree_perfectly() -> None:
    f = _frame({"m1": [5, 3, 1, 0, 9], "m2": [1, 2, 3, 4, 5]})
    res = compare_indices(f, f, top=2)
    for p in res["periods"]:
        assert p["spearman"] == pytest.approx(1.0)
        assert p["kendall"] == pytest.approx(1.0)
        assert p["top_overlap_share"] == 1.0
    assert res["summary"]["periods"] == 2


def test_reversed_weighting() -> None:
    f = _frame({"m": [1, 2, 3, 4]})
    g = _frame({"m": [4, 3, 2, 1]})
    p = compare_indices(f, g, top=2)["periods"][0]
    assert p["spearman"] == pytest.approx(-1.0)
    assert p["kendall"] == pytest.approx(-1.0)
    assert p["top_overlap"] == 0


@pytest.fixture(scope="module")
def cleveland(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sens") / "s.duckdb"
    with Store(path) as st:
        assert ingest_police_uk([shared / "data/police_uk/cleveland/street"], st).ok
    return path


def test_cchi_vs_count_on_cleveland(cleveland: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "harm",
            "index",
            "--store",
            str(cleveland),
            "--compare-weights",
            "cchi,count",
            "--top",
            "10",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert (data["weights_a"], data["weights_b"]) == ("cchi", "count")
    with Store(cleveland, read_only=True) as st:
        a = harm_index(st, weights="cchi")
        b = harm_index(st, weights="count")
    for p in data["periods"]:
        ha = a[a["period"] == p["period"]].sort_values("area_id")["harm"].to_numpy()
        hb = b[b["period"] == p["period"]].sort_values("area_id")["harm"].to_numpy()
        # areas with no crime under either weighting are tied zeros: left out
        some = (ha != 0) | (hb != 0)
        assert p["areas_without_harm"] == int((~some).sum())
        ha, hb = ha[some], hb[some]
        assert p["areas"] == len(ha)
        assert p["spearman"] == pytest.approx(spearman(ha, hb), abs=1e-9)
        assert p["kendall"] == pytest.approx(kendall_tau_b(ha, hb), abs=1e-9)
        # harm weighting changes the picture, but not beyond recognition
        assert 0.3 < p["spearman"] < 1.0


def test_compare_bad_argument(cleveland: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app, ["harm", "index", "--store", str(cleveland), "--compare-weights", "cchi"]
    )
    assert res.exit_code == 2 and "--compare-weights" in res.stderr
