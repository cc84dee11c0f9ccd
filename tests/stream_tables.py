"""The small mixed table the streamed-run tests train on (test_cli_stream, test_stream_resume):
numbers with missing cells and a category, a yes/no target, as Parquet (12 row groups of
100 rows) and CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_stream_table(folder: Path, seed: int, n: int = 1200) -> Path:
    """Write ``folder/t.parquet`` and ``folder/t.csv`` (the same ``n`` rows); return ``folder``."""
    import pandas as pd  # the tests that call this skip without pandas

    rng = np.random.default_rng(seed)
    x, x2 = rng.normal(size=n), rng.normal(size=n)
    x2[rng.random(n) < 0.1] = np.nan
    c = rng.choice(list("abcd"), size=n)
    y = np.where(x + 1.5 * (c == "a") + np.nan_to_num(x2) > 0.5, "yes", "no")
    frame = pd.DataFrame({"x": x, "c": c, "x2": x2, "y": y})
    frame.to_parquet(folder / "t.parquet", row_group_size=100)  # 12 row groups
    frame.to_csv(folder / "t.csv", index=False)
    return folder
