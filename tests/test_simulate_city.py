"""The simulator writes real formats, is reproducible, and its truth is what the data hold."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from realimpact.errors import ValidationError
from realimpact.simulate import SimulationParams, files_digest, simulate_city, simulate_counts

SMALL = {
    "n_areas": 40,
    "months": 18,
    "start": "2023-01",
    "op_start": "2024-01",
    "op_months": 3,
    "baseline_months": 6,
    "n_target": 5,
    "n_buffer": 8,
    "n_control": 12,
    "survey_per_role": 20,
}


@pytest.fixture(scope="module")
def small_city(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("sim")
    return simulate_city(out, SimulationParams(seed=5, **SMALL))


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


def _read_all(paths: list[Path]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths])


def test_headers_are_exactly_the_real_police_uk_headers(small_city, shared: Path) -> None:
    real = shared / "data" / "police_uk" / "city_of_london"
    real_street = _header(next(iter(sorted((real / "street").glob("*.csv")))))
    real_search = _header(next(iter(sorted((real / "stop_and_search").glob("*.csv")))))
    for p in small_city.files["street"]:
        assert _header(p) == real_street
    for p in small_city.files["stop_and_search"]:
        assert _header(p) == real_search
    # file naming as police.uk publishes it: YYYY-MM/YYYY-MM-<force>-street.csv
    first = small_city.files["street"][0]
    assert first.parent.name == "2023-01" and first.name == "2023-01-synthton-street.csv"


def test_values_come_from_the_real_vocabularies(small_city, shared: Path) -> None:
    pu = shared / "data" / "police_uk"
    real = _read_all(
        sorted((pu / "city_of_london" / "street").glob("*.csv"))
        + sorted((pu / "merseyside" / "street").glob("*.csv"))
    )
    sim = _read_all(small_city.files["street"])
    assert set(sim["Crime type"]) == set(real["Crime type"])  # all 14 types present
    assert set(sim["Last outcome category"]) <= set(real["Last outcome category"])
    asb = sim["Crime type"] == "Anti-social behaviour"
    # anti-social behaviour has no Crime ID and no outcome; crimes have a 64-hex id
    assert (sim.loc[asb, "Crime ID"] == "").all() and (
        sim.loc[asb, "Last outcome category"] == ""
    ).all()
    assert sim.loc[~asb, "Crime ID"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert sim["Location"].str.startswith(("On or near ", "No location")).all()
    unlocated = sim["Location"] == "No location"
    assert unlocated.any() and (sim.loc[unlocated, ["Longitude", "LSOA code"]] == "").all().all()

    real_ss = _read_all(sorted((pu / "city_of_london" / "stop_and_search").glob("*.csv")))
    ss = _read_all(small_city.files["stop_and_search"])
    for col in (
        "Type",
        "Gender",
        "Age range",
        "Self-defined ethnicity",
        "Officer-defined ethnicity",
        "Legislation",
        "Object of search",
        "Outcome",
        "Outcome linked to object of search",
        "Removal of more than just outer clothing",
    ):
        assert set(ss[col]) - {""} <= set(real_ss[col]) - {""}, col
    assert ss["Date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00").all()
    assert set(ss["Part of a policing operation"]) <= {"True", "False"}


def test_points_lie_in_the_lsoa_they_are_coded_to(small_city) -> None:
    import pyogrio.raw
    import shapely
    from pyproj import CRS

    from realimpact.geo.crs import to_bng

    meta, _, wkb, fields = pyogrio.raw.read(small_city.files["boundaries"][0])
    assert CRS.from_user_input(meta["crs"]).to_epsg() == 27700
    codes = list(fields[list(meta["fields"]).index("LSOA11CD")])
    polygons = shapely.from_wkb(wkb)
    assert codes == sorted(codes)
    geom = dict(zip(codes, polygons, strict=True))
    sim = _read_all(small_city.files["street"])
    sim = sim[sim["Longitude"] != ""]
    x, y = to_bng(sim["Longitude"].astype(float), sim["Latitude"].astype(float))
    inside = [
        shapely.contains_xy(geom[c], xi, yi)
        for c, xi, yi in zip(sim["LSOA code"], x, y, strict=True)
    ]
    assert all(inside)
    # areas tile the city: no overlaps (sum of areas = area of the union)
    union = shapely.union_all(polygons)
    assert math.isclose(sum(g.area for g in polygons), union.area, rel_tol=1e-6)


def test_same_seed_same_files_other_seed_other_files(small_city, tmp_path: Path) -> None:
    again = simulate_city(tmp_path / "again", SimulationParams(seed=5, **SMALL))
    assert files_digest(again.out_dir) == files_digest(small_city.out_dir)
    other = simulate_city(tmp_path / "other", SimulationParams(seed=6, **SMALL))
    a, b = files_digest(small_city.out_dir), files_digest(other.out_dir)
    assert a.keys() == b.keys()
    assert sum(a[k] != b[k] for k in a) >= len(a) - 1  # every data file differs


def test_counts_in_files_equal_in_memory_counts(small_city) -> None:
    sim = _read_all(small_city.files["street"])
    sim = sim[sim["LSOA code"] != ""]
    files = sim.groupby(["LSOA code", "Month", "Crime type"]).size()
    mem = simulate_counts(SimulationParams(seed=5, **SMALL)).counts
    mem = mem[mem["n"] > 0].set_index(["area_id", "month", "crime_type"])["n"]
    assert files.sort_index().to_dict() == mem.sort_index().to_dict()


def test_rates_per_resident_match_merseyside(shared: Path, tmp_path: Path) -> None:
    """Default rates are Merseyside's: checked against the real files and ONS population.

    Merseyside street files 2018-10..2019-02 (``shared/data/police_uk/merseyside``)
    and the 2018 Merseyside population in ``ons_population_by_police_force_area``.
    """
    pu = shared / "data" / "police_uk" / "merseyside" / "street"
    real = _read_all(sorted(pu.glob("*.csv")))
    real = real[real["LSOA code"] != ""]
    pop = pd.read_csv(
        shared / "data" / "population" / "ons_population_by_police_force_area_2009_2019_castro.csv"
    )
    mersey = float(pop.loc[pop["year"] == 2018, "Merseyside"].iloc[0])
    real_rate = len(real) / real["Month"].nunique() / mersey * 1000
    s = simulate_counts(seed=11)
    c = s.counts[s.counts["month"] < s.op_start]
    t = json.loads(json.dumps(s.truth))  # plain data
    assert t["Drugs"]["rate_ratio"] == 1.3
    city_pop = 1550 * 120  # documented default size
    sim_rate = c["n"].sum() / c["month"].nunique() / city_pop * 1000
    assert sim_rate == pytest.approx(real_rate, rel=0.15)
    real_share = real["Crime type"].value_counts(normalize=True)
    sim_share = c.groupby("crime_type")["n"].sum() / c["n"].sum()
    for ct in ("Violence and sexual offences", "Anti-social behaviour", "Drugs", "Burglary"):
        assert sim_share[ct] == pytest.approx(real_share[ct], rel=0.35), ct


def test_truth_is_the_ratio_of_expected_counts(small_city) -> None:
    t = json.loads((small_city.out_dir / "truth.json").read_text())
    for name, e in t["effects"].items():
        ex = e["expected"]
        # DiD estimand from expected counts: (Ra/Rb)/(Ca/Cb) == the rate ratio built in
        did = (ex["target"]["after"] / ex["target"]["before"]) / (
            ex["control"]["after"] / ex["control"]["before"]
        )
        assert did == pytest.approx(e["rate_ratio"], rel=1e-6), name
        assert ex["control"]["after"] == pytest.approx(ex["control"]["after_counterfactual"])
    assert t["effects"]["Bicycle theft"]["rate_ratio"] == 1.0
    assert set(t["operation"]["areas"]) == {"target", "buffer", "control"}
    roles = t["operation"]["areas"]
    assert not (set(roles["target"]) & set(roles["control"]))
    assert t["enforcement_harms"]["searches"]["extra"] > 0


def test_null_and_diffusion_options(tmp_path: Path) -> None:
    null = simulate_counts(SimulationParams(seed=2, effects={}, buffer_effects={}, **SMALL))
    assert all(
        v["rate_ratio"] == 1.0 and v["buffer_rate_ratio"] == 1.0 for v in null.truth.values()
    )
    diff = simulate_counts(SimulationParams(seed=2, displacement="diffusion", **SMALL))
    assert diff.truth["Anti-social behaviour"]["buffer_rate_ratio"] == pytest.approx(1 / 1.10)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"displacement": "sideways"}, "--displacement"),
        ({"effects": {"Arson": 0.5}}, "--effect"),
        ({"effects": {"Drugs": -1.0}}, "--effect"),
        ({"op_start": "2021-01"}, "--op-start"),
        ({"op_start": "2024-13"}, "--op-start"),
        ({"start": "2022-1"}, "--start"),
        ({"n_areas": 5}, "--areas"),
        ({"months": 3}, "--months"),
    ],
)
def test_bad_parameters_are_named(override: dict, field: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=rf"^{field}"):
        simulate_city(tmp_path, **override)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_cli_simulate_json_and_errors(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "realimpact",
        "simulate",
        "--out",
        str(tmp_path / "c"),
        "--areas",
        "30",
        "--seed",
        "3",
        "--json",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert Path(doc["plan"]).is_file() and doc["counts"]["street"] > 0
    bad = subprocess.run(
        [*cmd[:-1], "--effect", "Robbery=abc"], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "--effect" in bad.stderr
    assert bad.stdout == ""


def test_expected_counts_drive_recorded_counts() -> None:
    """Over many seeds the drawn counts centre on the expected ones (no hidden bias)."""
    from realimpact.simulate import city as cm
    from realimpact.simulate import crimes as cr
    from realimpact.simulate import markets as mm

    z = []
    for seed in range(12):
        p = SimulationParams(seed=seed, **SMALL)
        rng = np.random.default_rng(seed)
        c = cm.build_city(p, rng)
        mk = mm.place_markets(c, p, rng)
        roles = cm.choose_roles(c, (mk[0].easting, mk[0].northing), p)
        e = cr.expected_counts(c, p, mm.market_weights(c, mk), roles, rng)
        y = cr.draw_counts(e.mu, p.dispersion, rng)
        z.append((y.sum() - e.mu.sum()) / math.sqrt(e.mu.sum() + (e.mu**2).sum() / p.dispersion))
    assert abs(np.mean(z)) < 3 / math.sqrt(len(z))
