"""Operation plans: state the harms, mechanism, tactics and measures before the operation.

See docs/architecture.md ("Operation plan" contract) and docs/plans.md. The catalogues
(tactics, displacement, demand reduction, information sources, indicators)
are cited data in ``plans/data``; unintended consequences are the harm
taxonomy's enforcement harms.
"""

from realimpact.plans.catalogues import (
    demand_reduction,
    displacement_for,
    displacement_table,
    get_tactic,
    indicator_catalogue,
    information_sources,
    output_indicators,
    plan_catalogue,
    selling_modes,
    tactics,
    tactics_for,
    unintended_consequences,
)
from realimpact.plans.model import Indicator, Issue, Plan, Window, load_plan, parse_plan
from realimpact.plans.power import PowerResult, fit_did_poisson, plan_power
from realimpact.plans.template import plan_template, write_plan_template
from realimpact.plans.validate import PlanValidation, validate_plan

__all__ = [
    "Indicator",
    "Issue",
    "Plan",
    "PlanValidation",
    "PowerResult",
    "Window",
    "demand_reduction",
    "displacement_for",
    "displacement_table",
    "fit_did_poisson",
    "get_tactic",
    "indicator_catalogue",
    "information_sources",
    "load_plan",
    "output_indicators",
    "parse_plan",
    "plan_catalogue",
    "plan_power",
    "plan_template",
    "selling_modes",
    "tactics",
    "tactics_for",
    "unintended_consequences",
    "validate_plan",
    "write_plan_template",
]
