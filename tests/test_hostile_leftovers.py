"""Issue 28 leftovers: writes that name their file, values past a dtype on a device, a
scaler fitted on values near 1e300, and class labels matplotlib cannot draw as given.

* the MNIST download cache and the compiled step's module are written atomically: a full
  disk is one :class:`FileWriteError` line naming the file, no temporary file is left, and
  training falls back to the NumPy path when the step's cache cannot be written;
* a device array holding 1e200 for a float32 network names the argument and the index
  instead of claiming an inf it does not hold;
* ``Standardizer.fit`` gives a finite mean and scale for columns near 1e300, and names a
  column holding inf;
* a class label with a control character, a ``$`` or a character the font lacks is drawn
  escaped, with no matplotlib warning and no mathtext failure.
"""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.io.atomic import FileWriteError


def _no_space(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _one_line(exc: BaseException, path: Path) -> str:
    msg = str(exc)
    assert "\n" not in msg
    assert str(path) in msg
    assert "No space left on device" in msg
    return msg


# -- 1. the MNIST download cache ----------------------------------------------------------
class _Response:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def read(self) -> bytes:
        return self.payload


def test_mnist_download_on_a_full_disk_names_the_file(shared_data: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from chainrule.datasets import mnist

    name = "t10k-labels-idx1-ubyte"
    payload = (shared_data / "mnist" / f"{name}.gz").read_bytes()
    monkeypatch.setattr(mnist.urllib.request, "urlopen",
                        lambda url, timeout=None: _Response(payload))
    target = tmp_path / "cache"
    target.mkdir()
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(FileWriteError) as info:
        mnist._download(name, target, ["http://mirror.invalid/"], 1.0)
    monkeypatch.undo()
    _one_line(info.value, target / f"{name}.gz")
    assert list(target.iterdir()) == []  # nothing cached, no temporary file


def test_mnist_download_is_verified_in_memory_then_cached(shared_data: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from chainrule.datasets import mnist

    name = "t10k-labels-idx1-ubyte"
    good = (shared_data / "mnist" / f"{name}.gz").read_bytes()
    monkeypatch.setattr(mnist.urllib.request, "urlopen",
                        lambda url, timeout=None: _Response(good))
    path = mnist._download(name, tmp_path, ["http://mirror.invalid/"], 1.0)
    assert path.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == [path.name]
    monkeypatch.setattr(mnist.urllib.request, "urlopen",
                        lambda url, timeout=None: _Response(good[:-40]))  # truncated gzip
    with pytest.raises(mnist.MNISTError, match="http://mirror.invalid/t10k-labels"):
        mnist._download(name, tmp_path / "other", ["http://mirror.invalid/"], 1.0)
    assert list((tmp_path / "other").iterdir()) == []


# -- 2. the compiled step's module --------------------------------------------------------
def test_compiled_module_write_on_a_full_disk_leaves_nothing(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    pytest.importorskip("numba")
    from chainrule.training.compiled import codegen

    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(os, "replace", _no_space)
    with pytest.raises(FileWriteError) as info:
        codegen.generate(np.dtype("float32"))
    monkeypatch.undo()
    assert "step_float32_" in str(info.value)
    _one_line(info.value, tmp_path / "compiled")
    assert list((tmp_path / "compiled").iterdir()) == []


def test_training_falls_back_to_numpy_when_the_step_cache_cannot_be_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numba")
    from chainrule.training import compiled

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(blocker))
    monkeypatch.setenv("CHAINRULE_COMPILED", "1")
    monkeypatch.setattr(compiled, "_GENERATED", {})
    monkeypatch.setattr(compiled, "_FAILED", set())
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2))
    y = (X[:, 0] > 0).astype(int)
    net = cr.MLP([2, 4, 2], output="softmax", loss="cross_entropy", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = net.fit(X, y, epochs=2, batch_size=16)
    assert np.isfinite(history.history["loss"]).all()
    assert net.dtype.name in compiled._FAILED  # tried, refused, trained on NumPy


# -- 3. values past the dtype on a device; a scaler near 1e300 ----------------------------
def test_a_device_array_past_float32_names_the_argument_and_index() -> None:
    torch = pytest.importorskip("torch")
    net = cr.MLP([2, 3, 2], backend="torch", seed=0)  # float32
    X = torch.tensor([[1.0, 2.0], [3.0, 1e200]], dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"^X: 1e\+200 at index \[1, 1\] is outside "
                                             r"float32's range"):
            net.inputs(X)
        with pytest.raises(ValueError, match=r"^X: contains NaN or inf \(first at index "
                                             r"\[0, 1\]: nan\)"):
            net.inputs(torch.tensor([[1.0, float("nan")]], dtype=torch.float64))
    assert net.inputs(torch.tensor([[1.0, 2.0]], dtype=torch.float64)).shape == (1, 2)


def test_standardizer_fit_near_1e300_is_finite_and_ordinary_data_unchanged() -> None:
    X = np.array([[1e300, 1.0], [-1e300, 2.0], [5e299, 4.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = cr.Standardizer.fit(X)
    assert np.isfinite(s.mean).all() and np.isfinite(s.scale).all()
    np.testing.assert_allclose(s.mean[0], 5e299 / 3)
    np.testing.assert_allclose(s.scale[0], np.std(X[:, 0] / 1e300) * 1e300)
    ordinary = np.random.default_rng(1).normal(size=(50, 3))
    s = cr.Standardizer.fit(ordinary)
    assert np.array_equal(s.mean, ordinary.mean(axis=0))  # bit for bit
    assert np.array_equal(s.scale, ordinary.std(axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="column 'x1': holds a number that is not finite"):
            cr.Standardizer.fit(np.array([[1.0, np.inf], [2.0, 3.0]]))


# -- 4. class labels in plots ------------------------------------------------------------
@pytest.mark.parametrize("classes", [
    ["a\rb", "c\x07", "d\nnewline"],
    ["$\\frac$", "x$", "$y$"],
    ["\u732b", "\u0000", "_hidden"],
])
def test_decision_region_labels_are_drawn_escaped_without_warnings(
        tmp_path: Path, classes: list[str]) -> None:
    pytest.importorskip("matplotlib")
    from chainrule.health.plots import plot_decision_regions

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = np.arange(30) % 3
    net = cr.MLP([2, 3, 3], output="softmax", loss="cross_entropy", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_decision_regions(net, X, y, tmp_path / "regions.png", classes=classes)
    assert (tmp_path / "regions.png").stat().st_size > 0
    from chainrule.health.plots import label_text

    for c in classes:
        shown = label_text(c)
        assert shown.isprintable() and not shown.startswith("_")
    assert label_text("a\rb") == "a\\rb"
    assert label_text("plain label") == "plain label"
