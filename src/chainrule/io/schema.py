"""One small declarative schema library for untrusted JSON-like values.

A schema says what a value must be; :meth:`Schema.check` raises :class:`Invalid` naming
the key path (``config.layers[1].activation``) and the reason. The model file's header,
the run config file and the playground's messages are all checked with these classes,
so every reader of untrusted input refuses it the same way::

    >>> LAYER = Obj(required={"n_out": Int(1), "activation": OneOf(Null(), Str())})
    >>> LAYER.check({"n_out": 0, "activation": None}, ("layers", 1))
    Traceback (most recent call last):
    ...
    chainrule.io.schema.Invalid: expected an integer ≥ 1, got 0
    >>> where(("layers", 1, "n_out"))
    'layers[1].n_out'

The building blocks: :class:`AnyJSON`, :class:`Null`, :class:`Bool`, :class:`Int`,
:class:`Num`, :class:`Str` (scalars, with bounds or choices), :class:`List`, :class:`Obj`
(required, optional and extra keys), :class:`OneOf` (the first alternative whose JSON type
fits decides) and :class:`Tagged` (a tag key picks the object's schema).

Wording: a schema's messages come from its methods ``wrong_type`` (the JSON type does not
fit), ``out_of_range`` (:class:`Int`, :class:`Num`) and ``wrong_length`` (:class:`List`).
The defaults name JSON types and bounds in the notation of the model file's messages; a
reader speaking to another audience subclasses and rewords them
(:mod:`chainrule.playground.config` does).

This module imports nothing from the rest of chainrule, so any wing can use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: Where a value sits: keys and list indices from the root, e.g. ``("config", "layers", 1)``.
KeyPath = tuple[str | int, ...]


class Invalid(Exception):
    """A value that does not fit its schema: where (a key path) and why."""

    def __init__(self, path: KeyPath, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def where(path: KeyPath) -> str:
    """``("config", "layers", 1, "activation")`` → ``config.layers[1].activation``; a root
    with a space in it (``tensor 'layers.1.w'``) is followed by a space, not a dot."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not out:
            out = part
        else:
            out += (" " if " " in str(path[0]) and out == path[0] else ".") + part
    return out


def kind(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def short(value: Any) -> str:
    """A value for a message: its ``repr`` cut to 80 characters, containers by size."""
    if isinstance(value, (list, dict)):
        return f"{'a list' if isinstance(value, list) else 'an object'} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Schema:
    """What a JSON value must be. :meth:`check` raises :class:`Invalid` naming the key path.

    A subclass says which JSON types it takes (:meth:`accepts`) and what else the value
    must satisfy (:meth:`check_value`); ``expects`` names the types in messages.
    """

    expects = "a value"

    def accepts(self, value: Any) -> bool:
        """Whether the value's JSON type fits (:class:`OneOf` chooses by this)."""
        return True

    def check_value(self, value: Any, path: KeyPath) -> None:
        """Check a value whose type fits: bounds, choices, items, keys."""

    def wrong_type(self, value: Any) -> str:
        """The reason given for a value whose JSON type does not fit."""
        return f"expected {self.expects}, got {kind(value)}"

    def check(self, value: Any, path: KeyPath = ()) -> None:
        """Raise :class:`Invalid` (with ``path`` or a path below it) unless ``value`` fits."""
        if not self.accepts(value):
            raise Invalid(path, self.wrong_type(value))
        self.check_value(value, path)


class AnyJSON(Schema):
    """Any value (the JSON parser has already bounded its size)."""

    expects = "any JSON value"


class Null(Schema):
    expects = "null"

    def accepts(self, value: Any) -> bool:
        return value is None


class Bool(Schema):
    expects = "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class Int(Schema):
    """An integer (not a boolean) in ``[lo, hi]``; a bound of None is open-ended."""

    expects = "an integer"

    def __init__(self, lo: int | None = None, hi: int | None = None) -> None:
        self.lo, self.hi = lo, hi

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def out_of_range(self, value: Any) -> str:
        """The reason given for an integer outside the bounds."""
        if self.hi is None:
            span = f"≥ {self.lo}"
        else:
            span = f"in [{self.lo if self.lo is not None else '-∞'}, {self.hi}]"
        return f"expected an integer {span}, got {short(value)}"

    def check_value(self, value: Any, path: KeyPath) -> None:
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise Invalid(path, self.out_of_range(value))


class Num(Schema):
    """A finite number (JSON ``1e400`` parses as inf and is refused here) between ``lo``
    and ``hi``, each bound closed unless ``lo_open`` / ``hi_open``."""

    expects = "a number"

    def __init__(self, lo: float | None = None, hi: float | None = None, *,
                 lo_open: bool = False, hi_open: bool = False) -> None:
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    def in_range(self, value: float) -> bool:
        """Whether ``value`` lies between the bounds."""
        too_low = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        too_high = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        return not (too_low or too_high)

    def out_of_range(self, value: Any) -> str:
        """The reason given for a number outside the bounds."""
        if self.hi is None:
            span = f"{'>' if self.lo_open else '≥'} {self.lo}"
        else:
            span = (f"in {'(' if self.lo_open else '['}{self.lo}, {self.hi}"
                    f"{')' if self.hi_open else ']'}")
        return f"expected a number {span}, got {short(value)}"

    def check_value(self, value: Any, path: KeyPath) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise Invalid(path, f"expected a finite number, got {value}")
        if not self.in_range(value):
            raise Invalid(path, self.out_of_range(value))


class Str(Schema):
    """A string of at most ``max_len`` characters, one of ``choices`` when given."""

    expects = "a string"

    def __init__(self, choices: tuple[str, ...] | None = None, max_len: int = 100_000) -> None:
        self.choices, self.max_len = choices, max_len

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def check_value(self, value: Any, path: KeyPath) -> None:
        if len(value) > self.max_len:
            raise Invalid(path, f"a string of {len(value):,} characters; at most "
                          f"{self.max_len:,} are allowed")
        if self.choices is not None and value not in self.choices:
            listed = ", ".join(self.choices)
            if path and isinstance(path[-1], str):  # "tensor 'x': dtype 'BF16' is not one of …"
                raise Invalid(path[:-1], f"{path[-1]} {short(value)} is not one of {listed}")
            raise Invalid(path, f"{short(value)} is not one of {listed}")


class List(Schema):
    """A list of ``min_len`` to ``max_len`` items (None: no cap), each fitting ``item``."""

    expects = "a list"

    def __init__(self, item: Schema, min_len: int = 0, max_len: int | None = None) -> None:
        self.item, self.min_len, self.max_len = item, min_len, max_len

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list)

    def wrong_length(self, n: int) -> str:
        """The reason given for a list of ``n`` items, too few or too many."""
        if self.max_len == self.min_len:
            span = f"{self.min_len}"
        elif self.max_len is None:
            span = f"at least {self.min_len}"
        else:
            span = f"{self.min_len} to {self.max_len}"
        return f"expected a list of {span} items, got {n}"

    def check_value(self, value: Any, path: KeyPath) -> None:
        n = len(value)
        if n < self.min_len or (self.max_len is not None and n > self.max_len):
            raise Invalid(path, self.wrong_length(n))
        for i, item in enumerate(value):
            self.item.check(item, (*path, i))


