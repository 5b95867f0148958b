"""Sweeps on Dask give exactly the serial numbers: LocalCluster, and `dask scheduler` + `dask worker`."""

import os
import socket
import subprocess
import sys
import time

import pytest

from topo.experiments import obstruction_table

distributed = pytest.importorskip("distributed")

CONFIG = dict(widths=[(1, 2, 1), (2, 8, 1), (10, 32, 1)], inits=("kaiming", "xavier_uniform"), bias=False,
              method="monte_carlo", n_samples=400, seed=123, chunk_size=100, progress=False)


def records(table):
    return table.to_dict("records") if hasattr(table, "to_dict") else list(table)


@pytest.fixture(scope="module")
def serial():
    return records(obstruction_table(**CONFIG))


def test_local_cluster_identical_to_serial(serial):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        on_dask = records(obstruction_table(**CONFIG, client=client))
        assert len(client.scheduler_info()["workers"]) == 2
        # pathological sweep (torch training) on the same cluster
        pytest.importorskip("torch")
        pytest.importorskip("sklearn")
        from topo.experiments import pathological_sweep

        kw = dict(widths=(2,), l_plus=(0, 1, 2), seeds=(0,), steps=10, n_train=40, n_test=40, progress=False)
        a, b = pathological_sweep(**kw), pathological_sweep(**kw, client=client)
        assert records(a.table) == records(b.table)
        from topo.experiments import regularizer_sweep

        kw = dict(regularizers=("l1", "nuclear"), hidden=(3, 2), max_steps=20, round_steps=10, n_train=40, n_test=40,
                  progress=False)
        assert records(regularizer_sweep(**kw).table) == records(regularizer_sweep(**kw, client=client).table)
    assert on_dask == serial


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_workers(address: str, n: int, timeout: float = 60.0):
    deadline = time.time() + timeout
    with distributed.Client(address, timeout="30s") as client:
        while len(client.scheduler_info()["workers"]) < n:
            if time.time() > deadline:
                raise TimeoutError(f"only {len(client.scheduler_info()['workers'])} of {n} workers joined")
            time.sleep(0.2)


def test_scheduler_and_worker_commands(serial, tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), os.path.dirname(os.path.dirname(__file__)),
                                          env.get("PYTHONPATH", "")])
    dask = [sys.executable, "-m", "dask"]  # the `dask` command of this interpreter
    sched = subprocess.Popen(dask + ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        worker = subprocess.Popen(dask + ["worker", address, "--nworkers", "2",
                                   "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"],
                                  env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_workers(address, 2)
        on_dask = records(obstruction_table(**CONFIG, client=address))
        assert on_dask == serial
        # and through the command line
        cfg = tmp_path / "sweep.json"
        import json

        cfg.write_text(json.dumps({"experiment": "obstruction", **{k: v for k, v in CONFIG.items()
                                                                   if k != "progress"}}))
        out = tmp_path / "t.json"
        r = subprocess.run([sys.executable, "-m", "topo.cli", "sweep", str(cfg), "--scheduler", address,
                            "--out", str(out), "-q"], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        got = json.loads(out.read_text())["table"]
        assert [g["per_unit"] for g in got] == [s["per_unit"] for s in serial]
    finally:
        for p in (worker, sched):
            if p is not None:
                p.terminate()
        for p in (worker, sched):
            if p is not None:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
