"""Harm weights for the 14 police.uk crime types.

Counting crimes treats a shoplifting like a rape. A harm weight says how much
one crime of a type counts: the shipped ``cchi`` set uses the Cambridge Crime
Harm Index (days of imprisonment a first offender would get, Sherman et al.),
``count`` weighs every crime 1 (the ordinary count, for comparison). Users add
their own set from YAML, or derive one from a residents' survey (community
priorities, UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement: "priority setting at community level should be in
collaboration with the community affected").

Shipped sets are package data and never touch the store; user and community
sets are stored (``harm_weight_sets``) so ``harm index --weights NAME`` finds
them later.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from realimpact import _yaml
from realimpact.errors import InputError, RejectedFileError, ValidationError
from realimpact.harm.taxonomy import harm_ids

CRIME_TYPES: tuple[str, ...] = (
    "Anti-social behaviour",
    "Bicycle theft",
    "Burglary",
    "Criminal damage and arson",
    "Drugs",
    "Other crime",
    "Other theft",
    "Possession of weapons",
    "Public order",
    "Robbery",
    "Shoplifting",
    "Theft from the person",
    "Vehicle crime",
    "Violence and sexual offences",
)
SHIPPED = ("cchi", "count")
RATING_MIN, RATING_MAX = 1, 5


@dataclass(frozen=True)
class WeightSet:
    """A named weight per crime type, with where it came from.

    Attributes
    ----------
    name : str
    weights : dict[str, float]
        One non-negative finite weight per crime type in :data:`CRIME_TYPES`.
    kind : str
        ``shipped``, ``user`` or ``community``.
    unit, method, source : str
        What a weight of 1 means, how the set was made, the file it came from.
    details : dict
        Derivation (CCHI subgroups, per-harm survey scores ...).
    """

    name: str
    weights: dict[str, float]
    kind: str = "user"
    unit: str = ""
    method: str = ""
    source: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "unit": self.unit,
            "method": self.method,
            "source": self.source,
            "weights": dict(self.weights),
            "details": self.details,
        }


# -- validation ------------------------------------------------------------


def _suggest(name: str, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _number(value: Any, where: str) -> float:
    """A weight must be a finite number >= 0; booleans and strings are rejected."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{where}: weight {value!r} is not a number")
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        raise ValidationError(f"{where}: weight {value!r} is not a finite number")
    if x < 0:
        raise ValidationError(f"{where}: weight {value!r} is negative (weights must be >= 0)")
    return x


def validate_weights(weights: Any, source: str, default: Any = None) -> dict[str, float]:
    """Check a {crime type: weight} mapping; fill unlisted types from ``default``.

    Unknown crime types are errors, not ignored: a typo ("Drug") would
    otherwise silently weigh Drugs at the default.
    """
    if not isinstance(weights, dict) or not weights:
        raise ValidationError(f"{source}: weights: expected a mapping of crime type to weight")
    out: dict[str, float] = {}
    for ct, w in weights.items():
        if ct not in CRIME_TYPES:
            raise ValidationError(
                f"{source}: weights: unknown crime type {ct!r}{_suggest(str(ct), CRIME_TYPES)};"
                " use the police.uk names"
            )
        out[ct] = _number(w, f"{source}: weights: {ct}")
    missing = [ct for ct in CRIME_TYPES if ct not in out]
    if missing:
        if default is None:
            raise ValidationError(
                f"{source}: weights: missing {', '.join(missing)} (list all 14 crime types"
                " or set `default:`)"
            )
        d = _number(default, f"{source}: default")
        out.update(dict.fromkeys(missing, d))
    return {ct: out[ct] for ct in CRIME_TYPES}


# -- shipped sets ----------------------------------------------------------


def _data(name: str) -> str:
    return resources.files("realimpact.harm").joinpath(f"data/{name}").read_text("utf-8")


@cache
def _cchi_yaml() -> dict[str, Any]:
    return yaml.safe_load(_data("weights/cchi.yaml"))


def cchi_subgroup_map() -> dict[str, str]:
    """CCHI / Home Office offence subgroup -> police.uk crime type (package data)."""
    rows = csv.DictReader(io.StringIO(_data("cchi_subgroups.csv")))
    return {r["cchi_subgroup"]: r["police_uk_crime_type"] for r in rows}


def object_of_search_map() -> dict[str, str | None]:
    """Stop-search object of search -> crime type whose weight it carries (None: left out)."""
    return yaml.safe_load(_data("object_of_search.yaml"))


