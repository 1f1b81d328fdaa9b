"""Package boundaries from docs/architecture.md, checked on the import statements.

The evaluation computes and returns result objects; writing report.html and
report.pdf is the report package's job, so the evaluation must never import it
(and the store must not reach into analyses). ``disclosure`` is below all of
them: the analyses and the report call it, it calls none of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "realimpact"


def _imports(package: str) -> list[tuple[str, str]]:
    """(file, imported module) for every import in a package, including lazy ones."""
    out = []
    for f in sorted((SRC / package).rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                out.append((f.name, node.module))
            elif isinstance(node, ast.Import):
                out.extend((f.name, a.name) for a in node.names)
    return out


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("evaluation", "realimpact.report"), ("evaluation", "realimpact.cli"),
     ("report", "realimpact.cli"), ("plans", "realimpact.report"),
     # disclosure sits below every analysis, the report and the web app (issue 12)
     *[("disclosure", f"realimpact.{p}") for p in
       ("harm", "hotspots", "markets", "evaluation", "plans", "report", "cli", "web", "store",
        "simulate", "demo")],
     # harm and hot spots call disclosure, never the report
     ("harm", "realimpact.report"), ("hotspots", "realimpact.report"),
     # the web app is thin: it calls the library, never the CLI, and only store talks SQL
     ("web", "realimpact.cli"), ("web", "duckdb")],
)  # fmt: skip
def test_package_does_not_import(package, forbidden):
    bad = [(f, m) for f, m in _imports(package) if m == forbidden or m.startswith(forbidden + ".")]
    assert not bad, f"{package} imports {forbidden}: {bad}"
    assert _imports(package), "the check read no imports at all"
