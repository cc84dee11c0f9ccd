"""One chainrule training run of one bench/compare.py case from one source tree; prints
one JSON line. Run by :mod:`ab_engine`, one fresh process per run::

    python bench/ab_worker.py --tree TREE --harness bench/worker.py --case a --seed 0

``TREE/src`` goes first on ``sys.path`` before anything imports chainrule (an editable
install of the repository is on ``sys.path`` too), and every loaded ``chainrule`` module
is checked to come from ``TREE/src``. Case settings, data and the untimed numba import
come from ``--harness`` (a copy of bench/worker.py, loaded by file path; it imports
chainrule only inside its functions). The timed region is exactly that of
``worker.chainrule_session``: ``net.fit`` alone, no imports, data loading or evaluation.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import resource
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any


def load_harness(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_worker", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the harness {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def chainrule_modules_outside(src: Path) -> list[str]:
    bad = []
    for name, mod in list(sys.modules.items()):
        if name == "chainrule" or name.startswith("chainrule."):
            f = getattr(mod, "__file__", None)
            if f is not None and not Path(f).resolve().is_relative_to(src):
                bad.append(f"{name}: {f}")
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", required=True, help="directory holding the src/ to import")
    ap.add_argument("--harness", required=True, help="path of the bench/worker.py to use")
    ap.add_argument("--case", required=True, choices=["a", "b"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="override (smoke runs only)")
    args = ap.parse_args(argv)

    src = (Path(args.tree) / "src").resolve()
    if "chainrule" in sys.modules:
        raise SystemExit("chainrule was imported before the tree was put on sys.path")
    sys.path.insert(0, str(src))
    harness = load_harness(Path(args.harness))
    if "chainrule" in sys.modules:  # the harness must not import it at module level
        raise SystemExit(f"{args.harness} imported chainrule at import time")

    import numpy as np

    import chainrule as cr

    here = Path(cr.__file__).resolve()
    if not here.is_relative_to(src):
        raise SystemExit(f"imported chainrule from {here}, expected under {src}")

    recipe: dict[str, Any] = dict(harness.CASES[args.case])
    if args.epochs is not None:
        recipe["epochs"] = args.epochs
    t0 = time.perf_counter()
    data = harness.load_mnist() if recipe.get("data", "mnist") == "mnist" else (
        harness.make_random(recipe["sizes"][0], recipe["sizes"][-1]))
    load_s = time.perf_counter() - t0
    recipe["n_train"] = int(data[0].shape[0])
    X, y, Xt, yt = data

    # -- as worker.chainrule_session, plus the final loss and a parameter digest ----------
    try:  # the optional compiled kernel's import, like `import torch`, is not timed
        import chainrule.kernels  # noqa: F401
        kernel = True
    except ImportError:
        kernel = False
    net = cr.MLP(recipe["sizes"], hidden="relu", output="softmax", loss="cross_entropy",
                 seed=args.seed, dtype="float32")
    opt = cr.Adam(harness._lr(cr, recipe))
    t0 = time.perf_counter()
    hist = net.fit(X, y, epochs=recipe["epochs"], batch_size=recipe["batch"], optimizer=opt)
    seconds = time.perf_counter() - t0
    accuracy = float(np.mean(net.predict_classes(Xt) == yt))
    # -------------------------------------------------------------------------------------

    loss = None
    try:
        loss = float(hist["loss"][-1])
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    digest = None
    try:
        h = hashlib.sha256()
        for p in net.parameters():
            h.update(np.ascontiguousarray(p).tobytes())
        digest = h.hexdigest()[:16]
    except (AttributeError, TypeError):
        pass

    bad = chainrule_modules_outside(src)
    if bad:
        raise SystemExit("chainrule modules from outside the tree:\n" + "\n".join(bad))
    print(json.dumps({
        "case": args.case, "seed": args.seed, "seconds": seconds, "accuracy": accuracy,
        "loss": loss, "params_sha256_16": digest, "chainrule_file": str(here),
        "numba_kernel_importable": kernel, "data_load_s": load_s, "recipe": recipe,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threadpools": harness.threadpools(), "pid": os.getpid(),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
