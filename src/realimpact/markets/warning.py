"""Emerging-market warning: the Project Linctus indicators as a checklist, tested where data allow.

Home Office (2003) Disrupting crack markets, (section 3.3, Project Linctus) lists 19 signs that a crack market is
emerging or established, "in the general chronological order that they often
occur". Most need a person to notice them (intelligence, partners); some show
in data: a rise in Drugs crime (new sources, more seizures), in assaults, in
volume crime, in weapons and robbery, new crack-house reports. This module
turns the list into a checklist per unit (force, area, or registry entity):

* data indicators are tested on monthly series with the Poisson CUSUM of
  :mod:`realimpact.markets.cusum` (baseline months against monitored months;
  false-alarm probability per test at most ``alpha``);
* registry indicators fire when a place of the named type is first reported
  in the monitored months;
* partner series (a CSV of indicator, month, n) are tested like police data;
* manual indicators show what analysts recorded (``markets indicator``).

A fired indicator means "look here", not proof: police.uk categories are
proxies (each proxy is written down in ``data/linctus.yaml``), and with many
areas some alarms are false by design (``max_expected_false_alarms`` says how many).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realimpact._progress import ProgressFn
from realimpact.errors import InputError, ValidationError
from realimpact.markets.cusum import cusum_test
from realimpact.markets.vocab import linctus_indicators
from realimpact.periods import check_month, is_month
from realimpact.store import Store
from realimpact.store import markets as sql
from realimpact.store.forces import missing_months, month_runs

SCOPES = ("force", "layer", "entity")


def force_key(name: str) -> str:
    """'City of London Police' and 'city-of-london' name the same force (store.forces)."""
    from realimpact.store.forces import force_key as _key

    return _key(name)


def _check_month(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    return check_month(str(value), field)


def split_months(
    months: list[str],
    baseline: tuple[str | None, str | None] = (None, None),
    monitor: tuple[str | None, str | None] = (None, None),
) -> tuple[list[str], list[str]]:
    """Baseline and monitored months; default: first half against second half."""
    months = sorted(months)
    if baseline == (None, None) and monitor == (None, None):
        cut = max(1, len(months) // 2)
        return months[:cut], months[cut:]
    b_from, b_to = baseline
    m_from, m_to = monitor
    if b_to is None and m_from is not None:
        base = [m for m in months if m < m_from and (b_from is None or m >= b_from)]
    else:
        base = [
            m for m in months if (b_from is None or m >= b_from) and (b_to is None or m <= b_to)
        ]
    if m_from is None:
        last = max(base) if base else ""
        mon = [m for m in months if m > last and (m_to is None or m <= m_to)]
    else:
        mon = [m for m in months if m >= m_from and (m_to is None or m <= m_to)]
    return base, mon


def test_series(
    frame: pd.DataFrame,
    coverage: dict[str, list[str]] | None = None,
    *,
    baseline: tuple[str | None, str | None] = (None, None),
    monitor: tuple[str | None, str | None] = (None, None),
    shift: float = 0.5,
    alpha: float = 0.05,
    n_sim: int = 999,
    seed: int = 0,
    with_arl: bool = True,
    progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """CUSUM-test every (unit, indicator) monthly series of ``frame``.

    ``frame`` has columns unit, indicator, month, n; a covered month with no
    row is a zero. ``coverage`` gives each unit's months with data (default:
    every month in ``frame``), so a force that published 5 months is not read
    as 31 zeros. A month outside a unit's coverage is unknown: it is left out
    of the baseline mean, and the CUSUM never bridges it -- it monitors the
    first run of consecutive monitored months and names the later ones
    (``not_monitored``, ``gaps``).
    """
    need = {"unit", "indicator", "month", "n"}
    if not need <= set(frame.columns):
        raise ValidationError(f"series: needs columns {', '.join(sorted(need))}")
    frame = frame.astype({"unit": str, "indicator": str, "month": str})
    all_months = sorted(frame["month"].unique())
    # One aggregation, then plain dicts: per-group pandas calls cost ~1 ms each,
    # which is most of the run time over a few thousand area series.
    sums = frame.groupby(["unit", "indicator", "month"], sort=True)["n"].sum()
    series: dict[tuple[str, str], dict[str, float]] = {}
    for (unit, ind, month), n in sums.items():
        series.setdefault((unit, ind), {})[month] = float(n)
    out: list[dict[str, Any]] = []
    for (unit, ind), counts in series.items():
        months = sorted((coverage or {}).get(unit, all_months))
        base_m, mon_m = split_months(months, baseline, monitor)
        rec: dict[str, Any] = {"unit": unit, "indicator": ind}
        if len(base_m) < 1 or len(mon_m) < 1:
            rec.update(tested=False, reason="needs at least one baseline and one monitored month")
            out.append(rec)
            continue
        gap_notes = []
        runs = month_runs(mon_m)
        if len(runs) > 1:
            # The CUSUM accumulates month after month: it must not bridge a gap as if
            # the months either side were consecutive. It runs on the first run of
            # consecutive monitored months; the later months are named, not tested.
            later = [m for r in runs[1:] for m in r]
            gap = missing_months([runs[0][-1], runs[1][0]])
            gap_notes.append(
                f"monitored {runs[0][0]}..{runs[0][-1]} only: {len(gap)} month(s) missing"
                f" after {runs[0][-1]}, so {len(later)} later month(s) ({later[0]}..{later[-1]})"
                f" are not monitored (the CUSUM needs consecutive months; use --monitor-from"
                f" {runs[1][0]} to monitor them)"
            )
            rec["not_monitored"] = later
            mon_m = runs[0]
        base_gaps = missing_months(base_m)
        if base_gaps:
            gap_notes.append(
                f"{len(base_gaps)} baseline month(s) missing, left out of the baseline mean"
            )
            rec["baseline_missing"] = base_gaps
        b = np.array([counts.get(x, 0.0) for x in base_m])
        m = np.array([counts.get(x, 0.0) for x in mon_m])
        r = cusum_test(b, m, shift=shift, alpha=alpha, n_sim=n_sim, seed=seed, with_arl=with_arl)
        disp = r.dispersion
        rec.update(
            tested=True,
            fired=r.fired,
            first_alarm=mon_m[r.first_alarm] if r.first_alarm is not None else None,
            p_value=r.p_value,
            baseline=[base_m[0], base_m[-1]],
            monitor=[mon_m[0], mon_m[-1]],
            baseline_mean=r.baseline_mean,
            monitor_mean=r.monitor_mean,
            ratio=(r.monitor_mean / r.baseline_mean) if r.baseline_mean > 0 else None,
            k=r.k,
            h=r.h,
            statistic=r.statistic,
            arl0=r.arl0,
            dispersion_index=disp["index"],
            overdispersed=bool(disp["p_value"] is not None and disp["p_value"] < 0.05),
            monitor_counts=[int(x) for x in m],
            above_k=[[mm, int(x)] for mm, x in zip(mon_m, m, strict=True) if x > r.k]
            if r.fired
            else [],
        )
        if gap_notes:
            rec["gaps"] = "; ".join(gap_notes)
        out.append(rec)
        if progress:
            progress("testing monthly series", 1, len(series))
    return out


# -- observations (manual checklist) ----------------------------------------------


def _indicator_ids() -> list[str]:
    return [i["id"] for i in linctus_indicators()]


def parse_observation(raw: dict[str, Any], where: str = "") -> dict[str, Any]:
    """``{entity, indicator, date, evidence}``; entity is a registry id or 'layer:area'."""
    from realimpact.markets.assessment import _parse_date
    from realimpact.markets.registry import check_id

    if not isinstance(raw, dict):
        raise ValidationError(f"{where.rstrip('.')}: expected a mapping")
    unknown = sorted(set(raw) - {"entity", "indicator", "date", "evidence"})
    if unknown:
        raise ValidationError(f"{where}{unknown[0]}: unknown field")
    ind = str(raw.get("indicator") or "").strip()
    if ind not in _indicator_ids():
        raise ValidationError(
            f"{where}indicator: {ind!r} is not a Project Linctus indicator; allowed: {', '.join(_indicator_ids())}"
        )
    return {
        "entity": check_id(raw.get("entity"), f"{where}entity"),
        "indicator": ind,
        "date": _parse_date(raw.get("date") or dt.date.today(), f"{where}date"),
        "evidence": str(raw["evidence"]).strip() if raw.get("evidence") else None,
    }


def _write_observation(store: Store, o: dict[str, Any]) -> None:
    if ":" not in o["entity"] and not sql.entity_exists(store, o["entity"]):
        raise ValidationError(
            f"entity: {o['entity']!r} is not in the registry (or give LAYER:AREA)"
        )
    sql.insert_indicator_obs(store, o["entity"], o["indicator"], o["date"], o["evidence"])


def record_indicator(store: Store, spec: dict[str, Any]) -> dict[str, Any]:
    """Record that a person saw a Linctus indicator (``markets indicator``)."""
    o = parse_observation(spec)
    with store.transaction():
        _write_observation(store, o)
    return {**o, "date": o["date"].isoformat()}


# -- the report --------------------------------------------------------------------


def read_partner_series(path: str | Path) -> pd.DataFrame:
    """Partner monthly series CSV: indicator, month, n [, unit]."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", source=str(p))
    df = pd.read_csv(p, dtype={"month": str, "unit": str, "indicator": str})
    missing = [c for c in ("indicator", "month", "n") if c not in df.columns]
    if missing:
        raise ValidationError(
            f"missing column {missing[0]!r} (need indicator, month, n [, unit])", source=str(p)
        )
    ids = set(_indicator_ids())
    for i, row in enumerate(df.itertuples(index=False), start=2):
        if row.indicator not in ids:
            raise ValidationError(
                f"line {i}: indicator: {row.indicator!r} is not a Project Linctus indicator",
                source=str(p),
            )
        if not is_month(str(row.month)):
            raise ValidationError(f"line {i}: month: {row.month!r} is not YYYY-MM", source=str(p))
        if not (
            isinstance(row.n, int | np.integer | float) and row.n >= 0 and float(row.n).is_integer()
        ):
            raise ValidationError(f"line {i}: n: {row.n!r} is not a count >= 0", source=str(p))
    if "unit" not in df.columns:
        df["unit"] = "partner"
    return df[["unit", "indicator", "month", "n"]]


