"""Warnings that point at the user's line.

``warnings.warn(..., stacklevel=n)`` names the frame ``n`` calls up; a fixed ``n`` is right
for one call path only, and chainrule's warnings are raised at different depths (an
estimator's ``fit`` → the training loop → a callback). :func:`warn` counts the frames
instead: the warning names the first frame outside chainrule — the user's line that
called into the library — as pandas' ``find_stack_level`` does.

This module imports nothing of chainrule, so every wing may use it.
"""

from __future__ import annotations

import os
import sys
import warnings

#: The package's directory: frames whose file is under it are chainrule's own.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _import_machinery(filename: str) -> bool:
    """A frame of importlib's bootstrap: ``warnings.warn`` skips these without counting
    them (its own rule), so a warning raised while a module is imported names the
    ``import`` statement."""
    return "importlib" in filename and "_bootstrap" in filename


def _internal(filename: str) -> bool:
    """A frame of chainrule or of the import machinery."""
    return os.path.abspath(filename).startswith(PACKAGE_DIR) or _import_machinery(filename)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)``, naming the first frame outside chainrule.

    Parameters
    ----------
    message : str
        One line.
    category : Warning subclass
    """
    frame = sys._getframe(1)  # the function calling warn(): stacklevel 2
    level = 2
    while frame.f_back is not None and _internal(frame.f_code.co_filename):
        frame = frame.f_back
        if not _import_machinery(frame.f_code.co_filename):
            level += 1
    warnings.warn(message, category, stacklevel=level)


__all__ = ["PACKAGE_DIR", "warn"]
