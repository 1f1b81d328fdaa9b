"""The harm index made safe for an audience (docs/sharing.md, docs/harm.md).

The harm index owns its table, so it owns the adapter between it and the
generic machinery of :mod:`realimpact.disclosure` (which knows no analysis).

Why not just blank small rows: a partner who is shown the count and the
harm of an area-month knows the public CCHI weights, so ``count = sum n_t``
and ``harm = sum n_t w_t`` give the per-type counts back (4,936 of 4,961
shown rows of the City of London data); two runs that differ by one crime
type give that type's count by subtraction; ``--period all`` minus the
months gives the blanked months; and a blanked row kept in the rank order
pins its harm between its neighbours. So, for a profile that suppresses:

1. **Stand-ins for small type counts.** Per area, month and crime type, a
   count of 1 to threshold-1 is replaced by a *stand-in* from the same range,
   fixed by a keyed hash of the cell (cell-key perturbation: the same cell
   gets the same stand-in in every run) and independent of the count itself.
   Every published figure (count, harm, rates, rank, band, any crime-type
   selection, any period) is computed from these protected type counts, so
   changing a small count to any other small value changes nothing
   published: decomposing the harm, differencing two crime-type selections
   or two windows gives at most "this type had 1-4 records here".
2. **Rows** whose protected count is 1 to threshold-1 are withheld (count,
   harm, rates, rank): empty cells plus ``suppressed``.
3. **Dominance**: a row in which one crime type with fewer than threshold
   records, or one record, makes up more than the profile's
   ``dominance_share`` of the harm shows its harm only as a band
   (``harm_band``); its harm, harm rate and rank are withheld.
4. **Coarser periods** (quarter, year, all) are sums of the protected months:
   their count counts every month, their harm only the months the monthly
   run does not withhold (a withheld month adds its count, which is a sum of
   stand-ins, but no harm), so ``--period all`` minus the months gives back
   neither the harm nor the make-up of a withheld month.
5. **Rank** is computed from the published (rounded) harm among the rows
   whose harm is shown; withheld and banded rows have no rank and sort last.
6. Harm is rounded to ``harm_rounding`` days; for the public counts are
   rounded to ``rounding`` and rates are computed from the published figures.
   Per-type columns are dropped; area layers finer than the profile allows are
   refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realimpact.disclosure.dominance import HARM_BANDS, harm_band
from realimpact.disclosure.manifest import build_manifest
from realimpact.disclosure.profiles import Profile, get_profile
from realimpact.errors import ValidationError
from realimpact.harm.weights import CRIME_TYPES

#: the stand-in key when the sharing config gives none: the stand-in does not depend on the
#: count, so knowing the key tells a reader nothing about it (a key only makes it unpredictable)
DEFAULT_KEY = "realimpact stand-in v1"
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _keyed(values: np.ndarray, key: str, salt: str) -> np.ndarray:
    """A keyed 64-bit hash per distinct value (HMAC-SHA256), as a uint64 array."""
    codes, uniq = pd.factorize(values)
    hashed = np.array(
        [
            int.from_bytes(
                hmac.new(key.encode(), f"{salt}|{u}".encode(), hashlib.sha256).digest()[:8], "big"
            )
            for u in uniq
        ],
        dtype=np.uint64,
    )
    return hashed[codes] if len(codes) else np.zeros(0, dtype=np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the bits of a combined key."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


#: Stand-ins are drawn with P(k) proportional to k**-STAND_IN_EXPONENT on 1..threshold-1,
#: the shape of small counts in police.uk data: of the area-month-type counts of 1-4 in the
#: shared City of London, Merseyside and Durham street files, 55% are 1, 24% 2, 13% 3 and
#: 8% 4, mean 1.74 (this law: 60/21/12/7%, mean 1.67; for counts 1-9 it gives a mean of
#: 2.40 against 2.34 observed; an exponent of 1.4 fits 1-4 better but 1-9 worse). Uniform
#: stand-ins (mean 2.5) inflated partner totals: +10% records and +18% harm in one City LSOA.
STAND_IN_EXPONENT = 1.5


def stand_in_shares(threshold: int) -> np.ndarray:
    """P(stand-in = k) for k = 1..threshold-1."""
    k = np.arange(1, max(threshold, 2), dtype=float)
    p = k**-STAND_IN_EXPONENT
    return p / p.sum()


def stand_ins(
    areas: np.ndarray, months: np.ndarray, types: Sequence[str], key: str, threshold: int, salt: str
) -> np.ndarray:
    """(rows x types) stand-ins in 1..threshold-1, fixed per (area, month, type) and ``key``.

    Independent of the true count (so nothing published depends on it), but
    shaped like real small counts (:data:`STAND_IN_EXPONENT`), so sums of
    stand-ins are about as large as the sums they replace.
    """
    a = _keyed(np.asarray(areas, dtype=object), key, f"{salt}|area")
    m = _keyed(np.asarray(months, dtype=object), key, f"{salt}|month")
    t = _keyed(np.asarray(list(types), dtype=object), key, f"{salt}|type")
    with np.errstate(over="ignore"):
        base = _mix(a ^ _mix(m))
        h = _mix(base[:, None] ^ t[None, :])
    u = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)  # uniform on [0, 1)
    cdf = np.cumsum(stand_in_shares(threshold))
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1).astype(np.int64) + 1


def protect_type_counts(
    counts: np.ndarray, areas: np.ndarray, months: np.ndarray, types: Sequence[str],
    profile: Profile, salt: str,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """Type counts with every 1..threshold-1 replaced by its stand-in; and how many were."""
    t = profile.threshold
    small = (counts > 0) & (counts < t)
    if not small.any():
        return counts.copy(), 0
    key = profile.perturbation.key if profile.perturbation else DEFAULT_KEY
    rows = np.flatnonzero(small.any(axis=1))
    q = counts.copy()
    s = stand_ins(areas[rows], months[rows], types, key, t, salt)
    q[rows] = np.where(small[rows], s, counts[rows])
    return q, int(small.sum())


def _bands(harm: np.ndarray, dom: np.ndarray) -> np.ndarray:
    """``harm_band`` of each dominated row ('' elsewhere), one label per band edge.

    The label of a value is the label of the band edge below it, so the bands
    are labelled once and looked up (benchmarks/disclosure.py: a call per row
    was a fifth of the disclosure step on the Merseyside index).
    """
    labels = np.array([harm_band(float(e)) for e in HARM_BANDS] + [""], dtype=object)
    v = np.abs(harm)
    idx = np.searchsorted(np.asarray(HARM_BANDS, dtype=float), v, side="right") - 1
    idx = np.where(np.isfinite(v) & (idx >= 0), idx, len(HARM_BANDS))
    return np.where(dom, labels[idx], "").astype(object)


def _dominated(q: np.ndarray, w: np.ndarray, threshold: int, share: float) -> np.ndarray:
    """Per row: the largest contribution (a small type whole, else one record) > share of harm."""
    contrib = q * w[None, :]
    per_record = np.where(q >= threshold, w[None, :], contrib)
    per_record = np.where(q > 0, per_record, 0.0)
    total = contrib.sum(axis=1)
    return (total > 0) & (per_record.max(axis=1, initial=0.0) > share * total)


def safe_index(
    df: pd.DataFrame,
    profile: Profile,
    weights: dict[str, float],
    *,
    months: pd.DataFrame | None = None,
    salt: str = "",
) -> pd.DataFrame:
    """``df`` (a harm index, analyst form) fit for ``profile``'s audience.

    ``months`` is the same index by month (with its per-type columns) when
    ``df`` is by quarter, year or all; a monthly ``df`` is its own. Without
    per-type columns (an index built elsewhere) each row's count is treated
    as one type. ``salt`` names the table and layer in the stand-in's key.
    """
    if not profile.suppresses:
        return df
    attrs = dict(df.attrs)
    layer = str(attrs.get("layer") or "")
    if layer and not profile.layer_allowed(layer):
        raise ValidationError(
            f"--audience {profile.name}: layer {layer!r} is finer than {profile.finest_layer},"
            " the finest this audience may be shown"
        )
    t = profile.threshold
    period = str(attrs.get("period") or "month")
    src = months if (months is not None and period != "month") else df
    types = [c for c in CRIME_TYPES if c in src.columns]
    counts_rule: Counter = Counter()
    if types:
        w = np.array([float(weights[c]) for c in types])
        raw = src[types].to_numpy(dtype=np.int64)
    else:  # no breakdown: the row's count is its only "type" (no dominance to judge)
        w = np.array([1.0])
        raw = src[["count"]].to_numpy(dtype=np.int64)
        types = []
    q, n_stood = protect_type_counts(
        raw,
        src["area_id"].to_numpy(object),
        src["period"].to_numpy(object),
        types or ["count"],
        profile,
        salt,
    )
    counts_rule["perturbed"] += n_stood
    m_count = q.sum(axis=1)
    m_small = (m_count > 0) & (m_count < t)
    if types:
        m_harm = q @ w
        m_dom = _dominated(q, w, t, profile.dominance_share) & ~m_small
    else:
        m_harm = np.where(m_small, 0.0, pd.to_numeric(src["harm"]).to_numpy(float))
        m_dom = np.zeros(len(q), dtype=bool)
    if src is df:
        count, harm, dom, small = m_count, m_harm, m_dom, m_small
    else:
        # coarser periods: sums of the protected months; harm only of months whose harm shows
        from realimpact.harm.index import period_of

        shows = ~m_small  # a banded month's harm is a function of stand-ins: it may add up
        g = pd.DataFrame(
            {
                "area_id": src["area_id"].to_numpy(object),
                "period": [period_of(str(p), period) for p in src["period"]],
                "count": m_count,
                "harm": np.where(shows, m_harm, 0.0),
            }
        )
        for j, ty in enumerate(types):
            g[f"q:{ty}"] = np.where(shows, q[:, j], 0)
        agg = g.groupby(["area_id", "period"], sort=False).sum()
        key = pd.MultiIndex.from_arrays([df["area_id"], df["period"].astype(str)])
        agg = agg.reindex(key, fill_value=0)
        count = agg["count"].to_numpy(np.int64)
        harm = agg["harm"].to_numpy(float)
        small = (count > 0) & (count < t)
        if types:
            qa = agg[[f"q:{ty}" for ty in types]].to_numpy(np.int64)
            dom = _dominated(qa, w, t, profile.dominance_share) & ~small
        else:
            dom = np.zeros(len(count), dtype=bool)
    out = df.drop(columns=[c for c in CRIME_TYPES if c in df.columns]).copy()
    counts_rule["dropped"] += len([c for c in CRIME_TYPES if c in df.columns])
    pub_count = count.astype(float)
    if profile.rounding > 1:
        # round_to_base (halves up), over the whole column at once
        pub_count = np.floor(count / profile.rounding + 0.5) * profile.rounding
        counts_rule["rounded"] += int((~small & (count > 0)).sum())
    pub_count = np.where(small, np.nan, pub_count)
    base = profile.harm_rounding
    pub_harm = np.floor(harm / base + 0.5) * base if base > 0 else harm.copy()
    band = _bands(pub_harm, dom)
    pub_harm = np.where(small | dom, np.nan, pub_harm)
    counts_rule["primary"] += int(small.sum())
    counts_rule["derived"] += int(small.sum())  # the harm of each withheld row
    out["count"] = pub_count
    out["harm"] = pub_harm
    out.insert(out.columns.get_loc("harm") + 1, "harm_band", band)
    if "population" in out.columns:
        pop = out["population"].to_numpy(float)
        ok = pop > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            out["count_per_1000"] = np.where(ok, pub_count / pop * 1000, np.nan)
            out["harm_per_1000"] = np.where(ok, pub_harm / pop * 1000, np.nan)
        counts_rule["derived"] += int((ok & (small | dom)).sum())
    ranked = ~np.isnan(pub_harm)
    rank = (
        pd.Series(np.where(ranked, -pub_harm, np.nan))
        .groupby(out["period"].to_numpy())
        .rank(method="min")
    )
    out["rank"] = rank.to_numpy()  # float: empty where withheld
    counts_rule["derived"] += int((~ranked).sum())
    partner_small = np.zeros(len(out), dtype=bool)
    for c in [c for c in out.columns if str(c).startswith("partner:")]:
        v = pd.to_numeric(out[c], errors="coerce").to_numpy(float)
        s = (v > 0) & (v < t)
        partner_small |= s
        counts_rule["primary"] += int(s.sum())
        if profile.rounding > 1:
            v = np.floor(v / profile.rounding + 0.5) * profile.rounding
        out[c] = np.where(s, np.nan, v)
    out["suppressed"] = small | dom | partner_small
    order = np.lexsort(
        (
            out["area_id"].astype(str).to_numpy(),
            out["rank"].fillna(np.inf),
            out["period"].astype(str).to_numpy(),
        )
    )
    out = out.iloc[order].reset_index(drop=True)
    manifest = build_manifest(
        profile,
        counts_rule,
        product="harm index",
        sources={
            "layer": layer,
            "period": period,
            "table": attrs.get("table"),
            "weights": (attrs.get("weights") or {}).get("name"),
            "crime_types": attrs.get("crime_types"),
            "forces": attrs.get("forces"),
        },
    )
    manifest["withheld"]["dominance"] = int(dom.sum())
    manifest["method"] = {
        "type_counts": (
            f"per area, month and crime type, a count of 1-{t - 1} is replaced by a stand-in"
            f" from 1-{t - 1} fixed by a keyed hash of the cell (not by the count); every"
            " published figure is computed from these"
        ),
        "rows": f"rows whose count is 1-{t - 1} are withheld (count, harm, rates, rank)",
        "dominance": (
            f"harm where one crime type with fewer than {t} records, or one record, is more"
            f" than {profile.dominance_share:.0%} of it is shown only as a band"
        ),
        "coarser_periods": "sums of the months; harm only of the months not withheld",
        "rank": "from the published harm, among rows whose harm is shown; others last, unranked",
    }
    pop = attrs.get("population")
    if isinstance(pop, dict) and pop.get("source"):
        # the file's name says which table; its path is the analyst's machine
        attrs = {**attrs, "population": {**pop, "source": Path(str(pop["source"])).name}}
    out.attrs = {
        **attrs,
        "audience": profile.name,
        "suppression_threshold": t,
        "rows_suppressed": int(out["suppressed"].sum()),
        "rows_dominated": int(dom.sum()),
        "disclosure": manifest,
    }
    return out


def shared_harm_index(store: Any, profile: Profile, **kwargs: Any) -> pd.DataFrame:
    """``harm_index(store, **kwargs)`` made safe for ``profile`` (analyst: unchanged)."""
    from realimpact.harm.index import harm_index
    from realimpact.harm.weights import WeightSet, get_weights

    w = kwargs.pop("weights", "cchi")
    ws = w if isinstance(w, WeightSet) else get_weights(w, store)
    df = harm_index(store, weights=ws, **kwargs)
    if not profile.suppresses:
        return df
    months = None
    if kwargs.get("period", "month") != "month":
        kw = {k: v for k, v in kwargs.items() if k not in ("period", "partner", "progress")}
        months = harm_index(store, weights=ws, period="month", **kw)
    salt = f"{kwargs.get('table', 'crimes')}|{kwargs.get('layer', 'lsoa')}"
    return safe_index(df, profile, ws.weights, months=months, salt=salt)


def partner_index(df: pd.DataFrame, threshold: int = 5) -> pd.DataFrame:
    """``df`` with the default partner rules (and ``threshold``), weights from ``df.attrs``."""
    from realimpact.harm.weights import get_weights

    prof = dataclasses.replace(get_profile("partner"), threshold=threshold)
    name = (df.attrs.get("weights") or {}).get("name") or "cchi"
    try:
        weights = get_weights(name).weights
    except Exception:  # a stored set this frame does not carry: fall back to the public weights
        weights = get_weights("cchi").weights
    return safe_index(df, prof, weights)
