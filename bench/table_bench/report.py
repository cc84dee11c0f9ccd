"""The benchmark's markdown report: per table every contender's mean ± sd over the folds,
chainrule's gaps, training time per fold, and the summary issue 27's "Done means" asks."""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field

import numpy as np

NEAR = 0.005  # "within 0.005 of LightGBM or better"


@dataclass
class Row:
    """One table: ``scores[label]`` / ``seconds[label]`` hold one value per fold run (nan on
    a failed fold); ``errors[label]`` the first failure's words."""

    table: str
    source: str
    rows: int
    columns: int
    task: str
    why: str
    n_folds: int
    scores: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def complete(self, label: str) -> bool:
        values = self.scores.get(label, [])
        return len(values) == self.n_folds and all(math.isfinite(v) for v in values)

    def mean(self, label: str) -> float:
        return float(np.mean(self.scores[label])) if self.complete(label) else math.nan

    def best(self, labels: list[str]) -> float:
        means = [self.mean(k) for k in labels if self.complete(k)]
        return max(means) if means else math.nan


def _cell(row: Row, label: str) -> str:
    if label in row.errors and not row.complete(label):
        said = row.errors[label].replace("|", "\\|")[:120]
        return said if said.startswith("not run") else "failed: " + said
    values = row.scores.get(label, [])
    if not values:
        return "–"
    if not row.complete(label):
        return f"{len(values)}/{row.n_folds} folds"
    text = f"{np.mean(values):.3f} ± {np.std(values):.3f}"
    return f"**{text}**" if row.mean(label) == row.best(list(row.scores)) else text


def _gap(a: float, b: float) -> str:
    return "–" if math.isnan(a) or math.isnan(b) else f"{a - b:+.3f}"


def per_table(rows: list[Row], labels: list[str], chainrule: str) -> list[str]:
    head = ["table", "rows × cols", "task", *labels, f"{chainrule} − lightgbm",
            f"{chainrule} − best"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        metric = "accuracy" if r.task == "classification" else "R²"
        c = r.mean(chainrule)
        out.append(f"| {r.table} | {r.rows:,} × {r.columns} | {metric} | "
                   + " | ".join(_cell(r, k) for k in labels)
                   + f" | {_gap(c, r.mean('lightgbm'))} | {_gap(c, r.best(labels))} |")
    return out


def times(rows: list[Row], labels: list[str]) -> list[str]:
    out = ["| table | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for r in rows:
        cells = []
        for k in labels:
            s = [v for v in r.seconds.get(k, []) if math.isfinite(v)]
            cells.append(f"{np.mean(s):.1f}" if s else "–")
        out.append(f"| {r.table} | " + " | ".join(cells) + " |")
    return out


def summary(rows: list[Row], labels: list[str], chainrule: str) -> list[str]:
    """The Done-means numbers, each over the tables where its contenders completed."""
    out = []
    vs_lgb = [r for r in rows if r.complete(chainrule) and r.complete("lightgbm")]
    near = [r for r in vs_lgb if r.mean(chainrule) >= r.mean("lightgbm") - NEAR]
    if vs_lgb:
        out.append(f"- {chainrule} within {NEAR} of LightGBM's default or better: "
                   f"**{len(near)} of {len(vs_lgb)} tables ({len(near) / len(vs_lgb):.0%})** "
                   "(bar: ≥ 70 %).")
    for k in labels:
        done = [r for r in rows if r.complete(k)]
        if done:
            gap = np.mean([r.best(labels) - r.mean(k) for r in done])
            out.append(f"- mean gap of {k} to the per-table best: **{gap:.4f}** over "
                       f"{len(done)} tables" + (" (bar for chainrule: ≤ 0.01)."
                                                if k == chainrule else "."))
    vs_mlp = [r for r in rows if r.complete(chainrule) and r.complete("sklearn-mlp")]
    below = [r for r in vs_mlp if r.mean(chainrule) < r.mean("sklearn-mlp") - NEAR]
    if vs_mlp:
        names = ", ".join(f"{r.table} ({r.mean(chainrule) - r.mean('sklearn-mlp'):+.3f})"
                          for r in below) or "none"
        out.append(f"- tables where {chainrule} is more than {NEAR} below the scikit-learn MLP "
                   f"pipeline: **{len(below)} of {len(vs_mlp)}**: {names} (bar: none).")
    out += _realmlp(rows, chainrule)
    losses = [r for r in rows
              if r.complete(chainrule) and r.best(labels) - r.mean(chainrule) > 0.02]
    if losses:
        out.append(f"- where {chainrule} loses by more than 0.02 to the best: " + ", ".join(
            f"{r.table} ({r.mean(chainrule) - r.best(labels):+.3f} to "
            f"{max((k for k in labels if r.complete(k)), key=r.mean)})" for r in losses) + ".")
    return out


def _realmlp(rows: list[Row], chainrule: str) -> list[str]:
    both = [r for r in rows if r.complete(chainrule) and r.complete("realmlp")]
    if not both:
        return ["- RealMLP-TD: no table where both it and chainrule completed."]
    c = np.mean([r.mean(chainrule) for r in both])
    m = np.mean([r.mean("realmlp") for r in both])
    tc = sum(sum(r.seconds[chainrule]) for r in both)
    tm = sum(sum(r.seconds["realmlp"]) for r in both)
    skipped = [r.table for r in rows if not r.complete("realmlp")]
    return [f"- RealMLP-TD, on the {len(both)} tables where it ran: mean score {chainrule} "
            f"**{c:.4f}** vs RealMLP **{m:.4f}** ({c - m:+.4f}); training time {tc:.0f} s vs "
            f"{tm:.0f} s, ratio **{tc / tm:.2f}** (bar: mean at or above, ≤ 0.2 of its time). "
            f"Not run on: {', '.join(skipped) or 'none'}."]


def markdown(rows: list[Row], labels: list[str], chainrule: str, context: str) -> str:
    n = rows[0].n_folds if rows else 0
    parts = [f"# Real tables: {len(rows)} tables, {n}-fold CV, the same folds for every "
             "contender\n", context + "\n", "## Summary\n", *summary(rows, labels, chainrule),
             "\n## Scores (mean ± sd over the folds; bold: the table's best)\n",
             *per_table(rows, labels, chainrule),
             "\n## Training time per fold (seconds, mean over the folds)\n",
             *times(rows, labels), "\n## The tables\n",
             "| table | source (package: file) | why |", "|---|---|---|",
             *[f"| {r.table} | {r.source} | {r.why} |" for r in rows],
             f"\nPython {platform.python_version()}, {platform.machine()}."]
    return "\n".join(parts) + "\n"
