"""ONNX export: a trained network (with its table encoder) as one ONNX graph.

Needs the ``onnx`` extra (``pip install "chainrule[onnx]"``); ``import chainrule`` never
loads it, and importing ``chainrule.onnx`` without it is one line naming the extra.
"""

from .._extras import missing_extra

try:
    from .convert import OPSET, Graph, export, run, to_onnx
except ImportError as exc:
    _error = missing_extra(exc, "chainrule.onnx")
    if _error is None:
        raise
    raise _error from None

__all__ = ["OPSET", "Graph", "export", "run", "to_onnx"]
