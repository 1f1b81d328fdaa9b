"""Expected and drawn counts: crimes, stop and search, survey waves.

The generating model is the one the evaluation estimates, so the truth is
exact, not approximate: the expected count of crime type c in area a and month
t is

    mu[a,t,c] = (background[a,c] + market[a,c]) * season[t,c] * trend[t]
                * effect[c]   if a is a target area and t an operation month
                * buffer[c]   if a is a buffer area and t an operation month

and the recorded count is Poisson(mu * G), G ~ Gamma(k, 1/k) independently per
area-month (negative binomial NB2 with size k). A Poisson DiD with area and
month fixed effects therefore has estimand log(effect[c]) exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from realimpact.periods import month_add
from realimpact.simulate.city import City
from realimpact.simulate.params import (
    BASE_RATE_PER_1000,
    CRIME_TYPES,
    MARKET_SHARE,
    SimulationParams,
)

# Seasonal amplitude per type (summer peak for violence and ASB, as in police.uk series).
_SEASON_AMP = {
    "Anti-social behaviour": 0.20,
    "Violence and sexual offences": 0.10,
    "Bicycle theft": 0.30,
    "Public order": 0.08,
}
UNLOCATED_SHARE = 0.006  # police.uk rows with "No location" (City of London: 19-81 a month)


def months_from(start: str, n: int) -> list[str]:
    """``n`` calendar months from ``start``."""
    return [month_add(start, i) for i in range(n)]


@dataclass
class Expected:
    """Expected counts with and without the operation, and who plays which role."""

    months: list[str]
    mu: np.ndarray  # areas x months x types, with the operation
    mu0: np.ndarray  # the counterfactual: no operation
    op_mask: np.ndarray  # bool, months
    roles: dict[str, list[int]]


def expected_counts(
    city: City,
    params: SimulationParams,
    market_w: pd.DataFrame,
    roles: dict[str, list[int]],
    rng: np.random.Generator,
) -> Expected:
    a = city.areas
    months = months_from(params.start, params.months)
    pop_k = a["population"].to_numpy(float) / 1000.0
    z = (a["imd_score"] - a["imd_score"].mean()) / a["imd_score"].std()
    dep = np.exp(0.6 * z.to_numpy())
    dep = dep * pop_k.sum() / (pop_k * dep).sum()
    u = rng.lognormal(0.0, 0.25, size=len(a))
    u = u * pop_k.sum() / (pop_k * u).sum()
    base = np.array([BASE_RATE_PER_1000[c] for c in CRIME_TYPES]) * params.scale
    share = np.array([MARKET_SHARE[c] for c in CRIME_TYPES])
    background = np.outer(pop_k * dep * u, base * (1 - share))
    market = market_w.to_numpy() * (base * share * pop_k.sum())[None, :]
    moy = np.array([int(m[5:]) for m in months])
    amp = np.array([_SEASON_AMP.get(c, 0.05) for c in CRIME_TYPES])
    season = 1 + np.outer(np.sin(2 * np.pi * (moy - 4) / 12), amp)
    trend = 1 - 0.004 * np.arange(len(months))
    mu0 = (background + market)[:, None, :] * (season * trend[:, None])[None, :, :]
    op = np.array(months_from(params.op_start, params.op_months))
    op_mask = np.isin(np.array(months), op)
    eff = np.array([params.effect(c) for c in CRIME_TYPES])
    beff = np.array([params.buffer_effect(c) for c in CRIME_TYPES])
    mult = np.ones_like(mu0)
    t_idx = np.array(roles["target"])
    b_idx = np.array(roles["buffer"])
    mult[np.ix_(t_idx, op_mask, np.arange(len(CRIME_TYPES)))] = eff
    mult[np.ix_(b_idx, op_mask, np.arange(len(CRIME_TYPES)))] = beff
    return Expected(months=months, mu=mu0 * mult, mu0=mu0, op_mask=op_mask, roles=roles)


def draw_counts(mu: np.ndarray, dispersion: float | None, rng: np.random.Generator) -> np.ndarray:
    """Poisson-gamma (NB2) counts; ``dispersion=None`` gives Poisson."""
    lam = mu if dispersion is None else mu * rng.gamma(dispersion, 1.0 / dispersion, size=mu.shape)
    return rng.poisson(lam)


# --- stop and search ------------------------------------------------------

_ETHNICITY = (  # (self-defined, officer-defined, weight)
    ("White - English/Welsh/Scottish/Northern Irish/British", "White", 0.52),
    ("White - Any other White background", "White", 0.07),
    ("White - Irish", "White", 0.01),
    ("Black/African/Caribbean/Black British - African", "Black", 0.06),
    ("Black/African/Caribbean/Black British - Caribbean", "Black", 0.04),
    ("Asian/Asian British - Pakistani", "Asian", 0.04),
    ("Asian/Asian British - Bangladeshi", "Asian", 0.02),
    ("Asian/Asian British - Indian", "Asian", 0.02),
    ("Mixed/Multiple ethnic groups - White and Black Caribbean", "Black", 0.03),
    ("Other ethnic group - Any other ethnic group", "Other", 0.02),
    ("Other ethnic group - Not stated", "White", 0.17),
)
_GROUNDS = (  # (legislation, objects of search, weight outside / inside operation)
    ("Misuse of Drugs Act 1971 (section 23)", ("Controlled drugs",), 0.55, 0.80),
    (
        "Police and Criminal Evidence Act 1984 (section 1)",
        (
            "Stolen goods",
            "Article for use in theft",
            "Offensive weapons",
            "Articles for use in criminal damage",
        ),
        0.40,
        0.17,
    ),
    ("Criminal Justice and Public Order Act 1994 (section 60)", ("Offensive weapons",), 0.03, 0.02),
    ("Firearms Act 1968 (section 47)", ("Firearms",), 0.02, 0.01),
)
_FOUND_OUTCOMES = (
    ("Arrest", 0.38),
    ("Community resolution", 0.22),
    ("Khat or Cannabis warning", 0.18),
    ("Summons / charged by post", 0.09),
    ("Caution (simple or conditional)", 0.08),
    ("Penalty Notice for Disorder", 0.05),
)
_AGES = (("under 10", 0.002), ("10-17", 0.13), ("18-24", 0.36), ("25-34", 0.30), ("over 34", 0.208))
FIND_RATE = 0.30  # share of searches that find the object searched for, outside the operation
FIND_RATE_OP = 0.20  # during the crackdown's search surge the threshold drops (College of Policing (2022) Crime Reduction Toolkit: supplier arrest and seizure)
CHILD_SHARE_OP = 0.18  # share of operation searches of 10-17 year olds (children affected)


def expected_searches(
    city: City, params: SimulationParams, market_w: pd.DataFrame, exp: Expected
) -> tuple[np.ndarray, np.ndarray]:
    """Areas x months expected searches with and without the operation."""
    a = city.areas
    pop_k = a["population"].to_numpy(float) / 1000.0
    drugs = market_w["Drugs"].to_numpy()
    rel = 1 + 4 * drugs * len(a)  # searching follows the visible markets
    s0 = (
        params.search_rate_per_1000 * params.scale * pop_k * rel * pop_k.sum() / (pop_k * rel).sum()
    )
    s0 = np.repeat(s0[:, None], len(exp.months), axis=1)
    s = s0.copy()
    s[np.ix_(np.array(exp.roles["target"]), exp.op_mask)] *= params.search_multiplier
    return s, s0


def search_rows(
    counts: np.ndarray,
    exp: Expected,
    city: City,
    rng: np.random.Generator,
    operation_name: str,
) -> pd.DataFrame:
    """One row per search with police.uk's fields (values from its vocabularies)."""
    ai, ti = np.nonzero(counts)
    reps = counts[ai, ti]
    area = np.repeat(ai, reps)
    tm = np.repeat(ti, reps)
    n = area.size
    in_op = np.isin(area, exp.roles["target"]) & exp.op_mask[tm]
    street = area * _streets_per_area(city) + rng.integers(0, _streets_per_area(city), n)
    months = np.array(exp.months)[tm]
    days = pd.PeriodIndex(months, freq="M").days_in_month.to_numpy()
    day = (rng.random(n) * days).astype(int) + 1
    secs = rng.integers(0, 86400, n)
    dt = [
        f"{m}-{d:02d}T{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}+00:00"
        for m, d, s in zip(months, day, secs, strict=True)
    ]
    kind = rng.choice(
        ["Person search", "Person and Vehicle search", "Vehicle search"], n, p=[0.73, 0.25, 0.02]
    )
    part = np.where(in_op & (rng.random(n) < 0.85), "True", "False")
    ages = rng.choice([x for x, _ in _AGES], n, p=[w for _, w in _AGES])
    child_op = in_op & (rng.random(n) < CHILD_SHARE_OP)
    ages = np.where(child_op, "10-17", ages)
    eth = rng.choice(len(_ETHNICITY), n, p=[w for *_, w in _ETHNICITY])
    w_out = np.array([g[2] for g in _GROUNDS])
    w_in = np.array([g[3] for g in _GROUNDS])
    g_out = rng.choice(len(_GROUNDS), n, p=w_out / w_out.sum())
    g_in = rng.choice(len(_GROUNDS), n, p=w_in / w_in.sum())
    g = np.where(in_op, g_in, g_out)
    obj_pick = rng.random(n)
    objects = np.array(
        [_GROUNDS[k][1][int(u * len(_GROUNDS[k][1]))] for k, u in zip(g, obj_pick, strict=True)],
        dtype=object,
    )
    found = rng.random(n) < np.where(in_op, FIND_RATE_OP, FIND_RATE)
    fo = rng.choice([x for x, _ in _FOUND_OUTCOMES], n, p=[w for _, w in _FOUND_OUTCOMES])
    outcome = np.where(found, fo, "A no further action disposal")
    linked = np.where(found & (rng.random(n) < 0.9), "True", "False")
    gender = rng.choice(["Male", "Female", "Other"], n, p=[0.89, 0.105, 0.005])
    removal = np.where(rng.random(n) < 0.03, "True", "False")
    located = rng.random(n) > 0.08
    df = pd.DataFrame(
        {
            "area_idx": area,
            "month": months,
            "street": street,
            "located": located,
            "Type": kind,
            "Date": dt,
            "Part of a policing operation": part,
            "Policing operation": np.where(part == "True", operation_name, ""),
            "Gender": gender,
            "Age range": ages,
            "Self-defined ethnicity": [_ETHNICITY[k][0] for k in eth],
            "Officer-defined ethnicity": [_ETHNICITY[k][1] for k in eth],
            "Legislation": [_GROUNDS[k][0] for k in g],
            "Object of search": objects,
            "Outcome": outcome,
            "Outcome linked to object of search": linked,
            "Removal of more than just outer clothing": removal,
            "in_op": in_op,
        }
    )
    return df.sort_values(["month", "Date"], kind="stable").reset_index(drop=True)


