"""Stage 6, the run's files: the model, the history, the plots and, last, metrics.json
with ``"status": "complete"``, each written atomically into the run directory.

A finished run directory holds :data:`RUN_FILES` (``best.safetensors`` only with a
validation split or early stopping), the test split's picture — :data:`CONFUSION` for
classification, :data:`RESIDUALS` for regression —, ``regions.png`` for two-dimensional
classification data and :data:`DIAGNOSTICS` when asked for. metrics.json holds the test metrics and,
when the run ranked its input columns (:func:`column_importance`), their permutation
importance under ``"importance"``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets
from ..engine.network import Network
from ..health.diagnosis import Diagnosis
from ..health.importance import N_REPEATS, Importance, column_groups, permutation_importance
from ..health.monitor import HealthMonitor
from ..io.atomic import atomic_write_bytes
from ..training.callbacks import History
from .checkpoint import history_csv, save_model
from .errors import RunError
from .reporter import Reporter
from .rundir import BEST, CHECKPOINT, CONFIG, HISTORY, METRICS, MODEL, RunDir
from .stages import Splits

#: What a finished run directory holds (``best.safetensors`` only with a validation split
#: or early stopping; plus ``regions.png`` for two-dimensional classification data).
RUN_FILES = (MODEL, CHECKPOINT, BEST, CONFIG, HISTORY, METRICS, "curves.png")
#: The health monitor's record, plotted (:func:`chainrule.health.plots.plot_diagnostics`).
DIAGNOSTICS = "diagnostics.png"
#: The test split's confusion matrix (classification;
#: :func:`~chainrule.health.plots.plot_confusion`).
CONFUSION = "confusion.png"
#: The test split's predicted-vs-true and residuals (regression;
#: :func:`~chainrule.health.plots.plot_residuals`).
RESIDUALS = "residuals.png"
#: More input columns than this (images: MNIST's 784 pixels) are not ranked: the ranking
#: would cost a forward pass of the test set per column and shuffle, and say little.
MAX_RANKED_COLUMNS = 200
#: The ranking's cost bound: at most this many rows through the network in all
#: (columns × 5 shuffles × rows scored), so a wide table's ranking costs seconds, not
#: more than its training; a larger test split is scored on a seeded sample of its rows,
#: never fewer than :data:`MIN_RANKED_ROWS`.
RANKING_ROW_BUDGET = 400_000
MIN_RANKED_ROWS = 500


def column_importance(net: Network, ds: datasets.Dataset, splits: Splits,
                      seed: int) -> Importance | None:
    """The permutation importance of every input column on the test split (a table's
    column counts once, however many features it was encoded into), scored by the run's
    test metric (:func:`chainrule.health.importance.permutation_importance`).

    Returns None when the data has more than :data:`MAX_RANKED_COLUMNS` columns or fewer
    than 2 test rows. Its cost is bounded by :data:`RANKING_ROW_BUDGET`.
    """
    groups = column_groups(ds.encoder, ds.feature_names)
    if len(groups) > MAX_RANKED_COLUMNS or len(splits.X_test) < 2:
        return None
    rows = max(MIN_RANKED_ROWS, RANKING_ROW_BUDGET // (len(groups) * N_REPEATS))
    return permutation_importance(net, splits.X_test, splits.y_test, task=ds.task,
                                  groups=groups, seed=seed, max_samples=rows)


def write(out: str | os.PathLike[str] | None | RunDir, net: Network, ds: datasets.Dataset,
          splits: Splits, history: History, metrics: dict[str, Any], summary: dict[str, Any],
          *, diagnosis: Diagnosis | None = None, monitor: HealthMonitor | None = None,
          importance: Importance | None = None, reporter: Reporter | None = None) -> Path:
    """Stage 6: write the run's files and mark it complete.

    Parameters
    ----------
    out : str, Path, RunDir or None
        The run directory (created now, with ``summary["config"]``, if not a
        :class:`RunDir`; None: ``runs/<timestamp>/``).
    net, ds, splits, history, metrics
        The trained network, its data, the history and the test metrics.
    summary : dict
        The training summary (:func:`~chainrule.runs.stages.summarize`), saved in the model.
    diagnosis : Diagnosis, optional
        Goes into metrics.json under ``"diagnosis"``.
    monitor : HealthMonitor, optional
        Its record is plotted into :data:`DIAGNOSTICS`.
    importance : Importance, optional
        Goes into metrics.json under ``"importance"`` (:func:`column_importance`).
    reporter : Reporter, optional
        Told what was written (:meth:`Reporter.written`).

    Returns
    -------
    Path
        The run directory.

    Raises
    ------
    RunError
        No matplotlib for the plots (after everything else is written and the run is
        marked complete).
    """
    reporter = reporter or Reporter()
    run = out if isinstance(out, RunDir) else RunDir.create(out, summary["config"], fresh=True,
                                                            warn=reporter.warn)
    run_dir = run.path
    save_model(net, run_dir / MODEL, training=summary, feature_names=ds.feature_names)
    atomic_write_bytes(run_dir / HISTORY, history_csv(history.epoch, history.history))
    plot_error: RunError | None = None
    try:
        written = _plots(net, history, ds, splits, metrics, run_dir)
        if monitor is not None:
            written += _diagnostics_plot(monitor, run_dir, reporter)
    except RunError as exc:  # no matplotlib: the run itself is complete
        plot_error = exc
    started = run.info.get("started")
    run.info = {}
    final = {"test": metrics, **{k: v for k, v in summary.items() if k != "config"}}
    if diagnosis is not None:
        final["diagnosis"] = diagnosis_json(diagnosis)
    if importance is not None:
        final["importance"] = importance.to_dict()
    run.mark("complete", **final, **({"started": started} if started else {}))
    if plot_error is not None:
        raise plot_error
    reporter.written(run_dir, written)
    return run_dir


def diagnosis_json(diagnosis: Diagnosis) -> dict[str, Any]:
    """``Diagnosis.to_dict()`` with non-finite numbers as null (metrics.json stays JSON)."""
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return dict(clean(diagnosis.to_dict()))


def _no_matplotlib(exc: ImportError, run_dir: Path) -> RunError:
    return RunError(f"plots need matplotlib ({exc}); the model and the other files are in "
                    f"{run_dir}; install the plots with: pip install 'chainrule[cli]'")


def _diagnostics_plot(monitor: HealthMonitor, run_dir: Path, reporter: Reporter
                      ) -> list[str]:
    """:data:`DIAGNOSTICS` (nothing, with a warning, when the monitor made no check)."""
    from ..health.plots import plot_diagnostics

    if not monitor.checks:
        reporter.warn(f"no {DIAGNOSTICS}: the health monitor made no check (no step ran)")
        return []
    try:
        plot_diagnostics(monitor, run_dir / DIAGNOSTICS)
    except ImportError as exc:
        raise _no_matplotlib(exc, run_dir) from exc
    return [DIAGNOSTICS]


def _plots(net: Network, history: History, ds: datasets.Dataset, splits: Splits,
           metrics: dict[str, Any], run_dir: Path) -> list[str]:
    """Write the plots; the files of the run directory, in order. A missing matplotlib
    is an error that names the extra."""
    from ..health.plots import plot_decision_regions, plot_history

    written = [MODEL] + [name for name in (CHECKPOINT, BEST) if (run_dir / name).is_file()]
    written += [CONFIG, HISTORY, METRICS]
    try:
        plot_history(history.history, run_dir / "curves.png", title=f"{ds.name}")
        written.append("curves.png")
        written += _test_plot(net, ds, splits, metrics, run_dir)
        if ds.n_features == 2 and ds.task == "classification":
            plot_decision_regions(net, splits.X_train, splits.y_train, run_dir / "regions.png",
                                  ds.classes)
            written.append("regions.png")
    except ImportError as exc:
        raise _no_matplotlib(exc, run_dir) from exc
    return written


def _test_plot(net: Network, ds: datasets.Dataset, splits: Splits, metrics: dict[str, Any],
               run_dir: Path) -> list[str]:
    """:data:`CONFUSION` or :data:`RESIDUALS` of the test split (nothing without test rows,
    ``test_split = 0``, or for multi-label classification, which has no single confusion
    matrix)."""
    from ..health.plots import plot_confusion, plot_residuals

    if len(splits.X_test) == 0:
        return []
    title = f"{ds.name}, test split"
    if ds.task == "classification":
        if "confusion_matrix" not in metrics:
            return []
        plot_confusion(metrics["confusion_matrix"], metrics["classes"], run_dir / CONFUSION,
                       title=title)
        return [CONFUSION]
    with np.errstate(all="ignore"):  # the report refused non-finite outputs already
        y_pred = np.asarray(net.predict(splits.X_test))
    plot_residuals(splits.y_test, y_pred, run_dir / RESIDUALS, ds.target_names, title=title)
    return [RESIDUALS]


__all__ = ["CONFUSION", "DIAGNOSTICS", "MAX_RANKED_COLUMNS", "MIN_RANKED_ROWS",
           "RANKING_ROW_BUDGET", "RESIDUALS", "RUN_FILES", "column_importance", "diagnosis_json",
           "write"]
