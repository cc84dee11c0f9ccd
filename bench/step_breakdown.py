# ruff: noqa: B023, B905 -- the timed closures run inside the loop iteration that made them
"""Where one training step's time goes (docs/benchmarks.md, issue 16): the NumPy path, the
compiled step through Trainer.train_step, its kernel alone (Adam and plain SGD), and the
network's GEMMs alone as NumPy matmul(out=) calls, for cases (b), (t) and (a)'s shapes.

Usage: ``OPENBLAS_NUM_THREADS=1 python bench/step_breakdown.py`` (fastest of 9 chunks).
"""

import os
import time

import numpy as np

os.environ["CHAINRULE_COMPILED"] = "1"
import chainrule as cr  # noqa: E402
from chainrule.training import compiled  # noqa: E402
from chainrule.training.loop import Trainer  # noqa: E402

compiled.warm_up("float32")
for case, sizes, batch in (
    ("b", [64, 32, 10], 32),
    ("t", [12, 64, 64, 3], 32),
    ("a", [784, 256, 128, 10], 128),
):
    rng = np.random.default_rng(0)
    net = cr.MLP(sizes, hidden="relu", output="softmax", loss="cross_entropy", seed=0)
    X = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    Y = net.targets(rng.integers(0, sizes[-1], batch), batch)
    tr = Trainer(net, cr.Adam(1e-3), epochs=1, batch_size=batch)
    st = tr.compiled
    st(X, Y, 1)
    tn = Trainer(net, cr.Adam(1e-3), epochs=1, batch_size=batch)
    tn.step.compiled = None
    meta, buf = st._meta(batch)
    actp, lossp, ints, zeros = st._static
    opt = tr.optimizer
    h = st._hypers(opt, 5, 1)[0]
    s1, s2 = opt.state["m"], opt.state["v"]
    ints_sgd = ints.copy()
    ints_sgd[4] = 0
    empty = net.grads[:0]
    K = 300 if case != "a" else 30

    def chunk(f):
        t0 = time.perf_counter()
        for _ in range(K):
            f()
        return (time.perf_counter() - t0) / K * 1e6

    fns = {
        "numpy path (Trainer.train_step)": lambda: tn.train_step(X, Y, 1),
        "compiled, Trainer.train_step": lambda: tr.train_step(X, Y, 1),
        "compiled kernel alone (Adam)": lambda: st.kernel.step(
            net.params, net.grads, X, Y, buf, zeros, meta, actp, lossp, ints, h, s1, s2, 0.0
        ),
        "compiled kernel alone (plain SGD)": lambda: st.kernel.step(
            net.params,
            net.grads,
            X,
            Y,
            buf,
            zeros,
            meta,
            actp,
            lossp,
            ints_sgd,
            h,
            empty,
            empty,
            0.0,
        ),
        "the GEMMs alone (NumPy matmul out=)": None,
    }
    ws = [l.w for l in net.dense_layers]
    zs = [np.empty((batch, l.n_out), np.float32) for l in net.dense_layers]
    gws = [np.empty_like(w) for w in ws]
    gps = [np.empty((batch, l.n_in), np.float32) for l in net.dense_layers]

    def gemms():
        a = X
        for w, z in zip(ws, zs):
            np.matmul(a, w.T, out=z)
            a = z
        for i in range(len(ws) - 1, -1, -1):
            np.matmul(zs[i].T, X if i == 0 else zs[i - 1], out=gws[i])
            if i:
                np.matmul(zs[i], ws[i], out=gps[i])

    fns["the GEMMs alone (NumPy matmul out=)"] = gemms
    res = {k: [] for k in fns}
    for _ in range(9):
        for k, f in fns.items():
            res[k].append(chunk(f))
    print(f"({case}) {'-'.join(map(str, sizes))} batch {batch}")
    for k, v in res.items():
        print(f"  {k:40s} {min(v):8.1f} µs")
