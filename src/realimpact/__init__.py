"""realimpact: harm-focused ("Real Impact") policing of drug markets.

Library first: every CLI command is a call to a function re-exported here.
Re-exports are resolved lazily (PEP 562) so ``import realimpact`` and the CLI
start fast; ``tests/test_api.py`` checks every name in ``__all__`` resolves.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "RealImpactError": "realimpact.errors",
    "InputError": "realimpact.errors",
    "RejectedFileError": "realimpact.errors",
    "ValidationError": "realimpact.errors",
    "StoreError": "realimpact.errors",
    "StoreBusyError": "realimpact.errors",
    "StoreRefusedError": "realimpact.errors",
    "StoreDamagedError": "realimpact.errors",
    "StoreAccessError": "realimpact.errors",
    # store
    "Store": "realimpact.store",
    "open_store": "realimpact.store",
    "store_status": "realimpact.store.status",
    "record_counts": "realimpact.store.queries",
    "record_points": "realimpact.store.queries",
    "months_present": "realimpact.store.queries",
    # sources
    "ingest_police_uk": "realimpact.sources.police_uk",
    "IngestResult": "realimpact.sources.police_uk",
    # geo
    "ingest_boundaries": "realimpact.geo.areas",
    "read_boundaries": "realimpact.geo.areas",
    "build_grid": "realimpact.geo.areas",
    "load_layer": "realimpact.geo.areas",
    "assign_records": "realimpact.geo.areas",
    "to_bng": "realimpact.geo.crs",
    "to_wgs84": "realimpact.geo.crs",
    # harm
    "harm_index": "realimpact.harm",
    "harm_index_from_counts": "realimpact.harm",
    "partner_index": "realimpact.harm",
    "harm_map": "realimpact.harm",
    "harm_taxonomy": "realimpact.harm",
    "harm_weights": "realimpact.harm",
    "compare_weights": "realimpact.harm",
    "load_taxonomy": "realimpact.harm",
    "enforcement_harms": "realimpact.harm",
    "harm_ids": "realimpact.harm",
    "get_weights": "realimpact.harm",
    "community_weights": "realimpact.harm",
    "WeightSet": "realimpact.harm",
    "CRIME_TYPES": "realimpact.harm",
    # partner and population data
    "ingest_population": "realimpact.sources.population",
    "ingest_partner": "realimpact.sources.partner",
    # markets
    "add_entity": "realimpact.markets.registry",
    "import_registry": "realimpact.markets.registry",
    "export_registry": "realimpact.markets.registry",
    "list_entities": "realimpact.markets.registry",
    "show_entity": "realimpact.markets.registry",
    "assess_market": "realimpact.markets.assessment",
    "rank_markets": "realimpact.markets.ranking",
    "emerging_market_warning": "realimpact.markets.warning",
    "record_indicator": "realimpact.markets.warning",
    "add_disruption": "realimpact.markets.disruptions",
    "disruption_summary": "realimpact.markets.disruptions",
    "cusum_test": "realimpact.markets.cusum",
    # hot spots
    "GiStar": "realimpact.hotspots",
    "EmergingHotSpots": "realimpact.hotspots",
    "KernelDensity": "realimpact.hotspots",
    "kernel_density": "realimpact.hotspots",
    "mann_kendall": "realimpact.hotspots",
    "harm_values": "realimpact.hotspots",
    "hotspots_gi": "realimpact.hotspots",
    "hotspots_kde": "realimpact.hotspots",
    "hotspots_emerging": "realimpact.hotspots",
    # simulation, report, demo
    "simulate_city": "realimpact.simulate",
    "simulate_counts": "realimpact.simulate",
    "SimulationParams": "realimpact.simulate",
    "render_report": "realimpact.report",
    "partner_results": "realimpact.evaluation.sharing",
    "safe_results": "realimpact.evaluation.sharing",
    "get_profile": "realimpact.disclosure",
    "html_to_pdf": "realimpact.report",
    "partner_frame": "realimpact.disclosure",
    "run_demo": "realimpact.demo",
    # plans
    "validate_plan": "realimpact.plans",
    "load_plan": "realimpact.plans",
    "plan_power": "realimpact.plans",
    "write_plan_template": "realimpact.plans",
    "plan_template": "realimpact.plans",
    "plan_catalogue": "realimpact.plans",
    "tactics_for": "realimpact.plans",
    "Plan": "realimpact.plans",
    "PlanValidation": "realimpact.plans",
    "PowerResult": "realimpact.plans",
    # evaluation
    "evaluate": "realimpact.evaluation",
    "displacement_from_counts": "realimpact.evaluation",
    "wdq": "realimpact.evaluation",
    "wdd": "realimpact.evaluation",
    "harm_weighted_wdd": "realimpact.evaluation",
    "did_counts": "realimpact.evaluation",
    "its_counts": "realimpact.evaluation",
    "fe_glm": "realimpact.evaluation",
    "likert_change": "realimpact.evaluation",
    "Estimate": "realimpact.evaluation",
    "EvaluationResult": "realimpact.evaluation",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'realimpact' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