def _police_series(
    store: Store,
    scope: str,
    layer: str,
    entity_areas: list[tuple[str, str]] | None,
    unit_name: str | None,
    force: str | None = None,
) -> tuple[pd.DataFrame, dict[str, list[str]], list[str]]:
    """Monthly police.uk series for every data-testable indicator, plus coverage and notes."""
    from realimpact.store.queries import record_counts

    frames, coverage, notes = [], {}, []
    zero_ok: list[str] = []  # entity indicators with data but no record in its areas
    for ind in linctus_indicators():
        if ind["test"] != "police_uk":
            continue
        table = ind.get("table", "crimes")
        if not store.table_exists(table) or not store.scalar(f"SELECT count(*) > 0 FROM {table}"):
            notes.append(f"{ind['id']}: no {table} in the store")
            continue
        types = ind.get("crime_types")
        filters: dict[str, list[Any]] = {}
        if table == "stop_searches":
            filters = {
                "object_of_search": [ind["object_of_search"]],
                "outcome_linked_to_object": [True],
            }
        fmonths = sql.force_months(store, table)
        if force is not None:
            fmonths = {f: ms for f, ms in fmonths.items() if force_key(f) == force_key(force)}
            if not fmonths:
                notes.append(f"{ind['id']}: no {table} of {force} in the store")
                continue
        if scope == "force":
            df = sql.force_monthly_counts(store, table, types, filters)
            if force is not None:
                df = df[df["force"].map(force_key) == force_key(force)]
            df["unit"] = df["force"].map(force_key)
            for f, ms in fmonths.items():
                coverage.setdefault(
                    force_key(f), sorted(set(coverage.get(force_key(f), [])) | set(ms))
                )
        else:
            parts = []
            lay = layer if scope == "layer" else entity_areas[0][0]  # type: ignore[index]
            col = "falls_within" if table == "crimes" else "force"
            for f, ms in fmonths.items():
                try:
                    c = record_counts(
                        store,
                        layer=lay,
                        table=table,
                        by=("month",),
                        crime_types=types,
                        filters={**filters, col: [f]},
                    )
                except ValidationError as e:
                    notes.append(f"{ind['id']}: not tested ({e})")
                    parts = None
                    break
                if scope == "entity":
                    ids = {a for la, a in entity_areas if la == lay}  # type: ignore[union-attr]
                    c = c[c["area_id"].isin(ids)]
                    c = c.assign(unit=unit_name)
                    if c.empty:
                        continue
                    coverage[str(unit_name)] = sorted(
                        set(coverage.get(str(unit_name), [])) | set(ms)
                    )
                else:
                    c = c.assign(unit=force_key(f) + "/" + c["area_id"].astype(str))
                    for u in c["unit"].unique():
                        coverage[u] = ms
                parts.append(c)
            if parts is None:
                continue
            if not parts and scope == "entity":
                zero_ok.append(ind["id"])
                continue
            df = pd.concat(parts) if parts else pd.DataFrame(columns=["unit", "month", "n"])
        df = df.assign(indicator=ind["id"])[["unit", "indicator", "month", "n"]]
        frames.append(df)
    # No record of a type in the entity's areas is a count of zero each month, not
    # missing data, as long as the force's months are known from other indicators.
    months = coverage.get(str(unit_name))
    if scope == "entity" and months:
        frames += [
            pd.DataFrame({"unit": [unit_name], "indicator": [i], "month": [months[0]], "n": [0]})
            for i in zero_ok
        ]
    frame = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["unit", "indicator", "month", "n"])
    )
    return frame, coverage, notes


