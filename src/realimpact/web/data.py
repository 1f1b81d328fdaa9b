"""What the views show, fetched through the library under the viewer's profile.

Every function takes the open store and the :class:`Profile` that
:mod:`.access` resolved; none has a default audience, so a route cannot forget
it. No SQL here (that is ``store``) and no analysis (that is the library).
"""

from __future__ import annotations

from typing import Any

from realimpact.disclosure.profiles import Profile

#: what a shared audience sees of `realimpact status`: rows and months per force
#: and the layers; no file paths, quarantined rows or store location
_SHARED_STATUS_TABLE = ("rows", "months", "month_min", "month_max", "forces")
_SHARED_STATUS_FORCE = ("force", "key", "rows", "months", "month_min", "month_max", "missing")


def status(st: Any, profile: Profile) -> dict[str, Any]:
    from realimpact.store.status import store_status

    full = store_status(st)
    if not profile.suppresses:
        return {**full, "audience": profile.name}
    tables = {
        name: {
            **{k: t[k] for k in _SHARED_STATUS_TABLE},
            "by_force": [{k: f[k] for k in _SHARED_STATUS_FORCE} for f in t["by_force"]],
        }
        for name, t in full["tables"].items()
    }
    layers = [{k: lay[k] for k in ("layer", "kind", "n_areas")} for lay in full["layers"]]
    return {"audience": profile.name, "tables": tables, "layers": layers}


def harm_index(
    st: Any,
    profile: Profile,
    *,
    layer: str = "lsoa",
    period: str = "month",
    weights: str = "cchi",
    force: str | None = None,
) -> dict[str, Any]:
    """The harm index as ``realimpact harm index --json --audience <profile>`` gives it.

    ``realimpact.harm.sharing.shared_harm_index`` (the harm index's own
    partner/public rules) is used when the library has it; before it landed,
    the committed library's ``partner_index`` (primary suppression of the
    frame with :func:`realimpact.disclosure.tables.partner_frame`).
    """
    from realimpact.harm.index import index_to_dict

    kwargs = {"layer": layer, "period": period, "weights": weights, "force": force}
    try:
        from realimpact.harm.sharing import shared_harm_index
    except ImportError:  # pragma: no cover - older library
        shared_harm_index = None
    if shared_harm_index is not None:
        df = shared_harm_index(st, profile, **kwargs)
    else:  # pragma: no cover - older library
        from realimpact.harm.index import harm_index as _harm_index
        from realimpact.harm.index import partner_index

        df = _harm_index(st, **kwargs)
        if profile.suppresses:
            df = partner_index(df, profile.threshold)
    out = index_to_dict(df)
    out["audience"] = profile.name
    pop = out.get("population")
    if profile.suppresses and isinstance(pop, dict) and pop.get("source"):
        # index_to_dict names the population file by its full path, which the shared
        # harm index keeps (reported to the harm module's owners); a shared answer
        # names no file of the store's machine, only the file's name
        from pathlib import PurePath

        pop["source"] = PurePath(str(pop["source"])).name
    return out


def layer_names(st: Any) -> list[str]:
    return st.layer_names()


def areas_geojson(st: Any, profile: Profile, layer: str) -> dict[str, Any]:
    """A layer's areas as a GeoJSON FeatureCollection in WGS84 (what MapLibre draws).

    Boundaries are published geography, the same for every audience; a layer
    finer than the profile allows (a 250 m grid for the public) is refused.
    """
    import numpy as np
    import shapely

    from realimpact.errors import ValidationError
    from realimpact.geo.areas import load_layer
    from realimpact.geo.crs import to_wgs84

    if not profile.layer_allowed(layer):
        raise ValidationError(f"layer {layer!r}: finer than the {profile.name} audience may see")
    df = load_layer(st, layer)
    features = []
    for area_id, name, geom in zip(df["area_id"], df["name"], df["geometry"], strict=True):
        if geom is None:
            continue

        def wgs(xy: np.ndarray) -> np.ndarray:
            lon, lat = to_wgs84(xy[:, 0], xy[:, 1])
            return np.round(np.column_stack([lon, lat]), 6)

        g = shapely.transform(geom, wgs)
        features.append(
            {
                "type": "Feature",
                "properties": {"area_id": str(area_id), "name": name},
                "geometry": shapely.geometry.mapping(g),
            }
        )
    return {"type": "FeatureCollection", "layer": layer, "features": features}


def quarantine(st: Any, profile: Profile, limit: int = 200) -> dict[str, Any]:
    """Rows set aside at ingest, with their raw text: analysts only (the route says so)."""
    from realimpact.store.status import quarantine_rows

    if profile.suppresses:  # second line of defence behind the route's level
        raise PermissionError("quarantined rows are for analysts")
    return quarantine_rows(st, limit=limit)


def audit_log(st: Any, limit: int = 500) -> dict[str, Any]:
    from realimpact.store.web import audit_rows

    return {"rows": audit_rows(st, limit)}


def hotspots_gi(
    st: Any,
    profile: Profile,
    *,
    layer: str = "lsoa",
    period_from: str | None = None,
    period_to: str | None = None,
    weights: str | None = None,
) -> dict[str, Any]:
    """Gi* per area as ``realimpact hotspots gi --json --audience <profile>`` shares it.

    The analyses' own adapter (:mod:`realimpact.hotspots.sharing`) decides:
    for partner/public the class per area and counts with small ones blank;
    no z, p, harm value or all-area total. Analysts get every statistic. The
    geometry is not here: the map joins ``/api/areas`` on ``area_id``.
    """
    from collections import Counter

    from realimpact.disclosure.contract import withhold
    from realimpact.disclosure.manifest import build_manifest
    from realimpact.hotspots.layers import hotspots_gi as _gi
    from realimpact.hotspots.sharing import check_layer, names_allowed
    from realimpact.periods import check_period_order
    from realimpact.store.areas import layer_info

    check_period_order(period_from, period_to, "period-from", "period-to")
    info = layer_info(st, layer) if profile.suppresses else None
    check_layer(profile, layer, info)
    res = _gi(st, layer, harm_weights=weights or None, period_from=period_from,
              period_to=period_to, seed=1)  # fmt: skip
    frame = res.to_frame()
    summary = {k: v for k, v in res.summary().items() if k != "outputs"}
    if not profile.suppresses:
        cols = [c for c in ("area_id", "name", "value", "count", "gi_z", "p_norm", "p_sim",
                            "p_adjusted", "hotspot_class") if c in frame.columns]  # fmt: skip
        rows = frame[cols].to_dict("records")
        return {**summary, "audience": profile.name, "rows": rows}
    withheld: Counter = Counter()
    shared = res.shared_frame(profile, names=names_allowed(profile, layer, info), counts=withheld)
    cols = [c for c in ("area_id", "name", "count", "suppressed", "hotspot_class")
            if c in shared.columns]  # fmt: skip
    rows = []
    for r in shared[cols].to_dict("records"):
        row = dict(r)
        if row.get("suppressed"):
            withhold(row, "count", small=True)
        elif row.get("count") is not None and row["count"] == row["count"]:
            row["count"] = int(row["count"])
        rows.append(row)
    for key in ("value_total", "top_hot"):
        summary.pop(key, None)
    withhold(summary, "value_total")
    summary["rows_suppressed"] = int(shared["suppressed"].sum())
    out = {**summary, "audience": profile.name, "rows": rows,
           "suppression_threshold": profile.threshold}  # fmt: skip
    out["disclosure"] = build_manifest(profile, withheld, product="hotspots gi",
                                 sources={"data": ["police_uk"], "layer": layer})  # fmt: skip
    return out
