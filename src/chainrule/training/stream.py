"""Training on a table file chunk by chunk, memory bounded by a chunk and a shuffle buffer
(issue 31).

An epoch visits the chunks of a :class:`~chainrule.datasets.stream.TableStream` in a
seeded order (a new permutation per epoch), encodes and scales each chunk's training rows,
and pours each of the chunk's stripes (S fixed row ranges) into that stripe's shuffle
buffer (``buffer_rows / S`` rows); a full buffer is shuffled (seeded) and cut into stripe
batches, its remainder kept for the next fill, and a mini-batch is the union of every
stripe's batch of that number (:mod:`.stream_stripes`: the same batches whether one
process or K MPI ranks read the stripes, :mod:`chainrule.distributed.stream`). Each batch
is one :class:`~chainrule.training.step.Step` — forward, cost, backward, update: the
engine's own math, nothing streamed differs but the order of the rows. Validation and
test metrics are computed chunk by chunk too (:func:`evaluate_stream`), and
:func:`predict_stream` writes its predictions as it reads.

>>> from chainrule.training.stream import evaluate_stream, fit_path
>>> net, stream, history = fit_path("big.parquet", "y", epochs=5)   # doctest: +SKIP
>>> evaluate_stream(net, stream, "test")                            # doctest: +SKIP

The shuffle buffer should hold many chunks: on a file sorted by some key (txhousing is
sorted by city), a buffer of two chunks made batches of few cities and cost 0.0067 of
test R² against a full shuffle; a buffer that holds the training rows matched the
in-memory fit within 0.001 (``tests/test_stream.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._blas import blas_threads_for
from ..datasets.csvfile import DataFileError
from ..datasets.stream import CHUNK_BYTES, TEST, TRAIN, VAL, ChunkSource, TableStream, split_of
from ..engine.mlp import MLP
from ..io.atomic import temp_name, write_error
from ..table.columns import TableError
from .metrics import n_correct
from .optimizers import Optimizer, get_optimizer
from .step import Step
from .stream_stripes import stripe_batches

if TYPE_CHECKING:
    from ..engine.network import Network

#: Rows the shuffle buffer gathers before it is shuffled and cut into batches.
BUFFER_ROWS = 65_536
SPLITS = {"train": TRAIN, "val": VAL, "test": TEST}
Array = NDArray[np.floating]
#: ``on_batch(epoch, batch, rows_so_far)``: see :func:`fit_stream`.
OnBatch = Callable[[int, int, int], None]


def stream_network(stream: TableStream, *, hidden: Sequence[int] = (64, 64),
                   activation: str = "relu", seed: int = 0, dtype: Any = "float32",
                   dropout: float = 0.0, scaling: NDArray[np.float64] | None = None
                   ) -> Network:
    """An MLP for ``stream``: a^(0) the encoder's features, the output layer and loss the
    task decides (softmax and cross-entropy for classes, identity and squared error for
    numbers), with ``net.encoder``, ``net.scaler`` (pass 2 over the training rows) and
    ``net.classes`` set; ``dropout`` after each hidden layer (as :class:`MLP`). A
    regression output starts at the target's mean and spread, as
    :meth:`Network.init_output_from_targets` does. ``scaling``: pass 2's statistics
    already gathered (:meth:`TableStream.scaling_sums`, merged), instead of pass 2 here."""
    classes = stream.classes
    n_out = 1 if classes is None else len(classes)
    loss = "squared_error" if classes is None else "cross_entropy"
    net = MLP([stream.encoder.n_out, *hidden, n_out], hidden=activation, loss=loss,
              seed=seed, dtype=dtype, dropout=dropout)
    net.encoder = stream.encoder
    net.scaler, y_mean, y_std = stream.standardizer(net.dtype, scaling)
    net.classes = None if classes is None else list(classes)
    if classes is None:  # init_output_from_targets, from streamed statistics
        out = net.output_layer
        out.w = out.w * (y_std if y_std > 0 else 1.0)
        if out.b is not None:
            out.b = np.full_like(out.b, y_mean)
    return net


def _xy(net: Network, stream: TableStream, chunk: Any, split: int
        ) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """A chunk's rows of ``split`` as a^(0) (encoded, scaled) and targets a^(L)-shaped."""
    X, y = stream.encoded(chunk, split, net.dtype)
    a0 = net.scaler.transform(X) if net.scaler is not None else X
    return a0, net.targets(y, len(y), "y")


