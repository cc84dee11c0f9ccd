"""Shared fixtures: a seeded generator and the location of the shared data sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CHAINRULE_SHARED_DATA", REPO.parent / "shared" / "data"))
MNIST_DIR = Path(os.environ.get("CHAINRULE_DATA_DIR", SHARED_DATA / "mnist"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def mnist_dir() -> Path:
    if not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.fail(f"MNIST files not found in {MNIST_DIR}; set CHAINRULE_DATA_DIR")
    return MNIST_DIR
