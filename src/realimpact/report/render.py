"""The Results Analysis report: one self-contained HTML file from a results dict.

Written for a chief inspector and a partner, not a statistician: what was
planned, what was done (outputs, kept apart and never called impact), what
changed (outcomes against a comparison group), where (displacement), for whom
(residents' views, the harms the operation itself caused), with what
confidence (design strength, assumption checks), and what to do next. The
statistics arrive computed in ``results`` (the ``results.json`` contract in
DESIGN.md); this module only words and draws them.

Accepted ``results`` keys beyond the contract (all optional):

``title``, ``generated_at``, ``plan`` (the plan YAML as a dict), ``design``
({``msms_level``, ``statement``}), per indicator ``label``, ``crime_types``,
``wdd`` ({estimate, se, z, ci_low, ci_high}), ``its`` ({level: {...}}),
``series`` ({months, target, buffer, control}: monthly counts),
``truth`` ({rate_ratio}); top level ``outputs`` ([{label, value, note}]),
``surveys`` ([{label, group, role, item, design, before, after, diff, ci_low,
ci_high, p, n}]), ``net_harm`` (the engine's ``crime_harm`` and ``operation_harms``, or
``components`` [{label, value}] with value = harm prevented, positive = less harm)
plus ``enforcement`` [{label, value, ...}]), ``map`` ({areas: [{area_id,
role, wkt}], points: [[e, n], ...]}), ``notes`` ([str]), ``truth`` (a
simulation's truth.json: analyst reports then show estimate beside truth).
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from realimpact.errors import ValidationError
from realimpact.report import charts
from realimpact.report.safe import (
    DEFAULT_THRESHOLD,
    Suppressed,
    check_audience,
    partner_results,
)

KIND_ORDER = ("outcome", "process", "indirect", "output")
KIND_TEXT = {
    "outcome": "Outcomes: the harms the operation set out to reduce",
    "process": "Process: was the operation delivered as planned",
    "indirect": "Indirect indicators",
    "output": "Outputs: police activity, not impact",
}


def render_report(
    results: dict[str, Any],
    out_dir: str | Path,
    audience: str = "analyst",
    *,
    threshold: int = DEFAULT_THRESHOLD,
    filename: str = "report.html",
    extras: dict[str, Any] | None = None,
) -> Path:
    """Write ``out_dir/filename`` and return its path.

    ``audience="partner"`` first passes the results through
    :func:`realimpact.report.safe.partner_results` (no points, no ids, counts
    below ``threshold`` suppressed), so nothing unsafe reaches the page.
    """
    check_audience(audience)
    if not isinstance(results, dict) or "indicators" not in results:
        raise ValidationError("results: not a results dict (no 'indicators'; see DESIGN.md)")
    data = {**results, **(extras or {})}
    if audience == "partner":
        data = partner_results(data, threshold)
    view = build_view(data, audience, threshold)
    out = Path(out_dir)
    if out.suffix.lower() in (".html", ".htm"):  # given the file itself
        out, filename = out.parent, out.name
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    path.write_text(_env().get_template("report.html.j2").render(**view), encoding="utf-8")
    return path


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("realimpact.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_num
    env.filters["pct"] = fmt_pct
    env.filters["p"] = fmt_p
    env.filters["share"] = fmt_share
    return env


# --- formatting -----------------------------------------------------------------


def _f(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def fmt_num(x: Any, digits: int = 0) -> str:
    """Counts with thousands separators; '<5' stays '<5'; missing is an en dash."""
    if isinstance(x, Suppressed):
        return str(x)
    v = _f(x)
    if v is None:
        return "–"
    if digits == 0 and abs(v - round(v)) < 1e-9:
        return f"{round(v):,}"
    return f"{v:,.{digits or 2}f}"


def fmt_pct(x: Any) -> str:
    v = _f(x)
    return "–" if v is None else f"{v:+.0f}%"


def fmt_share(x: Any) -> str:
    v = _f(x)
    return "–" if v is None else f"{100 * v:.0f}%"


def fmt_p(x: Any) -> str:
    v = _f(x)
    if v is None:
        return "–"
    return "p < 0.001" if v < 0.001 else f"p = {v:.3f}"


def evidence_words(p: float | None) -> str:
    """Plain words for the strength of evidence against 'no change'."""
    if p is None:
        return "not tested"
    if p < 0.01:
        return "strong evidence"
    if p < 0.05:
        return "evidence"
    if p < 0.10:
        return "weak evidence"
    return "no clear evidence"


def _rr(did: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """Rate ratio and interval: given directly, or exp of a log-scale estimate."""
    if not isinstance(did, dict):
        return None, None, None
    if _f(did.get("rate_ratio")) is not None:
        return _f(did.get("rate_ratio")), _f(did.get("rr_low")), _f(did.get("rr_high"))
    if did.get("scale", "log_rate_ratio") != "log_rate_ratio":
        return None, None, None
    est, lo, hi = (_f(did.get(k)) for k in ("estimate", "ci_low", "ci_high"))
    return tuple(math.exp(v) if v is not None else None for v in (est, lo, hi))  # type: ignore[return-value]


def change_sentence(
    label: str,
    rr: float | None,
    lo: float | None,
    hi: float | None,
    p: float | None,
    comparison: str = "the comparison areas",
) -> str:
    """'Violence fell by 14% (95% CI 5% to 22% fall) relative to ...; strong evidence.'"""
    if rr is None:
        return f"{label}: no estimate (see the notes)."
    pct = (rr - 1) * 100
    verb = "fell" if pct < 0 else "rose"
    ci = ""
    if lo is not None and hi is not None:
        ci = f" (95% interval {(lo - 1) * 100:+.0f}% to {(hi - 1) * 100:+.0f}%)"
    return (
        f"{label} {verb} by {abs(pct):.0f}%{ci} relative to {comparison}: "
        f"{evidence_words(p)} of a real change ({fmt_p(p)})."
    )


# --- the view model ------------------------------------------------------------------


def _label(ind: dict[str, Any]) -> str:
    if ind.get("label"):
        return str(ind["label"])
    types = ind.get("crime_types") or []
    if len(types) == 1 and ind.get("source", "police_uk") == "police_uk":
        return str(types[0])
    if ind.get("source") == "stop_search":
        return "Stop and search" + (f" ({', '.join(types)})" if types else "")
    return str(ind.get("id", "indicator")).replace("-", " ").capitalize()


def _per_month(block: Any) -> tuple[Any, Any]:
    """(before, after) a month when the months are known, else the totals.

    Baseline and follow-up differ in length (12 against 6 months is usual), so
    totals side by side would read as a fall that is only a shorter window.
    """
    if not isinstance(block, dict):
        return None, None
    b, a = block.get("before"), block.get("after")
    mb, ma = _f(block.get("months_before")), _f(block.get("months_after"))
    if mb and ma:
        b = b / mb if _f(b) is not None else b
        a = a / ma if _f(a) is not None else a
    return b, a


def _pct_change(before: Any, after: Any) -> float | None:
    b, a = _f(before), _f(after)
    if b is None or a is None or b == 0:
        return None
    return (a / b - 1) * 100


def build_view(data: dict[str, Any], audience: str, threshold: int) -> dict[str, Any]:
    plan = data.get("plan") or {}
    indicators = [i for i in data.get("indicators", []) if isinstance(i, dict)]
    truth = data.get("truth") if audience == "analyst" else None
    truth_ind = (truth or {}).get("indicators", {}) if isinstance(truth, dict) else {}
    follow = _window(plan, indicators, "follow_up")
    baseline = _window(plan, indicators, "baseline")
    op_from = str(plan.get("start") or follow[0] or "") or None
    op_to = str(plan.get("end") or follow[1] or "") or None

    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in KIND_ORDER}
    forest: list[dict[str, Any]] = []
    series_svgs: list[dict[str, str]] = []
    displacement: list[dict[str, Any]] = []
    planned = {str(i.get("id")): i for i in plan.get("indicators") or [] if isinstance(i, dict)}
    for ind in indicators:
        kind = str(ind.get("kind", "outcome"))
        if ind.get("survey") and not ind.get("did"):
            continue  # survey indicators are shown under "for whom"
        label = _label({**planned.get(str(ind.get("id")), {}), **ind})
        did = ind.get("did") or {}
        rr, lo, hi = _rr(did)
        p = _f(did.get("p")) if isinstance(did, dict) else None
        tr = ind.get("truth") or truth_ind.get(ind.get("id"), {})
        true_rr = (
            _f(tr.get("rate_ratio")) if isinstance(tr, dict) and audience == "analyst" else None
        )
        t = ind.get("target") or {}
        c = ind.get("control") or {}
        b = ind.get("buffer") or {}
        row = {
            "id": ind.get("id"),
            "label": label,
            "kind": kind,
            "target": t,
            "buffer": b,
            "control": c,
            "pm": {
                role: _per_month(x) for role, x in (("target", t), ("buffer", b), ("control", c))
            },
            "target_change": _pct_change(*_per_month(t)),
            "control_change": _pct_change(*_per_month(c)),
            "rr": rr,
            "lo": lo,
            "hi": hi,
            "p": p,
            "evidence": evidence_words(p) if rr is not None else "",
            "sentence": change_sentence(label, rr, lo, hi, p),
            "true_rr": true_rr,
            "covered": (lo <= true_rr <= hi) if None not in (lo, hi, true_rr) else None,
            "checks": _checks(did)
            + ([str(w) for w in did.get("warnings") or []] if isinstance(did, dict) else []),
            "notes": [str(n) for n in ind.get("notes") or []],
        }
        rows.setdefault(kind, []).append(row)
        if kind != "output" and rr is not None:
            forest.append({"label": label, "rr": rr, "lo": lo, "hi": hi, "true": true_rr})
        months, lines = _series_of(ind)
        if audience == "partner" and any(
            sum(v is None for v in ys) > len(ys) / 4 for ys in lines.values()
        ):
            # a line broken by many hidden months misleads; say why it is missing
            row["notes"].append(
                f"Monthly chart withheld: too many months below {threshold} to show safely."
            )
            months = []
        if months:
            svg = charts.series_chart(months, lines, op_from, op_to, baseline[0], label)
            if svg:
                series_svgs.append({"label": label, "kind": kind, "svg": svg})
        w = ind.get("wdq")
        if isinstance(w, dict) and kind != "output":
            displacement.append(
                {
                    "label": label,
                    "wdq": w,
                    "wdd": ind.get("wdd") or {},
                    "reading": _wdq_reading(w),
                }
            )

    surveys = _surveys_of(data, indicators)

    net = data.get("net_harm") or {}
    net_items, net_rows, enforcement, net_unit = _net_harm(net)
    areas = plan.get("areas") or {}
    map_svg = None
    m = data.get("map")
    if isinstance(m, dict) and m.get("areas"):
        pts = m.get("points") if audience == "analyst" else None
        map_svg = charts.area_map(m["areas"], pts, "Target, buffer and control areas")

    view = {
        "audience": audience,
        "threshold": threshold,
        "title": data.get("title")
        or plan.get("title")
        or f"Results analysis: {data.get('plan_id')}",
        "plan_id": data.get("plan_id"),
        "generated_at": data.get("generated_at")
        or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "op_from": op_from,
        "op_to": op_to,
        "baseline": baseline,
        "follow_up": follow,
        "plan": _plan_view(plan),
        "areas": {r: list(areas.get(r) or []) for r in ("target", "buffer", "control")},
        "layer": areas.get("layer", "lsoa"),
        "rows": rows,
        "kind_order": [k for k in KIND_ORDER if rows.get(k)],
        "kind_text": KIND_TEXT,
        "outputs": _outputs_of(data, indicators),
        "forest_svg": charts.forest_chart(
            forest,
            "Change relative to comparison areas (rate ratio, 95% interval)",
            "rate ratio (below 1 = fewer than expected)",
        ),
        "series_svgs": series_svgs,
        "displacement": displacement,
        "surveys": surveys,
        "survey_svg": charts.survey_chart(surveys, "Residents' and professionals' views"),
        "net": net,
        "net_rows": net_rows,
        "enforcement": enforcement,
        "net_svg": charts.bar_chart(
            net_items,
            "Harm prevented by crime type (target and buffer)",
            f"harm prevented{', ' + net_unit if net_unit else ''}; below 0 = harm added",
            positive_is_good=True,
        ),
        "map_svg": map_svg,
        "design": data.get("design") or _design_of(indicators),
        "designs": _designs_of(indicators),
        "notes": [str(n) for n in (data.get("notes") or []) + (data.get("warnings") or [])],
        "truth": truth if isinstance(truth, dict) else None,
        "truth_rows": _truth_rows(rows) if truth else [],
    }
    view["limitations"] = _limitations(view, indicators)
    view["summary"] = _summary(view)
    view["next_steps"] = _next_steps(view)
    return view


# Coverage of 95% intervals, and share of "p < 0.05" when nothing happened, measured
# by benchmarks/validation.py (400 simulated cities, 8 target / 30 control areas,
# NB2 size-12 overdispersion); see docs/simulate.md. Keyed by the DiD's inference.
VALIDATED_DID = {
    "wild": (0.954, 0.055),
    "t": (0.924, 0.080),
    "normal": (0.917, 0.085),
}
VALIDATED_WDD = {"poisson": 0.896, "quasi_poisson": 0.956}


def _limitations(v: dict[str, Any], indicators: list[dict[str, Any]]) -> list[str]:
    """Known weaknesses of the designs used, stated plainly where they apply."""
    out: list[str] = []
    n_target = len(v["areas"]["target"])
    dids = [i["did"] for i in indicators if isinstance(i.get("did"), dict) and i["did"]]
    if dids and 0 < n_target < 20:
        inference = str(dids[0].get("inference") or "normal")
        cover, false_pos = VALIDATED_DID.get(inference, VALIDATED_DID["normal"])
        how = {
            "wild": "a wild cluster bootstrap",
            "t": "a t distribution with one fewer degree of freedom than areas",
        }.get(inference, "the normal approximation")
        out.append(
            f"The difference-in-differences intervals rest on {n_target} target areas and use "
            f"{how}. On simulated cities with 8 target areas such 95% intervals held the true "
            f"effect {100 * cover:.0f}% of the time and 'p < 0.05' appeared in about "
            f"{100 * false_pos:.0f}% of operations that had no effect"
            + (": treat p-values near 0.05 as weak." if false_pos > 0.06 else ".")
        )
    if any(isinstance(i.get("wdd"), dict) and i["wdd"] for i in indicators):
        out.append(
            "The WDD's published interval assumes Poisson counts; real counts vary more, so it "
            f"is too narrow (it held the truth {100 * VALIDATED_WDD['poisson']:.0f}% of the time "
            "in simulation; the quasi-Poisson interval in results.json held it "
            f"{100 * VALIDATED_WDD['quasi_poisson']:.0f}%). The WDD also measures changes in "
            "crimes a month: where target and control differ in size, seasons alone can move it "
            "away from zero."
        )
    return out


def _window(plan: dict, indicators: list[dict], key: str) -> tuple[str | None, str | None]:
    for ind in list(plan.get("indicators") or []) + indicators:
        w = ind.get(key) if isinstance(ind, dict) else None
        if isinstance(w, dict) and w.get("from"):
            return str(w.get("from")), str(w.get("to"))
    return None, None


def _checks(did: Any) -> list[str]:
    """Assumption checks the design reported, in words."""
    out: list[str] = []
    if not isinstance(did, dict):
        return out
    pt = did.get("pre_trend")
    if isinstance(pt, dict) and _f(pt.get("p")) is not None:
        ok = pt["p"] >= 0.05
        out.append(
            f"Trends before the start {'ran parallel' if ok else 'differed'} "
            f"in target and comparison areas ({fmt_p(pt['p'])})."
        )
    pl = [
        x for x in did.get("placebos") or [] if isinstance(x, dict) and _f(x.get("p")) is not None
    ]
    if pl:
        bad = sum(1 for x in pl if x["p"] < 0.05)
        out.append(
            f"Placebo start dates in the baseline: {bad} of {len(pl)} showed a 'change' "
            f"({'as expected by chance' if bad <= max(1, len(pl) // 10) else 'a warning sign'})."
        )
    return out


def _wdq_reading(w: dict[str, Any]) -> str:
    """Guerette (2009) Appendix C reading of the WDQ, in words."""
    q, s = _f(w.get("wdq")), _f(w.get("success_measure"))
    if q is None or s is None:
        return "Not interpretable (no change in the target relative to control)."
    if s >= 0:
        return "The target did not improve relative to control, so the WDQ cannot be read."
    if q > 1:
        return "Diffusion of benefit larger than the effect in the target."
    if q > 0:
        return "Diffusion of benefit: the surrounding area improved too."
    if q == 0:
        return "No displacement or diffusion."
    if q >= -1:
        return "Some displacement into the surrounding area, smaller than the gain in the target."
    return "Displacement larger than the gain: the operation made things worse overall."


def _net_harm(net: Any) -> tuple[list[tuple[str, float]], list[tuple[str, str]], list[dict], str]:
    """Bars (harm prevented by crime type), headline rows, the operation's own harms, unit."""
    items: list[tuple[str, float]] = []
    rows: list[tuple[str, str]] = []
    enforcement: list[dict] = []
    unit = ""
    if not isinstance(net, dict):
        return items, rows, enforcement, unit
    ch = net.get("crime_harm")
    if isinstance(ch, dict):
        unit = str(ch.get("unit") or "")
        est = _f(ch.get("estimate"))
        if est is not None:
            ci = ""
            if _f(ch.get("ci_low")) is not None and _f(ch.get("ci_high")) is not None:
                ci = f" (95% interval {fmt_num(ch['ci_low'], 1)} to {fmt_num(ch['ci_high'], 1)})"
            rows.append(("Crime harm prevented, target and buffer", f"{fmt_num(est, 1)}{ci}"))
            rows.append(("Evidence", f"{evidence_words(_f(ch.get('p')))} ({fmt_p(ch.get('p'))})"))
        if ch.get("weights"):
            rows.append(("Harm weights", f"{ch['weights']}{' — ' + unit if unit else ''}"))
        for bt in ch.get("by_type") or []:
            if isinstance(bt, dict) and _f(bt.get("harm_prevented")) is not None:
                items.append((str(bt.get("crime_type")), float(bt["harm_prevented"])))
    for comp in net.get("components") or []:
        if isinstance(comp, dict) and _f(comp.get("value")) is not None:
            items.append((str(comp.get("label", comp.get("id", ""))), float(comp["value"])))
    for k in ("statement", "note"):
        if isinstance(net.get(k), str):
            rows.append((k.capitalize(), net[k]))
    for k, v in net.items():
        if (
            k
            not in (
                "crime_harm",
                "components",
                "operation_harms",
                "enforcement",
                "windows",
                "statement",
                "note",
            )
            and _f(v) is not None
        ):
            rows.append((k.replace("_", " ").capitalize(), fmt_num(v, 1)))
    for e in (net.get("operation_harms") or []) + (net.get("enforcement") or []):
        if isinstance(e, dict):
            enforcement.append(
                {
                    "label": e.get("label") or catalogue_name(str(e.get("id", ""))),
                    "monitor": e.get("monitor") or "",
                    "before": e.get("before_per_month", e.get("before")),
                    "after": e.get("after_per_month", e.get("after")),
                    "change": e.get("change_pct", e.get("change")),
                    "note": e.get("mitigation") or e.get("note") or "",
                    "status": e.get("status", ""),
                }
            )
    return items, rows, enforcement, unit


