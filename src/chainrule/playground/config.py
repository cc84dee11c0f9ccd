"""What a playground page may ask for: defaults, choices and caps, validated in one place.

Every message from the page is untrusted input. :func:`validate_config` merges
a partial config into the current one and raises ``ValueError`` naming the
field, the value it got and what it accepts; the server turns that into an
error message in the page and keeps running.
"""

from __future__ import annotations

import math
from typing import Any

from ..datasets.synthetic import SYNTHETIC
from ..engine.activations import ACTIVATIONS
from ..engine.losses import LOSSES
from ..io.schema import Int, Invalid, KeyPath, List, Num, Schema, Str, where
from ..training.optimizers import OPTIMIZERS

#: Hard caps: a page can't make the server do more than this for one session.
LIMITS: dict[str, Any] = {
    "max_hidden_layers": 8,
    "max_neurons": 8,
    "min_samples": 20,
    "max_samples": 1000,
    "max_steps_per_second": 2000,
    "updates_per_second": 20,
    "max_message_bytes": 16384,
    "max_upload_bytes": 65536,  # a CSV sent by the page (its message may be about twice that)
    "max_abs_coordinate": 1e6,  # |x1|, |x2| of an uploaded point: the plane must stay drawable
    "max_replay_steps": 20000,  # a shared link replays at most this many steps
    "max_replay_changes": 32,  # settings changed during the run that a link can carry
    "max_sessions": 64,
    "grid": 32,  # decision-region resolution: grid × grid output values per update
    "neuron_grid": 16,  # heat-map resolution of every hidden neuron: every 2nd grid point
}

#: Hidden-layer activations offered (softmax couples units: output layer only).
HIDDEN_ACTIVATIONS = [name for name in ACTIVATIONS if name != "softmax"]
#: Output activations for the regression-style losses; the other losses fix their own.
OUTPUT_ACTIVATIONS = ["tanh", "sigmoid", "identity"]
#: Output layer forced by the classification losses (their canonical pairs).
FIXED_OUTPUT = {"binary_cross_entropy": "sigmoid", "cross_entropy": "softmax"}

DEFAULT_CONFIG: dict[str, Any] = {
    "dataset": "circles",
    "noise": 0.1,
    "n_samples": 300,
    "train_ratio": 0.5,
    "seed": 0,
    "draw": 0,
    "hidden": [4, 2],
    "activation": "tanh",
    "output": "tanh",
    "loss": "squared_error",
    "optimizer": "sgd",
    "lr": 0.03,
    "batch_size": 10,
    "l2": 0.0,
    "steps_per_update": 10,
}

#: Changing one of these regenerates the data (and so the network).
DATA_KEYS = ("dataset", "noise", "n_samples", "train_ratio", "seed")
#: Changing one of these builds a new network. Its initial weights come from a generator
#: seeded with (seed, draw): reset draws the next ones, rewind the same ones again.
NETWORK_KEYS = ("hidden", "activation", "output", "loss", "draw")
#: The settings that change the arithmetic of a step (steps_per_update only paces it).
TRAINING_KEYS = ("optimizer", "lr", "batch_size", "l2")
#: The ``dataset`` of a session training on a CSV the page uploaded.
UPLOADED = "uploaded"


def choices() -> dict[str, list[str]]:
    """The names the page's drop-downs offer, straight from the engine's tables."""
    return {
        "dataset": list(SYNTHETIC),
        "activation": HIDDEN_ACTIVATIONS,
        "output": OUTPUT_ACTIVATIONS,
        "loss": list(LOSSES),
        "optimizer": list(OPTIMIZERS),
    }


