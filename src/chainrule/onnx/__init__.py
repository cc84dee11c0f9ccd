"""ONNX export: a trained network (with its table encoder) as one ONNX graph.

Needs the ``onnx`` extra; ``import chainrule`` never loads it.
"""

from .convert import OPSET, Graph, export, run, to_onnx

__all__ = ["OPSET", "Graph", "export", "run", "to_onnx"]
