"""GPU device check (issue 15): chainrule on a GPU against plain PyTorch, in one run.

What it measures: for three pieces of work on MNIST — 784-256-128-10 at batch 128 and at
batch 1024, 784-4096-4096-10 at batch 4096; ReLU, softmax + cross-entropy, Adam lr 1e-3, 5
epochs, the last partial batch kept — the training time (fastest of ``--repeats`` runs) and
the test accuracy of

  * ``chainrule-torch``: ``MLP(..., backend="torch", device="cuda").fit``;
  * ``chainrule-cupy``: the same on ``backend="cupy"``;
  * ``pytorch-eager``: ``nn.Sequential`` + ``torch.optim.Adam``, a hand-written minibatch loop
    over data already on the device, reshuffled every epoch (the baseline of the ratios);
  * ``pytorch-compile``: the same model through ``torch.compile``.

Every contender gets its data on the device, and warms up (CUDA context, cuBLAS, CuPy's
kernel compilation, ``torch.compile``'s compilation of every batch shape) before the clock
starts; the clock is read after ``torch.cuda.synchronize()`` and CuPy's device synchronize.
chainrule uses the same seed on every backend. A contender that cannot run is a row saying
why. Run it on a GPU box with::

    python bench/gpu.py --install                  # pip-installs cupy-cuda12x, array-api-compat
    python bench/gpu.py --data DIR --json out.json # MNIST's IDX files in DIR

``--device cpu`` runs the same table on the CPU (plus NumPy chainrule); with ``--synthetic``
(random data of MNIST's shape), ``--epochs 1 --limit 2000 --repeats 1`` it is a smoke test.
"""

from __future__ import annotations

import argparse
import copy
import functools
import importlib.util
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

WORKS = [  # (name, sizes, batch)
    ("784-256-128-10, batch 128", [784, 256, 128, 10], 128),
    ("784-256-128-10, batch 1024", [784, 256, 128, 10], 1024),
    ("784-4096-4096-10, batch 4096", [784, 4096, 4096, 10], 4096),
]
BASELINE = "pytorch-eager"
Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Result = tuple[float, float]  # (seconds, test accuracy)


class Skip(Exception):
    """A contender that cannot run here; the message is the row's reason."""


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def load_data(args: argparse.Namespace) -> Data:
    """(X, y, X_test, y_test): float32 pixels in [0, 1], int64 labels; ``--limit`` rows."""
    if args.synthetic:
        rng = np.random.default_rng(0)
        n, n_test = args.limit or 60000, min(args.limit or 10000, 10000)
        X = rng.integers(0, 256, size=(n + n_test, 784)).astype(np.float32) / 255
        y = rng.integers(0, 10, size=n + n_test).astype(np.int64)
        return X[:n], y[:n], X[n:], y[n:]
    from chainrule.datasets import load_mnist

    ds = load_mnist(args.data)
    assert ds.X_test is not None and ds.y_test is not None
    cut = slice(None, args.limit)
    return (ds.X[cut] / np.float32(255), ds.y[cut], ds.X_test[cut] / np.float32(255),
            ds.y_test[cut])


def make_sync(device: str) -> Callable[[], None]:
    def sync() -> None:
        if device == "cuda":
            if "torch" in sys.modules:
                sys.modules["torch"].cuda.synchronize()
            if "cupy" in sys.modules:
                sys.modules["cupy"].cuda.Device().synchronize()
    return sync


