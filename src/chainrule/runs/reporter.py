"""What a run tells as it goes: :class:`Reporter`, passed to :func:`chainrule.runs.train`.

The base class says nothing but its warnings (through :func:`warnings.warn`, naming the
caller's line that started the run); ``chainrule train`` passes one that prints
(:class:`chainrule.cli.train.Printer`). A run calls it on the root rank only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._warnings import warn

if TYPE_CHECKING:
    from ..datasets import Dataset
    from ..engine.backend import Backend
    from ..engine.network import Network
    from ..health.diagnosis import Diagnosis
    from ..health.importance import Importance
    from ..health.lr_find import LRFindResult
    from ..health.monitor import HealthMonitor
    from ..training.callbacks import Callback
    from .config import RunConfig


class Reporter:
    """The events of a run, in the order they happen; every method does nothing here.

    Subclass it and override the events you want to show. Reporting never changes the
    run: its files and weights are the same with any reporter.
    """

    def lr_found(self, cfg: RunConfig, result: LRFindResult) -> None:
        """``lr = "auto"``: the range test on the training split suggested ``result``."""

    def started(self, cfg: RunConfig, ds: Dataset, net: Network,
                sizes: tuple[int, int, int], resumed: tuple[Path, int] | None) -> None:
        """The run starts training: its data, network and settings, and the training,
        validation and test ``sizes``; ``resumed`` is (run directory, epochs done) when
        it continues an interrupted run."""

    def progress(self) -> Callback | None:
        """A callback that shows the fit's progress (None: none)."""
        return None

    def moved(self, backend: Backend) -> None:
        """The network was moved to ``backend`` for the fit."""

    def tested(self, metrics: dict[str, Any]) -> None:
        """The test-set metrics of the trained network."""

    def diagnosed(self, diagnosis: Diagnosis, monitor: HealthMonitor) -> None:
        """The health monitor's verdicts on the run."""

    def ranked(self, importance: Importance) -> None:
        """The input columns ranked by permutation importance on the test split
        (``importance.format()`` shows the top ones)."""

    def diverged(self, diagnosis: Diagnosis) -> None:
        """The loss diverged (a :class:`~chainrule.training.callbacks.DivergenceError`
        follows); the monitor's verdict on it."""

    def written(self, run_dir: Path, files: list[str]) -> None:
        """The run is complete: ``files`` were written into ``run_dir``."""

    def interrupted(self, run_dir: Path, epochs_done: int, epochs: int | None,
                    resume: str) -> None:
        """Ctrl-C or SIGTERM: the run is recorded as interrupted after ``epochs_done``
        epochs; ``resume`` is the command that continues it."""

    def warn(self, message: str) -> None:
        """Something could not be written or shown, and the run goes on."""
        warn(message, RuntimeWarning)


__all__ = ["Reporter"]
