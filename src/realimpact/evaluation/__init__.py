"""Evaluation: indicators, designs with their checks, surveys, net harm (see docs/architecture.md).

Entry points::

    evaluate(plan, store, out_dir)          # the whole plan -> results.json (+ report)
    displacement_from_counts(t, b, c, bc)   # WDQ family + WDD from before/after counts
    wdq(...), wdd(...), harm_weighted_wdd(...), wdd_dispersion(...)
    did_counts(...), its_counts(...), fe_glm(...)
    wild_score_bootstrap(...), wild_score_test(...)   # few-treated-clusters inference
    likert_change(...), survey_results(...)
    harm_balance(...), sms_statement(...)

Every estimator returns objects with ``estimate, se, ci_low, ci_high, p, n``
(:class:`~realimpact.evaluation.results.Estimate`).
"""

from realimpact.evaluation.did import DiDResult, did_counts
from realimpact.evaluation.displacement import (
    WDQResult,
    displacement_from_counts,
    harm_weighted_wdd,
    wdd,
    wdd_dispersion,
    wdd_shared_control,
    wdq,
)
from realimpact.evaluation.engine import EvaluationResult, IndicatorResult, evaluate
from realimpact.evaluation.fixed_effects import FEGLMFit, fe_glm
from realimpact.evaluation.its import ITSResult, its_counts
from realimpact.evaluation.maryland import sms_statement
from realimpact.evaluation.net_harm import harm_balance, tne_estimate
from realimpact.evaluation.results import Estimate
from realimpact.evaluation.surveys import likert_change, survey_results
from realimpact.evaluation.wild import WildResult, wild_score_bootstrap, wild_score_test

__all__ = [
    "DiDResult",
    "Estimate",
    "EvaluationResult",
    "FEGLMFit",
    "ITSResult",
    "IndicatorResult",
    "WDQResult",
    "WildResult",
    "did_counts",
    "displacement_from_counts",
    "evaluate",
    "fe_glm",
    "harm_balance",
    "harm_weighted_wdd",
    "its_counts",
    "likert_change",
    "sms_statement",
    "survey_results",
    "tne_estimate",
    "wdd",
    "wdd_dispersion",
    "wdd_shared_control",
    "wdq",
    "wild_score_bootstrap",
    "wild_score_test",
]
