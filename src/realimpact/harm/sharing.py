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
import hmac
import math
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


#: keyed hashes already computed, per (key, salt): the same areas, months and types come back
#: in every run of a process (the web app, a benchmark), and HMAC is most of the stand-in cost
_KEYED_CACHE: dict[tuple[str, str], dict[Any, int]] = {}
_KEYED_CACHE_MAX = 200_000  # values held over all keys; past it the cache starts again


def _hash_uniques(uniq: Sequence[Any], key: str, salt: str) -> np.ndarray:
    """HMAC-SHA256 of ``f"{salt}|{u}"`` for each distinct value, first 8 bytes, as uint64."""
    memo = _KEYED_CACHE.get((key, salt))
    if memo is None:
        if sum(len(m) for m in _KEYED_CACHE.values()) > _KEYED_CACHE_MAX:
            _KEYED_CACHE.clear()
        memo = _KEYED_CACHE.setdefault((key, salt), {})
    kb = key.encode()
    out = []
    for u in uniq:
        text = f"{u}"  # the key as hashed: 1, 1.0 and True are one dict key but three texts
        h = memo.get(text)
        if h is None:
            digest = hmac.digest(kb, f"{salt}|{text}".encode(), "sha256")
            h = memo[text] = int.from_bytes(digest[:8], "big")
        out.append(h)
    return np.array(out, dtype=np.uint64)