def crime_type_harm_links() -> dict[str, list[str]]:
    """Crime type -> taxonomy harm ids it is evidence of (used by community weights)."""
    return yaml.safe_load(_data("crime_type_harms.yaml"))


ASB_CCHI_DAYS = 1.0
ASB_NOTE = (
    "Anti-social behaviour is not a notifiable crime and has no CCHI value; it gets"
    " 1 day, the lowest weight of any crime type (Shoplifting), so it counts but never"
    " outweighs a crime. Override it with your own weights file if your force disagrees."
)


def derive_cchi(csv_path: str | Path) -> dict[str, Any]:
    """Derive the ``cchi`` set from the CCHI subgroup medians CSV.

    Each police.uk crime type is the count-weighted mean of the CCHI median days
    of its subgroups, the counts being the national 2024/25 police recorded crime
    counts: the weight is then the average harm of one recorded crime of that
    type. Columns: ``prc_subgroup, cchi_days, national_count_2024_25``; the
    subgroup -> crime type mapping is :func:`cchi_subgroup_map` (not the CSV's
    own category column, so the mapping stays ours and documented).
    """
    path = Path(csv_path)
    df = pd.read_csv(path)
    need = {"prc_subgroup", "cchi_days", "national_count_2024_25"}
    if not need <= set(df.columns):
        raise RejectedFileError(f"{path}: expected columns {', '.join(sorted(need))}")
    mapping = cchi_subgroup_map()
    unknown = sorted(set(df["prc_subgroup"]) - set(mapping))
    if unknown:
        raise ValidationError(f"{path}: prc_subgroup: no crime type mapped for {unknown}")
    df["crime_type"] = df["prc_subgroup"].map(mapping)
    weights: dict[str, float] = {}
    derivation: dict[str, Any] = {}
    for ct in CRIME_TYPES:
        g = df[df["crime_type"] == ct]
        if g.empty:
            continue
        n = g["national_count_2024_25"].astype(float)
        weights[ct] = float((g["cchi_days"] * n).sum() / n.sum())
        derivation[ct] = {
            "subgroups": [
                {
                    "subgroup": r.prc_subgroup,
                    "cchi_days": float(r.cchi_days),
                    "national_count": int(r.national_count_2024_25),
                }
                for r in g.itertuples()
            ],
        }
    if "Anti-social behaviour" not in weights:
        weights["Anti-social behaviour"] = ASB_CCHI_DAYS
        derivation["Anti-social behaviour"] = {"subgroups": [], "note": ASB_NOTE}
    missing = [ct for ct in CRIME_TYPES if ct not in weights]
    if missing:
        raise ValidationError(f"{path}: no CCHI subgroup for {', '.join(missing)}")
    return {
        "weights": {ct: weights[ct] for ct in CRIME_TYPES},
        "derivation": {ct: derivation[ct] for ct in CRIME_TYPES},
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def write_cchi_table(csv_path: str | Path, out_path: str | Path) -> None:
    """Regenerate ``data/weights/cchi.yaml`` (maintainers; see docs/harm.md)."""
    d = derive_cchi(csv_path)
    doc = {
        "name": "cchi",
        "unit": "days of imprisonment (Cambridge Crime Harm Index median, 2026 update)",
        "method": (
            "count-weighted mean of the CCHI median days of the offence subgroups mapped to"
            " each police.uk crime type (data/cchi_subgroups.csv), weighted by national"
            " police recorded crime counts 2024/25. " + ASB_NOTE
        ),
        "source": (
            "cchi2026_subgroup_medians_isthisben.csv (isthisben/cbl-realcrime data/cchi_weights.csv"
            " @5591939d; Cambridge CCHI 2026 update + Home Office PRC 2024/25)"
        ),
        "source_sha256": d["sha256"],
        "weights": d["weights"],
        "derivation": d["derivation"],
    }
    Path(out_path).write_text(
        "# Generated by realimpact.harm.weights.write_cchi_table; do not edit by hand.\n"
        + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100),
        encoding="utf-8",
    )


def cchi_weights() -> WeightSet:
    d = _cchi_yaml()
    return WeightSet(
        name="cchi",
        weights=validate_weights(d["weights"], "cchi.yaml"),
        kind="shipped",
        unit=d["unit"],
        method=d["method"],
        source=d["source"],
        details={"derivation": d["derivation"], "source_sha256": d["source_sha256"]},
    )


def count_weights() -> WeightSet:
    return WeightSet(
        name="count",
        weights=dict.fromkeys(CRIME_TYPES, 1.0),
        kind="shipped",
        unit="crimes",
        method="every crime weighs 1: the harm index is the plain count",
        source="realimpact",
    )


# -- user sets -------------------------------------------------------------


