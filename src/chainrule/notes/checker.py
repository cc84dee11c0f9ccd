"""``chainrule.check(backward)``: grade a learner's own backprop, and say which mistake.

The learner writes ``backward(w, b, a0, y, g, g_prime)`` in the notes' names (the
template is :data:`TEMPLATE`); :func:`check` runs it in a child process, with a time
limit, on seeded networks of growing depth, compares every ``grad_w[l]`` and
``grad_b[l]`` with the reference (:func:`chainrule.notes.mistakes.backward`, proven equal
to the engine's ``Network.backward`` in ``tests/test_check.py``), layer by layer from the
output down, and at the first layer that is wrong tests which mistake of the catalogue
(:data:`chainrule.notes.mistakes.CATALOGUE`) reproduces the learner's numbers.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import sandbox
from .mistakes import CATALOGUE, MISTAKES, Array, Case, Mistake, backward, says

TEMPLATE = '''\
"""Backprop, written by you. Check it with:  chainrule check {name}"""

import numpy as np


def backward(w, b, a0, y, g, g_prime):
    """w[l]: (n_l, n_{{l-1}}) and b[l]: (n_l,) for l = 1 … L (w[0] and b[0] are None);
    a0: (n, n_0) a batch of inputs; y: (n, n_L) targets; g, g_prime: the activation and its derivative,
    the same in every layer; the cost is the notes' C_0 averaged over the batch:
    C = (1/n) Σ_i Σ_j (a_j^(L) − y_j)².  Returns grad_w, grad_b: lists shaped like w and b."""
    L = len(w) - 1
    n = a0.shape[0]
    # the forward pass, done for you: z^(l) = a^(l-1) w^(l)ᵀ + b^(l), a^(l) = g(z^(l))
    z, a = [None] * (L + 1), [a0] + [None] * L
    for layer in range(1, L + 1):
        z[layer] = a[layer - 1] @ w[layer].T + b[layer]
        a[layer] = g(z[layer])
    grad_w, grad_b = [None] * (L + 1), [None] * (L + 1)
    # your turn: from layer L down to layer 1, fill grad_w[layer] and grad_b[layer]
    return grad_w, grad_b
'''  # noqa: E501 - the docstring is the issue's, word for word

#: Two numbers agree when they differ by less than this, relative (float32 arithmetic in
#: the learner's code passes; every catalogued mistake is far outside it).
RTOL, ATOL = 1e-5, 1e-10


def _sigmoid(z: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-z))


def _sigmoid_prime(z: Array) -> Array:
    s = _sigmoid(z)
    return s * (1.0 - s)


def _tanh_prime(z: Array) -> Array:
    return 1.0 - np.tanh(z) ** 2


ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    "sigmoid": (_sigmoid, _sigmoid_prime),
    "tanh": (np.tanh, _tanh_prime),
}


def cases(seed: int = 0) -> list[Case]:
    """The seeded networks, depth 1, 2, 3: square ones first at each depth (so that a
    mistake that only fits square layers shows as numbers before it shows as a crash),
    widths 1–5, batches of 1 and of 3–5 (never 2, where 1/n twice would equal the 2
    missing), g = sigmoid, and tanh on the last."""
    rng = np.random.default_rng(seed)
    s = int(rng.integers(2, 5))
    k, m = (int(v) for v in rng.choice(np.arange(1, 6), size=2, replace=False))
    h = int(rng.integers(2, 6))
    specs = [([s, s], 1, "sigmoid"), ([k, m], int(rng.integers(3, 6)), "sigmoid"),
             ([s, s, s], 3, "sigmoid"), ([k, h, int(rng.integers(2, 6))], 4, "sigmoid"),
             ([s, s, s, s], 5, "sigmoid"),
             ([int(v) for v in rng.integers(1, 6, size=4)], int(rng.choice([1, 3, 4, 5])),
              "tanh")]
    out = []
    for widths, n, g_name in specs:
        w: list[Any] = [None] + [rng.normal(0.0, 1.5 / np.sqrt(n_in), size=(n_out, n_in))
                                 for n_in, n_out in zip(widths[:-1], widths[1:], strict=False)]
        b: list[Any] = [None] + [rng.normal(0.0, 0.5, size=n_out) for n_out in widths[1:]]
        a0 = rng.normal(0.0, 1.0, size=(n, widths[0]))
        y = rng.uniform(0.0, 1.0, size=(n, widths[-1]))
        g, g_prime = ACTIVATIONS[g_name]
        out.append(Case(w, b, a0, y, g_name, g, g_prime))
    return out


@dataclass
class CheckReport:
    """What :func:`check` found. ``kind``: "right", "mistake" (``mistake`` names it),
    "wrong" (no catalogued mistake fits), "returned" (wrong kind or shape), "raised",
    "hang" or "died" (the process running it ended: os._exit, a signal). ``network``
    (1-based) and ``layer`` say where, when it is not right."""

    kind: str
    text: str
    mistake: str | None = None
    network: int | None = None
    layer: int | None = None
    max_rel_error: float | None = None

    @property
    def passed(self) -> bool:
        return self.kind == "right"

    def __str__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)


def _close(yours: Any, right: Any) -> bool:
    if yours is None or right is None:
        return yours is right
    return bool(yours.shape == right.shape and np.all(np.isfinite(yours))
                and np.allclose(yours, right, rtol=RTOL, atol=ATOL))


def _fits(mistake: Mistake, case: Case, layer: int, gw: list[Any], gb: list[Any]) -> bool:
    """Does ``mistake``, made at ``layer`` with every layer above right, give the
    learner's ``grad_w[layer]`` and ``grad_b[layer]``?"""
    for form in range(len(mistake.ways)):
        try:
            with np.errstate(all="ignore"):
                hw, hb = backward(case, mistake, at=layer, form=form)
        except (ValueError, IndexError):  # the mistake cannot be made on these shapes
            continue
        if _close(gw[layer], hw[layer]) and _close(gb[layer], hb[layer]):
            return True
    return False