def _streets_per_area(city: City) -> int:
    return len(city.streets) // city.n_areas


# --- crimes -----------------------------------------------------------------

_GENERIC_OUTCOMES = (
    ("Investigation complete; no suspect identified", 0.46),
    ("Unable to prosecute suspect", 0.30),
    ("Court result unavailable", 0.07),
    ("Status update unavailable", 0.04),
    ("Under investigation", 0.03),
    ("Further investigation is not in the public interest", 0.02),
    ("Local resolution", 0.02),
    ("Offender given a caution", 0.02),
    ("Awaiting court outcome", 0.01),
    ("Offender sent to prison", 0.01),
    ("Offender fined", 0.01),
    ("Action to be taken by another organisation", 0.01),
)
DRUGS_OUTCOMES = (
    ("Offender given a drugs possession warning", 0.30),
    ("Court result unavailable", 0.14),
    ("Local resolution", 0.10),
    ("Offender given a caution", 0.10),
    ("Unable to prosecute suspect", 0.10),
    ("Offender given penalty notice", 0.05),
    ("Formal action is not in the public interest", 0.05),
    ("Under investigation", 0.05),
    ("Investigation complete; no suspect identified", 0.05),
    ("Awaiting court outcome", 0.04),
    ("Offender fined", 0.02),
)
# outcomes that leave a person with a record (criminalised; UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Box A)
CRIMINALISING = (
    "Offender given a caution",
    "Court result unavailable",
    "Offender given penalty notice",
    "Awaiting court outcome",
    "Offender fined",
)


