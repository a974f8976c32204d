"""Every bad input to the ``suanli`` command is one line on stderr, exit code 2, and nothing written.

Each case is checked before anything is simulated, so none of these runs the model; the
working directory (with a user's files in it) must be byte-for-byte the same afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.cli import main

POLICY_FILES = {
    "noassign.py": "class P:\n    pass\n",
    "syntax.py": "def f(:\n",
    "initfail.py": "class P:\n    def __init__(self):\n        raise RuntimeError('boom')\n    def assign(self, problem):\n        return None\n",
    "badsig.py": "class P:\n    def assign(self):\n        return None\n",
    "raise2025.py": ("from sim.policies import make_policy\n\n"
                     "class P:\n"
                     "    def __init__(self):\n"
                     "        self.inner = make_policy('east_west_rule')\n"
                     "    def assign(self, problem):\n"
                     "        if problem.year == 2025:\n"
                     "            raise KeyError('no tariff for node XZ')\n"
                     "        return self.inner.assign(problem)\n"),
}
SCENARIOS = {
    "studies.toml": '[run]\nstudies = ["provinces", "cites"]\n',
    "opts.toml": "[policy.options.cheapest]\nx = 1\n",
    "empty.toml": "",
    "pue.toml": '[parameters]\n"datacentre.pue_2023" = 0.5\n',
    "explosive.toml": ('[scenario]\nend_year = 2012\n[parameters]\n"province_economy.alpha_qty" = 1.0\n'
                       '"province_economy.beta1_qty" = 1.0\n"province_economy.df_qty_shift" = -40.0\n'),
    "pue_neg.toml": '[parameters]\n"datacentre.pue_2023" = -1.0\n',
    "count.toml": '[parameters]\n"firm.count_2017" = 10.5\n',
    "relation.toml": '[parameters]\n"city_economy.threshold_low_yi" = 3000.0\n',
    "latency.toml": "[market]\ninference_latency_ms = 0\n",
    "badpolicy.toml": '[policy]\nafter = "initfail.py:P"\n',
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CASES = [
    # (argv, words the one line must contain)
    (["run", "--scenario", "explosive.toml", "--out", "res"], ["year 2008", "patent rate", "explosive"]),
    (["run", "--out", "user"], ["--out = 'user'", "SuanLi did not write", "a.csv"]),
    (["run", "--out", "keep.txt"], ["--out = 'keep.txt'", "is a file"]),
    (["run", "--out", "."], ["--out = '.'", "not the current directory"]),
    (["run", "--out", "keep.txt/sub"], ["--out = 'keep.txt/sub'", "not a writable directory"]),
    (["ensemble", "--out", "user", "--seeds", "1"], ["--out = 'user'", "SuanLi did not write"]),
    (["ensemble", "--out", "keep.txt", "--seeds", "1"], ["--out = 'keep.txt'", "is a file"]),
    (["run", "--seed", "-1"], ["--seed = -1", "non-negative"]),
    (["run", "--seed", "x"], ["--seed", "invalid int value: 'x'"]),
    (["ensemble", "--workers", "0"], ["--workers = 0", "at least 1"]),
    (["ensemble", "--workers", "-1", "--backend", "dask"], ["--workers = -1", "at least 1"]),
    (["ensemble", "--seeds", "3-x"], ["--seeds = '3-x'"]),
    (["ensemble", "--seeds", "1", "--scheduler", "tcp://127.0.0.1:1", "--backend", "processes"], ["needs --backend dask"]),
    (["run", "--policy", "missing.py:P"], ["policy.after = 'missing.py:P'", "does not exist"]),
    (["run", "--policy", "syntax.py:P"], ["policy.after = 'syntax.py:P'", "SyntaxError"]),
    (["run", "--policy", "noassign.py:P"], ["policy.after = 'noassign.py:P'", "assign"]),
    (["run", "--policy", "noassign.py:Q"], ["policy.after = 'noassign.py:Q'", "'Q'"]),
    (["run", "--policy", "initfail.py:P"], ["policy.after = 'initfail.py:P'", "RuntimeError: boom"]),
    (["run", "--policy", "badsig.py:P"], ["policy.after = 'badsig.py:P'", "one argument"]),
    (["run", "--policy", "cheapest"], ["--policy = 'cheapest'", "local_first"]),
    (["run", "--scenario", "badpolicy.toml", "--years", "2008-2010"], ["policy.after = 'initfail.py:P'", "boom"]),
    (["run", "--scenario", "studies.toml"], ["run.studies", "unknown study 'cites'", "cities"]),
    (["run", "--scenario", "opts.toml"], ["policy.options.cheapest", "unknown policy 'cheapest'"]),
    (["run", "--scenario", "empty.toml"], ["empty.toml", "is empty"]),
    (["run", "--scenario", "adir"], ["scenario adir", "is a directory"]),
    (["run", "--scenario", "bin.toml"], ["bin.toml", "not a UTF-8 text file"]),
    (["run", "--scenario", "nothere.toml"], ["nothere.toml", "no such file"]),
    (["run", "--scenario", "pue.toml"], ["parameters.datacentre.pue_2023 = 0.5", "from 1 to 3"]),
    (["run", "--scenario", "pue_neg.toml"], ["parameters.datacentre.pue_2023 = -1.0", "from 1 to 3"]),
    (["run", "--scenario", "count.toml"], ["parameters.firm.count_2017 = 10.5", "an integer"]),
    (["run", "--scenario", "relation.toml"], ["city_economy.threshold_low_yi = 3000", "threshold_high_yi"]),
    (["run", "--scenario", "latency.toml"], ["market.inference_latency_ms = 0"]),
    (["run", "--years", "2030-2010"], ["--years = '2030-2010'"]),
    (["run", "--formats", "xls"], ["--formats = 'xls'", "parquet, csv, dta"]),
    (["run", "--outputs", "most"], ["--outputs", "invalid choice: 'most'"]),
    (["run", "--nonsense"], ["unrecognized arguments: --nonsense"]),
    (["replicate", "user", "--out", "nofolder/cmp"], ["--out = 'nofolder/cmp'", "does not exist"]),
    (["replicate", "nodir"], ["run directory not found: nodir"]),
    (["sweep", "--set", "carbon_price_cny_per_t=-5", "--seeds", "1"], ["carbon_price_cny_per_t = -5", "from 0 to 5000"]),
    (["sweep", "--set", "network.link_speedup=0", "--seeds", "1"], ["link_speedup = 0", "from 0.1 to 10"]),
    (["sweep", "--set", "market.voucher_share=5", "--seeds", "1"], ["voucher_share = 5", "from 0 to 1"]),
]


def _tree(root: Path) -> dict[str, bytes | None]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = Path(p).read_bytes()
    return out


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "keep.txt").write_text("the user's notes\n")
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "a.csv").write_text("x\n1\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00[scenario]\n")
    for name, text in {**POLICY_FILES, **SCENARIOS}.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _call(argv, capsys) -> tuple[int, list[str]]:
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse errors
        code = stop.code
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


@pytest.mark.parametrize("argv, words", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_is_one_line_exit_2_nothing_written(workdir, capsys, argv, words):
    before = _tree(workdir)
    code, err = _call([*argv, "--quiet"] if argv[0] in ("run", "ensemble") else argv, capsys)
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith("suanli: error: ")
    for w in words:
        assert w in err[0], (w, err[0])
    assert _tree(workdir) == before


def test_unreachable_scheduler_one_line_within_timeout(workdir, capsys):
    before = _tree(workdir)
    port = _closed_port()
    code, err = _call(["ensemble", "--seeds", "1", "--scheduler", f"tcp://127.0.0.1:{port}", "--scheduler-timeout", "1",
                       "--out", "ens", "--quiet"], capsys)
    assert code == 2 and len(err) == 1
    assert f"--scheduler = 'tcp://127.0.0.1:{port}'" in err[0] and "within 1 s" in err[0]
    assert _tree(workdir) == before


def test_policy_that_raises_mid_run_is_one_line_and_writes_nothing(workdir, capsys):
    """A user policy that works until 2025 and then raises: one line naming the policy, the year and its
    error, exit 2, and no output directory (not even a temporary one); with --debug, the user's traceback."""
    before = _tree(workdir)
    argv = ["run", "--policy", "raise2025.py:P", "--years", "2008-2026", "--out", "res", "--quiet"]
    code, err = _call(argv, capsys)
    assert code == 2 and len(err) == 1, err
    for w in ("policy 'raise2025.py:P'", "failed in 2025 season 0", "KeyError", "no tariff for node XZ"):
        assert w in err[0], (w, err[0])
    assert _tree(workdir) == before
    with pytest.raises(Exception) as info:
        main([*argv, "--debug"])
    assert "failed in 2025" in str(info.value) and isinstance(info.value.__cause__, KeyError)
    assert _tree(workdir) == before


def test_debug_shows_the_traceback(workdir, capsys):
    with pytest.raises(ValueError, match="--seed = -1"):
        main(["run", "--seed", "-1", "--debug"])


def test_no_subcommand_prints_help_and_runs_nothing(workdir, capsys):
    before = _tree(workdir)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: suanli" in out and "ensemble" in out
    assert _tree(workdir) == before


def test_list_shows_each_scenario_description(capsys):
    from experiments.scenario import builtin_scenarios, load_scenario

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in builtin_scenarios():
        line = next(l for l in out.splitlines() if l.strip().startswith(name + " "))
        assert load_scenario(name).description in line


def test_console_script_one_line_for_os_errors(tmp_path):
    """A user-level OS error (here: the scenario is unreadable because it is a FIFO-free directory path
    inside a file) also gives one line and exit 2 through the real entry point."""
    f = tmp_path / "f.txt"
    f.write_text("x")
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", "run", "--out", str(f / "out"), "--quiet"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not a writable directory" in proc.stderr
    assert f.read_text() == "x"
