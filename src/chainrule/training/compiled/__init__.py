"""The compiled training step (optional, ``pip install chainrule[fast]``): forward, cost,
backward and the optimizer update of one batch in one numba call.

It runs past 300 lines because choosing, loading and calling the compiled step (with the
optimizer's scalars for each step) is one object's job.

:class:`~chainrule.training.step.Step` asks :func:`step_for` for its compiled form when it
is made; it gets one only where the step is the network's own objective on one process
and this path covers the network exactly — Dense layers, each
hidden one optionally followed by dropout (masks drawn from the same generator, in the same
order, as the NumPy path draws them: :mod:`.layout`), optionally behind a table's input
layers (a categorical lookup and periodic numeric features, :mod:`.front`), built-in
activations (softmax as the output layer), losses and optimizers (any schedule, clipnorm,
L2 on networks without input layers) in float32 or float64 — and where it measures faster (small and
medium networks, see :data:`MAX_WORK`) and the fit is long enough to repay loading
numba (:data:`MIN_STEPS`). That choice is made from the fit's own arguments (network,
optimizer, steps), never from numba's cache or what ran before in the process: the two
paths agree to 1e-12, not bitwise, and a seed must give the same bits every time.
``CHAINRULE_COMPILED=1`` forces the step (no size or length checks), ``CHAINRULE_COMPILED=0``
or ``CHAINRULE_NUMBA=0`` turns it off; without numba the NumPy path, which is unchanged,
runs.

The math is not written a third time: the elementwise rules are derived from the
activation and loss classes' own NumPy methods (:mod:`.derive`), the optimizer rules are
the scalar forms in :mod:`chainrule.kernels`, and the row operations (GEMM loops, softmax,
cross-entropy from logits) are in :mod:`.rows`. ``tests/test_compiled.py`` proves the step
equal to :mod:`chainrule.reference` for every activation × loss × optimizer.

Compiling happens once per machine and float type (≈ 10 s on a quiet 2-core machine, inside
the first fit that takes the step, or ahead with ``python -m chainrule.compiled``) and is
then loaded from numba's cache; nothing is compiled at ``import chainrule``.
"""

from __future__ import annotations

import importlib.util
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from . import layout

if TYPE_CHECKING:
    from ...engine.network import Network
    from ..optimizers import Optimizer
    from ..step import Step
    from .codegen import Generated

Array = np.ndarray

#: Above this many multiply-adds per sample (Σ n_in·n_out) the GEMMs dominate and the
#: NumPy path's per-call overhead no longer matters; measured in docs/benchmarks.md.
MAX_WORK = 400_000
#: A layer whose GEMM has at least this many multiply-adds per step calls BLAS (np.dot with
#: out=, from inside the compiled step); below, the step's own loops (chainrule.compiled.rows).
#: 0: BLAS always — it measured faster even at 32×64×32 (53 µs against 124 µs a step for
#: 64-32-10, batch 32). ``CHAINRULE_BLAS_MIN`` overrides it for experiments.
BLAS_MIN = 0
#: A fit of fewer steps than this trains on NumPy unless CHAINRULE_COMPILED=1: loading numba
#: and the step from its cache costs ≈ 0.46 s in a fresh process (measured on the 2-core VM,
#: quiet), which the step repays after ≈ 8,000–11,000 small-network steps (it saves 42–58 µs
#: of a 59–83 µs step, docs/benchmarks.md). The rule looks at the fit's own arguments only.
MIN_STEPS = 10_000
#: A network with dropout or table input layers (a table job's) trains on NumPy for its
#: first LAYERED_FROM_STEP steps (counted by the optimizer over the whole fit, a resumed run
#: included) and compiled from there. Measured in CPU seconds (2-core VM, a txhousing-shaped
#: network: a lookup of 46 codes, periodic features of 8 numbers, 128-64-1): the compiled
#: step saves 0.16 ms a step in batches of 32 (0.14 against
#: 0.30 ms), 0.14 ms in 64s, 0.08 ms in 256s, and loading numba costs 0.7 s — repaid after
#: 4,000–9,000 steps. A default table job takes at most ≈ 13,000 (200 epochs of ≈ 64
#: batches) and usually stops early: switched at step 2,000, anes96, modechoice, fair and
#: txhousing spent 0.4–0.75 s more CPU (bench/table_job_time.py). So a table job stays on
#: NumPy, and a fit long enough to repay the load switches here. The switch falls on the
#: same step in every run of a seed, so the bits are the same every time.
LAYERED_FROM_STEP = 20_000

