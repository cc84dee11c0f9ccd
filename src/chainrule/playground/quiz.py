"""Quiz mode: the playground asks :mod:`chainrule.exercises`' questions and grades the
answers with :meth:`Exercise.check` on the server — the page only shows the text.

Exercises are regenerated from (kind, seed) for every message (the same seed always
gives the same exercise), so the server keeps no quiz state per connection.
"""

from __future__ import annotations

import math
from typing import Any

from ..notes.exercises import KINDS, Exercise, generate

MAX_SEED = 2**31 - 1


def _exercise(kind: object, seed: object) -> Exercise:
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed: expected an integer in 0..{MAX_SEED}, got {seed!r}")
    return generate(kind, seed)


def question(kind: object, seed: object) -> dict[str, Any]:
    """The exercise's network and sample, the question and how many hints it has."""
    e = _exercise(kind, seed)
    return {"type": "quiz", "kind": e.kind, "seed": e.seed, "network": e.describe(),
            "prompt": e.prompt(), "n_hints": len(e.hints), "kinds": list(KINDS)}


def answer(kind: object, seed: object, value: object) -> dict[str, Any]:
    """The verdict on ``value``: exact / close / wrong, by how much, the missing factor."""
    e = _exercise(kind, seed)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"answer: expected a finite number, got {value!r}")
    v = e.check(float(value))
    return {"type": "quiz_verdict", "kind": e.kind, "seed": e.seed, "grade": v.grade,
            "message": v.message, "factor": v.factor, "hint": v.hint}


def hint(kind: object, seed: object, n: object) -> dict[str, Any]:
    """Hint ``n`` (0-based): one chain-rule factor, named and computed."""
    e = _exercise(kind, seed)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < len(e.hints):
        raise ValueError(f"n: expected a hint number in 0..{len(e.hints) - 1}, got {n!r}")
    h = e.hints[n]
    return {"type": "quiz_hint", "kind": e.kind, "seed": e.seed, "n": n,
            "factor": h.factor, "text": h.text}
