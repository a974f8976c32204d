"""Where a simulated year's seconds go in the live page, for the benchmark: each phase (the model's
year, a figure's tables and matplotlib objects, its drawing and PNG encoding) is written to the
server's stderr as one ``suanli-timing`` line when ``SUANLI_DASHBOARD_TIMING`` is set, and not
measured at all otherwise. ``benchmarks/dashboard.py`` starts the server with it and reads the
lines back with ``parse``; Solara's own ``--timing`` adds each websocket message's kernel seconds.
"""

from __future__ import annotations

import os
import re
import sys
import time
from contextlib import contextmanager

from experiments.dashboard.cli import ENV_TIMING as ENV

PREFIX = "suanli-timing"
_LINE = re.compile(rf"^{PREFIX} (?P<phase>\S+)(?P<tags>(?: \w+=\S+)*) wall=(?P<wall>[\d.]+) cpu=(?P<cpu>[\d.]+)$")
_SOLARA = re.compile(r"^timing: total=(?P<total>[\d.]+)s, deserialize=[\d.]+s, kernel=(?P<kernel>[\d.]+)s")


def enabled() -> bool:
    return bool(os.environ.get(ENV))


@contextmanager
def phase(name: str, **tags):
    """Time the block (wall and this process's CPU seconds) and log it, if timing is on."""
    if not enabled():
        yield
        return
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        text = "".join(f" {k}={v}" for k, v in tags.items())
        print(f"{PREFIX} {name}{text} wall={wall:.4f} cpu={cpu:.4f}", file=sys.stderr, flush=True)


def parse(lines) -> list[dict]:
    """The phases (phase, tags..., wall, cpu) and Solara's message timings (phase 'message', total, kernel) in ``lines``."""
    out = []
    for line in lines:
        if m := _LINE.match(line.strip()):
            tags = dict(t.split("=", 1) for t in m["tags"].split())
            out.append({"phase": m["phase"], **tags, "wall": float(m["wall"]), "cpu": float(m["cpu"])})
        elif m := _SOLARA.match(line.strip()):
            out.append({"phase": "message", "wall": float(m["total"]), "kernel": float(m["kernel"])})
    return out
