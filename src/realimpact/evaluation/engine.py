"""``evaluate(plan, store, out_dir)``: judge an operation the way its plan said it would be.

The plan names the areas (target, buffer, control), the indicators with their
baseline and follow-up windows, and the consequences to monitor. This module
reads the counts those need from the store, runs every design that the data
allow (WDQ, WDD, DiD, ITS, surveys), attaches each design's assumption checks
and its Maryland scale statement, keeps outputs apart from outcomes, and
builds the net harm balance. Each outcome indicator then gets one
**verdict** from its primary design alone (:mod:`realimpact.evaluation.verdict`):
claims follow 95% intervals, and every other design is a sensitivity check.
The result is the ``results.json`` contract (docs/architecture.md,
"Evaluation output") plus Python objects for notebook users. Nothing is
rendered or written here: :func:`realimpact.report.write_evaluation` does that.

Outputs (``kind: output``) and process indicators get a ledger (counts, NFA
shares, find rates) and never an impact design: a rise in recorded drugs
crimes during a crackdown is activity, not harm reduction (N8 Policing
Research Partnership (2024) *Conceptualising and Evaluating the Impact of
Policing Drug Markets*, Findings).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realimpact._progress import ProgressFn
from realimpact.errors import InputError, ValidationError
from realimpact.evaluation.did import FAMILIES, DiDResult, did_counts, did_inference
from realimpact.evaluation.displacement import (
    WDQResult,
    wdd_dispersion,
    wdd_shared_control,
    wdq,
)
from realimpact.evaluation.indicators import crime_outputs, search_outputs
from realimpact.evaluation.its import ITSResult, its_counts
from realimpact.evaluation.maryland import sms_statement
from realimpact.evaluation.net_harm import harm_balance
from realimpact.evaluation.results import Estimate
from realimpact.evaluation.surveys import read_survey_csv, survey_results
from realimpact.evaluation.verdict import Z95, verdict

__all__ = [
    "EvaluationResult",
    "IndicatorResult",
    "evaluate",
    "survey_file",
]

ROLES = ("target", "buffer", "control")


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
    id, kind, source, label : from the plan (``label`` defaults to the id in words).
    counts : dict role -> {"areas", "before", "after", "months_before", "months_after",
        "per_month_before", "per_month_after"}
    monthly : DataFrame ``month, role, n`` (totals per role and month)
    months : the months held inside the windows (``months_held`` in JSON); a
        month of the windows not listed had no data and is a gap, not a zero
    wdq : WDQResult | None  -- on per-month means (outcome/indirect only); descriptive
    wdd : Estimate | None   -- crimes per month, target + buffer vs control, with the
        overdispersion-aware (quasi-Poisson) interval; ``extra["poisson"]`` is the
        published Poisson reading
    did : DiDResult | None
    its : ITSResult | None
    survey : list | None
    ledger : dict | None    -- outputs/process: what was done, never impact
    sms : list[dict]        -- Maryland scale statement per design run
    verdict : dict | None   -- the one reading of this indicator
        (:func:`realimpact.evaluation.verdict.verdict`)
    notes : list[str]
    """

    id: str
    kind: str
    source: str
    label: str = ""
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    monthly: pd.DataFrame | None = None
    wdq: WDQResult | None = None
    wdd: Estimate | None = None
    did: DiDResult | None = None
    its: ITSResult | None = None
    survey: list[dict[str, Any]] | None = None
    ledger: dict[str, Any] | None = None
    sms: list[dict[str, Any]] = field(default_factory=list)
    verdict: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    baseline: tuple[str, str] | None = None
    follow_up: tuple[str, str] | None = None
    months: list[str] = field(default_factory=list)
    # as the plan lists them (objects of search for stop and search; empty: all):
    # the disclosure audit links an indicator to those whose types make it up
    crime_types: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "label": self.label or self.id,
            "kind": self.kind,
            "source": self.source,
            "crime_types": list(self.crime_types),
            "baseline": _win(self.baseline),
            "follow_up": _win(self.follow_up),
        }
        for role in ROLES:
            d[role] = self.counts.get(role)
        d["wdq"] = self.wdq.to_dict() if self.wdq else None
        d["wdd"] = self.wdd.to_dict() if self.wdd else None
        if d["wdd"]:  # which interval is shown, and the published one beside it
            d["wdd"]["interval"] = d["wdd"]["extra"].get("interval", "poisson")
            d["wdd"]["poisson"] = d["wdd"]["extra"].get("poisson")
        d["did"] = self.did.to_dict() if self.did else None
        d["its"] = self.its.to_dict() if self.its else None
        d["survey"] = self.survey
        d["ledger"] = self.ledger
        d["sms"] = self.sms
        d["verdict"] = self.verdict
        d["monthly"] = self.monthly.to_dict(orient="records") if self.monthly is not None else None
        d["months_held"] = list(self.months)
        d["notes"] = list(self.notes)
        return d


