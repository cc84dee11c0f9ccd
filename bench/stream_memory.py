"""Streamed vs in-memory training on a table of N rows × 30 columns (issue 31).

Writes (once, cached in ``--dir``) a synthetic mixed table — 20 numbers (normal,
log-normal, integers; a quarter of them with ~5 % missing cells), 8 text categories
(cardinality 3 … 40, ~2 % missing), 1 integer code column and a 0/1 target from a noisy
rule — as Parquet (row groups of 65,536 rows) and CSV, each written chunk by chunk. Then
each contender runs in its own fresh process and reports its peak resident memory
(``VmHWM``), the seconds of each phase, and rows/s of an epoch:

- ``train parquet`` / ``train csv`` (the default contenders): the command itself,
  ``chainrule train --csv F --target y --stream --epochs E --batch-size 256 --val-split 0``
  (progress, checkpoints and all), its epoch seconds and rows/s from its metrics.json;
- ``train2 parquet`` / ``train2 csv``: the same under ``mpirun -n 2 … --distributed``,
  each rank's peak (only where ``--distributed --stream`` is available);
- ``stream parquet`` / ``stream csv`` (``--contenders stream``): the library,
  :class:`chainrule.datasets.stream.TableStream`
  (pass 1: the encoder), :func:`~chainrule.training.stream.stream_network` (pass 2: the
  scaler), ``--epochs`` of :func:`~chainrule.training.stream.fit_stream`, then the test
  accuracy by :func:`~chainrule.training.stream.evaluate_stream`;
- ``memory parquet``: the whole table read (:func:`chainrule.datasets.load_csv`), the same
  hash split, ``TableEncoder().fit`` on the training rows, every row encoded, ``net.fit``
  for ``--epochs`` (skipped past ``--memory-max`` rows).

Same network (30 → 64 → 64 → 2, float32, Adam, batch 256) in each.
Writes ``bench/results/stream_memory[-TAG].md`` and ``.json``; a later run with the same
tag replaces its own (N, contender) rows and keeps the others, so the large N can be run
on their own; the Markdown ends with the ratios (peak RSS against N = 1M, streamed rows/s
against in-memory, 2 ranks against 1).

    python bench/stream_memory.py                       # N = 1,000,000, 1 epoch
    python bench/stream_memory.py --rows 20000000 --memory-max 1000000 --formats parquet
    python bench/stream_memory.py --real      # test metric, streamed vs in memory
    python bench/stream_memory.py --predict --rows 1000000 5000000   # predict_file's peak
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

#: ``--max-seconds``: a worker stops itself after this long (0: never).
MAX_SECONDS = 0
RESULTS = Path(__file__).resolve().parent / "results"
ROW_GROUP = 65_536
CARDINALITIES = (3, 4, 6, 8, 12, 20, 30, 40)


def _block(rng: np.random.Generator, start: int, n: int) -> object:
    import pandas as pd

    cols: dict[str, object] = {}
    for j in range(20):
        v = (rng.normal(size=n) if j % 3 == 0 else rng.lognormal(size=n) if j % 3 == 1
             else rng.integers(0, 1000, n).astype(float))
        if j % 4 == 0:
            v[rng.random(n) < 0.05] = np.nan
        cols[f"n{j}"] = v
    for j, k in enumerate(CARDINALITIES):
        c = rng.integers(0, k, n).astype(object)
        c = np.array([f"cat{j}_{i}" for i in range(k)], dtype=object)[c.astype(int)]
        c[rng.random(n) < 0.02] = None
        cols[f"c{j}"] = c
    cols["code"] = rng.integers(0, 50, n)
    n0 = np.nan_to_num(cols["n0"])  # type: ignore[arg-type]
    logit = n0 + np.log(cols["n1"]) - (cols["c0"] == "cat0_1") + 0.01 * (cols["code"] % 7)  # type: ignore[operator]
    cols["y"] = (logit + rng.normal(size=n) > 0).astype(int)
    return pd.DataFrame(cols)


def make(n_rows: int, directory: Path, csv_too: bool = True) -> tuple[Path, Path]:
    """The Parquet and CSV files of ``n_rows`` rows (cached; the CSV only with
    ``csv_too``), written a block at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet, csv = directory / f"table-{n_rows}.parquet", directory / f"table-{n_rows}.csv"
    if parquet.exists() and (csv.exists() or not csv_too):
        return parquet, csv
    rng = np.random.default_rng(0)
    writer = None
    with open(csv if csv_too else os.devnull, "w") as fh:
        for start in range(0, n_rows, ROW_GROUP):
            frame = _block(rng, start, min(ROW_GROUP, n_rows - start))
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(parquet, table.schema)
            writer.write_table(table, row_group_size=ROW_GROUP)
            frame.to_csv(fh, index=False, header=start == 0)  # type: ignore[attr-defined]
    assert writer is not None
    writer.close()
    return parquet, csv


