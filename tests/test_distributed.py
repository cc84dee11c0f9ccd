"""chainrule.distributed: data-parallel training under mpirun equals one process.

The MPI tests start ``mpirun`` themselves (tests/mpi_scripts/train_cases.py), with
a timeout, in their own process group, and check that no process outlives them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from chainrule.distributed import share

SCRIPTS = Path(__file__).parent / "mpi_scripts"
TIMEOUT = 120  # seconds per mpirun; the cases take about one second


def _mpirun() -> list[str]:
    """mpirun from the mpich wheel next to this Python (else PATH), with the flags it needs."""
    local = Path(sys.executable).parent / "mpirun"
    exe = str(local) if local.exists() else shutil.which("mpirun")
    if exe is None or importlib.util.find_spec("mpi4py") is None:
        pytest.skip("needs the 'mpi' extra: pip install 'chainrule[mpi]' (mpi4py + mpich)")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    # Three ranks on a two-core machine: MPICH allows it by default, Open MPI must be told.
    return [exe, "--oversubscribe"] if "Open MPI" in version.stdout else [exe]


def _children_env() -> dict[str, str]:
    # One BLAS thread per rank: the ranks already fill the cores.
    threads = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return {**os.environ, **threads}


def _run(cmd: list[str], marker: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` in a new process group; kill the group on timeout; fail if a process
    whose command line contains ``marker`` is still alive afterwards."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_children_env(),
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} hung for {TIMEOUT} s; output:\n{out}")
    finally:
        _assert_no_process_left(marker)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, None)


def _assert_no_process_left(marker: str) -> None:
    import psutil

    def ours() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter(["cmdline"]):
            if any(marker in part for part in p.info["cmdline"] or ()):
                found.append(p)
        return found

    deadline = time.monotonic() + 10  # hydra's proxies may take a moment to exit
    while ours() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = ours()
    for p in left:
        p.kill()
    assert not left, f"processes left behind: {[p.info['cmdline'] for p in left]}"


def _cases() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_cases", SCRIPTS / "train_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _train_cases(tmp_path: Path, n_ranks: int | None, *extra: str) -> subprocess.CompletedProcess:
    script = [sys.executable, str(SCRIPTS / "train_cases.py"), str(tmp_path), *extra]
    cmd = script if n_ranks is None else [*_mpirun(), "-n", str(n_ranks), *script]
    return _run(cmd, marker=str(tmp_path))


# -- the split of a global batch -------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
def test_shares_tile_the_batch_contiguously(size):
    for m in range(0, 30):
        bounds = [share(m, r, size) for r in range(size)]
        assert bounds[0][0] == 0 and bounds[-1][1] == m
        for (_, hi), (lo, _) in zip(bounds[:-1], bounds[1:], strict=True):
            assert hi == lo
        sizes = [hi - lo for lo, hi in bounds]
        assert max(sizes) - min(sizes) <= 1
        assert sizes == sorted(sizes, reverse=True)


def test_import_chainrule_does_not_load_mpi():
    code = "import sys, chainrule; assert 'mpi4py' not in sys.modules, 'mpi4py was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- exactness --------------------------------------------------------------------------------
def _check_against_one_process(out_dir: Path, n_ranks: int) -> None:
    cases = _cases()
    for name in cases.CASES:
        net, X, y, kw = cases.build(name)
        history = net.fit(X, y, **kw)
        ranks = [
            np.load(out_dir / f"{name}.rank{r}.npy", allow_pickle=False) for r in range(n_ranks)
        ]
        for r, params in enumerate(ranks[1:], start=1):
            assert np.array_equal(params, ranks[0]), f"{name}: rank {r} differs from rank 0"
        assert ranks[0].dtype == net.params.dtype
        err = np.max(np.abs(ranks[0].astype(np.float64) - net.params))
        if net.dtype == np.float64:
            assert err <= 1e-12, f"{name}: {n_ranks} ranks vs one process, max |Δw| = {err:g}"
        else:
            rel = err / np.max(np.abs(net.params))
            assert rel <= 1e-5, f"{name}: {n_ranks} ranks vs one process, relative {rel:g}"
        loss = np.load(out_dir / f"{name}.rank0.loss.npy", allow_pickle=False)
        np.testing.assert_allclose(loss, history["loss"], rtol=1e-5)


@pytest.mark.parametrize("n_ranks", [2, 3])
def test_ranks_match_one_process_and_each_other(tmp_path, n_ranks):
    result = _train_cases(tmp_path, n_ranks)
    assert result.returncode == 0, result.stdout
    _check_against_one_process(tmp_path, n_ranks)


def test_without_a_launcher_is_exactly_fit(tmp_path):
    result = _train_cases(tmp_path, None)
    assert result.returncode == 0, result.stdout
    cases = _cases()
    for name in cases.CASES:
        net, X, y, kw = cases.build(name)
        net.fit(X, y, **kw)
        params = np.load(tmp_path / f"{name}.rank0.npy", allow_pickle=False)
        assert np.array_equal(params, net.params), name


# -- failure ends the job ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "message", "who"),
    [
        # Rank 1 raises mid-training while ranks 0 and 2 wait in the all-reduce.
        ("fit", "deliberate failure on rank 1 at epoch 2, batch 3", "rank 1 of 3 failed"),
        # Rank 1 raises after fit while the others wait in a barrier (the excepthook).
        ("after", "deliberate failure on rank 1 after training", "rank 1 of 3 failed"),
        # Rank 1 holds different data: every rank detects it, whichever aborts first reports.
        ("data", "X: differs across ranks", "of 3 failed"),
    ],
)
def test_a_failing_rank_ends_the_job(tmp_path, where, message, who):
    result = _train_cases(tmp_path, 3, "--fail", where, "--fail-rank", "1")
    assert result.returncode != 0, result.stdout
    assert message in result.stdout
    assert who in result.stdout
