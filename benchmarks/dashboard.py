"""Dashboard responsiveness: seconds from pressing Step to a fully drawn year, on the default scale.

Two measurements in one run:
  * in process: one simulated year (``DashboardModel.step``, the model alone) against the same year
    plus drawing every view (figures of ``experiments.figures`` to PNG), year by year;
  * in the browser: the dashboard served by ``suanli dashboard`` and driven by headless Chromium,
    from the click on Step until the summary and every figure of the new year are on the page.
The target is under 2 s per year on 2 cores. ``--screens DIR`` also saves screenshots of the live
page after three steps and of the compare page (``--compare DIR``, or a small compare it runs).

    python benchmarks/dashboard.py [--years 2008-2024] [--browser-steps 3] [--screens DIR] [--compare DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

# a script's folder comes first on sys.path, and benchmarks/calibration.py would shadow the package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def in_process(start: int, end: int) -> list[dict]:
    from experiments.dashboard import views
    from experiments.dashboard.app import initial_model
    from experiments.dashboard.session import model_params

    params = model_params("default")
    params["start_year"]["value"], params["end_year"]["value"] = start, 2035
    params["control_defaults"] = {**params["control_defaults"], "start_year": start}
    t0 = time.perf_counter()
    model = initial_model(params)
    if model.message:
        raise SystemExit(model.message)
    build = time.perf_counter() - t0
    builds = {"map": views._map, "national": views._national, "utilisation": views._utilisation,
              "prices": views._prices, "outcomes": views._outcomes}
    rows = []
    for _ in range(start, end + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        model.step()
        t_step, c_step = time.perf_counter() - t0, time.process_time() - c0
        t_views, c_views = {}, {}
        for name, fn in builds.items():
            t1, c1 = time.perf_counter(), time.process_time()
            views.png(fn(model))
            t_views[name], c_views[name] = time.perf_counter() - t1, time.process_time() - c1
        t1, c1 = time.perf_counter(), time.process_time()
        views.summary_html(model.summary_row())
        t_views["summary"], c_views["summary"] = time.perf_counter() - t1, time.process_time() - c1
        tabs = {f"tab{t}_s": sum(t_views[n] for n in names) + (t_views["summary"] if t == 0 else 0.0)
                for t, names in views.VIEWS_BY_TAB.items()}
        cpu = {f"tab{t}_cpu": c_step + sum(c_views[n] for n in names) + (c_views["summary"] if t == 0 else 0.0)
               for t, names in views.VIEWS_BY_TAB.items()}
        rows.append({"year": model.year, "step_s": t_step, "step_cpu": c_step, "views_s": sum(t_views.values()),
                     **t_views, **tabs, **cpu})
    print(f"model built in {build:.2f} s (default scale, {start}-2035)")
    return rows


def small_compare(out: Path) -> Path:
    from experiments.compare import compare

    if not (out / "compare.json").exists():
        compare(["default", "no_hubs"], [1, 2], out, years=(2019, 2024))
    return out


def in_browser(steps: int, screens: Path | None, compare_dir: Path | None) -> dict[str, list[float]]:
    from experiments.dashboard import browser as B
    from experiments.dashboard.assets import ensure_assets
    from experiments.dashboard.views import VIEWS_BY_TAB

    ensure_assets()
    times: dict[str, list[float]] = {f"tab {t}": [] for t in VIEWS_BY_TAB}
    with B.dashboard_server(scenario="default", compare=str(compare_dir) if compare_dir else None) as (url, _), \
            B.browser(1600, 1300) as page:
        t0 = time.perf_counter()
        B.open_live(page, url)
        print(f"browser: page ready in {time.perf_counter() - t0:.1f} s")
        year = 2007
        for tab, names in VIEWS_BY_TAB.items():
            B.open_tab(page, tab)
            for _ in range(steps):
                year += 1
                t0 = time.perf_counter()
                B.step(page, year) if tab == 0 else B.press(page, "Step")
                B.wait_figures(page, names, year=year)
                times[f"tab {tab}"].append(time.perf_counter() - t0)
                print(f"browser: tab {tab} ({', '.join(names)}): year {year} drawn {times[f'tab {tab}'][-1]:.2f} s after Step")
            if screens:
                screens.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screens / f"dashboard_live_tab{tab}.png"), full_page=True)
        if screens and compare_dir:
            page.goto(url + "compare")
            page.locator(".suanli-compare").wait_for(timeout=180_000)
            for name in ("paths", "flow_map", "prices", "outcomes"):
                page.locator(f".suanli-compare-{name} img").wait_for(timeout=180_000)
            page.wait_for_timeout(5000)
            page.screenshot(path=str(screens / "dashboard_compare.png"), full_page=True)
        if screens:
            print(f"screenshots in {screens}")
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", default="2008-2024", help="years stepped in process (default 2008-2024)")
    ap.add_argument("--browser-steps", type=int, default=3, help="years stepped in the browser (0 to skip)")
    ap.add_argument("--screens", type=Path, help="save screenshots here")
    ap.add_argument("--compare", type=Path, help="compare directory for the compare page (default: run a small one)")
    args = ap.parse_args(argv)
    a, _, b = args.years.partition("-")
    with threadpool_limits(2):
        rows = in_process(int(a), int(b or a))
    print(f"{'year':>5} {'model s':>8} {'views s':>8} {'total s':>8}   seconds per view: map  national  util  prices  outcomes")
    for r in rows:
        print(f"{r['year']:>5} {r['step_s']:8.2f} {r['views_s']:8.2f} {r['step_s'] + r['views_s']:8.2f}   "
              f"{r['map']:.2f}  {r['national']:.2f}  {r['utilisation']:.2f}  {r['prices']:.2f}  {r['outcomes']:.2f}")
    tot = [r["step_s"] + r["views_s"] for r in rows]
    model = [r["step_s"] for r in rows]
    print(f"in process: model alone mean {statistics.mean(model):.2f} s/yr (max {max(model):.2f}); "
          f"model + every view mean {statistics.mean(tot):.2f} s/yr (max {max(tot):.2f})")
    for t in (0, 1, 2):
        open_tab = [r["step_s"] + r[f"tab{t}_s"] for r in rows]
        cpu = [r[f"tab{t}_cpu"] for r in rows]
        print(f"in process: model + the views of tab {t} mean {statistics.mean(open_tab):.2f} s/yr wall "
              f"(max {max(open_tab):.2f}), {statistics.mean(cpu):.2f} CPU s/yr (max {max(cpu):.2f}); target < 2 s")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(wall time grows with other users' load; CPU seconds are this process's own work)")
    if args.browser_steps:
        compare_dir = args.compare or (small_compare(Path("suanli_out/dashboard_bench_compare")) if args.screens else None)
        times = in_browser(args.browser_steps, args.screens, compare_dir)
        for tab, t in times.items():
            print(f"in the browser, {tab} open: Step -> year drawn mean {statistics.mean(t):.2f} s (max {max(t):.2f}); target < 2 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