def _peak_mb() -> float:
    """This process's peak resident memory: ``VmHWM`` (reset by exec; ``ru_maxrss`` is
    not, and would show the parent's peak), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(mode: str, path: str, epochs: int) -> dict[str, float]:
    """One contender in this (fresh) process: phase times, rows/s, peak RSS."""
    from chainrule.datasets.stream import TRAIN, TableStream, split_of
    from chainrule.training.stream import evaluate_stream, fit_stream, stream_network

    out: dict[str, float] = {"rss_start_mb": _peak_mb()}
    t0 = time.perf_counter()
    if mode in ("fitsave", "predict"):
        return _predict_worker(mode, path, out)
    if mode in ("train", "train2"):
        return _train_worker(mode, path, epochs, out)
    if mode == "stream":
        stream = TableStream(path, "y", task="classification", val_split=0.0)
        out["pass1_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        net = stream_network(stream, hidden=(64, 64), seed=0)
        out["pass2_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        fit_stream(net, stream, epochs=epochs, batch_size=256, seed=0)
        out["epoch_s"] = (time.perf_counter() - t2) / epochs
        out["train_rows"] = stream.counts["train"]
        out["accuracy"] = evaluate_stream(net, stream, "test")["accuracy"]
    else:
        from chainrule import MLP, datasets
        from chainrule.table import TableEncoder

        ds = datasets.load_csv(path, "y", "classification", encode=False)
        assert ds.table is not None
        where = split_of(np.arange(len(ds.y)), 0, 0.0, 0.2)
        train, test = np.flatnonzero(where == TRAIN), np.flatnonzero(where != TRAIN)
        enc = TableEncoder().fit(ds.table.take(train))
        X = enc.transform(ds.table.take(train), np.float32)
        out["pass1_s"] = time.perf_counter() - t0
        net = MLP([enc.n_out, 64, 64, 2], loss="cross_entropy", seed=0)
        net.encoder, net.scaler = enc, enc.standardizer(X)
        t2 = time.perf_counter()
        net.fit(X, ds.y[train], epochs=epochs, batch_size=256, optimizer="adam")
        out["epoch_s"] = (time.perf_counter() - t2) / epochs
        out["train_rows"] = len(train)
        Xt = enc.transform(ds.table.take(test), np.float32)
        out["accuracy"] = float(np.mean(np.argmax(net.predict(Xt), axis=1) == ds.y[test]))
    out["rows_per_s"] = out["train_rows"] / out["epoch_s"]
    out["peak_rss_mb"] = _peak_mb()
    return out


def _stop_after(seconds: float) -> None:
    """Ctrl-C this process after ``seconds`` (0: never), as a user would: a run stops at
    its checkpoint, a prediction leaves no file."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if seconds > 0:
        signal.signal(signal.SIGALRM, interrupt)
        signal.alarm(int(seconds))


