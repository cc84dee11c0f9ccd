"""Recipes: the defaults a run takes for the settings it was not given.

``plain`` is :class:`~chainrule.runs.config.RunConfig`'s own defaults (Adam at 1e-3, a
constant rate, batches of 32, 20 epochs, no regularization): the network of the lecture
notes, trained the textbook way. ``table`` is what ``chainrule train --csv`` uses unless
``--recipe plain`` is given: the choices RealMLP (Holzmüller et al., NeurIPS 2024) and
TabM (Gorishniy et al., ICLR 2025) found for tables, each kept only where it won on
``bench/real_tables.py`` (the figures are in :data:`TABLE`'s comments and in
``docs/cli.md``):

- AdamW with decoupled weight decay;
- a flat-then-cosine learning rate (:class:`~chainrule.training.schedules.FlatCosine`);
- label smoothing of the one-hot targets when the metric is accuracy (classification);
- dropout after every hidden layer;
- a batch size scaled to the training rows (:func:`batch_size_for`);
- up to :data:`TABLE_EPOCHS` epochs, stopped by patience with a minimum improvement
  (``min_delta``), the saved model being the best validation epoch's weights;
- learned input layers (``embeddings = "both"``): a lookup vector per category column
  coded as integers, periodic features of every number column
  (:mod:`chainrule.engine.embeddings`);
- on a small table (fewer than :data:`SMALL_VALIDATION` validation rows), ``cv = "auto"``:
  5 folds of the training rows trained at once as members, each with its own embeddings,
  the best epoch chosen by their out-of-fold loss (:mod:`chainrule.runs.crossval`).

A recipe only fills settings that no flag and no ``--config`` file gave; the values it
filled are recorded in ``config.json`` like any other (a resumed run or a rerun from
``config.json`` trains the same way), and the run's header names the recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The recipe names ``--recipe`` accepts.
RECIPES = ("plain", "table")

#: ``label_smoothing = "auto"``: ε for classification; regression has no one-hot targets.
AUTO_LABEL_SMOOTHING = 0.1

#: The batch size ``"auto"`` gives: about :data:`BATCHES_PER_EPOCH` steps per epoch,
#: between :data:`MIN_BATCH` and :data:`MAX_BATCH` rows (a training split of 16,384 rows
#: or more trains in batches of 256, one of 300 rows in batches of 32).
MIN_BATCH, MAX_BATCH, BATCHES_PER_EPOCH = 32, 256, 64

#: A table job given neither ``--epochs`` nor ``--early-stopping`` trains up to
#: TABLE_EPOCHS epochs and stops after TABLE_PATIENCE without a better validation loss.
TABLE_EPOCHS = 200
TABLE_PATIENCE = 20

#: The ``table`` recipe: setting → value, for the settings a table job was not given.
#: ``epochs`` and ``early_stopping`` go together (:func:`apply_recipe`). Measured on 18
#: real tables (3 seeded splits each; mean accuracy or R², msleep aside): the plain
#: defaults 0.700; this recipe with patience 10: 0.710, with 20: 0.721, 30: 0.716; without
#: dropout 0.695; without label smoothing 0.711; a constant rate 0.710 (flat_cosine only
#: matters in runs longer than half their epochs); an ensemble of 4: no better, 4× slower.
#: On 8 small tables (6 splits) ``cv = "auto"`` (5 folds as members, the best epoch by
#: their out-of-fold loss) scored 0.806 vs 0.805, and lifted lung (228 rows) from 0.696,
#: below its majority class's 0.717, to 0.736 — but learned input layers did more:
#: ``embeddings = "both"`` (a lookup per coded category column, periodic features of the
#: numbers; H8's layers) scored 0.809 vs 0.795 on 16 tables (2 splits each, better on 10,
#: lung 0.685 → 0.707 too) for 17 % more training time. Once members owned their
#: embeddings, ``cv = "auto"`` with them (bench/real_tables.py, the 10 tables of ≤ 1,500
#: rows, 5 folds, the same snapshot): mean 0.804 → 0.850, no table worse (msleep 0.648 →
#: 0.937, epil 0.352 → 0.463, modechoice 0.949 → 0.958, mpg, grunfeld, star98, anes96,
#: framing up; seattle-weather and penguins unchanged: ≥ 100 validation rows, no folds).
#: Tried on the mid/large tables where it trails (bench/real_tables.py folds 0-1 of
#: seattle-weather, txhousing, randhie, rwm5yr, nwtco, azpro; Δ vs this recipe on the same
#: folds) and not kept: lr 5e-4 (randhie −0.021, azpro −0.007), lr 3e-4 (randhie −0.045),
#: lr 2e-3 (txhousing −0.004, 5 folds); 60 epochs with patience 60, so the cosine half
#: runs (±0.000 but randhie −0.008: these runs stop in the flat half either way);
#: hidden 256,128 (mean −0.004 on those six). Weight decay 1e-3 on all 25 tables × 5 folds
#: (snapshot b80947a): 14 tables up, 7 down, 19 of 25 within 0.005 of LightGBM (18 with
#: 1e-4: seattle-weather +0.006 crosses), but mean −0.0003 (msleep, 83 rows, −0.022;
#: modechoice −0.004), so 1e-4 stays.
TABLE: dict[str, Any] = {
    "optimizer": "adamw",
    "weight_decay": 1e-4,
    "schedule": "flat_cosine",
    "label_smoothing": "auto",
    "dropout": 0.1,
    "batch_size": "auto",
    "epochs": TABLE_EPOCHS,
    "early_stopping": TABLE_PATIENCE,
    "embeddings": "both",
    "cv": "auto",
}

#: A setting given → the recipe's settings that go with it and are not filled either:
#: ``--epochs`` alone trains exactly those epochs, ``--early-stopping`` alone keeps the
#: plain 20 epochs, another ``--optimizer`` keeps its own weight decay. (``--ensemble`` and
#: ``--cv`` keep the embeddings: each member owns its input layers.)
_GOES_WITH = {"epochs": ("early_stopping",), "early_stopping": ("epochs",),
              "optimizer": ("weight_decay",)}


def recipe_settings(name: str) -> dict[str, Any]:
    """The settings recipe ``name`` fills (``plain``: none; RunConfig's defaults)."""
    return dict(TABLE) if name == "table" else {}


def apply_recipe(values: Mapping[str, Any], given: set[str]) -> dict[str, Any]:
    """``values`` with the settings of recipe ``values["recipe"]`` that are not in
    ``given`` (the keys a flag or a file set).

    Some settings go together (:data:`_GOES_WITH`): with ``--epochs`` alone there is no
    early stopping (the run trains the epochs it was told), and another ``--optimizer``
    keeps its own weight decay.
    """
    out = dict(values)
    settings = recipe_settings(str(values.get("recipe", "plain")))
    for key in given & set(_GOES_WITH):
        for other in _GOES_WITH[key]:
            settings.pop(other, None)
    for key, value in settings.items():
        if key not in given:
            out[key] = value
    return out


def batch_size_for(n_train: int) -> int:
    """``batch_size = "auto"``: about :data:`BATCHES_PER_EPOCH` steps per epoch, a power
    of two between :data:`MIN_BATCH` and :data:`MAX_BATCH`.

    Large batches make an epoch of a big table cheap (few steps, each a wide matrix
    product) and the small batches of a small table keep enough steps per epoch to learn.
    """
    target = max(1, n_train // BATCHES_PER_EPOCH)
    size = MIN_BATCH
    while size < MAX_BATCH and size * 2 <= target:
        size *= 2
    return size


#: ``cv = "auto"``: this many folds when the validation split is too small to tell the best
#: epoch (fewer than :data:`SMALL_VALIDATION` rows), else none.
AUTO_FOLDS = 5
SMALL_VALIDATION = 100


def auto_folds(n_train: int, n_val: int) -> int:
    """``cv = "auto"``: :data:`AUTO_FOLDS` folds as members when the validation split has
    fewer than :data:`SMALL_VALIDATION` rows (a small table: its validation loss is noise,
    the members' out-of-fold loss over every training row is not), else 0."""
    return AUTO_FOLDS if n_val < SMALL_VALIDATION and n_train >= 2 * AUTO_FOLDS else 0


def describe_recipe(cfg: Any) -> str:
    """One line for the run's header: the recipe and the choices it stands for, e.g.
    ``recipe table: adamw (weight decay 0.0001), flat_cosine, label smoothing 0.1,
    dropout 0.1, batch 128, up to 200 epochs, patience 10 (min_delta 0.0001), best
    validation epoch kept``."""
    parts = [cfg.optimizer + (f" (weight decay {cfg.weight_decay:g})"
                              if cfg.weight_decay is not None else "")]
    parts.append(cfg.schedule)
    if isinstance(cfg.label_smoothing, float) and cfg.label_smoothing > 0:
        parts.append(f"label smoothing {cfg.label_smoothing:g}")
    if cfg.dropout:
        parts.append(f"dropout {cfg.dropout:g}")
    parts.append(f"batch {cfg.batch_size}")
    if cfg.early_stopping:
        parts.append(f"up to {cfg.epochs} epochs, patience {cfg.early_stopping} "
                     f"(min_delta {cfg.min_delta:g})")
    else:
        parts.append(f"{cfg.epochs} epochs")
    if cfg.clipnorm is not None:
        parts.append(f"clipnorm {cfg.clipnorm:g}")
    if cfg.embeddings != "none":
        parts.append(f"{cfg.embeddings} embeddings")
    if cfg.cv:
        parts.append(f"best epoch by the out-of-fold loss of {cfg.cv} folds")
    elif cfg.early_stopping:
        parts.append("best validation epoch kept (from 100 validation rows on)")
    return f"recipe {cfg.recipe}: {', '.join(parts)}"


__all__ = [
    "AUTO_FOLDS", "AUTO_LABEL_SMOOTHING", "BATCHES_PER_EPOCH", "SMALL_VALIDATION",
    "auto_folds", "MAX_BATCH", "MIN_BATCH", "RECIPES", "TABLE",
    "TABLE_EPOCHS", "TABLE_PATIENCE", "apply_recipe", "batch_size_for", "describe_recipe",
    "recipe_settings",
]
