"""Model files written by chainrule 0.1.0 before the package moved into wings (issue 26):
today's code loads them and predicts bit-identically.

The files, their inputs, predictions and parameters are in ``tests/fixtures/release-0.1.0/``,
written by ``tests/fixtures/make_release_models.py`` run against commit e157b95.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import chainrule
from chainrule.io.model import loads_safetensors, model_to_bytes, read_model

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RELEASE = FIXTURES / "release-0.1.0"
EXPECTED = json.loads((RELEASE / "expected.json").read_text())


def _maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chainrule_make_release_models",
                                                  FIXTURES / "make_release_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


parameters = _maker().parameters


def _inputs(name: str) -> object:
    if name == "table":
        return json.loads((RELEASE / "table_inputs.json").read_text())
    return np.load(RELEASE / f"{name}_X.npy")


@pytest.mark.parametrize("name", ["digits", "table"])
def test_a_release_model_predicts_bit_identically(name: str) -> None:
    net = chainrule.load(RELEASE / f"{name}.safetensors")
    want = np.load(RELEASE / f"{name}_predictions.npy")
    got = net.predict(_inputs(name))
    assert got.dtype == want.dtype
    assert np.array_equal(got, want)


@pytest.mark.parametrize("name", ["digits", "table"])
def test_a_release_model_loads_every_parameter_exactly(name: str) -> None:
    loaded = read_model(RELEASE / f"{name}.safetensors")
    with np.load(RELEASE / f"{name}_parameters.npz") as saved:
        want = dict(saved)
    got = parameters(loaded.net)
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype, key
        assert np.array_equal(got[key], value), key
    expected = EXPECTED[name]
    assert loaded.net.classes == expected["classes"]
    assert loaded.feature_names == expected["feature_names"]
    assert loaded.net.rng.bit_generator.state == expected["rng_state"]
    assert loaded.metadata["chainrule_version"] == EXPECTED["chainrule_version"]


@pytest.mark.parametrize("name", ["digits", "table"])
def test_a_release_model_saves_again_as_it_was_written(name: str) -> None:
    data = (RELEASE / f"{name}.safetensors").read_bytes()
    arrays, metadata = loads_safetensors(data)
    again_arrays, again_metadata = loads_safetensors(model_to_bytes(
        chainrule.load(RELEASE / f"{name}.safetensors"),
        training=json.loads(metadata["training"]),
        feature_names=json.loads(metadata["feature_names"])))
    assert sorted(again_arrays) == sorted(arrays)
    for key, value in arrays.items():
        assert np.array_equal(again_arrays[key], value), key
    del metadata["chainrule_version"], again_metadata["chainrule_version"]
    assert again_metadata == metadata