def batches(net: Network, stream: TableStream, *, epoch: int, batch_size: int,
            buffer_rows: int = BUFFER_ROWS, seed: int = 0
            ) -> Iterator[tuple[NDArray[np.floating], NDArray[np.floating]]]:
    """The training mini-batches of ``epoch`` (from 1), each (a^(0), targets): chunks in a
    seeded order, each chunk's stripes through their own seeded shuffle buffers, a batch
    the union of the stripes' batches (:mod:`.stream_stripes`); the last batches may be
    smaller. The same (seed, epoch) gives the same batches, bit for bit, in one process
    or shared by MPI ranks."""
    return stripe_batches(net, stream, epoch=epoch, batch_size=batch_size,
                          buffer_rows=buffer_rows, seed=seed)


def fit_stream(net: Network, stream: TableStream, *, epochs: int = 10,
               batch_size: int = 256, optimizer: str | Optimizer | None = None,
               buffer_rows: int = BUFFER_ROWS, seed: int = 0, start_epoch: int = 0,
               start: tuple[int, int] | None = None, on_batch: OnBatch | None = None,
               ) -> list[dict[str, float]]:
    """Train ``net`` (from :func:`stream_network`) on ``stream``'s training rows, epochs
    ``start_epoch + 1`` … ``epochs``, each one pass over the file; after each epoch the
    validation rows are evaluated (:func:`evaluate_stream`) if there are any.

    Parameters
    ----------
    start : (epoch, batch), optional
        Resume point: continue epoch ``epoch`` (from 1) after its first ``batch``
        batches, then the epochs after it — bit for bit as if never stopped, given the
        network and optimizer state saved after that batch. An epoch's batches are a
        function of (seed, epoch), so the skipped ones are regenerated and discarded
        (read and encoded, not trained on). ``start=(e, 0)`` is ``start_epoch=e - 1``;
        give one of the two.
    on_batch : callable, optional
        Called after every trained batch as ``on_batch(epoch, batch, rows_so_far)``:
        the epoch (from 1), the batch's number in the epoch (from 1, counting skipped
        ones) and the training rows of the epoch so far (skipped batches included) — for
        progress and mid-epoch checkpoints.

    Returns the history: per epoch a dict of ``epoch``, ``loss`` (mean training cost),
    ``rows``, and ``val_loss`` with ``val_accuracy`` or ``val_r2``. In a resumed epoch
    ``loss`` and ``rows`` cover the batches trained by this call.
    """
    first_epoch, skip = fit_start(epochs, batch_size, buffer_rows, start, start_epoch)
    opt = (net.optimizer if optimizer is None and net.optimizer is not None
           else get_optimizer(optimizer))
    net.optimizer = opt
    step = Step(net, opt)
    # the compiled step is loaded for a fit long enough to repay numba, as Trainer does
    # (the whole run's plan whatever ``start``: a resumed fit takes the same path)
    step.planned_steps = -(-stream.counts["train"] // batch_size) * epochs

    def epoch_batches(epoch: int) -> Iterator[tuple[Array, Array, int]]:
        for xb, yb in batches(net, stream, epoch=epoch, batch_size=batch_size,
                              buffer_rows=buffer_rows, seed=seed):
            yield xb, yb, len(xb)

    def validate() -> dict[str, float] | None:
        return evaluate_stream(net, stream, "val") if stream.counts["val"] else None

    # one BLAS thread where a batch's products are small (chainrule._blas), as runs do
    sizes = [int(w.size) for w in (getattr(layer, "w", None) for layer in net.layers)
             if w is not None]
    with blas_threads_for(batch_size * max(sizes, default=0)):
        return train_epochs(step, epoch_batches, validate, epochs=epochs,
                            start=(first_epoch, skip), on_batch=on_batch)


def train_epochs(step: Step, epoch_batches: Callable[[int], Iterator[tuple[Array, Array, int]]],
                 validate: Callable[[], dict[str, float] | None], *, epochs: int,
                 start: tuple[int, int], on_batch: OnBatch | None
                 ) -> list[dict[str, float]]:
    """The epochs of a streamed fit, epoch ``start[0]`` after its first ``start[1]``
    batches to ``epochs``: ``epoch_batches(epoch)`` gives (this process's rows of each
    global batch, their targets, the global batch's size m), ``step`` trains on them,
    ``validate()`` gives the validation metrics after each epoch (None: no validation
    rows). The history: see :func:`fit_stream`."""
    first_epoch, skip = start
    history = []
    for epoch in range(first_epoch, epochs + 1):
        loss_sum, rows, seen = 0.0, 0, 0
        for batch, (xb, yb, m) in enumerate(epoch_batches(epoch), 1):
            seen += m
            if epoch == first_epoch and batch <= skip:
                continue
            batch_loss, n, _ = step(xb, yb, epoch=epoch, batch=batch)
            loss_sum, rows = loss_sum + batch_loss, rows + n
            if on_batch is not None:
                on_batch(epoch, batch, seen)
        row: dict[str, float] = {"epoch": epoch, "loss": loss_sum / max(rows, 1), "rows": rows}
        val = validate()
        if val is not None:
            row.update({f"val_{k}": v for k, v in val.items() if k != "rows"})
        history.append(row)
    return history


def fit_start(epochs: int, batch_size: int, buffer_rows: int,
              start: tuple[int, int] | None, start_epoch: int) -> tuple[int, int]:
    """:func:`fit_stream`'s arguments checked (one clear line naming the argument), and
    the first epoch to train (from 1) with the batches of it to skip, from ``start`` or
    ``start_epoch``."""
    for what, value in (("epochs", epochs), ("batch_size", batch_size),
                        ("buffer_rows", buffer_rows)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what}: expected a positive integer, got {value!r}")
    if isinstance(start_epoch, bool) or not isinstance(start_epoch, int) or start_epoch < 0:
        raise ValueError(f"start_epoch: expected an integer ≥ 0, got {start_epoch!r}")
    if start is None:
        first, skip = start_epoch + 1, 0
    else:
        if start_epoch:
            raise ValueError("start: give start=(epoch, batch) or start_epoch, not both")
        if (not isinstance(start, tuple) or len(start) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) for v in start)
                or start[0] < 1 or start[1] < 0):
            raise ValueError("start: expected (epoch, batch), an epoch ≥ 1 and a number of "
                             f"batches ≥ 0, got {start!r}")
        first, skip = start
    if first > epochs + (skip == 0):
        raise ValueError(f"start: epoch {first} is past epochs ({epochs})")
    return first, skip


