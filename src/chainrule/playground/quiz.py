"""Quiz mode: the playground asks :mod:`chainrule.exercises`' questions and grades the
answers with :meth:`Exercise.check` on the server — the page only shows the text, typeset
(:mod:`.quiz_tex`), and climbs a hint ladder: the chain, the factors' values, the answer.

Exercises are regenerated from (kind, seed) for every message (the same seed always
gives the same exercise), so the server keeps no quiz state per connection.
"""

from __future__ import annotations

import math
from typing import Any

from ..notes.exercises import KINDS, Exercise, generate
from .quiz_tex import KIND_NAMES, RUNGS, ladder, network, segments, subject

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
    given = [[*segments(name), {"text": f" = {value:.6g}"}] for name, value in e.given]
    return {"type": "quiz", "kind": e.kind, "seed": e.seed, "network": e.describe(),
            "prompt": e.prompt(), "n_hints": len(RUNGS), "kinds": list(KINDS),
            "kind_names": KIND_NAMES, "network_tex": network(e), "subject": subject(e),
            "question": segments(e.question), "given": given}


def answer(kind: object, seed: object, value: object) -> dict[str, Any]:
    """The verdict on ``value``: exact / close / wrong, by how much, the missing factor."""
    e = _exercise(kind, seed)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"answer: expected a finite number, got {value!r}")
    v = e.check(float(value))
    return {"type": "quiz_verdict", "kind": e.kind, "seed": e.seed, "grade": v.grade,
            "message": v.message, "factor": v.factor, "hint": v.hint,
            "parts": segments(v.message + (f" — hint: {v.hint}" if v.hint else ""))}


def hint(kind: object, seed: object, n: object) -> dict[str, Any]:
    """Rung ``n`` (0-based) of the hint ladder: the chain, the factors' values, the answer."""
    e = _exercise(kind, seed)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < len(RUNGS):
        raise ValueError(f"n: expected a hint number in 0..{len(RUNGS) - 1}, got {n!r}")
    return {"type": "quiz_hint", "kind": e.kind, "seed": e.seed, "n": n, **ladder(e, n)}
