"""Plots with matplotlib's Agg backend (no display needed): training curves, for
two-dimensional data decision regions, and the test split as a practitioner reads it — a
confusion matrix (classification) or predicted-vs-true and residuals (regression). Files
are written atomically.

matplotlib is imported inside the functions, so ``import chainrule`` needs NumPy only;
without it, a plot is one line naming the extra (``pip install "chainrule[cli]"``).
"""

from __future__ import annotations

import functools
import io as _bytes_io
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._extras import pyplot as _extras_pyplot
from ..io.model import atomic_write_bytes
from ..io.safetext import shown

#: A class label or title is cut to this many columns in a plot.
LABEL_WIDTH = 40
#: A confusion matrix with more classes than this shows colours without the counts, and
#: decision regions show them without a legend.
MAX_ANNOTATED_CLASSES = 20
#: Targets drawn in the residual plot (a row each); more are left out, and the title says so.
MAX_RESIDUAL_TARGETS = 4
#: Points drawn per scatter: a larger test split is drawn by a seeded sample of its rows.
MAX_POINTS = 20_000


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (imported here, not with chainrule); without
    matplotlib, a MissingExtraError naming the extra to install."""
    return _extras_pyplot("chainrule's plots")


@functools.lru_cache(maxsize=1)
def _glyphs() -> frozenset[int] | None:
    """Code points matplotlib's default font can draw (None if it cannot be read)."""
    try:
        from matplotlib import font_manager
        from matplotlib.ft2font import FT2Font

        return frozenset(FT2Font(font_manager.findfont(font_manager.FontProperties()))
                         .get_charmap())
    except Exception:  # noqa: BLE001 - no charmap: draw the text as it is
        return None