def _win(w: tuple[str, str] | None) -> dict[str, str] | None:
    return {"from": w[0], "to": w[1]} if w else None


@dataclass
class EvaluationResult:
    """What :func:`evaluate` returns; ``to_dict()`` is ``results.json`` (analyst view).

    Attributes
    ----------
    plan : the parsed plan.
    indicators : list[IndicatorResult]
    outputs_ledger : police.uk outputs (drugs crimes NFA share, searches, find rate).
    net_harm : the harm balance (see :mod:`realimpact.evaluation.net_harm`).
    warnings : every check that needs a reader's attention, each once.
    context : areas with names, map data, validation, flags, next steps, force.
    files : what :func:`realimpact.report.write_evaluation` wrote, once it has.
    """

    plan: Any
    indicators: list[IndicatorResult]
    outputs_ledger: dict[str, Any]
    net_harm: dict[str, Any]
    warnings: list[str]
    context: dict[str, Any] = field(default_factory=dict)
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
        return {
            "plan_id": self.plan.id,
            "title": self.plan.title,
            "plan": self.plan.to_dict(),
            "audience": "analyst",
            "realimpact_version": __version__,
            "generated_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            **self.context,
            "sections": {
                k: [r.id for r in self.indicators if r.kind == k]
                for k in ("output", "outcome", "process", "indirect")
            },
            "indicators": inds,
            "outputs_ledger": self.outputs_ledger,
            "net_harm": self.net_harm,
            "warnings": list(dict.fromkeys(self.warnings)),
            "files": dict(self.files),
        }


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
    force: str | None = None,
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
        force=force,
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
            {
                "areas": len(ids),
                "before": b,
                "after": a,
                "months_before": nb,
                "months_after": nf,
                # windows of different length compare only as monthly rates
                "per_month_before": b / nb if nb else None,
                "per_month_after": a / nf if nf else None,
            }
            if ids
            else None
        )
        if ids:
            by_m = part.groupby("month")["n"].sum()
            for m, v in by_m.items():
                rows.append({"month": m, "role": role, "n": int(v)})
    return summ, pd.DataFrame(rows, columns=["month", "role", "n"])


def judge_counts(
    res: IndicatorResult,
    plan: Any,
    counts: pd.DataFrame,
    months: list[str],
    *,
    family: str = "poisson",
    inference: str = "auto",
    design: str | None = None,
) -> IndicatorResult:
    """Role totals, every design and the verdict of one indicator, from area-month counts.

    ``res`` carries the indicator's id, kind and windows; ``counts`` are
    ``area_id, month, n`` over ``months`` (the months held: a missing month is
    absent, never zero). The store-free core of :func:`evaluate`, used as it
    is by the validation study and the consistency tests on simulated cities.
    """
    base, fw = res.baseline, res.follow_up
    res.months = list(months)
    n_before = len([m for m in months if m <= base[1]])
    n_after = len([m for m in months if m >= fw[0]])
    res.counts, res.monthly = _role_summary(counts, plan, base, fw, n_before, n_after)
    if res.kind in ("outcome", "indirect"):
        _designs(res, plan, counts, family, months, inference)
        res.verdict = verdict(res.to_dict(), design, n_before)
    return res


