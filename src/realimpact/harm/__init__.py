"""Harm: the taxonomy from the source documents, crime-type harm weights, harm indices.

See docs/architecture.md for what this package owns and docs/harm.md for the methods.
"""

from realimpact.harm.index import harm_index, harm_index_from_counts, partner_index
from realimpact.harm.maps import harm_map
from realimpact.harm.sensitivity import compare_indices, compare_weights
from realimpact.harm.taxonomy import (
    enforcement_harms,
    harm_ids,
    harm_taxonomy,
    load_taxonomy,
)
from realimpact.harm.weights import (
    CRIME_TYPES,
    WeightSet,
    community_weights,
    get_weights,
    harm_weights,
    read_weights_file,
)

__all__ = [
    "CRIME_TYPES",
    "WeightSet",
    "community_weights",
    "compare_indices",
    "compare_weights",
    "enforcement_harms",
    "get_weights",
    "harm_ids",
    "harm_index",
    "harm_index_from_counts",
    "harm_map",
    "harm_taxonomy",
    "harm_weights",
    "load_taxonomy",
    "partner_index",
    "read_weights_file",
]