_GENERATED: dict[str, Generated] = {}
_NO_ORDER = np.empty(0, dtype=np.int64)
_FAILED: set[str] = set()


def enabled() -> bool:
    """numba installed, and neither CHAINRULE_COMPILED=0 nor CHAINRULE_NUMBA=0."""
    if os.environ.get("CHAINRULE_NUMBA", "1") == "0":
        return False
    if os.environ.get("CHAINRULE_COMPILED", "") == "0":
        return False
    return importlib.util.find_spec("numba") is not None


def forced() -> bool:
    return os.environ.get("CHAINRULE_COMPILED", "") == "1"


def plan(net: Network, optimizer: Optimizer) -> dict[str, Any] | None:
    """The layout the step needs for ``net`` and ``optimizer``, or None where the compiled
    step does not cover them exactly (the NumPy path then trains)."""
    from .. import optimizers as opt_mod

    if net.dtype not in (np.float32, np.float64):
        return None
    parts = layout.split(net)
    if parts is None:
        return None  # a custom layer, or layers in another order: NumPy
    front, rates = parts
    if front and net.l2:
        return None  # the compiled L2 term covers the Dense weights only
    kind = {opt_mod.SGD: None, opt_mod.Momentum: "momentum", opt_mod.Nesterov: "nesterov",
            opt_mod.RMSprop: "rmsprop", opt_mod.Adam: "adam", opt_mod.AdamW: "adamw"}
    if type(optimizer) not in kind:
        return None
    name = kind[type(optimizer)]
    if name is None:  # SGD covers all three momentum forms
        sgd: Any = optimizer
        name = "sgd" if not sgd.momentum else ("nesterov" if sgd.nesterov else "momentum")
    acts = [layer.activation for layer in net.dense_layers]  # every layer is Dense here
    if not (net.params.flags.c_contiguous and net.grads.flags.c_contiguous):
        return None
    return {"optimizer": name, "activations": acts, "loss": net.loss_fn, "front": front,
            "dropout": rates}


def step_for(step: Step) -> CompiledStep | None:
    """A compiled form of ``step`` where it applies, else None (the NumPy path)."""
    if not enabled():
        return None
    if not step.is_plain:
        return None  # another objective, or data-parallel: the step keeps its own path
    net = step.net
    layout = plan(net, step.optimizer)
    if layout is None:
        return None
    work = sum(layer.n_in * layer.n_out for layer in net.dense_layers)
    if work > MAX_WORK and not forced():
        return None
    return CompiledStep(step, layout)


def generated(dtype: np.dtype) -> Generated:
    from . import codegen

    gen = _GENERATED.get(dtype.name)
    if gen is None:
        gen = _GENERATED[dtype.name] = codegen.generate(dtype)
    return gen


def warm_up(dtype: str | np.dtype = "float32") -> float:
    """Compile (or load from numba's cache) the step for ``dtype`` now; returns seconds.

    Benchmarks call this outside the clock, as they do ``jax.jit``'s first call.
    """
    import time

    t0 = time.perf_counter()
    from ...engine.mlp import MLP
    from ..optimizers import Adam
    from ..step import Step

    net = MLP([2, 3, 2], hidden="relu", output="softmax", loss="cross_entropy", dtype=dtype,
              seed=0)
    owner = Step(net, Adam())
    layout = plan(net, owner.optimizer)
    assert layout is not None
    step = CompiledStep(owner, layout)
    x = np.zeros((2, 2), dtype=net.dtype)
    y = np.array([[1, 0], [0, 1]], dtype=net.dtype)
    step.run(x, y)
    step.run_batches(x, y, None, 0, 1, 2, math.inf)  # numba loads each function on first call
    return time.perf_counter() - t0