def _train_worker(mode: str, path: str, epochs: int, out: dict[str, Any]
                  ) -> dict[str, Any]:
    """``chainrule train --stream`` in this process (``train2``: this MPI rank of two,
    ``--distributed``); the epochs' seconds and rows/s from the run's metrics.json.
    Stopped by ``--max-seconds`` (CPU shared: a 20M epoch may not fit the time there is),
    rows/s come from its last checkpoint (written every 200 batches): the rows of the
    batches done over the training seconds, and ``epoch_s`` is the epoch at that rate."""
    from chainrule.cli import main
    from chainrule.io.model import read_model

    run_dir = Path(tempfile.mkdtemp(prefix="stream-bench-run-"))
    argv = ["train", "--csv", path, "--target", "y", "--task", "classification", "--stream",
            "--epochs", str(epochs), "--batch-size", "256", "--hidden", "64,64",
            "--val-split", "0", "--out", str(run_dir / "run"), "--quiet"]
    t0 = time.perf_counter()
    _stop_after(MAX_SECONDS)
    code = main(argv + (["--distributed"] if mode == "train2" else []) +
                (["--checkpoint-batches", "200"] if MAX_SECONDS else []))
    out["total_s"] = time.perf_counter() - t0
    out["peak_rss_mb"] = _peak_mb()
    checkpoint = run_dir / "run" / "checkpoint.safetensors"
    if code == 130 and not checkpoint.is_file():  # stopped in passes 1 and 2: the peak
        out.update(stopped_after_s=MAX_SECONDS, batches_done=0, rows_per_s=0.0,
                   pass1_s=out["total_s"])
        return out
    if code == 130:
        import shutil

        # the stopped run's model (encoder, scaler, weights) is what --predict loads
        shutil.copy(checkpoint, Path(path).with_suffix(".model.safetensors"))
        state = read_model(checkpoint).training["stream"]
        out["stopped_after_s"] = MAX_SECONDS
        out["batches_done"] = state["batch"]
        out["rows_per_s"] = state["batch"] * state["batch_size"] / state["train_seconds"]
        out["pass1_s"] = out["total_s"] - state["train_seconds"]
        return out
    if code:
        raise SystemExit(f"chainrule train exited {code}")
    if not (run_dir / "run").is_dir():  # an MPI rank other than 0: it wrote nothing
        run_dir.rmdir()
        return out
    metrics = json.loads((run_dir / "run" / "metrics.json").read_text())
    rows = metrics["epochs"]
    out["epoch_s"] = sum(r["seconds"] for r in rows) / len(rows)
    out["rows_per_s"] = sum(r["rows"] for r in rows) / sum(r["seconds"] for r in rows)
    out["train_rows"] = metrics["rows"]["train"]
    out["pass1_s"] = out["total_s"] - sum(r["seconds"] for r in rows)  # passes 1, 2 + test
    out["accuracy"] = metrics["test"]["accuracy"]
    out["checkpoint"] = float((run_dir / "run" / "checkpoint.safetensors").is_file())
    for f in (run_dir / "run").iterdir():
        f.unlink()
    (run_dir / "run").rmdir()
    run_dir.rmdir()
    return out


#: The real tables of ``--real`` (plotnine's CSVs): file, target, epochs.
REAL = (("diamonds.csv", "price", 5), ("diamonds.csv", "cut", 5), ("txhousing.csv", "median", 20))


def real_tables() -> list[dict[str, object]]:
    """Streamed vs in-memory fit of the same network (same hash split, encoder, scaler
    and initial weights; the in-memory one shuffles all training rows each epoch) on real
    tables: the test metric of each."""
    import plotnine.data

    from chainrule.datasets.stream import TRAIN, TableStream
    from chainrule.training.stream import evaluate_stream, fit_stream, stream_network

    found = []
    for name, target, epochs in REAL:
        path = Path(plotnine.data.__file__).parent / name
        stream = TableStream(path, target, seed=0, chunk_bytes=256 << 10)
        streamed = stream_network(stream, hidden=(64, 64), seed=0)
        fit_stream(streamed, stream, epochs=epochs, batch_size=128, optimizer="adam")
        memory = stream_network(stream, hidden=(64, 64), seed=0)
        parts = [stream.encoded(c, TRAIN, memory.dtype) for c in stream.source]
        y = np.concatenate([p[1] for p in parts])
        memory.fit(np.concatenate([p[0] for p in parts]), memory.targets(y, len(y)),
                   epochs=epochs, batch_size=128, optimizer="adam")
        metric = "accuracy" if stream.classes is not None else "r2"
        a = evaluate_stream(streamed, stream, "test")[metric]
        b = evaluate_stream(memory, stream, "test")[metric]
        found.append({"table": name, "target": target, "metric": metric, "chunks":
                      stream.source.n_chunks, "train_rows": stream.counts["train"],
                      "streamed": a, "in_memory": b, "difference": a - b})
        print(json.dumps(found[-1]), flush=True)
    return found


def _predict_worker(mode: str, path: str, out: dict[str, float]) -> dict[str, float]:
    """``fitsave``: passes 1 and 2 and the untrained model saved beside the file;
    ``predict``: that model loaded and :func:`~chainrule.training.stream.predict_file` of
    every row of the file, its peak RSS and rows/s."""
    import chainrule
    from chainrule.datasets.stream import TableStream
    from chainrule.training.stream import predict_file, stream_network

    model = Path(path).with_suffix(".model.safetensors")
    t0 = time.perf_counter()
    if mode == "fitsave":
        stream = TableStream(path, "y", task="classification", val_split=0.0)
        chainrule.save(stream_network(stream, hidden=(64, 64), seed=0), model)
    else:
        _stop_after(MAX_SECONDS)
        try:
            rows = predict_file(chainrule.load(model), path,
                                Path(path).with_suffix(".pred.csv"))
        except KeyboardInterrupt:  # the peak so far; rows/s unknown (no count is kept)
            out["stopped_after_s"] = MAX_SECONDS
            rows = 0
        out["rows_per_s"] = rows / (time.perf_counter() - t0)
        out["predicted_rows"] = rows
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = _peak_mb()
    return out


