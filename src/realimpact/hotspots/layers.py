"""Hot-spot analyses on what the store holds: the functions the CLI calls.

Each reads small aggregated frames through :mod:`realimpact.store.queries`
(counts per area, points), turns them into values with the harm weights, and
hands plain arrays to the statistics (:mod:`.gi`, :mod:`.kde`,
:mod:`.emerging`), which know nothing about the store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from realimpact._progress import ProgressFn
from realimpact.errors import InputError
from realimpact.periods import check_month
from realimpact.store import Store, using_store

__all__ = ["GiLayerResult", "hotspots_emerging", "hotspots_gi", "hotspots_kde"]

StoreLike = Store | str | os.PathLike | None


def _check_month(value: str | None, option: str) -> str | None:
    return None if value is None else check_month(value, option)


def _check_period(period_from: str | None, period_to: str | None) -> None:
    """Fail on a malformed month before the store is opened."""
    _check_month(period_from, "--period-from")
    _check_month(period_to, "--period-to")


def _check_weights_cover(crime_types: Iterable[str], weights: Mapping[str, float]) -> None:
    """Every crime type in the data needs a weight: a silent 0 would hide harm."""
    unknown = sorted(set(crime_types) - set(weights))
    if unknown:
        raise InputError(f"--weights: no harm weight for crime type(s) {', '.join(unknown)}")


def _months(first: str, last: str) -> list[str]:
    p = pd.period_range(first, last, freq="M")
    return [str(m) for m in p]


def resolve_harm_weights(
    harm_weights: str | Mapping[str, float] | None, store: Store | None = None
) -> tuple[dict[str, float] | None, str | None]:
    """``--weights NAME`` (shipped/stored set or YAML path) or a mapping -> (weights, name)."""
    if harm_weights is None:
        return None, None
    if isinstance(harm_weights, Mapping):
        return {str(k): float(v) for k, v in harm_weights.items()}, "custom"
    from realimpact.harm.weights import get_weights

    ws = get_weights(str(harm_weights), store)
    return dict(ws.weights), ws.name


def _period_text(month_from: str | None, month_to: str | None) -> str:
    """How the period options read in a message: the options by their real names."""
    if month_from or month_to:
        opts = []
        if month_from:
            opts.append(f"--period-from {month_from}")
        if month_to:
            opts.append(f"--period-to {month_to}")
        return " ".join(opts)
    return "all months"


def _check_crime_types(crime_types: Sequence[str] | None) -> None:
    """An unknown crime type fails at once, with a did-you-mean (not 'no crimes')."""
    if crime_types:
        from realimpact.harm.index import check_crime_types

        check_crime_types(crime_types)


def _shared_months(
    st: Store,
    forces_used: Iterable[str],
    month_from: str | None,
    month_to: str | None,
    force: str | None,
) -> tuple[list[str] | None, list[str]]:
    """Months every force in the selection published, or None when they all agree.

    Pooling forces that published different months would compare one
    force's 36 months with another's 5 (or read the missing months as zeros),
    so a map of several forces keeps the months they share and says which
    it left out.
    """
    from realimpact.store.forces import force_months, force_name

    used = {force_name(f) for f in forces_used}
    fm = {
        f: {
            m for m in ms if (not month_from or m >= month_from) and (not month_to or m <= month_to)
        }
        for f, ms in force_months(st, "crimes", force).items()
        if f in used
    }
    if len({frozenset(v) for v in fm.values()}) <= 1:
        return None, []
    common = sorted(set.intersection(*fm.values()))
    left = sorted(set().union(*fm.values()) - set(common))
    if not common:
        raise InputError(
            f"{' and '.join(sorted(fm))} share no published month"
            f" ({'; '.join(f'{f}: {min(v)}..{max(v)}' for f, v in sorted(fm.items()))});"
            " choose one with --force"
        )
    note = (
        f"{len(fm)} forces published different months: only the {len(common)} month(s) all"
        f" published are used ({common[0]}..{common[-1]}); {len(left)} month(s) left out"
        " rather than counted as zero (use --force for one force's months)"
    )
    return common, [note]


@dataclass
class GiLayerResult:
    """Gi* on a stored layer: the statistic plus the areas it was run on."""

    gi: Any  # GiStar
    areas: pd.DataFrame  # area_id, name, geometry
    params: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    count: np.ndarray | None = None  # records per area (the value may be harm-weighted)

    def to_frame(self) -> pd.DataFrame:
        """``area_id, name, value, [count], gi_z, p_sim, p_norm, p_adjusted, hotspot_class,
        geometry``."""
        f = self.gi.to_frame()
        f.insert(1, "name", self.areas["name"].to_numpy())
        if self.count is not None:
            f.insert(3, "count", self.count)
        f["geometry"] = self.areas["geometry"].to_numpy()
        return f

    def partner_frame(self, threshold: int = 5) -> pd.DataFrame:
        """The areas fit for partners (:func:`realimpact.hotspots.sharing.gi_frame`).

        Classes and counts of at least ``threshold`` are kept; z-scores and
        p-values are dropped (with the neighbours' values shown, an area's Gi*
        z gives back its own blanked value), and so are harm-weighted values
        (they split back into per-type counts with the public weights).
        """
        import dataclasses

        from realimpact.disclosure.profiles import get_profile as _profile
        from realimpact.hotspots.sharing import names_allowed

        if self.count is None:
            raise ValueError("partner output needs the record count per area")
        prof = dataclasses.replace(_profile("partner"), threshold=threshold)
        return self.shared_frame(prof, names=names_allowed(prof, self.params["layer"], None))

    def shared_frame(self, profile: Any, *, names: bool, counts: Any = None) -> pd.DataFrame:
        """The areas fit for ``profile``'s audience; ``counts`` collects what was withheld."""
        from realimpact.hotspots.sharing import gi_frame

        return gi_frame(
            self.to_frame(), profile, harm_weighted=self.params.get("harm_weights") is not None,
            names=names, counts=counts,
        )  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return {**self.params, **self.gi.summary(), "notes": [*self.notes, *self.gi.notes]}