def _designs(
    res: IndicatorResult,
    plan: Any,
    counts: pd.DataFrame,
    family: str,
    months: list[str],
    inference: str = "auto",
) -> None:
    """WDQ, WDD, DiD and ITS for an outcome/indirect count indicator.

    ``months`` are the months the store holds inside the windows: a month a
    force did not publish is absent from every design, never a zero.
    """
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
        poisson = wdd_shared_control(*pairs, time_weights=(nb, nf))
        # The interval shown is the overdispersion-aware one: real area-month
        # counts vary more than Poisson, and in the validation study the
        # quasi-Poisson interval held the truth about 95% of the time where the
        # published Poisson one held it about 90%. The published reading is
        # kept beside it for comparison with other tools.
        try:
            phi = wdd_dispersion(
                counts,
                plan.areas.target,
                plan.areas.control,
                plan.areas.buffer or None,
                start=start,
                months=months,
            )
        except (ValidationError, ValueError, ArithmeticError, np.linalg.LinAlgError) as e:
            phi = None
            res.notes.append(
                f"WDD overdispersion not estimated ({e}): its interval is the Poisson one,"
                " which is too narrow on overdispersed counts"
            )
        q = wdd_shared_control(*pairs, time_weights=(nb, nf), dispersion=phi or 1.0)
        q.extra["poisson"] = {k: getattr(poisson, k) for k in ("se", "ci_low", "ci_high", "p")}
        q.extra["interval"] = "quasi_poisson" if phi is not None else "poisson"
        res.wdd = q
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
    # Only the months held: the ITS reads a gap as a gap.
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
        return read_survey_csv(path), str(path)
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
    *,
    harm_weights: Any = None,
    surveys: Mapping[str, pd.DataFrame] | None = None,
    family: str = "poisson",
    progress: ProgressFn | None = None,
    inference: str = "auto",
    force: str | None = None,
    ignore_validation: bool = False,
    next_steps: bool = True,
) -> EvaluationResult:
    """Evaluate an operation plan against the store; nothing is written.

    Parameters
    ----------
    plan : path to the plan YAML, a mapping in the contract's shape, or a Plan.
    store : an open Store or a path (default store when None).
    harm_weights : weight-set name (``cchi`` default, ``count``, a stored set or YAML path),
        a WeightSet, or a mapping crime type -> weight.
    surveys : survey name -> long frame (``respondent, wave, score[, group, question]``) for
        ``survey:<name>`` indicators; else an indicator's ``file:`` CSV is read.
    family : ``poisson`` or ``negbin`` for the DiD.
    inference : DiD p-values and intervals: ``auto`` (default; the wild cluster
        restricted score bootstrap for Poisson, t with G - 1 df for negbin),
        ``wild``, ``t`` or ``normal`` (see :func:`realimpact.evaluation.did.did_counts`).
    force : count only this force's records and months (name or slug, as
        ``realimpact status`` lists them); default every force in the store.
    ignore_validation : evaluate a plan that ``plan validate`` rejects; the
        problems are carried in ``results["validation"]`` for the report's banner.
    next_steps : size a longer follow-up (by simulation, :func:`realimpact.plans.power.plan_power`)
        for outcomes with no clear change, for the report's "what to do next"
        (a few seconds; off for batch runs).

    Write the results with :func:`realimpact.report.write_evaluation`.
    """
    from realimpact.store import Store, open_store

    if family not in FAMILIES:
        raise ValidationError(f"--family: {family!r} is not one of {', '.join(FAMILIES)}")
    did_inference(inference, family)  # refuse a bad option before any work
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
        force_name = _resolve_force(st, force)
        pooled: list[str] = []
        if force_name is None:
            # The plan's force is the one that recorded its areas: another force's
            # months in the same store are not zeros for them.
            from realimpact.store.areas import area_forces

            found = area_forces(st, p.areas.layer or "lsoa", p.areas.all_ids())
            if len(found) == 1:
                force_name = found[0]
            else:
                pooled = found
        # a store without the plan's areas or months: the one line that says so, first
        _check_store_covers(p, st)
        validation = _validation(p, st, ignore_validation)
        res = _evaluate(
            p, st, harm_weights, surveys, family, progress, inference, force_name, pooled
        )
        res.context = _context(p, st, res, validation, force_name, next_steps) | res.context
        return res
    finally:
        if own:
            st.close()


