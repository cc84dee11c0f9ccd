"""chainrule: multilayer perceptrons trained by backpropagation, in the lecture notes'
notation, exact to machine precision.

Where backprop happens: :mod:`chainrule.reference` (the notes' forward and backward in
one short file), and its fast path :meth:`chainrule.network.Network.backward` (the chain
rule across layers) with :meth:`chainrule.layers.Dense.backward` (the three factors per
layer).
"""

from . import _aliases
from ._version import __version__
from .engine.activations import ACTIVATIONS, Activation, get_activation
from .engine.embeddings import CategoricalEmbedding
from .engine.ensemble import Ensemble
from .engine.initializers import INITIALIZERS
from .engine.layers import Dense, Dropout, Layer
from .engine.losses import LOSSES, Loss, get_loss
from .engine.network import MLP, Network, Trace
from .engine.periodic import PeriodicEmbedding
from .engine.workspace import Workspace
from .health.diagnosis import Diagnosis, diagnose
from .health.lr_find import LRFindResult, lr_find
from .health.monitor import HealthMonitor
from .io.atomic import FileWriteError
from .io.errors import FileFormatError
from .io.model import ModelFileError, load, save
from .notes import check
from .notes.explain import WeightExplanation, explain, explain_layers
from .notes.gradcheck import GradcheckReport, gradcheck
from .table import Table, TableEncoder, TableError
from .table.scaler import Standardizer
from .training import Step, Trainer, fit
from .training.callbacks import (
    Callback,
    DivergenceError,
    EarlyStopping,
    History,
    LambdaCallback,
    ProgressHook,
)
from .training.optimizers import (
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
from .training.schedules import (
    SCHEDULES,
    Constant,
    CosineWarmup,
    ExponentialDecay,
    InverseScaling,
    Schedule,
    StepDecay,
    get_schedule,
)

_aliases.install()

__all__ = [
    "CategoricalEmbedding",
    "Ensemble",
    "PeriodicEmbedding",
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
    "FileWriteError",
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
    "Step",
    "StepDecay",
    "Trace",
    "Trainer",
    "WeightExplanation",
    "Workspace",
    "__version__",
    "check",
    "diagnose",
    "explain",
    "explain_layers",
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
