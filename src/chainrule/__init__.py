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
from .diagnosis import Diagnosis, diagnose
from .errors import FileFormatError
from .explain import WeightExplanation, explain
from .gradcheck import GradcheckReport, gradcheck
from .health import HealthMonitor
from .initializers import INITIALIZERS
from .io import ModelFileError, load, save
from .layers import Dense, Dropout, Layer
from .losses import LOSSES, Loss, get_loss
from .lr_find import LRFindResult, lr_find
from .network import MLP, Network, Trace
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
from .table import Table, TableEncoder, TableError
from .training import Trainer, fit
from .workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "Table",
    "TableEncoder",
    "TableError",
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
    "Diagnosis",
    "DivergenceError",
    "Dropout",
    "EarlyStopping",
    "ExponentialDecay",
    "FileFormatError",
    "GradcheckReport",
    "HealthMonitor",
    "History",
    "InverseScaling",
    "LRFindResult",
    "LambdaCallback",
    "Layer",
    "Loss",
    "ModelFileError",
    "Momentum",
    "Nesterov",
    "Network",
    "Optimizer",
    "ProgressHook",
    "RMSprop",
    "Schedule",
    "Standardizer",
    "StepDecay",
    "Trace",
    "Trainer",
    "WeightExplanation",
    "Workspace",
    "__version__",
    "diagnose",
    "explain",
    "fit",
    "get_activation",
    "get_loss",
    "get_optimizer",
    "get_schedule",
    "gradcheck",
    "load",
    "lr_find",
    "save",
]
