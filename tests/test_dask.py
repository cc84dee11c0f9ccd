"""GridSearchCV over a chainrule estimator on a Dask cluster (joblib's Dask backend).

The test starts its own ``LocalCluster`` of two worker processes, closes it in a
``finally`` and checks with psutil that no process it started is left. The same code
runs on a real cluster by giving ``Client`` the scheduler's address (docs/sklearn.md).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("sklearn")
distributed = pytest.importorskip("dask.distributed")
psutil = pytest.importorskip("psutil")

import joblib  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from chainrule.sklearn import MLPClassifier  # noqa: E402

GRID = {"hidden_layer_sizes": [(4,), (16,)], "alpha": [1e-4, 1.0]}


def _children() -> dict[int, str]:
    out = {}
    for p in psutil.Process().children(recursive=True):
        try:
            out[p.pid] = " ".join(p.cmdline())
        except psutil.NoSuchProcess:
            pass
    return out


def _search(n_jobs: int | None) -> GridSearchCV:
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    est = MLPClassifier(solver="lbfgs", max_iter=60, random_state=0)
    return GridSearchCV(est, GRID, cv=3, n_jobs=n_jobs).fit(X, y)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_gridsearch_with_joblib_dask_backend_on_local_cluster():
    before = set(_children())
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        with distributed.Client(cluster) as client:
            workers = set(client.scheduler_info()["workers"])
            worker_pids = set(client.run(os.getpid).values())
            started = set(_children()) - before
            with distributed.get_task_stream(client) as tasks:
                with joblib.parallel_backend("dask"):
                    grid = _search(n_jobs=-1)
            executed_on = {t["worker"] for t in tasks.data}
    finally:
        cluster.close()
    # The fits ran in the cluster's two worker processes, children of this test …
    assert len(workers) == 2 and len(worker_pids) == 2 and worker_pids <= started
    assert os.getpid() not in worker_pids
    assert len(tasks.data) >= len(GRID["alpha"]) * len(GRID["hidden_layer_sizes"]) * 3
    assert executed_on and executed_on <= workers
    # … and gave exactly the sequential search's results (L-BFGS is deterministic).
    sequential = _search(n_jobs=None)
    np.testing.assert_array_equal(
        grid.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )
    assert grid.best_params_ == sequential.best_params_
    # No process started by the cluster survives it. Python's multiprocessing resource
    # tracker (one per interpreter, started on first use) lives as long as this
    # interpreter by design; it is not a Dask process and holds no work.
    procs = []
    for pid in started:
        try:
            proc = psutil.Process(pid)
            if "resource_tracker" not in " ".join(proc.cmdline()):
                procs.append(proc)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=15)
    leftover = {
        pid: cmd for pid, cmd in _children().items()
        if pid not in before and "resource_tracker" not in cmd
    }
    assert not alive and not leftover, leftover
