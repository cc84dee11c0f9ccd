"""Where MNIST's step time goes, against JAX (issue 16, case a): the GEMMs of one training
step of 784-256-128-10 at batch 128, each timed as OpenBLAS runs it (NumPy ``matmul(out=)``,
what the compiled step calls) and as XLA runs it (``jax.jit(jnp.dot)``), float32; then the
whole step of each library (chainrule's compiled kernel, JAX's jitted step with optax Adam).

If XLA's GEMMs at these shapes are faster than OpenBLAS's, no saving outside the GEMMs can
make chainrule's step ≤ 0.8× JAX's: the table shows both sums beside the two steps.

    OPENBLAS_NUM_THREADS=1 taskset -c 0 python bench/gemm_xla.py   # one core (XLA's
                                                  # thread flags alone do not hold it to one)
    python bench/gemm_xla.py                       # every core, both libraries
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

os.environ.setdefault("CHAINRULE_COMPILED", "1")

SIZES = [784, 256, 128, 10]
BATCH = 128


def best_of(fn: Callable[[], object], reps: int = 200, rounds: int = 7) -> float:
    """Fastest mean seconds per call over ``rounds`` rounds of ``reps`` calls."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def gemms(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, left, right) of every GEMM of one step, in the layouts the compiled step
    passes to BLAS: z = a_prev wᵀ, ∂C/∂w = δᵀ a_prev, ∂C/∂a_prev = δ w (w is (n_out, n_in)),
    the last skipped for layer 1."""
    out = []
    for layer, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True), start=1):
        a = rng.standard_normal((BATCH, n_in), dtype=np.float32)
        w = rng.standard_normal((n_out, n_in), dtype=np.float32)
        d = rng.standard_normal((BATCH, n_out), dtype=np.float32)
        out += [(f"l{layer} z = a wᵀ", a, w.T), (f"l{layer} grad_w = δᵀ a", d.T, a)]
        if layer > 1:
            out.append((f"l{layer} grad_prev = δ w", d, w))
    return out


def main() -> None:
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    rows = []
    dot = jax.jit(jnp.dot)
    for label, left, right in gemms(rng):
        out = np.empty((left.shape[0], right.shape[1]), dtype=np.float32)
        t_np = best_of(lambda a=left, b=right, out=out: np.dot(a, b, out))
        ja, jb = jnp.asarray(left), jnp.asarray(right)
        t_jax = best_of(lambda ja=ja, jb=jb: dot(ja, jb).block_until_ready())
        rows.append((label, (left.shape[0], left.shape[1], right.shape[1]), t_np, t_jax))
    steps = whole_steps()
    print(f"{'GEMM':24s} {'m×k×n':>14s} {'OpenBLAS µs':>12s} {'XLA µs':>9s} "
          f"{'XLA/OpenBLAS':>13s}")
    for label, (m, k, n), t_np, t_jax in rows:
        print(f"{label:24s} {f'{m}×{k}×{n}':>14s} {t_np * 1e6:12.1f} {t_jax * 1e6:9.1f} "
              f"{t_jax / t_np:13.2f}")
    s_np, s_jax = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(f"{'sum':24s} {'':>14s} {s_np * 1e6:12.1f} {s_jax * 1e6:9.1f} {s_jax / s_np:13.2f}")
    for name, seconds in steps.items():
        print(f"{name:40s} {seconds * 1e6:9.1f} µs")
    ours, theirs = steps["chainrule compiled step"], steps["jax jit step"]
    print(f"chainrule step / JAX step: {ours / theirs:.2f}; chainrule's GEMMs are "
          f"{s_np / ours:.0%} of its step")


def whole_steps() -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    import optax

    import chainrule as cr
    from chainrule.training import Trainer

    rng = np.random.default_rng(1)
    X = rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    net = cr.MLP(SIZES, hidden="relu", output="softmax", loss="cross_entropy", seed=0,
                 dtype="float32")
    Y = net.targets(y, BATCH)
    trainer = Trainer(net, cr.Adam(1e-3), epochs=1, batch_size=BATCH)
    step = trainer.compiled
    assert step is not None
    step(X, Y, 1)
    out = {"chainrule compiled step": best_of(lambda: step.run(X, Y), reps=50)}

    params = [(jnp.asarray(rng.standard_normal((i, o), dtype=np.float32) * 0.05),
               jnp.zeros(o, jnp.float32)) for i, o in zip(SIZES[:-1], SIZES[1:], strict=True)]
    opt = optax.adam(1e-3)
    state = opt.init(params)

    def loss(p: list, x: jax.Array, t: jax.Array) -> jax.Array:
        a = x
        for w, b in p[:-1]:
            a = jax.nn.relu(a @ w + b)
        w, b = p[-1]
        return optax.softmax_cross_entropy_with_integer_labels(a @ w + b, t).mean()

    @jax.jit
    def train_step(p: list, s: object, x: jax.Array, t: jax.Array) -> tuple:
        g = jax.grad(loss)(p, x, t)
        updates, s = opt.update(g, s, p)
        return optax.apply_updates(p, updates), s

    jx, jt = jnp.asarray(X), jnp.asarray(y)
    box = [params, state]

    def jax_step() -> None:
        box[0], box[1] = train_step(box[0], box[1], jx, jt)
        jax.block_until_ready(box[0])

    out["jax jit step"] = best_of(jax_step, reps=50)
    return out


if __name__ == "__main__":
    main()
