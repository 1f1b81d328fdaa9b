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

__all__ = [
    "CLASS_COLOURS",
    "check_map_path",
    "choropleth_map",
    "density_map",
    "hotspot_map",
    "plain_text",
    "quantile_classes",
]

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


def plain_text(text: object) -> str:
    """User text for a matplotlib title, label or legend, shown as written.

    Matplotlib reads text between two ``$`` as mathematics: ``$5 + $10`` would
    be typeset as a formula and ``$\\bogus{x}$`` would fail the whole map or
    chart. An escaped ``\\$`` is drawn as a plain dollar sign.
    """
    return str(text).replace("$", r"\$")


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 8), dpi=150)
    return fig, ax, plt


def check_map_path(path: str | Path) -> Path:
    """``path`` as a Path if it names a PNG, else an InputError naming --map."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InputError(f"--map {path}: maps are written as .png")
    return path


def _area_geoms(geometries: Any, path: Path) -> np.ndarray:
    geoms = np.asarray(list(geometries), dtype=object)
    if len(geoms) == 0 or any(g is None for g in geoms):
        raise InputError(f"--map {path}: areas have no geometry (load boundaries first)")
    return geoms


def _polys(geoms: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Exterior rings of (multi)polygons and, per ring, the index of its area."""
    import shapely

    parts, idx = shapely.get_parts(geoms, return_index=True)
    rings = [np.asarray(shapely.get_coordinates(shapely.get_exterior_ring(p))) for p in parts]
    return rings, idx


def _finish(fig, ax, plt, path: Path, title: str, note: str) -> dict[str, Any]:
    ax.set_title(plain_text(title), fontsize=11)
    ax.set_xlabel("Easting (m, EPSG:27700)")
    ax.set_ylabel("Northing (m)")
    ax.set_aspect("equal")
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    # the note hangs under the x-axis label, not at the foot of the figure: with an
    # equal-aspect map the figure's foot can be far below the axes, and the tight
    # crop would keep that blank band
    ax.annotate(plain_text(note), xy=(0, 0), xycoords="axes fraction", xytext=(0, -34),
                textcoords="offset points", va="top", fontsize=7, color="#444444",
                annotation_clip=False)  # fmt: skip
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

    path = check_map_path(path)
    geoms = _area_geoms(geometries, path)
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
        handles=[Patch(facecolor=lookup[c], edgecolor="#999999", label=plain_text(c))
                 for c in legend]
        + ([Patch(facecolor="#9a9a9a", edgecolor="#d9d9d9", label="not significant (grey = value)")]
           if focus is not None and shade else []),
        loc="upper left", fontsize=7, frameon=True, bbox_to_anchor=(1.01, 1.0),
    )  # fmt: skip
    result = _finish(fig, ax, plt, path, title, note)
    result["extent"] = [shown[0], shown[2], shown[1], shown[3]]
    return result


def density_map(kde: Any, path: str | Path, *, title: str = "Kernel density") -> dict[str, Any]:
    """PNG of a :class:`~realimpact.hotspots.kde.KernelDensity` surface (zero = blank)."""
    path = check_map_path(path)
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


QUANTILE_COLOURS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")  # ColorBrewer YlOrRd


def quantile_classes(values: np.ndarray, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(class 0..n-1 of each value, breaks): ``pandas.qcut`` bins, (b_i, b_i+1], first closed.

    Tied quantiles merge classes, as ``qcut(duplicates="drop")`` does, so a
    skewed variable may get fewer than ``n`` classes.
    """
    v = np.asarray(values, dtype=float)
    breaks = np.unique(np.quantile(v, np.linspace(0, 1, n + 1)))
    if len(breaks) == 1:  # every value equal: one class
        return np.zeros(len(v), dtype=int), np.array([breaks[0], breaks[0]])
    k = np.clip(np.searchsorted(breaks, v, side="left") - 1, 0, len(breaks) - 2)
    return k, breaks


def choropleth_map(
    geometries: Any,
    values: Any,
    path: str | Path,
    *,
    title: str,
    label: str,
    note: str = "",
    hidden: Any = None,
) -> dict[str, Any]:
    """PNG of areas in five quantile classes of ``values`` (zero: white).

    Quantile classes, the usual choice in crime mapping, keep a handful of
    extreme areas from washing the rest out. ``hidden`` marks areas whose
    value must not be shown (partner maps: fewer than 5 records); they are
    hatched grey, and the class breaks come from the shown values only. The
    map is cropped to areas with a value or hidden, as hot-spot maps are.
    """
    import shapely
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    path = check_map_path(path)
    geoms = _area_geoms(geometries, path)
    v = np.asarray(list(values), dtype=float)
    hide = np.zeros(len(v), bool) if hidden is None else np.asarray(list(hidden), dtype=bool)
    shown = ~hide & (np.nan_to_num(v) > 0)
    colours = np.full(len(v), "#ffffff", dtype=object)
    legend = []
    if shown.any():
        k, breaks = quantile_classes(v[shown])
        palette = QUANTILE_COLOURS[-(len(breaks) - 1) :]
        colours[shown] = np.asarray(palette, dtype=object)[k]
        legend = [
            Patch(facecolor=c, edgecolor="#999999", label=f"{lo:,.1f} to {hi:,.1f}")
            for c, lo, hi in zip(palette, breaks[:-1], breaks[1:], strict=True)
        ]
    colours[hide] = "#d9d9d9"
    fig, ax, plt = _figure()
    rings, idx = _polys(geoms)
    edges = np.where(shown | hide, "#777777", "none")
    ax.add_collection(
        PolyCollection(rings, facecolors=colours[idx], edgecolors=edges[idx], linewidths=0.2)
    )
    if hide.any():
        ring_idx = np.flatnonzero(hide[idx])
        ax.add_collection(
            PolyCollection([rings[i] for i in ring_idx], facecolors="none",
                           edgecolors="#777777", linewidths=0.2, hatch="////")
        )  # fmt: skip
        legend.append(
            Patch(facecolor="#d9d9d9", edgecolor="#777777", hatch="////", label="not shown (<5)")
        )
    focus = shown | hide
    if focus.any():
        x0, y0, x1, y1 = shapely.total_bounds(geoms[focus])
    else:
        x0, y0, x1, y1 = shapely.total_bounds(geoms)
    pad = 0.03 * max(x1 - x0, y1 - y0, 1.0)
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.legend(handles=legend, title=plain_text(label), title_fontsize=7, loc="upper left", fontsize=7,
              frameon=True, bbox_to_anchor=(1.01, 1.0))  # fmt: skip
    result = _finish(fig, ax, plt, path, title, note)
    result["extent"] = [x0 - pad, y0 - pad, x1 + pad, y1 + pad]
    result["areas_shown"] = int(shown.sum())
    result["areas_hidden"] = int(hide.sum())
    return result
