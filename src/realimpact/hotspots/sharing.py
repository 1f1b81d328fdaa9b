"""Hot-spot outputs made safe for an audience (docs/sharing.md, docs/hotspots.md).

The hot-spot analyses own their outputs, so they own the adapter between
them and the generic machinery of :mod:`realimpact.disclosure` (which knows
no analysis). For a profile that suppresses (partner, public):

* **Gi*** (per area): the class (hot 99/95/90, not significant, cold) is
  published; z-scores and p-values are not (Gi* of an area is a known linear
  function of its neighbourhood's values, so exact z beside the neighbours'
  values give a blanked value back). Counts 1..threshold-1 are blank with a
  ``suppressed`` flag; the public gets the rest rounded to the profile's base.
  A harm-weighted value is not published at all: a harm sum beside its count
  splits back into per-type counts with the public weights (one burglary, one
  criminal damage ...). The all-area total is withheld (with the shown
  counts it would give the blanked ones back).
* **Emerging hot spots**: the category, the final month's bin and the number
  of hot/cold months. The monthly Gi* z (``final_z``) and the trend's
  statistics are not published: all areas' z of one month determine that
  month's counts up to a common scale, which the integers then fix.
* **KDE**: the surface is drawn from a protected support grid
  (:func:`realimpact.disclosure.surface.protected_support`): points summed
  into cells of at least :data:`MIN_GRID_CELL` metres, cells below the
  threshold dropped, counts rounded (public), then smoothed with a bandwidth
  of at least :data:`MIN_BANDWIDTH`. Nothing finer than a support cell's
  protected count can be solved back from it; the number of points and the
  total weight are withheld (beside the surface they would give the dropped
  cells' sum).

Area names are published only for boundary layers an audience may see
(LSOA or coarser); a grid layer finer than :data:`MIN_GRID_CELL` is refused.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realimpact.disclosure.contract import withhold
from realimpact.disclosure.manifest import write_manifest
from realimpact.disclosure.perturb import perturb_count
from realimpact.disclosure.profiles import LAYER_ORDER, Profile
from realimpact.disclosure.rounding import round_to_base
from realimpact.disclosure.surface import protected_support, round_significant
from realimpact.disclosure.tables import partner_frame
from realimpact.errors import ValidationError

#: the smallest grid cell (metres) an area layer or a KDE support grid may have, per audience
MIN_GRID_CELL = {"partner": 100.0, "public": 500.0}
#: the smallest KDE bandwidth (metres) per audience: a narrow kernel draws each support cell alone
MIN_BANDWIDTH = {"partner": 200.0, "public": 500.0}
#: statistics of a Gi* row that, beside the neighbours' values, solve back to a value
GI_STATS = ("gi_z", "p_sim", "p_norm", "p_adjusted")
#: statistics of an emerging row computed from the monthly z (see the module docstring)
EMERGING_STATS = ("final_z", "trend_z", "trend_p", "trend_tau")
#: boundary layers whose names may be shown (official names of statistical areas)
NAMED_LAYERS = frozenset(LAYER_ORDER[LAYER_ORDER.index("lsoa") :])


def check_layer(profile: Profile, layer: str, info: Mapping[str, Any] | None) -> None:
    """Refuse a layer finer than the audience may see (a ValidationError naming --layer)."""
    if not profile.suppresses:
        return
    kind = (info or {}).get("kind")
    size = (info or {}).get("cell_size")
    if kind == "grid" and size is not None and float(size) < MIN_GRID_CELL[profile.name]:
        raise ValidationError(
            f"--layer {layer}: {float(size):g} m grid cells are finer than the"
            f" {MIN_GRID_CELL[profile.name]:g} m the {profile.name} audience may be shown;"
            " build a coarser grid"
        )
    if kind != "grid" and not profile.layer_allowed(layer):
        raise ValidationError(
            f"--layer {layer}: finer than {profile.finest_layer}, the finest the"
            f" {profile.name} audience may be shown"
        )


def names_allowed(profile: Profile, layer: str, info: Mapping[str, Any] | None) -> bool:
    """Area names only for known statistical layers (LSOA or coarser) the profile allows."""
    if not profile.suppresses:
        return True
    if (info or {}).get("kind") == "grid":
        return False
    return layer in NAMED_LAYERS and profile.layer_allowed(layer)


def _round_counts(values: pd.Series, profile: Profile, ids: Iterable[str], what: str) -> pd.Series:
    """Perturb (cell key) then round the shown counts; blanks stay blank."""
    out = []
    for v, cid in zip(values.to_numpy(dtype=float), ids, strict=True):
        if not math.isfinite(v):
            out.append(np.nan)
            continue
        c = round(v)
        if profile.perturbation is not None:
            c = perturb_count(
                c, f"{what}|{cid}", profile.perturbation.key, profile.perturbation.max,
                profile.threshold,
            )  # fmt: skip
        out.append(float(round_to_base(c, profile.rounding)))
    return pd.Series(out, index=values.index, dtype=float)


def _names(frame: pd.DataFrame, keep: bool, counts: Counter) -> pd.DataFrame:
    if keep or "name" not in frame.columns:
        return frame
    counts["dropped"] += 1
    return frame.drop(columns=["name"])


def gi_frame(
    frame: pd.DataFrame,
    profile: Profile,
    *,
    harm_weighted: bool,
    names: bool,
    counts: Counter | None = None,
    cell_prefix: str = "gi",
) -> pd.DataFrame:
    """The Gi* areas fit for ``profile`` (see the module docstring); ``counts`` feed the manifest."""
    counts = Counter() if counts is None else counts
    if not profile.suppresses:
        return frame
    if "count" not in frame.columns:
        raise ValueError("a shared Gi* table needs the record count per area")
    drop = [c for c in GI_STATS if c in frame.columns]
    if harm_weighted and "value" in frame.columns:
        drop.append("value")
        counts["derived"] += int((frame["count"] > 0).sum())
    counts["dropped"] += len(drop)
    out = partner_frame(
        _names(frame, names, counts), counts=["count"], guarded={"value": "count"}, drop=drop,
        threshold=profile.threshold,
    )  # fmt: skip
    counts["primary"] += int(out["suppressed"].sum())
    if profile.rounding > 1 or profile.perturbation is not None:
        before = out["count"].copy()
        out["count"] = _round_counts(out["count"], profile, out["area_id"].astype(str), cell_prefix)
        if "value" in out.columns:
            out["value"] = out["count"]
        changed = before.notna() & (before != out["count"])
        counts["rounded"] += int(changed.sum())
    out.attrs.update(audience=profile.name, suppression_threshold=profile.threshold)
    return out


def emerging_frame(
    frame: pd.DataFrame, profile: Profile, *, names: bool, counts: Counter | None = None
) -> pd.DataFrame:
    """The emerging areas fit for ``profile``: categories and bins, no z or trend statistics."""
    counts = Counter() if counts is None else counts
    if not profile.suppresses:
        return frame
    drop = [c for c in EMERGING_STATS if c in frame.columns]
    counts["dropped"] += len(drop)
    return _names(frame, names, counts).drop(columns=drop)


def shared_density(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None,
    profile: Profile,
    *,
    cell: float,
    bandwidth: float | None,
    kernel: str,
    counts: Counter | None = None,
) -> Any:
    """A KernelDensity fit for ``profile``: smoothed from a protected support grid.

    The bandwidth is the one asked for (or the automatic rule on the real
    points), raised to the profile's minimum and rounded up to 10 m, so it
    says nothing exact about the points either.
    """
    from realimpact.hotspots.kde import KERNELS, auto_bandwidth, kernel_density

    counts = Counter() if counts is None else counts
    bad_bw = bandwidth is not None and not (bandwidth > 0 and math.isfinite(bandwidth))
    if kernel not in KERNELS or not (cell > 0 and math.isfinite(cell)) or bad_bw:
        # the analyst path refuses these with the message the user knows
        return kernel_density(x, y, weights, cell=cell, bandwidth=bandwidth, kernel=kernel)
    name = profile.name
    support_cell = max(MIN_GRID_CELL[name], float(cell))
    if bandwidth is None:
        ok = np.isfinite(x) & np.isfinite(y)
        bw = auto_bandwidth(x[ok], y[ok], None if weights is None else weights[ok])
        rule = "ArcGIS Pro rule, raised to the audience's minimum and rounded up to 10 m"
    else:
        bw, rule = float(bandwidth), "given"
    if not (bw > 0 and math.isfinite(bw)):  # one location: the analyst path explains it
        return kernel_density(x, y, weights, cell=cell, bandwidth=bandwidth, kernel=kernel)
    shared_bw = math.ceil(max(bw, MIN_BANDWIDTH[name]) / 10.0) * 10.0
    if shared_bw != bw and bandwidth is not None:
        rule = f"given {bw:g} m, raised to the {name} minimum {MIN_BANDWIDTH[name]:g} m"
    pert = profile.perturbation
    sup = protected_support(
        x, y, weights, cell=support_cell, threshold=profile.threshold,
        rounding=profile.rounding, weight_rounding=profile.harm_rounding,
        perturbation=(pert.key, pert.max) if pert else None, cell_prefix="kde",
    )  # fmt: skip
    counts["primary"] += sup.dropped
    counts["rounded"] += sup.rounded
    counts["perturbed"] += sup.perturbed
    counts["derived"] += 2  # the number of points and the total weight
    if sup.kept == 0:
        from realimpact.errors import InputError

        raise InputError(
            f"--audience {name}: every {support_cell:g} m cell holds fewer than"
            f" {profile.threshold} incidents, so there is no surface to share"
        )
    kd = kernel_density(sup.x, sup.y, sup.masses, cell=cell, bandwidth=shared_bw, kernel=kernel)
    note = (
        f"{name} view: drawn from incidents summed into {support_cell:g} m cells, each with at"
        f" least {profile.threshold} (cells with fewer left out), bandwidth {shared_bw:g} m;"
        " densities to 3 significant figures"
    )
    return dataclasses.replace(
        kd, density=round_significant(kd.density, 3), bandwidth_rule=rule,
        n_points=sup.kept, total_weight=float(sup.masses.sum()), weighted=weights is not None,
        notes=[note], support_cell=support_cell, audience=name,
    )  # fmt: skip


def kde_summary(summary: dict[str, Any], kd: Any) -> dict[str, Any]:
    """The KDE summary for a shared surface: points and total weight withheld."""
    out = dict(summary)
    if getattr(kd, "audience", "analyst") == "analyst":
        return out
    out["support_cell_m"] = kd.support_cell
    out["max_density_per_km2"] = float(round_significant(np.array([kd.density.max()]), 3)[0])
    withhold(out, "n_points")
    withhold(out, "total_weight")
    return out


def write_manifests(manifest_: dict[str, Any], outputs: Mapping[str, Any]) -> list[str]:
    """``manifest.json`` beside every written file (one per folder, naming the files in it)."""
    by_dir: dict[Path, list[str]] = {}
    for info in outputs.values():
        p = Path(info["path"])
        by_dir.setdefault(p.resolve().parent, []).append(p.name)
    written = []
    for folder, files in by_dir.items():
        written.append(str(write_manifest({**manifest_, "files": sorted(files)}, folder)))
    return written