def _fits_lists(mistake: Mistake, case: Case, gw: list[Any], gb: list[Any]) -> bool:
    hw, hb = backward(case, mistake)
    return (len(hw) == len(gw) and len(hb) == len(gb)
            and all(_close(x, h) for x, h in zip(gw + gb, hw + hb, strict=True)))


def _entry(yours: Any, right: Array) -> tuple[int, ...] | None:
    """The index of the largest difference, when the shapes agree."""
    if yours is None or yours.shape != right.shape:
        return None
    diff = np.where(np.isfinite(yours), np.abs(yours - right), np.inf)
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), right.shape))


def _numbers(case: Case, layer: int, gw: list[Any], gb: list[Any],
             mistake: Mistake | None) -> str:
    """"∂C/∂w_{j,k}^(l) should be …, yours is … = …" at the largest difference."""
    ref_w, ref_b = backward(case)
    spot = _entry(gw[layer], ref_w[layer])
    if spot is not None and not _close(gw[layer][spot], ref_w[layer][spot]):
        j, k = spot
        name, right, yours = f"∂C/∂w_{{{j},{k}}}^({layer})", ref_w[layer][spot], gw[layer][spot]
    else:
        spot = _entry(gb[layer], ref_b[layer])
        if spot is None:
            got = "None" if gb[layer] is None else f"shape {gb[layer].shape}"
            return (f"grad_b[{layer}] should have shape {ref_b[layer].shape}, like "
                    f"b[{layer}]; yours has {got}")
        j = spot[0]
        name, right, yours = f"∂C/∂b_{j}^({layer})", ref_b[layer][spot], gb[layer][spot]
    text = f"{name} should be {right + 0.0:.4g}, yours is {yours + 0.0:.4g}"
    return text + _relation(case, layer, j, right, mistake)


def _relation(case: Case, layer: int, j: int, right: float, mistake: Mistake | None) -> str:
    """How the learner's number follows from the right one, where one factor says it."""
    name = mistake.name if mistake is not None else ""
    factors = {"no_two": ("× 1/2", ""), "no_mean": ("× n", f" (n = {case.n})"),
               "mean_twice": ("/ n", f" (n = {case.n})"), "sign_flipped": ("× (−1)", "")}
    if name in factors:
        op, note = factors[name]
        return f" = {right + 0.0:.4g} {op}{note}"
    if name in ("no_g_prime", "g_prime_at_a") and case.n == 1:
        gz = float(case.g_prime(case.zs[layer])[0, j])
        if name == "no_g_prime":
            return f" = {right + 0.0:.4g} / g′(z_{j}^({layer})) = {right + 0.0:.4g} / {gz:.4g}"
        ga = float(case.g_prime(case.acts[layer])[0, j])
        return (f" = {right + 0.0:.4g} · g′(a_{j}^({layer})) / g′(z_{j}^({layer})) "
                f"= {right + 0.0:.4g} · {ga:.4g} / {gz:.4g}")
    return ""


