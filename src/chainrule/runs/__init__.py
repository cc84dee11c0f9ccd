"""Training runs as a library: what ``chainrule train`` does, from Python.

- :func:`train` a :class:`RunConfig` into a run directory and get a :class:`Run`;
  :meth:`Run.resume` an interrupted one (it ends bitwise equal to an uninterrupted run);
- :mod:`.config`: :class:`RunConfig`, every setting typed and checked once;
- :mod:`.rundir`: the run directory and its ``metrics.json`` status
  (running → interrupted / failed → complete);
- :mod:`.checkpoint`, :mod:`.resume`: ``checkpoint.safetensors`` and ``best.safetensors``,
  and reading them back to continue;
- :mod:`.stages`, :mod:`.fitting`, :mod:`.output`: load → split → build → fit → report →
  write, one small function each;
- :class:`Reporter`: what a run tells as it goes (``chainrule train`` prints it);
- :mod:`.device`: where it computes; :mod:`.data`, :mod:`.network`: its data and network.

Examples
--------
>>> from chainrule import runs
>>> run = runs.train({"dataset": "xor", "hidden": [8], "epochs": 5}, "runs/xor")
... # doctest: +SKIP
>>> run.status  # doctest: +SKIP
'complete'
"""

from .config import ConfigError, RunConfig
from .errors import RunError
from .reporter import Reporter
from .run import Run, RunOptions, train
from .rundir import RunDir, read_status

__all__ = [
    "ConfigError", "Reporter", "Run", "RunConfig", "RunDir", "RunError", "RunOptions",
    "read_status", "train",
]
