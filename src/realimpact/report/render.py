"""The Results Analysis report: one self-contained HTML file from a results dict.

Written for a chief inspector and a partner, not a statistician: what was
planned, what was done (outputs, kept apart and never called impact), what
changed (outcomes, one verdict per indicator from its primary design), where
(displacement), for whom (residents' views, the harms the operation itself
caused), with what confidence (design strength, assumption checks), and what
to do next. The statistics arrive computed in ``results`` (the
``results.json`` contract in docs/architecture.md and docs/report.md); this module only
words and draws them.

The headline of each outcome or indirect indicator is its ``verdict``
(``design``, ``change``, ``estimate``/``ci_low``/``ci_high`` on ``scale``,
``displacement`` with its interval, ``reason``, ``sensitivity``): one line per
indicator, its words taken from ``verdict.change`` and
``verdict.displacement`` only. The other designs are shown as sensitivity
checks, never as competing headlines. Results written before verdicts
existed get one read from their difference-in-differences
(:func:`verdict_of`), so old ``results.json`` files still render.

Other accepted keys (all optional): ``title``, ``generated_at``, ``force``,
``plan`` (the plan as a dict), ``areas`` ({layer, target/buffer/control:
[{id, name}]}), ``map`` ({kind: polygons | points | None, areas: [{area_id,
role, name, wkt}], points: [{role, e, n}], reason}), ``validation`` ({valid,
ignored, problems: [{level, path, message}]}), ``flags`` and ``next_steps``
([str]), ``outputs_ledger``, ``net_harm`` (``crime_harm`` with its interval,
``operation_harms`` [{id, label, monitor, monitor_label, area, status,
before_per_month, after_per_month, summary}]), ``surveys``, ``notes``,
``warnings`` and ``truth`` (a simulation's truth.json: analyst reports then
show the estimate beside the truth).
"""

from __future__ import annotations

import html
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from markupsafe import escape as _m_escape

from realimpact.disclosure.contract import is_below, is_withheld
from realimpact.disclosure.manifest import footer_text
from realimpact.disclosure.profiles import AUDIENCES, Profile, check_audience, get_profile
from realimpact.errors import ValidationError
from realimpact.evaluation.sharing import safe_results
from realimpact.periods import month_range
from realimpact.report import charts

KIND_ORDER = ("outcome", "process", "indirect", "output")
KIND_TEXT = {
    "outcome": "Outcomes: the harms the operation set out to reduce",
    "process": "Process: was the operation delivered as planned",
    "indirect": "Indirect indicators",
    "output": "Outputs: police activity, not impact",
}
#: short names of the designs, as a chief inspector reads them
DESIGN_SHORT = {
    "did": "difference-in-differences",
    "its": "interrupted time series",
    "wdd": "weighted displacement difference",
    "wdq": "weighted displacement quotient",
    "synthetic": "synthetic control",
    "survey": "before and after survey",
}
CHANGE_WORDS = {
    "fell": "fell",
    "rose": "rose",
    "no_clear_change": "no clear change",
    "not_estimable": "could not be estimated with these areas",
}
ROLE_TEXT = {
    "target": "Target",
    "buffer": "Buffer (where displacement would show)",
    "control": "Comparison (control)",
}
SOURCE_TEXT = {
    "police_uk": "police.uk recorded crime",
    "stop_search": "police.uk stop and search",
}
#: ids that humanise badly ('asb' -> 'Asb'); the police.uk crime type as written
KNOWN_LABELS = {"asb": "Anti-social behaviour"}


def render_report(
    results: dict[str, Any],
    out_dir: str | Path,
    audience: str = "analyst",
    *,
    threshold: int | None = None,
    filename: str = "report.html",
    extras: dict[str, Any] | None = None,
    profile: Profile | None = None,
) -> Path:
    """Write ``out_dir/filename`` and return its path.

    For ``audience`` partner or public the results first pass through
    :func:`realimpact.evaluation.sharing.safe_results` with the audience's profile
    (``threshold`` overrides its threshold), so nothing unsafe reaches the
    page; results already made safe for that audience (a results.json read
    back) are drawn as they are, and the page says the same.
    """
    check_audience(audience, AUDIENCES)
    if not isinstance(results, dict) or "indicators" not in results:
        raise ValidationError(
            "results: not a results dict (no 'indicators'; see docs/architecture.md)"
        )
    data = {**results, **(extras or {})}
    if audience != "analyst":
        prof = profile or get_profile(audience)
        if threshold is not None and threshold != prof.threshold:
            import dataclasses

            prof = dataclasses.replace(prof, threshold=threshold)
        data = safe_results(data, prof)
        threshold = int(data.get("suppression_threshold") or prof.threshold)
    view = build_view(data, audience, threshold or 5)
    out = Path(out_dir)
    if out.suffix.lower() in (".html", ".htm"):  # given the file itself
        out, filename = out.parent, out.name
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    env = _env(view["threshold"])
    path.write_text(env.get_template("report.html.j2").render(**view), encoding="utf-8")
    return path


def _env(threshold: int = 5) -> jinja2.Environment:
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
    env.filters["plain"] = plain
    env.filters["rate"] = lambda block: rate_text(block, threshold)
    return env


# --- formatting -----------------------------------------------------------------


