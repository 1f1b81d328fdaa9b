"""Community perceptions: Likert survey waves before and after the operation.

UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, (UKDPC 2009, Box E) lists residents', professionals' and users'
perceptions among the sources for judging impact. Likert answers are ordinal,
so the tests are rank tests:

* **panel** (the same respondents in both waves, matched by id): Wilcoxon
  signed-rank test on each person's change (``scipy.stats.wilcoxon``);
* **independent waves** (different people): Mann-Whitney U test
  (``scipy.stats.mannwhitneyu``).

The estimate reported beside the rank test's p-value is the change in mean
score (after minus before) with a t interval, because a chief inspector reads
"the average answer moved from 2.9 to 3.4" more easily than a rank statistic;
the median change and a rank effect size are in ``extra``.

Input: a frame with ``respondent, wave, score`` and optionally ``group``
(residents / professionals / users) and ``question``; ``wave`` is ``before``
or ``after``. Scores are answers on a 5-point Likert or rating scale, 1 to 5
("poor, less than adequate, OK, good, very good": Home Office 2003,
*Disrupting crack markets*, section 4.2.2). :func:`validate_survey` refuses a
score off that scale, an answer that is not a number, and a second answer by
one respondent to one question in one wave, each naming the CSV line and field;
a blank score is a question left unanswered and is counted, not analysed.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from realimpact.errors import ValidationError
from realimpact.evaluation.results import Estimate

__all__ = ["SCALE", "likert_change", "read_survey_csv", "survey_results", "validate_survey"]

# 5-point Likert / rating scale (Home Office 2003, Disrupting crack markets, 4.2.2).
SCALE = (1, 5)


def _t_interval(est: float, se: float, df: float, level: float) -> tuple[float, float]:
    if not np.isfinite(se) or df <= 0:
        return float("nan"), float("nan")
    q = float(stats.t.ppf(0.5 + level / 2, df))
    return est - q * se, est + q * se


def likert_change(
    before: Sequence[float],
    after: Sequence[float],
    *,
    paired: bool,
    level: float = 0.95,
    name: str = "survey",
) -> Estimate:
    """Change in a Likert item between two waves.

    With ``paired=True`` the two sequences are the same respondents in the same
    order (use :func:`survey_results` to match by id).
    """
    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    if not paired:
        b, a = b[np.isfinite(b)], a[np.isfinite(a)]
    if paired:
        if len(a) != len(b):
            raise ValidationError("paired waves must have the same respondents", source="wave")
        ok = np.isfinite(a) & np.isfinite(b)
        d = a[ok] - b[ok]
        n = len(d)
        if n < 2:
            raise ValidationError("need >= 2 respondents answering both waves", source="survey")
        est = float(d.mean())
        se = float(d.std(ddof=1) / np.sqrt(n))
        lo, hi = _t_interval(est, se, n - 1, level)
        if np.all(d == 0):
            p, stat = 1.0, float("nan")
        else:
            r = stats.wilcoxon(d)
            p, stat = float(r.pvalue), float(r.statistic)
        nz = d[d != 0]
        ranks = stats.rankdata(np.abs(nz))
        rbc = float((ranks[nz > 0].sum() - ranks[nz < 0].sum()) / ranks.sum()) if len(nz) else 0.0
        return Estimate(
            name,
            est,
            se,
            lo,
            hi,
            p,
            n,
            "score",
            level,
            "Wilcoxon signed-rank test (panel); mean change with t interval",
            {
                "test": "wilcoxon",
                "statistic": stat,
                "median_change": float(np.median(d)),
                "rank_biserial": rbc,
                "mean_before": float(b[ok].mean()),
                "mean_after": float(a[ok].mean()),
            },
        )
    if len(a) < 2 or len(b) < 2:
        raise ValidationError("need >= 2 answers in each wave", source="survey")
    est = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else 0.0
    lo, hi = _t_interval(est, se, df, level)
    r = stats.mannwhitneyu(a, b, alternative="two-sided")
    return Estimate(
        name,
        est,
        se,
        lo,
        hi,
        float(r.pvalue),
        int(len(a) + len(b)),
        "score",
        level,
        "Mann-Whitney U test (independent waves); mean change with Welch t interval",
        {
            "test": "mannwhitneyu",
            "statistic": float(r.statistic),
            "median_change": float(np.median(a) - np.median(b)),
            "prob_superiority": float(r.statistic / (len(a) * len(b))),
            "mean_before": float(b.mean()),
            "mean_after": float(a.mean()),
        },
    )


def read_survey_csv(path: str | os.PathLike) -> pd.DataFrame:
    """A survey CSV as a frame that knows the physical line of each row.

    ``df.attrs["lines"]`` holds them (header = line 1), so the errors of
    :func:`validate_survey` name the right line even when the file has blank
    lines or a quoted answer spanning lines, which ``pd.read_csv`` hides.
    """
    df = pd.read_csv(path)
    with Path(path).open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        lines, prev, header = [], 0, True
        for rec in reader:
            start, prev = prev + 1, reader.line_num
            if not rec:  # a blank line: pandas skips it too
                continue
            if header:
                header = False
                continue
            lines.append(start)
    if len(lines) == len(df):
        df.attrs["lines"] = lines
    return df


def _row_lines(df: pd.DataFrame) -> list[int]:
    """The CSV line of each row: ``attrs["lines"]`` if known, else the row label + 2.

    A frame from ``pd.read_csv`` is labelled 0, 1, ... from the first data row
    (line 2), and keeps those labels through sorting or filtering.
    """
    lines = df.attrs.get("lines")
    if lines is not None and len(lines) == len(df):
        return [int(x) for x in lines]
    if pd.api.types.is_integer_dtype(df.index.dtype):
        return [int(i) + 2 for i in df.index]
    return list(range(2, len(df) + 2))


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def validate_survey(
    df: pd.DataFrame, source: str | None = None, *, scale: tuple[int, int] = SCALE
) -> pd.DataFrame:
    """Check a long survey frame and return it ready to analyse.

    Every answer must be a whole number on ``scale`` (1-5); a blank score is an
    unanswered question. Wave labels must be ``before`` or ``after`` (any case),
    and a respondent answers each (group, question) at most once per wave: a
    second answer is an error, never averaged in. The first problem is raised
    as a :class:`ValidationError` naming ``source`` (the file), the CSV line
    and the field, with the count of further problems.

    Returns a copy with ``wave`` lower-cased, ``score`` numeric (NaN where
    blank) and ``group``/``question`` set to ``all`` when the columns are absent.
    """
    need = {"respondent", "wave", "score"}
    missing = need - set(df.columns)
    if missing:
        raise ValidationError(
            f"survey data lacks column(s) {', '.join(sorted(missing))}", source=source or "survey"
        )
    lines = _row_lines(df)
    d = df.copy()
    d.attrs = {}
    prefix = f"{source}: " if source else ""

    d["wave"] = d["wave"].astype(str).str.strip().str.lower()
    bad_wave = [i for i, w in enumerate(d["wave"]) if w not in ("before", "after")]
    if bad_wave:
        i = bad_wave[0]
        k = len(bad_wave) - 1
        more = f"; {k} more row{'s' if k > 1 else ''}" if k else ""
        # "wave: values must be ..." first: scripts and tests match on that text
        raise ValidationError(
            f"{prefix}wave: values must be before or after, got {_show(df['wave'].iloc[i])}"
            f" (line {lines[i]}{more})"
        )

    lo, hi = scale
    problems: list[str] = []
    raw = df["score"]
    score = pd.to_numeric(raw, errors="coerce")
    blank = raw.isna() | raw.astype(str).str.strip().eq("")
    for i in np.flatnonzero((~blank).to_numpy()):
        v, x = raw.iloc[i], score.iloc[i]
        if pd.isna(x):
            why = f"{_show(v)} is not a number on the {lo}-{hi} scale"
        elif not np.isfinite(x) or x != round(x):
            why = f"{x:g} is not a whole number on the {lo}-{hi} scale"
        elif not lo <= x <= hi:
            why = f"{x:g} is outside the {lo}-{hi} scale"
        else:
            continue
        problems.append(f"line {lines[i]}: score: {why}")
    d["score"] = score.where(~blank)
    for c in ("group", "question"):
        if c not in d.columns:
            d[c] = "all"

    keys = ["group", "question", "wave", "respondent"]
    first: dict[tuple, int] = {}
    for i, key in enumerate(d[keys].itertuples(index=False, name=None)):
        if pd.isna(key[3]):  # anonymous answers cannot repeat a respondent
            continue
        if key in first:
            g, q, w, r = key
            what = "" if q == "all" else f" question {_show(q)}"
            who = "" if g == "all" else f" in group {_show(g)}"
            problems.append(
                f"line {lines[i]}: respondent: {_show(r)} answered{what}{who} twice in wave {w}"
                f" (first on line {lines[first[key]]})"
            )
        else:
            first[key] = i
    if problems:
        problems.sort(key=lambda m: int(m.split(":", 1)[0].split()[1]))
        k = len(problems) - 1
        more = f" ({k} more problem{'s' if k > 1 else ''})" if k else ""
        raise ValidationError(f"{prefix}{problems[0]}{more}")
    return d


def survey_results(
    df: pd.DataFrame,
    *,
    panel: bool,
    level: float = 0.95,
    source: str | None = None,
    scale: tuple[int, int] = SCALE,
) -> list[dict[str, Any]]:
    """Analyse every (group, question) in a long survey frame; paired when ``panel``.

    The frame is checked first (:func:`validate_survey`; ``source`` names the
    file in its errors). A panel needs respondent ids present in both waves;
    only those are used, and the count left out is reported. ``n_before`` and
    ``n_after`` count rows; ``unanswered`` counts the blank scores among them.
    """
    d = validate_survey(df, source, scale=scale)
    out = []
    for (g, q), part in d.groupby(["group", "question"], sort=True):
        bef = part[part["wave"] == "before"]
        aft = part[part["wave"] == "after"]
        row: dict[str, Any] = {
            "group": g,
            "question": q,
            "paired": panel,
            "n_before": len(bef),
            "n_after": len(aft),
            "unanswered": int(part["score"].isna().sum()),
        }
        try:
            if panel:
                m = (
                    bef.groupby("respondent")["score"]
                    .mean()
                    .to_frame("b")
                    .join(aft.groupby("respondent")["score"].mean().to_frame("a"), how="inner")
                )
                row["unmatched"] = len(set(bef["respondent"]) ^ set(aft["respondent"]))
                est = likert_change(m["b"], m["a"], paired=True, level=level, name=f"{g}:{q}")
            else:
                est = likert_change(
                    bef["score"], aft["score"], paired=False, level=level, name=f"{g}:{q}"
                )
            row["result"] = est.to_dict()
        except ValidationError as e:
            row["result"] = None
            row["note"] = str(e)
        out.append(row)
    return out
