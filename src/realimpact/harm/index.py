"""The harm index: crime counts per area and period, weighted by harm, ranked.

Two areas with the same number of crimes can differ a hundredfold in harm; the
index makes that visible and ranks areas by harm rather than volume (UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement:
"new, harm-focused measures should be used"). The arithmetic is a pure function
over a counts frame (:func:`harm_index_from_counts`); :func:`harm_index` reads
the counts from the store, aggregating inside DuckDB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from realimpact._progress import ProgressFn
from realimpact.errors import ValidationError
from realimpact.harm.weights import (
    CRIME_TYPES,
    WeightSet,
    _suggest,
    get_weights,
    object_of_search_map,
)
from realimpact.periods import check_month

# Harm totals are rounded to this many decimals before ranking, so two areas
# whose weighted sums are equal in exact arithmetic tie whatever the float
# summation order.
RANK_DECIMALS = 9
# Record tables an index can read: crimes by crime type, searches by object of search.
INDEX_TABLES = ("crimes", "stop_searches")


def check_crime_types(crime_types: Sequence[str] | None) -> list[str] | None:
    if not crime_types:
        return None
    for ct in crime_types:
        if ct not in CRIME_TYPES:
            raise ValidationError(
                f"--crime-type: unknown crime type {ct!r}{_suggest(ct, CRIME_TYPES)}"
            )
    return [ct for ct in CRIME_TYPES if ct in set(crime_types)]


def rank_desc(values: pd.Series, by: pd.Series) -> pd.Series:
    """Rank 1 = most harm within each group; ties share the best rank ('min')."""
    return (
        values.round(RANK_DECIMALS).groupby(by).rank(ascending=False, method="min").astype("int64")
    )


def _sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes into the sorted unique values (hash-based: object-array sorts are slow)."""
    codes, uniques = pd.factorize(values)
    uniques = np.asarray(uniques, dtype=object)
    order = np.argsort(uniques)
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[codes], uniques[order]


def period_of(month: str, period: str) -> str:
    """The period label ('2019-06', '2019-Q2', '2019', 'all') a month falls in."""
    if period == "month":
        return month
    if period == "quarter":
        return f"{month[:4]}-Q{(int(month[5:7]) + 2) // 3}"
    if period == "year":
        return month[:4]
    if period == "all":
        return "all"
    raise ValidationError(f"--period: {period!r} is not one of month, quarter, year, all")


@dataclass
class Coverage:
    """Which months each area was published in (its forces' months).

    ``area_months`` maps an area to the months its force(s) published;
    areas not in it (no record in the store) take ``default``. ``span`` is
    the number of calendar months a ``period='all'`` row should hold.
    Areas sharing a force should share one tuple object (it is cached by id).
    """

    area_months: Mapping[str, tuple[str, ...]]
    default: tuple[str, ...]
    span: int = 0


def _months_in_periods(
    all_areas: np.ndarray, periods: np.ndarray, coverage: Coverage, period: str
) -> np.ndarray:
    """(periods x areas) number of published months of each area in each period."""
    p_pos = {p: i for i, p in enumerate(periods)}
    out = np.zeros((len(periods), len(all_areas)), dtype=np.int64)
    cache: dict[int, np.ndarray] = {}
    for j, a in enumerate(all_areas):
        ms = coverage.area_months.get(a, coverage.default)
        vec = cache.get(id(ms))
        if vec is None:
            vec = np.zeros(len(periods), dtype=np.int64)
            for m in ms:
                i = p_pos.get(period_of(m, period))
                if i is not None:
                    vec[i] += 1
            cache[id(ms)] = vec
        out[:, j] = vec
    return out


def period_length(label: str, period: str, span: int = 0) -> int:
    """Calendar months a period holds: 1, 3, 12, or ``span`` for 'all'."""
    return {"month": 1, "quarter": 3, "year": 12}.get(period, span)


