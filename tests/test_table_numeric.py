"""How numbers are read (table/numeric.py, issue 27 item 1): the robust reading (median,
inter-quartile spread, smooth clipping) and piecewise-linear encoding over training
quantiles, each equal to a plain reference, saved and read back, and an encoder state from
before these readings reading exactly as it did."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.table import Numeric, TableEncoder, TableError
from chainrule.table.numeric import CLIP, ple, ple_edges, robust_stats, smooth_clip

FIXTURE = Path(__file__).parent / "fixtures" / "release-0.1.0"


def _heavy(n: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 1.5, n)  # a heavy right tail
    income[rng.random(n) < 0.05] = np.nan
    return {"income": income, "age": rng.normal(40, 12, n).round(1)}


def test_smooth_clip_is_the_identity_near_zero_and_bounded() -> None:
    x = np.array([-1e9, -3.0, -1e-4, 0.0, 1e-4, 3.0, 1e9])
    y = smooth_clip(x)
    np.testing.assert_allclose(y, x / np.sqrt(1 + (x / 3) ** 2), rtol=1e-15)
    assert np.all(np.abs(y) <= CLIP) and abs(y[2] - x[2]) < 1e-12
    assert np.all(np.diff(y) > 0)  # order kept


def test_robust_reading_equals_the_plain_formula() -> None:
    data = _heavy()
    enc = TableEncoder(numeric_encoding="robust").fit(data)
    (income, age) = enc.encodings
    v = data["income"][~np.isnan(data["income"])]
    q25, q50, q75 = np.percentile(v, [25, 50, 75])
    assert isinstance(income, Numeric) and income.robust == pytest.approx((q50, q75 - q25))
    X = enc.transform(data)
    filled = np.where(np.isnan(data["income"]), q50, data["income"])
    u = (filled - q50) / (q75 - q25)
    np.testing.assert_allclose(X[:, 0], u / np.sqrt(1 + (u / 3) ** 2), rtol=1e-12)
    np.testing.assert_array_equal(X[:, 1], np.isnan(data["income"]))
    assert np.abs(X[:, [0, 2]]).max() < CLIP  # the tail bounded
    scaler = enc.standardizer(X)  # already scaled: the network's standardizer leaves it
    np.testing.assert_array_equal(scaler.mean, 0.0)
    np.testing.assert_array_equal(scaler.scale, 1.0)
    assert enc.numeric_columns() == [0, 2]


def test_robust_spread_falls_back_to_half_the_range_when_the_quartiles_agree() -> None:
    v = np.array([0.0] * 90 + [1.0, 2.0, 5.0] + [np.nan])
    assert robust_stats(v) == (0.0, 2.5)


def test_ple_equals_the_definition_and_is_monotone() -> None:
    rng = np.random.default_rng(1)
    v = rng.gamma(2.0, 3.0, 500)
    edges = ple_edges(v, 8)
    assert len(edges) == 9 and edges[0] == v.min() and edges[-1] == v.max()
    x = np.array([v.min() - 1, edges[3], (edges[3] + edges[4]) / 2, v.max() + 1])
    got = ple(x, edges)
    reference = np.array([[min(max((xi - lo) / (hi - lo), 0.0), 1.0)
                           for lo, hi in zip(edges[:-1], edges[1:], strict=True)] for xi in x])
    np.testing.assert_allclose(got, reference, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(got[0], 0.0)
    np.testing.assert_array_equal(got[-1], 1.0)
    assert got[2, 3] == pytest.approx(0.5) and got[2, :3].tolist() == [1.0, 1.0, 1.0]
    assert np.all(np.diff(ple(np.sort(v), edges).sum(axis=1)) >= 0)


def test_ple_features_are_named_unscaled_and_few_values_get_few_bins() -> None:
    data = {"x": np.arange(300.0) ** 1.1, "small": np.tile([1.0, 2.0, 4.0], 100)}
    enc = TableEncoder(numeric_encoding="ple", ple_bins=4).fit(data)
    assert enc.names == [f"x (bin {t} of 4)" for t in range(1, 5)] + [
        "small (bin 1 of 2)", "small (bin 2 of 2)"]
    X = enc.transform(data)
    assert X.min() == 0.0 and X.max() == 1.0
    scaler = enc.standardizer(X)
    np.testing.assert_array_equal(scaler.scale, 1.0)
    assert enc.numeric_columns() == []


@pytest.mark.parametrize("reading", ["standard", "robust", "ple"])
def test_every_reading_round_trips_through_json_and_the_model_file(reading: str,
                                                                  tmp_path: Path) -> None:
    data = _heavy()
    enc = TableEncoder(numeric_encoding=reading, ple_bins=6).fit(data)
    state = json.loads(json.dumps(enc.to_dict()))
    again = TableEncoder.from_dict(state)
    assert again.numeric_encoding == reading and again.names == enc.names
    later = _heavy(50, seed=3)
    np.testing.assert_array_equal(again.transform(later), enc.transform(later))
    net = chainrule.MLP([enc.n_out, 6, 1], seed=0, dtype="float64")
    net.encoder, net.scaler = enc, enc.standardizer(enc.transform(data))
    loaded = chainrule.load(chainrule.save(net, tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.predict(later), net.predict(later))
    assert loaded.encoder.to_dict() == enc.to_dict()


def test_an_encoder_state_without_the_new_keys_reads_as_the_standard_reading() -> None:
    old = {"min_frequency": 5, "max_categories": 200, "drop": [], "categorical": [],
           "numeric": [], "columns": [
               {"column": "v", "kind": "numeric", "median": 2.0, "indicator": True}]}
    enc = TableEncoder.from_dict(old)
    assert enc.numeric_encoding == "standard" and enc.categorical_encoding == "onehot"
    np.testing.assert_array_equal(enc.transform({"v": [np.nan, 7.0]}), [[2, 1], [7, 0]])
    assert enc.to_dict() == old  # written back as it was read


def test_the_release_fixture_encoder_reads_as_standard_and_writes_back_unchanged() -> None:
    """Its predictions are tests/test_model_fixture.py's; here: the encoder it holds is
    the old one, and saving it again writes no new key."""
    from chainrule.io import model as io

    path = FIXTURE / "table.safetensors"
    _, meta = io.loads_safetensors(path.read_bytes())
    saved = json.loads(meta["encoder"])
    net = chainrule.load(path)
    assert net.encoder.numeric_encoding == "standard"
    assert all(e.reading == "standard" for e in net.encoder.encodings if isinstance(e, Numeric))
    assert net.encoder.to_dict() == saved
    inputs = json.loads((FIXTURE / "table_inputs.json").read_text())
    np.testing.assert_array_equal(net.predict(inputs),
                                  np.load(FIXTURE / "table_predictions.npy"))


def test_bad_reading_options_are_refused_naming_the_argument() -> None:
    with pytest.raises(TableError, match="numeric_encoding: expected one of standard, "
                                         "robust, ple, got 'quantile'"):
        TableEncoder(numeric_encoding="quantile")
    with pytest.raises(TableError, match="ple_bins: expected an integer of at least 1, got 0"):
        TableEncoder(ple_bins=0)
    with pytest.raises(TableError, match="min_frequency: expected an integer of at least 1, "
                                         "got 2.5"):
        TableEncoder(min_frequency=2.5)  # type: ignore[arg-type]
    with pytest.raises(TableError, match="categorical_encoding: expected one of onehot, "
                                         "codes, got 'embed'"):
        TableEncoder(categorical_encoding="embed")
