"""Shared fixtures: a seeded generator and the location of the shared data sets.

Every test that reads ../shared asks for the ``shared_data`` fixture (or ``mnist_dir``, which
is built on it); no test module hard-codes the path. The directory is ``$CHAINRULE_SHARED_DATA``
if set, else ``shared/data`` beside the repository. CI always has it, so a missing directory
fails the test with a message saying where it looked, rather than skipping it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# scikit-learn checks array-API inputs (tests/test_sklearn_checks.py: array_api_strict and
# torch through array_api_dispatch) only when SciPy was imported with this set.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Where the shared data sets are expected: $CHAINRULE_SHARED_DATA, else ../shared/data."""
    return Path(os.environ.get("CHAINRULE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data directory (digits/, mnist/ …); fails, not skips, when it is missing."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"shared data directory {path} not found: clone the shared repository "
                    "beside this checkout (../shared) or set CHAINRULE_SHARED_DATA")
    return path


@pytest.fixture
def mnist_dir(request: pytest.FixtureRequest) -> Path:
    """The four MNIST IDX .gz files: $CHAINRULE_DATA_DIR, else <shared_data>/mnist."""
    env = os.environ.get("CHAINRULE_DATA_DIR")
    path = Path(env) if env else request.getfixturevalue("shared_data") / "mnist"
    if not (path / "train-images-idx3-ubyte.gz").exists():
        pytest.fail(f"MNIST files not found in {path}; set CHAINRULE_DATA_DIR")
    return path


@pytest.fixture(autouse=True)
def _restore_registries() -> Iterator[None]:
    """Activation, loss, optimizer and schedule subclasses register themselves by name when
    defined; one a test defines is gone from the tables after that test."""
    from chainrule.engine.activations import ACTIVATIONS
    from chainrule.engine.losses import LOSSES
    from chainrule.training.optimizers import OPTIMIZERS
    from chainrule.training.schedules import SCHEDULES

    tables: list[dict[str, Any]] = [ACTIVATIONS, LOSSES, OPTIMIZERS, SCHEDULES]
    saved = [dict(t) for t in tables]
    yield
    for table, before in zip(tables, saved, strict=True):
        table.clear()
        table.update(before)


#: The torch.Tensor methods through which data reaches the host.
HOST_TRANSFERS = ("__array__", "cpu", "numpy", "item", "tolist", "__float__", "__int__",
                  "__bool__", "__index__")


@pytest.fixture
def torch_transfers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Record (method, numel) of every host transfer of a torch tensor while active;
    call ``monkeypatch.undo()`` to stop recording."""
    torch = pytest.importorskip("torch")
    calls: list[tuple[str, int]] = []
    for name in HOST_TRANSFERS:
        original = getattr(torch.Tensor, name)

        def spy(self: Any, *args: Any, _name: str = name, _original: Any = original,
                **kwargs: Any) -> Any:
            calls.append((_name, int(self.numel())))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    yield calls