def _registry_hits(
    store: Store,
    scope: str,
    layer: str,
    entity: str | None,
    unit_monitor: dict[str, set[str]],
) -> list[dict[str, Any]]:
    """Places of the named type first reported in a monitored month of their unit.

    A place belongs to a unit through its areas: in ``layer`` scope the area
    itself, in ``force`` scope the force whose crimes fall in its LSOAs (a
    place with no such area counts for every force), in ``entity`` scope a
    direct link to the entity.
    """
    from realimpact.markets.registry import _entity_rows

    ents = _entity_rows(store)
    hits = []
    for ind in linctus_indicators():
        if ind["test"] != "registry":
            continue
        for e in ents.values():
            if e["kind"] != "place" or e.get("type") != ind["place_type"]:
                continue
            if not e.get("first_seen"):
                continue
            areas = [tuple(a.split(":", 1)) for a in e["areas"]]
            if scope == "entity":
                units = [str(entity)] if entity in e["links"] or entity == e["id"] else []
            elif scope == "layer":
                ids = {a for la, a in areas if la == layer}
                units = [u for u in unit_monitor if u.split("/", 1)[-1] in ids]
            else:
                codes = [a for la, a in areas if la == "lsoa"]
                forces = {force_key(f) for fs in sql.lsoa_forces(store, codes).values() for f in fs}
                units = [u for u in unit_monitor if u in forces] if forces else list(unit_monitor)
            month = e["first_seen"][:7]
            units = [u for u in units if month in unit_monitor.get(u, set())]
            if units:
                hits.append(
                    {
                        "indicator": ind["id"],
                        "place": e["id"],
                        "first_seen": e["first_seen"],
                        "areas": e["areas"],
                        "units": units,
                    }
                )
    return hits


