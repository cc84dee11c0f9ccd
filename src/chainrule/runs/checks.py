"""Checks of one configuration value: each takes the value as found (a flag, a TOML or
JSON file, a mapping) and returns it typed, or raises :class:`Invalid` saying what is
accepted. :mod:`chainrule.runs.config` declares which check each setting gets.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Callable, Iterable
from typing import Any

#: The largest integer setting accepted (epochs, batch size, sample count, layer width).
INT_MAX = 2**31 - 1
#: The one word ``lr`` takes besides a number: run the range test, train at its suggestion.
AUTO = "auto"
#: What ``class_weight`` takes: one word (per-class tables are the Python API's).
CLASS_WEIGHTS = ("balanced",)


class Invalid(Exception):
    """A value is not acceptable: ``accepted`` says what is; ``show_kind`` adds its type."""

    def __init__(self, accepted: str, *, show_kind: bool = False, message: str | None = None
                 ) -> None:
        super().__init__(accepted)
        self.accepted, self.show_kind, self.message = accepted, show_kind, message


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 60, 60, 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = 6


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    kinds = [(bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
             (list, "a list"), (tuple, "a list"), (dict, "a table")]
    for t, name in kinds:
        if isinstance(value, t):
            return name
    return f"a {type(value).__name__}"


def show(value: Any, *, kind: bool = False) -> str:
    """A short, safe rendering of a configuration value (deep or huge values cut)."""
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError):  # an int too long for str(), a pathological value
        text = f"<{kind_of(value)}>"
    return f"{text} ({kind_of(value)})" if kind else text


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    """A finite int or float (not a bool)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int beyond the float range
        return False


def integer(low: int, high: int, what: str) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if not is_int(v):
            raise Invalid(what, show_kind=True)
        if not low <= v <= high:
            raise Invalid(what if v < low else f"{what} no larger than {high}")
        return int(v)
    return check


def number(test: Callable[[float], bool], what: str) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise Invalid(what, show_kind=True)
        if not (is_number(v) and test(float(v))):
            raise Invalid(what)
        return float(v)
    return check


def name(key: str, table: Callable[[], Iterable[str]], *, optional: bool = False
         ) -> Callable[[Any], str | None]:
    """One of the names ``table()`` lists when the value is checked (any case)."""

    def check(v: Any) -> str | None:
        valid = list(table())
        if v is None and optional:
            return None
        if not isinstance(v, str):
            raise Invalid(f"a name, one of {', '.join(valid)}", show_kind=True)
        if v.lower() not in valid:
            raise Invalid("", message=f"unknown {key} {v!r}; valid names are "
                           f"{', '.join(valid)}")
        return v.lower()
    return check


def text(what: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if v is None:
            return None
        if not isinstance(v, str) or not v:
            raise Invalid(what, show_kind=not isinstance(v, str))
        return v
    return check


HIDDEN_FORM = ("comma-separated positive layer widths such as 128,64 (or 'none'), or a "
                "list such as [128, 64]")


def parse_hidden(text: str | list[int] | tuple[int, ...]) -> list[int]:
    """``"256,128"`` → [256, 128]; ``"none"`` → [] (no hidden layer); a list of widths
    as it is. Anything else is a ValueError naming what was found and what is accepted."""
    if isinstance(text, (list, tuple)):
        items: list[Any] = list(text)
    elif isinstance(text, str):
        if text.strip().lower() in ("", "none"):
            return []
        items = [t.strip() for t in text.split(",")]
    else:
        raise ValueError(f"hidden: expected {HIDDEN_FORM}, got {show(text, kind=True)}")
    sizes: list[int] = []
    for item in items:
        if is_int(item):
            sizes.append(item)
        elif isinstance(item, str) and re.fullmatch(r"\+?\d{1,12}", item):
            sizes.append(int(item))
        else:
            sizes = []
            break
    if len(sizes) != len(items) or any(not 1 <= s <= INT_MAX for s in sizes):
        shown = repr(text) if isinstance(text, str) else show(text)
        raise ValueError(f"hidden: expected {HIDDEN_FORM}, got {shown}")
    return sizes


def hidden(v: Any) -> tuple[int, ...]:
    try:
        return tuple(parse_hidden(v))
    except ValueError as exc:
        raise Invalid("", message=str(exc).removeprefix("hidden: ")) from None


def column_names(v: Any) -> tuple[str, ...]:
    """A list of CSV column names (a single name is a list of one)."""
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not all(isinstance(n, str) and n for n in v):
        raise Invalid("a list of column names", show_kind=True)
    return tuple(v)


def class_weight(v: Any) -> str | None:
    """None (unweighted) or ``"balanced"`` (any case)."""
    if v is None:
        return None
    if not isinstance(v, str) or v.strip().lower() not in CLASS_WEIGHTS:
        raise Invalid(f"{' or '.join(map(repr, CLASS_WEIGHTS))} (or no key: unweighted)",
                       show_kind=not isinstance(v, str))
    return v.strip().lower()


positive = number(lambda v: v > 0, "a positive number")


def learning_rate(v: Any) -> float | str:
    """A positive number, or ``"auto"`` (any case); another word is refused naming both."""
    if isinstance(v, str):
        if v.strip().lower() == AUTO:
            return AUTO
        raise Invalid(f"a positive number or {AUTO!r}", show_kind=True)
    return positive(v)