def _resolve_force(st: Any, force: str | None) -> str | None:
    if force is None:
        return None
    from realimpact.store.forces import resolve_force

    return resolve_force(st, force)


def _validation(p: Any, st: Any, ignore: bool) -> dict[str, Any]:
    """``plan validate`` against this store; its errors stop the evaluation unless ignored.

    A plan that fails validation (a mistyped area code, an unknown crime type)
    would otherwise be judged with a bogus area counted as a target.
    """
    from realimpact.plans.validate import validate_plan

    v = validate_plan(p, st)
    problems = [i.to_dict() | {"path": i.field} for i in v.errors]
    if problems and not ignore:
        src = p.path or p.id or "plan"
        first = "; ".join(f"{i['path']}: {i['message']}" for i in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ValidationError(
            f"{src}: the plan fails validation ({len(problems)} error"
            f"{'s' if len(problems) != 1 else ''}): {first}{more}; fix the plan"
            " (realimpact plan validate) or pass --ignore-validation"
        )
    return {"valid": not problems, "ignored": bool(problems), "problems": problems}


def _held_months(st: Any, table: str, force: str | None, pooled: list[str]) -> set[str]:
    """Months the store holds for ``table``: of ``force``, or those every pooled force published."""
    from realimpact.store.queries import months_present

    if force or not pooled:
        return set(months_present(st, table, force=force))
    # areas of several forces: only months every one of them published are whole
    return set.intersection(*(set(months_present(st, table, force=f)) for f in pooled))


def _evaluate(p, st, harm_weights, surveys, family, progress, inference, force=None, pooled=()):
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
        res = IndicatorResult(
            ind.id,
            ind.kind or "outcome",
            ind.source or "",
            label=ind.display_label,
            crime_types=[str(t) for t in ind.crime_types or []],
        )
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
            held = _held_months(st, table, force, list(pooled))
            absent = [m for m in months if m not in held]
            if absent:
                res.notes.append(
                    f"no {table} data in the store for {len(absent)} month(s) of the windows "
                    f"({', '.join(_month_runs(absent))}): left out of every design, not counted"
                    " as zero"
                )
                months = [m for m in months if m in held]
            n_before = len([m for m in months if m <= base[1]])
            n_after = len([m for m in months if m >= fw[0]])
            if not n_before or not n_after:
                res.notes.append("no data in the baseline or the follow-up: nothing to compare")
                warnings.append(f"{res.label}: no data in the baseline or the follow-up")
                results.append(res)
                continue
            crime_types = ind.crime_types or None
            filters = None
            if sk == "stop_search":
                filters = {"object_of_search": ind.crime_types} if ind.crime_types else None
                crime_types = None
            try:
                counts = _area_counts(
                    st, layer, table, crime_types, filters, base[0], fw[1], ("month",), force
                )
            except ValidationError as e:
                if sk == "stop_search":
                    res.notes.append(f"searches by area unavailable ({e}); force-wide ledger only")
                    res.ledger = search_outputs(
                        st,
                        objects=ind.crime_types or None,
                        baseline=base,
                        follow_up=fw,
                        force=force,
                    )
                    results.append(res)
                    continue
                raise
            counts = counts[counts["month"].isin(months)]
            judge_counts(res, p, counts, months, family=family, inference=inference,
                         design=ind.design or p.design)  # fmt: skip
            if res.kind in ("outcome", "indirect"):
                if sk == "police_uk" and not by_type_counts:
                    # Every crime type, so the harm balance sees the whole picture
                    # (harm moved into another crime type is not a reduction).
                    tc = _area_counts(
                        st, layer, "crimes", None, None, base[0], fw[1], ("month", "crime_type"),
                        force,
                    )  # fmt: skip
                    by_type_counts[ind.id] = tc[tc["month"].isin(months)]
            else:
                res.notes.append(
                    f"{res.kind} indicator: a ledger of activity, not a measure "
                    "of impact; no impact design is run on it"
                )
                if sk == "police_uk" and layer == "lsoa":
                    res.ledger = _rates(
                        crime_outputs(
                            st,
                            crime_types=ind.crime_types or ["Drugs"],
                            areas=p.areas.target + p.areas.buffer,
                            baseline=base,
                            follow_up=fw,
                            force=force,
                        ),
                        n_before,
                        n_after,
                    )
                elif sk == "stop_search":
                    res.ledger = search_outputs(
                        st,
                        objects=ind.crime_types or None,
                        baseline=base,
                        follow_up=fw,
                        force=force,
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
                warnings.append(f"{res.label}: {n}")
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
                held = _held_months(st, "crimes", force, list(pooled))
                nb, nf = _n_held(held, base0, base_end), _n_held(held, *fw0)
                ledger["drugs_crimes"] = _rates(
                    crime_outputs(
                        st,
                        crime_types=["Drugs"],
                        areas=p.areas.target + p.areas.buffer,
                        baseline=(base0, base_end),
                        follow_up=fw0,
                        force=force,
                    ),
                    nb,
                    nf,
                )
                ledger["drugs_crimes"]["scope"] = "target and buffer areas"
            ledger["drug_searches"] = _rates(
                search_outputs(
                    st,
                    objects=["Controlled drugs"],
                    baseline=(base0, base_end),
                    follow_up=fw0,
                    force=force,
                )
            )

    net = _net_harm(p, results, by_type_counts, harm_weights, st)
    return EvaluationResult(p, results, ledger, net, warnings)


def _n_held(held: set[str], lo: str, hi: str) -> int:
    return sum(1 for m in held if lo <= m <= hi)


def _month_runs(months: list[str]) -> list[str]:
    """["2019-03", "2019-04", "2019-06"] -> ["2019-03..2019-04", "2019-06"]."""
    from realimpact.store.forces import month_runs

    return [r[0] if len(r) == 1 else f"{r[0]}..{r[-1]}" for r in month_runs(months)]


def _rates(block: dict[str, Any], nb: int | None = None, nf: int | None = None) -> dict:
    """Add ``per_month`` to a ledger's before/after: totals over windows of different
    length are not comparable, monthly rates are."""
    for key, n in (("before", nb), ("after", nf)):
        part = block.get(key)
        if not isinstance(part, dict):
            continue
        months = part.get("months", n)
        if months is None:
            continue
        part["months"] = int(months)
        key = "crimes" if "crimes" in part else "searches"
        if not months:  # no data is not zero activity
            part[key] = None
            part["per_month"] = None
            part["no_data"] = True
            continue
        total = part.get(key)
        part["per_month"] = (total / months) if total is not None else None
    return block


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
    op_harms = [_consequence(uc, {r.id: r for r in results}) for uc in p.unintended_consequences]
    if counts:
        phis = _type_dispersion(p, by_type[first.id], list(counts), first)
        out = harm_balance(
            counts, weights, weights_name=wname, weights_unit=unit, operation_harms=op_harms,
            dispersion=phis,
        )  # fmt: skip
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


def _type_dispersion(
    p: Any, df: pd.DataFrame, types: list[str], first: IndicatorResult
) -> dict[str, float]:
    """Overdispersion of each crime type's area-month counts, for the net harm interval.

    A type too sparse to fit takes the largest factor the other types gave:
    a wider interval is the honest default when the noise cannot be measured.
    """
    months = sorted(df["month"].astype(str).unique())
    phis: dict[str, float] = {}
    for t in types:
        part = df[df["crime_type"] == t]
        try:
            phis[t] = wdd_dispersion(
                part, p.areas.target, p.areas.control, p.areas.buffer or None,
                start=first.follow_up[0], months=months,
            )  # fmt: skip
        except (ValidationError, ValueError, ArithmeticError, np.linalg.LinAlgError):
            continue
    fallback = max(phis.values(), default=1.0)
    return {t: phis.get(t, fallback) for t in types}


# Consequences that show where the market moves to, not where it was.
BUFFER_CONSEQUENCES = ("enf-geographical-displacement", "enf-displacement-to-sensitive-places")


def consequence_area(uc: Any) -> str:
    """Where a consequence is measured: the plan's ``area``, else by its kind.

    Displacement can only show where the market went (the buffer); other
    harms of enforcement (violence, crime-type displacement) can happen in the
    target as well as next door.
    """
    if uc.area:
        return uc.area
    return "buffer" if uc.id in BUFFER_CONSEQUENCES else "target+buffer"


def _consequence(uc: Any, by_id: dict[str, IndicatorResult]) -> dict[str, Any]:
    """One monitored consequence, measured in the area where it would happen."""
    from realimpact.plans.catalogues import catalogue_label

    area = consequence_area(uc)
    label = catalogue_label(uc.id)
    h: dict[str, Any] = {
        "id": uc.id,
        "label": label,
        "monitor": uc.monitor,
        "mitigation": uc.mitigation,
        "area": area,
    }
    r = by_id.get(uc.monitor) if uc.monitor else None
    if r is None:
        h["status"] = "not monitored"
        h["monitor_label"] = None
        h["summary"] = f"{label}: no indicator in the plan monitors it"
        return h
    h["monitor_label"] = r.label
    roles = ["target", "buffer"] if area == "target+buffer" else [area]
    c = r.counts
    if not c or any(not c.get(role) for role in roles):
        if c and "buffer" in roles and not c.get("buffer"):
            why = "the plan has no buffer areas"
        elif r.source == "stop_search" and r.ledger is not None:
            why = (
                "stop and search records carry no area code and no boundaries are loaded to"
                " place them, so only force-wide totals exist, in the outputs ledger"
            )
        else:
            why = "; ".join(r.notes) or "no data for it in the store"
        h["status"] = "no data"
        h["summary"] = f"{label}: not measured in the {_where(area)} ({why})"
        return h
    b = sum(c[role]["before"] for role in roles)
    a = sum(c[role]["after"] for role in roles)
    nb, nf = c[roles[0]]["months_before"], c[roles[0]]["months_after"]
    bpm, apm = b / nb, a / nf
    h.update(
        status="measured",
        before_per_month=bpm,
        after_per_month=apm,
        change_pct=(100 * (apm - bpm) / bpm) if bpm else None,
    )
    rel = _relative_change(r, area)
    if rel is not None:
        h["relative_to_control"] = rel
    words = f"{bpm:.1f} a month before, {apm:.1f} after in the {_where(area)}"
    if rel is not None:
        words += f"; {rel['words']}"
    h["summary"] = f"{label} ({r.label}): {words}"
    return h


def _where(area: str) -> str:
    return {"target+buffer": "target and buffer"}.get(area, area)


def _relative_change(r: IndicatorResult, area: str) -> dict[str, Any] | None:
    """The area's change beyond the control's, with the WDD's overdispersion-aware interval."""
    if r.wdd is None:
        return None
    ex = r.wdd.extra
    q = Z95
    if area == "buffer":
        est, se = ex.get("displacement_estimate"), ex.get("displacement_se")
    elif area == "target":
        est, se = ex.get("local_estimate"), ex.get("local_se")
    else:
        est, se = r.wdd.estimate, r.wdd.se
    if est is None or se is None or not (np.isfinite(est) and np.isfinite(se)):
        return None
    lo, hi = est - q * se, est + q * se
    change = "rose" if lo > 0 else "fell" if hi < 0 else "no_clear_change"
    text = {"rose": "rose", "fell": "fell", "no_clear_change": "no clear change"}[change]
    return {
        "estimate": est,
        "ci_low": lo,
        "ci_high": hi,
        "scale": "crimes_per_month",
        "change": change,
        "words": f"relative to the control, {text} ({est:+.1f} crimes a month, 95% interval"
        f" {lo:+.1f} to {hi:+.1f})",
    }


# -- what a reader needs around the numbers --------------------------------------
SHORT_BASELINE = 6
SHORT_FOLLOW_UP = 3


def _context(
    p: Any,
    st: Any,
    res: EvaluationResult,
    validation: dict[str, Any],
    force: str | None,
    next_steps: bool = True,
) -> dict[str, Any]:
    """Areas with names, the area map's data, flags for the top of the report, next steps."""
    from realimpact.store.areas import area_names

    layer = p.areas.layer or "lsoa"
    ids = p.areas.all_ids()
    names = area_names(st, layer, ids)
    areas = {"layer": layer} | {
        role: [{"id": a, "name": names.get(a)} for a in getattr(p.areas, role)] for role in ROLES
    }
    return {
        "force": force,
        "validation": validation,
        "areas": areas,
        "map": _map_data(p, st, res, names, force),
        "flags": _flags(res, validation),
        "next_steps": _next_steps(p, st, res) if next_steps else [],
    }


def _map_data(
    p: Any, st: Any, res: EvaluationResult, names: dict[str, Any], force: str | None
) -> dict[str, Any]:
    """Polygons of the plan's areas when the layer has them, else their records' points."""
    from realimpact.plans.storedata import area_geometries
    from realimpact.store.areas import area_points

    layer = p.areas.layer or "lsoa"
    role = p.areas.role_of()
    geoms = area_geometries(st, layer, p.areas.all_ids())
    if geoms:
        return {
            "kind": "polygons",
            "areas": [
                {"area_id": a, "role": role.get(a, "other"), "name": names.get(a), "wkt": g.wkt}
                for a, g in geoms.items()
            ],
            "points": [],
            "reason": None
            if len(geoms) == len(role)
            else f"{len(role) - len(geoms)} of the plan's areas have no boundary in layer {layer!r}",
        }
    wins = [r for r in res.indicators if r.baseline and r.follow_up]
    if layer != "lsoa" or not wins:
        return {
            "kind": None,
            "areas": [],
            "points": [],
            "reason": f"layer {layer!r} has no boundaries for the plan's areas in this store",
        }
    lo = min(r.baseline[0] for r in wins)
    hi = max(r.follow_up[1] for r in wins)
    pts = area_points(st, layer, p.areas.all_ids(), month_from=lo, month_to=hi, force=force)
    if pts.empty:
        return {
            "kind": None,
            "areas": [],
            "points": [],
            "reason": "no LSOA boundaries are loaded and no record of the plan's areas has"
            " coordinates",
        }
    return {
        "kind": "points",
        "areas": [],
        "points": [
            {"role": role.get(a, "other"), "area_id": a, "e": float(e), "n": float(n)}
            for a, e, n in zip(pts["area_id"], pts["easting"], pts["northing"], strict=True)
        ],
        "reason": "no LSOA boundaries are loaded: each area is drawn as the police.uk map"
        " points of its records (load boundaries with realimpact ingest boundaries for"
        " outlines)",
    }


def _flags(res: EvaluationResult, validation: dict[str, Any]) -> list[str]:
    """What a reader must know before any number: short windows, gaps, a failed validation."""
    flags: list[str] = []
    gaps: dict[str, list[str]] = {}
    if validation.get("ignored"):
        flags.append(
            f"The plan fails validation ({len(validation['problems'])} problem(s)) and was"
            " evaluated anyway: read every result with that in mind."
        )
    for r in res.indicators:
        t = r.counts.get("target") if r.counts else None
        if not t or r.kind not in ("outcome", "indirect"):
            continue
        nb, nf = t["months_before"], t["months_after"]
        if nb < SHORT_BASELINE:
            flags.append(
                f"{r.label}: the baseline holds only {nb} month(s) of data; at least"
                f" {SHORT_BASELINE} are needed to tell a change from the usual ups and downs."
            )
        if nf < SHORT_FOLLOW_UP:
            flags.append(
                f"{r.label}: the follow-up holds only {nf} month(s) of data; markets often"
                " refill within weeks, so a short follow-up cannot show whether any effect lasted."
            )
        gap = next((n for n in r.notes if "left out of every design" in n), None)
        if gap:
            gaps.setdefault(gap, []).append(r.label)
    # the same months missing for several indicators: said once, naming them all
    flags += [f"{'; '.join(labels)}: {gap}." for gap, labels in gaps.items()]
    return list(dict.fromkeys(flags))


NEXT_STEP_POWER = 0.8
NEXT_STEP_SIMS = 60
NEXT_STEP_INDICATORS = 1
# how the next steps name the other outcomes without a clear change (evaluation.sharing
# takes withheld ones out of it)
ALSO_UNCLEAR = "Also with no clear change: "
LONG_FOLLOW_UP = 12


def _next_steps(p: Any, st: Any, res: EvaluationResult) -> list[str]:
    """Specific next steps for outcomes that showed no clear change: how long a follow-up
    the design needs, sized by :func:`realimpact.plans.power.plan_power` on the baseline."""
    import copy

    from realimpact.periods import month_add
    from realimpact.plans.model import Window
    from realimpact.plans.power import plan_power

    steps: list[str] = []
    unclear = [
        r
        for r in res.indicators
        if r.verdict
        and r.verdict["change"] in ("no_clear_change", "not_estimable")
        and r.counts
        and r.source == "police_uk"
        and r.follow_up
    ]
    # Sizing is by simulation (seconds each): the first such outcome, the one the
    # plan lists first, speaks for the design; the others share its areas.
    for r in unclear[:NEXT_STEP_INDICATORS]:
        nf = r.counts["target"]["months_after"]
        try:
            now = plan_power(p, st, indicator=r.id, n_sims=NEXT_STEP_SIMS, power=NEXT_STEP_POWER)
            longer = None
            if nf < LONG_FOLLOW_UP:
                q = copy.deepcopy(p)
                ind = q.indicator(r.id)
                ind.follow_up = Window(
                    r.follow_up[0], month_add(r.follow_up[0], LONG_FOLLOW_UP - 1)
                )
                longer = plan_power(
                    q, st, indicator=r.id, n_sims=NEXT_STEP_SIMS, power=NEXT_STEP_POWER
                )
        except (ValidationError, ValueError, ArithmeticError, np.linalg.LinAlgError):
            continue
        pct = int(100 * NEXT_STEP_POWER)
        head = (
            f"{r.label}: with {nf} follow-up month(s) this design could detect only a fall of"
            f" {now.mde:.0%} or more ({pct}% power)"
            if now.mde is not None
            else f"{r.label}: with {nf} follow-up month(s) no fall this design could detect"
            f" was found ({pct}% power)"
        )
        if longer is not None and longer.mde is not None:
            head += (
                f"; a follow-up of {LONG_FOLLOW_UP - nf} more month(s) ({LONG_FOLLOW_UP} in all)"
                f" would detect a fall of {longer.mde:.0%}"
            )
        elif longer is not None:
            head += f"; even {LONG_FOLLOW_UP} months of follow-up would not be enough: add areas"
        steps.append(head + ".")
    if len(unclear) > NEXT_STEP_INDICATORS:
        rest = ", ".join(r.label for r in unclear[NEXT_STEP_INDICATORS:])
        steps.append(
            f"{ALSO_UNCLEAR}{rest}; the analyst can size a follow-up for each"
            " with the plan's power calculation."
        )
    return steps
