"""Drive the dashboard from a real headless browser (Debian's Chromium through Playwright), for the
browser test, the benchmark and screenshots: start the server on a free localhost port, move
controls, press Reset/Step, read the year's summary from the page.

Nothing here downloads a browser: ``CHROMIUM`` is the system's, passed as ``executable_path``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = os.environ.get("SUANLI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard_server(scenario: str | None = None, compare: str | None = None, port: int | None = None,
                     timeout: float = 90.0, log_path: str | Path | None = None):
    """``suanli dashboard`` in a child process on 127.0.0.1; yields (url, process); stops it on exit."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "experiments.cli", "dashboard", "--port", str(port)]
    if scenario:
        cmd += ["--scenario", str(scenario)]
    if compare:
        cmd += ["--compare", str(compare)]
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory(prefix="suanli-dashboard-") as tmp:
        log_file = Path(log_path) if log_path else Path(tmp) / "server.log"
        with open(log_file, "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, "MPLBACKEND": "Agg"})
            try:
                _wait_until_up(url, proc, log_file, timeout)
                yield url, proc
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()


def _wait_until_up(url: str, proc, log_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard exited with {proc.returncode}:\n{log_file.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"dashboard did not answer on {url} within {timeout:.0f} s")
        time.sleep(0.5)


@contextmanager
def browser(width: int = 1600, height: int = 1300):
    """A fresh headless Chromium context (own user-data dir); yields a page."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="suanli-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                                   viewport={"width": width, "height": height})
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.set_default_timeout(60_000)
            yield page
        finally:
            ctx.close()


# ----- the live page ----------------------------------------------------------------------------------
def open_live(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Step").wait_for()


def control(page, label: str):
    """The Vuetify input whose label is ``label``."""
    return page.locator(".v-input", has=page.locator("label", has_text=label)).first


def set_slider(page, label: str, value: float, step: float | None = None) -> float:
    """Move a slider with the keyboard as a person would (Vuetify: PageUp/PageDown jump ten steps, arrows one);
    returns the value it shows. ``step`` defaults to the control's step in ``session.SLIDERS``."""
    from experiments.dashboard.session import CONTROLS, SLIDERS

    if step is None:
        step = next(SLIDERS[c.name][2] for c in CONTROLS if c.label == label)
    thumb = control(page, label).get_by_role("slider")
    thumb.focus()
    lo, hi = float(thumb.get_attribute("aria-valuemin")), float(thumb.get_attribute("aria-valuemax"))
    now = float(thumb.get_attribute("aria-valuenow"))
    n = (hi - lo) / step
    jump = step * (n / 10 if n > 100 else 10)
    moves = round((value - now) / step)
    jumps, rest = divmod(abs(moves) * step, jump)
    for _ in range(int(jumps)):
        thumb.press("PageUp" if moves > 0 else "PageDown")
    for _ in range(round(rest / step)):
        thumb.press("ArrowRight" if moves > 0 else "ArrowLeft")
    return float(thumb.get_attribute("aria-valuenow"))


def slider_to_end(page, label: str, key: str = "End") -> float:
    thumb = control(page, label).get_by_role("slider")
    thumb.focus()
    thumb.press(key)
    return float(thumb.get_attribute("aria-valuenow"))


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the select labelled ``label``."""
    control(page, label).locator(".v-select__slot").click()
    page.locator(".menuable__content__active .v-list-item", has_text=option).first.click()
    page.locator(".menuable__content__active").wait_for(state="hidden")


def type_text(page, label: str, text: str, settle_ms: int = 750) -> None:
    """Type into a text control and commit it (Enter, then Tab to blur), then give the websocket time to
    carry the value to the server before the next click (a Reset right after could otherwise race it)."""
    box = control(page, label).locator("input")
    box.fill(text)
    box.press("Enter")
    box.press("Tab")
    page.wait_for_timeout(settle_ms)


def press(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def reset(page) -> None:
    press(page, "Reset")


def step(page, expect_year: int, timeout: float = 60_000) -> float:
    """Press Step and wait until the page shows ``expect_year``; returns the seconds it took."""
    t0 = time.perf_counter()
    press(page, "Step")
    page.locator(f'.suanli-year[data-year="{expect_year}"]').wait_for(timeout=timeout)
    return time.perf_counter() - t0


def open_tab(page, index: int) -> None:
    """Open SolaraViz's tab ``index`` (labelled 'Page N')."""
    page.get_by_role("tab", name=f"Page {index}").click()


def wait_figures(page, names=("map",), year: int | None = None,
                 timeout: float = 60_000) -> None:
    """Wait until every figure view shows an image (of ``year`` if given)."""
    for name in names:
        sel = f".suanli-view-{name} img" if year is None else f".suanli-view-{name}.suanli-fig-{year} img"
        page.locator(sel).first.wait_for(timeout=timeout)


def read_summary(page) -> dict[str, str]:
    """The exact values of the year's summary table: metric -> repr of the float (or the text)."""
    cells = page.locator(".suanli-summary").first.locator("td.value")
    return {c.get_attribute("data-metric"): c.get_attribute("data-value") for c in cells.all()}


def message(page) -> str | None:
    box = page.locator(".suanli-message")
    return box.first.inner_text() if box.count() else None
