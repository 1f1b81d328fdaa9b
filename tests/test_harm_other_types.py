"""The harm index says what it leaves out: records of crime types outside today's 14.

police.uk used other names before 2013 ("Violent crime" became "Violence and
sexual offences"). A real City of London file with some rows renamed so is
ingested; the index keeps its 14 columns and says how many records it left out.
"""

from __future__ import annotations

import csv
import io

from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.harm.index import harm_index
from realimpact.sources.police_uk import ingest_police_uk
from realimpact.store import open_store
from tests.conftest import POLICE_UK

SRC = POLICE_UK / "city_of_london" / "street" / "2019-06-city-of-london-street.csv"


def test_crime_types_outside_the_fourteen_are_named_not_silently_dropped(tmp_path):
    rows = list(csv.reader(io.StringIO(SRC.read_text("utf-8"))))
    col = rows[0].index("Crime type")
    renamed = 0
    for r in rows[1:]:
        if r[col] == "Violence and sexual offences":
            r[col] = "Violent crime"
            renamed += 1
    assert renamed > 0
    f = tmp_path / "2019-06-city-of-london-street.csv"
    with f.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out, lineterminator="\n").writerows(rows)
    store = tmp_path / "s.duckdb"
    assert ingest_police_uk([f], store).ok
    with open_store(store) as st:
        idx = harm_index(st)
        chosen = harm_index(st, crime_types=["Drugs"])
    notes = idx.attrs["notes"]
    assert any(f"Violent crime ({renamed:,})" in n for n in notes), notes
    lsoa = rows[0].index("LSOA code")
    kept = [r for r in rows[1:] if r[lsoa] and r[col] != "Violent crime"]
    assert int(idx["count"].sum()) == len(kept)  # rows with an area, of the 14 types
    # a chosen list of types leaves the others out on purpose: no note
    assert not any("Violent crime" in n for n in chosen.attrs["notes"])
    r = CliRunner().invoke(app, ["harm", "index", "--store", str(store)])
    assert r.exit_code == 0 and "Violent crime" in r.output
