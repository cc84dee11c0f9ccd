"""Reading a TOML or JSON configuration file (``chainrule train --config FILE``, a run's
``config.json``): size capped before reading, nesting capped before parsing, NaN and
duplicate keys refused, unknown keys named. The values are checked by
:class:`~chainrule.runs.config.RunConfig`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ..io.errors import MAX_JSON_DEPTH, FileFormatError, json_nesting, parse_json
from .checks import HIDDEN_FORM, kind_of
from .errors import RunError

#: A configuration file is refused above this size, before it is read.
MAX_CONFIG_BYTES = 1 << 20


class ConfigFileError(RunError, FileFormatError):
    """A configuration file that cannot be read: the one bad-file type
    (:class:`~chainrule.io.errors.FileFormatError`), and still a :class:`RunError`."""


_DEPTH = 50  # brackets deeper than this point at the culprit of a RecursionError


def _deep_key(text: str) -> str | None:
    """Best effort: the top-level key whose value nests brackets deeper than ``_DEPTH``."""
    depth, key = 0, None
    token = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]|'
                       r'^[ \t]*([A-Za-z0-9_-]+)[ \t]*=', re.M)
    for m in token.finditer(text):
        t = m.group(0)
        if m.group(1) is not None:
            if depth == 0:
                key = m.group(1)
        elif t in "[{":
            depth += 1
            if depth > _DEPTH:
                return key
        elif t in "]}":
            depth = max(0, depth - 1)
        elif t.startswith('"') and depth == 1 and text[m.end():].lstrip().startswith(":"):
            key = t[1:-1]  # a JSON key of the top-level object
    return key


def read_config_file(path: str | Path, keys: Collection[str]) -> dict[str, Any]:
    """The settings of a TOML or JSON configuration file, ``-`` in keys read as ``_``.

    Parameters
    ----------
    path : str or Path
        A ``.json`` file is read as JSON, any other as TOML.
    keys : collection of str
        The settings a file may have; another key is a :class:`RunError` naming it.

    Returns
    -------
    dict
        The values as the file has them (checked later, by the configuration).

    Raises
    ------
    ConfigFileError
        The file cannot be read or parsed, or holds something other than a table.
    RunError
        No such file, or an unknown key.
    """
    p = Path(path)
    kind = "JSON" if p.suffix.lower() == ".json" else "TOML"
    if p.is_dir():
        raise ConfigFileError(p, "is a directory; expected a .toml or .json configuration file")
    if not p.is_file():
        raise RunError(f"{p}: no such configuration file")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigFileError(p, f"{p.stat().st_size:,} bytes; a configuration file may have "
                              f"at most {MAX_CONFIG_BYTES:,}")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigFileError(p, "cannot read the configuration file "
                              f"({exc.strerror or type(exc).__name__})") from None
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        text = raw.decode("utf-8")
        if kind == "JSON":  # nesting capped before parsing; NaN and duplicate keys refused
            if json_nesting(raw)[0] > MAX_JSON_DEPTH:
                raise RecursionError  # reported below, naming the key
            data = parse_json(raw, p, error=ConfigFileError, what="the file")
        else:
            data = tomllib.loads(text)
    except ConfigFileError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigFileError(p, f"not valid {kind} ({exc})") from None
    except RecursionError:
        key = _deep_key(raw.decode("utf-8", "replace"))
        what = f"{key}: " if key else ""
        accepted = (f"; expected {HIDDEN_FORM}" if key == "hidden" else
                    "; every setting is a single value (hidden: a list of widths)")
        raise ConfigFileError(p, f"{what}nested too deeply to read (brackets inside brackets "
                              f"inside …){accepted}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(p, f"expected a table of settings, got {kind_of(data)}")
    data = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise RunError(f"{p}: unknown setting(s) {', '.join(unknown)}; valid settings are "
                       f"{', '.join(keys)}")
    return data

