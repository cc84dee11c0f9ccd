"""The kinds of configuration setting, as schemas of :mod:`chainrule.io.schema` (the one
schema library, which also checks the model file's header and the playground's
messages) worded for a configuration, each with :meth:`Setting.typed` giving the checked
value typed. :data:`chainrule.runs.config.CHECKS` says which setting is which.

A setting's value comes as found (a flag, a TOML or JSON file, a mapping); a bad one
raises :class:`~chainrule.io.schema.Invalid` saying what is accepted, e.g. ``expected a
positive integer, got 0`` or ``got 'x' (a string)`` when the type is wrong.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Callable, Iterable
from typing import Any

from ..io.schema import Int, Invalid, KeyPath, Num, Schema

#: The largest integer setting accepted (epochs, batch size, sample count, layer width).
INT_MAX = 2**31 - 1
#: The one word ``lr`` takes besides a number: run the range test, train at its suggestion.
AUTO = "auto"
#: What ``class_weight`` takes: one word (per-class tables are the Python API's).
CLASS_WEIGHTS = ("balanced",)
HIDDEN_FORM = ("comma-separated positive layer widths such as 128,64 (or 'none'), or a "
               "list such as [128, 64]")

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 60, 60, 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = 6


def kind_of(value: Any) -> str:
    """``an integer``, ``a string``, ``a table``…: a value's type in a configuration's words."""
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


def is_number(v: Any) -> bool:
    """A finite int or float (not a bool)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int beyond the float range
        return False


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
        if isinstance(item, int) and not isinstance(item, bool):
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


class Setting(Schema):
    """A setting: a schema whose messages say ``expected <what it accepts>, got <value>``
    (with the value's type when that is what is wrong)."""

    def __init__(self, accepted: str) -> None:
        self.expects = accepted

    def wrong_type(self, value: Any) -> str:
        return f"expected {self.expects}, got {show(value, kind=True)}"

    def refuse(self, path: KeyPath, value: Any, accepted: str | None = None) -> Invalid:
        """The error for a value of the right type that is not accepted."""
        return Invalid(path, f"expected {accepted or self.expects}, got {show(value)}")

    def typed(self, value: Any) -> Any:
        """The checked value as the configuration holds it."""
        return value


class Integer(Setting, Int):
    """An integer (not a boolean) in ``[low, high]``; None too when ``optional``."""

    def __init__(self, low: int, high: int, accepted: str, *, optional: bool = False) -> None:
        Int.__init__(self, low, high)
        Setting.__init__(self, accepted)
        self.optional = optional

    def check(self, value: Any, path: KeyPath = ()) -> None:
        if value is None and self.optional:
            return
        super().check(value, path)

    def out_of_range(self, value: Any) -> str:
        too_low = self.lo is not None and value < self.lo
        what = self.expects if too_low else f"{self.expects} no larger than {self.hi}"
        return f"expected {what}, got {show(value)}"

    def typed(self, value: Any) -> int | None:
        return None if value is None else int(value)


class Number(Setting, Num):
    """A finite int or float (not a boolean) between the bounds; None too when
    ``optional``."""

    def __init__(self, accepted: str, low: float, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False,
                 optional: bool = False) -> None:
        Num.__init__(self, low, high, lo_open=low_open, hi_open=high_open)
        Setting.__init__(self, accepted)
        self.optional = optional

    def check(self, value: Any, path: KeyPath = ()) -> None:
        if value is None and self.optional:
            return
        super().check(value, path)

    def check_value(self, value: Any, path: KeyPath) -> None:
        if not (is_number(value) and self.in_range(float(value))):
            raise self.refuse(path, value)

    def typed(self, value: Any) -> float | None:
        return None if value is None else float(value)


def _is_auto(value: Any, path: KeyPath, expects: str) -> bool:
    """Whether ``value`` is ``"auto"`` (any case); other text is refused, naming what the
    setting ``expects`` besides it; anything else is for the number's own check."""
    if not isinstance(value, str):
        return False
    if value.strip().lower() != AUTO:
        raise Invalid(path, f"expected {expects} or {AUTO!r}, got {show(value, kind=True)}")
    return True


