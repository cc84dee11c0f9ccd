"""chainrule.distributed: data-parallel training under mpirun equals one process.

The MPI tests start ``mpirun`` themselves (tests/mpi_scripts/train_cases.py), with
a timeout, in their own process group, and check that no process outlives them and,
for train_cases.py, that no MPICH shared-memory segment of theirs is left in /dev/shm.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

import chainrule as cr
from chainrule.distributed import remove_stale_shm, share

SCRIPTS = Path(__file__).parent / "mpi_scripts"
TIMEOUT = 120  # seconds per mpirun; the cases take about one second


def _mpirun() -> list[str]:
    """mpirun from the mpich wheel next to this Python (else PATH), with the flags it needs."""
    local = Path(sys.executable).parent / "mpirun"
    exe = str(local) if local.exists() else shutil.which("mpirun")
    if exe is None or importlib.util.find_spec("mpi4py") is None:
        # The test extra installs mpi4py and the mpich wheel, so CI always has them: missing
        # is an installation error to report, not a reason to skip.
        pytest.fail("needs the 'mpi' extra: pip install 'chainrule[mpi]' (mpi4py + mpich)")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    if "Open MPI" not in version.stdout:
        return [exe]
    # Three ranks on a two-core machine, maybe as root (containers): MPICH allows both,
    # Open MPI must be told.
    as_root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    return [exe, "--oversubscribe", *as_root]


MARKER = "CHAINRULE_TEST_MPI_RUN"  # in every child's environment: finds leftovers


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _children_env(marker: str, threads: bool = True, **extra: str) -> dict[str, str]:
    # One BLAS thread per rank: the ranks already fill the cores. threads=False leaves
    # the variables unset, for distributed.fit to choose.
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    if threads:
        env.update(dict.fromkeys(THREAD_VARS, "1"))
    return {**env, **extra, MARKER: marker}


def _run(cmd: list[str], marker: str, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` in a new process group; kill the group on timeout; fail if a process
    started with ``marker`` in its environment is still alive afterwards."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_children_env(marker) if env is None else {**env, MARKER: marker},
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
        for p in psutil.process_iter(["cmdline", "environ"]):
            if (p.info["environ"] or {}).get(MARKER) == marker:
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


def _train_cases(tmp_path: Path, n_ranks: int | None, *extra: str,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    script = [sys.executable, str(SCRIPTS / "train_cases.py"), str(tmp_path), *extra]
    cmd = script if n_ranks is None else [*_mpirun(), "-n", str(n_ranks), *script]
    result = _run(cmd, marker=str(tmp_path), env=env)
    _assert_no_segment_left(tmp_path, n_ranks or 1)
    return result


def _assert_no_segment_left(out_dir: Path, n_ranks: int) -> None:
    """Every segment the ranks mapped (each wrote shm.rank<r>.txt) is gone from /dev/shm.

    MPICH creates /dev/shm/mpich_shm_<world id>_<node id> in MPI_Init and unlinks it in
    the last MPI_Finalize of the node, so a failed job used to leave it behind;
    chainrule.distributed unlinks the name as soon as MPI is up.
    """
    segments: set[str] = set()
    for r in range(n_ranks):
        record = out_dir / f"shm.rank{r}.txt"
        if record.exists():  # a rank that fails before writing it has mapped nothing yet
            segments.update(record.read_text().split())
    if n_ranks > 1 and (out_dir / "shm.rank0.txt").exists():
        # The mpich wheel on one machine always talks through shared memory: an empty
        # record would mean this check checks nothing.
        assert segments, "no rank recorded an MPICH shared-memory segment"
    left = sorted(p for p in segments if os.path.exists(p))
    assert not left, f"shared-memory segments left behind: {left}"


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


class _ThreadComm:
    """Ranks as threads of this process: Allreduce(SUM) through a barrier, in rank order.

    Enough of a communicator for :class:`MPIReducer`, so its arithmetic is tested against
    the training Step without mpirun (the mpirun tests below cover MPI itself).
    """

    def __init__(self, rank: int, size: int, bufs: list, barrier: threading.Barrier) -> None:
        self.rank, self.size, self.bufs, self.barrier = rank, size, bufs, barrier

    def Get_rank(self) -> int:  # noqa: N802 - mpi4py's names
        return self.rank

    def Get_size(self) -> int:  # noqa: N802
        return self.size

    def Allreduce(self, _in_place: object, buf: np.ndarray, op: object) -> None:  # noqa: N802
        self.bufs[self.rank] = buf
        self.barrier.wait()
        total = np.sum([b.copy() for b in self.bufs], axis=0)
        self.barrier.wait()  # every rank has read every buffer before any overwrites its own
        buf[...] = total


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("m", [7, 1])  # 1: an empty share on rank 1
def test_mpi_reducer_steps_like_one_process(monkeypatch, m, weighted):
    from chainrule.distributed import MPIReducer
    from chainrule.training import Step

    fake_mpi = SimpleNamespace(IN_PLACE=None, SUM=None)  # all the reducer reads of MPI
    monkeypatch.setitem(sys.modules, "mpi4py", SimpleNamespace(MPI=fake_mpi))
    rng = np.random.default_rng(3)
    xb, yb = rng.normal(size=(m, 3)), np.eye(2)[rng.integers(0, 2, m)]
    sb = np.array([0.0, 2.0, 1.0, 0.0, 3.0, 1.0, 2.0])[:m] if weighted else None

    def net() -> cr.Network:
        return cr.MLP([3, 5, 2], output="softmax", loss="cross_entropy", dropout=0.3,
                      dtype="float64", seed=0)

    one = net()
    Step(one, cr.SGD(0.1))(xb, yb, sb, epoch=1, batch=1)
    size, bufs, barrier = 2, [None, None], threading.Barrier(2)
    nets, results = [net() for _ in range(size)], [None] * size

    def rank(r: int) -> None:
        reducer = MPIReducer(nets[r], _ThreadComm(r, size, bufs, barrier))
        step = Step(nets[r], cr.SGD(0.1), reducer=reducer, dropout_rng=reducer.dropout_rng)
        results[r] = step(xb, yb, sb, epoch=1, batch=1)

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results[0] == results[1] and results[0][1] == m
    assert np.array_equal(nets[0].params, nets[1].params)
    np.testing.assert_allclose(nets[0].params, one.params, rtol=0, atol=1e-12)


def test_import_chainrule_does_not_load_mpi():
    code = "import sys, chainrule; assert 'mpi4py' not in sys.modules, 'mpi4py was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- exactness --------------------------------------------------------------------------------
def _check_against_one_process(out_dir: Path, n_ranks: int,
                               names: list[str] | None = None) -> None:
    cases = _cases()
    for name in names or cases.CASES:
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


@pytest.mark.parametrize(
    ("how", "message"),
    [
        # Hydra kills the job when a rank exits without MPI_Finalize, but reports that
        # rank's exit code as the job's: 0, with no output, unless fit intervenes.
        ("exit0", "rank 1 of 3 called os._exit(0) during distributed.fit"),
        # SIGKILL leaves nothing to intervene: hydra reports the signal (exit code 9).
        ("sigkill", "Killed (signal 9)"),
    ],
)
def test_a_rank_leaving_mid_training_fails_the_job_at_once(tmp_path, how, message):
    result = _train_cases(tmp_path, 3, "--fail", how, "--fail-rank", "1")
    ended = time.time()
    assert result.returncode != 0, result.stdout
    assert message in result.stdout, result.stdout
    left = float((tmp_path / "left.time").read_text())
    assert ended - left < 10, f"the job ended {ended - left:.1f} s after rank 1 left"


@pytest.mark.parametrize(
    ("fail_rank", "message"),
    [
        # Rank 1 stops alone and waits for rank 0's confirmation, which never comes
        # (rank 0 waits in an all-reduce): after the timeout + 2 s, rank 1 aborts.
        ("1", "rank 1 of 3 finished distributed.fit, but rank 0 did not confirm within 4 s"),
        # Rank 0 stops alone: it knows who is missing.
        ("0", "ranks 1, 2 of 3 did not finish distributed.fit within 2 s of rank 0"),
    ],
)
def test_a_rank_leaving_training_early_fails_the_job(tmp_path, fail_rank, message):
    env = _children_env(str(tmp_path), CHAINRULE_MPI_FINISH_TIMEOUT="2")
    start = time.monotonic()
    result = _train_cases(tmp_path, 3, "--fail", "stop", "--fail-rank", fail_rank, env=env)
    assert result.returncode != 0, result.stdout
    assert message in result.stdout, result.stdout
    assert time.monotonic() - start < 60


def test_blas_threads_default_to_the_cores_per_rank(tmp_path):
    # No thread variable set: fit gives each of the 2 ranks its share of the cores (on
    # this 2-core machine one thread each, not 2 × 2 threads spinning on 2 cores).
    result = _train_cases(tmp_path, 2, env=_children_env(str(tmp_path), threads=False))
    assert result.returncode == 0, result.stdout
    expected = max(1, len(os.sched_getaffinity(0)) // 2)
    for r in range(2):
        counts = json.loads((tmp_path / f"threads.rank{r}.json").read_text())
        assert counts and all(n == expected for n in counts), (r, counts, expected)


def test_blas_threads_set_by_the_user_are_kept(tmp_path):
    # A number other than fit's default (OpenBLAS caps it at the number of cores).
    cores = len(os.sched_getaffinity(0))
    default = max(1, cores // 2)
    chosen = 2 if default == 1 else 1
    if chosen > cores:
        pytest.skip("one core: the user's choice and the default coincide")
    env = _children_env(str(tmp_path), threads=False, OPENBLAS_NUM_THREADS=str(chosen))
    result = _train_cases(tmp_path, 2, env=env)
    assert result.returncode == 0, result.stdout
    for r in range(2):
        assert json.loads((tmp_path / f"threads.rank{r}.json").read_text()) == [chosen]


def test_remove_stale_shm_removes_only_unused_old_segments(tmp_path):
    import mmap

    old = time.time() - 3600
    stale, young, mapped, other = (
        tmp_path / name
        for name in ["mpich_shm_deadbeef_0", "mpich_shm_0badf00d_0", "mpich_shm_1234abcd_1",
                     "not_mpich_shm_1_0"]
    )
    for path in (stale, young, mapped, other):
        path.write_bytes(b"\0" * 4096)
    for path in (stale, mapped, other):
        os.utime(path, (old, old))
    with open(mapped, "r+b") as f, mmap.mmap(f.fileno(), 4096):
        # mapped by a live process (this one): kept, however old
        removed = remove_stale_shm(str(tmp_path), min_age=60)
    assert removed == [str(stale)]
    assert not stale.exists() and young.exists() and mapped.exists() and other.exists()


# -- the command line -------------------------------------------------------------------------
def _cli(tmp_path: Path, n_ranks: int, *args: str, cwd: Path | None = None):
    cmd = [*_mpirun(), "-n", str(n_ranks), sys.executable, "-m", "chainrule", "train", *args]
    return _run(cmd, marker=str(tmp_path), cwd=cwd)


def _weights(run_dir: Path) -> np.ndarray:
    from chainrule.io.model import load

    return load(run_dir / "model.safetensors").params


def _single_process_cli(*args: str) -> None:
    from threadpoolctl import threadpool_limits

    from chainrule.cli import main

    with threadpool_limits(1):  # as in the MPI ranks: the same BLAS code path
        assert main(["train", "--quiet", *args]) == 0


@pytest.mark.slow
def test_cli_distributed_float64_is_exact_and_only_rank0_writes(tmp_path):
    common = ["--dataset", "digits", "--seed", "0", "--dtype", "float64", "--epochs", "3"]
    work = tmp_path / "work"
    work.mkdir()
    # No --out: every rank that wrote would make its own runs/<timestamp>[-k] directory.
    result = _cli(tmp_path, 2, "--distributed", *common, cwd=work)
    assert result.returncode == 0, result.stdout
    runs = list((work / "runs").iterdir())
    assert len(runs) == 1, f"expected one run directory (rank 0), found {runs}"
    assert result.stdout.count("wrote ") == 1 and result.stdout.count("epoch 3/3") == 1
    _single_process_cli(*common, "--out", str(tmp_path / "single"))
    err = np.max(np.abs(_weights(runs[0]) - _weights(tmp_path / "single")))
    assert err <= 1e-12, f"max |Δw| = {err:g}"


@pytest.mark.slow
def test_cli_distributed_float32_gives_the_same_model(tmp_path):
    """The issue's commands: ``mpirun -n 2 chainrule train --distributed --dataset digits
    --seed 0 --out A`` against ``chainrule train --dataset digits --seed 0 --out B``.

    Bit-for-bit equality is out of reach in float32: the two sum each batch's gradient
    in a different order, and the difference (~4e-8 relative after one step) stays at
    rounding level until a sample's z lands within rounding of a ReLU kink. On this
    data that happens at step 22 (z = −6.7e−8 in one run, +5.3e−7 in the other, for a
    unit active on almost no other sample), and Adam then sends that unit's row down
    a different path: after 20 epochs the weights differ by ~0.5 % (relative L2). A
    one-ulp change of the initial weights in a single process can do the same. The
    float64 test above shows the arithmetic is exact; here the models must agree in
    what they compute.
    """
    common = ["--dataset", "digits", "--seed", "0"]
    a, b = tmp_path / "A", tmp_path / "B"
    result = _cli(tmp_path, 2, "--quiet", "--distributed", *common, "--out", str(a))
    assert result.returncode == 0, result.stdout
    _single_process_cli(*common, "--out", str(b))

    from chainrule import datasets
    from chainrule.io.model import load

    net_a, net_b = load(a / "model.safetensors"), load(b / "model.safetensors")
    assert net_a.params.dtype == net_b.params.dtype == np.float32
    diff = np.linalg.norm(net_a.params.astype(np.float64) - net_b.params)
    assert diff / np.linalg.norm(net_b.params) <= 2e-2
    X = datasets.load("digits").X
    agree = np.mean(net_a.predict_classes(X) == net_b.predict_classes(X))
    assert agree >= 0.995, f"the two models classify {100 * (1 - agree):.2f} % differently"
    np.testing.assert_allclose(net_a.predict(X), net_b.predict(X), atol=0.05)


def test_cli_rank_failing_before_fit_ends_the_job(tmp_path):
    # MPMD launch: rank 1 cannot read its data, rank 0 goes on into fit's first
    # broadcast and would wait there for ever unless rank 1 aborts the job.
    common = ["train", "--quiet", "--distributed", "--epochs", "2", "--out", str(tmp_path / "r")]
    py = [sys.executable, "-m", "chainrule", *common]
    missing = tmp_path / "missing.csv"
    cmd = [
        *_mpirun(),
        "-n",
        "1",
        *py,
        "--dataset",
        "moons",
        ":",
        "-n",
        "1",
        *py,
        "--dataset",
        "csv",
        "--csv",
        str(missing),
        "--target",
        "y",
    ]
    result = _run(cmd, marker=str(tmp_path))
    assert result.returncode != 0, result.stdout
    assert f"{missing}: no such CSV file" in result.stdout
    assert "rank 1 of 2 failed" in result.stdout
