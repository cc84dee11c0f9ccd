"""Putting back the last finite weights after a divergence, by replaying the epoch.

Steps never copy the weights (that would cost a pass over them per step); an update that
overflowed is found on the next check. So the loop keeps a :class:`Snapshot` at the start
of every epoch, and after a divergence :func:`last_finite` goes back to it and replays the
epoch's steps, deterministically (same generator state, same batches), copying before
each, until the one whose update was not finite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine import backend as _backend
from .divergence import DivergenceError, finite

if TYPE_CHECKING:
    from .batches import Batches
    from .step import Step


class Snapshot:
    """Weights, optimizer state and the network's generator state of a step's network at
    one moment."""

    def __init__(self, step: Step) -> None:
        self.step = step
        self.take()

    def take(self) -> None:
        net = self.step.net
        self.params = _backend.copy(net.params)
        self.optimizer = self.step.optimizer.state_dict()
        self.rng = net.rng.bit_generator.state

    def restore(self) -> None:
        net = self.step.net
        net.params[...] = self.params
        self.step.optimizer.load_state_dict(self.optimizer)
        net.rng.bit_generator.state = self.rng


def last_finite(start_of_epoch: Snapshot, batches: Batches, *, shuffle: bool, epoch: int,
                failed_batch: int, before_failed: bool = False) -> None:
    """Put back the last finite weights (and the optimizer state that goes with them)
    of epoch ``epoch``, which diverged at ``failed_batch``.

    From ``start_of_epoch`` replay the epoch's steps until the one whose update was not
    finite — or, with ``before_failed``, up to the step before ``failed_batch`` (whose
    update the compiled step had applied before its loss was seen to explode).
    """
    step = start_of_epoch.step
    net = step.net
    start_of_epoch.restore()
    order = batches.order(net.rng.permutation(batches.n)) if shuffle else None
    before = Snapshot(step)
    for batch in range(1, failed_batch if before_failed else failed_batch + 1):
        before.take()
        xb, yb, sb = batches.get(batch, order)
        try:
            step(xb, yb, sb, epoch=epoch, batch=batch)
        except DivergenceError:
            break
        if not finite(net.params):
            break
    else:
        return  # every replayed step stayed finite: keep the state after them
    before.restore()
