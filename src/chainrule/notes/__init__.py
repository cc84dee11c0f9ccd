"""The notes made runnable: explain, graph, gradcheck, the exercises and ``check``."""

from .checker import check

__all__ = ["check"]
