"""The library's own checker: what can a reader work out about a suppressed cell?

Given the linear relations an output publishes (a total is the sum of its
parts: months and the before/after total, areas and the role total, crime
types and all crime) and the values it shows, every suppressed cell is an
integer unknown bounded by what the rule itself discloses:

* ``primary``: shown as "fewer than N": 1 to N-1;
* ``secondary``: withheld to protect another cell; the algorithm only ever
  withholds a count of at least N, and a reader who knows the algorithm
  knows that: N upwards;
* ``masked`` and ``hidden``: withheld without saying what they are (the parts
  of a total that is itself small), or never published: 0 upwards.

:func:`feasible_intervals` finds, by integer linear programming
(``scipy.optimize.milp``, a minimum and a maximum per unknown), the values
each unknown can still take. :func:`leaks` compares them with the
protection every sensitive cell is owed: a true count of 1 to N-1 must keep
every one of 1 to N-1 possible (a cell shown as below 5 that the published
figures pin to 4, or to 3 or 4, is a leak), and no suppressed cell may be
pinned to one value. Tests check this against a brute-force enumeration.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

Cell = Hashable
Relation = tuple[Cell, Sequence[Cell]]  # (total, parts): total == sum(parts)

INF = math.inf
#: "no upper bound", kept finite so the solver stays well posed
BIG = 1e7


@dataclass(frozen=True)
class Leak:
    """A suppressed cell the published figures give back (exactly, or narrowed)."""

    cell: Cell
    low: float
    high: float
    owed: tuple[int, int] | None  # the range it must keep, for a sensitive cell

    def __str__(self) -> str:
        return f"{self.cell}: only {self.low:g}..{self.high:g} possible"


def disclosed_range(kind: str, threshold: int) -> tuple[float, float]:
    """What the rule itself tells a reader about a cell of ``kind``."""
    if kind == "primary":
        return 1.0, float(threshold - 1)
    if kind == "secondary":
        return float(threshold), INF
    return 0.0, INF  # masked, hidden


def _components(relations: Sequence[Relation], unknown: set[Cell]) -> list[tuple[set, list]]:
    """Unknowns grouped by the relations that tie them together (each solved on its own)."""
    parent: dict[Cell, Cell] = {u: u for u in unknown}

    def find(x: Cell) -> Cell:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    rel_unknowns = []
    for total, parts in relations:
        us = [c for c in (total, *parts) if c in unknown]
        rel_unknowns.append(us)
        for a, b in itertools.pairwise(us):
            parent[find(a)] = find(b)
    groups: dict[Cell, tuple[set, list]] = {}
    for u in unknown:
        groups.setdefault(find(u), (set(), []))[0].add(u)
    for rel, us in zip(relations, rel_unknowns, strict=True):
        if us:
            groups[find(us[0])][1].append(rel)
    return list(groups.values())


def feasible_intervals(
    relations: Sequence[Relation],
    published: Mapping[Cell, float],
    unknown: Mapping[Cell, tuple[float, float]],
) -> dict[Cell, tuple[float, float]]:
    """The integer interval each unknown can take given the published values and relations.

    ``published``: cells a reader sees, with their values (exact: rounding is
    not counted on). ``unknown``: suppressed or unpublished cells with the
    range the rule discloses. Relations whose cells are neither are ignored
    (a reader cannot use them). Infeasible systems raise ValueError: the
    relations do not hold for the published values, which is a bug upstream.
    """
    out: dict[Cell, tuple[float, float]] = {}
    unknown_set = set(unknown)
    for cells, rels in _components(relations, unknown_set):
        order = sorted(cells, key=repr)
        if not rels:
            for c in order:
                out[c] = unknown[c]
            continue
        idx = {c: i for i, c in enumerate(order)}
        rows, rhs = [], []
        for total, parts in rels:
            row = np.zeros(len(order))
            const = 0.0
            for c, sign in [(total, -1.0)] + [(p, 1.0) for p in parts]:
                if c in idx:
                    row[idx[c]] += sign
                elif c in published:
                    const += sign * float(published[c])
                else:
                    raise ValueError(f"relation cell {c!r} is neither published nor unknown")
            rows.append(row)
            rhs.append(-const)
        a = np.array(rows)
        b = np.array(rhs)
        lo = np.array([unknown[c][0] for c in order], dtype=float)
        hi = np.minimum([unknown[c][1] for c in order], BIG)
        cons = LinearConstraint(a, b, b)
        bounds = Bounds(lo, hi)
        integrality = np.ones(len(order))
        for i, c in enumerate(order):
            got = []
            for sense in (1.0, -1.0):
                obj = np.zeros(len(order))
                obj[i] = sense
                res = milp(obj, constraints=cons, bounds=bounds, integrality=integrality)
                if res.status != 0:
                    raise ValueError(f"no values fit the published relations ({res.message})")
                x = float(round(res.x[i]))
                got.append(INF if x >= BIG else x)
            out[c] = (got[0], got[1])
    return out


def leaks(
    intervals: Mapping[Cell, tuple[float, float]],
    true_values: Mapping[Cell, float],
    threshold: int,
    suppressed: Iterable[Cell],
) -> list[Leak]:
    """Cells given back: a sensitive cell (1..threshold-1) that lost a possible value,
    or a suppressed cell pinned to one value."""
    out = []
    supp = set(suppressed)
    for c, (lo, hi) in intervals.items():
        v = true_values.get(c)
        sensitive = v is not None and 0 < v < threshold
        if sensitive and (lo > 1 or hi < threshold - 1):
            out.append(Leak(c, lo, hi, (1, threshold - 1)))
        elif c in supp and lo == hi:
            out.append(Leak(c, lo, hi, None))
    return sorted(out, key=lambda x: repr(x.cell))
