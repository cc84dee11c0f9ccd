"""The CLI's run configuration and stages: a frozen, typed RunConfig built once from flags
and --config, one-line errors for bad config files and data files, usage errors (exit 2)
for flags that cannot work, flag choices read from the library's tables, and loss
behaviour taken from Loss objects rather than their names."""

from __future__ import annotations

import builtins
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chainrule import datasets
from chainrule.cli import main
from chainrule.cli.common import build_network, encode_targets, resolve_outputs
from chainrule.cli.config import DEFAULTS, RunConfig
from chainrule.cli.train import train
from chainrule.engine.activations import ACTIVATIONS, Activation
from chainrule.engine.losses import LOSSES, MSE, BinaryCrossEntropy, CrossEntropy
from chainrule.engine.network import Network
from chainrule.runs.fitting import fit
from chainrule.runs.output import write
from chainrule.runs.stages import build, load_data, report, split


def one_line_error(code: int, err: str) -> str:
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def usage_error(code: int, err: str) -> str:
    assert code == 2, err
    assert err.startswith("usage: chainrule"), err
    return err.strip().splitlines()[-1]


def write_csv(path: Path, n: int = 60, regression: bool = False) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    y = X[:, 0] * 3.0 + 10.0 if regression else (X[:, 0] > 0).astype(int)
    lines = ["a,b,t", *(f"{float(r[0])!r},{float(r[1])!r},{t.item()!r}"
                          for r, t in zip(X, y, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- RunConfig ---------------------------------------------------------------------------------
def test_run_config_is_frozen_typed_and_round_trips() -> None:
    cfg = RunConfig()
    assert cfg.to_dict() == DEFAULTS
    assert list(cfg.to_dict()) == list(DEFAULTS)
    assert set(DEFAULTS) == {f.name for f in dataclasses.fields(RunConfig)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3  # type: ignore[misc]
    typed = RunConfig.from_mapping({"hidden": "32,16", "lr": 1, "optimizer": "SGD"})
    assert typed.hidden == (32, 16) and typed.to_dict()["hidden"] == [32, 16]
    assert isinstance(typed.lr, float) and typed.optimizer == "sgd"
    assert RunConfig.from_mapping(typed.to_dict()) == typed
    assert typed.replace(epochs=3).epochs == 3 and typed.epochs == 20


def test_train_leaves_the_config_alone_and_data_choices_live_in_the_results(
        tmp_path: Path) -> None:
    cfg = RunConfig.from_mapping({"csv": str(write_csv(tmp_path / "d.csv")), "target": "t",
                                  "dataset": "csv", "epochs": 2, "hidden": [4]})
    before = cfg.to_dict()
    result = train(cfg, out=str(tmp_path / "run"), quiet=True)
    assert cfg.to_dict() == before and cfg.loss is None and cfg.task is None
    assert result.run_config is cfg
    assert result.config["task"] == "classification"
    assert result.config["loss"] == "cross_entropy"
    assert result.config["output_activation"] == "softmax"
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == result.config


def test_the_stages_compose_to_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = RunConfig.from_mapping({"dataset": "xor", "n_samples": 80, "epochs": 2,
                                  "hidden": [4]})
    ds = load_data(cfg)
    splits = split(cfg, ds)
    assert sum(splits.sizes) == 80
    net = build(cfg, ds, splits)
    fitted = fit(cfg, net, ds, splits, callbacks=[])
    metrics = report(net, ds, splits)
    assert len(fitted.history.epoch) == 2 and "accuracy" in metrics
    summary = {"config": cfg.to_dict(), "task": ds.task}
    run_dir = write(str(tmp_path / "run"), net, ds, splits, fitted.history, metrics, summary)
    assert (run_dir / "model.safetensors").is_file()
    again = train(cfg, out=str(tmp_path / "again"), quiet=True)
    assert np.array_equal(again.net.params, net.params)
    assert capsys.readouterr().out == ""


def test_regression_output_starts_at_the_targets_through_the_library(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[np.ndarray] = []
    original = Network.init_output_from_targets

    def spy(self: Network, Y: np.ndarray) -> None:
        seen.append(np.asarray(Y))
        original(self, Y)

    monkeypatch.setattr(Network, "init_output_from_targets", spy)
    cfg = RunConfig.from_mapping({"csv": str(write_csv(tmp_path / "r.csv", regression=True)),
                                  "target": "t", "dataset": "csv", "epochs": 1})
    ds = load_data(cfg)
    splits = split(cfg, ds)
    net = build(cfg, ds, splits)
    (Y,) = seen
    assert Y.shape == (len(splits.X_train), 1)
    assert np.allclose(net.output_layer.b, splits.y_train.mean())
    classification = RunConfig.from_mapping({"dataset": "xor", "n_samples": 40})
    ds = load_data(classification)
    build(classification, ds, split(classification, ds))
    assert len(seen) == 1  # classes keep the initializer's output layer


# -- losses by their attributes, not their names ----------------------------------------------
@pytest.fixture
def custom_losses() -> Iterator[None]:
    class MyBinary(BinaryCrossEntropy):
        name = "test_my_binary"

    class MyCategorical(CrossEntropy):
        name = "test_my_categorical"

    yield
    for name in ("test_my_binary", "test_my_categorical"):
        LOSSES.pop(name, None)


def test_outputs_follow_the_loss_objects(custom_losses: None) -> None:
    two = datasets.load("xor", n_samples=40)
    out = resolve_outputs(RunConfig(loss="test_my_binary"), two)
    assert (out.n_out, out.activation, out.loss.name) == (1, "sigmoid", "test_my_binary")
    out = resolve_outputs(RunConfig(loss="test_my_categorical"), two)
    assert (out.n_out, out.activation) == (2, "softmax")
    net = build_network(RunConfig(loss="test_my_categorical", hidden=(3,)), two)
    labels = np.array([0, 1, 1])
    assert np.array_equal(encode_targets(net, labels, "classification"), labels)
    net = build_network(RunConfig(loss="mse", hidden=(3,)), two)
    assert encode_targets(net, labels, "classification").tolist() == [[1, 0], [0, 1], [0, 1]]
    assert isinstance(resolve_outputs(RunConfig(), two).loss, CrossEntropy)
    values = datasets.Dataset(name="vals", X=np.zeros((4, 2)), y=np.arange(4.0),
                              task="regression")
    assert isinstance(resolve_outputs(RunConfig(), values).loss, MSE)
    with pytest.raises(Exception, match="test_my_binary: is for classes"):
        resolve_outputs(RunConfig(loss="test_my_binary"), values)


# -- choices from the tables when the parser is built ------------------------------------------
@pytest.fixture
def custom_activation() -> Iterator[str]:
    class SoftSign(Activation):
        name = "test_softsign"

        def g(self, z: np.ndarray) -> np.ndarray:
            return z / (1 + np.abs(z))

        def g_prime(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
            return 1 / (1 + np.abs(z)) ** 2

    yield SoftSign.name
    ACTIVATIONS.pop(SoftSign.name, None)


def test_an_activation_registered_after_import_is_a_choice(
        custom_activation: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--help"]) == 0
    assert custom_activation in capsys.readouterr().out
    assert main(["gradcheck", "--dataset", "xor", "--hidden", "5", "--activation",
                 custom_activation, "--max-params", "5"]) == 0
    assert f"{custom_activation} → softmax" in capsys.readouterr().out


def test_unknown_choices_list_the_tables(capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_error(main(["train", "--schedule", "warp"]), capsys.readouterr().err)
    assert "valid schedules are constant, step" in line
    line = usage_error(main(["train", "--loss", "nope"]), capsys.readouterr().err)
    assert "binary_cross_entropy" in line and "huber" in line


# -- config files: one line naming the file, the key, what was found and what is accepted ------
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("hidden = 64\n", ["hidden", "got 64 (an integer)", "comma-separated positive"]),
        ("hidden = [64, true]\n", ["hidden", "comma-separated positive"]),
        ("loss = []\n", ["loss", "got [] (a list)", "binary_cross_entropy", "mse"]),
        ("loss = \"hinge\"\n", ["loss", "unknown loss 'hinge'", "valid names are"]),
        ("hidden = " + "[" * 3000 + "]" * 3000 + "\n", ["hidden", "nested too deeply",
                                                         "comma-separated positive"]),
        ("epochs = " + "[" * 30 + "1" + "]" * 30 + "\n", ["epochs", "a positive integer",
                                                          "(a list)"]),
        ("batch_size = 1000000000000000000000000000000\n",
         ["batch_size", "a positive integer no larger than 2147483647",
          "got 1000000000000000000000000000000"]),
        ("lr = 0\n", ["lr", "expected a positive number, got 0"]),
        ("lr = \"fast\"\n", ["lr", "a positive number", "(a string)"]),
        ("seed = -1\n", ["seed", "a non-negative integer"]),
        ("csv = 5\n", ["csv", "a path to a CSV file", "(an integer)"]),
        ("dtype = \"float16\"\n", ["dtype", "valid names are float32, float64"]),
        ("target = \"price\"\n", ["--target price", "--csv PATH"]),
        ("[hidden]\nwidth = 3\n", ["hidden", "(a table)"]),
        ("val_split = 0.6\ntest_split = 0.5\n", ["val_split + test_split"]),
    ],
)
def test_bad_config_values_are_one_line_naming_file_and_key(
        tmp_path: Path, text: str, words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.toml"
    path.write_text(text)
    line = one_line_error(main(["train", "--config", str(path), "--out",
                                str(tmp_path / "out")]), capsys.readouterr().err)
    assert line.startswith(f"error: {path}: "), line
    for word in words:
        assert word in line, (word, line)
    assert len(line) < 400
    assert not (tmp_path / "out").exists()


def test_deep_json_config_names_the_key(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"epochs": 3, "loss": ' + "[" * 100000 + "]" * 100000 + "}")
    line = one_line_error(main(["train", "--config", str(path)]), capsys.readouterr().err)
    assert line.startswith(f"error: {path}: loss: nested too deeply"), line


def test_config_json_values_are_checked_too(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**DEFAULTS, "hidden": 64}))
    line = one_line_error(main(["train", "--config", str(path)]), capsys.readouterr().err)
    assert f"{path}: hidden:" in line and "got 64 (an integer)" in line
    path.write_text("[1, 2]")
    line = one_line_error(main(["train", "--config", str(path)]), capsys.readouterr().err)
    assert "expected a table of settings, got a list" in line


def test_config_file_that_is_a_directory_or_unreadable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(main(["train", "--config", str(tmp_path)]), capsys.readouterr().err)
    assert "is a directory" in line
    path = tmp_path / "run.toml"
    path.write_text("epochs = 2\n")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    line = one_line_error(main(["train", "--config", str(path)]), capsys.readouterr().err)
    assert f"{path}: cannot read the configuration file (Permission denied)" in line
    assert "Errno" not in line


def test_a_config_file_naming_its_csv_needs_no_dataset_key(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "d.csv")
    path = tmp_path / "run.toml"
    path.write_text(f'csv = {json.dumps(str(csv_path))}\ntarget = "t"\nepochs = 1\n'
                    'hidden = "4"\n')
    assert main(["train", "--config", str(path), "--quiet", "--out", str(tmp_path / "r")]) == 0
    assert json.loads((tmp_path / "r" / "config.json").read_text())["dataset"] == "csv"


# -- flags that cannot work are usage errors (exit 2) -------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--target", "price"], "--target price: names a column of a CSV file"),
        (["train", "--task", "regression"], "--task regression: applies to your own data"),
        (["train", "--lr", "0"], "--lr: expected a positive number, got '0'"),
        (["train", "--lr", "-1"], "--lr: expected a positive number"),
        (["train", "--seed", "-1"], "--seed: expected a non-negative integer, got '-1'"),
        (["train", "--batch-size", "1" + "0" * 30], "no larger than 2147483647"),
        (["train", "--dataset", "csv"], "dataset csv: give the file and its target column"),
        (["train", "--val-split", "0.5", "--test-split", "0.5"], "val_split + test_split"),
        (["gradcheck", "--target", "y"], "--target y: names a column of a CSV file"),
        (["train", "--checkpoint-every", "0"], "--checkpoint-every: expected a positive"),
        (["train", "--resume", "runs/x", "--epochs", "3"], "drop --epochs"),
        (["train", "--resume", "runs/x", "--out", "y"], "drop --out"),
    ],
)
def test_flags_that_cannot_work_exit_2(argv: list[str], message: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_error(main(argv), capsys.readouterr().err)
    assert message in line, line


def test_evaluate_target_without_csv_is_a_usage_error(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--dataset", "xor", "--n-samples", "40", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path)]) == 0
    line = usage_error(main(["evaluate", str(tmp_path / "model.safetensors"), "--target", "t"]),
                       capsys.readouterr().err)
    assert "--target t" in line


# -- data files: a directory, the wrong format, an unreadable file -------------------------------
def test_csv_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(main(["train", "--csv", str(tmp_path), "--target", "t"]),
                          capsys.readouterr().err)
    assert f"{tmp_path}: is a directory; expected a CSV file" in line


def test_npz_that_is_a_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "file.csv")
    line = one_line_error(main(["train", "--npz", str(path)]), capsys.readouterr().err)
    assert f"{path}: not an .npz (zip) archive" in line and "pickled" not in line
    line = one_line_error(main(["train", "--npz", str(tmp_path)]), capsys.readouterr().err)
    assert "is a directory" in line


def test_predict_refuses_a_csv_given_as_npy(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--dataset", "xor", "--n-samples", "40", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    model = str(tmp_path / "run" / "model.safetensors")
    path = write_csv(tmp_path / "file.csv")
    for flag in ("--npy", "--npz"):
        line = one_line_error(main(["predict", model, flag, str(path)]),
                              capsys.readouterr().err)
        assert "not an .npy/.npz file" in line and "pickled" not in line
    line = one_line_error(main(["predict", model, "--csv", str(tmp_path)]),
                          capsys.readouterr().err)
    assert "is a directory" in line


def test_unreadable_data_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "d.csv")
    real_open = builtins.open

    def guarded(file: object, *args: object, **kwargs: object) -> object:
        if os.fspath(file) == str(path):  # type: ignore[call-overload]
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", guarded)
    line = one_line_error(main(["train", "--csv", str(path), "--target", "t"]),
                          capsys.readouterr().err)
    assert f"{path}: cannot read the file (Permission denied)" in line
    assert "Errno" not in line and "PermissionError" not in line


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_unreadable_csv_by_permissions(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "d.csv")
    path.chmod(0)
    try:
        line = one_line_error(main(["train", "--csv", str(path), "--target", "t"]),
                              capsys.readouterr().err)
    finally:
        path.chmod(0o600)
    assert "cannot read the file" in line and "Errno" not in line


def test_a_batch_larger_than_the_data_is_the_whole_split(tmp_path: Path) -> None:
    cfg = RunConfig.from_mapping({"dataset": "xor", "n_samples": 60, "epochs": 2,
                                  "hidden": [3]})
    n_train = len(split(cfg, load_data(cfg)).X_train)
    whole = train(cfg.replace(batch_size=10**9), quiet=True, out=str(tmp_path / "a"))
    exact = train(cfg.replace(batch_size=n_train), quiet=True, out=str(tmp_path / "b"))
    assert np.array_equal(whole.net.params, exact.net.params)
    assert whole.config["batch_size"] == 10**9


def test_checkpoint_every_is_a_setting(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert DEFAULTS["checkpoint_every"] == 1
    assert RunConfig.from_mapping({"checkpoint_every": 5}).checkpoint_every == 5
    path = tmp_path / "run.toml"
    path.write_text("checkpoint_every = 0\n")
    line = one_line_error(main(["train", "--config", str(path)]), capsys.readouterr().err)
    assert f"{path}: checkpoint_every: expected a positive integer" in line