class NumberOrAuto(Number):
    """A number between the bounds, or ``"auto"`` (any case): chosen by the run."""

    def check(self, value: Any, path: KeyPath = ()) -> None:
        if not _is_auto(value, path, self.expects):
            super().check(value, path)

    def typed(self, value: Any) -> float | str | None:  # type: ignore[override]
        return AUTO if isinstance(value, str) else super().typed(value)


class IntegerOrAuto(Integer):
    """An integer in ``[low, high]``, or ``"auto"`` (any case): chosen by the run."""

    def check(self, value: Any, path: KeyPath = ()) -> None:
        if not _is_auto(value, path, self.expects):
            super().check(value, path)

    def typed(self, value: Any) -> int | str:  # type: ignore[override]
        return AUTO if isinstance(value, str) else int(value)


class Name(Setting):
    """One of the names ``table()`` lists when the value is checked (any case); None too
    when ``optional``."""

    def __init__(self, key: str, table: Callable[[], Iterable[str]], *,
                 optional: bool = False) -> None:
        super().__init__("a name")
        self.key, self.table, self.optional = key, table, optional

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) or (value is None and self.optional)

    def wrong_type(self, value: Any) -> str:
        return (f"expected a name, one of {', '.join(self.table())}, got "
                f"{show(value, kind=True)}")

    def check_value(self, value: Any, path: KeyPath) -> None:
        valid = list(self.table())
        if value is not None and value.lower() not in valid:
            raise Invalid(path, f"unknown {self.key} {value!r}; valid names are "
                          f"{', '.join(valid)}")

    def typed(self, value: Any) -> str | None:
        return None if value is None else str(value).lower()


class Text(Setting):
    """A non-empty string (a path, a column name), or None."""

    def accepts(self, value: Any) -> bool:
        return value is None or isinstance(value, str)

    def check_value(self, value: Any, path: KeyPath) -> None:
        if value == "":
            raise self.refuse(path, value)


class Hidden(Setting):
    """The hidden layers' widths: ``"128,64"``, ``"none"`` or a list of widths."""

    def __init__(self) -> None:
        super().__init__(HIDDEN_FORM)

    def check_value(self, value: Any, path: KeyPath) -> None:
        try:
            parse_hidden(value)
        except ValueError as exc:
            raise Invalid(path, str(exc).removeprefix("hidden: ")) from None

    def typed(self, value: Any) -> tuple[int, ...]:
        return tuple(parse_hidden(value))


class ColumnNames(Setting):
    """A list of CSV column names (a single name is a list of one)."""

    def __init__(self) -> None:
        super().__init__("a list of column names")

    def accepts(self, value: Any) -> bool:
        names = [value] if isinstance(value, str) else value
        return isinstance(names, (list, tuple)) and all(isinstance(n, str) and n for n in names)

    def typed(self, value: Any) -> tuple[str, ...]:
        return (value,) if isinstance(value, str) else tuple(value)


class ClassWeight(Setting):
    """None (unweighted) or ``"balanced"`` (any case)."""

    def __init__(self) -> None:
        super().__init__(f"{' or '.join(map(repr, CLASS_WEIGHTS))} (or no key: unweighted)")

    def accepts(self, value: Any) -> bool:
        return value is None or isinstance(value, str)

    def check_value(self, value: Any, path: KeyPath) -> None:
        if value is not None and value.strip().lower() not in CLASS_WEIGHTS:
            raise self.refuse(path, value)

    def typed(self, value: Any) -> str | None:
        return None if value is None else str(value).strip().lower()


class LearningRate(Setting):
    """A positive number, or ``"auto"`` (any case); another word is refused naming both."""

    def __init__(self) -> None:
        super().__init__(f"a positive number or {AUTO!r}")
        self.number = Number("a positive number", 0, low_open=True)

    def check(self, value: Any, path: KeyPath = ()) -> None:
        if not isinstance(value, str):
            self.number.check(value, path)
        elif value.strip().lower() != AUTO:
            raise Invalid(path, self.wrong_type(value))

    def typed(self, value: Any) -> float | str:
        return AUTO if isinstance(value, str) else float(value)


__all__ = [
    "AUTO", "CLASS_WEIGHTS", "HIDDEN_FORM", "INT_MAX", "ClassWeight", "ColumnNames", "Hidden",
    "Integer", "IntegerOrAuto", "LearningRate", "Name", "Number", "NumberOrAuto", "Setting",
    "Text", "is_number", "kind_of",
    "parse_hidden", "show",
]
