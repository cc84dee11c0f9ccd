"""Text from a data file or a model file, on its way out to a spreadsheet or a terminal.

Class labels, target names and column names come from files chainrule did not write, and
chainrule writes them back out: into CSV files a spreadsheet opens, and into the one-line
messages and reports a person reads. Three rules, each in one function here:

- :func:`csv_field`: a text cell that a spreadsheet would run as a formula is escaped.
- :func:`shown` and :func:`quoted`: a label is shown on one line, and not at any length.
- :func:`name_list`: a list of names in a message is cut short.

This module imports nothing of chainrule, so every wing may use it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from numbers import Integral, Real

#: The first characters that make a spreadsheet read a cell as a formula (OWASP, "CSV
#: Injection"): ``=``, ``+``, ``-``, ``@``, tab and carriage return.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def csv_field(value: object) -> str:
    """One CSV field, ready to join with commas: the one place chainrule escapes what it
    writes into a CSV file.

    Numbers (``int``, ``float`` and NumPy's number types, ``bool`` excepted) are written as
    numbers: an integer as ``str``, a float with ``repr`` (the shortest text that reads
    back as the same float, ``nan``, ``inf`` and ``-inf`` included), never escaped — a
    negative number is not a formula. Anything else is text, ``str(value)``. Text that a
    spreadsheet would evaluate as a formula — it starts with ``=``, ``+``, ``-``, ``@``, a
    tab or a carriage return (the OWASP list) — is escaped the way OWASP recommends: a
    single quote ``'`` is put in front, so the spreadsheet shows the text instead of
    running it, and the field is quoted. Text that is a plain decimal number (``-1.5``,
    ``+3``, ``-2e-3``) is a number to a spreadsheet too, and stays as it is. A field
    holding a comma, a double quote, a carriage return or a newline is quoted, its double
    quotes doubled (RFC 4180, as :mod:`csv` writes).

    Examples: ``=HYPERLINK("http://x")`` is written ``"'=HYPERLINK(""http://x"")"``,
    ``-cmd`` as ``"'-cmd"``, the text ``-1.5`` and the float ``-1.5`` as ``-1.5``, ``cat``
    as ``cat``. Reading the file back gives the escaped text, ``'=HYPERLINK(...)``: strip
    one leading ``'`` from a text cell that starts with ``'`` and then a character from
    :data:`FORMULA_PREFIXES` to recover the original.
    """
    if isinstance(value, Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, Real) and not isinstance(value, bool):
        return repr(float(value))
    text = str(value)
    if text.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(text):
        return '"' + ("'" + text).replace('"', '""') + '"'
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_line(values: Iterable[object]) -> str:
    """One CSV row of :func:`csv_field` fields, ending in ``\\n``. A row of one empty field is
    written ``""`` (as :mod:`csv` does), so it does not read back as a blank line."""
    line = ",".join(csv_field(v) for v in values)
    return (line or '""') + "\n"


def shown(value: object, width: int = 32) -> str:
    """``value`` as text on one line, for a table: ``str(value)``, with anything that is not
    printable (a newline, a tab, a control or bidirectional-override character) escaped as
    Python's ``repr`` escapes it (``line\\nbreak``), and cut to ``width`` terminal columns
    with a trailing ``…`` when longer."""
    text = str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for c in text:
        used += display_width(c)
        if used > width - 1:
            break
        out.append(c)
    return "".join(out) + "…"


def quoted(value: object, limit: int = 40) -> str:
    """``repr(value)`` for a one-line message (newlines and other unprintable characters
    escaped); a string longer than ``limit`` characters is cut, saying how long it was:
    ``'aaaa…' (500 characters)``; the repr of anything else is cut at ``limit``."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else (
            f"{value[:limit]!r}… ({len(value)} characters)")
    text = repr(value)
    return text if len(text) <= limit + 2 else text[:limit] + "…"


def name_list(names: Iterable[object], limit: int = 10) -> str:
    """The first ``limit`` of ``names``, each :func:`quoted`, comma separated, then
    ``… and K more`` when there are more: a list in a message stays one short line."""
    items = list(names)
    head = ", ".join(quoted(n) for n in items[:limit])
    rest = len(items) - limit
    return f"{head}, … and {rest} more" if rest > 0 else head


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: two for a wide (East Asian) character, none for a
    combining mark, one for anything else."""
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def pad(text: str, width: int) -> str:
    """``text`` right-aligned in ``width`` terminal columns (see :func:`display_width`)."""
    return " " * max(0, width - display_width(text)) + text


__all__ = ["FORMULA_PREFIXES", "csv_field", "csv_line", "display_width", "name_list", "pad",
           "quoted", "shown"]
