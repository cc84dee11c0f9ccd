"""``chainrule train --csv F --target T --stream`` (issue 31): the streamed library behind
the command line, end to end — train from a CSV or Parquet file read in several chunks,
then ``predict`` with the saved model; a table over ``--memory-budget`` streams without
``--stream``; flags it cannot honour are refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stream_tables import write_stream_table

import chainrule as cr
from chainrule.cli import main

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("datasketches")


@pytest.fixture
def table(tmp_path: Path) -> Path:
    return write_stream_table(tmp_path, seed=0)


def test_streamed_train_then_predict(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = table / "run"
    assert main(["train", "--csv", str(table / "t.parquet"), "--target", "y", "--stream",
                 "--epochs", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "streamed (train" in printed and "epoch 4/4" in printed and "rows/s" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["streamed"] and len(metrics["epochs"]) == 4
    assert metrics["test"]["accuracy"] > 0.85  # the rule is learnable from x, c and x2
    assert sum(metrics["rows"][k] for k in ("train", "val", "test")) == 1200
    net = cr.load(out / "model.safetensors")
    assert net.classes == ["no", "yes"]
    pred = table / "pred.csv"
    assert main(["predict", str(out / "model.safetensors"), "--csv", str(table / "t.csv"),
                 "--out", str(pred)]) == 0
    assert len(pred.read_text().splitlines()) == 1201


def test_a_table_over_the_memory_budget_streams(table: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = table / "run"
    assert main(["train", "--csv", str(table / "t.csv"), "--target", "y",
                 "--memory-budget", "1K", "--epochs", "1", "--out", str(out)]) == 0
    assert "streamed (train" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["streamed"]


@pytest.mark.parametrize("flags, message", [
    (["--stream"], "--stream and --memory-budget read a table file"),
    (["--csv", "T", "--target", "y", "--stream", "--ensemble", "3"],
     "--stream trains one network"),
    (["--memory-budget", "lots"], "expected a positive size"),
    (["--csv", "T", "--target", "y", "--stream", "--checkpoint-batches", "0"],
     "--checkpoint-batches: expected a positive number, got '0'"),
    (["--csv", "T", "--target", "y", "--checkpoint-seconds", "60"],
     "--checkpoint-seconds checkpoint a streamed run (--stream); an in-memory run"),
])
def test_what_a_streamed_run_cannot_do_is_a_usage_error(
        table: Path, flags: list[str], message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    flags = [str(table / "t.csv") if f == "T" else f for f in flags]
    assert main(["train", *flags, "--out", str(table / "run")]) == 2
    assert message in capsys.readouterr().err
    assert not (table / "run" / "model.safetensors").exists()


def test_stream_progress_shows_rows_per_second_and_etas_without_flooding_a_log() -> None:
    import io

    from chainrule.cli.progress import StreamProgress, clock_time

    assert [clock_time(s) for s in (7.4, 725, 10930)] == ["0:07", "12:05", "3:02:10"]
    now, out = [0.0], io.StringIO()
    p = StreamProgress(3, 10_000, interval=30.0, clock=lambda: now[0], out=out)
    # epoch 2, resumed after 1,000 rows: the rate counts only the rows trained here
    for batch in range(1, 101):
        now[0] += 1.0
        p.on_batch(2, batch, 1_000 + 50 * batch)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # one line every 30 s of 100 s, not one per batch
    # at 30 s: 2,500 rows, 1,450 of them in the 29 s since the first batch → 50 rows/s;
    # the epoch's 7,500 rows left take 150 s, the run's (plus epoch 3's 10,000) 350 s
    assert lines[0] == ("epoch 2/3   2,500/10,000 rows (25%)  50 rows/s  ETA epoch 2:30, "
                        "run 5:50")
    p.on_epoch({"epoch": 2, "loss": 0.25, "val_loss": 0.5, "val_r2": 0.75,
                "rows_per_s": 90.0, "seconds": 100.0})
    assert out.getvalue().splitlines()[-1] == ("epoch 2/3  loss 0.2500  val_loss 0.5000  "
                                               "val_r2 0.7500  90 rows/s  100.0 s  ETA run 1:40")
    assert p.status(3, 0, now[0]) == "     0/10,000 rows (0%)"  # no rate before a batch