def fit_path(path: str | Path, target: str, *, hidden: Sequence[int] = (64, 64),
             epochs: int = 10, batch_size: int = 256, seed: int = 0,
             val_split: float = 0.1, test_split: float = 0.2, task: str | None = None,
             optimizer: str | Optimizer | None = None, buffer_rows: int = BUFFER_ROWS,
             dtype: Any = "float32") -> tuple[Network, TableStream, list[dict[str, float]]]:
    """The one-call streamed fit of a CSV or Parquet file: :class:`TableStream` (pass 1),
    :func:`stream_network` (pass 2), :func:`fit_stream` (the epochs), all with ``seed``.
    Returns the trained network, the stream (for :func:`evaluate_stream` and
    :func:`predict_stream`) and the history."""
    stream = TableStream(path, target, task=task, val_split=val_split,
                         test_split=test_split, seed=seed)
    net = stream_network(stream, hidden=hidden, seed=seed, dtype=dtype)
    history = fit_stream(net, stream, epochs=epochs, batch_size=batch_size,
                         optimizer=optimizer, buffer_rows=buffer_rows, seed=seed)
    return net, stream, history


def evaluate_stream(net: Network, stream: TableStream, split: str = "test"
                    ) -> dict[str, float]:
    """``net``'s mean cost on the rows of ``split`` ("train", "val" or "test"), read chunk
    by chunk, with its accuracy (classes) or R² (numbers: 1 − Σ(y − ŷ)² / Σ(y − ȳ)², the
    sums merged over chunks) and the number of rows."""
    return metrics_of(evaluation_sums(net, stream, split), stream.classes is not None)


#: The sums :func:`evaluation_sums` gives, in order.
SUMS = ("loss_sum", "rows", "correct", "sq_err", "y_n", "y_mean", "y_m2")


def evaluation_sums(net: Network, stream: TableStream, split: str,
                    part: tuple[int, int, int] | None = None) -> NDArray[np.float64]:
    """The sums behind :func:`evaluate_stream` over the rows of ``split`` in every chunk
    (or in stripes ``part`` = (first, end, S) of every chunk): an array of shape (7,) of
    :data:`SUMS` — Σ C_i, rows, correct predictions, Σ (y − ŷ)², and the targets' count,
    mean and Σ (y − ȳ)² (regression). Merge two with :func:`merge_sums`."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    total = np.zeros(len(SUMS))
    for i in range(stream.source.n_chunks):
        a0, Y = _xy(net, stream, stream.source.read(i, part), SPLITS[split])
        if not len(a0):
            continue
        trace = net.forward(a0)
        here = np.zeros(len(SUMS))
        here[:2] = net.cost(trace, Y) * len(a0), len(a0)
        if stream.classes is not None:
            here[2] = n_correct(trace.a_L, Y, net.independent_outputs)
        else:
            y = Y[:, 0].astype(np.float64)
            here[3] = float(np.sum((y - trace.a_L[:, 0].astype(np.float64)) ** 2))
            here[4:] = len(y), float(y.mean()), float(np.sum((y - y.mean()) ** 2))
        total = merge_sums(total, here)
    return total


def merge_sums(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Two :func:`evaluation_sums` as one: sums added, the targets' means and Σ (y − ȳ)²
    merged (Chan et al.'s pairwise update)."""
    out = a + b
    n_a, n_b = a[4], b[4]
    if n_a and n_b:
        delta = b[5] - a[5]
        out[5] = a[5] + delta * n_b / (n_a + n_b)
        out[6] = a[6] + b[6] + delta**2 * n_a * n_b / (n_a + n_b)
    else:
        out[5] = a[5] if n_a else b[5]
    return out


