"""Hostile-argument campaign for chainrule's library API (issue 28, families 6 and 7).

Calls the public API with hostile values drawn per argument — None, negative, zero, huge
(10**30, 2**40, 2**63), NaN, inf, strings, nested lists, floats where integers belong,
booleans, arbitrary objects — and classifies every outcome:

clean
    The call returns, with finite output and no NumPy warning; or it raises a
    documented error: an exception class defined by chainrule (``FileFormatError`` and
    its subclasses, ``DivergenceError``, ...), or a ``ValueError``/``TypeError`` raised
    deliberately, that is from chainrule's own code with a one-line message that starts
    with the argument's (or file's) name and a colon; scikit-learn's own parameter and
    input validation (``InvalidParameterError``, ``check_array``'s ``ValueError``) counts
    too for the scikit-learn estimators, whose contract it is, as does the "Solver produced
    non-finite parameter weights" ValueError they raise, in scikit-learn's words, when
    training diverges.
unclean, by kind
    ``raw``: any other exception (a NumPy or Python error escaping, a ``TypeError`` from
    deep inside, a ``MemoryError`` that is not a budget refusal); ``warning``: a NumPy
    ``RuntimeWarning`` (or any warning from NumPy) reached the caller; ``nonfinite``: the
    call returned NaN or inf; ``time``: over 10 s; ``memory``: the resident set grew by
    more than 200 MB, or an allocation past that budget was attempted (the child runs
    under an address-space limit, so the attempt is a ``MemoryError``).

Every case runs in a forked child (the library is imported once, in the parent), under
``RLIMIT_AS`` = its current size + 1 GiB, an alarm at 10 s and a hard kill at 20 s.

    python bench/hostile_api.py                        # every family, one table
    PYTHONPATH=/work/old/src python bench/hostile_api.py   # the release before
    python bench/hostile_api.py --families idx,notes --show 20

``tests/test_hostile_api.py`` drives a fast slice of the same cases with Hypothesis.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # forked children and threaded BLAS do not mix

import argparse  # noqa: E402
import collections  # noqa: E402
import gzip  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402

TIME_LIMIT_S = 10.0
MEMORY_BUDGET = 200 * 2**20
ADDRESS_SLACK = 2**30
KINDS = ("raw", "warning", "nonfinite", "time", "memory")

#: The hostile values every argument is tried with.
VALUES: dict[str, Any] = {
    "None": None, "-1": -1, "0": 0, "1e30": 10**30, "2**40": 2**40, "2**63": 2**63,
    "-1e30": -(10**30), "nan": float("nan"), "inf": float("inf"), "1.5": 1.5, "True": True,
    "'a'": "a", "''": "", "[[1,2],[3]]": [[1, 2], [3]], "[1]": [1], "object()": object(),
}
#: Values that ask for a legitimately long run (epochs=2**40): left out where noted.
LONG = ("1e30", "2**40", "2**63")

#: (family, name, the call); a name may end in " [input N]": N bytes of input (a network
#: built before the fork), which the memory budget allows twice over.
Case = tuple[str, str, Callable[[], Any]]


# -- the API, old or new layout ----------------------------------------------------------------
def _module(*names: str) -> Any:
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(names)


def _data(n: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    return X, rng.normal(size=(n, 2)), (X[:, 0] > 0).astype(np.int64)


# -- families ----------------------------------------------------------------------------------
def network_cases() -> Iterator[Case]:
    """MLP/Network construction: sizes, every keyword."""
    for label, v in VALUES.items():
        yield "network", f"MLP({label})", lambda v=v: cr.MLP(v)
        yield "network", f"MLP([3, {label}, 2])", lambda v=v: cr.MLP([3, v, 2])
        yield "network", f"MLP([{label}, 2])", lambda v=v: cr.MLP([v, 2])
        yield "network", f"Network({label})", lambda v=v: cr.Network(v)
        for kw in ("n_in", "n_out", "activation", "bias", "init", "w", "b"):
            opts = {"n_in": 3, "n_out": 2, kw: v}
            yield "network", f"Dense({kw}={label})", lambda opts=opts: cr.Network(
                [cr.Dense(**opts)])
        for kw in ("hidden", "output", "loss", "dropout", "init", "bias", "dtype", "l2",
                   "seed", "fused", "backend"):
            yield ("network", f"MLP([3, 4, 2], {kw}={label})",
                   lambda kw=kw, v=v: cr.MLP([3, 4, 2], **{kw: v}))
    yield "network", "MLP([3, 10**12, 2])", lambda: cr.MLP([3, 10**12, 2])
    yield "network", "MLP([10**6, 10**6])", lambda: cr.MLP([10**6, 10**6])
    yield ("network", "MLP([3,4,2], loss=cross_entropy).fit",
           lambda: cr.MLP([3, 4, 2], loss="cross_entropy", seed=0).fit(
               _data()[0] * 100, _data()[2], epochs=20))


def fit_cases() -> Iterator[Case]:
    """fit keywords and data, predict and loss inputs."""
    X, Y, _ = _data()

    def net() -> Any:
        return cr.MLP([3, 4, 2], seed=0)

    for label, v in VALUES.items():
        for kw in ("epochs", "batch_size", "optimizer", "shuffle", "validation_data",
                   "validation_split", "callbacks", "sample_weight", "class_weight",
                   "start_epoch"):
            if kw == "epochs" and label in LONG:
                continue  # asks for a long run: not a hostile value
            opts = {"epochs": 2, kw: v}
            yield "fit", f"fit({kw}={label})", lambda opts=opts: net().fit(X, Y, **opts)
        yield "fit", f"fit(X={label})", lambda v=v: net().fit(v, Y, epochs=1)
        yield "fit", f"fit(Y={label})", lambda v=v: net().fit(X, v, epochs=1)
        yield "fit", f"predict({label})", lambda v=v: net().predict(v)
        yield "fit", f"predict(X, batch_size={label})", lambda v=v: net().predict(X, batch_size=v)
        yield "fit", f"loss(X, {label})", lambda v=v: net().loss(X, v)
    extreme = {"1e300": 1e300, "3e38": 3e38, "-1e308": -1e308, "1e-320": 1e-320}
    for label, v in extreme.items():  # finite, but past what float32 holds or squares
        big = X.copy()
        big[0, 0] = v
        yield "fit", f"fit(X[0,0]={label})", lambda big=big: net().fit(big, Y, epochs=2)
        yield "fit", f"fit(Y[0,0]={label})", lambda v=v: net().fit(X, np.where(
            np.arange(Y.size).reshape(Y.shape) == 0, v, Y), epochs=2)
        yield "fit", f"predict(X[0,0]={label})", lambda big=big: net().predict(big)
        yield ("fit", f"fit(sample_weight[0]={label})",
               lambda v=v: net().fit(X, Y, epochs=2, sample_weight=np.r_[v, np.ones(23)]))
    for bs in (10**30, 2**40, 2**31):
        yield "fit", f"fit(batch_size={bs})", lambda bs=bs: net().fit(X, Y, epochs=1,
                                                                       batch_size=bs)


def sklearn_cases() -> Iterator[Case]:
    """scikit-learn estimators: every parameter, hostile labels."""
    sk = _module("chainrule.sklearn")
    X, Y, y = _data()
    params = ("hidden_layer_sizes", "activation", "solver", "alpha", "batch_size",
              "learning_rate_init", "max_iter", "random_state", "tol", "momentum",
              "validation_fraction", "beta_1", "n_iter_no_change", "early_stopping")
    for label, v in VALUES.items():
        for p in params:
            if p == "max_iter" and label in LONG:
                continue
            opts = {"max_iter": 3, p: v}
            yield ("sklearn", f"MLPClassifier({p}={label})",
                   lambda opts=opts: sk.MLPClassifier(**opts).fit(X, y))
            yield ("sklearn", f"MLPRegressor({p}={label})",
                   lambda opts=opts: sk.MLPRegressor(**opts).fit(X, Y))
        yield "sklearn", f"MLPClassifier.fit(y={label})", lambda v=v: sk.MLPClassifier(
            max_iter=3).fit(X, v)
        yield "sklearn", f"MLPRegressor.fit(y={label})", lambda v=v: sk.MLPRegressor(
            max_iter=3).fit(X, v)
        for method in ("predict", "predict_proba", "score"):
            yield "sklearn", f"MLPClassifier.{method}({label})", lambda v=v, m=method: (
                _call(sk.MLPClassifier(max_iter=3).fit(X, y), m, v, y))
        yield "sklearn", f"partial_fit(classes={label})", lambda v=v: (
            sk.MLPClassifier().partial_fit(X, y, classes=v))
    labels = {
        "mixed str/int": np.array(["a", 1] * 12, dtype=object),
        "str/None": np.array(["a", None] * 12, dtype=object),
        "nan labels": np.where(y > 0, 1.0, np.nan),
        "one class": np.zeros(24, dtype=int),
        "huge ints": np.array([10**30, 1] * 12, dtype=object),
    }
    for label, yy in labels.items():
        yield "sklearn", f"MLPClassifier.fit({label})", lambda yy=yy: sk.MLPClassifier(
            max_iter=3).fit(X, yy)
        classes = np.array(list(dict.fromkeys(yy.tolist())), dtype=yy.dtype)
        yield "sklearn", f"partial_fit({label})", lambda yy=yy, c=classes: (
            sk.MLPClassifier().partial_fit(X, yy, classes=c))
    multi = (np.random.default_rng(1).random((24, 3)) > 0.5).astype(int)
    yield ("sklearn", "multi-label predict",
           lambda: sk.MLPClassifier(max_iter=3).fit(X, multi).predict(X))


def _call(est: Any, method: str, X: Any, y: Any) -> Any:
    return est.score(X, y) if method == "score" else getattr(est, method)(X)


def idx_cases(tmp: Path, n_random: int = 120) -> Iterator[Case]:
    """IDX files whose headers declare hostile shapes and types."""
    idx = _module("chainrule.datasets.idx")
    rng = np.random.default_rng(28)
    dims = (0, 1, 7, 2**16, 2**31 - 1, 2**31, 2**32 - 1)
    headers = [(8, (0, 2**32 - 1, 2**32 - 1), 0), (8, (2**32 - 1,) * 3, 0),
               (0x0E, (0, 2**32 - 1), 0), (8, (), 0), (8, (3,), 2), (0xFF, (3,), 3)]
    for _ in range(n_random):
        ndim = int(rng.choice([1, 2, 3, 4, 33]))
        shape = tuple(int(rng.choice(dims)) for _ in range(min(ndim, 5)))
        headers.append((int(rng.choice([8, 9, 0x0B, 0x0E, 0x20])), shape,
                        int(rng.choice([0, 1, 64]))))
    for i, (code, shape, body) in enumerate(headers):
        data = struct.pack(">BBBB", 0, 0, code, len(shape))
        data += b"".join(struct.pack(">I", d) for d in shape) + bytes(body)
        for packed, suffix in ((data, ""), (gzip.compress(data), ".gz")):
            path = tmp / f"h{i}{suffix}"
            path.write_bytes(packed)
            name = f"read_idx({code:#x} {shape} +{body}{suffix})"
            yield "idx", name, lambda path=path: idx.read_idx(path)
        yield ("idx", f"parse_idx({code:#x} {shape} +{body})",
               lambda data=data: idx.parse_idx(data))


def notes_cases(deep: int = 4000) -> Iterator[Case]:
    """explain and graph: deep and wide networks, hostile weight indices."""
    ex = _module("chainrule.notes.explain", "chainrule.explain")
    gr = _module("chainrule.notes.graph", "chainrule.graph")
    x1, y1 = np.ones((1, 1)), np.ones((1, 1))

    def every_layer(n: int) -> Any:
        net = cr.MLP([1] * n + [1], hidden="tanh", seed=0)
        if hasattr(ex, "explain_layers"):
            return [str(e) for e in ex.explain_layers(net, x1, y1)]
        net.gradient(x1, y1)  # the release before: one explain per layer, as its CLI did
        return [str(ex.explain(net, x1, y1, layer=i + 1, j=0, k=0))
                for i in range(len(net.dense_layers))]

    def graph(net: Any, **kw: Any) -> Any:
        g = gr.computation_graph(net, np.ones(net.n_in), np.ones(net.n_out), **kw)
        return g.to_dot(), g.to_svg()

    wide = cr.MLP([5000, 5000, 2], hidden="tanh", seed=0)  # built here, before the fork
    wide_bytes = wide.params.nbytes + wide.grads.nbytes
    yield "notes", f"explain every layer, {deep} x width 1", lambda: every_layer(deep)
    yield "notes", "explain every layer, 300 x width 1", lambda: every_layer(300)
    yield "notes", f"graph {deep} x width 1", lambda: graph(cr.MLP([1] * deep + [1], seed=0))
    yield "notes", f"graph width 5000 [input {wide_bytes}]", lambda: graph(wide)
    yield "notes", f"explain width 5000 [input {wide_bytes}]", lambda: str(ex.explain(
        wide, np.ones(5000), np.ones(2), layer=1, j=5, k=7))
    X, Y, _ = _data()
    for label, v in VALUES.items():
        for kw in ("layer", "j", "k", "sample", "h"):
            opts = {"layer": 1, "j": 0, "k": 0, kw: v}
            yield "notes", f"explain({kw}={label})", lambda opts=opts: str(ex.explain(
                cr.MLP([3, 4, 2], seed=0), X[:2], Y[:2], **opts))
        yield "notes", f"explain(x={label})", lambda v=v: str(ex.explain(
            cr.MLP([3, 4, 2], seed=0), v, Y[:1], layer=1, j=0, k=0))
        yield "notes", f"explain(y={label})", lambda v=v: str(ex.explain(
            cr.MLP([3, 4, 2], seed=0), X[:1], v, layer=1, j=0, k=0))
        yield "notes", f"graph(x={label})", lambda v=v: gr.computation_graph(
            cr.MLP([3, 4, 2], seed=0), v, Y[0]).to_dot()
        for kw in ("layer", "j", "max_units", "sample"):
            opts = {"layer": 1, kw: v} if kw == "j" else {kw: v}
            yield "notes", f"graph({kw}={label})", lambda opts=opts: gr.computation_graph(
                cr.MLP([3, 4, 2], seed=0), X[:2], Y[:2], **opts).to_dot()


def cases(families: list[str], tmp: Path) -> Iterator[Case]:
    makers: dict[str, Callable[[], Iterator[Case]]] = {
        "network": network_cases, "fit": fit_cases, "sklearn": sklearn_cases,
        "idx": lambda: idx_cases(tmp), "notes": notes_cases}
    for family in families:
        yield from makers[family]()


# -- classification ----------------------------------------------------------------------------
#: "name: ...", "X, y: ...", "sizes[1]: ...", "/path/to/file: ...": a name without spaces
#: ("unhashable type: 'list'" and "could not convert string to float: 'a'" are not).
_NAMED = re.compile(r"^[^\s:,]+(, [^\s:,]+)*: \S")


def _innermost(tb: Any) -> str:
    frames = traceback.extract_tb(tb)
    return frames[-1].filename if frames else ""


def classify_exception(exc: BaseException) -> str | None:
    """None when ``exc`` is a documented error (see the module docstring), else a kind."""
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, TimeoutError) and getattr(exc, "campaign_alarm", False):
        return "time"
    message = str(exc)
    one_line = "\n" not in message.strip() and message.strip() != ""
    kind = type(exc)
    where = _innermost(exc.__traceback__)
    if kind.__module__.startswith("chainrule") and one_line:
        return None
    if not isinstance(exc, (ValueError, TypeError)) or not one_line:
        return "raw"
    in_chainrule = f"{os.sep}chainrule{os.sep}" in where
    if in_chainrule and _NAMED.match(message):
        return None
    if message.startswith("Solver produced non-finite parameter weights"):
        return None  # scikit-learn's own wording on divergence, which its users match on
    in_sklearn_checks = (f"{os.sep}sklearn{os.sep}" in where and
                         ("validation" in where or "multiclass" in where
                          or kind.__name__ == "InvalidParameterError"))
    return None if in_sklearn_checks and isinstance(exc, ValueError) else "raw"


def _nonfinite(result: Any) -> bool:
    if isinstance(result, np.ndarray) and result.dtype.kind == "f":
        return not bool(np.isfinite(result).all())
    history = getattr(result, "history", None)
    if isinstance(history, dict):
        return any(isinstance(v, float) and not np.isfinite(v)
                   for values in history.values() for v in values)
    return False


def _rss(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _input_bytes(name: str) -> int:
    found = re.search(r"\[input (\d+)\]$", name)
    return int(found.group(1)) if found else 0


def _run_in_child(fn: Callable[[], Any], input_bytes: int = 0) -> dict[str, Any]:
    size = _rss("VmSize")
    budget = MEMORY_BUDGET + 2 * input_bytes  # 2 × input + 200 MB
    resource.setrlimit(resource.RLIMIT_AS, (size + ADDRESS_SLACK + 2 * input_bytes,
                                            resource.RLIM_INFINITY))
    try:
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS from here
    except OSError:
        pass
    start_rss = _rss("VmRSS")

    def alarm(*_: Any) -> None:
        err = TimeoutError(f"over {TIME_LIMIT_S:.0f} s")
        err.campaign_alarm = True  # type: ignore[attr-defined]
        raise err

    signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    t0 = time.perf_counter()
    kind, detail = None, ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn()
            kind = "nonfinite" if _nonfinite(result) else None
        except BaseException as exc:  # noqa: BLE001 - every outcome is classified
            kind = classify_exception(exc)
            detail = f"{type(exc).__name__}: {str(exc)[:300]}"
    signal.setitimer(signal.ITIMER_REAL, 0)
    elapsed = time.perf_counter() - t0
    numpy_warnings = [w for w in caught if issubclass(w.category, RuntimeWarning)
                      or "numpy" in (w.filename or "")]
    if kind is None and numpy_warnings:
        w = numpy_warnings[0]
        kind, detail = "warning", f"{w.category.__name__}: {w.message}"
    grown = _rss("VmHWM") - start_rss
    if kind is None and grown > budget:
        kind, detail = "memory", f"resident set grew by {grown / 2**20:.0f} MB"
    if kind is None and elapsed > TIME_LIMIT_S:
        kind, detail = "time", f"{elapsed:.1f} s"
    return {"kind": kind, "detail": detail, "seconds": round(elapsed, 3)}


def run_case(fn: Callable[[], Any], input_bytes: int = 0) -> dict[str, Any]:
    """``fn`` in a forked child; its classification (kind None = clean)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        try:
            out = _run_in_child(fn, input_bytes)
        except BaseException as exc:  # noqa: BLE001
            out = {"kind": "raw", "detail": f"campaign: {exc!r}", "seconds": 0.0}
        os.write(write, json.dumps(out).encode())
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 2 * TIME_LIMIT_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)
        return {"kind": "time", "detail": f"killed after {2 * TIME_LIMIT_S:.0f} s",
                "seconds": 2 * TIME_LIMIT_S}
    with os.fdopen(read, "rb") as f:
        data = f.read()
    if not data:
        return {"kind": "memory" if os.WTERMSIG(status) == signal.SIGKILL else "raw",
                "detail": f"child died (status {status})", "seconds": 0.0}
    return dict(json.loads(data))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--families", default="network,fit,sklearn,idx,notes")
    p.add_argument("--show", type=int, default=10, help="unclean cases to print per family")
    p.add_argument("--json", type=Path, help="write every case's outcome here")
    args = p.parse_args(argv)
    families = args.families.split(",")
    counts: dict[str, collections.Counter[str]] = {f: collections.Counter() for f in families}
    shown: dict[str, int] = collections.Counter()
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for family, name, fn in cases(families, Path(tmp)):
            out = run_case(fn, _input_bytes(name))
            counts[family]["cases"] += 1
            records.append({"family": family, "case": name, **out})
            if out["kind"] is not None:
                counts[family][out["kind"]] += 1
                counts[family]["unclean"] += 1
                if shown[family] < args.show:
                    shown[family] += 1
                    print(f"  [{family}] {name}: {out['kind']}: {out['detail'][:160]}")
    print(f"\nchainrule {getattr(cr, '__version__', '?')} from {Path(cr.__file__).parent}")
    print(f"| family | cases | unclean | {' | '.join(KINDS)} |")
    print("|---|---:|---:|" + "---:|" * len(KINDS))
    total: collections.Counter[str] = collections.Counter()
    for family in families:
        c = counts[family]
        total.update(c)
        print(f"| {family} | {c['cases']} | {c['unclean']} | "
              + " | ".join(str(c[k]) for k in KINDS) + " |")
    print(f"| all | {total['cases']} | {total['unclean']} | "
          + " | ".join(str(total[k]) for k in KINDS) + " |")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    return 1 if total["unclean"] else 0


if __name__ == "__main__":
    sys.exit(main())
