"""The shareable link: a session's whole state as a URL fragment, and back.

A session is determined by its settings at step 0 (data set, noise, seed, sizes,
architecture, activations, loss, optimizer, η, batch size, λ, and ``draw``, which initial
weights for that seed), the settings changed during the run (step, fields) and its step
count: the data and the initial weights come from the seed, so replaying the steps gives
the same weights and the same loss curve. The fragment is a query string —
``dataset=xor&noise=0.0&…&hidden=4,2&step=120`` — with ``changes`` (JSON) only when some
setting changed mid-run. Parsing is strict: an unknown field, a value of the wrong type or a
step over ``LIMITS["max_replay_steps"]`` is a ``ValueError`` naming it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .config import DEFAULT_CONFIG, LIMITS, TRAINING_KEYS

Changes = list[tuple[int, dict[str, Any]]]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def make_link(config: dict[str, Any], step: int, changes: Changes) -> str:
    """The fragment (without ``#``) for settings ``config`` at step 0, then ``changes``."""
    pairs = [(key, _text(config[key])) for key in DEFAULT_CONFIG]
    pairs.append(("step", str(step)))
    if changes:
        pairs.append(("changes", json.dumps([[s, c] for s, c in changes],
                                            separators=(",", ":"))))
    return urlencode(pairs, safe=",")


def _typed(key: str, text: str) -> Any:
    default = DEFAULT_CONFIG[key]
    try:
        if isinstance(default, list):
            return [int(v) for v in text.split(",")] if text.strip() else []
        if isinstance(default, bool) or isinstance(default, str):
            return text
        if isinstance(default, int):
            return int(text)
        return float(text)
    except ValueError:
        kind = "a list of integers" if isinstance(default, list) else type(default).__name__
        raise ValueError(f"link: {key}: expected {kind}, got {text[:40]!r}") from None


def _int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"link: {name}: expected an integer in {lo}..{hi}, got {value!r}")
    return value


def parse_link(text: object) -> tuple[dict[str, Any], int, Changes]:
    """(config at step 0, step count, changes) from a fragment made by :func:`make_link`."""
    if not isinstance(text, str):
        raise ValueError(f"link: expected the text after # in the URL, got {text!r}")
    config: dict[str, Any] = {}
    step = 0
    changes: Changes = []
    for key, value in parse_qsl(text.lstrip("#"), keep_blank_values=True):
        if key == "step":
            step = _int("step", _typed("seed", value), 0, LIMITS["max_replay_steps"])
        elif key == "changes":
            changes = _changes(value)
        elif key in DEFAULT_CONFIG:
            config[key] = _typed(key, value)
        else:
            raise ValueError(f"link: unknown field {key[:40]!r}; valid fields are "
                             f"{', '.join(DEFAULT_CONFIG)}, step, changes")
    last = 1
    for at, _ in changes:
        last = _int("changes: step", at, last, step)
    return config, step, changes


def _changes(text: str) -> Changes:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"link: changes: not valid JSON ({exc.msg})") from None
    cap = LIMITS["max_replay_changes"]
    if not isinstance(raw, list) or len(raw) > cap:
        raise ValueError(f"link: changes: expected a list of at most {cap} [step, settings] "
                         "pairs")
    out: Changes = []
    for i, item in enumerate(raw):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], dict)):
            raise ValueError(f"link: changes[{i}]: expected [step, {{settings}}], got {item!r}")
        unknown = sorted(set(item[1]) - set(TRAINING_KEYS))
        if unknown:
            raise ValueError(f"link: changes[{i}]: {unknown[0]!r} can't change mid-run; "
                             f"only {', '.join(TRAINING_KEYS)} can")
        out.append((item[0], dict(item[1])))
    return out