class Obj(Schema):
    """An object with ``required`` and ``optional`` keys, checked in the order given;
    other keys must fit ``extra`` (None: refused)."""

    expects = "an object"

    def __init__(self, required: dict[str, Schema] | None = None,
                 optional: dict[str, Schema] | None = None,
                 extra: Schema | None = None) -> None:
        self.required = required or {}
        self.optional = optional or {}
        self.extra = extra

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check_value(self, value: Any, path: KeyPath) -> None:
        for key, needed in self.required.items():
            if key not in value:
                raise Invalid(path, f"missing key {key!r}")
            needed.check(value[key], (*path, key))
        for key, item in value.items():
            if key in self.required:
                continue
            schema: Schema | None = self.optional.get(key, self.extra)
            if schema is None:
                known = ", ".join([*self.required, *self.optional])
                raise Invalid(path, f"unknown key {short(key)} (expected {known})")
            schema.check(item, (*path, key))


class OneOf(Schema):
    """One of the alternatives: the first whose JSON type fits decides."""

    def __init__(self, *alternatives: Schema) -> None:
        self.alternatives = alternatives
        names = [a.expects for a in alternatives]
        self.expects = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]

    def accepts(self, value: Any) -> bool:
        return any(a.accepts(value) for a in self.alternatives)

    def check_value(self, value: Any, path: KeyPath) -> None:
        next(a for a in self.alternatives if a.accepts(value)).check_value(value, path)


class Tagged(Schema):
    """An object whose ``tag`` key (a string) picks its schema among ``variants``."""

    expects = "an object"

    def __init__(self, tag: str, variants: Mapping[str, Schema]) -> None:
        self.tag, self.variants = tag, variants

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check_value(self, value: Any, path: KeyPath) -> None:
        if self.tag not in value:
            raise Invalid(path, f"missing key {self.tag!r}")
        name = value[self.tag]
        Str(choices=tuple(self.variants)).check(name, (*path, self.tag))
        self.variants[name].check_value(value, path)


__all__ = [
    "AnyJSON", "Bool", "Int", "Invalid", "KeyPath", "List", "Null", "Num", "OneOf", "Obj",
    "Schema", "Str", "Tagged", "kind", "short", "where",
]