class _Choice(Str):
    """One of the names a drop-down offers."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(choices=tuple(names))

    def wrong_type(self, value: Any) -> str:
        return f"unknown value {value!r}; valid values are {', '.join(self.choices or ())}"

    def check_value(self, value: Any, path: KeyPath) -> None:
        if value not in (self.choices or ()):
            raise Invalid(path, self.wrong_type(value))


class _Integer(Int):
    """An integer in ``lo..hi``."""

    def wrong_type(self, value: Any) -> str:
        return f"expected an integer, got {value!r}"

    def out_of_range(self, value: Any) -> str:
        return f"expected an integer in {self.lo}..{self.hi}, got {value!r}"


class _Number(Num):
    """A finite number in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``)."""

    def accepts(self, value: Any) -> bool:  # inf and nan are no numbers to the page
        return super().accepts(value) and math.isfinite(value)

    def wrong_type(self, value: Any) -> str:
        return f"expected a number, got {value!r}"

    def out_of_range(self, value: Any) -> str:
        return (f"expected a number in {'(' if self.lo_open else '['}{self.lo:g}, "
                f"{self.hi:g}], got {value!r}")


class _Widths(List):
    """The hidden layers' widths."""

    def wrong_type(self, value: Any) -> str:
        return f"expected a list of layer widths, got {value!r}"

    def wrong_length(self, n: int) -> str:
        return f"at most {self.max_len} hidden layers, got {n}"


def _check(cfg: dict[str, Any], fields: dict[str, Schema]) -> None:
    """Check ``cfg``'s fields in the order given; ``ValueError`` names the first that fails."""
    for key, schema in fields.items():
        try:
            schema.check(cfg[key], (key,))
        except Invalid as exc:
            raise ValueError(f"{where(exc.path)}: {exc.reason}") from None


def validate_config(update: object, current: dict[str, Any] | None = None, *,
                    uploaded_rows: int | None = None) -> dict[str, Any]:
    """``current`` (default :data:`DEFAULT_CONFIG`) with ``update``'s fields checked and applied.

    ``uploaded_rows`` is the size of the CSV the session holds, if any: only then is
    ``dataset`` ``"uploaded"`` accepted, and its ``n_samples`` is that size.

    Raises
    ------
    ValueError
        For an unknown field or a value outside its choices or caps; the
        message names the field, the value and what is accepted.
    """
    if not isinstance(update, dict):
        raise ValueError(f"config: expected an object of settings, got {type(update).__name__}")
    unknown = sorted(set(update) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"config: unknown field {unknown[0]!r}; valid fields are "
                         f"{', '.join(DEFAULT_CONFIG)}")
    cfg = dict(current if current is not None else DEFAULT_CONFIG)
    cfg.update(update)
    opts = choices()
    if uploaded_rows is not None:
        opts["dataset"] = [*opts["dataset"], UPLOADED]
    _check(cfg, {key: _Choice(opts[key]) for key in ("dataset", "activation", "output", "loss",
                                                    "optimizer")})
    if cfg["dataset"] == UPLOADED:
        cfg["n_samples"] = uploaded_rows
    _check(cfg, {
        "noise": _Number(0.0, 1.0),
        "n_samples": _Integer(LIMITS["min_samples"], LIMITS["max_samples"]),
        "train_ratio": _Number(0.1, 0.9),
        "seed": _Integer(0, 2**31 - 1),
        "draw": _Integer(0, 2**31 - 1),
        "hidden": _Widths(_Integer(1, LIMITS["max_neurons"]),
                          max_len=LIMITS["max_hidden_layers"]),
        "lr": _Number(0.0, 10.0, lo_open=True),
    })
    max_steps = LIMITS["max_steps_per_second"] // LIMITS["updates_per_second"]
    _check(cfg, {
        "batch_size": _Integer(1, n_train_of(cfg)),
        "l2": _Number(0.0, 1.0),
        "steps_per_update": _Integer(1, max_steps),
    })
    for key in ("noise", "train_ratio", "lr", "l2"):
        cfg[key] = float(cfg[key])
    cfg["hidden"] = list(cfg["hidden"])
    return cfg


def n_train_of(cfg: dict[str, Any]) -> int:
    """Training-set size for a config: the rest of the samples are the test set."""
    return max(1, min(cfg["n_samples"] - 1, round(cfg["n_samples"] * cfg["train_ratio"])))


def output_activation(cfg: dict[str, Any]) -> str:
    """g^(L): fixed by the classification losses, the page's choice otherwise."""
    return FIXED_OUTPUT.get(cfg["loss"], cfg["output"])
