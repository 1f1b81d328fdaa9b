"""Community perceptions: Likert survey waves before and after the operation.

Seed 001 (UKDPC 2009, Box E) lists residents', professionals' and users'
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
or ``after``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from realimpact.errors import ValidationError
from realimpact.evaluation.results import Estimate

__all__ = ["likert_change", "survey_results"]


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


def survey_results(df: pd.DataFrame, *, panel: bool, level: float = 0.95) -> list[dict[str, Any]]:
    """Analyse every (group, question) in a long survey frame; paired when ``panel``.

    A panel needs respondent ids present in both waves; only those are used,
    and the count left out is reported.
    """
    need = {"respondent", "wave", "score"}
    missing = need - set(df.columns)
    if missing:
        raise ValidationError(
            f"survey data lacks column(s) {', '.join(sorted(missing))}", source="survey"
        )
    d = df.copy()
    d["wave"] = d["wave"].astype(str).str.lower()
    bad = set(d["wave"]) - {"before", "after"}
    if bad:
        raise ValidationError(f"values must be before or after, got {sorted(bad)}", source="wave")
    d["score"] = pd.to_numeric(d["score"], errors="coerce")
    for c in ("group", "question"):
        if c not in d.columns:
            d[c] = "all"
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
