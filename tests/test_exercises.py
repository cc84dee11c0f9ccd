"""Exercises: the engine's answer is accepted, 1 % off is close, a left-out factor is
named; answers equal the engine's trace and gradients; the CLI scripted through stdin."""

from __future__ import annotations

import io
import math
import subprocess
import sys

import numpy as np
import pytest

import chainrule
from chainrule import reference
from chainrule.cli import main
from chainrule.notes import exercises
from chainrule.notes.exercises import KINDS, generate, sequence

SEEDS = range(200)


@pytest.fixture(scope="module")
def every_exercise() -> dict[str, list[exercises.Exercise]]:
    return {kind: [generate(kind, seed) for seed in SEEDS] for kind in KINDS}


def test_the_engines_answer_is_exact_one_percent_off_is_close_and_mistakes_are_named(
    every_exercise: dict[str, list[exercises.Exercise]],
) -> None:
    for kind, exs in every_exercise.items():
        for ex in exs:
            assert ex.kind == kind
            assert ex.check(ex.answer).grade == "exact", (kind, ex.seed)
            assert ex.check(float(f"{ex.answer:.4g}")).grade == "exact", (kind, ex.seed)
            for off in (1.01, 0.99):
                close = ex.check(ex.answer * off)
                assert close.grade == "close", (kind, ex.seed, close)
                assert close.relative_error == pytest.approx(0.01, rel=1e-6)
            assert ex.mistakes, (kind, ex.seed)
            for m in ex.mistakes:
                v = ex.check(m.value)
                assert v.grade == "wrong" and not v.accepted, (kind, ex.seed, m)
                assert v.factor == m.factor and m.factor in v.message, (kind, ex.seed, v)
                assert v.hint == ex.hints[m.hint].text
                # a rounded mistake is still diagnosed
                assert ex.check(float(f"{m.value:.4g}")).factor == m.factor


def test_a_wrong_answer_says_by_how_much() -> None:
    ex = generate("delta", 0)
    v = ex.check(ex.answer + 10 * abs(ex.answer))
    assert v.grade == "wrong" and v.factor is None and v.hint is None
    assert v.error == pytest.approx(10 * abs(ex.answer))
    assert v.relative_error == pytest.approx(10)
    assert "wrong: off by" in v.message and "%" in v.message


def _g_prime(ex: exercises.Exercise, layer: int, node: int) -> float:
    """g′(z_node^(layer)) of sample 0, from the engine's trace."""
    net = ex.network()
    trace = net.forward(net.inputs(ex.X))
    dense = net.dense_layers[layer - 1]
    z, a = trace.z[layer - 1], trace.a[layer]
    assert z is not None
    return float(dense.activation.g_prime(z, a)[0, node])


@pytest.mark.parametrize("kind, layer", [("delta", 2), ("dC_dw", 2), ("hidden_delta", 1),
                                         ("hidden_dC_dw", 1)])
def test_forgetting_g_prime_is_wrong_and_the_hint_names_it(kind: str, layer: int) -> None:
    checked = 0
    for seed in range(60):
        ex = generate(kind, seed)
        act = ex.output if layer == 2 else ex.hidden
        if act not in ("sigmoid", "tanh"):
            continue  # identity′ = 1, relu′ ∈ {0, 1}: leaving g′ out is no mistake there
        gp = _g_prime(ex, layer, ex.j)
        if gp == 1.0:
            continue  # tanh′(0) = 1: nothing to forget
        v = ex.check(ex.answer / gp)  # the learner's answer without g′
        factor = f"g′(z_{ex.j}^({layer}))"
        assert v.grade == "wrong" and v.factor == factor, (seed, v)
        assert v.hint is not None and v.hint.startswith(factor)
        checked += 1
    assert checked > 10


def test_leaving_out_the_2_a_k_or_a_term_of_the_hidden_sum_is_named() -> None:
    ex = generate("dC_dw", 5)
    assert ex.check(ex.answer / 2).factor == "2"
    assert "2 of 2(a_j^(2) − y_j)" in ex.check(ex.answer / 2).message
    assert ex.k is not None
    a_k = float(np.array(ex.network().forward(np.array(ex.X)).a[1])[0, ex.k])
    assert ex.check(ex.answer / a_k).factor == f"a_{ex.k}^(1)"
    ex = generate("hidden_dC_da", 5)
    net = ex.network()
    trace = net.forward(net.inputs(ex.X))
    net.backward(trace, net.targets(ex.Y, 1))
    delta_L = trace.delta[-1]
    assert delta_L is not None
    terms = [float(net.dense_layers[1].w[i, ex.j] * delta_L[0, i]) for i in range(2)]
    only_i0 = ex.check(terms[0])
    assert only_i0.factor == "the term i=1" and "sum over next-layer nodes" in only_i0.message


