"""Charts for the Results Analysis report, as inline SVG strings.

Inline SVG keeps the report one self-contained file that opens offline (no
CDN, no image files beside it), prints sharply, and keeps its text
selectable (``svg.fonttype = none``). User text (titles, labels, area
names) goes through :func:`plain_text`, so a ``$`` is drawn as a dollar sign
and never starts matplotlib mathematics. The hash salt and empty metadata make
the same results give the same bytes. Charts draw what they are given; they
compute nothing beyond indexing a series to its baseline mean for display.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from realimpact.hotspots.maps import plain_text

ROLE_COLOURS = {"target": "#c0392b", "buffer": "#e69f00", "control": "#0072b2", "other": "#d9d9d9"}
_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "realimpact",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}


def _svg(fig: plt.Figure, alt: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    # keep only the <svg> element: no XML prolog or DOCTYPE inside an HTML page
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    return text.replace("<svg ", f'<svg role="img" aria-label="{_esc(alt)}" ', 1)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def series_chart(
    months: Sequence[str],
    lines: dict[str, Sequence[float | None]],
    op_from: str | None,
    op_to: str | None,
    baseline_from: str | None,
    title: str,
) -> str | None:
    """Monthly counts per role, each indexed to its own baseline mean (= 100).

    Indexing puts a target of 8 areas and a control of 30 on one scale; the
    shaded band is the operation. ``None`` values (suppressed) are gaps.
    """
    if not months or not lines:
        return None
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(6.4, 2.6))
        x = list(range(len(months)))
        base_mask = [
            (baseline_from is None or m >= baseline_from) and (op_from is None or m < op_from)
            for m in months
        ]
        drawn = False
        for role, ys in lines.items():
            vals = [float("nan") if v is None else float(v) for v in ys]
            base = [v for v, b in zip(vals, base_mask, strict=False) if b and math.isfinite(v)]
            mean = sum(base) / len(base) if base else float("nan")
            if not (mean > 0):
                continue
            ax.plot(
                x,
                [100 * v / mean for v in vals],
                label=plain_text(role),
                color=ROLE_COLOURS.get(role, "#555"),
                lw=2 if role == "target" else 1.3,
            )
            drawn = True
        if not drawn:
            plt.close(fig)
            return None
        if op_from and op_to and op_from in months:
            i0 = months.index(op_from)
            i1 = months.index(op_to) if op_to in months else len(months) - 1
            ax.axvspan(i0 - 0.5, i1 + 0.5, color="#999", alpha=0.15, lw=0, label="operation")
        ax.axhline(100, color="#999", lw=0.6, ls=":")
        step = max(1, math.ceil(len(months) / 6))
        ax.set_xticks(x[::step], [plain_text(_month_label(months[i])) for i in x[::step]])
        ax.set_ylabel("index (baseline = 100)")
        ax.set_title(plain_text(title), loc="left")
        ax.legend(frameon=False, ncol=4, fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.12))
        return _svg(fig, f"{title}: monthly records, target, buffer and control areas")


def _rows_figure(n: int, row_height: float) -> tuple[Any, Any, list[int]]:
    """A figure for ``n`` horizontal rows, first row on top: (fig, ax, y of each row)."""
    fig, ax = plt.subplots(figsize=(6.4, row_height * n + 0.9))
    return fig, ax, list(range(n))[::-1]


def forest_chart(rows: list[dict[str, Any]], title: str, xlabel: str) -> str | None:
    """Rate ratios with 95 percent intervals; optional true values as diamonds.

    rows: [{label, rr, lo, hi, true?}] (true only in analyst reports on simulated data).
    """
    rows = [r for r in rows if _finite(r.get("rr"), r.get("lo"), r.get("hi"))]
    if not rows:
        return None
    with plt.rc_context(_RC):
        fig, ax, ys = _rows_figure(len(rows), 0.45)
        for y, r in zip(ys, rows, strict=True):
            colour = "#1a7f37" if r["hi"] < 1 else ("#c0392b" if r["lo"] > 1 else "#555")
            ax.plot([r["lo"], r["hi"]], [y, y], color=colour, lw=2)
            ax.plot([r["rr"]], [y], "o", color=colour, ms=6)
            if _finite(r.get("true")):
                ax.plot([r["true"]], [y], "D", mfc="none", mec="#000", ms=7)
        ax.axvline(1, color="#999", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_yticks(ys, [plain_text(r["label"]) for r in rows])
        ax.set_xlabel(plain_text(xlabel))
        ax.set_title(plain_text(title), loc="left")
        lo = min(
            min(r["lo"] for r in rows), *(r["true"] for r in rows if _finite(r.get("true"))), 1
        )
        hi = max(
            max(r["hi"] for r in rows), *(r["true"] for r in rows if _finite(r.get("true"))), 1
        )
        ax.set_xlim(lo / 1.1, hi * 1.1)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ticks = [
            t
            for t in (0.25, 0.5, 0.67, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 4)
            if lo / 1.1 <= t <= hi * 1.1
        ]
        ax.set_xticks(ticks)
        return _svg(fig, title)


def bar_chart(
    items: list[tuple[str, float]], title: str, xlabel: str, *, positive_is_good: bool = False
) -> str | None:
    """Horizontal bars: green where the change is good, red where it adds harm."""
    items = [(k, v) for k, v in items if _finite(v)]
    if not items:
        return None
    with plt.rc_context(_RC):
        fig, ax, ys = _rows_figure(len(items), 0.42)
        vals = [v for _, v in items]
        good = [(v > 0) if positive_is_good else (v < 0) for v in vals]
        ax.barh(ys, vals, color=["#1a7f37" if g else "#c0392b" for g in good])
        ax.axvline(0, color="#333", lw=0.8)
        ax.set_yticks(ys, [plain_text(k) for k, _ in items])
        ax.set_xlabel(plain_text(xlabel))
        ax.set_title(plain_text(title), loc="left")
        return _svg(fig, title)


def survey_chart(rows: list[dict[str, Any]], title: str) -> str | None:
    """Change in mean response (after - before) with its interval, per group and item."""
    rows = [r for r in rows if _finite(r.get("diff"))]
    if not rows:
        return None
    with plt.rc_context(_RC):
        fig, ax, ys = _rows_figure(len(rows), 0.4)
        for y, r in zip(ys, rows, strict=True):
            c = ROLE_COLOURS.get(str(r.get("role", "")), "#555")
            if _finite(r.get("ci_low"), r.get("ci_high")):
                ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=c, lw=2)
            ax.plot([r["diff"]], [y], "o", color=c)
        ax.axvline(0, color="#999", lw=0.8, ls="--")
        ax.set_yticks(ys, [plain_text(r["label"]) for r in rows])
        ax.set_xlabel("change in mean response, after minus before (Likert points)")
        ax.set_title(plain_text(title), loc="left")
        return _svg(fig, title)


def area_map(
    areas: list[dict[str, Any]],
    points: Sequence[Any] | None,
    title: str,
    *,
    names: bool | None = None,
) -> str | None:
    """Areas coloured by role (target, buffer, control); optional record points.

    areas: [{role, wkt, name?}] in British National Grid metres (may be empty
    when only points are known). points: [{role, e, n}] (drawn in the colour
    of their area's role) or bare [e, n] pairs (drawn dark grey). Partner
    reports pass no points. Area names are written on the map when there are
    few areas (``names=None``: up to 12).
    """
    import shapely

    geoms = []
    for a in areas or []:
        try:
            geoms.append((a.get("role", "other"), shapely.from_wkt(a["wkt"]), a.get("name")))
        except Exception:  # a malformed geometry is skipped, not fatal to the report
            continue
    by_role: dict[str, list[tuple[float, float]]] = {}
    for p in points or []:
        if isinstance(p, dict):
            role, e, n = str(p.get("role") or "other"), p.get("e"), p.get("n")
        elif isinstance(p, Sequence) and len(p) >= 2:
            role, e, n = "", p[0], p[1]
        else:
            continue
        if _finite(e, n):
            by_role.setdefault(role, []).append((float(e), float(n)))
    if not geoms and not by_role:
        return None
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(5.6, 5.2))
        roles_seen: set[str] = set()
        for role, g, _ in geoms:
            for part in getattr(g, "geoms", [g]):
                if part.geom_type != "Polygon":
                    continue
                roles_seen.add(role)
                xs, ys = part.exterior.xy
                ax.fill(
                    xs,
                    ys,
                    color=ROLE_COLOURS.get(role, ROLE_COLOURS["other"]),
                    alpha=(0.55 if by_role else 0.75) if role != "other" else 0.5,
                    ec="white",
                    lw=0.6,
                )
        for role, pts in by_role.items():
            px, py = zip(*pts, strict=True)
            colour = ROLE_COLOURS.get(role, "#222") if role else "#222"
            if geoms and role:
                colour = "#222" if role == "other" else _darker(colour)
            ax.scatter(
                px,
                py,
                s=3 if not geoms else 1.5,
                c=colour,
                alpha=0.6 if not geoms else 0.4,
                lw=0,
                rasterized=True,
            )
            if role:
                roles_seen.add(role)
        show_names = names if names is not None else 0 < len(geoms) <= 12
        if show_names:
            for _, g, name in geoms:
                if name and not g.is_empty:
                    c = g.representative_point()
                    ax.annotate(
                        plain_text(name),
                        (c.x, c.y),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="#111",
                        bbox={
                            "boxstyle": "round,pad=0.15",
                            "fc": "white",
                            "ec": "none",
                            "alpha": 0.7,
                        },
                    )
        ax.set_aspect("equal")
        ax.set_axis_off()
        legend = {
            "target": "target",
            "buffer": "buffer (displacement watch)",
            "control": "control (comparison)",
        }
        handles = [
            matplotlib.patches.Patch(color=ROLE_COLOURS[r], label=legend[r])
            for r in ("target", "buffer", "control")
            if r in roles_seen or not roles_seen
        ]
        ax.legend(
            handles=handles,
            frameon=False,
            loc="upper left",
            bbox_to_anchor=(0, -0.02),
            ncol=3,
            fontsize=8,
        )
        ax.set_title(plain_text(title), loc="left")
        return _svg(fig, title)


def _darker(hex_colour: str, f: float = 0.6) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"#{int(r * f):02x}{int(g * f):02x}{int(b * f):02x}"


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _month_label(m: str) -> str:
    """'2024-03' -> 'Mar 24' (short enough for six ticks on a narrow chart)."""
    try:
        return f"{_MONTHS[int(m[5:7]) - 1]} {m[2:4]}"
    except (ValueError, IndexError):
        return m


def _finite(*vals: Any) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in vals)
