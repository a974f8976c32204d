"""Fit time of each estimator on panels of the studies' sizes.

Province panel 30 x 15 = 450 rows (seed 000), city panel 336 x 6 = 2,016 (seed 001), firm
panel 2,657 x 7 = 18,599 (seed 002; the Bartik IV sample drops the first year of a
1,967-firm panel: 11,802 rows; the staggered DiD drops firms treated from the first year).
Data are drawn from a seeded Generator. Each timing is the median of ``--repeat`` fits (one
fit for bootstraps). Targets: every estimator under 1 s, the threshold model with 300
bootstrap draws under 30 s. Prints a table; asserts nothing.
``--threads`` caps the BLAS/OpenMP threads (default 1; 0 keeps the libraries' default):
on a busy 2-core machine multithreaded BLAS oversubscribes the cores and slows the fits.

Usage: python benchmarks/estimators.py [--seed 0] [--repeat 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (0: library default)")
    return ap.parse_args()


ARGS = _args() if __name__ == "__main__" else argparse.Namespace(seed=0, repeat=3, threads=0)
if ARGS.threads > 0:  # before numpy is imported
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linearmodels import PanelOLS  # noqa: E402

from analysis import (  # noqa: E402
    IV2SLS,
    NVAR,
    PSM,
    PanelSFA,
    PanelThreshold,
    StaggeredDiD,
    TwoWayFE,
    bartik_instrument,
    distortion_indices,
    pca_index,
    province_weights,
)

FIRM_CONTROLS = ["lnEmployee", "lnFirmAge", "ROA", "Assetturn", "Cashflow", "Dual", "Top1", "Occupy", "Mshare",
                 "TobinQ"]
CITY_CONTROLS = ["logpeo", "logfin", "logfou", "loginvest", "logretail", "logagri", "logindus", "loginex"]


def province_panel(rng: np.random.Generator) -> pd.DataFrame:
    W = province_weights("geo")
    codes = list(W.index)
    N, years = len(codes), np.arange(2007, 2023)
    T = len(years)
    ent = np.tile(np.arange(N), T)
    t = np.repeat(np.arange(1, T + 1), N).astype(float)
    lk = rng.normal(0, 1, N)[ent] + 0.08 * t + rng.normal(0, 0.2, N * T)
    ll = rng.normal(0, 1, N)[ent] + 0.02 * t + rng.normal(0, 0.2, N * T)
    u = np.abs(rng.normal(0, 0.3, N))[ent] * np.exp(-0.03 * (t - T))
    lny = (1 + 0.4 * lk + 0.5 * ll + 0.03 * t - 0.025 * lk**2 - 0.02 * ll**2 + 0.02 * lk * ll
           + 0.006 * lk * t - 0.004 * ll * t - 0.0005 * t**2 + rng.normal(0, 0.05, N * T) - u)
    df = pd.DataFrame({"province": np.array(codes)[ent], "year": years[t.astype(int) - 1],
                       "Y": np.exp(lny), "K": np.exp(lk), "L": np.exp(ll)})
    ind = rng.normal(size=(N * T, 5)) + rng.normal(size=(N * T, 1))
    for j in range(5):
        df[f"ind{j}"] = ind[:, j]
    df["DF_qty"] = ind.mean(axis=1)
    for j in range(6):
        df[f"Z{j}"] = rng.normal(size=N * T)
    qty = df["DF_qty"].to_numpy().reshape(T, N)
    net = qty @ W.to_numpy().T
    y = np.zeros((T, N))
    for s in range(1, T):
        y[s] = 0.03 * net[s] + 0.7 * y[s - 1] + 0.01 * qty[s] + rng.normal(0, 0.1, N)
    df["lnTFP"] = y.ravel()
    return df


def city_panel(rng: np.random.Generator) -> pd.DataFrame:
    N, years = 336, np.arange(2017, 2023)
    T = len(years)
    a = np.repeat(rng.normal(size=N), T)
    x = 0.5 * a + rng.normal(size=N * T)
    q = np.repeat(rng.uniform(0, 4, N), T) + rng.normal(0, 0.3, N * T)
    slope = np.array([-0.36, 0.1, 0.03])[np.searchsorted([1.0, 3.0], q)]
    df = pd.DataFrame({"city_id": np.repeat(np.arange(N), T), "year": np.tile(years, N), "logcomputing": x, "gdp": q})
    C = rng.normal(size=(len(CITY_CONTROLS), N * T))
    for j, c in enumerate(CITY_CONTROLS):
        df[c] = C[j]
    df["loggdp"] = 5 + a + slope * x + 0.05 * C.sum(axis=0) + rng.normal(0, 0.2, N * T)
    return df


def firm_panel(rng: np.random.Generator, N: int) -> pd.DataFrame:
    years = np.arange(2017, 2024)
    T = len(years)
    ind = rng.integers(0, 30, N)
    a = rng.normal(size=N)
    prop = np.exp(0.5 * a)
    idc = np.zeros((N, T))
    idc[:, 0] = rng.uniform(size=N) < rng.uniform(0, 0.03, 30)[ind] * prop
    for t in range(1, T):
        share = pd.Series(idc[:, t - 1]).groupby(ind).mean().reindex(range(30)).to_numpy()
        idc[:, t] = np.maximum(idc[:, t - 1], rng.uniform(size=N) < (0.5 * share[ind] + 0.004) * prop)
    first = np.where(idc.any(axis=1), years[np.argmax(idc, axis=1)], 0)
    D = idc.ravel()
    X = rng.normal(size=(len(FIRM_CONTROLS), N * T))
    df = pd.DataFrame({"firm_id": np.repeat(np.arange(N), T), "year": np.tile(years, N),
                       "industry": np.repeat(ind, T), "IDC": D, "cohort": np.repeat(first, T)})
    for j, c in enumerate(FIRM_CONTROLS):
        df[c] = X[j]
    df["EXPY"] = 10 + np.repeat(a, T) + 0.3 * D + np.linspace(-0.2, 0.2, len(FIRM_CONTROLS)) @ X \
        + rng.normal(0, 0.8, N * T)
    return df


def timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(args: argparse.Namespace = ARGS) -> None:
    rng = np.random.default_rng(args.seed)
    prov, city = province_panel(rng), city_panel(rng)
    firm = firm_panel(rng, 2657)
    ivp = firm_panel(rng, 1967)
    ivp["Bartik"] = bartik_instrument(ivp, "IDC", "industry", "year", "firm_id")
    W = province_weights("geo", sorted(prov["province"].unique()))
    p450 = prov.loc[prov["year"] >= 2008]
    did = firm.loc[firm["cohort"] != firm["year"].min()]  # units treated from the first year have no pre-period
    fe_panel = firm.set_index(["firm_id", "year"])
    thr = PanelThreshold(city, "loggdp", ["logcomputing"], "gdp", "city_id", "year", CITY_CONTROLS,
                         n_thresholds=2, time_effects=True)
    r = args.repeat
    rows: list[tuple[str, int, float, float]] = []

    def add(name: str, n: int, secs: float, target: float) -> None:
        rows.append((name, n, secs, target))
        print(f"  {name:<50} {secs:8.3f} s", flush=True)

    threads = os.environ.get("OPENBLAS_NUM_THREADS", "library default") if args.threads else "library default"
    print(f"Estimator fit times (seed {args.seed}, median of {r}, BLAS threads: {threads})")
    add("PanelSFA translog, bc92 + TC/TE/TS (province)", len(p450), timed(lambda: PanelSFA(
        p450, "Y", ["K", "L"], "province", "year", form="translog").fit().decompose(), r), 1.0)
    n_nvar = NVAR(prov, "lnTFP", "DF_qty", W, "province", "year").fit().nobs
    add("NVAR eq. 14, HC1 (province)", n_nvar, timed(lambda: NVAR(
        prov, "lnTFP", "DF_qty", W, "province", "year", [f"Z{j}" for j in range(6)]).fit(), r), 1.0)
    add("PCA index, 5 indicators (province)", len(p450), timed(lambda: pca_index(
        p450, [f"ind{j}" for j in range(5)]), r), 1.0)
    add("Distortion indices, CRS elasticity (province)", len(p450), timed(lambda: distortion_indices(
        p450, "Y", "K", "L"), r), 1.0)
    add("TwoWayFE, firm-clustered (firm)", len(firm), timed(lambda: TwoWayFE(
        firm, "EXPY", ["IDC", *FIRM_CONTROLS], "firm_id", "year").fit(), r), 1.0)
    add("  linearmodels PanelOLS directly, same model", len(firm), timed(lambda: PanelOLS(
        fe_panel["EXPY"], fe_panel[["IDC", *FIRM_CONTROLS]].assign(const=1.0), entity_effects=True,
        time_effects=True).fit(cov_type="clustered", cluster_entity=True, debiased=True, group_debias=True), r), 1.0)
    n_iv = int(ivp["Bartik"].notna().sum())
    add("IV2SLS Bartik + KP, two-way FE absorbed (firm)", n_iv, timed(lambda: IV2SLS(
        ivp, "EXPY", "IDC", "Bartik", FIRM_CONTROLS, entity="firm_id", time="year", entity_effects=True,
        time_effects=True, cluster="entity").fit(), r), 1.0)
    add("PSM 1:4 nearest neighbour, ATT + AI SE (firm)", len(firm), timed(lambda: PSM(
        firm, "IDC", FIRM_CONTROLS, "EXPY", k=4).fit(), r), 1.0)
    add("StaggeredDiD Callaway-Sant'Anna (firm)", len(did), timed(lambda: StaggeredDiD(
        did, "EXPY", "firm_id", "year", "cohort").fit(), r), 1.0)
    add("PanelThreshold, 2 thresholds, fit (city)", len(city), timed(lambda: PanelThreshold(
        city, "loggdp", ["logcomputing"], "gdp", "city_id", "year", CITY_CONTROLS, n_thresholds=2,
        time_effects=True).fit(), r), 1.0)
    add("PanelThreshold, F1+F2 with 300 bootstrap draws", len(city), timed(lambda: thr.test_thresholds(
        B=300, rng=args.seed), 1), 30.0)

    print()
    header = f"{'estimator':<50} {'rows':>7} {'seconds':>9} {'target':>8}  met"
    print(header)
    print("-" * len(header))
    for name, n, secs, target in rows:
        print(f"{name:<50} {n:>7,} {secs:>9.3f} {'< ' + format(target, 'g') + ' s':>8}  "
              f"{'yes' if secs < target else 'NO'}")
    met = sum(s < t for _, _, s, t in rows)
    print(f"\n{met} of {len(rows)} targets met")


if __name__ == "__main__":
    main()