class CompiledStep:
    """A :class:`~chainrule.training.step.Step` in one compiled call.

    Calling it returns ``(loss_sum, n, correct)`` like the step, or None to hand the
    step to the NumPy path (decided on the first call: numba missing, a rule numba
    refused, or a run too short to repay loading numba). It reads the step's public
    state only: its network, optimizer, loss guard and planned steps.
    """

    def __init__(self, step: Step, layout: dict[str, Any]) -> None:
        self.step = step
        self.layout = layout
        self.kernel: Any = None
        self.disabled = False
        self._bufs: dict[int, tuple[Array, Array, Array]] = {}
        self._static: tuple[Array, Array, Array, Array] | None = None
        self._gather: tuple[Array, Array] | None = None  # xb, yb of run_batches
        self._kernels: Any = None  # chainrule.training.kernels, imported when loaded
        self._front = np.zeros(0, dtype=np.int64)  # the input layers' layout, when loaded
        self._acc = np.zeros(0)  # their gradients' float64 sums

    # -- deciding and loading ------------------------------------------------------------
    def _worth_it(self) -> bool:
        """Forced (CHAINRULE_COMPILED=1), a fit of at least :data:`MIN_STEPS` steps, or a
        table-shaped fit (:meth:`layered`) past its first :data:`LAYERED_FROM_STEP` steps.

        Only the fit's own arguments and its step count decide — never numba's cache or what
        ran before in the process — so a seed gives the same path, and the same bits, every
        time."""
        if forced():
            return True
        steps = self.step.planned_steps
        if steps is None:  # steps driven by hand: their number is unknown
            return False
        if self.layered:
            return self.step.optimizer.t >= LAYERED_FROM_STEP
        return steps >= MIN_STEPS

    @property
    def layered(self) -> bool:
        """Dropout or table input layers: taken compiled from :data:`LAYERED_FROM_STEP`."""
        return bool(self.layout["front"]) or any(self.layout["dropout"])

    @property
    def loaded(self) -> bool:
        """Whether the compiled step is loaded and taking steps (after its first call)."""
        return self.kernel is not None and not self.disabled

    def _load(self, check_worth: bool = True) -> bool:
        net = self.step.net
        key = net.dtype.name
        if key in _FAILED or (check_worth and not self._worth_it()):
            return False
        try:
            gen = generated(net.dtype)
        except Exception:  # noqa: BLE001 - any failure means: train on NumPy
            _FAILED.add(key)
            return False
        table = gen.table
        acts = self.layout["activations"]
        loss = self.layout["loss"]
        if any(type(a) not in table.activations for a in acts) or type(loss) not in table.losses:
            return False
        fused = net.fused_output
        if fused and not table.losses[type(loss)][2]:
            return False
        try:
            from .. import kernels
            from .codegen import load

            module = load(gen)
        except Exception:  # noqa: BLE001
            _FAILED.add(key)
            return False
        self.kernel = module
        self._kernels = kernels  # the update rules and the hyper-parameter row's layout
        self._static = self._build_static(table, kernels.UPDATE_CODES)
        self._front = layout.front(net, self.layout["front"])
        self._acc = np.zeros(layout.front_acc_size(self._front))
        return True

    def _build_static(self, table: Any, codes: dict[str, int]
                      ) -> tuple[Array, Array, Array, Array]:
        net = self.step.net
        dt = net.dtype
        layers = net.dense_layers
        acts = self.layout["activations"]
        loss = self.layout["loss"]
        n_act_p = max([1] + [len(table.activations[type(a)][1]) for a in acts])
        actp = np.zeros((len(layers), n_act_p))
        for i, a in enumerate(acts):
            for k, attr in enumerate(table.activations[type(a)][1]):
                actp[i, k] = float(getattr(a, attr))
        code, lparams, _ = table.losses[type(loss)]
        lossp = np.array([float(getattr(loss, k)) for k in lparams] + [0.0])
        ints = np.array([code, int(net.fused_output), int(loss.classification),
                         int(loss.independent_outputs), codes[self.layout["optimizer"]]],
                        dtype=np.int64)
        self._act_codes = [table.activations[type(a)][0] for a in acts]
        zeros = np.zeros(max(layer.n_out for layer in layers), dtype=dt)
        return actp, lossp, ints, zeros

    def _meta(self, n: int) -> tuple[Array, Array, Array]:
        """Buffer offsets for batches of n: z, a, δ of every layer, ∂C/∂a_prev of 1 … L−1
        (and of layer 1 behind input layers), a ⊙ mask and the mask's place in the batch's
        masks where dropout follows; then the input layers' arrays (fmeta)."""
        hit = self._bufs.get(n)
        if hit is not None:
            return hit
        net = self.step.net
        has_front = bool(self.layout["front"])
        rows, off, mask_at = [], 0, 0
        for i, layer in enumerate(net.dense_layers):
            sl = net.param_slices(i + 1)
            n_in, n_out = layer.n_in, layer.n_out
            b_off = sl["b"].start if "b" in sl else -1
            z_off, a_off, d_off = off, off + n * n_out, off + 2 * n * n_out
            off += 3 * n * n_out
            gp_off = off
            if i > 0 or has_front:
                off += n * n_in
            mask_off = drop_off = -1
            if self.layout["dropout"][i] > 0:
                mask_off, drop_off = mask_at, off
                mask_at += n * n_out
                off += n * n_out
            blas = int(os.environ.get("CHAINRULE_BLAS_MIN", BLAS_MIN)) <= n * n_in * n_out
            rows.append([n_in, n_out, sl["w"].start, b_off, self._act_codes[i], z_off, a_off,
                         d_off, gp_off, int(blas), mask_off, drop_off])
        fmeta, off = layout.front_buffers(self._front, n, off) if has_front else (
            np.zeros(4, dtype=np.int64), off)
        if len(self._bufs) >= 4:
            self._bufs.clear()
        entry = (np.array(rows, dtype=np.int64), np.empty(off, dtype=net.dtype), fmeta)
        self._bufs[n] = entry
        return entry

    # -- the step ------------------------------------------------------------------------
    def _hypers(self, opt: Any, t: int, count: int) -> Array:
        """The step's hyper-parameters for steps t, t + 1, …, t + count − 1 (t counted
        from 1), one row each at the named offsets of :mod:`chainrule.training.kernels`
        (CLIPNORM, LR, …): the schedule's η and, for Adam, the bias corrections of that
        step (scalar arithmetic, the same bits for one step as for an epoch's)."""
        k = self._kernels
        h = np.zeros((count, k.HYPER_WIDTH))
        h[:, k.CLIPNORM] = opt.clipnorm or 0.0
        name = self.layout["optimizer"]
        if name in ("momentum", "nesterov"):
            h[:, k.MOMENTUM] = opt.momentum
        elif name == "rmsprop":
            h[:, k.ONE_MINUS_RHO], h[:, k.RMS_EPS] = 1.0 - opt.rho, opt.eps
        elif name in ("adam", "adamw"):
            h[:, k.ONE_MINUS_BETA_1], h[:, k.ONE_MINUS_BETA_2] = 1.0 - opt.beta_1, 1.0 - opt.beta_2
        adam = name in ("adam", "adamw")
        flush = self.step.net.dtype == np.float32
        # the per-step offsets as locals: this loop runs once per step
        LR, EPS_HAT, ADAM_STEP, FLUSH_BELOW, DECAY = (  # noqa: N806
            k.LR, k.EPS_HAT, k.ADAM_STEP, k.FLUSH_BELOW, k.DECAY)
        for i in range(count):
            step = t + i
            lr = opt.schedule(step - 1)
            row = h[i]
            row[LR] = lr
            if adam:
                c2 = math.sqrt(1.0 - opt.beta_2**step)
                row[EPS_HAT], row[ADAM_STEP] = opt.eps * c2, lr * c2 / (1.0 - opt.beta_1**step)
                row[FLUSH_BELOW] = (opt.FLUSH_BELOW if flush and step % opt.FLUSH_EVERY == 0
                                    else 0.0)
                row[DECAY] = 1.0 - lr * opt.weight_decay if name == "adamw" else 1.0
        return h

    def _slots(self) -> tuple[Array, Array]:
        """The optimizer's slot vectors the kernel updates (built first if need be), an
        empty array for each it does not have."""
        net, opt = self.step.net, self.step.optimizer
        tmp = opt.scratch
        if tmp is None or tmp.shape != net.params.shape or tmp.dtype != net.params.dtype:
            opt.build(net.params)
        slots, empty = opt.slots, net.grads[:0]
        return (opt.state[slots[0]] if slots else empty,
                opt.state[slots[1]] if len(slots) > 1 else empty)

    def run(self, xs: Array, ys: Array) -> tuple[float, int, float, bool]:
        """One compiled step on (xs, ys): (loss sum, correct, ‖g‖², updated)."""
        if self.kernel is None and not self._load(check_worth=False):
            raise RuntimeError("the compiled step is not available for this network")
        net, opt = self.step.net, self.step.optimizer
        params, grads = net.params, net.grads
        s1, s2 = self._slots()
        t = opt.t
        hyper = self._hypers(opt, t + 1, 1)[0]
        if not xs.flags.c_contiguous:
            xs = np.ascontiguousarray(xs)
        if not ys.flags.c_contiguous:
            ys = np.ascontiguousarray(ys)
        meta, buf, fmeta = self._meta(xs.shape[0])
        assert self._static is not None  # loaded
        actp, lossp, ints, zeros = self._static
        layout.check_codes(self.layout["front"], xs)
        mask = self._masks(xs.shape[0], 1)[0]
        loss_sum, correct, sq, updated = self.kernel.step(
            params, grads, xs, ys, buf, zeros, meta, actp, lossp, ints, hyper, s1, s2,
            net.l2, mask, self._front, fmeta, self._acc)
        if updated:
            opt.t = t + 1
        return loss_sum, correct, sq, updated

    def run_batches(self, a0: Array, Y: Array, order: Array | None, first: int, count: int,
                    batch_size: int, limit: float) -> Array:
        """Full batches ``first`` … ``first + count − 1`` (counted from 0, of
        ``batch_size`` rows) of the epoch whose sample order is ``order`` (None: the rows
        in order) of the C-contiguous ``a0``, ``Y`` (the loop's batches hold them so), in
        one compiled call —
        the same steps, bit for bit, as calling this object once per batch. Stops after a
        batch whose loss or gradient is not finite (not applied) or whose mean cost exceeds
        ``limit`` (applied). Returns one row per batch done: (Σ_i C_i, correct, ‖g‖²,
        updated)."""
        net, opt = self.step.net, self.step.optimizer
        m = batch_size
        s1, s2 = self._slots()
        t = opt.t
        hypers = self._hypers(opt, t + 1, count)
        bufs = self._gather
        if bufs is None or bufs[0].shape[1] != a0.shape[1] or bufs[0].shape[0] != m:
            bufs = self._gather = (np.empty((m, a0.shape[1]), dtype=a0.dtype),
                                   np.empty((m, Y.shape[1]), dtype=Y.dtype))
        meta, buf, fmeta = self._meta(m)
        assert self._static is not None  # loaded
        actp, lossp, ints, zeros = self._static
        out = np.zeros((count, 4))
        idx = _NO_ORDER if order is None else order.astype(np.int64, copy=False)
        layout.check_codes(self.layout["front"], a0)
        rng = self._rng()
        before = rng.bit_generator.state
        masks = self._masks(m, count)
        done = self.kernel.steps(net.params, net.grads, a0, Y, idx, first, bufs[0], bufs[1],
                                 buf, zeros, meta, actp, lossp, ints, hypers, s1, s2, net.l2,
                                 float(limit), out, masks, self._front, fmeta, self._acc)
        if done < count and masks.shape[1]:  # the generator as the NumPy path leaves it:
            rng.bit_generator.state = before  # the masks of the batches taken, no more
            self._masks(m, done)
        out = out[:done]
        opt.t = t + int(out[:, 3].sum())
        return out

    def _rng(self) -> np.random.Generator:
        """Where dropout draws its masks: the step's ``dropout_rng``, else the network's."""
        rng = self.step.dropout_rng
        return self.step.net.rng if rng is None else rng

    def _masks(self, n: int, count: int) -> Array:
        """The dropout masks of ``count`` batches of n rows (:func:`.layout.draw_masks`);
        no column without dropout, and nothing drawn."""
        net = self.step.net
        return layout.draw_masks(self._rng(), self.layout["dropout"],
                                 [d.n_out for d in net.dense_layers], n, count, net.dtype)

    def __call__(self, xb: Array, yb: Array, batch: int, epoch: int = 1
                 ) -> tuple[float, int, int] | None:
        """The step on batch ``batch`` of epoch ``epoch`` (both from 1, named in a
        :class:`~chainrule.training.DivergenceError`): (loss sum, n, correct), or None."""
        if self.disabled:
            return None
        if self.kernel is None and not self._load():
            # a table-shaped fit asks again at its next step (LAYERED_FROM_STEP)
            later = (self.layered and self.step.planned_steps is not None
                     and self.step.optimizer.t < LAYERED_FROM_STEP
                     and self.step.net.dtype.name not in _FAILED)
            self.disabled = not later
            return None
        n = xb.shape[0]
        if n == 0:
            return None
        loss_sum, correct, sq, updated = self.run(xb, yb)
        if not updated:
            if not math.isfinite(loss_sum):
                raise self.step.guard.error(epoch, batch, "the loss")
            raise self.step.guard.error(epoch, batch, "the gradient")
        return loss_sum, n, int(correct)
