"""One backprop exercise: what the learner sees (the network, the sample, the question),
the answer, hints one chain-rule factor at a time, and the grading of an answer against it
and against the mistakes it recognises. :mod:`chainrule.notes.exercises` draws them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..engine.network import MLP, Network

DIGITS = 4  # significant digits the questions ask for
CLOSE = 0.02  # relative error still graded "close"

Matrix = tuple[tuple[float, ...], ...]
Vector = tuple[float, ...]


@dataclass(frozen=True)
class Hint:
    """One chain-rule factor (or one term of a sum), named and computed."""

    factor: str
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Mistake:
    """The answer with ``factor`` left out (or its sign flipped): ``value``, and what a
    verdict says about it; ``hint`` indexes :attr:`Exercise.hints`."""

    factor: str
    says: str
    value: float
    hint: int


@dataclass(frozen=True)
class Verdict:
    """``grade`` is "exact", "close" or "wrong"; ``factor`` names the missing factor
    when the answer matches a :class:`Mistake`, and ``hint`` then reveals it."""

    grade: str
    answer: float
    expected: float
    error: float  # answer − expected
    relative_error: float
    message: str
    factor: str | None = None
    hint: str | None = None

    @property
    def accepted(self) -> bool:
        return self.grade != "wrong"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Exercise:
    """One question on one network: what the learner sees, the answer, hints, mistakes.

    ``w[l - 1][j][k]`` is w_jk^(l) and ``b[l - 1][j]`` is b_j^(l); ``X`` and ``Y`` hold
    the sample(s) the question uses, one row each; ``layer``, ``j``, ``k`` say which
    quantity is asked (``k`` None when it has no second index).
    """

    kind: str
    seed: int
    sizes: tuple[int, ...]
    hidden: str
    output: str
    w: tuple[Matrix, ...]
    b: tuple[Vector, ...]
    X: Matrix
    Y: Matrix
    layer: int
    j: int
    k: int | None
    lr: float | None
    question: str
    given: tuple[tuple[str, float], ...]
    answer: float
    hints: tuple[Hint, ...]
    mistakes: tuple[Mistake, ...]
    digits: int = DIGITS

    def network(self) -> Network:
        """The exercise's network, float64, its weights and biases set."""
        return network_of(self.sizes, self.hidden, self.output, self.w, self.b, self.seed)

    def describe(self) -> str:
        """The network (every weight, bias and activation) and the sample(s)."""
        L = len(self.sizes) - 1
        acts = [self.hidden] * (L - 1) + [self.output]
        lines = [f"network {'-'.join(map(str, self.sizes))}, loss "
                 f"C_0 = Σ_j (a_j^({L}) − y_j)² (squared_error)"]
        for layer in range(1, L + 1):
            role = "output, L" if layer == L else "hidden"
            lines.append(f"layer {layer} ({role}, {acts[layer - 1]}): z_j^({layer}) = "
                         f"Σ_k w_jk^({layer}) a_k^({layer - 1}) + b_j^({layer}), "
                         f"a_j^({layer}) = g(z_j^({layer}))")
            for j, row in enumerate(self.w[layer - 1]):
                weights = ", ".join(f"w_{j}{k}^({layer}) = {v:g}" for k, v in enumerate(row))
                lines.append(f"  j={j}: {weights}, b_{j}^({layer}) = {self.b[layer - 1][j]:g}")
        for s, (x, y) in enumerate(zip(self.X, self.Y, strict=True)):
            lines.append(f"sample {s}: a^(0) = x = ({', '.join(f'{v:g}' for v in x)}), "
                         f"y = ({', '.join(f'{v:g}' for v in y)})")
        return "\n".join(lines)

    def prompt(self) -> str:
        """The question and the values it may use (the engine's, to 6 digits)."""
        given = "".join(f"\n  {name} = {value:.6g}" for name, value in self.given)
        return self.question + (f"\nyou may use:{given}" if given else "")

    def __str__(self) -> str:
        return f"{self.describe()}\n\n{self.prompt()}"

    def check(self, answer: float) -> Verdict:
        """Grade ``answer``: exact, close or wrong, by how much, and any missing factor."""
        if isinstance(answer, bool) or not isinstance(answer, (int, float, np.floating)) or (
            not math.isfinite(answer)
        ):
            raise ValueError(f"answer: expected a finite number, got {answer!r}")
        x, c = float(answer), self.answer
        error = x - c
        rel = abs(error) / abs(c)  # c ≠ 0: generate keeps |answer| ≥ MIN_ANSWER
        # exact: right to the digits asked (half a unit of the last one), or to 1e-9
        unit = 10.0 ** (math.floor(math.log10(abs(c))) - self.digits + 1)
        by = f"off by {abs(error):.2g} ({rel:.2%})"
        if abs(error) <= 0.5 * unit * (1 + 1e-9) or abs(error) <= 1e-9 * abs(c):
            return Verdict("exact", x, c, error, rel, f"exact: right to {self.digits} "
                           f"significant digits (off by {abs(error):.2g})")
        if rel <= CLOSE:
            return Verdict("close", x, c, error, rel, f"close: {by}, not yet right to "
                           f"{self.digits} significant digits")
        near = [m for m in self.mistakes if abs(x - m.value) <= CLOSE * abs(m.value)]
        if not near:
            return Verdict("wrong", x, c, error, rel, f"wrong: {by}")
        m = min(near, key=lambda m: abs(x - m.value) / abs(m.value))
        return Verdict("wrong", x, c, error, rel,
                       f"wrong: {by}; that is the answer {m.says}",
                       factor=m.factor, hint=self.hints[m.hint].text)


def network_of(sizes: tuple[int, ...], hidden: str, output: str, w: tuple[Matrix, ...],
               b: tuple[Vector, ...], seed: int) -> Network:
    """The float64 network of an exercise: ``sizes``, activations, the notes' squared
    error, and ``w[l - 1]``, ``b[l - 1]`` as w^(l), b^(l)."""
    net = MLP(list(sizes), hidden=hidden, output=output, loss="squared_error", seed=seed,
              dtype="float64")
    for dense, w_l, b_l in zip(net.dense_layers, w, b, strict=True):
        dense.w = np.array(w_l)  # through the parameter views
        dense.b = np.array(b_l)
    return net


__all__ = ["CLOSE", "DIGITS", "Exercise", "Hint", "Matrix", "Mistake", "Vector", "Verdict",
           "network_of"]