def emerging_market_warning(
    store: Store,
    *,
    scope: str = "force",
    layer: str = "lsoa",
    entity: str | None = None,
    baseline_from: str | None = None,
    baseline_to: str | None = None,
    monitor_from: str | None = None,
    monitor_to: str | None = None,
    shift: float = 0.5,
    alpha: float = 0.05,
    n_sim: int = 999,
    seed: int = 0,
    series: pd.DataFrame | str | Path | None = None,
    show_all: bool = False,
    progress: ProgressFn | None = None,
    force: str | None = None,
) -> dict[str, Any]:
    """``realimpact markets warning``: which Linctus indicators fired, when, with the evidence.

    ``force`` (name or slug) keeps one force's records and months. Every
    series is read on its force's published months only (see :func:`test_series`).
    """
    if scope not in SCOPES:
        raise ValidationError(f"--scope: {scope!r} is not one of {', '.join(SCOPES)}")
    if force is not None:
        from realimpact.store.forces import resolve_force

        force = resolve_force(store, force)
    baseline = (
        _check_month(baseline_from, "--baseline-from"),
        _check_month(baseline_to, "--baseline-to"),
    )
    monitor = (
        _check_month(monitor_from, "--monitor-from"),
        _check_month(monitor_to, "--monitor-to"),
    )
    if scope == "layer" and layer not in store.layer_names():
        raise ValidationError(
            f"--layer {layer!r}: no such layer; layers are: {', '.join(store.layer_names())}"
        )
    areas = None
    if scope == "entity":
        from realimpact.markets.registry import entity_areas

        if not entity:
            raise ValidationError("--entity: required with --scope entity")
        areas = entity_areas(store, entity)
        if not areas:
            raise ValidationError(
                f"--entity: {entity!r} has no areas to take data from (add areas to it)"
            )
        layers = sorted({la for la, _ in areas})
        layer = max(layers, key=lambda la: sum(1 for x, _ in areas if x == la))
        areas = [(la, a) for la, a in areas if la == layer]
    frame, coverage, notes = _police_series(store, scope, layer, areas, entity, force)
    if series is not None:
        partner = read_partner_series(series) if isinstance(series, str | Path) else series
        if scope == "entity":
            partner = partner.assign(unit=entity)
        frame = pd.concat([frame, partner], ignore_index=True)
        for u, g in partner.groupby("unit"):
            coverage.setdefault(str(u), sorted(g["month"].astype(str).unique()))
    tests = test_series(
        frame,
        coverage,
        baseline=baseline,
        monitor=monitor,
        shift=shift,
        alpha=alpha,
        n_sim=n_sim,
        seed=seed,
        with_arl=scope != "layer",
        progress=progress,
    )
    tested = [t for t in tests if t.get("tested")]
    fired = [t for t in tested if t["fired"]]
    unit_monitor = {u: set(split_months(ms, baseline, monitor)[1]) for u, ms in coverage.items()}
    if scope == "entity" and entity not in unit_monitor:
        months = sorted({m for ms in coverage.values() for m in ms})
        unit_monitor[str(entity)] = set(split_months(months, baseline, monitor)[1])
    reg = _registry_hits(store, scope, layer, entity, unit_monitor)
    obs = sql.load_indicator_obs(store, entity if scope == "entity" else None)
    units = sorted({t["unit"] for t in tests} | {u for h in reg for u in h["units"]})
    if scope == "entity" and entity not in units:
        units.append(str(entity))
    by_key = {(t["unit"], t["indicator"]): t for t in tests}
    fired_units = {t["unit"] for t in fired} | {u for h in reg for u in h["units"]}
    checklist = {}
    for u in units:
        if not show_all and scope == "layer" and u not in fired_units:
            continue
        checklist[u] = _checklist(u, scope, by_key, reg, obs, bool(unit_monitor.get(u)))
    return {
        "scope": scope,
        "force": force,
        "layer": layer if scope != "force" else None,
        "entity": entity,
        "method": (
            f"upper Poisson CUSUM per monthly series, k for a {shift:.0%} rise over the baseline mean;"
            f" Monte Carlo threshold given the total ({n_sim} draws, seed {seed});"
            f" false-alarm probability per series <= {alpha}"
        ),
        "settings": {
            "alpha": alpha,
            "shift": shift,
            "n_sim": n_sim,
            "seed": seed,
            "baseline": list(baseline),
            "monitor": list(monitor),
        },
        "n_series": len(tests),
        "n_tested": len(tested),
        "n_fired": len(fired),
        "max_expected_false_alarms": alpha * len(tested),
        "fired": sorted(fired, key=lambda t: (t["p_value"], t["unit"], t["indicator"])),
        "registry": reg,
        "observations": [{**o, "observed_on": str(o["observed_on"])} for o in obs],
        "checklist": checklist,
        "tests": tests if show_all else None,
        "notes": notes,
    }


