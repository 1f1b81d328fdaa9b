"""Kernel density surfaces of (optionally harm-weighted) points, in British National Grid.

A density surface is the map most analysts start from, and one that can be
shared: it shows where incidents concentrate without showing any incident.

Kernels (Silverman 1986), with ``d`` the distance from a point to a cell
centre and ``w`` the point's weight (1, or its harm weight):

* ``quartic`` (ArcGIS's kernel): ``w * 3 / (pi r^2) * (1 - (d/r)^2)^2`` for
  ``d < r``; ``r`` is the bandwidth (search radius).
* ``gaussian``: ``w / (2 pi h^2) * exp(-d^2 / (2 h^2))``, ``h`` the bandwidth;
  truncated at ``5 h`` (the mass beyond is exp(-12.5) = 4e-6 of the total).

Values are weighted points per square kilometre at each cell centre, so the
surface integrates to the total weight.

Automatic bandwidth (used when none is given): ArcGIS Pro's documented rule
("How Kernel Density works"), a spatial form of Silverman's rule of thumb:

    bandwidth = 0.9 * min(SD, sqrt(1 / ln 2) * Dm) * n^(-0.2)

with ``SD`` the (weighted) standard distance of the points, ``Dm`` the
(weighted) median distance to the (weighted) mean centre, and ``n`` the number
of points, or the sum of weights when the points are weighted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from realimpact.errors import InputError

__all__ = ["KERNELS", "KernelDensity", "auto_bandwidth", "kernel_density", "suppress_sparse_cells"]

KERNELS = ("quartic", "gaussian")
MAX_CELLS = 25_000_000  # ~200 MB of float64: beyond this the cell is surely a typo


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cw = np.cumsum(w)
    return float(v[np.searchsorted(cw, 0.5 * cw[-1])])


def auto_bandwidth(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """ArcGIS Pro's default search radius (see module docstring), in the units of x/y."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, float)
    total = w.sum()
    mx, my = (w * x).sum() / total, (w * y).sum() / total
    d2 = (x - mx) ** 2 + (y - my) ** 2
    sd = math.sqrt((w * d2).sum() / total)
    dm = _weighted_median(np.sqrt(d2), w)
    n = len(x) if weights is None else total
    return 0.9 * min(sd, math.sqrt(1 / math.log(2)) * dm) * n**-0.2


@njit(cache=True, nogil=True)
def _accumulate(px, py, pw, x0, y1, cell, nrows, ncols, bw, gaussian, out):  # pragma: no cover
    reach = 5.0 * bw if gaussian else bw
    reach2 = reach * reach
    norm = 1.0 / (2.0 * math.pi * bw * bw) if gaussian else 3.0 / (math.pi * bw * bw)
    for k in range(px.shape[0]):
        x = px[k]
        y = py[k]
        c_lo = max(0, math.floor((x - reach - x0) / cell))
        c_hi = min(ncols - 1, math.floor((x + reach - x0) / cell))
        r_lo = max(0, math.floor((y1 - (y + reach)) / cell))
        r_hi = min(nrows - 1, math.floor((y1 - (y - reach)) / cell))
        for r in range(r_lo, r_hi + 1):
            cy = y1 - (r + 0.5) * cell
            dy2 = (cy - y) * (cy - y)
            if dy2 >= reach2:
                continue
            for c in range(c_lo, c_hi + 1):
                cx = x0 + (c + 0.5) * cell
                d2 = (cx - x) * (cx - x) + dy2
                if d2 < reach2:
                    if gaussian:
                        out[r, c] += pw[k] * norm * math.exp(-0.5 * d2 / (bw * bw))
                    else:
                        u = 1.0 - d2 / (bw * bw)
                        out[r, c] += pw[k] * norm * u * u


@dataclass
class KernelDensity:
    """A density grid, north-up (row 0 is the northern edge), EPSG:27700.

    Attributes
    ----------
    density : ndarray (nrows, ncols)
        Weighted points per km^2 at cell centres.
    x0, y1 : float
        West and north edges of the grid (metres).
    cell : float
        Cell size (metres).
    bandwidth : float
        Search radius (quartic) or standard deviation (gaussian), metres.
    bandwidth_rule : str
        ``given`` or the automatic rule used.
    kernel : str
    n_points : int
    total_weight : float
    weighted : bool
    crs : str
    """

    density: np.ndarray
    x0: float
    y1: float
    cell: float
    bandwidth: float
    bandwidth_rule: str
    kernel: str
    n_points: int
    total_weight: float
    weighted: bool
    crs: str = "EPSG:27700"
    notes: list[str] = field(default_factory=list)
    #: a shared surface (:mod:`realimpact.hotspots.sharing`): its audience and support grid
    audience: str = "analyst"
    support_cell: float | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.density.shape  # type: ignore[return-value]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        nrows, ncols = self.density.shape
        return (self.x0, self.y1 - nrows * self.cell, self.x0 + ncols * self.cell, self.y1)

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        nrows, ncols = self.density.shape
        xs = self.x0 + (np.arange(ncols) + 0.5) * self.cell
        ys = self.y1 - (np.arange(nrows) + 0.5) * self.cell
        return np.meshgrid(xs, ys)

    def summary(self) -> dict[str, Any]:
        nrows, ncols = self.density.shape
        return {
            "kernel": self.kernel,
            "bandwidth_m": round(self.bandwidth, 3),
            "bandwidth_rule": self.bandwidth_rule,
            "cell_m": self.cell,
            "rows": nrows,
            "columns": ncols,
            "bounds": [round(b, 3) for b in self.bounds],
            "crs": self.crs,
            "n_points": self.n_points,
            "total_weight": self.total_weight,
            "weighted": self.weighted,
            "max_density_per_km2": float(self.density.max()),
            "units": "weighted points per km2" if self.weighted else "points per km2",
            "notes": self.notes,
        }