def _series_of(ind: dict[str, Any]) -> tuple[list[str], dict[str, list[Any]]]:
    """Monthly totals per role from ``series`` or the engine's ``monthly`` records."""
    s = ind.get("series")
    if isinstance(s, dict) and s.get("months"):
        lines = {
            r: list(s[r]) for r in ("target", "buffer", "control") if isinstance(s.get(r), list)
        }
        return [str(m) for m in s["months"]], lines
    recs = ind.get("monthly")
    if not isinstance(recs, list) or not recs:
        return [], {}
    months = sorted({str(r.get("month")) for r in recs if isinstance(r, dict) and r.get("month")})
    lines: dict[str, list[Any]] = {}
    for role in ("target", "buffer", "control"):
        by = {
            str(r["month"]): r.get("n")
            for r in recs
            if isinstance(r, dict) and r.get("role") == role
        }
        if by:
            lines[role] = [None if isinstance(by.get(m), str) else by.get(m, 0) for m in months]
    return months, lines


def _surveys_of(data: dict[str, Any], indicators: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per group and question, from ``surveys`` or each indicator's ``survey``."""
    out: list[dict[str, Any]] = []
    for s in data.get("surveys") or []:
        if isinstance(s, dict):
            lab = s.get("label") or " · ".join(
                str(s[k]) for k in ("group", "role", "item") if s.get(k) is not None
            )
            out.append({**s, "label": lab, "evidence": evidence_words(_f(s.get("p")))})
    for ind in indicators:
        for s in ind.get("survey") or []:
            if not isinstance(s, dict):
                continue
            r = s.get("result") or {}
            ex = r.get("extra") or {}
            group = str(s.get("group", ""))
            role = next((x for x in ("target", "buffer", "control") if f"({x})" in group), "")
            q = str(s.get("question", "")).replace("_", " ")
            out.append(
                {
                    "label": f"{group}: {q}",
                    "role": role,
                    "design": "same people both waves" if s.get("paired") else "different people",
                    "before": ex.get("mean_before"),
                    "after": ex.get("mean_after"),
                    "diff": r.get("estimate"),
                    "ci_low": r.get("ci_low"),
                    "ci_high": r.get("ci_high"),
                    "p": r.get("p"),
                    "n": r.get("n", s.get("n_before")),
                    "evidence": evidence_words(_f(r.get("p"))) if r else str(s.get("note", "")),
                }
            )
    return out


def _share(x: Any) -> float | None:
    return _f(x.get("share")) if isinstance(x, dict) else _f(x)


def _outputs_of(data: dict[str, Any], indicators: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ledger rows: activity per month before and during, shares, never called impact."""
    rows: list[dict[str, Any]] = []
    for o in data.get("outputs") or []:
        if isinstance(o, dict):
            rows.append(o)
    led = data.get("outputs_ledger")
    if not isinstance(led, dict):
        return rows
    dc = led.get("drugs_crimes")
    if isinstance(dc, dict):
        b, a = dc.get("before") or {}, dc.get("after") or {}
        scope = f" ({dc['scope']})" if dc.get("scope") else ""
        rows.append(
            {
                "label": f"Drugs offences recorded{scope}",
                "before": b.get("crimes"),
                "after": a.get("crimes"),
                "unit": "count",
            }
        )
        rows.append(
            {
                "label": "Drugs offences ending with no further action",
                "unit": "share",
                "before": _share(b.get("nfa")),
                "after": _share(a.get("nfa")),
            }
        )
    ds = led.get("drug_searches")
    if isinstance(ds, dict):
        b, a = ds.get("before") or {}, ds.get("after") or {}
        mb, ma = _f(b.get("months")), _f(a.get("months"))
        scope = f"; {ds['scope']}" if ds.get("scope") else ""
        per = None
        if mb and ma and _f(b.get("searches")) is not None and _f(a.get("searches")) is not None:
            per = f"{b['searches'] / mb:.1f} a month before, {a['searches'] / ma:.1f} during"
        rows.append(
            {
                "label": "Searches for controlled drugs",
                "before": b.get("searches"),
                "after": a.get("searches"),
                "unit": "count",
                "note": (per or "") + scope,
            }
        )
        rows.append(
            {
                "label": "Searches ending with no further action",
                "unit": "share",
                "before": _share(b.get("nfa")),
                "after": _share(a.get("nfa")),
            }
        )
        trend = ds.get("find_rate_trend") or {}
        note = ""
        if _f(trend.get("p")) is not None:
            note = f"trend over the months: {evidence_words(trend['p'])} of a change ({fmt_p(trend['p'])})"
        rows.append(
            {
                "label": "Find rate (object found, linked to the search)",
                "unit": "share",
                "before": _share(b.get("find_rate")),
                "after": _share(a.get("find_rate")),
                "note": note,
            }
        )
    return rows


def _design_of(indicators: list[dict[str, Any]]) -> dict[str, Any]:
    """The strongest design run on an outcome, with its Maryland scale statement."""
    best: dict[str, Any] = {}
    for ind in indicators:
        if ind.get("kind") != "outcome":
            continue
        for s in ind.get("sms") or []:
            if isinstance(s, dict) and (s.get("level") or 0) > (best.get("msms_level") or 0):
                best = {"msms_level": s.get("level"), "statement": s.get("statement", "")}
    return best


def _designs_of(indicators: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each design's Maryland statement once, with the indicators whose checks failed."""
    seen: dict[str, dict[str, Any]] = {}
    for ind in indicators:
        for s in ind.get("sms") or []:
            if not isinstance(s, dict) or not s.get("design"):
                continue
            d = seen.setdefault(
                str(s["design"]),
                {
                    "design": s["design"],
                    "level": s.get("level"),
                    "label": s.get("label", ""),
                    "failed": [],
                },
            )
            for c in s.get("checks_failed") or []:
                d["failed"].append(f"{_label(ind)}: {c}")
    return sorted(seen.values(), key=lambda d: -(d["level"] or 0))


def catalogue_name(item_id: str) -> str:
    """Readable name of a harm or tactic id from the catalogues; the id when unknown.

    Reports are read by people who never saw the catalogues, so ids alone
    ('ph-increase-violence') would hide what the plan said.
    """
    try:
        from realimpact.harm.taxonomy import get_harm

        return str(get_harm(item_id)["name"])
    except Exception:  # not a harm id, or the taxonomy is not installed
        pass
    try:
        from realimpact.plans.catalogues import get_tactic

        return str(get_tactic(item_id).name)
    except Exception:
        return item_id


def _plan_view(plan: dict[str, Any]) -> dict[str, Any]:
    disp = plan.get("displacement")
    if isinstance(disp, dict):
        disp = disp.get("expected")
    support = plan.get("support") if isinstance(plan.get("support"), dict) else {}
    return {
        "harms": [
            {**h, "name": catalogue_name(str(h.get("id", "")))}
            for h in plan.get("harms") or []
            if isinstance(h, dict)
        ],
        "tactics": [catalogue_name(str(t)) for t in plan.get("tactics") or []],
        "indicators": [i for i in plan.get("indicators") or [] if isinstance(i, dict)],
        "displacement": disp,
        "unintended": [
            {**u, "name": catalogue_name(str(u.get("id", "")))}
            for u in plan.get("unintended_consequences") or []
            if isinstance(u, dict)
        ],
        "partners": [str(p) for p in plan.get("partners") or []],
        "support": {str(k).replace("_", " "): v for k, v in support.items() if v},
    }


def _truth_rows(rows: dict[str, list[dict]]) -> list[dict]:
    return [r for k in KIND_ORDER for r in rows.get(k, []) if r["true_rr"] is not None]


def _summary(v: dict[str, Any]) -> list[str]:
    """Three to six sentences a chief inspector reads first."""
    out: list[str] = []
    outcomes = v["rows"].get("outcome", [])
    better = [r for r in outcomes if r["hi"] is not None and r["hi"] < 1]
    worse = [r for r in outcomes if r["lo"] is not None and r["lo"] > 1]
    unclear = [r for r in outcomes if r["rr"] is not None and r not in better and r not in worse]
    if better:
        out.append(
            "Fell more than in comparison areas: "
            + "; ".join(f"{r['label']} ({(r['rr'] - 1) * 100:+.0f}%)" for r in better)
            + "."
        )
    if worse:
        out.append(
            "Rose more than in comparison areas: "
            + "; ".join(f"{r['label']} ({(r['rr'] - 1) * 100:+.0f}%)" for r in worse)
            + "."
        )
    if unclear:
        out.append("No clear change: " + ", ".join(r["label"] for r in unclear) + ".")
    disp = [
        d
        for d in v["displacement"]
        if _f(d["wdq"].get("wdq")) is not None
        and _f(d["wdq"].get("success_measure")) is not None
        and d["wdq"]["success_measure"] < 0
    ]
    moved = [d["label"] for d in disp if d["wdq"]["wdq"] < 0]
    spread = [d["label"] for d in disp if d["wdq"]["wdq"] > 0]
    if moved:
        out.append("Some displacement into the surrounding streets: " + ", ".join(moved) + ".")
    if spread:
        out.append("Benefits spread to the surrounding streets: " + ", ".join(spread) + ".")
    outputs = v["rows"].get("output", [])
    if outputs or v["outputs"]:
        out.append(
            "Police activity (outputs) is reported separately below; it shows what was done, "
            "not whether harm fell."
        )
    if v["enforcement"]:
        out.append(
            "The operation's own harms (searches, people criminalised, children affected) are "
            "set beside the reductions in the net harm balance."
        )
    if v["design"].get("statement"):
        out.append(str(v["design"]["statement"]))
    return out


def _next_steps(v: dict[str, Any]) -> list[str]:
    """Rules, stated plainly, that turn the findings into next steps."""
    steps: list[str] = []
    outcomes = v["rows"].get("outcome", [])
    if any(r["hi"] is not None and r["hi"] < 1 for r in outcomes):
        steps.append(
            "Sustain the gains: hand the areas to neighbourhood policing and partners "
            "(housing, treatment) with a plan for the months after enforcement ends."
        )
    if any(
        r["rr"] is not None and r["lo"] is not None and r["lo"] <= 1 <= (r["hi"] or 0)
        for r in outcomes
    ):
        steps.append(
            "Where no clear change was found, do not read that as 'no effect': extend the "
            "follow-up or pool more areas (check the detectable effect with `realimpact plan power`)."
        )
    if any(_f(d["wdq"].get("wdq")) is not None and d["wdq"]["wdq"] < 0 for d in v["displacement"]):
        steps.append(
            "Displacement was seen in the buffer: extend problem-solving and partner work to "
            "those streets rather than following the market with more enforcement."
        )
    if v["enforcement"]:
        steps.append(
            "Review the operation's own harms with partners: safeguarding referrals for "
            "children searched, diversion for people found in possession."
        )
    if any(
        r["checks"] and any("differed" in c or "warning" in c for c in r["checks"])
        for r in outcomes
    ):
        steps.append(
            "An assumption check failed for at least one indicator: treat that estimate with "
            "caution and look for a better comparison group."
        )
    if not steps:
        steps.append("Agree with partners what the findings mean for the next plan.")
    return steps


def escape(s: str) -> str:
    return html.escape(s, quote=True)
