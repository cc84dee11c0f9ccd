"""Training: one batch at a time (the step), epochs of steps (the loop), and what they use.

``step`` (:class:`Step`: forward, cost, backward, reduction, update, the loss guard, with
a :class:`Reducer` and an :class:`Objective` passed in), ``divergence``
(:class:`DivergenceError`, the loss guard), ``loop`` (:class:`Trainer`: epochs of steps
with callbacks), ``fitting`` (:func:`fit`), ``batches``, ``replay`` (the last finite
weights after a divergence), ``metrics``, ``callbacks``, ``optimizers`` and ``schedules``
(the update rules and their learning rates), ``weights`` (sample and class weights),
``kernels`` and ``compiled/`` (the optional numba step, proven bit-equal to the NumPy one).
"""

from .divergence import DivergenceError
from .fitting import fit, prepare_fit
from .loop import Trainer
from .metrics import evaluate_arrays, n_correct, n_correct_array
from .step import LocalReducer, NetworkObjective, Objective, Reducer, Step

__all__ = ["DivergenceError", "LocalReducer", "NetworkObjective", "Objective", "Reducer",
           "Step", "Trainer", "evaluate_arrays", "fit", "n_correct", "n_correct_array",
           "prepare_fit"]