def chainrule_runner(backend: str, device: str) -> Callable[..., Result]:
    needs = {"torch": ["torch", "array_api_compat"], "cupy": ["cupy", "array_api_compat"]}
    missing = [m for m in needs.get(backend, []) if not installed(m)]
    if missing:
        raise Skip("not installed: " + ", ".join(m.replace("_", "-") for m in missing))
    if backend == "cupy" and device == "cpu":
        raise Skip("CuPy needs a GPU (CPU run)")
    import chainrule as cr
    from chainrule.engine import backend as B

    dev = None if backend in ("numpy", "cupy") else device
    be = B.get_backend(backend, dev)  # BackendError (no device, ...) becomes the row's reason

    def run(data: Data, sizes: list[int], batch: int, epochs: int, seed: int,
            sync: Callable[[], None]) -> Result:
        X, y, Xt, yt = data
        Xd, Xtd = (X if be.is_numpy else be.asarray(X)), (Xt if be.is_numpy else be.asarray(Xt))
        n_warm = min(X.shape[0], batch)  # one step loads every kernel, off the clock
        warm = cr.MLP(sizes, hidden="relu", output="softmax", loss="cross_entropy", seed=seed,
                      backend=backend, device=dev)
        warm.fit(Xd[:n_warm], y[:n_warm], epochs=1, batch_size=batch, optimizer=cr.Adam(1e-3))
        net = cr.MLP(sizes, hidden="relu", output="softmax", loss="cross_entropy", seed=seed,
                     backend=backend, device=dev)
        sync()
        t0 = time.perf_counter()
        net.fit(Xd, y, epochs=epochs, batch_size=batch, optimizer=cr.Adam(1e-3))
        sync()
        seconds = time.perf_counter() - t0
        pred = np.asarray(B.to_host(net.predict_classes(Xtd)))
        return seconds, float(np.mean(pred == yt))

    return run