def _keyed(values: np.ndarray, key: str, salt: str) -> np.ndarray:
    """A keyed 64-bit hash per distinct value (HMAC-SHA256), as a uint64 array."""
    codes, uniq = pd.factorize(values)
    hashed = _hash_uniques(uniq.tolist(), key, salt)
    return hashed[codes] if len(codes) else np.zeros(0, dtype=np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the bits of a combined key."""
    x = np.array(x, dtype=np.uint64)  # a copy, then worked in place: fewer large temporaries
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


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
    return _draw(h, threshold)


def _draw(h: np.ndarray, threshold: int) -> np.ndarray:
    """The stand-in of each cell hash: its top 53 bits as a uniform draw from the shares.

    u = (h >> 11) / 2**53 is uniform on [0, 1) and the stand-in is 1 + the number of
    cumulative shares at or below u (at most threshold-1). ``c <= u`` is exactly
    ``ceil(c * 2**53) <= h >> 11`` (scaling by a power of two is exact), so the draw
    is made on the integers: the same stand-ins as a float search, without the floats.
    """
    x = h >> np.uint64(11)
    cdf = np.cumsum(stand_in_shares(threshold))
    idx = np.zeros(x.shape, dtype=np.int64)
    for c in cdf[:-1]:  # the last can only lift the index past the clip below
        idx += x >= np.uint64(math.ceil(float(c) * float(1 << 53)))
    return idx + 1


def protect_type_counts(
    counts: np.ndarray, areas: np.ndarray, months: np.ndarray, types: Sequence[str],
    profile: Profile, salt: str,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """Type counts with every 1..threshold-1 replaced by its stand-in; and how many were."""
    a_codes, a_uniq = pd.factorize(np.asarray(areas, dtype=object), use_na_sentinel=False)
    m_codes, m_uniq = pd.factorize(np.asarray(months, dtype=object), use_na_sentinel=False)
    return _protect(counts, a_codes, list(a_uniq), m_codes, list(m_uniq), types, profile, salt)


def _protect(
    counts: np.ndarray, a_codes: np.ndarray, a_uniq: Sequence[Any], m_codes: np.ndarray,
    m_uniq: Sequence[Any], types: Sequence[str], profile: Profile, salt: str,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """:func:`protect_type_counts` on factorized areas and months (codes into the uniques).

    Hashes each distinct area, month and type once and draws a stand-in only
    for the small cells, each the value :func:`stand_ins` gives that cell.
    """
    columns = [counts[:, j] for j in range(counts.shape[1])]
    q, n_stood, _ = _protect_cells(columns, a_codes, a_uniq, m_codes, m_uniq, types, profile, salt)
    return q.astype(counts.dtype, copy=False), n_stood


def _protect_cells(
    counts: Sequence[np.ndarray], a_codes: np.ndarray, a_uniq: Sequence[Any], m_codes: np.ndarray,
    m_uniq: Sequence[Any], types: Sequence[str], profile: Profile, salt: str,
    w: np.ndarray | None = None,
) -> tuple[np.ndarray, int, np.ndarray | None]:  # fmt: skip
    """:func:`_protect`, one crime type at a time; with ``w``, each row's largest contribution.

    ``counts`` is one count vector per type (a frame's columns are views of its
    block: selecting the types as a matrix copied them), so every temporary is
    one column long and stays in cache and on the heap: whole (rows x types)
    temporaries page-faulted and were most of the disclosure step
    (benchmarks/disclosure.py).

    The largest contribution (:func:`_dominated`) of a row is the heaviest of
    its types with ``threshold`` or more records (one record), or its largest
    small type whole (stand-in times weight, as ``q * w`` gives it), or 0.
    ``w`` must be finite and at least 0 (then an empty cell adds nothing).
    """
    t = profile.threshold
    k = len(counts)
    n = len(counts[0]) if k else 0
    dtype = np.result_type(*counts) if k else np.int64
    q = np.empty((n, k), dtype=dtype)  # C order, as the harm's matrix product always had it
    largest = np.zeros(n) if w is not None else None
    base = th = None
    n_stood = 0
    for j in range(k):
        col = counts[j]
        q[:, j] = col
        small = col > 0
        small &= col < t
        idx = np.flatnonzero(small)
        if len(idx):
            if base is None:
                key = profile.perturbation.key if profile.perturbation else DEFAULT_KEY
                a = _hash_uniques(a_uniq, key, f"{salt}|area")
                m = _hash_uniques(m_uniq, key, f"{salt}|month")
                th = _hash_uniques(list(types), key, f"{salt}|type")
                base = _mix(a[a_codes] ^ _mix(m)[m_codes])  # per row, then per small cell
            x = base[idx]
            x ^= th[j]
            stand = _draw(_mix(x), t)
            q[idx, j] = stand
            n_stood += len(idx)
        if largest is not None:
            lg = np.where(col >= t, w[j], 0.0)  # one record of a type with threshold or more
            if len(idx):
                lg[idx] = stand * w[j]  # a small type whole
            np.maximum(largest, lg, out=largest)
    return q, n_stood, largest


#: what the harm_band column holds: the label of each band edge, then '' (not banded)
_BAND_LABELS = pd.Series(
    np.array([harm_band(float(e)) for e in HARM_BANDS] + [""], dtype=object)
)  # the dtype a column of these strings is given (str, or object without string inference)


def _band_codes(harm: np.ndarray, dom: np.ndarray) -> np.ndarray:
    """Per row, the index in :data:`_BAND_LABELS` of its ``harm_band`` ('' unless dominated).

    The label of a value is the label of the band edge below it, so the bands
    are labelled once and looked up (benchmarks/disclosure.py: a call per row
    was a fifth of the disclosure step on the Merseyside index), and the
    column is taken from the labels instead of inferred from 10,000 strings.
    """
    v = np.abs(harm)
    idx = np.searchsorted(np.asarray(HARM_BANDS, dtype=float), v, side="right") - 1
    idx = np.where(np.isfinite(v) & (idx >= 0), idx, len(HARM_BANDS))
    return np.where(dom, idx, len(HARM_BANDS))


def _dominated(
    q: np.ndarray,
    w: np.ndarray,
    threshold: int,
    share: float,
    harm: np.ndarray | None = None,
    largest: np.ndarray | None = None,
) -> np.ndarray:
    """Per row: the largest contribution (a small type whole, else one record) > share of harm.

    Given ``harm`` (``q @ w``) and ``largest`` (from :func:`_protect_cells`,
    weights finite and at least 0, share at least 0) it skips the (rows x
    types) float matrices: the exact total (the row sum it was always
    compared with) is needed only where the largest comes within a hair of
    ``share`` of ``harm``; elsewhere the answer is no.
    """
    if harm is None or largest is None or share < 0:
        contrib = q * w[None, :]
        per_record = np.where(q >= threshold, w[None, :], contrib)
        per_record = np.where(q > 0, per_record, 0.0)
        total = contrib.sum(axis=1)
        return (total > 0) & (per_record.max(axis=1, initial=0.0) > share * total)
    # both sums add the same k terms of at least 0, so each is within k * 2**-52 of the other
    cand = np.flatnonzero(largest > share * harm * (1 - 1e-9))
    total = np.zeros(len(q))
    total[cand] = (q[cand] * w[None, :]).sum(axis=1)
    return (total > 0) & (largest > share * total)


def _text_order(uniq: Any) -> np.ndarray:
    """Per unique value, its position among the uniques sorted as text (``astype(str)``)."""
    text = np.array([str(u) for u in uniq], dtype=object)
    return np.unique(text, return_inverse=True)[1].astype(np.int64).reshape(-1)


def _factorize(col: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Codes and distinct values of a column, the values as Python objects (hashed as text).

    A string column is factorized as it is (Arrow's dictionary encoding, several
    times faster than through an object array); anything else through objects,
    whose values are what the stand-in key was always made of.
    """
    values = col if isinstance(col.dtype, pd.StringDtype) else col.to_numpy(object)
    codes, uniq = pd.factorize(values, use_na_sentinel=False)
    return np.asarray(codes, dtype=np.int64), uniq.tolist()  # (list() of Arrow: 15x slower)


def _descending_key(pub_harm: np.ndarray, ranked: np.ndarray, base: float) -> np.ndarray:
    """A key that sorts rows by published harm, most first, unranked rows last.

    Harm rounded to ``base`` is a whole number of bases, and whole numbers sort
    several times faster than floats; ``-harm`` (inf where unranked) otherwise.
    """
    if base > 0 and ranked.any():
        with np.errstate(invalid="ignore"):
            n = np.floor(pub_harm / base + 0.5)
        n = np.where(ranked, n, 0.0)
        lo, hi = float(n.min()), float(n.max())
        # the published harm is n * base as computed (floor(harm / base + 0.5) * base)
        if abs(lo) < 2**50 and abs(hi) < 2**50:  # then distinct n give distinct harms
            d = (hi - n).astype(np.int64)
            return np.where(ranked, d, int(hi - lo) + 1)
    return np.where(ranked, -pub_harm, np.inf)


def _order(p_sort: np.ndarray, key: np.ndarray, a_sort: np.ndarray) -> np.ndarray:
    """Row order by period, ``key``, area (one int sort when the three fit in 63 bits)."""
    n = len(key)
    if n and key.dtype.kind == "i":
        kp = int(p_sort.max()) + 1
        kk = int(key.max()) + 1
        ka = int(a_sort.max()) + 1
        if kp * kk * ka < 2**62:
            return np.argsort((p_sort * kk + key) * ka + a_sort, kind="stable")
    return np.lexsort((a_sort, key, p_sort))


def _min_ranks(groups: np.ndarray, values: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """Rank ('min': ties share the best) of sorted ``values`` within each run of ``groups``.

    Arrays are already sorted by group then value; unranked rows (last in each
    group) get NaN, as pandas' grouped rank gives them.
    """
    n = len(groups)
    pos = np.arange(n)
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = groups[1:] != groups[:-1]
    new_value = new_group.copy()
    new_value[1:] |= values[1:] != values[:-1]
    g0 = np.maximum.accumulate(np.where(new_group, pos, 0)) if n else pos
    v0 = np.maximum.accumulate(np.where(new_value, pos, 0)) if n else pos
    return np.where(ranked, (v0 - g0 + 1).astype(np.float64), np.nan)


def _insert_after(cols: dict[str, Any], after: str, name: str, value: Any) -> list[tuple[str, Any]]:
    """``cols`` as items with ``name`` placed right after ``after`` (``DataFrame.insert``)."""
    items = list(cols.items())
    at = [k for k, _ in items].index(after) + 1
    return [*items[:at], (name, value), *items[at:]]


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
    coarse = months is not None and period != "month"
    src = months if coarse else df
    types = [c for c in CRIME_TYPES if c in src.columns]
    counts_rule: Counter = Counter()
    if types:
        w = np.array([float(weights[c]) for c in types])
        raw = [src[c].to_numpy(dtype=np.int64) for c in types]  # views, not a copy
    else:  # no breakdown: the row's count is its only "type" (no dominance to judge)
        w = np.array([1.0])
        raw = [src["count"].to_numpy(dtype=np.int64)]
    # NumPy from here on: one factorize of area and period, arrays in, one frame out
    # (benchmarks/disclosure.py: frame copies, object sorts and per-row Python were most of it)
    sa_codes, sa_uniq = _factorize(src["area_id"])
    sp_codes, sp_uniq = _factorize(src["period"])
    fast = bool(types) and bool(np.isfinite(w).all() and (w >= 0).all())
    q, n_stood, largest = _protect_cells(
        raw, sa_codes, sa_uniq, sp_codes, sp_uniq, types or ["count"], profile, salt,
        w=w if fast else None,
    )  # fmt: skip
    counts_rule["perturbed"] += n_stood
    m_count = q.sum(axis=1)
    m_small = (m_count > 0) & (m_count < t)
    if types:
        m_harm = q @ w
        m_dom = _dominated(q, w, t, profile.dominance_share, m_harm, largest) & ~m_small
    else:
        m_harm = np.where(m_small, 0.0, pd.to_numeric(src["harm"]).to_numpy(float))
        m_dom = np.zeros(len(q), dtype=bool)
    if not coarse:
        count, harm, dom, small = m_count, m_harm, m_dom, m_small
        a_sort = _text_order(sa_uniq)[sa_codes]
        p_sort = _text_order(sp_uniq)[sp_codes]
    else:
        # coarser periods: sums of the protected months; harm only of months whose harm shows
        from realimpact.harm.index import period_of

        shows = ~m_small  # a banded month's harm is a function of stand-ins: it may add up
        labels = np.array([period_of(str(p), period) for p in sp_uniq], dtype=object)
        g = pd.DataFrame(
            {
                "area_id": np.asarray(sa_uniq, dtype=object)[sa_codes],
                "period": labels[sp_codes],
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
        a_codes, a_uniq = _factorize(df["area_id"])
        p_codes, p_uniq = _factorize(df["period"])
        a_sort = _text_order(a_uniq)[a_codes]
        p_sort = _text_order(p_uniq)[p_codes]
    # the frame out, column by column in the order the analyst's has (types dropped)
    cols: dict[str, np.ndarray | None] = {c: None for c in df.columns if c not in CRIME_TYPES}
    counts_rule["dropped"] += len([c for c in CRIME_TYPES if c in df.columns])
    pub_count = count.astype(float)
    if profile.rounding > 1:
        # round_to_base (halves up), over the whole column at once
        pub_count = np.floor(count / profile.rounding + 0.5) * profile.rounding
        counts_rule["rounded"] += int((~small & (count > 0)).sum())
    pub_count = np.where(small, np.nan, pub_count)
    base = profile.harm_rounding
    pub_harm = np.floor(harm / base + 0.5) * base if base > 0 else harm.copy()
    band = _band_codes(pub_harm, dom)
    pub_harm = np.where(small | dom, np.nan, pub_harm)
    counts_rule["primary"] += int(small.sum())
    counts_rule["derived"] += int(small.sum())  # the harm of each withheld row
    cols["count"] = pub_count
    cols["harm"] = pub_harm
    cols.pop("harm_band", None)
    cols = dict(_insert_after(cols, "harm", "harm_band", band))
    if "population" in cols:
        pop = df["population"].to_numpy(float)
        ok = pop > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            cols["count_per_1000"] = np.where(ok, pub_count / pop * 1000, np.nan)
            cols["harm_per_1000"] = np.where(ok, pub_harm / pop * 1000, np.nan)
        counts_rule["derived"] += int((ok & (small | dom)).sum())
    ranked = ~np.isnan(pub_harm)
    # rows by period, rank, area: rank follows -harm, so one sort gives both order and ranks
    neg = _descending_key(pub_harm, ranked, base)
    order = _order(p_sort, neg, a_sort)
    cols["rank"] = None  # placed now, filled in sorted order below
    counts_rule["derived"] += int((~ranked).sum())
    partner_small = np.zeros(len(df), dtype=bool)
    for c in [c for c in cols if str(c).startswith("partner:")]:
        v = pd.to_numeric(df[c], errors="coerce").to_numpy(float)
        s = (v > 0) & (v < t)
        partner_small |= s
        counts_rule["primary"] += int(s.sum())
        if profile.rounding > 1:
            v = np.floor(v / profile.rounding + 0.5) * profile.rounding
        cols[c] = np.where(s, np.nan, v)
    cols["suppressed"] = small | dom | partner_small
    data: dict[str, Any] = {}
    for c, v in cols.items():
        if c == "rank":
            data[c] = _min_ranks(p_sort[order], neg[order], ranked[order])
        elif c == "harm_band":
            data[c] = pd.Series(
                _BAND_LABELS.array.take(v[order]), dtype=_BAND_LABELS.dtype, copy=False
            )
        elif v is None:  # the analyst's column as it is, in its own dtype
            col = df[c]
            data[c] = pd.Series(col.array.take(order), dtype=col.dtype, copy=False)
        else:
            data[c] = v[order]
    out = pd.DataFrame(data)
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