def read_weights_file(path: str | Path, name: str | None = None) -> WeightSet:
    """A user's weights from YAML::

    name: my-force             # optional; the CLI name wins
    unit: points
    method: agreed at the 2025 tasking meeting
    default: 0                 # optional, for crime types not listed
    weights:
      Drugs: 10
      Violence and sexual offences: 8
    """
    p = Path(path)
    label = str(p)
    if not p.exists():
        raise InputError(f"{label}: no such file")
    # the one safe loader of user YAML (size, alias and depth caps); names the file
    doc = _yaml.load_file(p)
    if not isinstance(doc, dict) or "weights" not in doc:
        raise RejectedFileError(f"{label}: expected a mapping with a `weights:` section")
    weights = validate_weights(doc["weights"], label, doc.get("default"))
    set_name = name or doc.get("name") or p.stem
    return WeightSet(
        name=str(set_name),
        weights=weights,
        kind="user",
        unit=str(doc.get("unit", "")),
        method=str(doc.get("method", "")),
        source=label,
    )


# -- community priority sets -----------------------------------------------


def read_survey(path: str | Path) -> pd.DataFrame:
    """Validate a residents' survey CSV: respondent, harm_id, rating (whole number 1-5).

    Header names are matched case-insensitively; ``harm`` and ``harm id`` are
    accepted for ``harm_id``. Returns respondent, harm_id, rating, line.
    """
    p = Path(path)
    label = str(p)
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise RejectedFileError(f"{label}: not a readable CSV ({str(e).splitlines()[0]})") from None
    cols = {c.strip().lower().replace(" ", "_"): c for c in df.columns}
    if "harm" in cols and "harm_id" not in cols:
        cols["harm_id"] = cols.pop("harm")
    missing = [c for c in ("respondent", "harm_id", "rating") if c not in cols]
    if missing:
        raise RejectedFileError(
            f"{label}: missing column(s) {', '.join(missing)} (need respondent, harm_id, rating)"
        )
    df = df.rename(columns={v: k for k, v in cols.items()})[["respondent", "harm_id", "rating"]]
    df = df.apply(lambda s: s.str.strip())
    df["line"] = range(2, len(df) + 2)
    if df.empty:
        raise RejectedFileError(f"{label}: no survey rows")
    valid = set(harm_ids())
    ratings = []
    for r in df.itertuples():
        if not r.respondent:
            raise ValidationError(f"{label}: line {r.line}: respondent is empty")
        if r.harm_id not in valid:
            raise ValidationError(
                f"{label}: line {r.line}: harm_id {r.harm_id!r} is not in the taxonomy"
                f"{_suggest(r.harm_id, sorted(valid))} (see `realimpact harm taxonomy`)"
            )
        try:
            x = float(r.rating)
        except ValueError:
            x = math.nan
        if not (x == x and x.is_integer() and RATING_MIN <= x <= RATING_MAX):
            raise ValidationError(
                f"{label}: line {r.line}: rating {r.rating!r} is outside {RATING_MIN}-{RATING_MAX}"
                " (whole numbers only)"
            )
        ratings.append(int(x))
    df["rating"] = ratings
    dup = df[df.duplicated(["respondent", "harm_id"], keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        lines = dup[(dup.respondent == first.respondent) & (dup.harm_id == first.harm_id)].line
        raise ValidationError(
            f"{label}: respondent {first.respondent!r} rated {first.harm_id} more than once"
            f" (lines {', '.join(map(str, lines))})"
        )
    return df


def community_weights(
    survey: str | Path | pd.DataFrame,
    name: str = "community",
    links: dict[str, list[str]] | None = None,
) -> WeightSet:
    """Weights from residents' ratings of harms (community priorities).

    Method (docs/harm.md):

    1. each harm's score is the mean rating (1-5) of the respondents who rated
       it; a respondent who did not rate a harm is not counted as rating it low;
    2. each crime type's weight is the mean score of the rated harms it is
       linked to (:func:`crime_type_harm_links`), so a crime type evidencing
       harms residents care about weighs more;
    3. a crime type none of whose harms was rated gets 1, the bottom of the
       scale, and is listed under ``unrated``.

    Weights are on the 1-5 rating scale: a crime type at 4 counts four times one at 1.
    """
    df = survey if isinstance(survey, pd.DataFrame) else read_survey(survey)
    source = "" if isinstance(survey, pd.DataFrame) else str(survey)
    links = links if links is not None else crime_type_harm_links()
    by_harm = df.groupby("harm_id")["rating"].agg(["mean", "count"])
    weights: dict[str, float] = {}
    per_type: dict[str, Any] = {}
    unrated = []
    for ct in CRIME_TYPES:
        rated = [h for h in links.get(ct, []) if h in by_harm.index]
        if rated:
            weights[ct] = float(by_harm.loc[rated, "mean"].mean())
        else:
            weights[ct] = float(RATING_MIN)
            unrated.append(ct)
        per_type[ct] = {"harms": rated, "ratings": int(by_harm.loc[rated, "count"].sum())}
    linked = {h for hs in links.values() for h in hs}
    return WeightSet(
        name=name,
        weights=weights,
        kind="community",
        unit="mean resident rating (1 = low priority, 5 = high)",
        method=(
            "mean rating per harm over respondents who rated it; crime type = mean score of"
            " its linked rated harms (data/crime_type_harms.yaml); unrated crime types = 1"
        ),
        source=source,
        details={
            "respondents": int(df["respondent"].nunique()),
            "ratings": len(df),
            "harm_scores": {
                h: {"mean": float(r["mean"]), "n": int(r["count"])} for h, r in by_harm.iterrows()
            },
            "crime_types": per_type,
            "unrated": unrated,
            "unlinked_harms": sorted(set(by_harm.index) - linked),
        },
    )


# -- lookup ------------------------------------------------------------------


def get_weights(name: str, store: Any = None) -> WeightSet:
    """Resolve ``--weights NAME``: shipped set, stored set, or a YAML file path."""
    if name == "cchi":
        return cchi_weights()
    if name == "count":
        return count_weights()
    if store is not None:
        from realimpact.store import harm as store_harm

        found = store_harm.load_weight_set(store, name)
        if found is not None:
            return WeightSet(**found)
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        return read_weights_file(name)
    stored = [] if store is None else store_harm_names(store)
    raise ValidationError(
        f"--weights: no weight set {name!r}; available: {', '.join([*SHIPPED, *stored])}"
        " (or a path to a .yaml file)"
    )


def store_harm_names(store: Any) -> list[str]:
    from realimpact.store import harm as store_harm

    return store_harm.weight_set_names(store)


def save_weights(store: Any, ws: WeightSet) -> None:
    """Store a user/community set under its name, replacing a set of that name."""
    from realimpact.store import harm as store_harm

    if ws.name in SHIPPED:
        raise ValidationError(f"weights name {ws.name!r} is reserved for a shipped set")
    if not ws.name or not all(c.isalnum() or c in "-_." for c in ws.name):
        raise ValidationError(f"weights name {ws.name!r}: use letters, digits, '-', '_', '.'")
    store_harm.save_weight_set(store, ws.to_dict())


def list_weights(store: Any = None) -> list[dict[str, Any]]:
    out = [
        {"name": w.name, "kind": w.kind, "unit": w.unit} for w in (cchi_weights(), count_weights())
    ]
    if store is not None:
        from realimpact.store import harm as store_harm

        out += store_harm.weight_set_summaries(store)
    return out


def harm_weights(
    name: str | None = None,
    store: Any = None,
    *,
    file: str | Path | None = None,
    survey: str | Path | None = None,
) -> dict[str, Any]:
    """``realimpact harm weights``: list sets, show one, or store one from a file/survey.

    ``store`` is an open Store or a path; it is opened only when needed (shipped
    sets are package data). Validation happens before anything is written.
    """
    from realimpact.store import Store, open_store
    from realimpact.store.connection import resolve_path

    if file is not None and survey is not None:
        raise InputError("give --file or --survey, not both")
    if (file is not None or survey is not None) and not name:
        raise InputError("NAME is required to store a weight set")
    if name in SHIPPED and file is None and survey is None:
        return (cchi_weights() if name == "cchi" else count_weights()).to_dict()
    if file is not None:
        ws: WeightSet | None = read_weights_file(file, name)
    elif survey is not None:
        ws = community_weights(survey, str(name))
    else:
        ws = None
    if ws is not None and ws.name in SHIPPED:
        raise ValidationError(f"weights name {ws.name!r} is reserved for a shipped set")
    own = not isinstance(store, Store)
    if own:
        path = resolve_path(store)
        if ws is None and path != ":memory:" and not Path(path).exists():
            if name is None:
                return {"sets": list_weights(None)}
            return get_weights(name).to_dict()
        st = open_store(path)
    else:
        st = store
    try:
        if ws is not None:
            save_weights(st, ws)
            return {**ws.to_dict(), "stored": True}
        if name is None:
            return {"sets": list_weights(st)}
        return get_weights(name, st).to_dict()
    finally:
        if own:
            st.close()