def _factor(case: Case, layer: int, gw: list[Any], gb: list[Any]) -> float | None:
    """r, when yours = r × right for every number of the layer."""
    ref_w, ref_b = backward(case)
    pairs = [(gw[layer], ref_w[layer]), (gb[layer], ref_b[layer])]
    if any(y is None or y.shape != r.shape for y, r in pairs):
        return None
    yours = np.concatenate([y.ravel() for y, _ in pairs])
    right = np.concatenate([r.ravel() for _, r in pairs])
    big = np.abs(right) > 1e-8
    if not big.any():
        return None
    r = float(yours[big][0] / right[big][0])
    return r if np.allclose(yours, r * right, rtol=RTOL, atol=ATOL) else None


#: The mistakes that scale every number by one factor, and the factor (n: the batch size).
SCALARS: dict[str, Callable[[int], float]] = {
    "sign_flipped": lambda n: -1.0, "no_two": lambda n: 0.5, "no_mean": lambda n: float(n),
    "mean_twice": lambda n: 1.0 / n}


def _combination(r: float, n: int) -> list[str] | None:
    """Two or three scaling mistakes whose factors multiply to ``r``."""
    names = list(SCALARS)
    for size in (2, 3):
        for combo in itertools.combinations(names, size):
            if {"no_mean", "mean_twice"} <= set(combo) or (
                    n == 1 and {"no_mean", "mean_twice"} & set(combo)):
                continue
            if np.isclose(float(np.prod([SCALARS[m](n) for m in combo])), r, rtol=1e-6):
                return list(combo)
    return None


def _unknown(case: Case, layer: int, gw: list[Any], gb: list[Any]) -> CheckReport:
    """No one mistake fits: two scaling mistakes at once, or a plain "wrong"."""
    r = _factor(case, layer, gw, gb)
    combo = _combination(r, case.n) if r is not None and layer == case.L else None
    numbers = _numbers(case, layer, gw, gb, None)
    if combo is not None:
        made = "; and ".join(says(MISTAKES[m], layer) for m in combo)
        return CheckReport("mistake", f"layer {layer}: {len(combo)} mistakes at once: {made} "
                           f"— {numbers} = {r:.4g} × the right one\n  the notes: "
                           + "; ".join(MISTAKES[m].fix for m in combo), "+".join(combo),
                           layer=layer)
    ratio = ("" if r is None else f"; your layer-{layer} numbers are all 0 (is anything "
             f"assigned to grad_w[{layer}] and grad_b[{layer}]?)" if r == 0
             else f"; your layer-{layer} numbers are all {r:.4g} × the right ones")
    return CheckReport("wrong", f"layer {layer}: your numbers are wrong, and no mistake of the "
                       f"catalogue gives them — {numbers}{ratio}", layer=layer)


def _diagnose_layer(case: Case, layer: int, gw: list[Any], gb: list[Any]) -> CheckReport:
    fitting = [m for m in CATALOGUE if m.step != "result" and _fits(m, case, layer, gw, gb)]
    if fitting:
        mistake = fitting[0]
        lines = [f"layer {layer}: {says(mistake, layer)} — "
                 f"{_numbers(case, layer, gw, gb, mistake)}",
                 f"  the notes: {mistake.fix}"]
        if len(fitting) > 1:
            also = ", ".join(says(m, layer) for m in fitting[1:])
            lines.append(f"  (on this network the numbers also fit: {also}; the first "
                         "named is the more specific)")
        return CheckReport("mistake", "\n".join(lines), mistake.name, layer=layer)
    ref_w, ref_b = backward(case)
    for name, got, right in (("grad_w", gw, ref_w), ("grad_b", gb, ref_b)):
        if got[layer] is None or got[layer].shape != right[layer].shape:
            shape = "None" if got[layer] is None else f"shape {got[layer].shape}"
            like = "w" if name == "grad_w" else "b"
            return CheckReport("returned", f"layer {layer}: {name}[{layer}] is {shape}; "
                               f"expected shape {right[layer].shape}, like {like}[{layer}]",
                               layer=layer)
    return _unknown(case, layer, gw, gb)


def diagnose(case: Case, gw: list[Any], gb: list[Any]) -> CheckReport | None:
    """None when the learner's gradients of ``case`` are right; else the first layer,
    from the output down, that is wrong, and which mistake it is."""
    L = case.L
    if len(gw) != L + 1 or len(gb) != L + 1:
        for mistake in CATALOGUE:
            if mistake.step == "result" and _fits_lists(mistake, case, gw, gb):
                return CheckReport("mistake", f"{says(mistake, L)}\n  the notes: {mistake.fix}",
                                   mistake.name, layer=L)
        return CheckReport("returned", f"grad_w has {len(gw)} entries and grad_b {len(gb)}; "
                           f"expected {L + 1} each: [None, then one per layer "
                           f"{'1' if L == 1 else f'1 … {L}'}], like w and b")
    ref_w, ref_b = backward(case)
    for layer in range(L, 0, -1):
        if not (_close(gw[layer], ref_w[layer]) and _close(gb[layer], ref_b[layer])):
            return _diagnose_layer(case, layer, gw, gb)
    return None


