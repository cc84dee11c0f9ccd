"""Where a training step's time goes, against JAX (issue 16): the GEMMs of one step of a
benchmark case, each timed as OpenBLAS runs it (NumPy ``matmul(out=)``, what both of
chainrule's paths call) and as XLA runs it (``jax.jit(jnp.dot)``), float32; then the whole
step of each library (chainrule's compiled kernel and its NumPy path, JAX's jitted step with
optax Adam).

If XLA's GEMMs at these shapes are faster than OpenBLAS's, no saving outside the GEMMs can
bring chainrule's step below JAX's by more than the non-GEMM time: the table shows both sums
beside the steps. Cases: (a) MNIST 784-256-128-10 at batch 128; (e) the same network at the
race's batch 256; (c) 784-1024-1024-10 at batch 1024.

    OPENBLAS_NUM_THREADS=1 taskset -c 0 python bench/gemm_xla.py   # one core (XLA's
                                                  # thread flags alone do not hold it to one)
    python bench/gemm_xla.py --case c              # every core, both libraries
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial

import numpy as np

os.environ.setdefault("CHAINRULE_COMPILED", "1")

CASES = {"a": ([784, 256, 128, 10], 128), "e": ([784, 256, 128, 10], 256),
         "c": ([784, 1024, 1024, 10], 1024)}


def best_of(fn: Callable[[], object], rounds: int = 7, seconds: float = 0.1) -> float:
    """Fastest mean seconds per call over ``rounds`` rounds of about ``seconds`` each. Each
    contender is timed on its own, one after the other: OpenBLAS's and XLA's idle threads
    spin on after a call, which slowed the other library's GEMMs by up to 40% when the two
    were interleaved, and chainrule's two steps evicted each other's arrays from the cache
    (both 10-25% slower interleaved at (c)'s shapes)."""
    t0 = time.perf_counter()
    fn()
    reps = max(3, min(200, int(seconds / max(time.perf_counter() - t0, 1e-6))))
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def gemms(rng: np.random.Generator, sizes: list[int], batch: int
          ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, left, right) of every GEMM of one step, in the layouts the compiled step
    passes to BLAS: z = a_prev wᵀ, ∂C/∂w = δᵀ a_prev, ∂C/∂a_prev = δ w (w is (n_out, n_in)),
    the last skipped for layer 1."""
    out = []
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        a = rng.standard_normal((batch, n_in), dtype=np.float32)
        w = rng.standard_normal((n_out, n_in), dtype=np.float32)
        d = rng.standard_normal((batch, n_out), dtype=np.float32)
        out += [(f"l{layer} z = a wᵀ", a, w.T), (f"l{layer} grad_w = δᵀ a", d.T, a)]
        if layer > 1:
            out.append((f"l{layer} grad_prev = δ w", d, w))
    return out


def main(argv: list[str] | None = None) -> None:
    import jax
    import jax.numpy as jnp

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", choices=sorted(CASES), default="a")
    sizes, batch = CASES[ap.parse_args(argv).case]
    print(f"{'-'.join(map(str, sizes))}, batch {batch}")
    rng = np.random.default_rng(0)
    rows = []
    dot = jax.jit(jnp.dot)
    for label, left, right in gemms(rng, sizes, batch):
        out = np.empty((left.shape[0], right.shape[1]), dtype=np.float32)
        ja, jb = jnp.asarray(left), jnp.asarray(right)
        t_np = best_of(partial(np.dot, left, right, out))
        t_jax = best_of(partial(lambda x, y: dot(x, y).block_until_ready(), ja, jb))
        rows.append((label, (left.shape[0], left.shape[1], right.shape[1]), t_np, t_jax))
    steps = whole_steps(sizes, batch)
    print(f"{'GEMM':24s} {'m×k×n':>14s} {'OpenBLAS µs':>12s} {'XLA µs':>9s} "
          f"{'XLA/OpenBLAS':>13s}")
    for label, (m, k, n), t_np, t_jax in rows:
        print(f"{label:24s} {f'{m}×{k}×{n}':>14s} {t_np * 1e6:12.1f} {t_jax * 1e6:9.1f} "
              f"{t_jax / t_np:13.2f}")
    s_np, s_jax = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(f"{'sum':24s} {'':>14s} {s_np * 1e6:12.1f} {s_jax * 1e6:9.1f} {s_jax / s_np:13.2f}")
    for name, seconds in steps.items():
        print(f"{name:40s} {seconds * 1e6:9.1f} µs")
    theirs = steps["jax jit step"]
    for name in ("chainrule compiled step", "chainrule NumPy step"):
        ours = steps[name]
        print(f"{name} / JAX step: {ours / theirs:.2f}; the GEMMs are {s_np / ours:.0%} of "
              f"it, the rest {(ours - s_np) * 1e6:.0f} µs")
    print(f"JAX step minus XLA's GEMMs: {(theirs - s_jax) * 1e6:.0f} µs")


def whole_steps(sizes: list[int], batch: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    import optax

    import chainrule as cr
    from chainrule.training.loop import Trainer

    rng = np.random.default_rng(1)
    X = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    net = cr.MLP(sizes, hidden="relu", output="softmax", loss="cross_entropy", seed=0,
                 dtype="float32")
    Y = net.targets(y, batch)
    trainer = Trainer(net, cr.Adam(1e-3), epochs=1, batch_size=batch)
    step = trainer.compiled
    assert step is not None
    step(X, Y, 1)
    numpy_path = Trainer(net, cr.Adam(1e-3), epochs=1, batch_size=batch)
    numpy_path.step.compiled = None  # the NumPy path, as with CHAINRULE_COMPILED=0

    params = [(jnp.asarray(rng.standard_normal((i, o), dtype=np.float32) * 0.05),
               jnp.zeros(o, jnp.float32)) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
    opt = optax.adam(1e-3)
    state = opt.init(params)

    def loss(p: list, x: jax.Array, t: jax.Array) -> jax.Array:
        a = x
        for w, b in p[:-1]:
            a = jax.nn.relu(a @ w + b)
        w, b = p[-1]
        return optax.softmax_cross_entropy_with_integer_labels(a @ w + b, t).mean()

    @partial(jax.jit, donate_argnums=(0, 1))  # as bench/worker.py's jax-jit contender
    def train_step(p: list, s: object, x: jax.Array, t: jax.Array) -> tuple:
        g = jax.grad(loss)(p, x, t)
        updates, s = opt.update(g, s, p)
        return optax.apply_updates(p, updates), s

    jx, jt = jnp.asarray(X), jnp.asarray(y)
    box = [params, state]

    def jax_step() -> None:
        box[0], box[1] = train_step(box[0], box[1], jx, jt)
        jax.block_until_ready(box[0])

    return {"chainrule compiled step": best_of(lambda: step.run(X, Y)),
            "chainrule NumPy step": best_of(lambda: numpy_path.train_step(X, Y, 1)),
            "jax jit step": best_of(jax_step)}


if __name__ == "__main__":
    main()
