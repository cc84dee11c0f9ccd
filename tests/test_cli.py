"""The chainrule command through main(argv) and through real subprocesses."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule import datasets
from chainrule.cli import main
from chainrule.cli.train import RUN_FILES
from chainrule.runs.output import CONFUSION


def run_cli(*argv: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "chainrule", *argv], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def accuracy(run_dir: Path) -> float:
    return float(json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"])


# -- the default run -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("run") / "default"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["train", "--out", str(out)]) == 0
    return out, buf.getvalue()


def test_default_train_through_main(default_run: tuple[Path, str]) -> None:
    out, stdout = default_run
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    assert accuracy(out) >= 0.95
    assert "epoch 20/20  loss" in stdout and "val_accuracy" in stdout and "lr 0.001" in stdout
    assert "precision  recall      f1" in stdout and "confusion matrix" in stdout
    config = json.loads((out / "config.json").read_text())
    assert config["hidden"] == [128, 64] and config["dataset"] == "digits"
    assert config["output_activation"] == "softmax" and config["loss"] == "cross_entropy"
    history = list(csv.DictReader((out / "history.csv").open()))
    assert len(history) == 20 and float(history[-1]["loss"]) < float(history[0]["loss"])
    assert (out / "curves.png").read_bytes().startswith(b"\x89PNG")
    net = chainrule.load(out / "model.safetensors")
    assert [d.n_out for d in net.dense_layers] == [128, 64, 10] and net.scaler is not None


@pytest.mark.slow
def test_default_train_in_a_subprocess(tmp_path: Path) -> None:
    result = run_cli("train", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()  # runs/<timestamp>/
    assert sorted(p.name for p in run_dir.iterdir()) == sorted((*RUN_FILES, CONFUSION))
    assert accuracy(run_dir) >= 0.95
    assert "test accuracy" in result.stdout and "epoch 20/20" in result.stdout


def test_evaluate_info_explain_on_the_default_model(default_run: tuple[Path, str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = default_run
    model = str(out / "model.safetensors")
    assert main(["evaluate", model]) == 0
    text = capsys.readouterr().out
    assert f"test accuracy {accuracy(out):.4f} on 359 samples" in text
    assert main(["info", model]) == 0
    text = capsys.readouterr().out
    assert "total parameters: 17,226" in text and "Dense" in text and "adam" in text
    assert main(["explain", model, "--sample", "5"]) == 0
    text = capsys.readouterr().out
    for layer in (1, 2):
        assert f"^({layer}) = ∂C_0/∂a_" in text
    # the softmax output layer: the chain runs through every output, δ_j = Σ_i ∂C/∂a_i ·
    # ∂a_i/∂z_j (issue 29: the old headline ∂C_0/∂a_j · g′(z_j) did not multiply to its value)
    assert "^(3) = δ_" in text and "Σ_i ∂C_0/∂a_i^(3)" in text
    assert "finite difference" in text and "(sample 5," in text
    assert main(["explain", model, "--sample", "2", "--layer", "1", "--j", "3",
                 "--k", "20"]) == 0
    text = capsys.readouterr().out
    assert "∂C_0/∂w_{3,20}^(1)" in text  # issue 29: j = 3, k = 20 no longer run together


def test_config_file_reproduces_a_run_and_flags_win(tmp_path: Path) -> None:
    first = tmp_path / "first"
    assert main(["train", "--epochs", "3", "--hidden", "32", "--quiet", "--out", str(first)]) == 0
    config = json.loads((first / "config.json").read_text())
    toml = "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items() if v is not None)
    (tmp_path / "run.toml").write_text(toml)
    second = tmp_path / "second"
    assert main(["train", "--config", str(tmp_path / "run.toml"), "--quiet",
                 "--out", str(second)]) == 0
    assert json.loads((second / "config.json").read_text()) == config
    a, b = (chainrule.load(d / "model.safetensors") for d in (first, second))
    assert np.array_equal(a.params, b.params)
    third = tmp_path / "third"
    assert main(["train", "--config", str(tmp_path / "run.toml"), "--epochs", "2", "--quiet",
                 "--out", str(third)]) == 0
    assert json.loads((third / "config.json").read_text())["epochs"] == 2


def test_live_progress_bar_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from chainrule.cli.config import DEFAULTS
    from chainrule.cli.train import train

    cfg = {**DEFAULTS, "dataset": "xor", "n_samples": 100, "epochs": 2, "hidden": [4]}
    result = train(cfg, out=str(tmp_path), live=True)
    assert len(result.history.epoch) == 2
    assert "epoch 2/2  loss" in capsys.readouterr().out


def test_two_dimensional_data_gets_decision_regions(tmp_path: Path) -> None:
    assert main(["train", "--dataset", "moons", "--n-samples", "300", "--noise", "0.1",
                 "--epochs", "10", "--quiet", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "regions.png").read_bytes().startswith(b"\x89PNG")
    assert accuracy(tmp_path) > 0.85


# -- user CSVs: train, predict, compare with the library -----------------------------------------
def write_csv(path: Path, header: list[str], rows: np.ndarray, labels: list[object]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row, label in zip(rows, labels, strict=True):
            w.writerow([*(repr(float(v)) for v in row), label])


def read_predictions(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(path.open()))
    return rows[0], rows[1:]


def test_csv_classification_round_trip(tmp_path: Path) -> None:
    X, y = datasets.make("gaussians", 240, 0.0, seed=2)
    names = np.array(["north", "south"])[y]
    write_csv(tmp_path / "train.csv", ["u", "v", "kind"], X, list(names))
    assert main(["train", "--csv", str(tmp_path / "train.csv"), "--target", "kind",
                 "--epochs", "8", "--quiet", "--out", str(tmp_path / "run")]) == 0
    model = tmp_path / "run" / "model.safetensors"
    assert main(["predict", str(model), "--csv", str(tmp_path / "train.csv"),
                 "--out", str(tmp_path / "pred.csv")]) == 0
    header, rows = read_predictions(tmp_path / "pred.csv")
    assert header == ["label", "prob_north", "prob_south"]
    net = chainrule.load(model)
    expected = net.predict(X)
    got = np.array([[float(v) for v in r[1:]] for r in rows])
    assert np.array_equal(got.astype(expected.dtype), expected)  # in the model's precision
    assert [r[0] for r in rows] == [net.classes[i] for i in net.predict_classes(X)]
    assert np.mean(np.array([r[0] for r in rows]) == names) > 0.9


def test_csv_regression_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 - X[:, 2] + 10.0
    write_csv(tmp_path / "reg.csv", ["a", "b", "c", "price"], X, [repr(float(v)) for v in y])
    assert main(["train", "--csv", str(tmp_path / "reg.csv"), "--target", "price",
                 "--epochs", "30", "--quiet", "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    assert metrics["task"] == "regression" and metrics["r2"] > 0.9
    model = tmp_path / "run" / "model.safetensors"
    # predict reads the feature columns by name and ignores the target column
    assert main(["predict", str(model), "--csv", str(tmp_path / "reg.csv"),
                 "--out", str(tmp_path / "pred.csv")]) == 0
    header, rows = read_predictions(tmp_path / "pred.csv")
    assert header == ["price"]
    got = np.array([float(r[0]) for r in rows])
    expected = chainrule.load(model).predict(X)[:, 0]
    assert np.array_equal(got.astype(expected.dtype), expected)
    # the model's own table is read again only while it is the file trained on (issue 30;
    # its absolute path, size and SHA-256 are recorded), and a changed one is refused
    assert main(["evaluate", str(model)]) == 0
    with (tmp_path / "reg.csv").open("a") as fh:
        fh.write("0,0,0,10\n")
    assert main(["evaluate", str(model)]) == 1
    assert main(["evaluate", str(model), "--csv", str(tmp_path / "reg.csv"),
                 "--target", "price"]) == 0


def test_predict_through_a_subprocess_matches_the_library(tmp_path: Path) -> None:
    X, y = datasets.make("moons", 200, 0.1, seed=1)
    write_csv(tmp_path / "m.csv", ["x1", "x2", "y"], X, list(y))
    assert main(["train", "--csv", str(tmp_path / "m.csv"), "--target", "y", "--epochs", "5",
                 "--quiet", "--out", str(tmp_path / "run")]) == 0
    model = tmp_path / "run" / "model.safetensors"
    result = run_cli("predict", str(model), "--csv", str(tmp_path / "m.csv"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(result.stdout.splitlines()))
    assert rows[0] == ["label", "prob_0", "prob_1"]
    got = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    expected = chainrule.load(model).predict(X)
    assert np.array_equal(got.astype(expected.dtype), expected)


def test_gradcheck_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradcheck", "--dataset", "xor", "--hidden", "6,5", "--activation", "tanh",
                 "--max-params", "10"]) == 0
    text = capsys.readouterr().out
    assert "layer 3: max relative error" in text and "ok: every checked gradient" in text


def test_export_calls_chainrule_onnx_or_fails_cleanly(default_run: tuple[Path, str],
                                                      tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", str(default_run[0] / "model.safetensors"), "--format", "onnx",
                 "--out", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    has_onnx = (importlib.util.find_spec("chainrule.onnx") is not None
                and importlib.util.find_spec("onnx") is not None)
    if has_onnx:
        assert code == 0 and (tmp_path / "m.onnx").is_file()
    else:
        assert code == 1 and err.startswith("error: ") and "onnx" in err.lower()


# -- refusals: usage errors exit 2, runtime errors exit 1 with one line -------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--hidden", "0"], "hidden: expected comma-separated positive layer widths"),
        (["train", "--hidden", "64,x"], "hidden: expected comma-separated positive"),
        (["train", "--epochs", "-3"], "--epochs: expected a positive integer, got '-3'"),
        (["train", "--optimizer", "adagrad"],
         "unknown optimizer 'adagrad'; valid optimizers are sgd, momentum, nesterov, rmsprop, "
         "adam, adamw"),
        (["train", "--dataset", "cifar"], "unknown dataset 'cifar'; valid datasets are digits"),
        (["train", "--val-split", "1.5"], "--val-split: expected a fraction in [0, 1)"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], message: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "train" in err and "playground" in err


def one_line_error(code: int, err: str) -> str:
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_runtime_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no" / "such" / "model.safetensors"
    line = one_line_error(main(["info", str(missing)]), capsys.readouterr().err)
    assert "no such model file" in line
    line = one_line_error(main(["evaluate", str(tmp_path)]), capsys.readouterr().err)
    assert "is a directory" in line
    (tmp_path / "trunc.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    line = one_line_error(main(["info", str(tmp_path / "trunc.safetensors")]),
                          capsys.readouterr().err)
    assert "exceeds the file size" in line
    (tmp_path / "bad.toml").write_text('optimizer = "adagrad"\n')
    line = one_line_error(main(["train", "--config", str(tmp_path / "bad.toml")]),
                          capsys.readouterr().err)
    assert "valid names are sgd, momentum" in line
    (tmp_path / "typo.toml").write_text("epohcs = 3\n")
    line = one_line_error(main(["train", "--config", str(tmp_path / "typo.toml")]),
                          capsys.readouterr().err)
    assert "unknown setting(s) epohcs" in line


def test_debug_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "none.safetensors"), "--debug"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("a,b,t\n1,2,0\n1,2\n", "row 3 has 2 cells"),
        ("a,b,t\n1,2,0\n1,-inf,1\n", "row 3, column 2 ('b'): '-inf' is not a finite number"),
        ("a,b,c\n1,2,0\n", "no column 't' (the target)"),
    ],
)
def test_bad_csv_is_refused_and_nothing_is_written(tmp_path: Path, text: str, message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.csv").write_text(text)
    out = tmp_path / "run"
    line = one_line_error(main(["train", "--csv", str(tmp_path / "d.csv"), "--target", "t",
                                "--out", str(out)]), capsys.readouterr().err)
    assert message in line
    assert not out.exists()


def test_pickled_npy_is_refused_by_predict(default_run: tuple[Path, str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "evil.npy", np.array([object()], dtype=object), allow_pickle=True)
    line = one_line_error(main(["predict", str(default_run[0] / "model.safetensors"),
                                "--npy", str(tmp_path / "evil.npy")]), capsys.readouterr().err)
    assert "pickled Python object" in line


def test_subprocess_exit_codes(tmp_path: Path) -> None:
    usage = run_cli("train", "--hidden", "0", cwd=tmp_path)
    assert usage.returncode == 2 and "--hidden" in usage.stderr
    runtime = run_cli("evaluate", "missing.safetensors", cwd=tmp_path)
    assert runtime.returncode == 1
    assert runtime.stderr.strip() == "error: missing.safetensors: no such model file"


# -- MNIST ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_mnist_reaches_97_5_percent(mnist_dir: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Train through main(argv), then evaluate the saved model in a real subprocess; both
    find MNIST through $CHAINRULE_DATA_DIR."""
    monkeypatch.setenv("CHAINRULE_DATA_DIR", str(mnist_dir))
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "--hidden", "256,128", "--epochs", "5",
                 "--batch-size", "128", "--lr", "0.002", "--schedule", "cosine", "--quiet",
                 "--out", str(out)]) == 0
    assert accuracy(out) >= 0.975
    result = run_cli("evaluate", str(out / "model.safetensors"), "--json",
                     str(tmp_path / "eval.json"), cwd=tmp_path,
                     env={"CHAINRULE_DATA_DIR": str(mnist_dir)})
    assert result.returncode == 0, result.stderr
    assert "on 10000 samples" in result.stdout
    evaluated = json.loads((tmp_path / "eval.json").read_text())
    assert evaluated["accuracy"] == accuracy(out) >= 0.975


def test_mnist_absent_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path)]),
                          capsys.readouterr().err)
    assert "train-images-idx3-ubyte.gz" in line and "CHAINRULE_DATA_DIR" in line


def test_console_script_is_installed(tmp_path: Path) -> None:
    import shutil

    exe = shutil.which("chainrule")
    if exe is None:
        pytest.fail("the chainrule console script is not on PATH; run pip install -e .")
    result = subprocess.run([exe, "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("chainrule ")
