"""One contender on one benchmark case, in this (fresh) process; prints one JSON line.

Run by :mod:`compare` as ``python bench/worker.py CASE CONTENDER --repeats N``; each
process trains the same problem ``repeats`` times and reports every repeat's training
time, the test accuracy, its own peak resident memory and the BLAS threadpools it saw.
Only training is timed: data loading, conversion and evaluation happen outside the clock.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
# Fewer threads than cores: the process is pinned to that many cores, since not every
# library obeys its thread setting (XLA's CPU client ran its GEMMs on both cores with
# --xla_cpu_multi_thread_eigen=false; pinned, its 128×784×256 GEMM took 504 µs, not 309).
if THREADS < (os.cpu_count() or 1) and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:THREADS]))

# (sizes, batch, epochs) for the cases with a fixed recipe.
CASES: dict[str, dict[str, Any]] = {
    "a": {"title": "MNIST 784-256-128-10, batch 128, 5 epochs", "sizes": [784, 256, 128, 10],
          "batch": 128, "epochs": 5, "data": "mnist"},
    "b": {"title": "small 64-32-10, 60k random samples, batch 32, 3 epochs",
          "sizes": [64, 32, 10], "batch": 32, "epochs": 3, "data": "random"},
    "c": {"title": "large batch 784-1024-1024-10, batch 1024, 2 epochs",
          "sizes": [784, 1024, 1024, 10], "batch": 1024, "epochs": 2, "data": "mnist"},
    "t": {"title": "small tabular 12-64-64-3, 2,000 rows, batch 32, 200 epochs",
          "sizes": [12, 64, 64, 3], "batch": 32, "epochs": 200, "data": "tabular"},
}
QUICK_EPOCHS = {"a": 1, "b": 1, "c": 1, "t": 20}
# Every contender of a fixed-recipe case starts from the same distribution of parameters,
# scikit-learn's (which it offers no way to change): weights and biases of a layer alike
# from U(±√(6 / (n_in + n_out))), i.e. Glorot-uniform weights and biases from the same
# range. With each library's default instead (chainrule and JAX He-uniform weights and
# zero biases, PyTorch U(±1/√n_in)), (t)'s test accuracy differed by up to 2 points from
# the initialization alone. The race (e) keeps each library's own best settings.
INIT = "glorot_uniform"


def glorot_limit(n_in: int, n_out: int) -> float:
    return math.sqrt(6.0 / (n_in + n_out))


# -- data ---------------------------------------------------------------------------------
def data_dir() -> Path:
    return Path(os.environ.get("CHAINRULE_DATA_DIR", REPO.parent / "shared" / "data" / "mnist"))


def load_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST as float32 pixels in [0, 1] (n, 784) and uint8 labels, via chainrule's reader."""
    from chainrule.datasets import read_images, read_labels

    d = data_dir()

    def pixels(name: str) -> np.ndarray:
        img = read_images(d / name)
        out = np.empty((img.shape[0], img.shape[1] * img.shape[2]), dtype=np.float32)
        np.multiply(img.reshape(img.shape[0], -1), np.float32(1 / 255), out=out)
        return out

    return (pixels("train-images-idx3-ubyte.gz"), read_labels(d / "train-labels-idx1-ubyte.gz"),
            pixels("t10k-images-idx3-ubyte.gz"), read_labels(d / "t10k-labels-idx1-ubyte.gz"))


def make_random(n_in: int, n_classes: int) -> tuple[np.ndarray, ...]:
    """60,000 training + 10,000 test Gaussian samples labelled by a random linear teacher,
    so accuracy means something (a learnable problem, not noise)."""
    rng = np.random.default_rng(1234)
    X = rng.standard_normal((70_000, n_in), dtype=np.float32)
    teacher = rng.standard_normal((n_in, n_classes)).astype(np.float32)
    y = np.argmax(X @ teacher, axis=1).astype(np.uint8)
    return X[:60_000], y[:60_000], X[60_000:], y[60_000:]


