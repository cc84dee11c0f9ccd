"""Cost of the health monitor at the CLI's default (a check every 50 steps) on MNIST.

Every run is a fresh process; the two contenders (with and without the monitor) are
interleaved, their order flipped each round, and the fastest of the runs compared (on a
shared machine noise only adds time). Prints a markdown table and the ratio.

    python bench/monitor_overhead.py [--repeats 5] [--epochs 2] [--every 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, os, sys, time
import numpy as np
import chainrule as cr
from chainrule import datasets
from chainrule.health import HealthMonitor
every, epochs, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ds = datasets.load("mnist")
net = cr.MLP([784, 256, 128, 10], hidden="relu", output="softmax", loss="cross_entropy",
             seed=seed)
net.scaler = ds.fit_scaler(ds.X)
callbacks = [HealthMonitor(every=every)] if every else []
start = time.perf_counter()
net.fit(ds.X, ds.y, epochs=epochs, batch_size=128, optimizer=cr.Adam(1e-3),
        callbacks=callbacks)
seconds = time.perf_counter() - start
acc = float(np.mean(net.predict_classes(ds.X_test) == ds.y_test))
print(json.dumps({"seconds": seconds, "accuracy": acc}))
"""


def run(every: int, epochs: int, seed: int) -> dict[str, float]:
    env = dict(os.environ)
    env.setdefault("CHAINRULE_DATA_DIR", str(REPO.parent / "shared" / "data" / "mnist"))
    out = subprocess.run([sys.executable, "-c", WORKER, str(every), str(epochs), str(seed)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--every", type=int, default=50)
    args = p.parse_args()
    times: dict[str, list[float]] = {"without": [], "with": []}
    for r in range(args.repeats):
        order = [("without", 0), ("with", args.every)]
        for name, every in order if r % 2 == 0 else order[::-1]:
            result = run(every, args.epochs, seed=r)
            times[name].append(result["seconds"])
            print(f"round {r + 1}: {name:7s} {result['seconds']:.3f} s  "
                  f"acc {result['accuracy']:.4f}", flush=True)
    best = {k: min(v) for k, v in times.items()}
    print()
    print(f"| MNIST 784-256-128-10, Adam, batch 128, {args.epochs} epochs | fastest of "
          f"{args.repeats} | median |")
    print("|---|---|---|")
    for k in ("without", "with"):
        med = sorted(times[k])[len(times[k]) // 2]
        print(f"| {k} monitor (every {args.every} steps) | {best[k]:.3f} s | {med:.3f} s |")
    print(f"\noverhead (fastest vs fastest): {best['with'] / best['without'] - 1:+.1%}")


if __name__ == "__main__":
    main()