def _layer_values(
    st: Store,
    layer: str,
    crime_types: Sequence[str] | None,
    weights: dict[str, float] | None,
    month_from: str | None,
    month_to: str | None,
    by_month: bool,
    force: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(areas, counts, notes); counts restricted to the layer's areas.

    Only months published by every force with records in the layer are kept
    (:func:`_shared_months`); ``force`` keeps one force's records.
    """
    from realimpact.store.queries import load_layer, record_counts

    areas = load_layer(st, layer).reset_index(drop=True)
    if areas.empty:
        raise InputError(f"--layer {layer}: the layer has no areas (empty layer)")
    by = ("month", "falls_within", "crime_type")
    counts = record_counts(
        st, layer=layer, by=by, crime_types=list(crime_types) if crime_types else None,
        month_from=month_from, month_to=month_to, force=force,
    )  # fmt: skip
    shared_notes: list[str] = []
    if not counts.empty:
        inside_forces = counts.loc[counts["area_id"].isin(set(areas["area_id"])), "falls_within"]
        keep, shared_notes = _shared_months(
            st, inside_forces.dropna().unique(), month_from, month_to, force
        )
        if keep is not None:
            counts = counts[counts["month"].isin(set(keep))]
    keys = ["area_id", "month", "crime_type"] if by_month else ["area_id", "crime_type"]
    counts = counts.groupby(keys, as_index=False)["n"].sum()
    what = ", ".join(crime_types) if crime_types else "all crime types"
    if counts.empty or counts["n"].sum() == 0:
        raise InputError(
            f"--period {_period_text(month_from, month_to)}: no crimes ({what}) in layer "
            f"{layer!r}; check the period and crime types"
        )
    notes = list(shared_notes)
    inside = counts["area_id"].isin(set(areas["area_id"]))
    if not inside.all():
        lost = int(counts.loc[~inside, "n"].sum())
        notes.append(f"{lost} record(s) in areas outside layer {layer!r} left out")
        counts = counts[inside]
        if counts.empty:  # e.g. boundaries of another place loaded as this layer
            raise InputError(
                f"--layer {layer}: none of the {lost} selected records falls in an area of"
                " this layer (do its area ids match the records?)"
            )
    if weights is not None:
        _check_weights_cover(counts["crime_type"], weights)
    return areas, counts, notes


def _read_layer(
    store: StoreLike,
    layer: str,
    crime_types: Sequence[str] | None,
    harm_weights: str | Mapping[str, float] | None,
    period_from: str | None,
    period_to: str | None,
    by_month: bool,
    force: str | None = None,
) -> tuple[
    pd.DataFrame, pd.DataFrame, list[str], dict[str, float] | None, str | None, list[str] | None
]:
    """(areas, counts, notes, weights, weights name, months published): what Gi* and
    emerging both start from. ``months`` are the months the selection's forces
    published in the period (None when no force is named in the records)."""
    _check_period(period_from, period_to)
    _check_crime_types(crime_types)
    with using_store(store) as st:
        if force is not None:
            from realimpact.store.forces import resolve_force

            force = resolve_force(st, force, ("crimes",))
        weights_map, weights_name = resolve_harm_weights(harm_weights, st)
        areas, counts, notes = _layer_values(
            st, layer, crime_types, weights_map, period_from, period_to, by_month=by_month,
            force=force,
        )  # fmt: skip
        months = _published_months(st, counts, period_from, period_to, force)
    return areas, counts, notes, weights_map, weights_name, months


def _published_months(
    st: Store,
    counts: pd.DataFrame,
    month_from: str | None,
    month_to: str | None,
    force: str | None,
) -> list[str]:
    """Months published in the period by the forces kept, those shared if several."""
    from realimpact.store.forces import force_months

    fm = force_months(st, "crimes", force)
    sets = [
        {m for m in ms if (not month_from or m >= month_from) and (not month_to or m <= month_to)}
        for ms in fm.values()
    ]
    sets = [x for x in sets if x]
    if not sets:
        return []
    months = set.intersection(*sets) if len(sets) > 1 else sets[0]
    if "month" in counts.columns:  # forces outside the layer do not restrict it
        months |= set(counts["month"])
    return sorted(months)


def _neighbours(layer: str, areas: pd.DataFrame, contiguity: str) -> Any:
    """Spatial weights of the layer's areas; code-only LSOAs have no neighbours to find."""
    from realimpact.geo.weights import build_weights

    if layer == "lsoa" and areas["geometry"].isna().any():
        raise InputError(
            "--layer lsoa: LSOA boundaries are not loaded, so neighbours are unknown; "
            "load them with `realimpact ingest boundaries PATH --layer lsoa` or use a grid layer"
        )
    return build_weights(areas["area_id"].tolist(), areas["geometry"].to_numpy(), contiguity)


def hotspots_gi(
    store: StoreLike,
    layer: str,
    *,
    crime_types: Sequence[str] | None = None,
    harm_weights: str | Mapping[str, float] | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
    contiguity: str = "queen",
    transform: str = "B",
    permutations: int = 999,
    seed: int | None = None,
    correction: str = "fdr_bh",
    alternative: str = "two-sided",
    inference: str = "auto",
    progress: ProgressFn | None = None,
    force: str | None = None,
) -> GiLayerResult:
    """Gi* hot spots of (harm-weighted) crime counts on a stored area layer.

    ``force`` (name or slug) keeps one force. When the layer holds records of
    several forces that published different months, only the months they all
    published are summed (a note says so): never one force's 36 months
    against another's 5.
    """
    from realimpact.hotspots.gi import GiStar, harm_values

    areas, counts, notes, weights_map, weights_name, _ = _read_layer(
        store, layer, crime_types, harm_weights, period_from, period_to, by_month=False,
        force=force,
    )  # fmt: skip
    values = harm_values(counts, weights_map, area_ids=areas["area_id"].tolist())
    w = _neighbours(layer, areas, contiguity)
    if w.n_islands:
        shown = ", ".join(map(str, w.islands[:5])) + (" ..." if w.n_islands > 5 else "")
        notes.append(f"{w.n_islands} area(s) without neighbours, not tested: {shown}")
    gi = GiStar(
        values, w, transform=transform, permutations=permutations, seed=seed,
        alternative=alternative, correction=correction, inference=inference, progress=progress,
    )  # fmt: skip
    params = {
        "layer": layer,
        "crime_types": list(crime_types) if crime_types else None,
        "harm_weights": weights_name,
        "value": "harm-weighted count" if weights_map else "count",
        "period_from": period_from,
        "period_to": period_to,
        "contiguity": contiguity,
        "force": force,
    }
    per_area = counts.groupby("area_id")["n"].sum()
    count = per_area.reindex(areas["area_id"], fill_value=0).to_numpy(dtype=np.int64)
    return GiLayerResult(gi=gi, areas=areas[["area_id", "name", "geometry"]], params=params,
                         notes=notes, count=count)  # fmt: skip


def hotspots_emerging(
    store: StoreLike,
    layer: str,
    *,
    crime_types: Sequence[str] | None = None,
    harm_weights: str | Mapping[str, float] | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
    contiguity: str = "queen",
    transform: str = "B",
    permutations: int = 999,
    seed: int | None = None,
    correction: str = "fdr_bh",
    alpha: float = 0.05,
    trend_alpha: float = 0.05,
    inference: str = "auto",
    progress: ProgressFn | None = None,
    force: str | None = None,
) -> tuple[Any, pd.DataFrame, dict[str, Any]]:
    """Emerging hot spots per month on a stored layer -> (EmergingHotSpots, areas, params).

    The months are those published (by every force of the layer, or by
    ``force``): a month with no data is left out, never a month of zeros.
    """
    from realimpact.hotspots.emerging import EmergingHotSpots

    areas, counts, notes, weights_map, weights_name, published = _read_layer(
        store, layer, crime_types, harm_weights, period_from, period_to, by_month=True,
        force=force,
    )  # fmt: skip
    months = published or _months(counts["month"].min(), counts["month"].max())
    # a bound the user named is kept, so a bound month without data is refused
    # by name (below) rather than silently moved
    months = sorted(set(months) | {m for m in (period_from, period_to) if m})
    from realimpact.store.forces import missing_months

    gaps = [
        m
        for m in missing_months(months)
        if (not period_from or m >= period_from) and (not period_to or m <= period_to)
    ]
    if gaps:
        notes.append(
            f"{len(gaps)} month(s) without data left out ({', '.join(gaps[:6])}"
            f"{' ...' if len(gaps) > 6 else ''}): the months are not all consecutive"
        )
    n = counts["n"].astype(float)
    if weights_map is not None:
        n = n * counts["crime_type"].map(weights_map).astype(float)
    mat = (
        pd.DataFrame({"area_id": counts["area_id"], "month": counts["month"], "v": n})
        .pivot_table(index="area_id", columns="month", values="v", aggfunc="sum", fill_value=0.0)
        .reindex(index=areas["area_id"], columns=months, fill_value=0.0)
    )
    w = _neighbours(layer, areas, contiguity)
    eh = EmergingHotSpots(
        mat, w, transform=transform, permutations=permutations, seed=seed,
        correction=correction, alpha=alpha, trend_alpha=trend_alpha, inference=inference,
        progress=progress,
    )  # fmt: skip
    eh.notes[:0] = notes
    params = {
        "layer": layer,
        "crime_types": list(crime_types) if crime_types else None,
        "harm_weights": weights_name,
        "contiguity": contiguity,
        "force": force,
    }
    return eh, areas[["area_id", "name", "geometry"]], params


def hotspots_kde(
    store: StoreLike,
    *,
    crime_types: Sequence[str] | None = None,
    harm_weights: str | Mapping[str, float] | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
    cell: float = 50.0,
    bandwidth: float | None = None,
    kernel: str = "quartic",
    audience: str = "analyst",
    force: str | None = None,
    profile: Any = None,
    counts: Any = None,
) -> Any:
    """Kernel density of (harm-weighted) crime points -> KernelDensity.

    For a shared audience (``audience`` partner or public, or a ``profile``
    from :func:`realimpact.disclosure.profiles.get_profile`) the surface is drawn
    from a protected support grid (:func:`realimpact.hotspots.sharing.shared_density`):
    an exact surface at the public snap points solves back to every location's
    count. ``counts`` (a Counter) collects what was withheld, for the manifest.
    ``force`` keeps one force's points; with several forces that published
    different months only the months they share are used (``kd.notes``).
    """
    from realimpact.disclosure.profiles import get_profile
    from realimpact.hotspots.kde import kernel_density
    from realimpact.hotspots.sharing import shared_density
    from realimpact.store.queries import record_points

    if profile is None:
        profile = get_profile(audience)
    _check_period(period_from, period_to)
    _check_crime_types(crime_types)
    notes: list[str] = []
    with using_store(store) as st:
        if force is not None:
            from realimpact.store.forces import resolve_force

            force = resolve_force(st, force, ("crimes",))
        weights_map, _ = resolve_harm_weights(harm_weights, st)
        pts = record_points(
            st, crime_types=list(crime_types) if crime_types else None,
            month_from=period_from, month_to=period_to, force=force,
        )  # fmt: skip
        from realimpact.store.forces import forces_in_store

        keep, notes = _shared_months(
            st, forces_in_store(st, ("crimes",)), period_from, period_to, force
        )
        if keep is not None:
            pts = pts[pts["month"].isin(set(keep))]
    if pts.empty:
        what = ", ".join(crime_types) if crime_types else "all crime types"
        raise InputError(
            f"--period {_period_text(period_from, period_to)}: no crimes ({what}) with "
            "coordinates in the store"
        )
    w = None
    if weights_map is not None:
        _check_weights_cover(pts["crime_type"], weights_map)
        w = pts["crime_type"].map(weights_map).to_numpy(dtype=float)
    x, y = pts["easting"].to_numpy(dtype=float), pts["northing"].to_numpy(dtype=float)
    if profile.suppresses:
        kd = shared_density(x, y, w, profile, cell=cell, bandwidth=bandwidth, kernel=kernel,
                            counts=counts)  # fmt: skip
    else:
        kd = kernel_density(x, y, w, cell=cell, bandwidth=bandwidth, kernel=kernel)
    kd.notes[:0] = notes
    return kd
