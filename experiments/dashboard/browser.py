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
                     timeout: float = 90.0, log_path: str | Path | None = None, env: dict[str, str] | None = None):
    """``suanli dashboard`` in a child process on 127.0.0.1 (``env``: extra environment, e.g. the timing
    switch of ``timing.ENV``); yields (url, process); stops it on exit."""
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
                                    env={**os.environ, "MPLBACKEND": "Agg", **(env or {})})
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
        time.sleep(0.2)  # poll interval while the server starts


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
    """Open the live page and wait until it is fully built: the first tab's grid (SolaraViz lays it out in a
    second pass, after the buttons are up) and the echo of the committed controls."""
    page.goto(url)
    wait_selector(page, ".suanli-view-summary")
    wait_selector(page, ".suanli-committed span[data-control]")


def control(page, label: str):
    """The Vuetify input whose label is ``label``."""
    return page.locator(".v-input", has=page.locator("label", has_text=label)).first


def wait_committed(page, label: str, value, timeout: float = 30_000) -> None:
    """Wait until the server holds ``value`` for the control labelled ``label``.

    The page echoes the control values the next Reset will use (``views.committed_html``); a control
    moved in the browser reaches the server a little later (Jupyter widgets hold back state updates
    while earlier ones are unanswered, and clicks are not held back), so a Reset pressed before
    the echo shows the value could build the model with the old one.
    """
    from experiments.dashboard.session import CONTROLS, control_text

    name = next(c.name for c in CONTROLS if c.label == label)
    wait_js(page, """([name, text]) => [...document.querySelectorAll(".suanli-committed span[data-control]")]
        .some(el => el.dataset.control === name && el.dataset.value === text)""", [name, control_text(value)], timeout)


def wait_js(page, predicate: str, arg=None, timeout: float = 60_000) -> None:
    """Wait until the JavaScript ``predicate(arg)`` is true in the page, checked every 20 ms (a locator's
    wait backs off to half a second between checks, which would be most of a step's measured time)."""
    page.wait_for_function(predicate, arg=arg, polling=20, timeout=timeout)


def wait_selector(page, selector: str, text: str | None = None, present: bool = True, timeout: float = 60_000) -> None:
    """Wait until an element matching ``selector`` (and containing ``text``, if given) is on the page, or, with
    ``present=False``, until none is."""
    wait_js(page, """([sel, text, present]) => [...document.querySelectorAll(sel)]
        .some(el => text === null || el.textContent.includes(text)) === present""", [selector, text, present], timeout)


def set_slider(page, label: str, value: float, step: float | None = None) -> float:
    """Move a slider with the keyboard as a person would (Vuetify: PageUp/PageDown jump ten steps, arrows one)
    and wait until the server holds the value; returns the value it shows. ``step`` defaults to the
    control's step in ``session.SLIDERS``."""
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
    shown = float(thumb.get_attribute("aria-valuenow"))
    wait_committed(page, label, shown)
    return shown


def slider_to_end(page, label: str, key: str = "End") -> float:
    """Press End (or ``key``) on a slider, wait until the server holds the value; returns it."""
    thumb = control(page, label).get_by_role("slider")
    thumb.focus()
    thumb.press(key)
    shown = float(thumb.get_attribute("aria-valuenow"))
    wait_committed(page, label, shown)
    return shown


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the select labelled ``label`` and wait until the server holds it."""
    control(page, label).locator(".v-select__slot").click()
    page.locator(".menuable__content__active .v-list-item", has_text=option).first.click()
    page.locator(".menuable__content__active").wait_for(state="hidden")
    wait_committed(page, label, option)


def type_text(page, label: str, text: str) -> None:
    """Type into a text control, commit it (Enter, then Tab to blur) and wait until the server holds it."""
    box = control(page, label).locator("input")
    box.fill(text)
    box.press("Enter")
    box.press("Tab")
    wait_committed(page, label, text)


def press(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def reset(page) -> None:
    press(page, "Reset")


def wait_step_disabled(page, timeout: float = 30_000) -> None:
    """Wait until Step is greyed out: the server has stepped a model that cannot run (or has ended)."""
    from playwright.sync_api import expect

    expect(page.get_by_role("button", name="Step", exact=True)).to_be_disabled(timeout=timeout)


def step(page, expect_year: int, timeout: float = 60_000) -> float:
    """Press Step and wait until the page shows ``expect_year``; returns the seconds it took."""
    t0 = time.perf_counter()
    press(page, "Step")
    wait_selector(page, f'.suanli-year[data-year="{expect_year}"]', timeout=timeout)
    return time.perf_counter() - t0


def open_tab(page, index: int) -> None:
    """Open SolaraViz's tab ``index`` (labelled 'Page N')."""
    page.get_by_role("tab", name=f"Page {index}").click()


# true once the summary (if asked for) and every named figure of the year are on the page, their images loaded
_DRAWN = """([year, names, summary]) =>
    (!summary || document.querySelector(`.suanli-year[data-year="${year}"]`) !== null) &&
    names.every(n => { const im = document.querySelector(`.suanli-view-${n} img.suanli-img-${year}`);
                       return im !== null && im.complete && im.naturalWidth > 0; })"""


def wait_figures(page, names=("map",), year: int | None = None, timeout: float = 60_000) -> None:
    """Wait until every figure view shows its image, loaded (of ``year`` if given)."""
    if year is None:
        for name in names:
            page.locator(f".suanli-view-{name} img").first.wait_for(timeout=timeout)
        return
    wait_js(page, _DRAWN, [year, list(names), False], timeout)


def step_drawn(page, year: int, names=(), summary: bool = True, timeout: float = 60_000) -> float:
    """Seconds from the click on Step to the frame after the year's summary and ``names`` figures are drawn,
    timed in the page (``performance.now``), polling every 5 ms: no Playwright round trips in the figure."""
    return page.evaluate("""async ([year, names, summary, timeout]) => {
        const drawn = %s;
        const button = [...document.querySelectorAll("button")].find(b => b.innerText.trim().toLowerCase() === "step");
        const t0 = performance.now();
        button.click();
        while (!drawn([year, names, summary])) {
            if (performance.now() - t0 > timeout) throw new Error(`year ${year} not drawn within ${timeout} ms`);
            await new Promise(r => setTimeout(r, 5));
        }
        await new Promise(r => requestAnimationFrame(() => r()));
        return (performance.now() - t0) / 1000;
    }""" % _DRAWN, [year, list(names), summary, timeout])


def wait_settled(page, timeout: float = 180_000) -> None:
    """Wait until the page is fit for a screenshot: Solara no longer dims it as loading, its content has
    finished fading in, and every image on it is loaded."""
    wait_js(page, """() => document.querySelector(".solara-page-loading") === null &&
        [...document.querySelectorAll(".solara-content-main")].every(
            el => el.getAnimations().every(a => a.playState !== "running")) &&
        [...document.images].every(im => im.complete && im.naturalWidth > 0)""", None, timeout)


def read_summary(page) -> dict[str, str]:
    """The exact values of the year's summary table: metric -> repr of the float (or the text)."""
    cells = page.locator(".suanli-summary").first.locator("td.value")
    return {c.get_attribute("data-metric"): c.get_attribute("data-value") for c in cells.all()}


def message(page) -> str | None:
    box = page.locator(".suanli-message")
    return box.first.inner_text() if box.count() else None
