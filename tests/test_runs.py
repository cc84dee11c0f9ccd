"""A training run from Python, without the CLI (chainrule.runs): train into a run
directory, interrupt, resume, and end bitwise equal to the uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import runs
from chainrule.runs.checkpoint import CHECKPOINT, read_checkpoint
from chainrule.training.callbacks import Callback

#: Small, shuffled, float64: a resumed run must equal the uninterrupted one bit for bit.
SMALL = {"dataset": "xor", "n_samples": 240, "hidden": [8, 8], "epochs": 6, "batch_size": 16,
         "dtype": "float64", "lr": 0.01}


def _status(run_dir: Path) -> str:
    return str(json.loads((run_dir / "metrics.json").read_text())["status"])


class _Interrupt(Callback):
    """Ctrl-C at the end of epoch ``at``, after noting the run directory's status."""

    def __init__(self, at: int, run_dir: Path) -> None:
        self.at, self.run_dir = at, run_dir
        self.seen: list[str] = []

    def on_epoch_end(self, trainer: Any, logs: dict[str, float]) -> None:
        self.seen.append(_status(self.run_dir))
        if trainer.epoch == self.at:
            raise KeyboardInterrupt


class _Events(runs.Reporter):
    """Every event a run reports, by name."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.resumed: tuple[Path, int] | None = None
        self.verdicts: list[Any] = []

    def started(self, cfg: Any, ds: Any, net: Any, sizes: Any, resumed: Any) -> None:
        self.events.append("started")
        self.resumed = resumed

    def tested(self, metrics: dict[str, Any]) -> None:
        self.events.append("tested")

    def diagnosed(self, diagnosis: Any, monitor: Any) -> None:
        self.events.append("diagnosed")

    def diverged(self, diagnosis: Any) -> None:
        self.events.append("diverged")
        self.verdicts.append(diagnosis)

    def written(self, run_dir: Path, files: list[str]) -> None:
        self.events.append("written")

    def interrupted(self, run_dir: Path, epochs_done: int, epochs: int | None,
                    resume: str) -> None:
        self.events.append(f"interrupted after {epochs_done}/{epochs}")


@pytest.mark.parametrize(("extra", "at"), [
    ({}, 3),
    ({"early_stopping": 2, "checkpoint_every": 2, "schedule": "cosine"}, 4),
])
def test_an_interrupted_run_resumed_equals_an_uninterrupted_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: dict[str, Any],
        at: int) -> None:
    config = runs.RunConfig.from_mapping({**SMALL, **extra})
    whole = runs.train(config, tmp_path / "whole")
    assert whole.status == "complete" and whole.config is config

    cut = tmp_path / "cut"
    interrupt, events = _Interrupt(at, cut), _Events()
    with pytest.raises(KeyboardInterrupt):
        runs.train(config, cut, callbacks=[interrupt], reporter=events)
    assert interrupt.seen == ["running"] * at
    assert _status(cut) == "interrupted"
    assert events.events == ["started", f"interrupted after {at - 1}/{config.epochs}"]
    assert read_checkpoint(cut).state.epoch == at - 1

    again = _Events()
    resumed = runs.Run.resume(cut, reporter=again)
    assert resumed.status == "complete" and _status(cut) == "complete"
    assert again.events == ["started", "tested", "diagnosed", "written"]
    assert again.resumed == (cut, at - 1)
    assert np.array_equal(resumed.net.params, whole.net.params)  # bitwise, float64
    assert resumed.history.epoch == whole.history.epoch
    assert resumed.history.history == whole.history.history
    assert resumed.saved_config == whole.saved_config
    assert resumed.metrics == whole.metrics
    a, b = chainrule.load(whole.model_path), chainrule.load(resumed.model_path)
    assert np.array_equal(a.params, b.params)
    assert a.optimizer.t == b.optimizer.t
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert (cut / "history.csv").read_bytes() == (tmp_path / "whole" / "history.csv").read_bytes()
    assert capsys.readouterr().out == ""  # the library prints nothing


def test_a_run_writes_its_directory_and_config(tmp_path: Path) -> None:
    run = runs.train({**SMALL, "epochs": 2}, tmp_path / "run",
                     options=runs.RunOptions(monitor=False))
    assert run.path == tmp_path / "run" and run.diagnosis is None
    for name in ("model.safetensors", CHECKPOINT, "config.json", "history.csv",
                 "metrics.json", "curves.png"):
        assert (run.path / name).is_file(), name
    assert json.loads((run.path / "config.json").read_text()) == run.saved_config
    assert run.saved_config["loss"] == "cross_entropy"  # chosen from the data, recorded
    assert run.config.loss is None  # the settings as given
    X = np.random.default_rng(0).normal(size=(5, 2))
    assert np.array_equal(chainrule.load(run.model_path).predict(X), run.net.predict(X))
    # the saved config.json reruns the same training
    rerun = runs.train(runs.RunConfig.from_file(run.path / "config.json"), tmp_path / "again",
                       options=runs.RunOptions(monitor=False))
    assert np.array_equal(rerun.net.params, run.net.params)


def test_runs_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        runs.train(SMALL, run_dir, callbacks=[_Interrupt(2, run_dir)])
    with pytest.raises(runs.RunError, match="holds an unfinished run"):
        runs.train(SMALL, run_dir)
    runs.Run.resume(run_dir)
    with pytest.raises(runs.RunError, match="the run is complete"):
        runs.Run.resume(run_dir)
    with pytest.raises(runs.RunError, match="no such run directory"):
        runs.Run.resume(tmp_path / "nope")
    with pytest.raises(runs.ConfigError, match="epochs: expected a positive integer"):
        runs.train({**SMALL, "epochs": 0}, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_a_diverging_run_fails_with_the_monitors_verdict(tmp_path: Path) -> None:
    events = _Events()
    with pytest.raises(chainrule.DivergenceError) as caught:
        runs.train({**SMALL, "optimizer": "sgd", "lr": 1e6}, tmp_path / "run",
                   reporter=events)
    assert isinstance(caught.value.diagnosis, chainrule.Diagnosis)
    assert events.events == ["started", "diverged"]
    assert events.verdicts == [caught.value.diagnosis]
    info = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert info["status"] == "failed" and info["error"] == str(caught.value)
    assert info["diagnosis"]["verdicts"]