def _f(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def fmt_num(x: Any, digits: int = 0) -> str:
    """Counts with thousands separators; missing (or withheld) is an en dash."""
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


def _signed(x: float, digits: int | None = None) -> str:
    """'+8', '-3.2', '0' (no '+0' or '-0'); one decimal below 10 unless ``digits`` is given."""
    if digits is None:
        digits = 1 if abs(x) < 10 else 0
    r = round(x, digits)
    if r == 0:
        return "0"
    return f"{r:+,.{digits}f}"


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


def _months_word(n: Any) -> str:
    v = _f(n)
    if v is None:
        return ""
    return f"{v:.0f} month" + ("" if v == 1 else "s")


def rate_text(block: Any, threshold: int = 5) -> str:
    """'38.4 a month before (12 months) → 20.5 a month after (4 months)'.

    Baseline and follow-up differ in length (12 against 6 months is usual), so
    totals side by side would read as a fall that is only a shorter window.
    A withheld count (partner, public; ``suppressed`` in the block) is said as
    such, never turned into a rate: "fewer than 5" for a count below the
    threshold, "withheld" for one hidden to protect another.
    """
    if not isinstance(block, dict):
        return "–"

    def one(when: str) -> str:
        total, months = block.get(when), block.get(f"months_{when}")
        pm = block.get(f"per_month_{when}")
        if is_withheld(block, when) or is_withheld(block, f"per_month_{when}"):
            span = f" the {_months_word(months)}" if _f(months) else ""
            small = is_below(block, when) or is_below(block, f"per_month_{when}")
            what = f"fewer than {threshold}" if small else "withheld (to protect small counts)"
            return f"{what} in{span} {when}"
        if _f(pm) is None and _f(total) is not None and _f(months):
            pm = total / months
        if _f(pm) is not None:
            span = f" ({_months_word(months)})" if _f(months) else ""
            return f"{pm:,.1f} a month {when}{span}"
        if _f(total) is not None:
            return f"{fmt_num(total)} {when} (months not known)"
        return f"no data {when}"

    return f"{one('before')} → {one('after')}"


# --- plain words: no ids, no 'seed NNN', sources by author, title and section ----------


def _documents() -> dict[str, dict[str, str]]:
    try:
        from realimpact.plans.catalogues import documents

        return documents()
    except Exception:  # the catalogues are not installed: cite by id
        return {}


def _cite_parts(doc: str, section: str = "") -> tuple[str, str, str]:
    """(author and year, title, section) of a source document."""
    doc = str(doc)[:3]
    title = str((_documents().get(doc) or {}).get("title") or "")
    section = " ".join(str(section or "").split())
    if section and section[0].isdigit():
        section = f"section {section}"
    sec = f", {section}" if section else ""
    if not title:
        return f"source document {doc}", "", sec
    # 'Home Office (2003) Disrupting crack markets: a practice guide (a note)'
    m = re.match(r"^(?P<author>[^()]+?) \((?P<year>\d{4})\) (?P<title>.+?)(?: \([^()]*\))?$", title)
    if m:
        return f"{m['author']} ({m['year']}) ", m["title"], sec
    # 'Home Office, Disrupting crack markets: a practice guide (2003)'
    m = re.match(r"^(?P<author>[^,()]+), (?P<title>.+?) \((?P<paren>[^()]*)\)$", title)
    if m:
        years = re.findall(r"\b(?:19|20)\d\d\b", m["paren"])
        year = f" ({years[-1]})" if years else ""
        return f"{m['author']}{year} ", m["title"], sec
    return "", re.sub(r"\s*\([^()]*\)$", "", title), sec


def cite(doc: str, section: str = "") -> Markup:
    """'Home Office (2003) <em>Disrupting crack markets: a practice guide</em>, Table 3.1'.

    ``doc`` is a short document id ('004') or a seed file name
    ('004_ae25794091890fab.txt'); sections that are bare numbers read as
    'section 3.4.2'.
    """
    pre, title, sec = _cite_parts(doc, section)
    if not title:
        return Markup("{}{}").format(pre, sec)
    return Markup("{}<em>{}</em>{}").format(pre, title, sec)


def cite_text(doc: str, section: str = "") -> str:
    """:func:`cite` without markup (for lines built as plain text)."""
    return "".join(_cite_parts(doc, section))


_SEED_RNG = re.compile(r"[,;]\s*seed \d+\b")  # a random-number seed in a method string
_SEED_DOC = re.compile(
    r"\b[Ss]eeds? (\d{3})\b(?:,?\s+((?:section |Table |Box |Figure |Appendix )?\d[\d.\-–]*))?"
)
_RAW_ID = re.compile(r"\b(?:enf|ph|hm)-[a-z0-9]+(?:-[a-z0-9]+)+\b")


def plain(text: Any) -> Markup:
    """Free text from results, made fit for the page: escaped, sources cited, no seeds.

    'None' and missing values become an empty string; a harm or consequence
    id ('enf-criminal-record') becomes its catalogue name.
    """
    if text is None or (isinstance(text, float) and not math.isfinite(text)):
        return Markup("")
    if isinstance(text, Markup):
        return text
    s = _SEED_RNG.sub("", str(text))
    out, pos = Markup(""), 0
    for m in _SEED_DOC.finditer(s):
        out += _m_escape(_ids_to_names(s[pos : m.start()]))
        out += cite(m[1], m[2] or "")
        pos = m.end()
    return out + _m_escape(_ids_to_names(s[pos:]))


def plain_text(text: Any) -> str:
    """:func:`plain` as unescaped text (for lines that are escaped once, on the page)."""
    if text is None or (isinstance(text, float) and not math.isfinite(text)):
        return ""
    s = _SEED_RNG.sub("", str(text))
    s = _SEED_DOC.sub(lambda m: cite_text(m[1], m[2] or ""), s)
    return _ids_to_names(s)


def _ids_to_names(s: str) -> str:
    def name(m: re.Match) -> str:
        n = catalogue_name(m[0])
        return n if n != m[0] else m[0]

    return _RAW_ID.sub(name, s)


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


def _harm_source(item_id: str) -> Markup:
    try:
        from realimpact.harm.taxonomy import get_harm

        h = get_harm(item_id)
    except Exception:
        return Markup("")
    return (
        cite(str(h.get("source") or ""), str(h.get("section") or ""))
        if h.get("source")
        else Markup("")
    )


# --- verdicts: one claim per indicator --------------------------------------------------


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


def verdict_of(ind: dict[str, Any]) -> dict[str, Any] | None:
    """The indicator's verdict; for results written before verdicts, one read from its DiD.

    Outputs and process indicators have none (a ledger, never an impact claim).
    The fallback reads only the difference-in-differences interval against 1,
    the same rule the engine states in ``verdict.reason``.
    """
    if "verdict" in ind:
        v = ind["verdict"]
        return v if isinstance(v, dict) else None
    if str(ind.get("kind", "outcome")) not in ("outcome", "indirect"):
        return None
    did = ind.get("did")
    if not isinstance(did, dict) or not did:
        return None
    rr, lo, hi = _rr(did)
    if rr is None or lo is None or hi is None:
        change, reason = "not_estimable", "the 95% interval has no finite bounds"
    elif hi < 1:
        change, reason = "fell", f"95% interval {lo:.2f} to {hi:.2f} excludes no change"
    elif lo > 1:
        change, reason = "rose", f"95% interval {lo:.2f} to {hi:.2f} excludes no change"
    else:
        change, reason = "no_clear_change", f"95% interval {lo:.2f} to {hi:.2f} includes no change"
    return {
        "design": "did",
        "design_label": "difference-in-differences",
        "design_reason": "the only design with a comparison group in these results",
        "change": change,
        "estimate": rr,
        "ci_low": lo,
        "ci_high": hi,
        "no_change": 1.0,
        "scale": "rate_ratio",
        "displacement": None,  # not in old results: no displacement claim either way
        "reason": reason,
        "sensitivity": [],
    }


def effect_text(v: dict[str, Any]) -> str:
    """'rate ratio 0.71, 95% CI 0.55–0.92' (or crimes a month, or crimes)."""
    scale = str(v.get("scale") or "rate_ratio")
    est, lo, hi = (_f(v.get(k)) for k in ("estimate", "ci_low", "ci_high"))
    if est is None:
        return ""
    bounded = lo is not None and hi is not None
    if scale == "rate_ratio":
        out = f"rate ratio {est:.2f}"
        ci = f"95% CI {lo:.2f}–{hi:.2f}" if bounded else ""
    elif scale == "crimes_per_month":
        out = f"{_signed(est, 1)} crimes a month against the control"
        ci = f"95% CI {_signed(lo, 1)} to {_signed(hi, 1)}" if bounded else ""
    else:
        out = f"{_signed(est)} crimes"
        ci = f"95% CI {_signed(lo)} to {_signed(hi)}" if bounded else ""
    return f"{out}, {ci}" if ci else out


def _design_short(v: dict[str, Any]) -> str:
    d = v.get("design")
    return DESIGN_SHORT.get(str(d), str(v.get("design_label") or d or "")) if d else ""


def change_words(v: dict[str, Any]) -> str:
    if is_withheld(v, "change"):
        return "not shown in this version (it rests on counts too small to share)"
    return CHANGE_WORDS.get(str(v.get("change")), "could not be estimated with these areas")


def _estimable(v: dict[str, Any]) -> bool:
    return str(v.get("change")) in ("fell", "rose", "no_clear_change") and bool(effect_text(v))


def _withheld_verdict(design: str) -> str:
    """One clause, not 'not shown (it rests on ...) (design: not shown: it rests on ...)'."""
    what = f"the {design}" if design else "it"
    return f"not shown in this version ({what} rests on counts too small to share)"


def verdict_short(v: dict[str, Any]) -> str:
    """verdict_text without the reason: 'could not be estimated ... (interrupted time series)'."""
    if _estimable(v):
        return verdict_text(v)
    if is_withheld(v, "change"):
        return _withheld_verdict(_design_short(v))
    design = _design_short(v)
    return f"{change_words(v)}{f' ({design})' if design else ''}"


def verdict_text(v: dict[str, Any]) -> str:
    """'fell (rate ratio 0.71, 95% CI 0.55–0.92, difference-in-differences)'."""
    words, design = change_words(v), _design_short(v)
    if _estimable(v):
        inner = ", ".join(x for x in (effect_text(v), design) if x)
        return f"{words} ({inner})"
    if is_withheld(v, "change"):
        return _withheld_verdict(design)
    reason = plain_text(v.get("reason")) or "no interval"
    return f"{words} ({(design + ': ') if design else ''}{reason})"


def displacement_text(v: dict[str, Any], has_buffer: bool) -> str:
    """The displacement clause, from ``verdict.displacement`` and its interval only."""
    d = str(v.get("displacement") or "not_estimable")
    lo, hi = _f(v.get("displacement_ci_low")), _f(v.get("displacement_ci_high"))
    est = _f(v.get("displacement_estimate"))
    unit = "crimes" if v.get("displacement_scale", "crimes") == "crimes" else "crimes a month"
    ci = (
        f"95% CI {_signed(lo)} to {_signed(hi)} {unit}" if lo is not None and hi is not None else ""
    )
    est_t = f"{_signed(est)} {unit}" if est is not None else ""
    inner = ", ".join(x for x in (est_t, ci) if x)
    if d == "displacement":
        return f"Displacement to the buffer ({inner})." if inner else "Displacement to the buffer."
    if d == "diffusion":
        return (
            f"Diffusion of benefits to the buffer ({inner})."
            if inner
            else "Diffusion of benefits to the buffer."
        )
    if d == "none_detected":
        if lo is not None and hi is not None:
            return (
                f"No displacement detected to the buffer (could not rule out "
                f"{_signed(lo)} to {_signed(hi)} {unit})."
            )
        return "No displacement detected to the buffer."
    if not has_buffer:
        return "Displacement not measured: the plan has no buffer areas."
    why = v.get("displacement_reason")
    return (
        f"Displacement not assessed: {plain_text(why)}."
        if why
        else "Displacement could not be estimated with these areas."
    )


def verdict_line(label: str, v: dict[str, Any] | None, has_buffer: bool) -> str:
    """One line for 'At a glance': the change, then where it went. Never two claims."""
    if not v:
        return f"{label}: not estimated (see What changed)."
    line = f"{label}: {verdict_text(v)}."
    d = v.get("displacement")
    if (
        d in ("displacement", "diffusion", "none_detected")
        or (d and _estimable(v))
        or is_withheld(v, "displacement")
    ):
        line += " " + displacement_text(v, has_buffer)
    return line


def _whole(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 0.5 else "0"


def net_harm_line(ch: Any) -> str | None:
    """The net harm headline, following its interval (estimate = harm prevented)."""
    if not isinstance(ch, dict):
        return None
    est, lo, hi = (_f(ch.get(k)) for k in ("estimate", "ci_low", "ci_high"))
    unit = _harm_unit(ch)
    shared = _shared_net_harm(ch, unit)
    if shared:
        return shared
    if est is None:
        return "Crime harm could not be estimated with these areas."
    if lo is None or hi is None:
        return (
            f"Crime harm could not be estimated with these areas (estimate "
            f"{_whole(est)} {unit} prevented, interval not available)."
        )
    ci = f"95% CI {_whole(lo)} to {_whole(hi)}"
    if lo > 0:
        return f"Crime harm fell across target and buffer: {_whole(est)} {unit} prevented ({ci})."
    if hi < 0:
        return f"Crime harm rose across target and buffer: {_whole(-est)} {unit} added ({ci})."
    return (
        f"No clear change in crime harm across target and buffer "
        f"({_whole(est)} {unit} prevented, {ci}, which includes no change)."
    )


def _shared_net_harm(ch: dict[str, Any], unit: str) -> str | None:
    """A shared net harm shown only as a range, or not at all (evaluation/sharing.py)."""
    how = ch.get("shown_as")
    if how == "band":
        band = str(ch.get("band") or "").replace("-", " and ")
        moved = "added" if ch.get("direction") == "added" else "prevented"
        head = {"fell": "Crime harm fell", "rose": "Crime harm rose"}.get(
            str(ch.get("change")), "No clear change in crime harm"
        )
        return (
            f"{head} across target and buffer: between {band} {unit} {moved}. "
            "It is given as a range because one of the counts behind it is too small "
            "to share and the exact figure would point to it."
        )
    if how == "withheld":
        return (
            "Crime harm across target and buffer is not shown: one of the counts behind "
            "it is too small to share, and even a range would point to it."
        )
    return None


def _harm_unit(ch: dict[str, Any]) -> str:
    unit = str(ch.get("unit") or "")
    if unit.startswith("days"):
        return "days of harm"
    return unit.split(" (")[0] or "harm units"


def change_sentence(
    label: str,
    rr: float | None,
    lo: float | None,
    hi: float | None,
    p: float | None,
    comparison: str = "the comparison areas",
) -> str:
    """'Violence fell by 14% (95% interval -22% to -5%) relative to ...'; for a verdict's rate ratio.

    The verb follows the interval, not the point estimate: an interval that
    includes no change reads 'no clear change'.
    """
    if rr is None:
        return f"{label}: no estimate (see the notes)."
    pct = (rr - 1) * 100
    ci = ""
    if lo is not None and hi is not None:
        ci = f" (95% interval {(lo - 1) * 100:+.0f}% to {(hi - 1) * 100:+.0f}%)"
        if lo <= 1 <= hi:
            return f"{label}: no clear change relative to {comparison}{ci}."
    elif lo is None or hi is None:
        return f"{label}: could not be estimated with these areas."
    verb = "fell" if pct < 0 else "rose"
    return f"{label} {verb} by {abs(pct):.0f}%{ci} relative to {comparison}."


# --- the view model ------------------------------------------------------------------


def _label(ind: dict[str, Any]) -> str:
    if ind.get("label"):
        return str(ind["label"])
    types = ind.get("crime_types") or []
    if len(types) == 1 and ind.get("source", "police_uk") == "police_uk":
        return str(types[0])
    if ind.get("source") == "stop_search":
        return "Stop and search" + (f" ({', '.join(types)})" if types else "")
    iid = str(ind.get("id", "indicator"))
    return KNOWN_LABELS.get(iid.lower(), iid.replace("-", " ").replace("_", " ").capitalize())


def _source_text(ind: dict[str, Any]) -> str:
    src = str(ind.get("source") or "")
    text = SOURCE_TEXT.get(src) or (
        f"survey ({src.split(':', 1)[1]})" if src.startswith("survey:") else src
    )
    types = ind.get("crime_types") or []
    return f"{text}: {', '.join(map(str, types))}" if types else text


def _pct_change(before: Any, after: Any) -> float | None:
    b, a = _f(before), _f(after)
    if b is None or a is None or b == 0:
        return None
    return (a / b - 1) * 100


def _per_month(block: Any) -> tuple[Any, Any]:
    if not isinstance(block, dict):
        return None, None
    out = []
    for when in ("before", "after"):
        pm, total, months = (
            block.get(f"per_month_{when}"),
            block.get(when),
            _f(block.get(f"months_{when}")),
        )
        if _f(pm) is None and _f(total) is not None and months:
            pm = total / months
        out.append(pm if pm is not None else total)
    return out[0], out[1]


def _area_lists(data: dict[str, Any], plan: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """Areas by role as [{id, name}], names from ``results.areas`` or the map."""
    names: dict[str, str] = {}
    top = data.get("areas") if isinstance(data.get("areas"), dict) else {}
    m = data.get("map") if isinstance(data.get("map"), dict) else {}
    for a in m.get("areas") or []:
        if isinstance(a, dict) and a.get("name"):
            names[str(a.get("area_id"))] = str(a["name"])
    out: dict[str, list[dict[str, str]]] = {}
    plan_areas = plan.get("areas") or {}
    for role in ("target", "buffer", "control"):
        rows: list[dict[str, str]] = []
        given = top.get(role)
        items = given if isinstance(given, list) else plan_areas.get(role) or []
        for a in items:
            if isinstance(a, dict):
                aid, nm = str(a.get("id", "")), a.get("name")
            else:
                aid, nm = str(a), None
            rows.append({"id": aid, "name": str(nm or names.get(aid) or "")})
        out[role] = rows
    return out


def _map_view(data: dict[str, Any], audience: str) -> tuple[str | None, str | None, str]:
    """(svg, why there is no map, caption). Partner reports never draw points."""
    m = data.get("map")
    if not isinstance(m, dict):
        return None, "No map: the results carry no area boundaries or record locations.", ""
    polys = [a for a in m.get("areas") or [] if isinstance(a, dict) and a.get("wkt")]
    kind = m.get("kind", "polygons" if polys else None)
    pts = m.get("points") if audience == "analyst" else None
    reason = plain_text(m.get("reason")) if m.get("reason") else ""
    if polys and kind != "points":
        svg = charts.area_map(polys, pts, "Target, buffer and control areas")
        if svg:
            cap = "Areas of the plan, coloured by role"
            if pts:
                cap += "; dots: the police.uk location of each record (analyst version only)"
            return svg, None, cap + "."
    if kind == "points" or (kind is None and m.get("points")):
        if audience != "analyst":
            why = (
                "No map in the partner version: the store holds no boundaries for these areas, "
                "and the locations of individual records are never shown to partners."
            )
            return None, why, ""
        svg = charts.area_map(polys, pts, "Target, buffer and control areas (record locations)")
        if svg:
            cap = (
                "No boundaries for these areas are in the store: each dot is the police.uk "
                "location of a record, coloured by the role of its area (analyst version only)."
            )
            return svg, None, cap
    why = (
        str(reason) or "No map: the store holds no boundaries or record locations for these areas."
    )
    if not why.lower().startswith("no map"):
        why = f"No map: {why}"
    return None, why, ""


def _checks(block: Any, design: str) -> list[tuple[str, str]]:
    """Assumption checks a design reported, each said once, in words.

    A 'significant' placebo is one statement (how many, which fake start,
    what it means); the design's own placebo warning is folded into it.
    """
    out: list[str] = []
    if not isinstance(block, dict):
        return []
    name = DESIGN_SHORT.get(design, design)
    pt = block.get("pre_trend")
    if isinstance(pt, dict) and _f(pt.get("p")) is not None:
        ok = pt["p"] >= 0.05
        out.append(
            f"Trends before the start "
            f"{'ran parallel' if ok else 'differed'} in target and comparison areas "
            f"({fmt_p(pt['p'])})."
        )
    pl = block.get("placebos")
    if pl is None and isinstance(block.get("placebo"), dict):
        pl = [block["placebo"]]
    pl = [x for x in pl or [] if isinstance(x, dict) and _f(x.get("p")) is not None]
    if pl:
        bad = [x for x in pl if x["p"] < 0.05]
        if not bad:
            out.append(
                f"Placebo start dates in the baseline: none of {len(pl)} "
                "showed a change, as expected if only the operation changed things."
            )
        else:
            which = ", ".join(
                f"fake start {(x.get('extra') or {}).get('fake_start')}, {fmt_p(x['p'])}"
                if (x.get("extra") or {}).get("fake_start")
                else fmt_p(x["p"])
                for x in bad
            )
            out.append(
                f"Placebo start dates in the baseline: {len(bad)} of "
                f"{len(pl)} showed a 'change' where none should be ({which}), so the estimate "
                "may reflect something other than the operation."
            )
    for w in block.get("warnings") or []:
        if str(w).startswith("placebo start"):
            continue  # said once above
        w = str(w)
        out.append(w[:1].upper() + w[1:])
    return [(name, t) for t in out]


def _sensitivity(v: dict[str, Any] | None) -> list[dict[str, str]]:
    rows = []
    for s in (v or {}).get("sensitivity") or []:
        if not isinstance(s, dict):
            continue
        words = change_words(s)
        eff = effect_text(s) if _estimable(s) else ""
        rows.append(
            {
                "design": _design_short(s),
                "label": str(s.get("design_label") or _design_short(s)),
                "change": words,
                "effect": eff,
                # a check that could not be estimated neither agrees nor disagrees
                "agrees": not eff
                or not _estimable(v or {})
                or str(s.get("change")) == str((v or {}).get("change")),
            }
        )
    return rows


def build_view(data: dict[str, Any], audience: str, threshold: int) -> dict[str, Any]:
    plan = data.get("plan") or {}
    indicators = [i for i in data.get("indicators", []) if isinstance(i, dict)]
    truth = data.get("truth") if audience == "analyst" else None
    truth_ind = (truth or {}).get("indicators", {}) if isinstance(truth, dict) else {}
    follow = _window(plan, indicators, "follow_up")
    baseline = _window(plan, indicators, "baseline")
    op_from = str(plan.get("start") or follow[0] or "") or None
    op_to = str(plan.get("end") or follow[1] or "") or None
    areas = _area_lists(data, plan)
    has_buffer = bool(areas["buffer"])

    planned = {str(i.get("id")): i for i in plan.get("indicators") or [] if isinstance(i, dict)}
    labels = {
        str(i.get("id")): _label({**planned.get(str(i.get("id")), {}), **i}) for i in indicators
    }
    for pid, pi in planned.items():
        labels.setdefault(pid, _label(pi))

    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in KIND_ORDER}
    forest: list[dict[str, Any]] = []
    series_svgs: list[dict[str, str]] = []
    displacement: list[dict[str, Any]] = []
    glance: list[dict[str, str]] = []
    checks: list[dict[str, str]] = []
    for ind in indicators:
        kind = str(ind.get("kind", "outcome"))
        iid = str(ind.get("id"))
        label = labels[iid]
        v = verdict_of(ind)
        is_survey = bool(ind.get("survey")) and not ind.get("did")
        if kind in ("outcome", "indirect"):
            if v:
                glance.append({"id": iid, "line": verdict_line(label, v, has_buffer)})
            elif is_survey:
                glance.append({"id": iid, "line": f"{label}: survey results in 'For whom' below."})
            else:
                glance.append({"id": iid, "line": f"{label}: not estimated (see What changed)."})
        if is_survey:
            continue  # survey indicators are shown under "for whom"
        did = ind.get("did") or {}
        rr, lo, hi = _rr(did)
        tr = ind.get("truth") or truth_ind.get(ind.get("id"), {})
        true_rr = (
            _f(tr.get("rate_ratio")) if isinstance(tr, dict) and audience == "analyst" else None
        )
        t, b, c = (ind.get(r) or {} for r in ("target", "buffer", "control"))
        own_checks = _checks(did, "did") + _checks(ind.get("its"), "its")
        for design, text in own_checks:
            checks.append({"label": label, "design": design, "text": text})
        row = {
            "id": iid,
            "label": label,
            "kind": kind,
            "blocks": [
                {"role": r, "text": ROLE_TEXT[r], "block": x}
                for r, x in (("target", t), ("buffer", b), ("control", c))
                if isinstance(x, dict) and x
            ],
            "pm": {
                role: _per_month(x) for role, x in (("target", t), ("buffer", b), ("control", c))
            },
            "target_change": _pct_change(*_per_month(t)),
            "control_change": _pct_change(*_per_month(c)),
            "verdict": v,
            "verdict_text": verdict_short(v) if v else "",
            "change_words": change_words(v) if v else "not estimated",
            "change": str(v.get("change")) if v else "",
            "effect": effect_text(v) if v and _estimable(v) else "",
            "design": _design_short(v) if v else "",
            "design_label": plain(v.get("design_label")) if v else "",
            "design_reason": plain(v.get("design_reason")) if v else "",
            "reason": plain(v.get("reason")) if v else "",
            "displacement_text": displacement_text(v, has_buffer)
            if v and v.get("displacement")
            else "",
            "sensitivity": _sensitivity(v),
            "rr": rr,
            "lo": lo,
            "hi": hi,
            "true_rr": true_rr,
            "covered": (lo <= true_rr <= hi) if None not in (lo, hi, true_rr) else None,
            "notes": _dedupe(plain(n) for n in ind.get("notes") or []),
        }
        rows.setdefault(kind, []).append(row)
        if (
            v
            and kind != "output"
            and v.get("scale", "rate_ratio") == "rate_ratio"
            and _estimable(v)
            and _f(v.get("ci_low")) is not None
            and _f(v.get("ci_high")) is not None
        ):
            forest.append(
                {
                    "label": label,
                    "rr": v["estimate"],
                    "lo": v["ci_low"],
                    "hi": v["ci_high"],
                    "true": true_rr if v.get("design") == "did" else None,
                }
            )
        months, lines = _series_of(ind)
        if audience != "analyst" and any(
            sum(x is None for x in ys) > len(ys) / 4 for ys in lines.values()
        ):
            # a line broken by many hidden months misleads; say why it is missing
            row["notes"].append(
                plain(f"Monthly chart withheld: too many months below {threshold} to show safely.")
            )
            months = []
        if months:
            svg = charts.series_chart(months, lines, op_from, op_to, baseline[0], label)
            if svg:
                row["svg"] = svg
                series_svgs.append({"label": label, "kind": kind, "svg": svg})
        w = ind.get("wdq")
        if kind != "output" and (isinstance(w, dict) or v):
            wdd = ind.get("wdd") or {}
            displacement.append(
                {
                    "label": label,
                    "verdict": displacement_text(v, has_buffer)
                    if v and v.get("displacement")
                    else "",
                    "kind": str((v or {}).get("displacement") or ""),
                    "buffer": b,
                    "wdq": w if isinstance(w, dict) else {},
                    "wdd": wdd,
                    "wdd_poisson": wdd.get("poisson") if isinstance(wdd, dict) else None,
                    "wdd_interval": (
                        "overdispersion-aware (quasi-Poisson)"
                        if isinstance(wdd, dict) and wdd.get("interval") == "quasi_poisson"
                        else "Poisson (as published)"
                    ),
                    "reading": _wdq_reading(w) if isinstance(w, dict) else "",
                }
            )

    surveys = _surveys_of(data, indicators)
    net = data.get("net_harm") or {}
    net_items, net_rows, enforcement, net_unit = _net_harm(net, labels, threshold)
    map_svg, map_note, map_caption = _map_view(data, audience)
    net_line = net_harm_line(net.get("crime_harm")) if isinstance(net, dict) else None

    validation = data.get("validation") if isinstance(data.get("validation"), dict) else {}
    header = [f"Results analysis of plan {data.get('plan_id') or plan.get('id') or ''}".strip()]
    if data.get("force"):
        header.append(str(data["force"]))
    if op_from:
        header.append(f"operation {op_from} to {op_to}")
    if baseline[0]:
        header.append(f"baseline {baseline[0]} to {baseline[1]}")

    view = {
        "audience": audience,
        "threshold": threshold,
        "title": data.get("title")
        or plan.get("title")
        or f"Results analysis: {data.get('plan_id')}",
        "plan_id": data.get("plan_id"),
        "header": " · ".join(header),
        "force": data.get("force"),
        "generated_at": data.get("generated_at")
        or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "op_from": op_from,
        "op_to": op_to,
        "baseline": baseline,
        "follow_up": follow,
        "plan": _plan_view(plan, labels, _dropped_fields(data) if audience != "analyst" else ()),
        "areas": areas,
        "role_text": ROLE_TEXT,
        "layer": str(
            (data.get("areas") or {}).get("layer") or (plan.get("areas") or {}).get("layer", "lsoa")
        ),
        "rows": rows,
        "kind_order": [k for k in KIND_ORDER if rows.get(k)],
        "kind_text": KIND_TEXT,
        "outputs": _outputs_of(data, indicators, threshold),
        "footer": footer_text(data["disclosure"])
        if audience != "analyst" and isinstance(data.get("disclosure"), dict)
        else "",
        "forest_svg": charts.forest_chart(
            forest,
            "Change relative to what was expected (rate ratio, 95% interval)",
            "rate ratio (below 1 = fewer than expected)",
        ),
        "series_svgs": series_svgs,
        "displacement": displacement,
        "surveys": surveys,
        "survey_svg": charts.survey_chart(surveys, "Residents' and professionals' views"),
        "net": net,
        "net_line": net_line,
        "net_rows": net_rows,
        "enforcement": enforcement,
        "net_svg": charts.bar_chart(
            net_items,
            "Harm prevented by crime type (target and buffer)",
            f"harm prevented{', ' + net_unit if net_unit else ''}; below 0 = harm added",
            positive_is_good=True,
        ),
        "map_svg": map_svg,
        "map_note": map_note,
        "map_caption": map_caption,
        "design": data.get("design") or _design_of(indicators),
        "primary": _primary_designs(indicators, labels),
        "designs": _designs_of(indicators, labels),
        "checks": _dedupe_checks(checks),
        "notes": _general_notes(data, indicators, labels),
        "flags": _dedupe(plain(f) for f in data.get("flags") or []),
        "validation": {
            "failed": validation.get("valid") is False,
            "ignored": bool(validation.get("ignored")),
            "problems": [
                {
                    "level": str(pr.get("level") or "error"),
                    "path": str(pr.get("path") or ""),
                    "message": plain(pr.get("message")),
                }
                for pr in validation.get("problems") or []
                if isinstance(pr, dict)
            ],
        },
        "glance": glance,
        "truth": truth if isinstance(truth, dict) else None,
        "truth_rows": _truth_rows(rows) if truth else [],
    }
    view["limitations"] = _limitations(view, indicators)
    view["summary"] = _summary(view)
    view["next_steps"] = _next_steps(view, data)
    return view


def _dedupe(items: Any) -> list[Any]:
    """Each text once, in first-seen order (case and spacing ignored)."""
    seen: set[str] = set()
    out = []
    for x in items:
        key = " ".join(str(x).lower().split())
        if key and key not in seen:
            seen.add(key)
            out.append(x)
    return out


def _dedupe_checks(checks: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: set[tuple[str, str]] = set()
    out = []
    for c in checks:
        key = (c["label"], " ".join(c["text"].lower().split()))
        if key not in seen:
            seen.add(key)
            out.append({"label": c["label"], "design": c["design"], "text": plain(c["text"])})
    return out


def _general_notes(
    data: dict[str, Any], indicators: list[dict[str, Any]], labels: dict[str, str]
) -> list[Markup]:
    """Top-level notes and warnings, each once; those already shown with an indicator dropped."""
    shown = {
        " ".join(f"{i.get('id')}: {n}".lower().split())
        for i in indicators
        for n in (i.get("notes") or [])
    }
    out = []
    for n in list(data.get("notes") or []) + list(data.get("warnings") or []):
        key = " ".join(str(n).lower().split())
        if key in shown:
            continue
        text = str(n)
        iid, sep, rest = text.partition(": ")
        if sep and iid in labels:
            text = f"{labels[iid]}: {rest}"
        out.append(plain(text))
    return _dedupe(out)


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
    wdds = [i["wdd"] for i in indicators if isinstance(i.get("wdd"), dict) and i["wdd"]]
    if wdds:
        qp = any(w.get("interval") == "quasi_poisson" for w in wdds)
        first = (
            "The WDD intervals shown allow for counts that vary more than Poisson counts "
            f"(quasi-Poisson; they held the truth {100 * VALIDATED_WDD['quasi_poisson']:.0f}% "
            "of the time in simulation). The published Poisson interval, shown beside them for "
            f"comparison, is too narrow (it held the truth {100 * VALIDATED_WDD['poisson']:.0f}%)."
            if qp
            else "The WDD's published interval assumes Poisson counts; real counts vary more, "
            f"so it is too narrow (it held the truth {100 * VALIDATED_WDD['poisson']:.0f}% of "
            f"the time in simulation, against {100 * VALIDATED_WDD['quasi_poisson']:.0f}% for "
            "the quasi-Poisson interval)."
        )
        out.append(
            first + " The WDD also measures changes in crimes a month: where target and control "
            "differ in size, seasons alone can move it away from zero."
        )
    return out


def _window(plan: dict, indicators: list[dict], key: str) -> tuple[str | None, str | None]:
    for ind in list(plan.get("indicators") or []) + indicators:
        w = ind.get(key) if isinstance(ind, dict) else None
        if isinstance(w, dict) and w.get("from"):
            return str(w.get("from")), str(w.get("to"))
    return None, None


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


def _net_harm(
    net: Any, labels: dict[str, str], threshold: int = 5
) -> tuple[list[tuple[str, float]], list[tuple[str, Any]], list[dict], str]:
    """Bars (harm prevented by crime type), detail rows, the operation's own harms, unit."""
    items: list[tuple[str, float]] = []
    rows: list[tuple[str, Any]] = []
    enforcement: list[dict] = []
    unit = ""
    if not isinstance(net, dict):
        return items, rows, enforcement, unit
    ch = net.get("crime_harm")
    if isinstance(ch, dict):
        unit = str(ch.get("unit") or "")
        est = _f(ch.get("estimate"))
        if est is not None:
            lo, hi = _f(ch.get("ci_low")), _f(ch.get("ci_high"))
            ci = (
                f" (95% CI {_whole(lo)} to {_whole(hi)})"
                if lo is not None and hi is not None
                else ""
            )
            rows.append(("Crime harm prevented, target and buffer", f"{_whole(est)}{ci}"))
        elif ch.get("shown_as") == "band":
            rows.append(("Crime harm prevented, target and buffer", f"{ch.get('band')} (range)"))
        elif ch.get("shown_as") == "withheld":
            rows.append(("Crime harm prevented, target and buffer", "withheld"))
        if ch.get("weights"):
            w = {"cchi": "Cambridge Crime Harm Index"}.get(str(ch["weights"]), str(ch["weights"]))
            rows.append(("Harm weights", f"{w}{' (' + unit + ')' if unit else ''}"))
        for bt in ch.get("by_type") or []:
            if isinstance(bt, dict) and _f(bt.get("harm_prevented")) is not None:
                items.append((str(bt.get("crime_type")), float(bt["harm_prevented"])))
    for comp in net.get("components") or []:
        if isinstance(comp, dict) and _f(comp.get("value")) is not None:
            items.append((str(comp.get("label", comp.get("id", ""))), float(comp["value"])))
    # 'statement' is not repeated: the headline above follows the interval instead
    if isinstance(net.get("note"), str):
        rows.append(("Note", plain(net["note"])))
    for e in (net.get("operation_harms") or []) + (net.get("enforcement") or []):
        if not isinstance(e, dict):
            continue
        monitor = e.get("monitor")
        mlabel = e.get("monitor_label") or (labels.get(str(monitor)) if monitor else None)
        status = str(e.get("status") or ("measured" if monitor else "not monitored"))
        if status == "not measured" and not monitor:
            status = "not monitored"
        area = e.get("area")
        enforcement.append(
            {
                "label": e.get("label") or catalogue_name(str(e.get("id", ""))),
                "monitor": str(mlabel) if mlabel else "",
                "area": str(area) if area else "",
                "status": status,
                "measured": status == "measured",
                "rate": rate_text(
                    {
                        "per_month_before": e.get("before_per_month", e.get("before")),
                        "per_month_after": e.get("after_per_month", e.get("after")),
                        "suppressed": [
                            f"per_month_{w}"
                            for w in ("before", "after")
                            if is_withheld(e, f"{w}_per_month") or is_withheld(e, w)
                        ],
                    },
                    threshold,
                ),
                "change": e.get("change_pct", e.get("change")),
                "note": plain(e.get("mitigation") or e.get("note") or ""),
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
    seen = {str(r.get("month")) for r in recs if isinstance(r, dict) and r.get("month")}
    held = set(ind.get("months_held") or seen)
    # every calendar month of the span, so a month with no data is a gap in the line
    months = month_range(min(held | seen), max(held | seen))
    lines: dict[str, list[Any]] = {}
    for role in ("target", "buffer", "control"):
        by = {
            str(r["month"]): r.get("n")
            for r in recs
            if isinstance(r, dict) and r.get("role") == role
        }
        if by:
            lines[role] = [
                None if m not in held or isinstance(by.get(m), str) else by.get(m, 0)
                for m in months
            ]
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


def _outputs_of(
    data: dict[str, Any], indicators: list[dict[str, Any]], threshold: int = 5
) -> list[dict[str, Any]]:
    """Ledger rows: activity a month before and during, shares, never called impact."""
    rows: list[dict[str, Any]] = []
    for o in data.get("outputs") or []:
        if isinstance(o, dict):
            rows.append(o)
    led = data.get("outputs_ledger")
    if isinstance(led, dict):
        rows += _ledger_rows(led, threshold)
    # a measure with nothing before and nothing during says nothing
    return [
        r
        for r in rows
        if r.get("rate")
        or r.get("unit") != "share"
        or r.get("before") is not None
        or r.get("after") is not None
    ]


def _withheld_as(b: dict[str, Any], a: dict[str, Any], key: str) -> dict[str, list[str]]:
    """The ``suppressed``/``below_threshold`` lists of a before/after pair, renamed to before/after."""
    return {
        "suppressed": [w for w, x in (("before", b), ("after", a)) if is_withheld(x, key)],
        "below_threshold": [w for w, x in (("before", b), ("after", a)) if is_below(x, key)],
    }


def _ledger_rows(led: dict[str, Any], threshold: int = 5) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ds = led.get("drug_searches") if isinstance(led.get("drug_searches"), dict) else {}
    # the engine counts both ledgers over the same baseline and operation months
    mb = ((ds.get("before") or {}).get("months")) if ds else None
    ma = ((ds.get("after") or {}).get("months")) if ds else None
    dc = led.get("drugs_crimes")
    if isinstance(dc, dict):
        b, a = dc.get("before") or {}, dc.get("after") or {}
        scope = f" ({dc['scope']})" if dc.get("scope") else ""
        rows.append(
            {
                "label": f"Drugs offences recorded{scope}",
                "unit": "count",
                "rate": rate_text(
                    {
                        "before": b.get("crimes"),
                        "after": a.get("crimes"),
                        "months_before": b.get("months", mb),
                        "months_after": a.get("months", ma),
                        **_withheld_as(b, a, "crimes"),
                    },
                    threshold,
                ),
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
    if ds:
        b, a = ds.get("before") or {}, ds.get("after") or {}
        rows.append(
            {
                "label": "Searches for controlled drugs",
                "unit": "count",
                "rate": rate_text(
                    {
                        "before": b.get("searches"),
                        "after": a.get("searches"),
                        "months_before": b.get("months"),
                        "months_after": a.get("months"),
                        **_withheld_as(b, a, "searches"),
                    },
                    threshold,
                ),
                "note": plain(ds.get("scope") or ""),
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


def _primary_designs(
    indicators: list[dict[str, Any]], labels: dict[str, str]
) -> list[dict[str, Any]]:
    """The design each verdict rests on, with its Maryland level, weakest first."""
    by: dict[str, dict[str, Any]] = {}
    for ind in indicators:
        v = verdict_of(ind)
        if not v or not v.get("design"):
            continue
        d = str(v["design"])
        level = next(
            (
                s.get("level")
                for s in ind.get("sms") or []
                if isinstance(s, dict) and s.get("design") == d
            ),
            None,
        )
        e = by.setdefault(d, {"design": DESIGN_SHORT.get(d, d), "level": level, "labels": []})
        if e["level"] is None:
            e["level"] = level
        e["labels"].append(labels.get(str(ind.get("id")), _label(ind)))
    return sorted(by.values(), key=lambda e: e["level"] if e["level"] is not None else 99)


def _designs_of(indicators: list[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Each design's Maryland statement once, with the indicators whose checks failed."""
    seen: dict[str, dict[str, Any]] = {}
    for ind in indicators:
        for s in ind.get("sms") or []:
            if not isinstance(s, dict) or not s.get("design"):
                continue
            d = seen.setdefault(
                str(s["design"]),
                {
                    "design": DESIGN_SHORT.get(str(s["design"]), str(s["design"])).capitalize(),
                    "level": s.get("level"),
                    "label": s.get("label", ""),
                    "failed": [],
                },
            )
            for c in s.get("checks_failed") or []:
                if str(c).startswith("placebo start"):
                    c = "a placebo start date showed a 'change' (see the checks below)"
                text = plain(f"{labels.get(str(ind.get('id')), _label(ind))}: {c}")
                if text not in d["failed"]:
                    d["failed"].append(text)
    return sorted(seen.values(), key=lambda d: -(d["level"] or 0))


#: what a shared page says where the plan's free text was left out (an empty cell would read
#: as "no mechanism was planned", which is not what happened)
FREE_TEXT_LEFT_OUT = "(free text is not included in this version)"


def _dropped_fields(data: dict[str, Any]) -> frozenset[str]:
    """Fields the audience's profile drops (from the disclosure manifest in the results)."""
    d = data.get("disclosure")
    rules = d.get("rules") if isinstance(d, dict) else None
    return frozenset((rules or {}).get("dropped_fields") or ())


def _plan_view(
    plan: dict[str, Any], labels: dict[str, str], dropped: frozenset[str] | tuple = ()
) -> dict[str, Any]:
    def text(obj: dict[str, Any], key: str) -> str:
        if key in dropped and obj.get(key) in (None, ""):
            return FREE_TEXT_LEFT_OUT
        return plain(obj.get(key))

    disp = plan.get("displacement")
    if isinstance(disp, dict):
        disp = disp.get("expected")
    support = plan.get("support") if isinstance(plan.get("support"), dict) else {}
    inds = []
    for i in plan.get("indicators") or []:
        if not isinstance(i, dict):
            continue
        base, fol = i.get("baseline") or {}, i.get("follow_up") or {}
        inds.append(
            {
                "label": labels.get(str(i.get("id")), _label(i)),
                "kind": str(i.get("kind") or "outcome"),
                "source": _source_text(i),
                "baseline": f"{base.get('from', '')} to {base.get('to', '')}" if base else "",
                "follow_up": f"{fol.get('from', '')} to {fol.get('to', '')}"
                if fol
                else "the operation months",
                "design": DESIGN_SHORT.get(str(i.get("design")), "") if i.get("design") else "",
            }
        )
    unintended = []
    for u in plan.get("unintended_consequences") or []:
        if not isinstance(u, dict):
            continue
        mon = u.get("monitor")
        unintended.append(
            {
                "name": catalogue_name(str(u.get("id", ""))),
                "mitigation": text(u, "mitigation"),
                "monitor": labels.get(str(mon), _label({"id": mon})) if mon else "not monitored",
                "source": _harm_source(str(u.get("id", ""))),
            }
        )
    return {
        "harms": [
            {
                "name": catalogue_name(str(h.get("id", ""))),
                "mechanism": text(h, "mechanism"),
                "source": _harm_source(str(h.get("id", ""))),
            }
            for h in plan.get("harms") or []
            if isinstance(h, dict)
        ],
        "tactics": [catalogue_name(str(t)) for t in plan.get("tactics") or []],
        "indicators": inds,
        "displacement": plain(disp) if disp else "",
        "unintended": unintended,
        "partners": [str(p) for p in plan.get("partners") or []],
        "support": {
            str(k).replace("_", " ").capitalize(): plain(v) for k, v in support.items() if v
        },
    }


def _truth_rows(rows: dict[str, list[dict]]) -> list[dict]:
    return [r for k in KIND_ORDER for r in rows.get(k, []) if r["true_rr"] is not None]


def _summary(v: dict[str, Any]) -> list[str]:
    """Lines after the one-per-indicator verdicts: net harm, outputs, the operation's harms."""
    out: list[str] = []
    if v["net_line"]:
        out.append(v["net_line"])
    outputs = v["rows"].get("output", [])
    if outputs or v["outputs"]:
        out.append(
            "Police activity (outputs) is reported separately below; it shows what was done, "
            "not whether harm fell."
        )
    if any(e["measured"] for e in v["enforcement"]):
        out.append(
            "The harms the operation itself might cause are set beside the reductions "
            "(see For whom)."
        )
    return out


def _next_steps(v: dict[str, Any], data: dict[str, Any]) -> list[Markup]:
    """The engine's next steps, then rules, stated plainly, that turn the findings into action."""
    steps: list[Any] = [plain(s) for s in data.get("next_steps") or [] if s]
    verdicts = [
        r["verdict"] for k in ("outcome", "indirect") for r in v["rows"].get(k, []) if r["verdict"]
    ]
    changes = {str(x.get("change")) for x in verdicts}
    if "fell" in changes:
        steps.append(
            "Sustain the gains: hand the areas to neighbourhood policing and partners "
            "(housing, treatment) with a plan for the months after enforcement ends."
        )
    if "no_clear_change" in changes:
        steps.append(
            "Where no clear change was found, do not read that as 'no effect': extend the "
            "follow-up or add areas, and ask the analyst for the plan's power calculation, "
            "which says how large a change these areas and months can detect."
        )
    if "not_estimable" in changes:
        steps.append(
            "Where a change could not be estimated with these areas, add comparison areas "
            "with similar crime levels (five or more) before the next evaluation."
        )
    if "rose" in changes:
        steps.append(
            "Where harm rose, review with partners whether the operation caused it and what "
            "mitigation the plan foresaw."
        )
    if any(str(x.get("displacement")) == "displacement" for x in verdicts):
        steps.append(
            "Displacement was seen in the buffer: extend problem-solving and partner work to "
            "those streets rather than following the market with more enforcement."
        )
    if any(e["measured"] for e in v["enforcement"]):
        steps.append(
            "Review the operation's own harms with partners: safeguarding referrals for "
            "children searched, diversion for people found in possession."
        )
    unmonitored = [e["label"] for e in v["enforcement"] if e["status"] == "not monitored"]
    if unmonitored:
        steps.append(
            "Name an indicator in the next plan to monitor: " + "; ".join(unmonitored) + "."
        )
    if any(
        "differed" in str(c["text"]) or "showed a 'change'" in str(c["text"]) for c in v["checks"]
    ):
        steps.append(
            "An assumption check failed for at least one indicator: treat that estimate with "
            "caution and look for a better comparison group."
        )
    if not steps:
        steps.append("Agree with partners what the findings mean for the next plan.")
    return [s if isinstance(s, Markup) else plain(s) for s in _dedupe(steps)]


def escape(s: str) -> str:
    return html.escape(s, quote=True)