def _rel_error(case: Case, gw: list[Any], gb: list[Any]) -> float:
    ref_w, ref_b = backward(case)
    errors = [float(np.max(np.abs(y - r)) / max(float(np.max(np.abs(r))), 1e-300))
              for y, r in zip(gw[1:] + gb[1:], ref_w[1:] + ref_b[1:], strict=True)]
    return max(errors)


def _died(code: int | None) -> str:
    """What a child process that ended without an answer tells (its exit status)."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return (f"the process running your backward was killed by {name} before it "
                "returned — out of memory, or a crash in compiled code?")
    return (f"your backward ended the process running it (exit status {code}) instead of "
            "returning — an os._exit? return grad_w, grad_b instead")


def _where(index: int, case: Case, total: int) -> str:
    return f"network {index} of {total} ({case.L} layer{'s' if case.L > 1 else ''}, " \
           f"{case.describe()})"


def grade(outcomes: list[sandbox.Outcome], suite: list[Case]) -> CheckReport:
    """The report on the learner's outcomes, one per case up to the first failure."""
    worst = 0.0
    for index, (outcome, case) in enumerate(zip(outcomes, suite, strict=False), 1):
        where = _where(index, case, len(suite))
        if outcome[0] == "hang":
            return CheckReport("hang", f"{where}: your backward did not return within "
                               f"{outcome[1]:g} s, so it was stopped — a loop that never "
                               "ends? (a while whose condition never changes, a range that "
                               "grows while you walk it)", network=index)
        if outcome[0] == "raised":
            return CheckReport("raised", f"{where}: your backward raised {outcome[1]}",
                               network=index)
        if outcome[0] == "returned":
            return CheckReport("returned", f"{where}: {outcome[1]}", network=index)
        if outcome[0] == "died":
            return CheckReport("died", f"{where}: {_died(outcome[1])}", network=index)
        report = diagnose(case, outcome[1], outcome[2])
        if report is not None:
            report.network = index
            before = {1: "", 2: " (network 1 was right)", 3: " (networks 1 and 2 were right)"}
            lines = [f"{where}:{before.get(index, f' (networks 1 … {index - 1} were right)')}",
                     report.text]
            if report.layer is not None and report.layer < case.L:
                above = (f"layers {case.L} … {report.layer + 1} are" if report.layer + 1 < case.L
                         else f"layer {case.L} is")
                lines.append(f"  {above} right")
            if report.layer is not None and report.layer > 1:
                lines.append(f"  fix layer {report.layer} first: the layers below it get "
                             "their δ from it")
            report.text = "\n".join(lines)
            return report
        worst = max(worst, _rel_error(case, outcome[1], outcome[2]))
    text = (f"✓ your backward is right: every grad_w and grad_b of {len(suite)} networks "
            f"(1, 2 and 3 layers, widths 1–5, batches of 1 to 5, sigmoid and tanh) agrees "
            f"with chainrule's; the largest relative error is {worst:.1e}")
    return CheckReport("right", text, max_rel_error=worst)


def check(backward: Callable[..., Any] | str | Path, *, seed: int = 0,
          time_limit: float = 10.0) -> CheckReport:
    """Grade a hand-written ``backward(w, b, a0, y, g, g_prime)`` (a function, or the path
    of a file that defines one): its gradients on seeded networks of 1, 2 and 3 layers,
    compared with chainrule's, and at the first wrong layer, which classic mistake it is.

    Parameters
    ----------
    backward : callable or str or Path
        The learner's function (see :data:`TEMPLATE`), or a ``.py`` file defining it.
    seed : int
        Which networks (the same seed, the same networks and numbers).
    time_limit : float
        Seconds for all the networks together; a function still running is stopped.

    Returns
    -------
    CheckReport
        ``print(report)`` (or its repr in a notebook) is the verdict.
    """
    if isinstance(backward, (str, Path)):
        loader = sandbox.file_loader(backward)
    elif callable(backward):
        function = backward
        loader = lambda: function  # noqa: E731 - runs in the child
    else:
        raise ValueError(f"backward: expected a function or a file path, got "
                         f"{type(backward).__name__}")
    if not time_limit > 0:
        raise ValueError(f"time_limit: expected a positive number of seconds, got {time_limit!r}")
    suite = cases(seed)
    return grade(sandbox.run(loader, suite, float(time_limit)), suite)
