"""Drug markets of the synthetic city: level, selling mode, commodity, place, harm.

Vocabulary from Home Office (2003) Disrupting crack markets, (Home Office, "Disrupting crack markets", 2003,
sections 1-2): market levels street / middle / import and selling modes open
street, closed street, crack house, arrange-to-meet (plus county line from
N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets). Each mode leaves a different footprint in recorded crime: open
street markets are visible (dealing, anti-social behaviour, robbery), crack
houses bring disorder and acquisitive crime to their street, arrange-to-meet
markets are hidden but violent. The profiles below encode those statements as
relative multipliers; they are illustrative, not estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from realimpact.simulate.city import City
from realimpact.simulate.params import CRIME_TYPES, SimulationParams

# Relative footprint of each selling mode on the crime types markets generate.
MODE_PROFILE: dict[str, dict[str, float]] = {
    "open street": {
        "Drugs": 1.6,
        "Anti-social behaviour": 1.5,
        "Robbery": 1.3,
        "Theft from the person": 1.3,
        "Public order": 1.2,
    },
    "closed street": {
        "Drugs": 1.0,
        "Anti-social behaviour": 0.8,
        "Violence and sexual offences": 1.1,
    },
    "crack house": {
        "Anti-social behaviour": 1.6,
        "Burglary": 1.5,
        "Criminal damage and arson": 1.4,
        "Shoplifting": 1.3,
        "Drugs": 1.0,
    },
    "arrange-to-meet": {
        "Drugs": 0.5,
        "Anti-social behaviour": 0.4,
        "Violence and sexual offences": 1.4,
        "Possession of weapons": 1.5,
    },
    "county line": {
        "Drugs": 0.8,
        "Violence and sexual offences": 1.3,
        "Possession of weapons": 1.6,
        "Robbery": 1.2,
    },
}

_PLAN = (  # (level, selling mode, commodities, relative size)
    ("street", "open street", ("crack", "heroin"), 3.0),
    ("street", "crack house", ("crack",), 1.5),
    ("street", "closed street", ("heroin", "crack"), 1.2),
    ("middle", "arrange-to-meet", ("cocaine", "cannabis"), 1.0),
    ("street", "county line", ("heroin", "crack"), 1.0),
    ("street", "open street", ("cannabis",), 0.8),
)
# the market registry's vocabulary spells selling modes with hyphens
REGISTRY_MODE = {m: m.replace(" ", "-") for m in MODE_PROFILE}
_GROUP_TYPE = {"county line": "county-line", "arrange-to-meet": "ocg"}
# harms each selling mode brings (harm taxonomy ids, N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets, Figure 2), scored by size
_MODE_HARMS = {
    "open street": ("ph-victim-crime-asb", "ph-fear-of-crime-asb", "ph-increase-violence"),
    "closed street": ("ph-related-crime", "ph-increase-violence"),
    "crack house": ("ph-degradation-neighbourhoods", "ph-risk-exploitation", "ph-victim-crime-asb"),
    "arrange-to-meet": ("ph-increase-violence", "ph-victim-violence-debts-disputes-enforcement"),
    "county line": ("ph-risk-exploitation", "ph-increase-violence"),
}


@dataclass(frozen=True)
class Market:
    market_id: str
    level: str
    selling_mode: str
    commodities: tuple[str, ...]
    easting: float
    northing: float
    radius_m: float
    size: float  # relative share of market-generated crime
    area_idx: int  # area holding the market's centre

    def to_dict(self, area_id: str) -> dict:
        return {
            "id": self.market_id,
            "level": self.level,
            "selling_mode": self.selling_mode,
            "commodities": list(self.commodities),
            "easting": round(self.easting, 1),
            "northing": round(self.northing, 1),
            "radius_m": round(self.radius_m, 1),
            "relative_size": self.size,
            "area_id": area_id,
        }


def place_markets(city: City, params: SimulationParams, rng: np.random.Generator) -> list[Market]:
    """Put markets in deprived areas, the first (the operation's) near the centre."""
    a = city.areas
    imd = a["imd_score"].to_numpy()
    taken: set[int] = set()
    markets = []
    dist_c = np.hypot(a["cx"] - params.centre_easting, a["cy"] - params.centre_northing).to_numpy()
    for k in range(params.n_markets):
        level, mode, comm, size = _PLAN[k % len(_PLAN)]
        if k == 0:
            # most deprived area in the inner third: a classic inner-city open market
            inner = np.flatnonzero(dist_c <= np.quantile(dist_c, 0.33))
            idx = int(inner[np.argmax(imd[inner])])
        else:
            w = np.maximum(imd - np.median(imd), 0.5) ** 2
            # keep markets apart: no two centres in the same or adjacent area
            for t in taken:
                near = np.hypot(a["cx"] - a["cx"].iat[t], a["cy"] - a["cy"].iat[t]).to_numpy()
                w[near < 1500] = 0.0
            if w.sum() == 0:
                w = np.ones(len(a))
            idx = int(rng.choice(len(a), p=w / w.sum()))
        taken.add(idx)
        markets.append(
            Market(
                market_id=f"m-{params.city_name.lower()}-{k + 1}",
                level=level,
                selling_mode=mode,
                commodities=comm,
                easting=float(a["cx"].iat[idx] + rng.normal(0, 60)),
                northing=float(a["cy"].iat[idx] + rng.normal(0, 60)),
                radius_m=float(rng.uniform(450, 700) if k == 0 else rng.uniform(300, 600)),
                size=size,
                area_idx=idx,
            )
        )
    return markets


def market_weights(city: City, markets: list[Market]) -> pd.DataFrame:
    """Areas x crime types: each area's share of the market-generated volume.

    A Gaussian kernel of the market's radius, times population (markets need
    customers and cover), times the selling-mode profile; columns sum to 1.
    """
    a = city.areas
    cx, cy = a["cx"].to_numpy(), a["cy"].to_numpy()
    pop = a["population"].to_numpy(float)
    w = np.zeros((len(a), len(CRIME_TYPES)))
    for m in markets:
        k = np.exp(-0.5 * ((cx - m.easting) ** 2 + (cy - m.northing) ** 2) / m.radius_m**2)
        k = k * pop / (k * pop).sum()
        prof = np.array([MODE_PROFILE[m.selling_mode].get(t, 0.3) for t in CRIME_TYPES])
        w += m.size * np.outer(k, prof)
    w = w / np.where(w.sum(axis=0) > 0, w.sum(axis=0), 1.0)
    return pd.DataFrame(w, columns=list(CRIME_TYPES))


def registry_document(city: City, markets: list[Market], assessed_on: str, first_seen: str) -> dict:
    """The markets, their groups and places, with one harm assessment each.

    In the registry's import layout (``realimpact markets import``), so the
    demo exercises the real registry and ranking. Scores follow the true
    market size (larger markets: higher impact and likelihood), so the true
    priority order is known: the operation's market ranks first.
    """
    a = city.areas
    ids = a["area_id"].to_numpy()
    cx, cy = a["cx"].to_numpy(), a["cy"].to_numpy()
    doc: dict = {"markets": [], "groups": [], "places": [], "assessments": []}
    top = max(m.size for m in markets)
    for m in markets:
        d = np.hypot(cx - m.easting, cy - m.northing)
        near = sorted(str(x) for x in ids[d <= max(m.radius_m, 400.0)]) or [str(ids[m.area_idx])]
        gid = m.market_id.replace("m-", "g-", 1)
        doc["markets"].append(
            {
                "id": m.market_id,
                "level": m.level,
                "selling_modes": [REGISTRY_MODE[m.selling_mode]],
                "commodities": list(m.commodities),
                "first_seen": first_seen,
                "areas": {"lsoa": near},
                "groups": [gid],
                "description": f"Synthetic {m.selling_mode} market ({m.level} level).",
            }
        )
        doc["groups"].append(
            {
                "id": gid,
                "type": _GROUP_TYPE.get(m.selling_mode, "dealing-group"),
                "commodities": list(m.commodities),
                "markets": [m.market_id],
            }
        )
        if m.selling_mode == "crack house":
            doc["places"].append(
                {
                    "id": m.market_id.replace("m-", "p-", 1),
                    "type": "crack-house",
                    "first_seen": first_seen,
                    "markets": [m.market_id],
                    "areas": {"lsoa": [str(ids[m.area_idx])]},
                }
            )
        level = 1 + round(4 * m.size / top)  # 2..5
        doc["assessments"].append(
            {
                "entity": m.market_id,
                "date": assessed_on,
                "assessor": "synthetic analyst",
                "harms": [
                    {
                        "harm_id": h,
                        "impact": min(5, level + (i == 0)),
                        "likelihood": level,
                        "confidence": "B",
                        "evidence": "simulated intelligence",
                    }
                    for i, h in enumerate(_MODE_HARMS[m.selling_mode])
                ],
                "position": {
                    "capability": min(5, level),
                    "capacity": min(5, max(1, level - 1)),
                    "confidence": "B",
                },
            }
        )
    return doc