def test_same_seed_same_exercise_different_seeds_differ(
    every_exercise: dict[str, list[exercises.Exercise]],
) -> None:
    for kind in KINDS:
        again = generate(kind, 7)
        assert again == every_exercise[kind][7] and str(again) == str(every_exercise[kind][7])
        faces = {(ex.w, ex.b, ex.X, ex.Y, ex.prompt()) for ex in every_exercise[kind]}
        assert len(faces) == len(SEEDS), kind
    assert sequence(3) == sequence(3)
    assert sequence(3)[0].w != sequence(4)[0].w


def test_numbers_are_hand_computable(every_exercise: dict[str, list[exercises.Exercise]]) -> None:
    for ex in every_exercise["z"][:50]:
        for v in [*np.ravel(ex.w[0]), *np.ravel(ex.w[1]), *ex.b[0], *np.ravel(ex.X),
                  *np.ravel(ex.Y)]:
            assert round(v, 1) == v and abs(v) <= 1
        assert ex.sizes in ((2, 2, 2), (2, 3, 2)) and ex.output in ("identity", "sigmoid")
        assert ex.hidden in ("sigmoid", "tanh", "relu")


def _engine_value(ex: exercises.Exercise) -> float:
    """The asked quantity, straight from the engine's trace and gradients."""
    net = ex.network()
    a0 = net.inputs(ex.X)
    Y = net.targets(ex.Y, a0.shape[0])
    trace = net.forward(a0)
    net.backward(trace, Y)  # for one sample, the mean is C_0's own gradient
    i = ex.layer - 1
    z, delta, grad_a = trace.z[i], trace.delta[i], trace.grad_a[i]
    assert z is not None and delta is not None
    if ex.kind == "z":
        return float(z[0, ex.j])
    if ex.kind == "a":
        return float(trace.a[ex.layer][0, ex.j])
    if ex.kind == "cost":
        return net.cost(trace, Y)
    if ex.kind == "dC_da":
        return float(net.loss_fn.grad_a(trace.a_L, Y)[0, ex.j])
    if ex.kind == "g_prime":
        return _g_prime(ex, ex.layer, ex.j)
    if ex.kind in ("delta", "hidden_delta"):
        return float(delta[0, ex.j])
    if ex.kind == "hidden_dC_da":
        assert grad_a is not None
        return float(grad_a[0, ex.j])
    if ex.kind in ("dC_dw", "hidden_dC_dw", "batch_dC_dw"):
        return float(net.dense_layers[i].grad_w[ex.j, ex.k])
    assert ex.kind == "update" and ex.lr is not None
    net.fit(ex.X, ex.Y, epochs=1, batch_size=len(ex.X), optimizer=chainrule.SGD(ex.lr),
            shuffle=False)
    return float(net.dense_layers[i].w[ex.j, ex.k])


def test_answers_equal_the_engines_trace_and_gradients(
    every_exercise: dict[str, list[exercises.Exercise]],
) -> None:
    for kind in KINDS:
        for ex in every_exercise[kind][:40]:
            assert ex.answer == pytest.approx(_engine_value(ex), rel=1e-12, abs=1e-15), (kind,
                                                                                      ex.seed)


def test_answers_equal_the_reference_backprop() -> None:
    for seed in range(20):
        for kind in ("dC_dw", "hidden_dC_dw", "batch_dC_dw"):
            ex = generate(kind, seed)
            net = ex.network()
            grad_w, _ = reference.backward(net, np.array(ex.X), np.array(ex.Y))
            assert ex.answer == pytest.approx(grad_w[ex.layer][ex.j, ex.k], rel=1e-12)
        ex = generate("cost", seed)
        y_hat = ex.network().predict(ex.X)[0]
        assert ex.answer == pytest.approx(sum((a - y) ** 2 for a, y in zip(y_hat, ex.Y[0],
                                                                         strict=True)))


def test_the_sequence_walks_one_network_from_the_output_layer_inward() -> None:
    for seed in range(15):
        seq = sequence(seed)
        assert [ex.kind for ex in seq] == list(KINDS)
        assert len({(ex.w, ex.b, ex.sizes, ex.hidden, ex.output) for ex in seq}) == 1
        assert [ex.layer for ex in seq] == [2] * 7 + [1] * 3 + [2] * 2
        for ex in seq:
            assert len(ex.X) == (2 if ex.kind in ("batch_dC_dw", "update") else 1)
            assert ex.X[0] == seq[0].X[0]
            assert ex.check(ex.answer).grade == "exact"
            assert ex.check(ex.answer * 1.01).grade == "close"
            assert all(ex.check(m.value).factor == m.factor for m in ex.mistakes)
        # the weight of ∂C_0/∂w^(L) is the one averaged and updated, through node k = j^(L−1)
        dC_dw, hidden = seq[KINDS.index("dC_dw")], seq[KINDS.index("hidden_dC_da")]
        assert dC_dw.k == hidden.j
        w, g = seq[-1].w[1][seq[-1].j][seq[-1].k], seq[-2].answer
        assert seq[-1].lr is not None
        assert seq[-1].answer == pytest.approx(w - seq[-1].lr * g, rel=1e-12)