def _checklist(
    unit: str,
    scope: str,
    tests: dict[tuple[str, str], dict[str, Any]],
    reg: list[dict[str, Any]],
    obs: list[dict[str, Any]],
    monitored: bool = True,
) -> list[dict[str, Any]]:
    rows = []
    for ind in linctus_indicators():
        row: dict[str, Any] = {
            "order": ind["order"],
            "id": ind["id"],
            "text": ind["text"],
            "test": ind["test"],
        }
        t = tests.get((unit, ind["id"]))
        seen = [
            o
            for o in obs
            if o["indicator_id"] == ind["id"]
            and (scope != "layer" or o["entity_id"].endswith(":" + unit.split("/", 1)[-1]))
        ]
        if t is not None and t.get("tested"):
            row["status"] = "fired" if t["fired"] else "not fired"
            row["evidence"] = _evidence(t)
            row["when"] = t.get("first_alarm")
        elif ind["test"] == "registry" and not monitored:
            row["status"] = "not tested"
            row["evidence"] = "no monitored months for this unit"
        elif ind["test"] == "registry":
            hits = [h for h in reg if h["indicator"] == ind["id"] and unit in h["units"]]
            row["status"] = "fired" if hits else "not fired"
            row["evidence"] = (
                "; ".join(f"{h['place']} first reported {h['first_seen']}" for h in hits)
                or "no new reports in the registry"
            )
            row["when"] = min((h["first_seen"] for h in hits), default=None)
        else:
            row["status"] = "not tested"
            if t is not None:
                row["evidence"] = t.get("reason", "")
            elif ind["test"] == "police_uk":
                row["evidence"] = f"no {ind.get('table', 'crimes')} records for this unit"
            elif ind["test"] == "partner":
                row["evidence"] = "no partner series supplied"
            else:
                row["evidence"] = "needs a person to record it"
        if seen:
            notes = "; ".join(f"recorded {o['observed_on']}: {o['evidence'] or ''}" for o in seen)
            if row["status"] == "fired":
                row["evidence"] += f"; {notes}"
            else:
                row["status"], row["evidence"] = "recorded", notes
            row["recorded"] = [
                {"date": str(o["observed_on"]), "evidence": o["evidence"]} for o in seen
            ]
        rows.append(row)
    return rows


def _evidence(t: dict[str, Any]) -> str:
    """One line a person can check: the means, the CUSUM, and the months that pushed it up."""
    ratio = f" (x{t['ratio']:.2f})" if t.get("ratio") else ""
    text = (
        f"{t['monitor_mean']:.1f}/month in {t['monitor'][0]}..{t['monitor'][1]} vs"
        f" {t['baseline_mean']:.1f}/month in {t['baseline'][0]}..{t['baseline'][1]}{ratio};"
        f" CUSUM max {t['statistic']:.1f} vs h {t['h']:.1f}, p={t['p_value']:.3f}"
    )
    if t.get("first_alarm"):
        text += f"; alarm from {t['first_alarm']}"
        above = t.get("above_k") or []
        if above:
            shown = ", ".join(f"{m} ({n})" for m, n in above[:4])
            more = f" and {len(above) - 4} more" if len(above) > 4 else ""
            text += f"; months above k={t['k']:.1f}: {shown}{more}"
    if t.get("overdispersed"):
        text += "; baseline overdispersed (alarm rate may exceed alpha)"
    if t.get("gaps"):
        text += f"; {t['gaps']}"
    return text
