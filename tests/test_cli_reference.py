"""docs/cli.md is generated from the CLI and must match it (regenerate, don't edit)."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO


def test_cli_reference_is_current():
    spec = importlib.util.spec_from_file_location(
        "cli_reference", REPO / "scripts/cli_reference.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    committed = (REPO / "docs/cli.md").read_text()
    assert committed == mod.render(), "docs/cli.md is stale: run python scripts/cli_reference.py"


def test_every_command_is_in_the_reference_and_readme_links_it():
    text = (REPO / "docs/cli.md").read_text()
    for cmd in ("ingest police-uk", "ingest boundaries", "areas grid", "status", "harm index",
                "hotspots gi", "markets rank", "plan validate", "evaluate", "demo"):  # fmt: skip
        assert f"`realimpact {cmd}`" in text, cmd
    assert "docs/cli.md" in (REPO / "README.md").read_text()