def test_hints_name_one_factor_each() -> None:
    ex = generate("dC_dw", 11)
    assert [h.factor for h in ex.hints] == [f"∂C_0/∂a_{ex.j}^(2)", f"g′(z_{ex.j}^(2))",
                                            f"a_{ex.k}^(1)"]
    assert all(h.text.startswith(h.factor) for h in ex.hints)
    for kind in KINDS:
        assert generate(kind, 1).hints, kind


def test_arguments_are_checked_at_the_boundary() -> None:
    with pytest.raises(ValueError, match="kind: expected one of z, a, cost"):
        generate("dC_db", 0)
    with pytest.raises(ValueError, match="seed: expected a non-negative integer"):
        generate("z", -1)
    with pytest.raises(ValueError, match="seed"):
        sequence(1.5)  # type: ignore[arg-type]
    ex = generate("z", 0)
    for bad in (math.nan, math.inf, "0.1", True):
        with pytest.raises(ValueError, match="answer: expected a finite number"):
            ex.check(bad)  # type: ignore[arg-type]


# -- the command line -----------------------------------------------------------------
def _run(argv: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    rc = main(argv)
    return rc, capsys.readouterr().out


def test_cli_hint_wrong_right_and_eof(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    ex = generate("delta", 4)
    forgot = next(m for m in ex.mistakes if m.factor != "sign")
    script = f"hint\n{forgot.value:.4g}\nnot-a-number\n{ex.answer * 3:.4g}\n{ex.answer:.4g}\n"
    rc, out = _run(["exercise", "--kind", "delta", "--seed", "4"], script, monkeypatch, capsys)
    assert rc == 0
    assert ex.describe() in out and ex.question in out
    assert f"hint 1/{len(ex.hints)}: {ex.hints[0]}" in out
    assert f"that is the answer {forgot.says}" in out
    assert f"hint: {ex.hints[forgot.hint]}" in out  # the hint names the missing factor
    assert "expected a number, `hint`" in out
    assert "wrong: off by" in out and "exact: right to 4 significant digits" in out
    assert "1 of 1 done: 1 exact, 0 close, 0 skipped" in out
    # end of input before any answer: exit 0 all the same
    rc, out = _run(["exercise", "--kind", "delta", "--seed", "4"], "hint\n", monkeypatch, capsys)
    assert rc == 0 and "0 of 1 done" in out


def test_cli_sequence_through_stdin(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    seq = sequence(9)
    answers = [f"{ex.answer:.4g}" for ex in seq[:3]] + [f"{seq[3].answer * 1.01!r}", "skip"]
    rc, out = _run(["exercise", "--seed", "9"], "\n".join(answers) + "\n", monkeypatch, capsys)
    assert rc == 0
    assert "[1/12] z:" in out and "[6/12] delta:" in out and "[7/12]" not in out
    assert out.count("network 2-") == 1  # printed once: every exercise uses it
    assert f"answer: {seq[4].answer:.4g}" in out
    assert "5 of 12 done: 3 exact, 1 close, 1 skipped" in out
    rc, again = _run(["exercise", "--sequence", "--seed", "9"], "\n".join(answers) + "\n",
                     monkeypatch, capsys)
    assert again.replace("--sequence", "") == out.replace("--sequence", "")


def test_cli_show_answer_and_usage_errors(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run(["exercise", "--seed", "2", "--show-answer"], "", monkeypatch, capsys)
    assert rc == 0
    for ex in sequence(2):
        assert f"answer: {ex.answer:.4g}" in out and ex.question in out
        assert all(str(h) in out for h in ex.hints)
    assert main(["exercise", "--kind", "z", "--sequence"]) == 2
    assert main(["exercise", "--seed", "-3"]) == 2
    assert main(["exercise", "--kind", "dC_db"]) == 2


def test_cli_in_a_subprocess() -> None:
    ex = generate("hidden_dC_dw", 12)
    result = subprocess.run(
        [sys.executable, "-m", "chainrule", "exercise", "--kind", "hidden_dC_dw", "--seed",
         "12"], input=f"hint\nhint\n{ex.answer:.4g}\n", capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 0, result.stderr
    assert "exact" in result.stdout and "hint 2/" in result.stdout
