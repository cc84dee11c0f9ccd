"""Scalar forms of the activations' g, g′ and the losses' per-output terms, derived from
the NumPy methods themselves (one definition of the math, compiled twice).

:class:`~chainrule.activations.Activation` and :class:`~chainrule.losses.Loss` write their
math as whole-array NumPy expressions. For an elementwise rule most of such an expression
already is a scalar expression (``1.0 - a * a``, ``np.tanh(z)``, ``0.5 * z * (1.0 +
np.tanh(u))``); the rest is a short list of array idioms with an obvious scalar meaning.
:func:`scalar_source` parses a method's source and rewrites exactly those idioms:

================================================  ==========================================
array idiom                                       scalar form
================================================  ==========================================
``np.where(c, x, y)``                             ``x if c else y``
``x.astype(...)``, ``x.copy()``                   ``x``
``np.ones_like(x)`` / ``np.zeros_like(x)``        ``1.0`` / ``0.0``
``np.clip(x, lo, hi)``                            ``np.minimum(np.maximum(x, lo), hi)``
``np.finfo(x.dtype).tiny`` / ``.eps``             the constant of the network's dtype
``x.shape[1]``                                    ``n_out`` (the output layer's width)
``self.<number>``                                 ``p[i]`` (the layer's parameters, at run time)
``NAME`` (a module-level number)                  its value
``INSTANCE.g(z)`` (a module-level activation)     the scalar form of that activation's ``g``
``np.einsum("ij,ij->i", x, y)``, ``x.sum(axis=1)``  the per-output term ``x * y`` / ``x``;
                                                  the kernel sums it over the outputs
================================================  ==========================================

Anything else stays as written, and numba either compiles it on scalars (``np.exp``,
``np.abs``, ``np.maximum``, ``z**3`` …) or refuses it, and then the network trains on the
NumPy path. A row reduction is accepted only where the sum over outputs is linear in it
(negated, scaled by a constant, added to another reduction), so summing the per-output
terms gives the same C_i. Every returned value is converted to float64: the compiled
step does its elementwise math in float64 and rounds when it stores.

The methods are written for any Array API namespace (:mod:`chainrule.backend`): ``xp =
namespace_of(z)`` then ``xp.tanh(z)``. :class:`_NumpySpelling` first reads that spelling as
NumPy's (``xp.f`` and ``namespace_of(x).f`` as ``np.f``; ``astype(x, dt)``, ``copy(x)``,
``xp.sum(x, axis=1)``, ``_row_sums_of_products(x, y)``, ``finfo(..).smallest_normal`` and
``xp.full_like(x, v)`` as the idioms above), so the rules above are the whole story.

The tests (tests/test_compiled.py) check every derived form against the array method it
came from, in float32 and float64.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class NotDerivable(ValueError):
    """The method uses an idiom with no scalar form here; the NumPy path is used instead."""


@dataclass
class Derived:
    """Source of one scalar function and what it needs."""

    name: str
    source: str
    params: list[str] = field(default_factory=list)  # self.<attr> names, in p order
    calls: list[tuple[str, Any]] = field(default_factory=list)  # (method, instance) used


_LINEAR_WRAPPERS = (ast.UnaryOp, ast.BinOp)


def _np(node: ast.AST, attr: str) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == attr
            and isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy"))


class _Rewrite(ast.NodeTransformer):
    def __init__(self, fn: Callable[..., Any], owner: Any, args: list[str], dtype: np.dtype,
                 params: list[str], name_of: Callable[[Any, str], str]) -> None:
        self.globals = fn.__globals__
        self.owner, self.args, self.dtype = owner, set(args), dtype
        self.params = params
        self.name_of = name_of
        self.locals: set[str] = set()
        self.calls: list[tuple[str, Any]] = []
        self.reductions = 0

    # self.<attr> and module-level names
    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if isinstance(node.value, ast.Name) and node.value.id == "self":
            value = getattr(self.owner, node.attr, None)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise NotDerivable(f"self.{node.attr} is not a number")
            if node.attr not in self.params:
                self.params.append(node.attr)
            return ast.Subscript(value=ast.Name("p", ast.Load()),
                                 slice=ast.Constant(self.params.index(node.attr)),
                                 ctx=ast.Load())
        if (node.attr in ("tiny", "eps") and isinstance(node.value, ast.Call)
                and _np(node.value.func, "finfo")):
            return ast.Constant(float(getattr(np.finfo(self.dtype), node.attr)))
        return self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if (isinstance(node.value, ast.Attribute) and node.value.attr == "shape"
                and isinstance(node.slice, ast.Constant) and node.slice.value == 1):
            return ast.Name("n_out", ast.Load())
        raise NotDerivable("indexing has no scalar form")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if not isinstance(node.ctx, ast.Load) or node.id in self.args | self.locals:
            return node
        if node.id in ("np", "numpy", "p", "n_out"):
            return node
        value = self.globals.get(node.id)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return ast.Constant(float(value))
        raise NotDerivable(f"name {node.id!r} has no scalar form")

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        node.value = self.visit(node.value)
        for target in node.targets:
            if not isinstance(target, ast.Name):
                raise NotDerivable("only plain names can be assigned")
            self.locals.add(target.id)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in ("astype", "copy") and not _np(f, f.attr):
            return self.visit(f.value)
        if _np(f, "where") and len(node.args) == 3:
            c, x, y = (self.visit(a) for a in node.args)
            return ast.IfExp(test=c, body=x, orelse=y)
        if _np(f, "ones_like"):
            return ast.Constant(1.0)
        if _np(f, "zeros_like"):
            return ast.Constant(0.0)
        if _np(f, "clip") and len(node.args) == 3:
            x, lo, hi = (self.visit(a) for a in node.args)
            inner = ast.Call(ast.Attribute(ast.Name("np", ast.Load()), "maximum", ast.Load()),
                             [x, lo], [])
            return ast.Call(ast.Attribute(ast.Name("np", ast.Load()), "minimum", ast.Load()),
                            [inner, hi], [])
        if _np(f, "einsum"):
            if (len(node.args) == 3 and isinstance(node.args[0], ast.Constant)
                    and node.args[0].value == "ij,ij->i"):
                self.reductions += 1
                x, y = self.visit(node.args[1]), self.visit(node.args[2])
                return _Reduced(ast.BinOp(x, ast.Mult(), y))
            raise NotDerivable("einsum other than 'ij,ij->i'")
        if isinstance(f, ast.Attribute) and f.attr == "sum" and not _np(f, "sum"):
            if (not node.args and len(node.keywords) == 1 and node.keywords[0].arg == "axis"
                    and isinstance(node.keywords[0].value, ast.Constant)
                    and node.keywords[0].value.value == 1):
                self.reductions += 1
                return _Reduced(self.visit(f.value))
            raise NotDerivable("a reduction other than the sum over outputs")
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            target = self.globals.get(f.value.id)
            if target is not None and hasattr(target, "g_prime") and f.attr in ("g", "g_prime"):
                self.calls.append((f.attr, target))
                args = [self.visit(a) for a in node.args]
                return ast.Call(ast.Name(self.name_of(target, f.attr), ast.Load()),
                                [*args, ast.Name("p", ast.Load())], [])
        if not (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                and f.value.id in ("np", "numpy")) or node.keywords:
            raise NotDerivable(f"call {ast.unparse(node)!r} has no scalar form")
        node.args = [self.visit(a) for a in node.args]
        return node


def _np_attr(attr: str) -> ast.Attribute:
    return ast.Attribute(ast.Name("np", ast.Load()), attr, ast.Load())


class _NumpySpelling(ast.NodeTransformer):
    """The namespace-generic spelling of the methods, read as the NumPy one."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.Name("np", node.ctx) if node.id == "xp" else node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        v = node.value
        if (isinstance(v, ast.Call) and isinstance(v.func, ast.Name)
                and v.func.id == "namespace_of"):
            return _np_attr(node.attr)  # namespace_of(x).f → np.f
        if node.attr == "smallest_normal":
            node.attr = "tiny"
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        f, args = node.func, node.args
        if isinstance(f, ast.Name) and f.id in ("astype", "copy") and args:
            return ast.Call(ast.Attribute(args[0], f.id, ast.Load()), args[1:], [])
        if isinstance(f, ast.Name) and f.id == "_row_sums_of_products" and len(args) == 2:
            return ast.Call(_np_attr("einsum"), [ast.Constant("ij,ij->i"), *args], [])
        if _np(f, "sum") and len(args) == 1:  # np.sum(x, axis=1) → x.sum(axis=1)
            return ast.Call(ast.Attribute(args[0], "sum", ast.Load()), [], node.keywords)
        if _np(f, "full_like") and len(args) == 2:
            return args[1]
        return node


