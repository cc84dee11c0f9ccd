"""The one error a run raises for the user: :class:`RunError`."""

from __future__ import annotations


class RunError(Exception):
    """A run cannot start or go on, for a reason the user can fix: the message names the
    setting, file or directory at fault and what would be accepted (``chainrule train``
    prints it as one line, exit status 1)."""


__all__ = ["RunError"]
