"""``python -m chainrule.compiled``: compile the compiled training step now (float32 and
float64) into numba's cache, so that later fits pick it up without waiting."""

from __future__ import annotations

from . import enabled, warm_up

if __name__ == "__main__":
    if not enabled():
        raise SystemExit("chainrule.compiled: numba is not installed or the step is switched "
                         "off (CHAINRULE_NUMBA=0 / CHAINRULE_COMPILED=0)")
    for dtype in ("float32", "float64"):
        print(f"{dtype}: ready in {warm_up(dtype):.1f} s")
