"""One BLAS thread while a run fits a network with small products (chainrule._blas): a
table network's batches are too small to share between threads, whose spin-waits made a
20-epoch fit 12x slower on a loaded 2-core machine."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import _blas
from chainrule.runs.fitting import _fit, largest_product
from chainrule.training.callbacks import Callback

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> int:
    return max(i["num_threads"] for i in threadpoolctl.threadpool_info()
               if i["user_api"] == "blas")


class _Seen(Callback):
    def __init__(self) -> None:
        self.threads: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.threads.append(_blas_threads())


def _net_and_data(hidden: int) -> tuple[chainrule.Network, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4))
    return chainrule.MLP([4, hidden, 1], seed=0), X, X[:, :1]


def test_small_products_fit_on_one_thread_and_the_count_comes_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for var in _blas.THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        net, X, Y = _net_and_data(8)
        seen = _Seen()
        _fit(net, X, Y, batch_size=16, epochs=2, callbacks=[seen])
        assert seen.threads == [1, 1]
        assert _blas_threads() == before


def test_large_products_and_a_users_choice_are_left_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        monkeypatch.setattr(_blas, "SMALL_PRODUCT", 10)
        net, X, Y = _net_and_data(8)
        seen = _Seen()
        _fit(net, X, Y, batch_size=16, epochs=1, callbacks=[seen])
        assert seen.threads == [before]
        monkeypatch.setattr(_blas, "SMALL_PRODUCT", 2 ** 23)
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
        seen = _Seen()
        _fit(net, X, Y, batch_size=16, epochs=1, callbacks=[seen])
        assert seen.threads == [before]


def test_the_largest_product_counts_every_member() -> None:
    assert largest_product(chainrule.MLP([4, 8, 1]), 16) == 16 * 4 * 8
    ensemble = chainrule.MLP([4, 8, 1], ensemble=3)
    assert largest_product(ensemble, 16) == 16 * 3 * 4 * 8


def test_the_largest_product_of_a_network_with_lookup_tables() -> None:
    """A categorical lookup's w is a list of tables, not a product: only Dense layers count
    (the first version read every layer's w and failed on a table job)."""
    from chainrule.engine.embeddings import table_input_layers

    front = table_input_layers(4, [(0, 20)], [1, 2])
    mlp = chainrule.MLP([front[-1].n_out, 8, 1])
    net = chainrule.Network([*front, *mlp.layers], loss=mlp.loss_fn)
    assert largest_product(net, 16) == 16 * front[-1].n_out * 8
