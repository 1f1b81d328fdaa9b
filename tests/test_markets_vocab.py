"""Vocabularies of the market registry: cited data, validation, clear errors (exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.errors import ValidationError
from realimpact.markets import vocab


def test_every_value_is_cited_to_a_seed_section(shared: Path) -> None:
    seeds = {p.name[:3] for p in (shared / "seeds").glob("*.txt")}
    for name in vocab.VOCABULARIES:
        values = vocab.vocabularies()[name]["values"]
        assert values, name
        for v in values:
            assert v["source"]["doc"] in seeds, (name, v["id"])
            assert v["source"]["section"], (name, v["id"])


def test_vocabularies_hold_the_terms_of_the_issue() -> None:
    # The issue and Home Office (2003) Disrupting crack markets, (1.2.2 box, 1.4, Table 3.1) and N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets, (county lines, 4P).
    assert vocab.allowed("level") == ["street", "middle", "import"]
    assert set(vocab.allowed("selling_mode")) == {
        "open-street",
        "closed-street",
        "crack-house",
        "house-based",
        "arrange-to-meet",
        "county-line",
    }
    assert vocab.allowed("four_p") == ["prepare", "prevent", "protect", "pursue"]
    assert vocab.allowed("impact_level") == ["minor", "moderate", "major"]
    for v in vocab.vocabularies()["impact_level"]["values"]:
        assert len(v["criteria"].split()) > 15  # written criteria, not a bare label


def test_linctus_indicators_are_the_19_of_seed_004(shared: Path) -> None:
    text = (shared / "seeds" / "004_ae25794091890fab.txt").read_text("utf-8")
    inds = vocab.linctus_indicators()
    assert [i["order"] for i in inds] == list(range(1, 20))
    for i in inds:
        # each indicator's wording is found in the guide (its first 38 characters)
        assert i["text"][:38] in text, i["id"]


def test_spelling_variants_are_normalised() -> None:
    assert vocab.check("selling_mode", "Open street") == "open-street"
    assert vocab.check("selling_mode", "arrange_to_meet") == "arrange-to-meet"
    assert vocab.check_many("commodity", "crack; heroin,crack") == ["crack", "heroin"]


def test_unknown_selling_mode_names_field_and_choices() -> None:
    with pytest.raises(ValidationError) as e:
        vocab.check("selling_mode", "drive-thru")
    msg = str(e.value)
    assert msg.startswith("selling_mode: unknown value 'drive-thru'")
    for allowed in vocab.allowed("selling_mode"):
        assert allowed in msg


@pytest.mark.parametrize(
    ("scale", "value", "ok"),
    [
        ("impact", 5, True),
        ("impact", "3", True),
        ("impact", 6, False),
        ("likelihood", 2.5, False),
        ("capacity", "x", False),
        ("capability", 1, True),
    ],
)
def test_scales(scale: str, value: object, ok: bool) -> None:
    if ok:
        assert vocab.check_scale(scale, value, field="f") == int(float(value))  # type: ignore[arg-type]
    else:
        with pytest.raises(ValidationError, match=r"^f: "):
            vocab.check_scale(scale, value, field="f")


def test_confidence_grades() -> None:
    assert vocab.check_confidence("high", field="c") == "A"
    assert vocab.check_confidence("b", field="c") == "B"
    with pytest.raises(ValidationError, match="allowed: A, B, C"):
        vocab.check_confidence("D", field="c")


def test_cli_unknown_selling_mode_exits_2_with_one_line(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "realimpact",
            "markets",
            "add",
            "market",
            "m-1",
            "--level",
            "street",
            "--selling-mode",
            "drive-thru",
            "--store",
            str(store),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "selling_mode: unknown value 'drive-thru'" in lines[0]
    assert "open-street" in lines[0]


def test_cli_vocab_json() -> None:
    res = CliRunner().invoke(app, ["markets", "vocab", "selling_mode", "--json"])
    assert res.exit_code == 0, res.output
    import json

    data = json.loads(res.stdout)
    assert [v["id"] for v in data["values"]] == vocab.allowed("selling_mode")
