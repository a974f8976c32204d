"""``suanli dashboard``: serve the SolaraViz app on localhost (``solara run experiments.dashboard.app``)."""

from __future__ import annotations

import os
import subprocess
import sys

APP = "experiments.dashboard.app"
ENV_SCENARIO = "SUANLI_DASHBOARD_SCENARIO"
ENV_SEED = "SUANLI_DASHBOARD_SEED"
ENV_COMPARE = "SUANLI_DASHBOARD_COMPARE"
ENV_TIMING = "SUANLI_DASHBOARD_TIMING"


def server_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The ``solara run`` command line of the dashboard (production mode: no reloader watching the tree);
    with ``SUANLI_DASHBOARD_TIMING`` set, Solara also logs each websocket message's seconds (``--timing``)."""
    from experiments.dashboard import timing

    return [sys.executable, "-m", "solara", "run", APP, "--port", str(port), "--host", host, "--production",
            "--no-open", "--log-level", "warning", *(["--timing"] if timing.enabled() else [])]


def server_env(scenario: str | None = None, seed: int | None = None, compare: str | None = None) -> dict[str, str]:
    """Environment passing the CLI options to the app module in the server process."""
    env = dict(os.environ)
    if scenario is not None and os.path.exists(scenario):
        scenario = os.path.abspath(scenario)
    for key, value in ((ENV_SCENARIO, scenario), (ENV_SEED, seed), (ENV_COMPARE, compare and os.path.abspath(compare))):
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    env.setdefault("MPLBACKEND", "Agg")
    if env.get(ENV_TIMING):
        env["PYTHONUNBUFFERED"] = "1"  # Solara prints its timings to stdout, which is a log file here
    return env


def cmd_dashboard(args) -> int:
    from experiments.cli import UsageError
    from experiments.scenario import load_scenario

    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port = {args.port}: must be from 1 to 65535")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed = {args.seed}: must be a non-negative integer")
    load_scenario(args.scenario)  # a bad scenario is refused here, with one line, before the server starts
    from experiments.dashboard.assets import AssetError, ensure_assets

    try:
        fetched = ensure_assets()
    except AssetError as err:
        raise UsageError(str(err)) from None
    if fetched:
        print(f"installed the page's browser files from the npm registry: {', '.join(fetched)}", flush=True)
    cmd = server_command(args.port, args.host)
    print(f"SuanLi dashboard on http://{args.host}:{args.port}/ (compare page: /compare); Ctrl-C stops it", flush=True)
    try:
        return subprocess.call(cmd, env=server_env(args.scenario, args.seed, args.compare))
    except KeyboardInterrupt:
        return 0


def add_parser(subparsers) -> None:
    """The ``suanli dashboard`` subcommand."""
    p = subparsers.add_parser("dashboard", help="interactive SolaraViz dashboard in the browser (live run and compare page)")
    p.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--scenario", help="scenario TOML file or built-in name the controls start from (default: default)")
    p.add_argument("--seed", type=int, help="seed the page starts with (default: the scenario's, else 0)")
    p.add_argument("--compare", help="output directory of `suanli compare` shown on the compare page")
    p.set_defaults(func=cmd_dashboard)