def finish_index(
    wide: pd.DataFrame | Mapping[str, np.ndarray],
    weights: dict[str, float],
    categories: Sequence[str],
    population: pd.DataFrame | None = None,
    areas: Sequence[str] | None = None,
    *,
    coverage: Coverage | None = None,
    period: str = "month",
) -> pd.DataFrame:
    """Complete wide counts (area_id, period, one column per category; one row per pair).

    Every area (seen in any period, plus ``areas``) gets a row in every period,
    with zero counts where it had none, so ranks compare like with like.
    Columns: area_id, period, <categories>, count, harm, [population,
    count_per_1000, harm_per_1000], rank; sorted by period then area_id.
    Dense numpy throughout: the frame is periods x areas,
    known in advance.

    With ``coverage``, an area-period exists only if the area's force
    published a month of it: other rows are left out (never zero) and ranks
    compare the areas present. Unless ``period`` is 'month', columns
    ``months`` (months published in the period) and ``complete`` (all of its
    calendar months) say when a period is built from fewer months than it spans.
    """
    from scipy.stats import rankdata

    cats = list(categories)
    extra = np.asarray(list(areas or []), dtype=object)
    a_code, all_areas = _sorted_codes(np.concatenate([np.asarray(wide["area_id"]), extra]))
    a_code = a_code[: len(a_code) - len(extra)]
    p_code, periods = _sorted_codes(np.asarray(wide["period"]))
    n_a, n_p = len(all_areas), len(periods)
    cell = p_code * n_a + a_code
    counts = np.zeros((n_p * n_a, len(cats)), dtype=np.int64)
    if cats:
        counts[cell] = np.column_stack([np.asarray(wide[c], dtype=np.int64) for c in cats])
    w = np.array([float(weights[c]) for c in cats], dtype=float)
    harm = counts @ w if cats else np.zeros(n_p * n_a)
    months_in = None
    if coverage is not None:
        months_in = _months_in_periods(all_areas, periods, coverage, period)
        # a cell with records is published by construction; guard anyway
        months_in.reshape(-1)[(counts.sum(axis=1) > 0) & (months_in.reshape(-1) == 0)] = 1
    key = -harm.reshape(n_p, n_a).round(RANK_DECIMALS)
    if months_in is not None:
        key = np.where(months_in > 0, key, np.inf)  # absent cells rank after every present one
    rank = rankdata(key, method="min", axis=1)
    a_idx = np.tile(np.arange(n_a), n_p)
    out = pd.DataFrame(counts, columns=cats)
    out.insert(0, "area_id", all_areas[a_idx])
    out.insert(1, "period", np.repeat(periods, n_a))
    total = counts.sum(axis=1)
    out["count"] = total
    out["harm"] = harm
    if population is not None:
        pos = pd.Index(population["area_id"]).get_indexer(all_areas)
        pop_vals = np.where(pos >= 0, population["population"].to_numpy(float)[pos], np.nan)
        pop = pop_vals[a_idx]
        ok = pop > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            out["population"] = pop
            out["count_per_1000"] = np.where(ok, total / pop * 1000, np.nan)
            out["harm_per_1000"] = np.where(ok, harm / pop * 1000, np.nan)
    out["rank"] = rank.reshape(-1).astype(np.int64)
    if months_in is not None:
        if period != "month":
            expected = np.array(
                [period_length(p, period, coverage.span) for p in periods], dtype=np.int64
            )
            out["months"] = months_in.reshape(-1)
            out["complete"] = (months_in >= expected[:, None]).reshape(-1)
        out = out[months_in.reshape(-1) > 0].reset_index(drop=True)
    return out


def harm_index_from_counts(
    counts: pd.DataFrame,
    weights: WeightSet | dict[str, float],
    population: pd.DataFrame | None = None,
    crime_types: Sequence[str] | None = None,
    period_col: str = "month",
) -> pd.DataFrame:
    """Harm index from long counts (area_id, <period_col>, crime_type, n).

    This is the store-free core, for notebooks and tests; ``population`` is
    (area_id, population).
    """
    w = weights.weights if isinstance(weights, WeightSet) else dict(weights)
    cats = check_crime_types(crime_types) or list(CRIME_TYPES)
    unknown = sorted(set(counts["crime_type"]) - set(CRIME_TYPES))
    if unknown:
        raise ValidationError(f"counts: crime_type: unknown {unknown}")
    sub = counts[counts["crime_type"].isin(cats)].rename(columns={period_col: "period"})
    wide = (
        sub.pivot_table(
            index=["area_id", "period"],
            columns="crime_type",
            values="n",
            aggfunc="sum",
            fill_value=0,
        )
        .reindex(columns=cats, fill_value=0)
        .reset_index()
    )
    wide.columns.name = None
    return finish_index(wide, w, cats, population)


