"""Streamed training shared by MPI ranks (issue 31): stripes of a chunk read alone, global
batches that do not depend on the number of ranks, and ``mpirun -n K`` equal to one
process on CSV and Parquet files cut into many small chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chainrule.datasets.stream import ChunkSource, TableStream, stripe_rows
from chainrule.training.stream import batches, stream_network
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