def make_tabular(n_in: int, n_classes: int) -> tuple[np.ndarray, ...]:
    """2,000 training + 10,000 test rows of 12 features, labelled by a random two-layer tanh
    teacher (a nonlinear boundary, so the hidden layers have something to learn).

    The test rows are many so that the accuracy column can resolve the issue's ±0.5 points:
    on the first 1,000 alone (the test set until 2026-12-07) one seed's accuracy sat
    anywhere in a 2.7-point range, and two libraries' medians over 7 seeds differed by up to
    1 point from the seeds alone (the same init, distribution and data). The training rows,
    the teacher and those first 1,000 test rows are what they were."""
    rng = np.random.default_rng(4321)
    X = rng.standard_normal((3_000, n_in), dtype=np.float32)
    w1 = rng.standard_normal((n_in, 16)).astype(np.float32)
    w2 = rng.standard_normal((16, n_classes)).astype(np.float32)
    X = np.concatenate([X, rng.standard_normal((9_000, n_in), dtype=np.float32)])
    y = np.argmax(np.tanh(X @ w1) @ w2, axis=1).astype(np.uint8)
    return X[:2_000], y[:2_000], X[2_000:], y[2_000:]


def load_data(r: dict[str, Any]) -> tuple[np.ndarray, ...]:
    kind = r.get("data", "mnist")
    if kind == "mnist":
        return load_mnist()
    if kind == "tabular":
        return make_tabular(r["sizes"][0], r["sizes"][-1])
    return make_random(r["sizes"][0], r["sizes"][-1])


# -- contenders ---------------------------------------------------------------------------
# Each takes (data, recipe) and returns a "session": a callable that trains once from a
# fresh model (seeded) and returns (train_seconds, test_accuracy, extra).
Recipe = dict[str, Any]


def chainrule_session(data: tuple[np.ndarray, ...], r: Recipe) -> Callable[[int], dict]:
    # The "chainrule" contender forces the compiled step (CHAINRULE_COMPILED=1: chosen by
    # default only for fits of 10,000 steps or more; here numba's load is outside the clock,
    # as JAX's compile is); "chainrule-numpy" has set it to 0 first.
    os.environ.setdefault("CHAINRULE_COMPILED", "1")
    import chainrule as cr

    _chainrule_warm_up()
    X, y, Xt, yt = data

    def once(seed: int) -> dict:
        net = _chainrule_net(cr, r, seed)
        opt = cr.Adam(_lr(cr, r))
        t0 = time.perf_counter()
        net.fit(X, y, epochs=r["epochs"], batch_size=r["batch"], optimizer=opt)
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "accuracy": float(np.mean(net.predict_classes(Xt) == yt))}

    return once


def _chainrule_net(cr: Any, r: Recipe, seed: int) -> Any:
    """The recipe's float32 ReLU/softmax MLP, from the recipe's init (scikit-learn's biases
    too for :data:`INIT`) or chainrule's default."""
    net = cr.MLP(r["sizes"], hidden="relu", output="softmax", loss="cross_entropy",
                 seed=seed, dtype="float32", init=r.get("init"))
    if r.get("init") == INIT:
        _uniform_biases(net, seed)
    return net


def _uniform_biases(net: Any, seed: int) -> None:
    """scikit-learn's biases: each layer's b from U(±√(6 / (n_in + n_out))), as its w."""
    rng = np.random.default_rng([seed, 1])
    for layer in net.layers:
        layer.b = rng.uniform(-1, 1, layer.n_out) * glorot_limit(layer.n_in, layer.n_out)


def _chainrule_warm_up() -> None:
    """Outside the clock, like `import torch` and JAX's first jit call: import the optional
    numba kernels and load (or compile) the compiled step from numba's cache. Nothing
    happens with CHAINRULE_NUMBA=0 or CHAINRULE_COMPILED=0 (the NumPy path)."""
    try:
        import chainrule.training.kernels  # noqa: F401
        from chainrule.training import compiled
    except ImportError:
        return
    if compiled.enabled():
        compiled.warm_up("float32")