def metrics_of(sums: NDArray[np.float64], classes: bool) -> dict[str, float]:
    """``loss``, ``rows`` and ``accuracy`` (``classes``) or ``r2`` from
    :func:`evaluation_sums`."""
    rows = float(sums[1])
    out = {"loss": float(sums[0]) / max(rows, 1), "rows": rows}
    if classes:
        out["accuracy"] = float(sums[2]) / max(rows, 1)
    else:
        out["r2"] = 1.0 - float(sums[3]) / float(sums[6]) if sums[6] > 0 else 0.0
    return out


def predict_stream(net: Network, stream: TableStream, out: str | Path,
                   split: str = "test") -> int:
    """Write ``net``'s prediction for every row of ``split`` to the CSV file ``out``
    (:func:`predict_file`'s columns) chunk by chunk, as it reads; returns the number of
    rows written."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    code = SPLITS[split]
    return _write_predictions(net, out, ((_xy(net, stream, chunk, code)[0],
                                          _positions(stream, chunk, code))
                                         for chunk in stream.source))


def predict_file(net: Network, path: str | Path, out: str | Path, *,
                 chunk_bytes: int = CHUNK_BYTES) -> int:
    """Write ``net``'s prediction for every row of the CSV or Parquet file ``path`` to the
    CSV file ``out``, a chunk at a time: a saved model (``chainrule.load``) on a table
    larger than memory. ``net.encoder`` reads the columns by name (others are ignored).
    Returns the number of rows written."""
    if net.encoder is None:
        raise ValueError("net: predicting a table file needs a network with a table "
                         "encoder (net.encoder), one trained on a table")
    source = ChunkSource(path, chunk_bytes=chunk_bytes)

    def rows() -> Iterator[tuple[NDArray[np.floating], NDArray[np.int64]]]:
        for chunk in source:
            try:
                yield net.inputs(chunk.table), chunk.positions
            except (TableError, ValueError) as exc:
                raise DataFileError(source.path, str(exc)) from None

    return _write_predictions(net, out, rows())


#: Rows a prediction runs forward at a time: a Parquet row group (65,536 rows) at once kept
#: every layer's z and a of all its rows.
PREDICT_ROWS = 8_192


def _write_predictions(net: Network, out: str | Path,
                       rows: Iterator[tuple[NDArray[np.floating], NDArray[np.int64]]]) -> int:
    """Write ``position,prediction`` lines for each (a^(0), positions) that ``rows``
    gives (a class label, or a number), to a temporary file beside ``out``
    (:func:`~chainrule.io.atomic.temp_name`) renamed to ``out`` once whole; returns the
    number of rows written."""
    out = Path(out)
    tmp = out.with_name(temp_name(out.name))
    written = 0
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write("position,prediction\n")
            for a0, positions in rows:
                for start in range(0, len(a0), PREDICT_ROWS):  # a chunk's trace in pieces
                    a_L = net.forward(a0[start:start + PREDICT_ROWS]).a_L
                    if net.classes is not None:
                        said = [str(net.classes[k]) for k in net.classes_of(a_L).tolist()]
                    else:
                        said = [repr(float(v)) for v in a_L[:, 0].tolist()]
                    at = positions[start:start + PREDICT_ROWS].tolist()
                    fh.writelines(f"{p},{v}\n" for p, v in zip(at, said, strict=True))
                    written += len(said)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(out, "write the predictions", exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


def _positions(stream: TableStream, chunk: Any, split: int) -> NDArray[np.int64]:
    table = chunk.table
    keep = ~table[stream.target].missing
    where = split_of(chunk.positions, stream.seed, stream.val_split, stream.test_split)
    return chunk.positions[keep & (where == split)]


__all__ = ["BUFFER_ROWS", "batches", "evaluate_stream", "evaluation_sums", "fit_path",
           "fit_start", "fit_stream", "merge_sums", "metrics_of", "predict_file",
           "predict_stream", "stream_network", "train_epochs"]
