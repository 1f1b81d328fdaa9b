"""Primary and secondary suppression of linked tables.

Primary suppression hides every count from 1 to threshold-1. It is not
enough on its own: a month hidden beside its shown neighbours and the shown
before/after total is the total minus the others (docs/sharing.md has the
City of London case). Secondary suppression treats the figures of an output
as one :class:`LinkedTable` (cells and the relations "this total is the sum
of these parts", along time, geography and crime types) and withholds
further cells until :mod:`realimpact.disclosure.audit` finds no suppressed
cell given back or narrowed.

Which further cell: the published cell of least ``cost`` (by default its
value: small counts first) that shares a relation with the leaking cell and
is at least the threshold (a zero or a small count is never withheld as a
"secondary": the reader is told a withheld cell is at least the threshold).
Callers give totals a high cost, so months go before the before/after totals
every derived measure is computed from. The loop ends when the audit is
clean or nothing is left to withhold (``unresolved``: the caller must then
withhold the whole table).

Typical use by an analysis (the other analyses follow the same pattern)::

    t = LinkedTable()
    for month, n in months.items():
        t.add(("m", month), n)
    t.add(("total",), sum(months.values()), cost=1000)
    t.relate(("total",), [("m", m) for m in months])
    result = protect(t, threshold=5)
    result.kind(("m", "2020-04"))   # "primary" | "secondary" | "masked" | None
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from realimpact.disclosure.audit import Leak, disclosed_range, feasible_intervals, leaks

Cell = Hashable


def is_small(value: object, threshold: int) -> bool:
    """True for a count that must not be shown (0 < value < threshold)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if value != value or value in (float("inf"), float("-inf")):
        return False
    return 0 < value < threshold


def primary(values: dict[Cell, float], threshold: int) -> set[Cell]:
    """Cells whose own value is below the threshold (and not zero)."""
    return {c for c, v in values.items() if is_small(v, threshold)}


@dataclass
class LinkedTable:
    """Cells with exact values, the sum relations between them, and a cost per cell.

    ``hidden`` cells are never published (a complement such as "records with
    an outcome other than no further action", per-area counts behind a role
    total): they are unknowns to a reader from the start, and protected like
    any other cell when they are small.
    """

    values: dict[Cell, float] = field(default_factory=dict)
    relations: list[tuple[Cell, tuple[Cell, ...]]] = field(default_factory=list)
    cost: dict[Cell, float] = field(default_factory=dict)
    hidden: set[Cell] = field(default_factory=set)
    masked: set[Cell] = field(default_factory=set)

    def add(
        self, cell: Cell, value: float, *, cost: float | None = None, hidden: bool = False
    ) -> None:
        self.values[cell] = value
        self.cost[cell] = float(value if cost is None else cost)
        if hidden:
            self.hidden.add(cell)

    def relate(self, total: Cell, parts: Iterable[Cell]) -> None:
        """``total`` is the sum of ``parts`` (cells not added are taken as published zeros)."""
        parts = tuple(parts)
        for c in (total, *parts):
            self.values.setdefault(c, 0)
            self.cost.setdefault(c, 0.0)
        self.relations.append((total, parts))

    def mask(self, cells: Iterable[Cell]) -> None:
        """Withhold ``cells`` without saying what they are (0 upwards to a reader)."""
        self.masked.update(c for c in cells if c in self.values)


@dataclass
class Protection:
    """The outcome: which cells are withheld and why, and what the audit still finds."""

    threshold: int
    primary: set[Cell]
    secondary: set[Cell]
    masked: set[Cell]
    unresolved: list[Leak]
    rounds: int

    def kind(self, cell: Cell) -> str | None:
        if cell in self.masked:
            return "masked"
        if cell in self.primary:
            return "primary"
        if cell in self.secondary:
            return "secondary"
        return None

    @property
    def withheld(self) -> set[Cell]:
        return self.primary | self.secondary | self.masked


def unknown_ranges(
    table: LinkedTable, threshold: int, prim: set[Cell], sec: set[Cell]
) -> dict[Cell, tuple[float, float]]:
    """The range a reader is told for every cell they cannot see."""
    out = {}
    for c in table.values:
        if c in table.masked or c in table.hidden:
            out[c] = disclosed_range("masked", threshold)
        elif c in prim:
            out[c] = disclosed_range("primary", threshold)
        elif c in sec:
            out[c] = disclosed_range("secondary", threshold)
    return out


def audit_table(table: LinkedTable, threshold: int, prim: set[Cell], sec: set[Cell]) -> list[Leak]:
    """Leaks of ``table`` published with ``prim``/``sec`` withheld (and its masked, hidden cells)."""
    unknown = unknown_ranges(table, threshold, prim, sec)
    published = {c: v for c, v in table.values.items() if c not in unknown}
    intervals = feasible_intervals(table.relations, published, unknown)
    return leaks(intervals, table.values, threshold, set(unknown) - table.hidden)


def protect(table: LinkedTable, threshold: int, *, max_rounds: int = 200) -> Protection:
    """Primary suppression, then secondary suppression until the audit is clean."""
    if threshold <= 0:
        return Protection(threshold, set(), set(), set(), [], 0)
    prim = primary(table.values, threshold) - table.hidden - table.masked
    sec: set[Cell] = set()
    rel_of: dict[Cell, list[int]] = {}
    for i, (total, parts) in enumerate(table.relations):
        for c in (total, *parts):
            rel_of.setdefault(c, []).append(i)
    found: list[Leak] = []
    for rnd in range(1, max_rounds + 1):
        found = audit_table(table, threshold, prim, sec)
        if not found:
            return Protection(threshold, prim, sec, set(table.masked), [], rnd)
        added = False
        before = prim | sec  # one round's picks see the same table, so two leaks share a pick
        for leak in found:
            pick = _candidate(table, leak.cell, rel_of, before, threshold)
            if pick is not None and pick not in sec:
                sec.add(pick)
                added = True
        if not added:
            break
    return Protection(threshold, prim, sec, set(table.masked), found, rnd)


def _candidate(
    table: LinkedTable,
    cell: Cell,
    rel_of: dict[Cell, list[int]],
    withheld: set[Cell],
    threshold: int,
) -> Cell | None:
    """The cheapest published cell (>= threshold) linked to ``cell``, nearest relations first."""
    seen_rel: set[int] = set()
    frontier: Sequence[Cell] = [cell]
    seen_cells = {cell}
    unseen = table.hidden | table.masked | withheld
    while frontier:
        options: list[Cell] = []
        nxt: list[Cell] = []
        for c in frontier:
            for i in rel_of.get(c, []):
                if i in seen_rel:
                    continue
                seen_rel.add(i)
                total, parts = table.relations[i]
                for m in (total, *parts):
                    if m in seen_cells:
                        continue
                    seen_cells.add(m)
                    if m in unseen:
                        nxt.append(m)  # reach further through other unknowns
                    elif table.values.get(m, 0) >= threshold:
                        options.append(m)
        if options:
            return min(options, key=lambda m: (table.cost.get(m, 0.0), repr(m)))
        frontier = nxt
    return None
