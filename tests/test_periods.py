"""Calendar months: one definition, checked against pandas' Period arithmetic."""

from __future__ import annotations

import pandas as pd
import pytest

from realimpact.errors import ValidationError
from realimpact.periods import check_month, is_month, month_add, month_index, month_range


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("2020-01", True), ("1999-12", True), ("2020-13", False), ("2020-00", False),
        ("2020-1", False), ("2020-01-01", False), ("20-01", False), (" 2020-01", False),
        ("2020/01", False), ("", False), (None, False), (202001, False),
    ],
)  # fmt: skip
def test_is_month(text: object, ok: bool) -> None:
    assert is_month(text) is ok


def test_check_month_names_the_field_and_strips() -> None:
    assert check_month(" 2020-03 ", "--from") == "2020-03"
    with pytest.raises(ValidationError, match=r"^--to: '2020-13' is not a month \(YYYY-MM\)$"):
        check_month("2020-13", "--to")


def test_month_arithmetic_agrees_with_pandas_periods() -> None:
    start = pd.Period("1998-07", freq="M")
    for k in range(-30, 300, 7):
        assert month_add("1998-07", k) == str(start + k)
    months = [str(start + k) for k in range(0, 400, 13)]
    idx = month_index(months)
    ordinals = [pd.Period(m, freq="M").ordinal for m in months]
    assert (idx - idx[0]).tolist() == [o - ordinals[0] for o in ordinals]
    assert month_range("2019-11", "2020-02") == ["2019-11", "2019-12", "2020-01", "2020-02"]
    assert month_range("2020-02", "2020-01") == []
    with pytest.raises(ValidationError):
        month_index(["2019/05"])
