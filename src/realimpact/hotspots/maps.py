"""Static PNG maps for reports: no web tiles, no points, British National Grid axes.

Reports are read offline and shared with partners; a basemap from a tile
server would need the network and can leak the area of interest to a third
party, and plotted points would disclose incidents. So maps show areas or a
density surface only, on BNG metres, with a legend that states what the
colours mean and how significance was judged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from realimpact.errors import InputError

__all__ = ["CLASS_COLOURS", "density_map", "hotspot_map"]

CLASS_COLOURS = {
    "hot-99": "#b2182b",
    "hot-95": "#ef8a62",
    "hot-90": "#fddbc7",
    "not-significant": "#eeeeee",
    "cold-90": "#d1e5f0",
    "cold-95": "#67a9cf",
    "cold-99": "#2166ac",
    "no-neighbours": "#ffffff",
}

EMERGING_COLOURS = {
    "new": "#fee08b", "consecutive": "#fdae61", "intensifying": "#a50026",
    "persistent": "#d73027", "diminishing": "#f46d43", "sporadic": "#fdd49e",
    "oscillating": "#c994c7", "historical": "#bcbddc",
}  # fmt: skip


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 8), dpi=150)
    return fig, ax, plt


def _polys(geoms: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Exterior rings of (multi)polygons and, per ring, the index of its area."""
    import shapely

    parts, idx = shapely.get_parts(geoms, return_index=True)
    rings = [np.asarray(shapely.get_coordinates(shapely.get_exterior_ring(p))) for p in parts]
    return rings, idx


def _finish(fig, ax, plt, path: Path, title: str, note: str) -> dict[str, Any]:
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("Easting (m, EPSG:27700)")
    ax.set_ylabel("Northing (m)")
    ax.set_aspect("equal")
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(labelsize=7)
    fig.text(0.01, 0.01, note, fontsize=7, color="#444444")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return {"path": str(path), "format": "png"}


def hotspot_map(
    geometries: Any,
    classes: Any,
    path: str | Path,
    *,
    title: str = "Gi* hot spots",
    note: str = "",
    palette: str = "gi",
    values: Any = None,
    shade: bool = True,
) -> dict[str, Any]:
    """PNG of areas coloured by hot-spot class (``palette='gi'``) or emerging category.

    With ``values`` (the analysed value per area), areas that are not
    significant are shaded grey by their value instead of a flat grey, and the
    map is cropped to the areas with any value: on a grid over a force's extent
    most cells are empty fields or sea, and a reader needs to see the hot spots
    against where crime actually is. ``shade=False`` (partner maps) keeps the
    crop but draws every area that is not significant in one flat grey, so the
    map shows no cell's count, not even whether it had one crime or none.
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InputError(f"--map {path}: maps are written as .png")
    geoms = np.asarray(list(geometries), dtype=object)
    if len(geoms) == 0 or any(g is None for g in geoms):
        raise InputError(f"--map {path}: areas have no geometry (load boundaries first)")
    classes = np.asarray(list(classes), dtype=object)
    if palette == "gi":
        colours = np.array([CLASS_COLOURS.get(c, "#ffffff") for c in classes])
        legend = [c for c in CLASS_COLOURS if c in set(classes)]
        lookup = CLASS_COLOURS
    else:

        def col(c: str) -> str:
            kind, _, side = c.rpartition("-")
            if side == "cold":
                return {"#a50026": "#313695"}.get(EMERGING_COLOURS.get(kind, ""), "#74add1")
            return EMERGING_COLOURS.get(kind, "#eeeeee")

        colours = np.array([col(c) for c in classes])
        lookup = {c: col(c) for c in sorted(set(classes))}
        legend = list(lookup)
    edges = np.full(len(geoms), "#999999", dtype=object)
    focus = None
    if values is not None:
        v = np.asarray(list(values), dtype=float)
        plain = np.isin(classes, ["not-significant", "no-neighbours", "no-pattern"])
        some = np.nan_to_num(v) > 0
        if some.any() and not shade:
            colours = np.where(plain, "#e6e6e6", colours)
            edges = np.where(plain, "none", "#555555")
            focus = ~plain | some
        elif some.any():
            level = np.log1p(np.where(some, v, 0.0))
            level = level / level[some].max()
            grey = (0.93 - 0.45 * level).clip(0.45, 0.93)
            greys = np.array(
                [f"#{int(g * 255):02x}{int(g * 255):02x}{int(g * 255):02x}" for g in grey]
            )
            colours = np.where(plain & some, greys, np.where(plain, "#ffffff", colours))
            edges = np.where(plain & ~some, "none", np.where(plain, "#d9d9d9", "#555555"))
            focus = ~plain | some
            legend = [c for c in legend if c != "not-significant"]
    fig, ax, plt = _figure()
    rings, idx = _polys(geoms)
    pc = PolyCollection(rings, facecolors=colours[idx], edgecolors=edges[idx], linewidths=0.2)
    ax.add_collection(pc)
    if focus is not None and focus.any():
        import shapely

        x0, y0, x1, y1 = shapely.total_bounds(geoms[focus])
        pad = 0.03 * max(x1 - x0, y1 - y0, 1.0)
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y0 - pad, y1 + pad)
    else:
        ax.autoscale_view()
    shown = [float(v) for v in (*ax.get_xlim(), *ax.get_ylim())]
    ax.legend(
        handles=[Patch(facecolor=lookup[c], edgecolor="#999999", label=c) for c in legend]
        + ([Patch(facecolor="#9a9a9a", edgecolor="#d9d9d9", label="not significant (grey = value)")]
           if focus is not None and shade else []),
        loc="upper left", fontsize=7, frameon=True, bbox_to_anchor=(1.01, 1.0),
    )  # fmt: skip
    result = _finish(fig, ax, plt, path, title, note)
    result["extent"] = [shown[0], shown[2], shown[1], shown[3]]
    return result


def density_map(kde: Any, path: str | Path, *, title: str = "Kernel density") -> dict[str, Any]:
    """PNG of a :class:`~realimpact.hotspots.kde.KernelDensity` surface (zero = blank)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InputError(f"--map {path}: maps are written as .png")
    fig, ax, plt = _figure()
    x0, y0, x1, y1 = kde.bounds
    data = np.ma.masked_less_equal(kde.density, 0)
    im = ax.imshow(data, extent=(x0, x1, y0, y1), origin="upper", cmap="magma_r",
                   interpolation="nearest")  # fmt: skip
    cb = fig.colorbar(im, ax=ax, shrink=0.7)
    cb.set_label(("harm-weighted " if kde.weighted else "") + "points per km²", fontsize=8)
    note = (
        f"{kde.kernel} kernel, bandwidth {kde.bandwidth:.0f} m ({kde.bandwidth_rule}), "
        f"cell {kde.cell:g} m, {kde.n_points:,} points; no basemap"
    )
    return _finish(fig, ax, plt, path, title, note)