def harm_index(
    store: Any,
    layer: str = "lsoa",
    period: str = "month",
    weights: str | WeightSet = "cchi",
    crime_types: Sequence[str] | None = None,
    month_from: str | None = None,
    month_to: str | None = None,
    table: str = "crimes",
    partner: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
    *,
    force: str | None = None,
) -> pd.DataFrame:
    """Harm index per area of ``layer`` and ``period`` from the store.

    ``force`` (a name or slug) keeps one force's records and months. Either
    way an area-period exists only where the area's force published data: a
    force's unpublished months are absent, never zero, and each period ranks
    the areas present in it (``attrs['forces']`` gives each force's months).
    Quarters, years and 'all' carry ``months`` and ``complete`` columns, and
    ``attrs['notes']`` names periods built from fewer months than they span.

    ``partner`` names partner indicators (``realimpact ingest partner``) to show
    beside crime as columns ``partner:<indicator>`` (summed per area and
    period; not part of ``harm``, whose unit they do not share). Yearly partner
    values appear only in a yearly index.

    ``table='stop_searches'`` weighs searches by the crime type of their object
    of search (data/object_of_search.yaml): where police attention went,
    weighted by the harm it aimed at. The result's ``attrs`` carry the weights
    used and how many areas matched a population (``attrs['population']``).
    """
    from realimpact.store import areas as store_areas
    from realimpact.store import harm as store_harm

    for option, month in (("--from", month_from), ("--to", month_to)):
        if month is not None:
            check_month(month, option)
    if table not in INDEX_TABLES:
        raise ValidationError(f"--table: {table!r} is not one of {', '.join(INDEX_TABLES)}")
    ws = weights if isinstance(weights, WeightSet) else get_weights(weights, store)
    cats = check_crime_types(crime_types) or list(CRIME_TYPES)
    if force is not None:
        from realimpact.store.forces import resolve_force

        force = resolve_force(store, force, (table,))
    if progress:
        progress("harm index", 0, 2)
    wide = store_harm.category_counts(
        store,
        cats,
        slots=list(CRIME_TYPES),
        layer=layer,
        period=period,
        table=table,
        month_from=month_from,
        month_to=month_to,
        category_map=object_of_search_map() if table == "stop_searches" else None,
        force=force,
    )
    if progress:
        progress("harm index", 1, 2)
    area_ids = None
    info = store_areas.layer_info(store, layer)
    if info is not None and info.get("kind") != "codes":
        area_ids = store_areas.layer_areas(store, layer)["area_id"].tolist()
    pop_info = store_harm.population_info(store, layer)
    pop = store_harm.population(store, layer) if pop_info else None
    coverage, fmonths, cov_notes = _coverage(store, layer, table, month_from, month_to, force)
    out = finish_index(wide, ws.weights, cats, pop, area_ids, coverage=coverage, period=period)
    # the name beside the code ("Liverpool 061C"): what a reader recognises
    ids = sorted(out["area_id"].astype(str).unique()) if len(out) else []
    names = store_areas.area_names(store, layer, ids)
    out.insert(out.columns.get_loc("area_id") + 1, "name", out["area_id"].map(names))
    if partner:
        out = _add_partner(store, out, layer, period, partner)
    if progress:
        progress("harm index", 1, 2)
    out.attrs = {
        "layer": layer,
        "period": period,
        "table": table,
        "weights": {"name": ws.name, "unit": ws.unit, "kind": ws.kind},
        "crime_types": cats,
        "population": _population_report(out, pop_info),
        "force": force,
        "forces": {f: {"months": len(ms), "first": ms[0], "last": ms[-1]}
                   for f, ms in fmonths.items() if ms},
        "notes": cov_notes
        + _incomplete_notes(out, period, coverage.span if coverage else 0)
        + _other_types_note(store, table, crime_types, month_from, month_to, force),
    }  # fmt: skip
    return out


def _other_types_note(
    store: Any,
    table: str,
    crime_types: Sequence[str] | None,
    month_from: str | None,
    month_to: str | None,
    force: str | None,
) -> list[str]:
    """Say which records fall outside today's crime types, instead of dropping them silently."""
    if table != "crimes" or crime_types:  # a chosen list leaves the others out on purpose
        return []
    from realimpact.store import harm as store_harm

    other = store_harm.other_crime_types(
        store, list(CRIME_TYPES), month_from, month_to, force=force
    )
    if not other:
        return []
    listed = ", ".join(f"{t} ({n:,})" for t, n in other.items())
    return [
        f"{sum(other.values()):,} records of crime types outside the {len(CRIME_TYPES)} police.uk"
        f" categories the index uses are left out: {listed}"
    ]