def predictions(n_rows: list[int], directory: Path) -> None:
    """The peak RSS of predict_file on each N's Parquet file, in a fresh process;
    ``stream_memory-predict.{json,md}`` keep the rows of the N not measured this time."""
    found = []
    for n in n_rows:
        parquet, _ = make(n, directory, csv_too=False)
        model = Path(parquet).with_suffix(".model.safetensors")
        for mode in ("fitsave", "predict")[model.is_file():]:  # a saved model: reused
            done = subprocess.run([sys.executable, __file__, "--max-seconds",
                                   str(MAX_SECONDS if mode == "predict" else 0), "--worker",
                                   mode, str(parquet)], capture_output=True, text=True,
                                  check=True)
        found.append({"rows": n, **json.loads(done.stdout.strip().splitlines()[-1])})
        print(json.dumps(found[-1]), flush=True)
        Path(parquet).with_suffix(".pred.csv").unlink(missing_ok=True)
    old = RESULTS / "stream_memory-predict.json"
    if old.is_file():
        found += [r for r in json.loads(old.read_text()) if r["rows"] not in n_rows]
    found.sort(key=lambda r: r["rows"])
    old.write_text(json.dumps(found, indent=1) + "\n")
    lines = ["# predict_file on N rows x 30 columns (Parquet), a model loaded", "",
             "| N | peak RSS MB | seconds | rows/s | whole file |", "|---|---|---|---|---|"]
    lines += [f"| {r['rows']:,} | {r['peak_rss_mb']:.0f} | {r['seconds']:.1f} | "
              f"{r['rows_per_s']:,.0f} | " + (f"no: stopped after {r['stopped_after_s']} s"
                                             if "stopped_after_s" in r else "yes") + " |"
              for r in found]
    (RESULTS / "stream_memory-predict.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "stream-bench")
    ap.add_argument("--memory-max", type=int, default=5_000_000,
                    help="skip the in-memory contender past this many rows")
    ap.add_argument("--formats", nargs="+", default=["parquet", "csv"])
    ap.add_argument("--contenders", nargs="+", default=["train", "train2", "memory"],
                    choices=["train", "train2", "stream", "memory"])
    ap.add_argument("--tag", default="")
    ap.add_argument("--predict", action="store_true",
                    help="peak RSS of predict_file with a saved model, per N")
    ap.add_argument("--real", action="store_true",
                    help="the test metric, streamed vs in memory, on three real tables")
    ap.add_argument("--max-seconds", type=int, default=0,
                    help="stop each training or prediction after this long (Ctrl-C): "
                    "rows/s from its last checkpoint, the peak so far")
    ap.add_argument("--worker", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    global MAX_SECONDS
    MAX_SECONDS = args.max_seconds
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.epochs)))
        return
    if args.predict:
        predictions(args.rows, args.dir)
        return
    if args.real:
        found = real_tables()
        lines = ["# Streamed vs in-memory fit on real tables (test split, seed 0)", "",
                 "| table | target | metric | chunks | train rows | streamed | in memory | "
                 "difference |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['table']} | {r['target']} | {r['metric']} | {r['chunks']} | "
                  f"{r['train_rows']:,} | {r['streamed']:.4f} | {r['in_memory']:.4f} | "
                  f"{r['difference']:+.4f} |" for r in found]
        (RESULTS / "stream_memory-real.md").write_text("\n".join(lines) + "\n")
        (RESULTS / "stream_memory-real.json").write_text(json.dumps(found, indent=1) + "\n")
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.rows:
        files = dict(zip(("parquet", "csv"), make(n, args.dir, "csv" in args.formats),
                         strict=True))
        runs = [(c, f) for c in args.contenders if c != "memory" for f in args.formats]
        if n <= args.memory_max and "memory" in args.contenders:
            runs.append(("memory", "parquet"))
        for mode, fmt in runs:
            result = _contender(mode, files[fmt], args.epochs)
            if result is not None:
                rows.append({"rows": n, "contender": f"{mode} {fmt}", "epochs": args.epochs,
                             "file_mb": files[fmt].stat().st_size / 2**20, **result})
                print(json.dumps(rows[-1]), flush=True)
    _write(rows, args)


