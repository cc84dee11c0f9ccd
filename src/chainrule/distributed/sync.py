"""One state on every rank: rank 0's network and optimizer, and a check that every rank
holds the same data.

Data-parallel training stays bit-identical across ranks only if every rank starts from
the same parameters, generator state, scaler and optimizer slots, and steps through the
same batches. These run once, before training, on every rank.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..table.scaler import Standardizer
from .comm import bcast_json

if TYPE_CHECKING:
    from ..engine.network import Network
    from ..training.optimizers import Optimizer

__all__ = ["check_same_everywhere", "sync_network", "sync_optimizer"]


def sync_network(net: Network, comm: Any) -> None:
    """Give every rank rank 0's parameters, generator state and scaler.

    The generator matters as much as the weights: it draws each epoch's permutation,
    the validation split and the dropout masks, and every rank must draw the same.
    """
    me = comm.Get_rank()
    header = bcast_json(
        comm,
        {
            "n_params": net.n_params,
            "dtype": net.dtype.name,
            "rng": net.rng.bit_generator.state,
            "scaler": None if net.scaler is None else net.scaler.n_features,
        },
    )
    if (header["n_params"], header["dtype"]) != (net.n_params, net.dtype.name):
        raise ValueError(
            f"net: rank {me} has {net.n_params} {net.dtype.name} parameters, rank 0 has "
            f"{header['n_params']} {header['dtype']}; every rank must build the same network"
        )
    comm.Bcast(net.params, root=0)
    if me != 0:
        net.rng.bit_generator.state = header["rng"]
    n_features = header["scaler"]
    if n_features is not None:
        if net.scaler is None or net.scaler.n_features != n_features:
            net.scaler = Standardizer(np.zeros(n_features), np.ones(n_features))
        comm.Bcast(net.scaler.mean, root=0)
        comm.Bcast(net.scaler.scale, root=0)
    else:
        net.scaler = None


def sync_optimizer(opt: Optimizer, net: Network, comm: Any) -> None:
    """Give every rank rank 0's step count and slots, so a resumed run stays identical."""
    header = bcast_json(comm, {"name": opt.name, "t": opt.t, "slots": sorted(opt.state)})
    if header["name"] != opt.name:
        raise ValueError(
            f"optimizer: rank {comm.Get_rank()} uses {opt.name!r}, rank 0 uses {header['name']!r}"
        )
    opt.t = int(header["t"])
    for slot in header["slots"]:
        if slot not in opt.state or opt.state[slot].shape != net.params.shape:
            opt.state[slot] = np.zeros_like(net.params)
        opt.state[slot] = np.ascontiguousarray(opt.state[slot], dtype=net.dtype)
        comm.Bcast(opt.state[slot], root=0)


def check_same_everywhere(comm: Any, a0: NDArray[np.floating], Y: NDArray[np.floating],
                          sample_weight: NDArray[np.float64] | None,
                          settings: Mapping[str, float]) -> None:
    """Every rank must see the same batches: compare shapes, ``settings`` and checksums.

    ``settings`` maps names (epochs, batch_size, shuffle) to numbers that must agree
    exactly. The checksums are compared with a tolerance: the scaler's statistics may
    differ in the last bit between CPU types, a different data file never agrees to 1e-6.
    """
    from mpi4py import MPI

    exact = {"n_samples": a0.shape[0], "n_in": a0.shape[1], "n_out": Y.shape[1], **settings,
             "sample_weight given": sample_weight is not None}
    sums = [float(np.sum(a0, dtype=np.float64)), float(np.sum(Y, dtype=np.float64)),
            0.0 if sample_weight is None else float(np.sum(sample_weight))]
    mine = np.array([*exact.values(), *sums], dtype=np.float64)
    lo, hi = mine.copy(), mine.copy()
    comm.Allreduce(MPI.IN_PLACE, lo, op=MPI.MIN)
    comm.Allreduce(MPI.IN_PLACE, hi, op=MPI.MAX)
    for i, name in enumerate(exact):
        if lo[i] != hi[i]:
            raise ValueError(
                f"{name}: differs across ranks (from {lo[i]:g} to {hi[i]:g}, this rank "
                f"{mine[i]:g}); every rank must be given the full, identical data set"
            )
    for i, name in enumerate(["X", "Y", "sample_weight"], start=len(exact)):
        if abs(hi[i] - lo[i]) > 1e-6 * max(1.0, abs(hi[i])):
            raise ValueError(
                f"{name}: differs across ranks (checksums from {lo[i]!r} to {hi[i]!r}); "
                "every rank must be given the full, identical data set"
            )
