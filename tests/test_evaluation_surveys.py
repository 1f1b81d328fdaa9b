"""Likert waves: paired (Wilcoxon signed-rank) versus independent (Mann-Whitney U).

Published figures used:
* Darwin's Zea mays data (cross- minus self-fertilised height differences, eighths of
  an inch) as analysed by Fisher (1935) and in SciPy's ``wilcoxon`` documentation:
  d = 6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75 gives the signed-rank
  statistic 24 and exact two-sided p = 0.041259765625.
* Conover (1999) "Practical Nonparametric Statistics", the example used in SciPy's
  ``mannwhitneyu`` documentation: males 19, 22, 16, 29, 24 versus females
  20, 11, 17, 12 gives U = 17 and exact two-sided p = 0.1111.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from realimpact.errors import ValidationError
from realimpact.evaluation.surveys import likert_change, survey_results

ZEA_D = np.array([6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75], dtype=float)


def test_paired_change_reproduces_fisher_zea_mays_wilcoxon():
    before = np.full(len(ZEA_D), 100.0)
    r = likert_change(before, before + ZEA_D, paired=True)
    assert r.extra["statistic"] == 24
    assert r.p == pytest.approx(0.041259765625, abs=1e-12)
    assert r.estimate == pytest.approx(ZEA_D.mean())
    assert r.n == 15
    assert r.ci_low < r.estimate < r.ci_high


def test_unpaired_change_reproduces_conover_mann_whitney():
    males, females = [19, 22, 16, 29, 24], [20, 11, 17, 12]
    r = likert_change(females, males, paired=False)  # "after" = males
    assert r.extra["statistic"] == 17
    assert r.p == pytest.approx(0.1111, abs=1e-4)
    assert r.estimate == pytest.approx(np.mean(males) - np.mean(females))


def _long(rows):
    return pd.DataFrame(rows, columns=["respondent", "wave", "score", "group"])


def test_panel_matches_respondents_by_id_and_reports_unmatched():
    rng = np.random.default_rng(3)
    ids = [f"r{i}" for i in range(30)]
    before = rng.integers(1, 6, 30)
    after = np.clip(before + rng.integers(0, 3, 30), 1, 5)
    rows = [(i, "before", b, "residents") for i, b in zip(ids, before, strict=True)]
    rows += [(i, "after", a, "residents") for i, a in zip(ids, after, strict=True)]
    rows += [("newcomer", "after", 1, "residents")]  # not in the panel
    out = survey_results(_long(rows).sample(frac=1, random_state=1), panel=True)
    assert len(out) == 1 and out[0]["paired"] and out[0]["unmatched"] == 1
    direct = likert_change(before, after, paired=True)
    assert out[0]["result"]["p"] == pytest.approx(direct.p)
    assert out[0]["result"]["estimate"] == pytest.approx(direct.estimate)


def test_independent_waves_per_group():
    rows = [
        (f"b{i}", "before", s, g)
        for i, (s, g) in enumerate(
            [
                (2, "users"),
                (3, "users"),
                (2, "users"),
                (4, "professionals"),
                (3, "professionals"),
                (4, "professionals"),
            ]
        )
    ]
    rows += [
        (f"a{i}", "after", s, g)
        for i, (s, g) in enumerate(
            [
                (4, "users"),
                (5, "users"),
                (4, "users"),
                (4, "professionals"),
                (4, "professionals"),
                (3, "professionals"),
            ]
        )
    ]
    out = {r["group"]: r for r in survey_results(_long(rows), panel=False)}
    assert set(out) == {"users", "professionals"}
    assert out["users"]["result"]["estimate"] == pytest.approx(13 / 3 - 7 / 3)
    assert not out["users"]["paired"]


def test_bad_wave_label_is_a_one_line_error():
    with pytest.raises(ValidationError, match=r"^wave: values must be before or after"):
        survey_results(_long([("a", "during", 3, "x"), ("b", "after", 2, "x")]), panel=False)


# -- validation: each bad answer is an error naming file, line, field --


def _csv(tmp_path, text: str):
    p = tmp_path / "residents.csv"
    p.write_text(text, "utf-8")
    return p


@pytest.mark.parametrize(
    "rows,message",
    [
        (
            "r1,before,3\nr1,after,7\n",
            r"^residents\.csv: line 3: score: 7 is outside the 1-5 scale$",
        ),
        (
            "r1,before,3\nr2,before,0\n",
            r"^residents\.csv: line 3: score: 0 is outside the 1-5 scale$",
        ),
        (
            "r1,before,agree\nr1,after,4\n",
            r"^residents\.csv: line 2: score: 'agree' is not a number on the 1-5 scale$",
        ),
        (
            "r1,before,3.5\nr1,after,4\n",
            r"^residents\.csv: line 2: score: 3\.5 is not a whole number on the 1-5 scale$",
        ),
        (
            "r1,before,3\nr2,before,4\nr1,before,5\nr1,after,4\n",
            r"^residents\.csv: line 4: respondent: 'r1' answered twice in wave before"
            r" \(first on line 2\)$",
        ),
    ],
    ids=["above-scale", "below-scale", "word", "fraction", "duplicate"],
)
def test_bad_answers_are_errors_naming_file_line_and_field(tmp_path, rows, message):
    path = _csv(tmp_path, "respondent,wave,score\n" + rows)
    for panel in (True, False):
        with pytest.raises(ValidationError, match=message):
            survey_results(pd.read_csv(path), panel=panel, source=path.name)


def test_the_line_is_the_physical_line_of_the_csv(tmp_path):
    """Blank lines and an answer quoted over two lines do not shift the line named."""
    from realimpact.evaluation.surveys import read_survey_csv

    path = _csv(
        tmp_path,
        'respondent,wave,score,comment\nr1,before,3,"two\nlines"\n\nr2,before,4,\nr2,after,9,\n',
    )
    df = read_survey_csv(path)
    assert df.attrs["lines"] == [2, 5, 6]
    with pytest.raises(ValidationError, match=r"^x/residents\.csv: line 6: score: 9 is outside"):
        survey_results(df, panel=True, source="x/residents.csv")


def test_duplicates_are_per_question_and_group_and_every_problem_is_counted():
    rows = pd.DataFrame(
        [
            ("r1", "before", 3, "residents", "safe"),
            ("r1", "before", 4, "residents", "dealing"),  # another question: fine
            ("r1", "before", 2, "users", "safe"),  # another group: fine
            ("r1", "after", 4, "residents", "safe"),
            ("r1", "After", 5, "residents", "safe"),  # same wave, any case
            ("r2", "after", 6, "residents", "safe"),
        ],
        columns=["respondent", "wave", "score", "group", "question"],
    )
    with pytest.raises(ValidationError) as e:
        survey_results(rows, panel=True)
    assert str(e.value) == (
        "line 6: respondent: 'r1' answered question 'safe' in group 'residents' twice in wave"
        " after (first on line 5) (1 more problem)"
    )


def test_blank_scores_are_unanswered_not_errors_and_valid_data_is_unchanged():
    ids = [f"r{i}" for i in range(6)]
    before, after = [2, 3, 3, 4, 2, 3], [3, 4, 3, 5, 3, 4]
    rows = [(i, "before", b, "residents") for i, b in zip(ids, before, strict=True)]
    rows += [(i, "after", a, "residents") for i, a in zip(ids, after, strict=True)]
    rows += [("r9", "before", None, "residents")]
    out = survey_results(_long(rows), panel=True)
    assert out[0]["unanswered"] == 1 and out[0]["n_before"] == 7
    direct = likert_change(before, after, paired=True)
    assert out[0]["result"]["estimate"] == pytest.approx(direct.estimate)
    assert out[0]["result"]["p"] == pytest.approx(direct.p)


def test_bad_wave_names_its_line():
    with pytest.raises(ValidationError, match=r"got 'during' \(line 3\)$"):
        survey_results(_long([("b", "after", 2, "x"), ("a", "during", 3, "x")]), panel=False)