def _coverage(
    store: Any,
    layer: str,
    table: str,
    month_from: str | None,
    month_to: str | None,
    force: str | None,
) -> tuple[Coverage | None, dict[str, list[str]], list[str]]:
    """Each area's published months: those of the forces that record crime in it."""
    from realimpact.periods import month_range
    from realimpact.store import harm as store_harm
    from realimpact.store.forces import force_months

    fm = {
        f: tuple(m for m in ms if (not month_from or m >= month_from) and (not month_to or m <= month_to))
        for f, ms in force_months(store, table, force).items()
    }  # fmt: skip
    fm = {f: ms for f, ms in fm.items() if ms}
    notes: list[str] = []
    all_months = sorted({m for ms in fm.values() for m in ms})
    span = (
        len(month_range(month_from or all_months[0], month_to or all_months[-1]))
        if all_months
        else 0
    )
    if not fm:  # records with no force named: nothing to go by
        return None, {}, notes
    if len(set(fm.values())) <= 1:
        # one force (or forces publishing the same months): every area, every month
        ms = next(iter(fm.values()), ())
        return Coverage({}, ms, span), {f: list(v) for f, v in fm.items()}, notes
    by_set: dict[tuple[str, ...], tuple[str, ...]] = {}
    area_months: dict[str, tuple[str, ...]] = {}
    for a, fs in store_harm.area_forces(store, layer, table, force).items():
        ms = by_set.get(fs)
        if ms is None:
            ms = tuple(sorted({m for f in fs for m in fm.get(f, ())}))
            by_set[fs] = ms
        area_months[a] = ms
    # an area no force recorded anything in belongs to none: it is shown only in
    # months every force published
    common = tuple(m for m in all_months if all(m in set(ms) for ms in fm.values()))
    notes.append(
        f"{len(fm)} forces with different months: an area appears only in months its"
        " force published, and each period ranks the areas present in it"
        f" ({'; '.join(f'{f} {v[0]}..{v[-1]} ({len(v)})' for f, v in fm.items())})"
    )
    return Coverage(area_months, common, span), {f: list(v) for f, v in fm.items()}, notes


def _incomplete_notes(out: pd.DataFrame, period: str, span: int) -> list[str]:
    if "complete" not in out.columns or out.empty:
        return []
    bad = out.loc[~out["complete"]].groupby("period")["months"].max()
    if bad.empty:
        return []
    parts = [f"{p} ({int(n)} of {period_length(p, period, span)} months)" for p, n in bad.items()]
    return [
        "incomplete periods (months column): "
        + ", ".join(parts)
        + "; their totals cover only the months published, so they are not comparable"
        " with complete periods"
    ]


def _add_partner(
    store: Any, out: pd.DataFrame, layer: str, period: str, indicators: Sequence[str]
) -> pd.DataFrame:
    from realimpact.store import harm as store_harm

    known = set(store_harm.partner_summary(store)["indicator"])
    for ind in indicators:
        if ind not in known:
            raise ValidationError(
                f"--partner: no partner indicator {ind!r};"
                f" loaded: {', '.join(sorted(known)) or 'none'}"
            )
    vals = store_harm.partner_values(store, layer, indicators, period)
    wide = vals.pivot_table(
        index=["area_id", "period"], columns="indicator", values="value", aggfunc="sum"
    )
    wide = wide.reindex(columns=list(indicators))
    wide.columns = [f"partner:{c}" for c in wide.columns]
    merged = out.merge(wide.reset_index(), on=["area_id", "period"], how="left")
    merged.attrs = out.attrs
    return merged


def _population_report(out: pd.DataFrame, pop_info: dict | None) -> dict[str, Any] | None:
    if pop_info is None:
        return None
    areas = out["area_id"].unique()
    matched = out.loc[out["population"].notna(), "area_id"].unique()
    return {
        "source": pop_info["source"],
        "areas": len(areas),
        "areas_matched": len(matched),
        "areas_unmatched": len(areas) - len(matched),
        "note": (
            "rates only where the area id is in the population table; police.uk records"
            " before 2022 carry 2011 LSOA codes and Census 2021 uses 2021 codes"
        ),
    }


def partner_index(df: pd.DataFrame, threshold: int = 5) -> pd.DataFrame:
    """The harm index fit to share with partners: :func:`realimpact.harm.sharing.partner_index`.

    Kept here for callers of the old name; the rules (stand-ins for small
    type counts, withheld rows, dominance bands, ranks of shown rows only)
    are in :mod:`realimpact.harm.sharing`.
    """
    from realimpact.harm.sharing import partner_index as _partner

    return _partner(df, threshold)


def index_to_dict(df: pd.DataFrame, top: int | None = None) -> dict[str, Any]:
    """JSON shape of ``harm index``: metadata plus one object per area and period."""
    rows = df if top is None else df[df["rank"] <= top]
    rows = rows.sort_values(["period", "rank", "area_id"], na_position="last")
    return {**df.attrs, "rows_total": len(df), "rows": rows.to_dict(orient="records")}