def chainrule_numpy_session(data: tuple[np.ndarray, ...], r: Recipe) -> Callable[[int], dict]:
    """chainrule with the compiled step switched off: the plain NumPy path."""
    os.environ["CHAINRULE_COMPILED"] = "0"
    return chainrule_session(data, r)


def _lr(cr: Any, r: Recipe) -> Any:
    if r.get("schedule") == "cosine":
        steps = r["epochs"] * -(-r["n_train"] // r["batch"])
        return cr.CosineWarmup(r["lr"], total_steps=steps, warmup_steps=r.get("warmup", 0))
    return r.get("lr", 1e-3)


def sklearn_session(dtype: str) -> Callable[..., Callable[[int], dict]]:
    def make(data: tuple[np.ndarray, ...], r: Recipe) -> Callable[[int], dict]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        if r.get("init", INIT) != INIT:
            raise SystemExit(f"init: scikit-learn always initializes with {INIT}, "
                             f"not {r['init']!r}")
        X, y, Xt, yt = (a.astype(dtype) if a.dtype.kind == "f" else a for a in data)

        def once(seed: int) -> dict:
            clf = MLPClassifier(
                hidden_layer_sizes=tuple(r["sizes"][1:-1]), activation="relu", solver="adam",
                learning_rate_init=r.get("lr", 1e-3), batch_size=r["batch"],
                max_iter=r["epochs"], tol=0.0, n_iter_no_change=10**9, shuffle=True,
                alpha=0.0, random_state=seed, early_stopping=False,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                t0 = time.perf_counter()
                clf.fit(X, y)
                seconds = time.perf_counter() - t0
            return {"seconds": seconds, "accuracy": float(np.mean(clf.predict(Xt) == yt))}

        return once

    return make


def torch_session(fused: bool) -> Callable[..., Callable[[int], dict]]:
    def make(data: tuple[np.ndarray, ...], r: Recipe) -> Callable[[int], dict]:
        import torch

        torch.set_num_threads(THREADS)
        if fused:
            torch.set_flush_denormal(True)
        X, y, Xt, yt = (torch.from_numpy(np.ascontiguousarray(a)) for a in data)
        y = y.long()

        def once(seed: int) -> dict:
            torch.manual_seed(seed)
            model = _torch_model(r)
            opt = torch.optim.Adam(model.parameters(), lr=r.get("lr", 1e-3), fused=fused,
                                   foreach=None if fused else False)
            sched = None
            if r.get("schedule") == "cosine":
                steps = r["epochs"] * -(-r["n_train"] // r["batch"])
                sched = torch.optim.lr_scheduler.OneCycleLR(
                    opt, max_lr=r["lr"], total_steps=steps, pct_start=0.0001,
                    anneal_strategy="cos", cycle_momentum=False)
            loss_fn = torch.nn.CrossEntropyLoss()
            n, bs = X.shape[0], r["batch"]
            t0 = time.perf_counter()
            for _ in range(r["epochs"]):
                order = torch.randperm(n)
                for start in range(0, n, bs):
                    idx = order[start:start + bs]
                    opt.zero_grad(set_to_none=True)
                    loss = loss_fn(model(X[idx]), y[idx])
                    loss.backward()
                    opt.step()
                    if sched is not None:
                        sched.step()
            seconds = time.perf_counter() - t0
            with torch.no_grad():
                acc = float((model(Xt).argmax(1) == yt.long()).float().mean())
            return {"seconds": seconds, "accuracy": acc}

        return once

    return make


def _torch_model(r: Recipe) -> Any:
    """Linear + ReLU layers with PyTorch's default init, or scikit-learn's (:data:`INIT`)
    where the recipe asks for it."""
    import torch

    sizes = r["sizes"]
    mods: list[Any] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layer = torch.nn.Linear(n_in, n_out)
        if r.get("init") == INIT:
            lim = glorot_limit(n_in, n_out)
            torch.nn.init.uniform_(layer.weight, -lim, lim)
            torch.nn.init.uniform_(layer.bias, -lim, lim)
        elif r.get("init") is not None:
            raise SystemExit(f"init: {r['init']!r} is not set up for PyTorch here")
        mods.append(layer)
        if i < len(sizes) - 2:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


def _jax_model(r: Recipe) -> tuple[Any, Any, Any, Any]:
    """(params, optimizer, train step, predict) in JAX + optax: He-uniform init like
    chainrule's ReLU layers (scikit-learn's where the recipe says ``init``), softmax
    cross-entropy, Adam (cosine-decayed for the race)."""
    import jax
    import jax.numpy as jnp
    import optax

    if r.get("init") not in (None, INIT):
        raise SystemExit(f"init: {r['init']!r} is not set up for JAX here")
    sklearn_init = r.get("init") == INIT

    def init(seed: int) -> list[tuple[Any, Any]]:
        key = jax.random.PRNGKey(seed)
        params = []
        for n_in, n_out in zip(r["sizes"][:-1], r["sizes"][1:], strict=True):
            key, sub_w, sub_b = jax.random.split(key, 3)
            lim = glorot_limit(n_in, n_out) if sklearn_init else math.sqrt(6.0 / n_in)
            b = (jax.random.uniform(sub_b, (n_out,), jnp.float32, -lim, lim) if sklearn_init
                 else jnp.zeros((n_out,), jnp.float32))
            params.append((jax.random.uniform(sub_w, (n_in, n_out), jnp.float32, -lim, lim), b))
        return params

    def forward(params: Any, x: Any) -> Any:
        for w, b in params[:-1]:
            x = jax.nn.relu(x @ w + b)
        w, b = params[-1]
        return x @ w + b

    def loss(params: Any, x: Any, y: Any) -> Any:
        return optax.softmax_cross_entropy_with_integer_labels(forward(params, x), y).mean()

    lr: Any = r.get("lr", 1e-3)
    if r.get("schedule") == "cosine":
        lr = optax.cosine_decay_schedule(r["lr"], r["epochs"] * -(-r["n_train"] // r["batch"]))
    tx = optax.adam(lr)

    def step(params: Any, opt_state: Any, x: Any, y: Any) -> tuple[Any, Any]:
        grads = jax.grad(loss)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return init, tx, step, jax.jit(forward)


def jax_session(scan: bool) -> Callable[..., Callable[[int], dict]]:
    """JAX jit: one jitted train step per batch (``scan=False``), or a whole epoch of
    batches in one jitted ``lax.scan`` (``scan=True``, JAX's fastest form). Every shape is
    compiled before the clock starts (a warm-up call), as chainrule's numba step is."""

    def make(data: tuple[np.ndarray, ...], r: Recipe) -> Callable[[int], dict]:
        import jax
        import jax.numpy as jnp

        init, tx, step, predict = _jax_model(r)
        X, y, Xt, yt = data
        Xj, yj = jnp.asarray(X), jnp.asarray(y.astype(np.int32))
        n, bs = X.shape[0], r["batch"]
        n_full = n // bs
        jstep = jax.jit(step, donate_argnums=(0, 1))

        def step_at(params: Any, opt_state: Any, order: Any, start: Any) -> tuple[Any, Any]:
            idx = jax.lax.dynamic_slice_in_dim(order, start, bs)  # gather inside the jit
            return step(params, opt_state, Xj[idx], yj[idx])

        jstep_at = jax.jit(step_at, donate_argnums=(0, 1))

        def epoch_scan(params: Any, opt_state: Any, order: Any) -> tuple[Any, Any]:
            idx = order[: n_full * bs].reshape(n_full, bs)

            def body(carry: Any, i: Any) -> tuple[Any, None]:
                p, s = carry
                return step(p, s, Xj[i], yj[i]), None

            (params, opt_state), _ = jax.lax.scan(body, (params, opt_state), idx)
            return params, opt_state

        jepoch = jax.jit(epoch_scan, donate_argnums=(0, 1))

        def train(params: Any, opt_state: Any, rng: np.random.Generator,
                  epochs: int) -> tuple[Any, Any]:
            for _ in range(epochs):
                order_np = rng.permutation(n).astype(np.int32)
                order = jnp.asarray(order_np)
                if scan:
                    params, opt_state = jepoch(params, opt_state, order)
                else:
                    for b in range(n_full):
                        params, opt_state = jstep_at(params, opt_state, order, b * bs)
                if n % bs:  # the last, partial batch (one more compiled shape)
                    idx = jnp.asarray(order_np[n_full * bs:])
                    params, opt_state = jstep(params, opt_state, Xj[idx], yj[idx])
            return jax.block_until_ready((params, opt_state))

        params0 = init(0)
        train(params0, tx.init(params0), np.random.default_rng(0), 1)  # compile every shape

        def once(seed: int) -> dict:
            params = init(seed)
            opt_state = tx.init(params)
            jax.block_until_ready(params)
            t0 = time.perf_counter()
            params, _ = train(params, opt_state, np.random.default_rng(seed), r["epochs"])
            seconds = time.perf_counter() - t0
            pred = np.asarray(predict(params, jnp.asarray(Xt))).argmax(1)
            return {"seconds": seconds, "accuracy": float(np.mean(pred == yt))}

        return once

    return make


CONTENDERS: dict[str, Callable[..., Callable[[int], dict]]] = {
    "chainrule": chainrule_session,
    "chainrule-numpy": chainrule_numpy_session,
    "jax-jit": jax_session(scan=False),
    "jax-scan": jax_session(scan=True),
    "sklearn-f32": sklearn_session("float32"),
    "sklearn-f64": sklearn_session("float64"),
    "torch-eager": torch_session(fused=False),
    "torch-fused-ftz": torch_session(fused=True),
}


# -- the accuracy race (e) ------------------------------------------------------------------
def _chainrule_race(r: Recipe, data: tuple[np.ndarray, ...]) -> dict:
    """chainrule's entry to the race: one ``net.fit`` (whole runs of batches in one compiled
    call, as any fit) with a callback that evaluates every ``chunk`` batches, off the
    clock, and stops the fit at the end of the epoch that reached the target. The compiled
    step is forced, as for the "chainrule" contender of the other cases."""
    os.environ.setdefault("CHAINRULE_COMPILED", "1")
    import chainrule as cr

    _chainrule_warm_up()
    X, y, Xt, yt = data
    target = r["target"]
    n_steps, chunk = _race_schedule(r, X.shape[0])

    def evaluated(batch: int) -> bool:  # the batches of an epoch the race evaluates after
        return batch % chunk == 0 or batch == n_steps

    class Race(cr.Callback):
        def __init__(self) -> None:
            self.clock, self.resumed, self.seen = 0.0, 0.0, 0
            self.curve: list[tuple[float, float]] = []
            self.reached: float | None = None

        def on_train_begin(self, trainer: Any) -> None:
            self.resumed = time.perf_counter()

        def on_epoch_begin(self, trainer: Any) -> None:
            self.seen = 0

        def watches(self, trainer: Any, ahead: int) -> bool:
            return evaluated(self.seen + ahead)

        def on_batch_end(self, trainer: Any, batch: int, loss: float) -> None:
            self.seen = batch
            if self.reached is not None or not evaluated(batch):
                return
            self.clock += time.perf_counter() - self.resumed
            acc = float(np.mean(net.predict_classes(Xt) == yt))
            self.curve.append((round(self.clock, 3), acc))
            if acc >= target:
                self.reached = self.clock
                trainer.stop_training = True
            self.resumed = time.perf_counter()

    net = _chainrule_net(cr, r, r["seed"])
    race_cb = Race()
    net.fit(X, y, epochs=r["epochs"], batch_size=r["batch"], optimizer=cr.Adam(_lr(cr, r)),
            callbacks=[race_cb])
    return {"seconds": race_cb.reached, "accuracy": race_cb.curve[-1][1],
            "curve": race_cb.curve}


def _race_schedule(r: Recipe, n: int) -> tuple[int, int]:
    """(steps per epoch, steps between evaluations) of the race."""
    n_steps = -(-n // r["batch"])
    return n_steps, -(-n_steps // r.get("evals_per_epoch", 2))


def race(contender: str, r: Recipe, data: tuple[np.ndarray, ...]) -> dict:
    """Train epoch by epoch (evaluating off the clock) until test accuracy ≥ target."""
    if contender == "chainrule":
        return _chainrule_race(r, data)
    X, y, Xt, yt = data
    target = r["target"]
    n, bs = X.shape[0], r["batch"]
    n_steps, chunk = _race_schedule(r, n)
    curve: list[tuple[float, float]] = []
    clock = 0.0
    if contender == "jax-jit":
        import jax
        import jax.numpy as jnp

        init, tx, step, predict = _jax_model(r)
        Xj, yj, Xtj = jnp.asarray(X), jnp.asarray(y.astype(np.int32)), jnp.asarray(Xt)
        jstep = jax.jit(step, donate_argnums=(0, 1))
        state = {"p": init(r["seed"])}
        state["s"] = tx.init(state["p"])
        warm_p = init(r["seed"])  # compile both batch shapes before the clock
        warm_s = tx.init(warm_p)
        for m in {bs, n - (n_steps - 1) * bs}:
            warm_p, warm_s = jstep(warm_p, warm_s, Xj[:m], yj[:m])
        jax.block_until_ready(warm_p)

        def step_at(params: Any, opt_state: Any, order: Any, start: Any) -> tuple[Any, Any]:
            idx = jax.lax.dynamic_slice_in_dim(order, start, bs)
            return step(params, opt_state, Xj[idx], yj[idx])

        jstep_at = jax.jit(step_at, donate_argnums=(0, 1))
        warm_p, warm_s = jstep_at(warm_p, warm_s, jnp.arange(n, dtype=jnp.int32), 0)
        jax.block_until_ready(warm_p)

        def train_chunk(order: Any, first: int, last: int) -> None:
            p, s = state["p"], state["s"]
            order_j = jnp.asarray(order)
            for step_i in range(first, last):
                if (step_i + 1) * bs <= n:
                    p, s = jstep_at(p, s, order_j, step_i * bs)
                else:
                    idx = jnp.asarray(order[step_i * bs:])
                    p, s = jstep(p, s, Xj[idx], yj[idx])
            state["p"], state["s"] = jax.block_until_ready((p, s))

        def accuracy() -> float:
            return float(np.mean(np.asarray(predict(state["p"], Xtj)).argmax(1) == yt))

        jrng = np.random.default_rng(r["seed"])
        perm: Callable[[], Any] = lambda: jrng.permutation(n).astype(np.int32)  # noqa: E731
    else:
        import torch

        torch.set_num_threads(THREADS)
        torch.set_flush_denormal(contender == "torch-fused-ftz")
        torch.manual_seed(r["seed"])
        Xtr, ytr = torch.from_numpy(X), torch.from_numpy(y).long()
        Xte, yte = torch.from_numpy(Xt), torch.from_numpy(yt).long()
        model = _torch_model(r)
        fused = contender == "torch-fused-ftz"
        opt_t = torch.optim.Adam(model.parameters(), lr=r["lr"], fused=fused,
                                 foreach=None if fused else False)
        sched = None
        if r.get("schedule") == "cosine":
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt_t, max_lr=r["lr"], total_steps=r["epochs"] * n_steps, pct_start=0.0001,
                anneal_strategy="cos", cycle_momentum=False)
        loss_fn = torch.nn.CrossEntropyLoss()

        def train_chunk(order: Any, first: int, last: int) -> None:
            for step in range(first, last):
                idx = order[step * bs:(step + 1) * bs]
                opt_t.zero_grad(set_to_none=True)
                loss_fn(model(Xtr[idx]), ytr[idx]).backward()
                opt_t.step()
                if sched is not None:
                    sched.step()

        def accuracy() -> float:
            with torch.no_grad():
                return float((model(Xte).argmax(1) == yte).float().mean())

        perm = lambda: torch.randperm(n)  # noqa: E731
    reached = None
    for epoch in range(r["epochs"]):
        t0 = time.perf_counter()
        order = perm()
        clock += time.perf_counter() - t0
        for first in range(0, n_steps, chunk):
            t0 = time.perf_counter()
            train_chunk(order, first, min(first + chunk, n_steps))
            clock += time.perf_counter() - t0
            acc = accuracy()
            curve.append((round(clock, 3), acc))
            if reached is None and acc >= target:
                reached = clock
        if reached is not None:
            break
        del epoch
    return {"seconds": reached, "accuracy": curve[-1][1], "curve": curve}


# -- main -----------------------------------------------------------------------------------
def threadpools() -> list[dict]:
    """What threadpoolctl sees (library, version, kernel, threads, which file), plus
    PyTorch's own MKL/oneDNN pool, which threadpoolctl cannot see (linked statically)."""
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "num_threads", "architecture", "version")
    pools = [{**{k: p.get(k) for k in keep}, "file": Path(p["filepath"]).name}
             for p in threadpool_info()]
    if "jax" in sys.modules:
        import jax

        pools.append({"user_api": "blas", "internal_api": "jax/xla eigen",
                      "num_threads": len(os.sched_getaffinity(0)) if hasattr(
                          os, "sched_getaffinity") else os.cpu_count(),
                      "architecture": jax.default_backend(),
                      "version": jax.__version__, "file": "jaxlib"})
    if "torch" in sys.modules:
        import torch

        pools.append({"user_api": "blas", "internal_api": "torch mkl/onednn",
                      "num_threads": torch.get_num_threads(), "architecture":
                      torch.backends.cpu.get_cpu_capability(), "version": torch.__version__,
                      "file": "libtorch_cpu"})
    return pools


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=["a", "b", "c", "e", "t"])
    ap.add_argument("contender", choices=sorted(CONTENDERS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="seed of the first repeat")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--recipe", default="{}", help="JSON overrides of the case's recipe")
    ap.add_argument("--budget", type=float, default=120.0,
                    help="stop repeating once this many seconds of training are spent")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    recipe: Recipe = dict(CASES.get(args.case, {}))
    if args.case != "e":
        recipe["init"] = INIT
    recipe.update(json.loads(args.recipe))
    if args.quick and args.case in QUICK_EPOCHS:
        recipe["epochs"] = QUICK_EPOCHS[args.case]
    data = load_data(recipe)
    recipe["n_train"] = int(data[0].shape[0])
    runs: list[dict] = []
    spent = 0.0
    once = (lambda seed: race(args.contender, {**recipe, "seed": seed}, data)) if (
        args.case == "e") else CONTENDERS[args.contender](data, recipe)
    for i in range(args.first_seed, args.first_seed + args.repeats):
        t0 = time.perf_counter()
        runs.append(once(i))
        spent += time.perf_counter() - t0
        if spent > args.budget:  # keeps the whole benchmark bounded; the table shows n
            break
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data_bytes = int(sum(a.size * 4 for a in data if a.dtype.kind == "f"))
    print(json.dumps({
        "case": args.case, "contender": args.contender, "recipe": recipe, "runs": runs,
        "peak_rss_mb": peak_kib / 1024, "data_f32_mb": data_bytes / 2**20,
        "threadpools": threadpools(), "threads": THREADS,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