def kernel_density(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    cell: float = 50.0,
    bandwidth: float | None = None,
    kernel: str = "quartic",
    extent: tuple[float, float, float, float] | None = None,
) -> KernelDensity:
    """Density of points (BNG metres) on a grid of ``cell`` metres.

    The grid covers ``extent`` (minx, miny, maxx, maxy) or the points' extent
    padded by the kernel's reach, snapped to multiples of ``cell`` so grids of
    different runs line up.
    """
    if kernel not in KERNELS:
        raise InputError(f"--kernel: {kernel!r} is not one of {', '.join(KERNELS)}")
    if not (cell > 0 and math.isfinite(cell)):
        raise InputError(f"--cell: must be a positive number of metres, got {cell!r}")
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if len(x) == 0:
        raise InputError("points: no points with coordinates in the chosen period/crime types")
    if len(x) != len(y):
        raise InputError("points: x and y differ in length")
    ok = np.isfinite(x) & np.isfinite(y)
    notes = []
    if not ok.all():
        notes.append(f"{int((~ok).sum())} point(s) without coordinates left out")
    w = None if weights is None else np.asarray(weights, float)
    if w is not None:
        if len(w) != len(x):
            raise InputError("weights: one weight per point needed")
        if not np.isfinite(w[ok]).all() or (w[ok] < 0).any():
            raise InputError("weights: point weights must be finite and non-negative")
        ok &= w > 0
    x, y = x[ok], y[ok]
    w = np.ones(len(x)) if w is None else w[ok]
    if len(x) == 0 or w.sum() == 0:
        raise InputError("points: all point weights are zero; nothing to map")
    if bandwidth is None:
        if len(x) < 2:
            raise InputError("--bandwidth: one point cannot set a bandwidth; give --bandwidth")
        bw = auto_bandwidth(x, y, None if weights is None else w)
        rule = "ArcGIS Pro rule: 0.9*min(SD, sqrt(1/ln2)*Dm)*n^-0.2"
        if not bw > 0:
            raise InputError(
                "--bandwidth: all points share one location, the automatic rule gives 0; "
                "give --bandwidth"
            )
    else:
        bw = float(bandwidth)
        rule = "given"
        if not (bw > 0 and math.isfinite(bw)):
            raise InputError(f"--bandwidth: must be a positive number of metres, got {bandwidth!r}")
    if bw < cell:
        notes.append(f"bandwidth {bw:.0f} m is smaller than the cell {cell:g} m: surface is spiky")
    reach = 5 * bw if kernel == "gaussian" else bw
    if extent is None:
        extent = (x.min() - reach, y.min() - reach, x.max() + reach, y.max() + reach)
    minx, miny, maxx, maxy = extent
    x0 = math.floor(minx / cell) * cell
    y0 = math.floor(miny / cell) * cell
    x1 = math.ceil(maxx / cell) * cell
    y1 = math.ceil(maxy / cell) * cell
    ncols = max(1, round((x1 - x0) / cell))
    nrows = max(1, round((y1 - y0) / cell))
    if nrows * ncols > MAX_CELLS:
        raise InputError(
            f"--cell {cell:g}: the grid would have {nrows * ncols:,} cells "
            f"(limit {MAX_CELLS:,}); use a larger cell"
        )
    out = np.zeros((nrows, ncols))
    _accumulate(x, y, w, float(x0), float(y1), float(cell), nrows, ncols, bw,
                kernel == "gaussian", out)  # fmt: skip
    out *= 1e6  # per m^2 -> per km^2
    return KernelDensity(
        density=out, x0=float(x0), y1=float(y1), cell=float(cell), bandwidth=bw,
        bandwidth_rule=rule, kernel=kernel, n_points=len(x), total_weight=float(w.sum()),
        weighted=weights is not None, notes=notes,
    )  # fmt: skip


def suppress_sparse_cells(
    kd: KernelDensity, x: np.ndarray, y: np.ndarray, threshold: int = 5
) -> KernelDensity:
    """The surface fit to share: cells near fewer than ``threshold`` points set to 0.

    A surface shows no incident, but a small bandwidth around a lone incident
    draws a bump that gives its place away. A cell keeps its value only where
    at least ``threshold`` points lie within one bandwidth of its centre, which
    is exactly "the ``threshold``-th nearest point is within the bandwidth": a
    k-d tree answers that without counting every point in every disc.
    """
    import dataclasses

    from scipy.spatial import cKDTree

    dens = np.array(kd.density, dtype=float, copy=True)
    live = np.flatnonzero(dens.ravel() > 0)
    sparse = live  # no live cell, or fewer points than the threshold in all
    if len(live) and len(x) >= threshold:
        cx, cy = kd.cell_centres()
        centres = np.column_stack([cx.ravel()[live], cy.ravel()[live]])
        tree = cKDTree(np.column_stack([np.asarray(x, float), np.asarray(y, float)]))
        dist, _ = tree.query(centres, k=threshold, distance_upper_bound=kd.bandwidth, workers=-1)
        sparse = live[~np.isfinite(dist[:, -1])]
    dens.ravel()[sparse] = 0.0
    note = (
        f"partner view: {len(sparse):,} cells with fewer than {threshold} incidents within"
        f" the bandwidth ({kd.bandwidth:,.0f} m) are shown as 0"
    )
    return dataclasses.replace(kd, density=dens, notes=[*kd.notes, note])
