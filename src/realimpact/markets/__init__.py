"""Drug markets as objects: registry, harm assessment, prioritisation, warning, disruptions.

See docs/architecture.md for what this package owns and docs/markets.md for the methods.
Library names match the CLI (``realimpact markets rank`` -> :func:`rank`).
"""

from realimpact.markets.assessment import (
    assess,
    assess_market,
    assessment_history,
    latest_assessments,
)
from realimpact.markets.cusum import cusum_test
from realimpact.markets.disruptions import add_disruption, disruption_summary
from realimpact.markets.ranking import rank, rank_assessments, rank_markets
from realimpact.markets.registry import (
    add_entity,
    export_registry,
    import_registry,
    list_entities,
    show_entity,
)
from realimpact.markets.sensitivity import sensitivity_check
from realimpact.markets.warning import emerging_market_warning, record_indicator

__all__ = [
    "add_disruption",
    "add_entity",
    "assess",
    "assess_market",
    "assessment_history",
    "cusum_test",
    "disruption_summary",
    "emerging_market_warning",
    "export_registry",
    "import_registry",
    "latest_assessments",
    "list_entities",
    "rank",
    "rank_assessments",
    "rank_markets",
    "record_indicator",
    "sensitivity_check",
    "show_entity",
]
