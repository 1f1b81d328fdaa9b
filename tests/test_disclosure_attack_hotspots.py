"""An automated attacker on the shared hot-spot outputs (issue 12, third part).

It reads only what a partner or the public is given (the files written by
``hotspots kde|gi|emerging --audience partner|public`` and their JSON) plus
what is public anyway (police.uk's snap points, the CCHI weights, the crime
types), and tries to get the counts back:

* **least-squares inversion of the density surface**: the design matrix of
  kernel weights from every snap point within reach of a published cell,
  solved with ``scipy.optimize.lsq_linear`` under non-negativity. A
  location's count is *recovered* when the fit explains the surface (relative
  residual below 1e-3, so the attacker knows the solution is right) and the
  rounded estimate is the truth. An informed attacker who knows the shared
  surface is drawn from a support grid solves for the support cells instead
  and must learn nothing narrower than 1..threshold-1 of any location;
* **harm decomposition**: a harm-weighted Gi* value beside its count, split
  into per-type counts with the public CCHI weights (integer programming);
* **structure**: z-scores, p-values, names or totals published beside values.

The attacks are first shown to work on a rebuild of the old partner outputs
(the exact KDE with sparse cells zeroed, as ``suppress_sparse_cells`` does;
the full-precision Gi* harm column), then the new partner and public outputs
of the real City of London data and of the demo city must not leak.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, lsq_linear, milp
from scipy.spatial import cKDTree
from typer.testing import CliRunner

from realimpact.cli import app
from tests.conftest import POLICE_UK

COL = POLICE_UK / "city_of_london" / "street"
CITY_BOX = "530500,180000,534500,182500"  # the City's square mile, without stray records
PERIOD = ("--period-from", "2020-04", "--period-to", "2020-06")  # lockdown: many small counts
THRESHOLD = {"partner": 5, "public": 10}


def _cli(*args):
    env = {k: v for k, v in os.environ.items() if k != "REALIMPACT_STORE"}
    r = CliRunner().invoke(app, [str(a) for a in args], env=env)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout) if "--json" in args else r


def _points(store: Path, period: tuple[str, str] | None) -> tuple[np.ndarray, np.ndarray]:
    """(snap points, count at each): the truth the attacker is after."""
    from realimpact.store import open_store
    from realimpact.store.queries import record_points

    lo, hi = period or (None, None)
    with open_store(store) as st:
        pts = record_points(st, month_from=lo, month_to=hi)
    xy = pts[["easting", "northing"]].to_numpy(float)
    snaps, counts = np.unique(xy, axis=0, return_counts=True)
    return snaps, counts


def _read_asc(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cell centre x, y, density) of the cells with a density in an ESRI ASCII grid."""
    head = dict(line.split() for line in path.read_text().splitlines()[:6])
    grid = np.loadtxt(path, skiprows=6, ndmin=2)
    cell, x0, y0 = float(head["cellsize"]), float(head["xllcorner"]), float(head["yllcorner"])
    nrows = grid.shape[0]
    cols, rows = np.meshgrid(np.arange(grid.shape[1]), np.arange(nrows))
    cx = x0 + (cols + 0.5) * cell
    cy = y0 + (nrows - rows - 0.5) * cell
    keep = grid > 0
    return cx[keep], cy[keep], grid[keep]


def _quartic_design(cx, cy, sx, sy, bw: float) -> sp.csr_matrix:
    """Kernel weight (per km2) of each source point at each published cell centre."""
    tree = cKDTree(np.column_stack([sx, sy]))
    rows, cols, vals = [], [], []
    for i, near in enumerate(tree.query_ball_point(np.column_stack([cx, cy]), bw)):
        for j in near:
            d2 = (cx[i] - sx[j]) ** 2 + (cy[i] - sy[j]) ** 2
            if d2 < bw * bw:
                rows.append(i)
                cols.append(j)
                vals.append(3 / (np.pi * bw * bw) * (1 - d2 / (bw * bw)) ** 2 * 1e6)
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(cx), len(sx)))


