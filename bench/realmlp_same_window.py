"""chainrule's default against RealMLP-TD in the same window: per fold, chainrule's whole
`train` process, then RealMLP's fit, so both meet the same machine load.

    python bench/realmlp_same_window.py penguins msleep grunfeld [--chainrule-src DIR]

Writes bench/results/realmlp_same_window.json (one record per table, fold and contender).
bench/real_tables.py caches each contender once, so its time ratios can mix sessions
measured at different loads; this script does not.
"""
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
import real_tables as rt  # noqa: E402
from table_bench import catalogue, contenders  # noqa: E402

args = sys.argv[1:]
if "--chainrule-src" in args:
    i = args.index("--chainrule-src")
    contenders.SRC = Path(args[i + 1]).resolve()
    del args[i:i + 2]
out = []
for name in args:
    table = next(t for t in catalogue.TABLES if t.name == name)
    data = catalogue.read(table)
    X, _ = catalogue.features(data)
    for fold in range(5):
        for who in ("chainrule", "realmlp"):
            o = rt.run_one(data, fold, who, [], X)
            out.append({"table": name, "fold": fold, "who": who, "score": o.score,
                        "seconds": o.seconds, "load": os.getloadavg()[0]})
            print(json.dumps(out[-1]), flush=True)
(HERE / "results" / "realmlp_same_window.json").write_text(json.dumps(out, indent=1))