class _Reduced(ast.expr):
    """Marks a row reduction replaced by its per-output term (checked, then unwrapped)."""

    _fields = ("term",)

    def __init__(self, term: ast.expr) -> None:
        super().__init__()
        self.term = term


def _unwrap_linear(node: ast.AST, reduced_ok: bool) -> ast.AST:
    """Remove _Reduced markers, refusing any that sit where the sum is not linear."""
    if isinstance(node, _Reduced):
        if not reduced_ok:
            raise NotDerivable("a row sum inside a nonlinear expression")
        return _unwrap_linear(node.term, False)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node.operand = _unwrap_linear(node.operand, reduced_ok)  # type: ignore[assignment]
        return node
    if isinstance(node, ast.BinOp) and reduced_ok:
        if isinstance(node.op, (ast.Add, ast.Sub)):
            left_r, right_r = _has_reduced(node.left), _has_reduced(node.right)
            if left_r != right_r:
                raise NotDerivable("a row sum added to a per-output value")
            node.left = _unwrap_linear(node.left, True)  # type: ignore[assignment]
            node.right = _unwrap_linear(node.right, True)  # type: ignore[assignment]
            return node
        if isinstance(node.op, (ast.Mult, ast.Div)):
            left_r, right_r = _has_reduced(node.left), _has_reduced(node.right)
            if left_r and right_r or (right_r and isinstance(node.op, ast.Div)):
                raise NotDerivable("a product or quotient of row sums")
            node.left = _unwrap_linear(node.left, True)  # type: ignore[assignment]
            node.right = _unwrap_linear(node.right, True)  # type: ignore[assignment]
            return node
    for name, value in ast.iter_fields(node):
        if isinstance(value, ast.AST):
            setattr(node, name, _unwrap_linear(value, False))
        elif isinstance(value, list):
            setattr(node, name, [_unwrap_linear(v, False) if isinstance(v, ast.AST) else v
                                 for v in value])
    return node