def crime_rows(
    counts: np.ndarray, exp: Expected, city: City, rng: np.random.Generator
) -> pd.DataFrame:
    """One row per recorded crime: month, area, street point, type, outcome."""
    ai, ti, ci = np.nonzero(counts)
    reps = counts[ai, ti, ci]
    area = np.repeat(ai, reps)
    tm = np.repeat(ti, reps)
    ct = np.repeat(ci, reps)
    k = _streets_per_area(city)
    street = area * k + rng.integers(0, k, area.size)
    df = pd.DataFrame({"area_idx": area, "t": tm, "c": ct, "street": street})
    # unlocated rows ("No location"): extra, outside every area, so area truth stays exact
    per_month = counts.sum(axis=(0, 2))
    n_un = rng.poisson(UNLOCATED_SHARE * per_month)
    type_p = counts.sum(axis=(0, 1)) / max(counts.sum(), 1)
    un_t = np.repeat(np.arange(len(exp.months)), n_un)
    un_c = rng.choice(len(CRIME_TYPES), un_t.size, p=type_p) if un_t.size else un_t
    un = pd.DataFrame({"area_idx": -1, "t": un_t, "c": un_c, "street": -1})
    df = pd.concat([df, un], ignore_index=True)
    types = np.array(CRIME_TYPES, dtype=object)
    df["Crime type"] = types[df["c"].to_numpy()]
    df["Month"] = np.array(exp.months, dtype=object)[df["t"].to_numpy()]
    n = len(df)
    gen = rng.choice(
        [x for x, _ in _GENERIC_OUTCOMES], n, p=_norm([w for _, w in _GENERIC_OUTCOMES])
    )
    drg = rng.choice([x for x, _ in DRUGS_OUTCOMES], n, p=_norm([w for _, w in DRUGS_OUTCOMES]))
    is_asb = df["Crime type"].to_numpy() == "Anti-social behaviour"
    is_drugs = df["Crime type"].to_numpy() == "Drugs"
    df["Last outcome category"] = np.where(is_asb, "", np.where(is_drugs, drg, gen))
    ids = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    df["Crime ID"] = np.where(is_asb, "", [bytes(r).hex() for r in ids])
    df["_last"] = df["area_idx"] < 0  # police.uk lists "No location" rows after the rest
    df = df.sort_values(["t", "_last", "area_idx", "c"], kind="stable").reset_index(drop=True)
    return df.drop(columns="_last")