def label_text(value: object, width: int = LABEL_WIDTH) -> str:
    """``value`` as a plot shows it, literally and without a matplotlib warning: control
    characters and line breaks escaped (:func:`~chainrule.io.safetext.shown`), as are
    characters the font has no glyph for (``\\u732b``, instead of "Glyph … missing from
    font(s)"); ``$`` escaped so no mathtext is parsed (``$\\frac$`` would fail the
    drawing); a leading ``_`` kept visible (a legend hides such labels); cut to ``width``
    columns."""
    text = shown(value, width)
    glyphs = _glyphs()
    if glyphs is not None:
        text = "".join(c if ord(c) in glyphs else
                       (f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
                       for c in text)
    text = text.replace("$", "\\$")
    return " " + text if text.startswith("_") else text


def save_figure(fig: Any, path: str | os.PathLike[str], *, crop: bool = True) -> Path:
    """Write ``fig`` as a PNG, atomically.

    ``crop`` trims the white border to the drawing (``bbox_inches="tight"``), which draws
    the figure twice; a figure laid out by ``tight_layout`` already fills its canvas and
    is written with ``crop=False``, in one drawing.
    """
    buf = _bytes_io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight" if crop else None)
    return atomic_write_bytes(path, buf.getvalue())


def plot_history(history: dict[str, list[float]], path: str | os.PathLike[str],
                 title: str | None = None) -> Path:
    """Loss (and accuracy, when present) per epoch, train and validation, to a PNG.

    Parameters
    ----------
    history : dict of str to list of float
        ``History.history``: ``loss``, optional ``val_loss``, ``accuracy``, ``val_accuracy``.
    path : where to write the PNG
    """
    if not history.get("loss"):
        raise ValueError("history: no 'loss' values to plot (did training run any epoch?)")
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    panels = [("loss", "cost C")] + ([("accuracy", "accuracy")] if "accuracy" in history else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        ax.plot(epochs, history[key], marker="o", ms=3, label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        if key == "loss" and min(history[key]) > 0:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(label_text(title, 80))
    fig.tight_layout()  # the layout is fitted: one drawing, no crop (every run writes this)
    try:
        return save_figure(fig, path, crop=False)
    finally:
        plt.close(fig)


def plot_decision_regions(net: Any, X: NDArray, y: NDArray, path: str | os.PathLike[str],
                          classes: list[Any] | None = None, resolution: int = 200) -> Path:
    """The class the network predicts over the plane, with the training points on top.

    Parameters
    ----------
    net : Network with 2 inputs
    X : ndarray of shape (n_samples, 2), raw features (the network applies its scaler)
    y : ndarray of shape (n_samples,), class indices
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2 or net.n_in != 2:
        raise ValueError(f"X: decision regions need two features, got shape {X.shape}")
    plt = pyplot()
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    zz = net.predict_classes(grid).reshape(gx.shape)
    n_classes = max(int(np.max(y)) + 1, int(zz.max()) + 1, len(classes or []))
    from matplotlib.colors import ListedColormap

    many = n_classes > MAX_ANNOTATED_CLASSES
    if many:  # tab20 has 20 colours: a colour per class from a cyclic map, and no legend
        cmap = ListedColormap(plt.get_cmap("hsv")(np.arange(n_classes) / n_classes))
    else:
        palette = plt.get_cmap("tab10" if n_classes <= 10 else "tab20").colors
        cmap = ListedColormap(palette[: max(n_classes, 2)])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.contourf(gx, gy, zz, levels=np.arange(-0.5, n_classes), cmap=cmap, alpha=0.3)
    title = "decision regions (training points)"
    if many:  # one collection: a legend of dozens of rows would cover the plot
        ax.scatter(X[:, 0], X[:, 1], s=12, color=cmap(np.asarray(y, dtype=np.int64)),
                   edgecolors="k", linewidths=0.3)
        title += f"\n{n_classes} classes: no legend above {MAX_ANNOTATED_CLASSES}"
    else:
        for c in range(n_classes):
            mask = y == c
            label = label_text(classes[c] if classes is not None and c < len(classes) else c)
            ax.scatter(X[mask, 0], X[mask, 1], s=12, color=cmap(c), edgecolors="k",
                       linewidths=0.3, label=label)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    if not many:
        ax.legend(loc="best", fontsize="small")
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def plot_diagnostics(monitor: Any, path: str | os.PathLike[str]) -> Path:
    """``diagnostics.png`` from a :class:`~chainrule.health.HealthMonitor`: per layer, the
    histogram of a^(l) over the steps as a heat map; below, ‖∂C/∂W^(l)‖ (RMS) and the
    update-to-weight ratio ‖Δw‖/‖w‖ per layer over the steps (10⁻³ marked)."""
    plt = pyplot()
    checks = monitor.checks
    if not checks:
        raise ValueError("diagnostics: the monitor recorded no check (train for at least "
                         f"{monitor.every} steps)")
    n_layers = len(checks[0].layers)
    steps = [c.step for c in checks]
    fig = plt.figure(figsize=(3.0 * n_layers + 1, 6.5), dpi=110)
    grid = fig.add_gridspec(2, max(n_layers, 2), height_ratios=[1.2, 1.0])
    edges = monitor.bins
    for i in range(n_layers):
        ax = fig.add_subplot(grid[0, i])
        counts = np.array([c.layers[i].hist for c in checks], dtype=float).T
        counts /= np.maximum(counts.sum(axis=0, keepdims=True), 1)
        last = steps[-1] if steps[-1] > steps[0] else steps[0] + 1  # one check: a strip
        ax.imshow(counts, aspect="auto", origin="lower", cmap="magma",
                  extent=(steps[0], last, edges[0], edges[-1]))
        h = checks[-1].layers[i]
        ax.set_title(label_text(f"a^({h.layer}) {h.activation}"), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        if i == 0:
            ax.set_ylabel("activation value", fontsize=8)
        ax.tick_params(labelsize=7)
    half = max(n_layers, 2) // 2
    for col, (key, title) in enumerate((("grad_rms", "‖∂C/∂W‖ (RMS)"),
                                        ("update_ratio", "‖Δw‖ / ‖w‖"))):
        ax = fig.add_subplot(grid[1, col * half : (col + 1) * half or None])
        for i in range(n_layers):
            values = [getattr(c.layers[i], key) for c in checks]
            pts = [(s, v) for s, v in zip(steps, values, strict=True) if v is not None and v > 0]
            if pts:
                ax.plot(*zip(*pts, strict=True), label=f"layer {i + 1}", lw=1.2)
        if key == "update_ratio":
            ax.axhline(1e-3, color="0.5", ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if ax.get_legend_handles_labels()[0]:  # nothing drawn: no legend (matplotlib warns)
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def plot_confusion(cm: Any, classes: list[Any], path: str | os.PathLike[str],
                   title: str | None = None) -> Path:
    """The confusion matrix of a test split: true class down, predicted class across.

    Each cell's colour is the share of its true class (its row), so a small class reads as
    clearly as a large one; the cell shows the count (up to
    :data:`MAX_ANNOTATED_CLASSES` classes).

    Parameters
    ----------
    cm : array-like of int, shape (n_classes, n_classes)
        ``cm[i, j]``: samples of true class i predicted as class j
        (:func:`chainrule.health.report.confusion_matrix`).
    classes : list
        The class labels, ``n_classes`` of them.
    path : where to write the PNG
    """
    cm = np.asarray(cm, dtype=np.int64)
    k = len(classes)
    if cm.shape != (k, k) or k == 0:
        raise ValueError(f"cm: expected shape ({k}, {k}) for {k} classes, got {cm.shape}")
    plt = pyplot()
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    side = min(3.0 + 0.45 * k, 14.0)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    labels = [label_text(c, 20) for c in classes]
    slant = k > 4 and max(map(len, labels)) > 2  # long labels side by side would overlap
    ax.set_xticks(range(k), labels, rotation=45 if slant else 0,
                  ha="right" if slant else "center", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    if k <= MAX_ANNOTATED_CLASSES:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(cm) / max(int(cm.sum()), 1)
    ax.set_title(label_text(title or "test split", 60) + f": accuracy {accuracy:.3f} "
                 f"on {int(cm.sum())} samples", fontsize=10)
    fig.tight_layout()  # laid out: one drawing, no crop (every run with a test split)
    try:
        return save_figure(fig, path, crop=False)
    finally:
        plt.close(fig)


def plot_residuals(y_true: Any, y_pred: Any, path: str | os.PathLike[str],
                   target_names: list[str] | None = None, title: str | None = None) -> Path:
    """Predicted against true (left; the diagonal is a perfect fit) and the residual
    ŷ − y against the prediction (right; structure there is signal the model missed), one
    row per target (at most :data:`MAX_RESIDUAL_TARGETS`).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,) or (n_samples, n_targets)
        The test targets and the model's predictions, in the target's units.
    target_names : list of str, optional
    path : where to write the PNG
    """
    t = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)
    if t.shape != p.shape or len(t) == 0:
        raise ValueError(f"y_pred: expected shape {t.shape} (as y_true), got {p.shape}")
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    rows = np.arange(len(t))
    if len(t) > MAX_POINTS:  # drawn by a sample; the scores below use every row
        rows = np.sort(np.random.default_rng(0).choice(len(t), MAX_POINTS, replace=False))
    n_targets = min(t.shape[1], MAX_RESIDUAL_TARGETS)
    fig, axes = plt.subplots(n_targets, 2, figsize=(10.4, 4.2 * n_targets), squeeze=False)
    names = target_names or [f"y{i}" for i in range(t.shape[1])]
    for i in range(n_targets):
        ti, pi = t[:, i], p[:, i]
        ss_tot = float(np.sum((ti - ti.mean()) ** 2))
        r2 = 1 - float(np.sum((pi - ti) ** 2)) / ss_tot if ss_tot > 0 else 0.0
        name = label_text(names[i] if i < len(names) else f"y{i}", 30)
        left, right = axes[i]
        left.scatter(ti[rows], pi[rows], s=8, alpha=0.5, edgecolors="none", rasterized=True)
        lo, hi = float(min(ti.min(), pi.min())), float(max(ti.max(), pi.max()))
        left.plot([lo, hi], [lo, hi], color="0.4", ls="--", lw=1)
        left.set_xlabel(f"true {name}")
        left.set_ylabel(f"predicted {name}")
        left.set_title(f"predicted vs true (R² {r2:.3f})", fontsize=10)
        right.scatter(pi[rows], (pi - ti)[rows], s=8, alpha=0.5, edgecolors="none",
                      rasterized=True)
        right.axhline(0.0, color="0.4", ls="--", lw=1)
        right.set_xlabel(f"predicted {name}")
        right.set_ylabel("residual ŷ − y")
        right.set_title(f"residuals (RMSE {np.sqrt(np.mean((pi - ti) ** 2)):.4g})", fontsize=10)
        for ax in (left, right):
            ax.xaxis.set_major_locator(MaxNLocator(6))  # wide numbers: no run-together ticks
            ax.grid(alpha=0.3)
    heading = label_text(title or "test split", 60) + f": {len(t)} samples"
    if len(rows) < len(t):
        heading += f" ({len(rows)} drawn)"
    if t.shape[1] > n_targets:
        heading += f"; the first {n_targets} of {t.shape[1]} targets"
    fig.suptitle(heading, fontsize=11)
    fig.tight_layout()  # laid out: one drawing, no crop (every run with a test split)
    try:
        return save_figure(fig, path, crop=False)
    finally:
        plt.close(fig)
