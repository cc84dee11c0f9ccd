"""chainrule.check: the catalogue of mistakes is the checker's own test — each mistake,
made by the reference, is named on ≥ 95 % of 50 seeded suites; right functions are never
flagged; a hang, an exception and a wrong shape each get one clear line."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.engine.network import MLP
from chainrule.notes import check
from chainrule.notes.checker import ACTIVATIONS, TEMPLATE, cases, diagnose
from chainrule.notes.mistakes import CATALOGUE, MISTAKES, Case, applied, backward

SEEDS = range(50)


def reference(w: list[Any], b: list[Any], a0: Any, y: Any, g: Any, g_prime: Any) -> Any:
    return backward(Case(w, b, a0, y, "g", g, g_prime))


def vectorised(w: list[Any], b: list[Any], a0: Any, y: Any, g: Any, g_prime: Any,
               hidden_g_prime: bool = True) -> Any:
    L, n = len(w) - 1, a0.shape[0]
    z, a = [None] * (L + 1), [a0] + [None] * L
    for layer in range(1, L + 1):
        z[layer] = a[layer - 1] @ w[layer].T + b[layer]
        a[layer] = g(z[layer])
    grad_w, grad_b = [None] * (L + 1), [None] * (L + 1)
    delta = 2 * (a[L] - y) / n * g_prime(z[L])
    for layer in range(L, 0, -1):
        grad_w[layer] = delta.T @ a[layer - 1]
        grad_b[layer] = delta.sum(axis=0)
        if layer > 1:
            delta = delta @ w[layer]
            if hidden_g_prime:
                delta = delta * g_prime(z[layer - 1])
    return grad_w, grad_b


def per_sample(w: list[Any], b: list[Any], a0: Any, y: Any, g: Any, g_prime: Any,
               last_term_only: bool = False) -> Any:
    """Loops over samples, j and k, as a learner who avoids matrices writes it."""
    L, n = len(w) - 1, a0.shape[0]
    grad_w = [None] + [np.zeros_like(wl) for wl in w[1:]]
    grad_b = [None] + [np.zeros_like(bl) for bl in b[1:]]
    for i in range(n):
        a, z = [a0[i]], [None]
        for layer in range(1, L + 1):
            z.append(np.array([sum(w[layer][j, k] * a[-1][k] for k in range(len(a[-1])))
                               + b[layer][j] for j in range(len(b[layer]))]))
            a.append(g(z[-1]))
        dC_da = [2 * (a[L][j] - y[i][j]) / n for j in range(len(a[L]))]
        for layer in range(L, 0, -1):
            gp = g_prime(z[layer])
            delta = [dC_da[j] * gp[j] for j in range(len(dC_da))]
            for j, d in enumerate(delta):
                grad_b[layer][j] += d
                for k in range(len(a[layer - 1])):
                    grad_w[layer][j, k] += d * a[layer - 1][k]
            dC_da = [0.0] * len(a[layer - 1])
            for k in range(len(dC_da)):
                for j, d in enumerate(delta):
                    if last_term_only:
                        dC_da[k] = w[layer][j, k] * d  # `=` where `+=` belongs
                    else:
                        dC_da[k] += w[layer][j, k] * d
    return grad_w, grad_b


def test_the_reference_is_the_engines_backward() -> None:
    for seed in range(5):
        for case in cases(seed):
            net = MLP(case.widths, hidden=case.g_name, output=case.g_name, dtype="float64")
            for dense, w, b in zip(net.dense_layers, case.w[1:], case.b[1:], strict=True):
                dense.w[...] = w
                dense.b[...] = b
            grad_w, grad_b = backward(case)
            flat = np.concatenate([p.ravel() for pair in zip(grad_w[1:], grad_b[1:],
                                                             strict=True) for p in pair])
            np.testing.assert_allclose(flat, net.gradient(case.a0, case.y), rtol=1e-12,
                                       atol=1e-14)


def test_the_catalogue_has_at_least_twelve_named_mistakes() -> None:
    names = [m.name for m in CATALOGUE]
    assert len(names) >= 12 and len(set(names)) == len(names)


FORMS = [(m, form) for m in CATALOGUE for form in range(len(m.ways))]


@pytest.mark.parametrize("mistake, form", FORMS, ids=[f"{m.name}-{f}" for m, f in FORMS])
def test_every_mistake_is_named_on_95_percent_of_the_suites(mistake: Any, form: int) -> None:
    wrong = applied(mistake, form)
    named = [check(wrong, seed=seed).mistake == mistake.name for seed in SEEDS]
    assert sum(named) >= 0.95 * len(SEEDS)


@pytest.mark.parametrize("right", [reference, vectorised, per_sample])
def test_a_right_function_is_never_flagged(right: Any) -> None:
    for seed in range(50 if right is not per_sample else 10):
        report = check(right, seed=seed)
        assert report.passed, report.text
        assert "✓ your backward is right" in report.text and "relative error" in report.text


def test_a_learners_own_loop_with_equals_for_plus_equals_is_named() -> None:
    def learner(*args: Any) -> Any:
        return per_sample(*args, last_term_only=True)

    report = check(learner)
    assert report.mistake == "sum_dropped", report.text
    assert "drops the sum over the nodes j" in report.text


def test_a_mistake_only_in_the_hidden_layers_is_found_there() -> None:
    def learner(*args: Any) -> Any:
        return vectorised(*args, hidden_g_prime=False)

    report = check(learner)
    assert report.mistake == "no_g_prime" and (report.network, report.layer) == (3, 1)
    assert f"layer {report.layer}: your δ is missing g′(z^({report.layer}))" in report.text


def test_two_scaling_mistakes_at_once_are_both_named() -> None:
    def learner(w: list[Any], b: list[Any], a0: Any, y: Any, g: Any, g_prime: Any) -> Any:
        grad_w, grad_b = vectorised(w, b, a0, y, g, g_prime)
        return [None] + [-x / 2 for x in grad_w[1:]], [None] + [-x / 2 for x in grad_b[1:]]

    report = check(learner)
    assert report.mistake == "sign_flipped+no_two", report.text
    assert "2 mistakes at once" in report.text and "-0.5 × the right one" in report.text


def test_when_two_mistakes_fit_the_first_is_named_and_the_other_listed() -> None:
    rng = np.random.default_rng(1)
    w1 = rng.normal(size=(3, 3))
    g, g_prime = ACTIVATIONS["sigmoid"]
    case = Case([None, w1, w1.T.copy()], [None, rng.normal(size=3), rng.normal(size=3)],
                rng.normal(size=(4, 3)), rng.uniform(size=(4, 3)), "sigmoid", g, g_prime)
    # w^(2) = w^(1)ᵀ: "w^(2) not transposed" and "w^(1) for w^(2)" give the same numbers
    report = diagnose(case, *backward(case, MISTAKES["wrong_layer_w"]))
    assert report is not None and report.mistake == "w_not_transposed"
    assert "also fit: your δ^(1) uses w^(1) where w^(2) belongs" in report.text


def test_the_diagnosis_shows_the_numbers() -> None:
    report = check(applied(CATALOGUE[0]))
    assert report.network == 1 and report.layer == 1
    line = report.text.splitlines()[1]
    assert line.startswith("layer 1: your δ is missing g′(z^(1)) — ∂C/∂w_{")
    assert "should be" in line and "yours is" in line and "/ g′(z_" in line


def test_a_hang_is_stopped_with_one_line() -> None:
    def hangs(*args: Any) -> Any:
        while True:
            pass

    start = time.monotonic()
    report = check(hangs, time_limit=0.5)
    assert time.monotonic() - start < 5
    assert report.kind == "hang" and len(report.text.splitlines()) == 1
    assert "did not return within 0.5 s, so it was stopped" in report.text


def test_an_exception_is_one_line_naming_the_line() -> None:
    def raises(w: list[Any], *args: Any) -> Any:
        return len(w) / 0

    report = check(raises)
    assert report.kind == "raised" and len(report.text.splitlines()) == 1
    assert "your backward raised ZeroDivisionError" in report.text
    assert "(test_check.py, line" in report.text


@pytest.mark.parametrize("result, expected", [
    (lambda w, b: 3.0, "backward returned a float; expected (grad_w, grad_b)"),
    (lambda w, b: (w, b, w), "backward returned 3 values"),
    (lambda w, b: ([None] + [x.T.copy() for x in w[1:-1]], b), "grad_w has"),
    (lambda w, b: ([None] + [x[:, :1] for x in w[1:]], b), "grad_w[1] is shape"),
    (lambda w, b: (w, ["no"] * len(b)), "grad_b[0] is a str, expected an array"),
])
def test_a_wrong_kind_or_shape_is_one_line(result: Any, expected: str) -> None:
    report = check(lambda w, b, *rest: result(w, b))
    assert report.kind == "returned" and expected in report.text
    assert len(report.text.splitlines()) <= 2


def test_the_command_writes_the_template_and_grades_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--template"]) == 0
    assert Path("backward.py").read_text(encoding="utf-8") == TEMPLATE.format(name="backward.py")
    assert main(["check", "--template"]) == 1  # never overwritten
    assert main(["check", "backward.py"]) == 1
    assert "grad_w[1] is None; expected shape" in capsys.readouterr().out
    body = TEMPLATE.format(name="backward.py").replace(
        "    return grad_w, grad_b\n",
        "    delta = 2 * (a[L] - y) / n * g_prime(z[L])\n"
        "    for layer in range(L, 0, -1):\n"
        "        grad_w[layer] = delta.T @ a[layer - 1]\n"
        "        grad_b[layer] = delta.sum(axis=0)\n"
        "        if layer > 1:\n"
        "            delta = (delta @ w[layer]) * g_prime(z[layer - 1])\n"
        "    return grad_w, grad_b\n")
    Path("right.py").write_text(body, encoding="utf-8")
    assert main(["check", "right.py"]) == 0
    assert "✓ your backward is right" in capsys.readouterr().out
    Path("broken.py").write_text("def backward(:\n", encoding="utf-8")
    assert main(["check", "broken.py"]) == 1
    out = capsys.readouterr().out
    assert "raised SyntaxError" in out and out.rstrip().endswith("(broken.py, line 1)")
    assert "frozen" not in out  # importlib's own frame is not the learner's line
    assert main(["check", "."]) == 1
    assert ".: a directory; expected the .py file that defines backward" in \
        capsys.readouterr().err
    Path("empty.py").write_text("x = 1\n", encoding="utf-8")
    assert main(["check", "empty.py"]) == 1
    assert "empty.py defines no function backward" in capsys.readouterr().out


def test_a_function_that_ends_its_process_is_one_line_with_the_exit_status() -> None:
    import os
    import signal

    def exits(*args: Any) -> Any:
        os._exit(7)

    def killed(*args: Any) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)

    report = check(exits)
    assert report.kind == "died" and len(report.text.splitlines()) == 1
    assert report.text.endswith("your backward ended the process running it (exit status 7) "
                                "instead of returning — an os._exit? return grad_w, grad_b "
                                "instead")
    report = check(killed)
    assert report.kind == "died" and "was killed by SIGKILL before it returned" in report.text


def test_all_zero_gradients_are_named_and_no_number_prints_as_minus_zero() -> None:
    def zeros(w: list[Any], b: list[Any], *args: Any) -> Any:
        return ([None] + [np.full_like(x, -0.0) for x in w[1:]],
                [None] + [np.full_like(x, -0.0) for x in b[1:]])

    report = check(zeros)
    assert report.kind == "wrong" and not re.search(r"-0(?![.\d])", report.text)
    assert ", yours is 0;" in report.text
    assert report.text.endswith("your layer-1 numbers are all 0 (is anything assigned to "
                                "grad_w[1] and grad_b[1]?)")