def _norm(w: list[float]) -> np.ndarray:
    a = np.asarray(w, float)
    return a / a.sum()


# --- community survey ---------------------------------------------------------

SURVEY_ITEMS = ("feel_safe", "dealing_problem", "confidence_police")
# latent shift (Likert points before rounding) in wave 2, by role
SURVEY_SHIFT = {
    "target": {"feel_safe": 0.45, "dealing_problem": -0.60, "confidence_police": 0.30},
    "buffer": {"feel_safe": -0.05, "dealing_problem": 0.15, "confidence_police": 0.0},
    "control": {"feel_safe": 0.0, "dealing_problem": 0.0, "confidence_police": 0.0},
}
_SURVEY_BASE = {"feel_safe": 2.7, "dealing_problem": 3.4, "confidence_police": 2.9}
_PERSON_SD, _NOISE_SD = 0.8, 0.7


def expected_likert(mean: float) -> float:
    """E[response] when response = clip(round(latent), 1, 5), latent ~ N(mean, sd)."""
    sd = np.hypot(_PERSON_SD, _NOISE_SD)
    return float(1 + sum(norm.sf(k - 0.5, loc=mean, scale=sd) for k in (2, 3, 4, 5)))


def survey_truth(params: SimulationParams) -> dict[str, dict[str, float]]:
    """Exact expected change in mean response, wave 2 minus wave 1, by role and item."""
    if params.displacement == "none":
        shifts = {**SURVEY_SHIFT, "buffer": dict.fromkeys(SURVEY_ITEMS, 0.0)}
    else:
        shifts = SURVEY_SHIFT
    return {
        role: {
            it: round(
                expected_likert(_SURVEY_BASE[it] + s[it]) - expected_likert(_SURVEY_BASE[it]), 6
            )
            for it in SURVEY_ITEMS
        }
        for role, s in shifts.items()
    }


