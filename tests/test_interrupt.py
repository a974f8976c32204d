"""Ctrl-C sends SIGINT to the whole process group, worker processes included: the run stops with exit 130
and one line on stderr (no worker tracebacks, no Dask shutdown warnings), and what was finished is kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _default_sigint() -> None:
    """The child gets Python's Ctrl-C handler even where this run's SIGINT is ignored (a CI job in the background)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _ctrl_c(args: list[str], ready, timeout: float = 180.0) -> tuple[int, list[str]]:
    """Run ``suanli ARGS`` in its own process group and send the group SIGINT once ``ready(stderr so far)``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_sigint)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)
    reader.start()
    try:
        t0 = time.monotonic()
        while not ready("".join(err)) and proc.poll() is None and time.monotonic() - t0 < timeout:
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=timeout)
        reader.join(timeout=30)
        assert not reader.is_alive(), "a worker outlived the run (it still holds stderr)"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    lines = [ln for ln in "".join(err).replace("\r", "\n").splitlines() if ln.strip() and "%|" not in ln]
    return rc, lines


def _one_line_at_the_end(lines: list[str], start: str) -> None:
    """The run ends on its one line about the interrupt, and nothing it printed is a traceback or a
    KeyboardInterrupt (Dask may warn of a slow event loop on a loaded machine before the interrupt)."""
    assert lines and lines[-1].startswith(start), lines
    assert not [ln for ln in lines if "Traceback" in ln or "KeyboardInterrupt" in ln or "Error" in ln], lines


def _records(path: Path) -> int:
    return sum(1 for _ in path.open()) if path.exists() else 0


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_ctrl_c_stops_a_fit_with_one_line_and_keeps_its_evaluations(tmp_path, backend):
    out = tmp_path / "fit"
    log = out / "evaluations.jsonl"
    rc, lines = _ctrl_c(["calibrate", "--reps", "2", "--budget", "500", "--refine", "0", "--quiet",
                         "--free", "city_economy.elasticity_low", "--targets", "p2_thr_low",
                         "--backend", backend, "--workers", "2", "--out", str(out)],
                        lambda _: _records(log) >= 2)
    assert rc == 130
    _one_line_at_the_end(lines, "suanli calibrate: interrupted; ")
    assert "--resume" in lines[-1]
    keys = [json.loads(ln)["key"] for ln in log.open()]
    assert len(keys) >= 2 and len(set(keys)) == len(keys)


@pytest.mark.parametrize("backend", ["processes", "dask"])
@pytest.mark.parametrize("command", ["ensemble", "validate"])
def test_ctrl_c_stops_an_ensemble_or_a_monte_carlo_with_one_line(tmp_path, backend, command):
    out = tmp_path / command
    args = (["ensemble", "--seeds", "1-40"] if command == "ensemble"
            else ["validate", "--estimator", "sfa", "--reps", "20000"])
    started = time.monotonic()
    # after start-up (the ensemble: once a seed's directory exists; validate's progress comes in chunks)
    ready = ((lambda _: len(list(out.glob("seed=*"))) >= 1) if command == "ensemble"
             else (lambda _: time.monotonic() - started > 10.0))
    rc, lines = _ctrl_c([*args, "--backend", backend, "--workers", "2", "--out", str(out)], ready)
    assert rc == 130
    _one_line_at_the_end(lines, "suanli: interrupted; temporary files removed")


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler for the test (a CI job in the background may start with SIGINT ignored)."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can be set only in the main thread")
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def test_a_held_interrupt_comes_after_optunas_write_and_the_handler_is_restored(python_sigint):
    from calibration.fit import _HoldInterrupts

    guard = _HoldInterrupts()
    with pytest.raises(KeyboardInterrupt):
        with guard, guard.held():
            signal.raise_signal(signal.SIGINT)
            reached = True  # held: the write it stands for finishes
    assert reached and signal.getsignal(signal.SIGINT) is signal.default_int_handler

    guard = _HoldInterrupts()
    with pytest.raises(KeyboardInterrupt):
        with guard, guard.held(), guard.released():
            signal.raise_signal(signal.SIGINT)
            pytest.fail("an interrupt during a trial's simulation must stop it at once")

    guard = _HoldInterrupts()
    with pytest.raises(KeyboardInterrupt):
        with guard, guard.held():
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
            pytest.fail("a second Ctrl-C while a write hangs must stop it at once")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_interrupt_stays_ignored_under_the_guard(python_sigint):
    from calibration.fit import _HoldInterrupts

    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        guard = _HoldInterrupts()
        with guard, guard.held(), guard.released():
            signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)
