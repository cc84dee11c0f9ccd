"""Text that holds numbers: ``"1,234"``, ``"12%"``, ``"$5.00"`` and ISO dates
(``2024-03-01``, ``2024-03-01 14:30``). Each parser works on a column's vocabulary (its
distinct strings), never cell by cell, so a million rows cost what their distinct values
cost."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

_NUMBER_TEXT = re.compile(r"[-+]?[$€£]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?%?")
_DECORATION = str.maketrans("", "", ",$€£%")


def text_number(cell: str) -> float:
    """``cell`` as a number once thousands separators, currency signs and a percent sign
    are removed (``"12%"`` is 12); NaN when it is not one."""
    s = cell.strip()
    if not s or not _NUMBER_TEXT.fullmatch(s) or not any(ch.isdigit() for ch in s):
        return float("nan")
    return float(s.translate(_DECORATION))


def text_numbers(vocab: Sequence[str]) -> NDArray[np.float64]:
    """:func:`text_number` of every entry."""
    return np.array([text_number(v) for v in vocab], dtype=np.float64)


def numbers_as_text(vocab: Sequence[str]) -> bool:
    """Whether a text column is numbers written with separators, currency or percent: every
    entry parses (and so the column was text only because of the decoration)."""
    return bool(vocab) and not np.isnan(text_numbers(vocab)).any()


_ISO_DATE = re.compile(r"\d{4}[-/]\d{2}[-/]\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")
#: The numeric parts a date column becomes; ``hour`` only where some cell has a time.
DATE_PARTS = ("year", "month", "day", "weekday", "hour")


def _datetimes(vocab: Sequence[str]) -> NDArray[np.datetime64] | None:
    if not vocab or not all(_ISO_DATE.fullmatch(v) for v in vocab):
        return None
    try:
        return np.array([v.replace("/", "-").replace(" ", "T") for v in vocab],
                        dtype="datetime64[s]")
    except ValueError:  # 2024-13-45: the shape of a date, not a date
        return None


def is_dates(vocab: Sequence[str]) -> bool:
    """Whether every entry is an ISO date (``YYYY-MM-DD`` or ``YYYY/MM/DD``, optionally
    with a time)."""
    return _datetimes(vocab) is not None


def has_time(vocab: Sequence[str]) -> bool:
    """Whether some entry has a time of day other than midnight."""
    return any(v[10:].strip(" T0:.") for v in vocab)


def date_parts(vocab: Sequence[str], parts: Sequence[str]) -> NDArray[np.float64]:
    """Array of shape (len(vocab), len(parts)): each entry's year, month, day, weekday
    (Monday 0) and hour (with minutes as a fraction); NaN rows for entries that are not
    dates (a value never seen in training)."""
    out = np.full((len(vocab), len(parts)), np.nan)
    ok = [i for i, v in enumerate(vocab) if _ISO_DATE.fullmatch(v)]
    if not ok:
        return out
    good = [vocab[i] for i in ok]
    try:
        t = np.array([v.replace("/", "-").replace(" ", "T") for v in good],
                     dtype="datetime64[s]")
    except ValueError:
        t = np.array([_one_date(v) for v in good], dtype="datetime64[s]")
    days = t.astype("datetime64[D]")
    months = t.astype("datetime64[M]")
    years = t.astype("datetime64[Y]")
    value = {
        "year": years.astype(np.int64) + 1970.0,
        "month": (months - years).astype(np.int64) + 1.0,
        "day": (days - months).astype(np.int64) + 1.0,
        "weekday": ((days.astype(np.int64) + 3) % 7).astype(np.float64),  # 1970-01-01: Thu
        "hour": (t - days).astype(np.int64) / 3600.0,
    }
    rows = np.array(ok, dtype=np.intp)
    for j, part in enumerate(parts):
        out[rows, j] = value[part]
    bad = np.isnat(t)
    if bad.any():
        out[rows[bad]] = np.nan
    return out


def _one_date(v: str) -> np.datetime64:
    try:
        return np.datetime64(v.replace("/", "-").replace(" ", "T"), "s")
    except ValueError:
        return np.datetime64("NaT")