def lsq_attack(cx, cy, dens, sx, sy, bw: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(sources within reach, their estimated counts, relative residual of the fit)."""
    a = _quartic_design(cx, cy, sx, sy, bw)
    used = np.flatnonzero(np.asarray(a.getnnz(axis=0)) > 0)
    a = a[:, used]
    fit = lsq_linear(a, dens, bounds=(0, np.inf), lsq_solver="lsmr", tol=1e-10, max_iter=100)
    resid = float(np.linalg.norm(a @ fit.x - dens) / np.linalg.norm(dens))
    return used, fit.x, resid


def recovered(used, est, resid, truth, threshold: int) -> int:
    """Small-count locations the attacker gets exactly, knowing the fit is right."""
    if resid > 1e-3:
        return 0  # the surface is not a sum of kernels at the snap points: no estimate holds
    t = truth[used]
    small = (t >= 1) & (t < threshold)
    return int((small & (np.round(est) == t)).sum())


def informed_attack(cx, cy, dens, snaps, truth, support: float, bw: float, t: int) -> list:
    """Solve for the support cells, then bound every location inside them.

    A location alone in its support cell is pinned to the cell's count; one
    sharing the cell with other public snap points may hold 0..count. A leak
    is a small-count location left with fewer values than 1..t-1.
    """
    ix, iy = np.floor(snaps[:, 0] / support), np.floor(snaps[:, 1] / support)
    cells, where = np.unique(np.column_stack([ix, iy]), axis=0, return_inverse=True)
    where = np.asarray(where).ravel()
    used, est, resid = lsq_attack(
        cx, cy, dens, (cells[:, 0] + 0.5) * support, (cells[:, 1] + 0.5) * support, bw
    )
    assert resid < 1e-2  # the informed model explains the shared surface
    total = np.zeros(len(cells))
    total[used] = np.round(est)
    known = np.zeros(len(cells), bool)
    known[used] = True
    leaks = []
    for j in np.flatnonzero((truth >= 1) & (truth < t)):
        c = where[j]
        if not known[c]:
            continue  # no published cell reaches it: unknown
        alone = (where == c).sum() == 1
        lo, hi = (total[c], total[c]) if alone else (0, total[c])
        if total[c] == 0:
            hi = t - 1  # a dropped cell: 0..t-1, what the rule says
        if not (lo <= 1 and hi >= t - 1):
            leaks.append((tuple(snaps[j]), int(truth[j]), lo, hi))
    return leaks


# --- Gi*: harm decomposition -----------------------------------------------------------------


def decompose(frame: pd.DataFrame, weights: dict[str, float], types: list[str], t: int) -> list:
    """Rows whose harm value and count pin a crime type's count to 1..t-1 (MILP min/max)."""
    if "value" not in frame.columns:
        return []
    w = np.array([weights[k] for k in types])
    leaks = []
    rows = frame[frame["count"].notna() & frame["value"].notna() & (frame["count"] > 0)]
    for r in rows.sort_values("count").head(12).itertuples():
        cons = [
            LinearConstraint(np.ones((1, len(w))), r.count, r.count),
            LinearConstraint(w[None, :], r.value - 1e-6, r.value + 1e-6),
        ]
        for k in range(len(w)):
            got = []
            for sign in (1, -1):
                c = np.zeros(len(w))
                c[k] = sign
                res = milp(c, constraints=cons, integrality=np.ones(len(w)),
                           bounds=Bounds(0, r.count))  # fmt: skip
                if res.status != 0:
                    break
                got.append(round(sign * res.fun))
            if len(got) == 2 and got[0] == got[1] and 1 <= got[0] < t:
                leaks.append((r.area_id, types[k], got[0]))
    return leaks


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def col(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("attack_hot_col")
    store = d / "col.duckdb"
    _cli("ingest", "police-uk", COL, "--store", store, "--json")
    for cell in (100, 500):
        _cli("areas", "grid", "--cell", cell, "--layer", f"grid{cell}", "--extent", CITY_BOX,
             "--store", store, "--json")  # fmt: skip
    return store


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    from realimpact.simulate import SimulationParams, simulate_city

    d = tmp_path_factory.mktemp("attack_hot_demo")
    sim = simulate_city(d / "city", SimulationParams(seed=11, n_areas=40, months=12,
                        start="2023-01", op_start="2023-07", op_months=3, baseline_months=6,
                        n_target=5, n_buffer=8, n_control=12, survey_per_role=5))  # fmt: skip
    store = d / "demo.duckdb"
    _cli("ingest", "police-uk", *sim.files["street"], "--store", store, "--json")
    return store


# --- KDE ---------------------------------------------------------------------------------------


def _old_partner_surface(snaps, counts, cell: float, bw: float):
    """Today's partner surface before issue 12: exact, with sparse cells zeroed."""
    from realimpact.hotspots.kde import kernel_density, suppress_sparse_cells

    x, y = np.repeat(snaps[:, 0], counts), np.repeat(snaps[:, 1], counts)
    kd = suppress_sparse_cells(kernel_density(x, y, cell=cell, bandwidth=bw), x, y)
    cx, cy = kd.cell_centres()
    keep = kd.density > 0
    return cx[keep], cy[keep], kd.density[keep]


def test_least_squares_recovers_the_old_partner_surface_of_the_city(col):
    snaps, counts = _points(col, ("2020-04", "2020-06"))
    cx, cy, dens = _old_partner_surface(snaps, counts, 25.0, 100.0)
    used, est, resid = lsq_attack(cx, cy, dens, snaps[:, 0], snaps[:, 1], 100.0)
    small = ((counts[used] >= 1) & (counts[used] < 5)).sum()
    assert resid < 1e-3 and small > 150
    assert recovered(used, est, resid, counts, 5) >= 0.95 * small  # nearly every 1-4 comes back


def test_least_squares_recovers_the_old_partner_surface_of_the_demo(demo):
    snaps, counts = _points(demo, ("2023-10", "2023-12"))
    cx, cy, dens = _old_partner_surface(snaps, counts, 25.0, 100.0)
    used, est, resid = lsq_attack(cx, cy, dens, snaps[:, 0], snaps[:, 1], 100.0)
    assert resid < 1e-3 and recovered(used, est, resid, counts, 5) > 20


@pytest.mark.parametrize(
    ("audience", "cell"), [("partner", 25), ("public", 100)]
)  # the public grid is coarser: its 500 m kernel over 25 m cells only costs the attack time
def test_shared_city_surface_does_not_invert(col, tmp_path, audience, cell):
    out = tmp_path / "k.asc"
    r = _cli("hotspots", "kde", *PERIOD, "--cell", cell, "--bandwidth", "100", "--audience",
             audience, "--out", out, "--store", col, "--json")  # fmt: skip
    t = THRESHOLD[audience]
    snaps, counts = _points(col, ("2020-04", "2020-06"))
    cx, cy, dens = _read_asc(out)
    bw = r["bandwidth_m"]
    assert bw >= 200 and r["n_points"] is None and r["support_cell_m"] >= 100
    used, est, resid = lsq_attack(cx, cy, dens, snaps[:, 0], snaps[:, 1], bw)
    assert ((counts[used] >= 1) & (counts[used] < t)).sum() > 100  # the attack had targets
    assert recovered(used, est, resid, counts, t) == 0
    assert informed_attack(cx, cy, dens, snaps, counts, r["support_cell_m"], bw, t) == []
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["audience"] == audience and man["withheld"]["primary"] > 0
    assert man["files"] == ["k.asc"] and man["rules"]["threshold"] == t


def test_shared_demo_surface_does_not_invert(demo, tmp_path):
    out = tmp_path / "k.asc"
    r = _cli("hotspots", "kde", "--period-from", "2023-12", "--period-to", "2023-12", "--cell",
             "100", "--bandwidth", "100", "--audience", "partner", "--out", out, "--store", demo,
             "--json")  # fmt: skip
    snaps, counts = _points(demo, ("2023-12", "2023-12"))
    cx, cy, dens = _read_asc(out)
    used, est, resid = lsq_attack(cx, cy, dens, snaps[:, 0], snaps[:, 1], r["bandwidth_m"])
    assert ((counts[used] >= 1) & (counts[used] < 5)).sum() > 20  # the attack had targets
    assert recovered(used, est, resid, counts, 5) == 0
    assert informed_attack(cx, cy, dens, snaps, counts, r["support_cell_m"],
                           r["bandwidth_m"], 5) == []  # fmt: skip


# --- Gi* ---------------------------------------------------------------------------------------


def _cchi(store: Path) -> dict[str, float]:
    from realimpact.hotspots.layers import resolve_harm_weights
    from realimpact.store import open_store

    with open_store(store) as st:
        return resolve_harm_weights("cchi", st)[0]


def test_old_partner_gi_harm_column_decomposes_but_the_new_one_does_not(col, tmp_path):
    from realimpact.disclosure.tables import partner_frame

    base = ["hotspots", "gi", "--layer", "grid100", "--weights", "cchi", "--permutations", "0",
            *PERIOD, "--store", col]  # fmt: skip
    _cli(*base, "--out", tmp_path / "a.csv", "--json")
    analyst = pd.read_csv(tmp_path / "a.csv")
    old = partner_frame(
        analyst,
        counts=["count"],
        guarded={"value": "count"},
        drop=["gi_z", "p_sim", "p_norm", "p_adjusted"],
    )  # the old partner table
    weights = _cchi(col)
    types = sorted(weights)
    assert len(decompose(old, weights, types, 5)) > 3  # one burglary, two thefts ... come back
    for audience in ("partner", "public"):
        layer = "grid100" if audience == "partner" else "grid500"
        out = tmp_path / audience / "g.csv"
        out.parent.mkdir()
        args = [a if a != "grid100" else layer for a in base]
        r = _cli(*args, "--audience", audience, "--out", out, "--json")
        new = pd.read_csv(out)
        assert decompose(new, weights, types, THRESHOLD[audience]) == []
        assert not {"value", "gi_z", "p_sim", "p_norm", "p_adjusted", "name"} & set(new.columns)
        shown = new["count"].dropna()
        assert not ((shown > 0) & (shown < THRESHOLD[audience])).any()
        assert new["suppressed"].tolist() == new["count"].isna().tolist()
        assert r["value_total"] is None and "value_total" in r["suppressed"]
        if audience == "public":
            assert (shown % 5 == 0).all()
        man = json.loads((out.parent / "manifest.json").read_text())
        assert man["product"] == "hotspots gi" and man["withheld"]["primary"] > 0


def test_public_refuses_a_grid_finer_than_its_minimum(col):
    r = CliRunner().invoke(app, ["hotspots", "gi", "--layer", "grid100", "--audience", "public",
                                 "--permutations", "0", "--store", str(col)])  # fmt: skip
    assert r.exit_code == 2 and "grid100" in r.stderr and "500 m" in r.stderr


# --- emerging ----------------------------------------------------------------------------------


@pytest.mark.parametrize("audience", ["partner", "public"])
def test_shared_emerging_output_has_categories_but_no_z(col, tmp_path, audience):
    layer = "grid100" if audience == "partner" else "grid500"
    out = tmp_path / "e.geojson"
    r = _cli("hotspots", "emerging", "--layer", layer, "--period-from", "2019-07",
             "--period-to", "2020-06", "--permutations", "0", "--audience", audience,
             "--out", out, "--store", col, "--json")  # fmt: skip
    props = pd.DataFrame([f["properties"] for f in json.loads(out.read_text())["features"]])
    # a month's z of every area gives that month's counts back up to scale; the trend is
    # computed from them
    assert not {"final_z", "trend_z", "trend_p", "trend_tau", "name"} & set(props.columns)
    assert {"category", "n_hot", "n_cold", "final_bin"} <= set(props.columns)
    assert r["audience"] == audience and r["disclosure"]["product"] == "hotspots emerging"
    assert (tmp_path / "manifest.json").exists()
