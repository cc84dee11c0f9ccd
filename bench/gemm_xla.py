"""Where MNIST's step time goes, against JAX (issue 16, case a): the GEMMs of one training
step of 784-256-128-10 at batch 128, each timed as OpenBLAS runs it (NumPy ``matmul(out=)``,
what the compiled step calls) and as XLA runs it (``jax.jit(jnp.dot)``), float32; then the
whole step of each library (chainrule's compiled kernel, JAX's jitted step with optax Adam).

If XLA's GEMMs at these shapes are faster than OpenBLAS's, no saving outside the GEMMs can
make chainrule's step ≤ 0.8× JAX's: the table shows both sums beside the two steps.

    OPENBLAS_NUM_THREADS=1 XLA_FLAGS=--xla_cpu_multi_thread_eigen=false python bench/gemm_xla.py
    python bench/gemm_xla.py            # every core, both libraries
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


def gemms() -> list[tuple[str, tuple[int, int, int]]]:
    from matmul import step_gemms

    return step_gemms(SIZES, BATCH)


def main() -> None:
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    rows = []
    for label, (m, k, n) in gemms():
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out = np.empty((m, n), dtype=np.float32)
        t_np = best_of(lambda a=a, b=b, out=out: np.matmul(a, b, out=out))
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        dot = jax.jit(jnp.dot)
        t_jax = best_of(lambda ja=ja, jb=jb, dot=dot: dot(ja, jb).block_until_ready())
        rows.append((label, (m, k, n), t_np, t_jax))
    steps = whole_steps()
    print(f"{'GEMM':14s} {'m×k×n':>16s} {'OpenBLAS µs':>12s} {'XLA µs':>9s} {'XLA/OpenBLAS':>13s}")
    for label, (m, k, n), t_np, t_jax in rows:
        print(f"{label:14s} {f'{m}×{k}×{n}':>16s} {t_np * 1e6:12.1f} {t_jax * 1e6:9.1f} "
              f"{t_jax / t_np:13.2f}")
    s_np, s_jax = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(f"{'sum':14s} {'':>16s} {s_np * 1e6:12.1f} {s_jax * 1e6:9.1f} {s_jax / s_np:13.2f}")
    for name, seconds in steps.items():
        print(f"{name:40s} {seconds * 1e6:9.1f} µs")
    print(f"chainrule step / JAX step: {steps['chainrule compiled step'] / steps['jax jit step']:.2f}"
          f"; chainrule's GEMMs are {s_np / steps['chainrule compiled step']:.0%} of its step")


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
