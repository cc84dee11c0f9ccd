"""chainrule: multilayer perceptrons trained by backpropagation, in the lecture notes'
notation, exact to machine precision.

Where backprop happens: :mod:`chainrule.reference` (the notes' forward and backward in
one short file), and its fast path :meth:`chainrule.network.Network.backward` (the chain
rule across layers) with :meth:`chainrule.layers.Dense.backward` (the three factors per
layer).
"""

from .activations import ACTIVATIONS, Activation, get_activation
from .callbacks import (
    Callback,
    DivergenceError,
    EarlyStopping,
    History,
    LambdaCallback,
    ProgressHook,
)
from .explain import WeightExplanation, explain
from .gradcheck import GradcheckReport, gradcheck
from .initializers import INITIALIZERS
from .io import load, save
from .layers import Dense, Dropout, Layer
from .losses import LOSSES, Loss, get_loss
from .network import MLP, Network
from .optimizers import (
    OPTIMIZERS,
    SGD,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    Optimizer,
    RMSprop,
    get_optimizer,
)
from .scaler import Standardizer
from .schedules import (
    SCHEDULES,
    Constant,
    CosineWarmup,
    ExponentialDecay,
    InverseScaling,
    Schedule,
    StepDecay,
    get_schedule,
)
from .training import Trainer, fit

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LOSSES",
    "MLP",
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "Activation",
    "Adam",
    "AdamW",
    "Callback",
    "Constant",
    "CosineWarmup",
    "Dense",
    "DivergenceError",
    "Dropout",
    "EarlyStopping",
    "ExponentialDecay",
    "GradcheckReport",
    "History",
    "InverseScaling",
    "LambdaCallback",
    "Layer",
    "Loss",
    "Momentum",
    "Nesterov",
    "Network",
    "Optimizer",
    "ProgressHook",
    "RMSprop",
    "Schedule",
    "Standardizer",
    "StepDecay",
    "Trainer",
    "WeightExplanation",
    "__version__",
    "explain",
    "fit",
    "get_activation",
    "get_loss",
    "get_optimizer",
    "get_schedule",
    "gradcheck",
    "load",
    "save",
]
