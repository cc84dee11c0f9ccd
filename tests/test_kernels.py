"""The optional numba kernel (chainrule.kernels) against the NumPy path it replaces:
bit-identical parameters and moments, including the subnormal flush of m."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.training.optimizers as optimizers

try:
    import numba  # noqa: F401

    HAVE_NUMBA = True
except ImportError:
    HAVE_NUMBA = False


@pytest.fixture
def numba_installed() -> None:
    # The test extra installs the 'fast' extra, so CI always has numba: missing is an
    # installation error to report, not a reason to skip the kernel's tests.
    if not HAVE_NUMBA:
        pytest.fail("numba is missing: pip install -e '.[test]' (it includes chainrule[fast])")


needs_numba = pytest.mark.usefixtures("numba_installed")


def test_without_numba_adam_falls_back_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the kernel module unimportable (as without numba), Adam still steps, in NumPy."""
    monkeypatch.setitem(sys.modules, "chainrule.training.kernels", None)  # import now raises
    optimizers._adam_kernel.cache_clear()
    try:
        assert optimizers._adam_kernel() is None
        w = np.ones(40_000, dtype=np.float32)
        cr.Adam(0.1).step(w, np.ones_like(w))
        np.testing.assert_allclose(w, 0.9, rtol=1e-6)  # first Adam step: w − η·sign(g)
    finally:
        optimizers._adam_kernel.cache_clear()


@pytest.fixture
def numba_switch(monkeypatch: pytest.MonkeyPatch):
    """Run a callable with the kernel on or off (CHAINRULE_NUMBA) and return its result."""

    def run(use_numba: bool, fn):  # type: ignore[no-untyped-def]
        monkeypatch.setenv("CHAINRULE_NUMBA", "1" if use_numba else "0")
        optimizers._adam_kernel.cache_clear()
        try:
            assert (optimizers._adam_kernel() is not None) == use_numba
            return fn()
        finally:
            optimizers._adam_kernel.cache_clear()

    return run


def _adam_trajectory(dtype: type, steps: int = 100) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    n = 40_000  # above Adam._KERNEL_MIN_SIZE
    w = rng.standard_normal(n).astype(dtype)
    opt = cr.Adam(1e-3)
    for t in range(steps):
        g = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 1, n)
        g[: n // 4] = 0.0  # never any gradient: m stays 0
        # tiny at first, then zero: m decays through 1e-30 and must be flushed at t = 32k
        g[n // 4 : n // 2] = 1e-27 if t < 3 else 0.0
        opt.step(w, g.astype(dtype))
    return w, opt.state["m"], opt.state["v"]


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_adam_is_bit_identical_to_numpy(numba_switch, dtype: type) -> None:  # type: ignore[no-untyped-def]
    fast = numba_switch(True, lambda: _adam_trajectory(dtype))
    plain = numba_switch(False, lambda: _adam_trajectory(dtype))
    for a, b in zip(fast, plain, strict=True):
        assert a.dtype == dtype
        assert a.tobytes() == b.tobytes()  # bitwise, signs of zeros included
    m = fast[1]
    if dtype is np.float32:  # the flush ran: the decayed entries are exactly zero
        assert np.all(m[10_000:20_000] == 0.0)
    else:  # float64 keeps them (no flushing needed: far from its subnormal range)
        assert np.all(m[10_000:20_000] != 0.0)


@needs_numba
def test_numba_and_numpy_train_the_same_network(numba_switch) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 8)).astype(np.float32)
    y = rng.integers(0, 3, 300)

    def train() -> np.ndarray:
        net = cr.MLP([8, 256, 128, 3], output="softmax", loss="cross_entropy", seed=0)
        net.fit(X, y, epochs=3, batch_size=32, optimizer=cr.Adam(1e-2))
        return net.params.copy()

    assert numba_switch(True, train).tobytes() == numba_switch(False, train).tobytes()


@needs_numba
def test_non_flat_arrays_take_the_numpy_path(numba_switch) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((200, 200))  # 2-D: not what the kernel takes
    g = rng.standard_normal((200, 200))

    def run() -> np.ndarray:
        w = w0.copy()
        opt = cr.Adam(0.1)
        for _ in range(3):
            opt.step(w, g)
        return w

    np.testing.assert_array_equal(numba_switch(True, run), numba_switch(False, run))


@needs_numba
def test_other_float_types_take_the_numpy_path(numba_switch) -> None:  # type: ignore[no-untyped-def]
    """The kernel is compiled for float32 and float64 only; float16 must not reach it."""
    w0 = np.linspace(-1, 1, 40_000).astype(np.float16)
    g = np.full(40_000, 0.5, dtype=np.float16)

    def run() -> np.ndarray:
        w = w0.copy()
        cr.Adam(0.01).step(w, g)
        return w

    np.testing.assert_array_equal(numba_switch(True, run), numba_switch(False, run))


@needs_numba
def test_the_kernel_is_rented_until_it_pays_and_the_switch_changes_no_bit(
        numba_switch, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Rent or buy: with numba not yet imported, Adam stays in NumPy until steps ×
    parameters reach _KERNEL_RENT, then takes the loop; the trajectory is bitwise the
    NumPy one's (H8: the import was 0.51 s of an --ensemble 8 fit's CPU)."""
    calls: list[int] = []
    real = optimizers._adam_kernel

    def counted():  # type: ignore[no-untyped-def]
        calls.append(1)
        return real()

    counted.cache_clear = real.cache_clear  # type: ignore[attr-defined]

    def rented() -> tuple[np.ndarray, ...]:
        monkeypatch.delitem(sys.modules, "chainrule.training.kernels", raising=False)
        monkeypatch.setattr(optimizers, "_adam_kernel", counted)
        monkeypatch.setattr(optimizers.Adam, "_KERNEL_RENT", 40_000 * 50)
        return _adam_trajectory(np.float32)

    switched = numba_switch(True, rented)
    assert len(calls) == 100 - 50 + 1  # from step t = 50 on (t counts from 1)
    plain = numba_switch(False, lambda: _adam_trajectory(np.float32))
    for a, b in zip(switched, plain, strict=True):
        assert a.tobytes() == b.tobytes()
