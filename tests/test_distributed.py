"""Distributed for real: a `dask scheduler` and two `dask worker` processes on 127.0.0.1, an
ensemble through ``suanli ensemble --scheduler tcp://127.0.0.1:PORT``, byte-identical to serial."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DASK = shutil.which("dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _files(d: Path) -> dict[str, bytes]:
    """A replication's files; run.json without ``git_commit`` (the tree each process ran from, which
    moves if the tree is committed during the test)."""
    out = {p.name: p.read_bytes() for p in sorted(d.iterdir())}
    if "run.json" in out:
        info = json.loads(out["run.json"])
        info.pop("git_commit", None)
        out["run.json"] = json.dumps(info, sort_keys=True).encode()
    return out


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-threaded workers as separate OS processes; torn down afterwards."""
    if DASK is None:
        pytest.fail("the `dask` command (dask[distributed]) is a test dependency and must be installed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = open(tmp_path / "dask.log", "w")
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)]
    try:
        for i in range(2):
            procs.append(subprocess.Popen(
                [DASK, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1",
                 "--name", f"w{i}", "--local-directory", str(tmp_path / f"w{i}")],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        from distributed import Client

        deadline = time.time() + 90
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=max(1, deadline - time.time()))
                break
            except (OSError, TimeoutError):
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        yield address, procs
    finally:
        for p in reversed(procs):
            _stop(p)
        log.close()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args, "--quiet"], cwd=cwd, capture_output=True,
                          text=True, timeout=900)


def test_ensemble_on_a_real_dask_cluster_matches_serial(tmp_path, cluster):
    address, procs = cluster
    common = ("--seeds", "1-2", "--years", "2008-2012")
    serial = _cli("ensemble", *common, "--backend", "serial", "--out", str(tmp_path / "serial"), cwd=tmp_path)
    assert serial.returncode == 0, serial.stderr
    dist = _cli("ensemble", *common, "--scheduler", address, "--out", str(tmp_path / "dask"), cwd=tmp_path)
    assert dist.returncode == 0, dist.stderr
    for s in (1, 2):
        a, b = _files(tmp_path / "serial" / f"seed={s}"), _files(tmp_path / "dask" / f"seed={s}")
        assert a == b, sorted(k for k in a if a.get(k) != b.get(k))
    assert (tmp_path / "serial" / "ensemble_summary.parquet").read_bytes() == \
        (tmp_path / "dask" / "ensemble_summary.parquet").read_bytes()
    assert _files(tmp_path / "serial" / "seed=1") != _files(tmp_path / "serial" / "seed=2")
    assert all(p.poll() is None for p in procs), "a cluster process died during the run"