def _contender(mode: str, path: Path, epochs: int) -> dict[str, float] | None:
    """One contender in a fresh process (``train2``: two MPI ranks, each rank's result
    and the larger peak); None if it failed or cannot run here (said on stderr)."""
    command = [sys.executable, __file__, "--epochs", str(epochs), "--max-seconds",
               str(MAX_SECONDS), "--worker", mode, str(path)]
    if mode == "train2":
        import importlib.util
        import shutil

        if shutil.which("mpirun") is None or importlib.util.find_spec(
                "chainrule.distributed.stream") is None:
            print("train2: no mpirun or no chainrule.distributed.stream here", file=sys.stderr)
            return None
        command = ["mpirun", "-n", "2", *command]
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode:
        print(f"{mode} {path.name}: exit {done.returncode}\n{done.stderr[-2000:]}",
              file=sys.stderr)
        return None
    found = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    result = next(r for r in found if "rows_per_s" in r)  # rank 0's (others: peaks)
    if mode == "train2":
        result["rank_peak_rss_mb"] = [r["peak_rss_mb"] for r in found]
        result["peak_rss_mb"] = max(result["rank_peak_rss_mb"])
    return result


def _write(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    name = "stream_memory" + (f"-{args.tag}" if args.tag else "")
    RESULTS.mkdir(exist_ok=True)
    old = RESULTS / f"{name}.json"
    new = {(r["rows"], r["contender"]) for r in rows}
    if old.is_file():  # keep the (N, contender) rows this run did not measure
        rows = [r for r in json.loads(old.read_text()) if (r["rows"], r["contender"])
                not in new] + rows
    rows.sort(key=lambda r: (r["rows"], r["contender"]))
    (RESULTS / f"{name}.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = [f"# Streamed vs in-memory training, N rows x 30 columns ({args.epochs} epoch(s))",
             "", "outside epochs: reading, passes 1 and 2 (encoder, scaler), the test "
             "evaluation, saving. train2: 2 MPI ranks, the larger rank's peak.", "",
             "epoch s with ≈: the run was stopped (--max-seconds), its epoch at the rate of "
             "the batches it trained.", "",
             "| N | contender | file MB | peak RSS MB | outside epochs s | epoch s | rows/s | "
             "test accuracy |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        epoch, accuracy = f"{r.get('epoch_s', 0):.1f}", f"{r.get('accuracy', 0):.4f}"
        if "stopped_after_s" in r:  # 0.8 N training rows (the test split is 0.2)
            epoch = (f"≈{0.8 * r['rows'] / r['rows_per_s']:.0f}" if r["rows_per_s"]
                     else "—")
            accuracy = f"stopped after {r['stopped_after_s']} s, {r['batches_done']} batches"
        lines.append(f"| {r['rows']:,} | {r['contender']} | {r['file_mb']:.0f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['pass1_s'] + r.get('pass2_s', 0):.1f}"
                     f" | {epoch} | {r['rows_per_s']:,.0f} | {accuracy} |")
    lines += _ratios(rows)
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def _ratios(rows: list[dict[str, Any]]) -> list[str]:
    """The Markdown of the ratios: each contender's peak RSS and rows/s against its own
    at the smallest N, streamed rows/s against in-memory at the same N, 2 ranks' per-rank
    peak against 1 process."""
    by = {(r["rows"], r["contender"]): r for r in rows}
    lines = ["", "| ratio | N | value |", "|---|---|---|"]
    for contender in sorted({c for _, c in by}):
        ns = sorted(n for n, c in by if c == contender)
        for n in ns[1:]:
            a, b = by[(ns[0], contender)], by[(n, contender)]
            lines.append(f"| {contender}: peak RSS at N / at {ns[0]:,} | {n:,} | "
                         f"{b['peak_rss_mb'] / a['peak_rss_mb']:.2f} |")
    for (n, contender), r in sorted(by.items()):
        memory = by.get((n, "memory parquet"))
        if contender.startswith(("train ", "stream ")) and memory is not None:
            lines.append(f"| {contender} rows/s / memory parquet rows/s | {n:,} | "
                         f"{r['rows_per_s'] / memory['rows_per_s']:.2f} |")
            lines.append(f"| {contender} peak RSS / memory parquet peak RSS | {n:,} | "
                         f"{r['peak_rss_mb'] / memory['peak_rss_mb']:.2f} |")
        one = by.get((n, contender.replace("train2", "train")))
        if contender.startswith("train2") and one is not None:
            lines.append(f"| {contender}: each rank's peak RSS / 1 process's | {n:,} | "
                         f"{r['peak_rss_mb'] / one['peak_rss_mb']:.2f} |")
            lines.append(f"| {contender}: rows/s / 1 process's | {n:,} | "
                         f"{r['rows_per_s'] / one['rows_per_s']:.2f} |")
    return lines if len(lines) > 3 else []


if __name__ == "__main__":
    main()
