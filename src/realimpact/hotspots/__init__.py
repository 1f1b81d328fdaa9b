"""Hot spots: where (harm-weighted) crime concentrates, and how that changes.

* :class:`GiStar` - local Getis-Ord Gi* with conditional-permutation p-values,
  FDR/Bonferroni correction and ``hot-99 ... cold-99`` classes;
* :func:`kernel_density` - quartic/Gaussian KDE with a documented bandwidth rule;
* :class:`EmergingHotSpots` - Gi* per month plus Mann-Kendall, ESRI's categories;
* ``hotspots_gi`` / ``hotspots_kde`` / ``hotspots_emerging`` - the same on the store
  (what the ``realimpact hotspots`` commands call).

Submodules are imported lazily so ``import realimpact`` stays fast.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EmergingHotSpots",
    "GiStar",
    "KernelDensity",
    "harm_values",
    "hotspots_emerging",
    "hotspots_gi",
    "hotspots_kde",
    "kernel_density",
    "mann_kendall",
]

_WHERE = {
    "GiStar": "gi",
    "harm_values": "gi",
    "EmergingHotSpots": "emerging",
    "KernelDensity": "kde",
    "kernel_density": "kde",
    "mann_kendall": "mann_kendall",
    "hotspots_gi": "layers",
    "hotspots_kde": "layers",
    "hotspots_emerging": "layers",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        from importlib import import_module

        return getattr(import_module(f"realimpact.hotspots.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'realimpact.hotspots' has no attribute {name!r}")
