"""The 1,797-sample UCI handwritten digits (8×8 images, pixels 0–16), shipped in the package.

Source: UCI ML Repository "Optical Recognition of Handwritten Digits", CC BY 4.0.
File: ``datasets/data/digits.csv.gz``, no header, 64 pixel columns then the label.
"""

from __future__ import annotations

import gzip
import io
from importlib import resources

import numpy as np

from .base import Dataset

N_SAMPLES, N_PIXELS = 1797, 64


def load_digits() -> Dataset:
    """The embedded digits: X of shape (1797, 64) in 0..16, y of shape (1797,) in 0..9."""
    data_dir = resources.files("chainrule.datasets").joinpath("data")
    raw = data_dir.joinpath("digits.csv.gz").read_bytes()
    text = gzip.decompress(raw).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64)
    if table.shape != (N_SAMPLES, N_PIXELS + 1):
        raise ValueError(
            f"digits.csv.gz: expected {N_SAMPLES} rows of {N_PIXELS + 1} columns, got "
            f"{table.shape}; the package data is damaged, reinstall chainrule"
        )
    return Dataset(
        name="digits",
        X=table[:, :N_PIXELS],
        y=table[:, N_PIXELS].astype(np.int64),
        task="classification",
        classes=list(range(10)),
        feature_names=[f"pixel_{i}" for i in range(N_PIXELS)],
    )