def _has_reduced(node: ast.AST) -> bool:
    return any(isinstance(n, _Reduced) for n in ast.walk(node))


def _is_namespace_lookup(stmt: ast.stmt) -> bool:
    """``xp = namespace_of(z)``: no scalar meaning (np is the namespace here)."""
    return (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "namespace_of")


def scalar_source(fn: Callable[..., Any], owner: Any, name: str, args: list[str],
                  dtype: np.dtype, *, reduction: bool = False,
                  params: list[str] | None = None,
                  name_of: Callable[[Any, str], str] = lambda o, m: "") -> Derived:
    """The scalar form of method ``fn`` (of ``owner``) as the source of ``def name(*args, p,
    n_out)``; ``reduction``: the method returns a row sum (a loss value), and the result is
    its per-output term. ``params`` (shared by the methods of one class) collects the
    ``self.<attr>`` numbers in the order of ``p``.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError) as exc:
        raise NotDerivable(f"no source for {fn!r}") from exc
    func = tree.body[0]
    if not isinstance(func, ast.FunctionDef):
        raise NotDerivable(f"{fn!r} is not a plain function")
    params = [] if params is None else params
    rw = _Rewrite(fn, owner, args, dtype, params, name_of)
    body = [_NumpySpelling().visit(s) for s in func.body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
            and not _is_namespace_lookup(s)]
    new_body: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            new_body.append(rw.visit_Assign(stmt))  # type: ignore[arg-type]
        elif isinstance(stmt, ast.Return) and stmt.value is not None:
            value = rw.visit(stmt.value)
            if reduction and not _has_reduced(value):
                raise NotDerivable("a loss value without the sum over outputs")
            value = _unwrap_linear(value, reduction)
            stmt.value = ast.Call(ast.Attribute(ast.Name("np", ast.Load()), "float64",
                                                ast.Load()), [value], [])  # type: ignore[list-item]
            new_body.append(stmt)
        else:
            raise NotDerivable(f"statement {ast.unparse(stmt)!r} has no scalar form")
    for stmt in new_body:  # row sums may not hide in locals
        if isinstance(stmt, ast.Assign) and _has_reduced(stmt.value):
            raise NotDerivable("a row sum assigned to a local")
    if not new_body or not isinstance(new_body[-1], ast.Return):
        raise NotDerivable("the method must end in a return")
    sig = ", ".join([*args, "p", "n_out"])
    text = "\n".join(f"    {ast.unparse(s)}" for s in new_body)
    return Derived(name, f"def {name}({sig}):\n{text}\n", params, rw.calls)
