"""``evaluate(plan, store, out_dir)``: judge an operation the way its plan said it would be.

The plan names the areas (target, buffer, control), the indicators with their
baseline and follow-up windows, and the consequences to monitor. This module
reads the counts those need from the store, runs every design that the data
allow (WDQ, WDD, DiD, ITS, surveys), attaches each design's assumption checks
and its Maryland scale statement, keeps outputs apart from outcomes, and
builds the net harm balance. The result is the ``results.json`` contract
(DESIGN.md, "Evaluation output") plus Python objects for notebook users.

Outputs (``kind: output``) and process indicators get a ledger (counts, NFA
shares, find rates) and never an impact design: a rise in recorded drugs
crimes during a crackdown is activity, not harm reduction (seed 000).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realimpact._progress import ProgressFn
from realimpact.errors import InputError, ValidationError
from realimpact.evaluation.did import DiDResult, did_counts
from realimpact.evaluation.displacement import (
    WDQResult,
    wdd_dispersion,
    wdd_shared_control,
    wdq,
)
from realimpact.evaluation.indicators import crime_outputs, search_outputs
from realimpact.evaluation.its import ITSResult, its_counts
from realimpact.evaluation.maryland import sms_statement
from realimpact.evaluation.net_harm import harm_balance, tne_estimate
from realimpact.evaluation.results import Estimate
from realimpact.evaluation.surveys import survey_results

__all__ = [
    "EvaluationResult",
    "IndicatorResult",
    "evaluate",
    "suppress_small_counts",
    "survey_file",
]

ROLES = ("target", "buffer", "control")
SUPPRESS_BELOW = 5


# -- plan access (the plan model may be swapped; keep reads in one place) ------
def read_plan(plan: Any) -> Any:
    """A :class:`realimpact.plans.model.Plan` from a path, a mapping or a Plan."""
    from realimpact.plans.model import Plan, load_plan, parse_plan

    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, str | os.PathLike):
        return load_plan(plan, strict=True)
    if isinstance(plan, Mapping):
        p = parse_plan(dict(plan))
        errors = [i for i in p.problems if i.level == "error"]
        if errors:
            raise ValidationError(str(errors[0]))
        return p
    raise InputError(f"plan: expected a path, a mapping or a Plan, got {type(plan).__name__}")


def _check_plan(plan: Any) -> None:
    src = plan.path or "plan"
    if not plan.areas.target:
        raise ValidationError(f"{src}: areas.target: no target areas")
    roles = {r: set(getattr(plan.areas, r)) for r in ROLES}
    for a, b in (("target", "buffer"), ("target", "control"), ("buffer", "control")):
        both = roles[a] & roles[b]
        if both:
            raise ValidationError(f"{src}: areas: {', '.join(sorted(both))} in both {a} and {b}")
    if not plan.indicators:
        raise ValidationError(f"{src}: indicators: none to evaluate")


def _check_store_covers(plan: Any, st: Any) -> None:
    """Refuse a store that holds nothing the plan can be judged on.

    Only when every indicator comes from the store: a wrong --store, a wrong
    areas.layer or windows outside the ingested months would otherwise give
    an empty report and exit 0. Partner or survey indicators can carry an
    evaluation on their own, so then gaps stay per-indicator warnings.
    """
    from realimpact.store.queries import load_layer, months_present

    inds = plan.indicators
    if not inds or any(i.source_kind not in ("police_uk", "stop_search") for i in inds):
        return
    src = plan.path or "plan"
    layer = plan.areas.layer or "lsoa"
    wanted = {str(a) for r in ROLES for a in getattr(plan.areas, r)}
    known = set(load_layer(st, layer)["area_id"].astype(str))
    if not wanted & known:
        raise ValidationError(
            f"{src}: areas: none of the plan's {len(wanted)} areas is in layer {layer!r} of the"
            f" store {st.path}; ingest the police.uk files that cover them, or check areas.layer"
        )
    held = {t: set(months_present(st, t)) for t in {i.table for i in inds}}
    windows = []
    for ind in inds:
        fol = plan.follow_up_of(ind)
        if ind.baseline is None or fol is None:
            return  # reported per indicator
        have = held[ind.table]
        if have & set(ind.baseline.months) and have & set(fol.months):
            return
        windows.append(f"{ind.table} {ind.baseline.start}..{fol.end}")
    raise ValidationError(
        f"{src}: the store {st.path} holds no data for the baseline and follow-up of any"
        f" indicator ({'; '.join(sorted(set(windows)))}); ingest those months first"
    )


def _weights(harm_weights: Any, store: Any) -> tuple[dict[str, float], str, str]:
    """(weights, name, unit); default the Cambridge Crime Harm Index set."""
    if isinstance(harm_weights, Mapping):
        return {str(k): float(v) for k, v in harm_weights.items()}, "user", "harm units"
    if hasattr(harm_weights, "weights"):
        return dict(harm_weights.weights), harm_weights.name, getattr(harm_weights, "unit", "")
    from realimpact.harm.weights import get_weights

    ws = get_weights(harm_weights or "cchi", store)
    return dict(ws.weights), ws.name, ws.unit


# -- results -------------------------------------------------------------------
@dataclass
class IndicatorResult:
    """Everything measured for one plan indicator.

    Attributes
    ----------
    id, kind, source : from the plan.
    counts : dict role -> {"before", "after", "months_before", "months_after"}
    monthly : DataFrame ``month, role, n`` (totals per role and month)
    wdq : WDQResult | None  -- on per-month means (outcome/indirect only)
    wdd : Estimate | None   -- crimes per month, target + buffer vs control
    did : DiDResult | None
    its : ITSResult | None
    survey : list | None
    ledger : dict | None    -- outputs/process: what was done, never impact
    sms : list[dict]        -- Maryland scale statement per design run
    notes : list[str]
    """

    id: str
    kind: str
    source: str
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    monthly: pd.DataFrame | None = None
    wdq: WDQResult | None = None
    wdd: Estimate | None = None
    did: DiDResult | None = None
    its: ITSResult | None = None
    survey: list[dict[str, Any]] | None = None
    ledger: dict[str, Any] | None = None
    sms: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    baseline: tuple[str, str] | None = None
    follow_up: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "source": self.source,
            "baseline": _win(self.baseline),
            "follow_up": _win(self.follow_up),
        }
        for role in ROLES:
            d[role] = self.counts.get(role)
        d["wdq"] = self.wdq.to_dict() if self.wdq else None
        d["wdd"] = self.wdd.to_dict() if self.wdd else None
        d["did"] = self.did.to_dict() if self.did else None
        d["its"] = self.its.to_dict() if self.its else None
        d["survey"] = self.survey
        d["ledger"] = self.ledger
        d["sms"] = self.sms
        d["monthly"] = self.monthly.to_dict(orient="records") if self.monthly is not None else None
        d["notes"] = list(self.notes)
        return d


def _win(w: tuple[str, str] | None) -> dict[str, str] | None:
    return {"from": w[0], "to": w[1]} if w else None


@dataclass
class EvaluationResult:
    """What :func:`evaluate` returns; ``to_dict()`` is ``results.json``.

    Attributes
    ----------
    plan : the parsed plan.
    indicators : list[IndicatorResult]
    outputs_ledger : police.uk outputs (drugs crimes NFA share, searches, find rate).
    net_harm : the harm balance (see :mod:`realimpact.evaluation.net_harm`).
    out_dir : where results.json (and report.html) were written, if anywhere.
    """

    plan: Any
    indicators: list[IndicatorResult]
    outputs_ledger: dict[str, Any]
    net_harm: dict[str, Any]
    warnings: list[str]
    audience: str = "analyst"
    out_dir: Path | None = None
    files: dict[str, str] = field(default_factory=dict)

    def indicator(self, indicator_id: str) -> IndicatorResult:
        for r in self.indicators:
            if r.id == indicator_id:
                return r
        raise KeyError(indicator_id)

    def to_dict(self) -> dict[str, Any]:
        from realimpact import __version__

        inds = [r.to_dict() for r in self.indicators]
        d = {
            "plan_id": self.plan.id,
            "title": self.plan.title,
            "plan": self.plan.to_dict(),
            "audience": self.audience,
            "realimpact_version": __version__,
            "generated_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "sections": {
                k: [r.id for r in self.indicators if r.kind == k]
                for k in ("output", "outcome", "process", "indirect")
            },
            "indicators": inds,
            "outputs_ledger": self.outputs_ledger,
            "net_harm": self.net_harm,
            "warnings": list(self.warnings),
            "files": dict(self.files),
        }
        if self.audience == "partner":
            d = suppress_small_counts(d)
        return d


def suppress_small_counts(results: dict[str, Any], threshold: int = SUPPRESS_BELOW) -> dict:
    """Copy of ``results`` with area counts below ``threshold`` replaced by None.

    Partner outputs never show small counts (DESIGN.md conventions): they can
    identify people in a small area. Model estimates are kept. The report
    package owns the full partner rules (:func:`realimpact.report.partner_results`:
    also drops ids and withholds figures derived from small counts); this is
    the fallback when it is not installed.
    """
    try:
        from realimpact.report.safe import partner_results
    except ImportError:  # pragma: no cover - report package always ships today
        partner_results = None
    if partner_results is not None:
        out = json.loads(json.dumps(partner_results(results, threshold), default=str))
        out["suppressed_below"] = threshold
        return out
    out = json.loads(json.dumps(results, default=str))
    out["suppressed_below"] = threshold
    for ind in out.get("indicators", []):
        for role in ROLES:
            c = ind.get(role)
            if isinstance(c, dict):
                for k in ("before", "after"):
                    if isinstance(c.get(k), int | float) and 0 < c[k] < threshold:
                        c[k] = None
                        c["suppressed"] = True
        for row in ind.get("monthly") or []:
            if 0 < row.get("n", threshold) < threshold:
                row["n"] = None
    return out


# -- reading counts --------------------------------------------------------------
def _area_counts(
    store: Any,
    layer: str,
    table: str,
    crime_types: list[str] | None,
    filters: dict | None,
    lo: str,
    hi: str,
    by: tuple[str, ...],
) -> pd.DataFrame:
    from realimpact.store.queries import record_counts

    return record_counts(
        store,
        layer=layer,
        table=table,
        by=by,
        crime_types=crime_types,
        month_from=lo,
        month_to=hi,
        filters=filters,
    )


def _role_summary(
    counts: pd.DataFrame, plan: Any, base: tuple[str, str], fol: tuple[str, str], nb: int, nf: int
) -> tuple[dict, pd.DataFrame]:
    summ, rows = {}, []
    for role in ROLES:
        ids = set(getattr(plan.areas, role))
        part = counts[counts["area_id"].isin(ids)]
        b = int(part.loc[(part["month"] >= base[0]) & (part["month"] <= base[1]), "n"].sum())
        a = int(part.loc[(part["month"] >= fol[0]) & (part["month"] <= fol[1]), "n"].sum())
        summ[role] = (
            {"areas": len(ids), "before": b, "after": a, "months_before": nb, "months_after": nf}
            if ids
            else None
        )
        if ids:
            by_m = part.groupby("month")["n"].sum()
            for m, v in by_m.items():
                rows.append({"month": m, "role": role, "n": int(v)})
    return summ, pd.DataFrame(rows, columns=["month", "role", "n"])


def _designs(
    res: IndicatorResult,
    plan: Any,
    counts: pd.DataFrame,
    family: str,
    months: list[str],
    inference: str = "auto",
) -> None:
    """WDQ, WDD, DiD and ITS for an outcome/indirect count indicator."""
    c = res.counts
    nb, nf = c["target"]["months_before"], c["target"]["months_after"]
    per = {r: (c[r]["before"] / nb, c[r]["after"] / nf) for r in ROLES if c.get(r)}
    start = res.follow_up[0]
    if c.get("control"):
        if c.get("buffer"):
            res.wdq = wdq(per["target"], per["buffer"], per["control"])
        pairs = (
            (c["target"]["before"], c["target"]["after"]),
            (c["control"]["before"], c["control"]["after"]),
            (c["buffer"]["before"], c["buffer"]["after"]) if c.get("buffer") else None,
        )
        res.wdd = wdd_shared_control(*pairs, time_weights=(nb, nf))
        # The published (Poisson) WDD stays the headline; beside it, the same
        # test with the area-month overdispersion, which held the truth 95% of
        # the time in the validation study where the Poisson one held it 90%.
        try:
            phi = wdd_dispersion(
                counts,
                plan.areas.target,
                plan.areas.control,
                plan.areas.buffer or None,
                start=start,
                months=months,
            )
            q = wdd_shared_control(*pairs, time_weights=(nb, nf), dispersion=phi)
            res.wdd.extra["quasi_poisson"] = {
                k: getattr(q, k) for k in ("se", "ci_low", "ci_high", "p")
            } | {"dispersion": phi, "method": q.method}
        except (ValidationError, ValueError, ArithmeticError, np.linalg.LinAlgError) as e:
            res.notes.append(f"WDD overdispersion not estimated: {e}")
        res.sms.append(
            sms_statement("wdd", n_target=c["target"]["areas"], n_control=c["control"]["areas"])
        )
        try:
            res.did = did_counts(
                counts,
                plan.areas.target,
                plan.areas.control,
                start=start,
                months=months,
                family=family,
                inference=did_inference(inference, family),
            )
            res.sms.append(
                sms_statement(
                    "did",
                    n_target=c["target"]["areas"],
                    n_control=c["control"]["areas"],
                    checks_failed=res.did.warnings,
                )
            )
        except (ValidationError, ValueError, ArithmeticError) as e:
            res.notes.append(f"difference-in-differences not estimated: {e}")
    else:
        res.notes.append("no control areas: WDQ, WDD and DiD need a comparison")
    series = counts[counts["area_id"].isin(set(plan.areas.target))].groupby("month")["n"].sum()
    series = series.reindex(months, fill_value=0)
    try:
        res.its = its_counts(series, start=start)
        res.sms.append(sms_statement("its", checks_failed=res.its.warnings))
    except (ValidationError, ValueError, ArithmeticError) as e:
        res.notes.append(f"interrupted time series not estimated: {e}")


def survey_file(plan: Any, ind: Any) -> tuple[str, Path] | None:
    """(key, path) of a survey indicator's ``file:`` (or ``path:``), or None if it names none.

    Resolved by :meth:`realimpact.plans.model.Plan.indicator_file`: beside the
    plan file, never from the current folder.
    """
    found = plan.indicator_file(ind)
    return None if found is None else (found[0], found[2])


INFERENCE = ("auto", "wild", "t", "normal")
FAMILIES = ("poisson", "negbin")


def did_inference(inference: str, family: str) -> str:
    """The DiD inference the engine uses: ``auto`` = wild bootstrap for Poisson, else t(G-1).

    Why the bootstrap by default: with the few target areas a real operation
    has, it is the only reading whose 95% intervals held the truth 95% of the
    time in ``benchmarks/validation.py`` (docs/simulate.md); it is Poisson only.
    """
    if inference not in INFERENCE:
        raise ValidationError(f"--inference: {inference!r} is not one of {', '.join(INFERENCE)}")
    if inference == "auto":
        return "wild" if family == "poisson" else "t"
    return inference


def _survey_data(
    plan: Any, ind: Any, surveys: Mapping[str, pd.DataFrame] | None
) -> tuple[pd.DataFrame, str] | None:
    """(answers, where they came from) for a ``survey:<name>`` indicator, or None."""
    name = ind.source_name
    if surveys and name in surveys:
        return surveys[name], f"surveys[{name!r}]"
    found = survey_file(plan, ind)
    if found is None:
        return None
    key, path = found
    idx = next((i for i, x in enumerate(plan.indicators) if x is ind), None)
    field_ = f"indicators[{idx}].{key}" if idx is not None else f"indicators.{ind.id}.{key}"
    given = ind.extra.get(key)
    try:
        return pd.read_csv(path), str(path)
    except FileNotFoundError:
        where = f" (looked for {path}, beside the plan)" if str(path) != str(given) else ""
        raise InputError(f"{field_}: {given}: no such file{where}") from None
    except IsADirectoryError:
        raise InputError(f"{field_}: {path}: is a folder, not a CSV file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise InputError(f"{field_}: {path}: not a readable CSV ({reason})") from None


def evaluate(
    plan: Any,
    store: Any = None,
    out_dir: str | os.PathLike | None = None,
    *,
    harm_weights: Any = None,
    surveys: Mapping[str, pd.DataFrame] | None = None,
    family: str = "poisson",
    audience: str = "analyst",
    write_report: bool = True,
    progress: ProgressFn | None = None,
    inference: str = "auto",
    pdf: bool = False,
) -> EvaluationResult:
    """Evaluate an operation plan against the store; write results.json (+ report) to ``out_dir``.

    Parameters
    ----------
    plan : path to the plan YAML, a mapping in the contract's shape, or a Plan.
    store : an open Store or a path (default store when None).
    out_dir : folder for ``results.json`` and ``report.html`` (created); None writes nothing.
    harm_weights : weight-set name (``cchi`` default, ``count``, a stored set or YAML path),
        a WeightSet, or a mapping crime type -> weight.
    surveys : survey name -> long frame (``respondent, wave, score[, group, question]``) for
        ``survey:<name>`` indicators; else an indicator's ``file:`` CSV is read.
    family : ``poisson`` or ``negbin`` for the DiD.
    inference : DiD p-values and intervals: ``auto`` (default; the wild cluster
        restricted score bootstrap for Poisson, t with G - 1 df for negbin),
        ``wild``, ``t`` or ``normal`` (see :func:`realimpact.evaluation.did.did_counts`).
    audience : ``analyst`` or ``partner`` (partner suppresses counts below 5).
    pdf : also print the report to ``report.pdf`` with headless Chromium
        (:func:`realimpact.report.pdf.html_to_pdf`).
    """
    from realimpact.report.safe import check_audience
    from realimpact.store import Store, open_store

    check_audience(audience)
    if family not in FAMILIES:
        raise ValidationError(f"--family: {family!r} is not one of {', '.join(FAMILIES)}")
    did_inference(inference, family)  # refuse a bad option before any work
    if pdf:
        from realimpact.report.pdf import find_chromium

        if out_dir is None or not write_report:
            raise ValidationError("--pdf: needs --out and the HTML report it prints")
        find_chromium()  # no browser: say so before anything is written
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise InputError("is a file; --out takes a folder", source=str(out_dir))
    p = read_plan(plan)
    _check_plan(p)
    own = not isinstance(store, Store)
    if own:
        from realimpact.store.connection import resolve_path

        path = resolve_path(store)
        if path != ":memory:" and not Path(path).exists():
            # Opening would create an empty store and "evaluate" nothing.
            raise InputError("store does not exist (ingest police.uk data first)", source=path)
    st = open_store(store) if own else store
    try:
        _weights(harm_weights, st)  # an unknown weight set fails now, not after every model
        _check_store_covers(p, st)
        return _evaluate(
            p,
            st,
            out_dir,
            harm_weights,
            surveys,
            family,
            audience,
            write_report,
            progress,
            inference,
            pdf,
        )
    finally:
        if own:
            st.close()


def _evaluate(
    p, st, out_dir, harm_weights, surveys, family, audience, write_report, progress, inference, pdf
):
    from realimpact.periods import month_add

    results: list[IndicatorResult] = []
    warnings: list[str] = []
    layer = p.areas.layer or "lsoa"
    by_type_counts: dict[str, pd.DataFrame] = {}
    windows = []
    for ind in p.indicators:
        if progress:
            progress("evaluating indicators", 1, len(p.indicators))
        fol = p.follow_up_of(ind)
        res = IndicatorResult(ind.id, ind.kind or "outcome", ind.source or "")
        if ind.baseline is None or fol is None:
            res.notes.append("no baseline or follow-up window: nothing to compare")
            results.append(res)
            continue
        base, fw = (ind.baseline.start, ind.baseline.end), (fol.start, fol.end)
        res.baseline, res.follow_up = base, fw
        windows.append((base, fw))
        months = ind.baseline.months + [m for m in fol.months if m > base[1]]
        sk = ind.source_kind
        if sk in ("police_uk", "stop_search"):
            table = ind.table
            # A month the store holds no file for is unknown, not zero.
            from realimpact.store.queries import months_present

            held = set(months_present(st, table))
            absent = [m for m in months if m not in held]
            if absent:
                res.notes.append(
                    f"no {table} data in the store for {len(absent)} month(s) of the windows "
                    f"({absent[0]}..{absent[-1]}): left out, not counted as zero"
                )
                months = [m for m in months if m in held]
            n_before = len([m for m in months if m <= base[1]])
            n_after = len([m for m in months if m >= fw[0]])
            if not n_before or not n_after:
                res.notes.append("no data in the baseline or the follow-up: nothing to compare")
                warnings.append(f"{ind.id}: no data in the baseline or the follow-up")
                results.append(res)
                continue
            crime_types = ind.crime_types or None
            filters = None
            if sk == "stop_search":
                filters = {"object_of_search": ind.crime_types} if ind.crime_types else None
                crime_types = None
            try:
                counts = _area_counts(
                    st, layer, table, crime_types, filters, base[0], fw[1], ("month",)
                )
            except ValidationError as e:
                if sk == "stop_search":
                    res.notes.append(f"searches by area unavailable ({e}); force-wide ledger only")
                    res.ledger = search_outputs(
                        st, objects=ind.crime_types or None, baseline=base, follow_up=fw
                    )
                    results.append(res)
                    continue
                raise
            counts = counts[counts["month"].isin(months)]
            res.counts, res.monthly = _role_summary(counts, p, base, fw, n_before, n_after)
            if res.kind in ("outcome", "indirect"):
                _designs(res, p, counts, family, months, inference)
                if sk == "police_uk" and not by_type_counts:
                    # Every crime type, so the harm balance sees the whole picture
                    # (harm moved into another crime type is not a reduction).
                    tc = _area_counts(
                        st, layer, "crimes", None, None, base[0], fw[1], ("month", "crime_type")
                    )
                    by_type_counts[ind.id] = tc[tc["month"].isin(months)]
            else:
                res.notes.append(
                    f"{res.kind} indicator: a ledger of activity, not a measure "
                    "of impact; no impact design is run on it"
                )
                if sk == "police_uk" and layer == "lsoa":
                    res.ledger = crime_outputs(
                        st,
                        crime_types=ind.crime_types or ["Drugs"],
                        areas=p.areas.target + p.areas.buffer,
                        baseline=base,
                        follow_up=fw,
                    )
                elif sk == "stop_search":
                    res.ledger = search_outputs(
                        st, objects=ind.crime_types or None, baseline=base, follow_up=fw
                    )
        elif sk == "survey":
            got = _survey_data(p, ind, surveys)
            if got is None:
                res.notes.append(
                    f"no data for survey {ind.source_name!r}: pass surveys= or "
                    "give the indicator a file: CSV"
                )
            else:
                df, origin = got
                panel = bool(ind.extra.get("panel", False))
                try:
                    res.survey = survey_results(df, panel=panel)
                except ValidationError as e:
                    raise ValidationError(f"{origin}: {e}") from None
                res.sms.append(sms_statement("survey"))
        else:
            res.notes.append(
                f"source {ind.source!r}: no reader in the evaluation yet; "
                "record it by hand in the report"
            )
        for n in res.notes:
            if "not estimated" in n:
                warnings.append(f"{ind.id}: {n}")
        results.append(res)

    # Outputs ledger from police.uk: what enforcement yielded, always shown apart.
    ledger: dict[str, Any] = {}
    if windows:
        base0 = min(w[0][0] for w in windows)
        op = p.operation
        fw0 = (op.start, op.end) if op else max(w[1] for w in windows)
        base_end = month_add(fw0[0], -1)
        if base0 <= base_end:
            if layer == "lsoa":
                ledger["drugs_crimes"] = crime_outputs(
                    st,
                    crime_types=["Drugs"],
                    areas=p.areas.target + p.areas.buffer,
                    baseline=(base0, base_end),
                    follow_up=fw0,
                )
                ledger["drugs_crimes"]["scope"] = "target and buffer areas"
            ledger["drug_searches"] = search_outputs(
                st, objects=["Controlled drugs"], baseline=(base0, base_end), follow_up=fw0
            )

    net = _net_harm(p, results, by_type_counts, harm_weights, st)
    out = EvaluationResult(p, results, ledger, net, warnings, audience)
    if out_dir is not None:
        _write(out, Path(out_dir), write_report, pdf)
    return out


def _pairs(df: pd.DataFrame, ids: list[str], base: tuple[str, str], fol: tuple[str, str]):
    part = df[df["area_id"].isin(set(ids))]
    b = part[(part["month"] >= base[0]) & (part["month"] <= base[1])]
    a = part[(part["month"] >= fol[0]) & (part["month"] <= fol[1])]
    return b.groupby("crime_type")["n"].sum(), a.groupby("crime_type")["n"].sum()


def _net_harm(
    p: Any,
    results: list[IndicatorResult],
    by_type: dict[str, pd.DataFrame],
    harm_weights: Any,
    st: Any,
) -> dict[str, Any]:
    weights, wname, unit = _weights(harm_weights, st)
    counts: dict[str, dict[str, tuple[float, float]]] = {}
    first = next((r for r in results if r.id in by_type), None)
    note = None
    if first is not None and p.areas.control:
        df = by_type[first.id]
        pairs = {r: _pairs(df, getattr(p.areas, r), first.baseline, first.follow_up) for r in ROLES}
        types = sorted(set().union(*[set(b.index) | set(a.index) for b, a in pairs.values()]))
        unweighted = [t for t in types if t not in weights]
        for t in types:
            if t in unweighted:
                continue
            counts[t] = {
                r: (float(pairs[r][0].get(t, 0)), float(pairs[r][1].get(t, 0))) for r in ROLES
            }
        if unweighted:
            note = f"crime types without a harm weight left out: {', '.join(unweighted)}"
    else:
        note = "no police.uk outcome indicator with control areas: crime harm not estimated"
    op_harms = []
    by_id = {r.id: r for r in results}
    for uc in p.unintended_consequences:
        h: dict[str, Any] = {"id": uc.id, "monitor": uc.monitor, "mitigation": uc.mitigation}
        r = by_id.get(uc.monitor) if uc.monitor else None
        if r is None or not r.counts.get("target"):
            h["status"] = "not measured"
            h["summary"] = f"{uc.id}: not measured"
        else:
            t = r.counts["target"]
            bpm = t["before"] / max(t["months_before"], 1)
            apm = t["after"] / max(t["months_after"], 1)
            h.update(
                status="measured",
                before_per_month=bpm,
                after_per_month=apm,
                change_pct=(100 * (apm - bpm) / bpm) if bpm else None,
            )
            c = r.counts
            if c.get("control"):
                tne = tne_estimate(
                    (t["before"], t["after"]),
                    (c["buffer"]["before"], c["buffer"]["after"]) if c.get("buffer") else (0, 0),
                    (c["control"]["before"], c["control"]["after"]),
                )
                h["crimes_prevented"] = tne.to_dict()
            h["summary"] = (
                f"{uc.id} ({uc.monitor}): {bpm:.1f} a month before, {apm:.1f} after in the target"
            )
        op_harms.append(h)
    if counts:
        out = harm_balance(
            counts, weights, weights_name=wname, weights_unit=unit, operation_harms=op_harms
        )
        out["windows"] = {
            "baseline": _win(first.baseline),
            "follow_up": _win(first.follow_up),
            "from_indicator": first.id,
            "crime_types": "all recorded",
        }
    else:
        out = {
            "crime_harm": None,
            "operation_harms": op_harms,
            "statement": "Crime harm could not be estimated.",
        }
    if note:
        out["note"] = note
    return out


def _write(res: EvaluationResult, out_dir: Path, write_report: bool, pdf: bool = False) -> None:
    from realimpact._json import dumps
    from realimpact.report import render_report

    out_dir.mkdir(parents=True, exist_ok=True)
    res.out_dir = out_dir
    res.files["results"] = str(out_dir / "results.json")
    if write_report:
        res.files["report"] = str(out_dir / "report.html")
    if pdf:
        res.files["pdf"] = str(out_dir / "report.pdf")
    data = res.to_dict()
    tmp = out_dir / "results.json.tmp"
    tmp.write_text(dumps(data) + "\n", "utf-8")
    tmp.replace(out_dir / "results.json")
    if write_report:
        html = render_report(data, out_dir / "report.html", audience=res.audience)
        if pdf:
            from realimpact.report.pdf import html_to_pdf

            html_to_pdf(html, out_dir / "report.pdf")