def torch_runner(device: str, compiled: bool) -> Callable[..., Result]:
    if not installed("torch"):
        raise Skip("not installed: torch")
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise Skip("torch finds no CUDA device")

    def run(data: Data, sizes: list[int], batch: int, epochs: int, seed: int,
            sync: Callable[[], None]) -> Result:
        X, y, Xt, yt = (torch.as_tensor(a, device=device) for a in data)
        torch.manual_seed(seed)
        mods: list[torch.nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            mods.append(torch.nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                mods.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*mods).to(device)
        step_model: Callable[[Any], Any] = model
        loss_fn = torch.nn.CrossEntropyLoss()
        n = X.shape[0]

        def step(opt: torch.optim.Optimizer, idx: Any) -> None:
            opt.zero_grad(set_to_none=True)
            loss_fn(step_model(X[idx]), y[idx]).backward()
            opt.step()

        if compiled:  # compile every batch shape (full and last partial) off the clock
            initial = {k: v.clone() for k, v in model.state_dict().items()}
            try:
                step_model = torch.compile(model)
                shapes = sorted({min(batch, n), n % batch or min(batch, n)})
                scratch = torch.optim.Adam(model.parameters(), lr=1e-3)
                for m in shapes:
                    step(scratch, torch.arange(m, device=device))
                    with torch.no_grad():
                        step_model(Xt[:m])
            except Exception as exc:  # inductor/dynamo errors share no base class
                raise Skip("torch.compile failed: " + first_line(exc)) from None
            model.load_state_dict(initial)
        else:  # warm up cuBLAS and the allocator on a throwaway copy
            spare = copy.deepcopy(model)
            w = torch.optim.Adam(spare.parameters(), lr=1e-3)
            w.zero_grad()
            loss_fn(spare(X[:batch]), y[:batch]).backward()
            w.step()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        sync()
        t0 = time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(n, device=device)
            for start in range(0, n, batch):
                step(opt, order[start:start + batch])
        sync()
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            pred = torch.cat([step_model(Xt[i:i + batch]).argmax(1)
                              for i in range(0, Xt.shape[0], batch)])
        return seconds, float((pred == yt).float().mean())

    return run


def contenders(device: str) -> dict[str, Callable[[], Callable[..., Result]]]:
    numpy_row = ["numpy"] if device == "cpu" else []  # NumPy chainrule: an extra CPU row
    out: dict[str, Callable[[], Callable[..., Result]]] = {
        f"chainrule-{b}": functools.partial(chainrule_runner, b, device)
        for b in ["torch", "cupy", *numpy_row]}
    out["pytorch-eager"] = lambda: torch_runner(device, compiled=False)
    out["pytorch-compile"] = lambda: torch_runner(device, compiled=True)
    return out


def measure(args: argparse.Namespace, data: Data) -> list[dict[str, Any]]:
    sync = make_sync(args.device)
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    for name, make in contenders(args.device).items():
        try:
            runner: Callable[..., Result] | None = make()
            reason = None
        except Exception as exc:  # Skip, BackendError, a broken install: a row, not a crash
            runner, reason = None, str(exc) if isinstance(exc, Skip) else first_line(exc)
        for work, sizes, batch in WORKS:
            row: dict[str, Any] = {"work": work, "contender": name, "seconds": None,
                                   "accuracy": None, "ratio": None, "note": reason}
            if runner is not None:
                try:
                    runs = [runner(data, sizes, batch, args.epochs, seed, sync)
                            for seed in range(args.repeats)]
                    row["seconds"], row["accuracy"] = min(runs)
                    row["times"] = [r[0] for r in runs]
                except Skip as exc:
                    row["note"] = str(exc)
                except Exception as exc:  # out of memory, a backend bug: say so
                    row["note"] = first_line(exc)
            rows.append(row)
            print(f"[{time.perf_counter() - start:6.1f} s] {work:30} {name:16} "
                  f"{row['seconds'] or row['note']}", file=sys.stderr, flush=True)
    base = {r["work"]: r["seconds"] for r in rows if r["contender"] == BASELINE}
    for r in rows:
        if r["seconds"] and base.get(r["work"]):
            r["ratio"] = r["seconds"] / base[r["work"]]
    return rows


def table(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = ["| work | contender | time (s) | test accuracy | time / pytorch-eager |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        if r["seconds"] is None:
            lines.append(f"| {r['work']} | {r['contender']} | — | — | {r['note']} |")
        else:
            ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
            lines.append(f"| {r['work']} | {r['contender']} | {r['seconds']:.3f} | "
                         f"{r['accuracy']:.4f} | {ratio} |")
    lines += ["", f"Time: fastest of {meta['repeats']} run(s) of {meta['epochs']} epoch(s) on "
              f"{meta['n_train']} samples; warm-up and compilation are outside the clock, which "
              "is read after a device synchronize. Accuracy: of that run, on "
              f"{meta['n_test']} test samples{' (synthetic data)' if meta['synthetic'] else ''}.",
              f"Device: {meta['device_name']}; {meta['versions']}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--install", action="store_true",
                    help="pip-install cupy-cuda12x and array-api-compat first")
    ap.add_argument("--data", help="folder of MNIST's IDX files (default: chainrule's loader)")
    ap.add_argument("--synthetic", action="store_true", help="random data of MNIST's shape")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--limit", type=int, help="train (and test) on the first N samples")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="also write the rows as JSON to this path")
    args = ap.parse_args(argv)
    if args.install:
        cmd = [sys.executable, "-m", "pip", "install", "-q", "cupy-cuda12x", "array-api-compat"]
        if subprocess.run(cmd).returncode != 0:
            print("warning: pip install failed; missing packages become rows", file=sys.stderr)
        importlib.invalidate_caches()
    device_name = platform.processor() or platform.machine()
    if args.device == "cuda":
        torch_cuda = installed("torch") and __import__("torch").cuda.is_available()
        if not torch_cuda:
            print("error: --device cuda, but no CUDA device is available (torch.cuda."
                  "is_available() is False); run on a GPU machine or use --device cpu",
                  file=sys.stderr)
            return 1
        device_name = __import__("torch").cuda.get_device_name(0)
    try:
        data = load_data(args)
    except (OSError, ValueError) as exc:  # MNISTError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 1
    versions = ", ".join(f"{m} {__import__(m).__version__}" for m in
                         ("numpy", "torch", "cupy", "chainrule") if installed(m))
    meta = {"device": args.device, "device_name": device_name, "versions": versions,
            "epochs": args.epochs, "repeats": args.repeats, "n_train": int(data[0].shape[0]),
            "n_test": int(data[2].shape[0]), "synthetic": args.synthetic,
            "python": platform.python_version()}
    rows = measure(args, data)
    print(table(rows, meta))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
