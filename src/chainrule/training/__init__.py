"""Training: one batch at a time (the step), epochs of steps (the loop), and what they use.

``loop`` (:class:`Trainer`, :func:`fit`), ``callbacks``, ``optimizers`` and ``schedules``
(the update rules and their learning rates), ``weights`` (sample and class weights),
``kernels`` and ``compiled/`` (the optional numba step, proven bit-equal to the NumPy one).
"""

from .loop import Trainer, evaluate_arrays, fit, n_correct, n_correct_array, prepare_fit

__all__ = ["Trainer", "evaluate_arrays", "fit", "n_correct", "n_correct_array", "prepare_fit"]