def survey_rows(
    city: City, params: SimulationParams, roles: dict[str, list[int]], rng: np.random.Generator
) -> pd.DataFrame:
    """Long survey frame: one row per respondent, wave and question.

    Two surveys: ``residents``, a panel (the same people in both waves) in each
    area role, and ``professionals`` working in the target area, different
    people each wave (unpaired). ``group`` names who answered and where, e.g.
    ``residents (target)``, because the evaluation analyses each group apart.
    """
    ops = months_from(params.op_start, params.op_months)
    months = {"before": str(pd.Period(params.op_start, freq="M") - 2), "after": ops[-1]}
    shifts = (
        SURVEY_SHIFT
        if params.displacement != "none"
        else {**SURVEY_SHIFT, "buffer": dict.fromkeys(SURVEY_ITEMS, 0.0)}
    )
    area_ids = city.areas["area_id"].to_numpy()
    parts = []
    rid = 0

    def emit(survey, group, role, ids, areas, person, panel) -> None:
        for wave in ("before", "after"):
            for it in SURVEY_ITEMS:
                shift = shifts[role][it] if wave == "after" else 0.0
                noise = rng.normal(0, _NOISE_SD, len(ids))
                p = person if panel else rng.normal(0, _PERSON_SD, len(ids))
                score = np.clip(np.round(_SURVEY_BASE[it] + shift + p + noise), 1, 5).astype(int)
                parts.append(
                    pd.DataFrame(
                        {
                            "survey": survey,
                            "respondent": ids,
                            "wave": wave,
                            "month": months[wave],
                            "group": f"{group} ({role})",
                            "role": role,
                            "area_id": area_ids[areas],
                            "question": it,
                            "score": score,
                        }
                    )
                )

    for role in ("target", "buffer", "control"):
        n = params.survey_per_role
        ids = np.array([f"R{rid + i + 1:05d}" for i in range(n)], dtype=object)
        rid += n
        emit(
            "residents",
            "residents",
            role,
            ids,
            rng.choice(roles[role], n),
            rng.normal(0, _PERSON_SD, n),
            panel=True,
        )
    # professionals: fresh people each wave (unpaired); first n_p before, the rest after
    n_p = max(params.survey_per_role // 4, 5)
    ids = np.array([f"P{rid + i + 1:05d}" for i in range(2 * n_p)], dtype=object)
    for wave, sl in (("before", slice(0, n_p)), ("after", slice(n_p, 2 * n_p))):
        for it in SURVEY_ITEMS:
            shift = shifts["target"][it] if wave == "after" else 0.0
            lat = _SURVEY_BASE[it] + shift + rng.normal(0, np.hypot(_PERSON_SD, _NOISE_SD), n_p)
            parts.append(
                pd.DataFrame(
                    {
                        "survey": "professionals",
                        "respondent": ids[sl],
                        "wave": wave,
                        "month": months[wave],
                        "group": "professionals (target)",
                        "role": "target",
                        "area_id": area_ids[rng.choice(roles["target"], n_p)],
                        "question": it,
                        "score": np.clip(np.round(lat), 1, 5).astype(int),
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)
