"""Streamed training shared by MPI ranks (issue 31): stripes of a chunk read alone, global
batches that do not depend on the number of ranks, and ``mpirun -n K`` equal to one
process on CSV and Parquet files cut into many small chunks."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from chainrule.datasets.stream import (
    TRAIN,
    ChunkSource,
    TableStream,
    merge_scaling_sums,
    stripe_rows,
)
from chainrule.training.stream import batches, evaluate_stream, fit_stream, stream_network
from chainrule.training.stream_stripes import n_stripes, stripe_batches

pytest.importorskip("datasketches", reason="streaming needs the tables extra's datasketches")


def _table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Numbers with missing cells, a category, a few missing targets and a class target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    df = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1],
                       "c": rng.choice(["a", "b", "c"], n),
                       "y": np.where(x[:, 0] + 0.5 * x[:, 1] > 0, "yes", "no")})
    df.loc[rng.choice(n, 12), "x2"] = np.nan
    df.loc[rng.choice(n, 5), "y"] = None
    return df


def _cells(col) -> list[str]:
    return [col.vocab[k] if k >= 0 else None for k in col.codes.tolist()]


@pytest.fixture
def files(tmp_path):
    df = _table()
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet", row_group_size=37)
    return tmp_path / "t.csv", tmp_path / "t.parquet", df


# -- stripes of a chunk ----------------------------------------------------------------------
def test_stripe_rows_tile_a_chunk():
    for n in (0, 1, 7, 8, 37, 100):
        for S in (1, 3, 8):
            bounds = [stripe_rows(n, s, S) for s in range(S)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
            assert max(hi - lo for lo, hi in bounds) - min(hi - lo for lo, hi in bounds) <= 1


@pytest.mark.parametrize("which,chunk_bytes", [(0, 1), (0, 300), (0, 2000), (1, None)])
def test_a_part_of_a_chunk_is_its_rows(files, which, chunk_bytes):
    """Every stripe range [a, b) of 8 of every chunk (CSV: a line per chunk, small and
    large chunks; Parquet: row groups of 37) holds the chunk's rows n·a//8 … n·b//8 with
    their positions, line numbers and cells, read in any order."""
    path = files[which]
    source = ChunkSource(path, chunk_bytes=chunk_bytes or 1 << 20)
    whole = ChunkSource(path, chunk_bytes=chunk_bytes or 1 << 20)
    parts = [(0, 8), (0, 1), (3, 4), (7, 8), (2, 6), (4, 8)]
    for i in reversed(range(source.n_chunks)):  # a later chunk first: rows counted unparsed
        for a, b in parts:
            got = source.read(i, (a, b, 8))
            full = whole.read(i)
            n = len(full.table)
            assert source.chunk_rows(i) == n
            lo, hi = n * a // 8, n * b // 8
            assert np.array_equal(got.positions, full.positions[lo:hi])
            assert np.array_equal(got.table.lines, full.table.lines[lo:hi])
            assert len(got.table) == hi - lo
            if hi > lo:  # an empty part has no column types to compare
                np.testing.assert_array_equal(got.table["x1"].values,
                                              full.table["x1"].values[lo:hi])
                assert _cells(got.table["c"]) == _cells(full.table["c"])[lo:hi]
    with pytest.raises(ValueError, match=r"part: expected \(first, end, stripes\)"):
        source.read(0, (3, 3, 8))


def test_stripes_encode_as_their_chunk_does(tmp_path):
    """A stripe's cells are typed from its own rows (a text column all missing in a stripe
    reads as numbers there, a column of digits and letters as numbers or text): every
    stripe's encoded rows and targets equal its rows of the whole chunk's."""
    rng = np.random.default_rng(0)
    n = 400
    pd.DataFrame({"x": rng.normal(size=n),
                  "sparse": np.where(rng.random(n) < 0.1, rng.choice(["u", "v"], n), None),
                  "mixed": np.where(rng.random(n) < 0.5, rng.integers(0, 5, n).astype(str), "k"),
                  "y": rng.integers(0, 2, n)}).to_csv(tmp_path / "s.csv", index=False)
    stream = TableStream(tmp_path / "s.csv", "y", chunk_bytes=600)
    assert stream.source.n_chunks > 10
    for i in range(stream.source.n_chunks):
        X, y = stream.encoded(stream.source.read(i), TRAIN, np.float64)
        parts = [stream.encoded(stream.source.read(i, (s, s + 1, 8)), TRAIN, np.float64)
                 for s in range(8)]
        assert np.array_equal(X, np.concatenate([p[0] for p in parts]), equal_nan=True)
        assert np.array_equal(y, np.concatenate([p[1] for p in parts]))


@pytest.mark.parametrize("which,task", [(0, None), (1, "regression")])
def test_pass_2_of_the_ranks_shares_merges_to_the_whole(files, which, task):
    """Pass 2 over stripes [a, b) of every chunk, for each rank of K, merged in rank order
    (``merge_scaling_sums``), gives the scaler and target statistics of pass 2 over every
    row (to 1e-12)."""
    target = "x1" if task == "regression" else "y"
    stream = TableStream(files[which], target, task=task, chunk_bytes=300)
    whole = stream.scaling_sums(np.float64)
    scaler, y_mean, y_std = stream.standardizer(np.float64)
    for K in (2, 4, 8):
        parts = [stream.scaling_sums(np.float64, (r * 8 // K, (r + 1) * 8 // K, 8))
                 for r in range(K)]
        total = parts[0]
        for part in parts[1:]:
            total = merge_scaling_sums(total, part)
        np.testing.assert_allclose(total, whole, rtol=1e-12, atol=1e-12)
        shared, shared_mean, shared_std = stream.standardizer(np.float64, total)
        np.testing.assert_allclose(shared.mean, scaler.mean, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(shared.scale, scaler.scale, rtol=1e-12)
        assert shared_mean == pytest.approx(y_mean, rel=1e-12)
        assert shared_std == pytest.approx(y_std, rel=1e-12)
    assert (whole[-3] > 0) == (task == "regression")


# -- the global batch does not depend on the number of ranks ---------------------------------
@pytest.mark.parametrize("which,batch_size,buffer_rows", [(0, 16, 40), (1, 16, 1),
                                                          (1, 5, 30), (0, 24, 10_000)])
def test_ranks_stripes_make_the_one_process_batches(files, which, batch_size, buffer_rows):
    """For K = every divisor of S: global batch b is the concatenation, in rank order, of
    each rank's batch b (ranks that have run out give nothing) — bit for bit; and every
    training row is in one batch of the epoch."""
    stream = TableStream(files[which], "y", chunk_bytes=300, val_split=0.1)
    assert stream.source.n_chunks > 5
    net = stream_network(stream, hidden=(4,), seed=0, dtype="float64")
    kw = {"batch_size": batch_size, "buffer_rows": buffer_rows, "seed": 7}
    S = n_stripes(batch_size)
    for epoch in (1, 2):
        one = list(batches(net, stream, epoch=epoch, **kw))
        assert sum(len(x) for x, _ in one) == stream.counts["train"]
        for K in [k for k in (1, 2, 4, 5, 8) if S % k == 0]:
            ranks = [list(stripe_batches(net, stream, epoch=epoch, stripes=(r * S // K,
                                                                            (r + 1) * S // K),
                                         **kw)) for r in range(K)]
            assert max(len(r) for r in ranks) == len(one)
            for b, (x, y) in enumerate(one):
                shares = [r[b] for r in ranks if b < len(r)]
                assert np.array_equal(x, np.concatenate([s[0] for s in shares]))
                assert np.array_equal(y, np.concatenate([s[1] for s in shares]))


# -- mpirun -n K against one process ---------------------------------------------------------
SCRIPT = Path(__file__).parent / "mpi_scripts" / "stream_cases.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stream_cases", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mpi(tmp_path: Path, n_ranks: int, path: Path, *extra: str):
    from test_distributed import _assert_no_segment_left, _mpirun, _run

    out = tmp_path / f"out{n_ranks}"
    out.mkdir(exist_ok=True)
    cmd = [*_mpirun(), "-n", str(n_ranks), sys.executable, str(SCRIPT), str(out), str(path),
           "y", *extra]
    result = _run(cmd, marker=str(out))
    _assert_no_segment_left(out, n_ranks)
    return result, out


@pytest.mark.parametrize("which,n_ranks,extra", [
    (0, 2, ["--chunk-bytes", "1"]),                      # CSV, a line per chunk
    (0, 2, ["--chunk-bytes", "900", "--buffer", "1"]),  # CSV, ~40-row chunks, tiny buffers
    (1, 2, ["--batch", "13", "--dropout", "0.3"]),       # Parquet, dropout: global masks
    (1, 4, ["--batch", "13", "--buffer", "200"]),
    (0, 3, ["--batch", "6", "--epochs", "2"]),           # 6 stripes over 3 ranks
])
def test_mpirun_streamed_fit_equals_one_process(files, tmp_path, which, n_ranks, extra):
    """Every rank reads only its stripes of each chunk; the ranks end with the same
    weights, and those of one process reading every stripe to 1e-12 (float64), with the
    same history and test metrics."""
    path = files[which]
    result, out = _mpi(tmp_path, n_ranks, path, *extra)
    assert result.returncode == 0, result.stdout
    cases = _script()
    net, history, stream = cases.run(cases.options([str(out), str(path), "y", *extra]),
                                     fit_stream)
    assert stream.source.n_chunks >= 8
    params = [np.load(out / f"params.rank{r}.npy", allow_pickle=False) for r in range(n_ranks)]
    assert all(np.array_equal(params[0], p) for p in params[1:])
    err = np.max(np.abs(params[0] - net.params))
    assert err <= 1e-12, f"max |Δw| = {err:g}"
    assert np.max(np.abs(net.params)) > 0.1  # the weights are not all tiny
    saved = json.loads((out / "history.rank0.json").read_text())
    assert [h["rows"] for h in saved["history"]] == [stream.counts["train"]] * len(history)
    for got, want in zip(saved["history"], history, strict=True):
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-12), key
    test = evaluate_stream(net, stream, "test")
    assert saved["test"] == pytest.approx(test, rel=1e-12)
    assert saved["test"]["rows"] == stream.counts["test"]


class _Stop(Exception):
    pass


def test_mpirun_resumes_a_one_process_fit_mid_epoch(files, tmp_path):
    """A fit stopped in one process after batch 3 of epoch 2, its weights and optimizer
    state handed to 2 ranks that continue with ``start=(2, 3)``, ends where the unbroken
    one-process fit ends (1e-12): the resume point means the same batches for K ranks."""
    cases = _script()
    path = files[1]
    args = cases.options([str(tmp_path), str(path), "y"])
    whole, _, _ = cases.run(args, fit_stream)

    def stop(epoch: int, batch: int, rows: int) -> None:
        if (epoch, batch) == (2, 3):
            raise _Stop

    net, stream = cases.build(args)
    with pytest.raises(_Stop):
        fit_stream(net, stream, epochs=args.epochs, batch_size=args.batch,
                   buffer_rows=args.buffer, seed=5, optimizer="adam", on_batch=stop)
    opt = net.optimizer
    np.savez(tmp_path / "state.npz", params=net.params, t=opt.t,
             **{f"slot_{k}": v for k, v in opt.state.items()})
    result, out = _mpi(tmp_path, 2, path, "--resume-from", str(tmp_path / "state.npz"),
                       "--start", "2", "3")
    assert result.returncode == 0, result.stdout
    err = np.max(np.abs(np.load(out / "params.rank0.npy") - whole.params))
    assert err <= 1e-12, f"max |Δw| = {err:g}"
    assert not np.allclose(net.params, whole.params)  # the stop left work to do


def test_ranks_that_do_not_divide_the_stripes_are_one_line(files, tmp_path):
    result, _ = _mpi(tmp_path, 3, files[1])  # batch 16: 8 stripes
    assert result.returncode != 0
    assert "the number of ranks must divide the 8 stripes of each chunk" in result.stdout


@pytest.mark.parametrize("how,message", [
    ("raise", "rank 1 of 2 failed, aborting the job"),
    ("exit0", "rank 1 of 2 called os._exit(0) during distributed.fit"),
    # SIGKILL leaves nothing to intervene: the launcher names the process and the signal.
    ("sigkill", "Killed (signal 9)"),
])
def test_a_rank_leaving_a_streamed_fit_ends_the_job(files, tmp_path, how, message):
    result, out = _mpi(tmp_path, 2, files[1], "--fail", how)
    ended = time.time()
    assert result.returncode != 0, result.stdout
    assert message in result.stdout, result.stdout
    assert ended - float((out / "left.time").read_text()) < 10
    assert not (out / "params.rank0.npy").exists()  # rank 0 did not finish alone


@pytest.mark.parametrize("which", [0, 1])
def test_cli_distributed_stream_equals_one_process(files, tmp_path, which):
    """The issue's command: ``mpirun -n 2 chainrule train --csv F --target y --distributed
    --stream`` against ``chainrule train --csv F --target y --stream`` (float64): the same
    weights to 1e-12, one run directory (rank 0's), the epochs printed once."""
    from test_distributed import _cli, _single_process_cli, _weights

    path = files[which]
    common = ["--csv", str(path), "--target", "y", "--stream", "--dtype", "float64",
              "--epochs", "3", "--batch-size", "16", "--seed", "2"]
    work = tmp_path / "work"
    work.mkdir()
    result = _cli(tmp_path, 2, "--distributed", *common, cwd=work)
    assert result.returncode == 0, result.stdout
    runs = list((work / "runs").iterdir())
    assert len(runs) == 1, f"expected one run directory (rank 0), found {runs}"
    assert result.stdout.count("epoch 3/3") == 1, result.stdout
    _single_process_cli(*common, "--out", str(tmp_path / "single"))
    one = _weights(tmp_path / "single")
    err = np.max(np.abs(_weights(runs[0]) - one))
    assert err <= 1e-12, f"max |Δw| = {err:g}"
    assert np.max(np.abs(one)) > 0.1
    metrics = [json.loads((d / "metrics.json").read_text()) for d in (runs[0], tmp_path / "single")]
    assert metrics[0]["test"] == pytest.approx(metrics[1]["test"], rel=1e-12)


def test_a_rank_streaming_another_table_ends_the_job_naming_it(files, tmp_path):
    """MPMD launch: rank 1 opens a table with other rows; it is named with what differs
    before any training, and the job ends non-zero."""
    from test_distributed import _mpirun, _run

    other = tmp_path / "other.parquet"
    _table(260, seed=1).to_parquet(other, row_group_size=37)
    out = tmp_path / "out"
    out.mkdir()
    py = [sys.executable, str(SCRIPT), str(out)]
    cmd = [*_mpirun(), "-n", "1", *py, str(files[1]), "y", ":", "-n", "1", *py, str(other), "y"]
    result = _run(cmd, marker=str(out))
    assert result.returncode != 0, result.stdout
    assert "rank 1 streams a different table or fit from rank 0: rows" in result.stdout
    assert not list(out.glob("params.rank*.npy"))
