"""Indicators, kept apart by kind: outputs, outcomes, process, indirect.

Home Office (2003) Disrupting crack markets, (Home Office 2003, section 4) and N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets, (N8 PRP 2024) insist that
outputs -- arrests, searches, seizures, "disruptions" -- describe police
activity, not impact. So the evaluation keeps four ledgers and never runs an
impact design on an output:

* **outputs**: what the police did (searches, drugs crimes *recorded*, which
  rise with proactive policing). From police.uk we add two measures of what
  the activity yielded: the share of drugs crimes and of searches that ended
  in **no further action**, and the stop-and-search **find rate** (outcome
  linked to the object of search) with its trend;
* **outcomes**: changes in the harms targeted (crime, violence, ...);
* **process**: how the operation ran (partners engaged, referrals made);
* **indirect**: signals with other causes too (drug deaths, treatment entry).

police.uk outcome categories are grouped as follows (documented so a reader
can disagree):

* crime NFA: investigation complete - no suspect identified; unable to
  prosecute suspect; formal action / further investigation / further action
  not in the public interest;
* crime outcome still unknown (left out of the denominator): under
  investigation; awaiting court outcome; status update unavailable; blank;
* search NFA: "A no further action disposal", "Nothing found - no further
  action";
* find rate: searches whose outcome was linked to the object of search,
  over searches where police.uk states whether it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from realimpact.evaluation.results import Estimate
from realimpact.periods import month_index

__all__ = [
    "CRIME_NFA",
    "CRIME_PENDING",
    "INDICATOR_KINDS",
    "SEARCH_NFA",
    "crime_nfa_share",
    "proportion_trend",
    "search_outputs",
]

INDICATOR_KINDS = ("output", "outcome", "process", "indirect")
CRIME_NFA = (
    "Investigation complete; no suspect identified",
    "Unable to prosecute suspect",
    "Formal action is not in the public interest",
    "Further investigation is not in the public interest",
    "Further action is not in the public interest",
)
CRIME_PENDING = ("Under investigation", "Awaiting court outcome", "Status update unavailable")
SEARCH_NFA = ("A no further action disposal", "Nothing found - no further action")


def proportion_trend(monthly: pd.DataFrame, *, level: float = 0.95) -> Estimate | None:
    """Trend of a monthly proportion: binomial GLM of (k, m) on time in years.

    ``monthly`` has ``month, k, m`` (successes, trials). The estimate is the
    change in log-odds per year; None when fewer than 3 months have trials.
    """
    d = monthly[monthly["m"] > 0]
    if len(d) < 3:
        return None
    t = (month_index(d["month"]) - month_index(d["month"]).min()) / 12.0
    endog = np.column_stack([d["k"].to_numpy(float), (d["m"] - d["k"]).to_numpy(float)])
    if endog[:, 0].sum() == 0 or endog[:, 1].sum() == 0:
        return None
    res = sm.GLM(endog, sm.add_constant(t), family=sm.families.Binomial()).fit()
    return Estimate.from_normal(
        "trend",
        float(res.params[1]),
        float(res.bse[1]),
        int(d["m"].sum()),
        scale="log_odds_per_year",
        level=level,
        method="binomial GLM of the monthly proportion on time (log-odds per year)",
    )


def _share(df: pd.DataFrame, k: str, m: str) -> dict[str, Any]:
    kk, mm = int(df[k].sum()), int(df[m].sum())
    return {"k": kk, "m": mm, "share": kk / mm if mm else None}


def crime_nfa_share(
    store: Any,
    *,
    crime_types: Sequence[str] = ("Drugs",),
    areas: Sequence[str] | None = None,
    month_from: str | None = None,
    month_to: str | None = None,
    force: str | None = None,
) -> pd.DataFrame:
    """Monthly NFA counts for crimes: ``month, nfa, known, crimes``.

    ``areas`` are LSOA codes (police.uk street crimes carry one); None = all.
    ``force`` (name or slug) keeps one force's crimes; None = every force.
    Months with no crimes of the selection are absent (as months not published).
    """
    from realimpact.store.forces import force_clause
    from realimpact.store.queries import month_bounds

    clauses = [f"crime_type IN ({', '.join('?' for _ in crime_types)})"]
    params: list[Any] = list(crime_types)
    if areas is not None:
        clauses.append(f"lsoa_code IN ({', '.join('?' for _ in areas)})" if areas else "FALSE")
        params += list(areas)
    mc, mp = month_bounds(month_from, month_to)
    clauses += mc
    params += mp
    fc, fp = force_clause(store, "crimes", force, alias="")
    clauses.append(fc)
    params += fp
    nfa = ", ".join("?" for _ in CRIME_NFA)
    pend = ", ".join("?" for _ in CRIME_PENDING)
    q = (
        f"SELECT month, count(*) FILTER (WHERE last_outcome IN ({nfa})) AS nfa,"
        f" count(*) FILTER (WHERE last_outcome IS NOT NULL AND last_outcome <> ''"
        f"   AND last_outcome NOT IN ({pend})) AS known, count(*) AS crimes"
        f" FROM crimes WHERE {' AND '.join(clauses)} GROUP BY month ORDER BY month"
    )
    return store.sql(q, [*CRIME_NFA, *CRIME_PENDING, *params])


def _search_monthly(
    store: Any,
    objects: Sequence[str] | None,
    month_from: str | None,
    month_to: str | None,
    force: str | None = None,
) -> pd.DataFrame:
    """Per force and month: searches, NFA, outcomes known, linked, linked known."""
    from realimpact.store.forces import force_clause
    from realimpact.store.queries import month_bounds

    clauses, params = ["TRUE"], []
    if objects:
        clauses.append(f"object_of_search IN ({', '.join('?' for _ in objects)})")
        params += list(objects)
    mc, mp = month_bounds(month_from, month_to)
    clauses += mc
    params += mp
    fc, fp = force_clause(store, "stop_searches", force, alias="")
    clauses.append(fc)
    params += fp
    nfa = ", ".join("?" for _ in SEARCH_NFA)
    q = (
        f"SELECT coalesce(force, '(unknown)') AS force, month, count(*) AS searches,"
        f" count(*) FILTER (WHERE outcome IN ({nfa})) AS nfa,"
        f" count(*) FILTER (WHERE outcome IS NOT NULL AND outcome <> '') AS with_outcome,"
        f" count(*) FILTER (WHERE outcome_linked_to_object) AS linked,"
        f" count(*) FILTER (WHERE outcome_linked_to_object IS NOT NULL) AS linked_known"
        f" FROM stop_searches WHERE {' AND '.join(clauses)} GROUP BY ALL ORDER BY month, force"
    )
    return store.sql(q, [*SEARCH_NFA, *params])


def search_outputs(
    store: Any,
    *,
    objects: Sequence[str] | None = None,
    baseline: tuple[str, str],
    follow_up: tuple[str, str],
    level: float = 0.95,
    force: str | None = None,
) -> dict[str, Any]:
    """Stop-and-search outputs ledger: volume, NFA share, find rate and its trend.

    police.uk searches carry coordinates but no area code, so these are for
    every search of the force held in the store (``force``: name or slug;
    None = every force), filtered by object of search. Volume, NFA share and
    find rate are all counted over the same forces (``forces``); a force that
    does not say whether outcomes were linked to the object is left out of
    every measure, with a note, rather than counted in the volume only. Each
    force's months are its own: a month a force did not publish is absent.
    """
    from realimpact.store.forces import force_name

    raw = _search_monthly(store, objects, baseline[0], follow_up[1], force)
    for c in ("searches", "nfa", "with_outcome", "linked", "linked_known"):
        raw[c] = raw[c].astype(int)
    raw["force"] = [force_name(f) if f != "(unknown)" else f for f in raw["force"]]
    known = raw.groupby("force")["linked_known"].sum()
    kept = sorted(f for f, n in known.items() if n > 0) or sorted(known.index)
    notes = []
    no_link = sorted(set(known.index) - set(kept))
    if no_link:
        notes.append(
            f"{', '.join(no_link)}: no search says whether its outcome was linked to the"
            " object of search, so no find rate; left out of every measure here so that"
            " volume, NFA share and find rate count the same forces"
        )
    before = set(raw.loc[raw["month"].between(*baseline), "force"])
    after = set(raw.loc[raw["month"].between(*follow_up), "force"])
    both = [f for f in kept if f in before and f in after]
    one_side = sorted(set(kept) - set(both))
    if both and one_side:
        notes.append(
            f"{', '.join(one_side)}: searches in only one of the two windows (no data for"
            " the other); left out, or a change in which forces published would read as a"
            " change in activity"
        )
        kept = both
    left_out = sorted(set(known.index) - set(kept))
    sub = raw[raw["force"].isin(kept)]
    df = sub.groupby("month", as_index=False)[
        ["searches", "nfa", "with_outcome", "linked", "linked_known"]
    ].sum()
    out: dict[str, Any] = {
        "scope": (
            f"searches of {', '.join(kept) if kept else 'no force'} (searches carry no area code)"
        ),
        "object_of_search": list(objects) if objects else None,
        "forces": kept,
        "forces_left_out": left_out,
        "notes": notes,
    }
    for name, (lo, hi) in (("before", baseline), ("after", follow_up)):
        part = df[(df["month"] >= lo) & (df["month"] <= hi)]
        fpart = sub[(sub["month"] >= lo) & (sub["month"] <= hi)]
        out[name] = {
            "months": int(part["month"].nunique()),
            "months_by_force": {
                str(f): int(n) for f, n in fpart.groupby("force")["month"].nunique().items()
            },
            "searches": int(part["searches"].sum()),
            "nfa": _share(part, "nfa", "with_outcome"),
            "find_rate": _share(part, "linked", "linked_known"),
        }
    tr = proportion_trend(df.rename(columns={"linked": "k", "linked_known": "m"}), level=level)
    out["find_rate_trend"] = tr.to_dict() if tr else None
    out["monthly"] = [
        {
            "month": r.month,
            "searches": int(r.searches),
            "find_rate": (r.linked / r.linked_known) if r.linked_known else None,
            "nfa_share": (r.nfa / r.with_outcome) if r.with_outcome else None,
        }
        for r in df.itertuples()
    ]
    return out


def crime_outputs(
    store: Any,
    *,
    crime_types: Sequence[str],
    areas: Sequence[str] | None,
    baseline: tuple[str, str],
    follow_up: tuple[str, str],
    force: str | None = None,
) -> dict[str, Any]:
    """NFA share of recorded crimes (e.g. Drugs) before and after, in ``areas`` (of ``force``)."""
    df = crime_nfa_share(
        store,
        crime_types=crime_types,
        areas=areas,
        month_from=baseline[0],
        month_to=follow_up[1],
        force=force,
    )
    out: dict[str, Any] = {"crime_types": list(crime_types)}
    for name, (lo, hi) in (("before", baseline), ("after", follow_up)):
        part = df[(df["month"] >= lo) & (df["month"] <= hi)]
        out[name] = {"crimes": int(part["crimes"].sum()), "nfa": _share(part, "nfa", "known")}
    return out
